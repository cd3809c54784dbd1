/* tests/test_data.c - the embedded corpus and the datasets of umup.h:
 *  - the generator is deterministic per seed, and its entropy bound and unigram entropy are the
 *    figures the header documents;
 *  - dataset split sizes; batches are a pure function of (seed, step) with targets = next bytes;
 *  - missing, too short and invalid inputs give their statuses;
 *  - only regular files are read: a directory, a FIFO and a device are refused at once with
 *    UMUP_ERR_IO and a reason (issue 13, defects 8 and 9: a FIFO hung, a directory asked for 8 EiB). */
#define _POSIX_C_SOURCE 200809L
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "umup_test.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* A load that blocks would hang the test: SIGALRM ends it instead (and the run counts a failure). */
static void on_alarm(int sig) {
    static const char msg[] = "FAIL test_data: a data file load blocked for 20 s\n";
    (void)sig;
    if (write(2, msg, sizeof msg - 1) < 0) _exit(2);
    _exit(1);
}

static void test_dataset_nonregular(void) {
    char dir[64], fifo[80], link_path[80], small[80], big[80];
    umup_dataset ds;
    size_t bytes = 0;
    const char *why = "unset";
    FILE *f;
    int i;
    snprintf(dir, sizeof dir, "build/test_data_tmp_%ld", (long)getpid());
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    snprintf(link_path, sizeof link_path, "%s/link", dir);
    snprintf(small, sizeof small, "%s/small", dir);
    snprintf(big, sizeof big, "%s/big", dir);
    if (mkdir(dir, 0777) != 0) { UT_CHECKF(0, "cannot make %s (run from the repository root)", dir); return; }
    signal(SIGALRM, on_alarm);
    alarm(20);
    /* a directory: IO with a reason, not NOMEM (it used to ask malloc for 8 EiB) */
    memset(&ds, 0x55, sizeof ds);
    UT_CHECK(umup_dataset_load_file(&ds, dir, 0.1) == UMUP_ERR_IO);
    UT_CHECKF(ds.data == NULL && ds.n == 0 && ds.error && strstr(ds.error, "directory"), "%s", ds.error ? ds.error : "(null)");
    UT_CHECK(umup_dataset_check_file(dir, &bytes, &why) == UMUP_ERR_IO && why && strstr(why, "directory"));
    /* a FIFO without a writer: refused at once (it used to block forever) */
    UT_CHECK(mkfifo(fifo, 0666) == 0);
    UT_CHECK(umup_dataset_load_file(&ds, fifo, 0.1) == UMUP_ERR_IO && ds.error && strstr(ds.error, "FIFO"));
    UT_CHECK(umup_dataset_check_file(fifo, NULL, &why) == UMUP_ERR_IO && why && strstr(why, "FIFO"));
    /* a character device */
    UT_CHECK(umup_dataset_load_file(&ds, "/dev/null", 0.1) == UMUP_ERR_IO && ds.error && strstr(ds.error, "device"));
    UT_CHECK(umup_dataset_load_file(&ds, "/dev/zero", 0.1) == UMUP_ERR_IO);
    /* missing */
    UT_CHECK(umup_dataset_load_file(&ds, "tests/data/does-not-exist.txt", 0.1) == UMUP_ERR_IO && ds.error != NULL);
    /* exactly 1023 bytes: FORMAT; 1024: loads, and a symlink to it is followed */
    f = fopen(small, "wb");
    for (i = 0; f && i < 1023; i++) fputc('a' + i % 26, f);
    if (f) fclose(f);
    bytes = 7;
    UT_CHECK(umup_dataset_check_file(small, &bytes, &why) == UMUP_ERR_FORMAT && bytes == 7 && why != NULL);
    UT_CHECK(umup_dataset_load_file(&ds, small, 0.1) == UMUP_ERR_FORMAT && ds.data == NULL);
    f = fopen(big, "wb");
    for (i = 0; f && i < 1024; i++) fputc('a' + i % 26, f);
    if (f) fclose(f);
    UT_CHECK(symlink("big", link_path) == 0);
    UT_CHECK(umup_dataset_check_file(link_path, &bytes, &why) == UMUP_OK && bytes == 1024 && why == NULL);
    UT_CHECK(umup_dataset_load_file(&ds, link_path, 0.25) == UMUP_OK && ds.n == 1024 && ds.n_train == 768 && ds.error == NULL);
    UT_CHECK(ds.data && ds.data[0] == 'a' && ds.data[1023] == 'a' + 1023 % 26);
    umup_dataset_free(&ds);
    UT_CHECK(umup_dataset_check_file(NULL, &bytes, &why) == UMUP_ERR_NULL);
    alarm(0);
    remove(link_path);
    remove(big);
    remove(small);
    remove(fifo);
    rmdir(dir);
}

int main(void) {
    UT_RUN(test_corpus);
    UT_RUN(test_dataset);
    UT_RUN(test_dataset_nonregular);
    return ut_finish("test_data");
}
