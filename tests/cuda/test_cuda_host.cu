/* tests/cuda/test_cuda_host.cu - what can be proven about umup_cuda.h without a GPU, compiled by nvcc.
 * The casts: the functions the cast kernel runs (umup__cu_cast_group, umup__cu_cast_elem, umup__cu_random
 * and umup_fp8.h's integer core under them), compiled for the host by nvcc and driven group by group as
 * the kernel's threads drive them, against umup_fp8.h's own CPU functions:
 *   - RNE encode and quantise, E4M3 / E5M2 / E4M3FNUZ / E5M2FNUZ x {saturating, not}, bit for bit:
 *       UMUP_TEST_FULL=1: encode, all 2^32 float inputs, against the bulk encoder (a separate
 *                         formulation, itself checked on all inputs by test_fp8_exhaustive);
 *       default:          every 97th pattern plus every pattern with 12 low zero bits and its +-1
 *                         neighbours (every tie and format boundary), also for the other three formats;
 *       UMUP_TEST_QUICK=1: every 9973rd pattern plus the 16-bit lattice;
 *   - decode of all 256 codes of every format;
 *   - stochastic rounding (32 and 16 bits), encode and quantise, every format x both overflow modes,
 *     with counters that cross a 2^32 block and wrap 2^64: the same seed and counter give the same bits
 *     as umup_fp8_encode_array / umup_fp8_quantise_array;
 *   - the RNG key selection for counters two or more blocks past the first.
 * The GEMM plans: every transposition, padding, value hint, configuration and device capability is
 * planned and the resulting column-major cuBLAS / cuBLASLt call (with the device-side encodes and
 * transposes) is emulated: its result must equal the row-major product exactly (same products,
 * same double summation order). The FP8 plans must be "TN" with K-major operands.
 * The transfers: a strided matrix moved through staging chunks of any size arrives packed, and back.
 * Creation: without a device it fails cleanly (UMUP_ERR_UNSUPPORTED, a message, *out NULL); invalid
 * configurations and arguments are refused before any device call. */
/* umup_cuda.h's implementation holds the device trainer, which calls umup.h's trainer API: umup.h's
 * implementation (with umup_fp8.h's) is compiled here too */
#define UMUP_IMPLEMENTATION
#include "umup.h"
#define UMUP_CUDA_IMPLEMENTATION
#include "umup_cuda.h"
#include "umup_test.h"
#include "gemm_naive.h"
#include "cuda/cast_inputs.h"

static const umup_fp8_format ALL_FMTS[7] = {UMUP_FP8_E4M3,        UMUP_FP8_E5M2,    UMUP_FP8_E4M3FNUZ, UMUP_FP8_E5M2FNUZ,
                                            UMUP_FP8_E4M3B11FNUZ, UMUP_FP8_GC_E4M3, UMUP_FP8_GC_E5M2};

/* The cast kernel's work, done on the host: every group, in order. */
static void host_cast(const umup__cu_cast *c, void *dst, const void *src, size_t n) {
    size_t groups = (n + UMUP__CU_U - 1) / UMUP__CU_U, g;
    for (g = 0; g < groups; g++) umup__cu_cast_group(c, dst, src, n, g, 1);
}

static uint32_t fbits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

/* ---- RNE encode and quantise over a sweep of float bit patterns ----------------------------------
 * Inputs: i * stride for i < ceil(2^32 / stride), then (if lattice_bits) k << lattice_bits and its two
 * neighbours. Processed in chunks of 4096 (OpenMP over chunks). */
static void sweep(const char *what, int nf, uint64_t stride, int lattice_bits, int scalar_and_quantise) {
    const long long nstride = (long long)((0x100000000ull + stride - 1) / stride);
    const long long nlat = lattice_bits ? 3 * (long long)(0x100000000ull >> lattice_bits) : 0;
    const long long nin = nstride + nlat, nchunk = (nin + 4095) / 4096;
    int fi, sat;
    for (fi = 0; fi < nf; fi++)
        for (sat = 0; sat < 2; sat++) {
            umup_fp8_format f = ALL_FMTS[fi];
            umup__cu_cast ce, cq;
            long long bad_scalar = 0, bad_bulk = 0, bad_q = 0, ch;
            UT_CHECK(umup__cu_cast_init(&ce, UMUP__CU_ENCODE, f, UMUP_FP8_RNE, sat, 0, 0));
            UT_CHECK(umup__cu_cast_init(&cq, UMUP__CU_QUANTISE, f, UMUP_FP8_RNE, sat, 0, 0));
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 64) reduction(+ : bad_scalar, bad_bulk, bad_q)
#endif
            for (ch = 0; ch < nchunk; ch++) {
                float x[4096], qd[4096], qc[4096];
                uint8_t cd[4096], cc[4096];
                long long k, len = nin - ch * 4096 < 4096 ? nin - ch * 4096 : 4096;
                for (k = 0; k < len; k++) {
                    long long i = ch * 4096 + k;
                    uint32_t b = i < nstride ? (uint32_t)((uint64_t)i * stride)
                                             : (uint32_t)(((uint64_t)((i - nstride) / 3) << lattice_bits) + (uint64_t)((i - nstride) % 3) - 1u);
                    memcpy(&x[k], &b, 4);
                }
                host_cast(&ce, cd, x, (size_t)len);
                umup_fp8_encode_array(cc, x, (size_t)len, f, UMUP_FP8_RNE, sat, 0, 0);
                for (k = 0; k < len; k++) bad_bulk += cd[k] != cc[k];
                if (scalar_and_quantise) {
                    for (k = 0; k < len; k++) bad_scalar += cd[k] != umup_fp8_from_float(x[k], f, sat);
                    host_cast(&cq, qd, x, (size_t)len);
                    umup_fp8_quantise_array(qc, x, (size_t)len, f, UMUP_FP8_RNE, sat, 0, 0);
                    for (k = 0; k < len; k++) bad_q += fbits(qd[k]) != fbits(qc[k]);
                }
            }
            UT_CHECKF(bad_scalar == 0 && bad_bulk == 0, "%s %s sat=%d: %lld mismatches vs umup_fp8_from_float, %lld vs the bulk encoder",
                      what, umup_fp8_name(f), sat, bad_scalar, bad_bulk);
            UT_CHECKF(bad_q == 0, "%s %s sat=%d quantise: %lld mismatches", what, umup_fp8_name(f), sat, bad_q);
        }
    printf("  %s: %lld inputs x %d formats x 2 overflow modes: device encode%s == umup_fp8.h\n", what, nin, nf,
           scalar_and_quantise ? " (and quantise) == bulk and scalar encoder" : " == bulk encoder");
}

static void test_rne_casts(void) {
    if (ut_full()) {
        sweep("all 2^32", 4, 1, 0, 0);
        sweep("strided subset", 7, 97, 12, 1);
    } else if (ut_quick()) {
        sweep("quick subset", 7, 9973, 16, 1);
    } else {
        sweep("strided subset", 7, 97, 12, 1);
    }
}

static void test_decode_all_codes(void) {
    int fi, c, bad = 0, bad_scalar = 0;
    for (fi = 0; fi < 7; fi++) {
        umup__cu_cast cd;
        uint8_t codes[256];
        float d[256], want[256];
        for (c = 0; c < 256; c++) codes[c] = (uint8_t)c;
        UT_CHECK(umup__cu_cast_init(&cd, UMUP__CU_DECODE, ALL_FMTS[fi], UMUP_FP8_RNE, 0, 0, 0));
        host_cast(&cd, d, codes, 256);
        umup_fp8_decode_array(want, codes, 256, ALL_FMTS[fi]);
        for (c = 0; c < 256; c++) {
            bad += fbits(d[c]) != fbits(want[c]);
            bad_scalar += fbits(d[c]) != fbits(umup_fp8_to_float((uint8_t)c, ALL_FMTS[fi]));
        }
    }
    UT_CHECKF(bad == 0 && bad_scalar == 0, "decode: %d mismatches vs umup_fp8_decode_array, %d vs umup_fp8_to_float", bad,
              bad_scalar);
}

static void test_sr_bit_identity(void) {
    static const uint64_t counters[4] = {0, 0xFFFFFFFFull - 20000u, 0xFFFFFFFFFFFFFFFFull - 30000u, (1ull << 33) + 7u};
    static const uint64_t seeds[2] = {1, 0xDEADBEEFCAFEF00Dull};
    const size_t n = ut_quick() ? 20011 : 100003; /* not a multiple of the group size */
    float *x = (float *)malloc(n * 4), *qd = (float *)malloc(n * 4), *qc = (float *)malloc(n * 4);
    uint8_t *cd = (uint8_t *)malloc(n), *cc = (uint8_t *)malloc(n);
    long long bad_e = 0, bad_q = 0, cases = 0;
    int fi, sat, ri, ci, si;
    if (!x || !qd || !qc || !cd || !cc) { UT_CHECK(!"out of memory"); return; }
    cast_inputs(x, n, 42);
    for (fi = 0; fi < 7; fi++)
        for (sat = 0; sat < 2; sat++)
            for (ri = 0; ri < 2; ri++)
                for (ci = 0; ci < 4; ci++)
                    for (si = 0; si < 2; si++) {
                        umup_fp8_rounding r = ri ? UMUP_FP8_SR16 : UMUP_FP8_SR;
                        umup__cu_cast ce, cq;
                        size_t i;
                        umup__cu_cast_init(&ce, UMUP__CU_ENCODE, ALL_FMTS[fi], r, sat, seeds[si], counters[ci]);
                        umup__cu_cast_init(&cq, UMUP__CU_QUANTISE, ALL_FMTS[fi], r, sat, seeds[si], counters[ci]);
                        host_cast(&ce, cd, x, n);
                        host_cast(&cq, qd, x, n);
                        umup_fp8_encode_array(cc, x, n, ALL_FMTS[fi], r, sat, seeds[si], counters[ci]);
                        umup_fp8_quantise_array(qc, x, n, ALL_FMTS[fi], r, sat, seeds[si], counters[ci]);
                        for (i = 0; i < n; i++) {
                            bad_e += cd[i] != cc[i];
                            bad_q += fbits(qd[i]) != fbits(qc[i]);
                        }
                        cases += (long long)n;
                    }
    UT_CHECKF(bad_e == 0, "SR encode: %lld of %lld differ from umup_fp8_encode_array", bad_e, cases);
    UT_CHECKF(bad_q == 0, "SR quantise: %lld of %lld differ from umup_fp8_quantise_array", bad_q, cases);
    /* the test must be able to fail: SR with another seed changes some codes */
    {
        umup__cu_cast c2;
        size_t i, diff = 0;
        umup__cu_cast_init(&c2, UMUP__CU_ENCODE, UMUP_FP8_E4M3, UMUP_FP8_SR, 1, 2, 0);
        host_cast(&c2, cd, x, n);
        umup_fp8_encode_array(cc, x, n, UMUP_FP8_E4M3, UMUP_FP8_SR, 1, 3, 0);
        for (i = 0; i < n; i++) diff += cd[i] != cc[i];
        UT_CHECKF(diff > n / 20, "another seed changed only %zu of %zu codes", diff, n);
    }
    printf("  SR: %lld elements (7 formats x 2 overflow modes x SR/SR16 x 4 counters x 2 seeds) bit-identical\n", cases);
    free(x); free(qd); free(qc); free(cd); free(cc);
}

/* umup__cu_random against umup_rng_u32 where the precomputed keys do not apply (two blocks on). */
static void test_rng_keys(void) {
    static const uint64_t counters[5] = {0, 5, 0xFFFFFFF0ull, 0x1FFFFFFFFull, 0xFFFFFFFFFFFFFFF0ull};
    static const uint64_t offsets[7] = {0, 1, 0xF, 0x10, 0xFFFFFFFFull, 0x100000010ull, 0x300000005ull};
    int ci, oi, bad = 0;
    for (ci = 0; ci < 5; ci++)
        for (oi = 0; oi < 7; oi++) {
            umup__cu_cast c;
            umup__cu_cast_init(&c, UMUP__CU_ENCODE, UMUP_FP8_E5M2, UMUP_FP8_SR, 1, 777, counters[ci]);
            bad += umup__cu_random(&c, offsets[oi]) != umup_rng_u32(777, counters[ci] + offsets[oi]);
        }
    UT_CHECKF(bad == 0, "%d of 35 random words differ from umup_rng_u32", bad);
}

/* ---- GEMM plans ---------------------------------------------------------------------------------- */

/* What the device does with a plan, on the host: pack the operands as umup__cu_upload does, encode
 * (and transpose) them as umup__cu_codes does, then the column-major cuBLAS product with the plan's
 * flags and leading dimensions, accumulated in double in ascending k like gemm_naive. */
static void emulate(const umup__cu_plan *p, const umup_gemm_args *g, float *C) {
    float *dev[2], *cu[2];
    int o, i, j, r, c;
    for (o = 0; o < 2; o++) {
        const float *src = o ? g->B : g->A;
        int ld = o ? g->ldb : g->lda;
        dev[o] = (float *)malloc(sizeof(float) * (size_t)p->rows[o] * (size_t)p->cols[o]);
        for (r = 0; r < p->rows[o]; r++)
            for (c = 0; c < p->cols[o]; c++) dev[o][(size_t)r * p->cols[o] + c] = src[(size_t)r * ld + c];
        cu[o] = dev[o];
        if (p->path == UMUP__CU_FP8) {
            const umup__fmt *f = umup__fp8_params(p->fmt[o]);
            cu[o] = (float *)malloc(sizeof(float) * (size_t)p->rows[o] * (size_t)p->cols[o]);
            for (r = 0; r < p->rows[o]; r++)
                for (c = 0; c < p->cols[o]; c++) {
                    uint32_t code = umup__encode_p(fbits(dev[o][(size_t)r * p->cols[o] + c]), f, 1, 0u, 0u);
                    uint32_t v = umup__decode_bits(code, f);
                    size_t at = p->codes_t[o] ? (size_t)c * p->rows[o] + r : (size_t)r * p->cols[o] + c;
                    memcpy(&cu[o][at], &v, 4);
                }
        }
    }
    /* cuBLAS: C'[m, n] (ldc) = op(A') op(B'), A' = our B (lda), B' = our A (ldb); C' is our C transposed */
    for (i = 0; i < p->m; i++)
        for (j = 0; j < p->n; j++) {
            double s = 0.0;
            int k;
            float *out = &C[(size_t)j * g->ldc + i]; /* C'(i, j) at i + j ldc */
            for (k = 0; k < p->k; k++) {
                double a = p->transa ? cu[1][(size_t)i * p->lda + k] : cu[1][(size_t)k * p->lda + i];
                double b = p->transb ? cu[0][(size_t)k * p->ldb + j] : cu[0][(size_t)j * p->ldb + k];
                s += b * a;
            }
            *out = g->beta == 0.0f ? (float)(g->alpha * s) : (float)(g->alpha * s + (double)g->beta * (double)*out);
        }
    for (o = 0; o < 2; o++) {
        if (cu[o] != dev[o]) free(cu[o]);
        free(dev[o]);
    }
}

static void test_gemm_plans(void) {
    static const int shapes[3][3] = {{32, 48, 64}, {33, 17, 40}, {16, 16, 16}};
    static const umup_gemm_values hints[5][2] = {{UMUP_GEMM_VALUES_F32, UMUP_GEMM_VALUES_F32},
                                                 {UMUP_GEMM_VALUES_E4M3, UMUP_GEMM_VALUES_E4M3},
                                                 {UMUP_GEMM_VALUES_E5M2, UMUP_GEMM_VALUES_E4M3},
                                                 {UMUP_GEMM_VALUES_E4M3, UMUP_GEMM_VALUES_E5M2},
                                                 {UMUP_GEMM_VALUES_E5M2, UMUP_GEMM_VALUES_E5M2}};
    int si, ta, tb, hi, fp8, dev, tf32, cases = 0, bad = 0, paths[4] = {0, 0, 0, 0};
    for (si = 0; si < 3; si++)
        for (ta = 0; ta < 2; ta++)
            for (tb = 0; tb < 2; tb++)
                for (hi = 0; hi < 5; hi++)
                    for (fp8 = 0; fp8 < 2; fp8++)
                        for (dev = 0; dev < 2; dev++)
                            for (tf32 = 0; tf32 < 2; tf32++) {
                                const int M = shapes[si][0], N = shapes[si][1], K = shapes[si][2];
                                const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
                                umup_cuda_config cfg = umup_cuda_config_default();
                                umup_gemm_args g;
                                umup__cu_plan p;
                                float *A = (float *)malloc(sizeof(float) * (size_t)(ta ? K : M) * lda);
                                float *B = (float *)malloc(sizeof(float) * (size_t)(tb ? N : K) * ldb);
                                float *C0 = (float *)malloc(sizeof(float) * (size_t)M * ldc);
                                float *C1 = (float *)malloc(sizeof(float) * (size_t)M * ldc);
                                int want_fp8, i;
                                size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb;
                                for (i = 0; i < (int)na; i++) A[i] = umup_rng_uniform(11, (uint64_t)i) * 8.0f - 4.0f;
                                for (i = 0; i < (int)nb; i++) B[i] = umup_rng_uniform(12, (uint64_t)i) * 8.0f - 4.0f;
                                /* marked operands hold exactly values of their format */
                                if (hints[hi][0] != UMUP_GEMM_VALUES_F32)
                                    umup_fp8_quantise_array(A, A, na, hints[hi][0] == UMUP_GEMM_VALUES_E5M2 ? UMUP_FP8_E5M2 : UMUP_FP8_E4M3,
                                                            UMUP_FP8_RNE, 1, 0, 0);
                                if (hints[hi][1] != UMUP_GEMM_VALUES_F32)
                                    umup_fp8_quantise_array(B, B, nb, hints[hi][1] == UMUP_GEMM_VALUES_E5M2 ? UMUP_FP8_E5M2 : UMUP_FP8_E4M3,
                                                            UMUP_FP8_RNE, 1, 0, 0);
                                for (i = 0; i < M * ldc; i++) C0[i] = C1[i] = umup_rng_uniform(13, (uint64_t)i) - 0.5f;
                                memset(&g, 0, sizeof g);
                                g.trans_a = ta; g.trans_b = tb; g.M = M; g.N = N; g.K = K;
                                g.alpha = 0.75f; g.beta = (si == 1) ? 0.0f : 0.5f;
                                g.A = A; g.lda = lda; g.B = B; g.ldb = ldb; g.C = C1; g.ldc = ldc;
                                g.a_values = hints[hi][0]; g.b_values = hints[hi][1];
                                cfg.fp8 = fp8; cfg.allow_tf32 = tf32; cfg.min_macs = 1;
                                umup__cu_plan_make(&p, &g, &cfg, dev);
                                want_fp8 = fp8 && dev && hi > 0 && hi < 4 && M % 16 == 0 && N % 16 == 0 && K % 16 == 0;
                                UT_CHECKF(p.path == (want_fp8 ? UMUP__CU_FP8 : tf32 ? UMUP__CU_TF32 : UMUP__CU_FP32),
                                          "path %d for M=%d N=%d K=%d hints %d fp8=%d dev=%d tf32=%d", p.path, M, N, K, hi, fp8, dev, tf32);
                                UT_CHECK(p.fp8_fallback == (hi > 0 && !want_fp8));
                                if (p.path == UMUP__CU_FP8) /* "TN": cuBLAS's A transposed, both operands K-major */
                                    UT_CHECK(p.transa == 1 && p.transb == 0 && p.lda == K && p.ldb == K && p.ldc == N &&
                                             p.codes_t[0] == ta && p.codes_t[1] == !tb);
                                emulate(&p, &g, C1);
                                gemm_naive(ta, tb, M, N, K, g.alpha, A, lda, B, ldb, g.beta, C0, ldc);
                                for (i = 0; i < M * ldc; i++) bad += fbits(C0[i]) != fbits(C1[i]);
                                paths[p.path]++;
                                cases++;
                                free(A); free(B); free(C0); free(C1);
                            }
    UT_CHECKF(bad == 0, "%d elements of the emulated device products differ from the row-major product", bad);
    UT_CHECK(paths[UMUP__CU_FP32] > 0 && paths[UMUP__CU_TF32] > 0 && paths[UMUP__CU_FP8] > 0);
    printf("  %d GEMM plans emulated exactly (fp32 %d, TF32 %d, FP8 %d)\n", cases, paths[1], paths[2], paths[3]);
}

static void test_gemm_declines(void) {
    umup_cuda_config cfg = umup_cuda_config_default();
    umup_gemm_args g;
    umup__cu_plan p;
    float a = 1, b = 1, c = 0;
    memset(&g, 0, sizeof g);
    g.A = &a; g.B = &b; g.C = &c; g.lda = g.ldb = g.ldc = 256;
    g.M = g.N = g.K = 255; /* 255^3 < 2^24 */
    umup__cu_plan_make(&p, &g, &cfg, 1);
    UT_CHECK(p.path == UMUP__CU_DECLINE);
    g.M = g.N = g.K = 256;
    umup__cu_plan_make(&p, &g, &cfg, 1);
    UT_CHECK(p.path == UMUP__CU_FP32);
    g.K = 0;
    umup__cu_plan_make(&p, &g, &cfg, 1);
    UT_CHECK(p.path == UMUP__CU_DECLINE);
    UT_CHECK(cfg.min_macs == 16.0 * 1024 * 1024);
}

/* The transfers' packing: a strided matrix moved in chunks of every size (rows split across chunks)
 * arrives packed, and unpacking writes exactly the matrix and never the padding. */
static void test_transfer_packing(void) {
    const int rows = 37, cols = 29, ld = 33;
    static const size_t caps[5] = {1, 7, 29, 64, 5000};
    float m[37 * 33], out[37 * 33], lin[37 * 29];
    int ci, i, bad = 0;
    for (i = 0; i < rows * ld; i++) m[i] = (float)i;
    for (ci = 0; ci < 5; ci++) {
        size_t done = 0, r = 0, c = 0, total = (size_t)rows * cols;
        while (done < total) { /* upload: matrix -> packed chunks */
            size_t n = total - done < caps[ci] ? total - done : caps[ci];
            umup__cu_pack(lin + done, m, n, cols, ld, &r, &c, 0);
            done += n;
        }
        for (i = 0; i < rows * cols; i++) bad += lin[i] != m[(i / cols) * ld + i % cols];
        for (i = 0; i < rows * ld; i++) out[i] = -1.0f;
        done = 0; r = 0; c = 0;
        while (done < total) { /* download: packed chunks -> matrix */
            size_t n = total - done < caps[ci] ? total - done : caps[ci];
            umup__cu_pack(lin + done, out, n, cols, ld, &r, &c, 1);
            done += n;
        }
        for (i = 0; i < rows * ld; i++) bad += out[i] != (i % ld < cols ? m[i] : -1.0f);
    }
    UT_CHECKF(bad == 0, "%d elements misplaced", bad);
}

/* ---- Creation and argument checks (no device needed) --------------------------------------------- */

static umup_status fake_gemm(void *ctx, const umup_gemm_args *g) {
    (void)ctx; (void)g;
    return UMUP_ERR_UNSUPPORTED;
}

static void test_create_and_arguments(void) {
    umup_backend *b = NULL, fake = {"fake", NULL, fake_gemm};
    umup_cuda_config cfg = umup_cuda_config_default();
    umup_status st;
    UT_CHECK(umup_cuda_backend_create(NULL, NULL) == UMUP_ERR_NULL);
    cfg.device = -1;
    UT_CHECK(umup_cuda_backend_create(&b, &cfg) == UMUP_ERR_INVALID_ARG && b == NULL && umup_cuda_error(NULL)[0]);
    cfg = umup_cuda_config_default();
    cfg.min_macs = -1;
    UT_CHECK(umup_cuda_backend_create(&b, &cfg) == UMUP_ERR_INVALID_ARG);
    cfg = umup_cuda_config_default();
    cfg.fp8 = 2;
    UT_CHECK(umup_cuda_backend_create(&b, &cfg) == UMUP_ERR_INVALID_ARG);
    cfg = umup_cuda_config_default();
    cfg.stage_bytes = 100;
    UT_CHECK(umup_cuda_backend_create(&b, &cfg) == UMUP_ERR_INVALID_ARG && strstr(umup_cuda_error(NULL), "stage_bytes"));
    st = umup_cuda_backend_create(&b, NULL);
    if (st == UMUP_OK) { /* a GPU is here: creation works and the backend names itself */
        umup_cuda_device_info info;
        UT_CHECK(b != NULL && strcmp(b->name, "cuda") == 0 && umup_cuda_stream(b) != NULL);
        UT_CHECK(umup_cuda_device(b, &info) == UMUP_OK && info.sm_count > 0);
        printf("  device: %s (sm_%d%d)\n", info.name, info.cc_major, info.cc_minor);
        umup_cuda_backend_destroy(b);
    } else {
        UT_CHECKF(st == UMUP_ERR_UNSUPPORTED && b == NULL && strstr(umup_cuda_error(NULL), "CUDA device"),
                  "create without a device: %s, \"%.200s\"", umup_status_string(st), umup_cuda_error(NULL));
        printf("  no device: umup_cuda_backend_create says \"%s\"\n", umup_cuda_error(NULL));
    }
    /* entry points refuse NULL and foreign backends */
    UT_CHECK(umup_cuda_fp8_encode(NULL, NULL, NULL, 0, UMUP_FP8_E4M3, UMUP_FP8_RNE, 1, 0, 0) == UMUP_ERR_NULL);
    UT_CHECK(umup_cuda_fp8_decode(&fake, NULL, NULL, 0, UMUP_FP8_E4M3) == UMUP_ERR_INVALID_ARG);
    UT_CHECK(umup_cuda_gemm_fp8(&fake, 16, 16, 16, 1, NULL, 16, UMUP_FP8_E4M3, NULL, 16, UMUP_FP8_E4M3, 0, NULL, 16) ==
             UMUP_ERR_INVALID_ARG);
    UT_CHECK(umup_cuda_stats_get(NULL, NULL) == UMUP_ERR_NULL && umup_cuda_synchronize(&fake) == UMUP_ERR_INVALID_ARG);
    UT_CHECK(umup_cuda_stream(&fake) == NULL && strcmp(umup_cuda_error(&fake), "not a CUDA backend") == 0);
    umup_cuda_backend_destroy(NULL);
    umup_cuda_backend_destroy(&fake); /* not ours: nothing happens */
    {
        umup__cu_cast c;
        UT_CHECK(umup__cu_cast_init(&c, UMUP__CU_ENCODE, (umup_fp8_format)7, UMUP_FP8_RNE, 1, 0, 0) == 0);
        UT_CHECK(umup__cu_cast_init(&c, UMUP__CU_ENCODE, UMUP_FP8_E4M3, (umup_fp8_rounding)3, 1, 0, 0) == 0);
    }
}

int main(void) {
    UT_RUN(test_decode_all_codes);
    UT_RUN(test_rng_keys);
    UT_RUN(test_sr_bit_identity);
    UT_RUN(test_rne_casts);
    UT_RUN(test_gemm_plans);
    UT_RUN(test_gemm_declines);
    UT_RUN(test_transfer_packing);
    UT_RUN(test_create_and_arguments);
    return ut_finish("test_cuda_host");
}
