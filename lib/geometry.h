/* What a network's windows imply, beyond one input size: how much of the
 * input each layer's output sees (receptive field), and which input sizes
 * every conv and pooling layer divides exactly (Darknet's "must be
 * divisible by 32"). Computed from the windows shape inference recorded
 * (cr_layer.window), for `cnnrun check`. */
#ifndef CNNRUN_GEOMETRY_H
#define CNNRUN_GEOMETRY_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"

/* One layer's receptive field: an output pixel depends on size[0]×size[1]
 * input pixels (padding included), and neighbouring output pixels are
 * jump[0] rows / jump[1] columns apart in the input. A layer that mixes
 * the whole image (dense, flatten) sees all of it: global. */
typedef struct cr_receptive_field {
    int size[2];
    int jump[2];
    bool global;
} cr_receptive_field;

/* Fills fields[model->n_layers] (execution order). */
void cr_model_receptive_fields(const cr_model *model, cr_receptive_field *fields);

/* Input sizes along one axis (0 height, 1 width) for which every window
 * divides exactly ((n + 2p − f) divisible by the stride) and every output
 * is at least 1, among 1..limit: the first, and the step when the sizes
 * are first, first + step, first + 2·step, ... up to the limit (regular). */
typedef struct cr_exact_sizes {
    int count; /* how many sizes in 1..limit */
    int first;
    int step;
    bool regular;
    int limit;
} cr_exact_sizes;

cr_exact_sizes cr_model_exact_sizes(const cr_model *model, int axis, int limit);

/* "any multiple of 32 from 32", "227 + any multiple of 32 (227, 259, ...)",
 * "any size from 5", "none up to 4096", or the first few. */
void cr_exact_sizes_format(const cr_exact_sizes *sizes, char *out, size_t size);

#endif
