/* The train section: good sections written inline, with the values they
 * must produce (every key, every default, the shorthands), and the corpus
 * of bad sections in tests/specs/bad_train, each naming the error text and
 * the position it must get. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "train_config.h"

#ifndef CNNRUN_SOURCE_DIR
#define CNNRUN_SOURCE_DIR "."
#endif
#ifndef CNNRUN_BINARY
#define CNNRUN_BINARY "cnnrun"
#endif

#define MODEL "input: [1, 28, 28]\nlayers:\n  - {type: dense, units: 10}\n"

/* Parses `text` as a model file named `file_name`; the model is returned
 * for the config's lifetime (marks point into it). */
static cr_model *parse(const char *text, const char *file_name, cr_train_config *config) {
    cr_model *model = NULL;
    cr_error err = {0};
    char message[2048];
    if (cr_model_load_text(text, strlen(text), file_name, &model, &err) ||
        cr_train_config_parse(model, config, &err)) {
        cr_error_format(&err, message, sizeof message);
        fprintf(stderr, "train section does not parse: %s\n--- spec:\n%s---\n", message, text);
        cr_model_free(model);
        return NULL;
    }
    return model;
}

static void check_defaults(const cr_train_config *c, int channels) {
    CHECK_INT(c->data.format, CR_DATA_MNIST);
    CHECK(strcmp(c->data.dir, "/usr/share/datasets/fashion-mnist") == 0);
    CHECK(c->data.fashion_names);
    CHECK_INT(c->epochs, 10);
    CHECK_INT(c->batch_size, 64);
    CHECK_INT(c->optimizer.type, CR_OPT_SGD);
    CHECK_NEAR(c->optimizer.lr, 0.01, 1e-9);
    CHECK_NEAR(c->optimizer.momentum, 0.9, 1e-7);
    CHECK(!c->optimizer.nesterov);
    CHECK_NEAR(c->optimizer.weight_decay, 0.0, 0.0);
    CHECK_INT(c->schedule.type, CR_SCHED_CONSTANT);
    CHECK_NEAR(c->schedule.warmup_epochs, 0.0, 0.0);
    CHECK_INT(c->seed, 0);
    CHECK_NEAR(c->validation, 0.0, 0.0);
    CHECK_INT(c->transform.channels, channels);
    for (int i = 0; i < channels && i < 4; i++) {
        CHECK_NEAR(c->transform.mean[i], 0.0, 0.0);
        CHECK_NEAR(c->transform.std[i], 1.0, 0.0);
    }
    CHECK_INT(c->transform.augment.count, 0);
}

static void test_defaults(void) {
    cr_train_config config;
    cr_model *model = parse(MODEL, "m.yaml", &config);
    CHECK(model != NULL);
    if (model) check_defaults(&config, 1);
    CHECK_INT(config.data_mark.line, 0);
    cr_model_free(model);

    /* `train:` with nothing under it */
    model = parse("input: [3, 8, 8]\nlayers:\n  - {type: dense, units: 2}\ntrain:\n", "m.yaml",
                  &config);
    CHECK(model != NULL);
    if (model) check_defaults(&config, 3);
    cr_model_free(model);

    /* a section with one key leaves the others at their defaults */
    model = parse(MODEL "train:\n  seed: 7\n", "m.yaml", &config);
    CHECK(model != NULL);
    CHECK_INT(config.seed, 7);
    config.seed = 0;
    if (model) check_defaults(&config, 1);
    cr_model_free(model);
}

static void test_every_key(void) {
    cr_train_config config;
    cr_model *model = parse("input: [3, 32, 32]\n"
                            "layers:\n"
                            "  - {type: dense, units: 10}\n"
                            "train:\n"
                            "  data: {format: cifar10, dir: /data/cifar-10-batches-bin}\n"
                            "  epochs: 30\n"
                            "  batch_size: 128\n"
                            "  optimizer: {type: sgd, lr: 0.05, momentum: 0.8, nesterov: true,\n"
                            "              weight_decay: 0.0005}\n"
                            "  schedule: {type: step, warmup_epochs: 0.5, step_epochs: 10,\n"
                            "             gamma: 0.2}\n"
                            "  seed: 1234\n"
                            "  validation: 0.1\n"
                            "  normalize: {mean: [0.49, 0.48, 0.45], std: [0.25, 0.24, 0.26]}\n"
                            "  augment: {crop_padding: 4, hflip: yes}\n",
                            "models/cifar.yaml", &config);
    CHECK(model != NULL);
    if (!model) return;
    CHECK_INT(config.data.format, CR_DATA_CIFAR10);
    /* absolute folders stay as they are */
    CHECK(strcmp(config.data.dir, "/data/cifar-10-batches-bin") == 0);
    CHECK(!config.data.fashion_names);
    CHECK_INT(config.data_mark.line, 5);
    CHECK_INT(config.data_mark.column, 9);
    CHECK(strcmp(config.data_mark.file, "models/cifar.yaml") == 0);
    CHECK_INT(config.epochs, 30);
    CHECK_INT(config.batch_size, 128);
    CHECK_INT(config.optimizer.type, CR_OPT_SGD);
    CHECK_NEAR(config.optimizer.lr, 0.05, 1e-8);
    CHECK_NEAR(config.optimizer.momentum, 0.8, 1e-7);
    CHECK(config.optimizer.nesterov);
    CHECK_NEAR(config.optimizer.weight_decay, 0.0005, 1e-10);
    CHECK_INT(config.schedule.type, CR_SCHED_STEP);
    CHECK_NEAR(config.schedule.warmup_epochs, 0.5, 0.0);
    CHECK_INT(config.schedule.step_epochs, 10);
    CHECK_NEAR(config.schedule.gamma, 0.2, 1e-7);
    CHECK_INT(config.seed, 1234);
    CHECK_NEAR(config.validation, 0.1, 0.0);
    CHECK_INT(config.transform.channels, 3);
    const float mean[3] = {0.49f, 0.48f, 0.45f}, std[3] = {0.25f, 0.24f, 0.26f};
    for (int c = 0; c < 3; c++) {
        CHECK_NEAR(config.transform.mean[c], mean[c], 0.0);
        CHECK_NEAR(config.transform.std[c], std[c], 0.0);
    }
    /* The shorthand: [pad_crop: {padding: 4}, hflip]. */
    CHECK_INT(config.transform.augment.count, 2);
    CHECK_INT(config.transform.augment.steps[0].kind, CR_AUG_PAD_CROP);
    CHECK_INT(config.transform.augment.steps[0].padding, 4);
    CHECK_INT(config.transform.augment.steps[1].kind, CR_AUG_HFLIP);
    CHECK(config.transform.augment.steps[1].p == 0.5f);
    cr_model_free(model);
}

/* The list form: every step with its keys, in order, the defaults filled
 * in for names given alone. */
static void test_augment_list(void) {
    cr_train_config config;
    cr_model *model = parse("input: [3, 32, 32]\n"
                            "layers:\n  - {type: dense, units: 10}\n"
                            "train:\n"
                            "  augment:\n"
                            "    - random_resized_crop: {scale: [0.2, 1], ratio: [0.5, 2]}\n"
                            "    - pad_crop: {padding: 2}\n"
                            "    - rotate: {degrees: 12.5}\n"
                            "    - color_jitter: {brightness: 0.4, saturation: 0.2}\n"
                            "    - hflip\n"
                            "    - vflip: {p: 0.1}\n"
                            "    - cutout: {size: 6, count: 2, p: 0.5}\n"
                            "    - cutmix\n"
                            "    - mixup: {alpha: 0.2}\n",
                            "m.yaml", &config);
    CHECK(model != NULL);
    if (!model) return;
    const cr_augment *a = &config.transform.augment;
    CHECK_INT(a->count, 9);
    const cr_augment_kind kinds[9] = {CR_AUG_RANDOM_RESIZED_CROP,
                                      CR_AUG_PAD_CROP,
                                      CR_AUG_ROTATE,
                                      CR_AUG_COLOR_JITTER,
                                      CR_AUG_HFLIP,
                                      CR_AUG_VFLIP,
                                      CR_AUG_CUTOUT,
                                      CR_AUG_CUTMIX,
                                      CR_AUG_MIXUP};
    for (int i = 0; i < 9 && i < a->count; i++) CHECK_INT(a->steps[i].kind, kinds[i]);
    CHECK(a->steps[0].scale[0] == 0.2f && a->steps[0].scale[1] == 1.0f);
    CHECK(a->steps[0].ratio[0] == 0.5f && a->steps[0].ratio[1] == 2.0f);
    CHECK_INT(a->steps[1].padding, 2);
    CHECK(a->steps[2].degrees == 12.5f);
    CHECK(a->steps[3].brightness == 0.4f && a->steps[3].contrast == 0.0f &&
          a->steps[3].saturation == 0.2f);
    CHECK(a->steps[4].p == 0.5f);
    CHECK(a->steps[5].p == 0.1f);
    CHECK(a->steps[6].size == 6 && a->steps[6].count == 2 && a->steps[6].p == 0.5f);
    CHECK(a->steps[7].alpha == 1.0f);
    CHECK(a->steps[8].alpha == 0.2f);
    CHECK(cr_augment_mixes(a));
    cr_model_free(model);
}

static void test_adam_and_cosine(void) {
    cr_train_config config;
    cr_model *model = parse(MODEL "train:\n"
                                  "  optimizer: {type: adam, lr: 0.002, betas: [0.8, 0.99], eps: "
                                  "1e-7, weight_decay: 0.01}\n"
                                  "  schedule: {type: cosine, warmup_epochs: 1, min_lr: 1e-5}\n"
                                  "  validation: test\n",
                            "m.yaml", &config);
    CHECK(model != NULL);
    if (!model) return;
    CHECK_INT(config.optimizer.type, CR_OPT_ADAM);
    CHECK_NEAR(config.optimizer.lr, 0.002, 1e-9);
    /* betas are kept in double: 1 − β2 must come out as 0.01, not 0.00999999 */
    CHECK(config.optimizer.betas[0] == 0.8);
    CHECK(config.optimizer.betas[1] == 0.99);
    CHECK_NEAR(config.optimizer.eps, 1e-7, 1e-12);
    CHECK_NEAR(config.optimizer.weight_decay, 0.01, 1e-9);
    CHECK_INT(config.schedule.type, CR_SCHED_COSINE);
    CHECK_NEAR(config.schedule.warmup_epochs, 1.0, 0.0);
    CHECK_NEAR(config.schedule.min_lr, 1e-5, 1e-11);
    CHECK_NEAR(config.validation, 0.0, 0.0);
    cr_model_free(model);
}

/* `optimizer: adam` and `schedule: cosine` are the types with their
 * defaults; a mapping without `type` is sgd / constant. */
static void test_shorthands(void) {
    cr_train_config config;
    cr_model *model =
        parse(MODEL "train:\n  optimizer: adam\n  schedule: cosine\n", "m.yaml", &config);
    CHECK(model != NULL);
    CHECK_INT(config.optimizer.type, CR_OPT_ADAM);
    CHECK_NEAR(config.optimizer.lr, 0.001, 1e-9);
    CHECK(config.optimizer.betas[0] == 0.9 && config.optimizer.betas[1] == 0.999);
    CHECK_NEAR(config.optimizer.eps, 1e-8, 1e-13);
    CHECK_NEAR(config.optimizer.weight_decay, 0.0, 0.0);
    CHECK_INT(config.schedule.type, CR_SCHED_COSINE);
    CHECK_NEAR(config.schedule.min_lr, 0.0, 0.0);
    cr_model_free(model);

    /* adamw: PyTorch's weight decay default 0.01 */
    model = parse(MODEL "train:\n  optimizer: {type: adamw, lr: 0.003}\n", "m.yaml", &config);
    CHECK(model != NULL);
    CHECK_INT(config.optimizer.type, CR_OPT_ADAMW);
    CHECK_NEAR(config.optimizer.lr, 0.003, 1e-9);
    CHECK_NEAR(config.optimizer.weight_decay, 0.01, 1e-9);
    cr_model_free(model);

    model = parse(MODEL "train:\n  optimizer: {lr: 0.1, momentum: 0}\n  schedule: {warmup_epochs: "
                        "2}\n",
                  "m.yaml", &config);
    CHECK(model != NULL);
    CHECK_INT(config.optimizer.type, CR_OPT_SGD);
    CHECK_NEAR(config.optimizer.lr, 0.1, 1e-8);
    CHECK_NEAR(config.optimizer.momentum, 0.0, 0.0);
    CHECK_INT(config.schedule.type, CR_SCHED_CONSTANT);
    CHECK_NEAR(config.schedule.warmup_epochs, 2.0, 0.0);
    CHECK_NEAR(config.schedule.gamma, 0.1, 1e-8);
    cr_model_free(model);
}

/* Relative data folders are relative to the model file's folder. */
static void test_data_folders(void) {
    cr_train_config config;
    cr_model *model = parse(MODEL "train:\n  data: {format: mnist, dir: data/mnist}\n",
                            "models/sub/lenet.yaml", &config);
    CHECK(model != NULL);
    CHECK_INT(config.data.format, CR_DATA_MNIST);
    CHECK(strcmp(config.data.dir, "models/sub/data/mnist") == 0);
    CHECK(!config.data.fashion_names);
    cr_model_free(model);

    /* a model file in the current folder: the path stays as written */
    model = parse(MODEL "train:\n  data: {format: mnist, dir: ../mnist}\n", "lenet.yaml", &config);
    CHECK(model != NULL);
    CHECK(strcmp(config.data.dir, "../mnist") == 0);
    cr_model_free(model);

    model = parse(MODEL "train:\n"
                        "  data:\n"
                        "    format: folder\n"
                        "    train: images/train\n"
                        "    test: /srv/images/test\n",
                  "/home/u/m.yaml", &config);
    CHECK(model != NULL);
    CHECK_INT(config.data.format, CR_DATA_FOLDER);
    CHECK(strcmp(config.data.train_dir, "/home/u/images/train") == 0);
    CHECK(strcmp(config.data.test_dir, "/srv/images/test") == 0);
    CHECK_INT(config.data_mark.line, 6);
    cr_model_free(model);

    model = parse(MODEL "train:\n  data: fashion-mnist\n", "x/m.yaml", &config);
    CHECK(model != NULL);
    CHECK(strcmp(config.data.dir, "/usr/share/datasets/fashion-mnist") == 0);
    CHECK(config.data.fashion_names);
    cr_model_free(model);
}

/* Anchors and merge keys work in the train section as in layers. */
static void test_merges(void) {
    cr_train_config config;
    cr_model *model =
        parse(MODEL "train:\n"
                    "  epochs: &n 3\n"
                    "  schedule: {type: step, step_epochs: *n}\n"
                    "  optimizer: {<<: {type: sgd, lr: 0.1, momentum: 0.5}, lr: 0.2}\n",
              "m.yaml", &config);
    CHECK(model != NULL);
    CHECK_INT(config.epochs, 3);
    CHECK_INT(config.schedule.step_epochs, 3);
    CHECK_NEAR(config.optimizer.lr, 0.2, 1e-8);
    CHECK_NEAR(config.optimizer.momentum, 0.5, 0.0);
    cr_model_free(model);
}

/* ---- the bad-section corpus ------------------------------------------------------ */

/* `# expect: TEXT` (first line) and `# at: LINE:COL` (second). */
static int read_header(const char *path, char *expect, size_t size, int *line, int *column) {
    FILE *f = fopen(path, "r");
    if (!f) return 1;
    char text[1024];
    expect[0] = '\0';
    *line = *column = 0;
    if (fgets(text, sizeof text, f) && strncmp(text, "# expect: ", 10) == 0) {
        text[strcspn(text, "\n")] = '\0';
        snprintf(expect, size, "%s", text + 10);
    }
    if (fgets(text, sizeof text, f) && sscanf(text, "# at: %d:%d", line, column) != 2)
        *line = *column = 0;
    fclose(f);
    return expect[0] && *line ? 0 : 1;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_bad_corpus(void) {
    const char *dir_path = CNNRUN_SOURCE_DIR "/tests/specs/bad_train";
    DIR *dir = opendir(dir_path);
    CHECK(dir != NULL);
    if (!dir) return;
    char *names[512];
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) && count < 512) {
        size_t length = strlen(entry->d_name);
        if (length > 5 && strcmp(entry->d_name + length - 5, ".yaml") == 0)
            names[count++] = strdup(entry->d_name);
    }
    closedir(dir);
    qsort(names, (size_t)count, sizeof names[0], compare_names);
    CHECK(count >= 80);
    for (int i = 0; i < count; i++) {
        char path[1024], expect[1024], message[2048];
        int line, column;
        snprintf(path, sizeof path, "%s/%s", dir_path, names[i]);
        int failures_before = check_failure_count;
        if (read_header(path, expect, sizeof expect, &line, &column)) {
            fprintf(stderr, "%s: must start with '# expect: TEXT' and '# at: LINE:COL'\n",
                    names[i]);
            CHECK(0);
            free(names[i]);
            continue;
        }
        /* The model part is fine in every file: only the train section fails. */
        cr_model *model = NULL;
        cr_error err = {0};
        CHECK(cr_model_load(path, &model, &err) == 0);
        if (!model) {
            cr_error_format(&err, message, sizeof message);
            fprintf(stderr, "  in %s: the model part does not load: %s\n", names[i], message);
            free(names[i]);
            continue;
        }
        cr_train_config config;
        CHECK(cr_train_config_parse(model, &config, &err) != 0);
        cr_model_free(model);
        cr_error_format(&err, message, sizeof message);
        CHECK_INT(err.kind, CR_ERR_INVALID);
        CHECK_CONTAINS(message, expect);
        /* FILE:LINE:COL: message, at the offending key or value */
        size_t path_length = strlen(path);
        int got_line = 0, got_column = 0, prefix = 0;
        CHECK(strncmp(message, path, path_length) == 0);
        CHECK(sscanf(message + path_length, ":%d:%d: %n", &got_line, &got_column, &prefix) == 2 &&
              prefix > 0);
        CHECK_INT(got_line, line);
        CHECK_INT(got_column, column);
        if (check_failure_count != failures_before)
            fprintf(stderr, "  in %s: %s\n", names[i], message);
        free(names[i]);
    }
}

/* ---- `cnnrun check` reads the section ----------------------------------------------- */

/* Runs the binary; returns its exit status, with stdout and stderr in out. */
static int run_cnnrun(const char *arguments, char *out, size_t size) {
    char command[2048];
    snprintf(command, sizeof command, "'%s' %s 2>&1", CNNRUN_BINARY, arguments);
    FILE *pipe = popen(command, "r");
    if (!pipe) return -1;
    size_t length = fread(out, 1, size - 1, pipe);
    out[length] = '\0';
    int status = pclose(pipe);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_check_command(void) {
    char dir[] = "/tmp/cnnrun-train-config-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], arguments[512], out[65536];
    snprintf(path, sizeof path, "%s/adam.yaml", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    /* 16·2 + 2 = 34 parameters; adam keeps 2 floats each: 272 bytes */
    fputs("input: [1, 4, 4]\n"
          "layers:\n"
          "  - {type: dense, units: 2}\n"
          "train:\n"
          "  batch_size: 32\n"
          "  optimizer: {type: adam, lr: 0.001}\n",
          f);
    fclose(f);
    snprintf(arguments, sizeof arguments, "check --json '%s'", path);
    CHECK_INT(run_cnnrun(arguments, out, sizeof out), 0);
    CHECK_CONTAINS(out, "\"optimizer\":\t\"adam\"");
    CHECK_CONTAINS(out, "\"optimizer_state\":\t272");
    CHECK_CONTAINS(out, "\"batch\":\t32");
    snprintf(arguments, sizeof arguments, "check --batch 8 '%s'", path);
    CHECK_INT(run_cnnrun(arguments, out, sizeof out), 0);
    CHECK_CONTAINS(out, "training memory at batch 8 (adam):");

    /* a bad section: exit 1, the message on stderr */
    snprintf(arguments, sizeof arguments, "check '%s/tests/specs/bad_train/momentum_one.yaml'",
             CNNRUN_SOURCE_DIR);
    CHECK_INT(run_cnnrun(arguments, out, sizeof out), 1);
    CHECK_CONTAINS(out, "momentum_one.yaml:7:36: 'optimizer.momentum' must be in [0, 1), got 1");
    remove(path);
    rmdir(dir);
}

/* The loss, clipping and early stopping keys, and what they imply. */
static void test_loss_and_controls(void) {
    cr_train_config c;
    cr_model *model = parse(MODEL "train:\n"
                                  "  loss: {type: cross_entropy, label_smoothing: 0.1,\n"
                                  "         class_weights: [1, 2, 3, 4, 5, 6, 7, 8, 9, 0.5]}\n"
                                  "  clip_grad_norm: 1.5\n"
                                  "  early_stopping: {patience: 3, min_delta: 0.01, monitor: "
                                  "val_accuracy}\n",
                            "models/m.yaml", &c);
    CHECK(model != NULL);
    if (model) {
        CHECK_INT(c.loss.type, CR_LOSS_CROSS_ENTROPY);
        CHECK_NEAR(c.loss.label_smoothing, 0.1, 1e-7);
        CHECK_INT(c.loss.n_class_weights, 10);
        CHECK_NEAR(c.loss.class_weights[1], 2, 0);
        CHECK_NEAR(c.loss.class_weights[9], 0.5, 0);
        CHECK_NEAR(c.clip_grad_norm, 1.5, 0);
        CHECK_INT(c.early_stopping.patience, 3);
        CHECK_NEAR(c.early_stopping.min_delta, 0.01, 1e-9);
        CHECK_INT(c.early_stopping.monitor, CR_MONITOR_VAL_ACCURACY);
        CHECK_INT(c.loss_mark.line, 5);
    }
    cr_model_free(model);

    /* early_stopping's monitor defaults to val_loss; without it best is by accuracy. */
    model = parse(MODEL "train:\n  early_stopping: {patience: 1}\n", "m.yaml", &c);
    CHECK(model && c.early_stopping.monitor == CR_MONITOR_VAL_LOSS && c.loss.type == 0);
    cr_model_free(model);
    model = parse(MODEL "train:\n  loss: binary_cross_entropy\n", "m.yaml", &c);
    CHECK(model && c.loss.type == CR_LOSS_BINARY_CROSS_ENTROPY && c.clip_grad_norm == 0 &&
          c.early_stopping.patience == 0 && c.early_stopping.monitor == CR_MONITOR_VAL_ACCURACY);
    cr_model_free(model);
    /* mse: best by the loss; csv files relative to the model file's folder. */
    model = parse(MODEL "train:\n"
                        "  data: {format: csv, train: d/train.csv, test: /abs/test.csv}\n"
                        "  loss: mse\n",
                  "models/m.yaml", &c);
    CHECK(model != NULL);
    if (model) {
        CHECK_INT(c.data.format, CR_DATA_CSV);
        CHECK(strcmp(c.data.train_dir, "models/d/train.csv") == 0);
        CHECK(strcmp(c.data.test_dir, "/abs/test.csv") == 0);
        CHECK_INT(c.early_stopping.monitor, CR_MONITOR_VAL_LOSS);
    }
    cr_model_free(model);
}

/* docs/training.md's table of every train-section key with its default is
 * cr_train_keys, row for row: generated from the table (this program with
 * --print-table prints it), so it cannot drift. */
static void print_key_table(FILE *out) {
    fprintf(out, "| key | default | what it is |\n|---|---|---|\n");
    for (int i = 0; i < cr_train_key_count; i++) {
        const cr_train_key *k = &cr_train_keys[i];
        char name[96], fallback[64];
        snprintf(name, sizeof name, "%s%s%s", k->section, k->section[0] ? "." : "", k->name);
        const char *d = k->default_json;
        if (!d)
            snprintf(fallback, sizeof fallback, "—");
        else if (d[0] == '"')
            snprintf(fallback, sizeof fallback, "`%.*s`", (int)strlen(d) - 2, d + 1);
        else
            snprintf(fallback, sizeof fallback, "`%s`", d);
        fprintf(out, "| `%s` | %s | ", name, fallback);
        /* A | in a description would end the cell. */
        for (const char *c = k->description; *c; c++) fprintf(out, *c == '|' ? "\\|" : "%c", *c);
        fprintf(out, " |\n");
    }
}

static void test_docs_key_table(void) {
    FILE *docs = fopen(CNNRUN_SOURCE_DIR "/docs/training.md", "r");
    CHECK(docs != NULL);
    if (!docs) return;
    static char text[200000];
    size_t length = fread(text, 1, sizeof text - 1, docs);
    text[length] = '\0';
    fclose(docs);
    const char *begin = strstr(text, "<!-- train keys: begin"),
               *end = strstr(text, "<!-- train keys: end");
    CHECK(begin && end && begin < end);
    if (!begin || !end) return;
    begin = strchr(begin, '\n') + 1;
    char *expected = NULL;
    size_t size = 0;
    FILE *memory = open_memstream(&expected, &size);
    print_key_table(memory);
    fclose(memory);
    bool same = (size_t)(end - begin) == size && memcmp(begin, expected, size) == 0;
    if (!same)
        fprintf(stderr,
                "docs/training.md's table of train-section keys is not cr_train_keys: replace it "
                "with the output of build/test_train_config --print-table:\n%s",
                expected);
    CHECK(same);
    free(expected);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--print-table") == 0) {
        print_key_table(stdout);
        return 0;
    }
    test_loss_and_controls();
    test_docs_key_table();
    test_defaults();
    test_every_key();
    test_augment_list();
    test_adam_and_cosine();
    test_shorthands();
    test_data_folders();
    test_merges();
    test_bad_corpus();
    test_check_command();
    return check_report();
}
