/* tests/fp8_oracle.h - an independent, slow reference for umup_fp8.h's encoders, shared by the
 * FP8 tests. It shares no code with the header: values come from the code formula evaluated in
 * double, and rounding is a binary search over the sorted value table with exact midpoints,
 * ties broken by code parity, and the virtual next-binade value above max for the overflow tie
 * (research/fp8.md section 8). */
#ifndef UMUP_FP8_ORACLE_H
#define UMUP_FP8_ORACLE_H
#include <math.h>
#include <stdint.h>
#include <string.h>

/* kind: 0 IEEE (Inf + NaN), 1 FN (one NaN per sign), 2 FNUZ (0x80 NaN, no -0), 3 NONE (all finite) */
typedef struct { int e, m, bias, kind; } oracle_fmt;

/* In the order of umup_fp8_format. */
static const oracle_fmt ORACLE_FMTS[7] = {
    {4, 3, 7, 1}, {5, 2, 15, 0}, {4, 3, 8, 2}, {5, 2, 16, 2}, {4, 3, 11, 2}, {4, 3, 8, 3}, {5, 2, 16, 3}};

/* Value of a code: returns 0 and the value in *v for finite codes, 1 NaN, 2 +Inf, 3 -Inf. */
static inline int oracle_formula(const oracle_fmt *f, unsigned code, double *v) {
    unsigned nb = 1 + f->e + f->m, s = (code >> (nb - 1)) & 1, E = (code >> f->m) & ((1u << f->e) - 1);
    unsigned M = code & ((1u << f->m) - 1);
    if (f->kind == 2 && code == (1u << (nb - 1))) return 1;
    if (f->kind == 1 && E == (1u << f->e) - 1 && M == (1u << f->m) - 1) return 1;
    if (f->kind == 0 && E == (1u << f->e) - 1) return M ? 1 : (s ? 3 : 2);
    *v = E ? ldexp(1.0 + M / (double)(1u << f->m), (int)E - f->bias) : ldexp(M / (double)(1u << f->m), 1 - f->bias);
    if (s) *v = -*v;
    return 0;
}

/* Sorted non-negative finite values of an 8-bit format with their codes, and the virtual value. */
typedef struct {
    oracle_fmt f;
    int n;
    double val[129];
    unsigned code[129];
    double virt;        /* max + one step: the overflow tie point's upper neighbour */
    unsigned maxcode;
} oracle_t;

static inline void oracle_init(oracle_t *o, const oracle_fmt *f) {
    unsigned c;
    o->f = *f;
    o->n = 0;
    for (c = 0; c < 128u; c++) {
        double v;
        if (oracle_formula(f, c, &v) == 0) { o->val[o->n] = v; o->code[o->n] = c; o->n++; }
    }
    o->maxcode = o->code[o->n - 1];
    o->virt = o->val[o->n - 1] + (o->val[o->n - 1] - o->val[o->n - 2]);
}

/* Index into val[] of the largest value <= a (a >= 0 finite, a < virt). */
static inline int oracle_floor(const oracle_t *o, double a) {
    int lo = 0, hi = o->n - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (o->val[mid] <= a) lo = mid; else hi = mid - 1;
    }
    return lo;
}

/* RNE magnitude code of |x| for finite x; sets *ovf when the result is past max. */
static inline unsigned oracle_rne_mag(const oracle_t *o, double a, int *ovf) {
    int i;
    double lo, hi, mid;
    unsigned chi;
    *ovf = 0;
    if (a >= o->virt) { *ovf = 1; return 0; }
    i = oracle_floor(o, a);
    lo = o->val[i];
    if (i + 1 < o->n) { hi = o->val[i + 1]; chi = o->code[i + 1]; }
    else { hi = o->virt; chi = o->maxcode + 1; }
    mid = (lo + hi) / 2; /* exact in double */
    if (a < mid || (a == mid && (o->code[i] & 1u) == 0)) return o->code[i];
    if (chi == o->maxcode + 1) { *ovf = 1; return 0; }
    return chi;
}

/* The complete expected code for float bits x, following SPEC section 6's rules. */
static inline unsigned oracle_encode(const oracle_t *o, uint32_t x, int sat) {
    unsigned sign = x >> 31, nb = 1 + o->f.e + o->f.m, sbit = 1u << (nb - 1), mag, nan;
    uint32_t a = x & 0x7FFFFFFFu;
    float af;
    int ovf = 0;
    nan = o->f.kind == 0 ? ((((1u << o->f.e) - 1) << o->f.m) | (1u << (o->f.m - 1)))
        : o->f.kind == 1 ? sbit - 1 : o->f.kind == 2 ? sbit : 0;
    if (a > 0x7F800000u) return (o->f.kind <= 1) ? (nan | (sign ? sbit : 0)) : nan;
    memcpy(&af, &a, 4);
    if (a == 0x7F800000u) ovf = 1;
    else mag = oracle_rne_mag(o, (double)af, &ovf);
    if (ovf) {
        if (sat || o->f.kind == 3) mag = o->maxcode;
        else if (o->f.kind == 0) mag = ((1u << o->f.e) - 1) << o->f.m;
        else if (o->f.kind == 1) mag = sbit - 1;
        else return sbit; /* FNUZ: 0x80 */
    }
    if (o->f.kind == 2 && mag == 0) return 0;
    return mag | (sign ? sbit : 0);
}
#endif
