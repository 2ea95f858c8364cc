/* Helpers shared by the layer kinds' shape rules, and the activation
 * functions that several kinds fuse into their output. */
#include <immintrin.h>
#include <math.h>
#include <sleef.h>
#include <string.h>

#include "../layer.h"

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
                  int f, int p, int s, const char *what, int kernel_h, int kernel_w, int *out,
                  cr_warnings *warnings, cr_error *err) {
    cr_mark mark = cr_layer_key_mark(layer, key);
    int64_t span = (int64_t)n + 2 * (int64_t)p - f;
    int64_t size = span < 0 ? (span - s + 1) / s + 1 : span / s + 1; /* floor division */
    if (size < 1)
        return cr_fail(err, CR_ERR_INVALID, mark, layer->name,
                       "output %s (%d + 2·%d − %d)/%d + 1 = %lld < 1: input %d×%d×%d is smaller "
                       "than the %d×%d %s",
                       axis, n, p, f, s, (long long)size, in.c, in.h, in.w, kernel_h, kernel_w,
                       what);
    if (size > 1000000000)
        return cr_fail(err, CR_ERR_INVALID, mark, layer->name, "output %s %lld is too large", axis,
                       (long long)size);
    int64_t dropped = dropped_input_rows(n, f, p, s, size);
    if (dropped > 0) {
        bool rows = strcmp(axis, "height") == 0;
        const char *unit =
            rows ? (dropped == 1 ? "row" : "rows") : (dropped == 1 ? "column" : "columns");
        cr_warn(warnings, mark, layer->name,
                "%s: pixels dropped: the last %lld %s of the input (%s %d) %s never read: "
                "(%d + 2·%d − %d) = %lld is not divisible by stride %d",
                axis, (long long)dropped, unit, axis, n, dropped == 1 ? "is" : "are", n, p, f,
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
    p->trainable = trainable;
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

const char *cr_activation_name(cr_activation activation) {
    switch (activation) {
    case CR_ACT_NONE:
        return "none";
    case CR_ACT_RELU:
        return "relu";
    case CR_ACT_TANH:
        return "tanh";
    case CR_ACT_SIGMOID:
        return "sigmoid";
    case CR_ACT_LEAKY_RELU:
        return "leaky_relu";
    }
    return "?";
}

/* Element-wise loops over more values than this are split over the threads
 * (in blocks of ELEMENT_BLOCK); inside a parallel region (a conv chunk) they
 * run on the caller's thread. */
#define PARALLEL_MIN_ELEMENTS 32768
#define ELEMENT_BLOCK         8192

/* tanh and the logistic function through SLEEF's vectorised functions;
 * glibc's tanhf/expf are scalar calls and cost more than LeNet-5's matrix
 * products. tanh within 3.5 ulp (measured worst 1.9e-7 relative): SLEEF's
 * 1-ulp tanh, which PyTorch uses, takes 3.6 ns per value here against 1.0. */
#ifdef __AVX2__
static inline __m256 tanh8(__m256 x) {
    return Sleef_tanhf8_u35(x);
}

static inline __m256 sigmoid8(__m256 x) {
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

static void tanh_span(float *y, const float *x, int64_t n) {
    VECTOR_SPAN(tanh8);
}

static void sigmoid_span(float *y, const float *x, int64_t n) {
    VECTOR_SPAN(sigmoid8);
}
#else
static void tanh_span(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = Sleef_tanhf_u35(x[i]);
}

static void sigmoid_span(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + Sleef_expf_u10(-x[i]));
}
#endif

static void activation_span(float *y, const float *x, int64_t n, cr_activation activation,
                            float slope) {
    switch (activation) {
    case CR_ACT_NONE:
        if (y != x) memcpy(y, x, (size_t)n * sizeof *y);
        break;
    case CR_ACT_RELU:
        for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case CR_ACT_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : slope * x[i];
        break;
    case CR_ACT_TANH:
        tanh_span(y, x, n);
        break;
    case CR_ACT_SIGMOID:
        sigmoid_span(y, x, n);
        break;
    }
}

void cr_activation_apply(float *y, const float *x, int64_t n, cr_activation activation,
                         float slope) {
    int64_t blocks = (n + ELEMENT_BLOCK - 1) / ELEMENT_BLOCK;
#pragma omp parallel for if (n >= PARALLEL_MIN_ELEMENTS) schedule(static)
    for (int64_t block = 0; block < blocks; block++) {
        int64_t first = block * ELEMENT_BLOCK, count = n - first;
        if (count > ELEMENT_BLOCK) count = ELEMENT_BLOCK;
        activation_span(y + first, x + first, count, activation, slope);
    }
}

void cr_activation_forward(float *y, int64_t n, cr_activation activation, float slope) {
    if (activation != CR_ACT_NONE) cr_activation_apply(y, y, n, activation, slope);
}

/* dz = dy ⊙ f'(z) (overwrite) or dz += dy ⊙ f'(z) (accumulate), from y = f(z). */
static void activation_backward_span(float *dz, const float *dy, const float *y, int64_t n,
                                     cr_activation activation, float slope, bool accumulate) {
    switch (activation) {
    case CR_ACT_NONE:
        if (accumulate)
            for (int64_t i = 0; i < n; i++) dz[i] += dy[i];
        else if (dz != dy)
            memcpy(dz, dy, (size_t)n * sizeof *dz);
        break;
    case CR_ACT_RELU:
        if (accumulate)
            for (int64_t i = 0; i < n; i++) dz[i] += y[i] > 0.0f ? dy[i] : 0.0f;
        else
            for (int64_t i = 0; i < n; i++) dz[i] = y[i] > 0.0f ? dy[i] : 0.0f;
        break;
    case CR_ACT_LEAKY_RELU:
        /* y > 0 exactly when z > 0 for a positive slope. */
        if (accumulate)
            for (int64_t i = 0; i < n; i++) dz[i] += y[i] > 0.0f ? dy[i] : slope * dy[i];
        else
            for (int64_t i = 0; i < n; i++) dz[i] = y[i] > 0.0f ? dy[i] : slope * dy[i];
        break;
    case CR_ACT_TANH:
        if (accumulate)
            for (int64_t i = 0; i < n; i++) dz[i] += dy[i] * (1.0f - y[i] * y[i]);
        else
            for (int64_t i = 0; i < n; i++) dz[i] = dy[i] * (1.0f - y[i] * y[i]);
        break;
    case CR_ACT_SIGMOID:
        if (accumulate)
            for (int64_t i = 0; i < n; i++) dz[i] += dy[i] * y[i] * (1.0f - y[i]);
        else
            for (int64_t i = 0; i < n; i++) dz[i] = dy[i] * y[i] * (1.0f - y[i]);
        break;
    }
}

static void activation_backward(float *dz, const float *dy, const float *y, int64_t n,
                                cr_activation activation, float slope, bool accumulate) {
    int64_t blocks = (n + ELEMENT_BLOCK - 1) / ELEMENT_BLOCK;
#pragma omp parallel for if (n >= PARALLEL_MIN_ELEMENTS) schedule(static)
    for (int64_t block = 0; block < blocks; block++) {
        int64_t first = block * ELEMENT_BLOCK, count = n - first;
        if (count > ELEMENT_BLOCK) count = ELEMENT_BLOCK;
        activation_backward_span(dz + first, dy + first, y + first, count, activation, slope,
                                 accumulate);
    }
}

void cr_activation_backward(float *dz, const float *dy, const float *y, int64_t n,
                            cr_activation activation, float slope) {
    activation_backward(dz, dy, y, n, activation, slope, false);
}

void cr_activation_backward_add(float *dx, const float *dy, const float *y, int64_t n,
                                cr_activation activation, float slope) {
    activation_backward(dx, dy, y, n, activation, slope, true);
}

cr_kinks cr_activation_kinks(cr_activation activation) {
    return activation == CR_ACT_RELU || activation == CR_ACT_LEAKY_RELU ? CR_KINKS_AT_ZERO
                                                                        : CR_SMOOTH;
}
