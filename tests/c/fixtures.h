/* fixtures.h — test inputs made in-process: EXR files written with
 * OpenEXRCore's encoder, PNG files written with libpng, temp directories,
 * and the known pixel patterns the readers are checked against. */
#ifndef BA_TEST_FIXTURES_H
#define BA_TEST_FIXTURES_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openexr.h>
#include <png.h>

/* ---------------------------------------------------------------------- */
/*  files and directories                                                  */
/* ---------------------------------------------------------------------- */

/* A fresh directory under $TMPDIR (or /tmp); caller frees. */
static __attribute__((unused)) char *fx_tempdir(void)
{
    const char *base = getenv("TMPDIR");
    char buf[4096];
    snprintf(buf, sizeof buf, "%s/blendarray-test.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(buf)) return NULL;
    return strdup(buf);
}

static __attribute__((unused)) char *fx_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Remove a directory and the plain files in it. */
static __attribute__((unused)) int fx_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Remove dir and everything below it (links not followed). */
static __attribute__((unused)) void fx_rmdir(const char *dir)
{
    nftw(dir, fx_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Number of entries in dir other than . and .. */
static __attribute__((unused)) int fx_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *ent;
    while ((ent = readdir(d)))
        if (strcmp(ent->d_name, ".") && strcmp(ent->d_name, "..")) ++n;
    closedir(d);
    return n;
}

static __attribute__((unused)) uint8_t *fx_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    fclose(f);
    *size = n;
    return buf;
}

static __attribute__((unused)) int fx_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, size, f);
    return (fclose(f) == 0 && w == size) ? 0 : -1;
}

/* ---------------------------------------------------------------------- */
/*  EXR pattern                                                            */
/* ---------------------------------------------------------------------- */

static inline uint32_t fx_hash(uint32_t c, int32_t x, int32_t y)
{
    uint32_t h = c * 0x9E3779B1u ^ (uint32_t)x * 0x85EBCA77u ^ (uint32_t)y * 0xC2B2AE3Du;
    h ^= h >> 15;
    h *= 0x2C1B3C6Du;
    h ^= h >> 12;
    return h;
}

/* Raw stored value of channel number `c` (of the spec) at absolute pixel
 * (x, y): float bits, half bits, or the uint itself. */
static inline uint32_t fx_pattern(int c, exr_pixel_type_t type, int32_t x, int32_t y)
{
    uint32_t h = fx_hash((uint32_t)c + 1, x, y);
    switch (type) {
    case EXR_PIXEL_HALF: return h & 0xffffu;
    case EXR_PIXEL_FLOAT: return h;
    default: return h;
    }
}

/* Independent, exact half → float. */
static inline float fx_half_to_float(uint16_t h)
{
    int sign = h >> 15, exp = (h >> 10) & 31, man = h & 1023;
    float v;
    if (exp == 31)
        v = man ? NAN : INFINITY;
    else if (exp == 0)
        v = ldexpf((float)man, -24);
    else
        v = ldexpf((float)(man | 1024), exp - 25);
    return sign ? -v : v;
}

static inline float fx_bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint32_t fx_float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* What ba_exr_read must produce for a stored value. */
static inline float fx_expected(exr_pixel_type_t type, uint32_t raw)
{
    switch (type) {
    case EXR_PIXEL_HALF: return fx_half_to_float((uint16_t)raw);
    case EXR_PIXEL_FLOAT: return fx_bits_float(raw);
    default: return (float)raw;
    }
}

/* bitwise equal, or both NaN */
static inline int fx_same_float(float a, float b)
{
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return fx_float_bits(a) == fx_float_bits(b);
}

/* ---------------------------------------------------------------------- */
/*  EXR writer                                                             */
/* ---------------------------------------------------------------------- */

struct fx_chan {
    const char *name;
    exr_pixel_type_t type;
};

struct fx_exr {
    int32_t min_x, min_y, width, height;
    exr_compression_t compression;
    int nchan;
    const struct fx_chan *chans;
    exr_storage_t storage; /* non-scanline: header only, for rejection tests */
    int parts;             /* 0 or 1: one part; 2: two identical parts */
};

static __attribute__((unused)) void fx_quiet_exr(exr_const_context_t c, exr_result_t code, const char *msg)
{
    (void)c;
    if (getenv("FX_EXR_VERBOSE")) fprintf(stderr, "fx_write_exr: %d: %s\n", (int)code, msg);
}

static __attribute__((unused)) int fx_spec_index(const struct fx_exr *s, const char *name)
{
    for (int i = 0; i < s->nchan; ++i)
        if (!strcmp(s->chans[i].name, name)) return i;
    return -1;
}

/* Write the pattern; returns 0 or the failing OpenEXRCore code. */
static __attribute__((unused)) int fx_write_exr(const char *path, const struct fx_exr *s)
{
    exr_context_t ctx = NULL;
    exr_context_initializer_t init = EXR_DEFAULT_CONTEXT_INITIALIZER;
    init.error_handler_fn = fx_quiet_exr;
    exr_result_t rv = exr_start_write(&ctx, path, EXR_WRITE_FILE_DIRECTLY, &init);
    if (rv) return (int)rv;

    int nparts = s->parts > 1 ? s->parts : 1;
    exr_attr_box2i_t dw;
    dw.min.x = s->min_x;
    dw.min.y = s->min_y;
    dw.max.x = s->min_x + s->width - 1;
    dw.max.y = s->min_y + s->height - 1;
    exr_attr_v2f_t swc;
    swc.x = 0.f;
    swc.y = 0.f;
    int longnames = 0;
    for (int c = 0; c < s->nchan; ++c)
        if (strlen(s->chans[c].name) > 31) longnames = 1;
    if (longnames && (rv = exr_set_longname_support(ctx, 1))) goto fail;

    for (int p = 0; p < nparts; ++p) {
        int part = -1;
        char pname[16];
        snprintf(pname, sizeof pname, "part%d", p);
        if ((rv = exr_add_part(ctx, pname, s->storage, &part))) goto fail;
        if ((rv = exr_initialize_required_attr(ctx, part, &dw, &dw, 1.f, &swc, 1.f,
                                               EXR_LINEORDER_INCREASING_Y, s->compression)))
            goto fail;
        if (s->storage == EXR_STORAGE_TILED || s->storage == EXR_STORAGE_DEEP_TILED)
            if ((rv = exr_set_tile_descriptor(ctx, part, 16, 16, EXR_TILE_ONE_LEVEL,
                                              EXR_TILE_ROUND_DOWN)))
                goto fail;
        for (int c = 0; c < s->nchan; ++c)
            if ((rv = exr_add_channel(ctx, part, s->chans[c].name, s->chans[c].type,
                                      EXR_PERCEPTUALLY_LOGARITHMIC, 1, 1)))
                goto fail;
    }
    if ((rv = exr_write_header(ctx))) goto fail;

    if (s->storage == EXR_STORAGE_SCANLINE || s->storage == EXR_STORAGE_TILED) {
        /* planar source buffers in the native type of each channel */
        int tiled = s->storage == EXR_STORAGE_TILED;
        size_t npix = (size_t)s->width * (size_t)s->height;
        uint8_t **bufs = calloc((size_t)s->nchan, sizeof *bufs);
        for (int c = 0; c < s->nchan; ++c) {
            size_t bpe = s->chans[c].type == EXR_PIXEL_HALF ? 2 : 4;
            bufs[c] = malloc(npix * bpe);
            for (int32_t y = 0; y < s->height; ++y)
                for (int32_t x = 0; x < s->width; ++x) {
                    uint32_t v = fx_pattern(c, s->chans[c].type, s->min_x + x, s->min_y + y);
                    size_t i = (size_t)y * (size_t)s->width + (size_t)x;
                    if (bpe == 2) {
                        uint16_t h = (uint16_t)v;
                        memcpy(bufs[c] + i * 2, &h, 2);
                    } else {
                        memcpy(bufs[c] + i * 4, &v, 4);
                    }
                }
        }
        for (int part = 0; part < nparts && !rv; ++part) {
            int32_t lines = 1;
            if (!tiled) exr_get_scanlines_per_chunk(ctx, part, &lines);
            int32_t tiles_x = tiled ? (s->width + 15) / 16 : 1;
            int32_t nchunks = tiled ? tiles_x * ((s->height + 15) / 16)
                                    : (s->height + lines - 1) / lines;
            exr_encode_pipeline_t enc = EXR_ENCODE_PIPELINE_INITIALIZER;
            int have = 0;
            for (int32_t k = 0; k < nchunks; ++k) {
                exr_chunk_info_t ci;
                int32_t x0 = 0, y0;
                if (tiled) {
                    x0 = (k % tiles_x) * 16;
                    y0 = (k / tiles_x) * 16;
                    rv = exr_write_tile_chunk_info(ctx, part, k % tiles_x, k / tiles_x, 0, 0, &ci);
                } else {
                    y0 = k * lines;
                    rv = exr_write_scanline_chunk_info(ctx, part, s->min_y + y0, &ci);
                }
                if (rv) break;
                rv = have ? exr_encoding_update(ctx, part, &ci, &enc)
                          : exr_encoding_initialize(ctx, part, &ci, &enc);
                if (rv) break;
                for (int q = 0; q < enc.channel_count; ++q) {
                    exr_coding_channel_info_t *ch = &enc.channels[q];
                    int c = fx_spec_index(s, ch->channel_name);
                    size_t bpe = s->chans[c].type == EXR_PIXEL_HALF ? 2 : 4;
                    ch->encode_from_ptr =
                        bufs[c] + ((size_t)y0 * (size_t)s->width + (size_t)x0) * bpe;
                    ch->user_pixel_stride = (int32_t)bpe;
                    ch->user_line_stride = (int32_t)(bpe * (size_t)s->width);
                    ch->user_data_type = (uint16_t)s->chans[c].type;
                    ch->user_bytes_per_element = (int16_t)bpe;
                }
                if (!have) {
                    if ((rv = exr_encoding_choose_default_routines(ctx, part, &enc))) break;
                    have = 1;
                }
                if ((rv = exr_encoding_run(ctx, part, &enc))) break;
            }
            if (have) exr_encoding_destroy(ctx, &enc);
        }
        for (int c = 0; c < s->nchan; ++c) free(bufs[c]);
        free(bufs);
        if (rv) goto fail;
    }
    if (s->storage == EXR_STORAGE_DEEP_SCANLINE) { /* every pixel: no samples */
        int32_t *counts = calloc((size_t)s->width, sizeof *counts);
        for (int32_t y = 0; y < s->height && !rv; ++y)
            rv = exr_write_deep_scanline_chunk(ctx, 0, s->min_y + y, counts, 0, 0, counts,
                                               (uint64_t)s->width * sizeof *counts);
        free(counts);
        if (rv) goto fail;
    }
    return (int)exr_finish(&ctx);

fail:
    exr_finish(&ctx);
    return rv ? (int)rv : -1;
}

/* ---------------------------------------------------------------------- */
/*  PNG writer (into memory)                                               */
/* ---------------------------------------------------------------------- */

struct fx_membuf {
    uint8_t *data;
    size_t size, cap;
};

static __attribute__((unused)) void fx_png_write_cb(png_structp png, png_bytep data, size_t len)
{
    struct fx_membuf *m = png_get_io_ptr(png);
    if (m->size + len > m->cap) {
        size_t cap = m->cap ? m->cap : 1024;
        while (cap < m->size + len) cap *= 2;
        uint8_t *nd = realloc(m->data, cap);
        if (!nd) png_error(png, "oom");
        m->data = nd;
        m->cap = cap;
    }
    memcpy(m->data + m->size, data, len);
    m->size += len;
}

static __attribute__((unused)) void fx_png_flush_cb(png_structp png)
{
    (void)png;
}

struct fx_png {
    uint32_t width, height;
    int color_type; /* PNG_COLOR_TYPE_* */
    int bit_depth;
    int interlace;                 /* PNG_INTERLACE_NONE / ADAM7 */
    const png_color *palette;      /* palette images */
    int num_palette;
    const uint8_t *trns;           /* palette alpha, or NULL */
    int num_trns;
    const png_color_16 *trns_color; /* RGB / grey colour key, or NULL */
    const uint8_t *pixels;         /* packed rows as PNG stores them (big-endian 16-bit) */
    size_t row_bytes;
};

/* Encode into a malloc'd buffer; NULL on failure. */
static __attribute__((unused)) uint8_t *fx_write_png(const struct fx_png *p, size_t *size)
{
    struct fx_membuf m = {NULL, 0, 0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return NULL;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(m.data);
        return NULL;
    }
    png_set_write_fn(png, &m, fx_png_write_cb, fx_png_flush_cb);
    png_set_IHDR(png, info, p->width, p->height, p->bit_depth, p->color_type, p->interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (p->palette) png_set_PLTE(png, info, p->palette, p->num_palette);
    if (p->trns || p->trns_color)
        png_set_tRNS(png, info, p->trns, p->trns ? p->num_trns : 0, p->trns_color);
    png_write_info(png, info);
    int passes = png_set_interlace_handling(png);
    for (int pass = 0; pass < passes; ++pass)
        for (uint32_t y = 0; y < p->height; ++y)
            png_write_row(png, p->pixels + (size_t)y * p->row_bytes);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    *size = m.size;
    return m.data;
}

#endif
