/* msg.c — control messages with descriptors over AF_UNIX SOCK_SEQPACKET,
 * and the peer credential check. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* room for BA_MSG_MAX_FDS descriptors, aligned for struct cmsghdr; a peer
 * that sends more gets MSG_CTRUNC (the kernel drops what does not fit). */
typedef union cmsg_buf {
    char buf[CMSG_SPACE(sizeof(int) * BA_MSG_MAX_FDS)];
    struct cmsghdr align;
} cmsg_buf;

#define CMSG_MAX_FDS (sizeof(cmsg_buf) / sizeof(int))

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* poll() for `events` until `deadline` (now_us() units; forever if
 * deadline < 0), EINTR continuing with the remaining time. 1 ready, 0 timed
 * out, -1 error (errno set). */
static int wait_for(int sock, short events, int64_t deadline)
{
    for (;;) {
        int wait = -1;
        if (deadline >= 0) {
            /* whole milliseconds, rounded up: never return early */
            int64_t left = (deadline - now_us() + 999) / 1000;
            wait = left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
        }
        struct pollfd p = {.fd = sock, .events = events, .revents = 0};
        int r = poll(&p, 1, wait);
        if (r > 0) {
            if (p.revents & POLLNVAL) {
                errno = EBADF;
                return -1;
            }
            return 1; /* ready, or HUP/ERR: the next call reports it */
        }
        if (r == 0) {
            /* poll() may wake a little early; only the deadline decides */
            if (deadline >= 0 && now_us() >= deadline) return 0;
            continue;
        }
        if (errno != EINTR) return -1;
    }
}

int ba_msg_send(int sock, const void *data, size_t len, const int *fds, int nfds)
{
    if (sock < 0 || data == NULL || len < 1 || len > BA_MSG_MAX) return BA_EINVAL;
    if (nfds < 0 || nfds > BA_MSG_MAX_FDS || (nfds > 0 && fds == NULL)) return BA_EINVAL;
    for (int i = 0; i < nfds; i++)
        if (fds[i] < 0) return BA_EINVAL;

    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    cmsg_buf cb;
    if (nfds > 0) {
        memset(&cb, 0, sizeof cb);
        msg.msg_control = cb.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    int grown = 0;
    for (;;) {
        ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
        if (n >= 0) {
            if ((size_t)n == len) return BA_OK;
            errno = EMSGSIZE; /* cannot happen on SOCK_SEQPACKET */
            return BA_EIO;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (wait_for(sock, POLLOUT, -1) < 0) return BA_EIO;
            continue;
        }
        if (errno == EMSGSIZE && !grown) {
            /* The kernel refuses datagrams above the send buffer (less a
             * little); grow it once (the kernel doubles the value and caps
             * it at wmem_max) and try again. */
            grown = 1;
            int want = (int)(len + 65536);
            if (setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &want, sizeof want) == 0) continue;
            errno = EMSGSIZE;
            return BA_EIO;
        }
        if (errno == EPIPE || errno == ECONNRESET) return BA_ECLOSED;
        return BA_EIO;
    }
}

static void close_all(const int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++) close(fds[i]);
}

int ba_msg_recv(int sock, void *buf, size_t cap, size_t *len, int *fds, int *nfds,
                int timeout_ms)
{
    if (len != NULL) *len = 0;
    int want_fds = nfds != NULL ? *nfds : 0;
    if (nfds != NULL) *nfds = 0;
    if (sock < 0 || buf == NULL || cap < 1 || len == NULL) return BA_EINVAL;
    if (want_fds < 0 || (want_fds > 0 && fds == NULL) || timeout_ms < -1) return BA_EINVAL;

    int64_t deadline = timeout_ms >= 0 ? now_us() + (int64_t)timeout_ms * 1000 : -1;
    for (;;) {
        int w = wait_for(sock, POLLIN, deadline);
        if (w == 0) return BA_ETIMEDOUT;
        if (w < 0) return BA_EIO;

        struct iovec iov = {.iov_base = buf, .iov_len = cap};
        cmsg_buf cb;
        struct msghdr msg;
        memset(&msg, 0, sizeof msg);
        memset(&cb, 0, sizeof cb);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cb.buf;
        msg.msg_controllen = sizeof cb.buf;
        /* MSG_DONTWAIT: if another reader took the message since poll(),
         * go back to waiting instead of blocking past the timeout. */
        ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
            if (errno == ECONNRESET) return BA_ECLOSED;
            return BA_EIO;
        }

        /* Collect every descriptor first, whatever else is wrong, so that
         * none leaks. */
        int got[CMSG_MAX_FDS];
        size_t ngot = 0;
        int bad = (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_len < CMSG_LEN(0)) { /* malformed: stop walking */
                bad = 1;
                break;
            }
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
                bad = 1;
                continue;
            }
            size_t bytes = c->cmsg_len - CMSG_LEN(0);
            const unsigned char *p = CMSG_DATA(c);
            for (size_t i = 0; i + sizeof(int) <= bytes; i += sizeof(int)) {
                int fd;
                memcpy(&fd, p + i, sizeof fd);
                if (ngot < CMSG_MAX_FDS) {
                    got[ngot++] = fd;
                } else { /* cannot happen: the buffer holds no more */
                    close(fd);
                    bad = 1;
                }
            }
        }
        if (n == 0) { /* end of stream (ba_msg_send never sends empty messages) */
            close_all(got, ngot);
            return BA_ECLOSED;
        }
        if (bad || ngot > (size_t)want_fds || ngot > BA_MSG_MAX_FDS) {
            close_all(got, ngot);
            return BA_EFORMAT;
        }
        if (ngot > 0) memcpy(fds, got, ngot * sizeof(int));
        if (nfds != NULL) *nfds = (int)ngot;
        *len = (size_t)n;
        return BA_OK;
    }
}

int ba_peer_check(int sock, int expected_pid)
{
    if (sock < 0) return BA_EINVAL;
    struct ucred cred;
    socklen_t sz = sizeof cred;
    memset(&cred, 0, sizeof cred);
    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &sz) != 0) return BA_EIO;
    if (sz < sizeof cred) {
        errno = EPROTO;
        return BA_EIO;
    }
    if (cred.uid != geteuid()) return BA_EPERM;
    if (expected_pid > 0 && cred.pid != (pid_t)expected_pid) return BA_EPERM;
    return BA_OK;
}
