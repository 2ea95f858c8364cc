/* cnnrun check: validate a model and print its table (or JSON): shapes,
 * parameters, MACs and the memory training needs. Nothing is trained. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "parallel.h"
#include "print.h"

typedef struct check_args {
    const char *model;
    int batch; /* 0: the train section's batch_size */
    bool json;
} check_args;

static const cli_option check_options[] = {
    {.name = "batch",
     .type = CLI_INT,
     .offset = offsetof(check_args, batch),
     .min = 1,
     .arg = "N",
     .help = "batch size for the training-memory estimate (default: the train section's "
             "batch_size, 64 when it has none)"},
    {.name = "json",
     .type = CLI_FLAG,
     .offset = offsetof(check_args, json),
     .help = "print the same as one JSON document"},
};
static const cli_positional check_positionals[] = {MODEL_POSITIONAL(check_args, model)};

const cli_spec check_spec = {
    CLI_TABLES(check_options, check_positionals),
    .description =
        "Reads the model, checks every layer's keys and every output size\n"
        "(out = floor((n + 2p - f) / s) + 1) and the train section, and prints one row\n"
        "per layer with its output shape, parameters and multiply-accumulates per image,\n"
        "then the totals and the memory training needs with the train section's\n"
        "optimizer and batch size.\n",
    .exit_status =
        "0 valid (warnings go to stderr), 1 invalid model, 2 usage error or unreadable file.",
};

static void inputs_text(const cr_model *model, const cr_layer *layer, char *out, size_t size) {
    out[0] = '\0';
    for (int k = 0; k < layer->n_inputs; k++) {
        int from = layer->inputs[k];
        snprintf(out + strlen(out), size - strlen(out), "%s%s", k ? "," : "",
                 from < 0 ? "input" : model->layers[from].name);
    }
}

static int64_t layer_parameters(const cr_layer *layer) {
    int64_t count = 0;
    for (int p = 0; p < layer->n_params; p++)
        if (!layer->params[p].is_buffer) count += layer->params[p].count;
    return count;
}

/* "sgd with momentum 0.9", "adam": what the memory estimate assumed. */
static const char *optimizer_text(const cr_optimizer_config *optimizer, char *out, size_t size) {
    if (optimizer->type == CR_OPT_SGD && optimizer->momentum != 0.0f)
        snprintf(out, size, "sgd with momentum %g", (double)optimizer->momentum);
    else
        snprintf(out, size, "%s", cr_optimizer_name(optimizer->type));
    return out;
}

static void print_check_table(const char *path, const cr_model *model, int batch,
                              const cr_optimizer_config *optimizer) {
    char a[64], b[64], c[64], d[64];
    shape_text(model->input, a, sizeof a);
    printf("model '%s' (%s), input %s\n\n", model->name, path, a);
    int name_width = 5, input_width = 5;
    for (int i = 0; i < model->n_layers; i++) {
        char inputs[256];
        inputs_text(model, &model->layers[i], inputs, sizeof inputs);
        int n = display_width(model->layers[i].name);
        if (n > name_width) name_width = n;
        if (display_width(inputs) > input_width) input_width = display_width(inputs);
    }
    if (input_width > 40) input_width = 40;
    int type_width = kind_name_width();
    print_cell("layer", name_width, 2);
    print_cell("type", type_width, 2);
    print_cell("from", input_width, 2);
    print_cell("output (C×H×W)", 14, 2);
    print_cell("parameters", -14, 2);
    print_cell("MACs per image", -16, 0);
    putchar('\n');
    for (int i = 0; i < model->n_layers; i++) {
        const cr_layer *layer = &model->layers[i];
        char inputs[256];
        inputs_text(model, layer, inputs, sizeof inputs);
        shape_text(layer->out, a, sizeof a);
        print_cell(layer->name, name_width, 2);
        print_cell(layer->kind->name, type_width, 2);
        print_cell(inputs, input_width, 2);
        print_cell(a, 14, 2);
        print_cell(grouped(layer_parameters(layer), b, sizeof b), -14, 2);
        print_cell(grouped(layer->macs, c, sizeof c), -16, 0);
        putchar('\n');
    }
    printf("\nparameters:             %s (%s as float32)", grouped(model->parameters, a, sizeof a),
           human_bytes(model->parameters * 4, b, sizeof b));
    if (model->trainable_parameters != model->parameters)
        printf(", %s trainable", grouped(model->trainable_parameters, c, sizeof c));
    if (model->buffers)
        printf(", plus %s running statistics", grouped(model->buffers, d, sizeof d));
    printf("\nMACs per image:         %s (%s)\n", grouped(model->macs, a, sizeof a),
           human_count(model->macs, b, sizeof b));
    printf("activations per image:  %s floats (%s)\n", grouped(model->activations, a, sizeof a),
           human_bytes(model->activations * 4, b, sizeof b));
    cr_memory m = cr_model_memory(model, batch, true, cr_optimizer_slots(optimizer));
    printf("training memory at batch %d (%s): %s\n", batch, optimizer_text(optimizer, b, sizeof b),
           human_bytes(m.total, a, sizeof a));
    printf("  parameters %s, gradients %s, optimizer state %s,\n",
           human_bytes(m.parameters, a, sizeof a), human_bytes(m.gradients, b, sizeof b),
           human_bytes(m.optimizer, c, sizeof c));
    printf("  activations %s, their gradients %s,", human_bytes(m.activations, a, sizeof a),
           human_bytes(m.activation_gradients, b, sizeof b));
    int threads = cr_threads();
    printf(" kept for backward %s, scratch %s (%d thread%s)\n", human_bytes(m.saved, c, sizeof c),
           human_bytes(m.workspace, d, sizeof d), threads, threads == 1 ? "" : "s");
}

/* The shortest decimal that reads back as the same float: 0.1f prints as
 * 0.1, not 0.100000001490116. */
static double shortest_decimal(float value) {
    char text[32];
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, (double)value);
        if (strtof(text, NULL) == value) break;
    }
    return strtod(text, NULL);
}

/* A layer's settings as inference left them (pool strides and 'same'
 * padding resolved), one entry per key of its kind's schema: generic, so a
 * new layer kind needs nothing here. Inline tensors give only their shape. */
static cJSON *config_json(const cr_layer *layer) {
    cJSON *config = cJSON_CreateObject();
    for (int k = 0; k < layer->kind->n_keys; k++) {
        const cr_key *key = &layer->kind->keys[k];
        const char *field = (const char *)layer->config + key->offset;
        cJSON *value = NULL;
        switch (key->type) {
        case CR_KEY_INT:
            value = cJSON_CreateNumber(*(const int *)field);
            break;
        case CR_KEY_INT_PAIR:
            value = cJSON_CreateIntArray((const int *)field, 2);
            break;
        case CR_KEY_PADDING:
            value = cJSON_CreateIntArray(((const cr_padding *)field)->size, 2);
            break;
        case CR_KEY_FLOAT:
            value = cJSON_CreateNumber(shortest_decimal(*(const float *)field));
            break;
        case CR_KEY_BOOL:
            value = cJSON_CreateBool(*(const bool *)field);
            break;
        case CR_KEY_ACTIVATION:
            value = cJSON_CreateString(cr_activation_name(*(const cr_activation *)field));
            break;
        case CR_KEY_TENSOR: {
            const cr_values *values = (const cr_values *)field;
            value = values->present ? cJSON_CreateObject() : cJSON_CreateNull();
            if (values->present)
                cJSON_AddItemToObject(value, "shape",
                                      cJSON_CreateIntArray(values->dims, values->ndim));
            break;
        }
        case CR_KEY_BIAS:
            value = cJSON_CreateBool(((const cr_bias *)field)->enabled);
            break;
        case CR_KEY_STRING: /* resolved by the shape rule (upsample's mode) */
            value = *(const char *const *)field ? cJSON_CreateString(*(const char *const *)field)
                                                : cJSON_CreateNull();
            break;
        }
        cJSON_AddItemToObject(config, key->name, value);
    }
    return config;
}

static void print_check_json(const char *path, const cr_model *model, int batch,
                             const cr_optimizer_config *optimizer) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "file", path);
    cJSON_AddStringToObject(root, "name", model->name);
    cJSON_AddItemToObject(root, "input", shape_json(model->input));
    cJSON *layers = cJSON_AddArrayToObject(root, "layers");
    for (int i = 0; i < model->n_layers; i++) {
        const cr_layer *layer = &model->layers[i];
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "name", layer->name);
        cJSON_AddStringToObject(item, "type", layer->kind->name);
        cJSON_AddItemToObject(item, "config", config_json(layer));
        cJSON *inputs = cJSON_AddArrayToObject(item, "inputs");
        for (int k = 0; k < layer->n_inputs; k++)
            cJSON_AddItemToArray(
                inputs, cJSON_CreateString(
                            layer->inputs[k] < 0 ? "input" : model->layers[layer->inputs[k]].name));
        cJSON_AddItemToObject(item, "output", shape_json(layer->out));
        cJSON_AddNumberToObject(item, "parameters", (double)layer_parameters(layer));
        cJSON_AddNumberToObject(item, "macs", (double)layer->macs);
        cJSON_AddNumberToObject(item, "line", layer->mark.line);
        cJSON_AddItemToArray(layers, item);
    }
    cJSON *totals = cJSON_AddObjectToObject(root, "totals");
    cJSON_AddNumberToObject(totals, "parameters", (double)model->parameters);
    cJSON_AddNumberToObject(totals, "trainable_parameters", (double)model->trainable_parameters);
    cJSON_AddNumberToObject(totals, "buffers", (double)model->buffers);
    cJSON_AddNumberToObject(totals, "parameter_bytes", (double)model->parameters * 4);
    cJSON_AddNumberToObject(totals, "macs_per_image", (double)model->macs);
    cJSON_AddNumberToObject(totals, "activations_per_image", (double)model->activations);
    cJSON_AddNumberToObject(totals, "activation_bytes_per_image", (double)model->activations * 4);
    cr_memory m = cr_model_memory(model, batch, true, cr_optimizer_slots(optimizer));
    cJSON *memory = cJSON_AddObjectToObject(root, "training_memory");
    cJSON_AddNumberToObject(memory, "batch", batch);
    char optimizer_name[64];
    cJSON_AddStringToObject(memory, "optimizer",
                            optimizer_text(optimizer, optimizer_name, sizeof optimizer_name));
    cJSON_AddNumberToObject(memory, "parameters", (double)m.parameters);
    cJSON_AddNumberToObject(memory, "gradients", (double)m.gradients);
    cJSON_AddNumberToObject(memory, "optimizer_state", (double)m.optimizer);
    cJSON_AddNumberToObject(memory, "activations", (double)m.activations);
    cJSON_AddNumberToObject(memory, "activation_gradients", (double)m.activation_gradients);
    cJSON_AddNumberToObject(memory, "saved_for_backward", (double)m.saved);
    cJSON_AddNumberToObject(memory, "workspace", (double)m.workspace);
    cJSON_AddNumberToObject(memory, "total", (double)m.total);
    cJSON *warnings = cJSON_AddArrayToObject(root, "warnings");
    for (int i = 0; i < model->warnings.count; i++) {
        char text[1024];
        cr_warning_format(&model->warnings.items[i], text, sizeof text);
        cJSON_AddItemToArray(warnings, cJSON_CreateString(text));
    }
    char *text = cJSON_Print(root);
    if (text) printf("%s\n", text);
    free(text);
    cJSON_Delete(root);
}

int cmd_check(int argc, char **argv) {
    check_args args = {0};
    if (cli_parse(&check_spec, argc, argv, &args)) return 2;
    cr_model *model;
    cr_error err = {0};
    if (cr_model_load(args.model, &model, &err)) return report(&err);
    cr_train_config train;
    if (cr_train_config_parse(model, &train, &err)) {
        cr_model_free(model);
        return report(&err);
    }
    int batch = args.batch ? args.batch : train.batch_size;
    print_warnings(&model->warnings);
    if (args.json)
        print_check_json(args.model, model, batch, &train.optimizer);
    else
        print_check_table(args.model, model, batch, &train.optimizer);
    cr_model_free(model);
    return 0;
}
