/* render.c — `blendarray render`: frames from Blender workers into .npz,
 * .npy files or a stream of NPY arrays on stdout. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"

#define MAX_FRAMES 10000000
#define MAX_PASSES 256

static volatile int stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static const char HELP[] =
    "usage: blendarray render [SCENE.blend] [options] -o OUTPUT [--coco DIR]\n"
    "\n"
    "Render frames with Blender workers and write every pass as arrays.\n"
    "Without SCENE, the built-in demo scene is rendered.\n"
    "\n"
    "output (-o):\n"
    "  -o out.npz            one array per pass with a leading frame axis (N, H, W[, C])\n"
    "  -o frames/            one .npy per frame and pass: frames/rgba_0001.npy ..., named\n"
    "                        by scene frame number (by index 0000, 0001, ... with --count\n"
    "                        or a frame list that repeats a number), and meta_0001.json\n"
    "  -o stack/ --stack     one (N, H, W[, C]) .npy per pass, written as frames arrive\n"
    "                        (memory stays bounded; np.load(..., mmap_mode='r') opens it)\n"
    "  -o -                  a stream of NPY arrays on stdout, frame after frame in order:\n"
    "                        first a uint8 array (n,) holding the frame's metadata (JSON\n"
    "                        text, UTF-8; its \"pass_order\" lists the names of the arrays\n"
    "                        that follow), then one array per pass in the order of --passes\n"
    "                        (all passes: Blender's order), then display. In Python,\n"
    "                        blendarray.read_stream(sys.stdin.buffer) yields each frame as\n"
    "                        a blendarray.Frame (pass name -> array, and .meta), reading a\n"
    "                        pipe strictly forwards (np.load seeks: it cannot read a pipe)\n"
    "  Any other -o (a.txt, out) is refused: a folder needs a trailing / unless it exists.\n"
    "\n"
    "labels (docs/labels.md):\n"
    "  --annotations         each frame's labels in its metadata (meta.json): instances\n"
    "                        with names, categories, boxes, areas, COCO RLE masks,\n"
    "                        poses; also captures cryptomatte_object_00 (Cycles, EEVEE)\n"
    "  --coco DIR            a COCO dataset: DIR/images/000000.png ... (the display image,\n"
    "                        named by frame index) and DIR/annotations.json (instances\n"
    "                        from Cryptomatte: masks as RLE, boxes, areas, the 8 box\n"
    "                        corners as keypoints; categories from each object's\n"
    "                        category_id property or pass_index; objects with neither\n"
    "                        are left out, with a note). Alone or with -o (the arrays\n"
    "                        then include display and the Cryptomatte passes, meta.json\n"
    "                        the labels). DIR must be new or empty (--force replaces\n"
    "                        it); it is filled beside it and renamed into place at the\n"
    "                        end. Cycles or EEVEE (Workbench renders no Cryptomatte)\n"
    "\n"
    "metadata: every output holds each frame's metadata, as blendarray's frame.meta: frame\n"
    "number, resolution, engine, samples, camera, K, world_to_camera, camera_to_world, clip,\n"
    "per-pass descriptions (\"passes\"), index, worker, and what --setup's hook returned.\n"
    "  out.npz               member meta.json: a JSON list, one object per frame in order\n"
    "                        (np.load('out.npz')['meta.json'] gives its bytes: json.loads)\n"
    "  frames/               meta_0001.json beside rgba_0001.npy: one object per frame\n"
    "  stack/ --stack        meta.json: a JSON list, one object per frame, written at the end\n"
    "  -                     the record before each frame's arrays (above)\n"
    "\n"
    "what to render:\n"
    "  -f, --frames LIST     frame numbers: 1-250, 1,5,9, 1-100:10 or a mix (1-3,7)\n"
    "                        (default: the scene's current frame)\n"
    "  -n, --count N         render the scene as it is N times (with --setup: N variations)\n"
    "  -p, --passes LIST     comma-separated: rgba,depth,normal,object_index,... (default: all)\n"
    "  -e, --engine NAME     cycles, eevee or workbench (default: the scene's)\n"
    "  -s, --samples N       render samples\n"
    "      --size WxH        resolution, e.g. 640x480\n"
    "      --display         also the colour-managed image, uint8 (H, W, 4): the bytes of\n"
    "                        Blender's own PNG, made from rgba with Blender's OpenColorIO\n"
    "                        where exact, else by Blender (meta: display_route)\n"
    "      --dtype TYPE      float32 (default) or float16 for float passes\n"
    "      --denoise on|off  Cycles denoising (default: the scene's)\n"
    "      --setup FILE[:FN] a Python function (scene, index, rng[, params]) run in\n"
    "                        Blender before each frame: FILE.py[:FN] (default function\n"
    "                        name: setup) or MODULE:FN (imported by Blender)\n"
    "      --params FILE     per-frame params, one JSON object per line, one frame each\n"
    "                        (\"frame\", \"engine\", \"samples\", \"resolution\": [w, h],\n"
    "                        \"denoise\", \"threads\", and your own keys for the hook)\n"
    "      --seed N          the setup hook's rng is numpy.random.default_rng([seed, index])\n"
    "\n"
    "workers:\n"
    "  -w, --workers N       Blender processes (default 1)\n"
    "      --threads N       render threads per worker\n"
    "      --blender PATH    a Blender binary, or 'bpy' for a Python with the bpy module\n"
    "                        (default: $BLENDARRAY_BLENDER, else blender on PATH)\n"
    "      --python PATH     with --blender bpy: the Python that has bpy (default:\n"
    "                        $BLENDARRAY_PYTHON, else the python3 beside this\n"
    "                        program (a venv's), else python3 on PATH); bpy is\n"
    "                        also the default when no blender is on PATH\n"
    "      --ring N          shared-memory slots per worker (default 4)\n"
    "      --retries N       re-renders of a frame whose worker died (default 1)\n"
    "      --timeout SEC     stop a worker that takes longer for a frame (and retry it)\n"
    "\n"
    "  -z, --compress        deflate the .npz (like numpy.savez_compressed)\n"
    "      --force           overwrite existing outputs\n"
    "  -q, --quiet           no progress; -v, --verbose  Blender's own output on stderr\n"
    "\n"
    "examples:\n"
    "  blendarray render scene.blend --frames 1-250 --passes rgba,depth,object_index \\\n"
    "      --engine cycles --samples 16 --size 640x480 --workers 2 -o out.npz\n"
    "  blendarray render scene.blend -f 1,5,9 -o frames/\n"
    "  blendarray render scene.blend -f 1-100 -o stack/ --stack\n"
    "  blendarray render scene.blend -f 1-3 -o - | python -c 'import blendarray as ba, sys; "
    "[print(f.meta[\"frame\"], {k: a.shape for k, a in f.items()}) "
    "for f in ba.read_stream(sys.stdin.buffer)]'\n"
    "  blendarray render scene.blend -n 1000 --setup randomize.py --seed 7 -o data.npz\n"
    "  blendarray render scene.blend -f 1-100 -e cycles --coco coco/\n"
    "\n"
    "Every file is written under a temporary name and renamed when complete: an interrupted\n"
    "(Ctrl-C) or failed run leaves no partial file. An .npz or --stack output is complete or\n"
    "absent (an earlier complete file stays); a folder of .npy keeps the frames it completed\n"
    "(each frame's arrays and meta_NNNN.json; the message says how many); a stream ends\n"
    "after its last complete frame; a --coco folder is complete or absent.\n"
    "Exit status: 0 success, 1 failure, 2 bad usage, 130 interrupted.\n";

/* ---------------------------------------------------------------------- */

/* ---------------------------------------------------------------------- */
/*  outputs                                                                */
/* ---------------------------------------------------------------------- */

enum mode { OUT_NPZ, OUT_DIR, OUT_STACK, OUT_STDOUT, OUT_NONE /* --coco only */ };

typedef struct pass_out {
    char name[128];        /* the pass name, made safe for a file name */
    ba_npy_stack *stack;   /* OUT_NPZ, OUT_STACK */
    char path[PATH_MAX];   /* the stack's final path */
} pass_out;

typedef struct out_state {
    enum mode mode;
    const char *target;
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
} out_state;

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

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The first item of a malformed frame list that is malformed by itself, malloc'd;
 * NULL when the list has no item (or out of memory). */
static char *first_bad_item(const char *spec)
{
    for (const char *p = spec; *p; p++) {
        size_t n = strcspn(p, ",");
        if (n == 0) continue;
        char *item = strndup(p, n);
        if (!item) return NULL;
        int64_t *f = NULL;
        size_t count = 0;
        /* max_count 1: a long range is counted, not expanded */
        if (ba_parse_frames(item, &f, &count, 1) == BA_EINVAL) return item;
        ba_free(f);
        free(item);
        p += n - 1;
    }
    return NULL;
}

/* Does the frame list name a frame twice? */
static int has_repeats(const int64_t *frames, size_t n)
{
    int64_t *copy = malloc(n * sizeof *copy);
    if (!copy) return 1; /* numbering by index is always safe */
    memcpy(copy, frames, n * sizeof *copy);
    qsort(copy, n, sizeof *copy, cmp_i64);
    int rep = 0;
    for (size_t i = 1; i < n && !rep; i++) rep = copy[i] == copy[i - 1];
    free(copy);
    return rep;
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

static int on_frame(const ba_frame *f, void *user)
{
    out_state *o = user;
    print_warnings(o, f);
    if (o->coco) {
        int cerr = coco_frame(o, f);
        if (cerr) return cerr;
    }
    int merr = o->mode == OUT_NONE ? BA_OK : write_meta(o, f);
    if (merr) return merr;
    for (int i = 0; i < f->narrays && o->mode != OUT_NONE; i++) {
        const ba_frame_array *a = &f->arrays[i];
        const void *data;
        size_t nbytes;
        int dtype, err = converted(o, a, &data, &nbytes, &dtype);
        if (err) return err;
        if (o->mode == OUT_STDOUT) {
            char head[256];
            size_t hl;
            err = ba_npy_header(head, sizeof head, &hl, dtype, a->ndim, a->shape);
            if (err) return err;
            if (write_all(1, head, hl) || write_all(1, data, nbytes)) {
                snprintf(o->errbuf, sizeof o->errbuf, "writing to stdout: %s", strerror(errno));
                return BA_EIO;
            }
            continue;
        }
        if (o->mode == OUT_DIR) {
            char name[128], path[PATH_MAX];
            safe_name(name, sizeof name, a->name);
            int len = snprintf(path, sizeof path, "%s/%s_%04lld.npy", o->target, name,
                               file_number(o, f));
            if (len < 0 || (size_t)len >= sizeof path) return BA_EINVAL;
            err = ba_npy_save(path, dtype, a->ndim, a->shape, data, nbytes, o->force);
            if (!err && (err = note_written(o, path)) != BA_OK) unlink(path);
            if (err) {
                snprintf(o->errbuf, sizeof o->errbuf, "%s: %s%s", path, ba_strerror(err),
                         err == BA_EEXIST ? " (use --force to overwrite)"
                         : err == BA_EIO ? (errno ? "" : "") : "");
                if (err == BA_EIO && errno)
                    snprintf(o->errbuf + strlen(o->errbuf), sizeof o->errbuf - strlen(o->errbuf),
                             " (%s)", strerror(errno));
                return err;
            }
            continue;
        }
        /* stacks: one per pass, opened on the first frame */
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
            err = ba_npy_stack_open(&po->stack, po->path, dtype, a->ndim, a->shape,
                                    o->mode == OUT_NPZ || o->force);
            if (err) {
                snprintf(o->errbuf, sizeof o->errbuf, "%s: %s%s", po->path, ba_strerror(err),
                         err == BA_EEXIST ? " (use --force to overwrite)" : "");
                return err;
            }
        }
        err = ba_npy_stack_append(po->stack, data, nbytes);
        if (err) {
            snprintf(o->errbuf, sizeof o->errbuf, "%s: %s%s%s", po->path, ba_strerror(err),
                     errno ? ": " : "", errno ? strerror(errno) : "");
            return err;
        }
    }
    end_frame_files(o, 1);
    o->done++;
    if (!o->quiet) {
        double dt = seconds() - o->t0;
        double fps = dt > 0 ? (double)o->done / dt : 0;
        if (o->tty) {
            int width = 30, fill = (int)(width * o->done / (o->total ? o->total : 1));
            double eta = fps > 0 ? (double)(o->total - o->done) / fps : 0;
            fprintf(stderr, "\r[%.*s%*s] %zu/%zu frames  %.1f fps  ETA %dm%02ds ", fill,
                    "##############################", width - fill, "", o->done, o->total, fps,
                    (int)eta / 60, (int)eta % 60);
            if (o->done == o->total) fputc('\n', stderr);
        } else {
            fprintf(stderr, "frame %lld (%zu/%zu): %d arrays, %.1f fps\n", (long long)f->frame,
                    o->done, o->total, f->narrays, fps);
        }
    }
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

static void free_params(char **params, size_t n)
{
    for (size_t k = 0; params && k < n; k++) free(params[k]);
    free(params);
}

/* --params FILE: one JSON object per line, one frame each ("frame", per-frame
 * settings, your own keys), checked whole before any Blender starts. */
static int read_params(const char *path, char ***out, size_t *count)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        cli_fail("--params %s: %s", path, strerror(errno));
        return 1;
    }
    char **list = NULL, *line = NULL;
    size_t n = 0, cap = 0, len = 0, lineno = 0;
    int bad = 0;
    ssize_t got;
    while (!bad && (got = getline(&line, &len, f)) >= 0) {
        lineno++;
        /* the whole line, NUL bytes included: a NUL ends no line early, hides none */
        if (strspn(line, " \t\r\n") == (size_t)got) continue;
        json_error_t jerr;
        json_t *j = json_loadb(line, (size_t)got, 0, &jerr);
        if (!json_is_object(j)) {
            cli_fail("--params %s, line %zu: not a JSON object (%s); give one object per line, "
                     "e.g. {\"frame\": 12, \"samples\": 64, \"seed_offset\": 3}", path, lineno,
                     j ? "another JSON value" : jerr.text);
            bad = 1;
        } else if (n >= MAX_FRAMES) {
            cli_fail("--params %s has more than %d frames", path, MAX_FRAMES);
            bad = 1;
        } else {
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                char **grown = realloc(list, cap * sizeof *list);
                if (!grown) bad = 1;
                else list = grown;
            }
            if (!bad && !(list[n++] = json_dumps(j, JSON_COMPACT))) bad = 1;
            if (bad) cli_fail("out of memory");
        }
        json_decref(j);
    }
    free(line);
    if (f != stdin) fclose(f);
    if (!bad && n == 0) {
        cli_fail("--params %s holds no frame: give one JSON object per line", path);
        bad = 1;
    }
    if (bad) {
        for (size_t k = 0; k < n; k++) free(list[k]);
        free(list);
        return 1;
    }
    *out = list;
    *count = n;
    return 0;
}

int cmd_render(int argc, char **argv)
{
    enum { O_SIZE = 256, O_DISPLAY, O_DTYPE, O_DENOISE, O_SETUP, O_SEED, O_THREADS, O_BLENDER,
           O_RING, O_RETRIES, O_TIMEOUT, O_FORCE, O_STACK, O_PYTHON, O_PARAMS, O_COCO,
           O_ANNOTATIONS };
    static const struct option longopts[] = {
        {"frames", required_argument, 0, 'f'},  {"count", required_argument, 0, 'n'},
        {"passes", required_argument, 0, 'p'},  {"engine", required_argument, 0, 'e'},
        {"samples", required_argument, 0, 's'}, {"size", required_argument, 0, O_SIZE},
        {"display", no_argument, 0, O_DISPLAY}, {"dtype", required_argument, 0, O_DTYPE},
        {"denoise", required_argument, 0, O_DENOISE}, {"setup", required_argument, 0, O_SETUP},
        {"seed", required_argument, 0, O_SEED}, {"workers", required_argument, 0, 'w'},
        {"threads", required_argument, 0, O_THREADS}, {"blender", required_argument, 0, O_BLENDER},
        {"python", required_argument, 0, O_PYTHON}, {"params", required_argument, 0, O_PARAMS},
        {"ring", required_argument, 0, O_RING}, {"retries", required_argument, 0, O_RETRIES},
        {"timeout", required_argument, 0, O_TIMEOUT}, {"output", required_argument, 0, 'o'},
        {"stack", no_argument, 0, O_STACK},     {"compress", no_argument, 0, 'z'},
        {"coco", required_argument, 0, O_COCO}, {"annotations", no_argument, 0, O_ANNOTATIONS},
        {"force", no_argument, 0, O_FORCE},     {"quiet", no_argument, 0, 'q'},
        {"verbose", no_argument, 0, 'v'},       {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    cli_render_opts opts;
    cli_render_opts_init(&opts);
    static out_state o;     /* static: tens of KiB of paths, off the stack */
    memset(&o, 0, sizeof o);
    const char *frames_spec = NULL, *output = NULL, *params_file = NULL, *coco_dir = NULL;
    long long count = 0, v;
    int stack = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "f:n:p:e:s:w:o:zqvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': frames_spec = optarg; break;
        case 'n':
            if (ba_internal_parse_int(optarg, 1, MAX_FRAMES, &count)) {
                cli_fail("--count wants a number 1..%d, not '%s'", MAX_FRAMES, optarg);
                return 2;
            }
            break;
        case 'p': opts.passes = optarg; break;
        case 'e': opts.engine = optarg; break;
        case 's':
            if (ba_internal_parse_int(optarg, 1, 1 << 24, &v)) {
                cli_fail("--samples wants a positive number, not '%s'", optarg);
                return 2;
            }
            opts.samples = (int)v;
            break;
        case O_SIZE: {
            int w, h;
            char x, tail;
            if (sscanf(optarg, "%d%c%d%c", &w, &x, &h, &tail) != 3 || (x != 'x' && x != 'X') ||
                w < 1 || h < 1 || w > 65536 || h > 65536) {
                cli_fail("--size wants WIDTHxHEIGHT, each 1..65536, e.g. 640x480, not '%s'", optarg);
                return 2;
            }
            opts.width = w;
            opts.height = h;
            break;
        }
        case O_DISPLAY: opts.display = 1; break;
        case O_DTYPE:
            if (strcmp(optarg, "float16") == 0) o.f16 = 1;
            else if (strcmp(optarg, "float32") != 0) {
                cli_fail("--dtype is float32 or float16, not '%s'", optarg);
                return 2;
            }
            break;
        case O_DENOISE:
            if (strcmp(optarg, "on") == 0) opts.denoise = 1;
            else if (strcmp(optarg, "off") == 0) opts.denoise = 0;
            else {
                cli_fail("--denoise is on or off, not '%s'", optarg);
                return 2;
            }
            break;
        case O_SETUP: opts.setup = optarg; break;
        case O_SEED:
            if (ba_internal_parse_int(optarg, 0, LLONG_MAX, &v)) {
                cli_fail("--seed wants a non-negative integer, not '%s'", optarg);
                return 2;
            }
            opts.seed = v;
            break;
        case 'w':
            if (ba_internal_parse_int(optarg, 1, 256, &v)) {
                cli_fail("--workers wants 1..256, not '%s'", optarg);
                return 2;
            }
            opts.workers = (int)v;
            break;
        case O_THREADS:
            if (ba_internal_parse_int(optarg, 1, 1024, &v)) {
                cli_fail("--threads wants 1..1024, not '%s'", optarg);
                return 2;
            }
            opts.threads = (int)v;
            break;
        case O_BLENDER: opts.blender = optarg; break;
        case O_PYTHON: opts.python = optarg; break;
        case O_PARAMS: params_file = optarg; break;
        case O_RING:
            if (ba_internal_parse_int(optarg, 1, 1024, &v)) {
                cli_fail("--ring wants 1..1024, not '%s'", optarg);
                return 2;
            }
            opts.ring = (int)v;
            break;
        case O_RETRIES:
            if (ba_internal_parse_int(optarg, 0, 100, &v)) {
                cli_fail("--retries wants 0..100, not '%s'", optarg);
                return 2;
            }
            opts.retries = (int)v;
            break;
        case O_TIMEOUT: {
            char *end;
            opts.timeout = strtod(optarg, &end);
            if (*end || !(opts.timeout > 0)) {
                cli_fail("--timeout wants seconds > 0, not '%s'", optarg);
                return 2;
            }
            break;
        }
        case 'o': output = optarg; break;
        case O_COCO: coco_dir = optarg; break;
        case O_ANNOTATIONS: opts.annotations = 1; break;
        case O_STACK: stack = 1; break;
        case 'z': o.compress = 1; break;
        case O_FORCE: o.force = 1; break;
        case 'q': o.quiet = 1; break;
        case 'v': opts.verbose = 1; break;
        case 'h': fputs(HELP, stdout); return 0;
        default: fputs("see: blendarray render --help\n", stderr); return 2;
        }
    }
    if (optind < argc) opts.scene = argv[optind++];
    if (optind < argc) {
        cli_fail("unexpected argument '%s' (one scene per run)", argv[optind]);
        return 2;
    }
    if (!output && !coco_dir) {
        cli_fail("no output: give -o out.npz, -o folder/, -o - or --coco DIR (see --help)");
        return 2;
    }
    if (opts.annotations && opts.engine && strcasecmp(opts.engine, "workbench") == 0)
        return cli_fail("--annotations come from Cryptomatte, which Workbench does not render: "
                        "use -e cycles or -e eevee");
    if (coco_dir) {
        if (!*coco_dir) {
            cli_fail("--coco wants a folder name");
            return 2;
        }
        if (opts.engine && strcasecmp(opts.engine, "workbench") == 0)
            return cli_fail("--coco needs Cryptomatte, which Workbench does not render: "
                            "use -e cycles or -e eevee");
        if (output && strcmp(output, "-") == 0 && isatty(1))
            return cli_fail("-o - writes binary NPY data: pipe it into a program, not a terminal");
        opts.annotations = 1;
        opts.display = 1;
    }
    if (!!frames_spec + !!count + !!params_file > 1) {
        cli_fail("give one of --frames, --count and --params");
        return 2;
    }
    /* the scene: checked here for a clear message before any Blender starts */
    if (opts.scene) {
        struct stat st;
        if (stat(opts.scene, &st) != 0)
            return cli_fail("scene %s: %s", opts.scene, strerror(errno));
        if (S_ISDIR(st.st_mode)) return cli_fail("scene %s is a directory, not a .blend file", opts.scene);
        FILE *f = fopen(opts.scene, "rb");
        unsigned char head[8] = {0};
        size_t got = f ? fread(head, 1, sizeof head, f) : 0;
        if (f) fclose(f);
        if (!f) return cli_fail("scene %s: %s", opts.scene, strerror(errno));
        if (!(got >= 7 && memcmp(head, "BLENDER", 7) == 0) &&
            !(got >= 2 && head[0] == 0x1f && head[1] == 0x8b) &&
            !(got >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd))
            return cli_fail("%s is not a .blend file", opts.scene);
    }
    int64_t *frames = NULL;
    char **params = NULL;
    size_t total = 1;
    if (frames_spec) {
        int e = ba_parse_frames(frames_spec, &frames, &total, MAX_FRAMES);
        if (e == BA_EOVERFLOW) {
            cli_fail("frame list '%s' has more than %d frames", frames_spec, MAX_FRAMES);
            return 2;
        }
        if (e == BA_EINVAL) {
            char *bad = first_bad_item(frames_spec);
            if (bad)
                cli_fail("malformed frame list '%s': '%s' is not a frame N, a range A-B (A <= B) "
                         "or A-B:STEP (STEP >= 1), numbers within +-1000000000; use e.g. "
                         "1-250, 1,5,9 or 1-100:10", frames_spec, bad);
            else
                cli_fail("malformed frame list '%s':%s use e.g. 1-250, 1,5,9 or 1-100:10",
                         frames_spec, frames_spec[strspn(frames_spec, ",")] ? "" : " no frame in it;");
            free(bad);
            return 2;
        }
        if (e) {
            cli_fail("frame list '%s': %s", frames_spec, ba_strerror(e));
            return 2;
        }
    } else if (count) {
        total = (size_t)count;
    } else if (params_file) {
        if (read_params(params_file, &params, &total) != 0) return 2;
    }
    o.by_index = count > 0 || params || (frames && has_repeats(frames, total));
    /* the output */
    size_t olen = output ? strlen(output) : 0;
    struct stat st;
    int is_dir = output && ((olen && output[olen - 1] == '/') ||
                            (stat(output, &st) == 0 && S_ISDIR(st.st_mode)));
    o.target = output ? output : coco_dir;
    if (!output) {
        o.mode = OUT_NONE;
        if (stack) {
            ba_free(frames);
            free_params(params, total);
            cli_fail("--stack writes one .npy per pass into a folder: give -o folder/");
            return 2;
        }
    } else if (strcmp(output, "-") == 0) {
        o.mode = OUT_STDOUT;
        if (isatty(1)) {
            ba_free(frames);
            free_params(params, total);
            return cli_fail("-o - writes binary NPY data: pipe it into a program, not a terminal");
        }
    } else if (is_dir) {
        o.mode = stack ? OUT_STACK : OUT_DIR;
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", output);
        if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
            ba_free(frames);
            free_params(params, total);
            return cli_fail("cannot create output folder %s: %s", dir, strerror(errno));
        }
        if (access(dir, W_OK) != 0) {
            ba_free(frames);
            free_params(params, total);
            return cli_fail("output folder %s is not writable: %s", dir, strerror(errno));
        }
    } else {
        if (stack) {
            ba_free(frames);
            free_params(params, total);
            cli_fail("--stack writes one .npy per pass into a folder: give -o folder/");
            return 2;
        }
        if (olen < 4 || strcasecmp(output + olen - 4, ".npz") != 0) {
            ba_free(frames);
            free_params(params, total);
            cli_fail("output '%s' is not a .npz file, a folder or -: give -o out.npz (one "
                     "archive), -o folder/ (a trailing / makes a folder) or -o - (stdout)", output);
            return 2;
        }
        o.mode = OUT_NPZ;
        if (!o.force && access(output, F_OK) == 0) {
            ba_free(frames);
            free_params(params, total);
            return cli_fail("%s exists (use --force to overwrite)", output);
        }
        /* members are built in a private folder beside the .npz (same file system) */
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", output);
        char *slash = strrchr(dir, '/');
        const char *base = slash ? slash + 1 : dir;
        char parent[PATH_MAX];
        if (slash) {
            *slash = '\0';
            snprintf(parent, sizeof parent, "%s", dir[0] ? dir : "/");
        } else {
            snprintf(parent, sizeof parent, ".");
        }
        sweep_parts(parent, base, "parts");
        int len = snprintf(o.partdir, sizeof o.partdir, "%s/.%s.parts-%d-XXXXXX", parent, base,
                           (int)getpid());
        if (len < 0 || (size_t)len >= sizeof o.partdir) {
            o.partdir[0] = '\0';
            ba_free(frames);
            free_params(params, total);
            return cli_fail("output path too long: %s", output);
        }
        if (!mkdtemp(o.partdir)) {
            int e = errno;
            o.partdir[0] = '\0';
            ba_free(frames);
            free_params(params, total);
            if (e == ENOENT)
                return cli_fail("cannot write %s: the folder %s does not exist", output, parent);
            return cli_fail("cannot write %s: %s", output, strerror(e));
        }
    }
    if (coco_dir && coco_start(&o, coco_dir) != 0) {
        if (o.partdir[0]) ba_internal_rmtree(o.partdir);
        ba_coco_free(o.coco);
        ba_free(frames);
        free_params(params, total);
        return 1;
    }
    o.total = total;
    o.tty = isatty(2);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a closed pipe or a full disk: an error to report, not death */
    signal(SIGXFSZ, SIG_IGN);
    opts.stop = &stop_flag;
    char package[PATH_MAX];
    ba_renderer_options *ropts = NULL;
    if (cli_find_package(package, sizeof package) ||
        cli_renderer_options(&opts, package, &ropts)) {
        if (o.partdir[0]) ba_internal_rmtree(o.partdir);
        ba_coco_free(o.coco);
        free_params(params, total);
        ba_free(frames);
        return 1;
    }

    ba_renderer *r = NULL;
    o.t0 = seconds();
    int err = ba_renderer_open(&r, ropts);
    if (err == BA_OK) err = ba_renderer_run(r, frames, (const char *const *)params, total, on_frame, &o);
    if (err == BA_OK) err = finish_outputs(&o);
    if (err == BA_OK && o.coco) err = coco_finish(&o, opts.scene);
    int status = 0;
    if (err != BA_OK) {
        abort_outputs(&o);
        if (o.tty && !o.quiet && o.done) fputc('\n', stderr);
        if (err == BA_EINTR || stop_flag) {
            /* say exactly what is left: each mode keeps whole files only */
            const char *s = o.done == 1 ? "" : "s";
            if (o.mode == OUT_DIR)
                cli_fail("interrupted: workers stopped; kept %zu complete frame%s in %s; "
                         "nothing partial left", o.done, s, o.target);
            else if (o.mode == OUT_STACK)
                cli_fail("interrupted: workers stopped; the incomplete stacks (%zu frame%s) "
                         "were removed: %s holds nothing from this run", o.done, s, o.target);
            else if (o.mode == OUT_NPZ)
                cli_fail("interrupted: workers stopped; %s was not written (%zu frame%s "
                         "rendered, the incomplete archive removed)", o.target, o.done, s);
            else if (o.mode == OUT_STDOUT)
                cli_fail("interrupted: workers stopped; the stream ends after %zu complete "
                         "frame%s", o.done, s);
            if (o.coco)
                cli_fail("interrupted: workers stopped; %.*s was not written (%zu frame%s "
                         "rendered, the incomplete COCO folder removed)",
                         coco_len(coco_dir), coco_dir, o.done, s);
            status = 130;
        } else {
            const char *m = o.errbuf[0] ? o.errbuf
                            : r         ? ba_renderer_message(r)
                                        : ba_renderer_options_message(ropts); /* open failed */
            if (!m || !*m) m = ba_strerror(err);
            /* one line; for a worker that died, Blender's last lines follow, indented */
            const char *nl = strchr(m, '\n');
            cli_fail("%.*s", nl ? (int)(nl - m) : (int)strlen(m), m);
            if (nl && (err == BA_EWORKER || err == BA_ERENDER)) /* a traceback too */
                for (const char *l = nl + 1; *l;) {
                    const char *e = strchr(l, '\n');
                    int n = e ? (int)(e - l) : (int)strlen(l);
                    fprintf(stderr, "  | %.*s\n", n, l);
                    l += n + (e ? 1 : 0);
                }
            if (o.mode == OUT_DIR && o.done)
                cli_fail("kept %zu complete frame%s in %s; nothing partial left", o.done,
                         o.done == 1 ? "" : "s", o.target);
            status = 1;
        }
    }
    if (o.partdir[0]) ba_internal_rmtree(o.partdir);
    ba_coco_free(o.coco); /* an unfinished dataset's folder goes with it */
    ba_renderer_close(r);
    ba_renderer_options_free(ropts);
    ba_free(frames);
    free_params(params, total);
    free(o.half);
    free(o.written);
    for (int k = 0; k < o.nwarned; k++) free(o.warned[k]);
    return status;
}
