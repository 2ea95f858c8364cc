/* lrn through the runtime, against PyTorch's nn.LocalResponseNorm: an odd
 * window (5, centred) and an even one (4: two channels before, one after),
 * forward and backward. The expected numbers were computed with PyTorch 1.13
 * in float64 for x and dy below; float32 agrees to ~7e-8. */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "cpu.h"
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

/* ---- the blocked, vectorised loops against the formula ------------------ */

typedef struct lrn_case {
    int c, h, w, size;
    float alpha, beta, k;
} lrn_case;

/* The formula in double, one value at a time: y and dx for x, dy of one
 * image [C, spatial]. */
static void reference_lrn(const lrn_case *lc, const float *x, const float *dy, double *y,
                          double *dx) {
    int spatial = lc->h * lc->w, before = lc->size / 2, after = (lc->size - 1) / 2;
    double *s = malloc(sizeof *s * lc->c * spatial);
    for (int c = 0; c < lc->c; c++)
        for (int i = 0; i < spatial; i++) {
            double sum = 0;
            for (int j = c - before; j <= c + after; j++)
                if (j >= 0 && j < lc->c) sum += (double)x[j * spatial + i] * x[j * spatial + i];
            s[c * spatial + i] = lc->k + lc->alpha / lc->size * sum;
            y[c * spatial + i] = x[c * spatial + i] * pow(s[c * spatial + i], -lc->beta);
        }
    /* dy_c·y_c/s_c summed over the channels c whose windows hold channel i */
    for (int i_c = 0; i_c < lc->c; i_c++)
        for (int i = 0; i < spatial; i++) {
            double sum = 0;
            for (int c = i_c - after; c <= i_c + before; c++)
                if (c >= 0 && c < lc->c)
                    sum += dy[c * spatial + i] * y[c * spatial + i] / s[c * spatial + i];
            int at = i_c * spatial + i;
            dx[at] = dy[at] * pow(s[at], -lc->beta) -
                     2.0 * lc->alpha * lc->beta / lc->size * x[at] * sum;
        }
    free(s);
}

/* y and dx of one case at the current vector level, into y_out, dx_out. */
static bool run_lrn_case(const lrn_case *lc, const float *x, const float *dy, float *y_out,
                         float *dx_out) {
    char yaml[200];
    snprintf(
        yaml, sizeof yaml,
        "input: [%d, %d, %d]\nlayers:\n  - {type: lrn, size: %d, alpha: %g, beta: %g, k: %g}\n",
        lc->c, lc->h, lc->w, lc->size, lc->alpha, lc->beta, lc->k);
    fixture f;
    if (!fixture_build(&f, yaml, 1)) return false;
    int n = lc->c * lc->h * lc->w;
    memcpy(cr_net_input(f.net), x, sizeof *x * n);
    cr_net_forward(f.net, true);
    memcpy(y_out, cr_net_output(f.net), sizeof *y_out * n);
    memcpy(cr_net_output_grad(f.net), dy, sizeof *dy * n);
    cr_net_backward(f.net);
    memcpy(dx_out, cr_net_input_grad(f.net), sizeof *dx_out * n);
    fixture_free(&f);
    return true;
}

/* Planes longer than the backward's block of 256 positions and not a
 * multiple of eight (17×19 = 323), a plane shorter than a vector, the
 * window clipped at both ends, an even size, AlexNet's beta 0.75 (square
 * roots) and another (pow): every vector level within float rounding of
 * the formula, and the levels identical to each other for beta 0.75 (exact
 * operations only), within 2 ulp-ish for SLEEF's pow against powf. */
static void test_lrn_paths(void) {
    static const lrn_case cases[] = {
        {7, 17, 19, 5, 0.5f, 0.75f, 1.0f},
        {6, 2, 3, 4, 0.8f, 0.6f, 2.0f},
        {9, 17, 19, 3, 0.3f, 0.6f, 1.5f},
    };
    cr_cpu_level detected = cr_cpu();
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const lrn_case *lc = &cases[t];
        int n = lc->c * lc->h * lc->w;
        float *x = malloc(sizeof *x * n), *dy = malloc(sizeof *dy * n);
        float *y[2] = {malloc(sizeof(float) * n), malloc(sizeof(float) * n)};
        float *dx[2] = {malloc(sizeof(float) * n), malloc(sizeof(float) * n)};
        double *y_ref = malloc(sizeof *y_ref * n), *dx_ref = malloc(sizeof *dx_ref * n);
        uint32_t state = 777 + (uint32_t)t;
        for (int i = 0; i < n; i++) {
            state = state * 1664525u + 1013904223u;
            x[i] = (float)(state >> 8) / (float)(1u << 24) * 4.0f - 2.0f;
            state = state * 1664525u + 1013904223u;
            dy[i] = (float)(state >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
        }
        reference_lrn(lc, x, dy, y_ref, dx_ref);
        int levels = detected > CR_CPU_GENERIC ? 2 : 1;
        for (int l = 0; l < levels; l++) {
            cr_cpu_force(l == 0 ? CR_CPU_GENERIC : detected);
            if (!run_lrn_case(lc, x, dy, y[l], dx[l])) break;
            int close = 0;
            for (int i = 0; i < n; i++)
                close += fabs(y[l][i] - y_ref[i]) <= 1e-6 * fmax(1.0, fabs(y_ref[i])) &&
                         fabs(dx[l][i] - dx_ref[i]) <= 2e-6 * fmax(1.0, fabs(dx_ref[i]));
            CHECK_INT(close, n);
        }
        cr_cpu_force(detected);
        if (levels == 2) {
            int same = 0;
            for (int i = 0; i < n; i++)
                same +=
                    lc->beta == 0.75f
                        ? y[0][i] == y[1][i] && dx[0][i] == dx[1][i]
                        : fabsf(y[0][i] - y[1][i]) <= 3e-7f * fmaxf(1.0f, fabsf(y[0][i])) &&
                              fabsf(dx[0][i] - dx[1][i]) <= 3e-7f * fmaxf(1.0f, fabsf(dx[0][i]));
            CHECK_INT(same, n);
        }
        free(x);
        free(dy);
        free(y_ref);
        free(dx_ref);
        for (int l = 0; l < 2; l++) {
            free(y[l]);
            free(dx[l]);
        }
    }
}

int main(void) {
    test_lrn_paths();
    test_lrn_size_5();
    test_lrn_size_4();
    test_lrn_batch_and_degenerate();
    return check_report();
}
