/* demos/train.c - train a small decoder-only transformer with umup.h.
 *
 *   ./build/train                               u-muP, simulated FP8 (u-muP scheme, SR), embedded corpus
 *   ./build/train --param sp --fp8 none --lr 3e-3 --width 128 --steps 2000
 *   ./build/train --data input.txt --save run.safetensors --sample 300 --prompt "the "
 *   ./build/train --steps 2000 --save run.safetensors --save-every 500 --keep 2
 *   ./build/train --steps 4000 --resume run.safetensors        (continues to 4000 steps)
 *   ./build/train --init-from run.safetensors --eval-only      (evaluates a checkpoint)
 *
 * The first and the last line are machine-readable (also with --quiet, which prints only these):
 *   config steps=<n> batch=<b> ... (every setting that changes the result: train_args_config_line)
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

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define DIE(...) do { fprintf(stderr, "train: " __VA_ARGS__); fputc('\n', stderr); exit(1); } while (0)

/* The periodic checkpoint of step: "<save path without .safetensors>.step<8 digits>.safetensors"
 * (malloc'd; NULL when out of memory). */
static char *ckpt_step_path(const char *save_path, long step) {
    size_t n = strlen(save_path), ext = strlen(".safetensors");
    char *p = (char *)malloc(n + 40);
    if (!p) return NULL;
    if (n > ext && !strcmp(save_path + n - ext, ".safetensors")) n -= ext;
    snprintf(p, n + 40, "%.*s.step%08ld.safetensors", (int)n, save_path, step);
    return p;
}

/* The periodic checkpoints this run wrote, oldest first; only the newest `keep` stay (0: all). */
typedef struct { char *path[64]; int n; } ckpt_series;

static void ckpt_periodic(umup_trainer *tr, const char *save_path, long step, int keep, ckpt_series *s, int quiet) {
    char *p = ckpt_step_path(save_path, step);
    if (!p) DIE("out of memory");
    if (umup_trainer_save(tr, p) != UMUP_OK) { /* the previous checkpoints are intact: report and go on */
        fprintf(stderr, "train: cannot save %s (training goes on): %s\n", p, umup_trainer_error(tr));
        free(p);
        return;
    }
    if (!quiet) printf("saved %s\n", p);
    if (s->n == 64) { free(s->path[0]); memmove(s->path, s->path + 1, 63 * sizeof(char *)); s->n--; }
    s->path[s->n++] = p;
    while (keep > 0 && s->n > keep) {
        if (remove(s->path[0]) != 0) fprintf(stderr, "train: cannot remove the old checkpoint %s\n", s->path[0]);
        free(s->path[0]);
        memmove(s->path, s->path + 1, (size_t)(s->n - 1) * sizeof(char *));
        s->n--;
    }
}

/* Mean loss of the training batches of steps 0 .. nb-1 (what --eval-only reports as train_loss). */
static double eval_train_split(umup_trainer *tr, const umup_dataset *ds, uint64_t seed, int nb, int B, int T, int32_t *ids,
                               int32_t *tg) {
    double sum = 0;
    int k;
    for (k = 0; k < nb; k++) {
        float l = 0;
        umup_dataset_batch(ds, 0, seed, k, B, T, ids, tg);
        if (umup_trainer_eval(tr, ids, tg, B, T, &l) != UMUP_OK) return NAN;
        sum += l;
    }
    return sum / nb;
}

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
    if (st != UMUP_OK) { fprintf(stderr, "train: invalid configuration: %s\n", train_args_why(&ta->mc, st)); return 1; }
    if (ta->data_path) { /* the loader's own check: a regular file of at least 1024 bytes (a FIFO never blocks) */
        size_t bytes = 0;
        const char *why = NULL;
        st = umup_dataset_check_file(ta->data_path, &bytes, &why);
        if (st != UMUP_OK) {
            fprintf(stderr, "train: cannot load data %s: it %s (%s)\n", ta->data_path, why ? why : "cannot be read",
                    umup_status_string(st));
            return 1;
        }
        if (bytes / 10 < (size_t)ta->seq + 1) {
            fprintf(stderr, "train: the validation split of %s (%zu bytes) is shorter than --seq %d + 1\n", ta->data_path,
                    bytes / 10, ta->seq);
            return 1;
        }
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
    int B, T, tty, r, diverged = 0, i;
    ckpt_series series;
    long step, nsteps;
    int32_t *ids, *tg;
    double t0, tok_s = 0, train_loss = NAN, val_loss = NAN, loss_acc = 0;
    long loss_n = 0, start_step;
    size_t pb = 0, gb = 0, ab = 0;
    const umup_model_config *mc;
    const umup_optim_config *oc;

    train_args_init(&ta);
    train_opts_init(&o);
    r = train_args_parse(&ta, argc, argv, "train", "usage: train [options]\n", train_opts_flags, TRAIN_OPTS_NFLAGS, &o);
    if (r) return r == 1 ? 0 : 2;
    train_args_finish(&ta);
    if (o.save_every > 0 && !o.save) { fprintf(stderr, "train: --save-every needs --save PATH\n"); return 2; }
    if (o.resume && o.init_from) { fprintf(stderr, "train: --resume and --init-from exclude each other\n"); return 2; }
    if (o.resume && !train_args_given(&ta, "--warmup")) {
        /* the default warmup (a fraction of --steps) would change with a longer run: keep the run's own */
        umup_checkpoint_meta info;
        char err[512];
        if (umup_checkpoint_info(o.resume, &info, err, sizeof err) != UMUP_OK) DIE("cannot resume from %s: %s", o.resume, err);
        if (info.has_config) ta.oc.schedule.warmup = info.optim.schedule.warmup;
    }
    if (o.save) { /* an unusable path fails now, not after the training */
        char err[512], *first = NULL;
        st = umup_checkpoint_check_writable(o.save, err, sizeof err);
        if (st == UMUP_OK && o.save_every > 0 && (first = ckpt_step_path(o.save, o.save_every)) != NULL)
            st = umup_checkpoint_check_writable(first, err, sizeof err);
        free(first);
        if (st != UMUP_OK) DIE("cannot save to %s: %s", o.save, err);
    }
    {   /* the first line, even with --quiet: what lr_sweep --collect checks a log against */
        char line[2048];
        train_args_config_line(&ta, line, sizeof line);
        printf("config %s\n", line);
        fflush(stdout);
    }
    if (o.dry_run) return dry_run(&ta);
    B = ta.batch;
    T = ta.seq;
    nsteps = ta.steps;

    /* data */
    st = train_args_dataset(&ta, &ds);
    if (st != UMUP_OK)
        DIE("cannot load data %s: %s%s%s", ta.data_path ? ta.data_path : "(embedded corpus)", ds.error ? "it " : "",
            ds.error ? ds.error : "", ds.error ? "" : umup_status_string(st));
    if (ds.n - ds.n_train < (size_t)T + 1) DIE("the validation split (%zu bytes) is shorter than --seq %d + 1", ds.n - ds.n_train, T);

    st = umup_trainer_create(&tr, &ta.mc, &ta.oc, B);
    if (st != UMUP_OK) DIE("invalid configuration: %s", train_args_why(&ta.mc, st));
    {   /* what a bit-exact resume needs beyond the model and optimizer settings */
        char v[128];
        snprintf(v, sizeof v, "%d", B);
        umup_trainer_set_run_info(tr, "batch", v);
        snprintf(v, sizeof v, "%d", T);
        umup_trainer_set_run_info(tr, "seq", v);
        if (ta.data_path) snprintf(v, sizeof v, "%.100s (%zu bytes)", ta.data_path, ds.n);
        else snprintf(v, sizeof v, "embedded corpus (%zu bytes)", ds.n);
        umup_trainer_set_run_info(tr, "data", v);
    }
    if (o.resume) {
        st = umup_trainer_load(tr, o.resume);
        if (st != UMUP_OK) DIE("cannot resume from %s (%s): %s", o.resume, umup_status_string(st), umup_trainer_error(tr));
    } else if (o.init_from) {
        st = umup_trainer_load_weights(tr, o.init_from);
        if (st != UMUP_OK) DIE("cannot initialise from %s (%s): %s", o.init_from, umup_status_string(st), umup_trainer_error(tr));
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
        if (o.resume) printf("resumed from %s at step %ld of %ld\n", o.resume, start_step, nsteps);
        if (o.init_from) printf("weights from %s; a new optimizer from step 0\n", o.init_from);
        fflush(stdout);
    }
    ids = (int32_t *)malloc(sizeof(int32_t) * (size_t)B * T);
    tg = (int32_t *)malloc(sizeof(int32_t) * (size_t)B * T);
    if (!ids || !tg) DIE("out of memory");
    memset(&series, 0, sizeof series);
    t0 = now_s();
    for (step = start_step; step < (o.eval_only ? start_step : nsteps); step++) {
        float loss = 0;
        umup_dataset_batch(&ds, 0, ta.mc.seed, step, B, T, ids, tg);
        st = umup_trainer_step(tr, ids, tg, B, T, &loss);
        if (st == UMUP_ERR_NONFINITE) {
            if (!o.quiet) printf("%sstep %ld: the loss or a gradient is not finite: diverged\n", tty ? "\n" : "", step + 1);
            train_loss = NAN;
            val_loss = NAN;
            diverged = 1;
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
        if (o.save_every > 0 && (step + 1) % o.save_every == 0) ckpt_periodic(tr, o.save, step + 1, o.keep, &series, o.quiet);
    }
    if (!diverged && loss_n == 0 && train_loss != train_loss) { /* nothing trained: --eval-only, or at --steps already */
        if (!o.quiet && !o.eval_only) printf("nothing to train: the model is at step %ld of %ld\n", start_step, nsteps);
        val_loss = train_args_eval(tr, &ds, ta.eval_batches, B, T, ids, tg);
        train_loss = eval_train_split(tr, &ds, ta.mc.seed, ta.eval_batches, B, T, ids, tg);
        if (!o.quiet)
            printf("step %6ld  train %.4f  val %.4f nats/byte (%.3f bits/byte)  (evaluation)\n", start_step, train_loss, val_loss,
                   val_loss / log(2.0));
    }
    for (i = 0; i < series.n; i++) free(series.path[i]);
    if (o.save && !o.eval_only) {
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
