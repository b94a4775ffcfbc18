/* test_msg.c — control messages over AF_UNIX SOCK_SEQPACKET: payload and
 * descriptors between processes, end of stream, timeouts, malformed
 * messages without descriptor leaks, dead peers without SIGPIPE, and the
 * peer credential check. */
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "blendarray.h"
#include "check.h"
#include "fixtures.h"

static int open_fds(void)
{
    return fx_count_entries("/proc/self/fd");
}

static int64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int pair(int sv[2])
{
    return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
}

/* send with raw sendmsg: `nfds` copies of fd, any number */
static int raw_send_fds(int sock, const char *data, size_t len, int fd, int nfds)
{
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    union {
        char buf[CMSG_SPACE(sizeof(int) * 16)];
        struct cmsghdr align;
    } cb;
    memset(&cb, 0, sizeof cb);
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cb.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
    for (int i = 0; i < nfds; i++) memcpy(CMSG_DATA(c) + i * sizeof(int), &fd, sizeof fd);
    return sendmsg(sock, &msg, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

static void test_roundtrip_in_process(void)
{
    int sv[2];
    REQUIRE(pair(sv) == 0);
    int pp[2];
    REQUIRE(pipe(pp) == 0);
    int before = open_fds();
    CHECK_RC(ba_msg_send(sv[0], "hello", 5, pp, 2), BA_OK);
    char buf[64];
    size_t len = 99;
    int fds[4] = {-1, -1, -1, -1}, nfds = 4;
    CHECK_RC(ba_msg_recv(sv[1], buf, sizeof buf, &len, fds, &nfds, 1000), BA_OK);
    CHECK_INT(len, 5);
    CHECK(memcmp(buf, "hello", 5) == 0);
    CHECK_INT(nfds, 2);
    CHECK_INT(open_fds(), before + 2);
    REQUIRE(nfds == 2);
    CHECK(fds[0] != pp[0] && fds[1] != pp[1]);
    CHECK(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
    CHECK(fcntl(fds[1], F_GETFD) & FD_CLOEXEC);
    /* the received write end feeds the original read end, and so on */
    CHECK(write(fds[1], "x", 1) == 1);
    char c = 0;
    CHECK(read(pp[0], &c, 1) == 1 && c == 'x');
    CHECK(write(pp[1], "y", 1) == 1);
    CHECK(read(fds[0], &c, 1) == 1 && c == 'y');
    close(fds[0]);
    close(fds[1]);

    /* no descriptors, nfds NULL */
    CHECK_RC(ba_msg_send(sv[1], "ab", 2, NULL, 0), BA_OK);
    CHECK_RC(ba_msg_recv(sv[0], buf, 2, &len, NULL, NULL, 1000), BA_OK); /* exactly cap */
    CHECK_INT(len, 2);
    /* messages keep their boundaries */
    CHECK_RC(ba_msg_send(sv[0], "one", 3, NULL, 0), BA_OK);
    CHECK_RC(ba_msg_send(sv[0], "three", 5, NULL, 0), BA_OK);
    CHECK_RC(ba_msg_recv(sv[1], buf, sizeof buf, &len, NULL, NULL, 0), BA_OK);
    CHECK_INT(len, 3);
    CHECK_RC(ba_msg_recv(sv[1], buf, sizeof buf, &len, NULL, NULL, 0), BA_OK);
    CHECK_INT(len, 5);
    CHECK(memcmp(buf, "three", 5) == 0);
    close(pp[0]);
    close(pp[1]);
    close(sv[0]);
    close(sv[1]);
}

/* the child: receive a memfd and a message, answer with the memfd's text
 * and a new memfd of its own */
static int child_echo(int sock)
{
    char buf[256];
    size_t len = 0;
    int fds[BA_MSG_MAX_FDS], nfds = BA_MSG_MAX_FDS;
    if (ba_msg_recv(sock, buf, sizeof buf, &len, fds, &nfds, 5000) != BA_OK) return 10;
    if (nfds != 1 || len != 4 || memcmp(buf, "read", 4) != 0) return 11;
    char text[64] = {0};
    ssize_t n = pread(fds[0], text, sizeof text - 1, 0);
    close(fds[0]);
    if (n <= 0) return 12;
    int mine = memfd_create("child", MFD_CLOEXEC);
    if (mine < 0 || pwrite(mine, "from child", 10, 0) != 10) return 13;
    if (ba_msg_send(sock, text, (size_t)n, &mine, 1) != BA_OK) return 14;
    close(mine);
    /* then wait for the parent to hang up */
    if (ba_msg_recv(sock, buf, sizeof buf, &len, NULL, NULL, 5000) != BA_ECLOSED) return 15;
    return 0;
}

static void test_roundtrip_processes(void)
{
    int sv[2];
    REQUIRE(pair(sv) == 0);
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        _exit(child_echo(sv[1]));
    }
    close(sv[1]);
    int mfd = memfd_create("parent", MFD_CLOEXEC);
    REQUIRE(mfd >= 0);
    CHECK(pwrite(mfd, "parent text", 11, 0) == 11);
    CHECK_RC(ba_msg_send(sv[0], "read", 4, &mfd, 1), BA_OK);
    close(mfd);
    char buf[256];
    size_t len = 0;
    int fds[2] = {-1, -1}, nfds = 2;
    CHECK_RC(ba_msg_recv(sv[0], buf, sizeof buf, &len, fds, &nfds, 5000), BA_OK);
    CHECK(len == 11 && memcmp(buf, "parent text", 11) == 0);
    CHECK_INT(nfds, 1);
    if (nfds == 1) {
        char text[16] = {0};
        CHECK(pread(fds[0], text, sizeof text, 0) == 10);
        CHECK(memcmp(text, "from child", 10) == 0);
        close(fds[0]);
    }
    close(sv[0]);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK_INT(WEXITSTATUS(status), 0);
}

static void test_largest_message(void)
{
    int sv[2];
    REQUIRE(pair(sv) == 0);
    char *big = malloc(BA_MSG_MAX), *got = malloc(BA_MSG_MAX + 1);
    REQUIRE(big != NULL && got != NULL);
    for (size_t i = 0; i < BA_MSG_MAX; i++) big[i] = (char)(i * 31 + 7);
    errno = 0;
    int rc = ba_msg_send(sv[0], big, BA_MSG_MAX, NULL, 0);
    FILE *f = fopen("/proc/sys/net/core/wmem_max", "r");
    long wmem_max = 0;
    if (f) {
        if (fscanf(f, "%ld", &wmem_max) != 1) wmem_max = 0;
        fclose(f);
    }
    /* ba_msg_send asks for len + 64 KiB; the kernel doubles min(that,
     * wmem_max) and takes 32 bytes off for a datagram's limit */
    long want = (long)BA_MSG_MAX + 65536;
    if (2 * (wmem_max < want ? wmem_max : want) - 32 >= (long)BA_MSG_MAX) {
        CHECK_RC(rc, BA_OK);
        size_t len = 0;
        CHECK_RC(ba_msg_recv(sv[1], got, BA_MSG_MAX + 1, &len, NULL, NULL, 1000), BA_OK);
        CHECK_INT(len, BA_MSG_MAX);
        CHECK(memcmp(big, got, BA_MSG_MAX) == 0);
    } else { /* the kernel's cap: a clear error, not a partial message */
        CHECK_RC(rc, BA_EIO);
        CHECK_INT(errno, EMSGSIZE);
    }
    /* 200 KiB fits any default send buffer */
    CHECK_RC(ba_msg_send(sv[0], big, 200 * 1024, NULL, 0), BA_OK);
    size_t len = 0;
    CHECK_RC(ba_msg_recv(sv[1], got, BA_MSG_MAX, &len, NULL, NULL, 1000), BA_OK);
    CHECK_INT(len, 200 * 1024);
    free(big);
    free(got);
    close(sv[0]);
    close(sv[1]);
}

static void test_bad_arguments(void)
{
    int sv[2];
    REQUIRE(pair(sv) == 0);
    int fds[5] = {0, 0, 0, 0, 0};
    char buf[8];
    size_t len = 0;
    int nfds = 1;
    CHECK_RC(ba_msg_send(-1, "x", 1, NULL, 0), BA_EINVAL);
    CHECK_RC(ba_msg_send(sv[0], NULL, 1, NULL, 0), BA_EINVAL);
    CHECK_RC(ba_msg_send(sv[0], "x", 0, NULL, 0), BA_EINVAL);
    CHECK_RC(ba_msg_send(sv[0], "x", BA_MSG_MAX + 1, NULL, 0), BA_EINVAL);
    CHECK_RC(ba_msg_send(sv[0], "x", 1, fds, BA_MSG_MAX_FDS + 1), BA_EINVAL);
    CHECK_RC(ba_msg_send(sv[0], "x", 1, fds, -1), BA_EINVAL);
    CHECK_RC(ba_msg_send(sv[0], "x", 1, NULL, 1), BA_EINVAL);
    fds[0] = -1;
    CHECK_RC(ba_msg_send(sv[0], "x", 1, fds, 1), BA_EINVAL);
    CHECK_RC(ba_msg_send(sv[0], "x", 1, &sv[1], 1), BA_OK); /* sending a socket is fine */
    int got[1], ngot = 1;
    CHECK_RC(ba_msg_recv(sv[1], buf, sizeof buf, &len, got, &ngot, 0), BA_OK);
    if (ngot == 1) close(got[0]);
    CHECK_RC(ba_msg_recv(-1, buf, sizeof buf, &len, NULL, NULL, 0), BA_EINVAL);
    CHECK_RC(ba_msg_recv(sv[1], NULL, sizeof buf, &len, NULL, NULL, 0), BA_EINVAL);
    CHECK_RC(ba_msg_recv(sv[1], buf, 0, &len, NULL, NULL, 0), BA_EINVAL);
    CHECK_RC(ba_msg_recv(sv[1], buf, sizeof buf, NULL, NULL, NULL, 0), BA_EINVAL);
    CHECK_RC(ba_msg_recv(sv[1], buf, sizeof buf, &len, NULL, &nfds, 0), BA_EINVAL);
    nfds = -1;
    CHECK_RC(ba_msg_recv(sv[1], buf, sizeof buf, &len, fds, &nfds, 0), BA_EINVAL);
    CHECK_RC(ba_msg_recv(sv[1], buf, sizeof buf, &len, NULL, NULL, -2), BA_EINVAL);
    /* not a socket */
    int pp[2];
    REQUIRE(pipe(pp) == 0);
    CHECK_RC(ba_msg_send(pp[1], "x", 1, NULL, 0), BA_EIO);
    CHECK_RC(ba_msg_recv(pp[0], buf, sizeof buf, &len, NULL, NULL, 0), BA_ETIMEDOUT);
    CHECK(write(pp[1], "x", 1) == 1);
    CHECK_RC(ba_msg_recv(pp[0], buf, sizeof buf, &len, NULL, NULL, 0), BA_EIO);
    CHECK_RC(ba_msg_recv(1000000, buf, sizeof buf, &len, NULL, NULL, 0), BA_EIO);
    close(pp[0]);
    close(pp[1]);
    close(sv[0]);
    close(sv[1]);
}

static void test_end_of_stream(void)
{
    int sv[2];
    REQUIRE(pair(sv) == 0);
    char buf[8];
    size_t len = 7;
    int fds[1], nfds = 1;
    CHECK_RC(ba_msg_send(sv[0], "last", 4, NULL, 0), BA_OK);
    close(sv[0]);
    /* what was sent before the close still arrives, then the end */
    CHECK_RC(ba_msg_recv(sv[1], buf, sizeof buf, &len, fds, &nfds, -1), BA_OK);
    CHECK_INT(len, 4);
    int64_t t0 = ms_now();
    nfds = 1;
    CHECK_RC(ba_msg_recv(sv[1], buf, sizeof buf, &len, fds, &nfds, -1), BA_ECLOSED);
    CHECK_INT(len, 0);
    CHECK_INT(nfds, 0);
    CHECK_RC(ba_msg_recv(sv[1], buf, sizeof buf, &len, NULL, NULL, 5000), BA_ECLOSED);
    CHECK(ms_now() - t0 < 1000);
    close(sv[1]);

    /* the peer process dies */
    REQUIRE(pair(sv) == 0);
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(0); /* its ends close with it */
    close(sv[1]);
    CHECK_RC(ba_msg_recv(sv[0], buf, sizeof buf, &len, NULL, NULL, 5000), BA_ECLOSED);
    waitpid(pid, NULL, 0);
    close(sv[0]);
}

static volatile sig_atomic_t g_alarms;
static void on_alarm(int sig)
{
    (void)sig;
    g_alarms++;
}

static void test_timeout(void)
{
    int sv[2];
    REQUIRE(pair(sv) == 0);
    char buf[8];
    size_t len = 0;
    int64_t t0 = ms_now();
    CHECK_RC(ba_msg_recv(sv[1], buf, sizeof buf, &len, NULL, NULL, 0), BA_ETIMEDOUT);
    CHECK(ms_now() - t0 < 100);
    t0 = ms_now();
    CHECK_RC(ba_msg_recv(sv[1], buf, sizeof buf, &len, NULL, NULL, 150), BA_ETIMEDOUT);
    int64_t dt = ms_now() - t0;
    CHECK(dt >= 150);
    CHECK(dt < 1500);

    /* signals (no SA_RESTART) interrupt poll(): it keeps waiting the rest */
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGALRM, &sa, &old);
    struct itimerval it = {.it_interval = {0, 20000}, .it_value = {0, 20000}};
    g_alarms = 0;
    setitimer(ITIMER_REAL, &it, NULL);
    t0 = ms_now();
    CHECK_RC(ba_msg_recv(sv[1], buf, sizeof buf, &len, NULL, NULL, 200), BA_ETIMEDOUT);
    dt = ms_now() - t0;
    struct itimerval off;
    memset(&off, 0, sizeof off);
    setitimer(ITIMER_REAL, &off, NULL);
    sigaction(SIGALRM, &old, NULL);
    CHECK(g_alarms >= 3);
    CHECK(dt >= 200);
    CHECK(dt < 2000);

    /* a non-blocking socket waits just the same */
    CHECK(fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK) == 0);
    t0 = ms_now();
    CHECK_RC(ba_msg_recv(sv[1], buf, sizeof buf, &len, NULL, NULL, 100), BA_ETIMEDOUT);
    CHECK(ms_now() - t0 >= 100);
    CHECK_RC(ba_msg_send(sv[0], "go", 2, NULL, 0), BA_OK);
    CHECK_RC(ba_msg_recv(sv[1], buf, sizeof buf, &len, NULL, NULL, 100), BA_OK);
    close(sv[0]);
    close(sv[1]);
}

static void test_truncated(void)
{
    int sv[2];
    REQUIRE(pair(sv) == 0);
    int pp[2];
    REQUIRE(pipe(pp) == 0);
    char payload[100];
    memset(payload, 'p', sizeof payload);
    int before = open_fds();
    CHECK_RC(ba_msg_send(sv[0], payload, sizeof payload, pp, 2), BA_OK);
    char buf[10];
    size_t len = 5;
    int fds[4] = {-1, -1, -1, -1}, nfds = 4;
    CHECK_RC(ba_msg_recv(sv[1], buf, sizeof buf, &len, fds, &nfds, 1000), BA_EFORMAT);
    CHECK_INT(len, 0);
    CHECK_INT(nfds, 0);
    CHECK_INT(open_fds(), before);
    /* the bad message is gone; the next one arrives intact */
    CHECK_RC(ba_msg_send(sv[0], "ok", 2, NULL, 0), BA_OK);
    nfds = 4;
    CHECK_RC(ba_msg_recv(sv[1], buf, sizeof buf, &len, fds, &nfds, 1000), BA_OK);
    CHECK(len == 2 && nfds == 0);
    close(pp[0]);
    close(pp[1]);
    close(sv[0]);
    close(sv[1]);
}

static void test_too_many_fds(void)
{
    int sv[2];
    REQUIRE(pair(sv) == 0);
    int pp[2];
    REQUIRE(pipe(pp) == 0);
    int three[3] = {pp[0], pp[1], pp[0]};
    char buf[16];
    size_t len = 0;
    int fds[4], nfds;
    int before = open_fds();

    CHECK_RC(ba_msg_send(sv[0], "abc", 3, three, 3), BA_OK);
    nfds = 2; /* room for two */
    CHECK_RC(ba_msg_recv(sv[1], buf, sizeof buf, &len, fds, &nfds, 1000), BA_EFORMAT);
    CHECK_INT(nfds, 0);
    CHECK_INT(open_fds(), before);

    CHECK_RC(ba_msg_send(sv[0], "abc", 3, three, 1), BA_OK);
    CHECK_RC(ba_msg_recv(sv[1], buf, sizeof buf, &len, NULL, NULL, 1000), BA_EFORMAT);
    CHECK_INT(open_fds(), before);

    /* more than BA_MSG_MAX_FDS from a peer that does not use ba_msg_send */
    CHECK(raw_send_fds(sv[0], "many", 4, pp[1], 12) == 0);
    nfds = 4;
    CHECK_RC(ba_msg_recv(sv[1], buf, sizeof buf, &len, fds, &nfds, 1000), BA_EFORMAT);
    CHECK_INT(nfds, 0);
    CHECK_INT(open_fds(), before);

    /* the write end is really closed everywhere but pp[1]: after closing
     * it, the read end sees EOF (a leaked duplicate would keep it open) */
    close(pp[1]);
    char c;
    CHECK(read(pp[0], &c, 1) == 0);
    close(pp[0]);

    /* a control message other than SCM_RIGHTS: credentials */
    int on = 1;
    CHECK(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on) == 0);
    CHECK_RC(ba_msg_send(sv[0], "cred", 4, NULL, 0), BA_OK);
    CHECK_RC(ba_msg_recv(sv[1], buf, sizeof buf, &len, fds, &nfds, 1000), BA_EFORMAT);
    close(sv[0]);
    close(sv[1]);
}

static void test_send_to_closed_peer(void)
{
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would kill the test */
    int sv[2];
    REQUIRE(pair(sv) == 0);
    close(sv[1]);
    CHECK_RC(ba_msg_send(sv[0], "anyone?", 7, NULL, 0), BA_ECLOSED);
    CHECK_RC(ba_msg_send(sv[0], "anyone?", 7, &sv[0], 1), BA_ECLOSED);
    close(sv[0]);

    /* the peer process is gone */
    REQUIRE(pair(sv) == 0);
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(0);
    close(sv[1]);
    waitpid(pid, NULL, 0);
    CHECK_RC(ba_msg_send(sv[0], "x", 1, NULL, 0), BA_ECLOSED);
    close(sv[0]);

    /* and a shutdown() peer */
    REQUIRE(pair(sv) == 0);
    CHECK(shutdown(sv[0], SHUT_WR) == 0);
    CHECK_RC(ba_msg_send(sv[0], "x", 1, NULL, 0), BA_ECLOSED);
    close(sv[0]);
    close(sv[1]);
}

/* a listening socket in the abstract namespace: no file to clean up */
static int listen_abstract(struct sockaddr_un *addr, socklen_t *alen)
{
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    int n = snprintf(addr->sun_path + 1, sizeof addr->sun_path - 1, "blendarray-test-%d-%lld",
                     (int)getpid(), (long long)ms_now());
    *alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    if (bind(s, (struct sockaddr *)addr, *alen) != 0 || listen(s, 1) != 0) {
        close(s);
        return -1;
    }
    return s;
}

static void test_peer_check(void)
{
    struct sockaddr_un addr;
    socklen_t alen;
    int ls = listen_abstract(&addr, &alen);
    REQUIRE(ls >= 0);
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (s < 0 || connect(s, (struct sockaddr *)&addr, alen) != 0) _exit(10);
        /* the parent, seen from here, is its own parent */
        if (ba_peer_check(s, (int)getppid()) != BA_OK) _exit(11);
        if (ba_peer_check(s, (int)getpid()) != BA_EPERM) _exit(12);
        char buf[4];
        size_t len;
        ba_msg_recv(s, buf, sizeof buf, &len, NULL, NULL, 5000); /* until the parent closes */
        _exit(0);
    }
    int conn = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
    CHECK(conn >= 0);
    CHECK_RC(ba_peer_check(conn, (int)pid), BA_OK);
    CHECK_RC(ba_peer_check(conn, 0), BA_OK);
    CHECK_RC(ba_peer_check(conn, -1), BA_OK);
    CHECK_RC(ba_peer_check(conn, (int)pid + 1), BA_EPERM);
    CHECK_RC(ba_peer_check(conn, (int)getpid()), BA_EPERM);
    close(conn);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(ls);

    /* socketpair(): both ends carry the creator's credentials, fork or not */
    int sv[2];
    REQUIRE(pair(sv) == 0);
    CHECK_RC(ba_peer_check(sv[0], (int)getpid()), BA_OK);
    fflush(NULL);
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(ba_peer_check(sv[1], (int)getppid()) == BA_OK ? 0 : 1);
    CHECK_RC(ba_peer_check(sv[0], (int)pid), BA_EPERM);
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(sv[0]);
    close(sv[1]);

    /* not a socket */
    int pp[2];
    REQUIRE(pipe(pp) == 0);
    CHECK_RC(ba_peer_check(pp[0], 0), BA_EIO);
    CHECK_RC(ba_peer_check(-1, 0), BA_EINVAL);
    close(pp[0]);
    close(pp[1]);
}

static void test_strerror(void)
{
    CHECK(strcmp(ba_strerror(BA_ETIMEDOUT), "timed out") == 0);
    CHECK(strcmp(ba_strerror(BA_ECLOSED), "peer closed the connection") == 0);
    CHECK(strcmp(ba_strerror(BA_EPERM), "peer not allowed") == 0);
    CHECK(strcmp(ba_strerror(BA_EWORKER), "a Blender worker failed") == 0);
    CHECK(strcmp(ba_strerror(BA_EINTR), "interrupted") == 0);
    CHECK(strcmp(ba_strerror(BA_EBUSY + 1), "unknown error") == 0);
    CHECK_INT(BA_EWORKER, 15);
    CHECK_INT(BA_ERENDER, 16);
    CHECK_INT(BA_EINTR, 17);
    CHECK_INT(BA_ETIMEDOUT, 12);
    CHECK_INT(BA_ECLOSED, 13);
    CHECK_INT(BA_EPERM, 14);
}

int main(void)
{
    RUN(test_roundtrip_in_process);
    RUN(test_roundtrip_processes);
    RUN(test_largest_message);
    RUN(test_bad_arguments);
    RUN(test_end_of_stream);
    RUN(test_timeout);
    RUN(test_truncated);
    RUN(test_too_many_fds);
    RUN(test_send_to_closed_peer);
    RUN(test_peer_check);
    RUN(test_strerror);
    return t_summary();
}
