/* fuzz/fuzz_flags.c - libFuzzer target: the demos' flag parser (demos/train_args.h) with train's own
 * flags, as demos/train runs it: parse, finish, the configuration line, and the --dry-run sizing of
 * the model (umup_model_memory_needed, which allocates nothing).
 *
 * The input is the command line: arguments separated by NUL bytes, each copied into its own
 * allocation (so reading past an argument is an ASan report). Checked beyond the sanitizers: the
 * parser returns 0, 1 (--help) or 2 (an error it reported), and after 0 every numeric field lies in
 * its table's range (integers integral), the configuration line has one token per setting, and the
 * sizing returns a documented status.
 *
 *   make fuzz FUZZ_SECONDS=60
 *   ./build/fuzz/fuzz_flags -max_total_time=3600 -dict=fuzz/flags.dict build/fuzz/corpus/flags fuzz/corpus/flags */
#define _POSIX_C_SOURCE 200809L
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "demos/train_args.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 64
#define FUZZ_CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz_flags: check failed: %s (line %d)\n", #c, __LINE__); abort(); } } while (0)

/* Every numeric field of a table within its range. */
static void check_table(const ta_flag *t, int n, const void *base) {
    int i;
    for (i = 0; i < n; i++) {
        const char *p = (const char *)base + t[i].offset;
        double v;
        switch (t[i].type) {
        case TA_INT: v = *(const int *)p; break;
        case TA_LONG: v = (double)*(const long *)p; break;
        case TA_U64: v = (double)*(const uint64_t *)p; break;
        case TA_FLOAT: v = *(const float *)p; break;
        case TA_DOUBLE: v = *(const double *)p; break;
        default: continue;
        }
        /* a default may lie outside the range (0 meaning "the library's default"); a value given must not */
        if (v == 0.0) continue;
        FUZZ_CHECK(v >= (t[i].type == TA_FLOAT ? (double)(float)t[i].lo : t[i].lo) &&
                   v <= (t[i].type == TA_FLOAT ? (double)(float)t[i].hi : t[i].hi));
        if (t[i].type == TA_INT || t[i].type == TA_LONG || t[i].type == TA_U64) FUZZ_CHECK(v == floor(v));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *argv[MAX_ARGS + 2];
    char line[4096];
    int argc = 1, r, i, tokens = 1;
    size_t pos = 0, pb, gb, ab;
    train_args ta;
    train_opts o;
    umup_status st;
    argv[0] = (char *)malloc(6);
    if (!argv[0]) return 0;
    memcpy(argv[0], "train", 6);
    while (pos < size && argc <= MAX_ARGS) {
        size_t len = 0;
        while (pos + len < size && data[pos + len]) len++;
        argv[argc] = (char *)malloc(len + 1);
        if (!argv[argc]) break;
        memcpy(argv[argc], data + pos, len);
        argv[argc][len] = 0;
        argc++;
        pos += len + 1;
    }
    argv[argc] = NULL;
    train_args_init(&ta);
    train_opts_init(&o);
    r = train_args_parse(&ta, argc, argv, "train", "usage: train [options]\n", train_opts_flags, TRAIN_OPTS_NFLAGS, &o);
    FUZZ_CHECK(r == 0 || r == 1 || r == 2);
    if (r == 0) {
        check_table(train_args_flags, TRAIN_ARGS_NFLAGS, &ta);
        check_table(train_opts_flags, TRAIN_OPTS_NFLAGS, &o);
        train_args_finish(&ta);
        train_args_config_line(&ta, line, sizeof line);
        for (i = 0; line[i]; i++) tokens += line[i] == ' ';
        FUZZ_CHECK(tokens == TRAIN_ARGS_NFLAGS + 4 && strlen(line) < sizeof line - 1);
        FUZZ_CHECK(ta.oc.schedule.total == ta.steps && ta.oc.schedule.warmup >= 0 && ta.mc.max_seq == ta.seq);
        st = umup_model_memory_needed(&ta.mc, ta.batch, &pb, &gb, &ab);
        FUZZ_CHECK(st == UMUP_OK || st == UMUP_ERR_NOMEM || st == UMUP_ERR_SHAPE || st == UMUP_ERR_INVALID_ARG);
    }
    for (i = 0; i < argc; i++) free(argv[i]);
    return 0;
}
