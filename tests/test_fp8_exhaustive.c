/* tests/test_fp8_exhaustive.c - umup_fp8.h's RNE encoder against the independent slow oracle of
 * tests/fp8_oracle.h, in both overflow modes, for E4M3, E5M2, E4M3FNUZ and E5M2FNUZ.
 *   UMUP_TEST_FULL=1: all 2^32 float bit patterns (OpenMP-parallel; a few minutes on 2 cores).
 *   default:          every 97th pattern, plus every pattern whose low 12 bits are zero and its
 *                     +-1 neighbours: about 47M inputs, covering every tie and format boundary
 *                     (each tie and boundary of these formats is a float with >= 12 low zero bits).
 *   UMUP_TEST_QUICK=1 (sanitizer runs): every 9973rd pattern plus the low-16-bits-zero lattice +-1. */
#define UMUP_FP8_IMPLEMENTATION
#include "umup_fp8.h"
#include "umup_test.h"
#include "fp8_oracle.h"

#include <stdint.h>

/* Checks inputs i * stride (and, if lattice_bits > 0, k << lattice_bits and its neighbours). */
static void sweep(const char *what, uint64_t stride, int lattice_bits) {
    static const umup_fp8_format F[4] = {UMUP_FP8_E4M3, UMUP_FP8_E5M2, UMUP_FP8_E4M3FNUZ, UMUP_FP8_E5M2FNUZ};
    oracle_t o[4];
    long long bad[4][2] = {{0, 0}, {0, 0}, {0, 0}, {0, 0}}, checked = 0;
    int fi;
    long long nstride = (long long)((0x100000000ull + stride - 1) / stride), i;
    long long nlat = lattice_bits ? (long long)(0x100000000ull >> lattice_bits) : 0;
    for (fi = 0; fi < 4; fi++) oracle_init(&o[fi], &ORACLE_FMTS[F[fi]]);
    for (fi = 0; fi < 4; fi++) {
        long long b0 = 0, b1 = 0, cnt = 0;
        const oracle_t *oo = &o[fi];
        umup_fp8_format f = F[fi];
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 65536) reduction(+ : b0, b1, cnt)
#endif
        for (i = 0; i < nstride + nlat; i++) {
            uint32_t base;
            int k, nk;
            if (i < nstride) { base = (uint32_t)((uint64_t)i * stride); nk = 1; }
            else { base = (uint32_t)((uint64_t)(i - nstride) << lattice_bits); nk = 3; }
            for (k = 0; k < nk; k++) {
                uint32_t x = nk == 1 ? base : base + (uint32_t)k - 1u;
                float xf;
                memcpy(&xf, &x, 4);
                if (umup_fp8_from_float(xf, f, 0) != oracle_encode(oo, x, 0)) b0++;
                if (umup_fp8_from_float(xf, f, 1) != oracle_encode(oo, x, 1)) b1++;
                cnt++;
            }
        }
        bad[fi][0] = b0;
        bad[fi][1] = b1;
        checked += cnt;
    }
    for (fi = 0; fi < 4; fi++) {
        UT_CHECKF(bad[fi][0] == 0, "%s %s non-saturating: %lld mismatches", what, umup_fp8_name(F[fi]), bad[fi][0]);
        UT_CHECKF(bad[fi][1] == 0, "%s %s saturating: %lld mismatches", what, umup_fp8_name(F[fi]), bad[fi][1]);
    }
    printf("  %s: %lld inputs x 2 modes checked against the oracle\n", what, checked);
}

/* The bulk encoder (whose saturating RNE path is a separate formulation) against the oracle on the
 * same inputs: every pattern i * stride, processed in chunks of 4096. */
static void sweep_bulk(const char *what, uint64_t stride) {
    static const umup_fp8_format F[4] = {UMUP_FP8_E4M3, UMUP_FP8_E5M2, UMUP_FP8_E4M3FNUZ, UMUP_FP8_E5M2FNUZ};
    int fi;
    long long nin = (long long)((0x100000000ull + stride - 1) / stride), nchunk = (nin + 4095) / 4096, ch;
    for (fi = 0; fi < 4; fi++) {
        oracle_t o;
        long long bad = 0;
        umup_fp8_format f = F[fi];
        oracle_init(&o, &ORACLE_FMTS[f]);
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 16) reduction(+ : bad)
#endif
        for (ch = 0; ch < nchunk; ch++) {
            float x[4096];
            uint32_t xb[4096];
            uint8_t c0[4096], c1[4096];
            long long k, len = nin - ch * 4096 < 4096 ? nin - ch * 4096 : 4096;
            for (k = 0; k < len; k++) {
                xb[k] = (uint32_t)((uint64_t)(ch * 4096 + k) * stride);
                memcpy(&x[k], &xb[k], 4);
            }
            umup_fp8_encode_array(c0, x, (size_t)len, f, UMUP_FP8_RNE, 0, 0, 0);
            umup_fp8_encode_array(c1, x, (size_t)len, f, UMUP_FP8_RNE, 1, 0, 0);
            for (k = 0; k < len; k++) {
                if (c0[k] != oracle_encode(&o, xb[k], 0)) bad++;
                if (c1[k] != oracle_encode(&o, xb[k], 1)) bad++;
            }
        }
        UT_CHECKF(bad == 0, "%s bulk %s: %lld mismatches", what, umup_fp8_name(f), bad);
    }
}

/* The oracle itself must agree with the hand-checked cases (so a broken oracle cannot pass). */
static void test_oracle_sanity(void) {
    oracle_t e4, e5;
    oracle_init(&e4, &ORACLE_FMTS[0]);
    oracle_init(&e5, &ORACLE_FMTS[1]);
    UT_CHECK(e4.virt == 480.0 && e5.virt == 65536.0);
    UT_CHECK(oracle_encode(&e4, 0x43E80000u, 0) == 0x7E && oracle_encode(&e4, 0x43E80001u, 0) == 0x7F);
    UT_CHECK(oracle_encode(&e4, 0x3F880000u, 1) == 0x38 && oracle_encode(&e4, 0x3F980000u, 1) == 0x3A);
    UT_CHECK(oracle_encode(&e4, 0x3A800000u, 1) == 0x00 && oracle_encode(&e4, 0x80000000u, 1) == 0x80);
    UT_CHECK(oracle_encode(&e5, 0x47700000u, 0) == 0x7C && oracle_encode(&e5, 0x37000001u, 0) == 0x01);
    UT_CHECK(oracle_encode(&e5, 0xFFC00000u, 0) == 0xFE);
}

static void test_encode_vs_oracle(void) {
    if (ut_full()) { sweep("all 2^32", 1, 0); sweep_bulk("all 2^32", 1); }
    else if (ut_quick()) { sweep("quick subset", 9973, 16); sweep_bulk("quick subset", 9973); }
    else { sweep("strided subset", 97, 12); sweep_bulk("strided subset", 61); }
}

int main(void) {
    UT_RUN(test_oracle_sanity);
    UT_RUN(test_encode_vs_oracle);
    return ut_finish("test_fp8_exhaustive");
}
