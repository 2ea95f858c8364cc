/* cnnrun: the command line. Thin on purpose: each command (one file per
 * command or family, commands.h) parses its options from its table
 * (options.h), calls the library and prints what it returns. Exit codes:
 * 0 ok, 1 invalid input or a failed run, 2 usage or unreadable file. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "error.h"

#ifndef CNNRUN_VERSION
#define CNNRUN_VERSION "dev"
#endif

const command cnnrun_commands[] = {
    {"check", cmd_check, "validate a model: shapes, parameters, MACs, memory (nothing is trained)",
     &check_spec},
    {"gradcheck", cmd_gradcheck, "compare analytic gradients with finite differences",
     &gradcheck_spec},
    {"train", cmd_train, "train a model on its data set: progress, checkpoints, resume",
     &train_spec},
    {"eval", cmd_eval, "evaluate weights on the test set: accuracy, per class, confusion matrix",
     &eval_spec},
    {"predict", cmd_predict, "classify image files: the top classes with probabilities",
     &predict_spec},
    {"info", cmd_info,
     "show what a weights file records: classes, input, normalisation, model, tensors", &info_spec},
    {"apply", cmd_apply, "run a model on an image and write a layer's output as a picture",
     &apply_spec},
    {"draw", cmd_draw, "draw the network's layer graph with the shape on every edge (SVG, PNG)",
     &draw_spec},
    {"augment", cmd_augment, "draw a grid of augmented training images: what the net sees",
     &augment_spec},
    {"schema", cmd_schema, "print the model format's JSON Schema (for editors)", &schema_spec},
    {"plot", cmd_plot, "draw a run's training curves (loss, accuracy) as PNG or SVG", &plot_spec},
    {"filters", cmd_filters, "draw a conv layer's kernels as a grid of tiles", &filters_spec},
    {"features", cmd_features, "write several layers' outputs for an image, one picture each",
     &features_spec},
    {"bench", cmd_bench, "time training and inference per layer, against OpenBLAS's sgemm rate",
     &bench_spec},
    {"export", cmd_export, "write the model and its weights as ONNX (onnxruntime, Netron, ...)",
     &export_spec},
    {"import", cmd_import, "read an ONNX model (e.g. from torch.onnx.export) as a model file",
     &import_spec},
    {"help", NULL, "show help for a command", NULL},
    {"__man", cmd_man, NULL, NULL},
    {"__bash-completion", cmd_bash_completion, NULL, NULL},
    {"__complete-layers", cmd_complete_layers, NULL, NULL},
};
const int cnnrun_command_count = sizeof cnnrun_commands / sizeof cnnrun_commands[0];

static const command *find_command(const char *name) {
    for (int i = 0; i < cnnrun_command_count; i++)
        if (strcmp(cnnrun_commands[i].name, name) == 0) return &cnnrun_commands[i];
    return NULL;
}

static void print_overview(FILE *out) {
    fprintf(out, "cnnrun %s: check and train convolutional networks described in YAML\n\n",
            CNNRUN_VERSION);
    fprintf(out, "usage: cnnrun COMMAND [ARGS]\n\ncommands:\n");
    for (int i = 0; i < cnnrun_command_count; i++)
        if (cnnrun_commands[i].summary)
            fprintf(out, "  %-10s %s\n", cnnrun_commands[i].name, cnnrun_commands[i].summary);
    fprintf(out, "\n'cnnrun help COMMAND' shows a command's options. Model format: README.md.\n");
}

static int run_help(const char *topic) {
    if (!topic) {
        print_overview(stdout);
        return 0;
    }
    const command *cmd = find_command(topic);
    if (!cmd || !cmd->summary) { /* the hidden ones have no help */
        fprintf(stderr, "cnnrun: no command '%s'\n", topic);
        print_overview(stderr);
        return 2;
    }
    if (cmd->spec)
        cli_print_help(stdout, cmd->name, cmd->spec);
    else
        printf("usage: cnnrun help [COMMAND]\n");
    return 0;
}

static int unknown_command(const char *name) {
    const char *names[64];
    int n = 0;
    for (int i = 0; i < cnnrun_command_count && n < 64; i++)
        if (cnnrun_commands[i].summary) names[n++] = cnnrun_commands[i].name;
    const char *near = cr_suggest(name, names, n);
    fprintf(stderr, "cnnrun: unknown command '%s'%s%s%s\n", name, near ? "; did you mean '" : "",
            near ? near : "", near ? "'?" : "");
    fprintf(stderr, "Try 'cnnrun --help'.\n");
    return 2;
}

static bool is_help_option(const char *arg) {
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        print_overview(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (is_help_option(name)) return run_help(NULL);
    if (strcmp(name, "--version") == 0) {
        printf("cnnrun %s\n", CNNRUN_VERSION);
        return 0;
    }
    if (strcmp(name, "help") == 0) return run_help(argc > 2 ? argv[2] : NULL);
    const command *cmd = find_command(name);
    if (!cmd) return unknown_command(name);
    for (int i = 2; i < argc; i++)
        if (is_help_option(argv[i])) return run_help(name);
    return cmd->run(argc - 1, argv + 1);
}
