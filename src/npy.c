/* npy.c — NPY files exactly as numpy.lib.format writes them, saved atomically. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define NPY_ALIGN 64
/* numpy (>= 1.24) leaves room for the first axis to grow to this many
 * digits, so the header can be rewritten in place when appending. */
#define NPY_GROWTH_AXIS_MAX_DIGITS 21

size_t ba_dtype_size(int dtype)
{
    switch (dtype) {
    case BA_DTYPE_F32: return 4;
    case BA_DTYPE_F16: return 2;
    case BA_DTYPE_U8: return 1;
    case BA_DTYPE_I32: return 4;
    case BA_DTYPE_U16: return 2;
    case BA_DTYPE_U32: return 4;
    default: return 0;
    }
}

static const char *dtype_descr(int dtype)
{
    switch (dtype) {
    case BA_DTYPE_F32: return "<f4";
    case BA_DTYPE_F16: return "<f2";
    case BA_DTYPE_U8: return "|u1";
    case BA_DTYPE_I32: return "<i4";
    case BA_DTYPE_U16: return "<u2";
    case BA_DTYPE_U32: return "<u4";
    default: return NULL;
    }
}

const char *ba_dtype_descr(int dtype)
{
    return dtype_descr(dtype);
}

int ba_internal_array_bytes(int dtype, int ndim, const uint64_t *shape, size_t *out)
{
    /* as numpy (and ba_npy_parse_header): the non-zero dimensions' byte size
     * must fit int64 even when another dimension is 0, or no reader can
     * load the file */
    size_t bytes = ba_dtype_size(dtype);
    int empty = 0;
    for (int i = 0; i < ndim; ++i) {
        if (shape[i] == 0) {
            empty = 1;
            continue;
        }
        if (shape[i] > (uint64_t)INT64_MAX || shape[i] > SIZE_MAX) return BA_EOVERFLOW;
        if (ba_mul_overflow(bytes, (size_t)shape[i], &bytes) ||
            (uint64_t)bytes > (uint64_t)INT64_MAX)
            return BA_EOVERFLOW;
    }
    *out = empty ? 0 : bytes;
    return BA_OK;
}

int ba_npy_header(char *buf, size_t cap, size_t *len, int dtype, int ndim, const uint64_t *shape)
{
    const char *descr = dtype_descr(dtype);
    if (!buf || !len || !descr || ndim < 0 || ndim > BA_NPY_MAX_DIMS || (ndim > 0 && !shape))
        return BA_EINVAL;

    /* the dict, as repr() of a sorted dict: at most ~230 bytes */
    char dict[512];
    size_t n = (size_t)snprintf(dict, sizeof dict,
                                "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < ndim; ++i)
        n += (size_t)snprintf(dict + n, sizeof dict - n, "%s%" PRIu64, i ? ", " : "", shape[i]);
    n += (size_t)snprintf(dict + n, sizeof dict - n, "%s), }", ndim == 1 ? "," : "");
    if (ndim > 0) {
        char digits[32];
        int d = snprintf(digits, sizeof digits, "%" PRIu64, shape[0]);
        for (int i = d; i < NPY_GROWTH_AXIS_MAX_DIGITS; ++i) dict[n++] = ' ';
    }

    /* magic(6) + version(2) + length(2 or 4) + dict + padding + '\n' */
    size_t prefix = n + 1 + 10 <= 65535 + 10 ? 10 : 12;
    size_t total = prefix + n + 1;
    size_t pad = (NPY_ALIGN - total % NPY_ALIGN) % NPY_ALIGN;
    total += pad;
    if (prefix == 10 && total - 10 > 65535) { /* padding pushed it over */
        prefix = 12;
        total = prefix + n + 1;
        pad = (NPY_ALIGN - total % NPY_ALIGN) % NPY_ALIGN;
        total += pad;
    }
    if (cap < total) return BA_EBUFSIZE;

    size_t hlen = total - prefix;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = prefix == 10 ? 1 : 2;
    buf[7] = 0;
    buf[8] = (char)(hlen & 0xff);
    buf[9] = (char)((hlen >> 8) & 0xff);
    if (prefix == 12) {
        buf[10] = (char)((hlen >> 16) & 0xff);
        buf[11] = (char)((hlen >> 24) & 0xff);
    }
    memcpy(buf + prefix, dict, n);
    memset(buf + prefix + n, ' ', pad);
    buf[total - 1] = '\n';
    *len = total;
    return BA_OK;
}

/* ---------------------------------------------------------------------- */
/*  atomic save                                                            */
/* ---------------------------------------------------------------------- */

int ba_npy_save(const char *path, int dtype, int ndim, const uint64_t *shape, const void *data,
                size_t nbytes, int overwrite)
{
    size_t esize = ba_dtype_size(dtype);
    if (!path || !path[0] || esize == 0 || ndim < 0 || ndim > BA_NPY_MAX_DIMS ||
        (ndim > 0 && !shape) || (!data && nbytes > 0))
        return BA_EINVAL;
    if (path[strlen(path) - 1] == '/') return BA_EINVAL;

    size_t expect;
    int err = ba_internal_array_bytes(dtype, ndim, shape, &expect);
    if (err != BA_OK) return err;
    if (expect != nbytes) return BA_EINVAL;

    char header[256];
    size_t hlen;
    err = ba_npy_header(header, sizeof header, &hlen, dtype, ndim, shape);
    if (err != BA_OK) return err;

    /* the public whole-file writer: temporary file, fsync, rename */
    ba_file_writer *f = NULL;
    err = ba_file_open(&f, path, overwrite);
    if (err != BA_OK) return err;
    err = ba_file_write(f, header, hlen);
    if (err == BA_OK) err = ba_file_write(f, data, nbytes);
    if (err != BA_OK) {
        ba_file_abort(f);
        return err;
    }
    return ba_file_finish(f);
}
