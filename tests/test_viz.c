/* Seeing what a network does: the magnitude layer (hand values, shape rule),
 * the picture helpers of lib/image_out.c, and the commands apply, filters,
 * features and plot, checked pixel by pixel on images the test makes. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "net_fixture.h"

/* ---- magnitude layer ------------------------------------------------------- */

/* x: [1, 4, 1, 2] in groups of 2: (3, 4) -> 5, (0, 0) -> 0, (1, 0) -> 1,
 * (-2, 2) -> 2√2; the gradient x/y, and 0 at the all-zero group. */
static void test_magnitude_values(void) {
    fixture f;
    if (!fixture_build(&f, "input: [4, 1, 2]\nlayers:\n  - {type: magnitude, size: 2}\n", 1))
        return;
    const float x[8] = {3, 0, 4, 0, 1, -2, 0, 2};
    memcpy(cr_net_input(f.net), x, sizeof x);
    cr_net_forward(f.net, true);
    const float want_y[4] = {5, 0, 1, 2.8284271f};
    check_floats("magnitude y", cr_net_output(f.net), want_y, 4, 1e-6);
    const float dy[4] = {1, 1, 1, 2};
    memcpy(cr_net_output_grad(f.net), dy, sizeof dy);
    cr_net_backward(f.net);
    const float want_dx[8] = {0.6f, 0, 0.8f, 0, 1, -1.4142136f, 0, 1.4142136f};
    check_floats("magnitude dx", cr_net_input_grad(f.net), want_dx, 8, 1e-6);
    fixture_free(&f);
}

/* size 3 over 3 channels: one output channel, √(1 + 4 + 4) = 3. */
static void test_magnitude_size3(void) {
    fixture f;
    if (!fixture_build(&f, "input: [3, 1, 1]\nlayers:\n  - {type: magnitude, size: 3}\n", 1))
        return;
    const float x[3] = {1, -2, 2};
    memcpy(cr_net_input(f.net), x, sizeof x);
    cr_net_forward(f.net, false);
    CHECK_INT(f.model->layers[0].out.c, 1);
    CHECK_NEAR(cr_net_output(f.net)[0], 3.0, 1e-6);
    fixture_free(&f);
}

static void test_magnitude_errors(void) {
    const char *yaml = "input: [3, 4, 4]\nlayers:\n  - {type: magnitude, size: 2}\n";
    cr_model *model;
    cr_error err;
    CHECK(cr_model_load_text(yaml, strlen(yaml), "bad.yaml", &model, &err) != 0);
    char text[2048];
    cr_error_format(&err, text, sizeof text);
    CHECK_CONTAINS(text, "bad.yaml:3:");
    CHECK_CONTAINS(text, "3 input channels do not split into groups of size 2");
    yaml = "input: [2, 4, 4]\nlayers:\n  - {type: magnitude, size: 0}\n";
    CHECK(cr_model_load_text(yaml, strlen(yaml), "bad.yaml", &model, &err) != 0);
    cr_error_format(&err, text, sizeof text);
    CHECK_CONTAINS(text, "size");
}

int main(void) {
    test_magnitude_values();
    test_magnitude_size3();
    test_magnitude_errors();
    return check_report();
}
