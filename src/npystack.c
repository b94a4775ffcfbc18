/* npystack.c — one (N, ...) NPY array written frame by frame.
 *
 * The header is written first with N = 0. NumPy (>= 1.24) pads the dict so
 * that the first axis can grow to 21 digits without changing the header's
 * length, and ba_npy_header() does the same: finish rewrites it in place
 * with the final N (pwrite at offset 0), then fsync and rename.
 *
 * Also home of the small atomic-file helpers npz.c shares (hidden symbols,
 * declared again at the top of npz.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* ---------------------------------------------------------------------- */

struct ba_npy_stack {
    char *path;
    char *tmp;
    int fd;
    int overwrite;
    int failed; /* an append failed: the file is unusable */
    int dtype;
    int ndim; /* including the leading N axis */
    uint64_t shape[BA_NPY_MAX_DIMS];
    size_t header_len;
    size_t frame_bytes;
    size_t frame_nonzero; /* bytes of a frame, zero dimensions left out */
    uint64_t frames;
    uint64_t end; /* bytes written so far */
};

static void stack_free(ba_npy_stack *st, int remove_tmp)
{
    if (!st) return;
    int e = errno;
    if (st->fd >= 0) close(st->fd);
    if (remove_tmp && st->tmp) unlink(st->tmp);
    free(st->tmp);
    free(st->path);
    free(st);
    errno = e;
}

int ba_npy_stack_open(ba_npy_stack **out, const char *path, int dtype, int frame_ndim,
                      const uint64_t *frame_shape, int overwrite)
{
    if (out) *out = NULL;
    size_t esize = ba_dtype_size(dtype);
    if (!out || !path || !path[0] || esize == 0 || frame_ndim < 0 ||
        frame_ndim > BA_NPY_MAX_DIMS - 1 || (frame_ndim > 0 && !frame_shape))
        return BA_EINVAL;
    if (path[strlen(path) - 1] == '/') return BA_EINVAL;

    /* as numpy: the non-zero dimensions' product must fit, even when
     * another dimension is 0 */
    size_t frame_bytes = esize;
    int empty = 0;
    for (int i = 0; i < frame_ndim; ++i) {
        if (frame_shape[i] == 0) {
            empty = 1;
            continue;
        }
        if (frame_shape[i] > SIZE_MAX ||
            ba_mul_overflow(frame_bytes, (size_t)frame_shape[i], &frame_bytes) ||
            (uint64_t)frame_bytes > (uint64_t)INT64_MAX)
            return BA_EOVERFLOW;
    }
    size_t frame_nonzero = frame_bytes;
    if (empty) frame_bytes = 0;

    ba_npy_stack *st = calloc(1, sizeof *st);
    if (!st) return BA_ENOMEM;
    st->fd = -1;
    st->overwrite = overwrite;
    st->dtype = dtype;
    st->ndim = frame_ndim + 1;
    st->shape[0] = 0;
    for (int i = 0; i < frame_ndim; ++i) st->shape[i + 1] = frame_shape[i];
    st->frame_bytes = frame_bytes;
    st->frame_nonzero = frame_nonzero;
    st->path = strdup(path);
    if (!st->path) {
        stack_free(st, 0);
        return BA_ENOMEM;
    }

    char header[256];
    int err = ba_npy_header(header, sizeof header, &st->header_len, dtype, st->ndim, st->shape);
    if (err != BA_OK) {
        stack_free(st, 0);
        return err;
    }
    /* the header's length must not depend on N: check with the largest N */
    {
        char big[256];
        size_t big_len;
        uint64_t shape[BA_NPY_MAX_DIMS];
        memcpy(shape, st->shape, sizeof shape);
        shape[0] = (uint64_t)INT64_MAX;
        if (ba_npy_header(big, sizeof big, &big_len, dtype, st->ndim, shape) != BA_OK ||
            big_len != st->header_len) {
            stack_free(st, 0);
            return BA_EOVERFLOW;
        }
    }

    if (!overwrite) {
        struct stat sb;
        if (lstat(path, &sb) == 0) {
            stack_free(st, 0);
            return BA_EEXIST;
        }
    }
    st->fd = ba_atomic_make_temp(path, &st->tmp, O_WRONLY);
    if (st->fd == -2) {
        st->fd = -1;
        stack_free(st, 0);
        return BA_ENOMEM;
    }
    if (st->fd < 0) {
        stack_free(st, 0);
        return BA_EIO;
    }
    if (ba_atomic_write_all(st->fd, header, st->header_len) != 0) {
        stack_free(st, 1);
        return BA_EIO;
    }
    st->end = st->header_len;
    *out = st;
    return BA_OK;
}

int ba_npy_stack_append(ba_npy_stack *st, const void *data, size_t nbytes)
{
    if (!st || (!data && nbytes > 0)) return BA_EINVAL;
    if (st->failed) return BA_ESTATE;
    if (nbytes != st->frame_bytes) return BA_EINVAL;
    /* the final header must still parse: (N + 1) * frame within int64 */
    uint64_t end, all;
    if (__builtin_mul_overflow(st->frames + 1, (uint64_t)st->frame_nonzero, &all) ||
        all > (uint64_t)INT64_MAX || __builtin_add_overflow(st->end, nbytes, &end) ||
        end > (uint64_t)INT64_MAX)
        return BA_EOVERFLOW;
    if (ba_atomic_write_all(st->fd, data, nbytes) != 0) {
        st->failed = 1; /* a partial frame may be in the file now */
        return BA_EIO;
    }
    st->end = end;
    st->frames++;
    return BA_OK;
}

int ba_npy_stack_finish(ba_npy_stack *st)
{
    if (!st) return BA_EINVAL;
    if (st->failed) {
        stack_free(st, 1);
        return BA_ESTATE;
    }
    st->shape[0] = st->frames;
    char header[256];
    size_t len;
    int err = ba_npy_header(header, sizeof header, &len, st->dtype, st->ndim, st->shape);
    if (err == BA_OK && len != st->header_len) err = BA_EOVERFLOW; /* cannot happen */
    if (err != BA_OK) {
        stack_free(st, 1);
        return err;
    }
    if (ba_atomic_pwrite_all(st->fd, header, len, 0) != 0) {
        stack_free(st, 1);
        return BA_EIO;
    }
    int fd = st->fd;
    st->fd = -1;
    err = ba_atomic_commit(fd, st->tmp, st->path, st->overwrite);
    stack_free(st, err != BA_OK);
    return err;
}

void ba_npy_stack_abort(ba_npy_stack *st)
{
    stack_free(st, 1);
}
