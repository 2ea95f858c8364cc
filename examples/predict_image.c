/* Class probabilities of a decoded image through the installed library's
 * cr_predict_image: pixels in as your decoder gives them (interleaved HWC
 * bytes), probabilities out. cnnrun converts them as `cnnrun predict`
 * converts files: to the model's channels and input size, scaled to
 * [0, 1] and normalised with what the weights record.
 *
 *   cc predict_image.c $(pkg-config --cflags --libs cnnrun) -o predict_image
 *   ./predict_image "$(pkg-config --variable=modelsdir cnnrun)/lenet5.yaml" [WEIGHTS.safetensors]
 *
 * The image here is made up, 40×30 RGB (a bright square on a dark
 * background), to show the layout; a real program passes what stb_image,
 * libpng or libjpeg decoded. Without weights the parameters are PyTorch's
 * default initialisation from a fixed seed. */
#include <stdio.h>
#include <stdlib.h>

#include <cnnrun.h>

enum { HEIGHT = 30, WIDTH = 40, CHANNELS = 3 };

static int fail(const cr_error *err) {
    char message[2048];
    cr_error_format(err, message, sizeof message);
    fprintf(stderr, "predict_image: %s\n", message);
    return cr_error_exit_code(err);
}

/* pixels[(y * WIDTH + x) * CHANNELS + c]: rows from the top, R, G, B per pixel. */
static void draw_square(unsigned char *pixels) {
    for (int y = 0; y < HEIGHT; y++)
        for (int x = 0; x < WIDTH; x++)
            for (int c = 0; c < CHANNELS; c++) {
                int inside =
                    4 * y >= HEIGHT && 4 * y < 3 * HEIGHT && 4 * x >= WIDTH && 4 * x < 3 * WIDTH;
                pixels[(y * WIDTH + x) * CHANNELS + c] = inside ? 230 : 20;
            }
}

static int predict(const cr_model *model, const char *weights, cr_error *err) {
    cr_net_options options = {.seed = 1}; /* evaluation only: no gradients planned */
    cr_net *net;
    if (cr_net_create(model, 1, &options, &net, err)) return 1;
    /* The normalisation the weights were trained with (none without weights). */
    int channels = 0;
    float mean[4], std[4];
    if (weights && (cr_net_load_weights(net, weights, err) ||
                    cr_weights_normalization(weights, &channels, mean, std, err))) {
        cr_net_free(net);
        return 1;
    }
    cr_shape out = cr_model_output_shape(model);
    int outputs = out.c * out.h * out.w;
    unsigned char pixels[HEIGHT * WIDTH * CHANNELS];
    float *probabilities = malloc((size_t)outputs * sizeof *probabilities);
    draw_square(pixels);
    int status = !probabilities ||
                 cr_predict_image(net, pixels, HEIGHT, WIDTH, CHANNELS, channels ? mean : NULL,
                                  channels ? std : NULL, probabilities, err);
    if (!status) {
        printf("model %s: %dx%d RGB image, %d outputs\n", cr_model_name(model), HEIGHT, WIDTH,
               outputs);
        for (int k = 0; k < outputs; k++) printf("class %d: %.6f\n", k, probabilities[k]);
    }
    free(probabilities);
    cr_net_free(net);
    return status;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: predict_image MODEL.yaml [WEIGHTS.safetensors]\n");
        return 2;
    }
    cr_error err;
    cr_model *model;
    if (cr_model_load(argv[1], &model, &err)) return fail(&err);
    int status = predict(model, argc == 3 ? argv[2] : NULL, &err);
    cr_model_free(model);
    return status ? fail(&err) : 0;
}
