/* Stride-2 row copies, portable and AVX2 (see stride2_rows.h). */
#include "stride2_rows.h"

#include "simd.h"

#if CR_X86
/* Blocks of 8 outputs while their 16 pixels are readable; the
 * caller does the rest (at most 8) one by one: masked loads and stores for
 * it measured slower on AMD's Zen 3 than the scalar loop (a masked store is
 * microcoded there). */
CR_TARGET_AVX2 static int gather_avx2(float *restrict out, const float *restrict row, int n,
                                      int64_t readable) {
    int i = 0;
    for (; i + 8 <= n && 2 * (int64_t)i + 16 <= readable; i += 8) {
        __m256 even, odd;
        cr_split_even_odd(row + 2 * i, &even, &odd);
        _mm256_storeu_ps(out + i, even);
    }
    return i;
}

/* in's 8 values spread onto the even lanes of two vectors, zeros between,
 * added to the 16 pixels (the odd ones get + 0); blocks as above. */
CR_TARGET_AVX2 static int scatter_add_avx2(float *restrict row, const float *restrict in, int n,
                                           int64_t readable) {
    __m256 zero = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n && 2 * (int64_t)i + 16 <= readable; i += 8) {
        __m256 v = _mm256_loadu_ps(in + i);
        __m256 low = _mm256_unpacklo_ps(v, zero), high = _mm256_unpackhi_ps(v, zero);
        float *p = row + 2 * i;
        _mm256_storeu_ps(
            p, _mm256_add_ps(_mm256_loadu_ps(p), _mm256_permute2f128_ps(low, high, 0x20)));
        _mm256_storeu_ps(
            p + 8, _mm256_add_ps(_mm256_loadu_ps(p + 8), _mm256_permute2f128_ps(low, high, 0x31)));
    }
    return i;
}
#endif

int cr_gather_stride2_blocks(float *restrict out, const float *restrict row, int n,
                             int64_t readable) {
#if CR_X86
    return gather_avx2(out, row, n, readable);
#else
    (void)out, (void)row, (void)n, (void)readable;
    return 0;
#endif
}

int cr_scatter_add_stride2_blocks(float *restrict row, const float *restrict in, int n,
                                  int64_t readable) {
#if CR_X86
    return scatter_add_avx2(row, in, n, readable);
#else
    (void)row, (void)in, (void)n, (void)readable;
    return 0;
#endif
}
