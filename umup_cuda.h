/* umup_cuda.h - v0.2.5 - the CUDA backend of umup.h's GEMM seam: cuBLAS / cuBLASLt products (real FP8 on
 *               Hopper) and FP8 casts on the GPU, bit-identical to umup_fp8.h; and the device trainer,
 *               the whole training step on the GPU (>>cuda-trainer) - MIT licence (text at the end of this file)
 *
 * ---------------------------------------------------------------------------------------------
 * USING IT
 * ---------------------------------------------------------------------------------------------
 * The implementation is CUDA C++ and is compiled once, by nvcc. The repository ships umup_cuda.cu,
 * which holds exactly these two lines:
 *     #define UMUP_CUDA_IMPLEMENTATION
 *     #include "umup_cuda.h"
 * Build it and link it into the C (or C++) program that compiles umup.h's implementation:
 *     nvcc -O3 -arch=sm_90 -c umup_cuda.cu -o umup_cuda.o            (sm_75 or newer; FP8 needs sm_89+)
 *     cc -O2 -fopenmp prog.c umup_cuda.o -L$CUDA_HOME/lib64 -lcublasLt -lcublas -lcudart -lstdc++ -lm
 * (`make CUDA=1` does this for the tests and benchmarks.) This part of the header, the API, is plain
 * C with no CUDA types: include it from any C file.
 *
 *     #include "umup_cuda.h"
 *     umup_backend *gpu;
 *     umup_cuda_config cfg = {0};             // zero means defaults: device 0, fp32 (no TF32), FP8 off
 *     cfg.fp8 = 1;                            // exact FP8 products where both operands are marked
 *     if (umup_cuda_backend_create(&gpu, &cfg) == UMUP_OK) umup_set_backend(gpu);
 *     else fprintf(stderr, "running on the CPU: %s\n", umup_cuda_error(NULL));
 *     ...                                     // every large umup_gemm (the trainer's matmuls) runs on the GPU
 *     umup_set_backend(NULL);
 *     umup_cuda_backend_destroy(gpu);
 *
 * ---------------------------------------------------------------------------------------------
 * WHAT RUNS ON THE GPU
 * ---------------------------------------------------------------------------------------------
 * umup_gemm hands every product to the backend; the backend declines (UMUP_ERR_UNSUPPORTED: the
 * portable GEMM runs it on the CPU) products of fewer than min_macs multiply-adds M N K (default
 * UMUP_CUDA_MIN_MACS = 2^24, a 256^3 product): below that the transfers and launch latency cost more
 * than the CPU takes. Every other product runs on the device:
 *   1. the operands are copied to device memory through pinned staging buffers, asynchronously: the
 *      host packs one half of the staging memory while the copy engine drains the other;
 *   2. B stays resident when the call names it as a parameter (umup_gemm_args.weight_key): the
 *      device copy is reused while weight_epoch and the shape are unchanged (one entry per key and
 *      value hint; least recently used entries go when weight_cache_bytes is full). The contract is
 *      umup.h's: whoever passes a key bumps the epoch whenever the values may have changed;
 *   3. the product runs as
 *        FP8  (cuBLASLt, cfg.fp8 = 1, device sm_89 or newer, both operands marked E4M3/E5M2 but not
 *              both E5M2, M, N, K multiples of 16): the operands are encoded on the device (exactly:
 *              their values are already on the FP8 grid), laid out K-major ("TN", which the FP8 tensor
 *              cores require: the forward x W^T needs no transposition, dx = dy W and dW = dy^T x
 *              transpose on the device; a resident weight keeps its encoded copies too), multiplied
 *              with unit scale factors (u-muP's static scaling: no amax, no history), fp32 output;
 *        TF32 (cuBLAS, cfg.allow_tf32 = 1, other products): inputs rounded to 10 mantissa bits;
 *        fp32 (cuBLAS, the default): full single precision, CUBLAS_COMPUTE_32F;
 *      a product marked FP8 that cannot run in FP8 runs in fp32 (exact products of the same values,
 *      so only the accumulation order differs) and counts as an fp8 fallback in the statistics;
 *   4. C comes back through the staging buffers (uploaded first when beta != 0).
 * umup.h never calls a backend from inside an OpenMP parallel region.
 *
 * ---------------------------------------------------------------------------------------------
 * NUMERICS (what the tests hold it to; tests/cuda/test_cuda.c)
 * ---------------------------------------------------------------------------------------------
 * Every path multiplies exactly the values the CPU would (FP8 values are exact in any wider format,
 * and products of two FP8 values are exact in fp32), so GPU and CPU differ only in the order and the
 * precision of the accumulation. The tests bound |C_gpu - C_cpu| elementwise by t |alpha| S with
 * S = sum_k |a_ik b_kj| (plus the rounding of beta C):
 *   fp32: t = (2K + 8) 2^-24 (both sides obey the classical gamma_K bound);
 *   TF32: t = 2^-10 + (2K + 8) 2^-24 (each input rounded to 11 significant bits);
 *   FP8:  t = 2^-9 (Hopper's FP8 tensor cores keep fewer bits than fp32 while accumulating, about
 *         14 by DeepSeek-V3's measurement, section 3.3.2 of arXiv 2412.19437; cuBLASLt's default
 *         "no fast accumulation" promotes the partial sums to fp32 periodically; this header sets it
 *         explicitly).
 * The model-level check: the reference decoder's loss agrees to 1e-5 (relative) and every gradient
 * tensor to 1e-4 (relative L2) between the fp32 GPU path and the CPU.
 *
 * ---------------------------------------------------------------------------------------------
 * FP8 CASTS ON THE DEVICE
 * ---------------------------------------------------------------------------------------------
 * umup_cuda_fp8_encode / _decode / _quantise work on device arrays with the semantics of
 * umup_fp8_encode_array / _decode_array / _quantise_array: every umup_fp8_format, RNE or stochastic
 * rounding (32 or 16 random bits), saturating or not, element i of a stochastic call drawing
 * umup_rng_u32(seed, counter + i). The kernels run umup_fp8.h's own integer encoder, decoder and RNG
 * (its "integer core", compiled __host__ __device__), so they return the CPU's bits for every input;
 * tests/cuda/test_cuda_host.cu checks the very functions the kernels call, compiled for the host by
 * nvcc, against umup_fp8.h on all 2^32 float inputs (UMUP_TEST_FULL=1) or every tie and boundary.
 *
 * ---------------------------------------------------------------------------------------------
 * ERRORS AND THREADS
 * ---------------------------------------------------------------------------------------------
 * No function prints or exits. Every CUDA runtime, cuBLAS and cuBLASLt call is checked (but those
 * of umup_cuda_backend_destroy's clean-up, which has nobody to report to); a failure returns UMUP_ERR_NOMEM (device or pinned memory exhausted), UMUP_ERR_UNSUPPORTED (no usable device,
 * or the device cannot do what was asked) or UMUP_ERR_DEVICE (anything else), and
 * umup_cuda_error(b) tells which call failed and why, e.g.
 *     "cublasLtMatmul(...): CUBLAS_STATUS_EXECUTION_FAILED (the GPU program failed to execute) [umup_cuda.h:<line>]".
 * A backend is used by one thread at a time (umup_gemm's contract: set it before the work starts).
 * All device work runs on the backend's own stream (umup_cuda_stream); the GEMM calls return when C
 * is in host memory, the device-array entry points return once their work is queued.
 *
 * Options (define in the file that compiles the implementation):
 *     UMUP_CUDA_MIN_MACS   default of umup_cuda_config.min_macs (a double; 2^24)
 */
#include "umup.h"

#ifndef UMUP_CUDA_H
#define UMUP_CUDA_H

#ifdef __cplusplus
extern "C" {
#endif

/* Configuration; zero-initialised means defaults (umup_cuda_config_default returns them resolved). */
typedef struct {
    int device;                 /* CUDA device ordinal (default 0) */
    int fp8;                    /* 1: exact FP8 products for operands marked E4M3/E5M2 (default 0: fp32) */
    int allow_tf32;             /* 1: the other products may round their inputs to TF32 (default 0) */
    double min_macs;            /* products with M N K below this are declined (0: UMUP_CUDA_MIN_MACS; 1: none) */
    size_t workspace_bytes;     /* cuBLASLt workspace (0: 32 MiB) */
    size_t weight_cache_bytes;  /* device memory for resident weights (0: half the memory free at creation) */
    size_t stage_bytes;         /* pinned host memory for the transfers, in two halves (0: 16 MiB; else >= 4 KiB) */
} umup_cuda_config;

/* What the backend has done since it was created (or umup_cuda_stats_reset). */
typedef struct {
    uint64_t gemm_fp32, gemm_tf32, gemm_fp8;  /* products run on the device, by path */
    uint64_t gemm_declined;     /* products left to the CPU (below min_macs) */
    uint64_t fp8_fallbacks;     /* products marked FP8 that ran in fp32 (shape, formats, device, cfg.fp8 = 0) */
    uint64_t weight_uploads;    /* resident weights copied to the device (first use or new epoch) */
    uint64_t weight_hits;       /* products that found their weight resident */
    uint64_t bytes_h2d, bytes_d2h; /* bytes copied between host and device */
    uint64_t weights_resident;  /* entries in the weight cache now */
    uint64_t weight_bytes;      /* device bytes they hold */
} umup_cuda_stats;

/* The device a backend runs on. */
typedef struct {
    char name[256];
    int cc_major, cc_minor;     /* compute capability (9.0: Hopper) */
    int sm_count;
    int clock_khz;              /* peak SM clock */
    size_t total_mem;           /* bytes of device memory */
    int fp8;                    /* 1 when FP8 tensor-core products are available (sm_89 or newer) */
} umup_cuda_device_info;

/* The defaults, resolved (min_macs = UMUP_CUDA_MIN_MACS, workspace 32 MiB, ...; weight_cache_bytes
 * stays 0, "half the free memory", which only creation can resolve). */
UMUPDEF umup_cuda_config umup_cuda_config_default(void);

/* Creates a CUDA backend on cfg->device (cfg may be NULL: defaults): a stream, the cuBLAS and
 * cuBLASLt handles, the workspace and the pinned staging buffers. On success *out is the backend to
 * pass to umup_set_backend and to the functions below; it belongs to the caller (destroy it).
 * Errors (*out = NULL, umup_cuda_error(NULL) says why): UMUP_ERR_NULL (out NULL),
 * UMUP_ERR_INVALID_ARG (a negative device or min_macs, fp8 or allow_tf32 not 0/1, stage_bytes below
 * 4 KiB, a device ordinal past the last device), UMUP_ERR_UNSUPPORTED (no CUDA device, or no driver), UMUP_ERR_NOMEM,
 * UMUP_ERR_DEVICE. */
UMUPDEF umup_status umup_cuda_backend_create(umup_backend **out, const umup_cuda_config *cfg);

/* Frees everything the backend holds (device and pinned memory included). NULL is a no-op. Select
 * another backend (umup_set_backend(NULL)) first if this one is selected. */
UMUPDEF void umup_cuda_backend_destroy(umup_backend *b);

/* The message of the most recent failure of b ("" when none), or with b NULL of the most recent
 * failed umup_cuda_backend_create in the process. Never NULL; valid until the next call on b. */
UMUPDEF const char *umup_cuda_error(const umup_backend *b);

/* The device b runs on. Errors: UMUP_ERR_NULL; UMUP_ERR_INVALID_ARG (b is not a CUDA backend). */
UMUPDEF umup_status umup_cuda_device(const umup_backend *b, umup_cuda_device_info *out);

/* The counters above; reset sets them to zero (weights_resident and weight_bytes excepted, which
 * describe the cache). Errors: UMUP_ERR_NULL, UMUP_ERR_INVALID_ARG (not a CUDA backend). */
UMUPDEF umup_status umup_cuda_stats_get(const umup_backend *b, umup_cuda_stats *out);
UMUPDEF umup_status umup_cuda_stats_reset(umup_backend *b);

/* Frees every resident weight (the next product with a key uploads it again). Errors as above. */
UMUPDEF umup_status umup_cuda_release_weights(umup_backend *b);

/* The cudaStream_t (as a void pointer) that all of b's device work is queued on; NULL for NULL or a
 * non-CUDA backend. Queue your own work on it, or synchronise with it, to order it with b's. */
UMUPDEF void *umup_cuda_stream(const umup_backend *b);

/* Waits for all of b's queued device work; reports a failure of that work (UMUP_ERR_DEVICE). */
UMUPDEF umup_status umup_cuda_synchronize(umup_backend *b);

/* ---- FP8 casts on device arrays -------------------------------------------------------------
 * dst and src are device pointers (cudaMalloc or managed memory) of n elements; n = 0 does nothing.
 * The semantics, element for element and bit for bit, of umup_fp8_encode_array, umup_fp8_decode_array
 * and umup_fp8_quantise_array (umup_fp8.h) with the same arguments: element i of a stochastic call
 * uses umup_rng_u32(seed, counter + i); NaN inputs of a quantise in a format without NaN (GC) come
 * back unchanged. quantise may run in place (dst == src). The work is queued on b's stream and the
 * call returns; errors of the work itself surface at umup_cuda_synchronize.
 * Errors: UMUP_ERR_NULL (b, or an array with n > 0), UMUP_ERR_INVALID_ARG (not a CUDA backend, an
 * fmt or rounding outside its enum, a pointer that is not device memory), UMUP_ERR_DEVICE. */
UMUPDEF umup_status umup_cuda_fp8_encode(umup_backend *b, uint8_t *dst, const float *src, size_t n, umup_fp8_format fmt,
                                         umup_fp8_rounding rounding, int saturate, uint64_t seed, uint64_t counter);
UMUPDEF umup_status umup_cuda_fp8_decode(umup_backend *b, float *dst, const uint8_t *src, size_t n, umup_fp8_format fmt);
UMUPDEF umup_status umup_cuda_fp8_quantise(umup_backend *b, float *dst, const float *src, size_t n, umup_fp8_format fmt,
                                           umup_fp8_rounding rounding, int saturate, uint64_t seed, uint64_t counter);

/* ---- FP8 GEMM on device arrays ----------------------------------------------------------------
 * C[M,N] = alpha * A[M,K] B[N,K]^T + beta * C with cuBLASLt's FP8 tensor-core kernels and unit scale
 * factors: A and B are FP8 codes (a_fmt, b_fmt: UMUP_FP8_E4M3 or UMUP_FP8_E5M2, not both E5M2),
 * row-major with rows of K codes (lda, ldb >= K): both operands K-major, the layout the tensor cores
 * need. C is fp32, row-major, ldc >= N. M, N, K, lda, ldb must be multiples of 16, ldc of 4, and every
 * pointer 16-byte aligned. Queued on b's stream (what umup_gemm's FP8 path runs after its transfers).
 * Errors: UMUP_ERR_NULL, UMUP_ERR_SHAPE (sizes < 1, leading dimensions too small),
 * UMUP_ERR_INVALID_ARG (not a CUDA backend, formats other than E4M3/E5M2), UMUP_ERR_UNSUPPORTED (a
 * device without FP8, E5M2 x E5M2, sizes or alignment as above, no cuBLASLt algorithm), UMUP_ERR_DEVICE. */
UMUPDEF umup_status umup_cuda_gemm_fp8(umup_backend *b, int M, int N, int K, float alpha, const uint8_t *A, int lda,
                                       umup_fp8_format a_fmt, const uint8_t *B, int ldb, umup_fp8_format b_fmt,
                                       float beta, float *C, int ldc);


/* ============================================================================================ */
/* The device trainer: the whole training step on the GPU                        >>cuda-trainer */
/* ============================================================================================ */
/* umup_cuda_trainer is umup_trainer with parameters, gradients, optimizer state and activations
 * resident on the GPU, llm.c style: the model is the library's own (it is read from a host
 * umup_trainer the device trainer creates and keeps: the tensor table and its rules, the parameter
 * groups, the parametrization's residual form, taus and multipliers, every op scale, the FP8 policy of
 * each tensor, the initial parameters, the random streams of stochastic rounding and dropout), and every
 * op of the forward and backward pass runs as a device kernel with the CPU op's scales:
 *   embedding, non-parametric RMSNorm / LayerNorm, the residual forms (tau rule, pre-norm sum,
 *   post-norm), branch dropout, RoPE, causal attention (a fused flash-style kernel: online softmax
 *   over key tiles, the backward pass recomputes the probabilities, no T x T matrix in memory),
 *   SwiGLU, the readout and the cross-entropy (fused, with its gradient), FP8 simulation casts (the
 *   device casts of umup_fp8.h's integer core: the CPU's bits for the same seed), the gradient norm,
 *   clipping, the LR schedule and AdamW / Adam / SGD / Lion with per-tensor LR factors and
 *   weight-decay rules. The linear layers are cuBLAS / cuBLASLt products in the chosen precision.
 * A step copies the batch in (pinned memory, asynchronously), runs, and reads back only the loss.
 * Checkpoints are umup_trainer_save's safetensors files (the device state is copied into the host
 * trainer, which writes it), so a run saved on the GPU resumes on the CPU and vice versa.
 *
 * Precision of the matmuls (umup_cuda_trainer_config.precision); master weights, gradients,
 * optimizer state, activations and every other op stay fp32:
 *   FP32  CUBLAS_COMPUTE_32F: the CPU trainer's numbers up to summation order (the default);
 *   TF32  inputs rounded to TF32 by the tensor cores;
 *   BF16  both operands rounded to bfloat16 (the weights each step from the fp32 master copy),
 *         fp32 accumulation and output;
 *   FP8   the layers the model's FP8 policy casts (umup_model_config.fp8: the u-muP scheme, or all)
 *         as real FP8 tensor-core products on sm_89+ (Hopper: H100/H200): E4M3 x E4M3 forward, E5M2 x
 *         E4M3 for dx and dW, static unit scales (scale factors 1, no amax history: u-muP's claim
 *         that its unit-scaled tensors need no dynamic scaling), fp32 output; the operands are the
 *         values the FP8 simulation casts to (same formats, rounding and random bits), so only the
 *         accumulation differs from the simulation. The other layers run as BF16.
 * With FP8 simulation on (umup_model_config.fp8) the cast layers' operands are the FP8-rounded
 * values in every precision, as on the CPU.
 *
 * Determinism: the same seed gives the same bits on the same GPU. No reduction uses atomics: the
 * attention backward computes dK/dV per key tile and dQ per query tile in two kernels, the
 * embedding gradient sums each row's positions in order (the host sorts the batch's ids), the norms,
 * the loss and the gradient norm reduce in a fixed tree over fixed partitions, and cuBLAS and
 * cuBLASLt are deterministic on one stream.
 *
 * Limits: head size <= 128; umup_model_record_stats is not supported (the statistics are the CPU
 * model's); one thread at a time per trainer.
 *
 * Emulation (umup_cuda_trainer_config.emulate = 1, no GPU needed): every kernel's code (each kernel
 * is written once, as a sequence of phases that the device runs as a CUDA kernel) runs on the host,
 * thread by thread and block by block, and the products run with the portable GEMM on the operands
 * the device would use (bf16, FP8 codes). It is slow and exists for tests: it checks the device
 * trainer's arithmetic and wiring against the CPU trainer on machines without a GPU. */

typedef enum {
    UMUP_CUDA_FP32 = 0,         /* matmuls in fp32 (the default) */
    UMUP_CUDA_TF32,             /* matmuls in TF32 (sm_80+) */
    UMUP_CUDA_BF16,             /* matmuls on bf16 operands, fp32 accumulation (sm_80+) */
    UMUP_CUDA_FP8,              /* FP8-cast layers as real FP8 products (sm_89+), the rest BF16 */
    UMUP_CUDA_PRECISION_COUNT
} umup_cuda_precision;

/* Zero-initialised means defaults: device 0, FP32, on the GPU. */
typedef struct {
    int device;                 /* CUDA device ordinal */
    umup_cuda_precision precision;
    int emulate;                /* 1: run the kernels' code on the host instead (tests; no GPU needed) */
} umup_cuda_trainer_config;

typedef struct umup_cuda_trainer umup_cuda_trainer;

/* Creates the host trainer umup_trainer_create(mc, oc, 1) (the definition of the model: its tensor
 * table, rules, groups, scales and initial parameters; checkpoints and sampling go through it), then
 * the device state for batches of up to max_batch sequences of up to mc->max_seq tokens: parameters
 * (the host trainer's initial values), gradients, optimizer state (zero), activations.
 * cfg may be NULL (defaults). Errors (*out = NULL, umup_cuda_trainer_error(NULL) says why): those of
 * umup_trainer_create; UMUP_ERR_NULL; UMUP_ERR_SHAPE (max_batch < 1, max_batch x max_seq beyond int);
 * UMUP_ERR_INVALID_ARG (cfg fields outside their ranges); UMUP_ERR_UNSUPPORTED (no usable device, a
 * device without what the precision needs, head size > 128); UMUP_ERR_NOMEM; UMUP_ERR_DEVICE. */
UMUPDEF umup_status umup_cuda_trainer_create(umup_cuda_trainer **out, const umup_model_config *mc,
                                             const umup_optim_config *oc, int max_batch,
                                             const umup_cuda_trainer_config *cfg);
/* Frees the device and host state. NULL is a no-op. */
UMUPDEF void umup_cuda_trainer_destroy(umup_cuda_trainer *t);

/* One training step on ids, targets [B, T] (host arrays; B <= max_batch, T <= max_seq), exactly as
 * umup_trainer_step: forward, backward, clipping, update, with the step's schedule and random streams.
 * loss non-NULL: waits for the step and stores the batch loss (before the update); a non-finite loss
 * or gradient norm returns UMUP_ERR_NONFINITE and leaves the parameters unchanged. loss NULL: queues
 * the step and returns at once (the next call that waits reports a non-finite step; from a non-finite
 * step on, queued updates are skipped). Errors: UMUP_ERR_NULL, UMUP_ERR_SHAPE, UMUP_ERR_INVALID_ARG
 * (an id or target out of range, no target), UMUP_ERR_NONFINITE, UMUP_ERR_DEVICE, UMUP_ERR_NOMEM. */
UMUPDEF umup_status umup_cuda_trainer_step(umup_cuda_trainer *t, const int32_t *ids, const int32_t *targets, int B,
                                           int T, float *loss);

/* The loss of a batch without dropout, gradients or update (umup_trainer_eval). Waits. */
UMUPDEF umup_status umup_cuda_trainer_eval(umup_cuda_trainer *t, const int32_t *ids, const int32_t *targets, int B,
                                           int T, float *loss);

/* One forward and backward pass in training mode without an update: the loss, and the gradients
 * (umup_model_num_params floats, the tensor table's layout) into the host array grads (may be NULL).
 * What umup_model_forward + umup_model_backward give on the CPU with training mode on. Waits. */
UMUPDEF umup_status umup_cuda_trainer_grads(umup_cuda_trainer *t, const int32_t *ids, const int32_t *targets, int B,
                                            int T, float *loss, float *grads);

/* The host trainer (umup_cuda_trainer_host) and the device state, moved between them explicitly:
 * _to_host copies the device's parameters, optimizer moments and step into the host trainer (then
 * sample with its model, read its parameters, save it); _from_host makes the host trainer's
 * parameters, moments, step and optimizer settings the device's (after changing the host trainer:
 * umup_trainer_load_weights, umup_trainer_set_total_steps, writing its parameters; it also clears a
 * divergence). Steps do not update the host trainer otherwise. Errors: UMUP_ERR_NULL,
 * UMUP_ERR_DEVICE. */
UMUPDEF umup_trainer *umup_cuda_trainer_host(umup_cuda_trainer *t);
UMUPDEF umup_status umup_cuda_trainer_to_host(umup_cuda_trainer *t);
UMUPDEF umup_status umup_cuda_trainer_from_host(umup_cuda_trainer *t);

/* Checkpoints: umup_trainer_save / umup_trainer_load of the host trainer with the device state (the
 * same files, errors and messages; a failed load changes nothing). */
UMUPDEF umup_status umup_cuda_trainer_save(umup_cuda_trainer *t, const char *path);
UMUPDEF umup_status umup_cuda_trainer_load(umup_cuda_trainer *t, const char *path);

/* The number of updates applied (the optimizer's step; waits for queued steps). */
UMUPDEF long umup_cuda_trainer_step_count(umup_cuda_trainer *t);

/* Device bytes the trainer holds (0 when emulating), and the device it runs on (UMUP_ERR_UNSUPPORTED
 * when emulating). */
UMUPDEF size_t umup_cuda_trainer_device_bytes(const umup_cuda_trainer *t);
UMUPDEF umup_status umup_cuda_trainer_device(const umup_cuda_trainer *t, umup_cuda_device_info *out);

/* The message of t's most recent failure ("" when none), or with t NULL of the most recent failed
 * umup_cuda_trainer_create. Never NULL. */
UMUPDEF const char *umup_cuda_trainer_error(const umup_cuda_trainer *t);

/* Short names "fp32", "tf32", "bf16", "fp8" and their parser (UMUP_ERR_INVALID_ARG if unknown). */
UMUPDEF const char *umup_cuda_precision_name(umup_cuda_precision p);
UMUPDEF umup_status umup_cuda_precision_parse(const char *name, umup_cuda_precision *out);

#ifdef __cplusplus
}
#endif

#endif /* UMUP_CUDA_H */

/* ============================================================================================ */
/*                                      IMPLEMENTATION                                          */
/* ============================================================================================ */
#ifdef UMUP_CUDA_IMPLEMENTATION
#ifndef UMUP_CUDA_IMPLEMENTATION_DONE
#define UMUP_CUDA_IMPLEMENTATION_DONE

#ifndef __CUDACC__
#error "umup_cuda.h: the implementation is CUDA C++; compile it with nvcc (umup_cuda.cu)"
#endif

#define UMUP_FP8_CORE /* umup_fp8.h's integer encoder, decoder and RNG, __host__ __device__ here */
#include "umup_fp8.h"

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <mma.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(UMUP_MALLOC) && !defined(UMUP_FREE)
#error "umup_cuda.h: define both UMUP_MALLOC and UMUP_FREE, or neither"
#endif
#ifndef UMUP_MALLOC
#define UMUP_MALLOC(sz) malloc(sz)
#define UMUP_FREE(p) free(p)
#endif

#ifndef UMUP_CUDA_MIN_MACS
#define UMUP_CUDA_MIN_MACS (16.0 * 1024.0 * 1024.0)
#endif

/* ============================================================================================ */
/* Casts: the per-element and per-group functions the kernels run (__host__ __device__: the host
 * test runs them too), then the kernels.                                                       */
/* ============================================================================================ */

enum { UMUP__CU_ENCODE = 0, UMUP__CU_DECODE = 1, UMUP__CU_QUANTISE = 2 };

/* One cast call: the format, the rounding, and the RNG keys of the counter's first two 2^32-blocks
 * (element i uses the key of block (counter + i) >> 32, as umup_rng_u32 does). */
typedef struct {
    umup__fmt f;
    int op;                     /* UMUP__CU_ENCODE / _DECODE / _QUANTISE */
    int sat;
    uint32_t nb;                /* 0: RNE; else the number of random bits (32 or 16) */
    uint64_t seed, counter;
    uint64_t key0, key1;        /* umup__rng_key(seed, counter >> 32) and of the next block */
} umup__cu_cast;

/* Fills c; returns 0 for an fmt or rounding outside its enum. Host code. */
static int umup__cu_cast_init(umup__cu_cast *c, int op, umup_fp8_format fmt, umup_fp8_rounding rounding, int sat,
                              uint64_t seed, uint64_t counter) {
    const umup__fmt *p = umup__fp8_params(fmt);
    if (!p || !umup__rounding_ok(rounding)) return 0;
    memset(c, 0, sizeof *c);
    c->f = *p;
    c->op = op;
    c->sat = sat;
    c->nb = op == UMUP__CU_DECODE ? 0u : umup__round_bits(rounding, 0);
    c->seed = seed;
    c->counter = counter;
    c->key0 = umup__rng_key(seed, counter >> 32);
    c->key1 = umup__rng_key(seed, (counter >> 32) + 1u);
    return 1;
}

/* umup_rng_u32(seed, counter + i), with the keys of the first two blocks precomputed. */
UMUP__HD static inline uint32_t umup__cu_random(const umup__cu_cast *c, uint64_t i) {
    uint64_t ctr = c->counter + i, hi = ctr >> 32, hi0 = c->counter >> 32;
    uint64_t key = hi == hi0 ? c->key0 : hi == hi0 + 1u ? c->key1 : umup__rng_key(c->seed, hi);
    return umup__rng_block((uint32_t)key, (uint32_t)(key >> 32), (uint32_t)ctr);
}

/* Element i: x is the input's bits (a float, or a code for decode); returns the output's bits. */
UMUP__HD static inline uint32_t umup__cu_cast_elem(const umup__cu_cast *c, uint32_t x, uint64_t i) {
    uint32_t code;
    if (c->op == UMUP__CU_DECODE) return umup__decode_bits(x, &c->f);
    code = umup__encode_p(x, &c->f, c->sat, c->nb, c->nb ? umup__cu_random(c, i) : 0u);
    if (c->op == UMUP__CU_ENCODE) return code;
    if (c->f.kind == UMUP_SPECIALS_NONE && (x & 0x7FFFFFFFu) > 0x7F800000u) return x; /* NaN passes */
    return umup__decode_bits(code, &c->f);
}

/* A thread handles UMUP__CU_U consecutive elements: 32-byte float loads/stores, 8-byte code ones. */
#define UMUP__CU_U 8

UMUP__HD static inline uint32_t umup__cu_f2u(float x) {
#ifdef __CUDA_ARCH__
    return __float_as_uint(x);
#else
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
#endif
}
UMUP__HD static inline float umup__cu_u2f(uint32_t u) {
#ifdef __CUDA_ARCH__
    return __uint_as_float(u);
#else
    float x;
    memcpy(&x, &u, 4);
    return x;
#endif
}

/* Group g: elements [g U, g U + U) of n. vec != 0 (both arrays aligned to their vector width): the
 * device moves full groups with vector loads and stores. */
UMUP__HD static inline void umup__cu_cast_group(const umup__cu_cast *c, void *dst, const void *src, size_t n, size_t g,
                                                int vec) {
    const size_t i0 = g * UMUP__CU_U;
    const size_t cnt = n - i0 < UMUP__CU_U ? n - i0 : UMUP__CU_U;
    const int in8 = c->op == UMUP__CU_DECODE, out8 = c->op == UMUP__CU_ENCODE;
    uint32_t v[UMUP__CU_U];
    size_t j;
#ifdef __CUDA_ARCH__
    if (vec && cnt == UMUP__CU_U) {
        if (in8) {
            uint2 w = *(const uint2 *)((const uint8_t *)src + i0);
            for (j = 0; j < 4; j++) { v[j] = (w.x >> (8 * j)) & 0xFFu; v[j + 4] = (w.y >> (8 * j)) & 0xFFu; }
        } else {
            const uint4 *p = (const uint4 *)((const float *)src + i0);
            uint4 a = p[0], b = p[1];
            v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w; v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
        }
#pragma unroll
        for (j = 0; j < UMUP__CU_U; j++) v[j] = umup__cu_cast_elem(c, v[j], i0 + j);
        if (out8) {
            uint2 w;
            w.x = v[0] | (v[1] << 8) | (v[2] << 16) | (v[3] << 24);
            w.y = v[4] | (v[5] << 8) | (v[6] << 16) | (v[7] << 24);
            *(uint2 *)((uint8_t *)dst + i0) = w;
        } else {
            uint4 *p = (uint4 *)((float *)dst + i0);
            p[0] = make_uint4(v[0], v[1], v[2], v[3]);
            p[1] = make_uint4(v[4], v[5], v[6], v[7]);
        }
        return;
    }
#else
    (void)vec;
#endif
    for (j = 0; j < cnt; j++) {
        uint32_t x = in8 ? ((const uint8_t *)src)[i0 + j] : umup__cu_f2u(((const float *)src)[i0 + j]);
        uint32_t y = umup__cu_cast_elem(c, x, i0 + j);
        if (out8) ((uint8_t *)dst)[i0 + j] = (uint8_t)y;
        else ((float *)dst)[i0 + j] = umup__cu_u2f(y);
    }
}

static __global__ void umup__cu_cast_kernel(umup__cu_cast c, void *dst, const void *src, size_t n, int vec) {
    size_t groups = (n + UMUP__CU_U - 1) / UMUP__CU_U, g;
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (g = (size_t)blockIdx.x * blockDim.x + threadIdx.x; g < groups; g += stride)
        umup__cu_cast_group(&c, dst, src, n, g, vec);
}

/* The transposed codes of a GEMM operand, RNE and saturating (its values are already on the grid, so
 * this is exact): src [rows, cols] f32 -> dst [cols, rows] codes. 32x32 tiles through shared memory
 * keep both sides' accesses coalesced. Block 32 x 8. */
static __global__ void umup__cu_codes_t_kernel(umup__fmt f, uint8_t *dst, const float *src, int rows, int cols) {
    __shared__ uint8_t tile[32][33];
    int tx = (int)threadIdx.x, ty = (int)threadIdx.y, c0 = (int)blockIdx.x * 32, r0, k;
    for (r0 = (int)blockIdx.y * 32; r0 < rows; r0 += (int)gridDim.y * 32) {
        for (k = ty; k < 32; k += 8) {
            int r = r0 + k, c = c0 + tx;
            if (r < rows && c < cols)
                tile[k][tx] = (uint8_t)umup__encode_p(__float_as_uint(src[(size_t)r * cols + c]), &f, 1, 0u, 0u);
        }
        __syncthreads();
        for (k = ty; k < 32; k += 8) {
            int c = c0 + k, r = r0 + tx;
            if (c < cols && r < rows) dst[(size_t)c * rows + r] = tile[tx][k];
        }
        __syncthreads();
    }
}

/* ============================================================================================ */
/* GEMM plan: which path a call takes and the column-major cuBLAS call it becomes (host code, no
 * device calls: the host test checks every case by emulating the call).                        */
/* ============================================================================================ */

enum { UMUP__CU_DECLINE = 0, UMUP__CU_FP32, UMUP__CU_TF32, UMUP__CU_FP8 };

/* cuBLAS is column-major; a row-major [r, c] matrix with row stride ld is the column-major [c, r]
 * matrix with the same ld. So the row-major C[M,N] = op(A) op(B) is the column-major
 * C^T[N,M] = op(B)^T op(A)^T: cuBLAS's "A" is our B and its "B" is our A.
 *   fp32/TF32: the operands go to the device packed as stored; cuBLAS's transposition flags do the rest.
 *   FP8: cuBLASLt wants "TN" (its A transposed, its B not), i.e. both our operands K-major: A as
 *        [M, K] and B as [N, K] row-major. An operand stored the other way is transposed on the device
 *        while it is encoded. */
typedef struct {
    int path;                   /* UMUP__CU_DECLINE / _FP32 / _TF32 / _FP8 */
    int rows[2], cols[2];       /* our A (0) and B (1) as stored; packed on the device with ld = cols */
    int codes_t[2];             /* FP8: encode the transpose of the stored matrix */
    umup_fp8_format fmt[2];     /* FP8: the formats of A and B */
    int transa, transb;         /* the cuBLAS call (1: transposed) on (our B, our A) */
    int m, n, k, lda, ldb, ldc;
    int fp8_fallback;           /* marked FP8 but runs in fp32/TF32 */
} umup__cu_plan;

static void umup__cu_plan_make(umup__cu_plan *p, const umup_gemm_args *g, const umup_cuda_config *cfg, int fp8_device) {
    int marked = g->a_values != UMUP_GEMM_VALUES_F32 && g->b_values != UMUP_GEMM_VALUES_F32;
    memset(p, 0, sizeof *p);
    if (g->M <= 0 || g->N <= 0 || g->K <= 0 || (double)g->M * (double)g->N * (double)g->K < cfg->min_macs) {
        p->path = UMUP__CU_DECLINE;
        return;
    }
    p->rows[0] = g->trans_a ? g->K : g->M;
    p->cols[0] = g->trans_a ? g->M : g->K;
    p->rows[1] = g->trans_b ? g->N : g->K;
    p->cols[1] = g->trans_b ? g->K : g->N;
    p->m = g->N;
    p->n = g->M;
    p->k = g->K;
    p->ldc = g->N;
    if (marked && cfg->fp8 && fp8_device && !(g->a_values == UMUP_GEMM_VALUES_E5M2 && g->b_values == UMUP_GEMM_VALUES_E5M2) &&
        g->M % 16 == 0 && g->N % 16 == 0 && g->K % 16 == 0) {
        p->path = UMUP__CU_FP8;
        p->fmt[0] = g->a_values == UMUP_GEMM_VALUES_E5M2 ? UMUP_FP8_E5M2 : UMUP_FP8_E4M3;
        p->fmt[1] = g->b_values == UMUP_GEMM_VALUES_E5M2 ? UMUP_FP8_E5M2 : UMUP_FP8_E4M3;
        p->codes_t[0] = g->trans_a;    /* A must be [M, K] */
        p->codes_t[1] = !g->trans_b;   /* B must be [N, K] */
        p->transa = 1;
        p->transb = 0;
        p->lda = g->K;
        p->ldb = g->K;
        return;
    }
    p->fp8_fallback = marked;
    p->path = cfg->allow_tf32 ? UMUP__CU_TF32 : UMUP__CU_FP32;
    p->transa = g->trans_b;
    p->transb = g->trans_a;
    p->lda = p->cols[1];
    p->ldb = p->cols[0];
}

/* ============================================================================================ */
/* The backend's state                                                                          */
/* ============================================================================================ */

typedef struct {                /* a resident weight: the stored matrix B, packed, and its codes */
    const void *key;
    umup_gemm_values values;
    uint64_t epoch, last_use;
    int rows, cols;
    float *f32;                 /* [rows, cols] */
    uint8_t *codes[2];          /* FP8 codes of the matrix [rows, cols] and of its transpose (NULL until used) */
    umup_fp8_format codes_fmt[2];
    size_t bytes;               /* device bytes held */
} umup__cu_weight;

#define UMUP__CU_LT_PLANS 16

typedef struct {                /* a cuBLASLt FP8 matmul set up once and reused (least recently used goes) */
    int used;
    uint64_t last_use;
    int m, n, k, lda, ldb, ldc;
    cudaDataType_t ta, tb;
    unsigned align[3];
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulAlgo_t algo;
} umup__cu_lt;

enum { UMUP__CU_SA = 0, UMUP__CU_SB, UMUP__CU_SC, UMUP__CU_SCA, UMUP__CU_SCB, UMUP__CU_NSCRATCH };

typedef struct {
    umup_backend be;            /* what the caller holds; be.ctx points back here */
    umup_cuda_config cfg;
    umup_cuda_device_info info;
    umup_cuda_stats stats;
    char err[512];
    cudaStream_t stream;
    cublasHandle_t blas;
    cublasLtHandle_t lt;
    void *workspace;
    float *one;                 /* a device 1.0f: the FP8 scale factors */
    unsigned char *stage[2];    /* pinned staging halves, stage_bytes / 2 each */
    cudaEvent_t stage_ev[2];    /* the last copy that used each half */
    void *scratch[UMUP__CU_NSCRATCH];     /* device operands: A, B, C (f32), A codes, B codes */
    size_t scratch_bytes[UMUP__CU_NSCRATCH];
    umup__cu_weight *weights;
    int n_weights, max_weights;
    umup__cu_lt lt_plans[UMUP__CU_LT_PLANS];
    uint64_t tick;
} umup__cuda;

static char umup__cu_create_err[512];

static umup_status umup__cu_gemm(void *ctx, const umup_gemm_args *g);

/* The backend's state, or NULL when b is not a CUDA backend. */
static umup__cuda *umup__cu_of(const umup_backend *b) {
    return (b && b->gemm == umup__cu_gemm && b->ctx) ? (umup__cuda *)b->ctx : NULL;
}

/* ---- Errors: every runtime and cuBLAS status becomes a umup_status and a message ---------------- */

/* Writes the message (into cu's buffer, or the creation buffer for cu NULL) and returns st. */
static umup_status umup__cu_fail(umup__cuda *cu, umup_status st, int line, const char *fmt, ...) {
    char *buf = cu ? cu->err : umup__cu_create_err;
    size_t len;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, 512, fmt, ap);
    va_end(ap);
    len = strlen(buf);
    if (line > 0 && len < 480) snprintf(buf + len, 512 - len, " [umup_cuda.h:%d]", line);
    return st;
}

static umup_status umup__cu_rt(umup__cuda *cu, cudaError_t e, const char *what, int line) {
    return umup__cu_fail(cu, e == cudaErrorMemoryAllocation ? UMUP_ERR_NOMEM : UMUP_ERR_DEVICE, line, "%s: %s (%s)", what,
                         cudaGetErrorName(e), cudaGetErrorString(e));
}

static umup_status umup__cu_blas(umup__cuda *cu, cublasStatus_t s, const char *what, int line) {
    umup_status st = s == CUBLAS_STATUS_ALLOC_FAILED ? UMUP_ERR_NOMEM
                   : s == CUBLAS_STATUS_NOT_SUPPORTED ? UMUP_ERR_UNSUPPORTED : UMUP_ERR_DEVICE;
    return umup__cu_fail(cu, st, line, "%s: %s (%s)", what, cublasGetStatusName(s), cublasGetStatusString(s));
}

#define UMUP__CU_CHECK(call)                                                                          \
    do {                                                                                          \
        cudaError_t e_ = (call);                                                                  \
        if (e_ != cudaSuccess) return umup__cu_rt(cu, e_, #call, __LINE__);                       \
    } while (0)
#define UMUP__CU_BLAS(call)                                                                           \
    do {                                                                                          \
        cublasStatus_t s_ = (call);                                                               \
        if (s_ != CUBLAS_STATUS_SUCCESS) return umup__cu_blas(cu, s_, #call, __LINE__);           \
    } while (0)
#define UMUP__CU_TRY(expr)                                                                            \
    do {                                                                                          \
        umup_status t_ = (expr);                                                                  \
        if (t_ != UMUP_OK) return t_;                                                             \
    } while (0)

/* ---- Device memory ----------------------------------------------------------------------------
 * Weight slots never move while a product runs (a freed slot is empty, key NULL, until the next
 * product compacts the table), so a product can hold its weight while it allocates. */

static void umup__cu_weight_free(umup__cu_weight *w) {
    cudaFree(w->f32);
    cudaFree(w->codes[0]);
    cudaFree(w->codes[1]);
    memset(w, 0, sizeof *w);
}

static uint64_t umup__cu_weight_bytes(const umup__cuda *cu) {
    uint64_t s = 0;
    int i;
    for (i = 0; i < cu->n_weights; i++) s += cu->weights[i].bytes;
    return s;
}

/* cudaMalloc; when the device is full, free every resident weight but keep (may be NULL) and try
 * once more. */
static umup_status umup__cu_malloc(umup__cuda *cu, void **p, size_t bytes, const char *what, const umup__cu_weight *keep) {
    cudaError_t e = cudaMalloc(p, bytes);
    if (e == cudaErrorMemoryAllocation && cu->n_weights > 0) {
        int i;
        (void)cudaGetLastError(); /* an allocation failure is not sticky: clear it */
        for (i = 0; i < cu->n_weights; i++)
            if (&cu->weights[i] != keep) umup__cu_weight_free(&cu->weights[i]);
        e = cudaMalloc(p, bytes);
    }
    if (e != cudaSuccess) {
        *p = NULL;
        (void)cudaGetLastError();
        return umup__cu_rt(cu, e, what, __LINE__);
    }
    return UMUP_OK;
}

/* Scratch buffer i with at least `bytes` bytes (grown by half again, so that growth is rare). */
static umup_status umup__cu_reserve(umup__cuda *cu, int i, size_t bytes, const umup__cu_weight *keep) {
    size_t want = bytes + bytes / 2 < bytes ? bytes : bytes + bytes / 2;
    if (cu->scratch_bytes[i] >= bytes) return UMUP_OK;
    if (cu->scratch[i]) UMUP__CU_CHECK(cudaFree(cu->scratch[i]));
    cu->scratch[i] = NULL;
    cu->scratch_bytes[i] = 0;
    UMUP__CU_TRY(umup__cu_malloc(cu, &cu->scratch[i], want, "cudaMalloc (operand buffer)", keep));
    cu->scratch_bytes[i] = want;
    return UMUP_OK;
}

/* ---- Transfers through the pinned staging halves ---------------------------------------------- */

/* Moves the next n elements of the packed (row by row) view of the matrix m [rows, cols] with row
 * stride ld, from position (*r, *c) on, between m and the contiguous buf, and advances the position.
 * to_matrix 0: m -> buf (upload); 1: buf -> m (download). */
static void umup__cu_pack(float *buf, float *m, size_t n, int cols, int ld, size_t *r, size_t *c, int to_matrix) {
    size_t k = 0;
    while (k < n) {
        size_t take = (size_t)cols - *c < n - k ? (size_t)cols - *c : n - k;
        float *at = m + *r * (size_t)ld + *c;
        if (to_matrix) memcpy(at, buf + k, take * sizeof(float));
        else memcpy(buf + k, at, take * sizeof(float));
        k += take;
        *c += take;
        if (*c == (size_t)cols) { *c = 0; (*r)++; }
    }
}

/* dst (device, packed [rows, cols]) = src (host, row stride ld). The host packs half h while the copy
 * of the other half is in flight; a half is reused once its previous copy has finished. */
static umup_status umup__cu_upload(umup__cuda *cu, float *dst, const float *src, int rows, int cols, int ld) {
    const size_t cap = cu->cfg.stage_bytes / 2 / sizeof(float), total = (size_t)rows * (size_t)cols;
    size_t done = 0, r = 0, c = 0;
    int h = 0;
    while (done < total) {
        size_t n = total - done < cap ? total - done : cap;
        float *buf = (float *)cu->stage[h];
        UMUP__CU_CHECK(cudaEventSynchronize(cu->stage_ev[h]));
        umup__cu_pack(buf, (float *)src, n, cols, ld, &r, &c, 0);
        UMUP__CU_CHECK(cudaMemcpyAsync(dst + done, buf, n * sizeof(float), cudaMemcpyHostToDevice, cu->stream));
        UMUP__CU_CHECK(cudaEventRecord(cu->stage_ev[h], cu->stream));
        cu->stats.bytes_h2d += n * sizeof(float);
        done += n;
        h ^= 1;
    }
    return UMUP_OK;
}

/* Starts copying chunk i (cap elements) of the packed device matrix src into staging half i % 2. */
static umup_status umup__cu_download_chunk(umup__cuda *cu, const float *src, size_t total, size_t cap, size_t i) {
    size_t off = i * cap, n = total - off < cap ? total - off : cap;
    UMUP__CU_CHECK(cudaMemcpyAsync(cu->stage[i & 1], src + off, n * sizeof(float), cudaMemcpyDeviceToHost, cu->stream));
    UMUP__CU_CHECK(cudaEventRecord(cu->stage_ev[i & 1], cu->stream));
    return UMUP_OK;
}

/* dst (host, row stride ld) = src (device, packed [rows, cols]): chunk i + 1 is in flight while the
 * host unpacks chunk i. Returns when everything is in dst. */
static umup_status umup__cu_download(umup__cuda *cu, float *dst, int ld, const float *src, int rows, int cols) {
    const size_t cap = cu->cfg.stage_bytes / 2 / sizeof(float), total = (size_t)rows * (size_t)cols;
    const size_t nchunks = (total + cap - 1) / cap;
    size_t i, r = 0, c = 0;
    for (i = 0; i < nchunks && i < 2; i++) UMUP__CU_TRY(umup__cu_download_chunk(cu, src, total, cap, i));
    for (i = 0; i < nchunks; i++) {
        size_t n = total - i * cap < cap ? total - i * cap : cap;
        UMUP__CU_CHECK(cudaEventSynchronize(cu->stage_ev[i & 1]));
        umup__cu_pack((float *)cu->stage[i & 1], dst, n, cols, ld, &r, &c, 1);
        cu->stats.bytes_d2h += n * sizeof(float);
        if (i + 2 < nchunks) UMUP__CU_TRY(umup__cu_download_chunk(cu, src, total, cap, i + 2)); /* its half is free again */
    }
    return UMUP_OK;
}

/* ---- Kernel launches ---------------------------------------------------------------------------- */

static unsigned umup__cu_blocks(const umup__cuda *cu, size_t threads) {
    size_t b = (threads + 255) / 256, cap = (size_t)cu->info.sm_count * 16;
    if (b > cap) b = cap;
    return (unsigned)(b < 1 ? 1 : b);
}

static umup_status umup__cu_cast_run(umup__cuda *cu, const umup__cu_cast *c, void *dst, const void *src, size_t n) {
    int vec = (uintptr_t)dst % 32 == 0 && (uintptr_t)src % 32 == 0;
    size_t groups = (n + UMUP__CU_U - 1) / UMUP__CU_U;
    if (n == 0) return UMUP_OK;
    umup__cu_cast_kernel<<<umup__cu_blocks(cu, groups), 256, 0, cu->stream>>>(*c, dst, src, n, vec);
    UMUP__CU_CHECK(cudaGetLastError());
    return UMUP_OK;
}

/* dst = codes (RNE, saturating) of src [rows, cols], or of its transpose. */
static umup_status umup__cu_codes(umup__cuda *cu, uint8_t *dst, const float *src, int rows, int cols, umup_fp8_format fmt,
                                  int transpose) {
    if (!transpose) {
        umup__cu_cast c;
        umup__cu_cast_init(&c, UMUP__CU_ENCODE, fmt, UMUP_FP8_RNE, 1, 0, 0);
        return umup__cu_cast_run(cu, &c, dst, src, (size_t)rows * (size_t)cols);
    }
    {
        dim3 block(32, 8), grid((unsigned)((cols + 31) / 32), (unsigned)((rows + 31) / 32 < 65535 ? (rows + 31) / 32 : 65535));
        umup__cu_codes_t_kernel<<<grid, block, 0, cu->stream>>>(*umup__fp8_params(fmt), dst, src, rows, cols);
        UMUP__CU_CHECK(cudaGetLastError());
    }
    return UMUP_OK;
}

/* ---- cuBLASLt FP8 products ---------------------------------------------------------------------- */

static void umup__cu_lt_free(umup__cu_lt *p) {
    if (p->lc) cublasLtMatrixLayoutDestroy(p->lc);
    if (p->lb) cublasLtMatrixLayoutDestroy(p->lb);
    if (p->la) cublasLtMatrixLayoutDestroy(p->la);
    if (p->op) cublasLtMatmulDescDestroy(p->op);
    memset(p, 0, sizeof *p);
}

static unsigned umup__cu_align(const void *p) {
    unsigned a = 256;
    while (a > 1 && ((uintptr_t)p & (a - 1))) a >>= 1;
    return a;
}

/* Sets up p for the column-major C[m,n] (fp32, ldc) = alpha op(A)^T B + beta C, A [k, m] (lda) of type
 * ta transposed, B [k, n] (ldb) of type tb: descriptors, unit scales, no fast accumulation, and
 * the heuristic's first algorithm for these sizes, types and alignments. */
static umup_status umup__cu_lt_setup(umup__cuda *cu, umup__cu_lt *p) {
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    int8_t fast = 0;
    const float *one = cu->one;
    cublasLtMatmulPreference_t pref = NULL;
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    uint32_t al[4];
    cublasStatus_t s;
    UMUP__CU_BLAS(cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    UMUP__CU_BLAS(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    UMUP__CU_BLAS(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    UMUP__CU_BLAS(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &one, sizeof one));
    UMUP__CU_BLAS(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &one, sizeof one));
    UMUP__CU_BLAS(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_FAST_ACCUM, &fast, sizeof fast));
    UMUP__CU_BLAS(cublasLtMatrixLayoutCreate(&p->la, p->ta, (uint64_t)p->k, (uint64_t)p->m, (int64_t)p->lda));
    UMUP__CU_BLAS(cublasLtMatrixLayoutCreate(&p->lb, p->tb, (uint64_t)p->k, (uint64_t)p->n, (int64_t)p->ldb));
    UMUP__CU_BLAS(cublasLtMatrixLayoutCreate(&p->lc, CUDA_R_32F, (uint64_t)p->m, (uint64_t)p->n, (int64_t)p->ldc));
    UMUP__CU_BLAS(cublasLtMatmulPreferenceCreate(&pref));
    al[0] = p->align[0]; al[1] = p->align[1]; al[2] = al[3] = p->align[2];
    s = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &cu->cfg.workspace_bytes,
                                             sizeof cu->cfg.workspace_bytes);
    if (s == CUBLAS_STATUS_SUCCESS) s = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al[0], 4);
    if (s == CUBLAS_STATUS_SUCCESS) s = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al[1], 4);
    if (s == CUBLAS_STATUS_SUCCESS) s = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al[2], 4);
    if (s == CUBLAS_STATUS_SUCCESS) s = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al[3], 4);
    if (s == CUBLAS_STATUS_SUCCESS)
        s = cublasLtMatmulAlgoGetHeuristic(cu->lt, p->op, p->la, p->lb, p->lc, p->lc, pref, 1, &res, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (s != CUBLAS_STATUS_SUCCESS) return umup__cu_blas(cu, s, "cublasLtMatmulAlgoGetHeuristic (FP8)", __LINE__);
    if (found < 1) {
        return umup__cu_fail(cu, UMUP_ERR_UNSUPPORTED, __LINE__, "cublasLtMatmulAlgoGetHeuristic: no FP8 algorithm for m=%d n=%d k=%d",
                             p->m, p->n, p->k);
    }
    p->algo = res.algo;
    return UMUP_OK;
}

/* The column-major FP8 product described at umup__cu_lt_setup, with the set-up reused. */
static umup_status umup__cu_fp8_matmul(umup__cuda *cu, int m, int n, int k, float alpha, const void *A, cudaDataType_t ta,
                                       int lda, const void *B, cudaDataType_t tb, int ldb, float beta, float *C, int ldc) {
    umup__cu_lt *p = NULL, *victim = &cu->lt_plans[0];
    unsigned al[3];
    int i;
    al[0] = umup__cu_align(A); al[1] = umup__cu_align(B); al[2] = umup__cu_align(C);
    for (i = 0; i < UMUP__CU_LT_PLANS; i++) {
        umup__cu_lt *q = &cu->lt_plans[i];
        if (q->used && q->m == m && q->n == n && q->k == k && q->lda == lda && q->ldb == ldb && q->ldc == ldc &&
            q->ta == ta && q->tb == tb && q->align[0] == al[0] && q->align[1] == al[1] && q->align[2] == al[2]) {
            p = q;
            break;
        }
        if (victim->used && (!q->used || q->last_use < victim->last_use)) victim = q;
    }
    if (!p) {
        umup_status st;
        p = victim;
        umup__cu_lt_free(p);
        p->m = m; p->n = n; p->k = k; p->lda = lda; p->ldb = ldb; p->ldc = ldc; p->ta = ta; p->tb = tb;
        p->align[0] = al[0]; p->align[1] = al[1]; p->align[2] = al[2];
        st = umup__cu_lt_setup(cu, p);
        if (st != UMUP_OK) {
            umup__cu_lt_free(p);
            return st;
        }
        p->used = 1;
    }
    p->last_use = ++cu->tick;
    UMUP__CU_BLAS(cublasLtMatmul(cu->lt, p->op, &alpha, A, p->la, B, p->lb, &beta, C, p->lc, C, p->lc, &p->algo,
                                 cu->workspace, cu->cfg.workspace_bytes, cu->stream));
    return UMUP_OK;
}

static cudaDataType_t umup__cu_dtype(umup_fp8_format f) { return f == UMUP_FP8_E5M2 ? CUDA_R_8F_E5M2 : CUDA_R_8F_E4M3; }

/* ---- Resident weights --------------------------------------------------------------------------- */

/* Removes the empty slots (only between products: nobody holds a slot). */
static void umup__cu_weights_compact(umup__cuda *cu) {
    int i, j = 0;
    for (i = 0; i < cu->n_weights; i++)
        if (cu->weights[i].key) cu->weights[j++] = cu->weights[i];
    cu->n_weights = j;
}

/* The resident copy of the call's B (uploaded when new or stale), or *out = NULL when it cannot be
 * resident (larger than the cache, or no device memory left for it): the caller then uploads B like
 * an activation. */
static umup_status umup__cu_weight_get(umup__cuda *cu, const umup_gemm_args *g, const umup__cu_plan *p,
                                       umup__cu_weight **out) {
    const size_t bytes = (size_t)p->rows[1] * (size_t)p->cols[1] * sizeof(float);
    umup__cu_weight *w = NULL;
    float *f32 = NULL;
    int i;
    *out = NULL;
    umup__cu_weights_compact(cu);
    for (i = 0; i < cu->n_weights; i++)
        if (cu->weights[i].key == g->weight_key && cu->weights[i].values == g->b_values) w = &cu->weights[i];
    if (w && w->epoch == g->weight_epoch && w->rows == p->rows[1] && w->cols == p->cols[1]) {
        cu->stats.weight_hits++;
        w->last_use = ++cu->tick;
        *out = w;
        return UMUP_OK;
    }
    if (w) umup__cu_weight_free(w); /* stale */
    umup__cu_weights_compact(cu);
    if (bytes > cu->cfg.weight_cache_bytes) return UMUP_OK;
    while (cu->n_weights > 0 && umup__cu_weight_bytes(cu) + bytes > cu->cfg.weight_cache_bytes) {
        int lru = 0;
        for (i = 1; i < cu->n_weights; i++)
            if (cu->weights[i].last_use < cu->weights[lru].last_use) lru = i;
        umup__cu_weight_free(&cu->weights[lru]);
        umup__cu_weights_compact(cu);
    }
    if (cu->n_weights == cu->max_weights) {
        int nmax = cu->max_weights ? 2 * cu->max_weights : 32;
        umup__cu_weight *nw = (umup__cu_weight *)UMUP_MALLOC(sizeof(umup__cu_weight) * (size_t)nmax);
        if (!nw) return umup__cu_fail(cu, UMUP_ERR_NOMEM, __LINE__, "out of host memory (weight table)");
        if (cu->n_weights) memcpy(nw, cu->weights, sizeof(umup__cu_weight) * (size_t)cu->n_weights);
        UMUP_FREE(cu->weights);
        cu->weights = nw;
        cu->max_weights = nmax;
    }
    {
        char saved[sizeof cu->err];
        memcpy(saved, cu->err, sizeof saved);
        if (umup__cu_malloc(cu, (void **)&f32, bytes, "cudaMalloc (resident weight)", NULL) != UMUP_OK) {
            memcpy(cu->err, saved, sizeof saved); /* not an error: B travels like an activation instead */
            umup__cu_weights_compact(cu);
            return UMUP_OK;
        }
    }
    umup__cu_weights_compact(cu); /* the allocation may have emptied slots */
    w = &cu->weights[cu->n_weights++];
    memset(w, 0, sizeof *w);
    w->f32 = f32;
    w->key = g->weight_key;
    w->values = g->b_values;
    w->epoch = g->weight_epoch;
    w->rows = p->rows[1];
    w->cols = p->cols[1];
    w->bytes = bytes;
    w->last_use = ++cu->tick;
    UMUP__CU_TRY(umup__cu_upload(cu, w->f32, g->B, w->rows, w->cols, g->ldb));
    cu->stats.weight_uploads++;
    *out = w;
    return UMUP_OK;
}

/* The resident weight's codes (t = 0: of the matrix, 1: of its transpose), made on first use. */
static umup_status umup__cu_weight_codes(umup__cuda *cu, umup__cu_weight *w, int t, umup_fp8_format fmt, const uint8_t **out) {
    size_t n = (size_t)w->rows * (size_t)w->cols;
    if (!w->codes[t] || w->codes_fmt[t] != fmt) {
        if (!w->codes[t]) {
            UMUP__CU_TRY(umup__cu_malloc(cu, (void **)&w->codes[t], n, "cudaMalloc (resident weight codes)", w));
            w->bytes += n;
        }
        w->codes_fmt[t] = fmt;
        UMUP__CU_TRY(umup__cu_codes(cu, w->codes[t], w->f32, w->rows, w->cols, fmt, t));
    }
    *out = w->codes[t];
    return UMUP_OK;
}

/* ============================================================================================ */
/* The backend's GEMM                                                                           */
/* ============================================================================================ */

static umup_status umup__cu_gemm(void *ctx, const umup_gemm_args *g) {
    umup__cuda *cu = (umup__cuda *)ctx;
    umup__cu_plan p;
    umup__cu_weight *w = NULL;
    const float *dA, *dB;
    float *dC;
    size_t na, nb, nc;
    umup__cu_plan_make(&p, g, &cu->cfg, cu->info.fp8);
    if (p.path == UMUP__CU_DECLINE) {
        cu->stats.gemm_declined++;
        return UMUP_ERR_UNSUPPORTED;
    }
    na = (size_t)g->M * (size_t)g->K;
    nb = (size_t)g->K * (size_t)g->N;
    nc = (size_t)g->M * (size_t)g->N;
    if ((double)na > (double)SIZE_MAX / 4 || (double)nb > (double)SIZE_MAX / 4 || (double)nc > (double)SIZE_MAX / 4)
        return umup__cu_fail(cu, UMUP_ERR_NOMEM, __LINE__, "product too large for this address space");
    UMUP__CU_CHECK(cudaSetDevice(cu->cfg.device));

    /* B: resident (weight_key), or uploaded like an activation */
    if (g->weight_key) UMUP__CU_TRY(umup__cu_weight_get(cu, g, &p, &w));
    if (w) {
        dB = w->f32;
    } else {
        UMUP__CU_TRY(umup__cu_reserve(cu, UMUP__CU_SB, nb * sizeof(float), NULL));
        UMUP__CU_TRY(umup__cu_upload(cu, (float *)cu->scratch[UMUP__CU_SB], g->B, p.rows[1], p.cols[1], g->ldb));
        dB = (const float *)cu->scratch[UMUP__CU_SB];
    }
    /* A, and C when beta != 0 */
    UMUP__CU_TRY(umup__cu_reserve(cu, UMUP__CU_SA, na * sizeof(float), w));
    UMUP__CU_TRY(umup__cu_upload(cu, (float *)cu->scratch[UMUP__CU_SA], g->A, p.rows[0], p.cols[0], g->lda));
    dA = (const float *)cu->scratch[UMUP__CU_SA];
    UMUP__CU_TRY(umup__cu_reserve(cu, UMUP__CU_SC, nc * sizeof(float), w));
    dC = (float *)cu->scratch[UMUP__CU_SC];
    if (g->beta != 0.0f) UMUP__CU_TRY(umup__cu_upload(cu, dC, g->C, g->M, g->N, g->ldc));
    else UMUP__CU_CHECK(cudaMemsetAsync(dC, 0, nc * sizeof(float), cu->stream));

    if (p.path == UMUP__CU_FP8) { /* both operands K-major codes, then cuBLASLt */
        const uint8_t *ca, *cb;
        umup_status st;
        UMUP__CU_TRY(umup__cu_reserve(cu, UMUP__CU_SCA, na, w));
        ca = (const uint8_t *)cu->scratch[UMUP__CU_SCA];
        UMUP__CU_TRY(umup__cu_codes(cu, (uint8_t *)ca, dA, p.rows[0], p.cols[0], p.fmt[0], p.codes_t[0]));
        if (w) {
            UMUP__CU_TRY(umup__cu_weight_codes(cu, w, p.codes_t[1], p.fmt[1], &cb));
        } else {
            UMUP__CU_TRY(umup__cu_reserve(cu, UMUP__CU_SCB, nb, NULL));
            cb = (const uint8_t *)cu->scratch[UMUP__CU_SCB];
            UMUP__CU_TRY(umup__cu_codes(cu, (uint8_t *)cb, dB, p.rows[1], p.cols[1], p.fmt[1], p.codes_t[1]));
        }
        st = umup__cu_fp8_matmul(cu, p.m, p.n, p.k, g->alpha, cb, umup__cu_dtype(p.fmt[1]), p.lda, ca,
                                 umup__cu_dtype(p.fmt[0]), p.ldb, g->beta, dC, p.ldc);
        if (st == UMUP_ERR_UNSUPPORTED) { /* no FP8 algorithm for this case: the same values in fp32 */
            umup_cuda_config c32 = cu->cfg;
            c32.fp8 = 0;
            umup__cu_plan_make(&p, g, &c32, 0);
        } else if (st != UMUP_OK) {
            return st;
        } else {
            cu->stats.gemm_fp8++;
        }
    }
    if (p.path != UMUP__CU_FP8) {
        cublasComputeType_t ct = p.path == UMUP__CU_TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
        UMUP__CU_BLAS(cublasGemmEx(cu->blas, p.transa ? CUBLAS_OP_T : CUBLAS_OP_N, p.transb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                   p.m, p.n, p.k, &g->alpha, dB, CUDA_R_32F, p.lda, dA, CUDA_R_32F, p.ldb, &g->beta, dC,
                                   CUDA_R_32F, p.ldc, ct, CUBLAS_GEMM_DEFAULT));
        if (p.path == UMUP__CU_TF32) cu->stats.gemm_tf32++;
        else cu->stats.gemm_fp32++;
        if (p.fp8_fallback) cu->stats.fp8_fallbacks++;
    }
    return umup__cu_download(cu, g->C, g->ldc, dC, g->M, g->N);
}

/* ============================================================================================ */
/* Public functions                                                                             */
/* ============================================================================================ */

UMUPDEF umup_cuda_config umup_cuda_config_default(void) {
    umup_cuda_config c;
    memset(&c, 0, sizeof c);
    c.min_macs = UMUP_CUDA_MIN_MACS;
    c.workspace_bytes = (size_t)32 << 20;
    c.stage_bytes = (size_t)16 << 20;
    return c;
}

static void umup__cu_free(umup__cuda *cu) {
    int i;
    if (!cu) return;
    cudaSetDevice(cu->cfg.device);
    if (cu->stream) cudaStreamSynchronize(cu->stream);
    for (i = 0; i < UMUP__CU_LT_PLANS; i++) umup__cu_lt_free(&cu->lt_plans[i]);
    for (i = 0; i < cu->n_weights; i++) umup__cu_weight_free(&cu->weights[i]);
    UMUP_FREE(cu->weights);
    for (i = 0; i < UMUP__CU_NSCRATCH; i++) cudaFree(cu->scratch[i]);
    for (i = 0; i < 2; i++) {
        if (cu->stage_ev[i]) cudaEventDestroy(cu->stage_ev[i]);
    }
    cudaFreeHost(cu->stage[0]);
    cudaFree(cu->one);
    cudaFree(cu->workspace);
    if (cu->lt) cublasLtDestroy(cu->lt);
    if (cu->blas) cublasDestroy(cu->blas);
    if (cu->stream) cudaStreamDestroy(cu->stream);
    UMUP_FREE(cu);
}

/* Everything of creation that talks to the device; a failure leaves cu for umup__cu_free. */
static umup_status umup__cu_init(umup__cuda *cu) {
    struct cudaDeviceProp prop;
    const float one = 1.0f;
    size_t free_b = 0, total_b = 0;
    int i;
    UMUP__CU_CHECK(cudaSetDevice(cu->cfg.device));
    UMUP__CU_CHECK(cudaGetDeviceProperties(&prop, cu->cfg.device));
    memcpy(cu->info.name, prop.name, sizeof cu->info.name);
    cu->info.name[sizeof cu->info.name - 1] = 0;
    cu->info.cc_major = prop.major;
    cu->info.cc_minor = prop.minor;
    cu->info.sm_count = prop.multiProcessorCount;
    cu->info.total_mem = prop.totalGlobalMem;
    UMUP__CU_CHECK(cudaDeviceGetAttribute(&cu->info.clock_khz, cudaDevAttrClockRate, cu->cfg.device));
    cu->info.fp8 = prop.major * 10 + prop.minor >= 89;
    UMUP__CU_CHECK(cudaStreamCreateWithFlags(&cu->stream, cudaStreamNonBlocking));
    UMUP__CU_BLAS(cublasCreate(&cu->blas));
    UMUP__CU_BLAS(cublasSetStream(cu->blas, cu->stream));
    UMUP__CU_BLAS(cublasLtCreate(&cu->lt));
    UMUP__CU_CHECK(cudaMalloc(&cu->workspace, cu->cfg.workspace_bytes));
    UMUP__CU_CHECK(cudaMalloc((void **)&cu->one, sizeof(float)));
    UMUP__CU_CHECK(cudaMemcpy(cu->one, &one, sizeof one, cudaMemcpyHostToDevice));
    UMUP__CU_CHECK(cudaHostAlloc((void **)&cu->stage[0], cu->cfg.stage_bytes, cudaHostAllocDefault));
    cu->stage[1] = cu->stage[0] + cu->cfg.stage_bytes / 2;
    for (i = 0; i < 2; i++) UMUP__CU_CHECK(cudaEventCreateWithFlags(&cu->stage_ev[i], cudaEventDisableTiming));
    if (cu->cfg.weight_cache_bytes == 0) {
        UMUP__CU_CHECK(cudaMemGetInfo(&free_b, &total_b));
        cu->cfg.weight_cache_bytes = free_b / 2;
    }
    return UMUP_OK;
}

UMUPDEF umup_status umup_cuda_backend_create(umup_backend **out, const umup_cuda_config *cfg) {
    umup_cuda_config c = umup_cuda_config_default();
    umup__cuda *cu;
    umup_status st;
    int count = 0;
    cudaError_t e;
    umup__cu_create_err[0] = 0;
    if (!out) return umup__cu_fail(NULL, UMUP_ERR_NULL, 0, "umup_cuda_backend_create: out is NULL");
    *out = NULL;
    if (cfg) {
        c.device = cfg->device;
        c.fp8 = cfg->fp8;
        c.allow_tf32 = cfg->allow_tf32;
        if (cfg->min_macs != 0.0) c.min_macs = cfg->min_macs;
        if (cfg->workspace_bytes) c.workspace_bytes = cfg->workspace_bytes;
        c.weight_cache_bytes = cfg->weight_cache_bytes;
        if (cfg->stage_bytes) c.stage_bytes = cfg->stage_bytes;
    }
    if (c.device < 0 || !(c.min_macs >= 0.0) || (c.fp8 != 0 && c.fp8 != 1) || (c.allow_tf32 != 0 && c.allow_tf32 != 1) ||
        c.stage_bytes < 4096)
        return umup__cu_fail(NULL, UMUP_ERR_INVALID_ARG, 0,
                             "umup_cuda_backend_create: invalid config (device and min_macs >= 0, fp8 and allow_tf32 0 or 1, "
                             "stage_bytes 0 or >= 4096)");
    c.stage_bytes &= ~(size_t)63; /* two halves, each 32-byte aligned */
    e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        (void)cudaGetLastError();
        return umup__cu_fail(NULL, UMUP_ERR_UNSUPPORTED, 0, "no usable CUDA device (cudaGetDeviceCount: %s)",
                             e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    }
    if (c.device >= count)
        return umup__cu_fail(NULL, UMUP_ERR_INVALID_ARG, 0, "umup_cuda_backend_create: no CUDA device %d (there are %d)",
                             c.device, count);
    cu = (umup__cuda *)UMUP_MALLOC(sizeof *cu);
    if (!cu) return umup__cu_fail(NULL, UMUP_ERR_NOMEM, 0, "umup_cuda_backend_create: out of host memory");
    memset(cu, 0, sizeof *cu);
    cu->cfg = c;
    st = umup__cu_init(cu);
    if (st != UMUP_OK) {
        memcpy(umup__cu_create_err, cu->err, sizeof umup__cu_create_err);
        umup__cu_free(cu);
        return st;
    }
    cu->be.name = "cuda";
    cu->be.ctx = cu;
    cu->be.gemm = umup__cu_gemm;
    *out = &cu->be;
    return UMUP_OK;
}

UMUPDEF void umup_cuda_backend_destroy(umup_backend *b) { umup__cu_free(umup__cu_of(b)); }

UMUPDEF const char *umup_cuda_error(const umup_backend *b) {
    const umup__cuda *cu = umup__cu_of(b);
    if (b && !cu) return "not a CUDA backend";
    return cu ? cu->err : umup__cu_create_err;
}

/* Validates b for the entry points: UMUP_ERR_NULL or UMUP_ERR_INVALID_ARG, else *cu. */
static umup_status umup__cu_get(const umup_backend *b, umup__cuda **cu) {
    if (!b) return UMUP_ERR_NULL;
    *cu = umup__cu_of(b);
    return *cu ? UMUP_OK : UMUP_ERR_INVALID_ARG;
}

UMUPDEF umup_status umup_cuda_device(const umup_backend *b, umup_cuda_device_info *out) {
    umup__cuda *cu;
    umup_status st = umup__cu_get(b, &cu);
    if (st != UMUP_OK) return st;
    if (!out) return UMUP_ERR_NULL;
    *out = cu->info;
    return UMUP_OK;
}

UMUPDEF umup_status umup_cuda_stats_get(const umup_backend *b, umup_cuda_stats *out) {
    umup__cuda *cu;
    umup_status st = umup__cu_get(b, &cu);
    if (st != UMUP_OK) return st;
    if (!out) return UMUP_ERR_NULL;
    *out = cu->stats;
    out->weights_resident = (uint64_t)cu->n_weights;
    out->weight_bytes = umup__cu_weight_bytes(cu);
    return UMUP_OK;
}

UMUPDEF umup_status umup_cuda_stats_reset(umup_backend *b) {
    umup__cuda *cu;
    umup_status st = umup__cu_get(b, &cu);
    if (st != UMUP_OK) return st;
    memset(&cu->stats, 0, sizeof cu->stats);
    return UMUP_OK;
}

UMUPDEF umup_status umup_cuda_release_weights(umup_backend *b) {
    umup__cuda *cu;
    int i;
    umup_status st = umup__cu_get(b, &cu);
    if (st != UMUP_OK) return st;
    UMUP__CU_CHECK(cudaSetDevice(cu->cfg.device));
    UMUP__CU_CHECK(cudaStreamSynchronize(cu->stream));
    for (i = 0; i < cu->n_weights; i++) umup__cu_weight_free(&cu->weights[i]);
    cu->n_weights = 0;
    return UMUP_OK;
}

UMUPDEF void *umup_cuda_stream(const umup_backend *b) {
    const umup__cuda *cu = umup__cu_of(b);
    return cu ? (void *)cu->stream : NULL;
}

UMUPDEF umup_status umup_cuda_synchronize(umup_backend *b) {
    umup__cuda *cu;
    umup_status st = umup__cu_get(b, &cu);
    if (st != UMUP_OK) return st;
    UMUP__CU_CHECK(cudaSetDevice(cu->cfg.device));
    UMUP__CU_CHECK(cudaStreamSynchronize(cu->stream));
    return UMUP_OK;
}

/* UMUP_OK when p is device (or managed) memory. */
static umup_status umup__cu_devptr(umup__cuda *cu, const void *p, const char *name) {
    struct cudaPointerAttributes a;
    cudaError_t e = cudaPointerGetAttributes(&a, p);
    if (e != cudaSuccess) return umup__cu_rt(cu, e, "cudaPointerGetAttributes", __LINE__);
    if (a.type != cudaMemoryTypeDevice && a.type != cudaMemoryTypeManaged)
        return umup__cu_fail(cu, UMUP_ERR_INVALID_ARG, __LINE__, "%s is not device memory", name);
    return UMUP_OK;
}

static umup_status umup__cu_cast_entry(umup_backend *b, int op, void *dst, const void *src, size_t n, umup_fp8_format fmt,
                                       umup_fp8_rounding rounding, int sat, uint64_t seed, uint64_t counter) {
    umup__cuda *cu;
    umup__cu_cast c;
    umup_status st = umup__cu_get(b, &cu);
    if (st != UMUP_OK) return st;
    if (n && (!dst || !src)) return umup__cu_fail(cu, UMUP_ERR_NULL, __LINE__, "FP8 cast: NULL array");
    if (!umup__cu_cast_init(&c, op, fmt, rounding, sat, seed, counter))
        return umup__cu_fail(cu, UMUP_ERR_INVALID_ARG, __LINE__, "FP8 cast: format or rounding outside its enum");
    if (n == 0) return UMUP_OK;
    UMUP__CU_CHECK(cudaSetDevice(cu->cfg.device));
    UMUP__CU_TRY(umup__cu_devptr(cu, dst, "FP8 cast: dst"));
    UMUP__CU_TRY(umup__cu_devptr(cu, src, "FP8 cast: src"));
    return umup__cu_cast_run(cu, &c, dst, src, n);
}

UMUPDEF umup_status umup_cuda_fp8_encode(umup_backend *b, uint8_t *dst, const float *src, size_t n, umup_fp8_format fmt,
                                         umup_fp8_rounding rounding, int saturate, uint64_t seed, uint64_t counter) {
    return umup__cu_cast_entry(b, UMUP__CU_ENCODE, dst, src, n, fmt, rounding, saturate, seed, counter);
}

UMUPDEF umup_status umup_cuda_fp8_decode(umup_backend *b, float *dst, const uint8_t *src, size_t n, umup_fp8_format fmt) {
    return umup__cu_cast_entry(b, UMUP__CU_DECODE, dst, src, n, fmt, UMUP_FP8_RNE, 0, 0, 0);
}

UMUPDEF umup_status umup_cuda_fp8_quantise(umup_backend *b, float *dst, const float *src, size_t n, umup_fp8_format fmt,
                                           umup_fp8_rounding rounding, int saturate, uint64_t seed, uint64_t counter) {
    return umup__cu_cast_entry(b, UMUP__CU_QUANTISE, dst, src, n, fmt, rounding, saturate, seed, counter);
}

UMUPDEF umup_status umup_cuda_gemm_fp8(umup_backend *b, int M, int N, int K, float alpha, const uint8_t *A, int lda,
                                       umup_fp8_format a_fmt, const uint8_t *B, int ldb, umup_fp8_format b_fmt,
                                       float beta, float *C, int ldc) {
    umup__cuda *cu;
    umup_status st = umup__cu_get(b, &cu);
    if (st != UMUP_OK) return st;
    if (!A || !B || !C) return umup__cu_fail(cu, UMUP_ERR_NULL, __LINE__, "umup_cuda_gemm_fp8: NULL operand");
    if (M < 1 || N < 1 || K < 1 || lda < K || ldb < K || ldc < N)
        return umup__cu_fail(cu, UMUP_ERR_SHAPE, __LINE__, "umup_cuda_gemm_fp8: sizes < 1 or leading dimensions too small");
    if ((a_fmt != UMUP_FP8_E4M3 && a_fmt != UMUP_FP8_E5M2) || (b_fmt != UMUP_FP8_E4M3 && b_fmt != UMUP_FP8_E5M2))
        return umup__cu_fail(cu, UMUP_ERR_INVALID_ARG, __LINE__, "umup_cuda_gemm_fp8: formats must be E4M3 or E5M2");
    if (!cu->info.fp8)
        return umup__cu_fail(cu, UMUP_ERR_UNSUPPORTED, __LINE__, "umup_cuda_gemm_fp8: %s has no FP8 tensor cores (sm_89+)",
                             cu->info.name);
    if (a_fmt == UMUP_FP8_E5M2 && b_fmt == UMUP_FP8_E5M2)
        return umup__cu_fail(cu, UMUP_ERR_UNSUPPORTED, __LINE__, "umup_cuda_gemm_fp8: cuBLASLt has no E5M2 x E5M2 product");
    if (M % 16 || N % 16 || K % 16 || lda % 16 || ldb % 16 || ldc % 4 || umup__cu_align(A) < 16 || umup__cu_align(B) < 16 ||
        umup__cu_align(C) < 16)
        return umup__cu_fail(cu, UMUP_ERR_UNSUPPORTED, __LINE__,
                             "umup_cuda_gemm_fp8: M, N, K, lda, ldb must be multiples of 16, ldc of 4, pointers 16-byte aligned");
    UMUP__CU_CHECK(cudaSetDevice(cu->cfg.device));
    /* row-major C = A B^T is the column-major C^T = B A^T: cuBLAS's A is our B (transposed), its B our A */
    return umup__cu_fp8_matmul(cu, N, M, K, alpha, B, umup__cu_dtype(b_fmt), ldb, A, umup__cu_dtype(a_fmt), lda, beta, C,
                               ldc);
}


/* ============================================================================================ */
/* The device trainer (implementation)                                           >>cuda-trainer */
/* ============================================================================================ */

/* ---- Kernels as phases: one code for the device and for the host ---------------------- >>cu-exec
 * Every kernel of the trainer is a functor K with
 *     template <class E> UMUP__HD void block(E &ex, int bx, int by) const
 * describing what thread block (bx, by) does, as a sequence of phases: ex.run(f) runs f(tid) for each
 * of the block's ex.nt threads and then waits for all of them (a barrier); ex.sum(f) / ex.max(f)
 * return the reduction of f(tid) over the block to every thread (a fixed tree: warp butterflies, then
 * the warp totals). Threads exchange data only through the block's shared memory (ex.sm) between
 * phases, and carry their own values from phase to phase in arrays of E::kSlots entries indexed by
 * ex.slot(tid). umup__ct_dev runs a block as a CUDA thread block (kSlots = 1: registers; the
 * reductions shuffle within warps); umup__ct_host runs it on the host thread by thread, phase by
 * phase, and reduces in the very same order, so the tests run the kernels' own code on the host. */

#define UMUP__CT_MAXT 256 /* threads per block, at most */

/* a + b, or the larger (b first: a NaN in a is kept, as the CPU's `if (x > mx) mx = x` keeps the first) */
UMUP__HD static inline double umup__ct_comb(double a, double b, int is_max) {
    return is_max ? (b > a ? b : a) : a + b;
}

struct umup__ct_dev {
    enum { kSlots = 1 };
    unsigned char *sm; /* dynamic shared memory */
    double *red;       /* 32 doubles of shared memory for the reductions */
    int nt;
    UMUP__HD int slot(int) const { return 0; }
    template <class F> UMUP__HD void run(F f) const {
#ifdef __CUDA_ARCH__
        f((int)threadIdx.x);
        __syncthreads();
#else
        (void)f;
#endif
    }
    template <class F> UMUP__HD double reduce(F f, int is_max) const {
#ifdef __CUDA_ARCH__
        const int lane = (int)threadIdx.x & 31, w = (int)threadIdx.x >> 5;
        double v = f((int)threadIdx.x);
        int o;
        for (o = 16; o > 0; o >>= 1) v = umup__ct_comb(v, __shfl_xor_sync(0xFFFFFFFFu, v, o), is_max);
        if (lane == 0) red[w] = v;
        __syncthreads();
        v = lane < (nt >> 5) ? red[lane] : (is_max ? -HUGE_VAL : 0.0);
        for (o = 16; o > 0; o >>= 1) v = umup__ct_comb(v, __shfl_xor_sync(0xFFFFFFFFu, v, o), is_max);
        __syncthreads(); /* red is free again */
        return v;
#else
        (void)f;
        (void)is_max;
        return 0.0;
#endif
    }
    template <class F> UMUP__HD double sum(F f) const { return reduce(f, 0); }
    template <class F> UMUP__HD double max(F f) const { return reduce(f, 1); }
};

struct umup__ct_host {
    enum { kSlots = UMUP__CT_MAXT };
    unsigned char *sm;
    int nt;
    UMUP__HD int slot(int tid) const { return tid; }
    template <class F> UMUP__HD void run(F f) const {
#ifndef __CUDA_ARCH__
        int tid;
        for (tid = 0; tid < nt; tid++) f(tid);
#else
        (void)f;
#endif
    }
    /* the device's order: a butterfly (lane l combines its value with lane l ^ o's, o = 16 .. 1) in
     * each warp, then the same over the warp totals */
    template <class F> UMUP__HD double reduce(F f, int is_max) const {
#ifndef __CUDA_ARCH__
        double v[UMUP__CT_MAXT], w[32], tmp[32];
        int tid, wi, l, o;
        for (tid = 0; tid < nt; tid++) v[tid] = f(tid);
        for (wi = 0; wi < (nt >> 5); wi++) {
            double *lv = v + 32 * wi;
            for (o = 16; o > 0; o >>= 1) {
                for (l = 0; l < 32; l++) tmp[l] = umup__ct_comb(lv[l], lv[l ^ o], is_max);
                memcpy(lv, tmp, sizeof tmp);
            }
        }
        for (l = 0; l < 32; l++) w[l] = l < (nt >> 5) ? v[32 * l] : (is_max ? -HUGE_VAL : 0.0);
        for (o = 16; o > 0; o >>= 1) {
            for (l = 0; l < 32; l++) tmp[l] = umup__ct_comb(w[l], w[l ^ o], is_max);
            memcpy(w, tmp, sizeof tmp);
        }
        return w[0];
#else
        (void)f;
        (void)is_max;
        return 0.0;
#endif
    }
    template <class F> UMUP__HD double sum(F f) const { return reduce(f, 0); }
    template <class F> UMUP__HD double max(F f) const { return reduce(f, 1); }
};

template <class K> static __global__ void umup__ct_kernel(K k) {
    extern __shared__ __align__(128) unsigned char umup__ct_smem[]; /* tensor-core tiles need 32-byte alignment */
    __shared__ double umup__ct_red[32];
    umup__ct_dev ex;
    ex.sm = umup__ct_smem;
    ex.red = umup__ct_red;
    ex.nt = (int)blockDim.x;
    k.block(ex, (int)blockIdx.x, (int)blockIdx.y);
}

/* ---- Per-element arithmetic shared by the kernels --------------------------------------- >>cu-math */

enum { UMUP__CT_F32 = 0, UMUP__CT_BF16 = 1, UMUP__CT_FP8 = 2 }; /* how a matmul operand is stored */

/* float -> bfloat16 bits, round to nearest even (NaN stays a quiet NaN) */
UMUP__HD static inline uint16_t umup__ct_bf16(float x) {
    uint32_t u = umup__cu_f2u(x);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}
UMUP__HD static inline float umup__ct_bf16_f(uint16_t h) { return umup__cu_u2f((uint32_t)h << 16); }

/* A matmul operand being written: element (r, j) of a [rows, cols] array stored with row stride ld.
 * FP8 storage holds the codes of q's format (q.op ENCODE); F32 and BF16 storage hold the value, first
 * rounded to q's FP8 grid when quant (q.op QUANTISE). Element (r, j) of a stochastic cast draws the
 * random bits umup_rng_u32(seed, r cols + j), as the CPU's umup_fp8_quantise_array of the array does. */
typedef struct {
    void *p;
    int type;                   /* UMUP__CT_F32 / _BF16 / _FP8 */
    int quant;
    size_t ld, cols;
    umup__cu_cast q;
} umup__ct_op;

UMUP__HD static inline void umup__ct_put(const umup__ct_op &o, size_t r, size_t j, float v) {
    const size_t at = r * o.ld + j;
    if (o.type == UMUP__CT_FP8) {
        ((uint8_t *)o.p)[at] = (uint8_t)umup__cu_cast_elem(&o.q, umup__cu_f2u(v), r * o.cols + j);
        return;
    }
    if (o.quant) v = umup__cu_u2f(umup__cu_cast_elem(&o.q, umup__cu_f2u(v), r * o.cols + j));
    if (o.type == UMUP__CT_BF16) ((uint16_t *)o.p)[at] = umup__ct_bf16(v);
    else ((float *)o.p)[at] = v;
}

/* umup_rng_uniform(seed, counter) */
UMUP__HD static inline float umup__ct_uniform(uint64_t seed, uint64_t counter) {
    uint64_t key = umup__rng_key(seed, counter >> 32);
    uint32_t r = umup__rng_block((uint32_t)key, (uint32_t)(key >> 32), (uint32_t)counter);
    return (float)(r >> 8) * (1.0f / 16777216.0f);
}

/* Branch dropout (umup_dropout_forward / _backward as the model calls them): element i is kept iff
 * umup_rng_uniform(seed, counter + i) >= p, and then multiplied by keep = scale / (1 - p). */
typedef struct {
    int on;
    float p, keep;
    uint64_t seed, counter;
} umup__ct_drop;
UMUP__HD static inline float umup__ct_dropout(const umup__ct_drop &d, size_t i, float x) {
    float k = umup__ct_uniform(d.seed, d.counter + i) >= d.p ? d.keep : 0.0f;
    return k * x;
}

/* sigmoid in single precision (umup_silu_glu's; expf here, a polynomial there: both within 1e-6) */
UMUP__HD static inline float umup__ct_sigmoidf(float u) {
    float e = expf(u >= 0.0f ? -u : u);
    return u >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

/* SwiGLU (umup_silu_glu_forward / _backward): y = so x gate sig(mult gate);
 * dx = g0 dy gate sig, dgate = g1 dy x (sig + mult gate sig (1 - sig)). */
UMUP__HD static inline float umup__ct_glu_y(float so, float x, float gate, float mult) {
    return so * x * gate * umup__ct_sigmoidf(mult * gate);
}
UMUP__HD static inline void umup__ct_glu_grads(float g0, float g1, float dy, float x, float gate, float mult, float *dx,
                                             float *dgate) {
    float sg = umup__ct_sigmoidf(mult * gate);
    *dx = g0 * dy * gate * sg;
    *dgate = g1 * dy * x * (sg + mult * gate * sg * (1.0f - sg));
}

/* Rotary embedding of one pair (umup__rope of the model): (a, b) rotated by the angle whose cosine and
 * sine are c and s (s negated for the backward pass). */
UMUP__HD static inline void umup__ct_rope_pair(float *a, float *b, double c, double s) {
    double x = *a, y = *b;
    *a = (float)(x * c - y * s);
    *b = (float)(x * s + y * c);
}

/* ---- The optimizer, per element (umup_optim_step's loop body) ------------------------------------ */
typedef struct {                /* a parameter group as the device reads it */
    size_t offset, size;
    float lr_factor, wd_factor, eps_factor;
    int wd;                     /* umup_wd_rule as umup_optim_step applies it (umup__ct_group_of) */
    int l2_over_lr;             /* 1: INDEPENDENT under Adam/SGD, L2 with lambda / (lr x lr_factor) */
} umup__ct_group;

/* Group pg as the device reads it, with umup_optim_step's mapping for the optimizers that apply
   weight decay as L2 (Adam, SGD): DECOUPLED -> COUPLED; INDEPENDENT -> COUPLED with lambda divided by
   the group's peak LR ([GC] scaled_parameters: weight_decay / param_lr). */
static inline umup__ct_group umup__ct_group_of(const umup_param_group *pg, umup_optimizer_kind kind) {
    umup__ct_group g;
    g.offset = pg->offset;
    g.size = pg->size;
    g.lr_factor = pg->lr_factor;
    g.wd_factor = pg->wd_factor;
    g.eps_factor = pg->eps_factor;
    g.wd = (int)pg->wd;
    g.l2_over_lr = 0;
    if (!umup_optim_wd_decoupled(kind) && pg->wd == UMUP_WD_DECOUPLED) g.wd = (int)UMUP_WD_COUPLED;
    if (!umup_optim_wd_decoupled(kind) && pg->wd == UMUP_WD_INDEPENDENT) {
        g.wd = (int)UMUP_WD_COUPLED;
        g.l2_over_lr = 1;
    }
    return g;
}

typedef struct {                /* the step's constants */
    int kind;                   /* umup_optimizer_kind */
    long step;                  /* updates applied before this one */
    double lr, lr_t, sched;     /* the peak lr, lr x schedule, and the schedule alone (independent weight decay) */
    double beta1, beta2, eps, momentum, weight_decay, bc1, bc2;
    int nesterov, two_moments;
} umup__ct_optc;

/* theta, its moments m (and v) with gradient g (before clipping) */
UMUP__HD static inline void umup__ct_optim_elem(const umup__ct_optc &c, const umup__ct_group &g, double clip, float *p,
                                                float gr, float *m, float *v) {
    double gv = gr * clip, th = *p;
    double lr_g = c.lr_t * g.lr_factor, lam = c.weight_decay * g.wd_factor;
    double eps = c.eps * (g.eps_factor > 0.0f ? g.eps_factor : 1.0f);
    if (g.l2_over_lr) lam = g.lr_factor > 0.0f ? lam / (c.lr * g.lr_factor) : 0.0; /* a frozen group: no decay */
    if (lam > 0.0) {
        if (g.wd == UMUP_WD_DECOUPLED) th -= lr_g * lam * th;
        else if (g.wd == UMUP_WD_INDEPENDENT) th -= lam * c.sched * th;
        else if (g.wd == UMUP_WD_COUPLED) gv += lam * *p;
    }
    if (c.kind == UMUP_OPT_ADAMW || c.kind == UMUP_OPT_ADAM) {
        double mv = c.beta1 * (double)*m + (1.0 - c.beta1) * gv;
        double vv = c.beta2 * (double)*v + (1.0 - c.beta2) * gv * gv;
        *m = (float)mv;
        *v = (float)vv;
        th -= lr_g * (mv / c.bc1) / (sqrt(vv / c.bc2) + eps);
    } else if (c.kind == UMUP_OPT_SGD) {
        if (c.momentum > 0.0) {
            double bv = c.step == 0 ? gv : c.momentum * (double)*m + gv;
            *m = (float)bv;
            gv = c.nesterov ? gv + c.momentum * bv : bv;
        }
        th -= lr_g * gv;
    } else if (c.kind == UMUP_OPT_LION) {
        double u = c.beta1 * (double)*m + (1.0 - c.beta1) * gv;
        th -= lr_g * (u > 0 ? 1.0 : u < 0 ? -1.0 : 0.0);
        *m = (float)(c.beta2 * (double)*m + (1.0 - c.beta2) * gv);
    }
    *p = (float)th;
}

/* ---- Row kernels: one block per row ------------------------------------------------------------- */

/* mean and 1/sqrt(var + eps) of the row x[0 .. d) as umup__row_stats computes them (layer: the mean
 * is subtracted; RMS: mean 0) */
template <class E>
UMUP__HD static void umup__ct_row_stats(const E &ex, const float *x, int d, int layer, double *mean, double *rstd) {
    const int nt = ex.nt;
    double m = 0.0, v;
    if (layer)
        m = ex.sum([&](int tid) {
            double s = 0.0;
            int j;
            for (j = tid; j < d; j += nt) s += x[j];
            return s;
        }) / d;
    v = ex.sum([&](int tid) {
        double s = 0.0;
        int j;
        for (j = tid; j < d; j += nt) s += (x[j] - m) * (x[j] - m);
        return s;
    });
    *mean = m;
    *rstd = 1.0 / sqrt(v / d + (double)UMUP_NORM_EPS);
}

/* A residual junction of the forward pass, row r of [N, d]: the stream h, then the next branch's input.
 *   h = emb[ids[r]] mult                                   (emb != NULL: the embedding)
 *   h = (float)(cb out(f) + cs hprev)                      (else: residual_add with tau, cb = tau/sqrt(1+tau^2),
 *                                                           cs = 1/sqrt(1+tau^2); or residual_sum, cb = branch_w,
 *                                                           cs = skip_w)
 *       out(f) = dropout(post_norm ? norm(f) : f)
 *   next: 0 nothing, 1 o1 (and o2) = norm(h), 2 o1 (and o2) = h       (the operands of the next linears) */
struct umup__ct_jfwd {
    int d, layer_norm;
    const int32_t *ids;
    const float *emb;
    float mult;
    const float *f, *hprev;
    int post_norm;
    umup__ct_drop drop;
    double cb, cs;
    float *h;
    int next, two;
    umup__ct_op o1, o2;
    template <class E> UMUP__HD void block(E &ex, int r, int) const {
        const int nt = ex.nt;
        const size_t row = (size_t)r * d;
        float *hr = h + row;
        double m = 0.0, rs = 1.0;
        if (!emb && post_norm) umup__ct_row_stats(ex, f + row, d, layer_norm, &m, &rs);
        ex.run([&](int tid) {
            int j;
            for (j = tid; j < d; j += nt) {
                float hv;
                if (emb) {
                    hv = emb[(size_t)ids[r] * d + j] * mult;
                } else {
                    float fv = f[row + j];
                    if (post_norm) fv = (float)((fv - m) * rs);
                    if (drop.on) fv = umup__ct_dropout(drop, row + j, fv);
                    hv = (float)(cb * fv + cs * hprev[row + j]);
                }
                hr[j] = hv;
            }
        });
        if (!next) return;
        m = 0.0;
        rs = 1.0;
        if (next == 1) umup__ct_row_stats(ex, hr, d, layer_norm, &m, &rs);
        ex.run([&](int tid) {
            int j;
            for (j = tid; j < d; j += nt) {
                float v = next == 1 ? (float)((hr[j] - m) * rs) : hr[j];
                umup__ct_put(o1, (size_t)r, (size_t)j, v);
                if (two) umup__ct_put(o2, (size_t)r, (size_t)j, v);
            }
        });
    }
};

/* A residual junction of the backward pass, row r of [N, d]; dh is the gradient at the stream.
 *   A (a_on): din = a_norm ? norm_backward(dxin; input xin) : dxin      (the branch input's backward)
 *             dh = din (combine 0: the final norm), (float)(ca din + cb dh) (1: residual_split with tau),
 *                  (float)(cb dh) + din (2: residual_sum, cb = skip_w)
 *   B (b_on): g = b_tau ? dh : (float)(b_w dh), then dropout's backward, then (post_norm) the norm's
 *             backward with input fraw: the gradient at the previous branch's output, into o. */
struct umup__ct_jbwd {
    int d, layer_norm;
    int a_on, a_norm, combine;
    const float *dxin, *xin;
    double ca, cb;
    float *dh;
    int b_on, b_tau;
    double b_w;
    umup__ct_drop drop;
    int post_norm;
    const float *fraw;
    umup__ct_op o;
    template <class E> UMUP__HD void block(E &ex, int r, int) const {
        const int nt = ex.nt;
        const size_t row = (size_t)r * d;
        float *dr = dh + row;
        if (a_on) {
            const float *g = dxin + row, *x = xin + row;
            double m = 0.0, rs = 1.0, mg = 0.0, mgx = 0.0;
            if (a_norm) {
                umup__ct_row_stats(ex, x, d, layer_norm, &m, &rs);
                if (layer_norm)
                    mg = ex.sum([&](int tid) {
                        double s = 0.0;
                        int j;
                        for (j = tid; j < d; j += nt) s += g[j];
                        return s;
                    }) / d;
                mgx = ex.sum([&](int tid) {
                    double s = 0.0;
                    int j;
                    for (j = tid; j < d; j += nt) s += g[j] * (x[j] - m) * rs;
                    return s;
                }) / d;
            }
            ex.run([&](int tid) {
                int j;
                for (j = tid; j < d; j += nt) {
                    float din = a_norm ? (float)(rs * (g[j] - mg - (x[j] - m) * rs * mgx)) : g[j];
                    dr[j] = combine == 0 ? din : combine == 1 ? (float)(ca * din + cb * dr[j]) : (float)(cb * dr[j]) + din;
                }
            });
        }
        if (!b_on) return;
        {
            const float *x = fraw ? fraw + row : NULL;
            double m = 0.0, rs = 1.0, mg = 0.0, mgx = 0.0;
            auto grad_at = [&](int j) -> float {
                float v = b_tau ? dr[j] : (float)(b_w * dr[j]);
                return drop.on ? umup__ct_dropout(drop, row + (size_t)j, v) : v;
            };
            if (post_norm) {
                umup__ct_row_stats(ex, x, d, layer_norm, &m, &rs);
                if (layer_norm)
                    mg = ex.sum([&](int tid) {
                        double s = 0.0;
                        int j;
                        for (j = tid; j < d; j += nt) s += grad_at(j);
                        return s;
                    }) / d;
                mgx = ex.sum([&](int tid) {
                    double s = 0.0;
                    int j;
                    for (j = tid; j < d; j += nt) s += grad_at(j) * (x[j] - m) * rs;
                    return s;
                }) / d;
            }
            ex.run([&](int tid) {
                int j;
                for (j = tid; j < d; j += nt) {
                    float gv = grad_at(j);
                    if (post_norm) gv = (float)(rs * (gv - mg - (x[j] - m) * rs * mgx));
                    umup__ct_put(o, (size_t)r, (size_t)j, gv);
                }
            });
        }
    }
};

/* Cross-entropy of row r of the logits z [N, V] (umup_cross_entropy_forward / _backward, in double):
 * loss_rows[r] = log sum exp(mult z) - mult z[target] (0 for an ignored row); bwd: the gradient
 * (float)(g (softmax(mult z) - onehot)) into o (zeros for an ignored row). */
struct umup__ct_ce {
    int V;
    const float *z;
    const int32_t *tg;
    double *loss_rows;
    double mult, g;
    int bwd;
    umup__ct_op o;
    template <class E> UMUP__HD void block(E &ex, int r, int) const {
        const int nt = ex.nt, t = tg[r];
        const float *zr = z + (size_t)r * V;
        double mx, sum;
        if (t < 0) {
            ex.run([&](int tid) {
                int j;
                if (tid == 0) loss_rows[r] = 0.0;
                if (bwd)
                    for (j = tid; j < V; j += nt) umup__ct_put(o, (size_t)r, (size_t)j, 0.0f);
            });
            return;
        }
        mx = ex.max([&](int tid) {
            double m = -HUGE_VAL;
            int j;
            for (j = tid; j < V; j += nt)
                if (mult * zr[j] > m) m = mult * zr[j];
            return m;
        });
        sum = ex.sum([&](int tid) {
            double s = 0.0;
            int j;
            for (j = tid; j < V; j += nt) s += exp(mult * zr[j] - mx);
            return s;
        });
        ex.run([&](int tid) {
            int j;
            if (tid == 0) loss_rows[r] = log(sum) + mx - mult * zr[t];
            if (bwd)
                for (j = tid; j < V; j += nt) {
                    double p = exp(mult * zr[j] - mx) / sum;
                    if (j == t) p -= 1.0;
                    umup__ct_put(o, (size_t)r, (size_t)j, (float)(g * p));
                }
        });
    }
};

/* ---- Scalars: the loss, the gradient norm, clipping, divergence (one block) -------------------------- */

typedef struct {
    float loss;                 /* the last forward pass's mean loss */
    int loss_ok;                /* loss < 3.4e38 (finite) */
    double norm, clip;          /* the last step's global gradient norm, and the factor applied */
    int ok;                     /* the last step's update was applied */
    int diverged;               /* a step was non-finite: every later update is skipped */
    long long applied;          /* updates applied */
} umup__ct_scalars;

struct umup__ct_lossred {
    const double *rows;
    int N, counted;
    umup__ct_scalars *sc;
    template <class E> UMUP__HD void block(E &ex, int, int) const {
        const int nt = ex.nt;
        double tot = ex.sum([&](int tid) {
            double s = 0.0;
            int i;
            for (i = tid; i < N; i += nt) s += rows[i];
            return s;
        });
        ex.run([&](int tid) {
            if (tid == 0) {
                float l = (float)(tot / counted);
                sc->loss = l;
                sc->loss_ok = l < 3.4e38f;
            }
        });
    }
};

#define UMUP__CT_NORM_BLOCKS 256 /* a fixed partition: the same sums on every GPU */

/* out[b] = sum of squares of x over block b's chunk [b chunk, (b + 1) chunk) */
struct umup__ct_sqsum {
    const float *x;
    size_t n, chunk;
    double *out;
    template <class E> UMUP__HD void block(E &ex, int b, int) const {
        const int nt = ex.nt;
        const size_t lo = (size_t)b * chunk, hi = lo + chunk < n ? lo + chunk : n;
        double s = ex.sum([&](int tid) {
            double a = 0.0;
            size_t i;
            for (i = lo + (size_t)tid; i < hi; i += (size_t)nt) a += (double)x[i] * x[i];
            return a;
        });
        ex.run([&](int tid) {
            if (tid == 0) out[b] = s;
        });
    }
};

/* The step's verdict (umup_trainer_step, umup_optim_step): the norm, the clipping factor, and whether
 * the update applies (loss and norm finite, no earlier divergence). */
struct umup__ct_finish {
    const double *part;
    int np;
    double clip_norm, clip_rms, count; /* count: the parameters (the RMS is norm / sqrt(count)) */
    umup__ct_scalars *sc;
    template <class E> UMUP__HD void block(E &ex, int, int) const {
        const int nt = ex.nt;
        double n2 = ex.sum([&](int tid) {
            double a = 0.0;
            int i;
            for (i = tid; i < np; i += nt) a += part[i];
            return a;
        });
        ex.run([&](int tid) {
            if (tid == 0) {
                double norm = sqrt(n2);
                int ok = !sc->diverged && sc->loss_ok && norm < 1e300;
                sc->norm = norm;
                double clip = clip_norm > 0.0 && norm > clip_norm ? clip_norm / norm : 1.0;
                if (clip_rms > 0.0 && count > 0.0 && norm / sqrt(count) > clip_rms && clip_rms * sqrt(count) / norm < clip)
                    clip = clip_rms * sqrt(count) / norm; /* the stronger of the two, as umup_optim_step */
                sc->clip = clip;
                sc->ok = ok;
                if (ok) sc->applied++;
                else sc->diverged = 1;
            }
        });
    }
};

/* ---- Elementwise kernels: a grid-stride loop over n items (gx blocks of nt threads) ----------------- */

/* f(i) for i < n, item i on thread i mod (gx nt) of the grid */
template <class E, class F> UMUP__HD static void umup__ct_grid(const E &ex, int bx, unsigned gx, size_t n, F f) {
    ex.run([&](int tid) {
        size_t i;
        for (i = (size_t)bx * (size_t)ex.nt + (size_t)tid; i < n; i += (size_t)gx * (size_t)ex.nt) f(i);
    });
}

/* The optimizer over every parameter (groups sorted by offset, covering [0, n)). */
struct umup__ct_optim {
    float *p, *m, *v;
    const float *g;
    size_t n;
    const umup__ct_group *groups;
    int ng;
    const umup__ct_scalars *sc;
    umup__ct_optc c;
    unsigned gx;
    template <class E> UMUP__HD void block(E &ex, int bx, int) const {
        if (!sc->ok) return;
        {
            const double clip = sc->clip;
            umup__ct_grid(ex, bx, gx, n, [&](size_t i) {
                int lo = 0, hi = ng - 1;
                while (lo < hi) { /* the last group starting at or before i */
                    int mid = (lo + hi + 1) / 2;
                    if (groups[mid].offset <= i) lo = mid;
                    else hi = mid - 1;
                }
                if (i < groups[lo].offset + groups[lo].size)
                    umup__ct_optim_elem(c, groups[lo], clip, p + i, g[i], m + i, v ? v + i : NULL);
            });
        }
    }
};

/* y = glu(u1, ug) for [N, hd] into the operand o */
struct umup__ct_glu_fwd {
    const float *u1, *ug;
    size_t n, hd;
    float so, mult;
    umup__ct_op o;
    unsigned gx;
    template <class E> UMUP__HD void block(E &ex, int bx, int) const {
        umup__ct_grid(ex, bx, gx, n, [&](size_t i) { umup__ct_put(o, i / hd, i % hd, umup__ct_glu_y(so, u1[i], ug[i], mult)); });
    }
};

/* the gradients at u1 and ug from dg [N, hd], into the operands o1 and o2 */
struct umup__ct_glu_bwd {
    const float *dg, *u1, *ug;
    size_t n, hd;
    float g0, g1, mult;
    umup__ct_op o1, o2;
    unsigned gx;
    template <class E> UMUP__HD void block(E &ex, int bx, int) const {
        umup__ct_grid(ex, bx, gx, n, [&](size_t i) {
            float dx, dgate;
            umup__ct_glu_grads(g0, g1, dg[i], u1[i], ug[i], mult, &dx, &dgate);
            umup__ct_put(o1, i / hd, i % hd, dx);
            umup__ct_put(o2, i / hd, i % hd, dgate);
        });
    }
};

/* the operand o of the fp32 matrix src [rows, cols] (row stride ld) */
struct umup__ct_operand {
    const float *src;
    size_t n, cols, ld;
    umup__ct_op o;
    unsigned gx;
    template <class E> UMUP__HD void block(E &ex, int bx, int) const {
        umup__ct_grid(ex, bx, gx, n, [&](size_t i) {
            size_t r = i / cols, j = i % cols;
            umup__ct_put(o, r, j, src[r * ld + j]);
        });
    }
};

/* RoPE on the q and k parts of qkv [N, 3d] in place (inverse: the transposed rotation); tab holds
 * cos and sin of t 10000^(-2i/D) for t < T, i < D/2 (computed on the host as umup__rope does) */
struct umup__ct_rope {
    float *qkv;
    const double *tab;
    int T, H, D, d, inverse;
    size_t n; /* N H (D / 2) 2 */
    unsigned gx;
    template <class E> UMUP__HD void block(E &ex, int bx, int) const {
        umup__ct_grid(ex, bx, gx, n, [&](size_t i) {
            size_t hp = (size_t)D / 2, p = i % hp, rest = i / hp;
            size_t h = rest % (size_t)H, which = (rest / H) % 2, r = rest / H / 2, t = r % (size_t)T;
            float *x = qkv + r * 3 * (size_t)d + which * (size_t)d + h * (size_t)D;
            const double *cs = tab + (t * hp + p) * 2;
            umup__ct_rope_pair(&x[2 * p], &x[2 * p + 1], cs[0], inverse ? -cs[1] : cs[1]);
        });
    }
};

/* Di = rowsum(dO o O) / out for each (b, h, t): n = B H T */
struct umup__ct_attn_di {
    const float *O, *dO;
    float *Di;
    int T, H, D, d;
    float out;
    size_t n;
    unsigned gx;
    template <class E> UMUP__HD void block(E &ex, int bx, int) const {
        umup__ct_grid(ex, bx, gx, n, [&](size_t i) {
            size_t bh = i / (size_t)T, t = i % (size_t)T, b = bh / (size_t)H, h = bh % (size_t)H;
            size_t at = (b * (size_t)T + t) * (size_t)d + h * (size_t)D;
            float s = 0.0f;
            int j;
            for (j = 0; j < D; j++) s += dO[at + j] * O[at + j];
            Di[i] = s / out;
        });
    }
};

/* The embedding's gradient, row v of dW [V, d]: gw times the sum of dh over the positions pos[starts[v]
 * .. starts[v + 1]) in increasing order (umup_embedding_backward's order); no atomics. Grid (V, column
 * blocks of nt). */
struct umup__ct_emb_bwd {
    const int32_t *starts, *pos;
    const float *dh;
    float *dW;
    int d;
    float gw;
    template <class E> UMUP__HD void block(E &ex, int v, int cb) const {
        ex.run([&](int tid) {
            int j = cb * ex.nt + tid, k;
            float acc = 0.0f;
            if (j >= d) return;
            for (k = starts[v]; k < starts[v + 1]; k++) acc += gw * dh[(size_t)pos[k] * d + j];
            dW[(size_t)v * d + j] = acc;
        });
    }
};

/* dst [cols, rows] = src [rows, cols]^T, bytes (FP8 codes), 32 x 32 tiles through shared memory;
 * grid (column tiles, gy), 256 threads */
struct umup__ct_transpose8 {
    const uint8_t *src;
    uint8_t *dst;
    int rows, cols, gy;
    template <class E> UMUP__HD void block(E &ex, int cx, int ry) const {
        uint8_t *tile = ex.sm; /* [32][33] */
        const int c0 = cx * 32;
        int r0;
        for (r0 = ry * 32; r0 < rows; r0 += gy * 32) {
            const int rr0 = r0;
            ex.run([&](int tid) {
                int k, tx = tid & 31;
                for (k = tid >> 5; k < 32; k += 8) {
                    int r = rr0 + k, c = c0 + tx;
                    if (r < rows && c < cols) tile[k * 33 + tx] = src[(size_t)r * cols + c];
                }
            });
            ex.run([&](int tid) {
                int k, tx = tid & 31;
                for (k = tid >> 5; k < 32; k += 8) {
                    int c = c0 + k, r = rr0 + tx;
                    if (r < rows && c < cols) dst[(size_t)c * rows + r] = tile[tx * 33 + k];
                }
            });
        }
    }
};

/* ---- Causal attention, flash style ------------------------------------------------------ >>cu-flash
 * q, k, v are read in place from qkv [N, 3d] (row b T + t: q at h D, k at d + h D, v at 2d + h D) and
 * the output goes to O [N, d] (heads concatenated), so no split or merge of heads is needed. A block
 * handles one (query or key) tile of 64 rows of one (batch, head), with 256 threads as a 16 x 16 grid:
 * thread (ty, tx) = (tid / 16, tid % 16) owns rows 4 ty .. 4 ty + 3 of the block's tile and, of the
 * other tile, columns tx + 16 c; of a head's D columns, columns tx + 16 c (c < DM / 16, DM >= D a
 * compile-time bound: 32, 64 or 128). Tiles live in shared memory with row stride D + 1 (no bank
 * conflicts). Forward (umup_sdpa_forward's numbers): for each key tile, S = ls Q K^T (causally masked),
 * the running row maximum m and sum l (online softmax), acc = acc e^(m_old - m) + P V; at the end O =
 * out acc / l and the log-sum-exp m + log l per row (lse). Backward (umup_sdpa_backward's numbers,
 * recomputing P = exp(ls Q K^T - lse)): with Di = rowsum(dO o O) / out, dS = P o (dO V^T - Di);
 * dK = grad[1] ls dS^T Q and dV = grad[2] P^T dO by one kernel per key tile, dQ = grad[0] ls dS K by one
 * per query tile: every sum runs inside one thread, in order (no atomics). */

#define UMUP__FA_T 64 /* tile rows */

/* dst [64][ld] = rows r0 .. r0 + 63 (zero past T) of the head columns at src (row stride rs). */
UMUP__HD static inline void umup__fa_load(float *dst, int ld, const float *src, size_t rs, int r0, int T, int D, int tid,
                                          int nt) {
    int idx;
    for (idx = tid; idx < UMUP__FA_T * D; idx += nt) {
        int r = idx / D, j = idx % D;
        dst[r * ld + j] = r0 + r < T ? src[(size_t)(r0 + r) * rs + j] : 0.0f;
    }
}
UMUP__HD static inline void umup__fa_load_vec(float *dst, const float *src, int r0, int T, int tid) {
    if (tid < UMUP__FA_T) dst[tid] = r0 + tid < T ? src[r0 + tid] : 0.0f;
}

/* shared memory: Q, K, V [64][D + 1], P [64][65], two [64][17] arrays of per-thread row partials */
template <int DM> struct umup__fa_fwd {
    const float *qkv;
    float *O, *lse;
    int T, H, D, d, causal;
    float ls, out;
    struct St {
        float s[4][4], acc[4][DM / 16], m[4], l[4];
    };
    static size_t smem(int D) { return sizeof(float) * (3 * UMUP__FA_T * (size_t)(D + 1) + 64 * 65 + 2 * 64 * 17); }
    template <class E> UMUP__HD void block(E &ex, int qb, int bh) const {
        const int ld = D + 1, b = bh / H, h = bh % H, q0 = qb * UMUP__FA_T, nt = ex.nt;
        const int nkb = (T + UMUP__FA_T - 1) / UMUP__FA_T, last = causal && qb < nkb - 1 ? qb : nkb - 1;
        const size_t rs = (size_t)3 * d;
        const float *base = qkv + (size_t)b * T * rs + (size_t)h * D;
        float *Qs = (float *)ex.sm, *Ks = Qs + UMUP__FA_T * ld, *Vs = Ks + UMUP__FA_T * ld, *Ps = Vs + UMUP__FA_T * ld;
        float *rm = Ps + 64 * 65, *rsum = rm + 64 * 17;
        St st[E::kSlots];
        int kb;
        ex.run([&](int tid) {
            St &s = st[ex.slot(tid)];
            int a, c;
            for (a = 0; a < 4; a++) {
                s.m[a] = -INFINITY;
                s.l[a] = 0.0f;
                for (c = 0; c < DM / 16; c++) s.acc[a][c] = 0.0f;
            }
            umup__fa_load(Qs, ld, base, rs, q0, T, D, tid, nt);
        });
        for (kb = 0; kb <= last; kb++) {
            const int k0 = kb * UMUP__FA_T;
            ex.run([&](int tid) {
                umup__fa_load(Ks, ld, base + d, rs, k0, T, D, tid, nt);
                umup__fa_load(Vs, ld, base + 2 * d, rs, k0, T, D, tid, nt);
            });
            ex.run([&](int tid) { /* S = ls Q K^T, masked; row partial maxima */
                St &s = st[ex.slot(tid)];
                const int ty = tid >> 4, tx = tid & 15;
                float acc[4][4];
                int a, c, k;
                for (a = 0; a < 4; a++)
                    for (c = 0; c < 4; c++) acc[a][c] = 0.0f;
                for (k = 0; k < D; k++) {
                    float qa[4], kc[4];
                    for (a = 0; a < 4; a++) qa[a] = Qs[(ty * 4 + a) * ld + k];
                    for (c = 0; c < 4; c++) kc[c] = Ks[(tx + 16 * c) * ld + k];
                    for (a = 0; a < 4; a++)
                        for (c = 0; c < 4; c++) acc[a][c] += qa[a] * kc[c];
                }
                for (a = 0; a < 4; a++) {
                    const int qi = q0 + ty * 4 + a;
                    float mx = -INFINITY;
                    for (c = 0; c < 4; c++) {
                        const int kj = k0 + tx + 16 * c;
                        s.s[a][c] = kj >= T || (causal && kj > qi) ? -INFINITY : acc[a][c] * ls;
                        if (s.s[a][c] > mx) mx = s.s[a][c];
                    }
                    rm[(ty * 4 + a) * 17 + tx] = mx;
                }
            });
            ex.run([&](int tid) { /* the new row maximum; P = exp(S - m); rescale acc and l */
                St &s = st[ex.slot(tid)];
                const int ty = tid >> 4, tx = tid & 15;
                int a, c, u;
                for (a = 0; a < 4; a++) {
                    const int r = ty * 4 + a;
                    float mx = s.m[a], alpha, sum = 0.0f;
                    for (u = 0; u < 16; u++)
                        if (rm[r * 17 + u] > mx) mx = rm[r * 17 + u];
                    alpha = expf(s.m[a] - mx);
                    for (c = 0; c < 4; c++) {
                        float p = expf(s.s[a][c] - mx);
                        Ps[r * 65 + tx + 16 * c] = p;
                        sum += p;
                    }
                    rsum[r * 17 + tx] = sum;
                    s.l[a] *= alpha;
                    for (c = 0; c < DM / 16; c++) s.acc[a][c] *= alpha;
                    s.m[a] = mx;
                }
            });
            ex.run([&](int tid) { /* l += the tile's row sums; acc += P V */
                St &s = st[ex.slot(tid)];
                const int ty = tid >> 4, tx = tid & 15;
                int a, c, j, u;
                for (a = 0; a < 4; a++) {
                    float sum = 0.0f;
                    for (u = 0; u < 16; u++) sum += rsum[(ty * 4 + a) * 17 + u];
                    s.l[a] += sum;
                }
                for (j = 0; j < UMUP__FA_T; j++) {
                    float pa[4], vc[DM / 16];
                    for (a = 0; a < 4; a++) pa[a] = Ps[(ty * 4 + a) * 65 + j];
                    for (c = 0; c < DM / 16; c++) vc[c] = tx + 16 * c < D ? Vs[j * ld + tx + 16 * c] : 0.0f;
                    for (a = 0; a < 4; a++)
                        for (c = 0; c < DM / 16; c++) s.acc[a][c] += pa[a] * vc[c];
                }
            });
        }
        ex.run([&](int tid) {
            St &s = st[ex.slot(tid)];
            const int ty = tid >> 4, tx = tid & 15;
            int a, c;
            for (a = 0; a < 4; a++) {
                const int qi = q0 + ty * 4 + a;
                if (qi >= T) continue;
                for (c = 0; c < DM / 16; c++)
                    if (tx + 16 * c < D)
                        O[((size_t)b * T + qi) * d + (size_t)h * D + tx + 16 * c] = out * (s.acc[a][c] / s.l[a]);
                if (tx == 0) lse[(size_t)bh * T + qi] = s.m[a] + logf(s.l[a]);
            }
        });
    }
};

/* dK and dV of key tile kb (into dqkv's k and v columns): shared memory K, V, Q, dO [64][D + 1], P^T and
 * dS^T [64][65], lse and Di of the query tile [64] each. gk = grad[1] ls, gv = grad[2]. */
template <int DM> struct umup__fa_dkv {
    const float *qkv, *dO, *lse, *Di;
    float *dqkv;
    int T, H, D, d, causal;
    float ls, gk, gv;
    struct St {
        float dk[4][DM / 16], dv[4][DM / 16];
    };
    static size_t smem(int D) { return sizeof(float) * (4 * UMUP__FA_T * (size_t)(D + 1) + 2 * 64 * 65 + 2 * 64); }
    template <class E> UMUP__HD void block(E &ex, int kb, int bh) const {
        const int ld = D + 1, b = bh / H, h = bh % H, k0 = kb * UMUP__FA_T, nt = ex.nt;
        const int nqb = (T + UMUP__FA_T - 1) / UMUP__FA_T;
        const size_t rs = (size_t)3 * d;
        const float *base = qkv + (size_t)b * T * rs + (size_t)h * D, *dob = dO + (size_t)b * T * d + (size_t)h * D;
        float *Ks = (float *)ex.sm, *Vs = Ks + UMUP__FA_T * ld, *Qs = Vs + UMUP__FA_T * ld, *Os = Qs + UMUP__FA_T * ld;
        float *Pt = Os + UMUP__FA_T * ld, *St_ = Pt + 64 * 65, *ls_ = St_ + 64 * 65, *di_ = ls_ + 64;
        St st[E::kSlots];
        int qb;
        ex.run([&](int tid) {
            St &s = st[ex.slot(tid)];
            int a, c;
            for (a = 0; a < 4; a++)
                for (c = 0; c < DM / 16; c++) s.dk[a][c] = s.dv[a][c] = 0.0f;
            umup__fa_load(Ks, ld, base + d, rs, k0, T, D, tid, nt);
            umup__fa_load(Vs, ld, base + 2 * d, rs, k0, T, D, tid, nt);
        });
        for (qb = causal ? kb : 0; qb < nqb; qb++) {
            const int q0 = qb * UMUP__FA_T;
            ex.run([&](int tid) {
                umup__fa_load(Qs, ld, base, rs, q0, T, D, tid, nt);
                umup__fa_load(Os, ld, dob, (size_t)d, q0, T, D, tid, nt);
                umup__fa_load_vec(ls_, lse + (size_t)bh * T, q0, T, tid);
                umup__fa_load_vec(di_, Di + (size_t)bh * T, q0, T, tid);
            });
            ex.run([&](int tid) { /* P^T and dS^T: keys 4 ty + a, queries tx + 16 c */
                const int ty = tid >> 4, tx = tid & 15;
                float sa[4][4], pa[4][4];
                int a, c, k;
                for (a = 0; a < 4; a++)
                    for (c = 0; c < 4; c++) sa[a][c] = pa[a][c] = 0.0f;
                for (k = 0; k < D; k++) {
                    float ka[4], va[4], qc[4], oc[4];
                    for (a = 0; a < 4; a++) {
                        ka[a] = Ks[(ty * 4 + a) * ld + k];
                        va[a] = Vs[(ty * 4 + a) * ld + k];
                    }
                    for (c = 0; c < 4; c++) {
                        qc[c] = Qs[(tx + 16 * c) * ld + k];
                        oc[c] = Os[(tx + 16 * c) * ld + k];
                    }
                    for (a = 0; a < 4; a++)
                        for (c = 0; c < 4; c++) {
                            sa[a][c] += ka[a] * qc[c];
                            pa[a][c] += va[a] * oc[c];
                        }
                }
                for (a = 0; a < 4; a++)
                    for (c = 0; c < 4; c++) {
                        const int kj = k0 + ty * 4 + a, qc_ = tx + 16 * c, qi = q0 + qc_;
                        float p = qi >= T || kj >= T || (causal && kj > qi) ? 0.0f : expf(sa[a][c] * ls - ls_[qc_]);
                        Pt[(ty * 4 + a) * 65 + qc_] = p;
                        St_[(ty * 4 + a) * 65 + qc_] = p * (pa[a][c] - di_[qc_]);
                    }
            });
            ex.run([&](int tid) { /* dV += P^T dO; dK += dS^T Q */
                St &s = st[ex.slot(tid)];
                const int ty = tid >> 4, tx = tid & 15;
                int a, c, j;
                for (j = 0; j < UMUP__FA_T; j++) {
                    float pa[4], da[4], oc[DM / 16], qc[DM / 16];
                    for (a = 0; a < 4; a++) {
                        pa[a] = Pt[(ty * 4 + a) * 65 + j];
                        da[a] = St_[(ty * 4 + a) * 65 + j];
                    }
                    for (c = 0; c < DM / 16; c++) {
                        const int col = tx + 16 * c;
                        oc[c] = col < D ? Os[j * ld + col] : 0.0f;
                        qc[c] = col < D ? Qs[j * ld + col] : 0.0f;
                    }
                    for (a = 0; a < 4; a++)
                        for (c = 0; c < DM / 16; c++) {
                            s.dv[a][c] += pa[a] * oc[c];
                            s.dk[a][c] += da[a] * qc[c];
                        }
                }
            });
        }
        ex.run([&](int tid) {
            St &s = st[ex.slot(tid)];
            const int ty = tid >> 4, tx = tid & 15;
            int a, c;
            for (a = 0; a < 4; a++) {
                const int kj = k0 + ty * 4 + a;
                if (kj >= T) continue;
                for (c = 0; c < DM / 16; c++) {
                    const int col = tx + 16 * c;
                    if (col >= D) continue;
                    dqkv[((size_t)b * T + kj) * rs + (size_t)d + (size_t)h * D + col] = gk * s.dk[a][c];
                    dqkv[((size_t)b * T + kj) * rs + 2 * (size_t)d + (size_t)h * D + col] = gv * s.dv[a][c];
                }
            }
        });
    }
};

/* dQ of query tile qb (into dqkv's q columns): shared memory Q, dO, K, V [64][D + 1], dS [64][65], lse
 * and Di [64] each. gq = grad[0] ls. */
template <int DM> struct umup__fa_dq {
    const float *qkv, *dO, *lse, *Di;
    float *dqkv;
    int T, H, D, d, causal;
    float ls, gq;
    struct St {
        float dq[4][DM / 16];
    };
    static size_t smem(int D) { return sizeof(float) * (4 * UMUP__FA_T * (size_t)(D + 1) + 64 * 65 + 2 * 64); }
    template <class E> UMUP__HD void block(E &ex, int qb, int bh) const {
        const int ld = D + 1, b = bh / H, h = bh % H, q0 = qb * UMUP__FA_T, nt = ex.nt;
        const int nkb = (T + UMUP__FA_T - 1) / UMUP__FA_T, last = causal && qb < nkb - 1 ? qb : nkb - 1;
        const size_t rs = (size_t)3 * d;
        const float *base = qkv + (size_t)b * T * rs + (size_t)h * D, *dob = dO + (size_t)b * T * d + (size_t)h * D;
        float *Qs = (float *)ex.sm, *Os = Qs + UMUP__FA_T * ld, *Ks = Os + UMUP__FA_T * ld, *Vs = Ks + UMUP__FA_T * ld;
        float *dS = Vs + UMUP__FA_T * ld, *ls_ = dS + 64 * 65, *di_ = ls_ + 64;
        St st[E::kSlots];
        int kb;
        ex.run([&](int tid) {
            St &s = st[ex.slot(tid)];
            int a, c;
            for (a = 0; a < 4; a++)
                for (c = 0; c < DM / 16; c++) s.dq[a][c] = 0.0f;
            umup__fa_load(Qs, ld, base, rs, q0, T, D, tid, nt);
            umup__fa_load(Os, ld, dob, (size_t)d, q0, T, D, tid, nt);
            umup__fa_load_vec(ls_, lse + (size_t)bh * T, q0, T, tid);
            umup__fa_load_vec(di_, Di + (size_t)bh * T, q0, T, tid);
        });
        for (kb = 0; kb <= last; kb++) {
            const int k0 = kb * UMUP__FA_T;
            ex.run([&](int tid) {
                umup__fa_load(Ks, ld, base + d, rs, k0, T, D, tid, nt);
                umup__fa_load(Vs, ld, base + 2 * d, rs, k0, T, D, tid, nt);
            });
            ex.run([&](int tid) { /* dS: queries 4 ty + a, keys tx + 16 c */
                const int ty = tid >> 4, tx = tid & 15;
                float sa[4][4], pa[4][4];
                int a, c, k;
                for (a = 0; a < 4; a++)
                    for (c = 0; c < 4; c++) sa[a][c] = pa[a][c] = 0.0f;
                for (k = 0; k < D; k++) {
                    float qa[4], oa[4], kc[4], vc[4];
                    for (a = 0; a < 4; a++) {
                        qa[a] = Qs[(ty * 4 + a) * ld + k];
                        oa[a] = Os[(ty * 4 + a) * ld + k];
                    }
                    for (c = 0; c < 4; c++) {
                        kc[c] = Ks[(tx + 16 * c) * ld + k];
                        vc[c] = Vs[(tx + 16 * c) * ld + k];
                    }
                    for (a = 0; a < 4; a++)
                        for (c = 0; c < 4; c++) {
                            sa[a][c] += qa[a] * kc[c];
                            pa[a][c] += oa[a] * vc[c];
                        }
                }
                for (a = 0; a < 4; a++)
                    for (c = 0; c < 4; c++) {
                        const int qr = ty * 4 + a, qi = q0 + qr, kj = k0 + tx + 16 * c;
                        float p = qi >= T || kj >= T || (causal && kj > qi) ? 0.0f : expf(sa[a][c] * ls - ls_[qr]);
                        dS[qr * 65 + tx + 16 * c] = p * (pa[a][c] - di_[qr]);
                    }
            });
            ex.run([&](int tid) { /* dQ += dS K */
                St &s = st[ex.slot(tid)];
                const int ty = tid >> 4, tx = tid & 15;
                int a, c, j;
                for (j = 0; j < UMUP__FA_T; j++) {
                    float da[4], kc[DM / 16];
                    for (a = 0; a < 4; a++) da[a] = dS[(ty * 4 + a) * 65 + j];
                    for (c = 0; c < DM / 16; c++) kc[c] = tx + 16 * c < D ? Ks[j * ld + tx + 16 * c] : 0.0f;
                    for (a = 0; a < 4; a++)
                        for (c = 0; c < DM / 16; c++) s.dq[a][c] += da[a] * kc[c];
                }
            });
        }
        ex.run([&](int tid) {
            St &s = st[ex.slot(tid)];
            const int ty = tid >> 4, tx = tid & 15;
            int a, c;
            for (a = 0; a < 4; a++) {
                const int qi = q0 + ty * 4 + a;
                if (qi >= T) continue;
                for (c = 0; c < DM / 16; c++)
                    if (tx + 16 * c < D) dqkv[((size_t)b * T + qi) * rs + (size_t)h * D + tx + 16 * c] = gq * s.dq[a][c];
            }
        });
    }
};

/* ---- Causal attention on the tensor cores (BF16 and FP8 precision) ----------------------------- >>cu-flash-tc
 * The same attention with bfloat16 operands and fp32 accumulation on the tensor cores (WMMA 16 x 16 x 16,
 * sm_80+), for head sizes that are multiples of 16 (up to 128). A block handles 64 rows with 4 warps;
 * warp w owns rows 16 w .. 16 w + 15 of the block's tile. Products are warp operations on shared-memory
 * tiles (umup__ct_wmma: the tensor cores on the device; on the host, lane 0 computes the warp's tile
 * from the same bfloat16 values), and the accumulators of the outputs live in shared memory, so every
 * value that crosses a phase is in shared memory. Forward, in two passes over the key tiles: the first
 * finds each row's maximum and sum (log-sum-exp), the second accumulates exp(S - lse) V with the
 * normalisation known (no rescaling). The backward kernels are those of the fp32 version with the four
 * products per tile on the tensor cores. */

#define UMUP__TC_THREADS 128

/* One warp: C [16, 16] (fp32, ldc) = (accumulate ? C : 0) + A [16, K] B [K, 16], A row-major bfloat16
 * (lda); B bfloat16, row-major [K][16] (ldb), or b_t: given as B^T [16][K] (ldb). K a multiple of 16;
 * every pointer 32-byte aligned, ld multiples of 8 (bf16) or 4 (fp32 C). All 32 lanes call it. */
UMUP__HD static inline void umup__ct_wmma(int lane, float *C, int ldc, const uint16_t *A, int lda, const uint16_t *B, int ldb,
                                          int b_t, int K, int accumulate) {
#ifdef __CUDA_ARCH__
#if __CUDA_ARCH__ >= 800
    nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 16, float> c;
    int k;
    (void)lane;
    if (accumulate) nvcuda::wmma::load_matrix_sync(c, C, (unsigned)ldc, nvcuda::wmma::mem_row_major);
    else nvcuda::wmma::fill_fragment(c, 0.0f);
    for (k = 0; k < K; k += 16) {
        nvcuda::wmma::fragment<nvcuda::wmma::matrix_a, 16, 16, 16, __nv_bfloat16, nvcuda::wmma::row_major> a;
        nvcuda::wmma::load_matrix_sync(a, (const __nv_bfloat16 *)A + k, (unsigned)lda);
        if (b_t) {
            nvcuda::wmma::fragment<nvcuda::wmma::matrix_b, 16, 16, 16, __nv_bfloat16, nvcuda::wmma::col_major> b;
            nvcuda::wmma::load_matrix_sync(b, (const __nv_bfloat16 *)B + k, (unsigned)ldb);
            nvcuda::wmma::mma_sync(c, a, b, c);
        } else {
            nvcuda::wmma::fragment<nvcuda::wmma::matrix_b, 16, 16, 16, __nv_bfloat16, nvcuda::wmma::row_major> b;
            nvcuda::wmma::load_matrix_sync(b, (const __nv_bfloat16 *)B + (size_t)k * ldb, (unsigned)ldb);
            nvcuda::wmma::mma_sync(c, a, b, c);
        }
    }
    nvcuda::wmma::store_matrix_sync(C, c, (unsigned)ldc, nvcuda::wmma::mem_row_major);
#else
    (void)lane; (void)C; (void)ldc; (void)A; (void)lda; (void)B; (void)ldb; (void)b_t; (void)K; (void)accumulate;
    __trap(); /* never launched: the trainer uses these kernels on sm_80+ only */
#endif
#else
    int i, j, k;
    if (lane != 0) return;
    for (i = 0; i < 16; i++)
        for (j = 0; j < 16; j++) {
            float acc = accumulate ? C[i * ldc + j] : 0.0f;
            for (k = 0; k < K; k++)
                acc += umup__ct_bf16_f(A[i * lda + k]) * umup__ct_bf16_f(b_t ? B[j * ldb + k] : B[(size_t)k * ldb + j]);
            C[i * ldc + j] = acc;
        }
#endif
}

/* dst [64][ld] bfloat16 = rows r0 .. r0 + 63 of the head columns at src (fp32, row stride rs; zero past T) */
UMUP__HD static inline void umup__tc_load(uint16_t *dst, int ld, const float *src, size_t rs, int r0, int T, int D, int tid,
                                          int nt) {
    int idx;
    for (idx = tid; idx < UMUP__FA_T * D; idx += nt) {
        int r = idx / D, j = idx % D;
        dst[r * ld + j] = umup__ct_bf16(r0 + r < T ? src[(size_t)(r0 + r) * rs + j] : 0.0f);
    }
}

/* shared-memory layout: arrays of 64 rows, each start 128-byte aligned */
UMUP__HD static inline size_t umup__tc_al(size_t b) { return (b + 127) & ~(size_t)127; }

struct umup__tc_fwd {
    const float *qkv;
    float *O, *lse;
    int T, H, D, d, causal;
    float ls, out;
    /* Q, K, V [64][D + 8] bf16; S [64][68] fp32; P [64][72] bf16; O [64][D + 4] fp32; m, l [64] */
    static size_t smem(int D) {
        return 3 * umup__tc_al((size_t)64 * (D + 8) * 2) + umup__tc_al(64 * 68 * 4) + umup__tc_al(64 * 72 * 2) +
               umup__tc_al((size_t)64 * (D + 4) * 4) + 2 * umup__tc_al(64 * 4);
    }
    template <class E> UMUP__HD void block(E &ex, int qb, int bh) const {
        const int ld = D + 8, lo = D + 4, b = bh / H, h = bh % H, q0 = qb * UMUP__FA_T, nt = ex.nt;
        const int nkb = (T + UMUP__FA_T - 1) / UMUP__FA_T, last = causal && qb < nkb - 1 ? qb : nkb - 1;
        const size_t rs = (size_t)3 * d;
        const float *base = qkv + (size_t)b * T * rs + (size_t)h * D;
        unsigned char *p = ex.sm;
        uint16_t *Qs = (uint16_t *)p, *Ks = (uint16_t *)(p += umup__tc_al((size_t)64 * ld * 2)), *Vs = (uint16_t *)(p += umup__tc_al((size_t)64 * ld * 2));
        float *S = (float *)(p += umup__tc_al((size_t)64 * ld * 2));
        uint16_t *P = (uint16_t *)(p += umup__tc_al(64 * 68 * 4));
        float *Oa = (float *)(p += umup__tc_al(64 * 72 * 2));
        float *m = (float *)(p += umup__tc_al((size_t)64 * lo * 4)), *l = (float *)(p + umup__tc_al(64 * 4));
        int pass, kb;
        ex.run([&](int tid) {
            int i;
            umup__tc_load(Qs, ld, base, rs, q0, T, D, tid, nt);
            for (i = tid; i < 64 * lo; i += nt) Oa[i] = 0.0f;
            if (tid < 64) {
                m[tid] = -INFINITY;
                l[tid] = 0.0f;
            }
        });
        for (pass = 0; pass < 2; pass++) /* 0: the row statistics; 1: O = exp(S - lse) V */
            for (kb = 0; kb <= last; kb++) {
                const int k0 = kb * UMUP__FA_T;
                ex.run([&](int tid) {
                    umup__tc_load(Ks, ld, base + d, rs, k0, T, D, tid, nt);
                    if (pass) umup__tc_load(Vs, ld, base + 2 * d, rs, k0, T, D, tid, nt);
                });
                ex.run([&](int tid) { /* S = Q K^T: warp w, rows 16 w, four tiles of 16 keys */
                    const int w = tid >> 5;
                    int j;
                    for (j = 0; j < 4; j++)
                        umup__ct_wmma(tid & 31, S + 16 * w * 68 + 16 * j, 68, Qs + 16 * w * ld, ld, Ks + 16 * j * ld, ld, 1, D, 0);
                });
                if (!pass) {
                    ex.run([&](int tid) { /* running maximum and sum of row tid */
                        const int qi = q0 + tid;
                        float mx = -INFINITY, mn, sum = 0.0f;
                        int j;
                        if (tid >= 64) return;
                        for (j = 0; j < 64; j++) {
                            const int kj = k0 + j;
                            if (!(kj >= T || (causal && kj > qi)) && S[tid * 68 + j] * ls > mx) mx = S[tid * 68 + j] * ls;
                        }
                        mn = mx > m[tid] ? mx : m[tid];
                        for (j = 0; j < 64; j++) {
                            const int kj = k0 + j;
                            if (!(kj >= T || (causal && kj > qi))) sum += expf(S[tid * 68 + j] * ls - mn);
                        }
                        l[tid] = l[tid] * expf(m[tid] - mn) + sum;
                        m[tid] = mn;
                    });
                } else {
                    ex.run([&](int tid) { /* P = exp(S - lse), masked */
                        int idx;
                        for (idx = tid; idx < 64 * 64; idx += nt) {
                            const int r = idx >> 6, j = idx & 63, qi = q0 + r, kj = k0 + j;
                            float pv = kj >= T || (causal && kj > qi) ? 0.0f : expf(S[r * 68 + j] * ls - m[r]);
                            P[r * 72 + j] = umup__ct_bf16(pv);
                        }
                    });
                    ex.run([&](int tid) { /* O += P V: warp w, rows 16 w, D / 16 tiles of 16 columns */
                        const int w = tid >> 5;
                        int j;
                        for (j = 0; j < D / 16; j++)
                            umup__ct_wmma(tid & 31, Oa + 16 * w * lo + 16 * j, lo, P + 16 * w * 72, 72, Vs + 16 * j, ld, 0, 64, 1);
                    });
                }
                if (!pass && kb == last)
                    ex.run([&](int tid) { /* m becomes the log-sum-exp */
                        if (tid < 64) m[tid] += logf(l[tid]);
                    });
            }
        ex.run([&](int tid) {
            int idx;
            for (idx = tid; idx < 64 * D; idx += nt) {
                const int r = idx / D, j = idx % D, qi = q0 + r;
                if (qi < T) O[((size_t)b * T + qi) * d + (size_t)h * D + j] = out * Oa[r * lo + j];
            }
            if (tid < 64 && q0 + tid < T) lse[(size_t)bh * T + q0 + tid] = m[tid];
        });
    }
};

/* dK, dV of key tile kb: K, V, Q, dO [64][D + 8] bf16; S^T, dP^T [64][68] fp32; P^T, dS^T [64][72] bf16;
 * dK, dV [64][D + 4] fp32; lse, Di [64] */
struct umup__tc_dkv {
    const float *qkv, *dO, *lse, *Di;
    float *dqkv;
    int T, H, D, d, causal;
    float ls, gk, gv;
    static size_t smem(int D) {
        return 4 * umup__tc_al((size_t)64 * (D + 8) * 2) + 2 * umup__tc_al(64 * 68 * 4) + 2 * umup__tc_al(64 * 72 * 2) +
               2 * umup__tc_al((size_t)64 * (D + 4) * 4) + 2 * umup__tc_al(64 * 4);
    }
    template <class E> UMUP__HD void block(E &ex, int kb, int bh) const {
        const int ld = D + 8, lo = D + 4, b = bh / H, h = bh % H, k0 = kb * UMUP__FA_T, nt = ex.nt;
        const int nqb = (T + UMUP__FA_T - 1) / UMUP__FA_T;
        const size_t rs = (size_t)3 * d, tb = umup__tc_al((size_t)64 * ld * 2);
        const float *base = qkv + (size_t)b * T * rs + (size_t)h * D, *dob = dO + (size_t)b * T * d + (size_t)h * D;
        unsigned char *p = ex.sm;
        uint16_t *Ks = (uint16_t *)p, *Vs = (uint16_t *)(p + tb), *Qs = (uint16_t *)(p + 2 * tb), *Os = (uint16_t *)(p + 3 * tb);
        float *St = (float *)(p += 4 * tb), *Pt = (float *)(p += umup__tc_al(64 * 68 * 4));
        uint16_t *Pb = (uint16_t *)(p += umup__tc_al(64 * 68 * 4)), *Sb = (uint16_t *)(p += umup__tc_al(64 * 72 * 2));
        float *dK = (float *)(p += umup__tc_al(64 * 72 * 2)), *dV = (float *)(p += umup__tc_al((size_t)64 * lo * 4));
        float *ls_ = (float *)(p += umup__tc_al((size_t)64 * lo * 4)), *di_ = (float *)(p + umup__tc_al(64 * 4));
        int qb;
        ex.run([&](int tid) {
            int i;
            umup__tc_load(Ks, ld, base + d, rs, k0, T, D, tid, nt);
            umup__tc_load(Vs, ld, base + 2 * d, rs, k0, T, D, tid, nt);
            for (i = tid; i < 64 * lo; i += nt) dK[i] = dV[i] = 0.0f;
        });
        for (qb = causal ? kb : 0; qb < nqb; qb++) {
            const int q0 = qb * UMUP__FA_T;
            ex.run([&](int tid) {
                umup__tc_load(Qs, ld, base, rs, q0, T, D, tid, nt);
                umup__tc_load(Os, ld, dob, (size_t)d, q0, T, D, tid, nt);
                umup__fa_load_vec(ls_, lse + (size_t)bh * T, q0, T, tid);
                umup__fa_load_vec(di_, Di + (size_t)bh * T, q0, T, tid);
            });
            ex.run([&](int tid) { /* S^T = K Q^T, dP^T = V dO^T: warp w, keys 16 w */
                const int w = tid >> 5;
                int j;
                for (j = 0; j < 4; j++) {
                    umup__ct_wmma(tid & 31, St + 16 * w * 68 + 16 * j, 68, Ks + 16 * w * ld, ld, Qs + 16 * j * ld, ld, 1, D, 0);
                    umup__ct_wmma(tid & 31, Pt + 16 * w * 68 + 16 * j, 68, Vs + 16 * w * ld, ld, Os + 16 * j * ld, ld, 1, D, 0);
                }
            });
            ex.run([&](int tid) { /* P^T, dS^T (keys a, queries c) */
                int idx;
                for (idx = tid; idx < 64 * 64; idx += nt) {
                    const int a = idx >> 6, c = idx & 63, kj = k0 + a, qi = q0 + c;
                    float pv = qi >= T || kj >= T || (causal && kj > qi) ? 0.0f : expf(St[a * 68 + c] * ls - ls_[c]);
                    Pb[a * 72 + c] = umup__ct_bf16(pv);
                    Sb[a * 72 + c] = umup__ct_bf16(pv * (Pt[a * 68 + c] - di_[c]));
                }
            });
            ex.run([&](int tid) { /* dV += P^T dO, dK += dS^T Q: warp w, keys 16 w */
                const int w = tid >> 5;
                int j;
                for (j = 0; j < D / 16; j++) {
                    umup__ct_wmma(tid & 31, dV + 16 * w * lo + 16 * j, lo, Pb + 16 * w * 72, 72, Os + 16 * j, ld, 0, 64, 1);
                    umup__ct_wmma(tid & 31, dK + 16 * w * lo + 16 * j, lo, Sb + 16 * w * 72, 72, Qs + 16 * j, ld, 0, 64, 1);
                }
            });
        }
        ex.run([&](int tid) {
            int idx;
            for (idx = tid; idx < 64 * D; idx += nt) {
                const int a = idx / D, j = idx % D, kj = k0 + a;
                if (kj >= T) continue;
                dqkv[((size_t)b * T + kj) * rs + (size_t)d + (size_t)h * D + j] = gk * dK[a * lo + j];
                dqkv[((size_t)b * T + kj) * rs + 2 * (size_t)d + (size_t)h * D + j] = gv * dV[a * lo + j];
            }
        });
    }
};

/* dQ of query tile qb: Q, dO, K, V [64][D + 8] bf16; S, dP [64][68] fp32; dS [64][72] bf16; dQ [64][D + 4]
 * fp32; lse, Di [64] */
struct umup__tc_dq {
    const float *qkv, *dO, *lse, *Di;
    float *dqkv;
    int T, H, D, d, causal;
    float ls, gq;
    static size_t smem(int D) {
        return 4 * umup__tc_al((size_t)64 * (D + 8) * 2) + 2 * umup__tc_al(64 * 68 * 4) + umup__tc_al(64 * 72 * 2) +
               umup__tc_al((size_t)64 * (D + 4) * 4) + 2 * umup__tc_al(64 * 4);
    }
    template <class E> UMUP__HD void block(E &ex, int qb, int bh) const {
        const int ld = D + 8, lo = D + 4, b = bh / H, h = bh % H, q0 = qb * UMUP__FA_T, nt = ex.nt;
        const int nkb = (T + UMUP__FA_T - 1) / UMUP__FA_T, last = causal && qb < nkb - 1 ? qb : nkb - 1;
        const size_t rs = (size_t)3 * d, tb = umup__tc_al((size_t)64 * ld * 2);
        const float *base = qkv + (size_t)b * T * rs + (size_t)h * D, *dob = dO + (size_t)b * T * d + (size_t)h * D;
        unsigned char *p = ex.sm;
        uint16_t *Qs = (uint16_t *)p, *Os = (uint16_t *)(p + tb), *Ks = (uint16_t *)(p + 2 * tb), *Vs = (uint16_t *)(p + 3 * tb);
        float *S = (float *)(p += 4 * tb), *dP = (float *)(p += umup__tc_al(64 * 68 * 4));
        uint16_t *Sb = (uint16_t *)(p += umup__tc_al(64 * 68 * 4));
        float *dQ = (float *)(p += umup__tc_al(64 * 72 * 2));
        float *ls_ = (float *)(p += umup__tc_al((size_t)64 * lo * 4)), *di_ = (float *)(p + umup__tc_al(64 * 4));
        int kb;
        ex.run([&](int tid) {
            int i;
            umup__tc_load(Qs, ld, base, rs, q0, T, D, tid, nt);
            umup__tc_load(Os, ld, dob, (size_t)d, q0, T, D, tid, nt);
            umup__fa_load_vec(ls_, lse + (size_t)bh * T, q0, T, tid);
            umup__fa_load_vec(di_, Di + (size_t)bh * T, q0, T, tid);
            for (i = tid; i < 64 * lo; i += nt) dQ[i] = 0.0f;
        });
        for (kb = 0; kb <= last; kb++) {
            const int k0 = kb * UMUP__FA_T;
            ex.run([&](int tid) {
                umup__tc_load(Ks, ld, base + d, rs, k0, T, D, tid, nt);
                umup__tc_load(Vs, ld, base + 2 * d, rs, k0, T, D, tid, nt);
            });
            ex.run([&](int tid) { /* S = Q K^T, dP = dO V^T: warp w, queries 16 w */
                const int w = tid >> 5;
                int j;
                for (j = 0; j < 4; j++) {
                    umup__ct_wmma(tid & 31, S + 16 * w * 68 + 16 * j, 68, Qs + 16 * w * ld, ld, Ks + 16 * j * ld, ld, 1, D, 0);
                    umup__ct_wmma(tid & 31, dP + 16 * w * 68 + 16 * j, 68, Os + 16 * w * ld, ld, Vs + 16 * j * ld, ld, 1, D, 0);
                }
            });
            ex.run([&](int tid) { /* dS (queries r, keys c) */
                int idx;
                for (idx = tid; idx < 64 * 64; idx += nt) {
                    const int r = idx >> 6, c = idx & 63, qi = q0 + r, kj = k0 + c;
                    float pv = qi >= T || kj >= T || (causal && kj > qi) ? 0.0f : expf(S[r * 68 + c] * ls - ls_[r]);
                    Sb[r * 72 + c] = umup__ct_bf16(pv * (dP[r * 68 + c] - di_[r]));
                }
            });
            ex.run([&](int tid) { /* dQ += dS K: warp w, queries 16 w */
                const int w = tid >> 5;
                int j;
                for (j = 0; j < D / 16; j++)
                    umup__ct_wmma(tid & 31, dQ + 16 * w * lo + 16 * j, lo, Sb + 16 * w * 72, 72, Ks + 16 * j, ld, 0, 64, 1);
            });
        }
        ex.run([&](int tid) {
            int idx;
            for (idx = tid; idx < 64 * D; idx += nt) {
                const int r = idx / D, j = idx % D, qi = q0 + r;
                if (qi < T) dqkv[((size_t)b * T + qi) * rs + (size_t)h * D + j] = gq * dQ[r * lo + j];
            }
        });
    }
};

/* ---- The trainer's state ------------------------------------------------------------------- >>cu-state */

/* A layer's linears in the order of umup.h's tensor table, and the readout after the last layer. */
enum { UMUP__CT_QKV = 0, UMUP__CT_O, UMUP__CT_UP, UMUP__CT_GATE, UMUP__CT_DOWN, UMUP__CT_PER_LAYER };

typedef struct {
    int t;                      /* index in the tensor table */
    int out, in;                /* W [out, in] */
    size_t offset;              /* of W in the flat parameter and gradient arrays */
    int cast;                   /* the FP8 policy casts x, W (fwd format) and dy (bwd format) */
    umup_fp8_format fwd, bwd;
    umup_fp8_rounding rounding;
    unsigned char *xbuf;        /* the forward input operand [N, in], kept for dW (the gate may share up's) */
    unsigned char *wbuf;        /* the weight operand [out, in] (FP8: codes, then the transposed codes) */
    /* this step */
    int cls;                    /* UMUP__CT_F32 / _BF16 / _FP8 */
    umup_op_scales s;
    const unsigned char *x;     /* the input operand in use */
} umup__ct_lin;

typedef struct {                /* a matmul operand for umup__ct_gemm */
    const void *p;
    int type;
    umup_fp8_format fmt;
} umup__ct_mat;

#define UMUP__CT_MAX_ALLOCS 48

struct umup_cuda_trainer {
    umup_cuda_trainer_config cfg;
    int emulate;
    umup_backend *be;           /* the CUDA backend: stream, cuBLAS and cuBLASLt handles (NULL emulating) */
    umup__cuda *cu;
    char err[512];
    umup_trainer *host;         /* the definition of the model, checkpoints, sampling */
    umup_model *hm;
    umup_model_config mc;       /* resolved */
    umup_optim_config oc;       /* resolved */
    int V, d, L, H, D, hd, maxB, maxT, layer_norm, post_norm, tau_form, rope;
    size_t maxN, n_params, n_state;
    size_t emb_offset;
    umup__ct_lin *lin;          /* [5 L + 1] */
    umup__ct_group *groups;     /* [n_groups] host copy */
    int n_groups, smem_optin;
    int tc;                     /* attention on the tensor cores (BF16 and FP8 precision, head size a multiple of 16) */
    long step;                  /* updates queued (the optimizer's step) */
    int B, T, N, counted;       /* the batch in flight */
    umup_model_plan plan;
    /* device arrays (host memory when emulating), shapes for max_batch x max_seq = maxN rows */
    float *params, *grads, *state;  /* [n_params], [n_params], [n_state] */
    float *hs;                  /* [2L + 1][N, d]: the stream before branch i (h0, hmid_0, hout_0, ...) */
    float *qkv;                 /* [L][N, 3d] (RoPE applied) */
    float *O, *lse;             /* [L][N, d] attention output (heads concatenated), [L][B H T] */
    float *fraw;                /* branch outputs before out(): [2L][N, d] post-norm, else one [N, d] */
    float *u1, *ug;             /* [L][N, hd] each */
    float *logits;              /* [N, V] */
    float *dh, *dxin, *dO;      /* [N, d] */
    float *dg;                  /* [N, hd] */
    float *dqkv;                /* [N, 3d] */
    float *Di;                  /* [B H T] */
    double *loss_rows;          /* [N] */
    double *partials;           /* [UMUP__CT_NORM_BLOCKS] */
    double *rope_tab;           /* [max_seq][D / 2][2] cos, sin */
    unsigned char *xops, *wops; /* operand buffers (see umup__ct_layout) */
    unsigned char *dy1, *dy2;   /* output-gradient operands [N, max(3d, hd, V)], [N, hd] */
    unsigned char *xT, *dyT;    /* FP8: transposed codes of x and dy for dW */
    int32_t *batch;             /* ids [N], targets [N], starts [V + 1], positions [N] of the batch in flight */
    umup__ct_group *groups_d;
    umup__ct_scalars *sc;
    void *allocs[UMUP__CT_MAX_ALLOCS];
    int n_allocs;
    size_t device_bytes;
    /* host side */
    int32_t *pin[2];            /* batch staging (pinned) */
    cudaEvent_t pin_ev[2];
    int pin_i;
    umup__ct_scalars *sc_host;  /* pinned */
};

static char umup__ct_create_err[512];

static umup_status umup__ct_fail(umup_cuda_trainer *t, umup_status st, int line, const char *fmt, ...) {
    char *buf = t ? t->err : umup__ct_create_err;
    size_t len;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, 512, fmt, ap);
    va_end(ap);
    len = strlen(buf);
    if (line > 0 && len < 480) snprintf(buf + len, 512 - len, " [umup_cuda.h:%d]", line);
    return st;
}

#define UMUP__CT_CK(call)                                                                                  \
    do {                                                                                               \
        cudaError_t e_ = (call);                                                                       \
        if (e_ != cudaSuccess)                                                                         \
            return umup__ct_fail(t, e_ == cudaErrorMemoryAllocation ? UMUP_ERR_NOMEM : UMUP_ERR_DEVICE, __LINE__, \
                                 "%s: %s (%s)", #call, cudaGetErrorName(e_), cudaGetErrorString(e_));  \
    } while (0)

/* *out = a b; 0 when it does not fit */
static int umup__ct_mul(size_t *out, size_t a, size_t b) {
    if (a && b > (size_t)-1 / a) return 0;
    *out = a * b;
    return 1;
}

/* n elements of `size` bytes, zeroed; freed with the trainer */
static umup_status umup__ct_alloc(umup_cuda_trainer *t, void *pp, size_t n, size_t size) {
    void **p = (void **)pp;
    size_t bytes;
    *p = NULL;
    if (!umup__ct_mul(&bytes, n ? n : 1, size) || bytes > (size_t)-1 - 256)
        return umup__ct_fail(t, UMUP_ERR_NOMEM, __LINE__, "a device array of %zu x %zu bytes does not fit in size_t", n, size);
    bytes = (bytes + 255) & ~(size_t)255;
    if (t->n_allocs == UMUP__CT_MAX_ALLOCS) return umup__ct_fail(t, UMUP_ERR_NOMEM, __LINE__, "too many arrays");
    if (t->emulate) {
        *p = UMUP_MALLOC(bytes);
        if (!*p) return umup__ct_fail(t, UMUP_ERR_NOMEM, __LINE__, "out of host memory (%zu bytes)", bytes);
        memset(*p, 0, bytes);
    } else {
        UMUP__CT_CK(cudaMalloc(p, bytes));
        t->allocs[t->n_allocs++] = *p; /* recorded before the memset can fail */
        t->device_bytes += bytes;
        UMUP__CT_CK(cudaMemsetAsync(*p, 0, bytes, t->cu->stream));
        return UMUP_OK;
    }
    t->allocs[t->n_allocs++] = *p;
    return UMUP_OK;
}

/* host <-> device copies, in stream order (plain memcpy when emulating) */
static umup_status umup__ct_copy(umup_cuda_trainer *t, void *dst, const void *src, size_t bytes, int to_device) {
    if (!bytes) return UMUP_OK;
    if (t->emulate) {
        memcpy(dst, src, bytes);
        return UMUP_OK;
    }
    UMUP__CT_CK(cudaMemcpyAsync(dst, src, bytes, to_device ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost, t->cu->stream));
    return UMUP_OK;
}

static umup_status umup__ct_wait(umup_cuda_trainer *t) {
    if (t->emulate) return UMUP_OK;
    UMUP__CT_CK(cudaStreamSynchronize(t->cu->stream));
    return UMUP_OK;
}

/* ---- Launches ---------------------------------------------------------------------------------------- */

/* k over a grid of gx x gy blocks of nt threads with smem bytes of dynamic shared memory: a CUDA
 * launch on the trainer's stream, or the blocks one after another on the host. */
template <class K>
static umup_status umup__ct_launch(umup_cuda_trainer *t, const K &k, int gx, int gy, int nt, size_t smem) {
    if (gx <= 0 || gy <= 0) return UMUP_OK;
    if (t->emulate) {
        long nb = (long)gx * gy, bi;
        int oom = 0;
        for (bi = 0; bi < nb; bi++) {
            umup__ct_host ex;
            unsigned char *sm = smem ? (unsigned char *)UMUP_MALLOC(smem) : NULL;
            if (smem && !sm) {
                oom = 1;
                continue;
            }
            ex.sm = sm;
            ex.nt = nt;
            k.block(ex, (int)(bi % gx), (int)(bi / gx));
            if (sm) UMUP_FREE(sm);
        }
        return oom ? umup__ct_fail(t, UMUP_ERR_NOMEM, __LINE__, "out of host memory (emulated shared memory)") : UMUP_OK;
    }
    if (smem > 48 * 1024)
        UMUP__CT_CK(cudaFuncSetAttribute((const void *)umup__ct_kernel<K>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    umup__ct_kernel<K><<<dim3((unsigned)gx, (unsigned)gy), (unsigned)nt, smem, t->cu->stream>>>(k);
    UMUP__CT_CK(cudaGetLastError());
    return UMUP_OK;
}

/* an elementwise kernel over n items: 256 threads a block, a grid-stride loop */
template <class K> static umup_status umup__ct_each(umup_cuda_trainer *t, K k, size_t n) {
    size_t blocks = (n + 255) / 256;
    if (blocks > 4096) blocks = 4096;
    if (!n) return UMUP_OK;
    k.gx = (unsigned)blocks;
    return umup__ct_launch(t, k, (int)blocks, 1, 256, 0);
}

/* threads of a row kernel for rows of n: 32 per 128 elements, 32 .. 256 */
static int umup__ct_row_threads(int n) {
    int w = (n + 127) / 128;
    return 32 * (w < 1 ? 1 : w > 8 ? 8 : w);
}

/* ---- Matmuls ------------------------------------------------------------------------------------------ */

static cudaDataType_t umup__ct_dtype(const umup__ct_mat &m) {
    return m.type == UMUP__CT_BF16 ? CUDA_R_16BF : m.type == UMUP__CT_FP8 ? umup__cu_dtype(m.fmt) : CUDA_R_32F;
}

/* The values of an operand as floats (emulation): a copy decoded from bf16 or FP8 codes, or rounded to
 * TF32 (round to nearest, ties away, as the tensor cores' conversion); NULL when out of memory. */
static float *umup__ct_host_values(const umup__ct_mat &m, size_t n, int tf32) {
    float *f = (float *)UMUP_MALLOC(sizeof(float) * (n ? n : 1));
    size_t i;
    if (!f) return NULL;
    for (i = 0; i < n; i++) {
        if (m.type == UMUP__CT_BF16) {
            f[i] = umup__ct_bf16_f(((const uint16_t *)m.p)[i]);
        } else if (m.type == UMUP__CT_FP8) {
            f[i] = umup__cu_u2f(umup__decode_bits(((const uint8_t *)m.p)[i], umup__fp8_params(m.fmt)));
        } else {
            uint32_t u = umup__cu_f2u(((const float *)m.p)[i]);
            if (tf32 && (u & 0x7F800000u) != 0x7F800000u) u = (u + 0x1000u) & 0xFFFFE000u;
            f[i] = umup__cu_u2f(u);
        }
    }
    return f;
}

/* C [M, N] (fp32, row-major) = alpha op(A) op(B) + beta C, both operands of one type: F32 (cuBLAS fp32,
 * or TF32 in that precision), BF16 (cuBLAS, fp32 accumulation), FP8 codes (cuBLASLt with unit scales;
 * only A [M, K] and B [N, K], both K-major, ta = 0 and tb = 1). */
static umup_status umup__ct_gemm(umup_cuda_trainer *t, int ta, int tb, int M, int N, int K, float alpha, umup__ct_mat A,
                                 int lda, umup__ct_mat B, int ldb, float beta, float *C, int ldc) {
    const int tf32 = t->cfg.precision == UMUP_CUDA_TF32 && A.type == UMUP__CT_F32;
    if (t->emulate) {
        size_t na = (size_t)(ta ? K : M) * (size_t)lda, nb = (size_t)(tb ? N : K) * (size_t)ldb;
        float *a = umup__ct_host_values(A, na, tf32), *b = umup__ct_host_values(B, nb, tf32);
        umup_status st = a && b ? UMUP_OK : umup__ct_fail(t, UMUP_ERR_NOMEM, __LINE__, "out of host memory (emulated product)");
        if (st == UMUP_OK) st = umup_sgemm_portable(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, C, ldc);
        if (a) UMUP_FREE(a);
        if (b) UMUP_FREE(b);
        return st;
    }
    if (A.type == UMUP__CT_FP8) {
        umup_status st;
        if (ta || !tb) return umup__ct_fail(t, UMUP_ERR_INVALID_ARG, __LINE__, "internal: an FP8 product must be K-major");
        st = umup__cu_fp8_matmul(t->cu, N, M, K, alpha, B.p, umup__ct_dtype(B), ldb, A.p, umup__ct_dtype(A), lda, beta, C, ldc);
        if (st != UMUP_OK) return umup__ct_fail(t, st, 0, "%s", t->cu->err);
        return UMUP_OK;
    }
    {
        cublasStatus_t s = cublasGemmEx(t->cu->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K,
                                        &alpha, B.p, umup__ct_dtype(B), ldb, A.p, umup__ct_dtype(A), lda, &beta, C, CUDA_R_32F,
                                        ldc, tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
        if (s != CUBLAS_STATUS_SUCCESS)
            return umup__ct_fail(t, s == CUBLAS_STATUS_ALLOC_FAILED ? UMUP_ERR_NOMEM : UMUP_ERR_DEVICE, __LINE__,
                                 "cublasGemmEx(%s, M=%d N=%d K=%d): %s (%s)", A.type == UMUP__CT_BF16 ? "bf16" : "fp32", M, N, K,
                                 cublasGetStatusName(s), cublasGetStatusString(s));
    }
    return UMUP_OK;
}

/* ---- The step's plan: each linear's precision and scales ---------------------------------------------- */

static umup__ct_lin *umup__ct_lin_of(umup_cuda_trainer *t, int l, int k) { return &t->lin[l * UMUP__CT_PER_LAYER + k]; }
static umup__ct_lin *umup__ct_readout(umup_cuda_trainer *t) { return &t->lin[t->L * UMUP__CT_PER_LAYER]; }
static float *umup__ct_h(umup_cuda_trainer *t, int i) { return t->hs + (size_t)i * t->maxN * t->d; }
static float *umup__ct_f(umup_cuda_trainer *t, int branch) {
    return t->post_norm ? t->fraw + (size_t)branch * t->maxN * t->d : t->fraw;
}

static umup_status umup__ct_plan(umup_cuda_trainer *t, int B, int T, int counted) {
    const int N = B * T;
    int i;
    umup_status st;
    t->B = B;
    t->T = T;
    t->N = N;
    t->counted = counted;
    st = umup_model_get_plan(t->hm, B, T, counted, &t->plan);
    if (st != UMUP_OK) return umup__ct_fail(t, st, __LINE__, "umup_model_get_plan: %s", umup_status_string(st));
    for (i = 0; i <= t->L * UMUP__CT_PER_LAYER; i++) {
        umup__ct_lin *ln = &t->lin[i];
        int fp8_ok = ln->cast && ln->fwd == UMUP_FP8_E4M3 && (ln->bwd == UMUP_FP8_E4M3 || ln->bwd == UMUP_FP8_E5M2) && N % 16 == 0 &&
                     ln->in % 16 == 0 && ln->out % 16 == 0 && ln->offset % 4 == 0;
        umup_model_linear_scales(t->hm, ln->t, N, &ln->s);
        ln->cls = t->cfg.precision == UMUP_CUDA_FP8 && fp8_ok ? UMUP__CT_FP8
                : t->cfg.precision == UMUP_CUDA_BF16 || t->cfg.precision == UMUP_CUDA_FP8 ? UMUP__CT_BF16 : UMUP__CT_F32;
        ln->x = ln->xbuf;
    }
    return UMUP_OK;
}

/* The operand descriptor of linear ln's input x (what 0), weight (1) or output gradient (2), stored at p
 * with row stride ld (elements), rows of `cols` for the random stream: the FP8 policy's cast with the
 * model's seed for (step, tensor, what), as umup__lin_cast rounds them. */
static umup__ct_op umup__ct_opnd(const umup_cuda_trainer *t, const umup__ct_lin *ln, int what, void *p, size_t ld, size_t cols) {
    umup__ct_op o;
    memset(&o, 0, sizeof o);
    o.p = p;
    o.type = ln->cls;
    o.quant = ln->cast && ln->cls != UMUP__CT_FP8;
    o.ld = ld;
    o.cols = cols;
    if (ln->cast)
        umup__cu_cast_init(&o.q, ln->cls == UMUP__CT_FP8 ? UMUP__CU_ENCODE : UMUP__CU_QUANTISE, what == 2 ? ln->bwd : ln->fwd,
                           ln->rounding, 1, umup_model_fp8_seed(t->hm, t->step, ln->t, what), 0);
    return o;
}

static umup__ct_mat umup__ct_m(const void *p, int type, umup_fp8_format fmt) {
    umup__ct_mat m;
    m.p = p;
    m.type = type;
    m.fmt = fmt;
    return m;
}

/* the weight as the products see it: the parameters themselves (fp32, not cast), or the operand */
static int umup__ct_w_plain(const umup__ct_lin *ln) { return ln->cls == UMUP__CT_F32 && !ln->cast; }
static umup__ct_mat umup__ct_wmat(const umup_cuda_trainer *t, const umup__ct_lin *ln) {
    if (umup__ct_w_plain(ln)) return umup__ct_m(t->params + ln->offset, UMUP__CT_F32, ln->fwd);
    return umup__ct_m(ln->wbuf, ln->cls, ln->fwd);
}

/* the step's weight operand of ln (rounded by the policy with this step's W stream; FP8: codes and
 * the transposed codes) */
static umup_status umup__ct_weight(umup_cuda_trainer *t, const umup__ct_lin *ln) {
    umup__ct_operand k;
    if (umup__ct_w_plain(ln)) return UMUP_OK;
    memset(&k, 0, sizeof k);
    k.src = t->params + ln->offset;
    k.n = (size_t)ln->out * ln->in;
    k.cols = k.ld = (size_t)ln->in;
    k.o = umup__ct_opnd(t, ln, 1, ln->wbuf, (size_t)ln->in, (size_t)ln->in);
    UMUP__CU_TRY(umup__ct_each(t, k, k.n));
    if (ln->cls == UMUP__CT_FP8) {
        umup__ct_transpose8 tr;
        tr.src = ln->wbuf;
        tr.dst = ln->wbuf + (size_t)ln->out * ln->in;
        tr.rows = ln->out;
        tr.cols = ln->in;
        tr.gy = (ln->out + 31) / 32 < 65535 ? (ln->out + 31) / 32 : 65535;
        UMUP__CU_TRY(umup__ct_launch(t, tr, (ln->in + 31) / 32, tr.gy, 256, 32 * 33));
    }
    return UMUP_OK;
}

static umup_status umup__ct_transpose(umup_cuda_trainer *t, const unsigned char *src, unsigned char *dst, int rows, int cols) {
    umup__ct_transpose8 tr;
    tr.src = src;
    tr.dst = dst;
    tr.rows = rows;
    tr.cols = cols;
    tr.gy = (rows + 31) / 32 < 65535 ? (rows + 31) / 32 : 65535;
    return umup__ct_launch(t, tr, (cols + 31) / 32, tr.gy, 256, 32 * 33);
}

/* y [N, out] = s.out x W^T */
static umup_status umup__ct_linear_fwd(umup_cuda_trainer *t, const umup__ct_lin *ln, float *y) {
    return umup__ct_gemm(t, 0, 1, t->N, ln->out, ln->in, ln->s.out, umup__ct_m(ln->x, ln->cls, ln->fwd), ln->in,
                         umup__ct_wmat(t, ln), ln->in, 0.0f, y, ln->out);
}

/* dx [N, in] = grad[0] dy W + beta dx; dW = grad_w dy^T x (into the gradients); dy [N, out] is the
 * output-gradient operand */
static umup_status umup__ct_linear_bwd(umup_cuda_trainer *t, const umup__ct_lin *ln, const unsigned char *dy, float *dx,
                                       float beta) {
    float *dW = t->grads + ln->offset;
    const int N = t->N;
    if (ln->cls == UMUP__CT_FP8) {
        const unsigned char *wt = ln->wbuf + (size_t)ln->out * ln->in;
        UMUP__CU_TRY(umup__ct_gemm(t, 0, 1, N, ln->in, ln->out, ln->s.grad[0], umup__ct_m(dy, UMUP__CT_FP8, ln->bwd), ln->out,
                                   umup__ct_m(wt, UMUP__CT_FP8, ln->fwd), ln->out, beta, dx, ln->in));
        UMUP__CU_TRY(umup__ct_transpose(t, dy, t->dyT, N, ln->out));
        UMUP__CU_TRY(umup__ct_transpose(t, ln->x, t->xT, N, ln->in));
        return umup__ct_gemm(t, 0, 1, ln->out, ln->in, N, ln->s.grad_w, umup__ct_m(t->dyT, UMUP__CT_FP8, ln->bwd), N,
                             umup__ct_m(t->xT, UMUP__CT_FP8, ln->fwd), N, 0.0f, dW, ln->in);
    }
    UMUP__CU_TRY(umup__ct_gemm(t, 0, 0, N, ln->in, ln->out, ln->s.grad[0], umup__ct_m(dy, ln->cls, ln->bwd), ln->out,
                               umup__ct_wmat(t, ln), ln->in, beta, dx, ln->in));
    return umup__ct_gemm(t, 1, 0, ln->out, ln->in, N, ln->s.grad_w, umup__ct_m(dy, ln->cls, ln->bwd), ln->out,
                         umup__ct_m(ln->x, ln->cls, ln->fwd), ln->in, 0.0f, dW, ln->in);
}

/* ---- Attention ------------------------------------------------------------------------------------------ */

template <int DM> static umup_status umup__ct_attn_fwd_dm(umup_cuda_trainer *t, int l) {
    umup__fa_fwd<DM> k;
    k.qkv = t->qkv + (size_t)l * t->maxN * 3 * t->d;
    k.O = t->O + (size_t)l * t->maxN * t->d;
    k.lse = t->lse + (size_t)l * t->maxN * t->H;
    k.T = t->T; k.H = t->H; k.D = t->D; k.d = t->d; k.causal = 1;
    k.ls = t->plan.attn_scale;
    k.out = t->plan.sdpa.out;
    return umup__ct_launch(t, k, (t->T + UMUP__FA_T - 1) / UMUP__FA_T, t->B * t->H, 256, umup__fa_fwd<DM>::smem(t->D));
}

/* Di = rowsum(dO o O) / out of layer l's attention */
static umup_status umup__ct_attn_di_run(umup_cuda_trainer *t, int l) {
    umup__ct_attn_di di;
    memset(&di, 0, sizeof di);
    di.O = t->O + (size_t)l * t->maxN * t->d;
    di.dO = t->dO;
    di.Di = t->Di;
    di.T = t->T; di.H = t->H; di.D = t->D; di.d = t->d;
    di.out = t->plan.sdpa.out;
    di.n = (size_t)t->B * t->H * t->T;
    return umup__ct_each(t, di, di.n);
}

template <int DM> static umup_status umup__ct_attn_bwd_dm(umup_cuda_trainer *t, int l) {
    const float *qkv = t->qkv + (size_t)l * t->maxN * 3 * t->d, *lse = t->lse + (size_t)l * t->maxN * t->H;
    const int nb = (t->T + UMUP__FA_T - 1) / UMUP__FA_T;
    umup__fa_dkv<DM> kv;
    umup__fa_dq<DM> q;
    UMUP__CU_TRY(umup__ct_attn_di_run(t, l));
    kv.qkv = q.qkv = qkv;
    kv.dO = q.dO = t->dO;
    kv.lse = q.lse = lse;
    kv.Di = q.Di = t->Di;
    kv.dqkv = q.dqkv = t->dqkv;
    kv.T = q.T = t->T; kv.H = q.H = t->H; kv.D = q.D = t->D; kv.d = q.d = t->d; kv.causal = q.causal = 1;
    kv.ls = q.ls = t->plan.attn_scale;
    kv.gk = t->plan.sdpa.grad[1] * t->plan.attn_scale;
    kv.gv = t->plan.sdpa.grad[2];
    q.gq = t->plan.sdpa.grad[0] * t->plan.attn_scale;
    UMUP__CU_TRY(umup__ct_launch(t, kv, nb, t->B * t->H, 256, umup__fa_dkv<DM>::smem(t->D)));
    return umup__ct_launch(t, q, nb, t->B * t->H, 256, umup__fa_dq<DM>::smem(t->D));
}

/* the backward on the tensor cores: Di, then the dK/dV and dQ kernels */
static umup_status umup__ct_attn_bwd_tc(umup_cuda_trainer *t, int l) {
    const float *qkv = t->qkv + (size_t)l * t->maxN * 3 * t->d, *lse = t->lse + (size_t)l * t->maxN * t->H;
    const int nb = (t->T + UMUP__FA_T - 1) / UMUP__FA_T;
    umup__tc_dkv kv;
    umup__tc_dq q;
    UMUP__CU_TRY(umup__ct_attn_di_run(t, l));
    kv.qkv = q.qkv = qkv;
    kv.dO = q.dO = t->dO;
    kv.lse = q.lse = lse;
    kv.Di = q.Di = t->Di;
    kv.dqkv = q.dqkv = t->dqkv;
    kv.T = q.T = t->T; kv.H = q.H = t->H; kv.D = q.D = t->D; kv.d = q.d = t->d; kv.causal = q.causal = 1;
    kv.ls = q.ls = t->plan.attn_scale;
    kv.gk = t->plan.sdpa.grad[1] * t->plan.attn_scale;
    kv.gv = t->plan.sdpa.grad[2];
    q.gq = t->plan.sdpa.grad[0] * t->plan.attn_scale;
    UMUP__CU_TRY(umup__ct_launch(t, kv, nb, t->B * t->H, UMUP__TC_THREADS, umup__tc_dkv::smem(t->D)));
    return umup__ct_launch(t, q, nb, t->B * t->H, UMUP__TC_THREADS, umup__tc_dq::smem(t->D));
}

static int umup__ct_dm(int D) { return D <= 32 ? 32 : D <= 64 ? 64 : 128; }

static umup_status umup__ct_attn_fwd(umup_cuda_trainer *t, int l) {
    int dm = umup__ct_dm(t->D);
    if (t->tc) {
        umup__tc_fwd k;
        k.qkv = t->qkv + (size_t)l * t->maxN * 3 * t->d;
        k.O = t->O + (size_t)l * t->maxN * t->d;
        k.lse = t->lse + (size_t)l * t->maxN * t->H;
        k.T = t->T; k.H = t->H; k.D = t->D; k.d = t->d; k.causal = 1;
        k.ls = t->plan.attn_scale;
        k.out = t->plan.sdpa.out;
        return umup__ct_launch(t, k, (t->T + UMUP__FA_T - 1) / UMUP__FA_T, t->B * t->H, UMUP__TC_THREADS, umup__tc_fwd::smem(t->D));
    }
    return dm == 32 ? umup__ct_attn_fwd_dm<32>(t, l) : dm == 64 ? umup__ct_attn_fwd_dm<64>(t, l) : umup__ct_attn_fwd_dm<128>(t, l);
}
static umup_status umup__ct_attn_bwd(umup_cuda_trainer *t, int l) {
    int dm = umup__ct_dm(t->D);
    if (t->tc) return umup__ct_attn_bwd_tc(t, l);
    return dm == 32 ? umup__ct_attn_bwd_dm<32>(t, l) : dm == 64 ? umup__ct_attn_bwd_dm<64>(t, l) : umup__ct_attn_bwd_dm<128>(t, l);
}

static umup_status umup__ct_rope_run(umup_cuda_trainer *t, float *x, int inverse) {
    umup__ct_rope k;
    if (!t->rope) return UMUP_OK;
    memset(&k, 0, sizeof k);
    k.qkv = x;
    k.tab = t->rope_tab;
    k.T = t->T; k.H = t->H; k.D = t->D; k.d = t->d;
    k.inverse = inverse;
    k.n = (size_t)t->N * t->H * (t->D / 2) * 2;
    return umup__ct_each(t, k, k.n);
}

/* ---- Residual junctions ------------------------------------------------------------------------------- */

/* dropout of branch b in training (forward: grad 0; backward: grad 1) */
static umup__ct_drop umup__ct_dropout_of(const umup_cuda_trainer *t, int branch, int train, int backward) {
    umup__ct_drop dr;
    memset(&dr, 0, sizeof dr);
    if (!train || !(t->mc.dropout > 0.0f)) return dr;
    dr.on = 1;
    dr.p = t->mc.dropout;
    dr.keep = (backward ? t->plan.dropout.grad[0] : t->plan.dropout.out) * (1.0f / (1.0f - t->mc.dropout));
    umup_model_dropout_stream(t->hm, t->step, branch, &dr.seed, &dr.counter);
    return dr;
}

/* the residual weights of branch i: the branch's and the skip's (forward), tau rule or residual sum */
static void umup__ct_res_weights(const umup_cuda_trainer *t, int i, double *cb, double *cs) {
    if (t->tau_form) {
        double tau = t->plan.taus[i];
        *cb = tau / sqrt(1.0 + tau * tau);
        *cs = 1.0 / sqrt(1.0 + tau * tau);
    } else {
        *cb = t->plan.branch_w;
        *cs = t->plan.skip_w;
    }
}

/* The forward junction after branch i (i = -1: the embedding): h(i + 1), then the input operands of
 * the next linears (next: the next branch's first linears, or the readout after the last branch). */
static umup_status umup__ct_junction_fwd(umup_cuda_trainer *t, int i, int train) {
    umup__ct_jfwd k;
    const int L = t->L, last = i == 2 * L - 1;
    memset(&k, 0, sizeof k);
    k.d = t->d;
    k.layer_norm = t->layer_norm;
    if (i < 0) {
        k.ids = t->batch;
        k.emb = t->params + t->emb_offset;
        k.mult = t->plan.emb_multiplier;
    } else {
        k.f = umup__ct_f(t, i);
        k.hprev = umup__ct_h(t, i);
        k.post_norm = t->post_norm;
        k.drop = umup__ct_dropout_of(t, i, train, 0);
        umup__ct_res_weights(t, i, &k.cb, &k.cs);
    }
    k.h = umup__ct_h(t, i + 1);
    k.next = last || !t->post_norm ? 1 : 2; /* the final norm, or the branch input in(h) */
    if (last) {
        umup__ct_lin *r = umup__ct_readout(t);
        k.o1 = umup__ct_opnd(t, r, 0, r->xbuf, (size_t)r->in, (size_t)r->in);
    } else if ((i + 1) % 2 == 0) { /* an attention branch: qkv of layer (i + 1) / 2 */
        umup__ct_lin *q = umup__ct_lin_of(t, (i + 1) / 2, UMUP__CT_QKV);
        k.o1 = umup__ct_opnd(t, q, 0, q->xbuf, (size_t)q->in, (size_t)q->in);
    } else { /* an MLP branch: up and gate (one buffer when their values are the same) */
        umup__ct_lin *u = umup__ct_lin_of(t, i / 2, UMUP__CT_UP), *g = umup__ct_lin_of(t, i / 2, UMUP__CT_GATE);
        k.o1 = umup__ct_opnd(t, u, 0, u->xbuf, (size_t)u->in, (size_t)u->in);
        k.two = g->xbuf != u->xbuf;
        if (k.two) k.o2 = umup__ct_opnd(t, g, 0, g->xbuf, (size_t)g->in, (size_t)g->in);
    }
    return umup__ct_launch(t, k, t->N, 1, umup__ct_row_threads(t->d), 0);
}

/* The backward junction of branch i (i = 2L: the final norm): A finishes branch i (its input's
 * backward, joined with the skip path) unless i = 2L, where it is the final norm's backward; B
 * starts branch i - 1 (its output's backward) into the output-gradient operand of its last linear. */
static umup_status umup__ct_junction_bwd(umup_cuda_trainer *t, int i, int train) {
    umup__ct_jbwd k;
    memset(&k, 0, sizeof k);
    k.d = t->d;
    k.layer_norm = t->layer_norm;
    k.a_on = 1;
    k.dxin = t->dxin;
    k.xin = umup__ct_h(t, i);
    k.dh = t->dh;
    if (i == 2 * t->L) {
        k.a_norm = 1;
        k.combine = 0;
    } else {
        double cb, cs;
        k.a_norm = !t->post_norm;
        umup__ct_res_weights(t, i, &cb, &cs);
        if (t->tau_form) {
            k.combine = 1;
            k.ca = cb;
            k.cb = cs;
        } else {
            k.combine = 2;
            k.cb = cs;
        }
    }
    if (i >= 1) {
        const int b = i - 1;
        umup__ct_lin *ln = umup__ct_lin_of(t, b / 2, b % 2 == 0 ? UMUP__CT_O : UMUP__CT_DOWN);
        k.b_on = 1;
        k.b_tau = t->tau_form;
        k.b_w = t->plan.branch_w;
        k.drop = umup__ct_dropout_of(t, b, train, 1);
        k.post_norm = t->post_norm;
        k.fraw = t->post_norm ? umup__ct_f(t, b) : NULL;
        k.o = umup__ct_opnd(t, ln, 2, t->dy1, (size_t)t->d, (size_t)t->d);
    }
    return umup__ct_launch(t, k, t->N, 1, umup__ct_row_threads(t->d), 0);
}

/* ---- Forward and backward -------------------------------------------------------------------------- */

static umup_status umup__ct_forward(umup_cuda_trainer *t, int train) {
    const int L = t->L, N = t->N, d = t->d;
    umup__ct_lin *rd = umup__ct_readout(t);
    int l, i;
    for (i = 0; i <= L * UMUP__CT_PER_LAYER; i++) UMUP__CU_TRY(umup__ct_weight(t, &t->lin[i]));
    UMUP__CU_TRY(umup__ct_junction_fwd(t, -1, train));
    for (l = 0; l < L; l++) {
        umup__ct_lin *q = umup__ct_lin_of(t, l, UMUP__CT_QKV), *o = umup__ct_lin_of(t, l, UMUP__CT_O);
        umup__ct_lin *u = umup__ct_lin_of(t, l, UMUP__CT_UP), *g = umup__ct_lin_of(t, l, UMUP__CT_GATE);
        umup__ct_lin *dn = umup__ct_lin_of(t, l, UMUP__CT_DOWN);
        float *qkv = t->qkv + (size_t)l * t->maxN * 3 * d, *O = t->O + (size_t)l * t->maxN * d;
        float *u1 = t->u1 + (size_t)l * t->maxN * t->hd, *ug = t->ug + (size_t)l * t->maxN * t->hd;
        /* attention branch 2l: qkv = linear_qkv(in(h)); O = sdpa; f = linear_o(O) */
        UMUP__CU_TRY(umup__ct_linear_fwd(t, q, qkv));
        UMUP__CU_TRY(umup__ct_rope_run(t, qkv, 0));
        UMUP__CU_TRY(umup__ct_attn_fwd(t, l));
        if (umup__ct_w_plain(o)) {
            o->x = (const unsigned char *)O; /* fp32, not cast: the attention output itself */
        } else {
            umup__ct_operand k;
            memset(&k, 0, sizeof k);
            k.src = O;
            k.n = (size_t)N * d;
            k.cols = k.ld = (size_t)d;
            k.o = umup__ct_opnd(t, o, 0, o->xbuf, (size_t)d, (size_t)d);
            UMUP__CU_TRY(umup__ct_each(t, k, k.n));
        }
        UMUP__CU_TRY(umup__ct_linear_fwd(t, o, umup__ct_f(t, 2 * l)));
        UMUP__CU_TRY(umup__ct_junction_fwd(t, 2 * l, train));
        /* MLP branch 2l + 1: f = linear_2(silu_glu(linear_1(in(h)), linear_gate(in(h)))) */
        UMUP__CU_TRY(umup__ct_linear_fwd(t, u, u1));
        UMUP__CU_TRY(umup__ct_linear_fwd(t, g, ug));
        {
            umup__ct_glu_fwd k;
            memset(&k, 0, sizeof k);
            k.u1 = u1;
            k.ug = ug;
            k.n = (size_t)N * t->hd;
            k.hd = (size_t)t->hd;
            k.so = t->plan.glu.out;
            k.mult = t->mc.alpha_ffn_act;
            k.o = umup__ct_opnd(t, dn, 0, dn->xbuf, (size_t)t->hd, (size_t)t->hd);
            UMUP__CU_TRY(umup__ct_each(t, k, k.n));
        }
        UMUP__CU_TRY(umup__ct_linear_fwd(t, dn, umup__ct_f(t, 2 * l + 1)));
        UMUP__CU_TRY(umup__ct_junction_fwd(t, 2 * l + 1, train));
    }
    /* logits = readout(norm(h)); the loss per row, and in training its gradient (the readout's dy) */
    UMUP__CU_TRY(umup__ct_linear_fwd(t, rd, t->logits));
    {
        umup__ct_ce k;
        umup__ct_lossred r;
        memset(&k, 0, sizeof k);
        k.V = t->V;
        k.z = t->logits;
        k.tg = t->batch + N;
        k.loss_rows = t->loss_rows;
        k.mult = t->plan.loss.out;
        k.g = (double)t->plan.loss.grad[0];
        k.bwd = train;
        k.o = umup__ct_opnd(t, rd, 2, t->dy1, (size_t)t->V, (size_t)t->V);
        UMUP__CU_TRY(umup__ct_launch(t, k, N, 1, umup__ct_row_threads(t->V), 0));
        r.rows = t->loss_rows;
        r.N = N;
        r.counted = t->counted;
        r.sc = t->sc;
        UMUP__CU_TRY(umup__ct_launch(t, r, 1, 1, 256, 0));
    }
    return UMUP_OK;
}

static umup_status umup__ct_backward(umup_cuda_trainer *t) {
    const int L = t->L, N = t->N, d = t->d;
    int l;
    UMUP__CU_TRY(umup__ct_linear_bwd(t, umup__ct_readout(t), t->dy1, t->dxin, 0.0f));
    UMUP__CU_TRY(umup__ct_junction_bwd(t, 2 * L, 1));
    for (l = L - 1; l >= 0; l--) {
        umup__ct_lin *q = umup__ct_lin_of(t, l, UMUP__CT_QKV), *o = umup__ct_lin_of(t, l, UMUP__CT_O);
        umup__ct_lin *u = umup__ct_lin_of(t, l, UMUP__CT_UP), *g = umup__ct_lin_of(t, l, UMUP__CT_GATE);
        umup__ct_lin *dn = umup__ct_lin_of(t, l, UMUP__CT_DOWN);
        const unsigned char *dyq;
        /* MLP branch 2l + 1 (its dy is in dy1) */
        UMUP__CU_TRY(umup__ct_linear_bwd(t, dn, t->dy1, t->dg, 0.0f));
        {
            umup__ct_glu_bwd k;
            memset(&k, 0, sizeof k);
            k.dg = t->dg;
            k.u1 = t->u1 + (size_t)l * t->maxN * t->hd;
            k.ug = t->ug + (size_t)l * t->maxN * t->hd;
            k.n = (size_t)N * t->hd;
            k.hd = (size_t)t->hd;
            k.g0 = t->plan.glu.grad[0];
            k.g1 = t->plan.glu.grad[1];
            k.mult = t->mc.alpha_ffn_act;
            k.o1 = umup__ct_opnd(t, u, 2, t->dy1, (size_t)t->hd, (size_t)t->hd);
            k.o2 = umup__ct_opnd(t, g, 2, t->dy2, (size_t)t->hd, (size_t)t->hd);
            UMUP__CU_TRY(umup__ct_each(t, k, k.n));
        }
        UMUP__CU_TRY(umup__ct_linear_bwd(t, u, t->dy1, t->dxin, 0.0f));
        UMUP__CU_TRY(umup__ct_linear_bwd(t, g, t->dy2, t->dxin, 1.0f));
        UMUP__CU_TRY(umup__ct_junction_bwd(t, 2 * l + 1, 1));
        /* attention branch 2l (its dy is in dy1) */
        UMUP__CU_TRY(umup__ct_linear_bwd(t, o, t->dy1, t->dO, 0.0f));
        UMUP__CU_TRY(umup__ct_attn_bwd(t, l));
        UMUP__CU_TRY(umup__ct_rope_run(t, t->dqkv, 1));
        if (umup__ct_w_plain(q)) {
            dyq = (const unsigned char *)t->dqkv;
        } else {
            umup__ct_operand k;
            memset(&k, 0, sizeof k);
            k.src = t->dqkv;
            k.n = (size_t)N * 3 * d;
            k.cols = k.ld = (size_t)3 * d;
            k.o = umup__ct_opnd(t, q, 2, t->dy1, (size_t)3 * d, (size_t)3 * d);
            UMUP__CU_TRY(umup__ct_each(t, k, k.n));
            dyq = t->dy1;
        }
        UMUP__CU_TRY(umup__ct_linear_bwd(t, q, dyq, t->dxin, 0.0f));
        UMUP__CU_TRY(umup__ct_junction_bwd(t, 2 * l, 1));
    }
    {   /* the embedding: dW[v] = grad_w sum of dh over v's positions */
        umup__ct_emb_bwd k;
        k.starts = t->batch + 2 * N;
        k.pos = k.starts + t->V + 1;
        k.dh = t->dh;
        k.dW = t->grads + t->emb_offset;
        k.d = d;
        k.gw = t->plan.embedding.grad_w;
        return umup__ct_launch(t, k, t->V, (d + 127) / 128, 128, 0);
    }
}

/* gradient norm, clipping, the update */
static umup_status umup__ct_update(umup_cuda_trainer *t) {
    const umup_optim_config *c = &t->oc;
    umup__ct_sqsum sq;
    umup__ct_finish fin;
    umup__ct_optim op;
    double sched = (double)umup_schedule_value(&c->schedule, t->step);
    sq.x = t->grads;
    sq.n = t->n_params;
    sq.chunk = (t->n_params + UMUP__CT_NORM_BLOCKS - 1) / UMUP__CT_NORM_BLOCKS;
    sq.out = t->partials;
    UMUP__CU_TRY(umup__ct_launch(t, sq, UMUP__CT_NORM_BLOCKS, 1, 256, 0));
    fin.part = t->partials;
    fin.np = UMUP__CT_NORM_BLOCKS;
    fin.clip_norm = c->clip_norm;
    fin.clip_rms = c->clip_rms;
    fin.count = (double)t->n_params;
    fin.sc = t->sc;
    UMUP__CU_TRY(umup__ct_launch(t, fin, 1, 1, 256, 0));
    memset(&op, 0, sizeof op);
    op.p = t->params;
    op.g = t->grads;
    op.m = t->state;
    op.v = umup_optim_state_size(c->kind, 1) > 1 ? t->state + t->n_params : NULL;
    op.n = t->n_params;
    op.groups = t->groups_d;
    op.ng = t->n_groups;
    op.sc = t->sc;
    op.c.kind = (int)c->kind;
    op.c.step = t->step;
    op.c.sched = sched;
    op.c.lr = c->lr;
    op.c.lr_t = c->lr * sched;
    op.c.beta1 = c->beta1;
    op.c.beta2 = c->beta2;
    op.c.eps = c->eps;
    op.c.momentum = c->momentum;
    op.c.nesterov = c->nesterov;
    op.c.weight_decay = c->weight_decay;
    op.c.bc1 = op.c.bc2 = 1.0;
    if (c->kind == UMUP_OPT_ADAM || c->kind == UMUP_OPT_ADAMW) {
        op.c.bc1 = 1.0 - pow(c->beta1, (double)(t->step + 1));
        op.c.bc2 = 1.0 - pow(c->beta2, (double)(t->step + 1));
    }
    return umup__ct_each(t, op, t->n_params);
}

/* ---- The batch ------------------------------------------------------------------------------------- */

/* Validates ids and targets [B, T] as umup_model_forward does, and queues their copy (with the
 * embedding's gather lists: starts [V + 1] and the positions of each id in increasing order). */
static umup_status umup__ct_batch(umup_cuda_trainer *t, const int32_t *ids, const int32_t *tg, int B, int T, int *counted) {
    int32_t *buf;
    size_t N, n32, i;
    int v;
    if (B < 1 || T < 1 || B > t->maxB || T > t->maxT)
        return umup__ct_fail(t, UMUP_ERR_SHAPE, 0, "batch %d x %d outside 1..%d x 1..%d", B, T, t->maxB, t->maxT);
    N = (size_t)B * T;
    *counted = 0;
    for (i = 0; i < N; i++) {
        if (ids[i] < 0 || ids[i] >= t->V || tg[i] < -1 || tg[i] >= t->V)
            return umup__ct_fail(t, UMUP_ERR_INVALID_ARG, 0, "an id or target outside [0, %d) (targets may be -1)", t->V);
        *counted += tg[i] >= 0;
    }
    if (!*counted) return umup__ct_fail(t, UMUP_ERR_INVALID_ARG, 0, "no target counted (all are -1)");
    n32 = 3 * N + (size_t)t->V + 1;
    if (t->emulate) {
        buf = t->batch;
    } else {
        buf = t->pin[t->pin_i];
        UMUP__CT_CK(cudaEventSynchronize(t->pin_ev[t->pin_i])); /* the slot's previous copy is done */
    }
    memcpy(buf, ids, N * sizeof(int32_t));
    memcpy(buf + N, tg, N * sizeof(int32_t));
    {
        int32_t *starts = buf + 2 * N, *pos = starts + t->V + 1;
        memset(starts, 0, sizeof(int32_t) * ((size_t)t->V + 1));
        for (i = 0; i < N; i++) starts[ids[i] + 1]++;
        for (v = 0; v < t->V; v++) starts[v + 1] += starts[v];
        for (i = 0; i < N; i++) pos[starts[ids[i]]++] = (int32_t)i; /* starts[v] ends at v + 1's start */
        for (v = t->V; v > 0; v--) starts[v] = starts[v - 1];
        starts[0] = 0;
    }
    if (!t->emulate) {
        UMUP__CT_CK(cudaMemcpyAsync(t->batch, buf, n32 * sizeof(int32_t), cudaMemcpyHostToDevice, t->cu->stream));
        UMUP__CT_CK(cudaEventRecord(t->pin_ev[t->pin_i], t->cu->stream));
        t->pin_i ^= 1;
    }
    return UMUP_OK;
}

/* the scalars back to the host (pinned), and optionally wait for them */
static umup_status umup__ct_scalars_back(umup_cuda_trainer *t, int wait) {
    UMUP__CU_TRY(umup__ct_copy(t, t->sc_host, t->sc, sizeof *t->sc, 0));
    return wait ? umup__ct_wait(t) : UMUP_OK;
}

/* ---- Public functions of the device trainer --------------------------------------------------------- */

static void umup__ct_free(umup_cuda_trainer *t) {
    int i;
    if (!t) return;
    if (!t->emulate && t->cu) {
        cudaSetDevice(t->cu->cfg.device);
        cudaStreamSynchronize(t->cu->stream);
    }
    for (i = 0; i < t->n_allocs; i++) {
        if (t->emulate) UMUP_FREE(t->allocs[i]);
        else cudaFree(t->allocs[i]);
    }
    for (i = 0; i < 2; i++) {
        if (t->emulate) {
            if (t->pin[i]) UMUP_FREE(t->pin[i]);
        } else {
            if (t->pin[i]) cudaFreeHost(t->pin[i]);
            if (t->pin_ev[i]) cudaEventDestroy(t->pin_ev[i]);
        }
    }
    if (t->sc_host) {
        if (t->emulate) UMUP_FREE(t->sc_host);
        else cudaFreeHost(t->sc_host);
    }
    if (t->be) umup_cuda_backend_destroy(t->be);
    if (t->lin) UMUP_FREE(t->lin);
    if (t->groups) UMUP_FREE(t->groups);
    umup_trainer_destroy(t->host);
    UMUP_FREE(t);
}

/* The linear table from the model's tensor table (by role and layer), and the operand buffers. */
static umup_status umup__ct_tables(umup_cuda_trainer *t) {
    const int L = t->L, nl = L * UMUP__CT_PER_LAYER + 1, n = umup_model_num_tensors(t->hm);
    int i, found = 0;
    t->lin = (umup__ct_lin *)UMUP_MALLOC(sizeof(umup__ct_lin) * (size_t)nl);
    if (!t->lin) return umup__ct_fail(t, UMUP_ERR_NOMEM, __LINE__, "out of host memory");
    memset(t->lin, 0, sizeof(umup__ct_lin) * (size_t)nl);
    for (i = 0; i < n; i++) {
        const umup_tensor_info *ti = umup_model_tensor(t->hm, i);
        umup__ct_lin *ln = NULL;
        switch (ti->role) {
        case UMUP_ROLE_EMBEDDING: t->emb_offset = ti->offset; continue;
        case UMUP_ROLE_QKV: ln = umup__ct_lin_of(t, ti->layer, UMUP__CT_QKV); break;
        case UMUP_ROLE_ATTN_OUT: ln = umup__ct_lin_of(t, ti->layer, UMUP__CT_O); break;
        case UMUP_ROLE_MLP_UP: ln = umup__ct_lin_of(t, ti->layer, UMUP__CT_UP); break;
        case UMUP_ROLE_MLP_GATE: ln = umup__ct_lin_of(t, ti->layer, UMUP__CT_GATE); break;
        case UMUP_ROLE_MLP_DOWN: ln = umup__ct_lin_of(t, ti->layer, UMUP__CT_DOWN); break;
        case UMUP_ROLE_READOUT: ln = umup__ct_readout(t); break;
        }
        if (!ln) return umup__ct_fail(t, UMUP_ERR_UNSUPPORTED, __LINE__, "tensor %s: unknown role", ti->name);
        ln->t = i;
        ln->out = ti->rows;
        ln->in = ti->cols;
        ln->offset = ti->offset;
        ln->cast = ti->fp8.cast;
        ln->fwd = ti->fp8.fwd;
        ln->bwd = ti->fp8.bwd;
        ln->rounding = ti->fp8.rounding;
        found++;
    }
    if (found != nl) return umup__ct_fail(t, UMUP_ERR_UNSUPPORTED, __LINE__, "the tensor table has %d linears, not %d", found, nl);
    for (i = 0; i < L; i++) { /* the shapes the kernels assume */
        const umup__ct_lin *b = umup__ct_lin_of(t, i, 0);
        if (b[UMUP__CT_QKV].out != 3 * t->d || b[UMUP__CT_QKV].in != t->d || b[UMUP__CT_O].out != t->d ||
            b[UMUP__CT_O].in != t->d || b[UMUP__CT_UP].out != t->hd || b[UMUP__CT_GATE].out != t->hd ||
            b[UMUP__CT_UP].in != t->d || b[UMUP__CT_GATE].in != t->d || b[UMUP__CT_DOWN].out != t->d ||
            b[UMUP__CT_DOWN].in != t->hd)
            return umup__ct_fail(t, UMUP_ERR_UNSUPPORTED, __LINE__, "layer %d: unexpected weight shapes", i);
    }
    return UMUP_OK;
}

/* Every device array, for max_batch x max_seq rows. Operand buffers hold e bytes an element (4 for
 * FP32 and TF32, 2 for BF16 and FP8, where FP8 codes take 1 and a weight's codes plus its transposed
 * codes fit in the 2 bytes of its bf16 copy). */
static umup_status umup__ct_arrays(umup_cuda_trainer *t) {
    const size_t N = t->maxN, d = (size_t)t->d, hd = (size_t)t->hd, L = (size_t)t->L, V = (size_t)t->V;
    const size_t e = t->cfg.precision == UMUP_CUDA_FP32 || t->cfg.precision == UMUP_CUDA_TF32 ? 4 : 2;
    const int fp8 = t->cfg.precision == UMUP_CUDA_FP8;
    size_t wmax = 3 * d > hd ? 3 * d : hd, xsz = 0, wsz = 0, off, imax = hd > d ? hd : d, omax;
    int l, i;
    if (V > wmax) wmax = V;
    omax = wmax;
    /* sizes: every product is checked (max_batch x max_seq fits in int; the rest in size_t) */
    {
        size_t a, b;
        if (!umup__ct_mul(&a, N, 4 * d + hd) || !umup__ct_mul(&a, a, e) || !umup__ct_mul(&b, N * L, 4 * d + 2 * hd) ||
            !umup__ct_mul(&b, b, 4 * 3) || !umup__ct_mul(&a, N, wmax * 8))
            return umup__ct_fail(t, UMUP_ERR_NOMEM, __LINE__, "the activations do not fit in size_t");
    }
    UMUP__CU_TRY(umup__ct_alloc(t, &t->params, t->n_params, 4));
    UMUP__CU_TRY(umup__ct_alloc(t, &t->grads, t->n_params, 4));
    UMUP__CU_TRY(umup__ct_alloc(t, &t->state, t->n_state, 4));
    UMUP__CU_TRY(umup__ct_alloc(t, &t->hs, (2 * L + 1) * N * d, 4));
    UMUP__CU_TRY(umup__ct_alloc(t, &t->qkv, L * N * 3 * d, 4));
    UMUP__CU_TRY(umup__ct_alloc(t, &t->O, L * N * d, 4));
    UMUP__CU_TRY(umup__ct_alloc(t, &t->lse, L * N * (size_t)t->H, 4));
    UMUP__CU_TRY(umup__ct_alloc(t, &t->fraw, (t->post_norm ? 2 * L : 1) * N * d, 4));
    UMUP__CU_TRY(umup__ct_alloc(t, &t->u1, L * N * hd, 4));
    UMUP__CU_TRY(umup__ct_alloc(t, &t->ug, L * N * hd, 4));
    UMUP__CU_TRY(umup__ct_alloc(t, &t->logits, N * V, 4));
    UMUP__CU_TRY(umup__ct_alloc(t, &t->dh, N * d, 4));
    UMUP__CU_TRY(umup__ct_alloc(t, &t->dxin, N * d, 4));
    UMUP__CU_TRY(umup__ct_alloc(t, &t->dO, N * d, 4));
    UMUP__CU_TRY(umup__ct_alloc(t, &t->dg, N * hd, 4));
    UMUP__CU_TRY(umup__ct_alloc(t, &t->dqkv, N * 3 * d, 4));
    UMUP__CU_TRY(umup__ct_alloc(t, &t->Di, N * (size_t)t->H, 4));
    UMUP__CU_TRY(umup__ct_alloc(t, &t->loss_rows, N, 8));
    UMUP__CU_TRY(umup__ct_alloc(t, &t->partials, UMUP__CT_NORM_BLOCKS, 8));
    UMUP__CU_TRY(umup__ct_alloc(t, &t->sc, 1, sizeof(umup__ct_scalars)));
    UMUP__CU_TRY(umup__ct_alloc(t, &t->groups_d, (size_t)t->n_groups, sizeof(umup__ct_group)));
    UMUP__CU_TRY(umup__ct_alloc(t, &t->batch, 3 * N + V + 1, 4));
    UMUP__CU_TRY(umup__ct_alloc(t, &t->dy1, N * wmax, e));
    UMUP__CU_TRY(umup__ct_alloc(t, &t->dy2, N * hd, e));
    if (fp8) {
        UMUP__CU_TRY(umup__ct_alloc(t, &t->xT, N * imax, 1));
        UMUP__CU_TRY(umup__ct_alloc(t, &t->dyT, N * omax, 1));
    }
    if (t->rope) UMUP__CU_TRY(umup__ct_alloc(t, &t->rope_tab, (size_t)t->maxT * (size_t)(t->D / 2) * 2, 8));
    /* operand buffers, each 256-byte aligned: inputs (the gate shares up's unless stochastic rounding
     * makes them differ) and weights */
    for (i = 0; i <= t->L * UMUP__CT_PER_LAYER; i++) {
        umup__ct_lin *ln = &t->lin[i];
        int shared = i % UMUP__CT_PER_LAYER == UMUP__CT_GATE && i < t->L * UMUP__CT_PER_LAYER &&
                     (!ln->cast || ln->rounding == UMUP_FP8_RNE);
        if (!shared) xsz += (N * (size_t)ln->in * e + 255) & ~(size_t)255;
        wsz += ((size_t)ln->out * ln->in * e + 255) & ~(size_t)255;
    }
    UMUP__CU_TRY(umup__ct_alloc(t, &t->xops, xsz, 1));
    UMUP__CU_TRY(umup__ct_alloc(t, &t->wops, wsz, 1));
    off = 0;
    for (l = 0; l <= t->L; l++)
        for (i = 0; i < (l < t->L ? UMUP__CT_PER_LAYER : 1); i++) {
            umup__ct_lin *ln = &t->lin[l * UMUP__CT_PER_LAYER + i];
            if (l < t->L && i == UMUP__CT_GATE && (!ln->cast || ln->rounding == UMUP_FP8_RNE)) {
                ln->xbuf = ln[-1].xbuf;
                continue;
            }
            ln->xbuf = t->xops + off;
            off += (N * (size_t)ln->in * e + 255) & ~(size_t)255;
        }
    off = 0;
    for (i = 0; i <= t->L * UMUP__CT_PER_LAYER; i++) {
        umup__ct_lin *ln = &t->lin[i];
        ln->wbuf = t->wops + off;
        off += ((size_t)ln->out * ln->in * e + 255) & ~(size_t)255;
    }
    return UMUP_OK;
}

/* the parameters, optimizer state, step and settings of the host trainer onto the device; clears a
 * divergence */
static umup_status umup__ct_upload_state(umup_cuda_trainer *t) {
    umup__ct_scalars s;
    memset(&s, 0, sizeof s);
    t->oc = umup_trainer_optimizer(t->host)->cfg;
    t->step = umup_trainer_optimizer(t->host)->step;
    s.applied = t->step;
    s.ok = 1;
    s.loss_ok = 1;
    *t->sc_host = s;
    UMUP__CU_TRY(umup__ct_copy(t, t->params, umup_model_params(t->hm), t->n_params * sizeof(float), 1));
    UMUP__CU_TRY(umup__ct_copy(t, t->state, umup_trainer_state(t->host), t->n_state * sizeof(float), 1));
    UMUP__CU_TRY(umup__ct_copy(t, t->sc, t->sc_host, sizeof s, 1));
    return umup__ct_wait(t);
}

static umup_status umup__ct_init(umup_cuda_trainer *t, int max_batch) {
    const umup_model_config *mc = umup_model_get_config(t->hm);
    umup_param_group *pg;
    umup_status st;
    int i, need_smem;
    t->mc = *mc;
    t->oc = umup_trainer_optimizer(t->host)->cfg;
    t->V = mc->vocab;
    t->d = mc->width;
    t->L = mc->layers;
    t->H = mc->heads;
    t->D = mc->head_size;
    t->hd = mc->mlp_expansion * mc->width;
    t->maxB = max_batch;
    t->maxT = mc->max_seq;
    t->maxN = (size_t)max_batch * (size_t)mc->max_seq;
    t->layer_norm = mc->norm == UMUP_NORM_LAYER;
    t->rope = mc->rope;
    {
        umup_model_plan p;
        st = umup_model_get_plan(t->hm, 1, 1, 1, &p);
        if (st != UMUP_OK) return umup__ct_fail(t, st, __LINE__, "umup_model_get_plan: %s", umup_status_string(st));
        t->post_norm = p.residual == UMUP_RESIDUAL_POST_NORM;
        t->tau_form = p.residual == UMUP_RESIDUAL_TAU;
    }
    if (max_batch > 2147483647 / mc->max_seq)
        return umup__ct_fail(t, UMUP_ERR_SHAPE, 0, "max_batch x max_seq = %d x %d does not fit in int", max_batch, mc->max_seq);
    if (t->D > 128) return umup__ct_fail(t, UMUP_ERR_UNSUPPORTED, 0, "head size %d: the device attention supports up to 128", t->D);
    if (mc->mlp != UMUP_MLP_SWIGLU) return umup__ct_fail(t, UMUP_ERR_UNSUPPORTED, 0, "the device trainer runs the SwiGLU MLP only");
    if (mc->fp8_attention && mc->fp8 != UMUP_FP8_SIM_NONE)
        return umup__ct_fail(t, UMUP_ERR_UNSUPPORTED, 0, "fp8_attention (FP8 simulation of q, k, v) is not on the device");
    t->n_params = umup_model_num_params(t->hm);
    t->n_state = umup_trainer_state_bytes(t->host) / sizeof(float);
    t->n_groups = umup_model_num_tensors(t->hm);
    pg = (umup_param_group *)UMUP_MALLOC(sizeof(umup_param_group) * (size_t)t->n_groups);
    t->groups = (umup__ct_group *)UMUP_MALLOC(sizeof(umup__ct_group) * (size_t)t->n_groups);
    if (!pg || !t->groups) {
        if (pg) UMUP_FREE(pg);
        return umup__ct_fail(t, UMUP_ERR_NOMEM, __LINE__, "out of host memory");
    }
    st = umup_model_param_groups(t->hm, t->oc.kind, pg);
    for (i = 0; st == UMUP_OK && i < t->n_groups; i++) {
        umup__ct_group *g = &t->groups[i];
        *g = umup__ct_group_of(&pg[i], t->oc.kind);
        if (i && g->offset < t->groups[i - 1].offset) st = UMUP_ERR_UNSUPPORTED;
    }
    UMUP_FREE(pg);
    if (st != UMUP_OK) return umup__ct_fail(t, st, __LINE__, "parameter groups: %s", umup_status_string(st));
    UMUP__CU_TRY(umup__ct_tables(t));
    /* the device: what the precision needs, and shared memory for the attention kernels (on the tensor
       cores in BF16 and FP8 precision when the head size is a multiple of 16 and their tiles fit) */
    t->tc = (t->cfg.precision == UMUP_CUDA_BF16 || t->cfg.precision == UMUP_CUDA_FP8) && t->D % 16 == 0;
    need_smem = (int)umup__fa_dkv<128>::smem(t->D);
    if (!t->emulate) {
        umup_cuda_config bc = umup_cuda_config_default();
        umup_cuda_device_info info;
        bc.device = t->cfg.device;
        bc.fp8 = 1;
        bc.stage_bytes = 4096; /* the trainer stages its own batches */
        st = umup_cuda_backend_create(&t->be, &bc);
        if (st != UMUP_OK) return umup__ct_fail(t, st, 0, "%s", umup_cuda_error(NULL));
        t->cu = umup__cu_of(t->be);
        umup_cuda_device(t->be, &info);
        UMUP__CT_CK(cudaDeviceGetAttribute(&t->smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, t->cfg.device));
        if (t->cfg.precision != UMUP_CUDA_FP32 && info.cc_major < 8)
            return umup__ct_fail(t, UMUP_ERR_UNSUPPORTED, 0, "%s precision needs sm_80 or newer (%s is sm_%d%d)",
                                 umup_cuda_precision_name(t->cfg.precision), info.name, info.cc_major, info.cc_minor);
        if (t->cfg.precision == UMUP_CUDA_FP8 && !info.fp8)
            return umup__ct_fail(t, UMUP_ERR_UNSUPPORTED, 0, "FP8 precision needs FP8 tensor cores (sm_89+; %s is sm_%d%d)",
                                 info.name, info.cc_major, info.cc_minor);
        if (t->tc) {
            size_t tcs = umup__tc_fwd::smem(t->D), a = umup__tc_dkv::smem(t->D), b = umup__tc_dq::smem(t->D);
            if (a > tcs) tcs = a;
            if (b > tcs) tcs = b;
            if (info.cc_major < 8 || tcs > (size_t)t->smem_optin) t->tc = 0;
        }
        if (!t->tc && need_smem > t->smem_optin)
            return umup__ct_fail(t, UMUP_ERR_UNSUPPORTED, 0,
                                 "head size %d needs %d bytes of shared memory per block; %s has %d (use a smaller head size)",
                                 t->D, need_smem, info.name, t->smem_optin);
    }
    UMUP__CU_TRY(umup__ct_arrays(t));
    UMUP__CU_TRY(umup__ct_copy(t, t->groups_d, t->groups, sizeof(umup__ct_group) * (size_t)t->n_groups, 1));
    if (t->rope) {
        const size_t hp = (size_t)t->D / 2, n = (size_t)t->maxT * hp * 2;
        double *tab = (double *)UMUP_MALLOC(sizeof(double) * n);
        size_t tt, p;
        if (!tab) return umup__ct_fail(t, UMUP_ERR_NOMEM, __LINE__, "out of host memory");
        for (tt = 0; tt < (size_t)t->maxT; tt++)
            for (p = 0; p < hp; p++) { /* umup__rope's angle */
                double th = (double)tt * pow(10000.0, -2.0 * (double)p / t->D);
                tab[(tt * hp + p) * 2] = cos(th);
                tab[(tt * hp + p) * 2 + 1] = sin(th);
            }
        st = umup__ct_copy(t, t->rope_tab, tab, sizeof(double) * n, 1);
        if (st == UMUP_OK) st = umup__ct_wait(t); /* tab is freed next */
        UMUP_FREE(tab);
        if (st != UMUP_OK) return st;
    }
    /* host staging: two batch slots and the scalars (pinned on the device path) */
    for (i = 0; i < 2; i++) {
        size_t bytes = sizeof(int32_t) * (3 * t->maxN + (size_t)t->V + 1);
        if (t->emulate) {
            t->pin[i] = NULL; /* batches are written straight into the (host) batch array */
        } else {
            UMUP__CT_CK(cudaHostAlloc((void **)&t->pin[i], bytes, cudaHostAllocDefault));
            UMUP__CT_CK(cudaEventCreateWithFlags(&t->pin_ev[i], cudaEventDisableTiming));
        }
    }
    if (t->emulate) {
        t->sc_host = (umup__ct_scalars *)UMUP_MALLOC(sizeof(umup__ct_scalars));
        if (!t->sc_host) return umup__ct_fail(t, UMUP_ERR_NOMEM, __LINE__, "out of host memory");
    } else {
        UMUP__CT_CK(cudaHostAlloc((void **)&t->sc_host, sizeof(umup__ct_scalars), cudaHostAllocDefault));
    }
    return umup__ct_upload_state(t);
}

UMUPDEF umup_status umup_cuda_trainer_create(umup_cuda_trainer **out, const umup_model_config *mc,
                                             const umup_optim_config *oc, int max_batch,
                                             const umup_cuda_trainer_config *cfg) {
    umup_cuda_trainer *t;
    umup_status st;
    umup__ct_create_err[0] = 0;
    if (!out) return umup__ct_fail(NULL, UMUP_ERR_NULL, 0, "umup_cuda_trainer_create: out is NULL");
    *out = NULL;
    if (!mc || !oc) return umup__ct_fail(NULL, UMUP_ERR_NULL, 0, "umup_cuda_trainer_create: a NULL configuration");
    if (max_batch < 1) return umup__ct_fail(NULL, UMUP_ERR_SHAPE, 0, "umup_cuda_trainer_create: max_batch %d < 1", max_batch);
    if (cfg && (cfg->device < 0 || (int)cfg->precision < 0 || (int)cfg->precision >= (int)UMUP_CUDA_PRECISION_COUNT ||
                (cfg->emulate != 0 && cfg->emulate != 1)))
        return umup__ct_fail(NULL, UMUP_ERR_INVALID_ARG, 0,
                             "umup_cuda_trainer_create: invalid config (device >= 0, a known precision, emulate 0 or 1)");
    t = (umup_cuda_trainer *)UMUP_MALLOC(sizeof *t);
    if (!t) return umup__ct_fail(NULL, UMUP_ERR_NOMEM, 0, "umup_cuda_trainer_create: out of host memory");
    memset(t, 0, sizeof *t);
    if (cfg) t->cfg = *cfg;
    t->emulate = t->cfg.emulate;
    st = umup_trainer_create(&t->host, mc, oc, 1);
    if (st != UMUP_OK) {
        umup__ct_fail(NULL, st, 0, "umup_trainer_create: %s", umup_status_string(st));
        UMUP_FREE(t);
        return st;
    }
    t->hm = umup_trainer_model(t->host);
    st = umup__ct_init(t, max_batch);
    if (st != UMUP_OK) {
        memcpy(umup__ct_create_err, t->err, sizeof umup__ct_create_err);
        umup__ct_free(t);
        return st;
    }
    *out = t;
    return UMUP_OK;
}

UMUPDEF void umup_cuda_trainer_destroy(umup_cuda_trainer *t) { umup__ct_free(t); }

UMUPDEF const char *umup_cuda_trainer_error(const umup_cuda_trainer *t) { return t ? t->err : umup__ct_create_err; }

/* a forward pass on a validated batch (and, train, the backward pass) */
static umup_status umup__ct_pass(umup_cuda_trainer *t, const int32_t *ids, const int32_t *targets, int B, int T, int train,
                                 int backward) {
    int counted = 0;
    if (!t->emulate) UMUP__CT_CK(cudaSetDevice(t->cfg.device));
    UMUP__CU_TRY(umup__ct_batch(t, ids, targets, B, T, &counted));
    UMUP__CU_TRY(umup__ct_plan(t, B, T, counted));
    UMUP__CU_TRY(umup__ct_forward(t, train));
    return backward ? umup__ct_backward(t) : UMUP_OK;
}

UMUPDEF umup_status umup_cuda_trainer_step(umup_cuda_trainer *t, const int32_t *ids, const int32_t *targets, int B,
                                           int T, float *loss) {
    if (!t || !ids || !targets) return UMUP_ERR_NULL;
    UMUP__CU_TRY(umup__ct_pass(t, ids, targets, B, T, 1, 1));
    UMUP__CU_TRY(umup__ct_update(t));
    UMUP__CU_TRY(umup__ct_scalars_back(t, loss != NULL));
    t->step++;
    if (!loss) return UMUP_OK;
    *loss = t->sc_host->loss;
    if (!t->sc_host->ok) {
        t->step = (long)t->sc_host->applied;
        return umup__ct_fail(t, UMUP_ERR_NONFINITE, 0, "the loss or the gradient norm is not finite (loss %g, norm %g)%s",
                             (double)t->sc_host->loss, t->sc_host->norm,
                             t->sc_host->loss_ok && t->sc_host->norm < 1e300 ? ": an earlier step diverged" : "");
    }
    return UMUP_OK;
}

UMUPDEF umup_status umup_cuda_trainer_eval(umup_cuda_trainer *t, const int32_t *ids, const int32_t *targets, int B,
                                           int T, float *loss) {
    if (!t || !ids || !targets || !loss) return UMUP_ERR_NULL;
    UMUP__CU_TRY(umup__ct_pass(t, ids, targets, B, T, 0, 0));
    UMUP__CU_TRY(umup__ct_scalars_back(t, 1));
    *loss = t->sc_host->loss;
    return UMUP_OK;
}

UMUPDEF umup_status umup_cuda_trainer_grads(umup_cuda_trainer *t, const int32_t *ids, const int32_t *targets, int B,
                                            int T, float *loss, float *grads) {
    if (!t || !ids || !targets) return UMUP_ERR_NULL;
    UMUP__CU_TRY(umup__ct_pass(t, ids, targets, B, T, 1, 1));
    UMUP__CU_TRY(umup__ct_scalars_back(t, 0));
    if (grads) UMUP__CU_TRY(umup__ct_copy(t, grads, t->grads, t->n_params * sizeof(float), 0));
    UMUP__CU_TRY(umup__ct_wait(t));
    if (loss) *loss = t->sc_host->loss;
    return UMUP_OK;
}

/* waits for queued steps; the step count of a run that diverged is the count of updates applied */
static umup_status umup__ct_settle(umup_cuda_trainer *t) {
    UMUP__CU_TRY(umup__ct_scalars_back(t, 1));
    if (t->sc_host->diverged) t->step = (long)t->sc_host->applied;
    return UMUP_OK;
}

UMUPDEF umup_status umup_cuda_trainer_to_host(umup_cuda_trainer *t) {
    umup_status st;
    if (!t) return UMUP_ERR_NULL;
    UMUP__CU_TRY(umup__ct_settle(t));
    UMUP__CU_TRY(umup__ct_copy(t, umup_model_params(t->hm), t->params, t->n_params * sizeof(float), 0));
    UMUP__CU_TRY(umup__ct_copy(t, umup_trainer_state(t->host), t->state, t->n_state * sizeof(float), 0));
    UMUP__CU_TRY(umup__ct_wait(t));
    st = umup_trainer_set_step(t->host, t->step);
    return st == UMUP_OK ? UMUP_OK : umup__ct_fail(t, st, __LINE__, "umup_trainer_set_step: %s", umup_status_string(st));
}

UMUPDEF umup_trainer *umup_cuda_trainer_host(umup_cuda_trainer *t) { return t ? t->host : NULL; }

UMUPDEF umup_status umup_cuda_trainer_from_host(umup_cuda_trainer *t) {
    if (!t) return UMUP_ERR_NULL;
    UMUP__CU_TRY(umup__ct_settle(t)); /* queued steps finish first */
    return umup__ct_upload_state(t);
}

UMUPDEF umup_status umup_cuda_trainer_save(umup_cuda_trainer *t, const char *path) {
    umup_status st;
    if (!t || !path) return UMUP_ERR_NULL;
    UMUP__CU_TRY(umup_cuda_trainer_to_host(t));
    st = umup_trainer_save(t->host, path);
    return st == UMUP_OK ? UMUP_OK : umup__ct_fail(t, st, 0, "%s", umup_trainer_error(t->host));
}

UMUPDEF umup_status umup_cuda_trainer_load(umup_cuda_trainer *t, const char *path) {
    umup_status st;
    if (!t || !path) return UMUP_ERR_NULL;
    UMUP__CU_TRY(umup__ct_settle(t));
    st = umup_trainer_load(t->host, path);
    if (st != UMUP_OK) return umup__ct_fail(t, st, 0, "%s", umup_trainer_error(t->host));
    return umup__ct_upload_state(t);
}

UMUPDEF long umup_cuda_trainer_step_count(umup_cuda_trainer *t) {
    if (!t) return 0;
    umup__ct_settle(t);
    return t->step;
}

UMUPDEF size_t umup_cuda_trainer_device_bytes(const umup_cuda_trainer *t) { return t ? t->device_bytes : 0; }

UMUPDEF umup_status umup_cuda_trainer_device(const umup_cuda_trainer *t, umup_cuda_device_info *out) {
    if (!t || !out) return UMUP_ERR_NULL;
    if (t->emulate) return UMUP_ERR_UNSUPPORTED;
    return umup_cuda_device(t->be, out);
}

static const char *const umup__ct_prec_names[UMUP_CUDA_PRECISION_COUNT] = {"fp32", "tf32", "bf16", "fp8"};

UMUPDEF const char *umup_cuda_precision_name(umup_cuda_precision p) {
    return (int)p >= 0 && (int)p < (int)UMUP_CUDA_PRECISION_COUNT ? umup__ct_prec_names[p] : "?";
}

UMUPDEF umup_status umup_cuda_precision_parse(const char *name, umup_cuda_precision *out) {
    int i;
    if (!name || !out) return UMUP_ERR_NULL;
    for (i = 0; i < (int)UMUP_CUDA_PRECISION_COUNT; i++)
        if (strcmp(name, umup__ct_prec_names[i]) == 0) {
            *out = (umup_cuda_precision)i;
            return UMUP_OK;
        }
    return UMUP_ERR_INVALID_ARG;
}

#endif /* UMUP_CUDA_IMPLEMENTATION_DONE */
#endif /* UMUP_CUDA_IMPLEMENTATION */

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
