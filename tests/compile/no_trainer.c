/* Compile check: UMUP_NO_TRAINER keeps the u-muP core (ops, parametrizations, optimizers) and leaves
 * out the model, data, trainer and checkpoints, and with them <stdio.h>. Strict C99 (-pedantic-errors
 * -Werror); it also runs a unit-scaled linear layer, a parametrization rule and an optimizer step. */
#define UMUP_NO_TRAINER
#define UMUP_IMPLEMENTATION
#include "umup.h"
#ifdef EOF
#error "umup.h included <stdio.h> under UMUP_NO_TRAINER"
#endif
#include "umup_test.h"

int main(void) {
    float x[6] = {1, 2, 3, 4, 5, 6}, W[6] = {1, 0, 0, 0, 1, 0}, y[4], g[6] = {1, 1, 1, 1, 1, 1}, st[12] = {0};
    umup_op_scales s;
    umup_param_config pc = umup_param_config_default();
    umup_tensor_desc t = {UMUP_TENSOR_HIDDEN, 64, 64, 1};
    umup_tensor_rule r;
    umup_optimizer opt;
    umup_optim_config oc = umup_optim_config_for(UMUP_PARAM_UMUP, UMUP_OPT_ADAMW, 10);
    umup_param_group grp = {0, 6, 1.0f, UMUP_WD_NONE, 1.0f, 1.0f};
    UT_CHECK(umup_linear_scales(&s, 2, 3, 2, UMUP_CONSTRAINT_TO_OUTPUT_SCALE) == UMUP_OK);
    UT_CHECK(umup_linear_forward(y, x, W, NULL, 2, 3, 2, &s) == UMUP_OK);
    UT_NEAR(y[3], 5.0 / sqrt(3.0), 1e-6);
    UT_CHECK(umup_param_rule(&pc, 64, &t, &r) == UMUP_OK);
    UT_NEAR(r.multiplier, 0.125, 1e-7);
    UT_CHECK(umup_optim_init(&opt, &oc) == UMUP_OK && oc.lr == 0.5);
    UT_CHECK(umup_optim_step(&opt, W, g, st, 6, &grp, 1) == UMUP_OK && opt.step == 1);
    return ut_finish("compile_no_trainer");
}
