/* Loading what several commands start from (commands.h). */
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "print.h"
#include "train.h"

int load_for_training(const char *path, const char *data, bool quiet, cr_model **model,
                      cr_train_config *config, cr_error *err) {
    if (cr_model_load(path, model, err)) return 1;
    if (!quiet) print_warning_summary(path, &(*model)->warnings);
    if (cr_train_config_parse(*model, config, err) ||
        (data && cr_data_source_parse(data, &config->data, err))) {
        cr_model_free(*model);
        *model = NULL;
        return 1;
    }
    cr_model_freeze(*model, &config->freeze);
    return 0;
}

const char *class_text(const cr_dataset *names, int index, char *out, size_t size) {
    if (names && names->class_names && index < names->classes) {
        char name[128];
        cr_escape_text(names->class_names[index], name, sizeof name);
        snprintf(out, size, "%d %s", index, name);
    } else
        snprintf(out, size, "%d", index);
    return out;
}

int load_inference_net(cr_model *model, const char *weights, int batch, cr_net **net,
                       cr_error *err) {
    cr_net_options options = {.seed = 0, .fuse_inference = true};
    if (cr_net_create(model, batch, &options, net, err)) return 1;
    if (cr_net_load_weights(*net, weights, err)) {
        cr_net_free(*net);
        *net = NULL;
        return 1;
    }
    return 0;
}

int read_recorded(const char *weights, const cr_model *model, cr_transform *transform,
                  cr_weights_info *info, cr_error *err) {
    if (cr_weights_info_read(weights, info, err)) return 1;
    int outputs = (int)cr_shape_size(model->layers[model->output].out);
    if (info->classes > outputs) {
        fprintf(stderr,
                "note: %s records %d class names, the model has %d outputs: the names "
                "are not used\n",
                weights, info->classes, outputs);
        for (int c = 0; c < info->classes; c++) free(info->class_names[c]);
        free(info->class_names);
        info->class_names = NULL;
        info->classes = 0;
    }
    if (info->channels > 0 && info->channels == model->input.c)
        for (int c = 0; c < info->channels; c++) {
            transform->mean[c] = info->mean[c];
            transform->std[c] = info->std[c];
        }
    return 0;
}

cr_dataset recorded_names(const cr_weights_info *info) {
    return (cr_dataset){.classes = info->classes, .class_names = info->class_names};
}
