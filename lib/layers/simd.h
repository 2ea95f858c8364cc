/* AVX2 helpers shared by the layers' vector paths. They are compiled into
 * every x86 build with CR_TARGET_AVX2 and called only when cr_cpu_avx2()
 * (lib/cpu.h): the library itself is built for plain x86-64. */
#ifndef CNNRUN_LAYERS_SIMD_H
#define CNNRUN_LAYERS_SIMD_H

#include "../cpu.h"

#if CR_X86
#include <immintrin.h>

/* The even- and odd-indexed values of the 16 floats at p: columns
 * 0, 2, .., 14 and 1, 3, .., 15 (the left and right column of 8 neighbouring
 * windows that start 2 apart: 2×2 pooling, Winograd's 4×4 tiles). */
CR_TARGET_AVX2 static inline void cr_split_even_odd(const float *p, __m256 *even, __m256 *odd) {
    __m256 low = _mm256_loadu_ps(p), high = _mm256_loadu_ps(p + 8);
    /* shuffle pairs within each 128-bit half, then put the halves in order */
    *even = _mm256_castpd_ps(_mm256_permute4x64_pd(
        _mm256_castps_pd(_mm256_shuffle_ps(low, high, _MM_SHUFFLE(2, 0, 2, 0))),
        _MM_SHUFFLE(3, 1, 2, 0)));
    *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(
        _mm256_castps_pd(_mm256_shuffle_ps(low, high, _MM_SHUFFLE(3, 1, 3, 1))),
        _MM_SHUFFLE(3, 1, 2, 0)));
}

#endif

#endif
