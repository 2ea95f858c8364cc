/* upsample: enlarges each plane by whole factors — PyTorch's
 * nn.Upsample(scale_factor=(sh, sw), mode=...): `nearest` repeats each
 * pixel sh×sw times; `bilinear` interpolates with align_corners=False
 * (pixel centres: source = (dst + 0.5)/scale − 0.5, clamped at 0).
 *   x: [N, C, H, W] -> y: [N, C, H·sh, W·sw] */
#include <stddef.h>
#include <string.h>

#include "../layer.h"
#include "../onnx_build.h"

typedef enum upsample_mode { UPSAMPLE_NEAREST = 0, UPSAMPLE_BILINEAR } upsample_mode;

static const char *const upsample_modes[] = {"nearest", "bilinear"};

typedef struct upsample_config {
    int scale[2];     /* height, width */
    const char *mode; /* as written; NULL: nearest */
    upsample_mode resolved;
} upsample_config;

static const cr_key upsample_keys[] = {
    {"scale", CR_KEY_INT_PAIR, offsetof(upsample_config, scale), false, 2, 1, 4096,
     "integer factor: one number, or [height, width]"},
    {"mode", CR_KEY_STRING, offsetof(upsample_config, mode), false, 0, 0, 0,
     "nearest (default) or bilinear (align_corners false)"},
};

static int upsample_infer(cr_layer *layer, const cr_shape *in, cr_warnings *warnings,
                          cr_error *err) {
    (void)warnings;
    upsample_config *cfg = layer->config;
    if (!cfg->mode) cfg->mode = upsample_modes[UPSAMPLE_NEAREST];
    int found = -1;
    for (int i = 0; i < 2; i++)
        if (strcmp(cfg->mode, upsample_modes[i]) == 0) found = i;
    if (found < 0) {
        const char *near = cr_suggest(cfg->mode, upsample_modes, 2);
        return cr_fail(err, CR_ERR_INVALID, cr_layer_key_mark(layer, "mode"), layer->name,
                       "unknown mode '%s'%s%s%s (valid: nearest, bilinear)", cfg->mode,
                       near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "");
    }
    cfg->resolved = (upsample_mode)found;
    int64_t h = (int64_t)in[0].h * cfg->scale[0], w = (int64_t)in[0].w * cfg->scale[1];
    if (h > 1000000000 || w > 1000000000)
        return cr_fail(err, CR_ERR_INVALID, cr_layer_key_mark(layer, "scale"), layer->name,
                       "output %lld×%lld is too large", (long long)h, (long long)w);
    layer->out = (cr_shape){in[0].c, (int)h, (int)w};
    return 0;
}

/* Where output index `dst` reads along an axis of `size` inputs scaled by
 * `scale` (align_corners=False): inputs i0 and i1 with weights l0 and l1. */
typedef struct bilinear_tap {
    int i0, i1;
    float l0, l1;
} bilinear_tap;

static bilinear_tap bilinear_source(int dst, int scale, int size) {
    float source = ((float)dst + 0.5f) / (float)scale - 0.5f;
    if (source < 0.0f) source = 0.0f;
    int i0 = (int)source;
    int i1 = i0 + (i0 < size - 1 ? 1 : 0);
    float l1 = source - (float)i0;
    return (bilinear_tap){i0, i1, 1.0f - l1, l1};
}

/* One plane: x [H, W] -> y [OH, OW] */
static void upsample_plane(float *y, const float *x, cr_shape in, cr_shape out,
                           const upsample_config *cfg) {
    for (int oh = 0; oh < out.h; oh++) {
        float *row = y + (int64_t)oh * out.w;
        if (cfg->resolved == UPSAMPLE_NEAREST) {
            const float *source = x + (int64_t)(oh / cfg->scale[0]) * in.w;
            for (int ow = 0; ow < out.w; ow++) row[ow] = source[ow / cfg->scale[1]];
            continue;
        }
        bilinear_tap th = bilinear_source(oh, cfg->scale[0], in.h);
        const float *top = x + (int64_t)th.i0 * in.w, *bottom = x + (int64_t)th.i1 * in.w;
        for (int ow = 0; ow < out.w; ow++) {
            bilinear_tap tw = bilinear_source(ow, cfg->scale[1], in.w);
            row[ow] = th.l0 * (tw.l0 * top[tw.i0] + tw.l1 * top[tw.i1]) +
                      th.l1 * (tw.l0 * bottom[tw.i0] + tw.l1 * bottom[tw.i1]);
        }
    }
}

/* One plane's adjoint: dx [H, W] += the share of every dy [OH, OW] its
 * pixel contributed. */
static void upsample_plane_backward(float *dx, const float *dy, cr_shape in, cr_shape out,
                                    const upsample_config *cfg) {
    for (int oh = 0; oh < out.h; oh++) {
        const float *row = dy + (int64_t)oh * out.w;
        if (cfg->resolved == UPSAMPLE_NEAREST) {
            float *target = dx + (int64_t)(oh / cfg->scale[0]) * in.w;
            for (int ow = 0; ow < out.w; ow++) target[ow / cfg->scale[1]] += row[ow];
            continue;
        }
        bilinear_tap th = bilinear_source(oh, cfg->scale[0], in.h);
        float *top = dx + (int64_t)th.i0 * in.w, *bottom = dx + (int64_t)th.i1 * in.w;
        for (int ow = 0; ow < out.w; ow++) {
            bilinear_tap tw = bilinear_source(ow, cfg->scale[1], in.w);
            top[tw.i0] += th.l0 * tw.l0 * row[ow];
            top[tw.i1] += th.l0 * tw.l1 * row[ow];
            bottom[tw.i0] += th.l1 * tw.l0 * row[ow];
            bottom[tw.i1] += th.l1 * tw.l1 * row[ow];
        }
    }
}

/* x: [N, C, H, W] -> y: [N, C, OH, OW], planes in parallel */
static void upsample_forward(const cr_step *step) {
    const upsample_config *cfg = step->layer->config;
    cr_shape in = step->in_shapes[0], out = step->layer->out;
    int64_t planes = (int64_t)step->batch * in.c;
    int64_t in_plane = (int64_t)in.h * in.w, out_plane = (int64_t)out.h * out.w;
#pragma omp parallel for num_threads(step->threads) schedule(static)
    for (int64_t p = 0; p < planes; p++)
        upsample_plane(step->y + p * out_plane, step->x[0] + p * in_plane, in, out, cfg);
}

/* dy: [N, C, OH, OW] -> dx: [N, C, H, W] += (ACCUMULATED, or OVERWRITTEN with dx_assign) */
static void upsample_backward(const cr_step *step) {
    if (!step->dx[0]) return;
    const upsample_config *cfg = step->layer->config;
    cr_shape in = step->in_shapes[0], out = step->layer->out;
    int64_t planes = (int64_t)step->batch * in.c;
    int64_t in_plane = (int64_t)in.h * in.w, out_plane = (int64_t)out.h * out.w;
#pragma omp parallel for num_threads(step->threads) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        float *dx = step->dx[0] + p * in_plane;
        if (step->dx_assign) memset(dx, 0, (size_t)in_plane * sizeof *dx);
        upsample_plane_backward(dx, step->dy + p * out_plane, in, out, cfg);
    }
}

/* Resize by [1, 1, sh, sw]: nearest as PyTorch picks (asymmetric
 * coordinates, floor), bilinear with align_corners=False
 * (pytorch_half_pixel). */
static int upsample_export_onnx(const cr_layer *layer, cr_onnx_builder *b) {
    const upsample_config *cfg = layer->config;
    float scales[4] = {1.0f, 1.0f, (float)cfg->scale[0], (float)cfg->scale[1]};
    int64_t dims[1] = {4};
    bool nearest = cfg->resolved == UPSAMPLE_NEAREST;
    cr_onnx_node *node =
        cr_onnx_node_add(b, "Resize", NULL, cr_onnx_output(b), 3, cr_onnx_input_4d(b, 0), "",
                         cr_onnx_floats(b, "scales", 1, dims, scales));
    cr_onnx_attr_string(b, node, "mode", nearest ? "nearest" : "linear");
    cr_onnx_attr_string(b, node, "coordinate_transformation_mode",
                        nearest ? "asymmetric" : "pytorch_half_pixel");
    if (nearest) cr_onnx_attr_string(b, node, "nearest_mode", "floor");
    return 0;
}

const cr_layer_kind cr_upsample_kind = {
    .export_onnx = upsample_export_onnx,
    .name = "upsample",
    .description = "repeats (nearest) or interpolates (bilinear) each map by an integer scale (PyTorch's Upsample)",
    .keys = upsample_keys,
    .n_keys = sizeof upsample_keys / sizeof upsample_keys[0],
    .config_size = sizeof(upsample_config),
    .infer = upsample_infer,
    .forward = upsample_forward,
    .backward = upsample_backward,
    .assigns_dx = true,
    .aliases = (const char *const[]){"upsampling2d", "interpolate", "resize", NULL},
};
