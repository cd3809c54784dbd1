/* examples/unit_linear.c - one unit-scaled op, forward and backward, checked by finite differences.
 *
 *   cc -std=c99 -I. examples/unit_linear.c -o unit_linear -lm
 *
 * A unit-scaled linear layer y = s.out * x W^T (x [rows, in], W [out, in], the torch layout) with
 * u-muP's scales: s.out = 1/sqrt(in) in the forward pass; in the backward pass the input gradient is
 * scaled by s.grad[0] (= s.out under the default constraint) and the weight gradient by
 * s.grad_w = 1/sqrt(rows). With unit-variance x, W and upstream gradient dy, all of y, dx and dW then
 * have scale about 1, which is what lets them live in FP8 without scaling factors.
 *
 * The backward pass is therefore NOT the true gradient: it is the true gradient times
 * (declared backward scale / forward scale). For L = sum(y * dy), finite differences of L give the
 * true gradient; this program checks dx = FD * grad[0]/out (= 1x here) and dW = FD * grad_w/out
 * (= sqrt(in/rows) = 2x here) on a few entries, and prints the scales. Exits 0 when all checks hold. */
#define UMUP_IMPLEMENTATION
#include "umup.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { ROWS = 64, IN = 256, OUT = 256 };

static float x[ROWS * IN], W[OUT * IN], y[ROWS * OUT], dy[ROWS * OUT], dx[ROWS * IN], dW[OUT * IN];

static float normal(uint64_t counter) { /* N(0, 1) from two uniforms (Box-Muller) */
    double u1 = umup_rng_uniform(7, 2 * counter) + 1e-12, u2 = umup_rng_uniform(7, 2 * counter + 1);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static double rms(const float *a, int n) {
    double s = 0.0;
    int i;
    for (i = 0; i < n; i++) s += (double)a[i] * a[i];
    return sqrt(s / n);
}

/* L = sum(y * dy) for the current x and W */
static double loss(const umup_op_scales *s) {
    double L = 0.0;
    int i;
    umup_linear_forward(y, x, W, NULL, ROWS, IN, OUT, s);
    for (i = 0; i < ROWS * OUT; i++) L += (double)y[i] * dy[i];
    return L;
}

/* Central difference of L in *p; L is linear in every single entry, so any step is exact up to
 * float rounding: a power of two keeps p +- h exact. */
static double fd(float *p, const umup_op_scales *s) {
    const float h = 0.125f, p0 = *p;
    double lp, lm;
    *p = p0 + h; lp = loss(s);
    *p = p0 - h; lm = loss(s);
    *p = p0;
    return (lp - lm) / (2.0 * h);
}

int main(void) {
    umup_op_scales s;
    double worst_dx = 0.0, worst_dW = 0.0;
    int i, ok;
    for (i = 0; i < ROWS * IN; i++) x[i] = normal((uint64_t)i);
    for (i = 0; i < OUT * IN; i++) W[i] = normal((uint64_t)(1 << 20) + i);
    for (i = 0; i < ROWS * OUT; i++) dy[i] = normal((uint64_t)(1 << 21) + i);

    if (umup_linear_scales(&s, ROWS, IN, OUT, UMUP_CONSTRAINT_TO_OUTPUT_SCALE) != UMUP_OK) return 1;
    printf("scales: out = 1/sqrt(%d) = %.4f, grad[0] (dx) = %.4f, grad_w (dW) = 1/sqrt(%d) = %.4f\n", IN,
           (double)s.out, (double)s.grad[0], ROWS, (double)s.grad_w);

    loss(&s);                                               /* forward: y */
    umup_linear_backward(dx, dW, NULL, dy, x, W, ROWS, IN, OUT, &s); /* accumulates into dx, dW (zero here) */
    printf("RMS: x %.3f  W %.3f  dy %.3f  ->  y %.3f  dx %.3f  dW %.3f\n", rms(x, ROWS * IN), rms(W, OUT * IN),
           rms(dy, ROWS * OUT), rms(y, ROWS * OUT), rms(dx, ROWS * IN), rms(dW, OUT * IN));

    for (i = 0; i < 8; i++) { /* 8 entries of x and 8 of W, spread over the arrays */
        int a = (i * 2039) % (ROWS * IN), b = (i * 7919) % (OUT * IN);
        double want_dx = fd(&x[a], &s) * s.grad[0] / s.out, want_dW = fd(&W[b], &s) * s.grad_w / s.out;
        double ex = fabs(dx[a] - want_dx) / fabs(want_dx), eW = fabs(dW[b] - want_dW) / fabs(want_dW);
        if (i < 2) printf("x[%d]: backward %.6f, finite difference x grad[0]/out %.6f;  W[%d]: backward %.6f, FD x grad_w/out %.6f\n",
                          a, (double)dx[a], want_dx, b, (double)dW[b], want_dW);
        worst_dx = ex > worst_dx ? ex : worst_dx;
        worst_dW = eW > worst_dW ? eW : worst_dW;
    }
    ok = worst_dx < 1e-3 && worst_dW < 1e-3 && fabs(rms(y, ROWS * OUT) - 1.0) < 0.1 && fabs(rms(dx, ROWS * IN) - 1.0) < 0.1 &&
         fabs(rms(dW, OUT * IN) - 1.0) < 0.1;
    printf("largest relative error: dx %.2e, dW %.2e\nunit_linear: %s\n", worst_dx, worst_dW, ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
