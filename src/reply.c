/* reply.c — the worker protocol's messages, consumer side (docs/protocol.md):
 * the init and render requests, frame replies turned into arrays over the
 * memory they name (and refused when they do not lie inside it), and the
 * errors, worded once for the C API, the CLI and Python alike.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "renderer.h"

/* ---------------------------------------------------------------------- */
/*  errors                                                                 */
/* ---------------------------------------------------------------------- */

static const char *default_type(int code)
{
    switch (code) {
    case BA_EWORKER: return "WorkerError";
    case BA_ERENDER: return "RenderError";
    default: return "BlendArrayError";
    }
}

static int err_vset(ba_err *e, int code, json_t *json, const char *fmt, va_list ap)
{
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    json_decref(e->json);
    e->json = json && json_is_object(json) ? json : json_object();
    if (json && e->json != json) json_decref(json);
    if (e->json) {
        if (!json_is_string(json_object_get(e->json, "type")))
            json_object_set_new(e->json, "type", json_string(default_type(code)));
        json_object_set_new(e->json, "message", json_string(e->msg));
    }
    return code;
}

int ba_err_set(ba_err *e, int code, json_t *json, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int err = err_vset(e, code, json, fmt, ap);
    va_end(ap);
    return err;
}

int ba_err_worker(ba_err *e, worker *w, const char *fmt, ...)
{
    char head[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    const char *out = ba_worker_output(w);
    json_t *j = json_pack("{s:s,s:s,s:i}", "type", "WorkerError", "output", out, "worker", w->id);
    if (j && w->returncode) json_object_set_new(j, "returncode", json_integer(w->returncode));
    return ba_err_set(e, BA_EWORKER, j, "%s.\nBlender's last output:\n%s", head, out);
}

int ba_err_reply(ba_err *e, json_t *reply, int64_t index, int worker)
{
    json_t *err = json_object_get(reply, "error");
    json_t *j = json_is_object(err) ? json_deep_copy(err) : json_object();
    const char *type = json_string_value(json_object_get(j, "type"));
    const char *m = json_string_value(json_object_get(j, "message"));
    const char *tb = json_string_value(json_object_get(j, "traceback"));
    if (!type) type = "RenderError";
    if (!m) m = "unknown error in the worker";
    char where[48] = "";
    if (index >= 0) {
        snprintf(where, sizeof where, "index %lld: ", (long long)index);
        if (j) json_object_set_new(j, "index", json_integer(index));
    }
    if (j) json_object_set_new(j, "worker", json_integer(worker));
    int code = strcmp(type, "WorkerError") == 0 ? BA_EWORKER : BA_ERENDER;
    /* an unexpected exception in the worker: its type and traceback help */
    if (tb) return ba_err_set(e, code, j, "%s%s: %s\n%s", where, type, m, tb);
    return ba_err_set(e, code, j, "%s%s", where, m);
}

/* ---------------------------------------------------------------------- */
/*  requests                                                               */
/* ---------------------------------------------------------------------- */

static json_t *null_or_str(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *ba_parse_object(const char *text, const char *what, ba_err *e)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    if (!j || !json_is_object(j)) {
        int parsed = j != NULL; /* JSON, not an object: jerr says nothing */
        json_decref(j);
        ba_err_set(e, BA_EINVAL, NULL, "%s must be a JSON object, not %.200s%s%s%s", what, text,
                   parsed ? "" : " (", parsed ? "" : jerr.text, parsed ? "" : ")");
        return NULL;
    }
    return j;
}

/* The settings and the hook as the options hold them, parsed when set: copied,
 * so that the message owns its own (the options may be freed after open). */
json_t *ba_init_message(const ba_renderer_options *o, const char *scene, ba_err *e)
{
    json_t *settings = o->settings ? json_deep_copy(o->settings) : json_object();
    json_t *setup = o->setup ? json_deep_copy(o->setup) : json_null();
    json_t *m = settings && setup
                    ? json_pack("{s:s,s:i,s:o,s:o,s:o,s:I}", "op", "init", "protocol",
                                BA_PROTOCOL_VERSION, "scene", null_or_str(scene), "settings",
                                settings, "setup", setup, "seed", (json_int_t)o->p.seed)
                    : NULL;
    if (!settings || !setup) { /* not packed: json_pack's "o" takes its values, even failing */
        json_decref(settings);
        json_decref(setup);
    }
    if (!m) ba_err_set(e, BA_ENOMEM, NULL, "out of memory");
    return m;
}

json_t *ba_render_message(const job *jb)
{
    return json_pack("{s:s,s:I,s:I,s:o,s:O,s:O}", "op", "render", "job", (json_int_t)jb->id,
                     "index", (json_int_t)jb->t->index, "slot",
                     jb->slot >= 0 ? json_integer(jb->slot) : json_null(), "params",
                     jb->t->params, "user", jb->t->user);
}

static const char *const PER_FRAME[] = {"frame", "engine", "samples", "resolution", "denoise",
                                        "threads", "seed"};

/* A per-frame "seed": what numpy.random.default_rng takes as entropy with the
 * index appended, a non-negative integer or a non-empty array of them. */
static int seed_ok(const json_t *v)
{
    if (json_is_integer(v)) return json_integer_value(v) >= 0;
    if (!json_is_array(v) || json_array_size(v) == 0) return 0;
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x)
        if (!json_is_integer(x) || json_integer_value(x) < 0) return 0;
    return 1;
}

int ba_split_params(const char *params_json, json_t **params, json_t **user, ba_err *e)
{
    *params = json_object();
    *user = json_object();
    json_t *all = params_json ? ba_parse_object(params_json, "per-frame params", e) : json_object();
    json_t *seed = NULL;
    int err = BA_OK;
    if (!*params || !*user || (!all && !params_json)) {
        err = ba_err_set(e, BA_ENOMEM, NULL, "out of memory");
    } else if (!all) {
        /* a text that did not parse, e says why (jansson reports running out
         * of memory as a syntax error too: the two cannot be told apart) */
        err = BA_EINVAL;
    } else if ((seed = json_object_get(all, "seed")) && !seed_ok(seed)) {
        char *text = json_dumps(seed, JSON_ENCODE_ANY | JSON_COMPACT);
        err = ba_err_set(e, BA_EINVAL, NULL, "per-frame \"seed\" must be a non-negative integer "
                         "or a non-empty list of them (the hook's rng is default_rng([*seed, "
                         "index])), not %.200s", text ? text : "?");
        free(text);
    } else {
        const char *key;
        json_t *value;
        json_object_foreach(all, key, value) {
            int known = 0;
            for (size_t i = 0; i < sizeof PER_FRAME / sizeof *PER_FRAME; i++)
                known |= strcmp(key, PER_FRAME[i]) == 0;
            if (json_object_set(known ? *params : *user, key, value) != 0) {
                err = ba_err_set(e, BA_ENOMEM, NULL, "out of memory");
                break;
            }
        }
    }
    json_decref(all);
    if (err != BA_OK) {
        json_decref(*params);
        json_decref(*user);
        *params = *user = NULL;
    }
    return err;
}

/* ---------------------------------------------------------------------- */
/*  frame replies                                                          */
/* ---------------------------------------------------------------------- */

/* json_dumps(j, JSON_COMPACT), every failure reported: jansson's json_dumps()
 * leaves out an object key that it has no memory for and still succeeds
 * (its dump.c ignores dump_string() for keys). Into a buffer of the size a
 * first pass counts, the second pass cannot fail midway. */
static char *dump_compact(const json_t *j)
{
    size_t n = json_dumpb(j, NULL, 0, JSON_COMPACT);
    char *s = n ? malloc(n + 1) : NULL;
    if (s && json_dumpb(j, s, n, JSON_COMPACT) != n) {
        free(s);
        return NULL;
    }
    if (s) s[n] = '\0';
    return s;
}

void ba_free_held(held *h)
{
    if (!h) return;
    for (int i = 0; i < h->nmaps; i++) munmap(h->maps[i], h->map_len[i]);
    free(h->arrays);
    free(h->names);
    json_decref(h->err_json);
    free((char *)h->frame.meta_json);
    free(h);
}

static int dtype_from(const char *descr)
{
    for (int i = 0; descr && ba_dtype_descr(i); i++)
        if (strcmp(descr, ba_dtype_descr(i)) == 0) return i;
    return -1;
}

size_t ba_reply_size(json_t *reply)
{
    size_t size = 0;
    json_t *parts = json_object_get(reply, "parts");
    for (size_t i = 0; i < json_array_size(parts); i++) {
        json_int_t n = json_integer_value(json_object_get(json_array_get(parts, i), "size"));
        if (n > 0) size += (size_t)n;
    }
    return size;
}

/* Map a frame part's memfd. One shorter than the size it comes with, or one
 * the worker could shrink later, would SIGBUS us on access: it must be
 * sealed. Mapped private: arrays are writable, the worker sees no change. */
static int map_part(int fd, json_int_t size, held *h, ba_err *e)
{
    struct stat st;
    int seals = fcntl(fd, F_GET_SEALS);
    if (size <= 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (uint64_t)st.st_size < (uint64_t)size || seals < 0 || !(seals & F_SEAL_SHRINK))
        return ba_err_set(e, BA_EWORKER, NULL, "sent frame memory that is not a sealed memfd of "
                          "the size it states");
    void *m = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) return ba_err_set(e, BA_EIO, NULL, "mmap of a frame: %s", strerror(errno));
    h->maps[h->nmaps] = m;
    h->map_len[h->nmaps++] = (size_t)size;
    return BA_OK;
}

/* One array description, checked to lie inside [base, base + avail). */
static int take_array(json_t *a, uint8_t *base, size_t avail, ba_frame_array *fa, char **names)
{
    const char *name = json_string_value(json_object_get(a, "name"));
    json_t *shape = json_object_get(a, "shape");
    json_t *off = json_object_get(a, "offset"), *nb = json_object_get(a, "nbytes");
    fa->dtype = dtype_from(json_string_value(json_object_get(a, "dtype")));
    fa->ndim = (int)json_array_size(shape);
    if (!name || fa->dtype < 0 || fa->ndim < 2 || fa->ndim > 3 || !json_is_integer(off) ||
        !json_is_integer(nb) || json_integer_value(off) < 0 || json_integer_value(nb) < 0)
        return 0;
    uint64_t count = ba_dtype_size(fa->dtype);
    for (int d = 0; d < fa->ndim; d++) {
        json_t *dim = json_array_get(shape, (size_t)d);
        if (!json_is_integer(dim) || json_integer_value(dim) < 0 ||
            __builtin_mul_overflow(count, (uint64_t)json_integer_value(dim), &count))
            return 0;
        fa->shape[d] = (uint64_t)json_integer_value(dim);
    }
    uint64_t o = (uint64_t)json_integer_value(off), n = (uint64_t)json_integer_value(nb);
    if (count != n || o > avail || n > avail - o) return 0;
    size_t len = strlen(name) + 1;
    memcpy(*names, name, len);
    fa->name = *names;
    *names += len;
    fa->data = base + o;
    fa->nbytes = (size_t)n;
    return 1;
}

/* ---- the frame's meta_json, spliced from the reply's text ---------------
 * The meta the worker wrote, with "index" and "worker" added, is the frame's
 * meta_json. Dumped again by jansson, its 50-odd numbers went through printf:
 * a sixth of the consumer's time a frame at 64x64. Copied from the reply's
 * text instead, which jansson has parsed (so it is well-formed JSON): the
 * scanner below only finds where the value of a top-level key lies. */

static size_t skip_ws(const char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    return i;
}

/* s[i] is a string's opening quote: the index after its closing one (n: none). */
static size_t skip_string(const char *s, size_t n, size_t i)
{
    for (i++; i < n; i++) {
        if (s[i] == '\\') i++;
        else if (s[i] == '"') return i + 1;
    }
    return n;
}

/* The index after the value that starts at s[i] (n: it does not end). */
static size_t skip_value(const char *s, size_t n, size_t i)
{
    if (i >= n) return n;
    if (s[i] == '"') return skip_string(s, n, i);
    if (s[i] != '{' && s[i] != '[') { /* a number, true, false, null */
        while (i < n && !strchr(",}] \t\n\r", s[i])) i++;
        return i;
    }
    size_t depth = 0;
    while (i < n) {
        if (s[i] == '"') {
            i = skip_string(s, n, i);
            continue;
        }
        if (s[i] == '{' || s[i] == '[') depth++;
        else if ((s[i] == '}' || s[i] == ']') && --depth == 0) return i + 1;
        i++;
    }
    return n;
}

/* Where the value of the top-level member `key` of the object text s lies
 * (the last one, as jansson keeps the last of repeated keys): 1 and *at,
 * *len; 0 when it is not there as a plain key (written with escapes, it is
 * not found: the caller dumps instead). */
static int member_span(const char *s, size_t n, const char *key, size_t *at, size_t *len)
{
    size_t i = skip_ws(s, n, 0), klen = strlen(key);
    int found = 0;
    if (i >= n || s[i] != '{') return 0;
    for (i = skip_ws(s, n, i + 1); i < n && s[i] == '"';) {
        size_t kend = skip_string(s, n, i);
        if (kend >= n) return 0;
        int same = kend - i - 2 == klen && memcmp(s + i + 1, key, klen) == 0;
        i = skip_ws(s, n, kend);
        if (i >= n || s[i] != ':') return 0;
        size_t v = skip_ws(s, n, i + 1), vend = skip_value(s, n, v);
        if (vend > n || vend == v) return 0;
        if (same) {
            *at = v;
            *len = vend - v;
            found = 1;
        }
        i = skip_ws(s, n, vend);
        if (i < n && s[i] == ',') i = skip_ws(s, n, i + 1);
        else break;
    }
    return found;
}

/* meta's text (s[at, at + len), an object with no "index" or "worker") with
 * those two added at its end, as json_object_set_new() and a dump would add
 * them; NULL when out of memory. */
static char *splice_meta(const char *s, size_t len, int empty, long long index, int worker)
{
    char tail[80];
    int t = snprintf(tail, sizeof tail, "%s\"index\":%lld,\"worker\":%d}", empty ? "" : ",",
                     index, worker);
    size_t keep = 1; /* the opening brace, and what follows up to the closing one */
    if (!empty)
        for (keep = len - 1; keep > 1 && strchr(" \t\n\r", s[keep - 1]); keep--) {
        }
    char *out = t > 0 ? malloc(keep + (size_t)t + 1) : NULL;
    if (!out) return NULL;
    memcpy(out, s, keep);
    memcpy(out + keep, tail, (size_t)t + 1);
    return out;
}

int ba_take_frame(worker *w, json_t *reply, const char *text, size_t len, int *fds, int nfds,
                  const job *jb, held **out, ba_err *e)
{
    *out = NULL;
    json_t *parts = json_object_get(reply, "parts");
    size_t np = json_array_size(parts), narr = 0, names = 0;
    for (size_t i = 0; i < np; i++) {
        json_t *arrs = json_object_get(json_array_get(parts, i), "arrays");
        for (size_t j = 0; j < json_array_size(arrs); j++) {
            const char *n = json_string_value(json_object_get(json_array_get(arrs, j), "name"));
            narr++;
            names += (n ? strlen(n) : 0) + 1;
        }
    }
    held *h = calloc(1, sizeof *h);
    if (h) {
        h->arrays = calloc(narr ? narr : 1, sizeof *h->arrays);
        h->names = malloc(names ? names : 1);
    }
    if (!h || !h->arrays || !h->names) {
        ba_free_held(h);
        return ba_err_set(e, BA_ENOMEM, NULL, "out of memory");
    }
    h->seq = jb->t->seq;
    h->slot = -1;
    int fdi = 0, err = BA_OK;
    size_t a = 0;
    char *np_ = h->names;
    if (!json_is_array(parts))
        err = ba_err_set(e, BA_EWORKER, NULL, "sent a frame without its parts");
    for (size_t i = 0; i < np && err == BA_OK; i++) {
        json_t *part = json_array_get(parts, i);
        json_t *slotj = json_object_get(part, "slot");
        uint8_t *base;
        size_t avail;
        if (json_is_integer(slotj)) {
            json_int_t k = json_integer_value(slotj);
            if (!w->ring || k != jb->slot || h->slot >= 0) {
                err = ba_err_set(e, BA_EWORKER, NULL, "answered with slot %lld, not the slot %d "
                                 "it was given", (long long)k, jb->slot);
                break;
            }
            base = ba_ring_slot(w->ring, (uint32_t)k);
            avail = ba_ring_slot_size(w->ring);
            h->slot = (int)k;
        } else {
            if (fdi >= nfds || h->nmaps >= BA_MSG_MAX_FDS) {
                err = ba_err_set(e, BA_EWORKER, NULL, "sent a frame part without its memory");
                break;
            }
            if ((err = map_part(fds[fdi++], json_integer_value(json_object_get(part, "size")),
                                h, e)) != BA_OK)
                break;
            base = h->maps[h->nmaps - 1];
            avail = h->map_len[h->nmaps - 1];
        }
        json_t *arrs = json_object_get(part, "arrays");
        for (size_t j = 0; j < json_array_size(arrs) && err == BA_OK; j++, a++)
            if (!take_array(json_array_get(arrs, j), base, avail, &h->arrays[a], &np_)) {
                char *desc = json_dumps(json_array_get(arrs, j), JSON_COMPACT);
                err = ba_err_set(e, BA_EWORKER, NULL, "described an array that does not lie "
                                 "inside the memory it sent (%.200s)", desc ? desc : "?");
                free(desc);
            }
    }
    /* a copy with "index" and "worker" added, every step checked: json_copy()
     * leaves out, unsaid, the members it has no memory for */
    json_t *given = json_object_get(reply, "meta"), *meta = json_object();
    if (meta && json_is_object(given) && json_object_update(meta, given) != 0) {
        json_decref(meta);
        meta = NULL;
    }
    if (err == BA_OK && meta) {
        h->frame.index = jb->t->index;
        h->frame.frame = json_integer_value(json_object_get(meta, "frame"));
        h->frame.worker = w->id;
        h->frame.slot = h->slot;
        h->frame.narrays = (int)a;
        h->frame.arrays = h->arrays;
        size_t at = 0, n = 0;
        if (text && json_is_object(given) && !json_object_get(given, "index") && !json_object_get(given, "worker") &&
            member_span(text, len, "meta", &at, &n) && n >= 2 && text[at] == '{')
            h->frame.meta_json = splice_meta(text + at, n, json_object_size(given) == 0,
                                             (long long)jb->t->index, w->id);
        else if (json_object_set_new(meta, "index", json_integer(jb->t->index)) == 0 &&
                 json_object_set_new(meta, "worker", json_integer(w->id)) == 0)
            h->frame.meta_json = dump_compact(meta);
    }
    json_decref(meta);
    if (err == BA_OK && !h->frame.meta_json) err = ba_err_set(e, BA_ENOMEM, NULL, "out of memory");
    if (err != BA_OK) {
        ba_free_held(h);
        return err;
    }
    *out = h;
    return BA_OK;
}
