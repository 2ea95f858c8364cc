/* A forward pass of every model in models/, in training and evaluation mode:
 * outputs finite, softmax outputs summing to 1, the memory the network
 * allocated equal to what `cnnrun check` predicts. ctest runs it as is (and
 * under ASan/UBSan in the sanitizer build) and, with --small (reduced input
 * sizes, so that it finishes in seconds), under valgrind memcheck. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cnnrun.h"
#include "net_fixture.h"
#include "random.h"

static void forward_model(const char *path, void *small_input) {
    bool small = *(const bool *)small_input;
    cr_model *model;
    cr_error err;
    char message[2048];
    if (!fixture_load_file(path, &model)) return;
    if (small) {
        cr_shape input = model->input;
        if (strstr(path, "alexnet_small"))
            input = (cr_shape){3, 16, 16};
        else if (strstr(path, "alexnet"))
            input = (cr_shape){3, 67, 67};
        if (strstr(path, "vgg16")) input = (cr_shape){3, 32, 32};
        /* the ImageNet nets end in global pooling: any size down to 32 works */
        if (strstr(path, "resnet18") || strstr(path, "mobilenet_v2")) input = (cr_shape){3, 32, 32};
        CHECK(cr_model_set_input(model, input, &err) == 0);
    }
    const int batch = 2;
    cr_net *net;
    cr_net_options options = {.seed = 7, .training = true};
    if (cr_net_create(model, batch, &options, &net, &err)) {
        cr_error_format(&err, message, sizeof message);
        fprintf(stderr, "%s: %s\n", path, message);
        CHECK(!"network builds");
        cr_model_free(model);
        return;
    }
    /* What check predicts is what the runtime allocates, give or take the
     * 64-byte alignment of each buffer. */
    cr_memory predicted = cr_model_memory(model, batch, true, 0);
    int64_t allocated = cr_net_allocated_bytes(net);
    CHECK(allocated >= predicted.total);
    CHECK(allocated <= predicted.total + 64 * (3 * model->n_layers + 8));

    uint64_t rng = 11;
    float *input = cr_net_input(net);
    for (int64_t i = 0; i < batch * cr_shape_size(model->input); i++)
        input[i] = cr_random_uniform(&rng);
    const cr_layer *output = &model->layers[model->output];
    int64_t classes = cr_shape_size(output->out);
    bool softmax = strcmp(output->kind->name, "softmax") == 0;
    for (int training = 0; training < 2; training++) {
        cr_net_forward(net, training);
        const float *y = cr_net_output(net);
        int finite = 1;
        for (int64_t i = 0; i < batch * classes; i++) finite &= isfinite(y[i]);
        CHECK(finite);
        if (softmax)
            for (int n = 0; n < batch; n++) {
                double sum = 0;
                for (int64_t c = 0; c < classes; c++) sum += y[n * classes + c];
                CHECK_NEAR(sum, 1.0, 1e-5);
            }
    }
    cr_net_free(net);
    cr_model_free(model);
}

int main(int argc, char **argv) {
    bool small = argc > 1 && strcmp(argv[1], "--small") == 0;
    CHECK(fixture_each_model_file(CNNRUN_SOURCE_DIR "/models", forward_model, &small) >= 4);
    return check_report();
}
