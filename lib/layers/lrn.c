/* lrn: local response normalisation across channels (Caffe/PyTorch form):
 *   b_c = a_c / (k + alpha/size · Σ_j a_j²)^beta, j over the `size` channels
 *   centred on c (PyTorch pads size/2 before and (size-1)/2 after).
 *   x: [N, C, H, W] -> y: [N, C, H, W] */
#include <stddef.h>

#include "lrn.h"

static const cr_key lrn_keys[] = {
    {"size", CR_KEY_INT, offsetof(lrn_config, size), false, 5, 1, CR_NO_LIMIT},
    {"alpha", CR_KEY_FLOAT, offsetof(lrn_config, alpha), false, 1e-4, 0, CR_NO_LIMIT},
    {"beta", CR_KEY_FLOAT, offsetof(lrn_config, beta), false, 0.75, 0, CR_NO_LIMIT},
    {"k", CR_KEY_FLOAT, offsetof(lrn_config, k), false, 2.0, 1e-30, CR_NO_LIMIT},
};

static int lrn_infer(cr_layer *layer, const cr_shape *in, cr_warnings *warnings, cr_error *err) {
    (void)warnings;
    (void)err;
    layer->out = in[0];
    /* The denominator base (k + alpha/size · Σ a²) per element, for backward. */
    layer->saved_per_image = cr_shape_size(in[0]);
    return 0;
}

const cr_layer_kind cr_lrn_kind = {
    .name = "lrn",
    .keys = lrn_keys,
    .n_keys = sizeof lrn_keys / sizeof lrn_keys[0],
    .config_size = sizeof(lrn_config),
    .infer = lrn_infer,
};
