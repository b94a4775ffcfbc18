/* test_display.c — Blender's steps around the view transform: predivide,
 * straight alpha, rounding, dither blocks, and bad arguments. (The bytes are
 * checked against Blender's own PNG in tests/python/test_display.py.) */
#include <math.h>
#include <string.h>

#include "blendarray.h"
#include "check.h"

static void pixel(float *p, float r, float g, float b, float a)
{
    p[0] = r;
    p[1] = g;
    p[2] = b;
    p[3] = a;
}

/* Blender's unit_float_to_uchar_clamp, at its edges (no dither, alpha 1). */
static void test_rounding(void)
{
    const float v[] = {-1.0f, 0.0f, NAN, 1e-9f, 0.5f / 255.0f - 1e-6f, 0.5f / 255.0f, 0.5f,
                       1.0f - 0.5f / 255.0f, 1.0f - 0.5f / 255.0f + 1e-6f, 1.0f, INFINITY,
                       -INFINITY};
    const uint8_t want[] = {0, 0, 0, 0, 0, 1, 128, 255, 255, 255, 255, 0};
    enum { N = sizeof v / sizeof v[0] };
    float src[N * 4];
    uint8_t dst[N * 4];
    for (int i = 0; i < N; i++) pixel(src + 4 * i, v[i], v[i], v[i], 1.0f);
    ba_display *d = NULL;
    CHECK_RC(ba_display_new(&d, 1, N, 0.0f, BA_DITHER_HASH), BA_OK);
    CHECK_RC(ba_display_rows(d, dst, src, 0, 1), BA_OK);
    for (int i = 0; i < N; i++) {
        CHECK_INT(dst[4 * i], want[i]);
        CHECK_INT(dst[4 * i + 2], want[i]);
        CHECK_INT(dst[4 * i + 3], 255);
    }
    ba_display_free(d);
}

/* Alpha: predivide before, premultiply and straighten after; 0 and 1 untouched. */
static void test_alpha(void)
{
    float src[3 * 4], pre[3 * 4];
    pixel(src, 0.2f, 0.3f, 0.4f, 0.5f);
    pixel(src + 4, 0.2f, 0.3f, 0.4f, 0.0f);
    pixel(src + 8, 0.2f, 0.3f, 0.4f, 1.0f);
    CHECK_RC(ba_display_predivide(pre, src, 3), BA_OK);
    CHECK(pre[0] == 0.2f * (1.0f / 0.5f) && pre[2] == 0.4f * 2.0f && pre[3] == 0.5f);
    CHECK(memcmp(pre + 4, src + 4, 8 * sizeof(float)) == 0); /* alpha 0 and 1: as they were */
    float inplace[3 * 4];
    memcpy(inplace, src, sizeof src);
    CHECK_RC(ba_display_predivide(inplace, inplace, 3), BA_OK);
    CHECK(memcmp(inplace, pre, sizeof pre) == 0);
    uint8_t dst[3 * 4];
    ba_display *d = NULL;
    CHECK_RC(ba_display_new(&d, 1, 3, 0.0f, BA_DITHER_SINES), BA_OK);
    CHECK_RC(ba_display_rows(d, dst, pre, 0, 1), BA_OK);
    /* straight alpha in the file: 0.4 / 0.5 * 0.5 / 0.5 = 0.8 -> 204; alpha 0.5 -> 128 */
    CHECK_INT(dst[0], 102);
    CHECK_INT(dst[2], 204);
    CHECK_INT(dst[3], 128);
    CHECK_INT(dst[4 + 2], 102); /* alpha 0: the colour as it is */
    CHECK_INT(dst[4 + 3], 0);
    CHECK_INT(dst[8 + 3], 255);
    /* the two roundings matter: (x * a) / a is one ulp under x here, and x sits
     * on a byte boundary: Blender's file holds 8, a plain rounding of x 9 */
    float edge[4];
    pixel(edge, 0x1.111112p-5f, 0x1.111112p-5f, 0x1.111112p-5f, 0x1.fd4bb8p-2f);
    ba_display *e = NULL;
    CHECK_RC(ba_display_new(&e, 1, 1, 0.0f, BA_DITHER_HASH), BA_OK);
    CHECK_RC(ba_display_rows(e, dst, edge, 0, 1), BA_OK);
    CHECK_INT(dst[0], 8);
    ba_display_free(e);
    ba_display_free(d);
}

/* Dither: none at 0; at 1, Blender's noise times 0.0033, added before the
 * rounding. Blender 3.x's sines noise is h0 + h1 - 0.5 with h0, h1 in [0, 1):
 * [-0.5, 1.5) x 0.0033 x 255 = [-0.42, 1.26) levels, so a byte moves by -1..+2;
 * 4.x's triangular hash is in [-1, 1]: +-0.84 levels, a byte moves by -1..+1.
 * Both ends are reached (the colours sweep the fractions of a level: a test of
 * a few fixed colours saw +-1 only and took it for the bound), at every height
 * from 1 to 130 (every size of the sines' last block of 64 rows, twice). The same
 * bytes whatever blocks of rows the caller makes. */
static void test_dither(void)
{
    const int noises[] = {BA_DITHER_SINES, BA_DITHER_HASH};
    const int lo[] = {-1, -1}, hi[] = {2, 1};
    for (int n = 0; n < 2; n++) {
        int seen_lo = 0, seen_hi = 0;
        for (size_t h = 1; h <= 130; h++) {
            const size_t w = 7;
            float *src = malloc(h * w * 16);
            uint8_t *plain = malloc(h * w * 4), *a = malloc(h * w * 4), *b = malloc(h * w * 4);
            REQUIRE(src && plain && a && b);
            for (size_t i = 0; i < h * w; i++) /* 100.00 .. 100.97 levels, and 2 more */
                pixel(src + 4 * i, (100.0f + 0.01f * (float)(i % 97)) / 255.0f,
                      (7.0f + 0.01f * (float)((i * 7) % 97)) / 255.0f,
                      (250.0f + 0.01f * (float)((i * 31) % 97)) / 255.0f, 1.0f);
            ba_display *d0 = NULL, *d1 = NULL;
            CHECK_RC(ba_display_new(&d0, h, w, 0.0f, noises[n]), BA_OK);
            CHECK_RC(ba_display_new(&d1, h, w, 1.0f, noises[n]), BA_OK);
            CHECK_RC(ba_display_rows(d0, plain, src, 0, h), BA_OK);
            CHECK_RC(ba_display_rows(d1, a, src, 0, h), BA_OK);
            for (size_t y = 0; y < h; y += 3) /* blocks of 3 rows */
                CHECK_RC(ba_display_rows(d1, b + 4 * y * w, src + 4 * y * w, y,
                                         h - y < 3 ? h - y : 3),
                         BA_OK);
            CHECK(memcmp(a, b, h * w * 4) == 0);
            size_t moved = 0;
            for (size_t i = 0; i < h * w * 4; i++) {
                const int diff = (int)a[i] - (int)plain[i];
                CHECK(diff >= lo[n] && diff <= hi[n]);
                moved += diff != 0;
                seen_lo |= diff == lo[n];
                seen_hi |= diff == hi[n];
                if (i % 4 == 3) CHECK_INT(a[i], 255); /* no dither on alpha */
            }
            if (h * w > 30) CHECK(moved > 0);
            ba_display_free(d0);
            ba_display_free(d1);
            free(src);
            free(plain);
            free(a);
            free(b);
        }
        CHECK(seen_lo && seen_hi);
    }
}

static void test_bad_arguments(void)
{
    ba_display *d = (ba_display *)1;
    CHECK_RC(ba_display_new(NULL, 1, 1, 0.0f, BA_DITHER_HASH), BA_EINVAL);
    CHECK_RC(ba_display_new(&d, 1, 1, 0.0f, 7), BA_EINVAL);
    CHECK(d == NULL);
    CHECK_RC(ba_display_new(&d, 1, 1, -0.5f, BA_DITHER_HASH), BA_EINVAL);
    CHECK_RC(ba_display_new(&d, 1, 1, NAN, BA_DITHER_SINES), BA_EINVAL);
    CHECK_RC(ba_display_new(&d, SIZE_MAX, 2, 0.0f, BA_DITHER_HASH), BA_EOVERFLOW);
    CHECK_RC(ba_display_new(&d, 2, 2, 1.0f, BA_DITHER_SINES), BA_OK);
    float src[4 * 4] = {0};
    uint8_t dst[4 * 4];
    CHECK_RC(ba_display_rows(d, dst, src, 1, 2), BA_EINVAL); /* past the last row */
    CHECK_RC(ba_display_rows(d, dst, src, 3, 0), BA_EINVAL);
    CHECK_RC(ba_display_rows(d, NULL, src, 0, 1), BA_EINVAL);
    CHECK_RC(ba_display_rows(NULL, dst, src, 0, 1), BA_EINVAL);
    CHECK_RC(ba_display_rows(d, dst, src, 2, 0), BA_OK); /* nothing */
    CHECK_RC(ba_display_predivide(NULL, src, 1), BA_EINVAL);
    CHECK_RC(ba_display_predivide(NULL, NULL, 0), BA_OK);
    ba_display_free(d);
    ba_display_free(NULL);
}

int main(void)
{
    RUN(test_rounding);
    RUN(test_alpha);
    RUN(test_dither);
    RUN(test_bad_arguments);
    return t_summary();
}
