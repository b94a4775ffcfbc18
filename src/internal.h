/* internal.h — helpers shared by the library's sources; not installed. */
#ifndef BA_INTERNAL_H
#define BA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "blendarray.h"

/* The worker protocol's version (docs/protocol.md), sent in "init" and checked
 * by both ends; python/blendarray/_protocol.py VERSION is the same number. */
#define BA_PROTOCOL_VERSION 1

/* a * b into *out; returns 0 on success, 1 if it would overflow SIZE_MAX. */
static inline int ba_mul_overflow(size_t a, size_t b, size_t *out)
{
    return __builtin_mul_overflow(a, b, out);
}

static inline int ba_add_overflow(size_t a, size_t b, size_t *out)
{
    return __builtin_add_overflow(a, b, out);
}

/* Bytes an image of `rows` rows of `row_bytes` bytes occupies when rows are
 * `row_stride` bytes apart: (rows - 1) * row_stride + row_bytes; the last
 * row need not be padded. rows > 0, row_stride >= row_bytes. */
static inline int ba_image_span(size_t rows, size_t row_stride, size_t row_bytes, size_t *out)
{
    size_t t;
    if (rows == 0) {
        *out = 0;
        return 0;
    }
    if (ba_mul_overflow(rows - 1, row_stride, &t)) return 1;
    return ba_add_overflow(t, row_bytes, out);
}

/* Read the whole of a regular file (or memfd) with pread() into a malloc'd
 * buffer. Returns BA_OK, BA_EIO (errno set), BA_ENOMEM, BA_EOVERFLOW. */
int ba_internal_read_fd(int fd, uint8_t **out, size_t *size);

/* pread() exactly `size` bytes at `offset`, retrying on EINTR and short
 * reads; returns the number of bytes read (less than size only at EOF), or
 * -1 with errno set. */
long long ba_internal_pread_full(int fd, void *buf, size_t size, uint64_t offset);

/* atomic.c: whole files or nothing. write_all/pwrite_all: 0 or -1 (errno);
 * make_temp: "<dir>/.<base>.XXXXXX" created O_EXCL (mode 0666 less the umask,
 * as np.save), returns the fd, -1 (errno) or -2 (out of memory); publish:
 * rename tmp to path, never replacing an existing path unless overwrite
 * (BA_OK, BA_EEXIST, BA_EIO); sync_parent_dir: best-effort fsync of the folder. */
int ba_atomic_write_all(int fd, const void *data, size_t size);
int ba_atomic_pwrite_all(int fd, const void *data, size_t size, uint64_t offset);
int ba_atomic_make_temp(const char *path, char **tmp_out, int flags);
int ba_atomic_publish(const char *tmp, const char *path, int overwrite);
void ba_atomic_sync_parent_dir(const char *path);
/* commit: fsync and close fd (always closed), publish tmp as path, sync the
 * folder; BA_OK, BA_EEXIST or BA_EIO (errno set). The caller removes tmp on
 * failure. */
int ba_atomic_commit(int fd, const char *tmp, const char *path, int overwrite);

/* frames.c: a decimal integer in [lo, hi] filling the whole of s (strtoll's
 * syntax); 0, or -1 if it is not one. */
int ba_internal_parse_int(const char *s, long long lo, long long hi, long long *out);

/* io.c: remove a folder and everything in it, not following symbolic links;
 * best effort (what cannot be removed stays). */
void ba_internal_rmtree(const char *path);

/* worker.c: whether `dir` is a blendarray package folder that workers can run
 * (it has blender/worker_main.py): 0 with the version its _version.py names in
 * `version` ("" when it has none), or -1. The library's default package folder
 * and the command's search (cli/locate.c) take only their own version's. */
int ba_internal_package_version(const char *dir, char *version, size_t cap);

/* npy.c: bytes of a C-order array of `dtype` and `shape` (each dimension at
 * most INT64_MAX, and the byte size of the non-zero dimensions too, even when
 * another is 0, as NumPy requires); BA_EOVERFLOW if it does not fit. */
int ba_internal_array_bytes(int dtype, int ndim, const uint64_t *shape, size_t *out);

/* pngwrite.c: an 8-bit PNG of `channels` (1..4) encoded into memory, as
 * ba_png_save() writes it to a file (fast != 0: one filter, Sub, on every
 * row, not libpng's choice per row: about three times faster at level 1):
 * into *buf (malloc'd, grown with realloc; *cap its size: the caller keeps it
 * between calls and frees it), *len the PNG's bytes. The same pixels and
 * settings give the same bytes. BA_OK, BA_EINVAL, BA_EOVERFLOW, BA_ENOMEM. */
int ba_internal_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height,
                           size_t row_stride, int channels, int compression, int fast,
                           uint8_t **buf, size_t *cap, size_t *len);

/* coco.c: a COCO file of records only, for a caller that stores the images
 * itself (the shard writer): open_file starts the COCO file `path` (written
 * atomically by ba_coco_finish(), with no date in its "info"; no folder, no
 * PNG), add_record checks the labels of `meta` (a jansson object, the
 * frame's metadata) and appends the image record (id `image_id`, file_name
 * `file_name`, unique ids are the caller's to keep) and its annotations.
 * Errors and states as ba_coco_open() / ba_coco_add(). */
struct json_t;
int ba_internal_coco_open_file(ba_coco_writer *w, const char *path);
int ba_internal_coco_add_record(ba_coco_writer *w, uint32_t width, uint32_t height,
                                const struct json_t *meta, int64_t image_id, const char *file_name);

#endif
