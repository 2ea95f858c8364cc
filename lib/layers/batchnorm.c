/* batchnorm: per-channel normalisation (PyTorch's BatchNorm2d; on a dense
 * output [units, 1, 1] it is BatchNorm1d).
 *   x: [N, C, H, W] -> y: [N, C, H, W]
 *   weight (gamma) [C], bias (beta) [C]; buffers running_mean [C], running_var [C]
 * Training normalises with the batch mean and biased variance and updates the
 * running statistics as running = (1 - momentum)·running + momentum·batch,
 * with the unbiased variance; evaluation uses the running statistics. */
#include <stddef.h>

#include "batchnorm.h"

static const cr_key batchnorm_keys[] = {
    {"eps", CR_KEY_FLOAT, offsetof(batchnorm_config, eps), false, 1e-5, 1e-30, CR_NO_LIMIT},
    {"momentum", CR_KEY_FLOAT, offsetof(batchnorm_config, momentum), false, 0.1, 0, 1},
};

static int batchnorm_infer(cr_layer *layer, const cr_shape *in, cr_warnings *warnings,
                           cr_error *err) {
    (void)warnings;
    (void)err;
    int channels[1] = {in[0].c};
    layer->out = in[0];
    cr_layer_add_param(layer, "weight", 1, channels, true, false, CR_INIT_ONES, 0, NULL);
    cr_layer_add_param(layer, "bias", 1, channels, true, false, CR_INIT_ZEROS, 0, NULL);
    cr_layer_add_param(layer, "running_mean", 1, channels, false, true, CR_INIT_ZEROS, 0, NULL);
    cr_layer_add_param(layer, "running_var", 1, channels, false, true, CR_INIT_ONES, 0, NULL);
    /* x normalised (x-hat) per element, plus batch mean and 1/std per channel. */
    layer->saved_per_image = cr_shape_size(in[0]);
    layer->saved_fixed = 2 * (int64_t)in[0].c;
    return 0;
}

const cr_layer_kind cr_batchnorm_kind = {
    .name = "batchnorm",
    .keys = batchnorm_keys,
    .n_keys = sizeof batchnorm_keys / sizeof batchnorm_keys[0],
    .config_size = sizeof(batchnorm_config),
    .infer = batchnorm_infer,
};
