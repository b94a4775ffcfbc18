/* png.c — PNG decoding to 8-bit RGBA through libpng, from memory. */
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "internal.h"

struct png_src {
    const uint8_t *data;
    size_t size;
    size_t pos;
    int nomem; /* libpng failed for lack of memory */
};

static void read_fn(png_structp png, png_bytep out, size_t len)
{
    struct png_src *s = png_get_io_ptr(png);
    if (len > s->size - s->pos) png_error(png, "unexpected end of data");
    memcpy(out, s->data + s->pos, len);
    s->pos += len;
}

static void error_fn(png_structp png, png_const_charp msg)
{
    struct png_src *s = png_get_error_ptr(png);
    if (s && msg && strstr(msg, "emory")) s->nomem = 1; /* "Out of memory" */
    png_longjmp(png, 1);
}

static void warning_fn(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* quiet: warnings are not failures */
}

/* Decode the header (and with dst, the pixels). Every libpng call sits
 * behind the setjmp; nothing here is modified between setjmp and longjmp
 * except through `s` and the png structs, so no volatile is needed. */
static int png_run(const void *data, size_t size, uint8_t *dst, size_t row_stride,
                   size_t dst_size, uint32_t *width, uint32_t *height)
{
    if (!data) return BA_EINVAL;
    if (size < 8 || png_sig_cmp((png_const_bytep)data, 0, 8) != 0) return BA_EFORMAT;

    struct png_src s = {data, size, 0, 0};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &s, error_fn, warning_fn);
    if (!png) return BA_ENOMEM;
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return BA_ENOMEM;
    }
    int err = BA_OK;
    if (setjmp(png_jmpbuf(png))) {
        err = s.nomem ? BA_ENOMEM : BA_EFORMAT;
        goto done;
    }
    png_set_read_fn(png, &s, read_fn);
    png_read_info(png, info);

    png_uint_32 w = png_get_image_width(png, info);
    png_uint_32 h = png_get_image_height(png, info);
    if (width) *width = w;
    if (height) *height = h;
    if (!dst) goto done;

    size_t row_bytes, need;
    if (ba_mul_overflow((size_t)w, 4, &row_bytes)) {
        err = BA_EOVERFLOW;
        goto done;
    }
    if (row_stride < row_bytes) {
        err = BA_EINVAL;
        goto done;
    }
    if (ba_image_span((size_t)h, row_stride, row_bytes, &need)) {
        err = BA_EOVERFLOW;
        goto done;
    }
    if (dst_size < need) {
        err = BA_EBUFSIZE;
        goto done;
    }

    /* everything to 8-bit RGBA: palette → RGB, grey < 8 bit → 8 bit,
     * tRNS → alpha, 16 → 8 bit (high byte), grey → RGB, opaque alpha */
    png_set_expand(png);
    png_set_strip_16(png);
    png_set_gray_to_rgb(png);
    png_set_add_alpha(png, 0xff, PNG_FILLER_AFTER);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != row_bytes || png_get_bit_depth(png, info) != 8 ||
        png_get_channels(png, info) != 4) {
        err = BA_EFORMAT; /* cannot happen for a valid PNG */
        goto done;
    }
    for (int p = 0; p < passes; ++p)
        for (png_uint_32 y = 0; y < h; ++y) png_read_row(png, dst + (size_t)y * row_stride, NULL);
    png_read_end(png, NULL); /* checks the rest, up to IEND */

done:
    png_destroy_read_struct(&png, &info, NULL);
    return err;
}

int ba_png_size(const void *data, size_t size, uint32_t *width, uint32_t *height)
{
    if (!width || !height) return BA_EINVAL;
    return png_run(data, size, NULL, 0, 0, width, height);
}

int ba_png_decode_rgba8(const void *data, size_t size, uint8_t *dst, size_t row_stride,
                        size_t dst_size)
{
    if (!dst) return BA_EINVAL;
    return png_run(data, size, dst, row_stride, dst_size, NULL, NULL);
}

int ba_png_decode_rgba8_fd(int fd, uint8_t *dst, size_t row_stride, size_t dst_size,
                           uint32_t *width, uint32_t *height)
{
    if (fd < 0 || !dst) return BA_EINVAL;
    uint8_t *buf;
    size_t size;
    int err = ba_internal_read_fd(fd, &buf, &size);
    if (err != BA_OK) return err;
    err = png_run(buf, size, dst, row_stride, dst_size, width, height);
    free(buf);
    return err;
}
