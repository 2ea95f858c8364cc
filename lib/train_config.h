/* The `train:` section of a model file: what `cnnrun train` does with the
 * model, read as strictly as the model part (unknown keys with suggestions,
 * wrong types and out-of-range values are `FILE:LINE:COL` errors).
 *
 *   train:
 *     data: fashion-mnist            # or {format: mnist|cifar10, dir: DIR}
 *                                    # or {format: folder, train: DIR, test: DIR}
 *     epochs: 10
 *     batch_size: 64
 *     optimizer: {type: sgd, lr: 0.01, momentum: 0.9, nesterov: false, weight_decay: 0}
 *                # or {type: adam|adamw, lr, betas: [b1, b2], eps, weight_decay}
 *     schedule: {type: cosine, warmup_epochs: 1, min_lr: 0}
 *                # constant | step {step_epochs, gamma} | cosine {min_lr}
 *     seed: 0
 *     validation: test                # or a fraction of the training set, 0 < f < 1
 *     normalize: {mean: [0.286], std: [0.353]}   # one number per input channel
 *     augment: {crop_padding: 4, hflip: true}    # training batches only
 *     freeze: [c1, c2]                # layers whose parameters stay fixed (freeze.h)
 *
 * Every key is optional. Defaults: data fashion-mnist, epochs 10, batch_size
 * 64, optimizer sgd (lr 0.01, momentum 0.9, nesterov false, weight_decay 0);
 * for adam lr 0.001, betas [0.9, 0.999], eps 1e-8, weight_decay 0; adamw the
 * same with weight_decay 0.01 (PyTorch's); schedule constant (warmup_epochs
 * 0; step's gamma 0.1, its step_epochs has no default; cosine's min_lr 0),
 * seed 0, validation test, normalize mean 0 and std 1, no augmentation,
 * nothing frozen.
 *
 * Shorthands: `optimizer: adam` and `schedule: cosine` mean the type with
 * its defaults. Relative data folders are relative to the model file's
 * folder. The section is checked without touching the data: missing files
 * are the loader's errors. */
#ifndef CNNRUN_TRAIN_CONFIG_H
#define CNNRUN_TRAIN_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "data.h"
#include "error.h"
#include "freeze.h"
#include "model.h"
#include "optim.h"

#define CR_TRAIN_MAX_EPOCHS     1000000
#define CR_TRAIN_MAX_BATCH_SIZE 1000000

typedef struct cr_train_config {
    cr_data_source data;
    cr_mark data_mark; /* where `data:` is (line 0 when defaulted), for data errors */
    int epochs;
    int batch_size;
    cr_optimizer_config optimizer;
    cr_schedule_config schedule;
    uint64_t seed;
    double validation; /* fraction of the training set held out; 0 = the test split */
    cr_transform transform;
    cr_freeze_list freeze; /* layers to freeze (freeze.h); apply with cr_model_freeze */
} cr_train_config;

/* The section's keys as data: what the parser accepts in each mapping (it
 * takes its lists of valid keys from here) and what `cnnrun schema` writes
 * into the JSON Schema. Type-specific rules (sgd takes momentum, adam takes
 * betas) and cross-key checks stay in the parser. */
typedef enum cr_train_key_type {
    CR_TRAIN_SECTION, /* a mapping of the keys whose section is this key's name */
    CR_TRAIN_INT,
    CR_TRAIN_NUMBER,
    CR_TRAIN_BOOL,
    CR_TRAIN_TEXT,    /* a string: one of `choices` when given, else any (a folder) */
    CR_TRAIN_NUMBERS, /* a list of numbers: `length` of them, or one per input channel (0) */
    CR_TRAIN_NAMES,   /* a list of strings */
} cr_train_key_type;

typedef struct cr_train_key {
    const char *section; /* "" for the train section itself, else "optimizer", "data", ... */
    const char *name;
    cr_train_key_type type;
    /* Names also accepted in place of a mapping or number (`optimizer: adam`,
     * `validation: test`), NULL-terminated; for CR_TRAIN_TEXT the values. */
    const char *const *choices;
    double min, max; /* numbers, inclusive unless the flag says so; ±CR_NO_LIMIT: none */
    bool min_exclusive, max_exclusive;
    int length;               /* CR_TRAIN_NUMBERS */
    const char *default_json; /* the default as a JSON value, NULL when it depends */
    const char *description;
} cr_train_key;

extern const cr_train_key cr_train_keys[];
extern const int cr_train_key_count;

/* The defaults above, for a model with `channels` input channels. */
void cr_train_config_defaults(cr_train_config *out, int channels);

/* Reads model->train (absent or empty: every default) into *out. Errors
 * are CR_ERR_INVALID with the position of the offending key or value. */
int cr_train_config_parse(const cr_model *model, cr_train_config *out, cr_error *err);

#endif
