/* 1×1 convolution with stride 1 and no padding without im2col: an image
 * [C, H, W] already is the column matrix [C, H·W] such a conv multiplies,
 * so every pass is one cblas_sgemm per image and group, reading x and dy
 * and writing y and dx where they are (ld = H·W):
 *   forward:  y_g  [F/G, HW]    = weight_g [F/G, C/G] · x_g [C/G, HW]
 *   dweight:  dw_g [F/G, C/G]  += dz_g [F/G, HW] · x_gᵀ
 *   dx:       dx_g [C/G, HW] (+)= weight_gᵀ · dz_g
 * When the batch has fewer images than threads, each image's columns are
 * shared among them (batch-1 inference uses both cores). */
#ifndef CNNRUN_LAYERS_CONV_POINTWISE_H
#define CNNRUN_LAYERS_CONV_POINTWISE_H

#include <stdbool.h>
#include <stdint.h>

#include "../layer.h"
#include "conv.h"

/* 1×1, stride 1, padding 0 (not the reference). */
bool conv_pointwise_applies(conv_dims d);

/* Per-thread scratch floats: dz (only with a fused activation), the
 * thread's partial dweight and dbias. */
int64_t conv_pointwise_scratch_floats(conv_dims d, cr_activation activation);

/* x: [N, C, H, W] -> y: [N, F, H, W] = epilogue(weight · x) */
void conv_pointwise_forward(const cr_step *step, conv_dims d, float *y,
                            const conv_epilogue *epilogue);

/* As conv_depthwise_backward: dx (+)=, dweight and dbias OVERWRITTEN (when
 * not NULL), partial sums added in thread order. */
void conv_pointwise_backward(const cr_step *step, conv_dims d, cr_activation activation,
                             const float *at, float *dweight, float *dbias);

/* The products those make at d.batch on `threads` threads (bench's list,
 * lib/layer.h's cr_gemm); writes at most `max`, returns how many. */
int conv_pointwise_gemms(conv_dims d, bool trainable, int threads, cr_gemm *out, int max);

#endif
