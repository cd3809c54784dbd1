/* tests/cuda/test_cuda_kernels.cu - the device trainer's kernels, each run on the host by nvcc-compiled
 * code exactly as the emulating trainer runs them (umup__ct_host: thread by thread, phase by phase,
 * with the device's reduction order), against the CPU ops of umup.h with the same scales:
 *   - flash attention (the tiling: online softmax across key tiles, causal masks at tile edges, rows
 *     past T, every head-size bound 32 / 64 / 128 and odd head sizes) against umup_sdpa_forward: output
 *     within 2e-6 (relative L2), the log-sum-exp within 1e-5 of a double computation; the backward
 *     (Di, the dK/dV kernel per key tile, the dQ kernel per query tile, recomputing P from the lse)
 *     against umup_sdpa_backward within 1e-5; the same against the blocked op the model runs,
 *     umup_sdpa_flash_forward / _backward, its lse [B, H, T] element by element within 1e-5; the tensor-core kernels (bfloat16 operands, the warp
 *     products computed on the host from the same bfloat16 values) within bfloat16 tolerances;
 *   - the residual junctions: norm forward / backward (RMS and layer), residual_add / _split with tau,
 *     residual_sum, post-norm, dropout against the CPU ops chained as the model chains them, within
 *     1e-6 of the largest element (the reductions' order differs);
 *   - cross-entropy against umup_cross_entropy_forward / _backward (ignored rows too), 1e-7;
 *   - SwiGLU against umup_silu_glu_forward / _backward, 2e-6 (expf against the CPU's polynomial);
 *   - the optimizer element against umup_optim_step: bit for bit, every optimizer x weight-decay rule
 *     x clipping x first and later steps; the gradient-norm kernels within 1e-12;
 *   - matmul operands: FP8 quantise / encode with SR against umup_fp8_quantise_array / _encode_array bit
 *     for bit (the random stream of element (r, j) of a strided array), bfloat16 rounding against a
 *     reference; the byte transpose; the embedding gradient bit for bit against umup_embedding_backward;
 *   - the block reductions: sums and maxima over 32 .. 256 threads. */
#define UMUP_IMPLEMENTATION
#include "umup.h"
#define UMUP_CUDA_IMPLEMENTATION
#include "umup_cuda.h"
#include "umup_test.h"

#include <vector>

/* every block of the grid on the host, as umup__ct_launch does when emulating */
template <class K> static void run(const K &k, int gx, int gy, int nt, size_t smem) {
    std::vector<unsigned char> sm(smem ? smem : 1);
    int bx, by;
    for (by = 0; by < gy; by++)
        for (bx = 0; bx < gx; bx++) {
            umup__ct_host ex;
            ex.sm = sm.data();
            ex.nt = nt;
            k.block(ex, bx, by);
        }
}
template <class K> static void run_each(K k, size_t n) {
    size_t blocks = (n + 255) / 256;
    if (blocks > 64) blocks = 64; /* fewer blocks than items: the grid-stride loop is exercised */
    k.gx = (unsigned)blocks;
    run(k, (int)blocks, 1, 256, 0);
}

static float rnd(uint64_t seed, uint64_t i, float scale) { return scale * (2.0f * umup_rng_uniform(seed, i) - 1.0f); }
static void fill(float *x, size_t n, uint64_t seed, float scale) {
    size_t i;
    for (i = 0; i < n; i++) x[i] = rnd(seed, i, scale);
}
static uint32_t fbits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}
/* max |a - b| / max |b| */
static double maxrel(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= num)) num = e;
        if (fabs((double)b[i]) > den) den = fabs((double)b[i]);
    }
    return den > 0 ? num / den : num;
}

/* ---- flash attention ------------------------------------------------------------------------------- */

template <int DM> static void flash_run(const float *qkv, const float *dO, float *O, float *lse, float *dqkv, float *Di,
                                        int B, int H, int T, int D, float ls, const umup_op_scales &s) {
    const int d = H * D, nb = (T + UMUP__FA_T - 1) / UMUP__FA_T;
    umup__fa_fwd<DM> f;
    umup__ct_attn_di di;
    umup__fa_dkv<DM> kv;
    umup__fa_dq<DM> q;
    f.qkv = qkv; f.O = O; f.lse = lse; f.T = T; f.H = H; f.D = D; f.d = d; f.causal = 1; f.ls = ls; f.out = s.out;
    run(f, nb, B * H, 256, umup__fa_fwd<DM>::smem(D));
    memset(&di, 0, sizeof di);
    di.O = O; di.dO = dO; di.Di = Di; di.T = T; di.H = H; di.D = D; di.d = d; di.out = s.out; di.n = (size_t)B * H * T;
    run_each(di, di.n);
    kv.qkv = q.qkv = qkv; kv.dO = q.dO = dO; kv.lse = q.lse = lse; kv.Di = q.Di = Di; kv.dqkv = q.dqkv = dqkv;
    kv.T = q.T = T; kv.H = q.H = H; kv.D = q.D = D; kv.d = q.d = d; kv.causal = q.causal = 1; kv.ls = q.ls = ls;
    kv.gk = s.grad[1] * ls; kv.gv = s.grad[2]; q.gq = s.grad[0] * ls;
    run(kv, nb, B * H, 256, umup__fa_dkv<DM>::smem(D));
    run(q, nb, B * H, 256, umup__fa_dq<DM>::smem(D));
}

/* the tensor-core kernels (128 threads, bfloat16 operands) */
static void flash_run_tc(const float *qkv, const float *dO, float *O, float *lse, float *dqkv, float *Di, int B, int H, int T,
                         int D, float ls, const umup_op_scales &s) {
    const int d = H * D, nb = (T + UMUP__FA_T - 1) / UMUP__FA_T;
    umup__tc_fwd f;
    umup__ct_attn_di di;
    umup__tc_dkv kv;
    umup__tc_dq q;
    f.qkv = qkv; f.O = O; f.lse = lse; f.T = T; f.H = H; f.D = D; f.d = d; f.causal = 1; f.ls = ls; f.out = s.out;
    run(f, nb, B * H, UMUP__TC_THREADS, umup__tc_fwd::smem(D));
    memset(&di, 0, sizeof di);
    di.O = O; di.dO = dO; di.Di = Di; di.T = T; di.H = H; di.D = D; di.d = d; di.out = s.out; di.n = (size_t)B * H * T;
    run_each(di, di.n);
    kv.qkv = q.qkv = qkv; kv.dO = q.dO = dO; kv.lse = q.lse = lse; kv.Di = q.Di = Di; kv.dqkv = q.dqkv = dqkv;
    kv.T = q.T = T; kv.H = q.H = H; kv.D = q.D = D; kv.d = q.d = d; kv.causal = q.causal = 1; kv.ls = q.ls = ls;
    kv.gk = s.grad[1] * ls; kv.gv = s.grad[2]; q.gq = s.grad[0] * ls;
    run(kv, nb, B * H, UMUP__TC_THREADS, umup__tc_dkv::smem(D));
    run(q, nb, B * H, UMUP__TC_THREADS, umup__tc_dq::smem(D));
}

/* tc: the tensor-core kernels, held to bfloat16 tolerances (operands and probabilities rounded to 8
 * significant bits; the errors seen are 2e-3 .. 5e-3): output 1e-2, lse and gradients 1.5e-2 */
static double dot(const float *a, const float *b, size_t n) {
    double r = 0;
    size_t i;
    for (i = 0; i < n; i++) r += (double)a[i] * b[i];
    return r;
}
/* ||got - want|| / max(||want||, floor) */
static double l2_rel_floor(const float *got, const float *want, size_t n, double floor_) {
    double num = 0;
    size_t i;
    for (i = 0; i < n; i++) num += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
    return sqrt(num) / fmax(sqrt(dot(want, want, n)), floor_);
}
static void flash_case(int B, int H, int T, int D, float mult, int tc = 0) {
    const int d = H * D, N = B * T;
    const size_t nh = (size_t)B * H * T * D;
    std::vector<float> qkv((size_t)N * 3 * d), dO((size_t)N * d), O((size_t)N * d), lse((size_t)B * H * T), dqkv((size_t)N * 3 * d),
        Di((size_t)B * H * T);
    std::vector<float> q(nh), k(nh), v(nh), out(nh), att((size_t)B * H * T * T), dout(nh), dq(nh), dk(nh), dv(nh);
    std::vector<float> Oh(nh), dqh(nh), dkh(nh), dvh(nh);
    std::vector<float> outf(nh), lsef((size_t)B * H * T), dqf(nh), dkf(nh), dvf(nh);
    umup_op_scales s;
    const float ls = mult / (float)D;
    double lse_err = 0, lsef_err = 0;
    int b, h, t, j, which;
    fill(qkv.data(), qkv.size(), 100 + D, 2.5f);
    fill(dO.data(), dO.size(), 200 + T, 1.0f);
    umup_sdpa_scales(&s, T, D, 1, mult);
    /* the CPU's layout [B, H, T, D] */
    for (b = 0; b < B; b++)
        for (t = 0; t < T; t++)
            for (h = 0; h < H; h++)
                for (j = 0; j < D; j++) {
                    size_t o = (((size_t)b * H + h) * T + t) * D + j, r = ((size_t)b * T + t) * 3 * d + (size_t)h * D + j;
                    q[o] = qkv[r];
                    k[o] = qkv[r + d];
                    v[o] = qkv[r + 2 * d];
                    dout[o] = dO[((size_t)b * T + t) * d + (size_t)h * D + j];
                }
    UT_CHECK(umup_sdpa_forward(out.data(), att.data(), q.data(), k.data(), v.data(), B, H, T, D, 1, ls, &s) == UMUP_OK);
    UT_CHECK(umup_sdpa_backward(dq.data(), dk.data(), dv.data(), dout.data(), att.data(), q.data(), k.data(), v.data(), B, H, T,
                                D, ls, &s) == UMUP_OK);
    /* the model's op (umup_sdpa_flash_*): the same numbers with its own lse [B, H, T] */
    UT_CHECK(umup_sdpa_flash_forward(outf.data(), lsef.data(), q.data(), k.data(), v.data(), B, H, T, D, 1, ls, &s) == UMUP_OK);
    UT_CHECK(umup_sdpa_flash_backward(dqf.data(), dkf.data(), dvf.data(), dout.data(), outf.data(), lsef.data(), q.data(), k.data(),
                                      v.data(), B, H, T, D, 1, ls, &s) == UMUP_OK);
    if (tc) flash_run_tc(qkv.data(), dO.data(), O.data(), lse.data(), dqkv.data(), Di.data(), B, H, T, D, ls, s);
    else if (umup__ct_dm(D) == 32) flash_run<32>(qkv.data(), dO.data(), O.data(), lse.data(), dqkv.data(), Di.data(), B, H, T, D, ls, s);
    else if (umup__ct_dm(D) == 64) flash_run<64>(qkv.data(), dO.data(), O.data(), lse.data(), dqkv.data(), Di.data(), B, H, T, D, ls, s);
    else flash_run<128>(qkv.data(), dO.data(), O.data(), lse.data(), dqkv.data(), Di.data(), B, H, T, D, ls, s);
    for (b = 0; b < B; b++)
        for (t = 0; t < T; t++)
            for (h = 0; h < H; h++) {
                size_t bh = (size_t)b * H + h;
                double mx = -HUGE_VAL, sum = 0;
                int kk;
                for (kk = 0; kk <= t; kk++) { /* the log-sum-exp in double */
                    double z = 0;
                    for (j = 0; j < D; j++) z += (double)q[(bh * T + t) * D + j] * k[(bh * T + kk) * D + j];
                    z *= ls;
                    if (z > mx) mx = z;
                }
                for (kk = 0; kk <= t; kk++) {
                    double z = 0;
                    for (j = 0; j < D; j++) z += (double)q[(bh * T + t) * D + j] * k[(bh * T + kk) * D + j];
                    sum += exp(z * ls - mx);
                }
                if (fabs(log(sum) + mx - lse[bh * T + t]) > lse_err) lse_err = fabs(log(sum) + mx - lse[bh * T + t]);
                if (fabs((double)lsef[bh * T + t] - lse[bh * T + t]) > lsef_err) lsef_err = fabs((double)lsef[bh * T + t] - lse[bh * T + t]);
                for (j = 0; j < D; j++)
                    for (which = 0; which < 4; which++) {
                        size_t o = (bh * T + t) * D + j, r = ((size_t)b * T + t) * 3 * d + (size_t)h * D + j;
                        if (which == 0) Oh[o] = O[((size_t)b * T + t) * d + (size_t)h * D + j];
                        if (which == 1) dqh[o] = dqkv[r];
                        if (which == 2) dkh[o] = dqkv[r + d];
                        if (which == 3) dvh[o] = dqkv[r + 2 * d];
                    }
            }
    {
        double eo = ut_l2_rel(Oh.data(), out.data(), nh), eq = ut_l2_rel(dqh.data(), dq.data(), nh);
        double ek = ut_l2_rel(dkh.data(), dk.data(), nh), ev = ut_l2_rel(dvh.data(), dv.data(), nh);
        const double to = tc ? 1e-2 : 2e-6, tl = tc ? 1.5e-2 : 1e-5, tg = tc ? 1.5e-2 : 1e-5;
        UT_CHECKF(eo <= to && lse_err <= tl, "%s B=%d H=%d T=%d D=%d: output %.3g, lse %.3g", tc ? "tensor cores" : "fp32", B, H, T,
                  D, eo, lse_err);
        UT_CHECKF(eq <= tg && ek <= tg && ev <= tg, "%s B=%d H=%d T=%d D=%d: dq %.3g dk %.3g dv %.3g", tc ? "tensor cores" : "fp32", B,
                  H, T, D, eq, ek, ev);
        /* against the blocked CPU op the model runs: its lse element by element. At T = 1 dq and dk are 0
           in exact arithmetic (one key: p = 1); the blocked op leaves rounding noise there, so each
           gradient's error is relative to the larger of its own norm and 1e-2 of dv's (float rounding of p = 1
           leaves about 1e-7 of dv there) */
        const double gfloor = 1e-2 * sqrt(dot(dvf.data(), dvf.data(), nh));
        double fo = ut_l2_rel(Oh.data(), outf.data(), nh), fq = l2_rel_floor(dqh.data(), dqf.data(), nh, gfloor);
        double fk = l2_rel_floor(dkh.data(), dkf.data(), nh, gfloor), fv = l2_rel_floor(dvh.data(), dvf.data(), nh, gfloor);
        UT_CHECKF(fo <= to && lsef_err <= tl && fq <= tg && fk <= tg && fv <= tg,
                  "%s B=%d H=%d T=%d D=%d vs umup_sdpa_flash: output %.3g, lse %.3g, dq %.3g dk %.3g dv %.3g", tc ? "tensor cores" : "fp32",
                  B, H, T, D, fo, lsef_err, fq, fk, fv);
        printf("  flash %s B=%d H=%d T=%3d D=%3d: out %.1e lse %.1e dq %.1e dk %.1e dv %.1e; vs the blocked op: out %.1e lse %.1e "
               "dq %.1e dk %.1e dv %.1e\n",
               tc ? "bf16 TC" : "fp32   ", B, H, T, D, eo, lse_err, eq, ek, ev, fo, lsef_err, fq, fk, fv);
    }
}

static void test_flash_attention(void) {
    flash_case(1, 1, 1, 8, 1.0f);
    flash_case(3, 2, 5, 4, 1.0f);
    flash_case(2, 3, 64, 32, 1.0f);   /* one full tile */
    flash_case(1, 2, 65, 17, 2.0f);   /* a second tile of one row, odd head size */
    flash_case(2, 1, 200, 64, 1.0f);  /* four tiles, the last partial */
    flash_case(1, 2, 129, 96, 0.5f);
    flash_case(1, 1, 130, 128, 1.0f);
    if (!ut_quick()) flash_case(1, 2, 300, 32, 4.0f);
    flash_case(2, 3, 64, 32, 1.0f, 1);
    flash_case(1, 2, 65, 16, 2.0f, 1);
    flash_case(2, 1, 200, 64, 1.0f, 1);
    flash_case(1, 2, 129, 96, 0.5f, 1);
    flash_case(1, 1, 130, 128, 1.0f, 1);
    flash_case(3, 2, 5, 48, 1.0f, 1);
}

/* ---- residual junctions -------------------------------------------------------------------------- */

static umup__ct_op f32_op(float *p, size_t ld) {
    umup__ct_op o;
    memset(&o, 0, sizeof o);
    o.p = p;
    o.type = UMUP__CT_F32;
    o.ld = o.cols = ld;
    return o;
}

static void norm_fwd(int layer, float *y, const float *x, int rows, int d) {
    if (layer) umup_layer_norm_forward(y, x, rows, d);
    else umup_rms_norm_forward(y, x, rows, d);
}
static void norm_bwd(int layer, float *dx, const float *dy, const float *x, int rows, int d) {
    if (layer) umup_layer_norm_backward(dx, dy, x, rows, d);
    else umup_rms_norm_backward(dx, dy, x, rows, d);
}

/* forward junction: h = res(hprev, out(f)), then next = norm(h) or h; CPU: the ops chained as the model does */
static void jfwd_case(int rows, int d, int layer, int tau_form, int post_norm, int drop, int next) {
    const size_t n = (size_t)rows * d;
    std::vector<float> f(n), hp(n), h(n), y(n), hc(n), yc(n), fo(n);
    const double tau = 0.37, skip = 0.8, branch = 0.45;
    const float p = 0.25f;
    umup_op_scales sd;
    umup__ct_jfwd k;
    uint64_t seed = 99, ctr = (uint64_t)3 << 32;
    fill(f.data(), n, 1, 3.0f);
    fill(hp.data(), n, 2, 1.0f);
    umup_dropout_scales(&sd, p);
    memset(&k, 0, sizeof k);
    k.d = d; k.layer_norm = layer; k.f = f.data(); k.hprev = hp.data(); k.post_norm = post_norm;
    k.drop.on = drop; k.drop.p = p; k.drop.keep = sd.out * (1.0f / (1.0f - p)); k.drop.seed = seed; k.drop.counter = ctr;
    if (tau_form) { k.cb = tau / sqrt(1 + tau * tau); k.cs = 1 / sqrt(1 + tau * tau); }
    else { k.cb = branch; k.cs = skip; }
    k.h = h.data(); k.next = next; k.o1 = f32_op(y.data(), (size_t)d);
    run(k, rows, 1, umup__ct_row_threads(d), 0);
    /* CPU */
    if (post_norm) norm_fwd(layer, fo.data(), f.data(), rows, d);
    else fo = f;
    if (drop) umup_dropout_forward(fo.data(), fo.data(), n, p, seed, ctr, &sd);
    if (tau_form) umup_residual_add_forward(hc.data(), fo.data(), hp.data(), n, tau);
    else umup_residual_sum_forward(hc.data(), hp.data(), fo.data(), n, skip, branch);
    if (next == 1) norm_fwd(layer, yc.data(), hc.data(), rows, d);
    else yc = hc;
    if (next == 0) yc = y; /* no next operand written */
    UT_CHECKF(maxrel(h.data(), hc.data(), n) <= 1e-6 && maxrel(y.data(), yc.data(), n) <= 1e-6,
              "jfwd rows %d d %d layer %d tau %d post %d drop %d next %d: h %.3g, next %.3g", rows, d, layer, tau_form, post_norm,
              drop, next, maxrel(h.data(), hc.data(), n), maxrel(y.data(), yc.data(), n));
}

/* backward junction: A (branch input's backward, joined with the skip path), B (the previous branch's
 * output backward) */
static void jbwd_case(int rows, int d, int layer, int combine, int a_norm, int post_norm, int drop, int b_tau) {
    const size_t n = (size_t)rows * d;
    std::vector<float> dxin(n), xin(n), dh(n), fraw(n), y(n), dhc(n), din(n), dr(n), tmp(n), yc(n);
    const double tau = 0.61, skip = 0.7, branch = 0.3;
    const float p = 0.3f;
    umup_op_scales sd;
    umup__ct_jbwd k;
    uint64_t seed = 5, ctr = (uint64_t)9 << 32;
    fill(dxin.data(), n, 3, 2.0f);
    fill(xin.data(), n, 4, 1.5f);
    fill(dh.data(), n, 5, 1.0f);
    fill(fraw.data(), n, 6, 2.0f);
    dhc = dh;
    umup_dropout_scales(&sd, p);
    memset(&k, 0, sizeof k);
    k.d = d; k.layer_norm = layer; k.a_on = 1; k.a_norm = a_norm; k.combine = combine; k.dxin = dxin.data(); k.xin = xin.data();
    k.ca = tau / sqrt(1 + tau * tau); k.cb = combine == 1 ? 1 / sqrt(1 + tau * tau) : skip; k.dh = dh.data();
    k.b_on = 1; k.b_tau = b_tau; k.b_w = branch; k.drop.on = drop; k.drop.p = p;
    k.drop.keep = sd.grad[0] * (1.0f / (1.0f - p)); k.drop.seed = seed; k.drop.counter = ctr;
    k.post_norm = post_norm; k.fraw = fraw.data(); k.o = f32_op(y.data(), (size_t)d);
    run(k, rows, 1, umup__ct_row_threads(d), 0);
    /* CPU: A */
    std::fill(din.begin(), din.end(), 0.0f);
    if (a_norm) norm_bwd(layer, din.data(), dxin.data(), xin.data(), rows, d);
    else din = dxin;
    if (combine == 0) {
        dhc = din;
    } else {
        std::vector<float> dx(n, 0.0f);
        if (combine == 1) umup_residual_split_backward(dx.data(), din.data(), dhc.data(), n, tau);
        else {
            umup_residual_sum_backward(dx.data(), NULL, dhc.data(), n, skip, branch);
            umup_scale_fwd_backward(dx.data(), din.data(), n);
        }
        dhc = dx;
    }
    /* B */
    std::fill(dr.begin(), dr.end(), 0.0f);
    if (b_tau) umup_residual_add_backward(dr.data(), NULL, dhc.data(), n);
    else umup_residual_sum_backward(NULL, dr.data(), dhc.data(), n, skip, branch);
    if (drop) {
        std::fill(tmp.begin(), tmp.end(), 0.0f);
        umup_dropout_backward(tmp.data(), dr.data(), n, p, seed, ctr, &sd);
        dr = tmp;
    }
    if (post_norm) {
        std::fill(yc.begin(), yc.end(), 0.0f);
        norm_bwd(layer, yc.data(), dr.data(), fraw.data(), rows, d);
    } else {
        yc = dr;
    }
    UT_CHECKF(maxrel(dh.data(), dhc.data(), n) <= 1e-6 && maxrel(y.data(), yc.data(), n) <= 1e-6,
              "jbwd rows %d d %d layer %d combine %d a_norm %d post %d drop %d tau %d: dh %.3g, dy %.3g", rows, d, layer, combine,
              a_norm, post_norm, drop, b_tau, maxrel(dh.data(), dhc.data(), n), maxrel(y.data(), yc.data(), n));
}

static void test_junctions(void) {
    static const int dims[4] = {5, 64, 200, 1024};
    int di, layer, tau, post, drop, next, comb, an;
    long cases = 0;
    for (di = 0; di < 4; di++)
        for (layer = 0; layer < 2; layer++) {
            for (tau = 0; tau < 2; tau++)
                for (post = 0; post < 2; post++)
                    for (drop = 0; drop < 2; drop++)
                        for (next = 0; next < 3; next++, cases++) jfwd_case(7, dims[di], layer, tau, post, drop, next);
            for (comb = 0; comb < 3; comb++)
                for (an = 0; an < 2; an++)
                    for (post = 0; post < 2; post++)
                        for (drop = 0; drop < 2; drop++, cases++) jbwd_case(6, dims[di], layer, comb, an, post, drop, comb == 1);
        }
    { /* the embedding row: h = emb[id] mult, then the first branch input */
        const int V = 11, d = 40, rows = 9;
        std::vector<float> emb((size_t)V * d), h((size_t)rows * d), y((size_t)rows * d), hc((size_t)rows * d), yc((size_t)rows * d);
        std::vector<int32_t> ids(rows);
        umup__ct_jfwd k;
        int i;
        fill(emb.data(), emb.size(), 8, 1.0f);
        for (i = 0; i < rows; i++) ids[i] = (i * 7) % V;
        memset(&k, 0, sizeof k);
        k.d = d; k.ids = ids.data(); k.emb = emb.data(); k.mult = 0.75f; k.h = h.data(); k.next = 1; k.o1 = f32_op(y.data(), d);
        run(k, rows, 1, umup__ct_row_threads(d), 0);
        umup_embedding_forward(hc.data(), ids.data(), rows, emb.data(), V, d);
        umup_scale_fwd_forward(hc.data(), hc.data(), hc.size(), 0.75f);
        umup_rms_norm_forward(yc.data(), hc.data(), rows, d);
        UT_CHECK(memcmp(h.data(), hc.data(), h.size() * 4) == 0 && maxrel(y.data(), yc.data(), y.size()) <= 1e-6);
    }
    printf("  %ld junction cases (rows 5 .. 1024 wide, RMS/layer, tau/sum, post-norm, dropout) within 1e-6\n", cases);
}

/* ---- cross-entropy, SwiGLU --------------------------------------------------------------------- */

static void test_cross_entropy(void) {
    static const int Vs[3] = {2, 256, 1000};
    int vi, unit;
    for (vi = 0; vi < 3; vi++)
        for (unit = 0; unit < 2; unit++) {
            const int V = Vs[vi], rows = 13;
            std::vector<float> z((size_t)rows * V), dz((size_t)rows * V), dzc((size_t)rows * V, 0.0f);
            std::vector<int32_t> tg(rows);
            std::vector<double> lr(rows);
            umup_op_scales s;
            umup__ct_ce k;
            float lc = 0;
            double tot = 0;
            int i, counted = 0;
            fill(z.data(), z.size(), 30 + V, 6.0f);
            for (i = 0; i < rows; i++) {
                tg[i] = i % 5 == 3 ? -1 : (i * 37) % V;
                counted += tg[i] >= 0;
            }
            umup_cross_entropy_scales(&s, counted, V, 1.7f, unit);
            memset(&k, 0, sizeof k);
            k.V = V; k.z = z.data(); k.tg = tg.data(); k.loss_rows = lr.data(); k.mult = s.out; k.g = (double)s.grad[0]; k.bwd = 1;
            k.o = f32_op(dz.data(), (size_t)V);
            run(k, rows, 1, umup__ct_row_threads(V), 0);
            for (i = 0; i < rows; i++) tot += lr[i];
            UT_CHECK(umup_cross_entropy_forward(&lc, z.data(), tg.data(), rows, V, &s) == UMUP_OK);
            UT_CHECK(umup_cross_entropy_backward(dzc.data(), z.data(), tg.data(), rows, V, 1.0f, &s) == UMUP_OK);
            UT_CHECKF(fabs((float)(tot / counted) - lc) <= 1e-7 * fabs(lc) && maxrel(dz.data(), dzc.data(), dz.size()) <= 1e-7,
                      "cross-entropy V=%d unit %d: loss %.9g vs %.9g, dz %.3g", V, unit, tot / counted, (double)lc,
                      maxrel(dz.data(), dzc.data(), dz.size()));
        }
}

static void test_glu(void) {
    const size_t rows = 37, hd = 53, n = rows * hd;
    std::vector<float> u1(n), ug(n), y(n), yc(n), dg(n), d1(n), d2(n), d1c(n, 0.0f), d2c(n, 0.0f);
    umup_op_scales s;
    float mult;
    for (mult = 0.5f; mult < 3.0f; mult += 1.25f) {
        umup__ct_glu_fwd f;
        umup__ct_glu_bwd b;
        fill(u1.data(), n, 40, 4.0f);
        fill(ug.data(), n, 41, 9.0f);
        fill(dg.data(), n, 42, 1.0f);
        umup_silu_glu_scales(&s, mult);
        memset(&f, 0, sizeof f);
        f.u1 = u1.data(); f.ug = ug.data(); f.n = n; f.hd = hd; f.so = s.out; f.mult = mult; f.o = f32_op(y.data(), hd);
        run_each(f, n);
        memset(&b, 0, sizeof b);
        b.dg = dg.data(); b.u1 = u1.data(); b.ug = ug.data(); b.n = n; b.hd = hd; b.g0 = s.grad[0]; b.g1 = s.grad[1]; b.mult = mult;
        b.o1 = f32_op(d1.data(), hd);
        b.o2 = f32_op(d2.data(), hd);
        run_each(b, n);
        std::fill(d1c.begin(), d1c.end(), 0.0f);
        std::fill(d2c.begin(), d2c.end(), 0.0f);
        umup_silu_glu_forward(yc.data(), u1.data(), ug.data(), n, mult, &s);
        umup_silu_glu_backward(d1c.data(), d2c.data(), dg.data(), u1.data(), ug.data(), n, mult, &s);
        UT_CHECKF(maxrel(y.data(), yc.data(), n) <= 2e-6 && maxrel(d1.data(), d1c.data(), n) <= 2e-6 &&
                      maxrel(d2.data(), d2c.data(), n) <= 2e-6,
                  "silu_glu mult %g: y %.3g dx %.3g dgate %.3g", (double)mult, maxrel(y.data(), yc.data(), n),
                  maxrel(d1.data(), d1c.data(), n), maxrel(d2.data(), d2c.data(), n));
    }
}

/* ---- the optimizer ------------------------------------------------------------------------------------- */

static void test_optimizer(void) {
    const size_t n = 1000;
    int kind, wd, st, clip, nest, bad = 0, cases = 0;
    for (kind = 0; kind < (int)UMUP_OPT_COUNT; kind++)
        for (wd = 0; wd <= (int)UMUP_WD_COUPLED; wd++)
            for (st = 0; st < 2; st++)
                for (clip = 0; clip < 2; clip++)
                    for (nest = 0; nest < (kind == UMUP_OPT_SGD ? 2 : 1); nest++) {
                        umup_optim_config c = umup_optim_config_default((umup_optimizer_kind)kind);
                        umup_optimizer opt;
                        umup_param_group g[2];
                        umup__ct_group dg[2];
                        umup__ct_scalars sc;
                        umup__ct_optim k;
                        std::vector<float> p(n), gr(n), state(2 * n), p2, state2;
                        double norm2 = 0;
                        int i;
                        c.lr = 0.01;
                        c.weight_decay = 0.05;
                        c.clip_norm = clip ? 1.0 : 0.0;
                        c.momentum = kind == UMUP_OPT_SGD ? 0.9 : 0.0;
                        c.nesterov = nest;
                        c.schedule.decay = UMUP_SCHED_COSINE;
                        c.schedule.warmup = 2;
                        c.schedule.total = 20;
                        umup_optim_init(&opt, &c);
                        opt.step = st ? 5 : 0;
                        fill(p.data(), n, 50, 1.0f);
                        fill(gr.data(), n, 51, 0.5f);
                        fill(state.data(), 2 * n, 52, 0.01f);
                        for (i = 0; i < (int)n; i++) state[n + i] = fabsf(state[n + i]);
                        p2 = p;
                        state2 = state;
                        for (i = 0; i < 2; i++) { /* two groups with their own factors */
                            g[i].offset = i ? 600 : 0;
                            g[i].size = i ? 400 : 600;
                            g[i].lr_factor = i ? 0.5f : 2.0f;
                            g[i].wd = (umup_wd_rule)wd;
                            g[i].wd_factor = i ? 1.5f : 1.0f;
                            g[i].eps_factor = i ? 3.0f : 0.0f;
                            dg[i] = umup__ct_group_of(&g[i], (umup_optimizer_kind)kind);
                        }
                        for (i = 0; i < (int)n; i++) norm2 += (double)gr[i] * gr[i];
                        memset(&sc, 0, sizeof sc);
                        sc.ok = 1;
                        sc.clip = c.clip_norm > 0 && sqrt(norm2) > c.clip_norm ? c.clip_norm / sqrt(norm2) : 1.0;
                        memset(&k, 0, sizeof k);
                        k.p = p2.data(); k.g = gr.data(); k.m = state2.data(); k.v = state2.data() + n; k.n = n; k.groups = dg; k.ng = 2;
                        k.sc = &sc;
                        k.c.kind = kind; k.c.step = opt.step;
                        k.c.sched = (double)umup_schedule_value(&opt.cfg.schedule, opt.step);
                        k.c.lr = opt.cfg.lr;
                        k.c.lr_t = opt.cfg.lr * k.c.sched;
                        k.c.beta1 = opt.cfg.beta1; k.c.beta2 = opt.cfg.beta2; k.c.eps = opt.cfg.eps; k.c.momentum = opt.cfg.momentum;
                        k.c.nesterov = opt.cfg.nesterov; k.c.weight_decay = opt.cfg.weight_decay;
                        k.c.bc1 = k.c.bc2 = 1.0;
                        if (kind == UMUP_OPT_ADAM || kind == UMUP_OPT_ADAMW) {
                            k.c.bc1 = 1.0 - pow(opt.cfg.beta1, (double)(opt.step + 1));
                            k.c.bc2 = 1.0 - pow(opt.cfg.beta2, (double)(opt.step + 1));
                        }
                        run_each(k, n);
                        UT_CHECK(umup_optim_step(&opt, p.data(), gr.data(), state.data(), n, g, 2) == UMUP_OK);
                        bad += memcmp(p.data(), p2.data(), n * 4) != 0 || memcmp(state.data(), state2.data(), 2 * n * 4) != 0;
                        cases++;
                    }
    UT_CHECKF(bad == 0, "%d of %d optimizer cases differ from umup_optim_step", bad, cases);
    { /* the norm: 256 fixed chunks, then the finish; and a skipped update changes nothing */
        std::vector<float> g(100003), p(10, 1.0f), m(10, 0.0f);
        std::vector<double> part(UMUP__CT_NORM_BLOCKS);
        umup__ct_sqsum sq;
        umup__ct_finish fin;
        umup__ct_scalars sc;
        double ref = 0;
        size_t i;
        fill(g.data(), g.size(), 60, 3.0f);
        for (i = 0; i < g.size(); i++) ref += (double)g[i] * g[i];
        sq.x = g.data(); sq.n = g.size(); sq.chunk = (g.size() + UMUP__CT_NORM_BLOCKS - 1) / UMUP__CT_NORM_BLOCKS; sq.out = part.data();
        run(sq, UMUP__CT_NORM_BLOCKS, 1, 256, 0);
        memset(&sc, 0, sizeof sc);
        sc.loss_ok = 1;
        fin.part = part.data(); fin.np = UMUP__CT_NORM_BLOCKS; fin.clip_norm = 10.0; fin.clip_rms = 0.0; fin.count = (double)g.size();
        fin.sc = &sc;
        run(fin, 1, 1, 256, 0);
        UT_CHECKF(fabs(sc.norm - sqrt(ref)) <= 1e-12 * sqrt(ref) && sc.ok && sc.applied == 1 && fabs(sc.clip - 10.0 / sqrt(ref)) < 1e-15,
                  "norm %.17g vs %.17g", sc.norm, sqrt(ref));
        /* clip_rms: the RMS is norm / sqrt(count); the stronger factor applies (umup_optim_step) */
        fin.clip_norm = 1000.0; /* not reached (the norm is about 550) */
        fin.clip_rms = 0.5;     /* the RMS is about 1.7: clipped to 0.5 / RMS */
        run(fin, 1, 1, 256, 0);
        UT_CHECKF(fabs(sc.clip - 0.5 * sqrt((double)g.size()) / sc.norm) < 1e-15 && sc.applied == 2, "clip_rms: %.17g", sc.clip);
        fin.clip_norm = 10.0; /* both apply: the stronger, 10 / norm */
        run(fin, 1, 1, 256, 0);
        UT_CHECK(fabs(sc.clip - 10.0 / sc.norm) < 1e-15);
        sc.loss_ok = 0;
        run(fin, 1, 1, 256, 0);
        UT_CHECK(!sc.ok && sc.diverged && sc.applied == 3);
        sc.loss_ok = 1;
        run(fin, 1, 1, 256, 0);
        UT_CHECK(!sc.ok && sc.diverged); /* sticky */
    }
    printf("  %d optimizer cases bit-identical to umup_optim_step\n", cases);
}

/* ---- operands, transposes, the embedding gradient, reductions ---------------------------------------------- */

static void test_operands(void) {
    const size_t rows = 29, cols = 41, ld = 48, n = rows * cols;
    std::vector<float> x(n), q(rows * ld), qc(n);
    std::vector<uint8_t> c(rows * ld), cc(n);
    int fi, ri, bad = 0, cases = 0;
    fill(x.data(), n, 70, 300.0f);
    for (fi = 0; fi < 2; fi++)
        for (ri = 0; ri < 3; ri++) {
            umup_fp8_format f = fi ? UMUP_FP8_E5M2 : UMUP_FP8_E4M3;
            umup_fp8_rounding r = (umup_fp8_rounding)ri;
            umup__ct_operand k;
            size_t i, j;
            memset(&k, 0, sizeof k);
            k.src = x.data(); k.n = n; k.cols = k.ld = cols;
            k.o.p = q.data(); k.o.type = UMUP__CT_F32; k.o.quant = 1; k.o.ld = ld; k.o.cols = cols;
            umup__cu_cast_init(&k.o.q, UMUP__CU_QUANTISE, f, r, 1, 1234, 0);
            run_each(k, n);
            k.o.p = c.data(); k.o.type = UMUP__CT_FP8; k.o.quant = 0;
            umup__cu_cast_init(&k.o.q, UMUP__CU_ENCODE, f, r, 1, 1234, 0);
            run_each(k, n);
            umup_fp8_quantise_array(qc.data(), x.data(), n, f, r, 1, 1234, 0);
            umup_fp8_encode_array(cc.data(), x.data(), n, f, r, 1, 1234, 0);
            for (i = 0; i < rows; i++)
                for (j = 0; j < cols; j++) {
                    bad += fbits(q[i * ld + j]) != fbits(qc[i * cols + j]);
                    bad += c[i * ld + j] != cc[i * cols + j];
                }
            cases++;
        }
    UT_CHECKF(bad == 0, "%d operand elements differ from umup_fp8_quantise_array / _encode_array", bad);
    { /* bfloat16: round to nearest even against a reference in double; specials */
        long wrong = 0;
        uint32_t u;
        for (u = 0; u < 0xFFFFFFFFu - 65535u; u += 65521u) {
            const uint32_t t = u & 0xFFFF0000u; /* the bfloat16 below (toward zero), and the one above */
            float v = umup__cu_u2f(u);
            double lo = umup__cu_u2f(t), hi, got, best;
            if ((u & 0x7F800000u) == 0x7F800000u) continue;
            hi = ((t + 0x10000u) & 0x7F800000u) == 0x7F800000u ? copysign(ldexp(1.0, 128), v) : (double)umup__cu_u2f(t + 0x10000u);
            best = fabs(v - lo) < fabs(v - hi) ? lo : fabs(v - lo) > fabs(v - hi) ? hi : ((t >> 16) & 1u) ? hi : lo;
            got = umup__ct_bf16_f(umup__ct_bf16(v));
            if (!(got == best || (isinf(got) && fabs(best) == ldexp(1.0, 128)))) wrong++;
        }
        UT_CHECKF(wrong == 0, "%ld bfloat16 roundings differ from round-to-nearest-even", wrong);
        UT_CHECK(umup__ct_bf16(0.0f) == 0 && umup__ct_bf16(-0.0f) == 0x8000u && umup__ct_bf16(3.4e38f) == 0x7F80u);
        UT_CHECK(umup__ct_bf16_f(umup__ct_bf16(-1.00390625f)) == -1.0f && umup__ct_bf16_f(umup__ct_bf16(1.01171875f)) == 1.015625f);
        UT_CHECK(umup__ct_bf16_f(umup__ct_bf16(NAN)) != umup__ct_bf16_f(umup__ct_bf16(NAN)));
    }
    { /* the byte transpose */
        const int r = 70, cl = 33;
        std::vector<uint8_t> a((size_t)r * cl), t((size_t)r * cl);
        umup__ct_transpose8 k;
        int i, j, wrong = 0;
        for (i = 0; i < r * cl; i++) a[i] = (uint8_t)(i * 7 + 3);
        k.src = a.data(); k.dst = t.data(); k.rows = r; k.cols = cl; k.gy = 2; /* fewer row tiles than rows / 32: the loop */
        run(k, (cl + 31) / 32, 2, 256, 32 * 33);
        for (i = 0; i < r; i++)
            for (j = 0; j < cl; j++) wrong += t[(size_t)j * r + i] != a[(size_t)i * cl + j];
        UT_CHECK(wrong == 0);
    }
    { /* the embedding gradient: positions of each id in order, bit for bit */
        const int V = 17, d = 150, N = 300;
        std::vector<int32_t> ids(N), starts(V + 1), pos(N);
        std::vector<float> dh((size_t)N * d), dW((size_t)V * d), dWc((size_t)V * d, 0.0f);
        umup_op_scales s;
        umup__ct_emb_bwd k;
        int i, v;
        for (i = 0; i < N; i++) ids[i] = (int32_t)(umup_rng_u32(80, (uint64_t)i) % (V - 2)); /* two ids never occur */
        fill(dh.data(), dh.size(), 81, 1.0f);
        std::fill(starts.begin(), starts.end(), 0);
        for (i = 0; i < N; i++) starts[ids[i] + 1]++;
        for (v = 0; v < V; v++) starts[v + 1] += starts[v];
        {
            std::vector<int32_t> at(starts.begin(), starts.end() - 1);
            for (i = 0; i < N; i++) pos[at[ids[i]]++] = i;
        }
        umup_embedding_scales(&s, V, N);
        k.starts = starts.data(); k.pos = pos.data(); k.dh = dh.data(); k.dW = dW.data(); k.d = d; k.gw = s.grad_w;
        run(k, V, (d + 127) / 128, 128, 0);
        umup_embedding_backward(dWc.data(), dh.data(), ids.data(), N, V, d, &s);
        UT_CHECK(memcmp(dW.data(), dWc.data(), dW.size() * 4) == 0);
    }
    { /* block reductions: every thread count the row kernels use */
        int nt;
        for (nt = 32; nt <= 256; nt *= 2) {
            umup__ct_host ex;
            double v[256], s = 0, m = -HUGE_VAL, got_s, got_m;
            int i;
            ex.sm = NULL;
            ex.nt = nt;
            for (i = 0; i < nt; i++) {
                v[i] = rnd(90, (uint64_t)i, 100.0f);
                s += v[i];
                if (v[i] > m) m = v[i];
            }
            got_s = ex.sum([&](int tid) { return v[tid]; });
            got_m = ex.max([&](int tid) { return v[tid]; });
            UT_CHECKF(fabs(got_s - s) <= 1e-12 * nt * 100 && got_m == m, "nt %d: sum %.17g vs %.17g, max %g vs %g", nt, got_s, s, got_m, m);
        }
    }
    printf("  %d FP8 operand casts bit-identical; bfloat16, transpose, embedding gradient, reductions checked\n", cases);
}

int main(void) {
    UT_RUN(test_flash_attention);
    UT_RUN(test_junctions);
    UT_RUN(test_cross_entropy);
    UT_RUN(test_glu);
    UT_RUN(test_optimizer);
    UT_RUN(test_operands);
    return ut_finish("test_cuda_kernels");
}
