/* test_convert.c — pixel kernels: flips, f32 → f16 / i32 / sRGB8. */
#include <math.h>
#include <string.h>

#include "blendarray.h"
#include "check.h"
#include "fixtures.h"

static float bits_f(uint32_t u) { return fx_bits_float(u); }

static uint16_t f16(float f)
{
    uint16_t h = 0xdead;
    int rc = ba_f32_to_f16(&h, &f, 1);
    return rc == BA_OK ? h : 0xdead;
}

static void test_errors_and_version(void)
{
    /* the library loaded is the one the header describes */
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", BA_VERSION_MAJOR, BA_VERSION_MINOR, BA_VERSION_PATCH);
    CHECK(strcmp(ba_version_string(), want) == 0);
    CHECK_INT(ba_version_number(), BA_VERSION_NUMBER);
    CHECK_INT(BA_VERSION_NUMBER, BA_VERSION_MAJOR * 10000 + BA_VERSION_MINOR * 100 + BA_VERSION_PATCH);
    CHECK(strcmp(ba_strerror(BA_OK), "success") == 0);
    for (int e = BA_EINVAL; e <= BA_ESTATE; ++e) {
        CHECK(ba_strerror(e) != NULL);
        CHECK(strcmp(ba_strerror(e), "unknown error") != 0);
    }
    CHECK(strcmp(ba_strerror(9999), "unknown error") == 0);
    CHECK(strcmp(ba_strerror(-1), "unknown error") == 0);
}

static void test_f16_known(void)
{
    CHECK_HEX(f16(1.0f), 0x3C00);
    CHECK_HEX(f16(-2.0f), 0xC000);
    CHECK_HEX(f16(0.5f), 0x3800);
    CHECK_HEX(f16(65504.0f), 0x7BFF);
    CHECK_HEX(f16(65519.0f), 0x7BFF);   /* just below the rounding point */
    CHECK_HEX(f16(65520.0f), 0x7C00);   /* ties away to infinity (even) */
    CHECK_HEX(f16(1e10f), 0x7C00);
    CHECK_HEX(f16(-1e10f), 0xFC00);
    CHECK_HEX(f16(INFINITY), 0x7C00);
    CHECK_HEX(f16(-INFINITY), 0xFC00);
    CHECK_HEX(f16(0.0f), 0x0000);
    CHECK_HEX(f16(-0.0f), 0x8000);
    CHECK_HEX(f16(ldexpf(1.0f, -14)), 0x0400);  /* smallest normal */
    CHECK_HEX(f16(ldexpf(1023.0f, -24)), 0x03FF); /* largest subnormal */
    CHECK_HEX(f16(ldexpf(1.0f, -24)), 0x0001);  /* smallest subnormal */
    CHECK_HEX(f16(ldexpf(1.0f, -25)), 0x0000);  /* tie → even (0) */
    CHECK_HEX(f16(-ldexpf(1.0f, -25)), 0x8000);
    CHECK_HEX(f16(ldexpf(3.0f, -25)), 0x0002);  /* tie → even (2) */
    CHECK_HEX(f16(ldexpf(5.0f, -25)), 0x0002);  /* 2.5 → 2 */
    CHECK_HEX(f16(ldexpf(1.0f, -26)), 0x0000);
    CHECK_HEX(f16(ldexpf(1.0f, -25) * 1.0000001f), 0x0001); /* just above the tie */
    CHECK_HEX(f16(ldexpf(1.0f, -149)), 0x0000); /* float subnormal */
    CHECK_HEX(f16(1.0f + ldexpf(1.0f, -11)), 0x3C00); /* tie → even */
    CHECK_HEX(f16(1.0f + ldexpf(3.0f, -11)), 0x3C02); /* tie → even (up) */
    CHECK_HEX(f16(1.0f + ldexpf(1.0f, -11) + ldexpf(1.0f, -20)), 0x3C01);
    CHECK_HEX(f16(ldexpf(2047.0f, -25)), 0x0400); /* subnormal rounding into normal */
    CHECK_HEX(f16(0.1f), 0x2E66);
    CHECK_HEX(f16(3.14159265f), 0x4248);
    /* NaN stays NaN, quiet, top payload bits kept (numpy 1.26 on x86) */
    uint16_t h = f16(NAN);
    CHECK((h & 0x7C00) == 0x7C00 && (h & 0x03FF) != 0);
    CHECK_HEX(f16(bits_f(0x7FC00000u)), 0x7E00);
    CHECK_HEX(f16(bits_f(0xFFC00000u)), 0xFE00);
    CHECK_HEX(f16(bits_f(0x7F800001u)), 0x7E00); /* signalling: quieted */
    CHECK_HEX(f16(bits_f(0x7F802000u)), 0x7E01);
    CHECK_HEX(f16(bits_f(0xFFC00001u)), 0xFE00);
}

/* Every half value converts back to itself; the midpoints between
 * neighbours round to the even one. */
static void test_f16_roundtrip_all(void)
{
    for (uint32_t h = 0; h < 0x10000; ++h) {
        if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF)) continue; /* NaN */
        float f = fx_half_to_float((uint16_t)h);
        CHECK_HEX(f16(f), h);
        if ((h & 0x7FFF) < 0x7BFF) { /* midpoint to the next magnitude */
            double a = fx_half_to_float((uint16_t)h), b = fx_half_to_float((uint16_t)(h + 1));
            float mid = (float)((a + b) / 2); /* exact in float */
            uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
            CHECK_HEX(f16(mid), even);
        }
    }
}

#if defined(__FLT16_MAX__) && defined(__GNUC__) && !defined(__clang__)
/* Compare against the compiler's own conversion on a spread of patterns. */
static void test_f16_vs_compiler(void)
{
    uint16_t buf[4096];
    float src[4096];
    uint64_t seed = 0x1234567;
    for (int round = 0; round < 256; ++round) {
        for (int i = 0; i < 4096; ++i) {
            uint32_t u = (uint32_t)t_rand(&seed);
            /* bias toward the half range */
            if (i & 1) u = (u & 0x807FFFFFu) | ((uint32_t)(96 + (u >> 24) % 48) << 23);
            src[i] = bits_f(u);
        }
        CHECK_RC(ba_f32_to_f16(buf, src, 4096), BA_OK);
        for (int i = 0; i < 4096; ++i) {
            if (isnan(src[i])) continue;
            _Float16 r = (_Float16)src[i];
            uint16_t rb;
            memcpy(&rb, &r, 2);
            CHECK_HEX(buf[i], rb);
        }
    }
}
#endif

static void test_i32(void)
{
    float src[] = {0.0f, -0.0f, 1.0f, -1.0f, 42.0f, 16777216.0f, -2147483648.0f,
                   2147483520.0f};
    int32_t want[] = {0, 0, 1, -1, 42, 16777216, INT32_MIN, 2147483520};
    int32_t dst[8];
    CHECK_RC(ba_f32_to_i32(dst, src, 8), BA_OK);
    for (int i = 0; i < 8; ++i) CHECK_INT(dst[i], want[i]);

    float bad[] = {0.5f, -1.5f, 2147483648.0f, -2147483904.0f, NAN, INFINITY, -INFINITY,
                   1e-30f, 3e9f};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        int32_t d = 7;
        CHECK_RC(ba_f32_to_i32(&d, &bad[i], 1), BA_ERANGE);
    }
    /* stops at the first bad value, converting nothing after it */
    float mixed[] = {1.0f, 2.0f, 2.5f, 4.0f};
    int32_t out[4] = {-9, -9, -9, -9};
    CHECK_RC(ba_f32_to_i32(out, mixed, 4), BA_ERANGE);
    CHECK_INT(out[0], 1);
    CHECK_INT(out[1], 2);
    CHECK_INT(out[3], -9);
    CHECK_RC(ba_f32_to_i32(out, mixed, 0), BA_OK);
    CHECK_RC(ba_f32_to_i32(NULL, mixed, 1), BA_EINVAL);
}

static void test_srgb8(void)
{
    float src[] = {0.0f, 1.0f, 0.5f, 0.18f, 0.0031308f, 0.003f, 0.0032f, 0.001f,
                   0.2140411f, 0.7f, -1.0f, 2.0f, NAN, INFINITY, -INFINITY};
    uint8_t want[] = {0, 255, 188, 118, 10, 10, 11, 3, 127, 218, 0, 255, 0, 255, 0};
    uint8_t dst[15];
    CHECK_RC(ba_linear_to_srgb8(dst, src, 15, 1), BA_OK);
    for (int i = 0; i < 15; ++i) CHECK_INT(dst[i], want[i]);

    /* alpha (4th channel) is linear */
    float rgba[] = {0.5f, 0.5f, 0.5f, 0.5f, 1.0f, 0.0f, 0.18f, 0.2f};
    uint8_t o[8];
    CHECK_RC(ba_linear_to_srgb8(o, rgba, 2, 4), BA_OK);
    uint8_t ow[] = {188, 188, 188, 128, 255, 0, 118, 51};
    for (int i = 0; i < 8; ++i) CHECK_INT(o[i], ow[i]);
    /* 3 channels: no alpha */
    CHECK_RC(ba_linear_to_srgb8(o, rgba, 2, 3), BA_OK);
    uint8_t o3[] = {188, 188, 188, 188, 255, 0};
    for (int i = 0; i < 6; ++i) CHECK_INT(o[i], o3[i]);

    /* monotonic over [0, 1] */
    int prev = 0;
    for (int i = 0; i <= 10000; ++i) {
        float f = (float)i / 10000.0f;
        uint8_t v;
        ba_linear_to_srgb8(&v, &f, 1, 1);
        CHECK(v >= prev);
        prev = v;
    }
    CHECK_RC(ba_linear_to_srgb8(o, rgba, 1, 0), BA_EINVAL);
    CHECK_RC(ba_linear_to_srgb8(o, rgba, 1, 5), BA_EINVAL);
    CHECK_RC(ba_linear_to_srgb8(o, rgba, SIZE_MAX / 2, 4), BA_EOVERFLOW);
}

static void fill_rows(uint8_t *buf, size_t rows, size_t row_bytes)
{
    for (size_t r = 0; r < rows; ++r)
        for (size_t b = 0; b < row_bytes; ++b) buf[r * row_bytes + b] = (uint8_t)(r * 31 + b * 7 + 1);
}

static void check_flipped(const uint8_t *buf, size_t rows, size_t row_bytes)
{
    for (size_t r = 0; r < rows; ++r)
        for (size_t b = 0; b < row_bytes; ++b)
            CHECK_INT(buf[r * row_bytes + b], (uint8_t)((rows - 1 - r) * 31 + b * 7 + 1));
}

static void test_flip(void)
{
    size_t shapes[][2] = {{1, 5}, {2, 3}, {3, 3}, {4, 1}, {7, 12}, {8, 16}, {5, 10000}, {6, 4096}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; ++i) {
        size_t rows = shapes[i][0], rb = shapes[i][1];
        uint8_t *a = malloc(rows * rb), *b = malloc(rows * rb);
        fill_rows(a, rows, rb);
        CHECK_RC(ba_copy_flipped(b, a, rows, rb), BA_OK);
        check_flipped(b, rows, rb);
        CHECK_RC(ba_flip_rows(a, rows, rb), BA_OK);
        check_flipped(a, rows, rb);
        CHECK_RC(ba_flip_rows(a, rows, rb), BA_OK); /* twice: identity */
        CHECK_RC(ba_flip_rows(b, rows, rb), BA_OK);
        CHECK(memcmp(a, b, rows * rb) == 0);
        free(a);
        free(b);
    }
    uint8_t x[16];
    CHECK_RC(ba_flip_rows(x, 0, 4), BA_OK);
    CHECK_RC(ba_flip_rows(NULL, 2, 4), BA_EINVAL);
    CHECK_RC(ba_flip_rows(x, SIZE_MAX, 2), BA_EOVERFLOW);
    CHECK_RC(ba_copy_flipped(x, x + 4, 2, 4), BA_EINVAL); /* overlap */
    CHECK_RC(ba_copy_flipped(x, NULL, 2, 4), BA_EINVAL);
    CHECK_RC(ba_copy_flipped(x + 8, x, 2, 4), BA_OK);
}

int main(void)
{
    RUN(test_errors_and_version);
    RUN(test_f16_known);
    RUN(test_f16_roundtrip_all);
#if defined(__FLT16_MAX__) && defined(__GNUC__) && !defined(__clang__)
    RUN(test_f16_vs_compiler);
#endif
    RUN(test_i32);
    RUN(test_srgb8);
    RUN(test_flip);
    return t_summary();
}
