/* umup_fp8.h - v0.1.0 - small-float numerics (OCP FP8, FNUZ, MX, BF16/FP16) in one C header
 * (STUB: being written; see issue 2.)
 */
#ifndef UMUP_FP8_H
#define UMUP_FP8_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
/* ---- Shared definitions (also used by umup.h) ---------------------------- */
#ifndef UMUP_COMMON_DEFINED
#define UMUP_COMMON_DEFINED

#define UMUP_VERSION_MAJOR 0
#define UMUP_VERSION_MINOR 1
#define UMUP_VERSION_PATCH 0

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
    UMUP_ERR_UNSUPPORTED    /* the request is valid but not supported by this build */
} umup_status;

/* A short English description of a status code (never NULL; static storage). */
UMUPDEF const char *umup_status_string(umup_status s);

#endif /* UMUP_COMMON_DEFINED */
typedef enum { UMUP_FP8_E4M3, UMUP_FP8_E5M2, UMUP_FP8_E4M3FNUZ, UMUP_FP8_E5M2FNUZ } umup_fp8_format;
UMUPDEF uint8_t umup_fp8_from_float(float x, umup_fp8_format fmt, int saturate);
UMUPDEF uint8_t umup_fp8_from_float_sr(float x, umup_fp8_format fmt, int saturate, uint32_t random_bits);
UMUPDEF float umup_fp8_to_float(uint8_t code, umup_fp8_format fmt);
#ifdef __cplusplus
}
#endif
#endif /* UMUP_FP8_H */

#if defined(UMUP_IMPLEMENTATION) || defined(UMUP_FP8_IMPLEMENTATION)
#ifndef UMUP_FP8_IMPLEMENTATION_DONE
#define UMUP_FP8_IMPLEMENTATION_DONE
UMUPDEF const char *umup_status_string(umup_status s) { (void)s; return "stub"; }
UMUPDEF uint8_t umup_fp8_from_float(float x, umup_fp8_format fmt, int saturate) { (void)x; (void)fmt; (void)saturate; return 0; }
UMUPDEF uint8_t umup_fp8_from_float_sr(float x, umup_fp8_format fmt, int saturate, uint32_t random_bits) { (void)x; (void)fmt; (void)saturate; (void)random_bits; return 0; }
UMUPDEF float umup_fp8_to_float(uint8_t code, umup_fp8_format fmt) { (void)code; (void)fmt; return 0.0f; }
#endif
#endif
