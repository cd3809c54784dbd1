/* bench/bench_train.c - trainer throughput side by side with the GEMM rate, in one run.
 * Config comparable to llm.c's CPU trainer figure (d = 256, 4 layers, T = 256, B = 16, 2 threads):
 * tokens/s, model FLOP/s (6 N + 12 L T d per token: PaLM's count, N = parameters) and its fraction
 * of the measured umup_sgemm rate on the model's dominant shape (the MLP up projection).
 * Usage: bench_train [steps] (default 4 timed steps after 1 warm-up). */
#define _POSIX_C_SOURCE 199309L
#define UMUP_IMPLEMENTATION
#include "umup.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    const int B = 16, T = 256, d = 256, L = 4;
    int steps = argc > 1 ? atoi(argv[1]) : 4, mode, s, r;
    umup_dataset ds;
    int32_t *ids = (int32_t *)malloc(sizeof(int32_t) * B * T), *tg = (int32_t *)malloc(sizeof(int32_t) * B * T);
    float *x = (float *)malloc(sizeof(float) * B * T * d), *w = (float *)malloc(sizeof(float) * 4 * d * d);
    float *y = (float *)malloc(sizeof(float) * B * T * 4 * d);
    double gemm = 0;
    if (!ids || !tg || !x || !w || !y || steps < 1) { fprintf(stderr, "bench_train: bad arguments or out of memory\n"); return 1; }
    for (s = 0; s < B * T * d; s++) x[s] = (float)(s % 7) - 3.0f;
    for (s = 0; s < 4 * d * d; s++) w[s] = (float)(s % 5) - 2.0f;
    for (r = 0; r < 5; r++) { /* GEMM rate: x [4096, 256] W^T, W [1024, 256] */
        double t0 = now(), g;
        umup_sgemm(0, 1, B * T, 4 * d, d, 1.0f, x, d, w, d, 0.0f, y, 4 * d);
        g = 2.0 * B * T * 4 * d * d / (now() - t0) / 1e9;
        if (g > gemm) gemm = g;
    }
    printf("bench gemm_mlp_up rows=%d in=%d out=%d gflops=%.1f\n", B * T, d, 4 * d, gemm);
    if (umup_dataset_from_corpus(&ds, 2000000, 1, 0.1) != UMUP_OK) return 1;
    for (mode = 0; mode < 2; mode++) {
        umup_model_config mc = umup_model_config_default();
        umup_optim_config oc = umup_optim_config_default(UMUP_OPT_ADAMW);
        umup_trainer *t = NULL;
        double t0 = 0, el, tps, flops;
        float loss;
        size_t np;
        mc.width = d; mc.layers = L; mc.max_seq = T; mc.heads = 0; mc.head_size = 32;
        mc.fp8 = mode ? UMUP_FP8_SIM_UMUP : UMUP_FP8_SIM_NONE;
        mc.fp8_rounding = UMUP_FP8_SR;
        oc.lr = 0.5;
        if (umup_trainer_create(&t, &mc, &oc, B) != UMUP_OK) return 1;
        np = umup_model_num_params(umup_trainer_model(t));
        for (s = 0; s <= steps; s++) {
            if (s == 1) t0 = now();
            umup_dataset_batch(&ds, 0, 1, s, B, T, ids, tg);
            umup_trainer_step(t, ids, tg, B, T, &loss);
        }
        el = now() - t0;
        tps = (double)steps * B * T / el;
        flops = tps * (6.0 * np + 12.0 * L * T * d) / 1e9;
        printf("bench train_%s d=%d layers=%d T=%d B=%d params=%zu tokens_s=%.0f model_gflops=%.1f gemm_gflops=%.1f "
               "fraction_of_gemm=%.2f llmc_ratio=%.2f\n", mode ? "fp8_umup_sr" : "fp32", d, L, T, B, np, tps, flops, gemm,
               flops / gemm, flops / 24.5);
        umup_trainer_destroy(t);
    }
    umup_dataset_free(&ds);
    free(ids); free(tg); free(x); free(w); free(y);
    return 0;
}
