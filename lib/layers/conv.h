/* conv's config, shared with the shape rules of kinds that reuse its
 * geometry (pooling) and with dense (inline-values checks). */
#ifndef CNNRUN_LAYERS_CONV_H
#define CNNRUN_LAYERS_CONV_H

#include <stdint.h>

#include "../layer.h"

typedef struct conv_config {
    int filters;
    int kernel[2]; /* height, width */
    int stride[2];
    cr_padding padding;
    int groups;
    int dilation[2];
    cr_bias bias;
    cr_activation activation;
    cr_values weights;
    bool trainable;
    /* Not keys: set by the shape rule, from cr_conv_reference_only and
     * from winograd_dw_pays (or a test's winograd_force_dw). */
    bool reference, winograd_dw;
} conv_config;

/* Resolves `same` padding, rejects padding >= the (dilated) window and
 * computes the output height and width (errors/warnings name `kernel_key`). */
int cr_conv_geometry(cr_layer *layer, const int kernel[2], const int stride[2],
                     const int dilation[2], cr_padding *padding, cr_shape in,
                     const char *kernel_key, const char *what, int *out_height, int *out_width,
                     cr_warnings *warnings, cr_error *err);

/* Everything that fixes a convolution's shapes. */
typedef struct conv_dims {
    int batch, channels, height, width; /* x: [N, C, H, W] */
    int filters, groups;                /* weight: [F, C/groups, KH, KW] */
    int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
    int out_height, out_width; /* y: [N, F, OH, OW] */
    /* Every pass by im2col + sgemm, the reference the faster paths
     * (Winograd, depthwise, pointwise) are tested against: see
     * cr_conv_reference_only. */
    bool reference;
    /* The weight gradient by Winograd (where it applies): conv_config's. */
    bool winograd_dw;
} conv_dims;

/* For tests only: convs whose shape rule runs while this is on (from
 * cr_model building, e.g. cr_model_load) take the reference path, im2col +
 * sgemm, for every pass, whatever their shape; the ones built before or
 * after keep their faster paths. Process-wide and not thread-safe: set it
 * between model builds, on one thread. */
void cr_conv_reference_only(bool on);

/* What a conv does to its output channel f after the sum (its epilogue):
 *   out = act(scale_f · (sum + bias_f) + shift_f)
 * scale/shift come from a following batchnorm fused in evaluation mode
 * (cr_step's post_*); NULL means 1 / 0, and then out = act(sum + bias_f)
 * exactly as without the fusion. */
typedef struct conv_epilogue {
    const float *bias, *scale, *shift;
    cr_activation activation;
} conv_epilogue;

static inline float epilogue_scale(const conv_epilogue *e, int f) {
    return e->scale ? e->scale[f] : 1.0f;
}
static inline float epilogue_shift(const conv_epilogue *e, int f) {
    float bias = e->bias ? e->bias[f] : 0.0f;
    return e->scale ? e->scale[f] * bias + e->shift[f] : bias;
}

/* out[j] = act(scale_f · in[j] + shift_f) for j < n: one output channel
 * f's values (out may be in). */
void cr_conv_epilogue_row(float *out, const float *in, int64_t n, int f,
                          const conv_epilogue *epilogue);

/* Unfolds one image for convolution as a matrix product:
 *   image [C, H, W] -> col [C*KH*KW, OH*OW] (row stride col_stride), padding 0 */
void cr_conv_im2col(float *col, int64_t col_stride, const float *image, conv_dims d);
/* Its adjoint: image [C, H, W] += every column entry on its pixel (col's
 * entries for padding positions may be cleared on the way). */
void cr_conv_col2im(float *image, float *col, int64_t col_stride, conv_dims d);

/* Error unless inline `values` (when given) have exactly `dims`. */
int cr_check_values(const cr_layer *layer, const char *key, const cr_values *values, int ndim,
                    const int *dims, const char *layout, cr_error *err);

#endif
