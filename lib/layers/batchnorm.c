/* batchnorm: per-channel normalisation (PyTorch's BatchNorm2d; on a dense
 * output [units, 1, 1] it is BatchNorm1d).
 *   x: [N, C, H, W] -> y: [N, C, H, W]
 *   weight (gamma) [C], bias (beta) [C]; buffers running_mean [C], running_var [C]
 * Training normalises with the batch mean and biased variance and updates the
 * running statistics as running = (1 - momentum)·running + momentum·batch,
 * with the unbiased variance; evaluation uses the running statistics. */
#include <math.h>
#include <stddef.h>

#include "batchnorm.h"

enum { GAMMA, BETA, RUNNING_MEAN, RUNNING_VAR };

static const cr_key batchnorm_keys[] = {
    {"eps", CR_KEY_FLOAT, offsetof(batchnorm_config, eps), false, 1e-5, 1e-30, CR_NO_LIMIT},
    {"momentum", CR_KEY_FLOAT, offsetof(batchnorm_config, momentum), false, 0.1, 0, 1},
};

static int batchnorm_infer(cr_layer *layer, const cr_shape *in, cr_warnings *warnings,
                           cr_error *err) {
    (void)warnings;
    (void)err;
    int channels[1] = {in[0].c};
    layer->out = in[0];
    cr_layer_add_param(layer, "weight", 1, channels, true, false, CR_INIT_ONES, 0, NULL);
    cr_layer_add_param(layer, "bias", 1, channels, true, false, CR_INIT_ZEROS, 0, NULL);
    cr_layer_add_param(layer, "running_mean", 1, channels, false, true, CR_INIT_ZEROS, 0, NULL);
    cr_layer_add_param(layer, "running_var", 1, channels, false, true, CR_INIT_ONES, 0, NULL);
    /* Batch mean and 1/std per channel. Backward recomputes x-hat from x
     * (still there: it is the previous layer's output) rather than keeping
     * an activation-sized copy: one write stream less, and less memory. */
    layer->saved_fixed = 2 * (int64_t)in[0].c;
    return 0;
}

/* Σ x over one channel's values in every image: each image's row summed in
 * float (vectorised), the rows in double. */
static double channel_sum(const float *x, int batch, int64_t image_size, int64_t spatial) {
    double sum = 0.0;
    for (int image = 0; image < batch; image++) {
        const float *row = x + image * image_size;
        float row_sum = 0.0f;
#pragma omp simd reduction(+ : row_sum)
        for (int64_t i = 0; i < spatial; i++) row_sum += row[i];
        sum += row_sum;
    }
    return sum;
}

/* Σ (x − mean)², as channel_sum: two passes, because E[x²] − E[x]² loses
 * everything when the mean is large next to the spread. */
static double channel_squares(const float *x, float mean, int batch, int64_t image_size,
                              int64_t spatial) {
    double sum = 0.0;
    for (int image = 0; image < batch; image++) {
        const float *row = x + image * image_size;
        float row_sum = 0.0f;
#pragma omp simd reduction(+ : row_sum)
        for (int64_t i = 0; i < spatial; i++) {
            float centred = row[i] - mean;
            row_sum += centred * centred;
        }
        sum += row_sum;
    }
    return sum;
}

/* x: [N, C, H, W] -> y: [N, C, H, W]
 * saved (training, when planned): mean [C], 1/std [C].
 * Channels are independent: they run in parallel. */
static void batchnorm_forward(const cr_step *step) {
    const batchnorm_config *cfg = step->layer->config;
    cr_shape shape = step->layer->out;
    int channels = shape.c;
    int64_t spatial = (int64_t)shape.h * shape.w, image_size = channels * spatial;
    int64_t count = step->batch * spatial; /* values per channel: M = N·H·W */
    const float *gamma = step->param[GAMMA], *beta = step->param[BETA];
    float *running_mean = step->param[RUNNING_MEAN], *running_var = step->param[RUNNING_VAR];
    float *saved_mean = step->saved,
          *saved_inverse_std = step->saved ? step->saved + channels : NULL;

#pragma omp parallel for num_threads(step->threads) schedule(static)
    for (int c = 0; c < channels; c++) {
        const float *x_channel = step->x[0] + c * spatial;
        float mean, inverse_std;
        if (step->training) {
            mean = (float)(channel_sum(x_channel, step->batch, image_size, spatial) / count);
            double squares = channel_squares(x_channel, mean, step->batch, image_size, spatial);
            double variance = squares / (double)count;
            inverse_std = (float)(1.0 / sqrt(variance + cfg->eps));
            float momentum = cfg->momentum;
            running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean;
            /* The unbiased variance is undefined for one value per channel
             * (PyTorch refuses to train then); keep the old estimate rather
             * than store NaN. */
            if (count > 1)
                running_var[c] = (1.0f - momentum) * running_var[c] +
                                 momentum * (float)(squares / (double)(count - 1));
            if (saved_mean) {
                saved_mean[c] = mean;
                saved_inverse_std[c] = inverse_std;
            }
        } else {
            mean = running_mean[c];
            inverse_std = (float)(1.0 / sqrt((double)running_var[c] + cfg->eps));
        }
        float scale = gamma[c], shift = beta[c];
        for (int image = 0; image < step->batch; image++) {
            int64_t offset = image * image_size + c * spatial;
            const float *x = step->x[0] + offset;
            float *y = step->y + offset;
            for (int64_t i = 0; i < spatial; i++)
                y[i] = scale * ((x[i] - mean) * inverse_std) + shift;
        }
    }
}

/* dy: [N, C, H, W] -> dx += ..., dgamma = Σ dy·x-hat, dbeta = Σ dy (per channel).
 * Training: the batch statistics depend on x, so
 *   dx = γ·invstd/M · (M·dy − Σdy − x-hat·Σ(dy·x-hat));
 * evaluation: the statistics are constants and dx = γ·invstd·dy. */
static void batchnorm_backward(const cr_step *step) {
    const batchnorm_config *cfg = step->layer->config;
    cr_shape shape = step->layer->out;
    int channels = shape.c;
    int64_t spatial = (int64_t)shape.h * shape.w, image_size = channels * spatial;
    int64_t count = step->batch * spatial;
    const float *gamma = step->param[GAMMA];
    const float *running_mean = step->param[RUNNING_MEAN];
    const float *running_var = step->param[RUNNING_VAR];
    float *dgamma = step->dparam[GAMMA], *dbeta = step->dparam[BETA];

#pragma omp parallel for num_threads(step->threads) schedule(static)
    for (int c = 0; c < channels; c++) {
        float mean, inverse_std;
        if (step->training) {
            mean = step->saved[c];
            inverse_std = step->saved[channels + c];
        } else {
            mean = running_mean[c];
            inverse_std = (float)(1.0 / sqrt((double)running_var[c] + cfg->eps));
        }
        double sum_dy = 0.0, sum_dy_x_hat = 0.0;
        for (int image = 0; image < step->batch; image++) {
            int64_t offset = image * image_size + c * spatial;
            const float *dy = step->dy + offset, *x = step->x[0] + offset;
            float row_dy = 0.0f, row_dy_x_hat = 0.0f;
#pragma omp simd reduction(+ : row_dy, row_dy_x_hat)
            for (int64_t i = 0; i < spatial; i++) {
                row_dy += dy[i];
                row_dy_x_hat += dy[i] * ((x[i] - mean) * inverse_std);
            }
            sum_dy += row_dy;
            sum_dy_x_hat += row_dy_x_hat;
        }
        if (dgamma) dgamma[c] = (float)sum_dy_x_hat;
        if (dbeta) dbeta[c] = (float)sum_dy;
        if (!step->dx[0]) continue;

        float scale = gamma[c] * inverse_std;
        float mean_dy = (float)(sum_dy / (double)count);
        float mean_dy_x_hat = (float)(sum_dy_x_hat / (double)count);
        for (int image = 0; image < step->batch; image++) {
            int64_t offset = image * image_size + c * spatial;
            const float *dy = step->dy + offset, *x = step->x[0] + offset;
            float *dx = step->dx[0] + offset;
            if (step->training && step->dx_assign)
                for (int64_t i = 0; i < spatial; i++)
                    dx[i] = scale * (dy[i] - mean_dy - (x[i] - mean) * inverse_std * mean_dy_x_hat);
            else if (step->training)
                for (int64_t i = 0; i < spatial; i++)
                    dx[i] +=
                        scale * (dy[i] - mean_dy - (x[i] - mean) * inverse_std * mean_dy_x_hat);
            else if (step->dx_assign)
                for (int64_t i = 0; i < spatial; i++) dx[i] = scale * dy[i];
            else
                for (int64_t i = 0; i < spatial; i++) dx[i] += scale * dy[i];
        }
    }
}

void cr_batchnorm_eval_affine(const cr_layer *layer, float *const *param, float *scale,
                              float *shift) {
    const batchnorm_config *cfg = layer->config;
    for (int c = 0; c < layer->out.c; c++) {
        float inverse_std = (float)(1.0 / sqrt((double)param[RUNNING_VAR][c] + cfg->eps));
        scale[c] = param[GAMMA][c] * inverse_std;
        shift[c] = param[BETA][c] - param[RUNNING_MEAN][c] * scale[c];
    }
}

const cr_layer_kind cr_batchnorm_kind = {
    .name = "batchnorm",
    .keys = batchnorm_keys,
    .n_keys = sizeof batchnorm_keys / sizeof batchnorm_keys[0],
    .config_size = sizeof(batchnorm_config),
    .infer = batchnorm_infer,
    .forward = batchnorm_forward,
    .backward = batchnorm_backward,
    .assigns_dx = true,
    .eval_affine = cr_batchnorm_eval_affine,
    .batch_counter = "num_batches_tracked",
    .aliases = (const char *const[]){"bn", NULL},
};
