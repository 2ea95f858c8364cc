/* dense: fully connected layer on the flattened input (C, H, W order, as
 * PyTorch's nn.Flatten + nn.Linear).
 *   x: [N, C, H, W] viewed as [N, IN] -> y: [N, UNITS, 1, 1]
 *   weight: [UNITS, IN], bias: [UNITS] */
#include <stddef.h>
#include <string.h>

#include "../parallel.h"
#include "conv.h"
#include "dense.h"
#include "../onnx_build.h"

static const cr_key dense_keys[] = {
    {"units", CR_KEY_INT, offsetof(dense_config, units), true, 0, 1, CR_NO_LIMIT,
     "number of outputs"},
    {"bias", CR_KEY_BIAS, offsetof(dense_config, bias), false, 1, 0, 0,
     "add a learned bias per unit (true), none (false), or its values inline"},
    {"activation", CR_KEY_ACTIVATION, offsetof(dense_config, activation), false, 0, 0, 0,
     "activation applied to the output: none, relu, tanh, sigmoid, leaky_relu (slope 0.01)"},
    {"weights", CR_KEY_TENSOR, offsetof(dense_config, weights), false, 0, -CR_NO_LIMIT, CR_NO_LIMIT,
     "fixed weights inline, shape [units, inputs] (inputs in C, H, W order)"},
    {"trainable", CR_KEY_BOOL, offsetof(dense_config, trainable), false, 1, 0, 1,
     "false freezes the weights and bias"},
};

static int dense_infer(cr_layer *layer, const cr_shape *in, cr_warnings *warnings, cr_error *err) {
    (void)warnings;
    dense_config *cfg = layer->config;
    int64_t inputs = cr_shape_size(in[0]);
    if (inputs > 2000000000)
        return cr_fail(err, CR_ERR_INVALID, layer->mark, layer->name,
                       "input %d×%d×%d has %lld values, too many for a dense layer", in[0].c,
                       in[0].h, in[0].w, (long long)inputs);
    int dims[2] = {cfg->units, (int)inputs};
    if (cr_check_values(layer, "weights", &cfg->weights, 2, dims, "[units, inputs]", err)) return 1;
    if (cr_check_values(layer, "bias", &cfg->bias.values, 1, dims, "[units]", err)) return 1;
    cr_layer_add_param(layer, "weight", 2, dims, cfg->trainable, false,
                       cfg->weights.present ? CR_INIT_VALUES : CR_INIT_UNIFORM_FAN_IN, (int)inputs,
                       &cfg->weights);
    if (cfg->bias.enabled)
        cr_layer_add_param(layer, "bias", 1, dims, cfg->trainable, false,
                           cfg->bias.values.present ? CR_INIT_VALUES : CR_INIT_UNIFORM_FAN_IN,
                           (int)inputs, &cfg->bias.values);
    layer->out = (cr_shape){cfg->units, 1, 1};
    layer->macs = (int64_t)cfg->units * inputs;
    layer->kinks = cr_activation_kinks(cfg->activation);
    /* The activation gradient dz = dy ⊙ f'(z), for the whole batch; z
     * itself kept for an activation whose derivative needs it. */
    if (cfg->activation != CR_ACT_NONE) layer->workspace_per_image = cfg->units;
    if (cr_activation_needs_input(cfg->activation)) layer->saved_per_image = cfg->units;
    return 0;
}

/* y = x · weightᵀ + bias, one GEMM for the whole batch.
 * x: [N, IN] -> y: [N, UNITS]; weight: [UNITS, IN]; bias: [UNITS] or NULL */
static void dense_forward(float *y, const float *x, const float *weight, const float *bias,
                          int batch, int inputs, int units) {
    if (bias)
        for (int n = 0; n < batch; n++)
            for (int u = 0; u < units; u++) y[(int64_t)n * units + u] = bias[u];
    cr_sgemm(false, true, batch, units, inputs, 1.0f, x, inputs, weight, inputs, bias ? 1.0f : 0.0f,
             y, units);
}

/* Gradients of y = x · weightᵀ + bias from dz = dL/dy:
 *   dweight = dzᵀ · x      (OVERWRITTEN; NULL: not wanted)
 *   dbias   = Σ_n dz       (OVERWRITTEN; NULL: not wanted)
 *   dx     += dz · weight  (ACCUMULATED, or OVERWRITTEN with dx_assign; NULL: not wanted)
 * dz: [N, UNITS]; x, dx: [N, IN]; weight, dweight: [UNITS, IN] */
static void dense_backward(float *dx, bool dx_assign, float *dweight, float *dbias, const float *dz,
                           const float *x, const float *weight, int batch, int inputs, int units) {
    if (dweight)
        cr_sgemm(true, false, units, inputs, batch, 1.0f, dz, units, x, inputs, 0.0f, dweight,
                 inputs);
    if (dbias)
        for (int u = 0; u < units; u++) {
            double sum = 0.0;
            for (int n = 0; n < batch; n++) sum += dz[(int64_t)n * units + u];
            dbias[u] = (float)sum;
        }
    if (dx)
        cr_sgemm(false, false, batch, inputs, units, 1.0f, dz, units, weight, inputs,
                 dx_assign ? 0.0f : 1.0f, dx, inputs);
}

/* x: [N, C, H, W] viewed as [N, IN] -> y: [N, UNITS, 1, 1] = act(x · weightᵀ + bias) */
static void dense_layer_forward(const cr_step *step) {
    const dense_config *cfg = step->layer->config;
    int inputs = (int)cr_shape_size(step->in_shapes[0]);
    int64_t n = (int64_t)step->batch * cfg->units;
    dense_forward(step->y, step->x[0], step->param[0], cfg->bias.enabled ? step->param[1] : NULL,
                  step->batch, inputs, cfg->units);
    if (cr_activation_needs_input(cfg->activation))
        memcpy(step->saved, step->y, (size_t)n * sizeof(float));
    cr_activation_forward(step->y, n, cfg->activation, cr_activation_fused_param(cfg->activation));
}

/* dy: [N, UNITS, 1, 1] -> dx += ..., dweight, dbias (see dense_backward) */
static void dense_layer_backward(const cr_step *step) {
    const dense_config *cfg = step->layer->config;
    int inputs = (int)cr_shape_size(step->in_shapes[0]);
    const float *dz = step->dy;
    if (cfg->activation != CR_ACT_NONE) {
        const float *at = cr_activation_needs_input(cfg->activation) ? step->saved : step->y;
        cr_activation_backward(step->workspace, step->dy, at, (int64_t)step->batch * cfg->units,
                               cfg->activation, cr_activation_fused_param(cfg->activation));
        dz = step->workspace;
    }
    dense_backward(step->dx[0], step->dx_assign, step->dparam[0],
                   cfg->bias.enabled ? step->dparam[1] : NULL, dz, step->x[0], step->param[0],
                   step->batch, inputs, cfg->units);
}

/* The cr_sgemm calls dense_forward and dense_backward make, one each per
 * step. Keep in step with them. */
static int dense_gemms(const cr_layer *layer, const cr_shape *in, int batch, cr_gemm *out,
                       int max) {
    const dense_config *cfg = layer->config;
    int inputs = (int)cr_shape_size(in[0]), units = cfg->units;
    cr_gemm gemms[3] = {
        {"forward", false, true, batch, units, inputs, 1, true},
        {"backward-weights", true, false, units, inputs, batch, 1, true},
        {"backward-input", false, false, batch, inputs, units, 1, true},
    };
    int written = 0;
    for (int i = 0; i < 3 && written < max; i++)
        if (i != 1 || cfg->trainable) out[written++] = gemms[i];
    return written;
}

/* Flatten (a no-op on [N, K]) + Gemm with the [units, inputs] weight
 * (transB = 1), then the fused activation as its own node. */
static int dense_export_onnx(const cr_layer *layer, cr_onnx_builder *b) {
    const dense_config *cfg = layer->config;
    bool fused = cfg->activation != CR_ACT_NONE;
    const char *flat = cr_onnx_value(b, "flatten");
    cr_onnx_node *flatten = cr_onnx_node_add(b, "Flatten", "flatten", flat, 1, cr_onnx_input(b, 0));
    cr_onnx_attr_int(b, flatten, "axis", 1);
    const char *z = fused ? cr_onnx_value(b, "gemm") : cr_onnx_output(b);
    const char *weight = cr_onnx_param(b, 0);
    cr_onnx_node *gemm = cfg->bias.enabled ? cr_onnx_node_add(b, "Gemm", NULL, z, 3, flat, weight,
                                                              cr_onnx_param(b, 1))
                                           : cr_onnx_node_add(b, "Gemm", NULL, z, 2, flat, weight);
    cr_onnx_attr_int(b, gemm, "transB", 1);
    cr_onnx_set_output_rank(b, 2);
    if (!fused) return 0;
    return cr_onnx_activation(b, cfg->activation, cr_activation_fused_param(cfg->activation), z, cr_onnx_output(b),
                              cr_activation_name(cfg->activation));
}

const cr_layer_kind cr_dense_kind = {
    .export_onnx = dense_export_onnx,
    .name = "dense",
    .description =
        "fully connected layer on the flattened input (PyTorch's Linear): -> [units, 1, 1]",
    .keys = dense_keys,
    .n_keys = sizeof dense_keys / sizeof dense_keys[0],
    .config_size = sizeof(dense_config),
    .infer = dense_infer,
    .forward = dense_layer_forward,
    .backward = dense_layer_backward,
    .assigns_dx = true,
    .gemms = dense_gemms,
    .fixes_input_size = true, /* the weight is [units, C·H·W of the input] */
    .aliases =
        (const char *const[]){"linear", "innerproduct", "connected", "fc", "fully_connected", NULL},
};
