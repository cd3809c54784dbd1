/* progress.h - done/total, elapsed time and an ETA for the demos' long runs (lr_sweep,
 * coord_check). Part of the demos, not of the library.
 *
 *     progress pr;
 *     progress_start(&pr, total);
 *     ... after each unit of work:
 *     progress_step(&pr, stderr, "lr_sweep", "umup width 128 lr 2^-1 done");
 *
 * prints "lr_sweep: [3/40, 1m12s elapsed, ETA 14m48s] umup width 128 lr 2^-1 done". The ETA is the
 * mean time per finished unit times the units left (units of a sweep differ in cost, so it is a
 * rough guide that improves as the run goes on). Wall-clock time from time(), whole seconds. */
#ifndef UMUP_DEMO_PROGRESS_H
#define UMUP_DEMO_PROGRESS_H

#include <stdio.h>
#include <time.h>

typedef struct {
    time_t start; /* when progress_start ran */
    int done;     /* units finished */
    int total;    /* units in all */
} progress;

static void progress_start(progress *p, int total) {
    p->start = time(NULL);
    p->done = 0;
    p->total = total;
}

/* "1h02m", "3m07s" or "12s" */
static void progress_fmt(char *buf, size_t n, double seconds) {
    long s = seconds < 0.0 ? 0 : (long)(seconds + 0.5);
    if (s >= 3600) snprintf(buf, n, "%ldh%02ldm", s / 3600, (s / 60) % 60);
    else if (s >= 60) snprintf(buf, n, "%ldm%02lds", s / 60, s % 60);
    else snprintf(buf, n, "%lds", s);
}

/* Counts one finished unit and prints "<who>: [done/total, elapsed, ETA] <what>" on f. */
static void progress_step(progress *p, FILE *f, const char *who, const char *what) {
    double el = difftime(time(NULL), p->start);
    char e[32], r[32];
    p->done++;
    progress_fmt(e, sizeof e, el);
    if (p->done < p->total) {
        progress_fmt(r, sizeof r, el / p->done * (p->total - p->done));
        fprintf(f, "%s: [%d/%d, %s elapsed, ETA %s] %s\n", who, p->done, p->total, e, r, what);
    } else {
        fprintf(f, "%s: [%d/%d, %s elapsed, done] %s\n", who, p->done, p->total, e, what);
    }
    fflush(f);
}

#endif
