/* Rows read or written at every second pixel: the inner loops of im2col,
 * col2im and the strided 1×1 conv's gather/scatter for stride 2 (ResNet's
 * downsampling). Scalar, these loops cost a stride-2 3×3 conv nearly as
 * much as its products; with AVX2, blocks of 8 outputs split 16
 * neighbouring pixels into their even and odd halves (lib/layers/simd.h).
 * Inline, so that rows too short for a block (8×8 maps) cost no call. */
#ifndef CNNRUN_LAYERS_STRIDE2_ROWS_H
#define CNNRUN_LAYERS_STRIDE2_ROWS_H

#include <stdbool.h>
#include <stdint.h>

/* `readable`: how many floats from row on the copy may touch (at least
 * 2n − 1; the rest of the caller's image, when the row is not its last):
 * a block reads 16 pixels, one past its last even one, so a row of 8
 * outputs is a block only if the pixel after it is there.
 *
 * The AVX2 blocks of the two below (call only when cr_cpu_avx2()): they do
 * outputs [0, returned) and leave the rest, at most 8, to the caller. */
int cr_gather_stride2_blocks(float *restrict out, const float *restrict row, int n,
                             int64_t readable);
int cr_scatter_add_stride2_blocks(float *restrict row, const float *restrict in, int n,
                                  int64_t readable);

/* out[i] = row[2i] for i < n. */
static inline void cr_gather_stride2(float *restrict out, const float *restrict row, int n,
                                     int64_t readable, bool avx2) {
    int i = avx2 && n >= 8 ? cr_gather_stride2_blocks(out, row, n, readable) : 0;
    for (; i < n; i++) out[i] = row[2 * i];
}

/* row[2i] += in[i] for i < n, the odd pixels keeping their values (a block
 * writes them back unchanged: `readable` must not reach pixels another
 * thread writes). */
static inline void cr_scatter_add_stride2(float *restrict row, const float *restrict in, int n,
                                          int64_t readable, bool avx2) {
    int i = avx2 && n >= 8 ? cr_scatter_add_stride2_blocks(row, in, n, readable) : 0;
    for (; i < n; i++) row[2 * i] += in[i];
}

#endif
