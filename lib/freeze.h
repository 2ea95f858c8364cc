/* Freezing layers for fine-tuning: the train section's
 *
 *   freeze: [c1, c2, 'block*']     # layer names or fnmatch globs
 *
 * A frozen layer's parameters behave as `trainable: false` makes them: no
 * gradient, no update, no optimizer state (no momentum or Adam buffers),
 * no weight decay. Backward skips the weight gradients of frozen layers and
 * the whole backward of layers that only lead to frozen ones (net.c); the
 * input gradient still flows through a frozen layer to a trainable one
 * before it. Batchnorm in a frozen layer keeps its weight and bias but, in
 * training mode, still updates its running statistics from the batches, as
 * PyTorch's requires_grad=False does.
 *
 * Globs match whole layer names (`*` also matches the dots of repeat blocks'
 * names: 'block*' takes block1.conv1); a pattern that matches no layer is an
 * error at the pattern, listing the model's layers. */
#ifndef CNNRUN_FREEZE_H
#define CNNRUN_FREEZE_H

#include <stdbool.h>

#include "error.h"
#include "model.h"
#include "yaml_util.h"

#define CR_FREEZE_MAX 64

typedef struct cr_freeze_list {
    int count;
    const char *patterns[CR_FREEZE_MAX]; /* into the model's YAML document */
    cr_mark marks[CR_FREEZE_MAX];
} cr_freeze_list;

/* Reads the `freeze:` list (a YAML sequence of strings), checking each
 * pattern against the model's layer names. */
int cr_freeze_parse(cr_yaml *y, yaml_node_t *node, const cr_model *model, cr_freeze_list *out,
                    cr_error *err);

/* Whether a pattern of the list matches the layer's name. */
bool cr_freeze_covers(const cr_freeze_list *list, const char *layer_name);

/* Marks the layers the list covers as frozen (cr_layer.frozen) and their
 * parameters as not trainable; model->trainable_parameters drops by theirs.
 * Shape inference run again (cr_model_set_input) keeps them frozen. */
void cr_model_freeze(cr_model *model, const cr_freeze_list *list);

/* wanted[i]: whether backward runs layer i, because its output gradient is
 * wanted: the layer has trainable parameters or reads a layer whose
 * gradient is wanted (or, with input_grad, the network input). The runtime
 * (net.c) skips the others and writes no gradient into them; the bench
 * (bench.c) counts the same work. */
void cr_model_backward_wanted(const cr_model *model, bool input_grad, bool *wanted);

/* An error unless every layer the list covers is frozen in the model: a
 * trainer given the list must not silently train those layers. */
int cr_freeze_check_applied(const cr_model *model, const cr_freeze_list *list, cr_error *err);

#endif
