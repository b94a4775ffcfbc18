/* convert.c — pixel kernels: row flips, float32 → float16 / int32 / sRGB8. */
#include <math.h>
#include <string.h>

#include "internal.h"

int ba_flip_rows(void *data, size_t rows, size_t row_bytes)
{
    size_t total;
    if (!data) return BA_EINVAL;
    if (ba_mul_overflow(rows, row_bytes, &total)) return BA_EOVERFLOW;
    if (rows < 2 || row_bytes == 0) return BA_OK;

    unsigned char tmp[4096];
    unsigned char *base = data;
    for (size_t top = 0, bot = rows - 1; top < bot; ++top, --bot) {
        unsigned char *a = base + top * row_bytes;
        unsigned char *b = base + bot * row_bytes;
        for (size_t off = 0; off < row_bytes; off += sizeof tmp) {
            size_t len = row_bytes - off < sizeof tmp ? row_bytes - off : sizeof tmp;
            memcpy(tmp, a + off, len);
            memcpy(a + off, b + off, len);
            memcpy(b + off, tmp, len);
        }
    }
    return BA_OK;
}

int ba_copy_flipped(void *dst, const void *src, size_t rows, size_t row_bytes)
{
    size_t total;
    if (!dst || !src) return BA_EINVAL;
    if (ba_mul_overflow(rows, row_bytes, &total)) return BA_EOVERFLOW;
    if (total == 0) return BA_OK;
    /* overlapping buffers are a caller error; refuse rather than corrupt */
    const unsigned char *s = src;
    unsigned char *d = dst;
    if (d < s + total && s < d + total) return BA_EINVAL;
    for (size_t r = 0; r < rows; ++r)
        memcpy(d + r * row_bytes, s + (rows - 1 - r) * row_bytes, row_bytes);
    return BA_OK;
}

static inline uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* binary32 → binary16, round to nearest even. NaN becomes a quiet NaN
 * keeping the top payload bits, as x86 F16C (vcvtps2ph) and numpy's
 * astype(float16) do. */
static inline uint16_t f32_to_f16_one(float f)
{
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;

    if (a >= 0x7f800000u) { /* inf or NaN */
        if (a == 0x7f800000u) return sign | 0x7c00u;
        return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
    }
    if (a >= 0x477ff000u) /* >= 65520: rounds to infinity */
        return sign | 0x7c00u;
    if (a >= 0x38800000u) { /* >= 2^-14: normal half */
        uint32_t r = a - 0x38000000u; /* rebias exponent 127 → 15 */
        r += 0x0fffu + ((r >> 13) & 1u);
        return (uint16_t)(sign | (r >> 13));
    }
    if (a < 0x33000000u) /* < 2^-25: rounds to zero */
        return sign;
    /* subnormal half: value / 2^-24 = m * 2^(e - 126), e in [102, 112] */
    uint32_t e = a >> 23;
    uint32_t m = (a & 0x007fffffu) | 0x00800000u;
    uint32_t shift = 126u - e; /* 14 .. 24 */
    uint32_t h = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (h & 1u))) ++h;
    return (uint16_t)(sign | h); /* a carry into the exponent is correct */
}

int ba_f32_to_f16(uint16_t *dst, const float *src, size_t n)
{
    if (!dst || !src) return BA_EINVAL;
    for (size_t i = 0; i < n; ++i) dst[i] = f32_to_f16_one(src[i]);
    return BA_OK;
}

int ba_f32_to_i32(int32_t *dst, const float *src, size_t n)
{
    if (!dst || !src) return BA_EINVAL;
    for (size_t i = 0; i < n; ++i) {
        float f = src[i];
        /* NaN fails both comparisons; 2^31 is exactly representable */
        if (!(f >= -2147483648.0f && f < 2147483648.0f)) return BA_ERANGE;
        int32_t v = (int32_t)f;
        if ((float)v != f) return BA_ERANGE; /* not an integer */
        dst[i] = v;
    }
    return BA_OK;
}

static inline uint8_t quantize(double v)
{
    /* v in [0, 1] */
    return (uint8_t)floor(v * 255.0 + 0.5);
}

static inline double clamp01(float x)
{
    if (!(x > 0.0f)) return 0.0; /* NaN and negatives */
    if (x >= 1.0f) return 1.0;
    return (double)x;
}

static inline uint8_t srgb8(float x)
{
    double v = clamp01(x);
    if (v <= 0.0031308)
        v *= 12.92;
    else
        v = 1.055 * pow(v, 1.0 / 2.4) - 0.055;
    if (v > 1.0) v = 1.0;
    if (v < 0.0) v = 0.0;
    return quantize(v);
}

int ba_linear_to_srgb8(uint8_t *dst, const float *src, size_t n, int channels)
{
    size_t total;
    if (!dst || !src || channels < 1 || channels > 4) return BA_EINVAL;
    if (ba_mul_overflow(n, (size_t)channels, &total)) return BA_EOVERFLOW;
    for (size_t p = 0; p < n; ++p) {
        const float *s = src + p * (size_t)channels;
        uint8_t *d = dst + p * (size_t)channels;
        for (int c = 0; c < channels; ++c)
            d[c] = c == 3 ? quantize(clamp01(s[c])) : srgb8(s[c]);
    }
    return BA_OK;
}
