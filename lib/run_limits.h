/* Limits a user can hit, stated and enforced before any work is done.
 *
 *   threads  at most the larger of 1,024 and 16 per core (OpenMP's runtime
 *            crashes after minutes and gigabytes at 100,000); from --threads
 *            or OMP_NUM_THREADS alike
 *   memory   a network is refused before anything is allocated when its plan
 *            needs more than the machine's physical memory or the process's
 *            address-space limit (ulimit -v), whichever is smaller
 * (Batch sizes above the data set's size are clamped by cr_train.) */
#ifndef CNNRUN_RUN_LIMITS_H
#define CNNRUN_RUN_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* The largest thread count cnnrun accepts on this machine. */
int cr_thread_limit(void);

/* The thread count OpenMP will use (cr_set_threads / OMP_NUM_THREADS), checked
 * against cr_thread_limit: an error naming both (CR_ERR_USAGE). */
int cr_check_threads(cr_error *err);

/* Bytes a process may use here, and in *source what limits it ("physical
 * memory" or "ulimit -v"). */
int64_t cr_memory_limit(const char **source);

/* `bytes` (for `what`, e.g. "training at batch 64") against cr_memory_limit:
 * an error naming both figures (CR_ERR_RUNTIME). */
int cr_check_memory(int64_t bytes, const char *what, cr_error *err);

/* 6442450944 -> "6.0 GiB" */
const char *cr_format_bytes(int64_t bytes, char *out, size_t size);

#endif
