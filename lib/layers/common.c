/* Helpers shared by the layer kinds' shape rules, and the activation
 * functions that several kinds fuse into their output. */
#include <math.h>
#include <omp.h>
#include <sleef.h>
#include <stdio.h>
#include <string.h>

#include "../layer.h"
#include "../parallel.h"
#include "simd.h"

/* 1/√2 and 1/√(2π), for gelu (C11 has no M_SQRT1_2). */
#define SQRT_HALF        0.70710678118654752440
#define INV_SQRT_TWO_PI  0.39894228040143267794

static int key_index(const cr_layer *layer, const char *key) {
    for (int i = 0; i < layer->kind->n_keys && i < CR_MAX_KEYS; i++)
        if (strcmp(layer->kind->keys[i].name, key) == 0) return i;
    return -1;
}

bool cr_layer_has_key(const cr_layer *layer, const char *key) {
    int i = key_index(layer, key);
    return i >= 0 && layer->key_marks[i].line > 0;
}

cr_mark cr_layer_key_mark(const cr_layer *layer, const char *key) {
    int i = key_index(layer, key);
    if (i >= 0 && layer->key_marks[i].line > 0) return layer->key_marks[i];
    return layer->mark;
}

/* Rows of the real input (not padding) after the last window that no window
 * reads. Windows start every s rows of the padded input and end at padded
 * row (size − 1)·s + f − 1; the input's last row is padded row p + n − 1.
 * Zero padding left unread is no loss (ResNet's 224 → 112 with kernel 7,
 * padding 3, stride 2 leaves one padded row), and a stride wider than the
 * window skips s − f rows between every pair of windows by design (a 1×1
 * stride-2 shortcut), so only a remainder longer than that gap is dropped. */
static int64_t dropped_input_rows(int n, int f, int p, int s, int64_t size) {
    int64_t last_read = (size - 1) * s + f - 1;
    int64_t unread = (int64_t)p + n - 1 - last_read;
    int64_t gap = s > f ? s - f : 0;
    return unread > gap ? unread : 0;
}

int cr_window_out(const cr_layer *layer, const char *key, cr_shape in, const char *axis, int n,
                  int f, int d, int p, int s, const char *what, int kernel_h, int kernel_w,
                  int *out, cr_warnings *warnings, cr_error *err) {
    cr_mark mark = cr_layer_key_mark(layer, key);
    int64_t span = (int64_t)n + 2 * (int64_t)p - ((int64_t)d * (f - 1) + 1);
    int64_t size = span < 0 ? (span - s + 1) / s + 1 : span / s + 1; /* floor division */
    /* The kernel's term as the formula has it: "3", or "2·(3 − 1) − 1". */
    char kernel_term[48];
    if (d == 1)
        snprintf(kernel_term, sizeof kernel_term, "%d", f);
    else
        snprintf(kernel_term, sizeof kernel_term, "%d·(%d − 1) − 1", d, f);
    if (size < 1)
        return cr_fail(err, CR_ERR_INVALID, mark, layer->name,
                       "output %s (%d + 2·%d − %s)/%d + 1 = %lld < 1: input %d×%d×%d is smaller "
                       "than the %d×%d %s",
                       axis, n, p, kernel_term, s, (long long)size, in.c, in.h, in.w, kernel_h,
                       kernel_w, what);
    if (size > 1000000000)
        return cr_fail(err, CR_ERR_INVALID, mark, layer->name, "output %s %lld is too large", axis,
                       (long long)size);
    int64_t dropped = dropped_input_rows(n, d * (f - 1) + 1, p, s, size);
    if (dropped > 0) {
        bool rows = strcmp(axis, "height") == 0;
        const char *unit =
            rows ? (dropped == 1 ? "row" : "rows") : (dropped == 1 ? "column" : "columns");
        cr_warn(warnings, mark, layer->name,
                "%s: pixels dropped: the last %lld %s of the input (%s %d) %s never read: "
                "(%d + 2·%d − %s) = %lld is not divisible by stride %d",
                axis, (long long)dropped, unit, axis, n, dropped == 1 ? "is" : "are", n, p, kernel_term,
                (long long)span, s);
    }
    *out = (int)size;
    return 0;
}

void cr_layer_add_param(cr_layer *layer, const char *suffix, int ndim, const int *dims,
                        bool trainable, bool is_buffer, cr_init init, int fan_in,
                        const cr_values *values) {
    cr_param *p = &layer->params[layer->n_params++];
    memset(p, 0, sizeof *p);
    p->suffix = suffix;
    p->ndim = ndim;
    p->count = 1;
    for (int i = 0; i < ndim; i++) {
        p->dims[i] = dims[i];
        p->count *= dims[i];
    }
    p->trainable = trainable && !layer->frozen;
    p->is_buffer = is_buffer;
    p->init = init;
    p->fan_in = fan_in;
    p->values = values;
}

int64_t cr_layer_shared_workspace_floats(const cr_layer *layer, int64_t batch) {
    return cr_round_up_floats(layer->workspace + layer->workspace_per_image * batch);
}

int64_t cr_layer_workspace_floats(const cr_layer *layer, int64_t batch, int threads) {
    return cr_layer_shared_workspace_floats(layer, batch) +
           threads * cr_round_up_floats(layer->workspace_per_thread);
}

/* In enum order. */
const char *const cr_activation_names[] = {"none",  "relu", "tanh", "sigmoid",   "leaky_relu",
                                           "relu6", "silu", "gelu", "elu",       "hardswish",
                                           "hardsigmoid"};
const int cr_activation_count = sizeof cr_activation_names / sizeof cr_activation_names[0];

void cr_sum_thread_partials_in_team(float *out, const float *partial, int64_t count, int team,
                                    int64_t stride) {
#pragma omp for schedule(static)
    for (int64_t i = 0; i < count; i++) {
        float sum = partial[i];
        for (int t = 1; t < team; t++) sum += partial[t * stride + i];
        out[i] = sum;
    }
}

void cr_sum_thread_partials(float *out, const float *partial, int64_t count, int team,
                            int64_t stride, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < count; i++) {
        float sum = partial[i];
        for (int t = 1; t < team; t++) sum += partial[t * stride + i];
        out[i] = sum;
    }
}

const char *cr_activation_name(cr_activation activation) {
    return (int)activation >= 0 && (int)activation < cr_activation_count
               ? cr_activation_names[activation]
               : "?";
}

bool cr_activation_needs_input(cr_activation activation) {
    return activation == CR_ACT_SILU || activation == CR_ACT_GELU ||
           activation == CR_ACT_HARDSWISH;
}

/* Element-wise loops over more values than this are split over the threads
 * (in blocks of ELEMENT_BLOCK). Inside a parallel region (a conv chunk) they
 * run on the caller's thread as a plain loop: even a one-thread nested
 * region costs libgomp a team and futex wake-ups at its start and end
 * (1.7 million futex calls in 300 LeNet-5 steps when the conv epilogue
 * opened one per channel). */
#define PARALLEL_MIN_ELEMENTS 32768
#define ELEMENT_BLOCK         8192

/* tanh and the logistic function through SLEEF's vectorised functions;
 * glibc's tanhf/expf are scalar calls and cost more than LeNet-5's matrix
 * products. tanh within 3.5 ulp (measured worst 1.9e-7 relative): SLEEF's
 * 1-ulp tanh, which PyTorch uses, takes 3.6 ns per value here against 1.0. */
#if CR_X86
/* sleef.h declares its 256-bit functions only when the file is compiled for
 * AVX; the library is built for plain x86-64 and calls them from AVX2
 * functions. */
CR_TARGET_AVX2 __m256 Sleef_tanhf8_u35(__m256 x);
CR_TARGET_AVX2 __m256 Sleef_expf8_u10(__m256 x);
CR_TARGET_AVX2 __m256 Sleef_erff8_u10(__m256 x);

CR_TARGET_AVX2 static inline __m256 tanh8(__m256 x) {
    return Sleef_tanhf8_u35(x);
}

CR_TARGET_AVX2 static inline __m256 sigmoid8(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, Sleef_expf8_u10(_mm256_xor_ps(x, sign))));
}

/* y = f(x) eight at a time; the last few through a padded copy, so that
 * every value gets the same function (a scalar tail would differ by ulps
 * with the position of a value in its row). */
#define VECTOR_SPAN(f)                                                                             \
    do {                                                                                           \
        int64_t i = 0;                                                                             \
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, f(_mm256_loadu_ps(x + i)));             \
        if (i < n) {                                                                               \
            float tail[8] = {0};                                                                   \
            memcpy(tail, x + i, (size_t)(n - i) * sizeof *tail);                                   \
            _mm256_storeu_ps(tail, f(_mm256_loadu_ps(tail)));                                      \
            memcpy(y + i, tail, (size_t)(n - i) * sizeof *tail);                                   \
        }                                                                                          \
    } while (0)

/* x·σ(x) */
CR_TARGET_AVX2 static inline __m256 silu8(__m256 x) {
    return _mm256_mul_ps(x, sigmoid8(x));
}

/* x·Φ(x) = x/2·(1 + erf(x/√2)); SLEEF's erf is within 1 ulp. */
CR_TARGET_AVX2 static inline __m256 gelu8(__m256 x) {
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    __m256 erf = Sleef_erff8_u10(_mm256_mul_ps(x, _mm256_set1_ps((float)SQRT_HALF)));
    return _mm256_mul_ps(_mm256_mul_ps(half, x), _mm256_add_ps(one, erf));
}

CR_TARGET_AVX2 static void tanh_span_avx2(float *y, const float *x, int64_t n) {
    VECTOR_SPAN(tanh8);
}

CR_TARGET_AVX2 static void sigmoid_span_avx2(float *y, const float *x, int64_t n) {
    VECTOR_SPAN(sigmoid8);
}

CR_TARGET_AVX2 static void silu_span_avx2(float *y, const float *x, int64_t n) {
    VECTOR_SPAN(silu8);
}

CR_TARGET_AVX2 static void gelu_span_avx2(float *y, const float *x, int64_t n) {
    VECTOR_SPAN(gelu8);
}
#endif

/* The portable loops: SLEEF's scalar functions, same accuracy bound. */
static void tanh_span(float *y, const float *x, int64_t n) {
#if CR_X86
    if (cr_cpu_avx2()) {
        tanh_span_avx2(y, x, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) y[i] = Sleef_tanhf_u35(x[i]);
}

static void sigmoid_span(float *y, const float *x, int64_t n) {
#if CR_X86
    if (cr_cpu_avx2()) {
        sigmoid_span_avx2(y, x, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + Sleef_expf_u10(-x[i]));
}

static void silu_span(float *y, const float *x, int64_t n) {
#if CR_X86
    if (cr_cpu_avx2()) {
        silu_span_avx2(y, x, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + Sleef_expf_u10(-x[i]));
}

static void gelu_span(float *y, const float *x, int64_t n) {
#if CR_X86
    if (cr_cpu_avx2()) {
        gelu_span_avx2(y, x, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++)
        y[i] = 0.5f * x[i] * (1.0f + Sleef_erff_u10(x[i] * (float)SQRT_HALF));
}

static inline float relu6(float x) {
    return x < 0.0f ? 0.0f : x > 6.0f ? 6.0f : x;
}

static void activation_span(float *y, const float *x, int64_t n, cr_activation activation,
                            float param) {
    switch (activation) {
    case CR_ACT_NONE:
        if (y != x) memcpy(y, x, (size_t)n * sizeof *y);
        break;
    case CR_ACT_RELU:
        for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case CR_ACT_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : param * x[i];
        break;
    case CR_ACT_TANH:
        tanh_span(y, x, n);
        break;
    case CR_ACT_SIGMOID:
        sigmoid_span(y, x, n);
        break;
    case CR_ACT_RELU6:
        for (int64_t i = 0; i < n; i++) y[i] = relu6(x[i]);
        break;
    case CR_ACT_SILU:
        silu_span(y, x, n);
        break;
    case CR_ACT_GELU:
        gelu_span(y, x, n);
        break;
    case CR_ACT_ELU:
        for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : param * expm1f(x[i]);
        break;
    case CR_ACT_HARDSWISH:
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * relu6(x[i] + 3.0f) / 6.0f;
        break;
    case CR_ACT_HARDSIGMOID:
        for (int64_t i = 0; i < n; i++) y[i] = relu6(x[i] + 3.0f) / 6.0f;
        break;
    }
}

/* Whether an element-wise loop over n values gets a parallel region of its
 * own: only when large, and never inside another region. */
static bool split_elements(int64_t n) {
    return n >= PARALLEL_MIN_ELEMENTS && cr_threads() > 1 && !omp_in_parallel();
}

void cr_activation_apply(float *y, const float *x, int64_t n, cr_activation activation,
                         float param) {
    if (!split_elements(n)) {
        activation_span(y, x, n, activation, param);
        return;
    }
    int64_t blocks = (n + ELEMENT_BLOCK - 1) / ELEMENT_BLOCK;
#pragma omp parallel for schedule(static)
    for (int64_t block = 0; block < blocks; block++) {
        int64_t first = block * ELEMENT_BLOCK, count = n - first;
        if (count > ELEMENT_BLOCK) count = ELEMENT_BLOCK;
        activation_span(y + first, x + first, count, activation, param);
    }
}

void cr_activation_forward(float *y, int64_t n, cr_activation activation, float param) {
    if (activation != CR_ACT_NONE) cr_activation_apply(y, y, n, activation, param);
}

/* f'(z) from `at`: the output y = f(z), or z itself where
 * cr_activation_needs_input. Each case is PyTorch's backward rule, ties
 * included (relu6 and hardsigmoid pass the gradient strictly inside their
 * linear part, hardswish's middle part includes z = 3). */
static inline float derivative(float at, cr_activation activation, float param) {
    switch (activation) {
    case CR_ACT_NONE:
        return 1.0f;
    case CR_ACT_RELU:
        return at > 0.0f ? 1.0f : 0.0f;
    case CR_ACT_LEAKY_RELU: /* y > 0 exactly when z > 0 for a positive slope */
        return at > 0.0f ? 1.0f : param;
    case CR_ACT_TANH:
        return 1.0f - at * at;
    case CR_ACT_SIGMOID:
        return at * (1.0f - at);
    case CR_ACT_RELU6:
        return at > 0.0f && at < 6.0f ? 1.0f : 0.0f;
    case CR_ACT_ELU: /* α·eᶻ = y + α below 0 */
        return at > 0.0f ? 1.0f : at + param;
    case CR_ACT_HARDSIGMOID:
        return at > 0.0f && at < 1.0f ? 1.0f / 6.0f : 0.0f;
    case CR_ACT_SILU: {
        float sigma = 1.0f / (1.0f + Sleef_expf_u10(-at));
        return sigma * (1.0f + at * (1.0f - sigma));
    }
    case CR_ACT_GELU: /* Φ(z) + z·φ(z) */
        return 0.5f * (1.0f + Sleef_erff_u10(at * (float)SQRT_HALF)) +
               at * (float)INV_SQRT_TWO_PI * Sleef_expf_u10(-0.5f * at * at);
    case CR_ACT_HARDSWISH:
        return at < -3.0f ? 0.0f : at <= 3.0f ? at / 3.0f + 0.5f : 1.0f;
    }
    return 0.0f;
}

/* dz = dy ⊙ f'(z) (overwrite) or dz += dy ⊙ f'(z) (accumulate), from `at`. */
static void activation_backward_span(float *dz, const float *dy, const float *at, int64_t n,
                                     cr_activation activation, float param, bool accumulate) {
    switch (activation) {
    case CR_ACT_NONE:
        if (accumulate)
            for (int64_t i = 0; i < n; i++) dz[i] += dy[i];
        else if (dz != dy)
            memcpy(dz, dy, (size_t)n * sizeof *dz);
        return;
    case CR_ACT_RELU:
        /* The common case. dy is read whatever the sign, so the compiler
         * makes the select a mask: reading it only where at > 0 kept the
         * loop scalar with a branch that mispredicts on half the values
         * (6.4 ms instead of 0.9 for 2 M values, 15 % of a VGG-style step). */
        if (accumulate)
            for (int64_t i = 0; i < n; i++) {
                float gradient = dy[i];
                dz[i] += at[i] > 0.0f ? gradient : 0.0f;
            }
        else
            for (int64_t i = 0; i < n; i++) {
                float gradient = dy[i];
                dz[i] = at[i] > 0.0f ? gradient : 0.0f;
            }
        return;
    default:
        if (accumulate)
            for (int64_t i = 0; i < n; i++) dz[i] += dy[i] * derivative(at[i], activation, param);
        else
            for (int64_t i = 0; i < n; i++) dz[i] = dy[i] * derivative(at[i], activation, param);
    }
}

static void activation_backward(float *dz, const float *dy, const float *at, int64_t n,
                                cr_activation activation, float param, bool accumulate) {
    if (!split_elements(n)) {
        activation_backward_span(dz, dy, at, n, activation, param, accumulate);
        return;
    }
    int64_t blocks = (n + ELEMENT_BLOCK - 1) / ELEMENT_BLOCK;
#pragma omp parallel for schedule(static)
    for (int64_t block = 0; block < blocks; block++) {
        int64_t first = block * ELEMENT_BLOCK, count = n - first;
        if (count > ELEMENT_BLOCK) count = ELEMENT_BLOCK;
        activation_backward_span(dz + first, dy + first, at + first, count, activation, param,
                                 accumulate);
    }
}

void cr_activation_backward(float *dz, const float *dy, const float *at, int64_t n,
                            cr_activation activation, float param) {
    activation_backward(dz, dy, at, n, activation, param, false);
}

void cr_activation_backward_add(float *dx, const float *dy, const float *at, int64_t n,
                                cr_activation activation, float param) {
    activation_backward(dx, dy, at, n, activation, param, true);
}

/* relu6's kink at 6, hardswish's and hardsigmoid's at ±3 are far from the
 * small values a gradient check probes; elu with the fused α = 1 has a
 * continuous derivative at 0 (the elu layer marks other α itself). */
cr_kinks cr_activation_kinks(cr_activation activation) {
    return activation == CR_ACT_RELU || activation == CR_ACT_LEAKY_RELU ||
                   activation == CR_ACT_RELU6
               ? CR_KINKS_AT_ZERO
               : CR_SMOOTH;
}
