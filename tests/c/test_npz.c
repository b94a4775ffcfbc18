/* test_npz.c — .npz writing and reading with libzip: round trips (stored
 * and deflated, members from memory and from .npy files), archives written
 * by numpy.savez / numpy.savez_compressed, members that are not arrays
 * (meta.json), corrupt archives, and atomic publication (also of any file:
 * ba_file_*). (The pytest tests/cli/test_inspect_preview.py checks that
 * np.load reads what this writer writes.) */
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "blendarray.h"
#include "check.h"
#include "fixtures.h"

static char *g_dir;

/* numpy 1.26: np.savez(f, a=np.arange(6, dtype='<f4').reshape(2, 3),
 * b=np.array([1, 2, 3, 65535], '<u2'), c=np.array(7, '<i4')), and the same
 * with np.savez_compressed */
static const unsigned char fx_savez[760] = {
    0x50, 0x4b, 0x03, 0x04, 0x2d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x21, 0x00, 0x4f, 0xe9,
    0x00, 0x2a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x05, 0x00, 0x14, 0x00, 0x61, 0x2e,
    0x6e, 0x70, 0x79, 0x01, 0x00, 0x10, 0x00, 0x98, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x98,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 0x01, 0x00, 0x76,
    0x00, 0x7b, 0x27, 0x64, 0x65, 0x73, 0x63, 0x72, 0x27, 0x3a, 0x20, 0x27, 0x3c, 0x66, 0x34, 0x27,
    0x2c, 0x20, 0x27, 0x66, 0x6f, 0x72, 0x74, 0x72, 0x61, 0x6e, 0x5f, 0x6f, 0x72, 0x64, 0x65, 0x72,
    0x27, 0x3a, 0x20, 0x46, 0x61, 0x6c, 0x73, 0x65, 0x2c, 0x20, 0x27, 0x73, 0x68, 0x61, 0x70, 0x65,
    0x27, 0x3a, 0x20, 0x28, 0x32, 0x2c, 0x20, 0x33, 0x29, 0x2c, 0x20, 0x7d, 0x20, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x3f, 0x00,
    0x00, 0x00, 0x40, 0x00, 0x00, 0x40, 0x40, 0x00, 0x00, 0x80, 0x40, 0x00, 0x00, 0xa0, 0x40, 0x50,
    0x4b, 0x03, 0x04, 0x2d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x21, 0x00, 0x1c, 0x17, 0xbf,
    0xe9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x05, 0x00, 0x14, 0x00, 0x62, 0x2e, 0x6e,
    0x70, 0x79, 0x01, 0x00, 0x10, 0x00, 0x88, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x88, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 0x01, 0x00, 0x76, 0x00,
    0x7b, 0x27, 0x64, 0x65, 0x73, 0x63, 0x72, 0x27, 0x3a, 0x20, 0x27, 0x3c, 0x75, 0x32, 0x27, 0x2c,
    0x20, 0x27, 0x66, 0x6f, 0x72, 0x74, 0x72, 0x61, 0x6e, 0x5f, 0x6f, 0x72, 0x64, 0x65, 0x72, 0x27,
    0x3a, 0x20, 0x46, 0x61, 0x6c, 0x73, 0x65, 0x2c, 0x20, 0x27, 0x73, 0x68, 0x61, 0x70, 0x65, 0x27,
    0x3a, 0x20, 0x28, 0x34, 0x2c, 0x29, 0x2c, 0x20, 0x7d, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x20, 0x20, 0x20, 0x0a, 0x01, 0x00, 0x02, 0x00, 0x03, 0x00, 0xff, 0xff, 0x50, 0x4b,
    0x03, 0x04, 0x2d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x21, 0x00, 0x0c, 0x2d, 0xb1, 0xb4,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x05, 0x00, 0x14, 0x00, 0x63, 0x2e, 0x6e, 0x70,
    0x79, 0x01, 0x00, 0x10, 0x00, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x84, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 0x01, 0x00, 0x76, 0x00, 0x7b,
    0x27, 0x64, 0x65, 0x73, 0x63, 0x72, 0x27, 0x3a, 0x20, 0x27, 0x3c, 0x69, 0x34, 0x27, 0x2c, 0x20,
    0x27, 0x66, 0x6f, 0x72, 0x74, 0x72, 0x61, 0x6e, 0x5f, 0x6f, 0x72, 0x64, 0x65, 0x72, 0x27, 0x3a,
    0x20, 0x46, 0x61, 0x6c, 0x73, 0x65, 0x2c, 0x20, 0x27, 0x73, 0x68, 0x61, 0x70, 0x65, 0x27, 0x3a,
    0x20, 0x28, 0x29, 0x2c, 0x20, 0x7d, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x20, 0x20, 0x0a, 0x07, 0x00, 0x00, 0x00, 0x50, 0x4b, 0x01, 0x02, 0x2d, 0x03, 0x2d,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x21, 0x00, 0x4f, 0xe9, 0x00, 0x2a, 0x98, 0x00, 0x00,
    0x00, 0x98, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x80, 0x01, 0x00, 0x00, 0x00, 0x00, 0x61, 0x2e, 0x6e, 0x70, 0x79, 0x50, 0x4b, 0x01, 0x02,
    0x2d, 0x03, 0x2d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x21, 0x00, 0x1c, 0x17, 0xbf, 0xe9,
    0x88, 0x00, 0x00, 0x00, 0x88, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x80, 0x01, 0xcf, 0x00, 0x00, 0x00, 0x62, 0x2e, 0x6e, 0x70, 0x79, 0x50,
    0x4b, 0x01, 0x02, 0x2d, 0x03, 0x2d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x21, 0x00, 0x0c,
    0x2d, 0xb1, 0xb4, 0x84, 0x00, 0x00, 0x00, 0x84, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x01, 0x8e, 0x01, 0x00, 0x00, 0x63, 0x2e, 0x6e,
    0x70, 0x79, 0x50, 0x4b, 0x05, 0x06, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x03, 0x00, 0x99, 0x00,
    0x00, 0x00, 0x49, 0x02, 0x00, 0x00, 0x00, 0x00,
};
static const unsigned char fx_savez_compressed[571] = {
    0x50, 0x4b, 0x03, 0x04, 0x2d, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x21, 0x00, 0x4f, 0xe9,
    0x00, 0x2a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x05, 0x00, 0x14, 0x00, 0x61, 0x2e,
    0x6e, 0x70, 0x79, 0x01, 0x00, 0x10, 0x00, 0x98, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x55,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x9b, 0xec, 0x17, 0xea, 0x1b, 0x10, 0xc9, 0xc8, 0x50,
    0xc6, 0x50, 0xad, 0x9e, 0x92, 0x5a, 0x9c, 0x5c, 0xa4, 0x6e, 0xa5, 0xa0, 0x6e, 0x93, 0x66, 0xa2,
    0xae, 0xa3, 0xa0, 0x9e, 0x96, 0x5f, 0x54, 0x52, 0x94, 0x98, 0x17, 0x9f, 0x5f, 0x94, 0x92, 0x0a,
    0x12, 0x77, 0x4b, 0xcc, 0x29, 0x4e, 0x05, 0x8a, 0x17, 0x67, 0x24, 0x16, 0xa4, 0x02, 0xf9, 0x1a,
    0x46, 0x3a, 0x0a, 0xc6, 0x9a, 0x3a, 0x0a, 0xb5, 0x0a, 0x64, 0x03, 0x2e, 0x06, 0x30, 0x68, 0xb0,
    0x07, 0x12, 0x0e, 0x40, 0x04, 0xc4, 0x0d, 0x40, 0xbc, 0xc0, 0x01, 0x00, 0x50, 0x4b, 0x03, 0x04,
    0x2d, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x21, 0x00, 0x1c, 0x17, 0xbf, 0xe9, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x05, 0x00, 0x14, 0x00, 0x62, 0x2e, 0x6e, 0x70, 0x79, 0x01,
    0x00, 0x10, 0x00, 0x88, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4c, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x9b, 0xec, 0x17, 0xea, 0x1b, 0x10, 0xc9, 0xc8, 0x50, 0xc6, 0x50, 0xad, 0x9e,
    0x92, 0x5a, 0x9c, 0x5c, 0xa4, 0x6e, 0xa5, 0xa0, 0x6e, 0x53, 0x6a, 0xa4, 0xae, 0xa3, 0xa0, 0x9e,
    0x96, 0x5f, 0x54, 0x52, 0x94, 0x98, 0x17, 0x9f, 0x5f, 0x94, 0x92, 0x0a, 0x12, 0x77, 0x4b, 0xcc,
    0x29, 0x4e, 0x05, 0x8a, 0x17, 0x67, 0x24, 0x16, 0xa4, 0x02, 0xf9, 0x1a, 0x26, 0x3a, 0x9a, 0x3a,
    0x0a, 0xb5, 0x0a, 0x14, 0x00, 0x2e, 0x46, 0x06, 0x26, 0x06, 0x66, 0x86, 0xff, 0xff, 0x01, 0x50,
    0x4b, 0x03, 0x04, 0x2d, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x21, 0x00, 0x0c, 0x2d, 0xb1,
    0xb4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x05, 0x00, 0x14, 0x00, 0x63, 0x2e, 0x6e,
    0x70, 0x79, 0x01, 0x00, 0x10, 0x00, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x9b, 0xec, 0x17, 0xea, 0x1b, 0x10, 0xc9, 0xc8, 0x50, 0xc6,
    0x50, 0xad, 0x9e, 0x92, 0x5a, 0x9c, 0x5c, 0xa4, 0x6e, 0xa5, 0xa0, 0x6e, 0x93, 0x69, 0xa2, 0xae,
    0xa3, 0xa0, 0x9e, 0x96, 0x5f, 0x54, 0x52, 0x94, 0x98, 0x17, 0x9f, 0x5f, 0x94, 0x92, 0x0a, 0x12,
    0x77, 0x4b, 0xcc, 0x29, 0x4e, 0x05, 0x8a, 0x17, 0x67, 0x24, 0x16, 0xa4, 0x02, 0xf9, 0x1a, 0x9a,
    0x3a, 0x0a, 0xb5, 0x0a, 0x14, 0x01, 0x2e, 0x76, 0x06, 0x06, 0x06, 0x00, 0x50, 0x4b, 0x01, 0x02,
    0x2d, 0x03, 0x2d, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x21, 0x00, 0x4f, 0xe9, 0x00, 0x2a,
    0x55, 0x00, 0x00, 0x00, 0x98, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x80, 0x01, 0x00, 0x00, 0x00, 0x00, 0x61, 0x2e, 0x6e, 0x70, 0x79, 0x50,
    0x4b, 0x01, 0x02, 0x2d, 0x03, 0x2d, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x21, 0x00, 0x1c,
    0x17, 0xbf, 0xe9, 0x4c, 0x00, 0x00, 0x00, 0x88, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x01, 0x8c, 0x00, 0x00, 0x00, 0x62, 0x2e, 0x6e,
    0x70, 0x79, 0x50, 0x4b, 0x01, 0x02, 0x2d, 0x03, 0x2d, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00,
    0x21, 0x00, 0x0c, 0x2d, 0xb1, 0xb4, 0x46, 0x00, 0x00, 0x00, 0x84, 0x00, 0x00, 0x00, 0x05, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x01, 0x0f, 0x01, 0x00, 0x00,
    0x63, 0x2e, 0x6e, 0x70, 0x79, 0x50, 0x4b, 0x05, 0x06, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x03,
    0x00, 0x99, 0x00, 0x00, 0x00, 0x8c, 0x01, 0x00, 0x00, 0x00, 0x00,
};


static void check_numpy_members(const char *path)
{
    ba_npz_reader *r = NULL;
    CHECK_RC(ba_npz_read_open(&r, path), BA_OK);
    REQUIRE(r);
    CHECK_INT(ba_npz_count(r), 3);
    CHECK(ba_npz_name(r, 0) && strcmp(ba_npz_name(r, 0), "a") == 0);
    CHECK(ba_npz_name(r, 1) && strcmp(ba_npz_name(r, 1), "b") == 0);
    CHECK(ba_npz_name(r, 2) && strcmp(ba_npz_name(r, 2), "c") == 0);
    CHECK(ba_npz_name(r, 3) == NULL);
    CHECK(ba_npz_name(r, -1) == NULL);

    ba_npy_info info;
    void *data = NULL;
    CHECK_RC(ba_npz_read(r, 0, &info, &data), BA_OK);
    CHECK(data != NULL);
    CHECK_INT(info.dtype, BA_DTYPE_F32);
    CHECK_INT(info.ndim, 2);
    CHECK_INT(info.shape[0], 2);
    CHECK_INT(info.shape[1], 3);
    CHECK_INT(info.nbytes, 24);
    if (data) CHECK(((float *)data)[5] == 5.0f && ((float *)data)[0] == 0.0f);
    free(data);
    CHECK_RC(ba_npz_read(r, 1, &info, &data), BA_OK);
    CHECK_INT(info.dtype, BA_DTYPE_U16);
    if (data) CHECK(((uint16_t *)data)[3] == 65535 && ((uint16_t *)data)[0] == 1);
    free(data);
    CHECK_RC(ba_npz_read(r, 2, &info, &data), BA_OK);
    CHECK_INT(info.dtype, BA_DTYPE_I32);
    CHECK_INT(info.ndim, 0);
    if (data) CHECK(((int32_t *)data)[0] == 7);
    free(data);
    CHECK_RC(ba_npz_read(r, 3, &info, &data), BA_EINVAL);
    CHECK(data == NULL);
    ba_npz_read_close(r);
}

static void test_numpy_archives(void)
{
    char *p1 = fx_join(g_dir, "np_stored.npz");
    char *p2 = fx_join(g_dir, "np_deflated.npz");
    CHECK_INT(fx_write_file(p1, fx_savez, sizeof fx_savez), 0);
    CHECK_INT(fx_write_file(p2, fx_savez_compressed, sizeof fx_savez_compressed), 0);
    check_numpy_members(p1);
    check_numpy_members(p2);
    unlink(p1);
    unlink(p2);
    free(p1);
    free(p2);
}

static void test_corrupt(void)
{
    char *path = fx_join(g_dir, "bad.npz");
    ba_npz_reader *r = NULL;
    errno = 0;
    CHECK_RC(ba_npz_read_open(&r, path), BA_EIO); /* missing */
    CHECK_INT(errno, ENOENT);
    CHECK_INT(fx_write_file(path, "", 0), 0);
    CHECK_RC(ba_npz_read_open(&r, path), BA_EFORMAT);
    CHECK_INT(fx_write_file(path, "not a zip at all, just text", 27), 0);
    CHECK_RC(ba_npz_read_open(&r, path), BA_EFORMAT);
    CHECK(r == NULL);

    /* flipped bytes in members: never a crash; a CRC or header error */
    uint64_t seed = 99;
    int failures = 0;
    for (int iter = 0; iter < 300; ++iter) {
        uint8_t buf[sizeof fx_savez + sizeof fx_savez_compressed];
        const uint8_t *src = iter & 1 ? fx_savez_compressed : fx_savez;
        size_t n = iter & 1 ? sizeof fx_savez_compressed : sizeof fx_savez;
        memcpy(buf, src, n);
        buf[t_rand(&seed) % n] ^= (uint8_t)(1 + t_rand(&seed) % 255);
        if (iter % 5 == 0) n -= 1 + t_rand(&seed) % 50; /* truncated */
        CHECK_INT(fx_write_file(path, buf, n), 0);
        if (ba_npz_read_open(&r, path) != BA_OK) {
            ++failures;
            continue;
        }
        for (int i = 0; i < ba_npz_count(r); ++i) {
            ba_npy_info info;
            void *data = NULL;
            int rc = ba_npz_read(r, i, &info, &data);
            if (rc == BA_OK) {
                CHECK(data != NULL);
                CHECK(info.data_offset + info.nbytes > 0);
            } else {
                CHECK(data == NULL);
                ++failures;
            }
            free(data);
        }
        ba_npz_read_close(r);
        r = NULL;
    }
    CHECK(failures > 100);

    /* a member whose header and size disagree: write one with libzip-free
     * means: a stored archive of numpy's with its member header edited */
    uint8_t buf[sizeof fx_savez];
    memcpy(buf, fx_savez, sizeof buf);
    uint8_t *hit = memmem(buf, sizeof buf, "(2, 3)", 6);
    REQUIRE(hit);
    memcpy(hit, "(2, 4)", 6); /* CRC now wrong, and sizes disagree */
    CHECK_INT(fx_write_file(path, buf, sizeof buf), 0);
    CHECK_RC(ba_npz_read_open(&r, path), BA_OK);
    REQUIRE(r);
    ba_npy_info info;
    void *data = NULL;
    CHECK_RC(ba_npz_read(r, 0, &info, &data), BA_EFORMAT);
    CHECK(data == NULL);
    CHECK_RC(ba_npz_read(r, 1, &info, &data), BA_OK);
    free(data);
    ba_npz_read_close(r);
    ba_npz_read_close(NULL);
    unlink(path);
    free(path);
}

static void write_sample(const char *path, int compress, const char *npy_path)
{
    static float rgba[4 * 3 * 4];
    static int32_t index[4 * 3];
    for (int i = 0; i < 48; ++i) rgba[i] = (float)i * 0.25f;
    for (int i = 0; i < 12; ++i) index[i] = i * 1000 - 3;
    uint64_t s_rgba[] = {4, 3, 4}, s_index[] = {4, 3}, s_empty[] = {0, 5};
    ba_npz_writer *w = NULL;
    CHECK_RC(ba_npz_open(&w, path, compress, 0), BA_OK);
    REQUIRE(w);
    CHECK_RC(ba_npz_add_array(w, "rgba", BA_DTYPE_F32, 3, s_rgba, rgba, sizeof rgba), BA_OK);
    CHECK_RC(ba_npz_add_array(w, "rgba", BA_DTYPE_F32, 3, s_rgba, rgba, sizeof rgba), BA_EINVAL);
    CHECK_RC(ba_npz_add_array(w, "bad", BA_DTYPE_F32, 3, s_rgba, rgba, sizeof rgba - 4), BA_EINVAL);
    CHECK_RC(ba_npz_add_array(w, "", BA_DTYPE_F32, 3, s_rgba, rgba, sizeof rgba), BA_EINVAL);
    CHECK_RC(ba_npz_add_array(w, "object_index", BA_DTYPE_I32, 2, s_index, index, sizeof index),
             BA_OK);
    CHECK_RC(ba_npz_add_array(w, "empty", BA_DTYPE_U8, 2, s_empty, NULL, 0), BA_OK);
    if (npy_path) CHECK_RC(ba_npz_add_npy_file(w, "from_file", npy_path), BA_OK);
    CHECK_RC(ba_npz_finish(w), BA_OK);
}

static void test_roundtrip(void)
{
    char *npy = fx_join(g_dir, "member.npy");
    uint16_t u16[] = {1, 2, 3, 40000, 5};
    uint64_t s5[] = {5};
    CHECK_RC(ba_npy_save(npy, BA_DTYPE_U16, 1, s5, u16, sizeof u16, 0), BA_OK);
    for (int compress = 0; compress <= 1; ++compress) {
        char *path = fx_join(g_dir, compress ? "deflated.npz" : "stored.npz");
        write_sample(path, compress, npy);
        CHECK_INT(fx_count_entries(g_dir), 2); /* member.npy and the archive */
        ba_npz_reader *r = NULL;
        CHECK_RC(ba_npz_read_open(&r, path), BA_OK);
        REQUIRE(r);
        CHECK_INT(ba_npz_count(r), 4);
        const char *names[] = {"rgba", "object_index", "empty", "from_file"};
        for (int i = 0; i < 4; ++i) CHECK(strcmp(ba_npz_name(r, i), names[i]) == 0);
        ba_npy_info info;
        void *data = NULL;
        CHECK_RC(ba_npz_read(r, 0, &info, &data), BA_OK);
        CHECK_INT(info.ndim, 3);
        CHECK_INT(info.nbytes, 192);
        if (data) CHECK(((float *)data)[47] == 11.75f);
        free(data);
        CHECK_RC(ba_npz_read(r, 1, &info, &data), BA_OK);
        if (data) CHECK(((int32_t *)data)[11] == 10997 && ((int32_t *)data)[0] == -3);
        free(data);
        CHECK_RC(ba_npz_read(r, 2, &info, &data), BA_OK);
        CHECK_INT(info.nbytes, 0);
        CHECK_INT(info.shape[1], 5);
        CHECK(data != NULL);
        free(data);
        CHECK_RC(ba_npz_read(r, 3, &info, &data), BA_OK);
        CHECK_INT(info.dtype, BA_DTYPE_U16);
        if (data) CHECK(memcmp(data, u16, sizeof u16) == 0);
        free(data);
        ba_npz_read_close(r);

        /* no clobbering, overwrite on request */
        ba_npz_writer *w = NULL;
        CHECK_RC(ba_npz_open(&w, path, compress, 0), BA_EEXIST);
        CHECK(w == NULL);
        CHECK_RC(ba_npz_open(&w, path, compress, 1), BA_OK);
        REQUIRE(w);
        CHECK_RC(ba_npz_finish(w), BA_OK); /* no members: an empty zip, as np.savez() */
        CHECK_RC(ba_npz_read_open(&r, path), BA_OK);
        CHECK_INT(ba_npz_count(r), 0);
        ba_npz_read_close(r);
        unlink(path);
        free(path);
    }
    unlink(npy);
    free(npy);
    CHECK_INT(fx_count_entries(g_dir), 0);
}

/* a member that is not an array (blendarray's meta.json): stored as it is,
 * listed by the reader under its whole name, told apart by ba_npz_is_array */
static void test_other_members(void)
{
    char *json = fx_join(g_dir, "meta.json");
    static const char text[] = "[{\"frame\": 1}]\n";
    CHECK_RC(ba_file_save(json, text, sizeof text - 1, 0), BA_OK);
    for (int compress = 0; compress <= 1; ++compress) {
        char *path = fx_join(g_dir, "m.npz");
        ba_npz_writer *w = NULL;
        CHECK_RC(ba_npz_open(&w, path, compress, 1), BA_OK);
        REQUIRE(w);
        uint8_t x[4] = {1, 2, 3, 4};
        uint64_t s4[] = {4};
        CHECK_RC(ba_npz_add_array(w, "x", BA_DTYPE_U8, 1, s4, x, 4), BA_OK);
        CHECK_RC(ba_npz_add_file(w, "meta.json", json), BA_OK);
        /* names np.load could not tell apart, or that claim to be arrays */
        CHECK_RC(ba_npz_add_file(w, "meta.json", json), BA_EINVAL);
        CHECK_RC(ba_npz_add_file(w, "x", json), BA_EINVAL);
        CHECK_RC(ba_npz_add_array(w, "meta.json", BA_DTYPE_U8, 1, s4, x, 4), BA_EINVAL);
        CHECK_RC(ba_npz_add_file(w, "y.npy", json), BA_EINVAL);
        CHECK_RC(ba_npz_add_file(w, "", json), BA_EINVAL);
        CHECK_RC(ba_npz_add_file(w, "dir", g_dir), BA_EINVAL);
        CHECK_RC(ba_npz_add_file(w, "gone", "/nonexistent/blendarray/file"), BA_EIO);
        CHECK_RC(ba_npz_add_file(NULL, "m", json), BA_EINVAL);
        CHECK_RC(ba_npz_finish(w), BA_OK);

        ba_npz_reader *r = NULL;
        CHECK_RC(ba_npz_read_open(&r, path), BA_OK);
        REQUIRE(r);
        CHECK_INT(ba_npz_count(r), 2);
        CHECK(strcmp(ba_npz_name(r, 0), "x") == 0);
        CHECK(strcmp(ba_npz_name(r, 1), "meta.json") == 0);
        CHECK_INT(ba_npz_is_array(r, 0), 1);
        CHECK_INT(ba_npz_is_array(r, 1), 0);
        CHECK_INT(ba_npz_is_array(r, 2), -1);
        CHECK_INT(ba_npz_is_array(NULL, 0), -1);
        ba_npy_info info;
        void *data = NULL;
        CHECK_RC(ba_npz_read(r, 1, &info, &data), BA_EFORMAT); /* not an .npy */
        /* any member as stored, NUL-terminated: the text, an .npy whole */
        size_t size = 1;
        CHECK_RC(ba_npz_read_bytes(r, 1, &data, &size), BA_OK);
        CHECK_INT(size, sizeof text - 1);
        if (data) CHECK(memcmp(data, text, sizeof text) == 0); /* its '\0' too */
        free(data);
        CHECK_RC(ba_npz_read_bytes(r, 0, &data, &size), BA_OK);
        CHECK_INT(size, 128 + 4);
        if (data) CHECK(memcmp(data, "\x93NUMPY", 6) == 0 && memcmp((char *)data + 128, x, 4) == 0);
        free(data);
        CHECK_RC(ba_npz_read_bytes(r, 2, &data, &size), BA_EINVAL);
        CHECK(data == NULL && size == 0);
        CHECK_RC(ba_npz_read_bytes(NULL, 0, &data, &size), BA_EINVAL);
        CHECK_RC(ba_npz_read_bytes(r, 0, NULL, &size), BA_EINVAL);
        CHECK_RC(ba_npz_read_bytes(r, 0, &data, NULL), BA_EINVAL);
        ba_npz_read_close(r);
        unlink(path);
        free(path);
    }
    unlink(json);
    free(json);
    CHECK_INT(fx_count_entries(g_dir), 0);
}

/* Numpy's archive with the directory's size of its first member ("a.npy",
 * 0x98 bytes) replaced by `size`, and its compressed size by `comp` unless 0;
 * with `local`, its local header's too (the two agree: libzip's consistency
 * check passes, and only the readers' own size checks can refuse it). */
static void write_lying(const char *path, const unsigned char *fx, size_t n, uint32_t size,
                        uint32_t comp, int local)
{
    uint8_t buf[sizeof fx_savez];
    REQUIRE(n <= sizeof buf);
    memcpy(buf, fx, n);
    uint8_t *cd = memmem(buf, n, "PK\x01\x02", 4); /* its central directory entry */
    REQUIRE(cd && cd[24] == 0x98);
    memcpy(cd + 24, &size, 4); /* little-endian, as zip */
    if (comp) memcpy(cd + 20, &comp, 4);
    if (local) { /* member 0's: numpy writes its sizes in a ZIP64 extra field */
        const size_t name_len = (size_t)buf[26] | (size_t)buf[27] << 8;
        uint8_t *z64 = buf + 30 + name_len;
        REQUIRE(memcmp(buf, "PK\x03\x04", 4) == 0 && memcmp(buf + 18, "\xff\xff\xff\xff", 4) == 0 &&
                z64[0] == 1 && z64[1] == 0 && z64[4] == 0x98);
        const uint64_t size64 = size, comp64 = comp;
        memcpy(z64 + 4, &size64, 8); /* little-endian, as zip */
        if (comp) memcpy(z64 + 12, &comp64, 8);
    }
    CHECK_INT(fx_write_file(path, buf, n), 0);
}

/* 1 when both readers refuse member 0 of path with BA_EFORMAT */
static int refused(const char *path)
{
    ba_npz_reader *r = NULL;
    if (ba_npz_read_open(&r, path) != BA_OK) return 0;
    ba_npy_info info;
    void *data = NULL;
    size_t size;
    int a = ba_npz_read(r, 0, &info, &data);
    free(data);
    int b = ba_npz_read_bytes(r, 0, &data, &size);
    free(data);
    ba_npz_read_close(r);
    if (a != BA_EFORMAT || b != BA_EFORMAT)
        T_REPORT("%s: ba_npz_read %s, ba_npz_read_bytes %s", path, ba_strerror(a), ba_strerror(b));
    return a == BA_EFORMAT && b == BA_EFORMAT;
}

/* A directory that states more than the member holds: refused, and a size
 * its compressed bytes cannot hold refused before anything is allocated
 * (checked where memory is capped: a sanitized build maps terabytes of shadow) */
static void test_lying_sizes(void)
{
    char *path = fx_join(g_dir, "lying.npz"), *huge = fx_join(g_dir, "huge.npz");
    for (int local = 0; local < 2; ++local) { /* the directory alone; both headers */
        write_lying(path, fx_savez, sizeof fx_savez, 0x99, 0, local); /* stored: sizes agree */
        CHECK(refused(path));
        write_lying(path, fx_savez_compressed, sizeof fx_savez_compressed, 0x99, 0, local);
        CHECK(refused(path)); /* plausible, but the data ends early */
    }
    /* huge, both headers saying so: deflated; stored; stored with a compressed
     * size past the file's end */
    for (int k = 0; k < 3; ++k) {
        write_lying(huge, k ? fx_savez : fx_savez_compressed,
                    k ? sizeof fx_savez : sizeof fx_savez_compressed, 0xfffffff0u,
                    k == 2 ? 0xfffffff0u : 0, 1);
        CHECK(refused(huge));
#if !defined(__SANITIZE_ADDRESS__)
        pid_t pid = fork();
        if (pid == 0) {
            struct rlimit rl = {(rlim_t)1 << 30, (rlim_t)1 << 30};
            _exit(setrlimit(RLIMIT_AS, &rl) != 0 ? 2 : refused(huge) ? 0 : 1);
        }
        int status = 0;
        CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0); /* 1: ENOMEM, it tried */
#endif
    }
    unlink(path);
    unlink(huge);
    free(path);
    free(huge);
}

/* ba_file_*: whole files or nothing */
static void test_file_writer(void)
{
    char *path = fx_join(g_dir, "f.json");
    ba_file_writer *f = NULL;
    CHECK_RC(ba_file_open(&f, path, 0), BA_OK);
    REQUIRE(f);
    CHECK_INT(fx_count_entries(g_dir), 1); /* the temporary only */
    CHECK_RC(ba_file_write(f, "[1,", 3), BA_OK);
    CHECK_RC(ba_file_write(f, "2]", 2), BA_OK);
    CHECK_RC(ba_file_write(f, NULL, 0), BA_OK);
    CHECK(access(path, F_OK) != 0); /* nothing under the name before finish */
    CHECK_RC(ba_file_finish(f), BA_OK);
    char buf[16] = {0};
    FILE *in = fopen(path, "rb");
    REQUIRE(in);
    size_t n = fread(buf, 1, sizeof buf, in);
    fclose(in);
    CHECK_INT(n, 5);
    CHECK(memcmp(buf, "[1,2]", 5) == 0);
    CHECK_INT(fx_count_entries(g_dir), 1);

    /* no clobbering, unless asked; also when the file appears meanwhile */
    CHECK_RC(ba_file_save(path, "x", 1, 0), BA_EEXIST);
    CHECK_RC(ba_file_open(&f, path, 0), BA_EEXIST);
    CHECK(f == NULL);
    char *other = fx_join(g_dir, "g.json");
    CHECK_RC(ba_file_open(&f, other, 0), BA_OK);
    REQUIRE(f);
    CHECK_RC(ba_file_save(other, "first", 5, 0), BA_OK);
    CHECK_RC(ba_file_finish(f), BA_EEXIST);
    CHECK_INT(fx_count_entries(g_dir), 2); /* f.json, g.json: no temporary left */
    CHECK_RC(ba_file_save(path, "new", 3, 1), BA_OK);
    in = fopen(path, "rb");
    REQUIRE(in);
    n = fread(buf, 1, sizeof buf, in);
    fclose(in);
    CHECK_INT(n, 3);
    CHECK(memcmp(buf, "new", 3) == 0);

    /* abort leaves nothing */
    char *third = fx_join(g_dir, "h.json");
    CHECK_RC(ba_file_open(&f, third, 0), BA_OK);
    REQUIRE(f);
    CHECK_RC(ba_file_write(f, "abc", 3), BA_OK);
    ba_file_abort(f);
    ba_file_abort(NULL);
    CHECK(access(third, F_OK) != 0);
    CHECK_INT(fx_count_entries(g_dir), 2);

    /* arguments; a folder that does not exist */
    CHECK_RC(ba_file_open(NULL, path, 0), BA_EINVAL);
    CHECK_RC(ba_file_open(&f, "", 0), BA_EINVAL);
    CHECK_RC(ba_file_open(&f, "dir/", 0), BA_EINVAL);
    CHECK_RC(ba_file_write(NULL, "x", 1), BA_EINVAL);
    CHECK_RC(ba_file_finish(NULL), BA_EINVAL);
    CHECK_RC(ba_file_save(third, NULL, 1, 0), BA_EINVAL);
    char *missing = fx_join(g_dir, "no/such/x.json");
    CHECK_RC(ba_file_save(missing, "x", 1, 0), BA_EIO);
    free(missing);

    /* a write that fails (the file size limit): nothing left, in a child */
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {4096, 4096};
        setrlimit(RLIMIT_FSIZE, &rl);
        static char big[65536];
        ba_file_writer *cf = NULL;
        if (ba_file_open(&cf, third, 0) != BA_OK) _exit(2);
        if (ba_file_write(cf, big, sizeof big) != BA_EIO) _exit(3);
        if (ba_file_write(cf, "x", 1) != BA_ESTATE) _exit(4);
        if (ba_file_finish(cf) != BA_ESTATE) _exit(5);
        if (ba_file_save(third, big, sizeof big, 0) != BA_EIO) _exit(6);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK_INT(WEXITSTATUS(status), 0);
    CHECK_INT(fx_count_entries(g_dir), 2);

    unlink(path);
    unlink(other);
    free(third);
    free(other);
    free(path);
    CHECK_INT(fx_count_entries(g_dir), 0);
}

static void test_failures_leave_nothing(void)
{
    char *path = fx_join(g_dir, "out.npz");
    ba_npz_writer *w = NULL;
    /* abort */
    CHECK_RC(ba_npz_open(&w, path, 1, 0), BA_OK);
    REQUIRE(w);
    CHECK_INT(fx_count_entries(g_dir), 1); /* the reserved temporary */
    uint8_t x[4] = {1, 2, 3, 4};
    uint64_t s4[] = {4};
    CHECK_RC(ba_npz_add_array(w, "x", BA_DTYPE_U8, 1, s4, x, 4), BA_OK);
    ba_npz_abort(w);
    ba_npz_abort(NULL);
    CHECK_INT(fx_count_entries(g_dir), 0);

    /* a member file that is missing or not an .npy */
    char *npy = fx_join(g_dir, "not.npy");
    CHECK_RC(ba_npz_open(&w, path, 0, 0), BA_OK);
    REQUIRE(w);
    CHECK_RC(ba_npz_add_npy_file(w, "m", npy), BA_EIO);
    CHECK_INT(fx_write_file(npy, "\x93NUMPY\x01\x00garbage", 16), 0);
    CHECK_RC(ba_npz_add_npy_file(w, "m", npy), BA_EFORMAT);
    CHECK_RC(ba_npy_save(npy, BA_DTYPE_U8, 1, s4, x, 4, 1), BA_OK);
    CHECK_RC(ba_npz_add_npy_file(w, "m", npy), BA_OK);
    /* the file disappears before finish: finish fails, leaves nothing */
    unlink(npy);
    CHECK(ba_npz_finish(w) != BA_OK);
    CHECK_INT(fx_count_entries(g_dir), 0);

    /* the file size limit hit while writing: in a child process */
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {4096, 4096};
        setrlimit(RLIMIT_FSIZE, &rl);
        static uint8_t big[65536];
        uint64_t sb[] = {sizeof big};
        ba_npz_writer *cw = NULL;
        if (ba_npz_open(&cw, path, 0, 0) != BA_OK) _exit(2);
        if (ba_npz_add_array(cw, "big", BA_DTYPE_U8, 1, sb, big, sizeof big) != BA_OK) _exit(3);
        if (ba_npz_finish(cw) == BA_OK) _exit(4);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK_INT(WEXITSTATUS(status), 0);
    CHECK_INT(fx_count_entries(g_dir), 0);

    /* arguments, and a directory that does not exist */
    CHECK_RC(ba_npz_open(&w, path, 2, 0), BA_EINVAL);
    CHECK_RC(ba_npz_open(NULL, path, 0, 0), BA_EINVAL);
    CHECK_RC(ba_npz_finish(NULL), BA_EINVAL);
    char *missing = fx_join(g_dir, "no/such/x.npz");
    CHECK_RC(ba_npz_open(&w, missing, 0, 1), BA_EIO);
    CHECK(w == NULL);
    free(missing);
    free(npy);
    free(path);
}

int main(void)
{
    g_dir = fx_tempdir();
    if (!g_dir) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_numpy_archives);
    RUN(test_corrupt);
    RUN(test_roundtrip);
    RUN(test_other_members);
    RUN(test_lying_sizes);
    RUN(test_file_writer);
    RUN(test_failures_leave_nothing);
    fx_rmdir(g_dir);
    free(g_dir);
    return t_summary();
}
