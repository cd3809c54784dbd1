/* bench/mpi/bench_mpi.c - the gradient exchange of umup_mpi.h alone (make MPI=1; bench/mpi/scaling.sh runs it).
 *
 *   mpirun -np P ./build/mpi/bench_mpi [--width D] [--layers L] [--reps N]
 *
 * Times umup_mpi_allreduce on the gradient of a model of width D (the demo's shape otherwise: L layers,
 * SwiGLU x4, vocabulary 256), in both modes (the overlap mode called after the backward pass, so every
 * segment is in flight at once), and prints one line per mode (rank 0):
 *   bench_mpi procs=P width=D params=n grad_MB=x mode=blocking ms=t algo_GBps=a bus_GBps=b
 * ms is the median over N calls; algo_GBps the gradient's bytes over that time; bus_GBps the bytes every
 * process sends, 2 (P-1)/P of the gradient, over that time: what a ring all-reduce's bandwidth is quoted as,
 * so the figure to set against a network's bandwidth in the README's cost model. */
#define UMUP_IMPLEMENTATION
#include "umup.h"
#include "umup_mpi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    int provided = 0, rank = 0, size = 1, width = 128, layers = 2, reps = 7, i, mode;
    umup_model_config mc = umup_model_config_default();
    umup_optim_config oc;
    umup_trainer *t = NULL;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    for (i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--width")) width = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--layers")) layers = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
    }
    if (width < 32 || layers < 1 || reps < 1 || reps > 1000) {
        if (rank == 0) fprintf(stderr, "usage: bench_mpi [--width D >= 32] [--layers L] [--reps N]\n");
        MPI_Finalize();
        return 2;
    }
    mc.width = width;
    mc.layers = layers;
    mc.heads = 0;
    mc.head_size = 32;
    mc.max_seq = 16;
    oc = umup_optim_config_for(mc.param.param, UMUP_OPT_ADAMW, 10);
    if (umup_trainer_create(&t, &mc, &oc, 1) != UMUP_OK) {
        fprintf(stderr, "bench_mpi: cannot create a model of width %d\n", width);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    for (mode = 0; mode < 2; mode++) {
        umup_mpi_config cfg;
        umup_mpi *c = NULL;
        umup_model *m = umup_trainer_model(t);
        size_t n = umup_model_num_params(m), k;
        float *g = (float *)malloc(n * sizeof(float));
        double *ms = (double *)malloc((size_t)reps * sizeof(double)), loss = 1.0, bytes = (double)n * sizeof(float);
        memset(&cfg, 0, sizeof cfg);
        cfg.overlap = mode;
        if (!g || !ms || umup_mpi_create(&c, MPI_COMM_WORLD, &cfg) != UMUP_OK || umup_mpi_attach(c, t) != UMUP_OK) {
            fprintf(stderr, "bench_mpi: setup failed: %s\n", c ? umup_mpi_error(c) : umup_mpi_error(NULL));
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        for (k = 0; k < n; k++) g[k] = umup_model_grads(m)[k] = (float)(k % 97) * 0.01f;
        for (i = -1; i < reps; i++) { /* one warm-up call */
            double t0;
            MPI_Barrier(MPI_COMM_WORLD);
            t0 = MPI_Wtime();
            if (umup_mpi_allreduce(c, g, n, &loss) != UMUP_OK) {
                fprintf(stderr, "bench_mpi: %s\n", umup_mpi_error(c));
                MPI_Abort(MPI_COMM_WORLD, 1);
            }
            if (i >= 0) ms[i] = 1e3 * (MPI_Wtime() - t0);
        }
        qsort(ms, (size_t)reps, sizeof(double), cmp_double);
        if (rank == 0)
            printf("bench_mpi procs=%d width=%d layers=%d params=%zu grad_MB=%.2f mode=%s ms=%.3f algo_GBps=%.3f bus_GBps=%.3f\n",
                   size, width, layers, n, bytes / 1e6, mode ? "overlap" : "blocking", ms[reps / 2],
                   bytes / (ms[reps / 2] * 1e-3) / 1e9, 2.0 * (size - 1) / size * bytes / (ms[reps / 2] * 1e-3) / 1e9);
        fflush(stdout);
        umup_mpi_detach(c);
        umup_mpi_destroy(c);
        free(g);
        free(ms);
    }
    umup_trainer_destroy(t);
    MPI_Finalize();
    return 0;
}
