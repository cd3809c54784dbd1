/* demos/lr_sweep_lib.h - what demos/lr_sweep makes of a run's log, its result rows and the best-LR
 * rule (shared with tests/test_demos.c). Not part of the library.
 *
 * A run's log (OUT/lr_sweep_logs/<param>_w<width>_lr2^<e>_s<seed>.log) is what train printed with
 * --quiet, and, appended by whoever ran it (lr_sweep itself, or the shell line of --emit-jobs):
 *     config steps=300 seq=128 ... param=umup width=64 lr=0.5 ...   first line, from train
 *     done steps=<n> train_loss=<x> val_loss=<y> tokens_per_s=<z>    last line of train
 *     exit_status=<n>                                                 exit code, 128 + signal if killed
 * A run is a result only when its log has a complete done line (every field parsed, the line ended
 * by a newline) and a configuration equal to the sweep's; everything else is a recorded failure:
 *     ok        a complete done line with finite losses
 *     diverged  a complete done line with a non-finite loss or a validation loss above ln(vocab)
 *     crashed   exited non-zero (or from a signal such as SIGSEGV or SIGABRT) without a result
 *     killed    stopped from outside: SIGKILL, SIGTERM, SIGINT, SIGHUP or SIGXCPU (out of memory,
 *               a scheduler's time limit, Ctrl-C)
 *     bad-log   no complete done line and no exit status (still running, or cut off), a truncated or
 *               unparsable done line, a step count that does not match, or no configuration line
 *     mismatch  made with another configuration (a different --steps, --seq, or any flag that
 *               changes the result)
 *     missing   no log at all (not run yet, or its results are elsewhere)
 * The best LR of (param, width) is the grid point with the lowest validation loss averaged over the
 * seeds that ran it; a run that diverged counts as +infinity, so an LR where any seed diverged is
 * never best, and an LR with a failed or missing run is left out (its mean would be incomplete). */
#ifndef UMUP_DEMO_LR_SWEEP_LIB_H
#define UMUP_DEMO_LR_SWEEP_LIB_H

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    SWEEP_OK = 0,
    SWEEP_DIVERGED,
    SWEEP_CRASHED,
    SWEEP_KILLED,
    SWEEP_BAD_LOG,
    SWEEP_MISMATCH,
    SWEEP_MISSING,
    SWEEP_STATUS_COUNT
} sweep_status;

static inline const char *sweep_status_name(sweep_status s) {
    static const char *const names[SWEEP_STATUS_COUNT] = {"ok", "diverged", "crashed", "killed", "bad-log", "mismatch", "missing"};
    return (unsigned)s < SWEEP_STATUS_COUNT ? names[s] : "?";
}

/* A status that is a training result (the run finished and its losses mean something). */
static inline int sweep_is_result(sweep_status s) { return s == SWEEP_OK || s == SWEEP_DIVERGED; }

typedef struct {
    char param[16];
    int width;
    double lr;
    long seed;
    double train_loss, val_loss; /* NaN when the run has no result */
    int diverged;
    sweep_status status;
} sweep_row;

/* A run diverged when its losses are not finite, or when the validation loss ended above the loss
 * of the uniform prediction over the vocabulary (ln 256 for bytes): the model unlearned. */
static inline int sweep_is_diverged(double train_loss, double val_loss, int vocab) {
    double lim = log((double)vocab);
    return !(train_loss == train_loss && val_loss == val_loss && fabs(train_loss) < 1e30 && fabs(val_loss) < 1e30) ||
           val_loss > lim;
}

/* Best LR of (param, width) over rows[0 .. n): returns 1 and sets *best_lr, *best_loss (mean over
 * seeds), or 0 when no LR has a complete set of runs that converged. Ties go to the smaller LR.
 * *incomplete (may be NULL) receives the number of LRs left out for a failed or missing run. */
static inline int sweep_best_lr(const sweep_row *rows, int n, const char *param, int width, double *best_lr,
                                double *best_loss, int *incomplete) {
    int i, j, found = 0, inc = 0;
    for (i = 0; i < n; i++) {
        double sum = 0;
        int cnt = 0, bad = 0, failed = 0, seen = 0;
        if (strcmp(rows[i].param, param) || rows[i].width != width) continue;
        for (j = 0; j < i; j++) /* each LR once: at its first row */
            if (!strcmp(rows[j].param, param) && rows[j].width == width && rows[j].lr == rows[i].lr) seen = 1;
        if (seen) continue;
        for (j = i; j < n; j++) {
            if (strcmp(rows[j].param, param) || rows[j].width != width || rows[j].lr != rows[i].lr) continue;
            if (!sweep_is_result(rows[j].status)) failed = 1;
            else if (rows[j].diverged || rows[j].status == SWEEP_DIVERGED) bad = 1;
            sum += rows[j].val_loss;
            cnt++;
        }
        if (failed) inc++;
        if (bad || failed || !cnt) continue;
        sum /= cnt;
        if (!found || sum < *best_loss || (sum == *best_loss && rows[i].lr < *best_lr)) {
            *best_lr = rows[i].lr;
            *best_loss = sum;
            found = 1;
        }
    }
    if (incomplete) *incomplete = inc;
    return found;
}

/* A number field: strtod from s, which must consume something; *end after it. */
static inline int sweep_num_(const char *s, double *v, const char **end) {
    char *e;
    *v = strtod(s, &e);
    if (e == s) return 0;
    *end = e;
    return 1;
}

/* Parses a complete line "done steps=<n> train_loss=<x> val_loss=<y> tokens_per_s=<z>\n" (as
 * demos/train ends; "nan" and "inf" are numbers): returns 1 and sets the values, or 0 for anything
 * else - a missing or empty field, trailing characters, or no newline at the end (a line cut off
 * while being written). steps may be NULL. */
static inline int sweep_parse_done(const char *line, long *steps, double *train_loss, double *val_loss) {
    const char *p = line;
    char *e;
    double tl, vl, tok;
    long st;
    if (strncmp(p, "done steps=", 11)) return 0;
    p += 11;
    if (*p < '0' || *p > '9') return 0;
    errno = 0;
    st = strtol(p, &e, 10);
    if (errno) return 0;
    p = e;
    if (strncmp(p, " train_loss=", 12) || !sweep_num_(p + 12, &tl, &p)) return 0;
    if (strncmp(p, " val_loss=", 10) || !sweep_num_(p + 10, &vl, &p)) return 0;
    if (strncmp(p, " tokens_per_s=", 14) || !sweep_num_(p + 14, &tok, &p)) return 0;
    if (*p == '\r') p++;
    if (*p != '\n' || p[1]) return 0;
    if (steps) *steps = st;
    *train_loss = tl;
    *val_loss = vl;
    return 1;
}

/* What a log says. */
typedef struct {
    int has_done, has_exit, has_config, truncated_done;
    long steps;
    double train_loss, val_loss;
    int exit_status;
    char config[2048]; /* the config line without "config " and the newline */
} sweep_log;

/* Reads the log at path into *lg: 1, or 0 when it cannot be opened. The last done line, exit
 * status and config line count; a line too long for the buffer is skipped whole. */
static inline int sweep_read_log(const char *path, sweep_log *lg) {
    char line[4096];
    int skipping = 0;
    FILE *f = fopen(path, "r");
    memset(lg, 0, sizeof *lg);
    if (!f) return 0;
    while (fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        int whole = len > 0 && line[len - 1] == '\n';
        if (skipping) { skipping = !whole; continue; }
        if (!whole && len == sizeof line - 1) { skipping = 1; continue; }
        if (!strncmp(line, "done ", 5)) {
            lg->has_done = sweep_parse_done(line, &lg->steps, &lg->train_loss, &lg->val_loss);
            lg->truncated_done = !lg->has_done;
        } else if (!strncmp(line, "exit_status=", 12)) {
            char *e;
            long v = strtol(line + 12, &e, 10);
            if (e != line + 12 && (*e == '\n' || *e == 0) && v >= 0 && v < 256) {
                lg->has_exit = 1;
                lg->exit_status = (int)v;
            }
        } else if (!strncmp(line, "config ", 7) && whole && len - 8 < sizeof lg->config) {
            memcpy(lg->config, line + 7, len - 8);
            lg->config[len - 8] = 0;
            lg->has_config = 1;
        }
    }
    fclose(f);
    return 1;
}

/* Compares two config lines (space-separated key=value tokens): 1 when equal, else 0 with the first
 * difference described in why ("steps: the log has 300, this sweep 200"). */
static inline int sweep_config_equal(const char *got, const char *want, char *why, size_t n) {
    const char *w = want;
    if (!strcmp(got, want)) return 1;
    while (*w) {
        size_t wl = strcspn(w, " "), kl = strcspn(w, "=");
        const char *g = got;
        int found = 0;
        if (kl > wl) kl = wl;
        while (*g) {
            size_t gl = strcspn(g, " ");
            if (gl > kl && !strncmp(g, w, kl) && g[kl] == '=') {
                found = 1;
                if (gl != wl || strncmp(g, w, wl)) {
                    snprintf(why, n, "%.*s: the log has %.*s, this sweep %.*s", (int)kl, w, (int)(gl - kl - 1), g + kl + 1,
                             (int)(wl - kl - 1 < 200 ? wl - kl - 1 : 200), w + kl + 1);
                    return 0;
                }
                break;
            }
            g += gl;
            while (*g == ' ') g++;
        }
        if (!found) { snprintf(why, n, "%.*s: missing from the log's configuration", (int)kl, w); return 0; }
        w += wl;
        while (*w == ' ') w++;
    }
    snprintf(why, n, "the log's configuration has settings this sweep does not know");
    return 0;
}

/* The status of a run from its log (lg NULL: no log), the sweep's step count, the vocabulary (for the
 * divergence rule) and the configuration it expects; why receives a reason for every status but
 * ok and diverged. */
static inline sweep_status sweep_classify(const sweep_log *lg, long steps, int vocab, const char *want_config, char *why,
                                          size_t n) {
    int sig;
    why[0] = 0;
    if (!lg) { snprintf(why, n, "no log"); return SWEEP_MISSING; }
    if (lg->has_config && !sweep_config_equal(lg->config, want_config, why, n)) return SWEEP_MISMATCH;
    sig = lg->has_exit && lg->exit_status > 128 ? lg->exit_status - 128 : 0;
    if (lg->has_done && (!lg->has_exit || lg->exit_status == 0 || lg->exit_status == 3)) {
        int div = sweep_is_diverged(lg->train_loss, lg->val_loss, vocab);
        if (!lg->has_config) { snprintf(why, n, "no configuration line: cannot tell which settings made it"); return SWEEP_BAD_LOG; }
        /* train stops early only when the loss is not finite, and then exits 3 */
        if (lg->steps != steps && !(div && lg->steps < steps)) {
            snprintf(why, n, "the done line says %ld steps, this sweep runs %ld", lg->steps, steps);
            return SWEEP_BAD_LOG;
        }
        if (lg->has_exit && lg->exit_status == 3 && !div) { snprintf(why, n, "exit status 3 with finite losses"); return SWEEP_CRASHED; }
        return div ? SWEEP_DIVERGED : SWEEP_OK;
    }
    if (lg->has_exit) {
        if (sig == 9 || sig == 15 || sig == 2 || sig == 1 || sig == 24) {
            snprintf(why, n, "killed by signal %d", sig);
            return SWEEP_KILLED;
        }
        if (lg->exit_status != 0) {
            if (sig) snprintf(why, n, "died of signal %d", sig);
            else snprintf(why, n, "exit status %d", lg->exit_status);
            return SWEEP_CRASHED;
        }
        snprintf(why, n, lg->truncated_done ? "exit status 0 but the done line is incomplete" : "exit status 0 but no done line");
        return SWEEP_BAD_LOG;
    }
    snprintf(why, n, lg->truncated_done ? "the done line is incomplete" : "no done line and no exit status (still running, or cut off)");
    return SWEEP_BAD_LOG;
}

#endif
