/* pngwrite.c — 8-bit PNG writing through libpng into the atomic file
 * writer, or into memory: the one PNG encoder (contact sheets, the images of
 * a COCO set, the display members of a shard). */
#include <errno.h>  /* errno, kept across the cleanup */
#include <setjmp.h> /* libpng's error handling */
#include <stdlib.h> /* realloc */
#include <string.h> /* strstr, memcpy */

#include <png.h>

#include "internal.h"

/* What the callbacks report back. It lives in ba_png_save(), not in the
 * function that calls setjmp, so its changes survive the longjmp. */
struct png_dst {
    ba_file_writer *f; /* the file; NULL: into memory (buf) */
    uint8_t **buf;     /* memory: the caller's buffer, grown as needed */
    size_t *cap, len;
    int err;   /* the file writer's error, when a write failed */
    int nomem; /* libpng failed for lack of memory */
};

/* n more bytes at the end of the memory buffer: BA_OK, BA_ENOMEM, BA_EOVERFLOW */
static int mem_append(struct png_dst *d, const void *data, size_t n)
{
    size_t need;
    if (ba_add_overflow(d->len, n, &need)) return BA_EOVERFLOW;
    if (need > *d->cap) {
        size_t cap = *d->cap ? *d->cap : 4096;
        while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        uint8_t *b = realloc(*d->buf, cap);
        if (!b) return BA_ENOMEM;
        *d->buf = b;
        *d->cap = cap;
    }
    memcpy(*d->buf + d->len, data, n);
    d->len = need;
    return BA_OK;
}

static void write_fn(png_structp png, png_bytep data, size_t n)
{
    struct png_dst *d = png_get_io_ptr(png);
    int err = d->f ? ba_file_write(d->f, data, n) : mem_append(d, data, n);
    if (err != BA_OK) {
        d->err = err;
        png_error(png, "cannot write the file");
    }
}

static void flush_fn(png_structp png)
{
    (void)png; /* ba_file_finish() syncs */
}

static void error_fn(png_structp png, png_const_charp msg)
{
    struct png_dst *d = png_get_error_ptr(png);
    if (d && msg && strstr(msg, "emory")) d->nomem = 1; /* "Out of memory" */
    png_longjmp(png, 1);
}

static void warning_fn(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* quiet: warnings are not failures */
}

/* Encode into d->f. Every libpng call sits behind the setjmp; `png` and
 * `info` are set before it and not changed after, and everything the
 * callbacks change lives in the caller's `d`, so no volatile is needed. */
static int encode(struct png_dst *d, const uint8_t *pixels, uint32_t width, uint32_t height,
                  size_t row_stride, int color_type, int compression, int one_filter)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, d, error_fn, warning_fn);
    if (!png) return BA_ENOMEM;
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return BA_ENOMEM;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        /* arguments were checked: what is left is a write or memory */
        return d->err ? d->err : d->nomem ? BA_ENOMEM : BA_EINVAL;
    }
    png_set_write_fn(png, d, write_fn, flush_fn);
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX); /* the format's, not 1e6 */
    if (compression >= 0) png_set_compression_level(png, compression);
    /* the Sub filter on every row instead of libpng's per-row choice among the
     * five: about three times faster at level 1, for a slightly larger file */
    if (one_filter) png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB);
    png_set_IHDR(png, info, width, height, 8, color_type, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (uint32_t y = 0; y < height; ++y) png_write_row(png, pixels + (size_t)y * row_stride);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return BA_OK;
}

/* libpng's colour type of 1..4 channels */
static const int types[4] = {PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                             PNG_COLOR_TYPE_RGB_ALPHA};

int ba_png_save(const char *path, const uint8_t *pixels, uint32_t width, uint32_t height,
                size_t row_stride, int channels, int compression, int overwrite)
{
    if (!path || !pixels || channels < 1 || channels > 4 || compression < -1 || compression > 9)
        return BA_EINVAL;
    /* a PNG has 1 .. 2^31 - 1 rows and columns */
    if (width == 0 || height == 0 || width > PNG_UINT_31_MAX || height > PNG_UINT_31_MAX)
        return BA_EINVAL;
    size_t row_bytes, span;
    if (ba_mul_overflow((size_t)width, (size_t)channels, &row_bytes)) return BA_EOVERFLOW;
    if (row_stride < row_bytes) return BA_EINVAL;
    if (ba_image_span((size_t)height, row_stride, row_bytes, &span)) return BA_EOVERFLOW;

    ba_file_writer *f = NULL;
    int err = ba_file_open(&f, path, overwrite);
    if (err != BA_OK) return err;
    struct png_dst d = {f, NULL, NULL, 0, BA_OK, 0};
    err = encode(&d, pixels, width, height, row_stride, types[channels - 1], compression, 0);
    if (err != BA_OK) {
        int e = errno; /* a failed write's errno, for the caller */
        ba_file_abort(f);
        errno = e;
        return err;
    }
    return ba_file_finish(f);
}

int ba_internal_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height,
                           size_t row_stride, int channels, int compression, int fast,
                           uint8_t **buf, size_t *cap, size_t *len)
{
    if (!pixels || !buf || !cap || !len || channels < 1 || channels > 4 || compression < -1 ||
        compression > 9 || width == 0 || height == 0 || width > PNG_UINT_31_MAX ||
        height > PNG_UINT_31_MAX)
        return BA_EINVAL;
    *len = 0;
    size_t row_bytes, span;
    if (ba_mul_overflow((size_t)width, (size_t)channels, &row_bytes)) return BA_EOVERFLOW;
    if (row_stride < row_bytes) return BA_EINVAL;
    if (ba_image_span((size_t)height, row_stride, row_bytes, &span)) return BA_EOVERFLOW;
    struct png_dst d = {NULL, buf, cap, 0, BA_OK, 0};
    int err = encode(&d, pixels, width, height, row_stride, types[channels - 1], compression, fast);
    if (err == BA_OK) *len = d.len;
    return err;
}
