/* demos/train.c - train a small decoder-only transformer with umup.h.
 *
 *   ./build/train                               u-muP, simulated FP8 (u-muP scheme, SR), embedded corpus
 *   ./build/train --param sp --fp8 none --lr 3e-3 --width 128 --steps 2000
 *   ./build/train --data input.txt --save run.safetensors --sample 300 --prompt "the "
 *   ./build/train --resume run.safetensors --steps 4000      (continues bit for bit)
 *
 * The last line is machine-readable:
 *   done steps=<n> train_loss=<x> val_loss=<y> tokens_per_s=<z>
 * Losses are in nats per byte (the corpus entropies are printed in bits and nats). */
#define _POSIX_C_SOURCE 200809L
#define UMUP_IMPLEMENTATION
#include "umup.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f) {
    fprintf(f,
        "usage: train [options]\n"
        "model:\n"
        "  --width D            model width (default 128)\n"
        "  --layers L           layers (default 2)\n"
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
        "  --lr X               peak learning rate eta (default: 2^-1 umup, 0.05 mus, 2^-9 sp/mup/spectral)\n"
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
        "  --eval-batches N     validation batches per evaluation (default 8)\n"
        "checkpoints and sampling:\n"
        "  --save PATH          write a safetensors checkpoint at the end (atomically)\n"
        "  --resume PATH        continue from a checkpoint (same settings required)\n"
        "  --sample N           generate N bytes at the end (default 200; 0 = none)\n"
        "  --prompt STR         sampling prompt (default \"the \")\n"
        "  --temperature T      (default 0.8)   --top-k K (default 0 = all)\n"
        "  --quiet              only the final line\n"
        "  --help\n");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int num(const char *s, double lo, double hi, double *out) {
    char *end;
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (end == s || *end || errno || !(v >= lo && v <= hi)) return 0;
    *out = v;
    return 1;
}

#define DIE(...) do { fprintf(stderr, "train: " __VA_ARGS__); fputc('\n', stderr); exit(1); } while (0)

int main(int argc, char **argv) {
    umup_model_config mc = umup_model_config_default();
    umup_optim_config oc = umup_optim_config_default(UMUP_OPT_ADAMW);
    umup_trainer *tr = NULL;
    umup_dataset ds;
    umup_status st;
    const char *data_path = NULL, *save_path = NULL, *resume_path = NULL, *prompt = "the ";
    double steps = 600, batch = 8, seq = 128, lr = 0, warmup = -1, min_ratio = 0.1, wd = 0, clip = 1, momentum = 0.9;
    double seed = 1, corpus_bytes = 4000000, eval_interval = 100, eval_batches = 8, sample_n = 200, temperature = 0.8, top_k = 0;
    int quiet = 0, i, B, T, tty, heads_set = 0;
    long step, nsteps;
    int32_t *ids, *tg;
    double t0, tok_s = 0, train_loss = NAN, val_loss = NAN, loss_acc = 0;
    long loss_n = 0, start_step;
    size_t pb, gb, ab;

    mc.width = 128;
    mc.heads = 0;
    mc.head_size = 32;
    mc.max_seq = 128;
    mc.fp8 = UMUP_FP8_SIM_UMUP;
    mc.fp8_rounding = UMUP_FP8_SR;
    oc.schedule.decay = UMUP_SCHED_COSINE;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double x = 0;
        int ok = 1;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        if (!strcmp(a, "--quiet")) { quiet = 1; continue; }
        if (!strcmp(a, "--rope")) { mc.rope = 1; continue; }
        if (strncmp(a, "--", 2)) { fprintf(stderr, "train: unexpected argument '%s'\n", a); usage(stderr); return 2; }
        if (!v) { fprintf(stderr, "train: %s needs a value\n", a); usage(stderr); return 2; }
        i++;
        if (!strcmp(a, "--width")) { ok = num(v, 1, 65536, &x); mc.width = (int)x; }
        else if (!strcmp(a, "--layers") || !strcmp(a, "--depth")) { ok = num(v, 1, 1024, &x); mc.layers = (int)x; }
        else if (!strcmp(a, "--heads")) { ok = num(v, 1, 4096, &x); mc.heads = (int)x; mc.head_size = 0; heads_set = 1; }
        else if (!strcmp(a, "--head-size")) { ok = num(v, 1, 4096, &x); mc.head_size = (int)x; mc.heads = 0; }
        else if (!strcmp(a, "--mlp-expansion")) { ok = num(v, 1, 64, &x); mc.mlp_expansion = (int)x; }
        else if (!strcmp(a, "--norm")) { if (!strcmp(v, "rms")) mc.norm = UMUP_NORM_RMS; else if (!strcmp(v, "layer")) mc.norm = UMUP_NORM_LAYER; else ok = 0; }
        else if (!strcmp(a, "--param")) ok = umup_param_parse(v, &mc.param.param) == UMUP_OK;
        else if (!strcmp(a, "--mus-tau")) { ok = num(v, 1e-6, 0.999999, &x); mc.mus_tau = (float)x; }
        else if (!strcmp(a, "--dropout")) { ok = num(v, 0, 0.99, &x); mc.dropout = (float)x; }
        else if (!strcmp(a, "--base-width")) { ok = num(v, 1, 65536, &x); mc.param.base_width = (int)x; }
        else if (!strcmp(a, "--alpha-attn")) { ok = num(v, 1e-6, 1e6, &x); mc.alpha_attn = (float)x; }
        else if (!strcmp(a, "--alpha-ffn-act")) { ok = num(v, 1e-6, 1e6, &x); mc.alpha_ffn_act = (float)x; }
        else if (!strcmp(a, "--alpha-res")) { ok = num(v, 1e-6, 1e6, &x); mc.alpha_res = (float)x; }
        else if (!strcmp(a, "--alpha-res-attn-ratio")) { ok = num(v, 1e-6, 1e6, &x); mc.alpha_res_attn_ratio = (float)x; }
        else if (!strcmp(a, "--alpha-loss")) { ok = num(v, 1e-6, 1e6, &x); mc.alpha_loss_softmax = (float)x; }
        else if (!strcmp(a, "--alpha-emb")) { ok = num(v, 1e-6, 1e6, &x); mc.param.alpha_emb = (float)x; }
        else if (!strcmp(a, "--alpha-out")) { ok = num(v, 1e-6, 1e6, &x); mc.param.alpha_out = (float)x; }
        else if (!strcmp(a, "--fp8")) { if (!strcmp(v, "none")) mc.fp8 = UMUP_FP8_SIM_NONE; else if (!strcmp(v, "all")) mc.fp8 = UMUP_FP8_SIM_ALL; else if (!strcmp(v, "umup")) mc.fp8 = UMUP_FP8_SIM_UMUP; else ok = 0; }
        else if (!strcmp(a, "--fp8-rounding")) { if (!strcmp(v, "rne")) mc.fp8_rounding = UMUP_FP8_RNE; else if (!strcmp(v, "sr")) mc.fp8_rounding = UMUP_FP8_SR; else if (!strcmp(v, "sr16")) mc.fp8_rounding = UMUP_FP8_SR16; else ok = 0; }
        else if (!strcmp(a, "--steps")) ok = num(v, 1, 1e9, &steps);
        else if (!strcmp(a, "--batch")) ok = num(v, 1, 65536, &batch);
        else if (!strcmp(a, "--seq")) ok = num(v, 2, 65536, &seq);
        else if (!strcmp(a, "--optimizer")) { umup_optimizer_kind k; ok = umup_optim_parse(v, &k) == UMUP_OK; if (ok) { umup_schedule s = oc.schedule; oc = umup_optim_config_default(k); oc.schedule = s; } }
        else if (!strcmp(a, "--lr")) ok = num(v, 1e-12, 1e6, &lr);
        else if (!strcmp(a, "--warmup")) ok = num(v, 0, 1e9, &warmup);
        else if (!strcmp(a, "--schedule")) { if (!strcmp(v, "cosine")) oc.schedule.decay = UMUP_SCHED_COSINE; else if (!strcmp(v, "linear")) oc.schedule.decay = UMUP_SCHED_LINEAR; else if (!strcmp(v, "constant")) oc.schedule.decay = UMUP_SCHED_CONSTANT; else ok = 0; }
        else if (!strcmp(a, "--min-lr-ratio")) ok = num(v, 0, 1, &min_ratio);
        else if (!strcmp(a, "--weight-decay")) ok = num(v, 0, 1e6, &wd);
        else if (!strcmp(a, "--clip")) ok = num(v, 0, 1e30, &clip);
        else if (!strcmp(a, "--momentum")) ok = num(v, 0, 0.999999, &momentum);
        else if (!strcmp(a, "--seed")) ok = num(v, 0, 1e15, &seed);
        else if (!strcmp(a, "--data")) data_path = v;
        else if (!strcmp(a, "--corpus-bytes")) ok = num(v, 4096, 1e10, &corpus_bytes);
        else if (!strcmp(a, "--eval-interval")) ok = num(v, 1, 1e9, &eval_interval);
        else if (!strcmp(a, "--eval-batches")) ok = num(v, 1, 1e6, &eval_batches);
        else if (!strcmp(a, "--save")) save_path = v;
        else if (!strcmp(a, "--resume")) resume_path = v;
        else if (!strcmp(a, "--sample")) ok = num(v, 0, 1e6, &sample_n);
        else if (!strcmp(a, "--prompt")) { prompt = v; ok = v[0] != 0; }
        else if (!strcmp(a, "--temperature")) ok = num(v, 0, 100, &temperature);
        else if (!strcmp(a, "--top-k")) ok = num(v, 0, 1e6, &top_k);
        else { fprintf(stderr, "train: unknown option %s\n", a); usage(stderr); return 2; }
        if (!ok) { fprintf(stderr, "train: bad value '%s' for %s\n", v, a); usage(stderr); return 2; }
    }
    (void)heads_set;
    B = (int)batch;
    T = (int)seq;
    nsteps = (long)steps;
    mc.max_seq = T;
    mc.seed = (uint64_t)seed;
    if (lr == 0) lr = mc.param.param == UMUP_PARAM_UMUP ? 0.5 : mc.param.param == UMUP_PARAM_MUS ? 0.05 : 1.0 / 512;
    oc.lr = lr;
    oc.weight_decay = wd;
    oc.clip_norm = clip;
    if (oc.kind == UMUP_OPT_SGD) oc.momentum = momentum;
    oc.schedule.warmup = warmup < 0 ? nsteps / 10 : (long)warmup;
    oc.schedule.total = nsteps;
    oc.schedule.min_ratio = (float)min_ratio;

    /* data */
    if (data_path) st = umup_dataset_load_file(&ds, data_path, 0.1);
    else st = umup_dataset_from_corpus(&ds, (size_t)corpus_bytes, 1234, 0.1);
    if (st != UMUP_OK) DIE("cannot load data %s: %s", data_path ? data_path : "(embedded corpus)", umup_status_string(st));
    if (ds.n - ds.n_train < (size_t)T + 1) DIE("the validation split (%zu bytes) is shorter than --seq %d + 1", ds.n - ds.n_train, T);

    st = umup_trainer_create(&tr, &mc, &oc, B);
    if (st != UMUP_OK) DIE("invalid configuration: %s", umup_status_string(st));
    if (resume_path) {
        st = umup_trainer_load(tr, resume_path);
        if (st != UMUP_OK) DIE("cannot resume from %s: %s (%s)", resume_path, umup_trainer_error(tr), umup_status_string(st));
    }
    start_step = umup_trainer_optimizer(tr)->step;
    mc = *umup_model_get_config(umup_trainer_model(tr));
    umup_model_memory(umup_trainer_model(tr), &pb, &gb, &ab);
    tty = isatty(STDOUT_FILENO);
    if (!quiet) {
        size_t np = umup_model_num_params(umup_trainer_model(tr)), sb = umup_trainer_state_bytes(tr);
        printf("model: %s, width %d, %d layers, %d heads of %d, SwiGLU x%d, %s norm, %s, dropout %g, %zu parameters\n",
               umup_param_name(mc.param.param), mc.width, mc.layers, mc.heads, mc.head_size, mc.mlp_expansion,
               mc.norm == UMUP_NORM_RMS ? "RMS" : "layer", mc.rope ? "RoPE" : "NoPE", (double)mc.dropout, np);
        printf("fp8: %s%s\n", mc.fp8 == UMUP_FP8_SIM_NONE ? "off (fp32)" : mc.fp8 == UMUP_FP8_SIM_ALL ? "all hidden matmuls" : "u-muP scheme (attention-out and FFN-down in fp32)",
               mc.fp8 == UMUP_FP8_SIM_NONE ? "" : mc.fp8_rounding == UMUP_FP8_RNE ? ", E4M3 fwd / E5M2 bwd, RNE" : ", E4M3 fwd / E5M2 bwd, stochastic rounding");
        printf("optimizer: %s, lr %g, warmup %ld, %s decay to %g, weight decay %g, clip %g; batch %d x %d tokens, %ld steps\n",
               umup_optim_name(oc.kind), oc.lr, oc.schedule.warmup,
               oc.schedule.decay == UMUP_SCHED_COSINE ? "cosine" : oc.schedule.decay == UMUP_SCHED_LINEAR ? "linear" : "no",
               min_ratio, wd, clip, B, T, nsteps);
        printf("memory: parameters %.2f MB + gradients %.2f MB + optimizer state %.2f MB (%.0f bytes per parameter), "
               "activations %.2f MB (%.0f bytes per token)\n",
               pb / 1e6, gb / 1e6, sb / 1e6, (double)(pb + gb + sb) / (double)np, ab / 1e6, (double)ab / ((double)B * T));
        printf("data: %s, %zu bytes (%zu train / %zu validation); unigram entropy %.3f bits/byte = %.3f nats/byte",
               data_path ? data_path : "embedded corpus", ds.n, ds.n_train, ds.n - ds.n_train,
               umup_dataset_unigram_entropy(&ds), umup_dataset_unigram_entropy(&ds) * log(2.0));
        if (!data_path) printf("; the generator's entropy is at most %.3f bits/byte = %.3f nats/byte", ds.choice_bits_per_byte, ds.choice_bits_per_byte * log(2.0));
        printf("\n");
        if (resume_path) printf("resumed from %s at step %ld\n", resume_path, start_step);
        fflush(stdout);
    }
    ids = (int32_t *)malloc(sizeof(int32_t) * (size_t)B * T);
    tg = (int32_t *)malloc(sizeof(int32_t) * (size_t)B * T);
    if (!ids || !tg) DIE("out of memory");
    t0 = now_s();
    for (step = start_step; step < nsteps; step++) {
        float loss = 0;
        umup_dataset_batch(&ds, 0, (uint64_t)seed, step, B, T, ids, tg);
        st = umup_trainer_step(tr, ids, tg, B, T, &loss);
        if (st == UMUP_ERR_NONFINITE) {
            if (!quiet) printf("%sstep %ld: the loss or a gradient is not finite: diverged\n", tty ? "\n" : "", step + 1);
            train_loss = NAN;
            val_loss = NAN;
            break;
        }
        if (st != UMUP_OK) DIE("training step failed: %s", umup_status_string(st));
        loss_acc += loss;
        loss_n++;
        tok_s = (double)(step + 1 - start_step) * B * T / (now_s() - t0);
        if (!quiet && tty) {
            double eta = (double)(nsteps - step - 1) * B * T / tok_s;
            printf("\rstep %6ld/%ld  loss %.4f  %.0f tokens/s  ETA %4.0f s ", step + 1, nsteps, loss, tok_s, eta);
            fflush(stdout);
        }
        if ((step + 1) % (long)eval_interval == 0 || step + 1 == nsteps) {
            double vl = 0;
            int k;
            for (k = 0; k < (int)eval_batches; k++) {
                float l = 0;
                umup_dataset_batch(&ds, 1, 0, k, B, T, ids, tg);
                umup_trainer_eval(tr, ids, tg, B, T, &l);
                vl += l;
            }
            val_loss = vl / eval_batches;
            train_loss = loss_acc / (double)loss_n;
            loss_acc = 0;
            loss_n = 0;
            if (!quiet) {
                printf("%sstep %6ld  train %.4f  val %.4f nats/byte (%.3f bits/byte)  %.0f tokens/s\n", tty ? "\r" : "",
                       step + 1, train_loss, val_loss, val_loss / log(2.0), tok_s);
                fflush(stdout);
            }
        }
    }
    if (save_path) {
        st = umup_trainer_save(tr, save_path);
        if (st != UMUP_OK) DIE("cannot save %s: %s", save_path, umup_trainer_error(tr));
        if (!quiet) printf("saved %s at step %ld\n", save_path, umup_trainer_optimizer(tr)->step);
    }
    if (sample_n > 0 && !quiet && train_loss == train_loss) {
        int np = (int)strlen(prompt), k, n = (int)sample_n;
        int32_t *pr = (int32_t *)malloc(sizeof(int32_t) * (size_t)np), *out = (int32_t *)malloc(sizeof(int32_t) * (size_t)n);
        umup_model *m1 = NULL;
        umup_model_config c1 = mc;
        if (!pr || !out) DIE("out of memory");
        for (k = 0; k < np; k++) pr[k] = (unsigned char)prompt[k];
        /* a batch-1 model sharing the trained weights */
        c1.fp8 = mc.fp8;
        if (umup_model_create(&m1, &c1, 1) != UMUP_OK) DIE("cannot create the sampling model");
        memcpy(umup_model_params(m1), umup_model_params(umup_trainer_model(tr)), umup_model_num_params(m1) * sizeof(float));
        st = umup_model_sample(m1, pr, np, n, (float)temperature, (int)top_k, (uint64_t)seed, out);
        if (st != UMUP_OK) DIE("sampling failed: %s", umup_status_string(st));
        printf("sample (temperature %g): %s", temperature, prompt);
        for (k = 0; k < n; k++) putchar(out[k] >= 32 && out[k] < 127 ? out[k] : out[k] == '\n' ? '\n' : '?');
        printf("\n");
        umup_model_destroy(m1);
        free(pr);
        free(out);
    }
    printf("done steps=%ld train_loss=%.4f val_loss=%.4f tokens_per_s=%.0f\n", umup_trainer_optimizer(tr)->step, train_loss,
           val_loss, tok_s);
    free(ids);
    free(tg);
    umup_trainer_destroy(tr);
    umup_dataset_free(&ds);
    return train_loss == train_loss ? 0 : 3;
}
