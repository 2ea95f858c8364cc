/* maxpool: the largest value in each window; padding never wins (it is -inf).
 *   x: [N, C, H, W] -> y: [N, C, OH, OW]
 * Backward routes each output's gradient to the input position that won. */
#include <assert.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "pool.h"
#include "simd.h"

/* The arg-max indices are int32 stored in the float `saved` buffer, which
 * holds nothing else. */
static_assert(sizeof(int32_t) == sizeof(float), "arg-max indices share the float buffer");

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

/* The general window (any size, stride and padding) works on neighbouring
 * outputs of a row in vector lanes (maxpool_lanes.h), two output rows at a
 * time, from a copy of the input plane with -inf in the padding and enough
 * columns on the right for whole groups of up to LANES windows: every
 * output is computed alike, without clipping or a slower tail (windows past
 * the row's end are computed and dropped). */
enum { LANES = 8 };

/* The plane copy: [padding + H + padding rows, copy_pitch columns], the
 * image from row and column `padding` on. */
static int copy_pitch(cr_shape in, cr_shape out, const pool_config *cfg) {
    int groups = (out.w + LANES - 1) / LANES;
    /* + 1: the even/odd load of stride 2 reads one value past lane 7's */
    int reach = (groups * LANES - 1) * cfg->stride[1] + cfg->size[1] + 1;
    return reach > cfg->padding[1] + in.w ? reach : cfg->padding[1] + in.w;
}

static int64_t copy_floats(cr_shape in, cr_shape out, const pool_config *cfg) {
    return (int64_t)(in.h + 2 * cfg->padding[0]) * copy_pitch(in, out, cfg);
}

/* x: [H, W] -> copy (see copy_pitch), -inf around the image. */
static void copy_padded(float *copy, int pitch, const float *x, cr_shape in,
                        const pool_config *cfg) {
    int top = cfg->padding[0], left = cfg->padding[1];
    for (int64_t i = 0; i < (int64_t)top * pitch; i++) copy[i] = -INFINITY;
    for (int64_t i = (int64_t)(top + in.h) * pitch; i < (int64_t)(2 * top + in.h) * pitch; i++)
        copy[i] = -INFINITY;
    for (int row = 0; row < in.h; row++) {
        float *to = copy + (int64_t)(top + row) * pitch + left;
        const float *from = x + (int64_t)row * in.w;
        for (int col = -left; col < 0; col++) to[col] = -INFINITY;
        /* Eight at a time, the last eight overlapping: no call to memcpy per
         * row of a small plane. */
        if (in.w >= LANES) {
            for (int col = 0; col < in.w; col += LANES) {
                int at = col + LANES <= in.w ? col : in.w - LANES;
                memcpy(to + at, from + at, LANES * sizeof *to);
            }
        } else {
            for (int col = 0; col < in.w; col++) to[col] = from[col];
        }
        for (int col = in.w; col < pitch - left; col++) to[col] = -INFINITY;
    }
}

/* The loops over windows in vector lanes: once with four-float vectors
 * for plain x86-64 (max_plane_generic), once with eight-float vectors for
 * AVX2 (max_plane_avx2, chosen at run time). Only compares and selects:
 * both give identical results. */
#define LANE_COUNT      4
#define LANE_NAME(name) name##_generic
#define LANE_TARGET
#include "maxpool_lanes.h"
#undef LANE_COUNT
#undef LANE_NAME
#undef LANE_TARGET

#if CR_X86
#define LANE_COUNT      8
#define LANE_NAME(name) name##_avx2
#define LANE_TARGET     CR_TARGET_AVX2
#include "maxpool_lanes.h"
#undef LANE_COUNT
#undef LANE_NAME
#undef LANE_TARGET
#endif

/* VGG's and AlexNet-style nets' common case, with a path of its own. */
static bool two_by_two(const pool_config *cfg) {
    return cfg->padding[0] == 0 && cfg->padding[1] == 0 && cfg->size[0] == 2 && cfg->size[1] == 2 &&
           cfg->stride[0] == 2 && cfg->stride[1] == 2;
}

static int maxpool_infer(cr_layer *layer, const cr_shape *in, cr_warnings *warnings,
                         cr_error *err) {
    if (cr_pool_infer(layer, in, warnings, err)) return 1;
    layer->saved_per_image = cr_shape_size(layer->out); /* arg-max index per output */
    layer->kinks = CR_KINKS_ARGMAX;
    /* The general window's padded copy of one plane (max_plane). */
    if (!two_by_two(layer->config))
        layer->workspace_per_thread = copy_floats(in[0], layer->out, layer->config);
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
    bool plain_2x2 = two_by_two(cfg);
    bool avx2 = cr_cpu_avx2();
    (void)avx2; /* read only by the x86 paths */
#pragma omp parallel for num_threads(step->threads) schedule(static)
    for (int64_t plane = 0; plane < planes; plane++) {
        const float *x = step->x[0] + plane * in_plane;
        float *y = step->y + plane * out_plane;
        int32_t *winner = winners ? winners + plane * out_plane : NULL;
        if (plain_2x2) {
            /* Without loops over the window: four compares, in PyTorch's order. */
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
        float *copy = cr_thread_workspace(step, omp_get_thread_num());
#if CR_X86
        if (avx2) {
            max_plane_avx2(copy, x, in, out, cfg, y, winner);
            continue;
        }
#endif
        max_plane_generic(copy, x, in, out, cfg, y, winner);
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
