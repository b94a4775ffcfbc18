/* display.c — the display image's last steps, as Blender makes them: the alpha
 * handling around the view transform, its dither and its float → byte
 * rounding, block of rows by block of rows (the caller runs blocks on several
 * threads). The view transform itself is OpenColorIO's (the library of the
 * Blender that rendered), applied between ba_display_predivide() and
 * ba_display_rows(). These steps are the part of display=True that is not
 * OpenColorIO's, so they are vectorized by hand (SSE2, AVX2 where the CPU has
 * it), with the scalar arithmetic's exact results: the bytes must be Blender's. */
#include <math.h>
#include <stdlib.h>
#include <string.h> /* memcpy */
#if defined(__SSE2__)
#include <emmintrin.h> /* SSE2: the bytes of four pixels at a time */
#endif
/* AVX2 (eight pixels at a time) where the CPU has it, chosen when the library
 * loads: the build targets plain x86-64. */
#if defined(__x86_64__) && defined(__GNUC__)
#define BA_DISPLAY_AVX2 1
#include <immintrin.h> /* AVX2 */
static int ba_display_avx2;
__attribute__((constructor)) static void ba_display_init(void)
{
    __builtin_cpu_init();
    ba_display_avx2 = __builtin_cpu_supports("avx2");
}
#else
#define BA_DISPLAY_AVX2 0
#endif

#include "internal.h"

/* Whether a new ba_display makes its bytes with AVX2: where the CPU has it,
 * unless $BLENDARRAY_NO_AVX2 is set (how tests/c/test_display.c checks the SSE2
 * path against it on one machine; predivide's two paths are both a copy and
 * the same check, and do not look at it). */
static int display_avx2(void)
{
#if BA_DISPLAY_AVX2
    const char *off = getenv("BLENDARRAY_NO_AVX2");
    return ba_display_avx2 && !(off && *off);
#else
    return 0;
#endif
}

/* Whether any of n pixels has an alpha other than 0 and 1 (NaN included): the
 * pixels that predivide and straight alpha change. Branch-free: it vectorizes. */
static int has_partial_alpha(const float *src, size_t n)
{
    int any = 0;
    for (size_t x = 0; x < n; x++) any |= src[4 * x + 3] != 0.0f && src[4 * x + 3] != 1.0f;
    return any;
}

#if BA_DISPLAY_AVX2
/* Copies n pixels, and says whether any had an alpha other than 0 and 1: one
 * pass, the eight alphas of eight pixels gathered into one vector to check. */
__attribute__((target("avx2"))) static int copy_check_avx2(float *q, const float *p, size_t n)
{
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    __m256 acc = zero;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const float *s = p + 4 * i;
        const __m256 v0 = _mm256_loadu_ps(s), v1 = _mm256_loadu_ps(s + 8);
        const __m256 v2 = _mm256_loadu_ps(s + 16), v3 = _mm256_loadu_ps(s + 24);
        _mm256_storeu_ps(q + 4 * i, v0);
        _mm256_storeu_ps(q + 4 * i + 8, v1);
        _mm256_storeu_ps(q + 4 * i + 16, v2);
        _mm256_storeu_ps(q + 4 * i + 24, v3);
        const __m256 a = _mm256_blend_ps(_mm256_shuffle_ps(v0, v1, 0xff),
                                         _mm256_shuffle_ps(v2, v3, 0xff), 0xaa);
        acc = _mm256_or_ps(acc, _mm256_and_ps(_mm256_cmp_ps(a, zero, _CMP_NEQ_UQ),
                                              _mm256_cmp_ps(a, one, _CMP_NEQ_UQ)));
    }
    int any = _mm256_movemask_ps(acc) != 0;
    if (i < n) {
        memmove(q + 4 * i, p + 4 * i, 4 * (n - i) * sizeof *q);
        any |= has_partial_alpha(p + 4 * i, n - i);
    }
    return any;
}
#endif

/* The same without AVX2: a copy, then the check while the pixels are in L1. */
static int copy_check(float *q, const float *p, size_t n)
{
#if BA_DISPLAY_AVX2
    if (ba_display_avx2) return copy_check_avx2(q, p, n);
#endif
    if (q != p) memcpy(q, p, 4 * n * sizeof *q);
    return has_partial_alpha(p, n);
}

/* Predivide copies and checks this many pixels at a time (4 KiB: still in L1
 * when a chunk with partial alpha is done again). */
#define PREDIVIDE_CHUNK 256

int ba_display_predivide(float *dst, const float *src, size_t n)
{
    if ((!dst || !src) && n) return BA_EINVAL;
    for (size_t i0 = 0; i0 < n; i0 += PREDIVIDE_CHUNK) {
        const size_t m = n - i0 < PREDIVIDE_CHUNK ? n - i0 : PREDIVIDE_CHUNK;
        const float *p = src + 4 * i0;
        float *q = dst + 4 * i0;
        if (!copy_check(q, p, m)) continue; /* most pixels (an opaque film): a copy */
        for (size_t i = 0; i < m; i++, p += 4, q += 4) {
            const float a = p[3];
            if (a != 0.0f && a != 1.0f) { /* Blender's predivide: multiply by the inverse */
                const float inv = 1.0f / a;
                q[0] = p[0] * inv;
                q[1] = p[1] * inv;
                q[2] = p[2] * inv;
            } else if (q != p) {
                q[0] = p[0];
                q[1] = p[1];
                q[2] = p[2];
            }
            q[3] = a;
        }
    }
    return BA_OK;
}

/* Blender 3.x: two sines of the pixel's position in its block of rows. Blender
 * 3.x converts the image in blocks of 64 rows from the bottom, and each block
 * is dithered as an image of its own: t is the row within the block over the
 * block's height. */
#define SINES_BLOCK 64
static float noise_sines(uint32_t x, uint32_t y, float inv_w, float inv_h)
{
    const float s = (float)x * inv_w, t = (float)y * inv_h;
    float h0 = sinf(s * 12.9898f + t * 78.233f) * 43758.5453f;
    float h1 = sinf(s * 19.9898f + t * 119.233f) * 43798.5453f;
    h0 -= floorf(h0);
    h1 -= floorf(h1);
    return h0 + h1 - 0.5f;
}

/* Blender 4.x and later: the iqint3 integer hash, made triangular. */
static float noise_hash(uint32_t x, uint32_t y)
{
    const uint32_t qx = 1103515245u * ((x >> 1u) ^ y);
    const uint32_t qy = 1103515245u * ((y >> 1u) ^ x);
    const uint32_t n = 1103515245u * (qx ^ (qy >> 3u));
    float v = (float)n * (1.0f / (float)0xffffffffu);
    v = v * 2.0f - 1.0f;
    const float sign = v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : 0.0f);
    return sign * (1.0f - sqrtf(1.0f - fabsf(v)));
}

/* Blender's unit_float_to_uchar_clamp; NaN gives 0 (as x86's conversion does
 * in Blender, where the cast of NaN is left to the hardware). */
static inline uint8_t to_byte(float v)
{
    /* branch-free (maxss, minss), the same bytes: 255 v + 0.5 is <= 0.5
     * (truncated to 0) for v <= 0, above 255 only for v > 1 - 0.5/255; a NaN
     * fails t > 0 and gives 0 */
    float t = 255.0f * v + 0.5f;
    t = t > 0.0f ? t : 0.0f;
    t = t < 255.0f ? t : 255.0f;
    return (uint8_t)(int)t;
}

struct ba_display {
    size_t height, width;
    float dither;
    int noise;
    int avx2; /* display_avx2() when made */
    float *table; /* the noise times 0.0033 * dither. BA_DITHER_SINES: each row of a
                     block of 64 and of the last, shorter block (height % 64 rows);
                     BA_DITHER_HASH: every row. Rows from the bottom, times width */
};

int ba_display_new(ba_display **out, size_t height, size_t width, float dither, int noise)
{
    if (!out) return BA_EINVAL;
    *out = NULL;
    if (noise != BA_DITHER_SINES && noise != BA_DITHER_HASH) return BA_EINVAL;
    if (!(dither >= 0.0f) || dither > 1e6f) return BA_EINVAL; /* NaN, negative */
    size_t pixels;
    if (height > UINT32_MAX || width > UINT32_MAX || ba_mul_overflow(height, width, &pixels) ||
        pixels > SIZE_MAX / 16)
        return BA_EOVERFLOW;
    ba_display *d = calloc(1, sizeof *d);
    if (!d) return BA_ENOMEM;
    *d = (ba_display){height, width, dither, noise, display_avx2(), NULL};
    if (dither != 0.0f && pixels) {
        /* the noise costs more than the rest and is the same for every frame of
         * this size: it is made once (Blender 3.x's repeats every 64 rows) */
        const size_t last = height % SINES_BLOCK;
        const size_t rows = noise == BA_DITHER_SINES ? SINES_BLOCK + last : height;
        d->table = malloc(rows * width * sizeof *d->table);
        if (!d->table) {
            free(d);
            return BA_ENOMEM;
        }
        const float inv_w = 1.0f / (float)width;
        for (size_t r = 0; r < rows; r++) {
            float *t = d->table + r * width;
            if (noise == BA_DITHER_HASH) {
                for (size_t x = 0; x < width; x++)
                    t[x] = noise_hash((uint32_t)x, (uint32_t)r) * 0.0033f * dither;
                continue;
            }
            const size_t block_rows = r < SINES_BLOCK ? SINES_BLOCK : last;
            const float inv_h = 1.0f / (float)block_rows;
            const uint32_t y = (uint32_t)(r < SINES_BLOCK ? r : r - SINES_BLOCK);
            for (size_t x = 0; x < width; x++)
                t[x] = noise_sines((uint32_t)x, y, inv_w, inv_h) * 0.0033f * dither;
        }
    }
    *out = d;
    return BA_OK;
}

void ba_display_free(ba_display *d)
{
    if (!d) return;
    free(d->table);
    free(d);
}

/* The dither values of row y (counted from the bottom), or NULL without dither. */
static const float *dither_row(const ba_display *d, size_t y)
{
    if (!d->table) return NULL;
    if (d->noise == BA_DITHER_HASH) return d->table + y * d->width;
    const size_t block = y - y % SINES_BLOCK;
    const size_t r = d->height - block < SINES_BLOCK ? SINES_BLOCK + (y - block) : y % SINES_BLOCK;
    return d->table + r * d->width;
}

/* Where alpha is neither 0 nor 1: premultiplied again after the view
 * transform, then straight alpha for the 8-bit file: two roundings, as
 * Blender does. src's `width` pixels into row. */
static void straighten(float *row, const float *src, size_t width)
{
    for (size_t x = 0; x < width; x++) {
        const float *p = src + 4 * x;
        float *q = row + 4 * x;
        const float a = p[3];
        if (a != 0.0f && a != 1.0f) {
            const float inv = 1.0f / a;
            q[0] = (p[0] * a) * inv;
            q[1] = (p[1] * a) * inv;
            q[2] = (p[2] * a) * inv;
        } else {
            q[0] = p[0];
            q[1] = p[1];
            q[2] = p[2];
        }
        q[3] = a;
    }
}

#if defined(__SSE2__)
/* 16 floats to 16 bytes as to_byte() makes them. The clamp to 0 is left to the
 * saturating packs: a t <= -1 converts to a negative int (or INT_MIN), which
 * packs to 0, and -1 < t <= 0 truncates to 0. The clamp to 255 must stay, as
 * t >= 2^31 converts to INT_MIN; min(255, t) keeps a NaN t (minps returns its
 * second operand when one is NaN), and a NaN converts to INT_MIN: 0. */
static inline __m128i bytes16(__m128 v0, __m128 v1, __m128 v2, __m128 v3)
{
    const __m128 k255 = _mm_set1_ps(255.0f), half = _mm_set1_ps(0.5f);
    v0 = _mm_min_ps(k255, _mm_add_ps(_mm_mul_ps(v0, k255), half));
    v1 = _mm_min_ps(k255, _mm_add_ps(_mm_mul_ps(v1, k255), half));
    v2 = _mm_min_ps(k255, _mm_add_ps(_mm_mul_ps(v2, k255), half));
    v3 = _mm_min_ps(k255, _mm_add_ps(_mm_mul_ps(v3, k255), half));
    return _mm_packus_epi16(_mm_packs_epi32(_mm_cvttps_epi32(v0), _mm_cvttps_epi32(v1)),
                            _mm_packs_epi32(_mm_cvttps_epi32(v2), _mm_cvttps_epi32(v3)));
}
#endif

/* The bytes of pixels x0 .. width - 1 of a row: the dither (Blender adds it,
 * then rounds) on colour, none on alpha. Four pixels at a time where SSE2 is
 * (every x86-64). */
static void row_bytes_from(uint8_t *o, const float *s, const float *dv, size_t x0, size_t width)
{
    size_t x = x0;
#if defined(__SSE2__)
    if (dv) {
        /* the pixel's dither on r, g, b; 0 on alpha: a + 0 rounds as a does */
        const __m128 rgb = _mm_castsi128_ps(_mm_set_epi32(0, -1, -1, -1));
        for (; x + 4 <= width; x += 4) {
            const float *p = s + 4 * x;
            const __m128 d = _mm_loadu_ps(dv + x);
            const __m128 d0 = _mm_and_ps(_mm_shuffle_ps(d, d, 0x00), rgb);
            const __m128 d1 = _mm_and_ps(_mm_shuffle_ps(d, d, 0x55), rgb);
            const __m128 d2 = _mm_and_ps(_mm_shuffle_ps(d, d, 0xaa), rgb);
            const __m128 d3 = _mm_and_ps(_mm_shuffle_ps(d, d, 0xff), rgb);
            _mm_storeu_si128((__m128i *)(o + 4 * x),
                             bytes16(_mm_add_ps(d0, _mm_loadu_ps(p)),
                                     _mm_add_ps(d1, _mm_loadu_ps(p + 4)),
                                     _mm_add_ps(d2, _mm_loadu_ps(p + 8)),
                                     _mm_add_ps(d3, _mm_loadu_ps(p + 12))));
        }
    } else {
        for (; x + 4 <= width; x += 4) {
            const float *p = s + 4 * x;
            _mm_storeu_si128((__m128i *)(o + 4 * x),
                             bytes16(_mm_loadu_ps(p), _mm_loadu_ps(p + 4), _mm_loadu_ps(p + 8),
                                     _mm_loadu_ps(p + 12)));
        }
    }
#endif
    for (; x < width; x++) { /* the rest (and all of it without SSE2) */
        const float d = dv ? dv[x] : 0.0f;
        o[4 * x] = to_byte(d + s[4 * x]);
        o[4 * x + 1] = to_byte(d + s[4 * x + 1]);
        o[4 * x + 2] = to_byte(d + s[4 * x + 2]);
        o[4 * x + 3] = to_byte(s[4 * x + 3]);
    }
}

#if BA_DISPLAY_AVX2
/* bytes16() eight pixels at a time. */
__attribute__((target("avx2"))) static inline __m256i bytes32(__m256 v0, __m256 v1, __m256 v2,
                                                              __m256 v3)
{
    const __m256 k255 = _mm256_set1_ps(255.0f), half = _mm256_set1_ps(0.5f);
    v0 = _mm256_min_ps(k255, _mm256_add_ps(_mm256_mul_ps(v0, k255), half));
    v1 = _mm256_min_ps(k255, _mm256_add_ps(_mm256_mul_ps(v1, k255), half));
    v2 = _mm256_min_ps(k255, _mm256_add_ps(_mm256_mul_ps(v2, k255), half));
    v3 = _mm256_min_ps(k255, _mm256_add_ps(_mm256_mul_ps(v3, k255), half));
    /* the packs work within each 128-bit half: pixels come out 0 2 4 6 1 3 5 7 */
    const __m256i b = _mm256_packus_epi16(
        _mm256_packs_epi32(_mm256_cvttps_epi32(v0), _mm256_cvttps_epi32(v1)),
        _mm256_packs_epi32(_mm256_cvttps_epi32(v2), _mm256_cvttps_epi32(v3)));
    return _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* Alpha lanes other than 0 and 1 of v (NaN included) into acc. */
__attribute__((target("avx2"))) static inline __m256 partial(__m256 acc, __m256 v)
{
    return _mm256_or_ps(acc, _mm256_and_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_NEQ_UQ),
                                           _mm256_cmp_ps(v, _mm256_set1_ps(1.0f), _CMP_NEQ_UQ)));
}

/* Straight alpha (straighten()) on the eight pixels of v0 .. v3, the same
 * arithmetic: where alpha is neither 0 nor 1, (rgb * a) * (1 / a); elsewhere
 * rgb * 1 * 1, which is rgb. One division for the eight alphas. */
__attribute__((target("avx2"))) static inline void straighten8(__m256 *v0, __m256 *v1,
                                                               __m256 *v2, __m256 *v3)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    /* the eight alphas in one vector: pixels 0 4 2 6 1 5 3 7 */
    const __m256 a = _mm256_blend_ps(_mm256_shuffle_ps(*v0, *v1, 0xff),
                                     _mm256_shuffle_ps(*v2, *v3, 0xff), 0xaa);
    const __m256 part = _mm256_and_ps(_mm256_cmp_ps(a, _mm256_setzero_ps(), _CMP_NEQ_UQ),
                                      _mm256_cmp_ps(a, one, _CMP_NEQ_UQ));
    const __m256 f = _mm256_blendv_ps(one, a, part); /* 1 where alpha is 0 or 1 */
    const __m256 inv = _mm256_div_ps(one, f);
    /* each pixel's factors on its r, g, b; 1 on alpha, which stays as it is */
#define BA_STRAIGHTEN(v, i, j)                                                                  \
    do {                                                                                    \
        const __m256i at = _mm256_setr_epi32(i, i, i, i, j, j, j, j);                       \
        const __m256 fa = _mm256_blend_ps(_mm256_permutevar8x32_ps(f, at), one, 0x88);      \
        const __m256 fi = _mm256_blend_ps(_mm256_permutevar8x32_ps(inv, at), one, 0x88);    \
        *(v) = _mm256_mul_ps(_mm256_mul_ps(*(v), fa), fi);                                  \
    } while (0)
    BA_STRAIGHTEN(v0, 0, 4);
    BA_STRAIGHTEN(v1, 2, 6);
    BA_STRAIGHTEN(v2, 1, 5);
    BA_STRAIGHTEN(v3, 3, 7);
#undef BA_STRAIGHTEN
}

/* row_bytes() eight pixels at a time. straight = 0: with the check of alpha in
 * the same pass (returns whether the row must be made again, straightened);
 * straight = 1: straight alpha on every pixel that needs it (returns 0). */
__attribute__((target("avx2"))) static int row_bytes_avx2(uint8_t *o, const float *s,
                                                           const float *dv, size_t width,
                                                           int straight)
{
    __m256 acc = _mm256_setzero_ps();
    const __m256 rgb = _mm256_castsi256_ps(_mm256_setr_epi32(-1, -1, -1, 0, -1, -1, -1, 0));
    const __m256i i01 = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);
    const __m256i two = _mm256_set1_epi32(2);
    size_t x = 0;
    for (; x + 8 <= width; x += 8) {
        const float *p = s + 4 * x;
        __m256 v0 = _mm256_loadu_ps(p), v1 = _mm256_loadu_ps(p + 8);
        __m256 v2 = _mm256_loadu_ps(p + 16), v3 = _mm256_loadu_ps(p + 24);
        if (straight)
            straighten8(&v0, &v1, &v2, &v3);
        else
            acc = partial(partial(partial(partial(acc, v0), v1), v2), v3);
        if (dv) { /* each pixel's dither on its r, g, b; 0 on alpha: a + 0 rounds as a */
            /* Blender 4+'s noise is a table of a float a pixel, read from
             * memory once a frame, its rows in the reverse order (they count
             * from the bottom), which the hardware does not fetch ahead: 2 KiB
             * ahead, into the row made next (the one before in the table) */
            const size_t ahead = x + 512;
            if (ahead < width)
                _mm_prefetch((const char *)(dv + ahead), _MM_HINT_T0);
            else if (ahead - width < width) /* an address, never read: no bounds */
                _mm_prefetch((const char *)((uintptr_t)dv - (2 * width - ahead) * sizeof *dv),
                             _MM_HINT_T0);
            const __m256 d = _mm256_loadu_ps(dv + x);
            const __m256i i23 = _mm256_add_epi32(i01, two), i45 = _mm256_add_epi32(i23, two);
            const __m256i i67 = _mm256_add_epi32(i45, two);
            v0 = _mm256_add_ps(_mm256_and_ps(_mm256_permutevar8x32_ps(d, i01), rgb), v0);
            v1 = _mm256_add_ps(_mm256_and_ps(_mm256_permutevar8x32_ps(d, i23), rgb), v1);
            v2 = _mm256_add_ps(_mm256_and_ps(_mm256_permutevar8x32_ps(d, i45), rgb), v2);
            v3 = _mm256_add_ps(_mm256_and_ps(_mm256_permutevar8x32_ps(d, i67), rgb), v3);
        }
        _mm256_storeu_si256((__m256i *)(o + 4 * x), bytes32(v0, v1, v2, v3));
    }
    if (x == width) return straight ? 0 : (_mm256_movemask_ps(acc) & 0x88) != 0;
    /* the last pixels (fewer than 8) one by one */
    const size_t rest = width - x;
    float fixed[4 * 8];
    if (dv) dv += x;
    if (straight) {
        straighten(fixed, s + 4 * x, rest);
        row_bytes_from(o + 4 * x, fixed, dv, 0, rest);
        return 0;
    }
    row_bytes_from(o + 4 * x, s + 4 * x, dv, 0, rest);
    return (_mm256_movemask_ps(acc) & 0x88) != 0 || has_partial_alpha(s + 4 * x, rest);
}
#endif

/* The bytes of a row; returns whether any pixel's alpha was neither 0 nor 1
 * (then the row must be straightened and made again). */
static int row_bytes(const ba_display *d, uint8_t *o, const float *s, const float *dv)
{
#if BA_DISPLAY_AVX2
    if (d->avx2) return row_bytes_avx2(o, s, dv, d->width, 0);
#endif
    if (has_partial_alpha(s, d->width)) return 1;
    row_bytes_from(o, s, dv, 0, d->width);
    return 0;
}

int ba_display_rows(const ba_display *d, uint8_t *dst, const float *src, size_t first_row,
                    size_t rows)
{
    if (!d || ((!dst || !src) && rows && d->width)) return BA_EINVAL;
    if (first_row > d->height || rows > d->height - first_row) return BA_EINVAL;
    float *fixed = NULL; /* a row with partial alpha, straightened */
    int err = BA_OK, straight = 0;
    for (size_t r = 0; r < rows && err == BA_OK; r++) {
        const size_t y = d->height - 1 - (first_row + r); /* Blender counts from the bottom */
        const float *s = src + 4 * r * d->width, *dv = dither_row(d, y);
        uint8_t *o = dst + 4 * r * d->width;
        /* after a row with partial alpha, the next is made straightened at once:
         * some views leave every alpha of 1 a little above (AgX in OpenColorIO
         * 2.4: 1.0000231), a transparent film's edges span rows */
        if (!straight) {
            if (!row_bytes(d, o, s, dv)) continue;
            straight = 1;
        }
#if BA_DISPLAY_AVX2
        if (d->avx2) {
            row_bytes_avx2(o, s, dv, d->width, 1);
            continue;
        }
#endif
        /* partial alpha: straightened, made again */
        if (!fixed && !(fixed = malloc(4 * d->width * sizeof *fixed))) {
            err = BA_ENOMEM;
            break;
        }
        straighten(fixed, s, d->width);
        row_bytes_from(o, fixed, dv, 0, d->width);
    }
    free(fixed);
    return err;
}
