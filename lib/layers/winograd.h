/* Winograd's minimal filtering F(2×2, 3×3) for the forward pass of 3×3,
 * stride-1, ungrouped convolutions (VGG's): 2×2 outputs from a 4×4 input
 * tile with 16 multiplications per channel instead of 36, as 16 matrix
 * products [F, C]·[C, tiles] (Lavin & Gray, "Fast Algorithms for
 * Convolutional Neural Networks", 2016). Used for the forward pass and for
 * backward's input gradient (itself such a convolution); the weight
 * gradient stays im2col + GEMM. Results differ from im2col's only by float
 * rounding (tests/test_conv.c against a direct convolution in double). */
#ifndef CNNRUN_LAYERS_WINOGRAD_H
#define CNNRUN_LAYERS_WINOGRAD_H

#include <stdbool.h>
#include <stdint.h>

#include "../layer.h"
#include "conv.h" /* conv_epilogue */

typedef struct winograd_dims {
    int channels, height, width; /* x: [N, C, H, W] */
    int filters;                 /* weight: [F, C, 3, 3] */
    int pad_h, pad_w;
    int out_height, out_width; /* y: [N, F, OH, OW] */
} winograd_dims;

/* Worth it (and valid): 3×3, stride 1, one group, enough channels that the
 * [F, C]·[C, tiles] products are not too shallow for OpenBLAS. */
bool winograd_applies(int kernel_h, int kernel_w, int stride_h, int stride_w, int groups,
                      int channels, int filters);

/* 2×2 output tiles per image (the products' columns per image). */
int64_t winograd_tiles(winograd_dims d);

/* Images per chunk, and the per-thread scratch floats for such a chunk. */
int winograd_chunk_images(winograd_dims d);
int64_t winograd_scratch_floats(winograd_dims d, int images);
/* Floats from one ξ's matrix (rows × columns) to the next in U, V and M:
 * padded by 64 bytes so that the 16 matrices a tile or kernel writes (or
 * reads) are not all a multiple of 4 KiB apart, which would put them in one
 * L1 cache set (measured: the transforms ran 3× slower without). */
static inline int64_t winograd_plane_stride(int64_t rows, int64_t columns) {
    return cr_round_up_floats(rows * columns) + 16;
}

/* The transformed weights U: 16 matrices [F, C]. */
static inline int64_t winograd_weight_floats(winograd_dims d) {
    return 16 * winograd_plane_stride(d.filters, d.channels);
}

/* U[ξ][f][c] = (G·g·Gᵀ)[ξ] for filters [first_filter, end_filter).
 * weight: [F, C, 3, 3] -> u: [16, F, C] */
void winograd_transform_weights(float *u, const float *weight, winograd_dims d, int first_filter,
                                int end_filter);

/* The same for backward's input gradient, a convolution of dy with the
 * kernels turned by 180° and input and output channels swapped: with d the
 * backward dimensions (channels = the forward's filters, filters = its
 * channels, padding 2 − the forward's), weight in the forward's layout
 * [d.channels, d.filters, 3, 3]. */
void winograd_transform_weights_flipped(float *u, const float *weight, winograd_dims d,
                                        int first_filter, int end_filter);

/* y = epilogue(weight ⊛ x) for images [first, first + count), from the
 * transformed weights u, written (or, with accumulate, added: epilogue NULL
 * then); scratch holds winograd_scratch_floats(d, count).
 * x: [N, C, H, W] -> y: [N, F, OH, OW] */
void winograd_forward(float *y, bool accumulate, const float *x, const float *u,
                      const conv_epilogue *epilogue, int first, int count, float *scratch,
                      winograd_dims d);

#endif
