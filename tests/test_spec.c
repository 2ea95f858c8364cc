/* The model format (v1): good specs written inline, with the shapes, counts,
 * names and config values they must produce; and the corpus of bad specs in
 * tests/specs/bad, each naming the error text and position it must get. */
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "layers/batchnorm.h"
#include "layers/conv.h"
#include "layers/dense.h"
#include "layers/dropout.h"
#include "layers/lrn.h"
#include "layers/pool.h"
#include "model.h"

#ifndef CNNRUN_SOURCE_DIR
#define CNNRUN_SOURCE_DIR "."
#endif

/* ---- helpers ------------------------------------------------------------------ */

static cr_model *load_text(const char *text) {
    cr_model *model = NULL;
    cr_error err = {0};
    if (cr_model_load_text(text, strlen(text), "inline.yaml", &model, &err)) {
        char message[2048];
        cr_error_format(&err, message, sizeof message);
        fprintf(stderr, "spec does not load: %s\n--- spec:\n%s---\n", message, text);
    }
    return model;
}

/* The formatted error for a spec that must fail. */
static void load_error(const char *text, char *message, size_t size, cr_error *err) {
    cr_model *model = NULL;
    memset(err, 0, sizeof *err);
    int status = cr_model_load_text(text, strlen(text), "inline.yaml", &model, err);
    CHECK(status != 0);
    CHECK(model == NULL);
    cr_model_free(model);
    cr_error_format(err, message, size);
}

static const cr_layer *layer_named(const cr_model *model, const char *name) {
    int i = cr_model_find_layer(model, name);
    if (i < 0) fprintf(stderr, "no layer '%s'\n", name);
    return i < 0 ? NULL : &model->layers[i];
}

static void *config_of(const cr_model *model, const char *name) {
    const cr_layer *layer = layer_named(model, name);
    return layer ? layer->config : NULL;
}

static int64_t layer_parameters(const cr_layer *layer) {
    int64_t count = 0;
    for (int p = 0; p < layer->n_params; p++)
        if (!layer->params[p].is_buffer) count += layer->params[p].count;
    return count;
}

#define CHECK_SHAPE(model, name, C, H, W)                                                          \
    do {                                                                                           \
        const cr_layer *check_l_ = layer_named(model, name);                                       \
        CHECK(check_l_ != NULL);                                                                   \
        if (check_l_) {                                                                            \
            CHECK_INT(check_l_->out.c, C);                                                         \
            CHECK_INT(check_l_->out.h, H);                                                         \
            CHECK_INT(check_l_->out.w, W);                                                         \
        }                                                                                          \
    } while (0)

/* Name of input k of a layer ("input" for the network input). */
static const char *input_name(const cr_model *model, const char *layer, int k) {
    const cr_layer *l = layer_named(model, layer);
    if (!l || k >= l->n_inputs) return "(none)";
    return l->inputs[k] < 0 ? "input" : model->layers[l->inputs[k]].name;
}

/* ---- every layer type with its defaults --------------------------------------- */

static void test_defaults(void) {
    cr_model *model = load_text("input: [3, 18, 18]\n"
                                "layers:\n"
                                "  - {type: conv, filters: 4, kernel: 3}\n"
                                "  - {type: maxpool, size: 2}\n"
                                "  - {type: avgpool, size: 2}\n"
                                "  - {type: leaky_relu}\n"
                                "  - {type: lrn}\n"
                                "  - {type: dropout}\n"
                                "  - {type: batchnorm}\n"
                                "  - {type: relu}\n"
                                "  - {type: tanh}\n"
                                "  - {type: sigmoid}\n"
                                "  - {type: flatten}\n"
                                "  - {type: dense, units: 5}\n"
                                "  - {type: softmax}\n");
    CHECK(model != NULL);
    if (!model) return;
    CHECK(strcmp(model->name, "model") == 0);
    CHECK(model->train == NULL);
    CHECK_INT(model->n_layers, 13);
    CHECK_INT(model->warnings.count, 0);

    const conv_config *conv = config_of(model, "conv1");
    CHECK(conv != NULL);
    if (conv) {
        CHECK_INT(conv->filters, 4);
        CHECK_INT(conv->kernel[0], 3);
        CHECK_INT(conv->kernel[1], 3);
        CHECK_INT(conv->stride[0], 1);
        CHECK_INT(conv->stride[1], 1);
        CHECK_INT(conv->padding.mode, CR_PAD_EXPLICIT);
        CHECK_INT(conv->padding.size[0], 0);
        CHECK_INT(conv->padding.size[1], 0);
        CHECK_INT(conv->groups, 1);
        CHECK(conv->bias.enabled);
        CHECK(!conv->bias.values.present);
        CHECK_INT(conv->activation, CR_ACT_NONE);
        CHECK(!conv->weights.present);
        CHECK(conv->trainable);
    }
    /* (18 − 3)/1 + 1 = 16; 4·3·3·3 + 4 */
    CHECK_SHAPE(model, "conv1", 4, 16, 16);
    CHECK_INT(layer_parameters(layer_named(model, "conv1")), 112);
    CHECK_INT(layer_named(model, "conv1")->macs, 4 * 16 * 16 * 27);

    /* stride defaults to the window size */
    const pool_config *maxpool = config_of(model, "maxpool1");
    CHECK(maxpool && maxpool->size[0] == 2 && maxpool->size[1] == 2);
    CHECK(maxpool && maxpool->stride[0] == 2 && maxpool->stride[1] == 2);
    CHECK(maxpool && maxpool->padding[0] == 0 && maxpool->padding[1] == 0);
    CHECK_SHAPE(model, "maxpool1", 4, 8, 8);
    const pool_config *avgpool = config_of(model, "avgpool1");
    CHECK(avgpool && avgpool->stride[0] == 2 && avgpool->stride[1] == 2);
    CHECK_SHAPE(model, "avgpool1", 4, 4, 4);

    /* leaky_relu's config is one float, the slope */
    const float *slope = config_of(model, "leaky_relu1");
    CHECK(slope != NULL);
    if (slope) CHECK_NEAR(*slope, 0.01, 1e-7);
    const lrn_config *lrn = config_of(model, "lrn1");
    CHECK(lrn != NULL);
    if (lrn) {
        CHECK_INT(lrn->size, 5);
        CHECK_NEAR(lrn->alpha, 1e-4, 1e-9);
        CHECK_NEAR(lrn->beta, 0.75, 1e-7);
        CHECK_NEAR(lrn->k, 2.0, 1e-7);
    }
    const dropout_config *dropout = config_of(model, "dropout1");
    CHECK(dropout != NULL);
    if (dropout) CHECK_NEAR(dropout->rate, 0.5, 1e-7);
    const batchnorm_config *batchnorm = config_of(model, "batchnorm1");
    CHECK(batchnorm != NULL);
    if (batchnorm) {
        CHECK_NEAR(batchnorm->eps, 1e-5, 1e-10);
        CHECK_NEAR(batchnorm->momentum, 0.1, 1e-7);
    }
    const cr_layer *norm = layer_named(model, "batchnorm1");
    CHECK(norm && norm->n_params == 4);
    if (norm) {
        CHECK(strcmp(norm->params[0].suffix, "weight") == 0 && norm->params[0].count == 4);
        CHECK(strcmp(norm->params[2].suffix, "running_mean") == 0 && norm->params[2].is_buffer);
        CHECK(!norm->params[3].trainable);
    }
    CHECK_SHAPE(model, "batchnorm1", 4, 4, 4);
    CHECK_SHAPE(model, "sigmoid1", 4, 4, 4);
    CHECK_SHAPE(model, "flatten1", 64, 1, 1);

    const dense_config *dense = config_of(model, "dense1");
    CHECK(dense != NULL);
    if (dense) {
        CHECK_INT(dense->units, 5);
        CHECK(dense->bias.enabled);
        CHECK_INT(dense->activation, CR_ACT_NONE);
        CHECK(dense->trainable);
    }
    CHECK_SHAPE(model, "dense1", 5, 1, 1);
    CHECK_INT(layer_parameters(layer_named(model, "dense1")), 64 * 5 + 5);
    CHECK_SHAPE(model, "softmax1", 5, 1, 1);
    CHECK_INT(model->output, 12);

    /* conv 112 + batchnorm 8 + dense 325; MACs conv + dense */
    CHECK_INT(model->parameters, 445);
    CHECK_INT(model->trainable_parameters, 445);
    CHECK_INT(model->buffers, 8);
    CHECK_INT(model->macs, 4 * 16 * 16 * 27 + 64 * 5);
    cr_model_free(model);
}

/* ---- every key given, none at its default -------------------------------------- */

static void test_every_key(void) {
    cr_model *model = load_text("name: every_key\n"
                                "input: [3, 21, 20]\n"
                                "layers:\n"
                                "  - type: conv\n"
                                "    name: c\n"
                                "    input: input\n"
                                "    filters: 6\n"
                                "    kernel: [3, 5]\n"
                                "    stride: [2, 1]\n"
                                "    padding: [1, 2]\n"
                                "    groups: 3\n"
                                "    bias: false\n"
                                "    activation: leaky_relu\n"
                                "    trainable: false\n"
                                "  - {type: maxpool, name: mp, size: [2, 4], stride: [1, 2], "
                                "padding: [1, 0]}\n"
                                "  - {type: avgpool, name: ap, size: 3, stride: 1, padding: 1}\n"
                                "  - {type: leaky_relu, name: lk, slope: 0.2}\n"
                                "  - {type: lrn, name: n, size: 3, alpha: 0.001, beta: 0.5, k: 1}\n"
                                "  - {type: dropout, name: d, rate: 0.25}\n"
                                "  - {type: batchnorm, name: bn, eps: 0.001, momentum: 0.01}\n"
                                "  - {type: dense, name: fc, units: 7, bias: no, activation: "
                                "sigmoid, trainable: false}\n"
                                "  - {type: dense, name: out, units: 3, activation: tanh}\n");
    CHECK(model != NULL);
    if (!model) return;
    CHECK(strcmp(model->name, "every_key") == 0);
    CHECK_INT(model->warnings.count, 0);
    const conv_config *conv = config_of(model, "c");
    CHECK(conv != NULL);
    if (conv) {
        CHECK(conv->kernel[0] == 3 && conv->kernel[1] == 5);
        CHECK(conv->stride[0] == 2 && conv->stride[1] == 1);
        CHECK(conv->padding.size[0] == 1 && conv->padding.size[1] == 2);
        CHECK_INT(conv->groups, 3);
        CHECK(!conv->bias.enabled);
        CHECK_INT(conv->activation, CR_ACT_LEAKY_RELU);
        CHECK(!conv->trainable);
    }
    /* height (21 + 2 − 3)/2 + 1 = 11, width (20 + 4 − 5)/1 + 1 = 20;
     * weight 6·(3/3)·3·5 = 90, no bias */
    CHECK_SHAPE(model, "c", 6, 11, 20);
    const cr_layer *c = layer_named(model, "c");
    CHECK(c && c->n_params == 1 && !c->params[0].trainable);
    CHECK(c && c->params[0].dims[1] == 1 && c->params[0].fan_in == 15);
    CHECK_INT(c->macs, 6 * 11 * 20 * 15);
    /* height (11 + 2 − 2)/1 + 1 = 12, width (20 − 4)/2 + 1 = 9 */
    CHECK_SHAPE(model, "mp", 6, 12, 9);
    /* (12 + 2 − 3)/1 + 1 = 12, (9 + 2 − 3)/1 + 1 = 9 */
    CHECK_SHAPE(model, "ap", 6, 12, 9);
    const float *slope = config_of(model, "lk");
    if (slope) CHECK_NEAR(*slope, 0.2, 1e-7);
    const lrn_config *lrn = config_of(model, "n");
    CHECK(lrn && lrn->size == 3);
    if (lrn) {
        CHECK_NEAR(lrn->alpha, 0.001, 1e-9);
        CHECK_NEAR(lrn->beta, 0.5, 1e-7);
        CHECK_NEAR(lrn->k, 1.0, 1e-7);
    }
    const dropout_config *dropout = config_of(model, "d");
    if (dropout) CHECK_NEAR(dropout->rate, 0.25, 1e-7);
    const batchnorm_config *bn = config_of(model, "bn");
    if (bn) {
        CHECK_NEAR(bn->eps, 0.001, 1e-9);
        CHECK_NEAR(bn->momentum, 0.01, 1e-9);
    }
    const dense_config *fc = config_of(model, "fc");
    CHECK(fc && fc->units == 7 && !fc->bias.enabled && fc->activation == CR_ACT_SIGMOID &&
          !fc->trainable);
    const dense_config *out = config_of(model, "out");
    CHECK(out && out->activation == CR_ACT_TANH);
    /* frozen: conv 90 and fc 6·12·9·7 = 4,536; trainable: bn 12, out 7·3 + 3 */
    int64_t frozen = 90 + 6 * 12 * 9 * 7;
    CHECK_INT(model->parameters, frozen + 12 + 24);
    CHECK_INT(model->trainable_parameters, 12 + 24);
    cr_memory memory = cr_model_memory(model, 2, true, 1);
    CHECK_INT(memory.gradients, 36 * 4);
    CHECK_INT(memory.optimizer, 36 * 4);
    cr_model_free(model);
}

/* Every activation name, on conv and dense. */
static void test_activations(void) {
    cr_model *model = load_text("input: [1, 4, 4]\n"
                                "layers:\n"
                                "  - {type: conv, filters: 1, kernel: 1, activation: none}\n"
                                "  - {type: conv, filters: 1, kernel: 1, activation: relu}\n"
                                "  - {type: conv, filters: 1, kernel: 1, activation: tanh}\n"
                                "  - {type: dense, units: 2, activation: sigmoid}\n"
                                "  - {type: dense, units: 2, activation: leaky_relu}\n");
    CHECK(model != NULL);
    if (!model) return;
    const conv_config *c1 = config_of(model, "conv1"), *c2 = config_of(model, "conv2"),
                      *c3 = config_of(model, "conv3");
    const dense_config *d1 = config_of(model, "dense1"), *d2 = config_of(model, "dense2");
    CHECK(c1 && c1->activation == CR_ACT_NONE);
    CHECK(c2 && c2->activation == CR_ACT_RELU);
    CHECK(c3 && c3->activation == CR_ACT_TANH);
    CHECK(d1 && d1->activation == CR_ACT_SIGMOID);
    CHECK(d2 && d2->activation == CR_ACT_LEAKY_RELU);
    cr_model_free(model);
}

/* Weights and biases given inline as nested lists. */
static void test_inline_values(void) {
    cr_model *model =
        load_text("input: [1, 3, 3]\n"
                  "layers:\n"
                  "  - {type: conv, name: c, filters: 1, kernel: 2,\n"
                  "     weights: [[[[1, 2], [3, 4]]]], bias: [0.5]}\n"
                  "  - {type: dense, name: fc, units: 3,\n"
                  "     weights: [[1, 2, 3, 4], [5, 6, 7, 8], [-1, -2, -3, -4.5]]}\n");
    CHECK(model != NULL);
    if (!model) return;
    const conv_config *conv = config_of(model, "c");
    CHECK(conv && conv->weights.present && conv->weights.ndim == 4 && conv->weights.count == 4);
    if (conv && conv->weights.present) {
        CHECK_NEAR(conv->weights.data[0], 1, 0);
        CHECK_NEAR(conv->weights.data[3], 4, 0);
        CHECK(conv->bias.enabled && conv->bias.values.present);
        CHECK_NEAR(conv->bias.values.data[0], 0.5, 0);
    }
    const cr_layer *c = layer_named(model, "c");
    CHECK(c && c->params[0].init == CR_INIT_VALUES && c->params[1].init == CR_INIT_VALUES);
    const dense_config *fc = config_of(model, "fc");
    CHECK(fc && fc->weights.present && fc->weights.dims[0] == 3 && fc->weights.dims[1] == 4);
    if (fc && fc->weights.present) CHECK_NEAR(fc->weights.data[11], -4.5, 0);
    /* inline weights, default bias: the bias is still initialised randomly */
    const cr_layer *dense = layer_named(model, "fc");
    CHECK(dense && dense->params[0].init == CR_INIT_VALUES &&
          dense->params[1].init == CR_INIT_UNIFORM_FAN_IN);
    cr_model_free(model);
}

/* ---- int or [h, w]; padding valid/same ------------------------------------------ */

static void test_pairs_and_padding(void) {
    cr_model *model = load_text("input: [2, 10, 12]\n"
                                "layers:\n"
                                "  - {type: conv, name: a, filters: 2, kernel: 3, padding: same}\n"
                                "  - {type: conv, name: b, filters: 2, kernel: [3, 3], padding: "
                                "valid}\n"
                                "  - {type: conv, name: c, filters: 2, kernel: [1, 5], padding: "
                                "same}\n"
                                "  - {type: conv, name: d, filters: 2, kernel: [3, 2], stride: "
                                "[1, 2], padding: [1, 0]}\n"
                                "  - {type: maxpool, name: p, size: [2, 1], padding: [1, 0]}\n");
    CHECK(model != NULL);
    if (!model) return;
    const conv_config *a = config_of(model, "a");
    /* same = (k − 1)/2, resolved per axis */
    CHECK(a && a->padding.mode == CR_PAD_SAME && a->padding.size[0] == 1 &&
          a->padding.size[1] == 1);
    CHECK_SHAPE(model, "a", 2, 10, 12);
    const conv_config *b = config_of(model, "b");
    CHECK(b && b->padding.mode == CR_PAD_EXPLICIT && b->padding.size[0] == 0);
    CHECK_SHAPE(model, "b", 2, 8, 10);
    const conv_config *c = config_of(model, "c");
    CHECK(c && c->padding.size[0] == 0 && c->padding.size[1] == 2);
    CHECK_SHAPE(model, "c", 2, 8, 10);
    /* height (8 + 2 − 3)/1 + 1 = 8, width (10 − 2)/2 + 1 = 5 */
    CHECK_SHAPE(model, "d", 2, 8, 5);
    /* stride defaults to the size per axis: [2, 1]; (8 + 2 − 2)/2 + 1 = 5 */
    const pool_config *p = config_of(model, "p");
    CHECK(p && p->stride[0] == 2 && p->stride[1] == 1);
    CHECK_SHAPE(model, "p", 2, 5, 5);
    CHECK_INT(model->warnings.count, 0);
    cr_model_free(model);
}

/* ---- repeat ------------------------------------------------------------------------ */

static void test_repeat(void) {
    cr_model *model = load_text("input: [3, 32, 32]\n"
                                "layers:\n"
                                "  - repeat: 3\n"
                                "    with: {filters: [32, 64, 128]}\n"
                                "    layers:\n"
                                "      - {type: conv, filters: $filters, kernel: 3, padding: "
                                "same, activation: relu}\n"
                                "      - {type: conv, filters: $filters, kernel: 3, padding: "
                                "same, activation: relu}\n"
                                "      - {type: maxpool, size: 2}\n"
                                "  - {type: dense, units: 10}\n");
    CHECK(model != NULL);
    if (!model) return;
    static const char *const names[] = {
        "block1.conv1",    "block1.conv2", "block1.maxpool1", "block2.conv1",    "block2.conv2",
        "block2.maxpool1", "block3.conv1", "block3.conv2",    "block3.maxpool1", "dense1",
    };
    CHECK_INT(model->n_layers, 10);
    for (int i = 0; i < 10 && i < model->n_layers; i++)
        if (strcmp(model->layers[i].name, names[i]) != 0) {
            fprintf(stderr, "layer %d is %s, expected %s\n", i, model->layers[i].name, names[i]);
            CHECK(0);
        }
    CHECK_SHAPE(model, "block1.conv2", 32, 32, 32);
    CHECK_SHAPE(model, "block2.conv1", 64, 16, 16);
    CHECK_SHAPE(model, "block3.maxpool1", 128, 4, 4);
    /* each iteration reads the previous one's last layer */
    CHECK(strcmp(input_name(model, "block2.conv1", 0), "block1.maxpool1") == 0);
    CHECK_INT(layer_parameters(layer_named(model, "block3.conv1")), 128 * 64 * 9 + 128);
    /* layer names are prefixed; the scope string is what resolves names */
    CHECK(strcmp(layer_named(model, "block2.conv1")->scope, "block2.") == 0);
    cr_model_free(model);
}

/* Nested repeats, variables from both levels, lists as values, a named
 * block, `$name` in name, input and type, and names resolved in scope. */
static void test_nested_repeat(void) {
    cr_model *model =
        load_text("input: [3, 8, 8]\n"
                  "layers:\n"
                  "  - repeat: 2\n"
                  "    name: stage\n"
                  "    with: {f: [4, 8], k: [[1, 3], 3], act: [relu, tanh], an: [relu1, tanh1]}\n"
                  "    layers:\n"
                  "      - repeat: 2\n"
                  "        with: {n: [a, b]}\n"
                  "        layers:\n"
                  "          - {type: conv, name: $n, filters: $f, kernel: $k, "
                  "padding: same}\n"
                  "          - {type: $act}\n"
                  "          - {type: add, inputs: [$n, $an]}\n"
                  "      - {type: concat, inputs: [block1.add1, block2.add1]}\n"
                  "  - {type: conv, name: '$x', filters: 2, kernel: 1}\n");
    CHECK(model != NULL);
    if (!model) return;
    CHECK_INT(model->n_layers, 15);
    /* outer prefix, then inner prefix, then the name */
    CHECK_SHAPE(model, "stage1.block1.a", 4, 8, 8);
    CHECK_SHAPE(model, "stage1.block2.b", 4, 8, 8);
    CHECK_SHAPE(model, "stage2.block1.a", 8, 8, 8);
    CHECK(layer_named(model, "stage1.block1.relu1") != NULL);
    CHECK(layer_named(model, "stage2.block2.tanh1") != NULL);
    /* kernel [1, 3] in stage 1: 4·3·1·3 + 4; 3×3 in stage 2: 8·8·9 + 8 */
    CHECK_INT(layer_parameters(layer_named(model, "stage1.block1.a")), 40);
    CHECK_INT(layer_parameters(layer_named(model, "stage2.block1.a")), 584);
    const conv_config *a = config_of(model, "stage1.block1.a");
    CHECK(a && a->padding.size[0] == 0 && a->padding.size[1] == 1);
    /* `relu1` inside stage1.block2 means stage1.block2.relu1 */
    CHECK(strcmp(input_name(model, "stage1.block2.add1", 0), "stage1.block2.b") == 0);
    CHECK(strcmp(input_name(model, "stage1.block2.add1", 1), "stage1.block2.relu1") == 0);
    /* `block1.add1` from stage2's own level */
    CHECK(strcmp(input_name(model, "stage2.concat1", 0), "stage2.block1.add1") == 0);
    CHECK_SHAPE(model, "stage2.concat1", 16, 8, 8);
    /* a quoted '$x' is text, not a variable */
    CHECK(layer_named(model, "$x") != NULL);
    CHECK_INT(model->parameters, 40 + 52 + 584 + 584 + 34);
    cr_model_free(model);
}

/* Two repeats with the same name number on: block1, block2, then block3. */
static void test_repeat_numbering_continues(void) {
    cr_model *model = load_text("input: [3, 16, 16]\n"
                                "layers:\n"
                                "  - repeat: 2\n"
                                "    layers: [{type: conv, filters: 4, kernel: 3, padding: 1}]\n"
                                "  - {type: relu}\n"
                                "  - repeat: 1\n"
                                "    layers: [{type: conv, filters: 4, kernel: 3, padding: 1}]\n"
                                "  - repeat: 2\n"
                                "    name: extra\n"
                                "    layers: [{type: relu}]\n");
    CHECK(model != NULL);
    if (!model) return;
    CHECK(layer_named(model, "block1.conv1") != NULL);
    CHECK(layer_named(model, "block2.conv1") != NULL);
    CHECK(layer_named(model, "block3.conv1") != NULL);
    CHECK(layer_named(model, "extra2.relu1") != NULL);
    /* the top-level relu counts on its own: relu1 */
    CHECK(layer_named(model, "relu1") != NULL);
    CHECK(strcmp(input_name(model, "block3.conv1", 0), "relu1") == 0);
    cr_model_free(model);
}

/* ---- YAML anchors, aliases, merge keys ------------------------------------------ */

static void test_anchors_and_merges(void) {
    cr_model *model =
        load_text("input: [3, 8, 8]\n"
                  "train:\n"
                  "  templates:\n"
                  "    - &conv {type: conv, kernel: 3, padding: same, activation: relu}\n"
                  "    - &wide {filters: 16, bias: false}\n"
                  "    - &stage [{type: conv, filters: 2, kernel: 1}, {type: relu}]\n"
                  "layers:\n"
                  "  - &first {type: conv, filters: 4, kernel: 3, padding: same}\n"
                  "  - *first\n"
                  "  - {<<: *conv, filters: 8}\n"
                  "  - {<<: *conv, filters: 8, kernel: 1, padding: 0, name: one}\n"
                  "  - {<<: [*wide, *conv], name: both}\n"
                  "  - {<<: [*conv, *wide], name: both_again, filters: 3}\n"
                  "  - repeat: 2\n"
                  "    layers: *stage\n");
    CHECK(model != NULL);
    if (!model) return;
    /* an alias repeats the layer: a second, identical conv */
    CHECK_SHAPE(model, "conv1", 4, 8, 8);
    CHECK_SHAPE(model, "conv2", 4, 8, 8);
    CHECK_INT(layer_parameters(layer_named(model, "conv2")), 4 * 4 * 9 + 4);
    const conv_config *merged = config_of(model, "conv3");
    CHECK(merged && merged->filters == 8 && merged->kernel[0] == 3 &&
          merged->activation == CR_ACT_RELU && merged->padding.mode == CR_PAD_SAME);
    /* explicit keys win over merged ones */
    const conv_config *one = config_of(model, "one");
    CHECK(one && one->kernel[0] == 1 && one->padding.mode == CR_PAD_EXPLICIT &&
          one->padding.size[0] == 0 && one->activation == CR_ACT_RELU);
    const conv_config *both = config_of(model, "both");
    CHECK(both && both->filters == 16 && !both->bias.enabled && both->kernel[0] == 3);
    const conv_config *again = config_of(model, "both_again");
    CHECK(again && again->filters == 3 && !again->bias.enabled);
    CHECK_SHAPE(model, "both_again", 3, 8, 8);
    /* a list of layers reused through an alias */
    CHECK_SHAPE(model, "block1.conv1", 2, 8, 8);
    CHECK(layer_named(model, "block2.relu1") != NULL);
    CHECK_INT(model->n_layers, 10);
    cr_model_free(model);
}

/* ---- default names ---------------------------------------------------------------- */

static void test_default_names(void) {
    cr_model *model = load_text("input: [1, 8, 8]\n"
                                "layers:\n"
                                "  - {type: conv, filters: 2, kernel: 3}\n"
                                "  - {type: relu}\n"
                                "  - {type: conv, name: mine, filters: 2, kernel: 3}\n"
                                "  - {type: relu}\n"
                                "  - {type: conv, filters: 2, kernel: 1}\n"
                                "  - {type: leaky_relu}\n"
                                "  - {type: flatten}\n");
    CHECK(model != NULL);
    if (!model) return;
    static const char *const names[] = {"conv1", "relu1",       "mine",    "relu2",
                                        "conv3", "leaky_relu1", "flatten1"};
    for (int i = 0; i < 7 && i < model->n_layers; i++)
        CHECK(!strcmp(model->layers[i].name, names[i]));
    /* a named layer still counts: the third conv is conv3 */
    CHECK(cr_model_find_layer(model, "conv2") < 0);
    /* positions: each layer's entry in the file */
    CHECK_INT(layer_named(model, "relu2")->mark.line, 6);
    CHECK_INT(layer_named(model, "relu2")->mark.column, 5);
    cr_model_free(model);
}

/* ---- graphs: input:, add, concat ---------------------------------------------------- */

static void test_graph(void) {
    /* written out of order: `sum` names layers that come later in the file */
    cr_model *model = load_text("input: [3, 8, 8]\n"
                                "layers:\n"
                                "  - {type: conv, name: stem, filters: 4, kernel: 3, padding: 1}\n"
                                "  - {type: add, name: sum, inputs: [stem, right, left]}\n"
                                "  - {type: conv, name: left, input: stem, filters: 4, kernel: 1}\n"
                                "  - {type: conv, name: right, input: stem, filters: 4, kernel: "
                                "3, padding: same}\n"
                                "  - {type: concat, name: cat, inputs: [sum, input, left]}\n"
                                "  - {type: conv, name: unused, input: input, filters: 1, "
                                "kernel: 1}\n"
                                "  - {type: maxpool, name: pool, input: cat, size: 2}\n"
                                "  - {type: dense, name: out, units: 2}\n");
    CHECK(model != NULL);
    if (!model) return;
    /* every layer comes after its inputs */
    for (int i = 0; i < model->n_layers; i++)
        for (int k = 0; k < model->layers[i].n_inputs; k++) CHECK(model->layers[i].inputs[k] < i);
    CHECK(strcmp(model->layers[model->output].name, "out") == 0);
    CHECK_INT(layer_named(model, "sum")->n_inputs, 3);
    CHECK(strcmp(input_name(model, "sum", 1), "right") == 0);
    CHECK(strcmp(input_name(model, "cat", 1), "input") == 0);
    CHECK(strcmp(input_name(model, "left", 0), "stem") == 0);
    /* `input: input` is the network input, even far down the file */
    CHECK(strcmp(input_name(model, "unused", 0), "input") == 0);
    /* the layer after `unused` in the file reads `cat`, as it says */
    CHECK(strcmp(input_name(model, "pool", 0), "cat") == 0);
    CHECK_SHAPE(model, "sum", 4, 8, 8);
    /* 4 + 3 + 4 channels */
    CHECK_SHAPE(model, "cat", 11, 8, 8);
    CHECK_SHAPE(model, "pool", 11, 4, 4);
    CHECK_INT(layer_parameters(layer_named(model, "out")), 11 * 16 * 2 + 2);
    /* `unused` feeds nothing and is not last: a warning, not an error */
    CHECK_INT(model->warnings.count, 1);
    if (model->warnings.count == 1) {
        CHECK(strcmp(model->warnings.items[0].layer, "unused") == 0);
        CHECK_CONTAINS(model->warnings.items[0].message, "never used");
    }
    cr_model_free(model);
}

/* ---- train: accepted, kept, not checked ---------------------------------------------- */

static void test_train_section(void) {
    cr_model *model = load_text("name: with_train\n"
                                "input: [1, 4, 4]\n"
                                "layers:\n"
                                "  - {type: dense, units: 2}\n"
                                "train:\n"
                                "  epochs: 5\n"
                                "  optimizer: {type: sgd, lr: 0.05, momentum: 0.9}\n"
                                "  anything_at_all: [1, {x: y}]\n");
    CHECK(model != NULL);
    if (!model) return;
    CHECK(model->train != NULL);
    CHECK(model->train && model->train->type == YAML_MAPPING_NODE);
    CHECK_INT(model->parameters, 16 * 2 + 2);
    cr_model_free(model);
}

/* ---- warnings: pixels dropped ---------------------------------------------------- */

static void test_dropped_pixels_warning(void) {
    /* (28 − 3) = 25 is odd: stride 2 leaves the last row and column out */
    cr_model *model = load_text("input: [1, 28, 28]\n"
                                "layers:\n"
                                "  - {type: conv, name: c, filters: 2, kernel: 3, stride: 2}\n"
                                "  - {type: maxpool, name: p, size: 3, stride: 4}\n");
    CHECK(model != NULL);
    if (!model) return;
    /* (28 − 3)/2 + 1 = 13; pool (13 − 3)/4 + 1 = 3, 10 % 4 = 2 dropped */
    CHECK_SHAPE(model, "c", 2, 13, 13);
    CHECK_SHAPE(model, "p", 2, 3, 3);
    CHECK_INT(model->warnings.count, 4);
    if (model->warnings.count == 4) {
        const cr_warning *w = model->warnings.items;
        CHECK(strcmp(w[0].layer, "c") == 0);
        CHECK_CONTAINS(w[0].message, "height: (28 + 2·0 − 3) = 25 is not divisible by stride 2");
        CHECK_CONTAINS(w[0].message, "the last 1 row of the padded input is never covered");
        CHECK_CONTAINS(w[1].message, "the last 1 column of the padded input is never covered");
        CHECK(strcmp(w[2].layer, "p") == 0);
        CHECK_CONTAINS(w[2].message, "the last 2 rows of the padded input are never covered");
        CHECK_CONTAINS(w[3].message, "the last 2 columns");
        /* positioned at the layer's kernel key, formatted like errors */
        CHECK_INT(w[0].mark.line, 3);
        char text[1024];
        cr_warning_format(&w[0], text, sizeof text);
        CHECK(strncmp(text, "inline.yaml:3:", 14) == 0);
        CHECK_CONTAINS(text, ": layer 'c': warning: height:");
    }
    cr_model_free(model);
}

/* ---- errors from inline specs: kinds, positions, layers --------------------------- */

static void test_inline_errors(void) {
    char message[2048];
    cr_error err;
    load_error("input: [1, 28, 28]\n"
               "layers:\n"
               "  - {type: conv, name: c1, filters: 6, kernel: 5, padding: 2}\n"
               "  - {type: avgpool, name: s2, size: 2}\n"
               "  - {type: conv, name: c3, filters: 16, kernel: 5}\n"
               "  - {type: avgpool, name: s4, size: 2}\n"
               "  - {type: conv, name: c5, filters: 120, kernel: 5}\n"
               "  - {type: conv, name: c6, filters: 120, kernel: 5}\n",
               message, sizeof message, &err);
    CHECK_INT(err.kind, CR_ERR_INVALID);
    CHECK(strcmp(err.layer, "c6") == 0);
    CHECK_INT(err.mark.line, 8);
    CHECK_CONTAINS(message, "inline.yaml:8:");
    CHECK_CONTAINS(message, "layer 'c6': output height (1 + 2·0 − 5)/1 + 1 = -3 < 1: input "
                            "120×1×1 is smaller than the 5×5 kernel");

    /* width alone too small */
    load_error("input: [1, 8, 2]\nlayers:\n  - {type: conv, name: w, filters: 1, kernel: 3}\n",
               message, sizeof message, &err);
    CHECK_CONTAINS(message, "output width (2 + 2·0 − 3)/1 + 1 = 0 < 1: input 1×8×2");

    /* an unreadable file is an I/O error (exit 2), not an invalid model */
    cr_model *model = NULL;
    memset(&err, 0, sizeof err);
    CHECK(cr_model_load(CNNRUN_SOURCE_DIR "/tests/specs/no-such-file.yaml", &model, &err) != 0);
    CHECK_INT(err.kind, CR_ERR_IO);
    CHECK_INT(cr_error_exit_code(&err), 2);
    CHECK(model == NULL);
    memset(&err, 0, sizeof err);
    CHECK(cr_model_load(CNNRUN_SOURCE_DIR "/tests/specs", &model, &err) != 0);
    CHECK_INT(err.kind, CR_ERR_IO);

    /* text that is not NUL-terminated is read only up to its length */
    const char text[] = "input: [1, 4, 4]\nlayers: [{type: relu}]\nXXXX: [";
    memset(&err, 0, sizeof err);
    CHECK(cr_model_load_text(text, sizeof text - 1 - 8, "cut.yaml", &model, &err) == 0);
    cr_model_free(model);
}

/* ---- the bad-spec corpus ------------------------------------------------------------ */

/* Reads the `# expect:`, `# at:` and `# layer:` header lines. */
static int read_header(const char *path, char *expect, size_t expect_size, int *line, int *column,
                       char *layer, size_t layer_size) {
    FILE *f = fopen(path, "r");
    if (!f) return 1;
    char text[1024];
    expect[0] = layer[0] = '\0';
    *line = *column = 0;
    for (int n = 0; n < 3 && fgets(text, sizeof text, f); n++) {
        text[strcspn(text, "\n")] = '\0';
        if (strncmp(text, "# expect: ", 10) == 0 && n == 0)
            snprintf(expect, expect_size, "%s", text + 10);
        else if (sscanf(text, "# at: %d:%d", line, column) == 2)
            continue;
        else if (strncmp(text, "# layer: ", 9) == 0)
            snprintf(layer, layer_size, "%s", text + 9);
        else
            break;
    }
    fclose(f);
    return expect[0] ? 0 : 1;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_bad_corpus(void) {
    const char *dir_path = CNNRUN_SOURCE_DIR "/tests/specs/bad";
    DIR *dir = opendir(dir_path);
    CHECK(dir != NULL);
    if (!dir) return;
    char *names[1024];
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) && count < 1024) {
        size_t length = strlen(entry->d_name);
        if (length > 5 && strcmp(entry->d_name + length - 5, ".yaml") == 0)
            names[count++] = strdup(entry->d_name);
    }
    closedir(dir);
    qsort(names, (size_t)count, sizeof names[0], compare_names);
    CHECK(count >= 60);
    for (int i = 0; i < count; i++) {
        char path[1024], expect[1024], layer[1024];
        int line, column;
        snprintf(path, sizeof path, "%s/%s", dir_path, names[i]);
        if (read_header(path, expect, sizeof expect, &line, &column, layer, sizeof layer)) {
            fprintf(stderr, "%s: first line must be '# expect: TEXT'\n", names[i]);
            CHECK(0);
            continue;
        }
        cr_model *model = NULL;
        cr_error err = {0};
        struct timespec start, end;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &start);
        int status = cr_model_load(path, &model, &err);
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &end);
        double seconds = (double)(end.tv_sec - start.tv_sec) + 1e-9 * (end.tv_nsec - start.tv_nsec);
        char message[2048];
        cr_error_format(&err, message, sizeof message);
        int failures_before = check_failure_count;
        CHECK(status != 0);
        CHECK(model == NULL);
        cr_model_free(model);
        CHECK_INT(err.kind, CR_ERR_INVALID);
        /* hostile files (alias bombs, deep repeats) must not take long; CPU time,
         * so that a machine busy with other work does not fail the test */
        CHECK(seconds < 5.0);
        CHECK_CONTAINS(message, expect);
        /* FILE:LINE:COL: ... */
        size_t path_length = strlen(path);
        int got_line = 0, got_column = 0, prefix = 0;
        CHECK(strncmp(message, path, path_length) == 0);
        CHECK(sscanf(message + path_length, ":%d:%d: %n", &got_line, &got_column, &prefix) == 2 &&
              prefix > 0 && got_line > 0 && got_column > 0);
        if (line) {
            CHECK_INT(got_line, line);
            CHECK_INT(got_column, column);
        }
        if (layer[0]) {
            char want[1100];
            snprintf(want, sizeof want, "layer '%s': ", layer);
            CHECK(prefix > 0 && strncmp(message + path_length + prefix, want, strlen(want)) == 0);
        }
        if (check_failure_count != failures_before)
            fprintf(stderr, "  in %s (%.2f s): %s\n", names[i], seconds, message);
        free(names[i]);
    }
}

int main(void) {
    test_defaults();
    test_every_key();
    test_activations();
    test_inline_values();
    test_pairs_and_padding();
    test_repeat();
    test_nested_repeat();
    test_repeat_numbering_continues();
    test_anchors_and_merges();
    test_default_names();
    test_graph();
    test_train_section();
    test_dropped_pixels_warning();
    test_inline_errors();
    test_bad_corpus();
    return check_report();
}
