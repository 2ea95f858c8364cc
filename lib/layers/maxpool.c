/* maxpool: the largest value in each window; padding never wins (it is -inf).
 *   x: [N, C, H, W] -> y: [N, C, OH, OW]
 * Backward routes each output's gradient to the input position that won. */
#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "pool.h"

/* The arg-max indices are int32 stored in the float `saved` buffer, which
 * holds nothing else. */
static_assert(sizeof(int32_t) == sizeof(float), "arg-max indices share the float buffer");

static int maxpool_infer(cr_layer *layer, const cr_shape *in, cr_warnings *warnings,
                         cr_error *err) {
    if (cr_pool_infer(layer, in, warnings, err)) return 1;
    layer->saved_per_image = cr_shape_size(layer->out); /* arg-max index per output */
    layer->kinks = CR_KINKS_ARGMAX;
    return 0;
}

/* x: [N, C, H, W] -> y: [N, C, OH, OW]; saved: [N, C, OH, OW] int32, the
 * winner's index within its H×W plane (not kept when saved is NULL: no
 * backward planned). */
static void maxpool_forward(const cr_step *step) {
    const pool_config *cfg = step->layer->config;
    cr_shape in = step->in_shapes[0], out = step->layer->out;
    int64_t planes = (int64_t)step->batch * in.c;
    int64_t in_plane = (int64_t)in.h * in.w, out_plane = (int64_t)out.h * out.w;
    int32_t *winners = (int32_t *)step->saved;
#pragma omp parallel for num_threads(step->threads) schedule(static)
    for (int64_t plane = 0; plane < planes; plane++) {
        const float *x = step->x[0] + plane * in_plane;
        float *y = step->y + plane * out_plane;
        int32_t *winner = winners ? winners + plane * out_plane : NULL;
        for (int out_row = 0; out_row < out.h; out_row++) {
            int row_start, row_end;
            cr_pool_window(out_row, cfg->size[0], cfg->stride[0], cfg->padding[0], in.h, &row_start,
                           &row_end);
            for (int out_col = 0; out_col < out.w; out_col++) {
                int col_start, col_end;
                cr_pool_window(out_col, cfg->size[1], cfg->stride[1], cfg->padding[1], in.w,
                               &col_start, &col_end);
                /* Padding < window guarantees at least one real pixel. As in
                 * PyTorch: the first maximum wins ties, and NaN propagates. */
                int best_index = row_start * in.w + col_start;
                float best = -INFINITY;
                for (int row = row_start; row < row_end; row++)
                    for (int col = col_start; col < col_end; col++) {
                        float value = x[row * in.w + col];
                        if (value > best || isnan(value)) {
                            best = value;
                            best_index = row * in.w + col;
                        }
                    }
                y[out_row * out.w + out_col] = x[best_index];
                if (winner) winner[out_row * out.w + out_col] = best_index;
            }
        }
    }
}

/* dy: [N, C, OH, OW] -> dx: [N, C, H, W] += dy at each window's winner */
static void maxpool_backward(const cr_step *step) {
    if (!step->dx[0]) return;
    cr_shape in = step->in_shapes[0], out = step->layer->out;
    int64_t planes = (int64_t)step->batch * in.c;
    int64_t in_plane = (int64_t)in.h * in.w, out_plane = (int64_t)out.h * out.w;
    const int32_t *winners = (const int32_t *)step->saved;
#pragma omp parallel for num_threads(step->threads) schedule(static)
    for (int64_t plane = 0; plane < planes; plane++) {
        float *dx = step->dx[0] + plane * in_plane;
        const float *dy = step->dy + plane * out_plane;
        const int32_t *winner = winners + plane * out_plane;
        if (step->dx_assign) memset(dx, 0, (size_t)in_plane * sizeof *dx);
        for (int64_t i = 0; i < out_plane; i++) dx[winner[i]] += dy[i];
    }
}

const cr_layer_kind cr_maxpool_kind = {
    .name = "maxpool",
    .keys = cr_pool_keys,
    .n_keys = 3,
    .config_size = sizeof(pool_config),
    .infer = maxpool_infer,
    .forward = maxpool_forward,
    .backward = maxpool_backward,
    .assigns_dx = true,
};
