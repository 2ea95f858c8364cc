/* The training loop on a tiny data set that this test writes (8×8 grey
 * images in the IDX layout, three classes told apart by where a bright bar
 * is): the loss falls; a run stopped at an epoch boundary, mid-epoch or by
 * the stop flag and then resumed ends bit-identical to one that ran
 * straight through; the same seed gives the same metrics.csv; a NaN loss
 * stops without touching the last good checkpoint; a failed write leaves
 * the old checkpoint; labels beyond the model's outputs are an error; and
 * evaluation computes loss, accuracy and the confusion matrix by hand. */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "scratch_folder.h"
#include "checkpoint.h"
#include "cnnrun.h"
#include "safetensors.h"
#include "train.h"
#include "train_config.h"
#include "train_settings.h"

#define TRAIN_IMAGES    60
#define TEST_IMAGES     30
#define BATCH           8
#define STEPS_PER_EPOCH 8 /* 60 / 8 rounded up: the last batch has 4 */
#define EPOCHS          3

static void put_be32(FILE *f, uint32_t value) {
    unsigned char bytes[4] = {value >> 24, value >> 16 & 0xff, value >> 8 & 0xff, value & 0xff};
    fwrite(bytes, 1, 4, f);
}

/* Images [count, 8, 8]: faint noise, and a bright two-row bar at rows
 * 1 + 2·class. Labels cycle 0, 1, 2 (and 3 when `classes` is 4). */
static void write_split(const char *dir, const char *prefix, int count, int classes,
                        uint32_t noise_seed) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, prefix);
    FILE *images = fopen(path, "wb");
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefix);
    FILE *labels = fopen(path, "wb");
    put_be32(images, 0x803);
    put_be32(images, (uint32_t)count);
    put_be32(images, 8);
    put_be32(images, 8);
    put_be32(labels, 0x801);
    put_be32(labels, (uint32_t)count);
    uint32_t noise = noise_seed;
    for (int i = 0; i < count; i++) {
        int label = i % classes;
        int bar = 1 + 2 * (label % 3);
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 8; x++) {
                noise = noise * 1664525u + 1013904223u;
                int value = (int)(noise >> 27); /* 0..31 */
                if (y == bar || y == bar + 1) value += 180;
                fputc(value, images);
            }
        fputc(label, labels);
    }
    fclose(images);
    fclose(labels);
}

static void make_data(const char *dir, int classes) {
    mkdir(dir, 0755);
    write_split(dir, "train", TRAIN_IMAGES, classes, 1);
    write_split(dir, "t10k", TEST_IMAGES, classes, 2);
}

/* Batchnorm (buffers), dropout (its random stream) and augmentation (its
 * stream) all take part, so an exact resume needs every piece of state. */
static const char *model_yaml(const char *data_dir, const char *optimizer) {
    static char text[2048];
    snprintf(text, sizeof text,
             "name: tiny\n"
             "input: [1, 8, 8]\n"
             "layers:\n"
             "  - {type: conv, name: c1, filters: 4, kernel: 3, padding: 1, bias: false}\n"
             "  - {type: batchnorm, name: bn1}\n"
             "  - {type: relu}\n"
             "  - {type: maxpool, size: 2}\n"
             "  - {type: flatten}\n"
             "  - {type: dense, name: fc1, units: 16, activation: relu}\n"
             "  - {type: dropout, rate: 0.25}\n"
             "  - {type: dense, name: out, units: 3}\n"
             "  - {type: softmax}\n"
             "train:\n"
             "  data: {format: mnist, dir: %s}\n"
             "  epochs: %d\n"
             "  batch_size: %d\n"
             "  optimizer: %s\n"
             "  schedule: {type: cosine, warmup_epochs: 1}\n"
             "  seed: 7\n"
             "  normalize: {mean: [0.2], std: [0.3]}\n"
             "  augment: {crop_padding: 1, hflip: true}\n",
             data_dir, EPOCHS, BATCH, optimizer);
    return text;
}

static const char *const sgd =
    "{type: sgd, lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 0.0001}";
static const char *const adamw = "{type: adamw, lr: 0.01}";

typedef struct setup {
    cr_model *model;
    cr_train_config config;
    cr_dataset train, validation;
} setup;

/* The tiny model with its text `old` replaced by `new`. */
static bool setup_load_changed(setup *s, const char *data_dir, const char *optimizer,
                               const char *old, const char *new) {
    cr_error err;
    char yaml[2048];
    const char *text = model_yaml(data_dir, optimizer), *at = strstr(text, old);
    snprintf(yaml, sizeof yaml, "%.*s%s%s", (int)(at - text), text, new, at + strlen(old));
    memset(s, 0, sizeof *s);
    if (cr_model_load_text(yaml, strlen(yaml), "tiny.yaml", &s->model, &err) ||
        cr_train_config_parse(s->model, &s->config, &err) ||
        cr_train_load_data(s->model, &s->config, &s->train, &s->validation, &err)) {
        fprintf(stderr, "setup: %s\n", err.message);
        CHECK(!"setup loads");
        return false;
    }
    return true;
}

/* The tiny model, with `pool` as its pooling layer's type. */
static bool setup_load_pool(setup *s, const char *data_dir, const char *optimizer,
                            const char *pool) {
    return setup_load_changed(s, data_dir, optimizer, "maxpool", pool);
}

static bool setup_load(setup *s, const char *data_dir, const char *optimizer) {
    return setup_load_pool(s, data_dir, optimizer, "maxpool");
}

/* The tiny model with every augment step, mixing included. */
static const char *const every_step =
    "[{random_resized_crop: {scale: [0.5, 1]}}, {rotate: {degrees: 15}}, "
    "{color_jitter: {brightness: 0.3, contrast: 0.3}}, hflip, {vflip: {p: 0.2}}, "
    "{cutout: {size: 2}}, {mixup: {alpha: 0.4}}, cutmix]";

/* The tiny model with `steps` as its augment list. */
static bool setup_load_augment(setup *s, const char *data_dir, const char *steps) {
    return setup_load_changed(s, data_dir, sgd, "{crop_padding: 1, hflip: true}", steps);
}

static void setup_free(setup *s) {
    cr_dataset_free(&s->train);
    cr_dataset_free(&s->validation);
    cr_model_free(s->model);
}

/* Sets the stop flag at a given step, as a SIGINT handler would. */
typedef struct recorder {
    volatile sig_atomic_t stop;
    cr_train_start start; /* as told (changes copied below) */
    char changes[1024];
    int stop_epoch, stop_step;
    int epochs_seen;
    cr_epoch_result epochs[8];
    int steps_seen;
    cr_train_progress first_step; /* of the run, for the ETAs */
} recorder;

static void on_start(void *user, const cr_train_start *start) {
    recorder *r = user;
    r->start = *start;
    snprintf(r->changes, sizeof r->changes, "%s", start->changes ? start->changes : "");
    r->start.changes = r->changes;
}

static void on_step(void *user, const cr_train_progress *progress) {
    recorder *r = user;
    if (r->steps_seen == 0) r->first_step = *progress;
    r->steps_seen++;
    if (progress->epoch == r->stop_epoch && progress->step == r->stop_step) r->stop = 1;
}

static void on_epoch(void *user, const cr_epoch_result *result) {
    recorder *r = user;
    if (r->epochs_seen < 8) r->epochs[r->epochs_seen++] = *result;
}

/* Threads of the data loader in the next runs (train.h; 0: the step's own). */
static int loader_threads;

static int train(setup *s, const char *run_dir, bool resume, int64_t max_steps, recorder *rec,
                 cr_train_result *result, cr_error *err) {
    recorder local = {0};
    if (!rec) rec = &local;
    cr_train_options options = {.run_dir = run_dir,
                                .resume = resume,
                                .max_steps = max_steps,
                                .stop = &rec->stop,
                                .loader_threads = loader_threads};
    cr_train_callbacks callbacks = {
        .user = rec, .on_start = on_start, .on_step = on_step, .on_epoch = on_epoch};
    return cr_train(s->model, &s->config, &s->train, &s->validation, &options, &callbacks, result,
                    err);
}

/* Trains and expects success and a status. */
static void train_ok(setup *s, const char *run_dir, bool resume, int64_t max_steps, recorder *rec,
                     cr_train_status want) {
    cr_train_result result;
    cr_error err;
    if (train(s, run_dir, resume, max_steps, rec, &result, &err)) {
        fprintf(stderr, "training in %s failed: %s\n", run_dir, err.message);
        CHECK(!"training succeeds");
        return;
    }
    CHECK_INT(result.status, want);
}

static unsigned char *read_all(const char *path, long *size) {
    FILE *f = fopen(path, "rb");
    *size = -1;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *bytes = malloc((size_t)*size + 1);
    if (fread(bytes, 1, (size_t)*size, f) != (size_t)*size) *size = -1;
    bytes[*size > 0 ? *size : 0] = '\0';
    fclose(f);
    return bytes;
}

static bool same_file(const char *a, const char *b) {
    long size_a, size_b;
    unsigned char *x = read_all(a, &size_a), *y = read_all(b, &size_b);
    bool same = x && y && size_a == size_b && memcmp(x, y, (size_t)size_a) == 0;
    free(x);
    free(y);
    return same;
}

/* metrics.csv, whole: it holds no wall time, so equal runs give equal files. */
static char *metrics_text(const char *run_dir) {
    char path[600];
    snprintf(path, sizeof path, "%s/metrics.csv", run_dir);
    long size;
    return (char *)read_all(path, &size);
}

static void check_same_run(const char *dir, const char *reference) {
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/last.safetensors", dir);
    snprintf(b, sizeof b, "%s/last.safetensors", reference);
    CHECK(same_file(a, b));
    snprintf(a, sizeof a, "%s/best.safetensors", dir);
    snprintf(b, sizeof b, "%s/best.safetensors", reference);
    CHECK(same_file(a, b));
    char *x = metrics_text(dir), *y = metrics_text(reference);
    CHECK(x && y && strcmp(x, y) == 0);
    if (x && y && strcmp(x, y)) fprintf(stderr, "%s\nvs\n%s\n", x, y);
    free(x);
    free(y);
}

static int count_temp_files(const char *dir) {
    DIR *d = opendir(dir);
    int count = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));) count += strstr(e->d_name, ".tmp-") != NULL;
    closedir(d);
    return count;
}

/* ---- tests ----------------------------------------------------------------------------- */

static void test_straight_run_and_metrics(const char *data) {
    setup s;
    if (!setup_load(&s, data, sgd)) return;
    recorder rec = {0};
    train_ok(&s, in_folder("straight"), false, 0, &rec, CR_TRAIN_FINISHED);
    CHECK_INT(rec.steps_seen, EPOCHS * STEPS_PER_EPOCH);
    CHECK_INT(rec.epochs_seen, EPOCHS);
    /* The loss falls and the bars are learnt. */
    CHECK(rec.epochs[EPOCHS - 1].train_loss < 0.6 * rec.epochs[0].train_loss);
    CHECK(rec.epochs[EPOCHS - 1].val_accuracy >= 0.9);
    CHECK(rec.epochs[0].best);
    /* After the first step: the run's ETA is the epoch's plus two more
     * epochs at the same pace (no validation timed yet). */
    const cr_train_progress *p = &rec.first_step;
    CHECK(p->images_per_second > 0 && p->has_accuracy);
    CHECK_NEAR(p->run_eta_seconds,
               p->eta_seconds + (EPOCHS - 1) * TRAIN_IMAGES / p->images_per_second,
               1e-9 * p->run_eta_seconds);

    /* metrics.csv: the header and one row per epoch, as the callback saw them. */
    long size;
    char path[600];
    snprintf(path, sizeof path, "%s/metrics.csv", in_folder("straight"));
    char *text = (char *)read_all(path, &size);
    CHECK(text != NULL);
    if (text) {
        char *line = strtok(text, "\n");
        CHECK(line &&
              strcmp(line, "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr") == 0);
        for (int e = 0; e < EPOCHS; e++) {
            line = strtok(NULL, "\n");
            CHECK(line != NULL);
            if (!line) break;
            int epoch;
            double train_loss, train_accuracy, val_loss, val_accuracy, lr;
            char rest;
            CHECK_INT(sscanf(line, "%d,%lf,%lf,%lf,%lf,%lf%c", &epoch, &train_loss, &train_accuracy,
                             &val_loss, &val_accuracy, &lr, &rest),
                      6);
            CHECK_INT(epoch, e + 1);
            CHECK_NEAR(train_loss, rec.epochs[e].train_loss, 1e-6);
            CHECK_NEAR(val_accuracy, rec.epochs[e].val_accuracy, 1e-6);
            /* The lr of the epoch's last step: cosine after one epoch of warm-up. */
            float want_lr = cr_schedule_lr(&s.config.schedule, 0.05f, (e + 1) * STEPS_PER_EPOCH - 1,
                                           STEPS_PER_EPOCH, EPOCHS);
            CHECK_NEAR(lr, want_lr, 1e-5);
        }
        CHECK(strtok(NULL, "\n") == NULL);
        free(text);
    }
    /* warm-up ends at 0.05 after epoch 1; cosine reaches 0.05·(1 + cos(15π/16))/2 at the end. */
    CHECK_NEAR(rec.epochs[0].lr, 0.05, 1e-7);
    CHECK_NEAR(rec.epochs[2].lr, 0.05 * (1 + cos(15 * 3.14159265358979323846 / 16)) / 2, 1e-6);
    CHECK_INT(count_temp_files(in_folder("straight")), 0);

    /* Same seed, one BLAS thread: the same metrics and the same weights. */
    train_ok(&s, in_folder("again"), false, 0, NULL, CR_TRAIN_FINISHED);
    check_same_run(in_folder("again"), in_folder("straight"));

    /* A folder that holds a run is not silently overwritten. */
    cr_train_result result;
    cr_error err;
    CHECK_INT(train(&s, in_folder("again"), false, 0, NULL, &result, &err), 1);
    CHECK_CONTAINS(err.message, "already holds a training run");
    CHECK_CONTAINS(err.message, "--resume");
    setup_free(&s);
}

static void test_resume_is_exact(const char *data) {
    setup s;
    if (!setup_load(&s, data, sgd)) return;
    cr_train_result result;
    cr_error err;

    /* Stopped at the end of epoch 1, then resumed. */
    train_ok(&s, in_folder("boundary"), false, STEPS_PER_EPOCH, NULL, CR_TRAIN_STEP_LIMIT);
    train_ok(&s, in_folder("boundary"), true, 0, NULL, CR_TRAIN_FINISHED);
    check_same_run(in_folder("boundary"), in_folder("straight"));

    /* Stopped twice mid-epoch (epoch 2 step 3, epoch 3 step 3), resumed each time. */
    CHECK_INT(train(&s, in_folder("middle"), false, STEPS_PER_EPOCH + 3, NULL, &result, &err), 0);
    CHECK_INT(result.status, CR_TRAIN_STEP_LIMIT);
    CHECK_INT(result.epoch, 2);
    CHECK_INT(result.step, 3);
    CHECK_INT(result.global_step, STEPS_PER_EPOCH + 3);
    CHECK_INT(count_temp_files(in_folder("middle")), 0);
    train_ok(&s, in_folder("middle"), true, 2 * STEPS_PER_EPOCH + 3, NULL, CR_TRAIN_STEP_LIMIT);
    train_ok(&s, in_folder("middle"), true, 0, NULL, CR_TRAIN_FINISHED);
    check_same_run(in_folder("middle"), in_folder("straight"));

    /* The stop flag (what the SIGINT handler sets): the step finishes, a
     * checkpoint is saved, and the run says where it stopped. */
    recorder rec = {.stop_epoch = 1, .stop_step = 5};
    CHECK_INT(train(&s, in_folder("interrupted"), false, 0, &rec, &result, &err), 0);
    CHECK_INT(result.status, CR_TRAIN_INTERRUPTED);
    CHECK_INT(result.epoch, 1);
    CHECK_INT(result.step, 5);
    CHECK_INT(rec.steps_seen, 5);
    recorder more = {0};
    train_ok(&s, in_folder("interrupted"), true, 0, &more, CR_TRAIN_FINISHED);
    CHECK_INT(more.steps_seen, EPOCHS * STEPS_PER_EPOCH - 5);
    check_same_run(in_folder("interrupted"), in_folder("straight"));

    /* Resuming a finished run does nothing. */
    recorder none = {0};
    train_ok(&s, in_folder("interrupted"), true, 0, &none, CR_TRAIN_FINISHED);
    CHECK_INT(none.steps_seen, 0);

    /* A resume that would see the data in another order is refused. */
    s.config.batch_size = 4;
    CHECK_INT(train(&s, in_folder("boundary"), true, 0, NULL, &result, &err), 1);
    CHECK_CONTAINS(err.message, "batch size 8, this run has 4");
    s.config.batch_size = BATCH;
    s.config.seed = 8;
    CHECK_INT(train(&s, in_folder("boundary"), true, 0, NULL, &result, &err), 1);
    CHECK_CONTAINS(err.message, "seed 7, this run has 8");
    s.config.seed = 7;
    /* What a resume may change is applied and reported as the settings
     * table prints it (the finished run has no step left to take). */
    s.config.optimizer.lr = 0.02f;
    s.config.optimizer.nesterov = false;
    s.config.schedule.type = CR_SCHED_CONSTANT;
    recorder told = {0};
    train_ok(&s, in_folder("boundary"), true, 0, &told, CR_TRAIN_FINISHED);
    CHECK_CONTAINS(told.changes,
                   "lr 0.02 (was 0.05), nesterov false (was true), schedule constant (was cosine)");
    CHECK_INT(told.steps_seen, 0);
    s.config.optimizer.lr = 0.05f;
    s.config.optimizer.nesterov = true;
    s.config.schedule.type = CR_SCHED_COSINE;
    CHECK_INT(train(&s, in_folder("nothing-here"), true, 0, NULL, &result, &err), 1);
    CHECK_CONTAINS(err.message, "cannot resume");
    setup_free(&s);

    /* ... and so is one by another model with the same parameters. */
    if (!setup_load_pool(&s, data, sgd, "avgpool")) return;
    CHECK_INT(train(&s, in_folder("boundary"), true, 0, NULL, &result, &err), 1);
    CHECK_CONTAINS(err.message, "was saved by another version of the model file: layer "
                                "'avgpool1' (avgpool) added, ");
    CHECK_CONTAINS(err.message, "layer 'maxpool1' (maxpool) removed");
    setup_free(&s);

    /* AdamW (two state slots and the step count for bias correction). */
    if (!setup_load(&s, data, adamw)) return;
    train_ok(&s, in_folder("adamw"), false, 0, NULL, CR_TRAIN_FINISHED);
    train_ok(&s, in_folder("adamw-resumed"), false, 13, NULL, CR_TRAIN_STEP_LIMIT);
    train_ok(&s, in_folder("adamw-resumed"), true, 0, NULL, CR_TRAIN_FINISHED);
    check_same_run(in_folder("adamw-resumed"), in_folder("adamw"));
    /* ... and an SGD checkpoint does not resume under Adam. */
    CHECK_INT(train(&s, in_folder("boundary"), true, 0, NULL, &result, &err), 1);
    CHECK_CONTAINS(err.message, "saved with optimizer sgd, this run has adamw");
    setup_free(&s);
}

/* The epoch early stopping must stop after, worked out from the recorded
 * validation losses by Keras's rule: an epoch improves when its loss is
 * below the reference minus min_delta (the first always does); the run
 * stops after `patience` epochs in a row without. 0: runs to the end. */
static int expected_stop(const recorder *rec, double min_delta, int patience) {
    double reference = INFINITY;
    int waited = 0;
    for (int e = 0; e < rec->epochs_seen; e++) {
        if (rec->epochs[e].val_loss < reference - min_delta) {
            reference = rec->epochs[e].val_loss;
            waited = 0;
        } else if (++waited >= patience) {
            return e + 1;
        }
    }
    return 0;
}

/* A run whose validation loss stalls (a learning rate of 1e-30 leaves the
 * weights as they are; only batchnorm's running statistics move, by
 * about 0.01 an epoch, below min_delta 0.05) stops
 * early at the epoch the rule says, resumes counting where it stopped, and
 * a resumed early-stopped run trains no more. */
static void test_early_stopping(const char *data) {
    setup s;
    if (!setup_load(&s, data, sgd)) return;
    s.config.epochs = 6;
    s.config.optimizer.lr = 1e-30f;
    s.config.early_stopping =
        (cr_early_stopping){.patience = 2, .min_delta = 0.05f, .monitor = CR_MONITOR_VAL_LOSS};
    recorder rec = {0};
    cr_train_result result;
    cr_error err;
    CHECK_INT(train(&s, in_folder("early"), false, 0, &rec, &result, &err), 0);
    int stop = expected_stop(&rec, (double)0.05f, 2);
    CHECK(stop >= 3 && stop < 6); /* it stalls, and not before patience allows */
    CHECK_INT(result.status, CR_TRAIN_EARLY_STOPPED);
    CHECK_INT(result.epoch, stop);
    CHECK_INT(rec.epochs_seen, stop);
    /* best follows the monitor: the lowest validation loss. */
    int lowest = 0;
    for (int e = 1; e < rec.epochs_seen; e++)
        if (rec.epochs[e].val_loss < rec.epochs[lowest].val_loss) lowest = e;
    CHECK_INT(result.best_epoch, lowest + 1);
    CHECK(rec.epochs[lowest].best);

    /* Stopped by --max-steps after epoch 2, resumed: the count goes on
     * from the saved epochs and the run stops where the straight one did. */
    train_ok(&s, in_folder("early-resumed"), false, 2 * STEPS_PER_EPOCH, NULL, CR_TRAIN_STEP_LIMIT);
    CHECK_INT(train(&s, in_folder("early-resumed"), true, 0, NULL, &result, &err), 0);
    CHECK_INT(result.status, CR_TRAIN_EARLY_STOPPED);
    CHECK_INT(result.epoch, stop);
    check_same_run(in_folder("early-resumed"), in_folder("early"));

    /* An early-stopped run resumed trains nothing more. */
    recorder none = {0};
    train_ok(&s, in_folder("early"), true, 0, &none, CR_TRAIN_EARLY_STOPPED);
    CHECK_INT(none.steps_seen, 0);

    /* Another loss is another run: refused on resume, with both names. */
    s.config.loss.type = CR_LOSS_BINARY_CROSS_ENTROPY;
    CHECK_INT(train(&s, in_folder("early"), true, 0, NULL, &result, &err), 1);
    CHECK_CONTAINS(err.message, "saved with loss cross_entropy, this run has "
                                "binary_cross_entropy");
    setup_free(&s);
}

/* clip_grad_norm: a limit far above the gradients' norm changes nothing
 * (the same bits as the straight run); a tiny one changes the run. */
static void test_clip_grad_norm(const char *data) {
    setup s;
    if (!setup_load(&s, data, sgd)) return;
    s.config.clip_grad_norm = 1e30f;
    train_ok(&s, in_folder("clip-huge"), false, 0, NULL, CR_TRAIN_FINISHED);
    check_same_run(in_folder("clip-huge"), in_folder("straight"));
    s.config.clip_grad_norm = 1e-3f;
    recorder rec = {0};
    train_ok(&s, in_folder("clip-tiny"), false, 0, &rec, CR_TRAIN_FINISHED);
    char *a = metrics_text(in_folder("clip-tiny")), *b = metrics_text(in_folder("straight"));
    CHECK(a && b && strcmp(a, b) != 0);
    free(a);
    free(b);
    setup_free(&s);
}

/* Label smoothing and class weights are the loss of training and of
 * validation: a uniform weight w gives the same run as none (PyTorch's
 * weighted mean divides w out); smoothing raises the loss of a confident
 * net. */
static void test_loss_settings(const char *data) {
    setup s;
    if (!setup_load(&s, data, sgd)) return;
    s.config.loss.n_class_weights = 3;
    for (int c = 0; c < 3; c++) s.config.loss.class_weights[c] = 2.0f;
    recorder weighted = {0};
    train_ok(&s, in_folder("weights-uniform"), false, 0, &weighted, CR_TRAIN_FINISHED);
    recorder plain = {0};
    s.config.loss.n_class_weights = 0;
    train_ok(&s, in_folder("weights-none"), false, 0, &plain, CR_TRAIN_FINISHED);
    for (int e = 0; e < EPOCHS; e++)
        CHECK_NEAR(weighted.epochs[e].val_loss, plain.epochs[e].val_loss, 1e-5);
    /* Weights and smoothing may change on resume, from the resume point,
     * and the run says so. */
    s.config.loss.n_class_weights = 3;
    s.config.loss.label_smoothing = 0.05f;
    recorder told = {0};
    train_ok(&s, in_folder("weights-none"), true, 0, &told, CR_TRAIN_FINISHED);
    CHECK_CONTAINS(told.changes, "loss.label_smoothing 0.05 (was 0), loss.class_weights #");
    CHECK_CONTAINS(told.changes, " (was none)");
    s.config.loss.n_class_weights = 0;
    s.config.loss.label_smoothing = 0.2f;
    recorder smooth = {0};
    train_ok(&s, in_folder("smoothing"), false, 0, &smooth, CR_TRAIN_FINISHED);
    CHECK(smooth.epochs[EPOCHS - 1].val_loss > plain.epochs[EPOCHS - 1].val_loss);
    CHECK(smooth.epochs[EPOCHS - 1].val_accuracy >= 0.9);
    setup_free(&s);
}

/* With every augment step (mixup and cutmix too: soft targets): a straight
 * run with 2 loader threads, and one stopped mid-epoch twice and resumed
 * with 0 and 1 threads, end with the same bytes. Another seed gives other
 * weights; changing the steps is refused on resume. */
static void test_augment_resume_is_exact(const char *data) {
    setup s;
    if (!setup_load_augment(&s, data, every_step)) return;
    CHECK_INT(s.config.transform.augment.count, 8);
    loader_threads = 2;
    recorder rec = {0};
    train_ok(&s, in_folder("augment-straight"), false, 0, &rec, CR_TRAIN_FINISHED);
    CHECK_INT(rec.epochs_seen, EPOCHS);
    CHECK(rec.epochs[EPOCHS - 1].train_loss < rec.epochs[0].train_loss);
    loader_threads = 0;
    train_ok(&s, in_folder("augment-resumed"), false, STEPS_PER_EPOCH + 3, NULL,
             CR_TRAIN_STEP_LIMIT);
    loader_threads = 1;
    train_ok(&s, in_folder("augment-resumed"), true, 2 * STEPS_PER_EPOCH + 5, NULL,
             CR_TRAIN_STEP_LIMIT);
    loader_threads = 3;
    train_ok(&s, in_folder("augment-resumed"), true, 0, NULL, CR_TRAIN_FINISHED);
    check_same_run(in_folder("augment-resumed"), in_folder("augment-straight"));

    s.config.seed = 8;
    train_ok(&s, in_folder("augment-seed8"), false, 0, NULL, CR_TRAIN_FINISHED);
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/last.safetensors", in_folder("augment-seed8"));
    snprintf(b, sizeof b, "%s/last.safetensors", in_folder("augment-straight"));
    CHECK(!same_file(a, b));
    setup_free(&s);

    /* Other steps: the model description differs, and the resume says so. */
    if (!setup_load_augment(&s, data, "[hflip]")) return;
    cr_train_result result;
    cr_error err;
    CHECK_INT(train(&s, in_folder("augment-resumed"), true, 0, NULL, &result, &err), 1);
    CHECK_CONTAINS(err.message, "train augment");
    setup_free(&s);
    loader_threads = 0;
}

/* The raw 8 bytes of a checkpoint's scalar `name`, or false when missing. */
static bool checkpoint_scalar(cr_safetensors_file *file, const char *name, unsigned char out[8]) {
    const cr_safetensors_entry *entry = cr_safetensors_find(file, name);
    return entry && entry->count == 1 && entry->end - entry->begin == 8 &&
           fseeko(file->stream, file->data_start + entry->begin, SEEK_SET) == 0 &&
           fread(out, 1, 8, file->stream) == 8;
}

/* A checkpoint written by cnnrun at commit de051b6, before the training
 * settings became one table (lib/train_settings.c), still resumes: its
 * stored field names are a file format. tests/data/README.md says how it
 * was made: this file's tiny model, data and SGD settings, stopped after 4
 * steps. Its weights are float results of the machine that wrote it, so
 * the check is on what does not depend on the processor: every scalar a
 * checkpoint of the current code holds at the same point is in the old file
 * with the same bits (loss and accuracy sums, wall time and best accuracy
 * aside), and the resume continues from step 4 to the end with no setting
 * reported changed. */
static void test_old_checkpoint_resumes(const char *data) {
    setup s;
    if (!setup_load(&s, data, sgd)) return;
    const char *old = in_folder("old"), *fresh = in_folder("fresh");
    mkdir(old, 0755);
    char from[600], to[600];
    snprintf(from, sizeof from, "%s/tests/data/checkpoint-de051b6.safetensors", CNNRUN_SOURCE_DIR);
    snprintf(to, sizeof to, "%s/checkpoint.safetensors", old);
    long size;
    unsigned char *bytes = read_all(from, &size);
    FILE *out = fopen(to, "wb");
    CHECK(bytes && size > 0 && out && fwrite(bytes, 1, (size_t)size, out) == (size_t)size);
    if (out) fclose(out);
    free(bytes);

    train_ok(&s, fresh, false, 4, NULL, CR_TRAIN_STEP_LIMIT);
    snprintf(from, sizeof from, "%s/checkpoint.safetensors", fresh);
    cr_safetensors_file *now, *then;
    cr_error err;
    if (cr_safetensors_open(from, &now, &err) || cr_safetensors_open(to, &then, &err)) {
        fprintf(stderr, "%s\n", err.message);
        CHECK(!"checkpoints open");
        setup_free(&s);
        return;
    }
    /* augment_rng too: it was a stream advanced image by image; since the
     * per-image streams (augment.h) it is their root and stays put. An old
     * checkpoint resumes with its stored value as the root. */
    static const char *const machine_dependent[] = {"loss_sum", "correct", "seconds",
                                                    "best_accuracy", "augment_rng"};
    int compared = 0;
    for (int i = 0; i < now->count; i++) {
        const char *name = now->entries[i].name, *prefix = "__checkpoint__.";
        if (strncmp(name, prefix, strlen(prefix)) || now->entries[i].ndim != 0) continue;
        bool skip = false;
        for (size_t k = 0; k < sizeof machine_dependent / sizeof *machine_dependent; k++)
            skip |= strcmp(name + strlen(prefix), machine_dependent[k]) == 0;
        if (skip) continue;
        unsigned char a[8], b[8];
        /* Settings added after that checkpoint are absent there and read
         * as 0: with these defaults they are written as 0 now. */
        int row = cr_train_setting_find(name + strlen(prefix));
        if (row >= 0 && cr_train_settings[row].added_later && !cr_safetensors_find(then, name)) {
            static const unsigned char zero[8] = {0};
            CHECK(checkpoint_scalar(now, name, a) && memcmp(a, zero, 8) == 0);
            continue;
        }
        bool same = checkpoint_scalar(now, name, a) && checkpoint_scalar(then, name, b) &&
                    memcmp(a, b, 8) == 0;
        if (!same) fprintf(stderr, "old checkpoint: '%s' missing or different\n", name);
        CHECK(same);
        compared++;
    }
    CHECK(compared >= 25);
    cr_safetensors_close(now);
    cr_safetensors_close(then);

    recorder rec = {0};
    train_ok(&s, old, true, 0, &rec, CR_TRAIN_FINISHED);
    CHECK(rec.start.resumed);
    CHECK_INT(rec.start.start_epoch, 1);
    CHECK_INT(rec.start.start_step, 4);
    CHECK_INT((int)strlen(rec.changes), 0);
    CHECK_INT(rec.steps_seen, EPOCHS * STEPS_PER_EPOCH - 4);
    CHECK_INT(rec.epochs_seen, EPOCHS);
    setup_free(&s);
}

static void test_nan_keeps_checkpoint(const char *data) {
    setup s;
    if (!setup_load(&s, data, sgd)) return;
    const char *dir = in_folder("nan");
    char checkpoint[600], copy[600], last[600], last_copy[600];
    snprintf(checkpoint, sizeof checkpoint, "%s/checkpoint.safetensors", dir);
    snprintf(last, sizeof last, "%s/last.safetensors", dir);
    snprintf(copy, sizeof copy, "%s/kept.bin", folder);
    snprintf(last_copy, sizeof last_copy, "%s/kept-last.bin", folder);
    train_ok(&s, dir, false, STEPS_PER_EPOCH, NULL, CR_TRAIN_STEP_LIMIT);
    long size;
    unsigned char *bytes = read_all(checkpoint, &size);
    FILE *f = fopen(copy, "wb");
    fwrite(bytes, 1, (size_t)size, f);
    fclose(f);
    free(bytes);
    bytes = read_all(last, &size);
    f = fopen(last_copy, "wb");
    fwrite(bytes, 1, (size_t)size, f);
    fclose(f);
    free(bytes);

    /* Resumed with an absurd learning rate: the first update blows up the
     * weights and the next loss is not finite. */
    s.config.optimizer.lr = 1e30f;
    cr_train_result result;
    cr_error err;
    CHECK_INT(train(&s, dir, true, 0, NULL, &result, &err), 1);
    CHECK_INT(err.kind, CR_ERR_RUNTIME);
    CHECK_CONTAINS(err.message, "at epoch 2, step 2 (step 10 of the run");
    CHECK_CONTAINS(err.message, "the last good checkpoint (end of epoch 1) is kept in");
    CHECK(same_file(checkpoint, copy));
    CHECK(same_file(last, last_copy));

    /* From scratch, there is no checkpoint to keep. */
    CHECK_INT(train(&s, in_folder("nan-fresh"), false, 0, NULL, &result, &err), 1);
    CHECK_CONTAINS(err.message, "at epoch 1, step 2 (step 2 of the run");
    CHECK_CONTAINS(err.message, "no checkpoint had been saved yet");

    /* The kept checkpoint resumes with a sane learning rate. */
    s.config.optimizer.lr = 0.05f;
    train_ok(&s, dir, true, 0, NULL, CR_TRAIN_FINISHED);
    check_same_run(dir, in_folder("straight"));
    setup_free(&s);
}

static void test_failed_write_keeps_checkpoint(const char *data) {
    setup s;
    if (!setup_load(&s, data, sgd)) return;
    const char *dir = in_folder("full");
    char checkpoint[600], copy[600];
    snprintf(checkpoint, sizeof checkpoint, "%s/checkpoint.safetensors", dir);
    snprintf(copy, sizeof copy, "%s/kept-full.bin", folder);
    train_ok(&s, dir, false, 3, NULL, CR_TRAIN_STEP_LIMIT);
    long size;
    unsigned char *bytes = read_all(checkpoint, &size);
    FILE *f = fopen(copy, "wb");
    fwrite(bytes, 1, (size_t)size, f);
    fclose(f);
    free(bytes);

    /* A disk that fills up: files may not grow past a few kilobytes, less
     * than a checkpoint. (A file-size limit works even for root, which
     * ignores permissions.) */
    struct rlimit before, small;
    getrlimit(RLIMIT_FSIZE, &before);
    small = before;
    small.rlim_cur = (rlim_t)size / 2;
    signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &small);
    cr_train_result result;
    cr_error err;
    int status = train(&s, dir, true, 5, NULL, &result, &err);
    setrlimit(RLIMIT_FSIZE, &before);
    CHECK_INT(status, 1);
    CHECK_CONTAINS(err.message, "cannot write");
    CHECK(same_file(checkpoint, copy));
    CHECK_INT(count_temp_files(dir), 0);

    /* The checkpoint still works. */
    train_ok(&s, dir, true, 0, NULL, CR_TRAIN_FINISHED);
    check_same_run(dir, in_folder("straight"));
    setup_free(&s);
}

static void test_labels_beyond_outputs(void) {
    char data[600];
    snprintf(data, sizeof data, "%s/four-classes", folder);
    make_data(data, 4);
    setup s;
    if (!setup_load(&s, data, sgd)) return;
    cr_train_result result;
    cr_error err;
    recorder rec = {0};
    CHECK_INT(train(&s, in_folder("four"), false, 0, &rec, &result, &err), 1);
    CHECK_INT(err.kind, CR_ERR_INVALID);
    CHECK_CONTAINS(err.message, "four-classes/train-images-idx3-ubyte");
    CHECK_CONTAINS(err.message, "image 3 has label 3");
    CHECK_CONTAINS(err.message, "'tiny' has 3 outputs");
    CHECK_INT(rec.steps_seen, 0);
    struct stat info;
    CHECK(stat(in_folder("four"), &info) != 0); /* nothing was created */
    setup_free(&s);
}

/* Two inputs, the identity as weights: image (255, 0) gives logits (1, 0),
 * image (0, 255) gives (0, 1). Cross-entropy of logits (1, 0) is
 * log(1 + e^-1) = 0.3132617 for label 0 and log(1 + e) = 1.3132617 for 1. */
static void test_evaluate_by_hand(void) {
    const char *yaml = "name: identity\n"
                       "input: [2, 1, 1]\n"
                       "layers:\n"
                       "  - {type: flatten}\n"
                       "  - {type: dense, name: d, units: 2, weights: [[1, 0], [0, 1]], "
                       "bias: [0, 0]}\n";
    cr_model *model;
    cr_net *net;
    cr_error err;
    if (cr_model_load_text(yaml, strlen(yaml), "identity.yaml", &model, &err)) {
        fprintf(stderr, "%s\n", err.message);
        CHECK(!"model loads");
        return;
    }
    cr_net_options options = {.seed = 1};
    CHECK_INT(cr_net_create(model, 2, &options, &net, &err), 0); /* batches of 2, 2, 1 */
    uint8_t pixels[] = {255, 0, 255, 0, 0, 255, 0, 255, 255, 0};
    int labels[] = {0, 1, 1, 0, 0};
    cr_dataset data = {.count = 5,
                       .channels = 2,
                       .height = 1,
                       .width = 1,
                       .pixels = pixels,
                       .labels = labels,
                       .classes = 2,
                       .source = "by hand"};
    cr_transform plain = {.channels = 2, .std = {1, 1}};
    int64_t confusion[4];
    double loss, accuracy;
    CHECK_INT(cr_evaluate(net, &data, &plain, confusion, &loss, &accuracy, &err), 0);
    /* predictions 0, 0, 1, 1, 0 against labels 0, 1, 1, 0, 0 */
    CHECK_INT(confusion[0], 2); /* true 0, predicted 0 */
    CHECK_INT(confusion[1], 1); /* true 0, predicted 1 */
    CHECK_INT(confusion[2], 1); /* true 1, predicted 0 */
    CHECK_INT(confusion[3], 1);
    CHECK_NEAR(accuracy, 0.6, 1e-12);
    double right = log(1 + exp(-1.0)), wrong = log(1 + exp(1.0));
    CHECK_NEAR(loss, (3 * right + 2 * wrong) / 5, 1e-6);

    /* Without a softmax layer, probabilities are the softmax of the output. */
    float probabilities[2];
    cr_output_probabilities(net, 0, probabilities); /* the last batch: image 4, logits (1, 0) */
    CHECK_NEAR(probabilities[0], 1 / (1 + exp(-1.0)), 1e-6);
    CHECK_NEAR(probabilities[1], 1 / (1 + exp(1.0)), 1e-6);

    /* Labels beyond the outputs are found before anything runs. */
    labels[2] = 2;
    CHECK_INT(cr_check_labels(model, &data, &err), 1);
    CHECK_CONTAINS(err.message, "by hand: image 2 has label 2, but model 'identity' has 2 outputs");
    cr_net_free(net);
    cr_model_free(model);
}

static void remove_tree(const char *path) {
    DIR *d = opendir(path);
    if (!d) {
        unlink(path);
        return;
    }
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char child[1024];
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        remove_tree(child);
    }
    closedir(d);
    rmdir(path);
}

int main(void) {
    cr_set_threads(1);
    if (scratch_folder_make("train")) return 1;
    char data[600];
    snprintf(data, sizeof data, "%s/data", folder);
    make_data(data, 3);

    test_straight_run_and_metrics(data);
    test_resume_is_exact(data);
    test_early_stopping(data);
    test_clip_grad_norm(data);
    test_loss_settings(data);
    test_old_checkpoint_resumes(data);
    test_augment_resume_is_exact(data);
    test_nan_keeps_checkpoint(data);
    test_failed_write_keeps_checkpoint(data);
    test_labels_beyond_outputs();
    test_evaluate_by_hand();

    remove_tree(folder);
    return check_report();
}
