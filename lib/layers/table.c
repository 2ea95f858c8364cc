/* The one table of layer kinds. Adding a kind: write lib/layers/<kind>.c
 * with its cr_layer_kind (and any special roles it has: layer.h), declare it
 * here and list it; then its README type-table row, its words in
 * tests/fuzz/spec.dict and its PyTorch mapping in tests/pytorch/compare.py,
 * which tests/test_kinds.c requires. The spec loader's list of valid types
 * (and its "did you mean", aliases included) comes from this table. */
#include <string.h>
#include <strings.h>

#include "../layer.h"

extern const cr_layer_kind cr_conv_kind, cr_maxpool_kind, cr_avgpool_kind, cr_dense_kind,
    cr_relu_kind, cr_tanh_kind, cr_sigmoid_kind, cr_leaky_relu_kind, cr_lrn_kind, cr_dropout_kind,
    cr_batchnorm_kind, cr_flatten_kind, cr_softmax_kind, cr_add_kind, cr_concat_kind,
    cr_magnitude_kind, cr_globalavgpool_kind, cr_globalmaxpool_kind, cr_relu6_kind, cr_silu_kind,
    cr_gelu_kind, cr_elu_kind, cr_hardswish_kind, cr_hardsigmoid_kind, cr_prelu_kind,
    cr_conv_transpose_kind, cr_upsample_kind, cr_groupnorm_kind;

const cr_layer_kind *const cr_layer_kinds[] = {
    &cr_conv_kind,    &cr_maxpool_kind, &cr_avgpool_kind,   &cr_dense_kind,
    &cr_relu_kind,    &cr_tanh_kind,    &cr_sigmoid_kind,   &cr_leaky_relu_kind,
    &cr_lrn_kind,     &cr_dropout_kind, &cr_batchnorm_kind, &cr_flatten_kind,
    &cr_softmax_kind, &cr_add_kind,     &cr_concat_kind,    &cr_magnitude_kind,
    &cr_globalavgpool_kind, &cr_globalmaxpool_kind, &cr_relu6_kind, &cr_silu_kind,
    &cr_gelu_kind, &cr_elu_kind, &cr_hardswish_kind, &cr_hardsigmoid_kind, &cr_prelu_kind,
    &cr_conv_transpose_kind, &cr_upsample_kind, &cr_groupnorm_kind,
};
const int cr_layer_kind_count = sizeof cr_layer_kinds / sizeof cr_layer_kinds[0];

const cr_layer_kind *cr_layer_kind_find(const char *name) {
    for (int i = 0; i < cr_layer_kind_count; i++)
        if (strcmp(cr_layer_kinds[i]->name, name) == 0) return cr_layer_kinds[i];
    return NULL;
}

const cr_layer_kind *cr_layer_kind_for_alias(const char *name) {
    for (int i = 0; i < cr_layer_kind_count; i++)
        for (const char *const *alias = cr_layer_kinds[i]->aliases; alias && *alias; alias++)
            if (strcasecmp(*alias, name) == 0) return cr_layer_kinds[i];
    return NULL;
}
