/* worker.c — one Blender worker process, seen from the consumer: start it
 * with its end of the control socket, read what it prints (kept for error
 * messages), talk to it, stop and reap it, and clean up its folder.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "renderer.h"

extern char **environ;

double ba_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void nap_ms(long ms)
{
    struct timespec ts = {0, ms * 1000 * 1000};
    nanosleep(&ts, NULL);
}

const char *ba_tmp_root(void)
{
    const char *tmp = getenv("TMPDIR");
    return tmp && *tmp ? tmp : "/tmp";
}

/* Temporary folders of consumers that were killed (kill -9) before they could
 * remove them: named blendarray-<pid>-*, that pid gone, and ours. */
void ba_sweep_stale(const char *tmp)
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

static void tail_add(worker *w, const char *data, size_t n)
{
    if (n >= BA_TAIL_MAX) {
        data += n - (BA_TAIL_MAX - 1);
        n = BA_TAIL_MAX - 1;
    }
    if (w->tail_len + n >= BA_TAIL_MAX) {
        size_t drop = w->tail_len + n - (BA_TAIL_MAX - 1);
        memmove(w->tail, w->tail + drop, w->tail_len - drop);
        w->tail_len -= drop;
    }
    memcpy(w->tail + w->tail_len, data, n);
    w->tail_len += n;
    w->tail[w->tail_len] = '\0';
}

void ba_worker_drain(worker *w, int verbose)
{
    char chunk[4096];
    while (w->out >= 0) {
        ssize_t n = read(w->out, chunk, sizeof chunk);
        if (n > 0) {
            tail_add(w, chunk, (size_t)n);
            if (verbose) {
                ssize_t ignored = write(2, chunk, (size_t)n);
                (void)ignored;
            }
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n == 0) { /* it closed its output: poll() must not see that forever */
            close(w->out);
            w->out = -1;
        }
        return;
    }
}

/* The crash reports Blender wrote: it names them after the .blend
 * ("<name>.crash.txt", "blender.crash.txt" unsaved) in its TMPDIR, this
 * worker's own folder. Their first lines go after the output, once. */
static void attach_crash_reports(worker *w)
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
        char crash[4096];
        size_t n = fread(crash, 1, sizeof crash - 1, f);
        fclose(f);
        char head[NAME_MAX + 64];
        int hl = snprintf(head, sizeof head, "\n--- Blender's crash report (%s) ---\n", e->d_name);
        if (hl > 0) tail_add(w, head, (size_t)hl < sizeof head ? (size_t)hl : sizeof head - 1);
        tail_add(w, crash, n);
    }
    if (d) {
        closedir(d);
        w->crash_attached = 1;
    }
}

const char *ba_worker_output(worker *w)
{
    attach_crash_reports(w);
    const char *t = w->tail;
    const char *nl = strchr(t, '\n');
    if (w->tail_len >= BA_TAIL_MAX - 1 && nl) t = nl + 1; /* start at a line boundary */
    return t;
}

/* Wait up to `ms` for w to exit, reading what it prints; then kill it. Its
 * wait status; w->pid is 0 after. */
static int wait_or_kill(worker *w, int verbose, int ms)
{
    int status = 0;
    pid_t got = 0;
    for (int i = 0; i < ms / 10 && (got = waitpid(w->pid, &status, WNOHANG)) == 0; i++) {
        ba_worker_drain(w, verbose);
        nap_ms(10);
    }
    if (got == 0) {
        kill(w->pid, SIGKILL);
        waitpid(w->pid, &status, 0);
    }
    w->pid = 0;
    return status;
}

/* Wait for w to end (killing it if it lingers), set returncode and "how"
 * ("was killed by SIGKILL", "exited with status 1"). */
static void reap(worker *w, int verbose, char *how, size_t how_cap)
{
    int status = wait_or_kill(w, verbose, 10000);
    ba_worker_drain(w, verbose);
    if (WIFSIGNALED(status)) {
        const char *abbrev = sigabbrev_np(WTERMSIG(status));
        snprintf(how, how_cap, "was killed by SIG%s", abbrev ? abbrev : "?");
        w->returncode = -WTERMSIG(status);
    } else {
        snprintf(how, how_cap, "exited with status %d", WEXITSTATUS(status));
        w->returncode = WEXITSTATUS(status);
    }
}

int ba_worker_failed(worker *w, int verbose, const char *why, const char *doing, ba_err *e)
{
    char how[64];
    pid_t pid = w->pid;
    if (why) kill(pid, SIGKILL);
    reap(w, verbose, how, sizeof how);
    if (why) return ba_err_worker(e, w, "Blender (worker %d) %s; it was stopped", w->id, why);
    return ba_err_worker(e, w, "Blender (worker %d, pid %d) %s while %s", w->id, (int)pid, how,
                         doing);
}

int ba_worker_send(worker *w, json_t *msg, const int *fds, int nfds)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    if (!text) return BA_ENOMEM;
    int err = ba_msg_send(w->sock, text, strlen(text), fds, nfds);
    free(text);
    return err;
}

int ba_worker_recv(worker *w, char *buf, size_t cap, json_t **msg, int *fds, int *nfds)
{
    size_t len = 0;
    *msg = NULL;
    int err = ba_msg_recv(w->sock, buf, cap, &len, fds, nfds, 0);
    if (err != BA_OK) return err;
    json_error_t jerr;
    *msg = json_loadb(buf, len, 0, &jerr);
    if (!*msg || !json_is_object(*msg)) {
        json_decref(*msg);
        *msg = NULL;
        for (int i = 0; i < *nfds; i++) close(fds[i]);
        *nfds = 0;
        return BA_EFORMAT;
    }
    return BA_OK;
}

void ba_worker_stop(worker *w, int kill_now, int verbose)
{
    if (w->pid > 0) { /* asked to quit, it has 5 s; else killed at once */
        json_t *q = kill_now ? NULL : json_pack("{s:s}", "op", "quit");
        int asked = q && ba_worker_send(w, q, NULL, 0) == BA_OK;
        json_decref(q);
        wait_or_kill(w, verbose, asked ? 5000 : 0);
    }
    if (w->sock >= 0) close(w->sock);
    if (w->out >= 0) close(w->out);
    w->sock = w->out = -1;
    if (w->tmpdir[0]) {
        ba_internal_rmtree(w->tmpdir);
        w->tmpdir[0] = '\0';
    }
    w->ninflight = 0;
    w->starting = 0;
}

int ba_worker_wait_reply(worker *w, const worker_cmd *c, double timeout, const char *doing,
                         char *buf, size_t cap, json_t **reply, ba_err *e)
{
    double deadline = ba_now() + timeout;
    for (;;) {
        if (c->stop && *c->stop) {
            ba_worker_stop(w, 1, c->verbose);
            return ba_err_set(e, BA_EINTR, NULL, "interrupted");
        }
        struct pollfd p[2] = {{w->sock, POLLIN, 0}, {w->out, POLLIN, 0}};
        double left = deadline - ba_now();
        if (left <= 0) {
            char why[128];
            snprintf(why, sizeof why, "did not answer within %.0f s while %s", timeout, doing);
            int err = ba_worker_failed(w, c->verbose, why, doing, e);
            ba_worker_stop(w, 1, c->verbose);
            return err;
        }
        int n = poll(p, 2, (int)(left * 1000) + 1);
        if (n < 0 && errno == EINTR) /* a signal: the caller decides, and may wait again */
            return ba_err_set(e, BA_EINTR, NULL, "interrupted");
        if (n < 0) return ba_err_set(e, BA_EIO, NULL, "poll: %s", strerror(errno));
        if (n <= 0) continue;
        if (p[1].revents) ba_worker_drain(w, c->verbose);
        if (!p[0].revents) continue;
        int fds[BA_MSG_MAX_FDS], nfds = BA_MSG_MAX_FDS;
        int err = ba_worker_recv(w, buf, cap, reply, fds, &nfds);
        for (int i = 0; i < nfds; i++) close(fds[i]);
        if (err == BA_ETIMEDOUT) continue;
        if (err == BA_OK) return BA_OK;
        char why[128];
        snprintf(why, sizeof why, "broke the worker protocol while %s: its reply is not a JSON "
                 "object", doing);
        err = ba_worker_failed(w, c->verbose, err == BA_EFORMAT ? why : NULL, doing, e);
        ba_worker_stop(w, 1, c->verbose);
        return err;
    }
}

/* The worker's environment: ours, less what we set, plus the channel and its
 * folder. PYTHONPATH stays the user's (a hook may import from it): the worker
 * finds blendarray from its own script's folder (blender/worker_main.py),
 * with nothing else of the consumer's site-packages. NULL when out of memory;
 * free *own and the array. */
static char **worker_env(const worker *w, int child_fd, char **own_out)
{
    size_t n = 0;
    while (environ[n]) n++;
    char **env = calloc(n + 4, sizeof *env);
    if (!env) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *e = environ[i];
        if (strncmp(e, "BLENDARRAY_FD=", 14) && strncmp(e, "BLENDARRAY_PARENT=", 18) &&
            strncmp(e, "TMPDIR=", 7))
            env[k++] = (char *)e;
    }
    char *own = NULL;
    if (asprintf(&own, "BLENDARRAY_FD=%d%cBLENDARRAY_PARENT=%d%cTMPDIR=%s", child_fd, 0,
                 (int)getpid(), 0, w->tmpdir) < 0) {
        free(env);
        return NULL;
    }
    /* three strings in one allocation, each NUL-terminated */
    *own_out = own;
    for (int i = 0; i < 3; i++) {
        env[k++] = own;
        own += strlen(own) + 1;
    }
    env[k] = NULL;
    return env;
}

int ba_worker_spawn(worker *w, const worker_cmd *c, ba_err *e)
{
    int sv[2] = {-1, -1}, pipefd[2] = {-1, -1};
    int err = BA_OK;
    w->tail_len = 0;
    w->tail[0] = '\0';
    w->crash_attached = 0;
    w->returncode = 0;
    w->ninflight = 0;
    snprintf(w->tmpdir, sizeof w->tmpdir, "%s/blendarray-%d-XXXXXX", ba_tmp_root(), (int)getpid());
    if (!mkdtemp(w->tmpdir)) {
        w->tmpdir[0] = '\0';
        return ba_err_set(e, BA_EIO, NULL, "cannot make a temporary directory in %s: %s",
                          ba_tmp_root(), strerror(errno));
    }
    /* the child's end must survive exec: no CLOEXEC on it, CLOEXEC on ours */
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) != 0 || pipe2(pipefd, O_CLOEXEC) != 0) {
        err = ba_err_set(e, BA_EIO, NULL, "socketpair/pipe: %s", strerror(errno));
        goto fail;
    }
    fcntl(sv[0], F_SETFD, FD_CLOEXEC);
    /* room for Blender's output while the consumer is busy with a frame */
    fcntl(pipefd[0], F_SETPIPE_SZ, 1 << 20);

    char *own = NULL;
    char **env = worker_env(w, sv[1], &own);
    if (!env) {
        err = ba_err_set(e, BA_ENOMEM, NULL, "out of memory");
        goto fail;
    }
    char script[PATH_MAX + 64];
    snprintf(script, sizeof script, "%s/blender/worker_main.py", c->package);
    char *argv_bin[] = {(char *)c->blender, "-b", "--factory-startup", "-noaudio",
                        "--python-exit-code", "1", "--python", script, NULL};
    char *argv_py[] = {(char *)c->python, script, NULL};
    int is_bpy = strcmp(c->blender, "bpy") == 0;

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
    /* its own session: a terminal's Ctrl-C reaches the consumer only, which
     * then stops its workers itself, in order */
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID);
    pid_t pid;
    int rc = posix_spawnp(&pid, is_bpy ? c->python : c->blender, &fa, &at,
                          is_bpy ? argv_py : argv_bin, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    free(own);
    free(env);
    if (rc != 0) {
        err = ba_err_set(e, BA_EWORKER, json_pack("{s:s}", "type", "BlenderNotFoundError"),
                         "cannot run %s: %s; install Blender (apt-get install blender) or the bpy "
                         "module (pip install bpy), or name one with blender= (--blender) or "
                         "BLENDARRAY_BLENDER", is_bpy ? c->python : c->blender, strerror(rc));
        goto fail;
    }
    close(sv[1]);
    close(pipefd[1]);
    w->pid = pid;
    w->starting = 1;
    w->sock = sv[0];
    w->out = pipefd[0];
    fcntl(w->out, F_SETFL, O_NONBLOCK);
    return BA_OK;
fail:
    if (sv[0] >= 0) close(sv[0]);
    if (sv[1] >= 0) close(sv[1]);
    if (pipefd[0] >= 0) close(pipefd[0]);
    if (pipefd[1] >= 0) close(pipefd[1]);
    if (w->tmpdir[0]) {
        rmdir(w->tmpdir);
        w->tmpdir[0] = '\0';
    }
    return err;
}
