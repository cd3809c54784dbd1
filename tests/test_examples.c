/* tests/test_examples.c - runs the programs in examples/: each checks its own claims (FP8 round
 * trips and SR's unbiasedness, a unit-scaled op against finite differences, a small model that
 * learns) and exits 0 only when they hold, printing "<name>: ok" last. make test and make asan
 * build them into UMUP_EXAMPLE_DIR; without it the runs are skipped and say so. The sanitizer run
 * (UMUP_TEST_QUICK) leaves out the training example, minutes under ASan. */
#define _POSIX_C_SOURCE 200809L
#include "umup_test.h"

#include <stdlib.h>
#include <string.h>

static void run_example(const char *name, int slow) {
    const char *dir = getenv("UMUP_EXAMPLE_DIR");
    char cmd[1200], path[512], line[512], last[512] = "";
    FILE *f;
    int rc;
    if (!dir) { UT_SKIP("examples: run in make test and make asan (needs UMUP_EXAMPLE_DIR)"); return; }
    if (slow && ut_quick()) { UT_SKIP("train_small: not in the quick (sanitizer) run; test_train covers the trainer there"); return; }
    snprintf(path, sizeof path, "%.400s/%.60s.out", dir, name);
    snprintf(cmd, sizeof cmd, "%.400s/%.60s > %s 2>&1", dir, name, path);
    rc = system(cmd);
    UT_CHECKF(rc == 0, "%.60s exited with status %d (output in %.300s)", name, rc, path);
    f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        snprintf(last, sizeof last, "%s", line);
    }
    if (f) fclose(f);
    snprintf(line, sizeof line, "%s: ok", name);
    UT_CHECKF(!strcmp(last, line), "%.60s: last line '%.200s'", name, last);
}

static void test_fp8_round_trip(void) { run_example("fp8_round_trip", 0); }
static void test_unit_linear(void) { run_example("unit_linear", 0); }
static void test_train_small(void) { run_example("train_small", 1); }

int main(void) {
    UT_RUN(test_fp8_round_trip);
    UT_RUN(test_unit_linear);
    UT_RUN(test_train_small);
    return ut_finish("test_examples");
}
