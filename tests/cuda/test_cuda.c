/* tests/cuda/test_cuda.c - the CUDA backend on a GPU, from plain C (the API needs no CUDA types).
 * Without a usable GPU every device test prints "SKIP [...] <reason>" and the program still passes;
 * creation failing cleanly is checked then. With one:
 *   - fp32 products (every transposition, padded strides, alpha/beta, odd sizes) against the portable
 *     GEMM, elementwise within (2K + 8) 2^-24 |alpha| sum_k |a_ik b_kj| (+ the rounding of beta C);
 *     TF32 within 2^-10 more; products below the threshold are declined and run on the CPU;
 *   - resident weights: a second product with the same key and epoch uploads nothing and uses the
 *     resident copy (a host change without a new epoch is not seen), a new epoch uploads again;
 *   - the FP8 path through umup_linear_forward_ex / _backward_ex (E4M3 x E4M3 forward, E5M2 x E4M3
 *     for dx and dW) against the CPU on the same quantised inputs, within 2^-9 |alpha| sum |a b|, and
 *     the device FP8 GEMM entry against a naive product of the decoded codes;
 *   - the device FP8 casts against umup_fp8.h, bit for bit: every format, RNE / SR / SR16, both
 *     overflow modes, counters crossing a 2^32 block, unaligned arrays, in place; decode of every code;
 *     all 2^32 inputs for E4M3 and E5M2 with UMUP_TEST_FULL=1;
 *   - the reference decoder trained one step on the GPU and on the CPU: loss within 1e-5 (relative),
 *     every gradient tensor within 1e-4 (relative L2);
 *   - errors: host pointers, bad formats, E5M2 x E5M2, misaligned FP8 shapes, with their messages. */
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "umup_cuda.h"
#include "umup_test.h"
#include "gemm_naive.h"
#include "cuda/cast_inputs.h"

#include <cuda_runtime_api.h>
#include <stdint.h>

static umup_backend *gpu;             /* fp8 on, every product on the device (min_macs 1) */
static umup_cuda_device_info info;
static char why[600];

#define NEED_GPU()                                                                                       \
    do {                                                                                             \
        if (!gpu) {                                                                                  \
            UT_SKIP(why);                                                                            \
            return;                                                                                  \
        }                                                                                            \
    } while (0)

static float *fmalloc(size_t n) {
    float *p = (float *)malloc(sizeof(float) * (n ? n : 1));
    if (!p) { fprintf(stderr, "out of memory\n"); exit(1); }
    return p;
}

static void fill(float *x, size_t n, uint64_t seed, float scale) {
    size_t i;
    for (i = 0; i < n; i++) x[i] = scale * (2.0f * umup_rng_uniform(seed, i) - 1.0f);
}

static umup_cuda_stats stats(umup_backend *b) {
    umup_cuda_stats s;
    memset(&s, 0, sizeof s);
    umup_cuda_stats_get(b, &s);
    return s;
}

/* Elementwise check of a product against the CPU's: |got - want| <= t |alpha| S + 2^-22 |beta C0| with
 * S = sum_k |a_ik b_kj| (computed here from the absolute operands). Returns the number of violations. */
static long check_bound(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                        float beta, const float *C0, const float *got, const float *want, int ldc, double t) {
    size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, i;
    float *aa = fmalloc(na), *ab = fmalloc(nb), *S = fmalloc((size_t)M * ldc);
    long bad = 0;
    int r, c;
    for (i = 0; i < na; i++) aa[i] = fabsf(A[i]);
    for (i = 0; i < nb; i++) ab[i] = fabsf(B[i]);
    gemm_naive(ta, tb, M, N, K, 1.0f, aa, lda, ab, ldb, 0.0f, S, ldc);
    for (r = 0; r < M; r++)
        for (c = 0; c < N; c++) {
            size_t at = (size_t)r * ldc + c;
            double tol = t * fabs((double)alpha) * S[at] + (beta != 0.0f ? ldexp(fabs((double)beta * C0[at]), -22) : 0.0);
            if (!(fabs((double)got[at] - (double)want[at]) <= tol)) {
                if (bad < 3)
                    printf("    (%d,%d): got %.9g want %.9g tol %.3g\n", r, c, (double)got[at], (double)want[at], tol);
                bad++;
            }
        }
    free(aa); free(ab); free(S);
    return bad;
}

static double fp32_t(int K) { return (2.0 * K + 8.0) * ldexp(1.0, -24); }

/* One product through the current backend and through the portable GEMM; returns violations. */
static long gemm_case(int ta, int tb, int M, int N, int K, float alpha, float beta, int pad, double t) {
    const int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    float *A = fmalloc((size_t)(ta ? K : M) * lda), *B = fmalloc((size_t)(tb ? N : K) * ldb);
    float *C0 = fmalloc((size_t)M * ldc), *Cg = fmalloc((size_t)M * ldc), *Cc = fmalloc((size_t)M * ldc);
    umup_status st;
    long bad;
    fill(A, (size_t)(ta ? K : M) * lda, 1, 1.0f);
    fill(B, (size_t)(tb ? N : K) * ldb, 2, 1.0f);
    fill(C0, (size_t)M * ldc, 3, 1.0f);
    memcpy(Cg, C0, sizeof(float) * (size_t)M * ldc);
    memcpy(Cc, C0, sizeof(float) * (size_t)M * ldc);
    st = umup_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, Cg, ldc);
    UT_CHECKF(st == UMUP_OK, "umup_sgemm on the GPU: %s (%s)", umup_status_string(st), umup_cuda_error(umup_get_backend()));
    umup_sgemm_portable(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, Cc, ldc);
    bad = check_bound(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, Cg, Cc, ldc, t);
    free(A); free(B); free(C0); free(Cg); free(Cc);
    return bad;
}

static void test_creation(void) {
    if (!gpu) { /* the failure must be clean: a status, a message, no backend */
        umup_backend *b = (umup_backend *)&info;
        umup_status st = umup_cuda_backend_create(&b, NULL);
        UT_CHECK(st == UMUP_ERR_UNSUPPORTED && b == NULL && umup_cuda_error(NULL)[0] != 0);
        UT_SKIP(why);
        return;
    }
    UT_CHECK(info.sm_count > 0 && info.cc_major >= 7 && info.total_mem > 0 && info.clock_khz > 0);
    UT_CHECK(umup_cuda_stream(gpu) != NULL && umup_cuda_synchronize(gpu) == UMUP_OK);
    printf("  %s: sm_%d%d, %d SMs, %.0f MHz, %.1f GiB, FP8 %s\n", info.name, info.cc_major, info.cc_minor, info.sm_count,
           info.clock_khz / 1000.0, (double)info.total_mem / 1073741824.0, info.fp8 ? "yes" : "no");
}

static void test_gemm_fp32(void) {
    static const int shapes[3][3] = {{64, 48, 80}, {257, 131, 199}, {512, 384, 640}};
    int si, ta, tb, calls = 0;
    long bad = 0;
    umup_cuda_stats s0;
    NEED_GPU();
    umup_set_backend(gpu);
    s0 = stats(gpu);
    for (si = 0; si < 3; si++)
        for (ta = 0; ta < 2; ta++)
            for (tb = 0; tb < 2; tb++) {
                bad += gemm_case(ta, tb, shapes[si][0], shapes[si][1], shapes[si][2], 1.0f, 0.0f, 0, fp32_t(shapes[si][2]));
                bad += gemm_case(ta, tb, shapes[si][0], shapes[si][1], shapes[si][2], 0.5f, -0.25f, 3, fp32_t(shapes[si][2]));
                calls += 2;
            }
    umup_set_backend(NULL);
    UT_CHECKF(bad == 0, "%ld elements outside the fp32 bound", bad);
    UT_CHECK(stats(gpu).gemm_fp32 - s0.gemm_fp32 == (uint64_t)calls);
}

static void test_gemm_declined_and_tf32(void) {
    umup_backend *def = NULL, *tf = NULL;
    umup_cuda_config cfg = umup_cuda_config_default();
    NEED_GPU();
    UT_CHECK(umup_cuda_backend_create(&def, NULL) == UMUP_OK);
    cfg.allow_tf32 = 1;
    cfg.min_macs = 1;
    UT_CHECK(umup_cuda_backend_create(&tf, &cfg) == UMUP_OK);
    if (!def || !tf) return;
    { /* 128^3 < 2^24: declined, and umup_gemm's answer is the portable GEMM's, bit for bit */
        const int n = 128;
        float *A = fmalloc((size_t)n * n), *B = fmalloc((size_t)n * n), *C1 = fmalloc((size_t)n * n), *C2 = fmalloc((size_t)n * n);
        umup_gemm_args g;
        fill(A, (size_t)n * n, 4, 1.0f);
        fill(B, (size_t)n * n, 5, 1.0f);
        memset(&g, 0, sizeof g);
        g.M = g.N = g.K = n; g.alpha = 1; g.A = A; g.lda = n; g.B = B; g.ldb = n; g.C = C1; g.ldc = n;
        UT_CHECK(def->gemm(def->ctx, &g) == UMUP_ERR_UNSUPPORTED && stats(def).gemm_declined == 1);
        umup_set_backend(def);
        UT_CHECK(umup_sgemm(0, 0, n, n, n, 1.0f, A, n, B, n, 0.0f, C1, n) == UMUP_OK);
        umup_set_backend(NULL);
        umup_sgemm_portable(0, 0, n, n, n, 1.0f, A, n, B, n, 0.0f, C2, n);
        UT_CHECK(memcmp(C1, C2, sizeof(float) * (size_t)n * n) == 0);
        UT_CHECK(stats(def).gemm_declined == 2 && stats(def).gemm_fp32 == 0);
        free(A); free(B); free(C1); free(C2);
    }
    { /* TF32: inputs rounded to 11 significant bits */
        long bad = 0;
        umup_set_backend(tf);
        bad += gemm_case(0, 1, 256, 192, 320, 1.0f, 0.0f, 0, ldexp(1.0, -10) + fp32_t(320));
        bad += gemm_case(1, 0, 129, 257, 64, 0.5f, 1.0f, 2, ldexp(1.0, -10) + fp32_t(64));
        umup_set_backend(NULL);
        UT_CHECKF(bad == 0, "%ld elements outside the TF32 bound", bad);
        UT_CHECK(stats(tf).gemm_tf32 == 2 && stats(tf).gemm_fp32 == 0);
    }
    umup_cuda_backend_destroy(def);
    umup_cuda_backend_destroy(tf);
}

static void test_weight_residency(void) {
    const int rows = 256, in = 512, out = 384;
    float *x = fmalloc((size_t)rows * in), *W = fmalloc((size_t)out * in), *y1 = fmalloc((size_t)rows * out);
    float *y2 = fmalloc((size_t)rows * out), *y3 = fmalloc((size_t)rows * out), *dy = fmalloc((size_t)rows * out);
    float *dx = fmalloc((size_t)rows * in);
    umup_op_scales s;
    umup_linear_hints h;
    umup_cuda_stats st;
    NEED_GPU();
    fill(x, (size_t)rows * in, 6, 1.0f);
    fill(W, (size_t)out * in, 7, 1.0f);
    fill(dy, (size_t)rows * out, 8, 1.0f);
    memset(dx, 0, sizeof(float) * (size_t)rows * in);
    umup_linear_scales(&s, rows, in, out, UMUP_CONSTRAINT_TO_OUTPUT_SCALE);
    memset(&h, 0, sizeof h);
    h.weight_key = W;
    h.weight_epoch = 1;
    umup_cuda_release_weights(gpu);
    umup_cuda_stats_reset(gpu);
    umup_set_backend(gpu);
    UT_CHECK(umup_linear_forward_ex(y1, x, W, NULL, rows, in, out, &s, &h) == UMUP_OK);
    UT_CHECK(umup_linear_forward_ex(y2, x, W, NULL, rows, in, out, &s, &h) == UMUP_OK);
    st = stats(gpu);
    UT_CHECKF(st.weight_uploads == 1 && st.weight_hits == 1 && st.weights_resident == 1, "uploads %llu hits %llu",
              (unsigned long long)st.weight_uploads, (unsigned long long)st.weight_hits);
    UT_CHECK(memcmp(y1, y2, sizeof(float) * (size_t)rows * out) == 0);
    W[0] += 1.0f; /* without a new epoch the resident copy is used: the result does not change */
    UT_CHECK(umup_linear_forward_ex(y2, x, W, NULL, rows, in, out, &s, &h) == UMUP_OK);
    UT_CHECK(memcmp(y1, y2, sizeof(float) * (size_t)rows * out) == 0);
    h.weight_epoch = 2; /* a new epoch uploads the new values */
    UT_CHECK(umup_linear_forward_ex(y2, x, W, NULL, rows, in, out, &s, &h) == UMUP_OK);
    UT_CHECK(stats(gpu).weight_uploads == 2 && memcmp(y1, y2, sizeof(float) * (size_t)rows * out) != 0);
    /* dx = dy W uses the same resident matrix (B not transposed this time) */
    UT_CHECK(umup_linear_backward_ex(dx, NULL, NULL, dy, x, W, rows, in, out, &s, &h) == UMUP_OK);
    UT_CHECK(stats(gpu).weight_uploads == 2 && stats(gpu).weight_hits == 2);
    umup_set_backend(NULL);
    umup_linear_forward(y3, x, W, NULL, rows, in, out, &s);
    UT_CHECK(check_bound(0, 1, rows, out, in, s.out, x, in, W, in, 0.0f, y3, y2, y3, out, fp32_t(in)) == 0);
    UT_CHECK(umup_cuda_release_weights(gpu) == UMUP_OK && stats(gpu).weights_resident == 0 && stats(gpu).weight_bytes == 0);
    free(x); free(W); free(y1); free(y2); free(y3); free(dy); free(dx);
}

/* The FP8 path through the linear ops, against the CPU on the same quantised values. */
static void fp8_linear_case(int rows, int in, int out, int expect_fp8) {
    float *x = fmalloc((size_t)rows * in), *W = fmalloc((size_t)out * in), *dy = fmalloc((size_t)rows * out);
    float *yg = fmalloc((size_t)rows * out), *yc = fmalloc((size_t)rows * out);
    float *dxg = fmalloc((size_t)rows * in), *dxc = fmalloc((size_t)rows * in), *dx0 = fmalloc((size_t)rows * in);
    float *dWg = fmalloc((size_t)out * in), *dWc = fmalloc((size_t)out * in), *dW0 = fmalloc((size_t)out * in);
    umup_op_scales s;
    umup_linear_hints h;
    umup_cuda_stats s0, s1;
    double t = expect_fp8 ? ldexp(1.0, -9) : fp32_t(in > out ? (in > rows ? in : rows) : (out > rows ? out : rows));
    fill(x, (size_t)rows * in, 9, 2.0f);
    fill(W, (size_t)out * in, 10, 1.0f);
    fill(dy, (size_t)rows * out, 11, 3.0f);
    umup_fp8_quantise_array(x, x, (size_t)rows * in, UMUP_FP8_E4M3, UMUP_FP8_SR, 1, 1, 0);
    umup_fp8_quantise_array(W, W, (size_t)out * in, UMUP_FP8_E4M3, UMUP_FP8_SR, 1, 2, 0);
    umup_fp8_quantise_array(dy, dy, (size_t)rows * out, UMUP_FP8_E5M2, UMUP_FP8_SR, 1, 3, 0);
    fill(dx0, (size_t)rows * in, 12, 1.0f);
    fill(dW0, (size_t)out * in, 13, 1.0f);
    memcpy(dxg, dx0, sizeof(float) * (size_t)rows * in);
    memcpy(dxc, dx0, sizeof(float) * (size_t)rows * in);
    memcpy(dWg, dW0, sizeof(float) * (size_t)out * in);
    memcpy(dWc, dW0, sizeof(float) * (size_t)out * in);
    umup_linear_scales(&s, rows, in, out, UMUP_CONSTRAINT_NONE);
    memset(&h, 0, sizeof h);
    h.x_values = UMUP_GEMM_VALUES_E4M3;
    h.w_values = UMUP_GEMM_VALUES_E4M3;
    h.dy_values = UMUP_GEMM_VALUES_E5M2;
    h.weight_key = W;
    h.weight_epoch = 1;
    s0 = stats(gpu);
    umup_set_backend(gpu);
    UT_CHECK(umup_linear_forward_ex(yg, x, W, NULL, rows, in, out, &s, &h) == UMUP_OK);
    UT_CHECK(umup_linear_backward_ex(dxg, dWg, NULL, dy, x, W, rows, in, out, &s, &h) == UMUP_OK);
    umup_set_backend(NULL);
    s1 = stats(gpu);
    umup_linear_forward(yc, x, W, NULL, rows, in, out, &s);
    umup_linear_backward(dxc, dWc, NULL, dy, x, W, rows, in, out, &s);
    UT_CHECKF(check_bound(0, 1, rows, out, in, s.out, x, in, W, in, 0.0f, yc, yg, yc, out, t) == 0, "forward %dx%dx%d", rows, in, out);
    UT_CHECKF(check_bound(0, 0, rows, in, out, s.grad[0], dy, out, W, in, 1.0f, dx0, dxg, dxc, in, t) == 0, "dx %dx%dx%d", rows, in, out);
    UT_CHECKF(check_bound(1, 0, out, in, rows, s.grad_w, dy, out, x, in, 1.0f, dW0, dWg, dWc, in, t) == 0, "dW %dx%dx%d", rows, in, out);
    if (expect_fp8) UT_CHECKF(s1.gemm_fp8 - s0.gemm_fp8 == 3, "%llu FP8 products", (unsigned long long)(s1.gemm_fp8 - s0.gemm_fp8));
    else UT_CHECK(s1.gemm_fp8 == s0.gemm_fp8 && s1.fp8_fallbacks - s0.fp8_fallbacks == 3);
    free(x); free(W); free(dy); free(yg); free(yc); free(dxg); free(dxc); free(dx0); free(dWg); free(dWc); free(dW0);
}

static void test_fp8_linear(void) {
    NEED_GPU();
    fp8_linear_case(33, 200, 72, 0); /* not multiples of 16: fp32 on the same values */
    if (!info.fp8) {
        UT_SKIP("this device has no FP8 tensor cores (sm_89+)");
        return;
    }
    fp8_linear_case(256, 512, 384, 1);
    fp8_linear_case(4096, 256, 1024, 1); /* the trainer's MLP up projection */
}

static void test_fp8_gemm_device(void) {
    const int M = 256, N = 192, K = 320;
    float *a = fmalloc((size_t)M * K), *b = fmalloc((size_t)N * K), *c = fmalloc((size_t)M * N), *want = fmalloc((size_t)M * N);
    float *da = NULL, *db = NULL, *dc = NULL;
    uint8_t *ca = NULL, *cb = NULL;
    int pass;
    NEED_GPU();
    if (!info.fp8) {
        UT_CHECK(umup_cuda_gemm_fp8(gpu, 16, 16, 16, 1, (const uint8_t *)&info, 16, UMUP_FP8_E4M3, (const uint8_t *)&info, 16,
                                    UMUP_FP8_E4M3, 0, (float *)&info, 16) == UMUP_ERR_UNSUPPORTED);
        UT_SKIP("this device has no FP8 tensor cores (sm_89+)");
        return;
    }
    UT_CHECK(cudaMalloc((void **)&da, sizeof(float) * (size_t)M * K) == cudaSuccess);
    UT_CHECK(cudaMalloc((void **)&db, sizeof(float) * (size_t)N * K) == cudaSuccess);
    UT_CHECK(cudaMalloc((void **)&dc, sizeof(float) * (size_t)M * N) == cudaSuccess);
    UT_CHECK(cudaMalloc((void **)&ca, (size_t)M * K) == cudaSuccess);
    UT_CHECK(cudaMalloc((void **)&cb, (size_t)N * K) == cudaSuccess);
    for (pass = 0; pass < 2; pass++) { /* E4M3 x E4M3, then E5M2 x E4M3 */
        umup_fp8_format fa = pass ? UMUP_FP8_E5M2 : UMUP_FP8_E4M3;
        fill(a, (size_t)M * K, 20 + pass, 4.0f);
        fill(b, (size_t)N * K, 30 + pass, 1.0f);
        cudaMemcpy(da, a, sizeof(float) * (size_t)M * K, cudaMemcpyHostToDevice);
        cudaMemcpy(db, b, sizeof(float) * (size_t)N * K, cudaMemcpyHostToDevice);
        UT_CHECK(umup_cuda_fp8_encode(gpu, ca, da, (size_t)M * K, fa, UMUP_FP8_RNE, 1, 0, 0) == UMUP_OK);
        UT_CHECK(umup_cuda_fp8_encode(gpu, cb, db, (size_t)N * K, UMUP_FP8_E4M3, UMUP_FP8_RNE, 1, 0, 0) == UMUP_OK);
        UT_CHECK(umup_cuda_gemm_fp8(gpu, M, N, K, 0.5f, ca, K, fa, cb, K, UMUP_FP8_E4M3, 0.0f, dc, N) == UMUP_OK);
        UT_CHECKF(umup_cuda_synchronize(gpu) == UMUP_OK, "%s", umup_cuda_error(gpu));
        cudaMemcpy(c, dc, sizeof(float) * (size_t)M * N, cudaMemcpyDeviceToHost);
        umup_fp8_quantise_array(a, a, (size_t)M * K, fa, UMUP_FP8_RNE, 1, 0, 0);
        umup_fp8_quantise_array(b, b, (size_t)N * K, UMUP_FP8_E4M3, UMUP_FP8_RNE, 1, 0, 0);
        gemm_naive(0, 1, M, N, K, 0.5f, a, K, b, K, 0.0f, want, N);
        UT_CHECKF(check_bound(0, 1, M, N, K, 0.5f, a, K, b, K, 0.0f, want, c, want, N, ldexp(1.0, -9)) == 0, "pass %d", pass);
    }
    UT_CHECK(umup_cuda_gemm_fp8(gpu, M, N, K, 1, ca, K, UMUP_FP8_E5M2, cb, K, UMUP_FP8_E5M2, 0, dc, N) == UMUP_ERR_UNSUPPORTED);
    UT_CHECK(strstr(umup_cuda_error(gpu), "E5M2 x E5M2") != NULL);
    UT_CHECK(umup_cuda_gemm_fp8(gpu, 17, N, K, 1, ca, K, UMUP_FP8_E4M3, cb, K, UMUP_FP8_E4M3, 0, dc, N) == UMUP_ERR_UNSUPPORTED);
    UT_CHECK(umup_cuda_gemm_fp8(gpu, M, N, K, 1, ca, K, UMUP_FP8_E4M3, cb, K - 16, UMUP_FP8_E4M3, 0, dc, N) == UMUP_ERR_SHAPE);
    UT_CHECK(umup_cuda_gemm_fp8(gpu, M, N, K, 1, ca, K, UMUP_FP8_E4M3FNUZ, cb, K, UMUP_FP8_E4M3, 0, dc, N) == UMUP_ERR_INVALID_ARG);
    cudaFree(da); cudaFree(db); cudaFree(dc); cudaFree(ca); cudaFree(cb);
    free(a); free(b); free(c); free(want);
}

static void test_casts_device(void) {
    const size_t n = ((size_t)1 << 20) + 3;
    static const uint64_t counters[2] = {0, 0xFFFFFFFFull - 1000u};
    float *x = fmalloc(n), *q = fmalloc(n), *qw = fmalloc(n), *dx = NULL, *dq = NULL;
    uint8_t *c = (uint8_t *)malloc(n), *cw = (uint8_t *)malloc(n), *dcodes = NULL;
    long bad_e = 0, bad_q = 0, bad_d = 0, runs = 0;
    int f, sat, r, ci;
    NEED_GPU();
    cast_inputs(x, n, 5);
    UT_CHECK(cudaMalloc((void **)&dx, sizeof(float) * n) == cudaSuccess);
    UT_CHECK(cudaMalloc((void **)&dq, sizeof(float) * n) == cudaSuccess);
    UT_CHECK(cudaMalloc((void **)&dcodes, n) == cudaSuccess);
    cudaMemcpy(dx, x, sizeof(float) * n, cudaMemcpyHostToDevice);
    for (f = 0; f < (int)UMUP_FP8_FORMAT_COUNT; f++)
        for (sat = 0; sat < 2; sat++)
            for (r = 0; r < 3; r++)
                for (ci = 0; ci < (r ? 2 : 1); ci++) {
                    size_t i;
                    umup_fp8_rounding rr = (umup_fp8_rounding)r;
                    UT_CHECK(umup_cuda_fp8_encode(gpu, dcodes, dx, n, (umup_fp8_format)f, rr, sat, 77, counters[ci]) == UMUP_OK);
                    UT_CHECK(umup_cuda_fp8_quantise(gpu, dq, dx, n, (umup_fp8_format)f, rr, sat, 77, counters[ci]) == UMUP_OK);
                    UT_CHECK(umup_cuda_synchronize(gpu) == UMUP_OK);
                    cudaMemcpy(c, dcodes, n, cudaMemcpyDeviceToHost);
                    cudaMemcpy(q, dq, sizeof(float) * n, cudaMemcpyDeviceToHost);
                    umup_fp8_encode_array(cw, x, n, (umup_fp8_format)f, rr, sat, 77, counters[ci]);
                    umup_fp8_quantise_array(qw, x, n, (umup_fp8_format)f, rr, sat, 77, counters[ci]);
                    bad_e += memcmp(c, cw, n) != 0;
                    for (i = 0; i < n; i++) bad_q += memcmp(&q[i], &qw[i], 4) != 0;
                    runs++;
                }
    UT_CHECKF(bad_e == 0 && bad_q == 0, "%ld encode runs and %ld quantised elements differ from umup_fp8.h", bad_e, bad_q);
    { /* decode every code of every format */
        uint8_t codes[256];
        float d[256], w[256];
        for (r = 0; r < 256; r++) codes[r] = (uint8_t)r;
        cudaMemcpy(dcodes, codes, 256, cudaMemcpyHostToDevice);
        for (f = 0; f < (int)UMUP_FP8_FORMAT_COUNT; f++) {
            UT_CHECK(umup_cuda_fp8_decode(gpu, dq, dcodes, 256, (umup_fp8_format)f) == UMUP_OK);
            cudaMemcpy(d, dq, sizeof d, cudaMemcpyDeviceToHost);
            umup_fp8_decode_array(w, codes, 256, (umup_fp8_format)f);
            bad_d += memcmp(d, w, sizeof d) != 0;
        }
        UT_CHECK(bad_d == 0);
    }
    { /* unaligned arrays (the scalar path) and in place */
        size_t m = n - 3, i;
        long bad = 0;
        UT_CHECK(umup_cuda_fp8_encode(gpu, dcodes + 1, dx + 1, m, UMUP_FP8_E4M3, UMUP_FP8_SR, 1, 5, 9) == UMUP_OK);
        cudaMemcpy(dq, dx, sizeof(float) * n, cudaMemcpyDeviceToDevice);
        UT_CHECK(umup_cuda_fp8_quantise(gpu, dq + 3, dq + 3, m, UMUP_FP8_E5M2, UMUP_FP8_SR16, 0, 6, 10) == UMUP_OK);
        UT_CHECK(umup_cuda_synchronize(gpu) == UMUP_OK);
        cudaMemcpy(c, dcodes + 1, m, cudaMemcpyDeviceToHost);
        cudaMemcpy(q, dq + 3, sizeof(float) * m, cudaMemcpyDeviceToHost);
        umup_fp8_encode_array(cw, x + 1, m, UMUP_FP8_E4M3, UMUP_FP8_SR, 1, 5, 9);
        umup_fp8_quantise_array(qw, x + 3, m, UMUP_FP8_E5M2, UMUP_FP8_SR16, 0, 6, 10);
        bad += memcmp(c, cw, m) != 0;
        for (i = 0; i < m; i++) bad += memcmp(&q[i], &qw[i], 4) != 0;
        UT_CHECK(bad == 0);
    }
    if (ut_full()) { /* all 2^32 inputs, E4M3 and E5M2, saturating RNE (the training cast) */
        const size_t chunk = (size_t)1 << 24;
        float *xs = fmalloc(chunk), *dxs = NULL;
        uint8_t *cs = (uint8_t *)malloc(chunk), *ws = (uint8_t *)malloc(chunk), *dcs = NULL;
        long bad = 0;
        uint64_t base;
        cudaMalloc((void **)&dxs, sizeof(float) * chunk);
        cudaMalloc((void **)&dcs, chunk);
        for (f = 0; f < 2; f++)
            for (base = 0; base < 0x100000000ull; base += chunk) {
                size_t i;
                for (i = 0; i < chunk; i++) {
                    uint32_t bits = (uint32_t)(base + i);
                    memcpy(&xs[i], &bits, 4);
                }
                cudaMemcpy(dxs, xs, sizeof(float) * chunk, cudaMemcpyHostToDevice);
                umup_cuda_fp8_encode(gpu, dcs, dxs, chunk, (umup_fp8_format)f, UMUP_FP8_RNE, 1, 0, 0);
                cudaMemcpy(cs, dcs, chunk, cudaMemcpyDeviceToHost);
                umup_fp8_encode_array(ws, xs, chunk, (umup_fp8_format)f, UMUP_FP8_RNE, 1, 0, 0);
                bad += memcmp(cs, ws, chunk) != 0;
            }
        UT_CHECKF(bad == 0, "%ld chunks of the 2^32 sweep differ", bad);
        cudaFree(dxs); cudaFree(dcs); free(xs); free(cs); free(ws);
    }
    /* errors: host memory, bad enums, NULL */
    UT_CHECK(umup_cuda_fp8_encode(gpu, c, x, n, UMUP_FP8_E4M3, UMUP_FP8_RNE, 1, 0, 0) == UMUP_ERR_INVALID_ARG);
    UT_CHECK(strstr(umup_cuda_error(gpu), "not device memory") != NULL);
    UT_CHECK(umup_cuda_fp8_encode(gpu, dcodes, dx, n, (umup_fp8_format)99, UMUP_FP8_RNE, 1, 0, 0) == UMUP_ERR_INVALID_ARG);
    UT_CHECK(umup_cuda_fp8_quantise(gpu, dq, dx, n, UMUP_FP8_E4M3, (umup_fp8_rounding)7, 1, 0, 0) == UMUP_ERR_INVALID_ARG);
    UT_CHECK(umup_cuda_fp8_decode(gpu, NULL, dcodes, 5, UMUP_FP8_E4M3) == UMUP_ERR_NULL);
    UT_CHECK(umup_cuda_fp8_decode(gpu, NULL, NULL, 0, UMUP_FP8_E4M3) == UMUP_OK);
    printf("  %ld cast runs of %zu elements bit-identical to umup_fp8.h\n", runs, n);
    cudaFree(dx); cudaFree(dq); cudaFree(dcodes);
    free(x); free(q); free(qw); free(c); free(cw);
}

/* One forward and backward pass of the reference decoder; returns the loss, gradients into grads. */
static float model_pass(umup_model *m, const int32_t *ids, const int32_t *tg, int B, int T, float *grads) {
    float loss = 0.0f;
    umup_model_zero_grad(m);
    UT_CHECK(umup_model_forward(m, ids, tg, B, T, 0, &loss) == UMUP_OK);
    UT_CHECK(umup_model_backward(m) == UMUP_OK);
    memcpy(grads, umup_model_grads(m), sizeof(float) * umup_model_num_params(m));
    return loss;
}

static void model_agreement(umup_fp8_sim fp8, double loss_tol, double grad_tol) {
    const int B = 4, T = 64;
    umup_model_config mc = umup_model_config_default();
    umup_model *m = NULL;
    int32_t ids[4 * 64], tg[4 * 64];
    float *gg, *gc, lg, lc;
    double worst = 0.0;
    int i;
    umup_cuda_stats s0;
    mc.fp8 = fp8;
    mc.fp8_rounding = UMUP_FP8_SR;
    if (umup_model_create(&m, &mc, B) != UMUP_OK) { UT_CHECK(!"model"); return; }
    for (i = 0; i < B * T; i++) {
        ids[i] = (int32_t)(umup_rng_u32(40, (uint64_t)i) % 256u);
        tg[i] = (int32_t)(umup_rng_u32(41, (uint64_t)i) % 256u);
    }
    gg = fmalloc(umup_model_num_params(m));
    gc = fmalloc(umup_model_num_params(m));
    s0 = stats(gpu);
    umup_set_backend(gpu);
    lg = model_pass(m, ids, tg, B, T, gg);
    umup_set_backend(NULL);
    lc = model_pass(m, ids, tg, B, T, gc);
    UT_CHECK(stats(gpu).gemm_fp32 + stats(gpu).gemm_fp8 > s0.gemm_fp32 + s0.gemm_fp8); /* the GPU did the linears */
    UT_CHECKF(fabs((double)lg - (double)lc) <= loss_tol * fabs((double)lc), "loss GPU %.9g CPU %.9g", (double)lg, (double)lc);
    for (i = 0; i < umup_model_num_tensors(m); i++) {
        const umup_tensor_info *ti = umup_model_tensor(m, i);
        double e = ut_l2_rel(gg + ti->offset, gc + ti->offset, ti->size);
        if (e > worst) worst = e;
        UT_CHECKF(e <= grad_tol, "%s: gradient relative L2 difference %.3g", ti->name, e);
    }
    printf("  reference decoder (FP8 simulation %d): loss GPU %.7f CPU %.7f, worst gradient tensor %.2g\n", (int)fp8,
           (double)lg, (double)lc, worst);
    free(gg); free(gc);
    umup_model_destroy(m);
}

static void test_model_agreement(void) {
    NEED_GPU();
    model_agreement(UMUP_FP8_SIM_NONE, 1e-5, 1e-4);
    /* FP8 simulation: the inputs are quantised on the CPU; the products run in FP8 where marked */
    model_agreement(UMUP_FP8_SIM_UMUP, 1e-3, 1e-2);
}

int main(void) {
    umup_cuda_config cfg = umup_cuda_config_default();
    umup_status st;
    cfg.fp8 = 1;
    cfg.min_macs = 1; /* every product on the device */
    st = umup_cuda_backend_create(&gpu, &cfg);
    if (st != UMUP_OK) {
        snprintf(why, sizeof why, "no GPU here: %.500s", umup_cuda_error(NULL));
        gpu = NULL;
    } else {
        umup_cuda_device(gpu, &info);
    }
    UT_RUN(test_creation);
    UT_RUN(test_gemm_fp32);
    UT_RUN(test_gemm_declined_and_tf32);
    UT_RUN(test_weight_residency);
    UT_RUN(test_fp8_linear);
    UT_RUN(test_fp8_gemm_device);
    UT_RUN(test_casts_device);
    UT_RUN(test_model_agreement);
    if (gpu) {
        umup_cuda_stats s = stats(gpu);
        printf("  backend totals: fp32 %llu, FP8 %llu, declined %llu, fp8 fallbacks %llu, %.1f MB up, %.1f MB down\n",
               (unsigned long long)s.gemm_fp32, (unsigned long long)s.gemm_fp8, (unsigned long long)s.gemm_declined,
               (unsigned long long)s.fp8_fallbacks, s.bytes_h2d / 1e6, s.bytes_d2h / 1e6);
    }
    umup_cuda_backend_destroy(gpu);
    return ut_finish("test_cuda");
}
