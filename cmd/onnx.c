/* cnnrun export / cnnrun import: model exchange with ONNX (lib/onnx.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnnrun.h"
#include "commands.h"
#include "model.h"
#include "onnx.h"
#include "print.h"

/* ---- export ----------------------------------------------------------------------- */

typedef struct export_args {
    const char *model;
    const char *weights;
    const char *out;
    int opset; /* index into opset_choices */
    const char *batch;
    cli_seed seed;
} export_args;

static const char *const opset_choices[] = {"13", "17", NULL};

static const cli_option export_options[] = {
    {.name = "weights",
     .type = CLI_PATH,
     .offset = offsetof(export_args, weights),
     .arg = "W.safetensors",
     .help = "the weights to export (default: the model's initial weights: its inline values, "
             "else PyTorch's initialisation from --seed)",
     .complete = "safetensors"},
    {.name = "out",
     .short_name = 'o',
     .type = CLI_PATH,
     .offset = offsetof(export_args, out),
     .arg = "MODEL.onnx",
     .help = "the ONNX file to write (atomically)",
     .required = "missing -o MODEL.onnx",
     .complete = "onnx"},
    {.name = "opset",
     .type = CLI_CHOICE,
     .offset = offsetof(export_args, opset),
     .help = "ONNX operator set: 13 (IR 7, the default) or 17 (IR 8)",
     .choices = opset_choices},
    {.name = "batch",
     .type = CLI_STRING,
     .offset = offsetof(export_args, batch),
     .arg = "N|dynamic",
     .help = "the input's first dimension: a fixed batch size, or dynamic (the default)"},
    {.name = "seed",
     .type = CLI_SEED,
     .offset = offsetof(export_args, seed),
     .arg = "S",
     .help = "seed of the initial weights when no --weights are given (default 0)"},
};
static const cli_positional export_positionals[] = {MODEL_POSITIONAL(export_args, model)};

const cli_spec export_spec = {
    .options = export_options,
    .n_options = CLI_COUNT_OF(export_options),
    .positionals = export_positionals,
    .n_positionals = CLI_COUNT_OF(export_positionals),
    .description =
        "Writes the model with its weights as an ONNX file, in evaluation form: dropout\n"
        "removed, batchnorm as BatchNormalization with its running statistics, and\n"
        "softmax kept. The input is `input` [N, C, H, W]; a network ending in softmax\n"
        "gives `probabilities` and its input as `logits`, any other network `output`.\n"
        "Node names are the layer names; initializers are named as in the safetensors\n"
        "file (c1.weight). Every layer kind maps to standard operators (README.md,\n"
        "Exchange), so onnxruntime, OpenVINO, TensorRT and Netron read the file.\n",
    .exit_status = "0 written, 1 invalid model or weights or a layer ONNX cannot express, 2 "
                   "usage error or unreadable file.",
};

static int parse_batch(const char *text, int *batch) {
    *batch = 0;
    if (!text || strcmp(text, "dynamic") == 0) return 0;
    char *end;
    long value = strtol(text, &end, 10);
    if (*end || end == text || value < 1 || value > CLI_MANY)
        return cli_usage_error("export",
                               "--batch must be a whole number from 1 to %d or "
                               "'dynamic', got '%s'",
                               CLI_MANY, text);
    *batch = (int)value;
    return 0;
}

int cmd_export(int argc, char **argv) {
    export_args args = {0};
    if (cli_parse(&export_spec, argc, argv, &args)) return 2;
    cr_onnx_export_options options = {.opset = atoi(opset_choices[args.opset])};
    if (parse_batch(args.batch, &options.batch)) return 2;
    cr_error err = {0};
    cr_model *model;
    if (cr_model_load(args.model, &model, &err)) return report(&err);
    print_warnings(&model->warnings);
    cr_net *net = NULL;
    cr_net_options net_options = {.seed = args.seed.value};
    int status = cr_net_create(model, 1, &net_options, &net, &err);
    if (!status && args.weights) status = cr_net_load_weights(net, args.weights, &err);
    if (!status) status = cr_onnx_export(net, &options, args.out, &err);
    int code = status ? report(&err) : 0;
    if (!status)
        printf("wrote %s: %d layers, %d tensors of weights (%s), opset %d, batch %s\n", args.out,
               model->n_layers, cr_net_param_count(net),
               args.weights ? args.weights : "initial weights", options.opset,
               options.batch ? args.batch : "dynamic");
    cr_net_free(net);
    cr_model_free(model);
    return code;
}

/* ---- import ----------------------------------------------------------------------- */

typedef struct import_args {
    const char *onnx;
    const char *out;
    const char *weights_out;
} import_args;

static const cli_option import_options[] = {
    {.name = "out",
     .short_name = 'o',
     .type = CLI_PATH,
     .offset = offsetof(import_args, out),
     .arg = "MODEL.yaml",
     .help = "the model file to write (atomically)",
     .required = "missing -o MODEL.yaml",
     .complete = "yaml"},
    {.name = "weights-out",
     .type = CLI_PATH,
     .offset = offsetof(import_args, weights_out),
     .arg = "W.safetensors",
     .help = "also write the weights, named as cnnrun's parameters (layer.weight)",
     .complete = "safetensors"},
};
static const cli_positional import_positionals[] = {
    {.name = "FILE.onnx", .offset = offsetof(import_args, onnx), .complete = "onnx"}};

const cli_spec import_spec = {
    .options = import_options,
    .n_options = CLI_COUNT_OF(import_options),
    .positionals = import_positionals,
    .n_positionals = CLI_COUNT_OF(import_positionals),
    .description =
        "Reads an ONNX model made of the operators cnnrun's layers map to (as\n"
        "torch.onnx.export and cnnrun export write them: Conv, Gemm, pools,\n"
        "BatchNormalization, LRN, activations, Add, Concat, Flatten or torch's\n"
        "Shape/Gather/Unsqueeze/Concat/Reshape flatten, Softmax) and writes a model file\n"
        "with readable layer names, checked by cnnrun's own shape inference. Anything\n"
        "else is refused with the node's name, its operator and why. Files above 2 GiB\n"
        "(external data) are refused.\n",
    .exit_status = "0 written, 1 a file cnnrun cannot import (the message says which node and "
                   "why), 2 usage error or unreadable file.",
};

int cmd_import(int argc, char **argv) {
    import_args args = {0};
    if (cli_parse(&import_spec, argc, argv, &args)) return 2;
    cr_error err = {0};
    cr_onnx_import imported;
    if (cr_onnx_import_file(args.onnx, &imported, &err)) return report(&err);
    int code = 0;
    if (cr_onnx_import_save(&imported, args.out, args.weights_out, &err)) {
        code = report(&err);
    } else {
        int layers = 0;
        for (const char *p = imported.yaml; (p = strstr(p, "\n  - {")); p++) layers++;
        printf("wrote %s (%d layers)", args.out, layers);
        if (args.weights_out) printf(" and %s (%d tensors)", args.weights_out, imported.n_tensors);
        printf("\n");
    }
    cr_onnx_import_free(&imported);
    return code;
}
