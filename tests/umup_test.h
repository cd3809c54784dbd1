/* umup_test.h - tiny self-contained test harness for the umup test programs.
 *
 * Usage (one test program = one .c file):
 *
 *     #include "umup_test.h"
 *     static void test_something(void) {
 *         UT_CHECK(1 + 1 == 2);
 *         UT_CHECKF(x == 3, "x = %d", x);          // message on failure
 *         UT_NEAR(got, want, 1e-6);                 // |got - want| <= tol
 *         UT_REL(got, want, 1e-5);                  // |got - want| <= tol * |want|
 *     }
 *     int main(void) {
 *         UT_RUN(test_something);
 *         return ut_finish("test_name");
 *     }
 *
 * Every UT_* check counts one passed or failed check. ut_finish() prints
 * "<name>: N passed, N failed" as the last line and returns the process exit
 * status (0 only when nothing failed), which tests/run.sh adds up.
 * UT_SKIP(reason) records a skip with its reason (printed, not counted as a
 * pass). Environment: UMUP_TEST_VERBOSE=1 prints every test name as it runs; UMUP_TEST_ONLY=name
 * runs only the tests whose function name contains it (for development).
 */
#ifndef UMUP_TEST_H
#define UMUP_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ut_passed_ = 0, ut_failed_ = 0, ut_skipped_ = 0;
static const char *ut_current_ = "";

static void ut_report_(int ok, const char *file, int line, const char *expr, const char *msg) {
    if (ok) { ut_passed_++; return; }
    ut_failed_++;
    fprintf(stderr, "FAIL %s:%d [%s] %s%s%s\n", file, line, ut_current_, expr,
            msg && msg[0] ? " -- " : "", msg ? msg : "");
}

#define UT_CHECK(cond) ut_report_((cond) ? 1 : 0, __FILE__, __LINE__, #cond, NULL)

/* UT_CHECKF(cond, fmt, ...): like UT_CHECK with a printf-style message on failure. */
#define UT_CHECKF(cond, ...)                                                         \
    do {                                                                             \
        char ut_msg_[512];                                                           \
        int ut_ok_ = (cond) ? 1 : 0;                                                 \
        if (!ut_ok_) snprintf(ut_msg_, sizeof ut_msg_, __VA_ARGS__);                 \
        else ut_msg_[0] = 0;                                                         \
        ut_report_(ut_ok_, __FILE__, __LINE__, #cond, ut_msg_);                      \
    } while (0)

#define UT_NEAR(got, want, tol)                                                      \
    do {                                                                             \
        double ut_g_ = (double)(got), ut_w_ = (double)(want), ut_t_ = (double)(tol); \
        UT_CHECKF(fabs(ut_g_ - ut_w_) <= ut_t_, "%s = %.9g, want %.9g (tol %.3g)",   \
                  #got, ut_g_, ut_w_, ut_t_);                                        \
    } while (0)

#define UT_REL(got, want, tol)                                                       \
    do {                                                                             \
        double ut_g_ = (double)(got), ut_w_ = (double)(want), ut_t_ = (double)(tol); \
        UT_CHECKF(fabs(ut_g_ - ut_w_) <= ut_t_ * fabs(ut_w_),                        \
                  "%s = %.9g, want %.9g (rel tol %.3g)", #got, ut_g_, ut_w_, ut_t_); \
    } while (0)

#define UT_SKIP(reason)                                                              \
    do {                                                                             \
        ut_skipped_++;                                                               \
        printf("SKIP [%s] %s\n", ut_current_, reason);                               \
    } while (0)

/* L2-relative error ||got - want|| / ||want|| of two float arrays (double accumulation). */
static inline double ut_l2_rel(const float *got, const float *want, size_t n) {
    double num = 0.0, den = 0.0;
    size_t i;
    for (i = 0; i < n; i++) {
        double d = (double)got[i] - (double)want[i];
        num += d * d;
        den += (double)want[i] * (double)want[i];
    }
    if (den == 0.0) return sqrt(num);
    return sqrt(num / den);
}

#define UT_RUN(fn)                                                                   \
    do {                                                                             \
        const char *ut_v_ = getenv("UMUP_TEST_VERBOSE");                             \
        const char *ut_o_ = getenv("UMUP_TEST_ONLY");                                \
        int ut_f0_ = ut_failed_;                                                     \
        ut_current_ = #fn;                                                           \
        if (ut_o_ && ut_o_[0] && !strstr(#fn, ut_o_)) break;                         \
        if (ut_v_ && ut_v_[0] == '1') printf("  %s\n", #fn);                         \
        fflush(stdout);                                                              \
        fn();                                                                        \
        if (ut_failed_ != ut_f0_) printf("  %s: FAILED\n", #fn);                     \
    } while (0)

/* Non-zero when the environment asks for the quick variant (sanitizer runs). */
static inline int ut_quick(void) {
    const char *q = getenv("UMUP_TEST_QUICK");
    return q && q[0] == '1';
}

/* Non-zero when the environment asks for the exhaustive variants (UMUP_TEST_FULL=1). */
static inline int ut_full(void) {
    const char *q = getenv("UMUP_TEST_FULL");
    return q && q[0] == '1';
}

static int ut_finish(const char *name) {
    if (ut_skipped_) printf("%s: %d passed, %d failed, %d skipped\n", name, ut_passed_, ut_failed_, ut_skipped_);
    else printf("%s: %d passed, %d failed\n", name, ut_passed_, ut_failed_);
    fflush(stdout);
    return ut_failed_ ? 1 : 0;
}

#endif /* UMUP_TEST_H */
