/* The training settings, as one table (lib/train_settings.c).
 *
 * Each row says where a setting comes from (an offsetof into the train
 * config or the train options), how it is held and stored in a checkpoint
 * ("__checkpoint__.NAME"), what a resume does when it differs from the
 * checkpoint's (refuse, or apply it from the resume point and say so),
 * whether every rank of an MPI job must have the same, and how it is
 * printed. Recording, the checkpoint's fields (checkpoint.c), the resume
 * comparison and the ranks' consistency check (train.c) all read the table:
 * adding a setting is one row. Stored names are a file format: never rename
 * a stored row (tests/data holds a checkpoint of an earlier version). */
#ifndef CNNRUN_TRAIN_SETTINGS_H
#define CNNRUN_TRAIN_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One setting's value: `i` for whole numbers, flags, enums and seeds (a
 * uint64 seed as the int64 with the same bits), `f` for real numbers. */
typedef union cr_setting_value {
    int64_t i;
    double f;
} cr_setting_value;

/* Room for the rows in fixed-size arrays (cr_checkpoint_state); the table
 * checks at compile time that it fits. */
#define CR_TRAIN_SETTINGS_MAX 32

typedef enum cr_setting_source {
    CR_FROM_CONFIG,  /* a field of cr_train_config (train_config.h) */
    CR_FROM_OPTIONS, /* a field of cr_train_options (train.h) */
} cr_setting_source;

/* The C type of the source field, and how the value is held. */
typedef enum cr_setting_type {
    CR_SETTING_INT,       /* int -> i */
    CR_SETTING_INT64,     /* int64_t -> i */
    CR_SETTING_SEED,      /* uint64_t -> i (same bits), printed unsigned */
    CR_SETTING_FLOAT,     /* float -> f */
    CR_SETTING_DOUBLE,    /* double -> f */
    CR_SETTING_INT_REAL,  /* int -> f (stored F64 since the first checkpoints) */
    CR_SETTING_BOOL_REAL, /* bool -> f: 0 or 1, printed false/true */
    CR_SETTING_NOT_BOOL,  /* bool, held negated -> i: `no_shuffle` is held as `shuffle` */
    CR_SETTING_BOOL,      /* bool -> i, printed false/true */
    CR_SETTING_PRESENT,   /* a pointer -> i: 1 when set (--init FILE) */
    CR_SETTING_OPTIMIZER, /* cr_optimizer_type -> i, printed by name */
    CR_SETTING_SCHEDULE,  /* cr_schedule_type -> i, printed by name */
    CR_SETTING_LOSS,      /* cr_loss_type -> i, printed by name */
    CR_SETTING_MONITOR,   /* cr_monitor -> i, printed by name */
    CR_SETTING_WEIGHTS,   /* cr_loss_config's class weights -> i: a hash, 0 for none */
    CR_SETTING_DATA,      /* cr_data_source -> i: a hash of its text (data.h: cr_data_source_text) */
} cr_setting_type;

typedef enum cr_setting_resume {
    CR_RESUME_NOT_STORED, /* not in checkpoints (a property of this invocation only) */
    CR_RESUME_REFUSED,    /* another value would change the data order or the state's layout */
    CR_RESUME_APPLIED,    /* the new value applies from the resume point and is reported */
} cr_setting_resume;

typedef struct cr_train_setting {
    const char *name;  /* stored as "__checkpoint__.NAME" (never rename) */
    const char *label; /* in messages: "batch size", "lr" */
    cr_setting_source source;
    size_t offset; /* of the field in the source struct */
    cr_setting_type type;
    cr_setting_resume on_resume;
    bool ranks_agree; /* every rank of an MPI job must have the same */
    /* Checkpoints written before the row existed lack it: it reads as 0,
     * which each such row makes mean what cnnrun did before it. */
    bool added_later;
    /* The `cnnrun train` option that overrides the train section's value
     * ("epochs" for --epochs), or NULL. A run records the ones it was
     * started (or resumed) with, so that `--resume DIR` alone continues
     * it with them (cr_train_overrides_text). */
    const char *option;
} cr_train_setting;

extern const cr_train_setting cr_train_settings[];
extern const int cr_train_setting_count;

/* The row called `name`, or -1. */
int cr_train_setting_find(const char *name);

/* Whether the row is held in `f` (stored F64) rather than `i` (stored I64). */
bool cr_train_setting_is_real(const cr_train_setting *setting);

struct cr_train_config;
struct cr_train_options;

/* Every row's value, read from config and options, into values[row]. */
void cr_train_settings_record(cr_setting_value *values, const struct cr_train_config *config,
                              const struct cr_train_options *options);

bool cr_setting_equal(const cr_train_setting *setting, cr_setting_value a, cr_setting_value b);

/* The command-line overrides of a run, one "--OPTION=VALUE" (a flag:
 * "--OPTION") a line, for the rows with an option whose given[row] is set,
 * their values read from config and options exactly (a float as the
 * shortest text that parses back to the same bits; the data source with
 * absolute folders). Returns the length, or -1 when out is too small. */
int cr_train_overrides_text(const bool *given, const struct cr_train_config *config,
                            const struct cr_train_options *options, char *out, size_t size);

/* A float as the shortest text that reads back to the same float ("0.1",
 * not "0.100000001"). Returns out. */
const char *cr_float_text(float value, char *out, size_t size);

/* The value as users read it: "8", "0.05", "true", "sgd". */
const char *cr_setting_text(const cr_train_setting *setting, cr_setting_value value, char *out,
                            size_t size);

#endif
