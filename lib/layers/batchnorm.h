#ifndef CNNRUN_LAYERS_BATCHNORM_H
#define CNNRUN_LAYERS_BATCHNORM_H

#include "../layer.h"

typedef struct batchnorm_config {
    float eps;
    float momentum;
} batchnorm_config;

/* Evaluation mode as one affine map per channel, y = scale·x + shift, with
 * scale = γ/√(running_var + eps) and shift = β − running_mean·scale: what a
 * conv before it applies in its own output pass when the runtime fuses the
 * two (cr_net_options.fuse_inference). param: the layer's four tensors. */
void cr_batchnorm_eval_affine(const cr_layer *layer, float *const *param, float *scale,
                              float *shift);

#endif
