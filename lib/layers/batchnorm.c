/* batchnorm: per-channel normalisation (PyTorch's BatchNorm2d; on a dense
 * output [units, 1, 1] it is BatchNorm1d).
 *   x: [N, C, H, W] -> y: [N, C, H, W]
 *   weight (gamma) [C], bias (beta) [C]; buffers running_mean [C], running_var [C]
 * Training normalises with the batch mean and biased variance and updates the
 * running statistics as running = (1 - momentum)·running + momentum·batch,
 * with the unbiased variance; evaluation uses the running statistics. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "batchnorm.h"
#include "../cpu.h"
#include "../onnx_build.h"

enum { GAMMA, BETA, RUNNING_MEAN, RUNNING_VAR };

static const cr_key batchnorm_keys[] = {
    {"eps", CR_KEY_FLOAT, offsetof(batchnorm_config, eps), false, 1e-5, 1e-30, CR_NO_LIMIT,
     "added to the variance before the square root"},
    {"momentum", CR_KEY_FLOAT, offsetof(batchnorm_config, momentum), false, 0.1, 0, 1,
     "weight of the new batch in the running statistics (PyTorch's convention)"},
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

/* The loops below are written once (always inline) on 8-float vectors (GCC's
 * vector extension) and compiled twice: for plain x86-64, where each vector
 * operation is two SSE instructions, and, called when the processor has
 * it, for AVX2 (lib/cpu.h), where it is one. They give the same bits either
 * way: operations are lane by lane, contraction to FMA is off (ISO C mode)
 * and lanes are added up in a fixed order, so a processor's vector width
 * cannot move a value across a relu's kink (test_threads compares). */
#define INLINE static inline __attribute__((always_inline))
/* GCC notes that an 8-float vector is passed differently with and without
 * AVX; these helpers are always inlined, so no call crosses that line. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

typedef float f8 __attribute__((vector_size(32)));
typedef int32_t i8 __attribute__((vector_size(32)));

/* Values summed in float before the running totals (in double) take them:
 * a block stays in L1 cache between its two loops. A multiple of 8. */
enum { BLOCK = 1024 };

INLINE f8 load8(const float *p) {
    f8 v;
    memcpy(&v, p, sizeof v);
    return v;
}
INLINE void store8(float *p, f8 v) {
    memcpy(p, &v, sizeof v);
}
INLINE f8 broadcast8(float x) {
    return (f8){x, x, x, x, x, x, x, x};
}
/* The first n < 8 values at p, the others `fill`. */
INLINE f8 load_part8(const float *p, int64_t n, float fill) {
    f8 v = broadcast8(fill);
    memcpy(&v, p, (size_t)n * sizeof(float));
    return v;
}
INLINE float total8(f8 v) {
    return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
}
/* Lanes of v where keep is set, +0 elsewhere. */
INLINE f8 select8(i8 keep, f8 v) {
    return (f8)(keep & (i8)v);
}

/* act(z) for none, relu and relu6, the activation layers' expressions lane
 * by lane: relu(NaN) = 0, relu6(NaN) = NaN. */
INLINE f8 activate8(f8 z, cr_activation activation) {
    if (activation == CR_ACT_RELU) return select8(z > broadcast8(0.0f), z);
    if (activation == CR_ACT_RELU6) {
        i8 below = z<broadcast8(0.0f), above = z> broadcast8(6.0f);
        return (f8)((~(below | above) & (i8)z) | (above & (i8)broadcast8(6.0f)));
    }
    return z;
}

/* The gradient reaching the batchnorm's output z: dy where the fused
 * activation passes it (z > 0, and z < 6 for relu6; the same test as the
 * activation layers' on their output act(z)), else 0. */
INLINE f8 masked8(f8 dy, f8 z, cr_activation activation) {
    if (activation == CR_ACT_RELU) return select8(z > broadcast8(0.0f), dy);
    if (activation == CR_ACT_RELU6)
        return select8((z > broadcast8(0.0f)) & (z < broadcast8(6.0f)), dy);
    return dy;
}

/* One channel of x (or dy): values [image·image_size + i], i < spatial. */
typedef struct channel_view {
    int batch;
    int64_t image_size, spatial;
} channel_view;

/* Σ p and Σ (p − mean)² over one block. */
INLINE float block_sum(const float *p, int64_t length) {
    f8 sum = broadcast8(0.0f);
    int64_t i = 0;
    for (; i + 8 <= length; i += 8) sum += load8(p + i);
    if (i < length) sum += load_part8(p + i, length - i, 0.0f);
    return total8(sum);
}
INLINE float block_squares(const float *p, int64_t length, float mean) {
    f8 sum = broadcast8(0.0f), m = broadcast8(mean);
    int64_t i = 0;
    for (; i + 8 <= length; i += 8) {
        f8 centred = load8(p + i) - m;
        sum += centred * centred;
    }
    if (i < length) { /* filled with the mean: the missing lanes add 0 */
        f8 centred = load_part8(p + i, length - i, mean) - m;
        sum += centred * centred;
    }
    return total8(sum);
}

/* The mean and Σ(x − mean)² of one channel in one pass over memory: each
 * block of contiguous values is summed while in L1 cache, then its squares
 * about its own mean (two passes within the block: no cancellation as in
 * E[x²] − E[x]²), and the blocks merge in double by Chan et al.'s update. */
INLINE void channel_moments(const float *x, channel_view v, double *mean_out, double *m2_out) {
    double count = 0.0, mean = 0.0, m2 = 0.0;
    for (int image = 0; image < v.batch; image++)
        for (int64_t start = 0; start < v.spatial; start += BLOCK) {
            const float *p = x + image * v.image_size + start;
            int64_t length = v.spatial - start < BLOCK ? v.spatial - start : BLOCK;
            float block_mean = block_sum(p, length) / (float)length;
            float squares = block_squares(p, length, block_mean);
            double merged = count + (double)length, delta = (double)block_mean - mean;
            mean += delta * (double)length / merged;
            m2 += (double)squares + delta * delta * count * (double)length / merged;
            count = merged;
        }
    *mean_out = mean;
    *m2_out = m2;
}

/* One channel's statistics and parameters. */
typedef struct channel_map {
    float mean, inverse_std, gamma, beta;
} channel_map;

/* The batchnorm's output z = γ·((x − mean)·invstd) + β: x − mean is exact
 * near the mean, where PyTorch's x·a + (β − mean·a) rounds a·x and its
 * cancelling shift (the finite differences of gradcheck notice). */
INLINE f8 normalise8(f8 x, f8 mean, f8 inverse_std, f8 gamma, f8 beta) {
    return gamma * ((x - mean) * inverse_std) + beta;
}

/* y = act(z) over one channel. */
INLINE void channel_affine(float *y, const float *x, channel_view v, channel_map map,
                           cr_activation activation) {
    f8 m = broadcast8(map.mean), inverse_std = broadcast8(map.inverse_std);
    f8 gamma = broadcast8(map.gamma), beta = broadcast8(map.beta);
    for (int image = 0; image < v.batch; image++) {
        const float *in = x + image * v.image_size;
        float *out = y + image * v.image_size;
        int64_t i = 0;
        for (; i + 8 <= v.spatial; i += 8)
            store8(out + i,
                   activate8(normalise8(load8(in + i), m, inverse_std, gamma, beta), activation));
        if (i < v.spatial) {
            f8 z = activate8(
                normalise8(load_part8(in + i, v.spatial - i, 0.0f), m, inverse_std, gamma, beta),
                activation);
            memcpy(out + i, &z, (size_t)(v.spatial - i) * sizeof(float));
        }
    }
}

/* What backward needs of one channel. A fused activation's mask is taken
 * on z recomputed from x, bit for bit what forward computed
 * (same a, b and operations), instead of reading the activation's output:
 * one stream less in each pass. */
typedef struct channel_gradient {
    channel_map map;  /* forward's normalise8, the activation's input */
    float scale;      /* γ·invstd */
    float mean_dy, k; /* training: Σg/M and invstd²·Σg·(x − mean)/M; evaluation: 0 */
} channel_gradient;

/* Σ g and Σ g·(x − mean) over one channel, g = masked(dy): floats per
 * block, double across blocks. */
INLINE void channel_gradient_sums(const float *dy, const float *x, channel_view v,
                                  channel_gradient c, cr_activation activation, double *sum_dy,
                                  double *sum_dy_centred) {
    double total = 0.0, total_centred = 0.0;
    f8 m = broadcast8(c.map.mean), inverse_std = broadcast8(c.map.inverse_std);
    f8 gamma = broadcast8(c.map.gamma), beta = broadcast8(c.map.beta);
    for (int image = 0; image < v.batch; image++)
        for (int64_t start = 0; start < v.spatial; start += BLOCK) {
            int64_t offset = image * v.image_size + start;
            int64_t length = v.spatial - start < BLOCK ? v.spatial - start : BLOCK;
            const float *g = dy + offset, *in = x + offset;
            f8 sum = broadcast8(0.0f), sum_centred = broadcast8(0.0f);
            int64_t i = 0;
            for (; i + 8 <= length; i += 8) {
                f8 value = load8(in + i);
                f8 gradient = masked8(load8(g + i), normalise8(value, m, inverse_std, gamma, beta),
                                      activation);
                sum += gradient;
                sum_centred += gradient * (value - m);
            }
            if (i < length) { /* the missing lanes: gradient 0, x = mean */
                f8 value = load_part8(in + i, length - i, c.map.mean);
                f8 gradient = masked8(load_part8(g + i, length - i, 0.0f),
                                      normalise8(value, m, inverse_std, gamma, beta), activation);
                sum += gradient;
                sum_centred += gradient * (value - m);
            }
            total += total8(sum);
            total_centred += total8(sum_centred);
        }
    *sum_dy = total;
    *sum_dy_centred = total_centred;
}

/* dx = scale·(g − mean_dy − (x − mean)·k), assigned or added (PyTorch's
 * form). */
INLINE void channel_input_gradient(float *dx, const float *dy, const float *x, channel_view v,
                                   channel_gradient c, cr_activation activation, bool assign) {
    f8 m = broadcast8(c.map.mean), inverse_std = broadcast8(c.map.inverse_std);
    f8 gamma = broadcast8(c.map.gamma), beta = broadcast8(c.map.beta);
    f8 scale = broadcast8(c.scale), mean_dy = broadcast8(c.mean_dy), k = broadcast8(c.k);
    for (int image = 0; image < v.batch; image++) {
        int64_t offset = image * v.image_size;
        const float *g = dy + offset, *in = x + offset;
        float *out = dx + offset;
        int64_t i = 0;
        for (; i + 8 <= v.spatial; i += 8) {
            f8 value = load8(in + i);
            f8 gradient =
                masked8(load8(g + i), normalise8(value, m, inverse_std, gamma, beta), activation);
            f8 result = scale * (gradient - mean_dy - (value - m) * k);
            store8(out + i, assign ? result : load8(out + i) + result);
        }
        if (i < v.spatial) {
            int64_t n = v.spatial - i;
            f8 value = load_part8(in + i, n, 0.0f);
            f8 gradient = masked8(load_part8(g + i, n, 0.0f),
                                  normalise8(value, m, inverse_std, gamma, beta), activation);
            f8 result = scale * (gradient - mean_dy - (value - m) * k);
            if (!assign) result += load_part8(out + i, n, 0.0f);
            memcpy(out + i, &result, (size_t)n * sizeof(float));
        }
    }
}

/* Each loop with the activation (and assign) as a constant, so that the
 * branches above fold away. */
#define WITH_ACTIVATION(activation, CALL)                                                          \
    do {                                                                                           \
        if ((activation) == CR_ACT_RELU) {                                                         \
            const cr_activation act_ = CR_ACT_RELU;                                                \
            CALL;                                                                                  \
        } else if ((activation) == CR_ACT_RELU6) {                                                 \
            const cr_activation act_ = CR_ACT_RELU6;                                               \
            CALL;                                                                                  \
        } else {                                                                                   \
            const cr_activation act_ = CR_ACT_NONE;                                                \
            CALL;                                                                                  \
        }                                                                                          \
    } while (0)

INLINE void affine_any(float *y, const float *x, channel_view v, channel_map map,
                       cr_activation activation) {
    WITH_ACTIVATION(activation, channel_affine(y, x, v, map, act_));
}

INLINE void gradient_sums_any(const float *dy, const float *x, channel_view v, channel_gradient c,
                              cr_activation activation, double *sum_dy, double *sum_dy_centred) {
    WITH_ACTIVATION(activation, channel_gradient_sums(dy, x, v, c, act_, sum_dy, sum_dy_centred));
}

INLINE void input_gradient_any(float *dx, const float *dy, const float *x, channel_view v,
                               channel_gradient c, cr_activation activation, bool assign) {
    if (assign)
        WITH_ACTIVATION(activation, channel_input_gradient(dx, dy, x, v, c, act_, true));
    else
        WITH_ACTIVATION(activation, channel_input_gradient(dx, dy, x, v, c, act_, false));
}

static void moments_generic(const float *x, channel_view v, double *mean, double *m2) {
    channel_moments(x, v, mean, m2);
}
static void affine_generic(float *y, const float *x, channel_view v, channel_map map,
                           cr_activation activation) {
    affine_any(y, x, v, map, activation);
}
static void gradient_sums_generic(const float *dy, const float *x, channel_view v,
                                  channel_gradient c, cr_activation activation, double *sum_dy,
                                  double *sum_dy_centred) {
    gradient_sums_any(dy, x, v, c, activation, sum_dy, sum_dy_centred);
}
static void input_gradient_generic(float *dx, const float *dy, const float *x, channel_view v,
                                   channel_gradient c, cr_activation activation, bool assign) {
    input_gradient_any(dx, dy, x, v, c, activation, assign);
}

#if CR_X86
CR_TARGET_AVX2 static void moments_avx2(const float *x, channel_view v, double *mean, double *m2) {
    channel_moments(x, v, mean, m2);
}
CR_TARGET_AVX2 static void affine_avx2(float *y, const float *x, channel_view v, channel_map map,
                                       cr_activation activation) {
    affine_any(y, x, v, map, activation);
}
CR_TARGET_AVX2 static void gradient_sums_avx2(const float *dy, const float *x, channel_view v,
                                              channel_gradient c, cr_activation activation,
                                              double *sum_dy, double *sum_dy_centred) {
    gradient_sums_any(dy, x, v, c, activation, sum_dy, sum_dy_centred);
}
CR_TARGET_AVX2 static void input_gradient_avx2(float *dx, const float *dy, const float *x,
                                               channel_view v, channel_gradient c,
                                               cr_activation activation, bool assign) {
    input_gradient_any(dx, dy, x, v, c, activation, assign);
}
#endif

/* The loops for this processor (lib/cpu.h), chosen once per call. */
typedef struct batchnorm_loops {
    void (*moments)(const float *x, channel_view v, double *mean, double *m2);
    void (*affine)(float *y, const float *x, channel_view v, channel_map map,
                   cr_activation activation);
    void (*gradient_sums)(const float *dy, const float *x, channel_view v, channel_gradient c,
                          cr_activation activation, double *sum_dy, double *sum_dy_centred);
    void (*input_gradient)(float *dx, const float *dy, const float *x, channel_view v,
                           channel_gradient c, cr_activation activation, bool assign);
} batchnorm_loops;

static batchnorm_loops loops_for_cpu(void) {
#if CR_X86
    if (cr_cpu_avx2())
        return (batchnorm_loops){moments_avx2, affine_avx2, gradient_sums_avx2,
                                 input_gradient_avx2};
#endif
    return (batchnorm_loops){moments_generic, affine_generic, gradient_sums_generic,
                             input_gradient_generic};
}

/* Training statistics of channel c: mean and 1/std (biased variance) for
 * normalising; the running statistics take the unbiased variance. */
static void update_statistics(const cr_step *step, int c, double mean, double m2, int64_t count,
                              float *mean_out, float *inverse_std_out) {
    const batchnorm_config *cfg = step->layer->config;
    float *running_mean = step->param[RUNNING_MEAN], *running_var = step->param[RUNNING_VAR];
    *mean_out = (float)mean;
    *inverse_std_out = (float)(1.0 / sqrt(m2 / (double)count + cfg->eps));
    float momentum = cfg->momentum;
    running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * (float)mean;
    /* The unbiased variance is undefined for one value per channel (PyTorch
     * refuses to train then); keep the old estimate rather than store NaN. */
    if (count > 1)
        running_var[c] =
            (1.0f - momentum) * running_var[c] + momentum * (float)(m2 / (double)(count - 1));
}

/* x: [N, C, H, W] -> y: [N, C, H, W] (or act(y) into post_y, fused)
 * saved (training, when planned): mean [C], 1/std [C].
 * Channels are independent: they run in parallel, each read once for its
 * statistics and once to normalise. */
static void batchnorm_forward(const cr_step *step) {
    const batchnorm_config *cfg = step->layer->config;
    cr_shape shape = step->layer->out;
    int channels = shape.c;
    int64_t spatial = (int64_t)shape.h * shape.w;
    channel_view view = {step->batch, channels * spatial, spatial};
    int64_t count = step->batch * spatial; /* values per channel: M = N·H·W */
    const float *gamma = step->param[GAMMA], *beta = step->param[BETA];
    const float *running_mean = step->param[RUNNING_MEAN];
    const float *running_var = step->param[RUNNING_VAR];
    float *saved_mean = step->saved,
          *saved_inverse_std = step->saved ? step->saved + channels : NULL;
    float *y = step->post_y ? step->post_y : step->y;
    cr_activation activation = step->post_y ? step->post_activation : CR_ACT_NONE;
    batchnorm_loops loops = loops_for_cpu();

#pragma omp parallel for num_threads(step->threads) schedule(static)
    for (int c = 0; c < channels; c++) {
        const float *x_channel = step->x[0] + c * spatial;
        float mean, inverse_std;
        if (step->training) {
            double batch_mean, m2;
            loops.moments(x_channel, view, &batch_mean, &m2);
            update_statistics(step, c, batch_mean, m2, count, &mean, &inverse_std);
            if (saved_mean) {
                saved_mean[c] = mean;
                saved_inverse_std[c] = inverse_std;
            }
        } else {
            mean = running_mean[c];
            inverse_std = (float)(1.0 / sqrt((double)running_var[c] + cfg->eps));
        }
        channel_map map = {mean, inverse_std, gamma[c], beta[c]};
        loops.affine(y + c * spatial, x_channel, view, map, activation);
    }
}

/* dy: [N, C, H, W] -> dx += ..., dgamma = Σ dy·x-hat, dbeta = Σ dy (per channel).
 * Training: the batch statistics depend on x, so
 *   dx = γ·invstd · (dy − Σdy/M − (x − mean)·invstd²·Σ(dy·(x − mean))/M);
 * evaluation: the statistics are constants and dx = γ·invstd·dy. Fused
 * with an activation, dy is the activation's output gradient, masked here.
 * One pass for the two sums, one to write dx. */
static void batchnorm_backward(const cr_step *step) {
    const batchnorm_config *cfg = step->layer->config;
    cr_shape shape = step->layer->out;
    int channels = shape.c;
    int64_t spatial = (int64_t)shape.h * shape.w;
    channel_view view = {step->batch, channels * spatial, spatial};
    int64_t count = step->batch * spatial;
    const float *gamma = step->param[GAMMA], *beta = step->param[BETA];
    const float *running_mean = step->param[RUNNING_MEAN];
    const float *running_var = step->param[RUNNING_VAR];
    float *dgamma = step->dparam[GAMMA], *dbeta = step->dparam[BETA];
    cr_activation activation = step->post_y ? step->post_activation : CR_ACT_NONE;
    batchnorm_loops loops = loops_for_cpu();

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
        /* a and b exactly as forward computed them. */
        channel_gradient constants = {.map = {mean, inverse_std, gamma[c], beta[c]},
                                      .scale = gamma[c] * inverse_std};
        int64_t first = c * spatial;
        const float *dy = step->dy + first, *x = step->x[0] + first;
        double sum_dy, sum_dy_centred;
        loops.gradient_sums(dy, x, view, constants, activation, &sum_dy, &sum_dy_centred);
        if (dgamma) dgamma[c] = (float)(sum_dy_centred * inverse_std);
        if (dbeta) dbeta[c] = (float)sum_dy;
        if (!step->dx[0]) continue;

        if (step->training) {
            constants.mean_dy = (float)(sum_dy / (double)count);
            constants.k = (float)(sum_dy_centred * inverse_std * inverse_std / (double)count);
        }
        loops.input_gradient(step->dx[0] + first, dy, x, view, constants, activation,
                             step->dx_assign);
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

/* BatchNormalization with the running statistics (evaluation form); ONNX's
 * momentum weighs the old running value, PyTorch's the new batch. */
static int batchnorm_export_onnx(const cr_layer *layer, cr_onnx_builder *b) {
    const batchnorm_config *cfg = layer->config;
    cr_onnx_node *node =
        cr_onnx_node_add(b, "BatchNormalization", NULL, cr_onnx_output(b), 5, cr_onnx_input(b, 0),
                         cr_onnx_param(b, GAMMA), cr_onnx_param(b, BETA),
                         cr_onnx_param(b, RUNNING_MEAN), cr_onnx_param(b, RUNNING_VAR));
    cr_onnx_attr_float(b, node, "epsilon", cfg->eps);
    cr_onnx_attr_float(b, node, "momentum", 1.0f - cfg->momentum);
    cr_onnx_set_output_rank(b, cr_onnx_input_rank(b, 0));
    return 0;
}

const cr_layer_kind cr_batchnorm_kind = {
    .export_onnx = batchnorm_export_onnx,
    .name = "batchnorm",
    .description = "batch normalisation per channel with running statistics (PyTorch's "
                   "BatchNorm2d; BatchNorm1d after dense)",
    .keys = batchnorm_keys,
    .n_keys = sizeof batchnorm_keys / sizeof batchnorm_keys[0],
    .config_size = sizeof(batchnorm_config),
    .infer = batchnorm_infer,
    .forward = batchnorm_forward,
    .backward = batchnorm_backward,
    .assigns_dx = true,
    .trains_with_activation = true,
    .eval_affine = cr_batchnorm_eval_affine,
    .batch_counter = "num_batches_tracked",
    .aliases = (const char *const[]){"bn", NULL},
};
