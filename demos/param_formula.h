/* demos/param_formula.h - the arithmetic behind param_table's formula column: a small evaluator for
 * formulas such as "1/sqrt(fan_in)/sqrt(L)" or "min(1, sqrt(fan_out/fan_in))/sqrt(fan_in)", so the
 * table can check every formula it prints against the number umup_param_rule() returns.
 * tests/test_demos.c tests it. Grammar (usual precedence; ^ binds tightest, right-associative, and
 * -2^2 = -4):
 *   expr := term (('+' | '-') term)*      term := unary (('*' | '/') unary)*
 *   unary := '-' unary | power            power := primary ('^' unary)?
 *   primary := number | name | name '(' expr (',' expr)* ')' | '(' expr ')'
 * Functions: sqrt(x), min(x, y), max(x, y). "n/a" is NaN (a rule the source does not define). */
#ifndef PARAM_FORMULA_H
#define PARAM_FORMULA_H

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    double value;
} pf_var;

typedef struct {
    const char *s;
    const pf_var *vars;
    int n_vars, ok;
} pf_parser;

static double pf_expr(pf_parser *p);
static double pf_unary(pf_parser *p);

static void pf_space(pf_parser *p) {
    while (*p->s == ' ') p->s++;
}

static double pf_primary(pf_parser *p) {
    pf_space(p);
    if (*p->s == '(') {
        double v;
        p->s++;
        v = pf_expr(p);
        pf_space(p);
        if (*p->s == ')') p->s++;
        else p->ok = 0;
        return v;
    }
    if (isdigit((unsigned char)*p->s) || *p->s == '.') {
        char *end;
        double v = strtod(p->s, &end);
        p->s = end;
        return v;
    }
    if (isalpha((unsigned char)*p->s) || *p->s == '_') {
        const char *start = p->s;
        size_t len;
        int i;
        while (isalnum((unsigned char)*p->s) || *p->s == '_') p->s++;
        len = (size_t)(p->s - start);
        pf_space(p);
        if (*p->s == '(') { /* a function call */
            double a[2] = {0.0, 0.0};
            int n = 0;
            p->s++;
            for (;;) {
                double v = pf_expr(p);
                if (n < 2) a[n] = v;
                n++;
                pf_space(p);
                if (*p->s != ',') break;
                p->s++;
            }
            if (*p->s == ')') p->s++;
            else p->ok = 0;
            if (len == 4 && !strncmp(start, "sqrt", 4) && n == 1) return sqrt(a[0]);
            if (len == 3 && !strncmp(start, "min", 3) && n == 2) return a[0] < a[1] ? a[0] : a[1];
            if (len == 3 && !strncmp(start, "max", 3) && n == 2) return a[0] > a[1] ? a[0] : a[1];
            p->ok = 0;
            return 0.0;
        }
        for (i = 0; i < p->n_vars; i++)
            if (strlen(p->vars[i].name) == len && !strncmp(p->vars[i].name, start, len)) return p->vars[i].value;
    }
    p->ok = 0;
    return 0.0;
}

static double pf_power(pf_parser *p) {
    double b = pf_primary(p);
    pf_space(p);
    if (*p->s == '^') {
        p->s++;
        return pow(b, pf_unary(p)); /* 2^3^2 = 2^9; 2^-1 = 0.5 */
    }
    return b;
}

static double pf_unary(pf_parser *p) {
    pf_space(p);
    if (*p->s == '-') {
        p->s++;
        return -pf_unary(p); /* -2^2 = -(2^2) */
    }
    return pf_power(p);
}

static double pf_term(pf_parser *p) {
    double v = pf_unary(p);
    for (;;) {
        pf_space(p);
        if (*p->s == '*') { p->s++; v *= pf_unary(p); }
        else if (*p->s == '/') { p->s++; v /= pf_unary(p); }
        else return v;
    }
}

static double pf_expr(pf_parser *p) {
    double v = pf_term(p);
    for (;;) {
        pf_space(p);
        if (*p->s == '+') { p->s++; v += pf_term(p); }
        else if (*p->s == '-') { p->s++; v -= pf_term(p); }
        else return v;
    }
}

/* Evaluates formula with the n_vars variables. Returns 1 and sets *out, or 0 for a syntax error,
 * an unknown name or function, or trailing text. */
static int pf_eval(const char *formula, const pf_var *vars, int n_vars, double *out) {
    pf_parser p;
    double v;
    if (!strcmp(formula, "n/a")) {
        *out = NAN;
        return 1;
    }
    p.s = formula;
    p.vars = vars;
    p.n_vars = n_vars;
    p.ok = 1;
    v = pf_expr(&p);
    pf_space(&p);
    if (!p.ok || *p.s) return 0;
    *out = v;
    return 1;
}

/* A formula's value agrees with the library's float: both NaN, or within a relative 1e-5. */
static int pf_agree(double formula, double library) {
    if (formula != formula || library != library) return formula != formula && library != library;
    return fabs(formula - library) <= 1e-5 * fabs(library) + 1e-30;
}

#endif /* PARAM_FORMULA_H */
