/* umup_cblas.h - v0.2.5 - the CBLAS backend of umup.h's GEMM seam - MIT licence (text at the end of this file)
 *
 * Sends the large products of umup_gemm() to cblas_sgemm (OpenBLAS, BLIS, MKL, ...). Two ways in:
 *   1. compile the file that defines UMUP_IMPLEMENTATION with -DUMUP_USE_CBLAS: umup.h then compiles
 *      this backend too and makes it the default (umup_get_backend() returns it until
 *      umup_set_backend() chooses another);
 *   2. or include this header after umup.h and call umup_set_backend(umup_cblas_backend()).
 * Link with the BLAS (e.g. -lopenblas, or `pkg-config --libs openblas`).
 *
 * Which calls go to BLAS: products of at least UMUP_GEMM_BLAS_MIN multiply-adds (M N K, default
 * 512^3) with every dimension >= 64; smaller ones are declined and run the portable GEMM, whose
 * AVX-512 kernel is as fast as BLAS on them and has no thread start-up. Where that AVX-512 kernel runs,
 * no product goes to an OpenBLAS: with its depth split for the weight gradients (0.2.2) the portable
 * GEMM is as fast as OpenBLAS's AVX-512 kernel or faster on every product of the trainer (0.94-1.11
 * on the weight gradients, up to 1.33 on the others, bench_gemm, 2 threads). And when the portable GEMM
 * runs its AVX-512 micro-kernel but OpenBLAS reports a kernel family without AVX-512 (it did not
 * recognise the CPU: "Haswell", "Zen", "Prescott", ...; see umup_cblas_core), every call is declined,
 * because that kernel is slower than the portable one: set OPENBLAS_CORETYPE=SkylakeX (or the
 * family of your CPU) in the environment to let OpenBLAS run its AVX-512 kernel, or define
 * UMUP_CBLAS_ANY_CORE to send every large product to BLAS whatever it runs. Define UMUP_GEMM_BLAS_MIN
 * (a double) in the implementation file to move the crossover. Calls from inside an OpenMP parallel
 * region never reach a backend (umup_gemm), so BLAS's threads never nest in the program's; link
 * OpenBLAS's OpenMP build (the Makefile's BLAS=1 does) so that both share one thread pool.
 * Reference BLAS semantics: beta == 0 does not read C.
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

#include <string.h>

#ifndef UMUP_GEMM_BLAS_MIN
#define UMUP_GEMM_BLAS_MIN (512.0 * 512.0 * 512.0)
#endif

/* 0 when OpenBLAS runs a kernel family below the portable GEMM's AVX-512 micro-kernel. */
static int umup__cblas_core_ok(void) {
#if defined(OPENBLAS_VERSION) && !defined(UMUP_CBLAS_ANY_CORE)
    const char *c;
    if (umup_gemm_get_kernel() != UMUP_GEMM_KERNEL_AVX512) return 1;
    c = openblas_get_corename();
    return c && (strstr(c, "Skylake") || strstr(c, "Cooperlake") || strstr(c, "SapphireRapids"));
#else
    return 1;
#endif
}

/* 0 when an OpenBLAS is linked and the portable GEMM's AVX-512 kernel runs: then no product goes to
   BLAS. On the trainer's shapes OpenBLAS's AVX-512 kernel was 0-9% faster on the weight gradients
   (dy^T x, K = the batch's rows) before the portable GEMM split their depth; now the portable GEMM
   runs them at 0.94-1.11 of OpenBLAS's speed, and the others at up to 1.33 (bench_gemm, 2 threads). */
static int umup__cblas_wanted(void) {
#if defined(OPENBLAS_VERSION) && !defined(UMUP_CBLAS_ANY_CORE)
    return umup_gemm_get_kernel() != UMUP_GEMM_KERNEL_AVX512;
#else
    return 1;
#endif
}

static umup_status umup__cblas_gemm(void *ctx, const umup_gemm_args *g) {
    (void)ctx;
    if (g->K <= 0 || (double)g->M * g->N * g->K < UMUP_GEMM_BLAS_MIN || g->M < 64 || g->N < 64 || g->K < 64 ||
        !umup__cblas_core_ok() || !umup__cblas_wanted())
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

/*
------------------------------------------------------------------------------
LICENCE (the same text as the file LICENSE)
------------------------------------------------------------------------------
MIT License

Copyright (c) 2026 the umup authors

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
------------------------------------------------------------------------------
*/
