/* tests/gemm_naive.h - the GEMM test oracle: a plain triple loop with double accumulation, with
 * the argument list of umup_sgemm_portable (shared by tests/test_gemm.c and bench/bench_gemm.c). */
#ifndef UMUP_GEMM_NAIVE_H
#define UMUP_GEMM_NAIVE_H
#define GN_A(i, p) (transA ? A[(size_t)(p) * (size_t)lda + (size_t)(i)] : A[(size_t)(i) * (size_t)lda + (size_t)(p)])
#define GN_B(p, j) (transB ? B[(size_t)(j) * (size_t)ldb + (size_t)(p)] : B[(size_t)(p) * (size_t)ldb + (size_t)(j)])
/* Test oracle: plain triple loop, double accumulation. */
static void gemm_naive(int transA, int transB, int M, int N, int K, float alpha,
                              const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    int i, j, p;
    for (i = 0; i < M; i++)
        for (j = 0; j < N; j++) {
            double s = 0.0;
            float *c = &C[(size_t)i * (size_t)ldc + (size_t)j];
            for (p = 0; p < K; p++) s += (double)GN_A(i, p) * (double)GN_B(p, j);
            *c = (beta == 0.0f) ? (float)(alpha * s) : (float)(alpha * s + (double)beta * (double)*c);
        }
}

#undef GN_A
#undef GN_B
#endif
