/* bench/bench_train.c - trainer throughput, side by side with the GEMM rate, in one run.
 *
 * Two configurations: d = 256, 4 layers, T = 256, B = 16 (llm.c's published CPU trainer figure of
 * 24.5 GFLOP/s is for this size) and d = 512, 8 layers, T = 512, B = 8 (how the cost grows).
 * For each: fp32 and simulated FP8 (the u-muP scheme, stochastic rounding) on all threads, and at
 * d = 256 also fp32 on one thread. Reported per run: tokens/s and model GFLOP/s from the median step
 * time (model FLOPs per token 6 N + 12 L T d, PaLM's count, N = parameters), and the ratios the
 * README quotes:
 *   fraction   model GFLOP/s / the best sgemm GFLOP/s measured in the same run on the model's own
 *              linear shapes (forward, input-gradient and weight-gradient products of the MLP and
 *              qkv layers; the portable GEMM, and OpenBLAS too in BLAS=1 builds), each timed once
 *              per round between the steps (sgemm_probe);
 *   speedup    fp32 step time on 1 thread / on all threads (parallel efficiency = speedup / threads);
 *   fp8        FP8 step time / fp32 step time - 1 (the simulation's overhead).
 * The modes of a configuration run side by side, in rounds (see step_times).
 * Usage: bench_train [timed steps at d 256] (default 7; d 512 runs 5, or the same if given). */
#define _POSIX_C_SOURCE 199309L
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "bench_common.h"

typedef struct { int d, L, T, B; } config;

/* The sgemm side of `fraction`: the model's dominant products (mlp up forward, mlp down dx, mlp up
 * dW, qkv forward), each with the portable GEMM and, in BLAS builds, cblas_sgemm. Every round of
 * step_times times each once, between the trainers' steps, so that the best rate is taken over the
 * same stretch of time as the step times (a best taken only before the training would catch the
 * machine in another mood: its speed drifts by +-8% from one minute to the next). */
typedef struct {
    config c;
    float *A, *B, *C;
    double best[4][2]; /* GFLOP/s per shape and path (0 portable, 1 cblas) */
} sgemm_probe;

static void probe_init(sgemm_probe *p, const config *c) {
    size_t n = (size_t)c->B * c->T * 4 * c->d, i;
    memset(p, 0, sizeof *p);
    p->c = *c;
    p->A = (float *)malloc(sizeof(float) * n);
    p->B = (float *)malloc(sizeof(float) * n);
    p->C = (float *)malloc(sizeof(float) * n);
    if (!p->A || !p->B || !p->C) { fprintf(stderr, "bench_train: out of memory\n"); exit(1); }
    for (i = 0; i < n; i++) {
        p->A[i] = umup_rng_uniform(5, i) - 0.5f;
        p->B[i] = umup_rng_uniform(6, i) - 0.5f;
    }
}

static void probe_round(sgemm_probe *p) {
    int rows = p->c.B * p->c.T, d = p->c.d, s, path;
    for (s = 0; s < 4; s++) {
        int tA = s == 2, tB = s == 0 || s == 3;
        int M = s == 2 ? 4 * d : rows, N = s == 0 ? 4 * d : s == 3 ? 3 * d : d, K = s == 2 ? rows : d;
        for (path = 0; path < 2; path++) {
            double t, g;
#ifndef UMUP_USE_CBLAS
            if (path == 1) continue;
#endif
            t = bench_now();
            if (path == 0) umup_sgemm_portable(tA, tB, M, N, K, 1.0f, p->A, tA ? M : K, p->B, tB ? K : N, 0.0f, p->C, N);
#ifdef UMUP_USE_CBLAS
            else cblas_sgemm(CblasRowMajor, tA ? CblasTrans : CblasNoTrans, tB ? CblasTrans : CblasNoTrans, M, N, K,
                             1.0f, p->A, tA ? M : K, p->B, tB ? K : N, 0.0f, p->C, N);
#endif
            t = bench_now() - t;
            g = 2.0 * M * N * K / t * 1e-9;
            if (g > p->best[s][path]) p->best[s][path] = g;
        }
    }
}

/* Best over shapes and paths (and the portable path's best), then frees the buffers. */
static double probe_done(sgemm_probe *p, double *portable_best) {
    double best = 0, pbest = 0;
    int s;
    for (s = 0; s < 4; s++) {
        if (p->best[s][0] > pbest) pbest = p->best[s][0];
        if (p->best[s][0] > best) best = p->best[s][0];
        if (p->best[s][1] > best) best = p->best[s][1];
    }
    free(p->A); free(p->B); free(p->C);
    *portable_best = pbest;
    return best;
}

/* Median step times of the modes (mode k: simulated FP8 when fp8[k], on threads[k] OpenMP threads),
 * measured side by side: one trainer per mode, a warm-up round, then `steps` rounds in which every
 * mode takes its steps in turn on the same batch, so that the machine's drifts in speed (about
 * +-8% here, from one minute to the next) touch all modes alike and cancel from their ratios. In each
 * round a mode takes two steps and the second is timed, so that it runs in the steady state of
 * training, after a step of its own; then the probe times its products once, on all threads. */
static void step_times(const config *c, const umup_dataset *ds, int nmodes, const int *fp8, const int *threads,
                       int steps, double *med, size_t *np, sgemm_probe *probe) {
    umup_trainer *t[3] = {NULL, NULL, NULL};
    int32_t *ids = (int32_t *)malloc(sizeof(int32_t) * c->B * c->T), *tg = (int32_t *)malloc(sizeof(int32_t) * c->B * c->T);
    double times[3][64];
    float loss;
    int s, k;
    if (!ids || !tg || steps > 64 || nmodes > 3) { fprintf(stderr, "bench_train: out of memory\n"); exit(1); }
    for (k = 0; k < nmodes; k++) {
        umup_model_config mc = umup_model_config_default();
        umup_optim_config oc = umup_optim_config_default(UMUP_OPT_ADAMW);
        mc.width = c->d; mc.layers = c->L; mc.max_seq = c->T; mc.heads = 0; mc.head_size = 32;
        mc.fp8 = fp8[k] ? UMUP_FP8_SIM_UMUP : UMUP_FP8_SIM_NONE;
        mc.fp8_rounding = UMUP_FP8_SR;
        oc.lr = 0.5;
        if (umup_trainer_create(&t[k], &mc, &oc, c->B) != UMUP_OK) {
            fprintf(stderr, "bench_train: cannot create the trainer\n");
            exit(1);
        }
    }
    *np = umup_model_num_params(umup_trainer_model(t[0]));
    for (s = 0; s <= steps; s++) {
        umup_dataset_batch(ds, 0, 1, s, c->B, c->T, ids, tg);
        for (k = 0; k < nmodes; k++) {
            int r;
#ifdef _OPENMP
            omp_set_num_threads(threads[k]);
#endif
            /* Two steps, the second timed: a step right after another trainer's (or after a change
               of the thread count) runs up to 10% slower here, its caches holding the other's data. */
            for (r = 0; r < 2; r++) {
                double t0 = bench_now();
                if (umup_trainer_step(t[k], ids, tg, c->B, c->T, &loss) != UMUP_OK) {
                    fprintf(stderr, "bench_train: step failed\n");
                    exit(1);
                }
                if (s > 0 && r == 1) times[k][s - 1] = bench_now() - t0;
            }
        }
#ifdef _OPENMP
        omp_set_num_threads(threads[0]);
#endif
        probe_round(probe);
    }
    for (k = 0; k < nmodes; k++) {
        med[k] = bench_median(times[k], steps);
        umup_trainer_destroy(t[k]);
    }
    free(ids); free(tg);
}

int main(int argc, char **argv) {
    static const config cfg[2] = {{256, 4, 256, 16}, {512, 8, 512, 8}};
    int steps0 = argc > 1 ? atoi(argv[1]) : 7, ci, nt = bench_threads();
    umup_dataset ds;
    if (steps0 < 1 || steps0 > 64) { fprintf(stderr, "usage: bench_train [timed steps, 1..64]\n"); return 1; }
    if (umup_dataset_from_corpus(&ds, 2000000, 1, 0.1) != UMUP_OK) return 1;
    bench_print_setup("bench_train");
    for (ci = 0; ci < 2; ci++) {
        const config *c = &cfg[ci];
        /* modes: fp32 on all threads, FP8 on all threads, and at d 256 fp32 on one thread */
        const int fp8[3] = {0, 1, 0}, threads[3] = {nt, nt, 1};
        int steps = ci == 0 || argc > 1 ? steps0 : 5, nmodes = ci == 0 && nt > 1 ? 3 : 2, mode;
        double tm[3] = {0, 0, 0}, pbest, best, flops_tok;
        size_t np = 0;
        sgemm_probe probe;
        probe_init(&probe, c);
        probe_round(&probe); /* a warm-up of the GEMM alone, as before the probe joined the rounds */
        probe_round(&probe);
        step_times(c, &ds, nmodes, fp8, threads, steps, tm, &np, &probe);
        best = probe_done(&probe, &pbest);
#ifdef _OPENMP
        omp_set_num_threads(nt);
#endif
        flops_tok = 6.0 * (double)np + 12.0 * c->L * c->T * c->d;
        for (mode = 0; mode < nmodes; mode++) {
            double tok = (double)c->B * c->T / tm[mode], gf = tok * flops_tok * 1e-9;
            printf("bench train d=%d layers=%d T=%d B=%d mode=%s threads=%d params=%zu step_s=%.3f tokens_s=%.0f "
                   "model_gflops=%.1f best_sgemm_gflops=%.1f fraction=%.2f llmc_ratio=%.2f\n",
                   c->d, c->L, c->T, c->B, fp8[mode] ? "fp8_umup_sr" : "fp32", threads[mode], np, tm[mode], tok, gf,
                   best, gf / best, gf / 24.5);
        }
        printf("bench train_summary d=%d best_sgemm_gflops=%.1f portable_best_gflops=%.1f fraction=%.2f "
               "fp8_overhead=%.3f speedup_%d_over_1=%.2f\n",
               c->d, best, pbest, (double)c->B * c->T / tm[0] * flops_tok * 1e-9 / best, tm[1] / tm[0] - 1.0, nt,
               tm[2] > 0 ? tm[2] / tm[0] : -1.0);
        fflush(stdout);
    }
    umup_dataset_free(&ds);
    return 0;
}
