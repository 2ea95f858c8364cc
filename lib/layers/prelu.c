/* prelu: relu with a learned slope for negative inputs, one per channel
 * (PyTorch's nn.PReLU(C), initialised to 0.25).
 *   x: [N, C, H, W] -> y: [N, C, H, W] = x > 0 ? x : weight_c · x
 *   weight: [C] */
#include <stddef.h>

#include "../layer.h"
#include "../onnx_build.h"

#define PRELU_INITIAL_SLOPE 0.25f /* PyTorch's default */

static int prelu_infer(cr_layer *layer, const cr_shape *in, cr_warnings *warnings,
                       cr_error *err) {
    (void)warnings;
    (void)err;
    int channels[1] = {in[0].c};
    layer->out = in[0];
    cr_layer_add_param(layer, "weight", 1, channels, true, false, CR_INIT_CONSTANT, 0, NULL);
    layer->params[layer->n_params - 1].constant = PRELU_INITIAL_SLOPE;
    layer->kinks = CR_KINKS_AT_ZERO;
    return 0;
}

/* x: [N, C, H, W] -> y: [N, C, H, W] */
static void prelu_forward(const cr_step *step) {
    cr_shape shape = step->layer->out;
    int64_t spatial = (int64_t)shape.h * shape.w, planes = (int64_t)step->batch * shape.c;
    const float *weight = step->param[0];
#pragma omp parallel for num_threads(step->threads) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        const float *x = step->x[0] + p * spatial;
        float *y = step->y + p * spatial, slope = weight[p % shape.c];
        for (int64_t i = 0; i < spatial; i++) y[i] = x[i] > 0.0f ? x[i] : slope * x[i];
    }
}

/* dy: [N, C, H, W] -> dx += x > 0 ? dy : weight_c · dy;
 * dweight_c = Σ over x ≤ 0 of x · dy (OVERWRITTEN). PyTorch's rule at x = 0:
 * the input gets weight_c · dy, the slope nothing (x · dy = 0).
 * Channels are independent: they run in parallel. */
static void prelu_backward(const cr_step *step) {
    cr_shape shape = step->layer->out;
    int64_t spatial = (int64_t)shape.h * shape.w, image = shape.c * spatial;
    const float *weight = step->param[0];
    float *dweight = step->dparam[0], *dx_all = step->dx[0];
#pragma omp parallel for num_threads(step->threads) schedule(static)
    for (int c = 0; c < shape.c; c++) {
        double sum = 0.0;
        float slope = weight[c];
        for (int n = 0; n < step->batch; n++) {
            int64_t offset = n * image + c * spatial;
            const float *x = step->x[0] + offset, *dy = step->dy + offset;
            float partial = 0.0f;
            for (int64_t i = 0; i < spatial; i++)
                if (!(x[i] > 0.0f)) partial += x[i] * dy[i];
            sum += partial;
            if (!dx_all) continue;
            float *dx = dx_all + offset;
            if (step->dx_assign)
                for (int64_t i = 0; i < spatial; i++) dx[i] = x[i] > 0.0f ? dy[i] : slope * dy[i];
            else
                for (int64_t i = 0; i < spatial; i++) dx[i] += x[i] > 0.0f ? dy[i] : slope * dy[i];
        }
        if (dweight) dweight[c] = (float)sum;
    }
}

/* PRelu with the [C] slope as [C, 1, 1], which broadcasts over [N, C, H, W]
 * (as [C] over [N, C]). */
static int prelu_export_onnx(const cr_layer *layer, cr_onnx_builder *b) {
    int64_t dims[3] = {layer->out.c, 1, 1};
    int rank = cr_onnx_input_rank(b, 0);
    cr_onnx_node_add(b, "PRelu", NULL, cr_onnx_output(b), 2, cr_onnx_input(b, 0),
                     cr_onnx_param_reshaped(b, 0, rank == 2 ? 1 : 3, dims));
    cr_onnx_set_output_rank(b, rank);
    return 0;
}

const cr_layer_kind cr_prelu_kind = {
    .export_onnx = prelu_export_onnx,
    .name = "prelu",
    .description = "max(x, 0) + a·min(x, 0) with one learned slope a per channel (PyTorch's PReLU(C))",
    .infer = prelu_infer,
    .forward = prelu_forward,
    .backward = prelu_backward,
    .assigns_dx = true,
};
