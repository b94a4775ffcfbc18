/* frames_fuzzer.c — ba_parse_frames on arbitrary text (the input up to its
 * first NUL), against an independent reading of the grammar written here
 * without strtoll: the same verdict (valid, BA_EINVAL, BA_EOVERFLOW) and,
 * for a valid list, exactly the frames of its items, in order, each within
 * its item's stated range. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blendarray.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_COUNT 100000u
#define LIM 1000000000LL

/* strtoll(s, &end, 10) accepting all of [s, e), in [lo, hi] */
static int ref_number(const char *s, const char *e, long long lo, long long hi, long long *out)
{
    while (s < e && (*s == ' ' || (*s >= '\t' && *s <= '\r'))) s++;
    int neg = 0;
    if (s < e && (*s == '+' || *s == '-')) neg = *s++ == '-';
    if (s == e) return -1;
    long long v = 0;
    for (; s < e; s++) {
        if (*s < '0' || *s > '9') return -1;
        if (v <= 2 * LIM) v = v * 10 + (*s - '0'); /* saturates far beyond the limits */
    }
    if (neg) v = -v;
    if (v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* one item [s, e): "N", "A-B" or "A-B:STEP" */
static int ref_item(const char *s, const char *e, long long *a, long long *b, long long *step)
{
    const char *colon = memchr(s, ':', (size_t)(e - s));
    *step = 1;
    if (colon) {
        if (ref_number(colon + 1, e, 1, LIM, step)) return -1;
        e = colon;
    }
    const char *from = s; /* a leading '-', after white space, is A's sign */
    while (from < e && (*from == ' ' || (*from >= '\t' && *from <= '\r'))) from++;
    from += from < e && *from == '-';
    const char *dash = memchr(from, '-', (size_t)(e - from));
    if (dash)
        return ref_number(s, dash, -LIM, LIM, a) || ref_number(dash + 1, e, -LIM, LIM, b) || *b < *a
                   ? -1
                   : 0;
    if (colon || ref_number(s, e, -LIM, LIM, a)) return -1;
    *b = *a;
    return 0;
}

/* walk the items; with frames, check them against the items */
static int ref_check(const char *spec, const int64_t *frames, size_t count)
{
    size_t total = 0, items = 0;
    const char *p = spec;
    int over = 0;
    while (*p) {
        const char *e = strchr(p, ',');
        if (!e) e = p + strlen(p);
        if (e > p) {
            long long a, b, step;
            if (ref_item(p, e, &a, &b, &step)) return BA_EINVAL;
            items++;
            unsigned long long n = (unsigned long long)((b - a) / step) + 1;
            if (over || n > MAX_COUNT - total) {
                over = 1;
            } else if (frames) {
                for (unsigned long long k = 0; k < n; k++) {
                    int64_t f = frames[total + k];
                    if (f < a || f > b || (f - a) % step != 0 || f != a + (long long)k * step)
                        __builtin_trap();
                }
                total += (size_t)n;
            } else {
                total += (size_t)n;
            }
        }
        p = *e ? e + 1 : e;
    }
    if (items == 0) return BA_EINVAL;
    if (over) return BA_EOVERFLOW;
    if (frames && total != count) __builtin_trap();
    return BA_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *spec = malloc(size + 1);
    if (!spec) return 0;
    memcpy(spec, data, size);
    spec[size] = '\0';

    int64_t *frames = (int64_t *)&frames; /* must be reset */
    size_t count = 12345;
    int rc = ba_parse_frames(spec, &frames, &count, MAX_COUNT);
    int want = ref_check(spec, NULL, 0);
    if (rc == BA_ENOMEM) { /* acceptable, nothing to compare */
        if (frames != NULL || count != 0) __builtin_trap();
    } else if (rc != want) {
        __builtin_trap();
    } else if (rc == BA_OK) {
        if (frames == NULL || count == 0 || count > MAX_COUNT) __builtin_trap();
        if (ref_check(spec, frames, count) != BA_OK) __builtin_trap();
        ba_free(frames);
    } else if (frames != NULL || count != 0) {
        __builtin_trap();
    }
    free(spec);
    return 0;
}
