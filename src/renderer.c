/* renderer.c — the consumer side of the worker protocol, in C.
 *
 * Mirrors python/blendarray/_renderer.py (the Python consumer); the worker
 * is the same Python code inside Blender, the messages the same JSON (see
 * python/blendarray/_protocol.py). One thread: every wait is a poll() over
 * the workers' sockets and output pipes, so Blender can never block on a
 * full pipe and a signal (EINTR) is seen at once.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "internal.h"

extern char **environ;

#define TAIL_MAX 6000   /* bytes of each worker's last output kept for error messages */
#define MAX_INFLIGHT 2  /* frames queued per worker: it never idles between frames */
#define MSG_CAP (1u << 20)

typedef struct job {
    uint64_t id;
    int64_t index;
    int slot; /* -1: no ring yet */
} job;

typedef struct worker {
    int id;
    pid_t pid;  /* 0: not running */
    int sock, out;
    char tmpdir[PATH_MAX];
    char tail[TAIL_MAX];
    size_t tail_len;
    int crash_attached;  /* Blender's crash reports are in tail already */
    ba_ring *ring;
    uint8_t *slot_free;
    job inflight[MAX_INFLIGHT];
    int ninflight;
    double progress;
} worker;

/* A frame received, waiting for its turn (or being delivered). */
typedef struct held {
    int64_t index;
    int worker, slot;     /* slot -1: arrays lie in maps */
    void *maps[BA_MSG_MAX_FDS];
    size_t map_len[BA_MSG_MAX_FDS];
    int nmaps;
    ba_frame frame;
    ba_frame_array *arrays;
    char *names;          /* storage for the arrays' names */
    struct held *next;
} held;

struct ba_renderer {
    ba_renderer_options o;
    char *scene, *passes, *engine, *setup, *blender, *python, *pkg;
    json_t *init_msg;
    worker *w;
    int nw;
    uint64_t next_job;
    held *done;           /* received frames, unordered list */
    char msg[8192];
    char buf[MSG_CAP];
};

/* ---------------------------------------------------------------------- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int say(ba_renderer *r, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int say(ba_renderer *r, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    return err;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void tail_add(worker *w, const char *data, size_t n)
{
    if (n >= TAIL_MAX) {
        data += n - (TAIL_MAX - 1);
        n = TAIL_MAX - 1;
    }
    if (w->tail_len + n >= TAIL_MAX) {
        size_t drop = w->tail_len + n - (TAIL_MAX - 1);
        memmove(w->tail, w->tail + drop, w->tail_len - drop);
        w->tail_len -= drop;
    }
    memcpy(w->tail + w->tail_len, data, n);
    w->tail_len += n;
    w->tail[w->tail_len] = '\0';
}

/* Blender's output: drain what is there (the pipe is non-blocking). */
static void drain(ba_renderer *r, worker *w)
{
    char chunk[4096];
    for (;;) {
        ssize_t n = read(w->out, chunk, sizeof chunk);
        if (n > 0) {
            tail_add(w, chunk, (size_t)n);
            if (r->o.verbose) {
                ssize_t ignored = write(2, chunk, (size_t)n);
                (void)ignored;
            }
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        return;
    }
}

/* The last lines of output, plus the crash reports Blender wrote: it names
 * them after the .blend ("<name>.crash.txt", "blender.crash.txt" for an
 * unsaved file) in its TMPDIR, the worker's own folder. Attached once. */
static const char *last_output(worker *w)
{
    DIR *d = w->crash_attached || !w->tmpdir[0] ? NULL : opendir(w->tmpdir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len <= 10 || strcmp(e->d_name + len - 10, ".crash.txt") != 0) continue;
        char path[PATH_MAX + NAME_MAX + 2];
        snprintf(path, sizeof path, "%s/%s", w->tmpdir, e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        char crash[2048];
        size_t n = fread(crash, 1, sizeof crash - 1, f);
        fclose(f);
        char head[NAME_MAX + 16];
        int hl = snprintf(head, sizeof head, "\n--- %s ---\n", e->d_name);
        if (hl > 0) tail_add(w, head, (size_t)hl < sizeof head ? (size_t)hl : sizeof head - 1);
        tail_add(w, crash, n);
    }
    if (d) {
        closedir(d);
        w->crash_attached = 1;
    }
    /* start at a line boundary */
    const char *t = w->tail;
    const char *nl = strchr(t, '\n');
    if (w->tail_len >= TAIL_MAX - 1 && nl) t = nl + 1;
    return t;
}

/* Temporary folders of consumers that were killed (kill -9) before they could
 * remove them: named blendarray-<pid>-*, that pid gone, and ours. The same
 * rule as the Python consumer's sweep_stale(). */
static void sweep_stale(const char *tmp)
{
    DIR *d = opendir(tmp);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "blendarray-", 11) != 0) continue;
        char *end;
        long pid = strtol(e->d_name + 11, &end, 10);
        if (pid <= 0 || *end != '-' || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char path[PATH_MAX];
        int n = snprintf(path, sizeof path, "%s/%s", tmp, e->d_name);
        struct stat st;
        if (n > 0 && (size_t)n < sizeof path && lstat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
            st.st_uid == getuid())
            ba_internal_rmtree(path);
    }
    closedir(d);
}

static const char *tmp_root(void)
{
    const char *tmp = getenv("TMPDIR");
    return tmp && *tmp ? tmp : "/tmp";
}

/* ---------------------------------------------------------------------- */
/*  workers                                                                */
/* ---------------------------------------------------------------------- */

static int send_json(worker *w, json_t *msg, const int *fds, int nfds)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    if (!text) return BA_ENOMEM;
    int err = ba_msg_send(w->sock, text, strlen(text), fds, nfds);
    free(text);
    return err;
}

/* One message from w, or BA_ECLOSED; *reply owned by the caller. */
static int recv_json(ba_renderer *r, worker *w, json_t **reply, int *fds, int *nfds)
{
    size_t len = 0;
    int err = ba_msg_recv(w->sock, r->buf, sizeof r->buf - 1, &len, fds, nfds, 0);
    if (err != BA_OK) return err;
    r->buf[len] = '\0';
    json_error_t jerr;
    *reply = json_loads(r->buf, 0, &jerr);
    if (!*reply || !json_is_object(*reply)) {
        json_decref(*reply);
        *reply = NULL;
        for (int i = 0; i < *nfds; i++) close(fds[i]);
        *nfds = 0;
        return BA_EFORMAT;
    }
    return BA_OK;
}

/* Reap w (killing it if it lingers) and describe how it ended. */
static void reap(ba_renderer *r, worker *w, const char *doing)
{
    int status = 0;
    pid_t got = 0;
    for (int i = 0; i < 1000 && (got = waitpid(w->pid, &status, WNOHANG)) == 0; i++) {
        drain(r, w);
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (got == 0) {
        kill(w->pid, SIGKILL);
        waitpid(w->pid, &status, 0);
    }
    drain(r, w);
    char how[64];
    if (WIFSIGNALED(status))
        snprintf(how, sizeof how, "was killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(status));
    say(r, BA_EWORKER, "Blender (worker %d, pid %d) %s while %s.\nBlender's last output:\n%s",
        w->id, (int)w->pid, how, doing, last_output(w));
    w->pid = 0;
}

static void stop_worker(ba_renderer *r, worker *w, int kill_now)
{
    if (w->pid > 0) {
        if (!kill_now) {
            json_t *q = json_pack("{s:s}", "op", "quit");
            if (q && send_json(w, q, NULL, 0) == BA_OK) {
                int status;
                for (int i = 0; i < 500; i++) {
                    if (waitpid(w->pid, &status, WNOHANG) != 0) {
                        w->pid = 0;
                        break;
                    }
                    drain(r, w);
                    struct timespec ts = {0, 10 * 1000 * 1000};
                    nanosleep(&ts, NULL);
                }
            }
            json_decref(q);
        }
        if (w->pid > 0) {
            kill(w->pid, SIGKILL);
            waitpid(w->pid, NULL, 0);
            w->pid = 0;
        }
    }
    if (w->sock >= 0) close(w->sock);
    if (w->out >= 0) close(w->out);
    w->sock = w->out = -1;
    if (w->tmpdir[0]) {
        ba_internal_rmtree(w->tmpdir);
        w->tmpdir[0] = '\0';
    }
    w->ninflight = 0;
}

/* Wait for w's reply to a synchronous request (init, ring), draining its output. */
static int wait_reply(ba_renderer *r, worker *w, double timeout, const char *doing, json_t **reply)
{
    double deadline = now() + timeout;
    for (;;) {
        if (r->o.stop && *r->o.stop) return say(r, BA_EINTR, "interrupted");
        struct pollfd p[2] = {{w->sock, POLLIN, 0}, {w->out, POLLIN, 0}};
        double left = deadline - now();
        if (left <= 0) {
            stop_worker(r, w, 1);
            return say(r, BA_EWORKER, "Blender (worker %d) did not answer within %.0f s while %s",
                       w->id, timeout, doing);
        }
        int n = poll(p, 2, (int)(left * 1000) + 1);
        if (n < 0 && errno != EINTR) return say(r, BA_EIO, "poll: %s", strerror(errno));
        if (n <= 0) continue;
        if (p[1].revents) drain(r, w);
        if (p[0].revents) {
            int fds[BA_MSG_MAX_FDS], nfds = BA_MSG_MAX_FDS;
            int err = recv_json(r, w, reply, fds, &nfds);
            for (int i = 0; i < nfds; i++) close(fds[i]);
            if (err == BA_ETIMEDOUT) continue;
            if (err == BA_EFORMAT) {
                kill(w->pid, SIGKILL);
                reap(r, w, doing);
                stop_worker(r, w, 1);
                return say(r, BA_EWORKER, "Blender (worker %d) broke the worker protocol while "
                           "%s: its reply is not a JSON object", w->id, doing);
            }
            if (err != BA_OK) {
                reap(r, w, doing);
                stop_worker(r, w, 1);
                return BA_EWORKER;
            }
            return BA_OK;
        }
    }
}

static int reply_error(ba_renderer *r, json_t *reply, const char *what)
{
    json_t *e = json_object_get(reply, "error");
    const char *type = json_string_value(json_object_get(e, "type"));
    const char *m = json_string_value(json_object_get(e, "message"));
    return say(r, BA_ERENDER, "%s%s%s%s", what, type ? type : "error", ": ",
               m ? m : "(no message)");
}

static int start_worker(ba_renderer *r, worker *w)
{
    int sv[2] = {-1, -1}, pipefd[2] = {-1, -1};
    char **env = NULL;
    int err = BA_OK;
    w->tail_len = 0;
    w->tail[0] = '\0';
    w->crash_attached = 0;
    snprintf(w->tmpdir, sizeof w->tmpdir, "%s/blendarray-%d-XXXXXX", tmp_root(), (int)getpid());
    if (!mkdtemp(w->tmpdir)) {
        w->tmpdir[0] = '\0';
        return say(r, BA_EIO, "cannot make a temporary directory: %s", strerror(errno));
    }
    /* the child's end must survive exec: no CLOEXEC on it, CLOEXEC on ours */
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) != 0 || pipe2(pipefd, O_CLOEXEC) != 0) {
        err = say(r, BA_EIO, "socketpair/pipe: %s", strerror(errno));
        goto fail;
    }
    fcntl(sv[0], F_SETFD, FD_CLOEXEC);

    size_t n = 0;
    while (environ[n]) n++;
    env = calloc(n + 8, sizeof *env);
    if (!env) {
        err = BA_ENOMEM;
        goto fail;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *e = environ[i];
        if (strncmp(e, "BLENDARRAY_FD=", 14) && strncmp(e, "BLENDARRAY_PARENT=", 18) &&
            strncmp(e, "TMPDIR=", 7) && strncmp(e, "PYTHONPATH=", 11))
            env[k++] = (char *)e;
    }
    char e_fd[64], e_parent[64], e_tmp[PATH_MAX + 8];
    snprintf(e_fd, sizeof e_fd, "BLENDARRAY_FD=%d", sv[1]);
    snprintf(e_parent, sizeof e_parent, "BLENDARRAY_PARENT=%d", (int)getpid());
    snprintf(e_tmp, sizeof e_tmp, "TMPDIR=%s", w->tmpdir);
    /* the package first, then the user's own PYTHONPATH (a hook may import from it) */
    const char *user_path = getenv("PYTHONPATH");
    char *e_path = NULL;
    if (asprintf(&e_path, "PYTHONPATH=%s%s%s", r->pkg, user_path && *user_path ? ":" : "",
                 user_path && *user_path ? user_path : "") < 0) {
        e_path = NULL;
        err = BA_ENOMEM;
        goto fail;
    }
    env[k++] = e_fd;
    env[k++] = e_parent;
    env[k++] = e_tmp;
    env[k++] = e_path;
    env[k] = NULL;

    char script[PATH_MAX + 64];
    snprintf(script, sizeof script, "%s/blendarray/blender/worker_main.py", r->pkg);
    char *argv_bin[] = {r->blender, "-b", "--factory-startup", "-noaudio", "--python-exit-code",
                        "1", "--python", script, NULL};
    char *argv_py[] = {r->python, "-c",
                       "import blendarray.blender.worker as w, os; os._exit(w.main())", NULL};
    int is_bpy = strcmp(r->blender, "bpy") == 0;

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
    /* its own session: a terminal's Ctrl-C reaches us, and we stop the workers */
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID);
    pid_t pid;
    int rc = posix_spawnp(&pid, is_bpy ? r->python : r->blender, &fa, &at,
                          is_bpy ? argv_py : argv_bin, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    free(env);
    env = NULL;
    free(e_path);
    if (rc != 0) {
        err = say(r, BA_EWORKER, "cannot run %s: %s; install Blender (apt-get install blender) "
                  "or the bpy module (pip install bpy), or name one with --blender",
                  is_bpy ? r->python : r->blender, strerror(rc));
        goto fail;
    }
    close(sv[1]);
    close(pipefd[1]);
    w->pid = pid;
    w->sock = sv[0];
    w->out = pipefd[0];
    fcntl(w->out, F_SETFL, O_NONBLOCK);
    w->ninflight = 0;

    /* init: load the scene, apply the settings, load the hook */
    json_t *reply = NULL;
    err = send_json(w, r->init_msg, NULL, 0);
    if (err != BA_OK) {
        reap(r, w, "starting");
        stop_worker(r, w, 1);
        return BA_EWORKER;
    }
    err = wait_reply(r, w, 600, "starting", &reply);
    if (err == BA_OK && !json_is_true(json_object_get(reply, "ok")))
        err = reply_error(r, reply, "");
    if (err == BA_OK && json_integer_value(json_object_get(reply, "protocol")) != BA_PROTOCOL_VERSION)
        err = say(r, BA_EWORKER, "Blender (worker %d) speaks worker protocol version %lld, this "
                  "library speaks %d: blendarray's C library and its Python package come from "
                  "different versions; rebuild blendarray (make) so that they match", w->id,
                  (long long)json_integer_value(json_object_get(reply, "protocol")),
                  BA_PROTOCOL_VERSION);
    json_decref(reply);
    if (err == BA_OK && w->ring) { /* a restarted worker keeps its ring */
        int fd = ba_ring_fd(w->ring);
        json_t *m = json_pack("{s:s}", "op", "ring");
        err = m ? send_json(w, m, &fd, 1) : BA_ENOMEM;
        json_decref(m);
        reply = NULL;
        if (err == BA_OK) err = wait_reply(r, w, 60, "attaching its ring", &reply);
        if (err == BA_OK && !json_is_true(json_object_get(reply, "ok")))
            err = reply_error(r, reply, "");
        json_decref(reply);
    }
    if (err != BA_OK) stop_worker(r, w, 1);
    return err;
fail:
    if (sv[0] >= 0) close(sv[0]);
    if (sv[1] >= 0) close(sv[1]);
    if (pipefd[0] >= 0) close(pipefd[0]);
    if (pipefd[1] >= 0) close(pipefd[1]);
    free(env);
    if (w->tmpdir[0]) {
        rmdir(w->tmpdir);
        w->tmpdir[0] = '\0';
    }
    return err;
}

/* ---------------------------------------------------------------------- */
/*  open / close                                                           */
/* ---------------------------------------------------------------------- */

void ba_renderer_options_init(ba_renderer_options *o)
{
    memset(o, 0, sizeof *o);
    o->denoise = -1;
    o->workers = 1;
    o->ring = 4;
    o->retries = 1;
}

static json_t *null_or_int(long long v)
{
    return v ? json_integer(v) : json_null();
}

static json_t *null_or_str(const char *s)
{
    return s ? json_string(s) : json_null();
}

static int build_init(ba_renderer *r)
{
    const ba_renderer_options *o = &r->o;
    json_t *settings = json_object();
    json_t *msg = json_object();
    if (!settings || !msg) goto nomem;
    json_object_set_new(settings, "engine", null_or_str(r->engine));
    json_object_set_new(settings, "samples", null_or_int(o->samples));
    if (o->width > 0 && o->height > 0)
        json_object_set_new(settings, "resolution", json_pack("[i,i]", o->width, o->height));
    else
        json_object_set_new(settings, "resolution", json_null());
    json_object_set_new(settings, "denoise", o->denoise < 0 ? json_null() : json_boolean(o->denoise));
    json_object_set_new(settings, "threads", null_or_int(o->threads));
    json_object_set_new(settings, "display", json_boolean(o->display));
    if (r->passes) {
        json_t *list = json_array();
        char *copy = strdup(r->passes), *save = NULL;
        if (!list || !copy) {
            json_decref(list);
            free(copy);
            goto nomem;
        }
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
            if (*t) json_array_append_new(list, json_string(t));
        free(copy);
        json_object_set_new(settings, "passes", list);
    } else {
        json_object_set_new(settings, "passes", json_null());
    }
    json_object_set_new(msg, "op", json_string("init"));
    json_object_set_new(msg, "protocol", json_integer(BA_PROTOCOL_VERSION));
    json_object_set_new(msg, "scene", null_or_str(r->scene));
    json_object_set_new(msg, "settings", settings);
    settings = NULL;
    if (r->setup) {
        char path[PATH_MAX];
        const char *colon = strrchr(r->setup, ':');
        size_t plen = colon ? (size_t)(colon - r->setup) : strlen(r->setup);
        char file[PATH_MAX];
        if (plen >= sizeof file) return say(r, BA_EINVAL, "setup path too long");
        memcpy(file, r->setup, plen);
        file[plen] = '\0';
        if (!realpath(file, path))
            return say(r, BA_EINVAL, "setup hook %s: %s", file, strerror(errno));
        json_object_set_new(msg, "setup", json_pack("{s:s,s:s,s:s}", "kind", "file", "path", path,
                                                    "name", colon ? colon + 1 : "setup"));
    } else {
        json_object_set_new(msg, "setup", json_null());
    }
    json_object_set_new(msg, "seed", json_integer(o->seed));
    r->init_msg = msg;
    return BA_OK;
nomem:
    json_decref(settings);
    json_decref(msg);
    return BA_ENOMEM;
}

int ba_renderer_open(ba_renderer **out, const ba_renderer_options *opts)
{
    if (!out) return BA_EINVAL;
    *out = NULL;
    if (!opts) return BA_EINVAL;
    ba_renderer *r = calloc(1, sizeof *r);
    if (!r) return BA_ENOMEM;
    *out = r;
    r->o = *opts;
    if (opts->workers < 1 || opts->workers > 256)
        return say(r, BA_EINVAL, "workers must be 1..256, not %d", opts->workers);
    if (opts->ring < 1 || opts->ring > 1024)
        return say(r, BA_EINVAL, "ring must be 1..1024 slots, not %d", opts->ring);
    if (opts->retries < 0) return say(r, BA_EINVAL, "retries must be >= 0");
    const char *bl = opts->blender ? opts->blender : getenv("BLENDARRAY_BLENDER");
    const char *py = opts->python ? opts->python : getenv("BLENDARRAY_PYTHON");
    const char *pkg = opts->package_dir ? opts->package_dir : getenv("BLENDARRAY_PYTHONPATH");
    if (!pkg) return say(r, BA_EINVAL, "where is the blendarray Python package? set package_dir "
                         "or BLENDARRAY_PYTHONPATH");
    char abs_scene[PATH_MAX];
    if (opts->scene && !realpath(opts->scene, abs_scene))
        return say(r, BA_EINVAL, "scene %s: %s", opts->scene, strerror(errno));
    r->blender = strdup(bl && *bl ? bl : "blender");
    r->python = strdup(py && *py ? py : "python3");
    r->pkg = strdup(pkg);
    r->scene = opts->scene ? strdup(abs_scene) : NULL;
    r->passes = dup_or_null(opts->passes);
    r->engine = dup_or_null(opts->engine);
    r->setup = dup_or_null(opts->setup);
    if (!r->blender || !r->python || !r->pkg || (opts->scene && !r->scene) ||
        (opts->passes && !r->passes) || (opts->engine && !r->engine) || (opts->setup && !r->setup))
        return BA_ENOMEM;
    int err = build_init(r);
    if (err != BA_OK) return err;
    r->w = calloc((size_t)opts->workers, sizeof *r->w);
    if (!r->w) return BA_ENOMEM;
    r->nw = opts->workers;
    for (int i = 0; i < r->nw; i++) {
        r->w[i].id = i;
        r->w[i].sock = r->w[i].out = -1;
    }
    sweep_stale(tmp_root());
    for (int i = 0; i < r->nw; i++) {
        err = start_worker(r, &r->w[i]);
        if (err != BA_OK) return err;
    }
    return BA_OK;
}

static void free_held(held *h)
{
    for (int i = 0; i < h->nmaps; i++) munmap(h->maps[i], h->map_len[i]);
    free(h->arrays);
    free(h->names);
    free((char *)h->frame.meta_json);
    free(h);
}

static void release_held(ba_renderer *r, held *h)
{
    if (h->slot >= 0 && h->worker >= 0 && h->worker < r->nw && r->w[h->worker].slot_free)
        r->w[h->worker].slot_free[h->slot] = 1;
    free_held(h);
}

void ba_renderer_close(ba_renderer *r)
{
    if (!r) return;
    while (r->done) {
        held *h = r->done;
        r->done = h->next;
        free_held(h);
    }
    for (int i = 0; i < r->nw; i++) {
        stop_worker(r, &r->w[i], 0);
        ba_ring_close(r->w[i].ring);
        free(r->w[i].slot_free);
    }
    free(r->w);
    json_decref(r->init_msg);
    free(r->scene);
    free(r->passes);
    free(r->engine);
    free(r->setup);
    free(r->blender);
    free(r->python);
    free(r->pkg);
    free(r);
}

const char *ba_renderer_message(const ba_renderer *r)
{
    return r ? r->msg : "";
}

/* ---------------------------------------------------------------------- */
/*  run                                                                    */
/* ---------------------------------------------------------------------- */

static int dtype_from(const char *descr)
{
    for (int i = 0; descr && ba_dtype_descr(i); i++)
        if (strcmp(descr, ba_dtype_descr(i)) == 0) return i;
    return -1;
}

/* Turn a frame reply into a held frame: map memfd parts, point into the slot. */
static int take_frame(ba_renderer *r, worker *w, json_t *reply, int *fds, int nfds, job *jb,
                      held **out)
{
    held *h = calloc(1, sizeof *h);
    if (!h) return BA_ENOMEM;
    h->index = jb->index;
    h->worker = w->id;
    h->slot = -1;
    json_t *parts = json_object_get(reply, "parts");
    size_t np = json_array_size(parts), total = 0, narr = 0, names = 0;
    for (size_t i = 0; i < np; i++) {
        json_t *arrs = json_object_get(json_array_get(parts, i), "arrays");
        for (size_t j = 0; j < json_array_size(arrs); j++) {
            narr++;
            names += strlen(json_string_value(json_object_get(json_array_get(arrs, j), "name"))
                                ? json_string_value(json_object_get(json_array_get(arrs, j), "name"))
                                : "") + 1;
        }
    }
    h->arrays = calloc(narr ? narr : 1, sizeof *h->arrays);
    h->names = malloc(names ? names : 1);
    if (!h->arrays || !h->names) {
        free_held(h);
        return BA_ENOMEM;
    }
    int fdi = 0, err = BA_OK;
    size_t a = 0;
    char *np_ = h->names;
    for (size_t i = 0; i < np && err == BA_OK; i++) {
        json_t *part = json_array_get(parts, i);
        json_t *slotj = json_object_get(part, "slot");
        json_int_t size = json_integer_value(json_object_get(part, "size"));
        const uint8_t *base = NULL;
        size_t avail = 0;
        if (json_is_integer(slotj)) {
            json_int_t k = json_integer_value(slotj);
            if (!w->ring || k != jb->slot || k < 0 || (uint64_t)k >= ba_ring_slots(w->ring)) {
                err = say(r, BA_EFORMAT, "worker %d answered with an unexpected slot", w->id);
                break;
            }
            base = ba_ring_slot(w->ring, (uint32_t)k);
            avail = ba_ring_slot_size(w->ring);
            h->slot = (int)k;
        } else {
            if (fdi >= nfds || size <= 0 || h->nmaps >= BA_MSG_MAX_FDS) {
                err = say(r, BA_EFORMAT, "worker %d sent a frame part without its memory", w->id);
                break;
            }
            /* a memfd shorter than the size it comes with, or one the worker could
             * shrink later, would SIGBUS us on access: it must be sealed */
            struct stat st;
            int seals = fcntl(fds[fdi], F_GET_SEALS);
            if (fstat(fds[fdi], &st) != 0 || !S_ISREG(st.st_mode) ||
                (uint64_t)st.st_size < (uint64_t)size || seals < 0 ||
                !(seals & F_SEAL_SHRINK)) {
                err = say(r, BA_EFORMAT, "worker %d sent a frame part that is not a sealed memfd "
                          "of the size it states", w->id);
                break;
            }
            void *m = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fds[fdi++], 0);
            if (m == MAP_FAILED) {
                err = say(r, BA_EIO, "mmap of a frame: %s", strerror(errno));
                break;
            }
            h->maps[h->nmaps] = m;
            h->map_len[h->nmaps++] = (size_t)size;
            base = m;
            avail = (size_t)size;
        }
        total += (size_t)size;
        json_t *arrs = json_object_get(part, "arrays");
        for (size_t j = 0; j < json_array_size(arrs); j++) {
            json_t *e = json_array_get(arrs, j);
            ba_frame_array *fa = &h->arrays[a];
            const char *name = json_string_value(json_object_get(e, "name"));
            json_t *shape = json_object_get(e, "shape");
            json_int_t off = json_integer_value(json_object_get(e, "offset"));
            json_int_t nb = json_integer_value(json_object_get(e, "nbytes"));
            fa->dtype = dtype_from(json_string_value(json_object_get(e, "dtype")));
            fa->ndim = (int)json_array_size(shape);
            uint64_t count = 1;
            int wrapped = 0;
            for (int d = 0; d < fa->ndim && d < 3; d++) {
                json_int_t dim = json_integer_value(json_array_get(shape, (size_t)d));
                fa->shape[d] = (uint64_t)dim;
                wrapped |= dim < 0 || __builtin_mul_overflow(count, fa->shape[d], &count);
            }
            if (!name || fa->dtype < 0 || fa->ndim < 2 || fa->ndim > 3 || off < 0 || nb < 0 || wrapped ||
                __builtin_mul_overflow(count, (uint64_t)ba_dtype_size(fa->dtype), &count) ||
                count != (uint64_t)nb ||
                (uint64_t)off + (uint64_t)nb > avail) {
                err = say(r, BA_EFORMAT, "worker %d described an array that does not fit", w->id);
                break;
            }
            size_t nl = strlen(name) + 1;
            memcpy(np_, name, nl);
            fa->name = np_;
            np_ += nl;
            fa->data = base + off;
            fa->nbytes = (size_t)nb;
            a++;
        }
    }
    (void)total;
    if (err != BA_OK) {
        free_held(h);
        return err;
    }
    json_t *meta = json_object_get(reply, "meta");
    h->frame.index = jb->index;
    h->frame.frame = json_integer_value(json_object_get(meta, "frame"));
    h->frame.narrays = (int)a;
    h->frame.arrays = h->arrays;
    json_object_set_new(meta, "index", json_integer(jb->index));
    json_object_set_new(meta, "worker", json_integer(w->id));
    h->frame.meta_json = json_dumps(meta, JSON_COMPACT);
    if (!h->frame.meta_json) {
        free_held(h);
        return BA_ENOMEM;
    }
    *out = h;
    return BA_OK;
}

typedef struct run_state {
    const int64_t *frames;
    size_t count;
    size_t next;            /* next index never dispatched */
    int64_t *retry;         /* indices to dispatch again first */
    size_t nretry;
    uint8_t *attempts;
} run_state;

static int dispatch(ba_renderer *r, worker *w, run_state *st, int64_t index)
{
    int slot = -1;
    if (w->ring) {
        for (uint32_t k = 0; k < ba_ring_slots(w->ring); k++)
            if (w->slot_free[k]) {
                slot = (int)k;
                break;
            }
        w->slot_free[slot] = 0;
    }
    job jb = {++r->next_job, index, slot};
    json_t *params = json_object();
    if (st->frames) json_object_set_new(params, "frame", json_integer(st->frames[index]));
    json_t *m = json_pack("{s:s,s:I,s:I,s:o,s:o}", "op", "render", "job", (json_int_t)jb.id,
                          "index", (json_int_t)index, "params", params,
                          "slot", slot >= 0 ? json_integer(slot) : json_null());
    if (!m) return BA_ENOMEM;
    if (w->ninflight == 0) w->progress = now();
    w->inflight[w->ninflight++] = jb;
    send_json(w, m, NULL, 0); /* a dead worker shows as end of stream on its socket */
    json_decref(m);
    return BA_OK;
}

static int has_room(const worker *w)
{
    if (!w->ring) return w->ninflight == 0;
    if (w->ninflight >= MAX_INFLIGHT) return 0;
    for (uint32_t k = 0; k < ba_ring_slots(w->ring); k++)
        if (w->slot_free[k]) return 1;
    return 0;
}

/* w died (or overran the timeout): its frames go back to the queue, or fail. */
static int crashed(ba_renderer *r, worker *w, run_state *st, const char *why)
{
    if (why) {
        kill(w->pid, SIGKILL);
        reap(r, w, "rendering");
        say(r, BA_EWORKER, "Blender (worker %d) %s; it was stopped.\nBlender's last output:\n%s",
            w->id, why, last_output(w));
    } else {
        reap(r, w, "rendering");
    }
    int err = BA_OK;
    for (int i = w->ninflight - 1; i >= 0; i--) {
        job *jb = &w->inflight[i];
        if (jb->slot >= 0) w->slot_free[jb->slot] = 1;
        if (++st->attempts[jb->index] > (unsigned)r->o.retries) {
            char prev[sizeof r->msg];
            memcpy(prev, r->msg, sizeof prev);
            err = say(r, BA_EWORKER, "index %lld failed on worker %d after %u attempt(s): %s",
                      (long long)jb->index, w->id, st->attempts[jb->index], prev);
        } else {
            st->retry[st->nretry++] = jb->index;
        }
    }
    w->ninflight = 0;
    stop_worker(r, w, 1);
    /* keep the retry queue in index order: frames are re-rendered first */
    for (size_t i = 1; i < st->nretry; i++)
        for (size_t j = i; j > 0 && st->retry[j - 1] < st->retry[j]; j--) {
            int64_t t = st->retry[j];
            st->retry[j] = st->retry[j - 1];
            st->retry[j - 1] = t;
        }
    return err;
}

static int receive(ba_renderer *r, worker *w, run_state *st)
{
    json_t *reply = NULL;
    int fds[BA_MSG_MAX_FDS], nfds = BA_MSG_MAX_FDS;
    int err = recv_json(r, w, &reply, fds, &nfds);
    if (err == BA_ETIMEDOUT) return BA_OK;
    if (err == BA_EFORMAT) /* alive but broken: stop it now, its frames go again */
        return crashed(r, w, st, "broke the worker protocol: its reply is not a JSON object");
    if (err != BA_OK) return crashed(r, w, st, NULL);
    w->progress = now();
    json_int_t id = json_integer_value(json_object_get(reply, "job"));
    int at = -1;
    for (int i = 0; i < w->ninflight; i++)
        if ((json_int_t)w->inflight[i].id == id) at = i;
    if (at < 0) {
        for (int i = 0; i < nfds; i++) close(fds[i]);
        json_decref(reply);
        return BA_OK;
    }
    job jb = w->inflight[at];
    memmove(&w->inflight[at], &w->inflight[at + 1], (size_t)(w->ninflight - at - 1) * sizeof jb);
    w->ninflight--;
    if (!json_is_true(json_object_get(reply, "ok"))) {
        char what[64];
        snprintf(what, sizeof what, "index %lld: ", (long long)jb.index);
        err = reply_error(r, reply, what);
        if (jb.slot >= 0) w->slot_free[jb.slot] = 1;
        for (int i = 0; i < nfds; i++) close(fds[i]);
        json_decref(reply);
        return err;
    }
    held *h = NULL;
    err = take_frame(r, w, reply, fds, nfds, &jb, &h);
    for (int i = 0; i < nfds; i++) close(fds[i]);
    if (err == BA_OK) {
        if (jb.slot >= 0 && h->slot != jb.slot) w->slot_free[jb.slot] = 1; /* did not fit */
        h->next = r->done;
        r->done = h;
        if (!w->ring) { /* first frame: the ring, sized for it */
            size_t size = 0;
            json_t *parts = json_object_get(reply, "parts");
            for (size_t i = 0; i < json_array_size(parts); i++)
                size += (size_t)json_integer_value(json_object_get(json_array_get(parts, i), "size"));
            err = ba_ring_create(&w->ring, (uint32_t)r->o.ring, size ? size : 1);
            if (err == BA_OK) {
                w->slot_free = malloc(ba_ring_slots(w->ring));
                if (!w->slot_free) err = BA_ENOMEM;
                else memset(w->slot_free, 1, ba_ring_slots(w->ring));
            }
            if (err == BA_OK) {
                int fd = ba_ring_fd(w->ring);
                json_t *m = json_pack("{s:s}", "op", "ring");
                err = m ? send_json(w, m, &fd, 1) : BA_ENOMEM;
                json_decref(m);
                json_t *ack = NULL;
                if (err == BA_OK) err = wait_reply(r, w, 60, "attaching its ring", &ack);
                if (err == BA_OK && !json_is_true(json_object_get(ack, "ok")))
                    err = reply_error(r, ack, "");
                json_decref(ack);
            }
            if (err != BA_OK && !r->msg[0]) say(r, err, "cannot set up a shared-memory ring");
        }
    }
    json_decref(reply);
    return err;
}

int ba_renderer_run(ba_renderer *r, const int64_t *frames, size_t count, ba_frame_fn fn,
                    void *user)
{
    if (!r || !fn) return BA_EINVAL;
    r->msg[0] = '\0';
    run_state st = {frames, count, 0, NULL, 0, NULL};
    st.retry = malloc(((size_t)r->nw * MAX_INFLIGHT + 1) * sizeof *st.retry);
    st.attempts = calloc(count ? count : 1, 1);
    if (!st.retry || !st.attempts) {
        free(st.retry);
        free(st.attempts);
        return BA_ENOMEM;
    }
    int err = BA_OK;
    size_t deliver = 0;
    struct pollfd *p = calloc((size_t)r->nw * 2, sizeof *p);
    if (!p) err = BA_ENOMEM;
    while (err == BA_OK && deliver < count) {
        if (r->o.stop && *r->o.stop) {
            err = say(r, BA_EINTR, "interrupted");
            break;
        }
        /* dispatch */
        for (int i = 0; i < r->nw && err == BA_OK; i++) {
            worker *w = &r->w[i];
            while (err == BA_OK && (st.nretry || st.next < count) && (w->pid == 0 || has_room(w))) {
                if (w->pid == 0 && (err = start_worker(r, w)) != BA_OK) break;
                if (!has_room(w)) break;
                int64_t index = st.nretry ? st.retry[--st.nretry] : (int64_t)st.next++;
                err = dispatch(r, w, &st, index);
            }
        }
        if (err != BA_OK) break;
        /* deliver what is next, in order */
        size_t delivered = deliver;
        for (held **pp = &r->done; *pp;) {
            held *h = *pp;
            if (h->index != (int64_t)deliver) {
                pp = &h->next;
                continue;
            }
            *pp = h->next;
            int rc = fn(&h->frame, user);
            release_held(r, h);
            deliver++;
            if (rc != 0) {
                err = rc;
                break;
            }
            pp = &r->done; /* the next one may be anywhere in the list */
        }
        if (err != BA_OK || deliver >= count) break;
        /* a delivered frame gave its slot back: dispatch into it before waiting
         * (with every slot held, nothing may be in flight now) */
        if (deliver != delivered) continue;
        /* wait for the workers */
        int n = 0;
        double timeout = -1;
        for (int i = 0; i < r->nw; i++) {
            worker *w = &r->w[i];
            if (w->pid == 0) continue;
            p[n++] = (struct pollfd){w->sock, POLLIN, 0};
            p[n++] = (struct pollfd){w->out, POLLIN, 0};
            if (r->o.timeout > 0 && w->ninflight) {
                double left = w->progress + r->o.timeout - now();
                if (timeout < 0 || left < timeout) timeout = left < 0 ? 0 : left;
            }
        }
        int rc = poll(p, (nfds_t)n, timeout < 0 ? -1 : (int)(timeout * 1000) + 1);
        if (rc < 0 && errno != EINTR) {
            err = say(r, BA_EIO, "poll: %s", strerror(errno));
            break;
        }
        for (int i = 0, k = 0; rc > 0 && i < r->nw && err == BA_OK; i++) {
            worker *w = &r->w[i];
            if (w->pid == 0) continue;
            struct pollfd *ps = &p[k], *po = &p[k + 1];
            k += 2;
            if (ps->fd != w->sock) continue;
            if (po->revents) drain(r, w);
            if (ps->revents) err = receive(r, w, &st);
        }
        if (r->o.timeout > 0)
            for (int i = 0; i < r->nw && err == BA_OK; i++) {
                worker *w = &r->w[i];
                if (w->pid > 0 && w->ninflight && now() - w->progress >= r->o.timeout) {
                    char why[96];
                    snprintf(why, sizeof why, "did not finish a frame within %g s", r->o.timeout);
                    err = crashed(r, w, &st, why);
                }
            }
    }
    free(p);
    free(st.retry);
    free(st.attempts);
    if (err != BA_OK) { /* frames in flight or held are dropped; workers stop mid-frame */
        while (r->done) {
            held *h = r->done;
            r->done = h->next;
            release_held(r, h);
        }
        for (int i = 0; i < r->nw; i++)
            if (r->w[i].ninflight) {
                for (int j = 0; j < r->w[i].ninflight; j++)
                    if (r->w[i].inflight[j].slot >= 0) r->w[i].slot_free[r->w[i].inflight[j].slot] = 1;
                stop_worker(r, &r->w[i], 1);
            }
        if (!r->msg[0]) say(r, err, "%s", ba_strerror(err));
    }
    return err;
}

/* ---------------------------------------------------------------------- */
/*  for the fuzz target: a reply through take_frame, with no worker process */
/* ---------------------------------------------------------------------- */

int ba_internal_check_reply(const char *json, size_t len, size_t slot_size)
{
    json_error_t jerr;
    json_t *reply = json_loadb(json, len, 0, &jerr);
    if (!reply || !json_is_object(reply)) {
        json_decref(reply);
        return BA_EFORMAT;
    }
    ba_renderer *r = calloc(1, sizeof *r);
    worker w;
    memset(&w, 0, sizeof w);
    w.sock = w.out = -1;
    int err = r ? ba_ring_create(&w.ring, 1, slot_size ? slot_size : 1) : BA_ENOMEM;
    if (err == BA_OK) {
        job jb = {1, 0, 0};
        held *h = NULL;
        err = take_frame(r, &w, reply, NULL, 0, &jb, &h);
        if (err == BA_OK) {
            const uint8_t *lo = ba_ring_slot(w.ring, 0), *hi = lo + ba_ring_slot_size(w.ring);
            for (int i = 0; i < h->frame.narrays; i++) {
                const ba_frame_array *a = &h->frame.arrays[i];
                const uint8_t *p = a->data;
                if (p < lo || p > hi || a->nbytes > (size_t)(hi - p)) abort(); /* outside */
                if (a->nbytes) {
                    volatile uint8_t first = p[0], last = p[a->nbytes - 1];
                    (void)first;
                    (void)last;
                }
            }
            free_held(h);
        }
    }
    ba_ring_close(w.ring);
    free(r);
    json_decref(reply);
    return err;
}
