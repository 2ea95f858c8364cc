/* cnnrun_dump: one training step of a model on a given batch, with
 * everything written to a safetensors file for tests/pytorch/compare.py to
 * hold against PyTorch. Not a ctest test: compare.py runs it by hand.
 *
 *   cnnrun_dump MODEL.yaml --input IN.safetensors --out OUT.safetensors
 *               [--seed S] [--weights W.safetensors] [--save-weights W0.safetensors]
 *
 * IN holds "input" F32 [N, C, H, W] and "labels" (integers) [N]. The
 * network starts from PyTorch's default initialisation drawn from seed S
 * (default 1), or from --weights; --save-weights writes the starting
 * weights. Then, as PyTorch would in model.train():
 *   forward (training mode) -> cross-entropy -> backward,
 * and in model.eval() a second forward with the updated running statistics.
 * OUT holds:
 *   output          [N, C, H, W]  training-mode output
 *   loss            F64 []        mean cross-entropy
 *   input_grad      [N, C, H, W]
 *   grad.NAME       every trainable parameter's gradient
 *   state.NAME      every parameter and buffer after the step (running stats)
 *   act.LAYER       every layer's training-mode output (to locate a mismatch)
 *   output_eval     [N, C, H, W]  evaluation-mode output after the step */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnnrun.h"
#include "model.h"
#include "safetensors.h"

static int fail(const cr_error *err) {
    char text[2048];
    cr_error_format(err, text, sizeof text);
    fprintf(stderr, "cnnrun_dump: %s\n", text);
    return cr_error_exit_code(err) ? cr_error_exit_code(err) : 1;
}

static int usage(const char *message) {
    fprintf(stderr,
            "cnnrun_dump: %s\nusage: cnnrun_dump MODEL.yaml --input IN.safetensors --out "
            "OUT.safetensors [--seed S] [--weights W] [--save-weights W0]\n",
            message);
    return 2;
}

/* Output tensors: names and copies of the data, freed at the end. */
typedef struct dump {
    cr_safetensors_tensor *tensors;
    char **names;
    void **copies;
    int count, capacity;
} dump;

static void dump_add(dump *d, const char *prefix, const char *name, cr_dtype dtype, int ndim,
                     const int64_t *shape, const void *data, size_t bytes) {
    if (d->count == d->capacity) {
        d->capacity = d->capacity ? 2 * d->capacity : 64;
        d->tensors = realloc(d->tensors, (size_t)d->capacity * sizeof *d->tensors);
        d->names = realloc(d->names, (size_t)d->capacity * sizeof *d->names);
        d->copies = realloc(d->copies, (size_t)d->capacity * sizeof *d->copies);
        if (!d->tensors || !d->names || !d->copies) {
            fprintf(stderr, "cnnrun_dump: out of memory\n");
            exit(1);
        }
    }
    size_t length = strlen(prefix) + strlen(name) + 1;
    char *full = malloc(length);
    void *copy = malloc(bytes ? bytes : 1);
    if (!full || !copy) {
        fprintf(stderr, "cnnrun_dump: out of memory\n");
        exit(1);
    }
    snprintf(full, length, "%s%s", prefix, name);
    memcpy(copy, data, bytes);
    cr_safetensors_tensor *t = &d->tensors[d->count];
    *t = (cr_safetensors_tensor){.name = full, .dtype = dtype, .ndim = ndim, .data = copy};
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    d->names[d->count] = full;
    d->copies[d->count] = copy;
    d->count++;
}

/* [N, C, H, W] floats of `shape` per image. */
static void dump_images(dump *d, const char *name, int batch, cr_shape shape, const float *data) {
    int64_t dims[4] = {batch, shape.c, shape.h, shape.w};
    dump_add(d, "", name, CR_DTYPE_F32, 4, dims, data,
             (size_t)(batch * cr_shape_size(shape)) * sizeof(float));
}

static void dump_params(dump *d, cr_net *net, const char *prefix, bool gradients) {
    for (int i = 0; i < cr_net_param_count(net); i++) {
        cr_tensor t = cr_net_param(net, i);
        const float *data = gradients ? t.grad : t.data;
        if (!data) continue;
        int64_t dims[CR_MAX_DIMS];
        for (int k = 0; k < t.ndim; k++) dims[k] = t.dims[k];
        dump_add(d, prefix, t.name, CR_DTYPE_F32, t.ndim, dims, data,
                 (size_t)t.count * sizeof(float));
    }
}

static void dump_free(dump *d) {
    for (int i = 0; i < d->count; i++) {
        free(d->names[i]);
        free(d->copies[i]);
    }
    free(d->tensors);
    free(d->names);
    free(d->copies);
}

/* Reads "input" and "labels" and checks them against the model. */
static int read_batch(const char *path, const cr_model *model, float **input, int **labels,
                      int *batch, cr_error *err) {
    cr_safetensors_file *file;
    if (cr_safetensors_open(path, &file, err)) return 1;
    const cr_safetensors_entry *x = cr_safetensors_find(file, "input");
    const cr_safetensors_entry *y = cr_safetensors_find(file, "labels");
    int status = 0;
    if (!x || !y || x->ndim != 4 || y->ndim != 1 || x->shape[0] != y->shape[0] ||
        x->shape[1] != model->input.c || x->shape[2] != model->input.h ||
        x->shape[3] != model->input.w || x->shape[0] < 1)
        status = cr_fail(err, CR_ERR_INVALID, (cr_mark){path, 0, 0}, NULL,
                         "needs 'input' [N, %d, %d, %d] and integer 'labels' [N]", model->input.c,
                         model->input.h, model->input.w);
    int64_t *wide = NULL;
    if (!status) {
        *batch = (int)x->shape[0];
        *input = malloc((size_t)x->count * sizeof **input);
        *labels = malloc((size_t)y->count * sizeof **labels);
        wide = malloc((size_t)y->count * sizeof *wide);
        status = cr_safetensors_read_floats(file, x, *input, err) ||
                 cr_safetensors_read_ints(file, y, wide, err);
    }
    int classes = model->n_layers ? (int)cr_shape_size(model->layers[model->output].out) : 0;
    for (int i = 0; !status && i < *batch; i++) {
        if (wide[i] < 0 || wide[i] >= classes)
            status = cr_fail(err, CR_ERR_INVALID, (cr_mark){path, 0, 0}, NULL,
                             "label %d is %lld; the model has %d classes", i, (long long)wide[i],
                             classes);
        else
            (*labels)[i] = (int)wide[i];
    }
    free(wide);
    cr_safetensors_close(file);
    return status;
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *input_path = NULL, *out_path = NULL, *weights = NULL,
               *save_weights = NULL;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--input") == 0 && value)
            input_path = argv[++i];
        else if (strcmp(argv[i], "--out") == 0 && value)
            out_path = argv[++i];
        else if (strcmp(argv[i], "--weights") == 0 && value)
            weights = argv[++i];
        else if (strcmp(argv[i], "--save-weights") == 0 && value)
            save_weights = argv[++i];
        else if (strcmp(argv[i], "--seed") == 0 && value)
            seed = strtoull(argv[++i], NULL, 10);
        else if (argv[i][0] == '-')
            return usage("unknown option or missing value");
        else
            model_path = argv[i];
    }
    if (!model_path || !input_path || !out_path)
        return usage("needs MODEL.yaml, --input and --out");

    cr_error err = {0};
    cr_model *model;
    if (cr_model_load(model_path, &model, &err)) return fail(&err);
    float *input = NULL;
    int *labels = NULL, batch = 0;
    cr_net *net = NULL;
    int status = read_batch(input_path, model, &input, &labels, &batch, &err);
    cr_net_options options = {.seed = seed, .training = true, .input_grad = true};
    if (!status) status = cr_net_create(model, batch, &options, &net, &err);
    if (!status && weights) status = cr_net_load_weights(net, weights, &err);
    if (!status && save_weights) status = cr_net_save_weights(net, save_weights, &err);
    if (status) {
        free(input);
        free(labels);
        cr_net_free(net);
        cr_model_free(model);
        return fail(&err);
    }

    dump d = {0};
    memcpy(cr_net_input(net), input, (size_t)(batch * cr_shape_size(model->input)) * sizeof(float));
    cr_net_forward(net, true);
    const cr_layer *last = &model->layers[model->output];
    dump_images(&d, "output", batch, last->out, cr_net_output(net));
    for (int i = 0; i < model->n_layers; i++) {
        int64_t dims[4] = {batch, model->layers[i].out.c, model->layers[i].out.h,
                           model->layers[i].out.w};
        dump_add(&d, "act.", model->layers[i].name, CR_DTYPE_F32, 4, dims,
                 cr_net_layer_output(net, i),
                 (size_t)(batch * cr_shape_size(model->layers[i].out)) * sizeof(float));
    }
    double loss = cr_net_cross_entropy(net, labels);
    dump_add(&d, "", "loss", CR_DTYPE_F64, 0, NULL, &loss, sizeof loss);
    cr_net_backward(net);
    dump_images(&d, "input_grad", batch, model->input, cr_net_input_grad(net));
    dump_params(&d, net, "grad.", true);
    dump_params(&d, net, "state.", false);
    cr_net_forward(net, false);
    dump_images(&d, "output_eval", batch, last->out, cr_net_output(net));

    status = cr_safetensors_write(out_path, d.tensors, d.count, &err);
    dump_free(&d);
    free(input);
    free(labels);
    cr_net_free(net);
    cr_model_free(model);
    return status ? fail(&err) : 0;
}
