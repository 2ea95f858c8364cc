/* add: element-wise sum of two or more inputs of identical shape (residual
 * connections).
 *   x_i: [N, C, H, W] -> y: [N, C, H, W] */
#include <string.h>

#include "../layer.h"

static int add_infer(cr_layer *layer, const cr_shape *in, cr_warnings *warnings, cr_error *err) {
    (void)warnings;
    for (int i = 1; i < layer->n_inputs; i++)
        if (in[i].c != in[0].c || in[i].h != in[0].h || in[i].w != in[0].w)
            return cr_fail(err, CR_ERR_INVALID, layer->input_marks[i], layer->name,
                           "add needs identical shapes, but input '%s' is %d×%d×%d and input "
                           "'%s' is %d×%d×%d",
                           layer->input_names[0], in[0].c, in[0].h, in[0].w, layer->input_names[i],
                           in[i].c, in[i].h, in[i].w);
    layer->out = in[0];
    return 0;
}

/* x_i: [N, C, H, W] -> y = Σ_i x_i */
static void add_forward(const cr_step *step) {
    int64_t n = step->batch * cr_shape_size(step->layer->out);
    memcpy(step->y, step->x[0], (size_t)n * sizeof(float));
    for (int i = 1; i < step->layer->n_inputs; i++)
        for (int64_t j = 0; j < n; j++) step->y[j] += step->x[i][j];
}

/* dx_i += dy for every input */
static void add_backward(const cr_step *step) {
    int64_t n = step->batch * cr_shape_size(step->layer->out);
    for (int i = 0; i < step->layer->n_inputs; i++)
        if (step->dx[i])
            for (int64_t j = 0; j < n; j++) step->dx[i][j] += step->dy[j];
}

const cr_layer_kind cr_add_kind = {
    .name = "add",
    .multi_input = true,
    .infer = add_infer,
    .forward = add_forward,
    .backward = add_backward,
    .aliases = (const char *const[]){"shortcut", "eltwise", NULL},
};
