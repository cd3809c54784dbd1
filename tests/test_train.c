/* tests/test_train.c - training the transformer of umup.h end to end (trainer, optimizer, data):
 *  - u-muP (fp32) on the embedded corpus: the validation loss falls from ~ln 256 = 5.55 nats to
 *    below the corpus's unigram entropy (4.34 bits = 3.01 nats) within a small step budget;
 *  - SP (plain model) trains as well;
 *  - FP8 simulation (u-muP scheme, stochastic rounding) stays finite and within 0.15 nats of the
 *    fp32 run after the same steps, without being identical to it;
 *  - determinism: two runs with the same seed give bitwise identical losses and parameters, and a
 *    different init seed gives different ones;
 *  - evaluation changes nothing; sampling is deterministic for a seed and rejects bad input.
 * Quick variant (UMUP_TEST_QUICK=1, sanitizers): fewer steps, looser loss targets. */
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "umup_test.h"

#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define TB 8   /* batch */
#define TT 64  /* sequence length */

static umup_dataset DS;
static int DS_OK = 0;

static umup_model_config small_config(umup_parametrization p, umup_fp8_sim fp8, umup_fp8_rounding r, uint64_t seed) {
    umup_model_config c;
    memset(&c, 0, sizeof c);
    c.width = 64;
    c.layers = 2;
    c.max_seq = TT;
    c.param.param = p;
    c.fp8 = fp8;
    c.fp8_rounding = r;
    c.seed = seed;
    return c;
}

static umup_optim_config small_optim(umup_parametrization p, long steps) {
    umup_optim_config o = umup_optim_config_default(UMUP_OPT_ADAMW);
    o.lr = p == UMUP_PARAM_UMUP ? 0.5 : 1.0 / 256; /* demos/train's defaults (SP a bit hotter for few steps) */
    o.clip_norm = 1.0;
    o.schedule.decay = UMUP_SCHED_COSINE;
    o.schedule.warmup = steps / 10;
    o.schedule.total = steps;
    o.schedule.min_ratio = 0.1f;
    return o;
}

/* Mean loss over n_batches fixed validation batches. */
static double val_loss(umup_trainer *t, int n_batches) {
    int32_t ids[TB * TT], tg[TB * TT];
    double s = 0.0;
    int i;
    for (i = 0; i < n_batches; i++) {
        float l = 0.0f;
        if (umup_dataset_batch(&DS, 1, 7, i, TB, TT, ids, tg) != UMUP_OK) return HUGE_VAL;
        if (umup_trainer_eval(t, ids, tg, TB, TT, &l) != UMUP_OK) return HUGE_VAL;
        s += l;
    }
    return s / n_batches;
}

/* Trains `steps` steps on the corpus; train losses into losses[0..steps) (may be NULL). Returns
 * the first failing status, UMUP_OK otherwise; *t_out receives the trainer (caller destroys). */
static umup_status run(const umup_model_config *mc, const umup_optim_config *oc, long steps, float *losses,
                       umup_trainer **t_out) {
    umup_trainer *t = NULL;
    int32_t ids[TB * TT], tg[TB * TT];
    long s;
    umup_status st = umup_trainer_create(&t, mc, oc, TB);
    *t_out = t;
    if (st != UMUP_OK) return st;
    for (s = 0; s < steps; s++) {
        float l = 0.0f;
        st = umup_dataset_batch(&DS, 0, 42, s, TB, TT, ids, tg);
        if (st == UMUP_OK) st = umup_trainer_step(t, ids, tg, TB, TT, &l);
        if (st != UMUP_OK) return st;
        if (losses) losses[s] = l;
    }
    return UMUP_OK;
}

static long n_steps(void) { return ut_quick() ? 40 : 300; }

static double FP32_VAL = 0.0; /* validation loss of the u-muP fp32 run, for the FP8 comparison */

static void test_umup_loss_decreases(void) {
    long steps = n_steps();
    umup_model_config mc = small_config(UMUP_PARAM_UMUP, UMUP_FP8_SIM_NONE, UMUP_FP8_RNE, 1);
    umup_optim_config oc = small_optim(UMUP_PARAM_UMUP, steps);
    umup_trainer *t = NULL;
    double v0, v1, target = ut_quick() ? 4.0 : 2.6;
    umup_status st;
    if (!DS_OK) { UT_CHECK(DS_OK); return; }
    UT_CHECK(umup_trainer_create(&t, &mc, &oc, TB) == UMUP_OK);
    v0 = t ? val_loss(t, 4) : HUGE_VAL;
    umup_trainer_destroy(t);
    t = NULL;
    /* an untrained model predicts roughly uniformly: ln 256 = 5.545 */
    UT_CHECKF(fabs(v0 - log(256.0)) < 0.5, "initial validation loss %.4f, want ~ln 256", v0);
    st = run(&mc, &oc, steps, NULL, &t);
    UT_CHECKF(st == UMUP_OK, "training failed: %s", umup_status_string(st));
    v1 = t ? val_loss(t, 4) : HUGE_VAL;
    FP32_VAL = v1;
    printf("  u-muP fp32, %ld steps of %dx%d: validation loss %.4f -> %.4f nats (unigram entropy %.4f nats)\n",
           steps, TB, TT, v0, v1, umup_dataset_unigram_entropy(&DS) * log(2.0));
    UT_CHECKF(v1 < target, "validation loss %.4f after %ld steps, want < %.2f", v1, steps, target);
    if (!ut_quick())
        UT_CHECKF(v1 < umup_dataset_unigram_entropy(&DS) * log(2.0), "val %.4f not below the unigram entropy", v1);
    UT_CHECK(t && umup_trainer_optimizer(t)->step == steps);
    umup_trainer_destroy(t);
}

static void test_sp_loss_decreases(void) {
    long steps = n_steps();
    umup_model_config mc = small_config(UMUP_PARAM_SP, UMUP_FP8_SIM_NONE, UMUP_FP8_RNE, 1);
    umup_optim_config oc = small_optim(UMUP_PARAM_SP, steps);
    umup_trainer *t = NULL;
    double v1, target = ut_quick() ? 4.5 : 3.0;
    umup_status st;
    if (!DS_OK) { UT_CHECK(DS_OK); return; }
    st = run(&mc, &oc, steps, NULL, &t);
    UT_CHECKF(st == UMUP_OK, "training failed: %s", umup_status_string(st));
    v1 = t ? val_loss(t, 4) : HUGE_VAL;
    printf("  SP fp32, %ld steps: validation loss %.4f nats\n", steps, v1);
    UT_CHECKF(v1 < target, "SP validation loss %.4f after %ld steps, want < %.2f", v1, steps, target);
    umup_trainer_destroy(t);
}

static void test_fp8_close_to_fp32(void) {
    long steps = n_steps(), s;
    umup_model_config mc = small_config(UMUP_PARAM_UMUP, UMUP_FP8_SIM_UMUP, UMUP_FP8_SR, 1);
    umup_optim_config oc = small_optim(UMUP_PARAM_UMUP, steps);
    umup_trainer *t = NULL;
    float *l8 = (float *)malloc(sizeof(float) * (size_t)steps);
    double v8;
    int finite = 1;
    umup_status st;
    if (!DS_OK || !l8 || FP32_VAL == 0.0) { UT_CHECK(0); free(l8); return; }
    st = run(&mc, &oc, steps, l8, &t);
    UT_CHECKF(st == UMUP_OK, "FP8 training failed: %s", umup_status_string(st));
    for (s = 0; s < steps; s++) finite &= l8[s] == l8[s] && fabs(l8[s]) < 1e30;
    UT_CHECK(finite);
    v8 = t ? val_loss(t, 4) : HUGE_VAL;
    printf("  u-muP FP8 (u-muP scheme, SR), %ld steps: validation loss %.4f nats (fp32 %.4f, diff %+.4f)\n", steps,
           v8, FP32_VAL, v8 - FP32_VAL);
    UT_CHECKF(fabs(v8 - FP32_VAL) < 0.15, "FP8 %.4f vs fp32 %.4f", v8, FP32_VAL);
    UT_CHECKF(v8 != FP32_VAL, "FP8 run identical to fp32: simulation not applied?");
    umup_trainer_destroy(t);

    /* all hidden matmuls in FP8 with round-to-nearest-even: also finite and close */
    mc = small_config(UMUP_PARAM_UMUP, UMUP_FP8_SIM_ALL, UMUP_FP8_RNE, 1);
    t = NULL;
    st = run(&mc, &oc, steps, l8, &t);
    UT_CHECKF(st == UMUP_OK, "FP8 (all, RNE) training failed: %s", umup_status_string(st));
    v8 = t ? val_loss(t, 4) : HUGE_VAL;
    printf("  u-muP FP8 (all hidden, RNE): validation loss %.4f nats\n", v8);
    UT_CHECKF(fabs(v8 - FP32_VAL) < 0.15, "FP8 all %.4f vs fp32 %.4f", v8, FP32_VAL);
    umup_trainer_destroy(t);
    free(l8);
}

static void test_determinism(void) {
    long steps = ut_quick() ? 6 : 20, s;
    umup_model_config mc = small_config(UMUP_PARAM_UMUP, UMUP_FP8_SIM_UMUP, UMUP_FP8_SR, 3);
    umup_optim_config oc = small_optim(UMUP_PARAM_UMUP, steps);
    umup_trainer *a = NULL, *b = NULL, *c = NULL;
    float la[20], lb[20], lc[20];
    int same = 1, differ = 0;
    if (!DS_OK) { UT_CHECK(DS_OK); return; }
    UT_CHECK(run(&mc, &oc, steps, la, &a) == UMUP_OK);
    UT_CHECK(run(&mc, &oc, steps, lb, &b) == UMUP_OK);
    mc.seed = 4;
    UT_CHECK(run(&mc, &oc, steps, lc, &c) == UMUP_OK);
    for (s = 0; s < steps; s++) {
        same &= memcmp(&la[s], &lb[s], sizeof(float)) == 0;
        differ |= la[s] != lc[s];
    }
    UT_CHECKF(same, "two runs with the same seed gave different losses");
    UT_CHECKF(differ, "a different seed gave the same losses");
    if (a && b)
        UT_CHECK(memcmp(umup_model_params(umup_trainer_model(a)), umup_model_params(umup_trainer_model(b)),
                        sizeof(float) * umup_model_num_params(umup_trainer_model(a))) == 0);
    umup_trainer_destroy(a);
    umup_trainer_destroy(b);
    umup_trainer_destroy(c);
}

static void test_eval_and_sampling(void) {
    umup_model_config mc = small_config(UMUP_PARAM_UMUP, UMUP_FP8_SIM_NONE, UMUP_FP8_RNE, 5);
    umup_optim_config oc = small_optim(UMUP_PARAM_UMUP, 10);
    umup_trainer *t = NULL;
    umup_model *m;
    float *p0;
    size_t n;
    float l1 = 0, l2 = 0;
    int32_t ids[TB * TT], tg[TB * TT], prompt[4] = {'T', 'h', 'e', ' '}, o1[40], o2[40], o3[40], og[40];
    int i, in_range = 1, same = 1, differ = 0;
    if (!DS_OK) { UT_CHECK(DS_OK); return; }
    UT_CHECK(run(&mc, &oc, 10, NULL, &t) == UMUP_OK);
    if (!t) return;
    m = umup_trainer_model(t);
    n = umup_model_num_params(m);
    p0 = (float *)malloc(sizeof(float) * n);
    if (!p0) { UT_CHECK(0); umup_trainer_destroy(t); return; }
    memcpy(p0, umup_model_params(m), sizeof(float) * n);
    UT_CHECK(umup_dataset_batch(&DS, 1, 7, 0, TB, TT, ids, tg) == UMUP_OK);
    UT_CHECK(umup_trainer_eval(t, ids, tg, TB, TT, &l1) == UMUP_OK);
    UT_CHECK(umup_trainer_eval(t, ids, tg, TB, TT, &l2) == UMUP_OK);
    UT_CHECK(l1 == l2 && l1 > 0.0f && l1 < 6.0f);
    UT_CHECK(memcmp(p0, umup_model_params(m), sizeof(float) * n) == 0);
    UT_CHECK(umup_trainer_optimizer(t)->step == 10);
    /* bad eval input */
    UT_CHECK(umup_trainer_eval(t, ids, tg, TB, 0, &l1) == UMUP_ERR_SHAPE);
    UT_CHECK(umup_trainer_eval(t, ids, tg, 0, TT, &l1) == UMUP_ERR_SHAPE);
    UT_CHECK(umup_trainer_eval(t, NULL, tg, TB, TT, &l1) == UMUP_ERR_NULL);

    /* sampling: same seed -> same tokens, other seed -> different, temperature 0 -> argmax (seed-free) */
    UT_CHECK(umup_model_sample(m, prompt, 4, 40, 1.0f, 0, 11, o1) == UMUP_OK);
    UT_CHECK(umup_model_sample(m, prompt, 4, 40, 1.0f, 0, 11, o2) == UMUP_OK);
    UT_CHECK(umup_model_sample(m, prompt, 4, 40, 1.0f, 0, 12, o3) == UMUP_OK);
    for (i = 0; i < 40; i++) {
        in_range &= o1[i] >= 0 && o1[i] < 256 && o3[i] >= 0 && o3[i] < 256;
        same &= o1[i] == o2[i];
        differ |= o1[i] != o3[i];
    }
    UT_CHECK(in_range);
    UT_CHECK(same);
    UT_CHECK(differ);
    UT_CHECK(umup_model_sample(m, prompt, 4, 40, 0.0f, 0, 1, og) == UMUP_OK);
    UT_CHECK(umup_model_sample(m, prompt, 4, 40, 0.0f, 0, 2, o2) == UMUP_OK);
    UT_CHECK(memcmp(og, o2, sizeof og) == 0);
    /* top_k = 1 is greedy whatever the temperature */
    UT_CHECK(umup_model_sample(m, prompt, 4, 40, 1.0f, 1, 3, o2) == UMUP_OK);
    UT_CHECK(memcmp(og, o2, sizeof og) == 0);
    /* a context longer than max_seq slides (prompt + generated > TT) */
    UT_CHECK(umup_model_sample(m, o1, 40, 40, 0.8f, 5, 3, o2) == UMUP_OK);
    /* errors, output untouched */
    o3[0] = -7;
    UT_CHECK(umup_model_sample(m, prompt, 0, 4, 1.0f, 0, 1, o3) == UMUP_ERR_SHAPE);
    UT_CHECK(umup_model_sample(m, prompt, 4, 4, -1.0f, 0, 1, o3) == UMUP_ERR_INVALID_ARG);
    prompt[1] = 300;
    UT_CHECK(umup_model_sample(m, prompt, 4, 4, 1.0f, 0, 1, o3) == UMUP_ERR_INVALID_ARG);
    UT_CHECK(umup_model_sample(NULL, prompt, 4, 4, 1.0f, 0, 1, o3) == UMUP_ERR_NULL);
    UT_CHECK(o3[0] == -7);
    free(p0);
    umup_trainer_destroy(t);
}

static void test_memory_and_errors(void) {
    umup_model_config mc = small_config(UMUP_PARAM_UMUP, UMUP_FP8_SIM_NONE, UMUP_FP8_RNE, 1);
    umup_optim_config oc = small_optim(UMUP_PARAM_UMUP, 10);
    umup_trainer *t = NULL;
    int32_t ids[TB * TT], tg[TB * TT];
    float l = 0.0f;
    int i;
    UT_CHECK(umup_trainer_create(&t, &mc, &oc, TB) == UMUP_OK);
    if (!t) return;
    /* AdamW keeps two moments per parameter */
    UT_CHECK(umup_trainer_state_bytes(t) == 2 * sizeof(float) * umup_model_num_params(umup_trainer_model(t)));
    /* an out-of-range token is refused and nothing is updated */
    for (i = 0; i < TB * TT; i++) { ids[i] = i % 256; tg[i] = (i + 1) % 256; }
    ids[5] = 256;
    UT_CHECK(umup_trainer_step(t, ids, tg, TB, TT, &l) == UMUP_ERR_INVALID_ARG);
    UT_CHECK(umup_trainer_optimizer(t)->step == 0);
    ids[5] = 5;
    tg[3] = 999;
    UT_CHECK(umup_trainer_step(t, ids, tg, TB, TT, &l) == UMUP_ERR_INVALID_ARG);
    UT_CHECK(umup_trainer_step(t, ids, tg, TB, TT + 1, &l) == UMUP_ERR_SHAPE);
    UT_CHECK(umup_trainer_step(NULL, ids, tg, TB, TT, &l) == UMUP_ERR_NULL);
    tg[3] = 4;
    UT_CHECK(umup_trainer_step(t, ids, tg, TB, TT, &l) == UMUP_OK);
    UT_CHECK(umup_trainer_optimizer(t)->step == 1);
    umup_trainer_destroy(t);
    /* a bad optimizer or model configuration fails creation and leaves *out NULL */
    t = (umup_trainer *)&l;
    oc.lr = -1.0;
    UT_CHECK(umup_trainer_create(&t, &mc, &oc, TB) == UMUP_ERR_INVALID_ARG);
    UT_CHECK(t == NULL);
    oc.lr = 0.5;
    mc.heads = 3;
    UT_CHECK(umup_trainer_create(&t, &mc, &oc, TB) == UMUP_ERR_SHAPE);
    UT_CHECK(t == NULL);
}

/* The quick start at the top of umup.h, line for line: it must train to a useful loss as written. */
static void test_quick_start(void) {
    umup_model_config mc = umup_model_config_default();      // the reference decoder: u-muP, width 64
    umup_optim_config oc = umup_optim_config_for(mc.param.param, UMUP_OPT_ADAMW, 200); // eta 2^-1, cosine
    umup_trainer *t; umup_dataset ds; int32_t ids[8 * 64], tg[8 * 64]; float loss; long step;
    double mean = 0;
    int k;
    UT_CHECK(umup_trainer_create(&t, &mc, &oc, 8) == UMUP_OK);
    UT_CHECK(umup_dataset_from_corpus(&ds, 1000000, 1, 0.1) == UMUP_OK);
    for (step = 0; step < 200; step++) {
        umup_dataset_batch(&ds, 0, 1, step, 8, 64, ids, tg);  // training batch `step`: 8 x 64 bytes
        umup_trainer_step(t, ids, tg, 8, 64, &loss);
    }
    umup_dataset_batch(&ds, 1, 0, 0, 8, 64, ids, tg);         // a validation batch
    umup_trainer_eval(t, ids, tg, 8, 64, &loss);              // about 1.8 nats per byte
    UT_CHECKF(loss <= 2.0f, "quick start: validation loss %.4f after 200 steps, want <= 2.0", (double)loss);
    for (k = 0; k < 8; k++) { /* and on more of the validation split */
        float l = 0;
        umup_dataset_batch(&ds, 1, 0, k, 8, 64, ids, tg);
        umup_trainer_eval(t, ids, tg, 8, 64, &l);
        mean += l / 8.0;
    }
    printf("  quick start: validation loss %.4f (first batch), %.4f (8 batches)\n", (double)loss, mean);
    UT_CHECKF(mean <= 2.0, "quick start: mean validation loss %.4f over 8 batches, want <= 2.0", mean);
    UT_CHECK(umup_trainer_optimizer(t)->step == 200 && oc.lr == 0.5);
    umup_trainer_destroy(t);
    umup_dataset_free(&ds);
}

/* Shards: the gradients of the shards of a batch add up to the whole batch's gradient (the scales,
 * the loss normalisation and every random stream are the whole batch's), for u-muP and SP with FP8
 * stochastic rounding and dropout on; a shard-accumulated step equals the whole-batch step up to
 * rounding; evaluation of a batch larger than max_batch equals the whole-batch loss. */
static void test_shards(void) {
    int p;
    for (p = 0; p < 2; p++) {
        umup_model_config mc = small_config(p ? UMUP_PARAM_SP : UMUP_PARAM_UMUP, UMUP_FP8_SIM_UMUP, UMUP_FP8_SR, 3);
        umup_model *m = NULL;
        int32_t ids[TB * TT], tg[TB * TT];
        float whole = 0, part, share = 0;
        float *g, *gs;
        size_t n, i;
        long counted = 0;
        int sh;
        mc.dropout = 0.1f;
        UT_CHECK(umup_model_create(&m, &mc, TB) == UMUP_OK);
        if (!m) return;
        n = umup_model_num_params(m);
        g = (float *)malloc(n * sizeof(float));
        gs = (float *)calloc(n, sizeof(float));
        umup_dataset_batch(&DS, 0, 5, 3, TB, TT, ids, tg);
        for (i = 0; i < 5; i++) tg[i] = -1; /* some ignored targets */
        for (i = 0; i < TB * TT; i++) counted += tg[i] >= 0;
        umup_model_set_training(m, 1);
        umup_model_zero_grad(m);
        UT_CHECK(umup_model_forward(m, ids, tg, TB, TT, 7, &whole) == UMUP_OK && umup_model_backward(m) == UMUP_OK);
        memcpy(g, umup_model_grads(m), n * sizeof(float));
        for (sh = 0; sh < 4; sh++) { /* 4 shards of 2 sequences */
            umup_batch_shard b;
            b.first_seq = 2 * sh; b.total_seqs = TB; b.total_counted = counted;
            umup_model_zero_grad(m);
            UT_CHECK(umup_model_forward_shard(m, ids + 2 * sh * TT, tg + 2 * sh * TT, 2, TT, 7, &b, &part) == UMUP_OK);
            UT_CHECK(umup_model_backward(m) == UMUP_OK);
            share += part;
            for (i = 0; i < n; i++) gs[i] += umup_model_grads(m)[i];
        }
        UT_CHECKF(fabs(share - whole) <= 1e-5 * whole, "%s: shard losses add to %.7f, whole batch %.7f", p ? "sp" : "umup", share, whole);
        UT_CHECKF(ut_l2_rel(gs, g, n) <= 1e-5, "%s: shard gradients vs whole batch: L2-relative %.3g", p ? "sp" : "umup", ut_l2_rel(gs, g, n));
        /* a shard inconsistent with its batch is refused */
        {
            umup_batch_shard b;
            b.first_seq = 7; b.total_seqs = TB; b.total_counted = counted;
            UT_CHECK(umup_model_forward_shard(m, ids, tg, 2, TT, 7, &b, &part) == UMUP_ERR_SHAPE);
            b.first_seq = 0; b.total_counted = 3;
            UT_CHECK(umup_model_forward_shard(m, ids, tg, 2, TT, 7, &b, &part) == UMUP_ERR_INVALID_ARG);
        }
        umup_model_destroy(m);
        free(g);
        free(gs);
    }
    { /* trainer: 4 shards of 2 against one pass of 8, and evaluation in parts */
        umup_model_config mc = small_config(UMUP_PARAM_UMUP, UMUP_FP8_SIM_NONE, UMUP_FP8_RNE, 1);
        umup_optim_config oc = small_optim(UMUP_PARAM_UMUP, 10);
        umup_trainer *a = NULL, *b = NULL, *c = NULL;
        int32_t ids[TB * TT], tg[TB * TT];
        float la = 0, lb = 0, ea = 0, ec = 0;
        long s;
        UT_CHECK(umup_trainer_create(&a, &mc, &oc, TB) == UMUP_OK);
        UT_CHECK(umup_trainer_create(&b, &mc, &oc, 2) == UMUP_OK);
        UT_CHECK(umup_trainer_create(&c, &mc, &oc, 3) == UMUP_OK);
        if (!a || !b || !c) return;
        UT_CHECK(umup_trainer_set_shards(b, 0) == UMUP_ERR_INVALID_ARG && umup_trainer_set_shards(b, 4) == UMUP_OK);
        UT_CHECK(umup_trainer_set_shards(NULL, 2) == UMUP_ERR_NULL);
        for (s = 0; s < 3; s++) {
            umup_dataset_batch(&DS, 0, 42, s, TB, TT, ids, tg);
            UT_CHECK(umup_trainer_step(a, ids, tg, TB, TT, &la) == UMUP_OK);
            UT_CHECK(umup_trainer_step(b, ids, tg, TB, TT, &lb) == UMUP_OK);
            UT_CHECKF(fabs(la - lb) <= 1e-5 * la, "step %ld: loss %.7f vs 4 shards %.7f", s, la, lb);
        }
        UT_CHECK(umup_trainer_step(b, ids, tg, 6, TT, &lb) == UMUP_ERR_SHAPE); /* 6 sequences in 4 shards */
        UT_CHECKF(ut_l2_rel(umup_model_params(umup_trainer_model(b)), umup_model_params(umup_trainer_model(a)),
                            umup_model_num_params(umup_trainer_model(a))) <= 1e-5, "parameters after 3 steps differ");
        umup_dataset_batch(&DS, 1, 0, 0, TB, TT, ids, tg);
        memcpy(umup_model_params(umup_trainer_model(c)), umup_model_params(umup_trainer_model(a)),
               umup_model_num_params(umup_trainer_model(a)) * sizeof(float));
        UT_CHECK(umup_trainer_eval(a, ids, tg, TB, TT, &ea) == UMUP_OK);
        UT_CHECK(umup_trainer_eval(c, ids, tg, TB, TT, &ec) == UMUP_OK); /* 8 sequences in parts of 3, 3, 2 */
        UT_CHECKF(fabs(ea - ec) <= 1e-6 * ea, "evaluation in parts %.7f vs whole %.7f", ec, ea);
        umup_trainer_destroy(a);
        umup_trainer_destroy(b);
        umup_trainer_destroy(c);
    }
}

#ifdef _OPENMP
/* An in-process stand-in for a data-parallel allreduce: the processes are OpenMP threads; each
 * publishes its gradient, and after a barrier every thread adds them in rank order. */
typedef struct { float *g[4]; double loss[4]; int size; } dp_exchange;
static dp_exchange DPX;
static umup_status dp_allreduce(void *ctx, float *grads, size_t n, double *loss) {
    int rank = *(int *)ctx, r;
    size_t i;
    float *sum = (float *)malloc(n * sizeof(float));
    double ls;
    DPX.g[rank] = grads;
    DPX.loss[rank] = *loss;
#pragma omp barrier
    memcpy(sum, DPX.g[0], n * sizeof(float));
    ls = DPX.loss[0];
    for (r = 1; r < DPX.size; r++) {
        for (i = 0; i < n; i++) sum[i] += DPX.g[r][i];
        ls += DPX.loss[r];
    }
#pragma omp barrier
    memcpy(grads, sum, n * sizeof(float));
    *loss = ls;
    free(sum);
    return UMUP_OK;
}
#endif

/* Data parallelism: 2 "processes" (threads) with one shard each reproduce a single trainer with 2
 * shards bit for bit, in FP8 with stochastic rounding and dropout. */
static void test_data_parallel(void) {
#ifdef _OPENMP
    umup_model_config mc = small_config(UMUP_PARAM_UMUP, UMUP_FP8_SIM_UMUP, UMUP_FP8_SR, 2);
    umup_optim_config oc = small_optim(UMUP_PARAM_UMUP, 10);
    umup_trainer *ref = NULL, *tr[2] = {NULL, NULL};
    int32_t ids[TB * TT], tg[TB * TT];
    int ranks[2] = {0, 1}, r, bad = 0;
    long s;
    float lref = 0, lr[2] = {0, 0};
    size_t i, n, diff = 0;
    mc.dropout = 0.1f;
    UT_CHECK(umup_trainer_create(&ref, &mc, &oc, TB / 2) == UMUP_OK && umup_trainer_set_shards(ref, 2) == UMUP_OK);
    for (r = 0; r < 2; r++) {
        umup_data_parallel dp;
        dp.rank = r; dp.size = 2; dp.ctx = &ranks[r]; dp.allreduce = dp_allreduce;
        UT_CHECK(umup_trainer_create(&tr[r], &mc, &oc, TB / 2) == UMUP_OK);
        UT_CHECK(tr[r] && umup_trainer_set_data_parallel(tr[r], &dp) == UMUP_OK);
        UT_CHECK(tr[r] && umup_trainer_set_shards(tr[r], 2) == UMUP_ERR_INVALID_ARG); /* one shard per process */
        dp.rank = 2;
        UT_CHECK(tr[r] && umup_trainer_set_data_parallel(tr[r], &dp) == UMUP_ERR_INVALID_ARG);
    }
    if (!ref || !tr[0] || !tr[1]) return;
    DPX.size = 2;
    for (s = 0; s < 3; s++) {
        umup_dataset_batch(&DS, 0, 42, s, TB, TT, ids, tg);
        UT_CHECK(umup_trainer_step(ref, ids, tg, TB, TT, &lref) == UMUP_OK);
#pragma omp parallel num_threads(2) reduction(+ : bad)
        {
            int me = omp_get_thread_num();
            if (omp_get_num_threads() != 2 || umup_trainer_step(tr[me], ids, tg, TB, TT, &lr[me]) != UMUP_OK) bad++;
        }
        UT_CHECKF(bad == 0 && lr[0] == lref && lr[1] == lref, "step %ld: loss %.9g / %.9g, single process %.9g", s, lr[0], lr[1], lref);
    }
    n = umup_model_num_params(umup_trainer_model(ref));
    for (r = 0; r < 2; r++)
        for (i = 0; i < n; i++)
            diff += memcmp(&umup_model_params(umup_trainer_model(tr[r]))[i], &umup_model_params(umup_trainer_model(ref))[i], 4) != 0;
    UT_CHECKF(diff == 0, "%zu parameters differ between 2 processes and 1 process with 2 shards", diff);
    umup_trainer_destroy(ref);
    umup_trainer_destroy(tr[0]);
    umup_trainer_destroy(tr[1]);
#else
    UT_SKIP("built without OpenMP: no threads to stand in for processes");
#endif
}

int main(void) {
    DS_OK = umup_dataset_from_corpus(&DS, ut_quick() ? 100000 : 400000, 1, 0.1) == UMUP_OK;
    UT_RUN(test_memory_and_errors);
    UT_RUN(test_quick_start);
    UT_RUN(test_shards);
    UT_RUN(test_data_parallel);
    UT_RUN(test_umup_loss_decreases);
    UT_RUN(test_sp_loss_decreases);
    UT_RUN(test_fp8_close_to_fp32);
    UT_RUN(test_determinism);
    UT_RUN(test_eval_and_sampling);
    if (DS_OK) umup_dataset_free(&DS);
    return ut_finish("test_train");
}
