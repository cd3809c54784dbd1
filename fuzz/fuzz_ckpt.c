/* fuzz/fuzz_ckpt.c - libFuzzer target: umup_trainer_load on an arbitrary file.
 *
 * A tiny trainer (vocab 16, width 8, one layer) is created once; every input is written to a file and
 * loaded into it. Checked beyond the sanitizers: a load returns one of the documented statuses, a
 * failed load leaves the parameters and the step bit for bit as they were and explains itself
 * (umup_trainer_error), and a successful load is followed by a fresh trainer so that every input
 * starts from the same state. The seed corpus (fuzz/corpus/ckpt) holds a valid checkpoint of this
 * configuration, written by `fuzz_ckpt -write_seed=PATH` (a flag of this target, not of libFuzzer).
 *
 *   make fuzz FUZZ_SECONDS=60          (every target)
 *   ./build/fuzz/fuzz_ckpt -max_total_time=3600 build/fuzz/corpus/ckpt fuzz/corpus/ckpt */
#define _POSIX_C_SOURCE 200809L
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "fuzz_common.h"

static umup_trainer *tr;
static float *snapshot;
static size_t n_params;

static void make_trainer(void) {
    umup_model_config mc = umup_model_config_default();
    umup_optim_config oc = umup_optim_config_default(UMUP_OPT_ADAMW);
    mc.vocab = 16;
    mc.width = 8;
    mc.layers = 1;
    mc.heads = 1;
    mc.head_size = 8;
    mc.mlp_expansion = 1;
    mc.max_seq = 4;
    mc.seed = 7;
    oc.schedule.total = 100;
    if (tr) umup_trainer_destroy(tr);
    if (umup_trainer_create(&tr, &mc, &oc, 1) != UMUP_OK) abort();
    n_params = umup_model_num_params(umup_trainer_model(tr));
    if (!snapshot) snapshot = (float *)malloc(n_params * sizeof(float));
    if (!snapshot) abort();
    memcpy(snapshot, umup_model_params(umup_trainer_model(tr)), n_params * sizeof(float));
}

/* A valid checkpoint of this configuration after 3 training steps: the seed of the corpus. */
static int write_seed(const char *path) {
    int32_t ids[4] = {1, 2, 3, 4}, tg[4] = {2, 3, 4, 5};
    float loss;
    int s;
    make_trainer();
    for (s = 0; s < 3; s++)
        if (umup_trainer_step(tr, ids, tg, 1, 4, &loss) != UMUP_OK) return 1;
    if (umup_trainer_save(tr, path) != UMUP_OK) { fprintf(stderr, "%s\n", umup_trainer_error(tr)); return 1; }
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    int i;
    for (i = 1; i < *argc; i++)
        if (!strncmp((*argv)[i], "-write_seed=", 12)) exit(write_seed((*argv)[i] + 12));
    make_trainer();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_tmp_path("ckpt");
    umup_status st;
    fuzz_write_file(path, data, size);
    st = umup_trainer_load(tr, path);
    if (st == UMUP_OK) {
        make_trainer(); /* the next input starts from the initial state again */
        return 0;
    }
    if (st != UMUP_ERR_IO && st != UMUP_ERR_FORMAT && st != UMUP_ERR_MISMATCH && st != UMUP_ERR_NOMEM &&
        st != UMUP_ERR_NONFINITE && st != UMUP_ERR_INVALID_ARG) {
        fprintf(stderr, "umup_trainer_load: undocumented status %d\n", (int)st);
        abort();
    }
    if (!umup_trainer_error(tr)[0]) { fprintf(stderr, "umup_trainer_load failed without a reason\n"); abort(); }
    if (umup_trainer_optimizer(tr)->step != 0 ||
        memcmp(snapshot, umup_model_params(umup_trainer_model(tr)), n_params * sizeof(float)) != 0) {
        fprintf(stderr, "a failed umup_trainer_load changed the trainer (%s)\n", umup_trainer_error(tr));
        abort();
    }
    return 0;
}
