/* The runtime: a checked model plus every buffer it needs for a batch size,
 * planned and allocated once in cr_net_create. Forward and backward walk the
 * layers in execution order and call each kind's functions from the table;
 * they allocate nothing.
 *
 * Memory layout:
 *   params:  trainable parameters first (one contiguous block, mirrored by
 *            grads), then frozen parameters and buffers;
 *   arena:   input, then per layer: output, output gradient, saved; then the
 *            shared workspace. Every piece starts on a 64-byte boundary. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cnnrun.h"
#include "freeze.h"
#include "loss.h"
#include "model.h"
#include "run_limits.h"
#include "parallel.h"
#include "planned_memory.h"
#include "random.h"

#define ALIGN_FLOATS 16 /* 64 bytes */

typedef struct layer_state {
    float *y, *dy, *saved;
    float *constants; /* inference nets: the layer's eval_constants, or NULL */
    float *param[CR_MAX_PARAMS];
    float *dparam[CR_MAX_PARAMS];
    /* Pointers handed to the kind's functions, fixed at creation. */
    const float **x;
    float **dx;
    cr_shape *in_shapes;
    /* Backward overwrites dx[0] (its only reader, of a kind that can), so
     * nothing zeroes that gradient first. */
    bool dx_assign;
    bool dy_assigned; /* ... and this layer's dy is such a gradient */
} layer_state;

typedef struct param_entry {
    int layer, index;
    char *name;
} param_entry;

struct cr_net {
    const cr_model *model;
    int max_batch, batch;
    int threads; /* planned per-thread scratch for this many */
    bool training_planned;
    layer_state *layers;

    float *params; /* [param_floats] */
    float *grads;  /* [trainable_floats] */
    int64_t param_floats, trainable_floats;
    int n_entries;
    param_entry *entries;

    float *arena;
    int64_t arena_floats;
    /* Inference nets: every layer's eval_constants in one block. Ready: they
     * (and fused batchnorms' affine maps) match the parameters; cleared by
     * anything that may change them (cr_net_params_changed). */
    float *constants;
    bool constants_ready;
    float *input, *dinput, *workspace;
    bool dinput_assigned;
    /* Per layer, the layer whose backward first writes its output gradient
     * (n_layers: before backward), when it must be zeroed: gradients share
     * memory (cr_model_plan_gradients). */
    int *gradient_born;
    /* Per layer: whether backward must run it (its output gradient is
     * wanted: plan_backward). */
    bool *backward_wanted;
    /* fuse_inference: per layer, the last layer of the conv → batchnorm
     * (→ relu) chain it starts, or -1. */
    int *chain_end;

    /* Set by a loss fused with the output layer (cr_net_loss_grad): the
     * output gradient holds d(loss)/d(logits), the output layer's input, and
     * backward skips that layer. */
    bool output_grad_is_logits;
    uint64_t rng_state;
    int64_t allocated_bytes;
    bool last_forward_training; /* backward runs in the mode of the last forward */
    /* Per-layer time sums of cr_net_set_layer_times; NULL: off. */
    double *forward_seconds, *backward_seconds;
};

static int64_t round_up(int64_t floats) {
    return (floats + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
}

static int out_of_memory(cr_error *err, int64_t bytes) {
    return cr_fail(err, CR_ERR_RUNTIME, (cr_mark){0}, NULL,
                   "out of memory: could not allocate %.1f MiB", (double)bytes / (1 << 20));
}

/* ---- initialisation ---------------------------------------------------------- */

static void init_param(float *data, const cr_param *param, uint64_t *rng) {
    switch (param->init) {
    case CR_INIT_UNIFORM_FAN_IN: {
        /* kaiming_uniform(a = sqrt(5)) gives bound = 1/sqrt(fan_in), and so
         * does PyTorch's bias rule: one formula for both. */
        float bound = param->fan_in > 0 ? 1.0f / sqrtf((float)param->fan_in) : 0.0f;
        for (int64_t i = 0; i < param->count; i++)
            data[i] = (2.0f * cr_random_uniform(rng) - 1.0f) * bound;
        break;
    }
    case CR_INIT_ONES:
        for (int64_t i = 0; i < param->count; i++) data[i] = 1.0f;
        break;
    case CR_INIT_ZEROS:
        memset(data, 0, (size_t)param->count * sizeof *data);
        break;
    case CR_INIT_VALUES:
        memcpy(data, param->values->data, (size_t)param->count * sizeof *data);
        break;
    case CR_INIT_CONSTANT:
        for (int64_t i = 0; i < param->count; i++) data[i] = param->constant;
        break;
    }
}

static int plan_params(cr_net *net, uint64_t seed, cr_error *err) {
    const cr_model *model = net->model;
    for (int i = 0; i < model->n_layers; i++)
        for (int p = 0; p < model->layers[i].n_params; p++) {
            const cr_param *param = &model->layers[i].params[p];
            if (param->trainable && !param->is_buffer) net->trainable_floats += param->count;
            net->param_floats += param->count;
            net->n_entries++;
        }
    net->params = cr_planned_floats(net->param_floats);
    net->grads = net->training_planned ? cr_planned_floats(net->trainable_floats) : NULL;
    net->entries = calloc((size_t)(net->n_entries ? net->n_entries : 1), sizeof *net->entries);
    if (!net->params || (net->training_planned && !net->grads) || !net->entries)
        return out_of_memory(err, net->param_floats * 8);
    net->allocated_bytes += round_up(net->param_floats) * 4;
    if (net->grads) net->allocated_bytes += round_up(net->trainable_floats) * 4;

    int64_t trainable_offset = 0, other_offset = net->trainable_floats;
    uint64_t rng = seed;
    int entry = 0;
    for (int i = 0; i < model->n_layers; i++) {
        const cr_layer *layer = &model->layers[i];
        for (int p = 0; p < layer->n_params; p++) {
            const cr_param *param = &layer->params[p];
            bool trainable = param->trainable && !param->is_buffer;
            int64_t offset = trainable ? trainable_offset : other_offset;
            net->layers[i].param[p] = net->params + offset;
            net->layers[i].dparam[p] = trainable && net->grads ? net->grads + offset : NULL;
            if (trainable)
                trainable_offset += param->count;
            else
                other_offset += param->count;
            init_param(net->layers[i].param[p], param, &rng);

            size_t length = strlen(layer->name) + strlen(param->suffix) + 2;
            char *name = malloc(length);
            if (!name) return out_of_memory(err, (int64_t)length);
            snprintf(name, length, "%s.%s", layer->name, param->suffix);
            net->entries[entry++] = (param_entry){i, p, name};
        }
    }
    return 0;
}

/* ---- planning ----------------------------------------------------------------- */

static int plan_arena(cr_net *net, cr_error *err, bool input_grad) {
    const cr_model *model = net->model;
    int64_t batch = net->max_batch, offset = 0, workspace = 0;
    /* Offsets first (input, input gradient, then output, gradient and saved
     * per layer; -1 for a buffer not planned), pointers once the one arena
     * exists. */
    int64_t *offsets = malloc((size_t)(3 * model->n_layers + 2) * sizeof *offsets);
    int64_t *gradient_offsets = malloc((size_t)(model->n_layers + 1) * sizeof *gradient_offsets);
    net->gradient_born = malloc((size_t)(model->n_layers + 1) * sizeof *net->gradient_born);
    if (!offsets || !gradient_offsets || !net->gradient_born) {
        free(offsets);
        free(gradient_offsets);
        return out_of_memory(err, 0);
    }
    int64_t gradients_offset = -1;
    offsets[0] = offset;
    offset += round_up(batch * cr_shape_size(model->input));
    offsets[1] = -1;
    if (input_grad) {
        offsets[1] = offset;
        offset += round_up(batch * cr_shape_size(model->input));
    }
    if (net->training_planned) {
        gradients_offset = offset;
        offset += cr_model_plan_gradients(model, batch, gradient_offsets, net->gradient_born);
    }
    for (int i = 0; i < model->n_layers; i++) {
        const cr_layer *layer = &model->layers[i];
        int64_t size = batch * cr_shape_size(layer->out);
        offsets[2 + 3 * i] = offset;
        offset += round_up(size);
        offsets[3 + 3 * i] = gradients_offset >= 0 ? gradients_offset + gradient_offsets[i] : -1;
        /* Saved tensors exist in inference too: forward may always write them. */
        offsets[4 + 3 * i] = offset;
        offset += round_up(layer->saved_fixed + layer->saved_per_image * batch);
        int64_t scratch = cr_layer_workspace_floats(layer, batch, net->threads);
        if (scratch > workspace) workspace = scratch;
    }
    int64_t workspace_offset = offset;
    offset += round_up(workspace);
    net->arena_floats = offset;
    net->arena = cr_planned_floats(offset);
    free(gradient_offsets);
    if (!net->arena) {
        free(offsets);
        return out_of_memory(err, offset * 4);
    }
    net->allocated_bytes += offset * 4;
    net->input = net->arena + offsets[0];
    net->dinput = offsets[1] >= 0 ? net->arena + offsets[1] : NULL;
    net->workspace = net->arena + workspace_offset;
    for (int i = 0; i < model->n_layers; i++) {
        layer_state *state = &net->layers[i];
        state->y = net->arena + offsets[2 + 3 * i];
        state->dy = offsets[3 + 3 * i] >= 0 ? net->arena + offsets[3 + 3 * i] : NULL;
        state->saved = net->arena + offsets[4 + 3 * i];
    }
    free(offsets);
    return 0;
}

/* How many layer inputs read layer `from`'s output (-1: the network input). */
static int readers(const cr_model *model, int from) {
    int count = 0;
    for (int i = 0; i < model->n_layers; i++)
        for (int k = 0; k < model->layers[i].n_inputs; k++)
            count += model->layers[i].inputs[k] == from;
    return count;
}

/* Backward skips layers whose output gradient nobody wants, and no layer
 * writes a gradient into them (freeze.h): frozen layers at the start of a
 * network cost no backward at all, and a trainable layer right after them
 * computes no input gradient. */
static int plan_backward(cr_net *net, bool input_grad, cr_error *err) {
    const cr_model *model = net->model;
    net->backward_wanted = calloc((size_t)(model->n_layers ? model->n_layers : 1), sizeof(bool));
    if (!net->backward_wanted) return out_of_memory(err, 0);
    cr_model_backward_wanted(model, input_grad, net->backward_wanted);
    return 0;
}

static int wire_inputs(cr_net *net, cr_error *err) {
    const cr_model *model = net->model;
    for (int i = 0; i < model->n_layers; i++) {
        const cr_layer *layer = &model->layers[i];
        int from = layer->inputs[0];
        /* The output's gradient comes from the loss: never overwrite it. */
        if (!layer->kind->assigns_dx || layer->n_inputs != 1 || from == model->output ||
            readers(model, from) != 1)
            continue;
        net->layers[i].dx_assign = true;
        if (from >= 0)
            net->layers[from].dy_assigned = true;
        else
            net->dinput_assigned = true;
    }
    for (int i = 0; i < model->n_layers; i++) {
        const cr_layer *layer = &model->layers[i];
        layer_state *state = &net->layers[i];
        state->x = calloc((size_t)layer->n_inputs, sizeof *state->x);
        state->dx = calloc((size_t)layer->n_inputs, sizeof *state->dx);
        state->in_shapes = calloc((size_t)layer->n_inputs, sizeof *state->in_shapes);
        if (!state->x || !state->dx || !state->in_shapes) return out_of_memory(err, 0);
        for (int k = 0; k < layer->n_inputs; k++) {
            int from = layer->inputs[k];
            state->x[k] = from < 0 ? net->input : net->layers[from].y;
            state->dx[k] = from < 0                     ? net->dinput
                           : net->backward_wanted[from] ? net->layers[from].dy
                                                        : NULL;
            state->in_shapes[k] = from < 0 ? model->input : model->layers[from].out;
        }
    }
    return 0;
}

/* Where layer `first` starts a chain that evaluation can run as one pass:
 * a layer that takes an epilogue (conv without its own activation), then
 * one with an evaluation affine map (batchnorm), then optionally one whose
 * activation the epilogue can apply (relu); each link is the next layer and
 * the only reader of the one before (layer.h, "special roles"). */
static int find_chain_end(const cr_model *model, int first) {
    const cr_layer *layers = model->layers;
    const cr_layer_kind *kind = layers[first].kind;
    if (!kind->takes_epilogue || !kind->takes_epilogue(&layers[first]) ||
        first + 1 >= model->n_layers)
        return -1;
    const cr_layer *norm = &layers[first + 1];
    if (!norm->kind->eval_affine || norm->inputs[0] != first || readers(model, first) != 1 ||
        first == model->output)
        return -1;
    int last = first + 1;
    if (last + 1 < model->n_layers && last != model->output &&
        layers[last + 1].kind->epilogue_activation != CR_ACT_NONE &&
        layers[last + 1].inputs[0] == last && readers(model, last) == 1)
        last++;
    return last;
}

/* What inference keeps between forwards (cr_layer.eval_constants): only
 * nets that do not train, whose parameters change only through the API. */
static int plan_constants(cr_net *net, cr_error *err) {
    const cr_model *model = net->model;
    int64_t total = 0;
    for (int i = 0; i < model->n_layers; i++) total += round_up(model->layers[i].eval_constants);
    if (net->training_planned || total == 0) return 0;
    net->constants = cr_planned_floats(total);
    if (!net->constants) return out_of_memory(err, total * 4);
    net->allocated_bytes += total * 4;
    int64_t offset = 0;
    for (int i = 0; i < model->n_layers; i++) {
        if (!model->layers[i].eval_constants) continue;
        net->layers[i].constants = net->constants + offset;
        offset += round_up(model->layers[i].eval_constants);
    }
    return 0;
}

static int plan_fusion(cr_net *net, cr_error *err) {
    const cr_model *model = net->model;
    net->chain_end = malloc((size_t)(model->n_layers ? model->n_layers : 1) * sizeof(int));
    if (!net->chain_end) return out_of_memory(err, 0);
    for (int i = 0; i < model->n_layers; i++) net->chain_end[i] = find_chain_end(model, i);
    return 0;
}

int cr_net_create(const cr_model *model, int max_batch, const cr_net_options *options, cr_net **out,
                  cr_error *err) {
    *out = NULL;
    if (max_batch < 1)
        return cr_fail(err, CR_ERR_USAGE, (cr_mark){0}, NULL, "batch size must be ≥ 1, got %d",
                       max_batch);
    for (int i = 0; i < model->n_layers; i++)
        if (!model->layers[i].kind->forward || !model->layers[i].kind->backward)
            return cr_fail(err, CR_ERR_RUNTIME, model->layers[i].mark, model->layers[i].name,
                           "layer type '%s' cannot run yet (no forward/backward)",
                           model->layers[i].kind->name);
    /* Refused before anything is allocated: thread counts the OpenMP runtime
     * cannot start, and plans larger than the machine (limits.h). */
    cr_set_threads(0);
    char what[96];
    snprintf(what, sizeof what, "%s at batch %d", options->training ? "training" : "inference",
             max_batch);
    if (cr_check_threads(err) ||
        cr_check_memory(cr_model_memory(model, max_batch, options->training, 0).total, what, err))
        return 1;
    cr_net *net = calloc(1, sizeof *net);
    if (!net) return out_of_memory(err, sizeof *net);
    net->model = model;
    net->max_batch = net->batch = max_batch;
    cr_set_threads(0); /* OpenBLAS single-threaded inside our threads */
    net->threads = cr_threads();
    net->chain_end = NULL;
    net->training_planned = options->training;
    net->rng_state = options->seed ^ 0xD1B54A32D192ED03ULL; /* dropout's own stream */
    net->layers = calloc((size_t)(model->n_layers ? model->n_layers : 1), sizeof *net->layers);
    if (!net->layers || plan_params(net, options->seed, err) ||
        plan_arena(net, err, options->input_grad) || plan_backward(net, options->input_grad, err) ||
        wire_inputs(net, err) || plan_constants(net, err) ||
        (options->fuse_inference && plan_fusion(net, err))) {
        if (net->layers)
            cr_net_free(net);
        else
            free(net);
        return 1;
    }
    *out = net;
    return 0;
}

void cr_net_free(cr_net *net) {
    if (!net) return;
    for (int i = 0; i < net->model->n_layers; i++) {
        free(net->layers[i].x);
        free(net->layers[i].dx);
        free(net->layers[i].in_shapes);
    }
    for (int i = 0; i < net->n_entries; i++) free(net->entries ? net->entries[i].name : NULL);
    free(net->entries);
    free(net->chain_end);
    free(net->gradient_born);
    free(net->backward_wanted);
    free(net->layers);
    free(net->params);
    free(net->grads);
    free(net->arena);
    free(net->constants);
    free(net);
}

/* ---- running -------------------------------------------------------------------- */

const cr_model *cr_net_model(const cr_net *net) {
    return net->model;
}
int cr_net_max_batch(const cr_net *net) {
    return net->max_batch;
}
int cr_net_batch(const cr_net *net) {
    return net->batch;
}
int64_t cr_net_allocated_bytes(const cr_net *net) {
    return net->allocated_bytes;
}

void cr_net_set_batch(cr_net *net, int batch) {
    net->batch = batch < 1 ? 1 : batch > net->max_batch ? net->max_batch : batch;
}

float *cr_net_input(cr_net *net) {
    return net->input;
}
const float *cr_net_input_grad(const cr_net *net) {
    return net->dinput;
}
const float *cr_net_output(const cr_net *net) {
    return net->layers[net->model->output].y;
}
float *cr_net_layer_output(cr_net *net, int layer) {
    return net->layers[layer].y;
}
float *cr_net_layer_grad(cr_net *net, int layer) {
    return net->layers[layer].dy;
}
const float *cr_net_layer_saved(const cr_net *net, int layer) {
    return net->layers[layer].saved;
}

static cr_step make_step(cr_net *net, int i, bool training) {
    layer_state *state = &net->layers[i];
    return (cr_step){
        .batch = net->batch,
        .training = training,
        .layer = &net->model->layers[i],
        .in_shapes = state->in_shapes,
        .x = state->x,
        .dx = state->dx,
        .y = state->y,
        .dy = state->dy,
        .param = state->param,
        .dparam = state->dparam,
        .saved = state->saved,
        .workspace = net->workspace,
        .constants = training ? NULL : state->constants,
        .constants_ready = net->constants_ready,
        .dx_assign = state->dx_assign,
        .threads = net->threads,
        .thread_workspace =
            net->workspace + cr_layer_shared_workspace_floats(&net->model->layers[i], net->batch),
        .thread_workspace_stride = cr_round_up_floats(net->model->layers[i].workspace_per_thread),
        .rng_state = &net->rng_state,
    };
}

void cr_net_set_layer_times(cr_net *net, double *forward_seconds, double *backward_seconds) {
    net->forward_seconds = forward_seconds;
    net->backward_seconds = backward_seconds;
}

/* Evaluation forward of a fused chain starting at `first` (a conv): the
 * affine layer's map goes into its `saved` buffer (2·C floats, unused in
 * evaluation; a training forward overwrites it, and clears constants_ready)
 * and the first layer writes the chain's output. */
static int forward_chain(cr_net *net, int first) {
    const cr_layer *layers = net->model->layers;
    int last = net->chain_end[first], channels = layers[first].out.c;
    layer_state *norm = &net->layers[first + 1];
    if (!net->constants_ready)
        layers[first + 1].kind->eval_affine(&layers[first + 1], norm->param, norm->saved,
                                            norm->saved + channels);
    cr_step step = make_step(net, first, false);
    step.post_scale = norm->saved;
    step.post_shift = norm->saved + channels;
    step.post_activation = last > first + 1 ? layers[last].kind->epilogue_activation : CR_ACT_NONE;
    step.post_y = net->layers[last].y;
    net->model->layers[first].kind->forward(&step);
    return last;
}

void cr_net_params_changed(cr_net *net) {
    net->constants_ready = false;
}

void cr_net_forward(cr_net *net, bool training) {
    net->last_forward_training = training;
    /* A training step is followed by an update of the parameters. */
    if (training) net->constants_ready = false;
    for (int i = 0; i < net->model->n_layers; i++) {
        if (!training && net->chain_end && net->chain_end[i] >= 0) {
            double started = net->forward_seconds ? cr_monotonic_seconds() : 0.0;
            int last = forward_chain(net, i);
            if (net->forward_seconds) net->forward_seconds[i] += cr_monotonic_seconds() - started;
            i = last;
            continue;
        }
        cr_step step = make_step(net, i, training);
        double started = net->forward_seconds ? cr_monotonic_seconds() : 0.0;
        net->model->layers[i].kind->forward(&step);
        if (net->forward_seconds) net->forward_seconds[i] += cr_monotonic_seconds() - started;
    }
    if (!training) net->constants_ready = true;
}

float *cr_net_output_grad(cr_net *net) {
    net->output_grad_is_logits = false;
    return net->layers[net->model->output].dy;
}

const float *cr_net_loss_input(cr_net *net, bool fused) {
    int output = net->model->output;
    return fused ? net->layers[output].x[0] : net->layers[output].y;
}

float *cr_net_loss_grad(cr_net *net, bool fused) {
    net->output_grad_is_logits = fused;
    return net->layers[net->model->output].dy;
}

double cr_net_cross_entropy(cr_net *net, const int *labels) {
    cr_loss_config loss = {.type = CR_LOSS_CROSS_ENTROPY};
    double denominator;
    return cr_net_loss(net, &loss, labels, NULL, &denominator);
}

double cr_net_soft_cross_entropy(cr_net *net, const float *targets) {
    cr_loss_config loss = {.type = CR_LOSS_CROSS_ENTROPY};
    double denominator;
    return cr_net_loss(net, &loss, NULL, targets, &denominator);
}

static void layer_backward(cr_net *net, int i) {
    const cr_model *model = net->model;
    cr_step step = make_step(net, i, net->last_forward_training);
    if (i == model->output && net->output_grad_is_logits) {
        /* A loss fused with the output layer (softmax + cross-entropy,
         * sigmoid + binary cross-entropy: loss.h): dy already is
         * d(loss)/d(logits), the layer's input. */
        if (step.dx[0]) {
            int64_t n = (int64_t)net->batch * cr_shape_size(model->layers[i].out);
            if (step.dx_assign)
                memcpy(step.dx[0], step.dy, (size_t)n * sizeof *step.dy);
            else
                for (int64_t j = 0; j < n; j++) step.dx[0][j] += step.dy[j];
        }
        return;
    }
    model->layers[i].kind->backward(&step);
}

static void zero_gradient(cr_net *net, int layer) {
    if (net->layers[layer].dy_assigned) return;
    int64_t count = net->batch * cr_shape_size(net->model->layers[layer].out);
    memset(net->layers[layer].dy, 0, (size_t)count * sizeof(float));
}

void cr_net_backward(cr_net *net) {
    const cr_model *model = net->model;
    int64_t batch = net->batch;
    if (!net->training_planned) return; /* nothing planned to hold gradients */
    /* Gradients accumulate into each layer's dy from its readers, so each
     * starts at zero (the output's holds the loss's gradient; a layer that
     * is its input's only reader overwrites instead). Gradients share
     * memory, so each is zeroed only when born: just before the backward
     * of its last reader. */
    int n = model->n_layers;
    for (int i = 0; i < n; i++)
        if (net->gradient_born[i] == n && i != model->output && net->backward_wanted[i])
            zero_gradient(net, i);
    if (net->dinput && !net->dinput_assigned)
        memset(net->dinput, 0, (size_t)(batch * cr_shape_size(model->input)) * sizeof(float));
    for (int i = n - 1; i >= 0; i--) {
        if (!net->backward_wanted[i]) continue;
        double started = net->backward_seconds ? cr_monotonic_seconds() : 0.0;
        const cr_layer *layer = &model->layers[i];
        for (int k = 0; k < layer->n_inputs; k++) {
            int from = layer->inputs[k];
            if (from >= 0 && net->gradient_born[from] == i && net->backward_wanted[from])
                zero_gradient(net, from);
        }
        layer_backward(net, i);
        if (net->backward_seconds) net->backward_seconds[i] += cr_monotonic_seconds() - started;
    }
}

/* ---- parameters ------------------------------------------------------------------ */

int cr_net_param_count(const cr_net *net) {
    return net->n_entries;
}

/* The two ways to reach writable parameters: whatever the caller writes
 * through them, inference's constants are recomputed at the next forward. */
cr_tensor cr_net_param(cr_net *net, int index) {
    net->constants_ready = false;
    const param_entry *entry = &net->entries[index];
    const cr_param *param = &net->model->layers[entry->layer].params[entry->index];
    cr_tensor t = {
        .name = entry->name,
        .ndim = param->ndim,
        .count = param->count,
        .data = net->layers[entry->layer].param[entry->index],
        .grad = net->layers[entry->layer].dparam[entry->index],
        .trainable = param->trainable && !param->is_buffer,
        .is_buffer = param->is_buffer,
    };
    memcpy(t.dims, param->dims, sizeof t.dims);
    return t;
}

float *cr_net_param_block(cr_net *net, int64_t *count) {
    net->constants_ready = false;
    *count = net->trainable_floats;
    return net->params;
}

float *cr_net_grad_block(cr_net *net, int64_t *count) {
    *count = net->grads ? net->trainable_floats : 0;
    return net->grads;
}

uint64_t cr_net_rng_state(const cr_net *net) {
    return net->rng_state;
}
void cr_net_set_rng_state(cr_net *net, uint64_t state) {
    net->rng_state = state;
}
