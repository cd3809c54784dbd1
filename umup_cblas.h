/* umup_cblas.h - v0.2.0 - the CBLAS backend of umup.h's GEMM seam - MIT licence (see the end of umup.h)
 *
 * Sends the large products of umup_gemm() to cblas_sgemm (OpenBLAS, BLIS, MKL, ...). Two ways in:
 *   1. compile the file that defines UMUP_IMPLEMENTATION with -DUMUP_USE_CBLAS: umup.h then compiles
 *      this backend too and makes it the default (umup_get_backend() returns it until
 *      umup_set_backend() chooses another);
 *   2. or include this header after umup.h and call umup_set_backend(umup_cblas_backend()).
 * Link with the BLAS (e.g. -lopenblas, or `pkg-config --libs openblas`).
 *
 * Which calls go to BLAS: products of at least UMUP_GEMM_BLAS_MIN multiply-adds (M N K, default
 * 4096^3) with every dimension >= 32; smaller ones are declined and run the portable GEMM. Define
 * UMUP_GEMM_BLAS_MIN (a double) in the implementation file to move the crossover. Calls from inside
 * an OpenMP parallel region never reach a backend (umup_gemm), so BLAS's own threads never nest in
 * the trainer's. Reference BLAS semantics: beta == 0 does not read C.
 */
#include "umup.h"

#ifndef UMUP_CBLAS_H
#define UMUP_CBLAS_H

#ifdef __cplusplus
extern "C" {
#endif

/* The backend object (static storage; never NULL). */
UMUPDEF const umup_backend *umup_cblas_backend(void);

/* What the linked BLAS says about itself, for benchmarks and logs (OpenBLAS; another BLAS: "unknown"
 * and -1). umup_cblas_core: the kernel family OpenBLAS chose when it loaded ("SkylakeX", "Haswell",
 * "Prescott", ...); an OpenBLAS that does not recognise the CPU falls back to an older, slower family,
 * and the environment variable OPENBLAS_CORETYPE (e.g. SkylakeX) overrides its choice.
 * umup_cblas_threading: 0 sequential, 1 its own pthreads pool, 2 OpenMP (Debian's
 * libopenblas0-openmp: it shares the program's OpenMP threads instead of competing with them). */
UMUPDEF const char *umup_cblas_core(void);
UMUPDEF int umup_cblas_threading(void);

#ifdef __cplusplus
}
#endif

#endif /* UMUP_CBLAS_H */

#if defined(UMUP_IMPLEMENTATION) || defined(UMUP_CBLAS_IMPLEMENTATION)
#ifndef UMUP_CBLAS_IMPLEMENTATION_DONE
#define UMUP_CBLAS_IMPLEMENTATION_DONE

#include <cblas.h>

#ifndef UMUP_GEMM_BLAS_MIN
#define UMUP_GEMM_BLAS_MIN (4096.0 * 4096.0 * 4096.0)
#endif

static umup_status umup__cblas_gemm(void *ctx, const umup_gemm_args *g) {
    (void)ctx;
    if (g->K <= 0 || (double)g->M * g->N * g->K < UMUP_GEMM_BLAS_MIN || g->M < 32 || g->N < 32 || g->K < 32)
        return UMUP_ERR_UNSUPPORTED;
    cblas_sgemm(CblasRowMajor, g->trans_a ? CblasTrans : CblasNoTrans, g->trans_b ? CblasTrans : CblasNoTrans, g->M, g->N,
                g->K, g->alpha, g->A, g->lda, g->B, g->ldb, g->beta, g->C, g->ldc);
    return UMUP_OK;
}

UMUPDEF const umup_backend *umup_cblas_backend(void) {
    static const umup_backend b = {"cblas", NULL, umup__cblas_gemm};
    return &b;
}

UMUPDEF const char *umup_cblas_core(void) {
#ifdef OPENBLAS_VERSION
    return openblas_get_corename();
#else
    return "unknown";
#endif
}

UMUPDEF int umup_cblas_threading(void) {
#ifdef OPENBLAS_VERSION
    return openblas_get_parallel();
#else
    return -1;
#endif
}

#endif /* UMUP_CBLAS_IMPLEMENTATION_DONE */
#endif
