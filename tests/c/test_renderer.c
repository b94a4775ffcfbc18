/* test_renderer.c — the pull API of ba_renderer (open, submit, next,
 * release, cancel, close) against fake workers, without Blender:
 * tests/python/rogue_worker.py stands in for the Blender binary and behaves
 * as $ROGUE says (good, hookerror, die, version, malformed, outside, badslot).
 *
 * A "good" frame is one float32 array "rgba" of shape [4, 4, 4] filled with
 * the frame's index; its meta "frame" is params.frame (default 1).
 *
 * After every test no worker process may be left (waitpid reports ECHILD)
 * and no blendarray-<our pid>-* folder may be left in $TMPDIR, a private
 * folder made at start.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "blendarray.h"
#include "check.h"

static char g_pkg[PATH_MAX + 64];    /* <repo>/python/blendarray */
static char g_rogue[PATH_MAX + 64];  /* <repo>/tests/python/rogue_worker.py */
static char g_tmp[PATH_MAX];    /* our private $TMPDIR */
static char g_marker[PATH_MAX + 64]; /* the die mode's "already died once" file */

/* ---------------------------------------------------------------------- */
/*  helpers                                                                */
/* ---------------------------------------------------------------------- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Set an option that must be taken. */
static void opt_int(ba_renderer_options *o, int option, int64_t value)
{
    int err = ba_renderer_options_set_int(o, option, value);
    if (err != BA_OK)
        T_REPORT("option %d = %lld: %s: %s", option, (long long)value, ba_strerror(err),
                 ba_renderer_options_message(o));
}

static void opt_str(ba_renderer_options *o, int option, const char *value)
{
    int err = ba_renderer_options_set_str(o, option, value);
    if (err != BA_OK)
        T_REPORT("option %d = %s: %s: %s", option, value, ba_strerror(err),
                 ba_renderer_options_message(o));
}

/* Options for a fake worker in `mode`; ROGUE_DELAY back to 0. NULL when out
 * of memory (reported). */
static ba_renderer_options *rogue_opts(const char *mode, int workers, int ring)
{
    ba_renderer_options *o = NULL;
    CHECK_RC(ba_renderer_options_new(&o), BA_OK);
    if (!o) return NULL;
    opt_str(o, BA_OPT_BLENDER, g_rogue);
    opt_str(o, BA_OPT_PACKAGE_DIR, g_pkg);
    opt_int(o, BA_OPT_WORKERS, workers);
    opt_int(o, BA_OPT_RING, ring);
    setenv("ROGUE", mode, 1);
    setenv("ROGUE_DELAY", "0", 1);
    return o;
}

/* Open, or report why not; the options are freed at once (the renderer keeps
 * its own copy of what it needs: ASan sees any use after that). */
static ba_renderer *open_or_report(ba_renderer_options *o)
{
    ba_renderer *r = (ba_renderer *)1;
    int err = o ? ba_renderer_open(&r, o) : BA_ENOMEM;
    if (err != BA_OK) {
        T_REPORT("ba_renderer_open: %s: %s", ba_strerror(err), ba_renderer_options_message(o));
        if (o && r != NULL) T_REPORT("a failed open left *out set");
        r = NULL;
    }
    ba_renderer_options_free(o);
    return r;
}

static void submit_range(ba_renderer *r, int64_t from, int64_t to)
{
    for (int64_t i = from; i < to; i++) {
        char params[64];
        snprintf(params, sizeof params, "{\"frame\": %lld}", (long long)(100 + i));
        CHECK_RC(ba_renderer_submit(r, i, params), BA_OK);
    }
}

/* The frame a good worker renders for `index` (submitted by submit_range). */
static void check_frame(const ba_frame *f, int64_t index)
{
    if (!f) {
        T_REPORT("no frame for index %lld", (long long)index);
        return;
    }
    CHECK_INT(f->index, index);
    CHECK_INT(f->frame, 100 + index);
    CHECK_INT(f->narrays, 1);
    if (f->narrays != 1) return;
    const ba_frame_array *a = &f->arrays[0];
    CHECK(strcmp(a->name, "rgba") == 0);
    CHECK_INT(a->dtype, BA_DTYPE_F32);
    CHECK_INT(a->ndim, 3);
    CHECK_INT(a->shape[0], 4);
    CHECK_INT(a->shape[1], 4);
    CHECK_INT(a->shape[2], 4);
    CHECK_INT(a->nbytes, 4 * 4 * 4 * sizeof(float));
    const float *v = a->data;
    int bad = 0;
    for (int i = 0; i < 64; i++) bad += v[i] != (float)index;
    if (bad) T_REPORT("index %lld: %d of 64 values are not %lld (first %g)", (long long)index,
                      bad, (long long)index, (double)v[0]);
    /* meta: the worker's, plus "index" and "worker" from the consumer */
    json_error_t jerr;
    json_t *meta = json_loads(f->meta_json, 0, &jerr);
    CHECK(json_is_object(meta));
    CHECK_INT(json_integer_value(json_object_get(meta, "frame")), 100 + index);
    CHECK_INT(json_integer_value(json_object_get(meta, "index")), index);
    CHECK(json_is_integer(json_object_get(meta, "worker")));
    CHECK_INT(json_integer_value(json_object_get(meta, "worker")), f->worker);
    json_decref(meta);
}

/* Take the next frame ordered (no time limit), check it is `index`, release. */
static void expect_frame(ba_renderer *r, int64_t index)
{
    const ba_frame *f = NULL;
    int err = ba_renderer_next(r, BA_NEXT_ORDERED, -1, &f);
    if (err != BA_OK) {
        T_REPORT("next for index %lld: %s: %s", (long long)index, ba_strerror(err),
                 ba_renderer_message(r));
        return;
    }
    check_frame(f, index);
    ba_renderer_release(r, f);
}

static void expect_done(ba_renderer *r)
{
    const ba_frame *f = (const ba_frame *)1;
    CHECK_RC(ba_renderer_next(r, BA_NEXT_ORDERED, -1, &f), BA_EDONE);
    CHECK(f == NULL);
}

/* The error JSON's string member (NULL when missing). */
static const char *err_str(json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

static int has_type(json_t *j, const char *type)
{
    return err_str(j, "type") && strcmp(err_str(j, "type"), type) == 0;
}

static json_t *error_json(ba_renderer *r)
{
    json_error_t jerr;
    json_t *j = json_loads(ba_renderer_error_json(r), 0, &jerr);
    if (!json_is_object(j)) T_REPORT("error_json is not an object: %s", ba_renderer_error_json(r));
    return j;
}

#define CHECK_CONTAINS(hay, needle)                                                    \
    do {                                                                               \
        const char *h_ = (hay);                                                        \
        if (!h_ || !strstr(h_, needle))                                                \
            T_REPORT("%s does not contain \"%s\": %.600s", #hay, needle, h_ ? h_ : "(null)"); \
    } while (0)

/* No worker left (every child reaped), no worker folder left in $TMPDIR. */
static void nothing_left(void)
{
    errno = 0;
    pid_t got = waitpid(-1, NULL, WNOHANG);
    if (!(got == -1 && errno == ECHILD)) {
        T_REPORT("a child process is left (waitpid: %d, %s)", (int)got, strerror(errno));
        /* reap what is there, so the next test starts clean */
        while (waitpid(-1, NULL, WNOHANG) > 0) {
        }
    }
    char prefix[64];
    snprintf(prefix, sizeof prefix, "blendarray-%d-", (int)getpid());
    DIR *d = opendir(g_tmp);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            T_REPORT("a worker folder is left: %s/%s", g_tmp, e->d_name);
    if (d) closedir(d);
}

static void (*g_body)(void);
static void body_then_nothing_left(void)
{
    g_body();
    nothing_left();
}
/* each test case, then the leftover check, counted as part of the case */
#define RUN_CLEAN(fn) (g_body = (fn), t_run(#fn, body_then_nothing_left))

/* ---------------------------------------------------------------------- */
/*  1. good workers: ordered and any-order delivery, the values            */
/* ---------------------------------------------------------------------- */

static void test_good_ordered_then_any(void)
{
    ba_renderer_options *o = rogue_opts("good", 2, 4);
    ba_renderer *r = open_or_report(o);
    REQUIRE(r);
    CHECK_INT(ba_renderer_workers(r), 2);
    int pid0 = ba_renderer_worker_pid(r, 0), pid1 = ba_renderer_worker_pid(r, 1);
    CHECK(pid0 > 0 && pid1 > 0 && pid0 != pid1);
    CHECK(strcmp(ba_renderer_message(r), "") == 0); /* nothing went wrong */
    CHECK(strcmp(ba_renderer_error_json(r), "{}") == 0);

    submit_range(r, 0, 10);
    int by_worker[2] = {0, 0};
    for (int64_t i = 0; i < 10; i++) {
        const ba_frame *f = NULL;
        int err = ba_renderer_next(r, BA_NEXT_ORDERED, -1, &f);
        CHECK_RC(err, BA_OK);
        if (err != BA_OK) break;
        check_frame(f, i);
        if (f->worker >= 0 && f->worker < 2) by_worker[f->worker]++;
        else T_REPORT("frame %lld from worker %d", (long long)i, f->worker);
        ba_renderer_release(r, f);
    }
    /* the first frame goes to each idle worker at once: both rendered */
    CHECK(by_worker[0] > 0 && by_worker[1] > 0);
    expect_done(r);

    /* any order: every index exactly once */
    submit_range(r, 0, 10);
    int seen[10] = {0};
    for (int k = 0; k < 10; k++) {
        const ba_frame *f = NULL;
        int err = ba_renderer_next(r, BA_NEXT_ANY, -1, &f);
        CHECK_RC(err, BA_OK);
        if (err != BA_OK) break;
        if (f->index >= 0 && f->index < 10) seen[f->index]++;
        check_frame(f, f->index);
        ba_renderer_release(r, f);
    }
    for (int i = 0; i < 10; i++)
        if (seen[i] != 1) T_REPORT("index %d came %d times with BA_NEXT_ANY", i, seen[i]);
    const ba_frame *f = NULL;
    CHECK_RC(ba_renderer_next(r, BA_NEXT_ANY, -1, &f), BA_EDONE);
    /* the same workers did it all */
    CHECK_INT(ba_renderer_worker_pid(r, 0), pid0);
    CHECK_INT(ba_renderer_worker_pid(r, 1), pid1);
    ba_renderer_close(r);
}

/* ---------------------------------------------------------------------- */
/*  2. back-pressure: held slots stop the work, a release (any thread)     */
/*     restarts it                                                         */
/* ---------------------------------------------------------------------- */

static void *release_in_thread(void *arg)
{
    void **a = arg;
    ba_renderer_release(a[0], a[1]);
    return NULL;
}

static void test_back_pressure(void)
{
    ba_renderer_options *o = rogue_opts("good", 1, 1);
    ba_renderer *r = open_or_report(o);
    REQUIRE(r);
    submit_range(r, 0, 6);

    /* hold every frame until the renderer says the ring is full */
    const ba_frame *held[6] = {0};
    int nheld = 0, err = BA_OK;
    while (nheld < 6) {
        const ba_frame *f = NULL;
        err = ba_renderer_next(r, BA_NEXT_ORDERED, 5000, &f);
        if (err != BA_OK) break;
        check_frame(f, nheld);
        held[nheld++] = f;
    }
    CHECK_RC(err, BA_EFULL);
    CHECK_CONTAINS(ba_renderer_message(r), "ring slot");
    /* one ring slot: at most the first frame (its own memory) and one slot frame */
    CHECK(nheld >= 1 && nheld <= 2);
    /* still full when asked again: nothing was released */
    const ba_frame *f = NULL;
    CHECK_RC(ba_renderer_next(r, BA_NEXT_ORDERED, 0, &f), BA_EFULL);
    /* the held frames are intact */
    for (int i = 0; i < nheld; i++) check_frame(held[i], i);

    /* released from another thread, then the next frames come */
    pthread_t th;
    void *arg[2] = {r, (void *)held[nheld - 1]};
    CHECK_INT(pthread_create(&th, NULL, release_in_thread, arg), 0);
    pthread_join(th, NULL);
    int next = nheld;
    for (int i = 0; i < nheld - 1; i++) ba_renderer_release(r, held[i]);
    for (; next < 6; next++) expect_frame(r, next);
    expect_done(r);
    ba_renderer_close(r);
}

/* ---------------------------------------------------------------------- */
/*  3. close while frames are held: they stay valid until released         */
/* ---------------------------------------------------------------------- */

static void test_close_with_frames_held(void)
{
    ba_renderer_options *o = rogue_opts("good", 1, 2);
    ba_renderer *r = open_or_report(o);
    REQUIRE(r);
    submit_range(r, 0, 4);
    /* frame 0 lies in its own memfd, frame 1 in a ring slot: both kinds */
    const ba_frame *f0 = NULL, *f1 = NULL;
    CHECK_RC(ba_renderer_next(r, BA_NEXT_ORDERED, -1, &f0), BA_OK);
    CHECK_RC(ba_renderer_next(r, BA_NEXT_ORDERED, -1, &f1), BA_OK);
    ba_renderer_close(r); /* frames 2 and 3 dropped, workers stopped */
    nothing_left();       /* already now, though frames are held */
    /* readable (ASan: no use after free; no SIGSEGV: still mapped) */
    if (f0) check_frame(f0, 0);
    if (f1) check_frame(f1, 1);
    ba_renderer_release(r, f0);
    if (f1) check_frame(f1, 1); /* the other's release must not unmap this one */
    ba_renderer_release(r, f1); /* the last: frees the renderer */
}

/* ---------------------------------------------------------------------- */
/*  4.-7. workers that break the protocol or report an error               */
/* ---------------------------------------------------------------------- */

static void test_version_mismatch(void)
{
    ba_renderer_options *o = rogue_opts("version", 2, 4);
    REQUIRE(o);
    ba_renderer *r = (ba_renderer *)1;
    double t0 = now();
    CHECK_RC(ba_renderer_open(&r, o), BA_EWORKER);
    CHECK(now() - t0 < 20);
    CHECK(r == NULL); /* a failed open leaves nothing to close: worker 1 went too */
    /* why: in the options */
    CHECK_CONTAINS(ba_renderer_options_message(o), "speaks worker protocol version 99");
    CHECK_CONTAINS(ba_renderer_options_message(o), "worker 0");
    json_error_t jerr;
    json_t *j = json_loads(ba_renderer_options_error_json(o), 0, &jerr);
    CHECK(has_type(j, "WorkerError"));
    CHECK_INT(json_integer_value(json_object_get(j, "worker")), 0);
    CHECK_CONTAINS(err_str(j, "message"), "speaks worker protocol version 99");
    json_decref(j);
    /* a later failure replaces it; a success clears it */
    CHECK_RC(ba_renderer_options_set_int(o, BA_OPT_RING, -1), BA_EINVAL);
    CHECK_CONTAINS(ba_renderer_options_message(o), "ring");
    CHECK_RC(ba_renderer_options_set_int(o, BA_OPT_RING, 2), BA_OK);
    CHECK(strcmp(ba_renderer_options_message(o), "") == 0);
    CHECK(strcmp(ba_renderer_options_error_json(o), "{}") == 0);
    ba_renderer_options_free(o);
}

static void test_malformed_reply(void)
{
    ba_renderer_options *o = rogue_opts("malformed", 1, 4);
    opt_int(o, BA_OPT_RETRIES, 1);
    ba_renderer *r = open_or_report(o);
    REQUIRE(r);
    submit_range(r, 0, 1);
    const ba_frame *f = NULL;
    CHECK_RC(ba_renderer_next(r, BA_NEXT_ORDERED, 20000, &f), BA_EWORKER);
    CHECK(f == NULL);
    CHECK_CONTAINS(ba_renderer_message(r), "broke the worker protocol");
    CHECK_CONTAINS(ba_renderer_message(r), "index 0");
    CHECK_CONTAINS(ba_renderer_message(r), "after 2 attempt(s)"); /* retries = 1 */
    json_t *j = error_json(r);
    CHECK(has_type(j, "WorkerError"));
    CHECK_INT(json_integer_value(json_object_get(j, "index")), 0);
    json_decref(j);
    CHECK_INT(ba_renderer_worker_pid(r, 0), 0); /* stopped */
    expect_done(r);
    ba_renderer_close(r);
}

static void test_array_outside_its_memory(void)
{
    ba_renderer_options *o = rogue_opts("outside", 1, 4);
    opt_int(o, BA_OPT_RETRIES, 1);
    ba_renderer *r = open_or_report(o);
    REQUIRE(r);
    submit_range(r, 0, 1);
    const ba_frame *f = NULL;
    CHECK_RC(ba_renderer_next(r, BA_NEXT_ORDERED, 20000, &f), BA_EWORKER);
    CHECK(f == NULL);
    CHECK_CONTAINS(ba_renderer_message(r), "does not lie inside the memory it sent");
    CHECK_CONTAINS(ba_renderer_message(r), "worker 0");
    json_t *j = error_json(r);
    CHECK(has_type(j, "WorkerError"));
    json_decref(j);
    CHECK_INT(ba_renderer_worker_pid(r, 0), 0); /* not asked again */
    /* the frame is accounted for: asking on ends with BA_EDONE (retries = 1:
     * at most one more failure), and never hands out a frame; it must not be
     * sent to a restarted worker again and again */
    int errors = 0, err;
    while ((err = ba_renderer_next(r, BA_NEXT_ORDERED, 20000, &f)) == BA_EWORKER && errors < 5)
        errors++;
    CHECK_RC(err, BA_EDONE);
    CHECK(errors <= 1);
    if (err == BA_OK) ba_renderer_release(r, f);
    ba_renderer_close(r);
}

/* A bad reply while the worker has a second frame in flight: neither frame
 * may vanish. Index 3's first reply names
 * an array past its slot (1 worker, which gets 2 frames in flight at once);
 * its restarted worker answers index 3 correctly. */
static void test_bad_reply_with_another_frame_in_flight(void)
{
    ba_renderer_options *o = rogue_opts("badslot", 1, 4);
    opt_int(o, BA_OPT_RETRIES, 1);
    unlink(g_marker);
    ba_renderer *r = open_or_report(o);
    REQUIRE(r);
    submit_range(r, 0, 6);
    int seen[6] = {0}, failed = 0, err;
    const ba_frame *f = NULL;
    for (int calls = 0; calls < 20; calls++) {
        err = ba_renderer_next(r, BA_NEXT_ANY, 20000, &f);
        if (err == BA_OK) {
            if (f->index >= 0 && f->index < 6) seen[f->index]++;
            check_frame(f, f->index);
            ba_renderer_release(r, f);
        } else if (err == BA_EWORKER) {
            failed++;
            CHECK_CONTAINS(ba_renderer_message(r), "does not lie inside the memory it sent");
        } else {
            break;
        }
    }
    CHECK_RC(err, BA_EDONE);
    CHECK(access(g_marker, F_OK) == 0); /* the bad reply was sent */
    /* a worker that breaks the protocol is stopped as if it had died: its frames
     * (both in flight) are rendered again (retries = 1), each arrives once */
    CHECK_INT(failed, 0);
    for (int i = 0; i < 6; i++)
        if (seen[i] != 1) T_REPORT("index %d arrived %d times", i, seen[i]);
    ba_renderer_close(r);
    unlink(g_marker);
}

static void test_hook_error(void)
{
    ba_renderer_options *o = rogue_opts("hookerror", 1, 4);
    ba_renderer *r = open_or_report(o);
    REQUIRE(r);
    int pid = ba_renderer_worker_pid(r, 0);
    submit_range(r, 0, 3);
    const ba_frame *f = NULL;
    CHECK_RC(ba_renderer_next(r, BA_NEXT_ORDERED, 20000, &f), BA_ERENDER);
    CHECK(f == NULL);
    const char *msg = ba_renderer_message(r);
    CHECK(strncmp(msg, "index 0: ", 9) == 0);
    CHECK_CONTAINS(msg, "boom");
    json_t *j = error_json(r);
    CHECK(has_type(j, "SetupError"));
    CHECK(err_str(j, "message") && strncmp(err_str(j, "message"), "index 0: ", 9) == 0);
    CHECK_INT(json_integer_value(json_object_get(j, "index")), 0);
    CHECK_INT(json_integer_value(json_object_get(j, "worker")), 0);
    json_decref(j);
    /* a reported error is not a crash: the same worker renders the rest */
    expect_frame(r, 1);
    expect_frame(r, 2);
    expect_done(r);
    CHECK_INT(ba_renderer_worker_pid(r, 0), pid);
    ba_renderer_close(r);
}

/* ---------------------------------------------------------------------- */
/*  8. a worker that dies: restarted, its frames rendered again            */
/* ---------------------------------------------------------------------- */

static void test_worker_dies_and_is_restarted(void)
{
    ba_renderer_options *o = rogue_opts("die", 1, 4);
    opt_int(o, BA_OPT_RETRIES, 1);
    unlink(g_marker);
    ba_renderer *r = open_or_report(o);
    REQUIRE(r);
    int pid = ba_renderer_worker_pid(r, 0);
    CHECK(pid > 0);
    submit_range(r, 0, 6);
    for (int64_t i = 0; i < 6; i++) expect_frame(r, i);
    expect_done(r);
    CHECK(access(g_marker, F_OK) == 0); /* it did die once */
    int pid2 = ba_renderer_worker_pid(r, 0);
    CHECK(pid2 > 0 && pid2 != pid);
    CHECK_INT(ba_renderer_stat(r, BA_STAT_RESTARTED), 1); /* a crash, not a recycle */
    CHECK_INT(ba_renderer_stat(r, BA_STAT_RECYCLED), 0);
    CHECK_INT(ba_renderer_stat(r, BA_STAT_FRAMES), 6); /* the lost one is not counted */
    ba_renderer_close(r);
    unlink(g_marker);
}

/* retries = 0: the frame fails, with the worker's last output and status;
 * the renderer goes on with a new worker */
static void test_worker_dies_without_retries(void)
{
    ba_renderer_options *o = rogue_opts("die", 1, 4);
    opt_int(o, BA_OPT_RETRIES, 0);
    unlink(g_marker);
    ba_renderer *r = open_or_report(o);
    REQUIRE(r);
    submit_range(r, 0, 3);
    expect_frame(r, 0);
    expect_frame(r, 1);
    const ba_frame *f = NULL;
    CHECK_RC(ba_renderer_next(r, BA_NEXT_ORDERED, 20000, &f), BA_EWORKER);
    const char *msg = ba_renderer_message(r);
    CHECK_CONTAINS(msg, "index 2");
    CHECK_CONTAINS(msg, "exited with status 1");
    CHECK_CONTAINS(msg, "dying on index 2"); /* Blender's last output */
    json_t *j = error_json(r);
    CHECK(has_type(j, "WorkerError"));
    CHECK_INT(json_integer_value(json_object_get(j, "index")), 2);
    CHECK_INT(json_integer_value(json_object_get(j, "returncode")), 1);
    CHECK_CONTAINS(err_str(j, "output"), "dying on index 2");
    json_decref(j);
    expect_done(r);
    submit_range(r, 3, 5);
    expect_frame(r, 3);
    expect_frame(r, 4);
    expect_done(r);
    ba_renderer_close(r);
    unlink(g_marker);
}

/* ---------------------------------------------------------------------- */
/*  9. timeouts                                                            */
/* ---------------------------------------------------------------------- */

static void test_next_timeout(void)
{
    ba_renderer_options *o = rogue_opts("good", 1, 4);
    setenv("ROGUE_DELAY", "0.5", 1);
    ba_renderer *r = open_or_report(o);
    REQUIRE(r);
    submit_range(r, 0, 1);
    const ba_frame *f = (const ba_frame *)1;
    double t0 = now();
    CHECK_RC(ba_renderer_next(r, BA_NEXT_ORDERED, 0, &f), BA_ETIMEDOUT);
    CHECK(f == NULL);
    CHECK(now() - t0 < 0.2);
    t0 = now();
    CHECK_RC(ba_renderer_next(r, BA_NEXT_ANY, 100, &f), BA_ETIMEDOUT);
    double took = now() - t0;
    if (took < 0.09 || took > 0.45) T_REPORT("next(100 ms) took %.3f s", took);
    expect_frame(r, 0); /* the frame was not lost by the timeouts */
    CHECK_RC(ba_renderer_next(r, BA_NEXT_ORDERED, 0, &f), BA_EDONE); /* not ETIMEDOUT */
    ba_renderer_close(r);
}

/* opts.timeout: a worker that takes too long is stopped; retries = 0 */
static void test_frame_timeout(void)
{
    ba_renderer_options *o = rogue_opts("good", 1, 4);
    opt_int(o, BA_OPT_TIMEOUT_MS, 300);
    opt_int(o, BA_OPT_RETRIES, 0);
    setenv("ROGUE_DELAY", "5", 1);
    ba_renderer *r = open_or_report(o);
    REQUIRE(r);
    submit_range(r, 0, 1);
    const ba_frame *f = NULL;
    double t0 = now();
    CHECK_RC(ba_renderer_next(r, BA_NEXT_ORDERED, -1, &f), BA_EWORKER);
    CHECK(now() - t0 < 3);
    CHECK_CONTAINS(ba_renderer_message(r), "did not finish a frame within 0.3 s");
    CHECK_CONTAINS(ba_renderer_message(r), "index 0");
    CHECK_INT(ba_renderer_worker_pid(r, 0), 0);
    expect_done(r);
    ba_renderer_close(r);
}

/* ---------------------------------------------------------------------- */
/*  10. cancel, waiting or not: the renderer stays usable                  */
/* ---------------------------------------------------------------------- */

static void test_cancel(void)
{
    ba_renderer_options *o = rogue_opts("good", 1, 2);
    setenv("ROGUE_DELAY", "0.1", 1);
    ba_renderer *r = open_or_report(o);
    REQUIRE(r);
    int pid = ba_renderer_worker_pid(r, 0);

    /* wait = 1: frames in flight are waited out, the worker stays */
    submit_range(r, 0, 6);
    const ba_frame *f0 = NULL, *f = NULL;
    CHECK_RC(ba_renderer_next(r, BA_NEXT_ORDERED, -1, &f0), BA_OK);
    CHECK(ba_renderer_queued(r) > 0);
    CHECK_RC(ba_renderer_cancel(r, 1), BA_OK);
    CHECK_INT(ba_renderer_queued(r), 0);
    CHECK_INT(ba_renderer_worker_pid(r, 0), pid);
    CHECK_RC(ba_renderer_next(r, BA_NEXT_ORDERED, 0, &f), BA_EDONE);
    if (f0) check_frame(f0, 0); /* handed out before: still valid */
    ba_renderer_release(r, f0);
    submit_range(r, 10, 13);
    for (int64_t i = 10; i < 13; i++) expect_frame(r, i);
    expect_done(r);
    CHECK_INT(ba_renderer_worker_pid(r, 0), pid);

    /* wait = 0: the worker rendering them is stopped, restarted for new work */
    submit_range(r, 20, 24);
    CHECK_RC(ba_renderer_cancel(r, 0), BA_OK);
    CHECK_INT(ba_renderer_worker_pid(r, 0), 0);
    CHECK_INT(ba_renderer_queued(r), 0);
    CHECK_RC(ba_renderer_next(r, BA_NEXT_ORDERED, 0, &f), BA_EDONE);
    submit_range(r, 30, 33);
    int pid2 = ba_renderer_worker_pid(r, 0);
    CHECK(pid2 > 0 && pid2 != pid);
    for (int64_t i = 30; i < 33; i++) expect_frame(r, i);
    expect_done(r);
    ba_renderer_close(r);
}

/* A worker's spare frame (its own memory, while its slots are all held) that a
 * cancel drops before it is handed out is the worker's again: with one slot, a
 * consumer that holds a frame while it asks for the next gets it. */
static void test_cancel_gives_the_spare_back(void)
{
    ba_renderer_options *o = rogue_opts("good", 1, 1);
    ba_renderer *r = open_or_report(o);
    REQUIRE(r);
    submit_range(r, 0, 6);
    const ba_frame *f0 = NULL, *f1 = NULL, *f2 = NULL, *g0 = NULL, *g1 = NULL;
    CHECK_RC(ba_renderer_next(r, BA_NEXT_ORDERED, 5000, &f0), BA_OK); /* the spare */
    CHECK_RC(ba_renderer_next(r, BA_NEXT_ORDERED, 5000, &f1), BA_OK); /* slot 0 */
    REQUIRE(f0 && f1);
    CHECK_INT(f0->slot, -1);
    CHECK_INT(f1->slot, 0);
    ba_renderer_release(r, f0);
    ba_renderer_release(r, f1);
    /* index 2 into slot 0, index 3 into the spare, both sent at once */
    CHECK_RC(ba_renderer_next(r, BA_NEXT_ORDERED, 5000, &f2), BA_OK);
    REQUIRE(f2);
    check_frame(f2, 2);
    CHECK_RC(ba_renderer_cancel(r, 1), BA_OK); /* index 3 waited out and dropped */
    ba_renderer_release(r, f2);
    submit_range(r, 10, 12);
    CHECK_RC(ba_renderer_next(r, BA_NEXT_ORDERED, 5000, &g0), BA_OK);
    CHECK_RC(ba_renderer_next(r, BA_NEXT_ORDERED, 5000, &g1), BA_OK); /* g0 held: the spare */
    if (g0) check_frame(g0, 10);
    if (g1) {
        check_frame(g1, 11);
        CHECK_INT(g1->slot, -1);
    }
    ba_renderer_release(r, g0);
    ba_renderer_release(r, g1);
    ba_renderer_close(r);
}

/* ---------------------------------------------------------------------- */
/*  per-frame params, the stop flag, stale folders                         */
/* ---------------------------------------------------------------------- */

/* Known settings go in the request's params, the caller's other keys in
 * "user" (the good worker puts them in its meta). */
static void test_user_params(void)
{
    ba_renderer_options *o = rogue_opts("good", 1, 4);
    ba_renderer *r = open_or_report(o);
    REQUIRE(r);
    CHECK_RC(ba_renderer_submit(r, 7, "{\"frame\": 12, \"light\": [1, 2], \"name\": \"x\"}"),
             BA_OK);
    CHECK_RC(ba_renderer_submit(r, 8, NULL), BA_OK); /* NULL: no params at all */
    const ba_frame *f = NULL;
    CHECK_RC(ba_renderer_next(r, BA_NEXT_ORDERED, -1, &f), BA_OK);
    if (f) {
        CHECK_INT(f->index, 7);
        CHECK_INT(f->frame, 12);
        CHECK(((const float *)f->arrays[0].data)[0] == 7.0f);
        json_error_t jerr;
        json_t *meta = json_loads(f->meta_json, 0, &jerr);
        json_t *want = json_loads("{\"light\": [1, 2], \"name\": \"x\"}", 0, &jerr);
        CHECK(json_equal(json_object_get(meta, "user"), want));
        json_decref(want);
        json_decref(meta);
        ba_renderer_release(r, f);
    }
    CHECK_RC(ba_renderer_next(r, BA_NEXT_ORDERED, -1, &f), BA_OK);
    if (f) {
        CHECK_INT(f->index, 8);
        CHECK_INT(f->frame, 1); /* the worker's default */
        ba_renderer_release(r, f);
    }
    expect_done(r);
    ba_renderer_close(r);
}

/* *opts.stop ends a wait with BA_EINTR; cleared, the frame still comes */
static void test_stop_flag(void)
{
    static volatile int stop;
    ba_renderer_options *o = rogue_opts("good", 1, 4);
    setenv("ROGUE_DELAY", "0.3", 1);
    CHECK_RC(ba_renderer_options_set_stop(o, &stop), BA_OK);
    stop = 0;
    ba_renderer *r = open_or_report(o);
    REQUIRE(r);
    submit_range(r, 0, 1);
    stop = 1;
    const ba_frame *f = NULL;
    double t0 = now();
    CHECK_RC(ba_renderer_next(r, BA_NEXT_ORDERED, -1, &f), BA_EINTR);
    CHECK(now() - t0 < 0.2);
    stop = 0;
    expect_frame(r, 0);
    expect_done(r);
    ba_renderer_close(r);
}

/* ba_tmp_sweep removes the folders of consumers that no longer exist, and only
 * those; ba_renderer_open leaves them to its caller */
static void test_sweeps_stale_folders(void)
{
    pid_t dead = fork();
    if (dead == 0) _exit(0);
    REQUIRE(dead > 0);
    waitpid(dead, NULL, 0);
    char stale[PATH_MAX + 64], stale_file[PATH_MAX + 96], alive[PATH_MAX + 64];
    snprintf(stale, sizeof stale, "%s/blendarray-%d-AbC123", g_tmp, (int)dead);
    snprintf(stale_file, sizeof stale_file, "%s/blender.crash.txt", stale);
    snprintf(alive, sizeof alive, "%s/blendarray-%d-keep", g_tmp, (int)getppid());
    CHECK_INT(mkdir(stale, 0700), 0);
    FILE *fp = fopen(stale_file, "w");
    if (fp) fclose(fp);
    CHECK_INT(mkdir(alive, 0700), 0);

    char stale_plain[PATH_MAX + 64];
    snprintf(stale_plain, sizeof stale_plain, "%s/blendarray-%d-file00", g_tmp, (int)dead);
    fp = fopen(stale_plain, "w"); /* a file, not a folder: not ours to remove */
    if (fp) fclose(fp);

    /* the library never sweeps by itself: opening a renderer leaves them */
    ba_renderer_options *o = rogue_opts("good", 1, 4);
    ba_renderer *r = open_or_report(o);
    struct stat st;
    CHECK(stat(stale, &st) == 0);
    ba_renderer_close(r);
    /* its caller asks ($TMPDIR: g_tmp) */
    CHECK_RC(ba_tmp_sweep(NULL), BA_OK);
    CHECK(stat(stale, &st) != 0 && errno == ENOENT); /* its consumer is gone */
    CHECK(stat(alive, &st) == 0);                    /* its consumer (our parent) lives */
    CHECK(stat(stale_plain, &st) == 0);
    errno = 0;
    CHECK_RC(ba_tmp_sweep("/nonexistent/tmp"), BA_EIO);
    CHECK_INT(errno, ENOENT);
    rmdir(alive);
    unlink(stale_plain);
    unlink(stale_file);
    rmdir(stale);
}

/* ---------------------------------------------------------------------- */
/*  ba_renderer_run, and bad arguments                                     */
/* ---------------------------------------------------------------------- */

typedef struct run_state {
    int64_t next;
    int stop_at;
} run_state;

static int on_frame(const ba_frame *f, void *user)
{
    run_state *s = user;
    CHECK_INT(f->index, s->next);
    CHECK_INT(f->frame, 100 + s->next);
    const float *v = f->arrays[0].data;
    CHECK(v[0] == (float)s->next && v[63] == (float)s->next);
    s->next++;
    return s->next == s->stop_at ? 42 : 0;
}

static void test_run(void)
{
    ba_renderer_options *o = rogue_opts("good", 2, 2);
    ba_renderer *r = open_or_report(o);
    REQUIRE(r);
    int64_t frames[7] = {100, 101, 102, 103, 104, 105, 106};
    run_state s = {0, -1};
    CHECK_RC(ba_renderer_run(r, frames, NULL, 7, on_frame, &s), BA_OK);
    CHECK_INT(s.next, 7);
    /* a callback's non-zero value stops the run and comes back */
    s = (run_state){0, 3};
    CHECK_RC(ba_renderer_run(r, frames, NULL, 7, on_frame, &s), 42);
    CHECK_INT(s.next, 3);
    CHECK_INT(ba_renderer_queued(r), 0);
    /* and the renderer is usable again */
    s = (run_state){0, -1};
    CHECK_RC(ba_renderer_run(r, frames, NULL, 4, on_frame, &s), BA_OK);
    CHECK_INT(s.next, 4);
    ba_renderer_close(r);
}

static void test_bad_arguments(void)
{
    ba_renderer_options *o = rogue_opts("good", 1, 4);
    REQUIRE(o);
    ba_renderer *r = (ba_renderer *)1;
    CHECK_RC(ba_renderer_open(NULL, o), BA_EINVAL);
    CHECK_RC(ba_renderer_open(&r, NULL), BA_EINVAL);
    CHECK(r == NULL);
    /* a package folder that is not one, a scene that does not exist: *out NULL */
    r = (ba_renderer *)1;
    opt_str(o, BA_OPT_PACKAGE_DIR, g_tmp);
    CHECK_RC(ba_renderer_open(&r, o), BA_EINVAL);
    CHECK(r == NULL);
    CHECK_CONTAINS(ba_renderer_options_message(o), "is not a blendarray package folder");
    opt_str(o, BA_OPT_PACKAGE_DIR, g_pkg);
    opt_str(o, BA_OPT_SCENE, "/nonexistent/scene.blend");
    r = (ba_renderer *)1;
    CHECK_RC(ba_renderer_open(&r, o), BA_EINVAL);
    CHECK(r == NULL);
    CHECK_CONTAINS(ba_renderer_options_message(o), "/nonexistent/scene.blend");
    CHECK_CONTAINS(ba_renderer_options_error_json(o), "\"SceneError\"");
    opt_str(o, BA_OPT_SCENE, NULL); /* back to the demo scene */
    r = open_or_report(o);
    REQUIRE(r);
    const ba_frame *f = NULL;
    CHECK_RC(ba_renderer_submit(r, 0, "[1, 2]"), BA_EINVAL);
    CHECK_RC(ba_renderer_submit(r, 0, "not json"), BA_EINVAL);
    CHECK_INT(ba_renderer_queued(r), 0);
    CHECK_RC(ba_renderer_next(r, BA_NEXT_ORDERED, -2, &f), BA_EINVAL);
    CHECK_RC(ba_renderer_next(r, BA_NEXT_ORDERED, 0, NULL), BA_EINVAL);
    CHECK_RC(ba_renderer_next(r, BA_NEXT_ORDERED, 0, &f), BA_EDONE); /* nothing submitted */
    CHECK_INT(ba_renderer_worker_pid(r, 1), 0); /* out of range */
    CHECK_INT(ba_renderer_worker_pid(r, -1), 0);
    ba_renderer_release(r, NULL); /* NULL ok */
    ba_renderer_close(r);
    ba_renderer_close(NULL);
}

/* ---------------------------------------------------------------------- */
/*  recycling, stats, identity                                             */
/* ---------------------------------------------------------------------- */

/* Worker pid of each index the "plan" worker rendered, from its log ("end"
 * lines, the last attempt of each index); -1 where none. */
static void plan_pids(const char *plan, int *pids, int n)
{
    char path[2 * PATH_MAX];
    snprintf(path, sizeof path, "%s.log", plan);
    for (int i = 0; i < n; i++) pids[i] = -1;
    FILE *f = fopen(path, "r");
    if (!f) {
        T_REPORT("no plan log %s: %s", path, strerror(errno));
        return;
    }
    char line[512];
    while (fgets(line, sizeof line, f)) {
        json_error_t jerr;
        json_t *j = json_loads(line, 0, &jerr);
        const char *ev = json_string_value(json_object_get(j, "ev"));
        json_int_t i = json_integer_value(json_object_get(j, "index"));
        if (ev && strcmp(ev, "end") == 0 && i >= 0 && i < n)
            pids[i] = (int)json_integer_value(json_object_get(j, "pid"));
        json_decref(j);
    }
    fclose(f);
}

/* Remove the plan worker's files (the plan, its log, its request counters). */
static void plan_cleanup(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[2 * PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.') unlink(path);
    }
    if (d) closedir(d);
    rmdir(dir);
}

/* max_worker_frames = 3 on one worker with a 2-frame pipeline: the worker is
 * replaced after every 3rd frame it was given, between frames: each index comes
 * once, in order, rendered by the worker its position says (the in-flight
 * frame of a retiring worker is not lost), and the counts say so. */
static void test_recycle_by_frames(void)
{
    char dir[PATH_MAX + 16], plan[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/plan-XXXXXX", g_tmp);
    REQUIRE(mkdtemp(dir));
    snprintf(plan, sizeof plan, "%s/plan.json", dir);
    FILE *f = fopen(plan, "w");
    REQUIRE(f);
    fputs("{}", f);
    fclose(f);
    setenv("ROGUE_PLAN", plan, 1);
    ba_renderer_options *o = rogue_opts("plan", 1, 4);
    opt_int(o, BA_OPT_MAX_WORKER_FRAMES, 3);
    opt_int(o, BA_OPT_MAX_WORKER_MEMORY, 0);
    ba_renderer *r = open_or_report(o);
    if (r) {
        int first = ba_renderer_worker_pid(r, 0);
        submit_range(r, 0, 8);
        for (int64_t i = 0; i < 8; i++) expect_frame(r, i);
        expect_done(r);
        int pids[8];
        plan_pids(plan, pids, 8);
        CHECK_INT(pids[0], first);
        for (int i = 1; i < 8; i++) {
            if (i % 3 == 0 && pids[i] == pids[i - 1])
                T_REPORT("index %d: rendered by pid %d, as index %d: not replaced after 3 "
                         "frames", i, pids[i], i - 1);
            if (i % 3 != 0 && pids[i] != pids[i - 1])
                T_REPORT("index %d: rendered by pid %d, index %d by %d: replaced before 3 "
                         "frames", i, pids[i], i - 1, pids[i - 1]);
        }
        CHECK_INT(ba_renderer_stat(r, BA_STAT_RECYCLED), 2); /* the third life is not done */
        CHECK_INT(ba_renderer_stat(r, BA_STAT_RESTARTED), 0);
        CHECK_INT(ba_renderer_stat(r, BA_STAT_FRAMES), 8);
        CHECK_INT(ba_renderer_stat(r, BA_STAT_MEMORY_LIMIT), 0);
        CHECK_INT(ba_renderer_stat(r, 1000), -1);
        CHECK_INT(ba_renderer_stat(NULL, BA_STAT_FRAMES), -1);
        ba_renderer_close(r);
    }
    unsetenv("ROGUE_PLAN");
    plan_cleanup(dir);
}

/* The automatic memory limit: half the machine's memory shared by the workers. */
static void test_memory_limit_default(void)
{
    ba_renderer_options *o = rogue_opts("good", 2, 2);
    ba_renderer *r = open_or_report(o);
    REQUIRE(r);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    int64_t half = (int64_t)pages * page / 2 / 2;
    int64_t got = ba_renderer_stat(r, BA_STAT_MEMORY_LIMIT);
    /* a container's cgroup limit may be lower than the machine's memory */
    CHECK(got > 0 && got <= half);
    ba_renderer_close(r);
}

/* The identity: the scene's path, size and crc32 (of "123456789": 0xCBF43926,
 * the CRC-32 check value), the settings, hook and seed as set, the Blender
 * version the worker's init reply names ("rogue"); the demo scene is null. */
static void test_identity(void)
{
    char scene[PATH_MAX + 16];
    snprintf(scene, sizeof scene, "%s/scene.blend", g_tmp);
    FILE *f = fopen(scene, "w");
    REQUIRE(f);
    fputs("123456789", f);
    fclose(f);
    ba_renderer_options *o = rogue_opts("good", 1, 2);
    opt_str(o, BA_OPT_SCENE, scene);
    opt_str(o, BA_OPT_SETTINGS, "{\"samples\": 4, \"passes\": [\"rgba\"]}");
    opt_str(o, BA_OPT_SETUP, "{\"kind\": \"string\", \"spec\": \"hook.py:f\"}");
    opt_int(o, BA_OPT_SEED, 7);
    ba_renderer *r = open_or_report(o);
    char *text = (char *)1;
    CHECK_RC(ba_renderer_identity(NULL, &text), BA_EINVAL);
    CHECK(text == NULL);
    if (r) {
        CHECK_RC(ba_renderer_identity(r, NULL), BA_EINVAL);
        CHECK_RC(ba_renderer_identity(r, &text), BA_OK);
        json_error_t jerr;
        json_t *id = text ? json_loads(text, 0, &jerr) : NULL;
        REQUIRE(json_is_object(id));
        CHECK_INT(json_object_size(id), 5);
        json_t *sc = json_object_get(id, "scene");
        char real[PATH_MAX];
        CHECK(realpath(scene, real) != NULL);
        CHECK(json_string_value(json_object_get(sc, "path")) &&
              strcmp(json_string_value(json_object_get(sc, "path")), real) == 0);
        CHECK_INT(json_integer_value(json_object_get(sc, "size")), 9);
        CHECK_INT(json_integer_value(json_object_get(sc, "crc32")), 0xCBF43926LL);
        json_t *want = json_loads("{\"samples\": 4, \"passes\": [\"rgba\"]}", 0, &jerr);
        CHECK(json_equal(json_object_get(id, "settings"), want));
        json_decref(want);
        want = json_loads("{\"kind\": \"string\", \"spec\": \"hook.py:f\"}", 0, &jerr);
        CHECK(json_equal(json_object_get(id, "setup"), want));
        json_decref(want);
        CHECK_INT(json_integer_value(json_object_get(id, "seed")), 7);
        CHECK(json_string_value(json_object_get(id, "blender")) &&
              strcmp(json_string_value(json_object_get(id, "blender")), "rogue") == 0);
        json_decref(id);
        ba_free(text);
        /* another file content, another identity; a scene gone: BA_EIO, saying so */
        f = fopen(scene, "w");
        if (f) {
            fputs("123456780", f);
            fclose(f);
        }
        CHECK_RC(ba_renderer_identity(r, &text), BA_OK);
        CHECK(text && !strstr(text, "3421780262"));
        ba_free(text);
        unlink(scene);
        CHECK_RC(ba_renderer_identity(r, &text), BA_EIO);
        CHECK(text == NULL);
        CHECK_CONTAINS(ba_renderer_message(r), "scene.blend");
        ba_renderer_close(r);
    }
    unlink(scene);
    /* the demo scene, no settings, no hook */
    r = open_or_report(rogue_opts("good", 1, 2));
    REQUIRE(r);
    CHECK_RC(ba_renderer_identity(r, &text), BA_OK);
    CHECK(text && strcmp(text, "{\"blender\":\"rogue\",\"scene\":null,\"seed\":0,"
                              "\"settings\":{},\"setup\":null}") == 0);
    ba_free(text);
    ba_renderer_close(r);
}

/* The options: each int option's bounds as the header documents them (both
 * sides taken or refused), the kinds, unknown options, JSON options parsed
 * when set; a refused value leaves the option as it was. */
static void test_options(void)
{
    static const struct { int option; int64_t min, max; } want[] = {
        {BA_OPT_SEED, 0, INT64_MAX},        {BA_OPT_WORKERS, 1, 256},
        {BA_OPT_RING, 0, 1024},             {BA_OPT_RETRIES, 0, 2147483647},
        {BA_OPT_TIMEOUT_MS, 0, 2147483647}, {BA_OPT_VERBOSE, 0, 1},
        {BA_OPT_MAX_WORKER_FRAMES, 0, INT64_MAX}, {BA_OPT_MAX_WORKER_MEMORY, -1, INT64_MAX}};
    ba_renderer_options *o = NULL;
    CHECK_RC(ba_renderer_options_new(NULL), BA_EINVAL);
    CHECK_RC(ba_renderer_options_new(&o), BA_OK);
    REQUIRE(o);
    CHECK(strcmp(ba_renderer_options_message(o), "") == 0);
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        int64_t lo = 0, hi = 0;
        int opt = want[i].option;
        CHECK_RC(ba_renderer_option_bounds(opt, &lo, &hi), BA_OK);
        CHECK_INT(lo, want[i].min);
        CHECK_INT(hi, want[i].max);
        CHECK_RC(ba_renderer_options_set_int(o, opt, want[i].min), BA_OK);
        CHECK_RC(ba_renderer_options_set_int(o, opt, want[i].max), BA_OK);
        if (want[i].max < INT64_MAX)
            CHECK_RC(ba_renderer_options_set_int(o, opt, want[i].max + 1), BA_EINVAL);
        CHECK_RC(ba_renderer_options_set_int(o, opt, want[i].min - 1), BA_EINVAL);
        CHECK(ba_renderer_options_message(o)[0] != '\0');
        CHECK_RC(ba_renderer_options_set_str(o, opt, "1"), BA_EINVAL); /* an int option */
        CHECK_CONTAINS(ba_renderer_options_message(o), "ba_renderer_options_set_int");
    }
    CHECK_RC(ba_renderer_option_bounds(BA_OPT_WORKERS, NULL, NULL), BA_OK);
    int64_t untouched = 7;
    CHECK_RC(ba_renderer_option_bounds(BA_OPT_SETTINGS, &untouched, NULL), BA_EINVAL);
    CHECK_RC(ba_renderer_option_bounds(0, &untouched, NULL), BA_EINVAL);
    CHECK_RC(ba_renderer_option_bounds(1000, &untouched, NULL), BA_EINVAL);
    CHECK_INT(untouched, 7);
    /* the str options: an int is the other kind; unknown numbers are refused */
    const int strs[] = {BA_OPT_BLENDER, BA_OPT_PYTHON, BA_OPT_PACKAGE_DIR, BA_OPT_SCENE,
                        BA_OPT_SETTINGS, BA_OPT_SETUP};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) {
        CHECK_RC(ba_renderer_options_set_int(o, strs[i], 1), BA_EINVAL);
        CHECK_CONTAINS(ba_renderer_options_message(o), "ba_renderer_options_set_str");
        CHECK_RC(ba_renderer_options_set_str(o, strs[i], ""), BA_EINVAL);
        CHECK_RC(ba_renderer_options_set_str(o, strs[i], NULL), BA_OK);
    }
    CHECK_RC(ba_renderer_options_set_int(o, 0, 1), BA_EINVAL);
    CHECK_RC(ba_renderer_options_set_str(o, 1000, "x"), BA_EINVAL);
    CHECK_CONTAINS(ba_renderer_options_message(o), "no renderer option 1000");
    /* the recycling options' messages name them */
    CHECK_RC(ba_renderer_options_set_int(o, BA_OPT_MAX_WORKER_MEMORY, -2), BA_EINVAL);
    CHECK_CONTAINS(ba_renderer_options_message(o), "max_worker_memory must be -1..");
    CHECK_RC(ba_renderer_options_set_int(o, BA_OPT_MAX_WORKER_FRAMES, -1), BA_EINVAL);
    CHECK_CONTAINS(ba_renderer_options_message(o), "max_worker_frames must be 0..");
    CHECK_RC(ba_renderer_options_set_int(NULL, BA_OPT_SEED, 1), BA_EINVAL);
    CHECK_RC(ba_renderer_options_set_str(NULL, BA_OPT_SCENE, "x"), BA_EINVAL);
    CHECK_RC(ba_renderer_options_set_stop(NULL, NULL), BA_EINVAL);
    CHECK(strcmp(ba_renderer_options_message(NULL), "") == 0);
    CHECK(strcmp(ba_renderer_options_error_json(NULL), "{}") == 0);
    /* JSON options: an object, or refused with what was wrong */
    CHECK_RC(ba_renderer_options_set_str(o, BA_OPT_SETTINGS, "{\"samples\": 4}"), BA_OK);
    CHECK_RC(ba_renderer_options_set_str(o, BA_OPT_SETTINGS, "[\"rgba\"]"), BA_EINVAL);
    CHECK_CONTAINS(ba_renderer_options_message(o), "settings must be a JSON object");
    CHECK_RC(ba_renderer_options_set_str(o, BA_OPT_SETTINGS, "{\"samples\": "), BA_EINVAL);
    CHECK_RC(ba_renderer_options_set_str(o, BA_OPT_SETUP, "file.py:fn"), BA_EINVAL);
    CHECK_CONTAINS(ba_renderer_options_message(o), "setup hook's description");
    json_error_t jerr;
    json_t *j = json_loads(ba_renderer_options_error_json(o), 0, &jerr);
    CHECK(has_type(j, "BlendArrayError"));
    CHECK_CONTAINS(err_str(j, "message"), "setup hook's description");
    json_decref(j);
    ba_renderer_options_free(o);
    ba_renderer_options_free(NULL);

    /* refused values leave what was set: 2 workers and a 3-slot ring stay */
    o = rogue_opts("good", 2, 3);
    REQUIRE(o);
    CHECK_RC(ba_renderer_options_set_int(o, BA_OPT_WORKERS, 0), BA_EINVAL);
    CHECK_RC(ba_renderer_options_set_int(o, BA_OPT_WORKERS, 257), BA_EINVAL);
    CHECK_CONTAINS(ba_renderer_options_message(o), "workers");
    CHECK_RC(ba_renderer_options_set_int(o, BA_OPT_RING, 1025), BA_EINVAL);
    ba_renderer *r = open_or_report(o);
    REQUIRE(r);
    CHECK_INT(ba_renderer_workers(r), 2);
    submit_range(r, 0, 12); /* every slot held: 2 first frames + 2 x 3 ring slots */
    const ba_frame *held[12];
    int n = 0, err;
    while (n < 12 && (err = ba_renderer_next(r, BA_NEXT_ANY, 10000, &held[n])) == BA_OK) n++;
    CHECK_RC(err, BA_EFULL);
    CHECK(n >= 6 && n <= 8); /* each worker's first frame may hold its own memory */
    for (int i = 0; i < n; i++) ba_renderer_release(r, held[i]);
    ba_renderer_close(r);
}

/* ---------------------------------------------------------------------- */

/* The repository: $BLENDARRAY_REPO, else the current directory (the
 * Makefile runs tests from the repo root), else from __FILE__. */
static int find_repo(char *out)
{
    const char *tries[] = {getenv("BLENDARRAY_REPO"), ".", NULL};
    char from_file[PATH_MAX];
    snprintf(from_file, sizeof from_file, "%s", __FILE__);
    char *slash = strstr(from_file, "tests/c/test_renderer.c");
    if (slash) {
        *slash = '\0';
        if (!*from_file) strcpy(from_file, ".");
        tries[2] = from_file;
    }
    for (size_t i = 0; i < sizeof tries / sizeof *tries; i++) {
        char probe[PATH_MAX + 64];
        if (!tries[i] || !realpath(tries[i], out)) continue;
        snprintf(probe, sizeof probe, "%s/tests/python/rogue_worker.py", out);
        if (access(probe, X_OK) == 0) return 1;
    }
    return 0;
}

int main(void)
{
    /* A leak check may preload LeakSanitizer's runtime into this test (the mutation
     * check does): it is loaded now, and the Python workers must not inherit it. */
    if (unsetenv("LD_PRELOAD") != 0) perror("unsetenv");
    char repo[PATH_MAX];
    if (!find_repo(repo)) {
        fprintf(stderr, "test_renderer: cannot find the repository (run from its root or set "
                        "BLENDARRAY_REPO)\n");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    snprintf(g_pkg, sizeof g_pkg, "%s/python/blendarray", repo);
    snprintf(g_rogue, sizeof g_rogue, "%s/tests/python/rogue_worker.py", repo);

    /* The fake worker imports blendarray (from $ROGUE_PYTHONPATH) and loads
     * libblendarray.so with ctypes ($BLENDARRAY_LIB): meson test names this
     * build's package; a sanitizer build, whose library a plain python3
     * cannot load, gets the plain build's from make test-c-asan. */
    if (!getenv("BLENDARRAY_LIB") || !getenv("ROGUE_PYTHONPATH")) {
        fprintf(stderr, "test_renderer: set BLENDARRAY_LIB and ROGUE_PYTHONPATH to a built "
                        "blendarray package (meson test -C build/dev does)\n");
        printf("0 passed, 1 failed\n");
        return 1;
    }

    /* a private $TMPDIR: the worker folders are counted there */
    const char *base = getenv("TMPDIR");
    snprintf(g_tmp, sizeof g_tmp, "%s/ba-test-renderer.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(g_tmp)) {
        perror("mkdtemp");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    setenv("TMPDIR", g_tmp, 1);
    snprintf(g_marker, sizeof g_marker, "%s/died-once", g_tmp);
    setenv("ROGUE_MARKER", g_marker, 1);

    RUN_CLEAN(test_good_ordered_then_any);
    RUN_CLEAN(test_back_pressure);
    RUN_CLEAN(test_close_with_frames_held);
    RUN_CLEAN(test_version_mismatch);
    RUN_CLEAN(test_malformed_reply);
    RUN_CLEAN(test_array_outside_its_memory);
    RUN_CLEAN(test_bad_reply_with_another_frame_in_flight);
    RUN_CLEAN(test_hook_error);
    RUN_CLEAN(test_worker_dies_and_is_restarted);
    RUN_CLEAN(test_worker_dies_without_retries);
    RUN_CLEAN(test_next_timeout);
    RUN_CLEAN(test_frame_timeout);
    RUN_CLEAN(test_cancel);
    RUN_CLEAN(test_cancel_gives_the_spare_back);
    RUN_CLEAN(test_user_params);
    RUN_CLEAN(test_stop_flag);
    RUN_CLEAN(test_sweeps_stale_folders);
    RUN_CLEAN(test_run);
    RUN_CLEAN(test_bad_arguments);
    RUN_CLEAN(test_options);
    RUN_CLEAN(test_recycle_by_frames);
    RUN_CLEAN(test_memory_limit_default);
    RUN_CLEAN(test_identity);

    unlink(g_marker);
    if (rmdir(g_tmp) != 0) {
        fprintf(stderr, "test_renderer: %s is not empty: %s\n", g_tmp, strerror(errno));
        t_failed++;
    }
    return t_summary();
}
