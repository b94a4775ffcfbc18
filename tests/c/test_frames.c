/* test_frames.c — ba_parse_frames: the frame-list grammar of `blendarray
 * render -f`, valid and malformed lists, limits, and the max_count bound. */
#include <stdlib.h>
#include <string.h>

#include "blendarray.h"
#include "check.h"

#define MAX_COUNT 10000000u /* the CLI's bound */

/* a valid list and exactly the frames it gives */
struct valid_case {
    const char *spec;
    size_t count;
    int64_t frames[12];
};

static const struct valid_case VALID[] = {
    {"1", 1, {1}},
    {"0", 1, {0}},
    {"-7", 1, {-7}},
    {"1-3", 3, {1, 2, 3}},
    {"1,5,9", 3, {1, 5, 9}},
    {"1-10:3", 4, {1, 4, 7, 10}},
    {"1-11:5", 3, {1, 6, 11}},
    {"1-12:5", 3, {1, 6, 11}},
    {"1-3,7", 4, {1, 2, 3, 7}},
    {"5-5", 1, {5}},
    {"5-5:100", 1, {5}},
    {"-5-3", 9, {-5, -4, -3, -2, -1, 0, 1, 2, 3}},
    {"-5--3", 3, {-5, -4, -3}},
    {"-3--3", 1, {-3}},
    {"3,1,3", 3, {3, 1, 3}},             /* order and repeats kept */
    {"1,,2", 2, {1, 2}},                  /* empty items skipped (strtok) */
    {",1,", 1, {1}},
    {"+4", 1, {4}},                       /* strtoll's syntax: a sign ... */
    {" 4", 1, {4}},                       /* ... and leading white space */
    {"1- 2", 2, {1, 2}},
    {"007", 1, {7}},
    {"1000000000", 1, {1000000000}},
    {"-1000000000", 1, {-1000000000}},
    {"999999999-1000000000", 2, {999999999, 1000000000}},
    {"-1000000000-1000000000:1000000000", 3, {-1000000000, 0, 1000000000}},
    {"1-2:1000000000", 1, {1}},
};

/* the CLI's malformed cases first (tests/cli/test_render_cli.py) */
static const char *const INVALID[] = {
    "1-", "a-b", "5-1", "1,,x", "1-10:0", "",
    ",", ",,,", "-", "--5", "1--5", "x", "1x", "1 ", "1.5", "0x10", "1e3",
    "1:2",         /* a step needs a range */
    "1-3:",        /* empty step */
    "1-3:-1",      /* negative step */
    "1-3:2:2",     /* two steps */
    "1:2-3",
    "-1-",         /* no end */
    "1-2-3",
    "1000000001",  /* out of range */
    "-1000000001",
    "1-1000000001",
    "1-3:1000000001",
    "99999999999999999999999", /* strtoll overflow */
    "1-99999999999999999999999",
};

static void test_valid(void)
{
    for (size_t i = 0; i < sizeof VALID / sizeof VALID[0]; i++) {
        const struct valid_case *c = &VALID[i];
        int64_t *f = NULL;
        size_t n = 0;
        int rc = ba_parse_frames(c->spec, &f, &n, MAX_COUNT);
        if (rc != BA_OK) {
            T_REPORT("'%s': %s", c->spec, ba_strerror(rc));
            continue;
        }
        if (n != c->count) T_REPORT("'%s': %zu frames, expected %zu", c->spec, n, c->count);
        for (size_t k = 0; k < n && k < c->count; k++)
            if (f[k] != c->frames[k])
                T_REPORT("'%s': frame %zu is %lld, expected %lld", c->spec, k, (long long)f[k],
                         (long long)c->frames[k]);
        free(f);
    }
}

static void test_invalid(void)
{
    for (size_t i = 0; i < sizeof INVALID / sizeof INVALID[0]; i++) {
        const char *spec = INVALID[i];
        int64_t *f = (int64_t *)&f; /* must be reset */
        size_t n = 99;
        int rc = ba_parse_frames(spec, &f, &n, MAX_COUNT);
        if (rc != BA_EINVAL) T_REPORT("'%s': %d (%s), expected BA_EINVAL", spec, rc, ba_strerror(rc));
        CHECK(f == NULL);
        CHECK_INT(n, 0);
        if (rc == BA_OK) free(f);
    }
}

static void test_max_count(void)
{
    int64_t *f = NULL;
    size_t n = 0;
    CHECK_RC(ba_parse_frames("1-10", &f, &n, 10), BA_OK);
    CHECK_INT(n, 10);
    CHECK_INT(f ? f[9] : -1, 10);
    free(f);
    f = NULL;
    CHECK_RC(ba_parse_frames("1-10,11", &f, &n, 10), BA_EOVERFLOW);
    CHECK(f == NULL);
    CHECK_INT(n, 0);
    CHECK_RC(ba_parse_frames("1-11", &f, &n, 10), BA_EOVERFLOW);
    CHECK_RC(ba_parse_frames("1-20:2", &f, &n, 10), BA_OK); /* 1, 3, ..., 19 */
    CHECK_INT(n, 10);
    free(f);
    CHECK_RC(ba_parse_frames("1", &f, &n, 0), BA_EOVERFLOW);
    /* the whole range of numbers: 2e9 + 1 frames, counted, never allocated */
    CHECK_RC(ba_parse_frames("-1000000000-1000000000", &f, &n, MAX_COUNT), BA_EOVERFLOW);
    /* many huge items (64 x 2e9 frames): counted without wrapping */
    char big[64 * 24];
    big[0] = '\0';
    for (int i = 0; i < 64; i++) strcat(big, i ? ",-1000000000-1000000000" : "-1000000000-1000000000");
    CHECK_RC(ba_parse_frames(big, &f, &n, 100000000000u), BA_EOVERFLOW);
    /* a malformed item anywhere is BA_EINVAL, even after too many frames */
    CHECK_RC(ba_parse_frames("1-100,x", &f, &n, 10), BA_EINVAL);
    CHECK_RC(ba_parse_frames("1-1000000000,1-", &f, &n, 10), BA_EINVAL);
    CHECK(f == NULL);
    /* the CLI's bound is reachable */
    CHECK_RC(ba_parse_frames("1-10000000", &f, &n, MAX_COUNT), BA_OK);
    CHECK_INT(n, MAX_COUNT);
    CHECK_INT(f ? f[n - 1] : -1, 10000000);
    free(f);
    CHECK_RC(ba_parse_frames("0-10000000", &f, &n, MAX_COUNT), BA_EOVERFLOW);
}

static void test_bad_arguments(void)
{
    int64_t *f = NULL;
    size_t n = 5;
    CHECK_RC(ba_parse_frames(NULL, &f, &n, 10), BA_EINVAL);
    CHECK_INT(n, 0);
    CHECK_RC(ba_parse_frames("1", NULL, &n, 10), BA_EINVAL);
    CHECK_RC(ba_parse_frames("1", &f, NULL, 10), BA_EINVAL);
    CHECK(f == NULL);
}

/* a long list of single frames, and long items */
static void test_long_lists(void)
{
    size_t items = 5000;
    char *spec = malloc(items * 12 + 1);
    REQUIRE(spec != NULL);
    char *p = spec;
    for (size_t i = 0; i < items; i++) p += sprintf(p, i ? ",%zu" : "%zu", i * 7);
    int64_t *f = NULL;
    size_t n = 0;
    CHECK_RC(ba_parse_frames(spec, &f, &n, MAX_COUNT), BA_OK);
    CHECK_INT(n, items);
    for (size_t i = 0; f && i < n; i++)
        if (f[i] != (int64_t)(i * 7)) {
            T_REPORT("frame %zu is %lld", i, (long long)f[i]);
            break;
        }
    free(f);
    /* 1000 leading zeros, then commas only */
    memset(spec, '0', 1000);
    strcpy(spec + 1000, "42");
    CHECK_RC(ba_parse_frames(spec, &f, &n, MAX_COUNT), BA_OK);
    CHECK_INT(n, 1);
    CHECK_INT(f ? f[0] : -1, 42);
    free(f);
    memset(spec, ',', 4000);
    spec[4000] = '\0';
    CHECK_RC(ba_parse_frames(spec, &f, &n, MAX_COUNT), BA_EINVAL);
    free(spec);
}

int main(void)
{
    RUN(test_valid);
    RUN(test_invalid);
    RUN(test_max_count);
    RUN(test_bad_arguments);
    RUN(test_long_lists);
    return t_summary();
}
