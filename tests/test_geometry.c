/* Receptive fields and exact input sizes (lib/geometry.h), worked out by
 * hand for LeNet-5, AlexNet and VGG-16 and for small graphs. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "geometry.h"

#ifndef CNNRUN_SOURCE_DIR
#define CNNRUN_SOURCE_DIR "."
#endif

static cr_model *load_model(const char *file) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s", CNNRUN_SOURCE_DIR, file);
    cr_model *model = NULL;
    cr_error err = {0};
    CHECK(cr_model_load(path, &model, &err) == 0);
    return model;
}

static cr_model *load_text(const char *text) {
    cr_model *model = NULL;
    cr_error err = {0};
    CHECK(cr_model_load_text(text, strlen(text), "inline.yaml", &model, &err) == 0);
    return model;
}

static void check_sizes(const cr_model *model, int axis, const char *expected) {
    cr_exact_sizes sizes = cr_model_exact_sizes(model, axis, 1024);
    char text[128];
    cr_exact_sizes_format(&sizes, text, sizeof text);
    if (strcmp(text, expected) != 0) fprintf(stderr, "got \"%s\"\n", text);
    CHECK(strcmp(text, expected) == 0);
}

static cr_receptive_field field_of(const cr_model *model, const char *name) {
    cr_receptive_field *fields = calloc((size_t)model->n_layers, sizeof *fields);
    cr_model_receptive_fields(model, fields);
    int i = cr_model_find_layer(model, name);
    CHECK(i >= 0);
    cr_receptive_field field = i >= 0 ? fields[i] : (cr_receptive_field){0};
    free(fields);
    return field;
}

static void test_lenet5(void) {
    cr_model *model = load_model("lenet5.yaml");
    if (!model) return;
    /* c1 5×5: 5, jump 1; s2 2/2: 5 + 1 = 6, jump 2; c3 5×5: 6 + 4·2 = 14;
     * s4 2/2: 14 + 1·2 = 16, jump 4; dense: the whole 28×28 */
    CHECK_INT(field_of(model, "c1").size[0], 5);
    CHECK_INT(field_of(model, "s2").size[0], 6);
    CHECK_INT(field_of(model, "s2").jump[0], 2);
    CHECK_INT(field_of(model, "c3").size[1], 14);
    CHECK_INT(field_of(model, "s4").size[0], 16);
    CHECK_INT(field_of(model, "s4").jump[0], 4);
    CHECK(!field_of(model, "s4").global);
    CHECK(field_of(model, "f5").global);
    CHECK_INT(field_of(model, "f5").size[0], 28);
    /* s2 needs n even; s4 needs (n/2 − 4) even and ≥ 2: n ≡ 0 mod 4, n ≥ 12 */
    check_sizes(model, 0, "any multiple of 4 from 12");
    check_sizes(model, 1, "any multiple of 4 from 12");
    cr_model_free(model);
}

static void test_alexnet(void) {
    cr_model *model = load_model("alexnet.yaml");
    if (!model) return;
    /* conv1 11/4 needs n ≡ 3 mod 4; the three 3/2 pools need their inputs
     * odd: conv1's output n1 ≡ 7 mod 8, so n ≡ 3 mod 32; pool5's input
     * must be ≥ 3, so n1 ≥ 15 and n ≥ 67. 227 = 67 + 5·32. */
    check_sizes(model, 0, "67 + any multiple of 32 (67, 99, 131, ...)");
    /* conv1 11, pool1 +2·4 = 19, conv2 +4·8 = 51, pool2 +2·8 = 67, conv3-5
     * +3·2·16 = 163, pool5 +2·16 = 195 */
    CHECK_INT(field_of(model, "conv1").size[0], 11);
    CHECK_INT(field_of(model, "pool5").size[0], 195);
    CHECK_INT(field_of(model, "pool5").jump[0], 32);
    cr_model_free(model);
}

static void test_vgg16(void) {
    cr_model *model = load_model("vgg16.yaml");
    if (!model) return;
    check_sizes(model, 0, "any multiple of 32 from 32");
    check_sizes(model, 1, "any multiple of 32 from 32");
    /* VGG-16's published receptive field: 212 at pool5 */
    CHECK_INT(field_of(model, "block5.maxpool1").size[0], 212);
    cr_model_free(model);
}

static void test_graph_and_odd_sizes(void) {
    /* two branches of different depth merged by add: the field is the
     * deeper branch's; ResNet's stem 7/2 pad 3 divides exactly only for odd
     * sizes, the 3/2 pad 1 pool after it again needs an odd input */
    cr_model *model = load_text("input: [3, 225, 225]\n"
                                "layers:\n"
                                "  - {type: conv, name: stem, filters: 4, kernel: 7, stride: 2, "
                                "padding: 3}\n"
                                "  - {type: maxpool, name: pool, size: 3, stride: 2, padding: 1}\n"
                                "  - {type: conv, name: a, filters: 4, kernel: 3, padding: 1}\n"
                                "  - {type: conv, name: b, filters: 4, kernel: 3, padding: 1}\n"
                                "  - {type: add, name: sum, inputs: [pool, b]}\n");
    if (!model) return;
    /* stem 7, jump 2; pool 7 + 2·2 = 11, jump 4; a 11 + 2·4 = 19; b 27 */
    CHECK_INT(field_of(model, "pool").size[0], 11);
    CHECK_INT(field_of(model, "sum").size[0], 27);
    CHECK_INT(field_of(model, "sum").jump[1], 4);
    /* (n − 1) even and ((n − 1)/2 + 1 − 1) even: n ≡ 1 mod 4 */
    check_sizes(model, 0, "1 + any multiple of 4 (1, 5, 9, ...)");
    cr_model_free(model);
}

int main(void) {
    test_lenet5();
    test_alexnet();
    test_vgg16();
    test_graph_and_odd_sizes();
    return check_report();
}
