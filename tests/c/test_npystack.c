/* test_npystack.c — stacked NPY files: frames appended, header fixed up in
 * place at finish, atomic publication, nothing left behind on failure. */
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "blendarray.h"
#include "check.h"
#include "fixtures.h"

static char *g_dir;

/* parse the file at path; returns its bytes (caller frees) */
static uint8_t *load(const char *path, size_t *size, ba_npy_info *info)
{
    uint8_t *buf = fx_read_file(path, size);
    if (!buf) return NULL;
    if (ba_npy_parse_header(buf, *size, info) != BA_OK) {
        free(buf);
        return NULL;
    }
    return buf;
}

static void test_roundtrip(void)
{
    char *path = fx_join(g_dir, "stack.npy");
    uint64_t fshape[] = {3, 2};
    ba_npy_stack *st = NULL;
    CHECK_RC(ba_npy_stack_open(&st, path, BA_DTYPE_F32, 2, fshape, 0), BA_OK);
    REQUIRE(st);
    CHECK_INT(fx_count_entries(g_dir), 1); /* the temporary only */
    struct stat sb;
    CHECK(lstat(path, &sb) != 0);
    for (int f = 0; f < 5; ++f) {
        float frame[6];
        for (int i = 0; i < 6; ++i) frame[i] = (float)(f * 10 + i);
        CHECK_RC(ba_npy_stack_append(st, frame, sizeof frame), BA_OK);
    }
    CHECK_RC(ba_npy_stack_append(st, fshape, 5), BA_EINVAL); /* wrong size */
    CHECK_RC(ba_npy_stack_finish(st), BA_OK);
    CHECK_INT(fx_count_entries(g_dir), 1);

    size_t size;
    ba_npy_info info;
    uint8_t *buf = load(path, &size, &info);
    REQUIRE(buf);
    CHECK_INT(info.dtype, BA_DTYPE_F32);
    CHECK_INT(info.ndim, 3);
    CHECK_INT(info.shape[0], 5);
    CHECK_INT(info.shape[1], 3);
    CHECK_INT(info.shape[2], 2);
    CHECK_INT(info.data_offset, 128);
    CHECK_INT(size, 128 + 5 * 6 * 4);
    /* the header is exactly what ba_npy_header writes for the final shape */
    char want[256];
    size_t wlen;
    uint64_t full[] = {5, 3, 2};
    CHECK_RC(ba_npy_header(want, sizeof want, &wlen, BA_DTYPE_F32, 3, full), BA_OK);
    CHECK_INT(wlen, 128);
    CHECK(memcmp(buf, want, wlen) == 0);
    const float *d = (const float *)(buf + 128);
    CHECK(d[0] == 0.0f && d[5] == 5.0f && d[6] == 10.0f && d[29] == 45.0f);
    free(buf);

    /* no clobbering: open refuses, and so does finish if it appeared since */
    st = NULL;
    CHECK_RC(ba_npy_stack_open(&st, path, BA_DTYPE_F32, 2, fshape, 0), BA_EEXIST);
    CHECK(st == NULL);
    char *late = fx_join(g_dir, "late.npy");
    CHECK_RC(ba_npy_stack_open(&st, late, BA_DTYPE_U8, 0, NULL, 0), BA_OK);
    REQUIRE(st);
    uint8_t one = 7;
    CHECK_RC(ba_npy_stack_append(st, &one, 1), BA_OK);
    CHECK_INT(fx_write_file(late, "x", 1), 0);
    CHECK_RC(ba_npy_stack_finish(st), BA_EEXIST);
    CHECK_INT(fx_count_entries(g_dir), 2);
    buf = fx_read_file(late, &size);
    CHECK(buf && size == 1 && buf[0] == 'x');
    free(buf);

    /* overwrite replaces */
    CHECK_RC(ba_npy_stack_open(&st, late, BA_DTYPE_U8, 0, NULL, 1), BA_OK);
    REQUIRE(st);
    CHECK_RC(ba_npy_stack_append(st, &one, 1), BA_OK);
    CHECK_RC(ba_npy_stack_finish(st), BA_OK);
    buf = load(late, &size, &info);
    CHECK(buf && info.ndim == 1 && info.shape[0] == 1 && size == 129 && buf[128] == 7);
    free(buf);
    CHECK_INT(fx_count_entries(g_dir), 2);
    unlink(late);
    unlink(path);
    free(late);
    free(path);
}

static void test_empty_and_sizes(void)
{
    char *path = fx_join(g_dir, "empty.npy");
    uint64_t fshape[] = {480, 640, 4};
    ba_npy_stack *st = NULL;
    CHECK_RC(ba_npy_stack_open(&st, path, BA_DTYPE_F16, 3, fshape, 0), BA_OK);
    REQUIRE(st);
    CHECK_RC(ba_npy_stack_finish(st), BA_OK);
    size_t size;
    ba_npy_info info;
    uint8_t *buf = load(path, &size, &info);
    REQUIRE(buf);
    CHECK_INT(info.ndim, 4);
    CHECK_INT(info.shape[0], 0);
    CHECK_INT(info.shape[3], 4);
    CHECK_INT(info.nbytes, 0);
    CHECK_INT(size, 128);
    free(buf);
    unlink(path);

    /* 8 dims, the largest the header holds: with every product within
     * int64 (as numpy requires) the header still fits in 128 bytes */
    uint64_t wide[] = {1000000, 1000000, 100, 1000, 1, 0, 7};
    CHECK_RC(ba_npy_stack_open(&st, path, BA_DTYPE_U8, 7, wide, 0), BA_OK);
    REQUIRE(st);
    CHECK_RC(ba_npy_stack_append(st, "", 0), BA_OK);
    CHECK_RC(ba_npy_stack_append(st, NULL, 0), BA_OK);
    for (int i = 0; i < 11; ++i) CHECK_RC(ba_npy_stack_append(st, NULL, 0), BA_OK);
    CHECK_RC(ba_npy_stack_append(st, NULL, 0), BA_EOVERFLOW); /* 14 * 7e17 > INT64_MAX */
    CHECK_RC(ba_npy_stack_finish(st), BA_OK);
    buf = load(path, &size, &info);
    REQUIRE(buf);
    CHECK_INT(info.shape[0], 13);
    CHECK_INT(info.ndim, 8);
    CHECK_INT(size, 128);
    CHECK_INT(size, info.data_offset);
    free(buf);
    unlink(path);

    /* arguments */
    CHECK_RC(ba_npy_stack_open(&st, path, 99, 0, NULL, 0), BA_EINVAL);
    CHECK_RC(ba_npy_stack_open(&st, path, BA_DTYPE_U8, 8, wide, 0), BA_EINVAL);
    CHECK_RC(ba_npy_stack_open(&st, path, BA_DTYPE_U8, 2, NULL, 0), BA_EINVAL);
    CHECK_RC(ba_npy_stack_open(NULL, path, BA_DTYPE_U8, 0, NULL, 0), BA_EINVAL);
    CHECK_RC(ba_npy_stack_open(&st, "", BA_DTYPE_U8, 0, NULL, 0), BA_EINVAL);
    uint64_t huge[] = {UINT64_C(1) << 62, 4};
    CHECK_RC(ba_npy_stack_open(&st, path, BA_DTYPE_F32, 2, huge, 0), BA_EOVERFLOW);
    uint64_t huge0[] = {UINT64_C(1) << 62, 0, 4};
    CHECK_RC(ba_npy_stack_open(&st, path, BA_DTYPE_F32, 3, huge0, 0), BA_EOVERFLOW);
    CHECK(st == NULL);
    CHECK_RC(ba_npy_stack_append(NULL, "", 0), BA_EINVAL);
    CHECK_RC(ba_npy_stack_finish(NULL), BA_EINVAL);
    ba_npy_stack_abort(NULL);
    CHECK_INT(fx_count_entries(g_dir), 0);
    free(path);
}

static void test_abort_and_mode(void)
{
    char *path = fx_join(g_dir, "aborted.npy");
    ba_npy_stack *st = NULL;
    uint64_t fshape[] = {2};
    mode_t old = umask(027);
    CHECK_RC(ba_npy_stack_open(&st, path, BA_DTYPE_I32, 1, fshape, 0), BA_OK);
    REQUIRE(st);
    int32_t frame[2] = {1, -1};
    CHECK_RC(ba_npy_stack_append(st, frame, sizeof frame), BA_OK);
    ba_npy_stack_abort(st);
    CHECK_INT(fx_count_entries(g_dir), 0);

    CHECK_RC(ba_npy_stack_open(&st, path, BA_DTYPE_I32, 1, fshape, 0), BA_OK);
    REQUIRE(st);
    CHECK_RC(ba_npy_stack_finish(st), BA_OK);
    struct stat sb;
    CHECK_INT(stat(path, &sb), 0);
    CHECK_INT(sb.st_mode & 0777, 0640);
    umask(old);
    unlink(path);
    free(path);

    /* a directory that does not exist */
    char *missing = fx_join(g_dir, "no/such/x.npy");
    CHECK_RC(ba_npy_stack_open(&st, missing, BA_DTYPE_I32, 1, fshape, 1), BA_EIO);
    free(missing);
}

static void test_write_failure(void)
{
    /* appends that hit the file size limit: in a child process */
    char *path = fx_join(g_dir, "limited.npy");
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {4096, 4096};
        setrlimit(RLIMIT_FSIZE, &rl);
        uint64_t fshape[] = {256};
        uint8_t frame[256] = {0};
        ba_npy_stack *st = NULL;
        if (ba_npy_stack_open(&st, path, BA_DTYPE_U8, 1, fshape, 0) != BA_OK) _exit(2);
        int rc = BA_OK;
        for (int i = 0; i < 64 && rc == BA_OK; ++i) rc = ba_npy_stack_append(st, frame, sizeof frame);
        if (rc != BA_EIO) _exit(3);
        if (ba_npy_stack_append(st, frame, sizeof frame) != BA_ESTATE) _exit(4);
        if (ba_npy_stack_finish(st) != BA_ESTATE) _exit(5);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK_INT(WEXITSTATUS(status), 0);
    CHECK_INT(fx_count_entries(g_dir), 0);
    free(path);
}

int main(void)
{
    g_dir = fx_tempdir();
    if (!g_dir) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_roundtrip);
    RUN(test_empty_and_sizes);
    RUN(test_abort_and_mode);
    RUN(test_write_failure);
    fx_rmdir(g_dir);
    free(g_dir);
    return t_summary();
}
