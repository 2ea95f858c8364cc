/* Training checkpoints: everything a run needs to continue exactly where it
 * stopped, in one safetensors file written atomically.
 *
 * The file holds
 *   - every parameter and buffer under its state_dict name ("c1.weight",
 *     "bn1.running_mean"), so PyTorch can read the weights out of it too;
 *   - "__checkpoint__.optimizer_state" (F32, the optimizer's state array) and
 *     "__checkpoint__.optimizer_steps";
 *   - "__checkpoint__.metrics" (F64 [epochs, 7], the rows of metrics.csv);
 *   - one scalar per field of cr_checkpoint_state below, named
 *     "__checkpoint__.FIELD": I64 for counters and random states (a uint64
 *     random state is stored as the int64 with the same bits), F64 for
 *     sums;
 *   - one scalar per stored training setting, "__checkpoint__.NAME" with the
 *     name, type and meaning the settings table gives (train_settings.h);
 *   - "__checkpoint__.model_description" (U8, describe.h: every key of every
 *     layer, so a resume names what changed in the model file);
 *   - "__checkpoint__.overrides" (U8, when the run had any: the command-line
 *     options it was started with, so that --resume DIR alone continues it);
 *   - "__checkpoint__.checksums" (I64: the zlib crc32 of every other tensor's
 *     bytes, in byte order of their names), checked before a resume uses
 *     anything. Checkpoints written before these two still resume, with
 *     state->verified false.
 * Counters and states are tensors, not header metadata, because they must
 * come back bit for bit: a JSON number cannot hold a 64-bit random state. */
#ifndef CNNRUN_CHECKPOINT_H
#define CNNRUN_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "cnnrun.h"
#include "model.h"
#include "error.h"
#include "optim.h"
#include "train_settings.h"

/* Columns of metrics.csv, one row per epoch. */
enum {
    CR_METRIC_EPOCH,
    CR_METRIC_TRAIN_LOSS,
    CR_METRIC_TRAIN_ACCURACY,
    CR_METRIC_VAL_LOSS,
    CR_METRIC_VAL_ACCURACY,
    CR_METRIC_LR,
    CR_METRIC_SECONDS,
    CR_METRIC_COLUMNS
};

typedef struct cr_checkpoint_state {
    /* Where the run stands. */
    int64_t epoch;         /* the epoch in progress, from 0 (= epochs done when
                              step_in_epoch is 0) */
    int64_t step_in_epoch; /* optimizer steps done in that epoch */
    int64_t global_step;   /* optimizer steps done in the whole run */
    uint64_t order_seed;   /* seed of that epoch's shuffle */
    uint64_t augment_rng;  /* the augmentation stream, as it is now */
    uint64_t dropout_rng;  /* the network's dropout stream, as it is now */

    /* The epoch's running figures, so that its metrics row comes out the
     * same after a resume mid-epoch. */
    double loss_sum; /* sum over images of the batch-mean loss × batch size */
    int64_t correct; /* images classified right (binary_cross_entropy: image × output pairs) */
    int64_t seen;    /* images trained on */
    double seconds;  /* wall time spent on the epoch so far */

    double best_accuracy; /* validation accuracy of the best epoch; −1 before any */
    int64_t best_epoch;   /* 1-based, by the monitor (train_config.h); 0 before any */

    /* Not stored: derived from the metrics rows when a run resumes (train.c),
     * as a straight run computed them. Scores are "higher is better": the
     * validation accuracy, or minus the validation loss. */
    double best_score;           /* of best_epoch; −∞ before any */
    double stop_reference;       /* early stopping: the score to beat by min_delta */
    int64_t epochs_not_improved; /* early stopping: epochs since it was beaten */

    /* What the run trains: a resume must have the same. */
    int64_t train_images;
    uint64_t data_hash;  /* of the training images and labels */
    uint64_t model_hash; /* of the layers' kinds, wiring and output shapes */

    /* The training settings, settings[row] for each row of the table
     * (train_settings.h; rows that are not stored stay 0 when loaded). */
    cr_setting_value settings[CR_TRAIN_SETTINGS_MAX];

    /* metrics.csv so far: [metric_rows, CR_METRIC_COLUMNS]. Owned by the
     * state (cr_checkpoint_state_free). */
    int64_t metric_rows;
    int64_t metric_capacity;
    double *metrics;

    /* The model file's description (describe.h), owned; NULL when a
     * checkpoint from before descriptions has none. */
    char *model_description;
    /* The command-line overrides the run was started and resumed with,
     * "--OPTION=VALUE" lines (cr_train_overrides_text), owned; NULL when
     * none (or a checkpoint from before they were recorded). */
    char *overrides;
    /* Loaded: whether the file had checksums (and so was verified). */
    bool verified;
} cr_checkpoint_state;

/* Appends one metrics row (CR_METRIC_COLUMNS values). */
int cr_checkpoint_add_metrics(cr_checkpoint_state *state, const double *row, cr_error *err);
void cr_checkpoint_state_free(cr_checkpoint_state *state);

/* Writes the network's parameters and buffers, the optimizer's state and
 * `state` to path, atomically (a temporary file renamed over path): on any
 * failure the previous file is left as it was. */
int cr_checkpoint_save(const char *path, cr_net *net, const cr_optimizer *optimizer,
                       const cr_checkpoint_state *state, cr_error *err);

/* Reads a checkpoint into net, optimizer (already initialised for the same
 * optimizer type and parameter count) and *state. Everything is read and
 * checked before anything is changed: a bad file leaves the network and the
 * optimizer as they were. */
int cr_checkpoint_load(const char *path, cr_net *net, cr_optimizer *optimizer,
                       cr_checkpoint_state *state, cr_error *err);

/* Only the checkpoint's scalar fields and model description (no metrics,
 * no tensors applied), verified as cr_checkpoint_load does: what a resume
 * compares with its settings before it loads anything. */
int cr_checkpoint_peek(const char *path, cr_checkpoint_state *state, cr_error *err);

#endif
