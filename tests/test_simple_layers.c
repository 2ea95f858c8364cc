/* Hand-computed cases for the layer kinds without parameters: relu,
 * leaky_relu, tanh, sigmoid, flatten, softmax, add and concat, forward and
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

int main(void) {
    test_activations();
    test_flatten();
    test_softmax();
    test_add_and_concat();
    return check_report();
}
