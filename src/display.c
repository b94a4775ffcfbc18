/* display.c — the display image's last steps, as Blender makes them: the alpha
 * handling around the view transform, its dither and its float → byte
 * rounding, block of rows by block of rows (the caller runs blocks on several
 * threads). The view transform itself is OpenColorIO's (the library of the
 * Blender that rendered), applied between ba_display_predivide() and
 * ba_display_rows(). */
#include <math.h>
#include <stdlib.h>

#include "internal.h"

int ba_display_predivide(float *dst, const float *src, size_t n)
{
    if ((!dst || !src) && n) return BA_EINVAL;
    for (size_t i = 0; i < n; i++) {
        const float *p = src + 4 * i;
        float *q = dst + 4 * i;
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
    *d = (ba_display){height, width, dither, noise, NULL};
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
 * Blender does. In place on a row; returns whether any pixel had such an
 * alpha (rare: only a transparent film's edges). */
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

static int has_partial_alpha(const float *src, size_t width)
{
    int any = 0;
    for (size_t x = 0; x < width; x++) any |= src[4 * x + 3] != 0.0f && src[4 * x + 3] != 1.0f;
    return any;
}

/* The bytes of a row: the dither (Blender adds it, then rounds) on colour, none
 * on alpha. Branch-free, so that it vectorizes. */
static void row_bytes(uint8_t *o, const float *s, const float *dv, size_t width)
{
    if (dv) {
        for (size_t x = 0; x < width; x++) {
            o[4 * x] = to_byte(dv[x] + s[4 * x]);
            o[4 * x + 1] = to_byte(dv[x] + s[4 * x + 1]);
            o[4 * x + 2] = to_byte(dv[x] + s[4 * x + 2]);
            o[4 * x + 3] = to_byte(s[4 * x + 3]);
        }
    } else {
        for (size_t i = 0; i < 4 * width; i++) o[i] = to_byte(s[i]);
    }
}

int ba_display_rows(const ba_display *d, uint8_t *dst, const float *src, size_t first_row,
                    size_t rows)
{
    if (!d || ((!dst || !src) && rows && d->width)) return BA_EINVAL;
    if (first_row > d->height || rows > d->height - first_row) return BA_EINVAL;
    float *fixed = NULL; /* a row with partial alpha, straightened */
    int err = BA_OK;
    for (size_t r = 0; r < rows && err == BA_OK; r++) {
        const size_t y = d->height - 1 - (first_row + r); /* Blender counts from the bottom */
        const float *s = src + 4 * r * d->width;
        if (has_partial_alpha(s, d->width)) {
            if (!fixed && !(fixed = malloc(4 * d->width * sizeof *fixed))) {
                err = BA_ENOMEM;
                break;
            }
            straighten(fixed, s, d->width);
            s = fixed;
        }
        row_bytes(dst + 4 * r * d->width, s, dither_row(d, y), d->width);
    }
    free(fixed);
    return err;
}
