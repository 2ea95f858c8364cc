/* dense forward/backward through the runtime: hand-computed cases, then
 * random ones against a naive matrix product in double. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "cnnrun.h"
#include "net_fixture.h"

/* Two images of 4 inputs (shape [2, 1, 2]: dense flattens C, H, W in
 * memory order), 2 units:
 *   weight = [[1, 0, -1, 2], [0.5, 0.5, 0.5, 0.5]], bias = [1, -1]
 *   x0 = [1, 2, 3, 4]:       y0 = [1 - 3 + 8 + 1, 5 - 1]       = [7, 4]
 *   x1 = [-1, 0, 1, 0.5]:    y1 = [-1 - 1 + 1 + 1, 0.25 - 1]   = [0, -0.75]
 *   dy = [[1, 2], [0, -1]]
 *   dweight = dyᵀ·x: unit 0: 1·x0 = [1, 2, 3, 4];
 *                    unit 1: 2·x0 − x1 = [3, 4, 5, 7.5]
 *   dbias = [1, 1]
 *   dx = dy·weight: image 0: w0 + 2·w1 = [2, 1, 0, 3]; image 1: −w1 = −0.5 × 4 */
static const float hand_x[8] = {1, 2, 3, 4, -1, 0, 1, 0.5f};
static const float hand_y[4] = {7, 4, 0, -0.75f};
static const float hand_dy[4] = {1, 2, 0, -1};
static const float hand_dx[8] = {2, 1, 0, 3, -0.5f, -0.5f, -0.5f, -0.5f};

static void run_hand_case(fixture *f) {
    memcpy(cr_net_input(f->net), hand_x, sizeof hand_x);
    cr_net_forward(f->net, true);
    check_floats("hand y", cr_net_output(f->net), hand_y, 4, 1e-6);
    memcpy(cr_net_output_grad(f->net), hand_dy, sizeof hand_dy);
    cr_net_backward(f->net);
    check_floats("hand dx", cr_net_input_grad(f->net), hand_dx, 8, 1e-6);
}

static void test_by_hand(void) {
    const char *yaml = "name: t\ninput: [2, 1, 2]\nlayers:\n"
                       "  - {type: dense, name: d, units: 2}\n";
    fixture f;
    if (!fixture_build(&f, yaml, 2)) return;
    cr_tensor weight = fixture_param(&f, "d.weight");
    CHECK_INT(weight.ndim, 2);
    CHECK_INT(weight.dims[0], 2); /* [units, inputs], as PyTorch's Linear */
    CHECK_INT(weight.dims[1], 4);
    const float w[8] = {1, 0, -1, 2, 0.5f, 0.5f, 0.5f, 0.5f}, b[2] = {1, -1};
    fixture_set_param(&f, "d.weight", w, 8);
    fixture_set_param(&f, "d.bias", b, 2);
    run_hand_case(&f);
    const float dweight[8] = {1, 2, 3, 4, 3, 4, 5, 7.5f}, dbias[2] = {1, 1};
    check_floats("hand dweight", fixture_param(&f, "d.weight").grad, dweight, 8, 1e-6);
    check_floats("hand dbias", fixture_param(&f, "d.bias").grad, dbias, 2, 1e-6);

    /* A smaller batch than planned uses only the first image: y0 = [7, 4]
     * and dweight = 1·x0, 2·x0. */
    cr_net_set_batch(f.net, 1);
    cr_net_forward(f.net, true);
    check_floats("batch 1 y", cr_net_output(f.net), hand_y, 2, 1e-6);
    memcpy(cr_net_output_grad(f.net), hand_dy, 2 * sizeof *hand_dy);
    cr_net_backward(f.net);
    const float dweight_1[8] = {1, 2, 3, 4, 2, 4, 6, 8}, dbias_1[2] = {1, 2};
    check_floats("batch 1 dweight", fixture_param(&f, "d.weight").grad, dweight_1, 8, 1e-6);
    check_floats("batch 1 dbias", fixture_param(&f, "d.bias").grad, dbias_1, 2, 1e-6);
    fixture_free(&f);
}

/* The same weights inline and frozen: no parameter gradients, same dx. */
static void test_frozen(void) {
    const char *yaml = "name: t\ninput: [2, 1, 2]\nlayers:\n"
                       "  - {type: dense, name: d, units: 2, trainable: false,\n"
                       "     weights: [[1, 0, -1, 2], [0.5, 0.5, 0.5, 0.5]], bias: [1, -1]}\n";
    fixture f;
    if (!fixture_build(&f, yaml, 2)) return;
    CHECK(fixture_param(&f, "d.weight").grad == NULL);
    CHECK(fixture_param(&f, "d.bias").grad == NULL);
    run_hand_case(&f);
    fixture_free(&f);
}

/* Two dense layers reading the network input: its gradient is the sum.
 * a = [[1, 2]], b = [[-3, 0.5]] (no bias) on x = [1, 1], dy = 2:
 * y = 3 + (-2.5) = 0.5, dx = 2·(a + b) = [-4, 5]. */
static void test_dx_accumulates(void) {
    const char *yaml = "name: t\ninput: [2, 1, 1]\nlayers:\n"
                       "  - {type: dense, name: a, units: 1, bias: false, weights: [[1, 2]]}\n"
                       "  - {type: dense, name: b, input: input, units: 1, bias: false,\n"
                       "     weights: [[-3, 0.5]]}\n"
                       "  - {type: add, inputs: [a, b]}\n";
    fixture f;
    if (!fixture_build(&f, yaml, 1)) return;
    float *x = cr_net_input(f.net);
    x[0] = x[1] = 1;
    cr_net_forward(f.net, true);
    const float y[1] = {0.5f}, dx[2] = {-4, 5};
    check_floats("sum y", cr_net_output(f.net), y, 1, 1e-6);
    cr_net_output_grad(f.net)[0] = 2;
    cr_net_backward(f.net);
    check_floats("summed dx", cr_net_input_grad(f.net), dx, 2, 1e-6);
    fixture_free(&f);
}

/* Each fused activation: one input x = 3, four units with weights
 * -2 -0.5 0.5 2, so z = -6 -1.5 1.5 6, y = f(z), and with dy = 1:
 *   dweight = 3·f'(z), dx = Σ w·f'(z), dbias = f'(z). */
static void test_fused_activations(void) {
    static const char *const names[] = {"relu", "leaky_relu", "tanh", "sigmoid"};
    const float w[4] = {-2, -0.5f, 0.5f, 2};
    for (int a = 0; a < 4; a++) {
        char yaml[256];
        snprintf(yaml, sizeof yaml,
                 "name: t\ninput: [1, 1, 1]\nlayers:\n"
                 "  - {type: dense, name: d, units: 4, activation: %s,\n"
                 "     weights: [[-2], [-0.5], [0.5], [2]], bias: [0, 0, 0, 0]}\n",
                 names[a]);
        fixture f;
        if (!fixture_build(&f, yaml, 1)) continue;
        cr_net_input(f.net)[0] = 3;
        cr_net_forward(f.net, true);
        float y[4], derivative[4];
        for (int i = 0; i < 4; i++) {
            double z = 3.0 * w[i];
            switch (a) {
            case 0:
                y[i] = (float)(z > 0 ? z : 0);
                derivative[i] = z > 0 ? 1.0f : 0.0f;
                break;
            case 1:
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
        float dx[1] = {0}, dweight[4];
        for (int i = 0; i < 4; i++) {
            dweight[i] = 3.0f * derivative[i];
            dx[0] += w[i] * derivative[i];
        }
        snprintf(what, sizeof what, "%s dx", names[a]);
        check_floats(what, cr_net_input_grad(f.net), dx, 1, 1e-5);
        snprintf(what, sizeof what, "%s dweight", names[a]);
        check_floats(what, fixture_param(&f, "d.weight").grad, dweight, 4, 1e-5);
        snprintf(what, sizeof what, "%s dbias", names[a]);
        check_floats(what, fixture_param(&f, "d.bias").grad, derivative, 4, 1e-5);
        fixture_free(&f);
    }
}

/* ---- random cases against a naive matrix product ------------------------- */

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
    *derivative = 1;
    return z;
}

/* y[n,u] = act(Σ_i w[u,i]·x[n,i] + b[u]) and its gradients, in double. */
static void naive_dense(int batch, int inputs, int units, const char *activation, const float *x,
                        const float *weight, const float *bias, const float *dy, float *y,
                        float *dx, float *dweight, float *dbias) {
    double *dz = malloc((size_t)batch * units * sizeof *dz);
    for (int n = 0; n < batch; n++)
        for (int u = 0; u < units; u++) {
            double z = bias ? bias[u] : 0, derivative;
            for (int i = 0; i < inputs; i++)
                z += (double)weight[u * inputs + i] * x[n * inputs + i];
            y[n * units + u] = (float)activate(activation, z, &derivative);
            dz[n * units + u] = dy[n * units + u] * derivative;
        }
    for (int u = 0; u < units; u++) {
        double sum = 0;
        for (int n = 0; n < batch; n++) sum += dz[n * units + u];
        dbias[u] = (float)sum;
        for (int i = 0; i < inputs; i++) {
            sum = 0;
            for (int n = 0; n < batch; n++) sum += dz[n * units + u] * x[n * inputs + i];
            dweight[u * inputs + i] = (float)sum;
        }
    }
    for (int n = 0; n < batch; n++)
        for (int i = 0; i < inputs; i++) {
            double sum = 0;
            for (int u = 0; u < units; u++) sum += dz[n * units + u] * weight[u * inputs + i];
            dx[n * inputs + i] = (float)sum;
        }
    free(dz);
}

static void check_random_case(int batch, int channels, int height, int width, int units, bool bias,
                              const char *activation, uint64_t seed) {
    char yaml[256];
    snprintf(yaml, sizeof yaml,
             "name: t\ninput: [%d, %d, %d]\nlayers:\n"
             "  - {type: dense, name: d, units: %d, bias: %s, activation: %s}\n",
             channels, height, width, units, bias ? "true" : "false", activation);
    fixture f;
    if (!fixture_build(&f, yaml, batch)) return;
    int inputs = channels * height * width;
    cr_tensor weight = fixture_param(&f, "d.weight");
    float *x = malloc((size_t)batch * inputs * sizeof *x);
    float *dx = malloc((size_t)batch * inputs * sizeof *dx);
    float *y = malloc((size_t)batch * units * sizeof *y);
    float *dy = malloc((size_t)batch * units * sizeof *dy);
    float *dweight = malloc((size_t)units * inputs * sizeof *dweight);
    float *dbias = malloc((size_t)units * sizeof *dbias);
    fill_uniform(x, (int64_t)batch * inputs, &seed);
    fill_uniform(dy, (int64_t)batch * units, &seed);
    fill_uniform(weight.data, weight.count, &seed);
    const float *bias_data = NULL;
    if (bias) {
        cr_tensor b = fixture_param(&f, "d.bias");
        fill_uniform(b.data, b.count, &seed);
        bias_data = b.data;
    }
    naive_dense(batch, inputs, units, activation, x, weight.data, bias_data, dy, y, dx, dweight,
                dbias);
    memcpy(cr_net_input(f.net), x, (size_t)batch * inputs * sizeof *x);
    cr_net_forward(f.net, true);
    memcpy(cr_net_output_grad(f.net), dy, (size_t)batch * units * sizeof *dy);
    cr_net_backward(f.net);

    char label[160];
    snprintf(label, sizeof label, "N%d %dx%dx%d -> %d %s: y", batch, channels, height, width, units,
             activation);
    check_floats(label, cr_net_output(f.net), y, (int64_t)batch * units, 1e-4);
    snprintf(label, sizeof label, "N%d %dx%dx%d -> %d %s: dx", batch, channels, height, width,
             units, activation);
    check_floats(label, cr_net_input_grad(f.net), dx, (int64_t)batch * inputs, 1e-4);
    snprintf(label, sizeof label, "N%d %dx%dx%d -> %d %s: dweight", batch, channels, height, width,
             units, activation);
    check_floats(label, weight.grad, dweight, weight.count, 1e-4);
    if (bias) {
        snprintf(label, sizeof label, "N%d %dx%dx%d -> %d %s: dbias", batch, channels, height,
                 width, units, activation);
        check_floats(label, fixture_param(&f, "d.bias").grad, dbias, units, 1e-4);
    }
    free(x);
    free(dx);
    free(y);
    free(dy);
    free(dweight);
    free(dbias);
    fixture_free(&f);
}

static void test_random_cases(void) {
    check_random_case(3, 2, 3, 2, 5, true, "none", 1);
    check_random_case(4, 1, 1, 7, 3, false, "relu", 2);
    check_random_case(2, 3, 2, 2, 6, true, "leaky_relu", 3);
    check_random_case(5, 4, 1, 1, 2, true, "tanh", 4);
    check_random_case(1, 1, 1, 9, 4, true, "sigmoid", 5);
}

int main(void) {
    test_by_hand();
    test_frozen();
    test_dx_accumulates();
    test_fused_activations();
    test_random_cases();
    return check_report();
}
