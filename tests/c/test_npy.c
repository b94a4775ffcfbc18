/* test_npy.c — NPY headers byte for byte as numpy 1.26 writes them, and
 * atomic saves: round trip, no clobbering, nothing left behind on failure. */
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "blendarray.h"
#include "check.h"
#include "fixtures.h"

static char *g_dir;

/* numpy's header: the dict, spaces, '\n', total a multiple of 64 */
static void check_header(int dtype, int ndim, const uint64_t *shape, const char *dict,
                         size_t total)
{
    char buf[256];
    size_t len = 0;
    CHECK_RC(ba_npy_header(buf, sizeof buf, &len, dtype, ndim, shape), BA_OK);
    CHECK_INT(len, total);
    if (len != total) return;
    char want[256];
    memcpy(want, "\x93NUMPY\x01\x00", 8);
    want[8] = (char)((total - 10) & 0xff);
    want[9] = (char)((total - 10) >> 8);
    size_t n = strlen(dict);
    memcpy(want + 10, dict, n);
    memset(want + 10 + n, ' ', total - 11 - n);
    want[total - 1] = '\n';
    if (memcmp(buf, want, total) != 0) T_REPORT("header for %s differs: %.*s", dict, (int)len, buf);
}

static void test_header_bytes(void)
{
    /* exactly numpy.lib.format.write_array_header_1_0's output */
    const char v22[] = "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    char buf[256];
    size_t len = 0;
    uint64_t s23[] = {2, 3};
    CHECK_RC(ba_npy_header(buf, sizeof buf, &len, BA_DTYPE_F32, 2, s23), BA_OK);
    CHECK_INT(len, 128);
    CHECK(memcmp(buf, v22, sizeof v22 - 1) == 0);
    for (size_t i = sizeof v22 - 1; i < 127; ++i) CHECK_INT(buf[i], ' ');
    CHECK_INT(buf[127], '\n');

    check_header(BA_DTYPE_F32, 2, s23, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 128);
    uint64_t s5[] = {5};
    check_header(BA_DTYPE_U8, 1, s5, "{'descr': '|u1', 'fortran_order': False, 'shape': (5,), }", 128);
    check_header(BA_DTYPE_F16, 0, NULL, "{'descr': '<f2', 'fortran_order': False, 'shape': (), }", 128);
    uint64_t s3[] = {480, 640, 4};
    check_header(BA_DTYPE_F32, 3, s3,
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (480, 640, 4), }", 128);
    uint64_t s0[] = {0};
    check_header(BA_DTYPE_I32, 1, s0, "{'descr': '<i4', 'fortran_order': False, 'shape': (0,), }", 128);
    uint64_t sbig[] = {10000000000000000000ull};
    check_header(BA_DTYPE_U16, 1, sbig,
                 "{'descr': '<u2', 'fortran_order': False, 'shape': (10000000000000000000,), }", 128);
    /* numpy reserves 21 - len(str(shape[0])) spaces for growth: this one
     * would fit in 128 bytes without them, and numpy writes 192 */
    uint64_t s6[] = {7, 1000000, 1000000, 1000000, 1000000, 1000};
    check_header(BA_DTYPE_F32, 6, s6,
                 "{'descr': '<f4', 'fortran_order': False, "
                 "'shape': (7, 1000000, 1000000, 1000000, 1000000, 1000), }",
                 192);
    /* the largest header: 8 dims of 20 digits fits the documented 256 */
    uint64_t s8[8];
    for (int i = 0; i < 8; ++i) s8[i] = UINT64_MAX;
    CHECK_RC(ba_npy_header(buf, 256, &len, BA_DTYPE_F32, 8, s8), BA_OK);
    CHECK_INT(len, 256);
    CHECK_INT(buf[255], '\n');
    CHECK_RC(ba_npy_header(buf, 255, &len, BA_DTYPE_F32, 8, s8), BA_EBUFSIZE);

    CHECK_RC(ba_npy_header(buf, 127, &len, BA_DTYPE_F32, 2, s23), BA_EBUFSIZE);
    CHECK_RC(ba_npy_header(buf, sizeof buf, &len, 99, 2, s23), BA_EINVAL);
    CHECK_RC(ba_npy_header(buf, sizeof buf, &len, BA_DTYPE_F32, 9, s8), BA_EINVAL);
    CHECK_RC(ba_npy_header(buf, sizeof buf, &len, BA_DTYPE_F32, -1, s8), BA_EINVAL);
    CHECK_RC(ba_npy_header(buf, sizeof buf, &len, BA_DTYPE_F32, 2, NULL), BA_EINVAL);
    CHECK_INT(ba_dtype_size(BA_DTYPE_F32), 4);
    CHECK_INT(ba_dtype_size(BA_DTYPE_F16), 2);
    CHECK_INT(ba_dtype_size(BA_DTYPE_U8), 1);
    CHECK_INT(ba_dtype_size(BA_DTYPE_I32), 4);
    CHECK_INT(ba_dtype_size(BA_DTYPE_U16), 2);
    CHECK_INT(ba_dtype_size(BA_DTYPE_U32), 4);
    CHECK_INT(ba_dtype_size(6), 0);
    CHECK_INT(ba_dtype_size(-1), 0);
}

static void test_save_roundtrip(void)
{
    char *path = fx_join(g_dir, "a.npy");
    float data[6] = {1.5f, -2.0f, 3.25f, 0.0f, 1e30f, -0.0f};
    uint64_t shape[] = {2, 3};
    mode_t old = umask(022);
    CHECK_RC(ba_npy_save(path, BA_DTYPE_F32, 2, shape, data, sizeof data, 0), BA_OK);
    umask(old);
    size_t size = 0;
    uint8_t *file = fx_read_file(path, &size);
    REQUIRE(file);
    CHECK_INT(size, 128 + sizeof data);
    char header[256];
    size_t hlen;
    ba_npy_header(header, sizeof header, &hlen, BA_DTYPE_F32, 2, shape);
    CHECK(memcmp(file, header, 128) == 0);
    CHECK(memcmp(file + 128, data, sizeof data) == 0);
    free(file);
    struct stat st;
    CHECK_INT(stat(path, &st), 0);
    CHECK_INT(st.st_mode & 0777, 0644); /* 0666 less the umask, as np.save */
    CHECK_INT(fx_count_entries(g_dir), 1); /* no temporary left */

    /* 0-d and empty arrays */
    char *p0 = fx_join(g_dir, "zero_d.npy");
    uint16_t h = 0x3C00;
    CHECK_RC(ba_npy_save(p0, BA_DTYPE_F16, 0, NULL, &h, 2, 0), BA_OK);
    file = fx_read_file(p0, &size);
    CHECK(file && size == 130 && file[128] == 0x00 && file[129] == 0x3C);
    free(file);
    uint64_t empty[] = {0, 4};
    CHECK_RC(ba_npy_save(p0, BA_DTYPE_U8, 2, empty, NULL, 0, 1), BA_OK);
    file = fx_read_file(p0, &size);
    CHECK(file && size == 128 && memcmp(file + 10, "{'descr': '|u1', 'fortran_order': False, 'shape': (0, 4), }", 59) == 0);
    free(file);
    unlink(p0);
    free(p0);

    /* a relative path (no directory part) */
    char cwd[4096];
    REQUIRE(getcwd(cwd, sizeof cwd));
    REQUIRE(chdir(g_dir) == 0);
    uint8_t bytes[3] = {1, 2, 3};
    uint64_t s3[] = {3};
    CHECK_RC(ba_npy_save("rel.npy", BA_DTYPE_U8, 1, s3, bytes, 3, 0), BA_OK);
    CHECK_INT(access("rel.npy", F_OK), 0);
    unlink("rel.npy");
    REQUIRE(chdir(cwd) == 0);

    unlink(path);
    free(path);
}

static void test_no_clobber(void)
{
    char *path = fx_join(g_dir, "keep.npy");
    fx_write_file(path, "original", 8);
    int32_t data[4] = {1, 2, 3, 4};
    uint64_t shape[] = {4};
    CHECK_RC(ba_npy_save(path, BA_DTYPE_I32, 1, shape, data, sizeof data, 0), BA_EEXIST);
    size_t size = 0;
    uint8_t *file = fx_read_file(path, &size);
    CHECK(file && size == 8 && memcmp(file, "original", 8) == 0);
    free(file);
    CHECK_INT(fx_count_entries(g_dir), 1);

    /* a dangling symlink counts as existing too */
    char *link_path = fx_join(g_dir, "dangling.npy");
    CHECK_INT(symlink("/nonexistent/target", link_path), 0);
    CHECK_RC(ba_npy_save(link_path, BA_DTYPE_I32, 1, shape, data, sizeof data, 0), BA_EEXIST);
    unlink(link_path);
    free(link_path);

    /* overwrite = 1 replaces it */
    CHECK_RC(ba_npy_save(path, BA_DTYPE_I32, 1, shape, data, sizeof data, 1), BA_OK);
    file = fx_read_file(path, &size);
    CHECK(file && size == 128 + sizeof data && memcmp(file + 128, data, sizeof data) == 0);
    free(file);
    CHECK_INT(fx_count_entries(g_dir), 1);
    unlink(path);
    free(path);
}

static void test_bad_arguments(void)
{
    char *path = fx_join(g_dir, "bad.npy");
    float data[6] = {0};
    uint64_t shape[] = {2, 3};
    CHECK_RC(ba_npy_save(path, BA_DTYPE_F32, 2, shape, data, sizeof data - 4, 0), BA_EINVAL);
    CHECK_RC(ba_npy_save(path, BA_DTYPE_F16, 2, shape, data, sizeof data, 0), BA_EINVAL);
    CHECK_RC(ba_npy_save(path, 42, 2, shape, data, sizeof data, 0), BA_EINVAL);
    CHECK_RC(ba_npy_save(path, BA_DTYPE_F32, 2, shape, NULL, sizeof data, 0), BA_EINVAL);
    CHECK_RC(ba_npy_save(NULL, BA_DTYPE_F32, 2, shape, data, sizeof data, 0), BA_EINVAL);
    CHECK_RC(ba_npy_save("", BA_DTYPE_F32, 2, shape, data, sizeof data, 0), BA_EINVAL);
    uint64_t huge[] = {UINT64_MAX / 2, 4};
    CHECK_RC(ba_npy_save(path, BA_DTYPE_F32, 2, huge, data, sizeof data, 0), BA_EOVERFLOW);
    CHECK_INT(fx_count_entries(g_dir), 0);
    free(path);
}

static void test_unwritable(void)
{
    float data[4] = {1, 2, 3, 4};
    uint64_t shape[] = {4};
    /* a directory that does not exist */
    char *missing = fx_join(g_dir, "no/such/dir/x.npy");
    errno = 0;
    CHECK_RC(ba_npy_save(missing, BA_DTYPE_F32, 1, shape, data, sizeof data, 1), BA_EIO);
    CHECK_INT(errno, ENOENT);
    free(missing);

    /* a read-only directory (permissions do not stop root) */
    char *sub = fx_join(g_dir, "ro");
    CHECK_INT(mkdir(sub, 0755), 0);
    char *path = fx_join(sub, "x.npy");
    if (geteuid() != 0) {
        chmod(sub, 0555);
        CHECK_RC(ba_npy_save(path, BA_DTYPE_F32, 1, shape, data, sizeof data, 1), BA_EIO);
        chmod(sub, 0755);
        CHECK_INT(fx_count_entries(sub), 0);
    }

    /* a write that fails half-way (file size limit): in a child process */
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {1000, 1000};
        setrlimit(RLIMIT_FSIZE, &rl);
        float big[1024] = {0};
        uint64_t bshape[] = {1024};
        int rc = ba_npy_save(path, BA_DTYPE_F32, 1, bshape, big, sizeof big, 1);
        _exit(rc == BA_EIO && errno == EFBIG ? 0 : 1);
    }
    int status = 0;
    CHECK_INT(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_INT(fx_count_entries(sub), 0); /* the temporary is gone too */

    /* the same with overwrite = 0 and an existing file: it survives */
    fx_write_file(path, "old", 3);
    pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {1000, 1000};
        setrlimit(RLIMIT_FSIZE, &rl);
        float big[1024] = {0};
        uint64_t bshape[] = {1024};
        int rc = ba_npy_save(path, BA_DTYPE_F32, 1, bshape, big, sizeof big, 1);
        _exit(rc == BA_EIO ? 0 : 1);
    }
    CHECK_INT(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_INT(fx_count_entries(sub), 1);
    size_t size = 0;
    uint8_t *file = fx_read_file(path, &size);
    CHECK(file && size == 3 && memcmp(file, "old", 3) == 0);
    free(file);

    /* the target is a directory: rename fails, nothing is left */
    char *dirtarget = fx_join(sub, "d.npy");
    CHECK_INT(mkdir(dirtarget, 0755), 0);
    char *x = fx_join(dirtarget, "x"); /* non-empty: rename() cannot replace it */
    CHECK_INT(mkdir(x, 0755), 0);
    CHECK_RC(ba_npy_save(dirtarget, BA_DTYPE_F32, 1, shape, data, sizeof data, 1), BA_EIO);
    CHECK_INT(fx_count_entries(sub), 2); /* x.npy and d.npy only */
    rmdir(x);
    free(x);
    rmdir(dirtarget);
    free(dirtarget);

    unlink(path);
    free(path);
    rmdir(sub);
    free(sub);
}

int main(void)
{
    g_dir = fx_tempdir();
    if (!g_dir) {
        perror("mkdtemp");
        return 2;
    }
    RUN(test_header_bytes);
    RUN(test_save_roundtrip);
    RUN(test_no_clobber);
    RUN(test_bad_arguments);
    RUN(test_unwritable);
    fx_rmdir(g_dir);
    free(g_dir);
    return t_summary();
}
