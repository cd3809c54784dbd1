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

/* @@OPS_DECL@@ */

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

/* @@OPS_IMPL@@ */

/* @@PARAM_IMPL@@ */

/* @@MODEL_IMPL@@ */

#endif /* UMUP_IMPLEMENTATION_DONE */
#endif /* UMUP_IMPLEMENTATION */
