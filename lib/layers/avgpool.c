/* avgpool: the mean of each window, padding counted as zeros in the divisor
 * (PyTorch's default count_include_pad=True).
 *   x: [N, C, H, W] -> y: [N, C, OH, OW] */
#include "pool.h"

const cr_layer_kind cr_avgpool_kind = {
    .name = "avgpool",
    .keys = cr_pool_keys,
    .n_keys = 3,
    .config_size = sizeof(pool_config),
    .infer = cr_pool_infer,
};
