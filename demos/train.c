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

#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* train's own flags (the shared ones are in train_args.h) */
typedef struct {
    const char *save, *resume, *prompt;
    int sample, top_k, dry_run, quiet;
    double temperature;
} train_opts;

#define TO(f) offsetof(train_opts, f)
static const ta_flag train_flags[] = {
    {"--save", NULL, "PATH", TA_STRING, TO(save), 0, 0, NULL, "write a safetensors checkpoint at the end (atomically)", "none", "checkpoints and sampling"},
    {"--resume", NULL, "PATH", TA_STRING, TO(resume), 0, 0, NULL, "continue from a checkpoint (same settings required)", "none", "checkpoints and sampling"},
    {"--sample", NULL, "N", TA_INT, TO(sample), 0, 1e6, NULL, "generate N bytes at the end (0 = none)", NULL, "checkpoints and sampling"},
    {"--prompt", NULL, "STR", TA_STRING, TO(prompt), 0, 0, NULL, "sampling prompt", NULL, "checkpoints and sampling"},
    {"--temperature", NULL, "T", TA_DOUBLE, TO(temperature), 0, 100, NULL, "sampling temperature", NULL, "checkpoints and sampling"},
    {"--top-k", NULL, "K", TA_INT, TO(top_k), 0, 1e6, NULL, "sample among the K most likely (0 = all)", NULL, "checkpoints and sampling"},
    {"--dry-run", NULL, NULL, TA_SWITCH, TO(dry_run), 0, 0, NULL, "check the flags and the configuration, print it and the memory it needs, exit (0 if valid)", NULL, "other"},
    {"--quiet", NULL, NULL, TA_SWITCH, TO(quiet), 0, 0, NULL, "only the final line", NULL, "other"},
};
#undef TO

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define DIE(...) do { fprintf(stderr, "train: " __VA_ARGS__); fputc('\n', stderr); exit(1); } while (0)

/* Bytes of physical memory, or 0 when unknown. */
static double physical_memory(void) {
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && size > 0 ? (double)pages * (double)size : 0.0;
}

/* --dry-run: validate without allocating the model, report what the run needs, refuse what cannot be
 * allocated. Returns the exit status. */
static int dry_run(const train_args *ta) {
    size_t pb = 0, gb = 0, ab = 0, n;
    double total, phys = physical_memory();
    umup_status st = umup_model_memory_needed(&ta->mc, ta->batch, &pb, &gb, &ab);
    if (st == UMUP_ERR_NOMEM) {
        fprintf(stderr, "train: this configuration needs more memory than can be addressed (its sizes overflow)\n");
        return 1;
    }
    if (st != UMUP_OK) { fprintf(stderr, "train: invalid configuration: %s\n", umup_status_string(st)); return 1; }
    if (ta->data_path) {
        FILE *fp = fopen(ta->data_path, "rb");
        if (!fp) { fprintf(stderr, "train: cannot load data %s: %s\n", ta->data_path, umup_status_string(UMUP_ERR_IO)); return 1; }
        fclose(fp);
    }
    n = pb / sizeof(float);
    total = (double)pb + (double)gb + (double)ab + (double)umup_optim_state_size(ta->oc.kind, n) * sizeof(float);
    printf("configuration ok: %s width %d layers %d lr %g steps %ld batch %d seq %d\n",
           umup_param_name(ta->mc.param.param), ta->mc.width, ta->mc.layers, ta->oc.lr, ta->steps, ta->batch, ta->seq);
    printf("memory: parameters %.3g MB, gradients %.3g MB, optimizer state %.3g MB, activations %.3g MB: %.3g GB in all\n",
           pb / 1e6, gb / 1e6, (double)umup_optim_state_size(ta->oc.kind, n) * 4 / 1e6, ab / 1e6, total / 1e9);
    if (phys > 0 && total > phys) {
        fprintf(stderr, "train: the run needs %.3g GB, more than this machine's %.3g GB of memory\n", total / 1e9, phys / 1e9);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    train_args ta;
    train_opts o;
    umup_trainer *tr = NULL;
    umup_dataset ds;
    umup_status st;
    int B, T, tty, r;
    long step, nsteps;
    int32_t *ids, *tg;
    double t0, tok_s = 0, train_loss = NAN, val_loss = NAN, loss_acc = 0;
    long loss_n = 0, start_step;
    size_t pb = 0, gb = 0, ab = 0;
    const umup_model_config *mc;
    const umup_optim_config *oc;

    train_args_init(&ta);
    memset(&o, 0, sizeof o);
    o.sample = 200;
    o.prompt = "the ";
    o.temperature = 0.8;
    r = train_args_parse(&ta, argc, argv, "train", "usage: train [options]\n", train_flags,
                         (int)(sizeof train_flags / sizeof train_flags[0]), &o);
    if (r) return r == 1 ? 0 : 2;
    train_args_finish(&ta);
    if (o.dry_run) return dry_run(&ta);
    B = ta.batch;
    T = ta.seq;
    nsteps = ta.steps;

    /* data */
    st = train_args_dataset(&ta, &ds);
    if (st != UMUP_OK) DIE("cannot load data %s: %s", ta.data_path ? ta.data_path : "(embedded corpus)", umup_status_string(st));
    if (ds.n - ds.n_train < (size_t)T + 1) DIE("the validation split (%zu bytes) is shorter than --seq %d + 1", ds.n - ds.n_train, T);

    st = umup_trainer_create(&tr, &ta.mc, &ta.oc, B);
    if (st != UMUP_OK) DIE("invalid configuration: %s", umup_status_string(st));
    if (o.resume) {
        st = umup_trainer_load(tr, o.resume);
        if (st != UMUP_OK) DIE("cannot resume from %s: %s (%s)", o.resume, umup_trainer_error(tr), umup_status_string(st));
    }
    start_step = umup_trainer_optimizer(tr)->step;
    mc = umup_model_get_config(umup_trainer_model(tr));          /* resolved */
    oc = &umup_trainer_optimizer(tr)->cfg;
    umup_model_memory(umup_trainer_model(tr), &pb, &gb, &ab);
    tty = isatty(STDOUT_FILENO);
    if (!o.quiet) {
        size_t np = umup_model_num_params(umup_trainer_model(tr)), sb = umup_trainer_state_bytes(tr);
        printf("model: %s, width %d, %d layers, %d heads of %d, SwiGLU x%d, %s norm, %s, dropout %g, %zu parameters\n",
               umup_param_name(mc->param.param), mc->width, mc->layers, mc->heads, mc->head_size, mc->mlp_expansion,
               mc->norm == UMUP_NORM_RMS ? "RMS" : "layer", mc->rope ? "RoPE" : "NoPE", (double)mc->dropout, np);
        printf("fp8: %s%s\n", mc->fp8 == UMUP_FP8_SIM_NONE ? "off (fp32)" : mc->fp8 == UMUP_FP8_SIM_ALL ? "all hidden matmuls" : "u-muP scheme (attention-out and FFN-down in fp32)",
               mc->fp8 == UMUP_FP8_SIM_NONE ? "" : mc->fp8_rounding == UMUP_FP8_RNE ? ", E4M3 fwd / E5M2 bwd, RNE" : ", E4M3 fwd / E5M2 bwd, stochastic rounding");
        printf("optimizer: %s, lr %g, warmup %ld, %s decay to %g, weight decay %g, clip %g; batch %d x %d tokens, %ld steps\n",
               umup_optim_name(oc->kind), oc->lr, oc->schedule.warmup,
               oc->schedule.decay == UMUP_SCHED_COSINE ? "cosine" : oc->schedule.decay == UMUP_SCHED_LINEAR ? "linear" : "no",
               (double)oc->schedule.min_ratio, oc->weight_decay, oc->clip_norm, B, T, nsteps);
        printf("memory: parameters %.2f MB + gradients %.2f MB + optimizer state %.2f MB (%.0f bytes per parameter), "
               "activations %.2f MB (%.0f bytes per token)\n",
               pb / 1e6, gb / 1e6, sb / 1e6, (double)(pb + gb + sb) / (double)np, ab / 1e6, (double)ab / ((double)B * T));
        printf("data: %s, %zu bytes (%zu train / %zu validation); unigram entropy %.3f bits/byte = %.3f nats/byte",
               ta.data_path ? ta.data_path : "embedded corpus", ds.n, ds.n_train, ds.n - ds.n_train,
               umup_dataset_unigram_entropy(&ds), umup_dataset_unigram_entropy(&ds) * log(2.0));
        if (!ta.data_path) printf("; the generator's entropy is at most %.3f bits/byte = %.3f nats/byte", ds.choice_bits_per_byte, ds.choice_bits_per_byte * log(2.0));
        printf("\n");
        if (o.resume) printf("resumed from %s at step %ld\n", o.resume, start_step);
        fflush(stdout);
    }
    ids = (int32_t *)malloc(sizeof(int32_t) * (size_t)B * T);
    tg = (int32_t *)malloc(sizeof(int32_t) * (size_t)B * T);
    if (!ids || !tg) DIE("out of memory");
    t0 = now_s();
    for (step = start_step; step < nsteps; step++) {
        float loss = 0;
        umup_dataset_batch(&ds, 0, ta.mc.seed, step, B, T, ids, tg);
        st = umup_trainer_step(tr, ids, tg, B, T, &loss);
        if (st == UMUP_ERR_NONFINITE) {
            if (!o.quiet) printf("%sstep %ld: the loss or a gradient is not finite: diverged\n", tty ? "\n" : "", step + 1);
            train_loss = NAN;
            val_loss = NAN;
            break;
        }
        if (st != UMUP_OK) DIE("training step failed: %s", umup_status_string(st));
        loss_acc += loss;
        loss_n++;
        tok_s = (double)(step + 1 - start_step) * B * T / (now_s() - t0);
        if (!o.quiet && tty) {
            double eta = (double)(nsteps - step - 1) * B * T / tok_s;
            printf("\rstep %6ld/%ld  loss %.4f  %.0f tokens/s  ETA %4.0f s ", step + 1, nsteps, loss, tok_s, eta);
            fflush(stdout);
        }
        if ((step + 1) % ta.eval_interval == 0 || step + 1 == nsteps) {
            val_loss = train_args_eval(tr, &ds, ta.eval_batches, B, T, ids, tg);
            train_loss = loss_acc / (double)loss_n;
            loss_acc = 0;
            loss_n = 0;
            if (!o.quiet) {
                printf("%sstep %6ld  train %.4f  val %.4f nats/byte (%.3f bits/byte)  %.0f tokens/s\n", tty ? "\r" : "",
                       step + 1, train_loss, val_loss, val_loss / log(2.0), tok_s);
                fflush(stdout);
            }
        }
    }
    if (o.save) {
        st = umup_trainer_save(tr, o.save);
        if (st != UMUP_OK) DIE("cannot save %s: %s", o.save, umup_trainer_error(tr));
        if (!o.quiet) printf("saved %s at step %ld\n", o.save, umup_trainer_optimizer(tr)->step);
    }
    if (o.sample > 0 && !o.quiet && train_loss == train_loss) {
        int np = (int)strlen(o.prompt), k, n = o.sample;
        int32_t *pr = (int32_t *)malloc(sizeof(int32_t) * (size_t)np), *out = (int32_t *)malloc(sizeof(int32_t) * (size_t)n);
        umup_model *m1 = NULL;
        if (!pr || !out) DIE("out of memory");
        for (k = 0; k < np; k++) pr[k] = (unsigned char)o.prompt[k];
        /* a batch-1 model sharing the trained weights */
        if (umup_model_create(&m1, mc, 1) != UMUP_OK) DIE("cannot create the sampling model");
        memcpy(umup_model_params(m1), umup_model_params(umup_trainer_model(tr)), umup_model_num_params(m1) * sizeof(float));
        st = umup_model_sample(m1, pr, np, n, (float)o.temperature, o.top_k, ta.mc.seed, out);
        if (st != UMUP_OK) DIE("sampling failed: %s", umup_status_string(st));
        printf("sample (temperature %g): %s", o.temperature, o.prompt);
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
