/* cnnrun: the command line. Thin on purpose: parse arguments, call the
 * library, print what it returns. Exit codes: 0 ok, 1 invalid input or a
 * failed run, 2 usage or unreadable file. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "model.h"
#include "train_config.h"

#ifndef CNNRUN_VERSION
#define CNNRUN_VERSION "dev"
#endif

typedef struct command {
    const char *name;
    const char *summary;
    const char *usage;
    int (*run)(int argc, char **argv);
} command;

static const command *find_command(const char *name);

static int usage_error(const char *name, const char *fmt, const char *arg) {
    fprintf(stderr, "cnnrun %s: ", name);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'cnnrun help %s'.\n", name);
    return 2;
}

static int report(const cr_error *err) {
    char text[2048];
    cr_error_format(err, text, sizeof text);
    fprintf(stderr, "%s\n", text);
    return cr_error_exit_code(err);
}

static void print_warnings(const cr_warnings *warnings) {
    char text[1024];
    for (int i = 0; i < warnings->count; i++) {
        cr_warning_format(&warnings->items[i], text, sizeof text);
        fprintf(stderr, "%s\n", text);
    }
}

/* 61706 -> "61,706" */
static const char *grouped(int64_t value, char *out, size_t size) {
    char digits[32];
    snprintf(digits, sizeof digits, "%lld", (long long)(value < 0 ? -value : value));
    size_t n = strlen(digits), o = 0;
    if (value < 0 && o < size - 1) out[o++] = '-';
    for (size_t i = 0; i < n && o < size - 1; i++) {
        out[o++] = digits[i];
        if ((n - i - 1) % 3 == 0 && i + 1 < n && o < size - 1) out[o++] = ',';
    }
    out[o] = '\0';
    return out;
}

static const char *human_bytes(int64_t bytes, char *out, size_t size) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = (double)bytes;
    int unit = 0;
    while (value >= 1024.0 && unit < 4) {
        value /= 1024.0;
        unit++;
    }
    snprintf(out, size, unit ? "%.1f %s" : "%.0f %s", value, units[unit]);
    return out;
}

/* 416520 -> "0.42 M", 15470264320 -> "15.47 G" */
static const char *human_count(int64_t value, char *out, size_t size) {
    double v = (double)value;
    if (v >= 1e9)
        snprintf(out, size, "%.2f G", v / 1e9);
    else if (v >= 1e4)
        snprintf(out, size, "%.2f M", v / 1e6);
    else
        snprintf(out, size, "%.2f K", v / 1e3);
    return out;
}

/* Characters a terminal shows for UTF-8 text: printf's widths count bytes,
 * and "×" is two of them. */
static int display_width(const char *text) {
    int width = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if ((*p & 0xC0) != 0x80) width++;
    return width;
}

/* Prints text left- (width > 0) or right-aligned (width < 0) in |width|
 * columns, followed by `gap` spaces. */
static void print_cell(const char *text, int width, int gap) {
    int pad = (width < 0 ? -width : width) - display_width(text);
    if (width < 0)
        for (int i = 0; i < pad; i++) putchar(' ');
    fputs(text, stdout);
    if (width > 0)
        for (int i = 0; i < pad; i++) putchar(' ');
    for (int i = 0; i < gap; i++) putchar(' ');
}

static void shape_text(cr_shape s, char *out, size_t size) {
    snprintf(out, size, "%d×%d×%d", s.c, s.h, s.w);
}

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

/* ---- check ---------------------------------------------------------------------- */

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
    print_cell("layer", name_width, 2);
    print_cell("type", 10, 2);
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
        print_cell(layer->kind->name, 10, 2);
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
    printf(" kept for backward %s, scratch %s\n", human_bytes(m.saved, c, sizeof c),
           human_bytes(m.workspace, d, sizeof d));
}

static cJSON *shape_json(cr_shape s) {
    cJSON *array = cJSON_CreateArray();
    cJSON_AddItemToArray(array, cJSON_CreateNumber(s.c));
    cJSON_AddItemToArray(array, cJSON_CreateNumber(s.h));
    cJSON_AddItemToArray(array, cJSON_CreateNumber(s.w));
    return array;
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

static int parse_positive(const char *text, int *out) {
    char *end;
    long value = strtol(text, &end, 10);
    if (end == text || *end || value < 1 || value > 1000000) return 1;
    *out = (int)value;
    return 0;
}

static int run_check(int argc, char **argv) {
    const char *path = NULL;
    int batch = 0, json = 0; /* 0: the train section's batch_size */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--batch") == 0) {
            if (i + 1 >= argc) return usage_error("check", "%s needs a number", "--batch");
            if (parse_positive(argv[++i], &batch))
                return usage_error("check", "--batch must be a whole number ≥ 1, got '%s'",
                                   argv[i]);
        } else if (argv[i][0] == '-' && argv[i][1])
            return usage_error("check", "unknown option '%s'", argv[i]);
        else if (path)
            return usage_error("check", "one model file at a time (extra: '%s')", argv[i]);
        else
            path = argv[i];
    }
    if (!path) return usage_error("check", "%s", "missing MODEL.yaml");
    cr_model *model;
    cr_error err = {0};
    if (cr_model_load(path, &model, &err)) return report(&err);
    cr_train_config train;
    if (cr_train_config_parse(model, &train, &err)) {
        cr_model_free(model);
        return report(&err);
    }
    if (!batch) batch = train.batch_size;
    print_warnings(&model->warnings);
    if (json)
        print_check_json(path, model, batch, &train.optimizer);
    else
        print_check_table(path, model, batch, &train.optimizer);
    cr_model_free(model);
    return 0;
}

/* ---- gradcheck ------------------------------------------------------------------- */

static int parse_shape(const char *text, cr_shape *out) {
    int c, h, w;
    char tail;
    if (sscanf(text, "%d,%d,%d%c", &c, &h, &w, &tail) != 3 || c < 1 || h < 1 || w < 1) return 1;
    *out = (cr_shape){c, h, w};
    return 0;
}

static int run_gradcheck(int argc, char **argv) {
    const char *path = NULL;
    cr_gradcheck_options options = {
        .batch = 2, .seed = 1, .samples = 6, .directions = 2, .tolerance = 2e-2};
    cr_shape input = {0, 0, 0};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes_value = strcmp(arg, "--batch") == 0 || strcmp(arg, "--seed") == 0 ||
                           strcmp(arg, "--samples") == 0 || strcmp(arg, "--tolerance") == 0 ||
                           strcmp(arg, "--directions") == 0 || strcmp(arg, "--input") == 0;
        if (takes_value && !value) return usage_error("gradcheck", "%s needs a value", arg);
        if (strcmp(arg, "--batch") == 0) {
            if (parse_positive(value, &options.batch))
                return usage_error("gradcheck", "--batch must be a whole number ≥ 1, got '%s'",
                                   value);
        } else if (strcmp(arg, "--samples") == 0) {
            if (parse_positive(value, &options.samples))
                return usage_error("gradcheck", "--samples must be a whole number ≥ 1, got '%s'",
                                   value);
        } else if (strcmp(arg, "--directions") == 0) {
            char *end;
            long count = strtol(value, &end, 10);
            if (end == value || *end || count < 0 || count > 16)
                return usage_error("gradcheck", "--directions must be 0 to 16, got '%s'", value);
            options.directions = (int)count;
        } else if (strcmp(arg, "--seed") == 0) {
            char *end;
            options.seed = strtoull(value, &end, 10);
            if (end == value || *end)
                return usage_error("gradcheck", "--seed must be a whole number, got '%s'", value);
        } else if (strcmp(arg, "--tolerance") == 0) {
            char *end;
            options.tolerance = strtod(value, &end);
            if (end == value || *end || !(options.tolerance > 0))
                return usage_error("gradcheck", "--tolerance must be a positive number, got '%s'",
                                   value);
        } else if (strcmp(arg, "--input") == 0) {
            if (parse_shape(value, &input))
                return usage_error("gradcheck", "--input must be C,H,W (e.g. 3,32,32), got '%s'",
                                   value);
        } else if (arg[0] == '-' && arg[1])
            return usage_error("gradcheck", "unknown option '%s'", arg);
        else if (path)
            return usage_error("gradcheck", "one model file at a time (extra: '%s')", arg);
        else
            path = arg;
        if (takes_value) i++;
    }
    if (!path) return usage_error("gradcheck", "%s", "missing MODEL.yaml");
    cr_model *model;
    cr_error err = {0};
    if (cr_model_load(path, &model, &err)) return report(&err);
    if (input.c && cr_model_set_input(model, input, &err)) {
        cr_model_free(model);
        return report(&err);
    }
    cr_gradcheck_result *results;
    int n;
    if (cr_gradcheck(model, &options, &results, &n, &err)) {
        cr_model_free(model);
        return report(&err);
    }
    printf("gradient check of '%s', input %d×%d×%d, batch %d, seed %llu, tolerance %g\n\n",
           model->name, model->input.c, model->input.h, model->input.w, options.batch,
           (unsigned long long)options.seed, options.tolerance);
    printf("%-32s  %-10s  %12s  %8s  %8s  %14s\n", "tensor", "layer type", "elements", "checked",
           "on kinks", "worst rel err");
    int failed = 0;
    for (int i = 0; i < n; i++) {
        const cr_gradcheck_result *r = &results[i];
        char count[32];
        printf("%-32s  %-10s  %12s  %8d  %8d  %14.2e  %s\n", r->name, r->kind,
               grouped(r->count, count, sizeof count), r->checked, r->skipped, r->worst,
               !r->passed   ? "FAIL"
               : r->checked ? "ok"
                            : "unchecked (every probe crossed a kink)");
        failed += !r->passed;
    }
    printf("\n%s: %d of %d tensors within tolerance\n", failed ? "FAILED" : "passed", n - failed,
           n);
    free(results);
    cr_model_free(model);
    return failed ? 1 : 0;
}

/* ---- help --------------------------------------------------------------------- */

static const command commands[] = {
    {"check", "validate a model: shapes, parameters, MACs, memory (nothing is trained)",
     "usage: cnnrun check MODEL.yaml [--batch N] [--json]\n\n"
     "Reads the model, checks every layer's keys and every output size\n"
     "(out = floor((n + 2p - f) / s) + 1) and the train section, and prints one row\n"
     "per layer with its output shape, parameters and multiply-accumulates per image,\n"
     "then the totals and the memory training needs with the train section's\n"
     "optimizer and batch size.\n\n"
     "  --batch N   batch size for the training-memory estimate (default: the train\n"
     "              section's batch_size, 64 when it has none)\n"
     "  --json      print the same as one JSON document\n\n"
     "Exit status: 0 valid (warnings go to stderr), 1 invalid model, 2 usage error or\n"
     "unreadable file.\n",
     run_check},
    {"gradcheck", "compare analytic gradients with finite differences",
     "usage: cnnrun gradcheck MODEL.yaml [--batch N] [--seed S] [--input C,H,W]\n"
     "                        [--samples K] [--directions D] [--tolerance T]\n\n"
     "Builds the network with random weights (seed S) on a random batch of N images\n"
     "(default 2), runs forward and backward, and compares every parameter\n"
     "tensor's gradient and the input's with central finite differences of the loss\n"
     "(cross-entropy when the model ends in softmax, a random projection of the\n"
     "output otherwise): K elements per tensor (default 6, always including the\n"
     "largest gradient) plus D random directions (default 2; each moves up to 32\n"
     "elements at once). Prints the worst relative error\n"
     "per tensor. Points on a kink (relu at 0, max-pool ties) are detected and\n"
     "replaced. --input checks the model at another input size (faster).\n\n"
     "Exit status: 0 all within tolerance (default 2e-2), 1 otherwise or invalid\n"
     "model, 2 usage error.\n",
     run_gradcheck},
    {"help", "show help for a command", "usage: cnnrun help [COMMAND]\n", NULL},
};

static const command *find_command(const char *name) {
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

static void print_overview(FILE *out) {
    fprintf(out, "cnnrun %s: check and train convolutional networks described in YAML\n\n",
            CNNRUN_VERSION);
    fprintf(out, "usage: cnnrun COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'cnnrun help COMMAND' shows a command's options. Model format: README.md.\n");
}

static int run_help(const char *topic) {
    if (!topic) {
        print_overview(stdout);
        return 0;
    }
    const command *cmd = find_command(topic);
    if (!cmd) {
        fprintf(stderr, "cnnrun: no command '%s'\n", topic);
        print_overview(stderr);
        return 2;
    }
    fputs(cmd->usage, stdout);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        print_overview(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) return run_help(NULL);
    if (strcmp(name, "--version") == 0) {
        printf("cnnrun %s\n", CNNRUN_VERSION);
        return 0;
    }
    if (strcmp(name, "help") == 0) return run_help(argc > 2 ? argv[2] : NULL);
    const command *cmd = find_command(name);
    if (!cmd) {
        const char *names[16];
        int n = 0;
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
            names[n++] = commands[i].name;
        const char *near = cr_suggest(name, names, n);
        fprintf(stderr, "cnnrun: unknown command '%s'%s%s%s\n", name,
                near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "");
        fprintf(stderr, "Try 'cnnrun --help'.\n");
        return 2;
    }
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return run_help(name);
    return cmd->run(argc - 1, argv + 1);
}
