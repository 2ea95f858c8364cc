/* The one table of training settings (see train_settings.h). */
#include <stdio.h>
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
 * invocation runs, which only the ranks of one job must share. */
const cr_train_setting cr_train_settings[] = {
    /* stored name, label, source, type, on resume, ranks agree, added later */
    {"batch_size", "batch size", CONFIG(batch_size), CR_SETTING_INT, CR_RESUME_REFUSED, true,
     false},
    {"seed", "seed", CONFIG(seed), CR_SETTING_SEED, CR_RESUME_REFUSED, true, false},
    {"shuffle", "shuffling", OPTION(no_shuffle), CR_SETTING_NOT_BOOL, CR_RESUME_REFUSED, true,
     false},
    {"epochs", "epochs", CONFIG(epochs), CR_SETTING_INT, CR_RESUME_APPLIED, true, false},
    {"optimizer_type", "optimizer", CONFIG(optimizer.type), CR_SETTING_OPTIMIZER, CR_RESUME_REFUSED,
     true, false},
    {"lr", "lr", CONFIG(optimizer.lr), CR_SETTING_FLOAT, CR_RESUME_APPLIED, true, false},
    {"momentum", "momentum", CONFIG(optimizer.momentum), CR_SETTING_FLOAT, CR_RESUME_APPLIED, true,
     false},
    {"nesterov", "nesterov", CONFIG(optimizer.nesterov), CR_SETTING_BOOL_REAL, CR_RESUME_APPLIED,
     true, false},
    {"weight_decay", "weight_decay", CONFIG(optimizer.weight_decay), CR_SETTING_FLOAT,
     CR_RESUME_APPLIED, true, false},
    {"beta1", "beta1", CONFIG(optimizer.betas[0]), CR_SETTING_DOUBLE, CR_RESUME_APPLIED, true,
     false},
    {"beta2", "beta2", CONFIG(optimizer.betas[1]), CR_SETTING_DOUBLE, CR_RESUME_APPLIED, true,
     false},
    {"eps", "eps", CONFIG(optimizer.eps), CR_SETTING_FLOAT, CR_RESUME_APPLIED, true, false},
    {"schedule_type", "schedule", CONFIG(schedule.type), CR_SETTING_SCHEDULE, CR_RESUME_APPLIED,
     true, false},
    {"warmup_epochs", "warmup_epochs", CONFIG(schedule.warmup_epochs), CR_SETTING_FLOAT,
     CR_RESUME_APPLIED, true, false},
    {"step_epochs", "step_epochs", CONFIG(schedule.step_epochs), CR_SETTING_INT_REAL,
     CR_RESUME_APPLIED, true, false},
    {"gamma", "gamma", CONFIG(schedule.gamma), CR_SETTING_FLOAT, CR_RESUME_APPLIED, true, false},
    {"min_lr", "min_lr", CONFIG(schedule.min_lr), CR_SETTING_FLOAT, CR_RESUME_APPLIED, true, false},
    /* Added later (0 = before them: cross-entropy, no smoothing, no
     * clipping, no early stopping, best by accuracy). Another loss is
     * another run; its knobs may change from the resume point. */
    {"loss_type", "loss", CONFIG(loss.type), CR_SETTING_LOSS, CR_RESUME_REFUSED, true, true},
    {"label_smoothing", "loss.label_smoothing", CONFIG(loss.label_smoothing), CR_SETTING_FLOAT,
     CR_RESUME_APPLIED, true, true},
    {"class_weights", "loss.class_weights", CONFIG(loss), CR_SETTING_WEIGHTS, CR_RESUME_APPLIED,
     true, true},
    {"clip_grad_norm", "clip_grad_norm", CONFIG(clip_grad_norm), CR_SETTING_FLOAT,
     CR_RESUME_APPLIED, true, true},
    {"patience", "early_stopping.patience", CONFIG(early_stopping.patience), CR_SETTING_INT,
     CR_RESUME_APPLIED, true, true},
    {"min_delta", "early_stopping.min_delta", CONFIG(early_stopping.min_delta), CR_SETTING_FLOAT,
     CR_RESUME_APPLIED, true, true},
    {"monitor", "early_stopping.monitor", CONFIG(early_stopping.monitor), CR_SETTING_MONITOR,
     CR_RESUME_APPLIED, true, true},
    {"max_steps", "--max-steps", OPTION(max_steps), CR_SETTING_INT64, CR_RESUME_NOT_STORED, true,
     false},
    {"resume", "--resume", OPTION(resume), CR_SETTING_BOOL, CR_RESUME_NOT_STORED, true, false},
    {"init", "--init", OPTION(init_weights), CR_SETTING_PRESENT, CR_RESUME_NOT_STORED, true, false},
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

static cr_setting_value read_field(const cr_train_setting *s, const void *field) {
    switch (s->type) {
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
