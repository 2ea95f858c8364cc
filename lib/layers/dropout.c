/* dropout: inverted dropout. Training: zero each value with probability
 * `rate`, scale survivors by 1/(1 - rate); evaluation: identity.
 *   x: [N, C, H, W] -> y: [N, C, H, W] */
#include <stddef.h>
#include <string.h>

#include "../random.h"
#include "dropout.h"
#include "../onnx_build.h"

static const cr_key dropout_keys[] = {
    {"rate", CR_KEY_FLOAT, offsetof(dropout_config, rate), false, 0.5, 0, 1,
     "fraction of values zeroed while training (0 ≤ rate < 1)"},
};

static int dropout_infer(cr_layer *layer, const cr_shape *in, cr_warnings *warnings,
                         cr_error *err) {
    (void)warnings;
    dropout_config *cfg = layer->config;
    if (cfg->rate >= 1.0f)
        return cr_fail(err, CR_ERR_INVALID, cr_layer_key_mark(layer, "rate"), layer->name,
                       "'rate' is %g but must be in [0, 1): rate 1 would drop everything",
                       cfg->rate);
    layer->out = in[0];
    layer->saved_per_image = cr_shape_size(in[0]); /* the scaled keep-mask */
    return 0;
}

/* Whether this step drops anything: rate 0 and evaluation are the identity. */
static bool dropout_active(const cr_step *step) {
    const dropout_config *cfg = step->layer->config;
    return step->training && cfg->rate > 0.0f;
}

/* x: [N, C, H, W] -> y: [N, C, H, W]; saved: the mask, 0 or 1/(1 - rate) per
 * element (when planned). One uniform draw per element, in memory order, so
 * the mask depends only on the rng state and the batch size. */
static void dropout_forward(const cr_step *step) {
    int64_t n = step->batch * cr_shape_size(step->layer->out);
    const float *x = step->x[0];
    float *y = step->y;
    if (!dropout_active(step)) {
        memcpy(y, x, (size_t)n * sizeof(float));
        return;
    }
    float rate = ((const dropout_config *)step->layer->config)->rate;
    float scale = 1.0f / (1.0f - rate);
    float *mask = step->saved;
    for (int64_t i = 0; i < n; i++) {
        float keep = cr_random_uniform(step->rng_state) >= rate ? scale : 0.0f;
        if (mask) mask[i] = keep;
        y[i] = x[i] * keep;
    }
}

/* dy: [N, C, H, W] -> dx += dy · mask (dx += dy when inactive) */
static void dropout_backward(const cr_step *step) {
    if (!step->dx[0]) return;
    int64_t n = step->batch * cr_shape_size(step->layer->out);
    float *dx = step->dx[0];
    const float *dy = step->dy;
    const float *mask = step->saved;
    bool active = dropout_active(step);
    if (step->dx_assign && active)
        for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * mask[i];
    else if (step->dx_assign)
        memcpy(dx, dy, (size_t)n * sizeof *dx);
    else if (active)
        for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * mask[i];
    else
        for (int64_t i = 0; i < n; i++) dx[i] += dy[i];
}

/* Evaluation form: dropout passes its input through, so it adds no node. */
static int dropout_export_onnx(const cr_layer *layer, cr_onnx_builder *b) {
    (void)layer;
    cr_onnx_alias(b, cr_onnx_input(b, 0));
    return 0;
}

const cr_layer_kind cr_dropout_kind = {
    .export_onnx = dropout_export_onnx,
    .name = "dropout",
    .description = "inverted dropout while training, identity in evaluation",
    .keys = dropout_keys,
    .n_keys = 1,
    .config_size = sizeof(dropout_config),
    .infer = dropout_infer,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .assigns_dx = true,
};
