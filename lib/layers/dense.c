/* dense: fully connected layer on the flattened input (C, H, W order, as
 * PyTorch's nn.Flatten + nn.Linear).
 *   x: [N, C, H, W] viewed as [N, IN] -> y: [N, UNITS, 1, 1]
 *   weight: [UNITS, IN], bias: [UNITS] */
#include <stddef.h>

#include "conv.h"
#include "dense.h"

static const cr_key dense_keys[] = {
    {"units", CR_KEY_INT, offsetof(dense_config, units), true, 0, 1, CR_NO_LIMIT},
    {"bias", CR_KEY_BIAS, offsetof(dense_config, bias), false, 1, 0, 0},
    {"activation", CR_KEY_ACTIVATION, offsetof(dense_config, activation), false, 0, 0, 0},
    {"weights", CR_KEY_TENSOR, offsetof(dense_config, weights), false, 0, -CR_NO_LIMIT,
     CR_NO_LIMIT},
    {"trainable", CR_KEY_BOOL, offsetof(dense_config, trainable), false, 1, 0, 1},
};

static int dense_infer(cr_layer *layer, const cr_shape *in, cr_warnings *warnings, cr_error *err) {
    (void)warnings;
    dense_config *cfg = layer->config;
    int64_t inputs = cr_shape_size(in[0]);
    if (inputs > 2000000000)
        return cr_fail(err, CR_ERR_INVALID, layer->mark, layer->name,
                       "input %d×%d×%d has %lld values, too many for a dense layer", in[0].c,
                       in[0].h, in[0].w, (long long)inputs);
    int dims[2] = {cfg->units, (int)inputs};
    if (cr_check_values(layer, "weights", &cfg->weights, 2, dims, "[units, inputs]", err)) return 1;
    if (cr_check_values(layer, "bias", &cfg->bias.values, 1, dims, "[units]", err)) return 1;
    cr_layer_add_param(layer, "weight", 2, dims, cfg->trainable, false,
                       cfg->weights.present ? CR_INIT_VALUES : CR_INIT_UNIFORM_FAN_IN, (int)inputs,
                       &cfg->weights);
    if (cfg->bias.enabled)
        cr_layer_add_param(layer, "bias", 1, dims, cfg->trainable, false,
                           cfg->bias.values.present ? CR_INIT_VALUES : CR_INIT_UNIFORM_FAN_IN,
                           (int)inputs, &cfg->bias.values);
    layer->out = (cr_shape){cfg->units, 1, 1};
    layer->macs = (int64_t)cfg->units * inputs;
    return 0;
}

const cr_layer_kind cr_dense_kind = {
    .name = "dense",
    .keys = dense_keys,
    .n_keys = sizeof dense_keys / sizeof dense_keys[0],
    .config_size = sizeof(dense_config),
    .infer = dense_infer,
};
