/* test_nomem.c — out of memory, SQLite-style: every allocation an operation
 * makes is failed in turn, and the operation must then return BA_ENOMEM,
 * leave nothing allocated and leave no file behind.
 *
 * How: the test is linked with GNU ld's --wrap for the allocators the
 * library's sources call (tests/c/meson.build: malloc, calloc, realloc,
 * free, strdup, strndup, and asprintf and realpath of the renderer's
 * sources; no posix_memalign, aligned_alloc, getline or open_memstream is
 * called), so every call to them from this program's own objects (this
 * file and the static library's objects) lands in the __wrap_ functions
 * below, which count the calls, fail the chosen one, and keep the set of
 * live blocks. --wrap redirects only calls from the objects linked into
 * the executable: libzip's, libpng's and OpenEXRCore's own allocations (and
 * libc's inside opendir, qsort, ...) are not counted and never fail here.
 * That is fine: those libraries report their failures through their own
 * return values, which the library maps, and what this test is about is
 * the library's own allocations and the error paths around them. Jansson
 * is the exception: it takes an allocator (json_set_alloc_funcs), so it is
 * handed the wrapped one, and the worker protocol's parsers (src/reply.c)
 * are checked against jansson's allocation failures too (json_loads is
 * wrapped as well, only to know when a failure happened inside it: see
 * __wrap_json_loads).
 *
 * Under ASan the __wrap_ functions call __real_malloc & co., which are
 * libasan's interceptors: ASan sees every block as usual (no double
 * bookkeeping, no conflict), and the live-block set here is a leak check
 * of its own that needs no LeakSanitizer (and hides nothing from it).
 *
 * For each operation: a clean run counts its allocations (N); then for
 * n = 1, 2, ... the n-th allocation from the operation's start fails (and,
 * in a second pass, every one from the n-th on); the run must return
 * BA_ENOMEM, the blocks live before it must be exactly the blocks live after
 * it (after the cleanup the API documents: a writer that failed is aborted,
 * a reader that failed to open is NULL), and the output folder must be
 * empty. At n = N + 1 nothing fails and the run must succeed, with the right
 * result. The only allocations whose failure may leave an operation
 * successful are the declared best-effort ones (`benign`): the copy of the
 * folder's name that ba_atomic_sync_parent_dir() makes to fsync the folder
 * after the file is already in place, always the writers' last allocation
 * (an error then would report a failure for a file that was published). */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blendarray.h"
#include "check.h"
#include "fixtures.h"
#include "../../src/renderer.h"

/* ---------------------------------------------------------------------- */
/*  the wrapped allocators                                                 */
/* ---------------------------------------------------------------------- */

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void __real_free(void *p);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
char *__real_realpath(const char *path, char *resolved);
json_t *__real_json_loads(const char *input, size_t flags, json_error_t *error);

void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void __wrap_free(void *p);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
char *__wrap_realpath(const char *path, char *resolved);
int __wrap_asprintf(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
json_t *__wrap_json_loads(const char *input, size_t flags, json_error_t *error);

static int g_armed;            /* counting and failing: inside an operation */
static long g_calls;           /* allocation calls since armed */
static long g_fail_at;         /* the call that fails (1-based), 0: none */
static int g_persist;          /* also every call after it */
static long g_injected;        /* failures injected since armed */
static const char *g_inj_kind; /* which allocator the first one was */
static int g_in_parser;        /* inside jansson's json_loads() */
static int g_inj_in_parser;    /* the first failure was */

/* The live blocks: an open-addressing set of pointers (linear probing,
 * backward-shift deletion), with no allocation of its own. Blocks allocated
 * elsewhere (libc, libzip) and freed here are not in it and are left out.
 * The pointers are kept XOR-ed with a constant, so that LeakSanitizer does
 * not count the set as a reference to them: a leak is reported by both. */
#define TRACK_BITS 16
#define TRACK_SLOTS ((size_t)1 << TRACK_BITS)
#define TRACK_HIDE ((uintptr_t)0x5a5a5a5a5a5a5a5aull)
static uintptr_t g_track[TRACK_SLOTS]; /* 0: empty */
static long g_live;
static int g_track_full;

static size_t track_hash(uintptr_t key)
{
    uint64_t x = (uint64_t)key;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x & (TRACK_SLOTS - 1);
}

static void track_add(void *p)
{
    if (!p) return;
    if ((size_t)g_live >= TRACK_SLOTS / 2) {
        g_track_full = 1; /* reported by the checks: live counts would be wrong */
        return;
    }
    uintptr_t key = (uintptr_t)p ^ TRACK_HIDE;
    size_t i = track_hash(key);
    while (g_track[i]) i = (i + 1) & (TRACK_SLOTS - 1);
    g_track[i] = key;
    g_live++;
}

/* 1 if p was live (and is no longer), 0 if it is not one of ours */
static int track_remove(void *p)
{
    if (!p) return 0;
    uintptr_t key = (uintptr_t)p ^ TRACK_HIDE;
    size_t i = track_hash(key);
    while (g_track[i] != key) {
        if (!g_track[i]) return 0;
        i = (i + 1) & (TRACK_SLOTS - 1);
    }
    for (size_t j = i;;) { /* shift back the entries probing past the hole */
        j = (j + 1) & (TRACK_SLOTS - 1);
        if (!g_track[j]) break;
        size_t k = track_hash(g_track[j]);
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j)) continue;
        g_track[i] = g_track[j];
        i = j;
    }
    g_track[i] = 0;
    g_live--;
    return 1;
}

/* Whether this allocation call is to fail. */
static int inject(const char *kind)
{
    if (!g_armed) return 0;
    long n = ++g_calls;
    if (g_fail_at > 0 && (n == g_fail_at || (g_persist && n > g_fail_at))) {
        if (!g_injected++) {
            g_inj_kind = kind;
            g_inj_in_parser = g_in_parser > 0;
        }
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t size)
{
    if (inject("malloc")) return NULL;
    void *p = __real_malloc(size);
    track_add(p);
    return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
    if (inject("calloc")) return NULL;
    void *p = __real_calloc(n, size);
    track_add(p);
    return p;
}

void *__wrap_realloc(void *p, size_t size)
{
    if (inject("realloc")) return NULL; /* p is left alone, as a failed realloc does */
    void *q = __real_realloc(p, size);
    if (!q) {
        if (p && size == 0) track_remove(p); /* glibc's realloc(p, 0) frees p */
        return NULL;
    }
    if (!p)
        track_add(q);
    else if (track_remove(p)) /* not ours before (libc's): not ours after */
        track_add(q);
    return q;
}

void __wrap_free(void *p)
{
    track_remove(p);
    __real_free(p);
}

char *__wrap_strdup(const char *s)
{
    if (inject("strdup")) return NULL;
    char *p = __real_strdup(s);
    track_add(p);
    return p;
}

char *__wrap_strndup(const char *s, size_t n)
{
    if (inject("strndup")) return NULL;
    char *p = __real_strndup(s, n);
    track_add(p);
    return p;
}

char *__wrap_realpath(const char *path, char *resolved)
{
    if (!resolved && inject("realpath")) return NULL; /* only the allocating form */
    char *p = __real_realpath(path, resolved);
    if (!resolved) track_add(p);
    return p;
}

int __wrap_asprintf(char **out, const char *fmt, ...)
{
    if (inject("asprintf")) return -1;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(out, fmt, ap); /* vasprintf is not wrapped: libc's */
    va_end(ap);
    if (n >= 0) track_add(*out);
    return n;
}

/* Not an allocator: marks jansson's parser, which reports running out of
 * memory as a syntax error (json_error_invalid_syntax, or no code at all;
 * never json_error_out_of_memory, even in jansson's current sources: "this
 * is not very nice, since TOKEN_INVALID is returned"). A text that does not
 * parse is BA_EINVAL, so that failure cannot be BA_ENOMEM. */
json_t *__wrap_json_loads(const char *input, size_t flags, json_error_t *error)
{
    g_in_parser++;
    json_t *j = __real_json_loads(input, flags, error);
    g_in_parser--;
    return j;
}

/* jansson's allocator: the wrapped one */
static void *json_alloc(size_t size)
{
    return __wrap_malloc(size);
}

static void json_release(void *p)
{
    __wrap_free(p);
}

static void arm(long fail_at, int persist)
{
    g_calls = 0;
    g_injected = 0;
    g_inj_kind = NULL;
    g_inj_in_parser = 0;
    g_fail_at = fail_at;
    g_persist = persist;
    g_armed = 1;
}

static void disarm(void)
{
    g_armed = 0;
    g_fail_at = 0;
}

/* ---------------------------------------------------------------------- */
/*  the driver                                                             */
/* ---------------------------------------------------------------------- */

static char *g_dir; /* the test's folder */
static char *g_in;  /* inputs made before the operations */
static char *g_out; /* outputs: empty between runs */
static char g_where[160];

/* A check naming the operation and the failed allocation. */
#define NCHECK(cond, ...)                                                          \
    do {                                                                           \
        if (!(cond)) {                                                             \
            char msg_[256];                                                        \
            snprintf(msg_, sizeof msg_, __VA_ARGS__);                              \
            T_REPORT("%s: CHECK(%s) failed: %s", g_where, #cond, msg_);            \
        }                                                                          \
    } while (0)

/* Paths without an allocation (the operations' own must be all they count):
 * in one of 8 static buffers, used in turn. */
static const char *path_in(const char *dir, const char *name)
{
    static char bufs[8][4096];
    static unsigned k;
    char *b = bufs[k++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
    return b;
}

static const char *out_path(const char *name)
{
    return path_in(g_out, name);
}

static const char *in_path(const char *name)
{
    return path_in(g_in, name);
}

typedef struct nomem_op {
    const char *name;
    /* The operation, and on failure the cleanup the API documents; returns
     * BA_OK or the first error (and keeps its results for check). */
    int (*run)(void);
    /* After BA_OK: 0 if what it made is right; frees it, removes its files. */
    int (*check)(void);
    int benign; /* best-effort allocations (see the top of the file) */
    int parses; /* parses JSON text: BA_EINVAL where jansson's parser failed */
} nomem_op;

typedef struct op_stats {
    long points;  /* allocations of a clean run */
    long parser;  /* of which failed in json_loads with BA_EINVAL (once) */
    double secs;  /* both passes */
} op_stats;

/* One pass: fail the n-th allocation (persist: and every later one). */
static long run_pass(const nomem_op *op, int persist, long total, long *parser_out)
{
    int benign = 0, parser = 0;
    long n;
    for (n = 1; n <= total + 1; n++) {
        snprintf(g_where, sizeof g_where, "%s, allocation %ld of %ld failed%s", op->name, n,
                 total, persist ? " (and all after it)" : "");
        long live = g_live;
        arm(n, persist);
        int rc = op->run();
        long calls = g_calls, injected = g_injected;
        const char *kind = g_inj_kind;
        int in_parser = g_inj_in_parser;
        disarm();
        if (!injected) {
            NCHECK(rc == BA_OK, "returned %d (%s) with no allocation failed", rc, ba_strerror(rc));
            NCHECK(n == total + 1, "made %ld allocations, %ld in the clean run", calls, total);
            if (rc == BA_OK) NCHECK(op->check() == 0, "wrong result");
            NCHECK(g_live == live, "%ld blocks live before, %ld after", live, g_live);
            NCHECK(fx_count_entries(g_out) == 0, "%d files left", fx_count_entries(g_out));
            break;
        }
        if (rc == BA_OK) {
            /* only a best-effort allocation, the last one, may fail unnoticed */
            benign++;
            NCHECK(injected == 1 && calls == n && n == total,
                   "succeeded although %s no. %ld of %ld failed (%ld failed)", kind, n, calls,
                   injected);
            NCHECK(op->check() == 0, "succeeded with a wrong result");
        } else if (op->parses && in_parser && rc == BA_EINVAL) {
            parser++; /* see __wrap_json_loads */
        } else {
            NCHECK(rc == BA_ENOMEM, "returned %d (%s) when %s failed%s", rc, ba_strerror(rc), kind,
                   in_parser ? " in json_loads" : "");
        }
        NCHECK(g_live == live, "%ld blocks live before, %ld after (%s failed)", live, g_live, kind);
        NCHECK(fx_count_entries(g_out) == 0, "%d files left in the output folder",
               fx_count_entries(g_out));
        if (t_checks_failed > 20) break;
    }
    snprintf(g_where, sizeof g_where, "%s%s", op->name, persist ? " (persistent)" : "");
    NCHECK(n == total + 1 || t_checks_failed > 20, "stopped at %ld of %ld", n, total);
    NCHECK(n > 1, "the loop ran once: the operation allocates nothing");
    NCHECK(benign == op->benign, "%d allocation(s) failed with success, %d expected", benign,
           op->benign);
    NCHECK(!op->parses || parser > 0, "no failure in json_loads");
    *parser_out = parser;
    return n;
}

static void nomem_test(const nomem_op *op, op_stats *st)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    snprintf(g_where, sizeof g_where, "%s, clean run", op->name);
    NCHECK(fx_count_entries(g_out) == 0, "the output folder is not empty");
    long live = g_live;
    arm(0, 0);
    int rc = op->run();
    long total = g_calls;
    disarm();
    NCHECK(rc == BA_OK, "returned %d (%s)", rc, ba_strerror(rc));
    if (rc != BA_OK) return;
    NCHECK(op->check() == 0, "wrong result");
    NCHECK(g_live == live, "%ld blocks live before, %ld after", live, g_live);
    NCHECK(total > 0, "no allocation");
    long parser = 0, parser_persist = 0;
    run_pass(op, 0, total, &parser);
    run_pass(op, 1, total, &parser_persist);
    st->parser = parser;
    NCHECK(!g_track_full, "the live-block set overflowed");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    st->points = total;
    st->secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
}

/* ---------------------------------------------------------------------- */
/*  frame lists                                                            */
/* ---------------------------------------------------------------------- */

static struct {
    int64_t *frames;
    size_t count;
} g_fr;

static const char FRAMES_SPEC[] = "1-10,20, 30-40:5,,-3--1,7";

static int frames_run(void)
{
    g_fr.frames = (int64_t *)&g_fr; /* must become NULL on failure */
    g_fr.count = 99;
    int rc = ba_parse_frames(FRAMES_SPEC, &g_fr.frames, &g_fr.count, 1000);
    if (rc != BA_OK) NCHECK(!g_fr.frames && !g_fr.count, "*frames or *count set on failure");
    return rc;
}

static int frames_check(void)
{
    static const int64_t want[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 30, 35, 40, -3, -2, -1, 7};
    int ok = g_fr.count == sizeof want / sizeof *want &&
             memcmp(g_fr.frames, want, sizeof want) == 0;
    free(g_fr.frames);
    g_fr.frames = NULL;
    return ok ? 0 : -1;
}

/* ---------------------------------------------------------------------- */
/*  labels: more than 100 ids, so that the table and the array grow        */
/* ---------------------------------------------------------------------- */

#define LH 40
#define LW 48
static uint16_t g_ids[LH][LW];
static size_t g_nids; /* distinct non-zero ids */
static ba_instances *g_inst;

static void labels_setup(void)
{
    static uint8_t seen[65536];
    for (int y = 0; y < LH; y++)
        for (int x = 0; x < LW; x++) {
            int bx = x / 3, by = y / 4; /* 16 x 10 blocks; some ids in two blocks */
            g_ids[y][x] = (bx + 2 * by) % 11 == 0 ? 0 : (uint16_t)(1 + (bx * 10 + by) * 37 % 151);
        }
    for (int y = 0; y < LH; y++)
        for (int x = 0; x < LW; x++)
            if (g_ids[y][x] && !seen[g_ids[y][x]]) {
                seen[g_ids[y][x]] = 1;
                g_nids++;
            }
}

static int labels_run(void)
{
    g_inst = (ba_instances *)&g_inst;
    int rc = ba_instances_find(&g_inst, g_ids, BA_DTYPE_U16, LH, LW, 0, 0, 1000);
    if (rc != BA_OK) NCHECK(!g_inst, "*out set on failure");
    return rc;
}

/* Every instance against the image: id order, area, box, its mask decoded
 * from the RLE, and the RLE through COCO's string and back. */
static int labels_check(void)
{
    int bad = g_nids <= 100 || ba_instances_count(g_inst) != g_nids;
    uint8_t mask[LH][LW];
    uint32_t back[LH * LW + 1];
    char str[(LH * LW + 1) * 7 + 1];
    for (size_t i = 0; i < ba_instances_count(g_inst) && !bad; i++) {
        uint32_t id = ba_instances_id(g_inst, i);
        if (i && id <= ba_instances_id(g_inst, i - 1)) bad = 1;
        uint64_t area = 0;
        uint32_t x0 = LW, y0 = LH, x1 = 0, y1 = 0;
        for (uint32_t y = 0; y < LH; y++)
            for (uint32_t x = 0; x < LW; x++)
                if (g_ids[y][x] == id) {
                    area++;
                    if (x < x0) x0 = x;
                    if (y < y0) y0 = y;
                    if (x > x1) x1 = x;
                    if (y > y1) y1 = y;
                }
        uint32_t box[4];
        ba_instances_box(g_inst, i, box);
        if (ba_instances_area(g_inst, i) != area || box[0] != x0 || box[1] != y0 ||
            box[2] != x1 - x0 + 1 || box[3] != y1 - y0 + 1)
            bad = 1;
        size_t n = 0, m = 0, len = 0;
        const uint32_t *rle = ba_instances_rle(g_inst, i, &n);
        memset(mask, 0, sizeof mask);
        if (!rle || ba_rle_decode(rle, n, LH, LW, &mask[0][0], 0, 1) != BA_OK) {
            bad = 1;
            break;
        }
        for (int y = 0; y < LH; y++)
            for (int x = 0; x < LW; x++)
                if (mask[y][x] != (g_ids[y][x] == id)) bad = 1;
        if (ba_rle_string_bound(n) > sizeof str ||
            ba_rle_to_string(rle, n, str, sizeof str, &len) != BA_OK ||
            ba_rle_from_string(str, len, back, LH * LW + 1, &m) != BA_OK || m != n ||
            memcmp(back, rle, n * sizeof *rle) != 0)
            bad = 1;
    }
    ba_instances_free(g_inst);
    g_inst = NULL;
    return bad ? -1 : 0;
}

/* ---------------------------------------------------------------------- */
/*  NPY, any file, PNG                                                     */
/* ---------------------------------------------------------------------- */

static float g_arr[3][5];

/* The .npy file at path holds g_arr (shape extra..., 3, 5 when lead > 0:
 * `lead` frames of it); the file is removed. */
static int check_npy_file(const char *path, int dtype, uint64_t lead)
{
    size_t size = 0;
    uint8_t *buf = fx_read_file(path, &size);
    unlink(path);
    ba_npy_info info;
    int bad = !buf || ba_npy_parse_header(buf, size, &info) != BA_OK || info.dtype != dtype;
    if (!bad && lead) {
        bad = info.ndim != 3 || info.shape[0] != lead || info.shape[1] != 3 || info.shape[2] != 5;
    } else if (!bad) {
        bad = info.ndim != 2 || info.shape[0] != 3 || info.shape[1] != 5;
    }
    uint64_t frames = lead ? lead : 1;
    if (!bad) bad = info.data_offset + frames * sizeof g_arr != size;
    for (uint64_t f = 0; f < frames && !bad; f++)
        bad = memcmp(buf + info.data_offset + f * sizeof g_arr, g_arr, sizeof g_arr) != 0;
    free(buf);
    return bad ? -1 : 0;
}

static int npy_save_run(void)
{
    const char *path = out_path("a.npy");
    static const uint64_t shape[2] = {3, 5};
    int rc = ba_npy_save(path, BA_DTYPE_F32, 2, shape, g_arr, sizeof g_arr, 0);
    return rc;
}

static int npy_save_check(void)
{
    const char *path = out_path("a.npy");
    int r = check_npy_file(path, BA_DTYPE_F32, 0);
    return r;
}

static const char META[] = "{\"frames\": 3, \"note\": \"out of memory\"}\n";

static int file_save_run(void)
{
    const char *path = out_path("meta.json");
    int rc = ba_file_save(path, META, strlen(META), 0);
    return rc;
}

static int file_save_check(void)
{
    const char *path = out_path("meta.json");
    size_t size = 0;
    uint8_t *buf = fx_read_file(path, &size);
    unlink(path);
    int bad = !buf || size != strlen(META) || memcmp(buf, META, size) != 0;
    free(buf);
    return bad ? -1 : 0;
}

#define PW 9
#define PH 7
static uint8_t g_rgba[PH][PW][4];
static uint8_t g_decoded[PH][PW][4];

static int png_save_run(void)
{
    const char *path = out_path("a.png");
    int rc = ba_png_save(path, &g_rgba[0][0][0], PW, PH, PW * 4, 4, 6, 0);
    return rc;
}

static int png_save_check(void)
{
    const char *path = out_path("a.png");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    uint32_t w = 0, h = 0;
    memset(g_decoded, 0, sizeof g_decoded);
    int bad = fd < 0 || ba_png_decode_rgba8_fd(fd, &g_decoded[0][0][0], PW * 4, sizeof g_decoded,
                                               &w, &h) != BA_OK;
    if (fd >= 0) close(fd);
    unlink(path);
    if (!bad) bad = w != PW || h != PH || memcmp(g_decoded, g_rgba, sizeof g_rgba) != 0;
    return bad ? -1 : 0;
}

static int png_decode_run(void)
{
    const char *path = in_path("in.png");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return BA_EIO;
    memset(g_decoded, 0, sizeof g_decoded);
    int rc = ba_png_decode_rgba8_fd(fd, &g_decoded[0][0][0], PW * 4, sizeof g_decoded, NULL, NULL);
    close(fd);
    return rc;
}

static int png_decode_check(void)
{
    return memcmp(g_decoded, g_rgba, sizeof g_rgba) == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------------- */
/*  NPZ writer and reader, stacked NPY                                     */
/* ---------------------------------------------------------------------- */

static const uint16_t g_u16[4] = {1, 2, 3, 65535};

static int npz_write_run(void)
{
    const char *path = out_path("a.npz"), *npy = in_path("in.npy"), *meta = in_path("meta.json");
    static const uint64_t shape_a[2] = {3, 5}, shape_b[1] = {4};
    ba_npz_writer *w = (ba_npz_writer *)&w;
    int rc = ba_npz_open(&w, path, 1, 0);
    if (rc != BA_OK) {
        NCHECK(!w, "*out set on failure");
    } else {
        rc = ba_npz_add_array(w, "a", BA_DTYPE_F32, 2, shape_a, g_arr, sizeof g_arr);
        if (rc == BA_OK) rc = ba_npz_add_array(w, "b", BA_DTYPE_U16, 1, shape_b, g_u16, sizeof g_u16);
        if (rc == BA_OK) rc = ba_npz_add_npy_file(w, "c", npy);
        if (rc == BA_OK) rc = ba_npz_add_file(w, "meta.json", meta);
        if (rc == BA_OK)
            rc = ba_npz_finish(w); /* frees w, also on failure */
        else
            ba_npz_abort(w);
    }
    return rc;
}

/* The archive at path holds a, b, c (= a) and meta.json. */
static int check_npz(const char *path)
{
    ba_npz_reader *r = NULL;
    int bad = ba_npz_read_open(&r, path) != BA_OK || ba_npz_count(r) != 4;
    static const char *const names[4] = {"a", "b", "c", "meta.json"};
    for (int i = 0; i < 4 && !bad; i++) {
        bad = !ba_npz_name(r, i) || strcmp(ba_npz_name(r, i), names[i]) != 0 ||
              ba_npz_is_array(r, i) != (i < 3);
        void *data = NULL;
        size_t size = 0;
        ba_npy_info info;
        if (bad) break;
        if (i == 3) {
            bad = ba_npz_read_bytes(r, i, &data, &size) != BA_OK || size != strlen(META) ||
                  memcmp(data, META, size) != 0;
        } else {
            const void *want = i == 1 ? (const void *)g_u16 : (const void *)g_arr;
            size_t nbytes = i == 1 ? sizeof g_u16 : sizeof g_arr;
            bad = ba_npz_read(r, i, &info, &data) != BA_OK || info.nbytes != nbytes ||
                  memcmp(data, want, nbytes) != 0;
        }
        free(data);
    }
    ba_npz_read_close(r);
    return bad ? -1 : 0;
}

static int npz_write_check(void)
{
    const char *path = out_path("a.npz");
    int r = check_npz(path);
    unlink(path);
    return r;
}

static struct {
    void *data, *bytes;
    size_t size;
    ba_npy_info info;
} g_rd;

static int npz_read_run(void)
{
    const char *path = in_path("in.npz");
    ba_npz_reader *r = (ba_npz_reader *)&r;
    int rc = ba_npz_read_open(&r, path);
    if (rc != BA_OK) {
        NCHECK(!r, "*out set on failure");
        return rc;
    }
    g_rd.data = g_rd.bytes = &g_rd;
    g_rd.size = 99;
    rc = ba_npz_read(r, 0, &g_rd.info, &g_rd.data);
    if (rc != BA_OK) NCHECK(!g_rd.data, "*data set on failure");
    if (rc == BA_OK) {
        rc = ba_npz_read_bytes(r, 3, &g_rd.bytes, &g_rd.size);
        if (rc != BA_OK) NCHECK(!g_rd.bytes && !g_rd.size, "*data or *size set on failure");
        if (rc != BA_OK) free(g_rd.data);
    }
    ba_npz_read_close(r);
    return rc;
}

static int npz_read_check(void)
{
    int bad = g_rd.info.nbytes != sizeof g_arr || g_rd.info.dtype != BA_DTYPE_F32 ||
              memcmp(g_rd.data, g_arr, sizeof g_arr) != 0 || g_rd.size != strlen(META) ||
              memcmp(g_rd.bytes, META, g_rd.size) != 0 || ((char *)g_rd.bytes)[g_rd.size];
    free(g_rd.data);
    free(g_rd.bytes);
    return bad ? -1 : 0;
}

#define STACK_FRAMES 5

static int stack_run(void)
{
    const char *path = out_path("stack.npy");
    static const uint64_t shape[2] = {3, 5};
    ba_npy_stack *st = (ba_npy_stack *)&st;
    int rc = ba_npy_stack_open(&st, path, BA_DTYPE_F32, 2, shape, 0);
    if (rc != BA_OK) {
        NCHECK(!st, "*out set on failure");
        return rc;
    }
    for (int i = 0; i < STACK_FRAMES && rc == BA_OK; i++)
        rc = ba_npy_stack_append(st, g_arr, sizeof g_arr);
    if (rc != BA_OK) {
        ba_npy_stack_abort(st);
        return rc;
    }
    return ba_npy_stack_finish(st); /* frees st, also on failure */
}

static int stack_check(void)
{
    const char *path = out_path("stack.npy");
    int r = check_npy_file(path, BA_DTYPE_F32, STACK_FRAMES);
    return r;
}

/* ---------------------------------------------------------------------- */
/*  display, EXR, ring                                                     */
/* ---------------------------------------------------------------------- */

#define DH 70 /* more than one block of 64 rows: BA_DITHER_SINES's two tables */
#define DW 6
static float g_disp_src[DH][DW][4];
static uint8_t g_disp_out[2][DH][DW][4], g_disp_want[2][DH][DW][4];
static int g_disp_have_want;

static int display_run(void)
{
    static const int noise[2] = {BA_DITHER_SINES, BA_DITHER_HASH};
    int rc = BA_OK;
    for (int k = 0; k < 2 && rc == BA_OK; k++) {
        ba_display *d = (ba_display *)&d;
        rc = ba_display_new(&d, DH, DW, 1.0f, noise[k]);
        if (rc != BA_OK) {
            NCHECK(!d, "*out set on failure");
            break;
        }
        /* partial alpha in the rows: their straightened copy is allocated */
        rc = ba_display_rows(d, &g_disp_out[k][0][0][0], &g_disp_src[0][0][0], 0, DH);
        ba_display_free(d);
    }
    return rc;
}

static int display_check(void)
{
    if (!g_disp_have_want) { /* the clean run's bytes are the reference */
        memcpy(g_disp_want, g_disp_out, sizeof g_disp_out);
        g_disp_have_want = 1;
    }
    int bad = memcmp(g_disp_out, g_disp_want, sizeof g_disp_out) != 0;
    memset(g_disp_out, 0, sizeof g_disp_out);
    return bad ? -1 : 0;
}

#define EW 13
#define EH 11
static uint8_t *g_exr_file;
static size_t g_exr_size;
static float g_exr_out[EH][EW][3];

static int exr_run(void)
{
    ba_exr *e = (ba_exr *)&e;
    int rc = ba_exr_open_memory(&e, g_exr_file, g_exr_size);
    if (rc != BA_OK) {
        NCHECK(!e, "*out set on failure");
        return rc;
    }
    /* two of four HALF channels (the decoder's scratch row), one twice */
    static const char *const names[3] = {"R", "B", "R"};
    memset(g_exr_out, 0, sizeof g_exr_out);
    rc = ba_exr_read(e, names, 3, &g_exr_out[0][0][0], EW * 3 * sizeof(float), sizeof g_exr_out);
    ba_exr_close(e);
    return rc;
}

static int exr_check(void)
{
    static const int chan[3] = {3, 1, 3}; /* "A", "B", "G", "R" in file order: R is 3 */
    int bad = 0;
    for (int y = 0; y < EH; y++)
        for (int x = 0; x < EW; x++)
            for (int c = 0; c < 3; c++) {
                float want = fx_expected(EXR_PIXEL_HALF, fx_pattern(chan[c], EXR_PIXEL_HALF, x, y));
                if (!fx_same_float(g_exr_out[y][x][c], want)) bad = 1;
            }
    return bad ? -1 : 0;
}

static int ring_run(void)
{
    ba_ring *r = (ba_ring *)&r, *r2 = (ba_ring *)&r2;
    int rc = ba_ring_create(&r, 2, 4096);
    if (rc != BA_OK) {
        NCHECK(!r, "*out set on failure");
        return rc;
    }
    rc = ba_ring_attach(&r2, ba_ring_fd(r));
    if (rc != BA_OK) NCHECK(!r2, "*out set on failure");
    if (rc == BA_OK) {
        memcpy(ba_ring_slot(r, 1), "hello", 6);
        if (memcmp(ba_ring_slot(r2, 1), "hello", 6) != 0) rc = BA_EFORMAT;
        ba_ring_close(r2);
    }
    ba_ring_close(r);
    return rc;
}

static int ring_check(void)
{
    return 0; /* checked in ring_run */
}

/* ---------------------------------------------------------------------- */
/*  the worker protocol: a frame reply, per-frame params (jansson's        */
/*  allocations fail too)                                                  */
/* ---------------------------------------------------------------------- */

static worker g_w;
static ba_err g_e;
static json_t *g_reply;
static held *g_held;

static const char REPLY[] =
    "{\"ok\":true,\"job\":1,\"parts\":[{\"slot\":0,\"size\":4096,\"arrays\":["
    "{\"name\":\"rgba\",\"dtype\":\"<f4\",\"shape\":[8,8,4],\"offset\":0,\"nbytes\":1024},"
    "{\"name\":\"object_index\",\"dtype\":\"<i4\",\"shape\":[8,8],\"offset\":1024,\"nbytes\":256}"
    "]}],\"meta\":{\"frame\":3,\"camera\":{\"lens\":50.0,\"matrix\":[1,2,3]}}}";

/* The error sink keeps the error's JSON until the next error or until the
 * renderer is closed: that is the renderer's to free, not a leak. */
static void clear_err(void)
{
    json_decref(g_e.json);
    g_e.json = NULL;
    g_e.msg[0] = '\0';
}

static int reply_run(void)
{
    task t = {1, 0, NULL, NULL, 0};
    job jb = {1, &t, 0};
    g_held = (held *)&g_held;
    int rc = ba_take_frame(&g_w, g_reply, NULL, 0, NULL, 0, &jb, &g_held, &g_e);
    if (rc != BA_OK) NCHECK(!g_held, "*out set on failure");
    clear_err();
    return rc;
}

static int reply_check(void)
{
    const ba_frame *f = &g_held->frame;
    int bad = f->narrays != 2 || strcmp(f->arrays[0].name, "rgba") != 0 ||
              strcmp(f->arrays[1].name, "object_index") != 0 || f->arrays[1].nbytes != 256 ||
              f->frame != 3 || !f->meta_json;
    if (!bad) {
        json_error_t jerr;
        json_t *meta = json_loads(f->meta_json, 0, &jerr);
        bad = !meta || json_integer_value(json_object_get(meta, "frame")) != 3 ||
              !json_is_integer(json_object_get(meta, "index")) ||
              !json_is_integer(json_object_get(meta, "worker")) ||
              !json_is_object(json_object_get(meta, "camera"));
        json_decref(meta);
    }
    ba_free_held(g_held);
    g_held = NULL;
    return bad ? -1 : 0;
}

static json_t *g_params, *g_user;
static const char *g_params_json;

static int params_run(void)
{
    g_params = g_user = (json_t *)&g_params;
    int rc = ba_split_params(g_params_json, &g_params, &g_user, &g_e);
    if (rc != BA_OK) NCHECK(!g_params && !g_user, "*params or *user set on failure");
    clear_err();
    return rc;
}

static int params_check(void)
{
    if (!g_params_json) { /* none: two empty objects */
        int bad = json_object_size(g_params) != 0 || json_object_size(g_user) != 0;
        json_decref(g_params);
        json_decref(g_user);
        return bad ? -1 : 0;
    }
    int bad = json_object_size(g_params) != 3 || json_object_size(g_user) != 1 ||
              json_integer_value(json_object_get(g_params, "frame")) != 12 ||
              json_array_size(json_object_get(g_params, "seed")) != 2 ||
              !json_is_object(json_object_get(g_user, "light"));
    json_decref(g_params);
    json_decref(g_user);
    g_params = g_user = NULL;
    return bad ? -1 : 0;
}

static int params_run_text(void)
{
    g_params_json = "{\"frame\": 12, \"samples\": 8, \"seed\": [4, 5], "
                    "\"light\": {\"energy\": 2.5, \"color\": [1, 0.5, 0]}}";
    return params_run();
}

static int params_run_none(void)
{
    g_params_json = NULL;
    return params_run();
}

/* ---------------------------------------------------------------------- */

static const nomem_op OPS[] = {
    {"ba_parse_frames", frames_run, frames_check, 0, 0},
    {"ba_instances_find", labels_run, labels_check, 0, 0},
    {"ba_npy_save", npy_save_run, npy_save_check, 1, 0},
    {"ba_file_save", file_save_run, file_save_check, 1, 0},
    {"ba_png_save", png_save_run, png_save_check, 1, 0},
    {"ba_png_decode_rgba8_fd", png_decode_run, png_decode_check, 0, 0},
    {"npz writer", npz_write_run, npz_write_check, 1, 0},
    {"npz reader", npz_read_run, npz_read_check, 0, 0},
    {"npy stack", stack_run, stack_check, 1, 0},
    {"display", display_run, display_check, 0, 0},
    {"EXR open + read", exr_run, exr_check, 0, 0},
    {"ring create + attach", ring_run, ring_check, 0, 0},
    {"ba_take_frame", reply_run, reply_check, 0, 0},
    {"ba_split_params", params_run_text, params_check, 0, 1},
    {"ba_split_params(NULL)", params_run_none, params_check, 0, 0},
};
#define NOPS (sizeof OPS / sizeof *OPS)
static op_stats g_stats[NOPS];
static size_t g_op;

static void test_op(void)
{
    nomem_test(&OPS[g_op], &g_stats[g_op]);
}

/* The inputs: made before any operation, with nothing failing. */
static int setup(void)
{
    json_set_alloc_funcs(json_alloc, json_release);
    g_dir = fx_tempdir();
    if (!g_dir) return -1;
    g_in = fx_join(g_dir, "in");
    g_out = fx_join(g_dir, "out");
    if (!g_in || !g_out || mkdir(g_in, 0700) != 0 || mkdir(g_out, 0700) != 0) return -1;

    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 5; j++) g_arr[i][j] = (float)(i * 5 + j) * 0.25f - 1.0f;
    labels_setup();
    for (int y = 0; y < PH; y++)
        for (int x = 0; x < PW; x++)
            for (int c = 0; c < 4; c++) g_rgba[y][x][c] = (uint8_t)(y * 31 + x * 7 + c * 50);
    for (int y = 0; y < DH; y++)
        for (int x = 0; x < DW; x++) {
            float *p = g_disp_src[y][x];
            p[0] = (float)x / DW;
            p[1] = (float)y / DH;
            p[2] = 0.5f;
            p[3] = (x + y) % 3 ? 1.0f : 0.5f;
        }

    static const uint64_t shape[2] = {3, 5};
    int err = ba_npy_save(in_path("in.npy"), BA_DTYPE_F32, 2, shape, g_arr, sizeof g_arr, 0);
    if (!err) err = ba_file_save(in_path("meta.json"), META, strlen(META), 0);
    if (!err) err = ba_png_save(in_path("in.png"), &g_rgba[0][0][0], PW, PH, PW * 4, 4, -1, 0);
    /* the reader's archive: the writer's own, moved to the inputs */
    if (!err) err = npz_write_run();
    if (!err && rename(out_path("a.npz"), in_path("in.npz")) != 0) err = BA_EIO;
    if (!err) {
        const char *p = in_path("in.exr");
        static const struct fx_chan chans[4] = {
            {"A", EXR_PIXEL_HALF}, {"B", EXR_PIXEL_HALF}, {"G", EXR_PIXEL_HALF},
            {"R", EXR_PIXEL_HALF}};
        struct fx_exr spec = {0, 0, EW, EH, EXR_COMPRESSION_ZIP, 4, chans,
                              EXR_STORAGE_SCANLINE, 0};
        if (fx_write_exr(p, &spec) != 0 || !(g_exr_file = fx_read_file(p, &g_exr_size)))
            err = BA_EIO;
    }
    if (!err) err = ba_ring_create(&g_w.ring, 1, 4096);
    g_w.sock = g_w.out = -1;
    if (!err) {
        json_error_t jerr;
        g_reply = json_loads(REPLY, 0, &jerr);
        if (!g_reply) err = BA_EFORMAT;
    }
    if (err) fprintf(stderr, "setup: %s\n", ba_strerror(err));
    return err ? -1 : 0;
}

int main(void)
{
    int ok = setup() == 0;
    for (g_op = 0; ok && g_op < NOPS; g_op++) t_run(OPS[g_op].name, test_op);
    for (size_t i = 0; ok && i < NOPS; i++) {
        printf("%-24s %3ld allocation points, %.3f s", OPS[i].name, g_stats[i].points,
               g_stats[i].secs);
        if (g_stats[i].parser) printf(" (%ld in json_loads: BA_EINVAL)", g_stats[i].parser);
        printf("\n");
    }
    if (ok) printf("(ba_instances_find: an image of %zu ids)\n", g_nids);
    json_decref(g_reply);
    ba_ring_close(g_w.ring);
    free(g_exr_file);
    if (g_in) fx_rmdir(g_in);
    if (g_out) fx_rmdir(g_out); /* and whatever a failed check left there */
    if (g_dir) rmdir(g_dir);
    free(g_in);
    free(g_out);
    free(g_dir);
    return ok ? t_summary() : 1;
}
