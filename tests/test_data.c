/* tests/test_data.c - the embedded corpus and the datasets of umup.h:
 *  - the generator is deterministic per seed, and its entropy bound and unigram entropy are the
 *    figures the header documents;
 *  - dataset split sizes; batches are a pure function of (seed, step) with targets = next bytes;
 *  - missing, too short and invalid inputs give their statuses. */
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "umup_test.h"

static void test_corpus(void) {
    static char a[200000], b[200000];
    double bits = 0, bits2 = 0;
    size_t i, lines = 0;
    int digits = 0, open = 0, balanced = 1;
    UT_CHECK(umup_corpus_generate(a, sizeof a, 7, &bits) == UMUP_OK);
    UT_CHECK(umup_corpus_generate(b, sizeof b, 7, &bits2) == UMUP_OK);
    UT_CHECK(memcmp(a, b, sizeof a) == 0 && bits == bits2);
    umup_corpus_generate(b, sizeof b, 8, NULL);
    UT_CHECK(memcmp(a, b, sizeof a) != 0);
    /* structure: paragraphs, arithmetic, balanced brackets within each sentence */
    for (i = 0; i < sizeof a; i++) {
        lines += a[i] == '\n';
        digits += a[i] >= '0' && a[i] <= '9';
        if (a[i] == '(') open++;
        if (a[i] == ')') { open--; if (open < 0) balanced = 0; }
        if (a[i] == '.' && open != 0) balanced = 0;
    }
    UT_CHECK(lines > 100 && digits > 1000 && balanced);
    UT_CHECK(umup_corpus_generate(NULL, 10, 1, NULL) == UMUP_ERR_NULL);
}

static void test_dataset(void) {
    umup_dataset ds, bad;
    int32_t i1[4 * 16], t1[4 * 16], i2[4 * 16], t2[4 * 16];
    double h;
    UT_CHECK(umup_dataset_from_corpus(&ds, 4000000, 1234, 0.1) == UMUP_OK);
    h = umup_dataset_unigram_entropy(&ds);
    /* the figures stated in umup.h section 10: 0.98 bits/byte of choices, 4.34 unigram */
    UT_NEAR(ds.choice_bits_per_byte, 0.98, 0.03);
    UT_NEAR(h, 4.34, 0.03);
    UT_CHECK(ds.n == 4000000 && ds.n_train == 3600000);
    UT_CHECK(umup_dataset_batch(&ds, 0, 3, 17, 4, 16, i1, t1) == UMUP_OK);
    UT_CHECK(umup_dataset_batch(&ds, 0, 3, 17, 4, 16, i2, t2) == UMUP_OK);
    UT_CHECK(memcmp(i1, i2, sizeof i1) == 0 && memcmp(t1, t2, sizeof t1) == 0);
    UT_CHECK(i1[1] == t1[0] && i1[15] == t1[14]);
    umup_dataset_batch(&ds, 0, 3, 18, 4, 16, i2, t2);
    UT_CHECK(memcmp(i1, i2, sizeof i1) != 0);
    UT_CHECK(umup_dataset_batch(&ds, 1, 0, 0, 4, 16, i2, t2) == UMUP_OK);
    UT_CHECK(umup_dataset_batch(&ds, 0, 3, 0, 4, 4000000, i2, t2) == UMUP_ERR_SHAPE);
    UT_CHECK(umup_dataset_batch(&ds, 0, 3, 0, 4, 16, NULL, t2) == UMUP_ERR_NULL);
    umup_dataset_free(&ds);
    UT_CHECK(umup_dataset_from_corpus(&ds, 100, 1, 0.1) == UMUP_ERR_INVALID_ARG);
    UT_CHECK(umup_dataset_load_file(&bad, "tests/data/does-not-exist.txt", 0.1) == UMUP_ERR_IO);
    UT_CHECK(umup_dataset_load_file(&bad, "tests/compile/c99.c", 0.1) == UMUP_ERR_FORMAT); /* < 1024 bytes */
    UT_CHECK(umup_dataset_load_file(&bad, "umup.h", 0.9) == UMUP_ERR_INVALID_ARG);
    UT_CHECK(umup_dataset_load_file(&bad, "umup.h", 0.1) == UMUP_OK && bad.n > 10000 && bad.n_train < bad.n);
    umup_dataset_free(&bad);
}

int main(void) {
    UT_RUN(test_corpus);
    UT_RUN(test_dataset);
    return ut_finish("test_data");
}
