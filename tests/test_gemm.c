/* tests/test_gemm.c - the GEMM seam: umup_sgemm_portable and umup_gemm (through the current backend)
 * against a naive double-accumulating oracle, the CBLAS backend when built, and a test backend. */
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <stdio.h>
#include "umup_test.h"
/* send every product with all dims >= 64 to CBLAS (when built with it), whatever kernel OpenBLAS
   runs, so that test_dispatch exercises the CBLAS backend through umup_gemm, not only the portable one */
#define UMUP_GEMM_BLAS_MIN 1.0
#define UMUP_CBLAS_ANY_CORE
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "gemm_naive.h"

static unsigned ut_rng = 12345u;
static float rnd(void) { ut_rng = ut_rng * 1664525u + 1013904223u; return (float)((ut_rng >> 8) & 0xFFFF) / 32768.0f - 1.0f; }

typedef umup_status (*gemm_fn)(int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);

/* the private unpacked fallback, with the public signature */
static umup_status loop_fn(int tA, int tB, int M, int N, int K, float al, const float *A, int lda, const float *B, int ldb,
                           float be, float *C, int ldc)
{
    umup__sgemm_loop(tA, tB, M, N, K, al, A, lda, B, ldb, be, C, ldc);
    return UMUP_OK;
}

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
    if (fn(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) != UMUP_OK) bad++;
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
    static const int sh[][3] = {{1, 1, 1}, {7, 13, 17}, {61, 67, 71}, {5, 3, 1}, {17, 33, 1000}, {29, 45, 2100},
                                {6, 16, 256}, {73, 129, 257}, {200, 300, 520}, {130, 2100, 40}};
    static const float betas[] = {0.0f, 1.0f, 0.5f};
    int s, t, b, nsh = ut_quick() ? 8 : (int)(sizeof sh / sizeof sh[0]); /* K 2100, tA: the depth split */
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

static void test_portable(void) { run_shapes(umup_sgemm_portable, "portable"); }

/* Every micro-kernel compiled into this build, against the oracle and against the plain-C kernel
 * (the portable fallback) on the same inputs: |C_k - C_c| <= 2e-6 * (|alpha| sum |a||b| + |beta c|),
 * the two differing only by rounding (FMA). Shapes cover the edge tiles of 6 x 16 and 12 x 32 tiles
 * and depths across the KC = 256 blocks. */
static void test_kernels(void)
{
    static const int sh[][3] = {{12, 32, 256}, {13, 33, 257}, {25, 65, 513}, {1, 100, 3}, {6, 16, 1}, {37, 31, 300},
                                {11, 47, 64}, {97, 250, 129}};
    umup_gemm_kernel k, saved = umup_gemm_get_kernel();
    int s, t, i, compiled = 0;
    for (k = UMUP_GEMM_KERNEL_C; k <= UMUP_GEMM_KERNEL_AVX512; k = (umup_gemm_kernel)(k + 1)) {
        char name[32];
        if (!umup_gemm_kernel_available(k)) {
            UT_CHECK(umup_gemm_set_kernel(k) == UMUP_ERR_UNSUPPORTED);
            continue;
        }
        compiled++;
        UT_CHECK(umup_gemm_set_kernel(k) == UMUP_OK && umup_gemm_get_kernel() == k);
        snprintf(name, sizeof name, "kernel %s", umup_gemm_kernel_name(k));
        run_shapes(umup_sgemm_portable, name);
        for (s = 0; s < (int)(sizeof sh / sizeof sh[0]); s++)
            for (t = 0; t < 4; t++) {
                int M = sh[s][0], N = sh[s][1], K = sh[s][2], tA = t >> 1, tB = t & 1, ldc = N + 2, bad = 0;
                int lda = tA ? M : K, ldb = tB ? K : N;
                float *A = (float *)malloc(sizeof(float) * (size_t)M * K), *B = (float *)malloc(sizeof(float) * (size_t)K * N);
                float *C0 = (float *)malloc(sizeof(float) * (size_t)M * ldc), *Ck = (float *)malloc(sizeof(float) * (size_t)M * ldc);
                float *Cc = (float *)malloc(sizeof(float) * (size_t)M * ldc);
                for (i = 0; i < M * K; i++) A[i] = rnd();
                for (i = 0; i < K * N; i++) B[i] = rnd();
                for (i = 0; i < M * ldc; i++) C0[i] = rnd();
                memcpy(Ck, C0, sizeof(float) * (size_t)M * ldc);
                memcpy(Cc, C0, sizeof(float) * (size_t)M * ldc);
                umup_sgemm_portable(tA, tB, M, N, K, 0.5f, A, lda, B, ldb, 0.25f, Ck, ldc);
                umup_gemm_set_kernel(UMUP_GEMM_KERNEL_C);
                umup_sgemm_portable(tA, tB, M, N, K, 0.5f, A, lda, B, ldb, 0.25f, Cc, ldc);
                umup_gemm_set_kernel(k);
                for (i = 0; i < M * ldc; i++) {
                    int r = i / ldc, c = i % ldc, p;
                    double sab = 0;
                    if (c >= N) { bad += memcmp(&Ck[i], &C0[i], sizeof(float)) != 0; continue; }
                    for (p = 0; p < K; p++)
                        sab += fabs((double)(tA ? A[(size_t)p * lda + r] : A[(size_t)r * lda + p]) *
                                    (double)(tB ? B[(size_t)c * ldb + p] : B[(size_t)p * ldb + c]));
                    bad += !(fabs((double)Ck[i] - (double)Cc[i]) <= 2e-6 * (0.5 * sab + 0.25 * fabs(C0[i])));
                }
                UT_CHECKF(bad == 0, "%s vs c: M=%d N=%d K=%d tA=%d tB=%d: %d bad", name, M, N, K, tA, tB, bad);
                free(A); free(B); free(C0); free(Ck); free(Cc);
            }
    }
    UT_CHECK(compiled >= 1 && umup_gemm_kernel_available(UMUP_GEMM_KERNEL_C));
    UT_CHECK(umup_gemm_set_kernel((umup_gemm_kernel)9) == UMUP_ERR_INVALID_ARG);
    UT_CHECK(strcmp(umup_gemm_kernel_name(UMUP_GEMM_KERNEL_AVX512), "avx512") == 0);
    /* AUTO picks the widest kernel the compiler targets */
    UT_CHECK(umup_gemm_set_kernel(UMUP_GEMM_KERNEL_AUTO) == UMUP_OK);
#if defined(__AVX512F__)
    UT_CHECK(umup_gemm_get_kernel() == UMUP_GEMM_KERNEL_AVX512);
#elif defined(__AVX2__) && defined(__FMA__)
    UT_CHECK(umup_gemm_get_kernel() == UMUP_GEMM_KERNEL_AVX2);
#else
    UT_CHECK(umup_gemm_get_kernel() == UMUP_GEMM_KERNEL_C);
#endif
    printf("test_gemm: %d kernels compiled, default %s\n", compiled, umup_gemm_kernel_name(umup_gemm_get_kernel()));
    umup_gemm_set_kernel(saved);
}
static void test_dispatch(void) { run_shapes(umup_sgemm, "dispatch"); }
#ifdef UMUP_USE_CBLAS
static umup_status cblas_only(int tA, int tB, int M, int N, int K, float al, const float *A, int lda, const float *B, int ldb,
                       float be, float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, tA ? CblasTrans : CblasNoTrans, tB ? CblasTrans : CblasNoTrans, M, N, K, al, A, lda, B,
                ldb, be, C, ldc);
    return UMUP_OK;
}
static void test_cblas(void) {
    run_shapes(cblas_only, "cblas");
    UT_CHECK(umup_get_backend() == umup_cblas_backend()); /* the compile-time default */
    UT_CHECK(strcmp(umup_cblas_backend()->name, "cblas") == 0);
}
#else
static void test_cblas(void) { UT_SKIP("built without UMUP_USE_CBLAS"); }
#endif
static void test_loop(void) { run_shapes(loop_fn, "loop"); }

static void test_nan_beta0(void)
{
    int t;
    for (t = 0; t < 4; t++) {
        UT_CHECK(check_case(umup_sgemm_portable, t >> 1, t & 1, 37, 41, 43, 2, 1.0f, 0.0f, 1) == 0);
        UT_CHECK(check_case(umup_sgemm, t >> 1, t & 1, 70, 90, 80, 1, 1.0f, 0.0f, 1) == 0);
    }
}

/* Result must not depend on the thread count (bitwise), for every compiled kernel and for shapes
 * that the threads split by rows and by columns, and by depth (K 2100 with a transposed A). */
static void test_threads(void)
{
#ifdef _OPENMP
    static const int sh[][3] = {{600, 520, 700}, {70, 90, 2100}, {150, 100, 300}, {40, 900, 600}, {260, 260, 1100}};
    int nt = omp_get_max_threads(), s, t, i;
    umup_gemm_kernel k, saved = umup_gemm_get_kernel();
    for (k = UMUP_GEMM_KERNEL_C; k <= UMUP_GEMM_KERNEL_AVX512; k = (umup_gemm_kernel)(k + 1)) {
        if (umup_gemm_set_kernel(k) != UMUP_OK) continue;
        for (s = ut_quick() ? 1 : 0; s < 5; s++)
            for (t = 0; t < 4; t++) {
                int M = sh[s][0], N = sh[s][1], K = sh[s][2], tA = t >> 1, tB = t & 1, same = 1, th;
                float *A = (float *)malloc(sizeof(float) * M * K), *B = (float *)malloc(sizeof(float) * K * N);
                float *C1 = (float *)malloc(sizeof(float) * M * N), *C2 = (float *)malloc(sizeof(float) * M * N);
                for (i = 0; i < M * K; i++) A[i] = rnd();
                for (i = 0; i < K * N; i++) B[i] = rnd();
                omp_set_num_threads(1);
                umup_sgemm_portable(tA, tB, M, N, K, 1.0f, A, tA ? M : K, B, tB ? K : N, 0.0f, C1, N);
                for (th = 2; th <= 3; th++) {
                    omp_set_num_threads(th);
                    umup_sgemm_portable(tA, tB, M, N, K, 1.0f, A, tA ? M : K, B, tB ? K : N, 0.0f, C2, N);
                    for (i = 0; i < M * N; i++) if (memcmp(&C1[i], &C2[i], sizeof(float))) same = 0;
                }
                omp_set_num_threads(nt);
                UT_CHECKF(same, "kernel %s M=%d N=%d K=%d tA=%d tB=%d", umup_gemm_kernel_name(k), M, N, K, tA, tB);
                free(A); free(B); free(C1); free(C2);
            }
    }
    umup_gemm_set_kernel(saved);
#else
    UT_SKIP("no OpenMP");
#endif
}

/* ---- the seam: a test backend that records what it is asked and declines or fails on request ---- */
typedef struct {
    int calls, decline, fail;
    umup_gemm_args last;
} rec_ctx;

static umup_status rec_gemm(void *ctx, const umup_gemm_args *g)
{
    rec_ctx *r = (rec_ctx *)ctx;
    r->calls++;
    r->last = *g;
    if (r->fail) return UMUP_ERR_IO;
    if (r->decline) return UMUP_ERR_UNSUPPORTED;
    /* compute it the slow way, so a result proves the backend ran */
    gemm_naive(g->trans_a, g->trans_b, g->M, g->N, g->K, g->alpha, g->A, g->lda, g->B, g->ldb, g->beta, g->C, g->ldc);
    return UMUP_OK;
}

static void test_seam(void)
{
    rec_ctx r;
    umup_backend be;
    const umup_backend *saved = umup_get_backend();
    float x[6] = {1, 2, 3, 4, 5, 6}, W[6] = {1, 0, 0, 1, 1, 1}, y[4], dy[4] = {1, 1, 1, 1}, dx[6] = {0}, dW[6] = {0};
    int key = 0;
    umup_op_scales s;
    umup_linear_hints h;
    memset(&r, 0, sizeof r);
    be.name = "recorder";
    be.ctx = &r;
    be.gemm = rec_gemm;
    umup_set_backend(&be);
    UT_CHECK(umup_get_backend() == &be);
    /* the ops reach the backend with their hints */
    umup_linear_scales(&s, 2, 3, 2, UMUP_CONSTRAINT_NONE);
    memset(&h, 0, sizeof h);
    h.x_values = UMUP_GEMM_VALUES_E4M3;
    h.w_values = UMUP_GEMM_VALUES_E4M3;
    h.dy_values = UMUP_GEMM_VALUES_E5M2;
    h.weight_key = &key;
    h.weight_epoch = 7;
    UT_CHECK(umup_linear_forward_ex(y, x, W, NULL, 2, 3, 2, &s, &h) == UMUP_OK);
    UT_CHECK(r.calls == 1 && r.last.trans_a == 0 && r.last.trans_b == 1 && r.last.M == 2 && r.last.N == 2 && r.last.K == 3);
    UT_CHECK(r.last.a_values == UMUP_GEMM_VALUES_E4M3 && r.last.b_values == UMUP_GEMM_VALUES_E4M3);
    UT_CHECK(r.last.weight_key == &key && r.last.weight_epoch == 7 && r.last.B == W);
    UT_NEAR(y[0], s.out * (1 * 1 + 2 * 0 + 3 * 0), 1e-6); /* x W^T: row 0 . W row 0 */
    UT_NEAR(y[3], s.out * (4 * 1 + 5 * 1 + 6 * 1), 1e-6);
    UT_CHECK(umup_linear_backward_ex(dx, dW, NULL, dy, x, W, 2, 3, 2, &s, &h) == UMUP_OK);
    UT_CHECK(r.calls == 3);                                   /* dx = dy W, then dW = dy^T x */
    UT_CHECK(r.last.trans_a == 1 && r.last.a_values == UMUP_GEMM_VALUES_E5M2 && r.last.b_values == UMUP_GEMM_VALUES_E4M3);
    UT_CHECK(r.last.weight_key == NULL);                      /* the weight-gradient product has no weight operand */
    UT_NEAR(dW[0], s.grad_w * (1 + 4), 1e-6);
    /* a declined call runs the portable GEMM */
    r.decline = 1;
    y[0] = -1;
    UT_CHECK(umup_linear_forward(y, x, W, NULL, 2, 3, 2, &s) == UMUP_OK);
    UT_CHECK(r.calls == 4);
    UT_NEAR(y[0], s.out * 1, 1e-6);
    /* a failing backend's status comes back through the op */
    r.decline = 0;
    r.fail = 1;
    UT_CHECK(umup_linear_forward(y, x, W, NULL, 2, 3, 2, &s) == UMUP_ERR_IO);
    UT_CHECK(umup_sgemm(0, 0, 2, 2, 3, 1.0f, x, 3, W, 2, 0.0f, y, 2) == UMUP_ERR_IO);
    /* the portable entry never reaches a backend */
    UT_CHECK(umup_sgemm_portable(0, 0, 2, 2, 3, 1.0f, x, 3, W, 2, 0.0f, y, 2) == UMUP_OK && r.calls == 6);
#ifdef _OPENMP
    { /* nor does a call from inside a parallel region */
        int bad = 0;
#pragma omp parallel num_threads(2) reduction(+ : bad)
        {
            float c[4];
            if (umup_sgemm(0, 0, 2, 2, 3, 1.0f, x, 3, W, 2, 0.0f, c, 2) != UMUP_OK) bad++;
        }
        UT_CHECK(bad == 0 && r.calls == 6);
    }
#endif
    /* argument checks happen before any backend */
    UT_CHECK(umup_sgemm(0, 0, -1, 2, 3, 1.0f, x, 3, W, 2, 0.0f, y, 2) == UMUP_ERR_SHAPE);
    UT_CHECK(umup_sgemm(0, 0, 2, 2, 3, 1.0f, x, 2, W, 2, 0.0f, y, 2) == UMUP_ERR_SHAPE);   /* lda < K */
    UT_CHECK(umup_sgemm(0, 1, 2, 2, 3, 1.0f, x, 3, W, 2, 0.0f, y, 2) == UMUP_ERR_SHAPE);   /* ldb < K (B^T) */
    UT_CHECK(umup_sgemm(0, 0, 2, 2, 3, 1.0f, x, 3, W, 2, 0.0f, y, 1) == UMUP_ERR_SHAPE);   /* ldc < N */
    UT_CHECK(umup_sgemm(0, 0, 2, 2, 3, 1.0f, NULL, 3, W, 2, 0.0f, y, 2) == UMUP_ERR_NULL);
    UT_CHECK(umup_gemm(NULL) == UMUP_ERR_NULL);
    UT_CHECK(umup_sgemm(0, 0, 0, 2, 3, 1.0f, NULL, 3, NULL, 2, 0.0f, NULL, 2) == UMUP_OK);  /* empty: nothing to do */
    UT_CHECK(r.calls == 6);
    umup_set_backend(NULL);
    UT_CHECK(umup_get_backend() == NULL);
    umup_set_backend(saved);
}

int main(void)
{
    UT_RUN(test_portable);
    UT_RUN(test_kernels);
    UT_RUN(test_loop);
    UT_RUN(test_dispatch);
    UT_RUN(test_cblas);
    UT_RUN(test_nan_beta0);
    UT_RUN(test_threads);
    UT_RUN(test_seam);
    return ut_finish("test_gemm");
}
