/* demos/train.c - train a small decoder-only transformer with umup.h.
 *
 *   ./build/train                               u-muP, simulated FP8 (u-muP scheme, SR), embedded corpus
 *   ./build/train --param sp --fp8 none --lr 3e-3 --width 128 --steps 2000
 *   ./build/train --data input.txt --save run.safetensors --sample 300 --prompt "the "
 *   ./build/train --steps 2000 --save run.safetensors --save-every 500 --keep 2
 *   ./build/train --steps 4000 --resume run.safetensors        (continues to 4000 steps)
 *   ./build/train --init-from run.safetensors --eval-only      (evaluates a checkpoint)
 *   ./build/train --grad-shards 4                 the batch in 4 shards, their gradients added in order
 *   mpirun -np 4 ./build/mpi/train                (make MPI=1) 4 processes, each one shard of every batch:
 *                                                 bit for bit the run of --grad-shards 4 on one process
 *   ./build/gpu/train --device cuda --precision bf16           (the device trainer; built by make CUDA=1)
 *
 * The first and the last line are machine-readable (also with --quiet, which prints only these):
 *   config steps=<n> batch=<b> ... (every setting that changes the result: train_args_config_line)
 *   done steps=<n> train_loss=<x> val_loss=<y> tokens_per_s=<z>
 * Losses are in nats per byte (the corpus entropies are printed in bits and nats). */
#define _POSIX_C_SOURCE 200809L
#define UMUP_IMPLEMENTATION
#include "umup.h"
#ifdef UMUP_USE_MPI
#include "umup_mpi.h"
#endif
#include "train_args.h"
#ifdef UMUP_TRAIN_CUDA /* the build with the device trainer (make CUDA=1: build/gpu/train) */
#include "umup_cuda.h"
#endif

#include <stddef.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- processes: with MPI (make MPI=1) every process runs this program on the same command line ---- */
static int RANK = 0, NPROC = 1; /* this process, and how many; rank 0 prints and writes checkpoints */
#ifdef UMUP_USE_MPI
static umup_mpi *DP = NULL;
#endif

/* Stops this process and, with MPI, every other (a failure the others cannot know about). */
static void die_all(void) {
#ifdef UMUP_USE_MPI
    if (NPROC > 1) MPI_Abort(MPI_COMM_WORLD, 1);
#endif
    exit(1);
}
#define DIE(...) do { fprintf(stderr, "train%s: ", rank_tag()); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); die_all(); } while (0)

static const char *rank_tag(void) {
    static char tag[48];
    if (NPROC > 1) snprintf(tag, sizeof tag, " (rank %d of %d)", RANK, NPROC);
    return tag;
}

/* Sends fd to /dev/null; returns a duplicate of the old one (-1 if it failed). */
static int silence(int fd) {
    int old = dup(fd), nul = open("/dev/null", O_WRONLY);
    fflush(fd == STDOUT_FILENO ? stdout : stderr);
    if (nul >= 0) { dup2(nul, fd); close(nul); }
    return old;
}

/* Ends every process with status rc (all of them call it). */
static int finish(int rc) {
#ifdef UMUP_USE_MPI
    umup_mpi_destroy(DP);
    MPI_Finalize();
#endif
    return rc;
}

/* A step that may fail on one process only (loading, writing): every process passes its own status and
 * message; returns 1 on every process when any failed, rank 0 having printed the first failure. */
static int failed_anywhere(umup_status st, const char *fmt, ...) {
    char msg[1200] = ""; /* umup_trainer_error's message (up to 1 KiB) and its context */
    va_list ap;
    if (st != UMUP_OK) {
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
    }
#ifdef UMUP_USE_MPI
    if (DP) {
        umup_status all = umup_mpi_agree(DP, st, msg);
        if (all == UMUP_ERR_COMM) DIE("%s%s%s", msg, msg[0] ? "; " : "", umup_mpi_error(DP)); /* perhaps no agreement */
        if (all != UMUP_OK && RANK == 0) fprintf(stderr, "train: %s\n", umup_mpi_error(DP));
        return all != UMUP_OK;
    }
#endif
    if (st != UMUP_OK) fprintf(stderr, "train: %s\n", msg);
    return st != UMUP_OK;
}

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

/* --dry-run: validate without allocating the model, report what the run needs (each process: the
 * activations of one shard of `shard_batch` sequences), refuse what cannot be allocated. Returns the
 * exit status. */
static int dry_run(const train_args *ta, int shard_batch) {
    size_t pb = 0, gb = 0, ab = 0, n;
    double total, phys = physical_memory();
    umup_status st = umup_model_memory_needed(&ta->mc, shard_batch, &pb, &gb, &ab);
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
    printf("memory: parameters %.3g MB, gradients %.3g MB, optimizer state %.3g MB, activations %.3g MB: %.3g GB in all%s\n",
           pb / 1e6, gb / 1e6, (double)umup_optim_state_size(ta->oc.kind, n) * 4 / 1e6, ab / 1e6, total / 1e9,
           shard_batch < ta->batch ? " (activations of one shard; with MPI, per process)" : "");
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
    int B, T, tty, r, S, err_fd = -1, diverged = 0, i;
    ckpt_series series;
    long step, nsteps;
    int32_t *ids, *tg;
    double t0, tok_s = 0, train_loss = NAN, val_loss = NAN, loss_acc = 0;
    long loss_n = 0, start_step;
    size_t pb = 0, gb = 0, ab = 0;
    const umup_model_config *mc;
    const umup_optim_config *oc;

#ifdef UMUP_USE_MPI
    {
        int provided = 0;
        MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided); /* OpenMP threads never call MPI */
        MPI_Comm_rank(MPI_COMM_WORLD, &RANK);
        MPI_Comm_size(MPI_COMM_WORLD, &NPROC);
    }
#endif
    train_args_init(&ta);
    train_opts_init(&o);
    if (RANK != 0) { /* rank 0 prints; the others write only their own errors, to stderr */
        int out_fd = silence(STDOUT_FILENO);
        if (out_fd >= 0) close(out_fd);
        err_fd = silence(STDERR_FILENO); /* every process parses the same command line: one report is enough */
    }
    r = train_args_parse(&ta, argc, argv, "train", "usage: train [options]\n", train_opts_flags, TRAIN_OPTS_NFLAGS, &o);
    if (err_fd >= 0) { fflush(stderr); dup2(err_fd, STDERR_FILENO); close(err_fd); }
    if (r) return finish(r == 1 ? 0 : 2);
    train_args_finish(&ta);
    {   /* the first line, even with --quiet: what lr_sweep --collect checks a log against (rank 0's stdout) */
        char line[2048];
        train_args_config_line(&ta, line, sizeof line);
        printf("config %s\n", line);
        fflush(stdout);
    }
#ifndef UMUP_TRAIN_CUDA
    if (o.device != 0) {
        if (RANK == 0)
            fprintf(stderr, "train: --device cuda is not available in this build, which has no CUDA: build with `make CUDA=1` "
                            "(nvcc and an NVIDIA GPU) and run build/gpu/train\n");
        return finish(2);
    }
#endif
    if (o.precision != 0 && o.device == 0) {
        if (RANK == 0) fprintf(stderr, "train: --precision applies to --device cuda only\n");
        return finish(2);
    }
    B = ta.batch;
    T = ta.seq;
    nsteps = ta.steps;
    /* the same flags on every process: rank 0 reports what is wrong with them, all stop */
    if (o.save_every > 0 && !o.save) {
        if (RANK == 0) fprintf(stderr, "train: --save-every needs --save PATH\n");
        return finish(2);
    }
    if (o.resume && o.init_from) {
        if (RANK == 0) fprintf(stderr, "train: --resume and --init-from exclude each other\n");
        return finish(2);
    }
    /* S shards per batch: one per process, or --grad-shards on one process (the same bits) */
    S = NPROC > 1 ? NPROC : o.grad_shards ? o.grad_shards : 1;
    if (NPROC > 1 && o.grad_shards && o.grad_shards != NPROC) {
        if (RANK == 0) fprintf(stderr, "train: --grad-shards %d with %d processes: each process computes one shard, so the "
                                       "shards are the processes (leave --grad-shards out)\n", o.grad_shards, NPROC);
        return finish(2);
    }
    if (B % S) {
        if (RANK == 0)
            fprintf(stderr, "train: --batch %d is not a multiple of the %d %s: every shard must hold as many sequences "
                            "(try --batch %d)\n", B, S, NPROC > 1 ? "processes" : "shards", (B / S + 1) * S);
        return finish(2);
    }
#ifdef UMUP_USE_MPI
    if (NPROC > 1) {
        umup_mpi_config mcfg;
        memset(&mcfg, 0, sizeof mcfg);
        mcfg.overlap = o.overlap;
        mcfg.timeout_s = o.timeout;
        if (umup_mpi_create(&DP, MPI_COMM_WORLD, &mcfg) != UMUP_OK) DIE("%s", umup_mpi_error(NULL));
    }
#endif
    if (o.resume && !train_args_given(&ta, "--warmup")) {
        /* the default warmup (a fraction of --steps) would change with a longer run: keep the run's own */
        umup_checkpoint_meta info;
        char err[512] = "";
        st = umup_checkpoint_info(o.resume, &info, err, sizeof err);
        if (failed_anywhere(st, "cannot resume from %s: %s", o.resume, err)) return finish(1);
        if (info.has_config) ta.oc.schedule.warmup = info.optim.schedule.warmup;
    }
    if (o.save) { /* an unusable path fails now, not after the training (rank 0 writes) */
        char err[512] = "", *first = NULL;
        st = RANK == 0 ? umup_checkpoint_check_writable(o.save, err, sizeof err) : UMUP_OK;
        if (RANK == 0 && st == UMUP_OK && o.save_every > 0 && (first = ckpt_step_path(o.save, o.save_every)) != NULL)
            st = umup_checkpoint_check_writable(first, err, sizeof err);
        free(first);
        if (failed_anywhere(st, "cannot save to %s: %s", o.save, err)) return finish(1);
    }
    if (o.dry_run) {
        r = RANK == 0 ? dry_run(&ta, B / S) : 0;
#ifdef UMUP_USE_MPI
        MPI_Bcast(&r, 1, MPI_INT, 0, MPI_COMM_WORLD);
#endif
        return finish(r);
    }

    /* data: every process loads it (each needs the whole batch: the trainer takes its shard) */
    st = train_args_dataset(&ta, &ds);
    if (failed_anywhere(st, "cannot load data %s: %s%s%s", ta.data_path ? ta.data_path : "(embedded corpus)", ds.error ? "it " : "",
                        ds.error ? ds.error : "", ds.error ? "" : umup_status_string(st)))
        return finish(1);
    if (ds.n - ds.n_train < (size_t)T + 1) {
        if (RANK == 0) fprintf(stderr, "train: the validation split (%zu bytes) is shorter than --seq %d + 1\n", ds.n - ds.n_train, T);
        return finish(1);
    }

    memset(&run, 0, sizeof run);
#ifdef UMUP_TRAIN_CUDA
    if (o.device != 0) {
        umup_cuda_trainer_config cc;
        if (S > 1) {
            if (RANK == 0) fprintf(stderr, "train: the device trainer runs the whole batch in one pass: leave out --grad-shards and MPI\n");
            return finish(2);
        }
        memset(&cc, 0, sizeof cc);
        cc.precision = (umup_cuda_precision)o.precision;
        cc.emulate = o.device == 2;
        st = umup_cuda_trainer_create(&run.gpu, &ta.mc, &ta.oc, B, &cc);
        if (st != UMUP_OK) DIE("cannot create the device trainer: %s (%s)", umup_cuda_trainer_error(NULL), umup_status_string(st));
        run.tr = umup_cuda_trainer_host(run.gpu);
    }
#endif
    if (!run.tr) { /* activations for one shard of B / S sequences: every process, and one process with shards, alike */
        st = umup_trainer_create(&run.tr, &ta.mc, &ta.oc, B / S);
        if (st != UMUP_OK) {
            if (RANK == 0) fprintf(stderr, "train: invalid configuration: %s\n", train_args_why(&ta.mc, st));
            return finish(1);
        }
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
    st = o.resume ? umup_trainer_load(tr, o.resume) : UMUP_OK;
    if (st == UMUP_OK && o.resume) st = run_loaded(&run);
    if (failed_anywhere(st, "cannot resume from %s (%s): %s", o.resume, umup_status_string(st), run_error(&run)))
        return finish(1);
    st = o.init_from ? umup_trainer_load_weights(tr, o.init_from) : UMUP_OK;
    if (st == UMUP_OK && o.init_from) st = run_loaded(&run);
    if (failed_anywhere(st, "cannot initialise from %s (%s): %s", o.init_from, umup_status_string(st), run_error(&run)))
        return finish(1);
    if (NPROC == 1 && S > 1 && umup_trainer_set_shards(tr, S) != UMUP_OK) DIE("out of memory (gradient accumulation)");
#ifdef UMUP_USE_MPI
    if (DP) { /* checks that every process holds the same model (a resume from another file is caught here) */
        st = umup_mpi_attach(DP, tr);
        if (st == UMUP_ERR_COMM) DIE("%s", umup_mpi_error(DP));
        if (st != UMUP_OK) {
            if (RANK == 0) fprintf(stderr, "train: %s\n", umup_mpi_error(DP));
            return finish(1);
        }
    }
#endif
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
                   pb / 1e6, gb / 1e6, sb / 1e6, (double)(pb + gb + sb) / (double)np, ab / 1e6, (double)ab / ((double)(B / S) * T));
        if (NPROC > 1)
            printf("data parallel: %d processes, %d sequences each; gradients (%.2f MB) summed in rank order %s\n", NPROC,
                   B / S, gb / 1e6, o.overlap ? "during the backward pass (--overlap)" : "after the backward pass");
        else if (S > 1)
            printf("gradient accumulation: %d shards of %d sequences, their gradients added in order\n", S, B / S);
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
        if (st != UMUP_OK && st != UMUP_ERR_NONFINITE) { /* with MPI: every process's step failed, one for this reason */
            if (failed_anywhere(st, "training step %ld failed: %s", step + 1, umup_status_string(st))) return finish(1);
        }
        if (st == UMUP_ERR_NONFINITE) { /* the same on every process: the summed loss or gradient */
            if (failed_anywhere(UMUP_OK, "")) return finish(1); /* another process's failure showed as a NaN share */
            if (!o.quiet) printf("%sstep %ld: the loss or a gradient is not finite: diverged\n", tty ? "\n" : "", step + 1);
            train_loss = NAN;
            val_loss = NAN;
            diverged = 1;
            break;
        }
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
        if (o.save_every > 0 && (step + 1) % o.save_every == 0 && RANK == 0) /* a failure here is only reported */
            ckpt_periodic(&run, o.save, step + 1, o.keep, &series, o.quiet);
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
    if (o.save && !o.eval_only) { /* rank 0 writes (atomically: umup_trainer_save); all learn whether it worked */
        st = RANK == 0 ? run_save(&run, o.save) : UMUP_OK;
        if (failed_anywhere(st, "cannot save %s: %s", o.save, run_error(&run))) return finish(1);
        if (!o.quiet) printf("saved %s at step %ld\n", o.save, run_steps(&run));
    }
#ifdef UMUP_TRAIN_CUDA /* sampling runs on the CPU with the trained weights */
    if (ON_GPU(&run) && umup_cuda_trainer_to_host(run.gpu) != UMUP_OK) DIE("cannot copy the device state: %s", run_error(&run));
#endif
    if (o.sample > 0 && !o.quiet && train_loss == train_loss && RANK == 0) {
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
#ifdef UMUP_USE_MPI
    if (DP && !o.quiet) {
        umup_mpi_stats es;
        umup_mpi_get_stats(DP, &es);
        if (es.exchanges)
            printf("exchange: %.3g MB sent per step by rank 0, %.1f ms per step in the exchange (%.0f%% of the step)%s\n",
                   (double)es.bytes_sent / (double)es.exchanges / 1e6, 1e3 * es.seconds / (double)es.exchanges,
                   100.0 * es.seconds * tok_s / ((double)es.exchanges * B * T),
                   o.overlap ? "; segments started during the backward pass are not counted" : "");
    }
#endif
    printf("done steps=%ld train_loss=%.4f val_loss=%.4f tokens_per_s=%.0f\n", run_steps(&run), train_loss, val_loss, tok_s);
    free(ids);
    free(tg);
#ifdef UMUP_USE_MPI
    umup_mpi_detach(DP);
#endif
#ifdef UMUP_TRAIN_CUDA
    if (ON_GPU(&run)) umup_cuda_trainer_destroy(run.gpu); /* and its host trainer */
    else
#endif
        umup_trainer_destroy(tr);
    umup_dataset_free(&ds);
    return finish(train_loss == train_loss ? 0 : 3);
}
