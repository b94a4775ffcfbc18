/* renderer.h — the consumer side of the worker protocol, inside the library:
 * the types shared by its three parts (not installed).
 *
 *   worker.c    one Blender process: start, talk, drain its output, stop, reap
 *   reply.c     the protocol's messages: init and render requests, frame
 *               replies (checked against the memory they name), errors
 *   renderer.c  the scheduler and the public ba_renderer_* API
 */
#ifndef BA_RENDERER_H
#define BA_RENDERER_H

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "internal.h"

#define BA_TAIL_MAX 6000   /* bytes of a worker's last output kept for error messages */
#define BA_MAX_INFLIGHT BA_RENDERER_INFLIGHT /* blendarray.h */
#define BA_RING_AUTO_BYTES ((size_t)64 << 20) /* BA_OPT_RING 0: slots within this much a worker, */
#define BA_RING_AUTO_MIN 4                     /* but at least this many */
#define BA_RING_AUTO_MAX 16                    /* and at most this many */
#define BA_ERR_MAX 32768   /* longest error message */

/* A frame asked for: submitted, waiting or in flight. */
typedef struct task {
    uint64_t seq;          /* submission order */
    int64_t index;
    json_t *params;        /* the known per-frame settings */
    json_t *user;          /* the caller's own keys */
    unsigned attempts;     /* workers that died rendering it */
} task;

typedef struct job {
    uint64_t id;           /* unique in the renderer's lifetime: replies name it */
    task *t;
    int slot;              /* -1: no ring yet */
} job;

typedef struct worker {
    int id;
    pid_t pid;             /* 0: not running */
    int starting;          /* 1: init sent, 2: ring sent, not answered yet; 0: ready */
    int start_failures;    /* failed starts in a row: kept here, not on the stack, so
                              that a start resumed after BA_EINTR keeps counting */
    int sock, out;         /* control socket, Blender's output (non-blocking) */
    char tmpdir[PATH_MAX]; /* its private TMPDIR */
    char tail[BA_TAIL_MAX];
    size_t tail_len;
    int crash_attached;    /* Blender's crash reports are in tail already */
    int returncode;        /* how it ended: exit status, or -signal */
    ba_ring *ring;         /* kept across restarts */
    uint8_t *slot_free;
    int spare_held;        /* its frame in its own memory (the first one, or one sent
                              while every slot was held) is waiting or handed out */
    job inflight[BA_MAX_INFLIGHT];
    int ninflight;
    double progress;       /* when it last answered (or got work while idle) */
    /* recycling (BA_OPT_MAX_WORKER_*), counted since it was last spawned: */
    int64_t given;         /* frames sent to it */
    int64_t answered;      /* frames it answered (a frame or its error) */
    int retiring;          /* 1: sent nothing more; replaced once its frames are in */
    int memory_exempt;     /* 1: over the automatic memory limit after its first frame:
                              not replaced for memory in this life (a fresh one would be too) */
    int64_t last_memory;   /* its memory after its last frame (the reply's "memory"), -1: none */
    int64_t last_growth;   /* how much that frame added, -1: not known yet */
} worker;

/* A finished frame (or a frame's error) waiting to be handed out, then
 * handed out until released. `frame` first: a ba_frame * is a held *. */
typedef struct held {
    ba_frame frame;
    uint64_t seq;
    int slot;              /* -1: the arrays lie in maps */
    int spare;             /* 1: its job had no slot (its worker's spare frame) */
    int err;               /* BA_OK, or the error to hand out in its turn */
    json_t *err_json;      /* the error (its "message" is ba_renderer_message()'s) */
    void *maps[BA_MSG_MAX_FDS];
    size_t map_len[BA_MSG_MAX_FDS];
    int nmaps;
    ba_frame_array *arrays;
    char *names;           /* storage for the arrays' names */
    struct held *next;
} held;

/* Sinks for what goes wrong: the renderer's message and its JSON twin. */
typedef struct ba_err {
    char msg[BA_ERR_MAX];
    json_t *json;          /* NULL: "{}" */
} ba_err;

/* The numbers a renderer keeps of its options (set through the
 * ba_renderer_options_set_* calls, within their bounds). */
typedef struct ba_params {
    long long seed;        /* the hook's RNG: default_rng([seed, index]) */
    int workers;
    int ring;              /* slots per worker, 0: by frame size (BA_RING_AUTO_*) */
    int retries;
    double timeout;        /* seconds a frame may take, 0: no limit */
    int64_t max_frames;    /* frames per worker life, 0: no limit */
    int64_t max_memory;    /* resident bytes per worker, 0: no limit, -1: automatic */
    int verbose;
    volatile const int *stop;
} ba_params;

/* The options object: only the library knows its layout (the public header
 * declares it opaque), so it may grow. BA_TEST_GROW_OPTIONS, defined for the
 * ABI test's second build of the library (tests/c/meson.build), grows it in
 * front of and behind its fields as a later version might. */
struct ba_renderer_options {
#ifdef BA_TEST_GROW_OPTIONS
    char grown_front[3000];
#endif
    char *blender, *python, *package_dir, *scene; /* NULL: the default */
    json_t *settings, *setup;                     /* parsed when set; NULL: none */
    ba_params p;
    ba_err e;              /* the last failure: a setter's or ba_renderer_open's */
    char *err_text;        /* ba_renderer_options_error_json()'s last answer */
#ifdef BA_TEST_GROW_OPTIONS
    double grown_back[500];
#endif
};

/* ---- worker.c ---------------------------------------------------------- */

typedef struct worker_cmd {
    const char *blender;   /* a binary's path/name, or "bpy" */
    const char *python;    /* for bpy */
    const char *package;   /* the blendarray package's folder (its __init__.py) */
    const char *lib;       /* the libblendarray it loads ($BLENDARRAY_LIB); NULL: the
                              one beside its package (python/blendarray/_lib.py) */
    int verbose;
    volatile const int *stop;
} worker_cmd;

double ba_now(void);
/* Where workers' folders are made: $TMPDIR, else /tmp. */
const char *ba_tmp_root(void);
/* The library a worker of `package` should load (see worker_cmd.lib): BA_OK
 * with *lib malloc'd or NULL (the package's own), or BA_ENOMEM. */
int ba_worker_lib(const char *package, char **lib);
/* Start the process (no message sent yet). */
int ba_worker_spawn(worker *w, const worker_cmd *c, ba_err *e);
/* Read what Blender printed (non-blocking). */
void ba_worker_drain(worker *w, int verbose);
/* Its last output lines and crash reports, from a line boundary. */
const char *ba_worker_output(worker *w);
/* It died (why == NULL) or is stopped for `why` (what it did; it is killed):
 * reap it and say so in e, a WorkerError with its output; BA_EWORKER. */
int ba_worker_failed(worker *w, int verbose, const char *why, const char *doing, ba_err *e);
/* Stop it (politely unless kill_now), close its fds, remove its folder. */
void ba_worker_stop(worker *w, int kill_now, int verbose);
int ba_worker_send(worker *w, json_t *msg, const int *fds, int nfds);
/* One message (a JSON object): BA_OK, BA_ETIMEDOUT (nothing there),
 * BA_ECLOSED (gone), BA_EFORMAT (not a JSON object; fds closed). */
int ba_worker_recv(worker *w, char *buf, size_t cap, size_t *len, json_t **msg, int *fds,
                   int *nfds);
/* Wait up to timeout s for the reply to a request; on failure w is stopped
 * and e says why, naming `doing`. */
int ba_worker_wait_reply(worker *w, const worker_cmd *c, double timeout, const char *doing,
                         char *buf, size_t cap, json_t **reply, ba_err *e);

/* ---- reply.c ----------------------------------------------------------- */

int ba_err_set(ba_err *e, int code, json_t *json, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A WorkerError with Blender's output and exit status. */
int ba_err_worker(ba_err *e, worker *w, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An {"ok": false} reply's error, for `index` (-1: none). */
int ba_err_reply(ba_err *e, json_t *reply, int64_t index, int worker);

/* `text` as a JSON object, or NULL with e saying "<what> must be a JSON object, ...". */
json_t *ba_parse_object(const char *text, const char *what, ba_err *e);
json_t *ba_init_message(const ba_renderer_options *o, const char *scene, ba_err *e);
json_t *ba_render_message(const job *jb);
/* Split per-frame params (a JSON object) into known settings and the user's keys. */
int ba_split_params(const char *params_json, json_t **params, json_t **user, ba_err *e);
/* A frame reply into a held frame: parts mapped (memfds) or pointed into the
 * slot, every array checked to lie inside its memory. A reply that breaks the
 * protocol is BA_EWORKER with e saying what the worker did ("described an
 * array that ..."). text, len: the reply's JSON text (reply parsed), whose
 * "meta" the frame's meta_json copies; NULL: made from reply alone. */
int ba_take_frame(worker *w, json_t *reply, const char *text, size_t len, int *fds, int nfds,
                  const job *jb, held **out, ba_err *e);
/* The size a slot needs for this reply's frame. */
size_t ba_reply_size(json_t *reply);
void ba_free_held(held *h);

#endif
