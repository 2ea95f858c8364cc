/* The element-wise activations as layers of their own (conv and dense can
 * also fuse them through `activation:`): relu, leaky_relu, tanh, sigmoid,
 * relu6, silu, gelu (exact, erf), elu, hardswish, hardsigmoid — PyTorch's
 * nn.ReLU, nn.LeakyReLU, ..., nn.Hardsigmoid. They share one file because
 * they share everything but the function (lib/layers/common.c).
 *   x: [N, C, H, W] -> y: [N, C, H, W] */
#include <stddef.h>
#include <string.h>

#include "../layer.h"
#include "../onnx_build.h"

/* leaky_relu's `slope` and elu's `alpha`: the function's one number. */
typedef struct activation_config {
    float param;
} activation_config;

static const cr_key leaky_relu_keys[] = {
    {"slope", CR_KEY_FLOAT, offsetof(activation_config, param), false, 0.01, 0, CR_NO_LIMIT,
     "slope for negative inputs"},
};

static const cr_key elu_keys[] = {
    {"alpha", CR_KEY_FLOAT, offsetof(activation_config, param), false, 1.0, 0, CR_NO_LIMIT,
     "scale of the negative part"},
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

/* The activation's standard operators (cr_onnx_activation); any rank. */
static int activation_export_onnx(const cr_layer *layer, cr_onnx_builder *b) {
    float slope;
    cr_activation activation = activation_of(layer, &slope);
    cr_onnx_set_output_rank(b, cr_onnx_input_rank(b, 0));
    return cr_onnx_activation(b, activation, slope, cr_onnx_input(b, 0), cr_onnx_output(b), NULL);
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
    bool from_input = activation == CR_ACT_LEAKY_RELU || cr_activation_needs_input(activation);
    const float *at = from_input ? step->x[0] : step->y;
    if (step->dx_assign)
        cr_activation_backward(step->dx[0], step->dy, at, n, activation, param);
    else
        cr_activation_backward_add(step->dx[0], step->dy, at, n, activation, param);
}

/* EPILOGUE: what a fused conv epilogue may apply in the layer's place
 * (cr_layer_kind.epilogue_activation). relu and relu6 (MobileNet-v2's
 * conv → batchnorm → relu6) are offered: the fused evaluation path is
 * tested against the plain one for such chains (tests/test_threads.c on
 * every model, tests/test_conv.c on each conv path). */
#define ACTIVATION_KIND(NAME, EPILOGUE, DESCRIPTION)                                               \
    const cr_layer_kind cr_##NAME##_kind = {                                                       \
        .name = #NAME,                                                                             \
        .description = DESCRIPTION,                                                                \
        .infer = activation_infer,                                                                 \
        .forward = activation_layer_forward,                                                       \
        .backward = activation_layer_backward,                                                     \
        .assigns_dx = true,                                                                        \
        .epilogue_activation = EPILOGUE,                                                           \
        .export_onnx = activation_export_onnx,                                                     \
    }

#define ACTIVATION_KIND_WITH(NAME, KEYS, DESCRIPTION)                                              \
    const cr_layer_kind cr_##NAME##_kind = {                                                       \
        .name = #NAME,                                                                             \
        .description = DESCRIPTION,                                                                \
        .keys = KEYS,                                                                              \
        .n_keys = 1,                                                                               \
        .config_size = sizeof(activation_config),                                                  \
        .infer = activation_infer,                                                                 \
        .forward = activation_layer_forward,                                                       \
        .backward = activation_layer_backward,                                                     \
        .assigns_dx = true,                                                                        \
        .export_onnx = activation_export_onnx,                                                     \
    }

ACTIVATION_KIND(relu, CR_ACT_RELU, "max(x, 0) element-wise");
ACTIVATION_KIND(tanh, CR_ACT_NONE, "hyperbolic tangent element-wise");
/* sigmoid declares itself (outputs_sigmoid) so that binary cross-entropy
 * can fuse with it as the network's output. */
const cr_layer_kind cr_sigmoid_kind = {
    .name = "sigmoid",
    .description = "logistic function 1/(1 + e^−x) element-wise",
    .infer = activation_infer,
    .forward = activation_layer_forward,
    .backward = activation_layer_backward,
    .assigns_dx = true,
    .export_onnx = activation_export_onnx,
    .outputs_sigmoid = true,
};
ACTIVATION_KIND(relu6, CR_ACT_RELU6, "min(max(x, 0), 6) element-wise (PyTorch's ReLU6)");
ACTIVATION_KIND(gelu, CR_ACT_NONE, "x·Φ(x), the exact (erf) GELU, element-wise");
ACTIVATION_KIND(hardsigmoid, CR_ACT_NONE, "relu6(x + 3)/6 element-wise (PyTorch's Hardsigmoid)");
ACTIVATION_KIND_WITH(leaky_relu, leaky_relu_keys,
                     "max(x, slope·x) element-wise (PyTorch's LeakyReLU)");
ACTIVATION_KIND_WITH(elu, elu_keys, "x for x > 0, alpha·(eˣ − 1) below (PyTorch's ELU)");

const cr_layer_kind cr_silu_kind = {
    .name = "silu",
    .description = "x·σ(x) element-wise (PyTorch's SiLU, also called swish)",
    .infer = activation_infer,
    .forward = activation_layer_forward,
    .backward = activation_layer_backward,
    .assigns_dx = true,
    .export_onnx = activation_export_onnx,
    .aliases = (const char *const[]){"swish", NULL},
};

const cr_layer_kind cr_hardswish_kind = {
    .name = "hardswish",
    .description = "x·relu6(x + 3)/6 element-wise (PyTorch's Hardswish)",
    .infer = activation_infer,
    .forward = activation_layer_forward,
    .backward = activation_layer_backward,
    .assigns_dx = true,
    .export_onnx = activation_export_onnx,
    .aliases = (const char *const[]){"hswish", "hard_swish", NULL},
};
