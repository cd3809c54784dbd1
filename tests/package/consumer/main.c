/* tests/package/consumer/main.c - the implementation file of a project that uses umup: one unit-scaled
 * linear layer and one FP8 cast, checked against hand-computed values; other.cpp includes the header
 * from C++. Prints "consumer: umup <version> openmp=<0|1> ok" and exits 0 when every check holds. */
#define UMUP_IMPLEMENTATION
#include "umup.h"

#include <stdio.h>
#include <string.h>

int cpp_side(void); /* other.cpp */

int main(void) {
    /* x [2, 4] W [3, 4]: y = x W^T / sqrt(4) */
    const float x[8] = {1, 2, 3, 4, -1, 0, 1, 0};
    const float W[12] = {1, 0, 0, 0, 0, 1, 0, 0, 1, 1, 1, 1};
    const float want[6] = {0.5f, 1.0f, 5.0f, -0.5f, 0.0f, 0.0f};
    float y[6];
    umup_op_scales s;
    int i, ok = 1, omp = 0;
#ifdef _OPENMP
    omp = 1;
#endif
    ok &= umup_linear_scales(&s, 2, 4, 3, UMUP_CONSTRAINT_TO_OUTPUT_SCALE) == UMUP_OK && s.out == 0.5f;
    ok &= umup_linear_forward(y, x, W, NULL, 2, 4, 3, &s) == UMUP_OK;
    for (i = 0; i < 6; i++) ok &= y[i] == want[i];
    ok &= umup_fp8_from_float(1.0625f, UMUP_FP8_E4M3, 1) == 0x38; /* the tie goes to the even code */
    ok &= cpp_side() == 1;
    ok &= strcmp(UMUP_VERSION_STRING, EXPECT_VERSION) == 0;
    printf("consumer: umup %s openmp=%d %s\n", UMUP_VERSION_STRING, omp, ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
