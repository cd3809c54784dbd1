/* demos/train_args.h - the model, training and data flags shared by the demos.
 *
 * demos/train, demos/coord_check, demos/lr_sweep (which passes them on to train) and
 * demos/fp8_parity accept the same flags with the same meaning, so a configuration tried in one can
 * be re-run in another. Not part of the library: a demo includes it after umup.h (with the
 * implementation) and calls
 *
 *     train_args a;  train_args_init(&a);
 *     for (i = 1; i < argc; i++) { int r = train_args_parse(&a, argc, argv, &i, "train"); ... }
 *     train_args_finish(&a);          // resolves defaults that depend on other flags (LR, warmup)
 *
 * train_args_parse returns 1 when it consumed argv[*i] (and its value, advancing *i), 0 when the
 * flag is not one of these, and -1 after printing an error for a bad value. The helpers are
 * static inline so that a demo using only some of them compiles without warnings. */
#ifndef UMUP_DEMO_TRAIN_ARGS_H
#define UMUP_DEMO_TRAIN_ARGS_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    umup_model_config mc;
    umup_optim_config oc;
    double steps, batch, seq, lr, warmup, min_ratio, wd, clip, momentum, seed, corpus_bytes;
    double eval_interval, eval_batches;
    const char *data_path;
} train_args;

static const char train_args_usage[] =
    "model:\n"
    "  --width D            model width (default 128)\n"
    "  --layers L           layers (default 2; also --depth)\n"
    "  --heads H            attention heads (default width/32)\n"
    "  --head-size D        head size instead of --heads\n"
    "  --mlp-expansion E    SwiGLU hidden = E x width (default 4)\n"
    "  --norm rms|layer     non-parametric norm (default rms)\n"
    "  --rope               rotary position embedding (default: none, NoPE like the reference)\n"
    "  --dropout P          residual-branch dropout in training (default 0)\n"
    "  --param P            umup | sp | mup | mus | spectral (default umup)\n"
    "  --mus-tau T          muS residual weight in (0, 1) (default 0.4)\n"
    "  --base-width W       muP base width (default: width)\n"
    "  --alpha-attn A, --alpha-ffn-act A, --alpha-res A, --alpha-res-attn-ratio A, --alpha-loss A\n"
    "                       u-muP temperatures and residual ratios (default 1)\n"
    "  --alpha-emb A, --alpha-out A   muP multipliers (default 1)\n"
    "  --fp8 none|all|umup  FP8 simulation of the hidden matmuls (default umup)\n"
    "  --fp8-rounding rne|sr|sr16     (default sr)\n"
    "training:\n"
    "  --steps N            optimizer steps (default 600)\n"
    "  --batch B            sequences per batch (default 8)\n"
    "  --seq T              sequence length (default 128)\n"
    "  --optimizer adamw|adam|sgd|lion (default adamw)\n"
    "  --lr X               peak learning rate eta (default: 2^-1 umup, 2^-2 mus, 2^-9 sp/mup/spectral)\n"
    "  --warmup N           linear warmup steps (default steps/10)\n"
    "  --schedule cosine|linear|constant (default cosine)\n"
    "  --min-lr-ratio R     decay floor as a fraction of eta (default 0.1)\n"
    "  --weight-decay L     lambda (default 0)\n"
    "  --clip C             global gradient-norm clipping (default 1; 0 = off)\n"
    "  --momentum M         SGD momentum (default 0.9)\n"
    "  --seed S             seed of init, data order and rounding (default 1)\n"
    "data and evaluation:\n"
    "  --data FILE          train on a file's bytes instead of the embedded corpus\n"
    "  --corpus-bytes N     size of the embedded corpus (default 4000000)\n"
    "  --eval-interval N    evaluate every N steps (default 100)\n"
    "  --eval-batches N     validation batches per evaluation (default 8)\n";

static inline void train_args_init(train_args *a) {
    memset(a, 0, sizeof *a);
    a->mc = umup_model_config_default();
    a->oc = umup_optim_config_default(UMUP_OPT_ADAMW);
    a->mc.width = 128;
    a->mc.heads = 0;
    a->mc.head_size = 32;
    a->mc.max_seq = 128;
    a->mc.fp8 = UMUP_FP8_SIM_UMUP;
    a->mc.fp8_rounding = UMUP_FP8_SR;
    a->oc.schedule.decay = UMUP_SCHED_COSINE;
    a->steps = 600; a->batch = 8; a->seq = 128; a->lr = 0; a->warmup = -1; a->min_ratio = 0.1; a->wd = 0;
    a->clip = 1; a->momentum = 0.9; a->seed = 1; a->corpus_bytes = 4000000; a->eval_interval = 100;
    a->eval_batches = 8;
}

static inline int train_args_num(const char *s, double lo, double hi, double *out) {
    char *end;
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (end == s || *end || errno || !(v >= lo && v <= hi)) return 0;
    *out = v;
    return 1;
}

/* The default peak LR of a parametrization: u-muP's 2^-1 ([P]); muS 2^-2, the best of an LR sweep
 * at widths 64 and 256 (README, Results); 2^-9 for the Adam-LR-in-absolute-units parametrizations. */
static inline double train_args_default_lr(umup_parametrization p) {
    return p == UMUP_PARAM_UMUP ? 0.5 : p == UMUP_PARAM_MUS ? 0.25 : 1.0 / 512;
}

static inline int train_args_parse(train_args *a, int argc, char **argv, int *pi, const char *prog) {
    const char *f = argv[*pi], *v = *pi + 1 < argc ? argv[*pi + 1] : NULL;
    umup_model_config *mc = &a->mc;
    double x = 0;
    int ok = 1;
    if (!strcmp(f, "--rope")) { mc->rope = 1; return 1; }
    if (strncmp(f, "--", 2)) return 0;
#define TA_IS(s) (!strcmp(f, s))
    if (!(TA_IS("--width") || TA_IS("--layers") || TA_IS("--depth") || TA_IS("--heads") || TA_IS("--head-size") ||
          TA_IS("--mlp-expansion") || TA_IS("--norm") || TA_IS("--param") || TA_IS("--mus-tau") || TA_IS("--dropout") ||
          TA_IS("--base-width") || TA_IS("--alpha-attn") || TA_IS("--alpha-ffn-act") || TA_IS("--alpha-res") ||
          TA_IS("--alpha-res-attn-ratio") || TA_IS("--alpha-loss") || TA_IS("--alpha-emb") || TA_IS("--alpha-out") ||
          TA_IS("--fp8") || TA_IS("--fp8-rounding") || TA_IS("--steps") || TA_IS("--batch") || TA_IS("--seq") ||
          TA_IS("--optimizer") || TA_IS("--lr") || TA_IS("--warmup") || TA_IS("--schedule") ||
          TA_IS("--min-lr-ratio") || TA_IS("--weight-decay") || TA_IS("--clip") || TA_IS("--momentum") ||
          TA_IS("--seed") || TA_IS("--data") || TA_IS("--corpus-bytes") || TA_IS("--eval-interval") ||
          TA_IS("--eval-batches")))
        return 0;
    if (!v) { fprintf(stderr, "%s: %s needs a value\n", prog, f); return -1; }
    (*pi)++;
    if (TA_IS("--width")) { ok = train_args_num(v, 1, 65536, &x); mc->width = (int)x; }
    else if (TA_IS("--layers") || TA_IS("--depth")) { ok = train_args_num(v, 1, 1024, &x); mc->layers = (int)x; }
    else if (TA_IS("--heads")) { ok = train_args_num(v, 1, 4096, &x); mc->heads = (int)x; mc->head_size = 0; }
    else if (TA_IS("--head-size")) { ok = train_args_num(v, 1, 4096, &x); mc->head_size = (int)x; mc->heads = 0; }
    else if (TA_IS("--mlp-expansion")) { ok = train_args_num(v, 1, 64, &x); mc->mlp_expansion = (int)x; }
    else if (TA_IS("--norm")) {
        if (!strcmp(v, "rms")) mc->norm = UMUP_NORM_RMS;
        else if (!strcmp(v, "layer")) mc->norm = UMUP_NORM_LAYER;
        else ok = 0;
    } else if (TA_IS("--param")) ok = umup_param_parse(v, &mc->param.param) == UMUP_OK;
    else if (TA_IS("--mus-tau")) { ok = train_args_num(v, 1e-6, 0.999999, &x); mc->mus_tau = (float)x; }
    else if (TA_IS("--dropout")) { ok = train_args_num(v, 0, 0.99, &x); mc->dropout = (float)x; }
    else if (TA_IS("--base-width")) { ok = train_args_num(v, 1, 65536, &x); mc->param.base_width = (int)x; }
    else if (TA_IS("--alpha-attn")) { ok = train_args_num(v, 1e-6, 1e6, &x); mc->alpha_attn = (float)x; }
    else if (TA_IS("--alpha-ffn-act")) { ok = train_args_num(v, 1e-6, 1e6, &x); mc->alpha_ffn_act = (float)x; }
    else if (TA_IS("--alpha-res")) { ok = train_args_num(v, 1e-6, 1e6, &x); mc->alpha_res = (float)x; }
    else if (TA_IS("--alpha-res-attn-ratio")) { ok = train_args_num(v, 1e-6, 1e6, &x); mc->alpha_res_attn_ratio = (float)x; }
    else if (TA_IS("--alpha-loss")) { ok = train_args_num(v, 1e-6, 1e6, &x); mc->alpha_loss_softmax = (float)x; }
    else if (TA_IS("--alpha-emb")) { ok = train_args_num(v, 1e-6, 1e6, &x); mc->param.alpha_emb = (float)x; }
    else if (TA_IS("--alpha-out")) { ok = train_args_num(v, 1e-6, 1e6, &x); mc->param.alpha_out = (float)x; }
    else if (TA_IS("--fp8")) {
        if (!strcmp(v, "none")) mc->fp8 = UMUP_FP8_SIM_NONE;
        else if (!strcmp(v, "all")) mc->fp8 = UMUP_FP8_SIM_ALL;
        else if (!strcmp(v, "umup")) mc->fp8 = UMUP_FP8_SIM_UMUP;
        else ok = 0;
    } else if (TA_IS("--fp8-rounding")) {
        if (!strcmp(v, "rne")) mc->fp8_rounding = UMUP_FP8_RNE;
        else if (!strcmp(v, "sr")) mc->fp8_rounding = UMUP_FP8_SR;
        else if (!strcmp(v, "sr16")) mc->fp8_rounding = UMUP_FP8_SR16;
        else ok = 0;
    } else if (TA_IS("--steps")) ok = train_args_num(v, 1, 1e9, &a->steps);
    else if (TA_IS("--batch")) ok = train_args_num(v, 1, 65536, &a->batch);
    else if (TA_IS("--seq")) ok = train_args_num(v, 2, 65536, &a->seq);
    else if (TA_IS("--optimizer")) {
        umup_optimizer_kind k;
        ok = umup_optim_parse(v, &k) == UMUP_OK;
        if (ok) { umup_schedule s = a->oc.schedule; a->oc = umup_optim_config_default(k); a->oc.schedule = s; }
    } else if (TA_IS("--lr")) ok = train_args_num(v, 1e-12, 1e6, &a->lr);
    else if (TA_IS("--warmup")) ok = train_args_num(v, 0, 1e9, &a->warmup);
    else if (TA_IS("--schedule")) {
        if (!strcmp(v, "cosine")) a->oc.schedule.decay = UMUP_SCHED_COSINE;
        else if (!strcmp(v, "linear")) a->oc.schedule.decay = UMUP_SCHED_LINEAR;
        else if (!strcmp(v, "constant")) a->oc.schedule.decay = UMUP_SCHED_CONSTANT;
        else ok = 0;
    } else if (TA_IS("--min-lr-ratio")) ok = train_args_num(v, 0, 1, &a->min_ratio);
    else if (TA_IS("--weight-decay")) ok = train_args_num(v, 0, 1e6, &a->wd);
    else if (TA_IS("--clip")) ok = train_args_num(v, 0, 1e30, &a->clip);
    else if (TA_IS("--momentum")) ok = train_args_num(v, 0, 0.999999, &a->momentum);
    else if (TA_IS("--seed")) ok = train_args_num(v, 0, 1e15, &a->seed);
    else if (TA_IS("--data")) a->data_path = v;
    else if (TA_IS("--corpus-bytes")) ok = train_args_num(v, 4096, 1e10, &a->corpus_bytes);
    else if (TA_IS("--eval-interval")) ok = train_args_num(v, 1, 1e9, &a->eval_interval);
    else if (TA_IS("--eval-batches")) ok = train_args_num(v, 1, 1e6, &a->eval_batches);
#undef TA_IS
    if (!ok) { fprintf(stderr, "%s: bad value '%s' for %s\n", prog, v, f); return -1; }
    return 1;
}

/* Resolves what depends on several flags: max_seq = seq, the seed, the LR default of the
 * parametrization, the warmup default (steps / 10) and the schedule length. */
static inline void train_args_finish(train_args *a) {
    long nsteps = (long)a->steps;
    a->mc.max_seq = (int)a->seq;
    a->mc.seed = (uint64_t)a->seed;
    if (a->lr == 0) a->lr = train_args_default_lr(a->mc.param.param);
    a->oc.lr = a->lr;
    a->oc.weight_decay = a->wd;
    a->oc.clip_norm = a->clip;
    if (a->oc.kind == UMUP_OPT_SGD) a->oc.momentum = a->momentum;
    a->oc.schedule.warmup = a->warmup < 0 ? nsteps / 10 : (long)a->warmup;
    a->oc.schedule.total = nsteps;
    a->oc.schedule.min_ratio = (float)a->min_ratio;
}

/* A comma-separated list of parametrization names ("sp,mup,umup") into out[0 .. max): returns how
 * many, or 0 for an empty list, an unknown name or more than max. */
static inline int train_args_parse_params(const char *s, umup_parametrization *out, int max) {
    int n = 0;
    while (*s) {
        char name[32];
        size_t len = strcspn(s, ",");
        if (len == 0 || len >= sizeof name || n == max) return 0;
        memcpy(name, s, len);
        name[len] = 0;
        if (umup_param_parse(name, &out[n]) != UMUP_OK) return 0;
        n++;
        s += len;
        if (*s == ',') s++;
    }
    return n;
}

/* Loads --data FILE or generates the embedded corpus (seed 1234, 10% validation). */
static inline umup_status train_args_dataset(const train_args *a, umup_dataset *ds) {
    if (a->data_path) return umup_dataset_load_file(ds, a->data_path, 0.1);
    return umup_dataset_from_corpus(ds, (size_t)a->corpus_bytes, 1234, 0.1);
}

/* Mean validation loss over eval_batches deterministic validation batches (ids, tg: [B, T]). */
static inline double train_args_eval(umup_trainer *tr, const umup_dataset *ds, int nb, int B, int T, int32_t *ids,
                              int32_t *tg) {
    double vl = 0;
    int k;
    for (k = 0; k < nb; k++) {
        float l = 0;
        umup_dataset_batch(ds, 1, 0, k, B, T, ids, tg);
        umup_trainer_eval(tr, ids, tg, B, T, &l);
        vl += l;
    }
    return vl / nb;
}

#endif
