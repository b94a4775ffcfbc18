/* preview.c — `blendarray preview FILE -o sheet.png`: a contact sheet of one
 * frame's passes, written with ba_png_save(), atomically. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "elements.h"

#define GAP 4
#define MAX_COLS 4
static const uint8_t GAP_RGB[3] = {40, 40, 40};

static void preview_usage(FILE *f)
{
    fputs("usage: blendarray preview FILE.npz|FILE.npy -o SHEET.png [--frame N] [--force]\n"
          "                          [--no-labels] [--annotations]\n"
          "\n"
          "Write a contact sheet PNG: one tile per image array of frame N, in a grid of\n"
          "up to 4 columns with 4 px gaps, every tile at the size of the first, its pass\n"
          "name at its top-left corner (on tiles at least 20 px high and 16 px wide).\n"
          "\n"
          "options:\n"
          "  -o, --output PNG  the sheet to write (atomically: a temporary file, renamed)\n"
          "  --frame N         which frame of arrays with a leading frame axis (default 0);\n"
          "                    an array has one when it has 4 dims, or 3 dims and a last\n"
          "                    dim outside 1..4\n"
          "  --force           replace PNG if it exists (otherwise that is an error)\n"
          "  --no-labels       no pass names on the tiles\n"
          "  --annotations     draw the frame's labels (an .npz from render --coco or\n"
          "                    annotations=True: meta.json's \"annotations\") over its\n"
          "                    display tile (else rgba): each categorised instance's mask\n"
          "                    tinted and its box outlined, in a colour of its own\n"
          "  -h, --help        this text\n"
          "\n"
          "How arrays are shown:\n"
          "  float, 3-4 channels          colour (sRGB-encoded, alpha dropped)\n"
          "  float, name has \"normal\"     -1..1 mapped to 0..255 per channel\n"
          "  float, 1 channel (depth...)  viridis-like colour map from the 0.5th to the\n"
          "                               99.5th percentile of the values that are not\n"
          "                               background; background, NaN and Inf black.\n"
          "                               Background: values >= 65504 (depth where nothing\n"
          "                               was hit: 1e10 in Cycles and Workbench, 65504 in\n"
          "                               EEVEE of Blender 3.x), and the maximum when at\n"
          "                               least 1% of the pixels hold exactly it and it lies\n"
          "                               further above the next value than the others\n"
          "                               span (EEVEE Next's clip end)\n"
          "  integer, 1 channel (index)   a distinct colour per value, 0 black\n"
          "  uint8, 3-4 channels          as is (alpha dropped); 1 channel: grey\n"
          "Arrays that are not images (1-D, 5 channels, ...) are skipped with a note.\n"
          "\n"
          "example:\n"
          "  blendarray preview out/frames.npz -o sheet.png --frame 3 --force\n"
          "  blendarray render -f 1-3 --coco coco/ -o labels.npz && \\\n"
          "      blendarray preview labels.npz -o sheet.png --annotations\n",
          f);
}

/* ---------------------------------------------------------------------- */
/*  element access                                                         */
/* ---------------------------------------------------------------------- */


static double elem_float(const ba_npy_info *info, const uint8_t *p)
{
    uint64_t bits = load_bits(p, info->itemsize, info->descr[0] == '>');
    if (info->itemsize == 2) return half_to_double((uint16_t)bits);
    if (info->itemsize == 4) {
        uint32_t b = (uint32_t)bits;
        float f;
        memcpy(&f, &b, 4);
        return f;
    }
    double d;
    memcpy(&d, &bits, 8);
    return d;
}

static int64_t elem_int(const ba_npy_info *info, const uint8_t *p)
{
    size_t size = info->itemsize;
    uint64_t bits = load_bits(p, size, info->descr[0] == '>');
    if (info->descr[1] != 'i' || size == 8) return (int64_t)bits;
    uint64_t sign = (uint64_t)1 << (8 * size - 1);
    return (int64_t)(bits ^ sign) - (int64_t)sign;
}

/* ---------------------------------------------------------------------- */
/*  colours                                                                */
/* ---------------------------------------------------------------------- */

/* viridis at 0, 1/8, ..., 1 */
static const uint8_t VIRIDIS[9][3] = {
    {68, 1, 84},    {71, 44, 122},  {59, 81, 139},  {44, 113, 142}, {33, 144, 141},
    {39, 173, 129}, {92, 200, 99},  {170, 220, 50}, {253, 231, 37},
};

static void colormap(double t, uint8_t *rgb)
{
    if (!(t > 0)) t = 0;
    if (t > 1) t = 1;
    double pos = t * 8;
    int i = (int)pos;
    if (i > 7) i = 7;
    double f = pos - i;
    for (int c = 0; c < 3; ++c)
        rgb[c] = (uint8_t)lround(VIRIDIS[i][c] + (VIRIDIS[i + 1][c] - VIRIDIS[i][c]) * f);
}

/* a distinct, visible colour per index value; 0 is black */
static void index_colour(int64_t v, uint8_t *rgb)
{
    if (v == 0) {
        rgb[0] = rgb[1] = rgb[2] = 0;
        return;
    }
    uint64_t u = (uint64_t)v;
    uint32_t x = (uint32_t)(u ^ (u >> 32));
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    for (int c = 0; c < 3; ++c) rgb[c] = (uint8_t)(55 + ((x >> (8 * c)) & 0xff) * 200 / 255);
}

static uint8_t unit_to_u8(double v) /* -1..1 → 0..255 */
{
    if (!(v == v) || isinf(v)) return 0;
    double t = (v + 1) * 0.5 * 255.0;
    if (t < 0) t = 0;
    if (t > 255) t = 255;
    return (uint8_t)lround(t);
}

/* ---------------------------------------------------------------------- */
/*  labels: a 5x8 bitmap font of printable ASCII (row 8: descenders)       */
/* ---------------------------------------------------------------------- */

/* rows top to bottom, bit 4 the leftmost pixel; characters 32..126 */
static const uint8_t FONT[95][8] = {
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /*   */
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04, 0x00}, /* ! */
    {0x0a, 0x0a, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00}, /* " */
    {0x0a, 0x0a, 0x1f, 0x0a, 0x1f, 0x0a, 0x0a, 0x00}, /* # */
    {0x04, 0x0f, 0x14, 0x0e, 0x05, 0x1e, 0x04, 0x00}, /* $ */
    {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03, 0x00}, /* % */
    {0x0c, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0d, 0x00}, /* & */
    {0x04, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00}, /* quote */
    {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02, 0x00}, /* ( */
    {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08, 0x00}, /* ) */
    {0x00, 0x04, 0x15, 0x0e, 0x15, 0x04, 0x00, 0x00}, /* * */
    {0x00, 0x04, 0x04, 0x1f, 0x04, 0x04, 0x00, 0x00}, /* + */
    {0x00, 0x00, 0x00, 0x00, 0x06, 0x04, 0x08, 0x00}, /* , */
    {0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x00}, /* - */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c, 0x00}, /* . */
    {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00, 0x00}, /* / */
    {0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e, 0x00}, /* 0 */
    {0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e, 0x00}, /* 1 */
    {0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f, 0x00}, /* 2 */
    {0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e, 0x00}, /* 3 */
    {0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02, 0x00}, /* 4 */
    {0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e, 0x00}, /* 5 */
    {0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e, 0x00}, /* 6 */
    {0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08, 0x00}, /* 7 */
    {0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e, 0x00}, /* 8 */
    {0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c, 0x00}, /* 9 */
    {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00, 0x00}, /* : */
    {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x04, 0x08, 0x00}, /* ; */
    {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02, 0x00}, /* < */
    {0x00, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x00, 0x00}, /* = */
    {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08, 0x00}, /* > */
    {0x0e, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04, 0x00}, /* ? */
    {0x0e, 0x11, 0x01, 0x0d, 0x15, 0x15, 0x0e, 0x00}, /* @ */
    {0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11, 0x00}, /* A */
    {0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e, 0x00}, /* B */
    {0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e, 0x00}, /* C */
    {0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c, 0x00}, /* D */
    {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f, 0x00}, /* E */
    {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10, 0x00}, /* F */
    {0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f, 0x00}, /* G */
    {0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11, 0x00}, /* H */
    {0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e, 0x00}, /* I */
    {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c, 0x00}, /* J */
    {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11, 0x00}, /* K */
    {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f, 0x00}, /* L */
    {0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11, 0x00}, /* M */
    {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x00}, /* N */
    {0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e, 0x00}, /* O */
    {0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10, 0x00}, /* P */
    {0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d, 0x00}, /* Q */
    {0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11, 0x00}, /* R */
    {0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e, 0x00}, /* S */
    {0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x00}, /* T */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e, 0x00}, /* U */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04, 0x00}, /* V */
    {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a, 0x00}, /* W */
    {0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11, 0x00}, /* X */
    {0x11, 0x11, 0x0a, 0x04, 0x04, 0x04, 0x04, 0x00}, /* Y */
    {0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f, 0x00}, /* Z */
    {0x0e, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0e, 0x00}, /* [ */
    {0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00, 0x00}, /* backslash */
    {0x0e, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0e, 0x00}, /* ] */
    {0x04, 0x0a, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00}, /* ^ */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f, 0x00}, /* _ */
    {0x08, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00}, /* ` */
    {0x00, 0x00, 0x0e, 0x01, 0x0f, 0x11, 0x0f, 0x00}, /* a */
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1e, 0x00}, /* b */
    {0x00, 0x00, 0x0e, 0x10, 0x10, 0x11, 0x0e, 0x00}, /* c */
    {0x01, 0x01, 0x0d, 0x13, 0x11, 0x11, 0x0f, 0x00}, /* d */
    {0x00, 0x00, 0x0e, 0x11, 0x1f, 0x10, 0x0e, 0x00}, /* e */
    {0x06, 0x09, 0x08, 0x1c, 0x08, 0x08, 0x08, 0x00}, /* f */
    {0x00, 0x00, 0x0f, 0x11, 0x11, 0x0f, 0x01, 0x0e}, /* g */
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11, 0x00}, /* h */
    {0x04, 0x00, 0x0c, 0x04, 0x04, 0x04, 0x0e, 0x00}, /* i */
    {0x02, 0x00, 0x06, 0x02, 0x02, 0x02, 0x12, 0x0c}, /* j */
    {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12, 0x00}, /* k */
    {0x0c, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e, 0x00}, /* l */
    {0x00, 0x00, 0x1a, 0x15, 0x15, 0x11, 0x11, 0x00}, /* m */
    {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11, 0x00}, /* n */
    {0x00, 0x00, 0x0e, 0x11, 0x11, 0x11, 0x0e, 0x00}, /* o */
    {0x00, 0x00, 0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10}, /* p */
    {0x00, 0x00, 0x0f, 0x11, 0x11, 0x0f, 0x01, 0x01}, /* q */
    {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10, 0x00}, /* r */
    {0x00, 0x00, 0x0e, 0x10, 0x0e, 0x01, 0x1e, 0x00}, /* s */
    {0x08, 0x08, 0x1c, 0x08, 0x08, 0x09, 0x06, 0x00}, /* t */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0d, 0x00}, /* u */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x0a, 0x04, 0x00}, /* v */
    {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0a, 0x00}, /* w */
    {0x00, 0x00, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x00}, /* x */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x0f, 0x01, 0x0e}, /* y */
    {0x00, 0x00, 0x1f, 0x02, 0x04, 0x08, 0x1f, 0x00}, /* z */
    {0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02, 0x00}, /* { */
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x00}, /* | */
    {0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08, 0x00}, /* } */
    {0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00, 0x00}, /* ~ */
};

#define GLYPH_W 5
#define GLYPH_H 8
#define LABEL_PAD 1   /* box around the text, in font pixels */
#define LABEL_MIN_W 16
#define LABEL_MIN_H 20

/* `text` at (x0, y0) of an RGB image (stride bytes a row), white on a box that
 * halves what is under it, each font pixel `scale` x `scale`, cut at w x h
 * (the tile): whole characters only. A character outside 32..126 shows as '?'. */
static void draw_label(uint8_t *img, size_t stride, size_t x0, size_t y0, size_t w, size_t h,
                       const char *text, size_t scale)
{
    size_t cell = (GLYPH_W + 1) * scale, box_h = (GLYPH_H + 2 * LABEL_PAD) * scale;
    size_t pad = LABEL_PAD * scale, n = strlen(text);
    if (box_h > h || w < pad + cell) return;
    size_t fit = (w - pad) / cell;
    if (n > fit) n = fit;
    if (n == 0) return;
    size_t box_w = pad + n * cell;
    for (size_t y = 0; y < box_h; ++y)
        for (size_t x = 0; x < box_w; ++x) {
            uint8_t *p = img + (y0 + y) * stride + (x0 + x) * 3;
            p[0] /= 2;
            p[1] /= 2;
            p[2] /= 2;
        }
    for (size_t i = 0; i < n; ++i) {
        unsigned char c = (unsigned char)text[i];
        const uint8_t *glyph = FONT[(c >= 32 && c <= 126 ? c : '?') - 32];
        for (size_t gy = 0; gy < GLYPH_H; ++gy)
            for (size_t gx = 0; gx < GLYPH_W; ++gx) {
                if (!(glyph[gy] & (0x10 >> gx))) continue;
                for (size_t sy = 0; sy < scale; ++sy)
                    for (size_t sx = 0; sx < scale; ++sx) {
                        size_t x = x0 + pad + i * cell + gx * scale + sx;
                        size_t y = y0 + pad + gy * scale + sy;
                        memset(img + y * stride + x * 3, 255, 3);
                    }
            }
    }
}

/* ---------------------------------------------------------------------- */
/*  tiles                                                                  */
/* ---------------------------------------------------------------------- */

typedef struct tile {
    size_t w, h;
    uint8_t *rgb; /* w * h * 3 */
    char name[128];
} tile;

typedef struct sheet {
    tile *tiles;
    size_t count, cap;
} sheet;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The nearest-rank percentile p (0..1) of n sorted values. */
static double percentile(const double *sorted, size_t n, double p)
{
    size_t k = (size_t)ceil(p * (double)n);
    if (k < 1) k = 1;
    if (k > n) k = n;
    return sorted[k - 1];
}

#define BG_MIN 65504.0 /* float16's largest: at and above it, background */

/* The colour map's range for a one-channel float image, and `bg`: values at
 * or above it are background (see the help text for the rule). lo..hi are the
 * 0.5th..99.5th percentiles of the rest. Returns 0, or 1 when out of memory. */
static int scale_range(const ba_npy_info *info, const uint8_t *px, size_t pstride, size_t npix,
                       double *lo, double *hi, double *bg)
{
    *lo = *hi = 0;
    *bg = BG_MIN;
    double *v = malloc((npix ? npix : 1) * sizeof *v); /* npix * 8 <= 2 * nbytes: no overflow */
    if (!v) return 1;
    size_t n = 0;
    for (size_t i = 0; i < npix; ++i) {
        double x = elem_float(info, px + i * pstride);
        if (isfinite(x) && x < BG_MIN) v[n++] = x;
    }
    if (n == 0) {
        free(v);
        return 0;
    }
    qsort(v, n, sizeof *v, cmp_double);
    /* a plateau at the maximum, far above the rest: EEVEE Next's clip end */
    size_t top = n;
    while (top > 0 && v[top - 1] == v[n - 1]) --top;
    size_t held = n - top;
    if (top > 0 && held >= 2 && held * 100 >= n &&
        v[n - 1] - v[top - 1] > v[top - 1] - v[0]) {
        *bg = v[n - 1];
        n = top;
    }
    *lo = percentile(v, n, 0.005);
    *hi = percentile(v, n, 0.995);
    free(v);
    return 0;
}

/* Convert one image (h, w, c) at `px` to RGB8. Returns 0, or 1 after a
 * message. */
static int make_tile(const char *what, const char *name, const ba_npy_info *info,
                     const uint8_t *px, size_t h, size_t w, size_t c, tile *t)
{
    size_t npix, bytes;
    if (__builtin_mul_overflow(h, w, &npix) || __builtin_mul_overflow(npix, (size_t)3, &bytes))
        return cli_fail("%s: '%s': image too large", what, name);
    uint8_t *rgb = malloc(bytes ? bytes : 1);
    if (!rgb) return cli_fail("%s: '%s': out of memory", what, name);
    size_t isz = info->itemsize;
    size_t pstride = c * isz; /* cannot overflow: part of nbytes */
    char kind = info->descr[1];

    if (kind == 'f') {
        int is_normal = strcasestr(name, "normal") != NULL;
        if (c == 1) {
            double lo, hi, bg;
            if (scale_range(info, px, pstride, npix, &lo, &hi, &bg)) {
                free(rgb);
                return cli_fail("%s: '%s': out of memory", what, name);
            }
            for (size_t i = 0; i < npix; ++i) {
                double v = elem_float(info, px + i * pstride);
                if (!isfinite(v) || v >= bg) {
                    rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = 0;
                } else {
                    colormap(hi > lo ? (v - lo) / (hi - lo) : 0, rgb + 3 * i);
                }
            }
        } else if (is_normal && c >= 3) {
            for (size_t i = 0; i < npix; ++i)
                for (size_t k = 0; k < 3; ++k)
                    rgb[3 * i + k] = unit_to_u8(elem_float(info, px + i * pstride + k * isz));
        } else {
            for (size_t i = 0; i < npix; ++i) {
                float f[4] = {0, 0, 0, 1};
                for (size_t k = 0; k < c; ++k) {
                    double v = elem_float(info, px + i * pstride + k * isz);
                    f[k] = isnan(v) ? 0.0f : (float)v;
                }
                uint8_t out[4];
                ba_linear_to_srgb8(out, f, 1, (int)c);
                rgb[3 * i] = out[0];
                rgb[3 * i + 1] = out[1];
                rgb[3 * i + 2] = c >= 3 ? out[2] : 0;
            }
        }
    } else if (kind == 'u' && isz == 1) {
        for (size_t i = 0; i < npix; ++i) {
            const uint8_t *p = px + i * pstride;
            rgb[3 * i] = p[0];
            rgb[3 * i + 1] = c >= 3 ? p[1] : p[0];
            rgb[3 * i + 2] = c >= 3 ? p[2] : p[0];
        }
    } else if (kind == 'b') {
        for (size_t i = 0; i < npix; ++i)
            rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = px[i * pstride] ? 255 : 0;
    } else if (kind == 'u' && isz == 2 && c >= 3) { /* 16-bit colour */
        for (size_t i = 0; i < npix; ++i)
            for (size_t k = 0; k < 3; ++k)
                rgb[3 * i + k] = (uint8_t)(elem_int(info, px + i * pstride + k * isz) >> 8);
    } else { /* integer index passes (the first channel) */
        for (size_t i = 0; i < npix; ++i) index_colour(elem_int(info, px + i * pstride), rgb + 3 * i);
    }
    t->w = w;
    t->h = h;
    t->rgb = rgb;
    snprintf(t->name, sizeof t->name, "%s", name);
    return 0;
}

/* One array: pick frame `frame` if it has a frame axis, make its tile (or
 * skip it with a note). Returns 0 or 1 after a message. */
static int add_array(sheet *sh, const char *what, const char *name, const ba_npy_info *info,
                     const uint8_t *data, uint64_t frame, int frame_given)
{
    int nd = info->ndim;
    int framed = nd == 4 || (nd == 3 && !(info->shape[2] >= 1 && info->shape[2] <= 4));
    int a = framed ? 1 : 0;
    int img = nd - a;
    if (info->descr[1] == 'c' || img < 2 || img > 3 || (img == 3 && info->shape[a + 2] > 4) ||
        (img == 3 && info->shape[a + 2] == 0)) {
        fprintf(stderr, "blendarray: note: %s: skipping '%s': not an image\n", what, name);
        return 0;
    }
    if (info->fortran_order && nd > 1) {
        fprintf(stderr, "blendarray: note: %s: skipping '%s': Fortran-order array\n", what, name);
        return 0;
    }
    uint64_t h = info->shape[a], w = info->shape[a + 1], c = img == 3 ? info->shape[a + 2] : 1;
    if (h == 0 || w == 0) {
        fprintf(stderr, "blendarray: note: %s: skipping '%s': empty\n", what, name);
        return 0;
    }
    const uint8_t *px = data;
    if (framed) {
        if (frame >= info->shape[0])
            return cli_fail("%s: '%s' has %llu frame%s, no frame %llu", what, name,
                            (unsigned long long)info->shape[0], info->shape[0] == 1 ? "" : "s",
                            (unsigned long long)frame);
        px += (size_t)(info->nbytes / info->shape[0]) * (size_t)frame; /* within nbytes */
    } else if (frame_given && frame > 0) {
        fprintf(stderr, "blendarray: note: %s: '%s' has no frame axis; shown as is\n", what, name);
    }
    if (h > SIZE_MAX || w > SIZE_MAX) return cli_fail("%s: '%s': image too large", what, name);
    if (sh->count == sh->cap) {
        size_t cap = sh->cap ? sh->cap * 2 : 8;
        tile *nt = realloc(sh->tiles, cap * sizeof *nt);
        if (!nt) return cli_fail("%s: out of memory", what);
        sh->tiles = nt;
        sh->cap = cap;
    }
    if (make_tile(what, name, info, px, (size_t)h, (size_t)w, (size_t)c, &sh->tiles[sh->count]))
        return 1;
    sh->count++;
    return 0;
}

static int load_npy(sheet *sh, const char *path, uint64_t frame, int frame_given)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return cli_fail("%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size <= 0) {
        int e = errno;
        close(fd);
        return st.st_size == 0 ? cli_fail("%s: not a valid .npy file (empty)", path)
                               : cli_fail("%s: %s", path, strerror(e));
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED) return cli_fail("%s: cannot map the file: %s", path, strerror(e));
    ba_npy_info info;
    int rc = ba_npy_parse_header(map, (size_t)st.st_size, &info);
    int status;
    if (rc != BA_OK) {
        status = cli_fail("%s: not a valid .npy file (%s)", path,
                          rc == BA_EBUFSIZE ? "truncated header" : ba_strerror(rc));
    } else if (info.data_offset + info.nbytes != (uint64_t)st.st_size) {
        status = cli_fail("%s: corrupt .npy file: its size does not match its header", path);
    } else {
        char name[256];
        const char *slash = strrchr(path, '/');
        snprintf(name, sizeof name, "%s", slash ? slash + 1 : path);
        size_t len = strlen(name);
        if (len > 4 && strcmp(name + len - 4, ".npy") == 0) name[len - 4] = '\0';
        status = add_array(sh, path, name, &info, (const uint8_t *)map + info.data_offset, frame,
                           frame_given);
    }
    munmap(map, (size_t)st.st_size);
    return status;
}

static int load_npz(sheet *sh, const char *path, uint64_t frame, int frame_given)
{
    ba_npz_reader *rd = NULL;
    int rc = ba_npz_read_open(&rd, path);
    if (rc == BA_EIO) return cli_fail("%s: %s", path, strerror(errno));
    if (rc != BA_OK) return cli_fail("%s: not a valid .npz file (%s)", path, ba_strerror(rc));
    int status = 0;
    for (int i = 0; i < ba_npz_count(rd) && status == 0; ++i) {
        if (ba_npz_is_array(rd, i) == 0) continue; /* meta.json: not an image */
        ba_npy_info info;
        void *data = NULL;
        rc = ba_npz_read(rd, i, &info, &data);
        if (rc != BA_OK) {
            status = cli_fail("%s: member '%s': %s", path, ba_npz_name(rd, i),
                              rc == BA_EFORMAT ? "not a valid .npy member (invalid or corrupt)"
                                               : ba_strerror(rc));
            break;
        }
        status = add_array(sh, path, ba_npz_name(rd, i), &info, data, frame, frame_given);
        ba_free(data);
    }
    ba_npz_read_close(rd);
    return status;
}

/* ---------------------------------------------------------------------- */
/*  --annotations: masks and boxes over the display (or rgba) tile         */
/* ---------------------------------------------------------------------- */

/* Tint each categorised instance's mask and outline its box on tile t (RGB).
 * `frame`: the frame's metadata object. Returns 0 or 1 after a message. */
static int overlay_instances(const char *what, tile *t, const json_t *frame)
{
    const json_t *insts = json_object_get(json_object_get(frame, "annotations"), "instances");
    if (!json_is_array(insts))
        return cli_fail("%s: --annotations: this frame's metadata has no \"annotations\" "
                        "(render with --coco, or annotations=True)", what);
    size_t npix = t->w * t->h, i;
    uint8_t *mask = malloc(npix ? npix : 1);
    if (!mask) return cli_fail("%s: out of memory", what);
    json_t *inst;
    for (int pass = 0; pass < 2; ++pass) /* masks first, boxes on top */
        json_array_foreach(insts, i, inst) {
            json_t *id = json_object_get(inst, "id"), *seg = json_object_get(inst, "segmentation");
            json_t *size = json_object_get(seg, "size"), *box = json_object_get(inst, "bbox");
            const char *rle = json_string_value(json_object_get(seg, "counts"));
            if (!json_is_integer(id) || !rle || json_array_size(size) != 2 ||
                json_array_size(box) != 4) {
                free(mask);
                return cli_fail("%s: --annotations: instance %zu is malformed", what, i);
            }
            if ((size_t)json_integer_value(json_array_get(size, 0)) != t->h ||
                (size_t)json_integer_value(json_array_get(size, 1)) != t->w) {
                free(mask);
                return cli_fail("%s: --annotations: instance %zu's mask is not %zux%zu, the "
                                "size of '%s'", what, i, t->w, t->h, t->name);
            }
            /* No category (null: a floor, a wall): not labelled, as COCO export leaves
             * it out; tinting it would colour most of a typical image. */
            if (!json_is_integer(json_object_get(inst, "category_id"))) continue;
            uint8_t rgb[3];
            index_colour(json_integer_value(id), rgb);
            if (pass == 0) {
                memset(mask, 0, npix);
                int err = ba_rle_decode_string(rle, strlen(rle), t->h, t->w, mask, t->w, 1);
                if (err) {
                    free(mask);
                    return cli_fail("%s: --annotations: instance %zu's mask: %s", what, i,
                                    ba_strerror(err));
                }
                for (size_t p = 0; p < npix; ++p)
                    if (mask[p])
                        for (int c = 0; c < 3; ++c)
                            t->rgb[3 * p + c] = (uint8_t)((t->rgb[3 * p + c] + rgb[c] + 1) / 2);
                continue;
            }
            /* the box [x, y, w, h], whole pixels: its outermost rows and columns */
            double b[4];
            for (int k = 0; k < 4; ++k) {
                b[k] = json_number_value(json_array_get(box, (size_t)k));
                if (!(b[k] >= 0) || b[k] > 1e9) b[k] = 0;
            }
            size_t x0 = (size_t)b[0], y0 = (size_t)b[1];
            size_t x1 = x0 + (size_t)b[2], y1 = y0 + (size_t)b[3]; /* exclusive */
            if (x1 > t->w) x1 = t->w;
            if (y1 > t->h) y1 = t->h;
            if (x0 >= x1 || y0 >= y1) continue;
            for (size_t y = y0; y < y1; ++y)
                for (size_t x = x0; x < x1; ++x)
                    if (y == y0 || y == y1 - 1 || x == x0 || x == x1 - 1)
                        memcpy(t->rgb + 3 * (y * t->w + x), rgb, 3);
        }
    free(mask);
    return 0;
}

/* The frame's metadata from the .npz's meta.json (a list, one object per
 * frame), and its display (else rgba) tile: the overlay. */
static int add_annotations(sheet *sh, const char *path, uint64_t frame)
{
    char *text = NULL;
    size_t len = 0;
    int err = cli_npz_member(path, "meta.json", &text, &len);
    if (err == BA_ENOCHANNEL || err == BA_EIO)
        return cli_fail("%s: --annotations needs an .npz with a meta.json (blendarray render's)",
                        path);
    if (err) return cli_fail("%s: meta.json: %s", path, ba_strerror(err));
    json_error_t jerr;
    json_t *meta = json_loadb(text, len, 0, &jerr);
    ba_free(text);
    int status;
    json_t *fr = json_array_get(meta, (size_t)frame);
    tile *t = NULL;
    for (size_t k = 0; k < sh->count && !t; ++k)
        if (strcmp(sh->tiles[k].name, "display") == 0) t = &sh->tiles[k];
    for (size_t k = 0; k < sh->count && !t; ++k)
        if (strcmp(sh->tiles[k].name, "rgba") == 0) t = &sh->tiles[k];
    if (!json_is_array(meta))
        status = cli_fail("%s: meta.json is not a JSON list (%s)", path,
                          meta ? "another value" : jerr.text);
    else if (!json_is_object(fr))
        status = cli_fail("%s: meta.json has no frame %llu", path, (unsigned long long)frame);
    else if (!t)
        status = cli_fail("%s: --annotations draws over a 'display' or 'rgba' array; there is none",
                          path);
    else
        status = overlay_instances(path, t, fr);
    json_decref(meta);
    return status;
}

/* ---------------------------------------------------------------------- */
/*  the sheet                                                              */
/* ---------------------------------------------------------------------- */

static int compose(const sheet *sh, uint8_t **out, size_t *ow, size_t *oh, const char *out_path,
                   int labels)
{
    size_t tw = sh->tiles[0].w, th = sh->tiles[0].h;
    size_t cols = sh->count < MAX_COLS ? sh->count : MAX_COLS;
    size_t rows = (sh->count + cols - 1) / cols;
    size_t w, h, stride, bytes;
    if (__builtin_mul_overflow(cols, tw, &w) || __builtin_add_overflow(w, (cols - 1) * GAP, &w) ||
        __builtin_mul_overflow(rows, th, &h) || __builtin_add_overflow(h, (rows - 1) * GAP, &h) ||
        __builtin_mul_overflow(w, (size_t)3, &stride) || __builtin_mul_overflow(stride, h, &bytes) ||
        w > 0x7fffffff || h > 0x7fffffff)
        return cli_fail("%s: the sheet would be too large (%zu tiles of %zux%zu)", out_path,
                        sh->count, tw, th);
    uint8_t *img = malloc(bytes);
    if (!img) return cli_fail("%s: out of memory for a %zux%zu sheet", out_path, w, h);
    for (size_t i = 0; i < w * h; ++i) memcpy(img + 3 * i, GAP_RGB, 3);
    for (size_t k = 0; k < sh->count; ++k) {
        const tile *t = &sh->tiles[k];
        size_t x0 = (k % cols) * (tw + GAP), y0 = (k / cols) * (th + GAP);
        for (size_t y = 0; y < th; ++y) {
            /* nearest neighbour when a tile's size differs from the first's */
            size_t sy = t->h == th ? y : (size_t)((unsigned __int128)y * t->h / th);
            uint8_t *dst = img + (y0 + y) * stride + x0 * 3;
            const uint8_t *src = t->rgb + sy * t->w * 3;
            if (t->w == tw) {
                memcpy(dst, src, tw * 3);
            } else {
                for (size_t x = 0; x < tw; ++x) {
                    size_t sx = (size_t)((unsigned __int128)x * t->w / tw);
                    memcpy(dst + 3 * x, src + 3 * sx, 3);
                }
            }
        }
        /* the label: font pixels 1x up to 239 px high tiles, 2x from 240, ... */
        if (labels && th >= LABEL_MIN_H && tw >= LABEL_MIN_W)
            draw_label(img, stride, x0, y0, tw, th, t->name, th / 240 + 1);
    }
    *out = img;
    *ow = w;
    *oh = h;
    return 0;
}

/* The sheet, written atomically (a temporary file, then renamed into place)
 * by the library's PNG writer: all of it, or nothing and the old file kept. */
static int write_sheet(const char *out_path, const uint8_t *img, size_t w, size_t h, int force)
{
    errno = 0;
    int err = ba_png_save(out_path, img, (uint32_t)w, (uint32_t)h, w * 3, 3, -1, force);
    if (err == BA_EEXIST) return cli_fail("%s: exists (use --force to replace it)", out_path);
    if (err == BA_EIO && errno)
        return cli_fail("%s: cannot write the PNG: %s", out_path, strerror(errno));
    if (err) return cli_fail("%s: cannot write the PNG: %s", out_path, ba_strerror(err));
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s) return -1;
    uint64_t v = 0;
    for (const char *p = s; *p; ++p) {
        if (*p < '0' || *p > '9') return -1;
        if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10) return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = v;
    return 0;
}

int cmd_preview(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    uint64_t frame = 0;
    int frame_given = 0, force = 0, labels = 1, annotations = 0;
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            preview_usage(stdout);
            return 0;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            if (++i >= argc) {
                cli_fail("preview: %s needs a file name", a);
                return 2;
            }
            out = argv[i];
        } else if (strncmp(a, "--output=", 9) == 0) {
            out = a + 9;
        } else if (strcmp(a, "--frame") == 0 || strncmp(a, "--frame=", 8) == 0) {
            const char *v = a[7] == '=' ? a + 8 : (++i < argc ? argv[i] : NULL);
            if (parse_u64(v, &frame) != 0) {
                cli_fail("preview: --frame needs a non-negative integer");
                return 2;
            }
            frame_given = 1;
        } else if (strcmp(a, "--force") == 0) {
            force = 1;
        } else if (strcmp(a, "--no-labels") == 0) {
            labels = 0;
        } else if (strcmp(a, "--annotations") == 0) {
            annotations = 1;
        } else if (a[0] == '-' && a[1]) {
            cli_fail("preview: unknown option '%s' (see blendarray preview --help)", a);
            return 2;
        } else if (!in) {
            in = a;
        } else {
            cli_fail("preview: one input file only ('%s' and '%s')", in, a);
            return 2;
        }
    }
    if (!in || !out || !*out) {
        preview_usage(stderr);
        return 2;
    }
    struct stat st;
    if (!force && lstat(out, &st) == 0)
        return cli_fail("%s: exists (use --force to replace it)", out);

    int fd = open(in, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return cli_fail("%s: %s", in, strerror(errno));
    unsigned char magic[6] = {0};
    ssize_t got = pread(fd, magic, sizeof magic, 0);
    int e = errno;
    int isdir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
    close(fd);
    if (isdir) return cli_fail("%s: is a directory", in);
    if (got < 0) return cli_fail("%s: %s", in, strerror(e));

    sheet sh = {NULL, 0, 0};
    int status;
    if (got == 6 && memcmp(magic, "\x93NUMPY", 6) == 0)
        status = load_npy(&sh, in, frame, frame_given);
    else if (got >= 4 && memcmp(magic, "PK", 2) == 0)
        status = load_npz(&sh, in, frame, frame_given);
    else
        status = cli_fail("%s: not an .npy or .npz file", in);

    if (status == 0 && sh.count == 0) status = cli_fail("%s: no image arrays to show", in);
    if (status == 0 && annotations) {
        if (memcmp(magic, "PK", 2) != 0)
            status = cli_fail("%s: --annotations needs an .npz with a meta.json (blendarray "
                              "render's), not an .npy", in);
        else
            status = add_annotations(&sh, in, frame);
    }
    uint8_t *img = NULL;
    size_t w = 0, h = 0;
    if (status == 0) status = compose(&sh, &img, &w, &h, out, labels);
    if (status == 0) status = write_sheet(out, img, w, h, force);
    free(img);
    for (size_t i = 0; i < sh.count; ++i) free(sh.tiles[i].rgb);
    free(sh.tiles);
    return status;
}
