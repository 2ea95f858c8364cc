/* onnx_ref: cnnrun's side of the ONNX tests (tests/onnx/run.sh).
 *
 *   onnx_ref export MODEL.yaml DIR [--size H W] [--batch N] [--opset K] [--seed S]
 *       Random weights (PyTorch's initialisation, then every tensor that
 *       starts constant — batchnorm's γ, β and running statistics — drawn at
 *       random so that they matter), a random input batch, cnnrun's
 *       evaluation-mode outputs, and the network exported with a dynamic
 *       batch. Writes DIR/model.onnx, DIR/weights.safetensors, DIR/input.bin
 *       (float32 [N, C, H, W]), DIR/output.bin (the network's output),
 *       DIR/logits.bin (the output layer's input: what the graph calls
 *       `logits` after a softmax) and DIR/meta.json (their shapes).
 *   onnx_ref forward MODEL.yaml WEIGHTS IN.bin OUT.bin N
 *       The evaluation-mode output for N images read from IN.bin.
 *   onnx_ref kinds MODEL.yaml
 *       Fails unless the model uses every kind in the layer table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnnrun.h"
#include "model.h"
#include "onnx.h"
#include "random.h"

static int fail(const cr_error *err) {
    char text[2048];
    cr_error_format(err, text, sizeof text);
    fprintf(stderr, "onnx_ref: %s\n", text);
    return 1;
}

static int write_floats(const char *path, const float *data, int64_t count) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, sizeof *data, (size_t)count, f) != (size_t)count || fclose(f)) {
        fprintf(stderr, "onnx_ref: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

static float *read_floats(const char *path, int64_t count) {
    float *data = malloc((size_t)count * sizeof *data);
    FILE *f = fopen(path, "rb");
    if (!data || !f || fread(data, sizeof *data, (size_t)count, f) != (size_t)count) {
        fprintf(stderr, "onnx_ref: cannot read %lld floats from %s\n", (long long)count, path);
        if (f) fclose(f);
        free(data);
        return NULL;
    }
    fclose(f);
    return data;
}

/* A tensor whose values are all equal was initialised to a constant (ones,
 * zeros): draw it instead, positive for variances, so that the export of
 * every parameter is tested. */
static void randomize_constant_tensors(cr_net *net, uint64_t *rng) {
    for (int i = 0; i < cr_net_param_count(net); i++) {
        cr_tensor t = cr_net_param(net, i);
        bool constant = true;
        for (int64_t k = 1; k < t.count && constant; k++) constant = t.data[k] == t.data[0];
        if (!constant || t.count < 2) continue;
        bool positive = strstr(t.name, "running_var") != NULL;
        for (int64_t k = 0; k < t.count; k++) {
            float u = cr_random_uniform(rng);
            t.data[k] = positive ? 0.5f + u : u - 0.5f;
        }
    }
}

static void print_shape(FILE *f, int batch, cr_shape s) {
    fprintf(f, "[%d, %d, %d, %d]", batch, s.c, s.h, s.w);
}

static int export_reference(int argc, char **argv) {
    if (argc < 4) return fprintf(stderr, "onnx_ref export: MODEL DIR [options]\n"), 2;
    const char *model_path = argv[2], *dir = argv[3];
    int height = 0, width = 0, batch = 2, opset = 13;
    uint64_t seed = 1;
    for (int i = 4; i < argc; i++) {
        if (strcmp(argv[i], "--size") == 0 && i + 2 < argc) {
            height = atoi(argv[++i]);
            width = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
            batch = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--opset") == 0 && i + 1 < argc) {
            opset = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 10);
        } else {
            return fprintf(stderr, "onnx_ref export: unknown option %s\n", argv[i]), 2;
        }
    }
    cr_error err;
    cr_model *model;
    if (cr_model_load(model_path, &model, &err)) return fail(&err);
    if (height > 0 && cr_model_set_input(model, (cr_shape){model->input.c, height, width}, &err)) {
        cr_model_free(model);
        return fail(&err);
    }
    cr_net *net;
    cr_net_options options = {.seed = seed};
    if (cr_net_create(model, batch, &options, &net, &err)) {
        cr_model_free(model);
        return fail(&err);
    }
    uint64_t rng = seed * 7919 + 17;
    randomize_constant_tensors(net, &rng);
    int64_t in_count = batch * cr_shape_size(model->input);
    float *input = cr_net_input(net);
    for (int64_t k = 0; k < in_count; k++) input[k] = 2.0f * cr_random_uniform(&rng) - 1.0f;
    cr_net_forward(net, false);

    char path[4096];
    int status = 0;
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    cr_onnx_export_options export_options = {.opset = opset};
    if (cr_onnx_export(net, &export_options, path, &err)) status = fail(&err);
    snprintf(path, sizeof path, "%s/weights.safetensors", dir);
    if (!status && cr_net_save_weights(net, path, &err)) status = fail(&err);
    snprintf(path, sizeof path, "%s/input.bin", dir);
    if (!status) status = write_floats(path, input, in_count);

    /* The network's output, and the output layer's (first) input: the
     * graph's `logits` when the network ends in softmax. */
    const cr_layer *last = &model->layers[model->output];
    int before = last->inputs[0];
    cr_shape before_shape = before < 0 ? model->input : model->layers[before].out;
    snprintf(path, sizeof path, "%s/output.bin", dir);
    if (!status) status = write_floats(path, cr_net_output(net), batch * cr_shape_size(last->out));
    snprintf(path, sizeof path, "%s/logits.bin", dir);
    if (!status)
        status = write_floats(path, before < 0 ? input : cr_net_layer_output(net, before),
                              batch * cr_shape_size(before_shape));
    snprintf(path, sizeof path, "%s/meta.json", dir);
    FILE *f = status ? NULL : fopen(path, "w");
    if (f) {
        fprintf(f, "{\"input\": ");
        print_shape(f, batch, model->input);
        fprintf(f, ", \"output\": ");
        print_shape(f, batch, last->out);
        fprintf(f, ", \"logits\": ");
        print_shape(f, batch, before_shape);
        fprintf(f, "}\n");
        if (fclose(f)) status = 1;
    }
    cr_net_free(net);
    cr_model_free(model);
    return status;
}

static int forward(int argc, char **argv) {
    if (argc != 7) return fprintf(stderr, "onnx_ref forward: MODEL WEIGHTS IN OUT N\n"), 2;
    int batch = atoi(argv[6]);
    cr_error err;
    cr_model *model;
    if (batch < 1) return 2;
    if (cr_model_load(argv[2], &model, &err)) return fail(&err);
    cr_net *net;
    cr_net_options options = {0};
    int status = 0;
    if (cr_net_create(model, batch, &options, &net, &err)) {
        cr_model_free(model);
        return fail(&err);
    }
    if (cr_net_load_weights(net, argv[3], &err)) status = fail(&err);
    float *input = status ? NULL : read_floats(argv[4], batch * cr_shape_size(model->input));
    if (input) {
        memcpy(cr_net_input(net), input, (size_t)(batch * cr_shape_size(model->input)) * 4);
        cr_net_forward(net, false);
        status = write_floats(argv[5], cr_net_output(net),
                              batch * cr_shape_size(model->layers[model->output].out));
    } else {
        status = 1;
    }
    free(input);
    cr_net_free(net);
    cr_model_free(model);
    return status;
}

static int import_model(int argc, char **argv) {
    if (argc != 5)
        return fprintf(stderr, "onnx_ref import: FILE.onnx OUT.yaml OUT.safetensors\n"), 2;
    cr_error err;
    cr_onnx_import imported;
    if (cr_onnx_import_file(argv[2], &imported, &err)) return fail(&err);
    int status = cr_onnx_import_save(&imported, argv[3], argv[4], &err) ? fail(&err) : 0;
    cr_onnx_import_free(&imported);
    return status;
}

static int kinds(int argc, char **argv) {
    if (argc != 3) return 2;
    cr_error err;
    cr_model *model;
    if (cr_model_load(argv[2], &model, &err)) return fail(&err);
    int missing = 0;
    for (int k = 0; k < cr_layer_kind_count; k++) {
        bool used = false;
        for (int i = 0; i < model->n_layers; i++)
            used |= model->layers[i].kind == cr_layer_kinds[k];
        if (!used) {
            fprintf(stderr, "onnx_ref: %s has no layer of kind '%s'\n", argv[2],
                    cr_layer_kinds[k]->name);
            missing++;
        }
    }
    cr_model_free(model);
    return missing ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "export") == 0) return export_reference(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "forward") == 0) return forward(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "import") == 0) return import_model(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "kinds") == 0) return kinds(argc, argv);
    fprintf(stderr, "usage: onnx_ref export|forward|kinds ...\n");
    return 2;
}
