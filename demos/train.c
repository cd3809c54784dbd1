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
#include "train_args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f) {
    fprintf(f, "usage: train [options]\n%s", train_args_usage);
    fprintf(f,
        "checkpoints and sampling:\n"
        "  --save PATH          write a safetensors checkpoint at the end (atomically)\n"
        "  --resume PATH        continue from a checkpoint (same settings required)\n"
        "  --sample N           generate N bytes at the end (default 200; 0 = none)\n"
        "  --prompt STR         sampling prompt (default \"the \")\n"
        "  --temperature T      (default 0.8)   --top-k K (default 0 = all)\n"
        "other:\n"
        "  --dry-run            check the flags and the configuration, print it, and exit (0 if valid)\n"
        "  --quiet              only the final line\n"
        "  --help\n");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define DIE(...) do { fprintf(stderr, "train: " __VA_ARGS__); fputc('\n', stderr); exit(1); } while (0)

int main(int argc, char **argv) {
    train_args ta;
    umup_model_config mc;
    umup_optim_config oc;
    umup_trainer *tr = NULL;
    umup_dataset ds;
    umup_status st;
    const char *save_path = NULL, *resume_path = NULL, *prompt = "the ";
    double sample_n = 200, temperature = 0.8, top_k = 0, seed, eval_interval, eval_batches, min_ratio, wd, clip;
    int quiet = 0, dry_run = 0, i, B, T, tty;
    long step, nsteps;
    int32_t *ids, *tg;
    double t0, tok_s = 0, train_loss = NAN, val_loss = NAN, loss_acc = 0;
    long loss_n = 0, start_step;
    size_t pb, gb, ab;

    train_args_init(&ta);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1, r;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        if (!strcmp(a, "--quiet")) { quiet = 1; continue; }
        if (!strcmp(a, "--dry-run")) { dry_run = 1; continue; }
        r = train_args_parse(&ta, argc, argv, &i, "train");
        if (r < 0) { usage(stderr); return 2; }
        if (r > 0) continue;
        if (strncmp(a, "--", 2)) { fprintf(stderr, "train: unexpected argument '%s'\n", a); usage(stderr); return 2; }
        if (strcmp(a, "--save") && strcmp(a, "--resume") && strcmp(a, "--sample") && strcmp(a, "--prompt") &&
            strcmp(a, "--temperature") && strcmp(a, "--top-k")) {
            fprintf(stderr, "train: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        if (!v) { fprintf(stderr, "train: %s needs a value\n", a); usage(stderr); return 2; }
        i++;
        if (!strcmp(a, "--save")) save_path = v;
        else if (!strcmp(a, "--resume")) resume_path = v;
        else if (!strcmp(a, "--sample")) ok = train_args_num(v, 0, 1e6, &sample_n);
        else if (!strcmp(a, "--prompt")) { prompt = v; ok = v[0] != 0; }
        else if (!strcmp(a, "--temperature")) ok = train_args_num(v, 0, 100, &temperature);
        else ok = train_args_num(v, 0, 1e6, &top_k);
        if (!ok) { fprintf(stderr, "train: bad value '%s' for %s\n", v, a); usage(stderr); return 2; }
    }
    train_args_finish(&ta);
    mc = ta.mc;
    oc = ta.oc;
    B = (int)ta.batch;
    T = (int)ta.seq;
    nsteps = (long)ta.steps;
    seed = ta.seed;
    eval_interval = ta.eval_interval;
    eval_batches = ta.eval_batches;
    min_ratio = ta.min_ratio;
    wd = ta.wd;
    clip = ta.clip;
    if (dry_run) {
        umup_model *m0 = NULL;
        umup_model_config c0 = mc;
        c0.max_seq = 1; /* validate the configuration without allocating a full batch */
        st = umup_model_create(&m0, &c0, 1);
        if (st != UMUP_OK) DIE("invalid configuration: %s", umup_status_string(st));
        umup_model_destroy(m0);
        if (ta.data_path) {
            FILE *fp = fopen(ta.data_path, "rb");
            if (!fp) DIE("cannot load data %s: %s", ta.data_path, umup_status_string(UMUP_ERR_IO));
            fclose(fp);
        }
        printf("configuration ok: %s width %d layers %d lr %g steps %ld batch %d seq %d\n", umup_param_name(mc.param.param),
               mc.width, mc.layers, oc.lr, nsteps, B, T);
        return 0;
    }

    /* data */
    st = train_args_dataset(&ta, &ds);
    if (st != UMUP_OK) DIE("cannot load data %s: %s", ta.data_path ? ta.data_path : "(embedded corpus)", umup_status_string(st));
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
               ta.data_path ? ta.data_path : "embedded corpus", ds.n, ds.n_train, ds.n - ds.n_train,
               umup_dataset_unigram_entropy(&ds), umup_dataset_unigram_entropy(&ds) * log(2.0));
        if (!ta.data_path) printf("; the generator's entropy is at most %.3f bits/byte = %.3f nats/byte", ds.choice_bits_per_byte, ds.choice_bits_per_byte * log(2.0));
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
            val_loss = train_args_eval(tr, &ds, (int)eval_batches, B, T, ids, tg);
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
