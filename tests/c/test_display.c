/* test_display.c — Blender's steps around the view transform: predivide,
 * straight alpha, rounding, dither blocks, the vector paths against a model
 * and against each other, and bad arguments. (The bytes are
 * checked against Blender's own PNG in tests/python/test_display.py.) */
#include <math.h>
#include <stdlib.h> /* setenv: the SSE2 path */
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

/* Blender's rounding (the header's words), for the model below. */
static uint8_t model_byte(float v)
{
    if (!(v > 0.0f)) return 0; /* v <= 0, NaN */
    if (v > 1.0f - 0.5f / 255.0f) return 255;
    return (uint8_t)(255.0f * v + 0.5f);
}

/* A value the vector paths must round as Blender does: random colours, some on
 * and one float either side of a byte boundary, and the edges (NaN, infinities,
 * 2^31 and more, where a plain conversion to int goes wrong, -0, denormals). */
static float edge_value(uint32_t *seed)
{
    static const float edges[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1.0f, 1e30f,
                                  -1e30f, 1e-40f, 2147483648.0f, 3e9f, -2147483648.0f,
                                  0.5f / 255.0f, 1.0f - 0.5f / 255.0f, 2.0f, -1.0f};
    *seed = *seed * 1664525u + 1013904223u;
    const uint32_t r = *seed >> 8;
    if (r % 8 == 0) return edges[(r >> 3) % (sizeof edges / sizeof edges[0])];
    if (r % 8 == 1) { /* a byte boundary, one float either side */
        const float b = ((float)((r >> 3) % 256) + 0.5f) / 255.0f;
        const uint32_t side = (r >> 11) % 3;
        return side == 1 ? b : nextafterf(b, side ? 2.0f : 0.0f);
    }
    return (float)(r % 1400000) / 1000000.0f - 0.2f;
}

/* The vector paths (AVX2 where the CPU has it, SSE2, the scalar rest of a row)
 * against the header's model without dither, and AVX2 against SSE2 with it, at
 * every width from 1 to 40 (every rest of 4 and of 8 pixels) and 1920, with
 * partial, NaN and other odd alphas; predivide against its model, in place too. */
static void test_vector_paths(void)
{
    uint32_t seed = 7;
    const size_t widths[] = {1, 2, 3, 5, 7, 8, 9, 12, 15, 16, 17, 23, 24, 31, 33, 40, 1920};
    for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
        const size_t w = widths[wi], h = 3, n = w * h;
        float *src = malloc(n * 16), *pre = malloc(n * 16), *inplace = malloc(n * 16);
        uint8_t *a = malloc(n * 4), *b = malloc(n * 4);
        REQUIRE(src && pre && inplace && a && b);
        for (size_t i = 0; i < n; i++) {
            for (int c = 0; c < 4; c++) src[4 * i + c] = edge_value(&seed);
            if (i % 3) src[4 * i + 3] = (i % 3 == 1) ? 1.0f : 0.0f; /* mostly 0 and 1 */
        }
        for (size_t i = 0; i < w; i++) src[4 * i + 3] = 1.0f; /* row 0: opaque */
        CHECK_RC(ba_display_predivide(pre, src, n), BA_OK);
        memcpy(inplace, src, n * 16);
        CHECK_RC(ba_display_predivide(inplace, inplace, n), BA_OK);
        for (size_t i = 0; i < n; i++) {
            const float al = src[4 * i + 3];
            const int part = al != 0.0f && al != 1.0f;
            for (int c = 0; c < 3; c++) {
                const float want = part ? src[4 * i + c] * (1.0f / al) : src[4 * i + c];
                CHECK(memcmp(&pre[4 * i + c], &want, 4) == 0 ||
                      (isnan(want) && isnan(pre[4 * i + c])));
            }
            CHECK(memcmp(&pre[4 * i + 3], &src[4 * i + 3], 4) == 0);
        }
        CHECK(memcmp(inplace, pre, n * 16) == 0);
        ba_display *d = NULL;
        CHECK_RC(ba_display_new(&d, h, w, 0.0f, BA_DITHER_HASH), BA_OK);
        CHECK_RC(ba_display_rows(d, a, src, 0, h), BA_OK);
        for (size_t i = 0; i < n; i++) {
            const float al = src[4 * i + 3];
            const int part = al != 0.0f && al != 1.0f;
            for (int c = 0; c < 3; c++) {
                const float v = part ? (src[4 * i + c] * al) * (1.0f / al) : src[4 * i + c];
                CHECK_INT(a[4 * i + c], model_byte(v));
            }
            CHECK_INT(a[4 * i + 3], model_byte(al));
        }
        ba_display_free(d);
        for (int noise = 0; noise < 2; noise++) { /* with dither: AVX2 against SSE2 */
            ba_display *fast = NULL, *plain = NULL;
            CHECK_RC(ba_display_new(&fast, h, w, 1.0f, noise), BA_OK);
            REQUIRE(setenv("BLENDARRAY_NO_AVX2", "1", 1) == 0);
            CHECK_RC(ba_display_new(&plain, h, w, 1.0f, noise), BA_OK);
            REQUIRE(unsetenv("BLENDARRAY_NO_AVX2") == 0);
            CHECK_RC(ba_display_rows(fast, a, src, 0, h), BA_OK);
            CHECK_RC(ba_display_rows(plain, b, src, 0, h), BA_OK);
            CHECK(memcmp(a, b, n * 4) == 0);
            ba_display_free(fast);
            ba_display_free(plain);
        }
        free(src);
        free(pre);
        free(inplace);
        free(a);
        free(b);
    }
}

/* One pixel of partial alpha among opaque ones, at each place of a run that
 * spans two of predivide's chunks: found and divided, wherever it falls in the
 * vector that checks it; and made straight again by ba_display_rows. */
static void test_lone_partial_alpha(void)
{
    enum { N = 300 };
    float src[N * 4], pre[N * 4];
    uint8_t out[N * 4];
    ba_display *d = NULL;
    CHECK_RC(ba_display_new(&d, 1, N, 0.0f, BA_DITHER_HASH), BA_OK);
    for (int k = 0; k < N; k++) {
        for (int i = 0; i < N; i++) pixel(src + 4 * i, 0.25f, 0.5f, 0.125f, 1.0f);
        src[4 * k + 3] = 0.5f;
        CHECK_RC(ba_display_predivide(pre, src, N), BA_OK);
        CHECK(pre[4 * k] == 0.5f && pre[4 * k + 3] == 0.5f);
        CHECK(pre[4 * ((k + 1) % N)] == 0.25f);
        pixel(pre + 4 * k, 0.2f, 0.3f, 0.4f, 0.5f); /* after a view transform */
        CHECK_RC(ba_display_rows(d, out, pre, 0, 1), BA_OK);
        /* (0.2 * 0.5) / 0.5, straight: 51; a plain rounding also 51, so the alpha: 128 */
        CHECK_INT(out[4 * k], 51);
        CHECK_INT(out[4 * k + 3], 128);
        CHECK_INT(out[4 * ((k + 1) % N) + 3], 255);
    }
    ba_display_free(d);
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
    RUN(test_vector_paths);
    RUN(test_lone_partial_alpha);
    RUN(test_bad_arguments);
    return t_summary();
}
