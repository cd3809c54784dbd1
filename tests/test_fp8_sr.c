/* tests/test_fp8_sr.c - stochastic rounding, checked exactly: for chosen inputs x between
 * adjacent representable magnitudes a < b, enumerate every value of the k random bits the encoder
 * consumes (k = d dropped bits, or 16 in the SR16 mode) and require the number of round-ups to
 * equal floor((|x| - a) / (b - a) * 2^k) exactly: P(up) = rem / 2^d. a, b and d come from the
 * independent oracle (tests/fp8_oracle.h), not from the encoder. Inputs cover normal, subnormal,
 * sub -> normal, near-max and negative values in E4M3, E5M2 and the FNUZ formats. */
#define UMUP_FP8_IMPLEMENTATION
#include "umup_fp8.h"
#include "umup_test.h"
#include "fp8_oracle.h"

/* Enumerate; returns 0 when the count matches (or the input was skipped for d > max_d). */
static int check_sr(umup_fp8_format f, float x, int sat, int nbits, int max_d, long long *cases) {
    oracle_t o;
    double a = fabs((double)x), lo, hi, frac, step, ulp32;
    int i, d, k, ovf_hi, e2;
    unsigned code_lo, code_hi;
    long long j, n, ups = 0, expect;
    umup_float_format gf = umup_float_format_preset((umup_float_preset)f);
    oracle_init(&o, &ORACLE_FMTS[f]);
    i = oracle_floor(&o, a);
    lo = o.val[i];
    ovf_hi = i + 1 >= o.n;
    hi = ovf_hi ? o.virt : o.val[i + 1];
    step = hi - lo;
    frexp(a, &e2);
    ulp32 = ldexp(1.0, e2 - 24); /* spacing of floats at |x| (x normal) */
    d = (int)lround(log2(step / ulp32));
    if (d > max_d) return 0;
    k = d < nbits ? d : nbits;
    frac = (a - lo) / step;
    expect = (long long)floor(frac * ldexp(1.0, k));
    if (ovf_hi && sat) expect = 0; /* saturation: past max everything gives max */
    {
        uint32_t xb;
        float lof = (float)(x < 0 ? -lo : lo);
        memcpy(&xb, &lof, 4);
        code_lo = oracle_encode(&o, xb, sat);
    }
    code_hi = 0xFFFFu;
    n = 1LL << k;
    for (j = 0; j < n; j++) {
        uint32_t r = (uint32_t)((uint64_t)j << (32 - k));
        unsigned got = nbits == 32 ? umup_fp8_from_float_sr(x, f, sat, r)
                                   : umup_float_encode(x, &gf, sat, UMUP_FP8_SR16, 0, r);
        if (got != code_lo) {
            ups++;
            if (code_hi == 0xFFFFu) code_hi = got;
            else if (got != code_hi) return 1; /* more than two outcomes: not faithful */
        }
    }
    *cases += n;
    if (ups != expect) {
        printf("    %s x=%.9g sat=%d bits=%d d=%d: %lld ups, want %lld\n", umup_fp8_name(f), (double)x, sat, nbits, d, ups, expect);
        return 1;
    }
    /* the up outcome is b (or, past max, max under saturation / the overflow code) */
    if (ups && !ovf_hi) {
        float hf = (float)(x < 0 ? -hi : hi);
        uint32_t hb;
        memcpy(&hb, &hf, 4);
        if (code_hi != oracle_encode(&o, hb, sat)) return 1;
    }
    return 0;
}

static void test_sr_enumeration(void) {
    /* per format: inputs as multiples of the format's grid so every range is hit */
    static const umup_fp8_format F[4] = {UMUP_FP8_E4M3, UMUP_FP8_E5M2, UMUP_FP8_E4M3FNUZ, UMUP_FP8_E5M2FNUZ};
    int fi, bad = 0, quick = ut_quick();
    long long cases = 0;
    for (fi = 0; fi < 4; fi++) {
        umup_fp8_format f = F[fi];
        float mn = umup_fp8_min_normal(f), ms = umup_fp8_min_subnormal(f), mx = umup_fp8_max(f);
        float xs[16];
        int nx = 0, t, sat;
        xs[nx++] = 1.0f + ldexpf(1, -20) * 3;                 /* normal, small remainder */
        xs[nx++] = 3.3f;                                      /* normal */
        xs[nx++] = -0.0123f;                                  /* negative normal */
        xs[nx++] = 1.0f + ldexpf(1, -4) + ldexpf(1, -22);     /* just above a midpoint */
        xs[nx++] = mn * 0.3f;                                 /* subnormal */
        xs[nx++] = -ms * 1.7f;                                /* negative subnormal */
        xs[nx++] = mn - ms * 0.25f;                           /* sub -> normal boundary */
        xs[nx++] = ms * 0.5f;                                 /* half the min subnormal */
        xs[nx++] = ms * 0.75f;                                /* below the min subnormal */
        xs[nx++] = mx * 0.97f;                                /* near max */
        xs[nx++] = mx + (mx / 28.0f);                         /* between max and the virtual next */
        xs[nx++] = -(mx + (mx / 100.0f));
        for (t = 0; t < nx; t++) {
            for (sat = 0; sat < 2; sat++) {
                if (quick && t % 3) continue;
                bad += check_sr(f, xs[t], sat, 32, quick ? 20 : 24, &cases);
                bad += check_sr(f, xs[t], sat, 16, 32, &cases);
            }
        }
    }
    UT_CHECKF(bad == 0, "%d SR enumeration failures", bad);
    printf("  %lld (input, random bits) cases enumerated\n", cases);
}

/* E4M3 [416, 448): P(up) = (x - 416) / 32 for a sweep of inputs; and above max: saturation always
 * gives 448, while without saturation NaN appears with P = (x - 448) / 32. */
static void test_sr_near_max(void) {
    int bad = 0;
    float x;
    long long cases = 0;
    for (x = 416.0f; x < 480.0f; x += ut_quick() ? 13.37f : 3.37f) {
        bad += check_sr(UMUP_FP8_E4M3, x, 1, 32, 24, &cases);
        bad += check_sr(UMUP_FP8_E4M3, x, 0, 32, 24, &cases);
    }
    UT_CHECKF(bad == 0, "%d near-max failures", bad);
    UT_CHECK(umup_fp8_from_float_sr(455.0f, UMUP_FP8_E4M3, 1, 0xFFFFFFFFu) == 0x7E);
    UT_CHECK(umup_fp8_from_float_sr(455.0f, UMUP_FP8_E4M3, 0, 0xFFFFFFFFu) == 0x7F);
}

/* Unbiasedness over a whole binade: for every float x in a range of E5M2 subnormals, the mean of
 * SR(x) over all 2^k random prefixes equals x exactly (in double). */
static void test_sr_unbiased_sweep(void) {
    uint32_t xb, start = 0x37000000u /* 2^-17 */, count = ut_quick() ? 64u : 1024u;
    int bad = 0;
    for (xb = start; xb < start + count * 997u; xb += 997u) {
        float x;
        double sum = 0;
        uint32_t j;
        memcpy(&x, &xb, 4);
        /* d = 24 here (step 2^-16, float ulp 2^-40); enumerate the top 12 of the 24 bits */
        for (j = 0; j < 4096u; j++) {
            uint32_t r = j << 20;
            sum += umup_fp8_to_float(umup_fp8_from_float_sr(x, UMUP_FP8_E5M2, 1, r), UMUP_FP8_E5M2);
        }
        /* with 12 of the 24 bits enumerated the mean is x rounded down to a 2^-12 step of the grid */
        if (fabs(sum / 4096.0 - (double)x) > ldexp(1.0, -16 - 12)) bad++;
    }
    UT_CHECKF(bad == 0, "%d inputs with a biased mean", bad);
}

int main(void) {
    UT_RUN(test_sr_enumeration);
    UT_RUN(test_sr_near_max);
    UT_RUN(test_sr_unbiased_sweep);
    return ut_finish("test_fp8_sr");
}
