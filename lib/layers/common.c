/* Helpers shared by the layer kinds' shape rules, and the activation
 * functions that several kinds fuse into their output. */
#include <math.h>
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
    int64_t dropped = span % s;
    if (dropped > 0)
        cr_warn(warnings, mark, layer->name,
                "%s: (%d + 2·%d − %d) = %lld is not divisible by stride %d, so the last %lld "
                "%s of the padded input %s never covered",
                axis, n, p, f, (long long)span, s, (long long)dropped,
                strcmp(axis, "height") == 0 ? (dropped == 1 ? "row" : "rows")
                                            : (dropped == 1 ? "column" : "columns"),
                dropped == 1 ? "is" : "are");
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

void cr_activation_forward(float *y, int64_t n, cr_activation activation, float slope) {
    switch (activation) {
    case CR_ACT_NONE:
        break;
    case CR_ACT_RELU:
        for (int64_t i = 0; i < n; i++) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
        break;
    case CR_ACT_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++) y[i] = y[i] > 0.0f ? y[i] : slope * y[i];
        break;
    case CR_ACT_TANH:
        for (int64_t i = 0; i < n; i++) y[i] = tanhf(y[i]);
        break;
    case CR_ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-y[i]));
        break;
    }
}

void cr_activation_backward(float *dz, const float *dy, const float *y, int64_t n,
                            cr_activation activation, float slope) {
    switch (activation) {
    case CR_ACT_NONE:
        if (dz != dy) memcpy(dz, dy, (size_t)n * sizeof *dz);
        break;
    case CR_ACT_RELU:
        for (int64_t i = 0; i < n; i++) dz[i] = y[i] > 0.0f ? dy[i] : 0.0f;
        break;
    case CR_ACT_LEAKY_RELU:
        /* y > 0 exactly when z > 0 for a positive slope. */
        for (int64_t i = 0; i < n; i++) dz[i] = y[i] > 0.0f ? dy[i] : slope * dy[i];
        break;
    case CR_ACT_TANH:
        for (int64_t i = 0; i < n; i++) dz[i] = dy[i] * (1.0f - y[i] * y[i]);
        break;
    case CR_ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++) dz[i] = dy[i] * y[i] * (1.0f - y[i]);
        break;
    }
}

cr_kinks cr_activation_kinks(cr_activation activation) {
    return activation == CR_ACT_RELU || activation == CR_ACT_LEAKY_RELU ? CR_KINKS_AT_ZERO
                                                                        : CR_SMOOTH;
}
