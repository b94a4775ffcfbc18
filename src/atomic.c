/* atomic.c — writing a file so that it appears whole or not at all: a
 * temporary name beside it, full writes, fsync, then a rename that never
 * replaces an existing file unless asked. Shared by the NPY, stacked NPY
 * and NPZ writers, and public as ba_file_* for any other file (the CLI's
 * metadata). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"


int ba_atomic_write_all(int fd, const void *data, size_t size)
{
    const char *p = data;
    while (size > 0) {
        size_t chunk = size > ((size_t)1 << 30) ? ((size_t)1 << 30) : size;
        ssize_t w = write(fd, p, chunk);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        p += w;
        size -= (size_t)w;
    }
    return 0;
}

int ba_atomic_pwrite_all(int fd, const void *data, size_t size, uint64_t offset)
{
    const char *p = data;
    while (size > 0) {
        size_t chunk = size > ((size_t)1 << 30) ? ((size_t)1 << 30) : size;
        if (offset > (uint64_t)INT64_MAX) {
            errno = EOVERFLOW;
            return -1;
        }
        ssize_t w = pwrite(fd, p, chunk, (off_t)offset);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        p += w;
        size -= (size_t)w;
        offset += (uint64_t)w;
    }
    return 0;
}

/* Create "<dir>/.<base>.XXXXXX" exclusively (O_EXCL), mode 0666 less the
 * umask as np.save. Returns the fd, -1 (errno set) or -2 (out of memory). */
int ba_atomic_make_temp(const char *path, char **tmp_out, int flags)
{
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
    const char *base = path + dirlen;
    size_t need = strlen(path) + 1 + 1 + 6 + 1 + 1;
    char *tmp = malloc(need);
    if (!tmp) return -2;

    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^
                 ((uint64_t)getpid() << 16) ^ (uint64_t)(uintptr_t)tmp;
    if (!x) x = 0x9E3779B97F4A7C15ull;
    for (int attempt = 0; attempt < 100; ++attempt) {
        char suffix[7];
        for (int i = 0; i < 6; ++i) {
            x ^= x << 13; /* xorshift64 */
            x ^= x >> 7;
            x ^= x << 17;
            suffix[i] = alphabet[x % (sizeof alphabet - 1)];
        }
        suffix[6] = '\0';
        snprintf(tmp, need, "%.*s.%s.%s", (int)dirlen, path, base, suffix);
        int fd = open(tmp, flags | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) {
            *tmp_out = tmp;
            return fd;
        }
        if (errno != EEXIST && errno != EINTR) break;
    }
    int e = errno;
    free(tmp);
    errno = e;
    return -1;
}

/* Move tmp to path; with overwrite == 0 never replace an existing path. */
int ba_atomic_publish(const char *tmp, const char *path, int overwrite)
{
    if (overwrite) return rename(tmp, path) == 0 ? BA_OK : BA_EIO;
#ifdef RENAME_NOREPLACE
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0) return BA_OK;
    if (errno == EEXIST) return BA_EEXIST;
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) return BA_EIO;
#endif
    /* filesystems without RENAME_NOREPLACE: link() never replaces either */
    if (link(tmp, path) != 0) return errno == EEXIST ? BA_EEXIST : BA_EIO;
    unlink(tmp);
    return BA_OK;
}

void ba_atomic_sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = !slash ? strdup(".") : strndup(path, slash == path ? 1 : (size_t)(slash - path));
    if (!dir) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd); /* best effort: the file is already in place */
        close(fd);
    }
    free(dir);
}

int ba_atomic_commit(int fd, const char *tmp, const char *path, int overwrite)
{
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return BA_EIO;
    }
    if (close(fd) != 0) return BA_EIO;
    int err = ba_atomic_publish(tmp, path, overwrite);
    if (err == BA_OK) ba_atomic_sync_parent_dir(path);
    return err;
}

/* ---------------------------------------------------------------------- */
/*  public: any file, whole or not at all                                  */
/* ---------------------------------------------------------------------- */

struct ba_file_writer {
    char *path;
    char *tmp;
    int fd;
    int overwrite;
    int failed; /* a write failed: the content is incomplete */
};

static void file_free(ba_file_writer *f, int remove_tmp)
{
    if (!f) return;
    int e = errno;
    if (f->fd >= 0) close(f->fd);
    if (remove_tmp && f->tmp) unlink(f->tmp);
    free(f->tmp);
    free(f->path);
    free(f);
    errno = e;
}

int ba_file_open(ba_file_writer **out, const char *path, int overwrite)
{
    if (out) *out = NULL;
    if (!out || !path || !path[0] || path[strlen(path) - 1] == '/') return BA_EINVAL;
    if (!overwrite) { /* fail early; publish is the authoritative check */
        struct stat sb;
        if (lstat(path, &sb) == 0) return BA_EEXIST;
    }
    ba_file_writer *f = calloc(1, sizeof *f);
    if (!f) return BA_ENOMEM;
    f->fd = -1;
    f->overwrite = overwrite;
    f->path = strdup(path);
    if (!f->path) {
        file_free(f, 0);
        return BA_ENOMEM;
    }
    f->fd = ba_atomic_make_temp(path, &f->tmp, O_WRONLY);
    if (f->fd < 0) {
        int err = f->fd == -2 ? BA_ENOMEM : BA_EIO;
        f->fd = -1;
        file_free(f, 0);
        return err;
    }
    *out = f;
    return BA_OK;
}

int ba_file_write(ba_file_writer *f, const void *data, size_t size)
{
    if (!f || (!data && size > 0)) return BA_EINVAL;
    if (f->failed) return BA_ESTATE;
    if (ba_atomic_write_all(f->fd, data, size) != 0) {
        f->failed = 1; /* part of it may be in the file now */
        return BA_EIO;
    }
    return BA_OK;
}

int ba_file_finish(ba_file_writer *f)
{
    if (!f) return BA_EINVAL;
    if (f->failed) {
        file_free(f, 1);
        return BA_ESTATE;
    }
    int fd = f->fd;
    f->fd = -1;
    int err = ba_atomic_commit(fd, f->tmp, f->path, f->overwrite);
    file_free(f, err != BA_OK);
    return err;
}

void ba_file_abort(ba_file_writer *f)
{
    file_free(f, 1);
}

int ba_file_save(const char *path, const void *data, size_t size, int overwrite)
{
    if (!data && size > 0) return BA_EINVAL;
    ba_file_writer *f = NULL;
    int err = ba_file_open(&f, path, overwrite);
    if (err != BA_OK) return err;
    err = ba_file_write(f, data, size);
    if (err != BA_OK) {
        ba_file_abort(f);
        return err;
    }
    return ba_file_finish(f);
}
