/* umup_fp8.h - v0.2.5 - exact small-float numerics in one C header (part of umup) - MIT licence (text at the end of this file)
 *
 * OCP FP8 E4M3 / E5M2, the FNUZ variants, Graphcore-style FP8, BF16, FP16, the OCP MX element
 * types E2M1 / E2M3 / E3M2 with E8M0 block scales: encode, decode and "quantise" (float -> format
 * -> float) with round-to-nearest-even or stochastic rounding, saturating or not, scalar and bulk,
 * plus the reproducible counter-based RNG the stochastic rounding uses. No dependency on umup.h;
 * libc only (not even libm).
 *
 * ---------------------------------------------------------------------------------------------
 * USING IT
 * ---------------------------------------------------------------------------------------------
 *     #define UMUP_FP8_IMPLEMENTATION      // in exactly one .c file (UMUP_IMPLEMENTATION works too)
 *     #include "umup_fp8.h"
 *
 *     uint8_t c = umup_fp8_from_float(1.0625f, UMUP_FP8_E4M3, 1);   // 0x38: the tie goes to even
 *     float   v = umup_fp8_to_float(c, UMUP_FP8_E4M3);               // 1.0f
 *     umup_fp8_quantise_array(dst, src, n, UMUP_FP8_E5M2, UMUP_FP8_SR, 1, seed, counter);
 *
 * Include it without the define anywhere else. umup.h includes this header and compiles its
 * implementation under UMUP_IMPLEMENTATION, so a program using both defines only that.
 * Options: UMUP_STATIC (every function static to the including file); UMUP_FP8_NO_SIMD (leave
 * the saturating bulk quantise and SR encode to the compiler's vectoriser: without it, where the
 * compiler targets AVX-512 (__AVX512F__), those loops are written with AVX-512 intrinsics, 1.8-2.6x
 * faster, bit for bit the same). Never compile this header with -ffast-math: the casts rely on IEEE semantics (decode
 * never uses float arithmetic, so it is also immune to FTZ/DAZ; the bulk paths use integer
 * arithmetic, and where they round a subnormal result with a float addition or multiplication it is
 * exact and FTZ/DAZ cannot change it).
 *
 * ---------------------------------------------------------------------------------------------
 * THE FORMATS (value of code S.E.M with m mantissa bits: E != 0 gives (-1)^S 2^(E-bias) (1+M/2^m),
 * E == 0 gives (-1)^S 2^(1-bias) M/2^m)
 * ---------------------------------------------------------------------------------------------
 *   name           bits  bias  max (code)        min normal  min subnormal  Inf   NaN              -0
 *   E4M3 (OCP FN)  1.4.3   7   448 (0x7E)        2^-6        2^-9           none  S.1111.111        0x80
 *   E5M2 (OCP)     1.5.2  15   57344 (0x7B)      2^-14       2^-16          0x7C  0x7D-0x7F (+sign) 0x80
 *   E4M3FNUZ       1.4.3   8   240 (0x7F)        2^-7        2^-10          none  0x80 only         none
 *   E5M2FNUZ       1.5.2  16   57344 (0x7F)      2^-15       2^-17          none  0x80 only         none
 *   E4M3B11FNUZ    1.4.3  11   30 (0x7F)         2^-10       2^-13          none  0x80 only         none
 *   GC E4M3        1.4.3   8   240 (0x7F)        2^-7        2^-10          none  none              0x80
 *   GC E5M2        1.5.2  16   57344 (0x7F)      2^-15       2^-17          none  none              0x80
 *   BF16           1.8.7 127   ~3.39e38          2^-126      2^-133         IEEE  IEEE              yes
 *   FP16           1.5.10 15   65504             2^-14       2^-24          IEEE  IEEE              yes
 *   E2M1 (MX FP4)  1.2.1   1   6                 1           0.5            none  none              yes
 *   E2M3 (MX FP6)  1.2.3   1   7.5               1           0.125          none  none              yes
 *   E3M2 (MX FP6)  1.3.2   3   28                0.25        0.0625         none  none              yes
 *   E8M0 (MX scale) 0.8.0 127  2^127 (0xFE)      2^-127 (0x00)  -           none  0xFF              -
 * "GC" is the grid of the reference u-muP library's FPFormat(4,3) / FPFormat(5,2) (bias 2^(e-1),
 * every code finite). E8M0 is unsigned, has no zero and only encodes powers of two.
 * Any other (exponent bits, mantissa bits, bias, special-value convention) with at most 16 bits
 * in all is available through umup_float_format (section "Generic formats").
 *
 * ---------------------------------------------------------------------------------------------
 * ROUNDING AND OVERFLOW (E4M3/E5M2 as in the OCP 8-bit Floating Point Specification; non-saturating
 * casts equal ml_dtypes / numpy astype, saturating ones NVIDIA's cvt.rn.satfinite on non-NaN inputs)
 * ---------------------------------------------------------------------------------------------
 * Round-to-nearest-even is computed as if the exponent range were unbounded, then overflow is
 * checked. Worked example, E4M3 (3 mantissa bits): 1.0625 = 1.0001b lies exactly halfway between
 * 1.000b (code 0x38) and 1.001b (0x39); the tie goes to the even mantissa 000, so 0x38. 1.1875 =
 * 1.0011b is halfway between 1.001b and 1.010b and goes up to the even 1.010b = 0x3A. The same rule
 * holds at the overflow boundary: 464 is halfway between 448 (mantissa 110, even) and the virtual
 * 480, so 464 -> 448 while anything above 464 overflows; E5M2 61440 ties to the virtual 2^16 and
 * overflows; 2^-10 (half the E4M3 min subnormal) ties to 0.
 * Overflow (|x| past the threshold, or +-Inf):
 *   saturate != 0 (NVIDIA "satfinite", the default for training casts): +-max; NaN stays NaN.
 *   saturate == 0 (exactly numpy/ml_dtypes astype): E4M3 -> NaN 0x7F|sign, E5M2 and IEEE -> +-Inf,
 *                  FNUZ -> 0x80; formats without Inf or NaN (GC, MX elements) always saturate.
 * NaN input: NaN output, keeping the sign where the format has one: E4M3 0x7F|s, E5M2 0x7E|s,
 *   BF16/FP16 the quiet NaN with the sign, FNUZ 0x80. Formats without NaN (GC, MX elements)
 *   encode NaN as +0 (umup_float_quantise_array passes NaN through unchanged instead).
 * -0.0 and negatives that round to zero give the negative zero code (0x80), except FNUZ, which
 *   has no -0 and gives 0x00 (never 0x80, its NaN).
 *
 * Stochastic rounding (SR): with d the number of dropped significand bits (23 - m for normal
 * results, more in the subnormal range) and rem the dropped bits, round the magnitude up iff
 *     rem + (r >> (32 - d)) >= 2^d          (r = 32 random bits)
 * so P(up) = rem / 2^d exactly whenever d <= 32, i.e. the result is unbiased (E[SR(x)] = x) for
 * every input in range down to 2^-18 (E4M3) / 2^-25 (E5M2); below that the remainder is truncated
 * to 32 bits (bias < 2^-32 of a subnormal step). NaN and Inf are filtered before any random bits
 * are added, and overflow is checked after rounding (saturating to +-max, or as above).
 * The fewer-bits modes (UMUP_FP8_SR16, umup_float_encode(..., sr_bits)) use only the top n bits of
 * r and truncate rem to n bits, like Blackwell's cvt.rs (16 bits) or gfloat's StochasticFastest:
 * P(up) = floor(rem 2^n / 2^d) / 2^n, biased toward zero by less than 2^-n of a step.
 *
 * The RNG is counter-based: umup_rng_u32(seed, counter) is a pure function, so element i of a
 * bulk call with (seed, counter) uses umup_rng_u32(seed, counter + i), whatever the thread count
 * or the split of an array into calls.
 */
#ifndef UMUP_FP8_H
#define UMUP_FP8_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ==== Shared definitions (also used by umup.h) ============================================== */
#ifndef UMUP_COMMON_DEFINED
#define UMUP_COMMON_DEFINED

/* The library's version (umup.h, umup_fp8.h, umup_cblas.h and umup_cuda.h share it). UMUP_VERSION_STRING is
 * "MAJOR.MINOR.PATCH"; the Makefile's pkg-config file and CMakeLists.txt read it from this line. */
#define UMUP_VERSION_MAJOR 0
#define UMUP_VERSION_MINOR 2
#define UMUP_VERSION_PATCH 5
#define UMUP_VERSION_STRING "0.2.5"

#ifndef UMUPDEF
#ifdef UMUP_STATIC
#if defined(__GNUC__) || defined(__clang__)
#define UMUPDEF static __attribute__((unused)) /* no warning for functions this file does not call */
#else
#define UMUPDEF static
#endif
#else
#define UMUPDEF extern
#endif
#endif

/* Status codes returned by every fallible umup function. UMUP_OK is 0. */
typedef enum {
    UMUP_OK = 0,
    UMUP_ERR_NULL,          /* a required pointer argument was NULL */
    UMUP_ERR_INVALID_ARG,   /* an argument is out of its domain (mult <= 0, unknown enum, ...) */
    UMUP_ERR_SHAPE,         /* a dimension is zero/negative or shapes do not fit together */
    UMUP_ERR_NOMEM,         /* an allocation failed */
    UMUP_ERR_NONFINITE,     /* a NaN or Inf was found where a finite value is required */
    UMUP_ERR_IO,            /* a file could not be opened, read, written or renamed */
    UMUP_ERR_FORMAT,        /* a file is corrupt, truncated or not in the expected format */
    UMUP_ERR_MISMATCH,      /* a file is valid but does not match the model/config it is loaded into */
    UMUP_ERR_UNSUPPORTED,   /* the request is valid but not supported by this build (or device) */
    UMUP_ERR_DEVICE,        /* a device (GPU) runtime or library call failed; the backend keeps the message */
    UMUP_ERR_COMM           /* an exchange between processes failed or timed out (data parallelism, umup_mpi.h,
                               which keeps the message) */
} umup_status;

/* A short English description of a status code (never NULL; static storage). */
UMUPDEF const char *umup_status_string(umup_status s);

#endif /* UMUP_COMMON_DEFINED */

/* ==== 1. FP8 formats and scalar casts ======================================================== */

/* The 8-bit formats (the numbering is stable: new formats are added at the end); see the table at
 * the top of the file. */
typedef enum {
    UMUP_FP8_E4M3 = 0,      /* OCP E4M3 ("E4M3FN"): bias 7, max 448, no Inf, NaN S.1111.111 */
    UMUP_FP8_E5M2,          /* OCP E5M2: bias 15, max 57344, IEEE-style Inf and NaN */
    UMUP_FP8_E4M3FNUZ,      /* bias 8, max 240, NaN = 0x80 only, no -0 (AMD MI300) */
    UMUP_FP8_E5M2FNUZ,      /* bias 16, max 57344, NaN = 0x80 only, no -0 */
    UMUP_FP8_E4M3B11FNUZ,   /* bias 11, max 30, NaN = 0x80 only, no -0 */
    UMUP_FP8_GC_E4M3,       /* the reference u-muP library's FPFormat(4,3): bias 8, max 240, all codes finite */
    UMUP_FP8_GC_E5M2,       /* the reference u-muP library's FPFormat(5,2): bias 16, max 57344, all finite */
    UMUP_FP8_FORMAT_COUNT
} umup_fp8_format;

/* Rounding modes of the casts. */
typedef enum {
    UMUP_FP8_RNE = 0,       /* round to nearest, ties to even */
    UMUP_FP8_SR = 1,        /* stochastic rounding with 32 random bits per element (exact, unbiased) */
    UMUP_FP8_SR16 = 2       /* stochastic rounding with 16 random bits, remainder truncated (cvt.rs-like) */
} umup_fp8_rounding;

/* Encode x into fmt with round-to-nearest-even. saturate != 0: overflow and +-Inf give +-max;
 * saturate == 0: the ml_dtypes/numpy result (see the top of the file). NaN gives NaN.
 * An fmt outside the enum returns 0. */
UMUPDEF uint8_t umup_fp8_from_float(float x, umup_fp8_format fmt, int saturate);

/* Encode x into fmt with exact stochastic rounding driven by the 32 bits random_bits: the
 * magnitude rounds up iff rem + (random_bits >> (32 - d)) >= 2^d (see the top of the file).
 * Representable inputs are returned exactly for every random_bits; NaN/Inf never change class. */
UMUPDEF uint8_t umup_fp8_from_float_sr(float x, umup_fp8_format fmt, int saturate, uint32_t random_bits);

/* Decode an FP8 code exactly (256-entry table per format; NaN codes give a quiet NaN with the
 * code's sign, E5M2 0x7C/0xFC give +-Inf). An fmt outside the enum returns NaN. */
UMUPDEF float umup_fp8_to_float(uint8_t code, umup_fp8_format fmt);

/* Format queries: largest finite value, smallest positive normal, smallest positive subnormal,
 * and a short lower-case name ("e4m3", "e5m2", "e4m3fnuz", "e5m2fnuz", "e4m3b11fnuz", "gc_e4m3",
 * "gc_e5m2"). An fmt outside the enum gives 0 (or "?"). */
UMUPDEF float umup_fp8_max(umup_fp8_format fmt);
UMUPDEF float umup_fp8_min_normal(umup_fp8_format fmt);
UMUPDEF float umup_fp8_min_subnormal(umup_fp8_format fmt);
UMUPDEF const char *umup_fp8_name(umup_fp8_format fmt);

/* Parse a name as printed by umup_fp8_name (also "e4m3fn", "fp8e4m3", case-insensitive).
 * Returns UMUP_ERR_INVALID_ARG for an unknown name, UMUP_ERR_NULL for NULL pointers. */
UMUPDEF umup_status umup_fp8_parse(const char *name, umup_fp8_format *out);

/* ==== 2. Reproducible counter-based RNG ======================================================= */

/* 32 random bits as a pure function of (seed, counter): a SplitMix64-derived key from the seed and
 * the high 32 bits of the counter, and two rounds of the lowbias32 integer hash on the low 32 bits.
 * Distinct counters under one seed give distinct, well-mixed values within each 2^32 block; the
 * stream is identical whatever the thread count or the way an array is split into calls. */
UMUPDEF uint32_t umup_rng_u32(uint64_t seed, uint64_t counter);

/* A float uniform in [0, 1) with 24 random bits: (umup_rng_u32(seed, counter) >> 8) * 2^-24. */
UMUPDEF float umup_rng_uniform(uint64_t seed, uint64_t counter);

/* ==== 3. Bulk FP8 casts ======================================================================= */
/* All bulk functions: n may be 0 (nothing happens); a NULL array with n > 0 returns UMUP_ERR_NULL,
 * a count no float array can have (n > PTRDIFF_MAX / 4, e.g. an unsigned 0 - 1) UMUP_ERR_SHAPE,
 * an invalid fmt or rounding returns UMUP_ERR_INVALID_ARG; on error nothing is written. For the
 * stochastic modes element i uses the random bits umup_rng_u32(seed, counter + i); seed and counter
 * are ignored for UMUP_FP8_RNE. Every element equals the scalar function's result for the same
 * input and random bits. Loops carry OpenMP pragmas (active with -fopenmp) for large n; results
 * never depend on the thread count. */

/* dst[i] = encode(src[i]) for i < n. */
UMUPDEF umup_status umup_fp8_encode_array(uint8_t *dst, const float *src, size_t n, umup_fp8_format fmt,
                                          umup_fp8_rounding rounding, int saturate, uint64_t seed,
                                          uint64_t counter);

/* dst[i] = decode(src[i]) for i < n. */
UMUPDEF umup_status umup_fp8_decode_array(float *dst, const uint8_t *src, size_t n, umup_fp8_format fmt);

/* dst[i] = decode(encode(src[i])): what FP8 simulation of a matmul input does. dst may equal src
 * (in place). With saturate == 0 out-of-range values become NaN or Inf as the format says. In the
 * formats without NaN (gc_e4m3, gc_e5m2) a NaN input is passed through unchanged. With saturate set
 * the codes are decoded arithmetically in the encoding loop, or with UMUP_FP8_SR the float's bits
 * are rounded directly (no table lookup; the same bits). */
UMUPDEF umup_status umup_fp8_quantise_array(float *dst, const float *src, size_t n, umup_fp8_format fmt,
                                            umup_fp8_rounding rounding, int saturate, uint64_t seed,
                                            uint64_t counter);

/* ==== 4. Generic formats (BF16, FP16, MX elements, any e/m/bias up to 16 bits) ================ */

/* How a format spends its codes on special values. */
typedef enum {
    UMUP_SPECIALS_IEEE = 0, /* exponent all ones: mantissa 0 = Inf, else NaN (FP16, BF16, OCP E5M2) */
    UMUP_SPECIALS_FN,       /* no Inf; only the all-ones code S.1...1 is NaN (OCP E4M3) */
    UMUP_SPECIALS_FNUZ,     /* no Inf, no -0; the code 1.0...0 is the only NaN (AMD FNUZ types) */
    UMUP_SPECIALS_NONE      /* every code finite; no Inf, no NaN (MX element types, GC FPFormat) */
} umup_float_specials;

/* A sign-magnitude binary floating-point format: 1 sign bit, exp_bits exponent bits (1..8),
 * man_bits mantissa bits (0..10 for exp_bits <= 5, up to 7 for exp_bits 8; 1 + exp + man <= 16),
 * exponent bias, special-value convention. Codes are the low 1 + exp_bits + man_bits bits of a
 * uint32_t with the sign in the top one. */
typedef struct {
    int exp_bits;
    int man_bits;
    int bias;
    umup_float_specials specials;
} umup_float_format;

/* Named presets of umup_float_format. */
typedef enum {
    UMUP_FLOAT_E4M3 = 0, UMUP_FLOAT_E5M2, UMUP_FLOAT_E4M3FNUZ, UMUP_FLOAT_E5M2FNUZ,
    UMUP_FLOAT_E4M3B11FNUZ, UMUP_FLOAT_GC_E4M3, UMUP_FLOAT_GC_E5M2,  /* same order as umup_fp8_format */
    UMUP_FLOAT_BF16, UMUP_FLOAT_FP16, UMUP_FLOAT_E2M1, UMUP_FLOAT_E2M3, UMUP_FLOAT_E3M2,
    UMUP_FLOAT_PRESET_COUNT
} umup_float_preset;

/* The format of a preset ({0,0,0,0}, which umup_float_format_check rejects, for an unknown one). */
UMUPDEF umup_float_format umup_float_format_preset(umup_float_preset preset);

/* UMUP_OK if f describes a supported format, else UMUP_ERR_NULL / UMUP_ERR_INVALID_ARG
 * (bit counts out of range, more than 16 bits, bias making the range leave float's, man_bits 0
 * with IEEE or FN specials). */
UMUPDEF umup_status umup_float_format_check(const umup_float_format *f);

/* Total bits of a code (1 + exp_bits + man_bits); 0 for an invalid format. */
UMUPDEF int umup_float_format_bits(const umup_float_format *f);

/* Largest finite value, smallest positive normal, smallest positive subnormal (0 when invalid). */
UMUPDEF float umup_float_format_max(const umup_float_format *f);
UMUPDEF float umup_float_format_min_normal(const umup_float_format *f);
UMUPDEF float umup_float_format_min_subnormal(const umup_float_format *f);

/* Encode x into f. rounding: UMUP_FP8_RNE (random_bits ignored), UMUP_FP8_SR (32 bits), or
 * UMUP_FP8_SR16 (16 bits); sr_bits, when in 1..32, overrides the number of random bits used
 * (the top sr_bits bits of random_bits; 0 means "as the rounding mode says"). Same rules as the
 * FP8 functions. An invalid f returns 0. */
UMUPDEF uint32_t umup_float_encode(float x, const umup_float_format *f, int saturate,
                                   umup_fp8_rounding rounding, int sr_bits, uint32_t random_bits);

/* Decode a code of f exactly (integer construction of the float bits). Invalid f gives NaN. */
UMUPDEF float umup_float_decode(uint32_t code, const umup_float_format *f);

/* dst[i] = decode(encode(src[i])) in format f; NaN inputs stay NaN even in formats without NaN.
 * dst may equal src. Errors as for the FP8 bulk functions, plus umup_float_format_check(f). */
UMUPDEF umup_status umup_float_quantise_array(float *dst, const float *src, size_t n,
                                              const umup_float_format *f, umup_fp8_rounding rounding,
                                              int saturate, uint64_t seed, uint64_t counter);

/* ==== 5. E8M0 scales and MX block quantisation (OCP MX v1.0) ================================== */

#define UMUP_MX_BLOCK 32

/* E8M0 (unsigned power of two, bias 127): 0x00..0xFE decode to 2^(code-127), 0xFF is NaN. */
UMUPDEF float umup_e8m0_to_float(uint8_t code);

/* MX block encode (OCP MX v1.0, section 6.3): for each block of UMUP_MX_BLOCK consecutive elements
 * (the last block may be shorter), shared exponent E = floor(log2(amax)) - emax_elem, where
 * emax_elem is the exponent of elem's largest normal (E4M3: 8, E5M2: 15, E2M1: 2, E2M3: 2,
 * E3M2: 4), clamped to [-127, 127]; the scale code is E + 127 (0 when the block is all zero, 0xFF
 * when it holds a NaN or Inf). Each element is encoded as RNE(v / 2^E) saturated to +-max
 * (OCP: elements never overflow to Inf/NaN). scales has ceil(n / 32) entries; elems has n entries,
 * one code per byte (not bit-packed). elem must have at most 8 bits.
 * Errors: UMUP_ERR_NULL, UMUP_ERR_INVALID_ARG (invalid or > 8-bit elem format). */
UMUPDEF umup_status umup_mx_encode(uint8_t *scales, uint8_t *elems, const float *src, size_t n,
                                   const umup_float_format *elem);

/* Inverse of umup_mx_encode: dst[i] = decode(elems[i]) * 2^(scales[i/32] - 127); a 0xFF scale
 * gives NaN for its whole block. */
UMUPDEF umup_status umup_mx_decode(float *dst, const uint8_t *scales, const uint8_t *elems, size_t n,
                                   const umup_float_format *elem);

/* dst = umup_mx_decode(umup_mx_encode(src)) without the intermediate arrays; dst may equal src. */
UMUPDEF umup_status umup_mx_quantise(float *dst, const float *src, size_t n, const umup_float_format *elem);

#ifdef __cplusplus
}
#endif

#endif /* UMUP_FP8_H */

/* ============================================================================================ */
/*                                      IMPLEMENTATION                                          */
/* ============================================================================================ */
/* ---- The integer core ------------------------------------------------------------------------
 * The encoder, the decoder and the RNG as pure integer functions of bit patterns. Compiled with the
 * implementation, or alone with UMUP_FP8_CORE defined (umup_cuda.h does that): under nvcc they are
 * __host__ __device__, so the GPU kernels run exactly this code and produce every bit the CPU does. */
#if defined(UMUP_IMPLEMENTATION) || defined(UMUP_FP8_IMPLEMENTATION) || defined(UMUP_FP8_CORE)
#ifndef UMUP_FP8_CORE_DONE
#define UMUP_FP8_CORE_DONE

#ifdef __CUDACC__
#define UMUP__HD __host__ __device__
#else
#define UMUP__HD
#endif

/* Everything the encoder needs, derived once from a umup_float_format. Codes are magnitudes (the
 * sign bit is added at the end, at bit position e + m). */
typedef struct {
    uint32_t e, m;          /* exponent and mantissa bits */
    int32_t bias;
    int kind;               /* umup_float_specials */
    uint32_t maxcode;       /* magnitude code of the largest finite value */
    uint32_t ovfcode;       /* magnitude code of a non-saturating overflow (Inf, NaN, or max for NONE) */
    uint32_t nancode;       /* magnitude code of NaN (0 for NONE: no NaN) */
    uint32_t nan_signed;    /* 1 if NaN keeps the input's sign */
} umup__fmt;

/* ---- The encoder ---------------------------------------------------------------------------
 * One integer routine on the float's bit pattern for every format and rounding mode
 * (the rules at the top of the file in exact integer form). Branch-free apart from loop-invariant
 * tests, so the bulk loops below auto-vectorise.
 *   sig = 1.mantissa (24 bits, no implicit bit for float subnormals), e = unbiased exponent;
 *   d   = dropped bits = 23 - m, plus (emin - e) below the format's normal range;
 *   q   = sig >> d, rem = sig mod 2^d; code = (max(e + bias - 1, 0) << m) + q + up.
 * Adding q (which holds the implicit bit) to (biased exponent - 1) << m lets a mantissa carry, or a
 * subnormal rounding up into the min normal, propagate into the exponent by itself.
 * nb == 0 selects RNE; nb in 1..32 selects SR with nb random bits (the top nb bits of r). */
UMUP__HD static inline uint32_t umup__encode_bits(uint32_t bits, uint32_t m, int32_t bias, uint32_t maxcode,
                                                  uint32_t ovfcode, uint32_t nancode, uint32_t nan_signed,
                                                  int fnuz, uint32_t signpos, int sat, uint32_t nb, uint32_t r) {
    uint32_t sign = bits >> 31;
    uint32_t a = bits & 0x7FFFFFFFu;
    uint32_t ef = a >> 23;
    uint32_t sig = (a & 0x7FFFFFu) | ((uint32_t)(ef != 0u) << 23);
    int32_t e = (int32_t)(ef + (uint32_t)(ef == 0u)) - 127;
    int32_t sh = (1 - bias) - e;
    int32_t eb = e + bias - 1;
    uint32_t d, q, rem, up, code, res, isnan, keep;
    sh = sh < 0 ? 0 : sh;
    eb = eb < 0 ? 0 : eb;
    d = (uint32_t)(23 - (int32_t)m + sh);
    if (nb == 0u) {
        /* RNE. For d >= 25 the value is below half the smallest step: it rounds to 0. */
        uint32_t dc = d > 25u ? 25u : d;
        q = (sig + ((1u << (dc - 1u)) - 1u) + ((sig >> dc) & 1u)) >> dc; /* rounded: carries into q */
        rem = 0u;
        up = 0u;
    } else {
        /* SR: up iff t + rr >= 2^k with k = min(d, nb) bits of remainder and randomness. */
        uint32_t dc = d > 31u ? 31u : d;
        uint32_t k = d < nb ? d : nb;
        uint32_t tsh = d - k;
        uint32_t t, mask, rr;
        tsh = tsh > 31u ? 31u : tsh;
        q = sig >> dc;
        rem = sig & ((1u << dc) - 1u);
        t = rem >> tsh;
        mask = 0xFFFFFFFFu >> (32u - k);
        rr = r >> (32u - k);
        up = (uint32_t)(t > mask - rr);
    }
    code = ((uint32_t)eb << m) + q + up;
    res = code > maxcode ? (sat ? maxcode : ovfcode) : code;
    isnan = (uint32_t)(a > 0x7F800000u);
    res = isnan ? nancode : res;
    keep = isnan ? nan_signed : (uint32_t)!(fnuz && res == 0u);
    return res | ((sign & keep) << signpos);
}

/* Encode the float with bit pattern `bits` into p: what every FP8 encoder of this header and of the
 * GPU kernels runs (formats without Inf or NaN always saturate). */
UMUP__HD static inline uint32_t umup__encode_p(uint32_t bits, const umup__fmt *p, int sat, uint32_t nb, uint32_t r) {
    return umup__encode_bits(bits, p->m, p->bias, p->maxcode, p->ovfcode, p->nancode, p->nan_signed,
                             p->kind == UMUP_SPECIALS_FNUZ, p->e + p->m, sat || p->kind == UMUP_SPECIALS_NONE, nb, r);
}

/* Exact decode of a code of p: the float's bit pattern, built with integer operations only. */
UMUP__HD static inline uint32_t umup__decode_bits(uint32_t code, const umup__fmt *p) {
    uint32_t signpos = p->e + p->m;
    uint32_t sign = (code >> signpos) & 1u;
    uint32_t mag = code & ((1u << signpos) - 1u);
    uint32_t E = mag >> p->m, M = mag & ((1u << p->m) - 1u);
    code &= (1u << (signpos + 1u)) - 1u;
    if (p->kind == UMUP_SPECIALS_FNUZ && code == (1u << signpos)) return 0x7FC00000u;
    if ((p->kind == UMUP_SPECIALS_FN && mag == p->nancode) ||
        (p->kind == UMUP_SPECIALS_IEEE && E == (1u << p->e) - 1u))
        return (sign << 31) | (M ? 0x7FC00000u : 0x7F800000u);
    if (E != 0u) return (sign << 31) | ((uint32_t)((int32_t)E - p->bias + 127) << 23) | (M << (23u - p->m));
    if (M == 0u) return sign << 31;
    if (p->e == 8u && p->bias == 127) return (sign << 31) | (M << (23u - p->m)); /* a float subnormal */
    {
        /* subnormal: M * 2^(1 - bias - m); normalise M (leading bit at position lz) */
        uint32_t lz = 0, t = M;
        while (t > 1u) { t >>= 1; lz++; }
        return (sign << 31) | ((uint32_t)((int32_t)lz + 1 - p->bias - (int32_t)p->m + 127) << 23) |
               ((M - (1u << lz)) << (23u - lz));
    }
}

/* The parameters of an 8-bit format (NULL for an fmt outside the enum). Host code only. */
static inline const umup__fmt *umup__fp8_params(umup_fp8_format fmt) {
    /* Filled from the presets on first use is racy; instead keep constant tables. */
    static const umup__fmt tab[UMUP_FP8_FORMAT_COUNT] = {
        {4, 3, 7, UMUP_SPECIALS_FN, 0x7Eu, 0x7Fu, 0x7Fu, 1},
        {5, 2, 15, UMUP_SPECIALS_IEEE, 0x7Bu, 0x7Cu, 0x7Eu, 1},
        {4, 3, 8, UMUP_SPECIALS_FNUZ, 0x7Fu, 0x80u, 0x80u, 0},
        {5, 2, 16, UMUP_SPECIALS_FNUZ, 0x7Fu, 0x80u, 0x80u, 0},
        {4, 3, 11, UMUP_SPECIALS_FNUZ, 0x7Fu, 0x80u, 0x80u, 0},
        {4, 3, 8, UMUP_SPECIALS_NONE, 0x7Fu, 0x7Fu, 0u, 0},
        {5, 2, 16, UMUP_SPECIALS_NONE, 0x7Fu, 0x7Fu, 0u, 0}
    };
    if ((int)fmt < 0 || (int)fmt >= (int)UMUP_FP8_FORMAT_COUNT) return NULL;
    return &tab[fmt];
}

static inline uint32_t umup__round_bits(umup_fp8_rounding rounding, int sr_bits) {
    if (rounding == UMUP_FP8_RNE) return 0u;
    if (sr_bits >= 1 && sr_bits <= 32) return (uint32_t)sr_bits;
    return rounding == UMUP_FP8_SR16 ? 16u : 32u;
}

static inline int umup__rounding_ok(umup_fp8_rounding r) {
    return r == UMUP_FP8_RNE || r == UMUP_FP8_SR || r == UMUP_FP8_SR16;
}

/* ---- RNG primitives (umup_rng_u32 = umup__rng_block with umup__rng_key) ---------------------- */

UMUP__HD static inline uint64_t umup__mix64(uint64_t z) { /* SplitMix64 finaliser (Steele, Lea, Flood 2014) */
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

UMUP__HD static inline uint32_t umup__lowbias32(uint32_t x) { /* C. Wellons' lowbias32 integer hash */
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    x ^= x >> 16;
    return x;
}

/* Key for the 2^32-block of counters with high half `hi`. */
UMUP__HD static inline uint64_t umup__rng_key(uint64_t seed, uint64_t hi) {
    return umup__mix64(umup__mix64(seed + 0x9E3779B97F4A7C15ull) ^ (hi * 0xD1B54A32D192ED03ull + 1u));
}

UMUP__HD static inline uint32_t umup__rng_block(uint32_t k1, uint32_t k2, uint32_t lo) {
    return umup__lowbias32(umup__lowbias32(lo + k1) ^ k2);
}

#endif /* UMUP_FP8_CORE_DONE */
#endif

#if defined(UMUP_IMPLEMENTATION) || defined(UMUP_FP8_IMPLEMENTATION)
#ifndef UMUP_FP8_IMPLEMENTATION_DONE
#define UMUP_FP8_IMPLEMENTATION_DONE

#include <string.h>

/* A count of n elements of `size` bytes that no array can hold: more than PTRDIFF_MAX bytes, the
 * largest object C allows (n = (size_t)-1 from an unsigned 0 - 1, say). Bulk functions (here and in
 * umup.h) return UMUP_ERR_SHAPE for it before reading or writing anything. */
#define UMUP__TOO_MANY(n, size) ((size_t)(n) > (size_t)PTRDIFF_MAX / (size_t)(size))

UMUPDEF const char *umup_status_string(umup_status s) {
    switch (s) {
    case UMUP_OK: return "ok";
    case UMUP_ERR_NULL: return "a required pointer argument is NULL";
    case UMUP_ERR_INVALID_ARG: return "an argument is out of its valid range";
    case UMUP_ERR_SHAPE: return "invalid or inconsistent shape";
    case UMUP_ERR_NOMEM: return "out of memory";
    case UMUP_ERR_NONFINITE: return "NaN or Inf where a finite value is required";
    case UMUP_ERR_IO: return "file could not be opened, read, written or renamed";
    case UMUP_ERR_FORMAT: return "file is corrupt, truncated or in an unexpected format";
    case UMUP_ERR_MISMATCH: return "file does not match the configuration it is loaded into";
    case UMUP_ERR_UNSUPPORTED: return "not supported by this build";
    case UMUP_ERR_DEVICE: return "a device (GPU) call failed";
    case UMUP_ERR_COMM: return "an exchange with another process failed or timed out";
    }
    return "unknown status code";
}

/* ---- Decode tables: value bits of every code. Generated from the formula at the top of the file;
 *      tests/test_fp8.c checks every entry against an independent evaluation of the formula. ---- */
static const uint32_t umup__fp8_table_e4m3[256] = {
    0x00000000u, 0x3B000000u, 0x3B800000u, 0x3BC00000u, 0x3C000000u, 0x3C200000u, 0x3C400000u, 0x3C600000u,
    0x3C800000u, 0x3C900000u, 0x3CA00000u, 0x3CB00000u, 0x3CC00000u, 0x3CD00000u, 0x3CE00000u, 0x3CF00000u,
    0x3D000000u, 0x3D100000u, 0x3D200000u, 0x3D300000u, 0x3D400000u, 0x3D500000u, 0x3D600000u, 0x3D700000u,
    0x3D800000u, 0x3D900000u, 0x3DA00000u, 0x3DB00000u, 0x3DC00000u, 0x3DD00000u, 0x3DE00000u, 0x3DF00000u,
    0x3E000000u, 0x3E100000u, 0x3E200000u, 0x3E300000u, 0x3E400000u, 0x3E500000u, 0x3E600000u, 0x3E700000u,
    0x3E800000u, 0x3E900000u, 0x3EA00000u, 0x3EB00000u, 0x3EC00000u, 0x3ED00000u, 0x3EE00000u, 0x3EF00000u,
    0x3F000000u, 0x3F100000u, 0x3F200000u, 0x3F300000u, 0x3F400000u, 0x3F500000u, 0x3F600000u, 0x3F700000u,
    0x3F800000u, 0x3F900000u, 0x3FA00000u, 0x3FB00000u, 0x3FC00000u, 0x3FD00000u, 0x3FE00000u, 0x3FF00000u,
    0x40000000u, 0x40100000u, 0x40200000u, 0x40300000u, 0x40400000u, 0x40500000u, 0x40600000u, 0x40700000u,
    0x40800000u, 0x40900000u, 0x40A00000u, 0x40B00000u, 0x40C00000u, 0x40D00000u, 0x40E00000u, 0x40F00000u,
    0x41000000u, 0x41100000u, 0x41200000u, 0x41300000u, 0x41400000u, 0x41500000u, 0x41600000u, 0x41700000u,
    0x41800000u, 0x41900000u, 0x41A00000u, 0x41B00000u, 0x41C00000u, 0x41D00000u, 0x41E00000u, 0x41F00000u,
    0x42000000u, 0x42100000u, 0x42200000u, 0x42300000u, 0x42400000u, 0x42500000u, 0x42600000u, 0x42700000u,
    0x42800000u, 0x42900000u, 0x42A00000u, 0x42B00000u, 0x42C00000u, 0x42D00000u, 0x42E00000u, 0x42F00000u,
    0x43000000u, 0x43100000u, 0x43200000u, 0x43300000u, 0x43400000u, 0x43500000u, 0x43600000u, 0x43700000u,
    0x43800000u, 0x43900000u, 0x43A00000u, 0x43B00000u, 0x43C00000u, 0x43D00000u, 0x43E00000u, 0x7FC00000u,
    0x80000000u, 0xBB000000u, 0xBB800000u, 0xBBC00000u, 0xBC000000u, 0xBC200000u, 0xBC400000u, 0xBC600000u,
    0xBC800000u, 0xBC900000u, 0xBCA00000u, 0xBCB00000u, 0xBCC00000u, 0xBCD00000u, 0xBCE00000u, 0xBCF00000u,
    0xBD000000u, 0xBD100000u, 0xBD200000u, 0xBD300000u, 0xBD400000u, 0xBD500000u, 0xBD600000u, 0xBD700000u,
    0xBD800000u, 0xBD900000u, 0xBDA00000u, 0xBDB00000u, 0xBDC00000u, 0xBDD00000u, 0xBDE00000u, 0xBDF00000u,
    0xBE000000u, 0xBE100000u, 0xBE200000u, 0xBE300000u, 0xBE400000u, 0xBE500000u, 0xBE600000u, 0xBE700000u,
    0xBE800000u, 0xBE900000u, 0xBEA00000u, 0xBEB00000u, 0xBEC00000u, 0xBED00000u, 0xBEE00000u, 0xBEF00000u,
    0xBF000000u, 0xBF100000u, 0xBF200000u, 0xBF300000u, 0xBF400000u, 0xBF500000u, 0xBF600000u, 0xBF700000u,
    0xBF800000u, 0xBF900000u, 0xBFA00000u, 0xBFB00000u, 0xBFC00000u, 0xBFD00000u, 0xBFE00000u, 0xBFF00000u,
    0xC0000000u, 0xC0100000u, 0xC0200000u, 0xC0300000u, 0xC0400000u, 0xC0500000u, 0xC0600000u, 0xC0700000u,
    0xC0800000u, 0xC0900000u, 0xC0A00000u, 0xC0B00000u, 0xC0C00000u, 0xC0D00000u, 0xC0E00000u, 0xC0F00000u,
    0xC1000000u, 0xC1100000u, 0xC1200000u, 0xC1300000u, 0xC1400000u, 0xC1500000u, 0xC1600000u, 0xC1700000u,
    0xC1800000u, 0xC1900000u, 0xC1A00000u, 0xC1B00000u, 0xC1C00000u, 0xC1D00000u, 0xC1E00000u, 0xC1F00000u,
    0xC2000000u, 0xC2100000u, 0xC2200000u, 0xC2300000u, 0xC2400000u, 0xC2500000u, 0xC2600000u, 0xC2700000u,
    0xC2800000u, 0xC2900000u, 0xC2A00000u, 0xC2B00000u, 0xC2C00000u, 0xC2D00000u, 0xC2E00000u, 0xC2F00000u,
    0xC3000000u, 0xC3100000u, 0xC3200000u, 0xC3300000u, 0xC3400000u, 0xC3500000u, 0xC3600000u, 0xC3700000u,
    0xC3800000u, 0xC3900000u, 0xC3A00000u, 0xC3B00000u, 0xC3C00000u, 0xC3D00000u, 0xC3E00000u, 0xFFC00000u,
};

static const uint32_t umup__fp8_table_e5m2[256] = {
    0x00000000u, 0x37800000u, 0x38000000u, 0x38400000u, 0x38800000u, 0x38A00000u, 0x38C00000u, 0x38E00000u,
    0x39000000u, 0x39200000u, 0x39400000u, 0x39600000u, 0x39800000u, 0x39A00000u, 0x39C00000u, 0x39E00000u,
    0x3A000000u, 0x3A200000u, 0x3A400000u, 0x3A600000u, 0x3A800000u, 0x3AA00000u, 0x3AC00000u, 0x3AE00000u,
    0x3B000000u, 0x3B200000u, 0x3B400000u, 0x3B600000u, 0x3B800000u, 0x3BA00000u, 0x3BC00000u, 0x3BE00000u,
    0x3C000000u, 0x3C200000u, 0x3C400000u, 0x3C600000u, 0x3C800000u, 0x3CA00000u, 0x3CC00000u, 0x3CE00000u,
    0x3D000000u, 0x3D200000u, 0x3D400000u, 0x3D600000u, 0x3D800000u, 0x3DA00000u, 0x3DC00000u, 0x3DE00000u,
    0x3E000000u, 0x3E200000u, 0x3E400000u, 0x3E600000u, 0x3E800000u, 0x3EA00000u, 0x3EC00000u, 0x3EE00000u,
    0x3F000000u, 0x3F200000u, 0x3F400000u, 0x3F600000u, 0x3F800000u, 0x3FA00000u, 0x3FC00000u, 0x3FE00000u,
    0x40000000u, 0x40200000u, 0x40400000u, 0x40600000u, 0x40800000u, 0x40A00000u, 0x40C00000u, 0x40E00000u,
    0x41000000u, 0x41200000u, 0x41400000u, 0x41600000u, 0x41800000u, 0x41A00000u, 0x41C00000u, 0x41E00000u,
    0x42000000u, 0x42200000u, 0x42400000u, 0x42600000u, 0x42800000u, 0x42A00000u, 0x42C00000u, 0x42E00000u,
    0x43000000u, 0x43200000u, 0x43400000u, 0x43600000u, 0x43800000u, 0x43A00000u, 0x43C00000u, 0x43E00000u,
    0x44000000u, 0x44200000u, 0x44400000u, 0x44600000u, 0x44800000u, 0x44A00000u, 0x44C00000u, 0x44E00000u,
    0x45000000u, 0x45200000u, 0x45400000u, 0x45600000u, 0x45800000u, 0x45A00000u, 0x45C00000u, 0x45E00000u,
    0x46000000u, 0x46200000u, 0x46400000u, 0x46600000u, 0x46800000u, 0x46A00000u, 0x46C00000u, 0x46E00000u,
    0x47000000u, 0x47200000u, 0x47400000u, 0x47600000u, 0x7F800000u, 0x7FC00000u, 0x7FC00000u, 0x7FC00000u,
    0x80000000u, 0xB7800000u, 0xB8000000u, 0xB8400000u, 0xB8800000u, 0xB8A00000u, 0xB8C00000u, 0xB8E00000u,
    0xB9000000u, 0xB9200000u, 0xB9400000u, 0xB9600000u, 0xB9800000u, 0xB9A00000u, 0xB9C00000u, 0xB9E00000u,
    0xBA000000u, 0xBA200000u, 0xBA400000u, 0xBA600000u, 0xBA800000u, 0xBAA00000u, 0xBAC00000u, 0xBAE00000u,
    0xBB000000u, 0xBB200000u, 0xBB400000u, 0xBB600000u, 0xBB800000u, 0xBBA00000u, 0xBBC00000u, 0xBBE00000u,
    0xBC000000u, 0xBC200000u, 0xBC400000u, 0xBC600000u, 0xBC800000u, 0xBCA00000u, 0xBCC00000u, 0xBCE00000u,
    0xBD000000u, 0xBD200000u, 0xBD400000u, 0xBD600000u, 0xBD800000u, 0xBDA00000u, 0xBDC00000u, 0xBDE00000u,
    0xBE000000u, 0xBE200000u, 0xBE400000u, 0xBE600000u, 0xBE800000u, 0xBEA00000u, 0xBEC00000u, 0xBEE00000u,
    0xBF000000u, 0xBF200000u, 0xBF400000u, 0xBF600000u, 0xBF800000u, 0xBFA00000u, 0xBFC00000u, 0xBFE00000u,
    0xC0000000u, 0xC0200000u, 0xC0400000u, 0xC0600000u, 0xC0800000u, 0xC0A00000u, 0xC0C00000u, 0xC0E00000u,
    0xC1000000u, 0xC1200000u, 0xC1400000u, 0xC1600000u, 0xC1800000u, 0xC1A00000u, 0xC1C00000u, 0xC1E00000u,
    0xC2000000u, 0xC2200000u, 0xC2400000u, 0xC2600000u, 0xC2800000u, 0xC2A00000u, 0xC2C00000u, 0xC2E00000u,
    0xC3000000u, 0xC3200000u, 0xC3400000u, 0xC3600000u, 0xC3800000u, 0xC3A00000u, 0xC3C00000u, 0xC3E00000u,
    0xC4000000u, 0xC4200000u, 0xC4400000u, 0xC4600000u, 0xC4800000u, 0xC4A00000u, 0xC4C00000u, 0xC4E00000u,
    0xC5000000u, 0xC5200000u, 0xC5400000u, 0xC5600000u, 0xC5800000u, 0xC5A00000u, 0xC5C00000u, 0xC5E00000u,
    0xC6000000u, 0xC6200000u, 0xC6400000u, 0xC6600000u, 0xC6800000u, 0xC6A00000u, 0xC6C00000u, 0xC6E00000u,
    0xC7000000u, 0xC7200000u, 0xC7400000u, 0xC7600000u, 0xFF800000u, 0xFFC00000u, 0xFFC00000u, 0xFFC00000u,
};

static const uint32_t umup__fp8_table_e4m3fnuz[256] = {
    0x00000000u, 0x3A800000u, 0x3B000000u, 0x3B400000u, 0x3B800000u, 0x3BA00000u, 0x3BC00000u, 0x3BE00000u,
    0x3C000000u, 0x3C100000u, 0x3C200000u, 0x3C300000u, 0x3C400000u, 0x3C500000u, 0x3C600000u, 0x3C700000u,
    0x3C800000u, 0x3C900000u, 0x3CA00000u, 0x3CB00000u, 0x3CC00000u, 0x3CD00000u, 0x3CE00000u, 0x3CF00000u,
    0x3D000000u, 0x3D100000u, 0x3D200000u, 0x3D300000u, 0x3D400000u, 0x3D500000u, 0x3D600000u, 0x3D700000u,
    0x3D800000u, 0x3D900000u, 0x3DA00000u, 0x3DB00000u, 0x3DC00000u, 0x3DD00000u, 0x3DE00000u, 0x3DF00000u,
    0x3E000000u, 0x3E100000u, 0x3E200000u, 0x3E300000u, 0x3E400000u, 0x3E500000u, 0x3E600000u, 0x3E700000u,
    0x3E800000u, 0x3E900000u, 0x3EA00000u, 0x3EB00000u, 0x3EC00000u, 0x3ED00000u, 0x3EE00000u, 0x3EF00000u,
    0x3F000000u, 0x3F100000u, 0x3F200000u, 0x3F300000u, 0x3F400000u, 0x3F500000u, 0x3F600000u, 0x3F700000u,
    0x3F800000u, 0x3F900000u, 0x3FA00000u, 0x3FB00000u, 0x3FC00000u, 0x3FD00000u, 0x3FE00000u, 0x3FF00000u,
    0x40000000u, 0x40100000u, 0x40200000u, 0x40300000u, 0x40400000u, 0x40500000u, 0x40600000u, 0x40700000u,
    0x40800000u, 0x40900000u, 0x40A00000u, 0x40B00000u, 0x40C00000u, 0x40D00000u, 0x40E00000u, 0x40F00000u,
    0x41000000u, 0x41100000u, 0x41200000u, 0x41300000u, 0x41400000u, 0x41500000u, 0x41600000u, 0x41700000u,
    0x41800000u, 0x41900000u, 0x41A00000u, 0x41B00000u, 0x41C00000u, 0x41D00000u, 0x41E00000u, 0x41F00000u,
    0x42000000u, 0x42100000u, 0x42200000u, 0x42300000u, 0x42400000u, 0x42500000u, 0x42600000u, 0x42700000u,
    0x42800000u, 0x42900000u, 0x42A00000u, 0x42B00000u, 0x42C00000u, 0x42D00000u, 0x42E00000u, 0x42F00000u,
    0x43000000u, 0x43100000u, 0x43200000u, 0x43300000u, 0x43400000u, 0x43500000u, 0x43600000u, 0x43700000u,
    0x7FC00000u, 0xBA800000u, 0xBB000000u, 0xBB400000u, 0xBB800000u, 0xBBA00000u, 0xBBC00000u, 0xBBE00000u,
    0xBC000000u, 0xBC100000u, 0xBC200000u, 0xBC300000u, 0xBC400000u, 0xBC500000u, 0xBC600000u, 0xBC700000u,
    0xBC800000u, 0xBC900000u, 0xBCA00000u, 0xBCB00000u, 0xBCC00000u, 0xBCD00000u, 0xBCE00000u, 0xBCF00000u,
    0xBD000000u, 0xBD100000u, 0xBD200000u, 0xBD300000u, 0xBD400000u, 0xBD500000u, 0xBD600000u, 0xBD700000u,
    0xBD800000u, 0xBD900000u, 0xBDA00000u, 0xBDB00000u, 0xBDC00000u, 0xBDD00000u, 0xBDE00000u, 0xBDF00000u,
    0xBE000000u, 0xBE100000u, 0xBE200000u, 0xBE300000u, 0xBE400000u, 0xBE500000u, 0xBE600000u, 0xBE700000u,
    0xBE800000u, 0xBE900000u, 0xBEA00000u, 0xBEB00000u, 0xBEC00000u, 0xBED00000u, 0xBEE00000u, 0xBEF00000u,
    0xBF000000u, 0xBF100000u, 0xBF200000u, 0xBF300000u, 0xBF400000u, 0xBF500000u, 0xBF600000u, 0xBF700000u,
    0xBF800000u, 0xBF900000u, 0xBFA00000u, 0xBFB00000u, 0xBFC00000u, 0xBFD00000u, 0xBFE00000u, 0xBFF00000u,
    0xC0000000u, 0xC0100000u, 0xC0200000u, 0xC0300000u, 0xC0400000u, 0xC0500000u, 0xC0600000u, 0xC0700000u,
    0xC0800000u, 0xC0900000u, 0xC0A00000u, 0xC0B00000u, 0xC0C00000u, 0xC0D00000u, 0xC0E00000u, 0xC0F00000u,
    0xC1000000u, 0xC1100000u, 0xC1200000u, 0xC1300000u, 0xC1400000u, 0xC1500000u, 0xC1600000u, 0xC1700000u,
    0xC1800000u, 0xC1900000u, 0xC1A00000u, 0xC1B00000u, 0xC1C00000u, 0xC1D00000u, 0xC1E00000u, 0xC1F00000u,
    0xC2000000u, 0xC2100000u, 0xC2200000u, 0xC2300000u, 0xC2400000u, 0xC2500000u, 0xC2600000u, 0xC2700000u,
    0xC2800000u, 0xC2900000u, 0xC2A00000u, 0xC2B00000u, 0xC2C00000u, 0xC2D00000u, 0xC2E00000u, 0xC2F00000u,
    0xC3000000u, 0xC3100000u, 0xC3200000u, 0xC3300000u, 0xC3400000u, 0xC3500000u, 0xC3600000u, 0xC3700000u,
};

static const uint32_t umup__fp8_table_e5m2fnuz[256] = {
    0x00000000u, 0x37000000u, 0x37800000u, 0x37C00000u, 0x38000000u, 0x38200000u, 0x38400000u, 0x38600000u,
    0x38800000u, 0x38A00000u, 0x38C00000u, 0x38E00000u, 0x39000000u, 0x39200000u, 0x39400000u, 0x39600000u,
    0x39800000u, 0x39A00000u, 0x39C00000u, 0x39E00000u, 0x3A000000u, 0x3A200000u, 0x3A400000u, 0x3A600000u,
    0x3A800000u, 0x3AA00000u, 0x3AC00000u, 0x3AE00000u, 0x3B000000u, 0x3B200000u, 0x3B400000u, 0x3B600000u,
    0x3B800000u, 0x3BA00000u, 0x3BC00000u, 0x3BE00000u, 0x3C000000u, 0x3C200000u, 0x3C400000u, 0x3C600000u,
    0x3C800000u, 0x3CA00000u, 0x3CC00000u, 0x3CE00000u, 0x3D000000u, 0x3D200000u, 0x3D400000u, 0x3D600000u,
    0x3D800000u, 0x3DA00000u, 0x3DC00000u, 0x3DE00000u, 0x3E000000u, 0x3E200000u, 0x3E400000u, 0x3E600000u,
    0x3E800000u, 0x3EA00000u, 0x3EC00000u, 0x3EE00000u, 0x3F000000u, 0x3F200000u, 0x3F400000u, 0x3F600000u,
    0x3F800000u, 0x3FA00000u, 0x3FC00000u, 0x3FE00000u, 0x40000000u, 0x40200000u, 0x40400000u, 0x40600000u,
    0x40800000u, 0x40A00000u, 0x40C00000u, 0x40E00000u, 0x41000000u, 0x41200000u, 0x41400000u, 0x41600000u,
    0x41800000u, 0x41A00000u, 0x41C00000u, 0x41E00000u, 0x42000000u, 0x42200000u, 0x42400000u, 0x42600000u,
    0x42800000u, 0x42A00000u, 0x42C00000u, 0x42E00000u, 0x43000000u, 0x43200000u, 0x43400000u, 0x43600000u,
    0x43800000u, 0x43A00000u, 0x43C00000u, 0x43E00000u, 0x44000000u, 0x44200000u, 0x44400000u, 0x44600000u,
    0x44800000u, 0x44A00000u, 0x44C00000u, 0x44E00000u, 0x45000000u, 0x45200000u, 0x45400000u, 0x45600000u,
    0x45800000u, 0x45A00000u, 0x45C00000u, 0x45E00000u, 0x46000000u, 0x46200000u, 0x46400000u, 0x46600000u,
    0x46800000u, 0x46A00000u, 0x46C00000u, 0x46E00000u, 0x47000000u, 0x47200000u, 0x47400000u, 0x47600000u,
    0x7FC00000u, 0xB7000000u, 0xB7800000u, 0xB7C00000u, 0xB8000000u, 0xB8200000u, 0xB8400000u, 0xB8600000u,
    0xB8800000u, 0xB8A00000u, 0xB8C00000u, 0xB8E00000u, 0xB9000000u, 0xB9200000u, 0xB9400000u, 0xB9600000u,
    0xB9800000u, 0xB9A00000u, 0xB9C00000u, 0xB9E00000u, 0xBA000000u, 0xBA200000u, 0xBA400000u, 0xBA600000u,
    0xBA800000u, 0xBAA00000u, 0xBAC00000u, 0xBAE00000u, 0xBB000000u, 0xBB200000u, 0xBB400000u, 0xBB600000u,
    0xBB800000u, 0xBBA00000u, 0xBBC00000u, 0xBBE00000u, 0xBC000000u, 0xBC200000u, 0xBC400000u, 0xBC600000u,
    0xBC800000u, 0xBCA00000u, 0xBCC00000u, 0xBCE00000u, 0xBD000000u, 0xBD200000u, 0xBD400000u, 0xBD600000u,
    0xBD800000u, 0xBDA00000u, 0xBDC00000u, 0xBDE00000u, 0xBE000000u, 0xBE200000u, 0xBE400000u, 0xBE600000u,
    0xBE800000u, 0xBEA00000u, 0xBEC00000u, 0xBEE00000u, 0xBF000000u, 0xBF200000u, 0xBF400000u, 0xBF600000u,
    0xBF800000u, 0xBFA00000u, 0xBFC00000u, 0xBFE00000u, 0xC0000000u, 0xC0200000u, 0xC0400000u, 0xC0600000u,
    0xC0800000u, 0xC0A00000u, 0xC0C00000u, 0xC0E00000u, 0xC1000000u, 0xC1200000u, 0xC1400000u, 0xC1600000u,
    0xC1800000u, 0xC1A00000u, 0xC1C00000u, 0xC1E00000u, 0xC2000000u, 0xC2200000u, 0xC2400000u, 0xC2600000u,
    0xC2800000u, 0xC2A00000u, 0xC2C00000u, 0xC2E00000u, 0xC3000000u, 0xC3200000u, 0xC3400000u, 0xC3600000u,
    0xC3800000u, 0xC3A00000u, 0xC3C00000u, 0xC3E00000u, 0xC4000000u, 0xC4200000u, 0xC4400000u, 0xC4600000u,
    0xC4800000u, 0xC4A00000u, 0xC4C00000u, 0xC4E00000u, 0xC5000000u, 0xC5200000u, 0xC5400000u, 0xC5600000u,
    0xC5800000u, 0xC5A00000u, 0xC5C00000u, 0xC5E00000u, 0xC6000000u, 0xC6200000u, 0xC6400000u, 0xC6600000u,
    0xC6800000u, 0xC6A00000u, 0xC6C00000u, 0xC6E00000u, 0xC7000000u, 0xC7200000u, 0xC7400000u, 0xC7600000u,
};

static const uint32_t *const umup__fp8_tables[4] = {
    umup__fp8_table_e4m3, umup__fp8_table_e5m2, umup__fp8_table_e4m3fnuz, umup__fp8_table_e5m2fnuz
};

/* ---- Format parameters ----------------------------------------------------------------------- */

static const umup_float_format umup__presets[UMUP_FLOAT_PRESET_COUNT] = {
    {4, 3, 7, UMUP_SPECIALS_FN},     {5, 2, 15, UMUP_SPECIALS_IEEE}, {4, 3, 8, UMUP_SPECIALS_FNUZ},
    {5, 2, 16, UMUP_SPECIALS_FNUZ},  {4, 3, 11, UMUP_SPECIALS_FNUZ}, {4, 3, 8, UMUP_SPECIALS_NONE},
    {5, 2, 16, UMUP_SPECIALS_NONE},  {8, 7, 127, UMUP_SPECIALS_IEEE}, {5, 10, 15, UMUP_SPECIALS_IEEE},
    {2, 1, 1, UMUP_SPECIALS_NONE},   {2, 3, 1, UMUP_SPECIALS_NONE},  {3, 2, 3, UMUP_SPECIALS_NONE}
};

UMUPDEF umup_float_format umup_float_format_preset(umup_float_preset preset) {
    umup_float_format none = {0, 0, 0, UMUP_SPECIALS_IEEE};
    if ((int)preset < 0 || (int)preset >= (int)UMUP_FLOAT_PRESET_COUNT) return none;
    return umup__presets[preset];
}

UMUPDEF umup_status umup_float_format_check(const umup_float_format *f) {
    int maxe;
    if (!f) return UMUP_ERR_NULL;
    if (f->exp_bits < 1 || f->exp_bits > 8 || f->man_bits < 0 || f->man_bits > 10) return UMUP_ERR_INVALID_ARG;
    if (1 + f->exp_bits + f->man_bits > 16) return UMUP_ERR_INVALID_ARG;
    if ((int)f->specials < 0 || (int)f->specials > (int)UMUP_SPECIALS_NONE) return UMUP_ERR_INVALID_ARG;
    if (f->man_bits == 0 && (f->specials == UMUP_SPECIALS_IEEE || f->specials == UMUP_SPECIALS_FN))
        return UMUP_ERR_INVALID_ARG; /* NaN would need a mantissa bit */
    if (f->exp_bits == 1 && f->specials == UMUP_SPECIALS_IEEE) return UMUP_ERR_INVALID_ARG;
    /* Every finite value must be a normal float: min subnormal >= 2^-126 ... max exponent <= 127. */
    maxe = (1 << f->exp_bits) - 1 - f->bias;
    if (1 - f->bias - f->man_bits < -126 && !(f->exp_bits == 8 && f->bias == 127)) return UMUP_ERR_INVALID_ARG;
    if (maxe > 127 && !(f->exp_bits == 8 && f->bias == 127 && f->specials == UMUP_SPECIALS_IEEE))
        return UMUP_ERR_INVALID_ARG;
    if (f->bias < -127 || f->bias > 127 + 127) return UMUP_ERR_INVALID_ARG;
    return UMUP_OK;
}

UMUPDEF int umup_float_format_bits(const umup_float_format *f) {
    return umup_float_format_check(f) == UMUP_OK ? 1 + f->exp_bits + f->man_bits : 0;
}

static void umup__fmt_init(umup__fmt *p, const umup_float_format *f) {
    uint32_t allones = (1u << (f->exp_bits + f->man_bits)) - 1u;
    p->e = (uint32_t)f->exp_bits;
    p->m = (uint32_t)f->man_bits;
    p->bias = f->bias;
    p->kind = (int)f->specials;
    switch (f->specials) {
    case UMUP_SPECIALS_IEEE:
        p->maxcode = (((1u << p->e) - 2u) << p->m) | ((1u << p->m) - 1u);
        p->ovfcode = ((1u << p->e) - 1u) << p->m;                         /* Inf */
        p->nancode = p->ovfcode | (1u << (p->m - 1u));                    /* quiet NaN */
        p->nan_signed = 1;
        break;
    case UMUP_SPECIALS_FN:
        p->maxcode = allones - 1u;
        p->ovfcode = allones;                                             /* NaN */
        p->nancode = allones;
        p->nan_signed = 1;
        break;
    case UMUP_SPECIALS_FNUZ:
        p->maxcode = allones;
        p->ovfcode = allones + 1u;                                        /* 1.000...0: the NaN */
        p->nancode = allones + 1u;
        p->nan_signed = 0;
        break;
    default: /* UMUP_SPECIALS_NONE: no NaN, overflow always saturates */
        p->maxcode = allones;
        p->ovfcode = allones;
        p->nancode = 0;
        p->nan_signed = 0;
        break;
    }
}

static inline uint32_t umup__encode_fmt(float x, const umup__fmt *p, int sat, uint32_t nb, uint32_t r) {
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    return umup__encode_p(bits, p, sat, nb, r);
}

/* Exact decode (the integer core's umup__decode_bits). */
static float umup__decode_fmt(uint32_t code, const umup__fmt *p) {
    uint32_t bits = umup__decode_bits(code, p);
    float out;
    memcpy(&out, &bits, sizeof out);
    return out;
}

/* ---- Scalar FP8 API ---------------------------------------------------------------------------- */

UMUPDEF uint8_t umup_fp8_from_float(float x, umup_fp8_format fmt, int saturate) {
    const umup__fmt *p = umup__fp8_params(fmt);
    return p ? (uint8_t)umup__encode_fmt(x, p, saturate, 0u, 0u) : (uint8_t)0;
}

UMUPDEF uint8_t umup_fp8_from_float_sr(float x, umup_fp8_format fmt, int saturate, uint32_t random_bits) {
    const umup__fmt *p = umup__fp8_params(fmt);
    return p ? (uint8_t)umup__encode_fmt(x, p, saturate, 32u, random_bits) : (uint8_t)0;
}

static float umup__bits_to_float(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

UMUPDEF float umup_fp8_to_float(uint8_t code, umup_fp8_format fmt) {
    const umup__fmt *p;
    if ((int)fmt >= 0 && (int)fmt < 4) return umup__bits_to_float(umup__fp8_tables[fmt][code]);
    p = umup__fp8_params(fmt);
    return p ? umup__decode_fmt(code, p) : umup__bits_to_float(0x7FC00000u);
}

static float umup__fmt_max(const umup__fmt *p) {
    return umup__decode_fmt(p->maxcode, p);
}
static float umup__fmt_min_normal(const umup__fmt *p) {
    return umup__decode_fmt(1u << p->m, p);
}
static float umup__fmt_min_subnormal(const umup__fmt *p) {
    return umup__decode_fmt(1u, p);
}

UMUPDEF float umup_fp8_max(umup_fp8_format fmt) {
    const umup__fmt *p = umup__fp8_params(fmt);
    return p ? umup__fmt_max(p) : 0.0f;
}
UMUPDEF float umup_fp8_min_normal(umup_fp8_format fmt) {
    const umup__fmt *p = umup__fp8_params(fmt);
    return p ? umup__fmt_min_normal(p) : 0.0f;
}
UMUPDEF float umup_fp8_min_subnormal(umup_fp8_format fmt) {
    const umup__fmt *p = umup__fp8_params(fmt);
    return p ? umup__fmt_min_subnormal(p) : 0.0f;
}

static const char *const umup__fp8_names[UMUP_FP8_FORMAT_COUNT] = {
    "e4m3", "e5m2", "e4m3fnuz", "e5m2fnuz", "e4m3b11fnuz", "gc_e4m3", "gc_e5m2"
};

UMUPDEF const char *umup_fp8_name(umup_fp8_format fmt) {
    if ((int)fmt < 0 || (int)fmt >= (int)UMUP_FP8_FORMAT_COUNT) return "?";
    return umup__fp8_names[fmt];
}

static int umup__streq_nocase(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        char ca = (*a >= 'A' && *a <= 'Z') ? (char)(*a - 'A' + 'a') : *a;
        char cb = (*b >= 'A' && *b <= 'Z') ? (char)(*b - 'A' + 'a') : *b;
        if (ca != cb) return 0;
    }
    return *a == *b;
}

UMUPDEF umup_status umup_fp8_parse(const char *name, umup_fp8_format *out) {
    int i;
    if (!name || !out) return UMUP_ERR_NULL;
    if (umup__streq_nocase(name, "e4m3fn") || umup__streq_nocase(name, "fp8e4m3")) { *out = UMUP_FP8_E4M3; return UMUP_OK; }
    if (umup__streq_nocase(name, "fp8e5m2")) { *out = UMUP_FP8_E5M2; return UMUP_OK; }
    for (i = 0; i < (int)UMUP_FP8_FORMAT_COUNT; i++) {
        if (umup__streq_nocase(name, umup__fp8_names[i])) { *out = (umup_fp8_format)i; return UMUP_OK; }
    }
    return UMUP_ERR_INVALID_ARG;
}

/* ---- RNG ------------------------------------------------------------------------------------- */

UMUPDEF uint32_t umup_rng_u32(uint64_t seed, uint64_t counter) {
    uint64_t key = umup__rng_key(seed, counter >> 32);
    return umup__rng_block((uint32_t)key, (uint32_t)(key >> 32), (uint32_t)counter);
}

UMUPDEF float umup_rng_uniform(uint64_t seed, uint64_t counter) {
    return (float)(umup_rng_u32(seed, counter) >> 8) * (1.0f / 16777216.0f);
}

/* ---- Bulk casts -------------------------------------------------------------------------------
 * Arrays are processed in blocks of UMUP__BLOCK elements (OpenMP spreads blocks over threads);
 * within a block, runs with a constant high counter half share one RNG key, so the inner loops
 * are plain 32-bit integer code that the compiler vectorises. Element i always uses
 * umup_rng_u32(seed, counter + i). */

#define UMUP__BLOCK 16384

/* out: 0 = uint8 codes, 1 = uint16 codes, 2 = float (decode via table/generic) */
typedef struct {
    const umup__fmt *p;
    const uint32_t *table;  /* 256-entry decode table or NULL (then generic decode) */
    int sat;
    uint32_t nb;
    uint64_t seed, counter;
    int nan_passthrough;    /* quantise in a format without NaN: keep NaN inputs */
} umup__bulk;

/* Saturating RNE into an 8-bit format, the training cast: a cheaper formulation that clamps the
 * magnitude to max first (so the overflow tie never arises), rounds normal results with the
 * "add half minus one plus the lowest kept bit" trick, and subnormal results by adding a float
 * whose ulp is the format's smallest subnormal (the hardware's RNE does the rounding; inputs that
 * are float subnormals give 0 either way, so FTZ/DAZ cannot change a result). Equal to
 * umup__encode_bits(..., sat = 1, nb = 0) for every input (the tests check all of them). */
static inline uint32_t umup__encode_sat_rne(uint32_t bits, uint32_t m, int32_t bias, uint32_t maxbits,
                                            uint32_t minnormbits, float magic, uint32_t nancode,
                                            uint32_t nan_signed, int fnuz, uint32_t signpos) {
    uint32_t sign = bits >> 31, a = bits & 0x7FFFFFFFu, d0 = 23u - m, nrm, sub, res, keep, isnan, mb, sb;
    uint32_t ac = a < maxbits ? a : maxbits;
    float acf, sf;
    nrm = (ac - ((uint32_t)(127 - bias) << 23) + ((1u << (d0 - 1u)) - 1u) + ((ac >> d0) & 1u)) >> d0;
    memcpy(&acf, &ac, 4);
    sf = acf + magic;
    memcpy(&sb, &sf, 4);
    memcpy(&mb, &magic, 4);
    sub = sb - mb;
    res = ac < minnormbits ? sub : nrm;
    isnan = (uint32_t)(a > 0x7F800000u);
    res = isnan ? nancode : res;
    keep = isnan ? nan_signed : (uint32_t)!(fnuz && res == 0u);
    return res | ((sign & keep) << signpos);
}

/* The float bits of an 8-bit format's largest finite value and smallest normal: the saturating
 * encoders' bounds. */
static void umup__sat_bounds(const umup__fmt *p, uint32_t *maxbits, uint32_t *minnormbits) {
    float maxf = umup__decode_fmt(p->maxcode, p), minnf = umup__decode_fmt(1u << p->m, p);
    memcpy(maxbits, &maxf, 4);
    memcpy(minnormbits, &minnf, 4);
}

#if defined(__AVX512F__) && !defined(UMUP_FP8_NO_SIMD)
/* AVX-512 forms of the saturating quantise's RNE and SR (32 random bits) loops (umup__quantise_sat
 * below) and of the saturating SR encode into 8-bit codes (umup__encode_codes), 16 elements a step,
 * bitwise the same (the tests compare them with the scalar functions on every lane position): the
 * normal-range rounding on every lane (for SR after the RNG's two lowbias32 rounds on 16 counters
 * at once), the subnormal-range rounding only for a group that holds an input below the smallest
 * normal, and the NaN replacement only for a group that holds a NaN. Compiled with __AVX512F__
 * unless UMUP_FP8_NO_SIMD is defined (then the loops are left to the compiler's vectoriser: on
 * Zen 5, single thread, normal-distributed data in cache, that ran the E4M3 quantise at 3.5 (RNE)
 * and 1.75 (SR) Gelem/s, these at 9.3 and 3.9). */
#include <immintrin.h>
#define UMUP__QUANTISE_X16 1

/* Unsigned 32-bit lanes. The maskz forms with every lane set stand for the plain intrinsics, whose
 * "undefined" source operand gcc 12's C++ front end reports as maybe-uninitialized. */
#define UMUP__ALL ((__mmask16)0xFFFFu)
static inline __m512i umup__u32(uint32_t v) { return _mm512_set1_epi32((int)v); }
static inline __m512i umup__srli_x16(__m512i x, unsigned n) { return _mm512_maskz_srli_epi32(UMUP__ALL, x, n); }
static inline __m512i umup__srlv_x16(__m512i x, __m512i n) { return _mm512_maskz_srlv_epi32(UMUP__ALL, x, n); }
static inline __m512i umup__minu_x16(__m512i x, __m512i y) { return _mm512_maskz_min_epu32(UMUP__ALL, x, y); }

static inline __m512i umup__lowbias32_x16(__m512i x) {
    x = _mm512_xor_si512(x, umup__srli_x16(x, 16));
    x = _mm512_mullo_epi32(x, umup__u32(0x7FEB352Du));
    x = _mm512_xor_si512(x, umup__srli_x16(x, 15));
    x = _mm512_mullo_epi32(x, umup__u32(0x846CA68Bu));
    return _mm512_xor_si512(x, umup__srli_x16(x, 16));
}

/* A group's sign bits put back on its rounded magnitudes outm (FNUZ: not on a zero), then its NaN
 * inputs (mask nan) replaced: kept (pass) or given the NaN value of their sign (nan0, nan1). */
static inline __m512i umup__quantise_finish_x16(__m512i outm, __m512i bits, __mmask16 nan, uint32_t nan0,
                                                uint32_t nan1, uint32_t pass, int fnuz) {
    __m512i sgn = _mm512_and_si512(bits, umup__u32(0x80000000u));
    if (fnuz) sgn = _mm512_maskz_mov_epi32(_mm512_test_epi32_mask(outm, outm), sgn); /* no -0 */
    outm = _mm512_or_si512(outm, sgn);
    if (nan) {
        __mmask16 neg = _mm512_cmplt_epi32_mask(bits, _mm512_setzero_si512());
        __m512i nanv = pass ? bits : _mm512_mask_blend_epi32(neg, umup__u32(nan0), umup__u32(nan1));
        outm = _mm512_mask_mov_epi32(outm, nan, nanv);
    }
    return outm;
}

/* The RNE loop's elements [0, len rounded down to 16); returns how many it did. Arguments as there:
 * the magnitude clamped to max, then rounded to nearest even on the float's bits, its d0 = 23 - m
 * low bits dropped (a carry moves into the exponent), or below the smallest normal by adding and
 * subtracting magic (the hardware's RNE). */
static size_t umup__quantise_rne_x16(const float *s, float *df, size_t len, uint32_t d0, uint32_t maxbits,
                                     uint32_t minnormbits, float magic, uint32_t nan0, uint32_t nan1, uint32_t pass,
                                     int fnuz) {
    const __m512i keep = umup__u32(~((1u << d0) - 1u)), halfm1 = umup__u32((1u << (d0 - 1u)) - 1u);
    const __m512 vmagic = _mm512_set1_ps(magic);
    size_t j;
    for (j = 0; j + 16u <= len; j += 16u) {
        __m512i bits = _mm512_loadu_si512((const void *)(s + j)), a = _mm512_and_si512(bits, umup__u32(0x7FFFFFFFu));
        __m512i ac = umup__minu_x16(a, umup__u32(maxbits));
        __m512i lsb = _mm512_and_si512(umup__srli_x16(ac, d0), umup__u32(1u));
        __m512i outm = _mm512_and_si512(_mm512_add_epi32(_mm512_add_epi32(ac, halfm1), lsb), keep);
        __mmask16 sub = _mm512_cmplt_epu32_mask(ac, umup__u32(minnormbits));
        __mmask16 nan = _mm512_cmpgt_epu32_mask(a, umup__u32(0x7F800000u));
        if (sub) {
            __m512 v = _mm512_sub_ps(_mm512_add_ps(_mm512_castsi512_ps(ac), vmagic), vmagic);
            outm = _mm512_mask_mov_epi32(outm, sub, _mm512_castps_si512(v));
        }
        _mm512_storeu_si512((void *)(df + j), umup__quantise_finish_x16(outm, bits, nan, nan0, nan1, pass, fnuz));
    }
    return j;
}

/* The 32 random bits of counters lo + j .. lo + j + 15 (umup__rng_block on 16 lanes). */
static inline __m512i umup__rng_x16(uint32_t k1, uint32_t k2, uint32_t lo, size_t j) {
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512i x = _mm512_add_epi32(_mm512_add_epi32(umup__u32(lo + (uint32_t)j), lane), umup__u32(k1));
    return umup__lowbias32_x16(_mm512_xor_si512(umup__lowbias32_x16(x), umup__u32(k2)));
}

/* SR of magnitudes a (float bits) in the normal range: the d0 = 23 - m dropped bits plus r's top d0
 * bits carry or not (the carry moving into the exponent), then saturated at maxbits. */
static inline __m512i umup__sr32_normal_x16(__m512i a, __m512i r, uint32_t d0, uint32_t maxbits) {
    __m512i up = _mm512_add_epi32(a, umup__srli_x16(r, 32u - d0));
    return umup__minu_x16(_mm512_and_si512(up, umup__u32(~((1u << d0) - 1u))), umup__u32(maxbits));
}

/* SR of magnitudes a below the smallest normal: the code magnitude q = (sig + (r >> (32 - d))) >> d
 * with d = d0 + max(emin - (max(ef, 1) - 127), 0) dropped bits, or for d >= 32 the carry out of
 * (sig >> (d - 32)) + r (umup__encode_bits with k = d). */
static inline __m512i umup__sr32_sub_x16(__m512i a, __m512i r, uint32_t d0, int32_t emin) {
    const __m512i zero = _mm512_setzero_si512(), one = umup__u32(1u), v32 = umup__u32(32u);
    __m512i ef = umup__srli_x16(a, 23), sig = _mm512_and_si512(a, umup__u32(0x7FFFFFu)), d, qa;
    __mmask16 carry, small;
    sig = _mm512_mask_or_epi32(sig, _mm512_cmpneq_epi32_mask(ef, zero), sig, umup__u32(0x800000u));
    d = _mm512_sub_epi32(umup__u32((uint32_t)(emin + 127)), _mm512_maskz_max_epu32(UMUP__ALL, ef, one));
    d = _mm512_add_epi32(umup__u32(d0), _mm512_maskz_max_epi32(UMUP__ALL, d, zero));
    qa = umup__srlv_x16(_mm512_add_epi32(sig, umup__srlv_x16(r, _mm512_sub_epi32(v32, d))), d);
    carry = _mm512_cmplt_epu32_mask(_mm512_add_epi32(umup__srlv_x16(sig, _mm512_sub_epi32(d, v32)), r), r);
    small = _mm512_cmple_epu32_mask(d, umup__u32(31u));
    return _mm512_mask_mov_epi32(_mm512_maskz_mov_epi32(carry, one), small, qa);
}

/* The SR quantise loop's elements [0, len rounded down to 16); returns how many it did. Arguments as
 * there: each subnormal-range code magnitude q has the value q 2^(1-bias-m) = q quantum. */
static size_t umup__quantise_sr32_x16(const float *s, float *df, size_t len, uint32_t k1, uint32_t k2, uint32_t lo,
                                      uint32_t d0, uint32_t maxbits, uint32_t minnormbits, int32_t emin, float quantum,
                                      uint32_t nan0, uint32_t nan1, uint32_t pass, int fnuz) {
    const __m512 vq = _mm512_set1_ps(quantum);
    size_t j;
    for (j = 0; j + 16u <= len; j += 16u) {
        __m512i r = umup__rng_x16(k1, k2, lo, j);
        __m512i bits = _mm512_loadu_si512((const void *)(s + j)), a = _mm512_and_si512(bits, umup__u32(0x7FFFFFFFu));
        __m512i outm = umup__sr32_normal_x16(a, r, d0, maxbits);
        __mmask16 sub = _mm512_cmplt_epu32_mask(a, umup__u32(minnormbits));
        __mmask16 nan = _mm512_cmpgt_epu32_mask(a, umup__u32(0x7F800000u));
        if (sub) {
            __m512i q = umup__sr32_sub_x16(a, r, d0, emin);
            q = _mm512_castps_si512(_mm512_mul_ps(_mm512_maskz_cvtepi32_ps(UMUP__ALL, q), vq));
            outm = _mm512_mask_mov_epi32(outm, sub, q);
        }
        _mm512_storeu_si512((void *)(df + j), umup__quantise_finish_x16(outm, bits, nan, nan0, nan1, pass, fnuz));
    }
    return j;
}

/* The saturating SR (32 bits) encode into 8-bit codes, elements [0, len rounded down to 16); returns
 * how many it did. A normal-range result's code magnitude is its float bits less the exponent offset
 * expadd = (127 - bias) << 23, shifted down by d0; the sign goes to bit signpos (FNUZ: not on a zero
 * code); a NaN input gets nanc0 / nanc1 by its sign (umup__encode_bits' codes). */
static size_t umup__encode_sr32_x16(const float *s, uint8_t *codes, size_t len, uint32_t k1, uint32_t k2, uint32_t lo,
                                    uint32_t d0, uint32_t maxbits, uint32_t minnormbits, int32_t emin, uint32_t expadd,
                                    uint32_t signpos, uint32_t nanc0, uint32_t nanc1, int fnuz) {
    size_t j;
    for (j = 0; j + 16u <= len; j += 16u) {
        __m512i r = umup__rng_x16(k1, k2, lo, j);
        __m512i bits = _mm512_loadu_si512((const void *)(s + j)), a = _mm512_and_si512(bits, umup__u32(0x7FFFFFFFu));
        __m512i c = umup__srli_x16(_mm512_sub_epi32(umup__sr32_normal_x16(a, r, d0, maxbits), umup__u32(expadd)), d0);
        __mmask16 sub = _mm512_cmplt_epu32_mask(a, umup__u32(minnormbits));
        __mmask16 nan = _mm512_cmpgt_epu32_mask(a, umup__u32(0x7F800000u));
        __mmask16 neg = _mm512_cmplt_epi32_mask(bits, _mm512_setzero_si512()), sgn = neg;
        if (sub) c = _mm512_mask_mov_epi32(c, sub, umup__sr32_sub_x16(a, r, d0, emin));
        if (fnuz) sgn = _mm512_mask_test_epi32_mask(neg, c, c); /* no -0 */
        c = _mm512_mask_or_epi32(c, sgn, c, umup__u32(1u << signpos));
        if (nan) c = _mm512_mask_mov_epi32(c, nan, _mm512_mask_blend_epi32(neg, umup__u32(nanc0), umup__u32(nanc1)));
        _mm_storeu_si128((__m128i *)(void *)(codes + j), _mm512_maskz_cvtepi32_epi8(UMUP__ALL, c));
    }
    return j;
}
#undef UMUP__ALL
#endif

/* Encode src[0..len) into 8-bit codes (codes8) or 16-bit codes (codes32), random counter lo + j. */
static void umup__encode_codes(const umup__bulk *b, const float *s, uint8_t *codes8, uint32_t *codes32,
                               size_t len, uint32_t k1, uint32_t k2, uint32_t lo) {
    const umup__fmt *p = b->p;
    const uint32_t m = p->m, maxcode = p->maxcode, ovfcode = p->ovfcode, nancode = p->nancode;
    const uint32_t nan_signed = p->nan_signed, signpos = p->e + p->m, nb = b->nb;
    const int32_t bias = p->bias;
    const int fnuz = p->kind == UMUP_SPECIALS_FNUZ;
    const int sat = b->sat || p->kind == UMUP_SPECIALS_NONE;
    size_t j;
    if (codes8 && nb == 0u && sat) {
        float magic = umup__bits_to_float((uint32_t)(1 - bias - (int32_t)m + 23 + 127) << 23);
        uint32_t maxbits, minnormbits;
        umup__sat_bounds(p, &maxbits, &minnormbits);
        for (j = 0; j < len; j++) {
            uint32_t bits;
            memcpy(&bits, &s[j], 4);
            codes8[j] = (uint8_t)umup__encode_sat_rne(bits, m, bias, maxbits, minnormbits, magic, nancode,
                                                      nan_signed, fnuz, signpos);
        }
    } else if (codes8 && nb == 0u) {
        for (j = 0; j < len; j++) {
            uint32_t bits;
            memcpy(&bits, &s[j], 4);
            codes8[j] = (uint8_t)umup__encode_bits(bits, m, bias, maxcode, ovfcode, nancode, nan_signed, fnuz,
                                                   signpos, sat, 0u, 0u);
        }
    } else if (codes8) {
        j = 0;
#ifdef UMUP__QUANTISE_X16
        if (nb == 32u && sat) {
            uint32_t maxbits, minnormbits;
            umup__sat_bounds(p, &maxbits, &minnormbits);
            j = umup__encode_sr32_x16(s, codes8, len, k1, k2, lo, 23u - m, maxbits, minnormbits, 1 - bias,
                                      (uint32_t)(127 - bias) << 23, signpos,
                                      umup__encode_bits(0x7FC00000u, m, bias, maxcode, ovfcode, nancode, nan_signed,
                                                        fnuz, signpos, 1, 0u, 0u),
                                      umup__encode_bits(0xFFC00000u, m, bias, maxcode, ovfcode, nancode, nan_signed,
                                                        fnuz, signpos, 1, 0u, 0u),
                                      fnuz);
        }
#endif
        for (; j < len; j++) {
            uint32_t bits, r = umup__rng_block(k1, k2, lo + (uint32_t)j);
            memcpy(&bits, &s[j], 4);
            codes8[j] = (uint8_t)umup__encode_bits(bits, m, bias, maxcode, ovfcode, nancode, nan_signed, fnuz,
                                                   signpos, sat, nb, r);
        }
    } else {
        for (j = 0; j < len; j++) {
            uint32_t bits, r = nb ? umup__rng_block(k1, k2, lo + (uint32_t)j) : 0u;
            memcpy(&bits, &s[j], 4);
            codes32[j] = umup__encode_bits(bits, m, bias, maxcode, ovfcode, nancode, nan_signed, fnuz, signpos,
                                           sat, nb, r);
        }
    }
}

/* Quantise src[0..len) into dst (which may equal src) in an 8-bit format that saturates, fused: the
 * code of each element (the encoders above) is decoded arithmetically in the same loop, so the loop
 * vectorises; a 256-entry table lookup per element does not. For a non-NaN input the saturated code
 * is never a NaN code, and its value is, with magnitude code c = (E << m) | M:
 *     E != 0:  float bits (c << (23 - m)) + ((127 - bias) << 23)   (= (E - bias + 127) << 23 | M << (23 - m))
 *     E == 0:  c * 2^(1 - bias - m)                                (exact: c < 2^m)
 * with the code's sign bit as the float's. Every NaN input gets the value of the code NaN encodes to,
 * which depends only on its sign (nan_val[sign]), or is kept (nan_passthrough). The tests compare this
 * with decode(encode(x)) through the table. */

/* out, or for a NaN input `bits` the value it quantises to: itself (pass all ones) or nan0 / nan1 by
 * its sign (pass 0); branch-free. */
static inline uint32_t umup__quantise_nan(uint32_t out, uint32_t bits, uint32_t nan0, uint32_t nan1, uint32_t pass) {
    uint32_t isn = 0u - (uint32_t)((bits & 0x7FFFFFFFu) > 0x7F800000u);
    uint32_t nanv = (bits & pass) | ((nan0 ^ ((nan0 ^ nan1) & (0u - (bits >> 31)))) & ~pass);
    return (out & ~isn) | (nanv & isn);
}

/* The value bits of code c (sign at signpos) of a saturated non-NaN input, or of the NaN input `bits`
 * (see umup__quantise_sat); branch-free. */
static inline uint32_t umup__quantise_value(uint32_t c, uint32_t bits, uint32_t signpos, uint32_t magmask,
                                            uint32_t minnorm, uint32_t sh, uint32_t expadd, float quantum,
                                            uint32_t nan0, uint32_t nan1, uint32_t pass) {
    uint32_t mag = c & magmask, v, out, nrm = 0u - (uint32_t)(mag >= minnorm);
    float sub = (float)(int32_t)mag * quantum;
    memcpy(&v, &sub, 4);
    out = (((mag << sh) + expadd) & nrm) | (v & ~nrm) | ((c >> signpos) << 31); /* masks, not ?: (gcc 12 then vectorises) */
    return umup__quantise_nan(out, bits, nan0, nan1, pass);
}


/* Quantise src[0..len) into dst (which may equal src) in an 8-bit format that saturates, fused: the
 * code of each element (the encoders above) is decoded arithmetically in the same loop, so the loop
 * vectorises; a 256-entry table lookup per element does not. For a non-NaN input the saturated code
 * is never a NaN code, and its value is, with magnitude code c = (E << m) | M:
 *     E != 0:  float bits (c << (23 - m)) + ((127 - bias) << 23)   (= (E - bias + 127) << 23 | M << (23 - m))
 *     E == 0:  c * 2^(1 - bias - m)                                (exact: c < 2^m)
 * with the code's sign bit as the float's. Every NaN input gets the value of the code NaN encodes to,
 * which depends only on its sign (nan0, nan1), or is kept (nan_passthrough). Stochastic rounding with
 * all 32 random bits skips the codes altogether (see that branch). The tests compare every branch
 * with decode(encode(x)) through the table. */
static void umup__quantise_sat(const umup__bulk *b, const float *s, float *df, size_t len, uint32_t k1, uint32_t k2,
                               uint32_t lo) {
    const umup__fmt *p = b->p;
    const uint32_t m = p->m, maxcode = p->maxcode, ovfcode = p->ovfcode, nancode = p->nancode;
    const uint32_t nan_signed = p->nan_signed, signpos = p->e + p->m, nb = b->nb, sh = 23u - p->m;
    const uint32_t magmask = (1u << signpos) - 1u, minnorm = 1u << p->m;
    const uint32_t expadd = (uint32_t)(127 - p->bias) << 23, pass = b->nan_passthrough ? 0xFFFFFFFFu : 0u;
    const int32_t bias = p->bias;
    const int fnuz = p->kind == UMUP_SPECIALS_FNUZ;
    const float quantum = umup__bits_to_float((uint32_t)(1 - bias - (int32_t)m + 127) << 23);
    const uint32_t nan0 = b->table[umup__encode_bits(0x7FC00000u, m, bias, maxcode, ovfcode, nancode, nan_signed, fnuz,
                                                     signpos, 1, 0u, 0u)];
    const uint32_t nan1 = b->table[umup__encode_bits(0xFFC00000u, m, bias, maxcode, ovfcode, nancode, nan_signed, fnuz,
                                                     signpos, 1, 0u, 0u)];
    size_t j;
    if (nb == 0u) {
        float magic = umup__bits_to_float((uint32_t)(1 - bias - (int32_t)m + 23 + 127) << 23);
        uint32_t maxbits, minnormbits;
        umup__sat_bounds(p, &maxbits, &minnormbits);
        j = 0;
#ifdef UMUP__QUANTISE_X16
        j = umup__quantise_rne_x16(s, df, len, sh, maxbits, minnormbits, magic, nan0, nan1, pass, fnuz);
#endif
        for (; j < len; j++) {
            uint32_t bits, c, out;
            memcpy(&bits, &s[j], 4);
            c = umup__encode_sat_rne(bits, m, bias, maxbits, minnormbits, magic, nancode, nan_signed, fnuz, signpos);
            out = umup__quantise_value(c, bits, signpos, magmask, minnorm, sh, expadd, quantum, nan0, nan1, pass);
            memcpy(&df[j], &out, 4);
        }
    } else if (nb == 32u) {
        /* SR with all 32 random bits (UMUP_FP8_SR), on the float's bits without codes. Above the
         * format's smallest normal the d0 = 23 - m dropped bits of a float round up iff they plus the
         * top d0 bits of r carry: (a + (r >> (32 - d0))) with the d0 bits cleared, the carry moving into
         * the exponent by itself, then clamped to max (saturation). Below it the code is
         * q' = (sig + (r >> (32 - d))) >> d with d = d0 + sh > d0 dropped bits (umup__encode_bits with
         * k = d), or for d >= 32 the carry out of (sig >> (d - 32)) + r; its value q' 2^(1-bias-m). */
        const uint32_t d0 = 23u - m, lowmask = (1u << d0) - 1u;
        const int32_t emin = 1 - bias;
        uint32_t maxbits, minnormbits;
        umup__sat_bounds(p, &maxbits, &minnormbits);
        j = 0;
#ifdef UMUP__QUANTISE_X16
        j = umup__quantise_sr32_x16(s, df, len, k1, k2, lo, d0, maxbits, minnormbits, emin, quantum, nan0, nan1, pass,
                                    fnuz);
#endif
        for (; j < len; j++) {
            uint32_t bits, a, ef, sig, d, dA, db, q, nrm, v, sel, outm, out, r;
            int32_t shv;
            float sub;
            r = umup__rng_block(k1, k2, lo + (uint32_t)j);
            memcpy(&bits, &s[j], 4);
            a = bits & 0x7FFFFFFFu;
            nrm = (a + (r >> (32u - d0))) & ~lowmask;
            nrm = nrm < maxbits ? nrm : maxbits;
            ef = a >> 23;
            sig = (a & 0x7FFFFFu) | ((uint32_t)(ef != 0u) << 23);
            shv = emin - ((int32_t)(ef + (uint32_t)(ef == 0u)) - 127);
            d = d0 + (uint32_t)(shv > 0 ? shv : 0);
            dA = d < 31u ? d : 31u;
            db = d > 32u ? d - 32u : 0u;
            db = db < 31u ? db : 31u;
            q = d <= 31u ? (sig + (r >> (32u - dA))) >> dA : (uint32_t)((sig >> db) + r < r);
            sub = (float)(int32_t)q * quantum;
            memcpy(&v, &sub, 4);
            sel = 0u - (uint32_t)(a < minnormbits);
            outm = (v & sel) | (nrm & ~sel);
            out = umup__quantise_nan(outm | (((bits >> 31) & (uint32_t)!(fnuz && outm == 0u)) << 31), bits, nan0, nan1,
                                     pass);
            memcpy(&df[j], &out, 4);
        }
    } else {
        for (j = 0; j < len; j++) {
            uint32_t bits, c, out, r = umup__rng_block(k1, k2, lo + (uint32_t)j);
            memcpy(&bits, &s[j], 4);
            c = umup__encode_bits(bits, m, bias, maxcode, ovfcode, nancode, nan_signed, fnuz, signpos, 1, nb, r);
            out = umup__quantise_value(c, bits, signpos, magmask, minnorm, sh, expadd, quantum, nan0, nan1, pass);
            memcpy(&df[j], &out, 4);
        }
    }
}

#define UMUP__SUB 512

/* out == 0: uint8 codes into dst; out == 2: decoded floats (quantise) into dst. */
static void umup__encode_run(const umup__bulk *b, const float *src, void *dst, int out, size_t start, size_t len) {
    size_t i = start, end = start + len;
    while (i < end) {
        uint64_t c = b->counter + (uint64_t)i;
        uint32_t lo = (uint32_t)c;
        uint64_t room = 0x100000000ull - (uint64_t)lo;
        size_t run = (size_t)((uint64_t)(end - i) < room ? (uint64_t)(end - i) : room);
        uint64_t key = b->nb ? umup__rng_key(b->seed, c >> 32) : 0u;
        uint32_t k1 = (uint32_t)key, k2 = (uint32_t)(key >> 32);
        if (out == 0) {
            umup__encode_codes(b, src + i, (uint8_t *)dst + i, NULL, run, k1, k2, lo);
        } else if (b->table && (b->sat || b->p->kind == UMUP_SPECIALS_NONE)) {
            umup__quantise_sat(b, src + i, (float *)dst + i, run, k1, k2, lo);
        } else {
            /* quantise: encode a sub-block into codes, then decode by table (or arithmetic) */
            size_t s0;
            for (s0 = 0; s0 < run; s0 += UMUP__SUB) {
                uint8_t c8[UMUP__SUB];
                uint32_t c32[UMUP__SUB];
                size_t n = run - s0 < UMUP__SUB ? run - s0 : UMUP__SUB, j;
                const float *s = src + i + s0;
                float *df = (float *)dst + i + s0;
                if (b->table) {
                    const uint32_t *tab = b->table;
                    umup__encode_codes(b, s, c8, NULL, n, k1, k2, lo + (uint32_t)s0);
                    if (!b->nan_passthrough) {
                        for (j = 0; j < n; j++) memcpy(&df[j], &tab[c8[j]], 4);
                    } else { /* s[j] is read before df[j] is written: dst may equal src */
                        for (j = 0; j < n; j++) {
                            float v, x = s[j];
                            memcpy(&v, &tab[c8[j]], 4);
                            df[j] = x != x ? x : v;
                        }
                    }
                } else {
                    umup__encode_codes(b, s, NULL, c32, n, k1, k2, lo + (uint32_t)s0);
                    for (j = 0; j < n; j++) {
                        float v = umup__decode_fmt(c32[j], b->p);
                        if (b->nan_passthrough && s[j] != s[j]) v = s[j];
                        df[j] = v;
                    }
                }
            }
        }
        i += run;
    }
}

static void umup__encode_all(const umup__bulk *b, const float *src, void *dst, int out, size_t n) {
    long nblocks = (long)((n + UMUP__BLOCK - 1) / UMUP__BLOCK), k;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (nblocks > 4)
#endif
    for (k = 0; k < nblocks; k++) {
        size_t start = (size_t)k * UMUP__BLOCK;
        size_t len = n - start < UMUP__BLOCK ? n - start : UMUP__BLOCK;
        umup__encode_run(b, src, dst, out, start, len);
    }
}

/* 256-entry table of value bits for an 8-bit format (built per call for the non-OCP formats). */
static const uint32_t *umup__table_for(umup_fp8_format fmt, uint32_t *scratch) {
    const umup__fmt *p = umup__fp8_params(fmt);
    uint32_t c;
    if ((int)fmt < 4) return umup__fp8_tables[fmt];
    for (c = 0; c < 256u; c++) {
        float v = umup__decode_fmt(c, p);
        memcpy(&scratch[c], &v, 4);
    }
    return scratch;
}

UMUPDEF umup_status umup_fp8_encode_array(uint8_t *dst, const float *src, size_t n, umup_fp8_format fmt,
                                          umup_fp8_rounding rounding, int saturate, uint64_t seed,
                                          uint64_t counter) {
    umup__bulk b;
    if (n && (!dst || !src)) return UMUP_ERR_NULL;
    if (UMUP__TOO_MANY(n, sizeof(float))) return UMUP_ERR_SHAPE;
    if (!umup__fp8_params(fmt) || !umup__rounding_ok(rounding)) return UMUP_ERR_INVALID_ARG;
    b.p = umup__fp8_params(fmt);
    b.table = NULL;
    b.sat = saturate;
    b.nb = umup__round_bits(rounding, 0);
    b.seed = seed;
    b.counter = counter;
    b.nan_passthrough = 0;
    umup__encode_all(&b, src, dst, 0, n);
    return UMUP_OK;
}

UMUPDEF umup_status umup_fp8_decode_array(float *dst, const uint8_t *src, size_t n, umup_fp8_format fmt) {
    uint32_t scratch[256];
    const uint32_t *tab;
    long nn = (long)n, i;
    if (n && (!dst || !src)) return UMUP_ERR_NULL;
    if (UMUP__TOO_MANY(n, sizeof(float))) return UMUP_ERR_SHAPE;
    if (!umup__fp8_params(fmt)) return UMUP_ERR_INVALID_ARG;
    tab = umup__table_for(fmt, scratch);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (nn > 4 * UMUP__BLOCK)
#endif
    for (i = 0; i < nn; i++) memcpy(&dst[i], &tab[src[i]], 4);
    return UMUP_OK;
}

UMUPDEF umup_status umup_fp8_quantise_array(float *dst, const float *src, size_t n, umup_fp8_format fmt,
                                            umup_fp8_rounding rounding, int saturate, uint64_t seed,
                                            uint64_t counter) {
    uint32_t scratch[256];
    umup__bulk b;
    if (n && (!dst || !src)) return UMUP_ERR_NULL;
    if (UMUP__TOO_MANY(n, sizeof(float))) return UMUP_ERR_SHAPE;
    if (!umup__fp8_params(fmt) || !umup__rounding_ok(rounding)) return UMUP_ERR_INVALID_ARG;
    b.p = umup__fp8_params(fmt);
    b.table = umup__table_for(fmt, scratch);
    b.sat = saturate;
    b.nb = umup__round_bits(rounding, 0);
    b.seed = seed;
    b.counter = counter;
    b.nan_passthrough = b.p->kind == UMUP_SPECIALS_NONE;
    umup__encode_all(&b, src, dst, 2, n);
    return UMUP_OK;
}

/* ---- Generic formats --------------------------------------------------------------------------- */

UMUPDEF float umup_float_format_max(const umup_float_format *f) {
    umup__fmt p;
    if (umup_float_format_check(f) != UMUP_OK) return 0.0f;
    umup__fmt_init(&p, f);
    return umup__fmt_max(&p);
}
UMUPDEF float umup_float_format_min_normal(const umup_float_format *f) {
    umup__fmt p;
    if (umup_float_format_check(f) != UMUP_OK) return 0.0f;
    umup__fmt_init(&p, f);
    return umup__fmt_min_normal(&p);
}
UMUPDEF float umup_float_format_min_subnormal(const umup_float_format *f) {
    umup__fmt p;
    if (umup_float_format_check(f) != UMUP_OK) return 0.0f;
    umup__fmt_init(&p, f);
    return umup__fmt_min_subnormal(&p);
}

UMUPDEF uint32_t umup_float_encode(float x, const umup_float_format *f, int saturate,
                                   umup_fp8_rounding rounding, int sr_bits, uint32_t random_bits) {
    umup__fmt p;
    if (umup_float_format_check(f) != UMUP_OK || !umup__rounding_ok(rounding)) return 0u;
    umup__fmt_init(&p, f);
    return umup__encode_fmt(x, &p, saturate, umup__round_bits(rounding, sr_bits), random_bits);
}

UMUPDEF float umup_float_decode(uint32_t code, const umup_float_format *f) {
    umup__fmt p;
    if (umup_float_format_check(f) != UMUP_OK) return umup__bits_to_float(0x7FC00000u);
    umup__fmt_init(&p, f);
    return umup__decode_fmt(code, &p);
}

UMUPDEF umup_status umup_float_quantise_array(float *dst, const float *src, size_t n,
                                              const umup_float_format *f, umup_fp8_rounding rounding,
                                              int saturate, uint64_t seed, uint64_t counter) {
    umup__fmt p;
    umup__bulk b;
    umup_status st;
    if (!f) return UMUP_ERR_NULL;
    if (n && (!dst || !src)) return UMUP_ERR_NULL;
    if (UMUP__TOO_MANY(n, sizeof(float))) return UMUP_ERR_SHAPE;
    st = umup_float_format_check(f);
    if (st != UMUP_OK) return st;
    if (!umup__rounding_ok(rounding)) return UMUP_ERR_INVALID_ARG;
    umup__fmt_init(&p, f);
    b.p = &p;
    b.table = NULL;
    b.sat = saturate;
    b.nb = umup__round_bits(rounding, 0);
    b.seed = seed;
    b.counter = counter;
    b.nan_passthrough = p.kind == UMUP_SPECIALS_NONE;
    umup__encode_all(&b, src, dst, 2, n);
    return UMUP_OK;
}

/* ---- E8M0 and MX blocks ------------------------------------------------------------------------ */

UMUPDEF float umup_e8m0_to_float(uint8_t code) {
    if (code == 0xFFu) return umup__bits_to_float(0x7FC00000u);
    if (code == 0u) return umup__bits_to_float(0x00400000u); /* 2^-127, a float subnormal */
    return umup__bits_to_float((uint32_t)code << 23);
}

/* 2^k as a double, for |k| <= 1000 (exact, built from bits). */
static double umup__pow2d(int k) {
    uint64_t bits = (uint64_t)(k + 1023) << 52;
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* floor(log2(a)) for a finite positive float (float subnormals included). */
static int umup__ilog2f(float a) {
    uint32_t bits, ef;
    memcpy(&bits, &a, 4);
    ef = (bits >> 23) & 0xFFu;
    if (ef) return (int)ef - 127;
    {
        uint32_t mant = bits & 0x7FFFFFu;
        int pos = -1;
        while (mant) { mant >>= 1; pos++; }
        return pos - 149;
    }
}

static int umup__mx_emax(const umup__fmt *p) {
    int top = (int)(1u << p->e) - 1;
    if (p->kind == UMUP_SPECIALS_IEEE) top -= 1;
    return top - p->bias;
}

static umup_status umup__mx_check(const umup_float_format *elem, umup__fmt *p) {
    umup_status st;
    if (!elem) return UMUP_ERR_NULL;
    st = umup_float_format_check(elem);
    if (st != UMUP_OK) return st;
    if (1 + elem->exp_bits + elem->man_bits > 8) return UMUP_ERR_INVALID_ARG;
    umup__fmt_init(p, elem);
    return UMUP_OK;
}

UMUPDEF umup_status umup_mx_encode(uint8_t *scales, uint8_t *elems, const float *src, size_t n,
                                   const umup_float_format *elem) {
    umup__fmt p;
    umup_status st;
    size_t blk, nblk = (n + UMUP_MX_BLOCK - 1) / UMUP_MX_BLOCK;
    int emax;
    if (n && (!scales || !elems || !src)) return UMUP_ERR_NULL;
    if (UMUP__TOO_MANY(n, sizeof(float))) return UMUP_ERR_SHAPE;
    st = umup__mx_check(elem, &p);
    if (st != UMUP_OK) return st;
    emax = umup__mx_emax(&p);
    for (blk = 0; blk < nblk; blk++) {
        size_t s0 = blk * UMUP_MX_BLOCK, len = n - s0 < UMUP_MX_BLOCK ? n - s0 : UMUP_MX_BLOCK, i;
        float amax = 0.0f;
        int special = 0, E;
        double inv;
        for (i = 0; i < len; i++) {
            float a = src[s0 + i] < 0 ? -src[s0 + i] : src[s0 + i];
            if (!(a <= 3.4028234663852886e38f)) special = 1; /* NaN or Inf */
            else if (a > amax) amax = a;
        }
        if (special) {
            scales[blk] = 0xFFu;
            for (i = 0; i < len; i++) elems[s0 + i] = 0u;
            continue;
        }
        E = amax > 0.0f ? umup__ilog2f(amax) - emax : -127;
        if (E < -127) E = -127;
        if (E > 127) E = 127;
        scales[blk] = (uint8_t)(E + 127);
        inv = umup__pow2d(-E);
        for (i = 0; i < len; i++) {
            float v = (float)((double)src[s0 + i] * inv); /* exact unless far below the element grid */
            elems[s0 + i] = (uint8_t)umup__encode_fmt(v, &p, 1, 0u, 0u);
        }
    }
    return UMUP_OK;
}

UMUPDEF umup_status umup_mx_decode(float *dst, const uint8_t *scales, const uint8_t *elems, size_t n,
                                   const umup_float_format *elem) {
    umup__fmt p;
    umup_status st;
    size_t i;
    if (n && (!scales || !elems || !dst)) return UMUP_ERR_NULL;
    if (UMUP__TOO_MANY(n, sizeof(float))) return UMUP_ERR_SHAPE;
    st = umup__mx_check(elem, &p);
    if (st != UMUP_OK) return st;
    for (i = 0; i < n; i++) {
        uint8_t s = scales[i / UMUP_MX_BLOCK];
        if (s == 0xFFu) dst[i] = umup__bits_to_float(0x7FC00000u);
        else dst[i] = (float)((double)umup__decode_fmt(elems[i], &p) * umup__pow2d((int)s - 127));
    }
    return UMUP_OK;
}

UMUPDEF umup_status umup_mx_quantise(float *dst, const float *src, size_t n, const umup_float_format *elem) {
    uint8_t sc[1], el[UMUP_MX_BLOCK];
    umup__fmt p;
    umup_status st;
    size_t s0;
    if (n && (!dst || !src)) return UMUP_ERR_NULL;
    if (UMUP__TOO_MANY(n, sizeof(float))) return UMUP_ERR_SHAPE;
    st = umup__mx_check(elem, &p);
    if (st != UMUP_OK) return st;
    for (s0 = 0; s0 < n; s0 += UMUP_MX_BLOCK) {
        size_t len = n - s0 < UMUP_MX_BLOCK ? n - s0 : UMUP_MX_BLOCK;
        umup_mx_encode(sc, el, src + s0, len, elem);
        umup_mx_decode(dst + s0, sc, el, len, elem);
    }
    return UMUP_OK;
}

#endif /* UMUP_FP8_IMPLEMENTATION_DONE */
#endif /* UMUP_IMPLEMENTATION || UMUP_FP8_IMPLEMENTATION */

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
