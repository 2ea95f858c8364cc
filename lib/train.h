/* The training loop, evaluation and prediction.
 *
 *   cr_train_config config;             (train_config.h: the YAML train section)
 *   cr_dataset train, validation;
 *   cr_train_load_data(model, &config, &train, &validation, &err);
 *   cr_train(model, &config, &train, &validation, &options, &callbacks, &result, &err);
 *
 * Per epoch: a seeded shuffle, batches assembled into the network's input,
 * forward, the section's loss (loss.h), backward, optional gradient
 * clipping and one optimizer step at the scheduled learning rate per batch;
 * then the validation set in inference mode, and early stopping. The
 * run folder receives metrics.csv, last.safetensors, best.safetensors and
 * checkpoint.safetensors (checkpoint.h), each written atomically. A run
 * stopped by max_steps or by options.stop, and continued with
 * options.resume, ends with the same weights as one that ran straight
 * through (bit for bit with one BLAS thread).
 *
 * Under mpirun (dist.h, docs/distributed.md) every rank calls cr_train with
 * the same arguments and the call trains data-parallel: each rank takes its
 * share of every global batch (config->batch_size) and the gradients are
 * summed over the ranks; rank 0 alone reads and writes the run folder, and
 * every failure is returned on all ranks at once.
 *
 * Progress goes to caller-supplied callbacks: the library never prints. */
#ifndef CNNRUN_TRAIN_H
#define CNNRUN_TRAIN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "cnnrun.h"
#include "data.h"
#include "error.h"
#include "model.h"
#include "parallel.h"
#include "train_config.h"
#include "train_settings.h"

/* File names inside a run folder. */
#define CR_RUN_METRICS    "metrics.csv"
#define CR_RUN_LAST       "last.safetensors"
#define CR_RUN_BEST       "best.safetensors"
#define CR_RUN_CHECKPOINT "checkpoint.safetensors"
#define CR_RUN_INIT       "init.txt" /* with --init: what the run started from (init_weights.h) */

typedef struct cr_train_options {
    const char *run_dir; /* created (with its parents) when missing */
    /* The caller opened and locked run_dir (run_folder.h: before loading the
     * data, so a second run fails at once); otherwise cr_train does. */
    bool folder_open;
    bool resume;              /* continue the run saved in run_dir */
    const char *init_weights; /* start from these weights (not with resume); NULL: seeded init */
    /* The model file, whose text and SHA-256 the weights files record
     * (weights_info.h); NULL: they record neither. */
    const char *model_path;
    /* Tensors of init_weights that are missing or mismatched keep their
     * seeded initialisation (init_weights.h); false: they are an error. */
    bool init_partial;
    int64_t max_steps; /* stop after this many optimizer steps of the run; 0: no limit */
    bool no_shuffle;   /* the training images in file order every epoch */
    /* Threads preparing batches ahead of the step (loader.h); 0: the step's
     * own thread prepares each batch. The batches are the same either way. */
    int loader_threads;
    /* overridden[row]: the settings table's row (train_settings.h) was
     * given on the command line, now or when the run started; the
     * checkpoint records these overrides (cr_checkpoint_state.overrides). */
    bool overridden[CR_TRAIN_SETTINGS_MAX];
    /* When *stop becomes non-zero (a SIGINT, SIGTERM or SIGHUP handler:
     * stop_signals.h), the run finishes the
     * current step, saves a checkpoint and returns CR_TRAIN_INTERRUPTED. */
    const volatile sig_atomic_t *stop;
} cr_train_options;

/* Told once, before the first step. */
typedef struct cr_train_start {
    int64_t train_images, validation_images;
    int64_t steps_per_epoch;
    int batch_size;
    int requested_batch_size; /* > batch_size: clamped to the training set's size */
    int epochs;
    bool resumed;
    bool unverified;     /* resumed from a checkpoint without checksums (an older cnnrun's) */
    int removed_temps;   /* stale temporary files removed from the run folder */
    int start_epoch;     /* 1-based */
    int64_t start_step;  /* steps already done in it */
    const char *changes; /* on resume: settings that differ from the checkpoint's, or "" */
} cr_train_start;

/* After every optimizer step. */
typedef struct cr_train_progress {
    int epoch, epochs;     /* 1-based */
    int64_t step, steps;   /* batches done in this epoch, of */
    double loss, accuracy; /* running means over the epoch so far */
    double images_per_second;
    double eta_seconds;     /* to the end of this epoch's training */
    double run_eta_seconds; /* to the end of the run: the epochs left at this pace, each
                               with the last validation's time */
    bool has_accuracy;      /* false for mse: accuracy is NaN */
    float lr;
} cr_train_progress;

/* After every epoch (its row of metrics.csv). */
typedef struct cr_epoch_result {
    int epoch, epochs; /* 1-based */
    double train_loss, train_accuracy;
    double val_loss, val_accuracy;
    float lr; /* of the epoch's last step */
    double seconds;
    bool best;         /* best by the monitor so far: best.safetensors was written */
    bool has_accuracy; /* false for mse: the accuracies are NaN */
} cr_epoch_result;

typedef struct cr_train_callbacks {
    void *user;
    void (*on_start)(void *user, const cr_train_start *start);
    void (*on_step)(void *user, const cr_train_progress *progress);
    void (*on_epoch)(void *user, const cr_epoch_result *result);
} cr_train_callbacks;

typedef enum cr_train_status {
    CR_TRAIN_FINISHED,      /* every epoch done (also when a resumed run already was) */
    CR_TRAIN_STEP_LIMIT,    /* max_steps reached; checkpoint saved */
    CR_TRAIN_INTERRUPTED,   /* *options.stop was set; checkpoint saved */
    CR_TRAIN_EARLY_STOPPED, /* early_stopping: no improvement for `patience` epochs */
} cr_train_status;

typedef struct cr_train_result {
    cr_train_status status;
    int epoch;            /* 1-based epoch in progress when stopped (epochs when finished,
                             the last one run when stopped early) */
    int64_t step;         /* steps done in it */
    int64_t global_step;  /* optimizer steps of the whole run */
    int epochs_run;       /* epochs finished by this call */
    double best_accuracy; /* the validation accuracy of best_epoch */
    int best_epoch;       /* by the monitor (train_config.h); 0 when no epoch finished yet */
    double final_val_loss, final_val_accuracy; /* of the last finished epoch */
} cr_train_result;

/* Loads the data the config names: the training split, and the validation
 * set (the test split, or a seeded fraction held out of the training
 * split). Images are converted to the model's input shape. */
int cr_train_load_data(const cr_model *model, const cr_train_config *config, cr_dataset *train,
                       cr_dataset *validation, cr_error *err);

/* Every label must be below the number of the model's outputs: an error
 * naming the data source, the image, the label and the output size. */
int cr_check_labels(const cr_model *model, const cr_dataset *data, cr_error *err);

int cr_train(const cr_model *model, const cr_train_config *config, const cr_dataset *train,
             const cr_dataset *validation, const cr_train_options *options,
             const cr_train_callbacks *callbacks, cr_train_result *result, cr_error *err);

/* Inference over a whole data set in batches of the network's batch size:
 * mean cross-entropy and accuracy, and when confusion is not NULL, the
 * confusion matrix [classes, classes] (row: true class, column: predicted;
 * classes = the model's outputs), overwritten. Labels must have been checked
 * (cr_check_labels). Allocates two small arrays per call. */
int cr_evaluate(cr_net *net, const cr_dataset *data, const cr_transform *transform,
                int64_t *confusion, double *loss, double *accuracy, cr_error *err);

/* cr_evaluate with the train section's loss (loss.h): its mean (weighted as
 * in training), its accuracy (per image × output for binary_cross_entropy,
 * NaN for mse) and, when exact is not NULL, the fraction of images with
 * every output right (binary_cross_entropy; else the accuracy). confusion
 * only for cross_entropy (NULL otherwise). */
int cr_evaluate_loss(cr_net *net, const cr_dataset *data, const cr_transform *transform,
                     const cr_loss_config *loss_config, int64_t *confusion, double *loss,
                     double *accuracy, double *exact, cr_error *err);

/* The data against the loss and the model: class labels below the outputs
 * for cross_entropy (and binary_cross_entropy without targets), a targets
 * table with one column per output for binary_cross_entropy (values in
 * [0, 1]) and mse. */
int cr_check_data_for_loss(const cr_model *model, const cr_loss_config *loss,
                           const cr_dataset *data, cr_error *err);

/* Class probabilities of image `image` of the last forward: the output
 * itself when the model ends in softmax or sigmoid (one probability per
 * output then), else the softmax of the output.
 * out holds the model's number of outputs. */
void cr_output_probabilities(cr_net *net, int image, float *out);
/* What image `image` of the last forward predicts under the loss the model
 * was trained with (a cr_loss_type): cross_entropy as
 * cr_output_probabilities; binary_cross_entropy one probability per output,
 * the sigmoid of each logit (the output itself after a final sigmoid); mse
 * the outputs themselves (values, not probabilities). */
void cr_output_scores(cr_net *net, int image, int loss_type, float *out);

#endif
