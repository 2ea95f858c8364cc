/* cnnrun check: validate a model and print its table (or JSON): shapes,
 * parameters, MACs and the memory training needs. Nothing is trained. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "geometry.h"
#include "parallel.h"
#include "print.h"

typedef struct check_args {
    const char *model;
    int batch; /* 0: the train section's batch_size */
    bool json;
    cr_shape input; /* 0×0×0: the model's own */
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
     .help = "print the same as one JSON document; on an invalid model {\"ok\": false, "
             "\"errors\": [{file, line, column, layer, message}], \"warnings\": [...]}"},
    {.name = "input",
     .type = CLI_SHAPE,
     .offset = offsetof(check_args, input),
     .arg = "C,H,W",
     .help = "check the model at another input size (e.g. 3,320,320) instead of its own"},
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

/* Warnings as --json has always given them: one formatted line each. */
static void add_warnings_json(cJSON *root, const cr_warnings *warnings) {
    cJSON *list = cJSON_AddArrayToObject(root, "warnings");
    for (int i = 0; warnings && i < warnings->count; i++) {
        char text[1024];
        cr_warning_format(&warnings->items[i], text, sizeof text);
        cJSON_AddItemToArray(list, cJSON_CreateString(text));
    }
}

/* ---- receptive fields and exact input sizes ------------------------------------- */

/* Sizes up to which `check` looks for exact input sizes: 4 times the model's
 * own, and at least 1024. */
static int exact_size_limit(int size) {
    int limit = 4 * size;
    return limit < 1024 ? 1024 : limit > 65536 ? 65536 : limit;
}

static void field_text(const cr_receptive_field *field, char *out, size_t size) {
    if (field->global)
        snprintf(out, size, "whole input");
    else
        snprintf(out, size, "%d×%d", field->size[0], field->size[1]);
}

static void print_exact_sizes(const cr_model *model) {
    char height[160], width[160];
    cr_exact_sizes h = cr_model_exact_sizes(model, 0, exact_size_limit(model->input.h));
    cr_exact_sizes w = cr_model_exact_sizes(model, 1, exact_size_limit(model->input.w));
    cr_exact_sizes_format(&h, height, sizeof height);
    cr_exact_sizes_format(&w, width, sizeof width);
    if (strcmp(height, width) == 0)
        printf("exact input sizes:      %s (height and width: every window divides "
               "exactly)\n",
               height);
    else
        printf("exact input sizes:      height %s; width %s (every window divides exactly)\n",
               height, width);
}

static cJSON *exact_sizes_json(const cr_model *model, int axis, int size) {
    cr_exact_sizes sizes = cr_model_exact_sizes(model, axis, exact_size_limit(size));
    char text[160];
    cr_exact_sizes_format(&sizes, text, sizeof text);
    cJSON *item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "text", text);
    cJSON_AddNumberToObject(item, "count", sizes.count);
    cJSON_AddNumberToObject(item, "limit", sizes.limit);
    if (sizes.count) cJSON_AddNumberToObject(item, "first", sizes.first);
    if (sizes.regular) cJSON_AddNumberToObject(item, "step", sizes.step);
    return item;
}

static cJSON *field_json(const cr_receptive_field *field) {
    cJSON *item = cJSON_CreateObject();
    cJSON_AddItemToObject(item, "size", cJSON_CreateIntArray(field->size, 2));
    cJSON_AddItemToObject(item, "jump", cJSON_CreateIntArray(field->jump, 2));
    cJSON_AddBoolToObject(item, "global", field->global);
    return item;
}

/* ---- --json on failure ------------------------------------------------------------ */

/* {"ok": false, "errors": [{file, line, column, layer, message}], "warnings": [...]}:
 * one document whatever happened, for editors and CI. */
static void print_error_json(const cr_error *err, const cr_warnings *warnings) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddFalseToObject(root, "ok");
    cJSON *errors = cJSON_AddArrayToObject(root, "errors");
    cJSON *item = cJSON_CreateObject();
    if (err->file[0])
        cJSON_AddStringToObject(item, "file", err->file);
    else
        cJSON_AddNullToObject(item, "file");
    if (err->mark.line > 0) {
        cJSON_AddNumberToObject(item, "line", err->mark.line);
        cJSON_AddNumberToObject(item, "column", err->mark.column);
    } else {
        cJSON_AddNullToObject(item, "line");
        cJSON_AddNullToObject(item, "column");
    }
    if (err->layer[0])
        cJSON_AddStringToObject(item, "layer", err->layer);
    else
        cJSON_AddNullToObject(item, "layer");
    cJSON_AddStringToObject(item, "message", err->message);
    char text[2048];
    cr_error_format(err, text, sizeof text);
    cJSON_AddStringToObject(item, "text", text);
    cJSON_AddItemToArray(errors, item);
    add_warnings_json(root, warnings);
    print_json(root);
}

/* One row per layer: name, type, inputs, output shape, parameters, MACs,
 * receptive field. */
static void print_layer_rows(const cr_model *model) {
    char inputs[256], shape[64], parameters[32], macs[32], field[64];
    int name_width = 5, input_width = 5;
    for (int i = 0; i < model->n_layers; i++) {
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
    print_cell("MACs per image", -16, 2);
    fputs("receptive field\n", stdout);
    cr_receptive_field *fields = calloc((size_t)model->n_layers, sizeof *fields);
    if (fields) cr_model_receptive_fields(model, fields);
    for (int i = 0; i < model->n_layers; i++) {
        const cr_layer *layer = &model->layers[i];
        inputs_text(model, layer, inputs, sizeof inputs);
        shape_text(layer->out, shape, sizeof shape);
        print_cell(layer->name, name_width, 2);
        print_cell(layer->kind->name, type_width, 2);
        print_cell(inputs, input_width, 2);
        print_cell(shape, 14, 2);
        print_cell(grouped(layer_parameters(layer), parameters, sizeof parameters), -14, 2);
        print_cell(grouped(layer->macs, macs, sizeof macs), -16, 2);
        if (fields) field_text(&fields[i], field, sizeof field);
        printf("%s\n", fields ? field : "?");
    }
    free(fields);
}

/* Parameters, MACs and activations per image, and training memory. */
static void print_totals(const cr_model *model, int batch, const cr_optimizer_config *optimizer) {
    char a[64], b[64], c[64], d[64];
    printf("\nparameters:             %s (%s as float32)", grouped(model->parameters, a, sizeof a),
           human_bytes(model->parameters * 4, b, sizeof b));
    if (model->trainable_parameters != model->parameters)
        printf(", %s trainable, %s frozen", grouped(model->trainable_parameters, c, sizeof c),
               grouped(model->parameters - model->trainable_parameters, d, sizeof d));
    if (model->buffers)
        printf(", plus %s running statistics", grouped(model->buffers, d, sizeof d));
    printf("\nMACs per image:         %s (%s)\n", grouped(model->macs, a, sizeof a),
           human_count(model->macs, b, sizeof b));
    printf("activations per image:  %s floats (%s)\n", grouped(model->activations, a, sizeof a),
           human_bytes(model->activations * 4, b, sizeof b));
    print_exact_sizes(model);
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

static void print_check_table(const char *path, const cr_model *model, int batch,
                              const cr_optimizer_config *optimizer) {
    char input[64];
    shape_text(model->input, input, sizeof input);
    printf("model '%s' (%s), input %s\n\n", model->name, path, input);
    print_layer_rows(model);
    print_totals(model, batch, optimizer);
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

static cJSON *layer_json(const cr_model *model, const cr_layer *layer,
                         const cr_receptive_field *field) {
    cJSON *item = cJSON_CreateObject();
    if (field) cJSON_AddItemToObject(item, "receptive_field", field_json(field));
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
    cJSON_AddBoolToObject(item, "frozen", layer->frozen);
    cJSON_AddNumberToObject(item, "macs", (double)layer->macs);
    cJSON_AddNumberToObject(item, "line", layer->mark.line);
    return item;
}

static cJSON *totals_json(const cr_model *model) {
    cJSON *totals = cJSON_CreateObject();
    cJSON_AddNumberToObject(totals, "parameters", (double)model->parameters);
    cJSON_AddNumberToObject(totals, "trainable_parameters", (double)model->trainable_parameters);
    cJSON_AddNumberToObject(totals, "frozen_parameters",
                            (double)(model->parameters - model->trainable_parameters));
    cJSON_AddNumberToObject(totals, "buffers", (double)model->buffers);
    cJSON_AddNumberToObject(totals, "parameter_bytes", (double)model->parameters * 4);
    cJSON_AddNumberToObject(totals, "macs_per_image", (double)model->macs);
    cJSON_AddNumberToObject(totals, "activations_per_image", (double)model->activations);
    cJSON_AddNumberToObject(totals, "activation_bytes_per_image", (double)model->activations * 4);
    return totals;
}

static cJSON *memory_json(const cr_model *model, int batch, const cr_optimizer_config *optimizer) {
    cr_memory m = cr_model_memory(model, batch, true, cr_optimizer_slots(optimizer));
    cJSON *memory = cJSON_CreateObject();
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
    return memory;
}

static void print_check_json(const char *path, const cr_model *model, int batch,
                             const cr_optimizer_config *optimizer) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddTrueToObject(root, "ok");
    cJSON_AddStringToObject(root, "file", path);
    cJSON_AddNumberToObject(root, "version", model->format_version);
    cJSON_AddStringToObject(root, "name", model->name);
    cJSON_AddItemToObject(root, "input", shape_json(model->input));
    cJSON *exact = cJSON_AddObjectToObject(root, "exact_input_sizes");
    cJSON_AddItemToObject(exact, "height", exact_sizes_json(model, 0, model->input.h));
    cJSON_AddItemToObject(exact, "width", exact_sizes_json(model, 1, model->input.w));
    cr_receptive_field *fields = calloc((size_t)model->n_layers, sizeof *fields);
    if (fields) cr_model_receptive_fields(model, fields);
    cJSON *layers = cJSON_AddArrayToObject(root, "layers");
    for (int i = 0; i < model->n_layers; i++)
        cJSON_AddItemToArray(layers,
                             layer_json(model, &model->layers[i], fields ? &fields[i] : NULL));
    free(fields);
    cJSON_AddItemToObject(root, "totals", totals_json(model));
    cJSON_AddItemToObject(root, "training_memory", memory_json(model, batch, optimizer));
    add_warnings_json(root, &model->warnings);
    print_json(root);
}

/* A failure: as text on stderr, or with --json as one document on stdout. */
static int check_failed(const check_args *args, const cr_error *err, const cr_model *model) {
    if (!args->json) return report(err);
    print_error_json(err, model ? &model->warnings : NULL);
    return cr_error_exit_code(err);
}

int cmd_check(int argc, char **argv) {
    check_args args = {0};
    if (cli_parse(&check_spec, argc, argv, &args)) return 2;
    cr_model *model = NULL;
    cr_error err = {0};
    if (cr_model_load(args.model, &model, &err)) return check_failed(&args, &err, NULL);
    cr_train_config train;
    if ((args.input.c && cr_model_set_input(model, args.input, &err)) ||
        cr_train_config_parse(model, &train, &err)) {
        int code = check_failed(&args, &err, model);
        cr_model_free(model);
        return code;
    }
    cr_model_freeze(model, &train.freeze);
    int batch = args.batch ? args.batch : train.batch_size;
    if (!args.json) print_warnings(&model->warnings);
    if (args.json)
        print_check_json(args.model, model, batch, &train.optimizer);
    else
        print_check_table(args.model, model, batch, &train.optimizer);
    cr_model_free(model);
    return 0;
}
