/* lrn through the runtime, against PyTorch's nn.LocalResponseNorm: an odd
 * window (5, centred) and an even one (4: two channels before, one after),
 * forward and backward. The expected numbers were computed with PyTorch 1.13
 * in float64 for x and dy below; float32 agrees to ~7e-8. */
#include "check.h"
#include "net_fixture.h"

/* [1, 6, 1, 2]: channel c holds x[2c], x[2c + 1]. */
static const float x_values[12] = {0.5f,  -1.0f, 2.0f,  0.25f, -1.5f, 1.0f,
                                   0.75f, 1.25f, -0.5f, -2.0f, 0.3f,  1.5f};
static const float dy_values[12] = {1.0f,  -0.5f, 0.25f, 2.0f, -1.0f, 0.5f,
                                    0.75f, -1.5f, 1.0f,  0.2f, -0.3f, 0.6f};

static void check_lrn(const char *yaml, const float *expected_y, const float *expected_dx) {
    fixture f;
    if (!fixture_build(&f, yaml, 1)) return;
    memcpy(cr_net_input(f.net), x_values, sizeof x_values);
    cr_net_forward(f.net, true);
    check_floats("lrn y", cr_net_output(f.net), expected_y, 12, 1e-6);
    memcpy(cr_net_output_grad(f.net), dy_values, sizeof dy_values);
    cr_net_backward(f.net);
    check_floats("lrn dx", cr_net_input_grad(f.net), expected_dx, 12, 1e-6);
    fixture_free(&f);
}

/* size 5: channel c sums channels c-2..c+2. By hand for channel 0, first
 * column: s = 1 + 0.5/5·(0.5² + 2² + 1.5²) = 1.65, y = 0.5 / 1.65^0.75. */
static void test_lrn_size_5(void) {
    static const float expected_y[12] = {
        0.34344488f, -0.86880439f, 1.33967051f,  0.19823833f,  -0.99385132f, 0.65373714f,
        0.50039815f, 0.77623781f,  -0.40711188f, -1.24507385f, 0.28117499f,  0.97285385f,
    };
    static const float expected_dx[12] = {
        0.61350204f, -0.30891586f, -0.19173238f, 1.57766795f, -0.46281883f, 0.31376889f,
        0.4326446f,  -0.94177971f, 0.84467113f,  0.05368071f, -0.27361046f, 0.48398944f,
    };
    CHECK_NEAR(0.5 / pow(1.65, 0.75), expected_y[0], 1e-7);
    check_lrn("input: [6, 1, 2]\n"
              "layers:\n"
              "  - {type: lrn, size: 5, alpha: 0.5, beta: 0.75, k: 1}\n",
              expected_y, expected_dx);
}

/* size 4 with beta 0.6 (the general power, not the 0.75 fast path): channel
 * c sums channels c-2..c+1, so the window is lopsided. By hand for channel
 * 5, first column: s = 2 + 0.8/4·(0.75² + 0.5² + 0.3²), window 3..5 clipped. */
static void test_lrn_size_4(void) {
    static const float expected_y[12] = {
        0.26672461f, -0.62096916f, 0.97706089f,  0.14738715f,  -0.71820374f, 0.54799942f,
        0.35910187f, 0.60790403f,  -0.27986399f, -0.90311715f, 0.18792632f,  0.69990377f,
    };
    static const float expected_dx[12] = {
        0.48808082f, -0.22334812f, -0.09722425f, 1.17376761f,  -0.38627747f, 0.2978826f,
        0.33081691f, -0.69833891f, 0.55332911f,  -0.00778594f, -0.1784045f,  0.25480748f,
    };
    CHECK_NEAR(0.3 / pow(2 + 0.2 * (0.75 * 0.75 + 0.5 * 0.5 + 0.3 * 0.3), 0.6), expected_y[10],
               1e-7);
    check_lrn("input: [6, 1, 2]\n"
              "layers:\n"
              "  - {type: lrn, size: 4, alpha: 0.8, beta: 0.6, k: 2}\n",
              expected_y, expected_dx);
}

/* Images are independent: the second image of a batch of two gives the same
 * numbers as alone; size 1 with alpha 0 is the identity scaled by k^-beta. */
static void test_lrn_batch_and_degenerate(void) {
    fixture f;
    if (!fixture_build(&f,
                       "input: [6, 1, 2]\n"
                       "layers:\n"
                       "  - {type: lrn, size: 5, alpha: 0.5, beta: 0.75, k: 1}\n",
                       2))
        return;
    float *x = cr_net_input(f.net);
    for (int i = 0; i < 12; i++) {
        x[i] = 10.0f;
        x[12 + i] = x_values[i];
    }
    cr_net_forward(f.net, true);
    CHECK_NEAR(cr_net_output(f.net)[12 + 0], 0.34344488f, 1e-6);
    CHECK_NEAR(cr_net_output(f.net)[12 + 11], 0.97285385f, 1e-6);
    fixture_free(&f);

    if (!fixture_build(&f,
                       "input: [3, 1, 1]\n"
                       "layers:\n"
                       "  - {type: lrn, size: 1, alpha: 0, beta: 0.5, k: 4}\n",
                       1))
        return;
    x = cr_net_input(f.net);
    x[0] = 1.0f, x[1] = -2.0f, x[2] = 6.0f;
    cr_net_forward(f.net, true);
    static const float halved[3] = {0.5f, -1.0f, 3.0f};
    check_floats("lrn identity / 2", cr_net_output(f.net), halved, 3, 1e-7);
    float *dy = cr_net_output_grad(f.net);
    dy[0] = dy[1] = dy[2] = 1.0f;
    cr_net_backward(f.net);
    static const float half[3] = {0.5f, 0.5f, 0.5f};
    check_floats("lrn identity / 2 dx", cr_net_input_grad(f.net), half, 3, 1e-7);
    fixture_free(&f);
}

int main(void) {
    test_lrn_size_5();
    test_lrn_size_4();
    test_lrn_batch_and_degenerate();
    return check_report();
}
