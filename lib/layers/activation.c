/* relu, leaky_relu, tanh, sigmoid as layers of their own (conv and dense can
 * also fuse them through `activation:`).
 *   x: [N, C, H, W] -> y: [N, C, H, W] */
#include <stddef.h>
#include <string.h>

#include "../layer.h"
#include "../onnx_build.h"

typedef struct leaky_relu_config {
    float slope;
} leaky_relu_config;

static const cr_key leaky_relu_keys[] = {
    {"slope", CR_KEY_FLOAT, offsetof(leaky_relu_config, slope), false, 0.01, 0, CR_NO_LIMIT,
     "slope for negative inputs"},
};

static cr_activation activation_of(const cr_layer *layer, float *slope) {
    const char *name = layer->kind->name;
    *slope = 0.0f;
    if (strcmp(name, "relu") == 0) return CR_ACT_RELU;
    if (strcmp(name, "tanh") == 0) return CR_ACT_TANH;
    if (strcmp(name, "sigmoid") == 0) return CR_ACT_SIGMOID;
    *slope = ((const leaky_relu_config *)layer->config)->slope;
    return CR_ACT_LEAKY_RELU;
}

static int activation_infer(cr_layer *layer, const cr_shape *in, cr_warnings *warnings,
                            cr_error *err) {
    (void)warnings;
    (void)err;
    layer->out = in[0];
    float slope;
    cr_activation activation = activation_of(layer, &slope);
    if (activation == CR_ACT_RELU || activation == CR_ACT_LEAKY_RELU)
        layer->kinks = CR_KINKS_AT_ZERO;
    return 0;
}

/* One node: Relu, Tanh, Sigmoid or LeakyRelu; any rank. */
static int activation_export_onnx(const cr_layer *layer, cr_onnx_builder *b) {
    float slope;
    cr_activation activation = activation_of(layer, &slope);
    cr_onnx_set_output_rank(b, cr_onnx_input_rank(b, 0));
    return cr_onnx_activation(b, activation, slope, cr_onnx_input(b, 0), cr_onnx_output(b), NULL);
}

/* x: [N, C, H, W] -> y: [N, C, H, W] */
static void activation_layer_forward(const cr_step *step) {
    float slope;
    cr_activation activation = activation_of(step->layer, &slope);
    int64_t n = step->batch * cr_shape_size(step->layer->out);
    cr_activation_apply(step->y, step->x[0], n, activation, slope);
}

/* dy: [N, C, H, W] -> dx += dy * f'(x) */
static void activation_layer_backward(const cr_step *step) {
    if (!step->dx[0]) return;
    float slope;
    cr_activation activation = activation_of(step->layer, &slope);
    int64_t n = step->batch * cr_shape_size(step->layer->out);
    /* leaky_relu is decided on x, not y: with a negative slope y > 0 would
     * be wrong; the other kinds' derivatives are functions of y. */
    const float *decides = activation == CR_ACT_LEAKY_RELU ? step->x[0] : step->y;
    if (step->dx_assign)
        cr_activation_backward(step->dx[0], step->dy, decides, n, activation, slope);
    else
        cr_activation_backward_add(step->dx[0], step->dy, decides, n, activation, slope);
}

/* EPILOGUE: what a fused conv epilogue may apply in the layer's place
 * (cr_layer_kind.epilogue_activation). Only relu is offered: the fused
 * evaluation path is tested against the plain one for conv → batchnorm →
 * relu chains. */
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

ACTIVATION_KIND(relu, CR_ACT_RELU, "max(x, 0) element-wise");
ACTIVATION_KIND(tanh, CR_ACT_NONE, "hyperbolic tangent element-wise");
ACTIVATION_KIND(sigmoid, CR_ACT_NONE, "logistic function 1/(1 + e^−x) element-wise");

const cr_layer_kind cr_leaky_relu_kind = {
    .name = "leaky_relu",
    .description = "max(x, slope·x) element-wise (PyTorch's LeakyReLU)",
    .keys = leaky_relu_keys,
    .n_keys = 1,
    .config_size = sizeof(leaky_relu_config),
    .infer = activation_infer,
    .forward = activation_layer_forward,
    .backward = activation_layer_backward,
    .assigns_dx = true,
    .export_onnx = activation_export_onnx,
};
