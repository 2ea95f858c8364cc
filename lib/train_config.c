/* The train section -> cr_train_config (train_config.h has the format and
 * the defaults). Same strictness as spec.c: every key is checked, each
 * optimizer and schedule type only takes its own keys, and every value is
 * range-checked where it is written, so the message points at it. */
#include "train_config.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

static const char *const sgd_keys[] = {"type", "lr", "momentum", "nesterov", "weight_decay"};
static const char *const adam_keys[] = {"type", "lr", "betas", "eps", "weight_decay"};
static const char *const optimizer_names[] = {"sgd", "adam", "adamw"};
static const char *const constant_keys[] = {"type", "warmup_epochs"};
static const char *const step_keys[] = {"type", "warmup_epochs", "step_epochs", "gamma"};
static const char *const cosine_keys[] = {"type", "warmup_epochs", "min_lr"};
static const char *const schedule_names[] = {"constant", "step", "cosine"};
static const char *const format_names[] = {"mnist", "cifar10", "folder"};

#define COUNT(array) ((int)(sizeof(array) / sizeof((array)[0])))

/* NULL-terminated lists for the table (the parser's own arrays have counts). */
static const char *const data_choices[] = {"fashion-mnist", NULL};
static const char *const optimizer_choices[] = {"sgd", "adam", "adamw", NULL};
static const char *const schedule_choices[] = {"constant", "step", "cosine", NULL};
static const char *const format_choices[] = {"mnist", "cifar10", "folder", NULL};
static const char *const validation_choices[] = {"test", NULL};

#define UNLIMITED -CR_NO_LIMIT, CR_NO_LIMIT, false, false, 0
const cr_train_key cr_train_keys[] = {
    {"", "data", CR_TRAIN_SECTION, data_choices, UNLIMITED, "\"fashion-mnist\"",
     "the data set: fashion-mnist, {format: mnist|cifar10, dir: DIR} or {format: folder, train: "
     "DIR, test: DIR}"},
    {"", "epochs", CR_TRAIN_INT, NULL, 1, CR_TRAIN_MAX_EPOCHS, false, false, 0, "10",
     "passes over the training set"},
    {"", "batch_size", CR_TRAIN_INT, NULL, 1, CR_TRAIN_MAX_BATCH_SIZE, false, false, 0, "64",
     "images per optimizer step (the global batch under MPI)"},
    {"", "optimizer", CR_TRAIN_SECTION, optimizer_choices, UNLIMITED, "\"sgd\"",
     "sgd, adam or adamw, or a mapping {type, lr, ...}"},
    {"", "schedule", CR_TRAIN_SECTION, schedule_choices, UNLIMITED, "\"constant\"",
     "learning-rate schedule: constant, cosine, or a mapping {type, warmup_epochs, ...}"},
    {"", "seed", CR_TRAIN_INT, NULL, 0, 2000000000, false, false, 0, "0",
     "seed of initialisation, shuffling, dropout and augmentation"},
    {"", "validation", CR_TRAIN_NUMBER, validation_choices, 0, 1, true, true, 0, "\"test\"",
     "test (evaluate on the test split) or a fraction of the training set held out"},
    {"", "normalize", CR_TRAIN_SECTION, NULL, UNLIMITED, NULL,
     "(x − mean) / std per input channel"},
    {"", "augment", CR_TRAIN_SECTION, NULL, UNLIMITED, NULL, "augmentation of training batches"},
    {"", "freeze", CR_TRAIN_NAMES, NULL, UNLIMITED, "[]",
     "layers whose parameters stay fixed: names or fnmatch globs ('block*'); each must match a "
     "layer"},

    {"data", "format", CR_TRAIN_TEXT, format_choices, UNLIMITED, NULL,
     "mnist (IDX files), cifar10 (.bin files) or folder (one sub-folder per class)"},
    {"data", "dir", CR_TRAIN_TEXT, NULL, UNLIMITED, NULL,
     "mnist and cifar10: the folder with the files (relative to the model file)"},
    {"data", "train", CR_TRAIN_TEXT, NULL, UNLIMITED, NULL,
     "folder: the training images' folder (relative to the model file)"},
    {"data", "test", CR_TRAIN_TEXT, NULL, UNLIMITED, NULL,
     "folder: the test images' folder (relative to the model file)"},

    {"optimizer", "type", CR_TRAIN_TEXT, optimizer_choices, UNLIMITED, "\"sgd\"",
     "sgd, adam or adamw"},
    {"optimizer", "lr", CR_TRAIN_NUMBER, NULL, 0, CR_NO_LIMIT, true, false, 0, NULL,
     "learning rate (> 0; default 0.01 for sgd, 0.001 for adam and adamw)"},
    {"optimizer", "momentum", CR_TRAIN_NUMBER, NULL, 0, 1, false, true, 0, "0.9",
     "sgd: momentum in [0, 1)"},
    {"optimizer", "nesterov", CR_TRAIN_BOOL, NULL, UNLIMITED, "false",
     "sgd: Nesterov momentum (needs momentum > 0)"},
    {"optimizer", "weight_decay", CR_TRAIN_NUMBER, NULL, 0, CR_NO_LIMIT, false, false, 0, NULL,
     "L2 penalty (sgd, adam) or decoupled decay (adamw); default 0, adamw 0.01"},
    {"optimizer", "betas", CR_TRAIN_NUMBERS, NULL, 0, 1, false, true, 2, "[0.9, 0.999]",
     "adam, adamw: [beta1, beta2], each in [0, 1)"},
    {"optimizer", "eps", CR_TRAIN_NUMBER, NULL, 0, CR_NO_LIMIT, true, false, 0, "1e-08",
     "adam, adamw: added to the denominator"},

    {"schedule", "type", CR_TRAIN_TEXT, schedule_choices, UNLIMITED, "\"constant\"",
     "constant, step (× gamma every step_epochs) or cosine (down to min_lr)"},
    {"schedule", "warmup_epochs", CR_TRAIN_NUMBER, NULL, 0, CR_NO_LIMIT, false, false, 0, "0",
     "linear warm-up from 0 over this many epochs (fractions allowed)"},
    {"schedule", "step_epochs", CR_TRAIN_INT, NULL, 1, CR_TRAIN_MAX_EPOCHS, false, false, 0, NULL,
     "step: epochs between multiplications by gamma (required for step)"},
    {"schedule", "gamma", CR_TRAIN_NUMBER, NULL, 0, 1, true, false, 0, "0.1",
     "step: factor applied to the learning rate, in (0, 1]"},
    {"schedule", "min_lr", CR_TRAIN_NUMBER, NULL, 0, CR_NO_LIMIT, false, false, 0, "0",
     "cosine: the learning rate at the end, below the optimizer's lr"},

    {"normalize", "mean", CR_TRAIN_NUMBERS, NULL, UNLIMITED, NULL,
     "one number per input channel, subtracted (pixels scaled to [0, 1])"},
    {"normalize", "std", CR_TRAIN_NUMBERS, NULL, 0, CR_NO_LIMIT, true, false, 0, NULL,
     "one positive number per input channel, divided by"},

    {"augment", "crop_padding", CR_TRAIN_INT, NULL, 0, CR_NO_LIMIT, false, false, 0, "0",
     "random crop after padding each side by this many pixels (up to the input's smaller side)"},
    {"augment", "hflip", CR_TRAIN_BOOL, NULL, UNLIMITED, "false",
     "flip half of the training images left to right"},
};
const int cr_train_key_count = COUNT(cr_train_keys);

/* The keys of one mapping of the section, from the table. */
static int section_keys(const char *section, const char **names, int max) {
    int count = 0;
    for (int i = 0; i < cr_train_key_count && count < max; i++)
        if (strcmp(cr_train_keys[i].section, section) == 0) names[count++] = cr_train_keys[i].name;
    return count;
}

static int invalid(cr_yaml *y, const yaml_node_t *node, cr_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int invalid(cr_yaml *y, const yaml_node_t *node, cr_error *err, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    cr_vfail(err, CR_ERR_INVALID, cr_yaml_mark(y, node), NULL, fmt, args);
    va_end(args);
    return 1;
}

static void join_names(const char *const *names, int count, char *out, size_t size) {
    out[0] = '\0';
    for (int i = 0; i < count; i++)
        snprintf(out + strlen(out), size - strlen(out), "%s%s", i ? ", " : "", names[i]);
}

/* `train:` with nothing after it is an empty plain scalar: no settings. */
static bool is_empty(const yaml_node_t *node) {
    return !node || (node->type == YAML_SCALAR_NODE && node->data.scalar.length == 0 &&
                     node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE);
}

/* ---- typed values ------------------------------------------------------------ */

static int read_whole(cr_yaml *y, yaml_node_t *node, const char *key, long long min, long long max,
                      int *out, cr_error *err) {
    long long value;
    if (cr_yaml_int(y, node, NULL, key, NULL, &value, err)) return 1;
    if (value < min || value > max)
        return invalid(y, node, err, "'%s' must be between %lld and %lld, got %lld", key, min, max,
                       value);
    *out = (int)value;
    return 0;
}

typedef enum bound { ANY, AT_LEAST, ABOVE } bound;

/* A number (≥ or > `low` unless ANY) that a float holds. */
static int read_float(cr_yaml *y, yaml_node_t *node, const char *key, bound lower, double low,
                      float *out, cr_error *err) {
    double value;
    if (cr_yaml_number(y, node, NULL, key, NULL, &value, err)) return 1;
    if ((lower == ABOVE && !(value > low)) || (lower == AT_LEAST && !(value >= low)))
        return invalid(y, node, err, "'%s' must be %s %g, got %g", key, lower == ABOVE ? ">" : "≥",
                       low, value);
    if (fabs(value) > FLT_MAX || (value != 0 && (float)value == 0.0f))
        return invalid(y, node, err, "'%s' is %g, outside float32's range", key, value);
    *out = (float)value;
    return 0;
}

/* A factor in [0, 1): momentum, betas. */
static int read_unit(cr_yaml *y, yaml_node_t *node, const char *key, double *out, cr_error *err) {
    double value;
    if (cr_yaml_number(y, node, NULL, key, NULL, &value, err)) return 1;
    if (!(value >= 0 && value < 1))
        return invalid(y, node, err, "'%s' must be in [0, 1), got %g", key, value);
    *out = value;
    return 0;
}

/* One of `names`; the error suggests the nearest and lists them all. */
static int read_choice(cr_yaml *y, yaml_node_t *node, const char *key, const char *what,
                       const char *const *names, int count, const char *const (*aliases)[2],
                       int n_aliases, int *out, cr_error *err) {
    const char *text;
    if (cr_yaml_string(y, node, NULL, key, NULL, &text, err)) return 1;
    for (int i = 0; i < count; i++)
        if (strcmp(text, names[i]) == 0) return *out = i, 0;
    const char *near = NULL;
    for (int i = 0; i < n_aliases && !near; i++)
        if (strcmp(text, aliases[i][0]) == 0) near = aliases[i][1];
    if (!near) near = cr_suggest(text, names, count);
    char list[128];
    join_names(names, count, list, sizeof list);
    return invalid(y, node, err, "unknown %s '%s'%s%s%s (valid: %s)", what, text,
                   near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "", list);
}

/* Keys a given type does not take (`momentum` for adam): a key that exists
 * for another type is not a typo, so say whose it is. */
static int check_type_keys(const cr_entries *entries, const char *const *allowed, int n_allowed,
                           const char *what, cr_error *err) {
    for (int i = 0; i < entries->count; i++) {
        bool known = false;
        for (int j = 0; j < n_allowed && !known; j++)
            known = strcmp(entries->items[i].key, allowed[j]) == 0;
        if (known) continue;
        char list[256];
        join_names(allowed, n_allowed, list, sizeof list);
        return cr_fail(err, CR_ERR_INVALID, entries->items[i].key_mark, NULL,
                       "'%s' does not apply to %s (its keys: %s)", entries->items[i].key, what,
                       list);
    }
    return 0;
}

/* A mapping's keys, checked against `allowed`. Suggestions as the model
 * part makes them, plus the short forms people type for the long names
 * here (`warmup` for warmup_epochs, `crop` for crop_padding). */
static int read_mapping(cr_yaml *y, yaml_node_t *node, const char *what, const char *const *allowed,
                        int n_allowed, cr_entries *entries, cr_error *err) {
    if (cr_yaml_entries(y, node, NULL, what, entries, err)) return 1;
    for (int i = 0; i < entries->count; i++) {
        const char *key = entries->items[i].key;
        bool known = false;
        for (int j = 0; j < n_allowed && !known; j++) known = strcmp(key, allowed[j]) == 0;
        if (known) continue;
        const char *near = cr_suggest(key, allowed, n_allowed);
        for (int j = 0; j < n_allowed && !near; j++)
            if (strlen(key) >= 4 && strncmp(allowed[j], key, strlen(key)) == 0) near = allowed[j];
        char list[256];
        join_names(allowed, n_allowed, list, sizeof list);
        return cr_fail(err, CR_ERR_INVALID, entries->items[i].key_mark, NULL,
                       "unknown key '%s' in %s%s%s%s (valid keys: %s)", key, what,
                       near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "", list);
    }
    return 0;
}

/* read_mapping with the section's valid keys from the table. */
static int read_section(cr_yaml *y, yaml_node_t *node, const char *section, const char *what,
                        cr_entries *entries, cr_error *err) {
    const char *names[16];
    int count = section_keys(section, names, 16);
    return read_mapping(y, node, what, names, count, entries, err);
}

static yaml_node_t *value_of(const cr_entries *entries, const char *key) {
    const cr_entry *entry = cr_entries_find(entries, key);
    return entry ? entry->value : NULL;
}

/* ---- data ------------------------------------------------------------------- */

/* Relative folders are relative to the model file's folder, so a model and
 * its data can move together. */
static int read_folder(cr_yaml *y, yaml_node_t *node, const char *key, char *out, size_t size,
                       cr_error *err) {
    const char *text;
    if (cr_yaml_string(y, node, NULL, key, NULL, &text, err)) return 1;
    const char *slash = strrchr(y->file, '/');
    int length;
    if (text[0] == '/' || !slash)
        length = snprintf(out, size, "%s", text);
    else
        length = snprintf(out, size, "%.*s/%s", (int)(slash - y->file), y->file, text);
    if (length < 0 || (size_t)length >= size)
        return invalid(y, node, err, "'%s' is too long: the folder's path must be under %zu bytes",
                       key, size);
    return 0;
}

static int read_data(cr_yaml *y, yaml_node_t *node, cr_data_source *out, cr_error *err) {
    const char *usage = "give fashion-mnist, {format: mnist, dir: DIR}, {format: cifar10, dir: "
                        "DIR} or {format: folder, train: DIR, test: DIR}";
    if (cr_yaml_is_scalar(node)) {
        const char *text;
        if (cr_yaml_string(y, node, NULL, "data", NULL, &text, err)) return 1;
        if (strcmp(text, "fashion-mnist") == 0) {
            memset(out, 0, sizeof *out);
            out->format = CR_DATA_MNIST;
            snprintf(out->dir, sizeof out->dir, "%s", FASHION_MNIST_DIR);
            out->fashion_names = true;
            return 0;
        }
        static const char *const named[] = {"fashion-mnist"};
        const char *near = cr_suggest(text, named, 1);
        return invalid(y, node, err, "unknown data set '%s'%s; %s", text,
                       near ? " (did you mean 'fashion-mnist'?)" : "", usage);
    }
    if (node->type != YAML_MAPPING_NODE)
        return invalid(y, node, err, "'data' must be a name or a mapping, got %s; %s",
                       cr_node_type_name(node), usage);
    cr_entries entries;
    if (read_section(y, node, "data", "'data'", &entries, err)) return 1;
    yaml_node_t *format_node = value_of(&entries, "format");
    if (!format_node) return invalid(y, node, err, "'data' needs a 'format'; %s", usage);
    int format = 0;
    if (read_choice(y, format_node, "data.format", "data format", format_names, COUNT(format_names),
                    NULL, 0, &format, err))
        return 1;
    memset(out, 0, sizeof *out);
    if (format == 2) {
        static const char *const folder_keys[] = {"format", "train", "test"};
        if (check_type_keys(&entries, folder_keys, 3, "folder data", err)) return 1;
        out->format = CR_DATA_FOLDER;
        const char *const splits[] = {"train", "test"};
        char *const targets[] = {out->train_dir, out->test_dir};
        for (int i = 0; i < 2; i++) {
            yaml_node_t *split = value_of(&entries, splits[i]);
            if (!split)
                return invalid(y, node, err,
                               "folder data needs '%s': a folder with one sub-folder per class "
                               "({format: folder, train: DIR, test: DIR})",
                               splits[i]);
            char key[32];
            snprintf(key, sizeof key, "data.%s", splits[i]);
            if (read_folder(y, split, key, targets[i], sizeof out->train_dir, err)) return 1;
        }
        return 0;
    }
    static const char *const dir_keys[] = {"format", "dir"};
    char what[32];
    snprintf(what, sizeof what, "%s data", format_names[format]);
    if (check_type_keys(&entries, dir_keys, 2, what, err)) return 1;
    out->format = format == 0 ? CR_DATA_MNIST : CR_DATA_CIFAR10;
    yaml_node_t *dir = value_of(&entries, "dir");
    if (!dir)
        return invalid(y, node, err, "%s needs 'dir': the folder with the %s files", what,
                       format == 0 ? "four IDX" : "CIFAR-10 .bin");
    return read_folder(y, dir, "data.dir", out->dir, sizeof out->dir, err);
}

/* ---- optimizer and schedule -------------------------------------------------- */

static int read_optimizer(cr_yaml *y, yaml_node_t *node, cr_optimizer_config *out, cr_error *err) {
    if (cr_yaml_is_scalar(node)) {
        int type;
        if (read_choice(y, node, "optimizer", "optimizer", optimizer_names, COUNT(optimizer_names),
                        NULL, 0, &type, err))
            return 1;
        *out = cr_optimizer_defaults((cr_optimizer_type)type);
        return 0;
    }
    if (node->type != YAML_MAPPING_NODE)
        return invalid(y, node, err,
                       "'optimizer' must be a name (sgd, adam, adamw) or a mapping such as "
                       "{type: sgd, lr: 0.01}, got %s",
                       cr_node_type_name(node));
    cr_entries entries;
    if (read_section(y, node, "optimizer", "'optimizer'", &entries, err)) return 1;
    int type = CR_OPT_SGD;
    yaml_node_t *type_node = value_of(&entries, "type");
    if (type_node && read_choice(y, type_node, "optimizer.type", "optimizer", optimizer_names,
                                 COUNT(optimizer_names), NULL, 0, &type, err))
        return 1;
    *out = cr_optimizer_defaults((cr_optimizer_type)type);
    char what[32];
    snprintf(what, sizeof what, "the %s optimizer", optimizer_names[type]);
    if (type == CR_OPT_SGD ? check_type_keys(&entries, sgd_keys, COUNT(sgd_keys), what, err)
                           : check_type_keys(&entries, adam_keys, COUNT(adam_keys), what, err))
        return 1;

    yaml_node_t *value;
    if ((value = value_of(&entries, "lr")) &&
        read_float(y, value, "optimizer.lr", ABOVE, 0, &out->lr, err))
        return 1;
    if ((value = value_of(&entries, "weight_decay")) &&
        read_float(y, value, "optimizer.weight_decay", AT_LEAST, 0, &out->weight_decay, err))
        return 1;
    double momentum = out->momentum;
    if ((value = value_of(&entries, "momentum")) &&
        read_unit(y, value, "optimizer.momentum", &momentum, err))
        return 1;
    out->momentum = (float)momentum;
    yaml_node_t *nesterov = value_of(&entries, "nesterov");
    if (nesterov &&
        cr_yaml_bool(y, nesterov, NULL, "optimizer.nesterov", NULL, &out->nesterov, err))
        return 1;
    if (out->nesterov && out->momentum == 0.0f)
        return invalid(y, nesterov, err,
                       "'optimizer.nesterov' needs momentum: with momentum 0 there is nothing to "
                       "look ahead with");
    if ((value = value_of(&entries, "eps")) &&
        read_float(y, value, "optimizer.eps", ABOVE, 0, &out->eps, err))
        return 1;
    if ((value = value_of(&entries, "betas"))) {
        int count;
        yaml_node_item_t *items;
        if (cr_yaml_sequence(y, value, NULL, "optimizer.betas", NULL, &count, &items, err))
            return 1;
        if (count != 2)
            return invalid(y, value, err,
                           "'optimizer.betas' must be a list of two numbers [beta1, beta2], got "
                           "a list of %d",
                           count);
        for (int i = 0; i < 2; i++) {
            yaml_node_t *item = yaml_document_get_node(&y->document, items[i]);
            double beta = 0.0;
            if (read_unit(y, item, "optimizer.betas", &beta, err)) return 1;
            out->betas[i] = beta;
        }
    }
    return 0;
}

static int read_schedule(cr_yaml *y, yaml_node_t *node, cr_schedule_config *out,
                         yaml_node_t **warmup, yaml_node_t **min_lr, cr_error *err) {
    static const char *const aliases[][2] = {
        {"cos", "cosine"}, {"fixed", "constant"}, {"none", "constant"}, {"steplr", "step"}};
    *out = cr_schedule_defaults();
    if (cr_yaml_is_scalar(node)) {
        int type;
        if (read_choice(y, node, "schedule", "schedule", schedule_names, COUNT(schedule_names),
                        aliases, COUNT(aliases), &type, err))
            return 1;
        if (type == CR_SCHED_STEP)
            return invalid(y, node, err,
                           "a step schedule needs 'step_epochs': write {type: step, "
                           "step_epochs: N, gamma: 0.1}");
        out->type = (cr_schedule_type)type;
        return 0;
    }
    if (node->type != YAML_MAPPING_NODE)
        return invalid(y, node, err,
                       "'schedule' must be a name (constant, step, cosine) or a mapping such "
                       "as {type: cosine, warmup_epochs: 1}, got %s",
                       cr_node_type_name(node));
    cr_entries entries;
    if (read_section(y, node, "schedule", "'schedule'", &entries, err)) return 1;
    int type = CR_SCHED_CONSTANT;
    yaml_node_t *type_node = value_of(&entries, "type");
    if (type_node && read_choice(y, type_node, "schedule.type", "schedule", schedule_names,
                                 COUNT(schedule_names), aliases, COUNT(aliases), &type, err))
        return 1;
    out->type = (cr_schedule_type)type;
    char what[32];
    snprintf(what, sizeof what, "a %s schedule", schedule_names[type]);
    const char *const *allowed = type == CR_SCHED_STEP     ? step_keys
                                 : type == CR_SCHED_COSINE ? cosine_keys
                                                           : constant_keys;
    int n_allowed = type == CR_SCHED_STEP     ? COUNT(step_keys)
                    : type == CR_SCHED_COSINE ? COUNT(cosine_keys)
                                              : COUNT(constant_keys);
    if (check_type_keys(&entries, allowed, n_allowed, what, err)) return 1;

    yaml_node_t *value;
    if ((*warmup = value_of(&entries, "warmup_epochs")) &&
        read_float(y, *warmup, "schedule.warmup_epochs", AT_LEAST, 0, &out->warmup_epochs, err))
        return 1;
    if ((value = value_of(&entries, "gamma"))) {
        if (read_float(y, value, "schedule.gamma", ABOVE, 0, &out->gamma, err)) return 1;
        if (out->gamma > 1.0f)
            return invalid(y, value, err,
                           "'schedule.gamma' must be at most 1 (it multiplies the learning "
                           "rate at each step), got %g",
                           (double)out->gamma);
    }
    if ((*min_lr = value_of(&entries, "min_lr")) &&
        read_float(y, *min_lr, "schedule.min_lr", AT_LEAST, 0, &out->min_lr, err))
        return 1;
    yaml_node_t *step_epochs = value_of(&entries, "step_epochs");
    if (type == CR_SCHED_STEP) {
        if (!step_epochs)
            return invalid(y, node, err,
                           "a step schedule needs 'step_epochs': the learning rate is "
                           "multiplied by gamma every step_epochs epochs");
        if (read_whole(y, step_epochs, "schedule.step_epochs", 1, CR_TRAIN_MAX_EPOCHS,
                       &out->step_epochs, err))
            return 1;
    }
    return 0;
}

/* ---- normalize, augment, validation ------------------------------------------- */

static int read_channel_values(cr_yaml *y, yaml_node_t *node, const char *key, int channels,
                               bool positive, float *out, cr_error *err) {
    int count;
    yaml_node_item_t *items;
    if (cr_yaml_sequence(y, node, NULL, key, NULL, &count, &items, err)) return 1;
    if (count != channels)
        return invalid(y, node, err,
                       "'%s' has %d number%s but the model's input has %d channel%s: give one "
                       "per channel",
                       key, count, count == 1 ? "" : "s", channels, channels == 1 ? "" : "s");
    for (int i = 0; i < count; i++) {
        yaml_node_t *item = yaml_document_get_node(&y->document, items[i]);
        if (read_float(y, item, key, positive ? ABOVE : ANY, 0, &out[i], err)) return 1;
    }
    return 0;
}

static int read_normalize(cr_yaml *y, yaml_node_t *node, cr_transform *out, cr_error *err) {
    cr_entries entries;
    if (read_section(y, node, "normalize", "'normalize'", &entries, err)) return 1;
    const int max_channels = (int)(sizeof out->mean / sizeof out->mean[0]);
    if (out->channels > max_channels)
        return invalid(y, node, err,
                       "'normalize' works on images of up to %d channels; the model's input has "
                       "%d",
                       max_channels, out->channels);
    yaml_node_t *value;
    if ((value = value_of(&entries, "mean")) &&
        read_channel_values(y, value, "normalize.mean", out->channels, false, out->mean, err))
        return 1;
    if ((value = value_of(&entries, "std")) &&
        read_channel_values(y, value, "normalize.std", out->channels, true, out->std, err))
        return 1;
    return 0;
}

static int read_augment(cr_yaml *y, yaml_node_t *node, cr_shape input, cr_transform *out,
                        cr_error *err) {
    cr_entries entries;
    if (read_section(y, node, "augment", "'augment'", &entries, err)) return 1;
    yaml_node_t *value;
    if ((value = value_of(&entries, "crop_padding"))) {
        int smaller = input.h < input.w ? input.h : input.w;
        long long padding;
        if (cr_yaml_int(y, value, NULL, "augment.crop_padding", NULL, &padding, err)) return 1;
        if (padding < 0 || padding > smaller)
            return invalid(y, value, err,
                           "'augment.crop_padding' must be between 0 and %d (the input's "
                           "smaller side), got %lld",
                           smaller, padding);
        out->crop_padding = (int)padding;
    }
    if ((value = value_of(&entries, "hflip")) &&
        cr_yaml_bool(y, value, NULL, "augment.hflip", NULL, &out->hflip, err))
        return 1;
    return 0;
}

static int read_validation(cr_yaml *y, yaml_node_t *node, double *out, cr_error *err) {
    const char *usage = "'test' (evaluate on the test split) or a fraction of the training set "
                        "between 0 and 1, such as 0.1";
    const char *text = cr_yaml_scalar(node);
    if (!text)
        return invalid(y, node, err, "'validation' must be %s, got %s", usage,
                       cr_node_type_name(node));
    if (strcmp(text, "test") == 0) return *out = 0, 0;
    char first = text[0];
    if (!(first == '.' || first == '-' || first == '+' || (first >= '0' && first <= '9')))
        return invalid(y, node, err, "'validation' must be %s, got '%s'", usage, text);
    double fraction;
    if (cr_yaml_number(y, node, NULL, "validation", NULL, &fraction, err)) return 1;
    if (!(fraction > 0 && fraction < 1))
        return invalid(y, node, err, "'validation' must be %s, got %g", usage, fraction);
    *out = fraction;
    return 0;
}

/* ---- the section ------------------------------------------------------------- */

void cr_train_config_defaults(cr_train_config *out, int channels) {
    memset(out, 0, sizeof *out);
    out->data.format = CR_DATA_MNIST;
    snprintf(out->data.dir, sizeof out->data.dir, "%s", FASHION_MNIST_DIR);
    out->data.fashion_names = true;
    out->epochs = 10;
    out->batch_size = 64;
    out->optimizer = cr_optimizer_defaults(CR_OPT_SGD);
    out->schedule = cr_schedule_defaults();
    out->transform.channels = channels;
    for (int c = 0; c < (int)(sizeof out->transform.std / sizeof out->transform.std[0]); c++)
        out->transform.std[c] = 1.0f;
}

int cr_train_config_parse(const cr_model *model, cr_train_config *out, cr_error *err) {
    cr_train_config_defaults(out, model->input.c);
    if (is_empty(model->train)) return 0;
    /* The readers take a non-const document only because libyaml's node
     * lookup does; nothing here changes it. */
    cr_yaml *y = (cr_yaml *)&model->yaml;
    cr_entries entries;
    if (read_section(y, model->train, "", "the train section", &entries, err)) return 1;

    yaml_node_t *value;
    if ((value = value_of(&entries, "data"))) {
        out->data_mark = cr_yaml_mark(y, value);
        if (read_data(y, value, &out->data, err)) return 1;
    }
    if ((value = value_of(&entries, "epochs")) &&
        read_whole(y, value, "epochs", 1, CR_TRAIN_MAX_EPOCHS, &out->epochs, err))
        return 1;
    if ((value = value_of(&entries, "batch_size")) &&
        read_whole(y, value, "batch_size", 1, CR_TRAIN_MAX_BATCH_SIZE, &out->batch_size, err))
        return 1;
    if ((value = value_of(&entries, "optimizer")) && read_optimizer(y, value, &out->optimizer, err))
        return 1;
    yaml_node_t *warmup = NULL, *min_lr = NULL;
    if ((value = value_of(&entries, "schedule")) &&
        read_schedule(y, value, &out->schedule, &warmup, &min_lr, err))
        return 1;
    if ((value = value_of(&entries, "seed"))) {
        int seed = 0;
        if (read_whole(y, value, "seed", 0, 2000000000, &seed, err)) return 1;
        out->seed = (uint64_t)seed;
    }
    if ((value = value_of(&entries, "validation")) &&
        read_validation(y, value, &out->validation, err))
        return 1;
    if ((value = value_of(&entries, "normalize")) && read_normalize(y, value, &out->transform, err))
        return 1;
    if ((value = value_of(&entries, "augment")) &&
        read_augment(y, value, model->input, &out->transform, err))
        return 1;
    if ((value = value_of(&entries, "freeze")) &&
        cr_freeze_parse(y, value, model, &out->freeze, err))
        return 1;

    /* Settings that only make sense together. */
    if (warmup && out->schedule.warmup_epochs > (float)out->epochs)
        return invalid(y, warmup, err,
                       "'schedule.warmup_epochs' is %g, longer than the whole run (%d epoch%s)",
                       (double)out->schedule.warmup_epochs, out->epochs,
                       out->epochs == 1 ? "" : "s");
    if (out->schedule.type == CR_SCHED_COSINE && !(out->schedule.min_lr < out->optimizer.lr))
        return invalid(y, min_lr, err,
                       "'schedule.min_lr' (%g) must be below the optimizer's lr (%g): the "
                       "cosine schedule falls from lr to min_lr",
                       (double)out->schedule.min_lr, (double)out->optimizer.lr);
    return 0;
}
