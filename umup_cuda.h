/* umup_cuda.h - v0.2.0 - the CUDA backend of umup.h's GEMM seam: cuBLAS / cuBLASLt products (real FP8 on
 *               Hopper) and FP8 casts on the GPU, bit-identical to umup_fp8.h - MIT licence (text at the end of this file)
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
#include <cuda_runtime.h>
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
