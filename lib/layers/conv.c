/* conv: 2-D convolution with groups, asymmetric kernel/stride/padding, bias
 * and a fused activation.
 *   x: [N, C, H, W] -> y: [N, F, OH, OW]
 *   weight: [F, C/groups, KH, KW] (PyTorch's layout), bias: [F] */
#include <cblas.h>
#include <omp.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "../layer.h"
#include "../onnx_build.h"
#include "../cpu.h"
#include "../parallel.h"
#include "conv.h"
#include "conv_depthwise.h"
#include "conv_pointwise.h"
#include "conv_strided_pointwise.h"
#include "stride2_rows.h"
#include "winograd.h"

static const cr_key conv_keys[] = {
    {"filters", CR_KEY_INT, offsetof(conv_config, filters), true, 0, 1, CR_NO_LIMIT,
     "number of output channels (filters)"},
    {"kernel", CR_KEY_INT_PAIR, offsetof(conv_config, kernel), true, 0, 1, CR_NO_LIMIT,
     "kernel size: one number, or [height, width]"},
    {"stride", CR_KEY_INT_PAIR, offsetof(conv_config, stride), false, 1, 1, CR_NO_LIMIT,
     "step between windows: one number, or [height, width]"},
    {"padding", CR_KEY_PADDING, offsetof(conv_config, padding), false, 0, 0, CR_NO_LIMIT,
     "zeros added on each side: a number, [height, width], valid (0) or same ((kernel − 1)/2, odd "
     "kernels)"},
    {"groups", CR_KEY_INT, offsetof(conv_config, groups), false, 1, 1, CR_NO_LIMIT,
     "channel groups: must divide the input channels and filters (AlexNet's 2)"},
    {"dilation", CR_KEY_INT_PAIR, offsetof(conv_config, dilation), false, 1, 1, CR_NO_LIMIT,
     "spacing between kernel taps: one number, or [height, width] (PyTorch's dilation)"},
    {"bias", CR_KEY_BIAS, offsetof(conv_config, bias), false, 1, 0, 0,
     "add a learned bias per filter (true), none (false), or its values inline"},
    {"activation", CR_KEY_ACTIVATION, offsetof(conv_config, activation), false, 0, 0, 0,
     "activation applied to the output: none, relu, tanh, sigmoid, leaky_relu (slope 0.01), relu6, "
     "silu, gelu, elu, hardswish, hardsigmoid"},
    {"weights", CR_KEY_TENSOR, offsetof(conv_config, weights), false, 0, -CR_NO_LIMIT, CR_NO_LIMIT,
     "fixed weights inline, shape [filters, channels/groups, kernel height, kernel width]"},
    {"trainable", CR_KEY_BOOL, offsetof(conv_config, trainable), false, 1, 0, 1,
     "false freezes the weights and bias (no gradient, the optimizer leaves them alone)"},
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

static int resolve_same_padding(const cr_layer *layer, const char *key, const int span[2],
                                cr_padding *padding, cr_error *err) {
    if (padding->mode != CR_PAD_SAME) return 0;
    static const char *const axes[2] = {"height", "width"};
    for (int i = 0; i < 2; i++) {
        if (span[i] % 2 == 0)
            return cr_fail(err, CR_ERR_INVALID, cr_layer_key_mark(layer, key), layer->name,
                           "padding 'same' needs an odd kernel, but the kernel %s is %d: "
                           "(%d − 1)/2 is not a whole number of pixels; give an explicit "
                           "padding instead, e.g. padding: %d (output %s grows by 1) or "
                           "padding: %d (shrinks by 1)",
                           axes[i], span[i], span[i], span[i] / 2, axes[i], span[i] / 2 - 1);
        padding->size[i] = (span[i] - 1) / 2;
    }
    return 0;
}

int cr_conv_geometry(cr_layer *layer, const int kernel[2], const int stride[2],
                     const int dilation[2], cr_padding *padding, cr_shape in,
                     const char *kernel_key, const char *what, int *out_height, int *out_width,
                     cr_warnings *warnings, cr_error *err) {
    /* A kernel dilated by d spans d·(f − 1) + 1 pixels: PyTorch's
     * out = ⌊(n + 2p − d·(f − 1) − 1)/s⌋ + 1 is the plain rule on the span. */
    int span[2];
    for (int i = 0; i < 2; i++) span[i] = dilation[i] * (kernel[i] - 1) + 1;
    char described[96];
    if (dilation[0] == 1 && dilation[1] == 1)
        snprintf(described, sizeof described, "%s", what);
    else
        snprintf(described, sizeof described, "%s (%d×%d dilated by %d×%d)", what, kernel[0],
                 kernel[1], dilation[0], dilation[1]);
    if (resolve_same_padding(layer, "padding", span, padding, err)) return 1;
    /* The window as receptive fields see it (lib/geometry.h): the dilated span. */
    for (int i = 0; i < 2; i++) {
        layer->window[i] = span[i];
        layer->window_stride[i] = stride[i];
        layer->window_padding[i] = padding->size[i];
    }
    static const char *const axes[2] = {"height", "width"};
    for (int i = 0; i < 2; i++)
        if (padding->size[i] >= span[i])
            return cr_fail(err, CR_ERR_INVALID, cr_layer_key_mark(layer, "padding"), layer->name,
                           "padding %d ≥ %s %s %d: a window could then hold only padding; "
                           "padding must be smaller than the %s",
                           padding->size[i], described, axes[i], span[i], what);
    if (cr_window_out(layer, kernel_key, in, "height", in.h, kernel[0], dilation[0],
                      padding->size[0], stride[0], described, span[0], span[1], out_height,
                      warnings, err))
        return 1;
    return cr_window_out(layer, kernel_key, in, "width", in.w, kernel[1], dilation[1],
                         padding->size[1], stride[1], described, span[0], span[1], out_width,
                         warnings, err);
}

/* ---- the math ---------------------------------------------------------------- */

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
        .dil_h = cfg->dilation[0],
        .dil_w = cfg->dilation[1],
        .out_height = layer->out.h,
        .out_width = layer->out.w,
        .reference = cfg->reference,
    };
}

/* Set by tests between model builds (conv.h); read by conv_infer. */
static bool reference_only;

void cr_conv_reference_only(bool on) {
    reference_only = on;
}

/* A 1×1 kernel with stride 1 and no padding reads every pixel once, in
 * place: the image already is its own column matrix [C, H·W], and each
 * pass is one product per image and group, without im2col
 * (conv_pointwise.c). */
static bool conv_uses_pointwise(conv_dims d) {
    return conv_pointwise_applies(d);
}

/* A 1×1 kernel with a stride (ResNet's shortcut) reads only the strided
 * pixels: gathered, they are the whole column matrix, C rows instead of
 * im2col's, so the products can be wider (conv_strided_pointwise.c). */
static bool conv_uses_strided_pointwise(conv_dims d) {
    return conv_strided_pointwise_applies(d);
}

/* Depthwise (groups = channels): the direct kernel of conv_depthwise.c. */
static bool conv_uses_depthwise(conv_dims d) {
    return conv_depthwise_applies(d);
}

/* Images per matrix product. A product over several images' columns at once
 * keeps OpenBLAS efficient when one image has few output pixels (LeNet's
 * 10×10, VGG's last stages); an image with many pixels is its own chunk and
 * its product writes straight into y. */
#define CHUNK_COLUMNS 512
/* ... but a chunk's column matrix should stay in the core's L2 cache (1 MiB
 * of floats): written by im2col, it is read back by the GEMM at once.
 * OpenBLAS's rate on these shapes is flat from ~256 columns on. */
#define CHUNK_COL_FLOATS (256 * 1024)

static int conv_chunk_images(conv_dims d) {
    int64_t spatial = (int64_t)d.out_height * d.out_width;
    int64_t image_col = (int64_t)d.channels * d.kernel_h * d.kernel_w * spatial;
    int64_t by_columns = (CHUNK_COLUMNS + spatial - 1) / spatial;
    int64_t by_cache = CHUNK_COL_FLOATS / (image_col > 0 ? image_col : 1);
    int64_t chunk = by_columns < by_cache ? by_columns : by_cache;
    return chunk < 1 ? 1 : (int)chunk;
}

/* Per-thread scratch of the im2col path, each piece 64-byte aligned:
 *   col:     [C*KH*KW, chunk*OH*OW] the chunk's column matrix
 *   product: [F, chunk*OH*OW] forward's GEMM result before it is scattered to
 *            y, and backward's dz gathered from dy
 *   dweight: [F, C/G*KH*KW] and dbias: [F], this thread's partial sums. */
typedef struct conv_scratch {
    float *col, *product, *dweight, *dbias;
} conv_scratch;

static int64_t conv_scratch_floats(conv_dims d, int chunk, conv_scratch *scratch, float *base) {
    int64_t columns = (int64_t)chunk * d.out_height * d.out_width;
    int64_t col = cr_round_up_floats((int64_t)d.channels * d.kernel_h * d.kernel_w * columns);
    int64_t product = cr_round_up_floats(d.filters * columns);
    int64_t dweight =
        cr_round_up_floats((int64_t)d.filters * (d.channels / d.groups) * d.kernel_h * d.kernel_w);
    int64_t dbias = cr_round_up_floats(d.filters);
    if (scratch) {
        scratch->col = base;
        scratch->product = base + col;
        scratch->dweight = base + col + product;
        scratch->dbias = base + col + product + dweight;
    }
    return col + product + dweight + dbias;
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

/* Stride 1 and an output as wide as the input (padding (KW − 1)/2, as
 * 'same'): the column row of tap (c, kh, kw) is the image channel shifted by
 * whole pixels, so it is copied as one run across image rows, and only the
 * few values that wrapped from a neighbouring row are fixed afterwards. */
static bool conv_is_shifted_copy(conv_dims d) {
    return d.stride_h == 1 && d.stride_w == 1 && d.out_width == d.width;
}

/* The contiguous run of one tap over output rows [first_row, end_row): with
 * shift = kw − pad_w, output j of the run reads input j + shift, counting
 * from output row first_row and input row first_row + kh − pad_h. The run
 * starts −shift late (shift < 0) or ends shift early (shift > 0): those
 * outputs would read outside the rows. */
typedef struct tap_run {
    int64_t output_start, input_start, length;
    int shift;
} tap_run;

static tap_run tap_run_of(conv_dims d, int c, int kh, int kw, int first_row, int end_row) {
    int shift = kw - d.pad_w, skipped = shift < 0 ? -shift : shift;
    int64_t width = d.width;
    int64_t input_row = (int64_t)c * d.height + first_row + kh - d.pad_h;
    return (tap_run){
        .output_start = first_row * width + (shift < 0 ? skipped : 0),
        .input_start = input_row * width + (shift < 0 ? 0 : shift),
        .length = (end_row - first_row) * width - skipped,
        .shift = shift,
    };
}

/* The outputs of rows [first_row, end_row) that read padding: the first
 * −shift (shift < 0) or last shift (shift > 0) of each row. */
static void zero_wrapped(float *out, conv_dims d, int shift, int first_row, int end_row) {
    if (shift == 0) return;
    int from = shift < 0 ? 0 : d.width - shift, to = shift < 0 ? -shift : d.width;
    for (int oh = first_row; oh < end_row; oh++)
        for (int ow = from; ow < to; ow++) out[(int64_t)oh * d.width + ow] = 0.0f;
}

/* Unfolds an image so that convolution becomes one matrix product: row
 * (c, kh, kw) of col holds, for every output pixel, the input pixel that
 * kernel tap meets there (0 in the padding). kh and kw below are the taps'
 * offsets in pixels: multiples of the dilation. The image's columns are one
 * block of each row of a wider matrix (several images side by side).
 *   image: [C, H, W] -> col: [C*KH*KW, OH*OW] with row stride col_stride */
/* GCC would turn the short row copies back into memcpy calls. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
static void
im2col(float *restrict col, int64_t col_stride, const float *restrict image, conv_dims d) {
    bool shifted_copy = conv_is_shifted_copy(d), avx2 = cr_cpu_avx2();
    int64_t image_size = (int64_t)d.channels * d.height * d.width;
    for (int c = 0; c < d.channels; c++)
        for (int kh = 0; kh < d.kernel_h * d.dil_h; kh += d.dil_h)
            for (int kw = 0; kw < d.kernel_w * d.dil_w; kw += d.dil_w, col += col_stride) {
                int first, end, first_row, end_row;
                inside_range(kw, d.pad_w, d.stride_w, d.width, d.out_width, &first, &end);
                inside_range(kh, d.pad_h, d.stride_h, d.height, d.out_height, &first_row, &end_row);
                float *out = col;
                /* Rows that read only padding, above and below the image. */
                memset(out, 0, (size_t)first_row * d.out_width * sizeof *out);
                memset(out + (int64_t)end_row * d.out_width, 0,
                       (size_t)(d.out_height - end_row) * d.out_width * sizeof *out);
                if (shifted_copy) {
                    if (end_row <= first_row) continue;
                    tap_run run = tap_run_of(d, c, kh, kw, first_row, end_row);
                    memcpy(out + run.output_start, image + run.input_start,
                           (size_t)run.length * sizeof *out);
                    zero_wrapped(out, d, run.shift, first_row, end_row);
                    continue;
                }
                out += (int64_t)first_row * d.out_width;
                if (d.stride_w == 1 && first == 0 && end == d.out_width) {
                    /* No padding on either side of any row (LeNet's 'valid'
                     * convs): a plain 2-D block copy. */
                    const float *row =
                        image +
                        ((int64_t)c * d.height + first_row * d.stride_h - d.pad_h + kh) * d.width +
                        kw - d.pad_w;
                    for (int oh = first_row; oh < end_row;
                         oh++, out += d.out_width, row += (int64_t)d.stride_h * d.width)
                        for (int ow = 0; ow < d.out_width; ow++) out[ow] = row[ow];
                    continue;
                }
                for (int oh = first_row; oh < end_row; oh++, out += d.out_width) {
                    int ih = oh * d.stride_h - d.pad_h + kh;
                    const float *row =
                        image + ((int64_t)c * d.height + ih) * d.width - d.pad_w + kw;
                    for (int ow = 0; ow < first; ow++) out[ow] = 0.0f;
                    /* A loop, not memcpy: rows are short (tens of floats) and
                     * a call costs more than the copy. */
                    if (d.stride_w == 1)
                        for (int ow = first; ow < end; ow++) out[ow] = row[ow];
                    else if (d.stride_w == 2)
                        cr_gather_stride2(out + first, row + 2 * first, end - first,
                                          image + image_size - (row + 2 * first), avx2);
                    else
                        for (int ow = first; ow < end; ow++) out[ow] = row[ow * d.stride_w];
                    for (int ow = end; ow < d.out_width; ow++) out[ow] = 0.0f;
                }
            }
}

/* The adjoint of im2col: every column entry is added back onto the pixel it
 * was copied from (pixels under several taps collect several terms).
 *   col: [C*KH*KW, OH*OW] with row stride col_stride -> image += [C, H, W]
 * (col's entries for padding positions may be cleared on the way). */
static void col2im(float *restrict image, float *restrict col, int64_t col_stride, conv_dims d) {
    bool shifted_copy = conv_is_shifted_copy(d), avx2 = cr_cpu_avx2();
    int64_t image_size = (int64_t)d.channels * d.height * d.width;
    for (int c = 0; c < d.channels; c++)
        for (int kh = 0; kh < d.kernel_h * d.dil_h; kh += d.dil_h)
            for (int kw = 0; kw < d.kernel_w * d.dil_w; kw += d.dil_w, col += col_stride) {
                if (shifted_copy) {
                    int first_row, end_row;
                    inside_range(kh, d.pad_h, 1, d.height, d.out_height, &first_row, &end_row);
                    if (end_row <= first_row) continue;
                    tap_run run = tap_run_of(d, c, kh, kw, first_row, end_row);
                    /* Gradients of padding positions must not land on the
                     * neighbouring row's pixels the run would add them to
                     * (col is scratch: clearing them in place is fine). */
                    zero_wrapped(col, d, run.shift, first_row, end_row);
                    float *to = image + run.input_start;
                    const float *from = col + run.output_start;
                    for (int64_t i = 0; i < run.length; i++) to[i] += from[i];
                    continue;
                }
                int first, end;
                inside_range(kw, d.pad_w, d.stride_w, d.width, d.out_width, &first, &end);
                const float *in = col;
                for (int oh = 0; oh < d.out_height; oh++, in += d.out_width) {
                    int ih = oh * d.stride_h - d.pad_h + kh;
                    if (ih < 0 || ih >= d.height) continue;
                    float *row = image + ((int64_t)c * d.height + ih) * d.width - d.pad_w + kw;
                    if (d.stride_w == 1)
                        for (int ow = first; ow < end; ow++) row[ow] += in[ow];
                    else if (d.stride_w == 2)
                        cr_scatter_add_stride2(row + 2 * first, in + first, end - first,
                                               image + image_size - (row + 2 * first), avx2);
                    else
                        for (int ow = first; ow < end; ow++) row[ow * d.stride_w] += in[ow];
                }
            }
}

/* The column matrix of images [first, first + count): theirs side by side. */
static const float *chunk_columns(float *col, const float *x, int first, int count, conv_dims d) {
    int64_t image_size = (int64_t)d.channels * d.height * d.width;
    int64_t spatial = (int64_t)d.out_height * d.out_width;
    for (int i = 0; i < count; i++)
        im2col(col + i * spatial, count * spatial, x + (first + i) * image_size, d);
    return col;
}

/* y = act(weight ⊛ x + bias) for a chunk of images, one GEMM per group:
 *   product_g [F/G, n*OH*OW] = weight_g [F/G, C/G*KH*KW] · col_g [C/G*KH*KW, n*OH*OW]
 * x: [N, C, H, W] -> y: [N, F, OH, OW]; weight: [F, C/G, KH, KW]; bias: [F] or NULL */
static void conv_forward_chunk(float *y, const float *x, const float *weight,
                               const conv_epilogue *epilogue, int first, int count, conv_scratch s,
                               conv_dims d) {
    int64_t spatial = (int64_t)d.out_height * d.out_width, columns = count * spatial;
    int filters_per_group = d.filters / d.groups;
    int patch = d.channels / d.groups * d.kernel_h * d.kernel_w; /* GEMM depth */
    const float *col = chunk_columns(s.col, x, first, count, d);
    /* One image: its [F, OH*OW] output is the GEMM's result, in place. */
    float *product = count == 1 ? y + first * d.filters * spatial : s.product;
    for (int g = 0; g < d.groups; g++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, filters_per_group, (int)columns,
                    patch, 1.0f, weight + (int64_t)g * filters_per_group * patch, patch,
                    col + g * patch * columns, (int)columns, 0.0f,
                    product + g * filters_per_group * columns, (int)columns);
    for (int i = 0; i < count; i++)
        for (int f = 0; f < d.filters; f++)
            cr_conv_epilogue_row(y + ((int64_t)(first + i) * d.filters + f) * spatial,
                                 product + f * columns + i * spatial, spatial, f, epilogue);
}

void cr_conv_epilogue_row(float *out, const float *in, int64_t n, int f,
                          const conv_epilogue *epilogue) {
    float scale = epilogue_scale(epilogue, f), shift = epilogue_shift(epilogue, f);
    for (int64_t j = 0; j < n; j++) out[j] = scale * in[j] + shift;
    cr_activation_forward(out, n, epilogue->activation,
                          cr_activation_fused_param(epilogue->activation));
}

/* Gradients of y = act(weight ⊛ x + bias) for a chunk of images, from dy:
 *   dz = dy ⊙ act'(z), gathered to [F, n*OH*OW], from `at`: y, or the kept z
 *        for an activation that needs it (cr_activation_needs_input)
 *   dweight_g += dz_g · col_gᵀ,  dbias += Σ_pixels dz   (this thread's partial sums)
 *   dx       += col2im(weight_gᵀ · dz_g)  (ACCUMULATED, or OVERWRITTEN with dx_assign;
 *                                         NULL: not wanted) */
static void conv_backward_chunk(float *dx, bool dx_assign, bool want_dweight, bool want_dbias,
                                const float *dy, const float *at, const float *x,
                                const float *weight, cr_activation activation, int first, int count,
                                conv_scratch s, conv_dims d) {
    int64_t spatial = (int64_t)d.out_height * d.out_width, columns = count * spatial;
    int64_t image_size = (int64_t)d.channels * d.height * d.width;
    int filters_per_group = d.filters / d.groups;
    int patch = d.channels / d.groups * d.kernel_h * d.kernel_w;
    const float *dz = dy + first * d.filters * spatial;
    if (count > 1 || activation != CR_ACT_NONE) {
        for (int i = 0; i < count; i++)
            for (int f = 0; f < d.filters; f++) {
                int64_t offset = ((int64_t)(first + i) * d.filters + f) * spatial;
                cr_activation_backward(s.product + f * columns + i * spatial, dy + offset,
                                       at + offset, spatial, activation,
                                       cr_activation_fused_param(activation));
            }
        dz = s.product;
    }
    if (want_dbias)
        for (int f = 0; f < d.filters; f++) {
            float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
            for (int64_t j = 0; j < columns; j++) sum += dz[f * columns + j];
            s.dbias[f] += sum;
        }
    if (want_dweight) {
        const float *col = chunk_columns(s.col, x, first, count, d);
        for (int g = 0; g < d.groups; g++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, filters_per_group, patch,
                        (int)columns, 1.0f, dz + g * filters_per_group * columns, (int)columns,
                        col + g * patch * columns, (int)columns, 1.0f,
                        s.dweight + (int64_t)g * filters_per_group * patch, patch);
    }
    if (!dx) return;
    if (dx_assign) memset(dx + first * image_size, 0, (size_t)(count * image_size) * sizeof *dx);
    for (int g = 0; g < d.groups; g++)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, patch, (int)columns, filters_per_group,
                    1.0f, weight + (int64_t)g * filters_per_group * patch, patch,
                    dz + g * filters_per_group * columns, (int)columns, 0.0f,
                    s.col + g * patch * columns, (int)columns);
    for (int i = 0; i < count; i++)
        col2im(dx + (first + i) * image_size, s.col + i * spatial, columns, d);
}

/* Chunks of at most `chunk` images, at least one per thread where the batch
 * allows. */
static int run_chunk(int chunk, int batch, int threads) {
    int per_thread = (batch + threads - 1) / threads;
    return chunk < per_thread ? chunk : per_thread;
}

static int conv_run_chunk(conv_dims d, int threads) {
    return run_chunk(conv_chunk_images(d), d.batch, threads);
}

static bool conv_uses_winograd(conv_dims d) {
    return !d.reference && d.dil_h == 1 && d.dil_w == 1 &&
           winograd_applies(d.kernel_h, d.kernel_w, d.stride_h, d.stride_w, d.groups, d.channels,
                            d.filters);
}

/* Training keeps F(2×2): F(4×4)'s float error is about ten times larger,
 * and batchnorm in training mode can amplify it (ResNet-20 at a batch of 5:
 * the gradient moved by 6e-3 between 1 and 3 threads against 9e-7). */
static winograd_dims winograd_dims_of(conv_dims d, bool training) {
    winograd_dims w = {
        .channels = d.channels,
        .height = d.height,
        .width = d.width,
        .filters = d.filters,
        .pad_h = d.pad_h,
        .pad_w = d.pad_w,
        .out_height = d.out_height,
        .out_width = d.out_width,
    };
    w.tile = winograd_pick_tile(w, training);
    return w;
}

/* Backward's input gradient by Winograd: the convolution of dz (= dy: no
 * fused activation to undo) with the turned kernels, 'same' sized back to
 * the input (padding 2 − p). */
static bool conv_uses_winograd_dx(conv_dims d, cr_activation activation) {
    return conv_uses_winograd(d) && activation == CR_ACT_NONE && d.pad_h <= 2 && d.pad_w <= 2;
}

static winograd_dims winograd_backward_dims(conv_dims d) {
    winograd_dims w = {
        .channels = d.filters,
        .height = d.out_height,
        .width = d.out_width,
        .filters = d.channels,
        .pad_h = 2 - d.pad_h,
        .pad_w = 2 - d.pad_w,
        .out_height = d.height,
        .out_width = d.width,
    };
    w.tile = winograd_pick_tile(w, true);
    return w;
}

static int winograd_run_chunk(winograd_dims w, int batch, int threads) {
    return run_chunk(winograd_chunk_images(w), batch, threads);
}

/* For the kinds that share the unfolding (conv_transpose: lib/layers/conv.h). */
void cr_conv_im2col(float *col, int64_t col_stride, const float *image, conv_dims d) {
    im2col(col, col_stride, image, d);
}

void cr_conv_col2im(float *image, float *col, int64_t col_stride, conv_dims d) {
    col2im(image, col, col_stride, d);
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
    if (cr_conv_geometry(layer, cfg->kernel, cfg->stride, cfg->dilation, &cfg->padding, x, "kernel",
                         "kernel", &layer->out.h, &layer->out.w, warnings, err))
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
    if (cr_activation_needs_input(cfg->activation))
        layer->saved_per_image = cr_shape_size(layer->out); /* z, for the derivative */
    cfg->reference = reference_only;
    conv_dims d = conv_dims_of(layer, x, 1);
    layer->workspace_per_thread = conv_scratch_floats(d, conv_chunk_images(d), NULL, NULL);
    /* in the order of conv_forward_paths' choice: a 1×1 depthwise conv is
     * depthwise */
    if (conv_uses_depthwise(d))
        layer->workspace_per_thread = conv_depthwise_scratch_floats(d);
    else if (conv_uses_pointwise(d))
        layer->workspace_per_thread = conv_pointwise_scratch_floats(d, cfg->activation);
    else if (conv_uses_strided_pointwise(d))
        layer->workspace_per_thread = conv_strided_pointwise_scratch_floats(d);
    if (conv_uses_winograd(d)) {
        /* Forward's transformed weights (shared) and tiles (per thread),
         * for training's tile and evaluation's (a training net evaluates
         * too); backward needs the im2col scratch and, for its input
         * gradient, tiles of its own next to it. */
        winograd_dims w = winograd_dims_of(d, true), eval = winograd_dims_of(d, false);
        winograd_dims back = winograd_backward_dims(d);
        int64_t tiles = winograd_scratch_floats(w, winograd_chunk_images(w));
        int64_t eval_tiles = winograd_scratch_floats(eval, winograd_chunk_images(eval));
        if (eval_tiles > tiles) tiles = eval_tiles;
        layer->workspace = winograd_weight_floats(w);
        if (winograd_weight_floats(eval) > layer->workspace)
            layer->workspace = winograd_weight_floats(eval);
        if (conv_uses_winograd_dx(d, cfg->activation))
            layer->workspace_per_thread += winograd_scratch_floats(back, conv_chunk_images(d));
        if (tiles > layer->workspace_per_thread) layer->workspace_per_thread = tiles;
        /* Inference keeps the transformed weights: at batch 1 transforming
         * them costs as much as a third of the layer's products. */
        layer->eval_constants = winograd_weight_floats(eval);
    }
    return 0;
}

/* Winograd's F(2×2, 3×3) (F(4×4, 3×3) in evaluation where it pays) for
 * the forward pass of 3×3 stride-1 convs: the
 * weights transformed (threads split the filters) into the shared workspace
 * every training forward, into the layer's constants once for inference;
 * then chunks of images in parallel. */
static void conv_winograd_forward(const cr_step *step, conv_dims d, float *y,
                                  const conv_epilogue *epilogue) {
    winograd_dims w = winograd_dims_of(d, step->training);
    float *u = step->constants ? step->constants : step->workspace;
    bool transform = !(step->constants && step->constants_ready);
    int chunk = winograd_run_chunk(w, d.batch, step->threads);
    int chunks = (d.batch + chunk - 1) / chunk;
#pragma omp parallel num_threads(step->threads)
    {
        int thread = omp_get_thread_num(), team = omp_get_num_threads();
        int64_t first, end;
        if (transform) {
            cr_thread_share(d.filters, thread, team, &first, &end);
            winograd_transform_weights(u, step->param[0], w, (int)first, (int)end);
#pragma omp barrier
        }
        cr_thread_share(chunks, thread, team, &first, &end);
        for (int64_t k = first; k < end; k++) {
            int image = (int)k * chunk, count = d.batch - image < chunk ? d.batch - image : chunk;
            winograd_forward(y, false, step->x[0], u, epilogue, image, count,
                             cr_thread_workspace(step, thread), w);
        }
    }
}

static void conv_forward_paths(const cr_step *step);

/* x: [N, C, H, W] -> y: [N, F, OH, OW] = act(weight ⊛ x + bias)
 * An activation whose derivative needs its input z (silu, gelu, hardswish)
 * runs after the convolution, once z is kept in saved for backward. */
static void conv_layer_forward(const cr_step *step) {
    const conv_config *cfg = step->layer->config;
    if (step->post_y || !cr_activation_needs_input(cfg->activation)) {
        conv_forward_paths(step);
        return;
    }
    int64_t n = step->batch * cr_shape_size(step->layer->out);
    conv_forward_paths(step);
    memcpy(step->saved, step->y, (size_t)n * sizeof(float));
    cr_activation_forward(step->y, n, cfg->activation, cr_activation_fused_param(cfg->activation));
}

/* The convolution itself, fused activation included unless it needs its
 * input. Chunks of images run in parallel, each with its own scratch. */
static void conv_forward_paths(const cr_step *step) {
    const cr_layer *layer = step->layer;
    const conv_config *cfg = layer->config;
    conv_dims d = conv_dims_of(layer, step->in_shapes[0], step->batch);
    conv_epilogue epilogue = {
        .bias = cfg->bias.enabled ? step->param[1] : NULL,
        .activation = cr_activation_needs_input(cfg->activation) ? CR_ACT_NONE : cfg->activation,
    };
    float *y = step->y;
    if (step->post_y) {
        /* A batchnorm (and relu) fused in evaluation mode: see cr_step. */
        epilogue.scale = step->post_scale;
        epilogue.shift = step->post_shift;
        epilogue.activation = step->post_activation;
        y = step->post_y;
    }
    if (conv_uses_winograd(d)) {
        conv_winograd_forward(step, d, y, &epilogue);
        return;
    }
    if (conv_uses_depthwise(d)) {
        conv_depthwise_forward(step, d, y, &epilogue);
        return;
    }
    if (conv_uses_pointwise(d)) {
        conv_pointwise_forward(step, d, y, &epilogue);
        return;
    }
    if (conv_uses_strided_pointwise(d)) {
        conv_strided_pointwise_forward(step, d, y, &epilogue);
        return;
    }
    int chunk = conv_run_chunk(d, step->threads);
    int chunks = (d.batch + chunk - 1) / chunk;
#pragma omp parallel num_threads(step->threads)
    {
        int thread = omp_get_thread_num();
        conv_scratch scratch;
        conv_scratch_floats(d, conv_chunk_images(d), &scratch, cr_thread_workspace(step, thread));
        int64_t first_chunk, end_chunk;
        cr_thread_share(chunks, thread, omp_get_num_threads(), &first_chunk, &end_chunk);
        for (int64_t k = first_chunk; k < end_chunk; k++) {
            int first = (int)k * chunk, count = d.batch - first < chunk ? d.batch - first : chunk;
            conv_forward_chunk(y, step->x[0], step->param[0], &epilogue, first, count, scratch, d);
        }
    }
}

/* dweight and dbias = the sum of the team's partial sums (each thread's
 * conv_scratch), in thread order; called by every thread of the team after a
 * barrier. */
static void conv_reduce_partials(const cr_step *step, float *dweight, int64_t weight_count,
                                 float *dbias, int filters, int team) {
    conv_dims d = conv_dims_of(step->layer, step->in_shapes[0], step->batch);
    conv_scratch first_scratch;
    conv_scratch_floats(d, conv_chunk_images(d), &first_scratch, cr_thread_workspace(step, 0));
    int64_t stride = step->thread_workspace_stride;
    if (dweight)
        cr_sum_thread_partials_in_team(dweight, first_scratch.dweight, weight_count, team, stride);
    if (dbias) cr_sum_thread_partials_in_team(dbias, first_scratch.dbias, filters, team, stride);
}

/* dy: [N, F, OH, OW] -> dx += ..., dweight, dbias (OVERWRITTEN).
 * Each thread sums its chunks' parameter gradients in its own scratch; the
 * partial sums are then added in thread order (deterministic for a given
 * thread count). */
static void conv_layer_backward(const cr_step *step) {
    const cr_layer *layer = step->layer;
    const conv_config *cfg = layer->config;
    conv_dims d = conv_dims_of(layer, step->in_shapes[0], step->batch);
    float *dweight = step->dparam[0], *dbias = cfg->bias.enabled ? step->dparam[1] : NULL;
    const float *at = cr_activation_needs_input(cfg->activation) ? step->saved : step->y;
    if (conv_uses_depthwise(d)) {
        conv_depthwise_backward(step, d, cfg->activation, at, dweight, dbias);
        return;
    }
    if (conv_uses_pointwise(d)) {
        conv_pointwise_backward(step, d, cfg->activation, at, dweight, dbias);
        return;
    }
    if (conv_uses_strided_pointwise(d)) {
        conv_strided_pointwise_backward(step, d, cfg->activation, at, dweight, dbias);
        return;
    }
    int64_t weight_count = layer->params[0].count;
    int chunk = conv_run_chunk(d, step->threads);
    int chunks = (d.batch + chunk - 1) / chunk;
    bool winograd_dx = step->dx[0] && conv_uses_winograd_dx(d, cfg->activation);
    winograd_dims back = winograd_backward_dims(d);
    float *u = step->workspace;
#pragma omp parallel num_threads(step->threads)
    {
        int thread = omp_get_thread_num(), team = omp_get_num_threads();
        if (winograd_dx) {
            int64_t first, end;
            cr_thread_share(d.channels, thread, team, &first, &end);
            winograd_transform_weights_flipped(u, step->param[0], back, (int)first, (int)end);
#pragma omp barrier
        }
        conv_scratch scratch;
        float *tiles = cr_thread_workspace(step, thread) +
                       conv_scratch_floats(d, conv_chunk_images(d), &scratch,
                                           cr_thread_workspace(step, thread));
        if (dweight) memset(scratch.dweight, 0, (size_t)weight_count * sizeof(float));
        if (dbias) memset(scratch.dbias, 0, (size_t)d.filters * sizeof(float));
        int64_t first_chunk, end_chunk;
        cr_thread_share(chunks, thread, omp_get_num_threads(), &first_chunk, &end_chunk);
        for (int64_t k = first_chunk; k < end_chunk; k++) {
            int first = (int)k * chunk, count = d.batch - first < chunk ? d.batch - first : chunk;
            conv_backward_chunk(winograd_dx ? NULL : step->dx[0], step->dx_assign, dweight != NULL,
                                dbias != NULL, step->dy, at, step->x[0], step->param[0],
                                cfg->activation, first, count, scratch, d);
            if (winograd_dx)
                winograd_forward(step->dx[0], !step->dx_assign, step->dy, u, NULL, first, count,
                                 tiles, back);
        }
        /* The partial sums, added in thread order by the same team. */
#pragma omp barrier
        conv_reduce_partials(step, dweight, weight_count, dbias, d.filters, team);
    }
}

/* The cblas_sgemm calls conv_forward_chunk and conv_backward_chunk make: one
 * per group for each chunk of images (conv_run_chunk), the last chunk holding
 * the rest of the batch. Keep in step with them. */
/* Appends `pass`'s products for a batch split into chunks of `chunk` images:
 * per full chunk and for the remainder, `per_chunk` calls of m × (images ·
 * columns_per_image) × k (or, for backward-weights, m × k × that). */
static int add_chunked(cr_gemm *out, int written, int max, const char *pass, bool trans_a,
                       bool trans_b, int m, int k, int columns_per_image, int batch, int chunk,
                       int per_chunk) {
    int images[2] = {chunk, batch % chunk}, calls[2] = {batch / chunk, 1};
    for (int c = 0; c < 2 && written < max; c++) {
        if (images[c] == 0) continue;
        int columns = images[c] * columns_per_image;
        bool weights = strcmp(pass, "backward-weights") == 0;
        out[written++] = (cr_gemm){pass,
                                   trans_a,
                                   trans_b,
                                   m,
                                   weights ? k : columns,
                                   weights ? columns : k,
                                   calls[c] * per_chunk,
                                   false};
    }
    return written;
}

/* The cblas_sgemm calls forward and backward make (bench's sgemm ceiling):
 * keep in step with conv_forward_chunk, conv_backward_chunk,
 * winograd_forward, conv_pointwise.c and conv_strided_pointwise.c. */
static int conv_gemms(const cr_layer *layer, const cr_shape *in, int batch, cr_gemm *out, int max) {
    const conv_config *cfg = layer->config;
    conv_dims d = conv_dims_of(layer, in[0], batch);
    int threads = cr_threads(), spatial = d.out_height * d.out_width;
    int filters_per_group = d.filters / d.groups;
    int patch = d.channels / d.groups * d.kernel_h * d.kernel_w;
    /* The strided 1×1 path makes the im2col path's products (its column
     * matrix has C/G·1·1 rows too), on chunks of its own size. */
    int chunk = conv_uses_strided_pointwise(d) ? conv_strided_pointwise_chunk(d, threads)
                                               : conv_run_chunk(d, threads);
    int written = 0;
    if (conv_uses_depthwise(d)) return 0; /* direct loops, no products */
    if (conv_uses_pointwise(d)) return conv_pointwise_gemms(d, cfg->trainable, threads, out, max);
    if (conv_uses_winograd(d)) {
        winograd_dims w = winograd_dims_of(d, true);
        written = add_chunked(out, written, max, "forward", false, false, d.filters, d.channels,
                              (int)winograd_tiles(w), batch, winograd_run_chunk(w, batch, threads),
                              winograd_positions(w));
    } else {
        written = add_chunked(out, written, max, "forward", false, false, filters_per_group, patch,
                              spatial, batch, chunk, d.groups);
    }
    if (cfg->trainable)
        written = add_chunked(out, written, max, "backward-weights", false, true, filters_per_group,
                              patch, spatial, batch, chunk, d.groups);
    if (conv_uses_winograd_dx(d, cfg->activation)) {
        winograd_dims back = winograd_backward_dims(d);
        written =
            add_chunked(out, written, max, "backward-input", false, false, d.channels, d.filters,
                        (int)winograd_tiles(back), batch, chunk, winograd_positions(back));
    } else {
        written = add_chunked(out, written, max, "backward-input", true, false, patch,
                              filters_per_group, spatial, batch, chunk, d.groups);
    }
    return written;
}

/* Conv (groups, dilation, pads [top, left, bottom, right]), then the fused activation
 * as a node of its own ("<layer>/<activation>"). */
static int conv_export_onnx(const cr_layer *layer, cr_onnx_builder *b) {
    const conv_config *cfg = layer->config;
    bool fused = cfg->activation != CR_ACT_NONE;
    const char *z = fused ? cr_onnx_value(b, "conv") : cr_onnx_output(b);
    const char *x = cr_onnx_input_4d(b, 0), *weight = cr_onnx_param(b, 0);
    cr_onnx_node *node =
        cfg->bias.enabled ? cr_onnx_node_add(b, "Conv", NULL, z, 3, x, weight, cr_onnx_param(b, 1))
                          : cr_onnx_node_add(b, "Conv", NULL, z, 2, x, weight);
    cr_onnx_window_attrs(b, node, cfg->kernel, cfg->stride, cfg->padding.size);
    cr_onnx_attr_int(b, node, "group", cfg->groups);
    int64_t dilations[2] = {cfg->dilation[0], cfg->dilation[1]};
    cr_onnx_attr_ints(b, node, "dilations", 2, dilations);
    if (!fused) return 0;
    return cr_onnx_activation(b, cfg->activation, cr_activation_fused_param(cfg->activation), z,
                              cr_onnx_output(b), cr_activation_name(cfg->activation));
}

/* The evaluation epilogue (cr_step's post_*) replaces the conv's own
 * activation: a conv with one keeps it and is not fused. */
static bool conv_takes_epilogue(const cr_layer *layer) {
    return ((const conv_config *)layer->config)->activation == CR_ACT_NONE;
}

const cr_layer_kind cr_conv_kind = {
    .export_onnx = conv_export_onnx,
    .name = "conv",
    .description = "2-D convolution with groups, bias and a fused activation (PyTorch's Conv2d): "
                   "[C, H, W] -> [filters, OH, OW]",
    .keys = conv_keys,
    .n_keys = sizeof conv_keys / sizeof conv_keys[0],
    .config_size = sizeof(conv_config),
    .infer = conv_infer,
    .forward = conv_layer_forward,
    .backward = conv_layer_backward,
    .assigns_dx = true,
    .gemms = conv_gemms,
    .has_filters = true,
    .takes_epilogue = conv_takes_epilogue,
};
