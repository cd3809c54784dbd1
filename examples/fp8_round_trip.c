/* examples/fp8_round_trip.c - FP8 round trips: round-to-nearest-even against stochastic rounding.
 *
 * Needs only umup_fp8.h:   cc -std=c99 -I. examples/fp8_round_trip.c -o fp8_round_trip -lm
 *
 * 1. Every finite E4M3 value survives a round trip float -> FP8 -> float unchanged.
 * 2. 0.3 is not an E4M3 value: it lies between 0.28125 and 0.3125 (a step of 1/32 at this scale).
 *    Round-to-nearest-even (RNE) always gives 0.3125, an error of 0.0125 that no amount of
 *    averaging removes. Stochastic rounding (SR) rounds up with probability (0.3 - 0.28125) / (1/32)
 *    = 0.6, so the mean of many SR casts converges to 0.3 itself (within a few standard errors).
 * 3. Why training cares: adding 0.01 a thousand times to a weight stored in E4M3 leaves it at 1.0
 *    under RNE (each update is below half a step, 1/16, and is lost); under SR it ends at 11 on
 *    average (256 weights updated side by side, each with its own random bits).
 * Exits 0 when all three hold, 1 otherwise. */
#define UMUP_FP8_IMPLEMENTATION
#include "umup_fp8.h"

#include <math.h>
#include <stdio.h>

int main(void) {
    const umup_fp8_format fmt = UMUP_FP8_E4M3;
    const uint64_t seed = 42;      /* SR's random bits are umup_rng_u32(seed, counter): reproducible */
    const float x = 0.3f;
    const int n = 100000;
    float q[1000], w_rne[256], w_sr[256];
    double sum_sr = 0.0, rne, p_up, se, mean_sr = 0.0, var_sr = 0.0, se_w;
    int code, round_trip_ok = 1, i, k;

    /* 1. exact round trips: decode every code that is not NaN, encode it again */
    for (code = 0; code < 256; code++) {
        float v = umup_fp8_to_float((uint8_t)code, fmt);
        if (v == v && umup_fp8_to_float(umup_fp8_from_float(v, fmt, 1), fmt) != v) round_trip_ok = 0;
    }
    printf("1. every finite E4M3 value round-trips exactly: %s\n", round_trip_ok ? "yes" : "NO");

    /* 2. RNE of x is the same every time; the mean of n SR casts of x converges to x. The bulk call
     *    draws element i's bits from counter i, so these chunks give what one call over n values would. */
    rne = umup_fp8_to_float(umup_fp8_from_float(x, fmt, 1), fmt);
    for (i = 0; i < n; i += 1000) {
        float src[1000];
        for (k = 0; k < 1000; k++) src[k] = x;
        umup_fp8_quantise_array(q, src, 1000, fmt, UMUP_FP8_SR, 1, seed, (uint64_t)i);
        for (k = 0; k < 1000; k++) sum_sr += q[k];
    }
    p_up = (x - 0.28125) / 0.03125;                               /* P(round up) = 0.6 */
    se = 0.03125 * sqrt(p_up * (1.0 - p_up) / n);                 /* standard error of the SR mean */
    printf("2. casts of %.4f: RNE %.6f every time (error %.2e); mean of %d SR casts %.6f (error %.2e, standard error %.1e)\n",
           (double)x, rne, rne - x, n, sum_sr / n, sum_sr / n - x, se);

    /* 3. 256 weights stored in E4M3, each receiving 1000 updates of +0.01 */
    for (k = 0; k < 256; k++) w_rne[k] = w_sr[k] = 1.0f;
    for (i = 0; i < 1000; i++) {
        for (k = 0; k < 256; k++) { w_rne[k] += 0.01f; w_sr[k] += 0.01f; }
        umup_fp8_quantise_array(w_rne, w_rne, 256, fmt, UMUP_FP8_RNE, 1, 0, 0);
        umup_fp8_quantise_array(w_sr, w_sr, 256, fmt, UMUP_FP8_SR, 1, seed + 1, (uint64_t)i * 256); /* fresh bits */
    }
    for (k = 0; k < 256; k++) { mean_sr += w_sr[k] / 256.0; var_sr += (double)w_sr[k] * w_sr[k] / 256.0; }
    se_w = sqrt((var_sr - mean_sr * mean_sr) / 256.0);
    printf("3. 1.0 + 1000 x 0.01 stored in E4M3 (exact: 11): RNE %.4g; SR mean of 256 weights %.3f (standard error %.2f)\n",
           (double)w_rne[0], mean_sr, se_w);

    if (round_trip_ok && fabs(sum_sr / n - x) < 5.0 * se && rne == 0.3125 && w_rne[0] == 1.0f &&
        fabs(mean_sr - 11.0) < 5.0 * se_w) {
        printf("fp8_round_trip: ok\n");
        return 0;
    }
    printf("fp8_round_trip: FAILED\n");
    return 1;
}
