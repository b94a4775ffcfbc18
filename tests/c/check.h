/* check.h — a tiny test harness: CHECK macros, test cases, a summary line. */
#ifndef BA_TEST_CHECK_H
#define BA_TEST_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static __attribute__((unused)) int t_checks_failed; /* in the current test case */
static __attribute__((unused)) int t_passed, t_failed;

#define T_REPORT(...)                                                                  \
    do {                                                                               \
        if (t_checks_failed++ < 20) {                                                  \
            fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                            \
            fprintf(stderr, __VA_ARGS__);                                              \
            fputc('\n', stderr);                                                       \
        }                                                                              \
    } while (0)

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) T_REPORT("CHECK(%s) failed", #cond);                              \
    } while (0)

#define CHECK_INT(a, b)                                                                \
    do {                                                                               \
        long long a_ = (long long)(a), b_ = (long long)(b);                            \
        if (a_ != b_) T_REPORT("%s == %lld, expected %s == %lld", #a, a_, #b, b_);     \
    } while (0)

#define CHECK_HEX(a, b)                                                                \
    do {                                                                               \
        unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b); \
        if (a_ != b_) T_REPORT("%s == 0x%llx, expected 0x%llx", #a, a_, b_);           \
    } while (0)

/* compare a ba_* return code, naming both */
#define CHECK_RC(call, want)                                                           \
    do {                                                                               \
        int rc_ = (call), want_ = (want);                                              \
        if (rc_ != want_)                                                              \
            T_REPORT("%s returned %d (%s), expected %d (%s)", #call, rc_,              \
                     ba_strerror(rc_), want_, ba_strerror(want_));                     \
    } while (0)

/* stop the current test case if it already failed (e.g. before using a
 * pointer an earlier check found NULL) */
#define REQUIRE(cond)                                                                  \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            T_REPORT("REQUIRE(%s) failed", #cond);                                     \
            return;                                                                    \
        }                                                                              \
    } while (0)

static __attribute__((unused)) void t_run(const char *name, void (*fn)(void))
{
    t_checks_failed = 0;
    fn();
    if (t_checks_failed) {
        ++t_failed;
        fprintf(stderr, "FAIL %s (%d failed checks)\n", name, t_checks_failed);
    } else {
        ++t_passed;
    }
}

#define RUN(fn) t_run(#fn, fn)

static __attribute__((unused)) int t_summary(void)
{
    printf("%d passed, %d failed\n", t_passed, t_failed);
    fflush(stdout);
    return t_failed ? 1 : 0;
}

/* deterministic PRNG for garbage inputs */
static inline uint64_t t_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

#endif
