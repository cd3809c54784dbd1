/* tests/cuda/cast_inputs.h - inputs for the FP8 cast tests of the CUDA backend (host and GPU tests):
 * a quarter random bit patterns, a quarter values spread over the binades around every format's range
 * (2^-20 .. 2^17, both signs), a quarter specials (zeros, infinities, NaNs with payloads, overflow ties,
 * the smallest subnormals), a quarter halfway points and their neighbours (few low mantissa bits set). */
#ifndef UMUP_CAST_INPUTS_H
#define UMUP_CAST_INPUTS_H
#include <stdint.h>
#include <string.h>

static void cast_inputs(float *x, size_t n, uint64_t seed) {
    static const uint32_t sp[] = {0x00000000u, 0x80000000u, 0x7F800000u, 0xFF800000u, 0x7FC00000u, 0xFFC00000u,
                                  0x7F800001u, 0xFFFFFFFFu, 0x43E00000u, 0x43E80000u, 0xC3E80001u, 0x47600000u,
                                  0x47700000u, 0x3A800000u, 0x37000001u, 0x00000001u, 0x007FFFFFu};
    size_t i;
    for (i = 0; i < n; i++) {
        uint32_t r = umup_rng_u32(seed, i), b;
        switch (r % 4u) {
        case 0: b = umup_rng_u32(seed ^ 0x55u, i); break;
        case 1: b = ((107u + umup_rng_u32(seed ^ 0x66u, i) % 37u) << 23) | (umup_rng_u32(seed ^ 0x77u, i) & 0x807FFFFFu); break;
        case 2: b = sp[umup_rng_u32(seed ^ 0x88u, i) % (sizeof sp / sizeof sp[0])]; break;
        default:
            b = ((112u + umup_rng_u32(seed ^ 0x99u, i) % 30u) << 23) | (umup_rng_u32(seed ^ 0xAAu, i) & 0x807E0000u) |
                (umup_rng_u32(seed ^ 0xBBu, i) % 3u);
            break;
        }
        memcpy(&x[i], &b, 4);
    }
}
#endif
