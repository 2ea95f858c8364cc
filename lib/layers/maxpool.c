/* maxpool: the largest value in each window; padding never wins (it is -inf).
 *   x: [N, C, H, W] -> y: [N, C, OH, OW]
 * Backward routes each output's gradient to the input position that won. */
#include "pool.h"

static int maxpool_infer(cr_layer *layer, const cr_shape *in, cr_warnings *warnings,
                         cr_error *err) {
    if (cr_pool_infer(layer, in, warnings, err)) return 1;
    layer->saved_per_image = cr_shape_size(layer->out); /* arg-max index per output */
    return 0;
}

const cr_layer_kind cr_maxpool_kind = {
    .name = "maxpool",
    .keys = cr_pool_keys,
    .n_keys = 3,
    .config_size = sizeof(pool_config),
    .infer = maxpool_infer,
};
