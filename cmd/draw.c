/* cnnrun draw: the network as a picture laid out by Graphviz (lib/draw.h):
 * one node per layer, the shape on every edge, repeats as clusters. With
 * --weights, each layer with weights also shows their norm, so a picture
 * says which trained weights it was drawn with. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnnrun.h"
#include "commands.h"
#include "draw.h"
#include "image_out.h"
#include "print.h"

typedef struct draw_args {
    const char *model, *out, *weights;
} draw_args;

static const cli_option draw_options[] = {
    {.name = "out",
     .short_name = 'o',
     .type = CLI_PATH,
     .offset = offsetof(draw_args, out),
     .arg = "NET.svg",
     .required = "missing -o NET.svg or NET.png",
     .complete = "svg",
     .help = "the picture to write: SVG or PNG, by the extension"},
    {.name = "weights",
     .type = CLI_PATH,
     .offset = offsetof(draw_args, weights),
     .arg = "W.safetensors",
     .complete = "safetensors",
     .help = "load these weights (checked against the model) and show each layer's weight "
             "norm"},
};
static const cli_positional draw_positionals[] = {MODEL_POSITIONAL(draw_args, model)};

const cli_spec draw_spec = {
    CLI_TABLES(draw_options, draw_positionals),
    .description =
        "Draws the model's layer graph, laid out by Graphviz: one box per layer with its\n"
        "type, the settings the file gives and its parameter count; the output shape on\n"
        "every edge; merges (add, concat) as ellipses where branches join; each\n"
        "iteration of a repeat block as a labelled cluster.\n",
    .exit_status = "0 written, 1 invalid model or weights, 2 usage error or unwritable file.",
};

/* "‖weight‖ 3.21" for each layer with a weight tensor; notes[i] NULL else. */
static int weight_notes(const cr_model *model, const char *weights, char **notes, cr_error *err) {
    cr_net *net;
    cr_net_options options = {.seed = 0, .training = false};
    if (cr_net_create(model, 1, &options, &net, err)) return 1;
    if (cr_net_load_weights(net, weights, err)) {
        cr_net_free(net);
        return 1;
    }
    for (int i = 0; i < cr_net_param_count(net); i++) {
        cr_tensor tensor = cr_net_param(net, i);
        const char *dot = strrchr(tensor.name, '.');
        if (!dot || strcmp(dot, ".weight") != 0) continue;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(dot - tensor.name), tensor.name);
        int layer = cr_model_find_layer(model, name);
        if (layer < 0) continue;
        double sum = 0;
        for (int64_t k = 0; k < tensor.count; k++) sum += (double)tensor.data[k] * tensor.data[k];
        notes[layer] = malloc(64);
        if (notes[layer]) snprintf(notes[layer], 64, "‖weight‖ %.4g", sqrt(sum));
    }
    cr_net_free(net);
    return 0;
}

int cmd_draw(int argc, char **argv) {
    draw_args args = {0};
    if (cli_parse(&draw_spec, argc, argv, &args)) return 2;
    bool svg = cr_path_has_extension(args.out, "svg");
    if (!svg && !cr_path_has_extension(args.out, "png"))
        return cli_usage_error("draw", "-o must name a .svg or .png file, got '%s'", args.out);
    cr_model *model;
    cr_error err = {0};
    if (cr_model_load(args.model, &model, &err)) return report(&err);
    char **notes = calloc((size_t)model->n_layers, sizeof *notes);
    int status = notes ? 0 : cr_fail(&err, CR_ERR_RUNTIME, (cr_mark){0}, NULL, "out of memory");
    if (!status && args.weights) status = weight_notes(model, args.weights, notes, &err);
    if (!status) {
        cr_draw_options options = {.format = svg ? "svg" : "png",
                                   .notes = (const char *const *)notes};
        status = cr_model_draw(model, &options, args.out, &err);
    }
    for (int i = 0; notes && i < model->n_layers; i++) free(notes[i]);
    free(notes);
    cr_model_free(model);
    return status ? report(&err) : 0;
}
