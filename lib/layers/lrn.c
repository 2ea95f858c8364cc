/* lrn: local response normalisation across channels (Caffe/PyTorch form):
 *   b_c = a_c / s_c^beta,  s_c = k + alpha/size · Σ_j a_j²,
 *   j over the `size` channels centred on c (PyTorch pads size/2 before and
 *   (size-1)/2 after), clipped to [0, C).
 *   x: [N, C, H, W] -> y: [N, C, H, W] */
#include <math.h>
#include <omp.h>
#include <stddef.h>

#include "lrn.h"

static const cr_key lrn_keys[] = {
    {"size", CR_KEY_INT, offsetof(lrn_config, size), false, 5, 1, CR_NO_LIMIT},
    {"alpha", CR_KEY_FLOAT, offsetof(lrn_config, alpha), false, 1e-4, 0, CR_NO_LIMIT},
    {"beta", CR_KEY_FLOAT, offsetof(lrn_config, beta), false, 0.75, 0, CR_NO_LIMIT},
    {"k", CR_KEY_FLOAT, offsetof(lrn_config, k), false, 2.0, 1e-30, CR_NO_LIMIT},
};

static int lrn_infer(cr_layer *layer, const cr_shape *in, cr_warnings *warnings, cr_error *err) {
    (void)warnings;
    (void)err;
    layer->out = in[0];
    /* The denominator base s (k + alpha/size · Σ a²) per element, for backward. */
    layer->saved_per_image = cr_shape_size(in[0]);
    /* One image of dy·y/s in backward, for each thread. */
    layer->workspace_per_thread = cr_shape_size(in[0]);
    return 0;
}

/* s^-beta; AlexNet's beta 0.75 as square roots, several times faster than powf. */
static inline float power_minus_beta(float s, float beta) {
    if (beta == 0.75f) {
        float root = sqrtf(s);
        return 1.0f / (root * sqrtf(root));
    }
    return powf(s, -beta);
}

/* x: [N, C, H, W] -> y: [N, C, H, W]; saved: s, [N, C, H, W] (when planned) */
static void lrn_forward(const cr_step *step) {
    const lrn_config *cfg = step->layer->config;
    cr_shape shape = step->layer->out;
    int64_t spatial = (int64_t)shape.h * shape.w, image_size = shape.c * spatial;
    float scale = cfg->alpha / (float)cfg->size;
    int before = cfg->size / 2, after = (cfg->size - 1) / 2;
#pragma omp parallel for num_threads(step->threads) schedule(static)
    for (int image = 0; image < step->batch; image++) {
        const float *x = step->x[0] + image * image_size;
        float *y = step->y + image * image_size;
        /* Without a saved buffer (inference) s is built in y, then replaced. */
        float *base = step->saved ? step->saved + image * image_size : y;
        for (int c = 0; c < shape.c; c++) {
            int first = c - before < 0 ? 0 : c - before;
            int last = c + after >= shape.c ? shape.c - 1 : c + after;
            float *s = base + c * spatial;
            for (int64_t i = 0; i < spatial; i++) s[i] = 0.0f;
            for (int j = first; j <= last; j++) {
                const float *a = x + j * spatial;
                for (int64_t i = 0; i < spatial; i++) s[i] += a[i] * a[i];
            }
            for (int64_t i = 0; i < spatial; i++) s[i] = cfg->k + scale * s[i];
        }
        for (int64_t i = 0; i < image_size; i++) y[i] = x[i] * power_minus_beta(base[i], cfg->beta);
    }
}

/* dy: [N, C, H, W] -> dx += dy_i·s_i^-β − (2αβ/size)·a_i·Σ_{c: i in window(c)} dy_c·a_c·s_c^(-β-1)
 * where a_c·s_c^(-β-1) = y_c / s_c. Channel c's window holds i exactly when
 * i - (size-1)/2 <= c <= i + size/2. */
static void lrn_backward(const cr_step *step) {
    if (!step->dx[0]) return;
    const lrn_config *cfg = step->layer->config;
    cr_shape shape = step->layer->out;
    int64_t spatial = (int64_t)shape.h * shape.w, image_size = shape.c * spatial;
    float coefficient = 2.0f * cfg->alpha * cfg->beta / (float)cfg->size;
    int before = (cfg->size - 1) / 2, after = cfg->size / 2;
#pragma omp parallel for num_threads(step->threads) schedule(static)
    for (int image = 0; image < step->batch; image++) {
        float *ratio = cr_thread_workspace(step, omp_get_thread_num()); /* dy_c·y_c/s_c */
        const float *x = step->x[0] + image * image_size;
        const float *y = step->y + image * image_size;
        const float *s = step->saved + image * image_size;
        const float *dy = step->dy + image * image_size;
        float *dx = step->dx[0] + image * image_size;
        for (int64_t i = 0; i < image_size; i++) ratio[i] = dy[i] * y[i] / s[i];
        for (int c = 0; c < shape.c; c++) {
            int first = c - before < 0 ? 0 : c - before;
            int last = c + after >= shape.c ? shape.c - 1 : c + after;
            int64_t offset = c * spatial;
            for (int64_t i = 0; i < spatial; i++) {
                float sum = 0.0f;
                for (int j = first; j <= last; j++) sum += ratio[j * spatial + i];
                dx[offset + i] += dy[offset + i] * power_minus_beta(s[offset + i], cfg->beta) -
                                  coefficient * x[offset + i] * sum;
            }
        }
    }
}

const cr_layer_kind cr_lrn_kind = {
    .name = "lrn",
    .keys = lrn_keys,
    .n_keys = sizeof lrn_keys / sizeof lrn_keys[0],
    .config_size = sizeof(lrn_config),
    .infer = lrn_infer,
    .forward = lrn_forward,
    .backward = lrn_backward,
    .aliases = (const char *const[]){"localresponsenorm", NULL},
};
