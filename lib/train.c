/* The training loop (see train.h). Everything the loop needs is allocated
 * before the first step; a step copies its batch from the loader (loader.h,
 * prepared ahead on the loader's threads) into the network's input and
 * allocates nothing. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "atomic_file.h"
#include "checkpoint.h"
#include "describe.h"
#include "dist.h"
#include "init_weights.h"
#include "loader.h"
#include "loss.h"
#include "optim.h"
#include "random.h"
#include "run_folder.h"
#include "train.h"
#include "train_settings.h"
#include "weights_info.h"

static int model_outputs(const cr_model *model) {
    return (int)cr_shape_size(model->layers[model->output].out);
}

static int fail(cr_error *err, cr_error_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(cr_error *err, cr_error_kind kind, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    cr_vfail(err, kind, (cr_mark){0}, NULL, fmt, args);
    va_end(args);
    return 1;
}

/* ---- data ---------------------------------------------------------------------------- */

/* random_resized_crop chooses its box in the image as stored: image
 * folders then stay files, decoded at their own size by the loader. */
static bool streams(const cr_train_config *config) {
    const cr_augment *augment = &config->transform.augment;
    return config->data.format == CR_DATA_FOLDER && augment->count > 0 &&
           augment->steps[0].kind == CR_AUG_RANDOM_RESIZED_CROP;
}

int cr_train_load_data(const cr_model *model, const cr_train_config *config, cr_dataset *train,
                       cr_dataset *validation, cr_error *err) {
    memset(train, 0, sizeof *train);
    memset(validation, 0, sizeof *validation);
    cr_data_source source = config->data;
    source.stream = streams(config);
    if (config->validation <= 0) {
        if (cr_data_load(&source, false, model->input, train, err)) return 1;
        if (cr_data_load(&source, true, model->input, validation, err)) {
            cr_dataset_free(train);
            return 1;
        }
        return 0;
    }
    if (source.stream)
        return fail(err, CR_ERR_INVALID,
                    "%s: a validation fraction of an image folder that random_resized_crop "
                    "reads at full size is not supported; give a test folder "
                    "(folder:TRAIN_DIR,TEST_DIR)",
                    source.train_dir);
    cr_dataset all;
    if (cr_data_load(&source, false, model->input, &all, err)) return 1;
    int status = cr_dataset_split(&all, config->validation, config->seed, train, validation, err);
    cr_dataset_free(&all);
    return status;
}

int cr_check_labels(const cr_model *model, const cr_dataset *data, cr_error *err) {
    int outputs = model_outputs(model);
    for (int i = 0; i < data->count; i++)
        if (data->labels[i] < 0 || data->labels[i] >= outputs)
            return fail(err, CR_ERR_INVALID,
                        "%s: image %d has label %d, but model '%s' has %d outputs (labels must "
                        "be 0 to %d): give the last layer as many units as the data has classes",
                        data->source ? data->source : "data", i, data->labels[i], model->name,
                        outputs, outputs - 1);
    return 0;
}

/* FNV-1a over the images and labels: a resume must see the same data. */
/* Streamed data: over the file names (their contents are read per batch). */
static uint64_t data_hash(const cr_dataset *data) {
    uint64_t hash = 0xcbf29ce484222325ULL;
    int64_t bytes = (int64_t)data->count * data->channels * data->height * data->width;
    for (int64_t i = 0; data->pixels && i < bytes; i++)
        hash = (hash ^ data->pixels[i]) * 0x100000001b3ULL;
    /* Names below the folder, so a moved folder still resumes. */
    size_t root = data->source ? strlen(data->source) : 0;
    for (int i = 0; data->files && i < data->count; i++)
        for (const char *c = data->files[i] + (strlen(data->files[i]) > root ? root : 0); *c; c++)
            hash = (hash ^ (uint8_t)*c) * 0x100000001b3ULL;
    for (int i = 0; i < data->count; i++)
        hash = (hash ^ (uint64_t)(uint32_t)data->labels[i]) * 0x100000001b3ULL;
    /* csv data: the targets the labels point at. */
    const uint8_t *targets = (const uint8_t *)data->targets;
    int64_t target_bytes = (int64_t)data->target_rows * data->classes * (int64_t)sizeof(float);
    for (int64_t i = 0; targets && i < target_bytes; i++)
        hash = (hash ^ targets[i]) * 0x100000001b3ULL;
    return hash;
}

/* FNV-1a over each layer's kind, inputs and output shape: a checkpoint
 * resumes only the model that wrote it (parameter names and shapes alone
 * would let a max pool become an average pool unnoticed). */
static uint64_t model_hash(const cr_model *model) {
    uint64_t hash = 0xcbf29ce484222325ULL;
    for (int i = 0; i < model->n_layers; i++) {
        const cr_layer *layer = &model->layers[i];
        for (const char *c = layer->kind->name; *c; c++)
            hash = (hash ^ (uint8_t)*c) * 0x100000001b3ULL;
        int64_t numbers[] = {layer->n_inputs, layer->out.c, layer->out.h, layer->out.w};
        for (int k = 0; k < 4; k++) hash = (hash ^ (uint64_t)numbers[k]) * 0x100000001b3ULL;
        for (int k = 0; k < layer->n_inputs; k++)
            hash = (hash ^ (uint64_t)(int64_t)layer->inputs[k]) * 0x100000001b3ULL;
    }
    return hash;
}

/* ---- evaluation ---------------------------------------------------------------------- */

static int argmax(const float *values, int count) {
    int best = 0;
    for (int i = 1; i < count; i++)
        if (values[i] > values[best]) best = i;
    return best;
}

/* What an evaluation adds up: the loss × its denominator, the
 * denominators (loss.h), the right answers and the images with every output
 * right. Sums combine over ranks by adding. */
enum { EVAL_LOSS, EVAL_DENOMINATOR, EVAL_RIGHT, EVAL_EXACT, EVAL_SUMS };

static int evaluate_sums(cr_net *net, const cr_dataset *data, const cr_transform *transform,
                         const cr_loss_config *loss, int64_t *confusion, double *sums,
                         cr_error *err) {
    const cr_model *model = cr_net_model(net);
    int classes = model_outputs(model), max_batch = cr_net_max_batch(net);
    int *indices = malloc((size_t)max_batch * sizeof *indices);
    int *labels = malloc((size_t)max_batch * sizeof *labels);
    float *targets = NULL;
    if (cr_loss_needs_targets(loss->type))
        targets = malloc((size_t)max_batch * (size_t)classes * sizeof *targets);
    if (!indices || !labels || (cr_loss_needs_targets(loss->type) && !targets)) {
        free(indices);
        free(labels);
        free(targets);
        return fail(err, CR_ERR_RUNTIME, "out of memory");
    }
    if (confusion) memset(confusion, 0, (size_t)classes * (size_t)classes * sizeof *confusion);
    for (int k = 0; k < EVAL_SUMS; k++) sums[k] = 0.0;
    for (int start = 0; start < data->count; start += max_batch) {
        int n = data->count - start < max_batch ? data->count - start : max_batch;
        for (int i = 0; i < n; i++) indices[i] = start + i;
        cr_net_set_batch(net, n);
        cr_data_batch(data, indices, n, transform, cr_net_input(net), labels);
        if (targets) cr_loss_gather_targets(data, labels, n, classes, targets);
        cr_net_forward(net, false);
        double denominator;
        sums[EVAL_LOSS] += cr_net_loss(net, loss, labels, targets, &denominator) * denominator;
        sums[EVAL_DENOMINATOR] += denominator;
        int64_t exact = 0;
        sums[EVAL_RIGHT] += (double)cr_net_loss_correct(net, loss, labels, targets, &exact);
        sums[EVAL_EXACT] += (double)exact;
        if (confusion && loss->type == CR_LOSS_CROSS_ENTROPY) {
            const float *output = cr_net_output(net);
            for (int i = 0; i < n; i++)
                confusion[(int64_t)labels[i] * classes +
                          argmax(output + (int64_t)i * classes, classes)]++;
        }
    }
    cr_net_set_batch(net, max_batch);
    free(indices);
    free(labels);
    free(targets);
    return 0;
}

/* The figures of evaluation sums over `images` images. */
static void evaluation_figures(const cr_loss_config *loss, const double *sums, int64_t images,
                               int outputs, double *mean_loss, double *accuracy, double *exact) {
    *mean_loss = images ? sums[EVAL_LOSS] / sums[EVAL_DENOMINATOR] : NAN;
    *accuracy = cr_loss_accuracy(loss->type, (int64_t)sums[EVAL_RIGHT], images, outputs);
    if (exact)
        *exact = loss->type == CR_LOSS_BINARY_CROSS_ENTROPY
                     ? (images ? sums[EVAL_EXACT] / (double)images : NAN)
                     : *accuracy;
}

int cr_evaluate_loss(cr_net *net, const cr_dataset *data, const cr_transform *transform,
                     const cr_loss_config *loss_config, int64_t *confusion, double *loss,
                     double *accuracy, double *exact, cr_error *err) {
    double sums[EVAL_SUMS];
    if (evaluate_sums(net, data, transform, loss_config, confusion, sums, err)) return 1;
    evaluation_figures(loss_config, sums, data->count, model_outputs(cr_net_model(net)), loss,
                       accuracy, exact);
    return 0;
}

int cr_evaluate(cr_net *net, const cr_dataset *data, const cr_transform *transform,
                int64_t *confusion, double *loss, double *accuracy, cr_error *err) {
    const cr_loss_config cross_entropy = {.type = CR_LOSS_CROSS_ENTROPY};
    return cr_evaluate_loss(net, data, transform, &cross_entropy, confusion, loss, accuracy, NULL,
                            err);
}

int cr_check_data_for_loss(const cr_model *model, const cr_loss_config *loss,
                           const cr_dataset *data, cr_error *err) {
    const char *source = data->source ? data->source : "data";
    int outputs = model_outputs(model);
    if (!data->targets) {
        if (loss->type == CR_LOSS_MSE)
            return fail(err, CR_ERR_INVALID,
                        "%s: the mse loss learns real-valued targets, and this data has class "
                        "labels: give csv data ({format: csv, train: FILE, test: FILE})",
                        source);
        return cr_check_labels(model, data, err);
    }
    if (loss->type == CR_LOSS_CROSS_ENTROPY)
        return fail(err, CR_ERR_INVALID,
                    "%s: csv data has targets, but cross_entropy learns one class per image: use "
                    "loss binary_cross_entropy (multi-label) or mse (regression)",
                    source);
    if (data->classes != outputs)
        return fail(err, CR_ERR_INVALID,
                    "%s has %d target column%s, but model '%s' has %d outputs: give the last "
                    "layer one unit per column",
                    source, data->classes, data->classes == 1 ? "" : "s", model->name, outputs);
    if (loss->type != CR_LOSS_BINARY_CROSS_ENTROPY) return 0;
    for (int64_t i = 0; i < (int64_t)data->target_rows * outputs; i++)
        if (!(data->targets[i] >= 0.0f && data->targets[i] <= 1.0f))
            return fail(err, CR_ERR_INVALID,
                        "%s: row %lld, column '%s' is %g, but binary_cross_entropy targets are "
                        "probabilities in [0, 1] (0 or 1 for labels)",
                        source, (long long)(i / outputs) + 2,
                        data->class_names ? data->class_names[i % outputs] : "?",
                        (double)data->targets[i]);
    return 0;
}

void cr_output_scores(cr_net *net, int image, int loss_type, float *out) {
    const cr_model *model = cr_net_model(net);
    int classes = model_outputs(model);
    const float *output = cr_net_output(net) + (int64_t)image * classes;
    /* A final softmax gives the distribution, a final sigmoid one
     * probability per output (multi-label), mse's outputs are the values:
     * all as they are. */
    const cr_layer_kind *last = model->layers[model->output].kind;
    if (loss_type == CR_LOSS_MSE || last->outputs_probabilities || last->outputs_sigmoid) {
        memcpy(out, output, (size_t)classes * sizeof *out);
        return;
    }
    if (loss_type == CR_LOSS_BINARY_CROSS_ENTROPY) { /* logits: one sigmoid per output */
        for (int c = 0; c < classes; c++) out[c] = (float)(1.0 / (1.0 + exp(-(double)output[c])));
        return;
    }
    float largest = output[argmax(output, classes)];
    double sum = 0.0;
    for (int c = 0; c < classes; c++) sum += exp((double)output[c] - largest);
    for (int c = 0; c < classes; c++) out[c] = (float)(exp((double)output[c] - largest) / sum);
}

void cr_output_probabilities(cr_net *net, int image, float *out) {
    cr_output_scores(net, image, CR_LOSS_CROSS_ENTROPY, out);
}

/* ---- run folder ---------------------------------------------------------------------- */

static void run_file(char *out, size_t size, const char *run_dir, const char *name) {
    snprintf(out, size, "%s/%s", run_dir, name);
}

static int write_metrics(const char *run_dir, const cr_checkpoint_state *state, cr_error *err) {
    size_t capacity = 128 + (size_t)state->metric_rows * 160, used = 0;
    char *text = malloc(capacity);
    if (!text) return fail(err, CR_ERR_RUNTIME, "out of memory");
    used += (size_t)snprintf(text, capacity,
                             "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr\n");
    for (int64_t r = 0; r < state->metric_rows; r++) {
        const double *row = state->metrics + r * CR_METRIC_COLUMNS;
        /* No wall time here: the file is a function of the seed and the
         * data alone, so two runs can be compared with cmp (seconds per
         * epoch are in the progress output and the checkpoint). */
        used += (size_t)snprintf(text + used, capacity - used, "%d,%.6f,%.6f,%.6f,%.6f,%.6g\n",
                                 (int)row[CR_METRIC_EPOCH], row[CR_METRIC_TRAIN_LOSS],
                                 row[CR_METRIC_TRAIN_ACCURACY], row[CR_METRIC_VAL_LOSS],
                                 row[CR_METRIC_VAL_ACCURACY], row[CR_METRIC_LR]);
    }
    char path[4200];
    run_file(path, sizeof path, run_dir, CR_RUN_METRICS);
    int status = cr_write_file_atomic(path, text, used, err);
    free(text);
    return status;
}

/* ---- settings (the table: train_settings.h) ----------------------------------------- */

typedef struct text {
    char buffer[1024];
    size_t used;
} text;

/* Appends "what now (was before)" to the list of changes. */
static void note_change(text *t, const cr_train_setting *setting, cr_setting_value before,
                        cr_setting_value now) {
    if (t->used >= sizeof t->buffer) return;
    char a[64], b[64];
    t->used += (size_t)snprintf(t->buffer + t->used, sizeof t->buffer - t->used, "%s%s %s (was %s)",
                                t->used ? ", " : "", setting->label,
                                cr_setting_text(setting, now, a, sizeof a),
                                cr_setting_text(setting, before, b, sizeof b));
    if (t->used > sizeof t->buffer) t->used = sizeof t->buffer;
}

/* For messages: the data a run recorded as --data (from its overrides'
 * "--data=" line), or `source` as text; "" when neither is known. */
static void data_named(const char *overrides, const cr_data_source *source, char *out,
                       size_t size) {
    out[0] = '\0';
    if (source) {
        if (cr_data_source_text(source, out, size)) out[0] = '\0';
        return;
    }
    const char *line = overrides ? strstr(overrides, "--data=") : NULL;
    if (line && (line == overrides || line[-1] == '\n')) {
        line += strlen("--data=");
        size_t length = strcspn(line, "\n");
        snprintf(out, size, "%.*s", (int)length, line);
    }
}

/* What a resume may not change (it would change which images each step
 * sees, or the optimizer's state layout) is an error; what it may change is
 * listed in `changes`. */
static int compare_settings(const cr_checkpoint_state *saved, const cr_checkpoint_state *now,
                            const cr_data_source *data, const char *path, text *changes,
                            cr_error *err) {
    const char *hint = "resume with the settings the run started with, or start a new run "
                       "(another --out)";
    char changed[700];
    if (saved->model_description && now->model_description &&
        cr_describe_diff(saved->model_description, now->model_description, changed,
                         sizeof changed) > 0)
        return fail(err, CR_ERR_INVALID,
                    "%s was saved by another version of the model file: %s; resume with the "
                    "model file the run started with, or start a new run from its weights with "
                    "--init",
                    path, changed);
    if (saved->model_hash != now->model_hash)
        return fail(err, CR_ERR_INVALID,
                    "%s was saved by a model with other layers (a layer's type, inputs or output "
                    "shape differs): resume with the model file the run started with, or start a "
                    "new run from its weights with --init",
                    path);
    for (int i = 0; i < cr_train_setting_count; i++) {
        const cr_train_setting *setting = &cr_train_settings[i];
        if (setting->on_resume != CR_RESUME_REFUSED ||
            cr_setting_equal(setting, saved->settings[i], now->settings[i]))
            continue;
        char a[64], b[64];
        return fail(err, CR_ERR_INVALID, "%s was saved with %s %s, this run has %s: %s", path,
                    setting->label, cr_setting_text(setting, saved->settings[i], a, sizeof a),
                    cr_setting_text(setting, now->settings[i], b, sizeof b), hint);
    }
    if (saved->train_images != now->train_images || saved->data_hash != now->data_hash) {
        char then[4200], here[4200];
        data_named(saved->overrides, NULL, then, sizeof then);
        data_named(NULL, data, here, sizeof here);
        return fail(err, CR_ERR_INVALID,
                    "%s was saved training on other data (%s%s%lld images then, %s%s%lld now, or "
                    "the same number with other contents): %s",
                    path, then, then[0] ? " with " : "", (long long)saved->train_images, here,
                    here[0] ? " with " : "", (long long)now->train_images, hint);
    }
    for (int i = 0; i < cr_train_setting_count; i++)
        if (cr_train_settings[i].on_resume == CR_RESUME_APPLIED &&
            !cr_setting_equal(&cr_train_settings[i], saved->settings[i], now->settings[i]))
            note_change(changes, &cr_train_settings[i], saved->settings[i], now->settings[i]);
    return 0;
}

/* ---- the loop ------------------------------------------------------------------------ */

/* Seeds of the random streams, derived from the run's seed so that each
 * epoch's order can be rebuilt on its own after a resume. */
static uint64_t epoch_order_seed(uint64_t seed, int64_t epoch) {
    uint64_t state = seed ^ (0x5851F42D4C957F2DULL * (uint64_t)(epoch + 1));
    return cr_random_next(&state);
}

static void epoch_order(int *order, int count, bool shuffle, uint64_t seed) {
    for (int i = 0; i < count; i++) order[i] = i;
    if (!shuffle) return;
    uint64_t rng = seed;
    for (int i = count - 1; i > 0; i--) {
        int j = (int)cr_random_below(&rng, (uint64_t)i + 1);
        int swap = order[i];
        order[i] = order[j];
        order[j] = swap;
    }
}

/* ---- several processes (dist.h, docs/distributed.md) ------------------------------------ */

/* This rank's contiguous share [*first, *first + *count) of `total` items:
 * shares differ by at most one item, and the lower ranks take the smaller
 * ones. With one process, everything. */
static void rank_share(int64_t total, int64_t *first, int64_t *count) {
    int64_t rank = cr_dist_rank(), size = cr_dist_size();
    *first = total * rank / size;
    *count = total * (rank + 1) / size - *first;
}

/* Rank r's dropout stream: its own, so that replicas do not drop the same
 * units of different images, and derived from rank 0's so that a seed and
 * a rank count give one run. */
static uint64_t rank_stream(uint64_t rank0_state, int rank) {
    uint64_t state = rank0_state ^ (0x9E3779B97F4A7C15ULL * (uint64_t)rank);
    return cr_random_next(&state);
}

/* Rank 0's parameters and buffers to every rank. */
static void broadcast_network(cr_net *net) {
    int64_t trainable;
    float *block = cr_net_param_block(net, &trainable);
    cr_dist_broadcast(block, trainable * (int64_t)sizeof *block);
    for (int p = 0; p < cr_net_param_count(net); p++) {
        cr_tensor t = cr_net_param(net, p);
        if (!t.trainable) cr_dist_broadcast(t.data, t.count * (int64_t)sizeof *t.data);
    }
}

/* Batchnorm's running statistics, which each rank updates from its own
 * images, become their mean over the ranks: every rank then evaluates, and
 * rank 0 saves, the same network. */
static void average_buffers(cr_net *net) {
    int size = cr_dist_size();
    if (size == 1) return;
    for (int p = 0; p < cr_net_param_count(net); p++) {
        cr_tensor t = cr_net_param(net, p);
        if (!t.is_buffer) continue;
        cr_dist_sum_floats(t.data, t.count);
        for (int64_t i = 0; i < t.count; i++) t.data[i] /= (float)size;
    }
}

/* cr_evaluate_loss with the images shared out over the ranks and the sums
 * reduced. With one process exactly cr_evaluate_loss. */
static int evaluate_shared(cr_net *net, const cr_dataset *data, const cr_transform *transform,
                           const cr_loss_config *loss_config, double *loss, double *accuracy,
                           cr_error *err) {
    double sums[EVAL_SUMS] = {0};
    int64_t first, count;
    rank_share(data->count, &first, &count);
    int status = 0;
    if (count > 0) {
        cr_dataset part = *data;
        part.count = (int)count;
        part.pixels += first * data->channels * data->height * data->width;
        part.labels += first;
        status = evaluate_sums(net, &part, transform, loss_config, NULL, sums, err);
    }
    if (cr_dist_agree(status, err)) return 1;
    cr_dist_sum_doubles(sums, EVAL_SUMS);
    evaluation_figures(loss_config, sums, data->count, model_outputs(cr_net_model(net)), loss,
                       accuracy, NULL);
    return 0;
}

typedef struct run {
    const cr_model *model;
    const cr_train_config *config;
    const cr_dataset *train, *validation;
    const cr_train_options *options;
    const cr_train_callbacks *callbacks;
    cr_net *net;
    cr_optimizer optimizer;
    cr_checkpoint_state state;
    int *order;
    float *targets;               /* [share_max, outputs] for losses that learn targets (loss.h) */
    cr_loader *loader;            /* prepares the training batches */
    const cr_loader_batch *batch; /* the step's, until it is released */
    int64_t steps_per_epoch;
    double validation_seconds; /* of the last validation, for the run's ETA */
    uint64_t train_hash;       /* data_hash(train) */
    bool unverified;           /* resumed from a checkpoint without checksums */
    char checkpoint_path[4200];
    /* The checkpoint in the folder, for the NaN message: whether there is
     * one, and where it stands (1-based epoch, steps done in it). */
    bool checkpoint_saved;
    int64_t saved_epoch, saved_step;
    /* What last/best.safetensors say about themselves (weights_info.h). */
    cr_safetensors_meta meta[CR_WEIGHTS_INFO_KEYS];
    int n_meta;
} run;

/* The epoch's running accuracy (loss.h: per image, or per image × output). */
static double epoch_accuracy(const run *r) {
    return cr_loss_accuracy(r->config->loss.type, r->state.correct, r->state.seen,
                            model_outputs(r->model));
}

/* ---- the best epoch and early stopping ------------------------------------------------- */

/* The monitored figure as a score, higher is better. */
static double monitored_score(const cr_early_stopping *stopping, double val_loss,
                              double val_accuracy) {
    return stopping->monitor == CR_MONITOR_VAL_LOSS ? -val_loss : val_accuracy;
}

static void reset_monitor(cr_checkpoint_state *state) {
    state->best_score = state->stop_reference = -INFINITY;
    state->epochs_not_improved = 0;
    state->best_epoch = 0;
    state->best_accuracy = -1.0;
}

/* One finished epoch's validation: whether it is the best so far (strictly
 * better: best.safetensors), and early stopping's count, which an epoch
 * resets only by beating the reference by more than min_delta (Keras's
 * EarlyStopping, PyTorch Lightning's). */
static bool track_monitor(cr_checkpoint_state *state, const cr_early_stopping *stopping,
                          int64_t epoch, double val_loss, double val_accuracy) {
    double score = monitored_score(stopping, val_loss, val_accuracy);
    bool best = score > state->best_score;
    if (best) {
        state->best_score = score;
        state->best_epoch = epoch;
        /* mse has no accuracy; the checkpoint keeps −1 ("none") then. */
        state->best_accuracy = isnan(val_accuracy) ? -1.0 : val_accuracy;
    }
    if (score > state->stop_reference + stopping->min_delta) {
        state->stop_reference = score;
        state->epochs_not_improved = 0;
    } else {
        state->epochs_not_improved++;
    }
    return best;
}

/* After a resume: the monitor's figures from the saved epochs' metrics, as
 * the run computed them epoch by epoch (with this run's monitor and
 * min_delta, which a resume may change). */
static void replay_monitor(cr_checkpoint_state *state, const cr_early_stopping *stopping) {
    reset_monitor(state);
    for (int64_t row = 0; row < state->metric_rows; row++) {
        const double *m = state->metrics + row * CR_METRIC_COLUMNS;
        track_monitor(state, stopping, (int64_t)m[CR_METRIC_EPOCH], m[CR_METRIC_VAL_LOSS],
                      m[CR_METRIC_VAL_ACCURACY]);
    }
}

static bool patience_run_out(const run *r) {
    int patience = r->config->early_stopping.patience;
    return patience > 0 && r->state.epochs_not_improved >= patience;
}

/* The metadata of the weights files: class names, input, normalisation,
 * the model file and the data (weights_info.h). */
static int describe_weights(run *r, cr_error *err) {
    cr_weights_info info;
    if (cr_weights_info_describe(r->model, &r->config->transform, &r->config->data, r->train,
                                 r->options->model_path, &info, err))
        return 1;
    int status = cr_weights_info_meta(&info, r->meta, &r->n_meta, err);
    cr_weights_info_free(&info);
    return status;
}

static int save_weights(run *r, const char *name, cr_error *err) {
    char path[4200];
    run_file(path, sizeof path, r->options->run_dir, name);
    return cr_net_save_weights_meta(r->net, path, r->meta, r->n_meta, err);
}

static int save_checkpoint(run *r, cr_error *err) {
    r->state.dropout_rng = cr_net_rng_state(r->net);
    if (cr_checkpoint_save(r->checkpoint_path, r->net, &r->optimizer, &r->state, err)) return 1;
    r->checkpoint_saved = true;
    r->saved_epoch = r->state.epoch;
    r->saved_step = r->state.step_in_epoch;
    return 0;
}

/* Where the checkpoint says the run stands must be a place this run can be:
 * a step_in_epoch past the epoch's end would skip the rest of it silently. */
static int check_position(const cr_checkpoint_state *saved, int64_t steps_per_epoch,
                          const char *path, cr_error *err) {
    int64_t batch_size = saved->settings[cr_train_setting_find("batch_size")].i;
    int64_t images = saved->step_in_epoch * batch_size;
    bool seen_right = saved->step_in_epoch == 0 ||
                      saved->seen == (images < saved->train_images ? images : saved->train_images);
    if (saved->step_in_epoch >= steps_per_epoch ||
        saved->global_step != saved->epoch * steps_per_epoch + saved->step_in_epoch || !seen_right)
        return fail(err, CR_ERR_INVALID,
                    "%s is inconsistent: epoch %lld, step %lld of %lld in it, %lld steps in all, "
                    "%lld images seen; the checkpoint is damaged",
                    path, (long long)saved->epoch + 1, (long long)saved->step_in_epoch,
                    (long long)steps_per_epoch, (long long)saved->global_step,
                    (long long)saved->seen);
    return 0;
}

/* A fresh run's start from --init weights, recorded in the run folder
 * (CR_RUN_INIT): the checkpoints hold the weights from then on. */
static int init_from(run *r, cr_error *err) {
    cr_init_report report;
    const cr_train_options *options = r->options;
    int status =
        cr_net_init_weights(r->net, options->init_weights, options->init_partial, &report, err);
    if (!status) {
        char path[4200];
        run_file(path, sizeof path, options->run_dir, CR_RUN_INIT);
        status = cr_init_report_save(&report, options->init_partial, path, err);
    }
    cr_init_report_free(&report);
    return status;
}

/* Sets up a fresh run, or loads the checkpoint of the one being resumed
 * (rank 0's part: the files). */
static int open_run(run *r, text *changes, cr_error *err) {
    const cr_train_config *config = r->config;
    cr_checkpoint_state *state = &r->state;
    struct stat info;
    bool exists = stat(r->checkpoint_path, &info) == 0;
    if (!r->options->resume) {
        if (exists)
            return fail(err, CR_ERR_USAGE,
                        "%s already holds a training run (%s): continue it with --resume %s, or "
                        "start a new one in another folder (--out)",
                        r->options->run_dir, CR_RUN_CHECKPOINT, r->options->run_dir);
        state->augment_rng = cr_augment_root(config->seed);
        reset_monitor(state);
        return r->options->init_weights ? init_from(r, err) : 0;
    }
    if (!exists)
        return fail(err, CR_ERR_IO, "cannot resume: %s has no %s (%s)", r->options->run_dir,
                    CR_RUN_CHECKPOINT, strerror(errno));
    /* Compared before anything is loaded: a changed model file is named as
     * such, not as a tensor or optimizer state that no longer fits. */
    cr_checkpoint_state saved = {0};
    if (cr_checkpoint_peek(r->checkpoint_path, &saved, err)) return 1;
    int status = compare_settings(&saved, state, &config->data, r->checkpoint_path, changes, err) ||
                 check_position(&saved, r->steps_per_epoch, r->checkpoint_path, err);
    cr_checkpoint_state_free(&saved);
    if (status) return 1;
    status = cr_checkpoint_load(r->checkpoint_path, r->net, &r->optimizer, &saved, err);
    if (!status) {
        /* The run's position and streams from the file; the settings
         * from this run (those a resume may not change are the same). */
        cr_checkpoint_state now = *state;
        *state = saved;
        memcpy(state->settings, now.settings, sizeof state->settings);
        free(state->model_description);
        state->model_description = now.model_description;
        replay_monitor(state, &config->early_stopping);
        free(state->overrides);
        state->overrides = now.overrides;
        r->unverified = !saved.verified;
        r->checkpoint_saved = true;
        r->saved_epoch = state->epoch;
        r->saved_step = state->step_in_epoch;
    }
    return status;
}

/* The first setting that ranks must share (train_settings.h) and this
 * rank has otherwise than rank 0: an error naming it. */
static int check_same_settings(const cr_setting_value *mine, const cr_setting_value *reference,
                               cr_error *err) {
    for (int i = 0; i < cr_train_setting_count; i++) {
        const cr_train_setting *setting = &cr_train_settings[i];
        if (!setting->ranks_agree || cr_setting_equal(setting, mine[i], reference[i])) continue;
        char a[64], b[64];
        return fail(err, CR_ERR_USAGE,
                    "its training setting %s (%s) differs from rank 0's (%s): start every rank "
                    "with the same command line",
                    setting->label, cr_setting_text(setting, mine[i], a, sizeof a),
                    cr_setting_text(setting, reference[i], b, sizeof b));
    }
    return 0;
}

/* Every rank must train the same model on the same data with the same
 * settings, or the replicas would drift apart unnoticed: rank 0's are the
 * reference. */
static int check_same_run(const run *r, cr_error *err) {
    if (cr_dist_size() == 1) return 0;
    enum { TRAIN_IMAGES, TRAIN_HASH, VALIDATION_IMAGES, VALIDATION_HASH, MODEL, FIELDS };
    uint64_t mine[FIELDS] = {
        [TRAIN_IMAGES] = (uint64_t)r->train->count,
        [TRAIN_HASH] = r->train_hash,
        [VALIDATION_IMAGES] = (uint64_t)r->validation->count,
        [VALIDATION_HASH] = data_hash(r->validation),
        [MODEL] = model_hash(r->model),
    };
    uint64_t reference[FIELDS];
    memcpy(reference, mine, sizeof reference);
    cr_dist_broadcast(reference, sizeof reference);
    cr_setting_value settings[CR_TRAIN_SETTINGS_MAX] = {{0}},
                     reference_settings[CR_TRAIN_SETTINGS_MAX];
    cr_train_settings_record(settings, r->config, r->options);
    memcpy(reference_settings, settings, sizeof reference_settings);
    cr_dist_broadcast(reference_settings, sizeof reference_settings);
    int status = 0;
    if (mine[TRAIN_IMAGES] != reference[TRAIN_IMAGES] || mine[TRAIN_HASH] != reference[TRAIN_HASH])
        status =
            fail(err, CR_ERR_INVALID,
                 "its training data (%s, %llu images) differs from rank 0's (%llu images, or "
                 "the same number with other contents): every rank needs the same data",
                 r->train->source ? r->train->source : "?", (unsigned long long)mine[TRAIN_IMAGES],
                 (unsigned long long)reference[TRAIN_IMAGES]);
    else if (mine[VALIDATION_IMAGES] != reference[VALIDATION_IMAGES] ||
             mine[VALIDATION_HASH] != reference[VALIDATION_HASH])
        status = fail(err, CR_ERR_INVALID,
                      "its validation data (%s, %llu images) differs from rank 0's (%llu images, "
                      "or the same number with other contents): every rank needs the same data",
                      r->validation->source ? r->validation->source : "?",
                      (unsigned long long)mine[VALIDATION_IMAGES],
                      (unsigned long long)reference[VALIDATION_IMAGES]);
    else if (mine[MODEL] != reference[MODEL])
        status = fail(err, CR_ERR_INVALID,
                      "its model differs from rank 0's (a layer's type, inputs or output shape): "
                      "every rank needs the same model file");
    else
        status = check_same_settings(settings, reference_settings, err);
    return cr_dist_agree(status, err);
}

/* The run's command-line overrides into the state, for its checkpoints. */
static int record_overrides(run *r, cr_error *err) {
    char text[16384];
    int length =
        cr_train_overrides_text(r->options->overridden, r->config, r->options, text, sizeof text);
    if (length < 0)
        return fail(err, CR_ERR_USAGE,
                    "the command-line options are too long to record (%zu "
                    "bytes at most)",
                    sizeof text);
    r->state.overrides = length ? strdup(text) : NULL;
    if (length && !r->state.overrides) return fail(err, CR_ERR_RUNTIME, "out of memory");
    return 0;
}

/* Sets up a fresh run, or loads the checkpoint of the one being resumed:
 * rank 0 reads the files and hands every other rank the weights, the
 * optimizer's state and the run's position. */
static int start_run(run *r, text *changes, cr_error *err) {
    const cr_train_config *config = r->config;
    cr_checkpoint_state *state = &r->state;
    cr_train_settings_record(state->settings, config, r->options);
    state->train_images = r->train->count;
    state->data_hash = r->train_hash;
    state->model_hash = model_hash(r->model);
    state->model_description = cr_model_describe(r->model, &config->transform);
    if (!state->model_description) return fail(err, CR_ERR_RUNTIME, "out of memory");
    if (record_overrides(r, err)) return 1;
    int rank = cr_dist_rank();
    if (cr_dist_agree(rank == 0 ? open_run(r, changes, err) : 0, err)) return 1;
    if (cr_dist_size() == 1) return 0;

    broadcast_network(r->net);
    cr_optimizer *optimizer = &r->optimizer;
    cr_dist_broadcast(optimizer->state, optimizer->state_floats * (int64_t)sizeof(float));
    cr_dist_broadcast(&optimizer->steps, sizeof optimizer->steps);
    /* The run's position and random streams; the metrics rows stay with
     * rank 0, the only one that writes metrics.csv. */
    /* Pointers: each rank keeps its own. */
    char *description = state->model_description, *overrides = state->overrides;
    cr_dist_broadcast(state, sizeof *state);
    state->model_description = description;
    state->overrides = overrides;
    if (rank != 0) {
        state->metrics = NULL;
        state->metric_rows = state->metric_capacity = 0;
        r->checkpoint_saved = r->options->resume;
        r->saved_epoch = state->epoch;
        r->saved_step = state->step_in_epoch;
    }
    uint64_t dropout = cr_net_rng_state(r->net);
    cr_dist_broadcast(&dropout, sizeof dropout);
    if (rank != 0) cr_net_set_rng_state(r->net, rank_stream(dropout, rank));
    return 0;
}

/* Saves a checkpoint mid-epoch (or at its end) and reports where the run stopped. */
static int stop_run(run *r, cr_train_status status, cr_train_result *result, cr_error *err) {
    average_buffers(r->net);
    int failed =
        cr_dist_rank() == 0 && (save_checkpoint(r, err) || save_weights(r, CR_RUN_LAST, err));
    if (cr_dist_agree(failed, err)) return 1;
    result->status = status;
    return 0;
}

/* ---- one epoch: begin, steps (each reported), one stop rule, finish -------------------- */

/* What an epoch's steps share within one call of train_epoch. */
typedef struct epoch_clock {
    double started;        /* when this call began the epoch's steps */
    double seconds_before; /* spent on the epoch before this call (a resume mid-epoch) */
    double elapsed;        /* since `started`, as of the latest step */
    int64_t images_here;   /* trained on in this call, for images/s */
    float lr;              /* of the latest step */
} epoch_clock;

/* One global batch, summed over the ranks before any gradient is
 * exchanged: loss × its denominator and the denominators (loss.h), answers
 * right, how many ranks were asked to stop and whose loader failed. */
enum { SUM_LOSS, SUM_DENOMINATOR, SUM_RIGHT, SUM_STOP_ASKED, SUM_LOADER_FAILED, SUMS };

/* The epoch's order, and its running figures when it starts afresh. */
static void begin_epoch(run *r, epoch_clock *clock) {
    cr_checkpoint_state *state = &r->state;
    if (state->step_in_epoch == 0) {
        state->order_seed = epoch_order_seed(r->config->seed, state->epoch);
        state->loss_sum = 0.0;
        state->correct = state->seen = 0;
        state->seconds = 0.0;
    }
    epoch_order(r->order, r->train->count, !r->options->no_shuffle, state->order_seed);
    cr_loader_epoch(r->loader, state->epoch, r->order, state->step_in_epoch);
    *clock = (epoch_clock){.started = cr_monotonic_seconds(), .seconds_before = state->seconds};
}

/* Forward and loss of this rank's share of the step's global batch (the
 * loader's), adding its loss × its denominator, the denominator and the
 * answers right to sums. With mixed batches the loss takes the soft
 * targets, and an image counts as right when the net picks its own label. */
static void forward_share(run *r, double *sums) {
    const cr_loader_batch *batch = r->batch = cr_loader_next(r->loader);
    if (batch->failed) sums[SUM_LOADER_FAILED] = 1;
    int share = batch->n;
    if (share == 0 || batch->failed) return;
    cr_net *net = r->net;
    const cr_loss_config *loss = &r->config->loss;
    cr_net_set_batch(net, share);
    const cr_dataset *data = r->train;
    size_t image_size = (size_t)data->channels * data->height * data->width;
    memcpy(cr_net_input(net), batch->images, sizeof(float) * image_size * share);
    /* Mixed batches (mixup, cutmix: cross_entropy only) learn the soft
     * rows; the other losses learn their targets (loss.h). */
    const int *labels = batch->mixed ? NULL : batch->labels;
    const float *targets = batch->mixed ? batch->targets : r->targets;
    if (r->targets)
        cr_loss_gather_targets(data, batch->labels, share, model_outputs(r->model), r->targets);
    cr_net_forward(net, true);
    double denominator;
    sums[SUM_LOSS] = cr_net_loss(net, loss, labels, targets, &denominator) * denominator;
    sums[SUM_DENOMINATOR] = denominator;
    sums[SUM_RIGHT] = (double)cr_net_loss_correct(net, loss, batch->labels, r->targets, NULL);
}

/* The error for a loss that is not finite, saying which checkpoint is kept. */
static int loss_failure(const run *r, double loss, float lr, cr_error *err) {
    const cr_checkpoint_state *state = &r->state;
    char kept[4600];
    if (!r->checkpoint_saved)
        snprintf(kept, sizeof kept, "no checkpoint had been saved yet");
    else if (r->saved_step == 0)
        snprintf(kept, sizeof kept,
                 "the last good checkpoint (end of epoch %lld) is kept in %s: resume "
                 "from it with a lower learning rate (--resume %s --lr X)",
                 (long long)r->saved_epoch, r->options->run_dir, r->options->run_dir);
    else
        snprintf(kept, sizeof kept,
                 "the last good checkpoint (epoch %lld, step %lld) is kept in %s: resume "
                 "from it with a lower learning rate (--resume %s --lr X)",
                 (long long)r->saved_epoch + 1, (long long)r->saved_step, r->options->run_dir,
                 r->options->run_dir);
    return fail(err, CR_ERR_RUNTIME,
                "the loss became %s at epoch %lld, step %lld (step %lld of the run, "
                "learning rate %g); training stopped without saving: %s",
                isnan(loss) ? "NaN" : "infinite", (long long)state->epoch + 1,
                (long long)state->step_in_epoch + 1, (long long)state->global_step + 1, (double)lr,
                kept);
}

/* Each rank's gradient is its share's mean (loss.h: divided by the share's
 * denominator); weighted by its denominator / the global batch's and summed
 * over the ranks it is the global batch's mean, as one process computes it
 * (share / n without class weights). Leaves the summed gradient in grads. */
static void backward_share(run *r, int share, double denominator, double total, float *grads,
                           int64_t gradient_count) {
    if (share > 0) {
        cr_net_backward(r->net);
        if (denominator != total) {
            float weight = (float)denominator / (float)total;
            for (int64_t i = 0; i < gradient_count; i++) grads[i] *= weight;
        }
    } else {
        memset(grads, 0, (size_t)gradient_count * sizeof *grads);
    }
    cr_dist_sum_floats(grads, gradient_count);
}

/* One optimizer step on the epoch's next global batch [first, first + n):
 * this rank's share forward, the sums over the ranks, the NaN check, the
 * gradient exchange and the update; sums and *n are left for the report. */
static int train_step(run *r, epoch_clock *clock, double *sums, int64_t *first, int *n,
                      cr_error *err) {
    const cr_train_config *config = r->config;
    cr_checkpoint_state *state = &r->state;
    int64_t count = r->train->count;
    *first = state->step_in_epoch * config->batch_size;
    *n = (int)(count - *first < config->batch_size ? count - *first : config->batch_size);
    clock->lr = cr_schedule_lr(&config->schedule, config->optimizer.lr, state->global_step,
                               r->steps_per_epoch, config->epochs);
    /* The loader's streams depend on the epoch and the image alone
     * (augment.h): nothing to skip for the other ranks' shares. */
    sums[SUM_LOSS] = sums[SUM_DENOMINATOR] = sums[SUM_RIGHT] = sums[SUM_LOADER_FAILED] = 0.0;
    sums[SUM_STOP_ASKED] = r->options->stop && *r->options->stop;
    forward_share(r, sums);
    int share = r->batch->n;
    double denominator = sums[SUM_DENOMINATOR];
    cr_dist_sum_doubles(sums, SUMS);
    if (sums[SUM_LOADER_FAILED] > 0) {
        if (r->batch->failed)
            *err = r->batch->err;
        else
            fail(err, CR_ERR_RUNTIME, "another rank's data loader failed");
        return 1;
    }
    double loss = sums[SUM_LOSS] / sums[SUM_DENOMINATOR]; /* the global batch's mean */
    if (!isfinite(loss)) return loss_failure(r, loss, clock->lr, err);

    int64_t parameter_count, gradient_count;
    float *params = cr_net_param_block(r->net, &parameter_count);
    float *grads = cr_net_grad_block(r->net, &gradient_count);
    backward_share(r, share, denominator, sums[SUM_DENOMINATOR], grads, gradient_count);
    /* After the ranks' sum: every rank clips the same global gradient. */
    if (config->clip_grad_norm > 0)
        cr_clip_grad_norm(grads, gradient_count, config->clip_grad_norm);
    cr_optimizer_step(&r->optimizer, params, grads, clock->lr);
    cr_loader_release(r->loader);
    /* The epoch's loss is the mean of the batches' means, each by its
     * images (as a PyTorch loop adds loss.item() × batch size). */
    state->loss_sum += sums[SUM_DENOMINATOR] == *n ? sums[SUM_LOSS] : loss * *n;
    state->correct += (int64_t)sums[SUM_RIGHT];
    state->seen += *n;
    state->step_in_epoch++;
    state->global_step++;
    clock->images_here += *n;
    clock->elapsed = cr_monotonic_seconds() - clock->started;
    state->seconds = clock->seconds_before + clock->elapsed;
    return 0;
}

/* The on_step callback after the step that took [first, first + n). */
static void report_step(const run *r, const epoch_clock *clock, int64_t first, int n) {
    if (!r->callbacks || !r->callbacks->on_step) return;
    const cr_checkpoint_state *state = &r->state;
    double elapsed = clock->elapsed;
    cr_train_progress progress = {
        .epoch = (int)state->epoch + 1,
        .epochs = r->config->epochs,
        .step = state->step_in_epoch,
        .steps = r->steps_per_epoch,
        .loss = state->loss_sum / (double)state->seen,
        .accuracy = epoch_accuracy(r),
        .images_per_second = elapsed > 0 ? (double)clock->images_here / elapsed : 0.0,
        .lr = clock->lr,
        .has_accuracy = cr_loss_has_accuracy(r->config->loss.type),
    };
    progress.eta_seconds = progress.images_per_second > 0
                               ? (double)(r->train->count - first - n) / progress.images_per_second
                               : 0.0;
    /* The epochs after this one at this pace, and each epoch's validation
     * (this one's included) taking as long as the last one did. */
    int64_t epochs_after = r->config->epochs - (state->epoch + 1);
    progress.run_eta_seconds =
        progress.images_per_second > 0
            ? progress.eta_seconds +
                  (double)epochs_after * (double)r->train->count / progress.images_per_second +
                  (double)(epochs_after + 1) * r->validation_seconds
            : 0.0;
    r->callbacks->on_step(r->callbacks->user, &progress);
}

/* The one stop rule: asked to stop (a signal on some rank), or the run's
 * step limit reached. CR_TRAIN_FINISHED: go on. */
static cr_train_status stop_rule(const run *r, bool asked) {
    if (asked) return CR_TRAIN_INTERRUPTED;
    if (r->options->max_steps > 0 && r->state.global_step >= r->options->max_steps)
        return CR_TRAIN_STEP_LIMIT;
    return CR_TRAIN_FINISHED;
}

/* Whether any rank was asked to stop, as of the step just taken: one
 * process stops at once when asked during the step (its callback included);
 * ranks stop together at the first step whose sums saw a request. */
static bool asked_during_step(const run *r, const double *sums) {
    if (cr_dist_size() == 1) return r->options->stop && *r->options->stop;
    return sums[SUM_STOP_ASKED] > 0;
}

/* Whether any rank has been asked to stop (a collective). */
static bool asked_anywhere(const run *r) {
    double stop = r->options->stop && *r->options->stop;
    cr_dist_sum_doubles(&stop, 1);
    return stop > 0;
}

/* The epoch's training is done: validation, its metrics row, the best
 * accuracy, the run folder's files and the on_epoch callback. */
static int finish_epoch(run *r, epoch_clock *clock, cr_train_result *result, cr_error *err) {
    cr_checkpoint_state *state = &r->state;
    cr_net_set_batch(r->net, cr_net_max_batch(r->net));
    average_buffers(r->net);
    double val_loss, val_accuracy;
    double validation_started = cr_monotonic_seconds();
    if (evaluate_shared(r->net, r->validation, &r->config->transform, &r->config->loss, &val_loss,
                        &val_accuracy, err))
        return 1;
    r->validation_seconds = cr_monotonic_seconds() - validation_started;
    state->seconds = clock->seconds_before + (cr_monotonic_seconds() - clock->started);
    double row[CR_METRIC_COLUMNS] = {
        [CR_METRIC_EPOCH] = (double)state->epoch + 1,
        [CR_METRIC_TRAIN_LOSS] = state->loss_sum / (double)state->seen,
        [CR_METRIC_TRAIN_ACCURACY] = epoch_accuracy(r),
        [CR_METRIC_VAL_LOSS] = val_loss,
        [CR_METRIC_VAL_ACCURACY] = val_accuracy,
        [CR_METRIC_LR] = clock->lr,
        [CR_METRIC_SECONDS] = state->seconds,
    };
    if (cr_checkpoint_add_metrics(state, row, err)) return 1;
    bool best =
        track_monitor(state, &r->config->early_stopping, state->epoch + 1, val_loss, val_accuracy);
    state->epoch++;
    state->step_in_epoch = 0;
    int failed =
        cr_dist_rank() == 0 &&
        (save_weights(r, CR_RUN_LAST, err) || (best && save_weights(r, CR_RUN_BEST, err)) ||
         save_checkpoint(r, err) || write_metrics(r->options->run_dir, state, err));
    if (cr_dist_agree(failed, err)) return 1;
    result->epochs_run++;
    result->final_val_loss = val_loss;
    result->final_val_accuracy = val_accuracy;
    if (r->callbacks && r->callbacks->on_epoch) {
        cr_epoch_result summary = {
            .epoch = (int)state->epoch,
            .epochs = r->config->epochs,
            .train_loss = row[CR_METRIC_TRAIN_LOSS],
            .train_accuracy = row[CR_METRIC_TRAIN_ACCURACY],
            .val_loss = val_loss,
            .val_accuracy = val_accuracy,
            .lr = clock->lr,
            .seconds = state->seconds,
            .best = best,
            .has_accuracy = cr_loss_has_accuracy(r->config->loss.type),
        };
        r->callbacks->on_epoch(r->callbacks->user, &summary);
    }
    return 0;
}

/* Trains what is left of the current epoch. A stop mid-epoch saves a
 * checkpoint (stop_run); a stop at the epoch's end needs none (finish_epoch
 * saved one). *stopped and result->status say why the run ends early. */
static int train_epoch(run *r, bool *stopped, cr_train_result *result, cr_error *err) {
    epoch_clock clock;
    begin_epoch(r, &clock);
    while (r->state.step_in_epoch < r->steps_per_epoch) {
        double sums[SUMS];
        int64_t first;
        int n;
        if (train_step(r, &clock, sums, &first, &n, err)) return 1;
        report_step(r, &clock, first, n);
        cr_train_status stop = stop_rule(r, asked_during_step(r, sums));
        if (stop != CR_TRAIN_FINISHED && r->state.step_in_epoch < r->steps_per_epoch) {
            *stopped = true;
            return stop_run(r, stop, result, err);
        }
    }
    if (finish_epoch(r, &clock, result, err)) return 1;
    /* Asked during validation and saving, on any rank? */
    cr_train_status stop = stop_rule(r, asked_anywhere(r));
    if (stop == CR_TRAIN_FINISHED && patience_run_out(r)) stop = CR_TRAIN_EARLY_STOPPED;
    if (stop != CR_TRAIN_FINISHED && r->state.epoch < r->config->epochs) {
        *stopped = true;
        result->status = stop;
    }
    return 0;
}

int cr_train(const cr_model *model, const cr_train_config *requested, const cr_dataset *train,
             const cr_dataset *validation, const cr_train_options *options,
             const cr_train_callbacks *callbacks, cr_train_result *result, cr_error *err) {
    memset(result, 0, sizeof *result);
    /* A batch larger than the training set is the whole set: planned for
     * its size, not for images that do not exist (one step per epoch either way). */
    cr_train_config clamped = *requested;
    if (train->count > 0 && clamped.batch_size > train->count) clamped.batch_size = train->count;
    const cr_train_config *config = &clamped;
    /* With several ranks every failure below is agreed (cr_dist_agree) at
     * the point where it happens, so that all ranks return together. */
    int status = 0;
    if (config->batch_size < 1 || config->epochs < 1)
        status = fail(err, CR_ERR_USAGE, "batch size and epochs must be at least 1 (got %d and %d)",
                      config->batch_size, config->epochs);
    else if (train->count < 1 || validation->count < 1)
        status = fail(err, CR_ERR_INVALID, "%s: no images to %s",
                      train->count < 1 ? (train->source ? train->source : "training data")
                                       : (validation->source ? validation->source : "validation"),
                      train->count < 1 ? "train on" : "validate on");
    else if (options->resume && options->init_weights)
        status = fail(err, CR_ERR_USAGE,
                      "--init and --resume do not go together: a resumed run continues from its "
                      "checkpoint's weights");
    else if (cr_check_data_for_loss(model, &config->loss, train, err) ||
             cr_check_data_for_loss(model, &config->loss, validation, err) ||
             cr_freeze_check_applied(model, &config->freeze, err))
        status = 1;
    if (cr_dist_agree(status, err)) return 1;
    /* The run folder is rank 0's: the other ranks never touch the disk. */
    cr_run_folder folder = {.lock_fd = -1};
    if (cr_dist_agree(cr_dist_rank() == 0 && !options->folder_open &&
                          cr_run_folder_open(options->run_dir, options->resume, &folder, err),
                      err))
        return 1;

    run r = {.model = model,
             .config = config,
             .train = train,
             .validation = validation,
             .options = options,
             .callbacks = callbacks};
    r.steps_per_epoch = (train->count + config->batch_size - 1) / config->batch_size;
    r.train_hash = data_hash(train);
    run_file(r.checkpoint_path, sizeof r.checkpoint_path, options->run_dir, CR_RUN_CHECKPOINT);
    status = check_same_run(&r, err);
    /* A rank holds at most its share of a global batch. */
    int size = cr_dist_size(), share_max = (config->batch_size + size - 1) / size;
    /* Validation reads only the output: it may run fused chains. */
    cr_net_options net_options = {.seed = config->seed, .training = true, .fuse_inference = true};
    if (!status) status = cr_net_create(model, share_max, &net_options, &r.net, err);
    int64_t parameter_count = 0;
    if (!status) cr_net_param_block(r.net, &parameter_count);
    if (!status) status = cr_optimizer_init(&r.optimizer, &config->optimizer, parameter_count, err);
    r.order = malloc((size_t)train->count * sizeof *r.order);
    bool targets = cr_loss_needs_targets(config->loss.type);
    if (targets)
        r.targets = malloc((size_t)share_max * (size_t)model_outputs(model) * sizeof *r.targets);
    if (!status && (!r.order || (targets && !r.targets)))
        status = fail(err, CR_ERR_RUNTIME, "out of memory");
    text changes = {.used = 0};
    changes.buffer[0] = '\0';
    if (!status && cr_dist_rank() == 0) status = describe_weights(&r, err);
    status = cr_dist_agree(status, err);
    if (!status) status = start_run(&r, &changes, err);
    /* The loader's root is the run's (a resumed run's from its checkpoint). */
    cr_loader_config loader = {.data = train,
                               .transform = &config->transform,
                               .batch_size = config->batch_size,
                               .rank = cr_dist_rank(),
                               .ranks = size,
                               .classes = model_outputs(model),
                               .threads = options->loader_threads,
                               .depth = options->loader_threads + 1,
                               .root = r.state.augment_rng};
    if (!status) status = cr_dist_agree(cr_loader_create(&loader, &r.loader, err), err);

    if (!status && callbacks && callbacks->on_start) {
        cr_train_start start = {
            .train_images = train->count,
            .validation_images = validation->count,
            .steps_per_epoch = r.steps_per_epoch,
            .batch_size = config->batch_size,
            .requested_batch_size = requested->batch_size,
            .epochs = config->epochs,
            .resumed = options->resume,
            .unverified = r.unverified,
            .removed_temps = folder.removed_temps,
            .start_epoch = (int)r.state.epoch + 1,
            .start_step = r.state.step_in_epoch,
            .changes = changes.buffer,
        };
        callbacks->on_start(callbacks->user, &start);
    }
    bool stopped = false;
    result->status = CR_TRAIN_FINISHED;
    /* A resumed run may already be at its step limit, or stopped early. */
    if (!status && r.state.epoch < config->epochs && stop_rule(&r, false) == CR_TRAIN_STEP_LIMIT) {
        stopped = true;
        result->status = CR_TRAIN_STEP_LIMIT;
    } else if (!status && r.state.epoch < config->epochs && r.state.step_in_epoch == 0 &&
               patience_run_out(&r)) {
        stopped = true;
        result->status = CR_TRAIN_EARLY_STOPPED;
    }
    while (!status && !stopped && r.state.epoch < config->epochs)
        status = train_epoch(&r, &stopped, result, err);
    /* The loop's own failures (a NaN loss) happen on every rank at once;
     * agreeing on them tells cr_dist_finalize that no rank is left waiting. */
    if (status) cr_dist_agree(status, err);

    /* Stopped early: the last epoch it finished. */
    bool in_progress = r.state.epoch < config->epochs && result->status != CR_TRAIN_EARLY_STOPPED;
    result->epoch = (int)(in_progress ? r.state.epoch + 1 : r.state.epoch);
    result->step = r.state.step_in_epoch;
    result->global_step = r.state.global_step;
    result->best_accuracy = r.state.best_accuracy;
    result->best_epoch = (int)r.state.best_epoch;
    if (!status && result->epochs_run == 0 && r.state.metric_rows > 0) {
        const double *last = r.state.metrics + (r.state.metric_rows - 1) * CR_METRIC_COLUMNS;
        result->final_val_loss = last[CR_METRIC_VAL_LOSS];
        result->final_val_accuracy = last[CR_METRIC_VAL_ACCURACY];
    }
    cr_checkpoint_state_free(&r.state);
    cr_weights_meta_free(r.meta, r.n_meta);
    if (status)
        cr_run_folder_close_unused(&folder);
    else
        cr_run_folder_close(&folder);
    cr_optimizer_free(&r.optimizer);
    cr_loader_free(r.loader);
    free(r.order);
    free(r.targets);
    cr_net_free(r.net);
    return status;
}
