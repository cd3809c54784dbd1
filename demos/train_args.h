/* demos/train_args.h - the flags the demos share, as one table.
 *
 * demos/train, demos/coord_check, demos/fp8_parity (and demos/lr_sweep, which passes them on to
 * train) accept the same model, training and data flags with the same meaning, so a configuration
 * tried in one can be re-run in another. Every flag is one row of train_args_flags below: its name,
 * the field it writes (in the library's own config structs where there is one: umup_model_config,
 * umup_optim_config), its range or choices and its help text. Defaults are the values the fields
 * hold after train_args_init (printed by --help from the fields themselves), except the optimizer
 * flags, whose defaults come from the parametrization (umup_optim_config_for: eta, warmup, clipping)
 * when the flag is not given. A demo adds its own flags as a second table of the same kind.
 * Not part of the library: a demo includes it after umup.h (with the implementation) and calls
 *
 *     train_args a;  train_args_init(&a);
 *     r = train_args_parse(&a, argc, argv, "demo", "usage: demo [options]\n", extra, n_extra, &opts);
 *     if (r) return r == 1 ? 0 : 2;   // --help printed the usage, or a bad command line was reported
 *     train_args_finish(&a);          // the parametrization's optimizer defaults for flags not given
 *
 * The helpers are static inline so that a demo using only some of them compiles without warnings. */
#ifndef UMUP_DEMO_TRAIN_ARGS_H
#define UMUP_DEMO_TRAIN_ARGS_H

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The type of the field a flag writes. */
typedef enum {
    TA_INT,      /* int, from an integer in [lo, hi] ("1.5" is refused) */
    TA_LONG,     /* long, likewise */
    TA_U64,      /* uint64_t, likewise */
    TA_FLOAT,    /* float in [lo, hi] */
    TA_DOUBLE,   /* double in [lo, hi] */
    TA_SWITCH,   /* int set to 1; the flag takes no value */
    TA_STRING,   /* const char *, pointing into argv */
    TA_CHOICE,   /* an enum field (int-sized): the index of the value in `choices` ("a|b|c") */
    TA_PARAM,    /* umup_parametrization, by name (umup_param_parse) */
    TA_OPTIMIZER /* umup_optimizer_kind, by name (umup_optim_parse) */
} ta_type;

/* One flag. `offset` locates the field in the struct the table belongs to (train_args for the shared
 * table, the demo's own options struct for an extra table). `def` replaces the printed default where
 * the field does not hold it before parsing (NULL: print the field's value). */
typedef struct {
    const char *name, *alias, *meta; /* "--width", an alternative spelling or NULL, "D" in the help */
    ta_type type;
    size_t offset;
    double lo, hi;
    const char *choices;             /* TA_CHOICE: "rms|layer" (value i = index i) */
    const char *help;
    const char *def;
    const char *group;               /* a help heading, printed when it changes ("model", ...) */
} ta_flag;

/* The shared settings: library configs, and what the library has no struct for. */
typedef struct {
    umup_model_config mc;        /* model flags write here */
    umup_optim_config oc;        /* optimizer flags write here; finish fills the ones not given */
    umup_optimizer_kind optimizer;
    long steps;                  /* optimizer steps (the schedule's length) */
    int batch, seq;              /* sequences per batch, tokens per sequence (max_seq = seq) */
    const char *data_path;       /* --data FILE, or NULL for the embedded corpus */
    double corpus_bytes;         /* size of the embedded corpus */
    long eval_interval;
    int eval_batches;
    int arch;                    /* 0: the reference's (SwiGLU, RMSNorm); 1: the muS paper's (GELU, LayerNorm) */
    unsigned char set[64];       /* set[i]: flag i of train_args_flags was given */
} train_args;

#define TA_PARAM_NAMES "umup | sp | mup | mus | spectral-nanotron | spectral-adam"
#define TA_M(f) offsetof(train_args, mc.f)
#define TA_O(f) offsetof(train_args, oc.f)
#define TA_A(f) offsetof(train_args, f)
static const ta_flag train_args_flags[] = {
    {"--width", NULL, "D", TA_INT, TA_M(width), 1, 65536, NULL, "model width", NULL, "model"},
    {"--layers", "--depth", "L", TA_INT, TA_M(layers), 1, 1024, NULL, "layers", NULL, "model"},
    {"--heads", NULL, "H", TA_INT, TA_M(heads), 1, 4096, NULL, "attention heads (instead of --head-size)", "width/head-size", "model"},
    {"--head-size", NULL, "D", TA_INT, TA_M(head_size), 1, 4096, NULL, "head size (instead of --heads)", NULL, "model"},
    {"--mlp-expansion", NULL, "E", TA_INT, TA_M(mlp_expansion), 1, 64, NULL, "SwiGLU hidden size = E x width", NULL, "model"},
    {"--arch", NULL, NULL, TA_CHOICE, TA_A(arch), 0, 0, "reference|mus", "architecture preset: SwiGLU + RMSNorm, or the muS paper's GELU + LayerNorm (--mlp and --norm override it)", NULL, "model"},
    {"--norm", NULL, NULL, TA_CHOICE, TA_M(norm), 0, 0, "rms|layer", "non-parametric norm", NULL, "model"},
    {"--mlp", NULL, NULL, TA_CHOICE, TA_M(mlp), 0, 0, "swiglu|gelu", "MLP block", NULL, "model"},
    {"--rope", NULL, NULL, TA_SWITCH, TA_M(rope), 0, 0, NULL, "rotary position embedding (default: none, NoPE like the reference)", "off", "model"},
    {"--dropout", NULL, "P", TA_FLOAT, TA_M(dropout), 0, 0.99, NULL, "residual-branch dropout in training", NULL, "model"},
    {"--param", NULL, "P", TA_PARAM, TA_M(param.param), 0, 0, NULL, "parametrization: " TA_PARAM_NAMES, NULL, "model"},
    {"--mus-tau", NULL, "T", TA_FLOAT, TA_M(mus_tau), 1e-6, 0.999999, NULL, "muS residual weight in (0, 1)", "the paper's for the depth: 0.4 at 4 layers", "model"},
    {"--base-width", NULL, "W", TA_INT, TA_M(param.base_width), 1, 65536, NULL, "muP base width", "the model's width", "model"},
    {"--base-head-size", NULL, "D", TA_INT, TA_M(param.base_head_size), 1, 65536, NULL, "muP base model's head size (attention scale)", "the head size: fixed as width grows", "model"},
    {"--alpha-attn", NULL, "A", TA_FLOAT, TA_M(alpha_attn), 1e-6, 1e6, NULL, "u-muP attention softmax temperature", NULL, "model"},
    {"--alpha-ffn-act", NULL, "A", TA_FLOAT, TA_M(alpha_ffn_act), 1e-6, 1e6, NULL, "u-muP SwiGLU temperature", NULL, "model"},
    {"--alpha-res", NULL, "A", TA_FLOAT, TA_M(alpha_res), 1e-6, 1e6, NULL, "u-muP residual weight", NULL, "model"},
    {"--alpha-res-attn-ratio", NULL, "A", TA_FLOAT, TA_M(alpha_res_attn_ratio), 1e-6, 1e6, NULL, "u-muP attention/MLP residual ratio", NULL, "model"},
    {"--alpha-loss", NULL, "A", TA_FLOAT, TA_M(alpha_loss_softmax), 1e-6, 1e6, NULL, "u-muP loss softmax temperature", NULL, "model"},
    {"--sdpa-scale", NULL, "S", TA_FLOAT, TA_M(sdpa_scale), 1e-6, 1e6, NULL, "replace the attention op's output and grad scales by S (experiments)", "the op's own", "model"},
    {"--alpha-emb", NULL, "A", TA_FLOAT, TA_M(param.alpha_emb), 1e-6, 1e6, NULL, "muP embedding multiplier", "1", "model"},
    {"--alpha-out", NULL, "A", TA_FLOAT, TA_M(param.alpha_out), 1e-6, 1e6, NULL, "muP readout multiplier", "1", "model"},
    {"--fp8", NULL, NULL, TA_CHOICE, TA_M(fp8), 0, 0, "none|all|umup", "FP8 simulation of the hidden matmuls", NULL, "model"},
    {"--fp8-rounding", NULL, NULL, TA_CHOICE, TA_M(fp8_rounding), 0, 0, "rne|sr|sr16", "FP8 rounding", NULL, "model"},
    {"--fp8-attention", NULL, NULL, TA_SWITCH, TA_M(fp8_attention), 0, 0, NULL, "also cast attention's q, k, v (and its output gradient), as the reference's simulate_fp8", "off", "model"},
    {"--steps", NULL, "N", TA_LONG, TA_A(steps), 1, 1e9, NULL, "optimizer steps", NULL, "training"},
    {"--batch", NULL, "B", TA_INT, TA_A(batch), 1, 65536, NULL, "sequences per batch", NULL, "training"},
    {"--seq", NULL, "T", TA_INT, TA_A(seq), 2, 65536, NULL, "sequence length", NULL, "training"},
    {"--optimizer", NULL, NULL, TA_OPTIMIZER, TA_A(optimizer), 0, 0, NULL, "adamw | adam | sgd | lion", NULL, "training"},
    {"--lr", NULL, "X", TA_DOUBLE, TA_O(lr), 1e-12, 1e6, NULL, "peak learning rate eta", "the parametrization's: 2^-1 umup and spectral-adam, 2^-2 mus, 2^-9 sp/mup/spectral-nanotron", "training"},
    {"--warmup", NULL, "N", TA_LONG, TA_O(schedule.warmup), 0, 1e9, NULL, "linear warmup steps", "steps/10", "training"},
    {"--schedule", NULL, NULL, TA_CHOICE, TA_O(schedule.decay), 0, 0, "constant|cosine|linear", "LR decay after warmup", "cosine", "training"},
    {"--min-lr-ratio", NULL, "R", TA_FLOAT, TA_O(schedule.min_ratio), 0, 1, NULL, "decay floor as a fraction of eta", "0.1", "training"},
    {"--weight-decay", NULL, "L", TA_DOUBLE, TA_O(weight_decay), 0, 1e6, NULL, "lambda", "0", "training"},
    {"--clip", NULL, "C", TA_DOUBLE, TA_O(clip_norm), 0, 1e30, NULL, "global gradient-norm clipping, 0 = off", "the parametrization's: 1 sp/mup/spectral, off umup/mus", "training"},
    {"--clip-rms", NULL, "C", TA_DOUBLE, TA_O(clip_rms), 0, 1e30, NULL, "clipping on the gradient's RMS (width-independent for u-muP), 0 = off", "0", "training"},
    {"--momentum", NULL, "M", TA_DOUBLE, TA_O(momentum), 0, 0.999999, NULL, "SGD momentum", "0.9", "training"},
    {"--seed", NULL, "S", TA_U64, TA_M(seed), 0, 1e15, NULL, "seed of init, data order and rounding", NULL, "training"},
    {"--data", NULL, "FILE", TA_STRING, TA_A(data_path), 0, 0, NULL, "train on a file's bytes instead of the embedded corpus", "the embedded corpus", "data and evaluation"},
    {"--corpus-bytes", NULL, "N", TA_DOUBLE, TA_A(corpus_bytes), 4096, 1e10, NULL, "size of the embedded corpus", NULL, "data and evaluation"},
    {"--eval-interval", NULL, "N", TA_LONG, TA_A(eval_interval), 1, 1e9, NULL, "evaluate every N steps", NULL, "data and evaluation"},
    {"--eval-batches", NULL, "N", TA_INT, TA_A(eval_batches), 1, 1e6, NULL, "validation batches per evaluation", NULL, "data and evaluation"},
};
#undef TA_M
#undef TA_O
#undef TA_A
#define TRAIN_ARGS_NFLAGS ((int)(sizeof train_args_flags / sizeof train_args_flags[0]))
typedef char train_args_fits_set[TRAIN_ARGS_NFLAGS <= 64 ? 1 : -1]; /* train_args.set has room */

/* The demos' defaults (the library's where it has one: umup_model_config_default). */
static inline void train_args_init(train_args *a) {
    memset(a, 0, sizeof *a);
    a->mc = umup_model_config_default();
    a->mc.width = 128;
    a->mc.heads = 0;
    a->mc.head_size = 32;
    a->mc.max_seq = 128;
    a->mc.mus_tau = 0.0f; /* the library's default */
    a->mc.fp8 = UMUP_FP8_SIM_UMUP;
    a->mc.fp8_rounding = UMUP_FP8_SR;
    a->mc.seed = 1;
    a->optimizer = UMUP_OPT_ADAMW;
    a->steps = 600;
    a->batch = 8;
    a->seq = 128;
    a->corpus_bytes = 4000000;
    a->eval_interval = 100;
    a->eval_batches = 8;
}

/* index of `name` in the shared table, or -1 */
static inline int train_args_find(const char *name) {
    int i;
    for (i = 0; i < TRAIN_ARGS_NFLAGS; i++)
        if (!strcmp(train_args_flags[i].name, name) || (train_args_flags[i].alias && !strcmp(train_args_flags[i].alias, name)))
            return i;
    return -1;
}

/* Was the shared flag `name` given on the command line? */
static inline int train_args_given(const train_args *a, const char *name) {
    int i = train_args_find(name);
    return i >= 0 && a->set[i];
}

/* A number in [lo, hi]; integral != 0 also requires an integer value. */
static inline int train_args_num(const char *s, double lo, double hi, int integral, double *out) {
    char *end;
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (end == s || *end || errno || !(v >= lo && v <= hi)) return 0;
    if (integral && v != floor(v)) return 0;
    *out = v;
    return 1;
}

/* Writes value v of flag f into the struct at base; returns 0 for a bad value (message in why). */
static inline int train_args_store(const ta_flag *f, void *base, const char *v, char *why, size_t cap) {
    char *p = (char *)base + f->offset;
    double x = 0;
    int integral = f->type == TA_INT || f->type == TA_LONG || f->type == TA_U64;
    switch (f->type) {
    case TA_INT: case TA_LONG: case TA_U64: case TA_FLOAT: case TA_DOUBLE:
        if (!train_args_num(v, f->lo, f->hi, integral, &x)) {
            snprintf(why, cap, "want %s in [%g, %g]", integral ? "an integer" : "a number", f->lo, f->hi);
            return 0;
        }
        if (f->type == TA_INT) *(int *)p = (int)x;
        else if (f->type == TA_LONG) *(long *)p = (long)x;
        else if (f->type == TA_U64) *(uint64_t *)p = (uint64_t)x;
        else if (f->type == TA_FLOAT) *(float *)p = (float)x;
        else *(double *)p = x;
        return 1;
    case TA_SWITCH: *(int *)p = 1; return 1;
    case TA_STRING:
        if (!v[0]) { snprintf(why, cap, "want a non-empty value"); return 0; }
        *(const char **)p = v;
        return 1;
    case TA_CHOICE: {
        const char *c = f->choices;
        int idx = 0;
        size_t len = strlen(v);
        while (*c) {
            size_t l = strcspn(c, "|");
            if (l == len && !strncmp(c, v, len)) { *(int *)p = idx; return 1; }
            c += l;
            if (*c == '|') c++;
            idx++;
        }
        snprintf(why, cap, "want one of %s", f->choices);
        return 0;
    }
    case TA_PARAM:
        if (umup_param_parse(v, (umup_parametrization *)(void *)p) == UMUP_OK) return 1;
        snprintf(why, cap, "want one of %s", TA_PARAM_NAMES);
        return 0;
    case TA_OPTIMIZER:
        if (umup_optim_parse(v, (umup_optimizer_kind *)(void *)p) == UMUP_OK) return 1;
        snprintf(why, cap, "want one of adamw, adam, sgd, lion");
        return 0;
    }
    return 0;
}

/* The value a flag's field holds, as text (the default, before parsing). */
static inline void train_args_show(const ta_flag *f, const void *base, char *buf, size_t cap) {
    const char *p = (const char *)base + f->offset;
    switch (f->type) {
    case TA_INT: snprintf(buf, cap, "%d", *(const int *)p); break;
    case TA_LONG: snprintf(buf, cap, "%ld", *(const long *)p); break;
    case TA_U64: snprintf(buf, cap, "%llu", (unsigned long long)*(const uint64_t *)p); break;
    case TA_FLOAT: snprintf(buf, cap, "%g", (double)*(const float *)p); break;
    case TA_DOUBLE: snprintf(buf, cap, "%g", *(const double *)p); break;
    case TA_SWITCH: snprintf(buf, cap, "%s", *(const int *)p ? "on" : "off"); break;
    case TA_STRING: snprintf(buf, cap, "%s", *(const char *const *)p ? *(const char *const *)p : "none"); break;
    case TA_CHOICE: {
        int idx = *(const int *)p, i = 0;
        const char *c = f->choices;
        while (*c && i < idx) { c += strcspn(c, "|"); if (*c == '|') c++; i++; }
        snprintf(buf, cap, "%.*s", (int)strcspn(c, "|"), c);
        break;
    }
    case TA_PARAM: snprintf(buf, cap, "%s", umup_param_name(*(const umup_parametrization *)(const void *)p)); break;
    case TA_OPTIMIZER: snprintf(buf, cap, "%s", umup_optim_name(*(const umup_optimizer_kind *)(const void *)p)); break;
    }
}

/* Prints a table's flags, each with its help and default, under its group headings. */
static inline void train_args_print_table(FILE *out, const ta_flag *t, int n, const void *base) {
    const char *group = NULL;
    int i;
    for (i = 0; i < n; i++) {
        char lhs[64], def[96];
        if (t[i].group && (!group || strcmp(group, t[i].group))) { group = t[i].group; fprintf(out, "%s:\n", group); }
        snprintf(lhs, sizeof lhs, "%s%s%s%s%s", t[i].name, t[i].alias ? ", " : "", t[i].alias ? t[i].alias : "",
                 t[i].meta ? " " : t[i].type == TA_CHOICE ? " " : "", t[i].meta ? t[i].meta : t[i].type == TA_CHOICE ? t[i].choices : "");
        if (t[i].def) snprintf(def, sizeof def, "%s", t[i].def);
        else train_args_show(&t[i], base, def, sizeof def);
        fprintf(out, "  %-24s %s (default %s)\n", lhs, t[i].help, def);
    }
}

/* The whole usage text: intro, the demo's own flags, then the shared ones. */
static inline void train_args_usage(FILE *out, const train_args *a, const char *intro, const ta_flag *extra, int n_extra,
                                    const void *extra_base) {
    fputs(intro, out);
    if (n_extra) train_args_print_table(out, extra, n_extra, extra_base);
    train_args_print_table(out, train_args_flags, TRAIN_ARGS_NFLAGS, a);
    fprintf(out, "  --help                   this text\n");
}

/* Parses argv[1 ..]: the demo's own flags (extra[0 .. n_extra), fields in *extra_base) and the shared
 * ones. Returns 0 to go on, 1 after printing the usage for --help, 2 after reporting a bad command
 * line on stderr (the caller exits with 0 or 2). */
static inline int train_args_parse(train_args *a, int argc, char **argv, const char *prog, const char *intro,
                                   const ta_flag *extra, int n_extra, void *extra_base) {
    train_args defaults = *a;
    int i, k;
    for (i = 1; i < argc; i++) {
        const char *f = argv[i];
        const ta_flag *fl = NULL;
        void *base = a;
        char why[160];
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            train_args_usage(stdout, &defaults, intro, extra, n_extra, extra_base);
            return 1;
        }
        for (k = 0; k < n_extra && !fl; k++)
            if (!strcmp(extra[k].name, f) || (extra[k].alias && !strcmp(extra[k].alias, f))) { fl = &extra[k]; base = extra_base; }
        if (!fl && (k = train_args_find(f)) >= 0) {
            fl = &train_args_flags[k];
            a->set[k] = 1;
        }
        if (!fl) {
            fprintf(stderr, "%s: %s '%s' (see --help)\n", prog, strncmp(f, "--", 2) ? "unexpected argument" : "unknown option", f);
            return 2;
        }
        if (fl->type == TA_SWITCH) { train_args_store(fl, base, "", why, sizeof why); continue; }
        if (i + 1 >= argc) { fprintf(stderr, "%s: %s needs a value (see --help)\n", prog, f); return 2; }
        if (!train_args_store(fl, base, argv[++i], why, sizeof why)) {
            fprintf(stderr, "%s: bad value '%s' for %s: %s\n", prog, argv[i], f, why);
            return 2;
        }
    }
    if (train_args_given(a, "--heads") && train_args_given(a, "--head-size")) {
        fprintf(stderr, "%s: give --heads or --head-size, not both\n", prog);
        return 2;
    }
    if (train_args_given(a, "--heads")) a->mc.head_size = 0;
    if (train_args_given(a, "--head-size")) a->mc.heads = 0;
    if (!a->mc.heads && a->mc.head_size && a->mc.width % a->mc.head_size) {
        fprintf(stderr, "%s: width %d is not a multiple of the head size %d%s: pass --heads H or --head-size D\n", prog,
                a->mc.width, a->mc.head_size, train_args_given(a, "--head-size") ? "" : " (the default)");
        return 2;
    }
    return 0;
}

/* Bytes of a flag's field. */
static inline size_t train_args_field_size(ta_type t) {
    return t == TA_DOUBLE ? sizeof(double) : t == TA_LONG ? sizeof(long) : t == TA_U64 ? sizeof(uint64_t)
         : t == TA_FLOAT ? sizeof(float) : t == TA_STRING ? sizeof(const char *) : sizeof(int);
}

/* Resolves what depends on several flags: max_seq = seq, the --arch preset (for the flags of --mlp
 * and --norm not given), and the optimizer: the parametrization's defaults for a run of `steps`
 * updates (umup_optim_config_for_info: eta, clipping, warmup steps/10, cosine decay to 0.1 eta, SGD
 * momentum 0.9), with every optimizer flag given on the command line laid over them. */
static inline void train_args_finish(train_args *a) {
    train_args d = *a;
    int i;
    a->mc.max_seq = a->seq;
    if (a->arch == 1) { /* the muS paper's architecture (umup_model_config_mus, without the parametrization) */
        umup_model_config p = a->mc;
        umup_model_config_mus(&p);
        if (!train_args_given(a, "--mlp")) a->mc.mlp = p.mlp;
        if (!train_args_given(a, "--norm")) a->mc.norm = p.norm;
    }
    d.oc = umup_optim_config_for_info(umup_param_config_info(&a->mc.param), a->optimizer, a->steps);
    for (i = 0; i < TRAIN_ARGS_NFLAGS; i++) {
        size_t o = train_args_flags[i].offset;
        if (a->set[i] && o >= offsetof(train_args, oc) && o < offsetof(train_args, oc) + sizeof(umup_optim_config))
            memcpy((char *)&d + o, (const char *)a + o, train_args_field_size(train_args_flags[i].type));
    }
    a->oc = d.oc;
    a->oc.schedule.total = a->steps;
}

/* Every setting of a parsed and finished train_args that changes a run's result, as one line of
 * space-separated key=value tokens: each shared flag without its dashes (the parametrization's
 * defaults resolved, floats in full precision), then the optimizer settings no flag sets (betas, eps,
 * Nesterov). demos/train prints it as its first line ("config ..."), and lr_sweep --collect compares
 * a log's line with the one it computes for the run, so logs made with other settings are never
 * mixed into a table. Spaces, '%' and control characters in a value (a --data path) are written as
 * %XX, so every token is one word. */
static inline void train_args_config_line(const train_args *a, char *buf, size_t cap) {
    size_t n = 0;
    int i;
    buf[0] = 0;
#define TA_PUT(...) do { if (n < cap) { int w_ = snprintf(buf + n, cap - n, __VA_ARGS__); n += w_ > 0 ? (size_t)w_ : 0; } } while (0)
    for (i = 0; i < TRAIN_ARGS_NFLAGS; i++) {
        const ta_flag *f = &train_args_flags[i];
        const char *p = (const char *)a + f->offset;
        char val[256];
        if (f->type == TA_FLOAT) snprintf(val, sizeof val, "%.9g", (double)*(const float *)p);
        else if (f->type == TA_DOUBLE) snprintf(val, sizeof val, "%.17g", *(const double *)p);
        else if (f->type == TA_STRING) {
            const char *v = *(const char *const *)p;
            size_t k, m = 0;
            for (k = 0; v && v[k] && m + 4 < sizeof val; k++) {
                unsigned char c = (unsigned char)v[k];
                if (c <= ' ' || c == '%' || c == 127) m += (size_t)snprintf(val + m, sizeof val - m, "%%%02X", c);
                else val[m++] = (char)c;
            }
            val[m] = 0;
            if (!v) snprintf(val, sizeof val, "-");
        } else train_args_show(f, a, val, sizeof val);
        TA_PUT("%s%s=%s", i ? " " : "", f->name + 2, val);
    }
    TA_PUT(" beta1=%.17g beta2=%.17g eps=%.17g nesterov=%d", a->oc.beta1, a->oc.beta2, a->oc.eps, a->oc.nesterov);
#undef TA_PUT
}

/* demos/train's own flags (lr_sweep passes them on, and so parses them too). */
typedef struct {
    const char *save, *resume, *init_from, *prompt;
    long save_every;
    int keep, eval_only, sample, top_k, dry_run, quiet;
    double temperature;
    int device, precision;    /* --device cpu|cuda|cuda-emulated, --precision fp32|tf32|bf16|fp8 */
    int grad_shards, overlap; /* data parallelism (overlap: with MPI only) */
    double timeout;           /* --mpi-timeout, seconds (0: umup_mpi.h's default) */
} train_opts;

#define TA_T(f) offsetof(train_opts, f)
static const ta_flag train_opts_flags[] = {
    {"--save", NULL, "PATH", TA_STRING, TA_T(save), 0, 0, NULL, "write a full checkpoint at the end (atomically; PATH is checked before training)", "none", "checkpoints and sampling"},
    {"--save-every", NULL, "N", TA_LONG, TA_T(save_every), 1, 1e9, NULL, "also every N steps, to <PATH without .safetensors>.step<N>.safetensors", "none", "checkpoints and sampling"},
    {"--keep", NULL, "K", TA_INT, TA_T(keep), 0, 1e6, NULL, "keep the newest K of the checkpoints --save-every wrote (0 = all)", NULL, "checkpoints and sampling"},
    {"--resume", NULL, "PATH", TA_STRING, TA_T(resume), 0, 0, NULL, "continue a run from a full checkpoint: the same flags, but --steps may grow (README: Checkpoints)", "none", "checkpoints and sampling"},
    {"--init-from", NULL, "PATH", TA_STRING, TA_T(init_from), 0, 0, NULL, "start from a checkpoint's weights: step 0, a new optimizer (fine-tuning)", "none", "checkpoints and sampling"},
    {"--eval-only", NULL, NULL, TA_SWITCH, TA_T(eval_only), 0, 0, NULL, "evaluate the model (after --resume or --init-from) and exit", NULL, "checkpoints and sampling"},
    {"--sample", NULL, "N", TA_INT, TA_T(sample), 0, 1e6, NULL, "generate N bytes at the end (0 = none)", NULL, "checkpoints and sampling"},
    {"--prompt", NULL, "STR", TA_STRING, TA_T(prompt), 0, 0, NULL, "sampling prompt", NULL, "checkpoints and sampling"},
    {"--temperature", NULL, "T", TA_DOUBLE, TA_T(temperature), 0, 100, NULL, "sampling temperature", NULL, "checkpoints and sampling"},
    {"--top-k", NULL, "K", TA_INT, TA_T(top_k), 0, 1e6, NULL, "sample among the K most likely (0 = all)", NULL, "checkpoints and sampling"},
    {"--device", NULL, NULL, TA_CHOICE, TA_T(device), 0, 0, "cpu|cuda|cuda-emulated", "train on the CPU, or on the GPU with the device trainer (the build of make CUDA=1: build/gpu/train); cuda-emulated runs the device trainer's kernels on the host (slow: a check without a GPU)", NULL, "device"},
    {"--precision", NULL, NULL, TA_CHOICE, TA_T(precision), 0, 0, "fp32|tf32|bf16|fp8", "--device cuda: the matmuls' precision (fp8: the layers --fp8 casts as real FP8 products, sm_89+)", NULL, "device"},
    {"--grad-shards", NULL, "N", TA_INT, TA_T(grad_shards), 1, 65536, NULL, "cut every batch into N shards whose gradients are added in order (with MPI: the number of processes)", "1", "data parallelism"},
#ifdef UMUP_USE_MPI
    {"--overlap", NULL, NULL, TA_SWITCH, TA_T(overlap), 0, 0, NULL, "exchange gradients during the backward pass (same bits)", "off", "data parallelism"},
    {"--mpi-timeout", NULL, "S", TA_DOUBLE, TA_T(timeout), 0.1, 1e7, NULL, "fail when another process has not answered for S seconds", "600", "data parallelism"},
#endif
    {"--dry-run", NULL, NULL, TA_SWITCH, TA_T(dry_run), 0, 0, NULL, "check the flags, the configuration and the --data file, print them and the memory the run needs, exit (0 if valid)", NULL, "other"},
    {"--quiet", NULL, NULL, TA_SWITCH, TA_T(quiet), 0, 0, NULL, "only the configuration line and the final line", NULL, "other"},
};
#undef TA_T
#define TRAIN_OPTS_NFLAGS ((int)(sizeof train_opts_flags / sizeof train_opts_flags[0]))

/* train's defaults for its own flags. */
static inline void train_opts_init(train_opts *o) {
    memset(o, 0, sizeof *o);
    o->sample = 200;
    o->prompt = "the ";
    o->temperature = 0.8;
    o->keep = 3;
}

/* A comma-separated list of parametrization names ("sp,mup,umup") into out[0 .. max): returns how
 * many, or 0 for an empty list, an unknown name or more than max. */
static inline int train_args_parse_params(const char *s, umup_parametrization *out, int max) {
    int n = 0;
    while (*s) {
        char name[32];
        size_t len = strcspn(s, ",");
        if (len == 0 || len >= sizeof name || n == max) return 0;
        memcpy(name, s, len);
        name[len] = 0;
        if (umup_param_parse(name, &out[n]) != UMUP_OK) return 0;
        n++;
        s += len;
        if (*s == ',') s++;
    }
    return n;
}

/* Why creating a model or trainer for mc failed with st: the parametrization's own explanation when
 * it has one (umup_param_config_error), else the status. */
static inline const char *train_args_why(const umup_model_config *mc, umup_status st) {
    const char *why = umup_param_config_error(&mc->param);
    return why ? why : umup_status_string(st);
}

/* Loads --data FILE or generates the embedded corpus (seed 1234, 10% validation). */
static inline umup_status train_args_dataset(const train_args *a, umup_dataset *ds) {
    if (a->data_path) return umup_dataset_load_file(ds, a->data_path, 0.1);
    return umup_dataset_from_corpus(ds, (size_t)a->corpus_bytes, 1234, 0.1);
}

/* Mean validation loss over nb deterministic validation batches (ids, tg: [B, T]). */
static inline double train_args_eval(umup_trainer *tr, const umup_dataset *ds, int nb, int B, int T, int32_t *ids,
                                     int32_t *tg) {
    double vl = 0;
    int k;
    for (k = 0; k < nb; k++) {
        float l = 0;
        umup_dataset_batch(ds, 1, 0, k, B, T, ids, tg);
        umup_trainer_eval(tr, ids, tg, B, T, &l);
        vl += l;
    }
    return vl / nb;
}

#endif
