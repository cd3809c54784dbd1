/* demos/param_table.c - the parametrization tables, side by side across widths.
 *
 *   param_table --param umup --widths 64,256,1024 --depth 4
 *   param_table --param mup --base-width 64 --widths 64,256,1024
 *
 * For every parameter of the decoder-only transformer (embedding, per-layer attention and SwiGLU
 * MLP projections, readout) it prints the init std, forward multiplier, Adam and SGD LR factors and
 * weight-decay rule, each as a formula in the tensor's fan_in / fan_out, the width d and the depth
 * L, beside its value at each width, so the scaling laws are visible at a glance; then the attention
 * logit scale, the residual-branch multiplier and (u-muP) the residual taus. Every formula is
 * evaluated at every width and checked against umup_param_rule(); a disagreement is an error
 * (exit status 3), so the formulas cannot drift from the library. */
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "param_formula.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: param_table [options]\n"
            "  --param P          umup | sp | mup | mus | spectral-nanotron | spectral-adam (default umup)\n"
            "  --widths LIST      comma-separated model widths        (default 64,256,1024)\n"
            "  --depth L          number of layers                    (default 4)\n"
            "  --heads H          attention heads (or --head-size D)  (default 4)\n"
            "  --head-size D      fixed head size; heads = width / D\n"
            "  --base-head-size D muP: the base model's head size     (default: the head size)\n"
            "  --vocab V          vocabulary size                     (default 256)\n"
            "  --mlp-expansion E  SwiGLU hidden = E x width           (default 4)\n"
            "  --base-width W     muP base width                      (default: the first width)\n"
            "  --base-depth L0    depth rules' base depth             (default: depth)\n"
            "  --depth-rule R     default | none | depth-mup | completep\n"
            "  --alpha A          CompleteP alpha in [0.5, 1]         (default 1)\n"
            "  --depth-2x         u-muP depth = 2 x layers ([AA]) instead of layers ([GC])\n"
            "  --help\n");
}

static int parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi) return 0;
    *out = (int)v;
    return 1;
}

static const char *wd_name(umup_wd_rule w) {
    switch (w) {
    case UMUP_WD_NONE: return "none";
    case UMUP_WD_DECOUPLED: return "decoupled";
    case UMUP_WD_INDEPENDENT: return "independent";
    default: return "coupled";
    }
}

/* ---- formulas ------------------------------------------------------------------------------
 * The rules of umup_param_rule (umup.h section 7) written as formulas in the tensor's fan_in and
 * fan_out, the width d, the depth L (and base depth L0) and the muP width multiplier m. print_row
 * evaluates each formula at every width (demos/param_formula.h) and refuses to print a number the
 * formula does not give: the table can never show a formula that disagrees with the library. */
enum { Q_INIT, Q_MULT, Q_ADAM, Q_SGD, Q_WD, Q_EPS, N_Q };
typedef struct {
    char q[N_Q][80];
} formula_set;

static void rule_formulas(const umup_param_config *c, umup_tensor_kind k, int in_res, formula_set *f) {
    const int hidden = k == UMUP_TENSOR_HIDDEN, emb = k == UMUP_TENSOR_EMBEDDING, readout = k == UMUP_TENSOR_READOUT;
    int q;
    for (q = 0; q < N_Q; q++) strcpy(f->q[q], "1");
    switch (c->param) {
    case UMUP_PARAM_SP: /* PyTorch defaults */
        strcpy(f->q[Q_INIT], emb ? "s_emb" : "1/sqrt(fan_in)");
        break;
    case UMUP_PARAM_MUP: /* microsoft/mup: MuAdam / MuSGD, MuReadout */
        if (emb) { strcpy(f->q[Q_INIT], "s_emb"); strcpy(f->q[Q_MULT], "a_emb"); strcpy(f->q[Q_SGD], "m"); }
        if (hidden) { strcpy(f->q[Q_INIT], "1/sqrt(fan_in)"); strcpy(f->q[Q_ADAM], "1/m"); strcpy(f->q[Q_WD], "m"); }
        if (readout) { strcpy(f->q[Q_INIT], "sqrt(m/fan_in)"); strcpy(f->q[Q_MULT], "a_out/m"); strcpy(f->q[Q_SGD], "m"); }
        break;
    case UMUP_PARAM_UMUP: /* unit init; the multipliers are the op scales; [GC] lr_scale_func_adam */
        if (emb) strcpy(f->q[Q_ADAM], "1/sqrt(d)");
        if (hidden) {
            strcpy(f->q[Q_MULT], "1/sqrt(fan_in)");
            strcpy(f->q[Q_ADAM], "1/sqrt(fan_in)");
            if (c->depth_rule == UMUP_DEPTH_RULE_DEFAULT && in_res)
                strcat(f->q[Q_ADAM], c->depth_mode == UMUP_DEPTH_2X_LAYERS ? "/sqrt(2*L)" : "/sqrt(L)");
        }
        if (readout) strcpy(f->q[Q_MULT], "1/fan_in");
        strcpy(f->q[Q_SGD], f->q[Q_ADAM]);
        break;
    case UMUP_PARAM_MUS:
        strcpy(f->q[Q_SGD], "n/a");
        if (hidden) { strcpy(f->q[Q_MULT], "1/sqrt(fan_in)"); strcpy(f->q[Q_ADAM], "1/sqrt(fan_in)"); }
        if (readout) strcpy(f->q[Q_MULT], "1/fan_in");
        break;
    default: /* the spectral pair: nanotron's LR (the spectral paper's SGD rate) or the Adam rate */
        strcpy(f->q[Q_SGD], "n/a");
        if (hidden || readout) {
            strcpy(f->q[Q_INIT], "min(1, sqrt(fan_out/fan_in))/sqrt(fan_in)");
            strcpy(f->q[Q_ADAM], c->param == UMUP_PARAM_SPECTRAL_ADAM ? "1/fan_in" : "fan_out/fan_in");
        }
        break;
    }
    /* the explicit depth rules act on the Adam LR (and eps) of residual-stack weights */
    if (in_res && hidden && c->depth_rule == UMUP_DEPTH_RULE_DEPTH_MUP) strcat(f->q[Q_ADAM], "/sqrt(L/L0)");
    if (in_res && hidden && c->depth_rule == UMUP_DEPTH_RULE_COMPLETEP) {
        strcat(f->q[Q_ADAM], "*(L/L0)^(a-1)");
        strcpy(f->q[Q_EPS], "(L/L0)^(-a)/m");
    }
}

/* q[0]: the attention logit scale (d_head: the head size), q[1]: the residual branch multiplier. */
static void model_formulas(const umup_param_config *c, formula_set *f) {
    strcpy(f->q[0], c->param == UMUP_PARAM_SP || c->param == UMUP_PARAM_MUS ? "1/sqrt(d_head)"
                    : c->param == UMUP_PARAM_MUP ? "sqrt(d_base)/d_head" : "1/d_head");
    strcpy(f->q[1], c->depth_rule == UMUP_DEPTH_RULE_DEPTH_MUP ? "1/sqrt(L/L0)"
                    : c->depth_rule == UMUP_DEPTH_RULE_COMPLETEP ? "(L/L0)^(-a)" : "1");
}

/* The larger of w and the length of the longest of f's first n formulas plus two spaces. */
static int widest(const formula_set *f, int n, int w) {
    int q;
    for (q = 0; q < n; q++) w = (int)strlen(f->q[q]) + 2 > w ? (int)strlen(f->q[q]) + 2 : w;
    return w;
}

typedef struct {
    const umup_param_config *cfg;
    const int *widths;
    int nw, vocab, expansion, heads, head_size;
    int fw; /* width of the formula column */
} table_ctx;

/* Prints "label  formula  v[0] v[1] ..." after checking that the formula, evaluated at each width
 * (fan_in[i], fan_out[i]), gives v[i]. Returns 0 (and says why on stderr) when it does not. */
static int print_row(const table_ctx *tc, const char *label, const char *formula, const double *v, const int *fan_in,
                     const int *fan_out) {
    const umup_param_config *c = tc->cfg;
    int wi;
    for (wi = 0; wi < tc->nw; wi++) {
        const int d = tc->widths[wi];
        const pf_var vars[] = {
            {"fan_in", fan_in[wi]}, {"fan_out", fan_out[wi]}, {"d", d}, {"V", tc->vocab}, {"E", tc->expansion},
            {"L", c->depth}, {"L0", c->base_depth ? c->base_depth : c->depth},
            {"m", (double)d / c->base_width}, {"a", c->completep_alpha > 0.0f ? c->completep_alpha : 1.0},
            {"d_head", tc->head_size ? tc->head_size : d / tc->heads},
            {"d_base", c->base_head_size ? c->base_head_size : (tc->head_size ? tc->head_size : d / tc->heads)},
            {"s_emb", 1.0}, {"a_emb", 1.0}, {"a_out", 1.0}, /* muP's knobs at their defaults */
        };
        double f = NAN;
        if (!pf_eval(formula, vars, (int)(sizeof vars / sizeof vars[0]), &f) || !pf_agree(f, v[wi])) {
            fprintf(stderr, "param_table: %s: the formula %s gives %.9g at d = %d, umup_param_rule %.9g\n", label, formula, f, d, v[wi]);
            return 0;
        }
    }
    printf("%-20s %-*s", label, tc->fw, formula);
    for (wi = 0; wi < tc->nw; wi++) {
        if (v[wi] != v[wi]) printf(" %10s", "-");
        else printf(" %10.5g", v[wi]);
    }
    printf("\n");
    return 1;
}

int main(int argc, char **argv) {
    umup_param_config cfg;
    table_ctx tc;
    int widths[16], nw = 0, depth = 4, heads = 4, head_size = 0, vocab = 256, expansion = 4, i, wi, base_width = 0;
    memset(&cfg, 0, sizeof cfg);
    cfg.param = UMUP_PARAM_UMUP;
    widths[0] = 64; widths[1] = 256; widths[2] = 1024;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        if (!strcmp(a, "--depth-2x")) { cfg.depth_mode = UMUP_DEPTH_2X_LAYERS; continue; }
        if (strcmp(a, "--param") && strcmp(a, "--widths") && strcmp(a, "--depth") && strcmp(a, "--heads") &&
            strcmp(a, "--head-size") && strcmp(a, "--vocab") && strcmp(a, "--mlp-expansion") && strcmp(a, "--base-width") &&
            strcmp(a, "--base-depth") && strcmp(a, "--alpha") && strcmp(a, "--depth-rule") && strcmp(a, "--base-head-size")) {
            fprintf(stderr, "param_table: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        if (!v) { fprintf(stderr, "param_table: %s needs a value\n", a); usage(stderr); return 2; }
        i++;
        if (!strcmp(a, "--param")) ok = umup_param_parse(v, &cfg.param) == UMUP_OK;
        else if (!strcmp(a, "--widths")) {
            char buf[256], *tok;
            nw = 0;
            if (strlen(v) >= sizeof buf) ok = 0;
            else {
                strcpy(buf, v);
                for (tok = strtok(buf, ","); tok && ok; tok = strtok(NULL, ","))
                    ok = nw < 16 && parse_int(tok, 1, 1 << 20, &widths[nw++]);
                ok = ok && nw > 0;
            }
        } else if (!strcmp(a, "--depth")) ok = parse_int(v, 1, 100000, &depth);
        else if (!strcmp(a, "--heads")) ok = parse_int(v, 1, 1 << 16, &heads);
        else if (!strcmp(a, "--head-size")) ok = parse_int(v, 1, 1 << 16, &head_size);
        else if (!strcmp(a, "--vocab")) ok = parse_int(v, 2, 1 << 24, &vocab);
        else if (!strcmp(a, "--mlp-expansion")) ok = parse_int(v, 1, 64, &expansion);
        else if (!strcmp(a, "--base-width")) ok = parse_int(v, 1, 1 << 20, &base_width);
        else if (!strcmp(a, "--base-head-size")) ok = parse_int(v, 1, 1 << 16, &cfg.base_head_size);
        else if (!strcmp(a, "--base-depth")) ok = parse_int(v, 1, 100000, &cfg.base_depth);
        else if (!strcmp(a, "--alpha")) { cfg.completep_alpha = (float)strtod(v, NULL); ok = cfg.completep_alpha >= 0.5f && cfg.completep_alpha <= 1.0f; }
        else if (!strcmp(a, "--depth-rule")) {
            if (!strcmp(v, "default")) cfg.depth_rule = UMUP_DEPTH_RULE_DEFAULT;
            else if (!strcmp(v, "none")) cfg.depth_rule = UMUP_DEPTH_RULE_NONE;
            else if (!strcmp(v, "depth-mup")) cfg.depth_rule = UMUP_DEPTH_RULE_DEPTH_MUP;
            else if (!strcmp(v, "completep")) cfg.depth_rule = UMUP_DEPTH_RULE_COMPLETEP;
            else ok = 0;
        } else {
            fprintf(stderr, "param_table: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        if (!ok) { fprintf(stderr, "param_table: bad value '%s' for %s\n", v, a); usage(stderr); return 2; }
    }
    if (nw == 0) nw = 3;
    cfg.depth = depth;
    cfg.base_width = base_width ? base_width : widths[0];
    for (wi = 0; wi < nw; wi++) {
        int dh;
        if (head_size ? widths[wi] % head_size != 0 : umup_head_dim(widths[wi], heads, &dh) != UMUP_OK) {
            fprintf(stderr, "param_table: width %d is not divisible into %s %d\n", widths[wi], head_size ? "heads of size" : "heads:", head_size ? head_size : heads);
            return 2;
        }
    }
    {
        static const struct { const char *name, *fans; umup_tensor_kind k; int in_mul, out_mul, fin_vocab, fout_vocab, res; } P[] = {
            {"embedding.weight [V, d]", "a lookup table; its rules use d", UMUP_TENSOR_EMBEDDING, 0, 1, 1, 0, 0},
            {"layers.*.mhsa.linear_qkv [3d, d]", "fan_in = d, fan_out = 3d", UMUP_TENSOR_HIDDEN, 1, 3, 0, 0, 1},
            {"layers.*.mhsa.linear_o [d, d]", "fan_in = d, fan_out = d", UMUP_TENSOR_HIDDEN, 1, 1, 0, 0, 1},
            {"layers.*.mlp.linear_1 [Ed, d]", "fan_in = d, fan_out = Ed", UMUP_TENSOR_HIDDEN, 1, -1, 0, 0, 1},
            {"layers.*.mlp.linear_gate [Ed, d]", "fan_in = d, fan_out = Ed", UMUP_TENSOR_HIDDEN, 1, -1, 0, 0, 1},
            {"layers.*.mlp.linear_2 [d, Ed]", "fan_in = Ed, fan_out = d", UMUP_TENSOR_HIDDEN, -1, 1, 0, 0, 1},
            {"projection.weight [V, d]", "the readout: fan_in = d, fan_out = V", UMUP_TENSOR_READOUT, 1, 0, 0, 1, 0},
        };
        static const char *const qname[N_Q] = {"init std", "multiplier", "Adam LR", "SGD LR", "WD", "Adam eps"};
        size_t pi;
        int q;
        printf("parametrization %s; d = width, L = %d layers", umup_param_name(cfg.param), depth);
        if (cfg.base_depth) printf(" (base depth L0 = %d)", cfg.base_depth);
        printf(", V = %d (vocabulary), E = %d (SwiGLU expansion)\n", vocab, expansion);
        if (cfg.param == UMUP_PARAM_MUP)
            printf("muP width multiplier m = d / %d (the base width); d_base: the base model's head size\n", cfg.base_width);
        if (cfg.param == UMUP_PARAM_SP || cfg.param == UMUP_PARAM_MUP)
            printf("s_emb: the embedding's init std%s (1 here, torch's nn.Embedding)\n",
                   cfg.param == UMUP_PARAM_MUP ? "; a_emb, a_out: the embedding and readout multipliers" : "");
        printf("A weight [out, in] has fan_in = in, fan_out = out. Per tensor: init std, forward multiplier,\n"
               "LR factors (times the global LR eta; SGD \"-\": the source defines no SGD rule), the weight-decay\n"
               "factor (times lambda) under its rule%s.\n\n", cfg.depth_rule == UMUP_DEPTH_RULE_COMPLETEP ? ", the factor on Adam's epsilon" : "");
        tc.cfg = &cfg;
        tc.widths = widths;
        tc.nw = nw;
        tc.vocab = vocab;
        tc.expansion = expansion;
        tc.heads = heads;
        tc.head_size = head_size;
        tc.fw = 16; /* the formula column fits the longest formula */
        for (pi = 0; pi < sizeof P / sizeof P[0]; pi++) {
            formula_set f;
            rule_formulas(&cfg, P[pi].k, P[pi].res, &f);
            tc.fw = widest(&f, N_Q, tc.fw);
        }
        {
            formula_set f;
            model_formulas(&cfg, &f);
            tc.fw = widest(&f, 2, tc.fw);
        }
        printf("%-20s %-*s", "", tc.fw, "formula");
        for (wi = 0; wi < nw; wi++) {
            char h[32];
            snprintf(h, sizeof h, "d = %d", widths[wi]);
            printf(" %10s", h);
        }
        printf("\n");
        for (pi = 0; pi < sizeof P / sizeof P[0]; pi++) {
            umup_tensor_desc t;
            umup_tensor_rule r[16];
            formula_set f;
            int fin[16], fout[16];
            t.kind = P[pi].k;
            t.in_residual = P[pi].res;
            rule_formulas(&cfg, t.kind, t.in_residual, &f);
            printf("%s  (%s)\n", P[pi].name, P[pi].fans);
            for (wi = 0; wi < nw; wi++) {
                int w = widths[wi];
                t.fan_in = P[pi].fin_vocab ? vocab : P[pi].in_mul < 0 ? expansion * w : w;
                t.fan_out = P[pi].fout_vocab ? vocab : P[pi].out_mul < 0 ? expansion * w : P[pi].out_mul * w;
                fin[wi] = t.fan_in;
                fout[wi] = t.fan_out;
                if (umup_param_rule(&cfg, w, &t, &r[wi]) != UMUP_OK) { fprintf(stderr, "param_table: invalid configuration\n"); return 2; }
            }
            for (q = 0; q < N_Q; q++) {
                char label[48];
                double v[16];
                if (q == Q_EPS && cfg.depth_rule != UMUP_DEPTH_RULE_COMPLETEP) continue;
                for (wi = 0; wi < nw; wi++) {
                    const umup_tensor_rule *x = &r[wi];
                    v[wi] = q == Q_INIT ? x->init_std : q == Q_MULT ? x->multiplier : q == Q_ADAM ? x->lr_adam
                          : q == Q_SGD ? x->lr_sgd : q == Q_WD ? x->wd_factor : x->eps_factor;
                }
                if (q == Q_WD) snprintf(label, sizeof label, "  %s (%s)", qname[q], wd_name(r[0].wd));
                else snprintf(label, sizeof label, "  %s", qname[q]);
                if (q == Q_WD && r[0].wd == UMUP_WD_NONE) { printf("%-20s %s\n", label, "no decay"); continue; }
                if (!print_row(&tc, label, f.q[q], v, fin, fout)) return 3;
            }
        }
        printf("\n");
        {   /* model-wide factors */
            formula_set g;
            double v[16];
            model_formulas(&cfg, &g);
            for (wi = 0; wi < nw; wi++) {
                int dh = head_size ? head_size : widths[wi] / heads;
                v[wi] = umup_param_attention_scale(&cfg, widths[wi], dh, 1.0f);
            }
            if (!print_row(&tc, "attention logits", g.q[0], v, widths, widths)) return 3;
            for (wi = 0; wi < nw; wi++) v[wi] = umup_param_branch_multiplier(&cfg);
            if (!print_row(&tc, "residual branches", g.q[1], v, widths, widths)) return 3;
        }
    }
    if (cfg.param == UMUP_PARAM_UMUP) {
        double taus[2 * 64];
        int L = depth < 64 ? depth : 64;
        umup_transformer_residual_taus(taus, L, 1.0, 1.0, cfg.depth_mode);
        printf("%-*s", 21 + tc.fw, "residual taus (attention, MLP, ...)");
        for (i = 0; i < 2 * L && i < 16; i++) printf(" %.4f", taus[i]);
        printf("%s\n", 2 * L > 16 ? " ..." : "");
        printf("(u-muP: every weight starts at unit scale; the widths change only the multipliers and LRs above)\n");
    }
    return 0;
}
