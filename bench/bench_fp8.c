/* bench/bench_fp8.c - throughput of umup_fp8.h's bulk casts against a float copy, one thread,
 * side by side in one run. Bytes counted: copy 8 B/elem (4 in, 4 out); encode and decode
 * 5 B/elem (4 + 1); quantise 8 B/elem. ratio_copy = GB/s of the row / GB/s of the copy.
 * SPEC section 6 targets: RNE encode >= 0.80, SR encode >= 0.35, decode >= 0.80.
 * Usage: bench_fp8 [N] (default 2^24 elements); best of 7 repetitions. */
#define _POSIX_C_SOURCE 199309L
#define UMUP_FP8_IMPLEMENTATION
#include "umup_fp8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

enum { REPS = 7 };

/* A plain float copy loop (regular stores, like the encoders'); noinline so it is not turned into memcpy. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((noinline, optimize("no-tree-loop-distribute-patterns")))
#elif defined(__clang__)
__attribute__((noinline))
#endif
static void copy_loop(float *dst, const float *src, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) dst[i] = src[i];
}

int main(int argc, char **argv) {
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : (size_t)1 << 24, i;
    float *src, *dst;
    uint8_t *codes;
    double best[8], copy_gbs = 0, loop_gbs = 0;
    static const char *names[8] = {"copy", "encode_rne", "encode_sr", "decode", "quantise_rne", "quantise_sr", "encode_sr16", "copy_loop"};
    static const double bytes[8] = {8, 5, 5, 5, 8, 8, 5, 8};
    int k, r;
    volatile float sink = 0;
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
    if (n < 1024) n = 1024;
    src = (float *)malloc(n * sizeof *src);
    dst = (float *)malloc(n * sizeof *dst);
    codes = (uint8_t *)malloc(n);
    if (!src || !dst || !codes) { fprintf(stderr, "bench_fp8: out of memory\n"); return 1; }
    for (i = 0; i < n; i++) src[i] = (umup_rng_uniform(1, i) - 0.5f) * 8.0f; /* unit-scale-like data */
    memset(dst, 0, n * sizeof *dst);
    memset(codes, 0, n);
    for (k = 0; k < 8; k++) {
        best[k] = 1e30;
        for (r = 0; r < REPS; r++) {
            double t0 = now(), t;
            switch (k) {
            case 0: memcpy(dst, src, n * sizeof *src); break;
            case 1: umup_fp8_encode_array(codes, src, n, UMUP_FP8_E4M3, UMUP_FP8_RNE, 1, 0, 0); break;
            case 2: umup_fp8_encode_array(codes, src, n, UMUP_FP8_E4M3, UMUP_FP8_SR, 1, 7, (uint64_t)r * n); break;
            case 3: umup_fp8_decode_array(dst, codes, n, UMUP_FP8_E4M3); break;
            case 4: umup_fp8_quantise_array(dst, src, n, UMUP_FP8_E4M3, UMUP_FP8_RNE, 1, 0, 0); break;
            case 5: umup_fp8_quantise_array(dst, src, n, UMUP_FP8_E5M2, UMUP_FP8_SR, 1, 7, (uint64_t)r * n); break;
            case 6: umup_fp8_encode_array(codes, src, n, UMUP_FP8_E4M3, UMUP_FP8_SR16, 1, 7, (uint64_t)r * n); break;
            default: copy_loop(dst, src, n); break;
            }
            t = now() - t0;
            sink += dst[r] + (float)codes[r];
            if (t < best[k]) best[k] = t;
        }
    }
    printf("# %zu elements, 1 thread, best of %d; GB/s counts %s\n", n, REPS, "copy 8 B/elem, encode/decode 5, quantise 8");
    printf("# ratio_copy: against memcpy (non-temporal stores); ratio_loop: against a plain float copy loop\n");
    loop_gbs = bytes[7] * (double)n / best[7] / 1e9;
    for (k = 0; k < 8; k++) {
        double melem = (double)n / best[k] / 1e6, gbs = bytes[k] * (double)n / best[k] / 1e9;
        if (k == 0) copy_gbs = gbs;
        printf("bench fp8_%s melem_s=%.1f gb_s=%.2f ratio_copy=%.2f ratio_loop=%.2f\n", names[k], melem, gbs, gbs / copy_gbs,
               gbs / loop_gbs);
    }
    free(src);
    free(dst);
    free(codes);
    return sink == 12345.0f ? 1 : 0;
}
