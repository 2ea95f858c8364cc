/* Shape inference: runs each layer kind's shape rule in execution order, once,
 * and totals parameters, MACs and memory. Nothing later recomputes shapes. */
#include <stdlib.h>

#include "model.h"

int cr_shape_infer(cr_model *model, cr_error *err) {
    model->parameters = model->trainable_parameters = model->buffers = model->macs = 0;
    model->activations = cr_shape_size(model->input);
    cr_shape in[64];
    for (int i = 0; i < model->n_layers; i++) {
        cr_layer *layer = &model->layers[i];
        for (int k = 0; k < layer->n_inputs; k++)
            in[k] = layer->inputs[k] < 0 ? model->input : model->layers[layer->inputs[k]].out;
        layer->n_params = 0;
        if (layer->kind->infer(layer, in, &model->warnings, err)) return 1;
        if (cr_shape_size(layer->out) > ((int64_t)1 << 40))
            return cr_fail(err, CR_ERR_INVALID, layer->mark, layer->name,
                           "output %d×%d×%d is too large", layer->out.c, layer->out.h,
                           layer->out.w);
        for (int p = 0; p < layer->n_params; p++) {
            const cr_param *param = &layer->params[p];
            if (param->is_buffer) {
                model->buffers += param->count;
                continue;
            }
            model->parameters += param->count;
            if (param->trainable) model->trainable_parameters += param->count;
        }
        model->macs += layer->macs;
        model->activations += cr_shape_size(layer->out);
    }
    return 0;
}

cr_memory cr_model_memory(const cr_model *model, int batch, bool training, int optimizer_slots) {
    cr_memory m = {0};
    const int64_t f = sizeof(float);
    m.parameters = (model->parameters + model->buffers) * f;
    m.activations = model->activations * batch * f;
    for (int i = 0; i < model->n_layers; i++) {
        const cr_layer *layer = &model->layers[i];
        int64_t workspace = (layer->workspace + layer->workspace_per_image * batch) * f;
        if (workspace > m.workspace) m.workspace = workspace;
        /* Layers may write what they keep for backward in inference too. */
        m.saved += (layer->saved_fixed + layer->saved_per_image * batch) * f;
    }
    if (training) {
        m.gradients = model->trainable_parameters * f;
        m.optimizer = model->trainable_parameters * optimizer_slots * f;
        /* Every layer output has a gradient; the input does not. */
        m.activation_gradients = (model->activations - cr_shape_size(model->input)) * batch * f;
    }
    m.total = m.parameters + m.gradients + m.optimizer + m.activations + m.activation_gradients +
              m.saved + m.workspace;
    return m;
}
