/* Threads (see parallel.h). */
#include <cblas.h>
#include <omp.h>

#include "cpu.h"
#include "parallel.h"

void cr_set_threads(int n) {
    if (n > 0) omp_set_num_threads(n);
    openblas_set_num_threads(1);
    cr_cpu(); /* the vector level, chosen before any parallel region */
}

int cr_threads(void) {
    return omp_get_max_threads();
}

/* Below this many output values per thread a split costs more in start-up
 * and in OpenBLAS's packing than it saves. */
#define MIN_OUTPUTS_PER_THREAD 4096

void cr_sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc) {
    enum CBLAS_TRANSPOSE op_a = trans_a ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE op_b = trans_b ? CblasTrans : CblasNoTrans;
    int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
    int64_t outputs = (int64_t)m * n;
    if (threads > outputs / MIN_OUTPUTS_PER_THREAD)
        threads = (int)(outputs / MIN_OUTPUTS_PER_THREAD);
    if (threads <= 1) {
        cblas_sgemm(CblasRowMajor, op_a, op_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    /* Rows of C are rows of op(A); columns of C are columns of op(B). */
    bool split_rows = m >= n;
#pragma omp parallel num_threads(threads)
    {
        int64_t first, end;
        cr_thread_share(split_rows ? m : n, omp_get_thread_num(), omp_get_num_threads(), &first,
                        &end);
        if (end > first) {
            if (split_rows) {
                const float *a_part = trans_a ? a + first : a + first * lda;
                cblas_sgemm(CblasRowMajor, op_a, op_b, (int)(end - first), n, k, alpha, a_part, lda,
                            b, ldb, beta, c + first * ldc, ldc);
            } else {
                const float *b_part = trans_b ? b + first * ldb : b + first;
                cblas_sgemm(CblasRowMajor, op_a, op_b, m, (int)(end - first), k, alpha, a, lda,
                            b_part, ldb, beta, c + first, ldc);
            }
        }
    }
}
