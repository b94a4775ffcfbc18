/* slow_first_send.c — fault injection for tests/cli/test_faults_cli.py, loaded
 * into the CLI with LD_PRELOAD: the process's first sendmsg(2) (a worker's init)
 * waits $SLOW_FIRST_SEND seconds, so that a test can kill the Blender just
 * spawned before it gets its init, every time rather than by luck.
 *
 * The variable LD_PRELOAD is dropped at load, so the Blenders the CLI starts
 * run without this library. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT */
#endif
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

__attribute__((constructor)) static void drop_preload(void)
{
    unsetenv("LD_PRELOAD");
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    static atomic_int sent; /* one process, one first send */
    ssize_t (*real)(int, const struct msghdr *, int) =
        (ssize_t (*)(int, const struct msghdr *, int))dlsym(RTLD_NEXT, "sendmsg");
    if (!real) abort();
    const char *s = getenv("SLOW_FIRST_SEND");
    if (s && atomic_fetch_add(&sent, 1) == 0) {
        double secs = atof(s);
        struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
        while (nanosleep(&ts, &ts) != 0) {
        }
    }
    return real(fd, msg, flags);
}
