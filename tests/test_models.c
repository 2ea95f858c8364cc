/* Every model in models/ loads without errors or warnings, and its figures
 * are exactly the published ones (LeNet-5, AlexNet, VGG-16) or the ones
 * worked out by hand in the model's comments. A model added to models/
 * without a row here fails the test, so no model goes unchecked. */
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model.h"

#ifndef CNNRUN_SOURCE_DIR
#define CNNRUN_SOURCE_DIR "."
#endif

typedef struct expected_model {
    const char *file;
    int64_t parameters;
    int64_t trainable;
    int64_t buffers;
    int64_t macs;
    int n_layers;
    cr_shape output;
} expected_model;

static const expected_model expected[] = {
    /* 156 + 2,416 + 48,120 + 10,164 + 850; MACs 117,600 + 240,000 + 48,000
     * + 10,080 + 840 */
    {"lenet5.yaml", 61706, 61706, 0, 416520, 9, {10, 1, 1}},
    /* Caffe's bvlc_alexnet (with groups) */
    {"alexnet.yaml", 60965224, 60965224, 0, 724406816, 16, {1000, 1, 1}},
    /* The published VGG-16 figures: 138,357,544 parameters, 15.47 GMAC */
    {"vgg16.yaml", 138357544, 138357544, 0, 15470264320LL, 24, {1000, 1, 1}},
    /* conv 864 + 9,216 + 18,432 + 36,864 + 73,728 + 147,456 (no bias),
     * batchnorm 2·(32+32+64+64+128+128), dense 524,544 + 2,570;
     * running statistics 2·448 */
    {"vgg_small.yaml", 814570, 814570, 896, 39160320, 26, {10, 1, 1}},
    {"vgg_small_fashion.yaml", 870826, 870826, 384, 19094528, 18, {10, 1, 1}},
    /* conv 3,136 + 307,392 + 442,624 + 590,080 + 295,040, dense 590,336 +
     * 5,130; MACs as worked out in the file's comment */
    {"alexnet_small.yaml", 2233738, 2233738, 0, 137695232, 15, {10, 1, 1}},
    {"residual.yaml", 68994, 68994, 0, 7712768, 11, {10, 1, 1}},
    /* Two fixed 3×3 Sobel kernels (18 weights, frozen), then the edge
     * magnitude: MACs 2·9·64·64 at its 64×64 default input */
    {"sobel.yaml", 18, 0, 0, 73728, 2, {1, 64, 64}},
    /* torchvision's resnet18(): 11,689,512 parameters (its
     * sum(p.numel() for p in model.parameters())), 1.81 GMAC (fvcore);
     * running statistics 2·(64 + 4·64 + 4·128 + 4·256 + 4·512 + 128 + 256 + 512) */
    {"resnet18.yaml", 11689512, 11689512, 9600, 1814073344LL, 69, {1000, 1, 1}},
    /* torchvision's mobilenet_v2(): 3,504,872 parameters, 300.8 MMAC (the
     * paper's 300 M) */
    {"mobilenet_v2.yaml", 3504872, 3504872, 34112, 300774272, 153, {1000, 1, 1}},
    /* He et al.'s ResNet-20 (0.27 M) with two 1×1 projection shortcuts */
    {"resnet20_cifar.yaml", 272474, 272474, 1568, 40813184, 73, {10, 1, 1}},
    {"unet_small.yaml", 105578, 105578, 0, 87621792, 17, {10, 1, 1}},
};
enum { n_expected = sizeof expected / sizeof expected[0] };

static cr_model *load(const char *file) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s", CNNRUN_SOURCE_DIR, file);
    cr_model *model = NULL;
    cr_error err = {0};
    if (cr_model_load(path, &model, &err)) {
        char text[2048];
        cr_error_format(&err, text, sizeof text);
        fprintf(stderr, "%s does not load: %s\n", file, text);
    }
    return model;
}

static const cr_layer *layer_named(const cr_model *model, const char *name) {
    int i = cr_model_find_layer(model, name);
    if (i < 0) {
        fprintf(stderr, "model '%s' has no layer '%s'\n", model->name, name);
        return NULL;
    }
    return &model->layers[i];
}

static int64_t layer_parameters(const cr_layer *layer) {
    int64_t count = 0;
    for (int p = 0; p < layer->n_params; p++)
        if (!layer->params[p].is_buffer) count += layer->params[p].count;
    return count;
}

/* A layer's output shape, parameters and MACs. */
static void check_layer(const cr_model *model, const char *name, cr_shape out, int64_t parameters,
                        int64_t macs) {
    const cr_layer *layer = layer_named(model, name);
    CHECK(layer != NULL);
    if (!layer) return;
    if (layer->out.c != out.c || layer->out.h != out.h || layer->out.w != out.w)
        fprintf(stderr, "%s: output %d×%d×%d, expected %d×%d×%d\n", name, layer->out.c,
                layer->out.h, layer->out.w, out.c, out.h, out.w);
    CHECK_INT(layer->out.c, out.c);
    CHECK_INT(layer->out.h, out.h);
    CHECK_INT(layer->out.w, out.w);
    CHECK_INT(layer_parameters(layer), parameters);
    CHECK_INT(layer->macs, macs);
}

/* Every .yaml in models/ has a row in `expected`, loads cleanly and matches it. */
static void test_every_model(void) {
    char dir_path[1024];
    snprintf(dir_path, sizeof dir_path, "%s/models", CNNRUN_SOURCE_DIR);
    DIR *dir = opendir(dir_path);
    CHECK(dir != NULL);
    if (!dir) return;
    int seen = 0;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        size_t length = strlen(entry->d_name);
        if (length < 6 || strcmp(entry->d_name + length - 5, ".yaml") != 0) continue;
        const expected_model *want = NULL;
        for (int i = 0; i < n_expected; i++)
            if (strcmp(expected[i].file, entry->d_name) == 0) want = &expected[i];
        if (!want)
            fprintf(stderr, "models/%s has no expected figures in test_models.c\n", entry->d_name);
        CHECK(want != NULL);
        cr_model *model = load(entry->d_name);
        CHECK(model != NULL);
        if (!model || !want) {
            cr_model_free(model);
            continue;
        }
        seen++;
        fprintf(stderr, "%-24s %12lld parameters %16lld MACs\n", want->file,
                (long long)model->parameters, (long long)model->macs);
        CHECK_INT(model->parameters, want->parameters);
        CHECK_INT(model->trainable_parameters, want->trainable);
        CHECK_INT(model->buffers, want->buffers);
        CHECK_INT(model->macs, want->macs);
        CHECK_INT(model->n_layers, want->n_layers);
        /* Every model reads every pixel of its input: ResNets' 1×1
         * stride-2 projections skip rows by design (the stride is wider than
         * the window), which is no dropped pixel (lib/layers/common.c). */
        int expected_warnings = 0;
        CHECK_INT(model->warnings.count, expected_warnings);
        const cr_layer *output = &model->layers[model->output];
        /* Classifiers end in softmax; an image filter (sobel) does not. */
        if (want->output.h == 1) CHECK(strcmp(output->kind->name, "softmax") == 0);
        CHECK_INT(output->out.c, want->output.c);
        CHECK_INT(output->out.h, want->output.h);
        CHECK_INT(output->out.w, want->output.w);
        cr_model_free(model);
    }
    closedir(dir);
    CHECK_INT(seen, n_expected);
}

static void test_lenet5(void) {
    cr_model *model = load("lenet5.yaml");
    CHECK(model != NULL);
    if (!model) return;
    CHECK(strcmp(model->name, "lenet5") == 0);
    CHECK_INT(model->input.c, 1);
    CHECK_INT(model->input.h, 28);
    /* c1: 6·1·5·5 + 6; (28 + 2·2 − 5)/1 + 1 = 28 */
    check_layer(model, "c1", (cr_shape){6, 28, 28}, 156, 6 * 28 * 28 * 25);
    check_layer(model, "s2", (cr_shape){6, 14, 14}, 0, 0);
    /* c3: 16·6·5·5 + 16; 14 − 5 + 1 = 10 */
    check_layer(model, "c3", (cr_shape){16, 10, 10}, 2416, 16 * 10 * 10 * 150);
    check_layer(model, "s4", (cr_shape){16, 5, 5}, 0, 0);
    check_layer(model, "flatten1", (cr_shape){400, 1, 1}, 0, 0);
    check_layer(model, "f5", (cr_shape){120, 1, 1}, 400 * 120 + 120, 400 * 120);
    check_layer(model, "f6", (cr_shape){84, 1, 1}, 120 * 84 + 84, 120 * 84);
    check_layer(model, "out", (cr_shape){10, 1, 1}, 850, 840);
    check_layer(model, "softmax1", (cr_shape){10, 1, 1}, 0, 0);
    /* input 784 + 4,704 + 1,176 + 1,600 + 400 + 400 + 120 + 84 + 10 + 10 */
    CHECK_INT(model->activations, 9288);
    cr_memory inference = cr_model_memory(model, 1, false, 0);
    CHECK_INT(inference.parameters, 61706 * 4);
    CHECK_INT(inference.gradients, 0);
    cr_memory training = cr_model_memory(model, 64, true, 1);
    CHECK_INT(training.gradients, 61706 * 4);
    CHECK_INT(training.optimizer, 61706 * 4);
    CHECK_INT(training.activations, 9288LL * 64 * 4);
    CHECK_INT(training.activation_gradients, (9288LL - 784) * 64 * 4);
    cr_model_free(model);
}

static void test_alexnet(void) {
    cr_model *model = load("alexnet.yaml");
    CHECK(model != NULL);
    if (!model) return;
    /* (227 − 11)/4 + 1 = 55; 96·3·11·11 + 96 */
    check_layer(model, "conv1", (cr_shape){96, 55, 55}, 34944, 96LL * 55 * 55 * 363);
    check_layer(model, "norm1", (cr_shape){96, 55, 55}, 0, 0);
    check_layer(model, "pool1", (cr_shape){96, 27, 27}, 0, 0);
    /* groups 2: each filter sees 48 of the 96 channels: 256·48·25 + 256 */
    check_layer(model, "conv2", (cr_shape){256, 27, 27}, 307456, 256LL * 27 * 27 * 48 * 25);
    check_layer(model, "pool2", (cr_shape){256, 13, 13}, 0, 0);
    check_layer(model, "conv3", (cr_shape){384, 13, 13}, 885120, 384LL * 169 * 256 * 9);
    check_layer(model, "conv4", (cr_shape){384, 13, 13}, 663936, 384LL * 169 * 192 * 9);
    check_layer(model, "conv5", (cr_shape){256, 13, 13}, 442624, 256LL * 169 * 192 * 9);
    check_layer(model, "pool5", (cr_shape){256, 6, 6}, 0, 0);
    check_layer(model, "fc6", (cr_shape){4096, 1, 1}, 9216LL * 4096 + 4096, 9216LL * 4096);
    check_layer(model, "drop6", (cr_shape){4096, 1, 1}, 0, 0);
    check_layer(model, "fc7", (cr_shape){4096, 1, 1}, 4096LL * 4096 + 4096, 4096LL * 4096);
    check_layer(model, "fc8", (cr_shape){1000, 1, 1}, 4097000, 4096000);
    check_layer(model, "prob", (cr_shape){1000, 1, 1}, 0, 0);
    cr_model_free(model);
}

static void test_vgg16(void) {
    cr_model *model = load("vgg16.yaml");
    CHECK(model != NULL);
    if (!model) return;
    /* Names from the two repeat blocks, numbered on from one to the next. */
    static const char *const names[] = {
        "block1.conv1",
        "block1.conv2",
        "block1.maxpool1",
        "block2.conv1",
        "block2.conv2",
        "block2.maxpool1",
        "block3.conv1",
        "block3.conv2",
        "block3.conv3",
        "block3.maxpool1",
        "block4.conv1",
        "block4.conv2",
        "block4.conv3",
        "block4.maxpool1",
        "block5.conv1",
        "block5.conv2",
        "block5.conv3",
        "block5.maxpool1",
        "fc6",
        "drop6",
        "fc7",
        "drop7",
        "fc8",
        "prob",
    };
    CHECK_INT(model->n_layers, (int)(sizeof names / sizeof names[0]));
    for (int i = 0; i < model->n_layers && i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcmp(model->layers[i].name, names[i]) != 0) {
            fprintf(stderr, "layer %d is '%s', expected '%s'\n", i, model->layers[i].name,
                    names[i]);
            CHECK(0);
        }
    CHECK(cr_model_find_layer(model, "block6.conv1") < 0);
    CHECK(cr_model_find_layer(model, "block4.conv4") < 0);
    /* $filters substituted per iteration; padding 'same' keeps 224 */
    check_layer(model, "block1.conv1", (cr_shape){64, 224, 224}, 64 * 27 + 64,
                64LL * 224 * 224 * 27);
    check_layer(model, "block1.maxpool1", (cr_shape){64, 112, 112}, 0, 0);
    check_layer(model, "block2.conv1", (cr_shape){128, 112, 112}, 128 * 576 + 128,
                128LL * 112 * 112 * 576);
    check_layer(model, "block3.conv3", (cr_shape){256, 56, 56}, 256 * 2304 + 256,
                256LL * 56 * 56 * 2304);
    check_layer(model, "block4.conv1", (cr_shape){512, 28, 28}, 512 * 2304 + 512,
                512LL * 28 * 28 * 2304);
    check_layer(model, "block5.conv3", (cr_shape){512, 14, 14}, 512 * 4608 + 512,
                512LL * 14 * 14 * 4608);
    check_layer(model, "block5.maxpool1", (cr_shape){512, 7, 7}, 0, 0);
    check_layer(model, "fc6", (cr_shape){4096, 1, 1}, 25088LL * 4096 + 4096, 25088LL * 4096);
    /* The commonly quoted figure, conv + dense: 15,470,264,320. */
    CHECK_INT(model->macs, 15470264320LL);
    cr_model_free(model);
}

static void test_vgg_small(void) {
    cr_model *model = load("vgg_small.yaml");
    CHECK(model != NULL);
    if (!model) return;
    check_layer(model, "block1.conv1", (cr_shape){32, 32, 32}, 864, 32LL * 1024 * 27);
    check_layer(model, "block1.batchnorm1", (cr_shape){32, 32, 32}, 64, 0);
    check_layer(model, "block1.relu2", (cr_shape){32, 32, 32}, 0, 0);
    check_layer(model, "block1.maxpool1", (cr_shape){32, 16, 16}, 0, 0);
    check_layer(model, "block2.conv1", (cr_shape){64, 16, 16}, 18432, 64LL * 256 * 288);
    check_layer(model, "block3.conv2", (cr_shape){128, 8, 8}, 147456, 128LL * 64 * 1152);
    check_layer(model, "block3.batchnorm2", (cr_shape){128, 8, 8}, 256, 0);
    check_layer(model, "block3.maxpool1", (cr_shape){128, 4, 4}, 0, 0);
    check_layer(model, "fc1", (cr_shape){256, 1, 1}, 2048 * 256 + 256, 2048 * 256);
    check_layer(model, "fc2", (cr_shape){10, 1, 1}, 2570, 2560);
    /* bias: false leaves the conv with only its weight */
    const cr_layer *conv = layer_named(model, "block2.conv2");
    CHECK(conv && conv->n_params == 1);
    /* batchnorm: weight, bias and two running statistics */
    const cr_layer *norm = layer_named(model, "block2.batchnorm2");
    CHECK(norm && norm->n_params == 4);
    cr_model_free(model);

    model = load("vgg_small_fashion.yaml");
    CHECK(model != NULL);
    if (!model) return;
    check_layer(model, "block1.conv1", (cr_shape){32, 28, 28}, 288, 32LL * 784 * 9);
    check_layer(model, "block2.conv2", (cr_shape){64, 14, 14}, 36864, 64LL * 196 * 576);
    check_layer(model, "block2.maxpool1", (cr_shape){64, 7, 7}, 0, 0);
    check_layer(model, "fc1", (cr_shape){256, 1, 1}, 3136 * 256 + 256, 3136 * 256);
    check_layer(model, "fc2", (cr_shape){10, 1, 1}, 2570, 2560);
    CHECK(cr_model_find_layer(model, "block3.conv1") < 0);
    cr_model_free(model);
}

static void test_residual(void) {
    cr_model *model = load("residual.yaml");
    CHECK(model != NULL);
    if (!model) return;
    const cr_layer *add = layer_named(model, "res_add");
    CHECK(add && add->n_inputs == 2);
    if (add) {
        CHECK(strcmp(model->layers[add->inputs[0]].name, "res_b") == 0);
        CHECK(strcmp(model->layers[add->inputs[1]].name, "stem") == 0);
    }
    const cr_layer *stem = layer_named(model, "stem");
    CHECK(stem && stem->inputs[0] == -1);
    check_layer(model, "res_add", (cr_shape){16, 32, 32}, 0, 0);
    check_layer(model, "branch_1x1", (cr_shape){8, 32, 32}, 8 * 16 + 8, 8LL * 1024 * 16);
    check_layer(model, "joined", (cr_shape){24, 32, 32}, 0, 0);
    check_layer(model, "pool", (cr_shape){24, 16, 16}, 0, 0);
    check_layer(model, "logits", (cr_shape){10, 1, 1}, 6144 * 10 + 10, 61440);
    cr_model_free(model);
}

int main(void) {
    test_every_model();
    test_lenet5();
    test_alexnet();
    test_vgg16();
    test_vgg_small();
    test_residual();
    return check_report();
}
