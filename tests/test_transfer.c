/* Transfer learning (lib/init_weights.h, lib/freeze.h):
 *   - the init report of a hand-made weights file, one case per status
 *     (a converted dtype, a wrong shape, a wrong dtype, a missing tensor, a
 *     missing batch counter, an unexpected tensor), a strict init that fails
 *     leaving the network as it was and a partial one that loads exactly
 *     the tensors that fit;
 *   - freezing: covered names and globs, trainable counts, no gradient and
 *     no optimizer state for frozen parameters, the trainable gradients
 *     bit-identical to the full backward's (the skipped backward is only
 *     skipped work), a frozen batchnorm's running statistics still moving,
 *     frozen tensors' bytes unchanged by training and the others changed,
 *     a resume bit for bit, a changed freeze refused on resume;
 *   - on Fashion-MNIST: LeNet-5 trained on the 10 classes, its head
 *     replaced by a 5-class one (the exact report lines), the convolutions
 *     frozen, fine-tuned on classes 5–9: accuracy well above chance. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "scratch_folder.h"
#include "cnnrun.h"
#include "init_weights.h"
#include "safetensors.h"
#include "train.h"
#include "train_config.h"

#ifndef CNNRUN_SOURCE_DIR
#define CNNRUN_SOURCE_DIR "."
#endif

static cr_model *load_model(const char *yaml, cr_train_config *config) {
    cr_model *model = NULL;
    cr_error err;
    if (cr_model_load_text(yaml, strlen(yaml), "test.yaml", &model, &err) ||
        cr_train_config_parse(model, config, &err)) {
        fprintf(stderr, "model: %s\n", err.message);
        CHECK(!"the model loads");
        cr_model_free(model);
        return NULL;
    }
    cr_model_freeze(model, &config->freeze);
    return model;
}

/* A tensor of a weights file as floats (malloc'ed), or NULL. */
static float *read_tensor(const char *path, const char *name, int64_t *count) {
    cr_safetensors_file *file;
    cr_error err;
    if (cr_safetensors_open(path, &file, &err)) return NULL;
    const cr_safetensors_entry *entry = cr_safetensors_find(file, name);
    float *out = entry ? malloc((size_t)entry->count * sizeof *out) : NULL;
    if (out && cr_safetensors_read_floats(file, entry, out, &err)) {
        free(out);
        out = NULL;
    }
    if (out && count) *count = entry->count;
    cr_safetensors_close(file);
    return out;
}

/* Whether tensor `name` holds the same bytes in two weights files. */
static bool same_tensor(const char *a, const char *b, const char *name) {
    int64_t count_a = -1, count_b = -2;
    float *x = read_tensor(a, name, &count_a), *y = read_tensor(b, name, &count_b);
    bool same = x && y && count_a == count_b && memcmp(x, y, (size_t)count_a * sizeof *x) == 0;
    free(x);
    free(y);
    return same;
}

/* The report's lines are exactly `want[count]`. */
static void check_lines(const cr_init_report *report, const char *const *want, int count) {
    CHECK_INT(report->count, count);
    char line[1200];
    for (int i = 0; i < report->count && i < count; i++) {
        cr_init_report_line(report, i, line, sizeof line);
        CHECK(strcmp(line, want[i]) == 0);
        if (strcmp(line, want[i])) fprintf(stderr, "got  '%s'\nwant '%s'\n", line, want[i]);
    }
}

/* ---- the report ------------------------------------------------------------------------- */

static const char *const bn_model =
    "name: bn\n"
    "input: [1, 4, 4]\n"
    "layers:\n"
    "  - {type: conv, name: c1, filters: 4, kernel: 3, padding: 1}\n"
    "  - {type: batchnorm, name: bn1}\n"
    "  - {type: relu}\n"
    "  - {type: flatten}\n"
    "  - {type: dense, name: out, units: 3}\n";

/* A file for bn_model with one tensor of each kind of trouble. */
static void write_troubled_file(const char *path) {
    static float c1_weight[36], c1_bias[4], running_var[4], wrong_bias[3];
    static double bn_weight[4];
    static int64_t out_weight[3 * 64], extra[4];
    static float out_bias[3];
    for (int i = 0; i < 36; i++) c1_weight[i] = 0.01f * (float)(i + 1);
    for (int i = 0; i < 4; i++) {
        c1_bias[i] = -0.5f + (float)i;
        bn_weight[i] = 1.0 + 0.25 * i;
        running_var[i] = 2.0f + (float)i;
    }
    for (int i = 0; i < 3; i++) out_bias[i] = 7.0f + (float)i;
    cr_safetensors_tensor tensors[] = {
        {"c1.weight", CR_DTYPE_F32, 4, {4, 1, 3, 3}, c1_weight},
        {"c1.bias", CR_DTYPE_F32, 1, {4}, c1_bias},
        {"bn1.weight", CR_DTYPE_F64, 1, {4}, bn_weight},        /* converted */
        {"bn1.bias", CR_DTYPE_F32, 1, {3}, wrong_bias},         /* wrong shape */
        {"bn1.running_var", CR_DTYPE_F32, 1, {4}, running_var}, /* running_mean missing */
        {"out.weight", CR_DTYPE_I64, 2, {3, 64}, out_weight},   /* not floats */
        {"out.bias", CR_DTYPE_F32, 1, {3}, out_bias},
        {"head.weight", CR_DTYPE_I64, 1, {4}, extra}, /* no such layer */
    };
    cr_error err;
    CHECK_INT(cr_safetensors_write(path, tensors, 8, &err), 0);
}

static void test_report_cases(void) {
    cr_train_config config;
    cr_model *model = load_model(bn_model, &config);
    if (!model) return;
    const char *path = in_folder("troubled.safetensors");
    write_troubled_file(path);
    cr_init_report report;
    cr_error err;
    CHECK_INT(cr_init_report_make(model, path, &report, &err), 0);
    static const char *const want[] = {
        "loaded      c1.weight [4, 1, 3, 3]",
        "loaded      c1.bias [4]",
        "loaded      bn1.weight F64 [4]",
        "mismatch    bn1.bias: model [4], file [3]",
        "missing     bn1.running_mean [4] (not in the file)",
        "loaded      bn1.running_var [4]",
        "missing     bn1.num_batches_tracked [] (not in the file; cnnrun keeps no batch count)",
        "mismatch    out.weight: model [3, 64], file I64 [3, 64]",
        "loaded      out.bias [3]",
        "unexpected  head.weight I64 [4] (not in the model)",
    };
    int lines = (int)(sizeof want / sizeof want[0]);
    check_lines(&report, want, lines);
    char line[1200];
    CHECK_INT(report.loaded, 5);
    CHECK_INT(report.missing, 2);
    CHECK_INT(report.unexpected, 1);
    CHECK_INT(report.mismatched, 2);
    CHECK_INT(report.blocking, 3); /* the batch counter does not count */
    char expected[700];
    snprintf(expected, sizeof expected,
             "init from %s: 5 loaded, 2 missing, 1 unexpected, 2 shape mismatches", path);
    CHECK(strcmp(cr_init_report_summary(&report, line, sizeof line), expected) == 0);
    cr_init_report_free(&report);

    /* Strict: an error naming the misfits, and the network as it was. */
    cr_net *net;
    cr_net_options options = {.seed = 5, .training = true};
    CHECK_INT(cr_net_create(model, 2, &options, &net, &err), 0);
    cr_tensor c1 = cr_net_param(net, 0);
    float before = c1.data[0];
    CHECK(cr_net_init_weights(net, path, false, &report, &err) != 0);
    CHECK_INT(err.kind, CR_ERR_INVALID);
    CHECK_CONTAINS(err.message, "3 of the model's tensors do not fit: bn1.bias (model [4], file "
                                "[3]), bn1.running_mean (missing), out.weight (model [3, 64], "
                                "file I64 [3, 64]); give --init-partial");
    CHECK_INT(report.count, lines); /* the report comes back with the failure */
    cr_init_report_free(&report);
    CHECK(cr_net_param(net, 0).data[0] == before);

    /* Partial: exactly the tensors that fit, the others as initialised. */
    cr_tensor bn_bias = cr_net_param(net, 3), running_mean = cr_net_param(net, 4);
    float bias_before = bn_bias.data[1], mean_before = running_mean.data[2];
    CHECK_INT(cr_net_init_weights(net, path, true, NULL, &err), 0);
    CHECK(cr_net_param(net, 0).data[35] == 0.01f * 36.0f); /* c1.weight */
    CHECK(cr_net_param(net, 1).data[3] == 2.5f);           /* c1.bias */
    CHECK(cr_net_param(net, 2).data[2] == 1.5f);           /* bn1.weight from F64 */
    CHECK(bn_bias.data[1] == bias_before);                 /* mismatched: kept */
    CHECK(running_mean.data[2] == mean_before);            /* missing: kept */
    CHECK(cr_net_param(net, 5).data[1] == 3.0f);           /* bn1.running_var */
    CHECK(cr_net_param(net, 7).data[2] == 9.0f);           /* out.bias */
    cr_net_free(net);
    cr_model_free(model);
}

/* ---- freezing ---------------------------------------------------------------------------- */

#define SIDE 8

/* The tiny bar data of test_train.c, in memory: [count] 8×8 grey images,
 * class c a bright bar at rows 1 + 2c, 2 + 2c, with faint noise. */
static void make_bars(cr_dataset *out, int count, int classes, uint32_t seed) {
    memset(out, 0, sizeof *out);
    out->count = count;
    out->channels = 1;
    out->height = out->width = SIDE;
    out->classes = classes;
    out->pixels = malloc((size_t)count * SIDE * SIDE);
    out->labels = malloc((size_t)count * sizeof *out->labels);
    out->source = strdup("bars");
    uint32_t noise = seed;
    for (int i = 0; i < count; i++) {
        int label = i % classes, bar = 1 + 2 * label;
        out->labels[i] = label;
        for (int y = 0; y < SIDE; y++)
            for (int x = 0; x < SIDE; x++) {
                noise = noise * 1664525u + 1013904223u;
                int value = (int)(noise >> 27) + (y == bar || y == bar + 1 ? 180 : 0);
                out->pixels[(i * SIDE + y) * SIDE + x] = (uint8_t)value;
            }
    }
}

/* conv → batchnorm → relu → pool → dense: batchnorm's buffers take part. */
static const char *tiny_model(const char *freeze) {
    static char text[1024];
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
             "  - {type: dense, name: out, units: 3}\n"
             "train:\n"
             "  epochs: 2\n"
             "  batch_size: 8\n"
             "  optimizer: {type: sgd, lr: 0.05, momentum: 0.9, weight_decay: 0.01}\n"
             "  seed: 11\n"
             "%s",
             freeze);
    return text;
}

static void test_freeze_marks(void) {
    cr_train_config config;
    cr_model *model = load_model(tiny_model("  freeze: [c1, 'bn*']\n"), &config);
    if (!model) return;
    CHECK_INT(config.freeze.count, 2);
    CHECK(cr_freeze_covers(&config.freeze, "bn1"));
    CHECK(!cr_freeze_covers(&config.freeze, "fc1"));
    /* c1 36 weights, bn1 4 + 4; fc1 64·16 + 16, out 16·3 + 3 */
    CHECK_INT(model->parameters, 36 + 8 + 1040 + 51);
    CHECK_INT(model->trainable_parameters, 1040 + 51);
    cr_error err;
    /* Shape inference again keeps them frozen. */
    CHECK_INT(cr_model_set_input(model, (cr_shape){1, 8, 8}, &err), 0);
    CHECK_INT(model->trainable_parameters, 1040 + 51);
    cr_net *net;
    cr_net_options options = {.seed = 1, .training = true};
    CHECK_INT(cr_net_create(model, 4, &options, &net, &err), 0);
    int64_t count;
    cr_net_grad_block(net, &count);
    CHECK_INT(count, 1040 + 51);
    for (int p = 0; p < cr_net_param_count(net); p++) {
        cr_tensor t = cr_net_param(net, p);
        bool frozen = strncmp(t.name, "c1.", 3) == 0 || strncmp(t.name, "bn1.", 4) == 0;
        CHECK(frozen ? !t.grad && !t.trainable : t.is_buffer || t.grad);
    }
    cr_net_free(net);
    cr_model_free(model);
}

/* One training step's gradients: the frozen net skips c1's and bn1's
 * backward, the full net runs all of it; the trainable layers' gradients
 * are the same bits. */
static void test_skipped_backward_same_gradients(void) {
    cr_train_config frozen_config, full_config;
    cr_model *frozen = load_model(tiny_model("  freeze: [c1, bn1]\n"), &frozen_config);
    cr_model *full = load_model(tiny_model(""), &full_config);
    cr_dataset data;
    make_bars(&data, 8, 3, 9);
    cr_net *nets[2] = {NULL, NULL};
    cr_error err;
    cr_net_options options = {.seed = 4, .training = true};
    int labels[8];
    for (int k = 0; k < 2 && frozen && full; k++) {
        CHECK_INT(cr_net_create(k ? full : frozen, 8, &options, &nets[k], &err), 0);
        int indices[8] = {0, 1, 2, 3, 4, 5, 6, 7};
        cr_data_batch(&data, indices, 8, &frozen_config.transform, cr_net_input(nets[k]), labels);
        cr_net_forward(nets[k], true);
        cr_net_cross_entropy(nets[k], labels);
        cr_net_backward(nets[k]);
    }
    int compared = 0;
    for (int p = 0; nets[0] && nets[1] && p < cr_net_param_count(nets[0]); p++) {
        cr_tensor a = cr_net_param(nets[0], p), b = cr_net_param(nets[1], p);
        if (!a.grad) continue;
        CHECK(b.grad && memcmp(a.grad, b.grad, (size_t)a.count * sizeof *a.grad) == 0);
        compared++;
    }
    CHECK_INT(compared, 4); /* fc1 and out, weight and bias */
    cr_net_free(nets[0]);
    cr_net_free(nets[1]);
    cr_dataset_free(&data);
    cr_model_free(frozen);
    cr_model_free(full);
}

static int train(const cr_model *model, const cr_train_config *config, const cr_dataset *data,
                 const cr_dataset *validation, const char *dir, const char *init, bool resume,
                 int64_t max_steps, cr_error *err) {
    cr_train_options options = {.run_dir = dir,
                                .resume = resume,
                                .init_weights = init,
                                .init_partial = true,
                                .max_steps = max_steps};
    cr_train_result result;
    return cr_train(model, config, data, validation, &options, NULL, &result, err);
}

/* A short run's weights as the init, then training with c1 and bn1
 * frozen; bytes compared tensor by tensor. */
static void test_frozen_training(void) {
    cr_train_config plain_config, config;
    cr_model *plain = load_model(tiny_model(""), &plain_config);
    cr_model *model = load_model(tiny_model("  freeze: [c1, bn1]\n"), &config);
    if (!plain || !model) return;
    cr_dataset data, validation;
    make_bars(&data, 48, 3, 1);
    make_bars(&validation, 24, 3, 2);
    cr_error err = {0};
    const char *start = in_folder("start");
    CHECK_INT(train(plain, &plain_config, &data, &validation, start, NULL, false, 3, &err), 0);
    char init[600], last[600];
    snprintf(init, sizeof init, "%s/last.safetensors", start);

    const char *straight = in_folder("frozen");
    int status = train(model, &config, &data, &validation, straight, init, false, 0, &err);
    CHECK_INT(status, 0);
    if (status) fprintf(stderr, "frozen training: %s\n", err.message);
    snprintf(last, sizeof last, "%s/last.safetensors", straight);
    static const char *const unchanged[] = {"c1.weight", "bn1.weight", "bn1.bias"};
    static const char *const changed[] = {"bn1.running_mean", "bn1.running_var", "fc1.weight",
                                          "fc1.bias",         "out.weight",      "out.bias"};
    for (int i = 0; i < 3; i++) CHECK(same_tensor(init, last, unchanged[i]));
    /* Batchnorm's statistics move in training mode even when frozen (PyTorch's
     * requires_grad=False does the same). */
    for (int i = 0; i < 6; i++) CHECK(!same_tensor(init, last, changed[i]));

    /* No optimizer state for frozen parameters: momentum for the trainable ones only. */
    char checkpoint[600];
    snprintf(checkpoint, sizeof checkpoint, "%s/checkpoint.safetensors", straight);
    int64_t state_count = 0;
    float *state = read_tensor(checkpoint, "__checkpoint__.optimizer_state", &state_count);
    CHECK(state != NULL);
    CHECK_INT(state_count, model->trainable_parameters);
    free(state);
    snprintf(checkpoint, sizeof checkpoint, "%s/init.txt", straight);
    struct stat info;
    CHECK(stat(checkpoint, &info) == 0);

    /* Stopped and resumed: the same bits as straight through. */
    const char *stopped = in_folder("stopped");
    CHECK_INT(train(model, &config, &data, &validation, stopped, init, false, 5, &err), 0);
    CHECK_INT(train(model, &config, &data, &validation, stopped, NULL, true, 0, &err), 0);
    char resumed[600];
    snprintf(resumed, sizeof resumed, "%s/last.safetensors", stopped);
    static const char *const all[] = {"c1.weight",        "bn1.weight",      "bn1.bias",
                                      "bn1.running_mean", "bn1.running_var", "fc1.weight",
                                      "fc1.bias",         "out.weight",      "out.bias"};
    for (int i = 0; i < 9; i++) CHECK(same_tensor(last, resumed, all[i]));

    /* A resume with another freeze is refused, naming it. */
    const char *changing = in_folder("changing");
    CHECK_INT(train(model, &config, &data, &validation, changing, init, false, 5, &err), 0);
    CHECK(train(plain, &plain_config, &data, &validation, changing, NULL, true, 0, &err) != 0);
    CHECK_CONTAINS(err.message, "train freeze removed (was c1, bn1)");

    /* A trainer given a freeze list but an unfrozen model refuses to run. */
    CHECK(train(plain, &config, &data, &validation, in_folder("unfrozen"), NULL, false, 0, &err));
    CHECK_CONTAINS(err.message, "was not frozen");
    cr_dataset_free(&data);
    cr_dataset_free(&validation);
    cr_model_free(plain);
    cr_model_free(model);
}

/* ---- LeNet-5 on Fashion-MNIST ------------------------------------------------------------ */

/* Up to `max` images of classes [first, first + classes) of `all`, labels
 * shifted to start at 0. */
static void subset(const cr_dataset *all, int first, int classes, int max, cr_dataset *out) {
    int64_t size = (int64_t)all->channels * all->height * all->width;
    memset(out, 0, sizeof *out);
    *out = (cr_dataset){
        .channels = all->channels, .height = all->height, .width = all->width, .classes = classes};
    out->pixels = malloc((size_t)(max * size));
    out->labels = malloc((size_t)max * sizeof *out->labels);
    out->source = strdup("fashion-mnist subset");
    for (int i = 0; i < all->count && out->count < max; i++) {
        int label = all->labels[i] - first;
        if (label < 0 || label >= classes) continue;
        memcpy(out->pixels + out->count * size, all->pixels + i * size, (size_t)size);
        out->labels[out->count++] = label;
    }
}

static const char *lenet(int outputs, const char *freeze) {
    static char text[1400];
    snprintf(text, sizeof text,
             "name: lenet5\n"
             "input: [1, 28, 28]\n"
             "layers:\n"
             "  - {type: conv, name: c1, filters: 6, kernel: 5, padding: 2, activation: tanh}\n"
             "  - {type: avgpool, name: s2, size: 2, stride: 2}\n"
             "  - {type: conv, name: c3, filters: 16, kernel: 5, activation: tanh}\n"
             "  - {type: avgpool, name: s4, size: 2}\n"
             "  - {type: flatten}\n"
             "  - {type: dense, name: f5, units: 120, activation: tanh}\n"
             "  - {type: dense, name: f6, units: 84, activation: tanh}\n"
             "  - {type: dense, name: out, units: %d}\n"
             "  - {type: softmax}\n"
             "train:\n"
             "  epochs: 1\n"
             "  batch_size: 32\n"
             "  optimizer: {type: sgd, lr: 0.05, momentum: 0.9}\n"
             "  normalize: {mean: [0.286], std: [0.353]}\n"
             "%s",
             outputs, freeze);
    return text;
}

static void test_lenet_new_head(void) {
    const char *dir = "/usr/share/datasets/fashion-mnist";
    struct stat info;
    if (stat(dir, &info) != 0) {
        printf("skipped: %s is not installed (Debian package dataset-fashion-mnist)\n", dir);
        return;
    }
    cr_data_source source;
    cr_error err;
    cr_dataset train_all, test_all;
    CHECK_INT(cr_data_source_parse("fashion-mnist", &source, &err), 0);
    if (cr_data_load(&source, false, (cr_shape){1, 28, 28}, &train_all, &err) ||
        cr_data_load(&source, true, (cr_shape){1, 28, 28}, &test_all, &err)) {
        fprintf(stderr, "%s: %s\n", err.file, err.message);
        CHECK(!"Fashion-MNIST loads");
        return;
    }
    cr_dataset base_train, base_test, new_train, new_test;
    subset(&train_all, 0, 10, 2000, &base_train);
    subset(&test_all, 0, 10, 300, &base_test);
    subset(&train_all, 5, 5, 1000, &new_train);
    subset(&test_all, 5, 5, 500, &new_test);
    cr_dataset_free(&train_all);
    cr_dataset_free(&test_all);

    cr_train_config base_config, config;
    cr_model *base = load_model(lenet(10, ""), &base_config);
    cr_model *head = load_model(lenet(5, "  freeze: [c1, c3]\n"), &config);
    const char *base_dir = in_folder("lenet10"), *head_dir = in_folder("lenet5-head");
    CHECK_INT(train(base, &base_config, &base_train, &base_test, base_dir, NULL, false, 0, &err),
              0);
    char init[600], last[600];
    snprintf(init, sizeof init, "%s/last.safetensors", base_dir);

    cr_init_report report;
    CHECK_INT(cr_init_report_make(head, init, &report, &err), 0);
    static const char *const want[] = {
        "loaded      c1.weight [6, 1, 5, 5]",
        "loaded      c1.bias [6]",
        "loaded      c3.weight [16, 6, 5, 5]",
        "loaded      c3.bias [16]",
        "loaded      f5.weight [120, 400]",
        "loaded      f5.bias [120]",
        "loaded      f6.weight [84, 120]",
        "loaded      f6.bias [84]",
        "mismatch    out.weight: model [5, 84], file [10, 84]",
        "mismatch    out.bias: model [5], file [10]",
    };
    check_lines(&report, want, 10);
    CHECK_INT(report.blocking, 2);
    cr_init_report_free(&report);

    cr_train_options options = {.run_dir = head_dir, .init_weights = init, .init_partial = true};
    cr_train_result result;
    CHECK_INT(cr_train(head, &config, &new_train, &new_test, &options, NULL, &result, &err), 0);
    printf("LeNet-5 with a new 5-class head, convolutions frozen, 1 epoch of %d images: "
           "validation accuracy %.3f\n",
           new_train.count, result.final_val_accuracy);
    CHECK(result.final_val_accuracy > 0.6); /* chance is 0.2 */
    snprintf(last, sizeof last, "%s/last.safetensors", head_dir);
    CHECK(same_tensor(init, last, "c1.weight") && same_tensor(init, last, "c3.bias"));
    CHECK(!same_tensor(init, last, "f5.weight") && !same_tensor(init, last, "f6.bias"));

    /* Without --init-partial the head is an error. */
    options = (cr_train_options){.run_dir = in_folder("strict"), .init_weights = init};
    CHECK(cr_train(head, &config, &new_train, &new_test, &options, NULL, &result, &err) != 0);
    CHECK_CONTAINS(err.message, "2 of the model's tensors do not fit: out.weight (model [5, 84], "
                                "file [10, 84]), out.bias (model [5], file [10])");
    cr_dataset *sets[] = {&base_train, &base_test, &new_train, &new_test};
    for (int i = 0; i < 4; i++) cr_dataset_free(sets[i]);
    cr_model_free(base);
    cr_model_free(head);
}

int main(void) {
    if (scratch_folder_make("transfer")) return 1;
    cr_set_threads(1);
    test_report_cases();
    test_freeze_marks();
    test_skipped_backward_same_gradients();
    test_frozen_training();
    test_lenet_new_head();
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", folder);
    if (system(command) != 0) fprintf(stderr, "could not remove %s\n", folder);
    return check_report();
}
