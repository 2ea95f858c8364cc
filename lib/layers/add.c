/* add: element-wise sum of two or more inputs of identical shape (residual
 * connections).
 *   x_i: [N, C, H, W] -> y: [N, C, H, W] */
#include "../layer.h"
#include "../onnx_build.h"

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

/* Values per piece of work: the batch split over the threads in blocks
 * small enough for the static schedule to balance, large enough that each
 * costs far more than its scheduling. */
enum { ADD_BLOCK = 16384 };

static int64_t add_blocks(const cr_step *step, int64_t *n) {
    *n = step->batch * cr_shape_size(step->layer->out);
    return (*n + ADD_BLOCK - 1) / ADD_BLOCK;
}

/* act(z) for a fused relu or relu6: the activation layers' expressions. */
static inline float activate(float z, cr_activation activation) {
    if (activation == CR_ACT_RELU) return z > 0.0f ? z : 0.0f;
    if (activation == CR_ACT_RELU6) return z < 0.0f ? 0.0f : z > 6.0f ? 6.0f : z;
    return z;
}

/* The fused forward of two inputs (a residual block's add → relu): one pass
 * writing act(x0 + x1), the activation a constant so the loop vectorises. */
static void add_pair_activated(float *y, const float *x0, const float *x1, int64_t n,
                               cr_activation activation) {
    if (activation == CR_ACT_RELU)
        for (int64_t j = 0; j < n; j++) y[j] = activate(x0[j] + x1[j], CR_ACT_RELU);
    else
        for (int64_t j = 0; j < n; j++) y[j] = activate(x0[j] + x1[j], CR_ACT_RELU6);
}

/* Values first .. first + count of the forward: Σ_i x_i in input order (one
 * pass over the first two inputs, then one per further input), or fused
 * with an activation (cr_step.post_y: the relu that alone reads it, in
 * training) act(Σ_i x_i) into post_y instead. */
static void add_forward_block(const cr_step *step, int64_t first, int64_t count) {
    float *y = (step->post_y ? step->post_y : step->y) + first;
    const float *a = step->x[0] + first, *b = step->x[1] + first;
    if (step->post_y && step->layer->n_inputs == 2) {
        add_pair_activated(y, a, b, count, step->post_activation);
        return;
    }
    for (int64_t j = 0; j < count; j++) y[j] = a[j] + b[j];
    for (int i = 2; i < step->layer->n_inputs; i++) {
        const float *x = step->x[i] + first;
        for (int64_t j = 0; j < count; j++) y[j] += x[j];
    }
    if (step->post_y)
        for (int64_t j = 0; j < count; j++) y[j] = activate(y[j], step->post_activation);
}

/* x_i: [N, C, H, W] -> y = Σ_i x_i (or act(Σ_i x_i) into post_y) */
static void add_forward(const cr_step *step) {
    int64_t n, blocks = add_blocks(step, &n);
#pragma omp parallel for num_threads(step->threads) schedule(static)
    for (int64_t block = 0; block < blocks; block++) {
        int64_t first = block * ADD_BLOCK;
        add_forward_block(step, first, n - first < ADD_BLOCK ? n - first : ADD_BLOCK);
    }
}

/* Values first .. first + count of the backward: dx_i += dy for every
 * input; fused, dy is the activation's output gradient, masked by its
 * output on the way by the activation layers' own rule (so the fused
 * gradient is the unfused one bit for bit). */
static void add_backward_block(const cr_step *step, int64_t first, int64_t count) {
    const float *dy = step->dy + first;
    const float *y = step->post_y ? step->post_y + first : NULL;
    cr_activation activation = y ? step->post_activation : CR_ACT_NONE;
    for (int i = 0; i < step->layer->n_inputs; i++)
        if (step->dx[i])
            cr_activation_backward_add(step->dx[i] + first, dy, y, count, activation,
                                       cr_activation_fused_param(activation));
}

/* dy: [N, C, H, W] -> dx_i += dy (through the fused activation) */
static void add_backward(const cr_step *step) {
    int64_t n, blocks = add_blocks(step, &n);
#pragma omp parallel for num_threads(step->threads) schedule(static)
    for (int64_t block = 0; block < blocks; block++) {
        int64_t first = block * ADD_BLOCK;
        add_backward_block(step, first, n - first < ADD_BLOCK ? n - first : ADD_BLOCK);
    }
}

/* Add for two inputs, Sum for more. */
static int add_export_onnx(const cr_layer *layer, cr_onnx_builder *b) {
    int rank;
    const char *const *inputs = cr_onnx_inputs_same_rank(b, &rank);
    cr_onnx_node_add_list(b, layer->n_inputs == 2 ? "Add" : "Sum", NULL, cr_onnx_output(b),
                          layer->n_inputs, inputs);
    cr_onnx_set_output_rank(b, rank);
    return 0;
}

const cr_layer_kind cr_add_kind = {
    .export_onnx = add_export_onnx,
    .name = "add",
    .description = "element-wise sum of two or more layers' outputs of identical shape (a residual "
                   "connection)",
    .multi_input = true,
    .infer = add_infer,
    .forward = add_forward,
    .backward = add_backward,
    .trains_with_activation = true,
    .aliases = (const char *const[]){"shortcut", "eltwise", NULL},
};
