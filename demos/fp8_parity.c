/* demos/fp8_parity.c - does a model train in FP8 without per-tensor scaling factors?
 *
 * For each parametrization (default SP, u-muP and muS, at their default hyperparameters), trains the
 * same model (same seed, same batches) five times: fp32, and FP8-simulated with E4M3 forward /
 * E5M2 backward casts of the matmul inputs, for both schemes (all hidden matmuls, muS's own claim;
 * the u-muP scheme that keeps the attention-out and FFN-down projections in fp32) and both roundings
 * (RNE, SR). --fp8-attention also casts attention's q, k and v, as the reference's simulate_fp8.
 * No scaling factor is used anywhere: a tensor whose values sit far from 1 loses its small values
 * to underflow, or clips at the format's maximum. Every --track-every steps it records, per
 * tensor, the RMS of the linear layers' inputs, weights, output gradients and weight gradients,
 * and the fractions of each that an FP8 cast flushes to zero, sends into the subnormal range, or
 * clips.
 *
 *   ./build/fp8_parity                           SP, u-muP and muS, width 128, 600 steps (train's defaults)
 *   ./build/fp8_parity --quick                   smoke test (width 64, 60 steps; well under a minute)
 *   ./build/fp8_parity --params umup,mup --width 256 --steps 1000 --lr 1
 *
 * Every flag of demos/train is accepted (--fp8 and --fp8-rounding are what this demo varies).
 * Output: OUT/fp8_parity_loss.csv (param,fp8,rounding,step,train_loss,val_loss: train loss averaged
 * over the interval, validation loss at its end), OUT/fp8_parity_scales.csv
 * (param,fp8,rounding,step,tensor,kind,layer,fp8_cast,rms,max_abs,frac_underflow,frac_subnormal,
 * frac_overflow) and one line per run:
 *   parity param=<p> fp8=<none|all|umup> rounding=<rne|sr> val_loss=<x> fp32_val_loss=<y> rel_diff=<z>
 *     max_underflow=<u> max_overflow=<o> [fp8_attention=1]
 * (the largest fractions over the cast tensors and the recorded steps). make plots draws
 * docs/fp8_parity_loss.png and docs/fp8_parity_scales_<param>.png. */
#define _POSIX_C_SOURCE 200809L
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "train_args.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/stat.h>

#define MAX_P 8

/* fp8_parity's own flags (the shared ones are in train_args.h) */
typedef struct {
    const char *params, *out;
    long track_every;
    int quick;
} fp_opts;

#define FO(f) offsetof(fp_opts, f)
static const ta_flag fp_flags[] = {
    {"--params", NULL, "LIST", TA_STRING, FO(params), 0, 0, NULL, "parametrizations", NULL, "fp8_parity"},
    {"--track-every", NULL, "N", TA_LONG, FO(track_every), 1, 1e9, NULL, "record tensor statistics every N steps", "--eval-interval", "fp8_parity"},
    {"--out", NULL, "DIR", TA_STRING, FO(out), 0, 0, NULL, "output folder", NULL, "fp8_parity"},
    {"--quick", NULL, NULL, TA_SWITCH, FO(quick), 0, 0, NULL, "width 64, 60 steps of 4 x 32 tokens, evaluation every 20 steps", NULL, "fp8_parity"},
};
#undef FO

static const char fp_intro[] =
    "usage: fp8_parity [options] [train flags]\n"
    "Train flags have the same meaning as in demos/train; --fp8 and --fp8-rounding are what this demo varies.\n";

#define DIE(...) do { fprintf(stderr, "fp8_parity: " __VA_ARGS__); fputc('\n', stderr); exit(1); } while (0)

static const char *kind_name(umup_stat_kind k) {
    return k == UMUP_STAT_MATMUL_X ? "x" : k == UMUP_STAT_MATMUL_W ? "w" : k == UMUP_STAT_MATMUL_DY ? "dy" : "out";
}
static const char *fp8_name(umup_fp8_sim f) { return f == UMUP_FP8_SIM_NONE ? "none" : f == UMUP_FP8_SIM_ALL ? "all" : "umup"; }

int main(int argc, char **argv) {
    static const umup_fp8_sim sims[5] = {UMUP_FP8_SIM_NONE, UMUP_FP8_SIM_ALL, UMUP_FP8_SIM_ALL, UMUP_FP8_SIM_UMUP, UMUP_FP8_SIM_UMUP};
    static const umup_fp8_rounding rnds[5] = {UMUP_FP8_RNE, UMUP_FP8_RNE, UMUP_FP8_SR, UMUP_FP8_RNE, UMUP_FP8_SR};
    train_args ta;
    fp_opts o;
    umup_parametrization params[MAX_P];
    int np, pi, ci, r;
    long track;
    char path[1100], path2[1100];
    FILE *lcsv, *scsv;
    umup_dataset ds;

    train_args_init(&ta);
    memset(&o, 0, sizeof o);
    o.params = "sp,umup,mus";
    o.out = "results";
    r = train_args_parse(&ta, argc, argv, "fp8_parity", fp_intro, fp_flags, (int)(sizeof fp_flags / sizeof fp_flags[0]), &o);
    if (r) return r == 1 ? 0 : 2;
    np = train_args_parse_params(o.params, params, MAX_P);
    if (!np) { fprintf(stderr, "fp8_parity: bad value '%s' for --params\n", o.params); return 2; }
    if (o.quick) {
        if (!train_args_given(&ta, "--width")) ta.mc.width = 64;
        if (!train_args_given(&ta, "--steps")) ta.steps = 60;
        if (!train_args_given(&ta, "--batch")) ta.batch = 4;
        if (!train_args_given(&ta, "--seq")) ta.seq = 32;
        if (!train_args_given(&ta, "--eval-interval")) ta.eval_interval = 20;
        if (!ta.data_path) ta.corpus_bytes = 400000;
    }
    track = o.track_every ? o.track_every : ta.eval_interval;
    if (train_args_dataset(&ta, &ds) != UMUP_OK) DIE("cannot load data %s", ta.data_path ? ta.data_path : "(embedded corpus)");
    mkdir(o.out, 0777);
    snprintf(path, sizeof path, "%s/fp8_parity_loss.csv", o.out);
    snprintf(path2, sizeof path2, "%s/fp8_parity_scales.csv", o.out);
    lcsv = fopen(path, "w");
    scsv = fopen(path2, "w");
    if (!lcsv || !scsv) DIE("cannot write %s and %s", path, path2);
    fprintf(lcsv, "param,fp8,rounding,step,train_loss,val_loss\n");
    fprintf(scsv, "param,fp8,rounding,step,tensor,kind,layer,fp8_cast,rms,max_abs,frac_underflow,frac_subnormal,frac_overflow\n");

    for (pi = 0; pi < np; pi++) {
        double fp32_val = NAN;
        for (ci = 0; ci < 5; ci++) {
            train_args a = ta;
            umup_trainer *tr = NULL;
            umup_model *m;
            umup_status st;
            int B, T, diverged = 0;
            long step, nsteps;
            int32_t *ids, *tg;
            double acc = 0, val = NAN, max_under = 0, max_over = 0;
            long accn = 0;
            const char *rn = rnds[ci] == UMUP_FP8_SR ? "sr" : "rne";
            a.mc.param.param = params[pi];
            a.mc.fp8 = sims[ci];
            a.mc.fp8_rounding = rnds[ci];
            train_args_finish(&a);
            B = a.batch;
            T = a.seq;
            nsteps = a.steps;
            st = umup_trainer_create(&tr, &a.mc, &a.oc, B);
            if (st != UMUP_OK) DIE("%s: invalid configuration: %s", umup_param_name(params[pi]), train_args_why(&a.mc, st));
            m = umup_trainer_model(tr);
            ids = (int32_t *)malloc(sizeof(int32_t) * (size_t)B * T);
            tg = (int32_t *)malloc(sizeof(int32_t) * (size_t)B * T);
            if (!ids || !tg) DIE("out of memory");
            for (step = 0; step < nsteps; step++) {
                float loss = 0;
                int rec = step == 0 || (step + 1) % track == 0;
                if (umup_dataset_batch(&ds, 0, a.mc.seed, step, B, T, ids, tg) != UMUP_OK) DIE("the data is shorter than --seq + 1");
                umup_model_record_stats(m, rec);
                st = umup_trainer_step(tr, ids, tg, B, T, &loss);
                if (st == UMUP_ERR_NONFINITE) { diverged = 1; break; }
                if (st != UMUP_OK) DIE("training step failed: %s", umup_status_string(st));
                acc += loss;
                accn++;
                if (rec) {
                    int n, j, t;
                    const umup_tensor_stats *s = umup_model_stats(m, &n);
                    for (j = 0; j < n; j++) {
                        if (s[j].kind == UMUP_STAT_OUTPUT) continue;
                        fprintf(scsv, "%s,%s,%s,%ld,%s,%s,%d,%d,%.6g,%.6g,%.6g,%.6g,%.6g\n", umup_param_name(params[pi]),
                                fp8_name(sims[ci]), rn, step + 1, s[j].name, kind_name(s[j].kind), s[j].layer, s[j].fp8_cast,
                                s[j].rms, s[j].max_abs, s[j].frac_underflow, s[j].frac_subnormal, s[j].frac_overflow);
                        if (s[j].fp8_cast && s[j].frac_underflow > max_under) max_under = s[j].frac_underflow;
                        if (s[j].fp8_cast && s[j].frac_overflow > max_over) max_over = s[j].frac_overflow;
                    }
                    /* the weight gradients of the step (what an FP8 gradient all-reduce would carry) */
                    for (t = 0; t < umup_model_num_tensors(m); t++) {
                        const umup_tensor_info *ti = umup_model_tensor(m, t);
                        umup_tensor_stats g;
                        char nm[48];
                        size_t len = strlen(ti->name) > 7 ? strlen(ti->name) - 7 : strlen(ti->name);
                        snprintf(nm, sizeof nm, "%.*s", (int)len, ti->name);
                        umup_tensor_stats_compute(&g, nm, umup_model_grads(m) + ti->offset, ti->size, UMUP_FP8_E5M2);
                        fprintf(scsv, "%s,%s,%s,%ld,%s,dw,%d,0,%.6g,%.6g,%.6g,%.6g,%.6g\n", umup_param_name(params[pi]),
                                fp8_name(sims[ci]), rn, step + 1, g.name, ti->layer,
                                g.rms, g.max_abs, g.frac_underflow, g.frac_subnormal, g.frac_overflow);
                    }
                }
                if ((step + 1) % a.eval_interval == 0 || step + 1 == nsteps) {
                    val = train_args_eval(tr, &ds, a.eval_batches, B, T, ids, tg);
                    fprintf(lcsv, "%s,%s,%s,%ld,%.6f,%.6f\n", umup_param_name(params[pi]), fp8_name(sims[ci]), rn, step + 1,
                            acc / (double)accn, val);
                    acc = 0;
                    accn = 0;
                }
            }
            fflush(lcsv);
            fflush(scsv);
            if (diverged) val = NAN;
            if (ci == 0) fp32_val = val;
            printf("parity param=%s fp8=%s rounding=%s val_loss=%.4f fp32_val_loss=%.4f rel_diff=%+.2f%% max_underflow=%.4f max_overflow=%.6f%s%s\n",
                   umup_param_name(params[pi]), fp8_name(sims[ci]), ci == 0 ? "-" : rn, val, fp32_val,
                   100.0 * (val - fp32_val) / fp32_val, max_under, max_over, a.mc.fp8_attention && ci ? " fp8_attention=1" : "",
                   diverged ? " (diverged)" : "");
            fflush(stdout);
            free(ids);
            free(tg);
            umup_trainer_destroy(tr);
        }
    }
    fclose(lcsv);
    fclose(scsv);
    printf("wrote %s and %s\n", path, path2);
    umup_dataset_free(&ds);
    return 0;
}
