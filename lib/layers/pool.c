/* The part of maxpool and avgpool that is the same: keys and shape rule.
 *   x: [N, C, H, W] -> y: [N, C, OH, OW] */
#include <stddef.h>

#include "conv.h"
#include "pool.h"

const cr_key cr_pool_keys[] = {
    {"size", CR_KEY_INT_PAIR, offsetof(pool_config, size), true, 0, 1, CR_NO_LIMIT,
     "window size: one number, or [height, width]"},
    {"stride", CR_KEY_INT_PAIR, offsetof(pool_config, stride), false, 0, 1, CR_NO_LIMIT,
     "step between windows: one number or [height, width]; default the window size"},
    {"padding", CR_KEY_INT_PAIR, offsetof(pool_config, padding), false, 0, 0, CR_NO_LIMIT,
     "padding on each side: one number, or [height, width]; smaller than the window"},
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

cr_onnx_node *cr_pool_export_onnx(const cr_layer *layer, cr_onnx_builder *b, const char *op) {
    const pool_config *cfg = layer->config;
    cr_onnx_node *node =
        cr_onnx_node_add(b, op, NULL, cr_onnx_output(b), 1, cr_onnx_input_4d(b, 0));
    cr_onnx_window_attrs(b, node, cfg->size, cfg->stride, cfg->padding);
    cr_onnx_attr_int(b, node, "ceil_mode", 0);
    return node;
}
