/* demos/coord_check.c - a mup-style coordinate check.
 *
 * For each parametrization and width, trains a model for k steps on one fixed batch and records,
 * before each update (steps t = 1 ... k), the mean |x| and the RMS of every module's output: the
 * embedding, each layer's qkv projection, attention, output projection, residual streams, MLP
 * projections and activation, the final norm and the logits. Under muP and u-muP these curves
 * are flat across widths (hidden activations neither blow up nor vanish as the model widens);
 * under SP they grow with width once the weights have been updated.
 *
 *   ./build/coord_check                              widths 64..1024, every parametrization, 5 steps
 *   ./build/coord_check --quick                      widths 64, 128, 256, 3 steps, small batch (< 1 min)
 *   ./build/coord_check --params umup,mus --widths 128,512 --check-steps 8 --lr 1
 *   ./build/coord_check --params umup --widths 256,1024 --freeze mlp.linear_2 --label frozen --append
 *   ./build/coord_check --params mup --seeds 4       each value the mean over seeds 1..4
 *
 * Every flag of demos/train is accepted (model, optimizer, data); the defaults differ in the
 * schedule (constant LR without warmup at the parametrization's default LR, see train --help), in
 * fp32 (--fp8 none) and no gradient clipping (--clip 0): the check measures the parametrization
 * alone (give --fp8 / --clip to see their effect), and in the muP base width (default: the smallest
 * width of the list, where muP equals SP). The first output line states these settings.
 * Output: OUT/coord_check.csv with rows param,width,step,module,layer,mean_abs,rms;
 * OUT/coord_check_summary.csv with rows label,param,step,max_ratio_4x,max_module,min_ratio_4x,
 * min_module,max_ratio_top,logits_min,logits_max; and one summary line per parametrization and step:
 *   coord param=<p> step=<t> max_growth_4x=<r> module=<m> min_ratio_4x=<r> min_module=<m> max_growth_<w>to<4w>=<r>
 *     logits_4x=<lo>..<hi>
 * With --seeds N every mean |x| and RMS is the mean over N runs (seeds S ... S+N-1 for the
 * initialisation and the batch, as mup's coordinate check averages over nseeds), which takes the
 * initialisation noise of one seed out of the ratios; the CSV then holds the means.
 * max_growth_4x is the largest ratio mean|x|(4w) / mean|x|(w) over the modules and widths w,
 * 4w in the list (1 = flat; > 1 grows with width), min_ratio_4x the smallest, and
 * max_growth_<w>to<4w> (max_ratio_top) the largest for the widest such pair alone. The logits
 * (module "projection") are reported apart, as logits_4x: the muP family's readouts (mup's MuReadout,
 * the 1/fan_in readout of u-muP and muS) start them at Theta(1/sqrt(width)) by design (TP-V Table 3:
 * output init variance 1/fan_in^2), a ratio of 1/2 per 4x width at step 1, until the first
 * updates make them Theta(1). --append adds
 * to OUT's CSVs instead of replacing them, --label names the run in the summary (default: the
 * parametrization). make plots renders docs/coord_check_<param>.png from the CSV, and
 * docs/coord_check_levers.png from results/levers/coord_check_summary.csv. */
#define _POSIX_C_SOURCE 200809L
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "train_args.h"
#include "progress.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/stat.h>

#define MAX_W 32
#define MAX_P 8

/* coord_check's own flags (the shared ones are in train_args.h) */
typedef struct {
    const char *widths, *params, *out, *freeze, *label;
    int check_steps, quick, append, seeds;
} cc_opts;

#define CO(f) offsetof(cc_opts, f)
static const ta_flag cc_flags[] = {
    {"--widths", NULL, "LIST", TA_STRING, CO(widths), 0, 0, NULL, "comma-separated widths", NULL, "coord_check"},
    {"--params", NULL, "LIST", TA_STRING, CO(params), 0, 0, NULL, "parametrizations", NULL, "coord_check"},
    {"--check-steps", NULL, "K", TA_INT, CO(check_steps), 1, 1000, NULL, "steps t = 1..K recorded before each update", NULL, "coord_check"},
    {"--seeds", NULL, "N", TA_INT, CO(seeds), 1, 1000, NULL, "average every value over N runs with seeds S, S+1, ... (init and batch; mup's nseeds)", "1", "coord_check"},
    {"--freeze", NULL, "NAME", TA_STRING, CO(freeze), 0, 0, NULL, "do not update the tensors whose name contains NAME (e.g. mlp.linear_2)", "none", "coord_check"},
    {"--out", NULL, "DIR", TA_STRING, CO(out), 0, 0, NULL, "output folder", NULL, "coord_check"},
    {"--label", NULL, "NAME", TA_STRING, CO(label), 0, 0, NULL, "name of the run in the summary CSV", "the parametrization", "coord_check"},
    {"--append", NULL, NULL, TA_SWITCH, CO(append), 0, 0, NULL, "add to OUT's CSVs instead of replacing them", "off", "coord_check"},
    {"--quick", NULL, NULL, TA_SWITCH, CO(quick), 0, 0, NULL, "widths 64,128,256, 3 steps, batch 4, seq 64, 2 layers", NULL, "coord_check"},
};
#undef CO

static const char cc_intro[] =
    "usage: coord_check [options] [train flags]\n"
    "Train flags have the same meaning as in demos/train (--steps is ignored); the defaults differ in the\n"
    "schedule (constant LR, no warmup), fp32 (--fp8 none), no clipping (--clip 0) and muP's base width\n"
    "(the smallest width of the list).\n";

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
    int p, w, t, layer;
    char module[48];
    double mean_abs, rms;
} rec;

/* Opens OUT/name for writing (or appending), with its header when the file is new. */
static FILE *open_csv(const char *dir, const char *name, const char *header, int append, char *path, size_t cap) {
    FILE *f;
    struct stat st;
    int fresh;
    snprintf(path, cap, "%s/%s", dir, name);
    fresh = !append || stat(path, &st) != 0 || st.st_size == 0;
    f = fopen(path, fresh ? "w" : "a");
    if (f && fresh) fprintf(f, "%s\n", header);
    return f;
}

int main(int argc, char **argv) {
    train_args ta;
    cc_opts o;
    int widths[MAX_W], nw, np, k, i, pi, wi, t, rc;
    umup_parametrization params[MAX_P];
    char path[1024], spath[1024], what[160];
    progress prog;
    FILE *csv, *scsv;
    umup_dataset ds;
    rec *recs = NULL;
    size_t nrec = 0, caprec = 0;

    train_args_init(&ta);
    /* as if --schedule constant --warmup 0 --fp8 none --clip 0 were given */
    ta.oc.schedule.decay = UMUP_SCHED_CONSTANT;
    ta.mc.fp8 = UMUP_FP8_SIM_NONE;
    ta.oc.clip_norm = 0.0;
    ta.set[train_args_find("--schedule")] = ta.set[train_args_find("--warmup")] = ta.set[train_args_find("--clip")] = 1;
    memset(&o, 0, sizeof o);
    o.widths = "64,128,256,512,1024";
    o.params = "sp,mup,umup,mus,spectral-nanotron,spectral-adam";
    o.out = "results";
    o.check_steps = 5;
    o.seeds = 1;
    rc = train_args_parse(&ta, argc, argv, "coord_check", cc_intro, cc_flags, (int)(sizeof cc_flags / sizeof cc_flags[0]), &o);
    if (rc) return rc == 1 ? 0 : 2;
    if (o.quick) {
        if (!strcmp(o.widths, "64,128,256,512,1024")) o.widths = "64,128,256";
        if (o.check_steps == 5) o.check_steps = 3;
        if (!train_args_given(&ta, "--batch")) ta.batch = 4;
        if (!train_args_given(&ta, "--seq")) ta.seq = 64;
        if (!train_args_given(&ta, "--layers")) ta.mc.layers = 2;
    }
    nw = parse_list(o.widths, widths, MAX_W);
    np = train_args_parse_params(o.params, params, MAX_P);
    if (!nw || !np) {
        fprintf(stderr, "coord_check: bad value '%s' for %s\n", !nw ? o.widths : o.params, !nw ? "--widths" : "--params");
        return 2;
    }
    k = o.check_steps;
    /* muP equals SP at its base width: a fixed base width (the smallest width) makes the widths differ;
       with a fixed head count (--heads) the head size grows with width too, so the base model's head
       size is the smallest width's */
    {
        int wmin = widths[0];
        for (i = 1; i < nw; i++) if (widths[i] < wmin) wmin = widths[i];
        if (ta.mc.param.base_width == 0) ta.mc.param.base_width = wmin;
        if (ta.mc.param.base_head_size == 0 && ta.mc.heads > 0 && wmin % ta.mc.heads == 0)
            ta.mc.param.base_head_size = wmin / ta.mc.heads;
    }
    ta.steps = k;
    printf("coord_check: widths %s, %d steps, batch %d x %d, %d seed%s from %llu, fp8=%s clip=%g schedule=%s, muP base width %d%s%s\n",
           o.widths, k, ta.batch, ta.seq, o.seeds, o.seeds > 1 ? "s" : "", (unsigned long long)ta.mc.seed, ta.mc.fp8 == UMUP_FP8_SIM_NONE ? "none" : ta.mc.fp8 == UMUP_FP8_SIM_ALL ? "all" : "umup",
           ta.oc.clip_norm,
           ta.oc.schedule.decay == UMUP_SCHED_CONSTANT ? "constant" : "decaying", ta.mc.param.base_width,
           o.freeze ? ", frozen: " : "", o.freeze ? o.freeze : "");
    fflush(stdout); /* the settings line first, before the progress lines on stderr */

    if (train_args_dataset(&ta, &ds) != UMUP_OK) DIE("cannot load data %s", ta.data_path ? ta.data_path : "(embedded corpus)");
    mkdir(o.out, 0777);
    csv = open_csv(o.out, "coord_check.csv", "param,width,step,module,layer,mean_abs,rms", o.append, path, sizeof path);
    scsv = open_csv(o.out, "coord_check_summary.csv",
                    "label,param,step,max_ratio_4x,max_module,min_ratio_4x,min_module,max_ratio_top,logits_min,logits_max", o.append,
                    spath, sizeof spath);
    if (!csv || !scsv) DIE("cannot write %s and %s", path, spath);

    progress_start(&prog, np * nw);
    for (pi = 0; pi < np; pi++) {
        for (wi = 0; wi < nw; wi++) {
            size_t base = nrec; /* this width's records: seed 0 appends them, later seeds add to them */
            int sd;
            double lr = 0;
            for (sd = 0; sd < o.seeds; sd++) {
                train_args a = ta;
                umup_trainer *tr = NULL;
                umup_model *m;
                umup_status st;
                int B, T;
                size_t at = base;
                int32_t *ids, *tg;
                a.mc.param.param = params[pi];
                a.mc.width = widths[wi];
                a.mc.seed = ta.mc.seed + (uint64_t)sd;
                train_args_finish(&a);
                lr = a.oc.lr;
                B = a.batch;
                T = a.seq;
                st = umup_trainer_create(&tr, &a.mc, &a.oc, B);
                if (st != UMUP_OK) DIE("%s width %d: invalid configuration: %s", umup_param_name(params[pi]), widths[wi], train_args_why(&a.mc, st));
                m = umup_trainer_model(tr);
                if (o.freeze) { /* lr factor 0 for the matching tensors */
                    int n, j, hit = 0;
                    umup_param_group *g = umup_trainer_param_groups(tr, &n);
                    for (j = 0; j < n; j++)
                        if (strstr(umup_model_tensor(m, j)->name, o.freeze)) { g[j].lr_factor = 0.0f; hit++; }
                    if (!hit) DIE("--freeze %s: no tensor name contains it", o.freeze);
                }
                umup_model_record_stats(m, 1);
                ids = (int32_t *)malloc(sizeof(int32_t) * (size_t)B * (size_t)T);
                tg = (int32_t *)malloc(sizeof(int32_t) * (size_t)B * (size_t)T);
                if (!ids || !tg) DIE("out of memory");
                if (umup_dataset_batch(&ds, 0, a.mc.seed, 0, B, T, ids, tg) != UMUP_OK) DIE("the data is shorter than --seq + 1");
                for (t = 1; t <= k; t++) {
                    float loss;
                    int n, j;
                    const umup_tensor_stats *s;
                    st = umup_trainer_step(tr, ids, tg, B, T, &loss);
                    s = umup_model_stats(m, &n);
                    if (st != UMUP_OK && st != UMUP_ERR_NONFINITE) DIE("step failed: %s", umup_status_string(st));
                    for (j = 0; j < n; j++) {
                        rec *r;
                        if (s[j].kind != UMUP_STAT_OUTPUT) continue;
                        if (sd == 0) {
                            if (nrec == caprec) {
                                caprec = caprec ? 2 * caprec : 1024;
                                recs = (rec *)realloc(recs, caprec * sizeof(rec));
                                if (!recs) DIE("out of memory");
                            }
                            r = &recs[nrec++];
                            memset(r, 0, sizeof *r);
                            r->p = pi; r->w = widths[wi]; r->t = t; r->layer = s[j].layer;
                            snprintf(r->module, sizeof r->module, "%s", s[j].name);
                        } else { /* the same modules come in the same order for every seed */
                            if (at == nrec) DIE("seed %d recorded more values than seed 0", sd);
                            r = &recs[at++];
                            if (r->t != t || r->layer != s[j].layer || strcmp(r->module, s[j].name)) DIE("seed %d recorded other modules", sd);
                        }
                        r->mean_abs += s[j].mean_abs / o.seeds;
                        r->rms += s[j].rms / o.seeds;
                    }
                    if (st == UMUP_ERR_NONFINITE) {
                        printf("%s width %d seed %llu: not finite at step %d\n", umup_param_name(params[pi]), widths[wi],
                               (unsigned long long)a.mc.seed, t);
                        break;
                    }
                }
                free(ids);
                free(tg);
                umup_trainer_destroy(tr);
            }
            for (; base < nrec; base++) /* the means over the seeds */
                fprintf(csv, "%s,%d,%d,%s,%d,%.6g,%.6g\n", umup_param_name(params[pi]), widths[wi], recs[base].t, recs[base].module,
                        recs[base].layer, recs[base].mean_abs, recs[base].rms);
            fflush(csv);
            snprintf(what, sizeof what, "%s width %d done (lr %g)", umup_param_name(params[pi]), widths[wi], lr);
            progress_step(&prog, stderr, "coord_check", what);
        }
        /* summary: the largest and smallest ratio between widths 4x apart, per step (the logits apart) */
        for (t = 1; t <= k; t++) {
            double gmax = 0, gmin = 1e300, wmax = 0, lmin = 1e300, lmax = 0;
            const char *worst = "-", *least = "-";
            int wtop = 0;
            size_t x, y;
            for (x = 0; x < nrec; x++) {
                if (recs[x].p != pi || recs[x].t != t) continue;
                for (y = 0; y < nrec; y++) {
                    double r;
                    if (recs[y].p != pi || recs[y].t != t || recs[y].w != 4 * recs[x].w || strcmp(recs[x].module, recs[y].module)) continue;
                    if (!(recs[x].mean_abs > 0)) continue;
                    r = recs[y].mean_abs / recs[x].mean_abs;
                    if (!strcmp(recs[x].module, "projection")) {
                        if (r < lmin) lmin = r;
                        if (r > lmax || r != r) lmax = r;
                        continue;
                    }
                    if (r > gmax || r != r) { gmax = r; worst = recs[x].module; }
                    if (r < gmin) { gmin = r; least = recs[x].module; }
                    if (recs[x].w > wtop) { wtop = recs[x].w; wmax = 0; }
                    if (recs[x].w == wtop && r > wmax) wmax = r;
                }
            }
            if (gmax > 0) {
                printf("coord param=%s step=%d max_growth_4x=%.3f module=%s min_ratio_4x=%.3f min_module=%s max_growth_%dto%d=%.3f "
                       "logits_4x=%.3f..%.3f\n", umup_param_name(params[pi]), t, gmax, worst, gmin, least, wtop, 4 * wtop, wmax,
                       lmin, lmax);
                fprintf(scsv, "%s,%s,%d,%.4f,%s,%.4f,%s,%.4f,%.4f,%.4f\n", o.label ? o.label : umup_param_name(params[pi]),
                        umup_param_name(params[pi]), t, gmax, worst, gmin, least, wmax, lmin, lmax);
            } else {
                printf("coord param=%s step=%d max_growth_4x=nan module=- min_ratio_4x=nan (no widths 4x apart)\n", umup_param_name(params[pi]), t);
            }
        }
        fflush(stdout);
        fflush(scsv);
    }
    fclose(csv);
    fclose(scsv);
    printf("wrote %s (%zu rows) and %s\n", path, nrec, spath);
    free(recs);
    umup_dataset_free(&ds);
    return 0;
}
