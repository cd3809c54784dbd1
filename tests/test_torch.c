/* tests/test_torch.c - PyTorch interop through python/umup_torch.py (numpy + torch):
 *  - umup -> PyTorch: a trained checkpoint loads with a strict load_state_dict into the u-muP
 *    decoder written out in torch, whose logits and loss on a batch equal umup's to 1e-5 and whose
 *    unit-scaled gradients equal umup's to 1e-4 (relative L2), for the reference configuration and
 *    for one with RoPE, LayerNorm, every alpha changed and depth 2 x layers; the same for a
 *    weights-only file;
 *  - PyTorch -> umup: a model initialised in torch and written by the script starts a umup run
 *    (umup_trainer_from_checkpoint): umup's logits equal torch's to 1e-5 and training lowers the loss;
 *  - the torch port against the reference library's own decoder values (tests/data/umup_ref.bin).
 * The Python interpreter is $UMUP_PYTHON or /usr/bin/python3; without numpy and torch the checks
 * are skipped with a SKIP line (Debian: apt-get install python3-numpy python3-torch). */
#define _POSIX_C_SOURCE 200809L
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "umup_test.h"

#define DIR_ "build/test_torch.d"

static const char *python(void) {
    const char *p = getenv("UMUP_PYTHON");
    return p && *p ? p : "/usr/bin/python3";
}

/* Runs the script with args; its output goes to DIR_/out.txt. Returns the exit status. */
static int script(const char *args) {
    char cmd[1024];
    int rc;
    snprintf(cmd, sizeof cmd, "%s python/umup_torch.py %s > %s/out.txt 2>&1", python(), args, DIR_);
    rc = system(cmd);
    return rc == -1 ? -1 : (rc >> 8) & 0xff;
}
/* The number after key= in the script's last output, or NaN. */
static double out_value(const char *key) {
    char line[2048], pat[64];
    double v = NAN;
    FILE *f = fopen(DIR_ "/out.txt", "r");
    snprintf(pat, sizeof pat, "%s=", key);
    if (!f) return v;
    while (fgets(line, sizeof line, f)) {
        char *p = strstr(line, pat);
        if (p) v = strtod(p + strlen(pat), NULL);
    }
    fclose(f);
    return v;
}
static void show_output(void) {
    char line[512];
    FILE *f = fopen(DIR_ "/out.txt", "r");
    if (!f) return;
    while (fgets(line, sizeof line, f)) fprintf(stderr, "  | %s", line);
    fclose(f);
}

/* A UMUPBAT1 file: B, T, V, n_grads; ids; targets; logits; loss; grads. */
static void write_batch(const char *path, const int32_t *ids, const int32_t *tg, int B, int T, int V, const float *logits,
                        float loss, const float *grads, size_t n_grads) {
    FILE *f = fopen(path, "wb");
    int32_t h[4];
    h[0] = B; h[1] = T; h[2] = V; h[3] = (int32_t)n_grads;
    if (!f) { UT_CHECK(0); return; }
    fwrite("UMUPBAT1", 1, 8, f);
    fwrite(h, 4, 4, f); /* little-endian hosts */
    fwrite(ids, 4, (size_t)B * T, f);
    fwrite(tg, 4, (size_t)B * T, f);
    fwrite(logits, 4, (size_t)B * T * V, f);
    fwrite(&loss, 4, 1, f);
    if (n_grads) fwrite(grads, 4, n_grads, f);
    fclose(f);
}
static float *read_batch_logits(const char *path, size_t n, float *loss) {
    FILE *f = fopen(path, "rb");
    int32_t h[4];
    char magic[8];
    float *z;
    if (!f) return NULL;
    z = (float *)malloc(n * sizeof(float));
    if (fread(magic, 1, 8, f) != 8 || fread(h, 4, 4, f) != 4 || fseek(f, 8 * (long)h[0] * h[1], SEEK_CUR) != 0 ||
        (size_t)h[0] * h[1] * h[2] != n || fread(z, 4, n, f) != n || fread(loss, 4, 1, f) != 1) {
        free(z);
        z = NULL;
    }
    fclose(f);
    return z;
}

/* An fp32 evaluation trainer with the settings and weights of the checkpoint at path. */
static umup_trainer *eval_copy(const char *path, int B) {
    umup_checkpoint_meta m;
    umup_trainer *e = NULL;
    if (umup_checkpoint_info(path, &m, NULL, 0) != UMUP_OK) { UT_CHECK(0); return NULL; }
    m.model.fp8 = UMUP_FP8_SIM_NONE;
    UT_CHECK(umup_trainer_create(&e, &m.model, &m.optim, B) == UMUP_OK);
    if (e) UT_CHECKF(umup_trainer_load_weights(e, path) == UMUP_OK, "%.300s", umup_trainer_error(e));
    return e;
}

static void batch(const umup_dataset *ds, long step, int B, int T, int32_t *ids, int32_t *tg) {
    UT_CHECK(umup_dataset_batch(ds, 1, 0, step, B, T, ids, tg) == UMUP_OK);
}

/* Trains a model with FP8 simulation, saves it, and compares umup's fp32 logits, loss and
 * gradients on a validation batch with the torch port's. */
static void umup_to_torch(const umup_dataset *ds, const umup_model_config *mc, const char *name) {
    enum { B = 2, T = 16 };
    umup_optim_config oc = umup_optim_config_default(UMUP_OPT_ADAMW);
    umup_trainer *t = NULL, *e;
    int32_t ids[B * T], tg[B * T];
    char ck[256], wk[256], bt[256], args[900];
    float loss = 0;
    int s, rc;
    oc.lr = 0.5;
    oc.schedule.decay = UMUP_SCHED_COSINE;
    oc.schedule.warmup = 2;
    oc.schedule.total = 12;
    snprintf(ck, sizeof ck, DIR_ "/%s.safetensors", name);
    snprintf(wk, sizeof wk, DIR_ "/%s.weights.safetensors", name);
    snprintf(bt, sizeof bt, DIR_ "/%s.batch", name);
    UT_CHECK(umup_trainer_create(&t, mc, &oc, 4) == UMUP_OK);
    if (!t) return;
    for (s = 0; s < 12; s++) {
        int32_t i4[4 * T], t4[4 * T];
        umup_dataset_batch(ds, 0, 5, s, 4, T, i4, t4);
        UT_CHECK(umup_trainer_step(t, i4, t4, 4, T, &loss) == UMUP_OK);
    }
    UT_CHECK(umup_trainer_save(t, ck) == UMUP_OK);
    UT_CHECK(umup_trainer_save_weights(t, wk) == UMUP_OK);
    e = eval_copy(ck, B);
    if (!e) { umup_trainer_destroy(t); return; }
    batch(ds, 3, B, T, ids, tg);
    {
        umup_model *m = umup_trainer_model(e);
        UT_CHECK(umup_model_forward(m, ids, tg, B, T, 0, &loss) == UMUP_OK);
        umup_model_zero_grad(m);
        UT_CHECK(umup_model_backward(m) == UMUP_OK);
        write_batch(bt, ids, tg, B, T, umup_model_get_config(m)->vocab, umup_model_logits(m), loss, umup_model_grads(m),
                    umup_model_num_params(m));
    }
    snprintf(args, sizeof args, "check %s %s", ck, bt);
    rc = script(args);
    UT_CHECKF(rc == 0, "%s: umup_torch.py check exited %d", name, rc);
    if (rc) show_output();
    UT_CHECKF(out_value("max_abs_logit_diff") <= 1e-5, "%s: logits differ by %g", name, out_value("max_abs_logit_diff"));
    UT_CHECKF(out_value("loss_diff") <= 1e-5, "%s: losses differ by %g", name, out_value("loss_diff"));
    UT_CHECKF(out_value("grad_max_rel_l2") <= 1e-4, "%s: gradients differ by %g", name, out_value("grad_max_rel_l2"));
    UT_CHECKF(out_value("max_abs_logit") > 0.05, "%s: logits too small to mean anything (%g)", name, out_value("max_abs_logit"));
    /* the weights-only file: the same through a strict load_state_dict */
    snprintf(args, sizeof args, "check %s %s", wk, bt);
    UT_CHECKF(script(args) == 0, "%s: check of the weights-only file failed", name);
    umup_trainer_destroy(e);
    umup_trainer_destroy(t);
}

static void test_umup_to_torch(void) {
    umup_dataset ds;
    umup_model_config mc = umup_model_config_default(); /* the reference decoder: width 64, 2 layers, 2 heads */
    if (umup_dataset_from_corpus(&ds, 100000, 3, 0.1) != UMUP_OK) { UT_CHECK(0); return; }
    mc.max_seq = 16;
    mc.fp8 = UMUP_FP8_SIM_UMUP;
    mc.fp8_rounding = UMUP_FP8_SR;
    mc.seed = 11;
    umup_to_torch(&ds, &mc, "reference");
    if (ut_quick()) { umup_dataset_free(&ds); return; } /* the sanitizer run: one configuration */
    mc.width = 48;
    mc.layers = 3;
    mc.heads = 3;
    mc.head_size = 0;
    mc.rope = 1;
    mc.norm = UMUP_NORM_LAYER;
    mc.mlp_expansion = 2;
    mc.alpha_attn = 2.0f;
    mc.alpha_ffn_act = 0.5f;
    mc.alpha_res = 1.5f;
    mc.alpha_res_attn_ratio = 0.5f;
    mc.alpha_loss_softmax = 2.0f;
    mc.param.depth_mode = UMUP_DEPTH_2X_LAYERS;
    umup_to_torch(&ds, &mc, "variant");
    umup_dataset_free(&ds);
}

/* A model initialised in PyTorch starts a umup run. */
static void test_torch_to_umup(void) {
    enum { B = 2, T = 16 };
    umup_dataset ds;
    umup_trainer *t = NULL, *e;
    int32_t ids[B * T], tg[B * T];
    float *zt, loss_t = 0, loss = 0, first = 0, last = 0;
    size_t nz;
    char err[512];
    int s;
    umup_model_config mc = umup_model_config_default();
    umup_checkpoint_meta m;
    if (umup_dataset_from_corpus(&ds, 100000, 3, 0.1) != UMUP_OK) { UT_CHECK(0); return; }
    batch(&ds, 1, B, T, ids, tg);
    {   /* the batch for the script (its logits are ignored) and a checkpoint to take the settings from */
        umup_optim_config oc = umup_optim_config_default(UMUP_OPT_ADAMW);
        float *zero = (float *)calloc((size_t)B * T * 256, sizeof(float));
        mc.max_seq = 16;
        oc.lr = 0.5;
        oc.schedule.total = 30;
        UT_CHECK(umup_trainer_create(&t, &mc, &oc, 4) == UMUP_OK);
        if (!t || !zero) return;
        UT_CHECK(umup_trainer_save(t, DIR_ "/settings.safetensors") == UMUP_OK);
        write_batch(DIR_ "/in.batch", ids, tg, B, T, 256, zero, 0.0f, NULL, 0);
        free(zero);
        umup_trainer_destroy(t);
        t = NULL;
    }
    UT_CHECKF(script("export " DIR_ "/settings.safetensors " DIR_ "/torch.safetensors --seed 5 --batch " DIR_
                     "/in.batch --logits " DIR_ "/torch.batch") == 0, "umup_torch.py export failed");
    UT_CHECK(umup_checkpoint_info(DIR_ "/torch.safetensors", &m, err, sizeof err) == UMUP_OK);
    UT_CHECK(m.version == 3 && !m.has_optimizer_state && m.model.width == 64 && m.optim.schedule.total == 30);
    UT_CHECKF(umup_trainer_from_checkpoint(&t, DIR_ "/torch.safetensors", 4, err, sizeof err) == UMUP_OK, "%s", err);
    e = eval_copy(DIR_ "/torch.safetensors", B);
    nz = (size_t)B * T * 256;
    zt = read_batch_logits(DIR_ "/torch.batch", nz, &loss_t);
    if (t && e && zt) {
        umup_model *mm = umup_trainer_model(e);
        size_t i;
        double worst = 0;
        UT_CHECK(umup_model_forward(mm, ids, tg, B, T, 0, &loss) == UMUP_OK);
        for (i = 0; i < nz; i++) {
            double dd = fabs((double)umup_model_logits(mm)[i] - zt[i]);
            if (dd > worst) worst = dd;
        }
        UT_CHECKF(worst <= 1e-5, "umup's logits of the torch model differ from torch's by %g", worst);
        UT_NEAR(loss, loss_t, 1e-5);
        /* and the umup run trains from it */
        for (s = 0; s < 30; s++) {
            int32_t i4[4 * T], t4[4 * T];
            float l = 0;
            umup_dataset_batch(&ds, 0, 5, s, 4, T, i4, t4);
            UT_CHECK(umup_trainer_step(t, i4, t4, 4, T, &l) == UMUP_OK);
            if (s < 5) first += l / 5;
            if (s >= 25) last += l / 5;
        }
        UT_CHECKF(last < first - 0.5f, "loss %.3f -> %.3f", first, last);
    } else UT_CHECK(0);
    free(zt);
    umup_trainer_destroy(e);
    umup_trainer_destroy(t);
    umup_dataset_free(&ds);
}

/* The torch port reproduces the reference library's decoder (loss and every gradient). */
static void test_reference(void) {
    int rc = script("reference tests/data/umup_ref.bin");
    UT_CHECKF(rc == 0, "umup_torch.py reference exited %d", rc);
    if (rc) show_output();
    UT_CHECKF(out_value("rel") <= 1e-6, "loss rel error %g", out_value("rel"));
}

int main(void) {
    char cmd[512];
    int rc;
    mkdir("build", 0755);
    mkdir(DIR_, 0755);
    snprintf(cmd, sizeof cmd, "%s -c 'import numpy, torch' > /dev/null 2>&1", python());
    rc = system(cmd);
    if (rc != 0) {
        char why[600];
        snprintf(why, sizeof why, "%s cannot import numpy and torch (apt-get install python3-numpy python3-torch)", python());
        UT_SKIP(why);
        return ut_finish("test_torch");
    }
    UT_RUN(test_reference);
    UT_RUN(test_umup_to_torch);
    UT_RUN(test_torch_to_umup);
    return ut_finish("test_torch");
}
