/* softmax over channels (PyTorch's dim=1), numerically stable.
 *   x: [N, C, H, W] -> y: [N, C, H, W], Σ_c y = 1 at every (n, h, w)
 * It must be the last layer: in training the loss takes its input (the
 * logits) and uses the fused softmax + cross-entropy gradient, so its own
 * backward only runs when something differentiates through it directly
 * (gradcheck with a non-cross-entropy loss). */
#include <math.h>

#include "../layer.h"
#include "softmax.h"

static int softmax_infer(cr_layer *layer, const cr_shape *in, cr_warnings *warnings,
                         cr_error *err) {
    (void)warnings;
    (void)err;
    layer->out = in[0];
    return 0;
}

void cr_softmax(float *y, const float *x, int n, int channels, int spatial) {
    for (int image = 0; image < n; image++) {
        const float *xi = x + (int64_t)image * channels * spatial;
        float *yi = y + (int64_t)image * channels * spatial;
        for (int s = 0; s < spatial; s++) {
            float largest = xi[s];
            for (int c = 1; c < channels; c++)
                if (xi[c * spatial + s] > largest) largest = xi[c * spatial + s];
            double sum = 0.0;
            for (int c = 0; c < channels; c++) {
                float e = expf(xi[c * spatial + s] - largest);
                yi[c * spatial + s] = e;
                sum += e;
            }
            float inverse = (float)(1.0 / sum);
            for (int c = 0; c < channels; c++) yi[c * spatial + s] *= inverse;
        }
    }
}

/* x: [N, C, H, W] -> y: [N, C, H, W] */
static void softmax_forward(const cr_step *step) {
    cr_shape s = step->layer->out;
    cr_softmax(step->y, step->x[0], step->batch, s.c, s.h * s.w);
}

/* dx += y ⊙ (dy − Σ_c y·dy) */
static void softmax_backward(const cr_step *step) {
    if (!step->dx[0]) return;
    cr_shape shape = step->layer->out;
    int spatial = shape.h * shape.w;
    for (int image = 0; image < step->batch; image++) {
        int64_t base = (int64_t)image * shape.c * spatial;
        const float *y = step->y + base, *dy = step->dy + base;
        float *dx = step->dx[0] + base;
        for (int s = 0; s < spatial; s++) {
            double dot = 0.0;
            for (int c = 0; c < shape.c; c++)
                dot += (double)y[c * spatial + s] * dy[c * spatial + s];
            for (int c = 0; c < shape.c; c++)
                dx[c * spatial + s] += y[c * spatial + s] * (dy[c * spatial + s] - (float)dot);
        }
    }
}

const cr_layer_kind cr_softmax_kind = {
    .name = "softmax",
    .infer = softmax_infer,
    .forward = softmax_forward,
    .backward = softmax_backward,
    .outputs_probabilities = true,
};
