/* umup_mpi.h - v0.2.5 - data-parallel training over MPI for umup.h: a deterministic gradient all-reduce,
 *               optionally overlapped with the backward pass - MIT licence (see the end of umup.h)
 *
 * ---------------------------------------------------------------------------------------------
 * USING IT
 * ---------------------------------------------------------------------------------------------
 * Include it after umup.h. The file that defines UMUP_IMPLEMENTATION (or UMUP_MPI_IMPLEMENTATION)
 * compiles its implementation too; build with the MPI compiler wrapper (Open MPI: mpicc) and start
 * the program with mpirun. `make MPI=1` builds demos/train this way (UMUP_USE_MPI).
 *
 *     MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);  // OpenMP threads never call MPI
 *     umup_mpi *dp;
 *     umup_mpi_config cfg = {0};                    // zero means defaults: exchange after the backward pass
 *     umup_mpi_create(&dp, MPI_COMM_WORLD, &cfg);   // collective
 *     umup_trainer_create(&t, &mc, &oc, B / umup_mpi_size(dp)); // each process holds one shard's activations
 *     umup_mpi_attach(dp, t);                       // collective: every process must hold the same model
 *     for (step = 0; step < steps; step++) {
 *         umup_dataset_batch(&ds, 0, seed, step, B, T, ids, tg);  // every process: the same whole batch
 *         st = umup_trainer_step(t, ids, tg, B, T, &loss);      // computes its shard, exchanges, updates
 *     }
 *     umup_trainer_destroy(t);  umup_mpi_destroy(dp);  MPI_Finalize();
 *
 * ---------------------------------------------------------------------------------------------
 * WHAT IT COMPUTES
 * ---------------------------------------------------------------------------------------------
 * It is the allreduce of umup.h's umup_data_parallel: process r computes the gradient g_r of shard r
 * of the batch (B / P sequences of P processes), and every process receives
 *     g = ((g_0 + g_1) + g_2) + ... + g_{P-1}     (float additions, in rank order, for every element)
 * and the loss shares' sum in the same order, which is exactly what one process computes with
 * umup_trainer_set_shards(t, P). So P processes train bit for bit like one process with P shards:
 * same losses, same parameters, same checkpoint bytes (tests/mpi/). MPI_Allreduce with MPI_SUM is
 * not used: the order of its additions is unspecified (it may change with the process count, the
 * message sizes or the network), so its results differ in the last bits from run to run.
 *
 * The exchange is a reduce-scatter followed by an all-gather, built from data-movement collectives
 * only (MPI_Ialltoallv, MPI_Iallgatherv), so the arithmetic stays here and in a fixed order:
 *   1. the gradient is cut into segments; each segment into P chunks, chunk c owned by process c;
 *   2. every process sends chunk c of its segment to process c (MPI_Ialltoallv): process c then holds
 *      chunk c of all P gradients and adds them in rank order;
 *   3. every process sends its summed chunk to all (MPI_Iallgatherv).
 * Each process sends and receives 2 (P-1)/P of the gradient's bytes, as a ring all-reduce does.
 *
 * Overlap (umup_mpi_config.overlap = 1): the exchange of a segment starts during the backward pass,
 * as soon as every tensor in it has its final gradient (umup_model_set_grad_hook); the segments are
 * groups of whole tensors of at least bucket_bytes, the last layers' first. The progress of the
 * pending exchanges is driven each time a tensor completes, and the rest is finished after the
 * backward pass. The result is bit-identical to the default mode: each element is still the rank-order
 * sum, whatever segment carries it. It costs one more gradient-sized buffer (and a gradient-sized
 * receive buffer instead of one segment's). Communication hides behind compute only as far as the
 * MPI library moves data between the calls that drive it (Open MPI over shared memory or TCP does
 * most of it inside those calls); README, "Training on several machines", has the measured gain.
 *
 * ---------------------------------------------------------------------------------------------
 * ERRORS: NOTHING HANGS
 * ---------------------------------------------------------------------------------------------
 * No function prints or exits; MPI errors come back as statuses (the communicators use
 * MPI_ERRORS_RETURN) and umup_mpi_error() tells what happened, naming the process where it can.
 *   - A process whose own shard fails still takes part in the exchange (umup_trainer_step's
 *     contract): every process's step then fails, without an update, and the context stays usable.
 *     umup_mpi_agree() lets the processes learn each other's error (the demo prints rank 0's view).
 *   - Every wait has a deadline (timeout_s, default UMUP_MPI_TIMEOUT = 600 s): a process that
 *     stopped taking part (crashed, stuck, or took another path) makes the others fail with
 *     UMUP_ERR_COMM instead of waiting forever. The context is then broken (a started MPI
 *     collective cannot be cancelled): every later call fails with UMUP_ERR_COMM; the program should
 *     report and call MPI_Abort, which ends every process of the job.
 *   - umup_mpi_attach checks that every process holds the same model (sizes, parameters, step) and
 *     the same settings, so that a process that resumed from another checkpoint is caught at once.
 *
 * Threads: MPI is called only from the thread that calls umup_trainer_step / these functions, and
 * never from inside an OpenMP parallel region: MPI_THREAD_FUNNELED is enough.
 *
 * Options (define in the file that compiles the implementation):
 *     UMUP_MPI_TIMEOUT     default of umup_mpi_config.timeout_s, seconds (600)
 */
#include "umup.h"

#ifndef UMUP_MPI_H
#define UMUP_MPI_H

#if defined(__cplusplus) && !defined(OMPI_SKIP_MPICXX)
#define OMPI_SKIP_MPICXX 1  /* the C API only: no deprecated C++ bindings (Open MPI, MPICH) from C++ files */
#endif
#if defined(__cplusplus) && !defined(MPICH_SKIP_MPICXX)
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Configuration; zero-initialised means defaults. Every process must use the same settings
 * (umup_mpi_attach checks). */
typedef struct {
    int overlap;            /* 1: start each segment's exchange during the backward pass (bit-identical) */
    double timeout_s;       /* longest wait for the other processes, seconds (0: UMUP_MPI_TIMEOUT; < 0: none) */
    size_t bucket_bytes;    /* segment size: smallest group of tensors (overlap), piece of the gradient
                               (default mode); 0: 4 MiB; at most 1 GiB (larger values are clamped) */
} umup_mpi_config;

/* What a context has done since it was created. */
typedef struct {
    uint64_t exchanges;     /* allreduce calls (training steps) */
    uint64_t segments;      /* gradient segments exchanged */
    uint64_t early;         /* of those, started during the backward pass (overlap) */
    uint64_t bytes_sent;    /* gradient bytes this process sent to others (both phases) */
    double seconds;         /* wall time inside umup_mpi_allreduce (waiting and adding) */
} umup_mpi_stats;

typedef struct umup_mpi umup_mpi;

/* Creates a context on (a duplicate of) comm; collective over comm. Errors: UMUP_ERR_NULL,
 * UMUP_ERR_INVALID_ARG (timeout_s NaN, overlap not 0 or 1, comm MPI_COMM_NULL), UMUP_ERR_NOMEM,
 * UMUP_ERR_COMM (MPI refused); umup_mpi_error(NULL) then says why. */
UMUPDEF umup_status umup_mpi_create(umup_mpi **out, MPI_Comm comm, const umup_mpi_config *cfg);

/* Frees the context; collective over its communicator unless the context is broken. It does not
 * touch the trainer: destroy the trainer first, or umup_mpi_detach it to keep training alone.
 * NULL is ignored. */
UMUPDEF void umup_mpi_destroy(umup_mpi *c);

/* This process's rank and the number of processes in the context's communicator (c NULL: 0 and 1). */
UMUPDEF int umup_mpi_rank(const umup_mpi *c);
UMUPDEF int umup_mpi_size(const umup_mpi *c);

/* Makes t train data-parallel over the context's processes (umup_trainer_set_data_parallel with
 * umup_mpi_allreduce; with overlap, also the model's gradient hook). Collective: checks that every
 * process passes a trainer with the same number of tensors and parameters, the same parameter bits,
 * the same optimizer step and the same umup_mpi_config; UMUP_ERR_MISMATCH otherwise (on every
 * process, the message naming the first process that differs from rank 0). It reads the parameters
 * through umup_model_params (GEMM backends then refresh cached weights once). A context serves one
 * trainer at a time. Errors: UMUP_ERR_NULL, UMUP_ERR_INVALID_ARG (already attached; the trainer uses
 * umup_trainer_set_shards), UMUP_ERR_MISMATCH, UMUP_ERR_NOMEM, UMUP_ERR_COMM. */
UMUPDEF umup_status umup_mpi_attach(umup_mpi *c, umup_trainer *t);

/* Undoes umup_mpi_attach (local; the trainer trains alone again). */
UMUPDEF void umup_mpi_detach(umup_mpi *c);

/* The umup_data_parallel allreduce (ctx: a umup_mpi attached to the trainer that calls it): grads [n]
 * becomes the rank-order sum of every process's grads, *loss the rank-order sum of the loss shares.
 * With overlap the gradient sent is the attached model's own (umup_model_grads, which
 * umup_trainer_step has copied into grads), part of it already on its way since the backward pass.
 * When a share is not finite (a process's pass failed), the gradients are not exchanged (left as
 * they are), *loss is NaN on every process and umup_mpi_error() names the processes; the status is
 * UMUP_OK (umup_trainer_step turns the NaN into its error). Errors: UMUP_ERR_NULL, UMUP_ERR_SHAPE
 * (n is not the attached model's size), UMUP_ERR_INVALID_ARG (not attached), UMUP_ERR_COMM. */
UMUPDEF umup_status umup_mpi_allreduce(void *ctx, float *grads, size_t n, double *loss);

/* Collective: every process passes its own status and a message for it (may be NULL). Returns the
 * status of the lowest-ranked process that failed (UMUP_OK if none), the same on every process, and
 * umup_mpi_error() then reads "rank R: <its message>" (the message's first 1023 bytes). For the steps
 * of a program where one process may fail alone (loading its data, writing a checkpoint), so that all
 * stop together. Errors: UMUP_ERR_NULL, UMUP_ERR_COMM. */
UMUPDEF umup_status umup_mpi_agree(umup_mpi *c, umup_status local, const char *message);

/* The message of the last failure ("" if none); c NULL: that of the last failed umup_mpi_create. */
UMUPDEF const char *umup_mpi_error(const umup_mpi *c);

/* The counters since creation (c NULL: zeros). */
UMUPDEF void umup_mpi_get_stats(const umup_mpi *c, umup_mpi_stats *s);

#ifdef __cplusplus
}
#endif

#endif /* UMUP_MPI_H */

/* ========================================================================== */
/*                              IMPLEMENTATION                                */
/* ========================================================================== */
#if defined(UMUP_IMPLEMENTATION) || defined(UMUP_MPI_IMPLEMENTATION)
#ifndef UMUP_MPI_IMPLEMENTATION_DONE
#define UMUP_MPI_IMPLEMENTATION_DONE

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#ifndef UMUP_MALLOC
#include <stdlib.h>
#define UMUP_MALLOC(sz) malloc(sz)
#define UMUP_FREE(p) free(p)
#endif

#ifndef UMUP_MPI_TIMEOUT
#define UMUP_MPI_TIMEOUT 600.0
#endif
#define UMUP__MPI_MAX_SEG ((size_t)1 << 28) /* floats: keeps every MPI count and displacement an int */
#define UMUP__MPI_MSG 1024                  /* bytes of a message carried by umup_mpi_agree */
#define UMUP__MPI_TRY(x) do { umup_status umup__mst_ = (x); if (umup__mst_ != UMUP_OK) return umup__mst_; } while (0)

/* One segment [off, off + len) of the gradient, exchanged as a unit. Chunk c of it, [off + lo_c,
 * off + lo_c + cnt[c]), belongs to process c. Segments move through the phases in order (next_start,
 * next_gather, next_done in umup_mpi): reduce-scatter in flight, summed and all-gather in flight, done. */
typedef struct {
    size_t off, len;
    size_t roff;            /* where its received chunks go in scratch (P x my chunk floats) */
    int t_first, t_last;    /* overlap: the tensors it covers, in table order (-1 in the default mode) */
    int early;              /* started during the backward pass */
    MPI_Request req;
    int *cnt, *dsp;         /* [P] chunk lengths and offsets in the segment: alltoallv send side, allgatherv */
    int *rcnt, *rdsp;       /* [P] alltoallv receive side: my chunk from every process, q * my length */
} umup__mpi_seg;

struct umup_mpi {
    MPI_Comm ca, cg;        /* duplicates: reduce-scatter phase and small exchanges; all-gather phase */
    int rank, size, broken;
    umup_mpi_config cfg;    /* resolved */
    size_t seg_floats, scratch_floats;
    int pass_open;          /* overlap: the hook has begun this step's exchange */
    umup_trainer *t;        /* attached trainer, its model and size */
    umup_model *m;
    size_t n;
    int nseg, n_tensors;
    int next_start, next_gather, next_done; /* the exchange's front: segments started, summed, finished */
    umup__mpi_seg *seg;     /* [nseg] */
    int *ints;              /* [nseg * 4P] the segments' count arrays */
    unsigned char *done;    /* overlap: [n_tensors] gradient complete in this pass */
    float *scratch;         /* [scratch_floats] received chunks: every segment's with overlap, else one segment's */
    float *result;          /* overlap: [n] the summed gradient */
    const float *src;       /* the gradient being sent: the model's (overlap) or the caller's */
    float *dst;             /* where the sums go: result (overlap) or the caller's gradient */
    double *shares;         /* [P] loss shares */
    char *msgs;             /* [P * (sizeof(int) + UMUP__MPI_MSG)] umup_mpi_agree's exchange */
    umup_mpi_stats stats;
    char err[UMUP__MPI_MSG + 64]; /* the last failure's message: "rank R: " and up to UMUP__MPI_MSG bytes */
    char broken_why[UMUP__MPI_MSG + 64]; /* the failure that broke the context */
};

static char umup__mpi_create_err[512];

/* *out = a * b; 0 (and *out untouched) when it does not fit in size_t */
static int umup__mpi_size_mul(size_t *out, size_t a, size_t b) {
    if (a && b > (size_t)-1 / a) return 0;
    *out = a * b;
    return 1;
}

static umup_status umup__mpi_fail(umup_mpi *c, umup_status st, const char *fmt, ...) {
    va_list ap;
    char *buf = c ? c->err : umup__mpi_create_err;
    size_t cap = c ? sizeof c->err : sizeof umup__mpi_create_err;
    int k = 0;
    if (c) k = snprintf(buf, cap, "rank %d of %d: ", c->rank, c->size);
    if (k < 0 || (size_t)k >= cap) k = 0;
    va_start(ap, fmt);
    vsnprintf(buf + k, cap - (size_t)k, fmt, ap);
    va_end(ap);
    return st;
}

/* Marks the context unusable (a collective may be in flight) and keeps the reason for later calls. */
static void umup__mpi_break(umup_mpi *c) {
    if (!c || c->broken) return;
    c->broken = 1;
    memcpy(c->broken_why, c->err, sizeof c->err);
}

/* The status of every call on a broken context. */
static umup_status umup__mpi_broken(umup_mpi *c) {
    return umup__mpi_fail(c, UMUP_ERR_COMM, "unusable after an earlier failure (%s)", c->broken_why);
}

/* An MPI call's error code as a status with the MPI library's words for it. */
static umup_status umup__mpi_check(umup_mpi *c, int rc, const char *what) {
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (rc == MPI_SUCCESS) return UMUP_OK;
    if (MPI_Error_string(rc, s, &len) != MPI_SUCCESS) len = 0;
    s[len < MPI_MAX_ERROR_STRING ? len : MPI_MAX_ERROR_STRING - 1] = 0;
    umup__mpi_fail(c, UMUP_ERR_COMM, "%s failed: %s", what, len ? s : "(no description)");
    umup__mpi_break(c);
    return UMUP_ERR_COMM;
}

/* Waits for *r until the deadline (a wall-clock time, < 0: none). A missed deadline breaks the context. */
static umup_status umup__mpi_wait(umup_mpi *c, MPI_Request *r, double deadline, const char *what) {
    int flag = 0;
    if (deadline < 0) return umup__mpi_check(c, MPI_Wait(r, MPI_STATUS_IGNORE), what);
    for (;;) {
        UMUP__MPI_TRY(umup__mpi_check(c, MPI_Test(r, &flag, MPI_STATUS_IGNORE), what));
        if (flag) return UMUP_OK;
        if (MPI_Wtime() > deadline) {
            umup__mpi_fail(c, UMUP_ERR_COMM, "%s did not complete within %g s: another process failed, stopped or "
                           "took another path (the job should be aborted)", what, c->cfg.timeout_s);
            umup__mpi_break(c);
            return UMUP_ERR_COMM;
        }
    }
}

static double umup__mpi_deadline(const umup_mpi *c) {
    return c->cfg.timeout_s < 0 ? -1.0 : MPI_Wtime() + c->cfg.timeout_s;
}

UMUPDEF umup_status umup_mpi_create(umup_mpi **out, MPI_Comm comm, const umup_mpi_config *cfg) {
    umup_mpi *c;
    umup_mpi_config z;
    umup_status st;
    if (!out) return umup__mpi_fail(NULL, UMUP_ERR_NULL, "umup_mpi_create: out is NULL");
    *out = NULL;
    if (!cfg) { memset(&z, 0, sizeof z); cfg = &z; }
    if (comm == MPI_COMM_NULL || cfg->timeout_s != cfg->timeout_s || cfg->overlap < 0 || cfg->overlap > 1)
        return umup__mpi_fail(NULL, UMUP_ERR_INVALID_ARG, "umup_mpi_create: %s",
                              comm == MPI_COMM_NULL ? "comm is MPI_COMM_NULL" : "overlap must be 0 or 1, timeout_s a number");
    c = (umup_mpi *)UMUP_MALLOC(sizeof *c);
    if (!c) return umup__mpi_fail(NULL, UMUP_ERR_NOMEM, "umup_mpi_create: out of memory");
    memset(c, 0, sizeof *c);
    c->ca = c->cg = MPI_COMM_NULL;
    c->cfg = *cfg;
    if (c->cfg.timeout_s == 0) c->cfg.timeout_s = UMUP_MPI_TIMEOUT;
    if (c->cfg.bucket_bytes == 0) c->cfg.bucket_bytes = (size_t)4 << 20;
    c->seg_floats = c->cfg.bucket_bytes / sizeof(float);
    if (c->seg_floats < 1) c->seg_floats = 1;
    if (c->seg_floats > UMUP__MPI_MAX_SEG) c->seg_floats = UMUP__MPI_MAX_SEG;
    c->cfg.bucket_bytes = c->seg_floats * sizeof(float);
    st = umup__mpi_check(NULL, MPI_Comm_dup(comm, &c->ca), "MPI_Comm_dup");
    if (st == UMUP_OK) st = umup__mpi_check(NULL, MPI_Comm_dup(comm, &c->cg), "MPI_Comm_dup");
    if (st == UMUP_OK) st = umup__mpi_check(NULL, MPI_Comm_set_errhandler(c->ca, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    if (st == UMUP_OK) st = umup__mpi_check(NULL, MPI_Comm_set_errhandler(c->cg, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    if (st == UMUP_OK) st = umup__mpi_check(NULL, MPI_Comm_rank(c->ca, &c->rank), "MPI_Comm_rank");
    if (st == UMUP_OK) st = umup__mpi_check(NULL, MPI_Comm_size(c->ca, &c->size), "MPI_Comm_size");
    if (st == UMUP_OK) {
        size_t P = (size_t)c->size;
        c->shares = (double *)UMUP_MALLOC(P * sizeof(double));
        c->msgs = (char *)UMUP_MALLOC(P * (sizeof(int) + UMUP__MPI_MSG));
        if (!c->shares || !c->msgs) st = umup__mpi_fail(NULL, UMUP_ERR_NOMEM, "umup_mpi_create: out of memory");
    }
    if (st != UMUP_OK) { umup_mpi_destroy(c); return st; }
    *out = c;
    return UMUP_OK;
}

static void umup__mpi_free_segments(umup_mpi *c) {
    if (c->seg) UMUP_FREE(c->seg);
    if (c->ints) UMUP_FREE(c->ints);
    if (c->done) UMUP_FREE(c->done);
    if (c->scratch) UMUP_FREE(c->scratch);
    if (c->result) UMUP_FREE(c->result);
    c->seg = NULL; c->ints = NULL; c->done = NULL; c->scratch = NULL; c->result = NULL;
    c->nseg = 0;
}

UMUPDEF void umup_mpi_destroy(umup_mpi *c) {
    if (!c) return;
    if (!c->broken) { /* a broken context may have collectives in flight: leave its communicators to MPI_Abort */
        if (c->ca != MPI_COMM_NULL) MPI_Comm_free(&c->ca);
        if (c->cg != MPI_COMM_NULL) MPI_Comm_free(&c->cg);
    }
    umup__mpi_free_segments(c);
    if (c->shares) UMUP_FREE(c->shares);
    if (c->msgs) UMUP_FREE(c->msgs);
    UMUP_FREE(c);
}

UMUPDEF int umup_mpi_rank(const umup_mpi *c) { return c ? c->rank : 0; }
UMUPDEF int umup_mpi_size(const umup_mpi *c) { return c ? c->size : 1; }
UMUPDEF const char *umup_mpi_error(const umup_mpi *c) { return c ? c->err : umup__mpi_create_err; }
UMUPDEF void umup_mpi_get_stats(const umup_mpi *c, umup_mpi_stats *s) {
    if (!s) return;
    if (c) *s = c->stats;
    else memset(s, 0, sizeof *s);
}

/* Adds one segment (its chunk table) covering [off, off + len). */
static void umup__mpi_add_segment(umup_mpi *c, size_t off, size_t len, int t_first, int t_last) {
    umup__mpi_seg *s = &c->seg[c->nseg];
    size_t P = (size_t)c->size, q, mine;
    int *v = c->ints + (size_t)c->nseg * 4 * P;
    s->off = off; s->len = len; s->t_first = t_first; s->t_last = t_last;
    s->cnt = v; s->dsp = v + P; s->rcnt = v + 2 * P; s->rdsp = v + 3 * P;
    for (q = 0; q < P; q++) { /* chunk q: [len q / P, len (q + 1) / P); len <= 2^28 and P < 2^31: fits in 64 bits */
        uint64_t lo = (uint64_t)len * q / P, hi = (uint64_t)len * (q + 1) / P;
        s->dsp[q] = (int)lo;
        s->cnt[q] = (int)(hi - lo);
    }
    mine = (size_t)s->cnt[c->rank]; /* at most len / P + 1, so P x mine < 2^28 + 2^31 fits an int */
    for (q = 0; q < P; q++) { s->rcnt[q] = (int)mine; s->rdsp[q] = (int)(q * mine); }
    s->roff = c->cfg.overlap ? c->scratch_floats : 0; /* overlap: every segment its own place; else one, reused */
    if (c->cfg.overlap) c->scratch_floats += P * mine;
    else if (P * mine > c->scratch_floats) c->scratch_floats = P * mine;
    c->nseg++;
}

/* The segments: whole tensors grouped from the last one down to at least seg_floats (overlap: the
 * backward pass completes the last layers first), a tensor larger than that in pieces; or, in the
 * default mode, pieces of seg_floats of the whole gradient. */
static umup_status umup__mpi_segments(umup_mpi *c, const umup_model *m) {
    size_t P = (size_t)c->size, cap = 0, bytes = 0, rbytes = 0, k;
    int nt = umup_model_num_tensors(m), t;
    /* count: every piece of every tensor may be a segment of its own at most */
    for (t = 0; t < nt; t++) cap += umup_model_tensor(m, t)->size / c->seg_floats + 1;
    if (!c->cfg.overlap) cap = c->n / c->seg_floats + 1;
    c->seg = (umup__mpi_seg *)UMUP_MALLOC(cap * sizeof(umup__mpi_seg));
    if (c->seg) memset(c->seg, 0, cap * sizeof(umup__mpi_seg));
    if (umup__mpi_size_mul(&bytes, cap, 4 * P * sizeof(int))) c->ints = (int *)UMUP_MALLOC(bytes);
    c->done = (unsigned char *)UMUP_MALLOC((size_t)nt + 1);
    if (!c->seg || !c->ints || !c->done) return umup__mpi_fail(c, UMUP_ERR_NOMEM, "umup_mpi_attach: out of memory (segments)");
    c->nseg = 0;
    c->scratch_floats = 0;
    if (!c->cfg.overlap) {
        size_t off;
        for (off = 0; off < c->n; off += c->seg_floats)
            umup__mpi_add_segment(c, off, c->n - off < c->seg_floats ? c->n - off : c->seg_floats, -1, -1);
    } else {
        t = nt - 1;
        while (t >= 0) {
            const umup_tensor_info *ti = umup_model_tensor(m, t);
            if (ti->size > c->seg_floats) { /* a large tensor: its pieces, the highest first */
                size_t np = (ti->size + c->seg_floats - 1) / c->seg_floats;
                for (k = np; k-- > 0;) {
                    size_t lo = k * c->seg_floats, len = ti->size - lo < c->seg_floats ? ti->size - lo : c->seg_floats;
                    umup__mpi_add_segment(c, ti->offset + lo, len, t, t);
                }
                t--;
            } else { /* tensors t_first .. t, together at least seg_floats (or all that are left) */
                int last = t;
                size_t len = 0;
                while (t >= 0 && umup_model_tensor(m, t)->size <= c->seg_floats &&
                       len + umup_model_tensor(m, t)->size <= c->seg_floats) {
                    len += umup_model_tensor(m, t)->size;
                    t--;
                    if (len >= c->seg_floats) break;
                }
                if (len) umup__mpi_add_segment(c, umup_model_tensor(m, t + 1)->offset, len, t + 1, last);
            }
        }
    }
    if (!umup__mpi_size_mul(&bytes, c->scratch_floats ? c->scratch_floats : 1, sizeof(float)) ||
        !umup__mpi_size_mul(&rbytes, c->cfg.overlap && c->n ? c->n : 1, sizeof(float)))
        return umup__mpi_fail(c, UMUP_ERR_NOMEM, "umup_mpi_attach: the exchange buffers do not fit in memory");
    c->scratch = (float *)UMUP_MALLOC(bytes);
    if (c->cfg.overlap) c->result = (float *)UMUP_MALLOC(rbytes);
    if (!c->scratch || (c->cfg.overlap && !c->result))
        return umup__mpi_fail(c, UMUP_ERR_NOMEM, "umup_mpi_attach: out of memory (%.3g MB of exchange buffers)",
                              ((double)bytes + (c->cfg.overlap ? (double)rbytes : 0.0)) / 1e6);
    c->n_tensors = nt;
    return UMUP_OK;
}

/* A checksum of n bytes (FNV-1a over 64-bit words, then the tail). */
static uint64_t umup__mpi_hash(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = (const unsigned char *)p;
    size_t i;
    for (i = 0; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = (h ^ w) * 1099511628211ull;
    }
    for (; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static void umup__mpi_grad_ready(void *ctx, int tensor);

UMUPDEF umup_status umup_mpi_attach(umup_mpi *c, umup_trainer *t) {
    enum { K_TENSORS, K_PARAMS, K_PARAM_BITS, K_STEP, K_SETTINGS, K_N };
    static const char *what[K_N] = {"the number of tensors", "the number of parameters", "the parameter values",
                                    "the optimizer step", "the umup_mpi_config (overlap, bucket_bytes, timeout_s)"};
    uint64_t mine[K_N], *all;
    umup_model *m;
    umup_data_parallel dp;
    MPI_Request r;
    umup_status st;
    int q, k;
    if (!c || !t) return UMUP_ERR_NULL;
    if (c->broken) return umup__mpi_broken(c);
    if (c->t) return umup__mpi_fail(c, UMUP_ERR_INVALID_ARG, "umup_mpi_attach: already attached to a trainer");
    m = umup_trainer_model(t);
    c->n = umup_model_num_params(m);
    mine[K_TENSORS] = (uint64_t)umup_model_num_tensors(m);
    mine[K_PARAMS] = (uint64_t)c->n;
    mine[K_PARAM_BITS] = umup__mpi_hash(1469598103934665603ull, umup_model_params(m), c->n * sizeof(float));
    mine[K_STEP] = (uint64_t)umup_trainer_optimizer(t)->step;
    mine[K_SETTINGS] = umup__mpi_hash(1469598103934665603ull, &c->cfg.overlap, sizeof c->cfg.overlap);
    mine[K_SETTINGS] = umup__mpi_hash(mine[K_SETTINGS], &c->cfg.bucket_bytes, sizeof c->cfg.bucket_bytes);
    mine[K_SETTINGS] = umup__mpi_hash(mine[K_SETTINGS], &c->cfg.timeout_s, sizeof c->cfg.timeout_s);
    all = (uint64_t *)UMUP_MALLOC((size_t)c->size * sizeof mine);
    if (!all) return umup__mpi_fail(c, UMUP_ERR_NOMEM, "umup_mpi_attach: out of memory");
    st = umup__mpi_check(c, MPI_Iallgather(mine, K_N, MPI_UINT64_T, all, K_N, MPI_UINT64_T, c->ca, &r), "MPI_Iallgather");
    if (st == UMUP_OK) st = umup__mpi_wait(c, &r, umup__mpi_deadline(c), "umup_mpi_attach's check of the models");
    for (q = 1; q < c->size && st == UMUP_OK; q++)
        for (k = 0; k < K_N && st == UMUP_OK; k++)
            if (all[(size_t)q * (size_t)K_N + (size_t)k] != all[k])
                st = umup__mpi_fail(c, UMUP_ERR_MISMATCH, "rank %d differs from rank 0 in %s: every process must start "
                                    "from the same model and settings", q, what[k]);
    UMUP_FREE(all);
    if (st != UMUP_OK) return st;
    umup__mpi_free_segments(c);
    st = umup__mpi_segments(c, m);
    dp.rank = c->rank;
    dp.size = c->size;
    dp.ctx = c;
    dp.allreduce = umup_mpi_allreduce;
    if (st == UMUP_OK) {
        st = umup_trainer_set_data_parallel(t, &dp);
        if (st != UMUP_OK) umup__mpi_fail(c, st, "umup_trainer_set_data_parallel: %s (gradient accumulation is on?)", umup_status_string(st));
    }
    if (st != UMUP_OK) { umup__mpi_free_segments(c); return st; }
    c->t = t;
    c->m = m;
    memset(c->done, 0, (size_t)c->n_tensors + 1);
    if (c->cfg.overlap) umup_model_set_grad_hook(m, umup__mpi_grad_ready, c);
    return UMUP_OK;
}

UMUPDEF void umup_mpi_detach(umup_mpi *c) {
    if (!c || !c->t) return;
    umup_trainer_set_data_parallel(c->t, NULL);
    if (c->cfg.overlap) umup_model_set_grad_hook(c->m, NULL, NULL);
    c->t = NULL;
    c->m = NULL;
}

/* ---- the exchange: a state machine over the segments, driven by umup__mpi_progress ------------ */

static umup_status umup__mpi_start_scatter(umup_mpi *c, umup__mpi_seg *s, int early) {
    float *rbuf = c->scratch + s->roff;
    s->early = early;
    c->stats.bytes_sent += (uint64_t)(s->len - (size_t)s->cnt[c->rank]) * sizeof(float);
    return umup__mpi_check(c, MPI_Ialltoallv(c->src + s->off, s->cnt, s->dsp, MPI_FLOAT, rbuf, s->rcnt, s->rdsp,
                                             MPI_FLOAT, c->ca, &s->req), "MPI_Ialltoallv (reduce-scatter)");
}

/* My chunk of segment s, from every process: dst[chunk] = ((g_0 + g_1) + g_2) + ... */
static void umup__mpi_sum(umup_mpi *c, umup__mpi_seg *s) {
    const float *rbuf = c->scratch + s->roff;
    float *o = c->dst + s->off + (size_t)s->dsp[c->rank];
    size_t ml = (size_t)s->cnt[c->rank], i;
    int q;
    memcpy(o, rbuf, ml * sizeof(float));
    for (q = 1; q < c->size; q++) {
        const float *g = rbuf + (size_t)q * ml;
        for (i = 0; i < ml; i++) o[i] += g[i];
    }
}

/* Is segment k's gradient complete (overlap: all its tensors reported by the hook)? */
static int umup__mpi_ready(const umup_mpi *c, int k, int all) {
    const umup__mpi_seg *s = &c->seg[k];
    int t;
    if (all) return 1;
    for (t = s->t_first; t <= s->t_last; t++) if (!c->done[t]) return 0;
    return 1;
}

/* Advances the exchange as far as it can go without waiting: starts the segments whose gradients
 * are ready (in segment order, the same on every process: collectives on a communicator must be
 * started in the same order everywhere), adds the chunks that arrived, starts the all-gathers (in
 * segment order, on their own communicator) and retires those that finished; each phase in segment
 * order, so a call costs O(1) beyond the work it does. all: every gradient is ready. Sets
 * *finished when every segment is done. */
static umup_status umup__mpi_progress(umup_mpi *c, int all, int early, int *finished) {
    int flag, moved = 1;
    while (moved) {
        moved = 0;
        while (c->next_start < c->nseg && umup__mpi_ready(c, c->next_start, all) &&
               (c->cfg.overlap || c->next_start == c->next_gather)) { /* one scratch buffer: in turn */
            UMUP__MPI_TRY(umup__mpi_start_scatter(c, &c->seg[c->next_start++], early));
            moved = 1;
        }
        while (c->next_gather < c->next_start) {
            umup__mpi_seg *s = &c->seg[c->next_gather];
            UMUP__MPI_TRY(umup__mpi_check(c, MPI_Test(&s->req, &flag, MPI_STATUS_IGNORE), "MPI_Ialltoallv (reduce-scatter)"));
            if (!flag) break;
            umup__mpi_sum(c, s);
            c->next_gather++;
            c->stats.bytes_sent += (uint64_t)s->cnt[c->rank] * (uint64_t)(c->size - 1) * sizeof(float);
            UMUP__MPI_TRY(umup__mpi_check(c, MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, c->dst + s->off, s->cnt, s->dsp,
                                                             MPI_FLOAT, c->cg, &s->req), "MPI_Iallgatherv (all-gather)"));
            moved = 1;
        }
        while (c->next_done < c->next_gather) {
            umup__mpi_seg *s = &c->seg[c->next_done];
            UMUP__MPI_TRY(umup__mpi_check(c, MPI_Test(&s->req, &flag, MPI_STATUS_IGNORE), "MPI_Iallgatherv (all-gather)"));
            if (!flag) break;
            c->next_done++;
            moved = 1;
        }
    }
    *finished = c->next_done == c->nseg;
    return UMUP_OK;
}

/* The pass's first report: a new exchange begins (the model's gradients are its source). */
static void umup__mpi_begin(umup_mpi *c, const float *src, float *dst) {
    c->next_start = c->next_gather = c->next_done = 0;
    c->src = src;
    c->dst = dst;
    c->pass_open = 1;
}

/* umup_model_set_grad_hook: tensor `tensor`'s gradient is complete. Errors are kept for the
 * allreduce that ends the step (the hook cannot return them). */
static void umup__mpi_grad_ready(void *ctx, int tensor) {
    umup_mpi *c = (umup_mpi *)ctx;
    int finished;
    if (c->broken || !c->m || tensor < 0 || tensor >= c->n_tensors) return;
    if (!c->pass_open) umup__mpi_begin(c, umup_model_grads(c->m), c->result);
    c->done[tensor] = 1;
    umup__mpi_progress(c, 0, 1, &finished);
}

/* Drives the exchange to its end, or to the deadline. */
static umup_status umup__mpi_finish(umup_mpi *c, double deadline) {
    int finished = 0;
    for (;;) {
        UMUP__MPI_TRY(umup__mpi_progress(c, 1, 0, &finished));
        if (finished) return UMUP_OK;
        if (deadline >= 0 && MPI_Wtime() > deadline) {
            umup__mpi_fail(c, UMUP_ERR_COMM, "the gradient exchange did not complete within %g s: another process "
                           "failed, stopped or took another path (the job should be aborted)", c->cfg.timeout_s);
            umup__mpi_break(c);
            return UMUP_ERR_COMM;
        }
    }
}

/* The loss shares of every process, summed in rank order; names the processes whose share is not finite. */
static umup_status umup__mpi_shares(umup_mpi *c, double *loss, double deadline, int *bad) {
    MPI_Request r;
    double mine = *loss, sum = 0.0;
    int q, k = 0;
    char *p;
    UMUP__MPI_TRY(umup__mpi_check(c, MPI_Iallgather(&mine, 1, MPI_DOUBLE, c->shares, 1, MPI_DOUBLE, c->ca, &r), "MPI_Iallgather (loss)"));
    UMUP__MPI_TRY(umup__mpi_wait(c, &r, deadline, "the exchange of the loss shares"));
    *bad = 0;
    for (q = 0; q < c->size; q++) {
        sum += c->shares[q];
        if (!(fabs(c->shares[q]) <= 1.79e308)) (*bad)++;
    }
    *loss = sum;
    if (!*bad) return UMUP_OK;
    k = snprintf(c->err, sizeof c->err, "rank %d of %d: the step failed on rank", c->rank, c->size);
    p = c->err + (k > 0 && (size_t)k < sizeof c->err ? k : 0);
    for (q = 0; q < c->size && p < c->err + sizeof c->err - 16; q++)
        if (!(fabs(c->shares[q]) <= 1.79e308)) p += snprintf(p, 12, " %d", q);
    snprintf(p, (size_t)(c->err + sizeof c->err - p), " (a non-finite loss, or an error there)");
    return UMUP_OK;
}

UMUPDEF umup_status umup_mpi_allreduce(void *ctx, float *grads, size_t n, double *loss) {
    umup_mpi *c = (umup_mpi *)ctx;
    double t0, deadline;
    int bad = 0, k;
    umup_status st;
    if (!c || !grads || !loss) return UMUP_ERR_NULL;
    if (c->broken) return umup__mpi_broken(c);
    if (!c->t) return umup__mpi_fail(c, UMUP_ERR_INVALID_ARG, "umup_mpi_allreduce: not attached to a trainer");
    if (n != c->n) return umup__mpi_fail(c, UMUP_ERR_SHAPE, "umup_mpi_allreduce: %zu floats, the model has %zu", n, c->n);
    t0 = MPI_Wtime();
    deadline = umup__mpi_deadline(c);
    c->err[0] = 0;
    if (!c->cfg.overlap) { /* the loss shares first: after a failure nothing else is sent */
        st = umup__mpi_shares(c, loss, deadline, &bad);
        if (st == UMUP_OK && !bad) {
            umup__mpi_begin(c, grads, grads);
            st = umup__mpi_finish(c, deadline);
        }
    } else { /* the hook has started what was ready; a process whose pass failed starts it all here */
        if (!c->pass_open) umup__mpi_begin(c, umup_model_grads(c->m), c->result);
        st = umup__mpi_progress(c, 1, 0, &k);
        if (st == UMUP_OK) st = umup__mpi_shares(c, loss, deadline, &bad);
        if (st == UMUP_OK) st = umup__mpi_finish(c, deadline);
        if (st == UMUP_OK && !bad) memcpy(grads, c->result, n * sizeof(float));
        memset(c->done, 0, (size_t)c->n_tensors + 1);
    }
    c->pass_open = 0;
    for (k = 0; k < c->nseg && st == UMUP_OK && !bad; k++) c->stats.early += (uint64_t)c->seg[k].early;
    if (st == UMUP_OK && !bad) c->stats.segments += (uint64_t)c->nseg;
    c->stats.exchanges++;
    c->stats.seconds += MPI_Wtime() - t0;
    return st;
}

UMUPDEF umup_status umup_mpi_agree(umup_mpi *c, umup_status local, const char *message) {
    size_t rec = sizeof(int) + UMUP__MPI_MSG;
    MPI_Request r;
    int q, s;
    if (!c) return UMUP_ERR_NULL;
    if (c->broken) return umup__mpi_broken(c);
    { /* my record is sent from a copy: the receive buffer is all of msgs */
        char buf[sizeof(int) + UMUP__MPI_MSG];
        int ls = (int)local;
        memset(buf, 0, sizeof buf);
        memcpy(buf, &ls, sizeof ls);
        if (message) snprintf(buf + sizeof(int), UMUP__MPI_MSG, "%s", message);
        UMUP__MPI_TRY(umup__mpi_check(c, MPI_Iallgather(buf, (int)rec, MPI_BYTE, c->msgs, (int)rec, MPI_BYTE, c->ca, &r),
                                  "MPI_Iallgather (umup_mpi_agree)"));
        UMUP__MPI_TRY(umup__mpi_wait(c, &r, umup__mpi_deadline(c), "umup_mpi_agree"));
    }
    for (q = 0; q < c->size; q++) {
        memcpy(&s, c->msgs + (size_t)q * rec, sizeof s);
        if (s != UMUP_OK) {
            const char *msg = c->msgs + (size_t)q * rec + sizeof(int);
            snprintf(c->err, sizeof c->err, "rank %d: %s", q, msg[0] ? msg : umup_status_string((umup_status)s));
            return (umup_status)s;
        }
    }
    return UMUP_OK;
}

#endif /* UMUP_MPI_IMPLEMENTATION_DONE */
#endif /* UMUP_IMPLEMENTATION || UMUP_MPI_IMPLEMENTATION */
