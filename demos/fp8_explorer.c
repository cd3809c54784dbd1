/* demos/fp8_explorer.c - look inside the small-float formats of umup_fp8.h.
 *
 *   fp8_explorer --table e4m3            every code of a format: bits, value, class
 *   fp8_explorer 1.0625 0.3 300 500      each number in each format: round-to-nearest-even
 *                                        (saturating and not), its two neighbours, and the
 *                                        stochastic-rounding distribution as a histogram
 * Options: --formats e4m3,e5m2,...  --samples N (SR draws, default 100000)  --seed S  --help
 */
#define UMUP_FP8_IMPLEMENTATION
#include "umup_fp8.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: fp8_explorer [--table FORMAT] [--formats F1,F2,...] [--samples N] [--seed S] [NUMBER ...]\n"
            "  --table FORMAT   print every code of FORMAT with its bits, value and class\n"
            "  NUMBER ...       show round-to-nearest-even (saturating and not) and the stochastic\n"
            "                   rounding distribution of each number in each format\n"
            "  --formats LIST   formats to use for NUMBERs (default e4m3,e5m2,e4m3fnuz,e5m2fnuz)\n"
            "  --samples N      stochastic-rounding draws per number and format (default 100000)\n"
            "  --seed S         RNG seed (default 1)\n"
            "formats: e4m3 e5m2 e4m3fnuz e5m2fnuz e4m3b11fnuz gc_e4m3 gc_e5m2\n");
}

static const char *classify(float v, uint8_t code, umup_fp8_format f) {
    if (v != v) return "NaN";
    if (v > 3.4e38f || v < -3.4e38f) return "Inf";
    if (v == 0.0f) return (code & 0x80) ? "-0" : "zero";
    if (fabsf(v) < umup_fp8_min_normal(f)) return "subnormal";
    return "normal";
}

static void print_table(umup_fp8_format f) {
    int c, e = (f == UMUP_FP8_E5M2 || f == UMUP_FP8_E5M2FNUZ || f == UMUP_FP8_GC_E5M2) ? 5 : 4, m = 7 - e;
    printf("%s: max %g, min normal %g, min subnormal %g\n", umup_fp8_name(f), (double)umup_fp8_max(f),
           (double)umup_fp8_min_normal(f), (double)umup_fp8_min_subnormal(f));
    printf("code  %-10s  value            class     | code  %-10s  value            class\n", "S.E.M bits", "S.E.M bits");
    for (c = 0; c < 128; c++) {
        int half;
        for (half = 0; half < 2; half++) {
            int code = c + half * 128, b;
            float v = umup_fp8_to_float((uint8_t)code, f);
            char bits[16];
            int p = 0;
            bits[p++] = (char)('0' + ((code >> 7) & 1));
            bits[p++] = '.';
            for (b = 6; b >= m; b--) bits[p++] = (char)('0' + ((code >> b) & 1));
            bits[p++] = '.';
            for (b = m - 1; b >= 0; b--) bits[p++] = (char)('0' + ((code >> b) & 1));
            bits[p] = 0;
            printf("0x%02X  %-10s  %-15.9g  %-9s%s", code, bits, (double)v, classify(v, (uint8_t)code, f), half ? "\n" : " | ");
        }
    }
}

static void bar(double frac) {
    int n = (int)(frac * 40.0 + 0.5), i;
    for (i = 0; i < n; i++) putchar('#');
    for (; i < 40; i++) putchar(' ');
}

static void explore(float x, const umup_fp8_format *fs, int nf, long samples, uint64_t seed) {
    int k;
    uint32_t xb;
    memcpy(&xb, &x, sizeof xb);
    printf("\nx = %.9g  (float bits 0x%08X)\n", (double)x, (unsigned)xb);
    for (k = 0; k < nf; k++) {
        umup_fp8_format f = fs[k];
        uint8_t cs = umup_fp8_from_float(x, f, 1), cn = umup_fp8_from_float(x, f, 0);
        long i, count[256];
        int c, distinct = 0;
        printf("  %-12s RNE sat 0x%02X = %-12.9g RNE non-sat 0x%02X = %-12.9g", umup_fp8_name(f), cs,
               (double)umup_fp8_to_float(cs, f), cn, (double)umup_fp8_to_float(cn, f));
        if (x == x && fabsf(x) <= umup_fp8_max(f)) {
            float q = umup_fp8_to_float(cs, f);
            printf(" error %+.3g (%.3g%%)", (double)(q - x), x != 0 ? 100.0 * fabs((double)(q - x) / x) : 0.0);
        } else if (x == x) {
            printf(" (out of range: saturates to +-%g)", (double)umup_fp8_max(f));
        }
        printf("\n");
        memset(count, 0, sizeof count);
        for (i = 0; i < samples; i++) count[umup_fp8_from_float_sr(x, f, 1, umup_rng_u32(seed, (uint64_t)i))]++;
        for (c = 0; c < 256; c++) {
            if (!count[c]) continue;
            distinct++;
            printf("      SR -> 0x%02X = %-12.9g ", c, (double)umup_fp8_to_float((uint8_t)c, f));
            bar((double)count[c] / (double)samples);
            printf(" %6.2f%%\n", 100.0 * (double)count[c] / (double)samples);
        }
        if (distinct == 2 && x == x) {
            double mean = 0;
            for (c = 0; c < 256; c++)
                if (count[c]) mean += (double)umup_fp8_to_float((uint8_t)c, f) * (double)count[c];
            printf("      SR mean over %ld draws: %.9g (x = %.9g: unbiased up to sampling noise)\n", samples,
                   mean / (double)samples, (double)x);
        }
    }
}

static int parse_formats(const char *s, umup_fp8_format *fs, int *nf) {
    char buf[256], *tok;
    if (strlen(s) >= sizeof buf) return 0;
    strcpy(buf, s);
    *nf = 0;
    for (tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (*nf >= 16 || umup_fp8_parse(tok, &fs[*nf]) != UMUP_OK) {
            fprintf(stderr, "fp8_explorer: unknown format '%s'\n", tok);
            return 0;
        }
        (*nf)++;
    }
    return *nf > 0;
}

int main(int argc, char **argv) {
    umup_fp8_format fs[16] = {UMUP_FP8_E4M3, UMUP_FP8_E5M2, UMUP_FP8_E4M3FNUZ, UMUP_FP8_E5M2FNUZ};
    int nf = 4, i, did = 0;
    long samples = 100000;
    uint64_t seed = 1;
    float xs[256];
    int nx = 0;
    if (argc < 2) { usage(stderr); return 2; }
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        if (!strcmp(a, "--table") || !strcmp(a, "--formats") || !strcmp(a, "--samples") || !strcmp(a, "--seed")) {
            if (i + 1 >= argc) { fprintf(stderr, "fp8_explorer: %s needs a value\n", a); usage(stderr); return 2; }
            if (!strcmp(a, "--table")) {
                umup_fp8_format f;
                if (umup_fp8_parse(argv[++i], &f) != UMUP_OK) {
                    fprintf(stderr, "fp8_explorer: unknown format '%s'\n", argv[i]);
                    usage(stderr);
                    return 2;
                }
                print_table(f);
                did = 1;
            } else if (!strcmp(a, "--formats")) {
                if (!parse_formats(argv[++i], fs, &nf)) { usage(stderr); return 2; }
            } else {
                char *end;
                long long v;
                errno = 0;
                v = strtoll(argv[++i], &end, 10);
                if (*end || errno || v < (a[2] == 's' && a[3] == 'a' ? 1 : 0) || v > 100000000LL) {
                    fprintf(stderr, "fp8_explorer: bad value '%s' for %s\n", argv[i], a);
                    return 2;
                }
                if (a[2] == 's' && a[3] == 'a') samples = (long)v; else seed = (uint64_t)v;
            }
            continue;
        }
        {
            char *end;
            double v;
            errno = 0;
            v = strtod(a, &end);
            if (end == a || *end || nx >= 256) {
                fprintf(stderr, "fp8_explorer: '%s' is not a number or an option\n", a);
                usage(stderr);
                return 2;
            }
            xs[nx++] = (float)v;
        }
    }
    for (i = 0; i < nx; i++) explore(xs[i], fs, nf, samples, seed);
    if (!did && nx == 0) { usage(stderr); return 2; }
    return 0;
}
