/* render_outputs.c — where `blendarray render` writes frames: one .npz
 * (arrays stacked in a private folder beside it, zipped at the end), a folder
 * of .npy per frame, a folder of stacks, NPY arrays on stdout, a COCO
 * dataset and WebDataset shards (the library's writers; render_shards.c). Every file is written under a temporary
 * name and renamed when whole: a failed run leaves no partial file. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "render.h"

enum mode { OUT_NPZ, OUT_DIR, OUT_STACK, OUT_STDOUT, OUT_NONE /* --coco only */, OUT_SHARDS };

typedef struct pass_out {
    char name[128];        /* the pass name, made safe for a file name */
    ba_npy_stack *stack;   /* OUT_NPZ, OUT_STACK */
    char path[PATH_MAX];   /* the stack's final path */
} pass_out;

struct outputs {
    enum mode mode;
    char target[PATH_MAX];  /* -o without trailing slashes (or --coco DIR): messages, paths */
    char partdir[PATH_MAX]; /* OUT_NPZ: a private folder beside the .npz for the members */
    int f16, force, compress, quiet, tty;
    pass_out passes[MAX_PASSES];
    int npasses;
    ba_file_writer *meta;   /* OUT_NPZ, OUT_STACK: meta.json, a list written as frames arrive */
    char meta_path[PATH_MAX];
    size_t done, total;
    double t0;
    uint16_t *half;
    size_t half_cap;
    char errbuf[PATH_MAX + 256];
    int failed;
    int by_index;           /* OUT_DIR: files numbered by index (--count, repeated frames) */
    char **written;         /* OUT_DIR: the files of the frame being written, removed
                               should it not complete (each file is whole, the frame not) */
    int nwritten, written_cap;
    char *warned[16];       /* warnings printed so far: each is printed once */
    int nwarned;
    ba_coco_writer *coco;   /* --coco DIR (the library's writer), else NULL */
    const char *coco_dir;
    shards_out *shards;     /* OUT_SHARDS: the library's shard writer */
    const ba_renderer *r;   /* for the progress line: workers recycled */
    size_t resumed;         /* OUT_SHARDS: samples complete before this run */
    double last_line;       /* when the last progress line was printed (no terminal) */
};
typedef struct outputs out_state;


static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void safe_name(char *dst, size_t cap, const char *name)
{
    size_t i = 0;
    for (; name[i] && i + 1 < cap; i++) {
        char c = name[i];
        dst[i] = (c == '/' || c == '\\' || c == ' ') ? '.' : c;
    }
    dst[i] = '\0';
    if (i == 0 && cap > 1) {
        dst[0] = '_'; /* no "" */
        dst[1] = '\0';
    } else if (dst[0] == '.') {
        dst[0] = '_'; /* no hidden files, no ".." */
    }
}

/* The array as written: float32 passes become float16 with --dtype float16. */
static int converted(out_state *o, const ba_frame_array *a, const void **data, size_t *nbytes,
                     int *dtype)
{
    *data = a->data;
    *nbytes = a->nbytes;
    *dtype = a->dtype;
    if (!o->f16 || a->dtype != BA_DTYPE_F32) return BA_OK;
    size_t n = a->nbytes / 4;
    if (n > o->half_cap) {
        uint16_t *h = realloc(o->half, n * sizeof *h);
        if (!h) return BA_ENOMEM;
        o->half = h;
        o->half_cap = n;
    }
    int err = ba_f32_to_f16(o->half, a->data, n);
    *data = o->half;
    *nbytes = n * 2;
    *dtype = BA_DTYPE_F16;
    return err;
}

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* "path: what went wrong (use --force ...)" into o->errbuf; returns err. */
static int out_error(out_state *o, const char *path, int err)
{
    int e = errno;
    snprintf(o->errbuf, sizeof o->errbuf, "%s: %s%s", path, ba_strerror(err),
             err == BA_EEXIST ? " (use --force to overwrite)" : "");
    if ((err == BA_EIO || err == BA_ESTATE) && e) {
        size_t n = strlen(o->errbuf);
        snprintf(o->errbuf + n, sizeof o->errbuf - n, " (%s)", strerror(e));
    }
    return err;
}

/* OUT_DIR: remember a file of the frame being written. */
static int note_written(out_state *o, const char *path)
{
    if (o->nwritten == o->written_cap) {
        int cap = o->written_cap ? 2 * o->written_cap : 16;
        char **w = realloc(o->written, (size_t)cap * sizeof *w);
        if (!w) return BA_ENOMEM;
        o->written = w;
        o->written_cap = cap;
    }
    char *copy = strdup(path);
    if (!copy) return BA_ENOMEM;
    o->written[o->nwritten++] = copy;
    return BA_OK;
}

/* OUT_DIR: the frame is complete (keep = 1) or never will be (keep = 0: its
 * files so far are removed, so that the folder holds whole frames only). */
static void end_frame_files(out_state *o, int keep)
{
    for (int i = 0; i < o->nwritten; i++) {
        if (!keep && unlink(o->written[i]) != 0 && errno != ENOENT)
            fprintf(stderr, "blendarray: cannot remove %s, a file of an incomplete frame: %s\n",
                    o->written[i], strerror(errno));
        free(o->written[i]);
    }
    o->nwritten = 0;
}

/* The number in a folder output's file names: the scene frame number, or the
 * frame's index in the run where frame numbers would collide (--count N renders
 * the same scene frame N times; a frame list may repeat a number). */
static long long file_number(const out_state *o, const ba_frame *f)
{
    return o->by_index ? (long long)f->index : (long long)f->frame;
}

/* The stream's metadata record: the frame's meta with "pass_order", the names
 * of the arrays that follow, in order; one NPY array of uint8 holding the
 * JSON text (UTF-8). */
static int write_meta_record(out_state *o, const ba_frame *f)
{
    json_error_t jerr;
    json_t *meta = json_loads(f->meta_json ? f->meta_json : "{}", 0, &jerr);
    json_t *order = json_array();
    if (!meta || !json_is_object(meta) || !order) {
        json_decref(meta);
        json_decref(order);
        snprintf(o->errbuf, sizeof o->errbuf, "frame %lld: its metadata is not a JSON object",
                 (long long)f->frame);
        return BA_EFORMAT;
    }
    for (int i = 0; i < f->narrays; i++)
        if (json_array_append_new(order, json_string(f->arrays[i].name)) != 0) {
            json_decref(meta);
            json_decref(order);
            return BA_ENOMEM;
        }
    json_object_set_new(meta, "pass_order", order);
    char *text = json_dumps(meta, JSON_COMPACT);
    json_decref(meta);
    if (!text) return BA_ENOMEM;
    uint64_t n = strlen(text);
    char head[256];
    size_t hl;
    int err = ba_npy_header(head, sizeof head, &hl, BA_DTYPE_U8, 1, &n);
    if (err == BA_OK && (write_all(1, head, hl) || write_all(1, text, (size_t)n))) {
        snprintf(o->errbuf, sizeof o->errbuf, "writing to stdout: %s", strerror(errno));
        err = BA_EIO;
    }
    free(text);
    return err;
}

/* The frame's metadata: a sidecar meta_NNNN.json (folders of .npy), an item
 * of meta.json (.npz, stacks; opened on the first frame) or a record before
 * the frame's arrays (stdout). */
static int write_meta(out_state *o, const ba_frame *f)
{
    const char *m = f->meta_json ? f->meta_json : "{}";
    if (o->mode == OUT_STDOUT) return write_meta_record(o, f);
    if (o->mode == OUT_DIR) {
        char path[PATH_MAX];
        int len = snprintf(path, sizeof path, "%s/meta_%04lld.json", o->target, file_number(o, f));
        if (len < 0 || (size_t)len >= sizeof path) return BA_EINVAL;
        size_t n = strlen(m);
        char *text = malloc(n + 2);
        if (!text) return BA_ENOMEM;
        memcpy(text, m, n);
        text[n] = '\n';
        errno = 0;
        int err = ba_file_save(path, text, n + 1, o->force);
        free(text);
        if (err) return out_error(o, path, err);
        err = note_written(o, path);
        if (err) unlink(path);
        return err;
    }
    int err = BA_OK;
    errno = 0;
    if (!o->meta) {
        int len = snprintf(o->meta_path, sizeof o->meta_path, "%s/meta.json",
                           o->mode == OUT_NPZ ? o->partdir : o->target);
        if (len < 0 || (size_t)len >= sizeof o->meta_path) return BA_EINVAL;
        err = ba_file_open(&o->meta, o->meta_path, o->mode == OUT_NPZ || o->force);
        if (err == BA_OK) err = ba_file_write(o->meta, "[\n", 2);
    } else {
        err = ba_file_write(o->meta, ",\n", 2);
    }
    if (err == BA_OK) err = ba_file_write(o->meta, m, strlen(m));
    return err ? out_error(o, o->meta_path, err) : BA_OK;
}

/* A frame's meta "warnings" (e.g. rendered without the denoising the scene
 * asks for): on stderr, each once per run; they stay in every frame's meta. */
static void print_warnings(out_state *o, const ba_frame *f)
{
    /* most frames have none: skip parsing them (meta_json is compact JSON) */
    if (!f->meta_json || !strstr(f->meta_json, "\"warnings\"") ||
        strstr(f->meta_json, "\"warnings\":[]"))
        return;
    json_t *meta = json_loads(f->meta_json, 0, NULL);
    json_t *list = json_object_get(meta, "warnings");
    json_t *fixes = json_object_get(meta, "warning_fixes"); /* per warning: the settings */
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item) {
        const char *w = json_string_value(item);
        int seen = 0;
        for (int k = 0; w && k < o->nwarned; k++) seen |= strcmp(o->warned[k], w) == 0;
        if (!w || seen) continue;
        fprintf(stderr, "blendarray: warning: %s", w);
        /* the settings that silence it, as this command spells them: --denoise off */
        const char *key;
        json_t *v, *fix = json_array_get(fixes, i);
        int nset = 0;
        json_object_foreach(fix, key, v) {
            fputs(nset++ ? " --" : " (--", stderr);
            for (const char *c = key; *c; c++) fputc(*c == '_' ? '-' : *c, stderr);
            if (json_is_boolean(v)) fprintf(stderr, " %s", json_is_true(v) ? "on" : "off");
            else if (json_is_string(v)) fprintf(stderr, " %s", json_string_value(v));
            else if (json_is_integer(v)) fprintf(stderr, " %lld", (long long)json_integer_value(v));
            else if (json_is_real(v)) fprintf(stderr, " %g", json_real_value(v));
        }
        fputs(nset ? " silences it)\n" : "\n", stderr);
        if (o->nwarned < (int)(sizeof o->warned / sizeof o->warned[0])) {
            char *copy = strdup(w);
            if (copy) o->warned[o->nwarned++] = copy;
        }
    }
    json_decref(meta);
}

static void sweep_parts(const char *parent, const char *base, const char *tag);

/* ---------------------------------------------------------------------- */
/*  --coco DIR: the library's COCO writer (ba_coco_*, docs/labels.md)       */
/* ---------------------------------------------------------------------- */

/* DIR's length without trailing slashes: "out/" is named "out" in messages. */
static int coco_len(const char *dir)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    return n > INT_MAX ? INT_MAX : (int)n;
}

/* Remove what killed runs left beside DIR, then open it. 0, or 1 after a message. */
static int coco_start(out_state *o, const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%.*s", coco_len(dir), dir);
    char *slash = strrchr(path, '/');
    if (slash && slash[1]) {
        *slash = '\0';
        sweep_parts(slash == path ? "/" : path, slash + 1, "coco");
    } else if (!slash) {
        sweep_parts(".", path, "coco");
    }
    int err = ba_coco_new(&o->coco);
    if (!err) err = ba_coco_open(o->coco, dir, o->force);
    if (err)
        cli_fail("--coco %s%s", o->coco ? ba_coco_message(o->coco) : ba_strerror(err),
                 err == BA_EEXIST ? " (use --force to replace it)" : "");
    o->coco_dir = dir;
    return err ? 1 : 0;
}

/* One frame: its display image and the labels of its metadata, to the writer. */
static int coco_frame(out_state *o, const ba_frame *f)
{
    const ba_frame_array *d = NULL;
    for (int i = 0; i < f->narrays; i++)
        if (strcmp(f->arrays[i].name, "display") == 0) d = &f->arrays[i];
    if (!d || d->dtype != BA_DTYPE_U8 || d->ndim != 3 || d->shape[2] != 4 ||
        d->shape[0] > INT32_MAX || d->shape[1] > INT32_MAX ||
        d->nbytes != d->shape[0] * d->shape[1] * 4) {
        snprintf(o->errbuf, sizeof o->errbuf, "frame %lld: no display image (uint8, H x W x 4) "
                 "came with it", (long long)f->frame);
        return BA_EFORMAT;
    }
    int err = ba_coco_add(o->coco, d->data, (uint32_t)d->shape[1], (uint32_t)d->shape[0], 0,
                          f->meta_json ? f->meta_json : "", f->index);
    if (err)
        snprintf(o->errbuf, sizeof o->errbuf, "frame %lld: %s", (long long)f->frame,
                 ba_coco_message(o->coco));
    return err;
}

/* annotations.json and the folder into place; what was left out, and what was written. */
static int coco_finish(out_state *o, const char *scene)
{
    char desc[PATH_MAX + 64];
    snprintf(desc, sizeof desc, "blendarray render of %s", scene ? scene : "the demo scene");
    json_t *info = json_pack("{s:s}", "description", desc);
    char *text = info ? json_dumps(info, JSON_COMPACT) : NULL;
    json_decref(info);
    int err = text ? ba_coco_finish(o->coco, text) : BA_ENOMEM;
    free(text);
    if (err) {
        snprintf(o->errbuf, sizeof o->errbuf, "--coco %s%s",
                 text ? ba_coco_message(o->coco) : "out of memory",
                 err == BA_EEXIST ? " (use --force to replace it)" : "");
        return err;
    }
    int n = coco_len(o->coco_dir);
    unsigned long long skipped = ba_coco_count(o->coco, BA_COCO_SKIPPED),
                       ni = ba_coco_count(o->coco, BA_COCO_IMAGES),
                       na = ba_coco_count(o->coco, BA_COCO_ANNOTATIONS),
                       nc = ba_coco_count(o->coco, BA_COCO_CATEGORIES);
    if (skipped)
        fprintf(stderr, "blendarray: note: %llu instance%s without a category left out of %.*s/"
                "annotations.json: give objects a category_id custom property or a non-zero "
                "pass_index (docs/labels.md)\n", skipped, skipped == 1 ? "" : "s", n, o->coco_dir);
    if (!o->quiet)
        fprintf(stderr, "blendarray: wrote %.*s/: %llu image%s, %llu annotation%s, %llu categor%s\n",
                n, o->coco_dir, ni, ni == 1 ? "" : "s", na, na == 1 ? "" : "s", nc,
                nc == 1 ? "y" : "ies");
    return BA_OK;
}

/* ---------------------------------------------------------------------- */
/*  one frame                                                              */
/* ---------------------------------------------------------------------- */

/* -o -: the array's NPY header and data on stdout. */
static int stream_array(out_state *o, const ba_frame_array *a, const void *data, size_t nbytes,
                        int dtype)
{
    char head[256];
    size_t hl;
    int err = ba_npy_header(head, sizeof head, &hl, dtype, a->ndim, a->shape);
    if (err) return err;
    if (write_all(1, head, hl) || write_all(1, data, nbytes)) {
        snprintf(o->errbuf, sizeof o->errbuf, "writing to stdout: %s", strerror(errno));
        return BA_EIO;
    }
    return BA_OK;
}

/* -o folder/: the array as folder/<pass>_<NNNN>.npy. */
static int save_array(out_state *o, const ba_frame *f, const ba_frame_array *a, const void *data,
                      size_t nbytes, int dtype)
{
    char name[128], path[PATH_MAX];
    safe_name(name, sizeof name, a->name);
    int len = snprintf(path, sizeof path, "%s/%s_%04lld.npy", o->target, name, file_number(o, f));
    if (len < 0 || (size_t)len >= sizeof path) return BA_EINVAL;
    errno = 0;
    int err = ba_npy_save(path, dtype, a->ndim, a->shape, data, nbytes, o->force);
    if (err) return out_error(o, path, err);
    err = note_written(o, path);
    if (err) unlink(path);
    return err;
}

/* .npz and --stack: the array appended to its pass's stack, opened on the first frame. */
static int stack_array(out_state *o, const ba_frame *f, const ba_frame_array *a, const void *data,
                       size_t nbytes, int dtype)
{
    pass_out *po = NULL;
    for (int k = 0; k < o->npasses; k++)
        if (strcmp(o->passes[k].name, a->name) == 0) po = &o->passes[k];
    if (!po) {
        if (f->index != 0 || o->npasses == MAX_PASSES) {
            snprintf(o->errbuf, sizeof o->errbuf, "frame %lld has a pass '%s' the first "
                     "frame did not have", (long long)f->frame, a->name);
            return BA_EFORMAT;
        }
        po = &o->passes[o->npasses++];
        snprintf(po->name, sizeof po->name, "%s", a->name);
        char safe[128];
        safe_name(safe, sizeof safe, a->name);
        int len = snprintf(po->path, sizeof po->path, "%s/%s.npy",
                           o->mode == OUT_NPZ ? o->partdir : o->target, safe);
        if (len < 0 || (size_t)len >= sizeof po->path) return BA_EINVAL;
        errno = 0;
        int err = ba_npy_stack_open(&po->stack, po->path, dtype, a->ndim, a->shape,
                                    o->mode == OUT_NPZ || o->force);
        if (err) return out_error(o, po->path, err);
    }
    errno = 0;
    int err = ba_npy_stack_append(po->stack, data, nbytes);
    return err ? out_error(o, po->path, err) : BA_OK;
}

/* --shards: a bar on a terminal; else a line for each shard completed and at
 * most one every 10 s between (a long run's log stays readable). */
static void shards_progress(out_state *o, int new_shard)
{
    double now = seconds(), dt = now - o->t0;
    size_t mine = o->done - o->resumed;
    double fps = dt > 0 ? (double)mine / dt : 0;
    double eta = fps > 0 ? (double)(o->total - o->done) / fps : 0;
    unsigned long long shards = shards_count(o->shards, BA_SHARDS_COMPLETE);
    long long recycled = ba_renderer_stat(o->r, BA_STAT_RECYCLED);
    char line[256];
    snprintf(line, sizeof line, "%zu/%zu samples  %.1f fps  ETA %dh%02dm%02ds  %llu shard%s  "
             "%lld worker%s recycled", o->done, o->total, fps, (int)(eta / 3600),
             (int)eta % 3600 / 60, (int)eta % 60, shards, shards == 1 ? "" : "s", recycled,
             recycled == 1 ? "" : "s");
    if (o->tty) {
        fprintf(stderr, "\r%s ", line);
        if (o->done == o->total) fputc('\n', stderr);
    } else if (new_shard || now - o->last_line >= 10 || o->done == o->total) {
        fprintf(stderr, "%s\n", line);
        o->last_line = now;
    }
}

/* A progress bar on a terminal, else a line a frame. */
static void progress(out_state *o, const ba_frame *f)
{
    double dt = seconds() - o->t0;
    double fps = dt > 0 ? (double)o->done / dt : 0;
    if (o->tty) {
        int width = 30, fill = (int)(width * o->done / (o->total ? o->total : 1));
        double eta = fps > 0 ? (double)(o->total - o->done) / fps : 0;
        fprintf(stderr, "\r[%.*s%*s] %zu/%zu frames  %.1f fps  ETA %dm%02ds ", fill,
                "##############################", width - fill, "", o->done, o->total, fps,
                (int)eta / 60, (int)eta % 60);
        if (o->done == o->total) fputc('\n', stderr);
    } else if (o->by_index) { /* the same scene frame again (--count): the index tells them apart */
        fprintf(stderr, "index %lld, frame %lld (%zu/%zu): %d arrays, %.1f fps\n",
                (long long)f->index, (long long)f->frame, o->done, o->total, f->narrays, fps);
    } else {
        fprintf(stderr, "frame %lld (%zu/%zu): %d arrays, %.1f fps\n", (long long)f->frame,
                o->done, o->total, f->narrays, fps);
    }
}

int outputs_frame(const ba_frame *f, void *user)
{
    out_state *o = user;
    print_warnings(o, f);
    if (o->mode == OUT_SHARDS) {
        unsigned long long before = shards_count(o->shards, BA_SHARDS_COMPLETE);
        int err = shards_frame(o->shards, f, o->errbuf, sizeof o->errbuf);
        if (err) return err;
        o->done++;
        if (!o->quiet) shards_progress(o, shards_count(o->shards, BA_SHARDS_COMPLETE) != before);
        return 0;
    }
    int err = o->coco ? coco_frame(o, f) : BA_OK;
    if (!err && o->mode != OUT_NONE) err = write_meta(o, f);
    for (int i = 0; !err && i < f->narrays && o->mode != OUT_NONE; i++) {
        const ba_frame_array *a = &f->arrays[i];
        const void *data;
        size_t nbytes;
        int dtype;
        err = converted(o, a, &data, &nbytes, &dtype);
        if (err) break;
        if (o->mode == OUT_STDOUT) err = stream_array(o, a, data, nbytes, dtype);
        else if (o->mode == OUT_DIR) err = save_array(o, f, a, data, nbytes, dtype);
        else err = stack_array(o, f, a, data, nbytes, dtype);
    }
    if (err) return err;
    end_frame_files(o, 1);
    o->done++;
    if (!o->quiet) progress(o, f);
    return 0;
}

/* A run killed with SIGKILL cannot remove its parts folder; the next run to
 * the same output removes those whose process is gone. */
static void sweep_parts(const char *parent, const char *base, const char *tag)
{
    char prefix[NAME_MAX + 32];
    int plen = snprintf(prefix, sizeof prefix, ".%s.%s-", base, tag);
    if (plen < 0 || (size_t)plen >= sizeof prefix) return;
    DIR *d = opendir(parent);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, (size_t)plen) != 0) continue;
        long pid = strtol(e->d_name + plen, NULL, 10);
        if (pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH)) {
            char path[PATH_MAX];
            int n = snprintf(path, sizeof path, "%s/%s", parent, e->d_name);
            if (n > 0 && (size_t)n < sizeof path) ba_internal_rmtree(path);
        }
    }
    closedir(d);
}

static void abort_outputs(out_state *o)
{
    end_frame_files(o, 0);
    for (int i = 0; i < o->npasses; i++) {
        ba_npy_stack_abort(o->passes[i].stack);
        o->passes[i].stack = NULL;
    }
    ba_file_abort(o->meta);
    o->meta = NULL;
    if (o->partdir[0]) ba_internal_rmtree(o->partdir);
    o->partdir[0] = '\0';
}

static int finish_outputs(out_state *o)
{
    int err = BA_OK;
    for (int i = 0; i < o->npasses; i++) {
        int e = ba_npy_stack_finish(o->passes[i].stack);
        o->passes[i].stack = NULL;
        if (e && !err) err = out_error(o, o->passes[i].path, e);
    }
    if (o->meta) { /* the list's end; published after the stacks, or added to the .npz */
        if (!err) {
            errno = 0;
            err = ba_file_write(o->meta, "\n]\n", 3);
            if (err == BA_OK) err = ba_file_finish(o->meta);
            else ba_file_abort(o->meta);
            if (err) out_error(o, o->meta_path, err);
        } else {
            ba_file_abort(o->meta);
        }
        o->meta = NULL;
    }
    if (err || o->mode != OUT_NPZ) return err;
    ba_npz_writer *z = NULL;
    err = ba_npz_open(&z, o->target, o->compress, o->force);
    for (int i = 0; i < o->npasses && !err; i++) {
        /* member names come from the scene (AOV names): no path separators in a zip */
        char safe[128];
        safe_name(safe, sizeof safe, o->passes[i].name);
        err = ba_npz_add_npy_file(z, safe, o->passes[i].path);
    }
    if (!err && o->meta_path[0]) {
        err = ba_npz_add_file(z, "meta.json", o->meta_path);
        if (err == BA_EINVAL) {
            ba_npz_abort(z);
            snprintf(o->errbuf, sizeof o->errbuf, "%s: a pass is named 'meta.json', the name of "
                     "the metadata's member: write to a folder (-o folder/) instead", o->target);
            return err;
        }
    }
    if (!err) {
        err = ba_npz_finish(z);
    } else {
        ba_npz_abort(z);
    }
    if (err)
        snprintf(o->errbuf, sizeof o->errbuf, "%s: %s%s", o->target, ba_strerror(err),
                 err == BA_EEXIST ? " (use --force to overwrite)" : "");
    return err;
}

/* ---------------------------------------------------------------------- */
/*  opening                                                                */
/* ---------------------------------------------------------------------- */

/* -o folder/: made if missing (one level), writable. 0 or 1 after a message. */
static int open_folder(out_state *o)
{
    if (mkdir(o->target, 0777) != 0 && errno != EEXIST)
        return cli_fail("cannot create output folder %s: %s", o->target, strerror(errno));
    if (access(o->target, W_OK) != 0)
        return cli_fail("output folder %s is not writable: %s", o->target, strerror(errno));
    return 0;
}

/* -o out.npz: new unless --force; its members are built in a private folder
 * beside it (the same file system). 0 or 1 after a message. */
static int open_npz(out_state *o)
{
    const char *output = o->target;
    if (!o->force && access(output, F_OK) == 0)
        return cli_fail("%s exists (use --force to overwrite)", output);
    char dir[PATH_MAX], parent[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", output);
    char *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : dir;
    if (slash) {
        *slash = '\0';
        snprintf(parent, sizeof parent, "%s", dir[0] ? dir : "/");
    } else {
        snprintf(parent, sizeof parent, ".");
    }
    sweep_parts(parent, base, "parts");
    int len = snprintf(o->partdir, sizeof o->partdir, "%s/.%s.parts-%d-XXXXXX", parent, base,
                       (int)getpid());
    if (len < 0 || (size_t)len >= sizeof o->partdir) {
        o->partdir[0] = '\0';
        return cli_fail("output path too long: %s", output);
    }
    if (!mkdtemp(o->partdir)) {
        int e = errno;
        o->partdir[0] = '\0';
        if (e == ENOENT)
            return cli_fail("cannot write %s: the folder %s does not exist", output, parent);
        return cli_fail("cannot write %s: %s", output, strerror(e));
    }
    return 0;
}

/* Which output -o names: 0, or 2 (bad usage) after a message. */
static int output_mode(out_state *o, const char *output, int stack)
{
    size_t olen = output ? strlen(output) : 0;
    struct stat st;
    int is_dir = output && ((olen && output[olen - 1] == '/') ||
                            (stat(output, &st) == 0 && S_ISDIR(st.st_mode)));
    if (!output) o->mode = OUT_NONE;
    else if (strcmp(output, "-") == 0) o->mode = OUT_STDOUT;
    else if (is_dir) o->mode = stack ? OUT_STACK : OUT_DIR;
    else if (olen >= 4 && strcasecmp(output + olen - 4, ".npz") == 0) o->mode = OUT_NPZ;
    else if (!stack) {
        cli_fail("output '%s' is not a .npz file, a folder or -: give -o out.npz (one "
                 "archive), -o folder/ (a trailing / makes a folder) or -o - (stdout)", output);
        return 2;
    }
    if (stack && o->mode != OUT_STACK) {
        cli_fail("--stack writes one .npy per pass into a folder: give -o folder/");
        return 2;
    }
    return 0;
}

int outputs_open(outputs **out, const render_args *a, const render_plan *p)
{
    out_state *o = *out = calloc(1, sizeof *o); /* tens of KiB of paths: off the stack */
    if (!o) return cli_fail("out of memory");
    o->f16 = a->f16;
    o->force = a->force;
    o->compress = a->compress;
    o->quiet = a->quiet;
    o->by_index = p->by_index;
    o->total = p->total;
    o->tty = isatty(2);
    const char *name = a->shards ? a->shards : a->output ? a->output : a->coco;
    /* "frames/" is named "frames": no "frames//rgba_0001.npy" */
    size_t n = strlen(name);
    while (n > 1 && name[n - 1] == '/') n--;
    if (n >= sizeof o->target) return cli_fail("output path too long: %s", name);
    snprintf(o->target, sizeof o->target, "%.*s", (int)n, name);
    int err = a->shards ? 0 : output_mode(o, a->output, a->stack);
    if (err) return err;
    if (a->shards) { /* the writer opens once the renderer says what the run is */
        o->mode = OUT_SHARDS;
        o->t0 = seconds();
        return 0;
    }
    if (o->mode == OUT_STDOUT && isatty(1))
        return cli_fail("-o - writes binary NPY data: pipe it into a program, not a terminal");
    if (o->mode == OUT_DIR || o->mode == OUT_STACK) err = open_folder(o);
    else if (o->mode == OUT_NPZ) err = open_npz(o);
    if (!err && a->coco) err = coco_start(o, a->coco);
    o->t0 = seconds();
    return err;
}

int outputs_start(outputs *o, const render_args *a, const render_plan *p, ba_renderer *r,
                  render_todo *todo)
{
    o->r = r;
    if (o->mode != OUT_SHARDS) {
        *todo = (render_todo){NULL, p->frames, p->params, p->total, 0};
        return BA_OK;
    }
    int err = shards_start(&o->shards, a, p, r, todo, o->errbuf, sizeof o->errbuf);
    if (err) { /* refused (or failed) before anything was written: nothing to report but why */
        shards_free(o->shards);
        o->shards = NULL;
        return err;
    }
    o->done = o->resumed = (size_t)shards_count(o->shards, BA_SHARDS_DONE);
    if (o->resumed && !o->quiet)
        fprintf(stderr, "blendarray: resuming %s: %zu of %zu samples are in %llu complete "
                "shard%s; rendering the other %zu\n", o->target, o->resumed, o->total,
                (unsigned long long)shards_count(o->shards, BA_SHARDS_COMPLETE),
                shards_count(o->shards, BA_SHARDS_COMPLETE) == 1 ? "" : "s", todo->count);
    o->t0 = seconds();
    return BA_OK;
}

int outputs_finish(outputs *o, const char *scene)
{
    if (o->mode == OUT_SHARDS) {
        int err = shards_finish(o->shards, o->errbuf, sizeof o->errbuf);
        if (!err && !o->quiet) {
            unsigned long long n = shards_count(o->shards, BA_SHARDS_COMPLETE);
            fprintf(stderr, "blendarray: %s: %llu shard%s, %llu samples (%llu shard%s written "
                    "by this run)\n", o->target, n, n == 1 ? "" : "s",
                    (unsigned long long)shards_count(o->shards, BA_SHARDS_DONE),
                    (unsigned long long)shards_count(o->shards, BA_SHARDS_WRITTEN),
                    shards_count(o->shards, BA_SHARDS_WRITTEN) == 1 ? "" : "s");
        }
        return err;
    }
    int err = finish_outputs(o);
    if (!err && o->coco) err = coco_finish(o, scene);
    return err;
}

/* Why a run failed: one line (the outputs' own words, else the renderer's);
 * for a worker that died, Blender's last lines follow, indented (a traceback too). */
static void say_error(const out_state *o, const char *message, int err)
{
    const char *m = o->errbuf[0] ? o->errbuf : message && *message ? message : ba_strerror(err);
    const char *nl = strchr(m, '\n');
    cli_fail("%.*s", nl ? (int)(nl - m) : (int)strlen(m), m);
    if (nl && (err == BA_EWORKER || err == BA_ERENDER))
        for (const char *l = nl + 1; *l;) {
            const char *e = strchr(l, '\n');
            int n = e ? (int)(e - l) : (int)strlen(l);
            fprintf(stderr, "  | %.*s\n", n, l);
            l += n + (e ? 1 : 0);
        }
}

void outputs_fail(outputs *o, int interrupted, const char *message, int err)
{
    abort_outputs(o);
    ba_coco_free(o->coco); /* an unfinished dataset's folder goes with it */
    o->coco = NULL;
    if (o->tty && !o->quiet && o->done) fputc('\n', stderr);
    const char *s = o->done == 1 ? "" : "s";
    if (o->mode == OUT_SHARDS) {
        /* what is complete stays; the shard being filled is gone with the writer */
        int opened = o->shards != NULL;
        unsigned long long n = shards_count(o->shards, BA_SHARDS_COMPLETE),
                           done = shards_count(o->shards, BA_SHARDS_DONE);
        shards_free(o->shards);
        o->shards = NULL;
        if (!interrupted) say_error(o, message, err);
        if (!opened) {
            if (interrupted) cli_fail("interrupted before %s was opened: nothing written", o->target);
            return;
        }
        cli_fail("%s%s holds %llu complete shard%s (%llu of %zu samples); nothing partial "
                 "left; the same command with --resume renders the rest",
                 interrupted ? "interrupted: workers stopped; " : "", o->target, n,
                 n == 1 ? "" : "s", done, o->total);
        return;
    }
    if (interrupted) { /* say exactly what is left: each output keeps whole files only */
        if (o->mode == OUT_DIR)
            cli_fail("interrupted: workers stopped; kept %zu complete frame%s in %s/; "
                     "nothing partial left", o->done, s, o->target);
        else if (o->mode == OUT_STACK)
            cli_fail("interrupted: workers stopped; the incomplete stacks (%zu frame%s) "
                     "were removed: %s/ holds nothing from this run", o->done, s, o->target);
        else if (o->mode == OUT_NPZ)
            cli_fail("interrupted: workers stopped; %s was not written (%zu frame%s "
                     "rendered, the incomplete archive removed)", o->target, o->done, s);
        else if (o->mode == OUT_STDOUT)
            cli_fail("interrupted: workers stopped; the stream ends after %zu complete "
                     "frame%s", o->done, s);
        if (o->coco_dir)
            cli_fail("interrupted: workers stopped; %.*s was not written (%zu frame%s "
                     "rendered, the incomplete COCO folder removed)",
                     coco_len(o->coco_dir), o->coco_dir, o->done, s);
        return;
    }
    say_error(o, message, err);
    if (o->mode == OUT_DIR && o->done)
        cli_fail("kept %zu complete frame%s in %s/; nothing partial left", o->done, s, o->target);
}

void outputs_free(outputs *o)
{
    if (!o) return;
    abort_outputs(o);
    ba_coco_free(o->coco);
    shards_free(o->shards);
    free(o->half);
    free(o->written);
    for (int k = 0; k < o->nwarned; k++) free(o->warned[k]);
    free(o);
}
