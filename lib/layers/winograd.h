/* Winograd's minimal filtering F(2×2, 3×3) and F(4×4, 3×3) for the forward
 * pass of 3×3, stride-1, ungrouped convolutions (VGG's): 2×2 outputs from a
 * 4×4 input tile with 16 multiplications per channel instead of 36, as 16
 * matrix products [F, C]·[C, tiles], or 4×4 outputs from a 6×6 tile with 36
 * instead of 144 (Lavin & Gray, "Fast Algorithms for Convolutional Neural
 * Networks", 2016). Used for the forward pass, for
 * backward's input gradient (itself such a convolution) and, F(2×2) only,
 * for the weight gradient where that pays (lib/layers/winograd_dw.c). Results differ from im2col's
 * only by float rounding (tests/test_conv.c against a direct convolution in double). */
#ifndef CNNRUN_LAYERS_WINOGRAD_H
#define CNNRUN_LAYERS_WINOGRAD_H

#include <stdbool.h>
#include <stdint.h>

#include "../layer.h"
#include "conv.h" /* conv_epilogue */

typedef struct winograd_dims {
    int tile;                    /* output tile: 2 (F(2×2, 3×3)) or 4 (F(4×4, 3×3)) */
    int channels, height, width; /* x: [N, C, H, W] */
    int filters;                 /* weight: [F, C, 3, 3] */
    int pad_h, pad_w;
    int out_height, out_width; /* y: [N, F, OH, OW] */
} winograd_dims;

/* Worth it (and valid): 3×3, stride 1, one group, enough channels that the
 * [F, C]·[C, tiles] products are not too shallow for OpenBLAS. */
bool winograd_applies(int kernel_h, int kernel_w, int stride_h, int stride_w, int groups,
                      int channels, int filters);

/* The output tile for a conv of these dimensions (d.tile unset): F(4×4,
 * 3×3) does 36 products of a quarter of the columns (2.25 multiplications
 * per output against F(2×2)'s 4 and the direct 9), which pays where its
 * products keep enough columns; small maps keep F(2×2). Training always
 * gets F(2×2): F(4×4)'s rounding error is about ten times as large (its
 * transforms multiply by up to 8 and divide by 24). */
int winograd_pick_tile(winograd_dims d, bool training);
/* Tests only: 2 or 4 forces that tile (training too) for convs set up
 * afterwards; 0 goes back to winograd_pick_tile's choice. */
void winograd_force_tile(int tile);

/* The tile's positions ξ: the number of matrix products (16 or 36). */
static inline int winograd_positions(winograd_dims d) {
    return (d.tile + 2) * (d.tile + 2);
}

/* Output tiles per image (the products' columns per image). */
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

/* The transformed weights U: 16 (or 36) matrices [F, C]. */
static inline int64_t winograd_weight_floats(winograd_dims d) {
    return winograd_positions(d) * winograd_plane_stride(d.filters, d.channels);
}

/* U[ξ][f][c] = (G·g·Gᵀ)[ξ] for filters [first_filter, end_filter).
 * weight: [F, C, 3, 3] -> u: [16 or 36, F, C] */
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

/* Where a chunk's input lies: image i's channel c (an [H, W] plane) starts
 * at base + i·image_stride + c·channel_stride. NCHW: image_stride = C·H·W,
 * channel_stride = H·W; backward's dz gathered per chunk as [F, images,
 * OH·OW]: image_stride = OH·OW, channel_stride = images·OH·OW. */
typedef struct winograd_input {
    const float *base;
    int64_t image_stride, channel_stride;
} winograd_input;

/* winograd_forward for `count` images read from x (any layout above),
 * written from y on: y: [count, F, OH, OW]. */
void winograd_forward_from(float *y, bool accumulate, winograd_input x, const float *u,
                           const conv_epilogue *epilogue, int count, float *scratch,
                           winograd_dims d);

/* V[ξ][c][column] = (Bᵀ·d·B)[ξ] for every tile of one image's channel
 * (an [H, W] plane), `column` counting tiles from first_column; V has
 * `columns` columns per row and rows winograd_plane_stride(C, columns)
 * apart per ξ. Reads outside the image are 0. */
void winograd_transform_input(float *v, int64_t columns, int64_t first_column, const float *channel,
                              winograd_dims d);

/* out [rows, columns] = the window of an [height, width] plane from (top,
 * left) on, zeros where it lies outside (the vector transforms' edges). */
void winograd_window(float *out, int rows, int columns, const float *plane, int height, int width,
                     int top, int left);

/* ---- the weight gradient, F(2×2, 3×3) (lib/layers/winograd_dw.c) ----------
 * The forward per tile is Y[k] = Aᵀ [Σ_c U[k][c] ⊙ V[c]] A with U = G g Gᵀ,
 * V = Bᵀ d B; so with dY the 2×2 tile of the output gradient dz:
 *   dM[k]  = A · dY[k] · Aᵀ                          (4×4 from 2×2)
 *   dU[ξ]  [F, C] += dM[ξ] [F, tiles] · V[ξ]ᵀ [tiles, C]   (16 products)
 *   dW[k][c] = Gᵀ · dU[k][c] · G                     (3×3 from 4×4)
 * d: the forward dimensions with d.tile = 2. */

/* dU += the products of images [0, count) of dz ([F, OH, OW] planes laid
 * out as winograd_input says) and images [first, first + count) of x
 * ([N, C, H, W]); scratch holds winograd_scratch_floats(d, count).
 * du: [16, F, C], planes winograd_plane_stride(F, C) apart (as U). */
void winograd_weight_gradient(float *du, const float *x, winograd_input dz, int first, int count,
                              float *scratch, winograd_dims d);

/* Images per backward chunk with the Winograd weight gradient (its
 * scratch: winograd_scratch_floats(d, that)). */
int winograd_dw_chunk_images(winograd_dims d);

/* Whether the weight gradient of a conv with these forward dimensions
 * (d.tile = 2) takes Winograd: where it was measured faster than im2col +
 * GEMM (winograd_dw.c). */
bool winograd_dw_pays(winograd_dims d);
/* Tests and measurements only: 1 takes Winograd wherever it applies, −1
 * never, 0 goes back to winograd_dw_pays's choice; read by the conv shape
 * rule (cr_model building), as cr_conv_reference_only. */
void winograd_force_dw(int mode);

/* dweight = Gᵀ·dU·G (OVERWRITTEN). du: [16, F, C] -> dweight: [F, C, 3, 3] */
void winograd_weight_gradient_finish(float *dweight, const float *du, winograd_dims d);

/* F(4×4, 3×3)'s halves of the above (lib/layers/winograd4.c); callers use
 * the functions above, which choose by d.tile. */
void winograd4_store_kernel(float *out, int64_t plane, const float g[9]);
void winograd4_transform_input(float *v, int64_t columns, int64_t first_column,
                               const float *channel, winograd_dims d);
void winograd4_transform_output(float *y_channel, const float *m, int64_t columns,
                                int64_t first_column, float scale, float bias, bool accumulate,
                                winograd_dims d);

#endif
