/* test_labels.c — instances, COCO RLE (strings, decode), Cryptomatte ids,
 * optical flow. Small images with hand-computed answers, every error code,
 * and random images against a brute-force per-id reference. */
#include <math.h>
#include <string.h>

#include "blendarray.h"
#include "check.h"

/* The 3x4 image of test_small; its masks read column by column:
 *   col 0: 0 2 2   col 1: 1 1 0   col 2: 1 0 0   col 3: 0 0 3 */
static const uint8_t small_u8[3][4] = {{0, 1, 1, 0}, {2, 1, 0, 0}, {2, 0, 0, 3}};

static int counts_eq(const uint32_t *got, size_t n, const uint32_t *want, size_t wn)
{
    return n == wn && memcmp(got, want, n * sizeof *got) == 0;
}

static void check_small(ba_instances *in)
{
    REQUIRE(in != NULL);
    CHECK_INT(ba_instances_count(in), 3);
    static const uint32_t c1[] = {3, 2, 1, 1, 5}, c2[] = {1, 2, 9}, c3[] = {11, 1};
    static const uint32_t b1[] = {1, 0, 2, 2}, b2[] = {0, 1, 1, 2}, b3[] = {3, 2, 1, 1};
    const uint32_t *want[] = {c1, c2, c3}, *boxes[] = {b1, b2, b3};
    size_t wn[] = {5, 3, 2};
    uint64_t areas[] = {3, 2, 1};
    for (size_t i = 0; i < 3; i++) {
        CHECK_INT(ba_instances_id(in, i), i + 1);
        CHECK_INT(ba_instances_area(in, i), areas[i]);
        uint32_t box[4];
        ba_instances_box(in, i, box);
        CHECK(memcmp(box, boxes[i], sizeof box) == 0);
        size_t n = 99;
        const uint32_t *c = ba_instances_rle(in, i, &n);
        CHECK(c && counts_eq(c, n, want[i], wn[i]));
    }
}

static void test_small(void)
{
    ba_instances *in = NULL;
    CHECK_RC(ba_instances_find(&in, small_u8, BA_DTYPE_U8, 3, 4, 0, 0, 10), BA_OK);
    check_small(in);

    /* out of range and NULL: zeros */
    CHECK_INT(ba_instances_id(in, 3), 0);
    CHECK_INT(ba_instances_area(in, 3), 0);
    uint32_t box[4] = {9, 9, 9, 9}, zero[4] = {0, 0, 0, 0};
    ba_instances_box(in, 3, box);
    CHECK(memcmp(box, zero, sizeof box) == 0);
    size_t n = 9;
    CHECK(ba_instances_rle(in, 3, &n) == NULL);
    CHECK_INT(n, 0);
    CHECK_INT(ba_instances_count(NULL), 0);
    CHECK(ba_instances_rle(NULL, 0, &n) == NULL);
    /* the count is optional (the header's "n may be NULL") */
    size_t n0 = 0;
    const uint32_t *c0 = ba_instances_rle(in, 0, &n0);
    CHECK(c0 && n0 > 0 && ba_instances_rle(in, 0, NULL) == c0);
    CHECK(ba_instances_rle(in, 3, NULL) == NULL);
    ba_instances_free(in);
    ba_instances_free(NULL);

    /* the same ids in every dtype, in padded rows (garbage in the padding) */
    int dtypes[] = {BA_DTYPE_U16, BA_DTYPE_U32, BA_DTYPE_I32, BA_DTYPE_F32};
    for (size_t d = 0; d < 4; d++) {
        unsigned char buf[3 * 24];
        memset(buf, 0x7f, sizeof buf);
        for (size_t y = 0; y < 3; y++)
            for (size_t x = 0; x < 4; x++) {
                unsigned char *p = buf + y * 24 + x * ba_dtype_size(dtypes[d]);
                uint32_t v = small_u8[y][x];
                uint16_t v16 = (uint16_t)v;
                float vf = (float)v;
                if (dtypes[d] == BA_DTYPE_U16) memcpy(p, &v16, 2);
                else if (dtypes[d] == BA_DTYPE_F32) memcpy(p, &vf, 4);
                else memcpy(p, &v, 4);
            }
        in = NULL;
        CHECK_RC(ba_instances_find(&in, buf, dtypes[d], 3, 4, 24, 0, 3), BA_OK);
        check_small(in);
        ba_instances_free(in);
    }
}

/* The first channel of an interleaved (H, W, 4) float32 image, as a
 * Cryptomatte pass's rank-0 ids are read: pixels 16 bytes apart. */
static void test_pixel_stride(void)
{
    float rgba[3][4][4];
    for (size_t y = 0; y < 3; y++)
        for (size_t x = 0; x < 4; x++)
            for (size_t c = 0; c < 4; c++) rgba[y][x][c] = c ? 99.5f : (float)small_u8[y][x];
    ba_instances *in = NULL;
    CHECK_RC(ba_instances_find(&in, rgba, BA_DTYPE_F32, 3, 4, 0, 16, 3), BA_OK);
    check_small(in);
    ba_instances_free(in);
    in = NULL; /* explicit row stride: the same */
    CHECK_RC(ba_instances_find(&in, rgba, BA_DTYPE_F32, 3, 4, 64, 16, 3), BA_OK);
    check_small(in);
    ba_instances_free(in);
}

static void test_shapes(void)
{
    ba_instances *in = NULL;
    /* a run that wraps from the bottom of column 0 to the top of column 1 */
    uint32_t wrap[2][2] = {{0, 5}, {5, 0}};
    CHECK_RC(ba_instances_find(&in, wrap, BA_DTYPE_U32, 2, 2, 0, 0, 1), BA_OK);
    REQUIRE(in && ba_instances_count(in) == 1);
    size_t n;
    const uint32_t *c = ba_instances_rle(in, 0, &n);
    static const uint32_t cw[] = {1, 2, 1};
    CHECK(counts_eq(c, n, cw, 3));
    uint32_t box[4];
    ba_instances_box(in, 0, box);
    CHECK(box[0] == 0 && box[1] == 0 && box[2] == 2 && box[3] == 2);
    ba_instances_free(in);

    /* all one id: counts start with an empty background run, no trailing one */
    uint16_t full[2][3] = {{7, 7, 7}, {7, 7, 7}};
    CHECK_RC(ba_instances_find(&in, full, BA_DTYPE_U16, 2, 3, 0, 0, 1), BA_OK);
    REQUIRE(in && ba_instances_count(in) == 1);
    c = ba_instances_rle(in, 0, &n);
    static const uint32_t cf[] = {0, 6};
    CHECK(counts_eq(c, n, cf, 2));
    CHECK_INT(ba_instances_area(in, 0), 6);
    ba_instances_free(in);

    /* ids sorted ascending whatever order they appear in; large ids */
    uint32_t big[1][4] = {{0xffffffffu, 3, 0x80000000u, 3}};
    CHECK_RC(ba_instances_find(&in, big, BA_DTYPE_U32, 1, 4, 0, 0, 3), BA_OK);
    REQUIRE(in && ba_instances_count(in) == 3);
    CHECK_HEX(ba_instances_id(in, 0), 3);
    CHECK_HEX(ba_instances_id(in, 1), 0x80000000u);
    CHECK_HEX(ba_instances_id(in, 2), 0xffffffffu);
    c = ba_instances_rle(in, 0, &n);
    static const uint32_t c3[] = {1, 1, 1, 1};
    CHECK(counts_eq(c, n, c3, 4));
    ba_instances_free(in);

    /* the largest float32 below 2^32 is an id */
    float fmax[1] = {4294967040.0f};
    CHECK_RC(ba_instances_find(&in, fmax, BA_DTYPE_F32, 1, 1, 0, 0, 1), BA_OK);
    CHECK_HEX(ba_instances_id(in, 0), 4294967040u);
    ba_instances_free(in);

    /* empty images and all-background ones: valid, no instances */
    uint8_t zeros[6] = {0};
    int empties[][2] = {{0, 5}, {5, 0}, {0, 0}, {2, 3}};
    for (size_t i = 0; i < 4; i++) {
        in = NULL;
        CHECK_RC(ba_instances_find(&in, zeros, BA_DTYPE_U8, (size_t)empties[i][0],
                                   (size_t)empties[i][1], 0, 0, 0),
                 BA_OK);
        CHECK(in != NULL);
        CHECK_INT(ba_instances_count(in), 0);
        ba_instances_free(in);
    }
}

static void test_find_errors(void)
{
    ba_instances *in = (ba_instances *)1;
    uint32_t img[4] = {1, 2, 3, 0};
    CHECK_RC(ba_instances_find(NULL, img, BA_DTYPE_U32, 2, 2, 0, 0, 9), BA_EINVAL);
    CHECK_RC(ba_instances_find(&in, NULL, BA_DTYPE_U32, 2, 2, 0, 0, 9), BA_EINVAL);
    CHECK(in == NULL);
    in = (ba_instances *)1;
    CHECK_RC(ba_instances_find(&in, img, BA_DTYPE_F16, 2, 2, 0, 0, 9), BA_EUNSUPPORTED);
    CHECK(in == NULL);
    CHECK_RC(ba_instances_find(&in, img, 99, 2, 2, 0, 0, 9), BA_EUNSUPPORTED);
    CHECK_RC(ba_instances_find(&in, img, -1, 2, 2, 0, 0, 9), BA_EUNSUPPORTED);
    CHECK_RC(ba_instances_find(&in, img, BA_DTYPE_U32, 65536, 65536, 0, 0, 9), BA_EOVERFLOW);
    CHECK_RC(ba_instances_find(&in, img, BA_DTYPE_U32, 65536, 65537, 0, 0, 9), BA_EOVERFLOW);
    CHECK_RC(ba_instances_find(&in, img, BA_DTYPE_U32, SIZE_MAX, 2, 0, 0, 9), BA_EOVERFLOW);
    CHECK_RC(ba_instances_find(&in, img, BA_DTYPE_U32, 2, 2, 7, 0, 9), BA_EINVAL); /* < 8 */
    CHECK_RC(ba_instances_find(&in, img, BA_DTYPE_U32, 2, 2, SIZE_MAX, 0, 9), BA_EOVERFLOW);
    CHECK_RC(ba_instances_find(&in, img, BA_DTYPE_U32, 2, 2, 0, 3, 9), BA_EINVAL); /* < 4 */
    CHECK_RC(ba_instances_find(&in, img, BA_DTYPE_U32, 2, 2, 8, 8, 9), BA_EINVAL); /* row < 12 */
    CHECK_RC(ba_instances_find(&in, img, BA_DTYPE_U32, 2, 3, 0, SIZE_MAX, 9), BA_EOVERFLOW);
    /* three distinct ids, room for two */
    in = (ba_instances *)1;
    CHECK_RC(ba_instances_find(&in, img, BA_DTYPE_U32, 2, 2, 0, 0, 2), BA_ERANGE);
    CHECK(in == NULL);
    CHECK_RC(ba_instances_find(&in, img, BA_DTYPE_U32, 2, 2, 0, 0, 0), BA_ERANGE);
    CHECK_RC(ba_instances_find(&in, img, BA_DTYPE_U32, 2, 2, 0, 0, 3), BA_OK);
    ba_instances_free(in);

    int32_t neg[3] = {1, -5, 2};
    CHECK_RC(ba_instances_find(&in, neg, BA_DTYPE_I32, 1, 3, 0, 0, 9), BA_ERANGE);
    CHECK(in == NULL);
    float bad[] = {NAN, -1.0f, 0.5f, INFINITY, -INFINITY, 4294967296.0f, 1e30f, -0.25f, 2.5f};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        float f[3] = {1.0f, bad[i], 0.0f};
        in = (ba_instances *)1;
        CHECK_RC(ba_instances_find(&in, f, BA_DTYPE_F32, 3, 1, 0, 0, 9), BA_ERANGE);
        CHECK(in == NULL);
    }
    float negzero[2] = {-0.0f, 1.0f}; /* -0 is 0: background */
    CHECK_RC(ba_instances_find(&in, negzero, BA_DTYPE_F32, 1, 2, 0, 0, 9), BA_OK);
    CHECK_INT(ba_instances_count(in), 1);
    ba_instances_free(in);
}

/* ---- random images against a brute-force reference ---- */

static uint32_t pixel(const unsigned char *buf, int dtype, size_t stride, size_t y, size_t x)
{
    const unsigned char *p = buf + y * stride + x * ba_dtype_size(dtype);
    switch (dtype) {
    case BA_DTYPE_U8: return *p;
    case BA_DTYPE_U16: {
        uint16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    case BA_DTYPE_F32: {
        float v;
        memcpy(&v, p, 4);
        return (uint32_t)v;
    }
    default: {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    }
}

static void put(unsigned char *buf, int dtype, size_t stride, size_t y, size_t x, uint32_t v)
{
    unsigned char *p = buf + y * stride + x * ba_dtype_size(dtype);
    uint16_t v16 = (uint16_t)v;
    float vf = (float)v;
    switch (dtype) {
    case BA_DTYPE_U8: *p = (uint8_t)v; break;
    case BA_DTYPE_U16: memcpy(p, &v16, 2); break;
    case BA_DTYPE_F32: memcpy(p, &vf, 4); break;
    default: memcpy(p, &v, 4);
    }
}

/* One instance checked against its mask rebuilt from the image. */
static void check_instance(const ba_instances *in, size_t i, const unsigned char *buf, int dtype,
                           size_t stride, size_t h, size_t w, uint8_t *mask)
{
    uint32_t id = ba_instances_id(in, i);
    size_t n;
    const uint32_t *c = ba_instances_rle(in, i, &n);
    REQUIRE(id != 0 && c != NULL && n >= 2);
    memset(mask, 0, h * w);
    CHECK_RC(ba_rle_decode(c, n, h, w, mask, 0, 1), BA_OK);
    uint64_t area = 0;
    size_t x0 = w, y0 = h, x1 = 0, y1 = 0;
    for (size_t y = 0; y < h; y++)
        for (size_t x = 0; x < w; x++) {
            int on = pixel(buf, dtype, stride, y, x) == id;
            if (on != mask[y * w + x]) {
                T_REPORT("id %u: mask differs at (%zu, %zu)", id, x, y);
                return;
            }
            if (on) {
                area++;
                if (x < x0) x0 = x;
                if (x > x1) x1 = x;
                if (y < y0) y0 = y;
                if (y > y1) y1 = y;
            }
        }
    CHECK_INT(ba_instances_area(in, i), area);
    uint32_t box[4];
    ba_instances_box(in, i, box);
    CHECK(box[0] == x0 && box[1] == y0 && box[2] == x1 - x0 + 1 && box[3] == y1 - y0 + 1);
    /* runs alternate and none but the first is empty */
    for (size_t k = 1; k < n; k++) CHECK(c[k] > 0);

    /* the string round trip */
    size_t cap = ba_rle_string_bound(n), len = 0, m = 0;
    char *s = malloc(cap);
    uint32_t *back = malloc(n * sizeof *back);
    if (s && back) {
        CHECK_RC(ba_rle_to_string(c, n, s, cap, &len), BA_OK);
        CHECK_INT(strlen(s), len);
        CHECK_RC(ba_rle_from_string(s, len, back, n, &m), BA_OK);
        CHECK(counts_eq(back, m, c, n));
    }
    free(s);
    free(back);
}

static void test_random(void)
{
    uint64_t seed = 0x1234567;
    int dtypes[] = {BA_DTYPE_U8, BA_DTYPE_U16, BA_DTYPE_U32, BA_DTYPE_I32, BA_DTYPE_F32};
    for (int trial = 0; trial < 200; trial++) {
        int dtype = dtypes[trial % 5];
        size_t h = 1 + t_rand(&seed) % 40, w = 1 + t_rand(&seed) % 40;
        if (trial % 7 == 0) h = 1;
        if (trial % 11 == 0) w = 1;
        if (trial % 13 == 0) w = 70; /* more than one tile of columns */
        size_t stride = w * ba_dtype_size(dtype) + (t_rand(&seed) % 3) * 4;
        unsigned char *buf = malloc(h * stride);
        uint8_t *mask = malloc(h * w);
        REQUIRE(buf && mask);
        memset(buf, 0xff, h * stride);
        /* a few rectangles over a background, or noise */
        uint32_t ids[8];
        for (int k = 0; k < 8; k++)
            ids[k] = dtype == BA_DTYPE_U8 ? 1 + (uint32_t)(t_rand(&seed) % 255)
                     : dtype == BA_DTYPE_U16 ? 1 + (uint32_t)(t_rand(&seed) % 65535)
                     : dtype == BA_DTYPE_I32 ? 1 + (uint32_t)(t_rand(&seed) % 0x7ffffffe)
                     : dtype == BA_DTYPE_F32 ? 1 + (uint32_t)(t_rand(&seed) % (1u << 24))
                                             : 1 + (uint32_t)(t_rand(&seed) % 0xfffffffeu);
        for (size_t y = 0; y < h; y++)
            for (size_t x = 0; x < w; x++)
                put(buf, dtype, stride, y, x,
                    trial % 4 == 0 ? (t_rand(&seed) % 3 ? ids[t_rand(&seed) % 8] : 0) : 0);
        if (trial % 4)
            for (int k = 0; k < 6; k++) {
                size_t ya = t_rand(&seed) % h, xa = t_rand(&seed) % w;
                size_t yb = ya + t_rand(&seed) % (h - ya), xb = xa + t_rand(&seed) % (w - xa);
                for (size_t y = ya; y <= yb; y++)
                    for (size_t x = xa; x <= xb; x++) put(buf, dtype, stride, y, x, ids[k]);
            }
        ba_instances *in = NULL;
        CHECK_RC(ba_instances_find(&in, buf, dtype, h, w, stride, 0, 8), BA_OK);
        if (in) {
            /* every distinct non-zero id, ascending */
            size_t distinct = 0;
            for (int k = 0; k < 8; k++) {
                int seen = 0, dup = 0;
                for (int j = 0; j < k; j++) dup |= ids[j] == ids[k];
                for (size_t p = 0; p < h * w && !seen && !dup; p++)
                    seen = pixel(buf, dtype, stride, p / w, p % w) == ids[k];
                distinct += seen && !dup;
            }
            CHECK_INT(ba_instances_count(in), distinct);
            for (size_t i = 0; i < ba_instances_count(in); i++) {
                if (i) CHECK(ba_instances_id(in, i - 1) < ba_instances_id(in, i));
                check_instance(in, i, buf, dtype, stride, h, w, mask);
            }
        }
        ba_instances_free(in);
        free(buf);
        free(mask);
    }
}

/* ---- strings ---- */

static void test_rle_string(void)
{
    char s[64];
    size_t len = 0, n = 0;
    static const uint32_t c1[] = {3, 2, 1, 1, 5};
    CHECK_RC(ba_rle_to_string(c1, 5, s, sizeof s, &len), BA_OK);
    CHECK(strcmp(s, "321O4") == 0); /* the fourth: 1 - 2 = -1, 31 + 48 */
    CHECK_INT(len, 5);
    uint32_t back[8];
    CHECK_RC(ba_rle_from_string("321O4", 5, back, 8, &n), BA_OK);
    CHECK(counts_eq(back, n, c1, 5));

    /* multi-character counts and the extremes of a difference */
    static const uint32_t c2[] = {0, 4294967295u, 100000, 0, 1, 4294967295u, 7, 0};
    CHECK_RC(ba_rle_to_string(c2, 8, s, sizeof s, &len), BA_OK);
    CHECK_RC(ba_rle_from_string(s, len, back, 8, &n), BA_OK);
    CHECK(counts_eq(back, n, c2, 8));
    CHECK(len <= ba_rle_string_bound(8) - 1);
    CHECK_INT(ba_rle_string_bound(0), 1);
    CHECK_INT(ba_rle_string_bound(SIZE_MAX), SIZE_MAX);
    /* both sides of the overflow: the largest n whose bound 7 n + 1 fits, and the next */
    const size_t top = (SIZE_MAX - 1) / 7;
    CHECK(ba_rle_string_bound(top) == top * 7 + 1);
    CHECK(ba_rle_string_bound(top + 1) == SIZE_MAX);

    /* a string that is not COCO's leaves no count behind */
    n = 77;
    CHECK_RC(ba_rle_from_string("3 ", 2, back, 8, &n), BA_EFORMAT);
    CHECK_INT(n, 0);
    n = 77;
    CHECK_RC(ba_rle_from_string("P", 1, back, 8, &n), BA_EFORMAT); /* continued, then nothing */
    CHECK_INT(n, 0);

    /* 2^32 - 2^30 * 1 fits, 2^32 does not: 0x20-continued zero groups */
    CHECK_RC(ba_rle_from_string("PPPPPP3", 7, back, 8, &n), BA_OK);
    CHECK_INT(n, 1);
    CHECK_INT(back[0], 3u << 30);
    CHECK_RC(ba_rle_from_string("PPPPPP4", 7, back, 8, &n), BA_EFORMAT);
    CHECK_RC(ba_rle_from_string("PPPPPPP0", 8, back, 8, &n), BA_EFORMAT); /* 8 groups */
    CHECK_RC(ba_rle_from_string("1 2", 3, back, 8, &n), BA_EFORMAT);
    CHECK_RC(ba_rle_from_string("12p", 3, back, 8, &n), BA_EFORMAT);
    CHECK_RC(ba_rle_from_string("1\0002", 3, back, 8, &n), BA_EFORMAT);
    CHECK_RC(ba_rle_from_string("1\xff", 2, back, 8, &n), BA_EFORMAT);
    CHECK_RC(ba_rle_from_string("1P", 2, back, 8, &n), BA_EFORMAT); /* unterminated */
    CHECK_RC(ba_rle_from_string("O", 1, back, 8, &n), BA_EFORMAT);  /* -1 */
    CHECK_RC(ba_rle_from_string("001O", 4, back, 8, &n), BA_EFORMAT); /* 0 + -1 */
    CHECK_RC(ba_rle_from_string("", 0, back, 8, &n), BA_OK);
    CHECK_INT(n, 0);
    CHECK_RC(ba_rle_from_string("123", 3, back, 2, &n), BA_EBUFSIZE);
    CHECK_INT(n, 3);
    CHECK_RC(ba_rle_from_string("123", 3, NULL, 0, &n), BA_EBUFSIZE);
    CHECK_INT(n, 3);
    CHECK_RC(ba_rle_from_string(NULL, 3, back, 8, &n), BA_EINVAL);
    CHECK_RC(ba_rle_from_string("123", 3, back, 8, NULL), BA_EINVAL);
    CHECK_RC(ba_rle_from_string("123", 3, NULL, 8, &n), BA_EINVAL);

    CHECK_RC(ba_rle_to_string(c1, 5, s, 5, &len), BA_EBUFSIZE); /* no room for the NUL */
    CHECK_RC(ba_rle_to_string(c1, 5, s, 6, NULL), BA_OK);
    CHECK_RC(ba_rle_to_string(c1, 0, s, 0, &len), BA_EBUFSIZE);
    CHECK_RC(ba_rle_to_string(c1, 0, s, 1, &len), BA_OK);
    CHECK_INT(len, 0);
    CHECK_RC(ba_rle_to_string(NULL, 5, s, 64, &len), BA_EINVAL);
    CHECK_RC(ba_rle_to_string(c1, 5, NULL, 64, &len), BA_EINVAL);
}

static void test_rle_decode(void)
{
    /* the counts of id 1 in small_u8, painted with 9 into rows of 5 bytes */
    static const uint32_t c1[] = {3, 2, 1, 1, 5};
    uint8_t dst[3][5];
    memset(dst, 0xee, sizeof dst);
    CHECK_RC(ba_rle_decode(c1, 5, 3, 4, &dst[0][0], 5, 9), BA_OK);
    for (size_t y = 0; y < 3; y++)
        for (size_t x = 0; x < 5; x++)
            CHECK_INT(dst[y][x], x < 4 && small_u8[y][x] == 1 ? 9 : 0xee);

    static const uint32_t short_[] = {3, 2, 1}, long_[] = {3, 2, 1, 1, 6};
    static const uint32_t huge[] = {0xffffffffu, 0xffffffffu, 0xffffffffu};
    memset(dst, 0xee, sizeof dst);
    CHECK_RC(ba_rle_decode(short_, 3, 3, 4, &dst[0][0], 5, 9), BA_EFORMAT);
    CHECK_RC(ba_rle_decode(long_, 5, 3, 4, &dst[0][0], 5, 9), BA_EFORMAT);
    CHECK_RC(ba_rle_decode(huge, 3, 3, 4, &dst[0][0], 5, 9), BA_EFORMAT);
    for (size_t y = 0; y < 3; y++) /* untouched on error */
        for (size_t x = 0; x < 5; x++) CHECK_INT(dst[y][x], 0xee);
    CHECK_RC(ba_rle_decode(c1, 5, 3, 4, &dst[0][0], 3, 9), BA_EINVAL);
    CHECK_RC(ba_rle_decode(NULL, 5, 3, 4, &dst[0][0], 5, 9), BA_EINVAL);
    CHECK_RC(ba_rle_decode(c1, 5, 3, 4, NULL, 5, 9), BA_EINVAL);
    CHECK_RC(ba_rle_decode(c1, 5, SIZE_MAX, 4, &dst[0][0], 5, 9), BA_EOVERFLOW);
    CHECK_RC(ba_rle_decode(NULL, 0, 0, 4, &dst[0][0], 0, 9), BA_OK);
    static const uint32_t zero[] = {0}, empty_runs[] = {0, 0};
    CHECK_RC(ba_rle_decode(zero, 1, 0, 0, &dst[0][0], 0, 9), BA_OK);
    CHECK_RC(ba_rle_decode(empty_runs, 2, 0, 5, &dst[0][0], 0, 9), BA_OK); /* no divide by 0 */
}

/* ---- Cryptomatte ---- */

static void test_cryptomatte(void)
{
    /* MurmurHash3_x86_32, seed 0: the reference implementation's values */
    CHECK_HEX(ba_cryptomatte_hash("", 0), 0);
    CHECK_HEX(ba_cryptomatte_hash(NULL, 0), 0);
    CHECK_HEX(ba_cryptomatte_hash("hello", 5), 0x248bfa47u);
    const char *fox = "The quick brown fox jumps over the lazy dog";
    CHECK_HEX(ba_cryptomatte_hash(fox, strlen(fox)), 0x2e4ff723u);
    /* what Blender renders for these object names */
    CHECK_HEX(ba_cryptomatte_id(ba_cryptomatte_hash("RedCube", 7)), 0x170703cau);
    CHECK_HEX(ba_cryptomatte_id(ba_cryptomatte_hash("Ground", 6)), 0x24950135u);
    /* the exponent kept in 1..254 */
    CHECK_HEX(ba_cryptomatte_id(0), 0x00800000u);
    CHECK_HEX(ba_cryptomatte_id(0x807fffffu), 0x80ffffffu);
    CHECK_HEX(ba_cryptomatte_id(0xffffffffu), 0xff7fffffu);
    CHECK_HEX(ba_cryptomatte_id(0x3f800000u), 0x3f800000u);
}

/* ---- coverage (soft masks) ---- */

static float bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ranks add up, pass after pass; ids compare as bits (-0 is not 0, a NaN
 * id is itself) */
static void test_coverage(void)
{
    const uint32_t a = 0x3f800000u, b = 0x80000000u /* -0.0 */, nan = 0x7fc00001u;
    float pass0[3][4] = {
        {bits_float(a), 0.75f, bits_float(b), 0.25f},
        {bits_float(b), 0.5f, bits_float(a), 0.375f},
        {bits_float(nan), 1.0f, 0.0f, 0.0f},
    };
    float pass1[3][4] = {
        {0.0f, 0.0f, 0.0f, 0.0f},
        {bits_float(a), 0.125f, 0.0f, 0.0f},
        {bits_float(a), 0.5f, bits_float(a), 0.25f},
    };
    float out[3] = {0};
    CHECK_RC(ba_cryptomatte_coverage(out, &pass0[0][0], 1, 3, a), BA_OK);
    CHECK(out[0] == 0.75f && out[1] == 0.375f && out[2] == 0.0f);
    CHECK_RC(ba_cryptomatte_coverage(out, &pass1[0][0], 1, 3, a), BA_OK);
    CHECK(out[0] == 0.75f && out[1] == 0.5f && out[2] == 0.75f);
    float neg0[3] = {0}, zero[3] = {0}, n[3] = {0};
    CHECK_RC(ba_cryptomatte_coverage(neg0, &pass0[0][0], 3, 1, b), BA_OK);
    CHECK(neg0[0] == 0.25f && neg0[1] == 0.5f && neg0[2] == 0.0f);
    CHECK_RC(ba_cryptomatte_coverage(zero, &pass0[0][0], 3, 1, 0), BA_OK);
    CHECK(zero[0] == 0.0f && zero[1] == 0.0f && zero[2] == 0.0f); /* 0: no id's, not -0's */
    CHECK_RC(ba_cryptomatte_coverage(n, &pass0[0][0], 3, 1, nan), BA_OK);
    CHECK(n[2] == 1.0f && n[0] == 0.0f);
    CHECK_RC(ba_cryptomatte_coverage(NULL, &pass0[0][0], 1, 3, a), BA_EINVAL);
    CHECK_RC(ba_cryptomatte_coverage(out, NULL, 1, 3, a), BA_EINVAL);
    CHECK_RC(ba_cryptomatte_coverage(out, &pass0[0][0], SIZE_MAX, 2, a), BA_EOVERFLOW);
    CHECK_RC(ba_cryptomatte_coverage(out, &pass0[0][0], SIZE_MAX / 8, 2, a), BA_EOVERFLOW);
    CHECK_RC(ba_cryptomatte_coverage(out, &pass0[0][0], 0, 3, a), BA_OK);
}

/* ---- flow ---- */

static void test_flow(void)
{
    float v[2][2][4], fw[8], bw[8];
    for (int i = 0; i < 16; i++) (&v[0][0][0])[i] = (float)(i + 1) * (i % 3 ? 1.0f : -0.5f);
    memset(fw, 0, sizeof fw);
    memset(bw, 0, sizeof bw);
    CHECK_RC(ba_flow_from_vector(&v[0][0][0], 2, 2, fw, bw), BA_OK);
    for (int p = 0; p < 4; p++) {
        const float *x = &v[p / 2][p % 2][0];
        CHECK(fw[2 * p] == -x[2] && fw[2 * p + 1] == x[3]);
        CHECK(bw[2 * p] == x[0] && bw[2 * p + 1] == -x[1]);
    }
    float fw2[8] = {0};
    CHECK_RC(ba_flow_from_vector(&v[0][0][0], 2, 2, fw2, NULL), BA_OK);
    CHECK(memcmp(fw, fw2, sizeof fw) == 0);
    CHECK_RC(ba_flow_from_vector(&v[0][0][0], 2, 2, NULL, NULL), BA_OK);
    CHECK_RC(ba_flow_from_vector(NULL, 2, 2, fw, bw), BA_EINVAL);
    CHECK_RC(ba_flow_from_vector(&v[0][0][0], SIZE_MAX, 2, fw, bw), BA_EOVERFLOW);
    CHECK_RC(ba_flow_from_vector(&v[0][0][0], SIZE_MAX / 8, 2, fw, bw), BA_EOVERFLOW);
    CHECK_RC(ba_flow_from_vector(&v[0][0][0], 0, 2, fw, bw), BA_OK);
}

static void test_u32_dtype(void)
{
    CHECK_INT(ba_dtype_size(BA_DTYPE_U32), 4);
    CHECK(ba_dtype_descr(BA_DTYPE_U32) && strcmp(ba_dtype_descr(BA_DTYPE_U32), "<u4") == 0);
    char head[128];
    size_t hl = 0;
    uint64_t shape[2] = {2, 3};
    CHECK_RC(ba_npy_header(head, sizeof head, &hl, BA_DTYPE_U32, 2, shape), BA_OK);
    ba_npy_info info;
    CHECK_RC(ba_npy_parse_header(head, hl, &info), BA_OK);
    CHECK_INT(info.dtype, BA_DTYPE_U32);
    CHECK_INT(info.itemsize, 4);
    CHECK_INT(info.nbytes, 24);
}

int main(void)
{
    RUN(test_small);
    RUN(test_pixel_stride);
    RUN(test_shapes);
    RUN(test_find_errors);
    RUN(test_random);
    RUN(test_rle_string);
    RUN(test_rle_decode);
    RUN(test_cryptomatte);
    RUN(test_coverage);
    RUN(test_flow);
    RUN(test_u32_dtype);
    return t_summary();
}
