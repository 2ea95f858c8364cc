#include "gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "random.h"

typedef struct probe {
    cr_net *net;
    const cr_model *model;
    bool cross_entropy;
    int *labels;
    float *projection; /* [batch * output size] for the projection loss */
    int64_t output_size;
    uint64_t dropout_state; /* reset before every forward: the same masks each time */
    uint64_t base_pattern;  /* kink_pattern at the unperturbed point */
} probe;

/* A hash of which side of every kink each value is on: the sign of relu-like
 * outputs and the winner of every max-pool window. Two points with the same
 * pattern lie in one region where the loss is smooth. */
static uint64_t kink_pattern(probe *p) {
    uint64_t hash = 1469598103934665603ULL;
    int batch = cr_net_batch(p->net);
    for (int i = 0; i < p->model->n_layers; i++) {
        const cr_layer *layer = &p->model->layers[i];
        int64_t n = batch * cr_shape_size(layer->out);
        if (layer->kinks == CR_KINKS_AT_ZERO) {
            const float *y = cr_net_layer_output(p->net, i);
            for (int64_t j = 0; j < n; j++) hash = (hash ^ (y[j] > 0.0f)) * 1099511628211ULL;
        } else if (layer->kinks == CR_KINKS_ARGMAX) {
            const int32_t *winner = (const int32_t *)cr_net_layer_saved(p->net, i);
            for (int64_t j = 0; j < n; j++) hash = (hash ^ (uint32_t)winner[j]) * 1099511628211ULL;
        }
    }
    return hash;
}

static double loss_value(probe *p) {
    cr_net_set_rng_state(p->net, p->dropout_state);
    cr_net_forward(p->net, true);
    if (p->cross_entropy) return cr_net_cross_entropy(p->net, p->labels);
    const float *y = cr_net_output(p->net);
    double sum = 0.0;
    for (int64_t i = 0; i < p->output_size; i++) sum += (double)p->projection[i] * y[i];
    return sum;
}

static void analytic_gradients(probe *p) {
    loss_value(p);
    if (!p->cross_entropy)
        memcpy(cr_net_output_grad(p->net), p->projection, (size_t)p->output_size * sizeof(float));
    cr_net_backward(p->net);
}

/* A perturbation: ±1 on a few elements of one tensor (one element for an
 * element check). Sparse, so that a step can avoid every kink in a relu
 * network and so that probing a 16M-element tensor costs no more than a
 * small one. */
#define MAX_MOVED 32

typedef struct perturbation {
    int moved;
    int64_t index[MAX_MOVED];
    float sign[MAX_MOVED];
} perturbation;

/* d loss / d t along `v`, by central differences at steps h and h/2;
 * *disagreement is how far the two differ relative to their size, *crossed
 * whether any evaluation changed the kink pattern. */
static double directional(probe *p, float *data, const perturbation *v, double h,
                          double *disagreement, bool *crossed) {
    float original[MAX_MOVED];
    for (int k = 0; k < v->moved; k++) original[k] = data[v->index[k]];
    double d[2];
    *crossed = false;
    for (int level = 0; level < 2; level++) {
        double step = level == 0 ? h : h / 2;
        double sides[2];
        for (int side = 0; side < 2; side++) {
            double sign = side == 0 ? 1.0 : -1.0;
            for (int k = 0; k < v->moved; k++)
                data[v->index[k]] = (float)(original[k] + sign * step * v->sign[k]);
            sides[side] = loss_value(p);
            if (kink_pattern(p) != p->base_pattern) *crossed = true;
        }
        for (int k = 0; k < v->moved; k++) data[v->index[k]] = original[k];
        d[level] = (sides[0] - sides[1]) / (2 * step);
    }
    double scale = fmax(fabs(d[0]), fabs(d[1]));
    *disagreement = scale > 0 ? fabs(d[0] - d[1]) / scale : 0.0;
    return (4 * d[1] - d[0]) / 3; /* Richardson: the h² terms cancel */
}

typedef struct tensor_ref {
    const char *name;
    const char *kind;
    float *data;
    const float *grad; /* analytic, copied */
    int64_t count;
} tensor_ref;

#define MAX_SAMPLES    64
#define MAX_DIRECTIONS 16

static bool contains(const int64_t *list, int n, int64_t value) {
    for (int i = 0; i < n; i++)
        if (list[i] == value) return true;
    return false;
}

/* A random element not in `taken` (count must exceed n_taken). */
static int64_t fresh_index(uint64_t *rng, int64_t count, const int64_t *taken, int n_taken) {
    for (;;) {
        int64_t index = (int64_t)cr_random_below(rng, (uint64_t)count);
        if (!contains(taken, n_taken, index)) return index;
    }
}

/* A step is usable when it crosses no kink (the kink pattern is the same at
 * both ends) and the loss is smooth along it: steps h and h/2 then agree to
 * O(h²) (about 1e-4 here) and Richardson extrapolation is exact to O(h⁴).
 * Both tests depend only on the loss, not on the gradient under test, so
 * refusing a step cannot hide a wrong gradient. Crossings become rarer as the
 * step shrinks: try h, h/4, h/16, h/64. Several elements moved at once make
 * one element's kink a smaller disagreement: a stricter threshold then. */
static bool smooth_estimate(probe *p, const tensor_ref *t, const perturbation *v, double h,
                            double *numeric, double *step) {
    double threshold = v->moved > 1 ? 1e-3 : 2e-3;
    for (int level = 0; level < 4; level++, h /= 4) {
        double disagreement;
        bool crossed;
        *numeric = directional(p, t->data, v, h, &disagreement, &crossed);
        *step = h;
        if (!crossed && disagreement <= threshold) return true;
    }
    return false;
}

/* Element probes first (the largest gradient, then random others, or every
 * element of a small tensor), then two multi-element directions. */
static void next_perturbation(const tensor_ref *t, int sample, int wanted, int64_t largest_at,
                              int64_t *tried, int *n_tried, uint64_t *rng, perturbation *v) {
    if (sample >= wanted) {
        v->moved = t->count < MAX_MOVED ? (int)t->count : MAX_MOVED;
        for (int k = 0; k < v->moved; k++) {
            v->index[k] = v->moved == t->count ? k : fresh_index(rng, t->count, v->index, k);
            v->sign[k] = cr_random_uniform(rng) < 0.5f ? -1.0f : 1.0f;
        }
        return;
    }
    v->moved = 1;
    v->sign[0] = 1.0f;
    if (wanted == t->count)
        v->index[0] = sample; /* small tensor: every element */
    else if (*n_tried == 0)
        v->index[0] = largest_at;
    else
        v->index[0] = fresh_index(rng, t->count, tried, *n_tried);
    tried[(*n_tried)++] = v->index[0];
}

static void check_tensor(probe *p, const tensor_ref *t, const cr_gradcheck_options *o,
                         uint64_t *rng, double base_loss, cr_gradcheck_result *r) {
    snprintf(r->name, sizeof r->name, "%s", t->name);
    snprintf(r->kind, sizeof r->kind, "%s", t->kind);
    r->count = t->count;

    double sum_squares = 0.0, largest_grad = 0.0;
    int64_t largest_at = 0;
    for (int64_t i = 0; i < t->count; i++) {
        sum_squares += (double)t->data[i] * t->data[i];
        if (fabs(t->grad[i]) > largest_grad) {
            largest_grad = fabs(t->grad[i]);
            largest_at = i;
        }
    }
    double h = fmax(0.05 * sqrt(sum_squares / (double)t->count), 1e-3);

    int wanted = o->samples < t->count ? o->samples : (int)t->count;
    if (wanted > MAX_SAMPLES) wanted = MAX_SAMPLES;
    cr_gradcheck_options clamped = *o;
    if (clamped.directions > MAX_DIRECTIONS) clamped.directions = MAX_DIRECTIONS;
    o = &clamped;
    int64_t tried[MAX_SAMPLES * 3 + 3 * MAX_DIRECTIONS];
    int n_tried = 0;
    for (int sample = 0, attempts = 0;
         sample < wanted + o->directions && attempts < 3 * (wanted + o->directions); attempts++) {
        bool element = sample < wanted;
        if (element && wanted < t->count && n_tried >= t->count - 1) {
            sample = wanted; /* every element tried: on to the directions */
            continue;
        }
        perturbation v;
        next_perturbation(t, sample, wanted, largest_at, tried, &n_tried, rng, &v);
        double analytic = 0.0;
        for (int k = 0; k < v.moved; k++) analytic += (double)t->grad[v.index[k]] * v.sign[k];

        double numeric, step;
        if (!smooth_estimate(p, t, &v, h, &numeric, &step)) {
            r->skipped++; /* kinks even at the shortest step: draw another point */
            if (wanted == t->count && element) sample++; /* or move to the next */
            continue;
        }
        /* The loss is float32 underneath: a step must change it by enough
         * units in the last place that their rounding is small against the
         * change (1e-5 relative is about 100 ulps), or the difference
         * measures rounding, not the gradient. Such a point is skipped. */
        double magnitude = fmax(fabs(numeric), fabs(analytic));
        if (2 * step * magnitude < 1e-5 * (fabs(base_loss) + 1.0) && magnitude > 0) {
            r->skipped++;
            if (wanted == t->count && element) sample++;
            continue;
        }
        double floor = 1e-2 * largest_grad * sqrt((double)v.moved);
        double scale = fmax(magnitude, floor);
        double error = scale > 0 ? fabs(numeric - analytic) / scale : 0.0;
        if (error > r->worst) r->worst = error;
        r->checked++;
        sample++;
    }
    /* A tensor whose every probe crossed a kink or drowned in float32
     * noise (a conv bias before a batchnorm, which subtracts it out) is
     * reported unchecked
     * (checked == 0), not failed: nothing says its gradient is wrong. */
    r->passed = r->worst <= o->tolerance;
}

int cr_gradcheck(const cr_model *model, const cr_gradcheck_options *options,
                 cr_gradcheck_result **results, int *n_results, cr_error *err) {
    *results = NULL;
    *n_results = 0;
    cr_net *net;
    /* The fused training path is the one `cnnrun train` runs: check it. The
     * kink pattern reads activations' outputs, which fusion still writes. */
    cr_net_options net_options = {
        .seed = options->seed, .training = true, .input_grad = true, .fuse_training = true};
    if (cr_net_create(model, options->batch, &net_options, &net, err)) return 1;

    uint64_t rng = options->seed * 0x9E3779B97F4A7C15ULL + 12345;
    probe p = {.net = net, .model = model};
    const cr_layer *output = &model->layers[model->output];
    p.cross_entropy = output->kind->outputs_probabilities;
    p.output_size = options->batch * cr_shape_size(output->out);
    p.labels = malloc((size_t)options->batch * sizeof *p.labels);
    p.projection = malloc((size_t)p.output_size * sizeof *p.projection);
    int n_params = cr_net_param_count(net);
    tensor_ref *tensors = calloc((size_t)n_params + 1, sizeof *tensors);
    float *grads = NULL;
    int64_t input_count = options->batch * cr_shape_size(model->input);
    int status = 0;
    if (!p.labels || !p.projection || !tensors) {
        status = cr_fail(err, CR_ERR_RUNTIME, (cr_mark){0}, NULL, "out of memory");
        goto out;
    }
    for (int n = 0; n < options->batch; n++)
        p.labels[n] = (int)cr_random_below(&rng, (uint64_t)cr_shape_size(output->out));
    for (int64_t i = 0; i < p.output_size; i++)
        p.projection[i] = 2.0f * cr_random_uniform(&rng) - 1.0f;
    float *input = cr_net_input(net);
    for (int64_t i = 0; i < input_count; i++) input[i] = 2.0f * cr_random_uniform(&rng) - 1.0f;
    p.dropout_state = cr_net_rng_state(net);

    analytic_gradients(&p);
    double base_loss = loss_value(&p);
    p.base_pattern = kink_pattern(&p);

    /* Copy the analytic gradients: the probes below overwrite nothing of
     * theirs, but keeping them apart makes that independent of the runtime. */
    int n = 0;
    int64_t total = input_count;
    for (int i = 0; i < n_params; i++) {
        cr_tensor t = cr_net_param(net, i);
        if (t.grad) total += t.count;
    }
    grads = malloc((size_t)total * sizeof *grads);
    if (!grads) {
        status = cr_fail(err, CR_ERR_RUNTIME, (cr_mark){0}, NULL, "out of memory");
        goto out;
    }
    int64_t offset = 0;
    int stride = options->tensor_stride > 1 ? options->tensor_stride : 1;
    for (int i = 0, trainable = 0; i < n_params; i++) {
        cr_tensor t = cr_net_param(net, i);
        if (!t.grad || trainable++ % stride != 0) continue;
        memcpy(grads + offset, t.grad, (size_t)t.count * sizeof *grads);
        const char *dot = strrchr(t.name, '.');
        char layer_name[160];
        snprintf(layer_name, sizeof layer_name, "%.*s", (int)(dot - t.name), t.name);
        int layer = cr_model_find_layer(model, layer_name);
        tensors[n++] = (tensor_ref){t.name, layer >= 0 ? model->layers[layer].kind->name : "?",
                                    t.data, grads + offset, t.count};
        offset += t.count;
    }
    memcpy(grads + offset, cr_net_input_grad(net), (size_t)input_count * sizeof *grads);
    tensors[n++] = (tensor_ref){"input", "input", input, grads + offset, input_count};

    *results = calloc((size_t)n, sizeof **results);
    if (!*results) {
        status = cr_fail(err, CR_ERR_RUNTIME, (cr_mark){0}, NULL, "out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++)
        check_tensor(&p, &tensors[i], options, &rng, base_loss, &(*results)[i]);
    *n_results = n;
out:
    free(grads);
    free(tensors);
    free(p.labels);
    free(p.projection);
    cr_net_free(net);
    return status;
}
