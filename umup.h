/* umup.h - v0.2.5 - u-muP (the Unit-Scaled Maximal Update Parametrization) in one C header - MIT licence (text at the end of this file)
 *
 * Unit-scaled ops with explicit forward and backward scales, the muP family of parametrizations
 * (SP, muP, u-muP, muS, spectral muP, depth rules) with their multipliers and per-tensor learning
 * rates, optimizers, and a small decoder-only transformer trainer with FP8 simulation, pinned to the
 * values of the reference implementation (graphcore-research/unit-scaling, commit a7b5b3c).
 * Blake et al., "u-muP: The Unit-Scaled Maximal Update Parametrization", ICLR 2025 (arXiv 2407.17465).
 *
 * ---------------------------------------------------------------------------------------------
 * USING IT
 * ---------------------------------------------------------------------------------------------
 * Do this:
 *     #define UMUP_IMPLEMENTATION
 *     #include "umup.h"
 * in exactly one C or C++ file; include "umup.h" without the define anywhere else.
 * UMUP_IMPLEMENTATION also compiles the implementation of umup_fp8.h (included below), so do not
 * define UMUP_FP8_IMPLEMENTATION as well. Link with -lm (and -fopenmp to use several cores).
 *
 * Options (define before including, in the implementation file):
 *     UMUP_STATIC          make every function static to this translation unit
 *     UMUP_MALLOC(sz) / UMUP_FREE(p)
 *                          replace malloc/free (define both or neither)
 *     UMUP_ASSERT(x)       replace assert() for internal invariants (never used for user errors)
 *     UMUP_USE_CBLAS       make the CBLAS backend (umup_cblas.h, next to this file) the default of
 *                          the GEMM seam for large products (link the BLAS, e.g. -lopenblas)
 *     UMUP_NO_TRAINER      the u-muP core only: ops, parametrizations, optimizers (sections 1-8);
 *                          no model, corpus, trainer or checkpoints, no stdio
 *     UMUP_NO_POSIX        checkpoint files through plain C stdio only (no fsync, symbolic-link or
 *                          lock handling; the default on systems without POSIX)
 * The library never prints and never exits: every fallible function returns a umup_status
 * (UMUP_OK = 0) and umup_status_string() describes it. Backward functions accumulate (+=).
 *
 * Quick start: one unit-scaled linear layer
 *     umup_op_scales s;
 *     umup_linear_scales(&s, rows, in, out, UMUP_CONSTRAINT_TO_OUTPUT_SCALE);
 *     umup_linear_forward(y, x, W, NULL, rows, in, out, &s);          // y = in^-1/2 x W^T
 *     umup_linear_backward(dx, dW, NULL, dy, x, W, rows, in, out, &s);
 * Quick start: training a u-muP transformer (tests/test_train.c runs exactly these lines and checks
 * that the validation loss ends at or below 2.0 nats per byte; it starts at ln 256 = 5.5)
 *     umup_model_config mc = umup_model_config_default();      // the reference decoder: u-muP, width 64
 *     umup_optim_config oc = umup_optim_config_for(mc.param.param, UMUP_OPT_ADAMW, 200); // eta 2^-1, cosine
 *     umup_trainer *t; umup_dataset ds; int32_t ids[8 * 64], tg[8 * 64]; float loss; long step;
 *     umup_trainer_create(&t, &mc, &oc, 8);                     // batches of up to 8 sequences
 *     umup_dataset_from_corpus(&ds, 1000000, 1, 0.1);           // the embedded corpus, 10% validation
 *     for (step = 0; step < 200; step++) {
 *         umup_dataset_batch(&ds, 0, 1, step, 8, 64, ids, tg);  // training batch `step`: 8 x 64 bytes
 *         umup_trainer_step(t, ids, tg, 8, 64, &loss);
 *     }
 *     umup_dataset_batch(&ds, 1, 0, 0, 8, 64, ids, tg);         // a validation batch
 *     umup_trainer_eval(t, ids, tg, 8, 64, &loss);              // about 1.8 nats per byte
 *     umup_trainer_destroy(t);
 *     umup_dataset_free(&ds);
 * demos/train.c is a complete program around this loop.
 *
 * ---------------------------------------------------------------------------------------------
 * CONTENTS
 * ---------------------------------------------------------------------------------------------
 *   1. Scales and constraints   >>scales      umup_op_scales, umup_constraint, scale_fwd / scale_bwd
 *   2. Matmuls, the GEMM seam   >>matmul      umup_gemm and backends; matmul, linear, linear_readout
 *   3. Nonlinearities           >>act         gelu, silu, silu_glu
 *   4. Softmax and attention    >>attention   softmax, scaled dot-product attention
 *   5. Norms, add, residuals    >>residual    rms_norm, layer_norm, add, residual_split/add/sum, tau rule, dropout
 *   6. Embedding and loss       >>loss        embedding, cross_entropy
 *   7. Parametrizations         >>param       umup_param_rule: init, multiplier, LR and WD per tensor;
 *                               >>param-info  the parametrization object: everything a model asks
 *   8. Optimizers and schedules >>optim       AdamW, Adam, SGD, Lion; warmup + decay; clipping; defaults
 *   9. The model                >>model       umup_model: the reference TransformerDecoder and relatives
 *                               >>model-plan  the model's constants for re-implementations (the device trainer)
 *                               >>stats       tensor statistics (coordinate checks, FP8 scale tracking)
 *  10. Data                     >>data        the embedded corpus, datasets, batches
 *  11. Training                 >>trainer     umup_trainer, sampling
 *                               >>checkpoint  safetensors save / resume / weights; file info; PyTorch names
 *      (implementation only)    >>gemm-kernel the portable packed GEMM
 * Each section's tag appears where it is declared (documentation, formulas) and again where it is
 * implemented (the formula repeated at the code): search for ">>model" to jump between the two.
 * Sections 9-11 are left out with UMUP_NO_TRAINER.
 * Conventions: row-major float buffers with explicit shapes; weights in the torch layout
 * [out_features, in_features]; a zero-initialised config struct means "defaults"
 * (umup_*_default() returns them resolved). Sources are cited as [GC] (the reference library),
 * [P] (the u-muP paper), [AA] (Aleph Alpha's scaling), [muS] (muNit Scaling), TP-V/VI (Tensor Programs).
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
/* 1. Scales and constraints                                                        >>scales */
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

/* How an op's output scale and input-grad scales are tied together ([GC] constraints.py, whose
 * function names these are). Weight-grad scales are never constrained. Zero is the u-muP default,
 * to_output_scale. The reference accepts each constraint only for the ops whose scale count it
 * fits: ops with one input (linear, linear_readout, gelu, silu, softmax: 2 scales) take none,
 * gmean, hmean, amean, to_output_scale, to_grad_input_scale; ops with two inputs (matmul, add: 3
 * scales) take none, gmean, hmean, amean, to_output_scale, to_left_grad_scale, to_right_grad_scale.
 * The functions below refuse the others (UMUP_ERR_INVALID_ARG), as the reference raises. */
typedef enum {
    UMUP_CONSTRAINT_TO_OUTPUT_SCALE = 0, /* every scale becomes the output scale (u-muP default) */
    UMUP_CONSTRAINT_NONE,                /* forward and backward scales stay independent ([GC] None) */
    UMUP_CONSTRAINT_TO_GRAD_INPUT_SCALE, /* every scale becomes the input's grad scale (one-input ops) */
    UMUP_CONSTRAINT_GMEAN,               /* geometric mean of all (the Unit Scaling paper's default) */
    UMUP_CONSTRAINT_HMEAN,               /* harmonic mean of all (Xavier/Glorot) */
    UMUP_CONSTRAINT_AMEAN,               /* arithmetic mean of all */
    UMUP_CONSTRAINT_TO_LEFT_GRAD_SCALE,  /* every scale becomes the first input's grad scale (two-input ops) */
    UMUP_CONSTRAINT_TO_RIGHT_GRAD_SCALE  /* every scale becomes the second input's grad scale (two-input ops) */
} umup_constraint;

/* Apply constraint c to scales[0..n): scales[0] is the output scale, scales[1..n) the input-grad
 * scales. All n values are replaced by one value (or left alone for NONE). The input-selecting
 * constraints need their arity: to_grad_input_scale n = 2, to_left/right_grad_scale n = 3.
 * Errors: UMUP_ERR_NULL; UMUP_ERR_INVALID_ARG (n < 1, unknown c, a constraint that does not fit n,
 * a scale that is not finite and > 0). */
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
/* 2. Matmuls and the GEMM seam: umup_gemm, matmul, linear, linear_readout            >>matmul */
/* ============================================================================================ */
/* Every matmul-shaped product of the library (the ops below, attention, the model) goes through
 * one entry, umup_gemm(). It runs the current backend (umup_set_backend) and falls back to the
 * portable packed GEMM (plain C, OpenMP) when there is none or the backend declines the call. So a
 * backend (CBLAS: umup_cblas.h; CUDA: umup_cuda.h) plugs in here and no op or model code ever names
 * one. Compile time: UMUP_USE_CBLAS in the implementation file makes the CBLAS backend the default.
 * Buffers are row-major host memory; a backend moves what it needs and returns the result in C. */

/* What is known about an operand's values (a hint; the portable GEMM ignores it). */
typedef enum {
    UMUP_GEMM_VALUES_F32 = 0,   /* any float */
    UMUP_GEMM_VALUES_E4M3,      /* every element is exactly an OCP E4M3 value (already quantised) */
    UMUP_GEMM_VALUES_E5M2       /* every element is exactly an OCP E5M2 value */
} umup_gemm_values;

/* One GEMM: C[M,N] = alpha * op(A)[M,K] op(B)[K,N] + beta * C, row-major.
 * trans_a = 0: A is [M,K] with row stride lda >= K; 1: A is stored [K,M] (lda >= M).
 * trans_b = 0: B is [K,N] (ldb >= N); 1: B is stored [N,K] (ldb >= K). ldc >= N.
 * beta == 0 writes C without reading it (NaN in C does not propagate). M, N >= 0, K >= 0 (K = 0
 * gives C = beta C). The hints after C let a backend keep weights resident on a device (B is the
 * parameter tensor weight_key, or its quantised copy, unchanged while weight_epoch is unchanged)
 * and run exact low-precision products (a_values, b_values); zero-initialised hints mean "none". */
typedef struct {
    int trans_a, trans_b;
    int M, N, K;
    float alpha, beta;
    const float *A; int lda;
    const float *B; int ldb;
    float *C; int ldc;
    umup_gemm_values a_values, b_values;
    const void *weight_key;     /* NULL: B is not a parameter */
    uint64_t weight_epoch;      /* bumped by the model whenever its parameters may have changed */
} umup_gemm_args;

/* A GEMM backend: gemm() computes the call exactly as documented above and returns UMUP_OK, or
 * UMUP_ERR_UNSUPPORTED to decline it (the portable GEMM then runs it), or another status for a real
 * failure, which umup_gemm returns to its caller. ctx is the backend's own state. Backends are never
 * called from inside an OpenMP parallel region (such calls run the portable GEMM). */
typedef struct umup_backend {
    const char *name;           /* "cblas", "cuda", ... */
    void *ctx;
    umup_status (*gemm)(void *ctx, const umup_gemm_args *g);
} umup_backend;

/* Runs g through the current backend, or the portable GEMM. Errors: UMUP_ERR_NULL (a NULL
 * operand with M, N, K > 0), UMUP_ERR_SHAPE (a negative size or a leading dimension too small),
 * or the backend's failure. */
UMUPDEF umup_status umup_gemm(const umup_gemm_args *g);

/* The same with the BLAS argument list (no hints). */
UMUPDEF umup_status umup_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                               const float *B, int ldb, float beta, float *C, int ldc);

/* The portable packed GEMM itself (BLIS loop order, a SIMD micro-kernel where the compiler targets
 * one, see umup_gemm_kernel; OpenMP: one rectangle of C per thread; with trans_a and a deep K, the
 * two halves of the depth side by side, summed apart and then added): what every backend is tested
 * against. Each C element's summation order depends only on the shape and the kernel, never
 * on the thread count, so results are bitwise the same for any OMP_NUM_THREADS. Never fails (an
 * allocation failure falls back to an unpacked loop); returns UMUP_ERR_SHAPE / UMUP_ERR_NULL for
 * bad arguments as umup_gemm does. */
UMUPDEF umup_status umup_sgemm_portable(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                                        int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* The portable GEMM's micro-kernel. Which ones exist is fixed at compile time by the compiler's
 * target macros (e.g. -march=native, -mavx2 -mfma, -mavx512f): the plain-C one always, AVX2+FMA with
 * __AVX2__ and __FMA__, AVX-512 with __AVX512F__. AUTO (the default) uses the widest compiled one.
 * The kernels round differently (FMA rounds once), so results match across kernels to float
 * rounding, and bitwise across thread counts for one kernel. */
typedef enum {
    UMUP_GEMM_KERNEL_AUTO = 0,
    UMUP_GEMM_KERNEL_C,         /* plain C, 6 x 16 register tile: the portable fallback */
    UMUP_GEMM_KERNEL_AVX2,      /* AVX2 + FMA intrinsics, 6 x 16 */
    UMUP_GEMM_KERNEL_AVX512     /* AVX-512F intrinsics, 12 x 32 */
} umup_gemm_kernel;

/* Selects the micro-kernel of every later portable GEMM in the process (a test and benchmark
 * switch; not thread-safe, like umup_set_backend). Errors: UMUP_ERR_INVALID_ARG (not a
 * umup_gemm_kernel), UMUP_ERR_UNSUPPORTED (not compiled into this build). */
UMUPDEF umup_status umup_gemm_set_kernel(umup_gemm_kernel k);
/* The kernel in use (never AUTO); whether k is compiled in (AUTO: always); its name ("c", ...). */
UMUPDEF umup_gemm_kernel umup_gemm_get_kernel(void);
UMUPDEF int umup_gemm_kernel_available(umup_gemm_kernel k);
UMUPDEF const char *umup_gemm_kernel_name(umup_gemm_kernel k);

/* Selects the backend for every later umup_gemm call in the process (NULL: the portable GEMM).
 * Not thread-safe: call it before starting work, not while another thread runs GEMMs. The backend
 * object must stay valid while it is selected. umup_get_backend returns the current one (NULL for
 * the portable GEMM; the CBLAS backend by default when compiled with UMUP_USE_CBLAS). */
UMUPDEF void umup_set_backend(const umup_backend *b);
UMUPDEF const umup_backend *umup_get_backend(void);

/* matmul C[m,n] = out * A[m,k] B[k,n]; grads dA = grad[0] * dC B^T, dB = grad[1] * A^T dC.
 * Scales: out = k^-1/2, grad[0] = n^-1/2, grad[1] = m^-1/2, then constraint c over all three
 * (default to_output_scale: all k^-1/2). Shapes are ints > 0. */
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

/* The same two with GEMM hints (umup_gemm_args) for the layer's products: what x, W and dy hold
 * (the forward product is x W^T, the backward ones dy W and dy^T x) and which parameter W is, so a
 * device backend can keep W resident and run exact FP8 products. h may be NULL (no hints). */
typedef struct {
    umup_gemm_values x_values, w_values, dy_values;
    const void *weight_key;     /* the parameter W belongs to (NULL: none) */
    uint64_t weight_epoch;
} umup_linear_hints;
UMUPDEF umup_status umup_linear_forward_ex(float *y, const float *x, const float *W, const float *bias, int rows,
                                           int in, int out, const umup_op_scales *s, const umup_linear_hints *h);
UMUPDEF umup_status umup_linear_backward_ex(float *dx, float *dW, float *dbias, const float *dy, const float *x,
                                            const float *W, int rows, int in, int out, const umup_op_scales *s,
                                            const umup_linear_hints *h);

/* ============================================================================================ */
/* 3. Elementwise nonlinearities: gelu, silu, silu_glu                                 >>act */
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
 * backward: dx += grad[0] dy gate sig; dgate += grad[1] dy x (sig + mult gate sig (1 - sig)).
 * Computed in single precision with a vectorisable exp (relative error of sig below 1e-6), as it
 * is the transformer's widest elementwise op; gelu and silu compute in double. Elements run in
 * parallel under OpenMP (the same result for any thread count). */
UMUPDEF umup_status umup_silu_glu_scales(umup_op_scales *s, float mult);
UMUPDEF umup_status umup_silu_glu_forward(float *y, const float *x, const float *gate, size_t n, float mult,
                                          const umup_op_scales *s);
UMUPDEF umup_status umup_silu_glu_backward(float *dx, float *dgate, const float *dy, const float *x,
                                           const float *gate, size_t n, float mult, const umup_op_scales *s);

/* ============================================================================================ */
/* 4. Softmax and attention                                                      >>attention */
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
 * the att saved by the forward pass. Allocates an S x S scratch per OpenMP thread (UMUP_ERR_NOMEM
 * on failure). Both passes run the (batch, head) pairs in parallel under OpenMP; each pair's
 * arithmetic is the same whatever the thread count, so the results are too. */
UMUPDEF umup_status umup_sdpa_backward(float *dq, float *dk, float *dv, const float *dout, const float *att,
                                       const float *q, const float *k, const float *v, int B, int H, int S,
                                       int D, float logit_scale, const umup_op_scales *s);

/* Blocked ("flash") attention: the same op as umup_sdpa_forward / umup_sdpa_backward (same
 * layout, scales and mask), computed without the [S, S] probability tensor, after FlashAttention-2
 * (Dao, arXiv 2307.08691, algorithms 1 and 2) on the CPU. The forward pass walks the keys in
 * blocks with an online softmax (running row max and row sum, the partial output rescaled when the
 * max grows; each block's logits are computed transposed, keys by queries, so that the statistics
 * of 16 queries update in one vector step and the probabilities feed the next product without a
 * copy) and saves one number per query row, lse = log sum_j exp(logit_ij) (natural log, of the
 * scaled logits); a query's sum runs over the keys in order. With causal set, both passes compute
 * only the register tiles of a block that some query in them can see. The backward pass recomputes
 * each block of probabilities from q, k and lse (p = exp(logit - lse)) and uses
 * delta_i = <dout_i, out_i> / s.out for the softmax gradient, so it needs the forward output `out`
 * and s.out != 0. Blocks run through the GEMM micro-kernels
 * (umup_gemm_kernel); both passes give each OpenMP thread whole (batch, head) pairs, whose
 * arithmetic does not depend on the thread count, so neither do the results. The probabilities
 * are computed in single precision (umup_sdpa_* use double for the softmax), so the two paths
 * agree to float rounding, not bitwise. Scratch: O((S + 96) (D + 96)) floats per thread, allocated
 * per call (UMUP_ERR_NOMEM). out [B,H,S,D], lse [B,H,S]. */
UMUPDEF umup_status umup_sdpa_flash_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                                            int B, int H, int S, int D, int causal, float logit_scale,
                                            const umup_op_scales *s);
/* Accumulates dq, dk, dv [B,H,S,D] exactly as umup_sdpa_backward does, from dout, the forward's out
 * and lse, and q, k, v. causal must match the forward call. Errors: as the forward, and
 * UMUP_ERR_INVALID_ARG when s->out is 0 or not finite. */
UMUPDEF umup_status umup_sdpa_flash_backward(float *dq, float *dk, float *dv, const float *dout, const float *out,
                                             const float *lse, const float *q, const float *k, const float *v, int B,
                                             int H, int S, int D, int causal, float logit_scale,
                                             const umup_op_scales *s);

/* ============================================================================================ */
/* 5. Normalisation (non-parametric), add, residuals, dropout                     >>residual */
/* ============================================================================================ */
#define UMUP_NORM_EPS 1e-5f

/* rms_norm over the last dimension d of x [rows, d]: y = x / sqrt(mean(x^2) + 1e-5).
 * layer_norm: y = (x - mean) / sqrt(var + 1e-5) (biased variance). No affine parameters; unit
 * scaled as they are (output and grad scale 1). Backward accumulates the exact gradient. */
UMUPDEF umup_status umup_rms_norm_forward(float *y, const float *x, int rows, int d);
UMUPDEF umup_status umup_rms_norm_backward(float *dx, const float *dy, const float *x, int rows, int d);
UMUPDEF umup_status umup_layer_norm_forward(float *y, const float *x, int rows, int d);
UMUPDEF umup_status umup_layer_norm_backward(float *dx, const float *dy, const float *x, int rows, int d);

/* add: y = out (a + b); da += grad[0] dy, db += grad[1] dy ([GC] add). Each input's grad scale is
 * (its broadcast factor)^-1/2, the output scale 2^-1/2, then constraint c over (out, grad[0],
 * grad[1]). For two inputs of the output's shape (broadcast factor 1) that is out = 2^-1/2,
 * grad = 1, 1 before the constraint, so: to_output_scale (the default) 2^-1/2 for all three;
 * none 2^-1/2, 1, 1; gmean 2^-1/6 = 0.891; hmean 3/(2 + sqrt 2) = 0.879; amean (2 + 2^-1/2)/3 = 0.902;
 * to_left/right_grad_scale 1. a, b, y: n floats (y may equal a or b). */
UMUPDEF umup_status umup_add_scales(umup_op_scales *s, umup_constraint c);
UMUPDEF umup_status umup_add_forward(float *y, const float *a, const float *b, size_t n, const umup_op_scales *s);
UMUPDEF umup_status umup_add_backward(float *da, float *db, const float *dy, size_t n, const umup_op_scales *s);

/* add with broadcasting (torch rules): a has shape a_shape[0 .. ndim), b b_shape[0 .. ndim) (a
 * lower-rank input gets leading 1s); every dimension is equal in both or 1 in one of them, and y has
 * the broadcast shape (the larger of each pair). Scales ([GC] add, _get_broadcast_sizes):
 * grad[i] = (numel(y) / numel(input i))^-1/2, out = 2^-1/2, or 1 when either input has a single
 * element (adding a constant does not change the scale), then constraint c as above.
 * forward: y = out (a + b) (y may equal an input that has the output's shape); backward: da +=
 * grad[0] (dy summed over the dimensions a is broadcast along), db likewise; da or db may be NULL
 * (skipped). 1 <= ndim <= 8.
 * Errors: UMUP_ERR_NULL; UMUP_ERR_SHAPE (ndim outside [1, 8], a dimension < 1, shapes that do not
 * broadcast, an output larger than any buffer can be, before anything is read or written);
 * UMUP_ERR_INVALID_ARG (the constraint). */
UMUPDEF umup_status umup_add_broadcast_scales(umup_op_scales *s, const int *a_shape, const int *b_shape, int ndim,
                                              umup_constraint c);
UMUPDEF umup_status umup_add_broadcast_forward(float *y, const float *a, const int *a_shape, const float *b,
                                               const int *b_shape, int ndim, const umup_op_scales *s);
UMUPDEF umup_status umup_add_broadcast_backward(float *da, float *db, const float *dy, const int *a_shape,
                                                const int *b_shape, int ndim, const umup_op_scales *s);

/* Residual pair ([GC] residual_split / residual_add; tau = branch std / skip std, > 0):
 *   split(x, tau): r = x, s = x;   backward dx += tau/sqrt(1+tau^2) dr + 1/sqrt(1+tau^2) ds
 *   add(r, s, tau): y = tau/sqrt(1+tau^2) r + 1/sqrt(1+tau^2) s;  backward dr += dy, ds += dy
 * Together y = (tau f(x) + x)/sqrt(1+tau^2) and dx is exactly the true gradient, while the
 * gradient inside the branch stays unit scaled. r or s of split_forward may be NULL. */
UMUPDEF umup_status umup_residual_split_forward(float *r, float *s, const float *x, size_t n);
UMUPDEF umup_status umup_residual_split_backward(float *dx, const float *dr, const float *ds, size_t n, double tau);
UMUPDEF umup_status umup_residual_add_forward(float *y, const float *r, const float *s, size_t n, double tau);
UMUPDEF umup_status umup_residual_add_backward(float *dr, float *ds, const float *dy, size_t n);

/* Plain weighted residual sum, for parametrizations with plain ops (true gradients):
 *   forward  y = skip_w x + branch_w f
 *   backward dx += skip_w dy, df += branch_w dy (dx or df may be NULL: skipped)
 * SP, muP, spectral muP: skip_w = 1, branch_w = the depth rule's branch multiplier; muS's
 * Res-Post-LN skip ([muS] section 3): skip_w = sqrt(1 - tau), branch_w = sqrt(tau). Weights finite. */
UMUPDEF umup_status umup_residual_sum_forward(float *y, const float *x, const float *f, size_t n, double skip_w,
                                              double branch_w);
UMUPDEF umup_status umup_residual_sum_backward(float *dx, float *df, const float *dy, size_t n, double skip_w,
                                               double branch_w);

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
/* 6. Embedding and cross-entropy                                                     >>loss */
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
 * The 1/B of the mean: B is the number of counted rows (torch's mean with ignore_index), whereas
 * [GC] cross_entropy divides the sum by all rows it is given, ignored ones included (scale_fwd(loss,
 * 1/batch_size)); the two agree when no row is ignored, or when the ignored rows are the ones [GC]'s
 * caller slices off (the last position in TransformerDecoder.loss; see umup_next_token_targets).
 * Scales: unit_scaled != 0 ([GC] cross_entropy): out = mult (the forward multiplier),
 * grad[0] = V/sqrt(V-1) and the backward pass is dz += dloss * grad[0] * (softmax(mult z) - onehot)
 * with no 1/rows and no mult (the 1/B is forward only, as in [GC]). unit_scaled == 0:
 * grad[0] = mult / rows, the true gradient of the mean (pass rows = the number of counted rows,
 * those whose target is not -1).
 * Rows run in parallel under OpenMP; the loss is summed in row order, so no result depends on the
 * thread count. Errors: UMUP_ERR_INVALID_ARG for a target outside [-1, V) or no counted row;
 * UMUP_ERR_NOMEM (the forward pass allocates rows doubles, the backward pass V per thread). */
UMUPDEF umup_status umup_cross_entropy_scales(umup_op_scales *s, int rows, int V, float mult, int unit_scaled);
UMUPDEF umup_status umup_cross_entropy_forward(float *loss, const float *z, const int32_t *targets, int rows, int V,
                                               const umup_op_scales *s);
UMUPDEF umup_status umup_cross_entropy_backward(float *dz, const float *z, const int32_t *targets, int rows, int V,
                                                float dloss, const umup_op_scales *s);

/* ============================================================================================ */
/* 7. Parametrizations: init, multipliers, learning-rate and weight-decay rules      >>param */
/* ============================================================================================ */
/* One question, one function: for a tensor of a given kind and shape under a parametrization,
 * what are its init std, forward multiplier, Adam-family and SGD learning-rate factors and
 * weight-decay rule? (umup_param_rule). The factors multiply the global LR eta; a multiplier is
 * the constant the tensor's output is multiplied by in the forward pass (for u-muP these are the
 * op scales of section 2, e.g. 1/sqrt(fan_in) for a hidden linear).
 *
 *                     embedding init/mult/Adam LR   hidden init/mult/Adam LR              readout init/mult/Adam LR
 *   SP                 sigma_emb / 1 / 1             1/sqrt(in) / 1 / 1                    1/sqrt(in) / 1 / 1
 *   muP                sigma_emb / a_emb / 1         1/sqrt(in) / 1 / 1/m                  1/sqrt(base_in) / a_out/m / 1
 *   u-muP              1 / 1 / 1/sqrt(d)             1 / 1/sqrt(in) / 1/sqrt(in)/sqrt(L)   1 / 1/in / 1
 *   muS                1 / 1 / 1                     1 / 1/sqrt(in) / 1/sqrt(in)           1 / 1/in / 1
 *   spectral-nanotron  1 / 1 / 1                     s(in, out) / 1 / out/in               (as hidden)
 *   spectral-adam      1 / 1 / 1                     s(in, out) / 1 / 1/in                 (as hidden)
 * m = fan_in / base_fan_in (muP width multiplier), L = depth (number of layers),
 * s(in, out) = (1/sqrt(in)) min(1, sqrt(out/in)) (the spectral init). The two spectral rules share
 * the spectral condition's init (Yang, Simon, Bernstein 2023, arXiv 2310.17813, Parametrization 1);
 * nanotron's learning rate out/in is that paper's SGD rate, which under Adam leaves square hidden
 * matrices at a width-independent LR; Adam's entrywise-normalised update has spectral norm of order
 * eta sqrt(in out), so the spectral condition (update norm sqrt(out/in)) gives eta ~ 1/in for Adam.
 * Sources and the SGD, bias, norm and weight-decay rules are given at each rule in the implementation. */

typedef enum {
    UMUP_PARAM_UMUP = 0,    /* u-muP ([GC] unit_scaling, [P]): the default */
    UMUP_PARAM_SP,          /* standard parametrization (PyTorch defaults) */
    UMUP_PARAM_MUP,         /* muP in the microsoft/mup form (base shapes, MuReadout, MuAdam/MuSGD) */
    UMUP_PARAM_MUS,         /* muS, "muNit Scaling" ([muS] Table 2) */
    UMUP_PARAM_SPECTRAL_NANOTRON, /* spectral init with the SGD learning rate out/in, as huggingface/nanotron
                               implements "spectral muP" (name "spectral-nanotron"; "spectral" before v0.2) */
    UMUP_PARAM_SPECTRAL_ADAM,     /* spectral init with the spectral condition's Adam learning rate 1/in */
    UMUP_PARAM_COUNT,
    UMUP_PARAM_SPECTRAL = UMUP_PARAM_SPECTRAL_NANOTRON /* the old name of the same value */
} umup_parametrization;

typedef enum {
    UMUP_TENSOR_HIDDEN = 0, /* a weight matrix inside the network (attention and MLP projections) */
    UMUP_TENSOR_EMBEDDING,  /* the input embedding table [V, d] */
    UMUP_TENSOR_READOUT,    /* the output projection [V, d] (muP's MuReadout, u-muP's linear_readout) */
    UMUP_TENSOR_BIAS,
    UMUP_TENSOR_NORM        /* a norm gain */
} umup_tensor_kind;

/* Extra depth rules on top of a parametrization. */
typedef enum {
    UMUP_DEPTH_RULE_DEFAULT = 0, /* u-muP: [GC]'s LR x depth^-1/2 inside the residual stack; others: none */
    UMUP_DEPTH_RULE_NONE,        /* no depth dependence */
    UMUP_DEPTH_RULE_DEPTH_MUP,   /* Depth-muP (TP-VI, Bordelon et al.): branch x 1/sqrt(L/L0), Adam LR x (L/L0)^-1/2
                                    for every tensor in the blocks (weights, biases, norm gains) */
    UMUP_DEPTH_RULE_COMPLETEP    /* CompleteP (Dey et al. 2025): branch x (L/L0)^-alpha, LR x (L/L0)^(alpha-1), eps x (L/L0)^-alpha;
                                    refused for parametrizations with the tau residual form (u-muP) unless alpha = 1/2 */
} umup_depth_rule;

/* How weight decay applies to a tensor (lambda = the optimizer's weight_decay). */
typedef enum {
    UMUP_WD_NONE = 0,       /* no decay */
    UMUP_WD_DECOUPLED,      /* theta -= lr_t * lr_factor * lambda * wd_factor * theta (torch AdamW) */
    UMUP_WD_INDEPENDENT,    /* theta -= lambda * wd_factor * schedule(t) * theta, independent of the LR
                               ([GC]/[AA] independent_weight_decay; muS's "fully decoupled" decay). Under
                               Adam and SGD, as with [GC]'s optim.Adam / optim.SGD (scaled_parameters:
                               weight_decay / param_lr, then torch's L2): L2 with lambda * wd_factor /
                               (eta * lr_factor), eta the peak LR */
    UMUP_WD_COUPLED         /* L2: g += lambda * wd_factor * theta before the update (torch Adam, SGD) */
} umup_wd_rule;

typedef struct umup_param_info umup_param_info; /* a whole parametrization; defined below */

/* Parametrization settings; zero-initialised means defaults (see umup_param_config_default). */
typedef struct {
    umup_parametrization param; /* a built-in parametrization (ignored when custom is set) */
    int base_width;         /* muP: width of the base model (0: the model's own width, m = 1) */
    int base_head_size;     /* muP: head size of the base model, for the attention scale (0: the head size
                               is fixed, the base model's equals this model's) */
    int depth;              /* number of layers L of the model (0: 1) */
    int base_depth;         /* L0 for the depth rules (0: depth, so depth factors are 1) */
    umup_depth_mode depth_mode; /* u-muP: depth = layers (default, [GC]) or 2 x layers ([AA]) */
    umup_depth_rule depth_rule;
    float completep_alpha;  /* CompleteP alpha in [1/2, 1] (0: 1) */
    float sigma_emb;        /* SP/muP embedding init std (0: 1, torch nn.Embedding) */
    float alpha_emb;        /* muP embedding multiplier (0: 1) */
    float alpha_out;        /* muP readout multiplier (0: 1) */
    int readout_zero_init;  /* muP: initialise the readout to zero (mup's readout_zero_init) */
    const umup_param_info *custom; /* NULL: the built-in `param`; else this parametrization (see below) */
} umup_param_config;

/* A tensor to ask about. fan_in/fan_out are the torch layout's shape[1]/shape[0] for a weight
 * [out, in]; for an embedding [V, d]: fan_in = V, fan_out = d (the rules use d); for a bias or a
 * norm gain of size n: fan_in = 1, fan_out = n. in_residual: the tensor lives inside a residual
 * branch (depth rules apply). */
typedef struct {
    umup_tensor_kind kind;
    int fan_in, fan_out;
    int in_residual;
} umup_tensor_desc;

/* The answer. */
typedef struct {
    float init_std;         /* N(0, init_std^2) init; 0 means zeros (biases, a zero-init readout); norms init 1 */
    float multiplier;       /* forward multiplier on the tensor's output */
    float lr_adam;          /* LR factor for Adam, AdamW and Lion */
    float lr_sgd;           /* LR factor for SGD; NaN where the source defines no SGD rule (muS, spectral) */
    umup_wd_rule wd;        /* weight-decay rule under AdamW/Lion (Adam and SGD use UMUP_WD_COUPLED for DECOUPLED) */
    float wd_factor;        /* multiplier on lambda under AdamW, Adam and Lion */
    float wd_factor_sgd;    /* multiplier on lambda under SGD (muP: mup's MuSGD differs from MuAdam) */
    float eps_factor;       /* multiplier on Adam's epsilon (CompleteP), else 1 */
} umup_tensor_rule;

/* Resolved defaults: u-muP, base_width 0, base_head_size 0, depth 1, base_depth = depth,
 * depth = layers, default depth rule, completep_alpha 1, sigma_emb 1, alpha_emb 1, alpha_out 1,
 * custom NULL. */
UMUPDEF umup_param_config umup_param_config_default(void);

/* Why cfg is not a valid parametrization setting, as one sentence, or NULL when it is valid (what
 * umup_param_rule and umup_model_create refuse with UMUP_ERR_INVALID_ARG). Besides out-of-range
 * fields: CompleteP with alpha != 1/2 under a parametrization whose residual form is TAU (u-muP):
 * the tau rule fixes every branch's weight near 1/sqrt(L), while CompleteP's learning rates assume
 * branches weighted (L/L0)^-alpha; alpha = 1/2 is Depth-muP, which the tau rule matches. */
UMUPDEF const char *umup_param_config_error(const umup_param_config *cfg);

/* Fills *out for tensor t in a model of width `width` (d_model): the parametrization's rule
 * (umup_param_info.rule, below) followed by the depth rule of cfg. Zero fields of cfg take their
 * defaults. Errors: UMUP_ERR_NULL; UMUP_ERR_SHAPE (fan_in, fan_out or width < 1);
 * UMUP_ERR_INVALID_ARG (unknown enum, completep_alpha outside [1/2, 1], negative settings). */
UMUPDEF umup_status umup_param_rule(const umup_param_config *cfg, int width, const umup_tensor_desc *t,
                                    umup_tensor_rule *out);

/* Multiplier on each residual branch's output from the depth rule: 1 (none / u-muP, whose
 * tau rule of section 5 does this job), (L/L0)^-1/2 (Depth-muP) or (L/L0)^-alpha (CompleteP). */
UMUPDEF float umup_param_branch_multiplier(const umup_param_config *cfg);

/* Attention logit scale for head size d_head in a model of width `width`, from the parametrization's
 * attention_scale hook: SP alpha_attn/sqrt(d_head); muP alpha_attn sqrt(d_base)/d_head with d_base
 * the base model's head size (cfg->base_head_size, 0: d_head itself, so at a fixed head size the
 * scale is SP's at every width; mup README: 1/d_head scaling that equals SP's at the base model);
 * u-muP alpha_attn/d_head ([GC] sdpa mult / d_head); muS alpha_attn/sqrt(d_head) (the attention
 * equations of [muS] section 2 keep the standard 1/sqrt(d_k)); both spectral rules alpha_attn/d_head
 * (nanotron). alpha_attn 0 means 1. NaN for invalid arguments. */
UMUPDEF float umup_param_attention_scale(const umup_param_config *cfg, int width, int d_head, float alpha_attn);

/* Short names "umup", "sp", "mup", "mus", "spectral-nanotron", "spectral-adam" and their parser
 * (UMUP_ERR_INVALID_ARG if unknown; "u-mup" is accepted for "umup", and "spectral", the name of
 * spectral-nanotron before v0.2, for it). umup_param_name gives "?" for an unknown value. Checkpoints
 * record the name; one written as "spectral" loads into a spectral-nanotron trainer (the same rule). */
UMUPDEF const char *umup_param_name(umup_parametrization p);
UMUPDEF umup_status umup_param_parse(const char *name, umup_parametrization *out);

/* ---- The parametrization object                                                 >>param-info */
/* Everything the model and the trainer ask a parametrization, in one object: its tensor rule, the
 * model-level choices (unit-scaled or plain ops, residual form, attention logit scale) and its
 * tested defaults (eta, clipping, warmup). The model and the trainer contain no test of which
 * parametrization they run: they read this object.
 * Adding a parametrization:
 *   - to your program: fill a umup_param_info (a rule function, usually wrapping one of the
 *     umup_param_rule_* below, plus the fields) and point umup_param_config.custom at it; nothing
 *     else changes (tests/test_model.c trains a dummy parametrization this way);
 *   - to the library: one enum value in umup_parametrization, one entry in the table of built-ins
 *     (umup__param_table in the implementation, >>param-info) and its rule function. */
typedef enum {
    UMUP_RESIDUAL_TAU = 0,  /* u-muP: res(x, f) = residual_split/add with tau_i of the tau rule:
                               (tau f + x) / sqrt(1 + tau^2), unit-scaled gradients in the branch */
    UMUP_RESIDUAL_PRE_NORM, /* x + b f(norm(x)), b = umup_param_branch_multiplier (SP, muP, spectral) */
    UMUP_RESIDUAL_POST_NORM /* muS Res-Post-LN ([muS] section 3): sqrt(1 - tau) x + sqrt(tau) norm(f(x)) */
} umup_residual_form;

/* A tensor rule: fills *out for tensor t (cfg is resolved: no zero fields). Returns UMUP_OK or an
 * error as umup_param_rule documents. */
typedef umup_status (*umup_param_rule_fn)(const umup_param_config *cfg, int width, const umup_tensor_desc *t,
                                          umup_tensor_rule *out);
/* An attention logit scale (cfg resolved, width and d_head >= 1, alpha_attn > 0). */
typedef float (*umup_attention_scale_fn)(const umup_param_config *cfg, int width, int d_head, float alpha_attn);

struct umup_param_info {
    const char *name;               /* short name ("umup", ...): flags, checkpoints, tables */
    const char *title;              /* one line for humans */
    umup_param_rule_fn rule;        /* init, multiplier, LR and WD of a tensor (depth rules come after) */
    int unit_ops;                   /* 1: the model runs the unit-scaled ops of sections 2-6 with their
                                       scales (the tensors' multipliers are those scales) and the
                                       unit-scaled loss; 0: plain ops, each linear and embedding output
                                       times its tensor rule's multiplier, the true gradients */
    umup_residual_form residual;    /* how residual branches join the stream */
    umup_attention_scale_fn attention_scale; /* NULL: alpha_attn / sqrt(d_head) */
    double default_lr;              /* tested peak eta with AdamW (umup_optim_config_for) */
    double default_clip;            /* default global gradient-norm clipping threshold (0: none) */
    float default_warmup;           /* default warmup steps as a fraction of the run (umup_optim_config_for) */
};

/* The built-in parametrization p (NULL for an unknown value), and the one cfg selects (cfg->custom
 * when set, else the built-in cfg->param; NULL for NULL or an unknown value). */
UMUPDEF const umup_param_info *umup_param_info_of(umup_parametrization p);
UMUPDEF const umup_param_info *umup_param_config_info(const umup_param_config *cfg);

/* The built-in tensor rules (what the table's entries point to; sources at each one in the
 * implementation), for custom parametrizations to build on. cfg must be resolved (they are called
 * through umup_param_rule, which resolves it). Errors: UMUP_ERR_NULL for a NULL argument. */
UMUPDEF umup_status umup_param_rule_umup(const umup_param_config *cfg, int width, const umup_tensor_desc *t,
                                         umup_tensor_rule *out);
UMUPDEF umup_status umup_param_rule_sp(const umup_param_config *cfg, int width, const umup_tensor_desc *t,
                                       umup_tensor_rule *out);
UMUPDEF umup_status umup_param_rule_mup(const umup_param_config *cfg, int width, const umup_tensor_desc *t,
                                        umup_tensor_rule *out);
UMUPDEF umup_status umup_param_rule_mus(const umup_param_config *cfg, int width, const umup_tensor_desc *t,
                                        umup_tensor_rule *out);
UMUPDEF umup_status umup_param_rule_spectral_nanotron(const umup_param_config *cfg, int width,
                                                      const umup_tensor_desc *t, umup_tensor_rule *out);
UMUPDEF umup_status umup_param_rule_spectral_adam(const umup_param_config *cfg, int width, const umup_tensor_desc *t,
                                                  umup_tensor_rule *out);

/* ============================================================================================ */
/* 8. Optimizers and LR schedules                                                    >>optim */
/* ============================================================================================ */

typedef enum { UMUP_SCHED_CONSTANT = 0, UMUP_SCHED_COSINE, UMUP_SCHED_LINEAR } umup_decay_kind;

/* LR schedule: linear warmup from 1/warmup to 1 over `warmup` steps, then decay to min_ratio over
 * the remaining steps up to `total` (cosine or linear), then min_ratio. */
typedef struct {
    umup_decay_kind decay;
    long warmup;            /* warmup steps (0: none) */
    long total;             /* total steps (needed by the decays) */
    float min_ratio;        /* floor as a fraction of the peak LR (0: decays to 0) */
} umup_schedule;

/* The schedule's factor for the update with 0-based index step:
 *   step < warmup: (step + 1) / warmup;
 *   else p = min(1, (step - warmup) / max(1, total - warmup)),
 *        cosine: r + (1 - r)(1 + cos(pi p))/2, linear: r + (1 - r)(1 - p), constant: 1.
 * A NULL or invalid schedule gives 1. */
UMUPDEF float umup_schedule_value(const umup_schedule *s, long step);

/* The optimizers. Adding one: an enum value here, an entry in the implementation's table
 * (umup__optim_table, >>optim: name, moments, default betas, how it treats decoupled weight decay)
 * and its per-element update in umup__optim_update (Adam's: umup__adam_group); tests/test_optim.c
 * checks each one against hand-computed steps. */
typedef enum { UMUP_OPT_ADAMW = 0, UMUP_OPT_ADAM, UMUP_OPT_SGD, UMUP_OPT_LION, UMUP_OPT_COUNT } umup_optimizer_kind;

/* Optimizer settings; zero-initialised means defaults (see umup_optim_config_default). */
typedef struct {
    umup_optimizer_kind kind;
    double lr;              /* peak LR eta (0: 1e-3) */
    double beta1, beta2;    /* Adam (0: 0.9, 0.999); Lion (0: 0.9, 0.99) */
    double eps;             /* Adam epsilon (0: 1e-8) */
    double momentum;        /* SGD momentum (0: none) */
    int nesterov;           /* SGD Nesterov momentum */
    double weight_decay;    /* lambda (0: none) */
    double clip_norm;       /* global gradient-norm clipping threshold (0: no clipping) */
    double clip_rms;        /* clipping threshold on the gradient's RMS, norm / sqrt(parameters): the same
                               at every width for unit-scaled gradients, whose norm grows as sqrt(width^2)
                               (0: none; with clip_norm too, the stronger of the two applies) */
    umup_schedule schedule;
} umup_optim_config;

/* A contiguous view [offset, offset + size) of the flat parameter, gradient and state arrays
 * with its factors (usually filled from umup_param_rule). */
typedef struct {
    size_t offset, size;
    float lr_factor;        /* multiplies the scheduled LR */
    umup_wd_rule wd;
    float wd_factor;
    float eps_factor;       /* multiplies eps (0: 1) */
} umup_param_group;

/* Optimizer state that is not per-parameter. The per-parameter state (moments) lives in a
 * caller-owned float array of umup_optim_state_size() floats, so checkpoints can save it. */
typedef struct {
    umup_optim_config cfg;  /* resolved configuration */
    long step;              /* number of updates applied so far */
    double last_grad_norm;  /* global gradient norm of the last step (before clipping) */
} umup_optimizer;

/* Library defaults of an optimizer, independent of the parametrization: lr 1e-3, betas 0.9/0.999
 * (Lion 0.9/0.99), eps 1e-8, no momentum, decay, clipping or schedule. Prefer umup_optim_config_for. */
UMUPDEF umup_optim_config umup_optim_config_default(umup_optimizer_kind kind);

/* What a run of total_steps updates under parametrization p should start from: the optimizer's
 * defaults with the parametrization's tested peak eta (u-muP and spectral-adam 2^-1, muS 2^-2,
 * SP/muP/spectral-nanotron 2^-9: the README's LR sweeps), its default clipping, a linear warmup over its default fraction of the
 * run (0.1), then cosine decay to 0.1 eta at total_steps (total_steps < 1: constant LR, no warmup);
 * SGD gets momentum 0.9.
 * The _info variant takes a parametrization object (a custom one too). An unknown p or NULL info
 * gives umup_optim_config_default(kind). */
UMUPDEF umup_optim_config umup_optim_config_for(umup_parametrization p, umup_optimizer_kind kind, long total_steps);
UMUPDEF umup_optim_config umup_optim_config_for_info(const umup_param_info *info, umup_optimizer_kind kind,
                                                     long total_steps);

/* Initialises *opt from cfg (zero fields take defaults). Errors: UMUP_ERR_NULL,
 * UMUP_ERR_INVALID_ARG (unknown kind, lr <= 0, betas outside [0, 1), eps < 0, momentum outside
 * [0, 1), negative weight decay or clip norm, invalid schedule). */
UMUPDEF umup_status umup_optim_init(umup_optimizer *opt, const umup_optim_config *cfg);

/* Floats of per-parameter state for n parameters: Adam/AdamW 2n (first moments, then second
 * moments), SGD n (momentum buffer), Lion n; (size_t)-1 when that does not fit in size_t, 0 for an
 * unknown kind. The state array must start zeroed. */
UMUPDEF size_t umup_optim_state_size(umup_optimizer_kind kind, size_t n);

/* How many of those n-float state arrays the configured optimizer actually uses (what a checkpoint
 * saves): Adam/AdamW 2, Lion 1, SGD 1 with momentum and 0 without; 0 for NULL or an unknown kind. */
UMUPDEF int umup_optim_moments(const umup_optim_config *cfg);

/* 1 when the optimizer applies UMUP_WD_DECOUPLED as decoupled decay (AdamW, Lion), 0 when as L2
 * (Adam, SGD: torch's weight_decay) or for an unknown kind. */
UMUPDEF int umup_optim_wd_decoupled(umup_optimizer_kind kind);

/* One update of every group. params/grads/state are the flat arrays (n_params floats; state as
 * above, laid out as [m of all params][v of all params] for Adam). Steps, for update index
 * s = opt->step and lr_t = lr * schedule(s):
 *  1. global gradient norm over all groups (double; each group summed in fixed blocks of 4096
 *     elements, so the value is the same for any thread count); NaN/Inf -> UMUP_ERR_NONFINITE, nothing changes;
 *     if clip_norm > 0 and the norm exceeds it, gradients are used times clip_norm / norm; if
 *     clip_rms > 0 and the RMS (norm / sqrt(elements in the groups)) exceeds it, times clip_rms / RMS
 *     (the smaller factor when both apply);
 *  2. per group with lr_g = lr_t * lr_factor: weight decay by its rule (AdamW, Lion: as stated;
 *     Adam, SGD: DECOUPLED acts as COUPLED, i.e. torch's L2 weight_decay, and INDEPENDENT as COUPLED
 *     with lambda * wd_factor / (lr * lr_factor), [GC]'s optim.Adam / optim.SGD; none when lr_factor is 0);
 *  3. AdamW/Adam: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; theta -= lr_g mhat / (sqrt(vhat) + eps*eps_factor)
 *     with bias corrections 1 - b^(s+1); SGD: buf = momentum buf + g (buf = g on the first step),
 *     theta -= lr_g (nesterov ? g + momentum buf : buf); Lion: theta -= lr_g sign(b1 m + (1-b1) g),
 *     m = b2 m + (1-b2) g;
 *  4. opt->step += 1, opt->last_grad_norm = the norm.
 * Groups must lie inside [0, n_params) and must not overlap. Errors: UMUP_ERR_NULL,
 * UMUP_ERR_SHAPE (n_groups < 0, a group out of range, or an n_params whose parameter or state
 * array no buffer can hold: more than PTRDIFF_MAX bytes), UMUP_ERR_INVALID_ARG (a group factor not finite or
 * negative, NaN SGD factor), UMUP_ERR_NONFINITE. On error nothing is modified. */
UMUPDEF umup_status umup_optim_step(umup_optimizer *opt, float *params, const float *grads, float *state,
                                    size_t n_params, const umup_param_group *groups, int n_groups);

UMUPDEF const char *umup_optim_name(umup_optimizer_kind kind);
UMUPDEF umup_status umup_optim_parse(const char *name, umup_optimizer_kind *out);

#ifndef UMUP_NO_TRAINER /* sections 9-11: the model, data, trainer and checkpoints */

/* ============================================================================================ */
/* 9. The model: a small decoder-only transformer                                      >>model */
/* ============================================================================================ */
/* Byte-level (vocab 256 by default) decoder-only transformer, llm.c style: every parameter in one
 * flat allocation with named views (torch layouts, the reference implementation's names), the
 * gradients in a parallel flat array, the activations of one (B, T) batch in one more; each layer's
 * forward and backward side by side; every matmul through the GEMM seam. The model is written in the
 * public ops of sections 2-6; what differs between parametrizations it reads from the
 * parametrization object (umup_param_info: unit-scaled or plain ops, residual form, attention scale):
 *
 *   h = embedding(ids)                                        (times the rule's multiplier if plain)
 *   per layer:  h = res(h, attn(in(h)))     attn(x) = linear_o(sdpa(split_heads(linear_qkv(x))))
 *               h = res(h, mlp(in(h)))      mlp(x)  = linear_2(silu_glu(linear_1(x), linear_gate(x)))
 *                                           (GELU MLP: mlp(x) = linear_2(gelu(linear_1(x))), no linear_gate)
 *   logits = readout(norm(h));  loss = cross_entropy(logits, targets)
 *
 * with, by the residual form (umup_residual_form):
 *   TAU (u-muP, the reference TransformerDecoder, [GC] _modules.py): in = norm, res(h, f) =
 *       residual_add(f, residual_split(h), tau_i) with tau_i from the tau rule (section 5); every op
 *       is the unit-scaled op (linear_qkv and linear_o to_output_scale, the MLP linears
 *       unconstrained, linear_readout, the unit-scaled cross-entropy). This configuration
 *       reproduces the reference values (tests/test_model.c).
 *   PRE_NORM (SP, muP, spectral muP): in = norm, res(h, f) = residual_sum(h, f, 1, branch_multiplier);
 *       plain ops with the parametrization's multipliers (umup_param_rule).
 *   POST_NORM (muS, [muS] section 3): in = identity, res(h, f) = residual_sum(h, norm(f), sqrt(1 - tau),
 *       sqrt(tau)) with tau = mus_tau.
 * Norms are non-parametric (RMSNorm, or LayerNorm), no biases, no positional embedding (NoPE) unless
 * rope is set; dropout, when set, applies to each branch output before the residual (unit scaled
 * with unit-scaled ops, [GC]). FP8 simulation follows a per-tensor policy (umup_tensor_info.fp8)
 * that the chosen scheme fills in.
 * The loss: targets [B, T] name the next token of each position, or -1 (ignored); the loss is the
 * mean over the counted rows (see umup_cross_entropy_scales for the 1/B). To reproduce [GC]'s
 * TransformerDecoder.loss(input_ids [B, S]) (which runs the model on all S tokens and scores
 * positions 0 .. S-2 against tokens 1 .. S-1), pass ids = input_ids with T = S and the targets of
 * umup_next_token_targets (the last position's target -1), not the S - 1 shifted tokens: the
 * unit-scaled attention's output scale and the embedding's gradient scale depend on the token
 * count, so T = S - 1 is a slightly different model (with the reference decoder: loss off by about
 * 1e-5 relative, gradients by up to 5e-2; tests/test_model.c measures both). */

typedef enum { UMUP_NORM_RMS = 0, UMUP_NORM_LAYER } umup_norm_kind;

/* The MLP block: SwiGLU (the reference's, [GC] MLP) or a GELU MLP (the muS paper's architecture;
 * unit-scaled gelu with alpha_ffn_act under unit-scaled ops, exact-erf GELU otherwise). */
typedef enum { UMUP_MLP_SWIGLU = 0, UMUP_MLP_GELU } umup_mlp_kind;

/* FP8 simulation schemes: which linear layers cast their inputs (saturating, no scale factors; fp32
 * accumulation). A cast layer rounds its input activation and weight to the forward format (E4M3)
 * before the forward and backward products, and its output gradient to the backward format (E5M2).
 * Embedding, readout and loss stay fp32, and so does attention unless fp8_attention is set (the
 * reference's simulate_fp8 also casts q, k and v; see umup_model_config.fp8_attention). */
typedef enum {
    UMUP_FP8_SIM_NONE = 0,  /* fp32 throughout */
    UMUP_FP8_SIM_ALL,       /* every hidden linear (qkv, o, MLP up/gate/down) */
    UMUP_FP8_SIM_UMUP       /* the u-muP scheme ([P] section 5): all but the attention output and FFN down
                               projections, whose inputs are the least well scaled */
} umup_fp8_sim;

/* Model configuration; zero-initialised means defaults (see umup_model_config_default). */
typedef struct {
    int vocab;              /* 0: 256 (bytes) */
    int width;              /* d_model (0: 64) */
    int layers;             /* 0: 2 */
    int heads;              /* 0: width / head_size */
    int head_size;          /* 0: 32 when heads is 0 too (the reference: width 64, 2 heads) */
    int max_seq;            /* longest sequence (0: 256) */
    int mlp_expansion;      /* MLP hidden size = mlp_expansion * width (0: 4) */
    umup_norm_kind norm;
    umup_mlp_kind mlp;      /* SwiGLU (default) or GELU */
    int rope;               /* rotary position embedding on q and k (base 10000; head size must be even) */
    float dropout;          /* residual-branch dropout probability in training, [0, 1) (0: none) */
    umup_param_config param;/* parametrization (default u-muP); depth is set to `layers` */
    float alpha_attn;       /* u-muP alpha_attn-softmax: attention logits mult / d_head (0: 1) */
    float alpha_ffn_act;    /* u-muP alpha_ffn-act: silu_glu inverse temperature (0: 1) */
    float alpha_res;        /* u-muP alpha_res (0: 1) */
    float alpha_res_attn_ratio; /* u-muP alpha_res-attn-ratio (0: 1) */
    float alpha_loss_softmax;   /* u-muP alpha_loss-softmax: logits multiplier in the loss (0: 1) */
    float mus_tau;          /* muS residual weight tau in (0, 1) (0: umup_mus_tau(layers), the paper's value) */
    float sdpa_scale;       /* the attention op's output and input-grad scales (0: the op's own: u-muP's
                               empirical model under unit-scaled ops, 1 for plain ops); an experiment
                               knob: 1 under u-muP drops the iid-values assumption of its output scale */
    umup_fp8_sim fp8;       /* FP8 simulation scheme */
    int fp8_attention;      /* 1: with a scheme other than NONE, also round q, k, v to the forward format
                               before the attention and the gradient of its output to the backward
                               format ([GC] simulate_fp8 on scaled_dot_product_attention) */
    umup_fp8_rounding fp8_rounding;
    int fp8_custom_formats; /* 0: E4M3 forward, E5M2 backward ([P]); 1: the two formats below */
    umup_fp8_format fp8_format_fwd, fp8_format_bwd;
    uint64_t seed;          /* init and stochastic-rounding seed */
} umup_model_config;

/* What a tensor is in the model: the table of FP8 schemes and the statistics refer to roles. */
typedef enum {
    UMUP_ROLE_EMBEDDING = 0, UMUP_ROLE_QKV, UMUP_ROLE_ATTN_OUT, UMUP_ROLE_MLP_UP, UMUP_ROLE_MLP_GATE,
    UMUP_ROLE_MLP_DOWN, UMUP_ROLE_READOUT
} umup_tensor_role;

/* How FP8 simulation treats a linear layer (filled by the scheme at model creation). */
typedef struct {
    int cast;                       /* 1: x and W are rounded to fwd, dy to bwd; 0: fp32 */
    umup_fp8_format fwd, bwd;
    umup_fp8_rounding rounding;
} umup_fp8_policy;

/* One named parameter tensor: a view into the flat arrays. */
typedef struct {
    char name[48];          /* e.g. "layers.0.mhsa.linear_qkv.weight" */
    int rows, cols;         /* torch layout [rows, cols] = [out_features, in_features] */
    size_t offset, size;    /* in floats, into params / grads */
    umup_tensor_kind kind;
    umup_tensor_role role;
    int in_residual;
    int layer;              /* the layer it belongs to; -1 for the embedding and the readout */
    umup_tensor_rule rule;  /* init, multiplier, LR and WD factors from the parametrization */
    umup_fp8_policy fp8;    /* FP8 simulation of the linear layer that uses it */
} umup_tensor_info;

typedef struct umup_model umup_model;

/* Resolved defaults (width 64, 2 layers, head size 32, vocab 256, max_seq 256, SwiGLU x4, RMSNorm,
 * u-muP with every alpha 1, no FP8). */
UMUPDEF umup_model_config umup_model_config_default(void);

/* The muS paper's architecture on top of *c ([muS] section 3 and App. A: GELU MLP, LayerNorm, the
 * Res-Post-LN residual of the muS parametrization): sets c->param.param = UMUP_PARAM_MUS,
 * c->mlp = UMUP_MLP_GELU, c->norm = UMUP_NORM_LAYER; everything else is left as it is. */
UMUPDEF void umup_model_config_mus(umup_model_config *c);

/* muS's residual weight tau for a model of `layers` layers ([muS] App. A.3: tau falls with depth;
 * 0.4 for the 4-layer width-transfer models). The value of the entry of the table in the
 * implementation (umup__mus_tau_table) with the nearest number of layers; see the table for which
 * depths the paper gives. layers < 1 gives the first entry. */
UMUPDEF float umup_mus_tau(int layers);

/* targets[b, t] = ids[b, t + 1] for t < T - 1, and -1 (ignored) for t = T - 1: the next-token
 * targets of a batch of ids [B, T], [GC]'s TransformerDecoder.loss (see above). Errors:
 * UMUP_ERR_NULL, UMUP_ERR_SHAPE (B or T < 1, or B x T more int32 than a buffer can hold). targets
 * may not overlap ids. */
UMUPDEF umup_status umup_next_token_targets(int32_t *targets, const int32_t *ids, int B, int T);

/* Creates a model for batches of up to max_batch sequences of up to cfg->max_seq tokens:
 * parameters (initialised from cfg->seed by the parametrization's rules), gradients, and
 * activations. Errors: UMUP_ERR_NULL, UMUP_ERR_SHAPE (sizes < 1, heads not dividing width),
 * UMUP_ERR_INVALID_ARG (alphas <= 0, bad enums, mus_tau outside (0, 1), sdpa_scale < 0, an invalid
 * parametrization setting: umup_param_config_error says why), UMUP_ERR_NOMEM. */
UMUPDEF umup_status umup_model_create(umup_model **out, const umup_model_config *cfg, int max_batch);
UMUPDEF void umup_model_destroy(umup_model *m);

/* The resolved configuration, and the tensor table (n tensors in checkpoint order). */
UMUPDEF const umup_model_config *umup_model_get_config(const umup_model *m);
UMUPDEF int umup_model_num_tensors(const umup_model *m);
UMUPDEF const umup_tensor_info *umup_model_tensor(const umup_model *m, int i);
UMUPDEF const umup_tensor_info *umup_model_find_tensor(const umup_model *m, const char *name);

/* The flat arrays (num_params floats each); write to params to load weights. umup_model_params
 * counts as a change of the parameters (it bumps the weight epoch that GEMM backends cache by). */
UMUPDEF float *umup_model_params(umup_model *m);
UMUPDEF float *umup_model_grads(umup_model *m);
UMUPDEF size_t umup_model_num_params(const umup_model *m);

/* Memory: bytes held for parameters, gradients and activations (for max_batch x max_seq tokens). */
UMUPDEF void umup_model_memory(const umup_model *m, size_t *param_bytes, size_t *grad_bytes, size_t *act_bytes);

/* The same figures for a configuration, without allocating them: what umup_model_create(cfg,
 * max_batch) would allocate (plus a few KB of tables). Every size is computed with overflow checks.
 * Errors: those of umup_model_create's validation, and UMUP_ERR_NOMEM when a size does not fit in
 * size_t or a dimension product exceeds the int range the ops take (then nothing is written). */
UMUPDEF umup_status umup_model_memory_needed(const umup_model_config *cfg, int max_batch, size_t *param_bytes,
                                             size_t *grad_bytes, size_t *act_bytes);

/* Forward pass on ids [B, T] (B <= max_batch, T <= max_seq, ids in [0, vocab)): the mean
 * cross-entropy over the positions whose target in targets [B, T] is not -1 (may be NULL: no loss,
 * *loss untouched, logits available via umup_model_logits). step is the training step, used to
 * draw the stochastic-rounding bits. Errors: UMUP_ERR_NULL, UMUP_ERR_SHAPE, UMUP_ERR_INVALID_ARG
 * (an id or target out of range, no target counted). */
UMUPDEF umup_status umup_model_forward(umup_model *m, const int32_t *ids, const int32_t *targets, int B, int T,
                                       long step, float *loss);

/* One shard of a larger batch, for gradient accumulation and data parallelism: the batch of
 * total_seqs sequences (with total_counted targets that are not -1) is split into shards, and a
 * forward/backward pass on one shard computes exactly its rows' part of the whole batch's loss and
 * gradient: the scales that depend on the number of rows take the whole batch's (a unit-scaled
 * linear's weight-gradient scale (B T)^-1/2, the embedding's sqrt(V / (B T)), a plain loss's
 * 1/counted), the loss is the shard's rows' summed loss divided by total_counted (so the shards'
 * losses add up to the batch's mean), and every random stream (FP8 stochastic rounding, dropout) is
 * indexed by the row's position in the whole batch, so the shards draw exactly the bits the whole
 * batch would. Summing the shards' gradients therefore gives the whole batch's gradient, up to the
 * order of the floating-point additions. */
typedef struct {
    int first_seq;          /* index of the shard's first sequence in the whole batch */
    int total_seqs;         /* sequences in the whole batch (>= first_seq + the shard's B) */
    long total_counted;     /* targets in the whole batch that are not -1 (> 0) */
} umup_batch_shard;

/* umup_model_forward on a shard (ids, targets [B, T]: sequences first_seq .. first_seq + B - 1 of
 * the whole batch); *loss receives the shard's share of the batch's mean loss. shard NULL: the whole
 * batch, as umup_model_forward. The following umup_model_backward computes the shard's part of the
 * gradient. Errors: those of umup_model_forward, UMUP_ERR_SHAPE for an inconsistent shard
 * (first_seq + B > total_seqs, total_seqs x T beyond the int range) and UMUP_ERR_INVALID_ARG for
 * total_counted < 1 or smaller than the shard's own count. */
UMUPDEF umup_status umup_model_forward_shard(umup_model *m, const int32_t *ids, const int32_t *targets, int B, int T,
                                             long step, const umup_batch_shard *shard, float *loss);

/* Training mode (1) applies dropout; evaluation mode (0, the default after creation) does not.
 * umup_trainer_step switches it on for its forward and backward pass and off again. */
UMUPDEF void umup_model_set_training(umup_model *m, int training);

/* Logits [B, T, vocab] of the last forward pass (unscaled by the loss multiplier). */
UMUPDEF const float *umup_model_logits(const umup_model *m);

/* Backward pass of the last forward (which must have had targets): accumulates into the gradients.
 * For u-muP the gradients are the unit-scaled ones (true gradient times per-tensor constants, as in
 * the reference); for the other parametrizations they are the true gradients. */
UMUPDEF umup_status umup_model_backward(umup_model *m);
UMUPDEF void umup_model_zero_grad(umup_model *m);

/* Gradient hook: during umup_model_backward, fn(ctx, tensor) is called as soon as tensor `tensor`'s
 * gradient (umup_model_grads + its offset, size floats) is complete for this pass: nothing later in
 * the pass adds to it. The order is the backward pass's: the readout, then each layer from the last
 * (its MLP's tensors, then its attention's), then the embedding; every tensor once per pass. fn runs
 * on the calling thread, outside any OpenMP parallel region, and may read the gradients (e.g. start
 * sending them: the overlapped data-parallel exchange of umup_mpi.h) but must not write them. fn NULL
 * removes the hook. */
typedef void (*umup_grad_hook)(void *ctx, int tensor);
UMUPDEF void umup_model_set_grad_hook(umup_model *m, umup_grad_hook fn, void *ctx);

/* Fills groups[0 .. num_tensors) for umup_optim_step from the tensor rules (the Adam-family or the
 * SGD LR and weight-decay factors according to kind). Errors: UMUP_ERR_NULL; UMUP_ERR_INVALID_ARG (a kind
 * outside umup_optimizer_kind, or SGD under a parametrization without an SGD rule). */
UMUPDEF umup_status umup_model_param_groups(const umup_model *m, umup_optimizer_kind kind, umup_param_group *groups);

/* ---- The model's constants, for re-implementations of its passes ------------------ >>model-plan */
/* What a re-implementation of the forward and backward pass (umup_cuda.h's device trainer) asks the
 * model, so that the parametrization, the op scales and the random streams stay one definition:
 * umup_model_get_plan fills the constants of a batch of B sequences of T tokens of which `counted`
 * have a target; umup_model_linear_scales gives linear tensor t's scales for `rows` rows (the pass
 * computes y = s.out x W^T, dx = grad[0] dy W, dW = grad_w dy^T x; t indexes the tensor table and is
 * not the embedding); umup_model_fp8_seed is the stochastic-rounding seed with which FP8 simulation
 * rounds linear t's input x (purpose 0), weight W (1) and output gradient dy (2) at training step
 * `step` (element i of the row-major array draws umup_rng_u32(seed, i)); umup_model_dropout_stream is
 * the stream of branch b's dropout mask (b = 0 the first attention branch, 1 the first MLP branch,
 * ...; element i is kept iff umup_rng_uniform(seed, counter + i) >= dropout). The forward and backward
 * pass above use exactly these. Errors: UMUP_ERR_NULL; UMUP_ERR_SHAPE (B, T, counted or rows < 1, t
 * out of range or the embedding). */
typedef struct {
    int unit_ops;               /* the parametrization's unit_ops: unit-scaled ops and loss (1) or plain */
    umup_residual_form residual;
    float attn_scale;           /* attention logit scale */
    float emb_multiplier;       /* multiplier on the embedding output (1 with unit-scaled ops) */
    double skip_w, branch_w;    /* residual_sum weights of the PRE_NORM and POST_NORM forms */
    const double *taus;         /* [2 layers] taus of the TAU form (the model's own array) */
    umup_op_scales sdpa;        /* scaled dot-product attention over T keys (all ones with plain ops) */
    umup_op_scales glu;         /* silu_glu */
    umup_op_scales dropout;     /* branch dropout */
    umup_op_scales loss;        /* cross-entropy over `counted` rows: out = multiplier, grad[0] */
    umup_op_scales embedding;   /* embedding backward over B T ids: grad_w */
} umup_model_plan;
UMUPDEF umup_status umup_model_get_plan(const umup_model *m, int B, int T, int counted, umup_model_plan *out);
UMUPDEF umup_status umup_model_linear_scales(const umup_model *m, int t, int rows, umup_op_scales *s);
UMUPDEF uint64_t umup_model_fp8_seed(const umup_model *m, long step, int t, int purpose);
UMUPDEF void umup_model_dropout_stream(const umup_model *m, long step, int branch, uint64_t *seed, uint64_t *counter);

/* ---- Tensor statistics: coordinate checks and FP8 scale tracking ------------------ >>stats */
/* With recording on, every forward pass records the statistics of each module's output and of
 * each linear layer's input x and weight W (before any FP8 cast), and the backward pass adds each
 * linear layer's output gradient dy. They are what a mup-style coordinate check plots, and what
 * decides whether a fixed-scale FP8 cast works: the fractions of elements a cast would flush to
 * zero, push into the subnormal range, or clip at the format's maximum. */
typedef enum {
    UMUP_STAT_OUTPUT = 0,   /* a module's output in the forward pass (judged against E4M3) */
    UMUP_STAT_MATMUL_X,     /* a linear layer's input activation (E4M3 under FP8 simulation) */
    UMUP_STAT_MATMUL_W,     /* a linear layer's weight as stored (E4M3) */
    UMUP_STAT_MATMUL_DY     /* a linear layer's output gradient in the backward pass (E5M2) */
} umup_stat_kind;

typedef struct {
    char name[48];          /* module: "embedding", "layers.0.mhsa.linear_qkv", "layers.0.mhsa.attention",
                               "layers.0.attn_residual", "layers.0.mlp.act", "layers.0.mlp_residual",
                               "final_norm", "projection", ... (linear layers: the weight's name without
                               ".weight") */
    umup_stat_kind kind;
    int layer;              /* layer index, -1 outside the layers */
    int fp8_cast;           /* 1 when this configuration's FP8 simulation casts the tensor */
    umup_fp8_format format; /* the format the fractions refer to: E5M2 for gradients, else E4M3 */
    size_t count;           /* elements */
    double mean_abs, rms, max_abs;
    double frac_underflow;  /* nonzero elements whose magnitude is <= half the smallest subnormal: RNE gives 0 */
    double frac_subnormal;  /* elements in (half the smallest subnormal, smallest normal): reduced precision */
    double frac_overflow;   /* elements above the format's largest finite value: clipped by saturation */
} umup_tensor_stats;

/* Statistics of x[0 .. n) against fmt (sums in double; NaN/Inf count as overflow, their |x| is
 * left out of the means). name may be NULL (an empty name); kind, layer and fp8_cast are set to
 * UMUP_STAT_OUTPUT, -1 and 0. Errors: UMUP_ERR_NULL; UMUP_ERR_SHAPE for an n no float array can
 * have (more than PTRDIFF_MAX bytes); UMUP_ERR_INVALID_ARG for an fmt outside the enum. n = 0 gives
 * zero statistics. */
UMUPDEF umup_status umup_tensor_stats_compute(umup_tensor_stats *s, const char *name, const float *x, size_t n,
                                              umup_fp8_format fmt);

/* Switches recording on (1) or off (0, the default). Recording costs one pass over each tensor. */
UMUPDEF void umup_model_record_stats(umup_model *m, int on);

/* The statistics recorded by the last forward pass and, if one followed, its backward pass (in
 * execution order); *count receives their number (0 when recording is off). The array belongs to
 * the model and is overwritten by the next forward pass. umup_trainer_step records the forward and
 * backward pass of the step, that is, the state before its update. */
UMUPDEF const umup_tensor_stats *umup_model_stats(const umup_model *m, int *count);

/* ============================================================================================ */
/* 10. Data: the embedded corpus, datasets and batches                                >>data */
/* ============================================================================================ */
/* The default corpus is generated, not downloaded: a deterministic stochastic grammar over a
 * synthetic Zipfian vocabulary with structure at several scales:
 *   - words made of syllables (character level), with Zipf-distributed frequencies;
 *   - sentences from templates with number agreement ("the red dog runs." / "the red dogs run.");
 *   - named characters introduced in a paragraph ("Tavo is a farmer.") and referred to later in it
 *     (long-range copying);
 *   - arithmetic with correct results ("17 + 25 = 42.");
 *   - balanced nested brackets; paragraphs separated by blank lines.
 * The generator counts the information of every random choice it makes; divided by the bytes it
 * emits this is an upper bound on the corpus's entropy rate, so the best achievable loss is at most
 * that many bits per byte (reported as *bits_per_byte: 0.98 bits/byte for seed 1, against a unigram entropy
 * of 4.34 bits/byte; demos/train prints both). */
/* buf: n bytes (NULL when n is 0). Errors: UMUP_ERR_NULL, UMUP_ERR_SHAPE (n > PTRDIFF_MAX: no such
 * buffer), UMUP_ERR_NOMEM. */
UMUPDEF umup_status umup_corpus_generate(char *buf, size_t n, uint64_t seed, double *bits_per_byte);

/* A byte dataset split into a training part [0, n_train) and a validation part [n_train, n). */
typedef struct {
    uint8_t *data;
    size_t n, n_train;
    double choice_bits_per_byte; /* generator's entropy bound (embedded corpus only, else 0) */
    const char *error;      /* after a failed umup_dataset_load_file: why (a static string), else NULL */
} umup_dataset;

/* The embedded corpus: n bytes from seed, the last val_fraction (0: 0.1) for validation.
 * Errors: UMUP_ERR_NULL, UMUP_ERR_INVALID_ARG (n < 1024, val_fraction outside [0, 0.5]), UMUP_ERR_NOMEM. */
UMUPDEF umup_status umup_dataset_from_corpus(umup_dataset *ds, size_t n, uint64_t seed, double val_fraction);

/* Checks that path names a regular file of at least 1024 bytes that can be opened for reading, and
 * sets *bytes (may be NULL) to its size; reads none of it. Anything else is refused without
 * blocking: on POSIX systems the file is opened non-blocking and fstat() decides, so a directory,
 * FIFO, socket or device node is an error however it is named (a symlink to a regular file is fine).
 * *why (may be NULL) receives a static string naming the reason on failure, NULL on success.
 * Errors: UMUP_ERR_NULL (path); UMUP_ERR_IO (missing, unreadable, not a regular file);
 * UMUP_ERR_FORMAT (fewer than 1024 bytes); UMUP_ERR_NOMEM (larger than this process can address).
 * umup_dataset_load_file runs the same check; demos/train --dry-run uses it on --data. */
UMUPDEF umup_status umup_dataset_check_file(const char *path, size_t *bytes, const char **why);

/* A regular file (see umup_dataset_check_file), read whole as bytes; the last val_fraction (0: 0.1)
 * is the validation split. ds is zeroed first; on failure it owns nothing and ds->error says why.
 * Errors: UMUP_ERR_NULL (ds, path); UMUP_ERR_INVALID_ARG (val_fraction outside [0, 0.5]);
 * UMUP_ERR_IO (missing, unreadable, not a regular file, a read error, or the file shrank while being
 * read); UMUP_ERR_FORMAT (fewer than 1024 bytes); UMUP_ERR_NOMEM. */
UMUPDEF umup_status umup_dataset_load_file(umup_dataset *ds, const char *path, double val_fraction);
UMUPDEF void umup_dataset_free(umup_dataset *ds);

/* Batch `step` as a pure function of (seed, step): B windows of T+1 bytes at offsets drawn with
 * umup_rng_u32(seed, step * B + b) from the training split (split 0), or, for the validation split
 * (split 1), at evenly spaced offsets fixed by `step` (deterministic evaluation batches).
 * ids[b, t] = window[t], targets[b, t] = window[t + 1]; both [B, T].
 * Errors: UMUP_ERR_NULL (also a dataset without data); UMUP_ERR_SHAPE (a split shorter than T + 1
 * bytes, B or T < 1, step < 0, B x T more than an array can hold); UMUP_ERR_INVALID_ARG (split not 0
 * or 1). */
UMUPDEF umup_status umup_dataset_batch(const umup_dataset *ds, int split, uint64_t seed, long step, int B, int T,
                                       int32_t *ids, int32_t *targets);

/* Entropy of the byte unigram distribution of the training split, in bits per byte. */
UMUPDEF double umup_dataset_unigram_entropy(const umup_dataset *ds);

/* ============================================================================================ */
/* 11. Training, sampling and checkpoints                                          >>trainer */
/* ============================================================================================ */
/* A trainer owns a model, its optimizer and the optimizer state. A training step is
 * zero_grad -> forward -> backward -> clip -> optimizer update with the parametrization's per-tensor
 * LR factors and weight-decay rules. All randomness is a pure function of (seed, step), so a run
 * resumed from a checkpoint continues bit for bit like the uninterrupted run. */
typedef struct umup_trainer umup_trainer;

/* Creates the model (umup_model_create) and an optimizer (umup_optim_init) with zeroed state.
 * Errors: those of both, UMUP_ERR_INVALID_ARG for SGD under a parametrization without an SGD rule. */
UMUPDEF umup_status umup_trainer_create(umup_trainer **out, const umup_model_config *mc, const umup_optim_config *oc,
                                        int max_batch);
UMUPDEF void umup_trainer_destroy(umup_trainer *t);
UMUPDEF umup_model *umup_trainer_model(umup_trainer *t);
UMUPDEF const umup_optimizer *umup_trainer_optimizer(const umup_trainer *t);
/* Bytes of optimizer state (moments). */
UMUPDEF size_t umup_trainer_state_bytes(const umup_trainer *t);
/* The optimizer state itself (umup_trainer_state_bytes() bytes: umup_optim_step's `state`, the first
 * moments of every parameter, then the second moments), writable, and setting the number of updates
 * applied: for code that trains the same model elsewhere (umup_cuda.h's device trainer) and saves,
 * loads or samples through this trainer. Errors of umup_trainer_set_step: UMUP_ERR_NULL,
 * UMUP_ERR_INVALID_ARG (step < 0). */
UMUPDEF float *umup_trainer_state(umup_trainer *t);
UMUPDEF umup_status umup_trainer_set_step(umup_trainer *t, long step);

/* The optimizer's parameter groups, one per tensor in tensor-table order (*n receives their number,
 * when n is not NULL): what every umup_trainer_step hands to umup_optim_step, filled at creation by
 * umup_model_param_groups. A caller may change their factors between steps, e.g. lr_factor 0 to
 * freeze a tensor in an ablation; a checkpoint does not record such changes. NULL for NULL. */
UMUPDEF umup_param_group *umup_trainer_param_groups(umup_trainer *t, int *n);

/* One step on a batch (ids, targets [B, T]); *loss (loss may be NULL) is the batch loss before the update.
 * UMUP_ERR_NONFINITE when the loss or the gradient is NaN/Inf (the parameters are not changed). */
UMUPDEF umup_status umup_trainer_step(umup_trainer *t, const int32_t *ids, const int32_t *targets, int B, int T,
                                      float *loss);

/* Loss of a batch without gradients or updates (a batch larger than max_batch is evaluated in
 * parts of max_batch sequences, with the same mean). */
UMUPDEF umup_status umup_trainer_eval(umup_trainer *t, const int32_t *ids, const int32_t *targets, int B, int T,
                                      float *loss);

/* Gradient accumulation: every training batch is split into `shards` equal shards (B must be a
 * multiple of shards, and B / shards <= max_batch), whose gradients are computed one after another
 * (umup_model_forward_shard) and added in shard order, g = ((g_0 + g_1) + g_2) + ..., before the
 * update: the same step in 1/shards of the activation memory, equal to the whole-batch step up to
 * the order of the floating-point additions. 1, the default: one pass over the whole batch.
 * Errors: UMUP_ERR_NULL, UMUP_ERR_INVALID_ARG (shards < 1, or data parallelism is on),
 * UMUP_ERR_NOMEM (an accumulation buffer of num_params floats). */
UMUPDEF umup_status umup_trainer_set_shards(umup_trainer *t, int shards);

/* Data parallelism: `size` processes train one model. Every process passes the same whole batch to
 * umup_trainer_step; the batch is split into `size` shards and process `rank` computes shard `rank`'s
 * gradient g_rank; then allreduce(ctx, grads, n, &loss) must replace grads [n] (its g_rank) by
 * ((g_0 + g_1) + g_2) + ... + g_{size-1}, the float additions in rank order, identical on every
 * process, and sum the processes' loss shares (double) in rank order likewise; every process then
 * applies the same update. A single process with umup_trainer_set_shards(t, size) adds the same
 * shard gradients in the same order, so N processes reproduce it bit for bit (tested). umup_mpi.h
 * provides such an allreduce over MPI. A process whose own shard fails (a non-finite loss, an id out
 * of range in its rows) still calls allreduce, with *loss = NaN and zero gradients, so that no
 * process waits for it: the summed loss is then NaN everywhere and the step fails on every process
 * without an update (its own error on the failing one, UMUP_ERR_NONFINITE on the others; an error
 * that allreduce returns is returned too). dp NULL switches data parallelism off. Errors: UMUP_ERR_NULL,
 * UMUP_ERR_INVALID_ARG (rank outside [0, size), size < 1, no allreduce, shards != 1), UMUP_ERR_NOMEM;
 * a training batch whose B is not a multiple of size gets UMUP_ERR_SHAPE from umup_trainer_step. */
typedef struct {
    int rank, size;
    void *ctx;
    umup_status (*allreduce)(void *ctx, float *grads, size_t n, double *loss);
} umup_data_parallel;
UMUPDEF umup_status umup_trainer_set_data_parallel(umup_trainer *t, const umup_data_parallel *dp);

/* Generates n_new tokens after prompt[0 .. n_prompt) (n_prompt >= 1) into out[0 .. n_new): each from
 * softmax(alpha_loss * logits / temperature) restricted to the top_k most likely (0: all), or the
 * most likely one when temperature is 0. Deterministic for a seed. The context is the last
 * max_seq tokens. Needs a model created with max_batch >= 1. */
UMUPDEF umup_status umup_model_sample(umup_model *m, const int32_t *prompt, int n_prompt, int n_new, float temperature,
                                      int top_k, uint64_t seed, int32_t *out);

/* ---- Checkpoints ----------------------------------------------------------------- >>checkpoint */
/* A checkpoint is a safetensors file (little-endian u64 header length, a JSON header padded with
 * spaces to 8 bytes, then the tensor bytes, every byte indexed exactly once):
 *  - every parameter under its reference name and torch layout, F32: "embedding.weight",
 *    "layers.<i>.mhsa.linear_qkv.weight", ..., "projection.weight" (the names of the reference
 *    TransformerDecoder's state_dict);
 *  - in a full checkpoint, the optimizer moments under the prefix "optim.": "optim.m.<name>" (Adam's
 *    first moment, SGD's momentum buffer, Lion's momentum) and "optim.v.<name>" (Adam's second
 *    moment). A PyTorch user drops every key that starts with "optim." and loads the rest with a
 *    strict load_state_dict; a weights-only checkpoint has no such keys at all;
 *  - "__metadata__" (string values only): "format" ("umup-checkpoint-3"), "contents" ("full" or
 *    "weights"), "step" (updates applied, decimal), every model and optimizer setting under its field
 *    name (vocab, width, layers, heads, head_size, ..., optimizer, lr, ..., schedule, warmup, total,
 *    min_ratio) with enums as names ("umup", "rms", "cosine", "sr", ...), booleans as "true"/"false",
 *    numbers in the fewest digits that read back exactly, and base_width / base_depth as the caller set them
 *    ("auto" for 0); the run information of umup_trainer_set_run_info as "run.<key>"; "writer".
 * Files of format "umup-checkpoint-2" (without base_head_size, mlp, sdpa_scale and fp8_attention,
 * which then keep their defaults) and "umup-checkpoint-1" (enums as numbers) are still read. A
 * built-in parametrization is compared by its current name: "spectral" (before v0.2) reads as
 * "spectral-nanotron", the same rule.
 *
 * Saves are atomic and keep the previous file until the new one is complete: the data goes to a new
 * temporary file next to the target (".<name>.<pid>-<n>.umup-tmp", created exclusively), is flushed
 * with fsync, renamed over the target, and the directory is synced. A path that is a symbolic link
 * is followed (also through chains of links) and its final target is the file replaced, so the link
 * stays a link; anything at the path that is not a regular file (a directory, a device, a FIFO) is
 * refused. The new file takes the replaced file's permission bits. Temporaries left behind by a
 * save that was killed are removed by the next save to the same target (a temporary is stale when
 * no process holds the write lock every save keeps on its own). If any step fails, the temporary is
 * removed and the target is untouched. (POSIX systems; with UMUP_NO_POSIX or elsewhere the save uses
 * plain C: a unique temporary, fflush and rename, without the symlink, sync and lock handling.)
 *
 * Loads read only regular files (a FIFO, a directory or a device is refused without blocking),
 * validate the whole file before anything in the trainer changes (so a failed load loses nothing),
 * and report with these codes (umup_trainer_error() / err says which tensor or setting, listing
 * every mismatch at once):
 *   UMUP_ERR_IO        missing, unreadable, or not a regular file;
 *   UMUP_ERR_FORMAT    not safetensors, truncated, trailing bytes after the last tensor or holes
 *                      between tensors, overlapping tensors, a bad JSON header, an unknown dtype, a
 *                      setting that does not parse exactly (a step that is empty, has a sign or does
 *                      not fit in a long, "width":"abc", a non-finite float), a step past the file's
 *                      own schedule total, no "format" tag where one is required;
 *   UMUP_ERR_MISMATCH  a valid file that does not fit the trainer: different settings, missing or
 *                      unexpected tensors, other shapes or dtypes (only F32 is read), a checkpoint
 *                      whose step lies past the trainer's schedule total, a weights-only file given to
 *                      a full load;
 *   UMUP_ERR_NONFINITE a tensor that holds a NaN or an Inf (named, with the first bad index);
 *   UMUP_ERR_NOMEM. */

/* Saves the whole training state (parameters, optimizer moments, step, configuration) to path, as
 * described above. Errors: UMUP_ERR_NULL; UMUP_ERR_NONFINITE (a parameter or moment is NaN/Inf:
 * nothing is written); UMUP_ERR_IO (the path is not a regular file or a link to one, its directory
 * is missing or unwritable, the disk is full, ...; the previous file at path is intact);
 * UMUP_ERR_NOMEM. umup_trainer_error() says why. */
UMUPDEF umup_status umup_trainer_save(umup_trainer *t, const char *path);

/* The same without the optimizer state ("contents": "weights"): a file for evaluation, fine-tuning
 * or PyTorch, which a strict load_state_dict reads as it is. */
UMUPDEF umup_status umup_trainer_save_weights(umup_trainer *t, const char *path);

/* Resumes training from a full checkpoint: parameters, optimizer moments and step. Every model and
 * optimizer setting in the file must equal the trainer's, except the schedule's total: the trainer
 * keeps its own total, which must be 0 or at least the file's step. So a run saved at step s of a
 * schedule of n steps continues bit for bit when the trainer was created with total n, and continues
 * to a longer run when it was created with a larger total (see umup_trainer_set_total_steps for what
 * changes then). Run information set with umup_trainer_set_run_info must equal the file's where the
 * file records the key. Errors: see above; UMUP_ERR_NULL. */
UMUPDEF umup_status umup_trainer_load(umup_trainer *t, const char *path);

/* Loads only the parameters, from a full or weights-only checkpoint or from any safetensors file
 * with the same tensor names and shapes (e.g. written from PyTorch; keys starting with "optim." are
 * skipped, any other extra key is a mismatch). The optimizer state is zeroed and the step set to 0:
 * what fine-tuning or evaluation starts from. Only the settings that change what the weights mean
 * must match (when the file records them): vocab, width, layers, heads, head_size, mlp_expansion,
 * norm, rope, param, base_width, base_depth, depth_mode, depth_rule, completep_alpha, alpha_emb,
 * alpha_out, the u-muP alphas and mus_tau; FP8 simulation, dropout, max_seq, seed and every
 * optimizer setting may differ. Errors: as umup_trainer_load. */
UMUPDEF umup_status umup_trainer_load_weights(umup_trainer *t, const char *path);

/* What a checkpoint file holds (umup_checkpoint_info). */
typedef struct {
    int version;              /* 3: this library's format; 2, 1: older umup formats; 0: a safetensors
                                 file without a umup "format" tag (e.g. written from PyTorch) */
    int has_config;           /* 1: model and optim hold the recorded settings (version >= 1) */
    int has_optimizer_state;  /* 1: a full checkpoint (umup_trainer_load); 0: weights only */
    long step;                /* updates applied when it was saved (0 when not recorded) */
    char param_name[64];      /* the parametrization's name: a built-in one ("umup", ..., also in
                                 model.param), or a custom one's, whose umup_param_info the caller
                                 must put in model.param.custom */
    umup_model_config model;  /* as recorded: pass to umup_trainer_create to rebuild the model */
    umup_optim_config optim;  /* as recorded (resolved defaults) */
    int n_tensors;            /* tensors in the file, optimizer moments included */
    uint64_t n_values;        /* elements in all tensors */
    int n_run_info;           /* run information (umup_trainer_set_run_info), up to 16 entries */
    struct { char key[32]; char value[128]; } run_info[16];
} umup_checkpoint_meta;

/* Reads a checkpoint's header without a model: format, contents, step and configuration. Only the
 * header is read; the layout of the tensors is validated against the file size (not their values).
 * err (may be NULL) receives a reason of up to err_cap bytes. Errors: UMUP_ERR_NULL, UMUP_ERR_IO,
 * UMUP_ERR_FORMAT, UMUP_ERR_NOMEM. */
UMUPDEF umup_status umup_checkpoint_info(const char *path, umup_checkpoint_meta *out, char *err, size_t err_cap);

/* Creates a trainer with the configuration recorded in a checkpoint (for batches of up to
 * max_batch sequences) and loads it: the full state when the file has the optimizer moments
 * (umup_trainer_load), else the weights (step 0). The model is allocated as large as the file's
 * settings say before its tensors are compared with it: for a file from an untrusted source, look at
 * umup_checkpoint_info first. Errors: those of umup_checkpoint_info, umup_trainer_create and the
 * loads; UMUP_ERR_FORMAT for a file without a umup configuration; UMUP_ERR_UNSUPPORTED for one
 * trained with a custom parametrization (create that trainer yourself and use umup_trainer_load). */
UMUPDEF umup_status umup_trainer_from_checkpoint(umup_trainer **out, const char *path, int max_batch, char *err,
                                                 size_t err_cap);

/* Continues the run to `total` updates (0: no schedule length): the schedule's total is replaced,
 * nothing else. From then on update s uses lr * umup_schedule_value(&schedule, s) with the new total:
 * warmup, decay kind, min_ratio and the peak LR stay, and the decay stretches over the new length.
 * For a cosine or linear decay the LR of the next update therefore rises from the old curve's value
 * to the new curve's (for a longer total; the steps already taken are not revisited); a constant
 * schedule does not change. Errors: UMUP_ERR_NULL; UMUP_ERR_INVALID_ARG (total < 0, or 0 < total <
 * the current step). */
UMUPDEF umup_status umup_trainer_set_total_steps(umup_trainer *t, long total);

/* Records key = value in every later checkpoint of t (as "run.<key>", at most 16 keys; setting a key
 * again replaces it, an empty value removes it) and requires the same value from a checkpoint that
 * umup_trainer_load reads, where the file records the key. For what the library does not know but a
 * bit-exact resume needs, e.g. the batch size, the sequence length and the data. key: 1-31 characters
 * of [A-Za-z0-9_.-]; value: up to 127 printable ASCII characters. Errors: UMUP_ERR_NULL,
 * UMUP_ERR_INVALID_ARG (a bad key or value, a 17th key). */
UMUPDEF umup_status umup_trainer_set_run_info(umup_trainer *t, const char *key, const char *value);

/* Checks now, before any training, that a checkpoint can later be saved at path: the path (after
 * following symbolic links) is a regular file or does not exist, and a file can be created in its
 * directory (one is created and removed). Also removes stale temporaries of earlier killed saves to
 * that path. err (may be NULL) receives the reason. Errors: UMUP_ERR_NULL, UMUP_ERR_IO. */
UMUPDEF umup_status umup_checkpoint_check_writable(const char *path, char *err, size_t err_cap);

/* Human-readable reason of the last failed save or load ("" if none). */
UMUPDEF const char *umup_trainer_error(const umup_trainer *t);

#endif /* UMUP_NO_TRAINER */

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

#include <limits.h>
#include <math.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- Checked sizes: every size computed from user input goes through these ---------------- */
/* *out = a * b (or a + b); return 0 and leave *out alone when the result does not fit in size_t. */
#if defined(__GNUC__) || defined(__clang__)
#define UMUP__UNUSED __attribute__((unused)) /* the UMUP_NO_TRAINER core may not need every helper */
#else
#define UMUP__UNUSED
#endif
static UMUP__UNUSED int umup__size_mul(size_t *out, size_t a, size_t b) {
    if (a && b > (size_t)-1 / a) return 0;
    *out = a * b;
    return 1;
}
static UMUP__UNUSED int umup__size_add(size_t *out, size_t a, size_t b) {
    if (b > (size_t)-1 - a) return 0;
    *out = a + b;
    return 1;
}
/* 1 when a buffer of a x b x c elements of elem bytes can exist (at most PTRDIFF_MAX bytes, the
 * largest object C allows; factors >= 0): the ops refuse larger shapes with UMUP_ERR_SHAPE before
 * touching memory, as the bulk functions of umup_fp8.h do (UMUP__TOO_MANY). */
static int umup__buf_ok(size_t elem, size_t a, size_t b, size_t c) {
    size_t n;
    return umup__size_mul(&n, a, b) && umup__size_mul(&n, n, c) && umup__size_mul(&n, n, elem) && n <= (size_t)PTRDIFF_MAX;
}

/* ============================================================================================ */
/* 2. The GEMM seam (implementation)                                                  >>matmul */
/* ============================================================================================ */

#ifdef UMUP_USE_CBLAS
UMUPDEF const umup_backend *umup_cblas_backend(void); /* umup_cblas.h, compiled at the end of this file */
#endif

static const umup_backend *umup__backend = NULL;
static int umup__backend_chosen = 0; /* 0: the compile-time default (CBLAS or none) */

UMUPDEF void umup_set_backend(const umup_backend *b) {
    umup__backend = b;
    umup__backend_chosen = 1;
}

UMUPDEF const umup_backend *umup_get_backend(void) {
#ifdef UMUP_USE_CBLAS
    if (!umup__backend_chosen) return umup_cblas_backend();
#endif
    return umup__backend_chosen ? umup__backend : NULL;
}

/* Shape and pointer checks shared by umup_gemm and umup_sgemm_portable. */
static umup_status umup__gemm_check(const umup_gemm_args *g) {
    if (g->M < 0 || g->N < 0 || g->K < 0) return UMUP_ERR_SHAPE;
    if (g->M == 0 || g->N == 0) return UMUP_OK;
    if (!g->C) return UMUP_ERR_NULL;
    if (g->ldc < g->N) return UMUP_ERR_SHAPE;
    if (g->K == 0) return UMUP_OK;
    if (!g->A || !g->B) return UMUP_ERR_NULL;
    if (g->lda < (g->trans_a ? g->M : g->K) || g->ldb < (g->trans_b ? g->K : g->N)) return UMUP_ERR_SHAPE;
    /* rows x leading dimension of each operand: buffers that can exist */
    if (!umup__buf_ok(sizeof(float), (size_t)g->M, (size_t)g->ldc, 1) ||
        !umup__buf_ok(sizeof(float), (size_t)(g->trans_a ? g->K : g->M), (size_t)g->lda, 1) ||
        !umup__buf_ok(sizeof(float), (size_t)(g->trans_b ? g->N : g->K), (size_t)g->ldb, 1))
        return UMUP_ERR_SHAPE;
    return UMUP_OK;
}

static void umup__sgemm_portable(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                                 const float *B, int ldb, float beta, float *C, int ldc); /* >>gemm-kernel */

/* A micro-kernel: acc[MR][NR] = sum_p a[p*as + i] b[p*NR + j] over p < kc (b: a packed panel, zero
 * padded past the valid columns; a: a packed panel, as = MR, zero padded past the valid rows, or MR
 * consecutive floats of each of kc rows as apart, as where op(A) is stored [K, M] (transA) and the
 * panel is whole; no alignment needed, though the GEMM's own buffers are 64-byte aligned), then
 * C = alpha acc + beta C on the valid mr x nr corner (beta == 0: C is written without being read).
 * The sum runs over p in order either way, so a panel read in place gives bitwise the packed one's
 * result. A row-major [kc, NR] array is its own B panel (the flash attention uses it). */
typedef void (*umup__micro_fn)(int kc, const float *a, size_t as, const float *b, float alpha, float beta, float *C,
                               int ldc, int mr, int nr);
typedef struct {
    umup__micro_fn micro;
    int mr, nr;     /* register tile */
    int kc, mc, nc; /* cache blocks: depth, rows of A per packed block, columns of B per packed block */
} umup__gemm_kdesc;
static const umup__gemm_kdesc *umup__gemm_kd(void); /* the kernel in use */
static void umup__sgemm_packA(int transA, const float *A, int lda, int ic, int mc, int pc, int kc, int mr_, float *Ap);
static void umup__sgemm_packB(int transB, const float *B, int ldb, int pc, int kc, int jc, int nc, int nr_, float *Bp);

UMUPDEF umup_status umup_gemm(const umup_gemm_args *g) {
    const umup_backend *be;
    umup_status st;
    if (!g) return UMUP_ERR_NULL;
    st = umup__gemm_check(g);
    if (st != UMUP_OK || g->M == 0 || g->N == 0) return st;
    be = umup_get_backend();
#ifdef _OPENMP
    if (omp_in_parallel()) be = NULL; /* backends are never called concurrently */
#endif
    if (be && be->gemm) {
        st = be->gemm(be->ctx, g);
        if (st != UMUP_ERR_UNSUPPORTED) return st;
    }
    umup__sgemm_portable(g->trans_a, g->trans_b, g->M, g->N, g->K, g->alpha, g->A, g->lda, g->B, g->ldb, g->beta, g->C,
                         g->ldc);
    return UMUP_OK;
}

/* Fills the BLAS part of a umup_gemm_args (hints zero). */
static umup_gemm_args umup__gemm_args(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                                      const float *B, int ldb, float beta, float *C, int ldc) {
    umup_gemm_args g;
    memset(&g, 0, sizeof g);
    g.trans_a = ta; g.trans_b = tb; g.M = M; g.N = N; g.K = K; g.alpha = alpha; g.beta = beta;
    g.A = A; g.lda = lda; g.B = B; g.ldb = ldb; g.C = C; g.ldc = ldc;
    return g;
}

UMUPDEF umup_status umup_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                               const float *B, int ldb, float beta, float *C, int ldc) {
    umup_gemm_args g = umup__gemm_args(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return umup_gemm(&g);
}

UMUPDEF umup_status umup_sgemm_portable(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                                        int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    umup_gemm_args g = umup__gemm_args(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    umup_status st = umup__gemm_check(&g);
    if (st == UMUP_OK) umup__sgemm_portable(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return st;
}

/* ============================================================================================ */
/* Ops implementation                                                                           */
/* ============================================================================================ */

/* ---- 1. scales and constraints ---------------------------------------------------- >>scales */

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
    case UMUP_CONSTRAINT_TO_GRAD_INPUT_SCALE: /* [GC] to_grad_input_scale(output, grad_input) */
        if (n != 2) return UMUP_ERR_INVALID_ARG;
        v = scales[1];
        break;
    case UMUP_CONSTRAINT_TO_LEFT_GRAD_SCALE: /* [GC] to_left_grad_scale(output, left, right) */
    case UMUP_CONSTRAINT_TO_RIGHT_GRAD_SCALE:
        if (n != 3) return UMUP_ERR_INVALID_ARG;
        v = scales[c == UMUP_CONSTRAINT_TO_LEFT_GRAD_SCALE ? 1 : 2];
        break;
    case UMUP_CONSTRAINT_GMEAN: /* prod(scales)^(1/n) */
        for (i = 0; i < n; i++) v += log((double)scales[i]);
        v = exp(v / n);
        break;
    case UMUP_CONSTRAINT_HMEAN: /* 1 / mean(1/scales) */
        for (i = 0; i < n; i++) v += 1.0 / (double)scales[i];
        v = n / v;
        break;
    case UMUP_CONSTRAINT_AMEAN: /* mean(scales) */
        for (i = 0; i < n; i++) v += (double)scales[i];
        v /= n;
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

/* Constrain the scales t computed by a umup_<op>_scales() and store them in *dst only on success,
   so that an invalid constraint leaves the caller's struct untouched. */
static umup_status umup__constrain_into(umup_op_scales *dst, umup_op_scales t, int ngrad, umup_constraint c) {
    umup_status st = umup__constrain(&t, ngrad, c);
    if (st == UMUP_OK) *dst = t;
    return st;
}

static int umup__mult_ok(float mult) { return mult > 0.0f && mult < 3.4e38f; }

UMUPDEF umup_status umup_scale_fwd_forward(float *y, const float *x, size_t n, float s) {
    size_t i;
    if (n && (!y || !x)) return UMUP_ERR_NULL;
    if (UMUP__TOO_MANY(n, sizeof(float))) return UMUP_ERR_SHAPE;
    for (i = 0; i < n; i++) y[i] = s * x[i];
    return UMUP_OK;
}
UMUPDEF umup_status umup_scale_fwd_backward(float *dx, const float *dy, size_t n) {
    size_t i;
    if (n && (!dx || !dy)) return UMUP_ERR_NULL;
    if (UMUP__TOO_MANY(n, sizeof(float))) return UMUP_ERR_SHAPE;
    for (i = 0; i < n; i++) dx[i] += dy[i];
    return UMUP_OK;
}
UMUPDEF umup_status umup_scale_bwd_forward(float *y, const float *x, size_t n) {
    if (n && (!y || !x)) return UMUP_ERR_NULL;
    if (UMUP__TOO_MANY(n, sizeof(float))) return UMUP_ERR_SHAPE;
    if (y != x && n) memmove(y, x, n * sizeof *y);
    return UMUP_OK;
}
UMUPDEF umup_status umup_scale_bwd_backward(float *dx, const float *dy, size_t n, float s) {
    size_t i;
    if (n && (!dx || !dy)) return UMUP_ERR_NULL;
    if (UMUP__TOO_MANY(n, sizeof(float))) return UMUP_ERR_SHAPE;
    for (i = 0; i < n; i++) dx[i] += s * dy[i];
    return UMUP_OK;
}

/* ---- 2. matmul / linear ------------------------------------------------------------ >>matmul */

/* out = k^-1/2, dA = n^-1/2, dB = m^-1/2, then the constraint over all three */
UMUPDEF umup_status umup_matmul_scales(umup_op_scales *s, int m, int k, int n, umup_constraint c) {
    umup_op_scales t;
    if (!s) return UMUP_ERR_NULL;
    if (m <= 0 || k <= 0 || n <= 0) return UMUP_ERR_SHAPE;
    umup__scales_ones(&t);
    t.out = (float)(1.0 / sqrt((double)k));
    t.grad[0] = (float)(1.0 / sqrt((double)n));
    t.grad[1] = (float)(1.0 / sqrt((double)m));
    return umup__constrain_into(s, t, 2, c);
}

UMUPDEF umup_status umup_matmul_forward(float *C, const float *A, const float *B, int m, int k, int n,
                                        const umup_op_scales *s) {
    if (!C || !A || !B || !s) return UMUP_ERR_NULL;
    if (m <= 0 || k <= 0 || n <= 0) return UMUP_ERR_SHAPE;
    return umup_sgemm(0, 0, m, n, k, s->out, A, k, B, n, 0.0f, C, n); /* C = out A B */
}

UMUPDEF umup_status umup_matmul_backward(float *dA, float *dB, const float *dC, const float *A, const float *B,
                                         int m, int k, int n, const umup_op_scales *s) {
    umup_status st = UMUP_OK;
    if (!dC || !A || !B || !s) return UMUP_ERR_NULL;
    if (m <= 0 || k <= 0 || n <= 0) return UMUP_ERR_SHAPE;
    if (dA) st = umup_sgemm(0, 1, m, k, n, s->grad[0], dC, n, B, n, 1.0f, dA, k);               /* dA += g0 dC B^T */
    if (dB && st == UMUP_OK) st = umup_sgemm(1, 0, k, n, m, s->grad[1], A, k, dC, n, 1.0f, dB, n); /* dB += g1 A^T dC */
    return st;
}

/* The public backward ops accumulate into their gradient outputs (dst += v). The model's backward
   pass calls their private forms with acc = 0, which assign instead (dst = v, dst need not be
   initialised), so that it need not zero each gradient buffer first: the same values, one pass over
   memory fewer. */
#define UMUP__PUT(acc, dst, v) do { if (acc) (dst) += (v); else (dst) = (v); } while (0)

/* linear: out = in^-1/2 (readout: 1/in), dx = out^-1/2, dW = rows^-1/2; the constraint covers (out, dx) */
static umup_status umup__linear_scales(umup_op_scales *s, int rows, int in, int out, umup_constraint c, int readout) {
    umup_op_scales t;
    if (!s) return UMUP_ERR_NULL;
    if (rows <= 0 || in <= 0 || out <= 0) return UMUP_ERR_SHAPE;
    umup__scales_ones(&t);
    t.out = (float)(readout ? 1.0 / (double)in : 1.0 / sqrt((double)in));
    t.grad[0] = (float)(1.0 / sqrt((double)out));
    t.grad_w = (float)(1.0 / sqrt((double)rows));
    return umup__constrain_into(s, t, 1, c);
}

UMUPDEF umup_status umup_linear_scales(umup_op_scales *s, int rows, int in, int out, umup_constraint c) {
    return umup__linear_scales(s, rows, in, out, c, 0);
}

UMUPDEF umup_status umup_linear_readout_scales(umup_op_scales *s, int rows, int in, int out, umup_constraint c) {
    return umup__linear_scales(s, rows, in, out, c, 1);
}

UMUPDEF umup_status umup_linear_forward_ex(float *y, const float *x, const float *W, const float *bias, int rows,
                                           int in, int out, const umup_op_scales *s, const umup_linear_hints *h) {
    umup_gemm_args g;
    umup_status st;
    if (!y || !x || !W || !s) return UMUP_ERR_NULL;
    if (rows <= 0 || in <= 0 || out <= 0) return UMUP_ERR_SHAPE;
    g = umup__gemm_args(0, 1, rows, out, in, s->out, x, in, W, in, 0.0f, y, out); /* y = out x W^T */
    if (h) { g.a_values = h->x_values; g.b_values = h->w_values; g.weight_key = h->weight_key; g.weight_epoch = h->weight_epoch; }
    st = umup_gemm(&g);
    if (st == UMUP_OK && bias) {
        int r, j;
        for (r = 0; r < rows; r++)
            for (j = 0; j < out; j++) y[(size_t)r * (size_t)out + (size_t)j] += bias[j];
    }
    return st;
}

UMUPDEF umup_status umup_linear_forward(float *y, const float *x, const float *W, const float *bias, int rows,
                                        int in, int out, const umup_op_scales *s) {
    return umup_linear_forward_ex(y, x, W, bias, rows, in, out, s, NULL);
}

/* umup_linear_backward_ex; dx_acc = 0 overwrites dx instead of adding to it (GEMM beta 0). */
static umup_status umup__linear_backward(float *dx, float *dW, float *dbias, const float *dy, const float *x,
                                         const float *W, int rows, int in, int out, const umup_op_scales *s,
                                         const umup_linear_hints *h, int dx_acc) {
    umup_status st = UMUP_OK;
    if (!dy || !s || (dW && !x) || (dx && !W)) return UMUP_ERR_NULL;
    if (rows <= 0 || in <= 0 || out <= 0) return UMUP_ERR_SHAPE;
    if (dx) { /* dx (+)= grad[0] dy W */
        umup_gemm_args g = umup__gemm_args(0, 0, rows, in, out, s->grad[0], dy, out, W, in, dx_acc ? 1.0f : 0.0f, dx, in);
        if (h) { g.a_values = h->dy_values; g.b_values = h->w_values; g.weight_key = h->weight_key; g.weight_epoch = h->weight_epoch; }
        st = umup_gemm(&g);
    }
    if (dW && st == UMUP_OK) { /* dW += grad_w dy^T x */
        umup_gemm_args g = umup__gemm_args(1, 0, out, in, rows, s->grad_w, dy, out, x, in, 1.0f, dW, in);
        if (h) { g.a_values = h->dy_values; g.b_values = h->x_values; }
        st = umup_gemm(&g);
    }
    if (dbias && st == UMUP_OK) { /* dbias += grad_w sum_rows dy */
        int r, j;
        for (j = 0; j < out; j++) {
            double acc = 0.0;
            for (r = 0; r < rows; r++) acc += dy[(size_t)r * (size_t)out + (size_t)j];
            dbias[j] += s->grad_w * (float)acc;
        }
    }
    return st;
}

UMUPDEF umup_status umup_linear_backward_ex(float *dx, float *dW, float *dbias, const float *dy, const float *x,
                                            const float *W, int rows, int in, int out, const umup_op_scales *s,
                                            const umup_linear_hints *h) {
    return umup__linear_backward(dx, dW, dbias, dy, x, W, rows, in, out, s, h, 1);
}

UMUPDEF umup_status umup_linear_backward(float *dx, float *dW, float *dbias, const float *dy, const float *x,
                                         const float *W, int rows, int in, int out, const umup_op_scales *s) {
    return umup_linear_backward_ex(dx, dW, dbias, dy, x, W, rows, in, out, s, NULL);
}

/* ---- 3. gelu / silu / silu_glu ------------------------------------------------------- >>act */

#define UMUP__SQRT2 1.41421356237309504880
#define UMUP__PI 3.14159265358979323846

/* out = li(a, 2, sqrt(2/(1-1/pi))), a = 1/(1 + 0.25/mult^2); grad = li(a, 2, sqrt 2) (gelu) or
   li(a', 2, sqrt 2), a' = 1/(1 + 1/mult^2) (silu); then the constraint */
static umup_status umup__act_scales(umup_op_scales *s, float mult, umup_constraint c, int silu) {
    double m2, a, a2;
    umup_op_scales t;
    if (!s) return UMUP_ERR_NULL;
    if (!umup__mult_ok(mult)) return UMUP_ERR_INVALID_ARG;
    m2 = (double)mult * mult;
    a = 1.0 / (1.0 + 0.25 / m2);
    a2 = 1.0 / (1.0 + 1.0 / m2);
    umup__scales_ones(&t);
    t.out = (float)umup_logarithmic_interpolation(a, 2.0, sqrt(2.0 / (1.0 - 1.0 / UMUP__PI)));
    t.grad[0] = (float)umup_logarithmic_interpolation(silu ? a2 : a, 2.0, UMUP__SQRT2);
    return umup__constrain_into(s, t, 1, c);
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
    if (UMUP__TOO_MANY(n, sizeof(float))) return UMUP_ERR_SHAPE;
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

/* exp(x) for x <= 0 in single precision without a library call or a float-to-int conversion, so
 * that loops over it vectorise: n = round(x / ln2) by adding 1.5 * 2^23 (whose float then holds n in
 * its low mantissa bits), r = x - n ln2 (Cody-Waite, ln2 split in two, |r| <= ln2/2), exp(r) by the
 * degree-7 polynomial of Cephes' expf, times 2^n built in the exponent bits. Relative error below
 * 1e-7 on [-87, 0] (tests/test_ops.c sweeps it); x < -87 gives 0 (the true value is below 1.7e-38).
 * Type punning goes through a union (C99; also what GCC, Clang and MSVC do in C++). */
static float umup__expf_neg(float x) {
    float xx = x < -87.0f ? -87.0f : x, n, r, p;
    union { float f; int32_t i; } t, two_n;
    t.f = xx * 1.44269504088896341f + 12582912.0f;
    n = t.f - 12582912.0f;
    r = xx - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    two_n.i = (t.i - 0x4B400000 + 127) * 8388608; /* n in [-126, 0]: a normal power of two */
    return x < -87.0f ? 0.0f : p * two_n.f;
}

/* sigmoid(u) in single precision through umup__expf_neg: stable for every finite u */
static float umup__sigmoidf(float u) {
    float e = umup__expf_neg(u >= 0.0f ? -u : u);
    return u >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

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

/* out = grad[0] = grad[1] = li(a', 2, sqrt 2), a' = 1/(1 + 1/mult^2) */
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
    long i;
    umup_status st = umup__ew_check(y, x, s, n, mult);
    if (st != UMUP_OK) return st;
    if (n && !gate) return UMUP_ERR_NULL;
    {
        const float so = s->out; /* scalars in locals, so that the loop vectorises */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n > 32768)
#endif
        for (i = 0; i < (long)n; i++) y[i] = so * x[i] * gate[i] * umup__sigmoidf(mult * gate[i]);
    }
    return UMUP_OK;
}

/* The two gradients of y = out x g sigmoid(mult g) at one element, from d = dy and sg = sigmoid(mult g). */
static inline float umup__glu_dx(float g0, float d, float g, float sg) { return g0 * d * g * sg; }
static inline float umup__glu_dgate(float g1, float d, float xv, float g, float sg, float mult) {
    return g1 * d * xv * (sg + mult * g * sg * (1.0f - sg));
}

/* umup_silu_glu_backward; acc = 0 assigns dx and dgate (UMUP__PUT). Both wanted (the trainer's
 * case): one pass, each sigmoid computed once; `omp simd` lets GCC 12 vectorise it with its two
 * stores, and the pass takes 0.45 of the time of a loop per gradient (n 4M, 2 threads, Zen 5; the
 * same bits). */
static umup_status umup__silu_glu_backward(float *dx, float *dgate, const float *dy, const float *x, const float *gate,
                                           size_t n, float mult, const umup_op_scales *s, int acc) {
    long i;
    umup_status st = umup__ew_check(dy, x, s, n, mult);
    if (st != UMUP_OK) return st;
    if (n && !gate) return UMUP_ERR_NULL;
    {
        const float g0 = s->grad[0], g1 = s->grad[1]; /* scalars in locals, so that the loops vectorise */
        if (dx && dgate && !acc) { /* (acc inside the loop would keep it scalar) */
#ifdef _OPENMP
#pragma omp parallel for simd schedule(static) if (n > 32768)
#endif
            for (i = 0; i < (long)n; i++) {
                float g = gate[i], sg = umup__sigmoidf(mult * g), d = dy[i];
                dx[i] = umup__glu_dx(g0, d, g, sg);
                dgate[i] = umup__glu_dgate(g1, d, x[i], g, sg, mult);
            }
        } else if (dx && dgate) {
#ifdef _OPENMP
#pragma omp parallel for simd schedule(static) if (n > 32768)
#endif
            for (i = 0; i < (long)n; i++) {
                float g = gate[i], sg = umup__sigmoidf(mult * g), d = dy[i];
                dx[i] += umup__glu_dx(g0, d, g, sg);
                dgate[i] += umup__glu_dgate(g1, d, x[i], g, sg, mult);
            }
        } else if (dx) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n > 32768)
#endif
            for (i = 0; i < (long)n; i++)
                UMUP__PUT(acc, dx[i], umup__glu_dx(g0, dy[i], gate[i], umup__sigmoidf(mult * gate[i])));
        } else if (dgate) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n > 32768)
#endif
            for (i = 0; i < (long)n; i++) {
                float g = gate[i];
                UMUP__PUT(acc, dgate[i], umup__glu_dgate(g1, dy[i], x[i], g, umup__sigmoidf(mult * g), mult));
            }
        }
    }
    return UMUP_OK;
}

UMUPDEF umup_status umup_silu_glu_backward(float *dx, float *dgate, const float *dy, const float *x,
                                           const float *gate, size_t n, float mult, const umup_op_scales *s) {
    return umup__silu_glu_backward(dx, dgate, dy, x, gate, n, mult, s, 1);
}

/* ---- 4. softmax / attention ----------------------------------------------------- >>attention */

/* out = li(a, n, sqrt n), grad = li(a, n/mult, sqrt(n/mult)), a = 1/(1 + 4/mult^2); then the constraint */
UMUPDEF umup_status umup_softmax_scales(umup_op_scales *s, int n, float mult, umup_constraint c) {
    double a, nn = (double)n;
    umup_op_scales t;
    if (!s) return UMUP_ERR_NULL;
    if (n <= 0) return UMUP_ERR_SHAPE;
    if (!umup__mult_ok(mult)) return UMUP_ERR_INVALID_ARG;
    a = 1.0 / (1.0 + 4.0 / ((double)mult * mult));
    umup__scales_ones(&t);
    t.out = (float)umup_logarithmic_interpolation(a, nn, sqrt(nn));
    t.grad[0] = (float)umup_logarithmic_interpolation(a, nn / mult, sqrt(nn / mult));
    return umup__constrain_into(s, t, 1, c);
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
    if (rows <= 0 || n <= 0 || !umup__buf_ok(sizeof(float), (size_t)rows, (size_t)n, 1)) return UMUP_ERR_SHAPE;
    if (!umup__mult_ok(mult)) return UMUP_ERR_INVALID_ARG;
    p = (double *)UMUP_MALLOC((size_t)n * sizeof(double));
    if (!p) return UMUP_ERR_NOMEM;
    for (r = 0; r < rows; r++) {
        umup__softmax_row(p, x + (size_t)r * (size_t)n, n, n, mult);
        for (j = 0; j < n; j++) y[(size_t)r * (size_t)n + (size_t)j] = (float)(s->out * p[j]);
    }
    UMUP_FREE(p);
    return UMUP_OK;
}

UMUPDEF umup_status umup_softmax_backward(float *dx, const float *dy, const float *x, int rows, int n, float mult,
                                          const umup_op_scales *s) {
    double *p;
    int r, j;
    if (!dx || !dy || !x || !s) return UMUP_ERR_NULL;
    if (rows <= 0 || n <= 0 || !umup__buf_ok(sizeof(float), (size_t)rows, (size_t)n, 1)) return UMUP_ERR_SHAPE;
    if (!umup__mult_ok(mult)) return UMUP_ERR_INVALID_ARG;
    p = (double *)UMUP_MALLOC((size_t)n * sizeof(double));
    if (!p) return UMUP_ERR_NOMEM;
    for (r = 0; r < rows; r++) {
        const float *g = dy + (size_t)r * (size_t)n;
        double dot = 0.0;
        umup__softmax_row(p, x + (size_t)r * (size_t)n, n, n, mult);
        for (j = 0; j < n; j++) dot += g[j] * p[j];
        for (j = 0; j < n; j++) dx[(size_t)r * (size_t)n + (size_t)j] += (float)(s->grad[0] * mult * p[j] * (g[j] - dot));
    }
    UMUP_FREE(p);
    return UMUP_OK;
}

/* out = grad[0..2] = 1 / li(a, sqrt((causal ? ln S : 1) / S), 1), a = 1/(1 + 4 D / mult^2) */
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

/* with_att: the call has an att [B H S S] tensor (umup_sdpa_*; the flash ops have lse [B H S]). */
static umup_status umup__sdpa_check(const void *a, const void *b, const void *c, const void *d, const void *e,
                                    const void *f, int B, int H, int S, int D, float ls, int with_att) {
    if (!a || !b || !c || !d || !e || !f) return UMUP_ERR_NULL;
    if (B <= 0 || H <= 0 || S <= 0 || D <= 0) return UMUP_ERR_SHAPE;
    /* B H (batch, head) pairs counted in an int; q, k, v, out [B H S D] and att [B H S S] */
    if (B > INT_MAX / H || !umup__buf_ok(sizeof(float), (size_t)B * (size_t)H, (size_t)S, (size_t)D) ||
        (with_att && !umup__buf_ok(sizeof(float), (size_t)B * (size_t)H, (size_t)S, (size_t)S)))
        return UMUP_ERR_SHAPE;
    if (!(ls > 0.0f) || !(ls < 3.4e38f)) return UMUP_ERR_INVALID_ARG;
    return UMUP_OK;
}

UMUPDEF umup_status umup_sdpa_forward(float *out, float *att, const float *q, const float *k, const float *v,
                                      int B, int H, int S, int D, int causal, float logit_scale,
                                      const umup_op_scales *s) {
    int bh;
    umup_status st = umup__sdpa_check(out, att, q, k, v, s, B, H, S, D, logit_scale, 1);
    if (st != UMUP_OK) return st;
    /* one (batch, head) per thread; the GEMMs inside then run single-threaded (no nested teams) */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (B * H > 1)
#endif
    for (bh = 0; bh < B * H; bh++) {
        const float *qh = q + (size_t)bh * (size_t)S * (size_t)D, *kh = k + (size_t)bh * (size_t)S * (size_t)D, *vh = v + (size_t)bh * (size_t)S * (size_t)D;
        float *ah = att + (size_t)bh * (size_t)S * (size_t)S, *oh = out + (size_t)bh * (size_t)S * (size_t)D;
        int i, j;
        umup__sgemm_portable(0, 1, S, S, D, logit_scale, qh, D, kh, D, 0.0f, ah, S); /* logits */
        for (i = 0; i < S; i++) {
            float *row = ah + (size_t)i * (size_t)S;
            int valid = causal ? i + 1 : S;
            float mx = row[0];
            double sum = 0.0;
            for (j = 1; j < valid; j++) if (row[j] > mx) mx = row[j];
            for (j = 0; j < valid; j++) { row[j] = (float)exp((double)row[j] - mx); sum += row[j]; }
            for (j = 0; j < valid; j++) row[j] = (float)(row[j] / sum);
            for (j = valid; j < S; j++) row[j] = 0.0f;
        }
        umup__sgemm_portable(0, 0, S, D, S, s->out, ah, S, vh, D, 0.0f, oh, D);
    }
    return UMUP_OK;
}

UMUPDEF umup_status umup_sdpa_backward(float *dq, float *dk, float *dv, const float *dout, const float *att,
                                       const float *q, const float *k, const float *v, int B, int H, int S,
                                       int D, float logit_scale, const umup_op_scales *s) {
    int bh, nt;
    float *ds_all;
    umup_status st = umup__sdpa_check(dq, dk, dv, dout, att, s, B, H, S, D, logit_scale, 1);
    if (st != UMUP_OK) return st;
    if (!q || !k || !v) return UMUP_ERR_NULL;
    nt = 1;
#ifdef _OPENMP
    nt = omp_get_max_threads();
    if (nt < 1) nt = 1;
#endif
    ds_all = (float *)UMUP_MALLOC((size_t)nt * (size_t)S * (size_t)S * sizeof(float)); /* an S x S scratch per thread */
    if (!ds_all) return UMUP_ERR_NOMEM;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nt) if (B * H > 1 && nt > 1)
#endif
    for (bh = 0; bh < B * H; bh++) {
        size_t o = (size_t)bh * (size_t)S * (size_t)D;
        const float *ah = att + (size_t)bh * (size_t)S * (size_t)S, *go = dout + o;
        int i, j, tid = 0;
        float *ds;
#ifdef _OPENMP
        tid = omp_get_thread_num(); /* < nt: the team has at most nt threads */
#endif
        ds = ds_all + (size_t)tid * (size_t)S * (size_t)S;
        /* dv += grad[2] * att^T dout */
        umup__sgemm_portable(1, 0, S, D, S, s->grad[2], ah, S, go, D, 1.0f, dv + o, D);
        /* dP = dout v^T; dS = P (dP - rowsum(P dP)) */
        umup__sgemm_portable(0, 1, S, S, D, 1.0f, go, D, v + o, D, 0.0f, ds, S);
        for (i = 0; i < S; i++) {
            float *row = ds + (size_t)i * (size_t)S;
            const float *p = ah + (size_t)i * (size_t)S;
            double dot = 0.0;
            for (j = 0; j < S; j++) dot += (double)p[j] * row[j];
            for (j = 0; j < S; j++) row[j] = (float)(p[j] * (row[j] - dot));
        }
        /* dq += grad[0] * ls * dS k; dk += grad[1] * ls * dS^T q */
        umup__sgemm_portable(0, 0, S, D, S, s->grad[0] * logit_scale, ds, S, k + o, D, 1.0f, dq + o, D);
        umup__sgemm_portable(1, 0, S, D, S, s->grad[1] * logit_scale, ds, S, q + o, D, 1.0f, dk + o, D);
    }
    UMUP_FREE(ds_all);
    return UMUP_OK;
}

/* ---- blocked (flash) attention ------------------------------------------------------------------ */
/* Shapes in the comments: br <= BR query rows, bc <= BC keys of one block; D head size; S padded
 * to Sp (a multiple of BR and BC). "A-layout": the micro-kernel's packed left operand (MR-row
 * panels); "B-layout": its packed right operand (NR-column panels); see >>gemm-kernel. */

/* C[M,N] = alpha A B + beta C from panels: A panel ir at a + ir a_stride, its depth steps as apart
 * (MR: packed; a row stride: read in place, see umup__micro_fn), B panel jr at b + jr b_stride,
 * depth kc; with mode 0 the whole product. Modes 1-3 compute only the causal part of
 * an attention block: rows, columns and depth index queries or keys, and off = i0 - j0 is the first
 * query's position relative to the first key's (key j of the block is seen by query i iff
 * j <= i + off). beta must be 1 for modes 2 and 3 (a skipped tile keeps C):
 *   1  rows queries, columns keys (the logits): a register tile whose keys are all past its last
 *      query is not computed (the caller never reads those entries);
 *   2  rows queries, depth keys (p v, dS k): each row panel stops its depth after its last query's
 *      last key;
 *   3  rows keys, depth queries (p^T dout, dS^T q): each row panel starts its depth at its first key;
 *   4  rows keys, columns queries (the forward pass's transposed logits): a register tile whose
 *      keys are all past its last query is not computed (the caller never reads those entries).
 * The terms left out are products with an exact zero (masked probabilities), and a sum that starts
 * at +0 is unchanged by them (it can never be -0), so the result is bitwise the full product's when
 * the other operand is finite. */
static void umup__gemm_packed(const umup__gemm_kdesc *kd, int mode, int off, int M, int N, int kc, float alpha,
                              const float *a, size_t a_stride, size_t as, const float *b, size_t b_stride, float beta,
                              float *C, int ldc) {
    int ir, jr, MR = kd->mr, NR = kd->nr;
    for (jr = 0; jr < N; jr += NR)
        for (ir = 0; ir < M; ir += MR) {
            int mr = M - ir < MR ? M - ir : MR, nr = N - jr < NR ? N - jr : NR, p0 = 0, p1 = kc;
            int last = ir + mr - 1 + off; /* the last query of a query-row panel, relative to the block's keys */
            if (mode == 1 && jr > last) continue;
            if (mode == 4 && ir > jr + nr - 1 + off) continue;
            if (mode == 2) p1 = last + 1 < kc ? last + 1 : kc;
            if (mode == 3) p0 = ir - off > 0 ? ir - off : 0;
            if (p1 <= p0) continue;
            kd->micro(p1 - p0, a + (size_t)(ir / MR) * a_stride + (size_t)p0 * as, as,
                      b + (size_t)(jr / NR) * b_stride + (size_t)p0 * (size_t)NR, alpha, beta,
                      C + (size_t)ir * (size_t)ldc + (size_t)jr, ldc, mr, nr);
        }
}

static size_t umup__rup(size_t x, size_t m) { return (x + m - 1) / m * m; }

/* Block sizes and per-thread scratch (floats, each piece 64-byte aligned) for one kernel. */
typedef struct {
    int br, bc;       /* backward: query rows (a multiple of MR), keys (of MR and NR) per block */
    int fr, fc;       /* forward: queries per block (a multiple of MR and NR), keys per block (of MR) */
    size_t Sp;        /* S rounded up to a multiple of br and bc (so of MR and NR) */
    size_t n_qa, n_qb, n_kb, n_tile, n_pa, n_acc, n_st, per_thread;
} umup__flash_dims;

/* Returns 0 when the scratch size would not fit in size_t. */
static int umup__flash_dims_init(umup__flash_dims *f, const umup__gemm_kdesc *kd, int S, int D) {
    size_t Sp, lcm, t, tf;
    if ((double)S * ((double)D + 256.0) * 16.0 + 65536.0 > (double)((size_t)-1) / 8.0) return 0;
    f->br = 48; /* a multiple of every kernel's MR (6, 12) */
    f->bc = 96; /* a multiple of every kernel's MR and NR (16, 32): the key panels of p^T and dS^T are whole */
    lcm = (size_t)f->br;
    while (lcm % (size_t)f->bc) lcm += (size_t)f->br;
    Sp = umup__rup((size_t)S, lcm);
    f->Sp = Sp;
    f->n_qa = umup__rup(Sp * (size_t)D, 16);                                   /* A-layout of [Sp, D] */
    f->n_qb = umup__rup(umup__rup((size_t)D, (size_t)kd->nr) * Sp, 16);        /* B-layout of [Sp, D] */
    f->n_kb = umup__rup(Sp * (size_t)D, 16);                                   /* B-layout of [D, Sp] */
    f->n_tile = umup__rup((size_t)f->br * (size_t)f->bc, 16);                  /* [br, bc] row-major */
    f->n_pa = umup__rup(umup__rup((size_t)f->bc, (size_t)kd->mr) * (size_t)f->br, 16); /* A-layout, br x bc either way */
    if (f->n_pa < umup__rup(umup__rup((size_t)f->br, (size_t)kd->mr) * (size_t)f->bc, 16))
        f->n_pa = umup__rup(umup__rup((size_t)f->br, (size_t)kd->mr) * (size_t)f->bc, 16);
    f->n_acc = umup__rup(2 * (size_t)f->bc * (size_t)D, 16);                   /* dk_j, dv_j [bc, D] */
    f->fr = 96; /* a multiple of every kernel's MR (6, 12) and NR (16, 32) */
    f->fc = (64 + kd->mr - 1) / kd->mr * kd->mr;
    f->n_st = umup__rup((size_t)f->fc * (size_t)f->fr, 16);                    /* [fc, fr] row-major */
    /* backward: qa doa qb dob kb vt kn 2 tiles 3 pa acc delta */
    t = 2 * f->n_qa + 2 * f->n_qb + 2 * f->n_kb + f->n_qb + 2 * f->n_tile + 3 * f->n_pa + f->n_acc + umup__rup(3 * Sp, 16);
    /* forward: ka qb vb pt acc and four statistics [fr] */
    tf = f->n_qa + f->n_kb + f->n_qb + f->n_st + umup__rup((size_t)f->fr * (size_t)D, 16) + 4 * (size_t)f->fr;
    f->per_thread = t > tf ? t : tf;
    return 1;
}

/* Allocates nt x per_thread floats, 64-byte aligned; *raw is what to free. */
static float *umup__flash_scratch(const umup__flash_dims *f, int nt, void **raw) {
    size_t n;
    char *r;
    if (!umup__size_mul(&n, f->per_thread, (size_t)nt) || !umup__size_mul(&n, n, sizeof(float)) ||
        !umup__size_add(&n, n, 64))
        return NULL;
    r = (char *)UMUP_MALLOC(n);
    *raw = r;
    if (!r) return NULL;
    return (float *)(void *)(r + ((64 - ((uintptr_t)r & 63)) & 63));
}

/* Block sizes, thread count (min(OpenMP threads, B H), 1 inside a parallel region) and scratch of
 * one flash call; NULL when the scratch cannot be allocated. */
static float *umup__flash_setup(umup__flash_dims *f, const umup__gemm_kdesc *kd, int S, int D, int BH, int *nt,
                                void **raw) {
    *nt = 1;
#ifdef _OPENMP
    if (!omp_in_parallel() && omp_get_max_threads() > 1) *nt = omp_get_max_threads();
#endif
    if (*nt > BH) *nt = BH;
    return umup__flash_dims_init(f, kd, S, D) ? umup__flash_scratch(f, *nt, raw) : NULL;
}

/* Where head (b, h) of an attention tensor lies: row t of it starts at b lb + h lh + t lr floats.
 * [B, H, S, D] contiguous: {H S D, S D, D}; heads side by side in rows of width w ([B, S, w] with
 * head h at columns h D .. h D + D - 1, as the model's qkv [N, 3d] and a [N, d]): {S w, D, w}. */
typedef struct {
    size_t lb, lh, lr;
} umup__heads_layout;

static umup__heads_layout umup__heads_bhsd(int H, int S, int D) {
    umup__heads_layout l;
    l.lr = (size_t)D;
    l.lh = (size_t)S * (size_t)D;
    l.lb = (size_t)H * l.lh;
    return l;
}

/* umup_sdpa_flash_forward with out in layout lo and q, k, v in layout li (row strides fit an int:
 * the caller's buffers are in bounds, checked as [B, H, S, D] counts). */
static umup_status umup__sdpa_flash_fwd(float *out, umup__heads_layout lo, float *lse, const float *q, const float *k,
                                        const float *v, umup__heads_layout li, int B, int H, int S, int D, int causal,
                                        float logit_scale, const umup_op_scales *s) {
    const umup__gemm_kdesc *kd = umup__gemm_kd();
    umup__flash_dims f;
    int nt = 1, bh;
    void *raw = NULL;
    float *scratch;
    umup_status st = umup__sdpa_check(out, lse, q, k, v, s, B, H, S, D, logit_scale, 0);
    if (st != UMUP_OK) return st;
    scratch = umup__flash_setup(&f, kd, S, D, B * H, &nt, &raw);
    if (!scratch) return UMUP_ERR_NOMEM;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
#endif
    for (bh = 0; bh < B * H; bh++) {
        size_t oi = (size_t)(bh / H) * li.lb + (size_t)(bh % H) * li.lh;
        const float *qh = q + oi, *kh = k + oi, *vh = v + oi;
        float *oh = out + (size_t)(bh / H) * lo.lb + (size_t)(bh % H) * lo.lh, *lh = lse + (size_t)bh * (size_t)S;
        int tid = 0, i0, j0, i, j, br, bc, MR = kd->mr, NR = kd->nr, ldi = (int)li.lr, fr = f.fr;
        float *w, *ka, *qb, *vb, *pt, *acc, *mx, *sum, *bm, *ps;
        const float *vbp = vh; /* v as B panels over D: v itself when its rows are one panel wide */
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        w = scratch + (size_t)tid * f.per_thread;
        ka = w;  w += f.n_qa;   /* k as A panels over keys, depth D */
        qb = w;  w += f.n_kb;   /* q^T as B panels over queries, depth D */
        vb = w;  w += f.n_qb;   /* v [S, D] as B panels over D, depth S */
        pt = w;  w += f.n_st;   /* logits, then probabilities, transposed: [bc keys, fr queries] */
        acc = w; w += umup__rup((size_t)fr * (size_t)D, 16); /* unnormalised output rows [br, D] */
        mx = w; sum = mx + fr; bm = sum + fr; ps = bm + fr; /* per query: running max and sum, the block's [br] */
        umup__sgemm_packA(0, kh, ldi, 0, S, 0, D, MR, ka);
        umup__sgemm_packB(1, qh, ldi, 0, D, 0, S, NR, qb);
        if (D != NR || ldi != D) {
            umup__sgemm_packB(0, vh, ldi, 0, S, 0, D, NR, vb);
            vbp = vb;
        }
        for (i0 = 0; i0 < S; i0 += fr) {
            int jend = causal ? (i0 + fr < S ? i0 + fr : S) : S;
            br = S - i0 < fr ? S - i0 : fr;
            for (i = 0; i < br; i++) { mx[i] = -HUGE_VALF; sum[i] = 0.0f; }
            memset(acc, 0, sizeof(float) * (size_t)br * (size_t)D);
            for (j0 = 0; j0 < jend; j0 += f.fc) {
                const int off = i0 - j0; /* key j of the block is seen by query i iff j <= i + off */
                bc = jend - j0 < f.fc ? jend - j0 : f.fc;
                /* pt [bc, br] = logit_scale k_j q_i^T: keys in rows, so that the softmax statistics
                 * of a query run down a column, over whole vectors of queries */
                umup__gemm_packed(kd, causal ? 4 : 0, off, bc, br, D, logit_scale, ka + (size_t)j0 * (size_t)D,
                                  (size_t)MR * (size_t)D, (size_t)MR, qb + (size_t)i0 * (size_t)D, (size_t)NR * (size_t)D,
                                  0.0f, pt, fr);
                /* online softmax: the block's max per query, the new running max, exponentiate (masked
                 * entries: 0), rescale what was summed before */
                for (i = 0; i < br; i++) { bm[i] = mx[i]; ps[i] = 0.0f; }
                for (j = 0; j < bc; j++) {
                    const float *t = pt + (size_t)j * (size_t)fr;
                    for (i = causal && j - off > 0 ? j - off : 0; i < br; i++) bm[i] = t[i] > bm[i] ? t[i] : bm[i];
                }
                for (j = 0; j < bc; j++) {
                    float *t = pt + (size_t)j * (size_t)fr;
                    int i1 = causal && j - off > 0 ? (j - off < br ? j - off : br) : 0;
                    for (i = 0; i < i1; i++) t[i] = 0.0f;
                    for (i = i1; i < br; i++) {
                        t[i] = umup__expf_neg(t[i] - bm[i]);
                        ps[i] += t[i];
                    }
                    for (i = br; i < (br + MR - 1) / MR * MR; i++) t[i] = 0.0f; /* read by the last, partial panel */
                }
                for (i = 0; i < br; i++) {
                    float c = umup__expf_neg(mx[i] - bm[i]); /* 0 on the first block (mx = -inf; key 0 is in it) */
                    if (c != 1.0f) {
                        float *a = acc + (size_t)i * (size_t)D;
                        for (j = 0; j < D; j++) a[j] *= c;
                    }
                    sum[i] = sum[i] * c + ps[i];
                    mx[i] = bm[i];
                }
                /* acc [br, D] += p [br, bc] v_j [bc, D]; p's query panels read in place down pt's columns */
                umup__gemm_packed(kd, causal ? 2 : 0, off, br, D, bc, 1.0f, pt, (size_t)MR, (size_t)fr,
                                  vbp + (size_t)j0 * (size_t)NR, (size_t)NR * (size_t)S, 1.0f, acc, D);
            }
            for (i = 0; i < br; i++) {
                float r = s->out / sum[i], *a = acc + (size_t)i * (size_t)D, *y = oh + (size_t)(i0 + i) * lo.lr;
                for (j = 0; j < D; j++) y[j] = r * a[j];
                lh[i0 + i] = mx[i] + logf(sum[i]);
            }
        }
    }
    UMUP_FREE(raw);
    return UMUP_OK;
}

UMUPDEF umup_status umup_sdpa_flash_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                                            int B, int H, int S, int D, int causal, float logit_scale,
                                            const umup_op_scales *s) {
    umup__heads_layout l = umup__heads_bhsd(H, S, D);
    return umup__sdpa_flash_fwd(out, l, lse, q, k, v, l, B, H, S, D, causal, logit_scale, s);
}

/* umup_sdpa_flash_backward with out and dout in layout lo, q, k, v in li and dq, dk, dv in lg;
 * acc = 0 assigns dq, dk and dv instead of adding to them. */
static umup_status umup__sdpa_flash_backward(float *dq, float *dk, float *dv, umup__heads_layout lg, const float *dout,
                                             const float *out, umup__heads_layout lo, const float *lse, const float *q,
                                             const float *k, const float *v, umup__heads_layout li, int B, int H,
                                             int S, int D, int causal, float logit_scale, const umup_op_scales *s,
                                             int acc) {
    const umup__gemm_kdesc *kd = umup__gemm_kd();
    umup__flash_dims f;
    int nt = 1, bh;
    void *raw = NULL;
    float *scratch;
    umup_status st = umup__sdpa_check(dq, dk, dv, dout, out, s, B, H, S, D, logit_scale, 0);
    if (st != UMUP_OK) return st;
    if (!lse || !q || !k || !v) return UMUP_ERR_NULL;
    if (!(s->out != 0.0f) || !(fabsf(s->out) < 3.4e38f)) return UMUP_ERR_INVALID_ARG;
    scratch = umup__flash_setup(&f, kd, S, D, B * H, &nt, &raw);
    if (!scratch) return UMUP_ERR_NOMEM;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
#endif
    for (bh = 0; bh < B * H; bh++) {
        size_t oi = (size_t)(bh / H) * li.lb + (size_t)(bh % H) * li.lh;
        size_t oo = (size_t)(bh / H) * lo.lb + (size_t)(bh % H) * lo.lh;
        size_t og = (size_t)(bh / H) * lg.lb + (size_t)(bh % H) * lg.lh;
        const float *qh = q + oi, *kh = k + oi, *vh = v + oi, *go = dout + oo, *yo = out + oo, *lh = lse + (size_t)bh * (size_t)S;
        float *dqh = dq + og, *dkh = dk + og, *dvh = dv + og;
        int tid = 0, i0, j0, i, j, br, bc, MR = kd->mr, NR = kd->nr, ldi = (int)li.lr, ldo = (int)lo.lr, ldg = (int)lg.lr;
        float *w, *qa, *doa, *qb, *dob, *kb, *vt, *kn, *pt, *dst, *pta, *dsa, *dsta, *dka, *dva, *delta;
        const float *qbp = qh, *dobp = go, *knp = kh; /* B panels over D: the arrays themselves when their rows are one panel wide */
        const float inv_out = 1.0f / s->out;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        w = scratch + (size_t)tid * f.per_thread;
        qa = w;   w += f.n_qa;  /* q, dout as A panels, depth D */
        doa = w;  w += f.n_qa;
        qb = w;   w += f.n_qb;  /* q, dout [S, D] as B panels over D, depth S */
        dob = w;  w += f.n_qb;
        kb = w;   w += f.n_kb;  /* k^T, v^T as B panels over keys, depth D */
        vt = w;   w += f.n_kb;
        kn = w;   w += f.n_qb;  /* k [S, D] as B panels over D, depth S */
        pt = w;   w += f.n_tile; /* probabilities [br, bc] */
        dst = w;  w += f.n_tile; /* dP, then dS [br, bc] */
        pta = w;  w += f.n_pa;  /* p^T, dS, dS^T as A panels */
        dsa = w;  w += f.n_pa;
        dsta = w; w += f.n_pa;
        dka = w;  dva = w + (size_t)f.bc * (size_t)D; w += f.n_acc; /* dk_j, dv_j accumulators [bc, D] */
        delta = w;              /* [S] */
        if (!acc) /* dq sums over key blocks */
            for (i = 0; i < S; i++) memset(dqh + (size_t)i * (size_t)ldg, 0, sizeof(float) * (size_t)D);
        umup__sgemm_packA(0, qh, ldi, 0, S, 0, D, MR, qa);
        umup__sgemm_packA(0, go, ldo, 0, S, 0, D, MR, doa);
        if (D != NR || ldi != D) {
            umup__sgemm_packB(0, qh, ldi, 0, S, 0, D, NR, qb);
            umup__sgemm_packB(0, kh, ldi, 0, S, 0, D, NR, kn);
            qbp = qb; knp = kn;
        }
        if (D != NR || ldo != D) {
            umup__sgemm_packB(0, go, ldo, 0, S, 0, D, NR, dob);
            dobp = dob;
        }
        umup__sgemm_packB(1, kh, ldi, 0, D, 0, S, NR, kb);
        umup__sgemm_packB(1, vh, ldi, 0, D, 0, S, NR, vt);
        for (i = 0; i < S; i++) { /* delta_i = <dout_i, p_i v> = <dout_i, out_i> / s.out */
            double dot = 0.0;
            const float *gr = go + (size_t)i * (size_t)ldo, *yr = yo + (size_t)i * (size_t)ldo;
            for (j = 0; j < D; j++) dot += (double)gr[j] * (double)yr[j];
            delta[i] = (float)dot * inv_out;
        }
        for (j0 = 0; j0 < S; j0 += f.bc) {
            int kfull;
            bc = S - j0 < f.bc ? S - j0 : f.bc;
            kfull = bc / MR * MR; /* keys in whole MR panels */
            memset(dka, 0, sizeof(float) * (size_t)f.bc * (size_t)D * 2);
            for (i0 = causal ? j0 / f.br * f.br : 0; i0 < S; i0 += f.br) {
                br = S - i0 < f.br ? S - i0 : f.br;
                /* pt = logit_scale q_i k_j^T, dst = dout_i v_j^T  [br, bc] */
                umup__gemm_packed(kd, causal ? 1 : 0, i0 - j0, br, bc, D, logit_scale, qa + (size_t)i0 * (size_t)D,
                                  (size_t)MR * (size_t)D, (size_t)MR, kb + (size_t)j0 * (size_t)D, (size_t)NR * (size_t)D,
                                  0.0f, pt, f.bc);
                umup__gemm_packed(kd, causal ? 1 : 0, i0 - j0, br, bc, D, 1.0f, doa + (size_t)i0 * (size_t)D,
                                  (size_t)MR * (size_t)D, (size_t)MR, vt + (size_t)j0 * (size_t)D, (size_t)NR * (size_t)D,
                                  0.0f, dst, f.bc);
                for (i = 0; i < br; i++) { /* p = exp(logit - lse), dS = p (dP - delta) */
                    float *p = pt + (size_t)i * (size_t)f.bc, *g = dst + (size_t)i * (size_t)f.bc, l = lh[i0 + i], dl = delta[i0 + i];
                    int valid = causal ? (i0 + i - j0 + 1 < bc ? i0 + i - j0 + 1 : bc) : bc;
                    if (valid < 0) valid = 0;
                    for (j = 0; j < valid; j++) {
                        p[j] = umup__expf_neg(p[j] - l);
                        g[j] = p[j] * (g[j] - dl);
                    }
                    for (; j < bc; j++) p[j] = g[j] = 0.0f;
                }
                /* dv_j += p^T dout_i; dk_j += dS^T q_i; dq_i += grad0 ls dS k_j */
                /* p^T and dS^T: their whole key panels read in place from pt and dst (rows f.bc apart),
                 * the last, partial one packed */
                if (kfull < bc) {
                    umup__sgemm_packA(1, pt, f.bc, kfull, bc - kfull, 0, br, MR, pta);
                    umup__sgemm_packA(1, dst, f.bc, kfull, bc - kfull, 0, br, MR, dsta);
                }
                umup__gemm_packed(kd, causal ? 3 : 0, i0 - j0, kfull, D, br, 1.0f, pt, (size_t)MR, (size_t)f.bc,
                                  dobp + (size_t)i0 * (size_t)NR, (size_t)NR * (size_t)S, 1.0f, dva, D);
                umup__gemm_packed(kd, causal ? 3 : 0, i0 - j0 - kfull, bc - kfull, D, br, 1.0f, pta, (size_t)MR * (size_t)br,
                                  (size_t)MR, dobp + (size_t)i0 * (size_t)NR, (size_t)NR * (size_t)S, 1.0f,
                                  dva + (size_t)kfull * (size_t)D, D);
                umup__gemm_packed(kd, causal ? 3 : 0, i0 - j0, kfull, D, br, 1.0f, dst, (size_t)MR, (size_t)f.bc,
                                  qbp + (size_t)i0 * (size_t)NR, (size_t)NR * (size_t)S, 1.0f, dka, D);
                umup__gemm_packed(kd, causal ? 3 : 0, i0 - j0 - kfull, bc - kfull, D, br, 1.0f, dsta, (size_t)MR * (size_t)br,
                                  (size_t)MR, qbp + (size_t)i0 * (size_t)NR, (size_t)NR * (size_t)S, 1.0f,
                                  dka + (size_t)kfull * (size_t)D, D);
                umup__sgemm_packA(0, dst, f.bc, 0, br, 0, bc, MR, dsa);
                umup__gemm_packed(kd, causal ? 2 : 0, i0 - j0, br, D, bc, s->grad[0] * logit_scale, dsa,
                                  (size_t)MR * (size_t)bc, (size_t)MR, knp + (size_t)j0 * (size_t)NR, (size_t)NR * (size_t)S,
                                  1.0f, dqh + (size_t)i0 * (size_t)ldg, ldg);
            }
            {
                const float gk = s->grad[1] * logit_scale, gv = s->grad[2];
                for (i = 0; i < bc; i++) {
                    float *yk = dkh + (size_t)(j0 + i) * (size_t)ldg, *yv = dvh + (size_t)(j0 + i) * (size_t)ldg;
                    const float *ak = dka + (size_t)i * (size_t)D, *av = dva + (size_t)i * (size_t)D;
                    for (j = 0; j < D; j++) { UMUP__PUT(acc, yk[j], gk * ak[j]); UMUP__PUT(acc, yv[j], gv * av[j]); }
                }
            }
        }
    }
    UMUP_FREE(raw);
    return UMUP_OK;
}

UMUPDEF umup_status umup_sdpa_flash_backward(float *dq, float *dk, float *dv, const float *dout, const float *out,
                                             const float *lse, const float *q, const float *k, const float *v, int B,
                                             int H, int S, int D, int causal, float logit_scale,
                                             const umup_op_scales *s) {
    umup__heads_layout l = umup__heads_bhsd(H, S, D);
    return umup__sdpa_flash_backward(dq, dk, dv, l, dout, out, l, lse, q, k, v, l, B, H, S, D, causal, logit_scale, s, 1);
}

/* ---- 5. norms ---------------------------------------------------------------------- >>residual */

static umup_status umup__norm_check(const void *a, const void *b, int rows, int d) {
    if (!a || !b) return UMUP_ERR_NULL;
    if (rows <= 0 || d <= 0 || !umup__buf_ok(sizeof(float), (size_t)rows, (size_t)d, 1)) return UMUP_ERR_SHAPE;
    return UMUP_OK;
}

/* The norms' row sums run in double over 8 lanes (element j into lane j mod 8), combined in one fixed
 * order: the loops vectorise without reassociating anything (one serial chain of double additions
 * per sum was a quarter of the speed), and a row's result does not depend on the thread count. */
static double umup__lanes_sum(const double *a) { return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])); }

/* mean and 1/sqrt(var + eps) of a row; rms == 1: mean is 0 and var is mean(x^2) */
static void umup__row_stats(const float *x, int d, int rms, double *mean, double *rstd) {
    double a[8], m = 0.0;
    int j, l;
    if (!rms) {
        for (l = 0; l < 8; l++) a[l] = 0.0;
        for (j = 0; j + 8 <= d; j += 8)
            for (l = 0; l < 8; l++) a[l] += x[j + l];
        for (l = 0; j < d; j++, l++) a[l] += x[j];
        m = umup__lanes_sum(a) / d;
    }
    for (l = 0; l < 8; l++) a[l] = 0.0;
    for (j = 0; j + 8 <= d; j += 8)
        for (l = 0; l < 8; l++) a[l] += (x[j + l] - m) * (x[j + l] - m);
    for (l = 0; j < d; j++, l++) a[l] += (x[j] - m) * (x[j] - m);
    *mean = m;
    *rstd = 1.0 / sqrt(umup__lanes_sum(a) / d + (double)UMUP_NORM_EPS);
}

static umup_status umup__norm_forward(float *y, const float *x, int rows, int d, int rms) {
    int r, j;
    umup_status st = umup__norm_check(y, x, rows, d);
    if (st != UMUP_OK) return st;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((double)rows * d > 32768.0)
#endif
    for (r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * (size_t)d;
        float *yr = y + (size_t)r * (size_t)d;
        double m, rs;
        umup__row_stats(xr, d, rms, &m, &rs);
        for (j = 0; j < d; j++) yr[j] = (float)((xr[j] - m) * rs);
    }
    return UMUP_OK;
}

/* dx (+)= rstd (dy - mean(dy) [layer norm only] - xhat mean(dy xhat)); acc = 0 assigns */
static umup_status umup__norm_backward(float *dx, const float *dy, const float *x, int rows, int d, int rms, int acc) {
    int r, j;
    umup_status st = umup__norm_check(dx, dy, rows, d);
    if (st != UMUP_OK) return st;
    if (!x) return UMUP_ERR_NULL;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((double)rows * d > 32768.0)
#endif
    for (r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * (size_t)d, *gr = dy + (size_t)r * (size_t)d;
        double m, rs, mg, mgx, ag[8], agx[8];
        int l;
        umup__row_stats(xr, d, rms, &m, &rs);
        for (l = 0; l < 8; l++) ag[l] = agx[l] = 0.0;
        for (j = 0; j + 8 <= d; j += 8)
            for (l = 0; l < 8; l++) {
                ag[l] += gr[j + l];
                agx[l] += gr[j + l] * (xr[j + l] - m) * rs;
            }
        for (l = 0; j < d; j++, l++) {
            ag[l] += gr[j];
            agx[l] += gr[j] * (xr[j] - m) * rs;
        }
        mg = umup__lanes_sum(ag) / d;
        mgx = umup__lanes_sum(agx) / d;
        if (rms) mg = 0.0;
        for (j = 0; j < d; j++)
            UMUP__PUT(acc, dx[(size_t)r * (size_t)d + (size_t)j], (float)(rs * (gr[j] - mg - (xr[j] - m) * rs * mgx)));
    }
    return UMUP_OK;
}

UMUPDEF umup_status umup_rms_norm_forward(float *y, const float *x, int rows, int d) {
    return umup__norm_forward(y, x, rows, d, 1);
}
UMUPDEF umup_status umup_rms_norm_backward(float *dx, const float *dy, const float *x, int rows, int d) {
    return umup__norm_backward(dx, dy, x, rows, d, 1, 1);
}
UMUPDEF umup_status umup_layer_norm_forward(float *y, const float *x, int rows, int d) {
    return umup__norm_forward(y, x, rows, d, 0);
}
UMUPDEF umup_status umup_layer_norm_backward(float *dx, const float *dy, const float *x, int rows, int d) {
    return umup__norm_backward(dx, dy, x, rows, d, 0, 1);
}

/* ---- 5. add, residuals, dropout ------------------------------------------------- >>residual */

/* [GC] add: grad[i] = broadcast_factor_i^-1/2, out = 2^-1/2 (1 when an input is a single element),
   then the constraint over (out, grad[0], grad[1]) */
static umup_status umup__add_scales(umup_op_scales *s, double fa, double fb, int scalar_input, umup_constraint c) {
    umup_op_scales t;
    if (!s) return UMUP_ERR_NULL;
    umup__scales_ones(&t);
    t.out = scalar_input ? 1.0f : (float)(1.0 / UMUP__SQRT2);
    t.grad[0] = (float)(1.0 / sqrt(fa));
    t.grad[1] = (float)(1.0 / sqrt(fb));
    return umup__constrain_into(s, t, 2, c);
}

UMUPDEF umup_status umup_add_scales(umup_op_scales *s, umup_constraint c) {
    return umup__add_scales(s, 1.0, 1.0, 0, c);
}

UMUPDEF umup_status umup_add_forward(float *y, const float *a, const float *b, size_t n, const umup_op_scales *s) {
    size_t i;
    if (!s || (n && (!y || !a || !b))) return UMUP_ERR_NULL;
    if (UMUP__TOO_MANY(n, sizeof(float))) return UMUP_ERR_SHAPE;
    for (i = 0; i < n; i++) y[i] = s->out * (a[i] + b[i]);
    return UMUP_OK;
}

UMUPDEF umup_status umup_add_backward(float *da, float *db, const float *dy, size_t n, const umup_op_scales *s) {
    size_t i;
    if (!s || (n && !dy)) return UMUP_ERR_NULL;
    if (UMUP__TOO_MANY(n, sizeof(float))) return UMUP_ERR_SHAPE;
    for (i = 0; i < n; i++) {
        if (da) da[i] += s->grad[0] * dy[i];
        if (db) db[i] += s->grad[1] * dy[i];
    }
    return UMUP_OK;
}

/* Broadcast geometry of a [ndim] and b [ndim]: the output shape, element counts, and each input's
   stride per output dimension (0 along a broadcast dimension). */
typedef struct {
    int ndim, shape[8];
    size_t n, na, nb, sa[8], sb[8];
} umup__bcast;

static umup_status umup__bcast_init(umup__bcast *g, const int *as, const int *bs, int ndim) {
    size_t ra = 1, rb = 1;
    int i;
    if (!as || !bs) return UMUP_ERR_NULL;
    if (ndim < 1 || ndim > 8) return UMUP_ERR_SHAPE;
    g->ndim = ndim;
    g->n = g->na = g->nb = 1;
    for (i = 0; i < ndim; i++) {
        if (as[i] < 1 || bs[i] < 1 || (as[i] != bs[i] && as[i] != 1 && bs[i] != 1)) return UMUP_ERR_SHAPE;
        g->shape[i] = as[i] > bs[i] ? as[i] : bs[i];
        if (!umup__size_mul(&g->n, g->n, (size_t)g->shape[i]) || !umup__size_mul(&g->na, g->na, (size_t)as[i]) ||
            !umup__size_mul(&g->nb, g->nb, (size_t)bs[i]))
            return UMUP_ERR_SHAPE;
    }
    if (!umup__buf_ok(sizeof(float), g->n, 1, 1)) return UMUP_ERR_SHAPE; /* no buffer can hold the output */
    for (i = ndim - 1; i >= 0; i--) { /* row-major strides; 0 where the input is broadcast */
        g->sa[i] = as[i] == 1 && g->shape[i] > 1 ? 0 : ra;
        g->sb[i] = bs[i] == 1 && g->shape[i] > 1 ? 0 : rb;
        ra *= (size_t)as[i];
        rb *= (size_t)bs[i];
    }
    return UMUP_OK;
}

/* Visits the output elements in order with each input's offset: dir 0 forward (y = out (a + b)),
   dir 1 backward (da += grad[0] dy, db += grad[1] dy, accumulated in output order). */
static void umup__bcast_run(const umup__bcast *g, int dir, float *y, const float *a, const float *b, float *da, float *db,
                            const float *dy, const umup_op_scales *s) {
    int idx[8] = {0, 0, 0, 0, 0, 0, 0, 0}, k;
    size_t i, oa = 0, ob = 0;
    for (i = 0; i < g->n; i++) {
        if (dir == 0) y[i] = s->out * (a[oa] + b[ob]);
        else {
            if (da) da[oa] += s->grad[0] * dy[i];
            if (db) db[ob] += s->grad[1] * dy[i];
        }
        for (k = g->ndim - 1; k >= 0; k--) { /* odometer step over the output index */
            oa += g->sa[k];
            ob += g->sb[k];
            if (++idx[k] < g->shape[k]) break;
            oa -= g->sa[k] * (size_t)g->shape[k];
            ob -= g->sb[k] * (size_t)g->shape[k];
            idx[k] = 0;
        }
    }
}

UMUPDEF umup_status umup_add_broadcast_scales(umup_op_scales *s, const int *a_shape, const int *b_shape, int ndim,
                                              umup_constraint c) {
    umup__bcast g;
    umup_status st;
    if (!s) return UMUP_ERR_NULL;
    st = umup__bcast_init(&g, a_shape, b_shape, ndim);
    if (st != UMUP_OK) return st;
    return umup__add_scales(s, (double)g.n / (double)g.na, (double)g.n / (double)g.nb, g.na == 1 || g.nb == 1, c);
}

UMUPDEF umup_status umup_add_broadcast_forward(float *y, const float *a, const int *a_shape, const float *b,
                                               const int *b_shape, int ndim, const umup_op_scales *s) {
    umup__bcast g;
    umup_status st;
    if (!y || !a || !b || !s) return UMUP_ERR_NULL;
    st = umup__bcast_init(&g, a_shape, b_shape, ndim);
    if (st == UMUP_OK) umup__bcast_run(&g, 0, y, a, b, NULL, NULL, NULL, s);
    return st;
}

UMUPDEF umup_status umup_add_broadcast_backward(float *da, float *db, const float *dy, const int *a_shape,
                                                const int *b_shape, int ndim, const umup_op_scales *s) {
    umup__bcast g;
    umup_status st;
    if (!dy || !s) return UMUP_ERR_NULL;
    st = umup__bcast_init(&g, a_shape, b_shape, ndim);
    if (st == UMUP_OK) umup__bcast_run(&g, 1, NULL, NULL, NULL, da, db, dy, s);
    return st;
}

static int umup__tau_ok(double tau) { return tau > 0.0 && tau < 1e300; }

/* The residual junction's two coefficients, the one place the formula is written:
 * a = tau / sqrt(1 + tau^2) on the residual branch, b = 1 / sqrt(1 + tau^2) on the skip
 * (a^2 + b^2 = 1, so unit-variance inputs give a unit-variance sum). */
static void umup__residual_coefs(double tau, double *a, double *b) {
    double n = sqrt(1.0 + tau * tau);
    *a = tau / n;
    *b = 1.0 / n;
}

UMUPDEF umup_status umup_residual_split_forward(float *r, float *s, const float *x, size_t n) {
    if (n && !x) return UMUP_ERR_NULL;
    if (UMUP__TOO_MANY(n, sizeof(float))) return UMUP_ERR_SHAPE;
    if (n && r && r != x) memmove(r, x, n * sizeof *r);
    if (n && s && s != x) memmove(s, x, n * sizeof *s);
    return UMUP_OK;
}

/* dx (+)= tau/sqrt(1+tau^2) dr + 1/sqrt(1+tau^2) ds; acc = 0 assigns */
static umup_status umup__residual_split_backward(float *dx, const float *dr, const float *ds, size_t n, double tau, int acc) {
    double a, b;
    long i;
    if (n && (!dx || !dr || !ds)) return UMUP_ERR_NULL;
    if (UMUP__TOO_MANY(n, sizeof(float))) return UMUP_ERR_SHAPE;
    if (!umup__tau_ok(tau)) return UMUP_ERR_INVALID_ARG;
    umup__residual_coefs(tau, &a, &b);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n > 32768)
#endif
    for (i = 0; i < (long)n; i++) UMUP__PUT(acc, dx[i], (float)(a * dr[i] + b * ds[i]));
    return UMUP_OK;
}

UMUPDEF umup_status umup_residual_split_backward(float *dx, const float *dr, const float *ds, size_t n, double tau) {
    return umup__residual_split_backward(dx, dr, ds, n, tau, 1);
}

/* y = tau/sqrt(1+tau^2) r + 1/sqrt(1+tau^2) s */
UMUPDEF umup_status umup_residual_add_forward(float *y, const float *r, const float *s, size_t n, double tau) {
    double a, b;
    long i;
    if (n && (!y || !r || !s)) return UMUP_ERR_NULL;
    if (UMUP__TOO_MANY(n, sizeof(float))) return UMUP_ERR_SHAPE;
    if (!umup__tau_ok(tau)) return UMUP_ERR_INVALID_ARG;
    umup__residual_coefs(tau, &a, &b);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n > 32768)
#endif
    for (i = 0; i < (long)n; i++) y[i] = (float)(a * r[i] + b * s[i]);
    return UMUP_OK;
}

/* dr += dy, ds += dy */
UMUPDEF umup_status umup_residual_add_backward(float *dr, float *ds, const float *dy, size_t n) {
    long i;
    if (n && !dy) return UMUP_ERR_NULL;
    if (UMUP__TOO_MANY(n, sizeof(float))) return UMUP_ERR_SHAPE;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n > 32768)
#endif
    for (i = 0; i < (long)n; i++) {
        if (dr) dr[i] += dy[i];
        if (ds) ds[i] += dy[i];
    }
    return UMUP_OK;
}

static int umup__weight_ok(double w) { return w > -1e300 && w < 1e300; }

/* y = skip_w x + branch_w f */
UMUPDEF umup_status umup_residual_sum_forward(float *y, const float *x, const float *f, size_t n, double skip_w,
                                              double branch_w) {
    long i;
    if (n && (!y || !x || !f)) return UMUP_ERR_NULL;
    if (UMUP__TOO_MANY(n, sizeof(float))) return UMUP_ERR_SHAPE;
    if (!umup__weight_ok(skip_w) || !umup__weight_ok(branch_w)) return UMUP_ERR_INVALID_ARG;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n > 32768)
#endif
    for (i = 0; i < (long)n; i++) y[i] = (float)(branch_w * f[i] + skip_w * x[i]);
    return UMUP_OK;
}

/* dx += skip_w dy, df += branch_w dy */
UMUPDEF umup_status umup_residual_sum_backward(float *dx, float *df, const float *dy, size_t n, double skip_w,
                                               double branch_w) {
    long i;
    if (n && !dy) return UMUP_ERR_NULL;
    if (UMUP__TOO_MANY(n, sizeof(float))) return UMUP_ERR_SHAPE;
    if (!umup__weight_ok(skip_w) || !umup__weight_ok(branch_w)) return UMUP_ERR_INVALID_ARG;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n > 32768)
#endif
    for (i = 0; i < (long)n; i++) {
        if (dx) dx[i] += (float)(skip_w * dy[i]);
        if (df) df[i] += (float)(branch_w * dy[i]);
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
    if (layers < 1 || layers > INT_MAX / 2) return UMUP_ERR_SHAPE; /* 2 x layers taus */
    if (!(alpha_res > 0) || !(ratio > 0) || alpha_res > 1e300 || ratio > 1e300) return UMUP_ERR_INVALID_ARG;
    if (mode != UMUP_DEPTH_LAYERS && mode != UMUP_DEPTH_2X_LAYERS) return UMUP_ERR_INVALID_ARG;
    depth = mode == UMUP_DEPTH_LAYERS ? (double)layers : 2.0 * layers;
    for (i = 0; i < 2 * layers; i++) taus[i] = umup_residual_tau(i, depth, alpha_res, ratio);
    return UMUP_OK;
}

/* out = grad[0] = sqrt(1 - p) */
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
    if (UMUP__TOO_MANY(n, sizeof(float))) return UMUP_ERR_SHAPE;
    if (!(p >= 0.0f && p < 1.0f)) return UMUP_ERR_INVALID_ARG;
    return umup__dropout(y, x, n, p, seed, counter, s->out, 0);
}

UMUPDEF umup_status umup_dropout_backward(float *dx, const float *dy, size_t n, float p, uint64_t seed,
                                          uint64_t counter, const umup_op_scales *s) {
    if (!s || (n && (!dx || !dy))) return UMUP_ERR_NULL;
    if (UMUP__TOO_MANY(n, sizeof(float))) return UMUP_ERR_SHAPE;
    if (!(p >= 0.0f && p < 1.0f)) return UMUP_ERR_INVALID_ARG;
    return umup__dropout(dx, dy, n, p, seed, counter, s->grad[0], 1);
}

/* ---- 6. embedding, cross-entropy -------------------------------------------------------- >>loss */

/* forward 1; grad_w = sqrt(V / n_ids) */
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
    if (n_ids <= 0 || V <= 0 || d <= 0 || !umup__buf_ok(sizeof(float), (size_t)n_ids, (size_t)d, 1) ||
        !umup__buf_ok(sizeof(float), (size_t)V, (size_t)d, 1))
        return UMUP_ERR_SHAPE;
    if (umup__ids_check(ids, n_ids, V, 0) != UMUP_OK) return UMUP_ERR_INVALID_ARG;
    for (i = 0; i < n_ids; i++) memcpy(y + (size_t)i * (size_t)d, W + (size_t)ids[i] * (size_t)d, (size_t)d * sizeof *y);
    return UMUP_OK;
}

UMUPDEF umup_status umup_embedding_backward(float *dW, const float *dy, const int32_t *ids, int n_ids, int V, int d,
                                            const umup_op_scales *s) {
    int i, j;
    if (!dW || !dy || !ids || !s) return UMUP_ERR_NULL;
    if (n_ids <= 0 || V <= 0 || d <= 0 || !umup__buf_ok(sizeof(float), (size_t)n_ids, (size_t)d, 1) ||
        !umup__buf_ok(sizeof(float), (size_t)V, (size_t)d, 1))
        return UMUP_ERR_SHAPE;
    if (umup__ids_check(ids, n_ids, V, 0) != UMUP_OK) return UMUP_ERR_INVALID_ARG;
    for (i = 0; i < n_ids; i++) {
        float *w = dW + (size_t)ids[i] * (size_t)d;
        const float *g = dy + (size_t)i * (size_t)d;
        for (j = 0; j < d; j++) w[j] += s->grad_w * g[j];
    }
    return UMUP_OK;
}

/* out = mult (the forward multiplier); grad[0] = V / sqrt(V - 1) unit-scaled, mult / rows plain */
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
    if (rows <= 0 || V <= 1 || !umup__buf_ok(sizeof(float), (size_t)rows, (size_t)V, 1)) return UMUP_ERR_SHAPE;
    if (!umup__mult_ok(s->out)) return UMUP_ERR_INVALID_ARG;
    if (umup__ids_check(t, rows, V, 1) != UMUP_OK) return UMUP_ERR_INVALID_ARG;
    *counted = 0;
    for (r = 0; r < rows; r++) *counted += t[r] >= 0;
    return *counted ? UMUP_OK : UMUP_ERR_INVALID_ARG;
}

UMUPDEF umup_status umup_cross_entropy_forward(float *loss, const float *z, const int32_t *targets, int rows, int V,
                                               const umup_op_scales *s) {
    int r, counted;
    double total = 0.0, *lr;
    umup_status st = umup__ce_check(loss, z, targets, rows, V, s, &counted);
    if (st != UMUP_OK) return st;
    lr = (double *)UMUP_MALLOC((size_t)rows * sizeof(double));
    if (!lr) return UMUP_ERR_NOMEM;
    /* per-row losses in parallel, summed in row order: the same result for any thread count */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((double)rows * V > 65536.0)
#endif
    for (r = 0; r < rows; r++) {
        const float *zr = z + (size_t)r * (size_t)V;
        double mx = -HUGE_VAL, sum = 0.0, m = s->out;
        int j;
        lr[r] = 0.0;
        if (targets[r] < 0) continue;
        for (j = 0; j < V; j++) if (m * zr[j] > mx) mx = m * zr[j];
        for (j = 0; j < V; j++) sum += exp(m * zr[j] - mx);
        lr[r] = log(sum) + mx - m * zr[targets[r]];
    }
    for (r = 0; r < rows; r++) if (targets[r] >= 0) total += lr[r];
    UMUP_FREE(lr);
    *loss = (float)(total / counted);
    return UMUP_OK;
}

/* umup_cross_entropy_backward; acc = 0 assigns dz (rows without a target get zeros). */
static umup_status umup__cross_entropy_backward(float *dz, const float *z, const int32_t *targets, int rows, int V,
                                                float dloss, const umup_op_scales *s, int acc) {
    int r, counted, nt = 1;
    double *p_all;
    umup_status st = umup__ce_check(dz, z, targets, rows, V, s, &counted);
    if (st != UMUP_OK) return st;
#ifdef _OPENMP
    nt = omp_get_max_threads();
    if (nt < 1) nt = 1;
#endif
    p_all = (double *)UMUP_MALLOC((size_t)nt * (size_t)V * sizeof(double)); /* a softmax row per thread */
    if (!p_all) return UMUP_ERR_NOMEM;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1 && (double)rows * V > 65536.0)
#endif
    for (r = 0; r < rows; r++) {
        float *dr = dz + (size_t)r * (size_t)V;
        double *p = p_all;
        int j;
#ifdef _OPENMP
        p = p_all + (size_t)omp_get_thread_num() * (size_t)V; /* the team has at most nt threads */
#endif
        if (targets[r] < 0) {
            if (!acc) memset(dr, 0, sizeof(float) * (size_t)V);
            continue;
        }
        umup__softmax_row(p, z + (size_t)r * (size_t)V, V, V, s->out);
        p[targets[r]] -= 1.0;
        for (j = 0; j < V; j++) UMUP__PUT(acc, dr[j], (float)((double)dloss * s->grad[0] * p[j]));
    }
    UMUP_FREE(p_all);
    return UMUP_OK;
}

UMUPDEF umup_status umup_cross_entropy_backward(float *dz, const float *z, const int32_t *targets, int rows, int V,
                                                float dloss, const umup_op_scales *s) {
    return umup__cross_entropy_backward(dz, z, targets, rows, V, dloss, s, 1);
}

/* ============================================================================================ */
/* The portable GEMM kernel                                                      >>gemm-kernel */
/* ============================================================================================ */
/* C[M,N] = alpha * op(A)[M,K] op(B)[K,N] + beta * C, row-major (arguments checked by the caller).
 * transA = 0: A is [M,K] with row stride lda; 1: A is stored [K,M]. transB = 0: B is [K,N]; 1: B is
 * stored [N,K]. beta == 0 overwrites C without reading it.
 *
 * The BLIS structure (Goto and van de Geijn, "Anatomy of high-performance matrix multiplication",
 * ACM TOMS 2008; Van Zee and van de Geijn, "BLIS", ACM TOMS 2015): loops jc (NC columns), pc (KC of
 * the depth), ic (MC rows), jr (NR), ir (MR); op(B)[pc, jc] is packed into NR-wide panels, op(A)[ic,
 * pc] into MR-tall panels, and a micro-kernel computes an MR x NR tile of C from one panel of each,
 * in registers (a transposed A with rows close together is read in place instead: UMUP__A_INPLACE).
 * Micro-kernels (chosen at compile time from the compiler's target macros, the plain-C
 * one always present, umup_gemm_set_kernel to pick another compiled one):
 *     avx512   12 x 32 tile, 24 zmm accumulators, FMA, KC 512   (__AVX512F__)
 *     avx2     6 x 16 tile, 12 ymm accumulators, FMA, KC 256     (__AVX2__ and __FMA__)
 *     c        6 x 16 tile, plain C (compilers vectorise it), multiply then add, KC 256
 * (KC 512 for the AVX-512 kernel: its B micro-panel then lives in L2, not L1, but C is updated half
 * as often; measured 5-12% faster on the trainer's products with K >= 512 on Zen 5, equal at K 4096.)
 * Threads: C is cut into one rectangle per OpenMP thread, on whole MR x NR tiles, and each thread runs
 * the loop nest above on its rectangle with its own packed panels (one parallel region per call, no
 * barrier inside). The sum of every C element runs over p = 0 .. K-1 in the kernel's order, KC at a
 * time in registers and then added to C, whichever thread computes it; a product with a transposed A
 * and K >= 4 KC (a weight gradient) sums its two halves of the depth apart and adds them at the end
 * (the depth split, below). Either way the order depends on the shape and the kernel only: results
 * are bitwise the same for any thread count (they differ between kernels: FMA rounds once). */

/* Element access for op(A)[i,p] and op(B)[p,j]. */
#define UMUP__GA(i, p) (transA ? A[(size_t)(p) * (size_t)lda + (size_t)(i)] : A[(size_t)(i) * (size_t)lda + (size_t)(p)])
#define UMUP__GB(p, j) (transB ? B[(size_t)(j) * (size_t)ldb + (size_t)(p)] : B[(size_t)(p) * (size_t)ldb + (size_t)(j)])


/* Plain C, 6 x 16: gcc and clang vectorise the j loops; no fused multiply-add (-std=c99 keeps
 * a * b + c as two roundings). */
static void umup__micro_c(int kc, const float *a, size_t as, const float *b, float alpha, float beta, float *C, int ldc,
                          int mr, int nr) {
    float acc[6][16];
    int i, j, p;
    for (i = 0; i < 6; i++)
        for (j = 0; j < 16; j++) acc[i][j] = 0.0f;
    for (p = 0; p < kc; p++) {
        const float *bp = b + (size_t)p * 16;
        const float *ap = a + (size_t)p * as;
        const float a0 = ap[0], a1 = ap[1], a2 = ap[2], a3 = ap[3], a4 = ap[4], a5 = ap[5];
        for (j = 0; j < 16; j++) {
            const float bv = bp[j];
            acc[0][j] += a0 * bv; acc[1][j] += a1 * bv; acc[2][j] += a2 * bv;
            acc[3][j] += a3 * bv; acc[4][j] += a4 * bv; acc[5][j] += a5 * bv;
        }
    }
    for (i = 0; i < mr; i++) {
        float *c = C + (size_t)i * (size_t)ldc;
        if (beta == 0.0f) {
            for (j = 0; j < nr; j++) c[j] = alpha * acc[i][j];
        } else {
            for (j = 0; j < nr; j++) c[j] = alpha * acc[i][j] + beta * c[j];
        }
    }
}

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#elif defined(__SSE__) || defined(_M_X64)
#include <xmmintrin.h>
#endif

#if defined(__AVX2__) && defined(__FMA__)
#define UMUP__HAVE_AVX2 1
/* AVX2 + FMA, 6 x 16: 12 ymm accumulators, two B vectors, one broadcast (15 of 16 registers).
 * Edge tiles (mr < 6 or nr < 16) go through a local tile. */
static void umup__micro_avx2(int kc, const float *a, size_t as, const float *b, float alpha, float beta, float *C,
                             int ldc, int mr, int nr) {
    __m256 c0a = _mm256_setzero_ps(), c0b = c0a, c1a = c0a, c1b = c0a, c2a = c0a, c2b = c0a;
    __m256 c3a = c0a, c3b = c0a, c4a = c0a, c4b = c0a, c5a = c0a, c5b = c0a;
    __m256 acc[12];
    float tile[6 * 16];
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    int p, i, j;
    for (p = 0; p < kc; p++) {
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        __m256 av;
#define UMUP__R(i)                                                                                                   \
    av = _mm256_broadcast_ss(a + i);                                                                                 \
    c##i##a = _mm256_fmadd_ps(av, b0, c##i##a);                                                                      \
    c##i##b = _mm256_fmadd_ps(av, b1, c##i##b);
        UMUP__R(0) UMUP__R(1) UMUP__R(2) UMUP__R(3) UMUP__R(4) UMUP__R(5)
#undef UMUP__R
        a += as;
        b += 16;
    }
    acc[0] = c0a; acc[1] = c0b; acc[2] = c1a; acc[3] = c1b; acc[4] = c2a; acc[5] = c2b;
    acc[6] = c3a; acc[7] = c3b; acc[8] = c4a; acc[9] = c4b; acc[10] = c5a; acc[11] = c5b;
    if (mr == 6 && nr == 16) {
        for (i = 0; i < 6; i++) {
            float *c = C + (size_t)i * (size_t)ldc;
            __m256 x = _mm256_mul_ps(va, acc[2 * i]), y = _mm256_mul_ps(va, acc[2 * i + 1]);
            if (beta != 0.0f) {
                x = _mm256_add_ps(x, _mm256_mul_ps(vb, _mm256_loadu_ps(c)));
                y = _mm256_add_ps(y, _mm256_mul_ps(vb, _mm256_loadu_ps(c + 8)));
            }
            _mm256_storeu_ps(c, x);
            _mm256_storeu_ps(c + 8, y);
        }
        return;
    }
    for (i = 0; i < 6; i++) {
        _mm256_storeu_ps(tile + 16 * i, _mm256_mul_ps(va, acc[2 * i]));
        _mm256_storeu_ps(tile + 16 * i + 8, _mm256_mul_ps(va, acc[2 * i + 1]));
    }
    for (i = 0; i < mr; i++) {
        float *c = C + (size_t)i * (size_t)ldc;
        for (j = 0; j < nr; j++) c[j] = beta == 0.0f ? tile[16 * i + j] : tile[16 * i + j] + beta * c[j];
    }
}
#endif

#if defined(__AVX512F__)
#define UMUP__HAVE_AVX512 1
/* AVX-512, 12 x 32: 24 zmm accumulators, two B vectors, one broadcast (27 of 32 registers); per
 * depth step 2 loads and 12 broadcasts feed 24 FMAs. Edge tiles store under masks. */
static void umup__micro_avx512(int kc, const float *a, size_t as, const float *b, float alpha, float beta, float *C,
                               int ldc, int mr, int nr) {
    __m512 c0a = _mm512_setzero_ps(), c0b = c0a, c1a = c0a, c1b = c0a, c2a = c0a, c2b = c0a, c3a = c0a, c3b = c0a;
    __m512 c4a = c0a, c4b = c0a, c5a = c0a, c5b = c0a, c6a = c0a, c6b = c0a, c7a = c0a, c7b = c0a;
    __m512 c8a = c0a, c8b = c0a, c9a = c0a, c9b = c0a, c10a = c0a, c10b = c0a, c11a = c0a, c11b = c0a;
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    const __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xFFFFu : (1u << nr) - 1u);
    const __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xFFFFu : nr <= 16 ? 0u : (1u << (nr - 16)) - 1u);
    int p;
    if (beta != 0.0f) /* C is read at the end: start bringing the tile in now */
        for (p = 0; p < mr; p++) {
            _mm_prefetch((const char *)(C + (size_t)p * (size_t)ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(C + (size_t)p * (size_t)ldc + 16), _MM_HINT_T0);
        }
    for (p = 0; p < kc; p++) {
        const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        __m512 av;
#define UMUP__R(i)                                                                                                   \
    av = _mm512_set1_ps(a[i]);                                                                                       \
    c##i##a = _mm512_fmadd_ps(av, b0, c##i##a);                                                                      \
    c##i##b = _mm512_fmadd_ps(av, b1, c##i##b);
        UMUP__R(0) UMUP__R(1) UMUP__R(2) UMUP__R(3) UMUP__R(4) UMUP__R(5)
        UMUP__R(6) UMUP__R(7) UMUP__R(8) UMUP__R(9) UMUP__R(10) UMUP__R(11)
#undef UMUP__R
        a += as;
        b += 32;
    }
#define UMUP__S(i)                                                                                                   \
    if (i < mr) {                                                                                                    \
        float *c = C + (size_t)(i) * (size_t)ldc;                                                                    \
        __m512 x = _mm512_mul_ps(va, c##i##a), y = _mm512_mul_ps(va, c##i##b);                                       \
        if (beta != 0.0f) {                                                                                          \
            x = _mm512_add_ps(x, _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(m0, c)));                                   \
            y = _mm512_add_ps(y, _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(m1, c + 16)));                              \
        }                                                                                                            \
        _mm512_mask_storeu_ps(c, m0, x);                                                                             \
        _mm512_mask_storeu_ps(c + 16, m1, y);                                                                        \
    }
    UMUP__S(0) UMUP__S(1) UMUP__S(2) UMUP__S(3) UMUP__S(4) UMUP__S(5)
    UMUP__S(6) UMUP__S(7) UMUP__S(8) UMUP__S(9) UMUP__S(10) UMUP__S(11)
#undef UMUP__S
}
#endif

/* The kernels, indexed by umup_gemm_kernel (a NULL micro: not compiled in). */
static const umup__gemm_kdesc umup__gemm_kernels[4] = {
    {NULL, 0, 0, 0, 0, 0},
    {umup__micro_c, 6, 16, 256, 72, 4096},
#ifdef UMUP__HAVE_AVX2
    {umup__micro_avx2, 6, 16, 256, 96, 4096},
#else
    {NULL, 0, 0, 0, 0, 0},
#endif
#ifdef UMUP__HAVE_AVX512
    {umup__micro_avx512, 12, 32, 512, 240, 4096},
#else
    {NULL, 0, 0, 0, 0, 0},
#endif
};
static umup_gemm_kernel umup__gemm_kernel_sel = UMUP_GEMM_KERNEL_AUTO;

static umup_gemm_kernel umup__gemm_kernel_best(void) {
    int k;
    for (k = UMUP_GEMM_KERNEL_AVX512; k > UMUP_GEMM_KERNEL_C; k--)
        if (umup__gemm_kernels[k].micro) return (umup_gemm_kernel)k;
    return UMUP_GEMM_KERNEL_C;
}

UMUPDEF umup_status umup_gemm_set_kernel(umup_gemm_kernel k) {
    if ((int)k < 0 || (int)k > (int)UMUP_GEMM_KERNEL_AVX512) return UMUP_ERR_INVALID_ARG;
    if (k != UMUP_GEMM_KERNEL_AUTO && !umup__gemm_kernels[k].micro) return UMUP_ERR_UNSUPPORTED;
    umup__gemm_kernel_sel = k;
    return UMUP_OK;
}

UMUPDEF umup_gemm_kernel umup_gemm_get_kernel(void) {
    return umup__gemm_kernel_sel == UMUP_GEMM_KERNEL_AUTO ? umup__gemm_kernel_best() : umup__gemm_kernel_sel;
}

static const umup__gemm_kdesc *umup__gemm_kd(void) { return &umup__gemm_kernels[umup_gemm_get_kernel()]; }

UMUPDEF int umup_gemm_kernel_available(umup_gemm_kernel k) {
    if ((int)k < 0 || (int)k > (int)UMUP_GEMM_KERNEL_AVX512) return 0;
    return k == UMUP_GEMM_KERNEL_AUTO || umup__gemm_kernels[k].micro != NULL;
}

UMUPDEF const char *umup_gemm_kernel_name(umup_gemm_kernel k) {
    static const char *const names[4] = {"auto", "c", "avx2", "avx512"};
    return (int)k >= 0 && (int)k <= (int)UMUP_GEMM_KERNEL_AVX512 ? names[k] : "unknown";
}

/* Unpacked fallback (allocation failure): float accumulation in p order. */
static void umup__sgemm_loop(int transA, int transB, int M, int N, int K, float alpha,
                             const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    int i, j, p;
    for (i = 0; i < M; i++)
        for (j = 0; j < N; j++) {
            float s = 0.0f;
            float *c = &C[(size_t)i * (size_t)ldc + (size_t)j];
            for (p = 0; p < K; p++) s += UMUP__GA(i, p) * UMUP__GB(p, j);
            *c = (beta == 0.0f) ? alpha * s : alpha * s + beta * *c;
        }
}

/* Packing. A panel of width w holds, for each depth step p, w consecutive floats (zero padded past
 * the valid rows/columns). Two source layouts:
 *   umup__pack_rows: dst[p w + r] = src[p ld + r]   (op(A) with transA = 1, op(B) with transB = 0)
 *   umup__pack_cols: dst[p w + r] = src[r ld + p]   (op(A) with transA = 0, op(B) with transB = 1),
 *     a transpose, done in 4 x 4 blocks with SSE where the compiler targets it. */
/* Source rows of a packed block are often a page or more apart (a 1024-float row is 4 KiB), where
 * the hardware prefetchers stop, so the packing loops prefetch the rows they will read next. */
#if defined(__GNUC__) || defined(__clang__)
#define UMUP__PREFETCH(p) __builtin_prefetch((const void *)(p), 0, 3)
#else
#define UMUP__PREFETCH(p) ((void)0)
#endif

static void umup__pack_rows(float *dst, const float *src, size_t ld, int n, int kc, int w) {
    /* Depth blocks of 8 source rows, panel by panel: each panel's 8 w-float rows are one contiguous
       run of the destination, written whole (row by row over all panels spread the writes over
       every panel's stream at once). */
    int p0, p, q, r, npan = (n + w - 1) / w;
    for (p0 = 0; p0 < kc; p0 += 8) {
        int pe = kc - p0 < 8 ? kc : p0 + 8;
        if (pe + 8 <= kc) /* the next block's rows */
            for (p = pe; p < pe + 8; p++)
                for (r = 0; r < n; r += 16) UMUP__PREFETCH(src + (size_t)p * ld + (size_t)r);
        for (q = 0; q < npan; q++) {
            int m = n - q * w < w ? n - q * w : w;
            for (p = p0; p < pe; p++) {
                const float *s = src + (size_t)p * ld + (size_t)q * (size_t)w;
                float *d = dst + ((size_t)q * (size_t)kc + (size_t)p) * (size_t)w;
                if (m == w && w == 12) { memcpy(d, s, 12 * sizeof(float)); continue; } /* the common */
                if (m == w && w == 32) { memcpy(d, s, 32 * sizeof(float)); continue; } /* widths: copies */
                if (m == w && w == 16) { memcpy(d, s, 16 * sizeof(float)); continue; } /* of a fixed  */
                if (m == w && w == 6) { memcpy(d, s, 6 * sizeof(float)); continue; }   /* size inline */
                for (r = 0; r < m; r++) d[r] = s[r];
                for (; r < w; r++) d[r] = 0.0f;
            }
        }
    }
}

static void umup__pack_cols(float *dst, const float *src, size_t ld, int n, int kc, int w) {
    /* Depth blocks of 16 (one cache line of every source row), all rows of a block before the next:
       the block's destination rows (16 x w floats) are written whole while they sit in L1. (Row
       groups first, each over the whole depth, wrote a wide panel, w = 32: 64 KiB, in 16-byte pieces
       spread over all of it, each piece refetching its line: 8x slower.) */
    int p0, p, r;
    for (p0 = 0; p0 < kc; p0 += 16) {
        int pe = kc - p0 < 16 ? kc : p0 + 16;
        r = 0;
#if defined(__SSE__) || defined(_M_X64)
        for (; r + 4 <= n; r += 4) {
            const float *s0 = src + (size_t)r * ld, *s1 = s0 + ld, *s2 = s1 + ld, *s3 = s2 + ld;
            if (pe + 16 < kc) { /* each row's line after next */
                UMUP__PREFETCH(s0 + pe + 16); UMUP__PREFETCH(s1 + pe + 16);
                UMUP__PREFETCH(s2 + pe + 16); UMUP__PREFETCH(s3 + pe + 16);
            }
            for (p = p0; p + 4 <= pe; p += 4) {
                __m128 x0 = _mm_loadu_ps(s0 + p), x1 = _mm_loadu_ps(s1 + p), x2 = _mm_loadu_ps(s2 + p), x3 = _mm_loadu_ps(s3 + p);
                float *d = dst + (size_t)p * (size_t)w + (size_t)r;
                _MM_TRANSPOSE4_PS(x0, x1, x2, x3);
                _mm_storeu_ps(d, x0);
                _mm_storeu_ps(d + w, x1);
                _mm_storeu_ps(d + 2 * w, x2);
                _mm_storeu_ps(d + 3 * w, x3);
            }
            for (; p < pe; p++) {
                float *d = dst + (size_t)p * (size_t)w + (size_t)r;
                d[0] = s0[p]; d[1] = s1[p]; d[2] = s2[p]; d[3] = s3[p];
            }
        }
#endif
        for (; r < n; r++) {
            const float *s = src + (size_t)r * ld;
            for (p = p0; p < pe; p++) dst[(size_t)p * (size_t)w + (size_t)r] = s[p];
        }
        for (; r < w; r++)
            for (p = p0; p < pe; p++) dst[(size_t)p * (size_t)w + (size_t)r] = 0.0f;
    }
}

/* Pack op(B)[pc:pc+kc, jc:jc+nc] into nr_-wide column panels (panel q: kc rows of nr_). */
static void umup__sgemm_packB(int transB, const float *B, int ldb, int pc, int kc, int jc, int nc, int nr_, float *Bp)
{
    int q, npan = (nc + nr_ - 1) / nr_;
    if (!transB) {
        umup__pack_rows(Bp, B + (size_t)pc * (size_t)ldb + (size_t)jc, (size_t)ldb, nc, kc, nr_);
        return;
    }
    for (q = 0; q < npan; q++) {
        int j0 = jc + q * nr_, nr = nc - q * nr_ < nr_ ? nc - q * nr_ : nr_;
        umup__pack_cols(Bp + (size_t)q * (size_t)nr_ * (size_t)kc, B + (size_t)j0 * (size_t)ldb + (size_t)pc, (size_t)ldb,
                        nr, kc, nr_);
    }
}

/* Pack op(A)[ic:ic+mc, pc:pc+kc] into mr_-tall row panels (panel q: kc columns of mr_). */
static void umup__sgemm_packA(int transA, const float *A, int lda, int ic, int mc, int pc, int kc, int mr_, float *Ap)
{
    int q, npan = (mc + mr_ - 1) / mr_;
    if (transA) {
        umup__pack_rows(Ap, A + (size_t)pc * (size_t)lda + (size_t)ic, (size_t)lda, mc, kc, mr_);
        return;
    }
    for (q = 0; q < npan; q++) {
        int i0 = ic + q * mr_, mr = mc - q * mr_ < mr_ ? mc - q * mr_ : mr_;
        umup__pack_cols(Ap + (size_t)q * (size_t)mr_ * (size_t)kc, A + (size_t)i0 * (size_t)lda + (size_t)pc, (size_t)lda,
                        mr, kc, mr_);
    }
}

/* A transposed A (stored [K, M]: a weight gradient's dy) whose rows are at most UMUP__A_INPLACE
 * floats apart is not packed: the micro-kernel reads each whole MR-wide panel in place, kc rows lda
 * apart, and only a block's last, partial panel is packed. Its rows are MR consecutive floats, so
 * the reads are as dense as a packed panel's; with rows further apart than 4 KiB they crowd into
 * few cache sets. Measured on the weight-gradient products (K 4096, cold operands, Zen 5): 3-4%
 * faster at M 256-1024, equal at M 2048, 2% slower at M 4096 (hence the limit). */
#define UMUP__A_INPLACE 1024

/* The loop nest on the rectangle C[m0:m1, n0:n1] with this thread's packed buffers Ap [mc x kc],
 * Bp [kc x nc] (64-byte aligned). */
static void umup__sgemm_rect(const umup__gemm_kdesc *kd, int transA, int transB, int m0, int m1, int n0, int n1,
                             int K, float alpha, const float *A, int lda, const float *B, int ldb, float beta,
                             float *C, int ldc, float *Ap, float *Bp) {
    int jc, pc, ic, jr, ir, MR = kd->mr, NR = kd->nr, inplace = transA && lda <= UMUP__A_INPLACE;
    for (jc = n0; jc < n1; jc += kd->nc) {
        int nc = n1 - jc < kd->nc ? n1 - jc : kd->nc;
        for (pc = 0; pc < K; pc += kd->kc) {
            int kc = K - pc < kd->kc ? K - pc : kd->kc;
            float bet = pc == 0 ? beta : 1.0f;
            umup__sgemm_packB(transB, B, ldb, pc, kc, jc, nc, NR, Bp);
            for (ic = m0; ic < m1; ic += kd->mc) {
                int mc = m1 - ic < kd->mc ? m1 - ic : kd->mc, mfull = inplace ? mc / MR * MR : 0;
                if (mfull < mc) umup__sgemm_packA(transA, A, lda, ic + mfull, mc - mfull, pc, kc, MR, Ap);
                for (jr = 0; jr < nc; jr += NR) {
                    int nr = nc - jr < NR ? nc - jr : NR;
                    const float *bpan = Bp + (size_t)(jr / NR) * (size_t)NR * (size_t)kc;
                    for (ir = 0; ir < mc; ir += MR) {
                        int mr = mc - ir < MR ? mc - ir : MR;
                        float *c = C + (size_t)(ic + ir) * (size_t)ldc + (size_t)(jc + jr);
                        if (ir < mfull) /* in place: op(A)[ic + ir .., pc ..] = A[pc .., ic + ir ..] */
                            kd->micro(kc, A + (size_t)pc * (size_t)lda + (size_t)(ic + ir), (size_t)lda, bpan, alpha, bet,
                                      c, ldc, mr, nr);
                        else
                            kd->micro(kc, Ap + (size_t)((ir - mfull) / MR) * (size_t)MR * (size_t)kc, (size_t)MR, bpan,
                                      alpha, bet, c, ldc, mr, nr);
                    }
                }
            }
        }
    }
}

/* Cut the mt x nt tiles of C into tm x tn rectangles for nthr threads (tm tn = nthr), choosing
 * the split whose largest rectangle is smallest (ties: fewer column cuts). */
static void umup__gemm_grid(int mt, int ntl, int nthr, int *tm, int *tn) {
    int a, best = -1;
    double bestw = 0;
    for (a = 1; a <= nthr; a++) {
        double w;
        if (nthr % a) continue;
        w = (double)((mt + a - 1) / a) * (double)((ntl + nthr / a - 1) / (nthr / a));
        if (best < 0 || w < bestw || (w == bestw && a > best)) { best = a; bestw = w; }
    }
    *tm = best;
    *tn = nthr / best;
}

/* One product of a parallel call, C = alpha op(A) op(B) + beta C, its tiles cut into tm x tn
 * rectangles, one per thread of the nthr it is given (tm tn = nthr). */
typedef struct {
    int transA, transB, M, N, K, lda, ldb, ldc, mt, ntl, nthr, tm, tn;
    float alpha, beta;
    const float *A, *B;
    float *C;
    size_t na, per; /* floats per thread: A block, then A block and B panel */
} umup__gemm_part;

static void umup__gemm_part_init(umup__gemm_part *g, const umup__gemm_kdesc *kd, int nthr, int transA, int transB,
                                 int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                                 float beta, float *C, int ldc) {
    size_t nb;
    g->transA = transA; g->transB = transB; g->M = M; g->N = N; g->K = K;
    g->alpha = alpha; g->beta = beta; g->A = A; g->lda = lda; g->B = B; g->ldb = ldb; g->C = C; g->ldc = ldc;
    g->mt = M / kd->mr + (M % kd->mr != 0); /* no M + mr - 1: M may be near INT_MAX */
    g->ntl = N / kd->nr + (N % kd->nr != 0);
    if (nthr > g->mt * g->ntl) nthr = g->mt * g->ntl;
    g->nthr = nthr;
    umup__gemm_grid(g->mt, g->ntl, nthr, &g->tm, &g->tn);
    /* per thread: A block [mc x kc] and B panel [kc x nc] (rounded to whole panels), 64-byte aligned */
    g->na = ((size_t)kd->mc * (size_t)(K < kd->kc ? K : kd->kc) + 15) / 16 * 16;
    nb = (size_t)((((N + g->tn - 1) / g->tn < kd->nc ? (N + g->tn - 1) / g->tn : kd->nc) + 2 * kd->nr - 1) / kd->nr) *
         (size_t)kd->nr * (size_t)(K < kd->kc ? K : kd->kc);
    g->per = (g->na + nb + 15) / 16 * 16;
}

/* Thread r's rectangle of part g (rows block r / tn, columns block r % tn, in tiles), with its
 * buffer Ap [per floats]. */
static void umup__gemm_part_run(const umup__gemm_part *g, const umup__gemm_kdesc *kd, int r, float *Ap) {
    int bi = r / g->tn, bj = r % g->tn;
    int m0 = (int)((long)g->mt * bi / g->tm) * kd->mr, m1 = (int)((long)g->mt * (bi + 1) / g->tm) * kd->mr;
    int n0 = (int)((long)g->ntl * bj / g->tn) * kd->nr, n1 = (int)((long)g->ntl * (bj + 1) / g->tn) * kd->nr;
    if (m1 > g->M) m1 = g->M;
    if (n1 > g->N) n1 = g->N;
    if (m0 < m1 && n0 < n1)
        umup__sgemm_rect(kd, g->transA, g->transB, m0, m1, n0, n1, g->K, g->alpha, g->A, g->lda, g->B, g->ldb,
                         g->beta, g->C, g->ldc, Ap, Ap + g->na);
}

/* Runs np (1 or 2) parts side by side: their parts[0].nthr + parts[1].nthr rectangles (jobs) go to a
 * team of `team` threads, in order where the team is smaller; job r is part 0's while
 * r < parts[0].nthr. Returns 0, having written nothing, when the buffers cannot be allocated. */
static int umup__gemm_parts(const umup__gemm_part *parts, int np, const umup__gemm_kdesc *kd, int team) {
    int nthr = parts[0].nthr + (np > 1 ? parts[1].nthr : 0), r;
    size_t off1 = parts[0].per * (size_t)parts[0].nthr, total = off1 + (np > 1 ? parts[1].per * (size_t)parts[1].nthr : 0);
    char *raw = (char *)UMUP_MALLOC(total * sizeof(float) + 64);
    float *buf;
    (void)team; /* without OpenMP the jobs run in order */
    if (!raw) return 0;
    buf = (float *)(void *)(raw + ((64 - ((uintptr_t)raw & 63)) & 63));
#ifdef _OPENMP
#pragma omp parallel for schedule(static, 1) num_threads(team) if (team > 1)
#endif
    for (r = 0; r < nthr; r++) {
        if (r < parts[0].nthr) umup__gemm_part_run(&parts[0], kd, r, buf + (size_t)r * parts[0].per);
        else umup__gemm_part_run(&parts[1], kd, r - parts[0].nthr, buf + off1 + (size_t)(r - parts[0].nthr) * parts[1].per);
    }
    UMUP_FREE(raw);
    return 1;
}

/* The depth split (UMUP__KSPLIT): a product with a transposed A (a weight gradient dW = dy^T x, its
 * depth the batch's rows) and K >= UMUP__KSPLIT kc is computed in two halves, the first K0 (a whole
 * number of kc blocks, half or just over) into C and the rest into a scratch T, added to C at the
 * end: C = (alpha op(A)[:, :K0] op(B)[:K0, :] + beta C) + alpha op(A)[:, K0:] op(B)[K0:, :]. Two
 * threads then each pack half of both operands and neither packs the whole of B (with a split of C
 * both would), and the halves run side by side. The split depends on K and the kernel only, so the
 * result is the same for every thread count. */
#define UMUP__KSPLIT 4

static void umup__sgemm_portable(int transA, int transB, int M, int N, int K, float alpha,
                                 const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    const umup__gemm_kdesc *kd = umup__gemm_kd();
    umup__gemm_part parts[2];
    int nthr = 1;
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* C = beta*C */
        int ii, j;
        for (ii = 0; ii < M; ii++)
            for (j = 0; j < N; j++) {
                float *c = &C[(size_t)ii * (size_t)ldc + (size_t)j];
                *c = (beta == 0.0f) ? 0.0f : beta * *c;
            }
        return;
    }
#ifdef _OPENMP
    if (!omp_in_parallel() && (double)M * N * K >= 262144.0) {
        nthr = omp_get_max_threads();
        if (nthr < 1) nthr = 1;
    }
#endif
    if (transA && K / kd->kc >= UMUP__KSPLIT) {
        int K0 = (K / kd->kc + 1) / 2 * kd->kc, n0 = nthr > 1 ? (nthr + 1) / 2 : 1, i;
        float *T = (float *)UMUP_MALLOC(sizeof(float) * (size_t)M * (size_t)N);
        const float *B1 = transB ? B + K0 : B + (size_t)K0 * (size_t)ldb;
        if (T) {
            int ok;
            umup__gemm_part_init(&parts[0], kd, n0, transA, transB, M, N, K0, alpha, A, lda, B, ldb, beta, C, ldc);
            umup__gemm_part_init(&parts[1], kd, nthr > 1 ? nthr - n0 : 1, transA, transB, M, N, K - K0, alpha,
                                 A + (size_t)K0 * (size_t)lda, lda, B1, ldb, 0.0f, T, N);
            ok = umup__gemm_parts(parts, 2, kd, nthr);
            if (ok) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nthr) if (nthr > 1)
#endif
                for (i = 0; i < M; i++) {
                    float *c = C + (size_t)i * (size_t)ldc;
                    const float *t = T + (size_t)i * (size_t)N;
                    int j;
                    for (j = 0; j < N; j++) c[j] += t[j];
                }
            }
            UMUP_FREE(T);
            if (ok) return;
        }
        /* no memory for the split: the loop below, over the whole depth, as a last resort */
        umup__sgemm_loop(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    umup__gemm_part_init(&parts[0], kd, nthr, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    if (!umup__gemm_parts(parts, 1, kd, parts[0].nthr)) umup__sgemm_loop(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
#undef UMUP__GA
#undef UMUP__GB


/* ============================================================================================ */
/* 7. Parametrizations (implementation)                                                 >>param */
/* ============================================================================================ */

UMUPDEF umup_param_config umup_param_config_default(void) {
    umup_param_config c;
    memset(&c, 0, sizeof c);
    c.param = UMUP_PARAM_UMUP;
    c.depth = 1;
    c.base_depth = 1;
    c.depth_mode = UMUP_DEPTH_LAYERS;
    c.depth_rule = UMUP_DEPTH_RULE_DEFAULT;
    c.completep_alpha = 1.0f;
    c.sigma_emb = 1.0f;
    c.alpha_emb = 1.0f;
    c.alpha_out = 1.0f;
    return c;
}

/* Resolve zero fields into *c; returns NULL, or why the configuration is invalid. */
static const char *umup__param_resolve_why(const umup_param_config *in, umup_param_config *c) {
    *c = *in;
    if (!c->custom && ((int)c->param < 0 || (int)c->param >= (int)UMUP_PARAM_COUNT)) return "unknown parametrization";
    if (c->custom && (!c->custom->rule || !c->custom->name)) return "a custom parametrization needs a name and a rule";
    if ((int)c->depth_rule < 0 || (int)c->depth_rule > (int)UMUP_DEPTH_RULE_COMPLETEP) return "unknown depth rule";
    if (c->depth_mode != UMUP_DEPTH_LAYERS && c->depth_mode != UMUP_DEPTH_2X_LAYERS) return "unknown depth mode";
    if (c->base_width < 0 || c->base_head_size < 0 || c->depth < 0 || c->base_depth < 0)
        return "base_width, base_head_size, depth and base_depth must not be negative";
    if (c->depth == 0) c->depth = 1;
    if (c->base_depth == 0) c->base_depth = c->depth;
    if (c->completep_alpha == 0.0f) c->completep_alpha = 1.0f;
    if (!(c->completep_alpha >= 0.5f && c->completep_alpha <= 1.0f)) return "completep_alpha must lie in [1/2, 1]";
    if (c->sigma_emb == 0.0f) c->sigma_emb = 1.0f;
    if (c->alpha_emb == 0.0f) c->alpha_emb = 1.0f;
    if (c->alpha_out == 0.0f) c->alpha_out = 1.0f;
    if (!(c->sigma_emb > 0.0f && c->sigma_emb < 1e30f) || !(c->alpha_emb > 0.0f && c->alpha_emb < 1e30f) ||
        !(c->alpha_out > 0.0f && c->alpha_out < 1e30f))
        return "sigma_emb, alpha_emb and alpha_out must be finite and > 0";
    /* The tau residual form weights every branch near 1/sqrt(L) and ignores the depth rule's branch
       multiplier: only CompleteP's alpha = 1/2 (Depth-muP) is consistent with it. */
    if (c->depth_rule == UMUP_DEPTH_RULE_COMPLETEP && c->completep_alpha != 0.5f &&
        umup_param_config_info(c)->residual == UMUP_RESIDUAL_TAU)
        return "CompleteP with alpha != 1/2 does not fit the tau residual rule (u-muP), whose branch weights "
               "scale as 1/sqrt(L): use depth_rule Depth-muP, or CompleteP with alpha = 1/2";
    return NULL;
}

static umup_status umup__param_resolve(const umup_param_config *in, umup_param_config *c) {
    return umup__param_resolve_why(in, c) ? UMUP_ERR_INVALID_ARG : UMUP_OK;
}

UMUPDEF const char *umup_param_config_error(const umup_param_config *cfg) {
    umup_param_config c;
    if (!cfg) return "no configuration (NULL)";
    return umup__param_resolve_why(cfg, &c);
}

/* The answer every rule starts from: unit init, multiplier 1, LR factors 1, decoupled decay. */
static umup_tensor_rule umup__rule_base(const umup_tensor_desc *t) {
    umup_tensor_rule r;
    memset(&r, 0, sizeof r);
    r.init_std = t->kind == UMUP_TENSOR_BIAS ? 0.0f : 1.0f;
    r.multiplier = 1.0f;
    r.lr_adam = 1.0f;
    r.lr_sgd = 1.0f;
    r.wd = UMUP_WD_DECOUPLED;
    r.wd_factor = 1.0f;
    r.wd_factor_sgd = 1.0f;
    r.eps_factor = 1.0f;
    return r;
}

static int umup__is_weight(const umup_tensor_desc *t) {
    return t->kind == UMUP_TENSOR_HIDDEN || t->kind == UMUP_TENSOR_EMBEDDING || t->kind == UMUP_TENSOR_READOUT;
}

UMUPDEF umup_status umup_param_rule_sp(const umup_param_config *c, int width, const umup_tensor_desc *t,
                                       umup_tensor_rule *out) {
    /* PyTorch's scales: nn.Embedding N(0, 1) (sigma_emb); linears N(0, 1/fan_in), the variance-
       preserving init (torch's own nn.Linear default, kaiming_uniform_(a = sqrt 5), is U(+-1/sqrt(fan_in)),
       whose std is 1/sqrt(3 fan_in)); one LR for all; AdamW decay on weights, none on biases and norm
       gains (common practice). */
    if (!c || !t || !out) return UMUP_ERR_NULL;
    umup_tensor_rule r = umup__rule_base(t);
    (void)width;
    if (t->kind == UMUP_TENSOR_EMBEDDING) r.init_std = c->sigma_emb;
    else if (t->kind == UMUP_TENSOR_HIDDEN || t->kind == UMUP_TENSOR_READOUT) r.init_std = (float)(1.0 / sqrt((double)t->fan_in));
    if (!umup__is_weight(t)) r.wd = UMUP_WD_NONE;
    *out = r;
    return UMUP_OK;
}

UMUPDEF umup_status umup_param_rule_mup(const umup_param_config *c, int width, const umup_tensor_desc *t,
                                        umup_tensor_rule *out) {
    /* microsoft/mup (commit 1981497), optim.py with decoupled_wd=False (the default). Hidden
       ("matrix-like", two infinite dims): default init std ~ 1/sqrt(fan_in); MuAdam lr /= width_mult,
       weight_decay *= width_mult (so that AdamW's lr*wd stays width independent); MuSGD lr and
       weight_decay by fanin_fanout_mult_ratio (= 1 when both dims scale together: x1). Vector-like
       tensors (embedding, readout, biases, norms: one infinite dim): MuAdam leaves LR and weight
       decay alone; MuSGD lr *= width_mult, weight_decay /= width_mult. MuReadout: forward multiplier
       output_mult / width_mult, weight rescaled once by sqrt(width_mult) (init std
       1/sqrt(base_fan_in)) unless readout_zero_init. The embedding multiplier alpha_emb is the
       examples' input multiplier. At m = 1 everything equals SP. */
    if (!c || !t || !out) return UMUP_ERR_NULL;
    umup_tensor_rule r = umup__rule_base(t);
    double fin = t->fan_in, m = c->base_width > 0 ? (double)width / c->base_width : 1.0; /* width multiplier */
    if (t->kind == UMUP_TENSOR_HIDDEN) {
        r.init_std = (float)(1.0 / sqrt(fin));
        r.lr_adam = (float)(1.0 / m);
        r.wd_factor = (float)m;
    } else { /* vector-like: MuSGD lr x m, wd / m */
        r.lr_sgd = (float)m;
        r.wd_factor_sgd = (float)(1.0 / m);
        if (t->kind == UMUP_TENSOR_EMBEDDING) {
            r.init_std = c->sigma_emb;
            r.multiplier = c->alpha_emb;
        } else if (t->kind == UMUP_TENSOR_READOUT) {
            r.init_std = c->readout_zero_init ? 0.0f : (float)(sqrt(m) / sqrt(fin));
            r.multiplier = (float)(c->alpha_out / m);
        } else {
            r.wd = UMUP_WD_NONE;
        }
    }
    *out = r;
    return UMUP_OK;
}

UMUPDEF umup_status umup_param_rule_umup(const umup_param_config *c, int width, const umup_tensor_desc *t,
                                         umup_tensor_rule *out) {
    /* [GC] unit_scaling (a7b5b3c): unit init everywhere (uu.Linear nn.init.normal_, embedding
       N(0,1)); multipliers are the op scales: linear 1/sqrt(fan_in), linear_readout 1/fan_in,
       embedding 1. optim.lr_scale_func_adam: "weight" -> depth^-1/2 fan_in^-1/2 with fan_in =
       shape[1] (so the embedding [V, d] gets 1/sqrt(d), [P]'s embedding rule); "output" -> 1;
       "bias"/"norm" -> depth^-1/2; depth = mup_scaling_depth (number of layers, set by
       DepthSequential on residual-stack tensors only). lr_scale_func_sgd with the default
       readout constraint None equals the Adam rule. Independent weight decay on everything
       (scaled_parameters(independent_weight_decay=True): weight_decay / param_lr, which AdamW turns
       into lambda x schedule and Adam / SGD into L2 with lambda / param_lr: UMUP_WD_INDEPENDENT). */
    if (!c || !t || !out) return UMUP_ERR_NULL;
    umup_tensor_rule r = umup__rule_base(t);
    double fin = t->fan_in, depth_f = 1.0;
    (void)width;
    if (c->depth_rule == UMUP_DEPTH_RULE_DEFAULT && t->in_residual)
        depth_f = 1.0 / sqrt(c->depth_mode == UMUP_DEPTH_2X_LAYERS ? 2.0 * c->depth : (double)c->depth);
    r.wd = UMUP_WD_INDEPENDENT;
    if (t->kind == UMUP_TENSOR_EMBEDDING) {
        r.lr_adam = (float)(1.0 / sqrt((double)t->fan_out));
    } else if (t->kind == UMUP_TENSOR_HIDDEN) {
        r.multiplier = (float)(1.0 / sqrt(fin));
        r.lr_adam = (float)(depth_f / sqrt(fin));
    } else if (t->kind == UMUP_TENSOR_READOUT) {
        r.multiplier = (float)(1.0 / fin);
    } else {
        r.lr_adam = (float)depth_f;
    }
    r.lr_sgd = r.lr_adam;
    *out = r;
    return UMUP_OK;
}

UMUPDEF umup_status umup_param_rule_mus(const umup_param_config *c, int width, const umup_tensor_desc *t,
                                        umup_tensor_rule *out) {
    /* muS ([muS] arXiv 2502.05967, Table 2): init variance 1 for every weight; output
       multipliers 1 (embedding), 1/sqrt(fan_in) (hidden), 1/fan_in (LM head); Adam-like LR 1,
       1/sqrt(fan_in), 1; norm and embedding LRs constant; weight decay lambda constant and
       fully decoupled (independent of the LR). The paper trains with Lion/AdamW only: no SGD
       rule (lr_sgd NaN). */
    if (!c || !t || !out) return UMUP_ERR_NULL;
    umup_tensor_rule r = umup__rule_base(t);
    double fin = t->fan_in;
    (void)c; (void)width;
    r.wd = UMUP_WD_INDEPENDENT;
    r.lr_sgd = (float)NAN;
    if (t->kind == UMUP_TENSOR_HIDDEN) {
        r.multiplier = (float)(1.0 / sqrt(fin));
        r.lr_adam = (float)(1.0 / sqrt(fin));
    } else if (t->kind == UMUP_TENSOR_READOUT) {
        r.multiplier = (float)(1.0 / fin);
    }
    *out = r;
    return UMUP_OK;
}

/* The spectral rules' common part: every linear (lm_head included) init std
   (1/sqrt(fan_in)) min(1, sqrt(fan_out/fan_in)) ([spectral] Parametrization 1's sigma); embeddings
   std 1 and norms at the global LR; decay on weights only; no SGD rule (lr_sgd NaN); lr_adam of a
   linear = lr_linear. */
static void umup__rule_spectral(const umup_tensor_desc *t, double lr_linear, umup_tensor_rule *out) {
    umup_tensor_rule r = umup__rule_base(t);
    double fin = t->fan_in, fout = t->fan_out;
    r.lr_sgd = (float)NAN;
    if (t->kind == UMUP_TENSOR_HIDDEN || t->kind == UMUP_TENSOR_READOUT) {
        r.init_std = (float)(1.0 / sqrt(fin) * (fout < fin ? sqrt(fout / fin) : 1.0));
        r.lr_adam = (float)lr_linear;
    }
    if (!umup__is_weight(t)) r.wd = UMUP_WD_NONE;
    *out = r;
}

UMUPDEF umup_status umup_param_rule_spectral_nanotron(const umup_param_config *c, int width,
                                                      const umup_tensor_desc *t, umup_tensor_rule *out) {
    /* huggingface/nanotron (2411b022) scaling/parametrization.py, SpectralMupParametrizator: the
       spectral init and AdamW LR lr * fan_out/fan_in on every linear: the spectral paper's SGD rate
       (eta_l ~ n_l / n_(l-1)), applied to AdamW. */
    if (!c || !t || !out) return UMUP_ERR_NULL;
    (void)c; (void)width;
    umup__rule_spectral(t, (double)t->fan_out / t->fan_in, out);
    return UMUP_OK;
}

UMUPDEF umup_status umup_param_rule_spectral_adam(const umup_param_config *c, int width, const umup_tensor_desc *t,
                                                  umup_tensor_rule *out) {
    /* The spectral condition (Yang, Simon, Bernstein 2023, arXiv 2310.17813: ||W|| and ||dW|| of order
       sqrt(fan_out/fan_in)) for Adam: an Adam step changes every entry by about eta, a matrix of
       spectral norm about eta sqrt(fan_in fan_out) for the low-rank updates of a batch, so eta ~ 1/fan_in
       (muP's Adam rule, TP-V Table 3, in absolute form): every linear LR 1/fan_in, the spectral init.
       The embedding (one-hot inputs, outside the condition's ||x|| ~ sqrt(fan_in)) keeps std 1 and the
       global LR, as in nanotron. */
    if (!c || !t || !out) return UMUP_ERR_NULL;
    (void)c; (void)width;
    umup__rule_spectral(t, 1.0 / t->fan_in, out);
    return UMUP_OK;
}

/* Attention logit scales: SP alpha/sqrt(d_head); muP's 1/d_head that equals SP's at the base model
   (mup README: sqrt(d_base)/d_head, d_base the base model's head size; at a fixed head size, the
   demos' setting, d_base = d_head and the scale does not change with width); alpha/d_head for u-muP
   ([GC] sdpa: mult / d_head) and the spectral rules (nanotron). */
static float umup__attn_scale_mup(const umup_param_config *c, int width, int d_head, float a) {
    double d_base = c->base_head_size > 0 ? (double)c->base_head_size : (double)d_head;
    (void)width;
    return (float)(a * sqrt(d_base) / d_head);
}
static float umup__attn_scale_inv_d(const umup_param_config *c, int width, int d_head, float a) {
    (void)c; (void)width;
    return a / (float)d_head;
}

/* ---- the parametrization objects -------------------------------------------------- >>param-info */

/* The built-in parametrizations, indexed by umup_parametrization. default_lr: the tested peak eta
   with AdamW (README, LR sweeps: u-muP 2^-1 as in [P]; muS 2^-2, the best at widths 64 and 256;
   spectral-adam 2^-1, the best at width 256 and within 0.01 nats of the best at 64; the others
   2^-9). default_clip, the global gradient-norm threshold: 1 where gradient norms are O(1)
   at every width (SP, muP, the spectral rules: 0.6 to 14 over widths 64 to 1024 in the first steps); none for
   u-muP, whose unit-scaled gradients have RMS ~1, so their norm grows as the square root of the
   parameter count (300 at width 64, 3,500 to 24,000 at width 1024): a fixed threshold would clip
   every step by a width-dependent factor, which under SGD is a width-dependent LR (clip_rms is the
   width-independent alternative); none for muS, whose norms shrink with width (0.09 to 0.005). */
static const umup_param_info umup__param_table[UMUP_PARAM_COUNT] = {
    {"umup", "u-muP: unit-scaled ops, the tau residual rule, muP learning rates ([GC], [P])",
     umup_param_rule_umup, 1, UMUP_RESIDUAL_TAU, umup__attn_scale_inv_d, 0.5, 0.0, 0.1f},
    {"sp", "standard parametrization (PyTorch defaults)",
     umup_param_rule_sp, 0, UMUP_RESIDUAL_PRE_NORM, NULL, 1.0 / 512, 1.0, 0.1f},
    {"mup", "muP in the microsoft/mup form (base shapes, MuReadout, MuAdam/MuSGD)",
     umup_param_rule_mup, 0, UMUP_RESIDUAL_PRE_NORM, umup__attn_scale_mup, 1.0 / 512, 1.0, 0.1f},
    {"mus", "muS, muNit Scaling: unit-scaled init, Res-Post-LayerNorm ([muS])",
     umup_param_rule_mus, 0, UMUP_RESIDUAL_POST_NORM, NULL, 0.25, 0.0, 0.1f},
    {"spectral-nanotron", "spectral init with the SGD learning rate fan_out/fan_in under Adam, as huggingface/nanotron does",
     umup_param_rule_spectral_nanotron, 0, UMUP_RESIDUAL_PRE_NORM, umup__attn_scale_inv_d, 1.0 / 512, 1.0, 0.1f},
    {"spectral-adam", "spectral init with the spectral condition's Adam learning rate 1/fan_in",
     umup_param_rule_spectral_adam, 0, UMUP_RESIDUAL_PRE_NORM, umup__attn_scale_inv_d, 0.5, 1.0, 0.1f},
};

UMUPDEF const umup_param_info *umup_param_info_of(umup_parametrization p) {
    if ((int)p < 0 || (int)p >= (int)UMUP_PARAM_COUNT) return NULL;
    return &umup__param_table[p];
}

UMUPDEF const umup_param_info *umup_param_config_info(const umup_param_config *cfg) {
    if (!cfg) return NULL;
    return cfg->custom ? cfg->custom : umup_param_info_of(cfg->param);
}

UMUPDEF umup_status umup_param_rule(const umup_param_config *cfg, int width, const umup_tensor_desc *t,
                                    umup_tensor_rule *out) {
    umup_param_config c;
    umup_tensor_rule r;
    umup_status st;
    double mL, m;
    int hidden, in_block;
    if (!cfg || !t || !out) return UMUP_ERR_NULL;
    st = umup__param_resolve(cfg, &c);
    if (st != UMUP_OK) return st;
    if ((int)t->kind < 0 || (int)t->kind > (int)UMUP_TENSOR_NORM) return UMUP_ERR_INVALID_ARG;
    if (t->fan_in < 1 || t->fan_out < 1 || width < 1) return UMUP_ERR_SHAPE;
    st = umup_param_config_info(&c)->rule(&c, width, t, &r);
    if (st != UMUP_OK) return st;
    /* Explicit depth rules (residual-stack tensors only). Depth-muP (TP-VI, Bordelon et al. 2023):
       Adam LR x (L/L0)^-1/2 for the weights, biases and norm gains of the blocks. CompleteP (Dey et al. 2025; EleutherAI nanoGPT-mup
       `completep`): hidden LR x (L/L0)^(alpha-1), norm/bias LR x (L/L0)^(alpha-1), Adam eps x
       m^-1 (L/L0)^-alpha for hidden weights. */
    mL = (double)c.depth / c.base_depth;                        /* depth multiplier L / L0 */
    m = c.base_width > 0 ? (double)width / c.base_width : 1.0;  /* width multiplier */
    hidden = t->kind == UMUP_TENSOR_HIDDEN;
    in_block = t->in_residual && (hidden || t->kind == UMUP_TENSOR_BIAS || t->kind == UMUP_TENSOR_NORM);
    if (in_block && c.depth_rule == UMUP_DEPTH_RULE_DEPTH_MUP) {
        /* every parameter of a block: each changes its branch's output by O(eta) under Adam, and the
           1/sqrt(L) branches sum over L blocks (TP-VI's Depth-muP for Adam; CompleteP at alpha = 1/2) */
        r.lr_adam *= (float)(1.0 / sqrt(mL));
    } else if (in_block && c.depth_rule == UMUP_DEPTH_RULE_COMPLETEP) {
        double a = c.completep_alpha;
        r.lr_adam *= (float)pow(mL, a - 1.0);
        if (hidden) r.eps_factor = (float)(1.0 / m * pow(mL, -a));
    }
    *out = r;
    return UMUP_OK;
}

UMUPDEF float umup_param_branch_multiplier(const umup_param_config *cfg) {
    umup_param_config c;
    double mL;
    if (!cfg || umup__param_resolve(cfg, &c) != UMUP_OK) return 1.0f;
    mL = (double)c.depth / c.base_depth;
    if (c.depth_rule == UMUP_DEPTH_RULE_DEPTH_MUP) return (float)(1.0 / sqrt(mL));
    if (c.depth_rule == UMUP_DEPTH_RULE_COMPLETEP) return (float)pow(mL, -(double)c.completep_alpha);
    return 1.0f;
}

UMUPDEF float umup_param_attention_scale(const umup_param_config *cfg, int width, int d_head, float alpha_attn) {
    umup_param_config c;
    const umup_param_info *pi;
    float a = alpha_attn > 0.0f ? alpha_attn : 1.0f;
    if (!cfg || umup__param_resolve(cfg, &c) != UMUP_OK || width < 1 || d_head < 1) return (float)NAN;
    pi = umup_param_config_info(&c);
    if (pi->attention_scale) return pi->attention_scale(&c, width, d_head, a);
    return (float)(a / sqrt((double)d_head));
}

UMUPDEF const char *umup_param_name(umup_parametrization p) {
    const umup_param_info *pi = umup_param_info_of(p);
    return pi ? pi->name : "?";
}

UMUPDEF umup_status umup_param_parse(const char *name, umup_parametrization *out) {
    int i;
    if (!name || !out) return UMUP_ERR_NULL;
    for (i = 0; i < (int)UMUP_PARAM_COUNT; i++)
        if (strcmp(name, umup__param_table[i].name) == 0) { *out = (umup_parametrization)i; return UMUP_OK; }
    if (strcmp(name, "u-mup") == 0) { *out = UMUP_PARAM_UMUP; return UMUP_OK; }
    if (strcmp(name, "spectral") == 0) { *out = UMUP_PARAM_SPECTRAL_NANOTRON; return UMUP_OK; }
    return UMUP_ERR_INVALID_ARG;
}

/* ---- 8. schedules and optimizers -------------------------------------------------------- >>optim */

UMUPDEF float umup_schedule_value(const umup_schedule *s, long step) {
    double p, r;
    if (!s || step < 0 || s->warmup < 0 || !(s->min_ratio >= 0.0f && s->min_ratio <= 1.0f)) return 1.0f;
    if (step < s->warmup) return (float)((double)(step + 1) / (double)s->warmup);
    if (s->decay == UMUP_SCHED_CONSTANT) return 1.0f;
    p = (double)(step - s->warmup) / (double)(s->total - s->warmup > 1 ? s->total - s->warmup : 1);
    if (p > 1.0) p = 1.0;
    r = s->min_ratio;
    if (s->decay == UMUP_SCHED_COSINE) return (float)(r + (1.0 - r) * 0.5 * (1.0 + cos(UMUP__PI * p)));
    if (s->decay == UMUP_SCHED_LINEAR) return (float)(r + (1.0 - r) * (1.0 - p));
    return 1.0f;
}

/* The optimizers as data. moments: state arrays of n floats; decoupled: the DECOUPLED weight-decay
   rule acts as torch's decoupled decay (AdamW, Lion), else as L2 (Adam, SGD: torch's weight_decay). */
static const struct {
    const char *name;
    int moments;
    double beta1, beta2;
    int decoupled;
} umup__optim_table[UMUP_OPT_COUNT] = {
    {"adamw", 2, 0.9, 0.999, 1},
    {"adam", 2, 0.9, 0.999, 0},
    {"sgd", 1, 0.9, 0.999, 0},
    {"lion", 1, 0.9, 0.99, 1}, /* Chen et al. 2023: beta1 0.9, beta2 0.99 */
};

static int umup__optim_ok(umup_optimizer_kind k) { return (int)k >= 0 && (int)k < (int)UMUP_OPT_COUNT; }

UMUPDEF umup_optim_config umup_optim_config_default(umup_optimizer_kind kind) {
    umup_optim_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.lr = 1e-3;
    c.beta1 = umup__optim_ok(kind) ? umup__optim_table[kind].beta1 : 0.9;
    c.beta2 = umup__optim_ok(kind) ? umup__optim_table[kind].beta2 : 0.999;
    c.eps = 1e-8;
    return c;
}

UMUPDEF umup_optim_config umup_optim_config_for_info(const umup_param_info *info, umup_optimizer_kind kind,
                                                     long total_steps) {
    umup_optim_config c = umup_optim_config_default(kind);
    if (!info) return c;
    c.lr = info->default_lr;
    c.clip_norm = info->default_clip;
    if (kind == UMUP_OPT_SGD) c.momentum = 0.9;
    if (total_steps >= 1) {
        c.schedule.decay = UMUP_SCHED_COSINE;
        c.schedule.warmup = (long)((double)total_steps * info->default_warmup);
        c.schedule.total = total_steps;
        c.schedule.min_ratio = 0.1f;
    }
    return c;
}

UMUPDEF umup_optim_config umup_optim_config_for(umup_parametrization p, umup_optimizer_kind kind, long total_steps) {
    return umup_optim_config_for_info(umup_param_info_of(p), kind, total_steps);
}

UMUPDEF umup_status umup_optim_init(umup_optimizer *opt, const umup_optim_config *cfg) {
    umup_optim_config c, d;
    if (!opt || !cfg) return UMUP_ERR_NULL;
    c = *cfg;
    if (!umup__optim_ok(c.kind)) return UMUP_ERR_INVALID_ARG;
    d = umup_optim_config_default(c.kind);
    if (c.lr == 0.0) c.lr = d.lr;
    if (c.beta1 == 0.0) c.beta1 = d.beta1;
    if (c.beta2 == 0.0) c.beta2 = d.beta2;
    if (c.eps == 0.0) c.eps = d.eps;
    if (!(c.lr > 0.0 && c.lr < 1e30)) return UMUP_ERR_INVALID_ARG;
    if (!(c.beta1 >= 0.0 && c.beta1 < 1.0) || !(c.beta2 >= 0.0 && c.beta2 < 1.0)) return UMUP_ERR_INVALID_ARG;
    if (!(c.eps >= 0.0 && c.eps < 1.0) || !(c.momentum >= 0.0 && c.momentum < 1.0)) return UMUP_ERR_INVALID_ARG;
    if (!(c.weight_decay >= 0.0 && c.weight_decay < 1e30) || !(c.clip_norm >= 0.0 && c.clip_norm < 1e30) ||
        !(c.clip_rms >= 0.0 && c.clip_rms < 1e30))
        return UMUP_ERR_INVALID_ARG;
    if ((int)c.schedule.decay < 0 || (int)c.schedule.decay > (int)UMUP_SCHED_LINEAR || c.schedule.warmup < 0 ||
        c.schedule.total < 0 || !(c.schedule.min_ratio >= 0.0f && c.schedule.min_ratio <= 1.0f))
        return UMUP_ERR_INVALID_ARG;
    opt->cfg = c;
    opt->step = 0;
    opt->last_grad_norm = 0.0;
    return UMUP_OK;
}

UMUPDEF size_t umup_optim_state_size(umup_optimizer_kind kind, size_t n) {
    size_t r;
    if (!umup__optim_ok(kind)) return 0;
    return umup__size_mul(&r, n, (size_t)umup__optim_table[kind].moments) ? r : (size_t)-1;
}

UMUPDEF int umup_optim_wd_decoupled(umup_optimizer_kind kind) {
    return umup__optim_ok(kind) ? umup__optim_table[kind].decoupled : 0;
}

UMUPDEF int umup_optim_moments(const umup_optim_config *cfg) {
    if (!cfg || !umup__optim_ok(cfg->kind)) return 0;
    if (cfg->kind == UMUP_OPT_SGD && cfg->momentum == 0.0) return 0;
    return umup__optim_table[cfg->kind].moments;
}

/* The per-element update of SGD and Lion on theta *th with the (clipped, decayed) gradient gv; m is
   its state entry (state[i]). Adam and AdamW: umup__adam_one / umup__adam_group. */
static void umup__optim_update(const umup_optim_config *c, long step, double lr_g, double gv, double *th, float *m) {
    switch (c->kind) {
    case UMUP_OPT_SGD: /* buf = momentum buf + g (g on the first step); th -= lr (nesterov ? g + momentum buf : buf) */
        if (c->momentum > 0.0) {
            double bv = step == 0 ? gv : c->momentum * (double)*m + gv;
            *m = (float)bv;
            gv = c->nesterov ? gv + c->momentum * bv : bv;
        }
        *th -= lr_g * gv;
        break;
    case UMUP_OPT_LION: { /* Lion (Chen et al. 2023): th -= lr sign(b1 m + (1-b1) g); m = b2 m + (1-b2) g */
        double u = c->beta1 * (double)*m + (1.0 - c->beta1) * gv;
        *th -= lr_g * (u > 0 ? 1.0 : u < 0 ? -1.0 : 0.0);
        *m = (float)(c->beta2 * (double)*m + (1.0 - c->beta2) * gv);
        break;
    }
    default: break;
    }
}

/* sum of x[i]^2 over i < n in double: blocks of 4096 elements, each summed by 8 interleaved partial
   sums (combined in a fixed order), and the block sums added in order, 64 blocks computed at a time in
   parallel. The order depends on n only, so the value is the same for any thread count. */
static double umup__sum_squares(const float *x, size_t n) {
    double total = 0.0;
    size_t b0, nb = (n + 4095) / 4096;
    for (b0 = 0; b0 < nb; b0 += 64) {
        double part[64];
        long b, cnt = (long)(nb - b0 < 64 ? nb - b0 : 64);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (cnt > 1 && n > 65536)
#endif
        for (b = 0; b < cnt; b++) {
            size_t i0 = (b0 + (size_t)b) * 4096, i1 = n - i0 < 4096 ? n : i0 + 4096, i;
            double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            int l;
            for (i = i0; i + 8 <= i1; i += 8)
                for (l = 0; l < 8; l++) acc[l] += (double)x[i + (size_t)l] * (double)x[i + (size_t)l];
            for (l = 0; i < i1; i++, l++) acc[l] += (double)x[i] * (double)x[i];
            part[b] = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        }
        for (b = 0; b < cnt; b++) total += part[b];
    }
    return total;
}

/* The Adam / AdamW update of element i (m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
   th -= lr mhat / (sqrt(vhat) + eps)), with the weight decay folded in. wd_mode: 0 none, 1 decoupled and 2 independent (th -= wd_a th), 3 coupled (g += wd_a p). */
static void umup__adam_one(double b1, double b2, double lr_g, double eps, double bc1, double bc2, double clip,
                           int wd_mode, double wd_a, float *p, const float *gr, float *mo, float *vo, size_t i) {
    double gv = gr[i] * clip, th = p[i], mv, vv;
    if (wd_mode == 1 || wd_mode == 2) th -= wd_a * th;
    else if (wd_mode == 3) gv += wd_a * p[i];
    mv = b1 * (double)mo[i] + (1.0 - b1) * gv;
    vv = b2 * (double)vo[i] + (1.0 - b2) * gv * gv;
    mo[i] = (float)mv;
    vo[i] = (float)vv;
    th -= lr_g * (mv / bc1) / (sqrt(vv / bc2) + eps);
    p[i] = (float)th;
}

/* One group's Adam / AdamW update, without a per-element switch. With AVX-512 eight elements at a
   time in double, the same operations in the same order as umup__adam_one (each correctly rounded,
   no fused multiply-add), so the result is bitwise the scalar one; compilers do not vectorise the
   scalar loop themselves, as sqrt may set errno. */
static void umup__adam_group(const umup_optim_config *c, double lr_g, double eps, double bc1, double bc2, double clip,
                             int wd_mode, double wd_a, float *p, const float *gr, float *mo, float *vo, size_t n) {
    const double b1 = c->beta1, b2 = c->beta2;
    long i;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n > 65536)
#endif
    for (i = 0; i < (long)n; i += 8) {
        size_t e = (size_t)i, end = n - e < 8 ? n : e + 8;
#if defined(__AVX512F__)
        if (end == e + 8) { /* (masked forms with all lanes set: GCC 12 warns about the plain ones' undefined source) */
            const __mmask8 all = (__mmask8)0xFF;
            const __m512d vb1 = _mm512_set1_pd(b1), vb2 = _mm512_set1_pd(b2), o1 = _mm512_set1_pd(1.0 - b1),
                          o2 = _mm512_set1_pd(1.0 - b2), wa = _mm512_set1_pd(wd_a);
            __m512d gv = _mm512_mul_pd(_mm512_maskz_cvtps_pd(all, _mm256_loadu_ps(gr + e)), _mm512_set1_pd(clip));
            __m512d th = _mm512_maskz_cvtps_pd(all, _mm256_loadu_ps(p + e)), mv, vv, den;
            if (wd_mode == 1 || wd_mode == 2) th = _mm512_sub_pd(th, _mm512_mul_pd(wa, th));
            else if (wd_mode == 3) gv = _mm512_add_pd(gv, _mm512_mul_pd(wa, th));
            mv = _mm512_add_pd(_mm512_mul_pd(vb1, _mm512_maskz_cvtps_pd(all, _mm256_loadu_ps(mo + e))), _mm512_mul_pd(o1, gv));
            vv = _mm512_add_pd(_mm512_mul_pd(vb2, _mm512_maskz_cvtps_pd(all, _mm256_loadu_ps(vo + e))),
                               _mm512_mul_pd(_mm512_mul_pd(o2, gv), gv));
            _mm256_storeu_ps(mo + e, _mm512_maskz_cvtpd_ps(all, mv));
            _mm256_storeu_ps(vo + e, _mm512_maskz_cvtpd_ps(all, vv));
            den = _mm512_add_pd(_mm512_maskz_sqrt_pd(all, _mm512_div_pd(vv, _mm512_set1_pd(bc2))), _mm512_set1_pd(eps));
            th = _mm512_sub_pd(th, _mm512_div_pd(_mm512_mul_pd(_mm512_set1_pd(lr_g), _mm512_div_pd(mv, _mm512_set1_pd(bc1))), den));
            _mm256_storeu_ps(p + e, _mm512_maskz_cvtpd_ps(all, th));
            continue;
        }
#endif
        for (; e < end; e++) umup__adam_one(b1, b2, lr_g, eps, bc1, bc2, clip, wd_mode, wd_a, p, gr, mo, vo, e);
    }
}

UMUPDEF umup_status umup_optim_step(umup_optimizer *opt, float *params, const float *grads, float *state,
                                    size_t n_params, const umup_param_group *groups, int n_groups) {
    const umup_optim_config *c;
    double norm2 = 0.0, norm, clip = 1.0, bc1 = 1.0, bc2 = 1.0, lr_t, sched, count = 0.0;
    int gi;
    if (!opt || !groups || (n_params && (!params || !grads || !state))) return UMUP_ERR_NULL;
    if (n_groups < 0) return UMUP_ERR_SHAPE;
    if (n_params) { /* params, grads and state arrays that can exist */
        size_t ns = umup_optim_state_size(opt->cfg.kind, n_params);
        if (ns == (size_t)-1 || !umup__buf_ok(sizeof(float), n_params, 1, 1) || !umup__buf_ok(sizeof(float), ns, 1, 1))
            return UMUP_ERR_SHAPE;
    }
    c = &opt->cfg;
    for (gi = 0; gi < n_groups; gi++) {
        const umup_param_group *g = &groups[gi];
        if (g->offset > n_params || g->size > n_params - g->offset) return UMUP_ERR_SHAPE;
        if (!(g->lr_factor >= 0.0f && g->lr_factor < 1e30f) || !(g->wd_factor >= 0.0f && g->wd_factor < 1e30f) ||
            !(g->eps_factor >= 0.0f && g->eps_factor < 1e30f) || (int)g->wd < 0 || (int)g->wd > (int)UMUP_WD_COUPLED)
            return UMUP_ERR_INVALID_ARG;
        norm2 += umup__sum_squares(grads + g->offset, g->size);
        count += (double)g->size;
    }
    norm = sqrt(norm2);
    if (!(norm < 1e300)) return UMUP_ERR_NONFINITE;
    if (c->clip_norm > 0.0 && norm > c->clip_norm) clip = c->clip_norm / norm;
    if (c->clip_rms > 0.0 && count > 0.0 && norm / sqrt(count) > c->clip_rms && c->clip_rms * sqrt(count) / norm < clip)
        clip = c->clip_rms * sqrt(count) / norm; /* RMS = norm / sqrt(count) */
    sched = umup_schedule_value(&c->schedule, opt->step);
    lr_t = c->lr * sched;
    if (c->kind == UMUP_OPT_ADAM || c->kind == UMUP_OPT_ADAMW) {
        bc1 = 1.0 - pow(c->beta1, (double)(opt->step + 1));
        bc2 = 1.0 - pow(c->beta2, (double)(opt->step + 1));
    }
    for (gi = 0; gi < n_groups; gi++) {
        const umup_param_group *g = &groups[gi];
        float *p = params + g->offset;
        const float *gr = grads + g->offset;
        double lr_g = lr_t * g->lr_factor, lam = c->weight_decay * g->wd_factor;
        double eps = c->eps * (g->eps_factor > 0.0f ? g->eps_factor : 1.0f);
        umup_wd_rule wd = g->wd;
        size_t n = g->size;
        long i;
        if (!umup__optim_table[c->kind].decoupled && wd == UMUP_WD_DECOUPLED) wd = UMUP_WD_COUPLED;
        if (!umup__optim_table[c->kind].decoupled && wd == UMUP_WD_INDEPENDENT) {
            /* [GC] scaled_parameters: weight_decay / param_lr (the peak LR of the group), which torch's
               Adam and SGD apply as L2; a frozen group (lr_factor 0) decays not at all */
            wd = UMUP_WD_COUPLED;
            lam = g->lr_factor > 0.0f ? lam / (c->lr * g->lr_factor) : 0.0;
        }
        if (c->kind == UMUP_OPT_ADAM || c->kind == UMUP_OPT_ADAMW) { /* the common case, vectorised */
            int mode = !(lam > 0.0) ? 0 : wd == UMUP_WD_DECOUPLED ? 1 : wd == UMUP_WD_INDEPENDENT ? 2 : wd == UMUP_WD_COUPLED ? 3 : 0;
            double a = mode == 1 ? lr_g * lam : mode == 2 ? lam * sched : lam;
            umup__adam_group(c, lr_g, eps, bc1, bc2, clip, mode, a, p, gr, state + g->offset, state + n_params + g->offset, n);
            continue;
        }
        /* elementwise: the same result whatever the thread count */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n > 65536)
#endif
        for (i = 0; i < (long)n; i++) {
            double gv = gr[i] * clip, th = p[i];
            if (lam > 0.0) {
                if (wd == UMUP_WD_DECOUPLED) th -= lr_g * lam * th;
                else if (wd == UMUP_WD_INDEPENDENT) th -= lam * sched * th;
                else if (wd == UMUP_WD_COUPLED) gv += lam * p[i];
            }
            umup__optim_update(c, opt->step, lr_g, gv, &th, state + g->offset + i);
            p[i] = (float)th;
        }
    }
    opt->step += 1;
    opt->last_grad_norm = norm;
    return UMUP_OK;
}

UMUPDEF const char *umup_optim_name(umup_optimizer_kind kind) {
    return umup__optim_ok(kind) ? umup__optim_table[kind].name : "?";
}

UMUPDEF umup_status umup_optim_parse(const char *name, umup_optimizer_kind *out) {
    int i;
    if (!name || !out) return UMUP_ERR_NULL;
    for (i = 0; i < (int)UMUP_OPT_COUNT; i++)
        if (strcmp(name, umup__optim_table[i].name) == 0) { *out = (umup_optimizer_kind)i; return UMUP_OK; }
    return UMUP_ERR_INVALID_ARG;
}

#ifndef UMUP_NO_TRAINER /* sections 9-11 */
#include <stdio.h> /* snprintf and file I/O; the library never prints */
#include <stdarg.h>
#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <time.h>

/* Checkpoint files use POSIX where there is one (see umup_trainer_save): only calls that every
 * POSIX.1 declares under any feature macros, and readlink, declared here where glibc hides it (a
 * strict -std=c99 with no _POSIX_C_SOURCE); O_NOFOLLOW and O_CLOEXEC where they are visible. */
#if !defined(UMUP_NO_POSIX) && (defined(__unix__) || defined(__unix) || (defined(__APPLE__) && defined(__MACH__)))
#define UMUP__POSIX 1
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#if !defined(__cplusplus) && defined(__GLIBC__) && !defined(__USE_XOPEN2K) && !defined(__USE_XOPEN_EXTENDED)
extern ssize_t readlink(const char *path, char *buf, size_t size);
#endif
#ifdef O_NOFOLLOW
#define UMUP__O_NOFOLLOW O_NOFOLLOW
#else
#define UMUP__O_NOFOLLOW 0 /* only a safeguard: temporaries are created with O_EXCL, which never follows a link */
#endif
#ifdef O_CLOEXEC
#define UMUP__O_CLOEXEC O_CLOEXEC
#else
#define UMUP__O_CLOEXEC 0
#endif
#else
#define UMUP__POSIX 0
#endif

/* ============================================================================================ */
/* 9. The model (implementation)                                                       >>model */
/* ============================================================================================ */

#define UMUP__TRY(x) do { umup_status umup__st_ = (x); if (umup__st_ != UMUP_OK) return umup__st_; } while (0)

/* The weights a layer can have, in checkpoint order, with their roles and the constraint their
 * unit-scaled linear uses ([GC] TransformerLayer: the attention linears to_output_scale, the MLP
 * linears unconstrained). Shapes [rows, cols] = [out, in]: qkv [3d, d], o [d, d], 1 and gate [hd, d],
 * 2 [d, hd]. A SwiGLU layer has all five, a GELU layer all but the gate (m->slot maps a kind to its
 * position among the layer's tensors, -1 when absent). */
enum { UMUP__T_QKV = 0, UMUP__T_O, UMUP__T_1, UMUP__T_GATE, UMUP__T_2, UMUP__T_KINDS };
static const struct {
    const char *name;
    umup_tensor_role role;
    umup_constraint unit_constraint;
} umup__layer_tensor[UMUP__T_KINDS] = {
    {"mhsa.linear_qkv", UMUP_ROLE_QKV, UMUP_CONSTRAINT_TO_OUTPUT_SCALE},
    {"mhsa.linear_o", UMUP_ROLE_ATTN_OUT, UMUP_CONSTRAINT_TO_OUTPUT_SCALE},
    {"mlp.linear_1", UMUP_ROLE_MLP_UP, UMUP_CONSTRAINT_NONE},
    {"mlp.linear_gate", UMUP_ROLE_MLP_GATE, UMUP_CONSTRAINT_NONE},
    {"mlp.linear_2", UMUP_ROLE_MLP_DOWN, UMUP_CONSTRAINT_NONE},
};

/* The FP8 simulation schemes as data: which roles each one casts (bit r for role r). */
#define UMUP__ROLE(r) (1u << (unsigned)(r))
static const unsigned umup__fp8_scheme_roles[UMUP_FP8_SIM_UMUP + 1] = {
    0u,                                                                            /* NONE */
    UMUP__ROLE(UMUP_ROLE_QKV) | UMUP__ROLE(UMUP_ROLE_ATTN_OUT) | UMUP__ROLE(UMUP_ROLE_MLP_UP) |
        UMUP__ROLE(UMUP_ROLE_MLP_GATE) | UMUP__ROLE(UMUP_ROLE_MLP_DOWN),           /* ALL: every hidden linear */
    UMUP__ROLE(UMUP_ROLE_QKV) | UMUP__ROLE(UMUP_ROLE_MLP_UP) | UMUP__ROLE(UMUP_ROLE_MLP_GATE), /* UMUP ([P] sec. 5) */
};
#undef UMUP__ROLE

/* Activations of one layer for a batch of N = B T rows (d = width, hd = MLP hidden size,
 * H heads of D = d / H). */
typedef struct {
    float *ln1;     /* [N, d]       attention branch input in(h): norm(h), or h (post-norm form) */
    float *qkv;     /* [N, 3d]      linear_qkv output */
    float *q, *k, *v; /* [B, H, T, D] each, heads split out (RoPE applied); only with rope or
                       fp8_attention (else NULL: the attention reads the qkv rows) */
    float *lse;     /* [B, H, T]    per query row, log sum exp of the attention logits (flash sdpa) */
    float *ah;      /* attention output: [N, d] rows, or [B, H, T, D] per head with rope or fp8_attention */
    float *a;       /* [N, d]       linear_o's input (heads concatenated): a copy of ah, or NULL when
                       linear_o reads ah itself (see umup__attn_o_input) */
    float *ao;      /* [N, d]       linear_o output: the attention branch (dropout applied in training) */
    float *aon;     /* [N, d]       post-norm form: norm(ao), what joins the stream */
    float *hmid;    /* [N, d]       residual stream after the attention branch */
    float *ln2;     /* [N, d]       MLP branch input in(hmid) */
    float *u1, *ug; /* [N, hd]      linear_1 and linear_gate outputs (ug unused by a GELU MLP) */
    float *g;       /* [N, hd]      silu_glu (or gelu) output */
    float *mo;      /* [N, d]       linear_2 output: the MLP branch */
    float *mon;     /* [N, d]       post-norm form: norm(mo) */
    float *hout;    /* [N, d]       residual stream after the layer */
} umup__layer_acts;

struct umup_model {
    umup_model_config cfg;          /* resolved */
    const umup_param_info *pinfo;   /* the parametrization: the model asks it, never tests which it is */
    int V, d, L, H, D, hd, maxB, maxT;
    int n_tensors;
    int tpl;                        /* tensors per layer: 5 (SwiGLU) or 4 (GELU) */
    int slot[UMUP__T_KINDS];        /* position of each kind among a layer's tensors, -1 when absent */
    int kind_at[UMUP__T_KINDS];     /* the kind at each position (tpl of them) */
    umup_tensor_info *tensors;      /* [n_tensors]: embedding, tpl per layer, readout */
    float *params, *grads;          /* [n_params] each */
    size_t n_params;
    float *acts;                    /* one allocation for every activation and backward temporary */
    size_t n_acts;
    double *taus;                   /* [2L] residual taus (TAU form) */
    double res_skip, res_branch;    /* residual_sum weights (PRE_NORM and POST_NORM forms) */
    float attn_scale;               /* attention logit scale */
    uint64_t epoch;                 /* weight epoch of the GEMM hints: bumped when parameters may change */
    int32_t *ids, *targets;         /* [maxB, maxT] copies of the last batch */
    int B, T, has_targets, training;
    long step;
    int row0, total_rows;           /* the last batch as a shard: its first row and the whole batch's rows */
    long total_counted;             /* counted targets of the whole batch */
    /* activations */
    float *h0;                      /* [N, d] embedding output */
    umup__layer_acts *layer;        /* [L] */
    float *lnf;                     /* [N, d] final norm */
    float *logits;                  /* [N, V] */
    /* backward temporaries */
    float *dh, *dh2;                /* [N, d] gradient at the residual stream (two: res backward reads one, writes the other) */
    float *dr, *dtmp, *dxin;        /* [N, d] branch input gradient, branch output gradient, in() output gradient */
    float *dqkv;                    /* [N, 3d] */
    float *dq, *dk, *dv, *dah;      /* [B, H, T, D]: only with rope or fp8_attention (else NULL) */
    float *da;                      /* [N, d] */
    float *du1, *dug, *dg;          /* [N, hd] */
    float *dlogits;                 /* [N, V] */
    float *fp8_x, *fp8_w, *fp8_dy;  /* FP8 simulation scratch: [N, max in], [largest weight], [N, max out] */
    int record, n_stats, max_stats; /* tensor statistics (umup_model_record_stats) */
    umup_tensor_stats *stats;       /* [max_stats] */
    umup_grad_hook grad_hook;       /* umup_model_set_grad_hook: told when a tensor's gradient is complete */
    void *grad_hook_ctx;
};

UMUPDEF umup_model_config umup_model_config_default(void) {
    umup_model_config c;
    memset(&c, 0, sizeof c);
    c.vocab = 256;
    c.width = 64;
    c.layers = 2;
    c.head_size = 32;
    c.heads = 2;
    c.max_seq = 256;
    c.mlp_expansion = 4;
    c.norm = UMUP_NORM_RMS;
    c.param = umup_param_config_default();
    c.param.depth = 2;
    c.param.base_depth = 2;
    c.alpha_attn = c.alpha_ffn_act = c.alpha_res = c.alpha_res_attn_ratio = c.alpha_loss_softmax = 1.0f;
    c.fp8 = UMUP_FP8_SIM_NONE;
    c.fp8_rounding = UMUP_FP8_RNE;
    c.fp8_format_fwd = UMUP_FP8_E4M3;
    c.fp8_format_bwd = UMUP_FP8_E5M2;
    return c;
}

UMUPDEF void umup_model_config_mus(umup_model_config *c) {
    if (!c) return;
    c->param.param = UMUP_PARAM_MUS;
    c->mlp = UMUP_MLP_GELU;
    c->norm = UMUP_NORM_LAYER;
}

/* [muS] App. A.3: the residual weight tau by depth. Only the rows the paper's text gives: 0.4 for the
   4-layer models of its width-transfer experiments (Fig. 9 shows tau* falling with depth between 20
   and 100 layers; add those rows here, in increasing depth, with the paper's values). */
static const struct { int layers; float tau; } umup__mus_tau_table[] = {
    {4, 0.4f},
};

UMUPDEF float umup_mus_tau(int layers) {
    int i, n = (int)(sizeof umup__mus_tau_table / sizeof umup__mus_tau_table[0]), best = 0;
    for (i = 1; i < n; i++) {
        long db = (long)umup__mus_tau_table[best].layers - (long)layers, di = (long)umup__mus_tau_table[i].layers - (long)layers;
        if ((di < 0 ? -di : di) < (db < 0 ? -db : db)) best = i;
    }
    return umup__mus_tau_table[best].tau;
}

UMUPDEF umup_status umup_next_token_targets(int32_t *targets, const int32_t *ids, int B, int T) {
    int b, t;
    if (!targets || !ids) return UMUP_ERR_NULL;
    if (B < 1 || T < 1 || !umup__buf_ok(sizeof(int32_t), (size_t)B, (size_t)T, 1)) return UMUP_ERR_SHAPE;
    for (b = 0; b < B; b++) {
        const int32_t *row = ids + (size_t)b * (size_t)T;
        int32_t *tg = targets + (size_t)b * (size_t)T;
        for (t = 0; t + 1 < T; t++) tg[t] = row[t + 1];
        tg[T - 1] = -1;
    }
    return UMUP_OK;
}

static umup_status umup__model_resolve(const umup_model_config *in, umup_model_config *c) {
    float *al[5];
    int i;
    *c = *in;
    if (c->vocab == 0) c->vocab = 256;
    if (c->width == 0) c->width = 64;
    if (c->layers == 0) c->layers = 2;
    if (c->max_seq == 0) c->max_seq = 256;
    if (c->mlp_expansion == 0) c->mlp_expansion = 4;
    if (c->heads == 0 && c->head_size == 0) c->head_size = c->width % 32 == 0 ? 32 : c->width;
    if (c->vocab < 2 || c->width < 1 || c->layers < 1 || c->max_seq < 1 || c->mlp_expansion < 1 || c->heads < 0 ||
        c->head_size < 0)
        return UMUP_ERR_SHAPE;
    if (c->heads == 0) {
        if (c->width % c->head_size) return UMUP_ERR_SHAPE;
        c->heads = c->width / c->head_size;
    }
    if (c->width % c->heads) return UMUP_ERR_SHAPE;
    c->head_size = c->width / c->heads;
    if ((int)c->norm < 0 || (int)c->norm > (int)UMUP_NORM_LAYER) return UMUP_ERR_INVALID_ARG;
    if ((int)c->mlp < 0 || (int)c->mlp > (int)UMUP_MLP_GELU) return UMUP_ERR_INVALID_ARG;
    if (!(c->sdpa_scale >= 0.0f && c->sdpa_scale < 1e30f) || c->fp8_attention < 0 || c->fp8_attention > 1)
        return UMUP_ERR_INVALID_ARG;
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f) || c->rope < 0 || c->rope > 1) return UMUP_ERR_INVALID_ARG;
    if (c->rope && c->head_size % 2) return UMUP_ERR_SHAPE;
    if ((int)c->fp8 < 0 || (int)c->fp8 > (int)UMUP_FP8_SIM_UMUP) return UMUP_ERR_INVALID_ARG;
    if (c->fp8_rounding != UMUP_FP8_RNE && c->fp8_rounding != UMUP_FP8_SR && c->fp8_rounding != UMUP_FP8_SR16)
        return UMUP_ERR_INVALID_ARG;
    if (!c->fp8_custom_formats) {
        c->fp8_format_fwd = UMUP_FP8_E4M3;
        c->fp8_format_bwd = UMUP_FP8_E5M2;
    } else if (c->fp8_custom_formats != 1 || !(umup_fp8_max(c->fp8_format_fwd) > 0.0f) ||
               !(umup_fp8_max(c->fp8_format_bwd) > 0.0f)) {
        return UMUP_ERR_INVALID_ARG;
    }
    al[0] = &c->alpha_attn; al[1] = &c->alpha_ffn_act; al[2] = &c->alpha_res; al[3] = &c->alpha_res_attn_ratio;
    al[4] = &c->alpha_loss_softmax;
    for (i = 0; i < 5; i++) {
        if (*al[i] == 0.0f) *al[i] = 1.0f;
        if (!(*al[i] > 0.0f && *al[i] < 1e30f)) return UMUP_ERR_INVALID_ARG;
    }
    c->param.depth = c->layers;
    if (c->mus_tau == 0.0f) c->mus_tau = umup_mus_tau(c->layers);
    if (!(c->mus_tau > 0.0f && c->mus_tau < 1.0f)) return UMUP_ERR_INVALID_ARG;
    {   /* the parametrization itself (enums, custom object) */
        umup_param_config pc;
        UMUP__TRY(umup__param_resolve(&c->param, &pc));
    }
    return UMUP_OK;
}

static void umup__randn_fill(float *x, size_t n, float std, uint64_t seed, uint64_t counter) {
    size_t i;
    for (i = 0; i < n; i++) {
        double u1 = (umup_rng_u32(seed, counter + 2 * i) + 1.0) / 4294967297.0;
        double u2 = umup_rng_u32(seed, counter + 2 * i + 1) / 4294967296.0;
        x[i] = (float)(std * sqrt(-2.0 * log(u1)) * cos(2.0 * UMUP__PI * u2));
    }
}

/* The tensor table, in checkpoint order, with the reference names, torch layouts, the
 * parametrization's rules and the FP8 policy of the configured scheme. Sets n_params. */
static umup_status umup__model_tensors(umup_model *m) {
    const umup_model_config *c = &m->cfg;
    size_t off = 0;
    int t;
    for (t = 0; t < m->n_tensors; t++) {
        umup_tensor_info *ti = &m->tensors[t];
        umup_tensor_desc desc;
        memset(ti, 0, sizeof *ti);
        ti->layer = -1;
        if (t == 0) {
            snprintf(ti->name, sizeof ti->name, "embedding.weight");
            ti->rows = m->V; ti->cols = m->d; ti->kind = UMUP_TENSOR_EMBEDDING; ti->role = UMUP_ROLE_EMBEDDING;
            desc.fan_in = m->V; desc.fan_out = m->d;
        } else if (t == m->n_tensors - 1) {
            snprintf(ti->name, sizeof ti->name, "projection.weight");
            ti->rows = m->V; ti->cols = m->d; ti->kind = UMUP_TENSOR_READOUT; ti->role = UMUP_ROLE_READOUT;
            desc.fan_in = m->d; desc.fan_out = m->V;
        } else {
            int li = (t - 1) / m->tpl, k = m->kind_at[(t - 1) % m->tpl];
            snprintf(ti->name, sizeof ti->name, "layers.%d.%s.weight", li, umup__layer_tensor[k].name);
            ti->role = umup__layer_tensor[k].role;
            ti->rows = k == UMUP__T_QKV ? 3 * m->d : (k == UMUP__T_1 || k == UMUP__T_GATE) ? m->hd : m->d;
            ti->cols = k == UMUP__T_2 ? m->hd : m->d;
            ti->kind = UMUP_TENSOR_HIDDEN;
            ti->in_residual = 1;
            ti->layer = li;
            desc.fan_in = ti->cols; desc.fan_out = ti->rows;
        }
        desc.kind = ti->kind;
        desc.in_residual = ti->in_residual;
        UMUP__TRY(umup_param_rule(&c->param, m->d, &desc, &ti->rule));
        ti->fp8.cast = (umup__fp8_scheme_roles[c->fp8] >> (unsigned)ti->role) & 1u;
        ti->fp8.fwd = c->fp8_format_fwd;
        ti->fp8.bwd = c->fp8_format_bwd;
        ti->fp8.rounding = c->fp8_rounding;
        ti->offset = off;
        if (!umup__size_mul(&ti->size, (size_t)ti->rows, (size_t)ti->cols) || !umup__size_add(&off, off, ti->size))
            return UMUP_ERR_NOMEM; /* the parameter count does not fit in memory */
    }
    m->n_params = off;
    return UMUP_OK;
}

/* Carving the activation block: a running offset with sticky overflow, run once to count (base
 * NULL) and once to hand out the views, so the count and the carve are the same list. */
typedef struct { float *base; size_t off; int overflow; } umup__carver;
static size_t umup__cv_mul(umup__carver *cv, size_t a, size_t b) {
    size_t r = 0;
    if (!umup__size_mul(&r, a, b)) cv->overflow = 1;
    return r;
}
static void umup__cv_take(umup__carver *cv, float **dst, size_t n) { /* n = 0: a buffer this model never uses */
    if (cv->base) *dst = n ? cv->base + cv->off : NULL;
    if (!umup__size_add(&cv->off, cv->off, n)) cv->overflow = 1;
}

static int umup__tidx(const umup_model *m, int l, int k);
static int umup__attn_in_rows(const umup_model *m);

/* Every activation and backward temporary for max_batch x max_seq tokens; returns the float count
 * in cv->off (cv->overflow when it does not fit). */
static void umup__model_carve(umup_model *m, umup__carver *cv) {
    size_t N = umup__cv_mul(cv, (size_t)m->maxB, (size_t)m->maxT), d = (size_t)m->d, hd = (size_t)m->hd;
    size_t Nd = umup__cv_mul(cv, N, d), Nhd = umup__cv_mul(cv, N, hd), N3d = umup__cv_mul(cv, Nd, 3);
    size_t NV = umup__cv_mul(cv, N, (size_t)m->V);
    size_t lse = umup__cv_mul(cv, (size_t)m->maxB * (size_t)m->H, (size_t)m->maxT);
    size_t wmax = 0, xmax = 0, ymax = 0;
    umup__layer_acts dummy;
    int l, t, heads = !umup__attn_in_rows(m); /* the [B, H, T, D] copies (see umup__attention_fwd) */
    for (t = 0; t < m->n_tensors; t++) { /* the FP8 scratch fits the largest linear */
        const umup_tensor_info *ti = &m->tensors[t];
        if (ti->role == UMUP_ROLE_EMBEDDING) continue;
        if (ti->size > wmax) wmax = ti->size;
        if ((size_t)ti->cols > xmax) xmax = (size_t)ti->cols;
        if ((size_t)ti->rows > ymax) ymax = (size_t)ti->rows;
    }
    cv->off = 0;
    umup__cv_take(cv, &m->h0, Nd);
    for (l = 0; l < m->L; l++) {
        umup__layer_acts *A = m->layer ? &m->layer[l] : &dummy;
        umup__cv_take(cv, &A->ln1, Nd); umup__cv_take(cv, &A->qkv, N3d);
        umup__cv_take(cv, &A->q, heads ? Nd : 0); umup__cv_take(cv, &A->k, heads ? Nd : 0);
        umup__cv_take(cv, &A->v, heads ? Nd : 0);
        umup__cv_take(cv, &A->lse, lse); umup__cv_take(cv, &A->ah, Nd);
        umup__cv_take(cv, &A->a, heads || m->tensors[umup__tidx(m, l, UMUP__T_O)].fp8.cast ? Nd : 0);
        umup__cv_take(cv, &A->ao, Nd); umup__cv_take(cv, &A->aon, Nd); umup__cv_take(cv, &A->hmid, Nd);
        umup__cv_take(cv, &A->ln2, Nd); umup__cv_take(cv, &A->u1, Nhd); umup__cv_take(cv, &A->ug, Nhd);
        umup__cv_take(cv, &A->g, Nhd); umup__cv_take(cv, &A->mo, Nd); umup__cv_take(cv, &A->mon, Nd);
        umup__cv_take(cv, &A->hout, Nd);
    }
    umup__cv_take(cv, &m->lnf, Nd); umup__cv_take(cv, &m->logits, NV);
    umup__cv_take(cv, &m->dh, Nd); umup__cv_take(cv, &m->dh2, Nd); umup__cv_take(cv, &m->dr, Nd);
    umup__cv_take(cv, &m->dtmp, Nd); umup__cv_take(cv, &m->dxin, Nd);
    umup__cv_take(cv, &m->dq, heads ? Nd : 0); umup__cv_take(cv, &m->dk, heads ? Nd : 0);
    umup__cv_take(cv, &m->dv, heads ? Nd : 0); umup__cv_take(cv, &m->dah, heads ? Nd : 0);
    umup__cv_take(cv, &m->da, Nd); umup__cv_take(cv, &m->dqkv, N3d);
    umup__cv_take(cv, &m->du1, Nhd); umup__cv_take(cv, &m->dug, Nhd); umup__cv_take(cv, &m->dg, Nhd);
    umup__cv_take(cv, &m->dlogits, NV);
    umup__cv_take(cv, &m->fp8_x, umup__cv_mul(cv, N, xmax)); umup__cv_take(cv, &m->fp8_w, wmax);
    umup__cv_take(cv, &m->fp8_dy, umup__cv_mul(cv, N, ymax));
}

/* Shapes, limits and the tensor table of a configuration (allocates only the small tables). The
 * ops take int dimensions, so every product they see must fit in an int. */
static umup_status umup__model_init(umup_model *m, const umup_model_config *cfg, int max_batch) {
    umup_model_config c;
    const int imax = 2147483647;
    int k;
    UMUP__TRY(umup__model_resolve(cfg, &c));
    if (max_batch < 1) return UMUP_ERR_SHAPE;
    m->cfg = c;
    m->pinfo = umup_param_config_info(&c.param);
    m->V = c.vocab; m->d = c.width; m->L = c.layers; m->H = c.heads; m->D = c.head_size;
    m->maxB = max_batch; m->maxT = c.max_seq;
    if (c.mlp_expansion > imax / c.width || c.width > imax / 3 || max_batch > imax / c.max_seq ||
        max_batch > imax / c.heads || c.layers > (imax - 2) / UMUP__T_KINDS || c.layers > imax / 24 - 1)
        return UMUP_ERR_NOMEM; /* beyond what the int-sized ops can index */
    m->hd = c.mlp_expansion * c.width;
    m->tpl = 0;
    for (k = 0; k < UMUP__T_KINDS; k++) { /* the layer's tensors: every kind but the gate for a GELU MLP */
        m->slot[k] = -1;
        if (k == UMUP__T_GATE && c.mlp == UMUP_MLP_GELU) continue;
        m->kind_at[m->tpl] = k;
        m->slot[k] = m->tpl++;
    }
    m->n_tensors = 2 + m->tpl * m->L;
    m->max_stats = 6 + 24 * m->L; /* 3 + 9 L module outputs, 3 per linear layer (5 L + 1 of them) */
    m->tensors = (umup_tensor_info *)UMUP_MALLOC(sizeof(umup_tensor_info) * (size_t)m->n_tensors);
    if (!m->tensors) return UMUP_ERR_NOMEM;
    return umup__model_tensors(m);
}

UMUPDEF umup_status umup_model_memory_needed(const umup_model_config *cfg, int max_batch, size_t *param_bytes,
                                             size_t *grad_bytes, size_t *act_bytes) {
    umup_model m;
    umup__carver cv;
    umup_status st;
    size_t pb = 0, ab = 0;
    if (!cfg) return UMUP_ERR_NULL;
    memset(&m, 0, sizeof m);
    memset(&cv, 0, sizeof cv);
    st = umup__model_init(&m, cfg, max_batch);
    if (st == UMUP_OK) {
        umup__model_carve(&m, &cv);
        if (cv.overflow || !umup__size_mul(&pb, m.n_params, sizeof(float)) || !umup__size_mul(&ab, cv.off, sizeof(float)))
            st = UMUP_ERR_NOMEM;
    }
    if (m.tensors) UMUP_FREE(m.tensors);
    if (st != UMUP_OK) return st;
    if (param_bytes) *param_bytes = pb;
    if (grad_bytes) *grad_bytes = pb;
    if (act_bytes) *act_bytes = ab;
    return UMUP_OK;
}

UMUPDEF umup_status umup_model_create(umup_model **out, const umup_model_config *cfg, int max_batch) {
    umup_model *m;
    umup__carver cv;
    umup_status st;
    size_t bytes, nbatch;
    int t;
    if (!out || !cfg) return UMUP_ERR_NULL;
    *out = NULL;
    m = (umup_model *)UMUP_MALLOC(sizeof *m);
    if (!m) return UMUP_ERR_NOMEM;
    memset(m, 0, sizeof *m);
    st = umup__model_init(m, cfg, max_batch);
    if (st != UMUP_OK) { umup_model_destroy(m); return st; }
    /* activations: count, then allocate and carve with the same list */
    memset(&cv, 0, sizeof cv);
    umup__model_carve(m, &cv);
    nbatch = (size_t)max_batch * (size_t)m->maxT; /* fits: checked in umup__model_init */
    if (cv.overflow || !umup__size_mul(&bytes, cv.off, sizeof(float)) ||
        !umup__size_mul(&bytes, m->n_params, sizeof(float))) { umup_model_destroy(m); return UMUP_ERR_NOMEM; }
    m->n_acts = cv.off;
    m->taus = (double *)UMUP_MALLOC(sizeof(double) * 2 * (size_t)m->L);
    m->layer = (umup__layer_acts *)UMUP_MALLOC(sizeof(umup__layer_acts) * (size_t)m->L);
    m->stats = (umup_tensor_stats *)UMUP_MALLOC(sizeof(umup_tensor_stats) * (size_t)m->max_stats);
    m->ids = (int32_t *)UMUP_MALLOC(sizeof(int32_t) * nbatch);
    m->targets = (int32_t *)UMUP_MALLOC(sizeof(int32_t) * nbatch);
    m->params = (float *)UMUP_MALLOC(sizeof(float) * m->n_params);
    m->grads = (float *)UMUP_MALLOC(sizeof(float) * m->n_params);
    m->acts = (float *)UMUP_MALLOC(sizeof(float) * m->n_acts);
    if (!m->taus || !m->layer || !m->stats || !m->ids || !m->targets || !m->params || !m->grads || !m->acts) {
        umup_model_destroy(m);
        return UMUP_ERR_NOMEM;
    }
    cv.base = m->acts;
    umup__model_carve(m, &cv);
    UMUP_ASSERT(cv.off == m->n_acts);
    for (t = 0; t < m->n_tensors; t++)
        umup__randn_fill(m->params + m->tensors[t].offset, m->tensors[t].size, m->tensors[t].rule.init_std,
                         m->cfg.seed, (uint64_t)2 * m->tensors[t].offset);
    memset(m->grads, 0, sizeof(float) * m->n_params);
    /* what the residual form needs: the taus (TAU), or the residual_sum weights */
    if (m->pinfo->residual == UMUP_RESIDUAL_TAU)
        umup_transformer_residual_taus(m->taus, m->L, m->cfg.alpha_res, m->cfg.alpha_res_attn_ratio,
                                       m->cfg.param.depth_mode);
    if (m->pinfo->residual == UMUP_RESIDUAL_POST_NORM) {
        m->res_skip = sqrt(1.0 - (double)m->cfg.mus_tau);
        m->res_branch = sqrt((double)m->cfg.mus_tau);
    } else {
        m->res_skip = 1.0;
        m->res_branch = umup_param_branch_multiplier(&m->cfg.param);
    }
    m->attn_scale = umup_param_attention_scale(&m->cfg.param, m->d, m->D, m->cfg.alpha_attn);
    *out = m;
    return UMUP_OK;
}

UMUPDEF void umup_model_destroy(umup_model *m) {
    if (!m) return;
    if (m->tensors) UMUP_FREE(m->tensors);
    if (m->taus) UMUP_FREE(m->taus);
    if (m->layer) UMUP_FREE(m->layer);
    if (m->ids) UMUP_FREE(m->ids);
    if (m->targets) UMUP_FREE(m->targets);
    if (m->params) UMUP_FREE(m->params);
    if (m->grads) UMUP_FREE(m->grads);
    if (m->acts) UMUP_FREE(m->acts);
    if (m->stats) UMUP_FREE(m->stats);
    UMUP_FREE(m);
}

UMUPDEF const umup_model_config *umup_model_get_config(const umup_model *m) { return m ? &m->cfg : NULL; }
UMUPDEF int umup_model_num_tensors(const umup_model *m) { return m ? m->n_tensors : 0; }
UMUPDEF const umup_tensor_info *umup_model_tensor(const umup_model *m, int i) {
    return m && i >= 0 && i < m->n_tensors ? &m->tensors[i] : NULL;
}
UMUPDEF const umup_tensor_info *umup_model_find_tensor(const umup_model *m, const char *name) {
    int i;
    if (!m || !name) return NULL;
    for (i = 0; i < m->n_tensors; i++) if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}
UMUPDEF float *umup_model_params(umup_model *m) {
    if (!m) return NULL;
    m->epoch++; /* the caller may write: cached device copies are stale */
    return m->params;
}
UMUPDEF float *umup_model_grads(umup_model *m) { return m ? m->grads : NULL; }
UMUPDEF size_t umup_model_num_params(const umup_model *m) { return m ? m->n_params : 0; }
UMUPDEF const float *umup_model_logits(const umup_model *m) { return m ? m->logits : NULL; }
UMUPDEF void umup_model_zero_grad(umup_model *m) {
    /* 4 B a parameter each step, 135 MB at d 512, in 1 MiB pieces on all threads: 6.4 ms on one
       thread, 1.8 on two (0.2% of that step) */
    long c, nc;
    if (!m) return;
    nc = (long)((m->n_params + 262143) / 262144);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (nc > 1 && !omp_in_parallel())
#endif
    for (c = 0; c < nc; c++) {
        size_t a = (size_t)c * 262144, e = m->n_params - a < 262144 ? m->n_params : a + 262144;
        memset(m->grads + a, 0, sizeof(float) * (e - a));
    }
}
UMUPDEF void umup_model_memory(const umup_model *m, size_t *param_bytes, size_t *grad_bytes, size_t *act_bytes) {
    if (!m) return;
    if (param_bytes) *param_bytes = m->n_params * sizeof(float);
    if (grad_bytes) *grad_bytes = m->n_params * sizeof(float);
    if (act_bytes) *act_bytes = m->n_acts * sizeof(float);
}
UMUPDEF void umup_model_set_training(umup_model *m, int training) {
    if (m) m->training = training != 0;
}
UMUPDEF void umup_model_set_grad_hook(umup_model *m, umup_grad_hook fn, void *ctx) {
    if (!m) return;
    m->grad_hook = fn;
    m->grad_hook_ctx = ctx;
}

/* ---- tensor statistics ----------------------------------------------------------------- >>stats */

UMUPDEF umup_status umup_tensor_stats_compute(umup_tensor_stats *s, const char *name, const float *x, size_t n,
                                              umup_fp8_format fmt) {
    double sa = 0, s2 = 0, mx = 0, under = 0, sub = 0, over = 0, fin = 0;
    double fmax, fnorm, fhalf;
    long i, nn = (long)n;
    if (!s || (!x && n)) return UMUP_ERR_NULL;
    if (!umup__buf_ok(sizeof(float), n, 1, 1)) return UMUP_ERR_SHAPE;
    if (umup_fp8_max(fmt) <= 0.0f) return UMUP_ERR_INVALID_ARG;
    fmax = umup_fp8_max(fmt);
    fnorm = umup_fp8_min_normal(fmt);
    fhalf = 0.5 * umup_fp8_min_subnormal(fmt);
#ifdef _OPENMP
#pragma omp parallel for reduction(+ : sa, s2, under, sub, over, fin) reduction(max : mx) if (nn > 65536)
#endif
    for (i = 0; i < nn; i++) {
        double a = fabs((double)x[i]);
        if (!(a <= 3.4028234663852886e38)) { over += 1; continue; } /* NaN or Inf */
        fin += 1;
        sa += a;
        s2 += a * a;
        if (a > mx) mx = a;
        if (a > fmax) over += 1;
        else if (a != 0.0 && a <= fhalf) under += 1;
        else if (a > fhalf && a < fnorm) sub += 1;
    }
    memset(s, 0, sizeof *s);
    if (name) snprintf(s->name, sizeof s->name, "%s", name);
    s->kind = UMUP_STAT_OUTPUT;
    s->layer = -1;
    s->format = fmt;
    s->count = n;
    if (fin > 0) { s->mean_abs = sa / fin; s->rms = sqrt(s2 / fin); }
    s->max_abs = mx;
    if (n) {
        s->frac_underflow = under / (double)n;
        s->frac_subnormal = sub / (double)n;
        s->frac_overflow = over / (double)n;
    }
    return UMUP_OK;
}

UMUPDEF void umup_model_record_stats(umup_model *m, int on) {
    if (!m) return;
    m->record = on != 0;
    if (!m->record) m->n_stats = 0;
}

UMUPDEF const umup_tensor_stats *umup_model_stats(const umup_model *m, int *count) {
    if (count) *count = m ? m->n_stats : 0;
    return m ? m->stats : NULL;
}

/* Records x [n] as statistic "layers.<layer>.<name>" (layer >= 0) or "<name>", judged against fmt;
   returns the record, or NULL when recording is off (or the table is full, which the sizing in
   umup_model_create rules out). */
static umup_tensor_stats *umup__stat_fmt(umup_model *m, const char *name, int layer, umup_stat_kind kind, int cast,
                                         umup_fp8_format fmt, const float *x, size_t n) {
    umup_tensor_stats *s;
    char buf[48];
    if (!m->record || m->n_stats >= m->max_stats) return NULL;
    s = &m->stats[m->n_stats++];
    if (layer >= 0) snprintf(buf, sizeof buf, "layers.%d.%s", layer, name);
    else snprintf(buf, sizeof buf, "%s", name);
    umup_tensor_stats_compute(s, buf, x, n, fmt);
    s->kind = kind;
    s->layer = layer;
    s->fp8_cast = cast;
    return s;
}

/* A module output, judged against the forward format. */
static void umup__stat(umup_model *m, const char *name, int layer, const float *x, size_t n) {
    umup__stat_fmt(m, name, layer, UMUP_STAT_OUTPUT, 0, m->cfg.fp8_format_fwd, x, n);
}

/* A linear layer's input, weight or output gradient, under the weight's name without ".weight"
   (which already carries the layer); gradients are judged against the backward format. */
static void umup__lin_stat(umup_model *m, int t, umup_stat_kind kind, const float *x, size_t n) {
    const umup_tensor_info *ti = &m->tensors[t];
    char nm[48];
    size_t k = strlen(ti->name) - 7; /* every tensor name ends in ".weight" */
    umup_tensor_stats *s;
    memcpy(nm, ti->name, k);
    nm[k] = 0;
    s = umup__stat_fmt(m, nm, -1, kind, ti->fp8.cast, kind == UMUP_STAT_MATMUL_DY ? ti->fp8.bwd : ti->fp8.fwd, x, n);
    if (s) s->layer = ti->layer;
}

/* ---- building blocks: the public ops as the model uses them --------------------------------- */

/* Scales of linear tensor t for `rows` rows: with unit-scaled ops the op's own scales (linear with
 * its role's constraint, or linear_readout), with plain ops the tensor's multiplier m everywhere
 * (y = m x W^T, so dx = m dy W and dW = m dy^T x). */
static void umup__lin_scales(const umup_model *m, int t, int rows, umup_op_scales *s) {
    const umup_tensor_info *ti = &m->tensors[t];
    s->out = s->grad[0] = s->grad[1] = s->grad[2] = s->grad_w = ti->rule.multiplier;
    if (!m->pinfo->unit_ops) return;
    if (ti->role == UMUP_ROLE_READOUT) umup_linear_readout_scales(s, rows, ti->cols, ti->rows, UMUP_CONSTRAINT_NONE);
    else umup_linear_scales(s, rows, ti->cols, ti->rows, umup__layer_tensor[m->kind_at[(t - 1) % m->tpl]].unit_constraint);
}

/* Index of layer l's tensor of kind k (which the layer must have). */
static int umup__tidx(const umup_model *m, int l, int k) {
    UMUP_ASSERT(m->slot[k] >= 0);
    return 1 + l * m->tpl + m->slot[k];
}

/* seed of the stochastic-rounding stream for (step, tensor, purpose) */
static uint64_t umup__sr_seed(const umup_model *m, long step, int t, int purpose) {
    return m->cfg.seed ^ (0x5EEDF8F8ull + ((uint64_t)step * 4096u + (uint64_t)t * 4u + (uint64_t)purpose) * 0x9E3779B97F4A7C15ull);
}

static umup_gemm_values umup__gemm_values(umup_fp8_format f) {
    return f == UMUP_FP8_E4M3 ? UMUP_GEMM_VALUES_E4M3 : f == UMUP_FP8_E5M2 ? UMUP_GEMM_VALUES_E5M2 : UMUP_GEMM_VALUES_F32;
}

/* The GEMM hints of linear t, and FP8 simulation by its policy: x [rows, in] and W to the forward
 * format, dy [rows, out] (when not NULL) to the backward format, into the scratch buffers. The
 * forward and backward passes round x and W with the same (step, tensor) stream, so the backward
 * products see exactly the values the forward product saw; x and dy's streams are indexed by the
 * row's position in the whole batch (row0: a shard's offset).
 * own != 0: x is this linear's own input buffer, which nothing else reads (the attention's and MLP's
 * branch inputs ln1, a and g, the final norm's output): the forward pass quantises it in place, and
 * the backward pass then finds the quantised values there and skips that cast. */
static void umup__lin_cast(umup_model *m, int t, int rows, const float **x, const float **W, const float **dy,
                           umup_linear_hints *h, int own) {
    const umup_tensor_info *ti = &m->tensors[t];
    memset(h, 0, sizeof *h);
    h->weight_key = m->params + ti->offset;
    h->weight_epoch = m->epoch;
    if (!ti->fp8.cast) return;
    if (!own || !dy) { /* the scratch copy, or the forward pass's in-place cast of its own buffer */
        float *xq = own ? (float *)*x : m->fp8_x; /* an own buffer is a non-const activation of the model */
        umup_fp8_quantise_array(xq, *x, (size_t)rows * (size_t)ti->cols, ti->fp8.fwd, ti->fp8.rounding, 1,
                                umup__sr_seed(m, m->step, t, 0), (uint64_t)m->row0 * (uint64_t)ti->cols);
        *x = xq;
    }
    umup_fp8_quantise_array(m->fp8_w, *W, ti->size, ti->fp8.fwd, ti->fp8.rounding, 1, umup__sr_seed(m, m->step, t, 1), 0);
    *W = m->fp8_w;
    h->x_values = h->w_values = umup__gemm_values(ti->fp8.fwd);
    if (dy) {
        umup_fp8_quantise_array(m->fp8_dy, *dy, (size_t)rows * (size_t)ti->rows, ti->fp8.bwd, ti->fp8.rounding, 1,
                                umup__sr_seed(m, m->step, t, 2), (uint64_t)m->row0 * (uint64_t)ti->rows);
        *dy = m->fp8_dy;
        h->dy_values = umup__gemm_values(ti->fp8.bwd);
    }
}

/* y [rows, out] = linear_t(x [rows, in]); own: x is the linear's own input (see umup__lin_cast) */
static umup_status umup__linear_fwd(umup_model *m, int t, const float *x, float *y, int rows, int own) {
    const umup_tensor_info *ti = &m->tensors[t];
    const float *W = m->params + ti->offset;
    umup_op_scales s;
    umup_linear_hints h;
    umup__lin_scales(m, t, m->total_rows, &s); /* a shard's scales are the whole batch's */
    if (m->record) {
        umup__lin_stat(m, t, UMUP_STAT_MATMUL_X, x, (size_t)rows * (size_t)ti->cols);
        umup__lin_stat(m, t, UMUP_STAT_MATMUL_W, W, ti->size);
    }
    umup__lin_cast(m, t, rows, &x, &W, NULL, &h, own);
    return umup_linear_forward_ex(y, x, W, NULL, rows, ti->cols, ti->rows, &s, &h);
}

/* dx [rows, in] (may be NULL) = ... (acc: += ...), dW += ... from dy [rows, out]; x is the forward
 * input (own: as the forward call said). */
static umup_status umup__linear_bwd(umup_model *m, int t, const float *x, const float *dy, float *dx, int rows, int acc,
                                    int own) {
    const umup_tensor_info *ti = &m->tensors[t];
    const float *W = m->params + ti->offset;
    umup_op_scales s;
    umup_linear_hints h;
    umup__lin_scales(m, t, m->total_rows, &s);
    if (m->record) umup__lin_stat(m, t, UMUP_STAT_MATMUL_DY, dy, (size_t)rows * (size_t)ti->rows);
    umup__lin_cast(m, t, rows, &x, &W, &dy, &h, own);
    UMUP__TRY(umup__linear_backward(dx, m->grads + ti->offset, NULL, dy, x, W, rows, ti->cols, ti->rows, &s, &h, acc));
    if (m->grad_hook) m->grad_hook(m->grad_hook_ctx, t); /* each weight is used once: its gradient is complete */
    return UMUP_OK;
}

static void umup__norm_fwd(const umup_model *m, float *y, const float *x, int rows) {
    if (m->cfg.norm == UMUP_NORM_LAYER) umup_layer_norm_forward(y, x, rows, m->d);
    else umup_rms_norm_forward(y, x, rows, m->d);
}
/* dx [rows, d] = norm'(x)^T dy (acc: +=) */
static void umup__norm_bwd(const umup_model *m, float *dx, const float *dy, const float *x, int rows, int acc) {
    umup__norm_backward(dx, dy, x, rows, m->d, m->cfg.norm != UMUP_NORM_LAYER, acc);
}

/* [N, 3d] qkv rows -> q, k, v [B, H, T, D] (dir = 0), or the reverse for gradients (dir = 1: qkv
 * [N, 3d] = q, k, v). */
static void umup__heads(const umup_model *m, float *qkv, float *q, float *k, float *v, int B, int T, int dir) {
    int b, t, h, j, d = m->d, H = m->H, D = m->D;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (B > 1 && (double)B * T * d > 32768.0)
#endif
    for (b = 0; b < B; b++)
        for (t = 0; t < T; t++) {
            float *row = qkv + ((size_t)b * (size_t)T + (size_t)t) * 3 * (size_t)d;
            for (h = 0; h < H; h++) {
                size_t o = (((size_t)b * (size_t)H + (size_t)h) * (size_t)T + (size_t)t) * (size_t)D;
                for (j = 0; j < D; j++) {
                    if (dir == 0) { q[o + (size_t)j] = row[h * D + j]; k[o + (size_t)j] = row[d + h * D + j]; v[o + (size_t)j] = row[2 * d + h * D + j]; }
                    else { row[h * D + j] = q[o + (size_t)j]; row[d + h * D + j] = k[o + (size_t)j]; row[2 * d + h * D + j] = v[o + (size_t)j]; }
                }
            }
        }
}

/* [B, H, T, D] <-> [N, d] with heads concatenated (dir 0: gather into y; dir 1: scatter y into x) */
static void umup__merge(const umup_model *m, float *x_heads, float *y, int B, int T, int dir) {
    int b, t, h, j, H = m->H, D = m->D;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (B > 1 && (double)B * T * m->d > 32768.0)
#endif
    for (b = 0; b < B; b++)
        for (t = 0; t < T; t++)
            for (h = 0; h < H; h++) {
                size_t o = (((size_t)b * (size_t)H + (size_t)h) * (size_t)T + (size_t)t) * (size_t)D, r = ((size_t)b * (size_t)T + (size_t)t) * (size_t)m->d + (size_t)h * (size_t)D;
                for (j = 0; j < D; j++) {
                    if (dir == 0) y[r + (size_t)j] = x_heads[o + (size_t)j];
                    else x_heads[o + (size_t)j] = y[r + (size_t)j];
                }
            }
}

/* Rotary embedding of x [B, H, T, D] in place: pairs (2i, 2i+1) of position t rotate by
 * t * 10000^(-2i/D); inverse != 0 applies the transposed rotation (the backward pass). */
static void umup__rope(const umup_model *m, float *x, int B, int T, int inverse) {
    int bh, t, i, D = m->D;
    for (bh = 0; bh < B * m->H; bh++)
        for (t = 0; t < T; t++) {
            float *r = x + ((size_t)bh * (size_t)T + (size_t)t) * (size_t)D;
            for (i = 0; i < D / 2; i++) {
                double th = t * pow(10000.0, -2.0 * i / D), c = cos(th), s = inverse ? -sin(th) : sin(th);
                double a = r[2 * i], b = r[2 * i + 1];
                r[2 * i] = (float)(a * c - b * s);
                r[2 * i + 1] = (float)(a * s + b * c);
            }
        }
}

/* The scales of the ops inside the blocks: unit-scaled (sdpa, the MLP activation: silu_glu or gelu
   with to_output_scale, dropout) or plain (ones); sdpa_scale, when set, replaces the attention's. */
static void umup__ops_scales(const umup_model *m, int T, umup_op_scales *sa, umup_op_scales *sg, umup_op_scales *sd) {
    umup__scales_ones(sa);
    umup__scales_ones(sg);
    umup__scales_ones(sd);
    if (m->pinfo->unit_ops) {
        umup_sdpa_scales(sa, T, m->D, 1, m->cfg.alpha_attn);
        if (m->cfg.mlp == UMUP_MLP_GELU) umup_gelu_scales(sg, m->cfg.alpha_ffn_act, UMUP_CONSTRAINT_TO_OUTPUT_SCALE);
        else umup_silu_glu_scales(sg, m->cfg.alpha_ffn_act);
        umup_dropout_scales(sd, m->cfg.dropout);
    }
    if (m->cfg.sdpa_scale > 0.0f) sa->out = sa->grad[0] = sa->grad[1] = sa->grad[2] = m->cfg.sdpa_scale;
}

/* FP8 simulation of the attention op (fp8_attention, [GC] simulate_fp8 on sdpa): q, k, v [n] rounded
   in place to the forward format (backward = 0; the backward pass then sees the values the forward
   used), or the output gradient dout [n] to the backward format (backward = 1). The streams are
   those of a virtual tensor n_tensors + l, so they never meet a linear layer's. */
static void umup__attention_cast(umup_model *m, int l, float *q, float *k, float *v, float *dout, size_t n) {
    const umup_tensor_info *ti = &m->tensors[umup__tidx(m, l, UMUP__T_QKV)];
    int vt = m->n_tensors + l;
    if (m->cfg.fp8 == UMUP_FP8_SIM_NONE) return;
    if (dout) {
        umup_fp8_quantise_array(dout, dout, n, ti->fp8.bwd, ti->fp8.rounding, 1, umup__sr_seed(m, m->step, vt, 3), 0);
        return;
    }
    umup_fp8_quantise_array(q, q, n, ti->fp8.fwd, ti->fp8.rounding, 1, umup__sr_seed(m, m->step, vt, 0), 0);
    umup_fp8_quantise_array(k, k, n, ti->fp8.fwd, ti->fp8.rounding, 1, umup__sr_seed(m, m->step, vt, 1), 0);
    umup_fp8_quantise_array(v, v, n, ti->fp8.fwd, ti->fp8.rounding, 1, umup__sr_seed(m, m->step, vt, 2), 0);
}

/* The stream of branch b's dropout mask at step `step` for the whole batch: element i of the batch's
 * [rows, d] array draws umup_rng_uniform(seed, counter + i). */
static void umup__dropout_stream(const umup_model *m, long step, int branch, uint64_t *seed, uint64_t *ctr) {
    *seed = m->cfg.seed ^ 0xD80F0D80ull;
    *ctr = ((uint64_t)step * (uint64_t)(2 * m->L) + (uint64_t)branch) << 32;
}
/* Dropout of a branch output (in place); mask from (seed, step, branch), element i of the whole
 * batch. backward != 0: gradient, with tmp [n] as scratch. */
static void umup__branch_dropout(umup_model *m, float *x, float *tmp, size_t n, int branch, int backward) {
    umup_op_scales sa, sg, s;
    uint64_t seed, ctr;
    umup__dropout_stream(m, m->step, branch, &seed, &ctr);
    ctr += (uint64_t)m->row0 * (uint64_t)m->d; /* a shard's rows start at row0 of the whole batch */
    umup__ops_scales(m, 1, &sa, &sg, &s);
    if (!backward) {
        umup_dropout_forward(x, x, n, m->cfg.dropout, seed, ctr, &s);
    } else {
        memset(tmp, 0, n * sizeof(float));
        umup_dropout_backward(tmp, x, n, m->cfg.dropout, seed, ctr, &s);
        memcpy(x, tmp, n * sizeof(float));
    }
}

/* ---- the residual connection: h_out = res_i(h, f) ------------------------------------------- */
/* Branch input in(h): norm(h) for the pre-norm forms, h itself for the post-norm form. */
static void umup__branch_in_fwd(const umup_model *m, float *xin, const float *h, int N) {
    if (m->pinfo->residual == UMUP_RESIDUAL_POST_NORM) memcpy(xin, h, sizeof(float) * (size_t)N * (size_t)m->d);
    else umup__norm_fwd(m, xin, h, N);
}
/* dh [N, d] = in'(h)^T dxin */
static void umup__branch_in_bwd(const umup_model *m, float *dh, const float *dxin, const float *h, int N) {
    if (m->pinfo->residual == UMUP_RESIDUAL_POST_NORM) memcpy(dh, dxin, sizeof(float) * (size_t)N * (size_t)m->d);
    else umup__norm_bwd(m, dh, dxin, h, N, 0);
}

/* Branch output out(f) [N, d], what joins the stream: norm(f) into fn for the post-norm form, else
 * f; then the branch's dropout in training (in place). Returns it. */
static float *umup__branch_out_fwd(umup_model *m, float *f, float *fn, int N, int branch) {
    size_t n = (size_t)N * (size_t)m->d;
    if (m->pinfo->residual == UMUP_RESIDUAL_POST_NORM) { umup__norm_fwd(m, fn, f, N); f = fn; }
    if (m->training && m->cfg.dropout > 0.0f) umup__branch_dropout(m, f, NULL, n, branch, 0);
    return f;
}
/* df [N, d]: the gradient at out(f) in, the gradient at f out (scratch [N, d]); f: the raw branch output. */
static void umup__branch_out_bwd(umup_model *m, float *df, float *scratch, const float *f, int N, int branch) {
    size_t n = (size_t)N * (size_t)m->d;
    if (m->training && m->cfg.dropout > 0.0f) umup__branch_dropout(m, df, scratch, n, branch, 1);
    if (m->pinfo->residual == UMUP_RESIDUAL_POST_NORM) {
        umup__norm_bwd(m, scratch, df, f, N, 0);
        memcpy(df, scratch, sizeof(float) * n);
    }
}

/* h_out = res_i(h, r) [n]: residual_split/add with tau_i (the split is the identity in the forward
 * pass), or residual_sum with the form's weights. */
static umup_status umup__residual_fwd(const umup_model *m, int i, float *hout, const float *h, const float *r, size_t n) {
    if (m->pinfo->residual == UMUP_RESIDUAL_TAU) return umup_residual_add_forward(hout, r, h, n, m->taus[i]);
    return umup_residual_sum_forward(hout, h, r, n, m->res_skip, m->res_branch);
}
/* Backward, first half: the gradient at the branch output, dr [n] = (d/dr res_i)^T dy. */
static void umup__residual_bwd_branch(const umup_model *m, int i, float *dr, const float *dy, size_t n) {
    (void)i;
    if (m->pinfo->residual == UMUP_RESIDUAL_TAU) { memcpy(dr, dy, sizeof(float) * n); return; } /* add: dr = dy */
    memset(dr, 0, sizeof(float) * n);
    umup_residual_sum_backward(NULL, dr, dy, n, m->res_skip, m->res_branch);
}
/* Backward, second half: dx [n] = the skip path's gradient from dy plus din, the gradient that
 * came back through the branch to its input (residual_split's backward under TAU). */
static void umup__residual_bwd_skip(const umup_model *m, int i, float *dx, const float *dy, const float *din, size_t n) {
    if (m->pinfo->residual == UMUP_RESIDUAL_TAU) {
        umup__residual_split_backward(dx, din, dy, n, m->taus[i], 0);
    } else {
        memset(dx, 0, sizeof(float) * n);
        umup_residual_sum_backward(dx, NULL, dy, n, m->res_skip, m->res_branch);
        umup_scale_fwd_backward(dx, din, n);
    }
}

/* ---- the attention branch: ao = linear_o(sdpa(split_heads(linear_qkv(ln1)))) ---------------- */
/* Without rope or fp8_attention, which change q, k and v in place, the flash kernels read the heads
 * straight out of the qkv rows and write the output rows [N, d] (and, backward, the gradient rows
 * [N, 3d]) in place: no head copies. Otherwise q, k, v [B, H, T, D] are copies, and so is ah. */
static int umup__attn_in_rows(const umup_model *m) { return !m->cfg.rope && !m->cfg.fp8_attention; }

/* The buffer linear_o reads, a [N, d]: the attention output rows themselves, or a copy of them when
 * the heads were copied or linear_o's FP8 cast rounds its own input in place (the backward pass needs
 * the exact output). */
static float *umup__attn_o_input(const umup_model *m, const umup__layer_acts *A, int l) {
    return umup__attn_in_rows(m) && !m->tensors[umup__tidx(m, l, UMUP__T_O)].fp8.cast ? A->ah : A->a;
}

/* The heads of rows [N, w d] (w = 3: qkv, head h of q at columns h D.., of k at d + h D.., of v at
 * 2d + h D..; w = 1: the output a) as a umup__heads_layout, T rows per sequence. */
static umup__heads_layout umup__heads_rows(const umup_model *m, int T, int w) {
    umup__heads_layout l;
    l.lr = (size_t)w * (size_t)m->d;
    l.lh = (size_t)m->D;
    l.lb = (size_t)T * l.lr;
    return l;
}

static umup_status umup__attention_fwd(umup_model *m, int l, int B, int T) {
    umup__layer_acts *A = &m->layer[l];
    int N = B * T, d = m->d;
    size_t n = (size_t)N * (size_t)d;
    float *a = umup__attn_o_input(m, A, l);
    umup_op_scales sa, sg, sd;
    umup__ops_scales(m, T, &sa, &sg, &sd);
    UMUP__TRY(umup__linear_fwd(m, umup__tidx(m, l, UMUP__T_QKV), A->ln1, A->qkv, N, 1)); /* qkv [N, 3d] */
    umup__stat(m, "mhsa.linear_qkv", l, A->qkv, 3 * n);
    if (umup__attn_in_rows(m)) {
        umup__heads_layout li = umup__heads_rows(m, T, 3), lo = umup__heads_rows(m, T, 1);
        UMUP__TRY(umup__sdpa_flash_fwd(A->ah, lo, A->lse, A->qkv, A->qkv + d, A->qkv + 2 * d, li, B, m->H, T, m->D, 1,
                                       m->attn_scale, &sa));                     /* ah [N, d] */
        if (a != A->ah) memcpy(a, A->ah, sizeof(float) * n);
    } else {
        umup__heads(m, A->qkv, A->q, A->k, A->v, B, T, 0);                        /* q, k, v [B, H, T, D] */
        if (m->cfg.rope) { umup__rope(m, A->q, B, T, 0); umup__rope(m, A->k, B, T, 0); }
        if (m->cfg.fp8_attention) umup__attention_cast(m, l, A->q, A->k, A->v, NULL, n);
        UMUP__TRY(umup_sdpa_flash_forward(A->ah, A->lse, A->q, A->k, A->v, B, m->H, T, m->D, 1, m->attn_scale, &sa));
        umup__merge(m, A->ah, a, B, T, 0);                                         /* a [N, d] */
    }
    umup__stat(m, "mhsa.attention", l, a, n);
    UMUP__TRY(umup__linear_fwd(m, umup__tidx(m, l, UMUP__T_O), a, A->ao, N, 1));     /* ao [N, d] */
    umup__stat(m, "mhsa.linear_o", l, A->ao, n);
    return UMUP_OK;
}

/* dao [N, d] (in m->dtmp) -> d ln1 [N, d] (into m->dxin) and the weight gradients */
static umup_status umup__attention_bwd(umup_model *m, int l) {
    umup__layer_acts *A = &m->layer[l];
    int B = m->B, T = m->T, N = B * T;
    size_t n = (size_t)N * (size_t)m->d;
    umup_op_scales sa, sg, sd;
    umup__ops_scales(m, T, &sa, &sg, &sd);
    UMUP__TRY(umup__linear_bwd(m, umup__tidx(m, l, UMUP__T_O), umup__attn_o_input(m, A, l), m->dtmp, m->da, N, 0, 1));
    if (umup__attn_in_rows(m)) { /* dq, dk, dv straight into the dqkv rows [N, 3d] */
        int d = m->d;
        umup__heads_layout li = umup__heads_rows(m, T, 3), lo = umup__heads_rows(m, T, 1);
        UMUP__TRY(umup__sdpa_flash_backward(m->dqkv, m->dqkv + d, m->dqkv + 2 * d, li, m->da, A->ah, lo, A->lse, A->qkv,
                                            A->qkv + d, A->qkv + 2 * d, li, B, m->H, T, m->D, 1, m->attn_scale, &sa, 0));
    } else {
        umup__heads_layout lh = umup__heads_bhsd(m->H, T, m->D);
        umup__merge(m, m->dah, m->da, B, T, 1);
        if (m->cfg.fp8_attention) umup__attention_cast(m, l, NULL, NULL, NULL, m->dah, n);
        UMUP__TRY(umup__sdpa_flash_backward(m->dq, m->dk, m->dv, lh, m->dah, A->ah, lh, A->lse, A->q, A->k, A->v, lh, B,
                                            m->H, T, m->D, 1, m->attn_scale, &sa, 0));
        if (m->cfg.rope) { umup__rope(m, m->dq, B, T, 1); umup__rope(m, m->dk, B, T, 1); }
        umup__heads(m, m->dqkv, m->dq, m->dk, m->dv, B, T, 1);
    }
    return umup__linear_bwd(m, umup__tidx(m, l, UMUP__T_QKV), A->ln1, m->dqkv, m->dxin, N, 0, 1);
}

/* ---- the MLP branch: mo = linear_2(silu_glu(linear_1(ln2), linear_gate(ln2))) --------------- */
/* (GELU MLP: mo = linear_2(gelu(linear_1(ln2)))) */
static umup_status umup__mlp_fwd(umup_model *m, int l, int N) {
    umup__layer_acts *A = &m->layer[l];
    size_t n = (size_t)N * (size_t)m->d, nh = (size_t)N * (size_t)m->hd;
    int gelu = m->cfg.mlp == UMUP_MLP_GELU;
    umup_op_scales sa, sg, sd;
    umup__ops_scales(m, 1, &sa, &sg, &sd);
    UMUP__TRY(umup__linear_fwd(m, umup__tidx(m, l, UMUP__T_1), A->ln2, A->u1, N, 0)); /* u1 [N, hd] */
    if (gelu) {
        UMUP__TRY(umup_gelu_forward(A->g, A->u1, nh, m->cfg.alpha_ffn_act, &sg));    /* g [N, hd] */
        umup__stat(m, "mlp.linear_1", l, A->u1, nh);
    } else {
        UMUP__TRY(umup__linear_fwd(m, umup__tidx(m, l, UMUP__T_GATE), A->ln2, A->ug, N, 0)); /* ug [N, hd] */
        UMUP__TRY(umup_silu_glu_forward(A->g, A->u1, A->ug, nh, m->cfg.alpha_ffn_act, &sg)); /* g [N, hd] */
        umup__stat(m, "mlp.linear_1", l, A->u1, nh);
        umup__stat(m, "mlp.linear_gate", l, A->ug, nh);
    }
    umup__stat(m, "mlp.act", l, A->g, nh);
    UMUP__TRY(umup__linear_fwd(m, umup__tidx(m, l, UMUP__T_2), A->g, A->mo, N, 1));     /* mo [N, d] */
    umup__stat(m, "mlp.linear_2", l, A->mo, n);
    return UMUP_OK;
}

/* dmo [N, d] (in m->dtmp) -> d ln2 [N, d] (into m->dxin) and the weight gradients */
static umup_status umup__mlp_bwd(umup_model *m, int l) {
    umup__layer_acts *A = &m->layer[l];
    int N = m->B * m->T;
    size_t nh = (size_t)N * (size_t)m->hd;
    umup_op_scales sa, sg, sd;
    umup__ops_scales(m, 1, &sa, &sg, &sd);
    UMUP__TRY(umup__linear_bwd(m, umup__tidx(m, l, UMUP__T_2), A->g, m->dtmp, m->dg, N, 0, 1));
    if (m->cfg.mlp == UMUP_MLP_GELU) {
        memset(m->du1, 0, sizeof(float) * nh);
        UMUP__TRY(umup_gelu_backward(m->du1, m->dg, A->u1, nh, m->cfg.alpha_ffn_act, &sg));
        return umup__linear_bwd(m, umup__tidx(m, l, UMUP__T_1), A->ln2, m->du1, m->dxin, N, 0, 0);
    }
    UMUP__TRY(umup__silu_glu_backward(m->du1, m->dug, m->dg, A->u1, A->ug, nh, m->cfg.alpha_ffn_act, &sg, 0));
    UMUP__TRY(umup__linear_bwd(m, umup__tidx(m, l, UMUP__T_1), A->ln2, m->du1, m->dxin, N, 0, 0));
    return umup__linear_bwd(m, umup__tidx(m, l, UMUP__T_GATE), A->ln2, m->dug, m->dxin, N, 1, 0);
}

/* ---- forward ------------------------------------------------------------------------------------ */

UMUPDEF umup_status umup_model_forward(umup_model *m, const int32_t *ids, const int32_t *targets, int B, int T,
                                       long step, float *loss) {
    return umup_model_forward_shard(m, ids, targets, B, T, step, NULL, loss);
}

UMUPDEF umup_status umup_model_forward_shard(umup_model *m, const int32_t *ids, const int32_t *targets, int B, int T,
                                             long step, const umup_batch_shard *shard, float *loss) {
    int N, l, i, counted = 0;
    const float *h;
    umup_op_scales s;
    size_t n;
    if (!m || !ids || (targets && !loss)) return UMUP_ERR_NULL;
    if (B < 1 || T < 1 || B > m->maxB || T > m->maxT) return UMUP_ERR_SHAPE;
    if (shard && (shard->first_seq < 0 || shard->total_seqs < 1 || shard->first_seq > shard->total_seqs - B ||
                  shard->total_seqs > 2147483647 / T))
        return UMUP_ERR_SHAPE;
    N = B * T;
    n = (size_t)N * (size_t)m->d;
    for (i = 0; i < N; i++) {
        if (ids[i] < 0 || ids[i] >= m->V) return UMUP_ERR_INVALID_ARG;
        if (targets) {
            if (targets[i] < -1 || targets[i] >= m->V) return UMUP_ERR_INVALID_ARG;
            counted += targets[i] >= 0;
        }
    }
    if (targets && !counted && !shard) return UMUP_ERR_INVALID_ARG; /* a shard may have none of the batch's targets */
    if (shard && targets && (shard->total_counted < counted || shard->total_counted < 1)) return UMUP_ERR_INVALID_ARG;
    m->row0 = shard ? shard->first_seq * T : 0;
    m->total_rows = shard ? shard->total_seqs * T : N;
    m->total_counted = shard ? shard->total_counted : counted;
    memcpy(m->ids, ids, sizeof(int32_t) * (size_t)N);
    if (targets) memcpy(m->targets, targets, sizeof(int32_t) * (size_t)N);
    m->B = B; m->T = T; m->step = step; m->has_targets = targets != NULL;
    m->n_stats = 0;
    /* h0 [N, d] = embedding(ids) times the embedding's multiplier (1 with unit-scaled ops) */
    UMUP__TRY(umup_embedding_forward(m->h0, ids, N, m->params, m->V, m->d));
    umup_scale_fwd_forward(m->h0, m->h0, n, m->tensors[0].rule.multiplier);
    h = m->h0;
    umup__stat(m, "embedding", -1, m->h0, n);
    for (l = 0; l < m->L; l++) {
        umup__layer_acts *A = &m->layer[l];
        float *r;
        /* hmid = res(h, attn(in(h))) */
        umup__branch_in_fwd(m, A->ln1, h, N);
        UMUP__TRY(umup__attention_fwd(m, l, B, T));
        r = umup__branch_out_fwd(m, A->ao, A->aon, N, 2 * l);
        UMUP__TRY(umup__residual_fwd(m, 2 * l, A->hmid, h, r, n));
        umup__stat(m, "attn_residual", l, A->hmid, n);
        /* hout = res(hmid, mlp(in(hmid))) */
        umup__branch_in_fwd(m, A->ln2, A->hmid, N);
        UMUP__TRY(umup__mlp_fwd(m, l, N));
        r = umup__branch_out_fwd(m, A->mo, A->mon, N, 2 * l + 1);
        UMUP__TRY(umup__residual_fwd(m, 2 * l + 1, A->hout, A->hmid, r, n));
        umup__stat(m, "mlp_residual", l, A->hout, n);
        h = A->hout;
    }
    /* logits [N, V] = readout(norm(h)) */
    umup__norm_fwd(m, m->lnf, h, N);
    umup__stat(m, "final_norm", -1, m->lnf, n);
    UMUP__TRY(umup__linear_fwd(m, m->n_tensors - 1, m->lnf, m->logits, N, 1));
    umup__stat(m, "projection", -1, m->logits, (size_t)N * (size_t)m->V);
    if (!targets) return UMUP_OK;
    if (!counted) { *loss = 0.0f; return UMUP_OK; } /* a shard without counted targets */
    umup_cross_entropy_scales(&s, counted, m->V, m->cfg.alpha_loss_softmax, m->pinfo->unit_ops);
    UMUP__TRY(umup_cross_entropy_forward(loss, m->logits, targets, N, m->V, &s));
    if (shard) *loss = (float)((double)*loss * counted / (double)m->total_counted); /* the shard's share */
    return UMUP_OK;
}

/* ---- backward ----------------------------------------------------------------------------------- */

UMUPDEF umup_status umup_model_backward(umup_model *m) {
    int N, l;
    size_t n;
    umup_op_scales s;
    if (!m) return UMUP_ERR_NULL;
    if (!m->has_targets || m->B < 1) return UMUP_ERR_INVALID_ARG;
    N = m->B * m->T;
    n = (size_t)N * (size_t)m->d;
    /* loss -> logits -> final norm: dh [N, d] */
    umup_cross_entropy_scales(&s, (int)m->total_counted, m->V, m->cfg.alpha_loss_softmax, m->pinfo->unit_ops);
    for (l = 0; l < N && m->targets[l] < 0; l++) {}
    if (l < N) UMUP__TRY(umup__cross_entropy_backward(m->dlogits, m->logits, m->targets, N, m->V, 1.0f, &s, 0));
    else memset(m->dlogits, 0, sizeof(float) * (size_t)N * (size_t)m->V); /* a shard without counted targets */
    UMUP__TRY(umup__linear_bwd(m, m->n_tensors - 1, m->lnf, m->dlogits, m->dtmp, N, 0, 1));
    umup__norm_bwd(m, m->dh, m->dtmp, m->layer[m->L - 1].hout, N, 0);
    for (l = m->L - 1; l >= 0; l--) {
        umup__layer_acts *A = &m->layer[l];
        const float *hin = l ? m->layer[l - 1].hout : m->h0;
        float *sw;
        /* hout = res(hmid, mlp(in(hmid))) */
        umup__residual_bwd_branch(m, 2 * l + 1, m->dtmp, m->dh, n);
        umup__branch_out_bwd(m, m->dtmp, m->dr, A->mo, N, 2 * l + 1);
        UMUP__TRY(umup__mlp_bwd(m, l));
        umup__branch_in_bwd(m, m->dr, m->dxin, A->hmid, N);
        umup__residual_bwd_skip(m, 2 * l + 1, m->dh2, m->dh, m->dr, n);
        sw = m->dh; m->dh = m->dh2; m->dh2 = sw;
        /* hmid = res(hin, attn(in(hin))) */
        umup__residual_bwd_branch(m, 2 * l, m->dtmp, m->dh, n);
        umup__branch_out_bwd(m, m->dtmp, m->dr, A->ao, N, 2 * l);
        UMUP__TRY(umup__attention_bwd(m, l));
        umup__branch_in_bwd(m, m->dr, m->dxin, hin, N);
        umup__residual_bwd_skip(m, 2 * l, m->dh2, m->dh, m->dr, n);
        sw = m->dh; m->dh = m->dh2; m->dh2 = sw;
    }
    /* embedding: dW[ids] += grad_w dh, grad_w = sqrt(V / N) unit-scaled, the multiplier if plain */
    umup__scales_ones(&s);
    if (m->pinfo->unit_ops) umup_embedding_scales(&s, m->V, m->total_rows);
    else s.grad_w = m->tensors[0].rule.multiplier;
    UMUP__TRY(umup_embedding_backward(m->grads, m->dh, m->ids, N, m->V, m->d, &s));
    if (m->grad_hook) m->grad_hook(m->grad_hook_ctx, 0);
    return UMUP_OK;
}

UMUPDEF umup_status umup_model_param_groups(const umup_model *m, umup_optimizer_kind kind, umup_param_group *groups) {
    int t;
    if (!m || !groups) return UMUP_ERR_NULL;
    if (!umup__optim_ok(kind)) return UMUP_ERR_INVALID_ARG;
    for (t = 0; t < m->n_tensors; t++) {
        const umup_tensor_info *ti = &m->tensors[t];
        float f = kind == UMUP_OPT_SGD ? ti->rule.lr_sgd : ti->rule.lr_adam;
        if (!(f >= 0.0f)) return UMUP_ERR_INVALID_ARG;
        groups[t].offset = ti->offset;
        groups[t].size = ti->size;
        groups[t].lr_factor = f;
        groups[t].wd = ti->rule.wd;
        groups[t].wd_factor = kind == UMUP_OPT_SGD ? ti->rule.wd_factor_sgd : ti->rule.wd_factor;
        groups[t].eps_factor = ti->rule.eps_factor;
    }
    return UMUP_OK;
}

/* ---- the model's constants, for re-implementations ------------------------------ >>model-plan */

UMUPDEF umup_status umup_model_get_plan(const umup_model *m, int B, int T, int counted, umup_model_plan *out) {
    umup_op_scales unused;
    if (!m || !out) return UMUP_ERR_NULL;
    if (B < 1 || T < 1 || counted < 1 || B > 2147483647 / T || counted > B * T) return UMUP_ERR_SHAPE;
    memset(out, 0, sizeof *out);
    out->unit_ops = m->pinfo->unit_ops;
    out->residual = m->pinfo->residual;
    out->attn_scale = m->attn_scale;
    out->emb_multiplier = m->tensors[0].rule.multiplier;
    out->skip_w = m->res_skip;
    out->branch_w = m->res_branch;
    out->taus = m->taus;
    umup__ops_scales(m, T, &out->sdpa, &out->glu, &unused);
    umup__ops_scales(m, 1, &unused, &unused, &out->dropout); /* as umup__branch_dropout asks */
    umup_cross_entropy_scales(&out->loss, counted, m->V, m->cfg.alpha_loss_softmax, m->pinfo->unit_ops);
    umup__scales_ones(&out->embedding);
    if (m->pinfo->unit_ops) umup_embedding_scales(&out->embedding, m->V, B * T);
    else out->embedding.grad_w = m->tensors[0].rule.multiplier;
    return UMUP_OK;
}

UMUPDEF umup_status umup_model_linear_scales(const umup_model *m, int t, int rows, umup_op_scales *s) {
    if (!m || !s) return UMUP_ERR_NULL;
    if (t < 1 || t >= m->n_tensors || rows < 1) return UMUP_ERR_SHAPE;
    umup__lin_scales(m, t, rows, s);
    return UMUP_OK;
}

UMUPDEF uint64_t umup_model_fp8_seed(const umup_model *m, long step, int t, int purpose) {
    return m ? umup__sr_seed(m, step, t, purpose) : 0u;
}

UMUPDEF void umup_model_dropout_stream(const umup_model *m, long step, int branch, uint64_t *seed, uint64_t *counter) {
    uint64_t s = 0, c = 0;
    if (m) umup__dropout_stream(m, step, branch, &s, &c);
    if (seed) *seed = s;
    if (counter) *counter = c;
}

/* ============================================================================================ */
/* 10. Data (implementation)                                                              >>data */
/* ============================================================================================ */

typedef struct {
    uint64_t seed, ctr;
    double bits;            /* information of the choices so far */
    char *out;
    size_t n, pos;
    char names[8][16];      /* characters introduced in the current paragraph */
    int n_names;
    double zipf[3][600];    /* cached cumulative Zipf weights for the three vocabularies */
    int zipf_k[3];
} umup__gen;

static uint32_t umup__gen_u32(umup__gen *g) { return umup_rng_u32(g->seed, g->ctr++); }

/* uniform choice in [0, k) */
static int umup__gen_pick(umup__gen *g, int k) {
    g->bits += log((double)k) / log(2.0);
    return (int)(((uint64_t)umup__gen_u32(g) * (uint64_t)k) >> 32);
}

/* Zipf(1) choice in [0, k): P(i) proportional to 1/(i+1); k <= 1024. The cumulative weights are
 * computed once per k and cached in the generator. */
static int umup__gen_zipf(umup__gen *g, int k) {
    double *cum, u;
    int lo = 0, hi = k - 1, slot = k == 600 ? 0 : k == 200 ? 1 : 2;
    UMUP_ASSERT(k == 600 || k == 200 || k == 120);
    cum = g->zipf[slot];
    if (g->zipf_k[slot] != k) {
        int i;
        double h = 0.0;
        for (i = 0; i < k; i++) { h += 1.0 / (i + 1); cum[i] = h; }
        g->zipf_k[slot] = k;
    }
    u = (umup__gen_u32(g) + 0.5) / 4294967296.0 * cum[k - 1];
    while (lo < hi) { /* first i with u < cum[i] */
        int mid = (lo + hi) / 2;
        if (u < cum[mid]) hi = mid; else lo = mid + 1;
    }
    g->bits -= log(1.0 / (lo + 1) / cum[k - 1]) / log(2.0);
    return lo;
}

static void umup__gen_put(umup__gen *g, const char *s) {
    while (*s && g->pos < g->n) g->out[g->pos++] = *s++;
}

/* word `idx` of class `cls` (0 noun, 1 verb, 2 adjective, 3 name): a fixed syllable string */
static void umup__gen_word(char *w, int cls, int idx) {
    static const char *const cons[16] = {"b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "sh", "th"};
    static const char *const vow[6] = {"a", "e", "i", "o", "u", "ai"};
    uint32_t h = umup_rng_u32((uint64_t)0xC0FFEEu + (uint64_t)cls, (uint64_t)idx);
    int syl = 1 + (int)(h % 3u), s;
    w[0] = 0;
    if (cls == 2 && syl > 2) syl = 2;
    for (s = 0; s < syl; s++) {
        uint32_t r = umup_rng_u32((uint64_t)0xBEEFu + (uint64_t)cls * 7919u + (uint64_t)idx, (uint64_t)s);
        strcat(w, cons[r % 16u]);
        strcat(w, vow[(r >> 8) % 6u]);
    }
    if (cls == 1) strcat(w, (h >> 8) % 2u ? "n" : "r"); /* verbs end in a consonant */
    if (cls == 3 && w[0] >= 'a' && w[0] <= 'z') w[0] = (char)(w[0] - 'a' + 'A');
}

static void umup__gen_np(umup__gen *g, int plural) { /* [adjective] noun[s] */
    char w[64];
    umup__gen_put(g, "the ");
    if (umup__gen_pick(g, 2)) {
        umup__gen_word(w, 2, umup__gen_zipf(g, 120));
        umup__gen_put(g, w);
        umup__gen_put(g, " ");
    }
    umup__gen_word(w, 0, umup__gen_zipf(g, 600));
    umup__gen_put(g, w);
    if (plural) umup__gen_put(g, "s");
}

static void umup__gen_sentence(umup__gen *g) {
    char w[64], num[48];
    int kind = umup__gen_pick(g, 8), plural;
    if (kind <= 3) {               /* agreement: the [adj] noun(s) verb(s) the [adj] noun(s). */
        plural = umup__gen_pick(g, 2);
        umup__gen_np(g, plural);
        umup__gen_word(w, 1, umup__gen_zipf(g, 200));
        umup__gen_put(g, " ");
        umup__gen_put(g, w);
        if (!plural) umup__gen_put(g, "s");
        umup__gen_put(g, " ");
        umup__gen_np(g, umup__gen_pick(g, 2));
        umup__gen_put(g, ". ");
    } else if (kind == 4) {        /* introduce a character */
        umup__gen_word(w, 3, umup__gen_pick(g, 400));
        if (g->n_names < 8) strcpy(g->names[g->n_names++], w);
        umup__gen_put(g, w);
        umup__gen_put(g, " is a ");
        umup__gen_word(w, 0, umup__gen_zipf(g, 600));
        umup__gen_put(g, w);
        umup__gen_put(g, ". ");
    } else if (kind == 5 && g->n_names > 0) { /* refer back to a character of this paragraph */
        umup__gen_put(g, g->names[umup__gen_pick(g, g->n_names)]);
        umup__gen_word(w, 1, umup__gen_zipf(g, 200));
        umup__gen_put(g, " ");
        umup__gen_put(g, w);
        umup__gen_put(g, "s ");
        umup__gen_np(g, 0);
        umup__gen_put(g, ". ");
    } else if (kind == 6) {        /* arithmetic with the right answer */
        int a = umup__gen_pick(g, 100), b = umup__gen_pick(g, 100);
        snprintf(num, sizeof num, "%d + %d = %d. ", a, b, a + b);
        umup__gen_put(g, num);
    } else {                       /* balanced nested brackets around words */
        int depth = 1 + umup__gen_pick(g, 3), i;
        for (i = 0; i < depth; i++) {
            umup__gen_put(g, "(");
            umup__gen_word(w, 0, umup__gen_zipf(g, 600));
            umup__gen_put(g, w);
            umup__gen_put(g, " ");
        }
        for (i = 0; i < depth; i++) umup__gen_put(g, ")");
        umup__gen_put(g, ". ");
    }
}

UMUPDEF umup_status umup_corpus_generate(char *buf, size_t n, uint64_t seed, double *bits_per_byte) {
    umup__gen *gp;
    if (!buf && n) return UMUP_ERR_NULL;
    if (n > (size_t)PTRDIFF_MAX) return UMUP_ERR_SHAPE;
    gp = (umup__gen *)UMUP_MALLOC(sizeof *gp);
    if (!gp) return UMUP_ERR_NOMEM;
    memset(gp, 0, sizeof *gp);
    gp->seed = seed;
    gp->out = buf;
    gp->n = n;
    while (gp->pos < n) {
        int s, ns = 3 + umup__gen_pick(gp, 6);
        gp->n_names = 0;
        for (s = 0; s < ns && gp->pos < n; s++) umup__gen_sentence(gp);
        umup__gen_put(gp, "\n\n");
    }
    if (bits_per_byte) *bits_per_byte = n ? gp->bits / (double)n : 0.0;
    UMUP_FREE(gp);
    return UMUP_OK;
}

static umup_status umup__dataset_split(umup_dataset *ds, double val_fraction) {
    if (val_fraction == 0.0) val_fraction = 0.1;
    if (!(val_fraction > 0.0 && val_fraction <= 0.5)) return UMUP_ERR_INVALID_ARG;
    ds->n_train = ds->n - (size_t)((double)ds->n * val_fraction);
    return UMUP_OK;
}

UMUPDEF umup_status umup_dataset_from_corpus(umup_dataset *ds, size_t n, uint64_t seed, double val_fraction) {
    if (!ds) return UMUP_ERR_NULL;
    memset(ds, 0, sizeof *ds);
    if (n < 1024 || !(val_fraction >= 0.0 && val_fraction <= 0.5)) return UMUP_ERR_INVALID_ARG;
    if (n > (size_t)PTRDIFF_MAX) return UMUP_ERR_NOMEM; /* no allocation can be that large */
    ds->data = (uint8_t *)UMUP_MALLOC(n);
    if (!ds->data) return UMUP_ERR_NOMEM;
    ds->n = n;
    umup_corpus_generate((char *)ds->data, n, seed, &ds->choice_bits_per_byte);
    return umup__dataset_split(ds, val_fraction);
}

/* Opening a file for reading (data files here, checkpoints in section 11): only regular files. On
 * POSIX systems open(O_NONBLOCK) + fstat, so that a FIFO (whose plain open would wait for a writer)
 * or a device is refused at once; elsewhere stdio, where fopen refuses directories (or a directory
 * reports no usable size) and the size comes from fseek/ftell. On failure *why says why in a phrase
 * that follows the file's name (static storage) and err keeps the open's errno (0 if none). */
typedef struct { int fd, err; FILE *f; uint64_t size; } umup__rfile;

static void umup__rfile_close(umup__rfile *r) {
#if UMUP__POSIX
    if (r->fd >= 0) close(r->fd);
#else
    if (r->f) fclose(r->f);
#endif
    r->fd = -1;
    r->f = NULL;
}

static umup_status umup__rfile_open(umup__rfile *r, const char *path, const char **why) {
#if UMUP__POSIX
    struct stat sb;
#else
    long size;
#endif
    memset(r, 0, sizeof *r);
    r->fd = -1;
#if UMUP__POSIX
    r->fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | UMUP__O_CLOEXEC);
    if (r->fd < 0) { r->err = errno; *why = "cannot be opened for reading (missing or no permission)"; return UMUP_ERR_IO; }
    if (fstat(r->fd, &sb) != 0) { umup__rfile_close(r); *why = "cannot be inspected (fstat failed)"; return UMUP_ERR_IO; }
    if (!S_ISREG(sb.st_mode)) {
        umup__rfile_close(r);
        *why = S_ISDIR(sb.st_mode)    ? "is a directory, not a regular file"
               : S_ISFIFO(sb.st_mode) ? "is a FIFO (named pipe), not a regular file"
               : S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode) ? "is a device, not a regular file"
                                                             : "is not a regular file";
        return UMUP_ERR_IO;
    }
    r->size = sb.st_size > 0 ? (uint64_t)sb.st_size : 0u;
#else
    r->f = fopen(path, "rb");
    if (!r->f) { r->err = errno; *why = "cannot be opened for reading (missing, no permission or not a file)"; return UMUP_ERR_IO; }
    /* a directory opened this way reports no size, or an absurd one (LONG_MAX on glibc) */
    if (fseek(r->f, 0, SEEK_END) != 0 || (size = ftell(r->f)) < 0 || fseek(r->f, 0, SEEK_SET) != 0 ||
        (unsigned long)size >= (unsigned long)LONG_MAX / 2) {
        umup__rfile_close(r);
        *why = "is not a regular file (no size can be read)";
        return UMUP_ERR_IO;
    }
    r->size = (uint64_t)size;
#endif
    return UMUP_OK;
}

/* Reads exactly n bytes at offset off (retrying short reads and EINTR); 0 at end of file or on an error. */
static int umup__rfile_read(umup__rfile *r, void *buf, size_t n, uint64_t off) {
    unsigned char *b = (unsigned char *)buf;
#if UMUP__POSIX
    if ((off_t)off < 0 || (uint64_t)(off_t)off != off || lseek(r->fd, (off_t)off, SEEK_SET) < 0) return 0;
    while (n > 0) {
        ssize_t g = read(r->fd, b, n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n);
        if (g < 0 && errno == EINTR) continue;
        if (g <= 0) return 0;
        b += g;
        n -= (size_t)g;
    }
    return 1;
#else
    if (off > 0x7fffffffu || fseek(r->f, (long)off, SEEK_SET) != 0) return 0;
    return fread(b, 1, n, r->f) == n;
#endif
}

/* A data file: a regular file of 1024 bytes or more that this process can address. */
static umup_status umup__data_open(umup__rfile *r, const char *path, const char **why) {
    umup_status st = umup__rfile_open(r, path, why);
    if (st != UMUP_OK) return st;
    if (r->size > (uint64_t)((size_t)-1 / 2)) {
        umup__rfile_close(r);
        *why = "is larger than this process can address";
        return UMUP_ERR_NOMEM;
    }
    if (r->size < 1024) {
        umup__rfile_close(r);
        *why = "has fewer than 1024 bytes";
        return UMUP_ERR_FORMAT;
    }
    return UMUP_OK;
}

UMUPDEF umup_status umup_dataset_check_file(const char *path, size_t *bytes, const char **why) {
    umup__rfile rf;
    const char *reason = NULL;
    umup_status st;
    if (why) *why = NULL;
    if (!path) { if (why) *why = "no path"; return UMUP_ERR_NULL; }
    st = umup__data_open(&rf, path, &reason);
    if (why) *why = reason;
    if (st != UMUP_OK) return st;
    umup__rfile_close(&rf);
    if (bytes) *bytes = (size_t)rf.size;
    return UMUP_OK;
}

UMUPDEF umup_status umup_dataset_load_file(umup_dataset *ds, const char *path, double val_fraction) {
    umup__rfile rf;
    umup_status st;
    if (!ds || !path) return UMUP_ERR_NULL;
    memset(ds, 0, sizeof *ds);
    if (!(val_fraction >= 0.0 && val_fraction <= 0.5)) { ds->error = "val_fraction is outside [0, 0.5]"; return UMUP_ERR_INVALID_ARG; }
    st = umup__data_open(&rf, path, &ds->error);
    if (st != UMUP_OK) return st;
    ds->data = (uint8_t *)UMUP_MALLOC((size_t)rf.size);
    if (!ds->data) { umup__rfile_close(&rf); ds->error = "is too large to hold in memory"; return UMUP_ERR_NOMEM; }
    if (!umup__rfile_read(&rf, ds->data, (size_t)rf.size, 0)) {
        umup__rfile_close(&rf);
        UMUP_FREE(ds->data);
        ds->data = NULL;
        ds->error = "could not be read completely (a read error, or it shrank while being read)";
        return UMUP_ERR_IO;
    }
    umup__rfile_close(&rf);
    ds->n = (size_t)rf.size;
    return umup__dataset_split(ds, val_fraction);
}

UMUPDEF void umup_dataset_free(umup_dataset *ds) {
    if (!ds) return;
    if (ds->data) UMUP_FREE(ds->data);
    memset(ds, 0, sizeof *ds);
}

UMUPDEF umup_status umup_dataset_batch(const umup_dataset *ds, int split, uint64_t seed, long step, int B, int T,
                                       int32_t *ids, int32_t *targets) {
    size_t base, len, span;
    int b, t;
    if (!ds || !ds->data || !ids || !targets) return UMUP_ERR_NULL;
    if (B < 1 || T < 1 || step < 0 || !umup__buf_ok(sizeof(int32_t), (size_t)B, (size_t)T, 1)) return UMUP_ERR_SHAPE;
    if (split != 0 && split != 1) return UMUP_ERR_INVALID_ARG;
    base = split ? ds->n_train : 0;
    len = split ? ds->n - ds->n_train : ds->n_train;
    if (len < (size_t)T + 1) return UMUP_ERR_SHAPE;
    span = len - (size_t)T;
    for (b = 0; b < B; b++) {
        size_t off;
        if (split == 0) {
            uint64_t r = ((uint64_t)umup_rng_u32(seed, (uint64_t)step * (uint64_t)B + (uint64_t)b) << 32) |
                         umup_rng_u32(seed ^ 0xA5A5A5A5ull, (uint64_t)step * (uint64_t)B + (uint64_t)b);
            off = (size_t)(r % span);
        } else {
            off = (size_t)(((uint64_t)step * (uint64_t)B + (uint64_t)b) * 7919u * (uint64_t)(T + 1) % span);
        }
        for (t = 0; t < T; t++) {
            ids[(size_t)b * (size_t)T + (size_t)t] = ds->data[base + off + (size_t)t];
            targets[(size_t)b * (size_t)T + (size_t)t] = ds->data[base + off + (size_t)t + 1];
        }
    }
    return UMUP_OK;
}

UMUPDEF double umup_dataset_unigram_entropy(const umup_dataset *ds) {
    double cnt[256] = {0}, h = 0.0;
    size_t i;
    int c;
    if (!ds || !ds->data || !ds->n_train) return 0.0;
    for (i = 0; i < ds->n_train; i++) cnt[ds->data[i]] += 1.0;
    for (c = 0; c < 256; c++)
        if (cnt[c] > 0) h -= cnt[c] / (double)ds->n_train * log(cnt[c] / (double)ds->n_train) / log(2.0);
    return h;
}

/* ============================================================================================ */
/* 11. Training, sampling and checkpoints (implementation)                            >>trainer */
/* ============================================================================================ */

struct umup_trainer {
    umup_model *model;
    umup_model_config mc_set;   /* the model configuration as the caller gave it */
    umup_optimizer opt;
    float *state;               /* optimizer moments, umup_optim_state_size floats */
    size_t n_state;
    umup_param_group *groups;   /* one per tensor */
    int shards;                 /* gradient accumulation: shards per batch (1: none) */
    int dp_on;                  /* data parallelism (umup_trainer_set_data_parallel) */
    umup_data_parallel dp;
    float *gacc;                /* [num_params] the summed gradient of the shards (shards > 1 or dp_on) */
    int n_run_info;             /* umup_trainer_set_run_info pairs */
    char run_key[16][32], run_val[16][128];
    char err[1024];             /* reason of the last failed save or load */
};

UMUPDEF umup_status umup_trainer_create(umup_trainer **out, const umup_model_config *mc, const umup_optim_config *oc,
                                        int max_batch) {
    umup_trainer *t;
    umup_status st;
    if (!out || !mc || !oc) return UMUP_ERR_NULL;
    *out = NULL;
    t = (umup_trainer *)UMUP_MALLOC(sizeof *t);
    if (!t) return UMUP_ERR_NOMEM;
    memset(t, 0, sizeof *t);
    t->shards = 1;
    t->mc_set = *mc;
    st = umup_optim_init(&t->opt, oc);
    if (st == UMUP_OK) st = umup_model_create(&t->model, mc, max_batch);
    if (st == UMUP_OK) {
        int n = umup_model_num_tensors(t->model);
        size_t bytes = 0;
        t->n_state = umup_optim_state_size(t->opt.cfg.kind, umup_model_num_params(t->model));
        if (umup__size_mul(&bytes, t->n_state ? t->n_state : 1, sizeof(float)))
            t->state = (float *)UMUP_MALLOC(bytes);
        t->groups = (umup_param_group *)UMUP_MALLOC(sizeof(umup_param_group) * (size_t)n);
        if (!t->state || !t->groups) st = UMUP_ERR_NOMEM;
        else {
            memset(t->state, 0, sizeof(float) * t->n_state);
            st = umup_model_param_groups(t->model, t->opt.cfg.kind, t->groups);
        }
    }
    if (st != UMUP_OK) { umup_trainer_destroy(t); return st; }
    *out = t;
    return UMUP_OK;
}

UMUPDEF void umup_trainer_destroy(umup_trainer *t) {
    if (!t) return;
    umup_model_destroy(t->model);
    if (t->state) UMUP_FREE(t->state);
    if (t->groups) UMUP_FREE(t->groups);
    if (t->gacc) UMUP_FREE(t->gacc);
    UMUP_FREE(t);
}

UMUPDEF umup_model *umup_trainer_model(umup_trainer *t) { return t ? t->model : NULL; }
UMUPDEF const umup_optimizer *umup_trainer_optimizer(const umup_trainer *t) { return t ? &t->opt : NULL; }
UMUPDEF size_t umup_trainer_state_bytes(const umup_trainer *t) { return t ? t->n_state * sizeof(float) : 0; }
UMUPDEF umup_param_group *umup_trainer_param_groups(umup_trainer *t, int *n) {
    if (n) *n = t ? umup_model_num_tensors(t->model) : 0;
    return t ? t->groups : NULL;
}
UMUPDEF float *umup_trainer_state(umup_trainer *t) { return t ? t->state : NULL; }
UMUPDEF umup_status umup_trainer_set_step(umup_trainer *t, long step) {
    if (!t) return UMUP_ERR_NULL;
    if (step < 0) return UMUP_ERR_INVALID_ARG;
    t->opt.step = step;
    return UMUP_OK;
}
UMUPDEF const char *umup_trainer_error(const umup_trainer *t) { return t ? t->err : ""; }

/* The accumulation buffer for shards or data parallelism. */
static umup_status umup__trainer_gacc(umup_trainer *t) {
    size_t bytes;
    if (t->gacc) return UMUP_OK;
    if (!umup__size_mul(&bytes, umup_model_num_params(t->model) ? umup_model_num_params(t->model) : 1, sizeof(float)))
        return UMUP_ERR_NOMEM;
    t->gacc = (float *)UMUP_MALLOC(bytes);
    return t->gacc ? UMUP_OK : UMUP_ERR_NOMEM;
}

UMUPDEF umup_status umup_trainer_set_shards(umup_trainer *t, int shards) {
    if (!t) return UMUP_ERR_NULL;
    if (shards < 1 || (t->dp_on && shards != 1)) return UMUP_ERR_INVALID_ARG;
    if (shards > 1) UMUP__TRY(umup__trainer_gacc(t));
    t->shards = shards;
    return UMUP_OK;
}

UMUPDEF umup_status umup_trainer_set_data_parallel(umup_trainer *t, const umup_data_parallel *dp) {
    if (!t) return UMUP_ERR_NULL;
    if (!dp) { t->dp_on = 0; return UMUP_OK; }
    if (dp->size < 1 || dp->rank < 0 || dp->rank >= dp->size || !dp->allreduce || t->shards != 1)
        return UMUP_ERR_INVALID_ARG;
    UMUP__TRY(umup__trainer_gacc(t));
    t->dp = *dp;
    t->dp_on = 1;
    return UMUP_OK;
}

/* The gradient of shards first .. last of a batch cut into S shards of b sequences, added in shard
   order into t->gacc; *loss_sum receives the sum of their loss shares. */
static umup_status umup__trainer_shards(umup_trainer *t, const int32_t *ids, const int32_t *targets, int S, int first,
                                        int last, int b, int T, long counted, double *loss_sum) {
    umup_model *m = t->model;
    size_t n = umup_model_num_params(m), i;
    int s;
    *loss_sum = 0.0;
    for (s = first; s <= last; s++) {
        umup_batch_shard sh;
        float l = 0.0f;
        umup_status st;
        size_t off = (size_t)s * (size_t)b * (size_t)T;
        sh.first_seq = s * b;
        sh.total_seqs = S * b;
        sh.total_counted = counted;
        umup_model_zero_grad(m);
        st = umup_model_forward_shard(m, ids + off, targets + off, b, T, t->opt.step, &sh, &l);
        if (st == UMUP_OK && !(l < 3.4e38f)) st = UMUP_ERR_NONFINITE;
        if (st == UMUP_OK) st = umup_model_backward(m);
        if (st != UMUP_OK) return st;
        *loss_sum += l;
        if (s == first) memcpy(t->gacc, m->grads, n * sizeof(float));
        else
            for (i = 0; i < n; i++) t->gacc[i] += m->grads[i];
    }
    return UMUP_OK;
}

UMUPDEF umup_status umup_trainer_step(umup_trainer *t, const int32_t *ids, const int32_t *targets, int B, int T,
                                      float *loss) {
    umup_status st;
    float l = 0.0f;
    const float *grads;
    if (!t || !ids || !targets) return UMUP_ERR_NULL;
    umup_model_set_training(t->model, 1);
    if (t->shards == 1 && !t->dp_on) { /* one pass over the whole batch */
        umup_model_zero_grad(t->model);
        st = umup_model_forward(t->model, ids, targets, B, T, t->opt.step, &l);
        if (st == UMUP_OK && !(l < 3.4e38f)) st = UMUP_ERR_NONFINITE;
        if (st == UMUP_OK) st = umup_model_backward(t->model);
        grads = umup_model_grads(t->model);
    } else { /* shards: accumulated here, or one per process and summed by the data-parallel allreduce */
        int S = t->dp_on ? t->dp.size : t->shards, first = t->dp_on ? t->dp.rank : 0, last = t->dp_on ? t->dp.rank : S - 1;
        long counted = 0;
        double ls = 0.0;
        size_t i, nt = (size_t)B * (size_t)T;
        if (B < 1 || T < 1 || B % S) { umup_model_set_training(t->model, 0); return UMUP_ERR_SHAPE; }
        for (i = 0; i < nt; i++) counted += targets[i] >= 0;
        st = counted ? umup__trainer_shards(t, ids, targets, S, first, last, B / S, T, counted, &ls) : UMUP_ERR_INVALID_ARG;
        if (t->dp_on && counted) { /* every process takes part, also one whose own shard failed: none waits forever */
            umup_status sr;
            size_t n = umup_model_num_params(t->model);
            if (st != UMUP_OK) { ls = NAN; memset(t->gacc, 0, n * sizeof(float)); }
            sr = t->dp.allreduce(t->dp.ctx, t->gacc, n, &ls);
            if (st == UMUP_OK) st = sr;
            if (st == UMUP_OK && !(ls < 3.4e38)) st = UMUP_ERR_NONFINITE; /* some process's share failed */
        }
        l = (float)ls;
        grads = t->gacc;
    }
    umup_model_set_training(t->model, 0);
    if (loss) *loss = l;
    if (st != UMUP_OK) return st;
    /* umup_model_params bumps the weight epoch, so GEMM backends drop their cached weights */
    return umup_optim_step(&t->opt, umup_model_params(t->model), grads, t->state, umup_model_num_params(t->model),
                           t->groups, umup_model_num_tensors(t->model));
}

UMUPDEF umup_status umup_trainer_eval(umup_trainer *t, const int32_t *ids, const int32_t *targets, int B, int T,
                                      float *loss) {
    umup_model *m;
    long counted = 0;
    double sum = 0.0;
    size_t i;
    int b0;
    if (!t || !ids || !targets || !loss) return UMUP_ERR_NULL;
    m = t->model;
    if (B <= m->maxB) return umup_model_forward(m, ids, targets, B, T, t->opt.step, loss);
    if (T < 1 || B > 2147483647 / T) return UMUP_ERR_SHAPE;
    for (i = 0; i < (size_t)B * (size_t)T; i++) counted += targets[i] >= 0;
    if (!counted) return UMUP_ERR_INVALID_ARG;
    for (b0 = 0; b0 < B; b0 += m->maxB) { /* parts of max_batch sequences, each its share of the mean */
        umup_batch_shard sh;
        int b = B - b0 < m->maxB ? B - b0 : m->maxB;
        size_t off = (size_t)b0 * (size_t)T;
        float l = 0.0f;
        long c = 0;
        for (i = 0; i < (size_t)b * (size_t)T; i++) c += targets[off + i] >= 0;
        if (!c) continue; /* nothing counted here */
        sh.first_seq = b0;
        sh.total_seqs = B;
        sh.total_counted = counted;
        UMUP__TRY(umup_model_forward_shard(m, ids + off, targets + off, b, T, t->opt.step, &sh, &l));
        sum += l;
    }
    *loss = (float)sum;
    return UMUP_OK;
}

UMUPDEF umup_status umup_model_sample(umup_model *m, const int32_t *prompt, int n_prompt, int n_new, float temperature,
                                      int top_k, uint64_t seed, int32_t *out) {
    int32_t *ctx;
    double *p;
    int total, i, V;
    umup_status st = UMUP_OK;
    if (!m || !prompt || (n_new > 0 && !out)) return UMUP_ERR_NULL;
    if (n_prompt < 1 || n_new < 0) return UMUP_ERR_SHAPE;
    if (!(temperature >= 0.0f) || top_k < 0) return UMUP_ERR_INVALID_ARG;
    V = m->V;
    for (i = 0; i < n_prompt; i++) if (prompt[i] < 0 || prompt[i] >= V) return UMUP_ERR_INVALID_ARG;
    total = n_prompt + n_new;
    ctx = (int32_t *)UMUP_MALLOC(sizeof(int32_t) * (size_t)total);
    p = (double *)UMUP_MALLOC(sizeof(double) * (size_t)V);
    if (!ctx || !p) { if (ctx) UMUP_FREE(ctx); if (p) UMUP_FREE(p); return UMUP_ERR_NOMEM; }
    memcpy(ctx, prompt, sizeof(int32_t) * (size_t)n_prompt);
    for (i = n_prompt; i < total && st == UMUP_OK; i++) {
        int T = i < m->maxT ? i : m->maxT, j, best = 0, next = 0;
        const float *z;
        double mx = -HUGE_VAL, sum = 0.0, u, acc = 0.0, mult = m->cfg.alpha_loss_softmax;
        st = umup_model_forward(m, ctx + (i - T), NULL, 1, T, 0, NULL);
        if (st != UMUP_OK) break;
        z = m->logits + (size_t)(T - 1) * (size_t)V;
        for (j = 0; j < V; j++) if (z[j] > z[best]) best = j;
        if (temperature == 0.0f) { ctx[i] = best; continue; }
        for (j = 0; j < V; j++) { p[j] = mult * z[j] / temperature; if (p[j] > mx) mx = p[j]; }
        if (top_k > 0 && top_k < V) { /* keep the top_k largest: threshold = k-th largest value */
            int k, c;
            double thr = mx;
            for (k = 0; k < top_k; k++) {
                double cand = -HUGE_VAL;
                for (j = 0; j < V; j++) if (p[j] < thr && p[j] > cand) cand = p[j];
                c = 0;
                for (j = 0; j < V; j++) c += p[j] >= thr;
                if (c >= top_k || cand == -HUGE_VAL) break;
                thr = cand;
            }
            for (j = 0; j < V; j++) if (p[j] < thr) p[j] = -HUGE_VAL;
        }
        for (j = 0; j < V; j++) { p[j] = p[j] == -HUGE_VAL ? 0.0 : exp(p[j] - mx); sum += p[j]; }
        u = umup_rng_uniform(seed, (uint64_t)i) * sum;
        for (j = 0; j < V; j++) {
            acc += p[j];
            if (p[j] > 0.0) next = j;
            if (u < acc && p[j] > 0.0) break;
        }
        ctx[i] = next;
    }
    if (st == UMUP_OK) memcpy(out, ctx + n_prompt, sizeof(int32_t) * (size_t)n_new);
    UMUP_FREE(ctx);
    UMUP_FREE(p);
    return st;
}

/* ---- checkpoints: error text ---------------------------------------------------- >>checkpoint */

/* A message buffer that collects several reasons ("a; b; c (and 3 more)"). */
typedef struct { char *buf; size_t cap, len; int n, dropped; } umup__msg;

static void umup__msg_init(umup__msg *m, char *buf, size_t cap) {
    m->buf = buf; m->cap = buf ? cap : 0; m->len = 0; m->n = 0; m->dropped = 0;
    if (m->cap) buf[0] = 0;
}
/* Appends one reason (separated by "; "); reasons that no longer fit are counted instead. */
static void umup__msg_add(umup__msg *m, const char *fmt, ...) {
    char one[512];
    size_t l;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(one, sizeof one, fmt, ap);
    va_end(ap);
    m->n++;
    l = strlen(one);
    if (!m->cap) return;
    if (m->len + l + 2 + 24 >= m->cap && m->n > 1) { m->dropped++; return; }
    snprintf(m->buf + m->len, m->cap - m->len, "%s%s", m->n > 1 ? "; " : "", one);
    m->len += strlen(m->buf + m->len);
}
static void umup__msg_finish(umup__msg *m) {
    if (m->dropped && m->cap) snprintf(m->buf + m->len, m->cap - m->len, " (and %d more)", m->dropped);
}

/* Floats as text independent of the C locale's decimal point ('.'), in the fewest significant
 * digits (at most max_digits: 9 for float, 17 for double) that read back as the same value:
 * 0.4f -> "0.4", 0.3 -> "0.3", 1e-8 -> "1e-08". */
static int umup__parse_g(const char *s, double *out);
static void umup__fmt_g(char *out, size_t cap, double v, int max_digits) {
    const char *dp = localeconv()->decimal_point;
    int digits;
    for (digits = max_digits > 9 ? 15 : 6; digits <= max_digits; digits++) {
        char *p;
        double back = 0;
        snprintf(out, cap, "%.*g", digits, v);
        if (dp && dp[0] && dp[0] != '.' && !dp[1] && (p = strchr(out, dp[0])) != NULL) *p = '.';
        if (umup__parse_g(out, &back) && (max_digits > 9 ? back == v : (float)back == (float)v)) return;
    }
}
/* The exact inverse: the whole string is one finite number (no spaces, no hex, no inf/nan). */
static int umup__parse_g(const char *s, double *out) {
    const char *dp = localeconv()->decimal_point;
    char buf[64], *end;
    size_t i, n = strlen(s);
    if (n == 0 || n >= sizeof buf) return 0;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '-' || c == '+')) return 0;
        buf[i] = c == '.' && dp && dp[0] && !dp[1] ? dp[0] : c;
    }
    buf[n] = 0;
    *out = strtod(buf, &end);
    return *end == 0 && end != buf && *out - *out == 0.0; /* finite */
}
/* A decimal without sign, leading '+' or spaces, at most max: "0", "17"; "" and "1e3" fail. */
static int umup__parse_u64(const char *s, uint64_t max, uint64_t *out) {
    uint64_t v = 0;
    if (!*s) return 0;
    for (; *s; s++) {
        unsigned d;
        if (*s < '0' || *s > '9') return 0;
        d = (unsigned)(*s - '0');
        if (v > (max - d) / 10) return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

/* ---- checkpoints: files ------------------------------------------------------------------------- */
/* POSIX: open/fstat/fsync/rename/readlink/fcntl locks. Plain C elsewhere (and with UMUP_NO_POSIX). */

static char *umup__strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = (char *)UMUP_MALLOC(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* A new string "a" "b" "c" (NULL when out of memory or when the length does not fit). */
static char *umup__cat3(const char *a, const char *b, const char *c) {
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c), n;
    char *s;
    if (!umup__size_add(&n, la, lb) || !umup__size_add(&n, n, lc) || !umup__size_add(&n, n, 1)) return NULL;
    s = (char *)UMUP_MALLOC(n);
    if (!s) return NULL;
    memcpy(s, a, la);
    memcpy(s + la, b, lb);
    memcpy(s + la + lb, c, lc + 1);
    return s;
}

/* Writing a file atomically: a temporary next to the target, renamed over it when complete. */
typedef struct {
    char *target;   /* the file that is replaced (symbolic links followed) */
    char *dir;      /* its directory */
    char *tmp;      /* the temporary */
    int fd;         /* POSIX */
    FILE *f;        /* plain C */
    int failed, err_no;
} umup__afile;

#if UMUP__POSIX
/* A new string: the directory part of path ("." when there is none; "/" for "/x"). */
static char *umup__dirname(const char *path) {
    const char *slash = strrchr(path, '/');
    char *d;
    size_t n;
    if (!slash) return umup__strdup(".");
    n = slash == path ? 1 : (size_t)(slash - path);
    d = (char *)UMUP_MALLOC(n + 1);
    if (!d) return NULL;
    memcpy(d, path, n);
    d[n] = 0;
    return d;
}

/* path -> the file a write to path ends up replacing: symbolic links are followed (relative ones
 * against the link's directory) up to 40 deep; the result need not exist. IO errors in msg. */
static umup_status umup__resolve_target(const char *path, char **out, umup__msg *msg) {
    char *cur = umup__strdup(path);
    int hops;
    *out = NULL;
    if (!cur) return UMUP_ERR_NOMEM;
    for (hops = 0; hops <= 40; hops++) {
        struct stat sb;
        char *link = NULL, *next;
        size_t cap = 256;
        ssize_t n = -1;
        for (;;) { /* readlink succeeds exactly for a symbolic link */
            char *grown = (char *)UMUP_MALLOC(cap);
            if (link) UMUP_FREE(link);
            link = grown;
            if (!link) { UMUP_FREE(cur); return UMUP_ERR_NOMEM; }
            n = readlink(cur, link, cap);
            if (n < 0 || (size_t)n < cap || cap >= 65536) break;
            cap *= 2;
        }
        if (n < 0) {
            int e = errno;
            UMUP_FREE(link);
            if (e == ENOENT) { *out = cur; return UMUP_OK; } /* a new file */
            if (e == EINVAL && stat(cur, &sb) == 0) { /* not a link */
                if (S_ISREG(sb.st_mode)) { *out = cur; return UMUP_OK; }
                umup__msg_add(msg, "%.300s is not a regular file (%s); a checkpoint replaces only regular files", cur,
                              S_ISDIR(sb.st_mode) ? "a directory" : S_ISFIFO(sb.st_mode) ? "a FIFO"
                              : S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode) ? "a device" : "a special file");
            } else umup__msg_add(msg, "cannot inspect %.300s: %s", cur, strerror(e == EINVAL ? errno : e));
            UMUP_FREE(cur);
            return UMUP_ERR_IO;
        }
        if ((size_t)n >= cap) {
            umup__msg_add(msg, "the symbolic link %.300s is too long", cur);
            UMUP_FREE(link);
            UMUP_FREE(cur);
            return UMUP_ERR_IO;
        }
        link[n] = 0;
        if (link[0] == '/') next = umup__strdup(link);
        else {
            char *d = umup__dirname(cur);
            next = d ? umup__cat3(d, "/", link) : NULL;
            if (d) UMUP_FREE(d);
        }
        UMUP_FREE(link);
        UMUP_FREE(cur);
        if (!next) return UMUP_ERR_NOMEM;
        cur = next;
    }
    umup__msg_add(msg, "%.300s: too many levels of symbolic links", path);
    UMUP_FREE(cur);
    return UMUP_ERR_IO;
}

/* The temporaries of target are "<dir>/.<base>.<pid>-<n>.umup-tmp"; base is cut to 180 bytes so the
 * name stays within NAME_MAX. Returns the new string "." base ".". */
static char *umup__tmp_prefix(const char *target) {
    const char *slash = strrchr(target, '/'), *base = slash ? slash + 1 : target;
    char cut[184];
    snprintf(cut, sizeof cut, "%.180s", base);
    return umup__cat3(".", cut, ".");
}

/* Removes the stale temporaries of target in dir: files named like ours that no process holds the
 * write lock on (the process that wrote them was killed). Best effort: errors are ignored. */
static void umup__remove_stale(const char *dir, const char *target) {
    char *prefix = umup__tmp_prefix(target);
    DIR *dp;
    struct dirent *de;
    size_t pl;
    if (!prefix) return;
    pl = strlen(prefix);
    dp = opendir(dir);
    if (!dp) { UMUP_FREE(prefix); return; }
    while ((de = readdir(dp)) != NULL) {
        const char *nm = de->d_name;
        size_t l = strlen(nm);
        char *full;
        int fd;
        if (l <= pl + 9 || strncmp(nm, prefix, pl) != 0 || strcmp(nm + l - 9, ".umup-tmp") != 0) continue;
        full = umup__cat3(dir, "/", nm);
        if (!full) continue;
        fd = open(full, O_WRONLY | UMUP__O_NOFOLLOW | O_NONBLOCK | UMUP__O_CLOEXEC);
        if (fd >= 0) {
            struct flock fl;
            struct stat sb;
            memset(&fl, 0, sizeof fl);
            fl.l_type = F_WRLCK;
            fl.l_whence = SEEK_SET;
            if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && fcntl(fd, F_SETLK, &fl) == 0) unlink(full);
            close(fd); /* releases the lock */
        }
        UMUP_FREE(full);
    }
    closedir(dp);
    UMUP_FREE(prefix);
}

/* Creates a new locked temporary for target in dir (exclusive create; retried on a name clash). */
static umup_status umup__create_tmp(umup__afile *a, umup__msg *msg) {
    static unsigned counter;
    char *prefix = umup__tmp_prefix(a->target);
    int tries;
    if (!prefix) return UMUP_ERR_NOMEM;
    for (tries = 0; tries < 100; tries++) {
        char tail[64];
        struct flock fl;
        struct stat by_fd, by_name;
        snprintf(tail, sizeof tail, "%ld-%u.umup-tmp", (long)getpid(), counter++);
        a->tmp = umup__cat3(a->dir, "/", prefix);
        if (a->tmp) {
            char *t2 = umup__cat3(a->tmp, tail, "");
            UMUP_FREE(a->tmp);
            a->tmp = t2;
        }
        if (!a->tmp) { UMUP_FREE(prefix); return UMUP_ERR_NOMEM; }
        a->fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | UMUP__O_NOFOLLOW | UMUP__O_CLOEXEC, 0666);
        if (a->fd < 0) {
            int e = errno;
            if (e == EEXIST) { UMUP_FREE(a->tmp); a->tmp = NULL; continue; }
            umup__msg_add(msg, "cannot create a file in %.300s: %s", a->dir, strerror(e));
            UMUP_FREE(a->tmp);
            a->tmp = NULL;
            UMUP_FREE(prefix);
            return UMUP_ERR_IO;
        }
        /* lock it, then make sure a concurrent stale-file sweep did not remove it before the lock */
        memset(&fl, 0, sizeof fl);
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        if (fcntl(a->fd, F_SETLK, &fl) == 0 && fstat(a->fd, &by_fd) == 0 && stat(a->tmp, &by_name) == 0 &&
            by_fd.st_ino == by_name.st_ino && by_fd.st_dev == by_name.st_dev) {
            UMUP_FREE(prefix);
            return UMUP_OK;
        }
        close(a->fd);
        a->fd = -1;
        UMUP_FREE(a->tmp);
        a->tmp = NULL;
    }
    umup__msg_add(msg, "cannot create a temporary file in %.300s", a->dir);
    UMUP_FREE(prefix);
    return UMUP_ERR_IO;
}
#endif

static void umup__afile_free(umup__afile *a) {
    if (a->target) UMUP_FREE(a->target);
    if (a->dir) UMUP_FREE(a->dir);
    if (a->tmp) UMUP_FREE(a->tmp);
    a->target = a->dir = a->tmp = NULL;
}

/* Removes the temporary and forgets everything; the target is untouched. */
static void umup__afile_abort(umup__afile *a) {
#if UMUP__POSIX
    if (a->fd >= 0) close(a->fd);
    a->fd = -1;
#else
    if (a->f) fclose(a->f);
    a->f = NULL;
#endif
    if (a->tmp) remove(a->tmp);
    umup__afile_free(a);
}

/* Resolves the target, sweeps stale temporaries and creates this save's temporary. */
static umup_status umup__afile_open(umup__afile *a, const char *path, umup__msg *msg) {
    umup_status st;
    memset(a, 0, sizeof *a);
    a->fd = -1;
#if UMUP__POSIX
    st = umup__resolve_target(path, &a->target, msg);
    if (st != UMUP_OK) return st;
    a->dir = umup__dirname(a->target);
    if (!a->dir) { umup__afile_free(a); return UMUP_ERR_NOMEM; }
    umup__remove_stale(a->dir, a->target);
    st = umup__create_tmp(a, msg);
    if (st != UMUP_OK) { umup__afile_free(a); return st; }
    {   /* the new file keeps the permission bits of the one it replaces */
        struct stat sb;
        if (stat(a->target, &sb) == 0) (void)chmod(a->tmp, sb.st_mode & 07777);
    }
#else
    {
        static unsigned counter;
        char tail[48];
        int tries;
        a->target = umup__strdup(path);
        if (!a->target) return UMUP_ERR_NOMEM;
        for (tries = 0; tries < 100 && !a->f; tries++) {
            FILE *probe;
            snprintf(tail, sizeof tail, ".%lu-%u.umup-tmp", (unsigned long)time(NULL), counter++);
            if (a->tmp) UMUP_FREE(a->tmp);
            a->tmp = umup__cat3(path, tail, "");
            if (!a->tmp) { umup__afile_free(a); return UMUP_ERR_NOMEM; }
            probe = fopen(a->tmp, "rb");
            if (probe) { fclose(probe); continue; }
            a->f = fopen(a->tmp, "wb");
            if (!a->f) break;
        }
        if (!a->f) {
            umup__msg_add(msg, "cannot create %.300s", a->tmp ? a->tmp : path);
            umup__afile_free(a);
            return UMUP_ERR_IO;
        }
    }
#endif
    (void)st;
    return UMUP_OK;
}

/* Appends n bytes (after a failure every later write is skipped; commit reports it). */
static void umup__afile_write(umup__afile *a, const void *p, size_t n) {
    const unsigned char *b = (const unsigned char *)p;
    if (a->failed) return;
#if UMUP__POSIX
    while (n > 0) {
        ssize_t w = write(a->fd, b, n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) { a->failed = 1; a->err_no = w < 0 ? errno : EIO; return; }
        b += w;
        n -= (size_t)w;
    }
#else
    if (fwrite(b, 1, n, a->f) != n) a->failed = 1;
#endif
}

/* Flushes the temporary to disk and renames it over the target; on any failure the temporary is
 * removed and the target is untouched. */
static umup_status umup__afile_commit(umup__afile *a, umup__msg *msg) {
#if UMUP__POSIX
    int dfd;
    if (!a->failed && fsync(a->fd) != 0) { a->failed = 1; a->err_no = errno; }
    /* rename while the lock is held, so no stale-file sweep can take the temporary */
    if (!a->failed && rename(a->tmp, a->target) != 0) { a->failed = 1; a->err_no = errno; }
    if (a->failed) {
        umup__msg_add(msg, "cannot write %.300s: %s (the previous file is unchanged)", a->target, strerror(a->err_no));
        umup__afile_abort(a);
        return UMUP_ERR_IO;
    }
    close(a->fd);
    a->fd = -1;
    UMUP_FREE(a->tmp);
    a->tmp = NULL;
    dfd = open(a->dir, O_RDONLY | UMUP__O_CLOEXEC);
    if (dfd >= 0) {
        int r = fsync(dfd), e = errno;
        close(dfd);
        if (r != 0 && e != EINVAL && e != ENOTSUP && e != EROFS && e != EBADF) {
            umup__msg_add(msg, "%.300s was written, but syncing its directory failed: %s", a->target, strerror(e));
            umup__afile_free(a);
            return UMUP_ERR_IO;
        }
    }
#else
    if (!a->failed && fflush(a->f) != 0) a->failed = 1;
    if (fclose(a->f) != 0) a->failed = 1;
    a->f = NULL;
    if (!a->failed && rename(a->tmp, a->target) != 0) {
        /* rename() does not replace an existing file everywhere (Windows): remove it first. A crash
           between the two leaves the complete new checkpoint under the temporary's name. */
        FILE *probe = fopen(a->target, "rb");
        if (!probe || (fclose(probe), remove(a->target) != 0) || rename(a->tmp, a->target) != 0) a->failed = 1;
    }
    if (a->failed) {
        umup__msg_add(msg, "cannot write %.300s (the previous file is unchanged)", a->target);
        umup__afile_abort(a);
        return UMUP_ERR_IO;
    }
    UMUP_FREE(a->tmp);
    a->tmp = NULL;
#endif
    umup__afile_free(a);
    return UMUP_OK;
}

UMUPDEF umup_status umup_checkpoint_check_writable(const char *path, char *err, size_t err_cap) {
    umup__msg msg;
    umup__afile a;
    umup_status st;
    umup__msg_init(&msg, err, err_cap);
    if (!path) return UMUP_ERR_NULL;
    if (!*path) { umup__msg_add(&msg, "empty checkpoint path"); return UMUP_ERR_IO; }
    st = umup__afile_open(&a, path, &msg);
    if (st == UMUP_OK) umup__afile_abort(&a); /* the probe file goes again */
    return st;
}

/* ---- checkpoints: the settings recorded in the metadata ----------------------------------------- */

static const char *umup__nm_norm(int v) { static const char *const n[] = {"rms", "layer"}; return v >= 0 && v < 2 ? n[v] : NULL; }
static const char *umup__nm_fp8_format(int v) {
    return v >= 0 && v < (int)UMUP_FP8_FORMAT_COUNT ? umup_fp8_name((umup_fp8_format)v) : NULL;
}
static const char *umup__nm_depth_mode(int v) {
    static const char *const n[] = {"layers", "2x_layers"};
    return v >= 0 && v < 2 ? n[v] : NULL;
}
static const char *umup__nm_depth_rule(int v) {
    static const char *const n[] = {"default", "none", "depth_mup", "completep"};
    return v >= 0 && v < 4 ? n[v] : NULL;
}
static const char *umup__nm_mlp(int v) { static const char *const n[] = {"swiglu", "gelu"}; return v >= 0 && v < 2 ? n[v] : NULL; }
static const char *umup__nm_fp8(int v) { static const char *const n[] = {"none", "all", "umup"}; return v >= 0 && v < 3 ? n[v] : NULL; }
static const char *umup__nm_rounding(int v) {
    static const char *const n[] = {"rne", "sr", "sr16"};
    return v >= 0 && v < 3 ? n[v] : NULL;
}
static const char *umup__nm_optim(int v) {
    return v >= 0 && v <= (int)UMUP_OPT_LION ? umup_optim_name((umup_optimizer_kind)v) : NULL;
}
static const char *umup__nm_sched(int v) {
    static const char *const n[] = {"constant", "cosine", "linear"};
    return v >= 0 && v < 3 ? n[v] : NULL;
}

/* Field types, and which loads compare them: ARCH (what the weights mean: every load), TRAIN (the
 * training trajectory: a full resume), TOTAL (the schedule length: never, the trainer keeps its own). */
enum { UMUP__FT_INT, UMUP__FT_AUTO, UMUP__FT_LONG, UMUP__FT_U64, UMUP__FT_FLOAT, UMUP__FT_DOUBLE, UMUP__FT_BOOL, UMUP__FT_ENUM,
       UMUP__FT_PARAM /* the parametrization's name: a built-in one, or a custom one's (the whole umup_param_config) */ };
enum { UMUP__FC_ARCH, UMUP__FC_TRAIN, UMUP__FC_TOTAL };

typedef struct {
    const char *key;
    unsigned char type, cls, optim; /* optim: a field of umup_optim_config, else of umup_model_config */
    unsigned char since;            /* the format version that added it (older files: the default) */
    size_t off, size;
    const char *(*name)(int);       /* enums: value -> name (NULL past the last) */
} umup__ckpt_field;

#define UMUP__MF(k, m, ty, cl, nm) {k, ty, cl, 0, 1, offsetof(umup_model_config, m), sizeof(((umup_model_config *)0)->m), nm}
#define UMUP__M2(k, m, ty, cl, nm) {k, ty, cl, 0, 2, offsetof(umup_model_config, m), sizeof(((umup_model_config *)0)->m), nm}
#define UMUP__OF(k, m, ty, cl, nm) {k, ty, cl, 1, 1, offsetof(umup_optim_config, m), sizeof(((umup_optim_config *)0)->m), nm}
#define UMUP__O2(k, m, ty, cl, nm) {k, ty, cl, 1, 2, offsetof(umup_optim_config, m), sizeof(((umup_optim_config *)0)->m), nm}
#define UMUP__M3(k, m, ty, cl, nm) {k, ty, cl, 0, 3, offsetof(umup_model_config, m), sizeof(((umup_model_config *)0)->m), nm}
/* The one list of recorded settings: the writer, the reader, the comparison and
 * umup_checkpoint_info all follow it. A new setting gets a line here. */
static const umup__ckpt_field umup__ckpt_fields[] = {
    UMUP__MF("vocab", vocab, UMUP__FT_INT, UMUP__FC_ARCH, NULL),
    UMUP__MF("width", width, UMUP__FT_INT, UMUP__FC_ARCH, NULL),
    UMUP__MF("layers", layers, UMUP__FT_INT, UMUP__FC_ARCH, NULL),
    UMUP__MF("heads", heads, UMUP__FT_INT, UMUP__FC_ARCH, NULL),
    UMUP__M2("head_size", head_size, UMUP__FT_INT, UMUP__FC_ARCH, NULL),
    UMUP__MF("max_seq", max_seq, UMUP__FT_INT, UMUP__FC_TRAIN, NULL),
    UMUP__MF("mlp_expansion", mlp_expansion, UMUP__FT_INT, UMUP__FC_ARCH, NULL),
    UMUP__M3("mlp", mlp, UMUP__FT_ENUM, UMUP__FC_ARCH, umup__nm_mlp),
    UMUP__MF("norm", norm, UMUP__FT_ENUM, UMUP__FC_ARCH, umup__nm_norm),
    UMUP__MF("rope", rope, UMUP__FT_BOOL, UMUP__FC_ARCH, NULL),
    UMUP__MF("dropout", dropout, UMUP__FT_FLOAT, UMUP__FC_TRAIN, NULL),
    UMUP__MF("param", param, UMUP__FT_PARAM, UMUP__FC_ARCH, NULL),
    UMUP__MF("base_width", param.base_width, UMUP__FT_AUTO, UMUP__FC_ARCH, NULL),
    UMUP__MF("base_depth", param.base_depth, UMUP__FT_AUTO, UMUP__FC_ARCH, NULL),
    UMUP__M3("base_head_size", param.base_head_size, UMUP__FT_INT, UMUP__FC_ARCH, NULL),
    UMUP__MF("depth_mode", param.depth_mode, UMUP__FT_ENUM, UMUP__FC_ARCH, umup__nm_depth_mode),
    UMUP__MF("depth_rule", param.depth_rule, UMUP__FT_ENUM, UMUP__FC_ARCH, umup__nm_depth_rule),
    UMUP__MF("completep_alpha", param.completep_alpha, UMUP__FT_FLOAT, UMUP__FC_ARCH, NULL),
    UMUP__MF("sigma_emb", param.sigma_emb, UMUP__FT_FLOAT, UMUP__FC_TRAIN, NULL),
    UMUP__MF("alpha_emb", param.alpha_emb, UMUP__FT_FLOAT, UMUP__FC_ARCH, NULL),
    UMUP__MF("alpha_out", param.alpha_out, UMUP__FT_FLOAT, UMUP__FC_ARCH, NULL),
    UMUP__MF("readout_zero_init", param.readout_zero_init, UMUP__FT_BOOL, UMUP__FC_TRAIN, NULL),
    UMUP__MF("alpha_attn", alpha_attn, UMUP__FT_FLOAT, UMUP__FC_ARCH, NULL),
    UMUP__MF("alpha_ffn_act", alpha_ffn_act, UMUP__FT_FLOAT, UMUP__FC_ARCH, NULL),
    UMUP__MF("alpha_res", alpha_res, UMUP__FT_FLOAT, UMUP__FC_ARCH, NULL),
    UMUP__MF("alpha_res_attn_ratio", alpha_res_attn_ratio, UMUP__FT_FLOAT, UMUP__FC_ARCH, NULL),
    UMUP__MF("alpha_loss_softmax", alpha_loss_softmax, UMUP__FT_FLOAT, UMUP__FC_ARCH, NULL),
    UMUP__MF("mus_tau", mus_tau, UMUP__FT_FLOAT, UMUP__FC_ARCH, NULL),
    UMUP__M3("sdpa_scale", sdpa_scale, UMUP__FT_FLOAT, UMUP__FC_ARCH, NULL),
    UMUP__MF("fp8", fp8, UMUP__FT_ENUM, UMUP__FC_TRAIN, umup__nm_fp8),
    UMUP__MF("fp8_rounding", fp8_rounding, UMUP__FT_ENUM, UMUP__FC_TRAIN, umup__nm_rounding),
    UMUP__M3("fp8_attention", fp8_attention, UMUP__FT_BOOL, UMUP__FC_TRAIN, NULL),
    UMUP__M2("fp8_custom_formats", fp8_custom_formats, UMUP__FT_BOOL, UMUP__FC_TRAIN, NULL),
    UMUP__M2("fp8_format_fwd", fp8_format_fwd, UMUP__FT_ENUM, UMUP__FC_TRAIN, umup__nm_fp8_format),
    UMUP__M2("fp8_format_bwd", fp8_format_bwd, UMUP__FT_ENUM, UMUP__FC_TRAIN, umup__nm_fp8_format),
    UMUP__MF("seed", seed, UMUP__FT_U64, UMUP__FC_TRAIN, NULL),
    UMUP__OF("optimizer", kind, UMUP__FT_ENUM, UMUP__FC_TRAIN, umup__nm_optim),
    UMUP__OF("lr", lr, UMUP__FT_DOUBLE, UMUP__FC_TRAIN, NULL),
    UMUP__OF("beta1", beta1, UMUP__FT_DOUBLE, UMUP__FC_TRAIN, NULL),
    UMUP__OF("beta2", beta2, UMUP__FT_DOUBLE, UMUP__FC_TRAIN, NULL),
    UMUP__OF("eps", eps, UMUP__FT_DOUBLE, UMUP__FC_TRAIN, NULL),
    UMUP__OF("momentum", momentum, UMUP__FT_DOUBLE, UMUP__FC_TRAIN, NULL),
    UMUP__OF("nesterov", nesterov, UMUP__FT_BOOL, UMUP__FC_TRAIN, NULL),
    UMUP__OF("weight_decay", weight_decay, UMUP__FT_DOUBLE, UMUP__FC_TRAIN, NULL),
    UMUP__OF("clip_norm", clip_norm, UMUP__FT_DOUBLE, UMUP__FC_TRAIN, NULL),
    UMUP__O2("clip_rms", clip_rms, UMUP__FT_DOUBLE, UMUP__FC_TRAIN, NULL),
    UMUP__OF("schedule", schedule.decay, UMUP__FT_ENUM, UMUP__FC_TRAIN, umup__nm_sched),
    UMUP__OF("warmup", schedule.warmup, UMUP__FT_LONG, UMUP__FC_TRAIN, NULL),
    UMUP__OF("total", schedule.total, UMUP__FT_LONG, UMUP__FC_TOTAL, NULL),
    UMUP__OF("min_ratio", schedule.min_ratio, UMUP__FT_FLOAT, UMUP__FC_TRAIN, NULL)};
#undef UMUP__MF
#undef UMUP__M2
#undef UMUP__OF
#undef UMUP__O2
#undef UMUP__M3
#define UMUP__N_FIELDS ((int)(sizeof umup__ckpt_fields / sizeof umup__ckpt_fields[0]))

/* The field's storage in (mc, oc). Enums and ints are int-sized (checked in umup__field_get). */
static void *umup__field_ptr(const umup__ckpt_field *f, umup_model_config *mc, umup_optim_config *oc) {
    return (char *)(f->optim ? (void *)oc : (void *)mc) + f->off;
}
/* Integer-valued fields as long long (ints, enums, bools, longs; u64 as its bits). */
static long long umup__field_get(const umup__ckpt_field *f, const void *p) {
    if (f->type == UMUP__FT_LONG) { long v; memcpy(&v, p, sizeof v); return v; }
    if (f->type == UMUP__FT_U64) { uint64_t v; memcpy(&v, p, sizeof v); return (long long)v; }
    UMUP_ASSERT(f->size == sizeof(int));
    { int v; memcpy(&v, p, sizeof v); return v; }
}

/* The value as metadata text: names for enums, true/false, "auto" for a zero AUTO field, exact floats. */
static void umup__field_text(const umup__ckpt_field *f, const void *p, char *out, size_t cap) {
    if (f->type == UMUP__FT_PARAM) {
        const umup_param_info *pi = umup_param_config_info((const umup_param_config *)p);
        snprintf(out, cap, "%s", pi && pi->name ? pi->name : "?");
        return;
    }
    if (f->type == UMUP__FT_FLOAT) { float v; memcpy(&v, p, sizeof v); umup__fmt_g(out, cap, (double)v, 9); return; }
    if (f->type == UMUP__FT_DOUBLE) { double v; memcpy(&v, p, sizeof v); umup__fmt_g(out, cap, v, 17); return; }
    if (f->type == UMUP__FT_U64) { uint64_t v; memcpy(&v, p, sizeof v); snprintf(out, cap, "%llu", (unsigned long long)v); return; }
    {
        long long v = umup__field_get(f, p);
        const char *nm = f->type == UMUP__FT_ENUM && v >= 0 && v < 64 ? f->name((int)v) : NULL;
        if (nm) snprintf(out, cap, "%s", nm);
        else if (f->type == UMUP__FT_BOOL && (v == 0 || v == 1)) snprintf(out, cap, "%s", v ? "true" : "false");
        else if (f->type == UMUP__FT_AUTO && v == 0) snprintf(out, cap, "auto");
        else snprintf(out, cap, "%lld", v);
    }
}

/* Parses text into the field (version 1 files wrote enums and booleans as numbers). 0: bad value. */
static int umup__field_parse(const umup__ckpt_field *f, const char *s, int version, void *p) {
    uint64_t u;
    double d;
    int iv;
    switch (f->type) {
    case UMUP__FT_PARAM: { /* a built-in parametrization; the reader handles other names */
        umup_param_config *pc = (umup_param_config *)p;
        umup_parametrization v;
        if (umup_param_parse(s, &v) != UMUP_OK) return 0;
        pc->param = v;
        pc->custom = NULL;
        return 1;
    }
    case UMUP__FT_FLOAT:
        if (!umup__parse_g(s, &d) || fabs(d) > 3.4028234663852886e38) return 0;
        { float v = (float)d; memcpy(p, &v, sizeof v); }
        return 1;
    case UMUP__FT_DOUBLE:
        if (!umup__parse_g(s, &d)) return 0;
        memcpy(p, &d, sizeof d);
        return 1;
    case UMUP__FT_U64:
        if (!umup__parse_u64(s, (uint64_t)-1, &u)) return 0;
        memcpy(p, &u, sizeof u);
        return 1;
    case UMUP__FT_LONG:
        if (!umup__parse_u64(s, (uint64_t)(LONG_MAX - 1), &u)) return 0;
        { long v = (long)u; memcpy(p, &v, sizeof v); }
        return 1;
    case UMUP__FT_ENUM:
        for (iv = 0; iv < 64 && f->name(iv); iv++)
            if (!strcmp(s, f->name(iv))) { memcpy(p, &iv, sizeof iv); return 1; }
        if (version == 1 && umup__parse_u64(s, 63, &u) && f->name((int)u)) { iv = (int)u; memcpy(p, &iv, sizeof iv); return 1; }
        return 0;
    case UMUP__FT_BOOL:
        if (!strcmp(s, "true") || !strcmp(s, "false")) iv = s[0] == 't';
        else if (version == 1 && (!strcmp(s, "0") || !strcmp(s, "1"))) iv = s[0] == '1';
        else return 0;
        memcpy(p, &iv, sizeof iv);
        return 1;
    default: /* INT, AUTO */
        if (f->type == UMUP__FT_AUTO && !strcmp(s, "auto")) u = 0;
        else if (!umup__parse_u64(s, (uint64_t)INT_MAX, &u)) return 0;
        iv = (int)u;
        memcpy(p, &iv, sizeof iv);
        return 1;
    }
}

/* Whether two values of the field are equal (floats by value). */
static int umup__field_equal(const umup__ckpt_field *f, const void *a, const void *b) {
    if (f->type == UMUP__FT_PARAM) {
        char x[64], y[64];
        umup__field_text(f, a, x, sizeof x);
        umup__field_text(f, b, y, sizeof y);
        return !strcmp(x, y);
    }
    if (f->type == UMUP__FT_FLOAT) { float x, y; memcpy(&x, a, sizeof x); memcpy(&y, b, sizeof y); return x == y; }
    if (f->type == UMUP__FT_DOUBLE) { double x, y; memcpy(&x, a, sizeof x); memcpy(&y, b, sizeof y); return x == y; }
    return umup__field_get(f, a) == umup__field_get(f, b);
}

/* ---- checkpoints: a small strict JSON reader for the safetensors header ------------------------- */
typedef struct { const char *s; size_t n, i; } umup__js;

static void umup__js_ws(umup__js *j) {
    while (j->i < j->n && (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\n' || j->s[j->i] == '\r')) j->i++;
}
static int umup__js_ch(umup__js *j, char c) {
    umup__js_ws(j);
    if (j->i < j->n && j->s[j->i] == c) { j->i++; return 1; }
    return 0;
}
/* A string into out (cap bytes; simple escapes, \u00XX): 1 on success. A longer string fails, or,
 * with *cut non-NULL, is cut to fit and sets *cut. */
static int umup__js_str(umup__js *j, char *out, size_t cap, int *cut) {
    size_t k = 0;
    if (cut) *cut = 0;
    if (!umup__js_ch(j, '"')) return 0;
    while (j->i < j->n) {
        char c = j->s[j->i++];
        if (c == '"') { out[k] = 0; return 1; }
        if ((unsigned char)c < 0x20) return 0;
        if (c == '\\') {
            if (j->i >= j->n) return 0;
            c = j->s[j->i++];
            switch (c) {
            case '"': case '\\': case '/': break;
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
                unsigned v = 0;
                int q;
                if (j->i + 4 > j->n) return 0;
                for (q = 0; q < 4; q++) {
                    char h = j->s[j->i++];
                    v = v * 16 + (unsigned)(h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                                           : h >= 'A' && h <= 'F' ? h - 'A' + 10 : 99);
                    if (v > 0xFFFF) return 0;
                }
                c = v < 0x80 ? (char)v : '?'; /* non-ASCII code points are kept only as '?' */
                break;
            }
            default: return 0;
            }
        }
        if (k + 1 >= cap) {
            if (!cut) return 0;
            *cut = 1;
            continue;
        }
        out[k++] = c;
    }
    return 0;
}
static int umup__js_uint(umup__js *j, uint64_t *v) {
    int digits = 0;
    umup__js_ws(j);
    *v = 0;
    while (j->i < j->n && j->s[j->i] >= '0' && j->s[j->i] <= '9') {
        if (*v > (uint64_t)1e17) return 0;
        *v = *v * 10 + (uint64_t)(j->s[j->i++] - '0');
        digits++;
    }
    return digits > 0;
}

/* One tensor entry and one metadata pair of a safetensors header. */
typedef struct { char name[128]; char dtype[12]; int ndim, esize; uint64_t shape[8], numel, begin, end; } umup__st_entry;
typedef struct { char key[64]; char val[256]; int cut; } umup__st_meta;

/* A parsed checkpoint: the header and, when read, the tensor bytes. */
typedef struct {
    umup__st_entry *ents;
    int n_ents, cap_ents;
    umup__st_meta *meta;
    int n_meta;
    uint64_t hlen, data_off, dsize;   /* data [data_off, data_off + dsize) of the file */
    unsigned char *data;              /* dsize bytes when read */
    int version;                      /* 3, 2, 1, or 0 (no umup format tag) */
    int full;                         /* optimizer state present ("contents": "full", or version 1) */
    long step;                        /* -1: not recorded */
    char param_name[64];              /* the parametrization's name (version >= 1) */
    int custom_param;                 /* 1: not a built-in one (mc.param says nothing then) */
    umup_model_config mc;             /* recorded settings (version >= 1) */
    umup_optim_config oc;
} umup__ckpt;

static void umup__ckpt_free(umup__ckpt *c) {
    if (c->ents) UMUP_FREE(c->ents);
    if (c->meta) UMUP_FREE(c->meta);
    if (c->data) UMUP_FREE(c->data);
    memset(c, 0, sizeof *c);
}

static const char *umup__ckpt_meta(const umup__ckpt *c, const char *key) {
    int k;
    for (k = 0; k < c->n_meta; k++) if (!strcmp(c->meta[k].key, key)) return c->meta[k].val;
    return NULL;
}

/* Element size of a safetensors dtype (0: unknown). */
static int umup__dtype_size(const char *dt) {
    static const struct { const char *name; int size; } t[] = {
        {"F64", 8}, {"I64", 8}, {"U64", 8}, {"F32", 4}, {"I32", 4}, {"U32", 4}, {"F16", 2}, {"BF16", 2},
        {"I16", 2}, {"U16", 2}, {"I8", 1}, {"U8", 1}, {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
    size_t i;
    for (i = 0; i < sizeof t / sizeof t[0]; i++) if (!strcmp(dt, t[i].name)) return t[i].size;
    return 0;
}

static int umup__cmp_begin(const void *a, const void *b) {
    const umup__st_entry *x = *(const umup__st_entry *const *)a, *y = *(const umup__st_entry *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

/* Parses the JSON header hdr[0 .. n) into c (entries, metadata); FORMAT errors in msg. */
static umup_status umup__st_parse(umup__ckpt *c, const char *hdr, size_t n, umup__msg *msg) {
    umup__js j;
    char key[128];
    int k, q;
    j.s = hdr; j.n = n; j.i = 0;
#define UMUP__BAD(...) do { umup__msg_add(msg, "corrupt safetensors header: " __VA_ARGS__); return UMUP_ERR_FORMAT; } while (0)
    c->meta = (umup__st_meta *)UMUP_MALLOC(sizeof(umup__st_meta) * 256);
    if (!c->meta) return UMUP_ERR_NOMEM;
    if (!umup__js_ch(&j, '{')) UMUP__BAD("not a JSON object");
    if (!umup__js_ch(&j, '}')) {
        do {
            if (!umup__js_str(&j, key, sizeof key, NULL) || !umup__js_ch(&j, ':')) UMUP__BAD("bad key");
            if (!strcmp(key, "__metadata__")) {
                if (!umup__js_ch(&j, '{')) UMUP__BAD("__metadata__ is not an object");
                if (!umup__js_ch(&j, '}')) {
                    do {
                        umup__st_meta *m;
                        if (c->n_meta >= 256) UMUP__BAD("more than 256 metadata entries");
                        m = &c->meta[c->n_meta];
                        if (!umup__js_str(&j, m->key, sizeof m->key, &m->cut) || !umup__js_ch(&j, ':'))
                            UMUP__BAD("bad metadata key");
                        if (m->cut) m->key[0] = 0; /* an overlong key is none of ours */
                        if (!umup__js_str(&j, m->val, sizeof m->val, &m->cut)) UMUP__BAD("metadata values must be strings");
                        for (k = 0; k < c->n_meta; k++)
                            if (m->key[0] && !strcmp(c->meta[k].key, m->key)) UMUP__BAD("metadata key %.60s twice", m->key);
                        c->n_meta++;
                    } while (umup__js_ch(&j, ','));
                    if (!umup__js_ch(&j, '}')) UMUP__BAD("unterminated __metadata__");
                }
            } else {
                umup__st_entry *e;
                char f[32];
                int have = 0;
                if (c->n_ents == c->cap_ents) {
                    int nc = c->cap_ents ? 2 * c->cap_ents : 64;
                    umup__st_entry *ne;
                    if (nc > (1 << 20)) UMUP__BAD("more than 2^20 tensors");
                    ne = (umup__st_entry *)UMUP_MALLOC(sizeof(umup__st_entry) * (size_t)nc);
                    if (!ne) return UMUP_ERR_NOMEM;
                    if (c->ents) { memcpy(ne, c->ents, sizeof(umup__st_entry) * (size_t)c->n_ents); UMUP_FREE(c->ents); }
                    c->ents = ne;
                    c->cap_ents = nc;
                }
                e = &c->ents[c->n_ents++];
                memset(e, 0, sizeof *e);
                memcpy(e->name, key, sizeof e->name);
                if (!umup__js_ch(&j, '{')) UMUP__BAD("tensor %.100s is not an object", key);
                do {
                    if (!umup__js_str(&j, f, sizeof f, NULL) || !umup__js_ch(&j, ':')) UMUP__BAD("bad field in tensor %.100s", key);
                    if (!strcmp(f, "dtype") && !(have & 1)) {
                        if (!umup__js_str(&j, e->dtype, sizeof e->dtype, NULL) || !(e->esize = umup__dtype_size(e->dtype)))
                            UMUP__BAD("tensor %.100s has an unknown dtype", key);
                        have |= 1;
                    } else if ((!strcmp(f, "shape") && !(have & 2)) || (!strcmp(f, "data_offsets") && !(have & 4))) {
                        uint64_t v[8];
                        int nv = 0, is_shape = f[0] == 's';
                        if (!umup__js_ch(&j, '[')) UMUP__BAD("tensor %.100s: %s is not an array", key, f);
                        if (!umup__js_ch(&j, ']')) {
                            do {
                                if (nv >= 8 || !umup__js_uint(&j, &v[nv])) UMUP__BAD("tensor %.100s: bad %s", key, f);
                                nv++;
                            } while (umup__js_ch(&j, ','));
                            if (!umup__js_ch(&j, ']')) UMUP__BAD("tensor %.100s: unterminated %s", key, f);
                        }
                        if (is_shape) {
                            e->ndim = nv;
                            e->numel = 1;
                            for (q = 0; q < nv; q++) {
                                e->shape[q] = v[q];
                                if (v[q] && e->numel > ((uint64_t)1 << 62) / v[q]) UMUP__BAD("tensor %.100s is too large", key);
                                e->numel *= v[q];
                            }
                            have |= 2;
                        } else {
                            if (nv != 2 || v[1] < v[0]) UMUP__BAD("tensor %.100s: bad data_offsets", key);
                            e->begin = v[0];
                            e->end = v[1];
                            have |= 4;
                        }
                    } else UMUP__BAD("tensor %.100s: unknown or repeated field %.30s", key, f);
                } while (umup__js_ch(&j, ','));
                if (!umup__js_ch(&j, '}') || have != 7) UMUP__BAD("tensor %.100s: incomplete entry", key);
                if (e->end - e->begin != e->numel * (uint64_t)e->esize)
                    UMUP__BAD("tensor %.100s: data_offsets do not match its shape and dtype", key);
            }
        } while (umup__js_ch(&j, ','));
        if (!umup__js_ch(&j, '}')) UMUP__BAD("unterminated object");
    }
    umup__js_ws(&j);
    if (j.i != j.n) UMUP__BAD("bytes after the JSON object");
#undef UMUP__BAD
    return UMUP_OK;
}

/* Reads and validates the file's header (and with want_data, every tensor byte):
 * layout, format tag, contents, step and settings. */
static umup_status umup__ckpt_read(umup__ckpt *c, const char *path, int want_data, umup__msg *msg) {
    umup__rfile r;
    const char *why = NULL;
    unsigned char le[8];
    char *hdr = NULL;
    umup_status st;
    int i, k;
    memset(c, 0, sizeof *c);
    c->step = -1;
    st = umup__rfile_open(&r, path, &why);
    if (st != UMUP_OK) {
        if (r.err) umup__msg_add(msg, "cannot open %.300s: %s", path, strerror(r.err));
        else umup__msg_add(msg, "%.300s %s", path, why);
        return st;
    }
#define UMUP__FAIL(code, ...) do { umup__msg_add(msg, __VA_ARGS__); st = (code); goto done; } while (0)
    if (r.size < 10 || !umup__rfile_read(&r, le, 8, 0))
        UMUP__FAIL(UMUP_ERR_FORMAT, "%.300s is not a safetensors file (%llu bytes)", path, (unsigned long long)r.size);
    for (i = 0; i < 8; i++) c->hlen |= (uint64_t)le[i] << (8 * i);
    if (c->hlen < 2 || c->hlen > 100000000u || c->hlen > r.size - 8)
        UMUP__FAIL(UMUP_ERR_FORMAT, "%.300s: bad safetensors header length %llu (file truncated?)", path, (unsigned long long)c->hlen);
    c->data_off = 8 + c->hlen;
    c->dsize = r.size - c->data_off;
    hdr = (char *)UMUP_MALLOC((size_t)c->hlen + 1);
    if (!hdr) UMUP__FAIL(UMUP_ERR_NOMEM, "out of memory");
    if (!umup__rfile_read(&r, hdr, (size_t)c->hlen, 8)) UMUP__FAIL(UMUP_ERR_IO, "cannot read %.300s", path);
    hdr[c->hlen] = 0;
    st = umup__st_parse(c, hdr, (size_t)c->hlen, msg);
    if (st != UMUP_OK) goto done;
    {   /* every data byte belongs to exactly one tensor: no overlaps, holes or trailing bytes */
        const umup__st_entry **order = (const umup__st_entry **)UMUP_MALLOC(sizeof(void *) * (size_t)(c->n_ents + 1));
        uint64_t at = 0;
        if (!order) UMUP__FAIL(UMUP_ERR_NOMEM, "out of memory");
        for (k = 0; k < c->n_ents; k++) order[k] = &c->ents[k];
        qsort(order, (size_t)c->n_ents, sizeof(void *), umup__cmp_begin);
        for (k = 0; k < c->n_ents && st == UMUP_OK; k++) {
            if (order[k]->begin < at) { umup__msg_add(msg, "%.300s: tensors %.100s and %.100s overlap", path, order[k - 1]->name, order[k]->name); st = UMUP_ERR_FORMAT; }
            else if (order[k]->begin > at) { umup__msg_add(msg, "%.300s: unused bytes before tensor %.100s", path, order[k]->name); st = UMUP_ERR_FORMAT; }
            else if (order[k]->end > c->dsize) { umup__msg_add(msg, "%.300s is truncated: tensor %.100s ends past the end of the file", path, order[k]->name); st = UMUP_ERR_FORMAT; }
            at = order[k]->end;
        }
        UMUP_FREE((void *)order);
        if (st != UMUP_OK) goto done;
        if (at != c->dsize)
            UMUP__FAIL(UMUP_ERR_FORMAT, "%.300s: %llu trailing bytes after the last tensor", path, (unsigned long long)(c->dsize - at));
    }
    {   /* format, contents, step, settings */
        const char *fmt = umup__ckpt_meta(c, "format"), *contents = umup__ckpt_meta(c, "contents"),
                   *step = umup__ckpt_meta(c, "step");
        int bad = 0;
        c->version = !fmt ? 0 : !strcmp(fmt, "umup-checkpoint-3") ? 3 : !strcmp(fmt, "umup-checkpoint-2") ? 2
                   : !strcmp(fmt, "umup-checkpoint-1") ? 1 : 0;
        if (!c->version && fmt && !strncmp(fmt, "umup-checkpoint-", 16))
            UMUP__FAIL(UMUP_ERR_FORMAT, "%.300s has format %.60s, which this version of umup cannot read", path, fmt);
        if (c->version >= 2) {
            if (!contents || (strcmp(contents, "full") && strcmp(contents, "weights")))
                UMUP__FAIL(UMUP_ERR_FORMAT, "%.300s: \"contents\" is missing or not full/weights", path);
            c->full = contents[0] == 'f';
        } else c->full = c->version == 1;
        if (step && c->version) {
            uint64_t u;
            if (!umup__parse_u64(step, (uint64_t)(LONG_MAX - 1), &u))
                UMUP__FAIL(UMUP_ERR_FORMAT, "%.300s: step \"%.40s\" is not a whole number of steps that fits in a long", path, step);
            c->step = (long)u;
        } else if (c->version)
            UMUP__FAIL(UMUP_ERR_FORMAT, "%.300s: the step is missing", path);
        if (c->version) {
            c->mc = umup_model_config_default(); /* what an older format does not record keeps its default */
            memset(&c->oc, 0, sizeof c->oc);
            for (i = 0; i < UMUP__N_FIELDS; i++) {
                const umup__ckpt_field *f = &umup__ckpt_fields[i];
                const char *v = umup__ckpt_meta(c, f->key);
                void *p = umup__field_ptr(f, &c->mc, &c->oc);
                if (!v) {
                    if (f->since > c->version) continue;
                    umup__msg_add(msg, "the setting %s is missing", f->key);
                    bad++;
                } else if (f->type == UMUP__FT_PARAM) {
                    size_t l = strlen(v);
                    snprintf(c->param_name, sizeof c->param_name, "%.63s", v);
                    if (!umup__field_parse(f, v, c->version, p)) { /* a custom parametrization: its name only */
                        c->custom_param = 1;
                        if (l == 0 || l >= sizeof c->param_name) {
                            umup__msg_add(msg, "bad value \"%.60s\" for %s", v, f->key);
                            bad++;
                        }
                    } else /* a built-in one under its current name ("spectral" -> "spectral-nanotron") */
                        snprintf(c->param_name, sizeof c->param_name, "%s", umup_param_name(c->mc.param.param));
                } else if (!umup__field_parse(f, v, c->version, p)) {
                    umup__msg_add(msg, "bad value \"%.60s\" for %s", v, f->key);
                    bad++;
                }
            }
            if (bad) { st = UMUP_ERR_FORMAT; goto done; }
            if (c->version == 1 && c->mc.heads > 0) c->mc.head_size = c->mc.width / c->mc.heads;
            if (c->oc.schedule.total > 0 && c->step > c->oc.schedule.total)
                UMUP__FAIL(UMUP_ERR_FORMAT, "%.300s: step %ld is past the file's own schedule total %ld", path, c->step,
                           c->oc.schedule.total);
        }
    }
    if (want_data) {
        c->data = (unsigned char *)UMUP_MALLOC(c->dsize ? (size_t)c->dsize : 1);
        if (!c->data || (uint64_t)(size_t)c->dsize != c->dsize) UMUP__FAIL(UMUP_ERR_NOMEM, "out of memory");
        if (c->dsize && !umup__rfile_read(&r, c->data, (size_t)c->dsize, c->data_off))
            UMUP__FAIL(UMUP_ERR_IO, "cannot read %.300s (changed while reading?)", path);
    }
#undef UMUP__FAIL
done:
    umup__rfile_close(&r);
    if (hdr) UMUP_FREE(hdr);
    if (st != UMUP_OK) umup__ckpt_free(c);
    return st;
}

/* ---- checkpoints: the trainer's state ----------------------------------------------------------- */

/* number of optimizer moment tensors per parameter tensor */
static int umup__n_moments(const umup_trainer *t) { return umup_optim_moments(&t->opt.cfg); }

/* Entry e (0 .. n_tensors (1 + moments)) of the trainer's checkpoint: parameters, then the first
 * moments "optim.m.<name>", then the second moments "optim.v.<name>". */
static float *umup__ckpt_entry(umup_trainer *t, int e, char *name, size_t cap, int *rows, int *cols) {
    int n = umup_model_num_tensors(t->model), which = e / n;
    const umup_tensor_info *ti = umup_model_tensor(t->model, e % n);
    *rows = ti->rows;
    *cols = ti->cols;
    if (which == 0) { snprintf(name, cap, "%s", ti->name); return umup_model_params(t->model) + ti->offset; }
    snprintf(name, cap, "optim.%s.%s", which == 1 ? "m" : "v", ti->name);
    return t->state + (which == 2 ? umup_model_num_params(t->model) : 0) + ti->offset;
}

/* The settings a checkpoint of t records: the resolved model configuration, except base_width and
 * base_depth as the caller set them, and the resolved optimizer configuration. */
static void umup__ckpt_recorded(const umup_trainer *t, umup_model_config *mc, umup_optim_config *oc) {
    *mc = *umup_model_get_config(t->model);
    mc->param.base_width = t->mc_set.param.base_width;
    mc->param.base_depth = t->mc_set.param.base_depth;
    *oc = t->opt.cfg;
}

static int umup__little_endian(void) {
    const uint32_t one = 1;
    return *(const unsigned char *)&one == 1;
}
static void umup__bswap32(void *p, size_t n) {
    unsigned char *b = (unsigned char *)p, x;
    size_t i;
    for (i = 0; i < n; i++, b += 4) { x = b[0]; b[0] = b[3]; b[3] = x; x = b[1]; b[1] = b[2]; b[2] = x; }
}
/* Index of the first NaN/Inf among n little-endian F32 values at b, or n. */
static size_t umup__first_nonfinite_le(const unsigned char *b, size_t n) {
    size_t i;
    for (i = 0; i < n; i++, b += 4) {
        uint32_t bits = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        if ((bits & 0x7f800000u) == 0x7f800000u) return i;
    }
    return n;
}

/* growable string */
typedef struct { char *s; size_t n, cap; int oom; } umup__sb;
static void umup__sb_add(umup__sb *b, const char *txt) {
    size_t l = strlen(txt);
    if (b->oom) return;
    if (b->n + l + 1 > b->cap) {
        size_t nc = (b->cap ? b->cap * 2 : 4096) + l;
        char *ns = (char *)UMUP_MALLOC(nc);
        if (!ns) { b->oom = 1; return; }
        if (b->s) { memcpy(ns, b->s, b->n); UMUP_FREE(b->s); }
        b->s = ns;
        b->cap = nc;
    }
    memcpy(b->s + b->n, txt, l + 1);
    b->n += l;
}
/* txt as a JSON string (run information is printable ASCII: only " and \ need escapes). */
static void umup__sb_add_json(umup__sb *b, const char *txt) {
    char one[3];
    umup__sb_add(b, "\"");
    for (; *txt; txt++) {
        one[0] = *txt == '"' || *txt == '\\' ? '\\' : *txt;
        one[1] = *txt == '"' || *txt == '\\' ? *txt : 0;
        one[2] = 0;
        umup__sb_add(b, one);
    }
    umup__sb_add(b, "\"");
}

static umup_status umup__trainer_save(umup_trainer *t, const char *path, int full) {
    umup__msg msg;
    umup__sb hb;
    umup__afile af;
    umup_model_config mc;
    umup_optim_config oc;
    char line[512], val[64], name[128];
    int e, ne, rows, cols, i, le = umup__little_endian();
    uint64_t off = 0, hlen;
    unsigned char lenb[8];
    float *stage = NULL;
    umup_status st;
    if (!t || !path) return UMUP_ERR_NULL;
    umup__msg_init(&msg, t->err, sizeof t->err);
    ne = umup_model_num_tensors(t->model) * (1 + (full ? umup__n_moments(t) : 0));
    /* a checkpoint that could not be loaded must never replace one that can */
    for (e = 0; e < ne; e++) {
        const float *x = umup__ckpt_entry(t, e, name, sizeof name, &rows, &cols);
        size_t k, n = (size_t)rows * (size_t)cols;
        for (k = 0; k < n; k++)
            if (!(x[k] - x[k] == 0.0f)) {
                umup__msg_add(&msg, "tensor %s holds %s at [%lu, %lu]: not saved", name, x[k] != x[k] ? "a NaN" : "an Inf",
                              (unsigned long)(k / (size_t)cols), (unsigned long)(k % (size_t)cols));
                return UMUP_ERR_NONFINITE;
            }
    }
    /* header: metadata (strings only), then the tensors in order */
    memset(&hb, 0, sizeof hb);
    umup__ckpt_recorded(t, &mc, &oc);
    snprintf(line, sizeof line, "{\"__metadata__\":{\"format\":\"umup-checkpoint-3\",\"contents\":\"%s\",\"step\":\"%ld\"",
             full ? "full" : "weights", t->opt.step);
    umup__sb_add(&hb, line);
    for (i = 0; i < UMUP__N_FIELDS; i++) {
        const umup__ckpt_field *f = &umup__ckpt_fields[i];
        umup__field_text(f, umup__field_ptr(f, &mc, &oc), val, sizeof val);
        snprintf(line, sizeof line, ",\"%s\":\"%s\"", f->key, val);
        umup__sb_add(&hb, line);
    }
    for (i = 0; i < t->n_run_info; i++) {
        snprintf(line, sizeof line, ",\"run.%s\":", t->run_key[i]);
        umup__sb_add(&hb, line);
        umup__sb_add_json(&hb, t->run_val[i]);
    }
    snprintf(line, sizeof line, ",\"writer\":\"umup %d.%d.%d\"}", UMUP_VERSION_MAJOR, UMUP_VERSION_MINOR, UMUP_VERSION_PATCH);
    umup__sb_add(&hb, line);
    for (e = 0; e < ne; e++) {
        uint64_t bytes;
        umup__ckpt_entry(t, e, name, sizeof name, &rows, &cols);
        bytes = (uint64_t)rows * (uint64_t)cols * 4u;
        snprintf(line, sizeof line, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[%d,%d],\"data_offsets\":[%llu,%llu]}", name, rows,
                 cols, (unsigned long long)off, (unsigned long long)(off + bytes));
        umup__sb_add(&hb, line);
        off += bytes;
    }
    umup__sb_add(&hb, "}");
    while (!hb.oom && (hb.n + 8) % 8) umup__sb_add(&hb, " "); /* the data starts 8-byte aligned */
    if (!le) stage = (float *)UMUP_MALLOC(sizeof(float) * 16384);
    if (hb.oom || (!le && !stage)) {
        if (hb.s) UMUP_FREE(hb.s);
        umup__msg_add(&msg, "out of memory");
        return UMUP_ERR_NOMEM;
    }
    st = umup__afile_open(&af, path, &msg);
    if (st != UMUP_OK) {
        UMUP_FREE(hb.s);
        if (stage) UMUP_FREE(stage);
        return st;
    }
    hlen = hb.n;
    for (i = 0; i < 8; i++) lenb[i] = (unsigned char)(hlen >> (8 * i));
    umup__afile_write(&af, lenb, 8);
    umup__afile_write(&af, hb.s, hb.n);
    for (e = 0; e < ne; e++) {
        const float *x = umup__ckpt_entry(t, e, name, sizeof name, &rows, &cols);
        size_t n = (size_t)rows * (size_t)cols, k;
        if (le) umup__afile_write(&af, x, n * sizeof(float));
        else
            for (k = 0; k < n; k += 16384) {
                size_t m = n - k < 16384 ? n - k : 16384;
                memcpy(stage, x + k, m * sizeof(float));
                umup__bswap32(stage, m);
                umup__afile_write(&af, stage, m * sizeof(float));
            }
    }
    UMUP_FREE(hb.s);
    if (stage) UMUP_FREE(stage);
    return umup__afile_commit(&af, &msg);
}

UMUPDEF umup_status umup_trainer_save(umup_trainer *t, const char *path) { return umup__trainer_save(t, path, 1); }
UMUPDEF umup_status umup_trainer_save_weights(umup_trainer *t, const char *path) { return umup__trainer_save(t, path, 0); }

/* Checks c against t (every mismatch into msg), then copies it in: the full state (full) or the
 * parameters with a zeroed optimizer state and step 0. Nothing changes unless everything fits. */
static umup_status umup__trainer_apply(umup_trainer *t, const umup__ckpt *c, int full, const char *path, umup__msg *msg) {
    umup_model_config mc, fmc = c->mc;
    umup_optim_config oc, foc = c->oc;
    int i, k, e, ne, bad = 0, *where;
    unsigned char *used;
    char name[128];
    if (full && !c->version) {
        umup__msg_add(msg, "%.300s is not a umup checkpoint (no \"format\" tag): only umup_trainer_load_weights reads it", path);
        return UMUP_ERR_FORMAT;
    }
    if (full && !c->full) {
        umup__msg_add(msg, "%.300s holds weights only (no optimizer state): load it with umup_trainer_load_weights", path);
        return UMUP_ERR_MISMATCH;
    }
    umup__ckpt_recorded(t, &mc, &oc);
    if (c->version)
        for (i = 0; i < UMUP__N_FIELDS; i++) {
            const umup__ckpt_field *f = &umup__ckpt_fields[i];
            const void *a = umup__field_ptr(f, &fmc, &foc), *b = umup__field_ptr(f, &mc, &oc);
            char va[64], vb[64];
            if (f->cls == UMUP__FC_TOTAL || (f->cls == UMUP__FC_TRAIN && !full) || (f->since > c->version)) continue;
            if (f->type == UMUP__FT_PARAM) { /* by name: a custom parametrization has no enum value */
                umup__field_text(f, b, vb, sizeof vb);
                if (!strcmp(c->param_name, vb)) continue;
                snprintf(va, sizeof va, "%s", c->param_name);
            } else if (umup__field_equal(f, a, b)) continue;
            else umup__field_text(f, a, va, sizeof va);
            umup__field_text(f, b, vb, sizeof vb);
            umup__msg_add(msg, "%s: the checkpoint has %s, this trainer %s", f->key, va, vb);
            bad++;
        }
    if (full) {
        if (t->opt.cfg.schedule.total > 0 && c->step > t->opt.cfg.schedule.total) {
            umup__msg_add(msg, "the checkpoint is at step %ld, past this trainer's schedule total of %ld steps", c->step,
                          t->opt.cfg.schedule.total);
            bad++;
        }
        for (i = 0; i < t->n_run_info; i++) {
            char key[40];
            const char *v;
            snprintf(key, sizeof key, "run.%s", t->run_key[i]);
            v = umup__ckpt_meta(c, key);
            if (v && strcmp(v, t->run_val[i])) {
                umup__msg_add(msg, "%s: the checkpoint has \"%.60s\", this run \"%.60s\"", key, v, t->run_val[i]);
                bad++;
            }
        }
    }
    /* tensors: each expected one present as F32 of its shape; nothing else (but "optim." keys in a
       weights load) */
    ne = umup_model_num_tensors(t->model) * (1 + (full ? umup__n_moments(t) : 0));
    where = (int *)UMUP_MALLOC(sizeof(int) * (size_t)ne);
    used = (unsigned char *)UMUP_MALLOC((size_t)c->n_ents + 1);
    if (!where || !used) {
        if (where) UMUP_FREE(where);
        if (used) UMUP_FREE(used);
        umup__msg_add(msg, "out of memory");
        return UMUP_ERR_NOMEM;
    }
    memset(used, 0, (size_t)c->n_ents + 1);
    for (e = 0; e < ne; e++) {
        int rows, cols, q;
        umup__ckpt_entry(t, e, name, sizeof name, &rows, &cols);
        where[e] = -1;
        for (q = 0; q < c->n_ents && where[e] < 0; q++) { /* the same position first: umup's own files are in order */
            k = (e + q) % c->n_ents;
            if (!strcmp(c->ents[k].name, name)) where[e] = k;
        }
        if (where[e] < 0) { umup__msg_add(msg, "tensor %s is missing", name); bad++; continue; }
        k = where[e];
        used[k] = 1;
        if (strcmp(c->ents[k].dtype, "F32")) { umup__msg_add(msg, "tensor %s is %s, not F32", name, c->ents[k].dtype); bad++; }
        else if (c->ents[k].ndim != 2 || c->ents[k].shape[0] != (uint64_t)rows || c->ents[k].shape[1] != (uint64_t)cols) {
            char shp[96] = "[";
            for (q = 0; q < c->ents[k].ndim; q++) {
                size_t l = strlen(shp);
                snprintf(shp + l, sizeof shp - l, "%s%llu", q ? ", " : "", (unsigned long long)c->ents[k].shape[q]);
            }
            umup__msg_add(msg, "tensor %s has shape %s], this trainer [%d, %d]", name, shp, rows, cols);
            bad++;
        }
    }
    for (k = 0; k < c->n_ents; k++)
        if (!used[k] && (full || strncmp(c->ents[k].name, "optim.", 6))) {
            umup__msg_add(msg, "unexpected tensor %.100s", c->ents[k].name);
            bad++;
        }
    UMUP_FREE(used);
    if (bad) { UMUP_FREE(where); return UMUP_ERR_MISMATCH; }
    /* values: every float finite */
    for (e = 0; e < ne; e++) {
        int rows, cols;
        const umup__st_entry *en = &c->ents[where[e]];
        size_t n = (size_t)en->numel, b = umup__first_nonfinite_le(c->data + en->begin, n);
        umup__ckpt_entry(t, e, name, sizeof name, &rows, &cols);
        if (b < n) {
            umup__msg_add(msg, "tensor %s holds a NaN or Inf at [%lu, %lu]", name, (unsigned long)(b / (size_t)cols),
                          (unsigned long)(b % (size_t)cols));
            bad++;
        }
    }
    if (bad) { UMUP_FREE(where); return UMUP_ERR_NONFINITE; }
    /* every byte validated: commit */
    for (e = 0; e < ne; e++) {
        int rows, cols;
        float *dst = umup__ckpt_entry(t, e, name, sizeof name, &rows, &cols);
        size_t n = (size_t)rows * (size_t)cols;
        memcpy(dst, c->data + c->ents[where[e]].begin, n * sizeof(float));
        if (!umup__little_endian()) umup__bswap32(dst, n);
    }
    UMUP_FREE(where);
    (void)umup_model_params(t->model); /* bumps the weight epoch: cached device copies are stale */
    if (full) t->opt.step = c->step;
    else {
        memset(t->state, 0, sizeof(float) * t->n_state);
        t->opt.step = 0;
    }
    return UMUP_OK;
}

static umup_status umup__trainer_load(umup_trainer *t, const char *path, int full) {
    umup__ckpt c;
    umup__msg msg;
    umup_status st;
    if (!t || !path) return UMUP_ERR_NULL;
    umup__msg_init(&msg, t->err, sizeof t->err);
    st = umup__ckpt_read(&c, path, 1, &msg);
    if (st == UMUP_OK) st = umup__trainer_apply(t, &c, full, path, &msg);
    umup__ckpt_free(&c);
    umup__msg_finish(&msg);
    return st;
}

UMUPDEF umup_status umup_trainer_load(umup_trainer *t, const char *path) { return umup__trainer_load(t, path, 1); }
UMUPDEF umup_status umup_trainer_load_weights(umup_trainer *t, const char *path) { return umup__trainer_load(t, path, 0); }

UMUPDEF umup_status umup_checkpoint_info(const char *path, umup_checkpoint_meta *out, char *err, size_t err_cap) {
    umup__ckpt c;
    umup__msg msg;
    umup_status st;
    int k;
    umup__msg_init(&msg, err, err_cap);
    if (!path || !out) return UMUP_ERR_NULL;
    memset(out, 0, sizeof *out);
    st = umup__ckpt_read(&c, path, 0, &msg);
    umup__msg_finish(&msg);
    if (st != UMUP_OK) return st;
    out->version = c.version;
    out->has_config = c.version > 0;
    out->has_optimizer_state = c.full;
    out->step = c.step < 0 ? 0 : c.step;
    out->model = c.mc;
    out->optim = c.oc;
    snprintf(out->param_name, sizeof out->param_name, "%s", c.param_name);
    out->n_tensors = c.n_ents;
    for (k = 0; k < c.n_ents; k++) out->n_values += c.ents[k].numel;
    for (k = 0; k < c.n_meta && out->n_run_info < 16; k++)
        if (!strncmp(c.meta[k].key, "run.", 4)) {
            snprintf(out->run_info[out->n_run_info].key, sizeof out->run_info[0].key, "%s", c.meta[k].key + 4);
            snprintf(out->run_info[out->n_run_info].value, sizeof out->run_info[0].value, "%.127s", c.meta[k].val);
            out->n_run_info++;
        }
    umup__ckpt_free(&c);
    return UMUP_OK;
}

UMUPDEF umup_status umup_trainer_from_checkpoint(umup_trainer **out, const char *path, int max_batch, char *err,
                                                 size_t err_cap) {
    umup__ckpt c;
    umup__msg msg;
    umup_status st;
    umup_trainer *t = NULL;
    int k;
    umup__msg_init(&msg, err, err_cap);
    if (!out || !path) return UMUP_ERR_NULL;
    *out = NULL;
    st = umup__ckpt_read(&c, path, 1, &msg);
    if (st == UMUP_OK && !c.version) {
        umup__msg_add(&msg, "%.300s records no umup configuration (no \"format\" tag)", path);
        st = UMUP_ERR_FORMAT;
    }
    if (st == UMUP_OK && c.custom_param) {
        umup__msg_add(&msg, "%.300s was trained with the custom parametrization \"%s\", which only its program has: "
                      "create the trainer with it (umup_param_config.custom) and call umup_trainer_load", path, c.param_name);
        st = UMUP_ERR_UNSUPPORTED;
    }
    if (st == UMUP_OK) {
        st = umup_trainer_create(&t, &c.mc, &c.oc, max_batch);
        if (st != UMUP_OK) umup__msg_add(&msg, "cannot create the recorded model: %s", umup_status_string(st));
    }
    if (st == UMUP_OK) {
        for (k = 0; k < c.n_meta; k++) /* the run information carries over to later saves */
            if (!strncmp(c.meta[k].key, "run.", 4) && !c.meta[k].cut) umup_trainer_set_run_info(t, c.meta[k].key + 4, c.meta[k].val);
        st = umup__trainer_apply(t, &c, c.full, path, &msg);
    }
    umup__ckpt_free(&c);
    umup__msg_finish(&msg);
    if (st != UMUP_OK) { umup_trainer_destroy(t); return st; }
    *out = t;
    return UMUP_OK;
}

UMUPDEF umup_status umup_trainer_set_total_steps(umup_trainer *t, long total) {
    umup_optimizer check;
    umup_optim_config c;
    if (!t) return UMUP_ERR_NULL;
    if (total < 0 || (total > 0 && total < t->opt.step)) return UMUP_ERR_INVALID_ARG;
    c = t->opt.cfg;
    c.schedule.total = total;
    if (umup_optim_init(&check, &c) != UMUP_OK) return UMUP_ERR_INVALID_ARG;
    t->opt.cfg.schedule.total = total;
    return UMUP_OK;
}

UMUPDEF umup_status umup_trainer_set_run_info(umup_trainer *t, const char *key, const char *value) {
    size_t kl, vl, q;
    int i;
    if (!t || !key || !value) return UMUP_ERR_NULL;
    kl = strlen(key);
    vl = strlen(value);
    if (kl < 1 || kl > 31 || vl > 127) return UMUP_ERR_INVALID_ARG;
    for (q = 0; q < kl; q++) {
        char ch = key[q];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-'))
            return UMUP_ERR_INVALID_ARG;
    }
    for (q = 0; q < vl; q++) if (value[q] < 0x20 || value[q] > 0x7e) return UMUP_ERR_INVALID_ARG;
    for (i = 0; i < t->n_run_info && strcmp(t->run_key[i], key); i++) {}
    if (i == t->n_run_info) {
        if (!vl) return UMUP_OK;
        if (i == 16) return UMUP_ERR_INVALID_ARG;
        t->n_run_info++;
        memcpy(t->run_key[i], key, kl + 1);
    } else if (!vl) { /* remove: move the last entry into its place */
        t->n_run_info--;
        memcpy(t->run_key[i], t->run_key[t->n_run_info], sizeof t->run_key[i]);
        memcpy(t->run_val[i], t->run_val[t->n_run_info], sizeof t->run_val[i]);
        return UMUP_OK;
    }
    memcpy(t->run_val[i], value, vl + 1);
    return UMUP_OK;
}

#endif /* UMUP_NO_TRAINER */

#ifdef UMUP_USE_CBLAS
#include "umup_cblas.h" /* the compile-time default backend (its implementation compiles here) */
#endif
#endif /* UMUP_IMPLEMENTATION_DONE */
#endif /* UMUP_IMPLEMENTATION */

/*
------------------------------------------------------------------------------
LICENCE (the same text as the file LICENSE)
------------------------------------------------------------------------------
MIT License

Copyright (c) 2026 the umup authors

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
------------------------------------------------------------------------------
*/
