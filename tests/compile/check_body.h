/* Shared body of the compile checks: calls into both headers and reports through
 * the test harness, so a compile check is also a (small) run check. */
#include "umup_test.h"

static int compile_check_run(const char *name) {
    /* umup_fp8.h scalar entry points (SPEC section 6, names fixed). */
    UT_CHECK(umup_fp8_from_float(1.0f, UMUP_FP8_E4M3, 1) == 0x38);
    UT_CHECK(umup_fp8_from_float(-448.0f, UMUP_FP8_E4M3, 1) == 0xFE);
    UT_CHECK(umup_fp8_to_float(0x7B, UMUP_FP8_E5M2) == 57344.0f);
    UT_CHECK(umup_fp8_from_float_sr(1.0f, UMUP_FP8_E5M2, 1, 0xFFFFFFFFu) == 0x3C);
    /* umup.h */
    UT_CHECK(umup_status_string(UMUP_OK) != NULL);
    UT_CHECK(strcmp(umup_status_string(UMUP_ERR_SHAPE), umup_status_string(UMUP_OK)) != 0);
    return ut_finish(name);
}
