/* conv's config, shared with the shape rules of kinds that reuse its
 * geometry (pooling) and with dense (inline-values checks). */
#ifndef CNNRUN_LAYERS_CONV_H
#define CNNRUN_LAYERS_CONV_H

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
int cr_conv_geometry(const cr_layer *layer, const int kernel[2], const int stride[2],
                     const int dilation[2], cr_padding *padding, cr_shape in,
                     const char *kernel_key, const char *what, int *out_height, int *out_width,
                     cr_warnings *warnings, cr_error *err);

/* Error unless inline `values` (when given) have exactly `dims`. */
int cr_check_values(const cr_layer *layer, const char *key, const cr_values *values, int ndim,
                    const int *dims, const char *layout, cr_error *err);

#endif
