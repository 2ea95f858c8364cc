/* Collectives for data-parallel training (see dist.h): MPI when compiled
 * with CNNRUN_MPI and started by mpirun, else one process. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"

#ifdef CNNRUN_MPI
#include <mpi.h>

static bool active; /* MPI_Init was called by us and MPI_Finalize not yet */
static int job_rank, job_size = 1;
/* A cr_dist_agree returned failure: every rank knows the job is ending. */
static bool failure_agreed;

/* mpirun (Open MPI), PMIx-based launchers (srun, prterun) and MPICH's hydra
 * each leave one of these in the environment of the processes they start.
 * Without one, this is a plain `cnnrun train`: MPI is not initialised at
 * all, so such a run behaves exactly as a build without MPI. */
static bool started_by_launcher(void) {
    static const char *const names[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK",
                                        "PMI_SIZE"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (getenv(names[i])) return true;
    return false;
}

int cr_dist_init(cr_error *err) {
    if (active || !started_by_launcher()) return 0;
    int initialised = 0, provided = 0;
    MPI_Initialized(&initialised);
    /* FUNNELED: the layers run OpenMP threads, but only the main thread
     * calls MPI (between steps). */
    if (!initialised && MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return cr_fail(err, CR_ERR_RUNTIME, (cr_mark){0}, NULL,
                       "cannot join the MPI job (MPI_Init failed)");
    /* MPI_COMM_WORLD keeps MPI_ERRORS_ARE_FATAL: a collective that fails
     * (a peer died, the network went away) ends the whole job instead of
     * returning an error some rank might not see. */
    MPI_Comm_rank(MPI_COMM_WORLD, &job_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &job_size);
    active = true;
    return 0;
}

void cr_dist_finalize(bool failed) {
    if (!active) return;
    active = false;
    if (failed && !failure_agreed && job_size > 1) MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Finalize();
}

bool cr_dist_compiled(void) {
    return true;
}

int cr_dist_rank(void) {
    return active ? job_rank : 0;
}

int cr_dist_size(void) {
    return active ? job_size : 1;
}

/* MPI counts are ints: larger arrays go in pieces. */
enum { max_piece = INT_MAX / 16 };

void cr_dist_sum_floats(float *data, int64_t count) {
    if (!active || job_size == 1) return;
    for (int64_t start = 0; start < count; start += max_piece) {
        int piece = (int)(count - start < max_piece ? count - start : max_piece);
        MPI_Allreduce(MPI_IN_PLACE, data + start, piece, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
}

void cr_dist_sum_doubles(double *data, int64_t count) {
    if (!active || job_size == 1) return;
    for (int64_t start = 0; start < count; start += max_piece) {
        int piece = (int)(count - start < max_piece ? count - start : max_piece);
        MPI_Allreduce(MPI_IN_PLACE, data + start, piece, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    }
}

void cr_dist_broadcast(void *data, int64_t bytes) {
    if (!active || job_size == 1) return;
    for (int64_t start = 0; start < bytes; start += max_piece) {
        int piece = (int)(bytes - start < max_piece ? bytes - start : max_piece);
        MPI_Bcast((char *)data + start, piece, MPI_BYTE, 0, MPI_COMM_WORLD);
    }
}

int cr_dist_agree(int status, cr_error *err) {
    if (!active || job_size == 1) {
        if (status) failure_agreed = true;
        return status ? 1 : 0;
    }
    int mine = status ? job_rank : job_size, lowest = job_size;
    MPI_Allreduce(&mine, &lowest, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (lowest == job_size) return 0;
    failure_agreed = true;
    struct {
        cr_error error;
        char host[MPI_MAX_PROCESSOR_NAME];
    } failure;
    memset(&failure, 0, sizeof failure);
    if (job_rank == lowest) {
        failure.error = *err;
        int length = 0;
        MPI_Get_processor_name(failure.host, &length);
    }
    MPI_Bcast(&failure, (int)sizeof failure, MPI_BYTE, lowest, MPI_COMM_WORLD);
    *err = failure.error;
    /* mark.file points into the error itself (error.h): into the copy now. */
    if (err->mark.file) err->mark.file = err->file;
    if (lowest != 0) {
        /* The rank goes first: the file, line and layer become part of the
         * message after it. */
        char located[sizeof err->message];
        cr_error_format(err, located, sizeof located);
        snprintf(err->message, sizeof err->message, "rank %d of %d (%.64s): %.800s", lowest,
                 job_size, failure.host, located);
        err->mark = (cr_mark){0};
        err->layer[0] = '\0';
    }
    return 1;
}

#else /* one process */

/* Started as one of several processes by mpirun, each would train the whole
 * model into the same run folder: refuse instead. */
int cr_dist_init(cr_error *err) {
    static const char *const names[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *size = getenv(names[i]);
        if (size && atoi(size) > 1)
            return cr_fail(err, CR_ERR_USAGE, (cr_mark){0}, NULL,
                           "started by mpirun as one of %d processes, but this cnnrun was built "
                           "without MPI: install libopenmpi-dev and rebuild (CMake finds MPI by "
                           "itself), or run cnnrun without mpirun",
                           atoi(size));
    }
    return 0;
}

void cr_dist_finalize(bool failed) {
    (void)failed;
}

bool cr_dist_compiled(void) {
    return false;
}

int cr_dist_rank(void) {
    return 0;
}

int cr_dist_size(void) {
    return 1;
}

void cr_dist_sum_floats(float *data, int64_t count) {
    (void)data;
    (void)count;
}

void cr_dist_sum_doubles(double *data, int64_t count) {
    (void)data;
    (void)count;
}

void cr_dist_broadcast(void *data, int64_t bytes) {
    (void)data;
    (void)bytes;
}

int cr_dist_agree(int status, cr_error *err) {
    (void)err;
    return status ? 1 : 0;
}

#endif
