/* test_png.c — PNGs of every colour type written here with libpng, decoded
 * to RGBA8 and compared value by value; malformed input fails cleanly.
 * ba_png_save: written, decoded back, compared; failures leave nothing. */
#include <signal.h>
#include <string.h>
#include <sys/resource.h>

#include "blendarray.h"
#include "check.h"
#include "fixtures.h"

static char *g_dir;

static const png_color k_palette[5] = {
    {0, 0, 0}, {255, 0, 0}, {12, 34, 56}, {200, 100, 50}, {255, 255, 255}};
static const uint8_t k_trns[3] = {0, 128, 255}; /* entries 3, 4: opaque */

/* A PNG and the RGBA8 it must decode to. */
struct sample {
    struct fx_png png;
    uint8_t *raw;      /* packed PNG rows */
    uint8_t *expected; /* width * height * 4 */
};

static void put_bits(uint8_t *row, size_t index, int depth, unsigned v)
{
    if (depth == 16) {
        row[index * 2] = (uint8_t)(v >> 8);
        row[index * 2 + 1] = (uint8_t)v;
    } else if (depth == 8) {
        row[index] = (uint8_t)v;
    } else {
        size_t bit = index * (size_t)depth;
        int shift = 8 - depth - (int)(bit % 8);
        row[bit / 8] |= (uint8_t)(v << shift);
    }
}

/* channels of the PNG colour type */
static int png_channels(int color_type)
{
    switch (color_type) {
    case PNG_COLOR_TYPE_GRAY: return 1;
    case PNG_COLOR_TYPE_GRAY_ALPHA: return 2;
    case PNG_COLOR_TYPE_RGB: return 3;
    case PNG_COLOR_TYPE_RGB_ALPHA: return 4;
    default: return 1; /* palette */
    }
}

static void make_sample(struct sample *s, uint32_t w, uint32_t h, int color_type, int depth,
                        int interlace, const png_color_16 *key)
{
    memset(s, 0, sizeof *s);
    int ch = png_channels(color_type);
    size_t row_bytes = ((size_t)w * (size_t)ch * (size_t)depth + 7) / 8;
    s->raw = calloc(h, row_bytes);
    s->expected = malloc((size_t)w * h * 4);
    uint64_t seed = 0x9876543210ull + (uint64_t)color_type * 131 + (uint64_t)depth;
    unsigned maxv = (1u << depth) - 1u;
    unsigned npal = depth >= 4 ? 5u : 1u << depth; /* palette entries usable */
    for (uint32_t y = 0; y < h; ++y)
        for (uint32_t x = 0; x < w; ++x) {
            unsigned v[4];
            for (int c = 0; c < ch; ++c) {
                v[c] = (unsigned)t_rand(&seed) & maxv;
                if (color_type == PNG_COLOR_TYPE_PALETTE) v[c] %= npal;
                put_bits(s->raw + y * row_bytes, (size_t)x * (size_t)ch + (size_t)c, depth, v[c]);
            }
            uint8_t *e = s->expected + ((size_t)y * w + x) * 4;
            /* to 8 bits: 16 → high byte; 1/2/4 → scaled to 0..255 */
            unsigned e8[4];
            for (int c = 0; c < ch; ++c)
                e8[c] = depth == 16 ? v[c] >> 8 : depth == 8 ? v[c] : v[c] * 255u / maxv;
            switch (color_type) {
            case PNG_COLOR_TYPE_GRAY:
                e[0] = e[1] = e[2] = (uint8_t)e8[0];
                e[3] = key && v[0] == key->gray ? 0 : 255;
                break;
            case PNG_COLOR_TYPE_GRAY_ALPHA:
                e[0] = e[1] = e[2] = (uint8_t)e8[0];
                e[3] = (uint8_t)e8[1];
                break;
            case PNG_COLOR_TYPE_RGB:
                e[0] = (uint8_t)e8[0];
                e[1] = (uint8_t)e8[1];
                e[2] = (uint8_t)e8[2];
                e[3] = key && v[0] == key->red && v[1] == key->green && v[2] == key->blue ? 0 : 255;
                break;
            case PNG_COLOR_TYPE_RGB_ALPHA:
                for (int c = 0; c < 4; ++c) e[c] = (uint8_t)e8[c];
                break;
            default: /* palette */
                e[0] = k_palette[v[0]].red;
                e[1] = k_palette[v[0]].green;
                e[2] = k_palette[v[0]].blue;
                e[3] = v[0] < 3 ? k_trns[v[0]] : 255;
            }
        }
    s->png.width = w;
    s->png.height = h;
    s->png.color_type = color_type;
    s->png.bit_depth = depth;
    s->png.interlace = interlace;
    s->png.pixels = s->raw;
    s->png.row_bytes = row_bytes;
    s->png.trns_color = key;
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        s->png.palette = k_palette;
        s->png.num_palette = (int)npal;
        s->png.trns = k_trns;
        s->png.num_trns = 3;
    }
}

static void free_sample(struct sample *s)
{
    free(s->raw);
    free(s->expected);
}

static void check_decode(const char *what, const struct sample *s)
{
    size_t size = 0;
    uint8_t *png = fx_write_png(&s->png, &size);
    if (!png) {
        T_REPORT("%s: could not write the PNG", what);
        return;
    }
    uint32_t w = 0, h = 0;
    CHECK_RC(ba_png_size(png, size, &w, &h), BA_OK);
    CHECK_INT(w, s->png.width);
    CHECK_INT(h, s->png.height);

    size_t stride = (size_t)w * 4 + 5; /* padded rows */
    size_t need = stride * (h - 1) + (size_t)w * 4;
    uint8_t *buf = malloc(stride * h);
    for (int via = 0; via < 2; ++via) {
        memset(buf, 0xA5, stride * h);
        if (via == 0) {
            CHECK_RC(ba_png_decode_rgba8(png, size, buf, stride, need), BA_OK);
        } else {
            char *path = fx_join(g_dir, "x.png");
            fx_write_file(path, png, size);
            int fd = open(path, O_RDONLY);
            uint32_t fw = 0, fh = 0;
            CHECK_RC(ba_png_decode_rgba8_fd(fd, buf, stride, need, &fw, &fh), BA_OK);
            CHECK_INT(fw, w);
            CHECK_INT(fh, h);
            CHECK_INT(lseek(fd, 0, SEEK_CUR), 0);
            close(fd);
            unlink(path);
            free(path);
        }
        int bad = 0;
        for (uint32_t y = 0; y < h; ++y) {
            for (uint32_t x = 0; x < w; ++x)
                for (int c = 0; c < 4; ++c) {
                    uint8_t got = buf[y * stride + x * 4 + (uint32_t)c];
                    uint8_t want = s->expected[((size_t)y * w + x) * 4 + (uint32_t)c];
                    if (got != want && bad++ < 5)
                        T_REPORT("%s: (%u, %u) channel %d: got %u, want %u", what, x, y, c, got,
                                 want);
                }
            if (y + 1 < h)
                for (int p = 0; p < 5; ++p) CHECK_INT(buf[y * stride + w * 4 + (uint32_t)p], 0xA5);
        }
    }
    CHECK_RC(ba_png_decode_rgba8(png, size, buf, stride, need - 1), BA_EBUFSIZE);
    CHECK_RC(ba_png_decode_rgba8(png, size, buf, (size_t)w * 4 - 1, need), BA_EINVAL);
    free(buf);
    free(png);
}

#define DECODE_TEST(name, w, h, type, depth, interlace, key)                                   \
    static void name(void)                                                                     \
    {                                                                                          \
        struct sample s;                                                                       \
        make_sample(&s, w, h, type, depth, interlace, key);                                    \
        check_decode(#name, &s);                                                               \
        free_sample(&s);                                                                       \
    }

static const png_color_16 k_rgb_key = {0, 10, 20, 30, 0};
static const png_color_16 k_gray_key = {0, 0, 0, 0, 3};

DECODE_TEST(test_rgba8, 13, 7, PNG_COLOR_TYPE_RGB_ALPHA, 8, PNG_INTERLACE_NONE, NULL)
DECODE_TEST(test_rgb8, 8, 8, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, NULL)
DECODE_TEST(test_gray8, 5, 9, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, NULL)
DECODE_TEST(test_gray_alpha8, 6, 3, PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_NONE, NULL)
DECODE_TEST(test_gray1, 17, 4, PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_NONE, NULL)
DECODE_TEST(test_gray2_key, 9, 5, PNG_COLOR_TYPE_GRAY, 2, PNG_INTERLACE_NONE, &k_gray_key)
DECODE_TEST(test_palette8, 11, 6, PNG_COLOR_TYPE_PALETTE, 8, PNG_INTERLACE_NONE, NULL)
DECODE_TEST(test_palette4, 7, 7, PNG_COLOR_TYPE_PALETTE, 4, PNG_INTERLACE_NONE, NULL)
DECODE_TEST(test_rgb16, 6, 5, PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_NONE, NULL)
DECODE_TEST(test_rgba16, 3, 3, PNG_COLOR_TYPE_RGB_ALPHA, 16, PNG_INTERLACE_NONE, NULL)
DECODE_TEST(test_gray16, 4, 2, PNG_COLOR_TYPE_GRAY, 16, PNG_INTERLACE_NONE, NULL)
DECODE_TEST(test_rgb8_key, 64, 4, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, &k_rgb_key)
DECODE_TEST(test_rgba8_interlaced, 19, 13, PNG_COLOR_TYPE_RGB_ALPHA, 8, PNG_INTERLACE_ADAM7,
            NULL)
DECODE_TEST(test_palette_interlaced, 10, 11, PNG_COLOR_TYPE_PALETTE, 2, PNG_INTERLACE_ADAM7,
            NULL)
DECODE_TEST(test_one_pixel, 1, 1, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, NULL)

/* 16-bit is reduced by taking the high byte (png_set_strip_16) */
static void test_strip16_values(void)
{
    uint8_t raw[] = {0x12, 0xAB, 0xFF, 0xFF, 0x00, 0xFF, 0x80, 0x7F}; /* 4 grey pixels */
    struct fx_png p = {4, 1, PNG_COLOR_TYPE_GRAY, 16, PNG_INTERLACE_NONE, NULL, 0, NULL, 0, NULL,
                       raw, 8};
    size_t size;
    uint8_t *png = fx_write_png(&p, &size);
    REQUIRE(png);
    uint8_t out[16];
    CHECK_RC(ba_png_decode_rgba8(png, size, out, 16, 16), BA_OK);
    uint8_t want[] = {0x12, 0xFF, 0x00, 0x80};
    for (int i = 0; i < 4; ++i) {
        CHECK_INT(out[i * 4], want[i]);
        CHECK_INT(out[i * 4 + 1], want[i]);
        CHECK_INT(out[i * 4 + 3], 255);
    }
    free(png);
}

static void test_malformed(void)
{
    struct sample s;
    make_sample(&s, 12, 10, PNG_COLOR_TYPE_RGB_ALPHA, 8, PNG_INTERLACE_NONE, NULL);
    size_t size;
    uint8_t *png = fx_write_png(&s.png, &size);
    REQUIRE(png);
    uint8_t buf[12 * 10 * 4];

    /* every proper prefix fails (the decoder reads through IEND) */
    char *errpath = fx_join(g_dir, "stderr.txt");
    fflush(stderr);
    int saved = dup(2);
    int errfd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(errfd, 2);
    close(errfd);
    int bad = 0;
    for (size_t len = 0; len < size; ++len) {
        uint8_t *p = malloc(len ? len : 1);
        memcpy(p, png, len);
        int rc = ba_png_decode_rgba8(p, len, buf, 48, sizeof buf);
        if (rc != BA_EFORMAT && bad++ < 5) T_REPORT("prefix %zu of %zu: %s", len, size, ba_strerror(rc));
        uint32_t w, h;
        rc = ba_png_size(p, len, &w, &h);
        if (len < 33 && rc != BA_EFORMAT && bad++ < 5) T_REPORT("size of prefix %zu: %d", len, rc);
        free(p);
    }
    CHECK_RC(ba_png_decode_rgba8(png, size, buf, 48, sizeof buf), BA_OK);

    /* a flipped bit inside IDAT: CRC error */
    uint8_t *copy = malloc(size);
    memcpy(copy, png, size);
    copy[size - 20] ^= 0x40;
    CHECK_RC(ba_png_decode_rgba8(copy, size, buf, 48, sizeof buf), BA_EFORMAT);
    free(copy);

    /* garbage, with and without the signature */
    uint64_t seed = 7;
    uint8_t junk[300];
    for (int i = 0; i < 500; ++i) {
        size_t len = (size_t)(t_rand(&seed) % sizeof junk);
        for (size_t k = 0; k < len; ++k) junk[k] = (uint8_t)t_rand(&seed);
        if ((i & 1) && len >= 8) memcpy(junk, "\x89PNG\r\n\x1a\n", 8);
        CHECK_RC(ba_png_decode_rgba8(junk, len, buf, 48, sizeof buf), BA_EFORMAT);
    }
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    size_t errsize = 1;
    uint8_t *errout = fx_read_file(errpath, &errsize);
    CHECK_INT(errsize, 0); /* libpng printed nothing */
    free(errout);
    unlink(errpath);
    free(errpath);

    /* argument errors */
    uint32_t w, h;
    CHECK_RC(ba_png_size(NULL, 10, &w, &h), BA_EINVAL);
    CHECK_RC(ba_png_size(png, size, NULL, &h), BA_EINVAL);
    CHECK_RC(ba_png_decode_rgba8(png, size, NULL, 48, sizeof buf), BA_EINVAL);
    CHECK_RC(ba_png_decode_rgba8_fd(-1, buf, 48, sizeof buf, NULL, NULL), BA_EINVAL);

    /* the fd variant: an EXR is not a PNG; a directory cannot be read */
    char *path = fx_join(g_dir, "junk.png");
    fx_write_file(path, "not a png at all", 16);
    int fd = open(path, O_RDONLY);
    CHECK_RC(ba_png_decode_rgba8_fd(fd, buf, 48, sizeof buf, &w, &h), BA_EFORMAT);
    close(fd);
    unlink(path);
    free(path);
    fd = open(g_dir, O_RDONLY | O_DIRECTORY);
    CHECK_RC(ba_png_decode_rgba8_fd(fd, buf, 48, sizeof buf, &w, &h), BA_EIO);
    close(fd);
    free(png);
    free_sample(&s);
}

/* ---------------------------------------------------------------------- */
/*  ba_png_save                                                            */
/* ---------------------------------------------------------------------- */

/* random pixels, `channels` each, rows `stride` bytes apart (the gap 0xEE) */
static uint8_t *save_pixels(uint32_t w, uint32_t h, int channels, size_t stride, uint64_t seed)
{
    uint8_t *px = malloc(stride * h);
    memset(px, 0xEE, stride * h);
    for (uint32_t y = 0; y < h; ++y)
        for (size_t x = 0; x < (size_t)w * (size_t)channels; ++x)
            px[y * stride + x] = (uint8_t)t_rand(&seed);
    return px;
}

/* decode `path` and compare with px as RGBA8 (grey → RGB, no alpha → 255) */
static void check_saved(const char *path, const uint8_t *px, uint32_t w, uint32_t h,
                        int channels, size_t stride)
{
    size_t size = 0;
    uint8_t *file = fx_read_file(path, &size);
    REQUIRE(file);
    uint32_t fw = 0, fh = 0;
    CHECK_RC(ba_png_size(file, size, &fw, &fh), BA_OK);
    CHECK_INT(fw, w);
    CHECK_INT(fh, h);
    uint8_t *rgba = malloc((size_t)w * h * 4);
    CHECK_RC(ba_png_decode_rgba8(file, size, rgba, (size_t)w * 4, (size_t)w * h * 4), BA_OK);
    int bad = 0;
    for (uint32_t y = 0; y < h && !bad; ++y)
        for (uint32_t x = 0; x < w && !bad; ++x) {
            const uint8_t *s = px + y * stride + (size_t)x * (size_t)channels;
            const uint8_t *d = rgba + ((size_t)y * w + x) * 4;
            uint8_t e[4];
            if (channels <= 2) e[0] = e[1] = e[2] = s[0];
            else memcpy(e, s, 3);
            e[3] = channels == 2 ? s[1] : channels == 4 ? s[3] : 255;
            if (memcmp(d, e, 4) != 0) {
                T_REPORT("channels %d: pixel (%u, %u) is %d,%d,%d,%d, expected %d,%d,%d,%d",
                         channels, x, y, d[0], d[1], d[2], d[3], e[0], e[1], e[2], e[3]);
                bad = 1;
            }
        }
    free(rgba);
    free(file);
}

static void test_save_roundtrip(void)
{
    char *path = fx_join(g_dir, "saved.png");
    for (int c = 1; c <= 4; ++c) {
        uint32_t w = 13, h = 7;
        for (int padded = 0; padded <= 1; ++padded) {
            size_t stride = (size_t)w * (size_t)c + (padded ? 5 : 0);
            uint8_t *px = save_pixels(w, h, c, stride, 77u + (uint64_t)c);
            int level = padded ? 9 : -1;
            CHECK_RC(ba_png_save(path, px, w, h, stride, c, level, 1), BA_OK);
            check_saved(path, px, w, h, c, stride);
            free(px);
        }
    }
    /* no compression, one pixel */
    uint8_t one[4] = {1, 2, 3, 4};
    CHECK_RC(ba_png_save(path, one, 1, 1, 4, 4, 0, 1), BA_OK);
    check_saved(path, one, 1, 1, 4, 4);
    unlink(path);
    CHECK_INT(fx_count_entries(g_dir), 0);
    free(path);
}

static void test_save_exists(void)
{
    char *path = fx_join(g_dir, "exists.png");
    uint8_t a[12] = {10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120};
    uint8_t b[12] = {0};
    CHECK_RC(ba_png_save(path, a, 2, 2, 6, 3, -1, 0), BA_OK);
    CHECK_RC(ba_png_save(path, b, 2, 2, 6, 3, -1, 0), BA_EEXIST);
    check_saved(path, a, 2, 2, 3, 6); /* unchanged */
    CHECK_INT(fx_count_entries(g_dir), 1); /* no temporary file */
    CHECK_RC(ba_png_save(path, b, 2, 2, 6, 3, -1, 1), BA_OK);
    check_saved(path, b, 2, 2, 3, 6);
    unlink(path);
    free(path);
}

static void test_save_fails_cleanly(void)
{
    uint8_t px[16] = {0};
    /* a folder that does not exist */
    char *path = fx_join(g_dir, "missing/x.png");
    errno = 0;
    CHECK_RC(ba_png_save(path, px, 2, 2, 8, 4, -1, 0), BA_EIO);
    CHECK_INT(errno, ENOENT);
    CHECK_INT(fx_count_entries(g_dir), 0);
    free(path);

    /* a write that fails half-way (the file size limit): nothing is left */
    path = fx_join(g_dir, "big.png");
    uint32_t w = 512, h = 512;
    uint8_t *big = save_pixels(w, h, 4, (size_t)w * 4, 5);
    struct rlimit old, lim;
    REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
    lim = old;
    lim.rlim_cur = 16384;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    errno = 0;
    int rc = ba_png_save(path, big, w, h, (size_t)w * 4, 4, 0, 0);
    int e = errno;
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    CHECK_RC(rc, BA_EIO);
    CHECK_INT(e, EFBIG);
    CHECK_INT(fx_count_entries(g_dir), 0);
    free(big);
    free(path);

    /* bad arguments: nothing is created */
    path = fx_join(g_dir, "bad.png");
    CHECK_RC(ba_png_save(NULL, px, 2, 2, 8, 4, -1, 0), BA_EINVAL);
    CHECK_RC(ba_png_save(path, NULL, 2, 2, 8, 4, -1, 0), BA_EINVAL);
    CHECK_RC(ba_png_save(path, px, 2, 2, 8, 0, -1, 0), BA_EINVAL);
    CHECK_RC(ba_png_save(path, px, 2, 2, 8, 5, -1, 0), BA_EINVAL);
    CHECK_RC(ba_png_save(path, px, 2, 2, 8, 4, -2, 0), BA_EINVAL);
    CHECK_RC(ba_png_save(path, px, 2, 2, 8, 4, 10, 0), BA_EINVAL);
    CHECK_RC(ba_png_save(path, px, 0, 2, 8, 4, -1, 0), BA_EINVAL);
    CHECK_RC(ba_png_save(path, px, 2, 0, 8, 4, -1, 0), BA_EINVAL);
    CHECK_RC(ba_png_save(path, px, 2, 2, 7, 4, -1, 0), BA_EINVAL);   /* stride < w * 4 */
    CHECK_RC(ba_png_save(path, px, 0x80000000u, 1, SIZE_MAX, 1, -1, 0), BA_EINVAL);
    CHECK_RC(ba_png_save(path, px, 4, 3, SIZE_MAX / 2, 1, -1, 0), BA_EOVERFLOW);
    char *slash = fx_join(g_dir, "dir/");
    CHECK_RC(ba_png_save(slash, px, 2, 2, 8, 4, -1, 0), BA_EINVAL);
    free(slash);
    CHECK_INT(fx_count_entries(g_dir), 0);
    free(path);
}

int main(void)
{
    g_dir = fx_tempdir();
    if (!g_dir) {
        perror("mkdtemp");
        return 2;
    }
    RUN(test_rgba8);
    RUN(test_rgb8);
    RUN(test_gray8);
    RUN(test_gray_alpha8);
    RUN(test_gray1);
    RUN(test_gray2_key);
    RUN(test_palette8);
    RUN(test_palette4);
    RUN(test_rgb16);
    RUN(test_rgba16);
    RUN(test_gray16);
    RUN(test_rgb8_key);
    RUN(test_rgba8_interlaced);
    RUN(test_palette_interlaced);
    RUN(test_one_pixel);
    RUN(test_strip16_values);
    RUN(test_malformed);
    RUN(test_save_roundtrip);
    RUN(test_save_exists);
    RUN(test_save_fails_cleanly);
    fx_rmdir(g_dir);
    free(g_dir);
    return t_summary();
}
