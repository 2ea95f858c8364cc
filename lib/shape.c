/* Shape inference: runs each layer kind's shape rule in execution order, once,
 * and totals parameters, MACs and memory. Nothing later recomputes shapes. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "model.h"
#include "parallel.h"

/* Far beyond any real network (VGG-16: 2^27 parameters, 2^34 MACs), and small
 * enough that the totals, and memory at the largest batch `check` accepts
 * (10^6 < 2^20, 4 bytes per float), stay well inside int64. */
#define MAX_VALUES ((int64_t)1 << 40)
#define MAX_MACS   ((int64_t)1 << 50)

static int too_large(const cr_layer *layer, const char *what, int64_t total, int64_t limit,
                     cr_error *err) {
    return cr_fail(err, CR_ERR_INVALID, layer->mark, layer->name,
                   "the model's %s reach %lld here, more than the %lld this tool handles", what,
                   (long long)total, (long long)limit);
}

int cr_shape_infer(cr_model *model, cr_error *err) {
    model->parameters = model->trainable_parameters = model->buffers = model->macs = 0;
    model->activations = cr_shape_size(model->input);
    if (model->activations > MAX_VALUES)
        return cr_fail(err, CR_ERR_INVALID, model->input_mark, NULL,
                       "input %d×%d×%d is too large: %lld values per image, at most %lld",
                       model->input.c, model->input.h, model->input.w,
                       (long long)model->activations, (long long)MAX_VALUES);
    cr_shape in[64];
    for (int i = 0; i < model->n_layers; i++) {
        cr_layer *layer = &model->layers[i];
        for (int k = 0; k < layer->n_inputs; k++)
            in[k] = layer->inputs[k] < 0 ? model->input : model->layers[layer->inputs[k]].out;
        layer->n_params = 0;
        if (layer->kind->infer(layer, in, &model->warnings, err)) return 1;
        if (cr_shape_size(layer->out) > MAX_VALUES)
            return cr_fail(err, CR_ERR_INVALID, layer->mark, layer->name,
                           "output %d×%d×%d is too large", layer->out.c, layer->out.h,
                           layer->out.w);
        /* Each layer's own figures fit in int64 (its shape rule sees to
         * that); checking the running totals after every layer keeps the
         * sums from overflowing however many layers there are. */
        for (int p = 0; p < layer->n_params; p++) {
            const cr_param *param = &layer->params[p];
            if (param->is_buffer) {
                model->buffers += param->count;
                continue;
            }
            model->parameters += param->count;
            if (param->trainable) model->trainable_parameters += param->count;
        }
        if (model->parameters > MAX_VALUES)
            return too_large(layer, "parameters", model->parameters, MAX_VALUES, err);
        if (model->buffers > MAX_VALUES)
            return too_large(layer, "buffers", model->buffers, MAX_VALUES, err);
        model->macs += layer->macs;
        if (model->macs > MAX_MACS)
            return too_large(layer, "multiply-accumulates per image", model->macs, MAX_MACS, err);
        model->activations += cr_shape_size(layer->out);
        if (model->activations > MAX_VALUES)
            return too_large(layer, "activations per image", model->activations, MAX_VALUES, err);
    }
    return 0;
}

/* Memory figures saturate at INT64_MAX rather than overflow: a caller may ask
 * for any batch size. */
static int64_t mul(int64_t a, int64_t b) {
    int64_t product;
    return __builtin_mul_overflow(a, b, &product) ? INT64_MAX : product;
}

static int64_t add(int64_t a, int64_t b) {
    int64_t sum;
    return __builtin_add_overflow(a, b, &sum) ? INT64_MAX : sum;
}

/* A block of the gradient arena, free or not. */
typedef struct gradient_block {
    int64_t offset, size;
    bool free;
} gradient_block;

int cr_model_training_fusion(const cr_model *model, int layer) {
    const cr_layer *layers = model->layers;
    if (!layers[layer].kind->trains_with_activation || layer == model->output) return -1;
    int reader = -1;
    for (int j = 0; j < model->n_layers; j++)
        for (int k = 0; k < layers[j].n_inputs; k++) {
            if (layers[j].inputs[k] != layer) continue;
            if (reader >= 0) return -1; /* a second reader needs the plain output */
            reader = j;
        }
    if (reader < 0 || reader == model->output || layers[reader].n_inputs != 1 ||
        !layers[reader].kind->assigns_dx)
        return -1;
    cr_activation activation = layers[reader].kind->epilogue_activation;
    return activation == CR_ACT_RELU || activation == CR_ACT_RELU6 ? reader : -1;
}

/* heir[a] = b when activation a hands its gradient block down to layer b
 * (cr_model_training_fusion), else -1. */
static void plan_gradient_heirs(const cr_model *model, int *heir) {
    for (int i = 0; i < model->n_layers; i++) heir[i] = -1;
    for (int i = 0; i < model->n_layers; i++) {
        int activation = cr_model_training_fusion(model, i);
        if (activation >= 0) heir[activation] = i;
    }
}

int64_t cr_model_plan_gradients(const cr_model *model, int64_t batch, int64_t *offsets, int *born) {
    int n = model->n_layers;
    int *birth = malloc((size_t)(n ? n : 1) * sizeof *birth);
    int *block_of = malloc((size_t)(n ? n : 1) * sizeof *block_of);
    gradient_block *blocks = malloc((size_t)(n ? n : 1) * sizeof *blocks);
    int *heir = malloc((size_t)(n ? n : 1) * sizeof *heir);
    int64_t total = 0;
    if (!birth || !block_of || !blocks || !heir) {
        /* No room to plan: one piece each, nothing shared. */
        for (int i = 0; i < n; i++) {
            if (offsets) offsets[i] = total;
            if (born) born[i] = n;
            total = add(total, cr_round_up_floats(mul(batch, cr_shape_size(model->layers[i].out))));
        }
        free(birth);
        free(block_of);
        free(blocks);
        free(heir);
        return total;
    }
    plan_gradient_heirs(model, heir);
    for (int i = 0; i < n; i++) birth[i] = n;
    for (int j = 0; j < n; j++)
        for (int k = 0; k < model->layers[j].n_inputs; k++) {
            int from = model->layers[j].inputs[k];
            /* The reader with the highest index runs its backward first
             * (j ascends: the last one seen). */
            if (from >= 0) birth[from] = j;
        }
    for (int i = 0; i < n; i++)
        if (i == model->output) birth[i] = n;
    int n_blocks = 0;
    /* Time runs from n (before backward) down to 0; at time t the gradients
     * born then get a block, layer t's backward runs, then its own block is
     * released. */
    for (int t = n; t >= 0; t--) {
        for (int i = 0; i < n; i++) {
            if (birth[i] != t) continue;
            if (t < n && heir[t] == i) { /* born into its activation's block */
                block_of[i] = block_of[t];
                continue;
            }
            int64_t size = cr_round_up_floats(mul(batch, cr_shape_size(model->layers[i].out)));
            int best = -1; /* the smallest free block that fits */
            for (int b = 0; b < n_blocks; b++)
                if (blocks[b].free && blocks[b].size >= size &&
                    (best < 0 || blocks[b].size < blocks[best].size))
                    best = b;
            if (best < 0) /* grow the free block at the end, if there is one */
                for (int b = 0; b < n_blocks; b++)
                    if (blocks[b].free && blocks[b].offset + blocks[b].size == total) {
                        total = add(total, size - blocks[b].size);
                        blocks[b].size = size;
                        best = b;
                    }
            if (best < 0) {
                best = n_blocks++;
                blocks[best] = (gradient_block){total, size, false};
                total = add(total, size);
            }
            blocks[best].free = false;
            block_of[i] = best;
        }
        if (t < n && heir[t] < 0) blocks[block_of[t]].free = true;
    }
    for (int i = 0; i < n; i++) {
        if (offsets) offsets[i] = blocks[block_of[i]].offset;
        if (born) born[i] = birth[i];
    }
    free(birth);
    free(block_of);
    free(blocks);
    free(heir);
    return total;
}

cr_memory cr_model_memory(const cr_model *model, int batch, bool training, int optimizer_slots) {
    cr_memory m = {0};
    const int64_t f = sizeof(float);
    m.parameters = mul(add(model->parameters, model->buffers), f);
    m.activations = mul(mul(model->activations, batch), f);
    for (int i = 0; i < model->n_layers; i++) {
        const cr_layer *layer = &model->layers[i];
        int64_t workspace = mul(cr_layer_workspace_floats(layer, batch, cr_threads()), f);
        if (workspace > m.workspace) m.workspace = workspace;
        /* Layers may write what they keep for backward in inference too. */
        m.saved = add(m.saved, mul(add(layer->saved_fixed, mul(layer->saved_per_image, batch)), f));
        if (!training)
            m.constants = add(m.constants, mul(cr_round_up_floats(layer->eval_constants), f));
    }
    if (training) {
        m.gradients = mul(model->trainable_parameters, f);
        m.optimizer = mul(mul(model->trainable_parameters, optimizer_slots), f);
        /* Every layer output has a gradient, in blocks shared by gradients
         * never alive together; the input has none. */
        m.activation_gradients = mul(cr_model_plan_gradients(model, batch, NULL, NULL), f);
    }
    int64_t parts[] = {m.parameters,           m.gradients, m.optimizer, m.activations,
                       m.activation_gradients, m.saved,     m.workspace, m.constants};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) m.total = add(m.total, parts[i]);
    return m;
}

int cr_model_set_input(cr_model *model, cr_shape input, cr_error *err) {
    model->input = input;
    cr_warnings_free(&model->warnings);
    return cr_shape_infer(model, err);
}
