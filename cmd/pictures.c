/* The commands that draw a model's insides: apply (a layer's output for an
 * image), features (several layers' outputs) and filters (a conv layer's
 * kernels). docs/visualise.md shows them; plot.c draws a run's curves. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stb/stb_image.h>

#include "commands.h"
#include "image_out.h"
#include "print.h"
#include "train.h"

/* What apply, features and filters take; each uses its part. */
typedef struct picture_args {
    const char *model, *image, *out, *weights, *layers;
    int scale; /* index into scale_names */
    int channel;
} picture_args;

static const char *const scale_names[] = {"minmax", "clip", NULL};
static const cr_scale scales[] = {CR_SCALE_MINMAX, CR_SCALE_CLIP};

#define PICTURE_FIELD(field) .offset = offsetof(picture_args, field)
#define WEIGHTS_OPTION                                                                             \
    {                                                                                              \
        .name = "weights", .type = CLI_PATH, PICTURE_FIELD(weights), .arg = "W.safetensors",       \
        .complete = "safetensors",                                                                 \
        .help = "the weights to run with (default: the model's inline or seeded initial ones)"     \
    }
#define SCALE_OPTION                                                                               \
    {                                                                                              \
        .name = "scale", .type = CLI_CHOICE, PICTURE_FIELD(scale), .choices = scale_names,         \
        .help = "minmax: each channel's own minimum is black, its maximum white (default); "       \
                "clip: value×255 clipped to 0..255, so 1.0 is white, as an input pixel (what a "  \
                "hand-made filter such as models/sobel.yaml wants)"                                \
    }
/* apply's and features' */
#define LAYER_PICTURE_EXIT_STATUS                                                                  \
    "0 written, 1 invalid model, weights or image, unknown layer or a layer without spatial "      \
    "output, 2 usage error or unwritable file."
#define PNG_OUT_OPTION                                                                             \
    {                                                                                              \
        .name = "out", .short_name = 'o', .type = CLI_PATH, PICTURE_FIELD(out), .arg = "OUT.png",  \
        .required = "missing -o OUT.png", .complete = "png", .help = "the picture to write"        \
    }
#define IMAGE_POSITIONAL                                                                           \
    { .name = "IMAGE", PICTURE_FIELD(image), .complete = "image" }

static const cli_option apply_options[] = {
    PNG_OUT_OPTION,
    WEIGHTS_OPTION,
    {.name = "layer",
     .type = CLI_STRING,
     PICTURE_FIELD(layers),
     .arg = "NAME",
     .complete = "layer",
     .help = "the layer whose output to draw (default: the last)"},
    SCALE_OPTION,
};
static const cli_positional picture_positionals[] = {MODEL_POSITIONAL(picture_args, model),
                                                     IMAGE_POSITIONAL};

const cli_spec apply_spec = {
    CLI_TABLES(apply_options, picture_positionals),
    .description =
        "Decodes IMAGE (PNG, JPEG, BMP, PGM, ...), converts it to the model's channels\n"
        "and normalises it as the train section says (plain 0..1 without one). A model\n"
        "without dense or flatten layers runs at the image's own size; others get the\n"
        "image resized to their input. Runs forward to --layer (default: the last) with\n"
        "--weights or random initial ones, and writes its output: one channel as a grey\n"
        "image of the same size, several as a grid of labelled tiles (see\n"
        "docs/visualise.md).\n",
    .exit_status = LAYER_PICTURE_EXIT_STATUS,
};

static const cli_option features_options[] = {
    {.name = "layers",
     .type = CLI_STRING,
     PICTURE_FIELD(layers),
     .arg = "A,B,C",
     .required = "missing --layers a,b,c",
     .complete = "layers",
     .help = "the layers whose outputs to draw, comma-separated"},
    {.name = "out",
     .short_name = 'o',
     .type = CLI_PATH,
     PICTURE_FIELD(out),
     .arg = "DIR",
     .required = "missing -o DIR",
     .complete = "dir",
     .help = "the folder for the pictures (created if needed)"},
    WEIGHTS_OPTION,
    SCALE_OPTION,
};

const cli_spec features_spec = {
    CLI_TABLES(features_options, picture_positionals),
    .description = "Runs the model on IMAGE once, as cnnrun apply does (same decoding, size and\n"
                   "normalisation; --weights or random initial ones), and writes each named\n"
                   "layer's output to DIR/NAME.png, exactly the picture apply --layer NAME\n"
                   "writes. Every name is checked before anything is written.\n",
    .exit_status = LAYER_PICTURE_EXIT_STATUS,
};

static const cli_option filters_options[] = {
    {.name = "layer",
     .type = CLI_STRING,
     PICTURE_FIELD(layers),
     .arg = "NAME",
     .required = "missing --layer NAME (a conv layer)",
     .complete = "layer",
     .help = "the conv layer whose kernels to draw"},
    PNG_OUT_OPTION,
    WEIGHTS_OPTION,
    {.name = "channel",
     .type = CLI_INT,
     PICTURE_FIELD(channel),
     .min = 0,
     .arg = "K",
     .help = "the input channel to draw when the layer's input is not RGB (default 0)"},
};
static const cli_positional filters_positionals[] = {MODEL_POSITIONAL(picture_args, model)};

const cli_spec filters_spec = {
    CLI_TABLES(filters_options, filters_positionals),
    .description = "Draws every kernel of the conv layer NAME as a tile, labelled with the filter\n"
                   "index and enlarged so a 3×3 kernel is 24 px. With 3 input channels (an RGB\n"
                   "input) a tile is the filter's three input channels as red, green and blue;\n"
                   "otherwise it is the filter's weights for input channel K in grey.\n"
                   "Each tile is scaled on its own: its most negative weight black, its most\n"
                   "positive white. Weights come from --weights, else the model's inline weights\n"
                   "or its (seeded) initial ones.\n",
    .exit_status = "0 written, 1 invalid model or weights, unknown layer or a layer that is not a "
                   "conv, 2 usage error or unwritable file.",
};

/* Dense and flatten fix the input size; every other kind works on any. */
static bool fully_convolutional(const cr_model *model) {
    for (int i = 0; i < model->n_layers; i++) {
        const char *kind = model->layers[i].kind->name;
        if (strcmp(kind, "dense") == 0 || strcmp(kind, "flatten") == 0) return false;
    }
    return true;
}

/* The layer called `name`, or an error suggesting the nearest name. */
static int find_layer_or_fail(const cr_model *model, const char *name, int *index, cr_error *err) {
    *index = cr_model_find_layer(model, name);
    if (*index >= 0) return 0;
    const char **names = malloc((size_t)model->n_layers * sizeof *names);
    const char *near = NULL;
    if (names) {
        for (int i = 0; i < model->n_layers; i++) names[i] = model->layers[i].name;
        near = cr_suggest(name, names, model->n_layers);
    }
    cr_fail(err, CR_ERR_INVALID, (cr_mark){0}, NULL, "model '%s' has no layer '%s'%s%s%s",
            model->name, name, near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "");
    free(names);
    return 1;
}

/* The model (at the image's own size when it is fully convolutional), a
 * network for one image with `weights` or seeded random ones, and the image
 * in its input. */
static int load_picture_net(const char *path, const char *weights, const char *image,
                            cr_model **model, cr_net **net, cr_error *err) {
    cr_train_config config;
    *net = NULL;
    if (load_for_training(path, NULL, model, &config, err)) return 1;
    int width, height, components;
    if (!stbi_info(image, &width, &height, &components)) {
        cr_model_free(*model);
        *model = NULL;
        return cr_fail_file(err, CR_ERR_INVALID, image, "not an image stb_image can read (%s)",
                            stbi_failure_reason());
    }
    cr_shape input = (*model)->input;
    if (fully_convolutional(*model)) input = (cr_shape){input.c, height, width};
    cr_net_options options = {.seed = 1};
    int status = cr_model_set_input(*model, input, err) ||
                 cr_net_create(*model, 1, &options, net, err) ||
                 (weights && cr_net_load_weights(*net, weights, err)) ||
                 cr_image_load(image, input, &config.transform, cr_net_input(*net), err);
    if (!status) {
        cr_net_forward(*net, false);
        return 0;
    }
    cr_net_free(*net);
    cr_model_free(*model);
    *net = NULL;
    *model = NULL;
    return 1;
}

static int check_drawable(const cr_layer *layer, cr_error *err) {
    if (layer->out.h * layer->out.w > 1) return 0;
    return cr_fail(err, CR_ERR_INVALID, layer->mark, layer->name,
                   "%s output %d×1×1 has no spatial extent to draw; pick a convolutional or "
                   "pooling layer",
                   layer->kind->name, layer->out.c);
}

/* A layer's output for image 0: one channel as a grey picture of its own
 * size, several as a grid of labelled tiles (each at least 32 px). */
static int write_layer_picture(cr_net *net, int index, cr_scale scale, const char *out_path,
                               cr_error *err) {
    const cr_layer *layer = &cr_net_model(net)->layers[index];
    cr_shape s = layer->out;
    if (check_drawable(layer, err)) return 1;
    int64_t spatial = (int64_t)s.h * s.w;
    unsigned char *bytes = malloc((size_t)(s.c * spatial));
    if (!bytes) return cr_fail(err, CR_ERR_RUNTIME, (cr_mark){0}, NULL, "out of memory");
    const float *y = cr_net_layer_output(net, index);
    for (int c = 0; c < s.c; c++)
        cr_map_to_bytes(y + c * spatial, spatial, scale, bytes + c * spatial);
    cr_picture picture = {.width = s.w, .height = s.h, .channels = 1, .pixels = bytes};
    int status = 0;
    if (s.c > 1) status = cr_grid_create(bytes, s.c, s.h, s.w, 1, 32, &picture, err);
    if (!status) status = cr_picture_write_png(&picture, out_path, err);
    if (picture.pixels != bytes) cr_picture_free(&picture);
    free(bytes);
    return status;
}

int cmd_apply(int argc, char **argv) {
    picture_args args = {0};
    if (cli_parse(&apply_spec, argc, argv, &args)) return 2;
    const char *path = args.model, *image = args.image, *out = args.out, *weights = args.weights,
               *layer_name = args.layers;
    cr_scale scale = scales[args.scale];
    cr_model *model;
    cr_net *net;
    cr_error err = {0};
    if (load_picture_net(path, weights, image, &model, &net, &err)) return report(&err);
    int index = model->output;
    int status = layer_name ? find_layer_or_fail(model, layer_name, &index, &err) : 0;
    if (!status) status = write_layer_picture(net, index, scale, out, &err);
    cr_net_free(net);
    cr_model_free(model);
    return status ? report(&err) : 0;
}

/* Conv layers have kernels to draw; no other kind does. */
static bool has_kernels(const cr_layer *layer) {
    return strcmp(layer->kind->name, "conv") == 0;
}

/* The layer's first parameter: a conv's weight (it declares weight before
 * bias, as PyTorch does). The net lists parameters in layer order. */
static cr_tensor first_param(cr_net *net, int index) {
    const cr_model *model = cr_net_model(net);
    int entry = 0;
    for (int i = 0; i < index; i++) entry += model->layers[i].n_params;
    return model->layers[index].n_params ? cr_net_param(net, entry) : (cr_tensor){0};
}

/* A conv layer's kernels as a grid (see cr_kernel_tiles): weights from
 * --weights, else the model's inline or seeded initial ones. */
static int write_filters_picture(cr_net *net, int index, int channel, const char *out_path,
                                 cr_error *err) {
    const cr_layer *layer = &cr_net_model(net)->layers[index];
    if (!has_kernels(layer))
        return cr_fail(err, CR_ERR_INVALID, layer->mark, layer->name,
                       "a %s layer has no kernels to draw; pick a conv layer", layer->kind->name);
    cr_tensor weight = first_param(net, index);
    if (!weight.data || weight.ndim != 4)
        return cr_fail(err, CR_ERR_INVALID, layer->mark, layer->name, "no 4-d tensor '%s.weight'",
                       layer->name);
    int filters = weight.dims[0], in_channels = weight.dims[1];
    int kernel_height = weight.dims[2], kernel_width = weight.dims[3];
    unsigned char *tiles = malloc((size_t)(filters * kernel_height * kernel_width * 3));
    if (!tiles) return cr_fail(err, CR_ERR_RUNTIME, (cr_mark){0}, NULL, "out of memory");
    cr_picture picture = {0};
    int channels;
    int status =
        cr_kernel_tiles(weight.data, filters, in_channels, kernel_height, kernel_width, channel,
                        tiles, &channels, err) ||
        cr_grid_create(tiles, filters, kernel_height, kernel_width, channels, 24, &picture, err) ||
        cr_picture_write_png(&picture, out_path, err);
    cr_picture_free(&picture);
    free(tiles);
    return status;
}

int cmd_filters(int argc, char **argv) {
    picture_args args = {0};
    if (cli_parse(&filters_spec, argc, argv, &args)) return 2;
    const char *path = args.model, *out = args.out, *weights = args.weights,
               *layer_name = args.layers;
    int channel = args.channel;
    cr_model *model;
    cr_net *net = NULL;
    cr_error err = {0};
    if (cr_model_load(path, &model, &err)) return report(&err);
    int index;
    cr_net_options options = {.seed = 1};
    int status = find_layer_or_fail(model, layer_name, &index, &err) ||
                 cr_net_create(model, 1, &options, &net, &err) ||
                 (weights && cr_net_load_weights(net, weights, &err)) ||
                 write_filters_picture(net, index, channel, out, &err);
    cr_net_free(net);
    cr_model_free(model);
    return status ? report(&err) : 0;
}

/* Every name in the comma-separated `list` as the index of a layer with a
 * picture to draw, before any is written, so a typo in the last name costs
 * nothing. */
static int resolve_layer_list(const cr_model *model, const char *list, int **indices, int *count,
                              cr_error *err) {
    *count = 1;
    for (const char *c = list; *c; c++) *count += *c == ',';
    *indices = malloc((size_t)*count * sizeof **indices);
    if (!*indices) return cr_fail(err, CR_ERR_RUNTIME, (cr_mark){0}, NULL, "out of memory");
    const char *start = list;
    for (int i = 0; i < *count; i++) {
        const char *end = strchr(start, ',');
        size_t length = end ? (size_t)(end - start) : strlen(start);
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)length, start);
        if (find_layer_or_fail(model, name, &(*indices)[i], err) ||
            check_drawable(&model->layers[(*indices)[i]], err)) {
            free(*indices);
            *indices = NULL;
            return 1;
        }
        start = end ? end + 1 : start + length;
    }
    return 0;
}

int cmd_features(int argc, char **argv) {
    picture_args args = {0};
    if (cli_parse(&features_spec, argc, argv, &args)) return 2;
    const char *path = args.model, *image = args.image, *out_dir = args.out,
               *weights = args.weights, *layers = args.layers;
    cr_scale scale = scales[args.scale];
    cr_model *model;
    cr_net *net;
    cr_error err = {0};
    if (load_picture_net(path, weights, image, &model, &net, &err)) return report(&err);
    int *indices = NULL, count = 0;
    int status = resolve_layer_list(model, layers, &indices, &count, &err);
    if (!status && mkdir(out_dir, 0777) != 0 && errno != EEXIST)
        status =
            cr_fail_file(&err, CR_ERR_IO, out_dir, "cannot create folder (%s)", strerror(errno));
    for (int i = 0; !status && i < count; i++) {
        char out_path[4400];
        snprintf(out_path, sizeof out_path, "%s/%s.png", out_dir, model->layers[indices[i]].name);
        status = write_layer_picture(net, indices[i], scale, out_path, &err);
        if (!status) printf("%s\n", out_path);
    }
    free(indices);
    cr_net_free(net);
    cr_model_free(model);
    return status ? report(&err) : 0;
}
