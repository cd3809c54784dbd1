/* bench/bench_gemm.c - GFLOP/s of the GEMM paths on the trainer's shapes, side by side in one run.
 *
 * Shapes: for each width d in {128, 256, 512} and rows = B T = 4096, the model's five linear layers
 * (qkv [3d, d], o [d, d], MLP up/gate [4d, d], down [d, 4d], readout [256, d]) in their three
 * products: forward x W^T (fwd_NT: M = rows, N = out, K = in), input gradient dy W (dx_NN: M = rows,
 * N = in, K = out) and weight gradient dy^T x (dW_TN: M = out, N = in, K = rows).
 * Columns: portable = umup_sgemm_portable with the default micro-kernel; c_kernel = the same loop
 * nest with the plain-C micro-kernel; openblas = cblas_sgemm directly (BLAS=1 builds); dispatch =
 * umup_sgemm, what the library runs (the CBLAS backend above UMUP_GEMM_BLAS_MIN, else portable).
 * The paths alternate within each repetition (so they see the same machine state); best of the
 * repetitions. A summary line gives, over the shapes with d >= 256, the smallest and the median
 * ratio portable / openblas and the smallest dispatch / portable.
 * OpenBLAS picks its kernel from the CPU when it loads (OPENBLAS_CORETYPE overrides); the bench
 * prints the one in use and warns when it is not an AVX-512 kernel on a CPU that has AVX-512.
 * Usage: bench_gemm [seconds per shape] (default 0.6). */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "bench_common.h"

enum { P_PORT, P_C, P_BLAS, P_DISPATCH, NPATH };

static double budget = 0.6;

static void run_path(int path, int tA, int tB, int M, int N, int K, const float *A, const float *B, float *C) {
    int lda = tA ? M : K, ldb = tB ? K : N;
    switch (path) {
    case P_PORT: umup_sgemm_portable(tA, tB, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N); break;
    case P_C:
        umup_gemm_set_kernel(UMUP_GEMM_KERNEL_C);
        umup_sgemm_portable(tA, tB, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N);
        umup_gemm_set_kernel(UMUP_GEMM_KERNEL_AUTO);
        break;
#ifdef UMUP_USE_CBLAS
    case P_BLAS:
        cblas_sgemm(CblasRowMajor, tA ? CblasTrans : CblasNoTrans, tB ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A, lda,
                    B, ldb, 0.0f, C, N);
        break;
#endif
    default: umup_sgemm(tA, tB, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N); break;
    }
}

int main(int argc, char **argv) {
    static const int Ds[3] = {128, 256, 512};
    static const char *const layer[5] = {"qkv", "o", "up", "down", "readout"};
    static const char *const prod[3] = {"fwd_NT", "dx_NN", "dW_TN"};
    const int rows = 4096;
    double ratios[64], disp[64], g[NPATH];
    int nratio = 0, di, li, pi, have_blas = 0, r, path, i;
    size_t maxn = (size_t)rows * 4 * 512;
    float *A = (float *)malloc(sizeof(float) * maxn), *B = (float *)malloc(sizeof(float) * maxn),
          *C = (float *)malloc(sizeof(float) * maxn);
    if (argc > 1) budget = atof(argv[1]);
    if (!A || !B || !C || !(budget > 0)) { fprintf(stderr, "bench_gemm: bad arguments or out of memory\n"); return 1; }
    for (i = 0; i < (int)maxn; i++) {
        A[i] = umup_rng_uniform(1, (uint64_t)i) - 0.5f;
        B[i] = umup_rng_uniform(2, (uint64_t)i) - 0.5f;
        C[i] = 0.0f;
    }
#ifdef UMUP_USE_CBLAS
    have_blas = 1;
#endif
    bench_print_setup("bench_gemm");
    for (di = 0; di < 3; di++)
        for (li = 0; li < 5; li++)
            for (pi = 0; pi < 3; pi++) {
                int d = Ds[di], out = li == 0 ? 3 * d : li == 2 ? 4 * d : li == 4 ? 256 : d, in = li == 3 ? 4 * d : d;
                int M = pi == 0 ? rows : pi == 1 ? rows : out, N = pi == 0 ? out : in, K = pi == 0 ? in : pi == 1 ? out : rows;
                int tA = pi == 2, tB = pi == 0;
                double best[NPATH], t0 = bench_now();
                for (path = 0; path < NPATH; path++) best[path] = 1e30;
                for (r = 0; r < 200 && (r < 3 || bench_now() - t0 < budget); r++)
                    for (path = 0; path < NPATH; path++) {
                        double t;
                        if (path == P_BLAS && !have_blas) continue;
                        t = bench_now();
                        run_path(path, tA, tB, M, N, K, A, B, C);
                        t = bench_now() - t;
                        if (t < best[path]) best[path] = t;
                    }
                for (path = 0; path < NPATH; path++) g[path] = best[path] < 1e29 ? 2.0 * M * N * K / best[path] * 1e-9 : -1;
                printf("bench gemm d=%d layer=%s case=%s M=%d N=%d K=%d portable_gflops=%.1f c_kernel_gflops=%.1f "
                       "openblas_gflops=%.1f dispatch_gflops=%.1f portable_over_openblas=%.2f dispatch_over_portable=%.2f\n",
                       d, layer[li], prod[pi], M, N, K, g[P_PORT], g[P_C], g[P_BLAS], g[P_DISPATCH],
                       have_blas ? g[P_PORT] / g[P_BLAS] : -1.0, g[P_DISPATCH] / g[P_PORT]);
                fflush(stdout);
                if (d >= 256 && nratio < 64) {
                    ratios[nratio] = have_blas ? g[P_PORT] / g[P_BLAS] : -1.0;
                    disp[nratio++] = g[P_DISPATCH] / g[P_PORT];
                }
            }
    {
        double rmin = bench_min(ratios, nratio), rmed = bench_median(ratios, nratio), dmin = bench_min(disp, nratio);
        printf("bench gemm_summary shapes_d_ge_256=%d portable_over_openblas_min=%.2f portable_over_openblas_median=%.2f "
               "dispatch_over_portable_min=%.2f\n", nratio, rmin, rmed, dmin);
    }
    free(A); free(B); free(C);
    return 0;
}
