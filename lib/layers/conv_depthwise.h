/* Direct depthwise convolution: groups = channels, each input channel
 * convolved with its own k = filters/channels kernels (MobileNet's 3×3
 * blocks have k = 1), at any kernel size, stride, padding and dilation.
 * im2col + sgemm would make that C products of one row each; here each
 * output plane is summed tap by tap straight from the input channel.
 *
 * The channel is first copied into a zero-bordered plane split into
 * stride_w column phases (phase r holds the padded columns ≡ r mod
 * stride_w), so that for every stride a tap reads consecutive floats:
 *   y[oh][ow] = Σ_taps w[kh][kw] · P[oh·sh + kh·dh][ow·sw + kw·dw]
 * where P[row][ow·sw + kw·dw] is phase (kw·dw mod sw), index ow + kw·dw/sw.
 * The loops over output columns use AVX2 when the processor has it
 * (lib/cpu.h), portable C otherwise; both multiply and add in the same
 * order and give the same bits. Results match the reference path up to
 * float rounding (tests/test_conv.c). */
#ifndef CNNRUN_LAYERS_CONV_DEPTHWISE_H
#define CNNRUN_LAYERS_CONV_DEPTHWISE_H

#include <stdbool.h>
#include <stdint.h>

#include "../layer.h"
#include "conv.h"

/* groups = channels and filters a multiple of them (not the reference). */
bool conv_depthwise_applies(conv_dims d);

/* Per-thread scratch floats (the padded planes, the activation's dz, the
 * thread's partial dweight and dbias). */
int64_t conv_depthwise_scratch_floats(conv_dims d);

/* x: [N, C, H, W] -> y: [N, F, OH, OW] = epilogue(weight ⊛ x)
 * weight: [F, 1, KH, KW]. Opens the parallel region over (image, channel). */
void conv_depthwise_forward(const cr_step *step, conv_dims d, float *y,
                            const conv_epilogue *epilogue);

/* From dy: [N, F, OH, OW] and `at` (y, or the kept z for an activation
 * that needs it): dx += or, with step->dx_assign, = (when step->dx[0]),
 * dweight and dbias OVERWRITTEN (each when not NULL), the threads' partial
 * sums added in thread order (deterministic for a given thread count). */
void conv_depthwise_backward(const cr_step *step, conv_dims d, cr_activation activation,
                             const float *at, float *dweight, float *dbias);

#endif
