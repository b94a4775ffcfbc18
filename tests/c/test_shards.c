/* test_shards.c — the shard writer (ba_shards_*), without Blender: synthetic
 * samples written, then read back here with nothing of the writer's:
 *
 * - the tar: a reader written here from the POSIX ustar description (header
 *   fields at their offsets, the checksum as the standard defines it, data
 *   padded to 512 bytes, two zero blocks at the end);
 * - the members: the NPY header's text and the array's bytes compared to
 *   what was given, the PNG decoded with libpng's own simplified API, the
 *   metadata parsed by jansson;
 * - the index: each line's crc32 (zlib's) and size against the file's.
 *
 * tests/python/test_shards.py reads whole datasets with webdataset, tarfile
 * and pycocotools. */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <jansson.h>
#include <zlib.h>

#include "blendarray.h"
#include "check.h"
#include "fixtures.h"

static char *g_dir;

#define CHECK_STR(a, b)                                                                \
    do {                                                                               \
        const char *a_ = (a), *b_ = (b);                                               \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                         \
            T_REPORT("%s == \"%s\", expected \"%s\"", #a, a_ ? a_ : "(null)",          \
                     b_ ? b_ : "(null)");                                              \
    } while (0)

#define CHECK_HAS(a, part)                                                             \
    do {                                                                               \
        const char *a_ = (a), *p_ = (part);                                            \
        if (!a_ || !strstr(a_, p_)) T_REPORT("%s == \"%s\": no \"%s\" in it", #a, a_ ? a_ : "(null)", p_); \
    } while (0)

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    if (vasprintf(&s, f, ap) < 0) s = NULL;
    va_end(ap);
    return s;
}

static char *fresh(const char *name)
{
    char *p = fx_join(g_dir, name);
    if (p) {
        fx_rmdir(p);
        mkdir(p, 0777);
    }
    return p;
}

static int exists(const char *dir, const char *name)
{
    char *p = fx_join(dir, name);
    struct stat st;
    int r = p && lstat(p, &st) == 0;
    free(p);
    return r;
}

static int write_in(const char *dir, const char *name, const void *data, size_t size)
{
    char *p = fx_join(dir, name);
    int r = p ? fx_write_file(p, data, size) : -1;
    free(p);
    return r;
}

static json_t *load_in(const char *dir, const char *name)
{
    char *p = fx_join(dir, name);
    json_t *j = p ? json_load_file(p, 0, NULL) : NULL;
    free(p);
    return j;
}

static uint8_t *read_in(const char *dir, const char *name, size_t *size)
{
    char *p = fx_join(dir, name);
    uint8_t *d = p ? fx_read_file(p, size) : NULL;
    free(p);
    return d;
}

/* Entries whose name starts with `prefix`. */
static int count_prefixed(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) n++;
    closedir(d);
    return n;
}

/* ---------------------------------------------------------------------- */
/*  synthetic samples                                                      */
/* ---------------------------------------------------------------------- */

enum { H = 3, W = 5 };

typedef struct {
    float depth[H][W];
    int32_t ids[H][W];
    uint8_t display[H][W][4];
    ba_frame_array a[3];
    char meta[256];
} sample;

/* sample `index`: "depth" float32 (3, 5), "Layer/ids" int32 (3, 5),
 * "display" uint8 (3, 5, 4), every value a function of the index */
static void make_sample(sample *s, int64_t index)
{
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            s->depth[y][x] = (float)index + 0.25f * (float)(y * W + x);
            s->ids[y][x] = (int32_t)(index * 100 + y * W + x);
            for (int c = 0; c < 4; c++) s->display[y][x][c] = (uint8_t)(index * 31 + y * 20 + x * 4 + c);
        }
    s->a[0] = (ba_frame_array){"depth", BA_DTYPE_F32, 2, {H, W, 0}, s->depth, sizeof s->depth};
    s->a[1] = (ba_frame_array){"Layer/ids", BA_DTYPE_I32, 2, {H, W, 0}, s->ids, sizeof s->ids};
    s->a[2] = (ba_frame_array){"display", BA_DTYPE_U8, 3, {H, W, 4}, s->display, sizeof s->display};
    snprintf(s->meta, sizeof s->meta,
             "{\"frame\": %lld, \"index\": %lld, \"worker\": %d, \"render_seconds\": 0.%d, "
             "\"capture_seconds\": 1.5, \"K\": [[1.5, 0, 2]], \"note\": \"x\"}",
             (long long)index + 1, (long long)index, (int)(index % 3), (int)index + 1);
}

static ba_shard_writer *writer(const char *dir, int samples, int64_t bytes, int coco, int resume,
                               const char *params, int *rc)
{
    ba_shard_writer *w = NULL;
    int err = ba_shards_new(&w);
    if (!err) err = ba_shards_set_int(w, BA_SHARDS_SAMPLES, samples);
    if (!err) err = ba_shards_set_int(w, BA_SHARDS_BYTES, bytes);
    if (!err) err = ba_shards_set_int(w, BA_SHARDS_COCO, coco);
    if (!err) err = ba_shards_set_int(w, BA_SHARDS_RESUME, resume);
    if (!err) err = ba_shards_open(w, dir, params);
    *rc = err;
    return w;
}

static int add(ba_shard_writer *w, int64_t index)
{
    sample s;
    make_sample(&s, index);
    return ba_shards_add(w, index, s.a, 3, s.meta);
}

/* a whole dataset: `n` samples from `first`, finished */
static void write_all(const char *dir, int samples, int64_t bytes, int64_t first, int n)
{
    int rc;
    ba_shard_writer *w = writer(dir, samples, bytes, 0, 0, "{\"seed\": 1}", &rc);
    CHECK_RC(rc, BA_OK);
    for (int i = 0; i < n && !rc; i++) {
        rc = add(w, first + i);
        CHECK_RC(rc, BA_OK);
    }
    CHECK_RC(ba_shards_finish(w), BA_OK);
    ba_shards_free(w);
}

/* ---------------------------------------------------------------------- */
/*  a ustar reader, from the standard                                      */
/* ---------------------------------------------------------------------- */

typedef struct {
    char name[101];
    uint64_t size;
    const uint8_t *data;
} member;

static uint64_t octal_field(const uint8_t *f, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n && f[i] >= '0' && f[i] <= '7'; i++) v = v * 8 + (uint64_t)(f[i] - '0');
    return v;
}

/* The members of tar `t` (size bytes), every header field checked against
 * what a deterministic writer must put there; -1 on a bad archive. */
static int read_tar(const uint8_t *t, size_t size, member *m, int cap)
{
    int n = 0;
    size_t off = 0;
    if (size % 512) {
        T_REPORT("tar of %zu bytes: not whole blocks", size);
        return -1;
    }
    while (off + 512 <= size) {
        const uint8_t *h = t + off;
        int zero = 1;
        for (int i = 0; i < 512; i++) zero &= h[i] == 0;
        if (zero) break;
        unsigned sum = 0;
        for (int i = 0; i < 512; i++) sum += (i >= 148 && i < 156) ? ' ' : h[i];
        CHECK_INT(octal_field(h + 148, 6), sum);
        CHECK(h[154] == '\0' && h[155] == ' ');
        CHECK(memcmp(h + 100, "0000644\0", 8) == 0);
        CHECK(memcmp(h + 108, "0000000\0", 8) == 0);
        CHECK(memcmp(h + 116, "0000000\0", 8) == 0);
        CHECK(memcmp(h + 136, "00000000000\0", 12) == 0);
        CHECK(h[124 + 11] == '\0');
        CHECK_INT(h[156], '0');
        CHECK(memcmp(h + 257, "ustar\0" "00", 8) == 0);
        for (int i = 265; i < 329; i++) CHECK_INT(h[i], 0); /* uname, gname */
        for (int i = 345; i < 512; i++) CHECK_INT(h[i], 0); /* prefix, padding */
        for (int i = 157; i < 257; i++) CHECK_INT(h[i], 0); /* linkname */
        if (n == cap) return -1;
        memcpy(m[n].name, h, 100);
        m[n].name[100] = '\0';
        m[n].size = octal_field(h + 124, 11);
        m[n].data = h + 512;
        size_t padded = (size_t)(m[n].size + 511) / 512 * 512;
        if (off + 512 + padded > size) {
            T_REPORT("member %d runs past the end", n);
            return -1;
        }
        for (size_t i = m[n].size; i < padded; i++) CHECK_INT(m[n].data[i], 0);
        off += 512 + padded;
        n++;
    }
    CHECK_INT(size - off, 1024); /* the end: two zero blocks, and nothing more */
    for (size_t i = off; i < size; i++)
        if (t[i]) {
            T_REPORT("byte %zu after the last member is not 0", i);
            return -1;
        }
    return n;
}

/* An NPY member: NumPy's header text for (dtype, shape), then exactly the bytes. */
static void check_npy(const member *m, const char *descr, const char *shape, const void *data,
                      size_t nbytes)
{
    CHECK(memcmp(m->data, "\x93NUMPY\x01\x00", 8) == 0);
    size_t hlen = (size_t)m->data[8] | (size_t)m->data[9] << 8;
    CHECK_INT((10 + hlen) % 64, 0);
    char *want = fmt("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    CHECK(want && hlen >= strlen(want) && memcmp(m->data + 10, want, strlen(want)) == 0);
    free(want);
    CHECK_INT(m->size, 10 + hlen + nbytes);
    CHECK(memcmp(m->data + 10 + hlen, data, nbytes) == 0);
}

static void check_png(const member *m, const uint8_t *rgba, uint32_t w, uint32_t h)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    REQUIRE(png_image_begin_read_from_memory(&img, m->data, (size_t)m->size));
    CHECK_INT(img.width, w);
    CHECK_INT(img.height, h);
    img.format = PNG_FORMAT_RGBA;
    uint8_t *out = malloc((size_t)w * h * 4);
    REQUIRE(out);
    CHECK(png_image_finish_read(&img, NULL, out, 0, NULL));
    CHECK(memcmp(out, rgba, (size_t)w * h * 4) == 0);
    free(out);
}

/* the lines of shards.jsonl, parsed */
static json_t *index_lines(const char *dir)
{
    size_t size = 0;
    uint8_t *d = read_in(dir, "shards.jsonl", &size);
    json_t *lines = json_array();
    if (!d) return lines;
    char *p = (char *)d, *end = p + size;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) break;
        json_error_t e;
        json_t *j = json_loadb(p, (size_t)(nl - p), 0, &e);
        if (!j) T_REPORT("shards.jsonl: a line is not JSON: %s", e.text);
        else json_array_append_new(lines, j);
        p = nl + 1;
    }
    free(d);
    return lines;
}

/* ---------------------------------------------------------------------- */
/*  the shard's bytes                                                      */
/* ---------------------------------------------------------------------- */

static void test_tar_layout(void)
{
    char *dir = fresh("layout");
    REQUIRE(dir);
    write_all(dir, 2, 0, 41, 2); /* indices 41, 42: one full shard */
    size_t size = 0;
    uint8_t *t = read_in(dir, "shard-000000.tar", &size);
    REQUIRE(t);
    member m[16];
    int n = read_tar(t, size, m, 16);
    REQUIRE(n == 8);
    for (int k = 0; k < 2; k++) {
        sample s;
        make_sample(&s, 41 + k);
        const member *e = &m[4 * k];
        char *names[4] = {fmt("%09d.depth.npy", 41 + k), fmt("%09d.Layer.ids.npy", 41 + k),
                          fmt("%09d.display.png", 41 + k), fmt("%09d.json", 41 + k)};
        for (int i = 0; i < 4; i++) {
            CHECK_STR(e[i].name, names[i]);
            free(names[i]);
        }
        check_npy(&e[0], "<f4", "(3, 5)", s.depth, sizeof s.depth);
        check_npy(&e[1], "<i4", "(3, 5)", s.ids, sizeof s.ids);
        check_png(&e[2], &s.display[0][0][0], W, H);
        json_error_t je;
        json_t *meta = json_loadb((const char *)e[3].data, (size_t)e[3].size, 0, &je);
        REQUIRE(meta);
        CHECK(!json_object_get(meta, "worker"));
        CHECK(!json_object_get(meta, "render_seconds"));
        CHECK(!json_object_get(meta, "capture_seconds"));
        CHECK_INT(json_integer_value(json_object_get(meta, "index")), 41 + k);
        CHECK_INT(json_integer_value(json_object_get(meta, "frame")), 42 + k);
        CHECK_STR(json_string_value(json_object_get(meta, "note")), "x");
        CHECK(json_real_value(json_array_get(json_array_get(json_object_get(meta, "K"), 0), 0)) == 1.5);
        CHECK_INT(json_object_size(meta), 4);
        json_decref(meta);
    }
    /* the index: its one line says what the file is */
    json_t *lines = index_lines(dir);
    REQUIRE(json_array_size(lines) == 1);
    json_t *l = json_array_get(lines, 0);
    CHECK_STR(json_string_value(json_object_get(l, "shard")), "shard-000000.tar");
    CHECK_INT(json_integer_value(json_object_get(l, "samples")), 2);
    CHECK_INT(json_integer_value(json_object_get(l, "bytes")), size);
    CHECK_INT(json_integer_value(json_object_get(l, "crc32")), crc32(0, t, (uInt)size));
    json_t *want = json_loads("[[41, 43]]", 0, NULL);
    CHECK(json_equal(json_object_get(l, "indices"), want));
    CHECK(!json_object_get(l, "coco"));
    json_decref(want);
    json_decref(lines);
    /* dataset.json */
    json_t *d = load_in(dir, "dataset.json");
    REQUIRE(d);
    CHECK_STR(json_string_value(json_object_get(d, "format")), "blendarray-shards");
    CHECK_INT(json_integer_value(json_object_get(d, "version")), 1);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(d, "params"), "seed")), 1);
    CHECK_INT(json_integer_value(json_object_get(d, "shard_samples")), 2);
    CHECK_INT(json_integer_value(json_object_get(d, "shard_bytes")), 0);
    CHECK(json_is_false(json_object_get(d, "coco")));
    CHECK_STR(json_string_value(json_object_get(d, "blendarray")), ba_version_string());
    json_decref(d);
    CHECK_INT(count_prefixed(dir, ".shard-"), 0);
    free(t);
    free(dir);
}

/* A 100-byte member name is written whole (ustar's name field, unterminated);
 * one byte more is refused, saying so. */
static void test_long_names(void)
{
    char *dir = fresh("names");
    REQUIRE(dir);
    int rc;
    ba_shard_writer *w = writer(dir, 1, 0, 0, 0, NULL, &rc);
    CHECK_RC(rc, BA_OK);
    char name[100];
    memset(name, 'a', sizeof name);
    name[100 - 9 - 1 - 4] = '\0'; /* 9 digits, '.', name, ".npy": 100 bytes */
    uint8_t v[2] = {1, 2};
    ba_frame_array a = {name, BA_DTYPE_U8, 1, {2, 0, 0}, v, 2};
    name[86] = 'b';
    name[87] = '\0';
    CHECK_RC(ba_shards_add(w, 0, &a, 1, "{}"), BA_EINVAL);
    CHECK_HAS(ba_shards_message(w), "100 bytes");
    name[86] = '\0';
    CHECK_RC(ba_shards_add(w, 0, &a, 1, "{}"), BA_OK); /* the writer went on */
    ba_shards_free(w);
    size_t size = 0;
    uint8_t *t = read_in(dir, "shard-000000.tar", &size);
    REQUIRE(t);
    member m[4];
    REQUIRE(read_tar(t, size, m, 4) == 2);
    CHECK_INT(strlen(m[0].name), 100);
    CHECK(t[99] == 'y' && t[100] == '0'); /* "...npy" then mode: no NUL between */
    free(t);
    /* and a resume reads it back */
    w = writer(dir, 1, 0, 0, 1, NULL, &rc);
    CHECK_RC(rc, BA_OK);
    CHECK(ba_shards_done(w, 0));
    ba_shards_free(w);
    free(dir);
}

/* ---------------------------------------------------------------------- */
/*  when a shard closes                                                    */
/* ---------------------------------------------------------------------- */

static void test_samples_per_shard(void)
{
    char *dir = fresh("samples");
    REQUIRE(dir);
    int rc;
    ba_shard_writer *w = writer(dir, 3, 0, 0, 0, NULL, &rc);
    CHECK_RC(rc, BA_OK);
    for (int i = 0; i < 7; i++) {
        CHECK_RC(add(w, i), BA_OK);
        CHECK_INT(ba_shards_count(w, BA_SHARDS_WRITTEN), (i + 1) / 3);
        CHECK_INT(ba_shards_count(w, BA_SHARDS_PENDING), (i + 1) % 3);
        CHECK_INT(ba_shards_count(w, BA_SHARDS_DONE), (i + 1) / 3 * 3);
    }
    CHECK(ba_shards_done(w, 5));
    CHECK(!ba_shards_done(w, 6)); /* pending: not done */
    CHECK_RC(ba_shards_finish(w), BA_OK);
    CHECK(ba_shards_done(w, 6));
    CHECK(!ba_shards_done(w, 7));
    CHECK(!ba_shards_done(w, -1));
    CHECK_INT(ba_shards_count(w, BA_SHARDS_COMPLETE), 3);
    CHECK_INT(ba_shards_count(w, BA_SHARDS_DONE), 7);
    CHECK_INT(ba_shards_count(w, BA_SHARDS_PENDING), 0);
    CHECK_RC(add(w, 7), BA_ESTATE);
    CHECK_RC(ba_shards_finish(w), BA_ESTATE);
    ba_shards_free(w);
    json_t *lines = index_lines(dir);
    CHECK_INT(json_array_size(lines), 3);
    const char *want[3] = {"[[0, 3]]", "[[3, 6]]", "[[6, 7]]"};
    for (size_t i = 0; i < 3; i++) {
        json_t *e = json_loads(want[i], 0, NULL);
        CHECK(json_equal(json_object_get(json_array_get(lines, i), "indices"), e));
        json_decref(e);
        char name[32];
        snprintf(name, sizeof name, "shard-%06zu.tar", i);
        CHECK(exists(dir, name));
    }
    json_decref(lines);
    CHECK(!exists(dir, "shard-000003.tar"));
    free(dir);
}

/* indices added out of order: ranges in the order added */
static void test_ranges_out_of_order(void)
{
    char *dir = fresh("ranges");
    REQUIRE(dir);
    int rc;
    ba_shard_writer *w = writer(dir, 5, 0, 0, 0, NULL, &rc);
    int64_t order[5] = {7, 8, 2, 3, 9};
    for (int i = 0; i < 5; i++) CHECK_RC(add(w, order[i]), BA_OK);
    CHECK_RC(add(w, 4), BA_OK);
    CHECK_RC(add(w, 2), BA_EINVAL);
    CHECK_HAS(ba_shards_message(w), "index 2 is in shard-000000.tar already");
    CHECK_RC(add(w, 4), BA_EINVAL);
    CHECK_HAS(ba_shards_message(w), "added before");
    CHECK_RC(add(w, 6), BA_OK);     /* a repeat that is not the last index added */
    CHECK_RC(add(w, 4), BA_EINVAL);
    CHECK_HAS(ba_shards_message(w), "added before");
    for (int64_t i = 0; i < 12; i++) CHECK_INT(ba_shards_done(w, i), i == 2 || i == 3 || (i >= 7 && i <= 9));
    ba_shards_free(w);
    json_t *lines = index_lines(dir);
    json_t *e = json_loads("[[7, 9], [2, 4], [9, 10]]", 0, NULL);
    CHECK(json_equal(json_object_get(json_array_get(lines, 0), "indices"), e));
    json_decref(e);
    json_decref(lines);
    free(dir);
}

/* The byte limit, on both sides: a shard closes after the sample that brings
 * its members to M bytes or more. */
static void test_bytes_per_shard(void)
{
    char *dir = fresh("bytes");
    REQUIRE(dir);
    write_all(dir, 1, 0, 0, 1);
    size_t size = 0;
    uint8_t *t = read_in(dir, "shard-000000.tar", &size);
    REQUIRE(t);
    free(t);
    uint64_t one = size - 1024; /* one sample's members; the same for indices 0..9 */
    struct {
        int64_t limit;
        int per_shard;
    } cases[] = {{(int64_t)(2 * one), 2}, {(int64_t)(2 * one - 1), 2}, {(int64_t)(2 * one + 1), 3},
                 {1, 1}, {(int64_t)(100 * one), 6}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        fx_rmdir(dir);
        write_all(dir, 1000, cases[c].limit, 0, 6);
        json_t *lines = index_lines(dir);
        size_t want_lines = (size_t)(6 + cases[c].per_shard - 1) / (size_t)cases[c].per_shard;
        CHECK_INT(json_array_size(lines), want_lines);
        for (size_t i = 0; i < json_array_size(lines); i++) {
            json_t *l = json_array_get(lines, i);
            int n = i + 1 < want_lines ? cases[c].per_shard : 6 - (int)i * cases[c].per_shard;
            CHECK_INT(json_integer_value(json_object_get(l, "samples")), n);
            CHECK_INT(json_integer_value(json_object_get(l, "bytes")), (uint64_t)n * one + 1024);
        }
        json_decref(lines);
    }
    free(dir);
}

/* ---------------------------------------------------------------------- */
/*  resume                                                                 */
/* ---------------------------------------------------------------------- */

static int same_file(const char *a, const char *b, const char *name)
{
    size_t na = 0, nb = 0;
    uint8_t *x = read_in(a, name, &na), *y = read_in(b, name, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    if (!same) T_REPORT("%s differs between %s and %s", name, a, b);
    free(x);
    free(y);
    return same;
}

/* Every file of a (but the lock) is in b with the same bytes, and b has no other. */
static void same_folders(const char *a, const char *b)
{
    CHECK_INT(fx_count_entries(a), fx_count_entries(b));
    DIR *d = opendir(a);
    REQUIRE(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') same_file(a, b, e->d_name);
    closedir(d);
}

static void test_resume_equals_uninterrupted(void)
{
    char *whole = fresh("whole"), *cut = fresh("cut");
    REQUIRE(whole && cut);
    write_all(whole, 3, 0, 0, 7);

    /* a writer freed after 4 samples: shard 0 complete, shard 1's temporary file removed */
    int rc;
    ba_shard_writer *w = writer(cut, 3, 0, 0, 0, "{\"seed\": 1}", &rc);
    for (int i = 0; i < 4; i++) CHECK_RC(add(w, i), BA_OK);
    CHECK_INT(count_prefixed(cut, ".shard-000001.tar."), 1);
    ba_shards_free(w);
    CHECK_INT(count_prefixed(cut, ".shard-"), 0);
    CHECK(!exists(cut, "shard-000001.tar"));

    /* a process killed after 5 more samples: its temporary file stays, then goes at resume */
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        ba_shard_writer *k = writer(cut, 3, 0, 0, 1, "{\"seed\": 1}", &rc);
        for (int i = 3; i < 5 && !rc; i++) rc = add(k, i);
        _exit(rc ? 1 : 0); /* no free: as if killed */
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_INT(count_prefixed(cut, ".shard-000001.tar."), 1);

    w = writer(cut, 3, 0, 0, 1, "{\"seed\": 1}", &rc);
    CHECK_RC(rc, BA_OK);
    CHECK_INT(count_prefixed(cut, ".shard-"), 0);
    CHECK_INT(ba_shards_count(w, BA_SHARDS_DONE), 3);
    CHECK_INT(ba_shards_count(w, BA_SHARDS_COMPLETE), 1);
    CHECK_INT(ba_shards_count(w, BA_SHARDS_WRITTEN), 0);
    CHECK(ba_shards_done(w, 0) && ba_shards_done(w, 2) && !ba_shards_done(w, 3));
    for (int i = 0; i < 7; i++)
        if (!ba_shards_done(w, i)) CHECK_RC(add(w, i), BA_OK);
    CHECK_RC(ba_shards_finish(w), BA_OK);
    CHECK_INT(ba_shards_count(w, BA_SHARDS_WRITTEN), 2);
    CHECK_INT(ba_shards_count(w, BA_SHARDS_COMPLETE), 3);
    ba_shards_free(w);
    same_folders(whole, cut);

    /* a finished dataset resumed: nothing to do, nothing changed */
    w = writer(cut, 3, 0, 0, 1, "{\"seed\": 1}", &rc);
    CHECK_RC(rc, BA_OK);
    CHECK_INT(ba_shards_count(w, BA_SHARDS_DONE), 7);
    CHECK_RC(ba_shards_finish(w), BA_OK);
    ba_shards_free(w);
    same_folders(whole, cut);
    free(whole);
    free(cut);
}

/* A shard renamed but not in the index (died before its line): not complete,
 * removed at resume, its samples rendered again. */
static void test_uncommitted_shard_removed(void)
{
    char *dir = fresh("uncommitted");
    REQUIRE(dir);
    write_all(dir, 2, 0, 0, 4);
    char *idx = fx_join(dir, "shards.jsonl");
    size_t size = 0;
    uint8_t *d = fx_read_file(idx, &size);
    REQUIRE(d);
    uint8_t *nl = memchr(d, '\n', size);
    REQUIRE(nl);
    CHECK(fx_write_file(idx, d, (size_t)(nl - d) + 1) == 0); /* shard 1's line gone */
    CHECK(write_in(dir, "shard-000007.coco.json", "{}", 2) == 0);
    int rc;
    ba_shard_writer *w = writer(dir, 2, 0, 0, 1, "{\"seed\": 1}", &rc);
    CHECK_RC(rc, BA_OK);
    CHECK(!exists(dir, "shard-000001.tar"));
    CHECK(!exists(dir, "shard-000007.coco.json"));
    CHECK(exists(dir, "shard-000000.tar"));
    CHECK(ba_shards_done(w, 1) && !ba_shards_done(w, 2));
    ba_shards_free(w);
    free(d);
    free(idx);
    free(dir);
}

static void test_torn_index_line(void)
{
    const char *tails[] = {"{\"shard\": \"shard-0000", "not json at all\n", "{\"shard\": 1,\n"};
    for (size_t k = 0; k < 3; k++) {
        char *dir = fresh("torn");
        REQUIRE(dir);
        write_all(dir, 2, 0, 0, 3);
        size_t before = 0;
        uint8_t *d = read_in(dir, "shards.jsonl", &before);
        REQUIRE(d);
        char *idx = fx_join(dir, "shards.jsonl");
        FILE *f = fopen(idx, "ab");
        REQUIRE(f);
        fputs(tails[k], f);
        fclose(f);
        int rc;
        ba_shard_writer *w = writer(dir, 2, 0, 0, 1, "{\"seed\": 1}", &rc);
        CHECK_RC(rc, BA_OK);
        CHECK_INT(ba_shards_count(w, BA_SHARDS_COMPLETE), 2);
        size_t after = 0;
        uint8_t *e = read_in(dir, "shards.jsonl", &after);
        CHECK_INT(after, before); /* cut away */
        CHECK(e && memcmp(d, e, before) == 0);
        CHECK_RC(add(w, 3), BA_OK);
        CHECK_RC(ba_shards_finish(w), BA_OK);
        ba_shards_free(w);
        json_t *lines = index_lines(dir);
        CHECK_INT(json_array_size(lines), 3);
        json_decref(lines);
        free(d);
        free(e);
        free(idx);
        free(dir);
    }
}

/* resume on a folder whose file `name` was changed by `edit` must fail with
 * `err`, saying `says` */
static void refused_after(const char *name, void (*edit)(uint8_t *, size_t *), int err,
                          const char *says)
{
    char *dir = fresh("damaged");
    REQUIRE(dir);
    write_all(dir, 2, 0, 0, 5);
    char *path = fx_join(dir, name);
    size_t size = 0;
    uint8_t *d = fx_read_file(path, &size);
    REQUIRE(d);
    d = realloc(d, size + 4096);
    edit(d, &size);
    CHECK(fx_write_file(path, d, size) == 0);
    int rc;
    ba_shard_writer *w = writer(dir, 2, 0, 0, 1, "{\"seed\": 1}", &rc);
    CHECK_RC(rc, err);
    CHECK_HAS(ba_shards_message(w), says);
    CHECK_RC(add(w, 9), BA_ESTATE);
    ba_shards_free(w);
    size_t again = 0;
    uint8_t *e = fx_read_file(path, &again);
    CHECK(e && again == size && memcmp(d, e, size) == 0); /* nothing touched */
    CHECK(exists(dir, "shard-000002.tar"));
    free(e);
    free(d);
    free(path);
    free(dir);
}

static void cut_block(uint8_t *d, size_t *n) { (void)d; *n -= 512; }
static void flip_byte(uint8_t *d, size_t *n) { d[*n / 2] ^= 1; }
static void grow(uint8_t *d, size_t *n) { memset(d + *n, 0, 512); *n += 512; }
static void first_line_bad(uint8_t *d, size_t *n) { (void)n; d[0] = 'x'; }
static void wrong_name(uint8_t *d, size_t *n)
{
    char *p = strstr((char *)d, "shard-000000");
    (void)n;
    if (p) p[11] = '9';
}
static void overlap(uint8_t *d, size_t *n)
{
    /* shard 1's line lists [0, 2) as shard 0 does: the same length in bytes */
    char *p = strstr((char *)d, "[[2, 4]]");
    (void)n;
    if (p) memcpy(p, "[[0, 2]]", 8);
}
static void wrong_key(uint8_t *d, size_t *n)
{
    /* the first member's key 000000000 -> 000000008, checksum fixed: crc differs */
    (void)n;
    d[8] = '8';
    d[148 + 5] = (uint8_t)(d[148 + 5] + 8 > '7' ? d[148 + 5] : d[148 + 5] + 8);
}
static void bad_version(uint8_t *d, size_t *n)
{
    char *p = strstr((char *)d, "\"version\": 1");
    (void)n;
    if (p) p[11] = '7';
}
static void not_ours(uint8_t *d, size_t *n)
{
    char *p = strstr((char *)d, "blendarray-shards");
    (void)n;
    if (p) p[0] = 'B';
}

static void test_damaged_folders(void)
{
    refused_after("shard-000001.tar", cut_block, BA_EFORMAT, "shard-000001.tar is truncated (");
    refused_after("shard-000001.tar", flip_byte, BA_EFORMAT, "shard-000001.tar is damaged (its crc32");
    refused_after("shard-000001.tar", grow, BA_EFORMAT, "shard-000001.tar has ");
    refused_after("shards.jsonl", first_line_bad, BA_EFORMAT, "shards.jsonl line 1 is not JSON");
    refused_after("shards.jsonl", wrong_name, BA_EFORMAT, "line 1: its \"shard\" is not");
    refused_after("shards.jsonl", overlap, BA_EFORMAT, "line 2: indices 0..1 are in shard-000000.tar too");
    refused_after("shard-000000.tar", wrong_key, BA_EFORMAT, "shard-000000.tar is damaged");
    refused_after("dataset.json", bad_version, BA_EUNSUPPORTED, "format version 7");
    refused_after("dataset.json", not_ours, BA_EFORMAT, "not \"blendarray-shards\"");
    /* a missing shard */
    char *dir = fresh("missing");
    REQUIRE(dir);
    write_all(dir, 2, 0, 0, 5);
    char *p = fx_join(dir, "shard-000001.tar");
    unlink(p);
    int rc;
    ba_shard_writer *w = writer(dir, 2, 0, 0, 1, "{\"seed\": 1}", &rc);
    CHECK_RC(rc, BA_EFORMAT);
    CHECK_HAS(ba_shards_message(w), "shard-000001.tar is missing (shards.jsonl line 2");
    CHECK_HAS(ba_shards_message(w), "remove it and the lines after it from shards.jsonl");
    ba_shards_free(w);
    free(p);
    free(dir);
}

/* A tar whose crc32 and size its line has right, but that does not hold the
 * samples the line lists: refused by the walk over its headers. */
static void test_tar_walk(void)
{
    char *dir = fresh("walk");
    REQUIRE(dir);
    write_all(dir, 2, 0, 0, 2);
    char *idx = fx_join(dir, "shards.jsonl");
    size_t size = 0;
    uint8_t *d = fx_read_file(idx, &size);
    REQUIRE(d);
    char *p = strstr((char *)d, "[[0, 2]]");
    REQUIRE(p);
    memcpy(p, "[[1, 3]]", 8);
    CHECK(fx_write_file(idx, d, size) == 0);
    int rc;
    ba_shard_writer *w = writer(dir, 2, 0, 0, 1, "{\"seed\": 1}", &rc);
    CHECK_RC(rc, BA_EFORMAT);
    CHECK_HAS(ba_shards_message(w), "not the tar its line in shards.jsonl (1) describes: it holds "
                                    "a sample that its line does not list");
    ba_shards_free(w);
    free(d);
    free(idx);
    free(dir);
}

static void test_params_must_match(void)
{
    char *dir = fresh("params");
    REQUIRE(dir);
    int rc;
    const char *made = "{\"seed\": 1, \"settings\": {\"passes\": [\"rgba\"], \"resolution\": [64, 64]}, \"scene\": null}";
    ba_shard_writer *w = writer(dir, 3, 0, 0, 0, made, &rc);
    CHECK_RC(rc, BA_OK);
    CHECK_RC(add(w, 0), BA_OK);
    CHECK_RC(ba_shards_finish(w), BA_OK);
    ba_shards_free(w);
    struct {
        const char *params;
        int samples;
        int64_t bytes;
        int coco;
        const char *says;
    } cases[] = {
        {"{\"seed\": 2, \"settings\": {\"passes\": [\"rgba\"], \"resolution\": [64, 64]}, \"scene\": null}",
         3, 0, 0, "was made with seed 1, this run has seed 2"},
        {"{\"seed\": 1, \"settings\": {\"passes\": [\"rgba\"], \"resolution\": [32, 64]}, \"scene\": null}",
         3, 0, 0, "was made with settings.resolution [64,64], this run has settings.resolution [32,64]"},
        {"{\"seed\": 1, \"settings\": {\"passes\": [\"rgba\"], \"resolution\": [64, 64]}}", 3, 0, 0,
         "was made with scene null, this run has no scene"},
        {"{\"seed\": 1, \"settings\": {\"passes\": [\"rgba\"], \"resolution\": [64, 64], \"x\": 1}, "
         "\"scene\": null}", 3, 0, 0, "was made without settings.x, this run has settings.x 1"},
        {made, 4, 0, 0, "has shards of 3 samples, this run asks for 4"},
        {made, 3, 100, 0, "shard byte limit of 0, this run asks for 100"},
        {made, 3, 0, 1, "was made without COCO files"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        w = writer(dir, cases[i].samples, cases[i].bytes, cases[i].coco, 1, cases[i].params, &rc);
        CHECK_RC(rc, BA_EEXIST);
        CHECK_HAS(ba_shards_message(w), cases[i].says);
        CHECK_HAS(ba_shards_message(w), "cannot resume");
        ba_shards_free(w);
    }
    /* keys in another order are the same params */
    w = writer(dir, 3, 0, 0, 1, "{\"scene\": null, \"settings\": {\"resolution\": [64, 64], "
                                "\"passes\": [\"rgba\"]}, \"seed\": 1}", &rc);
    CHECK_RC(rc, BA_OK);
    ba_shards_free(w);
    /* no resume: refused, saying what the folder holds */
    w = writer(dir, 3, 0, 0, 0, made, &rc);
    CHECK_RC(rc, BA_EEXIST);
    CHECK_HAS(ba_shards_message(w), "holds a blendarray dataset (1 complete shards, 1 samples): "
                                    "pass --resume / resume=True");
    ba_shards_free(w);
    free(dir);
}

static void test_open_refusals(void)
{
    char *dir = fresh("foreign");
    REQUIRE(dir);
    CHECK(write_in(dir, "notes.txt", "mine", 4) == 0);
    int rc;
    ba_shard_writer *w = writer(dir, 3, 0, 0, 1, NULL, &rc);
    CHECK_RC(rc, BA_EEXIST);
    CHECK_HAS(ba_shards_message(w), "holds files but no dataset.json: not a blendarray shard folder");
    ba_shards_free(w);
    CHECK_INT(fx_count_entries(dir), 1); /* untouched: no lock made */

    char *file = fx_join(dir, "notes.txt");
    w = writer(file, 3, 0, 0, 0, NULL, &rc);
    CHECK_RC(rc, BA_EINVAL);
    CHECK_HAS(ba_shards_message(w), "is not a folder");
    ba_shards_free(w);

    char *orphan = fx_join(dir, "no/such/parent");
    w = writer(orphan, 3, 0, 0, 0, NULL, &rc);
    CHECK_RC(rc, BA_EIO);
    CHECK_HAS(ba_shards_message(w), "its parent folder does not exist");
    ba_shards_free(w);

    char *fresh_dir = fx_join(dir, "new");
    w = writer(fresh_dir, 3, 0, 0, 0, "[1]", &rc);
    CHECK_RC(rc, BA_EINVAL);
    CHECK_HAS(ba_shards_message(w), "params are not a JSON object");
    ba_shards_free(w);
    w = writer("/", 3, 0, 0, 0, NULL, &rc);
    CHECK_RC(rc, BA_EINVAL);
    ba_shards_free(w);
    w = writer(fresh_dir, 3, 0, 0, 0, NULL, &rc); /* made: its parent exists */
    CHECK_RC(rc, BA_OK);
    CHECK_RC(ba_shards_open(w, fresh_dir, NULL), BA_ESTATE);
    ba_shards_free(w);
    CHECK(exists(fresh_dir, "dataset.json") && exists(fresh_dir, "shards.jsonl"));

    /* the options' bounds */
    CHECK_RC(ba_shards_new(&w), BA_OK);
    CHECK_RC(ba_shards_set_int(w, BA_SHARDS_SAMPLES, 0), BA_EINVAL);
    CHECK_HAS(ba_shards_message(w), "1..2147483647");
    CHECK_RC(ba_shards_set_int(w, BA_SHARDS_SAMPLES, (int64_t)INT32_MAX + 1), BA_EINVAL);
    CHECK_RC(ba_shards_set_int(w, BA_SHARDS_SAMPLES, INT32_MAX), BA_OK);
    CHECK_RC(ba_shards_set_int(w, BA_SHARDS_BYTES, -1), BA_EINVAL);
    CHECK_RC(ba_shards_set_int(w, BA_SHARDS_BYTES, INT64_MAX), BA_OK);
    CHECK_RC(ba_shards_set_int(w, BA_SHARDS_COCO, 2), BA_EINVAL);
    CHECK_RC(ba_shards_set_int(w, BA_SHARDS_RESUME, -1), BA_EINVAL);
    CHECK_RC(ba_shards_set_int(w, 99, 1), BA_EINVAL);
    CHECK_RC(add(w, 0), BA_ESTATE);
    CHECK_RC(ba_shards_finish(w), BA_ESTATE);
    CHECK_INT(ba_shards_count(w, 4), 0);
    CHECK_INT(ba_shards_count(NULL, 0), 0);
    CHECK(!ba_shards_done(NULL, 0));
    CHECK_STR(ba_shards_message(NULL), "");
    CHECK_RC(ba_shards_new(NULL), BA_EINVAL);
    ba_shards_free(w);
    ba_shards_free(NULL);
    free(fresh_dir);
    free(orphan);
    free(file);
    free(dir);
}

static void test_add_refusals(void)
{
    char *dir = fresh("refusals");
    REQUIRE(dir);
    int rc;
    ba_shard_writer *w = writer(dir, 10, 0, 0, 0, NULL, &rc);
    CHECK_RC(rc, BA_OK);
    sample s;
    make_sample(&s, 0);
    CHECK_RC(ba_shards_add(w, -1, s.a, 3, s.meta), BA_EINVAL);
    CHECK_HAS(ba_shards_message(w), "index -1");
    CHECK_RC(ba_shards_add(w, INT64_MAX, s.a, 3, s.meta), BA_EINVAL);
    CHECK_RC(ba_shards_add(w, 0, s.a, 3, "[1]"), BA_EINVAL);
    CHECK_HAS(ba_shards_message(w), "its metadata is not a JSON object");
    CHECK_RC(ba_shards_add(w, 0, s.a, 3, "{"), BA_EINVAL);
    CHECK_RC(ba_shards_add(w, 0, NULL, 3, s.meta), BA_EINVAL);
    CHECK_RC(ba_shards_add(w, 0, s.a, 3, NULL), BA_EINVAL);
    const char *bad_names[] = {"", "a//b", "/a", "a/", "a\nb", "a\\b"};
    for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++) {
        ba_frame_array a[2] = {s.a[0], s.a[1]};
        a[1].name = bad_names[i];
        CHECK_RC(ba_shards_add(w, 0, a, 2, s.meta), BA_EINVAL);
        CHECK_HAS(ba_shards_message(w), "array 1 (");
    }
    const char *clashes[][2] = {{"Depth", "depth"}, {"a/b", "a.b"}, {"A/B", "a.b"}};
    for (size_t i = 0; i < 3; i++) {
        ba_frame_array a[2] = {s.a[0], s.a[0]};
        a[0].name = clashes[i][0];
        a[1].name = clashes[i][1];
        CHECK_RC(ba_shards_add(w, 0, a, 2, s.meta), BA_EINVAL);
        CHECK_HAS(ba_shards_message(w), "make the same member");
    }
    ba_frame_array a = s.a[0];
    a.nbytes--;
    CHECK_RC(ba_shards_add(w, 0, &a, 1, s.meta), BA_EINVAL);
    CHECK_HAS(ba_shards_message(w), "nbytes");
    a = s.a[0];
    a.dtype = 42;
    CHECK_RC(ba_shards_add(w, 0, &a, 1, s.meta), BA_EINVAL);
    a = s.a[0];
    a.ndim = 4;
    CHECK_RC(ba_shards_add(w, 0, &a, 1, s.meta), BA_EINVAL);
    a = s.a[2];
    a.shape[2] = 2;
    a.shape[1] = 10;
    CHECK_RC(ba_shards_add(w, 0, &a, 1, s.meta), BA_EINVAL);
    CHECK_HAS(ba_shards_message(w), "not an (H, W, 4) uint8 image");
    a = s.a[0];
    a.shape[0] = (uint64_t)1 << 62;
    CHECK_RC(ba_shards_add(w, 0, &a, 1, s.meta), BA_EOVERFLOW);
    a.shape[0] = (uint64_t)1 << 31; /* 8 GiB of float32: over ustar's member size */
    a.shape[1] = 1;
    a.nbytes = (size_t)1 << 33;
    CHECK_RC(ba_shards_add(w, 0, &a, 1, s.meta), BA_EOVERFLOW);
    CHECK_HAS(ba_shards_message(w), "8 GiB");
    CHECK_INT(ba_shards_count(w, BA_SHARDS_PENDING), 0);
    /* none of it was written: the writer goes on */
    CHECK_RC(ba_shards_add(w, 0, s.a, 3, s.meta), BA_OK);
    CHECK_RC(ba_shards_add(w, 1, NULL, 0, "{}"), BA_OK); /* metadata alone */
    CHECK_RC(ba_shards_finish(w), BA_OK);
    ba_shards_free(w);
    size_t size = 0;
    uint8_t *t = read_in(dir, "shard-000000.tar", &size);
    REQUIRE(t);
    member m[8];
    CHECK_INT(read_tar(t, size, m, 8), 5);
    CHECK_STR(m[4].name, "000000001.json");
    CHECK(m[4].size == 2 && memcmp(m[4].data, "{}", 2) == 0);
    free(t);
    free(dir);
}

/* Two writers on one folder at once: the second is refused while the first lives. */
static void test_lock(void)
{
    char *dir = fresh("lock");
    REQUIRE(dir);
    int rc;
    ba_shard_writer *a = writer(dir, 2, 0, 0, 0, NULL, &rc);
    CHECK_RC(rc, BA_OK);
    CHECK_RC(add(a, 0), BA_OK);
    ba_shard_writer *b = writer(dir, 2, 0, 0, 1, NULL, &rc);
    CHECK_RC(rc, BA_EBUSY);
    CHECK_HAS(ba_shards_message(b), "another process is writing this dataset");
    ba_shards_free(b);
    CHECK_INT(count_prefixed(dir, ".shard-000000.tar."), 1); /* a's shard left alone */
    CHECK_RC(add(a, 1), BA_OK);
    CHECK_RC(ba_shards_finish(a), BA_OK); /* unlocked */
    b = writer(dir, 2, 0, 0, 1, NULL, &rc);
    CHECK_RC(rc, BA_OK);
    CHECK_INT(ba_shards_count(b, BA_SHARDS_DONE), 2);
    ba_shards_free(b);
    ba_shards_free(a);
    free(dir);
}

/* A full disk (a file size limit: EFBIG, as ENOSPC): BA_EIO, the shard being
 * written removed, the complete ones intact, no more samples taken. */
static void test_disk_full(void)
{
    char *dir = fresh("full");
    REQUIRE(dir);
    write_all(dir, 1000, 0, 0, 2); /* shard 0, short */
    size_t size0 = 0;
    uint8_t *before = read_in(dir, "shard-000000.tar", &size0);
    REQUIRE(before);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {(rlim_t)size0 + 2048, (rlim_t)size0 + 2048};
        setrlimit(RLIMIT_FSIZE, &rl);
        int r;
        ba_shard_writer *w = writer(dir, 1000, 0, 0, 1, "{\"seed\": 1}", &r);
        if (r) _exit(2);
        for (int i = 2; i < 100 && !r; i++) r = add(w, i);
        if (r != BA_EIO) _exit(3);
        if (!strstr(ba_shards_message(w), "shard-000001.tar was not completed")) _exit(4);
        if (add(w, 200) != BA_ESTATE) _exit(5);
        if (ba_shards_finish(w) != BA_ESTATE) _exit(6);
        if (count_prefixed(dir, ".shard-") != 0) _exit(7); /* removed at once */
        ba_shards_free(w);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK_INT(WEXITSTATUS(status), 0);
    size_t size = 0;
    uint8_t *after = read_in(dir, "shard-000000.tar", &size);
    CHECK(after && size == size0 && memcmp(before, after, size) == 0);
    CHECK(!exists(dir, "shard-000001.tar"));
    int rc;
    ba_shard_writer *w = writer(dir, 1000, 0, 0, 1, "{\"seed\": 1}", &rc);
    CHECK_RC(rc, BA_OK);
    CHECK_INT(ba_shards_count(w, BA_SHARDS_DONE), 2);
    ba_shards_free(w);
    free(before);
    free(after);
    free(dir);
}

/* ---------------------------------------------------------------------- */
/*  COCO                                                                   */
/* ---------------------------------------------------------------------- */

/* pycocotools.mask.encode of a 3x5 mask: rows 1..2 of columns 1..3 (see test_coco.c) */
static char *coco_meta(int64_t index)
{
    /* column-major runs: col 0: 3 zeros; cols 1..3: 1 zero, 2 ones each; col 4: 3 zeros.
     * counts [4, 2, 1, 2, 1, 2, 3]: written here as COCO's string by ba_rle_to_string */
    uint32_t counts[] = {4, 2, 1, 2, 1, 2, 3};
    char rle[64];
    size_t len = 0;
    if (ba_rle_to_string(counts, 7, rle, sizeof rle, &len) != BA_OK) return NULL;
    rle[len] = '\0';
    return fmt("{\"frame\": %lld, \"index\": %lld, \"worker\": 0, \"annotations\": {"
               "\"instances\": [{\"id\": 9, \"name\": \"Box\", \"category_id\": 3, \"area\": 6, "
               "\"bbox\": [1, 1, 3, 2], \"segmentation\": {\"size\": [3, 5], \"counts\": \"%s\"}, "
               "\"keypoints\": []}], \"categories\": [{\"id\": 3, \"name\": \"box\"}], "
               "\"keypoints\": {\"names\": [], \"skeleton\": []}}}",
               (long long)index + 1, (long long)index, rle);
}

static void test_coco(void)
{
    char *dir = fresh("coco");
    REQUIRE(dir);
    int rc;
    ba_shard_writer *w = writer(dir, 2, 0, 1, 0, NULL, &rc);
    CHECK_RC(rc, BA_OK);
    sample s;
    make_sample(&s, 0);
    CHECK_RC(ba_shards_add(w, 0, s.a, 2, s.meta), BA_EINVAL); /* no display */
    CHECK_HAS(ba_shards_message(w), "no \"display\" array");
    CHECK_RC(ba_shards_add(w, 0, s.a, 3, s.meta), BA_EFORMAT); /* no labels */
    CHECK_HAS(ba_shards_message(w), "sample 0: malformed labels in its metadata: no \"annotations\"");
    for (int64_t i = 0; i < 3; i++) {
        make_sample(&s, i);
        char *meta = coco_meta(i);
        REQUIRE(meta);
        CHECK_RC(ba_shards_add(w, i, s.a, 3, meta), BA_OK);
        free(meta);
    }
    CHECK_RC(ba_shards_finish(w), BA_OK);
    ba_shards_free(w);
    json_t *lines = index_lines(dir);
    CHECK_STR(json_string_value(json_object_get(json_array_get(lines, 0), "coco")),
              "shard-000000.coco.json");
    CHECK_STR(json_string_value(json_object_get(json_array_get(lines, 1), "coco")),
              "shard-000001.coco.json");
    json_decref(lines);
    char *p = fx_join(dir, "shard-000000.coco.json");
    json_t *doc = json_load_file(p, 0, NULL);
    free(p);
    REQUIRE(doc);
    json_t *images = json_object_get(doc, "images"), *anns = json_object_get(doc, "annotations");
    CHECK_INT(json_array_size(images), 2);
    CHECK_INT(json_array_size(anns), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *img = json_array_get(images, i);
        char name[32];
        snprintf(name, sizeof name, "%09zu.display.png", i);
        CHECK_INT(json_integer_value(json_object_get(img, "id")), i);
        CHECK_STR(json_string_value(json_object_get(img, "file_name")), name);
        CHECK_INT(json_integer_value(json_object_get(img, "width")), W);
        CHECK_INT(json_integer_value(json_object_get(img, "height")), H);
        CHECK_INT(json_integer_value(json_object_get(img, "frame")), i + 1);
        CHECK_INT(json_integer_value(json_object_get(json_array_get(anns, i), "image_id")), i);
    }
    CHECK(!json_object_get(json_object_get(doc, "info"), "date_created")); /* same bytes each time */
    CHECK_INT(json_array_size(json_object_get(doc, "categories")), 1);
    json_decref(doc);
    /* resume checks the COCO file is there */
    p = fx_join(dir, "shard-000001.coco.json");
    unlink(p);
    free(p);
    w = writer(dir, 2, 0, 1, 1, NULL, &rc);
    CHECK_RC(rc, BA_EFORMAT);
    CHECK_HAS(ba_shards_message(w), "shard-000001.coco.json is missing");
    ba_shards_free(w);
    free(dir);
}

int main(void)
{
    g_dir = fx_tempdir();
    if (!g_dir) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_tar_layout);
    RUN(test_long_names);
    RUN(test_samples_per_shard);
    RUN(test_ranges_out_of_order);
    RUN(test_bytes_per_shard);
    RUN(test_resume_equals_uninterrupted);
    RUN(test_uncommitted_shard_removed);
    RUN(test_torn_index_line);
    RUN(test_damaged_folders);
    RUN(test_tar_walk);
    RUN(test_params_must_match);
    RUN(test_open_refusals);
    RUN(test_add_refusals);
    RUN(test_lock);
    RUN(test_disk_full);
    RUN(test_coco);
    fx_rmdir(g_dir);
    free(g_dir);
    return t_summary();
}
