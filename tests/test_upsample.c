/* upsample, hand-computed: nearest and bilinear (align_corners=False, as
 * PyTorch's nn.Upsample), forward and backward, through the runtime. */
#include "net_fixture.h"

static void run(const char *yaml, const float *x, int n_in, const float *y, int n_out,
                const float *dy, const float *dx, const char *what) {
    fixture f;
    if (!fixture_build(&f, yaml, 1)) return;
    memcpy(cr_net_input(f.net), x, (size_t)n_in * sizeof *x);
    cr_net_forward(f.net, true);
    check_floats(what, cr_net_output(f.net), y, n_out, 1e-6);
    memcpy(cr_net_output_grad(f.net), dy, (size_t)n_out * sizeof *dy);
    cr_net_backward(f.net);
    check_floats(what, cr_net_input_grad(f.net), dx, n_in, 1e-6);
    fixture_free(&f);
}

int main(void) {
    const float x[4] = {1, 2, 3, 4};
    /* nearest ×2: every pixel a 2×2 block; backward sums each block. */
    float dy[16];
    for (int i = 0; i < 16; i++) dy[i] = (float)i;
    run("input: [1, 2, 2]\nlayers:\n  - {type: upsample}\n", x, 4,
        (const float[]){1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}, 16, dy,
        (const float[]){0 + 1 + 4 + 5, 2 + 3 + 6 + 7, 8 + 9 + 12 + 13, 10 + 11 + 14 + 15},
        "nearest");
    /* bilinear ×2: output 1 sits at source (1 + 0.5)/2 − 0.5 = 0.25, so
     * 0.75·x0 + 0.25·x1; the border clamps (output 0 reads x0 alone). dy at
     * the two corners goes back to the corner pixels whole. */
    run("input: [1, 2, 2]\nlayers:\n  - {type: upsample, mode: bilinear}\n", x, 4,
        (const float[]){1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f, 3.5f, 3,
                        3.25f, 3.75f, 4},
        16, (const float[]){1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2},
        (const float[]){1, 0, 0, 2}, "bilinear");
    /* bilinear by [1, 3] of an odd width: sources (j + 0.5)/3 − 0.5 =
     * 0 (clamped), 0, 1/3, 2/3, 1, 4/3, 5/3, 2, 2 (the last input repeats). */
    run("input: [1, 1, 3]\nlayers:\n  - {type: upsample, scale: [1, 3], mode: bilinear}\n",
        (const float[]){1, 2, 4}, 3,
        (const float[]){1, 1, 4.0f / 3, 5.0f / 3, 2, 8.0f / 3, 10.0f / 3, 4, 4}, 9,
        (const float[]){1, 1, 1, 1, 1, 1, 1, 1, 1},
        /* column sums of the weights: 1 + 1 + 2/3 + 1/3, 1/3 + 2/3 + 1 + 2/3 + 1/3,
         * 1/3 + 2/3 + 1 + 1 */
        (const float[]){3, 3, 3}, "bilinear odd");
    return check_report();
}
