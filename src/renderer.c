/* renderer.c — the scheduler of the worker protocol's consumer side, and the
 * public ba_renderer_* API: which frame goes to which worker and slot, what
 * comes back in which order, and what happens when a worker dies.
 *
 * One thread drives it: every wait is one poll() over the workers' sockets
 * and output pipes, so Blender never blocks on a full pipe and a signal
 * (EINTR) is seen at once. Frames may be released from any thread: a
 * release only queues the slot under a mutex; the driver applies it.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "renderer.h"

typedef struct freed_slot {
    int worker, slot;
} freed_slot;

struct ba_renderer {
    ba_renderer_options o;
    worker_cmd cmd;
    char *blender, *python, *pkg;
    json_t *init_msg;
    double init_timeout;
    worker *w;
    int nw;
    uint64_t next_job, next_seq;
    task **queue;          /* waiting for a worker, in submission order */
    size_t nqueue, capqueue;
    held *done;            /* finished, not handed out yet */
    pthread_mutex_t mu;    /* guards what release() touches: */
    freed_slot *freed;     /*   slots released, not yet given back */
    size_t nfreed, capfreed;
    int outstanding;       /*   frames handed out, not released */
    int closed;
    ba_err e;
    char *err_text;        /* ba_renderer_error_json()'s last answer */
    char buf[BA_MSG_MAX];
};

static int nomem(ba_renderer *r)
{
    return ba_err_set(&r->e, BA_ENOMEM, NULL, "out of memory");
}

static void free_task(task *t)
{
    if (!t) return;
    json_decref(t->params);
    json_decref(t->user);
    free(t);
}

/* ---------------------------------------------------------------------- */
/*  the queue: tasks by submission order (a retried one goes back first)  */
/* ---------------------------------------------------------------------- */

static int enqueue(ba_renderer *r, task *t)
{
    if (r->nqueue == r->capqueue) {
        size_t cap = r->capqueue ? r->capqueue * 2 : 16;
        task **q = realloc(r->queue, cap * sizeof *q);
        if (!q) return nomem(r);
        r->queue = q;
        r->capqueue = cap;
    }
    size_t at = r->nqueue;
    while (at > 0 && r->queue[at - 1]->seq > t->seq) at--;
    memmove(&r->queue[at + 1], &r->queue[at], (r->nqueue - at) * sizeof *r->queue);
    r->queue[at] = t;
    r->nqueue++;
    return BA_OK;
}

static task *dequeue(ba_renderer *r)
{
    task *t = r->queue[0];
    memmove(&r->queue[0], &r->queue[1], --r->nqueue * sizeof *r->queue);
    return t;
}

/* ---------------------------------------------------------------------- */
/*  workers                                                                */
/* ---------------------------------------------------------------------- */

static int ring_sent(ba_renderer *r, worker *w)
{
    int fd = ba_ring_fd(w->ring);
    json_t *m = json_pack("{s:s}", "op", "ring");
    int err = m ? ba_worker_send(w, m, &fd, 1) : nomem(r);
    json_decref(m);
    if (err != BA_OK && err != BA_ENOMEM)
        err = ba_err_worker(&r->e, w, "Blender (worker %d) is gone", w->id);
    return err;
}

/* Wait for a reply {"ok": true}: BA_EINTR (a signal) leaves it to wait for again. */
static int ok_reply(ba_renderer *r, worker *w, double timeout, const char *doing, json_t **out)
{
    json_t *reply = NULL;
    int err = ba_worker_wait_reply(w, &r->cmd, timeout, doing, r->buf, sizeof r->buf, &reply,
                                   &r->e);
    if (err == BA_OK && !json_is_true(json_object_get(reply, "ok")))
        err = ba_err_reply(&r->e, reply, -1, w->id);
    if (err == BA_OK && out) *out = reply;
    else json_decref(reply);
    return err;
}

/* After spawn: the init reply (the scene loaded, the settings applied, the
 * hook loaded), then the ring's when it exists (a restarted worker keeps it).
 * Resumable: a signal (BA_EINTR) leaves w starting, to be finished later. */
static int finish_start(ba_renderer *r, worker *w)
{
    int err = BA_OK;
    if (w->starting == 1) {
        json_t *reply = NULL;
        err = ok_reply(r, w, r->init_timeout, "starting", &reply);
        if (err == BA_EINTR) return err;
        json_t *v = json_object_get(reply, "protocol");
        if (err == BA_OK && json_integer_value(v) != BA_PROTOCOL_VERSION) {
            char *text = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
            err = ba_err_worker(&r->e, w, "Blender (worker %d) speaks worker protocol version "
                                "%s, this consumer speaks %d: blendarray's C library and the Python "
                                "package Blender loads come from different versions; reinstall or "
                                "rebuild blendarray (pip install .) so that they match", w->id,
                                text ? text : "(none)", BA_PROTOCOL_VERSION);
            free(text);
        }
        json_decref(reply);
        w->starting = w->ring ? 2 : 0;
        if (err == BA_OK && w->ring) err = ring_sent(r, w);
    }
    if (err == BA_OK && w->starting == 2) {
        err = ok_reply(r, w, 60, "attaching its ring", NULL);
        if (err == BA_EINTR) return err;
        w->starting = 0;
    }
    if (err != BA_OK) ba_worker_stop(w, 1, r->o.verbose);
    return err;
}

/* Run w and send it its init. *died: it ran, but was gone before it took the init. */
static int spawn_and_init(ba_renderer *r, worker *w, int *died)
{
    int err = ba_worker_spawn(w, &r->cmd, &r->e);
    *died = 0;
    if (err == BA_OK && ba_worker_send(w, r->init_msg, NULL, 0) != BA_OK) {
        *died = 1;
        err = ba_worker_failed(w, r->o.verbose, NULL, "starting", &r->e);
        ba_worker_stop(w, 1, r->o.verbose);
    }
    return err;
}

/* Start w (again), or finish starting it. One that dies, stays silent or breaks
 * the protocol while starting (not one that reports an error: a SceneError is
 * not retried) is started again, up to `retries` times. */
static int start_worker(ba_renderer *r, worker *w)
{
    for (;;) {
        int died;
        int err = w->pid == 0 ? spawn_and_init(r, w, &died) : BA_OK;
        if (err == BA_OK && w->starting) err = finish_start(r, w);
        if (err == BA_EINTR) return err; /* resumed later, still counting */
        if (err != BA_EWORKER || w->start_failures >= r->o.retries) {
            w->start_failures = 0;
            return err;
        }
        w->start_failures++;
    }
}

/* w's first free ring slot, or -1 (none, or no ring yet). */
static int free_slot(const worker *w)
{
    for (uint32_t k = 0; w->ring && k < ba_ring_slots(w->ring); k++)
        if (w->slot_free[k]) return (int)k;
    return -1;
}

static int has_room(const worker *w)
{
    if (!w->ring) return w->ninflight == 0; /* the first frame tells the slot size */
    return w->ninflight < BA_MAX_INFLIGHT && free_slot(w) >= 0;
}

/* Slots released since the last look (maybe by another thread). */
static void take_back_slots(ba_renderer *r)
{
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->nfreed; i++) {
        worker *w = &r->w[r->freed[i].worker];
        if (w->slot_free) w->slot_free[r->freed[i].slot] = 1;
    }
    r->nfreed = 0;
    pthread_mutex_unlock(&r->mu);
}

static void send_job(ba_renderer *r, worker *w, task *t)
{
    int slot = free_slot(w);
    if (slot >= 0) w->slot_free[slot] = 0;
    job jb = {++r->next_job, t, slot};
    if (w->ninflight == 0) w->progress = ba_now();
    w->inflight[w->ninflight++] = jb;
    json_t *m = ba_render_message(&jb);
    /* if Blender is gone, its socket says so (end of stream) at the next poll;
     * with no message at all, the frame is lost the same way */
    if (m) ba_worker_send(w, m, NULL, 0);
    json_decref(m);
}

/* Hand waiting tasks to workers with room, restarting stopped ones for them. */
static int dispatch(ba_renderer *r)
{
    take_back_slots(r);
    for (int i = 0; i < r->nw && r->nqueue; i++) {
        worker *w = &r->w[i];
        int err = w->pid == 0 || w->starting ? start_worker(r, w) : BA_OK;
        if (err != BA_OK) return err;
        while (r->nqueue && has_room(w)) send_job(r, w, dequeue(r));
    }
    return BA_OK;
}

/* ---------------------------------------------------------------------- */
/*  what comes back                                                        */
/* ---------------------------------------------------------------------- */

static void add_done(ba_renderer *r, held *h)
{
    h->next = r->done;
    r->done = h;
}

/* The error a frame gets instead of its arrays, handed out in its turn. */
static int add_error(ba_renderer *r, task *t, int code)
{
    held *h = calloc(1, sizeof *h);
    if (!h) return nomem(r);
    h->seq = t->seq;
    h->slot = -1;
    h->err = code;
    if (!(h->err_json = json_incref(r->e.json))) {
        ba_free_held(h);
        return nomem(r);
    }
    add_done(r, h);
    return BA_OK;
}

/* w died, overran the timeout or broke the protocol: stop it; its frames go
 * back to the queue, or fail when they have had their retries. Only the first
 * was being rendered (a worker renders one request at a time, in order): the
 * ones queued behind it go back without using up a retry. */
static int crashed(ba_renderer *r, worker *w, const char *why)
{
    ba_worker_failed(w, r->o.verbose, why, "rendering", &r->e);
    char *cause = strdup(r->e.msg);
    json_t *cause_json = json_incref(r->e.json);
    int err = cause ? BA_OK : nomem(r);
    for (int i = 0; i < w->ninflight; i++) {
        job *jb = &w->inflight[i];
        if (jb->slot >= 0) w->slot_free[jb->slot] = 1;
        if (err == BA_OK && i == 0 && ++jb->t->attempts > (unsigned)r->o.retries) {
            json_t *j = json_deep_copy(cause_json);
            if (j) json_object_set_new(j, "index", json_integer(jb->t->index));
            ba_err_set(&r->e, BA_EWORKER, j, "index %lld failed on worker %d after %u attempt(s): "
                       "%s", (long long)jb->t->index, w->id, jb->t->attempts, cause);
            err = add_error(r, jb->t, BA_EWORKER);
            free_task(jb->t);
        } else if (err == BA_OK) {
            err = enqueue(r, jb->t); /* rendered again first, in order */
        } else {
            free_task(jb->t);
        }
    }
    w->ninflight = 0;
    free(cause);
    json_decref(cause_json);
    ba_worker_stop(w, 1, r->o.verbose);
    return err;
}

/* The slot a first frame told the size of: make the ring, send it. */
static int make_ring(ba_renderer *r, worker *w, json_t *reply)
{
    size_t size = ba_reply_size(reply);
    int err = ba_ring_create(&w->ring, (uint32_t)r->o.ring, size ? size : 1);
    if (err != BA_OK)
        return ba_err_set(&r->e, err, NULL, "cannot make a shared-memory ring of %d x %zu bytes: %s",
                          r->o.ring, size, ba_strerror(err));
    w->slot_free = malloc(ba_ring_slots(w->ring));
    if (!w->slot_free) return nomem(r);
    memset(w->slot_free, 1, ba_ring_slots(w->ring));
    err = ring_sent(r, w);
    /* interrupted: its ack comes later, names no job, and is ignored */
    return err == BA_OK ? ok_reply(r, w, 60, "attaching its ring", NULL) : err;
}

static int receive(ba_renderer *r, worker *w)
{
    json_t *reply = NULL;
    int fds[BA_MSG_MAX_FDS], nfds = BA_MSG_MAX_FDS;
    int err = ba_worker_recv(w, r->buf, sizeof r->buf, &reply, fds, &nfds);
    if (err == BA_ETIMEDOUT) return BA_OK;
    if (err == BA_EFORMAT) return crashed(r, w, "broke the worker protocol: its reply is not a "
                                                "JSON object");
    if (err != BA_OK) return crashed(r, w, NULL);
    w->progress = ba_now();
    json_int_t id = json_integer_value(json_object_get(reply, "job"));
    int at = -1; /* -1: not ours (any more), ignored */
    for (int i = 0; i < w->ninflight; i++)
        if ((json_int_t)w->inflight[i].id == id) at = i;
    held *h = NULL;
    if (at >= 0 && json_is_true(json_object_get(reply, "ok")) &&
        (err = ba_take_frame(w, reply, fds, nfds, &w->inflight[at], &h, &r->e)) == BA_EWORKER) {
        char why[1024]; /* it broke the protocol: stopped as if it had died */
        snprintf(why, sizeof why, "%s", r->e.msg);
        err = crashed(r, w, why);
        at = -1;
    }
    if (at >= 0) { /* a frame, its error, or a failure to take it in */
        job jb = w->inflight[at];
        memmove(&w->inflight[at], &w->inflight[at + 1],
                (size_t)(w->ninflight - at - 1) * sizeof jb);
        w->ninflight--;
        if (jb.slot >= 0 && (!h || h->slot != jb.slot)) w->slot_free[jb.slot] = 1;
        if (h) {
            add_done(r, h);
            if (!w->ring) err = make_ring(r, w, reply);
        } else if (err == BA_OK) {
            err = add_error(r, jb.t, ba_err_reply(&r->e, reply, jb.t->index, w->id));
        }
        free_task(jb.t); /* its frame or error holds what it needs */
    }
    for (int i = 0; i < nfds; i++) close(fds[i]);
    json_decref(reply);
    return err;
}

/* ---------------------------------------------------------------------- */
/*  the public API                                                         */
/* ---------------------------------------------------------------------- */

void ba_renderer_options_init(ba_renderer_options *o)
{
    memset(o, 0, sizeof *o);
    o->denoise = -1;
    o->workers = 1;
    o->ring = 4;
    o->retries = 1;
}

static int on_path(const char *name)
{
    const char *path = getenv("PATH");
    char buf[PATH_MAX];
    for (const char *p = path; p && *p;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len && (size_t)snprintf(buf, sizeof buf, "%.*s/%s", (int)len, p, name) < sizeof buf &&
            access(buf, X_OK) == 0)
            return 1;
        p = end ? end + 1 : NULL;
    }
    return 0;
}

static const char *first_of(const char *a, const char *env, const char *fallback)
{
    const char *b = env ? getenv(env) : NULL;
    return a && *a ? a : b && *b ? b : fallback;
}

static int setup(ba_renderer *r, const ba_renderer_options *opts)
{
    if (opts->workers < 1 || opts->workers > 256)
        return ba_err_set(&r->e, BA_EINVAL, NULL, "workers must be 1..256, not %d", opts->workers);
    if (opts->ring < 1 || opts->ring > 1024)
        return ba_err_set(&r->e, BA_EINVAL, NULL, "ring must be 1..1024 slots per worker, not %d",
                          opts->ring);
    if (opts->retries < 0)
        return ba_err_set(&r->e, BA_EINVAL, NULL, "retries must be >= 0, not %d", opts->retries);
    const char *bl = first_of(opts->blender, "BLENDARRAY_BLENDER",
                              on_path("blender") ? "blender" : "bpy");
    const char *pkg = first_of(opts->package_dir, "BLENDARRAY_PACKAGE", NULL);
    if (!pkg)
        return ba_err_set(&r->e, BA_EINVAL, NULL, "where is the blendarray Python package? set "
                          "package_dir or $BLENDARRAY_PACKAGE to its folder");
    char probe[PATH_MAX + 32];
    snprintf(probe, sizeof probe, "%s/blender/worker_main.py", pkg);
    if (access(probe, R_OK) != 0)
        return ba_err_set(&r->e, BA_EINVAL, NULL, "%s is not a blendarray package folder (no "
                          "blender/worker_main.py in it): name the folder that holds blendarray's "
                          "__init__.py, or reinstall blendarray (pip install blendarray)", pkg);
    char abs_scene[PATH_MAX];
    if (opts->scene && !realpath(opts->scene, abs_scene))
        return ba_err_set(&r->e, BA_EINVAL, json_pack("{s:s}", "type", "SceneError"),
                          "scene %s: %s", opts->scene, strerror(errno));
    r->blender = strdup(bl);
    r->python = strdup(first_of(opts->python, "BLENDARRAY_PYTHON", "python3"));
    r->pkg = strdup(pkg);
    r->w = calloc((size_t)opts->workers, sizeof *r->w);
    r->capfreed = (size_t)opts->workers * (size_t)opts->ring;
    r->freed = calloc(r->capfreed, sizeof *r->freed);
    if (!r->blender || !r->python || !r->pkg || !r->w || !r->freed) return nomem(r);
    r->init_msg = ba_init_message(opts, opts->scene ? abs_scene : NULL, &r->e);
    if (!r->init_msg) return r->e.msg[0] ? BA_EINVAL : nomem(r);
    r->nw = opts->workers;
    for (int i = 0; i < r->nw; i++) {
        r->w[i].id = i;
        r->w[i].sock = r->w[i].out = -1;
    }
    r->cmd = (worker_cmd){r->blender, r->python, r->pkg, opts->verbose, opts->stop};
    r->init_timeout = opts->timeout > 300 ? opts->timeout : 300;
    return BA_OK;
}

int ba_renderer_open(ba_renderer **out, const ba_renderer_options *opts)
{
    if (!out) return BA_EINVAL;
    *out = NULL;
    if (!opts) return BA_EINVAL;
    ba_renderer *r = calloc(1, sizeof *r);
    if (!r) return BA_ENOMEM;
    pthread_mutex_init(&r->mu, NULL);
    *out = r;
    r->o = *opts;
    r->o.blender = r->o.python = r->o.package_dir = r->o.scene = NULL; /* not kept */
    r->o.passes = r->o.engine = r->o.setup = r->o.settings_json = r->o.setup_json = NULL;
    int err = setup(r, opts);
    if (err != BA_OK) return err;
    ba_sweep_stale(ba_tmp_root());
    /* every worker starts loading at once; then each is waited for. One that died
     * at once (before it took its init; not one that could not be run) is a start
     * failure like any other: counted here, started again by ba_renderer_start
     * within `retries`. */
    for (int i = 0; i < r->nw && err == BA_OK; i++) {
        int died;
        err = spawn_and_init(r, &r->w[i], &died);
        if (died && r->o.retries > 0) {
            r->w[i].start_failures++;
            err = BA_OK;
        }
    }
    return err == BA_OK ? ba_renderer_start(r) : err;
}

int ba_renderer_start(ba_renderer *r)
{
    if (!r) return BA_EINVAL;
    int err = BA_OK;
    for (int i = 0; i < r->nw && err == BA_OK; i++) /* a stopped one: it died while starting */
        if (r->w[i].starting || r->w[i].pid == 0) err = start_worker(r, &r->w[i]);
    return err;
}

int ba_renderer_submit(ba_renderer *r, int64_t index, const char *params_json)
{
    if (!r) return BA_EINVAL;
    if (r->closed) return ba_err_set(&r->e, BA_ESTATE, NULL, "the renderer is closed");
    task *t = calloc(1, sizeof *t);
    if (!t) return nomem(r);
    int err = ba_split_params(params_json, &t->params, &t->user, &r->e);
    if (err != BA_OK) {
        free(t);
        return err;
    }
    t->index = index;
    t->seq = r->next_seq++;
    if ((err = enqueue(r, t)) != BA_OK) {
        free_task(t);
        return err;
    }
    return dispatch(r);
}

size_t ba_renderer_queued(const ba_renderer *r)
{
    return r ? r->nqueue : 0;
}

/* The next frame to hand out: ordered, the done one submitted first if no
 * earlier one is still waiting or rendering; else any. */
static held *deliverable(ba_renderer *r, int flags)
{
    held **best = NULL;
    for (held **pp = &r->done; *pp; pp = &(*pp)->next)
        if (!best || (*pp)->seq < (*best)->seq) best = pp;
    if (!best) return NULL;
    if (!(flags & BA_NEXT_ANY)) {
        uint64_t seq = (*best)->seq;
        if (r->nqueue && r->queue[0]->seq < seq) return NULL;
        for (int i = 0; i < r->nw; i++)
            for (int j = 0; j < r->w[i].ninflight; j++)
                if (r->w[i].inflight[j].t->seq < seq) return NULL;
    }
    held *h = *best;
    *best = h->next;
    h->next = NULL;
    return h;
}

static int hand_out(ba_renderer *r, held *h, const ba_frame **out)
{
    if (h->err != BA_OK) {
        int err = h->err;
        json_decref(r->e.json);
        r->e.json = json_incref(h->err_json);
        snprintf(r->e.msg, sizeof r->e.msg, "%s",
                 json_string_value(json_object_get(h->err_json, "message")));
        ba_free_held(h);
        return err;
    }
    pthread_mutex_lock(&r->mu);
    r->outstanding++;
    pthread_mutex_unlock(&r->mu);
    *out = &h->frame;
    return BA_OK;
}

static int any_inflight(const ba_renderer *r)
{
    for (int i = 0; i < r->nw; i++)
        if (r->w[i].ninflight) return 1;
    return 0;
}

/* Wait for any worker until `deadline` (< 0: none) or a frame overruns the
 * timeout, and take what arrived. */
static int wait_workers(ba_renderer *r, double deadline)
{
    struct pollfd p[2 * 256]; /* workers <= 256 */
    int n = 0;
    double wait = deadline < 0 ? -1 : deadline - ba_now(); /* -1: no limit */
    if (deadline >= 0 && wait < 0) wait = 0;
    for (int i = 0; i < r->nw; i++) {
        worker *w = &r->w[i];
        if (w->pid == 0 || w->starting) continue; /* a starting one is waited for alone */
        p[n++] = (struct pollfd){w->sock, POLLIN, 0};
        p[n++] = (struct pollfd){w->out, POLLIN, 0};
        if (r->o.timeout > 0 && w->ninflight) {
            double left = w->progress + r->o.timeout - ba_now();
            if (left < 0) left = 0;
            if (wait < 0 || left < wait) wait = left;
        }
    }
    int rc = poll(p, (nfds_t)n, wait < 0 ? -1 : (int)(wait * 1000) + 1);
    if (rc < 0 && errno == EINTR) return ba_err_set(&r->e, BA_EINTR, NULL, "interrupted");
    if (rc < 0) return ba_err_set(&r->e, BA_EIO, NULL, "poll: %s", strerror(errno));
    int err = BA_OK;
    for (int i = 0, k = 0; rc > 0 && i < r->nw && err == BA_OK; i++) {
        worker *w = &r->w[i];
        if (w->pid == 0 || w->starting || k >= n || p[k].fd != w->sock) continue;
        if (p[k + 1].revents) ba_worker_drain(w, r->o.verbose);
        if (p[k].revents) err = receive(r, w);
        k += 2;
    }
    for (int i = 0; i < r->nw && err == BA_OK && r->o.timeout > 0; i++) {
        worker *w = &r->w[i];
        if (w->pid > 0 && w->ninflight && ba_now() - w->progress >= r->o.timeout) {
            char why[96];
            snprintf(why, sizeof why, "did not finish a frame within %g s", r->o.timeout);
            err = crashed(r, w, why);
        }
    }
    return err;
}

int ba_renderer_next(ba_renderer *r, int flags, int timeout_ms, const ba_frame **out)
{
    if (!r || !out || timeout_ms < -1) return BA_EINVAL;
    *out = NULL;
    if (r->closed) return ba_err_set(&r->e, BA_ESTATE, NULL, "the renderer is closed");
    double deadline = timeout_ms < 0 ? -1 : ba_now() + timeout_ms / 1000.0;
    for (;;) {
        if (r->o.stop && *r->o.stop) return ba_err_set(&r->e, BA_EINTR, NULL, "interrupted");
        int err = dispatch(r);
        if (err != BA_OK) return err;
        held *h = deliverable(r, flags);
        if (h) return hand_out(r, h, out);
        if (!any_inflight(r)) /* nothing left, or frames waiting that no worker can take */
            return !r->nqueue ? BA_EDONE
                   : ba_err_set(&r->e, BA_EFULL, NULL, "every ring slot is held by frames you "
                                "still keep (%d workers x %d slots): release some (del frame / "
                                "frame.release() / frame.copy()) or pass a larger ring=", r->nw,
                                r->o.ring);
        if (deadline >= 0 && ba_now() >= deadline) return BA_ETIMEDOUT;
        if ((err = wait_workers(r, deadline)) != BA_OK) return err;
    }
}

void ba_renderer_release(ba_renderer *r, const ba_frame *frame)
{
    if (!r || !frame) return;
    held *h = (held *)frame; /* the frame is a held's first member */
    pthread_mutex_lock(&r->mu);
    if (h->slot >= 0 && r->nfreed < r->capfreed)
        r->freed[r->nfreed++] = (freed_slot){frame->worker, h->slot};
    int last = --r->outstanding == 0 && r->closed;
    pthread_mutex_unlock(&r->mu);
    ba_free_held(h);
    if (last) ba_renderer_close(r); /* closed earlier: now free it */
}

int ba_renderer_held(const ba_renderer *r)
{
    if (!r) return 0;
    ba_renderer *m = (ba_renderer *)r; /* the lock only: release() changes the count */
    pthread_mutex_lock(&m->mu);
    int n = m->outstanding;
    pthread_mutex_unlock(&m->mu);
    return n;
}

/* Drop what waits and what is done; with wait, take in (and drop) what the
 * workers are rendering, as next() would, until nothing is in flight: a worker
 * that dies or overruns meanwhile is handled as always, its retries dropped
 * in turn. Without wait (or when waiting fails), stop the busy workers. */
int ba_renderer_cancel(ba_renderer *r, int wait)
{
    if (!r) return BA_EINVAL;
    for (;;) {
        while (r->nqueue) free_task(dequeue(r));
        while (r->done) {
            held *h = r->done;
            r->done = h->next;
            if (h->slot >= 0 && r->w[h->frame.worker].slot_free)
                r->w[h->frame.worker].slot_free[h->slot] = 1;
            ba_free_held(h);
        }
        if (!wait || !any_inflight(r)) break;
        wait = wait_workers(r, -1) == BA_OK;
    }
    for (int i = 0; i < r->nw; i++) {
        worker *w = &r->w[i];
        for (int j = 0; j < w->ninflight; j++) {
            if (w->inflight[j].slot >= 0) w->slot_free[w->inflight[j].slot] = 1;
            free_task(w->inflight[j].t);
        }
        if (w->ninflight) ba_worker_stop(w, 1, r->o.verbose); /* restarted when work waits */
    }
    return BA_OK;
}

int ba_renderer_run(ba_renderer *r, const int64_t *frames, const char *const *params,
                    size_t count, ba_frame_fn fn, void *user)
{
    if (!r || !fn) return BA_EINVAL;
    size_t submitted = 0;
    for (;;) {
        int err = BA_OK;
        while (err == BA_OK && submitted < count && r->nqueue == 0) {
            char text[48];
            const char *p = params ? params[submitted] : NULL;
            if (!p && frames) {
                snprintf(text, sizeof text, "{\"frame\":%lld}", (long long)frames[submitted]);
                p = text;
            }
            err = ba_renderer_submit(r, (int64_t)submitted, p);
            submitted++;
        }
        const ba_frame *f = NULL;
        if (err == BA_OK) err = ba_renderer_next(r, BA_NEXT_ORDERED, -1, &f);
        if (err == BA_EINTR && !(r->o.stop && *r->o.stop)) continue;
        if (err == BA_EDONE && submitted == count) return BA_OK;
        if (err == BA_EDONE) continue;
        if (err == BA_OK) {
            err = fn(f, user);
            ba_renderer_release(r, f);
        }
        if (err != BA_OK) {
            ba_renderer_cancel(r, 0);
            return err;
        }
    }
}

const char *ba_renderer_message(const ba_renderer *r)
{
    return r ? r->e.msg : "";
}

const char *ba_renderer_error_json(const ba_renderer *r)
{
    if (!r || !r->e.json) return "{}";
    ba_renderer *m = (ba_renderer *)r; /* the text is a cache of the object */
    free(m->err_text);
    m->err_text = json_dumps(r->e.json, JSON_COMPACT);
    return m->err_text ? m->err_text : "{}";
}

int ba_renderer_workers(const ba_renderer *r)
{
    return r ? r->nw : 0;
}

int ba_renderer_worker_pid(const ba_renderer *r, int i)
{
    return r && i >= 0 && i < r->nw ? (int)r->w[i].pid : 0;
}

void ba_renderer_close(ba_renderer *r)
{
    if (!r) return;
    if (!r->closed) {
        ba_renderer_cancel(r, 0);
        for (int i = 0; i < r->nw; i++) ba_worker_stop(&r->w[i], 0, r->o.verbose);
        pthread_mutex_lock(&r->mu);
        r->closed = 1;
        int busy = r->outstanding > 0;
        pthread_mutex_unlock(&r->mu);
        if (busy) return; /* the last release frees it: its rings stay mapped till then */
    }
    for (int i = 0; r->w && i < r->nw; i++) {
        ba_ring_close(r->w[i].ring);
        free(r->w[i].slot_free);
    }
    free(r->w);
    free(r->queue);
    free(r->freed);
    json_decref(r->init_msg);
    json_decref(r->e.json);
    free(r->err_text);
    free(r->blender);
    free(r->python);
    free(r->pkg);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
