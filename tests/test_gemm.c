/* tests/test_gemm.c - umup__sgemm: portable vs naive (double) vs CBLAS (when built). */
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <stdio.h>
#include "umup_test.h"
/* send every product with all dims >= 32 to CBLAS (when built with it), so that test_dispatch
   exercises the CBLAS branch of umup__sgemm, not only the portable one */
#define UMUP_GEMM_BLAS_MIN 1.0
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "gemm_naive.h"

static unsigned ut_rng = 12345u;
static float rnd(void) { ut_rng = ut_rng * 1664525u + 1013904223u; return (float)((ut_rng >> 8) & 0xFFFF) / 32768.0f - 1.0f; }

typedef void (*gemm_fn)(int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);

/* Tolerance (vs the double-accumulating naive oracle):
   |err_ij| <= 1e-5 * (|alpha| * sum_p |a_ip||b_pj| + |beta||c_ij|) + 1e-30.
   Columns of C beyond N (ldc padding) must be left bit-identical. */
static int check_case(gemm_fn fn, int tA, int tB, int M, int N, int K, int pad, float alpha, float beta, int nanC)
{
    int lda = (tA ? M : K) + pad, ldb = (tB ? K : N) + pad, ldc = N + pad;
    int ra = tA ? K : M, rb = tB ? N : K, i, j, p, bad = 0;
    float *A = (float *)malloc(sizeof(float) * (size_t)ra * lda + 1);
    float *B = (float *)malloc(sizeof(float) * (size_t)rb * ldb + 1);
    float *C = (float *)malloc(sizeof(float) * (size_t)M * ldc + 1);
    float *C0 = (float *)malloc(sizeof(float) * (size_t)M * ldc + 1);
    float *R = (float *)malloc(sizeof(float) * (size_t)M * ldc + 1);
    for (i = 0; i < ra * lda; i++) A[i] = rnd();
    for (i = 0; i < rb * ldb; i++) B[i] = rnd();
    for (i = 0; i < M * ldc; i++) C0[i] = nanC ? NAN : rnd();
    memcpy(C, C0, sizeof(float) * (size_t)M * ldc);
    memcpy(R, C0, sizeof(float) * (size_t)M * ldc);
    fn(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    gemm_naive(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, R, ldc);
    for (i = 0; i < M; i++)
        for (j = 0; j < ldc; j++) {
            size_t o = (size_t)i * ldc + j;
            if (j >= N) { /* padding untouched */
                if (memcmp(&C[o], &C0[o], sizeof(float)) != 0) bad++;
                continue;
            }
            {
                double s = 0, tol;
                for (p = 0; p < K; p++) {
                    double a = tA ? A[(size_t)p * lda + i] : A[(size_t)i * lda + p];
                    double b = tB ? B[(size_t)j * ldb + p] : B[(size_t)p * ldb + j];
                    s += fabs(a * b);
                }
                tol = 1e-5 * (fabs(alpha) * s + (beta != 0 ? fabs(beta * C0[o]) : 0)) + 1e-30;
                if (!(fabs((double)C[o] - (double)R[o]) <= tol)) bad++;
            }
        }
    free(A); free(B); free(C); free(C0); free(R);
    return bad;
}

static void run_shapes(gemm_fn fn, const char *name)
{
    static const int sh[][3] = {{1, 1, 1}, {7, 13, 17}, {61, 67, 71}, {5, 3, 1}, {17, 33, 1000}, {6, 16, 256},
                                {73, 129, 257}, {200, 300, 520}, {130, 2100, 40}};
    static const float betas[] = {0.0f, 1.0f, 0.5f};
    int s, t, b, nsh = ut_quick() ? 7 : (int)(sizeof sh / sizeof sh[0]);
    for (s = 0; s < nsh; s++)
        for (t = 0; t < 4; t++)
            for (b = 0; b < 3; b++) {
                int pad = (s + t + b) % 3 == 0 ? 0 : 3;
                float alpha = b == 1 ? 1.0f : -0.75f;
                int bad = check_case(fn, t >> 1, t & 1, sh[s][0], sh[s][1], sh[s][2], pad, alpha, betas[b], 0);
                UT_CHECKF(bad == 0, "%s M=%d N=%d K=%d tA=%d tB=%d beta=%g pad=%d: %d bad", name, sh[s][0], sh[s][1],
                          sh[s][2], t >> 1, t & 1, betas[b], pad, bad);
            }
}

static void test_portable(void) { run_shapes(umup__sgemm_portable, "portable"); }
static void test_dispatch(void) { run_shapes(umup__sgemm, "dispatch"); }
#ifdef UMUP_USE_CBLAS
static void cblas_only(int tA, int tB, int M, int N, int K, float al, const float *A, int lda, const float *B, int ldb,
                       float be, float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, tA ? CblasTrans : CblasNoTrans, tB ? CblasTrans : CblasNoTrans, M, N, K, al, A, lda, B,
                ldb, be, C, ldc);
}
static void test_cblas(void) { run_shapes(cblas_only, "cblas"); }
#else
static void test_cblas(void) { UT_SKIP("built without UMUP_USE_CBLAS"); }
#endif
static void test_loop(void) { run_shapes(umup__sgemm_loop, "loop"); }

static void test_nan_beta0(void)
{
    int t;
    for (t = 0; t < 4; t++) {
        UT_CHECK(check_case(umup__sgemm_portable, t >> 1, t & 1, 37, 41, 43, 2, 1.0f, 0.0f, 1) == 0);
        UT_CHECK(check_case(umup__sgemm, t >> 1, t & 1, 70, 90, 80, 1, 1.0f, 0.0f, 1) == 0);
    }
}

/* Result must not depend on the thread count (bitwise). */
static void test_threads(void)
{
#ifdef _OPENMP
    int M = ut_quick() ? 150 : 600, N = ut_quick() ? 100 : 520, K = ut_quick() ? 300 : 700, i, same = 1;
    float *A = (float *)malloc(sizeof(float) * M * K), *B = (float *)malloc(sizeof(float) * K * N);
    float *C1 = (float *)malloc(sizeof(float) * M * N), *C2 = (float *)malloc(sizeof(float) * M * N);
    int nt = omp_get_max_threads();
    for (i = 0; i < M * K; i++) A[i] = rnd();
    for (i = 0; i < K * N; i++) B[i] = rnd();
    omp_set_num_threads(1);
    umup__sgemm_portable(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C1, N);
    omp_set_num_threads(2);
    umup__sgemm_portable(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C2, N);
    omp_set_num_threads(nt);
    for (i = 0; i < M * N; i++) if (memcmp(&C1[i], &C2[i], sizeof(float))) same = 0;
    UT_CHECK(same);
    free(A); free(B); free(C1); free(C2);
#else
    UT_SKIP("no OpenMP");
#endif
}

int main(void)
{
    UT_RUN(test_portable);
    UT_RUN(test_loop);
    UT_RUN(test_dispatch);
    UT_RUN(test_cblas);
    UT_RUN(test_nan_beta0);
    UT_RUN(test_threads);
    return ut_finish("test_gemm");
}
