/* cr_predict_image (cnnrun.h) against the path `cnnrun predict` takes:
 * pixels given as HWC bytes must become the same floats, bit for bit, as
 * the same pixels written to a PNG and decoded by cr_image_load (channel
 * conversion, resizing and normalisation included), and the probabilities
 * the same as a forward on those floats. Also the layout itself, on an
 * image whose every byte says where it is, and the refusals. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stb/stb_image_write.h>

#include "check.h"
#include "data.h"
#include "train.h"

static const char model_text[] = "input: [3, 6, 8]\n"
                                 "layers:\n"
                                 "  - {type: conv, filters: 4, kernel: 3, activation: relu}\n"
                                 "  - {type: flatten}\n"
                                 "  - {type: dense, units: 5}\n"
                                 "  - {type: softmax}\n";

/* Distinct bytes for every (y, x, c): a misplaced one shows. */
static unsigned char pixel(int y, int x, int c) {
    return (unsigned char)(y * 31 + x * 7 + c * 85);
}

/* An image of height × width, `channels` interleaved, as a decoder gives it. */
static unsigned char *make_image(int height, int width, int channels) {
    unsigned char *pixels = malloc((size_t)height * width * channels);
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
            for (int c = 0; c < channels; c++)
                pixels[(y * width + x) * channels + c] = pixel(y, x, c);
    return pixels;
}

/* HWC in, CHW out, at the model's own size with no normalisation:
 * out[c][y][x] = pixel(y, x, c) / 255. */
static void test_layout(void) {
    cr_shape want = {3, 6, 8};
    unsigned char *pixels = make_image(6, 8, 3);
    float out[3 * 6 * 8];
    cr_error err;
    CHECK(cr_image_from_pixels(pixels, 6, 8, 3, want, NULL, out, &err) == 0);
    int wrong = 0;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 6; y++)
            for (int x = 0; x < 8; x++)
                wrong += out[(c * 6 + y) * 8 + x] != (float)pixel(y, x, c) / 255.0f;
    CHECK_INT(wrong, 0);
    free(pixels);
}

/* The same pixels through a PNG file and cr_image_load, and through
 * cr_predict_image: the same floats and probabilities. */
static void test_against_file(int height, int width, int channels) {
    cr_error err;
    cr_model *model;
    CHECK(cr_model_load_text(model_text, strlen(model_text), "predict.yaml", &model, &err) == 0);
    cr_net_options options = {.seed = 5};
    cr_net *net;
    CHECK(cr_net_create(model, 2, &options, &net, &err) == 0);
    unsigned char *pixels = make_image(height, width, channels);
    char path[] = "/tmp/cnnrun-test-predict-XXXXXX"; /* a PNG by its content */
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK(stbi_write_png(path, width, height, channels, pixels, width * channels) != 0);

    float mean[3] = {0.5f, 0.4f, 0.3f}, std[3] = {0.25f, 0.2f, 0.3f};
    cr_transform transform = {.channels = 3};
    memcpy(transform.mean, mean, sizeof mean);
    memcpy(transform.std, std, sizeof std);
    float from_file[3 * 6 * 8], from_pixels[3 * 6 * 8];
    CHECK(cr_image_load(path, model->input, &transform, from_file, &err) == 0);
    CHECK(cr_image_from_pixels(pixels, height, width, channels, model->input, &transform,
                               from_pixels, &err) == 0);
    CHECK(memcmp(from_file, from_pixels, sizeof from_file) == 0);

    float expected[5], probabilities[5];
    memcpy(cr_net_input(net), from_file, sizeof from_file);
    cr_net_set_batch(net, 1);
    cr_net_forward(net, false);
    cr_output_probabilities(net, 0, expected);
    cr_net_set_batch(net, 2);
    CHECK(cr_predict_image(net, pixels, height, width, channels, mean, std, probabilities, &err) ==
          0);
    CHECK(memcmp(expected, probabilities, sizeof expected) == 0);
    CHECK_INT(cr_net_batch(net), 2); /* left as it was */
    double sum = 0;
    for (int k = 0; k < 5; k++) sum += probabilities[k];
    CHECK_NEAR(sum, 1.0, 1e-6);

    /* Refused, not read out of bounds. */
    CHECK(cr_predict_image(net, pixels, 0, width, channels, NULL, NULL, probabilities, &err) == 1);
    CHECK(cr_predict_image(net, pixels, height, width, 5, NULL, NULL, probabilities, &err) == 1);
    CHECK_CONTAINS(err.message, "1 to 4 channels");
    unlink(path);
    free(pixels);
    cr_net_free(net);
    cr_model_free(model);
}

int main(void) {
    test_layout();
    test_against_file(6, 8, 3);   /* the model's size: no resize */
    test_against_file(13, 17, 3); /* resized */
    test_against_file(9, 5, 1);   /* grey to RGB, resized */
    test_against_file(6, 8, 4);   /* RGBA: alpha dropped */
    return check_report();
}
