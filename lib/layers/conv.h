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
} conv_dims;

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
