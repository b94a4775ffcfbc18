/* io.c — whole-file reads with pread(), shared by the EXR and PNG readers;
 * removing a folder tree (the worker client and the CLI). */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

long long ba_internal_pread_full(int fd, void *buf, size_t size, uint64_t offset)
{
    size_t done = 0;
    while (done < size) {
        size_t want = size - done;
        if (want > (size_t)1 << 30) want = (size_t)1 << 30;
        if (offset + done > (uint64_t)INT64_MAX) {
            errno = EOVERFLOW;
            return -1;
        }
        ssize_t r = pread(fd, (char *)buf + done, want, (off_t)(offset + done));
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) break; /* end of file */
        done += (size_t)r;
    }
    return (long long)done;
}

int ba_internal_read_fd(int fd, uint8_t **out, size_t *size)
{
    struct stat st;
    *out = NULL;
    *size = 0;
    if (fd < 0) return BA_EINVAL;
    if (fstat(fd, &st) != 0) return BA_EIO;
    if (st.st_size < 0) return BA_EIO;
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX - 1) return BA_EOVERFLOW;
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) return BA_ENOMEM;
    long long got = ba_internal_pread_full(fd, buf, n, 0);
    if (got < 0) {
        int e = errno;
        free(buf);
        errno = e;
        return BA_EIO;
    }
    *out = buf;
    *size = (size_t)got; /* a file that shrank since fstat: what is there */
    return BA_OK;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path); /* best effort: what stays, stays */
    return 0;
}

void ba_internal_rmtree(const char *path)
{
    nftw(path, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}
