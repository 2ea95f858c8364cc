/* Receptive fields and exact input sizes (geometry.h). */
#include "geometry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int axis_size(cr_shape shape, int axis) {
    return axis == 0 ? shape.h : shape.w;
}

static cr_shape input_shape(const cr_model *model, const cr_layer *layer, int k) {
    return layer->inputs[k] < 0 ? model->input : model->layers[layer->inputs[k]].out;
}

/* How a layer without a window maps its input's size along an axis, judged
 * from the shapes inference gave: kept (activations, add), multiplied by a
 * whole factor (an upsampling kind), or replaced by a fixed size that no
 * longer depends on the input (dense, flatten: the whole image). */
typedef enum size_rule { SIZE_KEPT, SIZE_SCALED, SIZE_FIXED } size_rule;

static size_rule windowless_rule(int in, int out) {
    if (out == in) return SIZE_KEPT;
    if (in > 0 && out > in && out % in == 0) return SIZE_SCALED;
    return SIZE_FIXED;
}

/* ---- receptive fields ------------------------------------------------------------ */

static cr_receptive_field input_field(void) {
    return (cr_receptive_field){{1, 1}, {1, 1}, false};
}

/* The widest field and jump among the inputs: a merge sees what each
 * branch saw. */
static cr_receptive_field merged_field(const cr_layer *layer, const cr_receptive_field *fields) {
    cr_receptive_field merged = {{0, 0}, {0, 0}, false};
    for (int k = 0; k < layer->n_inputs; k++) {
        cr_receptive_field in = layer->inputs[k] < 0 ? input_field() : fields[layer->inputs[k]];
        for (int a = 0; a < 2; a++) {
            if (in.size[a] > merged.size[a]) merged.size[a] = in.size[a];
            if (in.jump[a] > merged.jump[a]) merged.jump[a] = in.jump[a];
        }
        merged.global = merged.global || in.global;
    }
    return merged;
}

void cr_model_receptive_fields(const cr_model *model, cr_receptive_field *fields) {
    for (int i = 0; i < model->n_layers; i++) {
        const cr_layer *layer = &model->layers[i];
        cr_receptive_field field = merged_field(layer, fields);
        cr_shape in = input_shape(model, layer, 0);
        for (int a = 0; a < 2; a++) {
            int out = axis_size(layer->out, a);
            if (layer->window[a] > 0) {
                field.size[a] += (layer->window[a] - 1) * field.jump[a];
                field.jump[a] *= layer->window_stride[a];
            } else if (windowless_rule(axis_size(in, a), out) == SIZE_FIXED) {
                field.global = true;
            }
        }
        if (field.global)
            for (int a = 0; a < 2; a++) field.size[a] = axis_size(model->input, a);
        fields[i] = field;
    }
}

/* ---- exact input sizes ------------------------------------------------------------- */

/* Every layer's size along `axis` for an input of n; false when a window
 * does not divide exactly, an output would be empty, or merged inputs
 * disagree. */
static bool divides_exactly(const cr_model *model, int axis, int n, int *sizes) {
    for (int i = 0; i < model->n_layers; i++) {
        const cr_layer *layer = &model->layers[i];
        int in = layer->inputs[0] < 0 ? n : sizes[layer->inputs[0]];
        for (int k = 1; k < layer->n_inputs; k++)
            if ((layer->inputs[k] < 0 ? n : sizes[layer->inputs[k]]) != in) return false;
        if (layer->window[axis] > 0) {
            int span = in + 2 * layer->window_padding[axis] - layer->window[axis];
            if (span < 0 || span % layer->window_stride[axis] != 0) return false;
            sizes[i] = span / layer->window_stride[axis] + 1;
            continue;
        }
        int real_in = axis_size(input_shape(model, layer, 0), axis);
        int real_out = axis_size(layer->out, axis);
        switch (windowless_rule(real_in, real_out)) {
        case SIZE_KEPT:
            sizes[i] = in;
            break;
        case SIZE_SCALED:
            sizes[i] = in * (real_out / real_in);
            break;
        case SIZE_FIXED:
            sizes[i] = real_out;
            break;
        }
    }
    return true;
}

cr_exact_sizes cr_model_exact_sizes(const cr_model *model, int axis, int limit) {
    cr_exact_sizes result = {0, 0, 0, false, limit};
    int *sizes = malloc((size_t)(model->n_layers ? model->n_layers : 1) * sizeof *sizes);
    if (!sizes) return result;
    int previous = 0;
    result.regular = true;
    for (int n = 1; n <= limit; n++) {
        if (!divides_exactly(model, axis, n, sizes)) continue;
        if (result.count == 0) result.first = n;
        if (result.count == 1) result.step = n - previous;
        if (result.count >= 2 && n - previous != result.step) result.regular = false;
        previous = n;
        result.count++;
    }
    if (result.count < 2) result.regular = false;
    free(sizes);
    return result;
}

void cr_exact_sizes_format(const cr_exact_sizes *s, char *out, size_t size) {
    if (s->count == 0)
        snprintf(out, size, "none up to %d", s->limit);
    else if (s->count == 1)
        snprintf(out, size, "only %d (up to %d)", s->first, s->limit);
    else if (!s->regular)
        snprintf(out, size, "%d sizes up to %d, irregularly spaced, from %d", s->count, s->limit,
                 s->first);
    else if (s->step == 1)
        snprintf(out, size, "any size from %d", s->first);
    else if (s->first % s->step == 0)
        snprintf(out, size, "any multiple of %d from %d", s->step, s->first);
    else
        snprintf(out, size, "%d + any multiple of %d (%d, %d, %d, ...)", s->first, s->step,
                 s->first, s->first + s->step, s->first + 2 * s->step);
}
