/* cnnrun eval: weights on the test set (accuracy, per class, confusion
 * matrix), as text or JSON. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "parallel.h"
#include "train.h"
#include "print.h"

typedef struct eval_args {
    const char *path, *weights, *data;
    int batch, threads; /* 0: the train section's batch_size / every core */
    bool quiet, json;
} eval_args;

static const cli_option eval_options[] = {
    {.name = "weights",
     .type = CLI_PATH,
     .offset = offsetof(eval_args, weights),
     .arg = "W.safetensors",
     .help = "the weights to evaluate (e.g. a run folder's best.safetensors)",
     .required = "missing --weights W.safetensors (e.g. from a run folder: "
                 "runs/NAME/best.safetensors)",
     .complete = "safetensors"},
    {.name = "data",
     .type = CLI_STRING,
     .offset = offsetof(eval_args, data),
     .arg = "D",
     .help = "the data set instead of the train section's, as for train"},
    {.name = "batch-size",
     .type = CLI_INT,
     .offset = offsetof(eval_args, batch),
     .min = 1,
     .arg = "B",
     .help = "images per forward pass (default: the train section's batch_size)"},
    {.name = "threads",
     .type = CLI_INT,
     .offset = offsetof(eval_args, threads),
     .min = 1,
     .arg = "N",
     .help = "threads (default: every core)"},
    {.name = "quiet",
     .type = CLI_FLAG,
     .offset = offsetof(eval_args, quiet),
     .help = "no line about the model's warnings (cnnrun check lists them)"},
    {.name = "json",
     .type = CLI_FLAG,
     .offset = offsetof(eval_args, json),
     .help = "one JSON document: loss, accuracy, images, per class {class, name, images, "
             "correct, accuracy, precision} and the confusion matrix (a list of rows), the "
             "figures at full precision"},
};
static const cli_positional eval_positionals[] = {MODEL_POSITIONAL(eval_args, path)};

const cli_spec eval_spec = {
    CLI_TABLES(eval_options, eval_positionals),
    .description = "Runs the model in inference mode over the test split of its train section's\n"
                   "data (or --data D) with the section's normalisation, and prints the mean\n"
                   "cross-entropy, the accuracy, the accuracy per class and the confusion matrix\n"
                   "(rows: true class, columns: predicted), with class names: those the weights\n"
                   "record (cnnrun info), else the data set's, else class numbers. The weights'\n"
                   "recorded normalisation, when they have one, replaces the train section's.\n",
    .exit_status =
        "0 evaluated, 1 invalid model, weights or data, 2 usage error or unreadable file.",
};

static void print_confusion(const cr_dataset *data, const int64_t *confusion, int classes) {
    char label[160], number[32];
    int label_width = 5, count_width = 3;
    for (int c = 0; c < classes; c++) {
        int n = display_width(class_text(data, c, label, sizeof label));
        if (n > label_width) label_width = n;
    }
    for (int i = 0; i < classes * classes; i++) {
        int n = (int)strlen(grouped(confusion[i], number, sizeof number));
        if (n > count_width) count_width = n;
    }
    printf("\nconfusion matrix (rows: true class, columns: predicted class)\n");
    print_cell("", label_width, 1);
    for (int c = 0; c < classes; c++) {
        snprintf(number, sizeof number, "%d", c);
        print_cell(number, -count_width, c + 1 < classes);
    }
    putchar('\n');
    for (int t = 0; t < classes; t++) {
        print_cell(class_text(data, t, label, sizeof label), label_width, 1);
        for (int p = 0; p < classes; p++)
            print_cell(grouped(confusion[(int64_t)t * classes + p], number, sizeof number),
                       -count_width, p + 1 < classes);
        putchar('\n');
    }
}

/* One row per class: its accuracy and image count. */
static void print_class_accuracy(const cr_dataset *test, const int64_t *confusion, int classes) {
    char label[160], count[32];
    int label_width = 5;
    for (int c = 0; c < classes; c++) {
        int n = display_width(class_text(test, c, label, sizeof label));
        if (n > label_width) label_width = n;
    }
    print_cell("class", label_width, 2);
    print_cell("accuracy", -9, 2);
    print_cell("images", -8, 0);
    putchar('\n');
    for (int c = 0; c < classes; c++) {
        int64_t total = 0;
        for (int p = 0; p < classes; p++) total += confusion[(int64_t)c * classes + p];
        char percent[32];
        if (total)
            snprintf(percent, sizeof percent, "%.2f%%",
                     100.0 * (double)confusion[(int64_t)c * classes + c] / (double)total);
        else
            snprintf(percent, sizeof percent, "-");
        print_cell(class_text(test, c, label, sizeof label), label_width, 2);
        print_cell(percent, -9, 2);
        print_cell(grouped(total, count, sizeof count), -8, 0);
        putchar('\n');
    }
}

static void print_evaluation(const char *model_name, const char *weights, const cr_dataset *test,
                             const int64_t *confusion, int classes, double loss, double accuracy) {
    char a[32], b[32];
    printf("model '%s', weights %s\ndata: %s (%s images)\n\n", model_name, weights, test->source,
           grouped(test->count, a, sizeof a));
    int64_t right = 0;
    for (int c = 0; c < classes; c++) right += confusion[(int64_t)c * classes + c];
    printf("loss %.4f  accuracy %.2f%% (%s of %s)\n\n", loss, 100 * accuracy,
           grouped(right, a, sizeof a), grouped(test->count, b, sizeof b));
    print_class_accuracy(test, confusion, classes);
    print_confusion(test, confusion, classes);
}

/* binary_cross_entropy: accuracy per image × output and exact matches;
 * mse: the loss and its root. */
static void print_target_evaluation(const char *model_name, const char *weights,
                                    const cr_dataset *test, const cr_loss_config *loss_config,
                                    double loss, double accuracy, double exact) {
    char a[32];
    printf("model '%s', weights %s\ndata: %s (%s images)\n\n", model_name, weights, test->source,
           grouped(test->count, a, sizeof a));
    if (loss_config->type == CR_LOSS_MSE)
        printf("loss (mse) %.6g  rmse %.6g\n", loss, sqrt(loss));
    else
        printf("loss (binary cross-entropy) %.4f  accuracy per output %.2f%%  exact match %.2f%%\n",
               loss, 100 * accuracy, 100 * exact);
}

/* What every eval --json document starts with: {model, weights, data, images}. */
static cJSON *evaluation_json(const char *model_name, const char *weights, const cr_dataset *test) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", model_name);
    cJSON_AddStringToObject(root, "weights", weights);
    cJSON_AddStringToObject(root, "data", test->source ? test->source : "");
    cJSON_AddNumberToObject(root, "images", test->count);
    return root;
}

/* --json for binary_cross_entropy and mse: {model, weights, data, images,
 * loss, and accuracy and exact_match (binary_cross_entropy) or rmse (mse)}. */
static void print_target_json(const char *model_name, const char *weights, const cr_dataset *test,
                              const cr_loss_config *loss_config, double loss, double accuracy,
                              double exact) {
    cJSON *root = evaluation_json(model_name, weights, test);
    cJSON_AddStringToObject(root, "loss_type", cr_loss_name(loss_config->type));
    cJSON_AddNumberToObject(root, "loss", loss);
    if (loss_config->type == CR_LOSS_MSE) {
        cJSON_AddNumberToObject(root, "rmse", sqrt(loss));
    } else {
        cJSON_AddNumberToObject(root, "accuracy", accuracy);
        cJSON_AddNumberToObject(root, "exact_match", exact);
    }
    print_json(root);
}

/* A class's figures from the confusion matrix: images of it, right, and
 * images predicted as it. */
static void class_counts(const int64_t *confusion, int classes, int c, int64_t *images,
                         int64_t *right, int64_t *predicted) {
    *images = *predicted = 0;
    for (int k = 0; k < classes; k++) {
        *images += confusion[(int64_t)c * classes + k];
        *predicted += confusion[(int64_t)k * classes + c];
    }
    *right = confusion[(int64_t)c * classes + c];
}

static cJSON *ratio_json(int64_t part, int64_t whole) {
    return whole ? cJSON_CreateNumber((double)part / (double)whole) : cJSON_CreateNull();
}

/* --json: {model, weights, data, images, loss, accuracy, correct, classes:
 * [{class, name, images, correct, accuracy, precision}], confusion: [[...]]}. */
static void print_evaluation_json(const char *model_name, const char *weights,
                                  const cr_dataset *test, const int64_t *confusion, int classes,
                                  double loss, double accuracy) {
    cJSON *root = evaluation_json(model_name, weights, test);
    cJSON_AddNumberToObject(root, "loss", loss);
    cJSON_AddNumberToObject(root, "accuracy", accuracy);
    cJSON *list = cJSON_AddArrayToObject(root, "classes");
    cJSON *matrix = cJSON_AddArrayToObject(root, "confusion");
    int64_t all_right = 0;
    for (int c = 0; c < classes; c++) {
        int64_t images, right, predicted;
        class_counts(confusion, classes, c, &images, &right, &predicted);
        all_right += right;
        cJSON *item = cJSON_CreateObject();
        cJSON_AddNumberToObject(item, "class", c);
        if (test->class_names && c < test->classes)
            cJSON_AddStringToObject(item, "name", test->class_names[c]);
        else
            cJSON_AddNullToObject(item, "name");
        cJSON_AddNumberToObject(item, "images", (double)images);
        cJSON_AddNumberToObject(item, "correct", (double)right);
        cJSON_AddItemToObject(item, "accuracy", ratio_json(right, images));
        cJSON_AddItemToObject(item, "precision", ratio_json(right, predicted));
        cJSON_AddItemToArray(list, item);
        cJSON *row = cJSON_CreateArray();
        for (int p = 0; p < classes; p++)
            cJSON_AddItemToArray(row,
                                 cJSON_CreateNumber((double)confusion[(int64_t)c * classes + p]));
        cJSON_AddItemToArray(matrix, row);
    }
    cJSON_AddNumberToObject(root, "correct", (double)all_right);
    print_json(root);
}

int cmd_eval(int argc, char **argv) {
    eval_args args = {0};
    if (cli_parse(&eval_spec, argc, argv, &args)) return 2;
    const char *path = args.path, *weights = args.weights, *data = args.data;
    int batch = args.batch;
    cr_set_threads(args.threads);
    cr_model *model;
    cr_train_config config;
    cr_error err = {0};
    if (load_for_training(path, data, args.quiet, &model, &config, &err)) return report(&err);
    if (!batch) batch = config.batch_size;
    cr_dataset test = {0};
    cr_net *net = NULL;
    cr_weights_info info = {0};
    int classes = (int)cr_shape_size(model->layers[model->output].out);
    int64_t *confusion = calloc((size_t)classes * (size_t)classes, sizeof *confusion);
    double loss = 0, accuracy = 0;
    int status = confusion ? 0 : cr_fail(&err, CR_ERR_RUNTIME, (cr_mark){0}, NULL, "out of memory");
    if (!status) status = read_recorded(weights, model, &config.transform, &info, &err);
    if (!status) status = cr_data_load(&config.data, true, model->input, &test, &err);
    if (!status) status = cr_check_data_for_loss(model, &config.loss, &test, &err);
    /* Batches beyond the test set would only plan memory for nothing. */
    if (!status && test.count > 0 && batch > test.count) batch = test.count;
    if (!status) status = load_inference_net(model, weights, batch, &net, &err);
    bool by_class = config.loss.type == CR_LOSS_CROSS_ENTROPY;
    double exact = 0;
    if (!status)
        status = cr_evaluate_loss(net, &test, &config.transform, &config.loss,
                                  by_class ? confusion : NULL, &loss, &accuracy, &exact, &err);
    int code = status ? report(&err) : 0;
    /* The names the weights record first, then the data set's. */
    cr_dataset shown = test;
    if (info.classes > 0) {
        shown.class_names = info.class_names;
        shown.classes = info.classes;
    }
    if (!status && by_class && args.json)
        print_evaluation_json(model->name, weights, &shown, confusion, classes, loss, accuracy);
    else if (!status && by_class)
        print_evaluation(model->name, weights, &shown, confusion, classes, loss, accuracy);
    else if (!status && args.json)
        print_target_json(model->name, weights, &test, &config.loss, loss, accuracy, exact);
    else if (!status)
        print_target_evaluation(model->name, weights, &test, &config.loss, loss, accuracy, exact);
    cr_weights_info_free(&info);
    free(confusion);
    cr_net_free(net);
    cr_dataset_free(&test);
    cr_model_free(model);
    return code;
}
