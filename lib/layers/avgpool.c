/* avgpool: the mean of each window, padding counted as zeros in the divisor
 * (PyTorch's default count_include_pad=True).
 *   x: [N, C, H, W] -> y: [N, C, OH, OW]
 * PyTorch divides by the window clipped to the padded image; with outputs
 * rounded down (no ceil_mode) no window reaches past the padding, so the
 * divisor is always the full window size. */
#include <stdbool.h>
#include <string.h>

#include "pool.h"

/* x: [N, C, H, W] -> y: [N, C, OH, OW] */
static void avgpool_forward(const cr_step *step) {
    const pool_config *cfg = step->layer->config;
    cr_shape in = step->in_shapes[0], out = step->layer->out;
    int64_t planes = (int64_t)step->batch * in.c;
    int64_t in_plane = (int64_t)in.h * in.w, out_plane = (int64_t)out.h * out.w;
    float window = (float)(cfg->size[0] * cfg->size[1]);
    bool unpadded = cfg->padding[0] == 0 && cfg->padding[1] == 0;
    bool two_by_two = unpadded && cfg->size[0] == 2 && cfg->size[1] == 2 && cfg->stride[0] == 2 &&
                      cfg->stride[1] == 2;
#pragma omp parallel for num_threads(step->threads) schedule(static)
    for (int64_t plane = 0; plane < planes; plane++) {
        const float *x = step->x[0] + plane * in_plane;
        float *y = step->y + plane * out_plane;
        if (two_by_two) {
            /* LeNet's subsampling: no window loops. */
            for (int out_row = 0; out_row < out.h; out_row++) {
                const float *top = x + (int64_t)out_row * 2 * in.w, *bottom = top + in.w;
                float *y_row = y + (int64_t)out_row * out.w;
                for (int out_col = 0; out_col < out.w; out_col++)
                    y_row[out_col] = (top[2 * out_col] + top[2 * out_col + 1] +
                                      bottom[2 * out_col] + bottom[2 * out_col + 1]) /
                                     4.0f;
            }
            continue;
        }
        if (unpadded) {
            /* Every window lies inside the image: no clipping. */
            for (int out_row = 0; out_row < out.h; out_row++) {
                const float *top = x + (int64_t)out_row * cfg->stride[0] * in.w;
                for (int out_col = 0; out_col < out.w; out_col++) {
                    const float *corner = top + out_col * cfg->stride[1];
                    float sum = 0.0f;
                    for (int row = 0; row < cfg->size[0]; row++)
                        for (int col = 0; col < cfg->size[1]; col++)
                            sum += corner[row * in.w + col];
                    y[out_row * out.w + out_col] = sum / window;
                }
            }
            continue;
        }
        for (int out_row = 0; out_row < out.h; out_row++) {
            int row_start, row_end;
            cr_pool_window(out_row, cfg->size[0], cfg->stride[0], cfg->padding[0], in.h, &row_start,
                           &row_end);
            for (int out_col = 0; out_col < out.w; out_col++) {
                int col_start, col_end;
                cr_pool_window(out_col, cfg->size[1], cfg->stride[1], cfg->padding[1], in.w,
                               &col_start, &col_end);
                float sum = 0.0f;
                for (int row = row_start; row < row_end; row++)
                    for (int col = col_start; col < col_end; col++) sum += x[row * in.w + col];
                y[out_row * out.w + out_col] = sum / window;
            }
        }
    }
}

/* dy: [N, C, OH, OW] -> dx: [N, C, H, W] += dy / window size over each window */
static void avgpool_backward(const cr_step *step) {
    if (!step->dx[0]) return;
    const pool_config *cfg = step->layer->config;
    cr_shape in = step->in_shapes[0], out = step->layer->out;
    int64_t planes = (int64_t)step->batch * in.c;
    int64_t in_plane = (int64_t)in.h * in.w, out_plane = (int64_t)out.h * out.w;
    float window = (float)(cfg->size[0] * cfg->size[1]);
    bool unpadded = cfg->padding[0] == 0 && cfg->padding[1] == 0;
    bool tiles = unpadded && cfg->size[0] == 2 && cfg->size[1] == 2 && cfg->stride[0] == 2 &&
                 cfg->stride[1] == 2 && in.h == 2 * out.h && in.w == 2 * out.w;
#pragma omp parallel for num_threads(step->threads) schedule(static)
    for (int64_t plane = 0; plane < planes; plane++) {
        float *dx = step->dx[0] + plane * in_plane;
        const float *dy = step->dy + plane * out_plane;
        if (tiles) {
            /* 2×2 windows covering the plane exactly: every input pixel
             * gets one quarter of one output's gradient. */
            for (int row = 0; row < in.h; row++) {
                const float *dy_row = dy + (int64_t)(row / 2) * out.w;
                float *dx_row = dx + (int64_t)row * in.w;
                if (step->dx_assign)
                    for (int col = 0; col < in.w; col++) dx_row[col] = dy_row[col / 2] / 4.0f;
                else
                    for (int col = 0; col < in.w; col++) dx_row[col] += dy_row[col / 2] / 4.0f;
            }
            continue;
        }
        if (step->dx_assign) memset(dx, 0, (size_t)in_plane * sizeof *dx);
        if (unpadded) {
            for (int out_row = 0; out_row < out.h; out_row++) {
                float *top = dx + (int64_t)out_row * cfg->stride[0] * in.w;
                for (int out_col = 0; out_col < out.w; out_col++) {
                    float *corner = top + out_col * cfg->stride[1];
                    float share = dy[out_row * out.w + out_col] / window;
                    for (int row = 0; row < cfg->size[0]; row++)
                        for (int col = 0; col < cfg->size[1]; col++)
                            corner[row * in.w + col] += share;
                }
            }
            continue;
        }
        for (int out_row = 0; out_row < out.h; out_row++) {
            int row_start, row_end;
            cr_pool_window(out_row, cfg->size[0], cfg->stride[0], cfg->padding[0], in.h, &row_start,
                           &row_end);
            for (int out_col = 0; out_col < out.w; out_col++) {
                int col_start, col_end;
                cr_pool_window(out_col, cfg->size[1], cfg->stride[1], cfg->padding[1], in.w,
                               &col_start, &col_end);
                float share = dy[out_row * out.w + out_col] / window;
                for (int row = row_start; row < row_end; row++)
                    for (int col = col_start; col < col_end; col++) dx[row * in.w + col] += share;
            }
        }
    }
}

const cr_layer_kind cr_avgpool_kind = {
    .name = "avgpool",
    .keys = cr_pool_keys,
    .n_keys = 3,
    .config_size = sizeof(pool_config),
    .infer = cr_pool_infer,
    .forward = avgpool_forward,
    .backward = avgpool_backward,
    .assigns_dx = true,
    .aliases = (const char *const[]){"averagepooling2d", NULL},
};
