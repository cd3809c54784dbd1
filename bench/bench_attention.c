/* bench/bench_attention.c - causal attention, forward + backward, the materialised path
 * (umup_sdpa_forward/backward, an [S, S] probability tensor per head) against the blocked one
 * (umup_sdpa_flash_forward/backward), side by side in one run, at the trainer's head shape
 * (H = 8 heads of D = 32, u-muP scales) for T = 256 (B = 16) and T = 1024 (B = 4): the same number
 * of tokens. GFLOP/s count the causal work actually needed: forward 2 S^2 D per head (q k^T and
 * p v over the lower triangle), backward 4 S^2 D (four products); best of the repetitions.
 * Also prints the memory each path needs beyond q, k, v, out (att [B,H,S,S] vs lse [B,H,S]).
 * Usage: bench_attention [reps] (default 5). */
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

static float *buf(size_t n) {
    float *p = (float *)calloc(n, sizeof(float));
    if (!p) { fprintf(stderr, "bench_attention: out of memory\n"); exit(1); }
    return p;
}

int main(int argc, char **argv) {
    static const int Ts[2] = {256, 1024}, Bs[2] = {16, 4};
    const int H = 8, D = 32;
    int reps = argc > 1 ? atoi(argv[1]) : 5, c, r;
    if (reps < 1) reps = 1;
    printf("# causal attention fwd+bwd, H=%d D=%d, gemm kernel %s, %d threads; best of %d\n", H, D,
           umup_gemm_kernel_name(umup_gemm_get_kernel()),
#ifdef _OPENMP
           omp_get_max_threads(),
#else
           1,
#endif
           reps);
    for (c = 0; c < 2; c++) {
        int T = Ts[c], B = Bs[c];
        size_t n = (size_t)B * H * T * D, i;
        float *q = buf(n), *k = buf(n), *v = buf(n), *o = buf(n), *g = buf(n), *dq = buf(n), *dk = buf(n), *dv = buf(n);
        float *att = buf((size_t)B * H * T * T), *lse = buf((size_t)B * H * T);
        float ls = 1.0f / D;
        double best[2][2] = {{1e30, 1e30}, {1e30, 1e30}}, fl_f = 2.0 * B * H * (double)T * T * D,
               fl_b = 2.0 * fl_f; /* causal: half of 4 S^2 D and 8 S^2 D */
        umup_op_scales s;
        for (i = 0; i < n; i++) {
            q[i] = umup_rng_uniform(1, i) - 0.5f;
            k[i] = umup_rng_uniform(2, i) - 0.5f;
            v[i] = umup_rng_uniform(3, i) - 0.5f;
            g[i] = umup_rng_uniform(4, i) - 0.5f;
        }
        umup_sdpa_scales(&s, T, D, 1, 1.0f);
        for (r = 0; r < reps; r++) {
            double t0 = now(), t1, t2, t3, t4;
            umup_sdpa_forward(o, att, q, k, v, B, H, T, D, 1, ls, &s);
            t1 = now();
            umup_sdpa_backward(dq, dk, dv, g, att, q, k, v, B, H, T, D, ls, &s);
            t2 = now();
            umup_sdpa_flash_forward(o, lse, q, k, v, B, H, T, D, 1, ls, &s);
            t3 = now();
            umup_sdpa_flash_backward(dq, dk, dv, g, o, lse, q, k, v, B, H, T, D, 1, ls, &s);
            t4 = now();
            if (t1 - t0 < best[0][0]) best[0][0] = t1 - t0;
            if (t2 - t1 < best[0][1]) best[0][1] = t2 - t1;
            if (t3 - t2 < best[1][0]) best[1][0] = t3 - t2;
            if (t4 - t3 < best[1][1]) best[1][1] = t4 - t3;
        }
        for (r = 0; r < 2; r++)
            printf("bench attention path=%s T=%d B=%d H=%d D=%d fwd_ms=%.2f bwd_ms=%.2f fwd_gflops=%.1f bwd_gflops=%.1f "
                   "step_gflops=%.1f extra_mb=%.1f\n",
                   r ? "flash" : "materialised", T, B, H, D, 1e3 * best[r][0], 1e3 * best[r][1], fl_f / best[r][0] * 1e-9,
                   fl_b / best[r][1] * 1e-9, (fl_f + fl_b) / (best[r][0] + best[r][1]) * 1e-9,
                   (r ? (double)B * H * T : (double)B * H * T * T) * 4.0 / 1048576.0);
        printf("bench attention_ratio T=%d flash_over_materialised_speed=%.2f\n", T,
               (best[0][0] + best[0][1]) / (best[1][0] + best[1][1]));
        free(q); free(k); free(v); free(o); free(g); free(dq); free(dk); free(dv); free(att); free(lse);
    }
    return 0;
}
