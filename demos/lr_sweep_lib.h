/* demos/lr_sweep_lib.h - result rows of demos/lr_sweep and the best-LR rule (shared with its test).
 *
 * A row is one training run: param, width, lr, seed, final train and validation loss, diverged.
 * The best LR of (param, width) is the grid point with the lowest validation loss averaged over
 * the seeds that ran it; a run that diverged counts as +infinity, so an LR where any seed diverged
 * is never best. Not part of the library. */
#ifndef UMUP_DEMO_LR_SWEEP_LIB_H
#define UMUP_DEMO_LR_SWEEP_LIB_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char param[16];
    int width;
    double lr;
    long seed;
    double train_loss, val_loss;
    int diverged;
} sweep_row;

/* A run diverged when its losses are not finite, or when the validation loss ended above the loss
 * of the uniform prediction over the vocabulary (ln 256 for bytes): the model unlearned. */
static inline int sweep_is_diverged(double train_loss, double val_loss, int vocab) {
    double lim = log((double)vocab);
    return !(train_loss == train_loss && val_loss == val_loss && fabs(train_loss) < 1e30 && fabs(val_loss) < 1e30) ||
           val_loss > lim;
}

/* Best LR of (param, width) over rows[0 .. n): returns 1 and sets *best_lr, *best_loss (mean over
 * seeds), or 0 when no LR has a run that converged. Ties go to the smaller LR. */
static inline int sweep_best_lr(const sweep_row *rows, int n, const char *param, int width, double *best_lr,
                                double *best_loss) {
    int i, j, found = 0;
    for (i = 0; i < n; i++) {
        double sum = 0;
        int cnt = 0, bad = 0, seen = 0;
        if (strcmp(rows[i].param, param) || rows[i].width != width) continue;
        for (j = 0; j < i; j++) /* each LR once: at its first row */
            if (!strcmp(rows[j].param, param) && rows[j].width == width && rows[j].lr == rows[i].lr) seen = 1;
        if (seen) continue;
        for (j = i; j < n; j++) {
            if (strcmp(rows[j].param, param) || rows[j].width != width || rows[j].lr != rows[i].lr) continue;
            if (rows[j].diverged) bad = 1;
            sum += rows[j].val_loss;
            cnt++;
        }
        if (bad || !cnt) continue;
        sum /= cnt;
        if (!found || sum < *best_loss || (sum == *best_loss && rows[i].lr < *best_lr)) {
            *best_lr = rows[i].lr;
            *best_loss = sum;
            found = 1;
        }
    }
    return found;
}

/* Parses a line "done steps=<n> train_loss=<x> val_loss=<y> tokens_per_s=<z>" (as demos/train ends);
 * returns 1 on success. "nan" parses as NaN. */
static inline int sweep_parse_done(const char *line, double *train_loss, double *val_loss) {
    const char *a = strstr(line, "train_loss="), *b = strstr(line, "val_loss=");
    if (strncmp(line, "done ", 5) || !a || !b) return 0;
    *train_loss = strtod(a + 11, NULL);
    *val_loss = strtod(b + 9, NULL);
    return 1;
}

#endif
