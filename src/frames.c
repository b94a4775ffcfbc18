/* frames.c — frame lists ("1-250", "1,5,9", "1-100:10", "-5-3") to frame numbers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define FRAME_MIN (-1000000000LL)
#define FRAME_MAX 1000000000LL

/* One item of the list: frames a, a + step, ... up to b. */
typedef struct frame_range {
    long long a, b, step;
} frame_range;

/* A decimal integer in [lo, hi] filling the whole of s (strtoll's syntax:
 * leading white space and a sign allowed). */
int ba_internal_parse_int(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* One item, NUL-terminated and modifiable: "N", "A-B" or "A-B:STEP". */
static int parse_item(char *tok, frame_range *r)
{
    long long a, b, step = 1;
    char *colon = strchr(tok, ':');
    if (colon) {
        *colon = '\0';
        if (ba_internal_parse_int(colon + 1, 1, FRAME_MAX, &step)) return -1;
    }
    /* a leading '-' is A's sign, also after white space (strtoll's), as in "1, -3" */
    const char *a_start = tok + strspn(tok, " \t\n\v\f\r");
    char *dash = strchr(a_start + (a_start[0] == '-'), '-');
    if (dash) {
        *dash = '\0';
        if (ba_internal_parse_int(tok, FRAME_MIN, FRAME_MAX, &a) || ba_internal_parse_int(dash + 1, FRAME_MIN, FRAME_MAX, &b) ||
            b < a)
            return -1;
    } else {
        if (colon || ba_internal_parse_int(tok, FRAME_MIN, FRAME_MAX, &a)) return -1; /* "N:STEP" */
        b = a;
    }
    r->a = a;
    r->b = b;
    r->step = step;
    return 0;
}

int ba_parse_frames(const char *spec, int64_t **frames, size_t *count, size_t max_count)
{
    if (frames) *frames = NULL;
    if (count) *count = 0;
    if (!spec || !frames || !count) return BA_EINVAL;

    /* items are at least one character and one comma apart */
    size_t len = strlen(spec);
    size_t max_items = len / 2 + 1;
    char *copy = malloc(len + 1);
    frame_range *ranges = malloc(max_items * sizeof *ranges);
    if (!copy || !ranges) {
        free(copy);
        free(ranges);
        return BA_ENOMEM;
    }
    memcpy(copy, spec, len + 1);

    /* every item first, so that a malformed list is BA_EINVAL whatever its size */
    int rc = BA_OK, over = 0;
    size_t nitems = 0, total = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (parse_item(tok, &ranges[nitems]) != 0) {
            rc = BA_EINVAL;
            break;
        }
        const frame_range *r = &ranges[nitems++];
        /* b - a <= 2e9 and step >= 1: no overflow in long long */
        size_t n = (size_t)((r->b - r->a) / r->step) + 1;
        if (n > max_count - total)
            over = 1; /* total stays <= max_count */
        else
            total += n;
    }
    free(copy);
    if (rc == BA_OK && nitems == 0) rc = BA_EINVAL;
    size_t bytes = 0;
    if (rc == BA_OK && (over || ba_mul_overflow(total, sizeof(int64_t), &bytes))) rc = BA_EOVERFLOW;
    if (rc != BA_OK) {
        free(ranges);
        return rc;
    }

    int64_t *v = malloc(bytes); /* 1 <= total <= max_count */
    if (!v) {
        free(ranges);
        return BA_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < nitems; i++)
        for (long long f = ranges[i].a; f <= ranges[i].b; f += ranges[i].step) v[k++] = f;
    free(ranges);
    *frames = v;
    *count = k;
    return BA_OK;
}
