/* 1×1 convolution with a stride above 1 (ResNet's downsampling shortcut)
 * without the general im2col: its column matrix is just the strided
 * pixels, gathered for a chunk of images side by side into g [C, n·OH·OW],
 * and every pass is one cblas_sgemm per chunk and group:
 *   forward:  y_g  [F/G, n·OH·OW]  = weight_g [F/G, C/G] · g_g [C/G, n·OH·OW]
 *   dweight:  dw_g [F/G, C/G]     += dz_g · g_gᵀ  (depth n·OH·OW)
 *   dx:       the strided pixels of dx (+)= weight_gᵀ · dz_g, the others
 *             untouched (cleared when the runtime asks dx to be assigned).
 * The chunks are wider than the im2col path's (its column matrix holds
 * the 3×3 windows, this one only C rows): a 1×1 conv's products are
 * shallow (depth C) and OpenBLAS wants them wide. */
#ifndef CNNRUN_LAYERS_CONV_STRIDED_POINTWISE_H
#define CNNRUN_LAYERS_CONV_STRIDED_POINTWISE_H

#include <stdbool.h>
#include <stdint.h>

#include "../layer.h"
#include "conv.h"

/* 1×1, a stride above 1 on some axis, no padding (not the reference). */
bool conv_strided_pointwise_applies(conv_dims d);

/* Images per chunk at d.batch on `threads` threads (at least one chunk per
 * thread where the batch allows). */
int conv_strided_pointwise_chunk(conv_dims d, int threads);

/* Per-thread scratch floats for the largest chunk any batch uses: g, the
 * product (forward) or dz (backward), partial dweight and dbias. */
int64_t conv_strided_pointwise_scratch_floats(conv_dims d);

/* x: [N, C, H, W] -> y: [N, F, OH, OW] = epilogue(weight ⊛ x) */
void conv_strided_pointwise_forward(const cr_step *step, conv_dims d, float *y,
                                    const conv_epilogue *epilogue);

/* As conv_pointwise_backward: dx (+)=, dweight and dbias OVERWRITTEN (when
 * not NULL), partial sums added in thread order. */
void conv_strided_pointwise_backward(const cr_step *step, conv_dims d, cr_activation activation,
                                     const float *at, float *dweight, float *dbias);

#endif
