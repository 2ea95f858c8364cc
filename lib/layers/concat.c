/* concat: inputs stacked along channels, in the order listed.
 *   x_i: [N, C_i, H, W] -> y: [N, Σ C_i, H, W] */
#include <string.h>

#include "../layer.h"

static int concat_infer(cr_layer *layer, const cr_shape *in, cr_warnings *warnings, cr_error *err) {
    (void)warnings;
    int64_t channels = 0;
    for (int i = 0; i < layer->n_inputs; i++) {
        if (in[i].h != in[0].h || in[i].w != in[0].w)
            return cr_fail(err, CR_ERR_INVALID, layer->input_marks[i], layer->name,
                           "concat needs the same height and width, but input '%s' is "
                           "%d×%d×%d and input '%s' is %d×%d×%d",
                           layer->input_names[0], in[0].c, in[0].h, in[0].w, layer->input_names[i],
                           in[i].c, in[i].h, in[i].w);
        channels += in[i].c;
    }
    if (channels > 1000000000)
        return cr_fail(err, CR_ERR_INVALID, layer->mark, layer->name, "too many channels");
    layer->out = (cr_shape){(int)channels, in[0].h, in[0].w};
    return 0;
}

/* x_i: [N, C_i, H, W] -> y: [N, Σ C_i, H, W] */
static void concat_forward(const cr_step *step) {
    int64_t spatial = (int64_t)step->layer->out.h * step->layer->out.w;
    int64_t out_image = step->layer->out.c * spatial;
    for (int image = 0; image < step->batch; image++) {
        int64_t offset = 0;
        for (int i = 0; i < step->layer->n_inputs; i++) {
            int64_t part = step->in_shapes[i].c * spatial;
            memcpy(step->y + image * out_image + offset, step->x[i] + image * part,
                   (size_t)part * sizeof(float));
            offset += part;
        }
    }
}

/* dy: [N, Σ C_i, H, W] -> dx_i: [N, C_i, H, W] += its slice */
static void concat_backward(const cr_step *step) {
    int64_t spatial = (int64_t)step->layer->out.h * step->layer->out.w;
    int64_t out_image = step->layer->out.c * spatial;
    for (int image = 0; image < step->batch; image++) {
        int64_t offset = 0;
        for (int i = 0; i < step->layer->n_inputs; i++) {
            int64_t part = step->in_shapes[i].c * spatial;
            if (step->dx[i]) {
                const float *dy = step->dy + image * out_image + offset;
                float *dx = step->dx[i] + image * part;
                for (int64_t j = 0; j < part; j++) dx[j] += dy[j];
            }
            offset += part;
        }
    }
}

const cr_layer_kind cr_concat_kind = {
    .name = "concat",
    .multi_input = true,
    .infer = concat_infer,
    .forward = concat_forward,
    .backward = concat_backward,
    .aliases = (const char *const[]){"concatenate", "route", NULL},
};
