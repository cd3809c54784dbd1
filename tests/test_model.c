/* tests/test_model.c - the transformer of umup.h:
 *  - reproduces the reference TransformerDecoder (hidden 64, vocab 256, 2 layers, 2 heads) of
 *    tests/data/umup_ref.bin: loss to relative 1e-5, every parameter gradient to L2-relative 1e-4;
 *    with the reference loss's targets (umup_next_token_targets over all 17 tokens); the "obvious"
 *    mapping over 16 tokens measurably differs, as the header says;
 *  - whole-model finite differences (SP, muP, muS, both spectral rules, GELU MLPs: true gradients;
 *    u-muP: the unit-scaled gradient is the true gradient times a per-tensor constant, checked
 *    against the reference above);
 *  - FP8 simulation: finite, different from fp32, close to it; attention's q, k, v cast (saturation);
 *  - the attention scale override, the GELU/LayerNorm architecture, muS's tau by depth;
 *  - memory accounting, configuration errors (u-muP with CompleteP refused). */
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "umup_test.h"
#ifdef _OPENMP
#include <omp.h>
#endif
#include "umup_ref.h"

static ref_file R;

static void test_reference_decoder(void) {
    umup_model_config c = umup_model_config_default();
    umup_model *m = NULL;
    const int32_t *ids = ref_i32(&R, "decoder/ids");
    const float *loss_ref = ref_f32(&R, "decoder", "loss");
    int32_t tg[34];
    float loss = 0;
    int t, b;
    UT_CHECK(umup_model_create(&m, &c, 2) == UMUP_OK);
    if (!m || !ids || !loss_ref) { UT_CHECK(0); umup_model_destroy(m); return; }
    UT_CHECK(umup_model_num_tensors(m) == 12);
    for (t = 0; t < umup_model_num_tensors(m); t++) {
        const umup_tensor_info *ti = umup_model_tensor(m, t);
        char name[128];
        const ref_tensor *rt;
        snprintf(name, sizeof name, "decoder/param/%s", ti->name);
        rt = ref_find(&R, name);
        UT_CHECKF(rt && rt->count == ti->size && rt->dims[0] == ti->rows, "tensor %s missing or wrong shape", ti->name);
        if (rt && rt->count == ti->size) memcpy(umup_model_params(m) + ti->offset, rt->data, ti->size * sizeof(float));
    }
    /* loss on positions 0..15 against tokens 1..16; position 16 runs through the model but is not counted */
    UT_CHECK(umup_next_token_targets(tg, ids, 2, 17) == UMUP_OK);
    for (b = 0; b < 2; b++)
        for (t = 0; t < 17; t++) UT_CHECK(tg[b * 17 + t] == (t < 16 ? ids[b * 17 + t + 1] : -1));
    umup_model_zero_grad(m);
    UT_CHECK(umup_model_forward(m, ids, tg, 2, 17, 0, &loss) == UMUP_OK);
    UT_CHECKF(fabs(loss - loss_ref[0]) <= 1e-5 * fabs(loss_ref[0]), "loss %.9g, reference %.9g", (double)loss, (double)loss_ref[0]);
    UT_CHECK(umup_model_backward(m) == UMUP_OK);
    for (t = 0; t < umup_model_num_tensors(m); t++) {
        const umup_tensor_info *ti = umup_model_tensor(m, t);
        char name[128];
        const ref_tensor *rt;
        double err;
        snprintf(name, sizeof name, "decoder/grad/%s", ti->name);
        rt = ref_find(&R, name);
        if (!rt || rt->count != ti->size) { UT_CHECKF(0, "no reference gradient %s", ti->name); continue; }
        err = ut_l2_rel(umup_model_grads(m) + ti->offset, (const float *)rt->data, ti->size);
        UT_CHECKF(err <= 1e-4, "gradient of %s: L2-relative error %.3g", ti->name, err);
    }
    /* the obvious mapping, the 16 shifted tokens of each row (T = 16): the same 32 predictions, but the
       attention's output scale and the embedding's gradient scale see 16 tokens, not 17 */
    {
        int32_t ids16[32], tg16[32];
        double worst = 0;
        for (b = 0; b < 2; b++)
            for (t = 0; t < 16; t++) { ids16[b * 16 + t] = ids[b * 17 + t]; tg16[b * 16 + t] = ids[b * 17 + t + 1]; }
        umup_model_zero_grad(m);
        UT_CHECK(umup_model_forward(m, ids16, tg16, 2, 16, 0, &loss) == UMUP_OK);
        UT_CHECK(umup_model_backward(m) == UMUP_OK);
        for (t = 0; t < umup_model_num_tensors(m); t++) {
            const umup_tensor_info *ti = umup_model_tensor(m, t);
            char name[128];
            const ref_tensor *rt;
            snprintf(name, sizeof name, "decoder/grad/%s", ti->name);
            rt = ref_find(&R, name);
            if (rt && rt->count == ti->size) {
                double e = ut_l2_rel(umup_model_grads(m) + ti->offset, (const float *)rt->data, ti->size);
                if (e > worst) worst = e;
            }
        }
        printf("    T = 16 instead of 17: loss relative error %.2g, worst gradient error %.2g\n",
               fabs(loss - loss_ref[0]) / fabs(loss_ref[0]), worst);
        UT_CHECKF(fabs(loss - loss_ref[0]) > 1e-7 * fabs(loss_ref[0]) && worst > 1e-3, "T = 16: loss %.9g, gradient error %.3g",
                  (double)loss, worst);
    }
    UT_CHECK(umup_next_token_targets(tg, ids, 0, 17) == UMUP_ERR_SHAPE && umup_next_token_targets(NULL, ids, 2, 17) == UMUP_ERR_NULL);
    umup_model_destroy(m);
}

/* Central differences of the loss on a few coordinates of every tensor of a small plain model. */
static void fd_model_arch(umup_parametrization p, const char *what, int rope, float dropout, int mus_arch) {
    umup_model_config c = umup_model_config_default();
    umup_model *m = NULL;
    int32_t ids[2 * 6], tg[2 * 6];
    int i, t, bad = 0, checked = 0;
    float loss;
    c.width = 16; c.layers = 2; c.heads = 2; c.head_size = 0; c.max_seq = 8; c.vocab = 11;
    c.param.param = p;
    c.param.base_width = p == UMUP_PARAM_MUP ? 8 : 0;
    c.seed = 5;
    c.rope = rope;
    c.dropout = dropout;
    if (mus_arch) { umup_model_config_mus(&c); c.param.param = p; } /* GELU MLP, LayerNorm */
    UT_CHECK(umup_model_create(&m, &c, 2) == UMUP_OK);
    if (!m) return;
    umup_model_set_training(m, dropout > 0.0f); /* the same mask in every forward of step 0 */
    for (i = 0; i < 12; i++) { ids[i] = (int32_t)(umup_rng_u32(1, i) % 11); tg[i] = (int32_t)(umup_rng_u32(2, i) % 11); }
    tg[3] = -1;
    umup_model_zero_grad(m);
    umup_model_forward(m, ids, tg, 2, 6, 0, &loss);
    umup_model_backward(m);
    for (t = 0; t < umup_model_num_tensors(m); t++) {
        const umup_tensor_info *ti = umup_model_tensor(m, t);
        int k;
        for (k = 0; k < 4; k++) {
            size_t j = ti->offset + (size_t)(umup_rng_u32(3, (uint64_t)t * 8 + k) % ti->size);
            float *w = umup_model_params(m) + j, w0 = *w, lp, lm;
            double h = 1e-2, fd, an = umup_model_grads(m)[j];
            *w = (float)(w0 + h); umup_model_forward(m, ids, tg, 2, 6, 0, &lp);
            *w = (float)(w0 - h); umup_model_forward(m, ids, tg, 2, 6, 0, &lm);
            *w = w0;
            fd = ((double)lp - lm) / ((double)(float)(w0 + h) - (double)(float)(w0 - h));
            checked++;
            if (fabs(fd - an) > 2e-2 * fabs(fd) + 2e-4) { bad++; printf("    %s %s[%zu]: analytic %.6g, FD %.6g\n", what, ti->name, j - ti->offset, an, fd); }
        }
    }
    UT_CHECKF(bad == 0, "%s: %d of %d coordinates off (2%% + 2e-4)", what, bad, checked);
    umup_model_destroy(m);
}

static void fd_model(umup_parametrization p, const char *what, int rope, float dropout) {
    fd_model_arch(p, what, rope, dropout, 0);
}

static void test_finite_differences(void) {
    fd_model(UMUP_PARAM_SP, "SP", 0, 0.0f);
    fd_model(UMUP_PARAM_MUP, "muP", 0, 0.0f);
    fd_model(UMUP_PARAM_SPECTRAL_NANOTRON, "spectral-nanotron", 0, 0.0f);
    fd_model(UMUP_PARAM_SPECTRAL_ADAM, "spectral-adam", 0, 0.0f);
    fd_model(UMUP_PARAM_MUS, "muS (Res-Post-LN)", 0, 0.0f);
    fd_model_arch(UMUP_PARAM_MUS, "muS, the paper's architecture (GELU, LayerNorm)", 0, 0.0f, 1);
    fd_model_arch(UMUP_PARAM_SP, "SP, GELU MLP, LayerNorm", 0, 0.0f, 1);
    fd_model(UMUP_PARAM_SP, "SP + RoPE", 1, 0.0f);
    fd_model(UMUP_PARAM_SP, "SP + dropout 0.2", 0, 0.2f);
}

static double maxdiff(const float *a, const float *b, int n) {
    double m = 0;
    int i;
    for (i = 0; i < n; i++) if (fabs((double)a[i] - b[i]) > m) m = fabs((double)a[i] - b[i]);
    return m;
}

/* RoPE and dropout. A one-layer NoPE model is blind to order: the last position's logits do not
 * change when the earlier tokens are permuted (causal attention sees them as a set); with RoPE they
 * do. Dropout acts only in training mode and is reproducible for a step. */
static void test_rope_and_dropout(void) {
    umup_model_config c = umup_model_config_default();
    umup_model *m = NULL, *r = NULL;
    int32_t ids[8] = {1, 2, 3, 4, 5, 6, 7, 9}, per[8] = {7, 6, 5, 4, 3, 2, 1, 9}, tg[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    float l0, l1, l2, l3, z1[256];
    c.max_seq = 8;
    c.layers = 1;
    umup_model_create(&m, &c, 1);
    c.rope = 1;
    umup_model_create(&r, &c, 1);
    if (!m || !r) { UT_CHECK(0); return; }
    umup_model_forward(m, ids, NULL, 1, 8, 0, NULL);
    memcpy(z1, umup_model_logits(m) + 256 * 7, sizeof z1);
    umup_model_forward(m, per, NULL, 1, 8, 0, NULL);
    UT_CHECKF(maxdiff(z1, umup_model_logits(m) + 256 * 7, 256) < 1e-4, "NoPE order dependence %g", maxdiff(z1, umup_model_logits(m) + 256 * 7, 256));
    umup_model_forward(r, ids, NULL, 1, 8, 0, NULL);
    memcpy(z1, umup_model_logits(r) + 256 * 7, sizeof z1);
    umup_model_forward(r, per, NULL, 1, 8, 0, NULL);
    UT_CHECKF(maxdiff(z1, umup_model_logits(r) + 256 * 7, 256) > 1e-3, "RoPE order dependence %g", maxdiff(z1, umup_model_logits(r) + 256 * 7, 256));
    umup_model_destroy(r);
    umup_model_destroy(m);
    c.rope = 0;
    c.dropout = 0.3f;
    umup_model_create(&m, &c, 1);
    umup_model_forward(m, tg, tg, 1, 8, 4, &l0);                  /* evaluation: no dropout */
    umup_model_set_training(m, 1);
    umup_model_forward(m, tg, tg, 1, 8, 4, &l1);
    umup_model_forward(m, tg, tg, 1, 8, 4, &l2);
    umup_model_forward(m, tg, tg, 1, 8, 5, &l3);
    UT_CHECK(l1 != l0 && l1 == l2 && l3 != l1);
    umup_model_destroy(m);
    c.dropout = 1.0f;
    UT_CHECK(umup_model_create(&m, &c, 1) == UMUP_ERR_INVALID_ARG);
    c.dropout = 0.0f; c.rope = 1; c.width = 66; c.heads = 2; c.head_size = 0; /* head size 33 is odd */
    UT_CHECK(umup_model_create(&m, &c, 1) == UMUP_ERR_SHAPE);
}

static void test_fp8_simulation(void) {
    umup_model_config c = umup_model_config_default();
    umup_model *m = NULL;
    int32_t ids[4 * 32], tg[4 * 32];
    float l32, l8, lsr, g32;
    int i, mode;
    size_t gi;
    c.max_seq = 32;
    for (i = 0; i < 128; i++) { ids[i] = (int32_t)(umup_rng_u32(7, i) % 256); tg[i] = (int32_t)(umup_rng_u32(8, i) % 256); }
    UT_CHECK(umup_model_create(&m, &c, 4) == UMUP_OK);
    if (!m) return;
    umup_model_zero_grad(m);
    umup_model_forward(m, ids, tg, 4, 32, 0, &l32);
    umup_model_backward(m);
    gi = umup_model_find_tensor(m, "layers.0.mlp.linear_1.weight")->offset + 100;
    g32 = umup_model_grads(m)[gi];
    umup_model_destroy(m);
    for (mode = 1; mode <= 2; mode++) {
        c.fp8 = mode == 1 ? UMUP_FP8_SIM_ALL : UMUP_FP8_SIM_UMUP;
        c.fp8_rounding = UMUP_FP8_RNE;
        umup_model_create(&m, &c, 4);
        umup_model_zero_grad(m);
        UT_CHECK(umup_model_forward(m, ids, tg, 4, 32, 0, &l8) == UMUP_OK);
        UT_CHECK(umup_model_backward(m) == UMUP_OK);
        /* unit-scaled tensors need no scaling factors: the loss moves by well under 1% */
        UT_CHECKF(l8 == l8 && l8 != l32 && fabs(l8 - l32) < 0.01 * l32, "fp8 mode %d: loss %.6f vs fp32 %.6f", mode, (double)l8, (double)l32);
        UT_CHECK(umup_model_grads(m)[gi] == umup_model_grads(m)[gi] && umup_model_grads(m)[gi] != g32);
        umup_model_destroy(m);
    }
    c.fp8 = UMUP_FP8_SIM_UMUP;
    c.fp8_rounding = UMUP_FP8_SR;
    umup_model_create(&m, &c, 4);
    UT_CHECK(umup_model_forward(m, ids, tg, 4, 32, 3, &lsr) == UMUP_OK);
    UT_CHECKF(fabs(lsr - l32) < 0.01 * l32, "SR loss %.6f vs %.6f", (double)lsr, (double)l32);
    UT_CHECK(umup_model_forward(m, ids, tg, 4, 32, 3, &l8) == UMUP_OK && l8 == lsr); /* same step: same bits */
    umup_model_destroy(m);
}

/* umup_tensor_stats_compute on hand-made values, and the model's recording: names, counts, fp8 flags,
 * agreement with a direct computation, and unit scale at initialisation under u-muP. */
static void test_tensor_stats(void) {
    /* E4M3: max 448, smallest normal 2^-6, half the smallest subnormal 2^-10 */
    const float v[8] = {0.0f, 1e-4f, 0.0009765625f /* 2^-10: ties to 0 */, 0.00098f, -0.005f, 1.0f, -500.0f, NAN};
    umup_tensor_stats s;
    umup_model_config c = umup_model_config_default();
    umup_model *m = NULL;
    const umup_tensor_stats *st;
    int32_t ids[4 * 32], tg[4 * 32];
    int i, n = -1, p;
    float loss;
    UT_CHECK(umup_tensor_stats_compute(&s, "x", v, 8, UMUP_FP8_E4M3) == UMUP_OK);
    UT_CHECK(s.count == 8 && !strcmp(s.name, "x") && s.layer == -1);
    UT_NEAR(s.frac_underflow, 2.0 / 8, 1e-12);  /* 1e-4 and 2^-10 (zero itself is not counted) */
    UT_NEAR(s.frac_subnormal, 2.0 / 8, 1e-12);  /* 0.00098 and -0.005 */
    UT_NEAR(s.frac_overflow, 2.0 / 8, 1e-12);   /* -500 and NaN */
    UT_NEAR(s.max_abs, 500.0, 0);
    UT_REL(s.mean_abs, (1e-4 + 0.0009765625 + 0.00098 + 0.005 + 1.0 + 500.0) / 7, 1e-6);
    UT_REL(s.rms, sqrt((1e-8 + 0.0009765625 * 0.0009765625 + 0.00098 * 0.00098 + 2.5e-5 + 1.0 + 250000.0) / 7), 1e-6);
    UT_CHECK(umup_tensor_stats_compute(&s, NULL, v, 8, UMUP_FP8_E5M2) == UMUP_OK);
    UT_NEAR(s.frac_underflow, 0.0, 0);  /* E5M2 reaches 2^-16 */
    UT_NEAR(s.frac_overflow, 1.0 / 8, 1e-12);
    UT_CHECK(umup_tensor_stats_compute(&s, NULL, NULL, 0, UMUP_FP8_E4M3) == UMUP_OK && s.count == 0 && s.rms == 0);
    UT_CHECK(umup_tensor_stats_compute(&s, NULL, NULL, 3, UMUP_FP8_E4M3) == UMUP_ERR_NULL);
    UT_CHECK(umup_tensor_stats_compute(&s, NULL, v, 3, (umup_fp8_format)99) == UMUP_ERR_INVALID_ARG);

    for (i = 0; i < 128; i++) { ids[i] = (int32_t)(umup_rng_u32(7, i) % 256); tg[i] = (int32_t)(umup_rng_u32(8, i) % 256); }
    for (p = 0; p < 2; p++) {
        c = umup_model_config_default();
        c.width = 256;
        c.max_seq = 32;
        c.fp8 = UMUP_FP8_SIM_UMUP;
        if (p == 1) { c.param.param = UMUP_PARAM_SP; c.fp8 = UMUP_FP8_SIM_ALL; }
        UT_CHECK(umup_model_create(&m, &c, 4) == UMUP_OK);
        if (!m) return;
        umup_model_forward(m, ids, tg, 4, 32, 0, &loss);
        umup_model_stats(m, &n);
        UT_CHECK(n == 0); /* off by default */
        umup_model_record_stats(m, 1);
        umup_model_zero_grad(m);
        umup_model_forward(m, ids, tg, 4, 32, 0, &loss);
        st = umup_model_stats(m, &n);
        UT_CHECKF(n == 3 + 9 * 2 + 2 * 11, "forward records %d", n); /* outputs + x, W of 11 linears */
        umup_model_backward(m);
        st = umup_model_stats(m, &n);
        UT_CHECKF(n == 6 + 24 * 2, "forward + backward record %d", n);
        for (i = 0; i < n; i++) {
            const umup_tensor_stats *q = &st[i];
            int o = !strcmp(q->name, "layers.1.mhsa.linear_o"), qkv = !strcmp(q->name, "layers.0.mhsa.linear_qkv");
            if (q->kind == UMUP_STAT_OUTPUT && !strcmp(q->name, "embedding")) {
                /* direct: RMS of the embedding rows of the batch */
                double s2 = 0;
                int r, j;
                const float *W = umup_model_params(m);
                float mult = p == 1 ? umup_model_tensor(m, 0)->rule.multiplier : 1.0f;
                for (r = 0; r < 128; r++)
                    for (j = 0; j < 256; j++) s2 += (double)(mult * W[ids[r] * 256 + j]) * (mult * W[ids[r] * 256 + j]);
                UT_REL(q->rms, sqrt(s2 / (128.0 * 256)), 1e-5);
                UT_CHECK(q->count == 128 * 256 && q->layer == -1);
            }
            if (q->kind == UMUP_STAT_MATMUL_X && (o || qkv))
                UT_CHECKF(q->fp8_cast == (p == 1 || qkv), "%s fp8_cast %d", q->name, q->fp8_cast);
            if (q->kind == UMUP_STAT_MATMUL_DY) UT_CHECK(q->format == UMUP_FP8_E5M2);
            if (q->kind == UMUP_STAT_MATMUL_X && !strcmp(q->name, "projection")) UT_CHECK(q->fp8_cast == 0 && q->layer == -1);
            if (o) UT_CHECK(q->layer == 1);
            /* u-muP: every tensor that enters an FP8 matmul starts near scale 1 (weights and activations
               within 1%; gradients within 4x: the q/k gradient through the softmax is ~0.5 at init) */
            if (p == 0 && q->fp8_cast && q->kind != UMUP_STAT_MATMUL_DY)
                UT_CHECKF(fabs(q->rms - 1.0) < 0.01, "%s kind %d rms %.4f", q->name, (int)q->kind, q->rms);
            /* flushed to zero in FP8: under 0.1% of activations and weights; under 2% of gradients, where the
               q/k gradients that are zero in exact arithmetic (a query with one key, a near-uniform softmax)
               come out as rounding noise whose size depends on the GEMM kernel's summation order (0.93%
               with the AVX-512 kernel, 1.06% with the plain-C one) */
            if (p == 0 && q->fp8_cast)
                UT_CHECKF(q->rms > 0.25 && q->rms < 4.0 && q->frac_overflow == 0 &&
                              q->frac_underflow < (q->kind == UMUP_STAT_MATMUL_DY ? 0.02 : 0.001),
                          "%s kind %d rms %.3f under %.4f", q->name, (int)q->kind, q->rms, q->frac_underflow);
        }
        umup_model_record_stats(m, 0);
        umup_model_stats(m, &n);
        UT_CHECK(n == 0);
        umup_model_destroy(m);
        m = NULL;
    }
}

/* The parallel loops (attention over (batch, head), norms over rows, elementwise ops, the
 * optimizer) give bit-identical losses and gradients for 1 and 3 threads. */
static void test_thread_invariance(void) {
#ifdef _OPENMP
    umup_model_config c = umup_model_config_default();
    umup_model *m = NULL;
    int32_t ids[4 * 64], tg[4 * 64];
    float l1 = 0, l3 = 0, *g1;
    size_t i, n, diff = 0;
    int old = omp_get_max_threads();
    for (i = 0; i < 256; i++) { ids[i] = (int32_t)(umup_rng_u32(11, i) % 256); tg[i] = (int32_t)(umup_rng_u32(12, i) % 256); }
    c.width = 128;
    c.max_seq = 64;
    c.mlp_expansion = 2;
    UT_CHECK(umup_model_create(&m, &c, 4) == UMUP_OK);
    if (!m) return;
    n = umup_model_num_params(m);
    g1 = (float *)malloc(n * sizeof(float));
    omp_set_num_threads(1);
    umup_model_zero_grad(m);
    umup_model_forward(m, ids, tg, 4, 64, 0, &l1);
    umup_model_backward(m);
    memcpy(g1, umup_model_grads(m), n * sizeof(float));
    omp_set_num_threads(3);
    umup_model_zero_grad(m);
    umup_model_forward(m, ids, tg, 4, 64, 0, &l3);
    umup_model_backward(m);
    for (i = 0; i < n; i++) diff += memcmp(&g1[i], &umup_model_grads(m)[i], sizeof(float)) != 0;
    UT_CHECKF(l1 == l3 && diff == 0, "loss %.9g vs %.9g, %zu gradients differ", (double)l1, (double)l3, diff);
    omp_set_num_threads(old);
    free(g1);
    umup_model_destroy(m);
#else
    UT_SKIP("built without OpenMP: nothing runs in parallel");
#endif
}

static void test_memory_and_errors(void) {
    umup_model_config c = umup_model_config_default();
    umup_model *m = NULL;
    size_t pb = 0, gb = 0, ab = 0;
    int32_t ids[4] = {1, 2, 300, 4}, tg[4] = {-1, -1, -1, -1};
    float loss;
    UT_CHECK(umup_model_create(&m, &c, 2) == UMUP_OK);
    umup_model_memory(m, &pb, &gb, &ab);
    /* 64-wide, 2 layers: 2 * 256 * 64 + 2 * (3 + 1 + 4 + 4 + 4) * 64 * 64 parameters */
    UT_CHECK(umup_model_num_params(m) == (size_t)2 * 256 * 64 + (size_t)2 * 16 * 64 * 64);
    UT_CHECK(pb == umup_model_num_params(m) * 4 && gb == pb && ab > 0);
    UT_CHECK(umup_model_find_tensor(m, "layers.1.mlp.linear_2.weight") != NULL);
    UT_CHECK(umup_model_find_tensor(m, "layers.1.mlp.linear_2.weight")->layer == 1);
    UT_CHECK(umup_model_find_tensor(m, "layers.0.mhsa.linear_qkv.weight")->layer == 0);
    UT_CHECK(umup_model_find_tensor(m, "embedding.weight")->layer == -1 && umup_model_find_tensor(m, "projection.weight")->layer == -1);
    UT_CHECK(umup_model_find_tensor(m, "layers.2.mlp.linear_2.weight") == NULL);
    UT_CHECK(umup_model_forward(m, ids, NULL, 1, 4, 0, &loss) == UMUP_ERR_INVALID_ARG); /* id 300 >= 256 */
    ids[2] = 3;
    UT_CHECK(umup_model_forward(m, ids, tg, 1, 4, 0, &loss) == UMUP_ERR_INVALID_ARG);   /* no target */
    UT_CHECK(umup_model_forward(m, ids, NULL, 3, 4, 0, &loss) == UMUP_ERR_SHAPE);       /* B > max_batch */
    UT_CHECK(umup_model_forward(m, ids, NULL, 1, 4, 0, NULL) == UMUP_OK);
    umup_model_destroy(m);
    m = NULL;
    c.heads = 3; c.head_size = 0;
    UT_CHECK(umup_model_create(&m, &c, 2) == UMUP_ERR_SHAPE && m == NULL);
    c = umup_model_config_default();
    c.alpha_attn = -1.0f;
    UT_CHECK(umup_model_create(&m, &c, 2) == UMUP_ERR_INVALID_ARG);
    c = umup_model_config_default();
    c.param.param = UMUP_PARAM_MUS;
    c.mus_tau = 1.5f;
    UT_CHECK(umup_model_create(&m, &c, 2) == UMUP_ERR_INVALID_ARG);
    UT_CHECK(umup_model_create(NULL, &c, 2) == UMUP_ERR_NULL);
    /* u-muP with CompleteP (alpha 1): refused, and the reason is available */
    c = umup_model_config_default();
    c.layers = 4; c.param.base_depth = 2; c.param.depth_rule = UMUP_DEPTH_RULE_COMPLETEP;
    UT_CHECK(umup_model_create(&m, &c, 2) == UMUP_ERR_INVALID_ARG && m == NULL);
    UT_CHECK(umup_param_config_error(&c.param) != NULL);
    c.param.depth_rule = UMUP_DEPTH_RULE_DEPTH_MUP;
    UT_CHECK(umup_model_create(&m, &c, 2) == UMUP_OK);
    umup_model_destroy(m);
    m = NULL;
    c = umup_model_config_default();
    c.sdpa_scale = -1.0f;
    UT_CHECK(umup_model_create(&m, &c, 2) == UMUP_ERR_INVALID_ARG);
    c.sdpa_scale = 0.0f; c.mlp = (umup_mlp_kind)5;
    UT_CHECK(umup_model_create(&m, &c, 2) == UMUP_ERR_INVALID_ARG);
    c.mlp = UMUP_MLP_SWIGLU; c.fp8_attention = 2;
    UT_CHECK(umup_model_create(&m, &c, 2) == UMUP_ERR_INVALID_ARG && m == NULL);
}

/* The muS paper's architecture and residual weight: umup_model_config_mus gives a GELU MLP (4 tensors
 * a layer, no gate) and LayerNorm; tau comes from umup_mus_tau by depth (0.4 at 4 layers). A u-muP
 * model with a GELU MLP trains (unit-scaled gelu). */
static void test_mus_architecture(void) {
    umup_model_config c = umup_model_config_default();
    umup_model *m = NULL;
    umup_trainer *tr = NULL;
    umup_optim_config o;
    int32_t ids[32], tg[32];
    float l0 = 0, l1 = 0;
    int i;
    umup_model_config_mus(&c);
    c.layers = 4;
    UT_CHECK(c.param.param == UMUP_PARAM_MUS && c.mlp == UMUP_MLP_GELU && c.norm == UMUP_NORM_LAYER);
    UT_CHECK(umup_model_create(&m, &c, 1) == UMUP_OK);
    if (!m) return;
    UT_CHECK(umup_model_num_tensors(m) == 2 + 4 * 4);
    UT_CHECK(umup_model_find_tensor(m, "layers.0.mlp.linear_gate.weight") == NULL);
    UT_CHECK(umup_model_find_tensor(m, "layers.3.mlp.linear_2.weight") != NULL &&
             umup_model_find_tensor(m, "layers.3.mlp.linear_2.weight")->role == UMUP_ROLE_MLP_DOWN);
    UT_CHECK(umup_model_num_params(m) == (size_t)2 * 256 * 64 + (size_t)4 * (3 + 1 + 4 + 4) * 64 * 64);
    UT_NEAR(umup_model_get_config(m)->mus_tau, 0.4, 1e-7);
    UT_NEAR(umup_mus_tau(4), 0.4, 1e-7);
    UT_CHECK(umup_model_get_config(m)->mus_tau == umup_mus_tau(4));
    umup_model_destroy(m);
    c = umup_model_config_default();
    c.mlp = UMUP_MLP_GELU;
    o = umup_optim_config_for(UMUP_PARAM_UMUP, UMUP_OPT_ADAMW, 0);
    UT_CHECK(umup_trainer_create(&tr, &c, &o, 1) == UMUP_OK);
    if (!tr) return;
    for (i = 0; i < 32; i++) { ids[i] = (int32_t)(umup_rng_u32(8, (uint64_t)i) % 256); tg[i] = ids[i]; } /* copy task */
    for (i = 0; i < 20; i++) UT_CHECK(umup_trainer_step(tr, ids, tg, 1, 32, i ? &l1 : &l0) == UMUP_OK);
    UT_CHECKF(l1 < l0 - 0.5f, "u-muP GELU MLP: loss %.4f -> %.4f", (double)l0, (double)l1);
    umup_trainer_destroy(tr);
}

/* The attention scale override: sdpa_scale equal to the op's own scale changes nothing (bit for bit);
 * sdpa_scale 1 divides layer 0's attention output by that scale (same input, linear in it). */
static void test_sdpa_scale_override(void) {
    umup_model_config c = umup_model_config_default();
    umup_model *a = NULL, *b = NULL, *u = NULL;
    umup_op_scales s;
    int32_t ids[64], tg[64];
    float la = 0, lb = 0, lu = 0;
    int i, n;
    double ma = 0, mu = 0;
    c.max_seq = 64;
    umup_sdpa_scales(&s, 64, 32, 1, 1.0f);
    UT_CHECK(umup_model_create(&a, &c, 1) == UMUP_OK);
    c.sdpa_scale = s.out;
    UT_CHECK(umup_model_create(&b, &c, 1) == UMUP_OK);
    c.sdpa_scale = 1.0f;
    UT_CHECK(umup_model_create(&u, &c, 1) == UMUP_OK);
    if (!a || !b || !u) { umup_model_destroy(a); umup_model_destroy(b); umup_model_destroy(u); return; }
    for (i = 0; i < 64; i++) { ids[i] = (int32_t)(umup_rng_u32(6, (uint64_t)i) % 256); tg[i] = (int32_t)(umup_rng_u32(7, (uint64_t)i) % 256); }
    umup_model_record_stats(a, 1);
    umup_model_record_stats(u, 1);
    umup_model_forward(a, ids, tg, 1, 64, 0, &la);
    umup_model_forward(b, ids, tg, 1, 64, 0, &lb);
    umup_model_forward(u, ids, tg, 1, 64, 0, &lu);
    UT_CHECKF(la == lb, "sdpa_scale = the op's scale: loss %.9g vs %.9g", (double)la, (double)lb);
    UT_CHECK(lu != la);
    {
        const umup_tensor_stats *st = umup_model_stats(a, &n);
        for (i = 0; i < n; i++) if (!strcmp(st[i].name, "layers.0.mhsa.attention")) ma = st[i].mean_abs;
        st = umup_model_stats(u, &n);
        for (i = 0; i < n; i++) if (!strcmp(st[i].name, "layers.0.mhsa.attention")) mu = st[i].mean_abs;
    }
    UT_CHECKF(ma > 0 && fabs(mu * s.out / ma - 1) < 1e-5, "attention mean|x| %.6g at scale %.4g, %.6g at 1", ma, (double)s.out, mu);
    umup_model_destroy(a);
    umup_model_destroy(b);
    umup_model_destroy(u);
}

/* fp8_attention ([GC] simulate_fp8 casts q, k, v): with value rows of W_qkv at 400, |v| exceeds E4M3's
 * 448, so the attention output (a convex combination of the v rows under SP's unit scales) exceeds
 * 448 without the cast and stays within 448 with it. It is inert without an FP8 scheme, and with one
 * it moves the loss a little. */
static void test_fp8_attention(void) {
    umup_model_config c = umup_model_config_default();
    umup_model *m[3] = {NULL, NULL, NULL};
    int32_t ids[32], tg[32];
    float loss[3];
    double amax[3] = {0, 0, 0};
    int i, k, n;
    c.param.param = UMUP_PARAM_SP; c.width = 16; c.heads = 0; c.head_size = 8; c.layers = 1; c.max_seq = 32;
    c.fp8 = UMUP_FP8_SIM_ALL; c.fp8_rounding = UMUP_FP8_RNE;
    for (k = 0; k < 3; k++) {
        c.fp8_attention = k > 0;
        if (k == 2) c.fp8 = UMUP_FP8_SIM_NONE;
        UT_CHECK(umup_model_create(&m[k], &c, 1) == UMUP_OK);
    }
    if (!m[0] || !m[1] || !m[2]) { for (k = 0; k < 3; k++) umup_model_destroy(m[k]); return; }
    for (i = 0; i < 32; i++) { ids[i] = (int32_t)(umup_rng_u32(9, (uint64_t)i) % 256); tg[i] = (int32_t)(umup_rng_u32(10, (uint64_t)i) % 256); }
    for (k = 0; k < 2; k++) {
        const umup_tensor_info *q = umup_model_find_tensor(m[k], "layers.0.mhsa.linear_qkv.weight");
        float *w = umup_model_params(m[k]) + q->offset;
        for (i = 2 * 16 * 16; i < 3 * 16 * 16; i++) w[i] = 400.0f; /* the v rows */
        umup_model_record_stats(m[k], 1);
        UT_CHECK(umup_model_forward(m[k], ids, tg, 1, 32, 0, &loss[k]) == UMUP_OK);
        {
            const umup_tensor_stats *st = umup_model_stats(m[k], &n);
            for (i = 0; i < n; i++) if (!strcmp(st[i].name, "layers.0.mhsa.attention")) amax[k] = st[i].max_abs;
        }
    }
    UT_CHECKF(amax[0] > 448.0 && amax[1] <= 448.0, "attention max |x| %.6g without the cast, %.6g with it", amax[0], amax[1]);
    /* inert without a scheme: m[2] (fp8 none, fp8_attention 1) equals an fp32 model */
    {
        umup_model *f = NULL;
        float lf = 0;
        c.fp8_attention = 0;
        UT_CHECK(umup_model_create(&f, &c, 1) == UMUP_OK);
        if (f) {
            umup_model_forward(f, ids, tg, 1, 32, 0, &lf);
            umup_model_forward(m[2], ids, tg, 1, 32, 0, &loss[2]);
            UT_CHECK(lf == loss[2]);
            UT_CHECK(umup_model_backward(m[2]) == UMUP_OK);
        }
        umup_model_destroy(f);
    }
    /* with a scheme at the model's own weights: the loss moves, a little; the backward pass runs */
    for (k = 0; k < 2; k++) { umup_model_destroy(m[k]); m[k] = NULL; }
    c.fp8 = UMUP_FP8_SIM_ALL;
    for (k = 0; k < 2; k++) {
        c.fp8_attention = k;
        umup_model_create(&m[k], &c, 1);
        if (m[k]) umup_model_forward(m[k], ids, tg, 1, 32, 0, &loss[k]);
    }
    UT_CHECKF(m[0] && m[1] && loss[0] != loss[1] && fabs(loss[1] - loss[0]) < 0.01 * loss[0], "loss %.6f without, %.6f with",
              (double)loss[0], (double)loss[1]);
    if (m[1]) UT_CHECK(umup_model_backward(m[1]) == UMUP_OK);
    for (k = 0; k < 3; k++) umup_model_destroy(m[k]);
}

/* A parametrization added through the documented route (a umup_param_info pointed to by
 * umup_param_config.custom), with no change to the model: "SP with twice the LR factor of every
 * tensor". Its model must equal SP's in everything but the LR factors, train one step, and that step
 * must equal SP's step at twice the global LR bit for bit (lr 2 eta x factor 1 = lr eta x factor 2). */
static umup_status twice_sp_rule(const umup_param_config *cfg, int width, const umup_tensor_desc *t, umup_tensor_rule *out) {
    umup_status st = umup_param_rule_sp(cfg, width, t, out);
    out->lr_adam *= 2.0f;
    out->lr_sgd *= 2.0f;
    return st;
}

static void test_custom_parametrization(void) {
    umup_param_info info;
    umup_model_config c = umup_model_config_default();
    umup_optim_config o;
    umup_trainer *ta = NULL, *tb = NULL;
    int32_t ids[2 * 16], tg[2 * 16];
    float la = 0, lb = 0;
    int i, t, same_rules = 1;
    size_t diff = 0, changed = 0, n;
    memset(&info, 0, sizeof info);
    info.name = "twice_sp";
    info.title = "SP with every LR factor doubled";
    info.rule = twice_sp_rule;
    info.unit_ops = 0;
    info.residual = UMUP_RESIDUAL_PRE_NORM;
    info.attention_scale = NULL; /* alpha_attn / sqrt(d_head), as SP */
    info.default_lr = 1.0 / 1024;
    info.default_clip = 1.0;
    info.default_warmup = 0.1f;
    c.width = 32; c.heads = 0; c.head_size = 16; c.max_seq = 16; c.seed = 9;
    c.param.custom = &info;
    UT_CHECK(umup_param_config_info(&c.param) == &info);
    o = umup_optim_config_for_info(&info, UMUP_OPT_ADAMW, 0);
    UT_CHECK(o.lr == 1.0 / 1024 && o.clip_norm == 1.0);
    UT_CHECK(umup_trainer_create(&ta, &c, &o, 2) == UMUP_OK);
    c.param.custom = NULL;
    c.param.param = UMUP_PARAM_SP;
    o.lr *= 2.0;
    UT_CHECK(umup_trainer_create(&tb, &c, &o, 2) == UMUP_OK);
    if (!ta || !tb) { umup_trainer_destroy(ta); umup_trainer_destroy(tb); return; }
    for (t = 0; t < umup_model_num_tensors(umup_trainer_model(ta)); t++) {
        const umup_tensor_rule *ra = &umup_model_tensor(umup_trainer_model(ta), t)->rule;
        const umup_tensor_rule *rb = &umup_model_tensor(umup_trainer_model(tb), t)->rule;
        same_rules &= ra->init_std == rb->init_std && ra->multiplier == rb->multiplier && ra->lr_adam == 2.0f * rb->lr_adam;
    }
    UT_CHECK(same_rules);
    n = umup_model_num_params(umup_trainer_model(ta));
    for (i = 0; i < 32; i++) { ids[i] = (int32_t)(umup_rng_u32(4, (uint64_t)i) % 256); tg[i] = (int32_t)(umup_rng_u32(5, (uint64_t)i) % 256); }
    UT_CHECK(umup_trainer_step(ta, ids, tg, 2, 16, &la) == UMUP_OK);
    UT_CHECK(umup_trainer_step(tb, ids, tg, 2, 16, &lb) == UMUP_OK);
    UT_CHECKF(la == lb && la > 4.0f && la < 7.0f, "loss %.9g vs SP %.9g", (double)la, (double)lb);
    {
        const float *pa = umup_model_params(umup_trainer_model(ta)), *pb = umup_model_params(umup_trainer_model(tb));
        umup_model *m0 = NULL;
        umup_model_create(&m0, &c, 1); /* SP at init with the same seed: what the step started from */
        for (i = 0; i < (int)n; i++) {
            diff += memcmp(&pa[i], &pb[i], sizeof(float)) != 0;
            if (m0) changed += pa[i] != umup_model_params(m0)[i];
        }
        umup_model_destroy(m0);
    }
    UT_CHECKF(diff == 0 && changed > n / 2, "%zu params differ from SP at 2 eta, %zu of %zu changed", diff, changed, n);
    /* an incomplete object is refused */
    info.rule = NULL;
    c.param.custom = &info;
    { umup_model *m = NULL; UT_CHECK(umup_model_create(&m, &c, 1) == UMUP_ERR_INVALID_ARG && m == NULL); }
    umup_trainer_destroy(ta);
    umup_trainer_destroy(tb);
}

/* The parametrization table answers every question the model asks; the FP8 schemes are a role table. */
static void test_param_objects_and_fp8_policy(void) {
    static const umup_residual_form res[UMUP_PARAM_COUNT] = {UMUP_RESIDUAL_TAU, UMUP_RESIDUAL_PRE_NORM,
        UMUP_RESIDUAL_PRE_NORM, UMUP_RESIDUAL_POST_NORM, UMUP_RESIDUAL_PRE_NORM, UMUP_RESIDUAL_PRE_NORM};
    static const double lr[UMUP_PARAM_COUNT] = {0.5, 1.0 / 512, 1.0 / 512, 0.25, 1.0 / 512, 0.5};
    int p, s, t;
    for (p = 0; p < (int)UMUP_PARAM_COUNT; p++) {
        const umup_param_info *pi = umup_param_info_of((umup_parametrization)p);
        umup_optim_config o = umup_optim_config_for((umup_parametrization)p, UMUP_OPT_ADAMW, 600);
        UT_CHECK(pi && pi->rule && !strcmp(pi->name, umup_param_name((umup_parametrization)p)));
        if (!pi) continue;
        UT_CHECK(pi->unit_ops == (p == UMUP_PARAM_UMUP) && pi->residual == res[p] && pi->default_lr == lr[p]);
        UT_CHECK(o.lr == lr[p] && o.schedule.warmup == 60 && o.schedule.total == 600 &&
                 o.schedule.decay == UMUP_SCHED_COSINE && o.schedule.min_ratio == 0.1f);
    }
    UT_CHECK(umup_param_info_of(UMUP_PARAM_COUNT) == NULL && umup_param_config_info(NULL) == NULL);
    UT_CHECK(umup_optim_config_for(UMUP_PARAM_COUNT, UMUP_OPT_ADAMW, 10).lr == 1e-3);
    for (s = 0; s <= (int)UMUP_FP8_SIM_UMUP; s++) {
        umup_model_config c = umup_model_config_default();
        umup_model *m = NULL;
        c.fp8 = (umup_fp8_sim)s;
        c.fp8_rounding = UMUP_FP8_SR;
        if (s == 1) { c.fp8_custom_formats = 1; c.fp8_format_fwd = UMUP_FP8_E4M3FNUZ; c.fp8_format_bwd = UMUP_FP8_E5M2FNUZ; }
        UT_CHECK(umup_model_create(&m, &c, 1) == UMUP_OK);
        if (!m) continue;
        for (t = 0; t < umup_model_num_tensors(m); t++) {
            const umup_tensor_info *ti = umup_model_tensor(m, t);
            int hidden = ti->kind == UMUP_TENSOR_HIDDEN;
            int want = s == 1 ? hidden : s == 2 ? hidden && ti->role != UMUP_ROLE_ATTN_OUT && ti->role != UMUP_ROLE_MLP_DOWN : 0;
            UT_CHECKF(ti->fp8.cast == want, "scheme %d: %s cast %d", s, ti->name, ti->fp8.cast);
            UT_CHECK(ti->fp8.rounding == UMUP_FP8_SR);
            UT_CHECK(ti->fp8.fwd == (s == 1 ? UMUP_FP8_E4M3FNUZ : UMUP_FP8_E4M3) && ti->fp8.bwd == (s == 1 ? UMUP_FP8_E5M2FNUZ : UMUP_FP8_E5M2));
        }
        UT_CHECK(umup_model_find_tensor(m, "layers.1.mlp.linear_2.weight")->role == UMUP_ROLE_MLP_DOWN);
        UT_CHECK(umup_model_find_tensor(m, "projection.weight")->role == UMUP_ROLE_READOUT);
        umup_model_destroy(m);
    }
    {
        umup_model_config c = umup_model_config_default();
        umup_model *m = NULL;
        c.fp8_custom_formats = 1;
        c.fp8_format_fwd = (umup_fp8_format)77;
        UT_CHECK(umup_model_create(&m, &c, 1) == UMUP_ERR_INVALID_ARG && m == NULL);
    }
}

/* Sizes: what umup_model_memory_needed says is what umup_model_create allocates; configurations
 * whose sizes wrap size_t or the ops' int range are refused before anything is allocated. */
static void test_sizes_and_overflow(void) {
    umup_model_config c = umup_model_config_default();
    umup_model *m = NULL;
    size_t pb = 1, gb = 1, ab = 1, pb2 = 0, gb2 = 0, ab2 = 0;
    UT_CHECK(umup_model_memory_needed(&c, 3, &pb, &gb, &ab) == UMUP_OK);
    UT_CHECK(umup_model_create(&m, &c, 3) == UMUP_OK);
    if (m) umup_model_memory(m, &pb2, &gb2, &ab2);
    UT_CHECK(pb == pb2 && gb == gb2 && ab == ab2 && pb == umup_model_num_params(m) * 4);
    umup_model_destroy(m);
    /* the probe's configuration: ~1.8e19 bytes of activations, which wrapped to 738 MB */
    c = umup_model_config_default();
    c.width = 17; c.heads = 17; c.head_size = 0; c.mlp_expansion = 2; c.layers = 1018; c.max_seq = 64956;
    pb = 7;
    UT_CHECK(umup_model_memory_needed(&c, 63136, &pb, &gb, &ab) == UMUP_ERR_NOMEM && pb == 7);
    m = NULL;
    UT_CHECK(umup_model_create(&m, &c, 63136) == UMUP_ERR_NOMEM && m == NULL);
    /* vocab = width = 2^29: the embedding alone has 2^58 floats */
    c = umup_model_config_default();
    c.vocab = 1 << 29; c.width = 1 << 29; c.heads = 1; c.head_size = 0; c.mlp_expansion = 1; c.max_seq = 1;
    UT_CHECK(umup_model_memory_needed(&c, 1, &pb, &gb, &ab) == UMUP_ERR_NOMEM);
    UT_CHECK(umup_model_create(&m, &c, 1) == UMUP_ERR_NOMEM && m == NULL);
    /* int overflows: 3 x width, mlp_expansion x width, max_batch x max_seq, max_batch x heads */
    c = umup_model_config_default();
    c.width = 800000000; c.heads = 1; c.head_size = 0;
    UT_CHECK(umup_model_memory_needed(&c, 1, &pb, &gb, &ab) == UMUP_ERR_NOMEM);
    c = umup_model_config_default();
    c.max_seq = 65536;
    UT_CHECK(umup_model_memory_needed(&c, 65536, &pb, &gb, &ab) == UMUP_ERR_NOMEM);
    c = umup_model_config_default();
    c.width = 4096; c.heads = 4096; c.head_size = 0; c.max_seq = 1;
    UT_CHECK(umup_model_memory_needed(&c, 1 << 20, &pb, &gb, &ab) == UMUP_ERR_NOMEM);
    /* every int product fits, but the activations of 2^20 layers wrap size_t */
    c = umup_model_config_default();
    c.width = 1 << 15; c.heads = 1 << 15; c.head_size = 0; c.mlp_expansion = 1; c.layers = 1 << 20; c.max_seq = 1 << 15;
    UT_CHECK(umup_model_memory_needed(&c, 1 << 15, &pb, &gb, &ab) == UMUP_ERR_NOMEM);
    UT_CHECK(umup_model_memory_needed(NULL, 1, &pb, &gb, &ab) == UMUP_ERR_NULL);
    UT_CHECK(umup_model_memory_needed(&c, 0, &pb, &gb, &ab) == UMUP_ERR_SHAPE);
}

int main(void) {
    if (ref_load(&R, NULL) != 0) {
        UT_CHECKF(0, "reference data missing: tests/data/umup_ref.bin");
        return ut_finish("test_model");
    }
    UT_RUN(test_reference_decoder);
    UT_RUN(test_finite_differences);
    UT_RUN(test_rope_and_dropout);
    UT_RUN(test_fp8_simulation);
    UT_RUN(test_tensor_stats);
    UT_RUN(test_thread_invariance);
    UT_RUN(test_memory_and_errors);
    UT_RUN(test_custom_parametrization);
    UT_RUN(test_mus_architecture);
    UT_RUN(test_sdpa_scale_override);
    UT_RUN(test_fp8_attention);
    UT_RUN(test_param_objects_and_fp8_policy);
    UT_RUN(test_sizes_and_overflow);
    ref_free(&R);
    return ut_finish("test_model");
}
