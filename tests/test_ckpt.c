/* tests/test_ckpt.c - safetensors checkpoints of umup.h's trainer:
 *  - save -> load into a fresh trainer -> continue gives bitwise the same losses and parameters as
 *    the uninterrupted run (AdamW with FP8 SR, and SGD with momentum);
 *  - the file is valid safetensors (header length, JSON, F32 tensors under the reference names);
 *  - truncated files (at many lengths), flipped header bytes, a mismatched configuration and a
 *    missing file are refused with the right status and leave the trainer unchanged;
 *  - an unwritable path fails cleanly and leaves no temporary file. */
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "umup_test.h"

#define CK "build/test_ckpt.safetensors"

static umup_dataset DS;

static umup_trainer *make(umup_optimizer_kind kind, int width) {
    umup_model_config mc = umup_model_config_default();
    umup_optim_config oc = umup_optim_config_default(kind);
    umup_trainer *t = NULL;
    mc.width = width;
    mc.max_seq = 32;
    mc.fp8 = UMUP_FP8_SIM_UMUP;
    mc.fp8_rounding = UMUP_FP8_SR;
    mc.seed = 3;
    oc.lr = kind == UMUP_OPT_SGD ? 0.05 : 0.3;
    oc.momentum = kind == UMUP_OPT_SGD ? 0.9 : 0.0;
    oc.weight_decay = 1e-3;
    oc.schedule.decay = UMUP_SCHED_COSINE;
    oc.schedule.warmup = 3;
    oc.schedule.total = 20;
    UT_CHECK(umup_trainer_create(&t, &mc, &oc, 4) == UMUP_OK);
    return t;
}

static void run(umup_trainer *t, int from, int to, float *losses) {
    int32_t ids[4 * 32], tg[4 * 32];
    int s;
    for (s = from; s < to; s++) {
        umup_dataset_batch(&DS, 0, 9, s, 4, 32, ids, tg);
        UT_CHECK(umup_trainer_step(t, ids, tg, 4, 32, &losses[s]) == UMUP_OK);
    }
}

static void resume_case(umup_optimizer_kind kind) {
    umup_trainer *a = make(kind, 64), *b = make(kind, 64), *c = make(kind, 64);
    float la[20], lb[20];
    umup_model *ma, *mb;
    if (!a || !b || !c) return;
    run(a, 0, 20, la);
    run(b, 0, 8, lb);
    UT_CHECK(umup_trainer_save(b, CK) == UMUP_OK);
    UT_CHECKF(umup_trainer_load(c, CK) == UMUP_OK, "load: %s", umup_trainer_error(c));
    UT_CHECK(umup_trainer_optimizer(c)->step == 8);
    run(c, 8, 20, lb);
    ma = umup_trainer_model(a);
    mb = umup_trainer_model(c);
    UT_CHECKF(memcmp(la, lb, sizeof la) == 0, "%s: losses differ after resuming", umup_optim_name(kind));
    UT_CHECK(memcmp(umup_model_params(ma), umup_model_params(mb), umup_model_num_params(ma) * sizeof(float)) == 0);
    umup_trainer_destroy(a);
    umup_trainer_destroy(b);
    umup_trainer_destroy(c);
}

static void test_resume_bit_identical(void) {
    resume_case(UMUP_OPT_ADAMW);
    resume_case(UMUP_OPT_SGD);
}

static unsigned char *slurp(const char *path, long *n) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END); *n = ftell(f); fseek(f, 0, SEEK_SET);
    buf = (unsigned char *)malloc((size_t)*n);
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

static void test_format_and_corruption(void) {
    umup_trainer *t = make(UMUP_OPT_ADAMW, 64), *u = make(UMUP_OPT_ADAMW, 64), *w = make(UMUP_OPT_ADAMW, 128);
    unsigned char *file, *bad;
    long n = 0, cut, i;
    uint64_t hlen = 0;
    int refused = 0, tries = 0, flips_ok = 1;
    float *before;
    size_t np;
    if (!t || !u || !w) return;
    UT_CHECK(umup_trainer_save(t, CK) == UMUP_OK);
    file = slurp(CK, &n);
    if (!file) { UT_CHECK(0); return; }
    for (i = 0; i < 8; i++) hlen |= (uint64_t)file[i] << (8 * i);
    UT_CHECK(hlen > 0 && (hlen + 8) % 8 == 0 && file[8] == '{');
    UT_CHECK(memchr(file + 8, 0, (size_t)hlen) == NULL);
    {
        char *hdr = (char *)malloc((size_t)hlen + 1);
        memcpy(hdr, file + 8, (size_t)hlen);
        hdr[hlen] = 0;
        UT_CHECK(strstr(hdr, "\"layers.1.mlp.linear_gate.weight\":{\"dtype\":\"F32\",\"shape\":[256,64]") != NULL);
        UT_CHECK(strstr(hdr, "\"optim.v.projection.weight\"") != NULL && strstr(hdr, "\"format\":\"umup-checkpoint-1\"") != NULL);
        free(hdr);
    }
    np = umup_model_num_params(umup_trainer_model(u));
    before = (float *)malloc(np * sizeof(float));
    memcpy(before, umup_model_params(umup_trainer_model(u)), np * sizeof(float));
    /* truncations: every length in the header and a stride through the data */
    bad = (unsigned char *)malloc((size_t)n);
    for (cut = 0; cut < n; cut += cut < (long)hlen + 16 ? 1 : 4099) {
        umup_status st;
        spit(CK ".bad", file, cut);
        st = umup_trainer_load(u, CK ".bad");
        tries++;
        refused += st == UMUP_ERR_FORMAT;
    }
    UT_CHECKF(refused == tries, "%d of %d truncated files refused with UMUP_ERR_FORMAT", refused, tries);
    /* flipped bytes in the header: refused (format or mismatch), never a crash */
    for (i = 8; i < 8 + (long)hlen; i += 7) {
        umup_status st;
        memcpy(bad, file, (size_t)n);
        bad[i] ^= 0x5A;
        spit(CK ".bad", bad, n);
        st = umup_trainer_load(u, CK ".bad");
        if (st == UMUP_OK && bad[i] != ' ' && file[i] != ' ') flips_ok = 0;
    }
    UT_CHECK(flips_ok);
    UT_CHECK(memcmp(before, umup_model_params(umup_trainer_model(u)), np * sizeof(float)) == 0); /* nothing lost */
    UT_CHECK(umup_trainer_optimizer(u)->step == 0);
    /* mismatched width, missing file, unwritable path */
    UT_CHECK(umup_trainer_load(w, CK) == UMUP_ERR_MISMATCH);
    UT_CHECKF(strstr(umup_trainer_error(w), "width") != NULL, "mismatch message: %s", umup_trainer_error(w));
    UT_CHECK(umup_trainer_load(u, "build/no-such-checkpoint.safetensors") == UMUP_ERR_IO);
    UT_CHECK(umup_trainer_save(t, "build/no-such-dir/x.safetensors") == UMUP_ERR_IO);
    {
        FILE *f = fopen("build/no-such-dir/x.safetensors.tmp", "rb");
        UT_CHECK(f == NULL);
        if (f) fclose(f);
    }
    UT_CHECK(umup_trainer_load(u, CK) == UMUP_OK);
    remove(CK ".bad");
    remove(CK);
    free(file); free(bad); free(before);
    umup_trainer_destroy(t);
    umup_trainer_destroy(u);
    umup_trainer_destroy(w);
}

int main(void) {
    if (umup_dataset_from_corpus(&DS, 100000, 77, 0.1) != UMUP_OK) { UT_CHECK(0); return ut_finish("test_ckpt"); }
    UT_RUN(test_resume_bit_identical);
    UT_RUN(test_format_and_corruption);
    umup_dataset_free(&DS);
    return ut_finish("test_ckpt");
}
