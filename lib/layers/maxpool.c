/* maxpool: the largest value in each window; padding never wins (it is -inf).
 *   x: [N, C, H, W] -> y: [N, C, OH, OW]
 * Backward routes each output's gradient to the input position that won. */
#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "pool.h"
#include "simd.h"

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

#if CR_X86
/* The scalar 2×2 rule for 8 windows side by side: top-left, top-right,
 * bottom-left, bottom-right, each replacing the best so far when larger or
 * NaN; winners (may be NULL) get corner + 2·lane + the winning offset. */
CR_TARGET_AVX2 static void max_2x2_eight(float *y, int32_t *winner, const float *top, int width,
                                         int corner) {
    __m256 candidate[4];
    cr_split_even_odd(top, &candidate[0], &candidate[1]);
    cr_split_even_odd(top + width, &candidate[2], &candidate[3]);
    const int offsets[4] = {0, 1, width, width + 1};
    __m256 best = candidate[0];
    __m256i offset = _mm256_setzero_si256();
    for (int k = 1; k < 4; k++) {
        __m256 wins = _mm256_or_ps(_mm256_cmp_ps(candidate[k], best, _CMP_GT_OQ),
                                   _mm256_cmp_ps(candidate[k], candidate[k], _CMP_UNORD_Q));
        best = _mm256_blendv_ps(best, candidate[k], wins);
        offset = _mm256_castps_si256(_mm256_blendv_ps(
            _mm256_castsi256_ps(offset), _mm256_castsi256_ps(_mm256_set1_epi32(offsets[k])), wins));
    }
    _mm256_storeu_ps(y, best);
    if (winner) {
        __m256i corners = _mm256_add_epi32(_mm256_set1_epi32(corner),
                                           _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14));
        _mm256_storeu_si256((__m256i *)winner, _mm256_add_epi32(corners, offset));
    }
}
#endif

/* x: [N, C, H, W] -> y: [N, C, OH, OW]; saved: [N, C, OH, OW] int32, the
 * winner's index within its H×W plane (not kept when saved is NULL: no
 * backward planned). */
static void maxpool_forward(const cr_step *step) {
    const pool_config *cfg = step->layer->config;
    cr_shape in = step->in_shapes[0], out = step->layer->out;
    int64_t planes = (int64_t)step->batch * in.c;
    int64_t in_plane = (int64_t)in.h * in.w, out_plane = (int64_t)out.h * out.w;
    int32_t *winners = (int32_t *)step->saved;
    bool unpadded = cfg->padding[0] == 0 && cfg->padding[1] == 0;
    bool two_by_two = unpadded && cfg->size[0] == 2 && cfg->size[1] == 2 && cfg->stride[0] == 2 &&
                      cfg->stride[1] == 2;
    bool avx2 = cr_cpu_avx2();
    (void)avx2; /* read only by the x86 paths */
#pragma omp parallel for num_threads(step->threads) schedule(static)
    for (int64_t plane = 0; plane < planes; plane++) {
        const float *x = step->x[0] + plane * in_plane;
        float *y = step->y + plane * out_plane;
        int32_t *winner = winners ? winners + plane * out_plane : NULL;
        if (two_by_two) {
            /* VGG's and AlexNet-style nets' common case, without loops over
             * the window: four compares, in PyTorch's order. */
            for (int out_row = 0; out_row < out.h; out_row++) {
                const float *top = x + (int64_t)out_row * 2 * in.w;
                int out_col = 0;
#if CR_X86
                /* Eight outputs at a time where their 16 + 16 inputs exist. */
                for (; avx2 && out_col + 8 <= out.w && 2 * out_col + 16 <= in.w; out_col += 8)
                    max_2x2_eight(y + out_row * out.w + out_col,
                                  winner ? winner + out_row * out.w + out_col : NULL,
                                  top + out_col * 2, in.w, out_row * 2 * in.w + out_col * 2);
#endif
                for (; out_col < out.w; out_col++) {
                    int corner = out_row * 2 * in.w + out_col * 2;
                    const float *p = top + out_col * 2;
                    float best = p[0];
                    int offset = 0;
                    if (p[1] > best || isnan(p[1])) best = p[1], offset = 1;
                    if (p[in.w] > best || isnan(p[in.w])) best = p[in.w], offset = in.w;
                    if (p[in.w + 1] > best || isnan(p[in.w + 1]))
                        best = p[in.w + 1], offset = in.w + 1;
                    y[out_row * out.w + out_col] = best;
                    if (winner) winner[out_row * out.w + out_col] = corner + offset;
                }
            }
            continue;
        }
        if (unpadded) {
            /* Every window lies inside the image: no clipping. */
            for (int out_row = 0; out_row < out.h; out_row++)
                for (int out_col = 0; out_col < out.w; out_col++) {
                    int corner = out_row * cfg->stride[0] * in.w + out_col * cfg->stride[1];
                    int best_index = corner;
                    float best = x[corner];
                    for (int row = 0; row < cfg->size[0]; row++)
                        for (int col = 0; col < cfg->size[1]; col++) {
                            int index = corner + row * in.w + col;
                            float value = x[index];
                            /* As PyTorch; selects, not branches: which
                             * value wins is data and would mispredict. */
                            bool wins = value > best || isnan(value);
                            best = wins ? value : best;
                            best_index = wins ? index : best_index;
                        }
                    y[out_row * out.w + out_col] = best;
                    if (winner) winner[out_row * out.w + out_col] = best_index;
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

/* MaxPool: padding never wins, as in PyTorch. */
static int maxpool_export_onnx(const cr_layer *layer, cr_onnx_builder *b) {
    cr_pool_export_onnx(layer, b, "MaxPool");
    return 0;
}

const cr_layer_kind cr_maxpool_kind = {
    .export_onnx = maxpool_export_onnx,
    .name = "maxpool",
    .description = "largest value in each window; padding never wins (PyTorch's MaxPool2d)",
    .keys = cr_pool_keys,
    .n_keys = 3,
    .config_size = sizeof(pool_config),
    .infer = maxpool_infer,
    .forward = maxpool_forward,
    .backward = maxpool_backward,
    .assigns_dx = true,
};
