/* tests/cuda/test_cuda_train.c - the device trainer (umup_cuda_trainer) against the CPU trainer, from C.
 * Every check runs twice when a GPU is present: emulated (the kernels' own code run on the host, the
 * products by the portable GEMM) and on the GPU; without a GPU the device runs print SKIP lines and
 * the emulated ones still run, so the trainer's arithmetic and wiring are checked everywhere.
 *   - the reference decoder, one forward and backward pass in fp32: loss within 1e-5 (relative) and
 *     every gradient tensor within 1e-4 (relative L2) of umup_model_forward / _backward;
 *   - the same over the model's variants (every parametrization and residual form, LayerNorm, RoPE,
 *     dropout, FP8 simulation with stochastic rounding, plain and unit-scaled ops) within 1e-4
 *     (FP8 simulation: 2e-3, a value that lands on another side of an FP8 rounding boundary moves
 *     by one FP8 step);
 *   - 100 training steps of the demo model (emulated: a smaller batch) in fp32: every step's loss
 *     within 1e-3 of the CPU run's, the parameters within 1e-3 (relative L2) at the end;
 *   - each optimizer (AdamW, Adam, SGD with Nesterov momentum, Lion) with weight decay and clipping,
 *     10 steps: parameters within 1e-4 of the CPU's;
 *   - one pass in BF16 and FP8 precision against the fp32 CPU pass: loss within 1e-2, gradients
 *     within 3e-2 (BF16) and 5e-2 (FP8);
 *   - BF16 and FP8 precision against fp32 (GPU: 1000 steps of the demo model; emulated: 60 steps of
 *     a small one): the final training loss within 2% (BF16) and 3% (FP8);
 *   - determinism: two trainers with the same seed give the same bits after 5 steps (and eval);
 *   - checkpoints: saved by the device trainer and resumed by the CPU trainer (and the reverse), the
 *     runs agree with the uninterrupted one;
 *   - a step that does not wait, then eval; errors (NULL, shapes, ids out of range, bad config). */
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "umup_cuda.h"
#include "umup_test.h"

#include <stdint.h>
#include <stdio.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static int have_gpu, info_fp8;
static char why[600];
static umup_dataset ds;

static float *fmalloc(size_t n) {
    float *p = (float *)malloc(sizeof(float) * (n ? n : 1));
    if (!p) { fprintf(stderr, "out of memory\n"); exit(1); }
    return p;
}

static umup_cuda_trainer_config tcfg(int emulate, umup_cuda_precision p) {
    umup_cuda_trainer_config c;
    memset(&c, 0, sizeof c);
    c.emulate = emulate;
    c.precision = p;
    return c;
}

static const char *where(int emulate) { return emulate ? "emulated" : "GPU"; }

/* the reference decoder's configuration, or a small variant of it */
static umup_model_config small_model(void) {
    umup_model_config mc = umup_model_config_default();
    mc.max_seq = 64;
    return mc;
}

/* One forward and backward pass on the CPU (training mode) and on the device: the loss and every
 * gradient tensor compared. Returns 1 when the device trainer could be created. */
static int grads_case(const char *name, umup_model_config mc, int B, int T, int emulate, umup_cuda_precision prec,
                      double loss_tol, double grad_tol) {
    umup_optim_config oc = umup_optim_config_for(mc.param.param, UMUP_OPT_ADAMW, 100);
    umup_cuda_trainer_config cc = tcfg(emulate, prec);
    umup_trainer *ct = NULL;
    umup_cuda_trainer *gt = NULL;
    umup_model *m;
    int32_t *ids = (int32_t *)malloc(sizeof(int32_t) * (size_t)B * T), *tg = (int32_t *)malloc(sizeof(int32_t) * (size_t)B * T);
    float *gc, *gg, lc = 0, lg = 0;
    double worst = 0.0;
    const char *worst_name = "";
    umup_status st;
    int i;
    umup_dataset_batch(&ds, 0, 7, 3, B, T, ids, tg);
    tg[5] = -1; /* an ignored target */
    if (umup_trainer_create(&ct, &mc, &oc, B) != UMUP_OK) { UT_CHECKF(0, "%s: CPU trainer", name); return 0; }
    st = umup_cuda_trainer_create(&gt, &mc, &oc, B, &cc);
    if (st != UMUP_OK) {
        UT_CHECKF(0, "%s (%s): umup_cuda_trainer_create: %s (%s)", name, where(emulate), umup_status_string(st),
                  umup_cuda_trainer_error(NULL));
        umup_trainer_destroy(ct);
        free(ids); free(tg);
        return 0;
    }
    m = umup_trainer_model(ct);
    gc = fmalloc(umup_model_num_params(m));
    gg = fmalloc(umup_model_num_params(m));
    umup_model_set_training(m, 1);
    umup_model_zero_grad(m);
    UT_CHECK(umup_model_forward(m, ids, tg, B, T, 0, &lc) == UMUP_OK && umup_model_backward(m) == UMUP_OK);
    memcpy(gc, umup_model_grads(m), sizeof(float) * umup_model_num_params(m));
    st = umup_cuda_trainer_grads(gt, ids, tg, B, T, &lg, gg);
    UT_CHECKF(st == UMUP_OK, "%s: umup_cuda_trainer_grads: %s (%s)", name, umup_status_string(st), umup_cuda_trainer_error(gt));
    UT_CHECKF(fabs((double)lg - lc) <= loss_tol * fabs((double)lc), "%s (%s): loss device %.9g CPU %.9g", name, where(emulate),
              (double)lg, (double)lc);
    for (i = 0; i < umup_model_num_tensors(m); i++) {
        const umup_tensor_info *ti = umup_model_tensor(m, i);
        double e = ut_l2_rel(gg + ti->offset, gc + ti->offset, ti->size);
        if (!(e <= worst)) { worst = e; worst_name = ti->name; }
        UT_CHECKF(e <= grad_tol, "%s (%s): %s: gradient relative L2 difference %.3g", name, where(emulate), ti->name, e);
    }
    printf("  %-34s %-8s %s: loss %.7f vs CPU %.7f, worst gradient %.2g (%s)\n", name, where(emulate),
           umup_cuda_precision_name(prec), (double)lg, (double)lc, worst, worst_name);
    free(gc); free(gg); free(ids); free(tg);
    umup_cuda_trainer_destroy(gt);
    umup_trainer_destroy(ct);
    return 1;
}

#define NEED(emulate)                                                                                   \
    do {                                                                                            \
        if (!(emulate) && !have_gpu) {                                                              \
            UT_SKIP(why);                                                                           \
            return;                                                                                 \
        }                                                                                           \
    } while (0)

static void reference_decoder(int emulate) {
    NEED(emulate);
    grads_case("reference decoder", small_model(), 4, 64, emulate, UMUP_CUDA_FP32, 1e-5, 1e-4);
}
/* BF16 and FP8 precision (bfloat16 operands, tensor-core attention; FP8 products for the cast
 * layers) against the fp32 CPU pass: loss within 1e-2, gradients within 3e-2 (BF16; 8 significant
 * bits: 8e-3 seen emulated) and 5e-2 (FP8: 2.4e-2 seen) */
static void reference_decoder_lowp(int emulate) {
    umup_model_config mc = small_model();
    NEED(emulate);
    grads_case("reference decoder", mc, 4, 64, emulate, UMUP_CUDA_BF16, 1e-2, 3e-2);
    mc.fp8 = UMUP_FP8_SIM_UMUP;
    mc.fp8_rounding = UMUP_FP8_RNE;
    if (!emulate && !info_fp8) {
        UT_SKIP("this GPU has no FP8 tensor cores (sm_89+)");
        return;
    }
    grads_case("reference decoder, FP8 u-muP scheme", mc, 4, 64, emulate, UMUP_CUDA_FP8, 1e-2, 5e-2);
}
static void test_reference_decoder_lowp_emulated(void) { reference_decoder_lowp(1); }
static void test_reference_decoder_lowp_gpu(void) { reference_decoder_lowp(0); }

static void test_reference_decoder_emulated(void) { reference_decoder(1); }
static void test_reference_decoder_gpu(void) { reference_decoder(0); }

static void variants(int emulate) {
    static const umup_parametrization params[5] = {UMUP_PARAM_UMUP, UMUP_PARAM_SP, UMUP_PARAM_MUP, UMUP_PARAM_MUS,
                                                   UMUP_PARAM_SPECTRAL};
    int i;
    NEED(emulate);
    for (i = 0; i < 5; i++) { /* every parametrization (and so every residual form) */
        umup_model_config mc = small_model();
        char name[64];
        mc.param.param = params[i];
        snprintf(name, sizeof name, "%s", umup_param_name(params[i]));
        grads_case(name, mc, 2, 40, emulate, UMUP_CUDA_FP32, 1e-5, 1e-4);
    }
    {
        umup_model_config mc = small_model();
        mc.norm = UMUP_NORM_LAYER;
        mc.rope = 1;
        mc.layers = 3;
        mc.max_seq = 70;
        grads_case("umup layernorm rope 3 layers", mc, 3, 70, emulate, UMUP_CUDA_FP32, 1e-5, 1e-4);
        mc.param.param = UMUP_PARAM_MUS;
        grads_case("mus layernorm rope", mc, 3, 70, emulate, UMUP_CUDA_FP32, 1e-5, 1e-4);
    }
    {
        umup_model_config mc = small_model();
        mc.dropout = 0.2f;
        grads_case("umup dropout 0.2", mc, 2, 64, emulate, UMUP_CUDA_FP32, 1e-5, 1e-4);
        mc.param.param = UMUP_PARAM_SP;
        grads_case("sp dropout 0.2", mc, 2, 64, emulate, UMUP_CUDA_FP32, 1e-5, 1e-4);
        mc.param.param = UMUP_PARAM_MUS;
        grads_case("mus dropout 0.2", mc, 2, 64, emulate, UMUP_CUDA_FP32, 1e-5, 1e-4);
    }
    {
        umup_model_config mc = small_model();
        mc.width = 96;
        mc.heads = 0;
        mc.head_size = 48; /* 2 heads of 48: the 64-wide attention kernels */
        mc.mlp_expansion = 2;
        mc.vocab = 300;
        mc.max_seq = 130;
        grads_case("width 96, head 48, vocab 300", mc, 2, 130, emulate, UMUP_CUDA_FP32, 1e-5, 1e-4);
        mc.head_size = 96; /* the 128-wide ones */
        grads_case("head 96", mc, 1, 65, emulate, UMUP_CUDA_FP32, 1e-5, 1e-4);
    }
    {
        umup_model_config mc = small_model();
        mc.fp8 = UMUP_FP8_SIM_UMUP;
        mc.fp8_rounding = UMUP_FP8_SR;
        grads_case("FP8 simulation (u-muP scheme, SR)", mc, 4, 64, emulate, UMUP_CUDA_FP32, 1e-5, 2e-3);
        mc.fp8 = UMUP_FP8_SIM_ALL;
        mc.fp8_rounding = UMUP_FP8_RNE;
        grads_case("FP8 simulation (all, RNE)", mc, 4, 64, emulate, UMUP_CUDA_FP32, 1e-5, 2e-3);
    }
}
static void test_variants_emulated(void) { variants(1); }
static void test_variants_gpu(void) { variants(0); }

/* n steps of the CPU trainer and the device trainer side by side; returns the largest loss difference
 * and the parameters' relative L2 difference at the end */
static void steps_side_by_side(const char *name, umup_model_config mc, umup_optim_config oc, int B, int T, int n, int emulate,
                               double loss_tol, double param_tol) {
    umup_cuda_trainer_config cc = tcfg(emulate, UMUP_CUDA_FP32);
    umup_trainer *ct = NULL;
    umup_cuda_trainer *gt = NULL;
    int32_t *ids = (int32_t *)malloc(sizeof(int32_t) * (size_t)B * T), *tg = (int32_t *)malloc(sizeof(int32_t) * (size_t)B * T);
    double worst = 0.0, pe;
    float lc = 0, lg = 0;
    umup_status st;
    int s;
    if (umup_trainer_create(&ct, &mc, &oc, B) != UMUP_OK || umup_cuda_trainer_create(&gt, &mc, &oc, B, &cc) != UMUP_OK) {
        UT_CHECKF(0, "%s: create: %s", name, umup_cuda_trainer_error(NULL));
        umup_trainer_destroy(ct);
        free(ids); free(tg);
        return;
    }
    for (s = 0; s < n; s++) {
        umup_dataset_batch(&ds, 0, 5, s, B, T, ids, tg);
        UT_CHECK(umup_trainer_step(ct, ids, tg, B, T, &lc) == UMUP_OK);
        st = umup_cuda_trainer_step(gt, ids, tg, B, T, &lg);
        if (st != UMUP_OK) {
            UT_CHECKF(0, "%s step %d: %s (%s)", name, s, umup_status_string(st), umup_cuda_trainer_error(gt));
            break;
        }
        if (!(fabs((double)lg - lc) <= worst)) worst = fabs((double)lg - lc);
    }
    UT_CHECKF(worst <= loss_tol, "%s (%s): a step's loss differs by %.3g", name, where(emulate), worst);
    UT_CHECK(umup_cuda_trainer_to_host(gt) == UMUP_OK);
    UT_CHECK(umup_cuda_trainer_step_count(gt) == (long)n && umup_trainer_optimizer(umup_cuda_trainer_host(gt))->step == (long)n);
    pe = ut_l2_rel(umup_model_params(umup_trainer_model(umup_cuda_trainer_host(gt))), umup_model_params(umup_trainer_model(ct)),
                   umup_model_num_params(umup_trainer_model(ct)));
    UT_CHECKF(pe <= param_tol, "%s (%s): parameters differ by %.3g (relative L2)", name, where(emulate), pe);
    printf("  %-34s %-8s %d steps: largest loss difference %.2g, parameters %.2g (final loss %.4f vs %.4f)\n", name,
           where(emulate), n, worst, pe, (double)lg, (double)lc);
    umup_cuda_trainer_destroy(gt);
    umup_trainer_destroy(ct);
    free(ids); free(tg);
}

/* the demo's model (demos/train_args.h defaults: width 128, 2 layers, head size 32, FP8 off here) */
static umup_model_config demo_model(int T) {
    umup_model_config mc = umup_model_config_default();
    mc.width = 128;
    mc.heads = 0;
    mc.head_size = 32;
    mc.max_seq = T;
    mc.seed = 1;
    return mc;
}

static void hundred_steps(int emulate) {
    umup_model_config mc;
    umup_optim_config oc;
    NEED(emulate);
    mc = demo_model(emulate ? 64 : 128);
    oc = umup_optim_config_for(mc.param.param, UMUP_OPT_ADAMW, 100);
    steps_side_by_side("demo model, u-muP, AdamW", mc, oc, emulate ? 2 : 8, emulate ? 64 : 128, 100, emulate, 1e-3, 1e-3);
}
static void test_hundred_steps_emulated(void) { hundred_steps(1); }
static void test_hundred_steps_gpu(void) { hundred_steps(0); }

static void optimizers(int emulate) {
    static const umup_optimizer_kind kinds[4] = {UMUP_OPT_ADAMW, UMUP_OPT_ADAM, UMUP_OPT_SGD, UMUP_OPT_LION};
    int i;
    NEED(emulate);
    for (i = 0; i < 4; i++) {
        umup_model_config mc = small_model();
        umup_optim_config oc;
        char name[64];
        mc.param.param = kinds[i] == UMUP_OPT_SGD ? UMUP_PARAM_SP : UMUP_PARAM_UMUP;
        oc = umup_optim_config_for(mc.param.param, kinds[i], 10);
        oc.weight_decay = 0.1;
        oc.clip_norm = 0.5; /* clips: the gradient norms here are above it */
        oc.schedule.warmup = 3;
        oc.schedule.decay = UMUP_SCHED_LINEAR;
        if (kinds[i] == UMUP_OPT_SGD) { oc.nesterov = 1; oc.lr = 0.05; }
        snprintf(name, sizeof name, "%s, wd 0.1, clip 0.5", umup_optim_name(kinds[i]));
        steps_side_by_side(name, mc, oc, 2, 32, 10, emulate, 1e-4, 1e-4);
    }
    { /* clipping on the gradient's RMS */
        umup_model_config mc = small_model();
        umup_optim_config oc = umup_optim_config_for(mc.param.param, UMUP_OPT_ADAMW, 10);
        oc.clip_norm = 0.0;
        oc.clip_rms = 1e-3;
        steps_side_by_side("adamw, clip_rms 1e-3", mc, oc, 2, 32, 10, emulate, 1e-4, 1e-4);
    }
    { /* muS: independent weight decay */
        umup_model_config mc = small_model();
        umup_optim_config oc;
        mc.param.param = UMUP_PARAM_MUS;
        oc = umup_optim_config_for(mc.param.param, UMUP_OPT_ADAMW, 10);
        oc.weight_decay = 0.1;
        steps_side_by_side("mus adamw, independent wd", mc, oc, 2, 32, 10, emulate, 1e-4, 1e-4);
    }
}
static void test_optimizers_emulated(void) { optimizers(1); }
static void test_optimizers_gpu(void) { optimizers(0); }

/* The final mean training loss (last 10 steps) of n steps in precision p. */
static double run_loss(umup_model_config mc, int B, int T, int n, int emulate, umup_cuda_precision p) {
    umup_optim_config oc = umup_optim_config_for(mc.param.param, UMUP_OPT_ADAMW, n);
    umup_cuda_trainer_config cc = tcfg(emulate, p);
    umup_cuda_trainer *gt = NULL;
    int32_t *ids = (int32_t *)malloc(sizeof(int32_t) * (size_t)B * T), *tg = (int32_t *)malloc(sizeof(int32_t) * (size_t)B * T);
    double acc = 0.0;
    float l = 0;
    umup_status st = umup_cuda_trainer_create(&gt, &mc, &oc, B, &cc);
    int s;
    if (st != UMUP_OK) {
        UT_CHECKF(0, "create (%s): %s", umup_cuda_precision_name(p), umup_cuda_trainer_error(NULL));
        free(ids); free(tg);
        return NAN;
    }
    for (s = 0; s < n; s++) {
        umup_dataset_batch(&ds, 0, 9, s, B, T, ids, tg);
        st = umup_cuda_trainer_step(gt, ids, tg, B, T, s >= n - 10 ? &l : NULL);
        if (st != UMUP_OK) {
            UT_CHECKF(0, "%s step %d: %s (%s)", umup_cuda_precision_name(p), s, umup_status_string(st), umup_cuda_trainer_error(gt));
            acc = NAN;
            break;
        }
        if (s >= n - 10) acc += l / 10.0;
    }
    umup_cuda_trainer_destroy(gt);
    free(ids); free(tg);
    return acc;
}

static void precisions(int emulate) {
    umup_model_config mc = emulate ? small_model() : demo_model(128);
    const int B = emulate ? 2 : 8, T = emulate ? 64 : 128, n = emulate ? 60 : 1000;
    double l32, l16, l8;
    NEED(emulate);
    mc.fp8 = UMUP_FP8_SIM_UMUP;
    mc.fp8_rounding = UMUP_FP8_SR;
    l32 = run_loss(mc, B, T, n, emulate, UMUP_CUDA_FP32);
    l16 = run_loss(mc, B, T, n, emulate, UMUP_CUDA_BF16);
    l8 = run_loss(mc, B, T, n, emulate, UMUP_CUDA_FP8);
    UT_CHECKF(fabs(l16 - l32) <= 0.02 * l32, "BF16 after %d steps: %.4f vs fp32 %.4f", n, l16, l32);
    UT_CHECKF(fabs(l8 - l32) <= 0.03 * l32, "FP8 after %d steps: %.4f vs fp32 %.4f", n, l8, l32);
    printf("  %-8s %d steps (FP8 simulation, u-muP scheme): final training loss fp32 %.4f, BF16 %.4f (%+.2f%%), FP8 %.4f (%+.2f%%)\n",
           where(emulate), n, l32, l16, 100.0 * (l16 / l32 - 1.0), l8, 100.0 * (l8 / l32 - 1.0));
    if (!emulate) {
        double t32 = run_loss(mc, B, T, 200, 0, UMUP_CUDA_TF32);
        UT_CHECKF(t32 == t32, "TF32 run failed");
    }
}
static void test_precisions_emulated(void) { precisions(1); }
static void test_precisions_gpu(void) { precisions(0); }

/* same seed, same bits: parameters after 5 steps, and an eval loss */
static void determinism(int emulate) {
    umup_model_config mc = small_model();
    umup_optim_config oc = umup_optim_config_for(mc.param.param, UMUP_OPT_ADAMW, 10);
    umup_cuda_trainer_config cc = tcfg(emulate, UMUP_CUDA_FP32);
    umup_cuda_trainer *a = NULL, *b = NULL;
    int32_t ids[4 * 64], tg[4 * 64];
    float la = 0, lb = 0;
    int s, p;
    NEED(emulate);
    mc.fp8 = UMUP_FP8_SIM_UMUP;
    mc.fp8_rounding = UMUP_FP8_SR;
    mc.dropout = 0.1f;
    for (p = 0; p < (emulate ? 1 : 4); p++) {
        cc.precision = (umup_cuda_precision)p;
        if (umup_cuda_trainer_create(&a, &mc, &oc, 4, &cc) != UMUP_OK || umup_cuda_trainer_create(&b, &mc, &oc, 4, &cc) != UMUP_OK) {
            if (!emulate && p == UMUP_CUDA_FP8) UT_SKIP("this GPU has no FP8 tensor cores");
            else UT_CHECKF(0, "create: %s", umup_cuda_trainer_error(NULL));
            umup_cuda_trainer_destroy(a);
            a = NULL;
            continue;
        }
        for (s = 0; s < 5; s++) {
            umup_dataset_batch(&ds, 0, 3, s, 4, 64, ids, tg);
            UT_CHECK(umup_cuda_trainer_step(a, ids, tg, 4, 64, &la) == UMUP_OK);
            UT_CHECK(umup_cuda_trainer_step(b, ids, tg, 4, 64, &lb) == UMUP_OK);
        }
        UT_CHECK(memcmp(&la, &lb, sizeof la) == 0);
        umup_dataset_batch(&ds, 1, 0, 0, 4, 64, ids, tg);
        UT_CHECK(umup_cuda_trainer_eval(a, ids, tg, 4, 64, &la) == UMUP_OK && umup_cuda_trainer_eval(b, ids, tg, 4, 64, &lb) == UMUP_OK);
        UT_CHECK(memcmp(&la, &lb, sizeof la) == 0);
        UT_CHECK(umup_cuda_trainer_to_host(a) == UMUP_OK && umup_cuda_trainer_to_host(b) == UMUP_OK);
        {
            umup_model *ma = umup_trainer_model(umup_cuda_trainer_host(a)), *mb = umup_trainer_model(umup_cuda_trainer_host(b));
            UT_CHECKF(memcmp(umup_model_params(ma), umup_model_params(mb), sizeof(float) * umup_model_num_params(ma)) == 0,
                      "%s %s: two runs with the same seed differ", where(emulate), umup_cuda_precision_name(cc.precision));
        }
        umup_cuda_trainer_destroy(a);
        umup_cuda_trainer_destroy(b);
        a = b = NULL;
    }
}
static void test_determinism_emulated(void) { determinism(1); }
static void test_determinism_gpu(void) { determinism(0); }

/* device -> CPU and CPU -> device resumes against the uninterrupted device run */
static void checkpoints(int emulate) {
    umup_model_config mc = small_model();
    umup_optim_config oc = umup_optim_config_for(mc.param.param, UMUP_OPT_ADAMW, 10);
    umup_cuda_trainer_config cc = tcfg(emulate, UMUP_CUDA_FP32);
    umup_cuda_trainer *g = NULL, *g2 = NULL;
    umup_trainer *c = NULL;
    int32_t ids[2 * 48], tg[2 * 48];
    const char *path = emulate ? "build/gpu/test_cuda_train_e.safetensors" : "build/gpu/test_cuda_train_g.safetensors";
    float l = 0;
    float *ref, *got;
    size_t np;
    int s;
    NEED(emulate);
    if (umup_cuda_trainer_create(&g, &mc, &oc, 2, &cc) != UMUP_OK || umup_trainer_create(&c, &mc, &oc, 2) != UMUP_OK ||
        umup_cuda_trainer_create(&g2, &mc, &oc, 2, &cc) != UMUP_OK) {
        UT_CHECKF(0, "create: %s", umup_cuda_trainer_error(NULL));
        return;
    }
    np = umup_model_num_params(umup_trainer_model(c));
    ref = fmalloc(np);
    got = fmalloc(np);
    for (s = 0; s < 4; s++) {
        umup_dataset_batch(&ds, 0, 2, s, 2, 48, ids, tg);
        UT_CHECK(umup_cuda_trainer_step(g, ids, tg, 2, 48, &l) == UMUP_OK);
    }
    UT_CHECKF(umup_cuda_trainer_save(g, path) == UMUP_OK, "save: %s", umup_cuda_trainer_error(g));
    UT_CHECKF(umup_trainer_load(c, path) == UMUP_OK, "CPU load of a device checkpoint: %.400s", umup_trainer_error(c));
    UT_CHECK(umup_trainer_optimizer(c)->step == 4);
    for (s = 4; s < 8; s++) { /* both continue */
        umup_dataset_batch(&ds, 0, 2, s, 2, 48, ids, tg);
        UT_CHECK(umup_cuda_trainer_step(g, ids, tg, 2, 48, &l) == UMUP_OK);
        UT_CHECK(umup_trainer_step(c, ids, tg, 2, 48, &l) == UMUP_OK);
    }
    UT_CHECK(umup_cuda_trainer_to_host(g) == UMUP_OK);
    memcpy(ref, umup_model_params(umup_trainer_model(umup_cuda_trainer_host(g))), sizeof(float) * np);
    UT_CHECKF(ut_l2_rel(umup_model_params(umup_trainer_model(c)), ref, np) <= 1e-4, "device -> CPU resume: %.3g",
              ut_l2_rel(umup_model_params(umup_trainer_model(c)), ref, np));
    /* CPU -> device: the CPU trainer saves at step 8, a fresh device trainer resumes */
    UT_CHECK(umup_trainer_save(c, path) == UMUP_OK);
    UT_CHECKF(umup_cuda_trainer_load(g2, path) == UMUP_OK, "device load of a CPU checkpoint: %.400s", umup_cuda_trainer_error(g2));
    UT_CHECK(umup_cuda_trainer_step_count(g2) == 8);
    for (s = 8; s < 10; s++) {
        umup_dataset_batch(&ds, 0, 2, s, 2, 48, ids, tg);
        UT_CHECK(umup_cuda_trainer_step(g, ids, tg, 2, 48, &l) == UMUP_OK);
        UT_CHECK(umup_cuda_trainer_step(g2, ids, tg, 2, 48, &l) == UMUP_OK);
    }
    UT_CHECK(umup_cuda_trainer_to_host(g) == UMUP_OK && umup_cuda_trainer_to_host(g2) == UMUP_OK);
    memcpy(ref, umup_model_params(umup_trainer_model(umup_cuda_trainer_host(g))), sizeof(float) * np);
    memcpy(got, umup_model_params(umup_trainer_model(umup_cuda_trainer_host(g2))), sizeof(float) * np);
    UT_CHECKF(ut_l2_rel(got, ref, np) <= 1e-4, "CPU -> device resume: %.3g", ut_l2_rel(got, ref, np));
    { /* resume to a longer run: the CPU's checkpoint at step 8 of 10, both trainers created for 16 */
        umup_optim_config ol = oc;
        umup_trainer *c16 = NULL;
        umup_cuda_trainer *g16 = NULL;
        ol.schedule.total = 16;
        if (umup_trainer_create(&c16, &mc, &ol, 2) == UMUP_OK && umup_cuda_trainer_create(&g16, &mc, &ol, 2, &cc) == UMUP_OK) {
            UT_CHECK(umup_trainer_load(c16, path) == UMUP_OK);
            UT_CHECKF(umup_cuda_trainer_load(g16, path) == UMUP_OK, "longer run: %.400s", umup_cuda_trainer_error(g16));
            for (s = 8; s < 12; s++) {
                umup_dataset_batch(&ds, 0, 2, s, 2, 48, ids, tg);
                UT_CHECK(umup_trainer_step(c16, ids, tg, 2, 48, &l) == UMUP_OK);
                UT_CHECK(umup_cuda_trainer_step(g16, ids, tg, 2, 48, &l) == UMUP_OK);
            }
            UT_CHECK(umup_cuda_trainer_to_host(g16) == UMUP_OK);
            UT_CHECKF(ut_l2_rel(umup_model_params(umup_trainer_model(umup_cuda_trainer_host(g16))),
                                umup_model_params(umup_trainer_model(c16)), np) <= 1e-4,
                      "resume to a longer run: %.3g", ut_l2_rel(umup_model_params(umup_trainer_model(umup_cuda_trainer_host(g16))),
                                                               umup_model_params(umup_trainer_model(c16)), np));
        } else {
            UT_CHECK(!"create for the longer run");
        }
        umup_cuda_trainer_destroy(g16);
        umup_trainer_destroy(c16);
    }
    /* a failed load changes nothing */
    UT_CHECK(umup_cuda_trainer_load(g2, "build/gpu/no_such_file.safetensors") == UMUP_ERR_IO && umup_cuda_trainer_error(g2)[0]);
    UT_CHECK(umup_cuda_trainer_to_host(g2) == UMUP_OK &&
             memcmp(umup_model_params(umup_trainer_model(umup_cuda_trainer_host(g2))), got, sizeof(float) * np) == 0);
    remove(path);
    free(ref); free(got);
    umup_cuda_trainer_destroy(g);
    umup_cuda_trainer_destroy(g2);
    umup_trainer_destroy(c);
}
static void test_checkpoints_emulated(void) { checkpoints(1); }
static void test_checkpoints_gpu(void) { checkpoints(0); }

/* steps that do not wait, then eval; a diverging run reports UMUP_ERR_NONFINITE */
static void async_and_errors(int emulate) {
    umup_model_config mc = small_model();
    umup_optim_config oc = umup_optim_config_for(mc.param.param, UMUP_OPT_ADAMW, 10);
    umup_cuda_trainer_config cc = tcfg(emulate, UMUP_CUDA_FP32);
    umup_cuda_trainer *g = NULL;
    int32_t ids[2 * 32], tg[2 * 32];
    float l = 0, l1 = 0;
    int s;
    NEED(emulate);
    UT_CHECK(umup_cuda_trainer_create(NULL, &mc, &oc, 2, &cc) == UMUP_ERR_NULL);
    UT_CHECK(umup_cuda_trainer_create(&g, &mc, &oc, 0, &cc) == UMUP_ERR_SHAPE && g == NULL && umup_cuda_trainer_error(NULL)[0]);
    cc.precision = (umup_cuda_precision)9;
    UT_CHECK(umup_cuda_trainer_create(&g, &mc, &oc, 2, &cc) == UMUP_ERR_INVALID_ARG && g == NULL);
    cc = tcfg(emulate, UMUP_CUDA_FP32);
    mc.head_size = 0;
    mc.heads = 1;
    mc.width = 192; /* head size 192 > 128 */
    UT_CHECK(umup_cuda_trainer_create(&g, &mc, &oc, 2, &cc) == UMUP_ERR_UNSUPPORTED && strstr(umup_cuda_trainer_error(NULL), "128"));
    mc = small_model();
    mc.mlp = UMUP_MLP_GELU; /* not on the device: refused, not run as SwiGLU */
    UT_CHECK(umup_cuda_trainer_create(&g, &mc, &oc, 2, &cc) == UMUP_ERR_UNSUPPORTED && g == NULL &&
             strstr(umup_cuda_trainer_error(NULL), "SwiGLU"));
    mc = small_model();
    mc.fp8 = UMUP_FP8_SIM_UMUP;
    mc.fp8_attention = 1;
    UT_CHECK(umup_cuda_trainer_create(&g, &mc, &oc, 2, &cc) == UMUP_ERR_UNSUPPORTED && g == NULL &&
             strstr(umup_cuda_trainer_error(NULL), "fp8_attention"));
    mc = small_model();
    mc.layers = 0;
    mc.width = -3;
    UT_CHECK(umup_cuda_trainer_create(&g, &mc, &oc, 2, &cc) == UMUP_ERR_SHAPE);
    mc = small_model();
    if (umup_cuda_trainer_create(&g, &mc, &oc, 2, &cc) != UMUP_OK) { UT_CHECK(0); return; }
    for (s = 0; s < 3; s++) {
        umup_dataset_batch(&ds, 0, 4, s, 2, 32, ids, tg);
        UT_CHECK(umup_cuda_trainer_step(g, ids, tg, 2, 32, NULL) == UMUP_OK);
    }
    UT_CHECK(umup_cuda_trainer_step_count(g) == 3);
    umup_dataset_batch(&ds, 1, 0, 0, 2, 32, ids, tg);
    UT_CHECK(umup_cuda_trainer_eval(g, ids, tg, 2, 32, &l) == UMUP_OK && l > 0 && l < 6);
    UT_CHECK(umup_cuda_trainer_eval(g, ids, tg, 2, 32, &l1) == UMUP_OK && l == l1);
    UT_CHECK(umup_cuda_trainer_step(g, NULL, tg, 2, 32, &l) == UMUP_ERR_NULL);
    UT_CHECK(umup_cuda_trainer_step(g, ids, tg, 3, 32, &l) == UMUP_ERR_SHAPE);
    UT_CHECK(umup_cuda_trainer_step(g, ids, tg, 2, 65, &l) == UMUP_ERR_SHAPE);
    ids[3] = 256;
    UT_CHECK(umup_cuda_trainer_step(g, ids, tg, 2, 32, &l) == UMUP_ERR_INVALID_ARG && strstr(umup_cuda_trainer_error(g), "outside"));
    ids[3] = 1;
    for (s = 0; s < 64; s++) tg[s] = -1;
    UT_CHECK(umup_cuda_trainer_step(g, ids, tg, 2, 32, &l) == UMUP_ERR_INVALID_ARG);
    UT_CHECK(umup_cuda_trainer_step_count(g) == 3); /* refused steps change nothing */
    umup_cuda_trainer_destroy(g);
    { /* divergence: an absurd learning rate; the parameters stop at the last finite step */
        umup_optim_config big = oc;
        umup_status st = UMUP_OK;
        long before;
        big.lr = 1e20;
        big.clip_norm = 0;
        if (umup_cuda_trainer_create(&g, &mc, &big, 2, &cc) != UMUP_OK) { UT_CHECK(0); return; }
        for (s = 0; s < 20 && st == UMUP_OK; s++) {
            umup_dataset_batch(&ds, 0, 4, s, 2, 32, ids, tg);
            st = umup_cuda_trainer_step(g, ids, tg, 2, 32, &l);
        }
        UT_CHECKF(st == UMUP_ERR_NONFINITE, "lr 1e20: %s after %d steps", umup_status_string(st), s);
        before = umup_cuda_trainer_step_count(g);
        UT_CHECK(before == s - 1);
        UT_CHECK(umup_cuda_trainer_step(g, ids, tg, 2, 32, &l) == UMUP_ERR_NONFINITE && umup_cuda_trainer_step_count(g) == before);
        umup_cuda_trainer_destroy(g);
    }
    umup_cuda_trainer_destroy(NULL);
}
static void test_async_and_errors_emulated(void) { async_and_errors(1); }
static void test_async_and_errors_gpu(void) { async_and_errors(0); }

int main(void) {
    umup_cuda_trainer *g = NULL;
    umup_model_config mc = small_model();
    umup_optim_config oc = umup_optim_config_default(UMUP_OPT_ADAMW);
    umup_cuda_trainer_config cc = tcfg(0, UMUP_CUDA_FP32);
    umup_status st = umup_cuda_trainer_create(&g, &mc, &oc, 1, &cc);
    if (st == UMUP_OK) {
        umup_cuda_device_info info;
        have_gpu = 1;
        if (umup_cuda_trainer_device(g, &info) == UMUP_OK) printf("  device: %s (sm_%d%d)\n", info.name, info.cc_major, info.cc_minor);
        info_fp8 = info.fp8;
        umup_cuda_trainer_destroy(g);
    } else {
        UT_CHECKF(st == UMUP_ERR_UNSUPPORTED && g == NULL, "create without a GPU: %s", umup_status_string(st));
        snprintf(why, sizeof why, "no GPU here: %.500s", umup_cuda_trainer_error(NULL));
#ifdef _OPENMP
        /* only emulated runs here, which are single-threaded: the CPU side too, so that thousands of
           short parallel regions do not spin-wait on a busy machine */
        omp_set_num_threads(1);
#endif
    }
    if (umup_dataset_from_corpus(&ds, 300000, 1, 0.1) != UMUP_OK) return 1;
    UT_RUN(test_reference_decoder_emulated);
    UT_RUN(test_reference_decoder_gpu);
    UT_RUN(test_reference_decoder_lowp_emulated);
    UT_RUN(test_reference_decoder_lowp_gpu);
    UT_RUN(test_variants_emulated);
    UT_RUN(test_variants_gpu);
    UT_RUN(test_optimizers_emulated);
    UT_RUN(test_optimizers_gpu);
    UT_RUN(test_determinism_emulated);
    UT_RUN(test_determinism_gpu);
    UT_RUN(test_checkpoints_emulated);
    UT_RUN(test_checkpoints_gpu);
    UT_RUN(test_async_and_errors_emulated);
    UT_RUN(test_async_and_errors_gpu);
    UT_RUN(test_hundred_steps_emulated);
    UT_RUN(test_hundred_steps_gpu);
    UT_RUN(test_precisions_emulated);
    UT_RUN(test_precisions_gpu);
    umup_dataset_free(&ds);
    return ut_finish("test_cuda_train");
}
