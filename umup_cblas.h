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

#endif /* UMUP_CBLAS_IMPLEMENTATION_DONE */
#endif
