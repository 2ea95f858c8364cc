/* conv forward/backward through the runtime: hand-computed textbook cases,
 * then random geometries against a naive direct convolution in double. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "cnnrun.h"
#include "layers/winograd.h"
#include "cpu.h"
#include "layers/conv.h"
#include "layers/conv_strided_pointwise.h"
#include "layers/stride2_rows.h"
#include "net_fixture.h"

/* 1..25 row by row: x(r, c) = 5r + c + 1. */
static void fill_one_to_25(float *x) {
    for (int i = 0; i < 25; i++) x[i] = (float)(i + 1);
}

/* Runs a one-conv network named `c` on the 5×5 image 1..25 and compares y. */
static void check_textbook(const char *what, const char *layer, const float *weight,
                           int64_t weight_count, const float *expected, int64_t expected_count) {
    char yaml[512];
    snprintf(yaml, sizeof yaml, "name: t\ninput: [1, 5, 5]\nlayers:\n  - %s\n", layer);
    fixture f;
    if (!fixture_build(&f, yaml, 1)) return;
    CHECK_INT(cr_shape_size(f.model->layers[0].out), expected_count);
    fill_one_to_25(cr_net_input(f.net));
    fixture_set_param(&f, "c.weight", weight, weight_count);
    cr_net_forward(f.net, true);
    check_floats(what, cr_net_output(f.net), expected, expected_count, 1e-6);
    fixture_free(&f);
}

static void test_textbook_cases(void) {
    const float ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};

    /* 3×3 window sums without padding: Σ_{r=i..i+2, c=j..j+2} (5r + c + 1)
     * = 9·(5i + j + 7): 63 72 81 / 108 117 126 / 153 162 171. */
    const float valid[9] = {63, 72, 81, 108, 117, 126, 153, 162, 171};
    check_textbook("5x5 * 3x3", "{type: conv, name: c, filters: 1, kernel: 3, bias: false}", ones,
                   9, valid, 9);

    /* Padding 1 keeps 5×5; the border sums lose the zero taps: corner
     * 1+2+6+7 = 16, top edge 1+2+3+6+7+8 = 27, ..., centre still 117. */
    const float same[25] = {16,  27, 33, 39,  28,  39,  63,  72, 81,  57,  69,  108, 117,
                            126, 87, 99, 153, 162, 171, 117, 76, 117, 123, 129, 88};
    check_textbook("5x5 * 3x3 padding 1",
                   "{type: conv, name: c, filters: 1, kernel: 3, padding: 1, bias: false}", ones, 9,
                   same, 25);

    /* Cross-correlation as PyTorch, not a flipped convolution: top-left tap 1,
     * bottom-right 10 gives y(i,j) = x(i,j) + 10·x(i+2,j+2) = 11·(5i+j) + 131
     * (flipped would be 11·(5i+j) + 23). */
    const float corners[9] = {1, 0, 0, 0, 0, 0, 0, 0, 10};
    const float corner_sums[9] = {131, 142, 153, 186, 197, 208, 241, 252, 263};
    check_textbook("5x5 * corner taps", "{type: conv, name: c, filters: 1, kernel: 3, bias: false}",
                   corners, 9, corner_sums, 9);

    /* Stride 2 keeps the windows at (0,0), (0,2), (2,0), (2,2): 9·(5i+j+7). */
    const float strided[4] = {63, 81, 153, 171};
    check_textbook("5x5 * 3x3 stride 2",
                   "{type: conv, name: c, filters: 1, kernel: 3, stride: 2, bias: false}", ones, 9,
                   strided, 4);

    /* Kernel [2, 3], padding [1, 0]: 6×3. Each row contributes
     * 3·(5r + ow + 2) over columns ow..ow+2; output row oh sums input rows
     * oh-1 and oh where they exist: row 0 = 6 9 12, rows 1..4 =
     * 3·(10·oh + 2·ow − 1), row 5 = 3·(22 + ow) = 66 69 72. */
    const float asymmetric[18] = {6,  9,  12, 27,  33,  39,  57, 63, 69,
                                  87, 93, 99, 117, 123, 129, 66, 69, 72};
    check_textbook(
        "5x5 * [2,3] padding [1,0]",
        "{type: conv, name: c, filters: 1, kernel: [2, 3], padding: [1, 0], bias: false}", ones, 6,
        asymmetric, 18);
}

/* groups 2: filter 0 sees only channel 0, filter 1 only channel 1. */
static void test_groups(void) {
    const char *yaml = "name: t\ninput: [2, 3, 3]\nlayers:\n"
                       "  - {type: conv, name: c, filters: 2, kernel: 2, groups: 2}\n";
    fixture f;
    if (!fixture_build(&f, yaml, 1)) return;
    cr_tensor weight = fixture_param(&f, "c.weight");
    CHECK_INT(weight.ndim, 4);
    CHECK_INT(weight.dims[0], 2);
    CHECK_INT(weight.dims[1], 1); /* C / groups */
    float *x = cr_net_input(f.net);
    for (int i = 0; i < 18; i++) x[i] = (float)(i + 1); /* channel 0: 1..9, channel 1: 10..18 */
    const float w[8] = {1, 1, 1, 1, 2, 2, 2, 2};
    const float b[2] = {0.5f, -1.0f};
    fixture_set_param(&f, "c.weight", w, 8);
    fixture_set_param(&f, "c.bias", b, 2);
    cr_net_forward(f.net, true);
    /* Channel 0 window sums 12 16 24 28, plus 0.5; channel 1 window sums
     * 48 52 60 64, times 2, minus 1. */
    const float expected[8] = {12.5f, 16.5f, 24.5f, 28.5f, 95, 103, 119, 127};
    check_floats("groups 2", cr_net_output(f.net), expected, 8, 1e-6);
    fixture_free(&f);
}

/* Backward on a case small enough to do by hand:
 *   x = 1..9 as 3×3, weight [[1, 2], [3, 4]], bias 0.5 -> y 2×2
 *   y = 37.5 47.5 / 67.5 77.5   (e.g. 1·1 + 2·2 + 3·4 + 4·5 + 0.5)
 *   dy = [[1, 0], [0, 1]]
 *   dweight(a, b) = Σ dy(i,j)·x(i+a, j+b) = x(a,b) + x(a+1,b+1) = [[6, 8], [12, 14]]
 *   dbias = Σ dy = 2
 *   dx = weight placed at (0,0) + weight placed at (1,1)
 *      = [[1, 2, 0], [3, 5, 2], [0, 3, 4]] */
static const float hand_y[4] = {37.5f, 47.5f, 67.5f, 77.5f};
static const float hand_dy[4] = {1, 0, 0, 1};
static const float hand_dx[9] = {1, 2, 0, 3, 5, 2, 0, 3, 4};

static void run_hand_case(fixture *f) {
    float *x = cr_net_input(f->net);
    for (int i = 0; i < 9; i++) x[i] = (float)(i + 1);
    cr_net_forward(f->net, true);
    check_floats("hand y", cr_net_output(f->net), hand_y, 4, 1e-6);
    memcpy(cr_net_output_grad(f->net), hand_dy, sizeof hand_dy);
    cr_net_backward(f->net);
    check_floats("hand dx", cr_net_input_grad(f->net), hand_dx, 9, 1e-6);
}

static void test_backward_by_hand(void) {
    const char *yaml = "name: t\ninput: [1, 3, 3]\nlayers:\n"
                       "  - {type: conv, name: c, filters: 1, kernel: 2}\n";
    fixture f;
    if (!fixture_build(&f, yaml, 1)) return;
    const float w[4] = {1, 2, 3, 4}, b[1] = {0.5f};
    fixture_set_param(&f, "c.weight", w, 4);
    fixture_set_param(&f, "c.bias", b, 1);
    run_hand_case(&f);
    const float dweight[4] = {6, 8, 12, 14}, dbias[1] = {2};
    check_floats("hand dweight", fixture_param(&f, "c.weight").grad, dweight, 4, 1e-6);
    check_floats("hand dbias", fixture_param(&f, "c.bias").grad, dbias, 1, 1e-6);
    fixture_free(&f);
}

/* The same case frozen with inline values: no parameter gradients, same dx. */
static void test_frozen(void) {
    const char *yaml = "name: t\ninput: [1, 3, 3]\nlayers:\n"
                       "  - {type: conv, name: c, filters: 1, kernel: 2, trainable: false,\n"
                       "     weights: [[[[1, 2], [3, 4]]]], bias: [0.5]}\n";
    fixture f;
    if (!fixture_build(&f, yaml, 1)) return;
    CHECK(fixture_param(&f, "c.weight").grad == NULL);
    CHECK(fixture_param(&f, "c.bias").grad == NULL);
    run_hand_case(&f);
    fixture_free(&f);
}

/* Two convs reading the network input: its gradient must be the sum of both
 * (backward accumulates). Second weight [[0, 0], [0, 1]] with dy = diag gives
 * dx2 = [[0, 0, 0], [0, 1, 0], [0, 0, 1]]; dx = hand_dx + dx2. */
static void test_dx_accumulates(void) {
    const char *yaml =
        "name: t\ninput: [1, 3, 3]\nlayers:\n"
        "  - {type: conv, name: a, filters: 1, kernel: 2, bias: false,\n"
        "     weights: [[[[1, 2], [3, 4]]]]}\n"
        "  - {type: conv, name: b, input: input, filters: 1, kernel: 2, bias: false,\n"
        "     weights: [[[[0, 0], [0, 1]]]]}\n"
        "  - {type: add, inputs: [a, b]}\n";
    fixture f;
    if (!fixture_build(&f, yaml, 1)) return;
    float *x = cr_net_input(f.net);
    for (int i = 0; i < 9; i++) x[i] = (float)(i + 1);
    cr_net_forward(f.net, true);
    /* a gives 37 47 67 77, b gives x(i+1, j+1) = 5 6 8 9. */
    const float y[4] = {42, 53, 75, 86};
    check_floats("sum y", cr_net_output(f.net), y, 4, 1e-6);
    memcpy(cr_net_output_grad(f.net), hand_dy, sizeof hand_dy);
    cr_net_backward(f.net);
    const float dx[9] = {1, 2, 0, 3, 6, 2, 0, 3, 5};
    check_floats("summed dx", cr_net_input_grad(f.net), dx, 9, 1e-6);
    fixture_free(&f);
}

/* The same for 1×1 convs, whose dx skips col2im: weights 2 and 3 give
 * y = 5x and dx = 5·dy. */
static void test_pointwise_dx_accumulates(void) {
    const char *yaml =
        "name: t\ninput: [1, 2, 2]\nlayers:\n"
        "  - {type: conv, name: a, filters: 1, kernel: 1, bias: false,\n"
        "     weights: [[[[2]]]]}\n"
        "  - {type: conv, name: b, input: input, filters: 1, kernel: 1, bias: false,\n"
        "     weights: [[[[3]]]]}\n"
        "  - {type: add, inputs: [a, b]}\n";
    fixture f;
    if (!fixture_build(&f, yaml, 1)) return;
    const float x[4] = {1, -2, 3, 0.5f}, dy[4] = {1, 0.5f, -1, 2};
    memcpy(cr_net_input(f.net), x, sizeof x);
    cr_net_forward(f.net, true);
    const float y[4] = {5, -10, 15, 2.5f};
    check_floats("pointwise sum y", cr_net_output(f.net), y, 4, 1e-6);
    memcpy(cr_net_output_grad(f.net), dy, sizeof dy);
    cr_net_backward(f.net);
    const float dx[4] = {5, 2.5f, -5, 10};
    check_floats("pointwise summed dx", cr_net_input_grad(f.net), dx, 4, 1e-6);
    fixture_free(&f);
}

/* Each fused activation on a 1×1 conv with weight 3 over x = -2 -0.5 0.5 2,
 * so z = 3x = -6 -1.5 1.5 6, y = f(z), and with dy = 1:
 *   dx = 3·f'(z), dweight = Σ x·f'(z), dbias = Σ f'(z). */
static void test_fused_activations(void) {
    static const char *const names[] = {"relu", "leaky_relu", "tanh", "sigmoid"};
    const float x[4] = {-2, -0.5f, 0.5f, 2};
    for (int a = 0; a < 4; a++) {
        char yaml[256];
        snprintf(yaml, sizeof yaml,
                 "name: t\ninput: [1, 1, 4]\nlayers:\n"
                 "  - {type: conv, name: c, filters: 1, kernel: 1, activation: %s,\n"
                 "     weights: [[[[3]]]], bias: [0]}\n",
                 names[a]);
        fixture f;
        if (!fixture_build(&f, yaml, 1)) continue;
        memcpy(cr_net_input(f.net), x, sizeof x);
        cr_net_forward(f.net, true);
        float y[4], derivative[4];
        for (int i = 0; i < 4; i++) {
            double z = 3.0 * x[i];
            switch (a) {
            case 0: /* relu: 0 0 1.5 6 */
                y[i] = (float)(z > 0 ? z : 0);
                derivative[i] = z > 0 ? 1.0f : 0.0f;
                break;
            case 1: /* leaky_relu, slope 0.01: -0.06 -0.015 1.5 6 */
                y[i] = (float)(z > 0 ? z : 0.01 * z);
                derivative[i] = z > 0 ? 1.0f : 0.01f;
                break;
            case 2:
                y[i] = (float)tanh(z);
                derivative[i] = (float)(1.0 - tanh(z) * tanh(z));
                break;
            default:
                y[i] = (float)(1.0 / (1.0 + exp(-z)));
                derivative[i] = y[i] * (1.0f - y[i]);
            }
        }
        char what[64];
        snprintf(what, sizeof what, "%s y", names[a]);
        check_floats(what, cr_net_output(f.net), y, 4, 1e-6);
        /* The piecewise-linear ones written out, not only as formulas. */
        const float relu_y[4] = {0, 0, 1.5f, 6}, leaky_y[4] = {-0.06f, -0.015f, 1.5f, 6};
        if (a == 0) check_floats("relu y by hand", cr_net_output(f.net), relu_y, 4, 1e-6);
        if (a == 1) check_floats("leaky_relu y by hand", cr_net_output(f.net), leaky_y, 4, 1e-6);
        float *dy = cr_net_output_grad(f.net);
        for (int i = 0; i < 4; i++) dy[i] = 1.0f;
        cr_net_backward(f.net);
        float dx[4], dweight[1] = {0}, dbias[1] = {0};
        for (int i = 0; i < 4; i++) {
            dx[i] = 3.0f * derivative[i];
            dweight[0] += x[i] * derivative[i];
            dbias[0] += derivative[i];
        }
        snprintf(what, sizeof what, "%s dx", names[a]);
        check_floats(what, cr_net_input_grad(f.net), dx, 4, 1e-5);
        snprintf(what, sizeof what, "%s dweight", names[a]);
        check_floats(what, fixture_param(&f, "c.weight").grad, dweight, 1, 1e-5);
        snprintf(what, sizeof what, "%s dbias", names[a]);
        check_floats(what, fixture_param(&f, "c.bias").grad, dbias, 1, 1e-5);
        fixture_free(&f);
    }
}

/* The same for strided 1×1 convs, whose dx is a scatter onto every second
 * pixel: on a 3×3 input, stride 2 reads x(0,0), x(0,2), x(2,0), x(2,2),
 * so y = 5·those and dx = 5·dy there, 0 on the five pixels no window
 * reads. Two convs on the input add their dx; one alone assigns it. */
static const float strided_x[9] = {1, 9, -2, 9, 9, 9, 3, 9, 0.5f};
static const float strided_dy[4] = {1, 0.5f, -1, 2};

/* Runs one of those nets on strided_x and strided_dy; `garbage` fills dx
 * first (the runtime leaves the buffer as it is for a layer that assigns
 * dx: the scatter must clear the pixels it does not hit; the buffer is the
 * net's own, writable memory). */
static void check_strided_dx(const char *what, const char *layers, float y_scale, float dx_scale,
                             bool garbage) {
    char yaml[512];
    snprintf(yaml, sizeof yaml, "name: t\ninput: [1, 3, 3]\nlayers:\n%s", layers);
    fixture f;
    if (!fixture_build(&f, yaml, 1)) return;
    memcpy(cr_net_input(f.net), strided_x, sizeof strided_x);
    cr_net_forward(f.net, true);
    const float y[4] = {1 * y_scale, -2 * y_scale, 3 * y_scale, 0.5f * y_scale};
    check_floats(what, cr_net_output(f.net), y, 4, 1e-6);
    float *dx = (float *)cr_net_input_grad(f.net);
    if (garbage)
        for (int i = 0; i < 9; i++) dx[i] = 1000.0f;
    memcpy(cr_net_output_grad(f.net), strided_dy, sizeof strided_dy);
    cr_net_backward(f.net);
    float expected[9] = {0};
    for (int i = 0; i < 4; i++) expected[(i / 2) * 6 + (i % 2) * 2] = dx_scale * strided_dy[i];
    check_floats(what, dx, expected, 9, 1e-6);
    fixture_free(&f);
}

static void test_strided_pointwise_dx(void) {
    check_strided_dx("strided pointwise summed dx",
                     "  - {type: conv, name: a, filters: 1, kernel: 1, stride: 2, bias: false,\n"
                     "     weights: [[[[2]]]]}\n"
                     "  - {type: conv, name: b, input: input, filters: 1, kernel: 1, stride: 2,\n"
                     "     bias: false, weights: [[[[3]]]]}\n"
                     "  - {type: add, inputs: [a, b]}\n",
                     5, 5, false);
    check_strided_dx("strided pointwise assigned dx",
                     "  - {type: conv, name: a, filters: 1, kernel: 1, stride: 2, bias: false,\n"
                     "     weights: [[[[2]]]]}\n",
                     2, 2, true);
}

/* ---- random geometries against a naive direct convolution ----------------- */

typedef struct geometry {
    int batch, channels, height, width, filters, groups;
    int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
    bool bias;
    const char *activation;
    int dil_h, dil_w;
} geometry;

/* PyTorch's ⌊(n + 2p − d(f − 1) − 1)/s⌋ + 1 */
static int out_height(const geometry *g) {
    return (g->height + 2 * g->pad_h - g->dil_h * (g->kernel_h - 1) - 1) / g->stride_h + 1;
}
static int out_width(const geometry *g) {
    return (g->width + 2 * g->pad_w - g->dil_w * (g->kernel_w - 1) - 1) / g->stride_w + 1;
}

static double activate(const char *activation, double z, double *derivative) {
    if (strcmp(activation, "relu") == 0) {
        *derivative = z > 0 ? 1 : 0;
        return z > 0 ? z : 0;
    }
    if (strcmp(activation, "leaky_relu") == 0) {
        *derivative = z > 0 ? 1 : 0.01;
        return z > 0 ? z : 0.01 * z;
    }
    if (strcmp(activation, "tanh") == 0) {
        double t = tanh(z);
        *derivative = 1 - t * t;
        return t;
    }
    if (strcmp(activation, "sigmoid") == 0) {
        double s = 1 / (1 + exp(-z));
        *derivative = s * (1 - s);
        return s;
    }
    if (strcmp(activation, "silu") == 0) { /* z·σ(z) */
        double s = 1 / (1 + exp(-z));
        *derivative = s * (1 + z * (1 - s));
        return z * s;
    }
    if (strcmp(activation, "gelu") == 0) { /* z·Φ(z) */
        double phi = 0.5 * (1 + erf(z / sqrt(2.0)));
        *derivative = phi + z * exp(-0.5 * z * z) / sqrt(2 * 3.14159265358979323846);
        return z * phi;
    }
    if (strcmp(activation, "hardswish") == 0) { /* z·relu6(z + 3)/6 */
        *derivative = z < -3 ? 0 : z <= 3 ? z / 3 + 0.5 : 1;
        return z < -3 ? 0 : z <= 3 ? z * (z + 3) / 6 : z;
    }
    *derivative = 1;
    return z;
}

/* y = act(weight ⊛ x + bias) and its gradients, straight from the definition:
 * y[n,f,oh,ow] = Σ_{c in f's group, kh, kw} w[f,c',kh,kw]·x[n,c,oh·s−p+kh·d, ow·s−p+kw·d]. */
static void naive_conv(const geometry *g, const float *x, const float *weight, const float *bias,
                       const float *dy, float *y, float *dx, float *dweight, float *dbias) {
    int in_per_group = g->channels / g->groups, out_per_group = g->filters / g->groups;
    int64_t x_count = (int64_t)g->batch * g->channels * g->height * g->width;
    int64_t w_count = (int64_t)g->filters * in_per_group * g->kernel_h * g->kernel_w;
    for (int64_t i = 0; i < x_count; i++) dx[i] = 0;
    for (int64_t i = 0; i < w_count; i++) dweight[i] = 0;
    for (int f = 0; f < g->filters; f++) dbias[f] = 0;
    for (int n = 0; n < g->batch; n++)
        for (int f = 0; f < g->filters; f++) {
            int first_channel = f / out_per_group * in_per_group;
            for (int oh = 0; oh < out_height(g); oh++)
                for (int ow = 0; ow < out_width(g); ow++) {
                    double z = bias ? bias[f] : 0;
                    for (int c = 0; c < in_per_group; c++)
                        for (int kh = 0; kh < g->kernel_h; kh++)
                            for (int kw = 0; kw < g->kernel_w; kw++) {
                                int ih = oh * g->stride_h - g->pad_h + kh * g->dil_h;
                                int iw = ow * g->stride_w - g->pad_w + kw * g->dil_w;
                                if (ih < 0 || ih >= g->height || iw < 0 || iw >= g->width) continue;
                                z += (double)weight[((f * in_per_group + c) * g->kernel_h + kh) *
                                                        g->kernel_w +
                                                    kw] *
                                     x[((n * g->channels + first_channel + c) * g->height + ih) *
                                           g->width +
                                       iw];
                            }
                    double derivative;
                    int64_t at =
                        ((int64_t)(n * g->filters + f) * out_height(g) + oh) * out_width(g) + ow;
                    y[at] = (float)activate(g->activation, z, &derivative);
                    double dz = dy[at] * derivative;
                    dbias[f] += (float)dz;
                    for (int c = 0; c < in_per_group; c++)
                        for (int kh = 0; kh < g->kernel_h; kh++)
                            for (int kw = 0; kw < g->kernel_w; kw++) {
                                int ih = oh * g->stride_h - g->pad_h + kh * g->dil_h;
                                int iw = ow * g->stride_w - g->pad_w + kw * g->dil_w;
                                if (ih < 0 || ih >= g->height || iw < 0 || iw >= g->width) continue;
                                int64_t wi =
                                    ((f * in_per_group + c) * g->kernel_h + kh) * g->kernel_w + kw;
                                int64_t xi =
                                    ((n * g->channels + first_channel + c) * g->height + ih) *
                                        g->width +
                                    iw;
                                dweight[wi] += (float)(dz * x[xi]);
                                dx[xi] += (float)(dz * weight[wi]);
                            }
                }
        }
}

static void check_random_case(geometry g, int max_batch, uint64_t seed) {
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "name: t\ninput: [%d, %d, %d]\nlayers:\n"
             "  - {type: conv, name: c, filters: %d, kernel: [%d, %d], stride: [%d, %d],\n"
             "     padding: [%d, %d], groups: %d, bias: %s, activation: %s, dilation: [%d, %d]}\n",
             g.channels, g.height, g.width, g.filters, g.kernel_h, g.kernel_w, g.stride_h,
             g.stride_w, g.pad_h, g.pad_w, g.groups, g.bias ? "true" : "false", g.activation,
             g.dil_h, g.dil_w);
    fixture f;
    if (!fixture_build(&f, yaml, max_batch)) return;
    cr_net_set_batch(f.net, g.batch);
    CHECK_INT(f.model->layers[0].out.h, out_height(&g));
    CHECK_INT(f.model->layers[0].out.w, out_width(&g));

    int64_t x_count = (int64_t)g.batch * g.channels * g.height * g.width;
    int64_t y_count = (int64_t)g.batch * g.filters * out_height(&g) * out_width(&g);
    cr_tensor weight = fixture_param(&f, "c.weight");
    float *x = malloc((size_t)x_count * sizeof *x), *dy = malloc((size_t)y_count * sizeof *dy);
    float *y = malloc((size_t)y_count * sizeof *y), *dx = malloc((size_t)x_count * sizeof *dx);
    float *dweight = malloc((size_t)weight.count * sizeof *dweight);
    float *dbias = malloc((size_t)g.filters * sizeof *dbias);
    fill_uniform(x, x_count, &seed);
    fill_uniform(dy, y_count, &seed);
    fill_uniform(weight.data, weight.count, &seed);
    const float *bias = NULL;
    if (g.bias) {
        cr_tensor b = fixture_param(&f, "c.bias");
        fill_uniform(b.data, b.count, &seed);
        bias = b.data;
    }
    naive_conv(&g, x, weight.data, bias, dy, y, dx, dweight, dbias);

    memcpy(cr_net_input(f.net), x, (size_t)x_count * sizeof *x);
    cr_net_forward(f.net, true);
    memcpy(cr_net_output_grad(f.net), dy, (size_t)y_count * sizeof *dy);
    cr_net_backward(f.net);

    char what[160];
    snprintf(what, sizeof what, "N%d C%d %dx%d F%d g%d k%dx%d s%dx%d p%dx%d d%dx%d %s", g.batch,
             g.channels, g.height, g.width, g.filters, g.groups, g.kernel_h, g.kernel_w, g.stride_h,
             g.stride_w, g.pad_h, g.pad_w, g.dil_h, g.dil_w, g.activation);
    char label[200];
    snprintf(label, sizeof label, "%s: y", what);
    check_floats(label, cr_net_output(f.net), y, y_count, 1e-4);
    snprintf(label, sizeof label, "%s: dx", what);
    check_floats(label, cr_net_input_grad(f.net), dx, x_count, 1e-4);
    snprintf(label, sizeof label, "%s: dweight", what);
    check_floats(label, weight.grad, dweight, weight.count, 1e-4);
    if (g.bias) {
        snprintf(label, sizeof label, "%s: dbias", what);
        check_floats(label, fixture_param(&f, "c.bias").grad, dbias, g.filters, 1e-4);
    }
    free(x);
    free(dy);
    free(y);
    free(dx);
    free(dweight);
    free(dbias);
    fixture_free(&f);
}

static void test_random_geometries(void) {
    /* batch, C, H, W, F, groups, KH, KW, SH, SW, PH, PW, bias, activation, DH, DW */
    const geometry cases[] = {
        {2, 3, 5, 6, 4, 1, 3, 3, 1, 1, 1, 1, true, "none", 1, 1},
        {3, 4, 7, 6, 6, 2, 3, 2, 2, 1, 1, 1, false, "tanh", 1, 1},
        {2, 6, 4, 4, 3, 3, 1, 1, 1, 1, 0, 0, true, "relu", 1, 1},       /* pointwise, grouped */
        {2, 2, 6, 5, 2, 1, 1, 1, 2, 2, 0, 0, true, "sigmoid", 1, 1},    /* 1×1 but strided */
        {1, 2, 3, 3, 3, 1, 3, 3, 1, 1, 2, 2, true, "leaky_relu", 1, 1}, /* mostly padding */
        {2, 4, 9, 8, 4, 4, 3, 3, 2, 3, 1, 0, true, "none", 1, 1},  /* depthwise, drops pixels */
        {2, 2, 8, 7, 5, 1, 2, 3, 3, 2, 1, 2, false, "relu", 1, 1}, /* stride > kernel height */
        /* Big enough for OpenBLAS's blocked, threaded GEMM paths. */
        {2, 32, 12, 12, 64, 2, 3, 3, 1, 1, 1, 1, true, "relu", 1, 1},
        /* Winograd's forward (3×3, stride 1, one group, ≥ 16 channels):
         * odd output sizes (half tiles), no / 'same' / wide / uneven
         * padding, batches that split into uneven chunks. */
        {3, 16, 7, 9, 16, 1, 3, 3, 1, 1, 1, 1, true, "relu", 1, 1},
        {2, 20, 6, 5, 17, 1, 3, 3, 1, 1, 0, 0, false, "none", 1, 1},
        {5, 16, 8, 8, 24, 1, 3, 3, 1, 1, 2, 2, true, "tanh", 1, 1},
        {4, 18, 5, 11, 16, 1, 3, 3, 1, 1, 1, 0, true, "leaky_relu", 1, 1},
        {9, 32, 16, 16, 32, 1, 3, 3, 1, 1, 1, 1, false, "none", 1, 1},
        /* ... and backward's input gradient (no fused activation). */
        {3, 16, 9, 7, 20, 1, 3, 3, 1, 1, 2, 2, true, "none", 1, 1},
        {2, 17, 6, 21, 16, 1, 3, 3, 1, 1, 0, 1, true, "none", 1, 1},
        /* Dilated: strided, unequal dilations, padding wider than the
         * kernel but not its span; a 3×3 with ≥ 16 channels (Winograd's
         * shape) dilated must take the im2col path; grouped + dilated. */
        {2, 3, 11, 9, 4, 1, 3, 3, 2, 1, 1, 2, true, "relu", 2, 3},
        {2, 16, 9, 9, 16, 1, 3, 3, 1, 1, 2, 2, true, "none", 2, 2},
        {3, 4, 10, 7, 6, 2, 2, 3, 1, 2, 3, 0, false, "tanh", 3, 1},
        /* Fused activations whose derivative needs the pre-activation:
         * im2col, pointwise and Winograd paths. */
        {2, 3, 6, 5, 4, 1, 3, 3, 1, 1, 1, 1, true, "silu", 1, 1},
        {2, 4, 5, 5, 3, 1, 1, 1, 1, 1, 0, 0, true, "gelu", 1, 1},
        {3, 16, 7, 6, 16, 1, 3, 3, 1, 1, 1, 1, true, "hardswish", 1, 1},
        /* Winograd F(4×4)'s strips of 32 tiles: rows of 130 outputs and
         * more (the last strip partial, its last tile cut), tall maps. */
        {1, 16, 3, 133, 16, 1, 3, 3, 1, 1, 1, 1, true, "relu", 1, 1},
        {2, 16, 19, 6, 16, 1, 3, 3, 1, 1, 0, 2, true, "none", 1, 1},
        /* ...and 8 tiles at a time in the vector transforms, backward's
         * input gradient included: 40 outputs across. */
        {2, 16, 9, 40, 17, 1, 3, 3, 1, 1, 1, 1, true, "none", 1, 1},
        /* Stride-2 rows long enough for the vector gather and scatter
         * (stride2_rows.c): 3×3 with odd and even widths (19 and 17
         * outputs across), a strided 1×1 (21 across); rows of 8 outputs,
         * one block each where the pixel after them is in the image. */
        {3, 5, 9, 37, 6, 1, 3, 3, 2, 2, 1, 1, true, "relu", 1, 1},
        {2, 4, 8, 34, 5, 1, 3, 3, 2, 2, 1, 1, false, "none", 1, 1},
        {3, 3, 7, 41, 4, 1, 1, 1, 2, 2, 0, 0, true, "none", 1, 1},
        {3, 3, 16, 16, 4, 1, 3, 3, 2, 2, 1, 1, true, "none", 1, 1},
        {2, 3, 15, 16, 4, 1, 1, 1, 2, 2, 0, 0, false, "relu", 1, 1},
    };
    /* Every case with Winograd's tile as the size picks it, then with each
     * tile forced (the 3×3 stride-1 cases; the others ignore it). */
    const int tiles[] = {0, 2, 4};
    uint64_t seed = 12345;
    for (size_t t = 0; t < sizeof tiles / sizeof tiles[0]; t++) {
        winograd_force_tile(tiles[t]);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            check_random_case(cases[i], cases[i].batch + 1, seed + i);
    }
    winograd_force_tile(0);
}

/* ---- the faster paths against the reference, im2col + sgemm ---------------
 * Each model is built twice: as the library chooses (direct depthwise,
 * pointwise without im2col, Winograd) and with cr_conv_reference_only on;
 * both get the same parameters and data and must give the same outputs and
 * gradients up to float rounding, at 1 and 3 threads, with the portable
 * and the vector loops (lib/cpu.h). */

typedef struct path_case {
    const char *what;
    const char *layers; /* the model's layers (YAML list items) */
    int channels, height, width, batch;
} path_case;

static cr_model *load_case(const path_case *pc, bool reference) {
    char yaml[1024];
    snprintf(yaml, sizeof yaml, "name: t\ninput: [%d, %d, %d]\nlayers:\n%s", pc->channels,
             pc->height, pc->width, pc->layers);
    cr_model *model = NULL;
    cr_error err;
    cr_conv_reference_only(reference);
    int failed = cr_model_load_text(yaml, strlen(yaml), "test.yaml", &model, &err);
    cr_conv_reference_only(false);
    if (failed) {
        char message[2048];
        cr_error_format(&err, message, sizeof message);
        fprintf(stderr, "%s: model failed to load: %s\n", pc->what, message);
        CHECK(!"model loads");
        return NULL;
    }
    return model;
}

/* Every parameter from one stream: variances kept away from 0, so that a
 * folded batchnorm scales by up to ~1.4 and shifts by up to ~2. */
static void fill_params(cr_net *net, uint64_t seed) {
    for (int i = 0; i < cr_net_param_count(net); i++) {
        cr_tensor t = cr_net_param(net, i);
        fill_uniform(t.data, t.count, &seed);
        if (strstr(t.name, "running_var"))
            for (int64_t j = 0; j < t.count; j++) t.data[j] = 0.5f + fabsf(t.data[j]);
    }
}

typedef struct path_run {
    cr_model *model;
    cr_net *net;
} path_run;

/* Builds, fills and runs one side: forward (and, in training, backward from
 * a fixed dy). */
static bool path_run_once(path_run *r, const path_case *pc, bool reference, bool training) {
    r->net = NULL;
    r->model = load_case(pc, reference);
    if (!r->model) return false;
    cr_net_options options = {
        .seed = 1, .training = training, .input_grad = training, .fuse_inference = !training};
    cr_error err;
    if (cr_net_create(r->model, pc->batch, &options, &r->net, &err)) {
        CHECK(!"network builds");
        return false;
    }
    fill_params(r->net, 77);
    uint64_t seed = 99;
    cr_shape out = cr_model_output_shape(r->model);
    fill_uniform(cr_net_input(r->net), (int64_t)pc->batch * pc->channels * pc->height * pc->width,
                 &seed);
    cr_net_forward(r->net, training);
    if (!training) return true;
    fill_uniform(cr_net_output_grad(r->net), (int64_t)pc->batch * cr_shape_size(out), &seed);
    cr_net_backward(r->net);
    return true;
}

static void path_run_free(path_run *r) {
    cr_net_free(r->net);
    cr_model_free(r->model);
}

/* The fast side's outputs and gradients against the reference side's. */
static void compare_runs(const char *label, path_run *fast, path_run *reference, bool training,
                         const path_case *pc) {
    char what[256];
    cr_shape out = cr_model_output_shape(fast->model);
    snprintf(what, sizeof what, "%s: y", label);
    check_floats(what, cr_net_output(fast->net), cr_net_output(reference->net),
                 (int64_t)pc->batch * cr_shape_size(out), 1e-4);
    if (!training) return;
    snprintf(what, sizeof what, "%s: dx", label);
    check_floats(what, cr_net_input_grad(fast->net), cr_net_input_grad(reference->net),
                 (int64_t)pc->batch * pc->channels * pc->height * pc->width, 1e-4);
    for (int i = 0; i < cr_net_param_count(fast->net); i++) {
        cr_tensor a = cr_net_param(fast->net, i), b = cr_net_param(reference->net, i);
        if (!a.grad) continue;
        snprintf(what, sizeof what, "%s: d%s", label, a.name);
        check_floats(what, a.grad, b.grad, a.count, 1e-4);
    }
}

/* Layer 0's products: the reference always has some; `fast_products` says
 * whether the fast path should (depthwise: none). */
static void check_paths_differ(const path_run *fast, const path_run *reference, int batch,
                               bool fast_products) {
    const cr_layer *a = &fast->model->layers[0], *b = &reference->model->layers[0];
    cr_shape in = fast->model->input;
    cr_gemm gemms[32];
    int fast_count = a->kind->gemms(a, &in, batch, gemms, 32);
    int reference_count = b->kind->gemms(b, &in, batch, gemms, 32);
    CHECK(reference_count > 0);
    CHECK(fast_products ? fast_count > 0 : fast_count == 0);
}

static void check_path_case(const path_case *pc, bool fast_products) {
    static const int thread_counts[2] = {1, 3};
    cr_cpu_level detected = cr_cpu();
    cr_cpu_level levels[2] = {CR_CPU_GENERIC, detected};
    for (int mode = 0; mode < 2; mode++) { /* training, then fused inference */
        bool training = mode == 0;
        for (int l = 0; l < (detected > CR_CPU_GENERIC ? 2 : 1); l++)
            for (int t = 0; t < 2; t++) {
                cr_cpu_force(levels[l]);
                cr_set_threads(thread_counts[t]);
                path_run fast, reference;
                if (path_run_once(&fast, pc, false, training) &&
                    path_run_once(&reference, pc, true, training)) {
                    char label[160];
                    snprintf(label, sizeof label, "%s, batch %d, %s, %d thread%s, %s loops",
                             pc->what, pc->batch, training ? "training" : "fused inference",
                             thread_counts[t], thread_counts[t] > 1 ? "s" : "",
                             cr_cpu_level_name(levels[l]));
                    compare_runs(label, &fast, &reference, training, pc);
                    check_paths_differ(&fast, &reference, pc->batch, fast_products);
                }
                path_run_free(&fast);
                path_run_free(&reference);
            }
    }
    cr_cpu_force(detected);
    cr_set_threads(1);
}

/* Each conv alone in training (its own activation), then followed by
 * batchnorm → relu6, which inference folds into the conv's epilogue. */
#define WITH_BN(CONV) "  - " CONV "\n  - {type: batchnorm, name: bn}\n  - {type: relu6}\n"

/* MobileNet-v2's depthwise conv, at batch 1 and 7 */
#define DEPTHWISE_RELU6                                                                            \
    "  - {type: conv, name: c, filters: 8, kernel: 3, padding: 1, groups: 8, activation: relu6}\n"

static void test_depthwise_against_reference(void) {
    const path_case cases[] = {
        {"depthwise 3x3 s1 p1 relu6", DEPTHWISE_RELU6, 8, 9, 11, 1},
        {"depthwise 3x3 s1 p1 relu6", DEPTHWISE_RELU6, 8, 9, 11, 7},
        /* wide rows: the 32-column vector blocks, then 8, then a tail */
        {"depthwise 3x3 s1 wide",
         "  - {type: conv, name: c, filters: 3, kernel: 3, padding: 1, groups: 3, bias: false}\n",
         3, 5, 77, 2},
        {"depthwise 3x3 s2 p1",
         "  - {type: conv, name: c, filters: 6, kernel: 3, stride: 2, padding: 1, groups: 6, "
         "activation: relu}\n",
         6, 13, 10, 7},
        {"depthwise 3x3 s2 no padding",
         "  - {type: conv, name: c, filters: 5, kernel: 3, stride: 2, groups: 5}\n", 5, 12, 12, 1},
        {"depthwise 5x5 dilation 2 p4",
         "  - {type: conv, name: c, filters: 4, kernel: 5, padding: 4, dilation: 2, groups: 4, "
         "activation: tanh}\n",
         4, 11, 9, 3},
        {"depthwise [3,5] s[2,3] p[2,1] d[1,2], 2 per channel",
         "  - {type: conv, name: c, filters: 6, kernel: [3, 5], stride: [2, 3], padding: [2, 1], "
         "dilation: [1, 2], groups: 3}\n",
         3, 10, 17, 2},
        /* 1×1 stride 1 is pointwise too: the depthwise kernel takes it */
        {"depthwise 1x1, 3 per channel",
         "  - {type: conv, name: c, filters: 12, kernel: 1, groups: 4, activation: relu}\n", 4, 5,
         6, 3},
        {"depthwise 3x3 hardswish (keeps z)",
         "  - {type: conv, name: c, filters: 4, kernel: 3, padding: 1, groups: 4, activation: "
         "hardswish}\n",
         4, 7, 6, 2},
        {"depthwise 3x3 s1 + batchnorm + relu6",
         WITH_BN("{type: conv, name: c, filters: 8, kernel: 3, padding: 1, groups: 8}"), 8, 9, 11,
         1},
        {"depthwise 3x3 s2 + batchnorm + relu6",
         WITH_BN("{type: conv, name: c, filters: 8, kernel: 3, stride: 2, padding: 1, groups: 8, "
                 "bias: false}"),
         8, 15, 14, 7},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_path_case(&cases[i], false);
}

/* The depthwise kernel's portable and AVX2 loops multiply and add in the
 * same order: the same bits (CNNRUN_CPU=generic changes nothing). */
static void test_depthwise_loops_agree(void) {
    cr_cpu_level detected = cr_cpu();
    if (detected == CR_CPU_GENERIC) return; /* nothing to compare with */
    const path_case pc = {"depthwise [3,5] s[2,1] d[1,2] p[2,3], 45 wide, 2 per channel",
                          "  - {type: conv, name: c, filters: 6, kernel: [3, 5], stride: [2, 1], "
                          "padding: [2, 3], dilation: [1, 2], groups: 3, activation: relu6}\n",
                          3,
                          11,
                          45,
                          3};
    path_run runs[2];
    for (int l = 0; l < 2; l++) {
        cr_cpu_force(l == 0 ? CR_CPU_GENERIC : detected);
        path_run_once(&runs[l], &pc, false, true);
    }
    cr_cpu_force(detected);
    if (runs[0].net && runs[1].net) {
        cr_shape out = cr_model_output_shape(runs[0].model);
        CHECK(memcmp(cr_net_output(runs[0].net), cr_net_output(runs[1].net),
                     (size_t)pc.batch * cr_shape_size(out) * sizeof(float)) == 0);
        CHECK(memcmp(cr_net_input_grad(runs[0].net), cr_net_input_grad(runs[1].net),
                     (size_t)pc.batch * pc.channels * pc.height * pc.width * sizeof(float)) == 0);
        for (int i = 0; i < cr_net_param_count(runs[0].net); i++) {
            cr_tensor a = cr_net_param(runs[0].net, i), b = cr_net_param(runs[1].net, i);
            CHECK(memcmp(a.grad, b.grad, (size_t)a.count * sizeof(float)) == 0);
        }
    }
    path_run_free(&runs[0]);
    path_run_free(&runs[1]);
}

static void test_pointwise_against_reference(void) {
    const path_case cases[] = {
        {"1x1", "  - {type: conv, name: c, filters: 7, kernel: 1}\n", 5, 6, 7, 1},
        {"1x1", "  - {type: conv, name: c, filters: 7, kernel: 1}\n", 5, 6, 7, 5},
        {"1x1 groups 2 relu6",
         "  - {type: conv, name: c, filters: 6, kernel: 1, groups: 2, activation: relu6}\n", 4, 5,
         9, 5},
        {"1x1 silu (keeps z)",
         "  - {type: conv, name: c, filters: 3, kernel: 1, activation: silu}\n", 6, 3, 5, 1},
        {"1x1 silu (keeps z)",
         "  - {type: conv, name: c, filters: 3, kernel: 1, activation: silu}\n", 6, 3, 5, 5},
        {"1x1 + batchnorm + relu6",
         WITH_BN("{type: conv, name: c, filters: 9, kernel: 1, bias: false}"), 8, 7, 7, 1},
        {"1x1 + batchnorm + relu6",
         WITH_BN("{type: conv, name: c, filters: 9, kernel: 1, bias: false}"), 8, 7, 7, 5},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_path_case(&cases[i], true);
}

/* Layer 0 of the fast side takes the strided 1×1 path: its scratch is that
 * path's (the reference's is the im2col path's, whose column matrix is
 * sized differently). */
static void check_takes_strided_pointwise(const path_case *pc) {
    cr_model *model = load_case(pc, false);
    if (!model) return;
    const cr_layer *layer = &model->layers[0];
    const conv_config *cfg = layer->config;
    conv_dims d = {.batch = 1,
                   .channels = pc->channels,
                   .height = pc->height,
                   .width = pc->width,
                   .filters = cfg->filters,
                   .groups = cfg->groups,
                   .kernel_h = 1,
                   .kernel_w = 1,
                   .stride_h = cfg->stride[0],
                   .stride_w = cfg->stride[1],
                   .dil_h = 1,
                   .dil_w = 1,
                   .out_height = layer->out.h,
                   .out_width = layer->out.w};
    CHECK(conv_strided_pointwise_applies(d));
    CHECK_INT(layer->workspace_per_thread, conv_strided_pointwise_scratch_floats(d));
    cr_model_free(model);
}

/* ResNet's downsampling shortcut: odd sizes (OH = ⌈H/2⌉), batches the 3
 * threads do not divide, bias on and off, fused activations, groups, a
 * stride of 3 that leaves the last rows and columns unread. */
static void test_strided_pointwise_against_reference(void) {
    const path_case cases[] = {
        {"1x1 s2 odd", "  - {type: conv, name: c, filters: 7, kernel: 1, stride: 2}\n", 5, 9, 11,
         1},
        {"1x1 s2 odd", "  - {type: conv, name: c, filters: 7, kernel: 1, stride: 2}\n", 5, 9, 11,
         5},
        {"1x1 s2 relu no bias",
         "  - {type: conv, name: c, filters: 6, kernel: 1, stride: 2, bias: false, activation: "
         "relu}\n",
         4, 8, 8, 7},
        {"1x1 s[2,3] groups 2 relu6",
         "  - {type: conv, name: c, filters: 6, kernel: 1, stride: [2, 3], groups: 2, activation: "
         "relu6}\n",
         4, 10, 11, 5},
        {"1x1 s3 tanh, rows and columns unread",
         "  - {type: conv, name: c, filters: 3, kernel: 1, stride: 3, activation: tanh}\n", 2, 11,
         8, 4},
        {"1x1 s2 silu (keeps z)",
         "  - {type: conv, name: c, filters: 3, kernel: 1, stride: 2, activation: silu}\n", 6, 7, 5,
         5},
        /* 21×20 outputs: chunks of 3 images, 3 + 3 + 1 for 7, so a thread
         * sums several chunks and the last writes y in place */
        {"1x1 s2 several chunks", "  - {type: conv, name: c, filters: 4, kernel: 1, stride: 2}\n",
         3, 41, 39, 7},
        {"1x1 s2 + batchnorm + relu6",
         WITH_BN("{type: conv, name: c, filters: 9, kernel: 1, stride: 2, bias: false}"), 8, 7, 9,
         1},
        {"1x1 s2 + batchnorm + relu6",
         WITH_BN("{type: conv, name: c, filters: 9, kernel: 1, stride: 2, bias: false}"), 8, 7, 9,
         7},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check_takes_strided_pointwise(&cases[i]);
        check_path_case(&cases[i], true);
    }
}

/* The stride-2 row copies, portable and AVX2, against their definition
 * for every length up to 40: out[i] = row[2i]; row[2i] += in[i] with the
 * odd pixels unchanged. The row is allocated to what the copy may touch,
 * the 2n − 1 pixels it needs or one more (`readable`: a row of 8 outputs
 * becomes a vector block), so ASan catches a read or write past it. */
static void check_stride2_rows(int n, int64_t readable, bool avx2) {
    size_t span = (size_t)(readable > 0 ? readable : 1);
    float *row = malloc(span * sizeof *row), *expected = malloc(span * sizeof *expected);
    float *in = malloc((size_t)(n ? n : 1) * sizeof *in);
    float *out = malloc((size_t)(n ? n : 1) * sizeof *out);
    uint64_t seed = 5 + (uint64_t)n;
    fill_uniform(row, (int64_t)span, &seed);
    fill_uniform(in, n, &seed);
    cr_gather_stride2(out, row, n, readable, avx2);
    int wrong = 0;
    for (int i = 0; i < n; i++) wrong += out[i] != row[2 * i];
    memcpy(expected, row, span * sizeof *row);
    for (int i = 0; i < n; i++) expected[2 * i] += in[i];
    cr_scatter_add_stride2(row, in, n, readable, avx2);
    for (int64_t i = 0; i < readable; i++) wrong += row[i] != expected[i];
    if (wrong)
        fprintf(stderr, "stride-2 rows, n %d, readable %lld, avx2 %d: %d wrong\n", n,
                (long long)readable, avx2, wrong);
    CHECK(wrong == 0);
    free(row);
    free(expected);
    free(in);
    free(out);
}

static void test_stride2_rows(void) {
    bool levels[2] = {false, cr_cpu_avx2()};
    for (int l = 0; l < (levels[1] ? 2 : 1); l++)
        for (int n = 0; n <= 40; n++)
            for (int extra = 0; extra < 2; extra++)
                check_stride2_rows(n, n ? 2 * n - 1 + extra : extra, levels[l]);
}

int main(void) {
    test_textbook_cases();
    test_groups();
    test_backward_by_hand();
    test_frozen();
    test_dx_accumulates();
    test_pointwise_dx_accumulates();
    test_strided_pointwise_dx();
    test_fused_activations();
    test_stride2_rows();
    test_random_geometries();
    test_depthwise_against_reference();
    test_depthwise_loops_agree();
    test_pointwise_against_reference();
    test_strided_pointwise_against_reference();
    return check_report();
}
