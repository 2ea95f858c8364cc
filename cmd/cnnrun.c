/* cnnrun: the command line. Thin on purpose: parse arguments, call the
 * library, print what it returns. Exit codes: 0 ok, 1 invalid input or a
 * failed run, 2 usage or unreadable file. */
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb/stb_image.h>

#include "bench.h"
#include "clock.h"
#include "dist.h"
#include "gradcheck.h"
#include "image_out.h"
#include "model.h"
#include "plot.h"
#include "parallel.h"
#include "train.h"
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

/* The last case of a MODEL.yaml command's option loop: an unknown option,
 * a second model file, or the model file. 0, or the usage error's code. */
static int model_file_argument(const char *command, const char *arg, const char **path) {
    if (arg[0] == '-' && arg[1]) return usage_error(command, "unknown option '%s'", arg);
    if (*path) return usage_error(command, "one model file at a time (extra: '%s')", arg);
    *path = arg;
    return 0;
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
    int threads = cr_threads();
    printf(" kept for backward %s, scratch %s (%d thread%s)\n", human_bytes(m.saved, c, sizeof c),
           human_bytes(m.workspace, d, sizeof d), threads, threads == 1 ? "" : "s");
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
        } else {
            int code = model_file_argument("check", argv[i], &path);
            if (code) return code;
        }
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
        } else {
            int code = model_file_argument("gradcheck", arg, &path);
            if (code) return code;
        }
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

/* ---- train, eval, predict ------------------------------------------------------------ */

/* Options that take a value: parsed by one helper so every command words
 * its errors the same way. */
static int parse_count64(const char *text, int64_t *out) {
    char *end;
    long long value = strtoll(text, &end, 10);
    if (end == text || *end || value < 1) return 1;
    *out = value;
    return 0;
}

static int parse_seed(const char *text, uint64_t *out) {
    char *end;
    if (!*text || *text == '-') return 1;
    unsigned long long value = strtoull(text, &end, 10);
    if (end == text || *end) return 1;
    *out = value;
    return 0;
}

/* 75 -> "1:15", 3725 -> "1:02:05" */
static const char *duration_text(double seconds, char *out, size_t size) {
    long total = seconds > 0 && seconds < 1e9 ? (long)(seconds + 0.5) : 0;
    if (total >= 3600)
        snprintf(out, size, "%ld:%02ld:%02ld", total / 3600, total / 60 % 60, total % 60);
    else
        snprintf(out, size, "%ld:%02ld", total / 60, total % 60);
    return out;
}

static volatile sig_atomic_t stop_requested;

/* The first Ctrl-C asks the loop to stop after the current step and save;
 * SA_RESETHAND makes a second one end the program at once. */
static void request_stop(int signal_number) {
    (void)signal_number;
    stop_requested = 1;
}

typedef struct train_display {
    bool terminal; /* one updating line per epoch, redrawn with \r */
    bool quiet;
    double last_drawn;
    bool line_open;
} train_display;

static void show_start(void *user, const cr_train_start *start) {
    train_display *display = user;
    if (display->quiet) return;
    char a[32], b[32];
    printf("%s images for training, %s for validation: %lld steps of %d images per epoch\n",
           grouped(start->train_images, a, sizeof a),
           grouped(start->validation_images, b, sizeof b), (long long)start->steps_per_epoch,
           start->batch_size);
    if (start->resumed)
        printf("resuming at epoch %d of %d, step %lld\n", start->start_epoch, start->epochs,
               (long long)start->start_step);
    if (start->changes && start->changes[0])
        printf("changed since the checkpoint: %s\n", start->changes);
    fflush(stdout);
}

/* The progress line must fit the terminal: a wrapped line cannot be
 * redrawn with \r. The bar takes what the numbers leave. */
static int terminal_columns(void) {
    struct winsize size;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
    return 80;
}

static void show_step(void *user, const cr_train_progress *p) {
    train_display *display = user;
    if (!display->terminal || display->quiet) return;
    double now = cr_monotonic_seconds();
    if (p->step != p->steps && now - display->last_drawn < 0.1) return;
    display->last_drawn = now;
    char numbers[160], eta[32], bar[64];
    snprintf(numbers, sizeof numbers, " %lld/%lld loss %.4f acc %.2f%% %.0f img/s ETA %s",
             (long long)p->step, (long long)p->steps, p->loss, 100 * p->accuracy,
             p->images_per_second, duration_text(p->eta_seconds, eta, sizeof eta));
    char epoch[32];
    snprintf(epoch, sizeof epoch, "epoch %d/%d ", p->epoch, p->epochs);
    int width = terminal_columns() - 1 - (int)strlen(epoch) - (int)strlen(numbers) - 2;
    if (width > 30) width = 30;
    if (width < 0) width = 0;
    int filled = (int)(width * p->step / (p->steps ? p->steps : 1));
    for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
    bar[width] = '\0';
    if (width)
        printf("\r\033[K%s[%s]%s", epoch, bar, numbers);
    else
        printf("\r\033[K%s%s", epoch, numbers + 1);
    fflush(stdout);
    display->line_open = true;
}

static void show_epoch(void *user, const cr_epoch_result *e) {
    train_display *display = user;
    if (display->quiet) return;
    if (display->line_open) printf("\r\033[K");
    display->line_open = false;
    printf("epoch %d/%d  train loss %.4f acc %.2f%%  val loss %.4f acc %.2f%%  lr %.4g  %.1f s%s\n",
           e->epoch, e->epochs, e->train_loss, 100 * e->train_accuracy, e->val_loss,
           100 * e->val_accuracy, (double)e->lr, e->seconds, e->best ? "  (best)" : "");
    fflush(stdout);
}

static bool has_checkpoint(const char *dir) {
    char path[4200];
    struct stat info;
    snprintf(path, sizeof path, "%s/%s", dir, CR_RUN_CHECKPOINT);
    return stat(path, &info) == 0;
}

/* runs/NAME, or runs/NAME-2, -3, ... when that folder already holds a run:
 * an accidental second `cnnrun train` never overwrites the first. */
static void default_run_dir(const cr_model *model, char *out, size_t size) {
    snprintf(out, size, "runs/%s", model->name);
    for (int n = 2; has_checkpoint(out) && n < 10000; n++)
        snprintf(out, size, "runs/%s-%d", model->name, n);
}

typedef struct train_args {
    const char *path, *data, *out, *init, *resume;
    int epochs, batch_size, threads;
    double lr;
    bool has_seed, no_shuffle, quiet;
    uint64_t seed;
    int64_t max_steps;
} train_args;

static int parse_train_args(int argc, char **argv, train_args *a) {
    static const char *const valued[] = {"--data",   "--epochs",   "--batch-size", "--lr",
                                         "--seed",   "--threads",  "--out",        "--init",
                                         "--resume", "--max-steps"};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        bool takes_value = false;
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++)
            if (strcmp(arg, valued[k]) == 0) takes_value = true;
        const char *value = takes_value && i + 1 < argc ? argv[i + 1] : NULL;
        if (takes_value && !value) return usage_error("train", "%s needs a value", arg);
        if (strcmp(arg, "--data") == 0)
            a->data = value;
        else if (strcmp(arg, "--out") == 0)
            a->out = value;
        else if (strcmp(arg, "--init") == 0)
            a->init = value;
        else if (strcmp(arg, "--resume") == 0)
            a->resume = value;
        else if (strcmp(arg, "--epochs") == 0) {
            if (parse_positive(value, &a->epochs))
                return usage_error("train", "--epochs must be a whole number ≥ 1, got '%s'", value);
        } else if (strcmp(arg, "--batch-size") == 0) {
            if (parse_positive(value, &a->batch_size))
                return usage_error("train", "--batch-size must be a whole number ≥ 1, got '%s'",
                                   value);
        } else if (strcmp(arg, "--threads") == 0) {
            if (parse_positive(value, &a->threads))
                return usage_error("train", "--threads must be a whole number ≥ 1, got '%s'",
                                   value);
        } else if (strcmp(arg, "--max-steps") == 0) {
            if (parse_count64(value, &a->max_steps))
                return usage_error("train", "--max-steps must be a whole number ≥ 1, got '%s'",
                                   value);
        } else if (strcmp(arg, "--lr") == 0) {
            char *end;
            a->lr = strtod(value, &end);
            if (end == value || *end || !(a->lr > 0) || !isfinite(a->lr))
                return usage_error("train", "--lr must be a positive number, got '%s'", value);
        } else if (strcmp(arg, "--seed") == 0) {
            if (parse_seed(value, &a->seed))
                return usage_error("train", "--seed must be a whole number ≥ 0, got '%s'", value);
            a->has_seed = true;
        } else if (strcmp(arg, "--no-shuffle") == 0)
            a->no_shuffle = true;
        else if (strcmp(arg, "--quiet") == 0)
            a->quiet = true;
        else {
            int code = model_file_argument("train", arg, &a->path);
            if (code) return code;
        }
        if (takes_value) i++;
    }
    if (!a->path) return usage_error("train", "%s", "missing MODEL.yaml");
    if (a->resume && a->init)
        return usage_error("train", "%s",
                           "--init and --resume do not go together: a resumed run continues "
                           "from its checkpoint's weights");
    if (a->resume && a->out && strcmp(a->resume, a->out) != 0)
        return usage_error("train", "%s",
                           "--resume DIR continues the run in DIR: --out cannot name another "
                           "folder");
    return 0;
}

/* Loads the model and its train section, with --data applied. */
static int load_for_training(const char *path, const char *data, cr_model **model,
                             cr_train_config *config, cr_error *err) {
    if (cr_model_load(path, model, err)) return 1;
    print_warnings(&(*model)->warnings);
    if (cr_train_config_parse(*model, config, err) ||
        (data && cr_data_source_parse(data, &config->data, err))) {
        cr_model_free(*model);
        *model = NULL;
        return 1;
    }
    return 0;
}

static void print_run_files(const char *dir, const cr_train_result *result) {
    printf("files in %s/:\n", dir);
    char path[4200];
    struct stat info;
    snprintf(path, sizeof path, "%s/%s", dir, CR_RUN_METRICS);
    if (stat(path, &info) == 0) printf("  %-24s one row per epoch\n", CR_RUN_METRICS);
    printf("  %-24s the latest weights\n", CR_RUN_LAST);
    if (result->best_epoch)
        printf("  %-24s the best validation accuracy, %.2f%% (epoch %d)\n", CR_RUN_BEST,
               100 * result->best_accuracy, result->best_epoch);
    printf("  %-24s everything --resume needs\n", CR_RUN_CHECKPOINT);
}

/* One rank's part of `cnnrun train` (all of it without mpirun). Every
 * failure is agreed by all ranks (dist.h) before returning, so that rank 0
 * can print it and no rank waits for the others in vain. *failed: the
 * exit code is an error's (not a finished or interrupted run's). */
static int train_on_this_rank(int argc, char **argv, bool *failed) {
    *failed = true;
    train_args a = {0};
    int usage = parse_train_args(argc, argv, &a);
    cr_error err = {0};
    if (usage) cr_fail(&err, CR_ERR_USAGE, (cr_mark){0}, NULL, "invalid command line");
    if (cr_dist_agree(usage, &err)) return usage ? usage : report(&err);
    cr_model *model = NULL;
    cr_train_config config;
    if (cr_dist_agree(load_for_training(a.path, a.data, &model, &config, &err), &err)) {
        cr_model_free(model);
        return report(&err);
    }
    if (a.epochs) config.epochs = a.epochs;
    if (a.batch_size) config.batch_size = a.batch_size;
    if (a.lr > 0) config.optimizer.lr = (float)a.lr;
    if (a.has_seed) config.seed = a.seed;
    cr_set_threads(a.threads);

    char run_dir[4096];
    if (a.resume)
        snprintf(run_dir, sizeof run_dir, "%s", a.resume);
    else if (a.out)
        snprintf(run_dir, sizeof run_dir, "%s", a.out);
    else
        default_run_dir(model, run_dir, sizeof run_dir);

    train_display display = {.terminal = isatty(STDOUT_FILENO) == 1, .quiet = a.quiet};
    if (!a.quiet) {
        printf("training '%s' (%s) for %d epochs, batch %d, %s lr %g, seed %llu\n", model->name,
               a.path, config.epochs, config.batch_size, cr_optimizer_name(config.optimizer.type),
               (double)config.optimizer.lr, (unsigned long long)config.seed);
        printf("run folder: %s\nloading data ...\n", run_dir);
        fflush(stdout);
    }
    cr_dataset train, validation;
    if (cr_dist_agree(cr_train_load_data(model, &config, &train, &validation, &err), &err)) {
        cr_dataset_free(&train);
        cr_dataset_free(&validation);
        cr_model_free(model);
        return report(&err);
    }

    cr_train_options options = {.run_dir = run_dir,
                                .resume = a.resume != NULL,
                                .init_weights = a.init,
                                .max_steps = a.max_steps,
                                .no_shuffle = a.no_shuffle,
                                .stop = &stop_requested};
    cr_train_callbacks callbacks = {
        .user = &display, .on_start = show_start, .on_step = show_step, .on_epoch = show_epoch};
    struct sigaction action = {.sa_handler = request_stop, .sa_flags = SA_RESETHAND}, previous;
    sigemptyset(&action.sa_mask);
    stop_requested = 0;
    sigaction(SIGINT, &action, &previous);
    cr_train_result result;
    int status = cr_train(model, &config, &train, &validation, &options, &callbacks, &result, &err);
    sigaction(SIGINT, &previous, NULL);
    if (display.line_open) printf("\n");
    int code = 0;
    *failed = status != 0;
    if (status) {
        fflush(stdout);
        code = report(&err);
    } else if (result.status == CR_TRAIN_FINISHED) {
        if (result.epochs_run == 0)
            printf("the run in %s had already finished its %d epochs (more: --epochs N)\n", run_dir,
                   config.epochs);
        printf("done: validation accuracy %.2f%% after epoch %d, best %.2f%% (epoch %d)\n",
               100 * result.final_val_accuracy, result.epoch, 100 * result.best_accuracy,
               result.best_epoch);
        print_run_files(run_dir, &result);
    } else {
        print_run_files(run_dir, &result);
        fflush(stdout);
        fprintf(stderr, "%s at epoch %d step %lld; resume with: cnnrun train %s --resume %s\n",
                result.status == CR_TRAIN_INTERRUPTED ? "interrupted" : "stopped (--max-steps)",
                result.epoch, (long long)result.step, a.path, run_dir);
        code = result.status == CR_TRAIN_INTERRUPTED ? 1 : 0;
    }
    cr_dataset_free(&train);
    cr_dataset_free(&validation);
    cr_model_free(model);
    return code;
}

/* Under mpirun (docs/distributed.md) every rank runs the same command; only
 * rank 0 talks to the user: the others' output goes to /dev/null. */
static int run_train(int argc, char **argv) {
    cr_error err = {0};
    if (cr_dist_init(&err)) return report(&err);
    if (cr_dist_rank() != 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            fflush(stdout);
            fflush(stderr);
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
            close(null);
        }
    }
    bool failed;
    int code = train_on_this_rank(argc, argv, &failed);
    cr_dist_finalize(failed);
    return code;
}

/* Class `index` as "3 Dress", or "3" when the data set has no names. */
static const char *class_text(const cr_dataset *names, int index, char *out, size_t size) {
    if (names && names->class_names && index < names->classes)
        snprintf(out, size, "%d %s", index, names->class_names[index]);
    else
        snprintf(out, size, "%d", index);
    return out;
}

/* The model with weights loaded, for inference on batches of `batch`. */
static int load_inference_net(cr_model *model, const char *weights, int batch, cr_net **net,
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

static void print_confusion(const cr_dataset *data, const int64_t *confusion, int classes) {
    char label[160], number[32];
    int label_width = 5, count_width = 3;
    for (int c = 0; c < classes; c++) {
        int n = display_width(class_text(data, c, label, sizeof label));
        if (n > label_width) label_width = n;
    }
    for (int i = 0; i < classes * classes; i++) {
        int n = (int)strlen(grouped(confusion[i], number, sizeof number));
        if (n > count_width) count_width = n;
    }
    printf("\nconfusion matrix (rows: true class, columns: predicted class)\n");
    print_cell("", label_width, 1);
    for (int c = 0; c < classes; c++) {
        snprintf(number, sizeof number, "%d", c);
        print_cell(number, -count_width, c + 1 < classes);
    }
    putchar('\n');
    for (int t = 0; t < classes; t++) {
        print_cell(class_text(data, t, label, sizeof label), label_width, 1);
        for (int p = 0; p < classes; p++)
            print_cell(grouped(confusion[(int64_t)t * classes + p], number, sizeof number),
                       -count_width, p + 1 < classes);
        putchar('\n');
    }
}

static int run_eval(int argc, char **argv) {
    const char *path = NULL, *weights = NULL, *data = NULL;
    int batch = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        bool takes_value = strcmp(arg, "--weights") == 0 || strcmp(arg, "--data") == 0 ||
                           strcmp(arg, "--batch-size") == 0 || strcmp(arg, "--threads") == 0;
        const char *value = takes_value && i + 1 < argc ? argv[i + 1] : NULL;
        if (takes_value && !value) return usage_error("eval", "%s needs a value", arg);
        if (strcmp(arg, "--weights") == 0)
            weights = value;
        else if (strcmp(arg, "--data") == 0)
            data = value;
        else if (strcmp(arg, "--batch-size") == 0) {
            if (parse_positive(value, &batch))
                return usage_error("eval", "--batch-size must be a whole number ≥ 1, got '%s'",
                                   value);
        } else if (strcmp(arg, "--threads") == 0) {
            if (parse_positive(value, &threads))
                return usage_error("eval", "--threads must be a whole number ≥ 1, got '%s'", value);
        } else {
            int code = model_file_argument("eval", arg, &path);
            if (code) return code;
        }
        if (takes_value) i++;
    }
    if (!path) return usage_error("eval", "%s", "missing MODEL.yaml");
    if (!weights)
        return usage_error("eval", "%s",
                           "missing --weights W.safetensors (e.g. from a run "
                           "folder: runs/NAME/best.safetensors)");
    cr_set_threads(threads);
    cr_model *model;
    cr_train_config config;
    cr_error err = {0};
    if (load_for_training(path, data, &model, &config, &err)) return report(&err);
    if (!batch) batch = config.batch_size;
    cr_dataset test = {0};
    cr_net *net = NULL;
    int classes = (int)cr_shape_size(model->layers[model->output].out);
    int64_t *confusion = calloc((size_t)classes * (size_t)classes, sizeof *confusion);
    double loss = 0, accuracy = 0;
    int status = confusion ? 0 : cr_fail(&err, CR_ERR_RUNTIME, (cr_mark){0}, NULL, "out of memory");
    if (!status) status = cr_data_load(&config.data, true, model->input, &test, &err);
    if (!status) status = cr_check_labels(model, &test, &err);
    if (!status) status = load_inference_net(model, weights, batch, &net, &err);
    if (!status)
        status = cr_evaluate(net, &test, &config.transform, confusion, &loss, &accuracy, &err);
    int code = 0;
    if (status) {
        code = report(&err);
    } else {
        char a[32], b[32], label[160];
        printf("model '%s', weights %s\ndata: %s (%s images)\n\n", model->name, weights,
               test.source, grouped(test.count, a, sizeof a));
        int64_t right = 0;
        for (int c = 0; c < classes; c++) right += confusion[(int64_t)c * classes + c];
        printf("loss %.4f  accuracy %.2f%% (%s of %s)\n\n", loss, 100 * accuracy,
               grouped(right, a, sizeof a), grouped(test.count, b, sizeof b));
        int label_width = 5;
        for (int c = 0; c < classes; c++) {
            int n = display_width(class_text(&test, c, label, sizeof label));
            if (n > label_width) label_width = n;
        }
        print_cell("class", label_width, 2);
        print_cell("accuracy", -9, 2);
        print_cell("images", -8, 0);
        putchar('\n');
        for (int c = 0; c < classes; c++) {
            int64_t total = 0;
            for (int p = 0; p < classes; p++) total += confusion[(int64_t)c * classes + p];
            char percent[32];
            if (total)
                snprintf(percent, sizeof percent, "%.2f%%",
                         100.0 * (double)confusion[(int64_t)c * classes + c] / (double)total);
            else
                snprintf(percent, sizeof percent, "-");
            print_cell(class_text(&test, c, label, sizeof label), label_width, 2);
            print_cell(percent, -9, 2);
            print_cell(grouped(total, a, sizeof a), -8, 0);
            putchar('\n');
        }
        print_confusion(&test, confusion, classes);
    }
    free(confusion);
    cr_net_free(net);
    cr_dataset_free(&test);
    cr_model_free(model);
    return code;
}

typedef struct ranked {
    int index;
    float probability;
} ranked;

static int by_probability(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->probability != y->probability) return x->probability < y->probability ? 1 : -1;
    return x->index - y->index;
}

static int run_predict(int argc, char **argv) {
    const char *path = NULL, *weights = NULL;
    int top = 5, n_images = 0;
    const char **images = calloc((size_t)argc, sizeof *images);
    if (!images) return 1;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        bool takes_value = strcmp(arg, "--weights") == 0 || strcmp(arg, "--top") == 0;
        const char *value = takes_value && i + 1 < argc ? argv[i + 1] : NULL;
        int code = 0;
        if (takes_value && !value)
            code = usage_error("predict", "%s needs a value", arg);
        else if (strcmp(arg, "--weights") == 0)
            weights = value;
        else if (strcmp(arg, "--top") == 0) {
            if (parse_positive(value, &top))
                code = usage_error("predict", "--top must be a whole number ≥ 1, got '%s'", value);
        } else if (arg[0] == '-' && arg[1])
            code = usage_error("predict", "unknown option '%s'", arg);
        else if (!path)
            path = arg;
        else
            images[n_images++] = arg;
        if (code) {
            free(images);
            return code;
        }
        if (takes_value) i++;
    }
    int code = 0;
    if (!path)
        code = usage_error("predict", "%s", "missing MODEL.yaml");
    else if (!weights)
        code = usage_error("predict", "%s", "missing --weights W.safetensors");
    else if (!n_images)
        code = usage_error("predict", "%s", "no image files given");
    if (code) {
        free(images);
        return code;
    }
    cr_model *model;
    cr_train_config config;
    cr_error err = {0};
    if (load_for_training(path, NULL, &model, &config, &err)) {
        free(images);
        return report(&err);
    }
    cr_net *net = NULL;
    int classes = (int)cr_shape_size(model->layers[model->output].out);
    float *probabilities = malloc((size_t)classes * sizeof *probabilities);
    ranked *order = malloc((size_t)classes * sizeof *order);
    int status = probabilities && order
                     ? 0
                     : cr_fail(&err, CR_ERR_RUNTIME, (cr_mark){0}, NULL, "out of memory");
    if (!status) status = load_inference_net(model, weights, 1, &net, &err);
    if (status) code = report(&err);
    /* Class names come with the data set; without it (not installed, or
     * another machine) the classes are shown by number. */
    cr_dataset names = {0};
    cr_error ignored;
    bool have_names =
        !status && cr_data_load(&config.data, true, model->input, &names, &ignored) == 0;
    for (int i = 0; i < n_images && !status; i++) {
        if (cr_image_load(images[i], model->input, &config.transform, cr_net_input(net), &err)) {
            code = report(&err);
            continue;
        }
        cr_net_forward(net, false);
        cr_output_probabilities(net, 0, probabilities);
        for (int c = 0; c < classes; c++) order[c] = (ranked){c, probabilities[c]};
        qsort(order, (size_t)classes, sizeof *order, by_probability);
        printf("%s\n", images[i]);
        for (int k = 0; k < top && k < classes; k++) {
            char label[160];
            printf("  %6.2f%%  %s\n", 100.0 * order[k].probability,
                   class_text(have_names ? &names : NULL, order[k].index, label, sizeof label));
        }
    }
    if (have_names) cr_dataset_free(&names);
    free(probabilities);
    free(order);
    free(images);
    cr_net_free(net);
    cr_model_free(model);
    return code;
}

/* ---- pictures: apply, filters, features, plot ------------------------------------ */

/* Dense and flatten fix the input size; every other kind works on any. */
static bool fully_convolutional(const cr_model *model) {
    for (int i = 0; i < model->n_layers; i++) {
        const char *kind = model->layers[i].kind->name;
        if (strcmp(kind, "dense") == 0 || strcmp(kind, "flatten") == 0) return false;
    }
    return true;
}

/* The layer called `name`, or an error suggesting the nearest name. */
static int find_layer_or_fail(const cr_model *model, const char *name, int *index, cr_error *err) {
    *index = cr_model_find_layer(model, name);
    if (*index >= 0) return 0;
    const char **names = malloc((size_t)model->n_layers * sizeof *names);
    const char *near = NULL;
    if (names) {
        for (int i = 0; i < model->n_layers; i++) names[i] = model->layers[i].name;
        near = cr_suggest(name, names, model->n_layers);
    }
    cr_fail(err, CR_ERR_INVALID, (cr_mark){0}, NULL, "model '%s' has no layer '%s'%s%s%s",
            model->name, name, near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "");
    free(names);
    return 1;
}

/* The model (at the image's own size when it is fully convolutional), a
 * network for one image with `weights` or seeded random ones, and the image
 * in its input. */
static int load_picture_net(const char *path, const char *weights, const char *image,
                            cr_model **model, cr_net **net, cr_error *err) {
    cr_train_config config;
    *net = NULL;
    if (load_for_training(path, NULL, model, &config, err)) return 1;
    int width, height, components;
    if (!stbi_info(image, &width, &height, &components)) {
        cr_model_free(*model);
        *model = NULL;
        return cr_fail_file(err, CR_ERR_INVALID, image, "not an image stb_image can read (%s)",
                            stbi_failure_reason());
    }
    cr_shape input = (*model)->input;
    if (fully_convolutional(*model)) input = (cr_shape){input.c, height, width};
    cr_net_options options = {.seed = 1};
    int status = cr_model_set_input(*model, input, err) ||
                 cr_net_create(*model, 1, &options, net, err) ||
                 (weights && cr_net_load_weights(*net, weights, err)) ||
                 cr_image_load(image, input, &config.transform, cr_net_input(*net), err);
    if (!status) {
        cr_net_forward(*net, false);
        return 0;
    }
    cr_net_free(*net);
    cr_model_free(*model);
    *net = NULL;
    *model = NULL;
    return 1;
}

static int check_drawable(const cr_layer *layer, cr_error *err) {
    if (layer->out.h * layer->out.w > 1) return 0;
    return cr_fail(err, CR_ERR_INVALID, layer->mark, layer->name,
                   "%s output %d×1×1 has no spatial extent to draw; pick a convolutional or "
                   "pooling layer",
                   layer->kind->name, layer->out.c);
}

/* A layer's output for image 0: one channel as a grey picture of its own
 * size, several as a grid of labelled tiles (each at least 32 px). */
static int write_layer_picture(cr_net *net, int index, cr_scale scale, const char *out_path,
                               cr_error *err) {
    const cr_layer *layer = &cr_net_model(net)->layers[index];
    cr_shape s = layer->out;
    if (check_drawable(layer, err)) return 1;
    int64_t spatial = (int64_t)s.h * s.w;
    unsigned char *bytes = malloc((size_t)(s.c * spatial));
    if (!bytes) return cr_fail(err, CR_ERR_RUNTIME, (cr_mark){0}, NULL, "out of memory");
    const float *y = cr_net_layer_output(net, index);
    for (int c = 0; c < s.c; c++)
        cr_map_to_bytes(y + c * spatial, spatial, scale, bytes + c * spatial);
    cr_picture picture = {.width = s.w, .height = s.h, .channels = 1, .pixels = bytes};
    int status = 0;
    if (s.c > 1) status = cr_grid_create(bytes, s.c, s.h, s.w, 1, 32, &picture, err);
    if (!status) status = cr_picture_write_png(&picture, out_path, err);
    if (picture.pixels != bytes) cr_picture_free(&picture);
    free(bytes);
    return status;
}

static int parse_scale(const char *command, const char *text, cr_scale *scale) {
    if (strcmp(text, "minmax") == 0)
        *scale = CR_SCALE_MINMAX;
    else if (strcmp(text, "clip") == 0)
        *scale = CR_SCALE_CLIP;
    else
        return usage_error(command, "--scale must be minmax or clip, got '%s'", text);
    return 0;
}

/* The arguments apply and features share: MODEL.yaml IMAGE -o OUT
 * [--weights W] [--scale minmax|clip], plus `layer_option` (--layer or
 * --layers) with its value. Returns 0, or 2 after a usage message. */
typedef struct picture_args {
    const char *model, *image, *out, *weights, *layers;
    cr_scale scale;
} picture_args;

static int parse_picture_args(const char *command, const char *layer_option, int argc, char **argv,
                              picture_args *args) {
    *args = (picture_args){.scale = CR_SCALE_MINMAX};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        bool takes_value = strcmp(arg, "-o") == 0 || strcmp(arg, "--weights") == 0 ||
                           strcmp(arg, layer_option) == 0 || strcmp(arg, "--scale") == 0;
        const char *value = takes_value && i + 1 < argc ? argv[i + 1] : NULL;
        if (takes_value && !value) return usage_error(command, "%s needs a value", arg);
        if (strcmp(arg, "-o") == 0)
            args->out = value;
        else if (strcmp(arg, "--weights") == 0)
            args->weights = value;
        else if (strcmp(arg, layer_option) == 0)
            args->layers = value;
        else if (strcmp(arg, "--scale") == 0) {
            if (parse_scale(command, value, &args->scale)) return 2;
        } else if (arg[0] == '-' && arg[1])
            return usage_error(command, "unknown option '%s'", arg);
        else if (!args->model)
            args->model = arg;
        else if (!args->image)
            args->image = arg;
        else
            return usage_error(command, "unexpected argument '%s'", arg);
        if (takes_value) i++;
    }
    return 0;
}

static int run_apply(int argc, char **argv) {
    picture_args args;
    if (parse_picture_args("apply", "--layer", argc, argv, &args)) return 2;
    const char *path = args.model, *image = args.image, *out = args.out, *weights = args.weights,
               *layer_name = args.layers;
    cr_scale scale = args.scale;
    if (!path || !image) return usage_error("apply", "%s", "needs MODEL.yaml and IMAGE");
    if (!out) return usage_error("apply", "%s", "missing -o OUT.png");
    cr_model *model;
    cr_net *net;
    cr_error err = {0};
    if (load_picture_net(path, weights, image, &model, &net, &err)) return report(&err);
    int index = model->output;
    int status = layer_name ? find_layer_or_fail(model, layer_name, &index, &err) : 0;
    if (!status) status = write_layer_picture(net, index, scale, out, &err);
    cr_net_free(net);
    cr_model_free(model);
    return status ? report(&err) : 0;
}

static int run_plot(int argc, char **argv) {
    const char *run_dir = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0) {
            if (i + 1 >= argc) return usage_error("plot", "%s", "-o needs a value");
            out = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1])
            return usage_error("plot", "unknown option '%s'", argv[i]);
        else if (!run_dir)
            run_dir = argv[i];
        else
            return usage_error("plot", "unexpected argument '%s'", argv[i]);
    }
    if (!run_dir) return usage_error("plot", "%s", "needs RUN_DIR (a folder of cnnrun train)");
    if (!out) return usage_error("plot", "%s", "missing -o OUT.png");
    char path[4096];
    snprintf(path, sizeof path, "%s/metrics.csv", run_dir);
    cr_metrics metrics;
    cr_picture picture = {0};
    cr_error err = {0};
    int status = cr_metrics_read(path, &metrics, &err);
    if (status) return report(&err);
    status = cr_plot_metrics(&metrics, &picture, &err) || cr_picture_write_png(&picture, out, &err);
    cr_picture_free(&picture);
    cr_metrics_free(&metrics);
    return status ? report(&err) : 0;
}

/* A conv layer's kernels as a grid (see cr_kernel_tiles): weights from
 * --weights, else the model's inline or seeded initial ones. */
static int write_filters_picture(cr_net *net, int index, int channel, const char *out_path,
                                 cr_error *err) {
    const cr_layer *layer = &cr_net_model(net)->layers[index];
    if (strcmp(layer->kind->name, "conv") != 0)
        return cr_fail(err, CR_ERR_INVALID, layer->mark, layer->name,
                       "a %s layer has no kernels to draw; pick a conv layer", layer->kind->name);
    char weight_name[160];
    snprintf(weight_name, sizeof weight_name, "%s.weight", layer->name);
    cr_tensor weight = {0};
    for (int i = 0; i < cr_net_param_count(net); i++)
        if (strcmp(cr_net_param(net, i).name, weight_name) == 0) weight = cr_net_param(net, i);
    if (!weight.data || weight.ndim != 4)
        return cr_fail(err, CR_ERR_INVALID, layer->mark, layer->name, "no 4-d tensor '%s'",
                       weight_name);
    int filters = weight.dims[0], in_channels = weight.dims[1];
    int kernel_height = weight.dims[2], kernel_width = weight.dims[3];
    unsigned char *tiles = malloc((size_t)(filters * kernel_height * kernel_width * 3));
    if (!tiles) return cr_fail(err, CR_ERR_RUNTIME, (cr_mark){0}, NULL, "out of memory");
    cr_picture picture = {0};
    int channels;
    int status =
        cr_kernel_tiles(weight.data, filters, in_channels, kernel_height, kernel_width, channel,
                        tiles, &channels, err) ||
        cr_grid_create(tiles, filters, kernel_height, kernel_width, channels, 24, &picture, err) ||
        cr_picture_write_png(&picture, out_path, err);
    cr_picture_free(&picture);
    free(tiles);
    return status;
}

static int run_filters(int argc, char **argv) {
    const char *path = NULL, *out = NULL, *weights = NULL, *layer_name = NULL;
    int channel = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        bool takes_value = strcmp(arg, "-o") == 0 || strcmp(arg, "--weights") == 0 ||
                           strcmp(arg, "--layer") == 0 || strcmp(arg, "--channel") == 0;
        const char *value = takes_value && i + 1 < argc ? argv[i + 1] : NULL;
        if (takes_value && !value) return usage_error("filters", "%s needs a value", arg);
        if (strcmp(arg, "-o") == 0)
            out = value;
        else if (strcmp(arg, "--weights") == 0)
            weights = value;
        else if (strcmp(arg, "--layer") == 0)
            layer_name = value;
        else if (strcmp(arg, "--channel") == 0) {
            char *end;
            long parsed = strtol(value, &end, 10);
            if (*end || end == value || parsed < 0 || parsed > 1000000)
                return usage_error("filters", "--channel needs a channel number, got '%s'", value);
            channel = (int)parsed;
        } else if (arg[0] == '-' && arg[1])
            return usage_error("filters", "unknown option '%s'", arg);
        else if (!path)
            path = arg;
        else
            return usage_error("filters", "unexpected argument '%s'", arg);
        if (takes_value) i++;
    }
    if (!path) return usage_error("filters", "%s", "needs MODEL.yaml");
    if (!layer_name) return usage_error("filters", "%s", "missing --layer NAME (a conv layer)");
    if (!out) return usage_error("filters", "%s", "missing -o OUT.png");
    cr_model *model;
    cr_net *net = NULL;
    cr_error err = {0};
    if (cr_model_load(path, &model, &err)) return report(&err);
    int index;
    cr_net_options options = {.seed = 1};
    int status = find_layer_or_fail(model, layer_name, &index, &err) ||
                 cr_net_create(model, 1, &options, &net, &err) ||
                 (weights && cr_net_load_weights(net, weights, &err)) ||
                 write_filters_picture(net, index, channel, out, &err);
    cr_net_free(net);
    cr_model_free(model);
    return status ? report(&err) : 0;
}

/* Every name in the comma-separated `list` as the index of a layer with a
 * picture to draw, before any is written, so a typo in the last name costs
 * nothing. */
static int resolve_layer_list(const cr_model *model, const char *list, int **indices, int *count,
                              cr_error *err) {
    *count = 1;
    for (const char *c = list; *c; c++) *count += *c == ',';
    *indices = malloc((size_t)*count * sizeof **indices);
    if (!*indices) return cr_fail(err, CR_ERR_RUNTIME, (cr_mark){0}, NULL, "out of memory");
    const char *start = list;
    for (int i = 0; i < *count; i++) {
        const char *end = strchr(start, ',');
        size_t length = end ? (size_t)(end - start) : strlen(start);
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)length, start);
        if (find_layer_or_fail(model, name, &(*indices)[i], err) ||
            check_drawable(&model->layers[(*indices)[i]], err)) {
            free(*indices);
            *indices = NULL;
            return 1;
        }
        start = end ? end + 1 : start + length;
    }
    return 0;
}

static int run_features(int argc, char **argv) {
    picture_args args;
    if (parse_picture_args("features", "--layers", argc, argv, &args)) return 2;
    const char *path = args.model, *image = args.image, *out_dir = args.out,
               *weights = args.weights, *layers = args.layers;
    cr_scale scale = args.scale;
    if (!path || !image) return usage_error("features", "%s", "needs MODEL.yaml and IMAGE");
    if (!layers) return usage_error("features", "%s", "missing --layers a,b,c");
    if (!out_dir) return usage_error("features", "%s", "missing -o DIR");
    cr_model *model;
    cr_net *net;
    cr_error err = {0};
    if (load_picture_net(path, weights, image, &model, &net, &err)) return report(&err);
    int *indices = NULL, count = 0;
    int status = resolve_layer_list(model, layers, &indices, &count, &err);
    if (!status && mkdir(out_dir, 0777) != 0 && errno != EEXIST)
        status =
            cr_fail_file(&err, CR_ERR_IO, out_dir, "cannot create folder (%s)", strerror(errno));
    for (int i = 0; !status && i < count; i++) {
        char out_path[4400];
        snprintf(out_path, sizeof out_path, "%s/%s.png", out_dir, model->layers[indices[i]].name);
        status = write_layer_picture(net, indices[i], scale, out_path, &err);
        if (!status) printf("%s\n", out_path);
    }
    free(indices);
    cr_net_free(net);
    cr_model_free(model);
    return status ? report(&err) : 0;
}

/* ---- bench ---------------------------------------------------------------------- */

typedef struct bench_args {
    const char *path;
    int batch_size, threads, steps, warmup;
    cr_shape input;
    bool json;
} bench_args;

static int parse_bench_args(int argc, char **argv, bench_args *a) {
    static const char *const valued[] = {"--batch-size", "--threads", "--steps", "--warmup",
                                         "--input"};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        bool takes_value = false;
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++)
            if (strcmp(arg, valued[k]) == 0) takes_value = true;
        const char *value = takes_value && i + 1 < argc ? argv[i + 1] : NULL;
        if (takes_value && !value) return usage_error("bench", "%s needs a value", arg);
        if (strcmp(arg, "--batch-size") == 0) {
            if (parse_positive(value, &a->batch_size))
                return usage_error("bench", "--batch-size must be a whole number ≥ 1, got '%s'",
                                   value);
        } else if (strcmp(arg, "--threads") == 0) {
            if (parse_positive(value, &a->threads))
                return usage_error("bench", "--threads must be a whole number ≥ 1, got '%s'",
                                   value);
        } else if (strcmp(arg, "--steps") == 0) {
            if (parse_positive(value, &a->steps))
                return usage_error("bench", "--steps must be a whole number ≥ 1, got '%s'", value);
        } else if (strcmp(arg, "--warmup") == 0) {
            char *end;
            long count = strtol(value, &end, 10);
            if (end == value || *end || count < 0 || count > 1000000)
                return usage_error("bench", "--warmup must be a whole number ≥ 0, got '%s'", value);
            a->warmup = (int)count;
        } else if (strcmp(arg, "--input") == 0) {
            if (parse_shape(value, &a->input))
                return usage_error("bench", "--input must be C,H,W (e.g. 3,32,32), got '%s'",
                                   value);
        } else if (strcmp(arg, "--json") == 0)
            a->json = true;
        else {
            int code = model_file_argument("bench", arg, &a->path);
            if (code) return code;
        }
        if (takes_value) i++;
    }
    if (!a->path) return usage_error("bench", "%s", "missing MODEL.yaml");
    return 0;
}

/* One progress line on stderr, rewritten in place (only on a terminal). */
static void show_bench_progress(void *user, const char *phase, int done, int total) {
    (void)user;
    fprintf(stderr, "\r\033[Kbench: %s %d/%d", phase, done, total);
    fflush(stderr);
}

/* A figure that may be missing (NAN): "—" in the table, null in JSON. */
static const char *optional_number(double value, const char *format, char *out, size_t size) {
    if (isfinite(value))
        snprintf(out, size, format, value);
    else
        snprintf(out, size, "—");
    return out;
}

static cJSON *optional_json(double value) {
    return isfinite(value) ? cJSON_CreateNumber(value) : cJSON_CreateNull();
}

static cJSON *environment_json(const char *name) {
    const char *value = getenv(name);
    return value ? cJSON_CreateString(value) : cJSON_CreateNull();
}

static void print_bench_json(const cr_model *model, const cr_bench_result *r) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", model->name);
    cJSON_AddItemToObject(root, "input", shape_json(model->input));
    cJSON_AddNumberToObject(root, "batch", r->batch);
    cJSON_AddNumberToObject(root, "threads", r->threads);
    cJSON_AddNumberToObject(root, "steps", r->steps);
    cJSON_AddNumberToObject(root, "warmup", r->warmup);
    cJSON_AddItemToObject(root, "openblas_coretype", environment_json("OPENBLAS_CORETYPE"));
    cJSON_AddItemToObject(root, "openblas_l2_size", environment_json("OPENBLAS_L2_SIZE"));
    cJSON *layers = cJSON_AddArrayToObject(root, "layers");
    for (int i = 0; i < model->n_layers; i++) {
        const cr_bench_layer *b = &r->layers[i];
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "name", model->layers[i].name);
        cJSON_AddStringToObject(item, "kind", model->layers[i].kind->name);
        cJSON_AddItemToObject(item, "output", shape_json(model->layers[i].out));
        cJSON_AddNumberToObject(item, "forward_ms", b->forward_ms);
        cJSON_AddNumberToObject(item, "backward_ms", b->backward_ms);
        cJSON_AddNumberToObject(item, "share", b->share);
        cJSON_AddItemToObject(item, "gflops", optional_json(b->gflops));
        cJSON_AddItemToObject(item, "gemm_gflops", optional_json(b->gemm_gflops));
        cJSON_AddItemToObject(item, "efficiency", optional_json(b->efficiency));
        cJSON_AddNumberToObject(item, "flops", b->flops);
        cJSON_AddNumberToObject(item, "gemm_flops", b->gemm_flops);
        cJSON_AddNumberToObject(item, "gemm_ms", b->gemm_ms);
        cJSON_AddItemToArray(layers, item);
    }
    cJSON_AddNumberToObject(root, "step_ms", r->step_ms);
    cJSON_AddNumberToObject(root, "layers_ms", r->layers_ms);
    cJSON_AddNumberToObject(root, "other_ms", r->other_ms);
    cJSON_AddNumberToObject(root, "step_wall_ms", r->step_wall_ms);
    cJSON_AddNumberToObject(root, "train_images_per_second", r->train_images_per_second);
    cJSON_AddNumberToObject(root, "inference_ms", r->inference_ms);
    cJSON_AddNumberToObject(root, "inference_images_per_second", r->inference_images_per_second);
    cJSON_AddNumberToObject(root, "peak_rss_bytes", (double)r->peak_rss_bytes);
    cJSON_AddNumberToObject(root, "planned_bytes", (double)r->planned_bytes);
    char *text = cJSON_Print(root);
    if (text) printf("%s\n", text);
    free(text);
    cJSON_Delete(root);
}

static void print_bench_table(const char *path, const cr_model *model, const cr_bench_result *r) {
    char a[64], b[64], c[64];
    shape_text(model->input, a, sizeof a);
    printf("model '%s' (%s), input %s, batch %d, %d thread%s, median of %d steps after %d "
           "warm-up\n\n",
           model->name, path, a, r->batch, r->threads, r->threads == 1 ? "" : "s", r->steps,
           r->warmup);
    int name_width = 5;
    for (int i = 0; i < model->n_layers; i++)
        if (display_width(model->layers[i].name) > name_width)
            name_width = display_width(model->layers[i].name);
    static const char *const headings[] = {"fwd ms",  "bwd ms",        "share",
                                           "GFLOP/s", "sgemm GFLOP/s", "efficiency"};
    static const int widths[] = {-9, -9, -7, -9, -14, -11};
    print_cell("layer", name_width, 2);
    print_cell("kind", 10, 2);
    print_cell("output", 12, 0);
    for (int k = 0; k < 6; k++) print_cell(headings[k], widths[k], k < 5 ? 1 : 0);
    putchar('\n');
    for (int i = 0; i < model->n_layers; i++) {
        const cr_bench_layer *l = &r->layers[i];
        char cells[6][32];
        snprintf(cells[0], sizeof cells[0], "%.3f", l->forward_ms);
        snprintf(cells[1], sizeof cells[1], "%.3f", l->backward_ms);
        snprintf(cells[2], sizeof cells[2], "%.1f%%", 100 * l->share);
        optional_number(l->gflops, "%.1f", cells[3], sizeof cells[3]);
        optional_number(l->gemm_gflops, "%.1f", cells[4], sizeof cells[4]);
        optional_number(100 * l->efficiency, "%.0f%%", cells[5], sizeof cells[5]);
        shape_text(model->layers[i].out, a, sizeof a);
        print_cell(model->layers[i].name, name_width, 2);
        print_cell(model->layers[i].kind->name, 10, 2);
        print_cell(a, 12, 0);
        for (int k = 0; k < 6; k++) print_cell(cells[k], widths[k], k < 5 ? 1 : 0);
        putchar('\n');
    }
    const char *coretype = getenv("OPENBLAS_CORETYPE"), *l2 = getenv("OPENBLAS_L2_SIZE");
    printf("\nstep:       %.2f ms = layers %.2f ms + other %.2f ms (loss, optimizer update, "
           "zeroing gradients)\n",
           r->step_ms, r->layers_ms, r->other_ms);
    printf("training:   %.1f images/s (median wall time of a step %.2f ms)\n",
           r->train_images_per_second, r->step_wall_ms);
    printf("inference:  %.1f images/s (forward %.2f ms per batch of %d)\n",
           r->inference_images_per_second, r->inference_ms, r->batch);
    printf("memory:     peak RSS %s; planned for training %s (cnnrun check's figure)\n",
           human_bytes(r->peak_rss_bytes, b, sizeof b), human_bytes(r->planned_bytes, c, sizeof c));
    printf("threads:    %d (OpenBLAS single-threaded inside each); OPENBLAS_CORETYPE=%s, "
           "OPENBLAS_L2_SIZE=%s\n",
           r->threads, coretype ? coretype : "unset", l2 ? l2 : "unset");
}

static int run_bench(int argc, char **argv) {
    bench_args a = {.warmup = 3, .steps = 10};
    int usage = parse_bench_args(argc, argv, &a);
    if (usage) return usage;
    cr_model *model;
    cr_error err = {0};
    if (cr_model_load(a.path, &model, &err)) return report(&err);
    print_warnings(&model->warnings);
    cr_train_config train;
    if ((a.input.c && cr_model_set_input(model, a.input, &err)) ||
        cr_train_config_parse(model, &train, &err)) {
        cr_model_free(model);
        return report(&err);
    }
    cr_set_threads(a.threads);
    bool terminal = isatty(STDERR_FILENO) == 1;
    cr_bench_options options = {
        .batch = a.batch_size ? a.batch_size : train.batch_size,
        .steps = a.steps,
        .warmup = a.warmup,
        .seed = train.seed,
        .optimizer = &train.optimizer,
        .progress = terminal ? show_bench_progress : NULL,
    };
    cr_bench_result result;
    int status = cr_bench_run(model, &options, &result, &err);
    if (terminal) fprintf(stderr, "\r\033[K");
    if (status) {
        cr_model_free(model);
        return report(&err);
    }
    if (a.json)
        print_bench_json(model, &result);
    else
        print_bench_table(a.path, model, &result);
    cr_bench_result_free(&result);
    cr_model_free(model);
    return 0;
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
    {"train", "train a model on its data set: progress, checkpoints, resume",
     "usage: cnnrun train MODEL.yaml [--data D] [--epochs N] [--batch-size B] [--lr X]\n"
     "                    [--seed S] [--threads N] [--out DIR] [--init W.safetensors]\n"
     "                    [--resume DIR] [--max-steps N] [--no-shuffle] [--quiet]\n\n"
     "Trains the model with its file's train section (data, epochs, batch_size,\n"
     "optimizer, schedule, seed, validation, normalize, augment; see\n"
     "docs/training.md); the options override it. After every epoch it evaluates\n"
     "the validation set and writes, atomically, to the run folder:\n"
     "  metrics.csv             epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr\n"
     "  last.safetensors        the latest weights\n"
     "  best.safetensors        the weights with the best validation accuracy\n"
     "  checkpoint.safetensors  weights, optimizer state, position and random streams\n\n"
     "  --data D          fashion-mnist, mnist:DIR, cifar10:DIR or folder:TRAIN_DIR,TEST_DIR\n"
     "  --epochs N        --batch-size B   --lr X (the base learning rate)   --seed S\n"
     "  --threads N       cnnrun's threads (default: every core); a fixed N gives the same bits\n"
     "  --out DIR         run folder (default runs/MODEL_NAME, or runs/MODEL_NAME-2, ...\n"
     "                    when that one already holds a run)\n"
     "  --init W          start from these weights instead of random ones\n"
     "  --resume DIR      continue the run in DIR exactly where it stopped; a lower --lr\n"
     "                    or more --epochs may be given, the data order may not change\n"
     "  --max-steps N     stop (with a checkpoint) after N optimizer steps of the run\n"
     "  --no-shuffle      the training images in file order every epoch\n"
     "  --quiet           no progress, only the result\n\n"
     "Ctrl-C finishes the current step, saves a checkpoint and says how to resume.\n"
     "A loss that becomes NaN or infinite stops the run and keeps the last checkpoint.\n"
     "Under mpirun -np N (a build with MPI), N ranks train data-parallel: batch_size\n"
     "stays the global batch, rank 0 prints and writes (docs/distributed.md).\n\n"
     "Exit status: 0 trained (or stopped by --max-steps), 1 invalid model or data, a\n"
     "NaN loss or an interrupted run, 2 usage error or unreadable file.\n",
     run_train},
    {"eval", "evaluate weights on the test set: accuracy, per class, confusion matrix",
     "usage: cnnrun eval MODEL.yaml --weights W.safetensors [--data D] [--batch-size B]\n"
     "                   [--threads N]\n\n"
     "Runs the model in inference mode over the test split of its train section's\n"
     "data (or --data D, as for train) with the section's normalisation, and prints\n"
     "the mean cross-entropy, the accuracy, the accuracy per class and the confusion\n"
     "matrix (rows: true class, columns: predicted), with class names where the\n"
     "data set has them.\n\n"
     "Exit status: 0 evaluated, 1 invalid model, weights or data, 2 usage error or\n"
     "unreadable file.\n",
     run_eval},
    {"predict", "classify image files: the top classes with probabilities",
     "usage: cnnrun predict MODEL.yaml --weights W.safetensors [--top K] IMAGE...\n\n"
     "Decodes each image (PNG, JPEG, BMP, PGM, ...), converts it to the model's\n"
     "channels and size, normalises it as the train section says, and prints the\n"
     "K most likely classes (default 5) with their probabilities. Class names come\n"
     "from the train section's data set when it is installed, else classes are\n"
     "shown by number.\n\n"
     "Exit status: 0 every image classified, 1 invalid model or weights or an\n"
     "undecodable image, 2 usage error or unreadable file.\n",
     run_predict},
    {"apply", "run a model on an image and write a layer's output as a picture",
     "usage: cnnrun apply MODEL.yaml IMAGE -o OUT.png [--weights W] [--layer NAME]\n"
     "                    [--scale minmax|clip]\n\n"
     "Decodes IMAGE (PNG, JPEG, BMP, PGM, ...), converts it to the model's channels\n"
     "and normalises it as the train section says (plain 0..1 without one). A model\n"
     "without dense or flatten layers runs at the image's own size; others get the\n"
     "image resized to their input. Runs forward to --layer (default: the last) with\n"
     "--weights or random initial ones, and writes its output: one channel as a grey\n"
     "image of the same size, several as a grid of labelled tiles (see\n"
     "docs/visualise.md).\n\n"
     "  --scale minmax  each channel's own minimum is black, its maximum white (default)\n"
     "  --scale clip    value×255 clipped to 0..255: 1.0 is white, as an input pixel\n"
     "                  (what a hand-made filter such as models/sobel.yaml wants)\n\n"
     "Exit status: 0 written, 1 invalid model, weights or image, unknown layer or a\n"
     "layer without spatial output, 2 usage error or unwritable file.\n",
     run_apply},
    {"plot", "draw a run's training curves (loss, accuracy) as a PNG",
     "usage: cnnrun plot RUN_DIR -o CURVES.png\n\n"
     "Reads RUN_DIR/metrics.csv (written by cnnrun train after every epoch) and draws\n"
     "two panels, loss and accuracy against the epoch, with the training series in\n"
     "blue and the validation series in orange (see docs/visualise.md).\n\n"
     "Exit status: 0 written, 1 a malformed metrics.csv (its line is named), 2 usage\n"
     "error, missing metrics.csv or unwritable file.\n",
     run_plot},
    {"filters", "draw a conv layer's kernels as a grid of tiles",
     "usage: cnnrun filters MODEL.yaml --layer NAME -o OUT.png [--weights W]\n"
     "                      [--channel K]\n\n"
     "Draws every kernel of the conv layer NAME as a tile, labelled with the filter\n"
     "index and enlarged so a 3×3 kernel is 24 px. With 3 input channels (an RGB\n"
     "input) a tile is the filter's three input channels as red, green and blue;\n"
     "otherwise it is the filter's weights for input channel K (default 0) in grey.\n"
     "Each tile is scaled on its own: its most negative weight black, its most\n"
     "positive white. Weights come from --weights, else the model's inline weights\n"
     "or its (seeded) initial ones.\n\n"
     "Exit status: 0 written, 1 invalid model or weights, unknown layer or a layer\n"
     "that is not a conv, 2 usage error or unwritable file.\n",
     run_filters},
    {"features", "write several layers' outputs for an image, one picture each",
     "usage: cnnrun features MODEL.yaml IMAGE --layers A,B,C -o DIR [--weights W]\n"
     "                       [--scale minmax|clip]\n\n"
     "Runs the model on IMAGE once, as cnnrun apply does (same decoding, size and\n"
     "normalisation; --weights or random initial ones), and writes each named\n"
     "layer's output to DIR/NAME.png, exactly the picture apply --layer NAME\n"
     "writes. DIR is created if needed. Every name is checked before anything is\n"
     "written.\n\n"
     "Exit status: 0 written, 1 invalid model, weights or image, unknown layer or a\n"
     "layer without spatial output, 2 usage error or unwritable file.\n",
     run_features},
    {"bench", "time training and inference per layer, against OpenBLAS's sgemm rate",
     "usage: cnnrun bench MODEL.yaml [--batch-size B] [--threads N] [--steps K]\n"
     "                    [--warmup W] [--input C,H,W] [--json]\n\n"
     "Times training steps (forward, cross-entropy, backward and the train section's\n"
     "optimizer update; random images and labels, no data loading) and inference\n"
     "forwards, W untimed steps first (default 3), then K timed ones (default 10);\n"
     "every figure is the median over them. Prints one row per layer: forward and\n"
     "backward ms, share of the layers' time, GFLOP/s achieved (conv, dense), the\n"
     "GFLOP/s of cblas_sgemm alone on the exact matrix shapes that layer issues, and\n"
     "the efficiency (achieved / sgemm: how close the layer comes to its im2col\n"
     "ceiling). Then training and inference images/s, peak resident memory and the\n"
     "memory planned for training (cnnrun check's figure), and the settings the\n"
     "figures depend on (threads, OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE).\n\n"
     "  --batch-size B  images per step (default: the train section's batch_size, 64)\n"
     "  --threads N     threads (default: every core, or OMP_NUM_THREADS)\n"
     "  --steps K       timed steps and timed inference forwards (default 10)\n"
     "  --warmup W      untimed steps first (default 3)\n"
     "  --input C,H,W   benchmark at another input size (shapes are re-inferred)\n"
     "  --json          print the same as one JSON document\n\n"
     "Exit status: 0 measured, 1 invalid model or failed run, 2 usage error or\n"
     "unreadable file.\n",
     run_bench},
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
