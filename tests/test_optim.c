/* tests/test_optim.c - optimizers and schedules of umup.h against updates computed by hand (in
 * double, written out here independently of the library): AdamW / Adam / SGD (+momentum, Nesterov)
 * / Lion, bias correction over two steps, decoupled vs independent vs coupled weight decay,
 * global-norm clipping, non-finite gradients, the schedules' formulas, and error paths. */
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "umup_test.h"

static umup_param_group group(size_t off, size_t n, float lr_factor, umup_wd_rule wd) {
    umup_param_group g;
    memset(&g, 0, sizeof g);
    g.offset = off; g.size = n; g.lr_factor = lr_factor; g.wd = wd; g.wd_factor = 1.0f; g.eps_factor = 1.0f;
    return g;
}

static void test_adamw_two_steps(void) {
    umup_optim_config c = umup_optim_config_default(UMUP_OPT_ADAMW);
    umup_optimizer o;
    float p[2] = {1.0f, 1.0f}, g[2] = {0.5f, 0.5f}, st[4] = {0, 0, 0, 0};
    umup_param_group gr[2];
    double th, m, v, lr_g = 0.1 * 0.5;
    c.lr = 0.1; c.weight_decay = 0.01;
    gr[0] = group(0, 1, 0.5f, UMUP_WD_DECOUPLED);
    gr[1] = group(1, 1, 0.5f, UMUP_WD_INDEPENDENT);
    UT_CHECK(umup_optim_init(&o, &c) == UMUP_OK);
    UT_CHECK(umup_optim_step(&o, p, g, st, 2, gr, 2) == UMUP_OK);
    /* step 1 by hand: m = 0.05, v = 0.00025, mhat = 0.5, vhat = 0.25, update = lr_g 0.5/(0.5 + 1e-8) */
    th = 1.0 - lr_g * 0.01 - lr_g * 0.5 / (0.5 + 1e-8);           /* decoupled: 0.9995 - 0.05 */
    UT_NEAR(p[0], th, 2e-7);
    th = 1.0 - 0.01 * 1.0 - lr_g * 0.5 / (0.5 + 1e-8);             /* independent: 0.99 - 0.05 */
    UT_NEAR(p[1], th, 2e-7);
    UT_NEAR(st[0], 0.05, 1e-8); UT_REL(st[2], 0.00025, 1e-7);     /* state layout [m][v] */
    UT_CHECK(o.step == 1);
    /* step 2 with g = -0.25: bias corrections 1 - 0.9^2 and 1 - 0.999^2 */
    g[0] = g[1] = -0.25f;
    th = p[0];
    UT_CHECK(umup_optim_step(&o, p, g, st, 2, gr, 2) == UMUP_OK);
    m = 0.9 * 0.05 + 0.1 * -0.25;
    v = 0.999 * 0.00025 + 0.001 * 0.0625;
    th = th * (1.0 - lr_g * 0.01) - lr_g * (m / (1 - 0.81)) / (sqrt(v / (1 - 0.998001)) + 1e-8);
    UT_NEAR(p[0], th, 2e-7);
    UT_NEAR(o.last_grad_norm, sqrt(2 * 0.0625), 1e-12);
}

/* The group update the optimizer runs (eight lanes at a time in AVX-512 builds) against its scalar
 * form element by element: bitwise equal in every weight-decay mode, over a length with a tail; and
 * the blocked, parallel sum of squares behind the gradient norm against a long double sum. */
static void test_adam_vector_matches_scalar(void) {
    enum { N = 8 * 1237 + 5 };
    static float p0[N], g[N], m0[N], v0[N], pa[N], ma[N], va[N], pb[N], mb[N], vb[N];
    umup_optim_config c = umup_optim_config_default(UMUP_OPT_ADAMW);
    long double ref = 0.0L;
    size_t i;
    int mode;
    for (i = 0; i < N; i++) {
        p0[i] = 2.0f * umup_rng_uniform(11, i) - 1.0f;
        g[i] = (umup_rng_uniform(12, i) - 0.5f) * (i % 7 == 0 ? 1e-6f : 3.0f);
        m0[i] = 0.1f * (umup_rng_uniform(13, i) - 0.5f);
        v0[i] = 0.01f * umup_rng_uniform(14, i);
        ref += (long double)g[i] * (long double)g[i];
    }
    for (mode = 0; mode < 4; mode++) {
        memcpy(pa, p0, sizeof pa); memcpy(ma, m0, sizeof ma); memcpy(va, v0, sizeof va);
        memcpy(pb, p0, sizeof pb); memcpy(mb, m0, sizeof mb); memcpy(vb, v0, sizeof vb);
        umup__adam_group(&c, 3e-3, 1e-8, 0.19, 0.002, 0.75, mode, 1e-2, pa, g, ma, va, N);
        for (i = 0; i < N; i++) umup__adam_one(c.beta1, c.beta2, 3e-3, 1e-8, 0.19, 0.002, 0.75, mode, 1e-2, pb, g, mb, vb, i);
        UT_CHECK(memcmp(pa, pb, sizeof pa) == 0);
        UT_CHECK(memcmp(ma, mb, sizeof ma) == 0);
        UT_CHECK(memcmp(va, vb, sizeof va) == 0);
        UT_CHECK(memcmp(pa, p0, sizeof pa) != 0); /* it did update */
    }
    UT_REL(umup__sum_squares(g, N), (double)ref, 1e-13);
    { /* more than 64 blocks of 4096: two rounds of the parallel loop */
        enum { NB = 4096 * 70 + 3 };
        static float big[NB];
        long double rb = 0.0L;
        for (i = 0; i < NB; i++) {
            big[i] = umup_rng_uniform(15, i) - 0.25f;
            rb += (long double)big[i] * (long double)big[i];
        }
        UT_REL(umup__sum_squares(big, NB), (double)rb, 1e-13);
    }
    UT_CHECK(umup__sum_squares(g, 0) == 0.0);
    UT_NEAR(umup__sum_squares(g, 3), (double)g[0] * g[0] + (double)g[1] * g[1] + (double)g[2] * g[2], 1e-18);
}

static void test_adam_coupled(void) {
    umup_optim_config c = umup_optim_config_default(UMUP_OPT_ADAM);
    umup_optimizer o;
    float p[1] = {2.0f}, g[1] = {0.1f}, st[2] = {0, 0};
    umup_param_group gr = group(0, 1, 1.0f, UMUP_WD_DECOUPLED);
    double ge = 0.1 + 0.5 * 2.0; /* Adam's weight_decay is L2: g + lambda theta */
    c.lr = 0.01f; c.weight_decay = 0.5f; c.eps = 1e-3f;
    umup_optim_init(&o, &c);
    UT_CHECK(umup_optim_step(&o, p, g, st, 1, &gr, 1) == UMUP_OK);
    UT_NEAR(p[0], 2.0 - 0.01 * ge / (ge + 1e-3), 2e-7);
    UT_NEAR(st[0], 0.1 * ge, 1e-7);
}

/* u-muP's independent weight decay under plain Adam and SGD follows [GC] optim.Adam / optim.SGD:
 * scaled_parameters sets the group's weight_decay to lambda / param_lr (param_lr = peak LR x the
 * group's LR factor), which torch's Adam and SGD apply as L2: g += (lambda / param_lr) theta. With a
 * warmup schedule the L2 coefficient stays at the peak value (only the LR is scheduled). */
static void test_independent_under_adam_sgd(void) {
    umup_optim_config c = umup_optim_config_default(UMUP_OPT_ADAM);
    umup_optimizer o;
    float p[2] = {2.0f, 2.0f}, g[2] = {0.1f, 0.1f}, st[4] = {0, 0, 0, 0};
    umup_param_group gr[2];
    double lam = 0.01 / (0.05 * 0.25), ge = 0.1 + lam * 2.0, lr_t = 0.05 * 0.5;
    c.lr = 0.05; c.weight_decay = 0.01; c.eps = 1e-3;
    c.schedule.warmup = 2; /* step 0: lr x 1/2 */
    gr[0] = group(0, 1, 0.25f, UMUP_WD_INDEPENDENT);
    gr[1] = group(1, 1, 0.0f, UMUP_WD_INDEPENDENT); /* frozen: no update, no decay */
    UT_CHECK(umup_optim_init(&o, &c) == UMUP_OK);
    UT_CHECK(umup_optim_step(&o, p, g, st, 2, gr, 2) == UMUP_OK);
    UT_NEAR(p[0], 2.0 - lr_t * 0.25 * ge / (ge + 1e-3), 2e-7);
    UT_NEAR(st[0], 0.1 * ge, 1e-7);
    UT_CHECK(p[1] == 2.0f);
    /* SGD (no momentum): theta -= lr_t f (g + lambda / (lr f) theta) */
    c = umup_optim_config_default(UMUP_OPT_SGD);
    c.lr = 0.05; c.weight_decay = 0.01;
    p[0] = 2.0f;
    UT_CHECK(umup_optim_init(&o, &c) == UMUP_OK);
    UT_CHECK(umup_optim_step(&o, p, g, st, 1, gr, 1) == UMUP_OK);
    UT_NEAR(p[0], 2.0 - 0.05 * 0.25 * (0.1 + 0.01 / (0.05 * 0.25) * 2.0), 2e-7);
}

static void test_sgd(void) {
    umup_optim_config c = umup_optim_config_default(UMUP_OPT_SGD);
    umup_optimizer o;
    float p[2] = {1.0f, 1.0f}, g[2] = {0.5f, 0.5f}, st[2] = {0, 0};
    umup_param_group gr = group(0, 2, 2.0f, UMUP_WD_NONE);
    double buf;
    /* plain SGD: theta -= lr * factor * g */
    c.lr = 0.1f;
    umup_optim_init(&o, &c);
    umup_optim_step(&o, p, g, st, 2, &gr, 1);
    UT_NEAR(p[0], 1.0 - 0.2 * 0.5, 1e-7);
    /* momentum 0.9: buf = g, then buf = 0.9 buf + g2 */
    p[0] = p[1] = 1.0f; st[0] = st[1] = 0;
    c.momentum = 0.9f;
    umup_optim_init(&o, &c);
    umup_optim_step(&o, p, g, st, 2, &gr, 1);
    UT_NEAR(p[0], 0.9, 1e-7);
    g[0] = g[1] = -1.0f;
    umup_optim_step(&o, p, g, st, 2, &gr, 1);
    buf = 0.9 * 0.5 - 1.0;
    UT_NEAR(p[0], 0.9 - 0.2 * buf, 1e-7);
    /* Nesterov: theta -= lr (g + momentum buf) */
    p[0] = 1.0f; st[0] = st[1] = 0; g[0] = g[1] = 0.5f;
    c.nesterov = 1;
    umup_optim_init(&o, &c);
    umup_optim_step(&o, p, g, st, 2, &gr, 1);
    UT_NEAR(p[0], 1.0 - 0.2 * (0.5 + 0.9 * 0.5), 1e-7);
}

static void test_lion(void) {
    umup_optim_config c = umup_optim_config_default(UMUP_OPT_LION);
    umup_optimizer o;
    float p[3] = {1.0f, 1.0f, 1.0f}, g[3] = {0.3f, -2.0f, 0.0f}, st[3] = {0.0f, 0.0f, 1.0f};
    umup_param_group gr = group(0, 3, 1.0f, UMUP_WD_DECOUPLED);
    c.lr = 0.01f; c.weight_decay = 0.1f;
    umup_optim_init(&o, &c);
    UT_CHECK(umup_optim_config_default(UMUP_OPT_LION).beta2 == 0.99);
    umup_optim_step(&o, p, g, st, 3, &gr, 1);
    UT_NEAR(p[0], 1.0 * (1 - 0.01 * 0.1) - 0.01, 1e-7);   /* sign(+) */
    UT_NEAR(p[1], 1.0 * (1 - 0.01 * 0.1) + 0.01, 1e-7);   /* sign(-) */
    UT_NEAR(p[2], 1.0 * (1 - 0.01 * 0.1) - 0.01, 1e-7);   /* m = 1 > 0 gives sign +1 even for g = 0 */
    UT_NEAR(st[0], 0.01 * 0.3, 1e-8);                     /* m = b2 m + (1 - b2) g */
    UT_NEAR(st[2], 0.99, 1e-7);
}

static void test_clipping_and_nonfinite(void) {
    umup_optim_config c = umup_optim_config_default(UMUP_OPT_SGD);
    umup_optimizer o;
    float p[2] = {0.0f, 0.0f}, g[2] = {3.0f, 4.0f}, st[2] = {0, 0};
    umup_param_group gr = group(0, 2, 1.0f, UMUP_WD_NONE);
    c.lr = 1.0f; c.clip_norm = 1.0f;
    umup_optim_init(&o, &c);
    UT_CHECK(umup_optim_step(&o, p, g, st, 2, &gr, 1) == UMUP_OK);
    UT_NEAR(p[0], -0.6, 1e-7); UT_NEAR(p[1], -0.8, 1e-7);
    UT_NEAR(o.last_grad_norm, 5.0, 1e-12);
    /* below the threshold: unchanged gradients */
    g[0] = 0.3f; g[1] = 0.4f;
    umup_optim_step(&o, p, g, st, 2, &gr, 1);
    UT_NEAR(p[0], -0.9, 1e-7);
    /* NaN gradient: refused, nothing modified */
    g[1] = (float)NAN;
    UT_CHECK(umup_optim_step(&o, p, g, st, 2, &gr, 1) == UMUP_ERR_NONFINITE);
    UT_NEAR(p[0], -0.9, 1e-7);
    UT_CHECK(o.step == 2);
    g[1] = (float)INFINITY;
    UT_CHECK(umup_optim_step(&o, p, g, st, 2, &gr, 1) == UMUP_ERR_NONFINITE);
    /* RMS clipping: g = (3, 4) has norm 5 and RMS 5/sqrt 2; clip_rms 1 scales it by sqrt(2)/5 */
    c = umup_optim_config_default(UMUP_OPT_SGD);
    c.lr = 1.0; c.clip_rms = 1.0;
    UT_CHECK(umup_optim_init(&o, &c) == UMUP_OK);
    p[0] = p[1] = 0.0f; g[0] = 3.0f; g[1] = 4.0f;
    UT_CHECK(umup_optim_step(&o, p, g, st, 2, &gr, 1) == UMUP_OK);
    UT_NEAR(p[0], -3.0 * sqrt(2.0) / 5.0, 1e-7); UT_NEAR(p[1], -4.0 * sqrt(2.0) / 5.0, 1e-7);
    /* both thresholds: the stronger one (clip_norm 1: factor 1/5 < sqrt(2)/5) */
    c.clip_norm = 1.0;
    UT_CHECK(umup_optim_init(&o, &c) == UMUP_OK);
    p[0] = p[1] = 0.0f;
    UT_CHECK(umup_optim_step(&o, p, g, st, 2, &gr, 1) == UMUP_OK);
    UT_NEAR(p[0], -0.6, 1e-7); UT_NEAR(p[1], -0.8, 1e-7);
    /* the RMS below the threshold: unchanged */
    c.clip_norm = 0.0; c.clip_rms = 4.0;
    UT_CHECK(umup_optim_init(&o, &c) == UMUP_OK);
    p[0] = p[1] = 0.0f;
    UT_CHECK(umup_optim_step(&o, p, g, st, 2, &gr, 1) == UMUP_OK);
    UT_NEAR(p[0], -3.0, 1e-7);
    c.clip_rms = -1.0;
    UT_CHECK(umup_optim_init(&o, &c) == UMUP_ERR_INVALID_ARG);
}

static void test_schedules(void) {
    umup_schedule s;
    s.decay = UMUP_SCHED_COSINE; s.warmup = 10; s.total = 110; s.min_ratio = 0.1f;
    UT_NEAR(umup_schedule_value(&s, 0), 0.1, 1e-7);
    UT_NEAR(umup_schedule_value(&s, 4), 0.5, 1e-7);
    UT_NEAR(umup_schedule_value(&s, 9), 1.0, 1e-7);
    UT_NEAR(umup_schedule_value(&s, 10), 1.0, 1e-7);
    UT_NEAR(umup_schedule_value(&s, 60), 0.55, 1e-7);                                    /* mid-cosine */
    UT_NEAR(umup_schedule_value(&s, 35), 0.1 + 0.9 * 0.5 * (1 + cos(3.14159265358979 * 0.25)), 1e-6);
    UT_NEAR(umup_schedule_value(&s, 110), 0.1, 1e-7);                                   /* floor */
    UT_NEAR(umup_schedule_value(&s, 5000), 0.1, 1e-7);
    s.decay = UMUP_SCHED_LINEAR;
    UT_NEAR(umup_schedule_value(&s, 35), 0.1 + 0.9 * 0.75, 1e-7);
    s.decay = UMUP_SCHED_CONSTANT;
    UT_NEAR(umup_schedule_value(&s, 35), 1.0, 0);
    UT_NEAR(umup_schedule_value(NULL, 3), 1.0, 0);
    /* the schedule scales the LR and independent decay follows it (lambda * schedule) */
    {
        umup_optim_config c = umup_optim_config_default(UMUP_OPT_SGD);
        umup_optimizer o;
        float p[1] = {1.0f}, g[1] = {0.0f}, st[1] = {0};
        umup_param_group gr = group(0, 1, 1.0f, UMUP_WD_INDEPENDENT);
        c.lr = 1.0f; c.weight_decay = 0.2f;
        c.schedule.decay = UMUP_SCHED_LINEAR; c.schedule.warmup = 0; c.schedule.total = 4; c.schedule.min_ratio = 0;
        umup_optim_init(&o, &c);
        umup_optim_step(&o, p, g, st, 1, &gr, 1);  /* schedule 1 */
        umup_optim_step(&o, p, g, st, 1, &gr, 1);  /* schedule 0.75 */
        UT_NEAR(p[0], (1 - 0.2) * (1 - 0.2 * 0.75), 1e-7);
    }
}

static void test_optim_errors(void) {
    umup_optim_config c = umup_optim_config_default(UMUP_OPT_ADAMW);
    umup_optimizer o;
    float p[4] = {1, 2, 3, 4}, g[4] = {1, 1, 1, 1}, st[8] = {0};
    umup_param_group gr = group(2, 3, 1.0f, UMUP_WD_NONE);
    umup_optimizer_kind k;
    UT_CHECK(umup_optim_init(NULL, &c) == UMUP_ERR_NULL);
    c.beta1 = 1.5f;
    UT_CHECK(umup_optim_init(&o, &c) == UMUP_ERR_INVALID_ARG);
    c.beta1 = 0.9f; c.lr = -1.0f;
    UT_CHECK(umup_optim_init(&o, &c) == UMUP_ERR_INVALID_ARG);
    c.lr = 0.0f; c.kind = (umup_optimizer_kind)8;
    UT_CHECK(umup_optim_init(&o, &c) == UMUP_ERR_INVALID_ARG);
    c.kind = UMUP_OPT_ADAMW;
    UT_CHECK(umup_optim_init(&o, &c) == UMUP_OK && o.cfg.lr == 1e-3); /* zero means default */
    UT_CHECK(umup_optim_step(&o, p, g, st, 4, &gr, 1) == UMUP_ERR_SHAPE); /* group past the end */
    gr.size = 2; gr.lr_factor = (float)NAN;
    UT_CHECK(umup_optim_step(&o, p, g, st, 4, &gr, 1) == UMUP_ERR_INVALID_ARG);
    UT_CHECK(p[2] == 3.0f && o.step == 0);
    UT_CHECK(umup_optim_step(&o, NULL, g, st, 4, &gr, 1) == UMUP_ERR_NULL);
    UT_CHECK(umup_optim_state_size(UMUP_OPT_ADAM, 10) == 20 && umup_optim_state_size(UMUP_OPT_LION, 10) == 10);
    UT_CHECK(umup_optim_parse("lion", &k) == UMUP_OK && k == UMUP_OPT_LION);
    UT_CHECK(umup_optim_parse("adamax", &k) == UMUP_ERR_INVALID_ARG);
    UT_CHECK(strcmp(umup_optim_name(UMUP_OPT_SGD), "sgd") == 0);
}

int main(void) {
    UT_RUN(test_adamw_two_steps);
    UT_RUN(test_adam_vector_matches_scalar);
    UT_RUN(test_adam_coupled);
    UT_RUN(test_independent_under_adam_sgd);
    UT_RUN(test_sgd);
    UT_RUN(test_lion);
    UT_RUN(test_clipping_and_nonfinite);
    UT_RUN(test_schedules);
    UT_RUN(test_optim_errors);
    return ut_finish("test_optim");
}
