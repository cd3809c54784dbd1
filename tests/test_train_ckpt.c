/* tests/test_train_ckpt.c - checkpoints through the main demo (demos/train):
 *  - --save-every N --keep K writes every N steps and keeps the newest K;
 *  - --resume from a middle checkpoint with the same --steps reproduces the uninterrupted run bit
 *    for bit (the final checkpoints are the same bytes, the done lines the same losses);
 *  - --resume with a larger --steps continues to it (the checkpoint's warmup kept); a smaller one,
 *    other settings, another --batch are refused with every difference named;
 *  - --init-from + --eval-only evaluates a checkpoint; --init-from with another width is refused;
 *  - an unusable --save path fails at once, before training; a FIFO given to --resume or
 *    --init-from is refused without hanging.
 * Needs the demo: make test builds it and sets UMUP_DEMO_DIR; without it (or under
 * UMUP_TEST_QUICK) the checks are skipped with a SKIP line. */
#define _POSIX_C_SOURCE 200809L
#include "umup_test.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define DIR_ "build/test_train_ckpt.d"

static char TRAIN[512];

/* Runs train with the common small configuration plus args; stdout+stderr to DIR_/out.txt. */
static int train(const char *args) {
    char cmd[2048];
    int rc;
    snprintf(cmd, sizeof cmd,
             "OMP_NUM_THREADS=1 timeout 120 %s --width 32 --layers 1 --seq 16 --batch 2 --eval-interval 4 "
             "--eval-batches 2 --sample 0 --quiet %s > " DIR_ "/out.txt 2>&1",
             TRAIN, args);
    rc = system(cmd);
    return rc == -1 ? -1 : (rc >> 8) & 0xff;
}
/* The output of the last run (static buffer). */
static const char *output(void) {
    static char buf[8192];
    FILE *f = fopen(DIR_ "/out.txt", "r");
    size_t n = 0;
    buf[0] = 0;
    if (f) { n = fread(buf, 1, sizeof buf - 1, f); fclose(f); }
    buf[n] = 0;
    return buf;
}
/* "train_loss=... val_loss=..." of the done line of the last run, or "" */
static void done_losses(char *out, size_t cap) {
    const char *d = strstr(output(), "done steps=");
    const char *tps = d ? strstr(d, " tokens_per_s") : NULL;
    snprintf(out, cap, "%.*s", d && tps ? (int)(tps - d) : 0, d ? d : "");
}
static int same_file(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb, ca, cb;
    while (same) {
        ca = fgetc(fa);
        cb = fgetc(fb);
        if (ca != cb) same = 0;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}
static int exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

static void test_save_every_and_resume(void) {
    char a[256], b[256];
    int rc;
    rc = train("--steps 12 --save " DIR_ "/a.safetensors --save-every 4 --keep 2");
    UT_CHECKF(rc == 0, "train exited %d: %.400s", rc, output());
    done_losses(a, sizeof a);
    UT_CHECK(strstr(a, "done steps=12 ") != NULL);
    /* every 4 steps, the newest 2 kept, and the final file */
    UT_CHECK(!exists(DIR_ "/a.step00000004.safetensors"));
    UT_CHECK(exists(DIR_ "/a.step00000008.safetensors") && exists(DIR_ "/a.step00000012.safetensors"));
    UT_CHECK(same_file(DIR_ "/a.step00000012.safetensors", DIR_ "/a.safetensors"));
    /* resumed at step 8 with the same total: bit for bit */
    rc = train("--steps 12 --resume " DIR_ "/a.step00000008.safetensors --save " DIR_ "/b.safetensors");
    UT_CHECKF(rc == 0, "resume exited %d: %.400s", rc, output());
    done_losses(b, sizeof b);
    UT_CHECKF(!strcmp(a, b), "uninterrupted: %.200s; resumed: %.200s", a, b);
    UT_CHECK(same_file(DIR_ "/a.safetensors", DIR_ "/b.safetensors"));
    /* at --steps already: nothing to train, an evaluation, exit 0 */
    rc = train("--steps 12 --resume " DIR_ "/a.safetensors");
    UT_CHECKF(rc == 0 && strstr(output(), "done steps=12 ") && !strstr(output(), "nan"), "rc %d: %.400s", rc, output());
    /* a longer run continues to the new total with the checkpoint's warmup */
    rc = train("--steps 20 --resume " DIR_ "/a.safetensors --save " DIR_ "/c.safetensors");
    UT_CHECKF(rc == 0 && strstr(output(), "done steps=20 "), "rc %d: %.400s", rc, output());
    /* the saved schedule: total 20, warmup still the first run's 1 (12 / 10) */
    UT_CHECK(system("grep -a -q '\"total\":\"20\"' " DIR_ "/c.safetensors && grep -a -q '\"warmup\":\"1\"' " DIR_
                    "/c.safetensors") == 0);
    /* refused: a shorter total, other settings (all named), another batch */
    rc = train("--steps 10 --resume " DIR_ "/a.safetensors");
    UT_CHECKF(rc == 1 && strstr(output(), "past this trainer's schedule total of 10"), "rc %d: %.400s", rc, output());
    rc = train("--steps 12 --lr 0.25 --fp8 none --batch 4 --resume " DIR_ "/a.safetensors");
    UT_CHECKF(rc == 1 && strstr(output(), "lr: the checkpoint has 0.5, this trainer 0.25") &&
              strstr(output(), "fp8: the checkpoint has umup, this trainer none") &&
              strstr(output(), "run.batch: the checkpoint has \"2\", this run \"4\""), "rc %d: %.400s", rc, output());
}

static void test_init_and_eval(void) {
    int rc = train("--init-from " DIR_ "/a.safetensors --eval-only");
    char e1[256], e2[256];
    UT_CHECKF(rc == 0 && strstr(output(), "done steps=0 "), "rc %d: %.400s", rc, output());
    done_losses(e1, sizeof e1);
    /* the weights file of the same run evaluates the same (other FP8 and LR settings do not matter) */
    rc = train("--init-from " DIR_ "/a.safetensors --eval-only --lr 0.1");
    done_losses(e2, sizeof e2);
    UT_CHECKF(rc == 0 && !strcmp(e1, e2), "%.200s vs %.200s", e1, e2);
    /* fine-tuning from it trains from step 0 */
    rc = train("--init-from " DIR_ "/a.safetensors --steps 4");
    UT_CHECKF(rc == 0 && strstr(output(), "done steps=4 "), "rc %d: %.400s", rc, output());
    rc = train("--init-from " DIR_ "/a.safetensors --eval-only --width 64");
    UT_CHECKF(rc == 1 && strstr(output(), "width: the checkpoint has 32, this trainer 64"), "rc %d: %.400s", rc, output());
    rc = train("--init-from " DIR_ "/a.safetensors --resume " DIR_ "/a.safetensors");
    UT_CHECK(rc == 2);
    rc = train("--save-every 4 --steps 4");
    UT_CHECK(rc == 2);
}

static void test_bad_paths(void) {
    int rc;
    /* a long run with an unusable --save path stops at once (the timeout would catch a long run) */
    rc = train("--steps 1000000 --save " DIR_ "/no-such-dir/x.safetensors");
    UT_CHECKF(rc == 1 && strstr(output(), "cannot save to") && strstr(output(), "no-such-dir"), "rc %d: %.400s", rc, output());
    rc = train("--steps 1000000 --save " DIR_);
    UT_CHECKF(rc == 1 && strstr(output(), "not a regular file"), "rc %d: %.400s", rc, output());
    unlink(DIR_ "/fifo");
    UT_CHECK(mkfifo(DIR_ "/fifo", 0600) == 0);
    rc = train("--resume " DIR_ "/fifo");
    UT_CHECKF(rc == 1 && strstr(output(), "not a regular file"), "rc %d: %.400s", rc, output());
    rc = train("--init-from " DIR_ "/fifo");
    UT_CHECKF(rc == 1 && strstr(output(), "not a regular file"), "rc %d: %.400s", rc, output());
    unlink(DIR_ "/fifo");
}

int main(void) {
    const char *d = getenv("UMUP_DEMO_DIR");
    if (!d || ut_quick()) {
        UT_SKIP("the demo runs need UMUP_DEMO_DIR (make test sets it) and no UMUP_TEST_QUICK");
        return ut_finish("test_train_ckpt");
    }
    snprintf(TRAIN, sizeof TRAIN, "%s/train", d);
    mkdir("build", 0755);
    mkdir(DIR_, 0755);
    UT_RUN(test_save_every_and_resume);
    UT_RUN(test_init_and_eval);
    UT_RUN(test_bad_paths);
    return ut_finish("test_train_ckpt");
}
