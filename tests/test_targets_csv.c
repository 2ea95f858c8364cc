/* csv data (lib/targets_csv.c): both header forms, every error with its row
 * and column, a validation split that keeps each image's targets, and
 * training runs with binary_cross_entropy (multi-label) and mse
 * (regression) on images written here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb/stb_image_write.h>

#include "check.h"
#include "scratch_folder.h"
#include "targets_csv.h"
#include "train.h"
#include "train_config.h"

/* Image i (8×8 grey): a bright bar on rows 1-2 when `top`, on rows 5-6 when
 * `bottom`, the rest faint noise at brightness `level` (0..60). */
static void write_image(const char *name, bool top, bool bottom, int level, unsigned seed) {
    unsigned char pixels[64];
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 8; x++) {
            seed = seed * 1664525u + 1013904223u;
            int value = level + (int)(seed >> 29);
            if ((top && (y == 1 || y == 2)) || (bottom && (y == 5 || y == 6))) value += 180;
            pixels[y * 8 + x] = (unsigned char)value;
        }
    CHECK(stbi_write_png(in_folder(name), 8, 8, 1, pixels, 8));
}

static cr_data_source csv_source(const char *train, const char *test) {
    cr_data_source source = {.format = CR_DATA_CSV};
    snprintf(source.train_dir, sizeof source.train_dir, "%s", in_folder(train));
    if (test) snprintf(source.test_dir, sizeof source.test_dir, "%s", in_folder(test));
    return source;
}

static const cr_shape grey8 = {1, 8, 8};

/* ---- loading ----------------------------------------------------------------------- */

static void test_labels_by_name(void) {
    mkdir(in_folder("img"), 0755);
    write_image("img/a.png", true, false, 0, 1);
    write_image("img/b.png", true, true, 0, 2);
    write_image("img/c.png", false, false, 0, 3);
    /* Quoted fields (RFC 4180) and a name that needs them. */
    write_text(in_folder("names.csv"), "image,labels\n"
                                       "img/a.png,top\n"
                                       "\"img/b.png\",\"bottom  top\"\n"
                                       "img/c.png,\n");
    cr_data_source source = csv_source("names.csv", "names.csv");
    cr_dataset data;
    cr_error err;
    CHECK_INT(cr_data_load(&source, false, grey8, &data, &err), 0);
    CHECK_INT(data.count, 3);
    CHECK_INT(data.classes, 2);
    /* Sorted: bottom, top. */
    CHECK(strcmp(data.class_names[0], "bottom") == 0 && strcmp(data.class_names[1], "top") == 0);
    static const float want[6] = {0, 1, 1, 1, 0, 0};
    CHECK(memcmp(data.targets, want, sizeof want) == 0);
    for (int i = 0; i < 3; i++) CHECK_INT(data.labels[i], i);
    /* Pixels as an image folder's: a's row 1 is bright, its row 4 is not. */
    CHECK(data.pixels[8] > 150 && data.pixels[32] < 60);

    /* Split off validation: each half keeps its images' targets. */
    cr_dataset train, validation;
    CHECK_INT(cr_dataset_split(&data, 0.34, 5, &train, &validation, &err), 0);
    CHECK_INT(train.count + validation.count, 3);
    for (int i = 0; i < validation.count; i++) {
        int row = validation.labels[i];
        CHECK(memcmp(validation.targets + 2 * row, want + 2 * row, 2 * sizeof(float)) == 0);
    }
    CHECK(validation.targets != train.targets);
    cr_dataset_free(&train);
    cr_dataset_free(&validation);
}

static void test_columns(void) {
    write_text(in_folder("columns.csv"), "image,brightness,bars\n"
                                         "img/a.png,0.25,1\n"
                                         "img/b.png,-1.5e1,2\n");
    cr_data_source source = csv_source("columns.csv", NULL);
    cr_dataset data;
    cr_error err;
    CHECK_INT(cr_data_load(&source, false, grey8, &data, &err), 0);
    CHECK_INT(data.classes, 2);
    CHECK(strcmp(data.class_names[1], "bars") == 0);
    static const float want[4] = {0.25f, 1, -15, 2};
    CHECK(memcmp(data.targets, want, sizeof want) == 0);
    cr_dataset_free(&data);
}

/* Loading `train` (and `test`) fails with `message` in the error. */
static void expect_error(const char *train_text, const char *test_text, bool test,
                         const char *message) {
    write_text(in_folder("bad-train.csv"), train_text);
    if (test_text) write_text(in_folder("bad-test.csv"), test_text);
    cr_data_source source = csv_source("bad-train.csv", test_text ? "bad-test.csv" : NULL);
    cr_dataset data;
    cr_error err;
    CHECK_INT(cr_data_load(&source, test, grey8, &data, &err), 1);
    char text[1200];
    cr_error_format(&err, text, sizeof text);
    CHECK_CONTAINS(text, message);
    CHECK(data.targets == NULL && data.pixels == NULL);
}

static void test_errors(void) {
    expect_error("", NULL, false, "the file is empty: expected a header such as image,labels");
    expect_error("file,labels\nimg/a.png,top\n", NULL, false,
                 "row 1 must be the header: 'image' then 'labels'");
    expect_error("image,labels\n", NULL, false, "no class names in the 'labels' column");
    expect_error("image,a,b\n", NULL, false, "no images: the file has only its header");
    expect_error("image,a,a\nimg/a.png,1,0\n", NULL, false,
                 "row 1: column 'a' appears twice in the header");
    expect_error("image,a,b\nimg/a.png,1,0\nimg/b.png,1,x\n", NULL, false,
                 "bad-train.csv: row 3, column 'b': 'x' is not a finite number");
    expect_error("image,a,b\nimg/a.png,1,nan\n", NULL, false, "'nan' is not a finite number");
    expect_error("image,a,b\nimg/a.png,1\n", NULL, false, "row 2 has 2 fields, the header 3");
    expect_error("image,a\nimg/none.png,1\n", NULL, false, "img/none.png");
    expect_error("image,a\n,1\n", NULL, false, "row 2: the image's path is empty");
    expect_error("image,a\n\"img/a.png,1\n", NULL, false, "not a valid CSV file");
    expect_error("image,labels\nimg/a.png,top\n", "image,labels\nimg/b.png,top left\n", true,
                 "bad-test.csv: row 2: class 'left' is not one of the training file's 1 classes");
    expect_error("image,a,b\nimg/a.png,1,0\n", "image,b,a\nimg/b.png,1,0\n", true,
                 "row 1: column 2 is 'b' but 'a' in the training file");
    expect_error("image,a\nimg/a.png,1\n", NULL, true, "no test file given");
}

/* ---- training --------------------------------------------------------------------- */

/* `count` images named PREFIX-i.png with random bars, and their CSV. */
static void write_set(const char *csv, const char *prefix, int count, bool regression,
                      unsigned seed) {
    char text[8192] = "";
    size_t used = (size_t)snprintf(text, sizeof text, "%s\n",
                                   regression ? "image,brightness" : "image,labels");
    for (int i = 0; i < count; i++) {
        seed = seed * 1664525u + 1013904223u;
        bool top = seed >> 31, bottom = (seed >> 30) & 1;
        int level = (int)((seed >> 8) % 61);
        char name[64];
        snprintf(name, sizeof name, "img/%s-%d.png", prefix, i);
        write_image(name, regression ? false : top, regression ? false : bottom, level, seed);
        if (regression)
            used += (size_t)snprintf(text + used, sizeof text - used, "%s,%g\n", name + 4,
                                     level / 60.0);
        else
            used += (size_t)snprintf(text + used, sizeof text - used, "%s,%s %s\n", name + 4,
                                     top ? "top" : "", bottom ? "bottom" : "");
    }
    /* Image paths relative to the CSV file's folder (img/). */
    char path[600];
    snprintf(path, sizeof path, "img/%s", csv);
    write_text(in_folder(path), text);
}

typedef struct last_epoch {
    cr_epoch_result first, last;
    int epochs;
} last_epoch;

static void remember(void *user, const cr_epoch_result *result) {
    last_epoch *l = user;
    if (l->epochs++ == 0) l->first = *result;
    l->last = *result;
}

static bool train_model(const char *yaml, const char *run, last_epoch *seen, cr_error *err) {
    cr_model *model;
    cr_train_config config;
    cr_dataset train, validation;
    if (cr_model_load_text(yaml, strlen(yaml), in_folder("model.yaml"), &model, err)) return false;
    bool ok = cr_train_config_parse(model, &config, err) == 0 &&
              cr_train_load_data(model, &config, &train, &validation, err) == 0;
    if (ok) {
        cr_train_options options = {.run_dir = in_folder(run)};
        cr_train_callbacks callbacks = {.user = seen, .on_epoch = remember};
        cr_train_result result;
        ok = cr_train(model, &config, &train, &validation, &options, &callbacks, &result, err) == 0;
        cr_dataset_free(&train);
        cr_dataset_free(&validation);
    }
    cr_model_free(model);
    return ok;
}

static void test_multi_label_training(void) {
    write_set("train.csv", "train", 48, false, 11);
    write_set("test.csv", "test", 16, false, 12);
    const char *yaml = "name: bars\n"
                       "input: [1, 8, 8]\n"
                       "layers:\n"
                       "  - {type: flatten}\n"
                       "  - {type: dense, units: 2}\n"
                       "  - {type: sigmoid}\n"
                       "train:\n"
                       "  data: {format: csv, train: img/train.csv, test: img/test.csv}\n"
                       "  loss: binary_cross_entropy\n"
                       "  epochs: 8\n"
                       "  batch_size: 8\n"
                       "  optimizer: {type: sgd, lr: 0.2}\n";
    last_epoch seen = {0};
    cr_error err;
    if (!train_model(yaml, "bce-run", &seen, &err)) {
        fprintf(stderr, "%s\n", err.message);
        CHECK(!"multi-label training runs");
        return;
    }
    CHECK(seen.first.has_accuracy);
    CHECK(seen.last.train_loss < 0.5 * seen.first.train_loss);
    CHECK(seen.last.val_accuracy >= 0.95); /* per image × output */
}

static void test_regression_training(void) {
    write_set("bright-train.csv", "bright", 48, true, 21);
    write_set("bright-test.csv", "bright-test", 16, true, 22);
    const char *yaml = "name: brightness\n"
                       "input: [1, 8, 8]\n"
                       "layers:\n"
                       "  - {type: flatten}\n"
                       "  - {type: dense, units: 1}\n"
                       "train:\n"
                       "  data: {format: csv, train: img/bright-train.csv, test: "
                       "img/bright-test.csv}\n"
                       "  loss: mse\n"
                       "  epochs: 8\n"
                       "  batch_size: 8\n"
                       "  optimizer: {type: adam, lr: 0.01}\n";
    last_epoch seen = {0};
    cr_error err;
    if (!train_model(yaml, "mse-run", &seen, &err)) {
        fprintf(stderr, "%s\n", err.message);
        CHECK(!"regression training runs");
        return;
    }
    CHECK(!seen.last.has_accuracy && isnan(seen.last.val_accuracy));
    /* Targets in [0, 1]: the loss falls 20-fold and the validation RMSE
     * ends below 0.1. */
    CHECK(seen.last.train_loss < 0.05 * seen.first.train_loss);
    CHECK(seen.last.val_loss < 0.01);

    /* The same data with a model of 2 outputs: a clear error. */
    const char *two = "name: brightness\n"
                      "input: [1, 8, 8]\n"
                      "layers:\n"
                      "  - {type: flatten}\n"
                      "  - {type: dense, units: 2}\n"
                      "train:\n"
                      "  data: {format: csv, train: img/bright-train.csv, test: "
                      "img/bright-test.csv}\n"
                      "  loss: mse\n";
    CHECK(!train_model(two, "mse-two", &seen, &err));
    CHECK_CONTAINS(err.message, "has 1 target column, but model 'brightness' has 2 outputs");
}

static void remove_tree(const char *path) {
    char command[600];
    snprintf(command, sizeof command, "rm -rf '%s'", path);
    CHECK_INT(system(command), 0);
}

int main(void) {
    cr_set_threads(1);
    if (scratch_folder_make("csv")) return 1;
    test_labels_by_name();
    test_columns();
    test_errors();
    test_multi_label_training();
    test_regression_training();
    remove_tree(folder);
    return check_report();
}
