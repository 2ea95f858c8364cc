/* groupnorm: normalises each image's channels in `groups` groups over the
 * group's channels and pixels, then a per-channel affine map — PyTorch's
 * nn.GroupNorm(groups, C, eps, affine=True). The same in training and
 * evaluation (no running statistics), so it works at batch 1.
 *   x: [N, C, H, W] -> y: [N, C, H, W]
 *   weight (gamma) [C] (ones), bias (beta) [C] (zeros) */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "../layer.h"
#include "../onnx_build.h"

typedef struct groupnorm_config {
    int groups;
    float eps;
} groupnorm_config;

static const cr_key groupnorm_keys[] = {
    {"groups", CR_KEY_INT, offsetof(groupnorm_config, groups), true, 0, 1, CR_NO_LIMIT,
     "number of channel groups normalised together: must divide the channels"},
    {"eps", CR_KEY_FLOAT, offsetof(groupnorm_config, eps), false, 1e-5, 1e-30, CR_NO_LIMIT,
     "added to the variance before the square root"},
};

static int groupnorm_infer(cr_layer *layer, const cr_shape *in, cr_warnings *warnings,
                           cr_error *err) {
    (void)warnings;
    const groupnorm_config *cfg = layer->config;
    if (in[0].c % cfg->groups != 0)
        return cr_fail(err, CR_ERR_INVALID, cr_layer_key_mark(layer, "groups"), layer->name,
                       "groups %d must divide the input channels (%d)", cfg->groups, in[0].c);
    int channels[1] = {in[0].c};
    layer->out = in[0];
    cr_layer_add_param(layer, "weight", 1, channels, true, false, CR_INIT_ONES, 0, NULL);
    cr_layer_add_param(layer, "bias", 1, channels, true, false, CR_INIT_ZEROS, 0, NULL);
    layer->saved_per_image = 2 * (int64_t)cfg->groups; /* mean, 1/std per group */
    return 0;
}

/* x: [N, C, H, W] -> y; saved: [N, G] means then [N, G] 1/std.
 * (image, group) pairs are independent: they run in parallel. */
static void groupnorm_forward(const cr_step *step) {
    const groupnorm_config *cfg = step->layer->config;
    cr_shape shape = step->layer->out;
    int groups = cfg->groups, per_group = shape.c / groups;
    int64_t spatial = (int64_t)shape.h * shape.w, count = per_group * spatial;
    int64_t pairs = (int64_t)step->batch * groups;
    const float *gamma = step->param[0], *beta = step->param[1];
    float *means = step->saved, *inverse_stds = step->saved + pairs;
#pragma omp parallel for num_threads(step->threads) schedule(static)
    for (int64_t pair = 0; pair < pairs; pair++) {
        /* a group's values are contiguous: channels g·C/G ... of one image */
        const float *x = step->x[0] + pair * count;
        float *y = step->y + pair * count;
        double sum = 0.0;
        for (int64_t i = 0; i < count; i++) sum += x[i];
        float mean = (float)(sum / (double)count);
        double squares = 0.0; /* two passes: E[x²] − E[x]² loses a large mean */
        for (int64_t i = 0; i < count; i++) squares += (double)(x[i] - mean) * (x[i] - mean);
        float inverse_std = (float)(1.0 / sqrt(squares / (double)count + cfg->eps));
        means[pair] = mean;
        inverse_stds[pair] = inverse_std;
        int first_channel = (int)(pair % groups) * per_group;
        for (int c = 0; c < per_group; c++) {
            float scale = gamma[first_channel + c] * inverse_std, shift = beta[first_channel + c];
            for (int64_t i = c * spatial; i < (c + 1) * spatial; i++)
                y[i] = scale * (x[i] - mean) + shift;
        }
    }
}

/* dy: [N, C, H, W] -> dx += ..., dgamma_c = Σ dy·x̂, dbeta_c = Σ dy (OVERWRITTEN).
 * Per (image, group) with M values, g = dy·γ:
 *   dx = 1/std · (g − mean(g) − x̂·mean(g·x̂)) */
static void groupnorm_backward(const cr_step *step) {
    const groupnorm_config *cfg = step->layer->config;
    cr_shape shape = step->layer->out;
    int groups = cfg->groups, per_group = shape.c / groups;
    int64_t spatial = (int64_t)shape.h * shape.w, count = per_group * spatial;
    int64_t pairs = (int64_t)step->batch * groups, image = (int64_t)shape.c * spatial;
    const float *gamma = step->param[0];
    const float *means = step->saved, *inverse_stds = step->saved + pairs;
    float *dgamma = step->dparam[0], *dbeta = step->dparam[1];
    /* Parameter gradients: per channel over the batch (channels in parallel). */
#pragma omp parallel for num_threads(step->threads) schedule(static)
    for (int c = 0; c < shape.c; c++) {
        double sum_dy = 0.0, sum_dy_x_hat = 0.0;
        for (int n = 0; n < step->batch; n++) {
            int64_t pair = (int64_t)n * groups + c / per_group;
            const float *x = step->x[0] + n * image + c * spatial;
            const float *dy = step->dy + n * image + c * spatial;
            for (int64_t i = 0; i < spatial; i++) {
                sum_dy += dy[i];
                sum_dy_x_hat += (double)dy[i] * (x[i] - means[pair]) * inverse_stds[pair];
            }
        }
        if (dgamma) dgamma[c] = (float)sum_dy_x_hat;
        if (dbeta) dbeta[c] = (float)sum_dy;
    }
    if (!step->dx[0]) return;
#pragma omp parallel for num_threads(step->threads) schedule(static)
    for (int64_t pair = 0; pair < pairs; pair++) {
        const float *x = step->x[0] + pair * count, *dy = step->dy + pair * count;
        float *dx = step->dx[0] + pair * count;
        float mean = means[pair], inverse_std = inverse_stds[pair];
        int first_channel = (int)(pair % groups) * per_group;
        double sum_g = 0.0, sum_g_x_hat = 0.0;
        for (int c = 0; c < per_group; c++)
            for (int64_t i = c * spatial; i < (c + 1) * spatial; i++) {
                double g = (double)dy[i] * gamma[first_channel + c];
                sum_g += g;
                sum_g_x_hat += g * (x[i] - mean) * inverse_std;
            }
        float mean_g = (float)(sum_g / (double)count);
        float mean_g_x_hat = (float)(sum_g_x_hat / (double)count);
        for (int c = 0; c < per_group; c++) {
            float gamma_c = gamma[first_channel + c];
            for (int64_t i = c * spatial; i < (c + 1) * spatial; i++) {
                float value = inverse_std * (dy[i] * gamma_c - mean_g -
                                             (x[i] - mean) * inverse_std * mean_g_x_hat);
                dx[i] = step->dx_assign ? value : dx[i] + value;
            }
        }
    }
}

/* Opsets 13 and 17 have no GroupNormalization (18 does): Reshape to
 * [N, G, -1], InstanceNormalization (scale 1, bias 0), Reshape back, then
 * γ and β per channel, as torch.onnx.export writes it. */
static int groupnorm_export_onnx(const cr_layer *layer, cr_onnx_builder *b) {
    const groupnorm_config *cfg = layer->config;
    cr_shape s = layer->out;
    int64_t grouped_shape[3] = {0, cfg->groups, -1}, image_shape[4] = {0, s.c, s.h, s.w};
    int64_t per_channel[3] = {s.c, 1, 1}, groups[1] = {cfg->groups};
    float *ones = calloc((size_t)cfg->groups * 2, sizeof *ones);
    if (!ones) return cr_onnx_refuse(b, "out of memory");
    for (int g = 0; g < cfg->groups; g++) ones[g] = 1.0f;
    const char *scale = cr_onnx_floats(b, "ones", 1, groups, ones);
    const char *shift = cr_onnx_floats(b, "zeros", 1, groups, ones + cfg->groups);
    free(ones);
    const char *grouped = cr_onnx_value(b, "grouped"), *normal = cr_onnx_value(b, "normalized");
    const char *back = cr_onnx_value(b, "back"), *scaled = cr_onnx_value(b, "scaled");
    cr_onnx_node_add(b, "Reshape", "grouped", grouped, 2, cr_onnx_input_4d(b, 0),
                     cr_onnx_int64s(b, "grouped_shape", 3, grouped_shape));
    cr_onnx_node *norm =
        cr_onnx_node_add(b, "InstanceNormalization", "normalized", normal, 3, grouped, scale, shift);
    cr_onnx_attr_float(b, norm, "epsilon", cfg->eps);
    cr_onnx_node_add(b, "Reshape", "back", back, 2, normal,
                     cr_onnx_int64s(b, "image_shape", 4, image_shape));
    cr_onnx_node_add(b, "Mul", "scaled", scaled, 2, back,
                     cr_onnx_param_reshaped(b, 0, 3, per_channel));
    cr_onnx_node_add(b, "Add", NULL, cr_onnx_output(b), 2, scaled,
                     cr_onnx_param_reshaped(b, 1, 3, per_channel));
    return 0;
}

const cr_layer_kind cr_groupnorm_kind = {
    .export_onnx = groupnorm_export_onnx,
    .name = "groupnorm",
    .description = "normalises each group of channels over its values, then a learned scale and shift per channel (GroupNorm)",
    .keys = groupnorm_keys,
    .n_keys = sizeof groupnorm_keys / sizeof groupnorm_keys[0],
    .config_size = sizeof(groupnorm_config),
    .infer = groupnorm_infer,
    .forward = groupnorm_forward,
    .backward = groupnorm_backward,
    .assigns_dx = true,
};
