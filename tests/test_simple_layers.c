/* Hand-computed cases for the layer kinds without parameters: relu,
 * leaky_relu, tanh, sigmoid, relu6, silu, gelu, elu, hardswish,
 * hardsigmoid, prelu (its one parameter), globalavgpool, globalmaxpool,
 * flatten, softmax, add and concat, forward and
 * backward, through the runtime (net_fixture.h). */
#include <math.h>

#include "net_fixture.h"

/* One layer on the network input [1, 1, 2, 2]: checks y, then sets dy and
 * checks dx. */
static void check_elementwise(const char *yaml, const float x[4], const float y[4],
                              const float dy[4], const float dx[4], const char *what) {
    fixture f;
    if (!fixture_build(&f, yaml, 1)) return;
    memcpy(cr_net_input(f.net), x, 4 * sizeof *x);
    cr_net_forward(f.net, true);
    check_floats(what, cr_net_output(f.net), y, 4, 1e-6);
    memcpy(cr_net_output_grad(f.net), dy, 4 * sizeof *dy);
    cr_net_backward(f.net);
    check_floats(what, cr_net_input_grad(f.net), dx, 4, 1e-6);
    fixture_free(&f);
}

static void test_activations(void) {
    const float x[4] = {-2.0f, -0.5f, 0.5f, 3.0f};
    const float dy[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    check_elementwise("input: [1, 2, 2]\nlayers:\n  - {type: relu}\n", x,
                      (const float[]){0, 0, 0.5f, 3}, dy, (const float[]){0, 0, 3, 4}, "relu");
    check_elementwise("input: [1, 2, 2]\nlayers:\n  - {type: leaky_relu, slope: 0.1}\n", x,
                      (const float[]){-0.2f, -0.05f, 0.5f, 3}, dy,
                      (const float[]){0.1f, 0.2f, 3, 4}, "leaky_relu");
    /* tanh(0.5) = 0.46211716; d/dx = 1 − tanh² */
    float t[4], dt[4], s[4], ds[4];
    for (int i = 0; i < 4; i++) {
        t[i] = (float)tanh(x[i]);
        dt[i] = dy[i] * (1.0f - t[i] * t[i]);
        s[i] = (float)(1.0 / (1.0 + exp(-x[i])));
        ds[i] = dy[i] * s[i] * (1.0f - s[i]);
    }
    CHECK_NEAR(t[2], 0.46211716, 1e-7);
    CHECK_NEAR(s[2], 0.62245933, 1e-7);
    check_elementwise("input: [1, 2, 2]\nlayers:\n  - {type: tanh}\n", x, t, dy, dt, "tanh");
    check_elementwise("input: [1, 2, 2]\nlayers:\n  - {type: sigmoid}\n", x, s, dy, ds, "sigmoid");
}

/* One activation layer on the 8 inputs below ([1, 2, 2, 2]): checks y and,
 * for dy = 1, dx = f'(x). */
static void check_activation8(const char *type, const float y[8], const float dydx[8]) {
    static const float x[8] = {-4, -2, -0.5f, 0, 0.5f, 1, 3.5f, 7};
    char yaml[128];
    snprintf(yaml, sizeof yaml, "input: [2, 2, 2]\nlayers:\n  - {type: %s}\n", type);
    fixture f;
    if (!fixture_build(&f, yaml, 1)) return;
    memcpy(cr_net_input(f.net), x, sizeof x);
    cr_net_forward(f.net, true);
    check_floats(type, cr_net_output(f.net), y, 8, 2e-6);
    for (int i = 0; i < 8; i++) cr_net_output_grad(f.net)[i] = 1.0f;
    cr_net_backward(f.net);
    check_floats(type, cr_net_input_grad(f.net), dydx, 8, 2e-6);
    fixture_free(&f);
}

/* x = −4, −2, −0.5, 0, 0.5, 1, 3.5, 7: both sides of 0 and of the hard
 * functions' corners at ±3 and 6. Values by the formulas (PyTorch's), e.g.
 * silu(1) = σ(1) = 0.73105858, silu'(x) = σ(x)(1 + x(1 − σ(x))) = 0.92767051;
 * gelu(1) = Φ(1) = 0.84134475, gelu'(1) = Φ(1) + φ(1) = 1.08331547;
 * elu(−2) = e⁻² − 1 = −0.86466472 with slope e⁻² = 0.13533528;
 * hardswish(−2) = −2·1/6, slope 2x/6 + 1/2 = −1/6. At the corners PyTorch's
 * rules: relu6 and hardsigmoid pass no gradient at exactly 0, 6 or ±3;
 * elu'(0) = α. */
static void test_more_activations(void) {
    check_activation8("relu6", (const float[]){0, 0, 0, 0, 0.5f, 1, 3.5f, 6},
                      (const float[]){0, 0, 0, 0, 1, 1, 1, 0});
    check_activation8("silu",
                      (const float[]){-0.07194484f, -0.23840584f, -0.18877033f, 0, 0.31122967f,
                                      0.73105858f, 3.39740719f, 6.99362264f},
                      (const float[]){-0.05266461f, -0.09078425f, 0.26003881f, 0.5f, 0.73996119f,
                                      0.92767051f, 1.07027335f, 1.0054605f});
    check_activation8("gelu",
                      (const float[]){-0.00012668f, -0.04550026f, -0.15426877f, 0, 0.34573123f,
                                      0.84134475f, 3.4991858f, 7},
                      (const float[]){-0.00050365f, -0.0852318f, 0.13250488f, 0.5f, 0.86749512f,
                                      1.08331547f, 1.00282176f, 1});
    check_activation8(
        "elu", (const float[]){-0.98168436f, -0.86466472f, -0.39346934f, 0, 0.5f, 1, 3.5f, 7},
        (const float[]){0.01831564f, 0.13533528f, 0.60653066f, 1, 1, 1, 1, 1});
    check_activation8(
        "hardswish", (const float[]){0, -1.0f / 3, -0.20833333f, 0, 0.29166667f, 2.0f / 3, 3.5f, 7},
        (const float[]){0, -1.0f / 6, 1.0f / 3, 0.5f, 2.0f / 3, 5.0f / 6, 1, 1});
    check_activation8("hardsigmoid",
                      (const float[]){0, 1.0f / 6, 0.41666667f, 0.5f, 0.58333333f, 2.0f / 3, 1, 1},
                      (const float[]){0, 1.0f / 6, 1.0f / 6, 1.0f / 6, 1.0f / 6, 1.0f / 6, 0, 0});
}

/* prelu: one slope per channel, 0.25 at first (PyTorch's default), then
 * set to −0.5 for channel 1. At x = 0 the input gets slope·dy and the slope
 * nothing (PyTorch's rule). */
static void test_prelu(void) {
    fixture f;
    if (!fixture_build(&f, "input: [2, 1, 2]\nlayers:\n  - {type: prelu, name: p}\n", 1)) return;
    cr_tensor weight = fixture_param(&f, "p.weight");
    float *slope = weight.data;
    if (!slope) {
        fixture_free(&f);
        return;
    }
    CHECK_NEAR(slope[0], 0.25, 0);
    CHECK_NEAR(slope[1], 0.25, 0);
    slope[1] = -0.5f;
    memcpy(cr_net_input(f.net), (const float[]){-2, 3, 0, -4}, 4 * sizeof(float));
    cr_net_forward(f.net, true);
    check_floats("prelu", cr_net_output(f.net), (const float[]){-0.5f, 3, 0, 2}, 4, 1e-6);
    memcpy(cr_net_output_grad(f.net), (const float[]){1, 2, 3, 4}, 4 * sizeof(float));
    cr_net_backward(f.net);
    check_floats("prelu dx", cr_net_input_grad(f.net), (const float[]){0.25f, 2, -1.5f, -2}, 4,
                 1e-6);
    /* dslope_0 = −2·1 (x = 3 is positive); dslope_1 = 0·3 + (−4)·4 */
    check_floats("prelu dweight", weight.grad, (const float[]){-2, -16}, 2, 1e-6);
    fixture_free(&f);
}

/* Global pooling of a 2×3 plane per channel, whatever its size: the mean,
 * and the maximum (the first of equal maxima, as PyTorch). */
static void test_global_pooling(void) {
    const float x[12] = {1, 2, 3, 4, 5, 6, /* channel 0 */ -1, 7, 7, 0, 2, -3};
    fixture f;
    if (fixture_build(&f, "input: [2, 2, 3]\nlayers:\n  - {type: globalavgpool}\n", 1)) {
        CHECK_INT(f.model->layers[0].out.h * f.model->layers[0].out.w, 1);
        memcpy(cr_net_input(f.net), x, sizeof x);
        cr_net_forward(f.net, true);
        check_floats("globalavgpool", cr_net_output(f.net), (const float[]){3.5f, 2}, 2, 1e-6);
        memcpy(cr_net_output_grad(f.net), (const float[]){6, 12}, 2 * sizeof(float));
        cr_net_backward(f.net);
        check_floats("globalavgpool dx", cr_net_input_grad(f.net),
                     (const float[]){1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2}, 12, 1e-6);
        fixture_free(&f);
    }
    if (fixture_build(&f, "input: [2, 2, 3]\nlayers:\n  - {type: globalmaxpool}\n", 1)) {
        memcpy(cr_net_input(f.net), x, sizeof x);
        cr_net_forward(f.net, true);
        check_floats("globalmaxpool", cr_net_output(f.net), (const float[]){6, 7}, 2, 1e-6);
        memcpy(cr_net_output_grad(f.net), (const float[]){5, 9}, 2 * sizeof(float));
        cr_net_backward(f.net);
        check_floats("globalmaxpool dx", cr_net_input_grad(f.net),
                     (const float[]){0, 0, 0, 0, 0, 5, 0, 9, 0, 0, 0, 0}, 12, 1e-6);
        fixture_free(&f);
    }
}

/* A classifier ending in global pooling keeps its class count at any input
 * size (an avgpool of the map's size would not). */
static void test_global_pooling_any_size(void) {
    const char *yaml = "input: [3, 16, 16]\n"
                       "layers:\n"
                       "  - {type: conv, filters: 10, kernel: 3}\n"
                       "  - {type: globalavgpool}\n"
                       "  - {type: flatten}\n"
                       "  - {type: softmax}\n";
    cr_model *model;
    cr_error err;
    CHECK(cr_model_load_text(yaml, strlen(yaml), "global.yaml", &model, &err) == 0);
    if (!model) return;
    CHECK_INT((int)cr_shape_size(model->layers[model->output].out), 10);
    CHECK(cr_model_set_input(model, (cr_shape){3, 37, 50}, &err) == 0);
    CHECK_INT((int)cr_shape_size(model->layers[model->output].out), 10);
    cr_model_free(model);
}

/* flatten keeps (C, H, W) order: [2, 1, 2] -> [4]. */
static void test_flatten(void) {
    const float x[4] = {1, 2, 3, 4}, dy[4] = {5, 6, 7, 8};
    check_elementwise("input: [2, 1, 2]\nlayers:\n  - {type: flatten}\n", x, x, dy, dy, "flatten");
}

/* softmax of [0, ln 2, ln 5] = [1, 2, 5] / 8; backward y ⊙ (dy − Σ y·dy). */
static void test_softmax(void) {
    fixture f;
    if (!fixture_build(&f, "input: [3, 1, 1]\nlayers:\n  - {type: softmax}\n", 1)) return;
    const float x[3] = {0.0f, logf(2.0f), logf(5.0f)};
    memcpy(cr_net_input(f.net), x, sizeof x);
    cr_net_forward(f.net, true);
    check_floats("softmax", cr_net_output(f.net), (const float[]){0.125f, 0.25f, 0.625f}, 3, 1e-6);
    /* dy = [1, 0, 0]: Σ y·dy = 0.125; dx = y ⊙ (dy − 0.125) */
    memcpy(cr_net_output_grad(f.net), (const float[]){1, 0, 0}, 3 * sizeof(float));
    cr_net_backward(f.net);
    check_floats("softmax dx", cr_net_input_grad(f.net),
                 (const float[]){0.125f * 0.875f, 0.25f * -0.125f, 0.625f * -0.125f}, 3, 1e-6);
    /* The fused cross-entropy: label 2 -> loss −ln 0.625, dlogits = y − onehot. */
    int label = 2;
    double loss = cr_net_cross_entropy(f.net, &label);
    CHECK_NEAR(loss, -log(0.625), 1e-6);
    cr_net_backward(f.net);
    check_floats("cross-entropy dlogits", cr_net_input_grad(f.net),
                 (const float[]){0.125f, 0.25f, -0.375f}, 3, 1e-6);
    fixture_free(&f);
}

/* add and concat over two branches of the input: relu(x) and −x via a fixed
 * 1×1 conv. */
static const char *branches = "input: [1, 1, 2]\n"
                              "layers:\n"
                              "  - {type: relu, name: a, input: input}\n"
                              "  - {type: conv, name: b, input: input, filters: 1, kernel: 1,\n"
                              "     weights: [[[[-1]]]], bias: false, trainable: false}\n"
                              "  - {type: %s, name: joined, inputs: [a, b]}\n";

static void test_add_and_concat(void) {
    const float x[2] = {-1.0f, 2.0f};
    char yaml[512];
    fixture f;

    snprintf(yaml, sizeof yaml, branches, "add");
    if (fixture_build(&f, yaml, 1)) {
        memcpy(cr_net_input(f.net), x, sizeof x);
        cr_net_forward(f.net, true);
        /* relu(x) + (−x) = [0 + 1, 2 − 2] */
        check_floats("add", cr_net_output(f.net), (const float[]){1, 0}, 2, 1e-6);
        memcpy(cr_net_output_grad(f.net), (const float[]){3, 5}, 2 * sizeof(float));
        cr_net_backward(f.net);
        /* dx = relu'(x)·dy − dy = [0 − 3, 5 − 5]: both branches accumulate. */
        check_floats("add dx", cr_net_input_grad(f.net), (const float[]){-3, 0}, 2, 1e-6);
        fixture_free(&f);
    }

    snprintf(yaml, sizeof yaml, branches, "concat");
    if (fixture_build(&f, yaml, 1)) {
        CHECK_INT(f.model->layers[f.model->output].out.c, 2);
        memcpy(cr_net_input(f.net), x, sizeof x);
        cr_net_forward(f.net, true);
        /* channel 0 from a, channel 1 from b */
        check_floats("concat", cr_net_output(f.net), (const float[]){0, 2, 1, -2}, 4, 1e-6);
        memcpy(cr_net_output_grad(f.net), (const float[]){1, 2, 3, 4}, 4 * sizeof(float));
        cr_net_backward(f.net);
        /* a gets [1, 2] (relu passes only x > 0), b gets [3, 4] times −1 */
        check_floats("concat dx", cr_net_input_grad(f.net), (const float[]){0 - 3, 2 - 4}, 2, 1e-6);
        fixture_free(&f);
    }
}

/* add over more values than one of its blocks of work (16,384), the last
 * block partial, three inputs, two threads: the input itself, relu(x) and
 * −x, summed in input order. */
static void test_add_blocks(void) {
    enum { BATCH = 5, N = BATCH * 3 * 37 * 41 };
    fixture f;
    cr_set_threads(2);
    if (fixture_build(
            &f,
            "input: [3, 37, 41]\n"
            "layers:\n"
            "  - {type: relu, name: a, input: input}\n"
            "  - {type: conv, name: b, input: input, filters: 3, kernel: 1, groups: 3,\n"
            "     weights: [[[[-1]]], [[[-1]]], [[[-1]]]], bias: false, trainable: false}\n"
            "  - {type: add, inputs: [input, a, b]}\n",
            BATCH)) {
        float *x = cr_net_input(f.net);
        for (int i = 0; i < N; i++) x[i] = (float)((i * 37) % 101) / 8.0f - 6.0f;
        cr_net_forward(f.net, true);
        const float *y = cr_net_output(f.net);
        int right = 0;
        for (int i = 0; i < N; i++) right += y[i] == (x[i] + (x[i] > 0 ? x[i] : 0.0f)) + -x[i];
        CHECK_INT(right, N);
        float *dy = cr_net_output_grad(f.net);
        for (int i = 0; i < N; i++) dy[i] = (float)(i % 7) - 3.0f;
        cr_net_backward(f.net);
        /* dy from the input itself, relu'(x)·dy, and −dy: relu'(x)·dy */
        const float *dx = cr_net_input_grad(f.net);
        right = 0;
        for (int i = 0; i < N; i++) right += fabsf(dx[i] - (x[i] > 0 ? dy[i] : 0.0f)) <= 1e-6f;
        CHECK_INT(right, N);
        fixture_free(&f);
    }
    cr_set_threads(1);
}

int main(void) {
    test_activations();
    test_more_activations();
    test_prelu();
    test_global_pooling();
    test_global_pooling_any_size();
    test_flatten();
    test_softmax();
    test_add_and_concat();
    test_add_blocks();
    return check_report();
}
