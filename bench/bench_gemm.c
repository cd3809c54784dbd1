/* bench/bench_gemm.c - GFLOP/s of naive / portable / CBLAS (BLAS=1) on the trainer shapes.
   Output: one "bench gemm key=value ..." line per shape; best of several reps. */
#define _POSIX_C_SOURCE 199309L
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "gemm_naive.h"

typedef umup_status (*gemm_fn)(int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
/* the private unpacked fallback, with the public signature */
static umup_status loop_fn(int tA, int tB, int M, int N, int K, float al, const float *A, int lda, const float *B, int ldb,
                           float be, float *C, int ldc)
{
    umup__sgemm_loop(tA, tB, M, N, K, al, A, lda, B, ldb, be, C, ldc);
    return UMUP_OK;
}

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }

static double gflops(gemm_fn fn, int tA, int tB, int M, int N, int K, float beta, const float *A, const float *B, float *C, double budget)
{
    double best = 1e30, t0 = now();
    int r;
    for (r = 0; r < 20; r++) {
        double t = now();
        fn(tA, tB, M, N, K, 1.0f, A, tA ? M : K, B, tB ? K : N, beta, C, N);
        t = now() - t;
        if (t < best) best = t;
        if (now() - t0 > budget && r >= 1) break;
    }
    return 2.0 * M * N * K / best * 1e-9;
}

#ifdef UMUP_USE_CBLAS
static umup_status blas_only(int tA, int tB, int M, int N, int K, float al, const float *A, int lda, const float *B, int ldb, float be, float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, tA ? CblasTrans : CblasNoTrans, tB ? CblasTrans : CblasNoTrans, M, N, K, al, A, lda, B, ldb, be, C, ldc);
    return UMUP_OK;
}
#endif

static void shape(const char *cs, int tA, int tB, int M, int N, int K, float beta, int rows, int d)
{
    size_t n = (size_t)4096 * 4096;
    float *A = (float *)malloc(sizeof(float) * (size_t)M * K), *B = (float *)malloc(sizeof(float) * (size_t)K * N);
    float *C = (float *)malloc(sizeof(float) * (size_t)M * N);
    size_t i;
    double gn = -1, gp, gb = -1;
    (void)n;
    for (i = 0; i < (size_t)M * K; i++) A[i] = (float)((i * 7) % 13) * 0.1f - 0.6f;
    for (i = 0; i < (size_t)K * N; i++) B[i] = (float)((i * 5) % 11) * 0.1f - 0.5f;
    memset(C, 0, sizeof(float) * (size_t)M * N);
    if ((double)M * N * K <= 2.0 * 512 * 512 * 512) gn = gflops(loop_fn, tA, tB, M, N, K, beta, A, B, C, 0.2);
    gp = gflops(umup_sgemm_portable, tA, tB, M, N, K, beta, A, B, C, 0.5);
#ifdef UMUP_USE_CBLAS
    gb = gflops(blas_only, tA, tB, M, N, K, beta, A, B, C, 0.5);
#endif
    printf("bench gemm case=%s rows=%d d=%d M=%d N=%d K=%d naive_gflops=%.2f portable_gflops=%.2f cblas_gflops=%.2f ratio=%.3f\n",
           cs, rows, d, M, N, K, gn, gp, gb, gb > 0 ? gp / gb : -1.0);
    fflush(stdout);
    free(A); free(B); free(C);
}

int main(int argc, char **argv)
{
    static const int R[] = {512, 2048, 4096}, D[] = {128, 256, 512, 1024};
    int ri, di, small = argc > 1 && !strcmp(argv[1], "small");
    (void)gemm_naive; /* oracle lives in tests/test_gemm.c */
    for (ri = 0; ri < 3; ri++)
        for (di = 0; di < 4; di++) {
            int r = R[ri], d = D[di];
            if (small && (r > 512 || d > 256)) continue;
            shape("fwd_NT", 0, 1, r, d, d, 0.0f, r, d);
            shape("dx_NN", 0, 0, r, d, d, 0.0f, r, d);
            shape("dW_TN", 1, 0, d, d, r, 1.0f, r, d);
            if (r == 2048) {
                shape("mlp_up_NT", 0, 1, r, 4 * d, d, 0.0f, r, d);
                shape("mlp_down_NT", 0, 1, r, d, 4 * d, 0.0f, r, d);
            }
        }
    /* attention-sized small GEMMs (crossover) */
    {
        static const int S[] = {32, 64, 128, 256}, H[] = {32, 64, 128};
        int si, hi;
        for (si = 0; si < 4; si++)
            for (hi = 0; hi < 3; hi++) {
                shape("attn_qk_NT", 0, 1, S[si], S[si], H[hi], 0.0f, S[si], H[hi]);
                shape("attn_pv_NN", 0, 0, S[si], H[hi], S[si], 0.0f, S[si], H[hi]);
            }
    }
    return 0;
}
