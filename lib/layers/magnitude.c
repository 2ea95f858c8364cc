/* magnitude: the Euclidean norm of each group of `size` consecutive channels,
 * e.g. the edge strength √(h² + v²) of a horizontal and a vertical gradient
 * filter (size 2), or the length of a 3-vector field (size 3).
 *   x: [N, C, H, W] -> y: [N, C/size, H, W],
 *   y[g] = sqrt(Σ_{k<size} x[g·size + k]²)
 * The norm has no derivative where all `size` inputs are 0; there the
 * gradient is taken to be 0 (the subgradient of least length, as PyTorch's
 * torch.linalg.vector_norm gives). */
#include <math.h>
#include <stddef.h>

#include "../layer.h"
#include "../onnx_build.h"

typedef struct magnitude_config {
    int size;
} magnitude_config;

static const cr_key magnitude_keys[] = {
    {"size", CR_KEY_INT, offsetof(magnitude_config, size), false, 2, 1, CR_NO_LIMIT,
     "channels per norm: C must be a multiple of size"},
};

static int magnitude_infer(cr_layer *layer, const cr_shape *in, cr_warnings *warnings,
                           cr_error *err) {
    (void)warnings;
    const magnitude_config *cfg = layer->config;
    if (in[0].c % cfg->size != 0)
        return cr_fail(err, CR_ERR_INVALID, cr_layer_key_mark(layer, "size"), layer->name,
                       "%d input channels do not split into groups of size %d (the channel "
                       "count must be a multiple of size)",
                       in[0].c, cfg->size);
    layer->out = (cr_shape){in[0].c / cfg->size, in[0].h, in[0].w};
    return 0;
}

/* x: [N, G·size, H, W] -> y: [N, G, H, W] */
static void magnitude_forward(const cr_step *step) {
    const magnitude_config *cfg = step->layer->config;
    cr_shape out = step->layer->out;
    int64_t spatial = (int64_t)out.h * out.w;
    int64_t groups = (int64_t)step->batch * out.c; /* images and groups are contiguous alike */
    for (int64_t g = 0; g < groups; g++) {
        const float *x = step->x[0] + g * cfg->size * spatial;
        float *y = step->y + g * spatial;
        for (int64_t i = 0; i < spatial; i++) y[i] = 0.0f;
        for (int k = 0; k < cfg->size; k++)
            for (int64_t i = 0; i < spatial; i++) y[i] += x[k * spatial + i] * x[k * spatial + i];
        for (int64_t i = 0; i < spatial; i++) y[i] = sqrtf(y[i]);
    }
}

/* dy: [N, G, H, W] -> dx[g·size + k] += dy[g] · x[g·size + k] / y[g]  (0 where y = 0) */
static void magnitude_backward(const cr_step *step) {
    if (!step->dx[0]) return;
    const magnitude_config *cfg = step->layer->config;
    cr_shape out = step->layer->out;
    int64_t spatial = (int64_t)out.h * out.w;
    int64_t groups = (int64_t)step->batch * out.c;
    for (int64_t g = 0; g < groups; g++) {
        const float *x = step->x[0] + g * cfg->size * spatial;
        float *dx = step->dx[0] + g * cfg->size * spatial;
        const float *y = step->y + g * spatial, *dy = step->dy + g * spatial;
        for (int k = 0; k < cfg->size; k++)
            for (int64_t i = 0; i < spatial; i++)
                if (y[i] > 0.0f) dx[k * spatial + i] += dy[i] * x[k * spatial + i] / y[i];
    }
}

/* x: [N, G·size, H, W] -> Reshape [N, G, size, H, W] -> Mul (x²) ->
 * ReduceSum over the size axis -> Sqrt: [N, G, H, W]. */
static int magnitude_export_onnx(const cr_layer *layer, cr_onnx_builder *b) {
    const magnitude_config *cfg = layer->config;
    cr_shape out = layer->out;
    int64_t shape[5] = {-1, out.c, cfg->size, out.h, out.w}, axes[1] = {2};
    const char *grouped = cr_onnx_value(b, "groups"), *squares = cr_onnx_value(b, "squares");
    const char *sums = cr_onnx_value(b, "sums");
    cr_onnx_node_add(b, "Reshape", "groups", grouped, 2, cr_onnx_input_4d(b, 0),
                     cr_onnx_int64s(b, "groups_shape", 5, shape));
    cr_onnx_node_add(b, "Mul", "squares", squares, 2, grouped, grouped);
    /* Opset 13 on: the axes are an input, no longer an attribute. */
    cr_onnx_node *sum = cr_onnx_node_add(b, "ReduceSum", "sums", sums, 2, squares,
                                         cr_onnx_int64s(b, "sums_axes", 1, axes));
    cr_onnx_attr_int(b, sum, "keepdims", 0);
    cr_onnx_node_add(b, "Sqrt", NULL, cr_onnx_output(b), 1, sums);
    return 0;
}

const cr_layer_kind cr_magnitude_kind = {
    .export_onnx = magnitude_export_onnx,
    .name = "magnitude",
    .description = "Euclidean norm of each `size` consecutive channels (C -> C/size)",
    .keys = magnitude_keys,
    .n_keys = sizeof magnitude_keys / sizeof magnitude_keys[0],
    .config_size = sizeof(magnitude_config),
    .infer = magnitude_infer,
    .forward = magnitude_forward,
    .backward = magnitude_backward,
};
