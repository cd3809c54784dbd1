/* tests/test_fp8.c - umup_fp8.h: every code of every format against the formula, the tricky cases
 * of research/fp8.md section 9, bulk == scalar for every format and mode, split/thread invariance
 * and statistics of the RNG, generic formats (BF16, FP16, GC, MX elements), MX blocks, errors. */
#define UMUP_FP8_IMPLEMENTATION
#include "umup_fp8.h"
#include "umup_test.h"

#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static uint32_t f2b(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }
static float b2f(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }

#include "fp8_oracle.h"

static void test_all_codes(void) {
    int fi;
    for (fi = 0; fi < 7; fi++) {
        unsigned c, bad = 0;
        for (c = 0; c < 256; c++) {
            double v = 0;
            int k = oracle_formula(&ORACLE_FMTS[fi], c, &v);
            float got = umup_fp8_to_float((uint8_t)c, (umup_fp8_format)fi);
            float gen;
            umup_float_format gf = umup_float_format_preset((umup_float_preset)fi);
            gen = umup_float_decode(c, &gf);
            if (k == 1) { if (got == got || gen == gen) bad++; if (k == 1 && (f2b(got) >> 31) != (c >> 7) && ORACLE_FMTS[fi].kind != 2) bad++; }
            else if (k == 2) { if (!(got > 3e38f) || f2b(got) != 0x7F800000u) bad++; }
            else if (k == 3) { if (f2b(got) != 0xFF800000u) bad++; }
            else {
                if ((double)got != v || f2b(got) != f2b(gen)) bad++;
                if (v == 0 && (f2b(got) >> 31) != (c >> 7)) bad++;                 /* -0 by sign */
                /* round trip: encode(decode(c)) == c for every non-NaN code */
                if (umup_fp8_from_float(got, (umup_fp8_format)fi, 0) != c) bad++;
            }
        }
        UT_CHECKF(bad == 0, "format %s: %u code mismatches", umup_fp8_name((umup_fp8_format)fi), bad);
    }
    /* spot values from the table at the top of the header */
    UT_CHECK(umup_fp8_to_float(0x7E, UMUP_FP8_E4M3) == 448.0f);
    UT_CHECK(umup_fp8_to_float(0x78, UMUP_FP8_E4M3) == 256.0f);
    UT_CHECK(umup_fp8_to_float(0x77, UMUP_FP8_E4M3) == 240.0f);
    UT_CHECK(f2b(umup_fp8_to_float(0x80, UMUP_FP8_E4M3)) == 0x80000000u);
    UT_CHECK(umup_fp8_to_float(0x7F, UMUP_FP8_E4M3) != umup_fp8_to_float(0x7F, UMUP_FP8_E4M3));
    UT_CHECK(umup_fp8_to_float(0xFF, UMUP_FP8_E4M3) != umup_fp8_to_float(0xFF, UMUP_FP8_E4M3));
    UT_CHECK(umup_fp8_to_float(0x7B, UMUP_FP8_E5M2) == 57344.0f);
    UT_CHECK(umup_fp8_to_float(0x7C, UMUP_FP8_E5M2) > 3.4e38f);
    UT_CHECK(umup_fp8_to_float(0x80, UMUP_FP8_E4M3FNUZ) != umup_fp8_to_float(0x80, UMUP_FP8_E4M3FNUZ));
    UT_CHECK(umup_fp8_max(UMUP_FP8_E4M3) == 448.0f && umup_fp8_max(UMUP_FP8_E5M2) == 57344.0f);
    UT_CHECK(umup_fp8_max(UMUP_FP8_E4M3FNUZ) == 240.0f && umup_fp8_max(UMUP_FP8_E5M2FNUZ) == 57344.0f);
    UT_CHECK(umup_fp8_max(UMUP_FP8_E4M3B11FNUZ) == 30.0f && umup_fp8_max(UMUP_FP8_GC_E4M3) == 240.0f);
    UT_CHECK(umup_fp8_min_normal(UMUP_FP8_E4M3) == ldexpf(1, -6) && umup_fp8_min_subnormal(UMUP_FP8_E4M3) == ldexpf(1, -9));
    UT_CHECK(umup_fp8_min_normal(UMUP_FP8_E5M2) == ldexpf(1, -14) && umup_fp8_min_subnormal(UMUP_FP8_E5M2) == ldexpf(1, -16));
    UT_CHECK(umup_fp8_min_normal(UMUP_FP8_GC_E4M3) == ldexpf(1, -7) && umup_fp8_min_subnormal(UMUP_FP8_E5M2FNUZ) == ldexpf(1, -17));
    UT_CHECK(strcmp(umup_fp8_name(UMUP_FP8_E5M2), "e5m2") == 0 && strcmp(umup_fp8_name((umup_fp8_format)99), "?") == 0);
}

/* research/fp8.md section 9: {input bits, format, expected code non-saturating, saturating} */
typedef struct { uint32_t x; int fmt; int nosat, sat; } tc_t;
static const tc_t TRICKY[] = {
    /* E4M3 */
    {0x43E00000u, 0, 0x7E, 0x7E}, /* 448 */
    {0x43E80000u, 0, 0x7E, 0x7E}, /* 464: tie to even 448 */
    {0x43E80001u, 0, 0x7F, 0x7E}, /* nextafter(464) overflows */
    {0x43F00000u, 0, 0x7F, 0x7E}, /* 480 */
    {0x47600000u, 0, 0x7F, 0x7E}, /* 57344 */
    {0xC3E80000u, 0, 0xFE, 0xFE}, /* -464 */
    {0x7F800000u, 0, 0x7F, 0x7E}, /* +Inf */
    {0xFF800000u, 0, 0xFF, 0xFE}, /* -Inf */
    {0x3F880000u, 0, 0x38, 0x38}, /* 1.0625: tie down to even */
    {0x3F980000u, 0, 0x3A, 0x3A}, /* 1.1875: tie up to even */
    {0x3FB00000u, 0, 0x3B, 0x3B}, /* 1.375 exact */
    {0x3C880000u, 0, 0x08, 0x08}, /* 2^-6 * 1.0625 */
    {0x3C800000u, 0, 0x08, 0x08}, /* 2^-6 */
    {0x3C600000u, 0, 0x07, 0x07}, /* 7 * 2^-9 */
    {0x3C700000u, 0, 0x08, 0x08}, /* 7.5 * 2^-9: tie sub -> normal */
    {0x3A800000u, 0, 0x00, 0x00}, /* 2^-10: half the min subnormal -> 0 */
    {0x3A800001u, 0, 0x01, 0x01}, /* nextafter(2^-10) */
    {0x3B400000u, 0, 0x02, 0x02}, /* 1.5 * 2^-9 */
    {0x3BA00000u, 0, 0x02, 0x02}, /* 2.5 * 2^-9 */
    {0x00000000u, 0, 0x00, 0x00}, /* +0 */
    {0x80000000u, 0, 0x80, 0x80}, /* -0 */
    {0x00000001u, 0, 0x00, 0x00}, /* float subnormal */
    {0x80000001u, 0, 0x80, 0x80},
    {0x0DA24260u, 0, 0x00, 0x00}, /* 1e-30 */
    {0x7FC00000u, 0, 0x7F, 0x7F}, /* qNaN */
    {0x7F800001u, 0, 0x7F, 0x7F}, /* sNaN must not become Inf */
    {0xFFC00000u, 0, 0xFF, 0xFF}, /* -qNaN keeps its sign */
    {0x7FFFFFFFu, 0, 0x7F, 0x7F},
    {0xFFFFFFFFu, 0, 0xFF, 0xFF},
    /* E5M2 */
    {0x47600000u, 1, 0x7B, 0x7B}, /* 57344 */
    {0x47700000u, 1, 0x7C, 0x7B}, /* 61440: tie to the virtual 2^16 -> overflow */
    {0x476FFFFFu, 1, 0x7B, 0x7B},
    {0x7F800000u, 1, 0x7C, 0x7B}, {0xFF800000u, 1, 0xFC, 0xFB},
    {0x37800000u, 1, 0x01, 0x01}, /* 2^-16 */
    {0x37000000u, 1, 0x00, 0x00}, /* 2^-17 tie -> 0 */
    {0x37000001u, 1, 0x01, 0x01}, /* the fp16 double-rounding trap */
    {0x37C00000u, 1, 0x02, 0x02}, /* 3 * 2^-17 tie -> even 2 */
    {0x38800000u, 1, 0x04, 0x04}, /* 2^-14 */
    {0x7FC00000u, 1, 0x7E, 0x7E}, {0xFFC00000u, 1, 0xFE, 0xFE}, {0x7F800001u, 1, 0x7E, 0x7E},
    {0x80000000u, 1, 0x80, 0x80},
    /* E4M3FNUZ */
    {0x80000000u, 2, 0x00, 0x00}, /* -0 -> 0x00, never the NaN 0x80 */
    {0x80000001u, 2, 0x00, 0x00},
    {0x43700000u, 2, 0x7F, 0x7F}, /* 240 */
    {0x43740000u, 2, 0x7F, 0x7F}, /* 244 */
    {0x43780000u, 2, 0x80, 0x7F}, /* 248 tie -> overflow */
    {0x43E00000u, 2, 0x80, 0x7F}, /* 448 */
    {0x3A800000u, 2, 0x01, 0x01}, /* 2^-10 */
    {0x3A000000u, 2, 0x00, 0x00}, /* 2^-11 */
    {0x7F800000u, 2, 0x80, 0x7F}, {0xFF800000u, 2, 0x80, 0xFF},
    {0x7FC00000u, 2, 0x80, 0x80}, {0xFFC00000u, 2, 0x80, 0x80},
    /* E5M2FNUZ */
    {0x47600000u, 3, 0x7F, 0x7F}, /* 57344 */
    {0x47700000u, 3, 0x80, 0x7F}, /* 61440 */
    {0x37000000u, 3, 0x01, 0x01}, /* 2^-17 */
    {0x36800000u, 3, 0x00, 0x00}, /* 2^-18 */
    {0x80000000u, 3, 0x00, 0x00},
    /* Graphcore grid: every code finite, overflow always saturates, NaN -> +0 */
    {0x43780000u, 5, 0x7F, 0x7F}, {0x7F800000u, 5, 0x7F, 0x7F}, {0x3C000000u, 5, 0x08, 0x08},
    {0x7FC00000u, 5, 0x00, 0x00}, {0x80000000u, 5, 0x80, 0x80},
};

static void test_tricky_cases(void) {
    size_t i;
    for (i = 0; i < sizeof TRICKY / sizeof TRICKY[0]; i++) {
        const tc_t *t = &TRICKY[i];
        int a = umup_fp8_from_float(b2f(t->x), (umup_fp8_format)t->fmt, 0);
        int b = umup_fp8_from_float(b2f(t->x), (umup_fp8_format)t->fmt, 1);
        UT_CHECKF(a == t->nosat && b == t->sat, "x=0x%08X (%g) fmt %s: got nosat 0x%02X sat 0x%02X, want 0x%02X 0x%02X",
                  (unsigned)t->x, (double)b2f(t->x), umup_fp8_name((umup_fp8_format)t->fmt), a, b, t->nosat, t->sat);
    }
    /* the ties of the normal range differ from ties-away: 1.0625 and 1.1875 above; 1.3125 -> 1.25 */
    UT_CHECK(umup_fp8_from_float(1.3125f, UMUP_FP8_E4M3, 1) == 0x3A);
    /* unknown formats */
    UT_CHECK(umup_fp8_from_float(1.0f, (umup_fp8_format)42, 1) == 0);
    UT_CHECK(umup_fp8_to_float(0x38, (umup_fp8_format)42) != umup_fp8_to_float(0x38, (umup_fp8_format)42));
}

/* SR basics that do not need enumeration (the exhaustive enumeration is in test_fp8_sr.c). */
static void test_sr_specials(void) {
    static const uint32_t rs[] = {0u, 1u, 0x7FFFFFFFu, 0x80000000u, 0xFFFFFFFFu, 0x12345678u};
    int fi;
    size_t k;
    unsigned bad = 0;
    for (fi = 0; fi < 7; fi++) {
        for (k = 0; k < sizeof rs / sizeof rs[0]; k++) {
            umup_fp8_format f = (umup_fp8_format)fi;
            uint32_t r = rs[k];
            /* NaN and Inf never change class or sign */
            if (umup_fp8_from_float_sr(b2f(0x7FFFFFFFu), f, 0, r) != umup_fp8_from_float(b2f(0x7FFFFFFFu), f, 0)) bad++;
            if (umup_fp8_from_float_sr(b2f(0xFF800001u), f, 1, r) != umup_fp8_from_float(b2f(0xFF800001u), f, 1)) bad++;
            if (umup_fp8_from_float_sr(b2f(0x7F800000u), f, 0, r) != umup_fp8_from_float(b2f(0x7F800000u), f, 0)) bad++;
            if (umup_fp8_from_float_sr(b2f(0xFF800000u), f, 1, r) != umup_fp8_from_float(b2f(0xFF800000u), f, 1)) bad++;
            /* representable values are returned unchanged */
            if (umup_fp8_from_float_sr(1.5f, f, 1, r) != umup_fp8_from_float(1.5f, f, 1)) bad++;
            if (umup_fp8_from_float_sr(-umup_fp8_max(f), f, 0, r) != umup_fp8_from_float(-umup_fp8_max(f), f, 0)) bad++;
            /* FNUZ: tiny negatives that round down give 0x00 */
            if (ORACLE_FMTS[fi].kind == 2 && r == 0u && umup_fp8_from_float_sr(-1e-30f, f, 1, r) != 0x00) bad++;
        }
    }
    UT_CHECKF(bad == 0, "%u SR special-value failures", bad);
    /* under saturation SR above max always gives max */
    UT_CHECK(umup_fp8_from_float_sr(470.0f, UMUP_FP8_E4M3, 1, 0xFFFFFFFFu) == 0x7E);
    UT_CHECK(umup_fp8_from_float_sr(470.0f, UMUP_FP8_E4M3, 0, 0xFFFFFFFFu) == 0x7F);
    UT_CHECK(umup_fp8_from_float_sr(470.0f, UMUP_FP8_E4M3, 0, 0u) == 0x7E);
}

/* ---- bulk == scalar ---- */
static float rand_input(uint64_t i) {
    uint32_t r = umup_rng_u32(7, i);
    switch (r & 7u) {
    case 0: return b2f(umup_rng_u32(8, i)); /* any bit pattern: NaN, Inf, subnormals */
    case 1: return ldexpf((float)(umup_rng_u32(9, i) >> 8) / 16777216.0f, -20 + (int)(r >> 27)); /* tiny */
    case 2: return (float)((int32_t)umup_rng_u32(10, i)) / 2147483648.0f * 70000.0f; /* near/over max */
    default: return ((float)(umup_rng_u32(11, i) >> 8) / 8388608.0f - 1.0f) * ldexpf(1, (int)(r >> 28) - 6);
    }
}

static void test_bulk_equals_scalar(void) {
    enum { N = 20000 };
    static float src[N], q[N], dec[N];
    static uint8_t codes[N];
    int fi, rnd, sat;
    size_t i;
    for (i = 0; i < N; i++) src[i] = rand_input(i);
    for (fi = 0; fi < 7; fi++) {
        umup_fp8_format f = (umup_fp8_format)fi;
        umup_float_format gf = umup_float_format_preset((umup_float_preset)fi);
        for (rnd = 0; rnd < 3; rnd++) {
            for (sat = 0; sat < 2; sat++) {
                unsigned bad_enc = 0, bad_q = 0, bad_dec = 0;
                uint64_t seed = 1234 + (uint64_t)fi, ctr = 99 + (uint64_t)rnd;
                UT_CHECK(umup_fp8_encode_array(codes, src, N, f, (umup_fp8_rounding)rnd, sat, seed, ctr) == UMUP_OK);
                UT_CHECK(umup_fp8_quantise_array(q, src, N, f, (umup_fp8_rounding)rnd, sat, seed, ctr) == UMUP_OK);
                UT_CHECK(umup_fp8_decode_array(dec, codes, N, f) == UMUP_OK);
                for (i = 0; i < N; i++) {
                    uint32_t r = umup_rng_u32(seed, ctr + i);
                    uint8_t want = rnd == 0 ? umup_fp8_from_float(src[i], f, sat)
                                 : rnd == 1 ? umup_fp8_from_float_sr(src[i], f, sat, r)
                                            : (uint8_t)umup_float_encode(src[i], &gf, sat, UMUP_FP8_SR16, 0, r);
                    float wv = umup_fp8_to_float(want, f);
                    if (codes[i] != want) bad_enc++;
                    if (rnd != 2 && (uint8_t)umup_float_encode(src[i], &gf, sat, (umup_fp8_rounding)rnd, 0, r) != want) bad_enc++;
                    if (ORACLE_FMTS[fi].kind == 3 && src[i] != src[i]) wv = src[i]; /* NaN passes through quantise */
                    if (f2b(q[i]) != f2b(wv)) bad_q++; /* bitwise, NaN bits included */
                    if (f2b(dec[i]) != f2b(umup_fp8_to_float(codes[i], f)) && !(dec[i] != dec[i])) bad_dec++;
                }
                UT_CHECKF(bad_enc == 0 && bad_q == 0 && bad_dec == 0, "%s rounding %d sat %d: %u enc, %u quantise, %u decode mismatches",
                          umup_fp8_name(f), rnd, sat, bad_enc, bad_q, bad_dec);
            }
        }
    }
    /* in place, every format (those without NaN pass NaN inputs through, read before the write) */
    for (fi = 0; fi < 7; fi++) {
        size_t nans = 0;
        memcpy(q, src, sizeof q);
        UT_CHECK(umup_fp8_quantise_array(q, q, N, (umup_fp8_format)fi, UMUP_FP8_SR, 1, 5, 6) == UMUP_OK);
        UT_CHECK(umup_fp8_quantise_array(dec, src, N, (umup_fp8_format)fi, UMUP_FP8_SR, 1, 5, 6) == UMUP_OK);
        UT_CHECKF(memcmp(q, dec, sizeof q) == 0, "%s: in place differs", umup_fp8_name((umup_fp8_format)fi));
        for (i = 0; i < N; i++) nans += src[i] != src[i] && q[i] != q[i];
        UT_CHECKF(nans > 0, "%s: the inputs hold NaNs, and so does the result", umup_fp8_name((umup_fp8_format)fi));
    }
}

/* The saturating quantise decodes its codes arithmetically (umup__quantise_sat), not by table: over
 * bit patterns spread across all of float (stride 65537: every exponent, both signs, NaN payloads,
 * Inf, float subnormals) it equals decode(encode(x)) bit for bit, RNE and SR, every 8-bit format. */
static void test_quantise_matches_decode_encode(void) {
    enum { N = 65536 + 64 };
    static float src[N], q[N], dec[N];
    static uint8_t codes[N];
    int fi, rnd;
    size_t i;
    for (i = 0; i < 65536; i++) src[i] = b2f((uint32_t)i * 65537u + 12345u);
    for (i = 0; i < 64; i++) src[65536 + i] = b2f(i < 32 ? 0x7F800000u + (uint32_t)i : 0xFF800000u + (uint32_t)i - 32u);
    for (fi = 0; fi < 7; fi++)
        for (rnd = 0; rnd < 3; rnd++) {
            umup_fp8_format f = (umup_fp8_format)fi;
            unsigned bad = 0;
            UT_CHECK(umup_fp8_encode_array(codes, src, N, f, (umup_fp8_rounding)rnd, 1, 77, 5) == UMUP_OK);
            UT_CHECK(umup_fp8_decode_array(dec, codes, N, f) == UMUP_OK);
            UT_CHECK(umup_fp8_quantise_array(q, src, N, f, (umup_fp8_rounding)rnd, 1, 77, 5) == UMUP_OK);
            for (i = 0; i < N; i++) {
                uint32_t want = ORACLE_FMTS[fi].kind == 3 && src[i] != src[i] ? f2b(src[i]) : f2b(dec[i]);
                if (f2b(q[i]) != want) bad++;
            }
            UT_CHECKF(bad == 0, "%s rounding %d: %u quantise != decode(encode)", umup_fp8_name(f), rnd, bad);
        }
}

/* The saturating quantise, RNE and SR (32 random bits), and the saturating SR encode run 16 elements
 * a step where the compiler targets AVX-512 (umup__quantise_rne_x16, umup__quantise_sr32_x16,
 * umup__encode_sr32_x16), with their subnormal and NaN handling only in groups that need it. The random inputs above put a special value in nearly every
 * group; here most groups of 16 hold only normal-range values (the fast path), and every other group
 * one special value at a lane that moves through all 16 positions: the format's subnormals and
 * smallest normal, float subnormals, +-0, NaNs of both signs, +-Inf, values past max, RNE ties
 * (1.0625, 1.1875, 7.5 2^-9, 2^-10, 464). Every element is compared bitwise with the scalar
 * functions, for every 8-bit format, at 4 start offsets and with a counter run crossing 2^32 (so
 * groups start mid-run). Without AVX-512 this checks the plain loops the same way. */
static void test_quantise_lanes(void) {
    enum { G = 512, N = 16 * G + 7 };
    static float src[N], q[N];
    static uint8_t codes[N];
    const uint32_t specials[] = {0x00000000u, 0x80000000u, 0x7FC00000u, 0xFFC00001u, 0x7F800001u, 0x7F800000u,
                                 0xFF800000u, 0x00000001u, 0x807FFFFFu, 0x3A800000u, 0xBB000000u, 0x3C7FFFFFu,
                                 0x3C800000u, 0x38800000u, 0xB9400000u, 0x33000000u, 0x477FE000u, 0xC7800000u,
                                 0x3F880000u, 0xBF980000u, 0x3C700000u, 0x43E80000u, 0xC3E80001u};
    const size_t nspec = sizeof specials / sizeof specials[0];
    int fi, off, rnd;
    size_t i, g;
    for (g = 0; g < G; g++) {
        for (i = 0; i < 16; i++) {
            uint64_t k = g * 16 + i;
            uint32_t r = umup_rng_u32(21, k);
            /* normal range of E4M3 and E5M2 alike: |x| in [2^-6, 2^8) with random sign and mantissa */
            float x = ldexpf(1.0f + (float)(r >> 9) / 8388608.0f, (int)(umup_rng_u32(22, k) % 14u) - 6);
            src[k] = r & 1u ? -x : x;
        }
        if (g % 2 == 1) src[g * 16 + (g / 2) % 16] = b2f(specials[(g / 2) % nspec]);
    }
    for (i = 16 * G; i < N; i++) src[i] = b2f(specials[i % nspec]);
    for (fi = 0; fi < 7; fi++)
        for (rnd = 0; rnd < 2; rnd++)
            for (off = 0; off < 5; off++) {
                /* off 4: the counter's low half wraps 40 elements in, a new RNG key from there */
                umup_fp8_format f = (umup_fp8_format)fi;
                size_t o = off < 4 ? (size_t)off : 0;
                uint64_t seed = 0xABCDu + (uint64_t)fi, ctr = off < 4 ? 1000u + (uint64_t)off : 0xFFFFFFFFull - 39u;
                unsigned bad = 0, bad_codes = 0;
                UT_CHECK(umup_fp8_quantise_array(q, src + o, N - o, f, (umup_fp8_rounding)rnd, 1, seed, ctr) == UMUP_OK);
                UT_CHECK(umup_fp8_encode_array(codes, src + o, N - o, f, (umup_fp8_rounding)rnd, 1, seed, ctr) == UMUP_OK);
                for (i = 0; i < N - o; i++) {
                    float x = src[o + i];
                    uint8_t c = rnd ? umup_fp8_from_float_sr(x, f, 1, umup_rng_u32(seed, ctr + i))
                                    : umup_fp8_from_float(x, f, 1);
                    float want = ORACLE_FMTS[fi].kind == 3 && x != x ? x : umup_fp8_to_float(c, f);
                    if (f2b(q[i]) != f2b(want)) bad++;
                    if (codes[i] != c) bad_codes++;
                }
                UT_CHECKF(bad == 0 && bad_codes == 0,
                          "%s %s offset %d: of %d elements, %u quantised values and %u codes differ from the scalar cast",
                          umup_fp8_name(f), rnd ? "SR" : "RNE", off, (int)(N - o), bad, bad_codes);
            }
}

/* The same bits whatever the split into calls, the thread count, or a counter crossing 2^32. */
static void test_rng_split_invariance(void) {
    enum { N = 100003 };
    static float src[N], one[N], parts[N], thr[N];
    size_t i, pos = 0, sizes[] = {1, 2, 3, 17, 1000, 16383, 16385, 31, 65536};
    size_t k = 0;
    uint64_t ctr = 0xFFFFFFFFull - 50000; /* crosses the 2^32 boundary inside the array */
    for (i = 0; i < N; i++) src[i] = rand_input(i + 77);
    umup_fp8_quantise_array(one, src, N, UMUP_FP8_E5M2, UMUP_FP8_SR, 1, 42, ctr);
    while (pos < N) {
        size_t len = sizes[k++ % 9];
        if (len > N - pos) len = N - pos;
        umup_fp8_quantise_array(parts + pos, src + pos, len, UMUP_FP8_E5M2, UMUP_FP8_SR, 1, 42, ctr + pos);
        pos += len;
    }
    UT_CHECK(memcmp(one, parts, sizeof one) == 0);
#ifdef _OPENMP
    {
        int saved = omp_get_max_threads();
        omp_set_num_threads(1);
        umup_fp8_quantise_array(thr, src, N, UMUP_FP8_E5M2, UMUP_FP8_SR, 1, 42, ctr);
        UT_CHECK(memcmp(one, thr, sizeof one) == 0);
        omp_set_num_threads(3);
        umup_fp8_quantise_array(thr, src, N, UMUP_FP8_E5M2, UMUP_FP8_SR, 1, 42, ctr);
        UT_CHECK(memcmp(one, thr, sizeof one) == 0);
        omp_set_num_threads(saved);
    }
#else
    (void)thr;
    UT_SKIP("built without OpenMP: thread-count invariance not exercised");
#endif
    /* and element i is what the scalar function gives with umup_rng_u32(seed, ctr + i) */
    {
        unsigned bad = 0;
        for (i = 0; i < N; i++) {
            float w = umup_fp8_to_float(umup_fp8_from_float_sr(src[i], UMUP_FP8_E5M2, 1, umup_rng_u32(42, ctr + i)), UMUP_FP8_E5M2);
            if (f2b(w) != f2b(one[i]) && !(w != w && one[i] != one[i])) bad++;
        }
        UT_CHECKF(bad == 0, "%u elements differ from the scalar SR with umup_rng_u32", bad);
    }
    /* determinism: same (seed, counter) -> same bits; different seeds differ */
    UT_CHECK(umup_rng_u32(1, 2) == umup_rng_u32(1, 2));
    UT_CHECK(umup_rng_u32(1, 2) != umup_rng_u32(2, 2));
}

/* Statistical test of the RNG stream (2^20 draws). Tolerances: 5 sigma for the bit frequencies
 * and the mean; chi-square of 256 buckets below df + 5 sqrt(2 df); lag-1 correlation < 5/sqrt(n). */
static void test_rng_statistics(void) {
    const long n = 1L << 20;
    long i, bits[32] = {0}, bucket[256] = {0};
    double mean = 0, chi = 0, corr = 0, prev = 0, sd = sqrt((double)n / 4.0);
    int b, worst = 0;
    double worst_dev = 0;
    for (i = 0; i < n; i++) {
        uint32_t r = umup_rng_u32(2024, (uint64_t)i);
        double u = (r >> 8) / 16777216.0;
        for (b = 0; b < 32; b++) bits[b] += (r >> b) & 1u;
        bucket[r >> 24]++;
        mean += u;
        if (i) corr += (u - 0.5) * (prev - 0.5);
        prev = u;
    }
    for (b = 0; b < 32; b++) {
        double dev = fabs(bits[b] - n / 2.0) / sd;
        if (dev > worst_dev) { worst_dev = dev; worst = b; }
    }
    UT_CHECKF(worst_dev < 5.0, "bit %d frequency off by %.2f sigma", worst, worst_dev);
    mean /= n;
    UT_CHECKF(fabs(mean - 0.5) < 5.0 * sqrt(1.0 / 12.0 / n), "mean %.6f", mean);
    for (b = 0; b < 256; b++) chi += (bucket[b] - n / 256.0) * (bucket[b] - n / 256.0) / (n / 256.0);
    UT_CHECKF(chi < 255 + 5 * sqrt(2 * 255.0), "chi-square %.1f (df 255)", chi);
    corr = corr / (n - 1) * 12.0;
    UT_CHECKF(fabs(corr) < 5.0 / sqrt((double)n), "lag-1 correlation %.5f", corr);
    /* uniform helper */
    UT_CHECK(umup_rng_uniform(1, 1) >= 0.0f && umup_rng_uniform(1, 1) < 1.0f);
}

/* ---- generic formats ---- */
static uint32_t bf16_reference(uint32_t bits) { /* the classic RNE bit trick, finite inputs */
    return (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
}

static void test_generic_formats(void) {
    umup_float_format bf = umup_float_format_preset(UMUP_FLOAT_BF16), hf = umup_float_format_preset(UMUP_FLOAT_FP16);
    umup_float_format e2m1 = umup_float_format_preset(UMUP_FLOAT_E2M1), e2m3 = umup_float_format_preset(UMUP_FLOAT_E2M3);
    umup_float_format e3m2 = umup_float_format_preset(UMUP_FLOAT_E3M2), gc = umup_float_format_preset(UMUP_FLOAT_GC_E4M3);
    umup_float_format bad = {9, 3, 7, UMUP_SPECIALS_IEEE};
    static const float e2m1_vals[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
    unsigned i, mism = 0;
    /* BF16 against the bit trick over many finite inputs (including float subnormals) */
    for (i = 0; i < 2000000u; i++) {
        uint32_t x = umup_rng_u32(55, i);
        if (((x >> 23) & 0xFFu) == 0xFFu) continue;
        if (bf16_reference(x) >= 0x7F80u && (x & 0x7FFFFFFFu) < 0x7F800000u) {
            if (umup_float_encode(b2f(x), &bf, 0, UMUP_FP8_RNE, 0, 0) != (bf16_reference(x) & 0xFFFFu)) mism++;
            continue;
        }
        if (umup_float_encode(b2f(x), &bf, 0, UMUP_FP8_RNE, 0, 0) != bf16_reference(x)) mism++;
        if (umup_float_decode(bf16_reference(x), &bf) != b2f(bf16_reference(x) << 16)) mism++;
    }
    UT_CHECKF(mism == 0, "BF16: %u mismatches against the bit-trick reference", mism);
    UT_CHECK(umup_float_encode(1.0f, &bf, 1, UMUP_FP8_RNE, 0, 0) == 0x3F80u);
    UT_CHECK(umup_float_encode(b2f(0x3F808000u), &bf, 1, UMUP_FP8_RNE, 0, 0) == 0x3F80u); /* tie to even */
    UT_CHECK(umup_float_encode(b2f(0x3F818000u), &bf, 1, UMUP_FP8_RNE, 0, 0) == 0x3F82u);
    UT_CHECK(umup_float_encode(b2f(0x7FC00000u), &bf, 1, UMUP_FP8_RNE, 0, 0) == 0x7FC0u);
    UT_CHECK(umup_float_encode(b2f(0xFF800000u), &bf, 0, UMUP_FP8_RNE, 0, 0) == 0xFF80u);
    UT_CHECK(umup_float_encode(b2f(0x7F7FFFFFu), &bf, 0, UMUP_FP8_RNE, 0, 0) == 0x7F80u); /* rounds to Inf */
    UT_CHECK(umup_float_encode(b2f(0x7F7FFFFFu), &bf, 1, UMUP_FP8_RNE, 0, 0) == 0x7F7Fu);
    UT_CHECK(umup_float_format_min_subnormal(&bf) == ldexpf(1, -133));
    /* FP16 */
    UT_CHECK(umup_float_format_max(&hf) == 65504.0f && umup_float_format_min_subnormal(&hf) == ldexpf(1, -24));
    UT_CHECK(umup_float_format_min_normal(&hf) == ldexpf(1, -14));
    UT_CHECK(umup_float_encode(1.0f / 3.0f, &hf, 1, UMUP_FP8_RNE, 0, 0) == 0x3555u);
    UT_CHECK(umup_float_encode(65519.0f, &hf, 0, UMUP_FP8_RNE, 0, 0) == 0x7BFFu);
    UT_CHECK(umup_float_encode(65520.0f, &hf, 0, UMUP_FP8_RNE, 0, 0) == 0x7C00u); /* tie -> Inf */
    UT_CHECK(umup_float_encode(65520.0f, &hf, 1, UMUP_FP8_RNE, 0, 0) == 0x7BFFu);
    UT_CHECK(umup_float_encode(ldexpf(1, -25), &hf, 1, UMUP_FP8_RNE, 0, 0) == 0x0000u); /* half min sub */
    UT_CHECK(umup_float_encode(ldexpf(3, -25), &hf, 1, UMUP_FP8_RNE, 0, 0) == 0x0002u);
    UT_CHECK(umup_float_decode(0x0001u, &hf) == ldexpf(1, -24) && umup_float_decode(0xC000u, &hf) == -2.0f);
    /* E5M2 is the upper byte of FP16: RNE to E5M2 equals RNE of the FP16 bits only without double
       rounding; check the format identity on every code instead */
    for (i = 0; i < 256u; i++) {
        float v = umup_fp8_to_float((uint8_t)i, UMUP_FP8_E5M2);
        float h = umup_float_decode(i << 8, &hf);
        if (f2b(v) != f2b(h) && !(v != v && h != h)) mism++;
    }
    UT_CHECKF(mism == 0, "E5M2 codes are not the top byte of FP16 (%u)", mism);
    mism = 0;
    /* MX element types */
    for (i = 0; i < 16u; i++) {
        float v = umup_float_decode(i, &e2m1);
        if (v != (i & 8u ? -e2m1_vals[i & 7u] : e2m1_vals[i & 7u])) mism++;
        if (umup_float_encode(v, &e2m1, 0, UMUP_FP8_RNE, 0, 0) != i) mism++;
    }
    UT_CHECKF(mism == 0, "E2M1 value table: %u mismatches", mism);
    UT_CHECK(umup_float_encode(5.0f, &e2m1, 0, UMUP_FP8_RNE, 0, 0) == 0x6u);   /* 5 ties to even 4 */
    UT_CHECK(umup_float_encode(100.0f, &e2m1, 0, UMUP_FP8_RNE, 0, 0) == 0x7u); /* always saturates */
    UT_CHECK(umup_float_encode(-0.25f, &e2m1, 0, UMUP_FP8_RNE, 0, 0) == 0x8u); /* tie to -0 */
    UT_CHECK(umup_float_format_max(&e2m3) == 7.5f && umup_float_format_min_subnormal(&e2m3) == 0.125f);
    UT_CHECK(umup_float_format_max(&e3m2) == 28.0f && umup_float_format_min_subnormal(&e3m2) == 0.0625f);
    UT_CHECK(umup_float_format_min_normal(&e3m2) == 0.25f);
    UT_CHECK(umup_float_format_max(&gc) == 240.0f && umup_float_format_min_normal(&gc) == ldexpf(1, -7));
    UT_CHECK(umup_float_format_bits(&hf) == 16 && umup_float_format_bits(&e2m1) == 4);
    /* generic SR with few bits: sr_bits = 1 -> up iff the top random bit is set and rem >= half */
    UT_CHECK(umup_float_encode(1.0625f, &e2m3, 1, UMUP_FP8_SR, 1, 0x80000000u) == umup_float_encode(1.125f, &e2m3, 1, UMUP_FP8_RNE, 0, 0));
    UT_CHECK(umup_float_encode(1.0625f, &e2m3, 1, UMUP_FP8_SR, 1, 0x7FFFFFFFu) == umup_float_encode(1.0f, &e2m3, 1, UMUP_FP8_RNE, 0, 0));
    /* invalid formats */
    UT_CHECK(umup_float_format_check(&bad) == UMUP_ERR_INVALID_ARG);
    UT_CHECK(umup_float_format_check(NULL) == UMUP_ERR_NULL);
    bad.exp_bits = 5; bad.man_bits = 11;
    UT_CHECK(umup_float_format_check(&bad) == UMUP_ERR_INVALID_ARG);
    bad.man_bits = 0; bad.specials = UMUP_SPECIALS_FN;
    UT_CHECK(umup_float_format_check(&bad) == UMUP_ERR_INVALID_ARG);
    UT_CHECK(umup_float_encode(1.0f, &bad, 1, UMUP_FP8_RNE, 0, 0) == 0u);
    UT_CHECK(umup_float_format_max(&bad) == 0.0f);
    UT_CHECK(umup_float_format_check(&e2m1) == UMUP_OK);
    {
        umup_float_format none = umup_float_format_preset((umup_float_preset)99);
        UT_CHECK(umup_float_format_check(&none) != UMUP_OK);
    }
    /* generic quantise == scalar, FP16 with SR */
    {
        enum { N = 5000 };
        static float src[N], q[N];
        unsigned bq = 0;
        for (i = 0; i < N; i++) src[i] = rand_input(i + 5);
        UT_CHECK(umup_float_quantise_array(q, src, N, &hf, UMUP_FP8_SR, 1, 3, 4) == UMUP_OK);
        for (i = 0; i < N; i++) {
            float w = umup_float_decode(umup_float_encode(src[i], &hf, 1, UMUP_FP8_SR, 0, umup_rng_u32(3, 4 + i)), &hf);
            if (f2b(w) != f2b(q[i]) && !(w != w && q[i] != q[i])) bq++;
        }
        UT_CHECKF(bq == 0, "FP16 quantise != scalar: %u", bq);
        UT_CHECK(umup_float_quantise_array(q, src, N, &e2m1, UMUP_FP8_RNE, 1, 0, 0) == UMUP_OK);
        bq = 0;
        for (i = 0; i < N; i++) {
            float w = src[i] != src[i] ? src[i] : umup_float_decode(umup_float_encode(src[i], &e2m1, 1, UMUP_FP8_RNE, 0, 0), &e2m1);
            if (f2b(w) != f2b(q[i]) && !(w != w && q[i] != q[i])) bq++;
        }
        UT_CHECKF(bq == 0, "E2M1 quantise != scalar: %u", bq);
    }
}

/* ---- MX blocks ---- */
static void test_mx(void) {
    enum { N = 32 * 8 + 5 };
    static float src[N], out[N], q[N];
    static uint8_t sc[(N + 31) / 32], el[N];
    umup_float_format e4 = umup_float_format_preset(UMUP_FLOAT_E4M3), e2 = umup_float_format_preset(UMUP_FLOAT_E2M1);
    umup_float_format bf = umup_float_format_preset(UMUP_FLOAT_BF16);
    size_t i, b;
    unsigned bad = 0;
    for (i = 0; i < N; i++) src[i] = rand_input(i + 1000) * ldexpf(1, (int)(i / 32) * 3 - 12);
    for (i = 0; i < N; i++) if (!(fabsf(src[i]) < 1e30f)) src[i] = 1.0f; /* finite blocks here */
    UT_CHECK(umup_mx_encode(sc, el, src, N, &e4) == UMUP_OK);
    UT_CHECK(umup_mx_decode(out, sc, el, N, &e4) == UMUP_OK);
    for (b = 0; b < (N + 31) / 32; b++) {
        float amax = 0;
        int E;
        for (i = b * 32; i < N && i < b * 32 + 32; i++) if (fabsf(src[i]) > amax) amax = fabsf(src[i]);
        E = amax > 0 ? (int)floor(log2((double)amax)) - 8 : -127;
        if (E < -127) E = -127;
        if (sc[b] != (uint8_t)(E + 127)) bad++;
        for (i = b * 32; i < N && i < b * 32 + 32; i++) {
            /* element = RNE(v / 2^E) saturated, decoded times 2^E */
            float v = (float)ldexp((double)src[i], -E);
            float w = (float)ldexp((double)umup_fp8_to_float(umup_fp8_from_float(v, UMUP_FP8_E4M3, 1), UMUP_FP8_E4M3), E);
            if (f2b(w) != f2b(out[i])) bad++;
            /* relative error bounded by the element precision once above the block's subnormals */
            /* (values above 448 * 2^E saturate: the OCP floor rule's known clipping, research/fp8.md 6) */
            if (fabsf(src[i]) >= ldexpf(amax, -6) && fabs(v) <= 448.0 && fabsf(out[i] - src[i]) > ldexpf(fabsf(src[i]), -4)) bad++;
            if (fabs(v) > 448.0 && fabsf(out[i]) != (float)ldexp(448.0, E)) bad++;
        }
    }
    UT_CHECKF(bad == 0, "MX E4M3: %u mismatches", bad);
    UT_CHECK(umup_mx_quantise(q, src, N, &e4) == UMUP_OK && memcmp(q, out, sizeof q) == 0);
    /* representable blocks round-trip exactly: E2M1 values times powers of two */
    for (i = 0; i < N; i++) src[i] = umup_float_decode(umup_rng_u32(3, i) & 15u, &e2) * ldexpf(1, (int)(i / 32) - 4);
    UT_CHECK(umup_mx_quantise(q, src, N, &e2) == UMUP_OK);
    for (i = 0, bad = 0; i < N; i++) if (q[i] != src[i]) bad++;
    UT_CHECKF(bad == 0, "MX E2M1 exact round trip: %u differ", bad);
    /* NaN block -> scale 0xFF, whole block NaN; zero block -> scale 0x00 and zeros */
    for (i = 0; i < 64; i++) src[i] = i < 32 ? 0.0f : 1.0f;
    src[40] = b2f(0x7FC00000u);
    UT_CHECK(umup_mx_encode(sc, el, src, 64, &e4) == UMUP_OK);
    UT_CHECK(sc[0] == 0x00 && sc[1] == 0xFF);
    umup_mx_decode(out, sc, el, 64, &e4);
    UT_CHECK(out[0] == 0.0f && out[33] != out[33]);
    UT_CHECK(umup_e8m0_to_float(127) == 1.0f && umup_e8m0_to_float(0xFE) == ldexpf(1, 127));
    UT_CHECK(umup_e8m0_to_float(0) == ldexpf(1, -127) && umup_e8m0_to_float(0xFF) != umup_e8m0_to_float(0xFF));
    /* errors */
    UT_CHECK(umup_mx_encode(NULL, el, src, 64, &e4) == UMUP_ERR_NULL);
    UT_CHECK(umup_mx_encode(sc, el, src, 64, &bf) == UMUP_ERR_INVALID_ARG); /* 16-bit elements */
    UT_CHECK(umup_mx_quantise(q, src, 64, NULL) == UMUP_ERR_NULL);
    UT_CHECK(umup_mx_quantise(q, src, 0, &e4) == UMUP_OK);
}

static void test_errors(void) {
    float f[4] = {1, 2, 3, 4}, g[4] = {9, 9, 9, 9};
    uint8_t c[4] = {7, 7, 7, 7};
    umup_fp8_format pf;
    umup_float_format hf = umup_float_format_preset(UMUP_FLOAT_FP16);
    UT_CHECK(umup_fp8_encode_array(NULL, f, 4, UMUP_FP8_E4M3, UMUP_FP8_RNE, 1, 0, 0) == UMUP_ERR_NULL);
    UT_CHECK(umup_fp8_encode_array(c, NULL, 4, UMUP_FP8_E4M3, UMUP_FP8_RNE, 1, 0, 0) == UMUP_ERR_NULL);
    UT_CHECK(umup_fp8_encode_array(c, f, 4, (umup_fp8_format)17, UMUP_FP8_RNE, 1, 0, 0) == UMUP_ERR_INVALID_ARG);
    UT_CHECK(umup_fp8_encode_array(c, f, 4, UMUP_FP8_E4M3, (umup_fp8_rounding)9, 1, 0, 0) == UMUP_ERR_INVALID_ARG);
    UT_CHECK(c[0] == 7 && c[3] == 7); /* nothing written on error */
    UT_CHECK(umup_fp8_quantise_array(g, f, 4, (umup_fp8_format)-1, UMUP_FP8_RNE, 1, 0, 0) == UMUP_ERR_INVALID_ARG);
    UT_CHECK(umup_fp8_quantise_array(NULL, f, 4, UMUP_FP8_E4M3, UMUP_FP8_RNE, 1, 0, 0) == UMUP_ERR_NULL);
    UT_CHECK(umup_fp8_decode_array(g, NULL, 4, UMUP_FP8_E4M3) == UMUP_ERR_NULL);
    UT_CHECK(umup_fp8_decode_array(g, c, 4, UMUP_FP8_FORMAT_COUNT) == UMUP_ERR_INVALID_ARG);
    UT_CHECK(g[0] == 9 && g[3] == 9);
    UT_CHECK(umup_fp8_quantise_array(NULL, NULL, 0, UMUP_FP8_E4M3, UMUP_FP8_RNE, 1, 0, 0) == UMUP_OK); /* n = 0 */
    UT_CHECK(umup_float_quantise_array(g, f, 4, NULL, UMUP_FP8_RNE, 1, 0, 0) == UMUP_ERR_NULL);
    UT_CHECK(umup_float_quantise_array(g, f, 4, &hf, (umup_fp8_rounding)5, 1, 0, 0) == UMUP_ERR_INVALID_ARG);
    UT_CHECK(g[0] == 9);
    UT_CHECK(umup_fp8_parse("E4M3FN", &pf) == UMUP_OK && pf == UMUP_FP8_E4M3);
    UT_CHECK(umup_fp8_parse("e5m2fnuz", &pf) == UMUP_OK && pf == UMUP_FP8_E5M2FNUZ);
    UT_CHECK(umup_fp8_parse("e4m4", &pf) == UMUP_ERR_INVALID_ARG);
    UT_CHECK(umup_fp8_parse(NULL, &pf) == UMUP_ERR_NULL);
    {
        int s, distinct = 1;
        for (s = 1; s <= (int)UMUP_ERR_COMM; s++)
            if (strcmp(umup_status_string((umup_status)s), umup_status_string((umup_status)(s - 1))) == 0) distinct = 0;
        UT_CHECK(distinct);
        UT_CHECK(strcmp(umup_status_string((umup_status)1000), "unknown status code") == 0);
    }
}

int main(void) {
    UT_RUN(test_all_codes);
    UT_RUN(test_tricky_cases);
    UT_RUN(test_sr_specials);
    UT_RUN(test_bulk_equals_scalar);
    UT_RUN(test_quantise_matches_decode_encode);
    UT_RUN(test_quantise_lanes);
    UT_RUN(test_rng_split_invariance);
    UT_RUN(test_rng_statistics);
    UT_RUN(test_generic_formats);
    UT_RUN(test_mx);
    UT_RUN(test_errors);
    return ut_finish("test_fp8");
}
