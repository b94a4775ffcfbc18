/* ring.c — the shared-memory frame ring: a sealed memfd of page-aligned
 * slots behind one header page. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define RING_MAGIC "BARING01"
#define RING_VERSION 1u
#define RING_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

/* the header as it lies at offset 0 of the file (little-endian host) */
typedef struct ring_header {
    char magic[8];
    uint32_t version;
    uint32_t slots;
    uint64_t slot_size;
    uint64_t data_offset;
} ring_header;

_Static_assert(sizeof(ring_header) == 32, "the header has no padding");

struct ba_ring {
    int fd;
    uint32_t slots;
    size_t slot_size;   /* rounded to the page size */
    size_t data_offset; /* of slot 0 */
    size_t map_size;    /* the whole file */
    uint8_t *base;
};

static size_t page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

/* data_offset + slots * slot_size into *total, within BA_RING_MAX_BYTES and
 * size_t and off_t; 0 on success, 1 on overflow. */
static int ring_total(uint64_t slots, uint64_t slot_size, uint64_t data_offset, size_t *total)
{
    uint64_t t;
    if (__builtin_mul_overflow(slots, slot_size, &t)) return 1;
    if (__builtin_add_overflow(t, data_offset, &t)) return 1;
    if (t > BA_RING_MAX_BYTES || t > SIZE_MAX || t > (uint64_t)INT64_MAX) return 1;
    *total = (size_t)t;
    return 0;
}

static void ring_free(ba_ring *r)
{
    if (r->base != NULL && r->base != MAP_FAILED) munmap(r->base, r->map_size);
    if (r->fd >= 0) close(r->fd);
    free(r);
}

static ba_ring *ring_alloc(void)
{
    ba_ring *r = calloc(1, sizeof *r);
    if (r != NULL) {
        r->fd = -1;
        r->base = NULL;
    }
    return r;
}

int ba_ring_create(ba_ring **out, uint32_t slots, size_t slot_size)
{
    if (out == NULL) return BA_EINVAL;
    *out = NULL;
    if (slots < 1 || slots > BA_RING_MAX_SLOTS || slot_size < 1) return BA_EINVAL;
    size_t page = page_size(), rounded, total;
    if (ba_add_overflow(slot_size, page - 1, &rounded)) return BA_EOVERFLOW;
    rounded -= rounded % page;
    if (ring_total(slots, rounded, page, &total)) return BA_EOVERFLOW;

    ba_ring *r = ring_alloc();
    if (r == NULL) return BA_ENOMEM;
    r->slots = slots;
    r->slot_size = rounded;
    r->data_offset = page;
    r->map_size = total;
    r->fd = memfd_create("blendarray-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (r->fd < 0 || ftruncate(r->fd, (off_t)total) != 0
        || fcntl(r->fd, F_ADD_SEALS, RING_SEALS) != 0) {
        int e = errno;
        ring_free(r);
        errno = e;
        return BA_EIO;
    }
    r->base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
    if (r->base == MAP_FAILED) {
        int e = errno;
        ring_free(r);
        errno = e;
        return BA_EIO;
    }
    ring_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, RING_MAGIC, sizeof h.magic);
    h.version = RING_VERSION;
    h.slots = slots;
    h.slot_size = rounded;
    h.data_offset = page;
    memcpy(r->base, &h, sizeof h);
    *out = r;
    return BA_OK;
}

/* Check a header copied out of a file of `file_size` bytes; the ring's
 * geometry into r. */
static int ring_validate(const ring_header *h, uint64_t file_size, size_t page, ba_ring *r)
{
    size_t total;
    if (memcmp(h->magic, RING_MAGIC, sizeof h->magic) != 0) return BA_EFORMAT;
    if (h->version != RING_VERSION) return BA_EFORMAT;
    if (h->slots < 1 || h->slots > BA_RING_MAX_SLOTS) return BA_EFORMAT;
    if (h->slot_size < 1 || h->slot_size % page != 0) return BA_EFORMAT;
    if (h->data_offset < page || h->data_offset % page != 0) return BA_EFORMAT;
    if (ring_total(h->slots, h->slot_size, h->data_offset, &total)) return BA_EFORMAT;
    if ((uint64_t)total != file_size) return BA_EFORMAT;
    r->slots = h->slots;
    r->slot_size = (size_t)h->slot_size;
    r->data_offset = (size_t)h->data_offset;
    r->map_size = total;
    return BA_OK;
}

int ba_ring_attach(ba_ring **out, int fd)
{
    if (out == NULL) return BA_EINVAL;
    *out = NULL;
    if (fd < 0) return BA_EINVAL;
    size_t page = page_size();
    ba_ring *r = ring_alloc();
    if (r == NULL) return BA_ENOMEM;
    int err = BA_EIO;
    r->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (r->fd < 0) goto fail;

    struct stat st;
    if (fstat(r->fd, &st) != 0) goto fail;
    err = BA_EFORMAT;
    if (!S_ISREG(st.st_mode) || st.st_size < (off_t)page) goto fail;
    /* Without this seal the sender could shrink the file under our mapping
     * and kill us with SIGBUS; only memfds can be sealed. */
    int seals = fcntl(r->fd, F_GET_SEALS);
    if (seals < 0 || !(seals & F_SEAL_SHRINK)) goto fail;

    /* Copy the header once: the other side may rewrite it at any time. */
    void *hp = mmap(NULL, page, PROT_READ, MAP_SHARED, r->fd, 0);
    if (hp == MAP_FAILED) {
        err = BA_EIO;
        goto fail;
    }
    ring_header h;
    memcpy(&h, hp, sizeof h);
    munmap(hp, page);
    err = ring_validate(&h, (uint64_t)st.st_size, page, r);
    if (err != BA_OK) goto fail;

    r->base = mmap(NULL, r->map_size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
    if (r->base == MAP_FAILED) {
        err = BA_EIO;
        goto fail;
    }
    *out = r;
    return BA_OK;
fail:;
    int e = errno;
    ring_free(r);
    errno = e;
    return err;
}

int ba_ring_fd(const ba_ring *ring)
{
    return ring != NULL ? ring->fd : -1;
}

uint32_t ba_ring_slots(const ba_ring *ring)
{
    return ring != NULL ? ring->slots : 0;
}

size_t ba_ring_slot_size(const ba_ring *ring)
{
    return ring != NULL ? ring->slot_size : 0;
}

void *ba_ring_slot(ba_ring *ring, uint32_t index)
{
    if (ring == NULL || index >= ring->slots) return NULL;
    return ring->base + ring->data_offset + (size_t)index * ring->slot_size;
}

void ba_ring_close(ba_ring *ring)
{
    if (ring != NULL) ring_free(ring);
}
