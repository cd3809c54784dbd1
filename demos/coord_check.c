/* demos/coord_check.c - a mup-style coordinate check.
 *
 * For each parametrization and width, trains a model for k steps on one fixed batch and records,
 * before each update (steps t = 1 ... k), the mean |x| and the RMS of every module's output: the
 * embedding, each layer's qkv projection, attention, output projection, residual streams, MLP
 * projections and activation, the final norm and the logits. Under muP and u-muP these curves
 * are flat across widths (hidden activations neither blow up nor vanish as the model widens);
 * under SP they grow with width once the weights have been updated.
 *
 *   ./build/coord_check                              widths 64..1024, SP, muP and u-muP, 5 steps
 *   ./build/coord_check --quick                      widths 64, 128, 256, 3 steps, small batch (< 1 min)
 *   ./build/coord_check --params umup,mus --widths 128,512 --check-steps 8 --lr 1
 *
 * Every flag of demos/train is accepted (model, optimizer, data); the defaults differ only in
 * the schedule (constant LR without warmup, the parametrization's default LR, see train --help) and
 * the muP base width (default: the smallest width of the list, where muP equals SP).
 * Output: OUT/coord_check.csv with rows param,width,step,module,layer,mean_abs,rms, and one
 * summary line per parametrization and step:
 *   coord param=<p> step=<t> max_growth_4x=<r> module=<m> min_ratio_4x=<r>
 * where max_growth_4x is the largest ratio mean|x|(4w) / mean|x|(w) over modules and widths w,
 * 4w in the list (1 = flat; > 1 grows with width), min_ratio_4x the smallest, and
 * max_growth_<w>to<4w> the largest for the widest such pair alone. make plots
 * renders docs/coord_check_<param>.png from the CSV. */
#define _POSIX_C_SOURCE 200809L
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "train_args.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_W 32
#define MAX_P 8

static void usage(FILE *f) {
    fprintf(f,
            "usage: coord_check [options] [train flags]\n"
            "  --widths LIST        comma-separated widths (default 64,128,256,512,1024)\n"
            "  --params LIST        parametrizations (default sp,mup,umup; also mus, spectral)\n"
            "  --check-steps K      steps t = 1..K recorded before each update (default 5)\n"
            "  --out DIR            output folder (default results)\n"
            "  --quick              widths 64,128,256, 3 steps, batch 4, seq 64, 2 layers\n"
            "  --help\n"
            "train flags (same meaning as in demos/train; --steps is ignored):\n%s",
            train_args_usage);
}

#define DIE(...) do { fprintf(stderr, "coord_check: " __VA_ARGS__); fputc('\n', stderr); exit(1); } while (0)

static int parse_list(const char *s, int *out, int max) {
    int n = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 65536 || n == max) return 0;
        out[n++] = (int)v;
        s = end;
        if (*s == ',') s++;
        else if (*s) return 0;
    }
    return n;
}

/* one recorded value */
typedef struct {
    int p, w, t;
    char module[48];
    double mean_abs, rms;
} rec;

int main(int argc, char **argv) {
    train_args ta;
    int widths[MAX_W] = {64, 128, 256, 512, 1024}, nw = 5, np = 3, k = 5, quick = 0, i, pi, wi, t;
    umup_parametrization params[MAX_P] = {UMUP_PARAM_SP, UMUP_PARAM_MUP, UMUP_PARAM_UMUP};
    const char *out_dir = "results";
    int widths_set = 0, k_set = 0, lr_set, warmup_set, batch_set = 0, seq_set = 0, layers_set = 0;
    char path[1024];
    FILE *csv;
    umup_dataset ds;
    rec *recs = NULL;
    size_t nrec = 0, caprec = 0;

    train_args_init(&ta);
    ta.oc.schedule.decay = UMUP_SCHED_CONSTANT;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int r;
        double x;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        if (!strcmp(a, "--quick")) { quick = 1; continue; }
        if (!strcmp(a, "--batch")) batch_set = 1;
        if (!strcmp(a, "--seq")) seq_set = 1;
        if (!strcmp(a, "--layers") || !strcmp(a, "--depth")) layers_set = 1;
        r = train_args_parse(&ta, argc, argv, &i, "coord_check");
        if (r < 0) { usage(stderr); return 2; }
        if (r > 0) continue;
        if (!strcmp(a, "--widths") || !strcmp(a, "--params") || !strcmp(a, "--check-steps") || !strcmp(a, "--out")) {
            if (!v) { fprintf(stderr, "coord_check: %s needs a value\n", a); usage(stderr); return 2; }
            i++;
            if (!strcmp(a, "--widths")) { nw = parse_list(v, widths, MAX_W); widths_set = 1; if (!nw) goto bad; }
            else if (!strcmp(a, "--params")) { np = train_args_parse_params(v, params, MAX_P); if (!np) goto bad; }
            else if (!strcmp(a, "--check-steps")) { if (!train_args_num(v, 1, 1000, &x)) goto bad; k = (int)x; k_set = 1; }
            else out_dir = v;
            continue;
        bad:
            fprintf(stderr, "coord_check: bad value '%s' for %s\n", v, a);
            usage(stderr);
            return 2;
        }
        fprintf(stderr, "coord_check: unknown option %s\n", a);
        usage(stderr);
        return 2;
    }
    if (quick) {
        if (!widths_set) { widths[0] = 64; widths[1] = 128; widths[2] = 256; nw = 3; }
        if (!k_set) k = 3;
        if (!batch_set) ta.batch = 4;
        if (!seq_set) ta.seq = 64;
        if (!layers_set) ta.mc.layers = 2;
    }
    /* muP equals SP at its base width: a fixed base width (the smallest width) makes the widths differ */
    if (ta.mc.param.base_width == 0) {
        int wmin = widths[0];
        for (i = 1; i < nw; i++) if (widths[i] < wmin) wmin = widths[i];
        ta.mc.param.base_width = wmin;
    }
    lr_set = ta.lr != 0;
    warmup_set = ta.warmup >= 0;
    if (!warmup_set) ta.warmup = 0;
    ta.steps = k;

    if (train_args_dataset(&ta, &ds) != UMUP_OK) DIE("cannot load data %s", ta.data_path ? ta.data_path : "(embedded corpus)");
    mkdir(out_dir, 0777);
    snprintf(path, sizeof path, "%s/coord_check.csv", out_dir);
    csv = fopen(path, "w");
    if (!csv) DIE("cannot write %s", path);
    fprintf(csv, "param,width,step,module,layer,mean_abs,rms\n");

    for (pi = 0; pi < np; pi++) {
        for (wi = 0; wi < nw; wi++) {
            train_args a = ta;
            umup_trainer *tr = NULL;
            umup_model *m;
            umup_status st;
            int B, T;
            int32_t *ids, *tg;
            a.mc.param.param = params[pi];
            a.mc.width = widths[wi];
            if (!lr_set) a.lr = 0;
            train_args_finish(&a);
            B = (int)a.batch;
            T = (int)a.seq;
            st = umup_trainer_create(&tr, &a.mc, &a.oc, B);
            if (st != UMUP_OK) DIE("%s width %d: invalid configuration: %s", umup_param_name(params[pi]), widths[wi], umup_status_string(st));
            m = umup_trainer_model(tr);
            umup_model_record_stats(m, 1);
            ids = (int32_t *)malloc(sizeof(int32_t) * (size_t)B * T);
            tg = (int32_t *)malloc(sizeof(int32_t) * (size_t)B * T);
            if (!ids || !tg) DIE("out of memory");
            if (umup_dataset_batch(&ds, 0, (uint64_t)a.seed, 0, B, T, ids, tg) != UMUP_OK) DIE("the data is shorter than --seq + 1");
            for (t = 1; t <= k; t++) {
                float loss;
                int n, j;
                const umup_tensor_stats *s;
                st = umup_trainer_step(tr, ids, tg, B, T, &loss);
                s = umup_model_stats(m, &n);
                if (st != UMUP_OK && st != UMUP_ERR_NONFINITE) DIE("step failed: %s", umup_status_string(st));
                for (j = 0; j < n; j++) {
                    if (s[j].kind != UMUP_STAT_OUTPUT) continue;
                    fprintf(csv, "%s,%d,%d,%s,%d,%.6g,%.6g\n", umup_param_name(params[pi]), widths[wi], t, s[j].name,
                            s[j].layer, s[j].mean_abs, s[j].rms);
                    if (nrec == caprec) {
                        caprec = caprec ? 2 * caprec : 1024;
                        recs = (rec *)realloc(recs, caprec * sizeof(rec));
                        if (!recs) DIE("out of memory");
                    }
                    recs[nrec].p = pi; recs[nrec].w = widths[wi]; recs[nrec].t = t;
                    snprintf(recs[nrec].module, sizeof recs[nrec].module, "%s", s[j].name);
                    recs[nrec].mean_abs = s[j].mean_abs;
                    recs[nrec].rms = s[j].rms;
                    nrec++;
                }
                if (st == UMUP_ERR_NONFINITE) { printf("%s width %d: not finite at step %d\n", umup_param_name(params[pi]), widths[wi], t); break; }
            }
            fflush(csv);
            fprintf(stderr, "coord_check: %s width %d done (lr %g)\n", umup_param_name(params[pi]), widths[wi], a.oc.lr);
            free(ids);
            free(tg);
            umup_trainer_destroy(tr);
        }
        /* summary: the largest and smallest ratio between widths 4x apart, per step */
        for (t = 1; t <= k; t++) {
            double gmax = 0, gmin = 1e300, wmax = 0;
            const char *worst = "-";
            int wtop = 0;
            size_t x, y;
            for (x = 0; x < nrec; x++) {
                if (recs[x].p != pi || recs[x].t != t) continue;
                for (y = 0; y < nrec; y++) {
                    double r;
                    if (recs[y].p != pi || recs[y].t != t || recs[y].w != 4 * recs[x].w || strcmp(recs[x].module, recs[y].module)) continue;
                    if (!(recs[x].mean_abs > 0)) continue;
                    r = recs[y].mean_abs / recs[x].mean_abs;
                    if (r > gmax || r != r) { gmax = r; worst = recs[x].module; }
                    if (r < gmin) gmin = r;
                    if (recs[x].w > wtop) { wtop = recs[x].w; wmax = 0; }
                    if (recs[x].w == wtop && r > wmax) wmax = r;
                }
            }
            if (gmax > 0)
                printf("coord param=%s step=%d max_growth_4x=%.3f module=%s min_ratio_4x=%.3f max_growth_%dto%d=%.3f\n",
                       umup_param_name(params[pi]), t, gmax, worst, gmin, wtop, 4 * wtop, wmax);
            else printf("coord param=%s step=%d max_growth_4x=nan module=- min_ratio_4x=nan (no widths 4x apart)\n", umup_param_name(params[pi]), t);
        }
        fflush(stdout);
    }
    fclose(csv);
    printf("wrote %s (%zu rows)\n", path, nrec);
    free(recs);
    umup_dataset_free(&ds);
    return 0;
}
