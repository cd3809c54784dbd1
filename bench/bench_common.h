/* bench/bench_common.h - what the benchmarks share: a monotonic clock, min / median, and one line
 * saying what the run used (GEMM micro-kernel, OpenMP threads, and in BLAS=1 builds the OpenBLAS
 * kernel family and threading, with a warning when OpenBLAS runs a kernel below the CPU's). */
#ifndef UMUP_BENCH_COMMON_H
#define UMUP_BENCH_COMMON_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline int bench_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static inline double bench_median(const double *v, int n) {
    double t[64];
    int i;
    if (n < 1 || n > 64) return -1;
    for (i = 0; i < n; i++) t[i] = v[i];
    qsort(t, (size_t)n, sizeof t[0], bench_cmp);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}
static inline double bench_min(const double *v, int n) {
    double m = n > 0 ? v[0] : -1;
    int i;
    for (i = 1; i < n; i++) m = v[i] < m ? v[i] : m;
    return m;
}

static inline int bench_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static inline void bench_print_setup(const char *name) {
    printf("# %s: gemm kernel %s, %d OpenMP threads", name, umup_gemm_kernel_name(umup_gemm_get_kernel()),
           bench_threads());
#ifdef UMUP_USE_CBLAS
    {
        const char *core = umup_cblas_core(), *ct = getenv("OPENBLAS_CORETYPE");
        int th = umup_cblas_threading(), cpu512 = 0, blas512;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
        cpu512 = __builtin_cpu_supports("avx512f") != 0;
#endif
        blas512 = strstr(core, "Skylake") || strstr(core, "Cooperlake") || strstr(core, "SapphireRapids");
        printf(", BLAS: OpenBLAS core %s (OPENBLAS_CORETYPE=%s), threading %s", core, ct ? ct : "unset",
               th == 2 ? "OpenMP" : th == 1 ? "pthreads (a second thread pool!)" : th == 0 ? "sequential" : "unknown");
        if (cpu512 && !blas512)
            printf("\n# WARNING: this CPU has AVX-512 but OpenBLAS runs its %s kernel (it did not recognise the CPU); "
                   "set OPENBLAS_CORETYPE=SkylakeX to compare with its AVX-512 kernel", core);
    }
#endif
    printf("\n");
}
#endif
