/* shards.c — a dataset written as WebDataset shards, resumable
 * (docs/datasets.md; the API in blendarray.h, "Sharded datasets").
 *
 * The tar format is written here, not through libarchive: POSIX ustar
 * (pax's "ustar" interchange format, IEEE 1003.1-2008), 512-byte headers,
 * each member's data padded to 512 bytes, two zero blocks at the end, and
 * nothing that depends on when or by whom it was written (mtime 0, mode
 * 0644, uid and gid 0, no user or group names): a shard's bytes depend only
 * on its samples, so a resumed dataset equals an uninterrupted one byte for
 * byte. (libarchive-dev could not be installed on the project's machines;
 * the subset a writer of plain files needs is small.) Member names hold no
 * '/' (a pass name's '/' becomes '.'), so ustar's prefix field cannot make
 * them longer: a name over 100 bytes is refused.
 *
 * Commit protocol of a shard: its members are appended to a temporary file
 * in DIR (".shard-NNNNNN.tar.PID-XXXXXX"); when it is full, its COCO file
 * (if any) is written (temporary name, rename), then the tar is ended,
 * fsync'd and renamed to shard-NNNNNN.tar, then one line is appended to
 * DIR/shards.jsonl and fsync'd: that line is the commit point. At open with
 * resume, what the index does not list is removed, and every listed shard
 * is read back (size, crc32, and a walk over its tar headers).
 *
 * Memory stays flat in the number of samples: what is done is kept as
 * ranges of indices, one per contiguous run of each shard. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h> /* kill(pid, 0): is a temporary file's writer alive */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h> /* flock */
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <zlib.h> /* crc32_z: the index's checksum of each shard */

#include "internal.h"

enum { ST_NEW, ST_OPEN, ST_FAILED, ST_DONE };

#define FORMAT_NAME "blendarray-shards"
#define FORMAT_VERSION 1
#define BLOCK 512
#define OUT_BUF (256 * 1024)          /* the shard's write buffer */
#define READ_CHUNK (1024 * 1024)      /* verifying a shard: a multiple of BLOCK */
#define TAR_SIZE_LIMIT ((uint64_t)1 << 33) /* ustar's 11 octal digits: < 8 GiB */
#define NAME_MAX_USTAR 100
#define DATASET_JSON_MAX ((size_t)64 << 20)
#define DISPLAY_PNG_LEVEL 1           /* the display member's PNG: zlib's fastest level, and
                                         one filter (Sub): a few ms for 640x480 */
#define MAX_NAME_TAIL 64              /* the longest name made in DIR */
#define RESUME_HINT                                                                         \
    "the dataset is damaged; remove it and the lines after it from shards.jsonl, or start a " \
    "new folder"

/* The metadata keys that are not a function of (seed, index), left out of a
 * sample's .json member: which worker rendered it, and how long each step
 * took (python/blendarray/blender/__init__.py: render(), _derive(); src/reply.c
 * adds "worker"). Everything else a frame's meta holds is kept. */
static const char *const DROPPED_META[] = {"worker", "render_seconds", "capture_seconds",
                                           "display_seconds", "annotation_seconds"};

/* [lo, hi): indices that shard `shard` holds */
typedef struct {
    int64_t lo, hi;
    uint64_t shard;
} span;

typedef struct {
    span *v;
    size_t n, cap;
} spans;

struct ba_shard_writer {
    int state;
    int64_t samples_per_shard, shard_bytes;
    int coco, resume;
    char *dir;
    int lock_fd, index_fd;
    uint64_t index_size; /* bytes of shards.jsonl: its complete lines */
    spans done;          /* every complete shard's spans, sorted by lo, disjoint */
    uint64_t count[4];   /* enum ba_shards_count */
    /* the shard being written */
    uint64_t shard;      /* its number: the complete shards before it */
    int fd;              /* its temporary file; -1: none open */
    char *tmp;
    spans pending;       /* its samples, in the order added */
    uint64_t bytes;      /* its members' bytes (headers, data, padding) */
    uint64_t written;    /* of those, handed to write() (the rest is in `out`) */
    uLong crc;           /* of the bytes written so far */
    ba_coco_writer *cw;  /* its COCO file, with BA_SHARDS_COCO */
    uint8_t *out;        /* write buffer (OUT_BUF bytes) */
    size_t out_len;
    uint8_t *png;        /* the display member, encoded */
    size_t png_cap;
    char msg[2 * PATH_MAX + 256];
};

static int fail(ba_shard_writer *w, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(ba_shard_writer *w, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->msg, sizeof w->msg, fmt, ap);
    va_end(ap);
    return err;
}

static void path_in(const ba_shard_writer *w, char *buf, size_t cap, const char *name)
{
    /* fits: DIR's length was checked at open, and the callers' names are short
     * (a longer entry of a listing is skipped) */
    if ((size_t)snprintf(buf, cap, "%s/%s", w->dir, name) >= cap) buf[0] = '\0';
}

static void shard_name(char *buf, size_t cap, uint64_t shard, const char *ext)
{
    snprintf(buf, cap, "shard-%06" PRIu64 "%s", shard, ext);
}

/* ---------------------------------------------------------------------- */
/*  index ranges                                                           */
/* ---------------------------------------------------------------------- */

/* the span of s (sorted, disjoint) holding index, or NULL */
static const span *spans_find(const spans *s, int64_t index)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) { /* the first span with lo > index */
        size_t mid = lo + (hi - lo) / 2;
        if (s->v[mid].lo <= index) lo = mid + 1;
        else hi = mid;
    }
    return lo > 0 && index < s->v[lo - 1].hi ? &s->v[lo - 1] : NULL;
}

static int spans_grow(spans *s)
{
    if (s->n < s->cap) return BA_OK;
    size_t cap = s->cap ? s->cap * 2 : 16;
    span *v = realloc(s->v, cap * sizeof *v);
    if (!v) return BA_ENOMEM;
    s->v = v;
    s->cap = cap;
    return BA_OK;
}

/* Insert x into sorted, disjoint s. BA_EEXIST (and *clash, the span it
 * overlaps) when it overlaps one; BA_ENOMEM. */
static int spans_insert(spans *s, span x, span *clash)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->v[mid].lo < x.lo) lo = mid + 1;
        else hi = mid;
    }
    if (lo > 0 && s->v[lo - 1].hi > x.lo) return *clash = s->v[lo - 1], BA_EEXIST;
    if (lo < s->n && s->v[lo].lo < x.hi) return *clash = s->v[lo], BA_EEXIST;
    if (spans_grow(s)) return BA_ENOMEM;
    memmove(&s->v[lo + 1], &s->v[lo], (s->n - lo) * sizeof *s->v);
    s->v[lo] = x;
    s->n++;
    return BA_OK;
}

/* index at the end of unsorted s (the shard being written): the last span
 * grows when index follows it */
static int spans_append(spans *s, int64_t index, uint64_t shard)
{
    if (s->n && s->v[s->n - 1].hi == index) {
        s->v[s->n - 1].hi++;
        return BA_OK;
    }
    if (spans_grow(s)) return BA_ENOMEM;
    s->v[s->n++] = (span){index, index + 1, shard};
    return BA_OK;
}

/* ---------------------------------------------------------------------- */
/*  the writer                                                             */
/* ---------------------------------------------------------------------- */

int ba_shards_new(ba_shard_writer **out)
{
    if (!out) return BA_EINVAL;
    ba_shard_writer *w = calloc(1, sizeof *w);
    if (!w) {
        *out = NULL;
        return BA_ENOMEM;
    }
    w->samples_per_shard = 1000;
    w->lock_fd = w->index_fd = w->fd = -1;
    *out = w;
    return BA_OK;
}

int ba_shards_set_int(ba_shard_writer *w, int option, int64_t value)
{
    if (!w) return BA_EINVAL;
    if (w->state != ST_NEW) return fail(w, BA_ESTATE, "options are set before ba_shards_open()");
    switch (option) {
    case BA_SHARDS_SAMPLES:
        if (value < 1 || value > INT32_MAX)
            return fail(w, BA_EINVAL, "samples per shard: %" PRId64 " is not in 1..%d", value,
                        INT32_MAX);
        w->samples_per_shard = value;
        return BA_OK;
    case BA_SHARDS_BYTES:
        if (value < 0)
            return fail(w, BA_EINVAL, "bytes per shard: %" PRId64 " is not in 0..%" PRId64
                        " (0: no byte limit)", value, INT64_MAX);
        w->shard_bytes = value;
        return BA_OK;
    case BA_SHARDS_COCO:
    case BA_SHARDS_RESUME:
        if (value != 0 && value != 1)
            return fail(w, BA_EINVAL, "%s: %" PRId64 " is not 0 or 1",
                        option == BA_SHARDS_COCO ? "coco" : "resume", value);
        if (option == BA_SHARDS_COCO) w->coco = (int)value;
        else w->resume = (int)value;
        return BA_OK;
    default:
        return fail(w, BA_EINVAL, "unknown shard option %d", option);
    }
}

/* The shard being written goes: its temporary file, its COCO records. */
static void drop_shard(ba_shard_writer *w)
{
    if (w->fd >= 0) close(w->fd);
    w->fd = -1;
    if (w->tmp) unlink(w->tmp);
    free(w->tmp);
    w->tmp = NULL;
    ba_coco_free(w->cw);
    w->cw = NULL;
    w->pending.n = 0;
    w->bytes = w->written = 0;
    w->out_len = 0;
    w->count[BA_SHARDS_PENDING] = 0;
}

/* A write that failed: the shard being written is removed, the writer takes
 * nothing more. what: what failed (errno's words follow); NULL: the message
 * is set. */
static int broken(ba_shard_writer *w, int err, const char *what)
{
    int e = errno;
    drop_shard(w);
    w->state = ST_FAILED;
    if (!what) return err;
    char shard[32];
    shard_name(shard, sizeof shard, w->shard, ".tar");
    return fail(w, err, "%s: %s: %s%s%s; %s was not completed (its samples are not done) and "
                "the complete shards are intact: %s, then resume (--resume / resume=True)",
                w->dir, what, ba_strerror(err), e && err != BA_ENOMEM ? ": " : "",
                e && err != BA_ENOMEM ? strerror(e) : "", shard,
                err == BA_ENOMEM ? "free memory" : "make room or fix the cause");
}

/* ---- writing a shard -------------------------------------------------- */

/* n bytes written at w->written: their writeback starts now (Linux), so that
 * the fsync that completes the shard waits for its last bytes only, not for
 * 100 MB while the workers' rings fill up. Best effort: fsync reports errors. */
static void written(ba_shard_writer *w, size_t n)
{
#ifdef SYNC_FILE_RANGE_WRITE
    (void)sync_file_range(w->fd, (off_t)w->written, (off_t)n, SYNC_FILE_RANGE_WRITE);
#endif
    w->written += n;
}

static int out_flush(ba_shard_writer *w)
{
    if (w->out_len && ba_atomic_write_all(w->fd, w->out, w->out_len) != 0) return BA_EIO;
    written(w, w->out_len);
    w->out_len = 0;
    return BA_OK;
}

/* n bytes into the shard (through the buffer, or straight when large) */
static int out_write(ba_shard_writer *w, const void *data, size_t n)
{
    if (n == 0) return BA_OK;
    w->crc = crc32_z(w->crc, data, n);
    w->bytes += n;
    if (n >= OUT_BUF / 2) {
        if (out_flush(w)) return BA_EIO;
        if (ba_atomic_write_all(w->fd, data, n)) return BA_EIO;
        written(w, n);
        return BA_OK;
    }
    if (w->out_len + n > OUT_BUF && out_flush(w)) return BA_EIO;
    memcpy(w->out + w->out_len, data, n);
    w->out_len += n;
    return BA_OK;
}

/* width - 1 octal digits of v, and a NUL */
static void octal(uint8_t *field, size_t width, uint64_t v)
{
    field[width - 1] = '\0';
    for (size_t i = width - 1; i-- > 0; v >>= 3) field[i] = (uint8_t)('0' + (v & 7));
}

/* A ustar header of a regular file `name` (<= 100 bytes) of `size` bytes
 * (< 8 GiB), owned by nobody, dated 1970. */
static void tar_header(uint8_t h[BLOCK], const char *name, uint64_t size)
{
    memset(h, 0, BLOCK);
    memcpy(h, name, strlen(name));    /* name[100]: NUL-terminated when shorter */
    octal(h + 100, 8, 0644);          /* mode */
    octal(h + 108, 8, 0);             /* uid */
    octal(h + 116, 8, 0);             /* gid */
    octal(h + 124, 12, size);         /* size */
    octal(h + 136, 12, 0);            /* mtime */
    memset(h + 148, ' ', 8);          /* chksum: spaces while summing */
    h[156] = '0';                     /* typeflag: a regular file */
    memcpy(h + 257, "ustar", 6);      /* magic, NUL-terminated */
    memcpy(h + 263, "00", 2);         /* version */
    octal(h + 329, 8, 0);             /* devmajor */
    octal(h + 337, 8, 0);             /* devminor */
    unsigned sum = 0;
    for (int i = 0; i < BLOCK; i++) sum += h[i];
    octal(h + 148, 7, sum);           /* six digits, NUL, and the space left there */
}

/* One member: header, `a` then `b` as its data, padding. */
static int write_member(ba_shard_writer *w, const char *name, const void *a, size_t na,
                        const void *b, size_t nb)
{
    static const uint8_t zeros[BLOCK];
    uint8_t h[BLOCK];
    tar_header(h, name, (uint64_t)na + nb);
    int err = out_write(w, h, BLOCK);
    if (!err) err = out_write(w, a, na);
    if (!err) err = out_write(w, b, nb);
    size_t pad = (BLOCK - (na + nb) % BLOCK) % BLOCK;
    if (!err) err = out_write(w, zeros, pad);
    return err;
}

/* the temporary file of shard w->shard: ".shard-NNNNNN.tar.PID-XXXXXX", mode
 * 0666 less the umask as any file the library writes */
static int open_shard(ba_shard_writer *w)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    char name[64], path[PATH_MAX];
    shard_name(name, sizeof name, w->shard, ".tar");
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 16) ^
                 (uint64_t)(uintptr_t)w;
    if (!x) x = 0x9E3779B97F4A7C15ull;
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        char suffix[7];
        for (int i = 0; i < 6; i++) {
            x ^= x << 13; /* xorshift64 */
            x ^= x >> 7;
            x ^= x << 17;
            suffix[i] = alphabet[x % (sizeof alphabet - 1)];
        }
        suffix[6] = '\0';
        snprintf(path, sizeof path, "%s/.%s.%d-%s", w->dir, name, (int)getpid(), suffix);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST && errno != EINTR) break;
    }
    if (fd < 0) return broken(w, BA_EIO, "cannot create a shard's temporary file");
    w->tmp = strdup(path);
    if (!w->tmp) {
        close(fd);
        unlink(path);
        return broken(w, BA_ENOMEM, "out of memory");
    }
    w->fd = fd;
    w->crc = crc32_z(0L, Z_NULL, 0);
    w->bytes = w->written = 0;
    w->out_len = 0;
    w->pending.n = 0;
    if (w->coco) {
        char coco[64], cpath[PATH_MAX];
        shard_name(coco, sizeof coco, w->shard, ".coco.json");
        path_in(w, cpath, sizeof cpath, coco);
        int err = ba_coco_new(&w->cw);
        if (!err) err = ba_internal_coco_open_file(w->cw, cpath);
        if (err) return broken(w, err, "cannot start a shard's COCO file");
    }
    return BA_OK;
}

/* The shard is full (or the dataset ends): end it, COCO file, fsync, rename,
 * index line. */
static int commit_shard(ba_shard_writer *w)
{
    static const uint8_t end[2 * BLOCK];
    char name[64], path[PATH_MAX], coco[64], cpath[PATH_MAX];
    shard_name(name, sizeof name, w->shard, ".tar");
    shard_name(coco, sizeof coco, w->shard, ".coco.json");
    path_in(w, path, sizeof path, name);
    path_in(w, cpath, sizeof cpath, coco);
    errno = 0;
    int err = out_write(w, end, sizeof end);
    if (!err) err = out_flush(w);
    if (err) return broken(w, err, "cannot write a shard");
    if (w->cw) {
        err = ba_coco_finish(w->cw, NULL);
        if (err) {
            char m[PATH_MAX + 256];
            snprintf(m, sizeof m, "cannot write %s (%s)", coco, ba_coco_message(w->cw));
            return broken(w, err, m);
        }
    }
    int fd = w->fd;
    w->fd = -1;
    err = ba_atomic_commit(fd, w->tmp, path, 0);
    if (err) {
        if (w->cw) unlink(cpath);
        return broken(w, err, err == BA_EEXIST ? "a shard file appeared under its name meanwhile"
                                               : "cannot complete a shard (fsync, rename)");
    }
    free(w->tmp);
    w->tmp = NULL;

    /* the commit point: its line in the index */
    json_t *ranges = json_array();
    for (size_t i = 0; ranges && i < w->pending.n; i++)
        if (json_array_append_new(ranges, json_pack("[I, I]", (json_int_t)w->pending.v[i].lo,
                                                    (json_int_t)w->pending.v[i].hi)) != 0) {
            json_decref(ranges);
            ranges = NULL;
        }
    uint64_t samples = w->count[BA_SHARDS_PENDING];
    json_t *line = ranges ? json_pack("{s:s, s:I, s:o, s:I, s:I}", "shard", name, "samples",
                                      (json_int_t)samples, "indices", ranges, "bytes",
                                      (json_int_t)w->bytes, "crc32", (json_int_t)w->crc)
                          : NULL;
    if (line && w->cw && json_object_set_new(line, "coco", json_string(coco)) != 0) {
        json_decref(line);
        line = NULL;
    }
    char *text = line ? json_dumps(line, 0) : NULL; /* one line: no indent */
    json_decref(line);
    size_t len = text ? strlen(text) : 0;
    if (text) text[len] = '\n'; /* over the NUL: written as len + 1 bytes */
    errno = 0;
    if (!text) err = BA_ENOMEM;
    else if (ba_atomic_write_all(w->index_fd, text, len + 1) != 0 || fsync(w->index_fd) != 0)
        err = BA_EIO;
    free(text);
    if (err) {
        int e = errno;
        if (ftruncate(w->index_fd, (off_t)w->index_size) == 0) fsync(w->index_fd);
        unlink(path); /* not committed: not complete */
        if (w->cw) unlink(cpath);
        errno = e;
        return broken(w, err, "cannot append to shards.jsonl");
    }
    w->index_size += len + 1;

    for (size_t i = 0; i < w->pending.n; i++) {
        span clash;
        err = spans_insert(&w->done, w->pending.v[i], &clash);
        if (err == BA_ENOMEM) return broken(w, err, "out of memory");
        /* BA_EEXIST cannot be: add() refuses an index that is done */
    }
    ba_coco_free(w->cw);
    w->cw = NULL;
    w->count[BA_SHARDS_DONE] += samples;
    w->count[BA_SHARDS_COMPLETE]++;
    w->count[BA_SHARDS_WRITTEN]++;
    w->count[BA_SHARDS_PENDING] = 0;
    w->pending.n = 0;
    w->shard++;
    return BA_OK;
}

/* ---- one sample ------------------------------------------------------- */

/* "<key>.<name, '/' as '.'>.<ext>" into buf (cap > NAME_MAX_USTAR), or why not */
static const char *member_name(char *buf, size_t cap, const char *key, const char *name,
                               const char *ext)
{
    size_t n = strlen(name);
    if (n == 0) return "an empty name";
    if (name[0] == '/' || name[n - 1] == '/' || strstr(name, "//"))
        return "an empty part between '/'";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f) return "a control character in the name";
        if (c == '\\') return "a backslash in the name";
    }
    if (strlen(key) + 1 + n + 1 + strlen(ext) > NAME_MAX_USTAR) return NULL; /* said apart */
    if ((size_t)snprintf(buf, cap, "%s.%s.%s", key, name, ext) >= cap) return NULL;
    for (char *p = buf + strlen(key) + 1; *p; p++)
        if (*p == '/') *p = '.';
    return "";
}

static int ascii_caseeq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
        if (x >= 'A' && x <= 'Z') x += 32;
        if (y >= 'A' && y <= 'Z') y += 32;
        if (x != y) return 0;
    }
    return *a == *b;
}

/* The metadata as written: parsed, the keys that are not a function of
 * (seed, index) left out, compact with sorted keys. *meta: the parsed
 * object (all of it, for COCO). */
static int sample_json(ba_shard_writer *w, int64_t index, const char *meta_json, json_t **meta,
                       char **text)
{
    json_error_t jerr;
    *text = NULL;
    *meta = json_loads(meta_json, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(*meta)) {
        int parsed = *meta != NULL;
        json_decref(*meta);
        *meta = NULL;
        return fail(w, BA_EINVAL, "sample %" PRId64 ": its metadata is not a JSON object%s%s",
                    index, parsed ? "" : ": ", parsed ? "" : jerr.text);
    }
    json_t *kept = json_copy(*meta);
    for (size_t i = 0; kept && i < sizeof DROPPED_META / sizeof *DROPPED_META; i++)
        json_object_del(kept, DROPPED_META[i]); /* -1 when absent */
    *text = kept ? json_dumps(kept, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(kept);
    return *text ? BA_OK : fail(w, BA_ENOMEM, "out of memory");
}

/* What is wrong with array a of sample `index`, or NULL; *member: its name */
static const char *bad_array(const ba_frame_array *a, const char *key, char *member, size_t cap,
                             size_t *npy_len, char *npy, size_t npy_cap, int *too_big)
{
    *too_big = 0;
    if (!a->name) return "has no name";
    int display = strcmp(a->name, "display") == 0;
    const char *why = member_name(member, cap, key, a->name, display ? "png" : "npy");
    if (!why) return "makes a member name over ustar's 100 bytes: give it a shorter name";
    if (*why) return why;
    if (ba_dtype_size(a->dtype) == 0) return "has an unknown dtype";
    if (a->ndim < 1 || a->ndim > 3) return "is not 1-, 2- or 3-dimensional";
    size_t nbytes;
    if (ba_internal_array_bytes(a->dtype, a->ndim, a->shape, &nbytes) != BA_OK) {
        *too_big = 1;
        return "is too large to be stored";
    }
    if (nbytes != a->nbytes) return "has nbytes other than its shape's";
    if (nbytes && !a->data) return "has no data";
    if (display) {
        if (a->dtype != BA_DTYPE_U8 || a->ndim != 3 || a->shape[2] != 4 || a->shape[0] == 0 ||
            a->shape[1] == 0 || a->shape[0] > INT32_MAX || a->shape[1] > INT32_MAX)
            return "(the display image) is not an (H, W, 4) uint8 image";
        *npy_len = 0;
        return NULL;
    }
    if (ba_npy_header(npy, npy_cap, npy_len, a->dtype, a->ndim, a->shape) != BA_OK)
        return "has no NPY header"; /* cannot be: 256 bytes hold any */
    if ((uint64_t)nbytes + *npy_len >= TAR_SIZE_LIMIT) {
        *too_big = 1;
        return "is 8 GiB or more, over ustar's limit for a member";
    }
    return NULL;
}

typedef struct {
    char name[NAME_MAX_USTAR + 8];
    char npy[256];
    size_t npy_len;
} member_plan;

/* A call that needs an open writer, on one that is not: BA_ESTATE, saying why. */
static int not_open(ba_shard_writer *w)
{
    return fail(w, BA_ESTATE, w->state == ST_NEW    ? "the writer is not open"
                              : w->state == ST_DONE ? "the dataset is finished already"
                                                    : "an earlier error ended the writer");
}

int ba_shards_add(ba_shard_writer *w, int64_t index, const ba_frame_array *arrays, int narrays,
                  const char *meta_json)
{
    if (!w) return BA_EINVAL;
    if (w->state != ST_OPEN) return not_open(w);
    w->msg[0] = '\0';
    if (!meta_json || narrays < 0 || (narrays > 0 && !arrays))
        return fail(w, BA_EINVAL, "sample %" PRId64 ": no metadata, or no arrays", index);
    if (index < 0 || index == INT64_MAX)
        return fail(w, BA_EINVAL, "index %" PRId64 ": indices are 0..%" PRId64, index,
                    INT64_MAX - 1);
    const span *s = spans_find(&w->done, index);
    if (s) {
        char name[64];
        shard_name(name, sizeof name, s->shard, ".tar");
        return fail(w, BA_EINVAL, "index %" PRId64 " is in %s already (resume renders only "
                    "what is not done)", index, name);
    }
    for (size_t i = 0; i < w->pending.n; i++)
        if (index >= w->pending.v[i].lo && index < w->pending.v[i].hi)
            return fail(w, BA_EINVAL, "index %" PRId64 " was added before: it is in the shard "
                        "being written", index);

    /* everything checked before anything is written */
    char key[24];
    snprintf(key, sizeof key, "%09" PRId64, index);
    member_plan *plan = calloc((size_t)narrays + 1, sizeof *plan);
    if (!plan) return fail(w, BA_ENOMEM, "out of memory");
    int err = BA_OK, display = -1;
    for (int i = 0; i < narrays && !err; i++) {
        int too_big;
        const char *why = bad_array(&arrays[i], key, plan[i].name, sizeof plan[i].name,
                                    &plan[i].npy_len, plan[i].npy, sizeof plan[i].npy, &too_big);
        if (why) {
            err = fail(w, too_big ? BA_EOVERFLOW : BA_EINVAL,
                       "sample %" PRId64 ": array %d (%.100s) %s",
                       index, i, arrays[i].name ? arrays[i].name : "?", why);
            break;
        }
        if (strcmp(arrays[i].name, "display") == 0) display = i;
        for (int j = 0; j < i && !err; j++)
            if (ascii_caseeq(plan[i].name, plan[j].name))
                err = fail(w, BA_EINVAL, "sample %" PRId64 ": arrays %d (%.100s) and %d (%.100s) "
                           "make the same member %s (webdataset reads names in lower case, "
                           "'/' as '.'): rename one", index, j, arrays[j].name, i,
                           arrays[i].name, plan[i].name);
    }
    if (!err && w->coco && display < 0)
        err = fail(w, BA_EINVAL, "sample %" PRId64 ": no \"display\" array: the COCO files "
                   "name each sample's display image (render with display=True / --display)",
                   index);
    json_t *meta = NULL;
    char *text = NULL;
    if (!err) err = sample_json(w, index, meta_json, &meta, &text);
    size_t png_len = 0;
    const ba_frame_array *d = display >= 0 ? &arrays[display] : NULL;
    if (!err && d) {
        err = ba_internal_png_encode(d->data, (uint32_t)d->shape[1], (uint32_t)d->shape[0],
                                     (size_t)d->shape[1] * 4, 4, DISPLAY_PNG_LEVEL, 1, &w->png,
                                     &w->png_cap, &png_len);
        if (err) err = fail(w, err, "sample %" PRId64 ": cannot encode its display image: %s",
                            index, ba_strerror(err));
    }
    /* the shard's files, at its first sample */
    if (!err && w->fd < 0) err = open_shard(w);
    if (!err && w->coco) {
        char file[NAME_MAX_USTAR + 8];
        snprintf(file, sizeof file, "%s.display.png", key);
        err = ba_internal_coco_add_record(w->cw, (uint32_t)d->shape[1], (uint32_t)d->shape[0],
                                          meta, index, file);
        if (err == BA_EFORMAT || err == BA_EINVAL)
            err = fail(w, err, "sample %" PRId64 ": %s", index, ba_coco_message(w->cw));
        else if (err)
            err = broken(w, err, "cannot write a shard's COCO records");
    }
    json_decref(meta);
    if (err) {
        free(text);
        free(plan);
        return err;
    }

    /* the members: the arrays in the frame's order, the display image, the metadata */
    errno = 0;
    for (int i = 0; i < narrays && !err; i++)
        if (i != display)
            err = write_member(w, plan[i].name, plan[i].npy, plan[i].npy_len, arrays[i].data,
                               arrays[i].nbytes);
    if (!err && d) err = write_member(w, plan[display].name, w->png, png_len, NULL, 0);
    if (!err) {
        char name[NAME_MAX_USTAR + 8];
        snprintf(name, sizeof name, "%s.json", key);
        err = write_member(w, name, text, strlen(text), NULL, 0);
    }
    free(text);
    free(plan);
    if (err) return broken(w, err, "cannot write a shard");
    if (spans_append(&w->pending, index, w->shard)) return broken(w, BA_ENOMEM, "out of memory");
    w->count[BA_SHARDS_PENDING]++;
    if (w->count[BA_SHARDS_PENDING] >= (uint64_t)w->samples_per_shard ||
        (w->shard_bytes > 0 && w->bytes >= (uint64_t)w->shard_bytes))
        return commit_shard(w);
    return BA_OK;
}

int ba_shards_done(const ba_shard_writer *w, int64_t index)
{
    return w && spans_find(&w->done, index) != NULL;
}

int ba_shards_finish(ba_shard_writer *w)
{
    if (!w) return BA_EINVAL;
    if (w->state != ST_OPEN) return not_open(w);
    w->msg[0] = '\0';
    if (w->count[BA_SHARDS_PENDING] > 0) {
        int err = commit_shard(w);
        if (err) return err;
    } else if (w->fd >= 0) {
        drop_shard(w); /* opened for a sample that was refused: empty */
    }
    if (w->index_fd >= 0) close(w->index_fd);
    if (w->lock_fd >= 0) close(w->lock_fd); /* the lock goes with it */
    w->index_fd = w->lock_fd = -1;
    w->state = ST_DONE;
    return BA_OK;
}

uint64_t ba_shards_count(const ba_shard_writer *w, int what)
{
    return w && what >= 0 && what < 4 ? w->count[what] : 0;
}

const char *ba_shards_message(const ba_shard_writer *w)
{
    return w ? w->msg : "";
}

void ba_shards_free(ba_shard_writer *w)
{
    if (!w) return;
    drop_shard(w);
    if (w->index_fd >= 0) close(w->index_fd);
    if (w->lock_fd >= 0) close(w->lock_fd);
    free(w->done.v);
    free(w->pending.v);
    free(w->out);
    free(w->png);
    free(w->dir);
    free(w);
}

/* ---------------------------------------------------------------------- */
/*  opening: a new dataset, or one to resume                               */
/* ---------------------------------------------------------------------- */

/* names a writer leaves behind when it dies: ".shard-NNNNNN.tar.PID-XXXXXX"
 * (its shard), ".shard-NNNNNN.coco.json.XXXXXX" and ".dataset.json.XXXXXX"
 * (the atomic writer's), ".part-XXXXXX" (the COCO writer's scratch files, in
 * the instant before they are unlinked) */
static int is_temporary(const char *name)
{
    return strncmp(name, ".shard-", 7) == 0 || strncmp(name, ".dataset.json.", 14) == 0 ||
           (strncmp(name, ".part-", 6) == 0 && strlen(name) == 12);
}

/* the pid in ".shard-NNNNNN.tar.PID-XXXXXX", or 0 */
static long temp_pid(const char *name)
{
    const char *p = strstr(name, ".tar.");
    if (!p) return 0;
    char *end;
    long pid = strtol(p + 5, &end, 10);
    return *end == '-' && pid > 0 ? pid : 0;
}

/* shard number of "shard-NNNNNN<ext>", or -1 */
static long long numbered(const char *name, const char *ext)
{
    if (strncmp(name, "shard-", 6) != 0) return -1;
    const char *p = name + 6, *q = p;
    while (*q >= '0' && *q <= '9') q++;
    if (q - p < 6 || q - p > 18 || strcmp(q, ext) != 0) return -1;
    return strtoll(p, NULL, 10);
}

/* Entries of DIR that make it "not empty" for a new dataset: every one but
 * the lock and the temporary files of a writer that died before its
 * dataset.json. 0 none, 1 some, -1 (errno) unreadable. */
static int has_foreign_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d)))
        found = strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
                strcmp(e->d_name, ".lock") && strncmp(e->d_name, ".dataset.json.", 14);
    closedir(d);
    return found;
}

/* Remove what no complete shard owns: temporary files of dead writers (the
 * lock is held: no other writer lives, unless flock means nothing where DIR
 * is, so a shard file of a live pid is left), and shard files >= `complete`
 * (renamed, but their index line never written). */
static void sweep(ba_shard_writer *w, uint64_t complete)
{
    DIR *d = opendir(w->dir);
    if (!d) return; /* best effort: what stays is ignored */
    struct dirent *e;
    char path[PATH_MAX];
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        long long k = numbered(n, ".tar");
        if (k < 0) k = numbered(n, ".coco.json");
        int drop = k >= 0 && (uint64_t)k >= complete;
        if (is_temporary(n)) {
            long pid = temp_pid(n);
            drop = pid == 0 || pid == (long)getpid() ||
                   (kill((pid_t)pid, 0) != 0 && errno == ESRCH);
        }
        if (!drop || strlen(n) + strlen(w->dir) + 2 > sizeof path) continue;
        path_in(w, path, sizeof path, n);
        unlink(path);
    }
    int fd = dirfd(d);
    if (fd >= 0) fsync(fd); /* best effort, as the removals */
    closedir(d);
}

/* ---- the folder's dataset.json --------------------------------------- */

/* a JSON value in a message: compact, cut at 120 bytes */
static void show(char *buf, size_t cap, const json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (!s) snprintf(buf, cap, "?");
    else if (strlen(s) > 120) snprintf(buf, cap, "%.117s...", s);
    else snprintf(buf, cap, "%s", s);
    free(s);
}

/* The first key (dotted path) whose value differs between a (the folder's)
 * and b (this run's), objects compared key by key; 1 when one differs, with
 * *va / *vb the two values (NULL: absent). */
static int first_difference(const json_t *a, const json_t *b, char *path, size_t cap,
                            const json_t **va, const json_t **vb)
{
    if (!json_is_object(a) || !json_is_object(b)) {
        if (json_equal((json_t *)a, (json_t *)b)) return 0;
        *va = a;
        *vb = b;
        return 1;
    }
    size_t len = strlen(path);
    for (int side = 0; side < 2; side++) {
        const json_t *from = side ? b : a, *other = side ? a : b;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)from, k, v) {
            json_t *o = json_object_get(other, k);
            if (side && o) continue; /* compared on the first side */
            snprintf(path + len, cap - len, "%s%s", len ? "." : "", k);
            if (!o) {
                *va = side ? NULL : v;
                *vb = side ? v : NULL;
                return 1;
            }
            if (first_difference(v, o, path, cap, va, vb)) return 1;
        }
    }
    path[len] = '\0';
    return 0;
}

/* The stored options and params against this run's: BA_EEXIST naming the first that differs. */
static int check_same(ba_shard_writer *w, const json_t *stored, const json_t *params)
{
    char key[256] = "", x[128], y[128];
    const json_t *va = NULL, *vb = NULL;
    if (first_difference(json_object_get(stored, "params"), params, key, sizeof key, &va, &vb)) {
        show(x, sizeof x, va);
        show(y, sizeof y, vb);
        if (!va)
            return fail(w, BA_EEXIST, "cannot resume: the folder's dataset (%s) was made without "
                        "%s, this run has %s %s: resume with the parameters it was made with, or "
                        "choose another folder", w->dir, key, key, y);
        if (!vb)
            return fail(w, BA_EEXIST, "cannot resume: the folder's dataset (%s) was made with %s "
                        "%s, this run has no %s: resume with the parameters it was made with, or "
                        "choose another folder", w->dir, key, x, key);
        return fail(w, BA_EEXIST, "cannot resume: the folder's dataset (%s) was made with %s %s, "
                    "this run has %s %s: resume with the parameters it was made with, or choose "
                    "another folder", w->dir, key, x, key, y);
    }
    json_int_t n = json_integer_value(json_object_get(stored, "shard_samples"));
    json_int_t b = json_integer_value(json_object_get(stored, "shard_bytes"));
    int coco = json_is_true(json_object_get(stored, "coco"));
    if (n != w->samples_per_shard)
        return fail(w, BA_EEXIST, "cannot resume: the folder's dataset (%s) has shards of %"
                    JSON_INTEGER_FORMAT " samples, this run asks for %" PRId64 " (--shard-size / "
                    "shard_size): give %" JSON_INTEGER_FORMAT, w->dir, n, w->samples_per_shard, n);
    if (b != w->shard_bytes)
        return fail(w, BA_EEXIST, "cannot resume: the folder's dataset (%s) has a shard byte "
                    "limit of %" JSON_INTEGER_FORMAT ", this run asks for %" PRId64
                    " (--shard-bytes / shard_bytes; 0: none): give %" JSON_INTEGER_FORMAT, w->dir,
                    b, w->shard_bytes, b);
    if (coco != w->coco)
        return fail(w, BA_EEXIST, "cannot resume: the folder's dataset (%s) was made %s COCO "
                    "files, this run asks %s them (--coco / coco=True)", w->dir,
                    coco ? "with" : "without", coco ? "without" : "for");
    return BA_OK;
}

/* dataset.json, read and checked */
static int read_dataset_json(ba_shard_writer *w, json_t **out)
{
    char path[PATH_MAX];
    path_in(w, path, sizeof path, "dataset.json");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(w, BA_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    uint8_t *data = NULL;
    size_t size = 0;
    int err = fstat(fd, &st) != 0 ? BA_EIO
              : !S_ISREG(st.st_mode) || (uint64_t)st.st_size > DATASET_JSON_MAX
                  ? BA_EFORMAT
                  : ba_internal_read_fd(fd, &data, &size);
    int e = errno;
    close(fd);
    if (err == BA_EIO) return fail(w, err, "%s: %s", path, strerror(e));
    if (err == BA_ENOMEM) return fail(w, err, "out of memory");
    if (err) return fail(w, BA_EFORMAT, "%s is not a blendarray dataset's: not a file of at most "
                         "%zu bytes", path, DATASET_JSON_MAX);
    json_error_t jerr;
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    free(data);
    const char *why = NULL;
    json_t *version = json_object_get(j, "version"), *n = json_object_get(j, "shard_samples");
    json_t *b = json_object_get(j, "shard_bytes");
    if (!json_is_object(j)) why = "it is not a JSON object";
    else if (!json_is_string(json_object_get(j, "format")) ||
             strcmp(json_string_value(json_object_get(j, "format")), FORMAT_NAME) != 0)
        why = "its \"format\" is not \"" FORMAT_NAME "\"";
    else if (!json_is_integer(version)) why = "its \"version\" is not an integer";
    else if (json_integer_value(version) > FORMAT_VERSION) {
        fail(w, BA_EUNSUPPORTED, "%s: a dataset of format version %" JSON_INTEGER_FORMAT ", made "
             "by a newer blendarray (this one, %s, writes version %d): resume it with that "
             "blendarray, or choose another folder", path, json_integer_value(version),
             ba_version_string(), FORMAT_VERSION);
        json_decref(j);
        return BA_EUNSUPPORTED;
    } else if (json_integer_value(version) != FORMAT_VERSION) why = "its \"version\" is not 1";
    else if (!json_is_object(json_object_get(j, "params"))) why = "its \"params\" is not an object";
    else if (!json_is_integer(n) || json_integer_value(n) < 1 || json_integer_value(n) > INT32_MAX)
        why = "its \"shard_samples\" is not an integer 1..2^31-1";
    else if (!json_is_integer(b) || json_integer_value(b) < 0)
        why = "its \"shard_bytes\" is not an integer >= 0";
    else if (!json_is_boolean(json_object_get(j, "coco")))
        why = "its \"coco\" is not true or false";
    if (why) {
        json_decref(j);
        return fail(w, BA_EFORMAT, "%s is damaged or not a blendarray dataset's: %s; choose "
                    "another folder", path, why);
    }
    *out = j;
    return BA_OK;
}

/* ---- the index --------------------------------------------------------- */

typedef struct {
    uint64_t pos;       /* bytes walked */
    uint64_t data_left; /* of the current member's data and padding */
    int zeros;          /* zero blocks seen: the end */
    int64_t key;        /* the current sample's */
    uint64_t samples;   /* distinct runs of keys */
    uint64_t members;
    const json_t *ranges;
    const char *err;
} tar_walk;

/* an octal field (digits, then NUL or space), or -1 */
static int64_t parse_octal(const uint8_t *f, size_t width)
{
    uint64_t v = 0;
    size_t i = 0;
    while (i < width && f[i] == ' ') i++;
    size_t start = i;
    for (; i < width && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v >> 60) return -1;
        v = v * 8 + (uint64_t)(f[i] - '0');
    }
    if (i == start) return -1;
    for (; i < width; i++)
        if (f[i] != '\0' && f[i] != ' ') return -1;
    return (int64_t)v;
}

static int in_ranges(const json_t *ranges, int64_t k)
{
    size_t i;
    json_t *r;
    json_array_foreach(ranges, i, r) {
        if (k >= json_integer_value(json_array_get(r, 0)) &&
            k < json_integer_value(json_array_get(r, 1)))
            return 1;
    }
    return 0;
}

/* one 512-byte block of a shard */
static void walk_block(tar_walk *t, const uint8_t *b)
{
    t->pos += BLOCK;
    if (t->err) return;
    if (t->data_left) {
        t->data_left -= BLOCK;
        return;
    }
    int zero = 1;
    for (int i = 0; i < BLOCK && zero; i++) zero = b[i] == 0;
    if (t->zeros || zero) {
        if (!zero) t->err = "data after the end of the archive";
        t->zeros++;
        return;
    }
    unsigned sum = 0;
    for (int i = 0; i < BLOCK; i++) sum += (i >= 148 && i < 156) ? ' ' : b[i];
    int64_t size = parse_octal(b + 124, 12), chk = parse_octal(b + 148, 8);
    if (chk < 0 || (uint64_t)chk != sum) {
        t->err = "a header's checksum is wrong";
        return;
    }
    if (memcmp(b + 257, "ustar", 6) != 0 || memcmp(b + 263, "00", 2) != 0) {
        t->err = "a header is not ustar's";
        return;
    }
    if ((b[156] != '0' && b[156] != '\0') || size < 0) {
        t->err = "a member is not a regular file";
        return;
    }
    if (b[345] != '\0') {
        t->err = "a member's name is not one of blendarray's (it has a prefix)";
        return;
    }
    /* "<key>.<rest>": the key, digits (name[100] is NUL-terminated when shorter) */
    char name[NAME_MAX_USTAR + 1];
    memcpy(name, b, NAME_MAX_USTAR);
    name[NAME_MAX_USTAR] = '\0';
    int64_t key = 0;
    size_t i = 0;
    for (; name[i] >= '0' && name[i] <= '9'; i++) {
        if (key > (INT64_MAX - 9) / 10) break;
        key = key * 10 + (name[i] - '0');
    }
    if (i < 9 || name[i] != '.' || name[i + 1] == '\0') {
        t->err = "a member's name is not <key>.<name>";
        return;
    }
    if (!in_ranges(t->ranges, key)) {
        t->err = "it holds a sample that its line does not list";
        return;
    }
    if (t->members == 0 || key != t->key) t->samples++;
    t->key = key;
    t->members++;
    t->data_left = ((uint64_t)size + BLOCK - 1) / BLOCK * BLOCK;
}

/* Shard `name` against its line: size, crc32, the tar's headers. */
static int verify_shard(ba_shard_writer *w, const char *name, uint64_t bytes, uint32_t crc,
                        uint64_t samples, const json_t *ranges, size_t line, uint8_t *buf)
{
    char path[PATH_MAX];
    path_in(w, path, sizeof path, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 && errno == ENOENT)
        return fail(w, BA_EFORMAT, "%s: %s is missing (shards.jsonl line %zu lists it): "
                    RESUME_HINT, w->dir, name, line);
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        return fail(w, BA_EIO, "%s: %s", path, strerror(e));
    }
    int err = BA_OK;
    if (!S_ISREG(st.st_mode))
        err = fail(w, BA_EFORMAT, "%s: %s is not a file: " RESUME_HINT, w->dir, name);
    else if ((uint64_t)st.st_size < bytes)
        err = fail(w, BA_EFORMAT, "%s: %s is truncated (%" PRIu64 " of %" PRIu64 " bytes): "
                   RESUME_HINT, w->dir, name, (uint64_t)st.st_size, bytes);
    else if ((uint64_t)st.st_size > bytes)
        err = fail(w, BA_EFORMAT, "%s: %s has %" PRIu64 " bytes, its line in shards.jsonl says %"
                   PRIu64 ": " RESUME_HINT, w->dir, name, (uint64_t)st.st_size, bytes);
    tar_walk t = {0};
    t.ranges = ranges;
    uLong c = crc32_z(0L, Z_NULL, 0);
    for (uint64_t off = 0; !err && off < bytes;) {
        size_t want = bytes - off < READ_CHUNK ? (size_t)(bytes - off) : READ_CHUNK;
        long long got = ba_internal_pread_full(fd, buf, want, off);
        if (got < 0) err = fail(w, BA_EIO, "%s: %s", path, strerror(errno));
        else if ((size_t)got < want)
            err = fail(w, BA_EFORMAT, "%s: %s shrank while it was read: " RESUME_HINT, w->dir,
                       name);
        if (err) break;
        c = crc32_z(c, buf, want);
        for (size_t k = 0; k + BLOCK <= want; k += BLOCK) walk_block(&t, buf + k);
        off += want;
    }
    close(fd);
    if (err) return err;
    if (c != crc)
        return fail(w, BA_EFORMAT, "%s: %s is damaged (its crc32 is %lu, shards.jsonl line %zu "
                    "says %" PRIu32 "): " RESUME_HINT, w->dir, name, (unsigned long)c, line, crc);
    if (!t.err && (t.data_left || t.zeros < 2)) t.err = "the archive does not end";
    if (!t.err && t.samples != samples) t.err = "its samples are not the ones its line lists";
    if (t.err)
        return fail(w, BA_EFORMAT, "%s: %s is not the tar its line in shards.jsonl (%zu) "
                    "describes: %s: " RESUME_HINT, w->dir, name, line, t.err);
    return BA_OK;
}

/* One line of the index: checked, its shard verified, its spans done. */
static int take_line(ba_shard_writer *w, const json_t *j, size_t line, uint8_t *buf)
{
    char want[64], coco[64];
    shard_name(want, sizeof want, w->shard, ".tar");
    shard_name(coco, sizeof coco, w->shard, ".coco.json");
    json_t *shard = json_object_get(j, "shard"), *n = json_object_get(j, "samples");
    json_t *ranges = json_object_get(j, "indices"), *bytes = json_object_get(j, "bytes");
    json_t *crc = json_object_get(j, "crc32"), *c = json_object_get(j, "coco");
    const char *why = NULL;
    json_int_t total = 0;
    if (!json_is_object(j)) why = "it is not a JSON object";
    else if (!json_is_string(shard) || strcmp(json_string_value(shard), want) != 0)
        why = "its \"shard\" is not the next shard's name";
    else if (!json_is_integer(n) || json_integer_value(n) < 1)
        why = "its \"samples\" is not an integer >= 1";
    else if (!json_is_integer(bytes) || json_integer_value(bytes) < 2 * BLOCK ||
             json_integer_value(bytes) % BLOCK)
        why = "its \"bytes\" is not a tar's size";
    else if (!json_is_integer(crc) || json_integer_value(crc) < 0 ||
             json_integer_value(crc) > (json_int_t)UINT32_MAX)
        why = "its \"crc32\" is not a crc32";
    else if (w->coco ? !json_is_string(c) || strcmp(json_string_value(c), coco) != 0 : c != NULL)
        why = w->coco ? "its \"coco\" is not the shard's COCO file" : "it names a COCO file, the "
                                                                      "dataset has none";
    else if (!json_is_array(ranges) || json_array_size(ranges) == 0)
        why = "its \"indices\" is not a list of [first, last + 1] ranges";
    for (size_t i = 0; !why && i < json_array_size(ranges); i++) {
        json_t *r = json_array_get(ranges, i);
        json_t *lo = json_array_get(r, 0), *hi = json_array_get(r, 1);
        if (json_array_size(r) != 2 || !json_is_integer(lo) || !json_is_integer(hi) ||
            json_integer_value(lo) < 0 || json_integer_value(hi) <= json_integer_value(lo) ||
            json_integer_value(hi) - json_integer_value(lo) > json_integer_value(n) - total)
            why = "its \"indices\" is not a list of [first, last + 1] ranges of its samples";
        else
            total += json_integer_value(hi) - json_integer_value(lo);
    }
    if (!why && total != json_integer_value(n)) why = "its \"indices\" do not count its samples";
    if (why)
        return fail(w, BA_EFORMAT, "%s/shards.jsonl line %zu: %s: the index is damaged; remove "
                    "that line and the lines after it, or start a new folder", w->dir, line, why);
    int err = BA_OK;
    for (size_t i = 0; !err && i < json_array_size(ranges); i++) {
        json_t *r = json_array_get(ranges, i);
        span x = {json_integer_value(json_array_get(r, 0)),
                  json_integer_value(json_array_get(r, 1)), w->shard},
             clash;
        err = spans_insert(&w->done, x, &clash);
        if (err == BA_ENOMEM) err = fail(w, err, "out of memory");
        else if (err) {
            char other[64];
            shard_name(other, sizeof other, clash.shard, ".tar");
            err = fail(w, BA_EFORMAT, "%s/shards.jsonl line %zu: indices %" PRId64 "..%" PRId64
                       " are in %s too: the index is damaged; remove that line and the lines "
                       "after it, or start a new folder", w->dir, line, x.lo, x.hi - 1, other);
        }
    }
    if (!err)
        err = verify_shard(w, want, (uint64_t)json_integer_value(bytes),
                           (uint32_t)json_integer_value(crc), (uint64_t)total, ranges, line, buf);
    if (!err && w->coco) {
        char path[PATH_MAX];
        struct stat st;
        path_in(w, path, sizeof path, coco);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            err = fail(w, BA_EFORMAT, "%s: %s is missing (shards.jsonl line %zu lists it): "
                       RESUME_HINT, w->dir, coco, line);
    }
    if (err) return err;
    w->count[BA_SHARDS_DONE] += (uint64_t)total;
    w->count[BA_SHARDS_COMPLETE]++;
    w->shard++;
    return BA_OK;
}

/* Read shards.jsonl: every complete line taken, its shard checked, and a torn
 * last line cut away; or (verify 0: to say what the folder holds) the lines
 * that parse counted, nothing checked nor changed. */
static int read_index(ba_shard_writer *w, int verify)
{
    char path[PATH_MAX];
    path_in(w, path, sizeof path, "shards.jsonl");
    FILE *f = fopen(path, verify ? "r+e" : "re");
    if (!f && errno == ENOENT) return BA_OK; /* died before it was made: empty */
    if (!f) return fail(w, BA_EIO, "%s: %s", path, strerror(errno));
    uint8_t *buf = verify ? malloc(READ_CHUNK) : NULL;
    char *cur = NULL, *next = NULL;
    size_t ccap = 0, ncap = 0, line = 0;
    uint64_t good = 0; /* bytes of the lines taken */
    int err = verify && !buf ? fail(w, BA_ENOMEM, "out of memory") : BA_OK;
    errno = 0;
    ssize_t n = err ? -1 : getline(&cur, &ccap, f);
    while (!err && n >= 0) {
        ssize_t m = getline(&next, &ncap, f);
        int last = m < 0;
        line++;
        json_error_t jerr;
        int torn = cur[n - 1] != '\n';
        json_t *j = torn ? NULL : json_loadb(cur, (size_t)n - 1, JSON_REJECT_DUPLICATES, &jerr);
        if (!j && (last || !verify)) break; /* torn: a writer died while appending it */
        if (!j)
            err = fail(w, BA_EFORMAT, "%s line %zu is not JSON (%s): the index is damaged; "
                       "remove that line and the lines after it, or start a new folder", path,
                       line, jerr.text);
        else if (verify)
            err = take_line(w, j, line, buf);
        else {
            w->count[BA_SHARDS_COMPLETE]++;
            w->count[BA_SHARDS_DONE] += (uint64_t)json_integer_value(json_object_get(j, "samples"));
        }
        json_decref(j);
        good += (uint64_t)n;
        char *t = cur;
        cur = next;
        next = t;
        size_t tc = ccap;
        ccap = ncap;
        ncap = tc;
        n = m;
    }
    if (!err && verify && ferror(f)) err = fail(w, BA_EIO, "%s: %s", path, strerror(errno));
    if (!err && verify) {
        w->index_size = good;
        struct stat st;
        if (fstat(fileno(f), &st) != 0)
            err = fail(w, BA_EIO, "%s: %s", path, strerror(errno));
        else if ((uint64_t)st.st_size > good &&
                 (ftruncate(fileno(f), (off_t)good) != 0 || fsync(fileno(f)) != 0))
            err = fail(w, BA_EIO, "%s: cannot cut its torn last line away: %s", path,
                       strerror(errno));
    }
    free(cur);
    free(next);
    free(buf);
    fclose(f);
    return err;
}

/* ---- open ------------------------------------------------------------- */

static int new_dataset(ba_shard_writer *w, const json_t *params)
{
    char path[PATH_MAX];
    int foreign = has_foreign_files(w->dir);
    if (foreign < 0) return fail(w, BA_EIO, "%s: %s", w->dir, strerror(errno));
    if (foreign)
        return fail(w, BA_EEXIST, "%s holds files but no dataset.json: not a blendarray shard "
                    "folder; choose a new or empty folder", w->dir);
    sweep(w, 0); /* a dead writer's .dataset.json.XXXXXX */
    json_t *d = json_pack("{s:s, s:i, s:O, s:I, s:I, s:b, s:s}", "format", FORMAT_NAME, "version",
                          FORMAT_VERSION, "params", params, "shard_samples",
                          (json_int_t)w->samples_per_shard, "shard_bytes",
                          (json_int_t)w->shard_bytes, "coco", w->coco, "blendarray",
                          ba_version_string());
    char *text = d ? json_dumps(d, JSON_INDENT(2)) : NULL;
    json_decref(d);
    if (!text) return fail(w, BA_ENOMEM, "out of memory");
    size_t len = strlen(text);
    text[len] = '\n';
    path_in(w, path, sizeof path, "dataset.json");
    errno = 0;
    int err = ba_file_save(path, text, len + 1, 0);
    free(text);
    if (err == BA_ENOMEM) return fail(w, err, "out of memory");
    if (err) return fail(w, err, "%s: cannot write it: %s%s%s", path, ba_strerror(err),
                         errno ? ": " : "", errno ? strerror(errno) : "");
    return BA_OK;
}

static int open_dir(ba_shard_writer *w, const char *dir, const char *params_json)
{
    if (!dir) return fail(w, BA_EINVAL, "no folder given");
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    if (n == 0 || (n == 1 && dir[0] == '/'))
        return fail(w, BA_EINVAL, "'%s': give a new or empty folder, or a dataset's", dir);
    if (n + MAX_NAME_TAIL >= PATH_MAX)
        return fail(w, BA_EINVAL, "%.80s...: the path is too long", dir);
    if (!(w->dir = strndup(dir, n))) return fail(w, BA_ENOMEM, "out of memory");
    json_error_t jerr;
    json_t *params = params_json ? json_loads(params_json, JSON_REJECT_DUPLICATES, &jerr)
                                 : json_object();
    if (!json_is_object(params)) {
        int parsed = params != NULL;
        json_decref(params);
        if (!params_json || (!parsed && strstr(jerr.text, "emory")))
            return fail(w, BA_ENOMEM, "out of memory");
        return fail(w, BA_EINVAL, "the run's params are not a JSON object%s%s", parsed ? "" : ": ",
                    parsed ? "" : jerr.text);
    }
    int err = BA_OK;
    char path[PATH_MAX];
    struct stat st;
    if (stat(w->dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) err = fail(w, BA_EINVAL, "%s exists and is not a folder", w->dir);
    } else if (errno != ENOENT) {
        err = fail(w, BA_EIO, "%s: %s", w->dir, strerror(errno));
    } else if (mkdir(w->dir, 0777) != 0 && errno != EEXIST) {
        err = errno == ENOENT ? fail(w, BA_EIO, "cannot create %s: its parent folder does not "
                                     "exist; create it first", w->dir)
                              : fail(w, BA_EIO, "cannot create %s: %s", w->dir, strerror(errno));
    }
    if (!err) {
        path_in(w, path, sizeof path, "dataset.json");
        int exists = lstat(path, &st) == 0;
        if (!exists && errno != ENOENT) err = fail(w, BA_EIO, "%s: %s", path, strerror(errno));
        else if (!exists && has_foreign_files(w->dir) > 0)
            err = fail(w, BA_EEXIST, "%s holds files but no dataset.json: not a blendarray shard "
                       "folder; choose a new or empty folder", w->dir);
    }
    /* the lock, made only in a folder that is (or becomes) a dataset */
    if (!err) {
        path_in(w, path, sizeof path, ".lock");
        w->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (w->lock_fd < 0)
            err = fail(w, BA_EIO, "%s: cannot make its lock file: %s", w->dir, strerror(errno));
        else if (flock(w->lock_fd, LOCK_EX | LOCK_NB) != 0)
            err = errno == EWOULDBLOCK
                      ? fail(w, BA_EBUSY, "%s: another process is writing this dataset (it holds "
                             "%s): wait for it to end, or stop it, then resume", w->dir, path)
                      : fail(w, BA_EIO, "%s: cannot lock %s: %s", w->dir, path, strerror(errno));
    }
    json_t *stored = NULL;
    if (!err) {
        path_in(w, path, sizeof path, "dataset.json");
        if (lstat(path, &st) != 0) {
            err = new_dataset(w, params);
        } else if (!w->resume) {
            err = read_index(w, 0);
            if (!err)
                err = fail(w, BA_EEXIST, "%s holds a blendarray dataset (%" PRIu64 " complete "
                           "shards, %" PRIu64 " samples): pass --resume / resume=True to continue "
                           "it, or choose another folder", w->dir,
                           w->count[BA_SHARDS_COMPLETE], w->count[BA_SHARDS_DONE]);
        } else {
            err = read_dataset_json(w, &stored);
            if (!err) err = check_same(w, stored, params);
            if (!err) err = read_index(w, 1);
            if (!err) sweep(w, w->shard);
        }
    }
    json_decref(stored);
    json_decref(params);
    if (!err) {
        path_in(w, path, sizeof path, "shards.jsonl");
        w->index_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
        if (w->index_fd < 0) err = fail(w, BA_EIO, "%s: %s", path, strerror(errno));
        else ba_atomic_sync_parent_dir(path);
    }
    if (!err && !(w->out = malloc(OUT_BUF))) err = fail(w, BA_ENOMEM, "out of memory");
    return err;
}

int ba_shards_open(ba_shard_writer *w, const char *dir, const char *params_json)
{
    if (!w) return BA_EINVAL;
    if (w->state != ST_NEW)
        return fail(w, BA_ESTATE, "this writer was opened before: make a new one");
    w->msg[0] = '\0';
    int err = open_dir(w, dir, params_json);
    if (err) { /* unusable, as documented; the lock goes now */
        if (w->lock_fd >= 0) close(w->lock_fd);
        w->lock_fd = -1;
        w->done.n = 0;
        memset(w->count, 0, sizeof w->count);
    }
    w->state = err ? ST_FAILED : ST_OPEN;
    return err;
}
