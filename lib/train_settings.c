/* The one table of training settings (see train_settings.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train.h"
#include "train_config.h"
#include "train_settings.h"

#define CONFIG(field) CR_FROM_CONFIG, offsetof(cr_train_config, field)
#define OPTION(field) CR_FROM_OPTIONS, offsetof(cr_train_options, field)

/* Refused on resume: what fixes the order of the data (batch size, seed,
 * shuffling) and the optimizer's state layout (its type; checkpoint.c
 * checks it while loading, before it reads the state). Applied: what a
 * resume may change (a lower learning rate after a NaN, more epochs); the
 * schedule is recomputed for the new values. Not stored: how this
 * invocation runs, which only the ranks of one job must share, and the data
 * source, whose images the checkpoint's data hash compares instead (ranks
 * may read the same images from other folders). The last column is the
 * option that overrides the row, recorded by the run (train_settings.h). */
const cr_train_setting cr_train_settings[] = {
    /* stored name, label, source, type, on resume, ranks agree, added later,
     * option */
    {"data", "data", CONFIG(data), CR_SETTING_DATA, CR_RESUME_NOT_STORED, false, false, "data"},
    {"batch_size", "batch size", CONFIG(batch_size), CR_SETTING_INT, CR_RESUME_REFUSED, true, false,
     "batch-size"},
    {"seed", "seed", CONFIG(seed), CR_SETTING_SEED, CR_RESUME_REFUSED, true, false, "seed"},
    {"shuffle", "shuffling", OPTION(no_shuffle), CR_SETTING_NOT_BOOL, CR_RESUME_REFUSED, true,
     false, "no-shuffle"},
    {"epochs", "epochs", CONFIG(epochs), CR_SETTING_INT, CR_RESUME_APPLIED, true, false, "epochs"},
    {"optimizer_type", "optimizer", CONFIG(optimizer.type), CR_SETTING_OPTIMIZER, CR_RESUME_REFUSED,
     true, false, NULL},
    {"lr", "lr", CONFIG(optimizer.lr), CR_SETTING_FLOAT, CR_RESUME_APPLIED, true, false, "lr"},
    {"momentum", "momentum", CONFIG(optimizer.momentum), CR_SETTING_FLOAT, CR_RESUME_APPLIED, true,
     false, NULL},
    {"nesterov", "nesterov", CONFIG(optimizer.nesterov), CR_SETTING_BOOL_REAL, CR_RESUME_APPLIED,
     true, false, NULL},
    {"weight_decay", "weight_decay", CONFIG(optimizer.weight_decay), CR_SETTING_FLOAT,
     CR_RESUME_APPLIED, true, false, NULL},
    {"beta1", "beta1", CONFIG(optimizer.betas[0]), CR_SETTING_DOUBLE, CR_RESUME_APPLIED, true,
     false, NULL},
    {"beta2", "beta2", CONFIG(optimizer.betas[1]), CR_SETTING_DOUBLE, CR_RESUME_APPLIED, true,
     false, NULL},
    {"eps", "eps", CONFIG(optimizer.eps), CR_SETTING_FLOAT, CR_RESUME_APPLIED, true, false, NULL},
    {"schedule_type", "schedule", CONFIG(schedule.type), CR_SETTING_SCHEDULE, CR_RESUME_APPLIED,
     true, false, NULL},
    {"warmup_epochs", "warmup_epochs", CONFIG(schedule.warmup_epochs), CR_SETTING_FLOAT,
     CR_RESUME_APPLIED, true, false, NULL},
    {"step_epochs", "step_epochs", CONFIG(schedule.step_epochs), CR_SETTING_INT_REAL,
     CR_RESUME_APPLIED, true, false, NULL},
    {"gamma", "gamma", CONFIG(schedule.gamma), CR_SETTING_FLOAT, CR_RESUME_APPLIED, true, false,
     NULL},
    {"min_lr", "min_lr", CONFIG(schedule.min_lr), CR_SETTING_FLOAT, CR_RESUME_APPLIED, true, false,
     NULL},
    /* Added later (0 = before them: cross-entropy, no smoothing, no
     * clipping, no early stopping, best by accuracy). Another loss is
     * another run; its knobs may change from the resume point. */
    {"loss_type", "loss", CONFIG(loss.type), CR_SETTING_LOSS, CR_RESUME_REFUSED, true, true, NULL},
    {"label_smoothing", "loss.label_smoothing", CONFIG(loss.label_smoothing), CR_SETTING_FLOAT,
     CR_RESUME_APPLIED, true, true, NULL},
    {"class_weights", "loss.class_weights", CONFIG(loss), CR_SETTING_WEIGHTS, CR_RESUME_APPLIED,
     true, true, NULL},
    {"clip_grad_norm", "clip_grad_norm", CONFIG(clip_grad_norm), CR_SETTING_FLOAT,
     CR_RESUME_APPLIED, true, true, NULL},
    {"patience", "early_stopping.patience", CONFIG(early_stopping.patience), CR_SETTING_INT,
     CR_RESUME_APPLIED, true, true, NULL},
    {"min_delta", "early_stopping.min_delta", CONFIG(early_stopping.min_delta), CR_SETTING_FLOAT,
     CR_RESUME_APPLIED, true, true, NULL},
    {"monitor", "early_stopping.monitor", CONFIG(early_stopping.monitor), CR_SETTING_MONITOR,
     CR_RESUME_APPLIED, true, true, NULL},
    {"max_steps", "--max-steps", OPTION(max_steps), CR_SETTING_INT64, CR_RESUME_NOT_STORED, true,
     false, NULL},
    {"resume", "--resume", OPTION(resume), CR_SETTING_BOOL, CR_RESUME_NOT_STORED, true, false,
     NULL},
    {"init", "--init", OPTION(init_weights), CR_SETTING_PRESENT, CR_RESUME_NOT_STORED, true, false,
     NULL},
};
const int cr_train_setting_count = sizeof cr_train_settings / sizeof cr_train_settings[0];
_Static_assert(sizeof cr_train_settings / sizeof cr_train_settings[0] <= CR_TRAIN_SETTINGS_MAX,
               "raise CR_TRAIN_SETTINGS_MAX");

int cr_train_setting_find(const char *name) {
    for (int i = 0; i < cr_train_setting_count; i++)
        if (strcmp(cr_train_settings[i].name, name) == 0) return i;
    return -1;
}

bool cr_train_setting_is_real(const cr_train_setting *setting) {
    return setting->type == CR_SETTING_FLOAT || setting->type == CR_SETTING_DOUBLE ||
           setting->type == CR_SETTING_INT_REAL || setting->type == CR_SETTING_BOOL_REAL;
}

/* FNV-1a over the weights' bits: a resume sees that they changed. */
static int64_t class_weights_hash(const cr_loss_config *loss) {
    if (loss->n_class_weights == 0) return 0;
    uint64_t hash = 0xcbf29ce484222325ULL;
    const unsigned char *bytes = (const unsigned char *)loss->class_weights;
    for (size_t i = 0; i < (size_t)loss->n_class_weights * sizeof(float); i++)
        hash = (hash ^ bytes[i]) * 0x100000001b3ULL;
    return (int64_t)(hash | 1); /* never 0, which means "none" */
}

/* FNV-1a over a data source's fields: equal sources, equal values. */
static int64_t data_source_hash(const cr_data_source *source) {
    uint64_t hash = 0xcbf29ce484222325ULL;
    const char *parts[] = {source->dir, source->train_dir, source->test_dir};
    for (int p = 0; p < 3; p++)
        for (const char *c = parts[p];; c++) {
            hash = (hash ^ (uint8_t)*c) * 0x100000001b3ULL;
            if (!*c) break;
        }
    hash = (hash ^ (uint64_t)source->format) * 0x100000001b3ULL;
    hash = (hash ^ (uint64_t)source->fashion_names) * 0x100000001b3ULL;
    return (int64_t)hash;
}

static cr_setting_value read_field(const cr_train_setting *s, const void *field) {
    switch (s->type) {
    case CR_SETTING_DATA:
        return (cr_setting_value){.i = data_source_hash(field)};
    case CR_SETTING_INT:
        return (cr_setting_value){.i = *(const int *)field};
    case CR_SETTING_INT64:
        return (cr_setting_value){.i = *(const int64_t *)field};
    case CR_SETTING_SEED:
        return (cr_setting_value){.i = (int64_t) * (const uint64_t *)field};
    case CR_SETTING_FLOAT:
        return (cr_setting_value){.f = *(const float *)field};
    case CR_SETTING_DOUBLE:
        return (cr_setting_value){.f = *(const double *)field};
    case CR_SETTING_INT_REAL:
        return (cr_setting_value){.f = *(const int *)field};
    case CR_SETTING_BOOL_REAL:
        return (cr_setting_value){.f = *(const bool *)field};
    case CR_SETTING_NOT_BOOL:
        return (cr_setting_value){.i = !*(const bool *)field};
    case CR_SETTING_BOOL:
        return (cr_setting_value){.i = *(const bool *)field};
    case CR_SETTING_PRESENT:
        return (cr_setting_value){.i = *(const void *const *)field != NULL};
    case CR_SETTING_OPTIMIZER:
        return (cr_setting_value){.i = *(const cr_optimizer_type *)field};
    case CR_SETTING_SCHEDULE:
        return (cr_setting_value){.i = *(const cr_schedule_type *)field};
    case CR_SETTING_LOSS:
        return (cr_setting_value){.i = *(const cr_loss_type *)field};
    case CR_SETTING_MONITOR:
        return (cr_setting_value){.i = *(const cr_monitor *)field};
    case CR_SETTING_WEIGHTS:
        return (cr_setting_value){.i = class_weights_hash(field)};
    }
    return (cr_setting_value){.i = 0};
}

void cr_train_settings_record(cr_setting_value *values, const cr_train_config *config,
                              const cr_train_options *options) {
    for (int i = 0; i < cr_train_setting_count; i++) {
        const cr_train_setting *s = &cr_train_settings[i];
        const char *source =
            s->source == CR_FROM_CONFIG ? (const char *)config : (const char *)options;
        values[i] = read_field(s, source + s->offset);
    }
}

const char *cr_float_text(float value, char *out, size_t size) {
    if (!out || size == 0) return ""; /* nowhere to write (and GCC's -Wformat-truncation knows) */
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(out, size, "%.*g", digits, (double)value);
        if (strtof(out, NULL) == value) break;
    }
    return out;
}

/* Row s's value as its option takes it ("" for a flag that is set, NULL
 * for one that is not), exactly: it must parse back to the same value. */
static const char *option_value(const cr_train_setting *s, const void *field,
                                cr_setting_value value, char *out, size_t size) {
    switch (s->type) {
    case CR_SETTING_DATA:
        return cr_data_source_text(field, out, size) ? NULL : out;
    case CR_SETTING_SEED:
        snprintf(out, size, "%llu", (unsigned long long)value.i);
        return out;
    case CR_SETTING_INT:
    case CR_SETTING_INT64:
        snprintf(out, size, "%lld", (long long)value.i);
        return out;
    case CR_SETTING_FLOAT:
        return cr_float_text((float)value.f, out, size);
    case CR_SETTING_DOUBLE:
    case CR_SETTING_INT_REAL:
        snprintf(out, size, "%.17g", value.f);
        return out;
    case CR_SETTING_NOT_BOOL: /* --no-shuffle: given when the held value is off */
        return value.i ? NULL : "";
    case CR_SETTING_BOOL:
    case CR_SETTING_BOOL_REAL:
        return (s->type == CR_SETTING_BOOL ? value.i != 0 : value.f != 0) ? "" : NULL;
    case CR_SETTING_OPTIMIZER:
        return cr_optimizer_name((cr_optimizer_type)value.i);
    case CR_SETTING_SCHEDULE:
        return cr_schedule_name((cr_schedule_type)value.i);
    case CR_SETTING_PRESENT:
    case CR_SETTING_LOSS: /* no option sets these */
    case CR_SETTING_MONITOR:
    case CR_SETTING_WEIGHTS:
        return NULL;
    }
    return NULL;
}

int cr_train_overrides_text(const bool *given, const cr_train_config *config,
                            const cr_train_options *options, char *out, size_t size) {
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < cr_train_setting_count; i++) {
        const cr_train_setting *s = &cr_train_settings[i];
        if (!s->option || !given[i]) continue;
        const char *source =
            s->source == CR_FROM_CONFIG ? (const char *)config : (const char *)options;
        char buffer[4096];
        const char *value = option_value(s, source + s->offset, read_field(s, source + s->offset),
                                         buffer, sizeof buffer);
        if (!value) continue;
        int n =
            snprintf(out + used, size - used, "--%s%s%s\n", s->option, *value ? "=" : "", value);
        if (n < 0 || (size_t)n >= size - used) return -1;
        used += (size_t)n;
    }
    return (int)used;
}

bool cr_setting_equal(const cr_train_setting *setting, cr_setting_value a, cr_setting_value b) {
    return cr_train_setting_is_real(setting) ? a.f == b.f : a.i == b.i;
}

const char *cr_setting_text(const cr_train_setting *setting, cr_setting_value value, char *out,
                            size_t size) {
    switch (setting->type) {
    case CR_SETTING_SEED:
        snprintf(out, size, "%llu", (unsigned long long)value.i);
        break;
    case CR_SETTING_BOOL_REAL:
        snprintf(out, size, "%s", value.f != 0 ? "true" : "false");
        break;
    case CR_SETTING_NOT_BOOL:
    case CR_SETTING_BOOL:
    case CR_SETTING_PRESENT:
        snprintf(out, size, "%s", value.i ? "on" : "off");
        break;
    case CR_SETTING_OPTIMIZER:
        snprintf(out, size, "%s", cr_optimizer_name((cr_optimizer_type)value.i));
        break;
    case CR_SETTING_SCHEDULE:
        snprintf(out, size, "%s", cr_schedule_name((cr_schedule_type)value.i));
        break;
    case CR_SETTING_LOSS:
        snprintf(out, size, "%s", cr_loss_name((cr_loss_type)value.i));
        break;
    case CR_SETTING_MONITOR:
        snprintf(out, size, "%s", value.i == CR_MONITOR_VAL_LOSS ? "val_loss" : "val_accuracy");
        break;
    case CR_SETTING_WEIGHTS:
        if (value.i)
            snprintf(out, size, "#%08llx", (unsigned long long)value.i & 0xffffffffULL);
        else
            snprintf(out, size, "none");
        break;
    case CR_SETTING_DATA:
        snprintf(out, size, "%016llx", (unsigned long long)value.i);
        break;
    case CR_SETTING_INT:
    case CR_SETTING_INT64:
        snprintf(out, size, "%lld", (long long)value.i);
        break;
    case CR_SETTING_FLOAT:
    case CR_SETTING_DOUBLE:
    case CR_SETTING_INT_REAL:
        snprintf(out, size, "%g", value.f);
        break;
    }
    return out;
}
