/* Finite-difference gradient checks through the whole runtime:
 *   - every tiny model in tests/gradcheck/ (each layer kind at awkward
 *     geometries), over several seeds;
 *   - every model in models/ at a reduced input size;
 *   - and the check itself: a layer with a deliberately wrong backward must
 *     be caught, so a silent gradcheck cannot pass for a working one. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gradcheck.h"
#include "net_fixture.h"

/* Smaller inputs keep the check fast; kinks and float32 noise grow with the
 * number of units, so smaller is also more exact. */
static cr_shape reduced_input(const char *file, cr_shape input) {
    /* 16 → conv1 15 → pool1 7 → pool2 3 → pool5 1: every division exact */
    if (strstr(file, "alexnet_small")) return (cr_shape){3, 16, 16};
    if (strstr(file, "alexnet")) return (cr_shape){3, 67, 67};
    if (strstr(file, "vgg16")) return (cr_shape){3, 32, 32};
    if (strstr(file, "lenet5")) return (cr_shape){1, 12, 12};
    /* 16 → unet's two pools 4, its decoder back up to 16 */
    if (strstr(file, "unet")) return (cr_shape){1, 16, 16};
    if (input.h > 12) return (cr_shape){input.c, 8, 8};
    return input;
}

static int kinds_seen[64];

static void note_kinds(const cr_model *model) {
    for (int i = 0; i < model->n_layers; i++)
        for (int k = 0; k < cr_layer_kind_count; k++)
            if (model->layers[i].kind == cr_layer_kinds[k]) kinds_seen[k] = 1;
}

/* The fewest values any batchnorm of the model normalises per channel at
 * this batch size (batch × H × W of its output); INT64_MAX without one. */
static int64_t fewest_batchnorm_values(const cr_model *model, int batch) {
    const cr_layer_kind *batchnorm = cr_layer_kind_find("batchnorm");
    int64_t fewest = INT64_MAX;
    for (int i = 0; i < model->n_layers; i++) {
        const cr_layer *layer = &model->layers[i];
        int64_t values = (int64_t)batch * layer->out.h * layer->out.w;
        if (layer->kind == batchnorm && values < fewest) fewest = values;
    }
    return fewest;
}

static void check_file(const char *path, bool reduce, int seeds, int samples) {
    int batch = 2, directions = 2, stride = 1;
    double tolerance = 2e-2;
    cr_model *model;
    cr_error err;
    char message[2048];
    if (!fixture_load_file(path, &model)) return;
    if (reduce && cr_model_set_input(model, reduced_input(path, model->input), &err)) {
        cr_error_format(&err, message, sizeof message);
        fprintf(stderr, "%s\n", message);
        CHECK(!"reduced input size works");
        cr_model_free(model);
        return;
    }
    note_kinds(model);
    if (reduce) {
        /* Whole models: one image keeps the number of relu units, and so of
         * probes that cross a kink, small. */
        batch = 1;
        if (fewest_batchnorm_values(model, batch) < 16) {
            /* ResNet-20 at 8×8: its last stage's batchnorms normalise 2×2
             * values per channel. Finite differences of the float32 loss
             * through statistics of four values are ill-conditioned: one
             * usable probe of one bias read 2.7e-2 at seed 1, other seeds
             * pass at 2e-2, and the same net's gradients match PyTorch's
             * to 1.5e-6 (tests/pytorch/compare.py). Batchnorm itself is held
             * to 2e-2 in tests/gradcheck/ over three seeds. */
            tolerance = 5e-2;
        }
    }
    if (model->parameters > 3000000) {
        /* AlexNet, VGG-16, ResNet-18 and MobileNet-v2: their dense layers
         * or their hundred-odd tensors make a full check cost minutes and
         * most probes cross relu kinks, so one element of every third
         * tensor (each kind and shape of theirs is covered in full by the
         * smaller models). */
        samples = 1;
        directions = 0;
        stride = 3;
    }
    if (getenv("CNNRUN_TEST_VERBOSE")) fprintf(stderr, "checking %s\n", path);
    for (int seed = 1; seed <= seeds; seed++) {
        cr_gradcheck_options options = {.batch = batch,
                                        .seed = (uint64_t)seed,
                                        .samples = samples,
                                        .directions = directions,
                                        .tensor_stride = stride,
                                        .tolerance = tolerance};
        cr_gradcheck_result *results;
        int n;
        CHECK(cr_gradcheck(model, &options, &results, &n, &err) == 0);
        int checked = 0;
        for (int i = 0; i < n; i++) {
            checked += results[i].checked;
            if (!results[i].passed)
                fprintf(stderr, "%s seed %d: %s (%s) relative error %.3g\n", path, seed,
                        results[i].name, results[i].kind, results[i].worst);
            CHECK(results[i].passed);
        }
        /* Enough probes must be usable, or the check says little. */
        if (checked < n * (samples + directions) / 3)
            fprintf(stderr, "%s seed %d: only %d probes usable\n", path, seed, checked);
        CHECK(checked >= n * (samples + directions) / 3);
        free(results);
    }
    cr_model_free(model);
}

/* How a folder's models are checked. */
typedef struct folder_check {
    bool reduce;
    int seeds, samples;
} folder_check;

static void check_each(const char *path, void *context) {
    const folder_check *how = context;
    check_file(path, how->reduce, how->seeds, how->samples);
}

static void check_folder(const char *folder, bool reduce, int seeds, int samples) {
    folder_check how = {reduce, seeds, samples};
    CHECK(fixture_each_model_file(folder, check_each, &how) > 0);
}

/* relu whose backward is 10% too large: the check must notice. */
static void wrong_relu_backward(const cr_step *step) {
    int64_t n = step->batch * cr_shape_size(step->layer->out);
    for (int64_t i = 0; i < n; i++)
        if (step->dx[0] && step->y[i] > 0) step->dx[0][i] += 1.1f * step->dy[i];
}

static void check_detects_wrong_gradient(void) {
    const char *yaml = "input: [2, 6, 6]\n"
                       "layers:\n"
                       "  - {type: conv, filters: 3, kernel: 3}\n"
                       "  - {type: relu}\n"
                       "  - {type: dense, units: 4}\n"
                       "  - {type: softmax}\n";
    cr_model *model;
    cr_error err;
    CHECK(cr_model_load_text(yaml, strlen(yaml), "wrong.yaml", &model, &err) == 0);
    if (!model) return;
    int relu = cr_model_find_layer(model, "relu1");
    cr_layer_kind broken = *model->layers[relu].kind;
    broken.backward = wrong_relu_backward;
    model->layers[relu].kind = &broken;
    cr_gradcheck_options options = {
        .batch = 2, .seed = 3, .samples = 6, .directions = 2, .tolerance = 2e-2};
    cr_gradcheck_result *results;
    int n;
    CHECK(cr_gradcheck(model, &options, &results, &n, &err) == 0);
    int conv_failed = 0, dense_passed = 0;
    for (int i = 0; i < n; i++) {
        if (strncmp(results[i].name, "conv1.", 6) == 0 && !results[i].passed) conv_failed++;
        if (strncmp(results[i].name, "dense1.", 7) == 0 && results[i].passed) dense_passed++;
    }
    CHECK_INT(conv_failed, 2);  /* weight and bias sit below the broken layer */
    CHECK_INT(dense_passed, 2); /* the layers above it are unaffected */
    free(results);
    cr_model_free(model);
}

int main(void) {
    check_detects_wrong_gradient();
    check_folder(CNNRUN_SOURCE_DIR "/tests/gradcheck", false, 3, 8);
    check_folder(CNNRUN_SOURCE_DIR "/models", true, 1, 4);
    /* Every layer kind went through at least one check. */
    for (int k = 0; k < cr_layer_kind_count; k++) {
        if (!kinds_seen[k]) fprintf(stderr, "no gradcheck covers '%s'\n", cr_layer_kinds[k]->name);
        CHECK(kinds_seen[k]);
    }
    return check_report();
}
