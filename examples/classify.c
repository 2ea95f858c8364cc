/* Classify one image with a model file, through the installed library:
 * load the model, create a network for one image, fill its input, run a
 * forward in evaluation mode, print the output.
 *
 *   cc classify.c $(pkg-config --cflags --libs cnnrun) -o classify
 *   ./classify "$(pkg-config --variable=modelsdir cnnrun)/lenet5.yaml" [WEIGHTS.safetensors]
 *
 * Without weights the parameters are PyTorch's default initialisation from
 * a fixed seed (the probabilities are then meaningless, but reproducible).
 * The image is synthetic: a bright square on a dark background. */
#include <stdio.h>

#include <cnnrun.h>

static int fail(const cr_error *err) {
    char message[2048];
    cr_error_format(err, message, sizeof message);
    fprintf(stderr, "classify: %s\n", message);
    return cr_error_exit_code(err);
}

/* [C, H, W]: 1 inside the middle half of the picture, 0 outside. */
static void fill_square(float *x, cr_shape shape) {
    for (int c = 0; c < shape.c; c++)
        for (int i = 0; i < shape.h; i++)
            for (int j = 0; j < shape.w; j++) {
                int inside = 4 * i >= shape.h && 4 * i < 3 * shape.h && 4 * j >= shape.w &&
                             4 * j < 3 * shape.w;
                x[((long)c * shape.h + i) * shape.w + j] = inside ? 1.0f : 0.0f;
            }
}

static int classify(const cr_model *model, const char *weights, cr_error *err) {
    cr_net_options options = {.seed = 1}; /* evaluation only: no gradients planned */
    cr_net *net;
    if (cr_net_create(model, 1, &options, &net, err)) return 1;
    if (weights && cr_net_load_weights(net, weights, err)) {
        cr_net_free(net);
        return 1;
    }
    cr_shape in = cr_model_input_shape(model), out = cr_model_output_shape(model);
    fill_square(cr_net_input(net), in);
    cr_net_forward(net, false);
    const float *y = cr_net_output(net);
    int outputs = out.c * out.h * out.w;
    printf("model %s: input %dx%dx%d, %d outputs\n", cr_model_name(model), in.c, in.h, in.w,
           outputs);
    for (int k = 0; k < outputs; k++) printf("class %d: %.6f\n", k, y[k]);
    cr_net_free(net);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: classify MODEL.yaml [WEIGHTS.safetensors]\n");
        return 2;
    }
    cr_error err;
    cr_model *model;
    if (cr_model_load(argv[1], &model, &err)) return fail(&err);
    int status = classify(model, argc == 3 ? argv[2] : NULL, &err);
    cr_model_free(model);
    return status ? fail(&err) : 0;
}
