/* The public view of a model (cnnrun.h): cr_model is opaque to library
 * users, so what they may read of it goes through these accessors. */
#include "model.h"

const char *cr_model_name(const cr_model *model) {
    return model->name;
}

cr_shape cr_model_input_shape(const cr_model *model) {
    return model->input;
}

cr_shape cr_model_output_shape(const cr_model *model) {
    return model->layers[model->output].out;
}

int cr_model_layer_count(const cr_model *model) {
    return model->n_layers;
}

const char *cr_model_layer_name(const cr_model *model, int layer) {
    return model->layers[layer].name;
}

const char *cr_model_layer_kind(const cr_model *model, int layer) {
    return model->layers[layer].kind->name;
}

cr_shape cr_model_layer_shape(const cr_model *model, int layer) {
    return model->layers[layer].out;
}

int64_t cr_model_parameter_count(const cr_model *model) {
    return model->parameters;
}

int64_t cr_model_macs(const cr_model *model) {
    return model->macs;
}

int cr_model_warning_count(const cr_model *model) {
    return model->warnings.count;
}

void cr_model_warning_format(const cr_model *model, int index, char *out, size_t size) {
    cr_warning_format(&model->warnings.items[index], out, size);
}
