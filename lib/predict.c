/* Prediction through the public API (cnnrun.h): one decoded image in,
 * class probabilities out. */
#include <string.h>

#include "data.h"
#include "train.h"
#include "weights_info.h"

int cr_predict_image(cr_net *net, const unsigned char *pixels, int height, int width, int channels,
                     const float *mean, const float *std, float *probabilities, cr_error *err) {
    const cr_model *model = cr_net_model(net);
    cr_transform transform = {.channels = model->input.c};
    for (int c = 0; c < model->input.c && c < 4; c++) {
        transform.mean[c] = mean ? mean[c] : 0.0f;
        transform.std[c] = std ? std[c] : 1.0f;
    }
    if (cr_image_from_pixels(pixels, height, width, channels, model->input, &transform,
                             cr_net_input(net), err))
        return 1;
    int batch = cr_net_batch(net);
    cr_net_set_batch(net, 1);
    cr_net_forward(net, false);
    cr_output_probabilities(net, 0, probabilities);
    cr_net_set_batch(net, batch);
    return 0;
}

int cr_weights_normalization(const char *path, int *channels, float mean[4], float std[4],
                             cr_error *err) {
    cr_weights_info info;
    *channels = 0;
    if (cr_weights_info_read(path, &info, err)) return 1;
    *channels = info.channels;
    memcpy(mean, info.mean, sizeof info.mean);
    memcpy(std, info.std, sizeof info.std);
    cr_weights_info_free(&info);
    return 0;
}
