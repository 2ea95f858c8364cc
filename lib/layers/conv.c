/* conv: 2-D convolution with groups, asymmetric kernel/stride/padding, bias
 * and a fused activation.
 *   x: [N, C, H, W] -> y: [N, F, OH, OW]
 *   weight: [F, C/groups, KH, KW] (PyTorch's layout), bias: [F] */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "../layer.h"
#include "conv.h"

static const cr_key conv_keys[] = {
    {"filters", CR_KEY_INT, offsetof(conv_config, filters), true, 0, 1, CR_NO_LIMIT},
    {"kernel", CR_KEY_INT_PAIR, offsetof(conv_config, kernel), true, 0, 1, CR_NO_LIMIT},
    {"stride", CR_KEY_INT_PAIR, offsetof(conv_config, stride), false, 1, 1, CR_NO_LIMIT},
    {"padding", CR_KEY_PADDING, offsetof(conv_config, padding), false, 0, 0, CR_NO_LIMIT},
    {"groups", CR_KEY_INT, offsetof(conv_config, groups), false, 1, 1, CR_NO_LIMIT},
    {"bias", CR_KEY_BIAS, offsetof(conv_config, bias), false, 1, 0, 0},
    {"activation", CR_KEY_ACTIVATION, offsetof(conv_config, activation), false, 0, 0, 0},
    {"weights", CR_KEY_TENSOR, offsetof(conv_config, weights), false, 0, -CR_NO_LIMIT, CR_NO_LIMIT},
    {"trainable", CR_KEY_BOOL, offsetof(conv_config, trainable), false, 1, 0, 1},
};

/* Checks inline values against the shape the layer needs. */
int cr_check_values(const cr_layer *layer, const char *key, const cr_values *values, int ndim,
                    const int *dims, const char *layout, cr_error *err) {
    if (!values->present) return 0;
    int matches = values->ndim == ndim;
    for (int i = 0; matches && i < ndim; i++) matches = values->dims[i] == dims[i];
    if (matches) return 0;
    char want[64] = "", got[64] = "";
    for (int i = 0; i < ndim; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", i ? ", " : "", dims[i]);
    for (int i = 0; i < values->ndim; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%d", i ? ", " : "",
                 values->dims[i]);
    return cr_fail(err, CR_ERR_INVALID, cr_layer_key_mark(layer, key), layer->name,
                   "'%s' has shape [%s] but the layer needs [%s] (%s)", key, got, want, layout);
}

static int resolve_same_padding(const cr_layer *layer, const char *key, const int kernel[2],
                                cr_padding *padding, cr_error *err) {
    if (padding->mode != CR_PAD_SAME) return 0;
    static const char *const axes[2] = {"height", "width"};
    for (int i = 0; i < 2; i++) {
        if (kernel[i] % 2 == 0)
            return cr_fail(err, CR_ERR_INVALID, cr_layer_key_mark(layer, key), layer->name,
                           "padding 'same' needs an odd kernel, but the kernel %s is %d: "
                           "(%d − 1)/2 is not a whole number of pixels; give an explicit "
                           "padding instead, e.g. padding: %d (output %s grows by 1) or "
                           "padding: %d (shrinks by 1)",
                           axes[i], kernel[i], kernel[i], kernel[i] / 2, axes[i],
                           kernel[i] / 2 - 1);
        padding->size[i] = (kernel[i] - 1) / 2;
    }
    return 0;
}

int cr_conv_geometry(const cr_layer *layer, const int kernel[2], const int stride[2],
                     cr_padding *padding, cr_shape in, const char *kernel_key, const char *what,
                     int *out_height, int *out_width, cr_warnings *warnings, cr_error *err) {
    if (resolve_same_padding(layer, "padding", kernel, padding, err)) return 1;
    static const char *const axes[2] = {"height", "width"};
    for (int i = 0; i < 2; i++)
        if (padding->size[i] >= kernel[i])
            return cr_fail(err, CR_ERR_INVALID, cr_layer_key_mark(layer, "padding"), layer->name,
                           "padding %d ≥ %s %s %d: a window could then hold only padding; "
                           "padding must be smaller than the %s",
                           padding->size[i], what, axes[i], kernel[i], what);
    if (cr_window_out(layer, kernel_key, in, "height", in.h, kernel[0], padding->size[0], stride[0],
                      what, kernel[0], kernel[1], out_height, warnings, err))
        return 1;
    return cr_window_out(layer, kernel_key, in, "width", in.w, kernel[1], padding->size[1],
                         stride[1], what, kernel[0], kernel[1], out_width, warnings, err);
}

static int conv_infer(cr_layer *layer, const cr_shape *in, cr_warnings *warnings, cr_error *err) {
    conv_config *cfg = layer->config;
    cr_shape x = in[0];
    if (x.c % cfg->groups != 0 || cfg->filters % cfg->groups != 0)
        return cr_fail(err, CR_ERR_INVALID, cr_layer_key_mark(layer, "groups"), layer->name,
                       "groups %d must divide both the input channels (%d%s) and filters "
                       "(%d%s)",
                       cfg->groups, x.c, x.c % cfg->groups ? ", does not" : ", does", cfg->filters,
                       cfg->filters % cfg->groups ? ", does not" : ", does");
    if (cr_conv_geometry(layer, cfg->kernel, cfg->stride, &cfg->padding, x, "kernel", "kernel",
                         &layer->out.h, &layer->out.w, warnings, err))
        return 1;
    layer->out.c = cfg->filters;

    int in_per_group = x.c / cfg->groups;
    int weight_dims[4] = {cfg->filters, in_per_group, cfg->kernel[0], cfg->kernel[1]};
    if (cr_check_values(layer, "weights", &cfg->weights, 4, weight_dims,
                        "[filters, input channels / groups, kernel height, kernel width]", err))
        return 1;
    if (cr_check_values(layer, "bias", &cfg->bias.values, 1, weight_dims, "[filters]", err))
        return 1;
    int fan_in = in_per_group * cfg->kernel[0] * cfg->kernel[1];
    cr_layer_add_param(layer, "weight", 4, weight_dims, cfg->trainable, false,
                       cfg->weights.present ? CR_INIT_VALUES : CR_INIT_UNIFORM_FAN_IN, fan_in,
                       &cfg->weights);
    if (cfg->bias.enabled)
        cr_layer_add_param(layer, "bias", 1, weight_dims, cfg->trainable, false,
                           cfg->bias.values.present ? CR_INIT_VALUES : CR_INIT_UNIFORM_FAN_IN,
                           fan_in, &cfg->bias.values);
    layer->macs = (int64_t)cfg->filters * layer->out.h * layer->out.w * fan_in;
    /* One image's im2col matrix: [C*KH*KW, OH*OW]. */
    layer->workspace = (int64_t)x.c * cfg->kernel[0] * cfg->kernel[1] * layer->out.h * layer->out.w;
    return 0;
}

const cr_layer_kind cr_conv_kind = {
    .name = "conv",
    .keys = conv_keys,
    .n_keys = sizeof conv_keys / sizeof conv_keys[0],
    .config_size = sizeof(conv_config),
    .infer = conv_infer,
    .forward = NULL,
    .backward = NULL,
};
