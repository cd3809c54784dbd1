/* demos/train.c - train a small decoder-only transformer with umup.h.
 *
 *   ./build/train                               u-muP, simulated FP8 (u-muP scheme, SR), embedded corpus
 *   ./build/train --param sp --fp8 none --lr 3e-3 --width 128 --steps 2000
 *   ./build/train --data input.txt --save run.safetensors --sample 300 --prompt "the "
 *   ./build/train --steps 2000 --save run.safetensors --save-every 500 --keep 2
 *   ./build/train --steps 4000 --resume run.safetensors        (continues to 4000 steps)
 *   ./build/train --init-from run.safetensors --eval-only      (evaluates a checkpoint)
 *   ./build/gpu/train --device cuda --precision bf16           (the device trainer; built by make CUDA=1)
 *
 * The last line is machine-readable:
 *   done steps=<n> train_loss=<x> val_loss=<y> tokens_per_s=<z>
 * Losses are in nats per byte (the corpus entropies are printed in bits and nats). */
#define _POSIX_C_SOURCE 200809L
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "train_args.h"
#ifdef UMUP_TRAIN_CUDA /* the build with the device trainer (make CUDA=1: build/gpu/train) */
#include "umup_cuda.h"
#endif

#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* train's own flags (the shared ones are in train_args.h) */
typedef struct {
    const char *save, *resume, *init_from, *prompt;
    long save_every;
    int keep, eval_only, sample, top_k, dry_run, quiet;
    int device, precision;
    double temperature;
} train_opts;

#define TO(f) offsetof(train_opts, f)
static const ta_flag train_flags[] = {
    {"--save", NULL, "PATH", TA_STRING, TO(save), 0, 0, NULL, "write a full checkpoint at the end (atomically; PATH is checked before training)", "none", "checkpoints and sampling"},
    {"--save-every", NULL, "N", TA_LONG, TO(save_every), 1, 1e9, NULL, "also every N steps, to <PATH without .safetensors>.step<N>.safetensors", "none", "checkpoints and sampling"},
    {"--keep", NULL, "K", TA_INT, TO(keep), 0, 1e6, NULL, "keep the newest K of the checkpoints --save-every wrote (0 = all)", NULL, "checkpoints and sampling"},
    {"--resume", NULL, "PATH", TA_STRING, TO(resume), 0, 0, NULL, "continue a run from a full checkpoint: the same flags, but --steps may grow (README: Checkpoints)", "none", "checkpoints and sampling"},
    {"--init-from", NULL, "PATH", TA_STRING, TO(init_from), 0, 0, NULL, "start from a checkpoint's weights: step 0, a new optimizer (fine-tuning)", "none", "checkpoints and sampling"},
    {"--eval-only", NULL, NULL, TA_SWITCH, TO(eval_only), 0, 0, NULL, "evaluate the model (after --resume or --init-from) and exit", NULL, "checkpoints and sampling"},
    {"--sample", NULL, "N", TA_INT, TO(sample), 0, 1e6, NULL, "generate N bytes at the end (0 = none)", NULL, "checkpoints and sampling"},
    {"--prompt", NULL, "STR", TA_STRING, TO(prompt), 0, 0, NULL, "sampling prompt", NULL, "checkpoints and sampling"},
    {"--temperature", NULL, "T", TA_DOUBLE, TO(temperature), 0, 100, NULL, "sampling temperature", NULL, "checkpoints and sampling"},
    {"--top-k", NULL, "K", TA_INT, TO(top_k), 0, 1e6, NULL, "sample among the K most likely (0 = all)", NULL, "checkpoints and sampling"},
    {"--device", NULL, NULL, TA_CHOICE, TO(device), 0, 0, "cpu|cuda|cuda-emulated", "train on the CPU, or on the GPU with the device trainer (the build of make CUDA=1: build/gpu/train); cuda-emulated runs the device trainer's kernels on the host (slow: a check without a GPU)", NULL, "device"},
    {"--precision", NULL, NULL, TA_CHOICE, TO(precision), 0, 0, "fp32|tf32|bf16|fp8", "--device cuda: the matmuls' precision (fp8: the layers --fp8 casts as real FP8 products, sm_89+)", NULL, "device"},
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

/* The run: the CPU trainer, or the device trainer with its host trainer (settings, checkpoints,
 * sampling: umup_cuda_trainer_to_host / _from_host move the state between them). */
typedef struct {
    umup_trainer *tr;
#ifdef UMUP_TRAIN_CUDA
    umup_cuda_trainer *gpu;
#endif
} run_t;

#ifdef UMUP_TRAIN_CUDA
#define ON_GPU(r) ((r)->gpu != NULL)
#define GPU_OR_CPU(r, gpu_call, cpu_call) (ON_GPU(r) ? (gpu_call) : (cpu_call))
#else
#define GPU_OR_CPU(r, gpu_call, cpu_call) (cpu_call)
#endif

static umup_status run_step(run_t *r, const int32_t *ids, const int32_t *tg, int B, int T, float *loss) {
    return GPU_OR_CPU(r, umup_cuda_trainer_step(r->gpu, ids, tg, B, T, loss), umup_trainer_step(r->tr, ids, tg, B, T, loss));
}
static umup_status run_eval(run_t *r, const int32_t *ids, const int32_t *tg, int B, int T, float *loss) {
    return GPU_OR_CPU(r, umup_cuda_trainer_eval(r->gpu, ids, tg, B, T, loss), umup_trainer_eval(r->tr, ids, tg, B, T, loss));
}
static umup_status run_save(run_t *r, const char *path) {
    return GPU_OR_CPU(r, umup_cuda_trainer_save(r->gpu, path), umup_trainer_save(r->tr, path));
}
static const char *run_error(run_t *r) { return GPU_OR_CPU(r, umup_cuda_trainer_error(r->gpu), umup_trainer_error(r->tr)); }
static long run_steps(run_t *r) { return GPU_OR_CPU(r, umup_cuda_trainer_step_count(r->gpu), umup_trainer_optimizer(r->tr)->step); }
/* after the host trainer was loaded: the device takes its state */
static umup_status run_loaded(run_t *r) {
#ifdef UMUP_TRAIN_CUDA
    if (ON_GPU(r)) return umup_cuda_trainer_from_host(r->gpu);
#endif
    (void)r;
    return UMUP_OK;
}

/* mean validation loss over nb batches (train_args_eval for either trainer) */
static double run_val(run_t *r, const umup_dataset *ds, int nb, int B, int T, int32_t *ids, int32_t *tg) {
    double vl = 0;
    int k;
    for (k = 0; k < nb; k++) {
        float l = 0;
        umup_dataset_batch(ds, 1, 0, k, B, T, ids, tg);
        run_eval(r, ids, tg, B, T, &l);
        vl += l;
    }
    return vl / nb;
}

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

static void ckpt_periodic(run_t *run, const char *save_path, long step, int keep, ckpt_series *s, int quiet) {
    char *p = ckpt_step_path(save_path, step);
    if (!p) DIE("out of memory");
    if (run_save(run, p) != UMUP_OK) { /* the previous checkpoints are intact: report and go on */
        fprintf(stderr, "train: cannot save %s (training goes on): %s\n", p, run_error(run));
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
static double eval_train_split(run_t *run, const umup_dataset *ds, uint64_t seed, int nb, int B, int T, int32_t *ids,
                               int32_t *tg) {
    double sum = 0;
    int k;
    for (k = 0; k < nb; k++) {
        float l = 0;
        umup_dataset_batch(ds, 0, seed, k, B, T, ids, tg);
        if (run_eval(run, ids, tg, B, T, &l) != UMUP_OK) return NAN;
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
    run_t run;
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
    memset(&o, 0, sizeof o);
    o.sample = 200;
    o.prompt = "the ";
    o.temperature = 0.8;
    o.keep = 3;
    r = train_args_parse(&ta, argc, argv, "train", "usage: train [options]\n", train_flags,
                         (int)(sizeof train_flags / sizeof train_flags[0]), &o);
    if (r) return r == 1 ? 0 : 2;
    train_args_finish(&ta);
#ifndef UMUP_TRAIN_CUDA
    if (o.device != 0) {
        fprintf(stderr, "train: --device cuda is not available in this build, which has no CUDA: build with `make CUDA=1` "
                        "(nvcc and an NVIDIA GPU) and run build/gpu/train\n");
        return 2;
    }
#endif
    if (o.precision != 0 && o.device == 0) {
        fprintf(stderr, "train: --precision applies to --device cuda only\n");
        return 2;
    }
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
    if (o.dry_run) return dry_run(&ta);
    B = ta.batch;
    T = ta.seq;
    nsteps = ta.steps;

    /* data */
    st = train_args_dataset(&ta, &ds);
    if (st != UMUP_OK) DIE("cannot load data %s: %s", ta.data_path ? ta.data_path : "(embedded corpus)", umup_status_string(st));
    if (ds.n - ds.n_train < (size_t)T + 1) DIE("the validation split (%zu bytes) is shorter than --seq %d + 1", ds.n - ds.n_train, T);

    memset(&run, 0, sizeof run);
#ifdef UMUP_TRAIN_CUDA
    if (o.device != 0) {
        umup_cuda_trainer_config cc;
        memset(&cc, 0, sizeof cc);
        cc.precision = (umup_cuda_precision)o.precision;
        cc.emulate = o.device == 2;
        st = umup_cuda_trainer_create(&run.gpu, &ta.mc, &ta.oc, B, &cc);
        if (st != UMUP_OK) DIE("cannot create the device trainer: %s (%s)", umup_cuda_trainer_error(NULL), umup_status_string(st));
        run.tr = umup_cuda_trainer_host(run.gpu);
    }
#endif
    if (!run.tr) {
        st = umup_trainer_create(&run.tr, &ta.mc, &ta.oc, B);
        if (st != UMUP_OK) DIE("invalid configuration: %s", train_args_why(&ta.mc, st));
    }
    tr = run.tr; /* the CPU trainer, or the device trainer's host trainer */
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
        if (st == UMUP_OK) st = run_loaded(&run);
        if (st != UMUP_OK) DIE("cannot resume from %s (%s): %s", o.resume, umup_status_string(st), run_error(&run));
    } else if (o.init_from) {
        st = umup_trainer_load_weights(tr, o.init_from);
        if (st == UMUP_OK) st = run_loaded(&run);
        if (st != UMUP_OK) DIE("cannot initialise from %s (%s): %s", o.init_from, umup_status_string(st), run_error(&run));
    }
    start_step = run_steps(&run);
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
        if (!GPU_OR_CPU(&run, 1, 0)) /* the device trainer's memory is on the device line below */
            printf("memory: parameters %.2f MB + gradients %.2f MB + optimizer state %.2f MB (%.0f bytes per parameter), "
                   "activations %.2f MB (%.0f bytes per token)\n",
                   pb / 1e6, gb / 1e6, sb / 1e6, (double)(pb + gb + sb) / (double)np, ab / 1e6, (double)ab / ((double)B * T));
        printf("data: %s, %zu bytes (%zu train / %zu validation); unigram entropy %.3f bits/byte = %.3f nats/byte",
               ta.data_path ? ta.data_path : "embedded corpus", ds.n, ds.n_train, ds.n - ds.n_train,
               umup_dataset_unigram_entropy(&ds), umup_dataset_unigram_entropy(&ds) * log(2.0));
        if (!ta.data_path) printf("; the generator's entropy is at most %.3f bits/byte = %.3f nats/byte", ds.choice_bits_per_byte, ds.choice_bits_per_byte * log(2.0));
        printf("\n");
#ifdef UMUP_TRAIN_CUDA
        if (ON_GPU(&run)) {
            umup_cuda_device_info di;
            if (umup_cuda_trainer_device(run.gpu, &di) == UMUP_OK)
                printf("device: %s (sm_%d%d), the whole step on the GPU, %s matmuls, %.2f GB of device memory\n", di.name,
                       di.cc_major, di.cc_minor, umup_cuda_precision_name((umup_cuda_precision)o.precision),
                       umup_cuda_trainer_device_bytes(run.gpu) / 1e9);
            else
                printf("device: the device trainer emulated on the host (slow), %s matmuls\n",
                       umup_cuda_precision_name((umup_cuda_precision)o.precision));
        }
#endif
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
        st = run_step(&run, ids, tg, B, T, &loss);
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
            val_loss = run_val(&run, &ds, ta.eval_batches, B, T, ids, tg);
            train_loss = loss_acc / (double)loss_n;
            loss_acc = 0;
            loss_n = 0;
            if (!o.quiet) {
                printf("%sstep %6ld  train %.4f  val %.4f nats/byte (%.3f bits/byte)  %.0f tokens/s\n", tty ? "\r" : "",
                       step + 1, train_loss, val_loss, val_loss / log(2.0), tok_s);
                fflush(stdout);
            }
        }
        if (o.save_every > 0 && (step + 1) % o.save_every == 0) ckpt_periodic(&run, o.save, step + 1, o.keep, &series, o.quiet);
    }
    if (!diverged && loss_n == 0 && train_loss != train_loss) { /* nothing trained: --eval-only, or at --steps already */
        if (!o.quiet && !o.eval_only) printf("nothing to train: the model is at step %ld of %ld\n", start_step, nsteps);
        val_loss = run_val(&run, &ds, ta.eval_batches, B, T, ids, tg);
        train_loss = eval_train_split(&run, &ds, ta.mc.seed, ta.eval_batches, B, T, ids, tg);
        if (!o.quiet)
            printf("step %6ld  train %.4f  val %.4f nats/byte (%.3f bits/byte)  (evaluation)\n", start_step, train_loss, val_loss,
                   val_loss / log(2.0));
    }
    for (i = 0; i < series.n; i++) free(series.path[i]);
    if (o.save && !o.eval_only) {
        st = run_save(&run, o.save);
        if (st != UMUP_OK) DIE("cannot save %s: %s", o.save, run_error(&run));
        if (!o.quiet) printf("saved %s at step %ld\n", o.save, run_steps(&run));
    }
#ifdef UMUP_TRAIN_CUDA /* sampling runs on the CPU with the trained weights */
    if (ON_GPU(&run) && umup_cuda_trainer_to_host(run.gpu) != UMUP_OK) DIE("cannot copy the device state: %s", run_error(&run));
#endif
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
    printf("done steps=%ld train_loss=%.4f val_loss=%.4f tokens_per_s=%.0f\n", run_steps(&run), train_loss, val_loss, tok_s);
    free(ids);
    free(tg);
#ifdef UMUP_TRAIN_CUDA
    if (ON_GPU(&run)) umup_cuda_trainer_destroy(run.gpu); /* and its host trainer */
    else
#endif
        umup_trainer_destroy(tr);
    umup_dataset_free(&ds);
    return train_loss == train_loss ? 0 : 3;
}
