/* tests/test_ckpt.c - safetensors checkpoints of umup.h's trainer.
 *  - resume: save -> load into a fresh trainer (or umup_trainer_from_checkpoint) -> continue gives
 *    bitwise the same losses and parameters as the uninterrupted run (AdamW with FP8 SR, SGD with
 *    momentum); a longer total continues with the stretched schedule (checked on the update size);
 *  - the file: valid safetensors, reference names, "optim." moments, metadata values as names;
 *    weights-only files; umup_checkpoint_info; files of the older format 1 (a real one in tests/data);
 *  - loads: truncations, flipped bytes, trailing bytes, holes, overlaps, exact values (steps that
 *    do not fit, are empty, signed or past the schedule), NaN/Inf tensors, every mismatch listed at
 *    once, FIFOs / directories / devices refused without blocking; the trainer never changes on a
 *    failed load;
 *  - saves: atomic under a failing write (RLIMIT_FSIZE in a child: the previous checkpoint survives,
 *    no temporary stays), a killed save's temporary removed by the next save, a path of 1100
 *    characters, symbolic links followed (the link stays), non-regular files refused, permission
 *    bits kept, NaN parameters refused, umup_checkpoint_check_writable. */
#define _POSIX_C_SOURCE 200809L
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "umup_test.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#define DIR_ "build/test_ckpt.d"
#define CK DIR_ "/a.safetensors"

static umup_dataset DS;

static umup_trainer *make_ex(umup_optimizer_kind kind, int width, long total, int fp8) {
    umup_model_config mc = umup_model_config_default();
    umup_optim_config oc = umup_optim_config_default(kind);
    umup_trainer *t = NULL;
    mc.width = width;
    mc.layers = 2;
    mc.max_seq = 32;
    mc.fp8 = fp8 ? UMUP_FP8_SIM_UMUP : UMUP_FP8_SIM_NONE;
    mc.fp8_rounding = UMUP_FP8_SR;
    mc.seed = 3;
    oc.lr = kind == UMUP_OPT_SGD ? 0.05 : 0.3;
    oc.momentum = kind == UMUP_OPT_SGD ? 0.9 : 0.0;
    oc.weight_decay = 1e-3;
    oc.schedule.decay = UMUP_SCHED_COSINE;
    oc.schedule.warmup = 3;
    oc.schedule.total = total;
    UT_CHECK(umup_trainer_create(&t, &mc, &oc, 4) == UMUP_OK);
    return t;
}
static umup_trainer *make(umup_optimizer_kind kind, int width) { return make_ex(kind, width, 20, 1); }

static void run(umup_trainer *t, int from, int to, float *losses) {
    int32_t ids[4 * 32], tg[4 * 32];
    int s;
    for (s = from; s < to; s++) {
        umup_dataset_batch(&DS, 0, 9, s, 4, 32, ids, tg);
        UT_CHECK(umup_trainer_step(t, ids, tg, 4, 32, &losses[s]) == UMUP_OK);
    }
}

static size_t nparams(umup_trainer *t) { return umup_model_num_params(umup_trainer_model(t)); }
static float *params(umup_trainer *t) { return umup_model_params(umup_trainer_model(t)); }
static int same_params(umup_trainer *a, umup_trainer *b) {
    return nparams(a) == nparams(b) && memcmp(params(a), params(b), nparams(a) * sizeof(float)) == 0;
}

/* ---- file helpers --------------------------------------------------------------------------- */

static unsigned char *slurp(const char *path, long *n) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END); *n = ftell(f); fseek(f, 0, SEEK_SET);
    buf = (unsigned char *)malloc((size_t)*n + 1);
    if (buf && fread(buf, 1, (size_t)*n, f) != (size_t)*n) { free(buf); buf = NULL; }
    fclose(f);
    return buf;
}
static void spit(const char *path, const unsigned char *buf, long n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(buf, 1, (size_t)n, f);
    fclose(f);
}
static int file_exists(const char *path) {
    struct stat sb;
    return lstat(path, &sb) == 0;
}
/* The JSON header of a safetensors file (malloc'd, NUL-terminated); *hlen its length. */
static char *header_of(const unsigned char *file, uint64_t *hlen) {
    char *h;
    int i;
    *hlen = 0;
    for (i = 0; i < 8; i++) *hlen |= (uint64_t)file[i] << (8 * i);
    h = (char *)malloc((size_t)*hlen + 1);
    memcpy(h, file + 8, (size_t)*hlen);
    h[*hlen] = 0;
    return h;
}
/* Writes src with the header's first occurrence of `from` replaced by `to` (header re-padded). */
static void rewrite(const char *src, const char *dst, const char *from, const char *to) {
    long n = 0;
    unsigned char *file = slurp(src, &n), le[8];
    uint64_t hlen, nl;
    char *h, *p, *nh;
    size_t lf = strlen(from), lt = strlen(to), k;
    FILE *f;
    int i;
    if (!file) return;
    h = header_of(file, &hlen);
    p = strstr(h, from);
    UT_CHECKF(p != NULL, "rewrite: %s not in the header", from);
    if (!p) { free(h); free(file); return; }
    nh = (char *)malloc(hlen + lt + 16);
    memcpy(nh, h, (size_t)(p - h));
    memcpy(nh + (p - h), to, lt);
    strcpy(nh + (p - h) + lt, p + lf);
    k = strlen(nh);
    while (k > 0 && nh[k - 1] == ' ') k--; /* drop the old padding, pad again */
    while ((k + 8) % 8) nh[k++] = ' ';
    nl = k;
    for (i = 0; i < 8; i++) le[i] = (unsigned char)(nl >> (8 * i));
    f = fopen(dst, "wb");
    fwrite(le, 1, 8, f);
    fwrite(nh, 1, (size_t)nl, f);
    fwrite(file + 8 + hlen, 1, (size_t)(n - 8 - (long)hlen), f);
    fclose(f);
    free(nh); free(h); free(file);
}
/* Number of leftover temporaries (".*.umup-tmp") in DIR_. */
static int count_tmp(void) {
    DIR *d = opendir(DIR_);
    struct dirent *e;
    int n = 0;
    if (!d) return -1;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        n += l > 9 && strcmp(e->d_name + l - 9, ".umup-tmp") == 0;
    }
    closedir(d);
    return n;
}

/* ---- resume ----------------------------------------------------------------------------------- */

static void resume_case(umup_optimizer_kind kind, int from_ckpt) {
    umup_trainer *a = make(kind, 32), *b = make(kind, 32), *c = NULL;
    float la[20], lb[20];
    char err[512];
    if (!a || !b) return;
    run(a, 0, 20, la);
    run(b, 0, 8, lb);
    UT_CHECK(umup_trainer_save(b, CK) == UMUP_OK);
    if (from_ckpt) UT_CHECKF(umup_trainer_from_checkpoint(&c, CK, 4, err, sizeof err) == UMUP_OK, "%s", err);
    else {
        c = make(kind, 32);
        UT_CHECKF(c && umup_trainer_load(c, CK) == UMUP_OK, "load: %.300s", umup_trainer_error(c));
    }
    if (!c) return;
    UT_CHECK(umup_trainer_optimizer(c)->step == 8);
    run(c, 8, 20, lb);
    UT_CHECKF(memcmp(la, lb, sizeof la) == 0, "%s: losses differ after resuming", umup_optim_name(kind));
    UT_CHECK(same_params(a, c));
    umup_trainer_destroy(a);
    umup_trainer_destroy(b);
    umup_trainer_destroy(c);
}

static void test_resume_bit_identical(void) {
    resume_case(UMUP_OPT_ADAMW, 0);
    resume_case(UMUP_OPT_SGD, 0);
    resume_case(UMUP_OPT_ADAMW, 1);
}

/* A run saved at step 10 of 20 continues to 40: the trainer keeps its own total, and the next
 * update's size follows the schedule of 40 steps. With plain SGD (no momentum, no weight decay) an
 * update is lr_t * factor * g, so the two continuations' updates differ by sched40(10)/sched20(10). */
static void test_resume_longer(void) {
    umup_trainer *a = make_ex(UMUP_OPT_SGD, 32, 20, 0), *b20 = NULL, *b40 = make_ex(UMUP_OPT_SGD, 32, 40, 0);
    float l[64], *p0, *d20, *d40;
    size_t n, i, used = 0;
    double ratio, want, worst = 0;
    umup_schedule s20, s40;
    char err[512];
    if (!a || !b40) return;
    run(a, 0, 10, l);
    UT_CHECK(umup_trainer_save(a, CK) == UMUP_OK);
    UT_CHECKF(umup_trainer_from_checkpoint(&b20, CK, 4, err, sizeof err) == UMUP_OK, "%s", err);
    UT_CHECKF(umup_trainer_load(b40, CK) == UMUP_OK, "%.300s", umup_trainer_error(b40));
    if (!b20) return;
    UT_CHECK(umup_trainer_optimizer(b40)->step == 10 && umup_trainer_optimizer(b40)->cfg.schedule.total == 40);
    UT_CHECK(umup_trainer_optimizer(b20)->cfg.schedule.total == 20);
    n = nparams(a);
    p0 = (float *)malloc(n * sizeof(float));
    d20 = (float *)malloc(n * sizeof(float));
    d40 = (float *)malloc(n * sizeof(float));
    memcpy(p0, params(a), n * sizeof(float));
    run(b20, 10, 11, l);
    run(b40, 10, 11, l);
    for (i = 0; i < n; i++) { d20[i] = params(b20)[i] - p0[i]; d40[i] = params(b40)[i] - p0[i]; }
    s20 = umup_trainer_optimizer(b20)->cfg.schedule;
    s40 = umup_trainer_optimizer(b40)->cfg.schedule;
    want = (double)umup_schedule_value(&s40, 10) / umup_schedule_value(&s20, 10);
    UT_CHECK(want > 1.3); /* the stretched cosine is well above the old curve at step 10 (0.914 vs 0.638) */
    for (i = 0; i < n; i++)
        if (fabsf(d20[i]) > 1e-4f * (fabsf(p0[i]) + 1e-3f)) { /* updates well above the float spacing */
            ratio = (double)d40[i] / d20[i];
            if (fabs(ratio / want - 1) > worst) worst = fabs(ratio / want - 1);
            used++;
        }
    UT_CHECKF(used > n / 4 && worst < 2e-2, "update ratio off by %.3g over %zu values (want %.6f)", worst, used, want);
    /* umup_trainer_set_total_steps does the same as loading into a trainer made with that total */
    {
        umup_trainer *c = NULL;
        UT_CHECK(umup_trainer_from_checkpoint(&c, CK, 4, NULL, 0) == UMUP_OK);
        if (c) {
            UT_CHECK(umup_trainer_set_total_steps(c, 9) == UMUP_ERR_INVALID_ARG); /* before the step */
            UT_CHECK(umup_trainer_set_total_steps(c, -1) == UMUP_ERR_INVALID_ARG);
            UT_CHECK(umup_trainer_optimizer(c)->cfg.schedule.total == 20);
            UT_CHECK(umup_trainer_set_total_steps(c, 40) == UMUP_OK);
            run(c, 10, 11, l);
            UT_CHECK(same_params(c, b40));
            umup_trainer_destroy(c);
        }
        UT_CHECK(umup_trainer_set_total_steps(NULL, 5) == UMUP_ERR_NULL);
    }
    /* a trainer whose total is before the checkpoint's step refuses it */
    {
        umup_trainer *s = make_ex(UMUP_OPT_SGD, 32, 5, 0);
        if (s) {
            UT_CHECK(umup_trainer_load(s, CK) == UMUP_ERR_MISMATCH);
            UT_CHECKF(strstr(umup_trainer_error(s), "step 10") != NULL, "%.300s", umup_trainer_error(s));
            UT_CHECK(umup_trainer_optimizer(s)->step == 0);
            umup_trainer_destroy(s);
        }
    }
    free(p0); free(d20); free(d40);
    umup_trainer_destroy(a);
    umup_trainer_destroy(b20);
    umup_trainer_destroy(b40);
}

/* ---- the file --------------------------------------------------------------------------------- */

static void test_format(void) {
    umup_trainer *t = make(UMUP_OPT_ADAMW, 64);
    unsigned char *file;
    long n = 0;
    uint64_t hlen = 0;
    char *hdr;
    if (!t) return;
    UT_CHECK(umup_trainer_set_run_info(t, "batch", "4") == UMUP_OK);
    UT_CHECK(umup_trainer_set_run_info(t, "data", "a \"quoted\" \\ path") == UMUP_OK);
    UT_CHECK(umup_trainer_save(t, CK) == UMUP_OK);
    file = slurp(CK, &n);
    if (!file) { UT_CHECK(0); return; }
    hdr = header_of(file, &hlen);
    UT_CHECK(hlen > 0 && (hlen + 8) % 8 == 0 && file[8] == '{');
    UT_CHECK(memchr(file + 8, 0, (size_t)hlen) == NULL);
    UT_CHECK(strstr(hdr, "\"layers.1.mlp.linear_gate.weight\":{\"dtype\":\"F32\",\"shape\":[256,64]") != NULL);
    UT_CHECK(strstr(hdr, "\"embedding.weight\"") && strstr(hdr, "\"projection.weight\""));
    UT_CHECK(strstr(hdr, "\"optim.m.projection.weight\"") && strstr(hdr, "\"optim.v.projection.weight\""));
    UT_CHECK(strstr(hdr, "\"format\":\"umup-checkpoint-3\"") && strstr(hdr, "\"contents\":\"full\"") && strstr(hdr, "\"step\":\"0\""));
    UT_CHECK(strstr(hdr, "\"mlp\":\"swiglu\"") && strstr(hdr, "\"base_head_size\":\"0\"") && strstr(hdr, "\"sdpa_scale\":\"0\"") &&
             strstr(hdr, "\"fp8_attention\":\"false\""));
    /* values as names, exact floats, base_depth as set */
    UT_CHECK(strstr(hdr, "\"fp8\":\"umup\"") && strstr(hdr, "\"fp8_rounding\":\"sr\"") && strstr(hdr, "\"norm\":\"rms\""));
    UT_CHECK(strstr(hdr, "\"schedule\":\"cosine\"") && strstr(hdr, "\"optimizer\":\"adamw\"") && strstr(hdr, "\"param\":\"umup\""));
    UT_CHECK(strstr(hdr, "\"depth_rule\":\"default\"") && strstr(hdr, "\"depth_mode\":\"layers\"") && strstr(hdr, "\"rope\":\"false\""));
    UT_CHECK(strstr(hdr, "\"lr\":\"0.3\"") && strstr(hdr, "\"head_size\":\"32\"") && strstr(hdr, "\"base_width\":\"auto\""));
    UT_CHECK(strstr(hdr, "\"run.batch\":\"4\"") && strstr(hdr, "\"run.data\":\"a \\\"quoted\\\" \\\\ path\""));
    free(hdr); free(file);
    /* weights only: no optimizer keys at all, and the data is the parameters */
    UT_CHECK(umup_trainer_save_weights(t, DIR_ "/w.safetensors") == UMUP_OK);
    file = slurp(DIR_ "/w.safetensors", &n);
    if (!file) { UT_CHECK(0); return; }
    hdr = header_of(file, &hlen);
    UT_CHECK(strstr(hdr, "optim.") == NULL && strstr(hdr, "\"contents\":\"weights\"") != NULL);
    UT_CHECK((size_t)(n - 8 - (long)hlen) == nparams(t) * sizeof(float));
    UT_CHECK(memcmp(file + 8 + hlen, params(t), nparams(t) * sizeof(float)) == 0);
    free(hdr); free(file);
    umup_trainer_destroy(t);
}

static void test_info(void) {
    umup_trainer *t = make(UMUP_OPT_ADAMW, 64), *u = NULL;
    umup_checkpoint_meta m;
    float l[20];
    char err[512];
    const umup_model_config *mc;
    if (!t) return;
    run(t, 0, 5, l);
    UT_CHECK(umup_trainer_set_run_info(t, "seq", "32") == UMUP_OK);
    UT_CHECK(umup_trainer_save(t, CK) == UMUP_OK);
    UT_CHECKF(umup_checkpoint_info(CK, &m, err, sizeof err) == UMUP_OK, "%s", err);
    mc = umup_model_get_config(umup_trainer_model(t));
    UT_CHECK(m.version == 3 && m.has_config && m.has_optimizer_state && m.step == 5);
    UT_CHECK(m.model.width == 64 && m.model.layers == 2 && m.model.heads == 2 && m.model.head_size == 32);
    UT_CHECK(m.model.fp8 == UMUP_FP8_SIM_UMUP && m.model.fp8_rounding == UMUP_FP8_SR && m.model.seed == 3);
    UT_CHECK(m.model.param.param == UMUP_PARAM_UMUP && m.model.alpha_attn == mc->alpha_attn && m.model.max_seq == 32);
    UT_CHECK(m.optim.kind == UMUP_OPT_ADAMW && m.optim.lr == 0.3 && m.optim.weight_decay == 1e-3);
    UT_CHECK(m.optim.schedule.decay == UMUP_SCHED_COSINE && m.optim.schedule.warmup == 3 && m.optim.schedule.total == 20);
    UT_CHECK(m.n_tensors == 3 * umup_model_num_tensors(umup_trainer_model(t)) && m.n_values == 3 * nparams(t));
    UT_CHECK(m.n_run_info == 1 && !strcmp(m.run_info[0].key, "seq") && !strcmp(m.run_info[0].value, "32"));
    /* the recorded configuration rebuilds the same model */
    UT_CHECK(umup_trainer_create(&u, &m.model, &m.optim, 2) == UMUP_OK);
    if (u) {
        UT_CHECK(umup_trainer_load(u, CK) == UMUP_OK && same_params(t, u));
        umup_trainer_destroy(u);
    }
    UT_CHECK(umup_trainer_save_weights(t, DIR_ "/w.safetensors") == UMUP_OK);
    UT_CHECK(umup_checkpoint_info(DIR_ "/w.safetensors", &m, NULL, 0) == UMUP_OK && m.has_config && !m.has_optimizer_state);
    UT_CHECK(m.step == 5 && m.n_tensors == umup_model_num_tensors(umup_trainer_model(t)));
    UT_CHECK(umup_checkpoint_info(DIR_ "/missing", &m, err, sizeof err) == UMUP_ERR_IO && strstr(err, "missing"));
    UT_CHECK(umup_checkpoint_info(NULL, &m, err, sizeof err) == UMUP_ERR_NULL);
    umup_trainer_destroy(t);
}

/* Weights-only loads: the parameters, a zeroed optimizer and step 0, from full, weights-only or
 * foreign files; only the settings that change what the weights mean must match. */
static void test_weights(void) {
    umup_trainer *t = make(UMUP_OPT_ADAMW, 64), *u = make_ex(UMUP_OPT_SGD, 64, 100, 0), *w = make(UMUP_OPT_ADAMW, 128);
    umup_trainer *v = NULL;
    float l[20];
    char err[512];
    if (!t || !u || !w) return;
    run(t, 0, 4, l);
    run(u, 0, 2, l);
    UT_CHECK(umup_trainer_save(t, CK) == UMUP_OK);
    UT_CHECK(umup_trainer_save_weights(t, DIR_ "/w.safetensors") == UMUP_OK);
    /* a different optimizer, FP8 setting and schedule: fine for the weights */
    UT_CHECKF(umup_trainer_load_weights(u, DIR_ "/w.safetensors") == UMUP_OK, "%.300s", umup_trainer_error(u));
    UT_CHECK(same_params(t, u) && umup_trainer_optimizer(u)->step == 0);
    run(u, 0, 2, l);
    UT_CHECK(umup_trainer_load_weights(u, CK) == UMUP_OK && same_params(t, u)); /* a full file: optim.* skipped */
    UT_CHECK(umup_trainer_optimizer(u)->step == 0);
    {   /* the optimizer state is zeroed: the next step from the loaded weights equals a fresh trainer's */
        umup_trainer *f = make_ex(UMUP_OPT_SGD, 64, 100, 0);
        if (f) {
            UT_CHECK(umup_trainer_load_weights(f, CK) == UMUP_OK);
            run(f, 0, 1, l);
            run(u, 0, 1, l);
            UT_CHECK(same_params(f, u));
            umup_trainer_destroy(f);
        }
    }
    /* a weights-only file cannot resume */
    UT_CHECK(umup_trainer_load(t, DIR_ "/w.safetensors") == UMUP_ERR_MISMATCH);
    UT_CHECKF(strstr(umup_trainer_error(t), "weights only") != NULL, "%.300s", umup_trainer_error(t));
    /* other shapes: mismatch, listed */
    UT_CHECK(umup_trainer_load_weights(w, DIR_ "/w.safetensors") == UMUP_ERR_MISMATCH);
    UT_CHECKF(strstr(umup_trainer_error(w), "width: the checkpoint has 64, this trainer 128") &&
              strstr(umup_trainer_error(w), "tensor embedding.weight has shape [256, 64], this trainer [256, 128]"),
              "%.400s", umup_trainer_error(w));
    /* from_checkpoint of a weights file: step 0, the recorded configuration */
    UT_CHECKF(umup_trainer_from_checkpoint(&v, DIR_ "/w.safetensors", 2, err, sizeof err) == UMUP_OK, "%s", err);
    if (v) {
        UT_CHECK(same_params(t, v) && umup_trainer_optimizer(v)->step == 0);
        UT_CHECK(umup_model_get_config(umup_trainer_model(v))->fp8 == UMUP_FP8_SIM_UMUP);
        umup_trainer_destroy(v);
    }
    /* a foreign file (no umup metadata, e.g. written from PyTorch): weights only */
    rewrite(DIR_ "/w.safetensors", DIR_ "/f.safetensors", "\"format\":\"umup-checkpoint-3\"", "\"format\":\"pt\"");
    run(u, 0, 1, l);
    UT_CHECKF(umup_trainer_load_weights(u, DIR_ "/f.safetensors") == UMUP_OK, "%.300s", umup_trainer_error(u));
    UT_CHECK(same_params(t, u));
    UT_CHECK(umup_trainer_load(u, DIR_ "/f.safetensors") == UMUP_ERR_FORMAT);
    UT_CHECK(umup_trainer_from_checkpoint(&v, DIR_ "/f.safetensors", 2, err, sizeof err) == UMUP_ERR_FORMAT && v == NULL);
    {
        umup_checkpoint_meta m;
        UT_CHECK(umup_checkpoint_info(DIR_ "/f.safetensors", &m, NULL, 0) == UMUP_OK && m.version == 0 && !m.has_config);
        UT_CHECK(m.model.width == 0 && m.n_tensors == umup_model_num_tensors(umup_trainer_model(t)));
    }
    /* an extra tensor that is not "optim.": a mismatch (PyTorch's strict load would refuse it too) */
    rewrite(DIR_ "/w.safetensors", DIR_ "/f.safetensors", "\"embedding.weight\"", "\"embedding.weight2\"");
    UT_CHECK(umup_trainer_load_weights(u, DIR_ "/f.safetensors") == UMUP_ERR_MISMATCH);
    UT_CHECKF(strstr(umup_trainer_error(u), "tensor embedding.weight is missing") &&
              strstr(umup_trainer_error(u), "unexpected tensor embedding.weight2"), "%.300s", umup_trainer_error(u));
    umup_trainer_destroy(t);
    umup_trainer_destroy(u);
    umup_trainer_destroy(w);
}

/* A custom parametrization is recorded by its name: it loads into a trainer that has it, is a
 * mismatch for any other, and umup_trainer_from_checkpoint cannot recreate it. */
static void test_custom_param(void) {
    static umup_param_info mine;
    umup_model_config mc = umup_model_config_default();
    umup_optim_config oc = umup_optim_config_default(UMUP_OPT_ADAMW);
    umup_trainer *t = NULL, *u = NULL, *v = NULL;
    umup_checkpoint_meta m;
    char err[512];
    mine = *umup_param_info_of(UMUP_PARAM_UMUP);
    mine.name = "my-umup";
    mc.width = 32;
    mc.max_seq = 8;
    mc.param.custom = &mine;
    UT_CHECK(umup_trainer_create(&t, &mc, &oc, 1) == UMUP_OK && umup_trainer_create(&u, &mc, &oc, 1) == UMUP_OK);
    if (!t || !u) return;
    UT_CHECK(umup_trainer_save(t, CK) == UMUP_OK);
    UT_CHECK(umup_trainer_load(u, CK) == UMUP_OK && same_params(t, u));
    UT_CHECK(umup_checkpoint_info(CK, &m, NULL, 0) == UMUP_OK && !strcmp(m.param_name, "my-umup") && m.model.param.custom == NULL);
    UT_CHECK(umup_trainer_from_checkpoint(&v, CK, 1, err, sizeof err) == UMUP_ERR_UNSUPPORTED && !v);
    UT_CHECKF(strstr(err, "my-umup") != NULL, "%s", err);
    umup_trainer_destroy(u);
    u = make(UMUP_OPT_ADAMW, 32);
    if (u) {
        UT_CHECK(umup_trainer_load(u, CK) == UMUP_ERR_MISMATCH);
        UT_CHECKF(strstr(umup_trainer_error(u), "param: the checkpoint has my-umup, this trainer umup") != NULL, "%.300s",
                  umup_trainer_error(u));
    }
    {   /* the FP8 formats are recorded by name */
        long n = 0;
        uint64_t hlen;
        unsigned char *file = slurp(CK, &n);
        char *hdr = file ? header_of(file, &hlen) : NULL;
        UT_CHECK(hdr && strstr(hdr, "\"fp8_custom_formats\":\"false\",\"fp8_format_fwd\":\"e4m3\",\"fp8_format_bwd\":\"e5m2\""));
        free(hdr);
        free(file);
    }
    umup_trainer_destroy(t);
    umup_trainer_destroy(u);
}

/* A file of the format-1 layout (enums and booleans as numbers, no contents/head_size keys) loads. */
static void test_version1(void) {
    umup_trainer *t = make(UMUP_OPT_ADAMW, 64), *u = make(UMUP_OPT_ADAMW, 64);
    float l[20];
    umup_checkpoint_meta m;
    if (!t || !u) return;
    run(t, 0, 3, l);
    UT_CHECK(umup_trainer_save(t, CK) == UMUP_OK);
    rewrite(CK, DIR_ "/v1.safetensors", "\"format\":\"umup-checkpoint-3\",\"contents\":\"full\",", "\"format\":\"umup-checkpoint-1\",");
    rewrite(DIR_ "/v1.safetensors", DIR_ "/v1.safetensors", "\"fp8\":\"umup\"", "\"fp8\":\"2\"");
    rewrite(DIR_ "/v1.safetensors", DIR_ "/v1.safetensors", "\"schedule\":\"cosine\"", "\"schedule\":\"1\"");
    rewrite(DIR_ "/v1.safetensors", DIR_ "/v1.safetensors", "\"rope\":\"false\"", "\"rope\":\"0\"");
    rewrite(DIR_ "/v1.safetensors", DIR_ "/v1.safetensors", "\"head_size\":\"32\",", "");
    rewrite(DIR_ "/v1.safetensors", DIR_ "/v1.safetensors", "\"base_width\":\"auto\"", "\"base_width\":\"0\"");
    UT_CHECKF(umup_trainer_load(u, DIR_ "/v1.safetensors") == UMUP_OK, "%.300s", umup_trainer_error(u));
    UT_CHECK(same_params(t, u) && umup_trainer_optimizer(u)->step == 3);
    UT_CHECK(umup_checkpoint_info(DIR_ "/v1.safetensors", &m, NULL, 0) == UMUP_OK && m.version == 1 && m.model.head_size == 32);
    /* numbers for enums are a format-2 error */
    rewrite(CK, DIR_ "/bad.safetensors", "\"fp8\":\"umup\"", "\"fp8\":\"2\"");
    UT_CHECK(umup_trainer_load(u, DIR_ "/bad.safetensors") == UMUP_ERR_FORMAT);
    UT_CHECKF(strstr(umup_trainer_error(u), "bad value \"2\" for fp8") != NULL, "%.300s", umup_trainer_error(u));
    /* a future format is refused by name */
    rewrite(CK, DIR_ "/bad.safetensors", "umup-checkpoint-3", "umup-checkpoint-9");
    UT_CHECK(umup_trainer_load(u, DIR_ "/bad.safetensors") == UMUP_ERR_FORMAT);
    UT_CHECKF(strstr(umup_trainer_error(u), "umup-checkpoint-9") != NULL, "%.300s", umup_trainer_error(u));
    umup_trainer_destroy(t);
    umup_trainer_destroy(u);
}

/* A format-2 file (no base_head_size, mlp, sdpa_scale, fp8_attention) loads with their defaults; one
 * that records a format-3 setting differently from the trainer is refused; a checkpoint written under
 * "spectral" (spectral-nanotron's name before v0.2) loads into a spectral-nanotron trainer. */
static void test_version2(void) {
    static const char *const drop[] = {",\"mlp\":\"swiglu\"", ",\"base_head_size\":\"0\"", ",\"sdpa_scale\":\"0\"",
                                       ",\"fp8_attention\":\"false\""};
    umup_trainer *t = make(UMUP_OPT_ADAMW, 64), *u = make(UMUP_OPT_ADAMW, 64);
    umup_model_config mc = umup_model_config_default();
    umup_optim_config oc = umup_optim_config_default(UMUP_OPT_ADAMW);
    umup_checkpoint_meta m;
    float l[20];
    int i;
    if (!t || !u) return;
    run(t, 0, 2, l);
    UT_CHECK(umup_trainer_save(t, CK) == UMUP_OK);
    rewrite(CK, DIR_ "/v2.safetensors", "umup-checkpoint-3", "umup-checkpoint-2");
    for (i = 0; i < 4; i++) rewrite(DIR_ "/v2.safetensors", DIR_ "/v2.safetensors", drop[i], "");
    UT_CHECKF(umup_trainer_load(u, DIR_ "/v2.safetensors") == UMUP_OK, "%.300s", umup_trainer_error(u));
    UT_CHECK(same_params(t, u) && umup_trainer_optimizer(u)->step == 2);
    UT_CHECK(umup_checkpoint_info(DIR_ "/v2.safetensors", &m, NULL, 0) == UMUP_OK && m.version == 2 &&
             m.model.mlp == UMUP_MLP_SWIGLU && m.model.sdpa_scale == 0.0f && m.model.fp8_attention == 0);
    rewrite(CK, DIR_ "/bad.safetensors", "\"mlp\":\"swiglu\"", "\"mlp\":\"gelu\"");
    UT_CHECK(umup_trainer_load(u, DIR_ "/bad.safetensors") == UMUP_ERR_MISMATCH);
    UT_CHECKF(strstr(umup_trainer_error(u), "mlp: the checkpoint has gelu, this trainer swiglu") != NULL, "%.300s",
              umup_trainer_error(u));
    umup_trainer_destroy(t);
    umup_trainer_destroy(u);
    /* the old name of spectral-nanotron */
    mc.width = 64;
    mc.layers = 1;
    mc.max_seq = 32;
    mc.param.param = UMUP_PARAM_SPECTRAL_NANOTRON;
    oc.lr = 1e-3;
    oc.schedule.total = 20;
    t = u = NULL;
    UT_CHECK(umup_trainer_create(&t, &mc, &oc, 4) == UMUP_OK && umup_trainer_create(&u, &mc, &oc, 4) == UMUP_OK);
    if (!t || !u) { umup_trainer_destroy(t); umup_trainer_destroy(u); return; }
    run(t, 0, 2, l);
    UT_CHECK(umup_trainer_save(t, CK) == UMUP_OK);
    rewrite(CK, DIR_ "/old.safetensors", "\"param\":\"spectral-nanotron\"", "\"param\":\"spectral\"");
    UT_CHECKF(umup_trainer_load(u, DIR_ "/old.safetensors") == UMUP_OK, "%.300s", umup_trainer_error(u));
    UT_CHECK(same_params(t, u));
    umup_trainer_destroy(t);
    umup_trainer_destroy(u);
}

/* A real format-1 file (tests/data/ckpt_v1.safetensors: vocab 16, width 8, 1 layer, AdamW, step 3,
 * written by umup 0.1.0 before format 2) loads with its settings, and every value arrives unchanged. */
static void test_version1_file(void) {
    const char *path = "tests/data/ckpt_v1.safetensors";
    umup_checkpoint_meta m;
    umup_trainer *t = NULL;
    char err[512];
    long n = 0;
    unsigned char *file = slurp(path, &n);
    uint64_t hlen = 0;
    char *hdr;
    int e, ok = 1;
    if (!file) { UT_CHECK(0); return; }
    hdr = header_of(file, &hlen);
    UT_CHECKF(umup_checkpoint_info(path, &m, err, sizeof err) == UMUP_OK, "%s", err);
    UT_CHECK(m.version == 1 && m.has_optimizer_state && m.step == 3 && m.model.vocab == 16 && m.model.width == 8);
    UT_CHECK(m.model.heads == 1 && m.model.head_size == 8 && m.model.layers == 1 && m.model.mlp_expansion == 1);
    UT_CHECK(m.model.fp8 == UMUP_FP8_SIM_UMUP && m.model.fp8_rounding == UMUP_FP8_SR && m.model.seed == 7);
    UT_CHECK(m.optim.kind == UMUP_OPT_ADAMW && m.optim.lr == 0.5 && m.optim.schedule.decay == UMUP_SCHED_COSINE);
    UT_CHECK(m.optim.schedule.total == 10 && m.optim.clip_norm == 1.0 && m.n_tensors == 3 * 7);
    UT_CHECKF(umup_trainer_from_checkpoint(&t, path, 1, err, sizeof err) == UMUP_OK, "%s", err);
    if (t) {
        /* every parameter and moment equals the file's bytes at its data_offsets */
        umup_model *mm = umup_trainer_model(t);
        for (e = 0; e < 3 * umup_model_num_tensors(mm); e++) {
            const umup_tensor_info *ti = umup_model_tensor(mm, e % umup_model_num_tensors(mm));
            char key[128], *at;
            unsigned long a = 0;
            const float *mine = e < umup_model_num_tensors(mm) ? umup_model_params(mm) + ti->offset : NULL;
            snprintf(key, sizeof key, "\"%s%s\":", e < 7 ? "" : e < 14 ? "optim.m." : "optim.v.", ti->name);
            at = strstr(hdr, key);
            if (!at || !(at = strstr(at, "data_offsets\":[")) || sscanf(at + 15, "%lu", &a) != 1) { ok = 0; continue; }
            if (mine && memcmp(mine, file + 8 + hlen + a, ti->size * sizeof(float)) != 0) ok = 0;
        }
        UT_CHECK(ok && umup_trainer_optimizer(t)->step == 3);
        umup_trainer_destroy(t);
    }
    free(hdr);
    free(file);
}

/* ---- loads of bad files ------------------------------------------------------------------------- */

static void test_corruption(void) {
    umup_trainer *t = make(UMUP_OPT_ADAMW, 32), *u = make(UMUP_OPT_ADAMW, 32);
    unsigned char *file, *bad;
    long n = 0, cut, i;
    uint64_t hlen = 0;
    int refused = 0, tries = 0, flips_bad = 0, flips = 0;
    float *before, l[20];
    size_t np;
    char *hdr;
    if (!t || !u) return;
    run(t, 0, 2, l);
    UT_CHECK(umup_trainer_save(t, CK) == UMUP_OK);
    file = slurp(CK, &n);
    if (!file) { UT_CHECK(0); return; }
    hdr = header_of(file, &hlen);
    free(hdr);
    np = nparams(u);
    before = (float *)malloc(np * sizeof(float));
    memcpy(before, params(u), np * sizeof(float));
    /* truncations: every length in the header and a stride through the data */
    bad = (unsigned char *)malloc((size_t)n + 64);
    for (cut = 0; cut < n; cut += cut < (long)hlen + 16 ? 1 : 4099) {
        spit(DIR_ "/bad", file, cut);
        tries++;
        refused += umup_trainer_load(u, DIR_ "/bad") == UMUP_ERR_FORMAT;
    }
    UT_CHECKF(refused == tries, "%d of %d truncated files refused with UMUP_ERR_FORMAT", refused, tries);
    /* flipped header bytes: refused, or (a byte in an unchecked value such as "writer", or padding)
       the loaded state is the saved one */
    for (i = 8; i < 8 + (long)hlen; i += 7) {
        umup_status st;
        memcpy(bad, file, (size_t)n);
        bad[i] ^= 0x5A;
        spit(DIR_ "/bad", bad, n);
        st = umup_trainer_load(u, DIR_ "/bad");
        flips++;
        if (st == UMUP_OK) {
            flips_bad += !same_params(t, u) || umup_trainer_optimizer(u)->step != 2;
            memcpy(params(u), before, np * sizeof(float)); /* back to the original for the next check */
            umup_trainer_load(u, DIR_ "/none");
        }
    }
    UT_CHECKF(flips_bad == 0, "%d of %d flipped files loaded a different state", flips_bad, flips);
    {   /* reset u completely */
        umup_trainer_destroy(u);
        u = make(UMUP_OPT_ADAMW, 32);
        if (!u) return;
    }
    /* trailing bytes after the last tensor */
    memcpy(bad, file, (size_t)n);
    memcpy(bad + n, "trailing", 8);
    spit(DIR_ "/bad", bad, n + 8);
    UT_CHECK(umup_trainer_load(u, DIR_ "/bad") == UMUP_ERR_FORMAT);
    UT_CHECKF(strstr(umup_trainer_error(u), "8 trailing bytes") != NULL, "%.300s", umup_trainer_error(u));
    /* a hole: the first tensor starts at 4 */
    rewrite(CK, DIR_ "/bad", "\"data_offsets\":[0,", "\"data_offsets\":[4,");
    UT_CHECK(umup_trainer_load(u, DIR_ "/bad") == UMUP_ERR_FORMAT);
    /* an overlap: the second tensor starts inside the first */
    {
        char from[64], to[64];
        const umup_tensor_info *t0 = umup_model_tensor(umup_trainer_model(u), 0);
        unsigned long e0 = (unsigned long)t0->size * 4;
        snprintf(from, sizeof from, "\"data_offsets\":[%lu,", e0);
        snprintf(to, sizeof to, "\"data_offsets\":[%lu,", e0 - 4);
        rewrite(CK, DIR_ "/bad", from, to);
        UT_CHECK(umup_trainer_load(u, DIR_ "/bad") == UMUP_ERR_FORMAT);
    }
    /* a header length past the end, and zero */
    memcpy(bad, file, (size_t)n);
    bad[6] = 1;
    spit(DIR_ "/bad", bad, n);
    UT_CHECK(umup_trainer_load(u, DIR_ "/bad") == UMUP_ERR_FORMAT);
    memset(bad, 0, 8);
    spit(DIR_ "/bad", bad, n);
    UT_CHECK(umup_trainer_load(u, DIR_ "/bad") == UMUP_ERR_FORMAT);
    /* nothing above changed the trainer */
    UT_CHECK(memcmp(before, params(u), np * sizeof(float)) == 0);
    UT_CHECK(umup_trainer_optimizer(u)->step == 0);
    free(file); free(bad); free(before);
    umup_trainer_destroy(t);
    umup_trainer_destroy(u);
}

/* Exact values: steps and settings that do not parse exactly, NaN/Inf tensors. */
static void test_values(void) {
    static const char *const bad_steps[] = {"\"step\":\"99999999999999999999999\"", "\"step\":\"\"", "\"step\":\"-1\"",
                                            "\"step\":\"+2\"", "\"step\":\" 2\"", "\"step\":\"2.0\"", "\"step\":\"0x2\"",
                                            "\"step\":\"9223372036854775807\"", "\"step\":\"21\""};
    umup_trainer *t = make(UMUP_OPT_ADAMW, 64), *u = make_ex(UMUP_OPT_ADAMW, 64, 100000, 1);
    float l[20];
    size_t k;
    if (!t || !u) return;
    run(t, 0, 2, l);
    UT_CHECK(umup_trainer_save(t, CK) == UMUP_OK);
    for (k = 0; k < sizeof bad_steps / sizeof bad_steps[0]; k++) {
        rewrite(CK, DIR_ "/bad", "\"step\":\"2\"", bad_steps[k]);
        /* u has a larger total, so only the file itself can make the step invalid */
        UT_CHECKF(umup_trainer_load(u, DIR_ "/bad") == UMUP_ERR_FORMAT, "%s: %.300s", bad_steps[k], umup_trainer_error(u));
        UT_CHECK(umup_trainer_optimizer(u)->step == 0);
    }
    UT_CHECKF(strstr(umup_trainer_error(u), "past the file's own schedule total 20") != NULL, "%.300s", umup_trainer_error(u));
    rewrite(CK, DIR_ "/bad", "\"step\":\"2\"", "\"step\":\"20\""); /* the end of the schedule is fine */
    UT_CHECK(umup_trainer_load(t, DIR_ "/bad") == UMUP_OK && umup_trainer_optimizer(t)->step == 20);
    /* a missing step, a setting that does not parse, a non-finite setting: all listed */
    rewrite(CK, DIR_ "/bad", "\"step\":\"2\",", "");
    UT_CHECK(umup_trainer_load(u, DIR_ "/bad") == UMUP_ERR_FORMAT);
    rewrite(CK, DIR_ "/bad", "\"width\":\"64\"", "\"width\":\"abc\"");
    rewrite(DIR_ "/bad", DIR_ "/bad", "\"lr\":\"0.3\"", "\"lr\":\"inf\"");
    rewrite(DIR_ "/bad", DIR_ "/bad", "\"dropout\":\"0\"", "\"dropout\":\"nan\"");
    UT_CHECK(umup_trainer_load(u, DIR_ "/bad") == UMUP_ERR_FORMAT);
    UT_CHECKF(strstr(umup_trainer_error(u), "\"abc\" for width") && strstr(umup_trainer_error(u), "\"inf\" for lr") &&
              strstr(umup_trainer_error(u), "\"nan\" for dropout"), "%.300s", umup_trainer_error(u));
    /* NaN and Inf values, named */
    {
        long n = 0;
        unsigned char *file = slurp(CK, &n);
        uint64_t hlen;
        char *hdr = header_of(file, &hlen);
        const umup_tensor_info *ti = umup_model_find_tensor(umup_trainer_model(t), "layers.1.mlp.linear_2.weight");
        float nanv = NAN, infv = -INFINITY;
        size_t at = 8 + (size_t)hlen + (ti->offset + 3 * (size_t)ti->cols + 5) * 4;
        memcpy(file + at, &nanv, 4);
        spit(DIR_ "/bad", file, n);
        UT_CHECK(umup_trainer_load(u, DIR_ "/bad") == UMUP_ERR_NONFINITE);
        UT_CHECKF(strstr(umup_trainer_error(u), "tensor layers.1.mlp.linear_2.weight holds a NaN or Inf at [3, 5]") != NULL,
                  "%.300s", umup_trainer_error(u));
        UT_CHECK(umup_trainer_load_weights(u, DIR_ "/bad") == UMUP_ERR_NONFINITE);
        memcpy(file + at, file + at + 4, 4);
        /* an Inf in the second moment of the readout (the last tensor) */
        memcpy(file + n - 4, &infv, 4);
        spit(DIR_ "/bad", file, n);
        UT_CHECK(umup_trainer_load(u, DIR_ "/bad") == UMUP_ERR_NONFINITE);
        UT_CHECKF(strstr(umup_trainer_error(u), "optim.v.projection.weight") != NULL, "%.300s", umup_trainer_error(u));
        UT_CHECK(umup_trainer_load_weights(u, DIR_ "/bad") == UMUP_OK); /* the moments are not read */
        free(hdr);
        free(file);
    }
    umup_trainer_destroy(t);
    umup_trainer_destroy(u);
}

/* Every mismatch at once: settings of both kinds and tensor shapes. */
static void test_mismatch_list(void) {
    umup_trainer *t = make(UMUP_OPT_ADAMW, 64), *w = NULL;
    umup_model_config mc = umup_model_config_default();
    umup_optim_config oc = umup_optim_config_default(UMUP_OPT_ADAMW);
    const char *e;
    if (!t) return;
    UT_CHECK(umup_trainer_set_run_info(t, "batch", "4") == UMUP_OK);
    UT_CHECK(umup_trainer_save(t, CK) == UMUP_OK);
    mc.width = 128; mc.max_seq = 32; mc.seed = 4; mc.fp8 = UMUP_FP8_SIM_ALL;
    oc.lr = 0.25; oc.schedule.total = 20; oc.schedule.warmup = 3;
    UT_CHECK(umup_trainer_create(&w, &mc, &oc, 2) == UMUP_OK);
    if (!w) return;
    UT_CHECK(umup_trainer_set_run_info(w, "batch", "8") == UMUP_OK);
    UT_CHECK(umup_trainer_load(w, CK) == UMUP_ERR_MISMATCH);
    e = umup_trainer_error(w);
    UT_CHECKF(strstr(e, "width: the checkpoint has 64, this trainer 128") && strstr(e, "head_size: the checkpoint has 32, this trainer 64") &&
              strstr(e, "fp8: the checkpoint has umup, this trainer all") && strstr(e, "seed: the checkpoint has 3, this trainer 4") &&
              strstr(e, "lr: the checkpoint has 0.3, this trainer 0.25") &&
              strstr(e, "schedule: the checkpoint has cosine, this trainer constant") &&
              strstr(e, "run.batch: the checkpoint has \"4\", this run \"8\"") && strstr(e, "tensor embedding.weight has shape"),
              "%.500s", e);
    UT_CHECK(strstr(e, "and ") != NULL && strstr(e, "more)") != NULL); /* too many to list: counted */
    UT_CHECK(umup_trainer_set_run_info(w, "batch", "") == UMUP_OK); /* removed */
    umup_trainer_destroy(w);
    /* a run-information key the file does not record is not compared */
    w = make(UMUP_OPT_ADAMW, 64);
    if (w) {
        UT_CHECK(umup_trainer_set_run_info(w, "data", "x.txt") == UMUP_OK);
        UT_CHECK(umup_trainer_load(w, CK) == UMUP_OK);
        UT_CHECK(umup_trainer_set_run_info(w, "bad key", "x") == UMUP_ERR_INVALID_ARG);
        UT_CHECK(umup_trainer_set_run_info(w, "k", "tab\there") == UMUP_ERR_INVALID_ARG);
        UT_CHECK(umup_trainer_set_run_info(w, "", "x") == UMUP_ERR_INVALID_ARG);
        umup_trainer_destroy(w);
    }
    umup_trainer_destroy(t);
}

/* Only regular files: a FIFO (which would block a plain open), a directory and a device. */
static void test_not_regular(void) {
    umup_trainer *t = make(UMUP_OPT_ADAMW, 32);
    umup_checkpoint_meta m;
    pid_t pid;
    int status = 0;
    if (!t) return;
    unlink(DIR_ "/fifo");
    UT_CHECK(mkfifo(DIR_ "/fifo", 0600) == 0);
    /* in a child with an alarm, so a hang fails the test instead of stalling the suite */
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        int ok;
        alarm(20);
        ok = umup_trainer_load(t, DIR_ "/fifo") == UMUP_ERR_IO && umup_trainer_load_weights(t, DIR_ "/fifo") == UMUP_ERR_IO &&
             umup_checkpoint_info(DIR_ "/fifo", &m, NULL, 0) == UMUP_ERR_IO && strstr(umup_trainer_error(t), "not a regular file");
        _exit(ok ? 0 : 1);
    }
    UT_CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    UT_CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "FIFO load: status %d", status);
    UT_CHECK(umup_trainer_load(t, DIR_) == UMUP_ERR_IO && strstr(umup_trainer_error(t), "not a regular file"));
    UT_CHECK(umup_trainer_load(t, "/dev/null") == UMUP_ERR_IO);
    UT_CHECK(umup_trainer_load(t, DIR_ "/no-such-file") == UMUP_ERR_IO);
    /* and saves refuse them too (the FIFO is left alone) */
    UT_CHECK(umup_trainer_save(t, DIR_ "/fifo") == UMUP_ERR_IO);
    UT_CHECKF(strstr(umup_trainer_error(t), "a FIFO") != NULL, "%.300s", umup_trainer_error(t));
    {
        struct stat sb;
        UT_CHECK(lstat(DIR_ "/fifo", &sb) == 0 && S_ISFIFO(sb.st_mode));
    }
    UT_CHECK(umup_trainer_save(t, DIR_) == UMUP_ERR_IO);
    UT_CHECK(umup_checkpoint_check_writable(DIR_ "/fifo", NULL, 0) == UMUP_ERR_IO);
    UT_CHECK(count_tmp() == 0);
    unlink(DIR_ "/fifo");
    umup_trainer_destroy(t);
}

/* ---- saves ---------------------------------------------------------------------------------------- */

/* In a child: save t to path with the file size limited to limit bytes (writes past it fail with
 * EFBIG, or kill the child when kill_it). Returns the child's save status, or -1 when it was killed. */
static int save_limited(umup_trainer *t, const char *path, long limit, int kill_it) {
    pid_t pid;
    int status = 0;
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        struct rlimit rl;
        rl.rlim_cur = rl.rlim_max = (rlim_t)limit;
        if (!kill_it) signal(SIGXFSZ, SIG_IGN);
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(100);
        _exit((int)umup_trainer_save(t, path));
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid) return -2;
    if (WIFSIGNALED(status)) return -1;
    return WEXITSTATUS(status);
}

static void test_atomic_save(void) {
    umup_trainer *t = make(UMUP_OPT_ADAMW, 64), *u = make(UMUP_OPT_ADAMW, 64);
    unsigned char *before, *after;
    long nb = 0, na = 0;
    float l[20];
    int r;
    if (!t || !u) return;
    UT_CHECK(umup_trainer_save(t, CK) == UMUP_OK);
    before = slurp(CK, &nb);
    run(t, 0, 2, l);
    /* a full disk, as the file size limit: the save fails, the old checkpoint is intact */
    r = save_limited(t, CK, 10240, 0);
    UT_CHECKF(r == UMUP_ERR_IO, "limited save returned %d", r);
    after = slurp(CK, &na);
    UT_CHECK(before && after && na == nb && memcmp(before, after, (size_t)nb) == 0);
    UT_CHECK(count_tmp() == 0);
    free(after);
    /* killed in the middle of the write: the old checkpoint is intact, the temporary stays behind ... */
    r = save_limited(t, CK, 50000, 1);
    UT_CHECKF(r == -1, "killed save returned %d", r);
    after = slurp(CK, &na);
    UT_CHECK(after && na == nb && memcmp(before, after, (size_t)nb) == 0);
    free(after);
    UT_CHECK(count_tmp() == 1);
    /* ... until the next save (or writability check) to that path removes it */
    UT_CHECK(umup_checkpoint_check_writable(CK, NULL, 0) == UMUP_OK);
    UT_CHECK(count_tmp() == 0);
    r = save_limited(t, CK, 50000, 1);
    UT_CHECK(r == -1 && count_tmp() == 1);
    UT_CHECK(umup_trainer_save(t, CK) == UMUP_OK);
    UT_CHECK(count_tmp() == 0);
    UT_CHECK(umup_trainer_load(u, CK) == UMUP_OK && same_params(t, u) && umup_trainer_optimizer(u)->step == 2);
    /* NaN parameters are refused before anything is written */
    after = slurp(CK, &na);
    params(t)[7] = NAN;
    UT_CHECK(umup_trainer_save(t, CK) == UMUP_ERR_NONFINITE);
    UT_CHECKF(strstr(umup_trainer_error(t), "embedding.weight holds a NaN at [0, 7]") != NULL, "%.300s", umup_trainer_error(t));
    params(t)[7] = params(u)[7];
    free(before);
    before = slurp(CK, &nb);
    UT_CHECK(before && after && na == nb && memcmp(before, after, (size_t)nb) == 0);
    free(before);
    free(after);
    /* permission bits are kept */
    {
        struct stat sb;
        UT_CHECK(chmod(CK, 0640) == 0);
        UT_CHECK(umup_trainer_save(t, CK) == UMUP_OK);
        UT_CHECK(stat(CK, &sb) == 0 && (sb.st_mode & 0777) == 0640);
    }
    /* a missing directory: refused before training by the check, and by the save */
    {
        char err[512];
        UT_CHECK(umup_checkpoint_check_writable(DIR_ "/no-dir/x.safetensors", err, sizeof err) == UMUP_ERR_IO);
        UT_CHECKF(strstr(err, "no-dir") != NULL, "%s", err);
        UT_CHECK(umup_trainer_save(t, DIR_ "/no-dir/x.safetensors") == UMUP_ERR_IO);
        UT_CHECK(umup_checkpoint_check_writable(CK, err, sizeof err) == UMUP_OK);
        UT_CHECK(umup_checkpoint_check_writable(DIR_ "/new.safetensors", err, sizeof err) == UMUP_OK);
        UT_CHECK(!file_exists(DIR_ "/new.safetensors") && count_tmp() == 0);
    }
    umup_trainer_destroy(t);
    umup_trainer_destroy(u);
}

/* A path of about 1100 characters (the old temporary name was cut at 1023): the save is atomic. */
static void test_long_path(void) {
    umup_trainer *t = make(UMUP_OPT_ADAMW, 32);
    char path[1600], dir[1400];
    unsigned char *before, *after;
    long nb = 0, na = 0;
    float l[20];
    int i, k;
    if (!t) return;
    snprintf(dir, sizeof dir, "%s", DIR_);
    for (k = 0; k < 4; k++) {
        size_t at = strlen(dir);
        dir[at] = '/';
        for (i = 0; i < 250; i++) dir[at + 1 + i] = (char)('a' + k);
        dir[at + 251] = 0;
        mkdir(dir, 0755);
    }
    snprintf(path, sizeof path, "%s/%s", dir, "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.safetensors");
    UT_CHECK(strlen(path) > 1050);
    UT_CHECK(umup_trainer_save(t, path) == UMUP_OK);
    before = slurp(path, &nb);
    run(t, 0, 1, l);
    UT_CHECK(save_limited(t, path, 10240, 0) == UMUP_ERR_IO);
    after = slurp(path, &na);
    UT_CHECK(before && after && na == nb && memcmp(before, after, (size_t)nb) == 0);
    UT_CHECK(umup_trainer_save(t, path) == UMUP_OK);
    remove(path);
    free(before);
    free(after);
    umup_trainer_destroy(t);
}

/* A symbolic link is followed: its final target is replaced, the link stays a link. */
static void test_symlink(void) {
    umup_trainer *t = make(UMUP_OPT_ADAMW, 32), *u = make(UMUP_OPT_ADAMW, 32);
    struct stat sb;
    float l[20];
    if (!t || !u) return;
    mkdir(DIR_ "/sub", 0755);
    unlink(DIR_ "/link1");
    unlink(DIR_ "/sub/link2");
    unlink(DIR_ "/sub/real.safetensors");
    /* link1 -> sub/link2 (relative) -> real.safetensors (relative to sub/), which does not exist yet */
    UT_CHECK(symlink("sub/link2", DIR_ "/link1") == 0);
    UT_CHECK(symlink("real.safetensors", DIR_ "/sub/link2") == 0);
    UT_CHECK(umup_trainer_save(t, DIR_ "/link1") == UMUP_OK);
    UT_CHECK(lstat(DIR_ "/link1", &sb) == 0 && S_ISLNK(sb.st_mode));
    UT_CHECK(lstat(DIR_ "/sub/link2", &sb) == 0 && S_ISLNK(sb.st_mode));
    UT_CHECK(lstat(DIR_ "/sub/real.safetensors", &sb) == 0 && S_ISREG(sb.st_mode));
    run(t, 0, 1, l);
    UT_CHECK(umup_trainer_save(t, DIR_ "/link1") == UMUP_OK);
    UT_CHECK(lstat(DIR_ "/link1", &sb) == 0 && S_ISLNK(sb.st_mode));
    UT_CHECK(umup_trainer_load(u, DIR_ "/sub/real.safetensors") == UMUP_OK && umup_trainer_optimizer(u)->step == 1);
    UT_CHECK(umup_trainer_load(u, DIR_ "/link1") == UMUP_OK && same_params(t, u));
    /* a loop of links is refused */
    unlink(DIR_ "/loop");
    UT_CHECK(symlink("loop", DIR_ "/loop") == 0);
    UT_CHECK(umup_trainer_save(t, DIR_ "/loop") == UMUP_ERR_IO);
    UT_CHECK(umup_checkpoint_check_writable(DIR_ "/loop", NULL, 0) == UMUP_ERR_IO);
    UT_CHECK(count_tmp() == 0);
    unlink(DIR_ "/loop");
    umup_trainer_destroy(t);
    umup_trainer_destroy(u);
}

static void test_null_args(void) {
    umup_trainer *t = make(UMUP_OPT_ADAMW, 32), *o = NULL;
    umup_checkpoint_meta m;
    if (!t) return;
    UT_CHECK(umup_trainer_save(NULL, CK) == UMUP_ERR_NULL && umup_trainer_save(t, NULL) == UMUP_ERR_NULL);
    UT_CHECK(umup_trainer_save_weights(NULL, CK) == UMUP_ERR_NULL);
    UT_CHECK(umup_trainer_load(NULL, CK) == UMUP_ERR_NULL && umup_trainer_load(t, NULL) == UMUP_ERR_NULL);
    UT_CHECK(umup_trainer_load_weights(t, NULL) == UMUP_ERR_NULL);
    UT_CHECK(umup_checkpoint_info(CK, NULL, NULL, 0) == UMUP_ERR_NULL);
    UT_CHECK(umup_trainer_from_checkpoint(NULL, CK, 1, NULL, 0) == UMUP_ERR_NULL);
    UT_CHECK(umup_trainer_from_checkpoint(&o, NULL, 1, NULL, 0) == UMUP_ERR_NULL);
    UT_CHECK(umup_checkpoint_check_writable(NULL, NULL, 0) == UMUP_ERR_NULL);
    UT_CHECK(umup_checkpoint_check_writable("", NULL, 0) == UMUP_ERR_IO);
    UT_CHECK(umup_trainer_set_run_info(NULL, "a", "b") == UMUP_ERR_NULL);
    UT_CHECK(umup_trainer_save(t, "") == UMUP_ERR_IO);
    (void)m;
    umup_trainer_destroy(t);
}

int main(void) {
    mkdir("build", 0755);
    mkdir(DIR_, 0755);
    if (umup_dataset_from_corpus(&DS, 100000, 77, 0.1) != UMUP_OK) { UT_CHECK(0); return ut_finish("test_ckpt"); }
    UT_RUN(test_resume_bit_identical);
    UT_RUN(test_resume_longer);
    UT_RUN(test_format);
    UT_RUN(test_info);
    UT_RUN(test_weights);
    UT_RUN(test_custom_param);
    UT_RUN(test_version1);
    UT_RUN(test_version1_file);
    UT_RUN(test_version2);
    UT_RUN(test_corruption);
    UT_RUN(test_values);
    UT_RUN(test_mismatch_list);
    UT_RUN(test_not_regular);
    UT_RUN(test_atomic_save);
    UT_RUN(test_long_path);
    UT_RUN(test_symlink);
    UT_RUN(test_null_args);
    umup_dataset_free(&DS);
    return ut_finish("test_ckpt");
}
