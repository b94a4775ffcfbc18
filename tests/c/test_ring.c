/* test_ring.c — the shared-memory frame ring: geometry, round trips between
 * mappings and processes, seals, and hostile headers rejected. */
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "blendarray.h"
#include "check.h"
#include "fixtures.h"

static size_t g_page;

static int open_fds(void)
{
    return fx_count_entries("/proc/self/fd");
}

/* a ring header as ring.c lays it out */
struct hdr {
    char magic[8];
    uint32_t version;
    uint32_t slots;
    uint64_t slot_size;
    uint64_t data_offset;
};

static struct hdr good_hdr(uint32_t slots, uint64_t slot_size)
{
    struct hdr h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, "BARING01", 8);
    h.version = 1;
    h.slots = slots;
    h.slot_size = slot_size;
    h.data_offset = g_page;
    return h;
}

/* A memfd of `size` bytes starting with `hdr_len` bytes of hdr, sealed
 * against shrinking when `seal`. */
static int make_file(const void *hdr, size_t hdr_len, size_t size, int seal)
{
    int fd = memfd_create("ring-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return -1;
    if (ftruncate(fd, (off_t)size) != 0) goto fail;
    if (hdr_len > size) hdr_len = size;
    if (hdr_len && pwrite(fd, hdr, hdr_len, 0) != (ssize_t)hdr_len) goto fail;
    if (seal && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0) goto fail;
    return fd;
fail:
    close(fd);
    return -1;
}

static int attach_hdr(const struct hdr *h, size_t size)
{
    int fd = make_file(h, sizeof *h, size, 1);
    if (fd < 0) return -1;
    ba_ring *r = (ba_ring *)0x1;
    int rc = ba_ring_attach(&r, fd);
    if (rc != BA_OK && r != NULL) rc = -2; /* *out must be NULL on failure */
    ba_ring_close(r);
    close(fd);
    return rc;
}

static void test_create_geometry(void)
{
    ba_ring *r = NULL;
    CHECK_RC(ba_ring_create(&r, 3, 1), BA_OK);
    REQUIRE(r != NULL);
    CHECK_INT(ba_ring_slots(r), 3);
    CHECK_INT(ba_ring_slot_size(r), g_page);
    CHECK(ba_ring_fd(r) >= 0);
    CHECK(fcntl(ba_ring_fd(r), F_GETFD) & FD_CLOEXEC);
    struct stat st;
    CHECK(fstat(ba_ring_fd(r), &st) == 0 && (size_t)st.st_size == 4 * g_page);
    uint8_t *s0 = ba_ring_slot(r, 0);
    REQUIRE(s0 != NULL);
    for (uint32_t i = 0; i < 3; i++) {
        uint8_t *s = ba_ring_slot(r, i);
        CHECK(((uintptr_t)s % g_page) == 0);
        CHECK(s == s0 + i * g_page);
        CHECK(s[0] == 0 && s[g_page - 1] == 0);
        memset(s, (int)i + 1, g_page); /* writable end to end */
    }
    CHECK(ba_ring_slot(r, 3) == NULL);
    CHECK(ba_ring_slot(r, UINT32_MAX) == NULL);
    ba_ring_close(r);

    CHECK_RC(ba_ring_create(&r, 2, g_page + 1), BA_OK);
    CHECK_INT(ba_ring_slot_size(r), 2 * g_page);
    ba_ring_close(r);
    CHECK_RC(ba_ring_create(&r, 1, 3 * g_page), BA_OK);
    CHECK_INT(ba_ring_slot_size(r), 3 * g_page);
    ba_ring_close(r);
    /* large but sparse: nothing is touched */
    CHECK_RC(ba_ring_create(&r, BA_RING_MAX_SLOTS, (size_t)1 << 20), BA_OK);
    CHECK(ba_ring_slot(r, BA_RING_MAX_SLOTS - 1) != NULL);
    ba_ring_close(r);

    /* NULL accessors */
    CHECK_INT(ba_ring_fd(NULL), -1);
    CHECK_INT(ba_ring_slots(NULL), 0);
    CHECK_INT(ba_ring_slot_size(NULL), 0);
    CHECK(ba_ring_slot(NULL, 0) == NULL);
    ba_ring_close(NULL);
}

static void test_create_bad_arguments(void)
{
    int before = open_fds();
    ba_ring *r = (ba_ring *)0x1;
    CHECK_RC(ba_ring_create(NULL, 1, 1), BA_EINVAL);
    CHECK_RC(ba_ring_create(&r, 0, 1), BA_EINVAL);
    CHECK(r == NULL);
    CHECK_RC(ba_ring_create(&r, 1, 0), BA_EINVAL);
    CHECK_RC(ba_ring_create(&r, BA_RING_MAX_SLOTS + 1, 1), BA_EINVAL);
    CHECK_RC(ba_ring_create(&r, UINT32_MAX, 1), BA_EINVAL);
    CHECK_RC(ba_ring_create(&r, 1, SIZE_MAX), BA_EOVERFLOW);
    CHECK_RC(ba_ring_create(&r, 1, SIZE_MAX - g_page), BA_EOVERFLOW);
    CHECK_RC(ba_ring_create(&r, 2, SIZE_MAX / 2), BA_EOVERFLOW);
    CHECK_RC(ba_ring_create(&r, 1, (size_t)BA_RING_MAX_BYTES), BA_EOVERFLOW); /* + header */
    CHECK_RC(ba_ring_create(&r, 1024, (size_t)BA_RING_MAX_BYTES / 1024), BA_EOVERFLOW);
    CHECK(r == NULL);
    CHECK_INT(open_fds(), before);
}

static void test_attach_same_process(void)
{
    ba_ring *a = NULL, *b = NULL;
    CHECK_RC(ba_ring_create(&a, 4, 10000), BA_OK);
    REQUIRE(a != NULL);
    int before = open_fds();
    CHECK_RC(ba_ring_attach(&b, ba_ring_fd(a)), BA_OK);
    REQUIRE(b != NULL);
    CHECK_INT(open_fds(), before + 1); /* its own dup */
    CHECK(ba_ring_fd(b) != ba_ring_fd(a));
    CHECK(fcntl(ba_ring_fd(b), F_GETFD) & FD_CLOEXEC);
    CHECK_INT(ba_ring_slots(b), 4);
    CHECK_INT(ba_ring_slot_size(b), ba_ring_slot_size(a));
    size_t n = ba_ring_slot_size(a);
    for (uint32_t i = 0; i < 4; i++) {
        uint8_t *wa = ba_ring_slot(a, i), *rb = ba_ring_slot(b, i);
        CHECK(wa != rb);
        for (size_t k = 0; k < n; k++) wa[k] = (uint8_t)(k * 7 + i);
        CHECK(memcmp(wa, rb, n) == 0);
        rb[n - 1] = 0xAB; /* and back */
        CHECK(wa[n - 1] == 0xAB);
    }
    ba_ring_close(b);
    CHECK_INT(open_fds(), before);
    CHECK(fcntl(ba_ring_fd(a), F_GETFD) >= 0); /* the caller's fd is untouched */
    /* the creator's mapping outlives the attached one */
    CHECK(((uint8_t *)ba_ring_slot(a, 3))[n - 1] == 0xAB);

    /* attached from a dup the caller then closes: the ring keeps its own */
    int d = dup(ba_ring_fd(a));
    CHECK_RC(ba_ring_attach(&b, d), BA_OK);
    close(d);
    REQUIRE(b != NULL);
    CHECK(((uint8_t *)ba_ring_slot(b, 3))[n - 1] == 0xAB);
    ba_ring_close(b);
    ba_ring_close(a);
}

static void test_seals(void)
{
    ba_ring *r = NULL;
    CHECK_RC(ba_ring_create(&r, 2, 100), BA_OK);
    REQUIRE(r != NULL);
    int fd = ba_ring_fd(r);
    int seals = fcntl(fd, F_GET_SEALS);
    CHECK_HEX(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
              F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
    errno = 0;
    CHECK(ftruncate(fd, 0) != 0 && errno == EPERM);
    CHECK(ftruncate(fd, (off_t)g_page) != 0);
    CHECK(ftruncate(fd, (off_t)(100 * g_page)) != 0);
    CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) != 0); /* sealed seals */
    /* the same through another descriptor to the file, as a peer would have */
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int other = open(path, O_RDWR | O_CLOEXEC);
    CHECK(other >= 0);
    if (other >= 0) {
        CHECK(ftruncate(other, 0) != 0);
        close(other);
    }
    struct stat st;
    CHECK(fstat(fd, &st) == 0 && (size_t)st.st_size == 3 * g_page);
    /* the mapping is whole: the last byte is still there */
    uint8_t *last = (uint8_t *)ba_ring_slot(r, 1) + ba_ring_slot_size(r) - 1;
    *last = 9;
    CHECK(*last == 9);
    ba_ring_close(r);
}

/* the child: receive the ring's fd over the socket, attach, check the
 * parent's bytes, write its own, report. Returns the exit status. */
static int child_attach(int sock)
{
    char buf[16];
    size_t len = 0;
    int fds[1], nfds = 1;
    if (ba_msg_recv(sock, buf, sizeof buf, &len, fds, &nfds, 5000) != BA_OK || nfds != 1)
        return 10;
    ba_ring *r = NULL;
    if (ba_ring_attach(&r, fds[0]) != BA_OK) return 11;
    close(fds[0]);
    if (ba_ring_slots(r) != 3) return 12;
    size_t n = ba_ring_slot_size(r);
    for (uint32_t i = 0; i < 3; i++) {
        uint8_t *s = ba_ring_slot(r, i);
        for (size_t k = 0; k < n; k++)
            if (s[k] != (uint8_t)(k + i)) return 13;
        for (size_t k = 0; k < n; k++) s[k] = (uint8_t)(255 - k - i);
    }
    ba_ring_close(r);
    if (ba_msg_send(sock, "done", 4, NULL, 0) != BA_OK) return 14;
    return 0;
}

static void test_attach_from_child(void)
{
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        _exit(child_attach(sv[1]));
    }
    close(sv[1]);
    /* created after the fork: the child sees it only through the fd */
    ba_ring *r = NULL;
    CHECK_RC(ba_ring_create(&r, 3, 5000), BA_OK);
    size_t n = ba_ring_slot_size(r);
    for (uint32_t i = 0; i < 3 && r; i++) {
        uint8_t *s = ba_ring_slot(r, i);
        for (size_t k = 0; k < n; k++) s[k] = (uint8_t)(k + i);
    }
    int fd = ba_ring_fd(r);
    CHECK_RC(ba_msg_send(sv[0], "ring", 4, &fd, 1), BA_OK);
    char buf[16];
    size_t len = 0;
    CHECK_RC(ba_msg_recv(sv[0], buf, sizeof buf, &len, NULL, NULL, 10000), BA_OK);
    CHECK(len == 4 && memcmp(buf, "done", 4) == 0);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK_INT(WEXITSTATUS(status), 0);
    int bad = 0;
    for (uint32_t i = 0; i < 3 && r; i++) {
        uint8_t *s = ba_ring_slot(r, i);
        for (size_t k = 0; k < n; k++) bad += s[k] != (uint8_t)(255 - k - i);
    }
    CHECK_INT(bad, 0);
    ba_ring_close(r);
    close(sv[0]);
}

static void test_bad_headers(void)
{
    int before = open_fds();
    size_t p = g_page;
    struct hdr h = good_hdr(2, p);
    CHECK_RC(attach_hdr(&h, 3 * p), BA_OK); /* the control */

    h = good_hdr(2, p);
    memcpy(h.magic, "BARING02", 8);
    CHECK_RC(attach_hdr(&h, 3 * p), BA_EFORMAT);
    h = good_hdr(2, p);
    memset(h.magic, 0, 8);
    CHECK_RC(attach_hdr(&h, 3 * p), BA_EFORMAT);
    h = good_hdr(2, p);
    h.version = 2;
    CHECK_RC(attach_hdr(&h, 3 * p), BA_EFORMAT);
    h = good_hdr(2, p);
    h.version = 0;
    CHECK_RC(attach_hdr(&h, 3 * p), BA_EFORMAT);

    /* slots */
    h = good_hdr(0, p);
    CHECK_RC(attach_hdr(&h, p), BA_EFORMAT);
    CHECK_RC(attach_hdr(&h, 3 * p), BA_EFORMAT);
    h = good_hdr(3, p); /* one more slot than the file holds */
    CHECK_RC(attach_hdr(&h, 3 * p), BA_EFORMAT);
    h = good_hdr(1, p); /* a file larger than described */
    CHECK_RC(attach_hdr(&h, 3 * p), BA_EFORMAT);
    h = good_hdr(BA_RING_MAX_SLOTS + 1, p);
    CHECK_RC(attach_hdr(&h, 3 * p), BA_EFORMAT);
    h = good_hdr(UINT32_MAX, p);
    CHECK_RC(attach_hdr(&h, 3 * p), BA_EFORMAT);

    /* slot sizes */
    h = good_hdr(2, 0);
    CHECK_RC(attach_hdr(&h, p), BA_EFORMAT);
    h = good_hdr(2, p / 2); /* not page aligned, though it fits */
    CHECK_RC(attach_hdr(&h, 2 * p), BA_EFORMAT);
    h = good_hdr(2, 2 * p); /* slots * slot_size beyond the file */
    CHECK_RC(attach_hdr(&h, 3 * p), BA_EFORMAT);
    h = good_hdr(2, UINT64_MAX - p + 1); /* page aligned, product overflows */
    CHECK_RC(attach_hdr(&h, 3 * p), BA_EFORMAT);
    h = good_hdr(1, (uint64_t)1 << 63);
    CHECK_RC(attach_hdr(&h, 3 * p), BA_EFORMAT);
    h = good_hdr(BA_RING_MAX_SLOTS, (uint64_t)1 << 50);
    CHECK_RC(attach_hdr(&h, 3 * p), BA_EFORMAT);
    /* wraps around to exactly the file size: 2^64 + 2p */
    h = good_hdr(1, (uint64_t)0 - p);
    h.data_offset = 3 * p;
    CHECK_RC(attach_hdr(&h, 2 * p), BA_EFORMAT);

    /* data offsets */
    h = good_hdr(2, p);
    h.data_offset = 0; /* slots over the header */
    CHECK_RC(attach_hdr(&h, 2 * p), BA_EFORMAT);
    h.data_offset = 32;
    CHECK_RC(attach_hdr(&h, 2 * p + 32), BA_EFORMAT);
    h.data_offset = 2 * p; /* a valid, larger header area */
    CHECK_RC(attach_hdr(&h, 4 * p), BA_OK);
    h.data_offset = UINT64_MAX - p + 1;
    CHECK_RC(attach_hdr(&h, 3 * p), BA_EFORMAT);

    /* files too small for a header page */
    h = good_hdr(1, p);
    CHECK_RC(attach_hdr(&h, 0), BA_EFORMAT);
    CHECK_RC(attach_hdr(&h, sizeof h), BA_EFORMAT);
    CHECK_RC(attach_hdr(&h, p - 1), BA_EFORMAT);
    CHECK_INT(open_fds(), before);
}

static void test_attach_bad_files(void)
{
    int before = open_fds();
    ba_ring *r = (ba_ring *)0x1;
    CHECK_RC(ba_ring_attach(NULL, 0), BA_EINVAL);
    CHECK_RC(ba_ring_attach(&r, -1), BA_EINVAL);
    CHECK(r == NULL);
    CHECK_RC(ba_ring_attach(&r, 1000000), BA_EIO); /* not open */

    /* a valid header in a file nobody sealed: could be truncated under us */
    struct hdr h = good_hdr(2, g_page);
    int fd = make_file(&h, sizeof h, 3 * g_page, 0);
    REQUIRE(fd >= 0);
    CHECK_RC(ba_ring_attach(&r, fd), BA_EFORMAT);
    CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) == 0);
    CHECK_RC(ba_ring_attach(&r, fd), BA_OK);
    ba_ring_close(r);

    /* a read-only descriptor cannot be mapped for writing */
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int ro = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(ro >= 0);
    CHECK_RC(ba_ring_attach(&r, ro), BA_EIO);
    CHECK(r == NULL);
    close(ro);
    close(fd);

    /* a regular file (cannot be sealed), a pipe, a socket */
    FILE *f = tmpfile();
    REQUIRE(f != NULL);
    CHECK(fwrite(&h, sizeof h, 1, f) == 1 && fflush(f) == 0);
    CHECK(ftruncate(fileno(f), (off_t)(3 * g_page)) == 0);
    CHECK_RC(ba_ring_attach(&r, fileno(f)), BA_EFORMAT);
    fclose(f);
    int pp[2];
    REQUIRE(pipe(pp) == 0);
    CHECK_RC(ba_ring_attach(&r, pp[0]), BA_EFORMAT);
    close(pp[0]);
    close(pp[1]);
    CHECK(r == NULL);
    CHECK_INT(open_fds(), before);
}

/* a header rewritten after attach changes nothing for the attached side */
static void test_header_read_once(void)
{
    ba_ring *a = NULL, *b = NULL;
    CHECK_RC(ba_ring_create(&a, 2, 1), BA_OK);
    REQUIRE(a != NULL);
    CHECK_RC(ba_ring_attach(&b, ba_ring_fd(a)), BA_OK);
    REQUIRE(b != NULL);
    struct hdr evil = good_hdr(UINT32_MAX, (uint64_t)1 << 40);
    uint8_t *base = (uint8_t *)ba_ring_slot(a, 0) - g_page;
    memcpy(base, &evil, sizeof evil);
    CHECK_INT(ba_ring_slots(b), 2);
    CHECK(ba_ring_slot(b, 2) == NULL);
    /* and a new attach sees the corruption */
    ba_ring *c = NULL;
    CHECK_RC(ba_ring_attach(&c, ba_ring_fd(a)), BA_EFORMAT);
    ba_ring_close(b);
    ba_ring_close(a);
}

int main(void)
{
    signal(SIGPIPE, SIG_DFL);
    g_page = (size_t)sysconf(_SC_PAGESIZE);
    RUN(test_create_geometry);
    RUN(test_create_bad_arguments);
    RUN(test_attach_same_process);
    RUN(test_seals);
    RUN(test_attach_from_child);
    RUN(test_bad_headers);
    RUN(test_attach_bad_files);
    RUN(test_header_read_once);
    return t_summary();
}
