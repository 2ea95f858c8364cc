/* cnnrun's threads. OpenMP runs the layers' loops (over images, channels or
 * elements) and splits every matrix product into independent pieces; each
 * piece calls OpenBLAS single-threaded. One thread pool: OpenBLAS's own
 * workers would otherwise spin (sched_yield) on the same cores while the
 * non-GEMM loops run, and two pools on two cores fight each other.
 *
 * Results are deterministic for a given thread count (static schedules,
 * partial sums reduced in thread order); a different count may change them
 * by float rounding. */
#ifndef CNNRUN_PARALLEL_H
#define CNNRUN_PARALLEL_H

#include <stdbool.h>
#include <stdint.h>

#include "cnnrun.h" /* cr_set_threads, cr_threads: public */

/* C = alpha·op(A)·op(B) + beta·C (row-major, as cblas_sgemm), split along
 * the larger of M and N over the threads; each piece is a single-threaded
 * OpenBLAS call. Called inside a parallel region it runs on the caller's
 * thread alone. */
void cr_sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc);

/* [first, end) of `count` items for thread `thread` of `threads`: contiguous
 * near-equal shares, the same every call. */
static inline void cr_thread_share(int64_t count, int thread, int threads, int64_t *first,
                                   int64_t *end) {
    int64_t base = count / threads, extra = count % threads;
    *first = thread * base + (thread < extra ? thread : extra);
    *end = *first + base + (thread < extra ? 1 : 0);
}

#endif
