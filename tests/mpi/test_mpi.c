/* tests/mpi/test_mpi.c - umup_mpi.h under mpirun (tests/mpi/test_mpi.sh runs it with 2 and 3 processes).
 *
 *   mpirun -np P test_mpi_unit              the checks below; rank 0 prints the sums of every rank's counts
 *   mpirun -np P test_mpi_unit --timeout    one process stops taking part: the others must fail within the
 *                                           timeout (UMUP_ERR_COMM) instead of hanging; ends with MPI_Abort
 *
 * Every check compares bits: the all-reduce against the rank-order sum each process recomputes from
 * every process's seed, and P processes' training against one process with P shards (the reference
 * trainer runs in every process). */
#define _POSIX_C_SOURCE 200809L /* getpid: a checkpoint name of this job's own */
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "umup_mpi.h"
#include "umup_test.h"

#include <stdint.h>
#include <string.h>
#include <unistd.h>

static int RANK, SIZE;
static umup_dataset DS;

/* A small model whose steps draw random bits (dropout, FP8 stochastic rounding): the shards must draw
 * exactly the whole batch's. */
static umup_model_config small_model(int width) {
    umup_model_config mc = umup_model_config_default();
    mc.width = width;
    mc.head_size = width / 2;
    mc.heads = 0;
    mc.max_seq = 16;
    mc.dropout = 0.1f;
    mc.fp8 = UMUP_FP8_SIM_UMUP;
    mc.fp8_rounding = UMUP_FP8_SR;
    mc.seed = 7;
    return mc;
}

enum { T_SEQ = 16, STEPS = 3 };

/* every process's test gradient: values of many magnitudes, so that the order of the additions shows */
static float grad_value(int rank, size_t i) {
    uint32_t u = umup_rng_u32(1000 + (uint64_t)rank, i);
    return (float)ldexp((double)(u & 0xFFFFFF) / 16777216.0 - 0.5, (int)(u >> 27) - 12);
}

static umup_trainer *new_trainer(int max_batch, int width) {
    umup_model_config mc = small_model(width);
    umup_optim_config oc = umup_optim_config_for(mc.param.param, UMUP_OPT_ADAMW, 10);
    umup_trainer *t = NULL;
    UT_CHECK(umup_trainer_create(&t, &mc, &oc, max_batch) == UMUP_OK);
    return t;
}

/* The exchange alone: grads [n] become the rank-order sum, for both modes and several segment sizes,
 * including segments shorter than the number of processes. */
static void test_allreduce_is_the_rank_order_sum(void) {
    static const size_t buckets[3] = {0, 4 * 37, 4 * 2}; /* default, odd, shorter than 3 processes */
    umup_trainer *t = new_trainer(1, 8); /* 6144 parameters */
    int mode, b;
    if (!t) return;
    for (mode = 0; mode < 2; mode++)
        for (b = 0; b < 3; b++) {
            umup_mpi_config cfg;
            umup_mpi *c = NULL;
            umup_model *m = umup_trainer_model(t);
            size_t n = umup_model_num_params(m), i, bad = 0, order_matters = 0;
            float *g = (float *)malloc(n * sizeof(float));
            double loss = 0.25 * (RANK + 1), want_loss = 0.0;
            int q;
            memset(&cfg, 0, sizeof cfg);
            cfg.overlap = mode;
            cfg.bucket_bytes = buckets[b];
            UT_CHECK(g != NULL && umup_mpi_create(&c, MPI_COMM_WORLD, &cfg) == UMUP_OK);
            UT_CHECK(c && umup_mpi_attach(c, t) == UMUP_OK);
            if (!g || !c) { free(g); umup_mpi_destroy(c); continue; }
            for (i = 0; i < n; i++) g[i] = umup_model_grads(m)[i] = grad_value(RANK, i); /* overlap sends the model's */
            UT_CHECKF(umup_mpi_allreduce(c, g, n, &loss) == UMUP_OK, "%.300s", umup_mpi_error(c));
            for (q = 0; q < SIZE; q++) want_loss += 0.25 * (q + 1);
            for (i = 0; i < n; i++) {
                float want = grad_value(0, i), rev = grad_value(SIZE - 1, i);
                for (q = 1; q < SIZE; q++) want += grad_value(q, i);
                for (q = SIZE - 2; q >= 0; q--) rev += grad_value(q, i);
                bad += memcmp(&g[i], &want, sizeof want) != 0;
                order_matters += memcmp(&rev, &want, sizeof want) != 0;
            }
            UT_CHECKF(bad == 0, "overlap %d, bucket %zu: %zu of %zu sums differ from the rank-order sum", mode,
                      cfg.bucket_bytes, bad, n);
            UT_CHECK(loss == want_loss);
            if (SIZE >= 3) UT_CHECKF(order_matters > n / 10, "the test data do not depend on the order (%zu)", order_matters);
            {
                umup_mpi_stats st;
                umup_mpi_get_stats(c, &st);
                UT_CHECK(st.exchanges == 1 && st.segments >= 1 && st.early == 0);
                unsigned long long sent = st.bytes_sent, total = 0; /* all processes: 2 (P - 1) gradients, as a ring */
                MPI_Allreduce(&sent, &total, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
                UT_CHECKF(total == 2ull * (unsigned long long)(SIZE - 1) * n * sizeof(float), "%llu bytes sent", total);
            }
            umup_mpi_detach(c);
            umup_mpi_destroy(c);
            free(g);
        }
    umup_trainer_destroy(t);
}

/* P processes against one process with P shards, bit for bit, in both modes; the overlapped mode
 * must really start segments during the backward pass. */
static void test_training_matches_one_process_with_shards(void) {
    int mode;
    for (mode = 0; mode < 2; mode++) {
        int B = 2 * SIZE;
        umup_trainer *ref = new_trainer(B / SIZE, 32), *t = new_trainer(B / SIZE, 32);
        umup_mpi_config cfg;
        umup_mpi *c = NULL;
        int32_t *ids = (int32_t *)malloc(sizeof(int32_t) * (size_t)B * T_SEQ), *tg = (int32_t *)malloc(sizeof(int32_t) * (size_t)B * T_SEQ);
        long s;
        size_t i, n, diff = 0;
        memset(&cfg, 0, sizeof cfg);
        cfg.overlap = mode;
        cfg.bucket_bytes = mode ? 4096 : 0;
        UT_CHECK(ref && umup_trainer_set_shards(ref, SIZE) == UMUP_OK);
        UT_CHECK(umup_mpi_create(&c, MPI_COMM_WORLD, &cfg) == UMUP_OK);
        UT_CHECKF(c && t && umup_mpi_attach(c, t) == UMUP_OK, "%.300s", c ? umup_mpi_error(c) : "");
        if (!ref || !t || !c || !ids || !tg) goto done;
        for (s = 0; s < STEPS; s++) {
            float l = 0, lr = 0;
            umup_status st;
            umup_dataset_batch(&DS, 0, 42, s, B, T_SEQ, ids, tg);
            st = umup_trainer_step(t, ids, tg, B, T_SEQ, &l);
            UT_CHECKF(st == UMUP_OK, "overlap %d step %ld: %s (%.300s)", mode, s, umup_status_string(st), umup_mpi_error(c));
            UT_CHECK(umup_trainer_step(ref, ids, tg, B, T_SEQ, &lr) == UMUP_OK);
            UT_CHECKF(memcmp(&l, &lr, sizeof l) == 0, "overlap %d step %ld: loss %.9g, one process %.9g", mode, s, l, lr);
        }
        n = umup_model_num_params(umup_trainer_model(t));
        for (i = 0; i < n; i++)
            diff += memcmp(&umup_model_params(umup_trainer_model(t))[i], &umup_model_params(umup_trainer_model(ref))[i], 4) != 0;
        UT_CHECKF(diff == 0, "overlap %d: %zu of %zu parameters differ from one process with %d shards", mode, diff, n, SIZE);
        {
            umup_mpi_stats st;
            umup_mpi_get_stats(c, &st);
            UT_CHECK(st.exchanges == STEPS);
            if (mode) UT_CHECKF(st.early > 0 && st.segments > (uint64_t)STEPS, "early %llu of %llu segments",
                                (unsigned long long)st.early, (unsigned long long)st.segments);
        }
    done:
        umup_mpi_detach(c);
        umup_mpi_destroy(c);
        umup_trainer_destroy(t);
        umup_trainer_destroy(ref);
        free(ids);
        free(tg);
    }
}

/* The last process's shard holds an id out of range: its step fails, every other process's step
 * fails too (nobody waits for it), no parameter changes, umup_mpi_agree tells everyone why, and the
 * next step trains again in step with the single-process reference. */
static void test_failure_on_one_rank_fails_every_rank(void) {
    int mode;
    for (mode = 0; mode < 2; mode++) {
        int B = 2 * SIZE, bad_rank = SIZE - 1;
        umup_trainer *ref = new_trainer(B / SIZE, 32), *t = new_trainer(B / SIZE, 32);
        umup_mpi_config cfg;
        umup_mpi *c = NULL;
        int32_t *ids = (int32_t *)malloc(sizeof(int32_t) * (size_t)B * T_SEQ), *tg = (int32_t *)malloc(sizeof(int32_t) * (size_t)B * T_SEQ);
        float *before = NULL, l = 0, lr = 0;
        size_t n, i, diff = 0;
        umup_status st, agreed;
        char why[64];
        memset(&cfg, 0, sizeof cfg);
        cfg.overlap = mode;
        cfg.bucket_bytes = 4096;
        UT_CHECK(ref && umup_trainer_set_shards(ref, SIZE) == UMUP_OK);
        UT_CHECK(umup_mpi_create(&c, MPI_COMM_WORLD, &cfg) == UMUP_OK);
        UT_CHECK(c && t && umup_mpi_attach(c, t) == UMUP_OK);
        if (!ref || !t || !c || !ids || !tg) goto done;
        n = umup_model_num_params(umup_trainer_model(t));
        before = (float *)malloc(n * sizeof(float));
        if (!before) goto done;
        memcpy(before, umup_model_params(umup_trainer_model(t)), n * sizeof(float));
        umup_dataset_batch(&DS, 0, 42, 0, B, T_SEQ, ids, tg);
        ids[(size_t)(B - 1) * T_SEQ + 3] = 999; /* in the last sequence: only the last process's shard is bad */
        st = umup_trainer_step(t, ids, tg, B, T_SEQ, &l);
        if (RANK == bad_rank) UT_CHECKF(st == UMUP_ERR_INVALID_ARG, "the failing rank got %s", umup_status_string(st));
        else {
            char want[32];
            snprintf(want, sizeof want, "failed on rank %d", bad_rank);
            UT_CHECKF(st == UMUP_ERR_NONFINITE, "rank %d got %s", RANK, umup_status_string(st));
            UT_CHECKF(strstr(umup_mpi_error(c), want) != NULL, "message: %.300s", umup_mpi_error(c));
        }
        for (i = 0; i < n; i++) diff += memcmp(&before[i], &umup_model_params(umup_trainer_model(t))[i], 4) != 0;
        UT_CHECKF(diff == 0, "%zu parameters changed in a failed step", diff);
        snprintf(why, sizeof why, "training step: %s", umup_status_string(st));
        agreed = umup_mpi_agree(c, RANK == bad_rank ? st : UMUP_OK, RANK == bad_rank ? why : NULL);
        UT_CHECKF(agreed == UMUP_ERR_INVALID_ARG, "agreed %s", umup_status_string(agreed));
        snprintf(why, sizeof why, "rank %d: training step", bad_rank);
        UT_CHECKF(strstr(umup_mpi_error(c), why) != NULL, "message: %.300s", umup_mpi_error(c));
        UT_CHECK(umup_mpi_agree(c, UMUP_OK, NULL) == UMUP_OK);
        /* one process with the same batch: the same failure, no update */
        UT_CHECK(umup_trainer_step(ref, ids, tg, B, T_SEQ, &lr) == UMUP_ERR_INVALID_ARG);
        umup_dataset_batch(&DS, 0, 42, 1, B, T_SEQ, ids, tg);
        UT_CHECKF((st = umup_trainer_step(t, ids, tg, B, T_SEQ, &l)) == UMUP_OK, "after the failure: %s", umup_status_string(st));
        UT_CHECK(umup_trainer_step(ref, ids, tg, B, T_SEQ, &lr) == UMUP_OK);
        UT_CHECKF(memcmp(&l, &lr, sizeof l) == 0, "after the failure: loss %.9g, one process %.9g", l, lr);
        for (i = 0, diff = 0; i < n; i++)
            diff += memcmp(&umup_model_params(umup_trainer_model(t))[i], &umup_model_params(umup_trainer_model(ref))[i], 4) != 0;
        UT_CHECKF(diff == 0, "after the failure: %zu parameters differ", diff);
    done:
        umup_mpi_detach(c);
        umup_mpi_destroy(c);
        umup_trainer_destroy(t);
        umup_trainer_destroy(ref);
        free(before);
        free(ids);
        free(tg);
    }
}

/* Bytes of a file (NULL if unreadable); *n its size. */
static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    unsigned char *b = NULL;
    long len;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (b = (unsigned char *)malloc((size_t)len)) != NULL && fread(b, 1, (size_t)len, f) != (size_t)len) {
        free(b);
        b = NULL;
    }
    *n = b ? (size_t)len : 0;
    fclose(f);
    return b;
}

/* Steps first .. last of trainer t on batches of B sequences; 0 if one failed. */
static int train_steps(umup_trainer *t, long first, long last, int B) {
    int32_t *ids = (int32_t *)malloc(sizeof(int32_t) * (size_t)B * T_SEQ), *tg = (int32_t *)malloc(sizeof(int32_t) * (size_t)B * T_SEQ);
    long s;
    int ok = ids && tg;
    for (s = first; s <= last && ok; s++) {
        float l;
        umup_dataset_batch(&DS, 0, 42, s, B, T_SEQ, ids, tg);
        ok = umup_trainer_step(t, ids, tg, B, T_SEQ, &l) == UMUP_OK;
    }
    free(ids);
    free(tg);
    return ok;
}

/* Checkpoints and process counts: P processes train 3 steps, rank 0 writes a checkpoint (the others
 * write nothing), they train 3 more and rank 0 writes the final one. One process with P shards resumed
 * from the first checkpoint writes the same final bytes. And the first P - 1 processes (a communicator
 * of their own; one process when P = 2) resume from it too: they train like one process with P - 1
 * shards resumed from it, bit for bit. */
static void test_resume_with_another_process_count(void) {
    char mid[256], fin[256], ref[256];
    const char *tmp = getenv("TMPDIR");
    int B = 6 * (SIZE - 1) * SIZE, color = RANK < SIZE - 1, pid = (int)getpid();
    umup_trainer *t, *r = NULL, *u = NULL, *ur = NULL;
    umup_mpi *c = NULL, *cs = NULL;
    MPI_Comm half = MPI_COMM_NULL;
    size_t na = 0, nb = 0;
    unsigned char *a, *b;
    if (SIZE < 2) return; /* needs another process count to resume on */
    t = new_trainer(B / SIZE, 32);
    MPI_Bcast(&pid, 1, MPI_INT, 0, MPI_COMM_WORLD);
    snprintf(mid, sizeof mid, "%s/umup_mpi_%d_mid.safetensors", tmp && tmp[0] ? tmp : "/tmp", pid);
    snprintf(fin, sizeof fin, "%s/umup_mpi_%d_fin.safetensors", tmp && tmp[0] ? tmp : "/tmp", pid);
    snprintf(ref, sizeof ref, "%s/umup_mpi_%d_ref.safetensors", tmp && tmp[0] ? tmp : "/tmp", pid);
    UT_CHECK(umup_mpi_create(&c, MPI_COMM_WORLD, NULL) == UMUP_OK && t && umup_mpi_attach(c, t) == UMUP_OK);
    if (!c || !t) goto done;
    UT_CHECK(train_steps(t, 0, 2, B));
    if (RANK == 0) UT_CHECK(umup_trainer_save(t, mid) == UMUP_OK);
    UT_CHECK(train_steps(t, 3, 5, B));
    if (RANK == 0) UT_CHECK(umup_trainer_save(t, fin) == UMUP_OK);
    MPI_Barrier(MPI_COMM_WORLD);
    /* one process, P shards, from the checkpoint */
    if (RANK == 0) {
        r = new_trainer(B / SIZE, 32);
        UT_CHECK(r && umup_trainer_set_shards(r, SIZE) == UMUP_OK && umup_trainer_load(r, mid) == UMUP_OK);
        UT_CHECK(r && umup_trainer_optimizer(r)->step == 3 && train_steps(r, 3, 5, B));
        UT_CHECK(r && umup_trainer_save(r, ref) == UMUP_OK);
        a = read_all(fin, &na);
        b = read_all(ref, &nb);
        UT_CHECKF(a && b && na == nb && memcmp(a, b, na) == 0, "the %d-process checkpoint (%zu bytes) and the resumed "
                  "one-process one (%zu bytes) differ", SIZE, na, nb);
        free(a);
        free(b);
    }
    /* P - 1 processes resume from the P-process checkpoint */
    MPI_Comm_split(MPI_COMM_WORLD, color, RANK, &half);
    if (color) {
        u = new_trainer(B / (SIZE - 1), 32);
        UT_CHECK(u && umup_trainer_load(u, mid) == UMUP_OK);
        if (SIZE - 1 > 1) {
            UT_CHECK(umup_mpi_create(&cs, half, NULL) == UMUP_OK);
            UT_CHECKF(cs && u && umup_mpi_attach(cs, u) == UMUP_OK, "%.300s", cs ? umup_mpi_error(cs) : "");
        }
        UT_CHECK(u && train_steps(u, 3, 5, B));
        if (RANK == 0) {
            size_t n, i, diff = 0;
            ur = new_trainer(B / (SIZE - 1), 32);
            UT_CHECK(ur && umup_trainer_set_shards(ur, SIZE - 1) == UMUP_OK && umup_trainer_load(ur, mid) == UMUP_OK);
            UT_CHECK(ur && train_steps(ur, 3, 5, B));
            n = u && ur ? umup_model_num_params(umup_trainer_model(u)) : 0;
            for (i = 0; i < n; i++)
                diff += memcmp(&umup_model_params(umup_trainer_model(u))[i], &umup_model_params(umup_trainer_model(ur))[i], 4) != 0;
            UT_CHECKF(u && ur && diff == 0, "%d processes resumed from a %d-process checkpoint: %zu parameters differ from "
                      "one process with %d shards", SIZE - 1, SIZE, diff, SIZE - 1);
        }
        umup_mpi_detach(cs);
        umup_mpi_destroy(cs);
    }
done:
    if (half != MPI_COMM_NULL) MPI_Comm_free(&half);
    MPI_Barrier(MPI_COMM_WORLD);
    if (RANK == 0) { remove(mid); remove(fin); remove(ref); }
    umup_mpi_detach(c);
    umup_mpi_destroy(c);
    umup_trainer_destroy(t);
    umup_trainer_destroy(r);
    umup_trainer_destroy(u);
    umup_trainer_destroy(ur);
}

/* A process that starts from other parameters (another checkpoint) is caught by umup_mpi_attach on
 * every process; a different configuration too. Bad arguments. */
static void test_attach_checks_and_errors(void) {
    umup_trainer *t = new_trainer(2, 32);
    umup_mpi *c = NULL;
    umup_mpi_config cfg;
    char want[64];
    umup_status st;
    double loss = 0;
    float g = 0;
    memset(&cfg, 0, sizeof cfg);
    UT_CHECK(umup_mpi_create(NULL, MPI_COMM_WORLD, &cfg) == UMUP_ERR_NULL);
    cfg.overlap = 2;
    UT_CHECK(umup_mpi_create(&c, MPI_COMM_WORLD, &cfg) == UMUP_ERR_INVALID_ARG && c == NULL);
    UT_CHECK(strstr(umup_mpi_error(NULL), "overlap") != NULL);
    UT_CHECK(umup_mpi_create(&c, MPI_COMM_NULL, NULL) == UMUP_ERR_INVALID_ARG);
    cfg.overlap = 0;
    UT_CHECK(umup_mpi_create(&c, MPI_COMM_WORLD, &cfg) == UMUP_OK);
    if (!t || !c) { umup_mpi_destroy(c); umup_trainer_destroy(t); return; }
    UT_CHECK(umup_mpi_allreduce(c, &g, 1, &loss) == UMUP_ERR_INVALID_ARG); /* not attached */
    UT_CHECK(umup_mpi_attach(NULL, t) == UMUP_ERR_NULL && umup_mpi_agree(NULL, UMUP_OK, NULL) == UMUP_ERR_NULL);
    if (SIZE > 1) {
        float keep = umup_model_params(umup_trainer_model(t))[5];
        if (RANK == 1) umup_model_params(umup_trainer_model(t))[5] += 1.0f;
        st = umup_mpi_attach(c, t);
        snprintf(want, sizeof want, "rank 1 differs from rank 0 in the parameter values");
        UT_CHECKF(st == UMUP_ERR_MISMATCH && strstr(umup_mpi_error(c), want), "%s: %.300s", umup_status_string(st), umup_mpi_error(c));
        umup_model_params(umup_trainer_model(t))[5] = keep;
        {   /* rank 1 asks for the overlapped exchange, the others not */
            umup_mpi *c2 = NULL;
            umup_mpi_config other = cfg;
            other.overlap = RANK == 1;
            UT_CHECK(umup_mpi_create(&c2, MPI_COMM_WORLD, &other) == UMUP_OK);
            st = c2 ? umup_mpi_attach(c2, t) : UMUP_ERR_NULL;
            UT_CHECKF(st == UMUP_ERR_MISMATCH && c2 && strstr(umup_mpi_error(c2), "rank 1 differs from rank 0 in the umup_mpi_config"),
                      "%s: %.300s", umup_status_string(st), c2 ? umup_mpi_error(c2) : "");
            umup_mpi_destroy(c2);
        }
    }
    UT_CHECKF((st = umup_mpi_attach(c, t)) == UMUP_OK, "%.300s", umup_mpi_error(c));
    UT_CHECK(umup_mpi_attach(c, t) == UMUP_ERR_INVALID_ARG);        /* already attached */
    UT_CHECK(umup_mpi_allreduce(c, &g, 1, &loss) == UMUP_ERR_SHAPE); /* not the model's size */
    UT_CHECK(umup_trainer_set_shards(t, 2) == UMUP_ERR_INVALID_ARG); /* one shard per process */
    umup_mpi_detach(c);
    UT_CHECK(umup_trainer_set_shards(t, 2) == UMUP_OK);              /* detached: a trainer of its own again */
    UT_CHECK(umup_mpi_attach(c, t) == UMUP_ERR_INVALID_ARG);        /* accumulation and data parallelism exclude each other */
    umup_mpi_destroy(c);
    umup_trainer_destroy(t);
}

/* Rank 0 steps; the others never take part. Rank 0 must come back with UMUP_ERR_COMM within the
 * timeout, the context broken. Then the job is aborted (the documented way out). */
static int timeout_case(void) {
    umup_trainer *t = new_trainer(2, 32);
    umup_mpi *c = NULL;
    umup_mpi_config cfg;
    int32_t *ids = (int32_t *)malloc(sizeof(int32_t) * (size_t)SIZE * T_SEQ), *tg = (int32_t *)malloc(sizeof(int32_t) * (size_t)SIZE * T_SEQ);
    float l = 0;
    double t0, dt;
    umup_status st;
    memset(&cfg, 0, sizeof cfg);
    cfg.timeout_s = 2.0;
    UT_CHECK(umup_mpi_create(&c, MPI_COMM_WORLD, &cfg) == UMUP_OK && t && umup_mpi_attach(c, t) == UMUP_OK);
    if (!c || !t || !ids || !tg) return 1;
    if (RANK == 0) { /* a batch of one sequence per process */
        umup_dataset_batch(&DS, 0, 42, 0, SIZE, T_SEQ, ids, tg);
        t0 = MPI_Wtime();
        st = umup_trainer_step(t, ids, tg, SIZE, T_SEQ, &l);
        dt = MPI_Wtime() - t0;
        UT_CHECKF(st == UMUP_ERR_COMM, "got %s", umup_status_string(st));
        UT_CHECKF(dt >= 1.9 && dt < 30, "returned after %.2f s with a 2 s timeout", dt);
        UT_CHECKF(strstr(umup_mpi_error(c), "did not complete within 2 s") != NULL, "message: %.300s", umup_mpi_error(c));
        UT_CHECK(umup_trainer_step(t, ids, tg, SIZE, T_SEQ, &l) == UMUP_ERR_COMM); /* broken: fails at once */
        UT_CHECK(umup_mpi_agree(c, UMUP_OK, NULL) == UMUP_ERR_COMM);
        printf("rank 0: %s\n", umup_mpi_error(c));
        ut_finish("test_mpi_timeout");
        MPI_Abort(MPI_COMM_WORLD, ut_failed_ ? 1 : 7); /* 7: the expected way out, checked by test_mpi.sh */
    } else {
        int x = 0; /* wait for the abort */
        MPI_Recv(&x, 1, MPI_INT, 0, 99, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    }
    return 1;
}

int main(int argc, char **argv) {
    int provided = 0, counts[3], sums[3] = {0, 0, 0};
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &RANK);
    MPI_Comm_size(MPI_COMM_WORLD, &SIZE);
    if (umup_dataset_from_corpus(&DS, 100000, 1, 0.1) != UMUP_OK) MPI_Abort(MPI_COMM_WORLD, 1);
    if (argc > 1 && !strcmp(argv[1], "--timeout")) return timeout_case();
    UT_RUN(test_allreduce_is_the_rank_order_sum);
    UT_RUN(test_training_matches_one_process_with_shards);
    UT_RUN(test_failure_on_one_rank_fails_every_rank);
    UT_RUN(test_attach_checks_and_errors);
    UT_RUN(test_resume_with_another_process_count);
    umup_dataset_free(&DS);
    counts[0] = ut_passed_; counts[1] = ut_failed_; counts[2] = ut_skipped_;
    MPI_Reduce(counts, sums, 3, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD); /* integer counts: any order */
    if (RANK == 0) printf("test_mpi_unit (%d processes): %d passed, %d failed\n", SIZE, sums[0], sums[1]);
    MPI_Finalize();
    return RANK == 0 && sums[1] ? 1 : 0;
}
