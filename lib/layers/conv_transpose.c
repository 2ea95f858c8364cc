/* conv_transpose: transposed ("fractionally strided") 2-D convolution with
 * groups, dilation, output padding, bias and a fused activation — PyTorch's
 * nn.ConvTranspose2d.
 *   x: [N, C, H, W] -> y: [N, F, OH, OW], OH = (H − 1)·s − 2p + d·(k − 1) + op + 1
 *   weight: [C, F/groups, KH, KW] (PyTorch's layout), bias: [F]
 * It is the adjoint of a conv from F channels at OH×OW to C channels at
 * H×W with the same weight tensor ([C, F/groups, KH, KW] is that conv's
 * [filters, channels/groups, KH, KW]): forward scatters with that conv's
 * col2im, backward gathers with its im2col (lib/layers/conv.c). */
#include <cblas.h>
#include <limits.h>
#include <omp.h>
#include <stddef.h>
#include <string.h>

#include "../parallel.h"
#include "../onnx_build.h"
#include "conv.h"

typedef struct conv_transpose_config {
    int filters;
    int kernel[2];
    int stride[2];
    int padding[2];
    int output_padding[2];
    int groups;
    int dilation[2];
    cr_bias bias;
    cr_activation activation;
    bool trainable;
} conv_transpose_config;

static const cr_key conv_transpose_keys[] = {
    {"filters", CR_KEY_INT, offsetof(conv_transpose_config, filters), true, 0, 1, CR_NO_LIMIT,
     "number of output channels"},
    {"kernel", CR_KEY_INT_PAIR, offsetof(conv_transpose_config, kernel), true, 0, 1, CR_NO_LIMIT,
     "kernel size: one number, or [height, width]"},
    {"stride", CR_KEY_INT_PAIR, offsetof(conv_transpose_config, stride), false, 1, 1, CR_NO_LIMIT,
     "upsampling step: one number, or [height, width]"},
    {"padding", CR_KEY_INT_PAIR, offsetof(conv_transpose_config, padding), false, 0, 0,
     CR_NO_LIMIT, "rows and columns removed from each side of the output (PyTorch's padding)"},
    {"output_padding", CR_KEY_INT_PAIR, offsetof(conv_transpose_config, output_padding), false,
     0, 0, CR_NO_LIMIT, "extra rows and columns on one side of the output (< stride or dilation)"},
    {"groups", CR_KEY_INT, offsetof(conv_transpose_config, groups), false, 1, 1, CR_NO_LIMIT,
     "channel groups: must divide the input channels and filters"},
    {"dilation", CR_KEY_INT_PAIR, offsetof(conv_transpose_config, dilation), false, 1, 1,
     CR_NO_LIMIT, "spacing between kernel taps: one number, or [height, width]"},
    {"bias", CR_KEY_BIAS, offsetof(conv_transpose_config, bias), false, 1, 0, 0,
     "add a learned bias per filter (true), none (false), or its values inline"},
    {"activation", CR_KEY_ACTIVATION, offsetof(conv_transpose_config, activation), false, 0, 0,
     0, "activation applied to the output (as conv's)"},
    {"trainable", CR_KEY_BOOL, offsetof(conv_transpose_config, trainable), false, 1, 0, 1,
     "false freezes the weights and bias"},
};

/* The conv this layer is the adjoint of, at `batch` images: its input is
 * our output [F, OH, OW], its output our input [C, H, W]. */
static conv_dims adjoint_dims(const cr_layer *layer, cr_shape in, int batch) {
    const conv_transpose_config *cfg = layer->config;
    return (conv_dims){
        .batch = batch,
        .channels = cfg->filters,
        .height = layer->out.h,
        .width = layer->out.w,
        .filters = in.c,
        .groups = cfg->groups,
        .kernel_h = cfg->kernel[0],
        .kernel_w = cfg->kernel[1],
        .stride_h = cfg->stride[0],
        .stride_w = cfg->stride[1],
        .pad_h = cfg->padding[0],
        .pad_w = cfg->padding[1],
        .dil_h = cfg->dilation[0],
        .dil_w = cfg->dilation[1],
        .out_height = in.h,
        .out_width = in.w,
    };
}

/* One axis of the output size, with PyTorch's limits on output_padding. */
static int transpose_out(const cr_layer *layer, const char *axis, int n, int k, int s, int p,
                         int d, int op, int *out, cr_error *err) {
    if (op >= s && op >= d)
        return cr_fail(err, CR_ERR_INVALID, cr_layer_key_mark(layer, "output_padding"),
                       layer->name,
                       "output_padding %d (%s) must be smaller than the stride (%d) or the "
                       "dilation (%d)",
                       op, axis, s, d);
    int64_t size = (int64_t)(n - 1) * s - 2 * (int64_t)p + (int64_t)d * (k - 1) + op + 1;
    if (size < 1)
        return cr_fail(err, CR_ERR_INVALID, cr_layer_key_mark(layer, "padding"), layer->name,
                       "output %s (%d − 1)·%d − 2·%d + %d·(%d − 1) + %d + 1 = %lld < 1: the "
                       "padding crops more than the layer produces",
                       axis, n, s, p, d, k, op, (long long)size);
    if (size > 1000000000)
        return cr_fail(err, CR_ERR_INVALID, layer->mark, layer->name, "output %s %lld is too large",
                       axis, (long long)size);
    *out = (int)size;
    return 0;
}

/* Per-thread scratch: col [F*KH*KW, H*W], dz [F, OH*OW], this thread's
 * partial dweight [C, F/G*KH*KW] and dbias [F]; each 64-byte aligned. */
typedef struct transpose_scratch {
    float *col, *dz, *dweight, *dbias;
} transpose_scratch;

static int64_t transpose_scratch_floats(conv_dims d, transpose_scratch *s, float *base) {
    int64_t col = cr_round_up_floats((int64_t)d.channels * d.kernel_h * d.kernel_w *
                                     d.out_height * d.out_width);
    int64_t dz = cr_round_up_floats((int64_t)d.channels * d.height * d.width);
    int64_t dweight = cr_round_up_floats((int64_t)d.filters * (d.channels / d.groups) *
                                         d.kernel_h * d.kernel_w);
    int64_t dbias = cr_round_up_floats(d.channels);
    if (s) {
        s->col = base;
        s->dz = base + col;
        s->dweight = base + col + dz;
        s->dbias = base + col + dz + dweight;
    }
    return col + dz + dweight + dbias;
}

static int conv_transpose_infer(cr_layer *layer, const cr_shape *in, cr_warnings *warnings,
                                cr_error *err) {
    (void)warnings;
    conv_transpose_config *cfg = layer->config;
    cr_shape x = in[0];
    if (x.c % cfg->groups != 0 || cfg->filters % cfg->groups != 0)
        return cr_fail(err, CR_ERR_INVALID, cr_layer_key_mark(layer, "groups"), layer->name,
                       "groups %d must divide both the input channels (%d%s) and filters "
                       "(%d%s)",
                       cfg->groups, x.c, x.c % cfg->groups ? ", does not" : ", does", cfg->filters,
                       cfg->filters % cfg->groups ? ", does not" : ", does");
    if (transpose_out(layer, "height", x.h, cfg->kernel[0], cfg->stride[0], cfg->padding[0],
                      cfg->dilation[0], cfg->output_padding[0], &layer->out.h, err) ||
        transpose_out(layer, "width", x.w, cfg->kernel[1], cfg->stride[1], cfg->padding[1],
                      cfg->dilation[1], cfg->output_padding[1], &layer->out.w, err))
        return 1;
    layer->out.c = cfg->filters;
    int out_per_group = cfg->filters / cfg->groups;
    double patch = (double)out_per_group * cfg->kernel[0] * cfg->kernel[1];
    double macs = (double)x.c * x.h * x.w * patch;
    if (patch * cfg->groups > INT_MAX || macs > 0x1p62)
        return cr_fail(err, CR_ERR_INVALID, layer->mark, layer->name,
                       "%d×%d×%d input with %.0f outputs per input value is too large", x.c, x.h,
                       x.w, patch);
    /* PyTorch's fan_in for ConvTranspose2d is weight.size(1)·KH·KW. */
    int fan_in = (int)patch;
    int weight_dims[4] = {x.c, out_per_group, cfg->kernel[0], cfg->kernel[1]};
    int bias_dims[1] = {cfg->filters};
    cr_layer_add_param(layer, "weight", 4, weight_dims, cfg->trainable, false,
                       CR_INIT_UNIFORM_FAN_IN, fan_in, NULL);
    if (cfg->bias.values.present)
        return cr_fail(err, CR_ERR_INVALID, cr_layer_key_mark(layer, "bias"), layer->name,
                       "conv_transpose takes bias: true or false, not inline values");
    if (cfg->bias.enabled)
        cr_layer_add_param(layer, "bias", 1, bias_dims, cfg->trainable, false,
                           CR_INIT_UNIFORM_FAN_IN, fan_in, NULL);
    layer->macs = (int64_t)macs;
    layer->kinks = cr_activation_kinks(cfg->activation);
    if (cr_activation_needs_input(cfg->activation))
        layer->saved_per_image = cr_shape_size(layer->out); /* z, for the derivative */
    layer->workspace_per_thread =
        transpose_scratch_floats(adjoint_dims(layer, x, 1), NULL, NULL);
    return 0;
}

/* One image: y [F, OH, OW] = col2im(weight_gᵀ · x_g) per group, + bias.
 *   col_g [F/G*KH*KW, H*W] = weight_gᵀ [F/G*KH*KW, C/G] · x_g [C/G, H*W] */
static void transpose_image_forward(float *y, const float *x, const float *weight,
                                    const float *bias, float *col, conv_dims d) {
    int64_t pixels = (int64_t)d.out_height * d.out_width; /* H*W */
    int in_per_group = d.filters / d.groups;               /* C/G */
    int patch = d.channels / d.groups * d.kernel_h * d.kernel_w;
    for (int g = 0; g < d.groups; g++)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, patch, (int)pixels, in_per_group,
                    1.0f, weight + (int64_t)g * in_per_group * patch, patch,
                    x + g * in_per_group * pixels, (int)pixels, 0.0f, col + g * patch * pixels,
                    (int)pixels);
    int64_t plane = (int64_t)d.height * d.width;
    memset(y, 0, (size_t)(d.channels * plane) * sizeof *y);
    cr_conv_col2im(y, col, pixels, d);
    if (bias)
        for (int f = 0; f < d.channels; f++)
            for (int64_t i = 0; i < plane; i++) y[f * plane + i] += bias[f];
}

/* x: [N, C, H, W] -> y: [N, F, OH, OW] = act(conv_transpose(x) + bias);
 * images in parallel. z is kept in saved when the activation needs it. */
static void conv_transpose_forward(const cr_step *step) {
    const cr_layer *layer = step->layer;
    const conv_transpose_config *cfg = layer->config;
    conv_dims d = adjoint_dims(layer, step->in_shapes[0], step->batch);
    int64_t in_image = cr_shape_size(step->in_shapes[0]), out_image = cr_shape_size(layer->out);
    const float *bias = cfg->bias.enabled ? step->param[1] : NULL;
    bool keep_z = cr_activation_needs_input(cfg->activation);
    float param = cr_activation_fused_param(cfg->activation);
#pragma omp parallel num_threads(step->threads)
    {
        int thread = omp_get_thread_num();
        transpose_scratch s;
        transpose_scratch_floats(d, &s, cr_thread_workspace(step, thread));
        int64_t first, end;
        cr_thread_share(d.batch, thread, omp_get_num_threads(), &first, &end);
        for (int64_t n = first; n < end; n++) {
            float *y = step->y + n * out_image;
            transpose_image_forward(y, step->x[0] + n * in_image, step->param[0], bias, s.col, d);
            if (keep_z) memcpy(step->saved + n * out_image, y, (size_t)out_image * sizeof *y);
            cr_activation_forward(y, out_image, cfg->activation, param);
        }
    }
}

/* One image's gradients from dz [F, OH, OW]:
 *   col = im2col(dz) [F*KH*KW, H*W]
 *   dx_g [C/G, H*W] += weight_g [C/G, F/G*KH*KW] · col_g  (or =, with dx_assign)
 *   dweight_g [C/G, F/G*KH*KW] += x_g [C/G, H*W] · col_gᵀ */
static void transpose_image_backward(float *dx, bool dx_assign, float *dweight, const float *dz,
                                     const float *x, const float *weight, float *col,
                                     conv_dims d) {
    int64_t pixels = (int64_t)d.out_height * d.out_width;
    int in_per_group = d.filters / d.groups;
    int patch = d.channels / d.groups * d.kernel_h * d.kernel_w;
    cr_conv_im2col(col, pixels, dz, d);
    for (int g = 0; g < d.groups; g++) {
        const float *col_g = col + g * patch * pixels;
        if (dx)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, in_per_group, (int)pixels,
                        patch, 1.0f, weight + (int64_t)g * in_per_group * patch, patch, col_g,
                        (int)pixels, dx_assign ? 0.0f : 1.0f, dx + g * in_per_group * pixels,
                        (int)pixels);
        if (dweight)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, in_per_group, patch, (int)pixels,
                        1.0f, x + g * in_per_group * pixels, (int)pixels, col_g, (int)pixels, 1.0f,
                        dweight + (int64_t)g * in_per_group * patch, patch);
    }
}

/* dy: [N, F, OH, OW] -> dx += ..., dweight, dbias (OVERWRITTEN). Each
 * thread sums its images' parameter gradients in its own scratch; the
 * partial sums are added in thread order. */
static void conv_transpose_backward(const cr_step *step) {
    const cr_layer *layer = step->layer;
    const conv_transpose_config *cfg = layer->config;
    conv_dims d = adjoint_dims(layer, step->in_shapes[0], step->batch);
    int64_t in_image = cr_shape_size(step->in_shapes[0]), out_image = cr_shape_size(layer->out);
    int64_t plane = (int64_t)d.height * d.width, weight_count = layer->params[0].count;
    float *dweight = step->dparam[0], *dbias = cfg->bias.enabled ? step->dparam[1] : NULL;
    const float *at = cr_activation_needs_input(cfg->activation) ? step->saved : step->y;
    float param = cr_activation_fused_param(cfg->activation);
    int team = 1;
#pragma omp parallel num_threads(step->threads)
    {
        int thread = omp_get_thread_num();
#pragma omp single
        team = omp_get_num_threads();
        transpose_scratch s;
        transpose_scratch_floats(d, &s, cr_thread_workspace(step, thread));
        memset(s.dweight, 0, (size_t)weight_count * sizeof(float));
        memset(s.dbias, 0, (size_t)d.channels * sizeof(float));
        int64_t first, end;
        cr_thread_share(d.batch, thread, omp_get_num_threads(), &first, &end);
        for (int64_t n = first; n < end; n++) {
            cr_activation_backward(s.dz, step->dy + n * out_image, at + n * out_image, out_image,
                                   cfg->activation, param);
            for (int f = 0; f < d.channels; f++)
                for (int64_t i = 0; i < plane; i++) s.dbias[f] += s.dz[f * plane + i];
            transpose_image_backward(step->dx[0] ? step->dx[0] + n * in_image : NULL,
                                     step->dx_assign, dweight ? s.dweight : NULL, s.dz,
                                     step->x[0] + n * in_image, step->param[0], s.col, d);
        }
    }
    int64_t stride = step->thread_workspace_stride;
    transpose_scratch first_scratch;
    transpose_scratch_floats(d, &first_scratch, cr_thread_workspace(step, 0));
    if (dweight)
        cr_sum_thread_partials(dweight, first_scratch.dweight, weight_count, team, stride,
                               step->threads);
    if (dbias) cr_sum_thread_partials(dbias, first_scratch.dbias, d.channels, team, stride, 1);
}

/* ConvTranspose with PyTorch's [C, F/groups, KH, KW] weight, then the
 * fused activation as a node of its own. */
static int conv_transpose_export_onnx(const cr_layer *layer, cr_onnx_builder *b) {
    const conv_transpose_config *cfg = layer->config;
    bool fused = cfg->activation != CR_ACT_NONE;
    const char *z = fused ? cr_onnx_value(b, "conv_transpose") : cr_onnx_output(b);
    const char *x = cr_onnx_input_4d(b, 0), *weight = cr_onnx_param(b, 0);
    cr_onnx_node *node = cfg->bias.enabled ? cr_onnx_node_add(b, "ConvTranspose", NULL, z, 3, x,
                                                              weight, cr_onnx_param(b, 1))
                                           : cr_onnx_node_add(b, "ConvTranspose", NULL, z, 2, x, weight);
    cr_onnx_window_attrs(b, node, cfg->kernel, cfg->stride, cfg->padding);
    int64_t dilations[2] = {cfg->dilation[0], cfg->dilation[1]};
    int64_t output_padding[2] = {cfg->output_padding[0], cfg->output_padding[1]};
    cr_onnx_attr_ints(b, node, "dilations", 2, dilations);
    cr_onnx_attr_ints(b, node, "output_padding", 2, output_padding);
    cr_onnx_attr_int(b, node, "group", cfg->groups);
    if (!fused) return 0;
    return cr_onnx_activation(b, cfg->activation, cr_activation_fused_param(cfg->activation), z,
                              cr_onnx_output(b), cr_activation_name(cfg->activation));
}

const cr_layer_kind cr_conv_transpose_kind = {
    .export_onnx = conv_transpose_export_onnx,
    .name = "conv_transpose",
    .description = "transposed convolution, the adjoint of conv: upsamples by the stride (PyTorch's ConvTranspose2d)",
    .keys = conv_transpose_keys,
    .n_keys = sizeof conv_transpose_keys / sizeof conv_transpose_keys[0],
    .config_size = sizeof(conv_transpose_config),
    .infer = conv_transpose_infer,
    .forward = conv_transpose_forward,
    .backward = conv_transpose_backward,
    .assigns_dx = true,
    .aliases = (const char *const[]){"deconv", "deconvolution", "convtranspose2d", "conv2dtranspose", NULL},
};
