/* test_blend.c — ba_blend_version on synthetic .blend headers of every kind
 * Blender writes (format 0 of Blender 2.x to 4.x, format 1 of 5.x; plain,
 * gzip, zstd), cut short, of unknown formats, and garbage. The compressed
 * ones are made here with zlib and libzstd themselves. (Files saved by real
 * Blenders: tests/python/test_new_user.py.) */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "blendarray.h"
#include "check.h"

/* A header, then `body` pseudo-random bytes & mask: 0xff is incompressible
 * (zstd then stores its first block raw: the largest, 128 KiB), 0x0f
 * compresses to about half. */
static size_t make_plain(uint8_t *out, size_t cap, const char *header, size_t body, uint8_t mask)
{
    size_t h = strlen(header);
    if (h + body > cap) return 0;
    memcpy(out, header, h);
    uint64_t s = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < body; i++) out[h + i] = (uint8_t)t_rand(&s) & mask;
    return h + body;
}

static size_t make_gzip(uint8_t *out, size_t cap, const uint8_t *in, size_t n)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) return 0;
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int r = deflate(&z, Z_FINISH);
    size_t got = cap - z.avail_out;
    deflateEnd(&z);
    return r == Z_STREAM_END ? got : 0;
}

/* Blender writes zstd files as independent frames (of 1 MiB of the file each):
 * the first `first` bytes in one frame, the rest in a second. */
static size_t make_zstd(uint8_t *out, size_t cap, const uint8_t *in, size_t n, size_t first)
{
    size_t a = ZSTD_compress(out, cap, in, first, 3);
    if (ZSTD_isError(a)) return 0;
    size_t b = ZSTD_compress(out + a, cap - a, in + first, n - first, 3);
    return ZSTD_isError(b) ? 0 : a + b;
}

static int version(const void *p, size_t n, int *major, int *minor)
{
    *major = *minor = -1;
    return ba_blend_version(p, n, major, minor);
}

static uint8_t plain[512 * 1024], packed[600 * 1024];

struct known {
    const char *header;
    int major, minor;
};
static const struct known KNOWN[] = {
    {"BLENDER_v279", 2, 79}, /* 32-bit pointers, little endian */
    {"BLENDER_V249", 2, 49}, /* big endian (PowerPC) */
    {"BLENDER-V262", 2, 62},
    {"BLENDER-v304", 3, 4},
    {"BLENDER-v405", 4, 5},
    {"BLENDER17-01v0500", 5, 0},
    {"BLENDER17-01v0502", 5, 2},
    {"BLENDER17-01v1012", 10, 12},
};
enum { NKNOWN = sizeof KNOWN / sizeof KNOWN[0] };

static void test_plain_headers(void)
{
    for (int i = 0; i < NKNOWN; i++) {
        int major, minor;
        size_t n = make_plain(plain, sizeof plain, KNOWN[i].header, 4096, 0xff);
        CHECK_RC(version(plain, n, &major, &minor), BA_OK);
        CHECK_INT(major, KNOWN[i].major);
        CHECK_INT(minor, KNOWN[i].minor);
        /* the header alone is enough */
        n = strlen(KNOWN[i].header);
        CHECK_RC(version(plain, n, &major, &minor), BA_OK);
        CHECK_INT(major * 100 + minor, KNOWN[i].major * 100 + KNOWN[i].minor);
    }
}

static void test_compressed_headers(void)
{
    for (int i = 0; i < NKNOWN; i++) {
        int major, minor;
        /* 300 KiB of incompressible bytes: zstd's first block is a full 128 KiB */
        size_t n = make_plain(plain, sizeof plain, KNOWN[i].header, 300 * 1024, 0xff);
        size_t g = make_gzip(packed, sizeof packed, plain, n);
        REQUIRE(g > 0);
        CHECK(packed[0] == 0x1f && packed[1] == 0x8b);
        CHECK_RC(version(packed, g, &major, &minor), BA_OK);
        CHECK_INT(major * 100 + minor, KNOWN[i].major * 100 + KNOWN[i].minor);
        CHECK_RC(version(packed, g < 64 ? g : 64, &major, &minor), BA_OK); /* a little is enough */

        size_t z = make_zstd(packed, sizeof packed, plain, n, 200 * 1024);
        REQUIRE(z > 0);
        CHECK(packed[0] == 0x28 && packed[1] == 0xb5 && packed[2] == 0x2f && packed[3] == 0xfd);
        CHECK_RC(version(packed, z, &major, &minor), BA_OK);
        CHECK_INT(major * 100 + minor, KNOWN[i].major * 100 + KNOWN[i].minor);
        /* what the header promises is enough: the first block and the headers before it */
        CHECK_RC(version(packed, BA_BLEND_HEAD_MAX, &major, &minor), BA_OK);
        CHECK_INT(major * 100 + minor, KNOWN[i].major * 100 + KNOWN[i].minor);
        /* a compressed first block cut short: no header can be read */
        n = make_plain(plain, sizeof plain, KNOWN[i].header, 300 * 1024, 0x0f);
        z = make_zstd(packed, sizeof packed, plain, n, 200 * 1024);
        REQUIRE(z > 0);
        CHECK_RC(version(packed, z, &major, &minor), BA_OK);
        CHECK_INT(major * 100 + minor, KNOWN[i].major * 100 + KNOWN[i].minor);
        CHECK_RC(version(packed, 1000, &major, &minor), BA_EFORMAT);
        CHECK_INT(major, -1);

        /* a compressible file: the whole first frame is small */
        n = strlen(KNOWN[i].header);
        memset(plain + n, 'x', 100 * 1024);
        z = make_zstd(packed, sizeof packed, plain, n + 100 * 1024, 60 * 1024);
        REQUIRE(z > 0 && z < 4096);
        CHECK_RC(version(packed, z, &major, &minor), BA_OK);
        CHECK_INT(major * 100 + minor, KNOWN[i].major * 100 + KNOWN[i].minor);
    }
}

/* "BLENDER" followed by what no Blender writes yet: a newer format, not garbage. */
static void test_unknown_formats(void)
{
    const char *future[] = {
        "BLENDER17-02v0600", /* format 2 */
        "BLENDER20-01v0500xxx", /* a longer header */
        "BLENDER17+01v0500",
        "BLENDER17-01V0500", /* format 1 is little endian only */
        "BLENDER17-01v05a0",
        "BLENDER-x304",
        "BLENDER-v3a4",
        "BLENDERxxxxxxxxxx",
    };
    for (size_t i = 0; i < sizeof future / sizeof future[0]; i++) {
        int major, minor;
        CHECK_RC(version(future[i], strlen(future[i]), &major, &minor), BA_EUNSUPPORTED);
        CHECK_INT(major, -1);
        CHECK_INT(minor, -1);
        size_t n = make_plain(plain, sizeof plain, future[i], 1000, 0xff);
        size_t z = make_zstd(packed, sizeof packed, plain, n, n);
        REQUIRE(z > 0);
        CHECK_RC(version(packed, z, &major, &minor), BA_EUNSUPPORTED);
    }
}

static void test_not_a_blend(void)
{
    int major, minor;
    const char *cut[] = {"", "B", "BLENDE", "BLENDER", "BLENDER-v30", "BLENDER17-01v050",
                         "BLENDER17-", "blender-v304", " BLENDER-v304", "PK\x03\x04 a zip",
                         "\x89PNG\r\n\x1a\n"};
    for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++) {
        CHECK_RC(version(cut[i], strlen(cut[i]), &major, &minor), BA_EFORMAT);
        CHECK_INT(major, -1);
    }
    /* compressed, but not a .blend inside */
    size_t n = make_plain(plain, sizeof plain, "# a text file\n", 100, 0x7f);
    size_t g = make_gzip(packed, sizeof packed, plain, n);
    REQUIRE(g > 0);
    CHECK_RC(version(packed, g, &major, &minor), BA_EFORMAT);
    size_t z = make_zstd(packed, sizeof packed, plain, n, n);
    REQUIRE(z > 0);
    CHECK_RC(version(packed, z, &major, &minor), BA_EFORMAT);
    /* a gzip or zstd magic, then garbage */
    uint64_t s = 42;
    for (int round = 0; round < 2000; round++) {
        size_t len = 4 + t_rand(&s) % 300;
        for (size_t i = 0; i < len; i++) packed[i] = (uint8_t)t_rand(&s);
        if (round % 2) memcpy(packed, "\x1f\x8b\x08\x00", 4);
        else memcpy(packed, "\x28\xb5\x2f\xfd", 4);
        int rc = version(packed, len, &major, &minor);
        CHECK(rc == BA_EFORMAT || rc == BA_EUNSUPPORTED || rc == BA_OK);
        if (rc == BA_OK) CHECK(major >= 0 && minor >= 0 && minor < 100);
    }
    /* a gzip stream cut inside its own header */
    n = make_plain(plain, sizeof plain, "BLENDER-v304", 100, 0xff);
    g = make_gzip(packed, sizeof packed, plain, n);
    CHECK_RC(version(packed, 5, &major, &minor), BA_EFORMAT);
    CHECK_RC(version(packed, g, &major, &minor), BA_OK);
}

static void test_bad_arguments(void)
{
    int major, minor;
    CHECK_RC(ba_blend_version(NULL, 12, &major, &minor), BA_EINVAL);
    CHECK_RC(ba_blend_version("BLENDER-v304", 12, NULL, &minor), BA_EINVAL);
    CHECK_RC(ba_blend_version("BLENDER-v304", 12, &major, NULL), BA_EINVAL);
    CHECK_RC(ba_blend_version_fd(-1, &major, &minor), BA_EINVAL);
    CHECK_RC(ba_blend_version_fd(0, NULL, &minor), BA_EINVAL);
}

static void test_fd(void)
{
    int major = -1, minor = -1;
    size_t n = make_plain(plain, sizeof plain, "BLENDER17-01v0500", 400 * 1024, 0xff);
    size_t z = make_zstd(packed, sizeof packed, plain, n, 300 * 1024);
    REQUIRE(z > BA_BLEND_HEAD_MAX);
    int fd = memfd_create("blend", MFD_CLOEXEC);
    REQUIRE(fd >= 0);
    CHECK(write(fd, packed, z) == (ssize_t)z);
    /* read from the start, wherever the offset is, and left there */
    CHECK(lseek(fd, 123, SEEK_SET) == 123);
    CHECK_RC(ba_blend_version_fd(fd, &major, &minor), BA_OK);
    CHECK_INT(major, 5);
    CHECK_INT(minor, 0);
    CHECK(lseek(fd, 0, SEEK_CUR) == 123);
    CHECK(ftruncate(fd, 0) == 0); /* an empty file */
    CHECK_RC(ba_blend_version_fd(fd, &major, &minor), BA_EFORMAT);
    close(fd);
    int p[2];
    REQUIRE(pipe(p) == 0); /* cannot pread: BA_EIO, errno saying why */
    errno = 0;
    CHECK_RC(ba_blend_version_fd(p[0], &major, &minor), BA_EIO);
    CHECK_INT(errno, ESPIPE);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    RUN(test_plain_headers);
    RUN(test_compressed_headers);
    RUN(test_unknown_formats);
    RUN(test_not_a_blend);
    RUN(test_bad_arguments);
    RUN(test_fd);
    return t_summary();
}
