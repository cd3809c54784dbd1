/* tests/test_param.c - the parametrization rules of umup.h:
 *  - u-muP Adam LR factors of the reference tiny decoder equal lr_scale_func_adam's values
 *    (tests/data/umup_ref_rules.json, "lr_scales");
 *  - muP at its base width equals SP exactly (mup's backward-compatibility property);
 *  - every parametrization's factors at two widths equal numbers worked out by hand from its source;
 *  - muP's attention scale at a fixed head size does not change with width; the spectral pair
 *    (nanotron's SGD rate and the Adam rate of the spectral condition); mup's MuSGD weight decay;
 *  - depth rules (Depth-muP on every block tensor, CompleteP refused under the tau residual rule),
 *    attention scales, names, and error paths. */
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "umup_test.h"

static umup_tensor_rule rule(const umup_param_config *c, int width, umup_tensor_kind k, int fin, int fout, int res) {
    umup_tensor_desc t;
    umup_tensor_rule r;
    umup_status st;
    t.kind = k; t.fan_in = fin; t.fan_out = fout; t.in_residual = res;
    memset(&r, 0, sizeof r);
    st = umup_param_rule(c, width, &t, &r);
    UT_CHECKF(st == UMUP_OK, "umup_param_rule: %s", umup_status_string(st));
    return r;
}

/* The reference decoder: hidden 64, 2 layers, 2 heads, vocab 256, SwiGLU x4. lr_scale values read
 * from tests/data/umup_ref_rules.json. */
static void test_umup_reference_lr_scales(void) {
    static const struct { const char *name; umup_tensor_kind k; int fin, fout, res; } T[] = {
        {"embedding.weight", UMUP_TENSOR_EMBEDDING, 256, 64, 0},
        {"layers.0.mhsa.linear_qkv.weight", UMUP_TENSOR_HIDDEN, 64, 192, 1},
        {"layers.0.mhsa.linear_o.weight", UMUP_TENSOR_HIDDEN, 64, 64, 1},
        {"layers.0.mlp.linear_1.weight", UMUP_TENSOR_HIDDEN, 64, 256, 1},
        {"layers.0.mlp.linear_gate.weight", UMUP_TENSOR_HIDDEN, 64, 256, 1},
        {"layers.0.mlp.linear_2.weight", UMUP_TENSOR_HIDDEN, 256, 64, 1},
        {"layers.1.mhsa.linear_qkv.weight", UMUP_TENSOR_HIDDEN, 64, 192, 1},
        {"layers.1.mlp.linear_2.weight", UMUP_TENSOR_HIDDEN, 256, 64, 1},
        {"projection.weight", UMUP_TENSOR_READOUT, 64, 256, 0},
    };
    FILE *fp = fopen("tests/data/umup_ref_rules.json", "rb");
    char buf[16384];
    size_t len, i;
    umup_param_config c;
    memset(&c, 0, sizeof c);
    c.param = UMUP_PARAM_UMUP;
    c.depth = 2;
    if (!fp) { UT_CHECKF(0, "cannot open tests/data/umup_ref_rules.json"); return; }
    len = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[len] = 0;
    for (i = 0; i < sizeof T / sizeof T[0]; i++) {
        char key[160], *p;
        double want;
        umup_tensor_rule r = rule(&c, 64, T[i].k, T[i].fin, T[i].fout, T[i].res);
        snprintf(key, sizeof key, "\"%s\": {\"lr_scale\": ", T[i].name);
        p = strstr(buf, key);
        if (!p) { snprintf(key, sizeof key, "\"%s\"", T[i].name); p = strstr(buf, key); if (p) p = strstr(p, "\"lr_scale\":"); if (p) p += 11; }
        else p += strlen(key);
        UT_CHECKF(p != NULL, "no lr_scale for %s", T[i].name);
        if (!p) continue;
        want = strtod(p, NULL);
        UT_CHECKF(fabs(r.lr_adam - want) <= 1e-7 * want, "%s: lr %.9g, reference %.9g", T[i].name, (double)r.lr_adam, want);
    }
}

static void test_mup_base_equals_sp(void) {
    umup_param_config sp, mp;
    int k, w;
    memset(&sp, 0, sizeof sp); sp.param = UMUP_PARAM_SP; sp.sigma_emb = 0.02f;
    memset(&mp, 0, sizeof mp); mp.param = UMUP_PARAM_MUP; mp.sigma_emb = 0.02f;
    for (w = 0; w < 2; w++) {
        int width = w ? 256 : 64;
        mp.base_width = width; /* at the base width */
        for (k = 0; k <= (int)UMUP_TENSOR_NORM; k++) {
            int fin = k == UMUP_TENSOR_EMBEDDING ? 256 : k >= UMUP_TENSOR_BIAS ? 1 : width * (k == 0 ? 4 : 1);
            int fout = k == UMUP_TENSOR_READOUT ? 256 : width;
            umup_tensor_rule a = rule(&sp, width, (umup_tensor_kind)k, fin, fout, 1), b = rule(&mp, width, (umup_tensor_kind)k, fin, fout, 1);
            UT_CHECKF(a.init_std == b.init_std && a.multiplier == b.multiplier && a.lr_adam == b.lr_adam && a.lr_sgd == b.lr_sgd,
                      "kind %d width %d: SP (%g %g %g %g) vs muP (%g %g %g %g)", k, width, (double)a.init_std, (double)a.multiplier,
                      (double)a.lr_adam, (double)a.lr_sgd, (double)b.init_std, (double)b.multiplier, (double)b.lr_adam, (double)b.lr_sgd);
        }
        UT_CHECK(umup_param_attention_scale(&sp, width, 32, 0) == umup_param_attention_scale(&mp, width, 32, 0));
    }
}

/* Hand-computed values: width 128 -> 512 with base width 128 for muP (m = 4). */
static void test_hand_values(void) {
    umup_param_config c;
    umup_tensor_rule r;
    memset(&c, 0, sizeof c);
    /* SP: hidden [4d, d] init 1/sqrt(d); everything LR 1 */
    c.param = UMUP_PARAM_SP;
    r = rule(&c, 512, UMUP_TENSOR_HIDDEN, 512, 2048, 1);
    UT_NEAR(r.init_std, 1.0 / sqrt(512.0), 1e-8); UT_CHECK(r.lr_adam == 1.0f && r.multiplier == 1.0f && r.wd == UMUP_WD_DECOUPLED);
    r = rule(&c, 128, UMUP_TENSOR_BIAS, 1, 128, 1);
    UT_CHECK(r.init_std == 0.0f && r.wd == UMUP_WD_NONE);
    /* muP (mup): m = 512/128 = 4: hidden Adam LR 1/4, SGD 1, wd x4; readout mult 1/4, init sqrt(4)/sqrt(512),
       Adam LR 1, SGD 4; embedding SGD 4 */
    c.param = UMUP_PARAM_MUP; c.base_width = 128;
    r = rule(&c, 512, UMUP_TENSOR_HIDDEN, 512, 512, 1);
    UT_NEAR(r.lr_adam, 0.25, 1e-8); UT_NEAR(r.lr_sgd, 1.0, 1e-8); UT_NEAR(r.wd_factor, 4.0, 1e-8); UT_NEAR(r.init_std, 1 / sqrt(512.0), 1e-8);
    r = rule(&c, 512, UMUP_TENSOR_READOUT, 512, 256, 0);
    UT_NEAR(r.multiplier, 0.25, 1e-8); UT_NEAR(r.init_std, 2.0 / sqrt(512.0), 1e-8); UT_NEAR(r.lr_adam, 1.0, 1e-8); UT_NEAR(r.lr_sgd, 4.0, 1e-8);
    r = rule(&c, 128, UMUP_TENSOR_READOUT, 128, 256, 0);
    UT_NEAR(r.multiplier, 1.0, 1e-8); UT_NEAR(r.init_std, 1 / sqrt(128.0), 1e-8);
    r = rule(&c, 512, UMUP_TENSOR_EMBEDDING, 256, 512, 0);
    UT_NEAR(r.lr_sgd, 4.0, 1e-8); UT_NEAR(r.lr_adam, 1.0, 1e-8);
    c.alpha_out = 2.0f; c.readout_zero_init = 1;
    r = rule(&c, 512, UMUP_TENSOR_READOUT, 512, 256, 0);
    UT_NEAR(r.multiplier, 0.5, 1e-8); UT_CHECK(r.init_std == 0.0f);
    c.base_head_size = 16; /* a base model with head size 16: sqrt(16)/64 */
    UT_NEAR(umup_param_attention_scale(&c, 512, 64, 0), sqrt(16.0) / 64.0, 1e-7);
    /* u-muP, 4 layers: hidden [d, 4d] (down proj fan_in 2048): mult 1/sqrt(2048), LR 1/sqrt(2048)/2;
       embedding LR 1/sqrt(512); readout mult 1/512; norm in the stack LR 1/2; 2x-layers option 1/sqrt(8) */
    memset(&c, 0, sizeof c); c.param = UMUP_PARAM_UMUP; c.depth = 4;
    r = rule(&c, 512, UMUP_TENSOR_HIDDEN, 2048, 512, 1);
    UT_NEAR(r.multiplier, 1 / sqrt(2048.0), 1e-8); UT_NEAR(r.lr_adam, 1 / sqrt(2048.0) / 2, 1e-8); UT_NEAR(r.init_std, 1.0, 0);
    UT_CHECK(r.wd == UMUP_WD_INDEPENDENT); UT_NEAR(r.lr_sgd, r.lr_adam, 0);
    r = rule(&c, 512, UMUP_TENSOR_EMBEDDING, 256, 512, 0);
    UT_NEAR(r.lr_adam, 1 / sqrt(512.0), 1e-8);
    r = rule(&c, 512, UMUP_TENSOR_READOUT, 512, 256, 0);
    UT_NEAR(r.multiplier, 1 / 512.0, 1e-12); UT_NEAR(r.lr_adam, 1.0, 0);
    r = rule(&c, 512, UMUP_TENSOR_NORM, 1, 512, 1);
    UT_NEAR(r.lr_adam, 0.5, 1e-8);
    c.depth_mode = UMUP_DEPTH_2X_LAYERS;
    r = rule(&c, 512, UMUP_TENSOR_HIDDEN, 512, 512, 1);
    UT_NEAR(r.lr_adam, 1 / sqrt(512.0) / sqrt(8.0), 1e-8);
    UT_NEAR(umup_param_attention_scale(&c, 512, 64, 2.0f), 2.0 / 64, 1e-8);
    /* muS: hidden mult and LR 1/sqrt(fan_in), readout 1/fan_in, LR 1, no SGD rule */
    memset(&c, 0, sizeof c); c.param = UMUP_PARAM_MUS;
    r = rule(&c, 128, UMUP_TENSOR_HIDDEN, 128, 384, 1);
    UT_NEAR(r.multiplier, 1 / sqrt(128.0), 1e-8); UT_NEAR(r.lr_adam, 1 / sqrt(128.0), 1e-8); UT_CHECK(r.lr_sgd != r.lr_sgd);
    r = rule(&c, 512, UMUP_TENSOR_HIDDEN, 512, 1536, 1);
    UT_NEAR(r.lr_adam, 1 / sqrt(512.0), 1e-8); UT_CHECK(r.wd == UMUP_WD_INDEPENDENT);
    r = rule(&c, 512, UMUP_TENSOR_READOUT, 512, 256, 0);
    UT_NEAR(r.multiplier, 1 / 512.0, 1e-12); UT_NEAR(r.lr_adam, 1.0, 0);
    /* muS attention: the standard 1/sqrt(d_head) of the paper's equations */
    UT_NEAR(umup_param_attention_scale(&c, 512, 64, 0), 1 / 8.0, 1e-8);
    /* spectral-nanotron: [4d, d] at d = 128: init (1/sqrt(128)) min(1, sqrt(4)) = 1/sqrt(128), LR 4;
       [d, 4d] at d = 512: init (1/sqrt(2048)) sqrt(1/4), LR 1/4; lm_head [256, 512]: LR 0.5 */
    memset(&c, 0, sizeof c); c.param = UMUP_PARAM_SPECTRAL_NANOTRON;
    r = rule(&c, 128, UMUP_TENSOR_HIDDEN, 128, 512, 1);
    UT_NEAR(r.init_std, 1 / sqrt(128.0), 1e-8); UT_NEAR(r.lr_adam, 4.0, 1e-8);
    r = rule(&c, 512, UMUP_TENSOR_HIDDEN, 2048, 512, 1);
    UT_NEAR(r.init_std, 1 / sqrt(2048.0) * 0.5, 1e-8); UT_NEAR(r.lr_adam, 0.25, 1e-8);
    r = rule(&c, 512, UMUP_TENSOR_READOUT, 512, 256, 0);
    UT_NEAR(r.lr_adam, 0.5, 1e-8);
    UT_NEAR(umup_param_attention_scale(&c, 512, 64, 0), 1 / 64.0, 1e-8);
    /* spectral-adam: the same inits, LR 1/fan_in: [4d, d] at d = 128: 1/128; [d, 4d] at 512: 1/2048;
       lm_head [256, 512]: 1/512; embedding std 1, LR 1; norm LR 1, no decay */
    c.param = UMUP_PARAM_SPECTRAL_ADAM;
    r = rule(&c, 128, UMUP_TENSOR_HIDDEN, 128, 512, 1);
    UT_NEAR(r.init_std, 1 / sqrt(128.0), 1e-8); UT_NEAR(r.lr_adam, 1 / 128.0, 1e-10); UT_CHECK(r.lr_sgd != r.lr_sgd);
    r = rule(&c, 512, UMUP_TENSOR_HIDDEN, 2048, 512, 1);
    UT_NEAR(r.init_std, 1 / sqrt(2048.0) * 0.5, 1e-8); UT_NEAR(r.lr_adam, 1 / 2048.0, 1e-10);
    r = rule(&c, 512, UMUP_TENSOR_READOUT, 512, 256, 0);
    UT_NEAR(r.lr_adam, 1 / 512.0, 1e-10); UT_NEAR(r.init_std, sqrt(256.0) / 512, 1e-8);
    r = rule(&c, 512, UMUP_TENSOR_EMBEDDING, 256, 512, 0);
    UT_CHECK(r.init_std == 1.0f && r.lr_adam == 1.0f);
    r = rule(&c, 512, UMUP_TENSOR_NORM, 1, 512, 1);
    UT_CHECK(r.lr_adam == 1.0f && r.wd == UMUP_WD_NONE);
}

/* muP's attention scale with the demos' fixed head size (32) at widths 64, 256, 1024 and base width 64:
 * the head size does not change, so neither may the scale (it is SP's 1/sqrt(32) at every width;
 * the old rule d_base = d_head base_width / width assumed a fixed head count and fell 0.177 -> 0.088
 * -> 0.044). With a fixed head count (2 heads) the base model's head size 32 gives sqrt(32)/d_head. */
static void test_mup_attention_scale(void) {
    umup_param_config c;
    int w;
    memset(&c, 0, sizeof c);
    c.param = UMUP_PARAM_MUP; c.base_width = 64;
    for (w = 64; w <= 1024; w *= 4)
        UT_CHECKF(fabs(umup_param_attention_scale(&c, w, 32, 0) - 1 / sqrt(32.0)) < 1e-7, "width %d: %.6g", w,
                  (double)umup_param_attention_scale(&c, w, 32, 0));
    c.base_head_size = 32;
    for (w = 64; w <= 1024; w *= 4)
        UT_NEAR(umup_param_attention_scale(&c, w, w / 2, 0), sqrt(32.0) / (w / 2), 1e-8);
    c.base_head_size = -1;
    UT_CHECK(umup_param_attention_scale(&c, 64, 32, 0) != umup_param_attention_scale(&c, 64, 32, 0)); /* NaN */
}

/* The spectral pair across widths 128 -> 512 (4x): nanotron's SGD-rate rule gives square hidden
 * matrices a width-independent Adam LR (1 at both), the Adam rule of the spectral condition 1/fan_in,
 * 4x smaller at 4x the width (muP's Adam rule); both scale the up/down projections alike by width. */
static void test_spectral_pair(void) {
    umup_param_config n, a;
    umup_tensor_rule rn1, rn2, ra1, ra2;
    memset(&n, 0, sizeof n); n.param = UMUP_PARAM_SPECTRAL_NANOTRON;
    memset(&a, 0, sizeof a); a.param = UMUP_PARAM_SPECTRAL_ADAM;
    rn1 = rule(&n, 128, UMUP_TENSOR_HIDDEN, 128, 128, 1); rn2 = rule(&n, 512, UMUP_TENSOR_HIDDEN, 512, 512, 1);
    ra1 = rule(&a, 128, UMUP_TENSOR_HIDDEN, 128, 128, 1); ra2 = rule(&a, 512, UMUP_TENSOR_HIDDEN, 512, 512, 1);
    UT_CHECK(rn1.lr_adam == rn2.lr_adam);
    UT_NEAR(ra1.lr_adam / ra2.lr_adam, 4.0, 1e-6);
    UT_CHECK(rn1.init_std == ra1.init_std && rn2.init_std == ra2.init_std);
    rn1 = rule(&n, 128, UMUP_TENSOR_HIDDEN, 128, 512, 1); rn2 = rule(&n, 512, UMUP_TENSOR_HIDDEN, 512, 2048, 1);
    ra1 = rule(&a, 128, UMUP_TENSOR_HIDDEN, 128, 512, 1); ra2 = rule(&a, 512, UMUP_TENSOR_HIDDEN, 512, 2048, 1);
    UT_CHECK(rn1.lr_adam == rn2.lr_adam); /* out/in = 4 at both widths */
    UT_NEAR(ra1.lr_adam / ra2.lr_adam, 4.0, 1e-6);
}

/* Weight decay: mup's MuSGD (hidden wd x fanin_fanout_mult_ratio = 1, vector-like wd / width_mult)
 * next to MuAdam (hidden wd x width_mult, vector-like x1), and the model's SGD groups use the SGD
 * factors. */
static void test_mup_weight_decay(void) {
    umup_param_config c;
    umup_tensor_rule r;
    int k;
    memset(&c, 0, sizeof c);
    c.param = UMUP_PARAM_MUP; c.base_width = 128;
    r = rule(&c, 512, UMUP_TENSOR_HIDDEN, 512, 2048, 1);
    UT_NEAR(r.wd_factor, 4.0, 1e-7); UT_NEAR(r.wd_factor_sgd, 1.0, 0);
    for (k = UMUP_TENSOR_EMBEDDING; k <= UMUP_TENSOR_NORM; k++) {
        r = rule(&c, 512, (umup_tensor_kind)k, k == UMUP_TENSOR_EMBEDDING ? 256 : k == UMUP_TENSOR_READOUT ? 512 : 1,
                 k == UMUP_TENSOR_READOUT ? 256 : 512, 0);
        UT_CHECKF(r.wd_factor == 1.0f && fabs(r.wd_factor_sgd - 0.25) < 1e-7 && fabs(r.lr_sgd - 4.0) < 1e-6,
                  "kind %d: wd %g, wd sgd %g, lr sgd %g", k, (double)r.wd_factor, (double)r.wd_factor_sgd, (double)r.lr_sgd);
    }
#ifndef UMUP_NO_TRAINER
    {
        umup_model_config mc = umup_model_config_default();
        umup_model *m = NULL;
        umup_param_group g[64];
        mc.param.param = UMUP_PARAM_MUP; mc.width = 128; mc.param.base_width = 32; /* m = 4 */
        UT_CHECK(umup_model_create(&m, &mc, 1) == UMUP_OK);
        if (!m) return;
        UT_CHECK(umup_model_param_groups(m, UMUP_OPT_SGD, g) == UMUP_OK);
        UT_NEAR(g[0].wd_factor, 0.25, 1e-7);                            /* embedding */
        UT_NEAR(g[1].wd_factor, 1.0, 0);                                /* a hidden weight */
        UT_NEAR(g[umup_model_num_tensors(m) - 1].wd_factor, 0.25, 1e-7); /* readout */
        UT_CHECK(umup_model_param_groups(m, UMUP_OPT_ADAMW, g) == UMUP_OK);
        UT_NEAR(g[0].wd_factor, 1.0, 0);
        UT_NEAR(g[1].wd_factor, 4.0, 1e-7);
        umup_model_destroy(m);
    }
#endif
}

static void test_depth_rules(void) {
    umup_param_config c;
    umup_tensor_rule r;
    memset(&c, 0, sizeof c);
    /* Depth-muP on muP, 16 layers vs base 4: branch x 1/2, hidden Adam LR x 1/2 */
    c.param = UMUP_PARAM_MUP; c.depth = 16; c.base_depth = 4; c.depth_rule = UMUP_DEPTH_RULE_DEPTH_MUP;
    UT_NEAR(umup_param_branch_multiplier(&c), 0.5, 1e-7);
    r = rule(&c, 256, UMUP_TENSOR_HIDDEN, 256, 256, 1);
    UT_NEAR(r.lr_adam, 0.5, 1e-7);
    r = rule(&c, 256, UMUP_TENSOR_HIDDEN, 256, 256, 0); /* outside the residual stack: unchanged */
    UT_NEAR(r.lr_adam, 1.0, 1e-7);
    /* CompleteP alpha = 1: branch x 1/4, hidden LR x 1, eps x 1/4; alpha = 1/2: LR x 1/2, branch x 1/2 */
    c.depth_rule = UMUP_DEPTH_RULE_COMPLETEP;
    UT_NEAR(umup_param_branch_multiplier(&c), 0.25, 1e-7);
    r = rule(&c, 256, UMUP_TENSOR_HIDDEN, 256, 256, 1);
    UT_NEAR(r.lr_adam, 1.0, 1e-7); UT_NEAR(r.eps_factor, 0.25, 1e-7);
    c.completep_alpha = 0.5f;
    UT_NEAR(umup_param_branch_multiplier(&c), 0.5, 1e-7);
    r = rule(&c, 256, UMUP_TENSOR_NORM, 1, 256, 1);
    UT_NEAR(r.lr_adam, 0.5, 1e-7);
    c.completep_alpha = 0.3f;
    {
        umup_tensor_desc t = {UMUP_TENSOR_HIDDEN, 8, 8, 1};
        UT_CHECK(umup_param_rule(&c, 8, &t, &r) == UMUP_ERR_INVALID_ARG);
    }
    /* Depth-muP scales every tensor of a block (weights, biases, norm gains) like CompleteP at
       alpha = 1/2, and nothing outside the blocks */
    {
        umup_param_config d = c;
        int k;
        d.depth_rule = UMUP_DEPTH_RULE_DEPTH_MUP; d.completep_alpha = 0.0f;
        c.completep_alpha = 0.5f;
        for (k = 0; k <= (int)UMUP_TENSOR_NORM; k++) {
            int fin = k >= UMUP_TENSOR_BIAS ? 1 : 256;
            umup_tensor_rule a = rule(&d, 256, (umup_tensor_kind)k, fin, 256, 1), b = rule(&c, 256, (umup_tensor_kind)k, fin, 256, 1);
            if (k == UMUP_TENSOR_EMBEDDING || k == UMUP_TENSOR_READOUT) continue; /* not block tensors */
            UT_CHECKF(a.lr_adam == b.lr_adam && fabs(a.lr_adam - 0.5) < 1e-7, "kind %d: Depth-muP %g, CompleteP(1/2) %g", k,
                      (double)a.lr_adam, (double)b.lr_adam);
        }
        r = rule(&d, 256, UMUP_TENSOR_NORM, 1, 256, 0); /* the final norm: outside the blocks */
        UT_NEAR(r.lr_adam, 1.0, 0);
        r = rule(&d, 256, UMUP_TENSOR_BIAS, 1, 256, 1);
        UT_NEAR(r.lr_adam, 0.5, 1e-7);
    }
    /* u-muP with the depth rule switched off */
    memset(&c, 0, sizeof c); c.depth = 4; c.depth_rule = UMUP_DEPTH_RULE_NONE;
    r = rule(&c, 64, UMUP_TENSOR_HIDDEN, 64, 64, 1);
    UT_NEAR(r.lr_adam, 0.125, 1e-8);
    UT_NEAR(umup_param_branch_multiplier(&c), 1.0, 0);
    UT_CHECK(umup_param_config_error(&c) == NULL);
    /* u-muP with CompleteP: the tau rule weights branches ~ 1/sqrt(L), CompleteP's LRs assume (L/L0)^-alpha:
       refused with a reason for alpha != 1/2; alpha = 1/2 (Depth-muP) and Depth-muP itself are accepted,
       and so is CompleteP under a pre-norm parametrization */
    c.depth = 16; c.base_depth = 4; c.depth_rule = UMUP_DEPTH_RULE_COMPLETEP;
    {
        umup_tensor_desc t = {UMUP_TENSOR_HIDDEN, 64, 64, 1};
        const char *why = umup_param_config_error(&c);
        UT_CHECK(umup_param_rule(&c, 64, &t, &r) == UMUP_ERR_INVALID_ARG);
        UT_CHECKF(why && strstr(why, "CompleteP"), "reason: %s", why ? why : "(none)");
        c.completep_alpha = 0.5f;
        UT_CHECK(umup_param_rule(&c, 64, &t, &r) == UMUP_OK && umup_param_config_error(&c) == NULL);
        c.completep_alpha = 1.0f; c.depth_rule = UMUP_DEPTH_RULE_DEPTH_MUP;
        UT_CHECK(umup_param_rule(&c, 64, &t, &r) == UMUP_OK);
        c.depth_rule = UMUP_DEPTH_RULE_COMPLETEP; c.param = UMUP_PARAM_SP;
        UT_CHECK(umup_param_rule(&c, 64, &t, &r) == UMUP_OK);
    }
}

static void test_names_and_errors(void) {
    umup_parametrization p;
    umup_param_config c, d = umup_param_config_default();
    umup_tensor_desc t = {UMUP_TENSOR_HIDDEN, 0, 8, 0};
    umup_tensor_rule r;
    memset(&c, 0, sizeof c);
    UT_CHECK(d.param == UMUP_PARAM_UMUP && d.depth == 1 && d.alpha_out == 1.0f);
    UT_CHECK(umup_param_parse("mus", &p) == UMUP_OK && p == UMUP_PARAM_MUS);
    UT_CHECK(umup_param_parse("mu", &p) == UMUP_ERR_INVALID_ARG);
    UT_CHECK(strcmp(umup_param_name(UMUP_PARAM_SPECTRAL_NANOTRON), "spectral-nanotron") == 0);
    UT_CHECK(strcmp(umup_param_name(UMUP_PARAM_SPECTRAL_ADAM), "spectral-adam") == 0);
    UT_CHECK(umup_param_parse("spectral", &p) == UMUP_OK && p == UMUP_PARAM_SPECTRAL_NANOTRON); /* the old name */
    UT_CHECK(umup_param_parse("spectral-adam", &p) == UMUP_OK && p == UMUP_PARAM_SPECTRAL_ADAM);
    UT_CHECK(umup_param_rule(&c, 8, &t, &r) == UMUP_ERR_SHAPE);
    t.fan_in = 8;
    UT_CHECK(umup_param_rule(&c, 0, &t, &r) == UMUP_ERR_SHAPE);
    UT_CHECK(umup_param_rule(NULL, 8, &t, &r) == UMUP_ERR_NULL);
    c.param = (umup_parametrization)9;
    UT_CHECK(umup_param_rule(&c, 8, &t, &r) == UMUP_ERR_INVALID_ARG);
    c.param = UMUP_PARAM_SP; c.base_width = -2;
    UT_CHECK(umup_param_rule(&c, 8, &t, &r) == UMUP_ERR_INVALID_ARG);
    c.base_width = 0; t.kind = (umup_tensor_kind)12;
    UT_CHECK(umup_param_rule(&c, 8, &t, &r) == UMUP_ERR_INVALID_ARG);
}

int main(void) {
    UT_RUN(test_umup_reference_lr_scales);
    UT_RUN(test_mup_base_equals_sp);
    UT_RUN(test_hand_values);
    UT_RUN(test_mup_attention_scale);
    UT_RUN(test_spectral_pair);
    UT_RUN(test_mup_weight_decay);
    UT_RUN(test_depth_rules);
    UT_RUN(test_names_and_errors);
    return ut_finish("test_param");
}
