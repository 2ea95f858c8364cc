/* dropout: inverted dropout. Training: zero each value with probability
 * `rate`, scale survivors by 1/(1 - rate); evaluation: identity.
 *   x: [N, C, H, W] -> y: [N, C, H, W] */
#include <stddef.h>

#include "dropout.h"

static const cr_key dropout_keys[] = {
    {"rate", CR_KEY_FLOAT, offsetof(dropout_config, rate), false, 0.5, 0, 1},
};

static int dropout_infer(cr_layer *layer, const cr_shape *in, cr_warnings *warnings,
                         cr_error *err) {
    (void)warnings;
    dropout_config *cfg = layer->config;
    if (cfg->rate >= 1.0f)
        return cr_fail(err, CR_ERR_INVALID, cr_layer_key_mark(layer, "rate"), layer->name,
                       "'rate' is %g but must be in [0, 1): rate 1 would drop everything",
                       cfg->rate);
    layer->out = in[0];
    layer->saved_per_image = cr_shape_size(in[0]); /* the scaled keep-mask */
    return 0;
}

const cr_layer_kind cr_dropout_kind = {
    .name = "dropout",
    .keys = dropout_keys,
    .n_keys = 1,
    .config_size = sizeof(dropout_config),
    .infer = dropout_infer,
};
