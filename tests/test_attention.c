/* tests/test_attention.c - the blocked (flash) attention against the materialised one:
 *  1. umup_sdpa_flash_forward / _backward against umup_sdpa_forward / _backward (the reference
 *     path, itself checked against the reference library and finite differences in test_ops.c):
 *     output, dq, dk, dv for several B, H, S, D (odd S, S not a multiple of any block, S = 1,
 *     D not a multiple of any register tile), causal and not, u-muP and plain scales, with every
 *     GEMM micro-kernel compiled into this build; L2-relative error <= 2e-6 (float rounding:
 *     the flash path exponentiates in single precision, the reference in double), and the saved
 *     row statistic lse against log sum exp computed in double;
 *  2. the backward pass accumulates (+=) into dq, dk, dv;
 *  3. bitwise the same results for 1, 2 and 3 OpenMP threads;
 *  4. the kernels on heads that lie side by side in rows (the trainer's qkv [N, 3d], a [N, d]) give
 *     bitwise the results on [B, H, S, D] copies, assigning and accumulating;
 *  5. the causal register-tile trimming of umup__gemm_packed (modes 1-4) against the whole product
 *     (mode 0), bitwise, for every kernel;
 *  6. error paths. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "umup_test.h"

static float *fbuf(size_t n) {
    float *p = (float *)calloc(n ? n : 1, sizeof(float));
    if (!p) { fprintf(stderr, "out of memory\n"); exit(2); }
    return p;
}
static void randn(float *x, size_t n, uint64_t seed, float sd) {
    size_t i;
    for (i = 0; i < n; i++) {
        double u1 = (umup_rng_u32(seed, 2 * i) + 1.0) / 4294967297.0, u2 = umup_rng_u32(seed, 2 * i + 1) / 4294967296.0;
        x[i] = (float)(sd * sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2));
    }
}

typedef struct { int B, H, S, D; } shape;
static const shape shapes[] = {{1, 1, 1, 8}, {1, 2, 7, 4}, {2, 3, 37, 16}, {1, 2, 65, 32}, {2, 2, 130, 32},
                               {1, 1, 200, 64}, {1, 1, 97, 24}, {2, 1, 257, 40}, {1, 1, 300, 128}};

/* Runs both paths on one case; returns the worst L2-relative error over out, dq, dk, dv (and
 * sets *lse_err to the largest |lse - log sum exp| / max(1, |lse|)). */
static double compare(const shape *c, int causal, int unit, double *lse_err) {
    size_t n = (size_t)c->B * c->H * c->S * c->D, nr = (size_t)c->B * c->H * c->S, i;
    float *q = fbuf(n), *k = fbuf(n), *v = fbuf(n), *g = fbuf(n), *att = fbuf(nr * c->S), *lse = fbuf(nr);
    float *o1 = fbuf(n), *o2 = fbuf(n), *d1[3], *d2[3];
    float ls = unit ? 1.0f / c->D : 1.0f / sqrtf((float)c->D);
    double worst = 0;
    umup_op_scales s;
    int t, bh, r, j;
    for (t = 0; t < 3; t++) {
        d1[t] = fbuf(n);
        d2[t] = fbuf(n);
    }
    randn(q, n, 11, 2.0f); /* logits of a few units, so the softmax is not flat */
    randn(k, n, 12, 2.0f);
    randn(v, n, 13, 1.0f);
    randn(g, n, 14, 1.0f);
    if (unit) umup_sdpa_scales(&s, c->S, c->D, causal, 1.0f);
    else s.out = s.grad[0] = s.grad[1] = s.grad[2] = s.grad_w = 1.0f;
    UT_CHECK(umup_sdpa_forward(o1, att, q, k, v, c->B, c->H, c->S, c->D, causal, ls, &s) == UMUP_OK);
    UT_CHECK(umup_sdpa_backward(d1[0], d1[1], d1[2], g, att, q, k, v, c->B, c->H, c->S, c->D, ls, &s) == UMUP_OK);
    UT_CHECK(umup_sdpa_flash_forward(o2, lse, q, k, v, c->B, c->H, c->S, c->D, causal, ls, &s) == UMUP_OK);
    UT_CHECK(umup_sdpa_flash_backward(d2[0], d2[1], d2[2], g, o2, lse, q, k, v, c->B, c->H, c->S, c->D, causal, ls,
                                      &s) == UMUP_OK);
    worst = ut_l2_rel(o2, o1, n);
    for (t = 0; t < 3; t++) {
        double e = ut_l2_rel(d2[t], d1[t], n);
        if (e > worst) worst = e;
    }
    *lse_err = 0;
    for (bh = 0; bh < c->B * c->H; bh++)
        for (r = 0; r < c->S; r++) {
            const float *qr = q + ((size_t)bh * c->S + r) * c->D;
            double mx = -1e300, sum = 0, want, e;
            int valid = causal ? r + 1 : c->S;
            double *lg = (double *)malloc(sizeof(double) * (size_t)valid);
            for (j = 0; j < valid; j++) {
                const float *kr = k + ((size_t)bh * c->S + j) * c->D;
                double d = 0;
                for (i = 0; i < (size_t)c->D; i++) d += (double)qr[i] * kr[i];
                lg[j] = ls * d;
                if (lg[j] > mx) mx = lg[j];
            }
            for (j = 0; j < valid; j++) sum += exp(lg[j] - mx);
            want = mx + log(sum);
            e = fabs(lse[(size_t)bh * c->S + r] - want) / (fabs(want) > 1 ? fabs(want) : 1);
            if (e > *lse_err) *lse_err = e;
            free(lg);
        }
    free(q); free(k); free(v); free(g); free(att); free(lse); free(o1); free(o2);
    for (t = 0; t < 3; t++) { free(d1[t]); free(d2[t]); }
    return worst;
}

static void test_flash_matches_reference(void) {
    umup_gemm_kernel kern, saved = umup_gemm_get_kernel();
    int si, causal, unit, nsh = (int)(sizeof shapes / sizeof shapes[0]);
    for (kern = UMUP_GEMM_KERNEL_C; kern <= UMUP_GEMM_KERNEL_AVX512; kern = (umup_gemm_kernel)(kern + 1)) {
        if (umup_gemm_set_kernel(kern) != UMUP_OK) continue;
        for (si = 0; si < nsh; si++)
            for (causal = 0; causal < 2; causal++)
                for (unit = 0; unit < 2; unit++) {
                    double le, e;
                    if (ut_quick() && si == nsh - 1) continue;
                    e = compare(&shapes[si], causal, unit, &le);
                    UT_CHECKF(e <= 2e-6, "kernel %s B=%d H=%d S=%d D=%d causal=%d unit=%d: L2-rel error %.3g",
                              umup_gemm_kernel_name(kern), shapes[si].B, shapes[si].H, shapes[si].S, shapes[si].D, causal,
                              unit, e);
                    UT_CHECKF(le <= 2e-6, "kernel %s S=%d D=%d causal=%d: lse error %.3g", umup_gemm_kernel_name(kern),
                              shapes[si].S, shapes[si].D, causal, le);
                }
    }
    umup_gemm_set_kernel(saved);
}

/* The backward pass adds to what dq, dk, dv hold: from random starting values b0, the result is
 * b0 + (the result from zeros). */
static void test_flash_accumulates(void) {
    const int B = 1, H = 2, S = 70, D = 16;
    size_t n = (size_t)B * H * S * D, i;
    float *q = fbuf(n), *k = fbuf(n), *v = fbuf(n), *g = fbuf(n), *o = fbuf(n), *lse = fbuf((size_t)B * H * S);
    float *a[3], *b[3], *b0[3];
    umup_op_scales s;
    int t, bad = 0;
    randn(q, n, 1, 1.0f); randn(k, n, 2, 1.0f); randn(v, n, 3, 1.0f); randn(g, n, 4, 1.0f);
    umup_sdpa_scales(&s, S, D, 1, 1.0f);
    UT_CHECK(umup_sdpa_flash_forward(o, lse, q, k, v, B, H, S, D, 1, 1.0f / D, &s) == UMUP_OK);
    for (t = 0; t < 3; t++) {
        a[t] = fbuf(n);
        b[t] = fbuf(n);
        b0[t] = fbuf(n);
        randn(b0[t], n, 20 + t, 1.0f);
        memcpy(b[t], b0[t], n * sizeof(float));
    }
    UT_CHECK(umup_sdpa_flash_backward(a[0], a[1], a[2], g, o, lse, q, k, v, B, H, S, D, 1, 1.0f / D, &s) == UMUP_OK);
    UT_CHECK(umup_sdpa_flash_backward(b[0], b[1], b[2], g, o, lse, q, k, v, B, H, S, D, 1, 1.0f / D, &s) == UMUP_OK);
    for (t = 0; t < 3; t++)
        for (i = 0; i < n; i++)
            if (!(fabs((double)b[t][i] - ((double)b0[t][i] + a[t][i])) <= 1e-6 * (1 + fabs(b0[t][i]) + fabs(a[t][i]))))
                bad++;
    UT_CHECKF(bad == 0, "%d elements do not accumulate", bad);
    free(q); free(k); free(v); free(g); free(o); free(lse);
    for (t = 0; t < 3; t++) { free(a[t]); free(b[t]); free(b0[t]); }
}

/* Bitwise the same for any thread count. */
static void test_flash_threads(void) {
#ifdef _OPENMP
    const int B = 2, H = 3, S = 150, D = 32;
    size_t n = (size_t)B * H * S * D, nr = (size_t)B * H * S;
    float *q = fbuf(n), *k = fbuf(n), *v = fbuf(n), *g = fbuf(n), *o[2], *lse[2], *d[2][3];
    umup_op_scales s;
    int nt = omp_get_max_threads(), th, t, same = 1, causal;
    randn(q, n, 5, 1.0f); randn(k, n, 6, 1.0f); randn(v, n, 7, 1.0f); randn(g, n, 8, 1.0f);
    for (causal = 0; causal < 2; causal++) {
        umup_sdpa_scales(&s, S, D, causal, 1.0f);
        for (th = 0; th < 3; th++) {
            int w = th == 0 ? 0 : 1;
            omp_set_num_threads(th + 1);
            o[w] = fbuf(n);
            lse[w] = fbuf(nr);
            for (t = 0; t < 3; t++) d[w][t] = fbuf(n);
            umup_sdpa_flash_forward(o[w], lse[w], q, k, v, B, H, S, D, causal, 1.0f / D, &s);
            umup_sdpa_flash_backward(d[w][0], d[w][1], d[w][2], g, o[w], lse[w], q, k, v, B, H, S, D, causal, 1.0f / D, &s);
            if (w) {
                same &= memcmp(o[0], o[1], n * sizeof(float)) == 0 && memcmp(lse[0], lse[1], nr * sizeof(float)) == 0;
                for (t = 0; t < 3; t++) same &= memcmp(d[0][t], d[1][t], n * sizeof(float)) == 0;
                free(o[1]); free(lse[1]);
                for (t = 0; t < 3; t++) free(d[1][t]);
            }
        }
        free(o[0]); free(lse[0]);
        for (t = 0; t < 3; t++) free(d[0][t]);
    }
    omp_set_num_threads(nt);
    UT_CHECK(same);
    free(q); free(k); free(v); free(g);
#else
    UT_SKIP("no OpenMP");
#endif
}

/* The trainer's layout: q, k, v heads side by side in rows [B S, 3 H D], the output and its gradient
 * in rows [B S, H D], the gradients of q, k, v back into rows [B S, 3 H D] (umup__heads_layout).
 * Bitwise the same as on contiguous [B, H, S, D] copies, for several D (one panel wide, not a
 * multiple of a tile) and S; the backward pass assigning (acc 0, into rows holding garbage) and
 * accumulating (acc 1). */
static void test_flash_rows_layout(void) {
    static const shape cs[] = {{2, 3, 70, 32}, {1, 2, 129, 24}, {2, 2, 33, 16}, {1, 1, 1, 8}};
    int ci, causal, bad = 0;
    for (ci = 0; ci < (int)(sizeof cs / sizeof cs[0]); ci++)
        for (causal = 0; causal < 2; causal++) {
            const shape *c = &cs[ci];
            int B = c->B, H = c->H, S = c->S, D = c->D, d = H * D, b, h, t, j, acc;
            size_t n = (size_t)B * H * S * D, nr = (size_t)B * H * S;
            float *q = fbuf(n), *k = fbuf(n), *v = fbuf(n), *g = fbuf(n), *o = fbuf(n), *lse = fbuf(nr), *dd[3];
            float *qkv = fbuf(3 * n), *orow = fbuf(n), *grow = fbuf(n), *lse2 = fbuf(nr), *drow = fbuf(3 * n);
            umup__heads_layout lb = umup__heads_bhsd(H, S, D), li, lo;
            umup_op_scales s;
            li.lr = 3 * (size_t)d; li.lh = (size_t)D; li.lb = (size_t)S * li.lr;
            lo.lr = (size_t)d; lo.lh = (size_t)D; lo.lb = (size_t)S * lo.lr;
            for (t = 0; t < 3; t++) dd[t] = fbuf(n);
            randn(q, n, 21, 1.5f); randn(k, n, 22, 1.5f); randn(v, n, 23, 1.0f); randn(g, n, 24, 1.0f);
            umup_sdpa_scales(&s, S, D, causal, 1.0f);
            for (b = 0; b < B; b++) /* the rows copies */
                for (h = 0; h < H; h++)
                    for (t = 0; t < S; t++)
                        for (j = 0; j < D; j++) {
                            size_t e = (((size_t)b * H + h) * S + t) * D + j, r = ((size_t)b * S + t) * 3 * d + (size_t)h * D + j;
                            qkv[r] = q[e]; qkv[r + d] = k[e]; qkv[r + 2 * d] = v[e];
                            grow[((size_t)b * S + t) * d + (size_t)h * D + j] = g[e];
                        }
            UT_CHECK(umup__sdpa_flash_fwd(o, lb, lse, q, k, v, lb, B, H, S, D, causal, 1.0f / D, &s) == UMUP_OK);
            UT_CHECK(umup__sdpa_flash_fwd(orow, lo, lse2, qkv, qkv + d, qkv + 2 * d, li, B, H, S, D, causal, 1.0f / D, &s) == UMUP_OK);
            if (memcmp(lse, lse2, nr * sizeof(float))) bad++;
            for (acc = 0; acc < 2; acc++) {
                for (t = 0; t < 3; t++) { size_t e; for (e = 0; e < n; e++) dd[t][e] = acc ? 0.25f : 7.0f; }
                { size_t e; for (e = 0; e < 3 * n; e++) drow[e] = acc ? 0.25f : 7.0f; }
                UT_CHECK(umup__sdpa_flash_backward(dd[0], dd[1], dd[2], lb, g, o, lb, lse, q, k, v, lb, B, H, S, D, causal,
                                                   1.0f / D, &s, acc) == UMUP_OK);
                UT_CHECK(umup__sdpa_flash_backward(drow, drow + d, drow + 2 * d, li, grow, orow, lo, lse2, qkv, qkv + d,
                                                   qkv + 2 * d, li, B, H, S, D, causal, 1.0f / D, &s, acc) == UMUP_OK);
                for (b = 0; b < B; b++)
                    for (h = 0; h < H; h++)
                        for (t = 0; t < S; t++)
                            for (j = 0; j < D; j++) {
                                size_t e = (((size_t)b * H + h) * S + t) * D + j, r = ((size_t)b * S + t) * 3 * d + (size_t)h * D + j;
                                if (acc == 0 && orow[((size_t)b * S + t) * d + (size_t)h * D + j] != o[e]) bad++;
                                if (drow[r] != dd[0][e] || drow[r + d] != dd[1][e] || drow[r + 2 * d] != dd[2][e]) bad++;
                            }
            }
            free(q); free(k); free(v); free(g); free(o); free(lse); free(qkv); free(orow); free(grow); free(lse2); free(drow);
            for (t = 0; t < 3; t++) free(dd[t]);
        }
    UT_CHECKF(bad == 0, "%d elements differ between the rows layout and [B, H, S, D]", bad);
}

/* umup__gemm_packed's causal modes leave out register tiles and depth steps that only meet masked
 * (zero) probabilities: bitwise the whole product (mode 0) on every entry the flash kernels read, for
 * block offsets off = i0 - j0 on both sides of the diagonal, sizes that are not whole tiles, and
 * every compiled kernel. Modes 1 and 4 (logits, queries in rows or in columns): the entries
 * key <= query + off; modes 2 and 3 (beta 1, C holding earlier sums): all of C, with the masked
 * operand entries zero. */
static void test_causal_tiles(void) {
    umup_gemm_kernel kern, saved = umup_gemm_get_kernel();
    static const int offs[] = {-75, -40, -13, -1, 0, 1, 7, 12, 31, 64, 100};
    int bad = 0, checked = 0;
    for (kern = UMUP_GEMM_KERNEL_C; kern <= UMUP_GEMM_KERNEL_AVX512; kern = (umup_gemm_kernel)(kern + 1)) {
        const umup__gemm_kdesc *kd;
        int oi, mode;
        if (umup_gemm_set_kernel(kern) != UMUP_OK) continue;
        kd = umup__gemm_kd();
        for (oi = 0; oi < (int)(sizeof offs / sizeof offs[0]); oi++)
            for (mode = 1; mode <= 4; mode++) {
                const int M = 70, N = 45, kc = 59, off = offs[oi];
                int mp = (M + kd->mr - 1) / kd->mr * kd->mr, np = (N + kd->nr - 1) / kd->nr * kd->nr, i, j;
                float *A = fbuf((size_t)M * kc), *Bm = fbuf((size_t)kc * N);
                float *ap = fbuf((size_t)mp * kc), *bp = fbuf((size_t)np * kc);
                float *C0 = fbuf((size_t)M * N), *C1 = fbuf((size_t)M * N);
                float beta = mode == 1 || mode == 4 ? 0.0f : 1.0f;
                randn(A, (size_t)M * kc, 31 + (uint64_t)mode, 1.0f);
                randn(Bm, (size_t)kc * N, 41, 1.0f);
                randn(C0, (size_t)M * N, 51, 1.0f);
                memcpy(C1, C0, sizeof(float) * (size_t)M * N);
                for (i = 0; i < M; i++) /* A's masked entries: mode 2 rows queries, depth keys; mode 3 the transpose */
                    for (j = 0; j < kc; j++)
                        if ((mode == 2 && j > i + off) || (mode == 3 && i > j + off)) A[(size_t)i * kc + j] = 0.0f;
                umup__sgemm_packA(0, A, kc, 0, M, 0, kc, kd->mr, ap);
                umup__sgemm_packB(0, Bm, N, 0, kc, 0, N, kd->nr, bp);
                umup__gemm_packed(kd, 0, off, M, N, kc, 0.75f, ap, (size_t)kd->mr * kc, (size_t)kd->mr, bp,
                                  (size_t)kd->nr * kc, beta, C0, N);
                umup__gemm_packed(kd, mode, off, M, N, kc, 0.75f, ap, (size_t)kd->mr * kc, (size_t)kd->mr, bp,
                                  (size_t)kd->nr * kc, beta, C1, N);
                for (i = 0; i < M; i++)
                    for (j = 0; j < N; j++) {
                        union { float f; uint32_t u; } x, y;
                        if ((mode == 1 && j > i + off) || (mode == 4 && i > j + off)) continue;
                        x.f = C0[(size_t)i * N + j];
                        y.f = C1[(size_t)i * N + j];
                        if (x.u != y.u) bad++;
                        checked++;
                    }
                free(A); free(Bm); free(ap); free(bp); free(C0); free(C1);
            }
    }
    umup_gemm_set_kernel(saved);
    UT_CHECKF(checked > 20000, "only %d entries compared", checked);
    UT_CHECKF(bad == 0, "%d of %d entries differ from the whole product", bad, checked);
}

static void test_flash_errors(void) {
    float x[8] = {0}, y[8] = {0}, l[2] = {0};
    umup_op_scales s;
    umup_sdpa_scales(&s, 2, 2, 1, 1.0f);
    UT_CHECK(umup_sdpa_flash_forward(NULL, l, x, x, x, 1, 1, 2, 2, 1, 0.5f, &s) == UMUP_ERR_NULL);
    UT_CHECK(umup_sdpa_flash_forward(y, NULL, x, x, x, 1, 1, 2, 2, 1, 0.5f, &s) == UMUP_ERR_NULL);
    UT_CHECK(umup_sdpa_flash_forward(y, l, x, x, x, 1, 1, 0, 2, 1, 0.5f, &s) == UMUP_ERR_SHAPE);
    UT_CHECK(umup_sdpa_flash_forward(y, l, x, x, x, 1, 1, 2, 2, 1, 0.0f, &s) == UMUP_ERR_INVALID_ARG);
    UT_CHECK(umup_sdpa_flash_forward(y, l, x, x, x, 1, 1, 2, 2, 1, 0.5f, &s) == UMUP_OK);
    UT_CHECK(umup_sdpa_flash_backward(y, y, y, x, y, NULL, x, x, x, 1, 1, 2, 2, 1, 0.5f, &s) == UMUP_ERR_NULL);
    UT_CHECK(umup_sdpa_flash_backward(y, y, y, x, y, l, x, x, x, -1, 1, 2, 2, 1, 0.5f, &s) == UMUP_ERR_SHAPE);
    s.out = 0.0f;
    UT_CHECK(umup_sdpa_flash_backward(y, y, y, x, y, l, x, x, x, 1, 1, 2, 2, 1, 0.5f, &s) == UMUP_ERR_INVALID_ARG);
    /* a scratch that cannot be allocated is refused (S = D = 2^30: q, k, v of 2^62 bytes could
     * exist); sizes whose q could not exist are a shape error, before anything is touched */
    s.out = 1.0f;
    UT_CHECK(umup_sdpa_flash_forward(y, l, x, x, x, 1, 1, 1 << 30, 1 << 30, 1, 0.5f, &s) == UMUP_ERR_NOMEM);
    UT_CHECK(umup_sdpa_flash_forward(y, l, x, x, x, 1, 1, 2147483647, 2147483647, 1, 0.5f, &s) == UMUP_ERR_SHAPE);
}

int main(void) {
    UT_RUN(test_flash_matches_reference);
    UT_RUN(test_flash_accumulates);
    UT_RUN(test_flash_threads);
    UT_RUN(test_flash_rows_layout);
    UT_RUN(test_causal_tiles);
    UT_RUN(test_flash_errors);
    return ut_finish("test_attention");
}
