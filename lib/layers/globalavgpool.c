/* globalavgpool: the mean of each channel's whole plane, at any input size
 * (PyTorch's nn.AdaptiveAvgPool2d(1)). A dense layer after it sees C values
 * whatever the image size, so a classifier keeps its class count when
 * `check --input`/`bench --input` re-infer it at another size.
 *   x: [N, C, H, W] -> y: [N, C, 1, 1] */
#include <string.h>

#include "../layer.h"
#include "../onnx_build.h"

static int globalavgpool_infer(cr_layer *layer, const cr_shape *in, cr_warnings *warnings,
                               cr_error *err) {
    (void)warnings;
    (void)err;
    layer->out = (cr_shape){in[0].c, 1, 1};
    return 0;
}

/* x: [N, C, H, W] -> y: [N, C] = Σ_plane x / (H·W). Summed in double: a
 * 224×224 plane is 50,176 values. */
static void globalavgpool_forward(const cr_step *step) {
    cr_shape in = step->in_shapes[0];
    int64_t planes = (int64_t)step->batch * in.c, plane_size = (int64_t)in.h * in.w;
#pragma omp parallel for num_threads(step->threads) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        const float *x = step->x[0] + p * plane_size;
        double sum = 0.0;
        for (int64_t i = 0; i < plane_size; i++) sum += x[i];
        step->y[p] = (float)(sum / (double)plane_size);
    }
}

/* dy: [N, C] -> dx: [N, C, H, W] += dy / (H·W) on every pixel of the plane */
static void globalavgpool_backward(const cr_step *step) {
    if (!step->dx[0]) return;
    cr_shape in = step->in_shapes[0];
    int64_t planes = (int64_t)step->batch * in.c, plane_size = (int64_t)in.h * in.w;
#pragma omp parallel for num_threads(step->threads) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        float *dx = step->dx[0] + p * plane_size;
        float share = step->dy[p] / (float)plane_size;
        if (step->dx_assign)
            for (int64_t i = 0; i < plane_size; i++) dx[i] = share;
        else
            for (int64_t i = 0; i < plane_size; i++) dx[i] += share;
    }
}

/* GlobalAveragePool: [N, C, H, W] -> [N, C, 1, 1]. */
static int globalavgpool_export_onnx(const cr_layer *layer, cr_onnx_builder *b) {
    (void)layer;
    cr_onnx_node_add(b, "GlobalAveragePool", NULL, cr_onnx_output(b), 1, cr_onnx_input_4d(b, 0));
    return 0;
}

const cr_layer_kind cr_globalavgpool_kind = {
    .export_onnx = globalavgpool_export_onnx,
    .name = "globalavgpool",
    .description = "mean over each channel's whole map: C×H×W → C×1×1 at any size (AdaptiveAvgPool2d(1))",
    .infer = globalavgpool_infer,
    .forward = globalavgpool_forward,
    .backward = globalavgpool_backward,
    .assigns_dx = true,
    .aliases = (const char *const[]){"adaptiveavgpool2d", "globalaveragepooling2d", "gap", NULL},
};
