/* Data-parallel training across processes: the few collective operations
 * the training loop needs, over MPI when cnnrun was built with it
 * (CNNRUN_MPI) and the process was started by mpirun, and as a single
 * process otherwise (rank 0 of 1; every operation is then a no-op). The
 * training loop calls these unconditionally and has no #ifdefs.
 *
 *   cr_dist_init(&err);            (once, before training)
 *   ... cr_train(...) ...          (uses the calls below)
 *   cr_dist_finalize(failed);
 *
 * Every rank must make the same calls in the same order with the same
 * counts (MPI's rule for collectives); a rank that fails alone must not
 * return early but report its status through cr_dist_agree, so that no rank
 * waits forever in a collective the others never join. docs/distributed.md
 * describes the design. */
#ifndef CNNRUN_DIST_H
#define CNNRUN_DIST_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

/* Joins the MPI job when the process was started by an MPI launcher (its
 * environment names a rank); otherwise, or without MPI support, this is a
 * single process and nothing is initialised. */
int cr_dist_init(cr_error *err);
/* Leaves the MPI job. `failed`: this process is ending with an error. If
 * that error was not agreed by every rank through cr_dist_agree, the other
 * ranks may be waiting in a collective: the whole job is aborted instead
 * (MPI_Abort), so it ends rather than hangs. */
void cr_dist_finalize(bool failed);

bool cr_dist_compiled(void); /* built with MPI support */
int cr_dist_rank(void);      /* 0 .. size-1 */
int cr_dist_size(void);      /* processes in the job; 1 without mpirun */

/* In place, element-wise sums over all ranks (every rank gets the result). */
void cr_dist_sum_floats(float *data, int64_t count);
void cr_dist_sum_doubles(double *data, int64_t count);
/* Copies rank 0's bytes to every other rank. */
void cr_dist_broadcast(void *data, int64_t bytes);

/* Every rank passes its own status (0: fine) and, when non-zero, the error
 * in *err. Returns 0 on every rank when all were fine; otherwise 1 on every
 * rank, with *err holding the error of the lowest failing rank, its message
 * prefixed with "rank R of N (HOST): " when R is not 0, so that rank 0 can
 * print it. */
int cr_dist_agree(int status, cr_error *err);

#endif
