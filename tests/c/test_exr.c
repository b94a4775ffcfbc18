/* test_exr.c — EXR files written here with OpenEXRCore, read back through
 * ba_exr_* from a path, an fd and memory, every value compared exactly. */
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
    fx_rmdir(g_dir);
    free(g_dir);
    return t_summary();
}
