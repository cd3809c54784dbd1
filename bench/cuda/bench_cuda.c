/* bench/cuda/bench_cuda.c - the CUDA backend on the GPU; every figure is a ratio to another taken in
 * the same run.
 *   casts:   FP8 encode / decode / quantise on device arrays, GB/s counted in bytes moved (5 B/element
 *            for encode and decode, 8 for quantise), against a device-to-device copy (8 B/element);
 *            the SR encode is compared bit for bit with the CPU on 2^20 elements;
 *   GEMMs:   TFLOP/s of cuBLAS fp32 (sgemm), TF32 and BF16 (fp32 accumulation and output), cuBLASLt
 *            FP8 called directly (E4M3 x E4M3, fp32 output, the heuristic's first algorithm) and the
 *            library's FP8 GEMM (umup_cuda_gemm_fp8: the same call behind the library's checks and
 *            set-up cache), on the trainer's shapes, 8192^3 and 16384 x 4096 x 4096; the ratios
 *            library / cuBLASLt and FP8 / BF16, and each rate against the device's dense peak
 *            (SMs x max clock x the architecture's dense FLOP per SM per clock). On the trainer's
 *            shapes also the seam itself: umup_gemm with host buffers (transfers included), fp32 and
 *            FP8 with a resident weight, against the CPU's portable GEMM;
 *   trainer: tokens/s of the bench_train configuration (d = 256, 4 layers, T = 256, B = 16) on the CPU
 *            and with the GPU backend (fp32; FP8 mode with the u-muP FP8 simulation), model FLOP/s
 *            (6 N + 12 L T d per token) and its fraction of the GPU's dense fp32 peak;
 *   device trainer (umup_cuda_trainer: the whole step on the GPU): tokens/s at the two configurations
 *            of the CUDA trainer issue, d = 256, 4 layers, T = 256, B = 16 and d = 1024, 8 layers,
 *            T = 1024, B = 16 (u-muP, head size 64 as the reference demo, SwiGLU x4, AdamW), in fp32,
 *            TF32, BF16 and FP8 (real FP8 products for every hidden matmul, and for the u-muP
 *            scheme's), the model FLOP utilisation against the dense peak of the precision, and the
 *            ratio to PyTorch 2.11 + unit_scaling on an H100 in the same precision class (the issue's
 *            figures: fp32 245k / 45k tokens/s, bf16 with torch.compile 486k / 438k).
 * Without a GPU every section prints a SKIP line and the program exits 0.
 * Usage: bench_cuda [--quick]   (--quick: smaller arrays, fewer repetitions, no 8192^3). */
#define _POSIX_C_SOURCE 199309L
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "umup_cuda.h"

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static umup_backend *gpu;
static umup_cuda_device_info info;
static cudaStream_t stream;
static int quick;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *what, const char *detail) {
    fprintf(stderr, "bench_cuda: %s: %s\n", what, detail);
    exit(1);
}
#define CK(call)                                                                                         \
    do {                                                                                             \
        cudaError_t e_ = (call);                                                                     \
        if (e_ != cudaSuccess) die(#call, cudaGetErrorString(e_));                                   \
    } while (0)
#define CB(call)                                                                                         \
    do {                                                                                             \
        cublasStatus_t s_ = (call);                                                                  \
        if (s_ != CUBLAS_STATUS_SUCCESS) die(#call, cublasGetStatusString(s_));                      \
    } while (0)
#define CU(call)                                                                                         \
    do {                                                                                             \
        umup_status u_ = (call);                                                                     \
        if (u_ != UMUP_OK) die(#call, umup_cuda_error(gpu));                                         \
    } while (0)

/* Dense FLOP per SM per clock (2 per multiply-add) by compute capability: fp32 (CUDA cores), TF32,
 * BF16 and FP8 tensor cores. From the published dense peaks: A100 19.5/156/312 TFLOP/s at 108 SMs and
 * 1.41 GHz; L40S 91.6/183/366/733 at 142 SMs and 2.52 GHz; H100 SXM 67/495/989/1979 at 132 SMs (at
 * its tensor clock of 1.83 GHz; this bench multiplies by the reported maximum clock instead). */
typedef struct { int cc; double fp32, tf32, bf16, fp8; } peak_row;
static const peak_row PEAKS[] = {
    {80, 128, 1024, 2048, 0}, {89, 256, 512, 1024, 2048}, {90, 256, 2048, 4096, 8192}, {100, 256, 4096, 8192, 16384}};

static peak_row peaks(void) { /* TFLOP/s for this device; zeros when unknown */
    peak_row r = {0, 0, 0, 0, 0};
    int cc = info.cc_major * 10 + info.cc_minor;
    size_t i;
    double f = (double)info.sm_count * info.clock_khz * 1e3 / 1e12;
    for (i = 0; i < sizeof PEAKS / sizeof PEAKS[0]; i++)
        if (PEAKS[i].cc == cc) {
            r.cc = cc;
            r.fp32 = PEAKS[i].fp32 * f; r.tf32 = PEAKS[i].tf32 * f; r.bf16 = PEAKS[i].bf16 * f; r.fp8 = PEAKS[i].fp8 * f;
        }
    return r;
}

/* Seconds per call of fn(arg) on the stream: two warm-up calls, then batches until 0.1 s (quick:
 * 0.02 s) have been timed; the best batch average. */
static double time_gpu(void (*fn)(void *), void *arg) {
    cudaEvent_t e0, e1;
    double best = 1e30, spent = 0.0, budget = quick ? 0.02 : 0.1;
    int reps = 1, i;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    fn(arg);
    fn(arg);
    CK(cudaStreamSynchronize(stream));
    while (spent < budget) {
        float ms;
        double t;
        CK(cudaEventRecord(e0, stream));
        for (i = 0; i < reps; i++) fn(arg);
        CK(cudaEventRecord(e1, stream));
        CK(cudaEventSynchronize(e1));
        CK(cudaEventElapsedTime(&ms, e0, e1));
        t = ms * 1e-3;
        spent += t;
        if (t / reps < best) best = t / reps;
        if (t < budget / 4) reps *= 2;
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    return best;
}

/* ---- Casts ------------------------------------------------------------------------------------ */

typedef struct {
    size_t n;
    float *src, *dst;
    uint8_t *codes;
    int op; /* 0 memcpy, 1 encode RNE, 2 encode SR, 3 decode, 4 quantise RNE, 5 quantise SR */
    umup_fp8_format fmt;
} cast_job;

static void run_cast(void *p) {
    cast_job *j = (cast_job *)p;
    switch (j->op) {
    case 0: CK(cudaMemcpyAsync(j->dst, j->src, j->n * 4, cudaMemcpyDeviceToDevice, stream)); break;
    case 1: CU(umup_cuda_fp8_encode(gpu, j->codes, j->src, j->n, j->fmt, UMUP_FP8_RNE, 1, 0, 0)); break;
    case 2: CU(umup_cuda_fp8_encode(gpu, j->codes, j->src, j->n, j->fmt, UMUP_FP8_SR, 1, 7, 0)); break;
    case 3: CU(umup_cuda_fp8_decode(gpu, j->dst, j->codes, j->n, j->fmt)); break;
    case 4: CU(umup_cuda_fp8_quantise(gpu, j->dst, j->src, j->n, j->fmt, UMUP_FP8_RNE, 1, 0, 0)); break;
    default: CU(umup_cuda_fp8_quantise(gpu, j->dst, j->src, j->n, j->fmt, UMUP_FP8_SR, 1, 7, 0)); break;
    }
}

static void bench_casts(void) {
    static const struct { const char *name; int op; umup_fp8_format fmt; double bytes; } ops[] = {
        {"memcpy_d2d", 0, UMUP_FP8_E4M3, 8}, {"e4m3_encode_rne_sat", 1, UMUP_FP8_E4M3, 5},
        {"e5m2_encode_sr", 2, UMUP_FP8_E5M2, 5}, {"e4m3_decode", 3, UMUP_FP8_E4M3, 5},
        {"e4m3_quantise_rne", 4, UMUP_FP8_E4M3, 8}, {"e5m2_quantise_sr", 5, UMUP_FP8_E5M2, 8},
        {"e4m3fnuz_encode_rne", 1, UMUP_FP8_E4M3FNUZ, 5}};
    cast_job j;
    float *h;
    double copy_gbs = 0;
    size_t i, k;
    j.n = quick ? (size_t)1 << 24 : (size_t)1 << 27;
    h = (float *)malloc(j.n * 4);
    if (!h) die("bench_casts", "out of memory");
    for (i = 0; i < j.n; i++) h[i] = 4.0f * (2.0f * umup_rng_uniform(1, i) - 1.0f);
    CK(cudaMalloc((void **)&j.src, j.n * 4));
    CK(cudaMalloc((void **)&j.dst, j.n * 4));
    CK(cudaMalloc((void **)&j.codes, j.n));
    CK(cudaMemcpy(j.src, h, j.n * 4, cudaMemcpyHostToDevice));
    for (k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        double t, gbs;
        j.op = ops[k].op;
        j.fmt = ops[k].fmt;
        if (j.op == 3) CU(umup_cuda_fp8_encode(gpu, j.codes, j.src, j.n, j.fmt, UMUP_FP8_RNE, 1, 0, 0));
        t = time_gpu(run_cast, &j);
        gbs = ops[k].bytes * (double)j.n / t / 1e9;
        if (k == 0) copy_gbs = gbs;
        printf("bench cuda_cast op=%s n=%zu gelem_s=%.1f gb_s=%.0f ratio_to_memcpy=%.2f\n", ops[k].name, j.n,
               (double)j.n / t / 1e9, gbs, gbs / copy_gbs);
    }
    { /* bit identity of the SR encode with the CPU on the first 2^20 elements */
        size_t m = (size_t)1 << 20;
        uint8_t *dev = (uint8_t *)malloc(m), *cpu = (uint8_t *)malloc(m);
        CU(umup_cuda_fp8_encode(gpu, j.codes, j.src, m, UMUP_FP8_E5M2, UMUP_FP8_SR, 1, 7, 0));
        CU(umup_cuda_synchronize(gpu));
        CK(cudaMemcpy(dev, j.codes, m, cudaMemcpyDeviceToHost));
        umup_fp8_encode_array(cpu, h, m, UMUP_FP8_E5M2, UMUP_FP8_SR, 1, 7, 0);
        printf("bench cuda_cast check=e5m2_sr_bit_identical_to_cpu n=%zu equal=%d\n", m, memcmp(dev, cpu, m) == 0);
        free(dev);
        free(cpu);
    }
    cudaFree(j.src);
    cudaFree(j.dst);
    cudaFree(j.codes);
    free(h);
}

/* ---- GEMMs ------------------------------------------------------------------------------------- */

typedef struct {
    int M, N, K, kind; /* 0 fp32, 1 tf32, 2 bf16, 3 fp8 cuBLASLt, 4 fp8 library */
    float *a, *b, *c;   /* device fp32: A [M,K], B [N,K], C [M,N] */
    void *a16, *b16;    /* bf16 copies */
    uint8_t *a8, *b8;   /* E4M3 codes */
    cublasHandle_t blas;
    cublasLtHandle_t lt;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulAlgo_t algo;
    void *ws;
    size_t ws_bytes;
} gemm_job;

/* Row-major C = A B^T is column-major C^T = B A^T: cuBLAS's A is our B (op T), its B our A (op N). */
static void run_gemm(void *p) {
    gemm_job *g = (gemm_job *)p;
    const float one = 1.0f, zero = 0.0f;
    switch (g->kind) {
    case 0:
    case 1:
        CB(cublasGemmEx(g->blas, CUBLAS_OP_T, CUBLAS_OP_N, g->N, g->M, g->K, &one, g->b, CUDA_R_32F, g->K, g->a, CUDA_R_32F,
                        g->K, &zero, g->c, CUDA_R_32F, g->N, g->kind ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F,
                        CUBLAS_GEMM_DEFAULT));
        break;
    case 2:
        CB(cublasGemmEx(g->blas, CUBLAS_OP_T, CUBLAS_OP_N, g->N, g->M, g->K, &one, g->b16, CUDA_R_16BF, g->K, g->a16,
                        CUDA_R_16BF, g->K, &zero, g->c, CUDA_R_32F, g->N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
        break;
    case 3:
        CB(cublasLtMatmul(g->lt, g->op, &one, g->b8, g->la, g->a8, g->lb, &zero, g->c, g->lc, g->c, g->lc, &g->algo, g->ws,
                          g->ws_bytes, stream));
        break;
    default:
        CU(umup_cuda_gemm_fp8(gpu, g->M, g->N, g->K, 1.0f, g->a8, g->K, UMUP_FP8_E4M3, g->b8, g->K, UMUP_FP8_E4M3, 0.0f, g->c,
                              g->N));
        break;
    }
}

/* cuBLASLt FP8 set up directly: TN, E4M3 x E4M3, fp32 C/D, default (unit) scales, first heuristic. */
static int lt_setup(gemm_job *g) {
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    cublasLtMatmulPreference_t pref;
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    CB(cublasLtMatmulDescCreate(&g->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    CB(cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    CB(cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    CB(cublasLtMatrixLayoutCreate(&g->la, CUDA_R_8F_E4M3, (uint64_t)g->K, (uint64_t)g->N, g->K));
    CB(cublasLtMatrixLayoutCreate(&g->lb, CUDA_R_8F_E4M3, (uint64_t)g->K, (uint64_t)g->M, g->K));
    CB(cublasLtMatrixLayoutCreate(&g->lc, CUDA_R_32F, (uint64_t)g->N, (uint64_t)g->M, g->N));
    CB(cublasLtMatmulPreferenceCreate(&pref));
    CB(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &g->ws_bytes, sizeof g->ws_bytes));
    CB(cublasLtMatmulAlgoGetHeuristic(g->lt, g->op, g->la, g->lb, g->lc, g->lc, pref, 1, &res, &found));
    cublasLtMatmulPreferenceDestroy(pref);
    if (found < 1) return 0;
    g->algo = res.algo;
    return 1;
}

static void lt_free(gemm_job *g) {
    cublasLtMatrixLayoutDestroy(g->lc);
    cublasLtMatrixLayoutDestroy(g->lb);
    cublasLtMatrixLayoutDestroy(g->la);
    cublasLtMatmulDescDestroy(g->op);
}

/* bf16 bits of x, round to nearest even (umup_fp8.h's generic encoder). */
static uint16_t bf16(float x) {
    static umup_float_format f;
    static int init;
    if (!init) { f = umup_float_format_preset(UMUP_FLOAT_BF16); init = 1; }
    return (uint16_t)umup_float_encode(x, &f, 1, UMUP_FP8_RNE, 0, 0);
}

static void upload_operand(float **d32, void **d16, uint8_t **d8, size_t n, uint64_t seed, float scale) {
    float *h = (float *)malloc(n * 4);
    uint16_t *h16 = (uint16_t *)malloc(n * 2);
    size_t i;
    if (!h || !h16) die("upload_operand", "out of memory");
    for (i = 0; i < n; i++) {
        h[i] = scale * (2.0f * umup_rng_uniform(seed, i) - 1.0f);
        h16[i] = bf16(h[i]);
    }
    CK(cudaMalloc((void **)d32, n * 4));
    CK(cudaMalloc(d16, n * 2));
    CK(cudaMalloc((void **)d8, n));
    CK(cudaMemcpy(*d32, h, n * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(*d16, h16, n * 2, cudaMemcpyHostToDevice));
    CU(umup_cuda_fp8_encode(gpu, *d8, *d32, n, UMUP_FP8_E4M3, UMUP_FP8_RNE, 1, 0, 0));
    CU(umup_cuda_synchronize(gpu));
    free(h);
    free(h16);
}

/* The seam on host buffers: umup_gemm through the backend (fp32, then FP8 with B resident) and the
 * CPU's portable GEMM, C = A B^T. Returns nothing; prints one line. */
static void bench_seam(const char *name, int M, int N, int K) {
    float *A = (float *)malloc(sizeof(float) * (size_t)M * K), *B = (float *)malloc(sizeof(float) * (size_t)N * K);
    float *C = (float *)malloc(sizeof(float) * (size_t)M * N);
    umup_gemm_args g;
    double t, best[3] = {1e30, 1e30, 1e30}, flop = 2.0 * M * N * K;
    int mode, r;
    if (!A || !B || !C) die("bench_seam", "out of memory");
    for (r = 0; r < M * K; r++) A[r] = 2.0f * umup_rng_uniform(3, (uint64_t)r) - 1.0f;
    for (r = 0; r < N * K; r++) B[r] = 2.0f * umup_rng_uniform(4, (uint64_t)r) - 1.0f;
    umup_fp8_quantise_array(A, A, (size_t)M * K, UMUP_FP8_E4M3, UMUP_FP8_RNE, 1, 0, 0);
    umup_fp8_quantise_array(B, B, (size_t)N * K, UMUP_FP8_E4M3, UMUP_FP8_RNE, 1, 0, 0);
    memset(&g, 0, sizeof g);
    g.trans_b = 1; g.M = M; g.N = N; g.K = K; g.alpha = 1.0f; g.A = A; g.lda = K; g.B = B; g.ldb = K; g.C = C; g.ldc = N;
    for (mode = 0; mode < 3; mode++) { /* 0 CPU portable, 1 GPU fp32, 2 GPU FP8 with B resident */
        umup_set_backend(mode ? gpu : NULL);
        g.a_values = g.b_values = mode == 2 ? UMUP_GEMM_VALUES_E4M3 : UMUP_GEMM_VALUES_F32;
        g.weight_key = mode == 2 ? (const void *)B : NULL;
        g.weight_epoch = 1;
        for (r = 0; r < (quick ? 2 : 4); r++) {
            double t0 = now();
            if (umup_gemm(&g) != UMUP_OK) die("umup_gemm", umup_cuda_error(gpu));
            t = now() - t0;
            if (r > 0 && t < best[mode]) best[mode] = t; /* the first call uploads and sets up */
        }
    }
    umup_set_backend(NULL);
    printf("bench cuda_seam shape=%s M=%d N=%d K=%d cpu_gflops=%.1f gpu_fp32_gflops=%.1f gpu_fp8_resident_gflops=%.1f "
           "gpu_fp32_vs_cpu=%.2f gpu_fp8_vs_cpu=%.2f\n", name, M, N, K, flop / best[0] / 1e9, flop / best[1] / 1e9,
           flop / best[2] / 1e9, best[0] / best[1], best[0] / best[2]);
    free(A); free(B); free(C);
}

static void bench_gemms(void) {
    static const struct { const char *name; int M, N, K, trainer; } shapes[] = {
        {"qkv", 4096, 768, 256, 1},      {"attn_o", 4096, 256, 256, 1}, {"mlp_up", 4096, 1024, 256, 1},
        {"mlp_down", 4096, 256, 1024, 1}, {"readout", 4096, 256, 256, 1}, {"cube8192", 8192, 8192, 8192, 0},
        {"fp8_target", 16384, 4096, 4096, 0}};
    peak_row pk = peaks();
    gemm_job g;
    size_t s;
    memset(&g, 0, sizeof g);
    CB(cublasCreate(&g.blas));
    CB(cublasSetStream(g.blas, stream));
    CB(cublasLtCreate(&g.lt));
    g.ws_bytes = (size_t)32 << 20;
    CK(cudaMalloc(&g.ws, g.ws_bytes));
    for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        double tf[5] = {0, 0, 0, 0, 0}, flop;
        int k, lt_ok;
        if (quick && shapes[s].M * (double)shapes[s].N * shapes[s].K > 3e11) continue;
        g.M = shapes[s].M; g.N = shapes[s].N; g.K = shapes[s].K;
        flop = 2.0 * g.M * g.N * g.K;
        upload_operand(&g.a, &g.a16, &g.a8, (size_t)g.M * g.K, 10 + s, 2.0f);
        upload_operand(&g.b, &g.b16, &g.b8, (size_t)g.N * g.K, 20 + s, 1.0f);
        CK(cudaMalloc((void **)&g.c, sizeof(float) * (size_t)g.M * g.N));
        lt_ok = info.fp8 && lt_setup(&g);
        for (k = 0; k < 5; k++) {
            if (k >= 3 && !lt_ok) continue;
            g.kind = k;
            tf[k] = flop / time_gpu(run_gemm, &g) / 1e12;
        }
        printf("bench cuda_gemm shape=%s M=%d N=%d K=%d sgemm_tflops=%.1f tf32_tflops=%.1f bf16_tflops=%.1f "
               "fp8_cublaslt_tflops=%.1f fp8_umup_tflops=%.1f umup_vs_cublaslt=%.3f fp8_vs_bf16=%.2f "
               "sgemm_of_peak=%.2f tf32_of_peak=%.2f bf16_of_peak=%.2f fp8_of_peak=%.2f\n",
               shapes[s].name, g.M, g.N, g.K, tf[0], tf[1], tf[2], tf[3], tf[4], tf[3] > 0 ? tf[4] / tf[3] : 0.0,
               tf[2] > 0 ? tf[4] / tf[2] : 0.0, pk.fp32 > 0 ? tf[0] / pk.fp32 : 0.0, pk.tf32 > 0 ? tf[1] / pk.tf32 : 0.0,
               pk.bf16 > 0 ? tf[2] / pk.bf16 : 0.0, pk.fp8 > 0 ? tf[4] / pk.fp8 : 0.0);
        if (!lt_ok) printf("SKIP [cuda_gemm %s] no FP8 on this device (sm_89+)\n", shapes[s].name);
        else lt_free(&g);
        cudaFree(g.a); cudaFree(g.b); cudaFree(g.c); cudaFree(g.a16); cudaFree(g.b16); cudaFree(g.a8); cudaFree(g.b8);
        if (shapes[s].trainer) bench_seam(shapes[s].name, g.M, g.N, g.K);
    }
    cudaFree(g.ws);
    cublasLtDestroy(g.lt);
    cublasDestroy(g.blas);
}

/* ---- The trainer -------------------------------------------------------------------------------- */

static void bench_trainer(void) {
    const int B = 16, T = 256, d = 256, L = 4, steps = quick ? 2 : 4;
    int32_t *ids = (int32_t *)malloc(sizeof(int32_t) * B * T), *tg = (int32_t *)malloc(sizeof(int32_t) * B * T);
    umup_dataset ds;
    peak_row pk = peaks();
    double cpu_tps = 0;
    int mode, s;
    if (!ids || !tg || umup_dataset_from_corpus(&ds, 2000000, 1, 0.1) != UMUP_OK) die("bench_trainer", "set-up");
    for (mode = 0; mode < 3; mode++) { /* 0 CPU, 1 GPU fp32, 2 GPU FP8 mode + u-muP FP8 simulation */
        umup_model_config mc = umup_model_config_default();
        umup_optim_config oc = umup_optim_config_default(UMUP_OPT_ADAMW);
        umup_trainer *t = NULL;
        umup_cuda_stats st0, st1;
        double t0 = 0, tps, flops;
        float loss = 0;
        size_t np;
        mc.width = d; mc.layers = L; mc.max_seq = T; mc.heads = 0; mc.head_size = 32;
        mc.fp8 = mode == 2 ? UMUP_FP8_SIM_UMUP : UMUP_FP8_SIM_NONE;
        mc.fp8_rounding = UMUP_FP8_SR;
        oc.lr = 0.5;
        if (umup_trainer_create(&t, &mc, &oc, B) != UMUP_OK) die("umup_trainer_create", "failed");
        np = umup_model_num_params(umup_trainer_model(t));
        umup_cuda_stats_get(gpu, &st0);
        umup_set_backend(mode ? gpu : NULL);
        for (s = 0; s <= steps; s++) {
            if (s == 1) t0 = now();
            umup_dataset_batch(&ds, 0, 1, s, B, T, ids, tg);
            if (umup_trainer_step(t, ids, tg, B, T, &loss) != UMUP_OK) die("umup_trainer_step", umup_cuda_error(gpu));
        }
        tps = (double)steps * B * T / (now() - t0);
        umup_set_backend(NULL);
        umup_cuda_stats_get(gpu, &st1);
        if (mode == 0) cpu_tps = tps;
        flops = tps * (6.0 * np + 12.0 * L * T * d);
        printf("bench cuda_train run=%s d=%d layers=%d T=%d B=%d tokens_s=%.0f vs_cpu=%.2f model_gflops=%.1f "
               "mfu_vs_fp32_peak=%.4f gpu_products_fp32=%llu gpu_products_fp8=%llu declined=%llu loss=%.4f\n",
               mode == 0 ? "cpu" : mode == 1 ? "gpu_fp32" : "gpu_fp8_umup_sim", d, L, T, B, tps, tps / cpu_tps, flops / 1e9,
               pk.fp32 > 0 ? flops / (pk.fp32 * 1e12) : 0.0, (unsigned long long)(st1.gemm_fp32 - st0.gemm_fp32),
               (unsigned long long)(st1.gemm_fp8 - st0.gemm_fp8), (unsigned long long)(st1.gemm_declined - st0.gemm_declined),
               (double)loss);
        umup_trainer_destroy(t);
    }
    umup_dataset_free(&ds);
    free(ids);
    free(tg);
}

/* ---- The device trainer -------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    int d, L, T, B;
    double torch_fp32, torch_bf16_best; /* PyTorch 2.11 + unit_scaling on an H100 (the figures) */
} dt_config;
static const dt_config DT_CONFIGS[2] = {{"d256", 256, 4, 256, 16, 245e3, 486e3}, {"d1024", 1024, 8, 1024, 16, 45e3, 438e3}};

static void bench_device_trainer(void) {
    static const struct {
        const char *name;
        umup_cuda_precision prec;
        umup_fp8_sim fp8;
    } runs[5] = {{"fp32", UMUP_CUDA_FP32, UMUP_FP8_SIM_NONE},
                 {"tf32", UMUP_CUDA_TF32, UMUP_FP8_SIM_NONE},
                 {"bf16", UMUP_CUDA_BF16, UMUP_FP8_SIM_NONE},
                 {"fp8", UMUP_CUDA_FP8, UMUP_FP8_SIM_ALL},
                 {"fp8_umup_scheme", UMUP_CUDA_FP8, UMUP_FP8_SIM_UMUP}};
    peak_row pk = peaks();
    umup_dataset ds;
    int ci, ri;
    if (umup_dataset_from_corpus(&ds, 2000000, 1, 0.1) != UMUP_OK) die("bench_device_trainer", "corpus");
    for (ci = 0; ci < (quick ? 1 : 2); ci++) {
        const dt_config *c = &DT_CONFIGS[ci];
        int32_t *ids = (int32_t *)malloc(sizeof(int32_t) * c->B * c->T), *tg = (int32_t *)malloc(sizeof(int32_t) * c->B * c->T);
        if (!ids || !tg) die("bench_device_trainer", "out of memory");
        for (ri = 0; ri < 5; ri++) {
            umup_model_config mc = umup_model_config_default();
            umup_optim_config oc = umup_optim_config_for(UMUP_PARAM_UMUP, UMUP_OPT_ADAMW, 1000);
            umup_cuda_trainer_config tc;
            umup_cuda_trainer *t = NULL;
            const int warm = 3, steps = quick ? 3 : ci ? 10 : 30;
            double t0, sec, tps, flops, peak, torch;
            float loss = 0;
            size_t np;
            umup_status st;
            int s;
            mc.width = c->d;
            mc.layers = c->L;
            mc.max_seq = c->T;
            mc.heads = 0;
            mc.head_size = 64;
            mc.fp8 = runs[ri].fp8;
            mc.fp8_rounding = UMUP_FP8_RNE;
            memset(&tc, 0, sizeof tc);
            tc.precision = runs[ri].prec;
            st = umup_cuda_trainer_create(&t, &mc, &oc, c->B, &tc);
            if (st != UMUP_OK) {
                printf("SKIP [cuda_trainer] config=%s precision=%s: %s\n", c->name, runs[ri].name, umup_cuda_trainer_error(NULL));
                continue;
            }
            np = umup_model_num_params(umup_trainer_model(umup_cuda_trainer_host(t)));
            t0 = 0;
            for (s = 0; s < warm + steps; s++) {
                int last = s == warm + steps - 1;
                if (s == warm) {
                    umup_cuda_trainer_step_count(t); /* waits for the warm-up steps */
                    t0 = now();
                }
                umup_dataset_batch(&ds, 0, 1, s, c->B, c->T, ids, tg);
                st = umup_cuda_trainer_step(t, ids, tg, c->B, c->T, last || s < warm ? &loss : NULL);
                if (st != UMUP_OK) die("umup_cuda_trainer_step", umup_cuda_trainer_error(t));
            }
            sec = now() - t0;
            tps = (double)steps * c->B * c->T / sec;
            flops = tps * (6.0 * (double)np + 12.0 * c->L * c->T * c->d);
            peak = runs[ri].prec == UMUP_CUDA_FP32 ? pk.fp32 : runs[ri].prec == UMUP_CUDA_TF32 ? pk.tf32
                 : runs[ri].prec == UMUP_CUDA_BF16 ? pk.bf16 : pk.fp8;
            torch = runs[ri].prec == UMUP_CUDA_FP32 || runs[ri].prec == UMUP_CUDA_TF32 ? c->torch_fp32 : c->torch_bf16_best;
            printf("bench cuda_trainer config=%s precision=%s d=%d layers=%d T=%d B=%d head_size=64 params=%zu tokens_s=%.0f "
                   "step_ms=%.2f model_tflops=%.1f mfu=%.4f pytorch_same_class=%.0f vs_pytorch=%.2f loss=%.4f device_gb=%.2f\n",
                   c->name, runs[ri].name, c->d, c->L, c->T, c->B, np, tps, 1e3 * sec / steps, flops / 1e12,
                   peak > 0 ? flops / (peak * 1e12) : 0.0, torch, tps / torch, (double)loss,
                   umup_cuda_trainer_device_bytes(t) / 1e9);
            fflush(stdout);
            umup_cuda_trainer_destroy(t);
        }
        free(ids);
        free(tg);
    }
    umup_dataset_free(&ds);
}

int main(int argc, char **argv) {
    umup_cuda_config cfg = umup_cuda_config_default();
    peak_row pk;
    quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    cfg.fp8 = 1;
    if (umup_cuda_backend_create(&gpu, &cfg) != UMUP_OK) {
        printf("SKIP [cuda_cast] no GPU here: %s\n", umup_cuda_error(NULL));
        printf("SKIP [cuda_gemm] no GPU here\n");
        printf("SKIP [cuda_train] no GPU here\n");
        printf("SKIP [cuda_trainer] no GPU here\n");
        return 0;
    }
    umup_cuda_device(gpu, &info);
    stream = (cudaStream_t)umup_cuda_stream(gpu);
    pk = peaks();
    printf("bench cuda_device name=\"%s\" cc=%d.%d sms=%d clock_mhz=%.0f mem_gib=%.1f peak_fp32_tflops=%.1f "
           "peak_tf32_tflops=%.1f peak_bf16_tflops=%.1f peak_fp8_tflops=%.1f%s\n", info.name, info.cc_major,
           info.cc_minor, info.sm_count, info.clock_khz / 1e3, (double)info.total_mem / 1073741824.0, pk.fp32, pk.tf32,
           pk.bf16, pk.fp8, pk.cc ? "" : " (peaks unknown for this architecture)");
    bench_casts();
    bench_gemms();
    bench_trainer();
    bench_device_trainer();
    umup_cuda_backend_destroy(gpu);
    return 0;
}
