/* lrn: local response normalisation across channels (Caffe/PyTorch form):
 *   b_c = a_c / s_c^beta,  s_c = k + alpha/size · Σ_j a_j²,
 *   j over the `size` channels centred on c (PyTorch pads size/2 before and
 *   (size-1)/2 after), clipped to [0, C).
 *   x: [N, C, H, W] -> y: [N, C, H, W] */
#include <math.h>
#include <omp.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "lrn.h"
#include "simd.h"
#include "../onnx_build.h"

static const cr_key lrn_keys[] = {
    {"size", CR_KEY_INT, offsetof(lrn_config, size), false, 5, 1, CR_NO_LIMIT,
     "number of channels summed over, centred on each channel"},
    {"alpha", CR_KEY_FLOAT, offsetof(lrn_config, alpha), false, 1e-4, 0, CR_NO_LIMIT,
     "scale of the sum of squares (divided by size, as Caffe and PyTorch)"},
    {"beta", CR_KEY_FLOAT, offsetof(lrn_config, beta), false, 0.75, 0, CR_NO_LIMIT, "exponent"},
    {"k", CR_KEY_FLOAT, offsetof(lrn_config, k), false, 2.0, 1e-30, CR_NO_LIMIT,
     "additive constant"},
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

/* Spatial positions worked on together in backward: a window sum and the
 * powers of one block stay in L1. */
enum { BLOCK = 256 };

/* p = s^-0.75 (AlexNet's beta) as square roots and a division: exact
 * operations, vectorised by the compiler in any build, several times faster
 * than powf. */
static inline __attribute__((always_inline)) void power_three_quarters(float *p, const float *s,
                                                                       int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float root = sqrtf(s[i]);
        p[i] = 1.0f / (root * sqrtf(root));
    }
}

#if CR_X86
/* sleef.h declares its 256-bit functions only when the file is compiled for
 * AVX; the library is built for plain x86-64 and calls this from AVX2 code. */
CR_TARGET_AVX2 __m256 Sleef_powf8_u10(__m256 x, __m256 y);

/* The same with eight-float vectors (same operations: identical results). */
CR_TARGET_AVX2 static void power_three_quarters_avx2(float *p, const float *s, int64_t n) {
    power_three_quarters(p, s, n);
}

/* p = s^-beta eight at a time through SLEEF (within 1 ulp, as glibc's
 * powf), the last few through a padded copy. */
CR_TARGET_AVX2 static void power_span_avx2(float *p, const float *s, int64_t n, float beta) {
    __m256 exponent = _mm256_set1_ps(-beta);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(p + i, Sleef_powf8_u10(_mm256_loadu_ps(s + i), exponent));
    if (i < n) {
        float tail[8] = {1, 1, 1, 1, 1, 1, 1, 1};
        memcpy(tail, s + i, (size_t)(n - i) * sizeof *tail);
        _mm256_storeu_ps(tail, Sleef_powf8_u10(_mm256_loadu_ps(tail), exponent));
        memcpy(p + i, tail, (size_t)(n - i) * sizeof *tail);
    }
}
#endif

/* p = s^-beta for n values (p may be s): any beta but 0.75 through powf, or
 * SLEEF's vector pow with AVX2. */
static void power_span(float *p, const float *s, int64_t n, float beta) {
    bool avx2 = cr_cpu_avx2();
    (void)avx2; /* read only by the x86 paths */
    if (beta == 0.75f) {
#if CR_X86
        if (avx2) {
            power_three_quarters_avx2(p, s, n);
            return;
        }
#endif
        power_three_quarters(p, s, n);
        return;
    }
#if CR_X86
    if (avx2) {
        power_span_avx2(p, s, n, beta);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) p[i] = powf(s[i], -beta);
}

/* sum[i] = Σ_{j=first..last} planes[j·spatial + from + i] for i < count:
 * the channel window's sum at `count` positions, channel by channel so that
 * the inner loop runs along contiguous positions. */
static void window_sum(float *sum, const float *planes, int64_t spatial, int first, int last,
                       int64_t from, int64_t count) {
    for (int64_t i = 0; i < count; i++) sum[i] = 0.0f;
    for (int j = first; j <= last; j++) {
        const float *plane = planes + j * spatial + from;
        for (int64_t i = 0; i < count; i++) sum[i] += plane[i];
    }
}

/* s_c = k + alpha/size · Σ_j a_j², j over channel c's window, for one
 * channel of an image x ([C, spatial]). */
static void lrn_base(float *s, const float *x, int c, cr_shape shape, const lrn_config *cfg) {
    int64_t spatial = (int64_t)shape.h * shape.w;
    float scale = cfg->alpha / (float)cfg->size;
    int before = cfg->size / 2, after = (cfg->size - 1) / 2;
    int first = c - before < 0 ? 0 : c - before;
    int last = c + after >= shape.c ? shape.c - 1 : c + after;
    for (int64_t i = 0; i < spatial; i++) s[i] = 0.0f;
    for (int j = first; j <= last; j++) {
        const float *a = x + j * spatial;
        for (int64_t i = 0; i < spatial; i++) s[i] += a[i] * a[i];
    }
    for (int64_t i = 0; i < spatial; i++) s[i] = cfg->k + scale * s[i];
}

/* x: [N, C, H, W] -> y: [N, C, H, W]; saved: s, [N, C, H, W] (when planned) */
static void lrn_forward(const cr_step *step) {
    const lrn_config *cfg = step->layer->config;
    cr_shape shape = step->layer->out;
    int64_t spatial = (int64_t)shape.h * shape.w, image_size = cr_shape_size(shape);
#pragma omp parallel for num_threads(step->threads) schedule(static)
    for (int image = 0; image < step->batch; image++) {
        const float *x = step->x[0] + image * image_size;
        float *y = step->y + image * image_size;
        /* Without a saved buffer (inference) s is built in y, then replaced. */
        float *base = step->saved ? step->saved + image * image_size : y;
        /* Channel by channel, so that s is still in L1 for its power. */
        for (int c = 0; c < shape.c; c++) {
            int64_t at = c * spatial;
            lrn_base(base + at, x, c, shape, cfg);
            power_span(y + at, base + at, spatial, cfg->beta);
            for (int64_t i = at; i < at + spatial; i++) y[i] = x[i] * y[i];
        }
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
        int ready = 0; /* channels [0, ready) of ratio are computed */
        for (int c = 0; c < shape.c; c++) {
            int first = c - before < 0 ? 0 : c - before;
            int last = c + after >= shape.c ? shape.c - 1 : c + after;
            /* ratio's channels just before their first use, while the
             * window's other channels are still in L1 */
            for (; ready <= last; ready++)
                for (int64_t i = ready * spatial; i < (ready + 1) * spatial; i++)
                    ratio[i] = dy[i] * y[i] / s[i];
            for (int64_t from = 0; from < spatial; from += BLOCK) {
                int64_t count = spatial - from < BLOCK ? spatial - from : BLOCK;
                int64_t at = c * spatial + from;
                float sum[BLOCK], power[BLOCK];
                window_sum(sum, ratio, spatial, first, last, from, count);
                power_span(power, s + at, count, cfg->beta);
                for (int64_t i = 0; i < count; i++)
                    dx[at + i] += dy[at + i] * power[i] - coefficient * x[at + i] * sum[i];
            }
        }
    }
}

/* ONNX's LRN sums over channels c − ⌊(size−1)/2⌋ … c + ⌈(size−1)/2⌉,
 * PyTorch's (and cnnrun's) over c − ⌊size/2⌋ … c + ⌊(size−1)/2⌋: the same
 * window for odd sizes only. */
static int lrn_export_onnx(const cr_layer *layer, cr_onnx_builder *b) {
    const lrn_config *cfg = layer->config;
    if (cfg->size % 2 == 0)
        return cr_onnx_refuse(b,
                              "LRN size %d is even: ONNX centres an even window one channel "
                              "later than PyTorch and cnnrun do",
                              cfg->size);
    cr_onnx_node *node =
        cr_onnx_node_add(b, "LRN", NULL, cr_onnx_output(b), 1, cr_onnx_input_4d(b, 0));
    cr_onnx_attr_int(b, node, "size", cfg->size);
    cr_onnx_attr_float(b, node, "alpha", cfg->alpha);
    cr_onnx_attr_float(b, node, "beta", cfg->beta);
    cr_onnx_attr_float(b, node, "bias", cfg->k);
    return 0;
}

const cr_layer_kind cr_lrn_kind = {
    .export_onnx = lrn_export_onnx,
    .name = "lrn",
    .description = "local response normalisation across channels: x / (k + alpha/size · Σ x²)^beta "
                   "(Caffe/PyTorch)",
    .keys = lrn_keys,
    .n_keys = sizeof lrn_keys / sizeof lrn_keys[0],
    .config_size = sizeof(lrn_config),
    .infer = lrn_infer,
    .forward = lrn_forward,
    .backward = lrn_backward,
    .aliases = (const char *const[]){"localresponsenorm", NULL},
};
