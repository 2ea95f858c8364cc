/* conv: 2-D convolution with groups, asymmetric kernel/stride/padding, bias
 * and a fused activation.
 *   x: [N, C, H, W] -> y: [N, F, OH, OW]
 *   weight: [F, C/groups, KH, KW] (PyTorch's layout), bias: [F] */
#include <cblas.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "../layer.h"
#include "conv.h"

static const cr_key conv_keys[] = {
    {"filters", CR_KEY_INT, offsetof(conv_config, filters), true, 0, 1, CR_NO_LIMIT},
    {"kernel", CR_KEY_INT_PAIR, offsetof(conv_config, kernel), true, 0, 1, CR_NO_LIMIT},
    {"stride", CR_KEY_INT_PAIR, offsetof(conv_config, stride), false, 1, 1, CR_NO_LIMIT},
    {"padding", CR_KEY_PADDING, offsetof(conv_config, padding), false, 0, 0, CR_NO_LIMIT},
    {"groups", CR_KEY_INT, offsetof(conv_config, groups), false, 1, 1, CR_NO_LIMIT},
    {"bias", CR_KEY_BIAS, offsetof(conv_config, bias), false, 1, 0, 0},
    {"activation", CR_KEY_ACTIVATION, offsetof(conv_config, activation), false, 0, 0, 0},
    {"weights", CR_KEY_TENSOR, offsetof(conv_config, weights), false, 0, -CR_NO_LIMIT, CR_NO_LIMIT},
    {"trainable", CR_KEY_BOOL, offsetof(conv_config, trainable), false, 1, 0, 1},
};

/* Checks inline values against the shape the layer needs. */
int cr_check_values(const cr_layer *layer, const char *key, const cr_values *values, int ndim,
                    const int *dims, const char *layout, cr_error *err) {
    if (!values->present) return 0;
    int matches = values->ndim == ndim;
    for (int i = 0; matches && i < ndim; i++) matches = values->dims[i] == dims[i];
    if (matches) return 0;
    char want[64] = "", got[64] = "";
    for (int i = 0; i < ndim; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", i ? ", " : "", dims[i]);
    for (int i = 0; i < values->ndim; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%d", i ? ", " : "",
                 values->dims[i]);
    return cr_fail(err, CR_ERR_INVALID, cr_layer_key_mark(layer, key), layer->name,
                   "'%s' has shape [%s] but the layer needs [%s] (%s)", key, got, want, layout);
}

static int resolve_same_padding(const cr_layer *layer, const char *key, const int kernel[2],
                                cr_padding *padding, cr_error *err) {
    if (padding->mode != CR_PAD_SAME) return 0;
    static const char *const axes[2] = {"height", "width"};
    for (int i = 0; i < 2; i++) {
        if (kernel[i] % 2 == 0)
            return cr_fail(err, CR_ERR_INVALID, cr_layer_key_mark(layer, key), layer->name,
                           "padding 'same' needs an odd kernel, but the kernel %s is %d: "
                           "(%d − 1)/2 is not a whole number of pixels; give an explicit "
                           "padding instead, e.g. padding: %d (output %s grows by 1) or "
                           "padding: %d (shrinks by 1)",
                           axes[i], kernel[i], kernel[i], kernel[i] / 2, axes[i],
                           kernel[i] / 2 - 1);
        padding->size[i] = (kernel[i] - 1) / 2;
    }
    return 0;
}

int cr_conv_geometry(const cr_layer *layer, const int kernel[2], const int stride[2],
                     cr_padding *padding, cr_shape in, const char *kernel_key, const char *what,
                     int *out_height, int *out_width, cr_warnings *warnings, cr_error *err) {
    if (resolve_same_padding(layer, "padding", kernel, padding, err)) return 1;
    static const char *const axes[2] = {"height", "width"};
    for (int i = 0; i < 2; i++)
        if (padding->size[i] >= kernel[i])
            return cr_fail(err, CR_ERR_INVALID, cr_layer_key_mark(layer, "padding"), layer->name,
                           "padding %d ≥ %s %s %d: a window could then hold only padding; "
                           "padding must be smaller than the %s",
                           padding->size[i], what, axes[i], kernel[i], what);
    if (cr_window_out(layer, kernel_key, in, "height", in.h, kernel[0], padding->size[0], stride[0],
                      what, kernel[0], kernel[1], out_height, warnings, err))
        return 1;
    return cr_window_out(layer, kernel_key, in, "width", in.w, kernel[1], padding->size[1],
                         stride[1], what, kernel[0], kernel[1], out_width, warnings, err);
}

/* ---- the math ---------------------------------------------------------------- */

/* Everything that fixes a convolution's shapes. */
typedef struct conv_dims {
    int batch, channels, height, width; /* x: [N, C, H, W] */
    int filters, groups;                /* weight: [F, C/groups, KH, KW] */
    int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
    int out_height, out_width; /* y: [N, F, OH, OW] */
} conv_dims;

static conv_dims conv_dims_of(const cr_layer *layer, cr_shape in, int batch) {
    const conv_config *cfg = layer->config;
    return (conv_dims){
        .batch = batch,
        .channels = in.c,
        .height = in.h,
        .width = in.w,
        .filters = cfg->filters,
        .groups = cfg->groups,
        .kernel_h = cfg->kernel[0],
        .kernel_w = cfg->kernel[1],
        .stride_h = cfg->stride[0],
        .stride_w = cfg->stride[1],
        .pad_h = cfg->padding.size[0],
        .pad_w = cfg->padding.size[1],
        .out_height = layer->out.h,
        .out_width = layer->out.w,
    };
}

/* A 1×1 kernel with stride 1 and no padding reads every pixel once, in
 * place: the image already is its own column matrix. */
static bool conv_is_pointwise(conv_dims d) {
    return d.kernel_h == 1 && d.kernel_w == 1 && d.stride_h == 1 && d.stride_w == 1 &&
           d.pad_h == 0 && d.pad_w == 0;
}

/* Floats of one image's column matrix [C*KH*KW, OH*OW], rounded up to 64
 * bytes so whatever follows it in the workspace stays aligned. */
static int64_t conv_col_floats(conv_dims d) {
    if (conv_is_pointwise(d)) return 0;
    int64_t floats = (int64_t)d.channels * d.kernel_h * d.kernel_w * d.out_height * d.out_width;
    return (floats + 15) / 16 * 16;
}

/* Output positions [*first, *end) along one axis whose input index
 * out*stride - pad + offset falls inside [0, size); the rest read padding. */
static void inside_range(int offset, int pad, int stride, int size, int out_size, int *first,
                         int *end) {
    int low = pad - offset;         /* out*stride >= low */
    int high = size + pad - offset; /* out*stride < high */
    *first = low <= 0 ? 0 : (low + stride - 1) / stride;
    *end = high <= 0 ? 0 : (high + stride - 1) / stride;
    if (*first > out_size) *first = out_size;
    if (*end > out_size) *end = out_size;
    if (*end < *first) *end = *first;
}

/* Unfolds an image so that convolution becomes one matrix product: row
 * (c, kh, kw) of col holds, for every output pixel, the input pixel that
 * kernel tap meets there (0 in the padding).
 *   image: [channels, height, width] -> col: [channels*kernel_h*kernel_w, out_height*out_width] */
static void im2col(float *col, const float *image, int channels, int height, int width,
                   int kernel_h, int kernel_w, int pad_h, int pad_w, int stride_h, int stride_w,
                   int out_height, int out_width) {
    for (int c = 0; c < channels; c++)
        for (int kh = 0; kh < kernel_h; kh++)
            for (int kw = 0; kw < kernel_w; kw++) {
                int first, end;
                inside_range(kw, pad_w, stride_w, width, out_width, &first, &end);
                for (int oh = 0; oh < out_height; oh++, col += out_width) {
                    int ih = oh * stride_h - pad_h + kh;
                    if (ih < 0 || ih >= height) {
                        memset(col, 0, (size_t)out_width * sizeof *col);
                        continue;
                    }
                    const float *row = image + ((int64_t)c * height + ih) * width - pad_w + kw;
                    for (int ow = 0; ow < first; ow++) col[ow] = 0.0f;
                    if (stride_w == 1)
                        memcpy(col + first, row + first, (size_t)(end - first) * sizeof *col);
                    else
                        for (int ow = first; ow < end; ow++) col[ow] = row[ow * stride_w];
                    for (int ow = end; ow < out_width; ow++) col[ow] = 0.0f;
                }
            }
}

/* The adjoint of im2col: every column entry is added back onto the pixel it
 * was copied from (pixels under several taps collect several terms).
 *   col: [channels*kernel_h*kernel_w, out_height*out_width] -> image += [channels, height, width]
 */
static void col2im(float *image, const float *col, int channels, int height, int width,
                   int kernel_h, int kernel_w, int pad_h, int pad_w, int stride_h, int stride_w,
                   int out_height, int out_width) {
    for (int c = 0; c < channels; c++)
        for (int kh = 0; kh < kernel_h; kh++)
            for (int kw = 0; kw < kernel_w; kw++) {
                int first, end;
                inside_range(kw, pad_w, stride_w, width, out_width, &first, &end);
                for (int oh = 0; oh < out_height; oh++, col += out_width) {
                    int ih = oh * stride_h - pad_h + kh;
                    if (ih < 0 || ih >= height) continue;
                    float *row = image + ((int64_t)c * height + ih) * width - pad_w + kw;
                    for (int ow = first; ow < end; ow++) row[ow * stride_w] += col[ow];
                }
            }
}

/* y = weight ⊛ x + bias, one GEMM per image and group:
 *   y_g [F/G, OH*OW] = weight_g [F/G, C/G*KH*KW] · col_g [C/G*KH*KW, OH*OW]
 * x: [N, C, H, W] -> y: [N, F, OH, OW]; weight: [F, C/G, KH, KW]; bias: [F] or NULL;
 * col: scratch for one image's column matrix (unused for pointwise convs). */
static void conv_forward(float *y, float *col, const float *x, const float *weight,
                         const float *bias, conv_dims d) {
    int spatial = d.out_height * d.out_width;
    int filters_per_group = d.filters / d.groups;
    int patch = d.channels / d.groups * d.kernel_h * d.kernel_w; /* GEMM depth */
    bool pointwise = conv_is_pointwise(d);
    for (int n = 0; n < d.batch; n++) {
        const float *image = x + (int64_t)n * d.channels * d.height * d.width;
        float *out = y + (int64_t)n * d.filters * spatial;
        const float *x_col = col;
        if (pointwise)
            x_col = image;
        else
            im2col(col, image, d.channels, d.height, d.width, d.kernel_h, d.kernel_w, d.pad_h,
                   d.pad_w, d.stride_h, d.stride_w, d.out_height, d.out_width);
        for (int g = 0; g < d.groups; g++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, filters_per_group, spatial,
                        patch, 1.0f, weight + (int64_t)g * filters_per_group * patch, patch,
                        x_col + (int64_t)g * patch * spatial, spatial, 0.0f,
                        out + (int64_t)g * filters_per_group * spatial, spatial);
        if (bias)
            for (int f = 0; f < d.filters; f++)
                for (int i = 0; i < spatial; i++) out[(int64_t)f * spatial + i] += bias[f];
    }
}

/* Gradients of y = weight ⊛ x + bias from dz = dL/dy:
 *   dweight_g = Σ_n dz_g · col_gᵀ   (OVERWRITTEN; NULL: not wanted)
 *   dbias[f]  = Σ_n,pixels dz[f]    (OVERWRITTEN; NULL: not wanted)
 *   dx       += col2im(weight_gᵀ · dz_g)  (ACCUMULATED; NULL: not wanted)
 * dz: [N, F, OH, OW]; x, dx: [N, C, H, W]; weight, dweight: [F, C/G, KH, KW];
 * col: scratch for one image's column matrix (unused for pointwise convs). */
static void conv_backward(float *dx, float *dweight, float *dbias, float *col, const float *dz,
                          const float *x, const float *weight, conv_dims d) {
    int spatial = d.out_height * d.out_width;
    int filters_per_group = d.filters / d.groups;
    int channels_per_group = d.channels / d.groups;
    int patch = channels_per_group * d.kernel_h * d.kernel_w;
    int64_t image_size = (int64_t)d.channels * d.height * d.width;
    bool pointwise = conv_is_pointwise(d);

    if (dbias)
        for (int f = 0; f < d.filters; f++) {
            double sum = 0.0;
            for (int n = 0; n < d.batch; n++) {
                const float *row = dz + ((int64_t)n * d.filters + f) * spatial;
                for (int i = 0; i < spatial; i++) sum += row[i];
            }
            dbias[f] = (float)sum;
        }
    if (!dweight && !dx) return;

    for (int n = 0; n < d.batch; n++) {
        const float *image = x + n * image_size;
        const float *dz_image = dz + (int64_t)n * d.filters * spatial;
        if (dweight) {
            const float *x_col = col;
            if (pointwise)
                x_col = image;
            else
                im2col(col, image, d.channels, d.height, d.width, d.kernel_h, d.kernel_w, d.pad_h,
                       d.pad_w, d.stride_h, d.stride_w, d.out_height, d.out_width);
            for (int g = 0; g < d.groups; g++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, filters_per_group, patch,
                            spatial, 1.0f, dz_image + (int64_t)g * filters_per_group * spatial,
                            spatial, x_col + (int64_t)g * patch * spatial, spatial,
                            n == 0 ? 0.0f : 1.0f, dweight + (int64_t)g * filters_per_group * patch,
                            patch);
        }
        if (dx) {
            float *dx_image = dx + n * image_size;
            /* Pointwise: the column gradient is the image gradient, so the
             * GEMM accumulates straight into dx. */
            float *dcol = pointwise ? dx_image : col;
            for (int g = 0; g < d.groups; g++)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, patch, spatial,
                            filters_per_group, 1.0f,
                            weight + (int64_t)g * filters_per_group * patch, patch,
                            dz_image + (int64_t)g * filters_per_group * spatial, spatial,
                            pointwise ? 1.0f : 0.0f, dcol + (int64_t)g * patch * spatial, spatial);
            if (!pointwise)
                col2im(dx_image, col, d.channels, d.height, d.width, d.kernel_h, d.kernel_w,
                       d.pad_h, d.pad_w, d.stride_h, d.stride_w, d.out_height, d.out_width);
        }
    }
}

/* ---- the layer ----------------------------------------------------------------- */

static int conv_infer(cr_layer *layer, const cr_shape *in, cr_warnings *warnings, cr_error *err) {
    conv_config *cfg = layer->config;
    cr_shape x = in[0];
    if (x.c % cfg->groups != 0 || cfg->filters % cfg->groups != 0)
        return cr_fail(err, CR_ERR_INVALID, cr_layer_key_mark(layer, "groups"), layer->name,
                       "groups %d must divide both the input channels (%d%s) and filters "
                       "(%d%s)",
                       cfg->groups, x.c, x.c % cfg->groups ? ", does not" : ", does", cfg->filters,
                       cfg->filters % cfg->groups ? ", does not" : ", does");
    if (cr_conv_geometry(layer, cfg->kernel, cfg->stride, &cfg->padding, x, "kernel", "kernel",
                         &layer->out.h, &layer->out.w, warnings, err))
        return 1;
    layer->out.c = cfg->filters;

    int in_per_group = x.c / cfg->groups;
    /* Checked in double, which cannot overflow here: a filter's size is a
     * GEMM dimension (int) at run time, and the MAC count (which bounds the
     * im2col scratch too) must fit in int64. */
    double filter_size = (double)in_per_group * cfg->kernel[0] * cfg->kernel[1];
    double macs = (double)cfg->filters * layer->out.h * layer->out.w * filter_size;
    if (filter_size > INT_MAX)
        return cr_fail(err, CR_ERR_INVALID, cr_layer_key_mark(layer, "kernel"), layer->name,
                       "each filter would cover %d×%d×%d = %.0f input values (input channels / "
                       "groups × kernel), more than %d",
                       in_per_group, cfg->kernel[0], cfg->kernel[1], filter_size, INT_MAX);
    if (macs > 0x1p62)
        return cr_fail(err, CR_ERR_INVALID, layer->mark, layer->name,
                       "output %d×%d×%d with %.0f values per filter needs %.3g multiply-"
                       "accumulates per image, too many",
                       layer->out.c, layer->out.h, layer->out.w, filter_size, macs);
    int weight_dims[4] = {cfg->filters, in_per_group, cfg->kernel[0], cfg->kernel[1]};
    if (cr_check_values(layer, "weights", &cfg->weights, 4, weight_dims,
                        "[filters, input channels / groups, kernel height, kernel width]", err))
        return 1;
    if (cr_check_values(layer, "bias", &cfg->bias.values, 1, weight_dims, "[filters]", err))
        return 1;
    int fan_in = in_per_group * cfg->kernel[0] * cfg->kernel[1];
    cr_layer_add_param(layer, "weight", 4, weight_dims, cfg->trainable, false,
                       cfg->weights.present ? CR_INIT_VALUES : CR_INIT_UNIFORM_FAN_IN, fan_in,
                       &cfg->weights);
    if (cfg->bias.enabled)
        cr_layer_add_param(layer, "bias", 1, weight_dims, cfg->trainable, false,
                           cfg->bias.values.present ? CR_INIT_VALUES : CR_INIT_UNIFORM_FAN_IN,
                           fan_in, &cfg->bias.values);
    layer->macs = (int64_t)cfg->filters * layer->out.h * layer->out.w * fan_in;
    layer->kinks = cr_activation_kinks(cfg->activation);
    layer->workspace = conv_col_floats(conv_dims_of(layer, x, 1));
    /* The activation gradient dz = dy ⊙ f'(z), for the whole batch. */
    if (cfg->activation != CR_ACT_NONE) layer->workspace_per_image = cr_shape_size(layer->out);
    return 0;
}

/* x: [N, C, H, W] -> y: [N, F, OH, OW] = act(weight ⊛ x + bias) */
static void conv_layer_forward(const cr_step *step) {
    const cr_layer *layer = step->layer;
    const conv_config *cfg = layer->config;
    conv_dims d = conv_dims_of(layer, step->in_shapes[0], step->batch);
    conv_forward(step->y, step->workspace, step->x[0], step->param[0],
                 cfg->bias.enabled ? step->param[1] : NULL, d);
    cr_activation_forward(step->y, step->batch * cr_shape_size(layer->out), cfg->activation,
                          CR_LEAKY_RELU_DEFAULT_SLOPE);
}

/* dy: [N, F, OH, OW] -> dx += ..., dweight, dbias (see conv_backward) */
static void conv_layer_backward(const cr_step *step) {
    const cr_layer *layer = step->layer;
    const conv_config *cfg = layer->config;
    conv_dims d = conv_dims_of(layer, step->in_shapes[0], step->batch);
    float *col = step->workspace;
    const float *dz = step->dy;
    if (cfg->activation != CR_ACT_NONE) {
        float *dz_scratch = step->workspace + conv_col_floats(d);
        cr_activation_backward(dz_scratch, step->dy, step->y,
                               step->batch * cr_shape_size(layer->out), cfg->activation,
                               CR_LEAKY_RELU_DEFAULT_SLOPE);
        dz = dz_scratch;
    }
    conv_backward(step->dx[0], step->dparam[0], cfg->bias.enabled ? step->dparam[1] : NULL, col, dz,
                  step->x[0], step->param[0], d);
}

/* The cblas_sgemm calls conv_forward and conv_backward make, one entry per
 * call site (each runs once per image and group). Keep in step with them. */
static int conv_gemms(const cr_layer *layer, const cr_shape *in, int batch, cr_gemm *out, int max) {
    const conv_config *cfg = layer->config;
    conv_dims d = conv_dims_of(layer, in[0], batch);
    int spatial = d.out_height * d.out_width;
    int filters_per_group = d.filters / d.groups;
    int patch = d.channels / d.groups * d.kernel_h * d.kernel_w;
    int calls = d.batch * d.groups;
    cr_gemm gemms[3] = {
        {"forward", false, false, filters_per_group, spatial, patch, calls},
        {"backward-weights", false, true, filters_per_group, patch, spatial, calls},
        {"backward-input", true, false, patch, spatial, filters_per_group, calls},
    };
    int written = 0;
    for (int i = 0; i < 3 && written < max; i++)
        if (i != 1 || cfg->trainable) out[written++] = gemms[i];
    return written;
}

const cr_layer_kind cr_conv_kind = {
    .name = "conv",
    .keys = conv_keys,
    .n_keys = sizeof conv_keys / sizeof conv_keys[0],
    .config_size = sizeof(conv_config),
    .infer = conv_infer,
    .forward = conv_layer_forward,
    .backward = conv_layer_backward,
    .gemms = conv_gemms,
};
