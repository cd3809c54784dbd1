/* demos/lr_sweep.c - learning-rate sweeps across widths (the u-muP paper's Figure 1, on a CPU).
 *
 * For every parametrization, width, LR of the grid (powers of 2) and seed, runs demos/train as a
 * separate process with a fixed budget, and writes one row per run:
 *     param,width,lr,seed,final_train_loss,final_val_loss,diverged
 * then each width's best LR and, per parametrization, how far the best LR moved across widths.
 *
 *   ./build/lr_sweep                           SP, muP, u-muP; widths 64..512; 7 LRs each; 300 steps
 *   ./build/lr_sweep -j 2 --widths 64,256 --params umup --lr-range umup:-3:3 --steps 500 --layers 4
 *   ./build/lr_sweep --quick                   a smoke test (well under a minute on 2 cores)
 *   ./build/lr_sweep --emit-jobs > jobs.txt    the commands, one per line, for an external scheduler;
 *   ./build/lr_sweep --collect                 ... then build the table from their logs
 *
 * Every flag it does not know is passed to train unchanged (model, optimizer, schedule, FP8, data,
 * ... : see train --help), so a published sweep can be re-run as configured; each configuration
 * is checked with train --dry-run before anything runs. Flags the sweep sets itself (--param,
 * --width, --lr, --seed, --steps) are refused there. The defaults differ from train's in three
 * places: fp32 (--fp8 none; pass --fp8 umup for FP8), no sample, and the muP base width, which is
 * the smallest width of the sweep (where muP equals SP). The final train loss is the mean of the
 * last tenth of the steps, the validation loss that of --eval-batches validation batches at the end.
 * A run diverged when a loss is not finite or the validation loss ends above ln 256 (worse than
 * uniform); a diverged LR is never a best LR. Output: OUT/lr_sweep.csv, the logs in OUT/lr_sweep_logs/,
 * and make plots draws docs/lr_sweep.png. */
#define _POSIX_C_SOURCE 200809L
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "lr_sweep_lib.h"
#include "train_args.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_W 32
#define MAX_P UMUP_PARAM_COUNT
#define MAX_ARGS 256

static void usage(FILE *f) {
    fprintf(f,
            "usage: lr_sweep [options] [train flags]\n"
            "  --widths LIST        comma-separated widths (default 64,128,256,512)\n"
            "  --params LIST        parametrizations (default sp,mup,umup; also mus, spectral-nanotron, spectral-adam)\n"
            "  --lr-range P:LO:HI   LR grid of P: 2^LO, 2^(LO+1), ..., 2^HI (integers). Defaults:\n"
            "                       umup -3:2, spectral-adam -4:1, mus -5:0, sp/mup/spectral-nanotron -12:-6\n"
            "  --seeds LIST         seeds (default 1)\n"
            "  --steps N            training steps per run (default 300)\n"
            "  -j N                 run N trainings at once (default 1); each gets cores/N OpenMP threads\n"
            "                       unless OMP_NUM_THREADS is set\n"
            "  --out DIR            output folder (default results)\n"
            "  --train PATH         the train program (default: train next to this program)\n"
            "  --emit-jobs          print the train commands (one per line, with their log file) and exit\n"
            "  --collect            build the table from the logs of an earlier or external run only\n"
            "  --quick              widths 64,128; 3 LRs around each default; 40 steps of 4 x 32 tokens;\n"
            "                       width-independent heads of 16\n"
            "  --help\n"
            "Any other flag goes to train (see train --help): --layers, --seq, --batch, --warmup,\n"
            "--schedule, --mlp-expansion, --head-size, --norm, --data FILE, --fp8, --optimizer, ...\n");
}

#define DIE(...) do { fprintf(stderr, "lr_sweep: " __VA_ARGS__); fputc('\n', stderr); exit(1); } while (0)

static int parse_ints(const char *s, long *out, int max, long lo, long hi) {
    int n = 0;
    while (*s) {
        char *end;
        long v;
        errno = 0;
        v = strtol(s, &end, 10);
        if (end == s || errno || v < lo || v > hi || n == max) return 0;
        out[n++] = v;
        s = end;
        if (*s == ',') s++;
        else if (*s) return 0;
    }
    return n;
}

typedef struct {
    umup_parametrization p;
    int width, lr_exp;
    long seed;
    char log[1400];
    pid_t pid;
    int status; /* 0 waiting, 1 running, 2 finished */
} job;

static const char *self_dir(const char *argv0, char *buf, size_t n) {
    const char *s = strrchr(argv0, '/');
    if (!s) return ".";
    if ((size_t)(s - argv0) >= n) return ".";
    memcpy(buf, argv0, (size_t)(s - argv0));
    buf[s - argv0] = 0;
    return buf;
}

/* argv of one train run: the fixed defaults, the user's pass-through flags (which override the
 * defaults), then the values the sweep sets. */
static int build_argv(char **av, char bufs[][64], const char *train, char **pass, int npass, const job *j, long steps,
                      int base_width) {
    int n = 0, k, b = 0;
    av[n++] = (char *)train;
    av[n++] = (char *)"--quiet";
    av[n++] = (char *)"--fp8";
    av[n++] = (char *)"none";
    av[n++] = (char *)"--sample";
    av[n++] = (char *)"0";
    av[n++] = (char *)"--eval-interval";
    snprintf(bufs[b], 64, "%ld", steps >= 10 ? (steps + 9) / 10 : 1); av[n++] = bufs[b++];
    if (base_width > 0) {
        av[n++] = (char *)"--base-width";
        snprintf(bufs[b], 64, "%d", base_width); av[n++] = bufs[b++];
    }
    for (k = 0; k < npass; k++) av[n++] = pass[k];
    av[n++] = (char *)"--param";
    av[n++] = (char *)umup_param_name(j->p);
    av[n++] = (char *)"--width";
    snprintf(bufs[b], 64, "%d", j->width); av[n++] = bufs[b++];
    av[n++] = (char *)"--lr";
    snprintf(bufs[b], 64, "%.17g", ldexp(1.0, j->lr_exp)); av[n++] = bufs[b++];
    av[n++] = (char *)"--seed";
    snprintf(bufs[b], 64, "%ld", j->seed); av[n++] = bufs[b++];
    av[n++] = (char *)"--steps";
    snprintf(bufs[b], 64, "%ld", steps); av[n++] = bufs[b++];
    av[n] = NULL;
    return n;
}

static void print_quoted(FILE *f, const char *s) {
    const char *c;
    int plain = *s != 0;
    for (c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || strchr("-_./=:,+", *c))) plain = 0;
    if (plain) { fputs(s, f); return; }
    fputc('\'', f);
    for (c = s; *c; c++) {
        if (*c == '\'') fputs("'\\''", f);
        else fputc(*c, f);
    }
    fputc('\'', f);
}

static pid_t spawn(char **av, const char *log) {
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (fd < 0) _exit(127);
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
        execv(av[0], av);
        fprintf(stderr, "lr_sweep: cannot run %s: %s\n", av[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

/* the "done" line of a log: 1 found, 0 not */
static int read_log(const char *path, double *tl, double *vl) {
    char line[1024];
    int ok = 0;
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    while (fgets(line, sizeof line, f))
        if (sweep_parse_done(line, tl, vl)) ok = 1;
    fclose(f);
    return ok;
}

int main(int argc, char **argv) {
    long widths[MAX_W] = {64, 128, 256, 512}, seeds[64] = {1}, tmp[8];
    int nw = 4, ns = 1, np = 3, i, k, jobs_n = 0, par = 1, emit = 0, collect = 0, quick = 0, npass = 0;
    int lo[MAX_P], hi[MAX_P], range_set[MAX_P] = {0}, base_width = 0, base_set = 0, widths_set = 0;
    long steps = 300;
    int steps_set = 0;
    umup_parametrization params[MAX_P] = {UMUP_PARAM_SP, UMUP_PARAM_MUP, UMUP_PARAM_UMUP};
    const char *out_dir = "results", *train = NULL;
    char *pass[MAX_ARGS], dirbuf[1024], trainbuf[1100], path[1100], logdir[1100];
    job *jobs;
    sweep_row *rows;
    FILE *csv;
    int running = 0, next = 0, done_n = 0, nrows = 0;

    /* default grids: around the best LRs measured at widths 64-512 (README, Results) */
    for (i = 0; i < MAX_P; i++) { lo[i] = -12; hi[i] = -6; }
    lo[UMUP_PARAM_UMUP] = -3; hi[UMUP_PARAM_UMUP] = 2;
    lo[UMUP_PARAM_MUS] = -5; hi[UMUP_PARAM_MUS] = 0;
    lo[UMUP_PARAM_SPECTRAL_ADAM] = -4; hi[UMUP_PARAM_SPECTRAL_ADAM] = 1;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        if (!strcmp(a, "--emit-jobs")) { emit = 1; continue; }
        if (!strcmp(a, "--collect")) { collect = 1; continue; }
        if (!strcmp(a, "--quick")) { quick = 1; continue; }
        if (!strcmp(a, "--rope")) { if (npass < MAX_ARGS - 40) pass[npass++] = argv[i]; continue; }
        if (!strcmp(a, "--param") || !strcmp(a, "--width") || !strcmp(a, "--lr") || !strcmp(a, "--seed")) {
            fprintf(stderr, "lr_sweep: %s is set by the sweep: use --params, --widths, --lr-range or --seeds\n", a);
            return 2;
        }
        if (strncmp(a, "-", 1)) { fprintf(stderr, "lr_sweep: unexpected argument '%s'\n", a); usage(stderr); return 2; }
        if (!v) { fprintf(stderr, "lr_sweep: %s needs a value\n", a); usage(stderr); return 2; }
        i++;
        if (!strcmp(a, "--widths")) { nw = parse_ints(v, widths, MAX_W, 1, 65536); widths_set = 1; if (!nw) goto bad; }
        else if (!strcmp(a, "--seeds")) { ns = parse_ints(v, seeds, 64, 0, 1000000000L); if (!ns) goto bad; }
        else if (!strcmp(a, "--steps")) { if (parse_ints(v, tmp, 1, 1, 1000000000L) != 1) goto bad; steps = tmp[0]; steps_set = 1; }
        else if (!strcmp(a, "-j")) { if (parse_ints(v, tmp, 1, 1, 256) != 1) goto bad; par = (int)tmp[0]; }
        else if (!strcmp(a, "--out")) out_dir = v;
        else if (!strcmp(a, "--train")) train = v;
        else if (!strcmp(a, "--params")) {
            np = train_args_parse_params(v, params, MAX_P);
            if (!np) goto bad;
        } else if (!strcmp(a, "--lr-range")) {
            char name[32];
            const char *c1 = strchr(v, ':');
            umup_parametrization p;
            if (!c1 || (size_t)(c1 - v) >= sizeof name) goto bad;
            memcpy(name, v, (size_t)(c1 - v));
            name[c1 - v] = 0;
            if (umup_param_parse(name, &p) != UMUP_OK) goto bad;
            if (sscanf(c1 + 1, "%d:%d", &lo[p], &hi[p]) != 2 || lo[p] > hi[p] || lo[p] < -60 || hi[p] > 60) goto bad;
            range_set[p] = 1;
        } else {
            /* a train flag with its value: passed through (train --dry-run checks it) */
            if (!strcmp(a, "--base-width")) base_set = 1;
            if (npass >= MAX_ARGS - 40) DIE("too many flags");
            pass[npass++] = argv[i - 1];
            pass[npass++] = argv[i];
        }
        continue;
    bad:
        fprintf(stderr, "lr_sweep: bad value '%s' for %s\n", v, a);
        usage(stderr);
        return 2;
    }
    if (quick) {
        static char *qa[] = {(char *)"--batch", (char *)"4", (char *)"--seq", (char *)"32", (char *)"--head-size", (char *)"16",
                             (char *)"--eval-batches", (char *)"2", (char *)"--corpus-bytes", (char *)"200000"};
        if (!widths_set) { widths[0] = 64; widths[1] = 128; nw = 2; }
        if (!steps_set) steps = 40;
        for (k = 0; k < MAX_P; k++)
            if (!range_set[k]) { /* around the parametrization's default LR */
                int c = (int)floor(log2(umup_param_info_of((umup_parametrization)k)->default_lr) + 0.5);
                lo[k] = c - 1; hi[k] = c + 1;
            }
        /* the quick defaults go first so that the user's flags override them */
        if (npass + 10 > MAX_ARGS - 40) DIE("too many flags");
        memmove(pass + 10, pass, sizeof(char *) * (size_t)npass);
        memcpy(pass, qa, sizeof qa);
        npass += 10;
    }
    if (!base_set) {
        base_width = (int)widths[0];
        for (k = 1; k < nw; k++) if (widths[k] < base_width) base_width = (int)widths[k];
    }
    if (!train) {
        snprintf(trainbuf, sizeof trainbuf, "%s/train", self_dir(argv[0], dirbuf, sizeof dirbuf));
        train = trainbuf;
    }
    if (!emit && !collect && access(train, X_OK) != 0) DIE("cannot run %s (build it with make demos, or pass --train PATH)", train);

    /* the job list */
    for (k = 0; k < np; k++) jobs_n += (hi[params[k]] - lo[params[k]] + 1) * nw * ns;
    jobs = (job *)calloc((size_t)jobs_n, sizeof(job));
    rows = (sweep_row *)calloc((size_t)jobs_n, sizeof(sweep_row));
    if (!jobs || !rows) DIE("out of memory");
    snprintf(logdir, sizeof logdir, "%s/lr_sweep_logs", out_dir);
    jobs_n = 0;
    for (k = 0; k < np; k++) {
        int w, e, s;
        for (w = 0; w < nw; w++)
            for (e = lo[params[k]]; e <= hi[params[k]]; e++)
                for (s = 0; s < ns; s++) {
                    job *j = &jobs[jobs_n++];
                    j->p = params[k];
                    j->width = (int)widths[w];
                    j->lr_exp = e;
                    j->seed = seeds[s];
                    snprintf(j->log, sizeof j->log, "%s/%s_w%d_lr2^%d_s%ld.log", logdir, umup_param_name(j->p), j->width, e, j->seed);
                }
    }
    if (!emit) {
        mkdir(out_dir, 0777);
        mkdir(logdir, 0777);
    }

    if (emit) {
        for (k = 0; k < jobs_n; k++) {
            char *av[MAX_ARGS + 32], bufs[8][64];
            int n = build_argv(av, bufs, train, pass, npass, &jobs[k], steps, base_width), a;
            for (a = 0; a < n; a++) { if (a) fputc(' ', stdout); print_quoted(stdout, av[a]); }
            fputs(" > ", stdout);
            print_quoted(stdout, jobs[k].log);
            fputs(" 2>&1\n", stdout);
        }
        printf("# %d jobs; make the folder %s first; then: lr_sweep --collect (with the same flags)\n", jobs_n, logdir);
        free(jobs);
        free(rows);
        return 0;
    }

    if (!collect) {
        /* check every (param, width) configuration once before running anything */
        for (k = 0; k < jobs_n; k++) {
            char *av[MAX_ARGS + 32], bufs[8][64], chk[1200];
            int n, prev = 0, a, st;
            pid_t pid;
            for (a = 0; a < k; a++) if (jobs[a].p == jobs[k].p && jobs[a].width == jobs[k].width) prev = 1;
            if (prev) continue;
            n = build_argv(av, bufs, train, pass, npass, &jobs[k], steps, base_width);
            av[n++] = (char *)"--dry-run";
            av[n] = NULL;
            snprintf(chk, sizeof chk, "%s/dry_run.log", logdir);
            pid = spawn(av, chk);
            if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                char line[512];
                FILE *f = fopen(chk, "r");
                fprintf(stderr, "lr_sweep: train refuses the configuration %s width %d:\n", umup_param_name(jobs[k].p), jobs[k].width);
                while (f && fgets(line, sizeof line, f)) fputs(line, stderr);
                if (f) fclose(f);
                return 2;
            }
        }
        if (par > 1 && !getenv("OMP_NUM_THREADS")) {
            char nt[32];
            long cores = sysconf(_SC_NPROCESSORS_ONLN);
            snprintf(nt, sizeof nt, "%ld", cores / par > 1 ? cores / par : 1);
            setenv("OMP_NUM_THREADS", nt, 1);
        }
        fprintf(stderr, "lr_sweep: %d runs, %d at a time, logs in %s\n", jobs_n, par, logdir);
        while (done_n < jobs_n) {
            int st;
            pid_t pid;
            while (running < par && next < jobs_n) {
                char *av[MAX_ARGS + 32], bufs[8][64];
                build_argv(av, bufs, train, pass, npass, &jobs[next], steps, base_width);
                jobs[next].pid = spawn(av, jobs[next].log);
                if (jobs[next].pid < 0) DIE("cannot start a process: %s", strerror(errno));
                jobs[next].status = 1;
                running++;
                next++;
            }
            pid = waitpid(-1, &st, 0);
            if (pid < 0) { if (errno == EINTR) continue; DIE("waitpid: %s", strerror(errno)); }
            for (k = 0; k < next; k++)
                if (jobs[k].pid == pid && jobs[k].status == 1) {
                    double tl, vl;
                    jobs[k].status = 2;
                    running--;
                    done_n++;
                    if (read_log(jobs[k].log, &tl, &vl))
                        fprintf(stderr, "lr_sweep: [%d/%d] %s width %d lr 2^%d seed %ld: val %.4f\n", done_n, jobs_n,
                                umup_param_name(jobs[k].p), jobs[k].width, jobs[k].lr_exp, jobs[k].seed, vl);
                    else
                        fprintf(stderr, "lr_sweep: [%d/%d] %s width %d lr 2^%d: no result (see %s)\n", done_n, jobs_n,
                                umup_param_name(jobs[k].p), jobs[k].width, jobs[k].lr_exp, jobs[k].log);
                }
        }
    }

    /* the table */
    snprintf(path, sizeof path, "%s/lr_sweep.csv", out_dir);
    csv = fopen(path, "w");
    if (!csv) DIE("cannot write %s", path);
    fprintf(csv, "param,width,lr,seed,final_train_loss,final_val_loss,diverged\n");
    for (k = 0; k < jobs_n; k++) {
        double tl, vl;
        sweep_row *r = &rows[nrows];
        if (!read_log(jobs[k].log, &tl, &vl)) {
            fprintf(stderr, "lr_sweep: no result in %s: left out of the table\n", jobs[k].log);
            continue;
        }
        snprintf(r->param, sizeof r->param, "%s", umup_param_name(jobs[k].p));
        r->width = jobs[k].width;
        r->lr = ldexp(1.0, jobs[k].lr_exp);
        r->seed = jobs[k].seed;
        r->train_loss = tl;
        r->val_loss = vl;
        r->diverged = sweep_is_diverged(tl, vl, 256);
        fprintf(csv, "%s,%d,%.9g,%ld,%.6f,%.6f,%d\n", r->param, r->width, r->lr, r->seed, tl, vl, r->diverged);
        nrows++;
    }
    fclose(csv);
    if (nrows == 0) DIE("no results in %s: nothing to tabulate", logdir);
    for (k = 0; k < np; k++) {
        int w, e_min = 1000, e_max = -1000, have = 0;
        const char *pn = umup_param_name(params[k]);
        for (w = 0; w < nw; w++) {
            double lr = 0, loss = 0;
            if (sweep_best_lr(rows, nrows, pn, (int)widths[w], &lr, &loss)) {
                int e = (int)lround(log2(lr));
                int edge = e == lo[params[k]] || e == hi[params[k]];
                printf("best param=%s width=%ld lr=%.9g log2_lr=%d val_loss=%.4f%s\n", pn, widths[w], lr, e, loss,
                       edge ? " (at the edge of the grid: widen --lr-range)" : "");
                if (e < e_min) e_min = e;
                if (e > e_max) e_max = e;
                have++;
            } else
                printf("best param=%s width=%ld lr=nan (every LR diverged or failed)\n", pn, widths[w]);
        }
        if (have) printf("transfer param=%s best_lr_spread_grid_steps=%d widths=%d\n", pn, e_max - e_min, have);
    }
    printf("wrote %s (%d rows)\n", path, nrows);
    free(jobs);
    free(rows);
    return 0;
}
