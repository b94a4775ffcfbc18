/* blend.c — which Blender saved a .blend file, from its header.
 *
 * A Blender that cannot read a newer file says only "not a blend file"; this
 * lets its caller say which version saved it instead. The header layouts are
 * Blender's (source/blender/blenloader: BLO_core_blend_header.hh):
 *
 *   format 0, 12 bytes: "BLENDER", '_' (4-byte pointers) or '-' (8-byte),
 *     'v' (little endian) or 'V' (big), 3 digits: the file version, e.g.
 *     "BLENDER-v304" for Blender 3.4 (Blender 2.x to 4.x);
 *   format 1, 17 bytes: "BLENDER", 2 digits (the header size, "17"), '-',
 *     2 digits (the format, "01"), 'v', 4 digits, e.g. "BLENDER17-01v0500"
 *     (Blender 5.0 on).
 *
 * The whole file may be gzip-compressed (Blender before 3.0) or
 * zstd-compressed (3.0 on, as independent frames): only enough of it is
 * decompressed to hold the header. It never reads outside [head, head + size). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h> /* ZSTD_getErrorCode: out of memory apart from corrupt data */

#include "internal.h"

#define BLEND_MAGIC "BLENDER"
#define BLEND_MAGIC_LEN 7
#define HEADER_MAX 17 /* format 1's header; format 0's is 12 */

static int digits(const uint8_t *p, int n, int *value)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return 0;
        v = v * 10 + (p[i] - '0');
    }
    *value = v;
    return 1;
}

/* The header in plain bytes b[0..n), n <= HEADER_MAX; *version as Blender
 * writes it (major * 100 + minor). */
static int parse_header(const uint8_t *b, size_t n, int *version)
{
    if (n < BLEND_MAGIC_LEN || memcmp(b, BLEND_MAGIC, BLEND_MAGIC_LEN) != 0) return BA_EFORMAT;
    if (n < 12) return BA_EFORMAT; /* cut short: no header of either format fits */
    if (b[7] == '_' || b[7] == '-') {
        if (b[8] != 'v' && b[8] != 'V') return BA_EUNSUPPORTED;
        return digits(b + 9, 3, version) ? BA_OK : BA_EUNSUPPORTED;
    }
    /* From here on, Blender itself calls what it cannot decode a file of a
     * future version (BlenderHeaderUnknown): so does this reader. */
    int header_size, format;
    if (!digits(b + 7, 2, &header_size) || header_size != HEADER_MAX) return BA_EUNSUPPORTED;
    if (n < HEADER_MAX) return BA_EFORMAT;
    if (b[9] != '-' || !digits(b + 10, 2, &format) || format != 1 || b[12] != 'v')
        return BA_EUNSUPPORTED;
    return digits(b + 13, 4, version) ? BA_OK : BA_EUNSUPPORTED;
}

/* Up to `cap` bytes of the gzip stream in[0..size) into out; *n: how many.
 * BA_EFORMAT for a corrupt stream (a short one just gives fewer bytes). */
static int gunzip_head(const uint8_t *in, size_t size, uint8_t *out, size_t cap, size_t *n)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    int zr = inflateInit2(&z, 16 + MAX_WBITS); /* 16: a gzip header, not zlib's */
    if (zr != Z_OK) return zr == Z_MEM_ERROR ? BA_ENOMEM : BA_EFORMAT;
    /* avail_in is 32 bits: the first 4 GiB are far more than a header needs */
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = size > UINT32_MAX ? UINT32_MAX : (uInt)size;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int err = BA_OK;
    while (z.avail_out > 0) {
        zr = inflate(&z, Z_NO_FLUSH);
        if (zr == Z_STREAM_END || zr == Z_BUF_ERROR) break; /* the end, or no more input */
        if (zr != Z_OK) {
            err = zr == Z_MEM_ERROR ? BA_ENOMEM : BA_EFORMAT;
            break;
        }
    }
    *n = cap - z.avail_out;
    if (inflateEnd(&z) != Z_OK && err == BA_OK) err = BA_EFORMAT;
    return err;
}

/* The same for a zstd stream. */
static int unzstd_head(const uint8_t *in, size_t size, uint8_t *out, size_t cap, size_t *n)
{
    ZSTD_DCtx *d = ZSTD_createDCtx();
    if (!d) return BA_ENOMEM;
    ZSTD_inBuffer src = {in, size, 0};
    ZSTD_outBuffer dst = {out, cap, 0};
    int err = BA_OK;
    while (dst.pos < dst.size) {
        size_t before_in = src.pos, before_out = dst.pos;
        size_t r = ZSTD_decompressStream(d, &dst, &src);
        if (ZSTD_isError(r)) {
            err = ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation ? BA_ENOMEM : BA_EFORMAT;
            break;
        }
        if (r == 0 && src.pos == src.size) break;                     /* the last frame ended */
        if (src.pos == before_in && dst.pos == before_out) break; /* input used up */
    }
    *n = dst.pos;
    ZSTD_freeDCtx(d);
    return err;
}

int ba_blend_version(const void *head, size_t size, int *major, int *minor)
{
    if (!head || !major || !minor) return BA_EINVAL;
    const uint8_t *b = head;
    uint8_t plain[HEADER_MAX];
    size_t n = 0;
    int err = BA_OK;
    if (size >= 2 && b[0] == 0x1f && b[1] == 0x8b) {
        err = gunzip_head(b, size, plain, sizeof plain, &n);
    } else if (size >= 4 && b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd) {
        err = unzstd_head(b, size, plain, sizeof plain, &n);
    } else {
        n = size < sizeof plain ? size : sizeof plain;
        memcpy(plain, b, n);
    }
    if (err) return err;
    int version;
    err = parse_header(plain, n, &version);
    if (err) return err;
    *major = version / 100;
    *minor = version % 100;
    return BA_OK;
}

int ba_blend_version_fd(int fd, int *major, int *minor)
{
    if (fd < 0 || !major || !minor) return BA_EINVAL;
    uint8_t *head = malloc(BA_BLEND_HEAD_MAX);
    if (!head) return BA_ENOMEM;
    long long got = ba_internal_pread_full(fd, head, BA_BLEND_HEAD_MAX, 0);
    int err = got < 0 ? BA_EIO : ba_blend_version(head, (size_t)got, major, minor);
    int saved = errno;
    free(head);
    errno = saved;
    return err;
}
