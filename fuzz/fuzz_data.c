/* fuzz/fuzz_data.c - libFuzzer target: the --data loader (umup_dataset_check_file,
 * umup_dataset_load_file) and the batches and statistics drawn from what it loaded.
 *
 * The input's first 4 bytes choose the validation fraction, the seed, B and T; the rest is written to
 * a file and loaded. Checked beyond the sanitizers: the check and the load agree on status and size,
 * a failure owns nothing and says why, the split is as documented, every batch's ids and targets are
 * bytes of the file with targets[t] = ids[t + 1], and the unigram entropy lies in [0, 8] bits.
 *
 *   make fuzz FUZZ_SECONDS=60
 *   ./build/fuzz/fuzz_data -max_total_time=3600 build/fuzz/corpus/data fuzz/corpus/data */
#define _POSIX_C_SOURCE 200809L
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "fuzz_common.h"

#define FUZZ_CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz_data: check failed: %s (line %d)\n", #c, __LINE__); abort(); } } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int32_t ids[4 * 64], tg[4 * 64];
    const char *path = fuzz_tmp_path("data"), *why = NULL;
    static const double fracs[8] = {0.0, 0.1, 0.5, 0.25, 0.001, -0.1, 0.6, 1e-300};
    umup_dataset ds;
    umup_status st, st_check;
    size_t bytes = 0;
    double frac, h;
    int B, T, split, b, t;
    uint64_t seed;
    if (size < 4) return 0;
    frac = fracs[data[0] & 7];
    seed = data[1];
    B = 1 + (data[2] & 3);
    T = 1 + (data[3] & 63);
    fuzz_write_file(path, data + 4, size - 4);
    st_check = umup_dataset_check_file(path, &bytes, &why);
    st = umup_dataset_load_file(&ds, path, frac);
    if (!(frac >= 0.0 && frac <= 0.5)) {
        FUZZ_CHECK(st == UMUP_ERR_INVALID_ARG && ds.data == NULL && ds.error);
        return 0;
    }
    FUZZ_CHECK(st == st_check);
    if (st != UMUP_OK) {
        FUZZ_CHECK(st == UMUP_ERR_FORMAT && size - 4 < 1024);
        FUZZ_CHECK(ds.data == NULL && ds.n == 0 && ds.error && why && !strcmp(why, ds.error));
        return 0;
    }
    FUZZ_CHECK(size - 4 >= 1024 && bytes == size - 4 && ds.n == bytes && why == NULL && ds.error == NULL);
    FUZZ_CHECK(memcmp(ds.data, data + 4, ds.n) == 0);
    FUZZ_CHECK(ds.n_train <= ds.n && ds.n_train >= ds.n / 2 && ds.n - ds.n_train <= ds.n / 2 + 1);
    for (split = 0; split < 2; split++) {
        size_t len = split ? ds.n - ds.n_train : ds.n_train;
        st = umup_dataset_batch(&ds, split, seed, (long)data[0], B, T, ids, tg);
        if (len < (size_t)T + 1) { FUZZ_CHECK(st == UMUP_ERR_SHAPE); continue; }
        FUZZ_CHECK(st == UMUP_OK);
        for (b = 0; b < B; b++)
            for (t = 0; t < T; t++) {
                FUZZ_CHECK(ids[b * T + t] >= 0 && ids[b * T + t] < 256 && tg[b * T + t] >= 0 && tg[b * T + t] < 256);
                if (t + 1 < T) FUZZ_CHECK(tg[b * T + t] == ids[b * T + t + 1]);
            }
    }
    h = umup_dataset_unigram_entropy(&ds);
    FUZZ_CHECK(h >= -1e-9 && h <= 8.0 + 1e-9);
    umup_dataset_free(&ds);
    FUZZ_CHECK(ds.data == NULL && ds.n == 0);
    return 0;
}
