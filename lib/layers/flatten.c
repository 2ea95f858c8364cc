/* flatten: a view change only; values keep their (C, H, W) order.
 *   x: [N, C, H, W] -> y: [N, C·H·W, 1, 1] */
#include <string.h>

#include "../layer.h"

static int flatten_infer(cr_layer *layer, const cr_shape *in, cr_warnings *warnings,
                         cr_error *err) {
    (void)warnings;
    int64_t size = cr_shape_size(in[0]);
    if (size > 2000000000)
        return cr_fail(err, CR_ERR_INVALID, layer->mark, layer->name, "%lld values is too many",
                       (long long)size);
    layer->out = (cr_shape){(int)size, 1, 1};
    return 0;
}

/* x: [N, C, H, W] -> y: [N, C·H·W] (a copy: buffers are not shared) */
static void flatten_forward(const cr_step *step) {
    memcpy(step->y, step->x[0],
           (size_t)(step->batch * cr_shape_size(step->layer->out)) * sizeof(float));
}

/* dy: [N, C·H·W] -> dx: [N, C, H, W] += dy */
static void flatten_backward(const cr_step *step) {
    if (!step->dx[0]) return;
    int64_t n = step->batch * cr_shape_size(step->layer->out);
    if (step->dx_assign)
        memcpy(step->dx[0], step->dy, (size_t)n * sizeof(float));
    else
        for (int64_t i = 0; i < n; i++) step->dx[0][i] += step->dy[i];
}

const cr_layer_kind cr_flatten_kind = {
    .name = "flatten",
    .infer = flatten_infer,
    .forward = flatten_forward,
    .backward = flatten_backward,
    .assigns_dx = true,
    .fixes_input_size = true, /* its units are C·H·W of the input */
};
