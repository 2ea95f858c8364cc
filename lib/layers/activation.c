/* The element-wise activations as layers of their own (conv and dense can
 * also fuse them through `activation:`): relu, leaky_relu, tanh, sigmoid,
 * relu6, silu, gelu (exact, erf), elu, hardswish, hardsigmoid — PyTorch's
 * nn.ReLU, nn.LeakyReLU, ..., nn.Hardsigmoid. They share one file because
 * they share everything but the function (lib/layers/common.c).
 *   x: [N, C, H, W] -> y: [N, C, H, W] */
#include <stddef.h>
#include <string.h>

#include "../layer.h"

/* leaky_relu's `slope` and elu's `alpha`: the function's one number. */
typedef struct activation_config {
    float param;
} activation_config;

static const cr_key leaky_relu_keys[] = {
    {"slope", CR_KEY_FLOAT, offsetof(activation_config, param), false, 0.01, 0, CR_NO_LIMIT},
};

static const cr_key elu_keys[] = {
    {"alpha", CR_KEY_FLOAT, offsetof(activation_config, param), false, 1.0, 0, CR_NO_LIMIT},
};

static cr_activation activation_of(const cr_layer *layer, float *param) {
    const char *name = layer->kind->name;
    *param = layer->config ? ((const activation_config *)layer->config)->param : 0.0f;
    for (int i = 1; i < cr_activation_count; i++)
        if (strcmp(name, cr_activation_names[i]) == 0) return (cr_activation)i;
    return CR_ACT_NONE;
}

static int activation_infer(cr_layer *layer, const cr_shape *in, cr_warnings *warnings,
                            cr_error *err) {
    (void)warnings;
    (void)err;
    layer->out = in[0];
    float param;
    cr_activation activation = activation_of(layer, &param);
    layer->kinks = cr_activation_kinks(activation);
    /* elu with α = 1 has a continuous derivative at 0: no kink to avoid. */
    if (activation == CR_ACT_ELU && param == 1.0f) layer->kinks = CR_SMOOTH;
    return 0;
}

/* x: [N, C, H, W] -> y: [N, C, H, W] */
static void activation_layer_forward(const cr_step *step) {
    float param;
    cr_activation activation = activation_of(step->layer, &param);
    int64_t n = step->batch * cr_shape_size(step->layer->out);
    cr_activation_apply(step->y, step->x[0], n, activation, param);
}

/* dy: [N, C, H, W] -> dx += dy * f'(x) */
static void activation_layer_backward(const cr_step *step) {
    if (!step->dx[0]) return;
    float param;
    cr_activation activation = activation_of(step->layer, &param);
    int64_t n = step->batch * cr_shape_size(step->layer->out);
    /* leaky_relu is decided on x, not y: with a negative slope y > 0 would
     * be wrong. The non-monotonic ones need x; the other kinds' derivatives
     * are functions of y (elu's α ≥ 0: y > 0 exactly when x > 0). */
    bool from_input =
        activation == CR_ACT_LEAKY_RELU || cr_activation_needs_input(activation);
    const float *at = from_input ? step->x[0] : step->y;
    if (step->dx_assign)
        cr_activation_backward(step->dx[0], step->dy, at, n, activation, param);
    else
        cr_activation_backward_add(step->dx[0], step->dy, at, n, activation, param);
}

/* EPILOGUE: what a fused conv epilogue may apply in the layer's place
 * (cr_layer_kind.epilogue_activation). Only relu is offered: the fused
 * evaluation path is tested against the plain one for conv → batchnorm →
 * relu chains. */
#define ACTIVATION_KIND(NAME, EPILOGUE)                                                            \
    const cr_layer_kind cr_##NAME##_kind = {                                                       \
        .name = #NAME,                                                                             \
        .infer = activation_infer,                                                                 \
        .forward = activation_layer_forward,                                                       \
        .backward = activation_layer_backward,                                                     \
        .assigns_dx = true,                                                                        \
        .epilogue_activation = EPILOGUE,                                                           \
    }

#define ACTIVATION_KIND_WITH(NAME, KEYS)                                                           \
    const cr_layer_kind cr_##NAME##_kind = {                                                       \
        .name = #NAME,                                                                             \
        .keys = KEYS,                                                                              \
        .n_keys = 1,                                                                               \
        .config_size = sizeof(activation_config),                                                  \
        .infer = activation_infer,                                                                 \
        .forward = activation_layer_forward,                                                       \
        .backward = activation_layer_backward,                                                     \
        .assigns_dx = true,                                                                        \
    }

ACTIVATION_KIND(relu, CR_ACT_RELU);
ACTIVATION_KIND(tanh, CR_ACT_NONE);
ACTIVATION_KIND(sigmoid, CR_ACT_NONE);
ACTIVATION_KIND(relu6, CR_ACT_NONE);
ACTIVATION_KIND(gelu, CR_ACT_NONE);
ACTIVATION_KIND(hardsigmoid, CR_ACT_NONE);
ACTIVATION_KIND_WITH(leaky_relu, leaky_relu_keys);
ACTIVATION_KIND_WITH(elu, elu_keys);

const cr_layer_kind cr_silu_kind = {
    .name = "silu",
    .infer = activation_infer,
    .forward = activation_layer_forward,
    .backward = activation_layer_backward,
    .assigns_dx = true,
    .aliases = (const char *const[]){"swish", NULL},
};

const cr_layer_kind cr_hardswish_kind = {
    .name = "hardswish",
    .infer = activation_infer,
    .forward = activation_layer_forward,
    .backward = activation_layer_backward,
    .assigns_dx = true,
    .aliases = (const char *const[]){"hswish", "hard_swish", NULL},
};
