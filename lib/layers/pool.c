/* The part of maxpool and avgpool that is the same: keys and shape rule.
 *   x: [N, C, H, W] -> y: [N, C, OH, OW] */
#include <stddef.h>

#include "conv.h"
#include "pool.h"

const cr_key cr_pool_keys[] = {
    {"size", CR_KEY_INT_PAIR, offsetof(pool_config, size), true, 0, 1, CR_NO_LIMIT},
    {"stride", CR_KEY_INT_PAIR, offsetof(pool_config, stride), false, 0, 1, CR_NO_LIMIT},
    {"padding", CR_KEY_INT_PAIR, offsetof(pool_config, padding), false, 0, 0, CR_NO_LIMIT},
};
const int cr_pool_key_count = sizeof cr_pool_keys / sizeof cr_pool_keys[0];

int cr_pool_infer(cr_layer *layer, const cr_shape *in, cr_warnings *warnings, cr_error *err) {
    pool_config *cfg = layer->config;
    for (int i = 0; i < 2; i++)
        if (cfg->stride[i] == 0) cfg->stride[i] = cfg->size[i];
    cr_padding padding = {CR_PAD_EXPLICIT, {cfg->padding[0], cfg->padding[1]}};
    static const int undilated[2] = {1, 1};
    if (cr_conv_geometry(layer, cfg->size, cfg->stride, undilated, &padding, in[0], "size", "window",
                         &layer->out.h, &layer->out.w, warnings, err))
        return 1;
    layer->out.c = in[0].c;
    return 0;
}
