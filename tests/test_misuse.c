/* tests/test_misuse.c - API misuse: every public function of umup_fp8.h and umup.h called with NULL
 * pointers, zero sizes and sizes no buffer can have, checking the documented status and that
 * nothing crashes (make asan runs this under AddressSanitizer + UBSan, make valgrind under
 * valgrind). The size rules these calls rely on:
 *   - a NULL pointer that the call would use gives UMUP_ERR_NULL (n = 0 needs no pointer where the
 *     function takes a size_t count);
 *   - int dimensions must be >= 1 (UMUP_ERR_SHAPE), size_t counts may be 0 (nothing happens);
 *   - a size whose buffer could not exist (more bytes than PTRDIFF_MAX, the largest object C allows,
 *     e.g. n = (size_t)-1 from an unsigned 0 - 1, or INT_MAX x INT_MAX floats) gives
 *     UMUP_ERR_SHAPE before anything is read or written; allocations that cannot be made give
 *     UMUP_ERR_NOMEM.
 * Where a failing call documents "nothing is written", the output buffer is checked unchanged. */
#define _POSIX_C_SOURCE 200809L
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "umup_test.h"

#include <limits.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define BIGN ((size_t)-1)               /* an unsigned 0 - 1 */
#define HUGEN (((size_t)-1 >> 1) / 2)   /* 2^62: 2^64 bytes of floats */

/* st == want, reported with the call's text. */
#define EXPECT(call, want)                                                                                  \
    do {                                                                                                    \
        umup_status st_ = (call);                                                                           \
        UT_CHECKF(st_ == (want), "%s -> %d (%s), want %d (%s)", #call, (int)st_, umup_status_string(st_), (int)(want), \
                  umup_status_string(want));                                                                \
    } while (0)

/* EXPECT in a child process, for calls into code this test does not own that may crash: a crash
 * is then one failed check (with its signal) instead of the end of the whole program. */
#define EXPECT_CHILD(call, want)                                                                            \
    do {                                                                                                    \
        int ws_ = 0;                                                                                        \
        pid_t pid_;                                                                                         \
        fflush(NULL);                                                                                       \
        pid_ = fork();                                                                                      \
        if (pid_ == 0) _exit(100 + (int)(call)); /* 100 + status: never a sanitizer's exit code */         \
        if (pid_ > 0) waitpid(pid_, &ws_, 0);                                                               \
        UT_CHECKF(pid_ > 0 && WIFEXITED(ws_) && WEXITSTATUS(ws_) == 100 + (int)(want), "%s -> %s %d, want 100 + %d (%s)", #call, \
                  WIFSIGNALED(ws_) ? "killed by signal" : "exit", WIFSIGNALED(ws_) ? WTERMSIG(ws_) : WEXITSTATUS(ws_), \
                  (int)(want), umup_status_string(want));                                                   \
    } while (0)

static float F1[256], F2[256], F3[256], F4[256], F5[256], F6[256], F7[256];
static uint8_t U1[256], U2[256];
static int32_t I1[64], I2[64];
static umup_op_scales S1;

/* Fills the float buffers with a sentinel, to check that failing calls leave them alone. */
static void sentinel(void) {
    int i;
    for (i = 0; i < 256; i++) F1[i] = F2[i] = F3[i] = F4[i] = F5[i] = F6[i] = F7[i] = 0.25f;
    memset(U1, 0x5A, sizeof U1);
    memset(U2, 0x5A, sizeof U2);
    for (i = 0; i < 64; i++) { I1[i] = 1; I2[i] = 2; }
    S1.out = S1.grad[0] = S1.grad[1] = S1.grad[2] = S1.grad_w = 1.0f;
}
static int untouched(const float *f) {
    int i;
    for (i = 0; i < 256; i++)
        if (f[i] != 0.25f) return 0;
    return 1;
}

/* ---- umup_fp8.h ------------------------------------------------------------------------------ */

static void test_fp8_scalar(void) {
    int s;
    umup_fp8_format f = UMUP_FP8_E4M3;
    const umup_fp8_format bad = (umup_fp8_format)99;
    for (s = 0; s <= (int)UMUP_ERR_UNSUPPORTED + 3; s++) UT_CHECK(umup_status_string((umup_status)s) != NULL);
    UT_CHECK(umup_status_string((umup_status)-1) != NULL);
    UT_CHECK(umup_fp8_from_float(1.0f, bad, 1) == 0 && umup_fp8_from_float_sr(1.0f, bad, 1, 7u) == 0);
    UT_CHECK(umup_fp8_to_float(0x38, bad) != umup_fp8_to_float(0x38, bad)); /* NaN */
    UT_CHECK(umup_fp8_max(bad) == 0 && umup_fp8_min_normal(bad) == 0 && umup_fp8_min_subnormal(bad) == 0);
    UT_CHECK(!strcmp(umup_fp8_name(bad), "?") && !strcmp(umup_fp8_name((umup_fp8_format)-1), "?"));
    EXPECT(umup_fp8_parse(NULL, &f), UMUP_ERR_NULL);
    EXPECT(umup_fp8_parse("e4m3", NULL), UMUP_ERR_NULL);
    EXPECT(umup_fp8_parse("", &f), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_fp8_parse("e4m3 ", &f), UMUP_ERR_INVALID_ARG);
    UT_CHECK(umup_rng_uniform(1, ~(uint64_t)0) < 1.0f);
    UT_CHECK(umup_rng_u32(5, ~(uint64_t)0) == umup_rng_u32(5, ~(uint64_t)0)); /* no pointer, no size: pure */
}

static void test_fp8_bulk(void) {
    const umup_fp8_format bad = (umup_fp8_format)99;
    const umup_fp8_rounding badr = (umup_fp8_rounding)7;
    umup_float_format ff = umup_float_format_preset(UMUP_FLOAT_BF16), e2m1 = umup_float_format_preset(UMUP_FLOAT_E2M1);
    umup_float_format broken = {0, 0, 0, UMUP_SPECIALS_IEEE};
    sentinel();
    /* n = 0: nothing happens, no pointer needed */
    EXPECT(umup_fp8_encode_array(NULL, NULL, 0, UMUP_FP8_E4M3, UMUP_FP8_RNE, 1, 0, 0), UMUP_OK);
    EXPECT(umup_fp8_decode_array(NULL, NULL, 0, UMUP_FP8_E4M3), UMUP_OK);
    EXPECT(umup_fp8_quantise_array(NULL, NULL, 0, UMUP_FP8_E5M2, UMUP_FP8_SR, 1, 0, 0), UMUP_OK);
    EXPECT(umup_float_quantise_array(NULL, NULL, 0, &ff, UMUP_FP8_RNE, 1, 0, 0), UMUP_OK);
    EXPECT(umup_mx_encode(NULL, NULL, NULL, 0, &e2m1), UMUP_OK);
    EXPECT(umup_mx_decode(NULL, NULL, NULL, 0, &e2m1), UMUP_OK);
    EXPECT(umup_mx_quantise(NULL, NULL, 0, &e2m1), UMUP_OK);
    /* NULL with n > 0 */
    EXPECT(umup_fp8_encode_array(NULL, F1, 4, UMUP_FP8_E4M3, UMUP_FP8_RNE, 1, 0, 0), UMUP_ERR_NULL);
    EXPECT(umup_fp8_encode_array(U1, NULL, 4, UMUP_FP8_E4M3, UMUP_FP8_RNE, 1, 0, 0), UMUP_ERR_NULL);
    EXPECT(umup_fp8_decode_array(NULL, U1, 4, UMUP_FP8_E4M3), UMUP_ERR_NULL);
    EXPECT(umup_fp8_decode_array(F1, NULL, 4, UMUP_FP8_E4M3), UMUP_ERR_NULL);
    EXPECT(umup_fp8_quantise_array(NULL, F2, 4, UMUP_FP8_E4M3, UMUP_FP8_RNE, 1, 0, 0), UMUP_ERR_NULL);
    EXPECT(umup_fp8_quantise_array(F1, NULL, 4, UMUP_FP8_E4M3, UMUP_FP8_RNE, 1, 0, 0), UMUP_ERR_NULL);
    EXPECT(umup_float_quantise_array(F1, F2, 4, NULL, UMUP_FP8_RNE, 1, 0, 0), UMUP_ERR_NULL);
    EXPECT(umup_float_quantise_array(NULL, F2, 4, &ff, UMUP_FP8_RNE, 1, 0, 0), UMUP_ERR_NULL);
    EXPECT(umup_mx_encode(NULL, U2, F1, 4, &e2m1), UMUP_ERR_NULL);
    EXPECT(umup_mx_encode(U1, NULL, F1, 4, &e2m1), UMUP_ERR_NULL);
    EXPECT(umup_mx_encode(U1, U2, NULL, 4, &e2m1), UMUP_ERR_NULL);
    EXPECT(umup_mx_encode(U1, U2, F1, 4, NULL), UMUP_ERR_NULL);
    EXPECT(umup_mx_decode(NULL, U1, U2, 4, &e2m1), UMUP_ERR_NULL);
    EXPECT(umup_mx_decode(F1, NULL, U2, 4, &e2m1), UMUP_ERR_NULL);
    EXPECT(umup_mx_decode(F1, U1, NULL, 4, &e2m1), UMUP_ERR_NULL);
    EXPECT(umup_mx_quantise(NULL, F2, 4, &e2m1), UMUP_ERR_NULL);
    EXPECT(umup_mx_quantise(F1, F2, 4, NULL), UMUP_ERR_NULL);
    /* bad enums and formats */
    EXPECT(umup_fp8_encode_array(U1, F1, 4, bad, UMUP_FP8_RNE, 1, 0, 0), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_fp8_encode_array(U1, F1, 4, UMUP_FP8_E4M3, badr, 1, 0, 0), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_fp8_decode_array(F1, U1, 4, bad), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_fp8_quantise_array(F1, F2, 4, bad, UMUP_FP8_RNE, 1, 0, 0), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_float_quantise_array(F1, F2, 4, &broken, UMUP_FP8_RNE, 1, 0, 0), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_float_quantise_array(F1, F2, 4, &ff, badr, 1, 0, 0), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_mx_encode(U1, U2, F3, 4, &ff), UMUP_ERR_INVALID_ARG); /* a 16-bit element */
    EXPECT(umup_mx_decode(F1, U1, U2, 4, &broken), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_mx_quantise(F1, F2, 4, &broken), UMUP_ERR_INVALID_ARG);
    /* a count no array can have: refused before anything is read or written */
    EXPECT(umup_fp8_encode_array(U1, F1, BIGN, UMUP_FP8_E4M3, UMUP_FP8_RNE, 1, 0, 0), UMUP_ERR_SHAPE);
    EXPECT(umup_fp8_decode_array(F1, U1, BIGN, UMUP_FP8_E4M3), UMUP_ERR_SHAPE);
    EXPECT(umup_fp8_quantise_array(F1, F2, HUGEN, UMUP_FP8_E4M3, UMUP_FP8_SR, 1, 0, 0), UMUP_ERR_SHAPE);
    EXPECT(umup_float_quantise_array(F1, F2, BIGN, &ff, UMUP_FP8_RNE, 1, 0, 0), UMUP_ERR_SHAPE);
    EXPECT(umup_mx_encode(U1, U2, F3, BIGN, &e2m1), UMUP_ERR_SHAPE);
    EXPECT(umup_mx_decode(F1, U1, U2, HUGEN, &e2m1), UMUP_ERR_SHAPE);
    EXPECT(umup_mx_quantise(F1, F2, BIGN, &e2m1), UMUP_ERR_SHAPE);
    UT_CHECK(untouched(F1) && untouched(F2) && U1[0] == 0x5A && U2[0] == 0x5A); /* "on error nothing is written" */
}

static void test_fp8_generic(void) {
    umup_float_format f = umup_float_format_preset((umup_float_preset)99), ok = umup_float_format_preset(UMUP_FLOAT_FP16);
    EXPECT(umup_float_format_check(&f), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_float_format_check(NULL), UMUP_ERR_NULL);
    UT_CHECK(umup_float_format_bits(NULL) == 0 && umup_float_format_bits(&f) == 0 && umup_float_format_bits(&ok) == 16);
    UT_CHECK(umup_float_format_max(NULL) == 0 && umup_float_format_min_normal(NULL) == 0 && umup_float_format_min_subnormal(NULL) == 0);
    UT_CHECK(umup_float_format_max(&f) == 0 && umup_float_format_min_normal(&f) == 0 && umup_float_format_min_subnormal(&f) == 0);
    UT_CHECK(umup_float_encode(1.0f, NULL, 1, UMUP_FP8_RNE, 0, 0) == 0 && umup_float_encode(1.0f, &f, 1, UMUP_FP8_RNE, 0, 0) == 0);
    UT_CHECK(umup_float_encode(1.0f, &ok, 1, (umup_fp8_rounding)9, 0, 0) == 0 || 1); /* documented only for valid f */
    UT_CHECK(umup_float_decode(1, NULL) != umup_float_decode(1, NULL) && umup_float_decode(1, &f) != umup_float_decode(1, &f));
    UT_CHECK(umup_e8m0_to_float(0xFF) != umup_e8m0_to_float(0xFF));
}

/* ---- umup.h, sections 1-6: scales and ops ------------------------------------------------------ */

static void test_scales(void) {
    umup_op_scales s;
    float v[3] = {1, 2, 3};
    double taus[8];
    int d = 0;
    EXPECT(umup_apply_constraint(UMUP_CONSTRAINT_GMEAN, NULL, 3), UMUP_ERR_NULL);
    EXPECT(umup_apply_constraint(UMUP_CONSTRAINT_GMEAN, v, 0), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_apply_constraint((umup_constraint)42, v, 3), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_apply_constraint(UMUP_CONSTRAINT_TO_GRAD_INPUT_SCALE, v, 1), UMUP_ERR_INVALID_ARG);
    UT_CHECK(v[0] == 1 && v[1] == 2 && v[2] == 3);
    EXPECT(umup_matmul_scales(NULL, 1, 1, 1, UMUP_CONSTRAINT_NONE), UMUP_ERR_NULL);
    EXPECT(umup_matmul_scales(&s, 0, 1, 1, UMUP_CONSTRAINT_NONE), UMUP_ERR_SHAPE);
    EXPECT(umup_matmul_scales(&s, 1, -1, 1, UMUP_CONSTRAINT_NONE), UMUP_ERR_SHAPE);
    EXPECT(umup_matmul_scales(&s, INT_MAX, INT_MAX, INT_MAX, UMUP_CONSTRAINT_NONE), UMUP_OK); /* scales only */
    EXPECT(umup_linear_scales(NULL, 1, 1, 1, UMUP_CONSTRAINT_NONE), UMUP_ERR_NULL);
    EXPECT(umup_linear_scales(&s, 1, 0, 1, UMUP_CONSTRAINT_NONE), UMUP_ERR_SHAPE);
    EXPECT(umup_linear_readout_scales(NULL, 1, 1, 1, UMUP_CONSTRAINT_NONE), UMUP_ERR_NULL);
    EXPECT(umup_linear_readout_scales(&s, 1, 1, 0, UMUP_CONSTRAINT_NONE), UMUP_ERR_SHAPE);
    EXPECT(umup_gelu_scales(NULL, 1, UMUP_CONSTRAINT_NONE), UMUP_ERR_NULL);
    EXPECT(umup_gelu_scales(&s, 0, UMUP_CONSTRAINT_NONE), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_silu_scales(NULL, 1, UMUP_CONSTRAINT_NONE), UMUP_ERR_NULL);
    EXPECT(umup_silu_scales(&s, NAN, UMUP_CONSTRAINT_NONE), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_silu_glu_scales(NULL, 1), UMUP_ERR_NULL);
    EXPECT(umup_silu_glu_scales(&s, -1), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_softmax_scales(NULL, 4, 1, UMUP_CONSTRAINT_NONE), UMUP_ERR_NULL);
    EXPECT(umup_softmax_scales(&s, 0, 1, UMUP_CONSTRAINT_NONE), UMUP_ERR_SHAPE);
    EXPECT(umup_softmax_scales(&s, 4, INFINITY, UMUP_CONSTRAINT_NONE), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_sdpa_scales(NULL, 4, 4, 1, 1), UMUP_ERR_NULL);
    EXPECT(umup_sdpa_scales(&s, 0, 4, 1, 1), UMUP_ERR_SHAPE);
    EXPECT(umup_sdpa_scales(&s, 4, 0, 1, 1), UMUP_ERR_SHAPE);
    EXPECT(umup_sdpa_scales(&s, 4, 4, 1, 0), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_head_dim(64, 2, NULL), UMUP_ERR_NULL);
    EXPECT(umup_head_dim(0, 2, &d), UMUP_ERR_SHAPE);
    EXPECT(umup_head_dim(64, 0, &d), UMUP_ERR_SHAPE);
    EXPECT(umup_head_dim(64, 3, &d), UMUP_ERR_SHAPE);
    EXPECT(umup_add_scales(NULL, UMUP_CONSTRAINT_NONE), UMUP_ERR_NULL);
    EXPECT(umup_add_scales(&s, (umup_constraint)42), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_dropout_scales(NULL, 0.1f), UMUP_ERR_NULL);
    EXPECT(umup_dropout_scales(&s, 1.0f), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_dropout_scales(&s, -0.1f), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_embedding_scales(NULL, 4, 4), UMUP_ERR_NULL);
    EXPECT(umup_embedding_scales(&s, 0, 4), UMUP_ERR_SHAPE);
    EXPECT(umup_embedding_scales(&s, 4, 0), UMUP_ERR_SHAPE);
    EXPECT(umup_cross_entropy_scales(NULL, 4, 4, 1, 1), UMUP_ERR_NULL);
    EXPECT(umup_cross_entropy_scales(&s, 0, 4, 1, 1), UMUP_ERR_SHAPE);
    EXPECT(umup_cross_entropy_scales(&s, 4, 1, 1, 1), UMUP_ERR_SHAPE);
    EXPECT(umup_cross_entropy_scales(&s, 4, 4, 0, 1), UMUP_ERR_INVALID_ARG);
    UT_CHECK(umup_residual_tau(-1, 2, 1, 1) != umup_residual_tau(-1, 2, 1, 1)); /* NaN for invalid input */
    UT_CHECK(umup_residual_tau(0, 0, 1, 1) != umup_residual_tau(0, 0, 1, 1));
    EXPECT(umup_transformer_residual_taus(NULL, 2, 1, 1, UMUP_DEPTH_LAYERS), UMUP_ERR_NULL);
    EXPECT(umup_transformer_residual_taus(taus, 0, 1, 1, UMUP_DEPTH_LAYERS), UMUP_ERR_SHAPE);
    EXPECT(umup_transformer_residual_taus(taus, 2, 0, 1, UMUP_DEPTH_LAYERS), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_transformer_residual_taus(taus, 2, 1, 1, (umup_depth_mode)9), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_transformer_residual_taus(taus, INT_MAX, 1, 1, UMUP_DEPTH_LAYERS), UMUP_ERR_SHAPE); /* 2 x layers taus */
    UT_CHECK(umup_logarithmic_interpolation(0.5, 1, 4) == 2.0);
}

/* Elementwise ops with a size_t count: n = 0 is fine with NULL, NULL with n > 0 and an impossible
 * n are refused without touching anything. */
static void test_elementwise(void) {
    const umup_op_scales *s = &S1;
    sentinel();
    EXPECT(umup_scale_fwd_forward(NULL, NULL, 0, 2), UMUP_OK);
    EXPECT(umup_scale_fwd_forward(NULL, F2, 4, 2), UMUP_ERR_NULL);
    EXPECT(umup_scale_fwd_forward(F1, F2, BIGN, 2), UMUP_ERR_SHAPE);
    EXPECT(umup_scale_fwd_backward(F1, NULL, 4), UMUP_ERR_NULL);
    EXPECT(umup_scale_fwd_backward(F1, F2, HUGEN), UMUP_ERR_SHAPE);
    EXPECT(umup_scale_bwd_forward(F1, NULL, 4), UMUP_ERR_NULL);
    EXPECT(umup_scale_bwd_forward(F1, F2, BIGN), UMUP_ERR_SHAPE);
    EXPECT(umup_scale_bwd_backward(NULL, F2, 4, 2), UMUP_ERR_NULL);
    EXPECT(umup_scale_bwd_backward(F1, F2, BIGN, 2), UMUP_ERR_SHAPE);
    EXPECT(umup_gelu_forward(NULL, NULL, 0, 1, s), UMUP_OK);
    EXPECT(umup_gelu_forward(F1, F2, 4, 1, NULL), UMUP_ERR_NULL);
    EXPECT(umup_gelu_forward(F1, NULL, 4, 1, s), UMUP_ERR_NULL);
    EXPECT(umup_gelu_forward(F1, F2, 4, 0, s), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_gelu_forward(F1, F2, BIGN, 1, s), UMUP_ERR_SHAPE);
    EXPECT(umup_gelu_backward(F1, F2, NULL, 4, 1, s), UMUP_ERR_NULL);
    EXPECT(umup_gelu_backward(F1, F2, F3, HUGEN, 1, s), UMUP_ERR_SHAPE);
    EXPECT(umup_silu_forward(NULL, F2, 4, 1, s), UMUP_ERR_NULL);
    EXPECT(umup_silu_forward(F1, F2, BIGN, 1, s), UMUP_ERR_SHAPE);
    EXPECT(umup_silu_backward(F1, NULL, F3, 4, 1, s), UMUP_ERR_NULL);
    EXPECT(umup_silu_backward(F1, F2, F3, BIGN, 1, s), UMUP_ERR_SHAPE);
    EXPECT(umup_silu_glu_forward(F1, F2, NULL, 4, 1, s), UMUP_ERR_NULL);
    EXPECT(umup_silu_glu_forward(F1, F2, F3, BIGN, 1, s), UMUP_ERR_SHAPE);
    EXPECT(umup_silu_glu_forward(F1, F2, F3, 4, -1, s), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_silu_glu_backward(F1, F2, NULL, F4, F5, 4, 1, s), UMUP_ERR_NULL);
    EXPECT(umup_silu_glu_backward(F1, F2, F3, F4, F5, HUGEN, 1, s), UMUP_ERR_SHAPE);
    EXPECT(umup_add_forward(F1, NULL, F3, 4, s), UMUP_ERR_NULL);
    EXPECT(umup_add_forward(F1, F2, F3, BIGN, s), UMUP_ERR_SHAPE);
    EXPECT(umup_add_backward(F1, F2, NULL, 4, s), UMUP_ERR_NULL);
    EXPECT(umup_add_backward(F1, F2, F3, BIGN, s), UMUP_ERR_SHAPE);
    EXPECT(umup_residual_split_forward(NULL, NULL, NULL, 0), UMUP_OK);
    EXPECT(umup_residual_split_forward(F1, F2, NULL, 4), UMUP_ERR_NULL);
    EXPECT(umup_residual_split_forward(F1, F2, F3, BIGN), UMUP_ERR_SHAPE);
    EXPECT(umup_residual_split_backward(NULL, F2, F3, 4, 1), UMUP_ERR_NULL);
    EXPECT(umup_residual_split_backward(F1, F2, F3, 4, 0), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_residual_split_backward(F1, F2, F3, BIGN, 1), UMUP_ERR_SHAPE);
    EXPECT(umup_residual_add_forward(F1, NULL, F3, 4, 1), UMUP_ERR_NULL);
    EXPECT(umup_residual_add_forward(F1, F2, F3, 4, -1), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_residual_add_forward(F1, F2, F3, HUGEN, 1), UMUP_ERR_SHAPE);
    EXPECT(umup_residual_add_backward(F1, F2, NULL, 4), UMUP_ERR_NULL);
    EXPECT(umup_residual_add_backward(F1, F2, F3, BIGN), UMUP_ERR_SHAPE);
    EXPECT(umup_residual_sum_forward(NULL, NULL, NULL, 0, 1, 1), UMUP_OK);
    EXPECT(umup_residual_sum_forward(F1, F2, NULL, 4, 1, 1), UMUP_ERR_NULL);
    EXPECT(umup_residual_sum_forward(F1, F2, F3, 4, NAN, 1), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_residual_sum_forward(F1, F2, F3, BIGN, 1, 1), UMUP_ERR_SHAPE);
    EXPECT(umup_residual_sum_backward(F1, F2, NULL, 4, 1, 1), UMUP_ERR_NULL);
    EXPECT(umup_residual_sum_backward(F1, F2, F3, 4, 1, INFINITY), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_residual_sum_backward(F1, F2, F3, HUGEN, 1, 1), UMUP_ERR_SHAPE);
    EXPECT(umup_dropout_forward(F1, NULL, 4, 0.1f, 1, 0, s), UMUP_ERR_NULL);
    EXPECT(umup_dropout_forward(F1, F2, 4, 1.5f, 1, 0, s), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_dropout_forward(F1, F2, BIGN, 0.1f, 1, 0, s), UMUP_ERR_SHAPE);
    EXPECT(umup_dropout_backward(NULL, F2, 4, 0.1f, 1, 0, s), UMUP_ERR_NULL);
    EXPECT(umup_dropout_backward(F1, F2, HUGEN, 0.1f, 1, 0, s), UMUP_ERR_SHAPE);
    UT_CHECK(untouched(F1) && untouched(F2) && untouched(F3));
}

/* Ops with int dimensions: NULL, 0 and negative sizes, and sizes whose buffers could not exist. */
static void test_matrix_ops(void) {
    const umup_op_scales *s = &S1;
    umup_gemm_args g;
    umup_linear_hints h;
    const int M = INT_MAX;
    sentinel();
    memset(&h, 0, sizeof h);
    memset(&g, 0, sizeof g);
    g.M = g.N = g.K = 2; g.alpha = 1; g.A = F1; g.lda = 2; g.B = F2; g.ldb = 2; g.C = F3; g.ldc = 2;
    EXPECT(umup_gemm(NULL), UMUP_ERR_NULL);
    g.C = NULL;
    EXPECT(umup_gemm(&g), UMUP_ERR_NULL);
    g.C = F3; g.M = -1;
    EXPECT(umup_gemm(&g), UMUP_ERR_SHAPE);
    g.M = 2; g.lda = 1;
    EXPECT(umup_gemm(&g), UMUP_ERR_SHAPE);
    g.lda = 2; g.M = 0;
    EXPECT(umup_gemm(&g), UMUP_OK); /* an empty product */
    g.M = M; g.N = M; g.K = M; g.lda = M; g.ldb = M; g.ldc = M;
    EXPECT(umup_gemm(&g), UMUP_ERR_SHAPE);
    EXPECT(umup_sgemm(0, 0, 2, 2, 3, 1, F1, 2, F2, 2, 0, F3, 2), UMUP_ERR_SHAPE); /* lda < K */
    EXPECT(umup_sgemm(0, 1, 2, 3, 2, 1, F1, 2, F2, 1, 0, F3, 3), UMUP_ERR_SHAPE); /* B^T: ldb < K */
    EXPECT(umup_sgemm(0, 0, M, M, M, 1, F1, M, F2, M, 0, F3, M), UMUP_ERR_SHAPE);
    EXPECT(umup_sgemm(0, 0, 2, 2, 2, 1, NULL, 2, F2, 2, 0, F3, 2), UMUP_ERR_NULL);
    EXPECT(umup_sgemm_portable(0, 0, 2, 2, 2, 1, F1, 2, NULL, 2, 0, F3, 2), UMUP_ERR_NULL);
    EXPECT(umup_sgemm_portable(1, 1, M, M, M, 1, F1, M, F2, M, 0, F3, M), UMUP_ERR_SHAPE);
    EXPECT(umup_sgemm_portable(0, 0, 2, -2, 2, 1, F1, 2, F2, 2, 0, F3, 2), UMUP_ERR_SHAPE);
    umup_set_backend(NULL);
    UT_CHECK(umup_get_backend() == NULL || umup_get_backend() != NULL);
    EXPECT(umup_matmul_forward(NULL, F1, F2, 2, 2, 2, s), UMUP_ERR_NULL);
    EXPECT(umup_matmul_forward(F3, F1, F2, 2, 2, 2, NULL), UMUP_ERR_NULL);
    EXPECT(umup_matmul_forward(F3, F1, F2, 0, 2, 2, s), UMUP_ERR_SHAPE);
    EXPECT(umup_matmul_forward(F3, F1, F2, M, M, M, s), UMUP_ERR_SHAPE);
    EXPECT(umup_matmul_backward(F4, F5, NULL, F1, F2, 2, 2, 2, s), UMUP_ERR_NULL);
    EXPECT(umup_matmul_backward(F4, F5, F3, F1, F2, 2, -2, 2, s), UMUP_ERR_SHAPE);
    EXPECT(umup_matmul_backward(F4, F5, F3, F1, F2, M, M, M, s), UMUP_ERR_SHAPE);
    EXPECT(umup_linear_forward(F3, NULL, F2, NULL, 2, 2, 2, s), UMUP_ERR_NULL);
    EXPECT(umup_linear_forward(F3, F1, F2, NULL, 2, 0, 2, s), UMUP_ERR_SHAPE);
    EXPECT(umup_linear_forward(F3, F1, F2, NULL, M, M, M, s), UMUP_ERR_SHAPE);
    EXPECT(umup_linear_forward_ex(F3, F1, NULL, NULL, 2, 2, 2, s, &h), UMUP_ERR_NULL);
    EXPECT(umup_linear_forward_ex(F3, F1, F2, NULL, M, M, 2, s, NULL), UMUP_ERR_SHAPE);
    EXPECT(umup_linear_backward(F4, F5, NULL, NULL, F1, F2, 2, 2, 2, s), UMUP_ERR_NULL); /* dy */
    EXPECT(umup_linear_backward(F4, F5, NULL, F3, NULL, F2, 2, 2, 2, s), UMUP_ERR_NULL); /* x for dW */
    EXPECT(umup_linear_backward(F4, NULL, NULL, F3, F1, NULL, 2, 2, 2, s), UMUP_ERR_NULL); /* W for dx */
    EXPECT(umup_linear_backward(F4, F5, F6, F3, F1, F2, 2, 2, 0, s), UMUP_ERR_SHAPE);
    EXPECT(umup_linear_backward(F4, F5, F6, F3, F1, F2, M, 2, M, s), UMUP_ERR_SHAPE);
    EXPECT(umup_linear_backward_ex(F4, F5, F6, F3, F1, F2, 2, 2, 2, NULL, &h), UMUP_ERR_NULL);
    EXPECT(umup_linear_backward_ex(F4, F5, F6, F3, F1, F2, M, M, M, s, &h), UMUP_ERR_SHAPE);
    EXPECT(umup_softmax_forward(F1, NULL, 2, 2, 1, s), UMUP_ERR_NULL);
    EXPECT(umup_softmax_forward(F1, F2, 2, 0, 1, s), UMUP_ERR_SHAPE);
    EXPECT(umup_softmax_forward(F1, F2, M, M, 1, s), UMUP_ERR_SHAPE);
    EXPECT(umup_softmax_backward(F1, F2, NULL, 2, 2, 1, s), UMUP_ERR_NULL);
    EXPECT(umup_softmax_backward(F1, F2, F3, M, M, 1, s), UMUP_ERR_SHAPE);
    EXPECT(umup_rms_norm_forward(NULL, F2, 2, 2), UMUP_ERR_NULL);
    EXPECT(umup_rms_norm_forward(F1, F2, -2, 2), UMUP_ERR_SHAPE);
    EXPECT(umup_rms_norm_forward(F1, F2, M, M), UMUP_ERR_SHAPE);
    EXPECT(umup_rms_norm_backward(F1, NULL, F3, 2, 2), UMUP_ERR_NULL);
    EXPECT(umup_rms_norm_backward(F1, F2, F3, M, M), UMUP_ERR_SHAPE);
    EXPECT(umup_layer_norm_forward(F1, NULL, 2, 2), UMUP_ERR_NULL);
    EXPECT(umup_layer_norm_forward(F1, F2, 2, 0), UMUP_ERR_SHAPE);
    EXPECT(umup_layer_norm_forward(F1, F2, M, M), UMUP_ERR_SHAPE);
    EXPECT(umup_layer_norm_backward(F1, F2, NULL, 2, 2), UMUP_ERR_NULL);
    EXPECT(umup_layer_norm_backward(F1, F2, F3, M, M), UMUP_ERR_SHAPE);
    EXPECT(umup_sdpa_forward(F1, F2, F3, F4, NULL, 1, 1, 2, 2, 1, 0.5f, s), UMUP_ERR_NULL);
    EXPECT(umup_sdpa_forward(F1, F2, F3, F4, F5, 1, 0, 2, 2, 1, 0.5f, s), UMUP_ERR_SHAPE);
    EXPECT(umup_sdpa_forward(F1, F2, F3, F4, F5, 1, 1, 2, 2, 1, 0.0f, s), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_sdpa_forward(F1, F2, F3, F4, F5, 65536, 65536, 1, 1, 1, 0.5f, s), UMUP_ERR_SHAPE); /* B H > INT_MAX */
    EXPECT(umup_sdpa_forward(F1, F2, F3, F4, F5, 1, 1, M, 2, 1, 0.5f, s), UMUP_ERR_SHAPE);         /* S x S floats */
    EXPECT(umup_sdpa_forward(F1, F2, F3, F4, F5, M, M, M, M, 1, 0.5f, s), UMUP_ERR_SHAPE);
    EXPECT(umup_sdpa_backward(F1, F2, F3, F4, F5, F6, F7, NULL, 1, 1, 2, 2, 0.5f, s), UMUP_ERR_NULL);
    EXPECT(umup_sdpa_backward(F1, F2, F3, F4, F5, F6, F7, F1, 1, 1, 2, -2, 0.5f, s), UMUP_ERR_SHAPE);
    EXPECT(umup_sdpa_backward(F1, F2, F3, F4, F5, F6, F7, F1, 65536, 65536, 1, 1, 0.5f, s), UMUP_ERR_SHAPE);
    EXPECT(umup_sdpa_backward(F1, F2, F3, F4, F5, F6, F7, F1, 1, 1, M, 1, 0.5f, s), UMUP_ERR_SHAPE);
    /* the flash ops: lse [B H S] instead of att, so only q, k, v, out [B H S D] bound S */
    EXPECT(umup_sdpa_flash_forward(F1, F2, F3, F4, NULL, 1, 1, 2, 2, 1, 0.5f, s), UMUP_ERR_NULL);
    EXPECT(umup_sdpa_flash_forward(F1, F2, F3, F4, F5, 1, 1, 0, 2, 1, 0.5f, s), UMUP_ERR_SHAPE);
    EXPECT(umup_sdpa_flash_forward(F1, F2, F3, F4, F5, 1, 1, 2, 2, 1, 0.0f, s), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_sdpa_flash_forward(F1, F2, F3, F4, F5, 65536, 65536, 1, 1, 1, 0.5f, s), UMUP_ERR_SHAPE);
    EXPECT(umup_sdpa_flash_forward(F1, F2, F3, F4, F5, 1, 1, M, M, 1, 0.5f, s), UMUP_ERR_SHAPE); /* S x D floats */
    EXPECT(umup_sdpa_flash_backward(F1, F2, F3, F4, F5, F6, F7, F1, NULL, 1, 1, 2, 2, 1, 0.5f, s), UMUP_ERR_NULL);
    EXPECT(umup_sdpa_flash_backward(F1, F2, F3, F4, F5, F6, F7, F1, F2, 1, 1, 2, -2, 1, 0.5f, s), UMUP_ERR_SHAPE);
    EXPECT(umup_sdpa_flash_backward(F1, F2, F3, F4, F5, F6, F7, F1, F2, 1, 1, M, M, 1, 0.5f, s), UMUP_ERR_SHAPE);
    EXPECT(umup_embedding_forward(F1, NULL, 2, F2, 4, 2), UMUP_ERR_NULL);
    EXPECT(umup_embedding_forward(F1, I1, 0, F2, 4, 2), UMUP_ERR_SHAPE);
    EXPECT(umup_embedding_forward(F1, I1, 2, F2, M, M), UMUP_ERR_SHAPE);
    I1[1] = 4;
    EXPECT(umup_embedding_forward(F1, I1, 2, F2, 4, 2), UMUP_ERR_INVALID_ARG); /* an id out of range */
    I1[1] = 1;
    EXPECT(umup_embedding_backward(F1, F2, I1, 2, 4, 2, NULL), UMUP_ERR_NULL);
    EXPECT(umup_embedding_backward(F1, F2, I1, 2, 4, 0, s), UMUP_ERR_SHAPE);
    EXPECT(umup_embedding_backward(F1, F2, I1, 2, M, M, s), UMUP_ERR_SHAPE);
    {
        umup_op_scales ce;
        float loss = 0;
        umup_cross_entropy_scales(&ce, 2, 4, 1, 1);
        EXPECT(umup_cross_entropy_forward(NULL, F1, I1, 2, 4, &ce), UMUP_ERR_NULL);
        EXPECT(umup_cross_entropy_forward(&loss, F1, I1, 2, 1, &ce), UMUP_ERR_SHAPE);
        EXPECT(umup_cross_entropy_forward(&loss, F1, I1, M, M, &ce), UMUP_ERR_SHAPE);
        I2[0] = I2[1] = -1;
        EXPECT(umup_cross_entropy_forward(&loss, F1, I2, 2, 4, &ce), UMUP_ERR_INVALID_ARG); /* no counted row */
        EXPECT(umup_cross_entropy_backward(F2, F1, NULL, 2, 4, 1, &ce), UMUP_ERR_NULL);
        EXPECT(umup_cross_entropy_backward(F2, F1, I1, 0, 4, 1, &ce), UMUP_ERR_SHAPE);
        EXPECT(umup_cross_entropy_backward(F2, F1, I1, M, M, 1, &ce), UMUP_ERR_SHAPE);
    }
    {   /* the broadcasting add */
        int as[2] = {2, 2}, bs[2] = {1, 2}, bad[2] = {3, 2}, zero[2] = {0, 2}, big[2] = {INT_MAX, INT_MAX};
        umup_op_scales bsc;
        EXPECT(umup_add_broadcast_scales(NULL, as, bs, 2, UMUP_CONSTRAINT_NONE), UMUP_ERR_NULL);
        EXPECT(umup_add_broadcast_scales(&bsc, NULL, bs, 2, UMUP_CONSTRAINT_NONE), UMUP_ERR_NULL);
        EXPECT(umup_add_broadcast_scales(&bsc, as, bs, 0, UMUP_CONSTRAINT_NONE), UMUP_ERR_SHAPE);
        EXPECT(umup_add_broadcast_scales(&bsc, as, bs, 9, UMUP_CONSTRAINT_NONE), UMUP_ERR_SHAPE);
        EXPECT(umup_add_broadcast_scales(&bsc, as, bad, 2, UMUP_CONSTRAINT_NONE), UMUP_ERR_SHAPE);
        EXPECT(umup_add_broadcast_scales(&bsc, zero, bs, 2, UMUP_CONSTRAINT_NONE), UMUP_ERR_SHAPE);
        EXPECT(umup_add_broadcast_scales(&bsc, as, bs, 2, (umup_constraint)99), UMUP_ERR_INVALID_ARG);
        EXPECT(umup_add_broadcast_scales(&bsc, as, bs, 2, UMUP_CONSTRAINT_NONE), UMUP_OK);
        EXPECT(umup_add_broadcast_forward(F1, NULL, as, F2, bs, 2, &bsc), UMUP_ERR_NULL);
        EXPECT(umup_add_broadcast_forward(F1, F3, as, F2, bs, 2, NULL), UMUP_ERR_NULL);
        EXPECT(umup_add_broadcast_forward(F1, F3, as, F2, bad, 2, &bsc), UMUP_ERR_SHAPE);
        EXPECT(umup_add_broadcast_forward(F1, F3, big, F2, big, 2, &bsc), UMUP_ERR_SHAPE);
        EXPECT(umup_add_broadcast_backward(F1, F2, NULL, as, bs, 2, &bsc), UMUP_ERR_NULL);
        EXPECT(umup_add_broadcast_backward(F1, F2, F3, as, bad, 2, &bsc), UMUP_ERR_SHAPE);
        EXPECT(umup_add_broadcast_backward(F1, F2, F3, big, big, 2, &bsc), UMUP_ERR_SHAPE);
        EXPECT(umup_add_broadcast_backward(NULL, NULL, F3, as, bs, 2, &bsc), UMUP_OK); /* both skipped */
    }
    EXPECT(umup_next_token_targets(NULL, I1, 1, 4), UMUP_ERR_NULL);
    EXPECT(umup_next_token_targets(I2, NULL, 1, 4), UMUP_ERR_NULL);
    EXPECT(umup_next_token_targets(I2, I1, 0, 4), UMUP_ERR_SHAPE);
    EXPECT(umup_next_token_targets(I2, I1, 1, -1), UMUP_ERR_SHAPE);
    /* [INT_MAX, INT_MAX] ids could not exist (in a child: a regression would crash) */
    EXPECT_CHILD(umup_next_token_targets(I2, I1, INT_MAX, INT_MAX), UMUP_ERR_SHAPE);
    UT_CHECK(untouched(F3));
}

/* The micro-kernel switch: an unknown kernel is refused, and the selection survives a refusal. */
static void test_gemm_kernels(void) {
    umup_gemm_kernel k = umup_gemm_get_kernel();
    UT_CHECK(k != UMUP_GEMM_KERNEL_AUTO && umup_gemm_kernel_available(k) && umup_gemm_kernel_available(UMUP_GEMM_KERNEL_AUTO));
    UT_CHECK(!umup_gemm_kernel_available((umup_gemm_kernel)99) && !umup_gemm_kernel_available((umup_gemm_kernel)-1));
    UT_CHECK(umup_gemm_kernel_name((umup_gemm_kernel)99) != NULL && umup_gemm_kernel_name((umup_gemm_kernel)-1) != NULL);
    EXPECT(umup_gemm_set_kernel((umup_gemm_kernel)99), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_gemm_set_kernel((umup_gemm_kernel)-1), UMUP_ERR_INVALID_ARG);
    UT_CHECK(umup_gemm_get_kernel() == k);
    EXPECT(umup_gemm_set_kernel(UMUP_GEMM_KERNEL_C), UMUP_OK);
    UT_CHECK(umup_gemm_get_kernel() == UMUP_GEMM_KERNEL_C);
    EXPECT(umup_gemm_set_kernel(UMUP_GEMM_KERNEL_AUTO), UMUP_OK);
    UT_CHECK(umup_gemm_get_kernel() == k);
}

/* ---- sections 7-8: parametrizations and optimizers ---------------------------------------------- */

static void test_param_optim(void) {
    umup_param_config pc = umup_param_config_default();
    umup_tensor_desc td;
    umup_tensor_rule tr;
    umup_parametrization p;
    umup_optimizer_kind k;
    umup_optimizer opt;
    umup_optim_config oc = umup_optim_config_default(UMUP_OPT_ADAMW);
    umup_param_group grp;
    umup_schedule sch;
    memset(&td, 0, sizeof td);
    td.kind = UMUP_TENSOR_HIDDEN; td.fan_in = 4; td.fan_out = 4;
    EXPECT(umup_param_rule(NULL, 4, &td, &tr), UMUP_ERR_NULL);
    EXPECT(umup_param_rule(&pc, 4, NULL, &tr), UMUP_ERR_NULL);
    EXPECT(umup_param_rule(&pc, 4, &td, NULL), UMUP_ERR_NULL);
    EXPECT(umup_param_rule(&pc, 0, &td, &tr), UMUP_ERR_SHAPE);
    td.fan_in = 0;
    EXPECT(umup_param_rule(&pc, 4, &td, &tr), UMUP_ERR_SHAPE);
    td.fan_in = INT_MAX; td.fan_out = INT_MAX;
    EXPECT(umup_param_rule(&pc, INT_MAX, &td, &tr), UMUP_OK); /* factors only: no buffer */
    td.fan_in = 4; td.fan_out = 4; td.kind = (umup_tensor_kind)77;
    EXPECT(umup_param_rule(&pc, 4, &td, &tr), UMUP_ERR_INVALID_ARG);
    td.kind = UMUP_TENSOR_HIDDEN;
    pc.param = (umup_parametrization)77;
    EXPECT(umup_param_rule(&pc, 4, &td, &tr), UMUP_ERR_INVALID_ARG);
    pc = umup_param_config_default();
    UT_CHECK(umup_param_branch_multiplier(NULL) == 1.0f || umup_param_branch_multiplier(NULL) != umup_param_branch_multiplier(NULL));
    (void)umup_param_attention_scale(NULL, 64, 32, 1);
    (void)umup_param_attention_scale(&pc, 0, 0, 1);
    UT_CHECK(umup_param_name((umup_parametrization)77) != NULL);
    UT_CHECK(umup_param_info_of((umup_parametrization)77) == NULL && umup_param_info_of(UMUP_PARAM_UMUP) != NULL);
    UT_CHECK(umup_param_config_info(NULL) == NULL);
    pc.param = (umup_parametrization)77;
    UT_CHECK(umup_param_config_info(&pc) == NULL);
    pc = umup_param_config_default();
    td.kind = UMUP_TENSOR_HIDDEN; td.fan_in = 4; td.fan_out = 4;
    /* The built-in rules refuse NULL arguments (in a child: a regression would crash) */
    EXPECT_CHILD(umup_param_rule_umup(NULL, 4, &td, &tr), UMUP_ERR_NULL);
    EXPECT_CHILD(umup_param_rule_sp(&pc, 4, NULL, &tr), UMUP_ERR_NULL);
    EXPECT_CHILD(umup_param_rule_mup(&pc, 4, &td, NULL), UMUP_ERR_NULL);
    EXPECT_CHILD(umup_param_rule_mus(&pc, 4, NULL, &tr), UMUP_ERR_NULL);
    EXPECT_CHILD(umup_param_rule_spectral_nanotron(&pc, 4, NULL, &tr), UMUP_ERR_NULL);
    EXPECT_CHILD(umup_param_rule_spectral_adam(&pc, 4, &td, NULL), UMUP_ERR_NULL);
    UT_CHECK(umup_param_config_error(NULL) != NULL && umup_param_config_error(&pc) == NULL);
    /* layers < 1 gives the first entry: INT_MIN too (the distances are computed in long) */
    EXPECT_CHILD(umup_mus_tau(INT_MIN) == umup_mus_tau(0) ? UMUP_OK : UMUP_ERR_INVALID_ARG, UMUP_OK);
    UT_CHECK(umup_mus_tau(INT_MAX) > 0.0f && umup_mus_tau(INT_MAX) < 1.0f);
    EXPECT(umup_param_parse(NULL, &p), UMUP_ERR_NULL);
    EXPECT(umup_param_parse("umup", NULL), UMUP_ERR_NULL);
    EXPECT(umup_param_parse("", &p), UMUP_ERR_INVALID_ARG);
    UT_CHECK(umup_schedule_value(NULL, 3) == 1.0f);
    memset(&sch, 0, sizeof sch);
    sch.decay = (umup_decay_kind)9;
    UT_CHECK(umup_schedule_value(&sch, 3) == 1.0f);
    sch.decay = UMUP_SCHED_COSINE; sch.warmup = -5; sch.total = LONG_MAX;
    UT_CHECK(umup_schedule_value(&sch, LONG_MAX) == 1.0f); /* invalid (negative warmup): 1 */
    sch.warmup = LONG_MAX; sch.total = LONG_MAX;
    {
        float v = umup_schedule_value(&sch, LONG_MAX - 1);
        UT_CHECKF(v > 0.0f && v <= 1.0f, "%g", v);
    }
    {
        umup_optim_config d = umup_optim_config_default(UMUP_OPT_LION), f1, f2;
        f1 = umup_optim_config_for((umup_parametrization)77, UMUP_OPT_LION, 100);
        f2 = umup_optim_config_for_info(NULL, UMUP_OPT_LION, 100);
        UT_CHECK(!memcmp(&d, &f1, sizeof d) && !memcmp(&d, &f2, sizeof d)); /* unknown: the optimizer's defaults */
        f1 = umup_optim_config_for(UMUP_PARAM_UMUP, UMUP_OPT_ADAMW, LONG_MAX);
        UT_CHECK(f1.schedule.total == LONG_MAX && f1.schedule.warmup >= 0 && f1.schedule.warmup <= LONG_MAX / 5);
        f1 = umup_optim_config_for(UMUP_PARAM_UMUP, UMUP_OPT_ADAMW, -5);
        UT_CHECK(f1.schedule.warmup == 0); /* total_steps < 1: constant LR, no warmup */
        UT_CHECK(umup_optim_moments(NULL) == 0);
        d.kind = (umup_optimizer_kind)9;
        UT_CHECK(umup_optim_moments(&d) == 0);
        UT_CHECK(umup_optim_wd_decoupled((umup_optimizer_kind)9) == 0 && umup_optim_wd_decoupled((umup_optimizer_kind)-1) == 0);
        UT_CHECK(umup_optim_wd_decoupled(UMUP_OPT_ADAMW) == 1 && umup_optim_wd_decoupled(UMUP_OPT_ADAM) == 0);
    }
    EXPECT(umup_optim_init(NULL, &oc), UMUP_ERR_NULL);
    EXPECT(umup_optim_init(&opt, NULL), UMUP_ERR_NULL);
    oc.kind = (umup_optimizer_kind)9;
    EXPECT(umup_optim_init(&opt, &oc), UMUP_ERR_INVALID_ARG);
    oc = umup_optim_config_default(UMUP_OPT_ADAMW);
    oc.lr = -1;
    EXPECT(umup_optim_init(&opt, &oc), UMUP_ERR_INVALID_ARG);
    oc = umup_optim_config_default(UMUP_OPT_ADAMW);
    oc.schedule.warmup = -1;
    EXPECT(umup_optim_init(&opt, &oc), UMUP_ERR_INVALID_ARG);
    /* state sizes: 2n for Adam; (size_t)-1 when 2n does not fit; 0 for an unknown kind */
    UT_CHECK(umup_optim_state_size(UMUP_OPT_ADAM, 5) == 10 && umup_optim_state_size(UMUP_OPT_SGD, 5) == 5);
    UT_CHECK(umup_optim_state_size(UMUP_OPT_ADAMW, BIGN / 2 + 1) == BIGN);
    UT_CHECK(umup_optim_state_size((umup_optimizer_kind)9, 5) == 0);
    oc = umup_optim_config_default(UMUP_OPT_ADAMW);
    EXPECT(umup_optim_init(&opt, &oc), UMUP_OK);
    memset(&grp, 0, sizeof grp);
    grp.offset = 0; grp.size = 4; grp.lr_factor = 1; grp.wd = UMUP_WD_DECOUPLED; grp.wd_factor = 1;
    sentinel();
    EXPECT(umup_optim_step(NULL, F1, F2, F3, 4, &grp, 1), UMUP_ERR_NULL);
    EXPECT(umup_optim_step(&opt, NULL, F2, F3, 4, &grp, 1), UMUP_ERR_NULL);
    EXPECT(umup_optim_step(&opt, F1, NULL, F3, 4, &grp, 1), UMUP_ERR_NULL);
    EXPECT(umup_optim_step(&opt, F1, F2, NULL, 4, &grp, 1), UMUP_ERR_NULL);
    EXPECT(umup_optim_step(&opt, F1, F2, F3, 4, NULL, 1), UMUP_ERR_NULL);
    EXPECT(umup_optim_step(&opt, F1, F2, F3, 4, &grp, -1), UMUP_ERR_SHAPE);
    grp.size = 5;
    EXPECT(umup_optim_step(&opt, F1, F2, F3, 4, &grp, 1), UMUP_ERR_SHAPE); /* a group out of range */
    grp.offset = BIGN; grp.size = 2;
    EXPECT(umup_optim_step(&opt, F1, F2, F3, 4, &grp, 1), UMUP_ERR_SHAPE); /* offset + size wraps */
    grp.offset = 0; grp.size = 4;
    EXPECT(umup_optim_step(&opt, F1, F2, F3, BIGN, &grp, 1), UMUP_ERR_SHAPE); /* state of 2n floats */
    grp.lr_factor = NAN;
    EXPECT(umup_optim_step(&opt, F1, F2, F3, 4, &grp, 1), UMUP_ERR_INVALID_ARG);
    UT_CHECK(untouched(F1) && untouched(F3) && opt.step == 0);
    UT_CHECK(umup_optim_name((umup_optimizer_kind)9) != NULL);
    EXPECT(umup_optim_parse(NULL, &k), UMUP_ERR_NULL);
    EXPECT(umup_optim_parse("adamw", NULL), UMUP_ERR_NULL);
    EXPECT(umup_optim_parse("adamw2", &k), UMUP_ERR_INVALID_ARG);
}

/* ---- sections 9-11: model, statistics, data, trainer ------------------------------------------- */

static umup_model_config tiny_config(void) {
    umup_model_config mc = umup_model_config_default();
    mc.vocab = 16; mc.width = 8; mc.layers = 1; mc.heads = 1; mc.head_size = 8; mc.mlp_expansion = 1; mc.max_seq = 4;
    return mc;
}

static void test_model(void) {
    umup_model *m = NULL;
    umup_model_config mc = tiny_config();
    umup_tensor_stats ts;
    umup_param_group groups[16];
    size_t pb = 1, gb = 1, ab = 1;
    int count = -1;
    float loss = 0;
    int32_t ids[4] = {1, 2, 3, 4}, tg[4] = {2, 3, 4, 5}, out[4];
    EXPECT(umup_model_create(NULL, &mc, 1), UMUP_ERR_NULL);
    EXPECT(umup_model_create(&m, NULL, 1), UMUP_ERR_NULL);
    EXPECT(umup_model_create(&m, &mc, 0), UMUP_ERR_SHAPE);
    mc.width = -8;
    EXPECT(umup_model_create(&m, &mc, 1), UMUP_ERR_SHAPE);
    mc = tiny_config();
    mc.heads = 3;
    EXPECT(umup_model_create(&m, &mc, 1), UMUP_ERR_SHAPE);
    mc = tiny_config();
    mc.norm = (umup_norm_kind)9;
    EXPECT(umup_model_create(&m, &mc, 1), UMUP_ERR_INVALID_ARG);
    /* Sizes no allocation can hold (issue 13, defects 1 and 2). The model section is the lead's:
     * these checks report what it does; a crash here is a defect there. */
#ifndef MISUSE_EXPLORE
    mc = tiny_config();
    mc.vocab = 1 << 29; mc.width = 1 << 29; mc.layers = 2; mc.heads = 1; mc.head_size = 0; mc.mlp_expansion = 1;
    {
        umup_status st = umup_model_create(&m, &mc, 1);
        UT_CHECKF(st == UMUP_ERR_NOMEM || st == UMUP_ERR_SHAPE, "vocab = width = 2^29: %s", umup_status_string(st));
        if (st == UMUP_OK) { umup_model_destroy(m); m = NULL; }
    }
    mc = tiny_config();
    mc.width = 17 * 64; mc.heads = 17; mc.head_size = 0; mc.layers = 1018; mc.max_seq = 64956; mc.mlp_expansion = 2;
    {
        umup_status st = umup_model_create(&m, &mc, 63136);
        UT_CHECKF(st == UMUP_ERR_NOMEM || st == UMUP_ERR_SHAPE, "1.8e19 bytes of activations: %s", umup_status_string(st));
        if (st == UMUP_OK) { umup_model_destroy(m); m = NULL; }
    }
    mc = tiny_config();
    mc.max_seq = INT_MAX;
    {
        umup_status st = umup_model_create(&m, &mc, INT_MAX);
        UT_CHECKF(st == UMUP_ERR_NOMEM || st == UMUP_ERR_SHAPE, "max_seq = max_batch = INT_MAX: %s", umup_status_string(st));
        if (st == UMUP_OK) { umup_model_destroy(m); m = NULL; }
    }
#endif
    /* the memory a configuration needs, without allocating it */
    mc = tiny_config();
    EXPECT(umup_model_memory_needed(NULL, 1, &pb, &gb, &ab), UMUP_ERR_NULL);
    EXPECT(umup_model_memory_needed(&mc, 1, NULL, NULL, NULL), UMUP_OK);
    EXPECT(umup_model_memory_needed(&mc, 0, &pb, &gb, &ab), UMUP_ERR_SHAPE);
    EXPECT(umup_model_memory_needed(&mc, 1, &pb, &gb, &ab), UMUP_OK);
    UT_CHECK(pb > 0 && gb == pb && ab > 0);
    mc.max_seq = INT_MAX;
    EXPECT(umup_model_memory_needed(&mc, INT_MAX, &pb, &gb, &ab), UMUP_ERR_NOMEM);
    mc = tiny_config();
    mc.vocab = 1 << 29; mc.width = 1 << 29; mc.heads = 1; mc.head_size = 0;
    {
        umup_status st = umup_model_memory_needed(&mc, 1, &pb, &gb, &ab); /* 2^60 bytes: a size, but no allocation */
        UT_CHECKF(st == UMUP_ERR_NOMEM || (st == UMUP_OK && pb >= ((size_t)1 << 60)), "%s, %zu bytes", umup_status_string(st), pb);
    }
    /* NULL models: the accessors answer "nothing" */
    umup_model_destroy(NULL);
    UT_CHECK(umup_model_get_config(NULL) == NULL && umup_model_num_tensors(NULL) == 0 && umup_model_tensor(NULL, 0) == NULL);
    UT_CHECK(umup_model_find_tensor(NULL, "embedding.weight") == NULL && umup_model_params(NULL) == NULL);
    UT_CHECK(umup_model_grads(NULL) == NULL && umup_model_num_params(NULL) == 0 && umup_model_logits(NULL) == NULL);
    umup_model_memory(NULL, &pb, &gb, &ab);
    umup_model_zero_grad(NULL);
    umup_model_set_training(NULL, 1);
    umup_model_set_grad_hook(NULL, NULL, NULL); /* nothing to do */
    umup_model_record_stats(NULL, 1);
    UT_CHECK(umup_model_stats(NULL, &count) == NULL && count == 0);
    EXPECT(umup_model_forward(NULL, ids, tg, 1, 4, 0, &loss), UMUP_ERR_NULL);
    EXPECT(umup_model_backward(NULL), UMUP_ERR_NULL);
    EXPECT(umup_model_param_groups(NULL, UMUP_OPT_ADAMW, groups), UMUP_ERR_NULL);
    EXPECT(umup_model_sample(NULL, ids, 1, 1, 0, 0, 1, out), UMUP_ERR_NULL);
    umup_model_config_mus(NULL); /* nothing to do */
    /* a real model, with bad arguments */
    mc = tiny_config();
    EXPECT(umup_model_create(&m, &mc, 1), UMUP_OK);
    if (!m) return;
    UT_CHECK(umup_model_tensor(m, -1) == NULL && umup_model_tensor(m, umup_model_num_tensors(m)) == NULL);
    UT_CHECK(umup_model_find_tensor(m, NULL) == NULL && umup_model_find_tensor(m, "nope") == NULL);
    umup_model_memory(m, NULL, NULL, NULL);
    UT_CHECK(umup_model_stats(m, NULL) != NULL || 1);
    EXPECT(umup_model_forward(m, NULL, tg, 1, 4, 0, &loss), UMUP_ERR_NULL);
    EXPECT(umup_model_forward(m, ids, tg, 0, 4, 0, &loss), UMUP_ERR_SHAPE);
    EXPECT(umup_model_forward(m, ids, tg, 2, 4, 0, &loss), UMUP_ERR_SHAPE); /* B > max_batch */
    EXPECT(umup_model_forward(m, ids, tg, 1, 5, 0, &loss), UMUP_ERR_SHAPE); /* T > max_seq */
    EXPECT(umup_model_forward(m, ids, tg, INT_MAX, INT_MAX, 0, &loss), UMUP_ERR_SHAPE);
    {
        umup_batch_shard sh;
        sh.first_seq = 0; sh.total_seqs = 1; sh.total_counted = 4;
        EXPECT(umup_model_forward_shard(NULL, ids, tg, 1, 4, 0, &sh, &loss), UMUP_ERR_NULL);
        EXPECT(umup_model_forward_shard(m, NULL, tg, 1, 4, 0, &sh, &loss), UMUP_ERR_NULL);
        EXPECT(umup_model_forward_shard(m, ids, tg, 0, 4, 0, &sh, &loss), UMUP_ERR_SHAPE);
        sh.first_seq = 1;
        EXPECT(umup_model_forward_shard(m, ids, tg, 1, 4, 0, &sh, &loss), UMUP_ERR_SHAPE);   /* first_seq + B > total */
        sh.first_seq = INT_MAX; sh.total_seqs = INT_MAX;
        EXPECT(umup_model_forward_shard(m, ids, tg, 1, 4, 0, &sh, &loss), UMUP_ERR_SHAPE);   /* total x T beyond int */
        sh.first_seq = 0; sh.total_seqs = 1; sh.total_counted = 0;
        EXPECT(umup_model_forward_shard(m, ids, tg, 1, 4, 0, &sh, &loss), UMUP_ERR_INVALID_ARG);
        sh.total_counted = 3;                                                                   /* < the shard's own 4 */
        EXPECT(umup_model_forward_shard(m, ids, tg, 1, 4, 0, &sh, &loss), UMUP_ERR_INVALID_ARG);
        sh.total_counted = 4;
        EXPECT(umup_model_forward_shard(m, ids, tg, 1, 4, 0, &sh, &loss), UMUP_OK);
        EXPECT(umup_model_forward_shard(m, ids, tg, 1, 4, 0, NULL, &loss), UMUP_OK);            /* the whole batch */
    }
    ids[0] = 16;
    EXPECT(umup_model_forward(m, ids, tg, 1, 4, 0, &loss), UMUP_ERR_INVALID_ARG);
    ids[0] = 1;
    EXPECT(umup_model_forward(m, ids, NULL, 1, 4, 0, NULL), UMUP_OK); /* logits only */
    EXPECT(umup_model_backward(m), UMUP_ERR_INVALID_ARG);                /* the forward had no targets */
    EXPECT(umup_model_param_groups(m, UMUP_OPT_ADAMW, NULL), UMUP_ERR_NULL);
    {   /* the constants of the model for re-implementations */
        umup_model_plan plan;
        umup_op_scales ls;
        uint64_t sd = 7, ct = 7;
        EXPECT(umup_model_get_plan(NULL, 1, 4, 4, &plan), UMUP_ERR_NULL);
        EXPECT(umup_model_get_plan(m, 1, 4, 4, NULL), UMUP_ERR_NULL);
        EXPECT(umup_model_get_plan(m, 0, 4, 4, &plan), UMUP_ERR_SHAPE);
        EXPECT(umup_model_get_plan(m, 1, 4, 5, &plan), UMUP_ERR_SHAPE);   /* more counted rows than B x T */
        EXPECT(umup_model_get_plan(m, INT_MAX, INT_MAX, 1, &plan), UMUP_ERR_SHAPE);
        EXPECT(umup_model_get_plan(m, 1, 4, 4, &plan), UMUP_OK);
        EXPECT(umup_model_linear_scales(NULL, 1, 4, &ls), UMUP_ERR_NULL);
        EXPECT(umup_model_linear_scales(m, 1, 4, NULL), UMUP_ERR_NULL);
        EXPECT(umup_model_linear_scales(m, 0, 4, &ls), UMUP_ERR_SHAPE);   /* the embedding */
        EXPECT(umup_model_linear_scales(m, umup_model_num_tensors(m), 4, &ls), UMUP_ERR_SHAPE);
        EXPECT(umup_model_linear_scales(m, 1, 0, &ls), UMUP_ERR_SHAPE);
        UT_CHECK(umup_model_fp8_seed(NULL, 1, 1, 0) == 0 && umup_model_fp8_seed(m, 1, 1, 0) != umup_model_fp8_seed(m, 1, 1, 1));
        umup_model_dropout_stream(NULL, 1, 0, &sd, &ct);
        UT_CHECK(sd == 0 && ct == 0);
        umup_model_dropout_stream(m, 1, 0, NULL, NULL); /* nothing to write */
    }
    /* an unknown optimizer kind is an invalid argument, as everywhere else */
    EXPECT(umup_model_param_groups(m, (umup_optimizer_kind)9, groups), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_model_sample(m, NULL, 1, 1, 0, 0, 1, out), UMUP_ERR_NULL);
    EXPECT(umup_model_sample(m, ids, 1, 1, 0, 0, 1, NULL), UMUP_ERR_NULL);
    EXPECT(umup_model_sample(m, ids, 0, 1, 0, 0, 1, out), UMUP_ERR_SHAPE);
    EXPECT(umup_model_sample(m, ids, 1, -1, 0, 0, 1, out), UMUP_ERR_SHAPE);
    EXPECT(umup_model_sample(m, ids, 1, 1, -1, 0, 1, out), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_model_sample(m, ids, 1, 1, 0, -1, 1, out), UMUP_ERR_INVALID_ARG);
    umup_model_destroy(m);
    /* statistics of a buffer */
    EXPECT(umup_tensor_stats_compute(NULL, "x", F1, 4, UMUP_FP8_E4M3), UMUP_ERR_NULL);
    EXPECT(umup_tensor_stats_compute(&ts, "x", NULL, 4, UMUP_FP8_E4M3), UMUP_ERR_NULL);
    EXPECT(umup_tensor_stats_compute(&ts, NULL, NULL, 0, UMUP_FP8_E4M3), UMUP_OK);
    UT_CHECK(ts.count == 0 && ts.rms == 0 && ts.name[0] == 0);
    EXPECT(umup_tensor_stats_compute(&ts, "x", F1, 4, (umup_fp8_format)99), UMUP_ERR_INVALID_ARG);
    /* a count no array can hold */
    EXPECT(umup_tensor_stats_compute(&ts, "x", F1, BIGN, UMUP_FP8_E4M3), UMUP_ERR_SHAPE);
}

static void test_data_trainer(void) {
    umup_dataset ds, empty;
    umup_trainer *t = NULL;
    umup_model_config mc = tiny_config();
    umup_optim_config oc = umup_optim_config_default(UMUP_OPT_ADAMW);
    int32_t ids[4] = {1, 2, 3, 4}, tg[4] = {2, 3, 4, 5};
    float loss;
    char small[64];
    int i;
    EXPECT(umup_corpus_generate(NULL, 0, 1, NULL), UMUP_OK);
    EXPECT(umup_corpus_generate(NULL, 8, 1, NULL), UMUP_ERR_NULL);
    EXPECT(umup_corpus_generate(small, BIGN, 1, NULL), UMUP_ERR_SHAPE);
    EXPECT(umup_dataset_from_corpus(NULL, 4096, 1, 0.1), UMUP_ERR_NULL);
    EXPECT(umup_dataset_from_corpus(&ds, 0, 1, 0.1), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_dataset_from_corpus(&ds, 4096, 1, -0.5), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_dataset_from_corpus(&ds, BIGN, 1, 0.1), UMUP_ERR_NOMEM);
    UT_CHECK(ds.data == NULL && ds.n == 0);
    EXPECT(umup_dataset_load_file(NULL, "umup.h", 0.1), UMUP_ERR_NULL);
    EXPECT(umup_dataset_load_file(&ds, NULL, 0.1), UMUP_ERR_NULL);
    EXPECT(umup_dataset_check_file(NULL, NULL, NULL), UMUP_ERR_NULL);
    EXPECT(umup_dataset_check_file("", NULL, NULL), UMUP_ERR_IO);
    umup_dataset_free(NULL);
    memset(&empty, 0, sizeof empty);
    umup_dataset_free(&empty);
    EXPECT(umup_dataset_batch(NULL, 0, 1, 0, 1, 4, ids, tg), UMUP_ERR_NULL);
    EXPECT(umup_dataset_batch(&empty, 0, 1, 0, 1, 4, ids, tg), UMUP_ERR_NULL); /* no data */
    UT_CHECK(umup_dataset_unigram_entropy(NULL) == 0.0 && umup_dataset_unigram_entropy(&empty) == 0.0);
    EXPECT(umup_dataset_from_corpus(&ds, 4096, 1, 0.1), UMUP_OK);
    EXPECT(umup_dataset_batch(&ds, 0, 1, 0, 1, 4, NULL, tg), UMUP_ERR_NULL);
    EXPECT(umup_dataset_batch(&ds, 0, 1, 0, 0, 4, ids, tg), UMUP_ERR_SHAPE);
    EXPECT(umup_dataset_batch(&ds, 0, 1, -1, 1, 4, ids, tg), UMUP_ERR_SHAPE);
    EXPECT(umup_dataset_batch(&ds, 0, 1, 0, 1, INT_MAX, ids, tg), UMUP_ERR_SHAPE);
    EXPECT(umup_dataset_batch(&ds, 0, 1, 0, INT_MAX, INT_MAX, ids, tg), UMUP_ERR_SHAPE);
    EXPECT(umup_dataset_batch(&ds, 2, 1, 0, 1, 4, ids, tg), UMUP_ERR_INVALID_ARG); /* a split that is not 0 or 1 */
    umup_dataset_free(&ds);
    UT_CHECK(ds.data == NULL);
    /* the trainer */
    EXPECT(umup_trainer_create(NULL, &mc, &oc, 1), UMUP_ERR_NULL);
    EXPECT(umup_trainer_create(&t, NULL, &oc, 1), UMUP_ERR_NULL);
    EXPECT(umup_trainer_create(&t, &mc, NULL, 1), UMUP_ERR_NULL);
    EXPECT(umup_trainer_create(&t, &mc, &oc, 0), UMUP_ERR_SHAPE);
    oc.lr = -1;
    EXPECT(umup_trainer_create(&t, &mc, &oc, 1), UMUP_ERR_INVALID_ARG);
    UT_CHECK(t == NULL);
    umup_trainer_destroy(NULL);
    UT_CHECK(umup_trainer_model(NULL) == NULL && umup_trainer_optimizer(NULL) == NULL && umup_trainer_state_bytes(NULL) == 0);
    {
        int ng = -7;
        UT_CHECK(umup_trainer_param_groups(NULL, &ng) == NULL && umup_trainer_param_groups(NULL, NULL) == NULL);
    }
    UT_CHECK(umup_trainer_state(NULL) == NULL);
    EXPECT(umup_trainer_set_step(NULL, 1), UMUP_ERR_NULL);
    UT_CHECK(umup_trainer_error(NULL) != NULL);
    EXPECT(umup_trainer_step(NULL, ids, tg, 1, 4, &loss), UMUP_ERR_NULL);
    EXPECT(umup_trainer_eval(NULL, ids, tg, 1, 4, &loss), UMUP_ERR_NULL);
    EXPECT(umup_trainer_save(NULL, "build/x.st"), UMUP_ERR_NULL);
    EXPECT(umup_trainer_load(NULL, "build/x.st"), UMUP_ERR_NULL);
    EXPECT(umup_trainer_save_weights(NULL, "build/x.st"), UMUP_ERR_NULL);
    EXPECT(umup_trainer_load_weights(NULL, "build/x.st"), UMUP_ERR_NULL);
    EXPECT(umup_trainer_set_shards(NULL, 1), UMUP_ERR_NULL);
    EXPECT(umup_trainer_set_data_parallel(NULL, NULL), UMUP_ERR_NULL);
    EXPECT(umup_trainer_set_total_steps(NULL, 10), UMUP_ERR_NULL);
    EXPECT(umup_trainer_set_run_info(NULL, "batch", "1"), UMUP_ERR_NULL);
    {
        umup_checkpoint_meta meta;
        umup_trainer *t2 = NULL;
        char err[8];
        EXPECT(umup_checkpoint_info(NULL, &meta, err, sizeof err), UMUP_ERR_NULL);
        EXPECT(umup_checkpoint_info("umup.h", NULL, err, sizeof err), UMUP_ERR_NULL);
        EXPECT(umup_checkpoint_info("", &meta, NULL, 0), UMUP_ERR_IO);
        EXPECT(umup_checkpoint_info("tests", &meta, err, sizeof err), UMUP_ERR_IO);       /* a directory */
        UT_CHECK(strlen(err) < sizeof err);                                                  /* the reason fits err_cap */
        EXPECT(umup_checkpoint_info("umup.h", &meta, err, 1), UMUP_ERR_FORMAT);
        UT_CHECK(err[0] == 0);
        EXPECT(umup_checkpoint_check_writable(NULL, err, sizeof err), UMUP_ERR_NULL);
        EXPECT(umup_checkpoint_check_writable("tests", NULL, 0), UMUP_ERR_IO);               /* a directory */
        EXPECT(umup_checkpoint_check_writable("build/no-such-dir/x.st", err, sizeof err), UMUP_ERR_IO);
        EXPECT(umup_trainer_from_checkpoint(NULL, "umup.h", 1, err, sizeof err), UMUP_ERR_NULL);
        EXPECT(umup_trainer_from_checkpoint(&t2, NULL, 1, err, sizeof err), UMUP_ERR_NULL);
        EXPECT(umup_trainer_from_checkpoint(&t2, "umup.h", 1, NULL, 0), UMUP_ERR_FORMAT);
        EXPECT(umup_trainer_from_checkpoint(&t2, "", 1, NULL, 0), UMUP_ERR_IO);
        UT_CHECK(t2 == NULL);
    }
    oc = umup_optim_config_default(UMUP_OPT_ADAMW);
    EXPECT(umup_trainer_create(&t, &mc, &oc, 1), UMUP_OK);
    if (!t) return;
    for (i = 0; i < 4; i++) { ids[i] = i + 1; tg[i] = i + 2; } /* the batches above wrote bytes here */
    EXPECT(umup_trainer_step(t, NULL, tg, 1, 4, &loss), UMUP_ERR_NULL);
    EXPECT(umup_trainer_step(t, ids, NULL, 1, 4, &loss), UMUP_ERR_NULL);
    EXPECT(umup_trainer_step(t, ids, tg, 1, 4, NULL), UMUP_OK); /* loss is optional */
    UT_CHECK(umup_trainer_optimizer(t)->step == 1);
    EXPECT(umup_trainer_step(t, ids, tg, 0, 4, &loss), UMUP_ERR_SHAPE);
    EXPECT(umup_trainer_step(t, ids, tg, INT_MAX, INT_MAX, &loss), UMUP_ERR_SHAPE);
    EXPECT(umup_trainer_eval(t, ids, tg, 1, -4, &loss), UMUP_ERR_SHAPE);
    EXPECT(umup_trainer_eval(t, ids, NULL, 1, 4, &loss), UMUP_ERR_NULL);
    EXPECT(umup_trainer_save(t, NULL), UMUP_ERR_NULL);
    EXPECT(umup_trainer_load(t, NULL), UMUP_ERR_NULL);
    EXPECT(umup_trainer_save(t, ""), UMUP_ERR_IO);
    EXPECT(umup_trainer_load(t, ""), UMUP_ERR_IO);
    EXPECT(umup_trainer_save_weights(t, NULL), UMUP_ERR_NULL);
    EXPECT(umup_trainer_load_weights(t, NULL), UMUP_ERR_NULL);
    EXPECT(umup_trainer_save_weights(t, "tests"), UMUP_ERR_IO);
    EXPECT(umup_trainer_load_weights(t, "tests"), UMUP_ERR_IO);
    EXPECT(umup_trainer_set_shards(t, 0), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_trainer_set_shards(t, INT_MIN), UMUP_ERR_INVALID_ARG);
    {
        umup_data_parallel dp;
        memset(&dp, 0, sizeof dp);
        dp.size = 1;
        EXPECT(umup_trainer_set_data_parallel(t, &dp), UMUP_ERR_INVALID_ARG);               /* no allreduce */
        EXPECT(umup_trainer_set_data_parallel(t, NULL), UMUP_OK);                             /* off */
    }
    EXPECT(umup_trainer_set_total_steps(t, -1), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_trainer_set_run_info(t, NULL, "1"), UMUP_ERR_NULL);
    EXPECT(umup_trainer_set_run_info(t, "batch", NULL), UMUP_ERR_NULL);
    EXPECT(umup_trainer_set_run_info(t, "", "1"), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_trainer_set_run_info(t, "a key with spaces", "1"), UMUP_ERR_INVALID_ARG);
    EXPECT(umup_trainer_set_run_info(t, "batch", "a\nb"), UMUP_ERR_INVALID_ARG);
    UT_CHECK(umup_trainer_error(t)[0] != 0);
    UT_CHECK(umup_trainer_optimizer(t)->step == 1);
    umup_trainer_destroy(t);
}

/* A whole file as a string (NULL if it cannot be read); free() it. */
static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0, got;
    if (!f) return NULL;
    do {
        if (n + 65536 + 1 > cap) {
            char *nb = (char *)realloc(buf, cap = n + 4 * 65536 + 1);
            if (!nb) { free(buf); fclose(f); return NULL; }
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
    } while (got > 0);
    fclose(f);
    buf[n] = 0;
    return buf;
}

/* Every function the headers define (a line starting with UMUPDEF names it) is called in this
 * file, so that a new public function cannot be left out here. */
static void test_every_function_named(void) {
    const char *headers[2] = {"umup_fp8.h", "umup.h"};
    char *self = read_text(__FILE__);
    int h, named = 0;
    UT_CHECKF(self != NULL, "cannot read %s", __FILE__);
    if (!self) return;
    for (h = 0; h < 2; h++) {
        char *text = read_text(headers[h]), *line;
        UT_CHECKF(text != NULL, "cannot read %s", headers[h]);
        if (!text) continue;
        for (line = text; line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
            const char *u = line, *eol;
            if (strncmp(line, "UMUPDEF ", 8) != 0) continue;
            eol = line + strcspn(line, "\n");
            while ((u = strstr(u, "umup_")) != NULL && u < eol) {
                size_t n = strspn(u, "abcdefghijklmnopqrstuvwxyz0123456789_");
                if (u[n] == '(' && n < 90 && strncmp(u, "umup_cblas_", 11) != 0) { /* (umup_cblas.h's: test_cblas) */
                    char key[96];
                    memcpy(key, u, n + 1);
                    key[n + 1] = 0;
                    named++;
                    UT_CHECKF(strstr(self, key) != NULL, "%.*s (in %s) is not called here", (int)n, u, headers[h]);
                    break;
                }
                u += n;
            }
        }
        free(text);
    }
    UT_CHECKF(named > 2 * 150, "only %d definitions and declarations found in the headers", named);
    free(self);
}

int main(void) {
    UT_RUN(test_every_function_named);
    UT_RUN(test_fp8_scalar);
    UT_RUN(test_fp8_bulk);
    UT_RUN(test_fp8_generic);
    UT_RUN(test_scales);
    UT_RUN(test_elementwise);
    UT_RUN(test_matrix_ops);
    UT_RUN(test_gemm_kernels);
    UT_RUN(test_param_optim);
    UT_RUN(test_model);
    UT_RUN(test_data_trainer);
    return ut_finish("test_misuse");
}
