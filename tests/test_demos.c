/* tests/test_demos.c - the result demos: best-LR extraction on a synthetic table, and the --quick
 * modes of coord_check, lr_sweep and fp8_parity run end to end with their CSVs checked for shape
 * and sanity; param_table's formula evaluator, and its tables (every formula agrees with the library
 * at every width, hand-computed values, no '|' between values). The demo runs need the demo programs: make test builds them and sets
 * UMUP_DEMO_DIR; without it (or under UMUP_TEST_QUICK, as in the sanitizer run, whose demos are not
 * instrumented) they are skipped and say so. */
#define _POSIX_C_SOURCE 200809L
#include "umup_test.h"
#include "demos/lr_sweep_lib.h"
#include "demos/param_formula.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static sweep_row row(const char *p, int w, double lr, long seed, double vl, int div) {
    sweep_row r;
    memset(&r, 0, sizeof r);
    snprintf(r.param, sizeof r.param, "%s", p);
    r.width = w; r.lr = lr; r.seed = seed; r.train_loss = vl; r.val_loss = vl; r.diverged = div;
    r.status = div ? SWEEP_DIVERGED : SWEEP_OK;
    return r;
}

static void test_best_lr(void) {
    sweep_row t[16];
    int n = 0, inc = -1;
    double lr = 0, loss = 0;
    /* umup width 64: 0.25 -> 2.0, 0.5 -> mean(1.8, 1.6) = 1.7, 1 -> 1.5 but one seed diverged */
    t[n++] = row("umup", 64, 0.25, 1, 2.0, 0);
    t[n++] = row("umup", 64, 0.5, 1, 1.8, 0);
    t[n++] = row("umup", 64, 1.0, 1, 1.5, 0);
    t[n++] = row("umup", 64, 0.5, 2, 1.6, 0);
    t[n++] = row("umup", 64, 1.0, 2, NAN, 1);
    /* umup width 128: a tie between 0.25 and 0.5 goes to the smaller LR */
    t[n++] = row("umup", 128, 0.5, 1, 1.4, 0);
    t[n++] = row("umup", 128, 0.25, 1, 1.4, 0);
    /* sp width 64: everything diverged */
    t[n++] = row("sp", 64, 0.01, 1, 9.0, 1);
    /* sp width 128: one LR; another parametrization's better loss at the same width is ignored */
    t[n++] = row("sp", 128, 0.001, 1, 1.9, 0);
    t[n++] = row("mup", 128, 0.002, 1, 1.0, 0);
    UT_CHECK(sweep_best_lr(t, n, "umup", 64, &lr, &loss, &inc) == 1 && inc == 0);
    UT_CHECKF(lr == 0.5 && fabs(loss - 1.7) < 1e-12, "lr %g loss %g", lr, loss);
    UT_CHECK(sweep_best_lr(t, n, "umup", 128, &lr, &loss, NULL) == 1 && lr == 0.25 && loss == 1.4);
    UT_CHECK(sweep_best_lr(t, n, "sp", 64, &lr, &loss, NULL) == 0);
    UT_CHECK(sweep_best_lr(t, n, "sp", 128, &lr, &loss, NULL) == 1 && lr == 0.001);
    UT_CHECK(sweep_best_lr(t, n, "umup", 256, &lr, &loss, NULL) == 0);
    /* issue 13, defect 7: a failed run is not a result; its LR (mean incomplete) is never best */
    t[1].status = SWEEP_CRASHED; t[1].val_loss = NAN;
    UT_CHECK(sweep_best_lr(t, n, "umup", 64, &lr, &loss, &inc) == 1 && lr == 0.25 && loss == 2.0 && inc == 1);
    t[0].status = SWEEP_MISSING; t[0].val_loss = NAN;
    UT_CHECK(sweep_best_lr(t, n, "umup", 64, &lr, &loss, &inc) == 0 && inc == 2);
    UT_CHECK(sweep_is_diverged(NAN, 1.0, 256) && sweep_is_diverged(1.0, INFINITY, 256));
    UT_CHECK(sweep_is_diverged(5.0, 5.6, 256) && !sweep_is_diverged(5.0, 5.5, 256));
}

/* issue 13, defect 5: only a complete done line is a result ("val_loss=" cut off parsed as 0 and won) */
static void test_parse_done(void) {
    double a = 0, b = 0;
    long st = 0;
    UT_CHECK(sweep_parse_done("done steps=40 train_loss=2.5000 val_loss=2.2500 tokens_per_s=100\n", &st, &a, &b) == 1);
    UT_CHECK(st == 40 && a == 2.5 && b == 2.25);
    UT_CHECK(sweep_parse_done("done steps=3 train_loss=nan val_loss=-nan tokens_per_s=1\n", &st, &a, &b) == 1 && a != a && b != b && st == 3);
    UT_CHECK(sweep_parse_done("done steps=40 train_loss=1.7 val_loss=\n", &st, &a, &b) == 0);
    UT_CHECK(sweep_parse_done("done steps=40 train_loss=1.7 val_loss=", &st, &a, &b) == 0);
    UT_CHECK(sweep_parse_done("done steps=40 train_loss=1.7 val_loss=1.6 tokens_per_s=5", &st, &a, &b) == 0); /* no newline */
    UT_CHECK(sweep_parse_done("done steps=40 train_loss=1.7 val_loss=1.6 tokens_per_s=\n", &st, &a, &b) == 0);
    UT_CHECK(sweep_parse_done("done steps=40 train_loss=1.7 val_loss=1.6x tokens_per_s=5\n", &st, &a, &b) == 0);
    UT_CHECK(sweep_parse_done("done steps=40 train_loss=1.7 val_loss=1.6 tokens_per_s=5 more\n", &st, &a, &b) == 0);
    UT_CHECK(sweep_parse_done("done steps= train_loss=1.7 val_loss=1.6 tokens_per_s=5\n", &st, &a, &b) == 0);
    UT_CHECK(sweep_parse_done("done train_loss=1.7 val_loss=1.6 tokens_per_s=5\n", &st, &a, &b) == 0);
    UT_CHECK(sweep_parse_done("step 40 train 2.5\n", &st, &a, &b) == 0);
    UT_CHECK(sweep_parse_done("done steps=40 train_loss=1.5 val_loss=1.25 tokens_per_s=9\r\n", NULL, &a, &b) == 1 && b == 1.25);
}

/* Writes text to path and reads it back as a log. */
static int log_of(const char *path, const char *text, sweep_log *lg) {
    FILE *f = fopen(path, "w");
    if (!f) return 0;
    fputs(text, f);
    fclose(f);
    return sweep_read_log(path, lg);
}

/* issue 13, defects 7 and 8: every run is a result or a recorded failure, with the right status */
static void test_classify(void) {
    const char *cfg = "steps=40 seq=32 width=64 lr=0.5";
    char path[128], why[256], text[512];
    sweep_log lg;
    int i;
    static const struct { const char *body; sweep_status want; } cases[] = {
        {"done steps=40 train_loss=2.5 val_loss=2.25 tokens_per_s=9\nexit_status=0\n", SWEEP_OK},
        {"done steps=40 train_loss=2.5 val_loss=2.25 tokens_per_s=9\n", SWEEP_OK},                 /* from elsewhere */
        {"done steps=12 train_loss=nan val_loss=nan tokens_per_s=9\nexit_status=3\n", SWEEP_DIVERGED}, /* stopped early */
        {"done steps=40 train_loss=6.5 val_loss=6.0 tokens_per_s=9\nexit_status=0\n", SWEEP_DIVERGED}, /* > ln 256 */
        {"train: training step failed\nexit_status=1\n", SWEEP_CRASHED},
        {"exit_status=139\n", SWEEP_CRASHED},                                                           /* SIGSEGV */
        {"exit_status=134\n", SWEEP_CRASHED},                                                           /* SIGABRT */
        {"done steps=40 train_loss=2.5 val_loss=2.25 tokens_per_s=9\nexit_status=139\n", SWEEP_CRASHED},
        {"done steps=40 train_loss=2.5 val_loss=2.25 tokens_per_s=9\nexit_status=3\n", SWEEP_CRASHED},
        {"exit_status=137\n", SWEEP_KILLED},                                                            /* SIGKILL */
        {"exit_status=143\n", SWEEP_KILLED},                                                            /* SIGTERM */
        {"done steps=40 train_loss=1.7 val_loss=", SWEEP_BAD_LOG},                                       /* cut off */
        {"done steps=40 train_loss=1.7 val_loss=\nexit_status=0\n", SWEEP_BAD_LOG},
        {"exit_status=0\n", SWEEP_BAD_LOG},
        {"", SWEEP_BAD_LOG},
        {"done steps=20 train_loss=2.5 val_loss=2.25 tokens_per_s=9\nexit_status=0\n", SWEEP_BAD_LOG}, /* --steps 20 */
    };
    snprintf(path, sizeof path, "build/test_demos_log_%ld.txt", (long)getpid());
    for (i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        sweep_status st;
        snprintf(text, sizeof text, "config %s\n%s", cfg, cases[i].body);
        UT_CHECK(log_of(path, text, &lg) == 1);
        st = sweep_classify(&lg, 40, 256, cfg, why, sizeof why);
        UT_CHECKF(st == cases[i].want, "case %d: %s (%s), want %s", i, sweep_status_name(st), why, sweep_status_name(cases[i].want));
        UT_CHECKF(sweep_is_result(st) == (why[0] == 0), "case %d: reason '%s'", i, why);
    }
    /* the configuration: another --steps is a mismatch, and says which setting differs */
    UT_CHECK(log_of(path, "config steps=300 seq=32 width=64 lr=0.5\ndone steps=300 train_loss=2.5 val_loss=2.25 tokens_per_s=9\n", &lg));
    UT_CHECK(sweep_classify(&lg, 40, 256, cfg, why, sizeof why) == SWEEP_MISMATCH);
    UT_CHECKF(!strcmp(why, "steps: the log has 300, this sweep 40"), "%s", why);
    UT_CHECK(log_of(path, "config steps=40 width=64 lr=0.5\ndone steps=40 train_loss=2.5 val_loss=2.25 tokens_per_s=9\n", &lg));
    UT_CHECK(sweep_classify(&lg, 40, 256, cfg, why, sizeof why) == SWEEP_MISMATCH && strstr(why, "seq: missing"));
    UT_CHECK(log_of(path, "config steps=40 seq=32 width=64 lr=0.5 extra=1\n", &lg));
    UT_CHECK(sweep_classify(&lg, 40, 256, cfg, why, sizeof why) == SWEEP_MISMATCH);
    /* no configuration line: the log cannot be checked */
    UT_CHECK(log_of(path, "done steps=40 train_loss=2.5 val_loss=2.25 tokens_per_s=9\nexit_status=0\n", &lg));
    UT_CHECK(sweep_classify(&lg, 40, 256, cfg, why, sizeof why) == SWEEP_BAD_LOG);
    /* the last done line counts; a very long line is skipped whole */
    {
        char *big = (char *)malloc(10000);
        if (big) {
            memset(big, 'x', 9000);
            strcpy(big + 9000, "\nconfig steps=40 seq=32 width=64 lr=0.5\ndone steps=40 train_loss=2 val_loss=2 tokens_per_s=1\n");
            UT_CHECK(log_of(path, big, &lg) && lg.has_done && lg.val_loss == 2 && lg.has_config);
            free(big);
        }
    }
    UT_CHECK(sweep_classify(NULL, 40, 256, cfg, why, sizeof why) == SWEEP_MISSING);
    UT_CHECK(sweep_read_log("build/does/not/exist.log", &lg) == 0);
    remove(path);
}

/* ---- running the demos ---------------------------------------------------------------------- */

static const char *demo_dir(void) {
    const char *d = getenv("UMUP_DEMO_DIR");
    if (!d || ut_quick()) return NULL;
    return d;
}

static int run(const char *cmd) {
    int rc = system(cmd);
    return rc;
}

/* Reads a CSV: checks the header, counts rows; calls f on each row's fields (up to 16). */
typedef void (*row_fn)(char **f, int nf, void *ctx);
static long read_csv(const char *path, const char *header, row_fn fn, void *ctx, int *bad_header) {
    char line[1024];
    long rows = 0;
    FILE *f = fopen(path, "r");
    *bad_header = 1;
    if (!f) return -1;
    if (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        *bad_header = strcmp(line, header) != 0;
    }
    while (fgets(line, sizeof line, f)) {
        char *fld[16], *p = line;
        int nf = 0;
        line[strcspn(line, "\n")] = 0;
        while (nf < 16) {
            fld[nf++] = p;
            p = strchr(p, ',');
            if (!p) break;
            *p++ = 0;
        }
        fn(fld, nf, ctx);
        rows++;
    }
    fclose(f);
    return rows;
}

typedef struct { long bad_fields, nonfinite, nonpositive; } cc_ctx;
static void cc_row(char **f, int nf, void *v) {
    cc_ctx *c = (cc_ctx *)v;
    double a, r;
    if (nf != 7) { c->bad_fields++; return; }
    a = strtod(f[5], NULL);
    r = strtod(f[6], NULL);
    if (!(a == a && r == r && fabs(a) < 1e30 && fabs(r) < 1e30)) c->nonfinite++;
    else if (!(a > 0 && r >= a)) c->nonpositive++; /* mean |x| > 0 and RMS >= mean |x| */
}

typedef struct { long bad_fields, bad_ratio; } cs_ctx;
static void cs_row(char **f, int nf, void *v) {
    cs_ctx *c = (cs_ctx *)v;
    double mx, mn;
    if (nf != 10) { c->bad_fields++; return; }
    mx = strtod(f[3], NULL);
    mn = strtod(f[5], NULL);
    if (!(mn > 0 && mn <= mx && mx < 1e30)) c->bad_ratio++; /* smallest ratio <= largest */
}

static void test_coord_check_quick(void) {
    const char *d = demo_dir();
    char cmd[480], path[1024];
    cc_ctx c = {0, 0, 0};
    cs_ctx cs = {0, 0};
    int bad;
    long rows;
    if (!d) { UT_SKIP("coord_check --quick: runs in make test (needs UMUP_DEMO_DIR, and not the quick sanitizer run)"); return; }
    snprintf(cmd, sizeof cmd, "%s/coord_check --quick --out %s/demo_out > %s/demo_out_coord.txt 2>&1", d, d, d);
    UT_CHECKF(run(cmd) == 0, "%s", cmd);
    snprintf(path, sizeof path, "%s/demo_out/coord_check.csv", d);
    rows = read_csv(path, "param,width,step,module,layer,mean_abs,rms", cc_row, &c, &bad);
    /* 6 parametrizations x 3 widths x 3 steps x (3 + 9 x 2 layers) module outputs */
    UT_CHECKF(rows == 6 * 3 * 3 * 21 && !bad, "%ld rows, header ok %d", rows, !bad);
    UT_CHECKF(c.bad_fields == 0 && c.nonfinite == 0 && c.nonpositive == 0, "%ld %ld %ld", c.bad_fields, c.nonfinite, c.nonpositive);
    /* the summary: largest and smallest ratio per parametrization and step */
    snprintf(path, sizeof path, "%s/demo_out/coord_check_summary.csv", d);
    rows = read_csv(path, "label,param,step,max_ratio_4x,max_module,min_ratio_4x,min_module,max_ratio_top,logits_min,logits_max", cs_row, &cs, &bad);
    UT_CHECKF(rows == 6 * 3 && !bad && cs.bad_fields == 0 && cs.bad_ratio == 0, "summary: %ld rows, %ld bad", rows, cs.bad_ratio);
    /* the settings the check ran with are stated: fp32, no clipping (its defaults) */
    snprintf(cmd, sizeof cmd, "head -1 %s/demo_out_coord.txt | grep -q 'fp8=none clip=0 schedule=constant'", d);
    UT_CHECK(run(cmd) == 0);
    snprintf(cmd, sizeof cmd, "grep -c 'min_ratio_4x=.* min_module=' %s/demo_out_coord.txt | grep -qx 18", d);
    UT_CHECK(run(cmd) == 0);
    /* an ablation appended under its own label: u-muP with the attention output scale 1 and linear_2 frozen */
    snprintf(cmd, sizeof cmd, "%s/coord_check --quick --params umup --sdpa-scale 1 --freeze mlp.linear_2 --label ablation "
             "--append --out %s/demo_out > /dev/null 2>&1", d, d);
    UT_CHECK(run(cmd) == 0);
    memset(&cs, 0, sizeof cs);
    rows = read_csv(path, "label,param,step,max_ratio_4x,max_module,min_ratio_4x,min_module,max_ratio_top,logits_min,logits_max", cs_row, &cs, &bad);
    UT_CHECKF(rows == 6 * 3 + 3 && !bad && cs.bad_ratio == 0, "appended summary: %ld rows", rows);
    snprintf(cmd, sizeof cmd, "grep -c '^ablation,umup,' %s/demo_out/coord_check_summary.csv | grep -qx 3", d);
    UT_CHECK(run(cmd) == 0);
    snprintf(cmd, sizeof cmd, "%s/coord_check --bogus > /dev/null 2>&1", d);
    UT_CHECK(run(cmd) != 0);
    snprintf(cmd, sizeof cmd, "%s/coord_check --quick --params umup --freeze nosuchtensor --out %s/demo_out/x > /dev/null 2>&1", d, d);
    UT_CHECK(run(cmd) != 0);
}

/* the mean |x| column of a coord_check.csv, in file order */
typedef struct { double v[256]; int n; } cv_ctx;
static void cv_row(char **f, int nf, void *v) {
    cv_ctx *c = (cv_ctx *)v;
    if (nf == 7 && c->n < 256) c->v[c->n++] = strtod(f[5], NULL);
}

/* --seeds N: every value the mean of the N single-seed runs; the progress lines give done/total and an ETA */
static void test_coord_check_seeds(void) {
    const char *d = demo_dir();
    static cv_ctx a, b, ab;
    char cmd[480], path[1024];
    const char *base = "--quick --params umup --widths 64 --check-steps 2";
    int bad, i, close = 1;
    if (!d) { UT_SKIP("coord_check --seeds: runs in make test (needs UMUP_DEMO_DIR, and not the quick sanitizer run)"); return; }
    snprintf(cmd, sizeof cmd, "%s/coord_check %s --seed 5 --out %s/demo_out/s5 > /dev/null 2>&1", d, base, d);
    UT_CHECKF(run(cmd) == 0, "%s", cmd);
    snprintf(cmd, sizeof cmd, "%s/coord_check %s --seed 6 --out %s/demo_out/s6 > /dev/null 2>&1", d, base, d);
    UT_CHECKF(run(cmd) == 0, "%s", cmd);
    snprintf(cmd, sizeof cmd, "%s/coord_check %s --seed 5 --seeds 2 --out %s/demo_out/s56 > %s/demo_out_seeds.txt 2>&1", d, base, d, d);
    UT_CHECKF(run(cmd) == 0, "%s", cmd);
    memset(&a, 0, sizeof a); memset(&b, 0, sizeof b); memset(&ab, 0, sizeof ab);
    snprintf(path, sizeof path, "%s/demo_out/s5/coord_check.csv", d);
    read_csv(path, "param,width,step,module,layer,mean_abs,rms", cv_row, &a, &bad);
    snprintf(path, sizeof path, "%s/demo_out/s6/coord_check.csv", d);
    read_csv(path, "param,width,step,module,layer,mean_abs,rms", cv_row, &b, &bad);
    snprintf(path, sizeof path, "%s/demo_out/s56/coord_check.csv", d);
    read_csv(path, "param,width,step,module,layer,mean_abs,rms", cv_row, &ab, &bad);
    UT_CHECKF(a.n == 2 * 21 && b.n == a.n && ab.n == a.n, "rows %d %d %d", a.n, b.n, ab.n);
    for (i = 0; i < a.n && i < b.n && i < ab.n; i++) /* the CSV keeps 6 digits */
        close &= fabs(ab.v[i] - 0.5 * (a.v[i] + b.v[i])) <= 2e-5 * fabs(ab.v[i]) && a.v[i] != b.v[i];
    UT_CHECKF(close, "the 2-seed values are the means of the two runs (and the runs differ)");
    snprintf(cmd, sizeof cmd, "grep -q '2 seeds from 5' %s/demo_out_seeds.txt && grep -q '\\[1/1, .* elapsed, done\\] umup width 64 done' "
             "%s/demo_out_seeds.txt", d, d);
    UT_CHECKF(run(cmd) == 0, "%s", cmd);
}

#define LS_HEADER "param,width,lr,seed,final_train_loss,final_val_loss,diverged,status"
typedef struct { long bad_fields, umup_div, umup_rows, sp_rows, not_ok; } ls_ctx;
static void ls_row(char **f, int nf, void *v) {
    ls_ctx *c = (ls_ctx *)v;
    if (nf != 8) { c->bad_fields++; return; }
    if (strcmp(f[7], "ok") && strcmp(f[7], "diverged")) c->not_ok++;
    if (!strcmp(f[0], "umup")) {
        c->umup_rows++;
        /* u-muP at its default LR (2^-1) must train */
        if (strtod(f[2], NULL) == 0.5 && (atoi(f[6]) != 0 || !(strtod(f[5], NULL) < 5.0))) c->umup_div++;
    }
    if (!strcmp(f[0], "sp")) c->sp_rows++;
}

static void test_lr_sweep_quick(void) {
    const char *d = demo_dir();
    char cmd[480], path[1024], line[512];
    ls_ctx c = {0, 0, 0, 0, 0};
    int bad, best = 0;
    long rows;
    FILE *f;
    if (!d) { UT_SKIP("lr_sweep --quick: runs in make test (needs UMUP_DEMO_DIR, and not the quick sanitizer run)"); return; }
    snprintf(cmd, sizeof cmd, "%s/lr_sweep --quick -j 2 --out %s/demo_out > %s/demo_out_sweep.txt 2>&1", d, d, d);
    UT_CHECKF(run(cmd) == 0, "%s", cmd);
    snprintf(path, sizeof path, "%s/demo_out/lr_sweep.csv", d);
    rows = read_csv(path, LS_HEADER, ls_row, &c, &bad);
    UT_CHECKF(rows == 3 * 2 * 3 && !bad, "%ld rows", rows); /* 3 parametrizations x 2 widths x 3 LRs */
    UT_CHECK(c.bad_fields == 0 && c.umup_rows == 6 && c.sp_rows == 6 && c.not_ok == 0);
    UT_CHECKF(c.umup_div == 0, "u-muP diverged or missing at its default LR in %ld rows", c.umup_div);
    snprintf(path, sizeof path, "%s/demo_out_sweep.txt", d);
    f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f)) best += !strncmp(line, "best param=", 11) && !strstr(line, "lr=nan");
    if (f) fclose(f);
    UT_CHECKF(best == 6, "%d best-LR lines", best);
    /* progress: done/total with the elapsed time and an ETA after each run, "done" after the last */
    snprintf(cmd, sizeof cmd, "grep -c '^lr_sweep: \\[[0-9]*/18, .* elapsed, ETA .*\\] ' %s/demo_out_sweep.txt | grep -qx 17 && "
             "grep -q '^lr_sweep: \\[18/18, .* elapsed, done\\] ' %s/demo_out_sweep.txt", d, d);
    UT_CHECKF(run(cmd) == 0, "%s", cmd);
    /* --collect rebuilds the same table from the logs alone */
    snprintf(cmd, sizeof cmd, "%s/lr_sweep --quick --collect --out %s/demo_out > /dev/null 2>&1", d, d);
    UT_CHECK(run(cmd) == 0);
    memset(&c, 0, sizeof c);
    snprintf(path, sizeof path, "%s/demo_out/lr_sweep.csv", d);
    rows = read_csv(path, LS_HEADER, ls_row, &c, &bad);
    UT_CHECKF(rows == 18 && c.umup_div == 0 && c.not_ok == 0, "--collect: %ld rows", rows);
    snprintf(cmd, sizeof cmd, "%s/lr_sweep --quick --collect --out %s/demo_out/nothing > /dev/null 2>&1", d, d);
    UT_CHECK(run(cmd) != 0); /* no logs: an error, not an empty table */
    /* the job list: one command per run, each with the sweep's values */
    snprintf(cmd, sizeof cmd, "%s/lr_sweep --quick --emit-jobs --out %s/demo_out | grep -c -- '--param umup --width 128 --lr' | grep -qx 3", d, d);
    UT_CHECK(run(cmd) == 0);
    /* flags the sweep owns, and configurations train refuses, are errors */
    snprintf(cmd, sizeof cmd, "%s/lr_sweep --quick --lr 1 --out %s/demo_out > /dev/null 2>&1", d, d);
    UT_CHECK(run(cmd) != 0);
    snprintf(cmd, sizeof cmd, "%s/lr_sweep --quick --heads 3 --out %s/demo_out > /dev/null 2>&1", d, d);
    UT_CHECK(run(cmd) != 0);
}

/* ---- lr_sweep's honesty, with a stand-in train (issue 13, defects 5-7; issue 18, sweeps) ------------ */

/* Reads a whole (small) file into a new string, or NULL. */
static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 || !(buf = (char *)malloc((size_t)n + 1))) {
        fclose(f);
        return NULL;
    }
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) n = 0;
    buf[n] = 0;
    fclose(f);
    return buf;
}

static int same_file(const char *a, const char *b) {
    char *x = slurp(a), *y = slurp(b);
    int same = x && y && !strcmp(x, y);
    free(x);
    free(y);
    return same;
}

/* The status column of the row (param, width, lr) of a table, into st (or "" when not found). */
static void row_status(const char *csv, const char *param, int width, double lr, char *st, size_t n) {
    char line[512];
    FILE *f = fopen(csv, "r");
    st[0] = 0;
    while (f && fgets(line, sizeof line, f)) {
        char *fld[9], *p = line;
        int nf = 0;
        line[strcspn(line, "\n")] = 0;
        while (nf < 9 && p) { fld[nf++] = p; p = strchr(p, ','); if (p) *p++ = 0; }
        if (nf == 8 && !strcmp(fld[0], param) && atoi(fld[1]) == width && strtod(fld[2], NULL) == lr) snprintf(st, n, "%s", fld[7]);
    }
    if (f) fclose(f);
}

/* A stand-in train: the real train's configuration line (from its --dry-run), then an outcome chosen
 * by (param, LR): a crash by signal and by exit status, a kill, a divergence, a final line cut off
 * (the old parser read it as a loss of 0, the best of the sweep), and otherwise a loss with its
 * minimum at LR 2^-1. --dry-run goes to the real train. */
static const char fake_train[] =
    "#!/bin/sh\n"
    "for a in \"$@\"; do [ \"$a\" = --dry-run ] && exec \"$UMUP_REAL_TRAIN\" \"$@\"; done\n"
    "\"$UMUP_REAL_TRAIN\" \"$@\" --dry-run | grep '^config ' || exit 1\n"
    "prev=; for a in \"$@\"; do case $prev in --lr) lr=$a;; --param) p=$a;; esac; prev=$a; done\n"
    "case $p:$lr in\n"
    "  sp:0.001953125) kill -SEGV $$;;\n"
    "  sp:0.00390625) echo 'train: something failed' >&2; exit 1;;\n"
    "  mup:0.001953125) kill -KILL $$;;\n"
    "  mup:0.0009765625) echo 'done steps=17 train_loss=nan val_loss=nan tokens_per_s=5'; exit 3;;\n"
    "  umup:1) printf 'done steps=40 train_loss=1.7 val_loss='; exit 0;;\n"
    "esac\n"
    "awk -v lr=\"$lr\" 'BEGIN { l = log(lr) / log(2) + 1; printf \"done steps=40 train_loss=%.4f val_loss=%.4f tokens_per_s=100\\n\", 2 + l * l / 100, 1.9 + l * l / 100 }'\n";

static void test_lr_sweep_failures(void) {
    const char *d = demo_dir();
    char cmd[8192], dir[512], fake[600], path[800], path2[800], st[32], flags[700];
    char *a, *b;
    int rc, i;
    FILE *f;
    if (!d) { UT_SKIP("lr_sweep failures: runs in make test (needs UMUP_DEMO_DIR, and not the quick sanitizer run)"); return; }
    snprintf(dir, sizeof dir, "%s/demo_out_sweepfail", d);
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", dir, dir);
    UT_CHECK(run(cmd) == 0);
    snprintf(fake, sizeof fake, "%s/fake_train.sh", dir);
    f = fopen(fake, "w");
    if (!f) { UT_CHECK(f != NULL); return; }
    fputs(fake_train, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "chmod +x %s", fake);
    UT_CHECK(run(cmd) == 0);
    snprintf(path, sizeof path, "%s/train", d);
    setenv("UMUP_REAL_TRAIN", path, 1);
    snprintf(flags, sizeof flags, "--quick --train %s", fake);

    /* the sweep: every run in the table with its status, the best LRs from results only, exit 3 */
    snprintf(cmd, sizeof cmd, "%s/lr_sweep %s -j 2 --out %s/a > %s/a.txt 2>&1", d, flags, dir, dir);
    rc = run(cmd);
    UT_CHECKF(WIFEXITED(rc) && WEXITSTATUS(rc) == 3, "exit %d", WEXITSTATUS(rc));
    snprintf(path, sizeof path, "%s/a/lr_sweep.csv", dir);
    {
        static const struct { const char *p; double lr; const char *st; } want[] = {
            {"sp", 1.0 / 1024, "ok"}, {"sp", 1.0 / 512, "crashed"}, {"sp", 1.0 / 256, "crashed"},
            {"mup", 1.0 / 1024, "diverged"}, {"mup", 1.0 / 512, "killed"}, {"mup", 1.0 / 256, "ok"},
            {"umup", 0.25, "ok"}, {"umup", 0.5, "ok"}, {"umup", 1.0, "bad-log"}};
        int w, k;
        for (w = 64; w <= 128; w *= 2)
            for (k = 0; k < 9; k++) {
                row_status(path, want[k].p, w, want[k].lr, st, sizeof st);
                UT_CHECKF(!strcmp(st, want[k].st), "%s width %d lr %g: '%s', want %s", want[k].p, w, want[k].lr, st, want[k].st);
            }
    }
    snprintf(path2, sizeof path2, "%s/a.txt", dir);
    a = slurp(path2);
    UT_CHECK(a && strstr(a, "best param=umup width=64 lr=0.5 ") && strstr(a, "best param=umup width=128 lr=0.5 "));
    UT_CHECK(a && strstr(a, "best param=sp width=64 lr=0.0009765625 ") && strstr(a, "best param=mup width=128 lr=0.00390625 "));
    UT_CHECK(a && strstr(a, "runs: 18 ok=8 diverged=2 crashed=4 killed=2 bad-log=2\n"));
    free(a);

    /* --collect rebuilds the same table from the logs alone (no train needed) */
    snprintf(cmd, sizeof cmd, "cp %s/a/lr_sweep.csv %s/a.csv && %s/lr_sweep --quick --collect --out %s/a > /dev/null 2>&1", dir, dir, d, dir);
    rc = run(cmd);
    UT_CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 3);
    snprintf(path2, sizeof path2, "%s/a.csv", dir);
    UT_CHECK(same_file(path, path2));
    /* logs of another configuration are refused, and a table without any result replaces nothing */
    snprintf(cmd, sizeof cmd, "%s/lr_sweep --quick --collect --steps 41 --out %s/a > %s/b.txt 2>&1", d, dir, dir);
    rc = run(cmd);
    UT_CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 1 && same_file(path, path2));
    snprintf(path2, sizeof path2, "%s/b.txt", dir);
    a = slurp(path2);
    UT_CHECKF(a && strstr(a, "mismatch (steps: the log has 40, this sweep 41)"), "%s", a ? a : "");
    free(a);
    snprintf(cmd, sizeof cmd, "%s/lr_sweep --quick --collect --seq 16 --out %s/a > /dev/null 2>&1", d, dir);
    rc = run(cmd);
    UT_CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 1);
    /* partial results: logs missing are marked, not dropped */
    snprintf(cmd, sizeof cmd, "rm %s/a/lr_sweep_logs/umup_w64_lr2^-1_s1.log && %s/lr_sweep --quick --collect --out %s/a > %s/c.txt 2>&1", dir, d, dir, dir);
    rc = run(cmd);
    UT_CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 3);
    row_status(path, "umup", 64, 0.5, st, sizeof st);
    UT_CHECKF(!strcmp(st, "missing"), "%s", st);
    snprintf(path2, sizeof path2, "%s/c.txt", dir);
    a = slurp(path2);
    UT_CHECK(a && strstr(a, "best param=umup width=64 lr=0.25 ") && strstr(a, "missing=1"));
    free(a);

    /* issue 13, defect 6: the README's --collect in a clone without logs leaves the table as it is */
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/fresh && cp results/lr_sweep.csv %s/fresh/ && %s/lr_sweep --collect --lr-range umup:-3:2 --lr-range sp:-12:-5 "
             "--lr-range mup:-10:-5 --steps 200 --seq 64 --out %s/fresh > %s/fresh.txt 2>&1",
             dir, dir, d, dir, dir);
    rc = run(cmd);
    UT_CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 1);
    snprintf(path2, sizeof path2, "%s/fresh/lr_sweep.csv", dir);
    UT_CHECK(same_file("results/lr_sweep.csv", path2));

    /* --emit-jobs: run the lines in reverse order with sh, then --collect: the same table */
    snprintf(cmd, sizeof cmd, "%s/lr_sweep %s --emit-jobs --out %s/e > %s/jobs.txt 2>/dev/null && sed -n '1!G;h;$p' %s/jobs.txt | sh",
             d, flags, dir, dir, dir);
    UT_CHECK(run(cmd) == 0);
    snprintf(cmd, sizeof cmd, "%s/lr_sweep --quick --collect --out %s/e > /dev/null 2>&1", d, dir);
    rc = run(cmd);
    UT_CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 3);
    snprintf(path2, sizeof path2, "%s/e/lr_sweep.csv", dir);
    snprintf(path, sizeof path, "%s/a.csv", dir);
    UT_CHECK(same_file(path, path2));
    /* the GNU parallel command file is the job list */
    snprintf(cmd, sizeof cmd, "%s/lr_sweep %s --emit-jobs --scheduler parallel --out %s/e 2>/dev/null | cmp -s - %s/jobs.txt", d, flags, dir, dir);
    UT_CHECK(run(cmd) == 0);
    /* Slurm: a valid bash script whose job list is --emit-jobs exactly; tasks run by hand (in reverse
     * order) make the logs --collect reads, and each task exits with train's status */
    snprintf(cmd, sizeof cmd, "%s/lr_sweep %s --emit-jobs --scheduler slurm --out %s/s > %s/sweep.sbatch 2>/dev/null", d, flags, dir, dir);
    UT_CHECK(run(cmd) == 0);
    snprintf(cmd, sizeof cmd, "bash -n %s/sweep.sbatch", dir);
    UT_CHECK(run(cmd) == 0);
    snprintf(cmd, sizeof cmd, "grep -q '^#SBATCH --array=0-17$' %s/sweep.sbatch", dir);
    UT_CHECK(run(cmd) == 0);
    snprintf(cmd, sizeof cmd, "env -u SLURM_ARRAY_TASK_ID bash %s/sweep.sbatch > %s/slurm_list.txt", dir, dir);
    UT_CHECK(run(cmd) == 0);
    snprintf(cmd, sizeof cmd, "%s/lr_sweep %s --emit-jobs --out %s/s 2>/dev/null | cmp -s - %s/slurm_list.txt", d, flags, dir, dir);
    UT_CHECK(run(cmd) == 0);
    for (i = 17; i >= 0; i--) {
        snprintf(cmd, sizeof cmd, "SLURM_ARRAY_TASK_ID=%d bash %s/sweep.sbatch 2>/dev/null", i, dir);
        rc = run(cmd);
        /* task 1 is sp width 64 at 2^-9 (SIGSEGV: 139), task 0 sp at 2^-10 (ok) */
        if (i == 1) UT_CHECKF(WIFEXITED(rc) && WEXITSTATUS(rc) == 139, "task 1: %d", WEXITSTATUS(rc));
        if (i == 0) UT_CHECK(rc == 0);
    }
    snprintf(cmd, sizeof cmd, "SLURM_ARRAY_TASK_ID=18 bash %s/sweep.sbatch 2>/dev/null", dir);
    UT_CHECK(run(cmd) != 0);
    snprintf(cmd, sizeof cmd, "%s/lr_sweep --quick --collect --out %s/s > /dev/null 2>&1", d, dir);
    rc = run(cmd);
    UT_CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 3);
    snprintf(path2, sizeof path2, "%s/s/lr_sweep.csv", dir);
    UT_CHECK(same_file(path, path2));
    b = slurp(path2);
    UT_CHECK(b && strstr(b, LS_HEADER "\n"));
    free(b);
}

/* issue 13, defect 9: lr_sweep's error exits free what they allocated (make asan builds it with
 * AddressSanitizer, whose leak check makes a leaking exit status 23 instead of the documented one). */
static void test_lr_sweep_error_exits(void) {
    const char *d = getenv("UMUP_SAN_DEMO_DIR");
    static const struct { const char *args; int rc; } cases[] = {
        {"--collect --out build/lr_sweep_nothing_here", 1},  /* no result: the table is left alone */
        {"--quick --collect --steps 41 --out build/lr_sweep_nothing_here", 1},
        {"--train build/no-such-train --out build/lr_sweep_nothing_here", 1},
        {"--widths 64,abc", 2},
        {"--lr 1", 2},
        {"--scheduler slurm", 2},
        {"--quick --emit-jobs --scheduler slurm --out build/lr_sweep_nothing_here", 0},
        {"--quick --heads 3 --out build/lr_sweep_nothing_here", 2}, /* train --dry-run refuses: this leaked */
    };
    char cmd[1200];
    int i, rc;
    if (!d) { UT_SKIP("lr_sweep error exits: make asan runs them (needs UMUP_SAN_DEMO_DIR)"); return; }
    for (i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        snprintf(cmd, sizeof cmd, "%s/lr_sweep %s > /dev/null 2>&1", d, cases[i].args);
        rc = run(cmd);
        UT_CHECKF(WIFEXITED(rc) && WEXITSTATUS(rc) == cases[i].rc, "lr_sweep %s: exit %d, want %d", cases[i].args,
                  WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, cases[i].rc);
    }
}

/* train's command line and --dry-run (issue 13, defects 8 and 9): a fractional integer is refused,
 * --width 16 explains the default head size, and a FIFO or a directory as --data is refused at once
 * (a FIFO hung the loader, a directory asked malloc for 8 EiB), by --dry-run too. The first line is
 * the configuration, also with --quiet. */
static void test_train_flags(void) {
    const char *d = demo_dir();
    char cmd[1600], out[600], fifo[600], *a;
    int rc;
    if (!d) { UT_SKIP("train flags: runs in make test (needs UMUP_DEMO_DIR, and not the quick sanitizer run)"); return; }
    snprintf(out, sizeof out, "%s/demo_out_train_flags.txt", d);
    snprintf(cmd, sizeof cmd, "%s/train --steps 1.5 --dry-run > %s 2>&1", d, out);
    rc = run(cmd);
    a = slurp(out);
    UT_CHECKF(WIFEXITED(rc) && WEXITSTATUS(rc) == 2 && a && strstr(a, "bad value '1.5' for --steps: want an integer"), "%s", a ? a : "");
    free(a);
    snprintf(cmd, sizeof cmd, "%s/train --width 16 --dry-run > %s 2>&1", d, out);
    rc = run(cmd);
    a = slurp(out);
    UT_CHECKF(WIFEXITED(rc) && WEXITSTATUS(rc) == 2 && a && strstr(a, "head size 32 (the default)") && strstr(a, "--heads H or --head-size D"),
              "%s", a ? a : "");
    free(a);
    snprintf(cmd, sizeof cmd, "%s/train --width 16 --heads 2 --dry-run > %s 2>&1", d, out);
    UT_CHECK(run(cmd) == 0);
    snprintf(fifo, sizeof fifo, "%s/demo_out_fifo", d);
    remove(fifo);
    snprintf(cmd, sizeof cmd, "mkfifo %s", fifo);
    UT_CHECK(run(cmd) == 0);
    snprintf(cmd, sizeof cmd, "timeout 20 %s/train --data %s --dry-run > %s 2>&1", d, fifo, out);
    rc = run(cmd);
    a = slurp(out);
    UT_CHECKF(WIFEXITED(rc) && WEXITSTATUS(rc) == 1 && a && strstr(a, "FIFO"), "exit %d: %s", WEXITSTATUS(rc), a ? a : "");
    free(a);
    snprintf(cmd, sizeof cmd, "timeout 20 %s/train --data %s --quiet > %s 2>&1", d, fifo, out);
    rc = run(cmd);
    a = slurp(out);
    UT_CHECKF(WIFEXITED(rc) && WEXITSTATUS(rc) == 1 && a && strstr(a, "FIFO"), "exit %d: %s", WEXITSTATUS(rc), a ? a : "");
    free(a);
    remove(fifo);
    snprintf(cmd, sizeof cmd, "timeout 20 %s/train --data demos --dry-run > %s 2>&1", d, out);
    rc = run(cmd);
    a = slurp(out);
    UT_CHECKF(WIFEXITED(rc) && WEXITSTATUS(rc) == 1 && a && strstr(a, "is a directory") && !strstr(a, "out of memory"), "%s", a ? a : "");
    free(a);
    snprintf(cmd, sizeof cmd, "%s/train --data umup.h --seq 16 --dry-run > %s 2>&1", d, out);
    rc = run(cmd);
    a = slurp(out);
    UT_CHECKF(rc == 0 && a && !strncmp(a, "config width=128 ", 17) && strstr(a, " data=umup.h ") && strstr(a, "configuration ok"), "%s",
              a ? a : "");
    free(a);
    snprintf(cmd, sizeof cmd, "%s/train --quiet --steps 2 --width 32 --seq 16 --batch 2 --eval-batches 1 --corpus-bytes 20000 > %s 2>&1", d, out);
    rc = run(cmd);
    a = slurp(out);
    UT_CHECKF(rc == 0 && a && !strncmp(a, "config width=32 ", 16) && strstr(a, " steps=2 ") && strstr(a, "\ndone steps=2 ") &&
                  strchr(strchr(a, '\n') + 1, '\n') == a + strlen(a) - 1, "%s", a ? a : "");
    free(a);
}

typedef struct { long bad_fields, nonfinite, rows_umup; double fp32[8], worst_umup; } fp_ctx;
static void fp_row(char **f, int nf, void *v) {
    fp_ctx *c = (fp_ctx *)v;
    double tl, vl;
    if (nf != 6) { c->bad_fields++; return; }
    tl = strtod(f[4], NULL);
    vl = strtod(f[5], NULL);
    if (!(tl == tl && vl == vl)) c->nonfinite++;
    if (!strcmp(f[0], "umup") && !strcmp(f[3], "60")) {
        if (!strcmp(f[1], "none")) c->fp32[0] = vl;
        else if (c->fp32[0] > 0 && fabs(vl - c->fp32[0]) / c->fp32[0] > c->worst_umup) c->worst_umup = fabs(vl - c->fp32[0]) / c->fp32[0];
        c->rows_umup++;
    }
}
typedef struct { long bad_fields, bad_frac, rows; } fs_ctx;
static void fs_row(char **f, int nf, void *v) {
    fs_ctx *c = (fs_ctx *)v;
    int k;
    if (nf != 13) { c->bad_fields++; return; }
    for (k = 10; k < 13; k++) {
        double x = strtod(f[k], NULL);
        if (!(x >= 0 && x <= 1)) c->bad_frac++;
    }
    c->rows++;
}

static void test_fp8_parity_quick(void) {
    const char *d = demo_dir();
    char cmd[480], path[1024];
    fp_ctx c;
    fs_ctx s = {0, 0, 0};
    int bad;
    long rows;
    if (!d) { UT_SKIP("fp8_parity --quick: runs in make test (needs UMUP_DEMO_DIR, and not the quick sanitizer run)"); return; }
    memset(&c, 0, sizeof c);
    snprintf(cmd, sizeof cmd, "%s/fp8_parity --quick --out %s/demo_out > %s/demo_out_fp8.txt 2>&1", d, d, d);
    UT_CHECKF(run(cmd) == 0, "%s", cmd);
    snprintf(path, sizeof path, "%s/demo_out/fp8_parity_loss.csv", d);
    rows = read_csv(path, "param,fp8,rounding,step,train_loss,val_loss", fp_row, &c, &bad);
    UT_CHECKF(rows == 3 * 5 * 3 && !bad, "%ld rows", rows); /* SP, u-muP, muS x 5 runs x 3 evaluations */
    UT_CHECK(c.bad_fields == 0 && c.nonfinite == 0 && c.rows_umup == 5);
    snprintf(cmd, sizeof cmd, "grep -c '^parity param=mus ' %s/demo_out_fp8.txt | grep -qx 5", d);
    UT_CHECK(run(cmd) == 0); /* muS is reported next to SP and u-muP */
    /* u-muP in FP8 lands within 1% of its fp32 loss (measured: within 0.1% on this run) */
    UT_CHECKF(c.worst_umup < 0.01, "u-muP FP8 vs fp32: %.4f", c.worst_umup);
    snprintf(path, sizeof path, "%s/demo_out/fp8_parity_scales.csv", d);
    rows = read_csv(path, "param,fp8,rounding,step,tensor,kind,layer,fp8_cast,rms,max_abs,frac_underflow,frac_subnormal,frac_overflow",
                    fs_row, &s, &bad);
    /* per recorded step (4: steps 1, 20, 40, 60): 33 x/w/dy tensors + 12 weight gradients */
    UT_CHECKF(rows == 3 * 5 * 4 * (33 + 12) && !bad && s.bad_fields == 0 && s.bad_frac == 0, "%ld rows, %ld bad", rows, s.bad_frac);
}

/* ---- param_table: formulas beside the numbers ------------------------------------------------ */

static void test_param_formula(void) {
    const pf_var v[] = {{"fan_in", 256}, {"fan_out", 1024}, {"L", 4}, {"L0", 2}, {"a", 0.5}, {"m", 4}, {"d", 256}};
    const int n = (int)(sizeof v / sizeof v[0]);
    double x = 0.0;
    UT_CHECK(pf_eval("1/sqrt(fan_in)", v, n, &x) == 1 && x == 0.0625);
    UT_CHECK(pf_eval("1/sqrt(fan_in)/sqrt(L)", v, n, &x) == 1 && x == 0.03125);
    UT_CHECK(pf_eval("min(1, sqrt(fan_out/fan_in))/sqrt(fan_in)", v, n, &x) == 1 && x == 0.0625);
    UT_CHECK(pf_eval("min(1, sqrt(fan_in/fan_out))/sqrt(fan_in)", v, n, &x) == 1 && x == 0.03125);
    UT_CHECK(pf_eval("(L/L0)^(-a)/m", v, n, &x) == 1 && fabs(x - 0.25 / sqrt(2.0)) < 1e-15);
    UT_CHECK(pf_eval("fan_out/fan_in*(L/L0)^(a-1)", v, n, &x) == 1 && fabs(x - 4.0 / sqrt(2.0)) < 1e-15);
    UT_CHECK(pf_eval("2^3^2", v, n, &x) == 1 && x == 512.0);       /* right-associative */
    UT_CHECK(pf_eval("-2^2 + 10 - 3*2", v, n, &x) == 1 && x == 0.0); /* -(2^2) + 10 - 6 */
    UT_CHECK(pf_eval("2^-1 * 4", v, n, &x) == 1 && x == 2.0);
    UT_CHECK(pf_eval("max(d, 3) - d", v, n, &x) == 1 && x == 0.0);
    UT_CHECK(pf_eval("n/a", v, n, &x) == 1 && x != x);
    UT_CHECK(pf_eval("1/sqrt(", v, n, &x) == 0);
    UT_CHECK(pf_eval("width", v, n, &x) == 0);                       /* unknown name */
    UT_CHECK(pf_eval("1 2", v, n, &x) == 0);
    UT_CHECK(pf_eval("cos(1)", v, n, &x) == 0);                      /* unknown function */
    UT_CHECK(pf_eval("sqrt(1, 2)", v, n, &x) == 0);
    UT_CHECK(pf_agree(0.0625, 0.0625f) && pf_agree(NAN, NAN) && !pf_agree(NAN, 1.0) && !pf_agree(0.0625, 0.0626));
}

/* Finds the row `quantity` of tensor `tensor` in param_table's output and reads its formula and up
 * to 4 values ("-" reads as NaN). Returns the number of values, or -1 if there is no such row. */
static int pt_row(const char *out, const char *tensor, const char *quantity, char *formula, size_t fsize, double *vals) {
    const char *p = strstr(out, tensor);
    const size_t ql = strlen(quantity);
    if (!p || !(p = strchr(p, '\n'))) return -1;
    for (p++; p[0] == ' ' && p[1] == ' '; p += strcspn(p, "\n") + (p[strcspn(p, "\n")] ? 1 : 0)) { /* the tensor's rows */
        char line[256], *tok, *save = NULL;
        size_t len = strcspn(p, "\n");
        int n = 0;
        if (len >= sizeof line || strncmp(p + 2, quantity, ql) || p[2 + ql] != ' ') continue;
        memcpy(line, p + 2 + ql, len - 2 - ql);
        line[len - 2 - ql] = 0;
        if (!(tok = strtok_r(line, " ", &save))) return -1;
        snprintf(formula, fsize, "%s", tok);
        while ((tok = strtok_r(NULL, " ", &save)) && n < 4) vals[n++] = !strcmp(tok, "-") ? NAN : strtod(tok, NULL);
        return n;
    }
    return -1;
}

static char *pt_run(const char *d, const char *args, int *rc) {
    char cmd[1200], path[520];
    FILE *f;
    char *buf;
    long n;
    snprintf(path, sizeof path, "%.480s/param_table.txt", d);
    snprintf(cmd, sizeof cmd, "%.300s/param_table %s > %s 2>&1", d, args, path);
    *rc = run(cmd);
    f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = (char *)malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    if (buf) buf[n] = 0;
    fclose(f);
    return buf;
}

static void test_param_table(void) {
    static const char *params[] = {"umup", "sp", "mup", "mus", "spectral-nanotron", "spectral-adam"};
    static const char *rules[] = {"default", "none", "depth-mup", "completep"};
    const char *d = demo_dir();
    char args[200], formula[96];
    double v[4];
    char *out;
    int rc, pi, ri, bad = 0;
    if (!d) { UT_SKIP("param_table: runs in make test (needs UMUP_DEMO_DIR, and not the quick sanitizer run)"); return; }
    /* param_table exits 3 if a formula disagrees with umup_param_rule at any width: try them all */
    for (pi = 0; pi < 6; pi++)
        for (ri = 0; ri < 4; ri++) {
            const int refused = pi == 0 && ri == 3; /* u-muP's tau rule with CompleteP: refused (exit 2) */
            snprintf(args, sizeof args, "--param %s --depth-rule %s --widths 64,96,384,1024 --depth 6 --base-depth 2 --alpha 0.75",
                     params[pi], rules[ri]);
            out = pt_run(d, args, &rc);
            UT_CHECKF(refused ? rc != 0 : rc == 0 && out != NULL, "param_table %s: exit %d", args, rc);
            if (out && strchr(out, '|')) bad++;
            free(out);
        }
    UT_CHECKF(bad == 0, "%d tables still use '|'", bad);
    /* u-muP at widths 64 and 256, depth 4: the formulas and hand-computed values */
    out = pt_run(d, "--param umup --widths 64,256 --depth 4", &rc);
    UT_CHECK(rc == 0 && out != NULL);
    if (!out) return;
    UT_CHECK(pt_row(out, "embedding.weight", "Adam LR", formula, sizeof formula, v) == 2 && !strcmp(formula, "1/sqrt(d)") &&
             v[0] == 0.125 && v[1] == 0.0625);
    UT_CHECK(pt_row(out, "mhsa.linear_qkv", "multiplier", formula, sizeof formula, v) == 2 && !strcmp(formula, "1/sqrt(fan_in)") &&
             v[0] == 0.125 && v[1] == 0.0625);
    UT_CHECK(pt_row(out, "mhsa.linear_qkv", "Adam LR", formula, sizeof formula, v) == 2 &&
             !strcmp(formula, "1/sqrt(fan_in)/sqrt(L)") && v[0] == 0.0625 && v[1] == 0.03125);
    UT_CHECK(pt_row(out, "mlp.linear_2", "multiplier", formula, sizeof formula, v) == 2 && /* fan_in = 4d */
             !strcmp(formula, "1/sqrt(fan_in)") && v[0] == 0.0625 && v[1] == 0.03125);
    UT_CHECK(pt_row(out, "projection.weight", "multiplier", formula, sizeof formula, v) == 2 && !strcmp(formula, "1/fan_in") &&
             v[0] == 0.015625 && fabs(v[1] - 1.0 / 256) < 1e-6);
    UT_CHECK(pt_row(out, "projection.weight", "init std", formula, sizeof formula, v) == 2 && !strcmp(formula, "1") && v[0] == 1);
    free(out);
    /* the Adam-correct spectral rule: 1/fan_in; muP's attention scale at a fixed head size: constant */
    out = pt_run(d, "--param spectral-adam --widths 64,256", &rc);
    UT_CHECK(rc == 0 && out != NULL);
    UT_CHECK(out && pt_row(out, "mhsa.linear_o", "Adam LR", formula, sizeof formula, v) == 2 && !strcmp(formula, "1/fan_in") &&
             v[0] == 1.0 / 64 && fabs(v[1] - 1.0 / 256) < 1e-6);
    free(out);
    out = pt_run(d, "--param mup --widths 64,256 --head-size 16 --base-width 64", &rc);
    UT_CHECK(rc == 0 && out != NULL);
    {
        const char *al = out ? strstr(out, "attention logits") : NULL;
        UT_CHECK(al && sscanf(al + 16, "%95s %lf %lf", formula, &v[0], &v[1]) == 3 && !strcmp(formula, "sqrt(d_base)/d_head") &&
                 v[0] == 0.25 && v[1] == 0.25);
    }
    free(out);
    /* muP, base width 64: m = 4 at width 256 */
    out = pt_run(d, "--param mup --widths 64,256 --base-width 64", &rc);
    UT_CHECK(rc == 0 && out != NULL);
    if (!out) return;
    UT_CHECK(pt_row(out, "mhsa.linear_o", "Adam LR", formula, sizeof formula, v) == 2 && !strcmp(formula, "1/m") && v[0] == 1 &&
             v[1] == 0.25);
    UT_CHECK(pt_row(out, "projection.weight", "multiplier", formula, sizeof formula, v) == 2 && !strcmp(formula, "a_out/m") &&
             v[0] == 1 && v[1] == 0.25);
    UT_CHECK(pt_row(out, "projection.weight", "init std", formula, sizeof formula, v) == 2 && !strcmp(formula, "sqrt(m/fan_in)") &&
             v[0] == 0.125 && v[1] == 0.125);
    UT_CHECK(pt_row(out, "embedding.weight", "SGD LR", formula, sizeof formula, v) == 2 && !strcmp(formula, "m") && v[1] == 4);
    free(out);
    /* muS defines no SGD rule */
    out = pt_run(d, "--param mus --widths 64,256", &rc);
    UT_CHECK(rc == 0 && out && pt_row(out, "mlp.linear_1", "SGD LR", formula, sizeof formula, v) == 2 && !strcmp(formula, "n/a") &&
             v[0] != v[0]);
    free(out);
}

int main(void) {
    UT_RUN(test_best_lr);
    UT_RUN(test_param_formula);
    UT_RUN(test_param_table);
    UT_RUN(test_parse_done);
    UT_RUN(test_classify);
    UT_RUN(test_coord_check_quick);
    UT_RUN(test_coord_check_seeds);
    UT_RUN(test_lr_sweep_quick);
    UT_RUN(test_lr_sweep_failures);
    UT_RUN(test_lr_sweep_error_exits);
    UT_RUN(test_train_flags);
    UT_RUN(test_fp8_parity_quick);
    return ut_finish("test_demos");
}
