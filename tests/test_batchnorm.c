/* batchnorm through the runtime: training normalises each channel over
 * (N, H, W), updates the running statistics with PyTorch's rule, evaluation
 * uses them; backward against PyTorch 1.13 (nn.BatchNorm2d in float64). */
#include "check.h"
#include "net_fixture.h"

static const char *const small_model = "input: [2, 1, 2]\n"
                                       "layers:\n"
                                       "  - {type: batchnorm, name: bn}\n";

/* x: [2, 2, 1, 2]; channel 0 holds 1, 2, 4, −3 (mean 1, biased variance 6.5,
 * unbiased 26/3), channel 1 holds 0.5, −1, 2, 0. */
static const float small_x[8] = {1, 2, 0.5f, -1, 4, -3, 2, 0};
static const float small_dy[8] = {1, -1, 0.5f, 2, -0.5f, 0.25f, 1, -2};

static void set_small_params(fixture *f) {
    fixture_set_param(f, "bn.weight", (const float[]){2.0f, 0.5f}, 2);
    fixture_set_param(f, "bn.bias", (const float[]){1.0f, -1.0f}, 2);
    fixture_set_param(f, "bn.running_mean", (const float[]){0.5f, -0.2f}, 2);
    fixture_set_param(f, "bn.running_var", (const float[]){2.0f, 0.8f}, 2);
}

static void test_batchnorm_training_step(void) {
    fixture f;
    if (!fixture_build(&f, small_model, 2)) return;
    set_small_params(&f);
    memcpy(cr_net_input(f.net), small_x, sizeof small_x);
    cr_net_forward(f.net, true);
    /* x = 1 is channel 0's mean, so its output is beta = 1 exactly. */
    static const float expected_y[8] = {1.0f,        1.78446394f,  -0.94226522f, -1.63508259f,
                                        3.35339181f, -2.13785575f, -0.24944785f, -1.17320434f};
    check_floats("batchnorm y", cr_net_output(f.net), expected_y, 8, 1e-6);

    /* running_mean = 0.9·0.5 + 0.1·1; running_var = 0.9·2 + 0.1·26/3 (unbiased). */
    CHECK_NEAR(fixture_param(&f, "bn.running_mean").data[0], 0.9 * 0.5 + 0.1 * 1.0, 1e-7);
    CHECK_NEAR(fixture_param(&f, "bn.running_var").data[0], 0.9 * 2.0 + 0.1 * 26.0 / 3.0, 1e-6);
    static const float expected_mean[2] = {0.55f, -0.1425f};
    static const float expected_var[2] = {2.66666667f, 0.87625001f};
    check_floats("running_mean", fixture_param(&f, "bn.running_mean").data, expected_mean, 2, 1e-6);
    check_floats("running_var", fixture_param(&f, "bn.running_var").data, expected_var, 2, 1e-6);
    CHECK(fixture_param(&f, "bn.running_mean").grad == NULL);

    memcpy(cr_net_output_grad(f.net), small_dy, sizeof small_dy);
    cr_net_backward(f.net);
    static const float expected_dx[8] = {0.83349293f,  -0.62983419f, 0.06158373f, 0.70821367f,
                                         -0.02640072f, -0.17725803f, 0.33871029f, -1.10850769f};
    check_floats("batchnorm dx", cr_net_input_grad(f.net), expected_dx, 8, 1e-6);
    static const float expected_dgamma[2] = {-1.37281189f, -0.2886739f};
    static const float expected_dbeta[2] = {-0.25f, 1.5f};
    check_floats("dgamma", fixture_param(&f, "bn.weight").grad, expected_dgamma, 2, 1e-6);
    check_floats("dbeta", fixture_param(&f, "bn.bias").grad, expected_dbeta, 2, 1e-6);

    /* Backward overwrites parameter gradients: a second one gives the same. */
    cr_net_backward(f.net);
    check_floats("dbeta again", fixture_param(&f, "bn.bias").grad, expected_dbeta, 2, 1e-6);
    fixture_free(&f);
}

static void test_batchnorm_evaluation(void) {
    fixture f;
    if (!fixture_build(&f, small_model, 2)) return;
    set_small_params(&f);
    memcpy(cr_net_input(f.net), small_x, sizeof small_x);
    cr_net_forward(f.net, false);
    /* y = gamma·(x − running_mean)/sqrt(running_var + eps) + beta, e.g.
     * 2·(1 − 0.5)/sqrt(2.00001) + 1 for the first value. */
    static const float expected_y[8] = {1.70710501f, 3.12131504f,  -0.60869055f, -1.4472108f,
                                        5.94973509f, -3.94973509f, 0.22982969f,  -0.8881973f};
    check_floats("batchnorm eval y", cr_net_output(f.net), expected_y, 8, 1e-6);
    CHECK_NEAR(expected_y[0], 2.0 * 0.5 / sqrt(2.00001) + 1.0, 1e-7);
    /* Evaluation leaves the running statistics alone. */
    CHECK(fixture_param(&f, "bn.running_mean").data[1] == -0.2f);
    CHECK(fixture_param(&f, "bn.running_var").data[1] == 0.8f);
    fixture_free(&f);
}

/* A larger batch of spread-out values: every channel of the training output
 * has mean 0 and (biased) variance var/(var + eps) ≈ 1; the running
 * statistics after one step match the formula computed here in double. */
static void test_batchnorm_statistics(void) {
    enum { BATCH = 4, C = 3, SPATIAL = 20, M = BATCH * SPATIAL };
    fixture f;
    if (!fixture_build(&f,
                       "input: [3, 4, 5]\n"
                       "layers:\n"
                       "  - {type: batchnorm, name: bn, momentum: 0.25}\n",
                       BATCH))
        return;
    float *x = cr_net_input(f.net);
    uint64_t state = 5;
    fill_uniform(x, BATCH * C * SPATIAL, &state);
    /* Channel c: scale 1 + 3c around 10c, so means and spreads differ. */
    for (int n = 0; n < BATCH; n++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < SPATIAL; i++) {
                float *v = &x[(n * C + c) * SPATIAL + i];
                *v = 10.0f * c + (1.0f + 3.0f * c) * *v;
            }
    cr_net_forward(f.net, true);
    const float *y = cr_net_output(f.net);
    const float *running_mean = fixture_param(&f, "bn.running_mean").data;
    const float *running_var = fixture_param(&f, "bn.running_var").data;
    for (int c = 0; c < C; c++) {
        double x_sum = 0, y_sum = 0;
        for (int n = 0; n < BATCH; n++)
            for (int i = 0; i < SPATIAL; i++) {
                x_sum += x[(n * C + c) * SPATIAL + i];
                y_sum += y[(n * C + c) * SPATIAL + i];
            }
        double x_mean = x_sum / M, y_mean = y_sum / M, x_squares = 0, y_squares = 0;
        for (int n = 0; n < BATCH; n++)
            for (int i = 0; i < SPATIAL; i++) {
                double dx = x[(n * C + c) * SPATIAL + i] - x_mean;
                double dy = y[(n * C + c) * SPATIAL + i] - y_mean;
                x_squares += dx * dx;
                y_squares += dy * dy;
            }
        double variance = x_squares / M;
        CHECK_NEAR(y_mean, 0.0, 1e-6);
        CHECK_NEAR(y_squares / M, variance / (variance + 1e-5), 1e-5);
        CHECK_NEAR(running_mean[c], 0.25 * x_mean, 1e-6);
        CHECK_NEAR(running_var[c], 0.75 * 1.0 + 0.25 * x_squares / (M - 1), 1e-6);
    }
    fixture_free(&f);
}

/* After dense, batchnorm is BatchNorm1d: statistics over the batch alone. */
static void test_batchnorm_1d(void) {
    fixture f;
    if (!fixture_build(&f,
                       "input: [2, 1, 1]\n"
                       "layers:\n"
                       "  - {type: batchnorm, name: bn, momentum: 1}\n",
                       3))
        return;
    float *x = cr_net_input(f.net);
    /* Unit 0: 1, 2, 6 (mean 3, biased variance 14/3); unit 1: all 5. */
    x[0] = 1, x[1] = 5, x[2] = 2, x[3] = 5, x[4] = 6, x[5] = 5;
    cr_net_forward(f.net, true);
    const float *y = cr_net_output(f.net);
    double inverse_std = 1.0 / sqrt(14.0 / 3.0 + 1e-5);
    CHECK_NEAR(y[0], -2.0 * inverse_std, 1e-6);
    CHECK_NEAR(y[2], -1.0 * inverse_std, 1e-6);
    CHECK_NEAR(y[4], 3.0 * inverse_std, 1e-6);
    CHECK_NEAR(y[1], 0.0, 0); /* a constant channel normalises to 0, not NaN */
    /* momentum 1: the running statistics are the batch's own (unbiased: 7). */
    CHECK_NEAR(fixture_param(&f, "bn.running_mean").data[0], 3.0, 1e-6);
    CHECK_NEAR(fixture_param(&f, "bn.running_var").data[0], 7.0, 1e-6);
    CHECK_NEAR(fixture_param(&f, "bn.running_var").data[1], 0.0, 0);
    fixture_free(&f);
}

/* Training runs batchnorm → relu (→ relu6) as one pass each way
 * (cr_net_options.fuse_training): it must give the unfused layers' results
 * bit for bit — outputs, every gradient, the running statistics — after a
 * conv, after dense (BatchNorm1d), at 1 and 3 threads, and must leave a
 * batchnorm alone whose output has a second reader (bn3, read by the add).
 * The add → relu of a residual block (sum → r5) fuses the same way. */
static const char *const fusion_model =
    "input: [3, 6, 6]\n"
    "layers:\n"
    "  - {type: conv, name: c1, filters: 4, kernel: 3, padding: 1}\n"
    "  - {type: batchnorm, name: bn1}\n"
    "  - {type: relu, name: r1}\n"
    "  - {type: conv, name: c2, filters: 4, kernel: 3, padding: 1}\n"
    "  - {type: batchnorm, name: bn2}\n"
    "  - {type: relu6, name: r2}\n"
    "  - {type: conv, name: c3, filters: 4, kernel: 1}\n"
    "  - {type: batchnorm, name: bn3}\n"
    "  - {type: relu, name: r3}\n"
    "  - {type: add, name: sum, inputs: [r3, bn3]}\n"
    "  - {type: relu, name: r5}\n"
    "  - {type: flatten, name: flat}\n"
    "  - {type: dense, name: fc1, units: 6}\n"
    "  - {type: batchnorm, name: bn4}\n"
    "  - {type: relu, name: r4}\n"
    "  - {type: dense, name: fc2, units: 5}\n"
    "  - {type: softmax, name: out}\n";

enum { FUSION_BATCH = 5 };

static cr_net *fusion_net(const cr_model *model, bool fuse) {
    cr_net *net;
    cr_error err;
    cr_net_options options = {
        .seed = 2, .training = true, .input_grad = true, .fuse_training = fuse};
    if (cr_net_create(model, FUSION_BATCH, &options, &net, &err)) {
        CHECK(!"network builds");
        return NULL;
    }
    /* bn2 scaled and shifted so that relu6 clips at 6 as well as at 0. */
    for (int i = 0; i < cr_net_param_count(net); i++) {
        cr_tensor t = cr_net_param(net, i);
        for (int64_t j = 0; j < t.count; j++)
            if (strcmp(t.name, "bn2.weight") == 0)
                t.data[j] = 4.0f;
            else if (strcmp(t.name, "bn2.bias") == 0)
                t.data[j] = 2.0f;
    }
    return net;
}

/* One training step on both nets from the same input; then everything
 * compared exactly. */
static void fusion_step(cr_net *plain, cr_net *fused, const cr_model *model, uint64_t *rng) {
    int64_t inputs = FUSION_BATCH * cr_shape_size(model->input);
    fill_uniform(cr_net_input(plain), inputs, rng);
    memcpy(cr_net_input(fused), cr_net_input(plain), (size_t)inputs * sizeof(float));
    int bn1 = cr_model_find_layer(model, "bn1");
    int64_t bn1_size = FUSION_BATCH * cr_shape_size(model->layers[bn1].out);
    /* The fused forward does not write bn1's own output: NaN stays. */
    for (int64_t i = 0; i < bn1_size; i++) cr_net_layer_output(fused, bn1)[i] = NAN;
    int labels[FUSION_BATCH] = {0, 3, 1, 4, 2};
    cr_net_forward(plain, true);
    cr_net_forward(fused, true);
    CHECK(isnan(cr_net_layer_output(fused, bn1)[0]));
    CHECK(!isnan(cr_net_layer_output(plain, bn1)[0]));
    CHECK_NEAR(cr_net_cross_entropy(plain, labels), cr_net_cross_entropy(fused, labels), 0);
    cr_net_backward(plain);
    cr_net_backward(fused);

    for (int i = 0; i < model->n_layers; i++) {
        if (cr_model_training_fusion(model, i) >= 0) continue; /* its output is unwritten */
        char what[64];
        snprintf(what, sizeof what, "fused %s output", model->layers[i].name);
        check_floats(what, cr_net_layer_output(fused, i), cr_net_layer_output(plain, i),
                     FUSION_BATCH * cr_shape_size(model->layers[i].out), 0);
    }
    int64_t grads, fused_grads;
    const float *expected = cr_net_grad_block(plain, &grads);
    const float *actual = cr_net_grad_block(fused, &fused_grads);
    CHECK_INT(fused_grads, grads);
    check_floats("fused parameter gradients", actual, expected, grads, 0);
    check_floats("fused input gradient", cr_net_input_grad(fused), cr_net_input_grad(plain), inputs,
                 0);
    for (int i = 0; i < cr_net_param_count(plain); i++) {
        cr_tensor a = cr_net_param(fused, i), b = cr_net_param(plain, i);
        check_floats(b.name, a.data, b.data, b.count, 0); /* running statistics */
    }
}

static void test_batchnorm_relu_fusion(int threads) {
    cr_set_threads(threads);
    fixture f = {0};
    cr_error err;
    if (cr_model_load_text(fusion_model, strlen(fusion_model), "fusion.yaml", &f.model, &err)) {
        CHECK(!"model loads");
        return;
    }
    const cr_model *model = f.model;
    CHECK_INT(cr_model_training_fusion(model, cr_model_find_layer(model, "bn1")),
              cr_model_find_layer(model, "r1"));
    CHECK_INT(cr_model_training_fusion(model, cr_model_find_layer(model, "bn2")),
              cr_model_find_layer(model, "r2"));
    CHECK_INT(cr_model_training_fusion(model, cr_model_find_layer(model, "bn3")), -1);
    CHECK_INT(cr_model_training_fusion(model, cr_model_find_layer(model, "sum")),
              cr_model_find_layer(model, "r5"));
    CHECK_INT(cr_model_training_fusion(model, cr_model_find_layer(model, "bn4")),
              cr_model_find_layer(model, "r4"));
    cr_net *plain = fusion_net(model, false), *fused = fusion_net(model, true);
    uint64_t rng = 77;
    if (plain && fused) {
        /* Two steps: the second starts from updated running statistics. */
        fusion_step(plain, fused, model, &rng);
        fusion_step(plain, fused, model, &rng);
        /* Backward after an evaluation forward applies the mask too. */
        cr_net_forward(plain, false);
        cr_net_forward(fused, false);
        memcpy(cr_net_output_grad(fused), cr_net_output(plain), 5 * FUSION_BATCH * sizeof(float));
        memcpy(cr_net_output_grad(plain), cr_net_output(plain), 5 * FUSION_BATCH * sizeof(float));
        cr_net_backward(plain);
        cr_net_backward(fused);
        int64_t grads;
        const float *expected = cr_net_grad_block(plain, &grads);
        check_floats("fused gradients after evaluation", cr_net_grad_block(fused, &grads), expected,
                     grads, 0);
    }
    cr_net_free(plain);
    cr_net_free(fused);
    cr_model_free(f.model);
    cr_set_threads(0);
}

int main(void) {
    test_batchnorm_training_step();
    test_batchnorm_evaluation();
    test_batchnorm_statistics();
    test_batchnorm_1d();
    test_batchnorm_relu_fusion(1);
    test_batchnorm_relu_fusion(3);
    return check_report();
}
