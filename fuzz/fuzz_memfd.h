/* fuzz_memfd.h — the fuzz input as a file in memory, for targets whose parser
 * reads a file descriptor or a path (/proc/self/fd/N). */
#ifndef BA_FUZZ_MEMFD_H
#define BA_FUZZ_MEMFD_H

#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

/* A memfd holding data[0..size), or -1. */
static inline int fuzz_memfd(const char *name, const uint8_t *data, size_t size, unsigned flags)
{
    int fd = memfd_create(name, flags);
    if (fd < 0) return -1;
    for (size_t off = 0; off < size;) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)n;
    }
    return fd;
}

#endif
