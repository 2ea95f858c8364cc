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
} probe;

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

/* d loss / d t along `direction` (NULL: the single element `index`), by
 * central differences at steps h and h/2; *disagreement is how far the two
 * differ relative to their size (large at a kink). */
static double directional(probe *p, float *data, int64_t count, int64_t index,
                          const float *direction, float *backup, double h, double *disagreement) {
    double d[2];
    for (int k = 0; k < 2; k++) {
        double step = k == 0 ? h : h / 2;
        double sides[2];
        for (int side = 0; side < 2; side++) {
            double sign = side == 0 ? 1.0 : -1.0;
            if (direction)
                for (int64_t i = 0; i < count; i++)
                    data[i] = (float)(backup[i] + sign * step * direction[i]);
            else
                data[index] = (float)(backup[index] + sign * step);
            sides[side] = loss_value(p);
        }
        if (direction)
            memcpy(data, backup, (size_t)count * sizeof *data);
        else
            data[index] = backup[index];
        d[k] = (sides[0] - sides[1]) / (2 * step);
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

static void check_tensor(probe *p, const tensor_ref *t, const cr_gradcheck_options *o,
                         uint64_t *rng, double base_loss, cr_gradcheck_result *r) {
    snprintf(r->name, sizeof r->name, "%s", t->name);
    snprintf(r->kind, sizeof r->kind, "%s", t->kind);
    r->count = t->count;
    float *backup = malloc((size_t)t->count * sizeof *backup);
    float *direction = malloc((size_t)t->count * sizeof *direction);
    if (!backup || !direction) {
        free(backup);
        free(direction);
        r->worst = INFINITY;
        return;
    }
    memcpy(backup, t->data, (size_t)t->count * sizeof *backup);

    double sum_squares = 0.0, largest_grad = 0.0;
    int64_t largest_at = 0;
    for (int64_t i = 0; i < t->count; i++) {
        sum_squares += (double)backup[i] * backup[i];
        if (fabs(t->grad[i]) > largest_grad) {
            largest_grad = fabs(t->grad[i]);
            largest_at = i;
        }
    }
    double rms = sqrt(sum_squares / (double)t->count);
    double h = fmax(0.05 * rms, 1e-3);
    /* Below this, a difference is float32 rounding in the loss, not a wrong
     * gradient: the loss carries ~1e-7 relative error, divided by 2h. */
    double noise = 1e-6 * (fabs(base_loss) + 1.0) / h;
    double floor = fmax(1e-2 * largest_grad, noise);

    int wanted = o->samples < (int)t->count ? o->samples : (int)t->count;
    int attempts = 0;
    bool largest_on_kink = false;
    for (int sample = 0; sample < wanted + 2 && attempts < 4 * (wanted + 2); attempts++) {
        bool along_direction = sample >= wanted;
        int64_t index = 0;
        double analytic = 0.0;
        if (along_direction) {
            for (int64_t i = 0; i < t->count; i++) {
                direction[i] = cr_random_uniform(rng) < 0.5f ? -1.0f : 1.0f;
                analytic += (double)t->grad[i] * direction[i];
            }
        } else {
            if (wanted == t->count)
                index = sample; /* small tensor: every element */
            else if (sample == 0 && !largest_on_kink)
                index = largest_at;
            else
                index = (int64_t)cr_random_below(rng, (uint64_t)t->count);
            analytic = t->grad[index];
        }
        double disagreement;
        /* A direction moves every element at once; a shorter step keeps most
         * of them from crossing a kink. */
        double numeric =
            directional(p, t->data, t->count, index, along_direction ? direction : NULL, backup,
                        along_direction ? h / 8 : h, &disagreement);
        double direction_floor = along_direction ? floor * sqrt((double)t->count) : floor;
        double scale = fmax(fmax(fabs(numeric), fabs(analytic)), direction_floor);
        double error = fabs(numeric - analytic) / scale;
        /* Where the loss is smooth the two step sizes agree to O(h²) (about
         * 1e-4 here); a kink within the step breaks that. The disagreement
         * depends only on the loss, not on the gradient under test, so
         * skipping such points cannot hide a wrong gradient. A direction moves
         * every element, so one crossing shows as a smaller disagreement. */
        double kink_threshold = along_direction ? 0.002 : 0.01;
        if (disagreement > kink_threshold) {
            r->skipped++; /* a kink within h: draw another point */
            if (sample == 0 && !along_direction) largest_on_kink = true;
            if (wanted == t->count && !along_direction) sample++; /* or move to the next */
            continue;
        }
        if (error > r->worst) r->worst = error;
        r->checked++;
        sample++;
    }
    r->passed = r->checked > 0 && r->worst <= o->tolerance;
    free(backup);
    free(direction);
}

int cr_gradcheck(const cr_model *model, const cr_gradcheck_options *options,
                 cr_gradcheck_result **results, int *n_results, cr_error *err) {
    *results = NULL;
    *n_results = 0;
    cr_net *net;
    cr_net_options net_options = {.seed = options->seed, .training = true, .input_grad = true};
    if (cr_net_create(model, options->batch, &net_options, &net, err)) return 1;

    uint64_t rng = options->seed * 0x9E3779B97F4A7C15ULL + 12345;
    probe p = {.net = net, .model = model};
    const cr_layer *output = &model->layers[model->output];
    p.cross_entropy = strcmp(output->kind->name, "softmax") == 0;
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
    for (int i = 0; i < n_params; i++) {
        cr_tensor t = cr_net_param(net, i);
        if (!t.grad) continue;
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
