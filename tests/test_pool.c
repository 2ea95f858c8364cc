/* maxpool and avgpool through the runtime: padding, stride ≠ size, a
 * rectangular window, backward routing and accumulation. Expected numbers
 * are worked by hand and were confirmed with PyTorch 1.13
 * (F.max_pool2d / F.avg_pool2d with the same arguments). */
#include "check.h"
#include "net_fixture.h"

/* All values negative, so a padding taken as 0 would win every window. */
static const float negative_image[20] = {
    -5, -3, -8, -1, -9, /* */
    -2, -7, -4, -6, -3, /* */
    -9, -1, -5, -2, -8, /* */
    -4, -6, -3, -7, -2,
};

/* 4×5 input, window 3, stride 2, padding 1 -> 2×3. Windows overlap, so two
 * outputs can share a winner; the bottom-right window has a tie (−2 at
 * (2,3) and (3,4)) that the first in row-major order wins, as in PyTorch. */
static void test_maxpool_padding_stride(void) {
    fixture f;
    if (!fixture_build(&f,
                       "input: [1, 4, 5]\n"
                       "layers:\n"
                       "  - {type: maxpool, name: pool, size: 3, stride: 2, padding: 1}\n",
                       1))
        return;
    memcpy(cr_net_input(f.net), negative_image, sizeof negative_image);
    cr_net_forward(f.net, true);
    static const float expected[6] = {-2, -1, -1, -1, -1, -2};
    check_floats("maxpool y", cr_net_output(f.net), expected, 6, 0);

    float *dy = cr_net_output_grad(f.net);
    for (int i = 0; i < 6; i++) dy[i] = (float)(i + 1);
    cr_net_backward(f.net);
    /* Winners: 5 <- 1; 3 <- 2 + 3; 11 <- 4 + 5; 13 <- 6 (the tie). */
    static const float expected_dx[20] = {
        0, 0, 0, 5, 0, /* */
        1, 0, 0, 0, 0, /* */
        0, 9, 0, 6, 0, /* */
        0, 0, 0, 0, 0,
    };
    check_floats("maxpool dx", cr_net_input_grad(f.net), expected_dx, 20, 0);
    fixture_free(&f);
}

/* Several images and channels: every plane is the same image shifted by
 * 100·plane, so every output shifts by the same amount and the gradient goes
 * to the same positions of its own plane. */
static void test_maxpool_planes(void) {
    fixture f;
    if (!fixture_build(&f,
                       "input: [3, 4, 5]\n"
                       "layers:\n"
                       "  - {type: maxpool, size: 3, stride: 2, padding: 1}\n",
                       2))
        return;
    float *x = cr_net_input(f.net);
    for (int plane = 0; plane < 6; plane++)
        for (int i = 0; i < 20; i++) x[plane * 20 + i] = negative_image[i] + 100.0f * plane;
    cr_net_forward(f.net, true);
    static const float single[6] = {-2, -1, -1, -1, -1, -2};
    const float *y = cr_net_output(f.net);
    for (int plane = 0; plane < 6; plane++)
        for (int i = 0; i < 6; i++) CHECK_NEAR(y[plane * 6 + i], single[i] + 100.0f * plane, 0);

    float *dy = cr_net_output_grad(f.net);
    for (int i = 0; i < 36; i++) dy[i] = 1.0f;
    cr_net_backward(f.net);
    const float *dx = cr_net_input_grad(f.net);
    for (int plane = 0; plane < 6; plane++) {
        const float *d = dx + plane * 20;
        CHECK_NEAR(d[5], 1, 0);
        CHECK_NEAR(d[3], 2, 0);
        CHECK_NEAR(d[11], 2, 0);
        CHECK_NEAR(d[13], 1, 0);
        float total = 0;
        for (int i = 0; i < 20; i++) total += d[i];
        CHECK_NEAR(total, 6, 0);
    }
    fixture_free(&f);
}

/* 4×5 input 1..20, window 2×3, stride [1, 2], padding [1, 1] -> 5×3. Padding
 * counts in the divisor: the top-left window holds 1 and 2 and four zeros,
 * so it is 3/6 = 0.5. */
static void test_avgpool_padding_stride(void) {
    fixture f;
    if (!fixture_build(&f,
                       "input: [1, 4, 5]\n"
                       "layers:\n"
                       "  - {type: avgpool, size: [2, 3], stride: [1, 2], padding: [1, 1]}\n",
                       1))
        return;
    float *x = cr_net_input(f.net);
    for (int i = 0; i < 20; i++) x[i] = (float)(i + 1);
    cr_net_forward(f.net, true);
    /* PyTorch: F.avg_pool2d(x, (2, 3), (1, 2), (1, 1)) */
    static const float expected[15] = {
        0.5f,      1.5f,  1.5f,      /* */
        8.0f / 3,  5.5f,  14.0f / 3, /* */
        6.0f,      10.5f, 8.0f,      /* */
        28.0f / 3, 15.5f, 34.0f / 3, /* */
        5.5f,      9.0f,  6.5f,
    };
    check_floats("avgpool y", cr_net_output(f.net), expected, 15, 1e-6);

    float *dy = cr_net_output_grad(f.net);
    for (int i = 0; i < 15; i++) dy[i] = (float)(i + 1);
    cr_net_backward(f.net);
    /* PyTorch's x.grad for dy = 1..15. By hand, x[0][0] is in windows 0
     * (dy 1) and 3 (dy 4): 5/6. */
    static const float expected_dx[20] = {
        5.0f / 6,  2.0f, 7.0f / 6,  8.0f / 3,  1.5f, /* */
        11.0f / 6, 4.0f, 13.0f / 6, 14.0f / 3, 2.5f, /* */
        17.0f / 6, 6.0f, 19.0f / 6, 20.0f / 3, 3.5f, /* */
        23.0f / 6, 8.0f, 25.0f / 6, 26.0f / 3, 4.5f,
    };
    check_floats("avgpool dx", cr_net_input_grad(f.net), expected_dx, 20, 1e-6);
    fixture_free(&f);
}

/* Plain 2×2 / stride 2 (LeNet's subsampling) on two channels: backward
 * accumulates into what is already in dx (two consumers of one input). */
static void test_avgpool_accumulates(void) {
    fixture f;
    if (!fixture_build(&f,
                       "input: [2, 2, 4]\n"
                       "layers:\n"
                       "  - {type: avgpool, name: a, size: 2, input: input}\n"
                       "  - {type: avgpool, name: b, size: 2, input: input}\n"
                       "  - {type: add, inputs: [a, b]}\n",
                       1))
        return;
    float *x = cr_net_input(f.net);
    for (int i = 0; i < 16; i++) x[i] = (float)i;
    cr_net_forward(f.net, true);
    /* Channel 0: windows {0,1,4,5} and {2,3,6,7}; channel 1 adds 8. Doubled by add. */
    static const float expected[4] = {5.0f, 9.0f, 21.0f, 25.0f};
    check_floats("avgpool sum y", cr_net_output(f.net), expected, 4, 1e-6);
    float *dy = cr_net_output_grad(f.net);
    for (int i = 0; i < 4; i++) dy[i] = 1.0f;
    cr_net_backward(f.net);
    const float *dx = cr_net_input_grad(f.net);
    for (int i = 0; i < 16; i++) CHECK_NEAR(dx[i], 0.5f, 1e-7);
    fixture_free(&f);
}

/* The 2×2/stride-2 fast paths (eight windows at a time, then one by one)
 * against the rule written out: a 6×35 plane (17 outputs per row: two groups
 * of eight, one left over, the last input column unused) of small integers,
 * so that windows tie, with NaN in some windows. The first maximum in the
 * order top-left, top-right, bottom-left, bottom-right wins; a NaN wins over
 * everything before it (PyTorch: `val > max || isnan(val)`). */
static void test_maxpool_2x2_ties_and_nan(void) {
    enum { H = 6, W = 35, OH = 3, OW = 17 };
    fixture f;
    if (!fixture_build(&f, "input: [1, 6, 35]\nlayers:\n  - {type: maxpool, size: 2}\n", 1)) return;
    float *x = cr_net_input(f.net);
    for (int i = 0; i < H * W; i++) x[i] = (float)((i * 7) % 5);
    x[2 * W + 3] = NAN;  /* window (1, 1), bottom... */
    x[3 * W + 2] = NAN;  /* ...and bottom-left: the later NaN wins */
    x[0 * W + 17] = NAN; /* window (0, 8): top-right, the first of a second group */
    x[5 * W + 33] = NAN; /* window (2, 16): the left-over window */
    cr_net_forward(f.net, true);
    float expected[OH * OW];
    float expected_dx[H * W] = {0};
    float *dy = cr_net_output_grad(f.net);
    for (int r = 0; r < OH; r++)
        for (int c = 0; c < OW; c++) {
            int offsets[4] = {0, 1, W, W + 1}, corner = 2 * r * W + 2 * c, best = corner;
            for (int k = 1; k < 4; k++) {
                float value = x[corner + offsets[k]];
                if (value > x[best] || isnan(value)) best = corner + offsets[k];
            }
            expected[r * OW + c] = x[best];
            dy[r * OW + c] = (float)(r * OW + c + 1);
            expected_dx[best] += dy[r * OW + c];
        }
    const float *y = cr_net_output(f.net);
    int same = 0;
    for (int i = 0; i < OH * OW; i++)
        same += (isnan(y[i]) && isnan(expected[i])) || y[i] == expected[i];
    CHECK_INT(same, OH * OW);
    CHECK(isnan(y[0 * OW + 8]) && isnan(y[1 * OW + 1]) && isnan(y[2 * OW + 16]));
    cr_net_backward(f.net);
    check_floats("maxpool 2×2 dx", cr_net_input_grad(f.net), expected_dx, H * W, 0);
    fixture_free(&f);
}

int main(void) {
    test_maxpool_2x2_ties_and_nan();
    test_maxpool_padding_stride();
    test_maxpool_planes();
    test_avgpool_padding_stride();
    test_avgpool_accumulates();
    return check_report();
}
