/* globalmaxpool: the largest value of each channel's whole plane, at any
 * input size (PyTorch's nn.AdaptiveMaxPool2d(1)); the first of equal
 * maxima wins, and a NaN wins over numbers, as in PyTorch.
 *   x: [N, C, H, W] -> y: [N, C, 1, 1]
 * Backward routes each channel's gradient to the pixel that won. */
#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../layer.h"
#include "../onnx_build.h"

/* The arg-max indices are int32 kept in the float `saved` buffer. */
static_assert(sizeof(int32_t) == sizeof(float), "arg-max indices share the float buffer");

static int globalmaxpool_infer(cr_layer *layer, const cr_shape *in, cr_warnings *warnings,
                               cr_error *err) {
    (void)warnings;
    if ((int64_t)in[0].h * in[0].w > INT32_MAX)
        return cr_fail(err, CR_ERR_INVALID, layer->mark, layer->name,
                       "a %d×%d plane is too large to index", in[0].h, in[0].w);
    layer->out = (cr_shape){in[0].c, 1, 1};
    layer->saved_per_image = in[0].c; /* the winner's index in its plane */
    layer->kinks = CR_KINKS_ARGMAX;
    return 0;
}

/* x: [N, C, H, W] -> y: [N, C]; saved: [N, C] int32, the winning pixel */
static void globalmaxpool_forward(const cr_step *step) {
    cr_shape in = step->in_shapes[0];
    int64_t planes = (int64_t)step->batch * in.c, plane_size = (int64_t)in.h * in.w;
    int32_t *winners = (int32_t *)step->saved;
#pragma omp parallel for num_threads(step->threads) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        const float *x = step->x[0] + p * plane_size;
        int64_t best = 0;
        for (int64_t i = 1; i < plane_size; i++)
            if (x[i] > x[best] || isnan(x[i])) best = i; /* PyTorch's rule */
        step->y[p] = x[best];
        if (winners) winners[p] = (int32_t)best;
    }
}

/* dy: [N, C] -> dx: [N, C, H, W] += dy at each plane's winner */
static void globalmaxpool_backward(const cr_step *step) {
    if (!step->dx[0]) return;
    cr_shape in = step->in_shapes[0];
    int64_t planes = (int64_t)step->batch * in.c, plane_size = (int64_t)in.h * in.w;
    const int32_t *winners = (const int32_t *)step->saved;
#pragma omp parallel for num_threads(step->threads) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        float *dx = step->dx[0] + p * plane_size;
        if (step->dx_assign) memset(dx, 0, (size_t)plane_size * sizeof *dx);
        dx[winners[p]] += step->dy[p];
    }
}

/* GlobalMaxPool: [N, C, H, W] -> [N, C, 1, 1]. */
static int globalmaxpool_export_onnx(const cr_layer *layer, cr_onnx_builder *b) {
    (void)layer;
    cr_onnx_node_add(b, "GlobalMaxPool", NULL, cr_onnx_output(b), 1, cr_onnx_input_4d(b, 0));
    return 0;
}

const cr_layer_kind cr_globalmaxpool_kind = {
    .export_onnx = globalmaxpool_export_onnx,
    .name = "globalmaxpool",
    .description = "maximum over each channel's whole map: C×H×W → C×1×1 at any size (AdaptiveMaxPool2d(1))",
    .infer = globalmaxpool_infer,
    .forward = globalmaxpool_forward,
    .backward = globalmaxpool_backward,
    .assigns_dx = true,
    .aliases = (const char *const[]){"adaptivemaxpool2d", "globalmaxpooling2d", NULL},
};
