/* umup.h - v0.1.0 - unit-scaled maximal update parametrization (u-muP) in one C header
 *
 * (Top-of-file manual: written when the op, parametrization and trainer layers land.)
 *
 * Do this:
 *     #define UMUP_IMPLEMENTATION
 *     #include "umup.h"
 * in exactly one C or C++ file; include "umup.h" without the define anywhere else.
 * UMUP_IMPLEMENTATION also compiles the implementation of umup_fp8.h (included below).
 * Link with -lm.
 *
 * Options (define before including, in the implementation file):
 *     UMUP_STATIC          make every function static to this translation unit
 *     UMUP_MALLOC(sz) / UMUP_FREE(p)
 *                          replace malloc/free (define both or neither)
 *     UMUP_ASSERT(x)       replace assert() for internal invariants (never used for user errors)
 *     UMUP_USE_CBLAS       route the large matmuls through cblas_sgemm (link -lopenblas)
 */
#ifndef UMUP_H
#define UMUP_H

#include "umup_fp8.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ============================================================================================ */
/* 1. Scales and constraints                                                                    */
/* ============================================================================================ */
/* A unit-scaled op ([GC] unit_scaling/functional.py, commit a7b5b3c) multiplies each input's
 * gradient by a grad scale (scale_bwd), runs the plain op, and multiplies its output by an
 * output scale (scale_fwd). Every op below takes its scales explicitly in a umup_op_scales,
 * computed from shapes, mult and constraint by its umup_<op>_scales() function. Setting every
 * field to 1 gives the plain (unscaled) op, where the op allows it; the docs say which field does
 * what. A user can read and override every factor. */

/* Scales of one op. out: forward output scale; grad[i]: scale on the gradient of input i
 * (in the order of the op's inputs: x, then gate / b / k, v ...); grad_w: scale on the weight
 * (and bias) gradient. Unused fields are 1. */
typedef struct {
    float out;
    float grad[3];
    float grad_w;
} umup_op_scales;

/* How an op's output scale and input-grad scales are tied together ([GC] constraints.py).
 * Weight-grad scales are never constrained. Zero is the u-muP default, to_output_scale. */
typedef enum {
    UMUP_CONSTRAINT_TO_OUTPUT_SCALE = 0, /* every scale becomes the output scale (u-muP default) */
    UMUP_CONSTRAINT_NONE,                /* forward and backward scales stay independent */
    UMUP_CONSTRAINT_TO_GRAD_INPUT_SCALE, /* every scale becomes the first input's grad scale */
    UMUP_CONSTRAINT_GMEAN,               /* geometric mean of all (the Unit Scaling paper's default) */
    UMUP_CONSTRAINT_HMEAN                /* harmonic mean of all */
} umup_constraint;

/* Apply constraint c to scales[0..n): scales[0] is the output scale, scales[1..n) the input-grad
 * scales. All n values are replaced by one value (or left alone for NONE).
 * Errors: UMUP_ERR_NULL; UMUP_ERR_INVALID_ARG (n < 1, unknown c, a scale <= 0 for the means). */
UMUPDEF umup_status umup_apply_constraint(umup_constraint c, float *scales, int n);

/* lower^(1-alpha) * upper^alpha: the interpolation every empirical scale model uses
 * ([GC] core/functional.py logarithmic_interpolation). lower, upper > 0. */
UMUPDEF double umup_logarithmic_interpolation(double alpha, double lower, double upper);

/* scale_fwd(x, s): y = s*x in the forward pass, dx = dy in the backward pass.
 * scale_bwd(x, s): y = x in the forward pass, dx = s*dy in the backward pass.
 * x, y: n floats (y may equal x). The backward functions accumulate: dx += ... */
UMUPDEF umup_status umup_scale_fwd_forward(float *y, const float *x, size_t n, float s);
UMUPDEF umup_status umup_scale_fwd_backward(float *dx, const float *dy, size_t n);
UMUPDEF umup_status umup_scale_bwd_forward(float *y, const float *x, size_t n);
UMUPDEF umup_status umup_scale_bwd_backward(float *dx, const float *dy, size_t n, float s);

/* ============================================================================================ */
/* 2. Matmuls: matmul, linear, linear_readout                                                   */
/* ============================================================================================ */
/* Row-major buffers. All matmul-shaped work goes through one private GEMM entry (umup__sgemm),
 * portable C by default, CBLAS with UMUP_USE_CBLAS. Shapes are ints > 0. */

/* matmul C[m,n] = out * A[m,k] B[k,n]; grads dA = grad[0] * dC B^T, dB = grad[1] * A^T dC.
 * Scales: out = k^-1/2, grad[0] = n^-1/2, grad[1] = m^-1/2, then constraint c over all three
 * (default to_output_scale: all k^-1/2). */
UMUPDEF umup_status umup_matmul_scales(umup_op_scales *s, int m, int k, int n, umup_constraint c);
UMUPDEF umup_status umup_matmul_forward(float *C, const float *A, const float *B, int m, int k, int n,
                                        const umup_op_scales *s);
/* dA [m,k] += grad[0] * dC B^T; dB [k,n] += grad[1] * A^T dC. dA or dB may be NULL (skipped). */
UMUPDEF umup_status umup_matmul_backward(float *dA, float *dB, const float *dC, const float *A, const float *B,
                                         int m, int k, int n, const umup_op_scales *s);

/* linear: y[rows,out] = s.out * x[rows,in] W^T + bias, W in the torch layout [out,in], bias
 * [out] or NULL (added after the scale, as [AA] does; u-muP models use no bias).
 * Scales ([GC] linear): out = in^-1/2, grad[0] (dx) = out^-1/2, grad_w = rows^-1/2; the
 * constraint covers (out, dx) only (default to_output_scale: dx also in^-1/2).
 * All ones gives the plain torch linear. */
UMUPDEF umup_status umup_linear_scales(umup_op_scales *s, int rows, int in, int out, umup_constraint c);

/* linear_readout ([GC] linear_readout, the muP output layer): out = 1/in, grad[0] = out^-1/2,
 * grad_w = rows^-1/2, with its default constraint NONE (the readout sits on a cut edge). */
UMUPDEF umup_status umup_linear_readout_scales(umup_op_scales *s, int rows, int in, int out, umup_constraint c);

/* y [rows,out] = s.out * x W^T (+ bias). Used for linear and linear_readout alike. */
UMUPDEF umup_status umup_linear_forward(float *y, const float *x, const float *W, const float *bias, int rows,
                                        int in, int out, const umup_op_scales *s);
/* Accumulates: dx [rows,in] += grad[0] * dy W; dW [out,in] += grad_w * dy^T x;
 * dbias [out] += grad_w * sum over rows of dy. dx, dW, dbias may each be NULL (skipped). */
UMUPDEF umup_status umup_linear_backward(float *dx, float *dW, float *dbias, const float *dy, const float *x,
                                         const float *W, int rows, int in, int out, const umup_op_scales *s);

/* ============================================================================================ */
/* 3. Elementwise nonlinearities: gelu, silu, silu_glu                                          */
/* ============================================================================================ */
/* mult is the inverse temperature (u-muP's alpha_ffn-act), > 0. Output and grad scales are
 * empirical fits ([GC]): with li = umup_logarithmic_interpolation,
 *   gelu: out = li(a, 2, sqrt(2/(1-1/pi))), a = 1/(1 + 0.25/mult^2); grad = li(a, 2, sqrt 2)
 *   silu: out as gelu; grad = li(a', 2, sqrt 2), a' = 1/(1 + 1/mult^2)
 * then constraint c over (out, grad) (default to_output_scale). Plain op: out = grad = 1. */
UMUPDEF umup_status umup_gelu_scales(umup_op_scales *s, float mult, umup_constraint c);
UMUPDEF umup_status umup_silu_scales(umup_op_scales *s, float mult, umup_constraint c);

/* gelu: y = out * gelu(mult*x)/mult, exact erf form gelu(u) = u/2 (1 + erf(u/sqrt 2)).
 * backward: dx += grad[0] * dy * gelu'(mult*x). n elements; y may equal x. */
UMUPDEF umup_status umup_gelu_forward(float *y, const float *x, size_t n, float mult, const umup_op_scales *s);
UMUPDEF umup_status umup_gelu_backward(float *dx, const float *dy, const float *x, size_t n, float mult,
                                       const umup_op_scales *s);

/* silu: y = out * x sigmoid(mult*x); dx += grad[0] * dy * (sig + mult x sig (1 - sig)). */
UMUPDEF umup_status umup_silu_forward(float *y, const float *x, size_t n, float mult, const umup_op_scales *s);
UMUPDEF umup_status umup_silu_backward(float *dx, const float *dy, const float *x, size_t n, float mult,
                                       const umup_op_scales *s);

/* silu_glu (SwiGLU): y = out * x * gate * sigmoid(mult*gate), with out = grad[0] = grad[1] =
 * li(a', 2, sqrt 2), a' = 1/(1 + 1/mult^2) (implicitly constrained, [GC] silu_glu).
 * backward: dx += grad[0] dy gate sig; dgate += grad[1] dy x (sig + mult gate sig (1 - sig)). */
UMUPDEF umup_status umup_silu_glu_scales(umup_op_scales *s, float mult);
UMUPDEF umup_status umup_silu_glu_forward(float *y, const float *x, const float *gate, size_t n, float mult,
                                          const umup_op_scales *s);
UMUPDEF umup_status umup_silu_glu_backward(float *dx, float *dgate, const float *dy, const float *x,
                                           const float *gate, size_t n, float mult, const umup_op_scales *s);

/* ============================================================================================ */
/* 4. Softmax and attention                                                                     */
/* ============================================================================================ */
/* softmax over the last dimension n of x [rows, n]: y = out * softmax(mult*x) (max-subtracted,
 * stable for any finite logits). Scales ([GC] softmax): out = li(a, n, sqrt n),
 * grad = li(a, n/mult, sqrt(n/mult)), a = 1/(1 + 4/mult^2), then constraint c (default
 * to_output_scale). backward (recomputes softmax from x): dx += grad[0] * mult * p (dy - <dy, p>). */
UMUPDEF umup_status umup_softmax_scales(umup_op_scales *s, int n, float mult, umup_constraint c);
UMUPDEF umup_status umup_softmax_forward(float *y, const float *x, int rows, int n, float mult,
                                         const umup_op_scales *s);
UMUPDEF umup_status umup_softmax_backward(float *dx, const float *dy, const float *x, int rows, int n, float mult,
                                          const umup_op_scales *s);

/* Scaled dot-product attention on q, k, v laid out [B, H, S, D] (contiguous; S = query length =
 * KV length). att = softmax(logit_scale * q k^T + causal mask); out = s.out * att v.
 * u-muP ([GC] scaled_dot_product_attention): logit_scale = mult / D, and
 * s.out = grad[0..2] = 1 / li(a, sqrt((causal ? ln S : 1) / S), 1), a = 1/(1 + 4 D / mult^2)
 * (implicitly constrained; S is the KV length). SP: logit_scale = 1/sqrt(D) and all scales 1.
 * att [B, H, S, S] is filled by the forward pass (the backward pass needs it). Causally masked
 * entries are exactly 0; the first query attends to key 0 only, so no row is ever empty (no NaN). */
UMUPDEF umup_status umup_sdpa_scales(umup_op_scales *s, int S, int D, int causal, float mult);

/* Head size of a width split into n_heads heads: *d_head = width / n_heads.
 * Errors: UMUP_ERR_NULL; UMUP_ERR_SHAPE if width or n_heads < 1 or n_heads does not divide width. */
UMUPDEF umup_status umup_head_dim(int width, int n_heads, int *d_head);
UMUPDEF umup_status umup_sdpa_forward(float *out, float *att, const float *q, const float *k, const float *v,
                                      int B, int H, int S, int D, int causal, float logit_scale,
                                      const umup_op_scales *s);
/* Accumulates dq, dk, dv [B,H,S,D] (+= grad[i] * true gradient of the plain op), from dout and
 * the att saved by the forward pass. Allocates one S x S scratch (UMUP_ERR_NOMEM on failure). */
UMUPDEF umup_status umup_sdpa_backward(float *dq, float *dk, float *dv, const float *dout, const float *att,
                                       const float *q, const float *k, const float *v, int B, int H, int S,
                                       int D, float logit_scale, const umup_op_scales *s);

/* ============================================================================================ */
/* 5. Normalisation (non-parametric), add, residuals, dropout                                   */
/* ============================================================================================ */
#define UMUP_NORM_EPS 1e-5f

/* rms_norm over the last dimension d of x [rows, d]: y = x / sqrt(mean(x^2) + 1e-5).
 * layer_norm: y = (x - mean) / sqrt(var + 1e-5) (biased variance). No affine parameters; unit
 * scaled as they are (output and grad scale 1). Backward accumulates the exact gradient. */
UMUPDEF umup_status umup_rms_norm_forward(float *y, const float *x, int rows, int d);
UMUPDEF umup_status umup_rms_norm_backward(float *dx, const float *dy, const float *x, int rows, int d);
UMUPDEF umup_status umup_layer_norm_forward(float *y, const float *x, int rows, int d);
UMUPDEF umup_status umup_layer_norm_backward(float *dx, const float *dy, const float *x, int rows, int d);

/* add: y = out (a + b); da += grad[0] dy, db += grad[1] dy. Scales: 2^-1/2 each, then c. */
UMUPDEF umup_status umup_add_scales(umup_op_scales *s, umup_constraint c);
UMUPDEF umup_status umup_add_forward(float *y, const float *a, const float *b, size_t n, const umup_op_scales *s);
UMUPDEF umup_status umup_add_backward(float *da, float *db, const float *dy, size_t n, const umup_op_scales *s);

/* Residual pair ([GC] residual_split / residual_add; tau = branch std / skip std, > 0):
 *   split(x, tau): r = x, s = x;   backward dx += tau/sqrt(1+tau^2) dr + 1/sqrt(1+tau^2) ds
 *   add(r, s, tau): y = tau/sqrt(1+tau^2) r + 1/sqrt(1+tau^2) s;  backward dr += dy, ds += dy
 * Together y = (tau f(x) + x)/sqrt(1+tau^2) and dx is exactly the true gradient, while the
 * gradient inside the branch stays unit scaled. r or s of split_forward may be NULL. */
UMUPDEF umup_status umup_residual_split_forward(float *r, float *s, const float *x, size_t n);
UMUPDEF umup_status umup_residual_split_backward(float *dx, const float *dr, const float *ds, size_t n, float tau);
UMUPDEF umup_status umup_residual_add_forward(float *y, const float *r, const float *s, size_t n, float tau);
UMUPDEF umup_status umup_residual_add_backward(float *dr, float *ds, const float *dy, size_t n);

/* tau of residual branch i (0 = first attention, 1 = first MLP, ...) under the u-muP rule
 * ([GC] transformer_residual_scaling_rule, [P] appendix G):
 *   a_mlp = alpha_res sqrt(2/(1+ratio^2)), a_attn = ratio a_mlp,
 *   tau(i) = a_i / sqrt(depth + n_attn(i) a_attn^2 + n_mlp(i) a_mlp^2),
 *   a_i = a_attn for even i else a_mlp, n_attn(i) = floor((i+1)/2), n_mlp(i) = floor(i/2).
 * depth is the number of layers ([GC]; the reference values use it) or 2 x layers ([AA]'s
 * default, which makes the effective alpha_res sqrt 2 smaller). Returns NaN for invalid input. */
UMUPDEF double umup_residual_tau(int i, double depth, double alpha_res, double ratio);

typedef enum { UMUP_DEPTH_LAYERS = 0, UMUP_DEPTH_2X_LAYERS = 1 } umup_depth_mode;

/* Fills taus[0 .. 2*layers) for a transformer with `layers` layers.
 * Errors: UMUP_ERR_NULL, UMUP_ERR_SHAPE (layers < 1), UMUP_ERR_INVALID_ARG (alpha_res or
 * ratio not finite and > 0, unknown mode). */
UMUPDEF umup_status umup_transformer_residual_taus(double *taus, int layers, double alpha_res, double ratio,
                                                   umup_depth_mode mode);

/* Inverted dropout with keep mask from the counter RNG: element i is kept iff
 * umup_rng_uniform(seed, counter + i) >= p. Unit scaled: y = out * mask x / (1-p) with
 * out = grad[0] = sqrt(1-p) ([GC] dropout); plain: scales 1. The backward pass regenerates the
 * same mask from (seed, counter): dx += grad[0] * mask dy / (1-p). 0 <= p < 1. */
UMUPDEF umup_status umup_dropout_scales(umup_op_scales *s, float p);
UMUPDEF umup_status umup_dropout_forward(float *y, const float *x, size_t n, float p, uint64_t seed,
                                         uint64_t counter, const umup_op_scales *s);
UMUPDEF umup_status umup_dropout_backward(float *dx, const float *dy, size_t n, float p, uint64_t seed,
                                          uint64_t counter, const umup_op_scales *s);

/* ============================================================================================ */
/* 6. Embedding and cross-entropy                                                               */
/* ============================================================================================ */
/* embedding: y[n_ids, d] = W[ids] (W [V, d]); forward scale 1. backward: dW[ids[i]] += grad_w *
 * dy[i], grad_w = sqrt(V / n_ids) ([GC] embedding). Errors: UMUP_ERR_INVALID_ARG for an id
 * outside [0, V) (checked before anything is written). */
UMUPDEF umup_status umup_embedding_scales(umup_op_scales *s, int V, int n_ids);
UMUPDEF umup_status umup_embedding_forward(float *y, const int32_t *ids, int n_ids, const float *W, int V, int d);
UMUPDEF umup_status umup_embedding_backward(float *dW, const float *dy, const int32_t *ids, int n_ids, int V, int d,
                                            const umup_op_scales *s);

/* Cross-entropy of mult * z [rows, V] against targets [rows] (a target of -1 is ignored):
 * loss = mean over the counted rows of -log softmax(mult z)[t] (computed in double, stable).
 * Scales: unit_scaled != 0 ([GC] cross_entropy): out = mult (the forward multiplier),
 * grad[0] = V/sqrt(V-1) and the backward pass is dz += dloss * grad[0] * (softmax(mult z) - onehot)
 * with no 1/rows and no mult. unit_scaled == 0: grad[0] = mult / counted rows, the true gradient.
 * Errors: UMUP_ERR_INVALID_ARG for a target outside [-1, V) or no counted row. */
UMUPDEF umup_status umup_cross_entropy_scales(umup_op_scales *s, int rows, int V, float mult, int unit_scaled);
UMUPDEF umup_status umup_cross_entropy_forward(float *loss, const float *z, const int32_t *targets, int rows, int V,
                                               const umup_op_scales *s);
UMUPDEF umup_status umup_cross_entropy_backward(float *dz, const float *z, const int32_t *targets, int rows, int V,
                                                float dloss, const umup_op_scales *s);

/* @@PARAM_DECL@@ */

/* @@MODEL_DECL@@ */

#ifdef __cplusplus
}
#endif

#endif /* UMUP_H */

/* ========================================================================== */
/*                              IMPLEMENTATION                                */
/* ========================================================================== */
#ifdef UMUP_IMPLEMENTATION
#ifndef UMUP_IMPLEMENTATION_DONE
#define UMUP_IMPLEMENTATION_DONE

#if defined(UMUP_MALLOC) && !defined(UMUP_FREE)
#error "umup.h: define both UMUP_MALLOC and UMUP_FREE, or neither"
#endif
#if defined(UMUP_FREE) && !defined(UMUP_MALLOC)
#error "umup.h: define both UMUP_MALLOC and UMUP_FREE, or neither"
#endif
#ifndef UMUP_MALLOC
#include <stdlib.h>
#define UMUP_MALLOC(sz) malloc(sz)
#define UMUP_FREE(p) free(p)
#endif
#ifndef UMUP_ASSERT
#include <assert.h>
#define UMUP_ASSERT(x) assert(x)
#endif

#include <math.h>
#include <string.h>

/* ============================================================================================ */
/* Ops implementation                                                                           */
/* ============================================================================================ */

/* ---- The GEMM entry: every matmul-shaped op goes through here ------------------------------ */
/* C[M,N] = alpha * op(A)[M,K] op(B)[K,N] + beta * C, row-major. transA = 0: A is [M,K] with row
 * stride lda; 1: A is stored [K,M]. transB = 0: B is [K,N]; 1: B is stored [N,K]. beta == 0
 * overwrites C without reading it. Rows of C are independent, so the result does not depend on
 * the number of OpenMP threads. */
static void umup__sgemm_rows(int transA, int M, int N, int K, float alpha, const float *A, int lda,
                             const float *Bn, int ldbn, float beta, float *C, int ldc) {
    int i;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((double)M * N * K > 1e6)
#endif
    for (i = 0; i < M; i++) {
        float *c = C + (size_t)i * ldc;
        int j, k, k0;
        if (beta == 0.0f) {
            for (j = 0; j < N; j++) c[j] = 0.0f;
        } else if (beta != 1.0f) {
            for (j = 0; j < N; j++) c[j] *= beta;
        }
        for (k0 = 0; k0 < K; k0 += 256) {
            int k1 = k0 + 256 < K ? k0 + 256 : K;
            for (k = k0; k < k1; k++) {
                float a = alpha * (transA ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k]);
                const float *b = Bn + (size_t)k * ldbn;
                for (j = 0; j < N; j++) c[j] += a * b[j];
            }
        }
    }
}

static void umup__sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                        const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        umup__sgemm_rows(0, M, N, 0, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if (!transB) {
        umup__sgemm_rows(transA, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    } else {
        /* pack B^T into [K,N] so the inner loop is contiguous */
        float *bt = (float *)UMUP_MALLOC((size_t)K * (size_t)N * sizeof(float));
        if (bt) {
            int j, k;
            for (j = 0; j < N; j++)
                for (k = 0; k < K; k++) bt[(size_t)k * N + j] = B[(size_t)j * ldb + k];
            umup__sgemm_rows(transA, M, N, K, alpha, A, lda, bt, N, beta, C, ldc);
            UMUP_FREE(bt);
        } else {
            int i, j, k; /* no memory: plain dot products */
            for (i = 0; i < M; i++)
                for (j = 0; j < N; j++) {
                    float acc = 0.0f;
                    for (k = 0; k < K; k++)
                        acc += (transA ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k]) * B[(size_t)j * ldb + k];
                    C[(size_t)i * ldc + j] = alpha * acc + (beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j]);
                }
        }
    }
}

/* ---- Scales and constraints ------------------------------------------------------------------- */

static void umup__scales_ones(umup_op_scales *s) {
    s->out = 1.0f;
    s->grad[0] = s->grad[1] = s->grad[2] = 1.0f;
    s->grad_w = 1.0f;
}

UMUPDEF umup_status umup_apply_constraint(umup_constraint c, float *scales, int n) {
    double v = 0.0;
    int i;
    if (!scales) return UMUP_ERR_NULL;
    if (n < 1) return UMUP_ERR_INVALID_ARG;
    for (i = 0; i < n; i++)
        if (!(scales[i] > 0.0f) || !(scales[i] < 3.4e38f)) return UMUP_ERR_INVALID_ARG;
    switch (c) {
    case UMUP_CONSTRAINT_NONE: return UMUP_OK;
    case UMUP_CONSTRAINT_TO_OUTPUT_SCALE: v = scales[0]; break;
    case UMUP_CONSTRAINT_TO_GRAD_INPUT_SCALE:
        if (n < 2) return UMUP_ERR_INVALID_ARG;
        v = scales[1];
        break;
    case UMUP_CONSTRAINT_GMEAN:
        for (i = 0; i < n; i++) v += log((double)scales[i]);
        v = exp(v / n);
        break;
    case UMUP_CONSTRAINT_HMEAN:
        for (i = 0; i < n; i++) v += 1.0 / (double)scales[i];
        v = n / v;
        break;
    default: return UMUP_ERR_INVALID_ARG;
    }
    for (i = 0; i < n; i++) scales[i] = (float)v;
    return UMUP_OK;
}

UMUPDEF double umup_logarithmic_interpolation(double alpha, double lower, double upper) {
    return exp(alpha * log(upper) + (1.0 - alpha) * log(lower));
}

/* Constrain (out, grad[0], ..., grad[ngrad-1]) of s. */
static umup_status umup__constrain(umup_op_scales *s, int ngrad, umup_constraint c) {
    float v[4];
    int i;
    umup_status st;
    v[0] = s->out;
    for (i = 0; i < ngrad; i++) v[i + 1] = s->grad[i];
    st = umup_apply_constraint(c, v, ngrad + 1);
    if (st != UMUP_OK) return st;
    s->out = v[0];
    for (i = 0; i < ngrad; i++) s->grad[i] = v[i + 1];
    return UMUP_OK;
}

static int umup__mult_ok(float mult) { return mult > 0.0f && mult < 3.4e38f; }

UMUPDEF umup_status umup_scale_fwd_forward(float *y, const float *x, size_t n, float s) {
    size_t i;
    if (n && (!y || !x)) return UMUP_ERR_NULL;
    for (i = 0; i < n; i++) y[i] = s * x[i];
    return UMUP_OK;
}
UMUPDEF umup_status umup_scale_fwd_backward(float *dx, const float *dy, size_t n) {
    size_t i;
    if (n && (!dx || !dy)) return UMUP_ERR_NULL;
    for (i = 0; i < n; i++) dx[i] += dy[i];
    return UMUP_OK;
}
UMUPDEF umup_status umup_scale_bwd_forward(float *y, const float *x, size_t n) {
    if (n && (!y || !x)) return UMUP_ERR_NULL;
    if (y != x && n) memmove(y, x, n * sizeof *y);
    return UMUP_OK;
}
UMUPDEF umup_status umup_scale_bwd_backward(float *dx, const float *dy, size_t n, float s) {
    size_t i;
    if (n && (!dx || !dy)) return UMUP_ERR_NULL;
    for (i = 0; i < n; i++) dx[i] += s * dy[i];
    return UMUP_OK;
}

/* ---- matmul / linear ----------------------------------------------------------------------- */

UMUPDEF umup_status umup_matmul_scales(umup_op_scales *s, int m, int k, int n, umup_constraint c) {
    if (!s) return UMUP_ERR_NULL;
    if (m <= 0 || k <= 0 || n <= 0) return UMUP_ERR_SHAPE;
    umup__scales_ones(s);
    s->out = (float)(1.0 / sqrt((double)k));
    s->grad[0] = (float)(1.0 / sqrt((double)n));
    s->grad[1] = (float)(1.0 / sqrt((double)m));
    return umup__constrain(s, 2, c);
}

UMUPDEF umup_status umup_matmul_forward(float *C, const float *A, const float *B, int m, int k, int n,
                                        const umup_op_scales *s) {
    if (!C || !A || !B || !s) return UMUP_ERR_NULL;
    if (m <= 0 || k <= 0 || n <= 0) return UMUP_ERR_SHAPE;
    umup__sgemm(0, 0, m, n, k, s->out, A, k, B, n, 0.0f, C, n);
    return UMUP_OK;
}

UMUPDEF umup_status umup_matmul_backward(float *dA, float *dB, const float *dC, const float *A, const float *B,
                                         int m, int k, int n, const umup_op_scales *s) {
    if (!dC || !A || !B || !s) return UMUP_ERR_NULL;
    if (m <= 0 || k <= 0 || n <= 0) return UMUP_ERR_SHAPE;
    if (dA) umup__sgemm(0, 1, m, k, n, s->grad[0], dC, n, B, n, 1.0f, dA, k);
    if (dB) umup__sgemm(1, 0, k, n, m, s->grad[1], A, k, dC, n, 1.0f, dB, n);
    return UMUP_OK;
}

UMUPDEF umup_status umup_linear_scales(umup_op_scales *s, int rows, int in, int out, umup_constraint c) {
    if (!s) return UMUP_ERR_NULL;
    if (rows <= 0 || in <= 0 || out <= 0) return UMUP_ERR_SHAPE;
    umup__scales_ones(s);
    s->out = (float)(1.0 / sqrt((double)in));
    s->grad[0] = (float)(1.0 / sqrt((double)out));
    s->grad_w = (float)(1.0 / sqrt((double)rows));
    return umup__constrain(s, 1, c);
}

UMUPDEF umup_status umup_linear_readout_scales(umup_op_scales *s, int rows, int in, int out, umup_constraint c) {
    umup_status st = umup_linear_scales(s, rows, in, out, UMUP_CONSTRAINT_NONE);
    if (st != UMUP_OK) return st;
    s->out = (float)(1.0 / (double)in);
    return umup__constrain(s, 1, c);
}

UMUPDEF umup_status umup_linear_forward(float *y, const float *x, const float *W, const float *bias, int rows,
                                        int in, int out, const umup_op_scales *s) {
    if (!y || !x || !W || !s) return UMUP_ERR_NULL;
    if (rows <= 0 || in <= 0 || out <= 0) return UMUP_ERR_SHAPE;
    umup__sgemm(0, 1, rows, out, in, s->out, x, in, W, in, 0.0f, y, out);
    if (bias) {
        int r, j;
        for (r = 0; r < rows; r++)
            for (j = 0; j < out; j++) y[(size_t)r * out + j] += bias[j];
    }
    return UMUP_OK;
}

UMUPDEF umup_status umup_linear_backward(float *dx, float *dW, float *dbias, const float *dy, const float *x,
                                         const float *W, int rows, int in, int out, const umup_op_scales *s) {
    if (!dy || !s || (dW && !x) || (dx && !W)) return UMUP_ERR_NULL;
    if (rows <= 0 || in <= 0 || out <= 0) return UMUP_ERR_SHAPE;
    if (dx) umup__sgemm(0, 0, rows, in, out, s->grad[0], dy, out, W, in, 1.0f, dx, in);
    if (dW) umup__sgemm(1, 0, out, in, rows, s->grad_w, dy, out, x, in, 1.0f, dW, in);
    if (dbias) {
        int r, j;
        for (j = 0; j < out; j++) {
            double acc = 0.0;
            for (r = 0; r < rows; r++) acc += dy[(size_t)r * out + j];
            dbias[j] += s->grad_w * (float)acc;
        }
    }
    return UMUP_OK;
}

/* ---- gelu / silu / silu_glu ------------------------------------------------------------------ */

#define UMUP__SQRT2 1.41421356237309504880
#define UMUP__PI 3.14159265358979323846

static umup_status umup__act_scales(umup_op_scales *s, float mult, umup_constraint c, int silu) {
    double m2, a, a2;
    if (!s) return UMUP_ERR_NULL;
    if (!umup__mult_ok(mult)) return UMUP_ERR_INVALID_ARG;
    m2 = (double)mult * mult;
    a = 1.0 / (1.0 + 0.25 / m2);
    a2 = 1.0 / (1.0 + 1.0 / m2);
    umup__scales_ones(s);
    s->out = (float)umup_logarithmic_interpolation(a, 2.0, sqrt(2.0 / (1.0 - 1.0 / UMUP__PI)));
    s->grad[0] = (float)umup_logarithmic_interpolation(silu ? a2 : a, 2.0, UMUP__SQRT2);
    return umup__constrain(s, 1, c);
}

UMUPDEF umup_status umup_gelu_scales(umup_op_scales *s, float mult, umup_constraint c) {
    return umup__act_scales(s, mult, c, 0);
}
UMUPDEF umup_status umup_silu_scales(umup_op_scales *s, float mult, umup_constraint c) {
    return umup__act_scales(s, mult, c, 1);
}

static umup_status umup__ew_check(const void *a, const void *b, const void *sc, size_t n, float mult) {
    if (n && (!a || !b)) return UMUP_ERR_NULL;
    if (!sc) return UMUP_ERR_NULL;
    if (!umup__mult_ok(mult)) return UMUP_ERR_INVALID_ARG;
    return UMUP_OK;
}

UMUPDEF umup_status umup_gelu_forward(float *y, const float *x, size_t n, float mult, const umup_op_scales *s) {
    size_t i;
    umup_status st = umup__ew_check(y, x, s, n, mult);
    if (st != UMUP_OK) return st;
    for (i = 0; i < n; i++) {
        double u = (double)mult * x[i];
        y[i] = (float)(s->out * (0.5 * u * (1.0 + erf(u / UMUP__SQRT2)) / mult));
    }
    return UMUP_OK;
}

UMUPDEF umup_status umup_gelu_backward(float *dx, const float *dy, const float *x, size_t n, float mult,
                                       const umup_op_scales *s) {
    size_t i;
    umup_status st = umup__ew_check(dx, dy, s, n, mult);
    if (st != UMUP_OK) return st;
    if (n && !x) return UMUP_ERR_NULL;
    for (i = 0; i < n; i++) {
        double u = (double)mult * x[i];
        double g = 0.5 * (1.0 + erf(u / UMUP__SQRT2)) + u * exp(-0.5 * u * u) / sqrt(2.0 * UMUP__PI);
        dx[i] += (float)(s->grad[0] * dy[i] * g);
    }
    return UMUP_OK;
}

static double umup__sigmoid(double u) { return u >= 0 ? 1.0 / (1.0 + exp(-u)) : exp(u) / (1.0 + exp(u)); }

UMUPDEF umup_status umup_silu_forward(float *y, const float *x, size_t n, float mult, const umup_op_scales *s) {
    size_t i;
    umup_status st = umup__ew_check(y, x, s, n, mult);
    if (st != UMUP_OK) return st;
    for (i = 0; i < n; i++) y[i] = (float)(s->out * x[i] * umup__sigmoid((double)mult * x[i]));
    return UMUP_OK;
}

UMUPDEF umup_status umup_silu_backward(float *dx, const float *dy, const float *x, size_t n, float mult,
                                       const umup_op_scales *s) {
    size_t i;
    umup_status st = umup__ew_check(dx, dy, s, n, mult);
    if (st != UMUP_OK) return st;
    if (n && !x) return UMUP_ERR_NULL;
    for (i = 0; i < n; i++) {
        double sg = umup__sigmoid((double)mult * x[i]);
        dx[i] += (float)(s->grad[0] * dy[i] * (sg + (double)mult * x[i] * sg * (1.0 - sg)));
    }
    return UMUP_OK;
}

UMUPDEF umup_status umup_silu_glu_scales(umup_op_scales *s, float mult) {
    double a2;
    if (!s) return UMUP_ERR_NULL;
    if (!umup__mult_ok(mult)) return UMUP_ERR_INVALID_ARG;
    a2 = 1.0 / (1.0 + 1.0 / ((double)mult * mult));
    umup__scales_ones(s);
    s->out = (float)umup_logarithmic_interpolation(a2, 2.0, UMUP__SQRT2);
    s->grad[0] = s->grad[1] = s->out;
    return UMUP_OK;
}

UMUPDEF umup_status umup_silu_glu_forward(float *y, const float *x, const float *gate, size_t n, float mult,
                                          const umup_op_scales *s) {
    size_t i;
    umup_status st = umup__ew_check(y, x, s, n, mult);
    if (st != UMUP_OK) return st;
    if (n && !gate) return UMUP_ERR_NULL;
    for (i = 0; i < n; i++) y[i] = (float)(s->out * x[i] * gate[i] * umup__sigmoid((double)mult * gate[i]));
    return UMUP_OK;
}

UMUPDEF umup_status umup_silu_glu_backward(float *dx, float *dgate, const float *dy, const float *x,
                                           const float *gate, size_t n, float mult, const umup_op_scales *s) {
    size_t i;
    umup_status st = umup__ew_check(dy, x, s, n, mult);
    if (st != UMUP_OK) return st;
    if (n && !gate) return UMUP_ERR_NULL;
    for (i = 0; i < n; i++) {
        double g = gate[i], sg = umup__sigmoid((double)mult * g);
        if (dx) dx[i] += (float)(s->grad[0] * dy[i] * g * sg);
        if (dgate) dgate[i] += (float)(s->grad[1] * dy[i] * x[i] * (sg + (double)mult * g * sg * (1.0 - sg)));
    }
    return UMUP_OK;
}

/* ---- softmax / attention --------------------------------------------------------------------- */

UMUPDEF umup_status umup_softmax_scales(umup_op_scales *s, int n, float mult, umup_constraint c) {
    double a, nn = (double)n;
    if (!s) return UMUP_ERR_NULL;
    if (n <= 0) return UMUP_ERR_SHAPE;
    if (!umup__mult_ok(mult)) return UMUP_ERR_INVALID_ARG;
    a = 1.0 / (1.0 + 4.0 / ((double)mult * mult));
    umup__scales_ones(s);
    s->out = (float)umup_logarithmic_interpolation(a, nn, sqrt(nn));
    s->grad[0] = (float)umup_logarithmic_interpolation(a, nn / mult, sqrt(nn / mult));
    return umup__constrain(s, 1, c);
}

/* p[0..n) = softmax(mult * x[0..n)) in double, returns nothing; masked entries (j >= valid) = 0 */
static void umup__softmax_row(double *p, const float *x, int n, int valid, double mult) {
    double mx = -HUGE_VAL, sum = 0.0;
    int j;
    for (j = 0; j < valid; j++) if (mult * x[j] > mx) mx = mult * x[j];
    for (j = 0; j < valid; j++) { p[j] = exp(mult * x[j] - mx); sum += p[j]; }
    for (j = 0; j < valid; j++) p[j] /= sum;
    for (j = valid; j < n; j++) p[j] = 0.0;
}

UMUPDEF umup_status umup_softmax_forward(float *y, const float *x, int rows, int n, float mult,
                                         const umup_op_scales *s) {
    double *p;
    int r, j;
    if (!y || !x || !s) return UMUP_ERR_NULL;
    if (rows <= 0 || n <= 0) return UMUP_ERR_SHAPE;
    if (!umup__mult_ok(mult)) return UMUP_ERR_INVALID_ARG;
    p = (double *)UMUP_MALLOC((size_t)n * sizeof(double));
    if (!p) return UMUP_ERR_NOMEM;
    for (r = 0; r < rows; r++) {
        umup__softmax_row(p, x + (size_t)r * n, n, n, mult);
        for (j = 0; j < n; j++) y[(size_t)r * n + j] = (float)(s->out * p[j]);
    }
    UMUP_FREE(p);
    return UMUP_OK;
}

UMUPDEF umup_status umup_softmax_backward(float *dx, const float *dy, const float *x, int rows, int n, float mult,
                                          const umup_op_scales *s) {
    double *p;
    int r, j;
    if (!dx || !dy || !x || !s) return UMUP_ERR_NULL;
    if (rows <= 0 || n <= 0) return UMUP_ERR_SHAPE;
    if (!umup__mult_ok(mult)) return UMUP_ERR_INVALID_ARG;
    p = (double *)UMUP_MALLOC((size_t)n * sizeof(double));
    if (!p) return UMUP_ERR_NOMEM;
    for (r = 0; r < rows; r++) {
        const float *g = dy + (size_t)r * n;
        double dot = 0.0;
        umup__softmax_row(p, x + (size_t)r * n, n, n, mult);
        for (j = 0; j < n; j++) dot += g[j] * p[j];
        for (j = 0; j < n; j++) dx[(size_t)r * n + j] += (float)(s->grad[0] * mult * p[j] * (g[j] - dot));
    }
    UMUP_FREE(p);
    return UMUP_OK;
}

UMUPDEF umup_status umup_sdpa_scales(umup_op_scales *s, int S, int D, int causal, float mult) {
    double a, lo;
    if (!s) return UMUP_ERR_NULL;
    if (S <= 0 || D <= 0) return UMUP_ERR_SHAPE;
    if (!umup__mult_ok(mult)) return UMUP_ERR_INVALID_ARG;
    a = 1.0 / (1.0 + 4.0 * D / ((double)mult * mult));
    lo = sqrt((causal ? log((double)S) : 1.0) / S);
    umup__scales_ones(s);
    if (S == 1 && causal) lo = 1.0; /* ln 1 = 0: a single key is exactly unit scaled */
    s->out = (float)(1.0 / umup_logarithmic_interpolation(a, lo, 1.0));
    s->grad[0] = s->grad[1] = s->grad[2] = s->out;
    return UMUP_OK;
}

UMUPDEF umup_status umup_head_dim(int width, int n_heads, int *d_head) {
    if (!d_head) return UMUP_ERR_NULL;
    if (width < 1 || n_heads < 1 || width % n_heads != 0) return UMUP_ERR_SHAPE;
    *d_head = width / n_heads;
    return UMUP_OK;
}

static umup_status umup__sdpa_check(const void *a, const void *b, const void *c, const void *d, const void *e,
                                    const void *f, int B, int H, int S, int D, float ls) {
    if (!a || !b || !c || !d || !e || !f) return UMUP_ERR_NULL;
    if (B <= 0 || H <= 0 || S <= 0 || D <= 0) return UMUP_ERR_SHAPE;
    if (!(ls > 0.0f) || !(ls < 3.4e38f)) return UMUP_ERR_INVALID_ARG;
    return UMUP_OK;
}

UMUPDEF umup_status umup_sdpa_forward(float *out, float *att, const float *q, const float *k, const float *v,
                                      int B, int H, int S, int D, int causal, float logit_scale,
                                      const umup_op_scales *s) {
    int bh;
    umup_status st = umup__sdpa_check(out, att, q, k, v, s, B, H, S, D, logit_scale);
    if (st != UMUP_OK) return st;
    for (bh = 0; bh < B * H; bh++) {
        const float *qh = q + (size_t)bh * S * D, *kh = k + (size_t)bh * S * D, *vh = v + (size_t)bh * S * D;
        float *ah = att + (size_t)bh * S * S, *oh = out + (size_t)bh * S * D;
        int i, j;
        umup__sgemm(0, 1, S, S, D, logit_scale, qh, D, kh, D, 0.0f, ah, S); /* logits */
        for (i = 0; i < S; i++) {
            float *row = ah + (size_t)i * S;
            int valid = causal ? i + 1 : S;
            float mx = row[0];
            double sum = 0.0;
            for (j = 1; j < valid; j++) if (row[j] > mx) mx = row[j];
            for (j = 0; j < valid; j++) { row[j] = (float)exp((double)row[j] - mx); sum += row[j]; }
            for (j = 0; j < valid; j++) row[j] = (float)(row[j] / sum);
            for (j = valid; j < S; j++) row[j] = 0.0f;
        }
        umup__sgemm(0, 0, S, D, S, s->out, ah, S, vh, D, 0.0f, oh, D);
    }
    return UMUP_OK;
}

UMUPDEF umup_status umup_sdpa_backward(float *dq, float *dk, float *dv, const float *dout, const float *att,
                                       const float *q, const float *k, const float *v, int B, int H, int S,
                                       int D, float logit_scale, const umup_op_scales *s) {
    int bh;
    float *ds;
    umup_status st = umup__sdpa_check(dq, dk, dv, dout, att, s, B, H, S, D, logit_scale);
    if (st != UMUP_OK) return st;
    if (!q || !k || !v) return UMUP_ERR_NULL;
    ds = (float *)UMUP_MALLOC((size_t)S * S * sizeof(float));
    if (!ds) return UMUP_ERR_NOMEM;
    for (bh = 0; bh < B * H; bh++) {
        size_t o = (size_t)bh * S * D;
        const float *ah = att + (size_t)bh * S * S, *go = dout + o;
        int i, j;
        /* dv += grad[2] * att^T dout */
        umup__sgemm(1, 0, S, D, S, s->grad[2], ah, S, go, D, 1.0f, dv + o, D);
        /* dP = dout v^T; dS = P (dP - rowsum(P dP)) */
        umup__sgemm(0, 1, S, S, D, 1.0f, go, D, v + o, D, 0.0f, ds, S);
        for (i = 0; i < S; i++) {
            float *row = ds + (size_t)i * S;
            const float *p = ah + (size_t)i * S;
            double dot = 0.0;
            for (j = 0; j < S; j++) dot += (double)p[j] * row[j];
            for (j = 0; j < S; j++) row[j] = (float)(p[j] * (row[j] - dot));
        }
        /* dq += grad[0] * ls * dS k; dk += grad[1] * ls * dS^T q */
        umup__sgemm(0, 0, S, D, S, s->grad[0] * logit_scale, ds, S, k + o, D, 1.0f, dq + o, D);
        umup__sgemm(1, 0, S, D, S, s->grad[1] * logit_scale, ds, S, q + o, D, 1.0f, dk + o, D);
    }
    UMUP_FREE(ds);
    return UMUP_OK;
}

/* ---- norms ------------------------------------------------------------------------------------ */

static umup_status umup__norm_check(const void *a, const void *b, int rows, int d) {
    if (!a || !b) return UMUP_ERR_NULL;
    if (rows <= 0 || d <= 0) return UMUP_ERR_SHAPE;
    return UMUP_OK;
}

/* mean and 1/sqrt(var + eps) of a row; rms == 1: mean is 0 and var is mean(x^2) */
static void umup__row_stats(const float *x, int d, int rms, double *mean, double *rstd) {
    double m = 0.0, v = 0.0;
    int j;
    if (!rms) {
        for (j = 0; j < d; j++) m += x[j];
        m /= d;
    }
    for (j = 0; j < d; j++) v += (x[j] - m) * (x[j] - m);
    *mean = m;
    *rstd = 1.0 / sqrt(v / d + (double)UMUP_NORM_EPS);
}

static umup_status umup__norm_forward(float *y, const float *x, int rows, int d, int rms) {
    int r, j;
    umup_status st = umup__norm_check(y, x, rows, d);
    if (st != UMUP_OK) return st;
    for (r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * d;
        float *yr = y + (size_t)r * d;
        double m, rs;
        umup__row_stats(xr, d, rms, &m, &rs);
        for (j = 0; j < d; j++) yr[j] = (float)((xr[j] - m) * rs);
    }
    return UMUP_OK;
}

/* dx = rstd (dy - mean(dy) [layer norm only] - xhat mean(dy xhat)) */
static umup_status umup__norm_backward(float *dx, const float *dy, const float *x, int rows, int d, int rms) {
    int r, j;
    umup_status st = umup__norm_check(dx, dy, rows, d);
    if (st != UMUP_OK) return st;
    if (!x) return UMUP_ERR_NULL;
    for (r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * d, *gr = dy + (size_t)r * d;
        double m, rs, mg = 0.0, mgx = 0.0;
        umup__row_stats(xr, d, rms, &m, &rs);
        for (j = 0; j < d; j++) {
            mg += gr[j];
            mgx += gr[j] * (xr[j] - m) * rs;
        }
        mg /= d;
        mgx /= d;
        if (rms) mg = 0.0;
        for (j = 0; j < d; j++) dx[(size_t)r * d + j] += (float)(rs * (gr[j] - mg - (xr[j] - m) * rs * mgx));
    }
    return UMUP_OK;
}

UMUPDEF umup_status umup_rms_norm_forward(float *y, const float *x, int rows, int d) {
    return umup__norm_forward(y, x, rows, d, 1);
}
UMUPDEF umup_status umup_rms_norm_backward(float *dx, const float *dy, const float *x, int rows, int d) {
    return umup__norm_backward(dx, dy, x, rows, d, 1);
}
UMUPDEF umup_status umup_layer_norm_forward(float *y, const float *x, int rows, int d) {
    return umup__norm_forward(y, x, rows, d, 0);
}
UMUPDEF umup_status umup_layer_norm_backward(float *dx, const float *dy, const float *x, int rows, int d) {
    return umup__norm_backward(dx, dy, x, rows, d, 0);
}

/* ---- add, residuals, dropout -------------------------------------------------------------------- */

UMUPDEF umup_status umup_add_scales(umup_op_scales *s, umup_constraint c) {
    if (!s) return UMUP_ERR_NULL;
    umup__scales_ones(s);
    s->out = s->grad[0] = s->grad[1] = (float)(1.0 / UMUP__SQRT2);
    return umup__constrain(s, 2, c);
}

UMUPDEF umup_status umup_add_forward(float *y, const float *a, const float *b, size_t n, const umup_op_scales *s) {
    size_t i;
    if (!s || (n && (!y || !a || !b))) return UMUP_ERR_NULL;
    for (i = 0; i < n; i++) y[i] = s->out * (a[i] + b[i]);
    return UMUP_OK;
}

UMUPDEF umup_status umup_add_backward(float *da, float *db, const float *dy, size_t n, const umup_op_scales *s) {
    size_t i;
    if (!s || (n && !dy)) return UMUP_ERR_NULL;
    for (i = 0; i < n; i++) {
        if (da) da[i] += s->grad[0] * dy[i];
        if (db) db[i] += s->grad[1] * dy[i];
    }
    return UMUP_OK;
}

static int umup__tau_ok(float tau) { return tau > 0.0f && tau < 3.4e38f; }

UMUPDEF umup_status umup_residual_split_forward(float *r, float *s, const float *x, size_t n) {
    if (n && !x) return UMUP_ERR_NULL;
    if (n && r && r != x) memmove(r, x, n * sizeof *r);
    if (n && s && s != x) memmove(s, x, n * sizeof *s);
    return UMUP_OK;
}

UMUPDEF umup_status umup_residual_split_backward(float *dx, const float *dr, const float *ds, size_t n, float tau) {
    double a, b;
    size_t i;
    if (n && (!dx || !dr || !ds)) return UMUP_ERR_NULL;
    if (!umup__tau_ok(tau)) return UMUP_ERR_INVALID_ARG;
    a = tau / sqrt(1.0 + (double)tau * tau);
    b = 1.0 / sqrt(1.0 + (double)tau * tau);
    for (i = 0; i < n; i++) dx[i] += (float)(a * dr[i] + b * ds[i]);
    return UMUP_OK;
}

UMUPDEF umup_status umup_residual_add_forward(float *y, const float *r, const float *s, size_t n, float tau) {
    double a, b;
    size_t i;
    if (n && (!y || !r || !s)) return UMUP_ERR_NULL;
    if (!umup__tau_ok(tau)) return UMUP_ERR_INVALID_ARG;
    a = tau / sqrt(1.0 + (double)tau * tau);
    b = 1.0 / sqrt(1.0 + (double)tau * tau);
    for (i = 0; i < n; i++) y[i] = (float)(a * r[i] + b * s[i]);
    return UMUP_OK;
}

UMUPDEF umup_status umup_residual_add_backward(float *dr, float *ds, const float *dy, size_t n) {
    size_t i;
    if (n && !dy) return UMUP_ERR_NULL;
    for (i = 0; i < n; i++) {
        if (dr) dr[i] += dy[i];
        if (ds) ds[i] += dy[i];
    }
    return UMUP_OK;
}

UMUPDEF double umup_residual_tau(int i, double depth, double alpha_res, double ratio) {
    double a_mlp, a_attn, n_attn, n_mlp;
    if (i < 0 || !(depth > 0) || !(alpha_res > 0) || !(ratio > 0) || alpha_res > 1e300 || ratio > 1e300)
        return (double)NAN;
    a_mlp = alpha_res * sqrt(2.0 / (1.0 + ratio * ratio));
    a_attn = ratio * a_mlp;
    n_attn = (double)((i + 1) / 2);
    n_mlp = (double)(i / 2);
    return (i % 2 == 0 ? a_attn : a_mlp) / sqrt(depth + n_attn * a_attn * a_attn + n_mlp * a_mlp * a_mlp);
}

UMUPDEF umup_status umup_transformer_residual_taus(double *taus, int layers, double alpha_res, double ratio,
                                                   umup_depth_mode mode) {
    int i;
    double depth;
    if (!taus) return UMUP_ERR_NULL;
    if (layers < 1) return UMUP_ERR_SHAPE;
    if (!(alpha_res > 0) || !(ratio > 0) || alpha_res > 1e300 || ratio > 1e300) return UMUP_ERR_INVALID_ARG;
    if (mode != UMUP_DEPTH_LAYERS && mode != UMUP_DEPTH_2X_LAYERS) return UMUP_ERR_INVALID_ARG;
    depth = mode == UMUP_DEPTH_LAYERS ? (double)layers : 2.0 * layers;
    for (i = 0; i < 2 * layers; i++) taus[i] = umup_residual_tau(i, depth, alpha_res, ratio);
    return UMUP_OK;
}

UMUPDEF umup_status umup_dropout_scales(umup_op_scales *s, float p) {
    if (!s) return UMUP_ERR_NULL;
    if (!(p >= 0.0f && p < 1.0f)) return UMUP_ERR_INVALID_ARG;
    umup__scales_ones(s);
    s->out = s->grad[0] = (float)sqrt(1.0 - (double)p);
    return UMUP_OK;
}

static umup_status umup__dropout(float *y, const float *x, size_t n, float p, uint64_t seed, uint64_t counter,
                                 float scale, int accumulate) {
    size_t i;
    float inv = 1.0f / (1.0f - p);
    for (i = 0; i < n; i++) {
        float keep = umup_rng_uniform(seed, counter + i) >= p ? scale * inv : 0.0f;
        if (accumulate) y[i] += keep * x[i];
        else y[i] = keep * x[i];
    }
    return UMUP_OK;
}

UMUPDEF umup_status umup_dropout_forward(float *y, const float *x, size_t n, float p, uint64_t seed,
                                         uint64_t counter, const umup_op_scales *s) {
    if (!s || (n && (!y || !x))) return UMUP_ERR_NULL;
    if (!(p >= 0.0f && p < 1.0f)) return UMUP_ERR_INVALID_ARG;
    return umup__dropout(y, x, n, p, seed, counter, s->out, 0);
}

UMUPDEF umup_status umup_dropout_backward(float *dx, const float *dy, size_t n, float p, uint64_t seed,
                                          uint64_t counter, const umup_op_scales *s) {
    if (!s || (n && (!dx || !dy))) return UMUP_ERR_NULL;
    if (!(p >= 0.0f && p < 1.0f)) return UMUP_ERR_INVALID_ARG;
    return umup__dropout(dx, dy, n, p, seed, counter, s->grad[0], 1);
}

/* ---- embedding, cross-entropy -------------------------------------------------------------------- */

UMUPDEF umup_status umup_embedding_scales(umup_op_scales *s, int V, int n_ids) {
    if (!s) return UMUP_ERR_NULL;
    if (V <= 0 || n_ids <= 0) return UMUP_ERR_SHAPE;
    umup__scales_ones(s);
    s->grad_w = (float)sqrt((double)V / n_ids);
    return UMUP_OK;
}

static umup_status umup__ids_check(const int32_t *ids, int n, int V, int allow_ignore) {
    int i;
    for (i = 0; i < n; i++)
        if (ids[i] >= V || ids[i] < (allow_ignore ? -1 : 0)) return UMUP_ERR_INVALID_ARG;
    return UMUP_OK;
}

UMUPDEF umup_status umup_embedding_forward(float *y, const int32_t *ids, int n_ids, const float *W, int V, int d) {
    int i;
    if (!y || !ids || !W) return UMUP_ERR_NULL;
    if (n_ids <= 0 || V <= 0 || d <= 0) return UMUP_ERR_SHAPE;
    if (umup__ids_check(ids, n_ids, V, 0) != UMUP_OK) return UMUP_ERR_INVALID_ARG;
    for (i = 0; i < n_ids; i++) memcpy(y + (size_t)i * d, W + (size_t)ids[i] * d, (size_t)d * sizeof *y);
    return UMUP_OK;
}

UMUPDEF umup_status umup_embedding_backward(float *dW, const float *dy, const int32_t *ids, int n_ids, int V, int d,
                                            const umup_op_scales *s) {
    int i, j;
    if (!dW || !dy || !ids || !s) return UMUP_ERR_NULL;
    if (n_ids <= 0 || V <= 0 || d <= 0) return UMUP_ERR_SHAPE;
    if (umup__ids_check(ids, n_ids, V, 0) != UMUP_OK) return UMUP_ERR_INVALID_ARG;
    for (i = 0; i < n_ids; i++) {
        float *w = dW + (size_t)ids[i] * d;
        const float *g = dy + (size_t)i * d;
        for (j = 0; j < d; j++) w[j] += s->grad_w * g[j];
    }
    return UMUP_OK;
}

UMUPDEF umup_status umup_cross_entropy_scales(umup_op_scales *s, int rows, int V, float mult, int unit_scaled) {
    if (!s) return UMUP_ERR_NULL;
    if (rows <= 0 || V <= 1) return UMUP_ERR_SHAPE;
    if (!umup__mult_ok(mult)) return UMUP_ERR_INVALID_ARG;
    umup__scales_ones(s);
    s->out = mult;
    s->grad[0] = unit_scaled ? (float)(V / sqrt((double)V - 1.0)) : mult / (float)rows;
    return UMUP_OK;
}

static umup_status umup__ce_check(const void *a, const float *z, const int32_t *t, int rows, int V,
                                  const umup_op_scales *s, int *counted) {
    int r;
    if (!a || !z || !t || !s) return UMUP_ERR_NULL;
    if (rows <= 0 || V <= 1) return UMUP_ERR_SHAPE;
    if (!umup__mult_ok(s->out)) return UMUP_ERR_INVALID_ARG;
    if (umup__ids_check(t, rows, V, 1) != UMUP_OK) return UMUP_ERR_INVALID_ARG;
    *counted = 0;
    for (r = 0; r < rows; r++) *counted += t[r] >= 0;
    return *counted ? UMUP_OK : UMUP_ERR_INVALID_ARG;
}

UMUPDEF umup_status umup_cross_entropy_forward(float *loss, const float *z, const int32_t *targets, int rows, int V,
                                               const umup_op_scales *s) {
    int r, j, counted;
    double total = 0.0;
    umup_status st = umup__ce_check(loss, z, targets, rows, V, s, &counted);
    if (st != UMUP_OK) return st;
    for (r = 0; r < rows; r++) {
        const float *zr = z + (size_t)r * V;
        double mx = -HUGE_VAL, sum = 0.0, m = s->out;
        if (targets[r] < 0) continue;
        for (j = 0; j < V; j++) if (m * zr[j] > mx) mx = m * zr[j];
        for (j = 0; j < V; j++) sum += exp(m * zr[j] - mx);
        total += log(sum) + mx - m * zr[targets[r]];
    }
    *loss = (float)(total / counted);
    return UMUP_OK;
}

UMUPDEF umup_status umup_cross_entropy_backward(float *dz, const float *z, const int32_t *targets, int rows, int V,
                                                float dloss, const umup_op_scales *s) {
    int r, j, counted;
    double *p;
    umup_status st = umup__ce_check(dz, z, targets, rows, V, s, &counted);
    if (st != UMUP_OK) return st;
    p = (double *)UMUP_MALLOC((size_t)V * sizeof(double));
    if (!p) return UMUP_ERR_NOMEM;
    for (r = 0; r < rows; r++) {
        float *dr = dz + (size_t)r * V;
        if (targets[r] < 0) continue;
        umup__softmax_row(p, z + (size_t)r * V, V, V, s->out);
        p[targets[r]] -= 1.0;
        for (j = 0; j < V; j++) dr[j] += (float)((double)dloss * s->grad[0] * p[j]);
    }
    UMUP_FREE(p);
    return UMUP_OK;
}

/* @@PARAM_IMPL@@ */

/* @@MODEL_IMPL@@ */

#endif /* UMUP_IMPLEMENTATION_DONE */
#endif /* UMUP_IMPLEMENTATION */
