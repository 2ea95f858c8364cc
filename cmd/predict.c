/* cnnrun predict: the most likely classes of image files and of every
 * image under folders, in batches, as text, JSON or CSV. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "image_files.h"
#include "loss.h"
#include "parallel.h"
#include "print.h"
#include "run_limits.h"
#include "train.h"

typedef struct predict_args {
    const char *path, *weights;
    int top, batch_size, threads;
    bool json, csv, quiet;
    char **images;
    int n_images;
} predict_args;

#define PREDICT_OPTION(field) .offset = offsetof(predict_args, field)
static const cli_option predict_options[] = {
    {.name = "weights",
     .type = CLI_PATH,
     PREDICT_OPTION(weights),
     .arg = "W.safetensors",
     .help = "the weights to classify with",
     .required = "missing --weights W.safetensors",
     .complete = "safetensors"},
    {.name = "top",
     .type = CLI_INT,
     PREDICT_OPTION(top),
     .min = 1,
     .arg = "K",
     .help = "the K most likely classes per image (default 5)"},
    {.name = "batch-size",
     .type = CLI_INT,
     PREDICT_OPTION(batch_size),
     .min = 1,
     .arg = "B",
     .help =
         "images per forward pass (default 32); another size changes probabilities only by float "
         "rounding"},
    {.name = "threads",
     .type = CLI_INT,
     PREDICT_OPTION(threads),
     .min = 1,
     .arg = "N",
     .help = "threads for decoding and the forward pass (default: every core)"},
    {.name = "quiet",
     .type = CLI_FLAG,
     PREDICT_OPTION(quiet),
     .help = "no line about the model's warnings (cnnrun check lists them)"},
    {.name = "json",
     .type = CLI_FLAG,
     PREDICT_OPTION(json),
     .help = "one JSON document: a list with one object per image, {image, top: [{class, "
             "name, probability}, ...]}, probabilities at full float precision"},
    {.name = "csv",
     .type = CLI_FLAG,
     PREDICT_OPTION(csv),
     .help = "CSV with the header image,rank,class,name,probability: one row per image and "
             "class (K rows per image, rank 1 the most likely), probabilities at full float "
             "precision"},
};
static const cli_positional predict_positionals[] = {
    MODEL_POSITIONAL(predict_args, path),
    {.name = "IMAGE",
     PREDICT_OPTION(images),
     .many = true,
     .count_offset = offsetof(predict_args, n_images),
     .missing = "no image files or folders given",
     .complete = "image"},
};

const cli_spec predict_spec = {
    CLI_TABLES(predict_options, predict_positionals),
    .description =
        "Classifies image files, and every image under folders (searched recursively;\n"
        "a file is an image by its content, PNG, JPEG, BMP, GIF, PGM/PPM, TGA, ..., not\n"
        "by its name: a folder's other files are skipped with a note, a named file that\n"
        "is not an image is an error). Each image is converted to the model's channels\n"
        "and size and normalised, and the K most likely classes are printed with their\n"
        "probabilities (the train section's loss decides: cross_entropy a softmax over\n"
        "the classes, binary_cross_entropy one sigmoid per output, mse the outputs\n"
        "themselves, printed as values). Normalisation and class names come from the\n"
        "weights when they record them (cnnrun info: weights cnnrun train writes do),\n"
        "else from the train section and its data set, else classes are shown by\n"
        "number.\n",
    .exit_status = "0 every image classified, 1 invalid model or weights, a file that is not an "
                   "image or does not decode, 2 usage error or unreadable file.",
};

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

/* How results go out: one of three forms, with what they share. */
typedef struct output {
    bool json, csv;
    int loss_type; /* cr_loss_type: what the outputs mean (cr_output_scores) */
    int top, classes;
    const cr_dataset *names; /* NULL: classes by number */
    cJSON *document;         /* --json: the list, printed at the end */
    ranked *order;           /* scratch for `classes` entries */
} output;

/* mse: the outputs are values, not probabilities. */
static bool shows_values(const output *out) {
    return out->loss_type == CR_LOSS_MSE;
}

static const char *class_name(const output *out, int index) {
    const cr_dataset *names = out->names;
    return names && names->class_names && index < names->classes ? names->class_names[index] : NULL;
}

/* {image, top: [{class, name, probability}, ...]}; name is null without
 * class names. A float converted to double prints exactly (cJSON writes up
 * to 17 significant digits). */
static cJSON *top_classes_json(const output *out, const char *image) {
    cJSON *item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "image", image);
    cJSON *list = cJSON_AddArrayToObject(item, "top");
    for (int k = 0; k < out->top && k < out->classes; k++) {
        cJSON *entry = cJSON_CreateObject();
        int index = out->order[k].index;
        cJSON_AddNumberToObject(entry, "class", index);
        if (class_name(out, index))
            cJSON_AddStringToObject(entry, "name", class_name(out, index));
        else
            cJSON_AddNullToObject(entry, "name");
        cJSON_AddNumberToObject(entry, shows_values(out) ? "value" : "probability",
                                (double)out->order[k].probability);
        cJSON_AddItemToArray(list, entry);
    }
    return item;
}

/* A CSV field (RFC 4180): quoted when it holds a comma, quote or line break. */
static void print_csv_field(const char *text) {
    if (!strpbrk(text, ",\"\r\n")) {
        fputs(text, stdout);
        return;
    }
    putchar('"');
    for (const char *c = text; *c; c++) {
        if (*c == '"') putchar('"');
        putchar(*c);
    }
    putchar('"');
}

/* K rows: image,rank,class,name,probability; the probability as the shortest
 * text that reads back to the same float. */
static void print_csv_rows(const output *out, const char *image) {
    for (int k = 0; k < out->top && k < out->classes; k++) {
        int index = out->order[k].index;
        print_csv_field(image);
        printf(",%d,%d,", k + 1, index);
        if (class_name(out, index)) print_csv_field(class_name(out, index));
        char probability[32];
        printf(",%s\n", cr_float_text(out->order[k].probability, probability, sizeof probability));
    }
}

static void print_text(const output *out, const char *image) {
    char path[4200];
    cr_escape_text(image, path, sizeof path);
    printf("%s\n", path);
    for (int k = 0; k < out->top && k < out->classes; k++) {
        char label[160];
        const char *name = class_text(out->names, out->order[k].index, label, sizeof label);
        if (shows_values(out))
            printf("  %10.6g  %s\n", (double)out->order[k].probability, name);
        else
            printf("  %6.2f%%  %s\n", 100.0 * out->order[k].probability, name);
    }
}

static void emit(output *out, const char *image, const float *probabilities) {
    rank_classes(probabilities, out->classes, out->order);
    if (out->document)
        cJSON_AddItemToArray(out->document, top_classes_json(out, image));
    else if (out->csv)
        print_csv_rows(out, image);
    else
        print_text(out, image);
}

/* Every argument as images: files, and folders searched. Each bad
 * argument is reported (its exit code kept in *code) and the rest go on;
 * files a folder holds that are not images get a note. */
static void collect_images(char **arguments, int n, cr_image_list *list, int *code) {
    for (int i = 0; i < n; i++) {
        cr_error err = {0};
        int skipped_before = list->skipped;
        if (cr_image_list_add(list, arguments[i], &err)) {
            int c = report(&err);
            if (c > *code) *code = c;
            continue;
        }
        for (int s = skipped_before; s < list->skipped; s++) {
            char path[4200];
            cr_escape_text(list->skipped_paths[s], path, sizeof path);
            fprintf(stderr, "note: skipped %s: not an image\n", path);
        }
    }
}

/* The batches: decoded together on the threads, one forward each, then
 * each image's classes out in order. An image that does not decode is
 * reported and left out. */
static int predict_all(cr_net *net, const cr_model *model, const cr_transform *transform,
                       const cr_image_list *list, int batch, output *out, int *code) {
    int64_t size = cr_shape_size(model->input);
    bool *ok = malloc((size_t)batch * sizeof *ok);
    cr_error *errs = calloc((size_t)batch, sizeof *errs);
    float *probabilities = malloc((size_t)out->classes * sizeof *probabilities);
    float *staging = malloc((size_t)(batch * size) * sizeof *staging);
    int status = ok && errs && probabilities && staging ? 0 : 1;
    for (int first = 0; !status && first < list->count; first += batch) {
        int n = list->count - first < batch ? list->count - first : batch;
        const char *const *paths = (const char *const *)list->paths + first;
        cr_image_load_batch(paths, n, model->input, transform, staging, ok, errs);
        /* The decoded images packed at the front of the network's input. */
        int packed = 0;
        float *input = cr_net_input(net);
        for (int i = 0; i < n; i++) {
            if (!ok[i]) {
                int c = report(&errs[i]);
                if (c > *code) *code = c;
                continue;
            }
            memcpy(input + packed * size, staging + i * size, (size_t)size * sizeof *input);
            packed++;
        }
        if (!packed) continue;
        cr_net_set_batch(net, packed);
        cr_net_forward(net, false);
        for (int i = 0, slot = 0; i < n; i++) {
            if (!ok[i]) continue;
            cr_output_scores(net, slot++, out->loss_type, probabilities);
            emit(out, paths[i], probabilities);
        }
    }
    if (status) fprintf(stderr, "cnnrun predict: out of memory\n");
    free(ok);
    free(errs);
    free(probabilities);
    free(staging);
    return status;
}

/* Class names: those the weights record, else the train section's data
 * set's when it is installed (else none: classes by number). */
static bool data_set_names(const cr_train_config *config, const cr_model *model,
                           cr_dataset *names) {
    cr_error ignored;
    return cr_data_load(&config->data, true, model->input, names, &ignored) == 0;
}

int cmd_predict(int argc, char **argv) {
    predict_args args = {.top = 5, .batch_size = 32};
    if (cli_parse(&predict_spec, argc, argv, &args)) return 2;
    if (args.json && args.csv)
        return cli_usage_error("predict", "%s", "--json and --csv do not go together");
    cr_set_threads(args.threads);
    cr_model *model = NULL;
    cr_train_config config;
    cr_error err = {0};
    cr_weights_info info = {0};
    if (cr_check_threads(&err) ||
        load_for_training(args.path, NULL, args.quiet, &model, &config, &err) ||
        read_recorded(args.weights, model, &config.transform, &info, &err)) {
        cr_model_free(model);
        return report(&err);
    }
    int code = 0;
    cr_image_list list = {0};
    collect_images(args.images, args.n_images, &list, &code);
    if (list.count == 0 && code == 0) {
        fprintf(stderr, "cnnrun predict: no images in %s\n",
                args.n_images == 1 ? args.images[0] : "the folders given");
        code = 1;
    }
    int batch = list.count < args.batch_size ? list.count : args.batch_size;
    cr_net *net = NULL;
    if (batch > 0 && load_inference_net(model, args.weights, batch, &net, &err))
        code = report(&err);
    cr_dataset names = recorded_names(&info), data_names = {0};
    bool have_data_names = net && !info.classes && data_set_names(&config, model, &data_names);
    int classes = (int)cr_shape_size(model->layers[model->output].out);
    output out = {
        .json = args.json,
        .csv = args.csv,
        .loss_type = config.loss.type,
        .top = args.top,
        .classes = classes,
        .names = info.classes      ? &names
                 : have_data_names ? &data_names
                                   : NULL,
        .document = args.json ? cJSON_CreateArray() : NULL,
        .order = malloc((size_t)classes * sizeof(ranked)),
    };
    if (net && args.csv)
        printf("image,rank,class,name,%s\n", shows_values(&out) ? "value" : "probability");
    if (net &&
        (!out.order || predict_all(net, model, &config.transform, &list, batch, &out, &code)))
        code = 1;
    /* --json: one document after every image, so a script reads one value. */
    if (out.document && (net || !code)) {
        if (print_json(out.document)) code = 1;
    } else {
        cJSON_Delete(out.document);
    }
    free(out.order);
    if (have_data_names) cr_dataset_free(&data_names);
    cr_image_list_free(&list);
    cr_weights_info_free(&info);
    cr_net_free(net);
    cr_model_free(model);
    return code;
}
