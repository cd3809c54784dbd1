/* demos/param_table.c - the parametrization tables, side by side across widths.
 *
 *   param_table --param umup --widths 64,256,1024 --depth 4
 *   param_table --param mup --base-width 64 --widths 64,256,1024
 *
 * For every parameter of the decoder-only transformer (embedding, per-layer attention and SwiGLU
 * MLP projections, readout) it prints the init std, forward multiplier, Adam and SGD LR factors and
 * weight-decay rule at each width, so the scaling laws are visible at a glance; then the attention
 * logit scale, the residual-branch multiplier and (u-muP) the residual taus. */
#define UMUP_IMPLEMENTATION
#include "umup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: param_table [options]\n"
            "  --param P          umup | sp | mup | mus | spectral   (default umup)\n"
            "  --widths LIST      comma-separated model widths        (default 64,256,1024)\n"
            "  --depth L          number of layers                    (default 4)\n"
            "  --heads H          attention heads (or --head-size D)  (default 4)\n"
            "  --head-size D      fixed head size; heads = width / D\n"
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

int main(int argc, char **argv) {
    umup_param_config cfg;
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
            strcmp(a, "--base-depth") && strcmp(a, "--alpha") && strcmp(a, "--depth-rule")) {
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
    printf("parametrization %s, depth %d, vocab %d, SwiGLU x%d%s\n", umup_param_name(cfg.param), depth, vocab, expansion,
           cfg.param == UMUP_PARAM_MUP ? "" : "");
    if (cfg.param == UMUP_PARAM_MUP) printf("muP base width %d (width multiplier m = width / %d)\n", cfg.base_width, cfg.base_width);
    printf("values: init std | forward multiplier | Adam LR factor | SGD LR factor (x eta)\n\n");
    printf("%-34s", "parameter [out, in]");
    for (wi = 0; wi < nw; wi++) {
        char h[48];
        snprintf(h, sizeof h, "width %d", widths[wi]);
        printf(" | %-37s", h);
    }
    printf(" | weight decay\n");
    {
        static const struct { const char *name; umup_tensor_kind k; int in_mul, out_mul, fin_vocab, fout_vocab, res; } P[] = {
            {"embedding.weight [V, d]", UMUP_TENSOR_EMBEDDING, 0, 1, 1, 0, 0},
            {"layers.*.mhsa.linear_qkv [3d, d]", UMUP_TENSOR_HIDDEN, 1, 3, 0, 0, 1},
            {"layers.*.mhsa.linear_o [d, d]", UMUP_TENSOR_HIDDEN, 1, 1, 0, 0, 1},
            {"layers.*.mlp.linear_1 [Ed, d]", UMUP_TENSOR_HIDDEN, 1, -1, 0, 0, 1},
            {"layers.*.mlp.linear_gate [Ed, d]", UMUP_TENSOR_HIDDEN, 1, -1, 0, 0, 1},
            {"layers.*.mlp.linear_2 [d, Ed]", UMUP_TENSOR_HIDDEN, -1, 1, 0, 0, 1},
            {"projection.weight [V, d]", UMUP_TENSOR_READOUT, 1, 0, 0, 1, 0},
        };
        size_t pi;
        for (pi = 0; pi < sizeof P / sizeof P[0]; pi++) {
            umup_wd_rule wd = UMUP_WD_NONE;
            float wdf = 1.0f;
            printf("%-34.34s", P[pi].name);
            for (wi = 0; wi < nw; wi++) {
                int w = widths[wi];
                umup_tensor_desc t;
                umup_tensor_rule r;
                char cell[64];
                t.kind = P[pi].k;
                t.fan_in = P[pi].fin_vocab ? vocab : P[pi].in_mul < 0 ? expansion * w : w;
                t.fan_out = P[pi].fout_vocab ? vocab : P[pi].out_mul < 0 ? expansion * w : P[pi].out_mul * w;
                t.in_residual = P[pi].res;
                if (umup_param_rule(&cfg, w, &t, &r) != UMUP_OK) { fprintf(stderr, "param_table: invalid configuration\n"); return 2; }
                snprintf(cell, sizeof cell, "%.3g | %.3g | %.3g | %.3g", (double)r.init_std, (double)r.multiplier,
                         (double)r.lr_adam, (double)r.lr_sgd);
                printf(" | %-37s", cell);
                wd = r.wd;
                wdf = r.wd_factor;
            }
            if (wdf != 1.0f) printf(" | %s x%.3g (last width)\n", wd_name(wd), (double)wdf);
            else printf(" | %s\n", wd_name(wd));
        }
    }
    printf("\n%-34s", "attention logit scale");
    for (wi = 0; wi < nw; wi++) {
        int dh = head_size ? head_size : widths[wi] / heads;
        char cell[64];
        snprintf(cell, sizeof cell, "%.4g (d_head %d)", (double)umup_param_attention_scale(&cfg, widths[wi], dh, 1.0f), dh);
        printf(" | %-37s", cell);
    }
    printf("\n%-34s | %.4g\n", "residual branch multiplier", (double)umup_param_branch_multiplier(&cfg));
    if (cfg.param == UMUP_PARAM_UMUP) {
        double taus[2 * 64];
        int L = depth < 64 ? depth : 64;
        umup_transformer_residual_taus(taus, L, 1.0, 1.0, cfg.depth_mode);
        printf("%-34s |", "residual taus (attn, mlp, ...)");
        for (i = 0; i < 2 * L && i < 16; i++) printf(" %.4f", taus[i]);
        printf("%s\n", 2 * L > 16 ? " ..." : "");
        printf("(u-muP: every activation starts at unit scale; the widths change only the multipliers and LRs above)\n");
    }
    return 0;
}
