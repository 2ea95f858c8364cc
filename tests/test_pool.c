/* maxpool and avgpool through the runtime: padding, stride ≠ size, a
 * rectangular window, backward routing and accumulation. Expected numbers
 * are worked by hand and were confirmed with PyTorch 1.13
 * (F.max_pool2d / F.avg_pool2d with the same arguments). */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "cpu.h"
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

/* ---- the general window's vector paths against the plain rule ------------- */

/* PyTorch's max_pool2d written out, one window at a time: the window
 * clipped to the image, scanned row by row from -inf, `value > best ||
 * isnan(value)` replacing the best (first maximum wins ties, last NaN wins),
 * the first pixel the winner when every value is -inf. */
static void reference_maxpool(const float *x, int h, int w, const int size[2], const int stride[2],
                              const int padding[2], int oh, int ow, float *y, int32_t *winner) {
    for (int r = 0; r < oh; r++)
        for (int c = 0; c < ow; c++) {
            int top = r * stride[0] - padding[0], left = c * stride[1] - padding[1];
            int row_start = top < 0 ? 0 : top, col_start = left < 0 ? 0 : left;
            int row_end = top + size[0] < h ? top + size[0] : h;
            int col_end = left + size[1] < w ? left + size[1] : w;
            float best = -INFINITY;
            int32_t best_index = row_start * w + col_start;
            for (int i = row_start; i < row_end; i++)
                for (int j = col_start; j < col_end; j++)
                    if (x[i * w + j] > best || isnan(x[i * w + j])) {
                        best = x[i * w + j];
                        best_index = i * w + j;
                    }
            y[r * ow + c] = best;
            winner[r * ow + c] = best_index;
        }
}

typedef struct pool_case {
    int h, w, size[2], stride[2], padding[2];
} pool_case;

/* Small integers (many ties), a few NaNs and -infs; one plane entirely -inf,
 * so the first pixel of each window must win. */
static void fill_pool_input(float *x, int planes, int plane_size) {
    uint32_t state = 12345;
    for (int p = 0; p < planes; p++)
        for (int i = 0; i < plane_size; i++) {
            state = state * 1664525u + 1013904223u;
            uint32_t draw = state >> 24;
            float value = (float)(draw % 5) - 2.0f;
            if (draw % 37 == 0) value = NAN;
            if (draw % 41 == 0) value = -INFINITY;
            x[p * plane_size + i] = p == planes - 1 ? -INFINITY : value;
        }
}

static bool same_float(float a, float b) {
    return (isnan(a) && isnan(b)) || a == b;
}

/* One case at the current vector level, in training (winners kept, dx
 * routed) and in inference (no winners): outputs and winners identical to
 * the reference, dx the reference's dy routed in the same order. */
static void check_pool_case(const pool_case *pc) {
    enum { CHANNELS = 3, BATCH = 2, PLANES = CHANNELS * BATCH };
    char yaml[256];
    snprintf(yaml, sizeof yaml,
             "input: [%d, %d, %d]\nlayers:\n  - {type: maxpool, size: [%d, %d], stride: [%d, %d], "
             "padding: [%d, %d]}\n",
             CHANNELS, pc->h, pc->w, pc->size[0], pc->size[1], pc->stride[0], pc->stride[1],
             pc->padding[0], pc->padding[1]);
    int oh = (pc->h + 2 * pc->padding[0] - pc->size[0]) / pc->stride[0] + 1;
    int ow = (pc->w + 2 * pc->padding[1] - pc->size[1]) / pc->stride[1] + 1;
    int in_plane = pc->h * pc->w, out_plane = oh * ow;
    float *x = malloc(sizeof *x * PLANES * in_plane), *y = malloc(sizeof *y * PLANES * out_plane);
    float *dx = calloc((size_t)PLANES * in_plane, sizeof *dx);
    int32_t *winner = malloc(sizeof *winner * PLANES * out_plane);
    fill_pool_input(x, PLANES, in_plane);
    for (int p = 0; p < PLANES; p++) {
        reference_maxpool(x + p * in_plane, pc->h, pc->w, pc->size, pc->stride, pc->padding, oh, ow,
                          y + p * out_plane, winner + p * out_plane);
        for (int i = 0; i < out_plane; i++)
            dx[p * in_plane + winner[p * out_plane + i]] += (float)(p * out_plane + i + 1);
    }
    for (int training = 1; training >= 0; training--) {
        cr_model *model = NULL;
        cr_net *net = NULL;
        cr_error err;
        cr_net_options options = {.seed = 1, .training = training, .input_grad = training};
        if (cr_model_load_text(yaml, strlen(yaml), "pool.yaml", &model, &err) ||
            cr_net_create(model, BATCH, &options, &net, &err)) {
            CHECK(!"maxpool case builds");
            cr_model_free(model);
            break;
        }
        memcpy(cr_net_input(net), x, sizeof *x * PLANES * in_plane);
        cr_net_forward(net, training);
        const float *got = cr_net_output(net);
        int same = 0, same_winners = 0;
        for (int i = 0; i < PLANES * out_plane; i++) same += same_float(got[i], y[i]);
        CHECK_INT(same, PLANES * out_plane);
        if (training) {
            const int32_t *got_winner = (const int32_t *)cr_net_layer_saved(net, 0);
            for (int i = 0; i < PLANES * out_plane; i++) same_winners += got_winner[i] == winner[i];
            CHECK_INT(same_winners, PLANES * out_plane);
            float *dy = cr_net_output_grad(net);
            for (int i = 0; i < PLANES * out_plane; i++) dy[i] = (float)(i + 1);
            cr_net_backward(net);
            check_floats("maxpool dx", cr_net_input_grad(net), dx, PLANES * in_plane, 0);
        }
        if (same != PLANES * out_plane || (training && same_winners != PLANES * out_plane))
            fprintf(stderr, "  maxpool %d×%d window %d×%d stride %d×%d padding %d×%d, %s, %s\n",
                    pc->h, pc->w, pc->size[0], pc->size[1], pc->stride[0], pc->stride[1],
                    pc->padding[0], pc->padding[1], training ? "training" : "inference",
                    cr_cpu_level_name(cr_cpu()));
        cr_net_free(net);
        cr_model_free(model);
    }
    free(x);
    free(y);
    free(dx);
    free(winner);
}

/* AlexNet's 3×3/2 windows on odd and even sizes, 3×3/1 with padding (as in
 * Inception), 2×3 and 3×2 windows, strides 1, 2 and 3 (the three ways the
 * vector path loads), widths below, at and past a vector of eight and two
 * rows of windows, and the 2×2/2 path on an odd width; each with the
 * portable loops and with AVX2 where the processor has it. */
static void test_maxpool_paths(void) {
    static const pool_case cases[] = {
        {31, 31, {3, 3}, {2, 2}, {0, 0}}, {15, 15, {3, 3}, {2, 2}, {0, 0}},
        {7, 7, {3, 3}, {2, 2}, {0, 0}},   {8, 33, {3, 3}, {1, 1}, {1, 1}},
        {5, 6, {3, 3}, {1, 1}, {1, 1}},   {9, 21, {2, 3}, {2, 1}, {1, 1}},
        {10, 19, {3, 2}, {1, 2}, {1, 0}}, {11, 40, {5, 4}, {3, 3}, {2, 1}},
        {4, 3, {3, 3}, {2, 2}, {1, 1}},   {6, 35, {2, 2}, {2, 2}, {0, 0}},
        {1, 17, {1, 3}, {1, 2}, {0, 1}},
    };
    cr_cpu_level detected = cr_cpu();
    cr_cpu_level levels[2] = {CR_CPU_GENERIC, detected};
    for (int l = 0; l < (detected > CR_CPU_GENERIC ? 2 : 1); l++) {
        cr_cpu_force(levels[l]);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_pool_case(&cases[i]);
    }
    cr_cpu_force(detected);
}

int main(void) {
    test_maxpool_paths();
    test_maxpool_2x2_ties_and_nan();
    test_maxpool_padding_stride();
    test_maxpool_planes();
    test_avgpool_padding_stride();
    test_avgpool_accumulates();
    return check_report();
}
