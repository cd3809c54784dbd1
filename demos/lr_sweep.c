/* demos/lr_sweep.c - learning-rate sweeps across widths (the u-muP paper's Figure 1, on a CPU).
 *
 * For every parametrization, width, LR of the grid (powers of 2) and seed, runs demos/train as a
 * separate process with a fixed budget, and writes one row per run:
 *     param,width,lr,seed,final_train_loss,final_val_loss,diverged,status
 * then each width's best LR and, per parametrization, how far the best LR moved across widths.
 *
 *   ./build/lr_sweep                           SP, muP, u-muP; widths 64..512; 7 LRs each; 300 steps
 *   ./build/lr_sweep -j 2 --widths 64,256 --params umup --lr-range umup:-3:3 --steps 500 --layers 4
 *   ./build/lr_sweep --quick                   a smoke test (well under a minute on 2 cores)
 *   ./build/lr_sweep --emit-jobs > jobs.txt    the runs as shell commands, one per line, for an external
 *                                              scheduler (GNU parallel: --scheduler parallel; Slurm job
 *                                              array: --scheduler slurm > sweep.sbatch)
 *   ./build/lr_sweep --collect                 ... then build the table from their logs
 *
 * Every flag it does not know is passed to train unchanged (model, optimizer, schedule, FP8, data,
 * ... : see train --help), so a published sweep can be re-run as configured; each configuration
 * is checked with train --dry-run before anything runs. Flags the sweep sets itself (--param,
 * --width, --lr, --seed, --steps) are refused there. The defaults differ from train's in three
 * places: fp32 (--fp8 none; pass --fp8 umup for FP8), no sample, and the muP base width, which is
 * the smallest width of the sweep (where muP equals SP). The final train loss is the mean of the
 * last tenth of the steps, the validation loss that of --eval-batches validation batches at the end.
 *
 * Honest results (demos/lr_sweep_lib.h has the rules): a run counts only with a complete done line
 * and the sweep's configuration in its log; every other run stays in the table with its status
 * (crashed, killed, bad-log, mismatch, missing), its LR is never a best LR, and the sweep exits 3.
 * A run diverged when a loss is not finite or the validation loss ends above ln 256 (worse than
 * uniform); a diverged LR is never a best LR either, but divergence is a result (exit 0).
 * The table is written to a temporary file, synced and renamed over OUT/lr_sweep.csv, so an existing
 * table is never truncated, and it is not replaced at all when no run has a result.
 * Output: OUT/lr_sweep.csv, the logs in OUT/lr_sweep_logs/; make plots draws docs/lr_sweep.png.
 * Exit status: 0 every run ok or diverged; 3 some run failed or is missing (table written);
 * 1 no result at all or an I/O error (table untouched); 2 bad flags or a configuration train refuses. */
#define _POSIX_C_SOURCE 200809L
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "lr_sweep_lib.h"
#include "train_args.h"
#include "progress.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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
#define MAX_SEEDS 64
#define MAX_JOBS 100000

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
            "  --emit-jobs          print the runs as shell commands, one per line (each makes the log\n"
            "                       folder, runs train into its log and appends its exit status), and exit\n"
            "  --scheduler S        with --emit-jobs: none (the list), parallel (the same list, a GNU\n"
            "                       parallel command file), slurm (a Slurm job-array script, one task per run)\n"
            "  --collect            build the table from the logs of an earlier or external run only\n"
            "  --quick              widths 64,128; 3 LRs around each default; 40 steps of 4 x 32 tokens;\n"
            "                       width-independent heads of 16\n"
            "  --help\n"
            "Any other flag goes to train (see train --help): --layers, --seq, --batch, --warmup,\n"
            "--schedule, --mlp-expansion, --head-size, --norm, --data FILE, --fp8, --optimizer, ...\n"
            "Exit status: 0 every run ok or diverged; 3 some run crashed, was killed, has a bad log, another\n"
            "configuration or no log (the table marks it); 1 no result at all or an I/O error; 2 bad flags.\n");
}

typedef enum { SCHED_NONE = 0, SCHED_PARALLEL, SCHED_SLURM } scheduler;

typedef struct {
    umup_parametrization p;
    int width, lr_exp;
    long seed;
    char log[1400];
    pid_t pid;
    int state; /* 0 waiting, 1 running, 2 finished */
} job;

/* The whole sweep: its options, the train flags it passes on, and the job list. */
typedef struct {
    long widths[MAX_W], seeds[MAX_SEEDS];
    int nw, ns, np, par, emit, collect, quick, npass, base_width;
    int lo[MAX_P], hi[MAX_P];
    umup_parametrization params[MAX_P];
    long steps;
    scheduler sched;
    const char *out_dir, *train;
    char *pass[MAX_ARGS];
    char trainbuf[1100], logdir[1100];
    job *jobs;
    int n_jobs;
} sweep;

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

static const char *self_dir(const char *argv0, char *buf, size_t n) {
    const char *s = strrchr(argv0, '/');
    if (!s) return ".";
    if ((size_t)(s - argv0) >= n) return ".";
    memcpy(buf, argv0, (size_t)(s - argv0));
    buf[s - argv0] = 0;
    return buf;
}

/* Parses the command line into s: 0 to go on, 1 after --help, 2 on an error (printed). */
static int parse_args(sweep *s, int argc, char **argv) {
    int i, k, widths_set = 0, steps_set = 0, base_set = 0, range_set[MAX_P] = {0};
    long tmp[1];
    static const long default_widths[4] = {64, 128, 256, 512};
    char dirbuf[1024];
    memset(s, 0, sizeof *s);
    memcpy(s->widths, default_widths, sizeof default_widths);
    s->nw = 4;
    s->seeds[0] = 1;
    s->ns = 1;
    s->np = 3;
    s->params[0] = UMUP_PARAM_SP;
    s->params[1] = UMUP_PARAM_MUP;
    s->params[2] = UMUP_PARAM_UMUP;
    s->par = 1;
    s->steps = 300;
    s->out_dir = "results";
    /* default grids: around the best LRs measured at widths 64-512 (README, Results) */
    for (i = 0; i < MAX_P; i++) { s->lo[i] = -12; s->hi[i] = -6; }
    s->lo[UMUP_PARAM_UMUP] = -3; s->hi[UMUP_PARAM_UMUP] = 2;
    s->lo[UMUP_PARAM_MUS] = -5; s->hi[UMUP_PARAM_MUS] = 0;
    s->lo[UMUP_PARAM_SPECTRAL_ADAM] = -4; s->hi[UMUP_PARAM_SPECTRAL_ADAM] = 1;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 1; }
        if (!strcmp(a, "--emit-jobs")) { s->emit = 1; continue; }
        if (!strcmp(a, "--collect")) { s->collect = 1; continue; }
        if (!strcmp(a, "--quick")) { s->quick = 1; continue; }
        if (!strcmp(a, "--rope")) { if (s->npass < MAX_ARGS - 40) s->pass[s->npass++] = argv[i]; continue; }
        if (!strcmp(a, "--param") || !strcmp(a, "--width") || !strcmp(a, "--lr") || !strcmp(a, "--seed")) {
            fprintf(stderr, "lr_sweep: %s is set by the sweep: use --params, --widths, --lr-range or --seeds\n", a);
            return 2;
        }
        if (strncmp(a, "-", 1)) { fprintf(stderr, "lr_sweep: unexpected argument '%s'\n", a); usage(stderr); return 2; }
        if (!v) { fprintf(stderr, "lr_sweep: %s needs a value\n", a); usage(stderr); return 2; }
        i++;
        if (!strcmp(a, "--widths")) { s->nw = parse_ints(v, s->widths, MAX_W, 1, 65536); widths_set = 1; if (!s->nw) goto bad; }
        else if (!strcmp(a, "--seeds")) { s->ns = parse_ints(v, s->seeds, MAX_SEEDS, 0, 1000000000L); if (!s->ns) goto bad; }
        else if (!strcmp(a, "--steps")) { if (parse_ints(v, tmp, 1, 1, 1000000000L) != 1) goto bad; s->steps = tmp[0]; steps_set = 1; }
        else if (!strcmp(a, "-j")) { if (parse_ints(v, tmp, 1, 1, 256) != 1) goto bad; s->par = (int)tmp[0]; }
        else if (!strcmp(a, "--out")) { if (!*v || strlen(v) > 900) goto bad; s->out_dir = v; }
        else if (!strcmp(a, "--train")) { if (!*v || strlen(v) > 1000) goto bad; s->train = v; }
        else if (!strcmp(a, "--scheduler")) {
            if (!strcmp(v, "none")) s->sched = SCHED_NONE;
            else if (!strcmp(v, "parallel")) s->sched = SCHED_PARALLEL;
            else if (!strcmp(v, "slurm")) s->sched = SCHED_SLURM;
            else goto bad;
        } else if (!strcmp(a, "--params")) {
            s->np = train_args_parse_params(v, s->params, MAX_P);
            if (!s->np) goto bad;
        } else if (!strcmp(a, "--lr-range")) {
            char name[32], *end;
            const char *c1 = strchr(v, ':');
            umup_parametrization p;
            long lo, hi;
            if (!c1 || (size_t)(c1 - v) >= sizeof name) goto bad;
            memcpy(name, v, (size_t)(c1 - v));
            name[c1 - v] = 0;
            if (umup_param_parse(name, &p) != UMUP_OK) goto bad;
            lo = strtol(c1 + 1, &end, 10);
            if (end == c1 + 1 || *end != ':') goto bad;
            c1 = end + 1;
            hi = strtol(c1, &end, 10);
            if (end == c1 || *end || lo > hi || lo < -60 || hi > 60) goto bad;
            s->lo[p] = (int)lo;
            s->hi[p] = (int)hi;
            range_set[p] = 1;
        } else {
            /* a train flag with its value: passed through (train --dry-run checks it) */
            if (!strcmp(a, "--base-width")) base_set = 1;
            if (s->npass >= MAX_ARGS - 40) { fprintf(stderr, "lr_sweep: too many flags\n"); return 2; }
            s->pass[s->npass++] = argv[i - 1];
            s->pass[s->npass++] = argv[i];
        }
        continue;
    bad:
        fprintf(stderr, "lr_sweep: bad value '%s' for %s\n", v, a);
        usage(stderr);
        return 2;
    }
    if (s->sched != SCHED_NONE && !s->emit) { fprintf(stderr, "lr_sweep: --scheduler goes with --emit-jobs\n"); return 2; }
    if (s->emit && s->collect) { fprintf(stderr, "lr_sweep: --emit-jobs and --collect exclude each other\n"); return 2; }
    if (s->quick) {
        static char *qa[] = {(char *)"--batch", (char *)"4", (char *)"--seq", (char *)"32", (char *)"--head-size", (char *)"16",
                             (char *)"--eval-batches", (char *)"2", (char *)"--corpus-bytes", (char *)"200000"};
        if (!widths_set) { s->widths[0] = 64; s->widths[1] = 128; s->nw = 2; }
        if (!steps_set) s->steps = 40;
        for (k = 0; k < MAX_P; k++)
            if (!range_set[k]) { /* around the parametrization's default LR */
                int c = (int)floor(log2(umup_param_info_of((umup_parametrization)k)->default_lr) + 0.5);
                s->lo[k] = c - 1;
                s->hi[k] = c + 1;
            }
        /* the quick defaults go first so that the user's flags override them */
        if (s->npass + 10 > MAX_ARGS - 40) { fprintf(stderr, "lr_sweep: too many flags\n"); return 2; }
        memmove(s->pass + 10, s->pass, sizeof(char *) * (size_t)s->npass);
        memcpy(s->pass, qa, sizeof qa);
        s->npass += 10;
    }
    if (!base_set) {
        s->base_width = (int)s->widths[0];
        for (k = 1; k < s->nw; k++)
            if (s->widths[k] < s->base_width) s->base_width = (int)s->widths[k];
    }
    if (!s->train) {
        snprintf(s->trainbuf, sizeof s->trainbuf, "%s/train", self_dir(argv[0], dirbuf, sizeof dirbuf));
        s->train = s->trainbuf;
    }
    snprintf(s->logdir, sizeof s->logdir, "%s/lr_sweep_logs", s->out_dir);
    return 0;
}

/* The job list: every (param, width, LR, seed), in that nesting. 0, or 2 when it is too long. */
static int make_jobs(sweep *s) {
    long n = 0;
    int k, w, e, r;
    for (k = 0; k < s->np; k++) n += (long)(s->hi[s->params[k]] - s->lo[s->params[k]] + 1) * s->nw * s->ns;
    if (n > MAX_JOBS) { fprintf(stderr, "lr_sweep: %ld runs is more than %d\n", n, MAX_JOBS); return 2; }
    s->jobs = (job *)calloc((size_t)n, sizeof(job));
    if (!s->jobs) { fprintf(stderr, "lr_sweep: out of memory\n"); return 1; }
    for (k = 0; k < s->np; k++)
        for (w = 0; w < s->nw; w++)
            for (e = s->lo[s->params[k]]; e <= s->hi[s->params[k]]; e++)
                for (r = 0; r < s->ns; r++) {
                    job *j = &s->jobs[s->n_jobs++];
                    j->p = s->params[k];
                    j->width = (int)s->widths[w];
                    j->lr_exp = e;
                    j->seed = s->seeds[r];
                    snprintf(j->log, sizeof j->log, "%s/%s_w%d_lr2^%d_s%ld.log", s->logdir, umup_param_name(j->p), j->width, e,
                             j->seed);
                }
    return 0;
}

/* argv of one train run: the fixed defaults, the user's pass-through flags (which override the
 * defaults), then the values the sweep sets. bufs: 8 strings of 64 bytes. */
static int build_argv(char **av, char bufs[][64], const sweep *s, const job *j) {
    int n = 0, k, b = 0;
    av[n++] = (char *)s->train;
    av[n++] = (char *)"--quiet";
    av[n++] = (char *)"--fp8";
    av[n++] = (char *)"none";
    av[n++] = (char *)"--sample";
    av[n++] = (char *)"0";
    av[n++] = (char *)"--eval-interval";
    snprintf(bufs[b], 64, "%ld", s->steps >= 10 ? (s->steps + 9) / 10 : 1); av[n++] = bufs[b++];
    if (s->base_width > 0) {
        av[n++] = (char *)"--base-width";
        snprintf(bufs[b], 64, "%d", s->base_width); av[n++] = bufs[b++];
    }
    for (k = 0; k < s->npass; k++) av[n++] = s->pass[k];
    av[n++] = (char *)"--param";
    av[n++] = (char *)umup_param_name(j->p);
    av[n++] = (char *)"--width";
    snprintf(bufs[b], 64, "%d", j->width); av[n++] = bufs[b++];
    av[n++] = (char *)"--lr";
    snprintf(bufs[b], 64, "%.17g", ldexp(1.0, j->lr_exp)); av[n++] = bufs[b++];
    av[n++] = (char *)"--seed";
    snprintf(bufs[b], 64, "%ld", j->seed); av[n++] = bufs[b++];
    av[n++] = (char *)"--steps";
    snprintf(bufs[b], 64, "%ld", s->steps); av[n++] = bufs[b++];
    av[n] = NULL;
    return n;
}

/* The configuration line train prints for this job ("config ..." without the prefix), computed
 * here by the same parser and formatter (train_args.h), so that a log can be checked against it
 * without running anything. 0 on success, 2 when the flags do not parse (the error is printed). */
static int job_config(const sweep *s, const job *j, char *out, size_t n) {
    char *av[MAX_ARGS + 32], bufs[8][64];
    int ac = build_argv(av, bufs, s, j);
    train_args ta;
    train_opts o;
    train_args_init(&ta);
    train_opts_init(&o);
    if (train_args_parse(&ta, ac, av, "lr_sweep (a train flag)", "", train_opts_flags, TRAIN_OPTS_NFLAGS, &o) != 0) return 2;
    train_args_finish(&ta);
    train_args_config_line(&ta, out, n);
    return 0;
}

/* Writes s as one shell word: plain when it only has safe characters, else in single quotes. */
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

/* One job as a shell command line: make the log folder, run train into the log, append the exit
 * status (the shell's: 128 + signal when killed) so that --collect can tell a crash from a kill. */
static void print_job(FILE *f, const sweep *s, const job *j) {
    char *av[MAX_ARGS + 32], bufs[8][64];
    int n = build_argv(av, bufs, s, j), a;
    fputs("mkdir -p ", f);
    print_quoted(f, s->logdir);
    fputs(" && ", f);
    for (a = 0; a < n; a++) {
        if (a) fputc(' ', f);
        print_quoted(f, av[a]);
    }
    fputs(" > ", f);
    print_quoted(f, j->log);
    fputs(" 2>&1; echo \"exit_status=$?\" >> ", f);
    print_quoted(f, j->log);
    fputc('\n', f);
}

/* --emit-jobs: the job list (none, parallel) or a Slurm job-array script around the same list. */
static int emit_jobs(const sweep *s, FILE *f) {
    int k;
    if (s->sched == SCHED_SLURM) {
        char cwd[4096];
        if (!getcwd(cwd, sizeof cwd)) { fprintf(stderr, "lr_sweep: getcwd: %s\n", strerror(errno)); return 1; }
        fprintf(f,
                "#!/bin/bash\n"
                "# A Slurm job array of %d lr_sweep runs, one array task each (lr_sweep --emit-jobs --scheduler slurm).\n"
                "#   sbatch THIS_FILE                       submit (sbatch options override the #SBATCH lines)\n"
                "#   bash THIS_FILE                         outside Slurm: print the job list (= lr_sweep --emit-jobs)\n"
                "#   SLURM_ARRAY_TASK_ID=K bash THIS_FILE   run task K (0 .. %d) here\n"
                "# Every task writes its log into the folder below, where lr_sweep --collect (with the same flags)\n"
                "# finds it, with train's exit status; a task that crashes or is killed is reported, not dropped.\n"
                "#SBATCH --job-name=lr_sweep\n"
                "#SBATCH --array=0-%d\n"
                "#SBATCH --ntasks=1\n"
                "#SBATCH --cpus-per-task=1\n"
                "set -u\n"
                "cd ",
                s->n_jobs, s->n_jobs - 1, s->n_jobs - 1);
        print_quoted(f, cwd);
        fputs(" || exit 1\n", f);
        fputs("lr_sweep_jobs=$(cat <<'LR_SWEEP_JOBS'\n", f);
        for (k = 0; k < s->n_jobs; k++) print_job(f, s, &s->jobs[k]);
        fputs("LR_SWEEP_JOBS\n)\n", f);
        fprintf(f,
                "if [ -z \"${SLURM_ARRAY_TASK_ID:-}\" ]; then printf '%%s\\n' \"$lr_sweep_jobs\"; exit 0; fi\n"
                "case $SLURM_ARRAY_TASK_ID in ''|*[!0-9]*) echo \"bad SLURM_ARRAY_TASK_ID '$SLURM_ARRAY_TASK_ID'\" >&2; exit 2;; esac\n"
                "job=$(printf '%%s\\n' \"$lr_sweep_jobs\" | sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\")\n"
                "[ -n \"$job\" ] || { echo \"no task $SLURM_ARRAY_TASK_ID: the array is 0-%d\" >&2; exit 2; }\n"
                "mkdir -p ",
                s->n_jobs - 1);
        print_quoted(f, s->logdir);
        fputs(" || exit 1\n"
              "export OMP_NUM_THREADS=${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}\n"
              "eval \"$job\"\n"
              "# the task's own exit status is train's (the job line ends with appending it to the log)\n"
              "st=$(eval \"sed -n 's/^exit_status=//p' ${job##*>> }\" | tail -n 1)\n"
              "exit \"${st:-1}\"\n",
              f);
    } else {
        for (k = 0; k < s->n_jobs; k++) print_job(f, s, &s->jobs[k]);
    }
    if (fflush(f) != 0 || ferror(f)) { fprintf(stderr, "lr_sweep: cannot write the job list\n"); return 1; }
    if (s->sched == SCHED_SLURM)
        fprintf(stderr, "lr_sweep: a job array of %d runs; submit it with sbatch, then run lr_sweep --collect with the same flags\n",
                s->n_jobs);
    else
        fprintf(stderr,
                "lr_sweep: %d runs, one shell command per line (run them with sh FILE, or GNU parallel: parallel --jobs N < FILE);\n"
                "lr_sweep: then lr_sweep --collect with the same flags builds the table from %s\n",
                s->n_jobs, s->logdir);
    return 0;
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

/* The exit status as the shell reports it: the code, or 128 + the signal. */
static int shell_status(int st) {
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return 255;
}

static void append_exit_status(const char *log, int status) {
    char line[32];
    int n = snprintf(line, sizeof line, "exit_status=%d\n", status);
    int fd = open(log, O_WRONLY | O_APPEND | O_CREAT, 0666);
    if (fd < 0) return;
    if (write(fd, line, (size_t)n) != n) fprintf(stderr, "lr_sweep: cannot append to %s\n", log);
    close(fd);
}

/* Checks every (param, width) configuration once with train --dry-run. 0, or 2 (printed). */
static int dry_run(const sweep *s) {
    int k, a;
    char chk[1200];
    snprintf(chk, sizeof chk, "%s/dry_run.log", s->logdir);
    for (k = 0; k < s->n_jobs; k++) {
        char *av[MAX_ARGS + 32], bufs[8][64];
        int n, prev = 0, st;
        pid_t pid;
        for (a = 0; a < k && !prev; a++) prev = s->jobs[a].p == s->jobs[k].p && s->jobs[a].width == s->jobs[k].width;
        if (prev) continue;
        n = build_argv(av, bufs, s, &s->jobs[k]);
        av[n++] = (char *)"--dry-run";
        av[n] = NULL;
        pid = spawn(av, chk);
        if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            char line[512];
            FILE *f = fopen(chk, "r");
            fprintf(stderr, "lr_sweep: train refuses the configuration %s width %d:\n", umup_param_name(s->jobs[k].p), s->jobs[k].width);
            while (f && fgets(line, sizeof line, f)) fputs(line, stderr);
            if (f) fclose(f);
            return 2;
        }
    }
    return 0;
}

/* Runs every job, par at a time; each log ends with the exit status. 0, or 1 on a system error. */
static int run_jobs(sweep *s) {
    int running = 0, next = 0, done_n = 0, k;
    progress prog;
    char what[1700]; /* a run and its log path */
    if (s->par > 1 && !getenv("OMP_NUM_THREADS")) {
        char nt[32];
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        snprintf(nt, sizeof nt, "%ld", cores / s->par > 1 ? cores / s->par : 1);
        setenv("OMP_NUM_THREADS", nt, 1);
    }
    fprintf(stderr, "lr_sweep: %d runs, %d at a time, logs in %s\n", s->n_jobs, s->par, s->logdir);
    progress_start(&prog, s->n_jobs);
    while (done_n < s->n_jobs) {
        int st;
        pid_t pid;
        while (running < s->par && next < s->n_jobs) {
            char *av[MAX_ARGS + 32], bufs[8][64];
            build_argv(av, bufs, s, &s->jobs[next]);
            s->jobs[next].pid = spawn(av, s->jobs[next].log);
            if (s->jobs[next].pid < 0) {
                fprintf(stderr, "lr_sweep: cannot start a process: %s\n", strerror(errno));
                append_exit_status(s->jobs[next].log, 127);
                s->jobs[next].state = 2;
                done_n++;
                progress_step(&prog, stderr, "lr_sweep", "a run could not start");
                next++;
                continue;
            }
            s->jobs[next].state = 1;
            running++;
            next++;
        }
        if (!running) continue;
        pid = waitpid(-1, &st, 0);
        if (pid < 0) {
            if (errno == EINTR) continue;
            fprintf(stderr, "lr_sweep: waitpid: %s\n", strerror(errno));
            return 1;
        }
        for (k = 0; k < next; k++)
            if (s->jobs[k].pid == pid && s->jobs[k].state == 1) {
                const job *j = &s->jobs[k];
                sweep_log lg;
                s->jobs[k].state = 2;
                running--;
                done_n++;
                append_exit_status(j->log, shell_status(st));
                if (sweep_read_log(j->log, &lg) && lg.has_done && lg.has_exit && (lg.exit_status == 0 || lg.exit_status == 3))
                    snprintf(what, sizeof what, "%s width %d lr 2^%d seed %ld: val %.4f", umup_param_name(j->p), j->width,
                             j->lr_exp, j->seed, lg.val_loss);
                else
                    snprintf(what, sizeof what, "%s width %d lr 2^%d seed %ld: no result, exit status %d (see %s)",
                             umup_param_name(j->p), j->width, j->lr_exp, j->seed, shell_status(st), j->log);
                progress_step(&prog, stderr, "lr_sweep", what);
            }
    }
    return 0;
}

/* Writes the table to a temporary file next to path, syncs it and renames it over path (then syncs
 * the folder): an existing table is replaced whole or not at all. 0, or 1 (printed). */
static int write_table(const char *dir, const char *path, const sweep_row *rows, int n) {
    char tmp[1200];
    FILE *f;
    int k, ok, dfd;
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    f = fopen(tmp, "w");
    if (!f) { fprintf(stderr, "lr_sweep: cannot write %s: %s\n", tmp, strerror(errno)); return 1; }
    fprintf(f, "param,width,lr,seed,final_train_loss,final_val_loss,diverged,status\n");
    for (k = 0; k < n; k++) {
        const sweep_row *r = &rows[k];
        if (sweep_is_result(r->status))
            fprintf(f, "%s,%d,%.9g,%ld,%.6f,%.6f,%d,%s\n", r->param, r->width, r->lr, r->seed, r->train_loss, r->val_loss,
                    r->diverged, sweep_status_name(r->status));
        else
            fprintf(f, "%s,%d,%.9g,%ld,nan,nan,0,%s\n", r->param, r->width, r->lr, r->seed, sweep_status_name(r->status));
    }
    ok = fflush(f) == 0 && !ferror(f) && fsync(fileno(f)) == 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "lr_sweep: cannot write %s: %s (the previous table, if any, is unchanged)\n", path, strerror(errno));
        remove(tmp);
        return 1;
    }
    dfd = open(dir, O_RDONLY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* Reads every job's log, classifies it, writes the table and prints the best LRs. Returns the exit
 * status: 0 all results, 3 some failed or missing, 1 no result or an I/O error, 2 bad flags. */
static int tabulate(const sweep *s) {
    sweep_row *rows = (sweep_row *)calloc((size_t)s->n_jobs, sizeof(sweep_row));
    int counts[SWEEP_STATUS_COUNT] = {0}, k, results = 0, failed, rc = 0, reported = 0;
    char path[1100], want[2048], why[512];
    if (!rows) { fprintf(stderr, "lr_sweep: out of memory\n"); return 1; }
    for (k = 0; k < s->n_jobs; k++) {
        const job *j = &s->jobs[k];
        sweep_row *r = &rows[k];
        sweep_log lg;
        int have = sweep_read_log(j->log, &lg);
        if (job_config(s, j, want, sizeof want) != 0) { free(rows); return 2; }
        r->status = sweep_classify(have ? &lg : NULL, s->steps, 256, want, why, sizeof why);
        snprintf(r->param, sizeof r->param, "%s", umup_param_name(j->p));
        r->width = j->width;
        r->lr = ldexp(1.0, j->lr_exp);
        r->seed = j->seed;
        r->train_loss = sweep_is_result(r->status) ? lg.train_loss : NAN;
        r->val_loss = sweep_is_result(r->status) ? lg.val_loss : NAN;
        r->diverged = r->status == SWEEP_DIVERGED;
        counts[r->status]++;
        results += sweep_is_result(r->status);
        if (!sweep_is_result(r->status) && (r->status != SWEEP_MISSING || reported < 10)) {
            fprintf(stderr, "lr_sweep: %s: %s (%s)\n", j->log, sweep_status_name(r->status), why);
            reported += r->status == SWEEP_MISSING;
        }
    }
    if (counts[SWEEP_MISSING] > reported) fprintf(stderr, "lr_sweep: ... and %d more missing logs\n", counts[SWEEP_MISSING] - reported);
    snprintf(path, sizeof path, "%s/lr_sweep.csv", s->out_dir);
    if (results == 0) {
        fprintf(stderr, "lr_sweep: no run has a result in %s: %s left as it was\n", s->logdir, path);
        free(rows);
        return 1;
    }
    if (write_table(s->out_dir, path, rows, s->n_jobs) != 0) { free(rows); return 1; }
    for (k = 0; k < s->np; k++) {
        int w, e_min = 1000, e_max = -1000, have = 0;
        const char *pn = umup_param_name(s->params[k]);
        for (w = 0; w < s->nw; w++) {
            double lr = 0, loss = 0;
            int inc = 0;
            if (sweep_best_lr(rows, s->n_jobs, pn, (int)s->widths[w], &lr, &loss, &inc)) {
                int e = (int)lround(log2(lr));
                int edge = e == s->lo[s->params[k]] || e == s->hi[s->params[k]];
                printf("best param=%s width=%ld lr=%.9g log2_lr=%d val_loss=%.4f%s", pn, s->widths[w], lr, e, loss,
                       edge ? " (at the edge of the grid: widen --lr-range)" : "");
                if (inc) printf(" (%d LRs without a complete set of results left out)", inc);
                printf("\n");
                if (e < e_min) e_min = e;
                if (e > e_max) e_max = e;
                have++;
            } else
                printf("best param=%s width=%ld lr=nan (every LR diverged, failed or is missing)\n", pn, s->widths[w]);
        }
        if (have) printf("transfer param=%s best_lr_spread_grid_steps=%d widths=%d\n", pn, e_max - e_min, have);
    }
    failed = s->n_jobs - results;
    printf("runs: %d", s->n_jobs);
    for (k = 0; k < SWEEP_STATUS_COUNT; k++)
        if (counts[k]) printf(" %s=%d", sweep_status_name((sweep_status)k), counts[k]);
    printf("\nwrote %s (%d rows%s)\n", path, s->n_jobs, failed ? ", failed and missing runs marked in the status column" : "");
    if (failed) rc = 3;
    free(rows);
    return rc;
}

int main(int argc, char **argv) {
    sweep *s = (sweep *)calloc(1, sizeof(sweep));
    int rc;
    if (!s) { fprintf(stderr, "lr_sweep: out of memory\n"); return 1; }
    rc = parse_args(s, argc, argv);
    if (rc == 1) rc = 0;
    else if (rc == 0) {
        rc = make_jobs(s);
        if (rc == 0 && s->emit) rc = emit_jobs(s, stdout);
        else if (rc == 0) {
            if (!s->collect && access(s->train, X_OK) != 0) {
                fprintf(stderr, "lr_sweep: cannot run %s (build it with make demos, or pass --train PATH)\n", s->train);
                rc = 1;
            } else if (!s->collect) {
                if ((mkdir(s->out_dir, 0777) != 0 && errno != EEXIST) || (mkdir(s->logdir, 0777) != 0 && errno != EEXIST)) {
                    fprintf(stderr, "lr_sweep: cannot make %s: %s\n", s->logdir, strerror(errno));
                    rc = 1;
                }
                if (rc == 0) rc = dry_run(s);
                if (rc == 0) rc = run_jobs(s);
            }
            if (rc == 0) rc = tabulate(s);
        }
    }
    free(s->jobs);
    free(s);
    return rc;
}
