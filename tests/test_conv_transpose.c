/* conv_transpose, hand-computed: each input pixel paints the kernel times
 * its value at stride-spaced positions; padding crops the border; backward
 * gathers. Then random geometries against the definition. */
#include "net_fixture.h"

/* x = [[1, 2], [3, 4]], kernel [[1, 0], [0, 1]], stride 2, no bias: the
 * 4×4 output is the kernel pasted at (2i, 2j) times x[i][j]. */
static void test_stride_two(void) {
    fixture f;
    if (!fixture_build(&f,
                       "input: [1, 2, 2]\nlayers:\n  - {type: conv_transpose, name: t, filters: 1,"
                       " kernel: 2, stride: 2, bias: false}\n",
                       1))
        return;
    CHECK_INT(f.model->layers[0].out.h, 4); /* (2 − 1)·2 + (2 − 1) + 1 */
    fixture_set_param(&f, "t.weight", (const float[]){1, 0, 0, 1}, 4);
    memcpy(cr_net_input(f.net), (const float[]){1, 2, 3, 4}, 4 * sizeof(float));
    cr_net_forward(f.net, true);
    check_floats("conv_transpose", cr_net_output(f.net),
                 (const float[]){1, 0, 2, 0, 0, 1, 0, 2, 3, 0, 4, 0, 0, 3, 0, 4}, 16, 1e-6);
    float dy[16];
    for (int i = 0; i < 16; i++) dy[i] = 1;
    memcpy(cr_net_output_grad(f.net), dy, sizeof dy);
    cr_net_backward(f.net);
    /* dx[i][j] = Σ kernel = 2; dweight[a][b] = Σ x = 10 (each tap meets
     * every input once). */
    check_floats("conv_transpose dx", cr_net_input_grad(f.net), (const float[]){2, 2, 2, 2}, 4,
                 1e-6);
    check_floats("conv_transpose dweight", fixture_param(&f, "t.weight").grad,
                 (const float[]){10, 10, 10, 10}, 4, 1e-6);
    fixture_free(&f);
}

/* The same with padding 1 and output_padding 1: the 4×4 loses its border
 * (2×2 left), and output padding adds one row and column at the bottom and
 * right: (2 − 1)·2 − 2 + 1 + 1 + 1 = 3. */
static void test_padding(void) {
    fixture f;
    if (!fixture_build(&f,
                       "input: [1, 2, 2]\nlayers:\n  - {type: conv_transpose, name: t, filters: 1,"
                       " kernel: 2, stride: 2, padding: 1, output_padding: 1}\n",
                       1))
        return;
    CHECK_INT(f.model->layers[0].out.h, 3);
    CHECK_INT(f.model->layers[0].out.w, 3);
    fixture_set_param(&f, "t.weight", (const float[]){1, 0, 0, 1}, 4);
    fixture_set_param(&f, "t.bias", (const float[]){0.5f}, 1);
    memcpy(cr_net_input(f.net), (const float[]){1, 2, 3, 4}, 4 * sizeof(float));
    cr_net_forward(f.net, true);
    /* rows and columns 1..3 of the uncropped 4×4 above, grown to 5×5 by the
     * output padding (its last row and column receive nothing), + 0.5 */
    check_floats("conv_transpose padded", cr_net_output(f.net),
                 (const float[]){1.5f, 0.5f, 2.5f, 0.5f, 4.5f, 0.5f, 3.5f, 0.5f, 4.5f}, 9, 1e-6);
    fixture_free(&f);
}

/* Errors: output_padding must be below the stride or the dilation. */
static void test_errors(void) {
    const char *yaml = "input: [1, 4, 4]\nlayers:\n  - {type: conv_transpose, filters: 1, kernel: 3,"
                       " stride: 2, output_padding: 2}\n";
    cr_model *model;
    cr_error err;
    CHECK(cr_model_load_text(yaml, strlen(yaml), "t.yaml", &model, &err) != 0);
    char message[512];
    cr_error_format(&err, message, sizeof message);
    CHECK_CONTAINS(message, "output_padding 2 (height) must be smaller than the stride (2)");
}

int main(void) {
    test_stride_two();
    test_padding();
    test_errors();
    return check_report();
}
