/* cnnrun eval (weights on the test set: accuracy, per class, confusion
 * matrix) and cnnrun predict (image files: the most likely classes). */
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
    bool quiet;
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
};
static const cli_positional eval_positionals[] = {MODEL_POSITIONAL(eval_args, path)};

const cli_spec eval_spec = {
    CLI_TABLES(eval_options, eval_positionals),
    .description = "Runs the model in inference mode over the test split of its train section's\n"
                   "data (or --data D) with the section's normalisation, and prints the mean\n"
                   "cross-entropy, the accuracy, the accuracy per class and the confusion matrix\n"
                   "(rows: true class, columns: predicted), with class names where the data set\n"
                   "has them.\n",
    .exit_status =
        "0 evaluated, 1 invalid model, weights or data, 2 usage error or unreadable file.",
};

typedef struct predict_args {
    const char *path, *weights;
    int top;
    bool json;
    char **images;
    int n_images;
    bool quiet;
} predict_args;

static const cli_option predict_options[] = {
    {.name = "weights",
     .type = CLI_PATH,
     .offset = offsetof(predict_args, weights),
     .arg = "W.safetensors",
     .help = "the weights to classify with",
     .required = "missing --weights W.safetensors",
     .complete = "safetensors"},
    {.name = "top",
     .type = CLI_INT,
     .offset = offsetof(predict_args, top),
     .min = 1,
     .arg = "K",
     .help = "the K most likely classes per image (default 5)"},
    {.name = "quiet",
     .type = CLI_FLAG,
     .offset = offsetof(predict_args, quiet),
     .help = "no line about the model's warnings (cnnrun check lists them)"},
    {.name = "json",
     .type = CLI_FLAG,
     .offset = offsetof(predict_args, json),
     .help = "one JSON document: a list with one object per image, {image, top: [{class,\n"
             "name, probability}, ...]}, probabilities at full float precision"},
};
static const cli_positional predict_positionals[] = {
    MODEL_POSITIONAL(predict_args, path),
    {.name = "IMAGE",
     .offset = offsetof(predict_args, images),
     .many = true,
     .count_offset = offsetof(predict_args, n_images),
     .missing = "no image files given",
     .complete = "image"},
};

const cli_spec predict_spec = {
    CLI_TABLES(predict_options, predict_positionals),
    .description = "Decodes each image (PNG, JPEG, BMP, PGM, ...), converts it to the model's\n"
                   "channels and size, normalises it as the train section says, and prints the\n"
                   "K most likely classes with their probabilities. Class names come from the\n"
                   "train section's data set when it is installed, else classes are shown by\n"
                   "number.\n",
    .exit_status = "0 every image classified, 1 invalid model or weights or an undecodable image, "
                   "2 usage error or unreadable file.",
};

/* Class `index` as "3 Dress", or "3" when the data set has no names. The
 * name comes from a folder or a file: escaped before it reaches the terminal. */
static const char *class_text(const cr_dataset *names, int index, char *out, size_t size) {
    if (names && names->class_names && index < names->classes) {
        char name[128];
        cr_escape_text(names->class_names[index], name, sizeof name);
        snprintf(out, size, "%d %s", index, name);
    } else
        snprintf(out, size, "%d", index);
    return out;
}

/* The model with weights loaded, for inference on batches of `batch`. */
static int load_inference_net(cr_model *model, const char *weights, int batch, cr_net **net,
                              cr_error *err) {
    cr_net_options options = {.seed = 0, .fuse_inference = true};
    if (cr_net_create(model, batch, &options, net, err)) return 1;
    if (cr_net_load_weights(*net, weights, err)) {
        cr_net_free(*net);
        *net = NULL;
        return 1;
    }
    return 0;
}

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
    int classes = (int)cr_shape_size(model->layers[model->output].out);
    int64_t *confusion = calloc((size_t)classes * (size_t)classes, sizeof *confusion);
    double loss = 0, accuracy = 0;
    int status = confusion ? 0 : cr_fail(&err, CR_ERR_RUNTIME, (cr_mark){0}, NULL, "out of memory");
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
    if (!status && by_class)
        print_evaluation(model->name, weights, &test, confusion, classes, loss, accuracy);
    else if (!status)
        print_target_evaluation(model->name, weights, &test, &config.loss, loss, accuracy, exact);
    free(confusion);
    cr_net_free(net);
    cr_dataset_free(&test);
    cr_model_free(model);
    return code;
}

typedef struct ranked {
    int index;
    float probability;
} ranked;

static int by_probability(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->probability != y->probability) return x->probability < y->probability ? 1 : -1;
    return x->index - y->index;
}

/* Ranks the classes, most likely first, into `order` (`classes` entries). */
static void rank_classes(const float *probabilities, int classes, ranked *order) {
    for (int c = 0; c < classes; c++) order[c] = (ranked){c, probabilities[c]};
    qsort(order, (size_t)classes, sizeof *order, by_probability);
}

/* The `top` most likely classes, most likely first; `order` is scratch
 * for `classes` entries. */
static void print_top_classes(const float *probabilities, int classes, int top,
                              const cr_dataset *names, ranked *order) {
    rank_classes(probabilities, classes, order);
    for (int k = 0; k < top && k < classes; k++) {
        char label[160];
        printf("  %6.2f%%  %s\n", 100.0 * order[k].probability,
               class_text(names, order[k].index, label, sizeof label));
    }
}

/* {image, top: [{class, name, probability}, ...]} for one image; name is
 * null without class names. A float converted to double prints exactly
 * (cJSON writes up to 17 significant digits). */
static cJSON *top_classes_json(const char *image, const float *probabilities, int classes, int top,
                               const cr_dataset *names, ranked *order) {
    rank_classes(probabilities, classes, order);
    cJSON *item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "image", image);
    cJSON *list = cJSON_AddArrayToObject(item, "top");
    for (int k = 0; k < top && k < classes; k++) {
        cJSON *entry = cJSON_CreateObject();
        int index = order[k].index;
        cJSON_AddNumberToObject(entry, "class", index);
        if (names && names->class_names && index < names->classes)
            cJSON_AddStringToObject(entry, "name", names->class_names[index]);
        else
            cJSON_AddNullToObject(entry, "name");
        cJSON_AddNumberToObject(entry, "probability", (double)order[k].probability);
        cJSON_AddItemToArray(list, entry);
    }
    return item;
}

int cmd_predict(int argc, char **argv) {
    predict_args args = {.top = 5};
    if (cli_parse(&predict_spec, argc, argv, &args)) return 2;
    const char *path = args.path, *weights = args.weights;
    int top = args.top, n_images = args.n_images, code = 0;
    char **images = args.images;
    cr_model *model;
    cr_train_config config;
    cr_error err = {0};
    if (load_for_training(path, NULL, args.quiet, &model, &config, &err)) return report(&err);
    cr_net *net = NULL;
    int classes = (int)cr_shape_size(model->layers[model->output].out);
    float *probabilities = malloc((size_t)classes * sizeof *probabilities);
    ranked *order = malloc((size_t)classes * sizeof *order);
    int status = probabilities && order
                     ? 0
                     : cr_fail(&err, CR_ERR_RUNTIME, (cr_mark){0}, NULL, "out of memory");
    if (!status) status = load_inference_net(model, weights, 1, &net, &err);
    if (status) code = report(&err);
    /* Class names come with the data set; without it (not installed, or
     * another machine) the classes are shown by number. */
    cr_dataset names = {0};
    cr_error ignored;
    bool have_names =
        !status && cr_data_load(&config.data, true, model->input, &names, &ignored) == 0;
    /* --json: one document after every image, so a script reads one value. */
    cJSON *document = args.json && !status ? cJSON_CreateArray() : NULL;
    for (int i = 0; i < n_images && !status; i++) {
        if (cr_image_load(images[i], model->input, &config.transform, cr_net_input(net), &err)) {
            code = report(&err);
            continue;
        }
        cr_net_forward(net, false);
        cr_output_probabilities(net, 0, probabilities);
        if (document) {
            cJSON_AddItemToArray(document, top_classes_json(images[i], probabilities, classes, top,
                                                            have_names ? &names : NULL, order));
            continue;
        }
        printf("%s\n", images[i]);
        print_top_classes(probabilities, classes, top, have_names ? &names : NULL, order);
    }
    if (document) {
        char *text = cJSON_Print(document);
        if (text) printf("%s\n", text);
        free(text);
        cJSON_Delete(document);
    }
    if (have_names) cr_dataset_free(&names);
    free(probabilities);
    free(order);
    cr_net_free(net);
    cr_model_free(model);
    return code;
}
