/* test_exr.c — EXR files written here with OpenEXRCore, read back through
 * ba_exr_* from a path, an fd and memory, every value compared exactly. */
#include <limits.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "blendarray.h"
#include "check.h"
#include "fixtures.h"

static char *g_dir;

enum { VIA_FILE, VIA_FD, VIA_MEMORY, VIA_COUNT };

struct opened {
    ba_exr *exr;
    int fd;
    uint8_t *mem;
};

static int open_via(struct opened *o, const char *path, int via)
{
    o->exr = NULL;
    o->fd = -1;
    o->mem = NULL;
    switch (via) {
    case VIA_FILE: return ba_exr_open_file(&o->exr, path);
    case VIA_FD:
        o->fd = open(path, O_RDONLY);
        if (o->fd < 0) return -1;
        return ba_exr_open_fd(&o->exr, o->fd);
    default: {
        size_t size;
        o->mem = fx_read_file(path, &size);
        if (!o->mem) return -1;
        return ba_exr_open_memory(&o->exr, o->mem, size);
    }
    }
}

static void close_via(struct opened *o)
{
    ba_exr_close(o->exr);
    if (o->fd >= 0) close(o->fd);
    free(o->mem);
}

/* Read `req` (names from spec, by index) with a padded row stride and check
 * every value and that the padding is untouched. */
static void check_read(ba_exr *exr, const struct fx_exr *s, const int *req, int n)
{
    const char *names[16];
    for (int j = 0; j < n; ++j) names[j] = s->chans[req[j]].name;
    size_t row_floats = (size_t)s->width * (size_t)n + 3; /* 3 floats of padding */
    size_t stride = row_floats * 4;
    size_t size = stride * (size_t)s->height - 3 * 4; /* last row unpadded */
    float *buf = malloc(stride * (size_t)s->height);
    const uint32_t sentinel = 0xDEADBEEFu;
    for (size_t i = 0; i < row_floats * (size_t)s->height; ++i) memcpy(&buf[i], &sentinel, 4);

    CHECK_RC(ba_exr_read(exr, names, n, buf, stride, size), BA_OK);
    if (*ba_exr_message(exr)) T_REPORT("unexpected message: %s", ba_exr_message(exr));
    int bad = 0;
    for (int32_t y = 0; y < s->height && bad < 5; ++y) {
        for (int32_t x = 0; x < s->width; ++x)
            for (int j = 0; j < n; ++j) {
                int c = req[j];
                float want = fx_expected(s->chans[c].type,
                                         fx_pattern(c, s->chans[c].type, s->min_x + x, s->min_y + y));
                float got = buf[(size_t)y * row_floats + (size_t)x * (size_t)n + (size_t)j];
                if (!fx_same_float(got, want) && bad++ < 5)
                    T_REPORT("channel %s at (%d, %d): got %g (0x%08x), want %g (0x%08x)",
                             names[j], x, y, got, fx_float_bits(got), want, fx_float_bits(want));
            }
        if (y + 1 < s->height)
            for (int p = 0; p < 3; ++p)
                CHECK_HEX(fx_float_bits(buf[(size_t)y * row_floats + (size_t)s->width * n + p]),
                          sentinel);
    }
    free(buf);
}

static const struct fx_chan k_mixed[] = {
    {"A", EXR_PIXEL_HALF},  {"B", EXR_PIXEL_HALF},  {"G", EXR_PIXEL_HALF},
    {"R", EXR_PIXEL_HALF},  {"Z", EXR_PIXEL_FLOAT}, {"depth.V", EXR_PIXEL_FLOAT},
    {"id", EXR_PIXEL_UINT},
};

/* The requests cover the decoder's special paths: all channels in file
 * order, reversed, 3 and 4 half channels interleaved (forward and
 * reversed), a subset, mixed types, one channel, and duplicates. */
static const int k_requests[][8] = {
    {7, 0, 1, 2, 3, 4, 5, 6}, {4, 3, 2, 1, 0},  {4, 0, 1, 2, 3}, {3, 1, 2, 3},
    {3, 3, 2, 1},             {4, 3, 2, 1, 0},  {4, 3, 2, 1, 4}, {1, 4},
    {1, 6},                   {2, 5, 4},        {3, 4, 4, 3},    {5, 3, 3, 3, 0, 3},
};

static void run_layout(const char *fname, exr_compression_t comp, int32_t min_x, int32_t min_y,
                       int32_t w, int32_t h)
{
    struct fx_exr s = {min_x, min_y, w, h, comp, 7, k_mixed, EXR_STORAGE_SCANLINE, 1};
    char *path = fx_join(g_dir, fname);
    int wrc = fx_write_exr(path, &s);
    if (wrc) T_REPORT("writing %s failed: %s", fname, exr_get_default_error_message(wrc));
    for (int via = 0; via < VIA_COUNT && !wrc; ++via) {
        struct opened o;
        CHECK_RC(open_via(&o, path, via), BA_OK);
        if (o.exr) {
            int32_t ww = 0, hh = 0;
            CHECK_RC(ba_exr_size(o.exr, &ww, &hh), BA_OK);
            CHECK_INT(ww, w);
            CHECK_INT(hh, h);
            CHECK_INT(ba_exr_channel_count(o.exr), 7);
            for (int c = 0; c < 7 && ba_exr_channel_count(o.exr) == 7; ++c) {
                CHECK(strcmp(ba_exr_channel_name(o.exr, c), k_mixed[c].name) == 0);
                CHECK_INT(ba_exr_channel_type(o.exr, c), (int)k_mixed[c].type);
            }
            for (size_t r = 0; r < sizeof k_requests / sizeof k_requests[0]; ++r)
                check_read(o.exr, &s, &k_requests[r][1], k_requests[r][0]);
        }
        close_via(&o);
    }
    unlink(path);
    free(path);
}

static void test_none_origin(void) { run_layout("none.exr", EXR_COMPRESSION_NONE, 3, -2, 7, 5); }
static void test_zip_origin(void) { run_layout("zip.exr", EXR_COMPRESSION_ZIP, -5, 11, 13, 37); }
static void test_zips(void) { run_layout("zips.exr", EXR_COMPRESSION_ZIPS, 0, 0, 9, 4); }
static void test_rle(void) { run_layout("rle.exr", EXR_COMPRESSION_RLE, 100, 200, 17, 6); }
static void test_piz(void) { run_layout("piz.exr", EXR_COMPRESSION_PIZ, -1, -70, 33, 70); }
static void test_one_pixel(void) { run_layout("one.exr", EXR_COMPRESSION_ZIP, 5, 5, 1, 1); }

/* Blender's multilayer names, including one past 31 characters */
static void test_blender_names(void)
{
    static const struct fx_chan chans[] = {
        {"ViewLayer.Combined.R", EXR_PIXEL_FLOAT},
        {"ViewLayer.Combined.G", EXR_PIXEL_FLOAT},
        {"ViewLayer.Combined.B", EXR_PIXEL_FLOAT},
        {"ViewLayer.Combined.A", EXR_PIXEL_FLOAT},
        {"ViewLayer.Depth.Z", EXR_PIXEL_FLOAT},
        {"ViewLayer.Denoising Normal.X", EXR_PIXEL_HALF},
        {"A Very Long View Layer Name.Diffuse Color.R", EXR_PIXEL_HALF},
    };
    struct fx_exr s = {0, 0, 6, 4, EXR_COMPRESSION_ZIP, 7, chans, EXR_STORAGE_SCANLINE, 1};
    char *path = fx_join(g_dir, "blender.exr");
    int wrc = fx_write_exr(path, &s);
    if (wrc) T_REPORT("write failed: %s", exr_get_default_error_message(wrc));
    struct opened o;
    CHECK_RC(open_via(&o, path, VIA_FILE), BA_OK);
    if (o.exr) {
        /* sorted by name: "A Very..." < "ViewLayer.Combined.A" < ... */
        static const char *sorted[] = {
            "A Very Long View Layer Name.Diffuse Color.R", "ViewLayer.Combined.A",
            "ViewLayer.Combined.B", "ViewLayer.Combined.G", "ViewLayer.Combined.R",
            "ViewLayer.Denoising Normal.X", "ViewLayer.Depth.Z"};
        CHECK_INT(ba_exr_channel_count(o.exr), 7);
        for (int c = 0; c < 7; ++c) {
            const char *nm = ba_exr_channel_name(o.exr, c);
            CHECK(nm && strcmp(nm, sorted[c]) == 0);
        }
        int rgba[] = {0, 1, 2, 3};
        check_read(o.exr, &s, rgba, 4);
        int other[] = {6, 5, 4};
        check_read(o.exr, &s, other, 3);
        CHECK(ba_exr_channel_name(o.exr, 7) == NULL);
        CHECK(ba_exr_channel_name(o.exr, -1) == NULL);
        CHECK_INT(ba_exr_channel_type(o.exr, 7), -1);
    }
    close_via(&o);
    unlink(path);
    free(path);
}

static void test_read_errors(void)
{
    static const struct fx_chan chans[] = {{"G", EXR_PIXEL_HALF}, {"R", EXR_PIXEL_FLOAT}};
    struct fx_exr s = {2, 3, 8, 5, EXR_COMPRESSION_ZIP, 2, chans, EXR_STORAGE_SCANLINE, 1};
    char *path = fx_join(g_dir, "errors.exr");
    CHECK_INT(fx_write_exr(path, &s), 0);
    ba_exr *e = NULL;
    CHECK_RC(ba_exr_open_file(&e, path), BA_OK);
    REQUIRE(e);
    float buf[8 * 5 * 2];
    const char *names[] = {"R", "G"};
    const char *missing[] = {"R", "ViewLayer.Combined.R"};
    CHECK_RC(ba_exr_read(e, missing, 2, buf, 8 * 2 * 4, sizeof buf), BA_ENOCHANNEL);
    CHECK(strstr(ba_exr_message(e), "ViewLayer.Combined.R") != NULL);
    CHECK_RC(ba_exr_read(e, names, 2, buf, 8 * 2 * 4, sizeof buf - 1), BA_EBUFSIZE);
    CHECK(*ba_exr_message(e) != '\0');
    CHECK_RC(ba_exr_read(e, names, 2, buf, 8 * 2 * 4 - 4, sizeof buf), BA_EINVAL); /* stride */
    CHECK_RC(ba_exr_read(e, names, 2, buf, 8 * 2 * 4 + 2, sizeof buf), BA_EINVAL); /* unaligned */
    CHECK_RC(ba_exr_read(e, names, 0, buf, 8 * 2 * 4, sizeof buf), BA_EINVAL);
    CHECK_RC(ba_exr_read(e, NULL, 2, buf, 8 * 2 * 4, sizeof buf), BA_EINVAL);
    CHECK_RC(ba_exr_read(e, names, 2, NULL, 8 * 2 * 4, sizeof buf), BA_EINVAL);
    CHECK_RC(ba_exr_read(e, names, 2, buf, (size_t)1 << 40, SIZE_MAX), BA_EOVERFLOW);
    /* the object stays usable after errors */
    CHECK_RC(ba_exr_read(e, names, 2, buf, 8 * 2 * 4, sizeof buf), BA_OK);
    CHECK_INT(*ba_exr_message(e), 0);
    CHECK(fx_same_float(buf[0], fx_expected(EXR_PIXEL_FLOAT, fx_pattern(1, EXR_PIXEL_FLOAT, 2, 3))));
    CHECK(fx_same_float(buf[1], fx_expected(EXR_PIXEL_HALF, fx_pattern(0, EXR_PIXEL_HALF, 2, 3))));
    ba_exr_close(e);
    ba_exr_close(NULL);

    /* argument errors */
    CHECK_RC(ba_exr_open_file(&e, NULL), BA_EINVAL);
    CHECK_RC(ba_exr_open_file(NULL, path), BA_EINVAL);
    CHECK_RC(ba_exr_open_memory(&e, NULL, 10), BA_EINVAL);
    CHECK_RC(ba_exr_open_fd(&e, -1), BA_EINVAL);
    char *nope = fx_join(g_dir, "does-not-exist.exr");
    e = (ba_exr *)1;
    CHECK_RC(ba_exr_open_file(&e, nope), BA_EIO);
    CHECK(e == NULL);
    free(nope);
    CHECK_INT(ba_exr_channel_count(NULL), 0);
    CHECK(strcmp(ba_exr_message(NULL), "") == 0);
    int32_t w, h;
    CHECK_RC(ba_exr_size(NULL, &w, &h), BA_EINVAL);
    unlink(path);
    free(path);
}

/* The fd variant reads with pread(): the file offset is left alone. */
static void test_fd_offset(void)
{
    static const struct fx_chan chans[] = {{"Y", EXR_PIXEL_HALF}};
    struct fx_exr s = {0, 0, 4, 4, EXR_COMPRESSION_NONE, 1, chans, EXR_STORAGE_SCANLINE, 1};
    char *path = fx_join(g_dir, "fd.exr");
    CHECK_INT(fx_write_exr(path, &s), 0);
    int fd = open(path, O_RDONLY);
    REQUIRE(fd >= 0);
    CHECK_INT(lseek(fd, 5, SEEK_SET), 5);
    ba_exr *e = NULL;
    CHECK_RC(ba_exr_open_fd(&e, fd), BA_OK);
    int req[] = {0};
    if (e) check_read(e, &s, req, 1);
    CHECK_INT(lseek(fd, 0, SEEK_CUR), 5);
    ba_exr_close(e);
    CHECK_INT(lseek(fd, 0, SEEK_CUR), 5); /* and the fd is still open */
    close(fd);

    /* a memfd, as the in-Blender glue hands over renders */
    size_t size = 0;
    uint8_t *bytes = fx_read_file(path, &size);
    int mfd = memfd_create("blendarray-test", MFD_CLOEXEC);
    REQUIRE(bytes && mfd >= 0);
    CHECK_INT(write(mfd, bytes, size), (long long)size);
    e = NULL;
    CHECK_RC(ba_exr_open_fd(&e, mfd), BA_OK);
    if (e) check_read(e, &s, req, 1);
    ba_exr_close(e);
    close(mfd);
    free(bytes);
    unlink(path);
    free(path);
}

/* Every prefix of a valid file fails cleanly (open or read), never crashes,
 * and nothing is printed to stderr. */
static void test_truncated(void)
{
    static const struct fx_chan chans[] = {{"B", EXR_PIXEL_HALF}, {"G", EXR_PIXEL_FLOAT}};
    const exr_compression_t comps[] = {EXR_COMPRESSION_NONE, EXR_COMPRESSION_ZIP,
                                       EXR_COMPRESSION_PIZ};
    char *errpath = fx_join(g_dir, "stderr.txt");
    fflush(stderr);
    int saved = dup(2);
    int errfd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(errfd, 2);
    close(errfd);
    int fails = 0;

    for (int k = 0; k < 3; ++k) {
        struct fx_exr s = {1, 1, 5, 20, comps[k], 2, chans, EXR_STORAGE_SCANLINE, 1};
        char *path = fx_join(g_dir, "trunc.exr");
        CHECK_INT(fx_write_exr(path, &s), 0);
        size_t size = 0;
        uint8_t *full = fx_read_file(path, &size);
        REQUIRE(full && size > 100);
        const char *names[] = {"G", "B"};
        float buf[5 * 20 * 2];
        for (size_t len = 0; len < size; ++len) {
            uint8_t *p = malloc(len ? len : 1); /* exact size: ASan sees overreads */
            memcpy(p, full, len);
            ba_exr *e = NULL;
            int rc = ba_exr_open_memory(&e, p, len);
            if (rc == BA_OK) {
                rc = ba_exr_read(e, names, 2, buf, 5 * 2 * 4, sizeof buf);
                if (rc != BA_OK && !*ba_exr_message(e)) ++fails; /* no message */
                ba_exr_close(e);
            }
            if (rc != BA_EFORMAT && fails++ < 5)
                T_REPORT("prefix %zu of %zu (compression %d): %s", len, size, (int)comps[k],
                         ba_strerror(rc));
            free(p);
        }
        /* the whole file still reads */
        ba_exr *e = NULL;
        CHECK_RC(ba_exr_open_memory(&e, full, size), BA_OK);
        if (e) CHECK_RC(ba_exr_read(e, names, 2, buf, 5 * 2 * 4, sizeof buf), BA_OK);
        ba_exr_close(e);
        free(full);
        unlink(path);
        free(path);
    }
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    size_t errsize = 1;
    uint8_t *errout = fx_read_file(errpath, &errsize);
    CHECK_INT(errsize, 0); /* OpenEXRCore printed nothing */
    if (errsize) fprintf(stderr, "stderr was: %.*s\n", (int)errsize, (const char *)errout);
    free(errout);
    unlink(errpath);
    free(errpath);
    CHECK_INT(fails, 0);
}

static void test_garbage(void)
{
    uint64_t seed = 42;
    uint8_t buf[512];
    for (int i = 0; i < 2000; ++i) {
        size_t len = (size_t)(t_rand(&seed) % sizeof buf);
        for (size_t k = 0; k < len; ++k) buf[k] = (uint8_t)t_rand(&seed);
        if (i & 1 && len >= 8) { /* valid magic and version, garbage after */
            memcpy(buf, "\x76\x2f\x31\x01\x02\x00\x00\x00", 8);
        }
        ba_exr *e = NULL;
        int rc = ba_exr_open_memory(&e, buf, len);
        if (rc == BA_OK) { /* vanishingly unlikely; must not crash reading */
            ba_exr_close(e);
            continue;
        }
        CHECK(e == NULL);
        CHECK(rc == BA_EFORMAT || rc == BA_EUNSUPPORTED);
    }
    /* a PNG is not an EXR */
    CHECK_RC(ba_exr_open_memory(&(ba_exr *){NULL}, "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16), BA_EFORMAT);
    CHECK_RC(ba_exr_open_memory(&(ba_exr *){NULL}, "", 0), BA_EFORMAT);
}

static void expect_unsupported(const char *fname, exr_storage_t storage, int parts)
{
    static const struct fx_chan chans[] = {{"R", EXR_PIXEL_HALF}};
    exr_compression_t comp =
        storage == EXR_STORAGE_DEEP_SCANLINE ? EXR_COMPRESSION_NONE : EXR_COMPRESSION_ZIP;
    struct fx_exr s = {0, 0, 32, 32, comp, 1, chans, storage, parts};
    char *path = fx_join(g_dir, fname);
    fx_write_exr(path, &s); /* header only for non-scanline storage */
    ba_exr *e = NULL;
    int rc = ba_exr_open_file(&e, path);
    CHECK_RC(rc, BA_EUNSUPPORTED);
    CHECK(e == NULL);
    ba_exr_close(e);
    unlink(path);
    free(path);
}

static void test_unsupported(void)
{
    expect_unsupported("tiled.exr", EXR_STORAGE_TILED, 1);
    expect_unsupported("deep.exr", EXR_STORAGE_DEEP_SCANLINE, 1);
    expect_unsupported("multipart.exr", EXR_STORAGE_SCANLINE, 2);
}

/* ---------------------------------------------------------------------- */
/*  ba_exr_read_many                                                       */
/* ---------------------------------------------------------------------- */

/* One target of a read_many request: names, and floats of padding per row
 * (the last row unpadded, as check_read). */
struct tspec {
    const char *names[8];
    int n;
    int pad;
};

static const uint32_t k_sentinel = 0xDEADBEEFu;

static float *sentinel_buf(size_t floats)
{
    float *buf = malloc(floats * 4);
    for (size_t i = 0; buf && i < floats; ++i) memcpy(&buf[i], &k_sentinel, 4);
    return buf;
}

static void make_targets(ba_exr_target *tg, float **bufs, const struct fx_exr *s,
                         const struct tspec *ts, int count)
{
    for (int t = 0; t < count; ++t) {
        size_t row_floats = (size_t)s->width * (size_t)ts[t].n + (size_t)ts[t].pad;
        bufs[t] = sentinel_buf(row_floats * (size_t)s->height);
        tg[t].names = ts[t].names;
        tg[t].n = ts[t].n;
        tg[t].dst = bufs[t];
        tg[t].row_stride = row_floats * 4;
        tg[t].dst_size = row_floats * 4 * (size_t)s->height - (size_t)ts[t].pad * 4;
    }
}

/* Every value of every target against the pattern, and the padding
 * untouched. */
static void check_targets(const struct fx_exr *s, const ba_exr_target *tg, int count)
{
    int bad = 0;
    for (int t = 0; t < count; ++t) {
        size_t row_floats = tg[t].row_stride / 4;
        size_t pad = row_floats - (size_t)s->width * (size_t)tg[t].n;
        for (int32_t y = 0; y < s->height; ++y) {
            const float *row = tg[t].dst + (size_t)y * row_floats;
            for (int32_t x = 0; x < s->width; ++x)
                for (int j = 0; j < tg[t].n; ++j) {
                    int c = fx_spec_index(s, tg[t].names[j]);
                    float want = fx_expected(
                        s->chans[c].type, fx_pattern(c, s->chans[c].type, s->min_x + x, s->min_y + y));
                    float got = row[(size_t)x * (size_t)tg[t].n + (size_t)j];
                    if (!fx_same_float(got, want) && bad++ < 5)
                        T_REPORT("target %d channel %s at (%d, %d): got %g (0x%08x), want %g", t,
                                 tg[t].names[j], x, y, got, fx_float_bits(got), want);
                }
            if (y + 1 < s->height)
                for (size_t p = 0; p < pad; ++p)
                    if (fx_float_bits(row[(size_t)s->width * (size_t)tg[t].n + p]) != k_sentinel &&
                        bad++ < 5)
                        T_REPORT("target %d: padding of row %d written", t, y);
        }
    }
    CHECK_INT(bad, 0);
}

/* Bitwise equal floats; with any_nan, NaNs equal whatever their bits. */
static int same_floats(const float *a, const float *b, size_t n, int any_nan)
{
    if (!any_nan) return memcmp(a, b, n * 4) == 0;
    for (size_t i = 0; i < n; ++i)
        if (!fx_same_float(a[i], b[i])) return 0;
    return 1;
}

/* read_many into `ts`, checked value by value; then each target read
 * alone with ba_exr_read into a buffer of the same layout: bit-identical,
 * padding included (with any_nan, NaN payloads may differ: OpenEXRCore's
 * F16C unpackers quiet signalling NaNs, its generic one does not, and which
 * one runs depends on the channels requested together). */
static void check_many(ba_exr *exr, const struct fx_exr *s, const struct tspec *ts, int count,
                       int any_nan)
{
    ba_exr_target tg[8], one[8];
    float *bufs[8], *solo[8];
    make_targets(tg, bufs, s, ts, count);
    make_targets(one, solo, s, ts, count);
    CHECK_RC(ba_exr_read_many(exr, tg, count), BA_OK);
    if (*ba_exr_message(exr)) T_REPORT("unexpected message: %s", ba_exr_message(exr));
    check_targets(s, tg, count);
    for (int t = 0; t < count; ++t) {
        CHECK_RC(ba_exr_read(exr, one[t].names, one[t].n, one[t].dst, one[t].row_stride,
                             one[t].dst_size),
                 BA_OK);
        size_t bytes = one[t].row_stride * (size_t)s->height;
        if (!same_floats(bufs[t], solo[t], bytes / 4, any_nan))
            T_REPORT("target %d differs from ba_exr_read of the same names", t);
        free(bufs[t]);
        free(solo[t]);
    }
}

/* Passes split over targets with different channel counts and strides
 * (tight and padded), a channel in two targets and twice in one. */
static const struct tspec k_split[] = {
    {{"R", "G", "B", "A"}, 4, 5},
    {{"Z"}, 1, 0},
    {{"depth.V", "id", "A", "A"}, 4, 1},
    {{"G"}, 1, 3},
    {{"Z", "B"}, 2, 0},
};

static void run_many(const char *fname, exr_compression_t comp, int32_t min_x, int32_t min_y,
                     int32_t w, int32_t h)
{
    struct fx_exr s = {min_x, min_y, w, h, comp, 7, k_mixed, EXR_STORAGE_SCANLINE, 1};
    char *path = fx_join(g_dir, fname);
    int wrc = fx_write_exr(path, &s);
    if (wrc) T_REPORT("writing %s failed: %s", fname, exr_get_default_error_message(wrc));
    for (int via = 0; via < VIA_COUNT && !wrc; ++via) {
        struct opened o;
        CHECK_RC(open_via(&o, path, via), BA_OK);
        if (o.exr) {
            check_many(o.exr, &s, k_split, 5, 0);
            check_many(o.exr, &s, k_split, 2, 0);
            check_many(o.exr, &s, k_split + 2, 1, 0);
            /* every request of the ba_exr_read tests, one target each */
            struct tspec ts[8];
            int nreq = (int)(sizeof k_requests / sizeof k_requests[0]);
            for (int r0 = 0; r0 < nreq; r0 += 8) {
                int count = nreq - r0 < 8 ? nreq - r0 : 8;
                for (int t = 0; t < count; ++t) {
                    const int *req = k_requests[r0 + t];
                    ts[t].n = req[0];
                    ts[t].pad = t % 3;
                    for (int j = 0; j < req[0]; ++j) ts[t].names[j] = k_mixed[req[1 + j]].name;
                }
                check_many(o.exr, &s, ts, count, 0);
            }
        }
        close_via(&o);
    }
    unlink(path);
    free(path);
}

static void test_many_none(void) { run_many("many_none.exr", EXR_COMPRESSION_NONE, 0, 0, 11, 7); }
static void test_many_zip(void) { run_many("many_zip.exr", EXR_COMPRESSION_ZIP, 0, 0, 13, 37); }
static void test_many_origin(void)
{
    run_many("many_none_origin.exr", EXR_COMPRESSION_NONE, -7, 19, 9, 5);
    run_many("many_zip_origin.exr", EXR_COMPRESSION_ZIP, 23, -40, 10, 33);
    run_many("many_piz_origin.exr", EXR_COMPRESSION_PIZ, 4, 4, 12, 40);
}

/* Files of 3 or 4 HALF channels where not every channel is requested:
 * OpenEXRCore 3.1 chooses 3/4-channel unpackers for these that write the
 * channels it was not given (ba_exr_read of "R" alone from an RGBA half
 * file crashed). Also all-FLOAT uncompressed files read one channel per
 * target (OpenEXRCore's direct read into the destination). */
static void test_many_few_channels(void)
{
    static const struct fx_chan h4[] = {
        {"A", EXR_PIXEL_HALF}, {"B", EXR_PIXEL_HALF}, {"G", EXR_PIXEL_HALF}, {"R", EXR_PIXEL_HALF}};
    static const struct fx_chan h3[] = {
        {"B", EXR_PIXEL_HALF}, {"G", EXR_PIXEL_HALF}, {"R", EXR_PIXEL_HALF}};
    static const struct fx_chan h3f[] = {
        {"B", EXR_PIXEL_HALF}, {"G", EXR_PIXEL_HALF}, {"R", EXR_PIXEL_HALF}, {"Z", EXR_PIXEL_FLOAT}};
    static const struct fx_chan f3[] = {
        {"X", EXR_PIXEL_FLOAT}, {"Y", EXR_PIXEL_FLOAT}, {"Z", EXR_PIXEL_FLOAT}};
    static const struct {
        const struct fx_chan *chans;
        int nchan;
        struct tspec ts[4];
        int count;
    } cases[] = {
        {h4, 4, {{{"R"}, 1, 0}}, 1},
        {h4, 4, {{{"B", "B", "G", "R"}, 4, 0}}, 1},
        {h4, 4, {{{"A", "B", "G", "A"}, 4, 2}}, 1},
        {h4, 4, {{{"R", "G", "B", "B"}, 4, 0}}, 1},
        {h4, 4, {{{"B"}, 1, 0}, {{"G"}, 1, 1}, {{"R"}, 1, 2}}, 3},
        {h4, 4, {{{"A"}, 1, 0}, {{"B"}, 1, 1}, {{"G"}, 1, 2}, {{"R"}, 1, 0}}, 4},
        {h4, 4, {{{"R", "G"}, 2, 0}, {{"B", "A"}, 2, 1}}, 2},
        {h4, 4, {{{"R", "G", "B"}, 3, 1}, {{"R"}, 1, 0}}, 2},
        {h3, 3, {{{"B"}, 1, 0}, {{"G"}, 1, 1}, {{"R"}, 1, 2}}, 3},
        {h3, 3, {{{"G"}, 1, 3}}, 1},
        {h3, 3, {{{"R", "G"}, 2, 0}}, 1},
        {h3f, 4, {{{"B", "G", "R"}, 3, 0}}, 1},
        {h3f, 4, {{{"B"}, 1, 0}, {{"G"}, 1, 1}, {{"R"}, 1, 2}}, 3},
        {f3, 3, {{{"X"}, 1, 1}, {{"Y"}, 1, 0}, {{"Z"}, 1, 2}}, 3},
        {f3, 3, {{{"Z"}, 1, 1}, {{"X"}, 1, 0}}, 2},
    };
    const exr_compression_t comps[] = {EXR_COMPRESSION_NONE, EXR_COMPRESSION_ZIP,
                                       EXR_COMPRESSION_RLE};
    for (int k = 0; k < 3; ++k)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
            struct fx_exr s = {-3, 5, 19, 21, comps[k], cases[i].nchan, cases[i].chans,
                               EXR_STORAGE_SCANLINE, 1};
            char *path = fx_join(g_dir, "few.exr");
            CHECK_INT(fx_write_exr(path, &s), 0);
            ba_exr *e = NULL;
            CHECK_RC(ba_exr_open_file(&e, path), BA_OK);
            if (e) check_many(e, &s, cases[i].ts, cases[i].count, 1);
            ba_exr_close(e);
            unlink(path);
            free(path);
        }
}

static void test_many_errors(void)
{
    static const struct fx_chan chans[] = {{"G", EXR_PIXEL_HALF}, {"R", EXR_PIXEL_FLOAT}};
    struct fx_exr s = {2, 3, 8, 5, EXR_COMPRESSION_ZIP, 2, chans, EXR_STORAGE_SCANLINE, 1};
    char *path = fx_join(g_dir, "many_errors.exr");
    CHECK_INT(fx_write_exr(path, &s), 0);
    ba_exr *e = NULL;
    CHECK_RC(ba_exr_open_file(&e, path), BA_OK);
    REQUIRE(e);
    const char *rg[] = {"R", "G"};
    const char *g[] = {"G"};
    const char *missing[] = {"G", "ViewLayer.Depth.Z"};
    float a[8 * 5 * 2], b[8 * 5 * 2];
    ba_exr_target tg[2] = {{rg, 2, a, 8 * 2 * 4, sizeof a}, {g, 1, b, 8 * 4, 8 * 5 * 4}};

    CHECK_RC(ba_exr_read_many(e, tg, 0), BA_EINVAL);
    CHECK(*ba_exr_message(e) != '\0');
    CHECK_RC(ba_exr_read_many(e, tg, -1), BA_EINVAL);
    CHECK_RC(ba_exr_read_many(e, NULL, 1), BA_EINVAL);
    CHECK_RC(ba_exr_read_many(NULL, tg, 2), BA_EINVAL);

    /* an unknown name in the 2nd target: named in the message, and nothing
     * decoded into the 1st */
    for (size_t i = 0; i < sizeof a / 4; ++i) memcpy(&a[i], &k_sentinel, 4);
    tg[1].names = missing;
    tg[1].n = 2;
    tg[1].row_stride = 8 * 2 * 4;
    tg[1].dst_size = sizeof b;
    CHECK_RC(ba_exr_read_many(e, tg, 2), BA_ENOCHANNEL);
    CHECK(strstr(ba_exr_message(e), "ViewLayer.Depth.Z") != NULL);
    CHECK(strstr(ba_exr_message(e), "target 1") != NULL);
    CHECK_HEX(fx_float_bits(a[0]), k_sentinel);
    CHECK_HEX(fx_float_bits(a[8 * 5 * 2 - 1]), k_sentinel);

    /* too small a buffer in one target */
    tg[1].names = g;
    tg[1].n = 1;
    tg[1].row_stride = 8 * 4;
    tg[1].dst_size = 8 * 5 * 4 - 1;
    CHECK_RC(ba_exr_read_many(e, tg, 2), BA_EBUFSIZE);
    CHECK(strstr(ba_exr_message(e), "target 1") != NULL);
    tg[1].dst_size = 8 * 5 * 4;
    tg[0].dst_size = sizeof a - 4;
    CHECK_RC(ba_exr_read_many(e, tg, 2), BA_EBUFSIZE);
    CHECK(strstr(ba_exr_message(e), "target 0") != NULL);
    tg[0].dst_size = sizeof a;

    /* the other per-target checks of ba_exr_read */
    tg[1].row_stride = 8 * 4 - 4;
    CHECK_RC(ba_exr_read_many(e, tg, 2), BA_EINVAL);
    tg[1].row_stride = 8 * 4 + 2;
    CHECK_RC(ba_exr_read_many(e, tg, 2), BA_EINVAL);
    tg[1].row_stride = (size_t)1 << 40;
    tg[1].dst_size = SIZE_MAX;
    CHECK_RC(ba_exr_read_many(e, tg, 2), BA_EOVERFLOW);
    tg[1].row_stride = 8 * 4;
    tg[1].dst_size = 8 * 5 * 4;
    tg[1].n = 0;
    CHECK_RC(ba_exr_read_many(e, tg, 2), BA_EINVAL);
    tg[1].n = 1;
    tg[1].dst = NULL;
    CHECK_RC(ba_exr_read_many(e, tg, 2), BA_EINVAL);
    tg[1].dst = b;
    tg[1].names = NULL;
    CHECK_RC(ba_exr_read_many(e, tg, 2), BA_EINVAL);
    const char *null_name[] = {NULL};
    tg[1].names = null_name;
    CHECK_RC(ba_exr_read_many(e, tg, 2), BA_EINVAL);
    tg[1].names = g;
    tg[1].n = INT_MAX; /* overflows the row size on 32 bits, else the buffer */
    int rc = ba_exr_read_many(e, tg, 2);
    CHECK(rc == BA_EOVERFLOW || rc == BA_EBUFSIZE);
    tg[1].n = 1;

    /* and the object stays usable */
    CHECK_RC(ba_exr_read_many(e, tg, 2), BA_OK);
    CHECK_INT(*ba_exr_message(e), 0);
    check_targets(&s, tg, 2);
    ba_exr_close(e);
    unlink(path);
    free(path);
}

/* The offset of chunk 0's header (int32 y, int32 data size) in an EXR file:
 * the first entry of the offset table, after the header's attributes. */
static size_t first_chunk(const uint8_t *f, size_t size)
{
    size_t p = 8; /* magic, version */
    while (p < size && f[p]) {                            /* name\0 type\0 int32 size data */
        p += strnlen((const char *)f + p, size - p) + 1;
        p += strnlen((const char *)f + p, size - p) + 1;
        if (p + 4 > size) return 0;
        uint32_t n;
        memcpy(&n, f + p, 4); /* little-endian, as the host */
        p += 4 + n;
    }
    uint64_t off = 0;
    if (p + 9 <= size) memcpy(&off, f + p + 1, 8);
    return off + 8 <= size ? (size_t)off : 0;
}

/* A chunk that holds fewer bytes than its pixels: OpenEXRCore 3.1 decodes a
 * short uncompressed one successfully, from its own uninitialized heap memory
 * (an empty one it refuses itself). Errors, with a message, nothing decoded. */
static void test_short_chunks(void)
{
    static const struct fx_chan chans[] = {{"B", EXR_PIXEL_HALF}, {"G", EXR_PIXEL_FLOAT}};
    const struct {
        exr_compression_t comp;
        int32_t new_size; /* -1: half the pixels' bytes */
        const char *msg;
    } cases[] = {
        {EXR_COMPRESSION_NONE, -1, "uncompressed chunk at y=1 holds 30 bytes, 60 expected"},
        {EXR_COMPRESSION_NONE, 0, NULL}, /* NULL: OpenEXRCore's message */
        {EXR_COMPRESSION_ZIP, 0, NULL},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; ++k) {
        struct fx_exr s = {1, 1, 10, 3, cases[k].comp, 2, chans, EXR_STORAGE_SCANLINE, 1};
        char *path = fx_join(g_dir, "short.exr");
        CHECK_INT(fx_write_exr(path, &s), 0);
        size_t size = 0;
        uint8_t *f = fx_read_file(path, &size);
        REQUIRE(f);
        size_t at = first_chunk(f, size);
        REQUIRE(at > 0);
        int32_t y, n;
        memcpy(&y, f + at, 4);
        memcpy(&n, f + at + 4, 4);
        CHECK_INT(y, 1);
        if (cases[k].comp == EXR_COMPRESSION_NONE) CHECK_INT(n, 10 * (2 + 4)); /* one row */
        n = cases[k].new_size < 0 ? n / 2 : cases[k].new_size;
        memcpy(f + at + 4, &n, 4);
        ba_exr *e = NULL;
        CHECK_RC(ba_exr_open_memory(&e, f, size), BA_OK);
        const char *names[] = {"G", "B"};
        float buf[10 * 3 * 2];
        for (size_t i = 0; i < sizeof buf / sizeof buf[0]; ++i) buf[i] = -7.0f;
        if (e) {
            CHECK_RC(ba_exr_read(e, names, 2, buf, 10 * 2 * 4, sizeof buf), BA_EFORMAT);
            if (cases[k].msg ? strcmp(ba_exr_message(e), cases[k].msg) != 0 : !*ba_exr_message(e))
                T_REPORT("case %zu: message \"%s\", expected \"%s\"", k, ba_exr_message(e),
                         cases[k].msg ? cases[k].msg : "(any)");
        }
        for (size_t i = 0; i < 10 * 2; ++i) CHECK(buf[i] == -7.0f); /* row 0 left alone */
        ba_exr_close(e);
        free(f);
        unlink(path);
        free(path);
    }
}

int main(void)
{
    g_dir = fx_tempdir();
    if (!g_dir) {
        perror("mkdtemp");
        return 2;
    }
    RUN(test_none_origin);
    RUN(test_zip_origin);
    RUN(test_zips);
    RUN(test_rle);
    RUN(test_piz);
    RUN(test_one_pixel);
    RUN(test_blender_names);
    RUN(test_read_errors);
    RUN(test_fd_offset);
    RUN(test_truncated);
    RUN(test_garbage);
    RUN(test_unsupported);
    RUN(test_many_none);
    RUN(test_many_zip);
    RUN(test_many_origin);
    RUN(test_many_few_channels);
    RUN(test_many_errors);
    RUN(test_short_chunks);
    fx_rmdir(g_dir);
    free(g_dir);
    return t_summary();
}
