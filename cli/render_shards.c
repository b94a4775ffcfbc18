/* render_shards.c — `blendarray render --shards DIR`: the frames into
 * WebDataset shards through the library's shard writer (ba_shards_*,
 * docs/datasets.md), resumable: with --resume, only the indices that no
 * complete shard holds are rendered, each with its own index (so its hook
 * RNG and its frame are those of an uninterrupted run), and the writer
 * refuses a folder whose dataset was made with other parameters.
 *
 * What identifies the run (the folder's "params"): the renderer's identity
 * (scene and its bytes, settings, hook, seed, Blender's version:
 * ba_renderer_identity) and the plan (how many indices, which frames and
 * per-frame params, the dtype), so that a resume with another -n, --frames,
 * --params or --dtype is refused as one with another seed is. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h> /* mkdir */
#include <zlib.h> /* crc32: the plan's fingerprint */

#include "render.h"

struct shards_out {
    ba_shard_writer *w;
    char dir[4096];
    int f16;
    uint16_t *half;
    size_t half_cap;
    ba_frame_array *arrays;
    int arrays_cap;
};

/* The plan's fingerprint: the frame numbers and per-frame params, in order. */
static json_t *plan_json(const render_args *a, const render_plan *p)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    for (size_t i = 0; i < p->total; i++) {
        if (p->frames) {
            long long f = (long long)p->frames[i];
            crc = crc32(crc, (const Bytef *)&f, sizeof f);
        }
        if (p->params) crc = crc32(crc, (const Bytef *)p->params[i], (uInt)strlen(p->params[i]) + 1);
    }
    return json_pack("{s:I,s:s,s:I,s:s}", "count", (json_int_t)p->total, "frames",
                     p->params ? "params" : p->frames ? "list" : "current", "crc32",
                     (json_int_t)crc, "dtype", a->f16 ? "float16" : "float32");
}

/* The folders above dir, made when missing (as mkdir -p): "out/shards" with no out/. */
static int make_parents(const char *dir)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s", dir);
    if (n < 0 || (size_t)n >= sizeof path) return errno = ENAMETOOLONG, -1;
    while (n > 1 && path[n - 1] == '/') path[--n] = '\0';
    char *last = strrchr(path, '/');
    if (!last || last == path) return 0;
    *last = '\0';
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(path, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

int shards_start(shards_out **out, const render_args *a, const render_plan *p, ba_renderer *r,
                 render_todo *todo, char *msg, size_t cap)
{
    memset(todo, 0, sizeof *todo);
    shards_out *s = *out = calloc(1, sizeof *s);
    if (!s) return snprintf(msg, cap, "out of memory"), BA_ENOMEM;
    s->f16 = a->f16;
    snprintf(s->dir, sizeof s->dir, "%s", a->shards);
    char *identity = NULL;
    json_t *params = NULL;
    int err = ba_renderer_identity(r, &identity);
    if (err == BA_OK) {
        json_error_t jerr;
        json_t *id = json_loads(identity, 0, &jerr);
        params = id ? json_pack("{s:o,s:o}", "renderer", id, "plan", plan_json(a, p)) : NULL;
        if (!params) err = BA_ENOMEM;
    }
    ba_free(identity);
    char *text = params ? json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(params);
    if (err == BA_OK && !text) err = BA_ENOMEM;
    if (err != BA_OK) {
        free(text);
        return snprintf(msg, cap, "--shards %s: %s", a->shards, ba_strerror(err)), err;
    }
    if (make_parents(a->shards) != 0) {
        free(text);
        return snprintf(msg, cap, "--shards %s: cannot make the folders above it: %s",
                        a->shards, strerror(errno)), BA_EIO;
    }
    err = ba_shards_new(&s->w);
    if (!err) err = ba_shards_set_int(s->w, BA_SHARDS_SAMPLES, a->shard_size);
    if (!err) err = ba_shards_set_int(s->w, BA_SHARDS_BYTES, a->shard_bytes);
    if (!err) err = ba_shards_set_int(s->w, BA_SHARDS_COCO, a->coco_flag);
    if (!err) err = ba_shards_set_int(s->w, BA_SHARDS_RESUME, a->resume);
    if (!err) err = ba_shards_open(s->w, a->shards, text);
    free(text);
    if (err) {
        const char *m = s->w ? ba_shards_message(s->w) : "";
        snprintf(msg, cap, "%s", *m ? m : ba_strerror(err));
        return err;
    }
    /* what is left to render: the indices no complete shard holds, in order */
    size_t n = 0;
    for (size_t i = 0; i < p->total; i++) n += !ba_shards_done(s->w, (int64_t)i);
    todo->count = n;
    todo->owned = 1;
    todo->indices = malloc((n ? n : 1) * sizeof *todo->indices);
    todo->frames = p->frames ? malloc((n ? n : 1) * sizeof *todo->frames) : NULL;
    todo->params = p->params ? malloc((n ? n : 1) * sizeof *todo->params) : NULL;
    if (!todo->indices || (p->frames && !todo->frames) || (p->params && !todo->params))
        return snprintf(msg, cap, "out of memory"), BA_ENOMEM;
    for (size_t i = 0, k = 0; i < p->total; i++) {
        if (ba_shards_done(s->w, (int64_t)i)) continue;
        todo->indices[k] = (int64_t)i;
        if (p->frames) todo->frames[k] = p->frames[i];
        if (p->params) todo->params[k] = p->params[i]; /* borrowed from the plan */
        k++;
    }
    return BA_OK;
}

/* The frame's arrays as written: float32 passes as float16 with --dtype float16. */
static int converted(shards_out *s, const ba_frame *f, const ba_frame_array **out)
{
    *out = f->arrays;
    if (!s->f16) return BA_OK;
    size_t need = 0;
    for (int i = 0; i < f->narrays; i++)
        if (f->arrays[i].dtype == BA_DTYPE_F32) need += f->arrays[i].nbytes / 4;
    if (need > s->half_cap) {
        uint16_t *h = realloc(s->half, need * sizeof *h);
        if (!h) return BA_ENOMEM;
        s->half = h;
        s->half_cap = need;
    }
    if (f->narrays > s->arrays_cap) {
        ba_frame_array *a = realloc(s->arrays, (size_t)f->narrays * sizeof *a);
        if (!a) return BA_ENOMEM;
        s->arrays = a;
        s->arrays_cap = f->narrays;
    }
    uint16_t *h = s->half;
    for (int i = 0; i < f->narrays; i++) {
        s->arrays[i] = f->arrays[i];
        if (f->arrays[i].dtype != BA_DTYPE_F32) continue;
        size_t n = f->arrays[i].nbytes / 4;
        int err = ba_f32_to_f16(h, f->arrays[i].data, n);
        if (err) return err;
        s->arrays[i].dtype = BA_DTYPE_F16;
        s->arrays[i].data = h;
        s->arrays[i].nbytes = n * 2;
        h += n;
    }
    *out = s->arrays;
    return BA_OK;
}

int shards_frame(shards_out *s, const ba_frame *f, char *msg, size_t cap)
{
    const ba_frame_array *arrays;
    int err = converted(s, f, &arrays);
    if (!err) err = ba_shards_add(s->w, f->index, arrays, f->narrays, f->meta_json);
    if (err) {
        const char *m = ba_shards_message(s->w);
        snprintf(msg, cap, "%s", *m ? m : ba_strerror(err));
    }
    return err;
}

int shards_finish(shards_out *s, char *msg, size_t cap)
{
    int err = ba_shards_finish(s->w);
    if (err) {
        const char *m = ba_shards_message(s->w);
        snprintf(msg, cap, "%s", *m ? m : ba_strerror(err));
    }
    return err;
}

uint64_t shards_count(const shards_out *s, int what)
{
    return s && s->w ? ba_shards_count(s->w, what) : 0;
}

const char *shards_dir(const shards_out *s)
{
    return s->dir;
}

void shards_free(shards_out *s)
{
    if (!s) return;
    ba_shards_free(s->w); /* an unfinished shard's temporary file goes with it */
    free(s->half);
    free(s->arrays);
    free(s);
}

void render_todo_free(render_todo *t)
{
    if (t->owned) {
        free(t->indices);
        free(t->frames);
        free(t->params); /* the strings are the plan's */
    }
    memset(t, 0, sizeof *t);
}
