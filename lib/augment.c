/* Augmentation steps (augment.h): one function per step, each [C, H, W]
 * floats in [0, 1], drawing from the image's own stream. */
#include "augment.h"

#include <math.h>
#include <string.h>

#include <stb/stb_image_resize.h>

#include "random.h"

#define PI 3.14159265358979323846

const char *const cr_augment_names[CR_AUG_KINDS] = {
    [CR_AUG_RANDOM_RESIZED_CROP] = "random_resized_crop",
    [CR_AUG_PAD_CROP] = "pad_crop",
    [CR_AUG_ROTATE] = "rotate",
    [CR_AUG_COLOR_JITTER] = "color_jitter",
    [CR_AUG_HFLIP] = "hflip",
    [CR_AUG_VFLIP] = "vflip",
    [CR_AUG_CUTOUT] = "cutout",
    [CR_AUG_MIXUP] = "mixup",
    [CR_AUG_CUTMIX] = "cutmix",
};

cr_augment_step cr_augment_default(cr_augment_kind kind) {
    cr_augment_step step = {.kind = kind, .p = 0.5f, .alpha = 1.0f, .size = 8, .count = 1};
    step.scale[0] = 0.08f;
    step.scale[1] = 1.0f;
    step.ratio[0] = 3.0f / 4.0f;
    step.ratio[1] = 4.0f / 3.0f;
    if (kind == CR_AUG_CUTOUT) step.p = 1.0f;
    return step;
}

bool cr_augment_is_batch_level(cr_augment_kind kind) {
    return kind == CR_AUG_MIXUP || kind == CR_AUG_CUTMIX;
}

bool cr_augment_mixes(const cr_augment *augment) {
    for (int i = 0; augment && i < augment->count; i++)
        if (cr_augment_is_batch_level(augment->steps[i].kind)) return true;
    return false;
}

/* ---- streams ------------------------------------------------------------------------ */

/* Two rounds of splitmix64's finaliser over the mixed-in numbers: nearby
 * (epoch, index) pairs get unrelated streams. */
static uint64_t derive(uint64_t root, uint64_t salt, int64_t a, int64_t b) {
    uint64_t state = root ^ salt ^ ((uint64_t)a * 0x9E3779B97F4A7C15ULL);
    uint64_t first = cr_random_next(&state);
    state = first ^ ((uint64_t)b * 0xD1B54A32D192ED03ULL);
    return cr_random_next(&state);
}

/* The constant keeps it apart from the other streams seeded with `seed`. */
uint64_t cr_augment_root(uint64_t seed) {
    uint64_t state = seed ^ 0xA0761D6478BD642FULL;
    return cr_random_next(&state);
}

uint64_t cr_augment_image_stream(uint64_t root, int64_t epoch, int64_t index) {
    return derive(root, 0x696d616765ULL /* "image" */, epoch, index);
}

uint64_t cr_augment_batch_stream(uint64_t root, int64_t epoch, int64_t step) {
    return derive(root, 0x6261746368ULL /* "batch" */, epoch, step);
}

/* Uniform in [low, high) from 24 random bits, as torch.empty(1).uniform_. */
static float uniform_between(uint64_t *rng, float low, float high) {
    return low + (high - low) * cr_random_uniform(rng);
}

/* ---- scratch ------------------------------------------------------------------------ */

size_t cr_augment_scratch_floats(int channels, int height, int width) {
    return 2 * (size_t)channels * height * width;
}

size_t cr_augment_scratch_bytes(int channels, int height, int width) {
    return (size_t)channels * height * width;
}

/* ---- random_resized_crop ------------------------------------------------------------ */

void cr_random_resized_crop_box(const float scale[2], const float ratio[2], int height, int width,
                                uint64_t *rng, int box[4]) {
    double area = (double)height * width;
    double log_low = log(ratio[0]), log_high = log(ratio[1]);
    for (int attempt = 0; attempt < 10; attempt++) {
        double target = area * uniform_between(rng, scale[0], scale[1]);
        double aspect = exp(log_low + (log_high - log_low) * cr_random_uniform(rng));
        int w = (int)lround(sqrt(target * aspect));
        int h = (int)lround(sqrt(target / aspect));
        if (w > 0 && w <= width && h > 0 && h <= height) {
            box[0] = (int)cr_random_below(rng, (uint64_t)(height - h + 1));
            box[1] = (int)cr_random_below(rng, (uint64_t)(width - w + 1));
            box[2] = h;
            box[3] = w;
            return;
        }
    }
    /* The fallback: the whole image, trimmed to the nearest allowed ratio. */
    double in_ratio = (double)width / height;
    int w = width, h = height;
    if (in_ratio < ratio[0]) {
        h = (int)lround(w / (double)ratio[0]);
    } else if (in_ratio > ratio[1]) {
        w = (int)lround(h * (double)ratio[1]);
    }
    box[0] = (height - h) / 2;
    box[1] = (width - w) / 2;
    box[2] = h;
    box[3] = w;
}

/* bytes [C, source_h, source_w], box (top, left, h, w) -> bytes [C, H, W]:
 * copied when the box already has the output's size, else resampled plane
 * by plane with stb_image_resize's defaults (the input's stride skips what
 * is outside the box). */
static int crop_resize(const uint8_t *source, int channels, int source_h, int source_w,
                       const int box[4], int height, int width, uint8_t *out) {
    for (int c = 0; c < channels; c++) {
        const uint8_t *plane = source + (size_t)c * source_h * source_w;
        const uint8_t *corner = plane + (size_t)box[0] * source_w + box[1];
        uint8_t *to = out + (size_t)c * height * width;
        if (box[2] == height && box[3] == width) {
            for (int y = 0; y < height; y++)
                memcpy(to + (size_t)y * width, corner + (size_t)y * source_w, (size_t)width);
            continue;
        }
        if (!stbir_resize_uint8(corner, box[3], box[2], source_w, to, width, height, width, 1))
            return 1;
    }
    return 0;
}

/* ---- per-image steps on floats [C, H, W] in [0, 1] ---------------------------------- */

typedef struct image {
    float *x; /* [C, H, W] */
    int channels, height, width;
} image;

/* RandomCrop(H×W, padding=p): the image shifted by (dy, dx) in [-p, p],
 * black where the shift uncovers the padding. Draws row, then column. */
static void pad_crop(image *im, int padding, uint64_t *rng, float *spare) {
    int dy = (int)cr_random_below(rng, 2 * (uint64_t)padding + 1) - padding;
    int dx = (int)cr_random_below(rng, 2 * (uint64_t)padding + 1) - padding;
    for (int c = 0; c < im->channels; c++)
        for (int y = 0; y < im->height; y++)
            for (int x = 0; x < im->width; x++) {
                int from_y = y + dy, from_x = x + dx;
                bool inside =
                    from_y >= 0 && from_y < im->height && from_x >= 0 && from_x < im->width;
                spare[((size_t)c * im->height + y) * im->width + x] =
                    inside ? im->x[((size_t)c * im->height + from_y) * im->width + from_x] : 0.0f;
            }
    memcpy(im->x, spare, sizeof(float) * (size_t)im->channels * im->height * im->width);
}

static void hflip(image *im) {
    for (int row = 0; row < im->channels * im->height; row++) {
        float *r = im->x + (size_t)row * im->width;
        for (int x = 0; x < im->width / 2; x++) {
            float swap = r[x];
            r[x] = r[im->width - 1 - x];
            r[im->width - 1 - x] = swap;
        }
    }
}

static void vflip(image *im) {
    for (int c = 0; c < im->channels; c++) {
        float *plane = im->x + (size_t)c * im->height * im->width;
        for (int y = 0; y < im->height / 2; y++) {
            float *top = plane + (size_t)y * im->width;
            float *bottom = plane + (size_t)(im->height - 1 - y) * im->width;
            for (int x = 0; x < im->width; x++) {
                float swap = top[x];
                top[x] = bottom[x];
                bottom[x] = swap;
            }
        }
    }
}

/* RandomRotation(degrees) with nearest interpolation and fill 0: a
 * positive angle turns the picture counter-clockwise about the centre
 * ((W − 1)/2, (H − 1)/2); each output pixel reads the source pixel nearest
 * to its position turned back. */
void cr_augment_rotate(float *x, int channels, int height, int width, double degrees,
                       float *spare) {
    image whole = {.x = x, .channels = channels, .height = height, .width = width};
    image *im = &whole;
    double radians = degrees * (PI / 180.0);
    double cosine = cos(radians), sine = sin(radians);
    /* Exact quarter turns: no rounding noise from cos(90°) ≈ 6e-17. */
    if (fabs(cosine) < 1e-12) cosine = 0.0;
    if (fabs(sine) < 1e-12) sine = 0.0;
    double cx = (im->width - 1) / 2.0, cy = (im->height - 1) / 2.0;
    size_t plane = (size_t)im->height * im->width;
    for (int y = 0; y < im->height; y++)
        for (int x = 0; x < im->width; x++) {
            double dx = x - cx, dy = y - cy;
            long from_x = lrint(cx + cosine * dx - sine * dy);
            long from_y = lrint(cy + sine * dx + cosine * dy);
            bool inside = from_x >= 0 && from_x < im->width && from_y >= 0 && from_y < im->height;
            for (int c = 0; c < im->channels; c++)
                spare[c * plane + (size_t)y * im->width + x] =
                    inside ? im->x[c * plane + (size_t)from_y * im->width + from_x] : 0.0f;
        }
    memcpy(im->x, spare, sizeof(float) * im->channels * plane);
}

static float clamp_unit(float v) {
    return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
}

/* torchvision's _blend: factor × x + (1 − factor) × other, clamped to [0, 1]. */
static float blend(float x, float other, float factor) {
    return clamp_unit(factor * x + (1.0f - factor) * other);
}

/* torchvision rgb_to_grayscale's weights for float images (0.2989, not 0.299). */
static float grey_at(const image *im, size_t p) {
    size_t plane = (size_t)im->height * im->width;
    return 0.2989f * im->x[p] + 0.587f * im->x[plane + p] + 0.114f * im->x[2 * plane + p];
}

static void adjust_brightness(image *im, float factor) {
    size_t n = (size_t)im->channels * im->height * im->width;
    for (size_t i = 0; i < n; i++) im->x[i] = blend(im->x[i], 0.0f, factor);
}

/* Towards the mean grey level of the whole image. */
static void adjust_contrast(image *im, float factor) {
    size_t plane = (size_t)im->height * im->width;
    double sum = 0.0;
    for (size_t p = 0; p < plane; p++) sum += im->channels == 3 ? grey_at(im, p) : im->x[p];
    float mean = (float)(sum / (double)plane);
    for (size_t i = 0; i < plane * im->channels; i++) im->x[i] = blend(im->x[i], mean, factor);
}

/* Towards each pixel's grey; a grey image has no saturation to change. */
static void adjust_saturation(image *im, float factor) {
    if (im->channels != 3) return;
    size_t plane = (size_t)im->height * im->width;
    for (size_t p = 0; p < plane; p++) {
        float grey = grey_at(im, p);
        for (int c = 0; c < 3; c++)
            im->x[c * plane + p] = blend(im->x[c * plane + p], grey, factor);
    }
}

void cr_augment_adjust(float *x, int channels, int height, int width, int which, float factor) {
    image im = {.x = x, .channels = channels, .height = height, .width = width};
    if (which == 0) adjust_brightness(&im, factor);
    if (which == 1) adjust_contrast(&im, factor);
    if (which == 2) adjust_saturation(&im, factor);
}

/* ColorJitter: the three adjustments in a random order (torchvision draws
 * the order first, then each factor uniform in [max(0, 1 − v), 1 + v]). */
static void color_jitter(image *im, const cr_augment_step *step, uint64_t *rng) {
    int order[3] = {0, 1, 2};
    for (int i = 2; i > 0; i--) {
        int j = (int)cr_random_below(rng, (uint64_t)i + 1);
        int swap = order[i];
        order[i] = order[j];
        order[j] = swap;
    }
    const float amounts[3] = {step->brightness, step->contrast, step->saturation};
    float factors[3];
    for (int k = 0; k < 3; k++) {
        float low = amounts[k] < 1.0f ? 1.0f - amounts[k] : 0.0f;
        factors[k] = amounts[k] > 0 ? uniform_between(rng, low, 1.0f + amounts[k]) : 1.0f;
    }
    for (int i = 0; i < 3; i++) {
        int k = order[i];
        if (amounts[k] <= 0) continue;
        if (k == 0) adjust_brightness(im, factors[k]);
        if (k == 1) adjust_contrast(im, factors[k]);
        if (k == 2) adjust_saturation(im, factors[k]);
    }
}

/* Fills [top, bottom) × [left, right), clipped to the image, with fill[c]. */
static void fill_box(image *im, int top, int left, int bottom, int right, const float *fill) {
    top = top < 0 ? 0 : top;
    left = left < 0 ? 0 : left;
    bottom = bottom > im->height ? im->height : bottom;
    right = right > im->width ? im->width : right;
    for (int c = 0; c < im->channels; c++)
        for (int y = top; y < bottom; y++)
            for (int x = left; x < right; x++)
                im->x[((size_t)c * im->height + y) * im->width + x] = fill[c];
}

/* Cutout (DeVries & Taylor 2017): `count` squares of size × size centred on
 * uniformly drawn pixels (clipped at the border) take the mean colour, which
 * is 0 after normalisation. */
static void cutout(image *im, const cr_augment_step *step, const float *mean, uint64_t *rng) {
    if (!(cr_random_uniform(rng) < step->p)) return;
    for (int k = 0; k < step->count; k++) {
        int cy = (int)cr_random_below(rng, (uint64_t)im->height);
        int cx = (int)cr_random_below(rng, (uint64_t)im->width);
        int top = cy - step->size / 2, left = cx - step->size / 2;
        fill_box(im, top, left, top + step->size, left + step->size, mean);
    }
}

static bool chance(uint64_t *rng, float p) {
    return cr_random_uniform(rng) < p;
}

static void apply_step(image *im, const cr_augment_step *step, const float *mean, uint64_t *rng,
                       float *spare) {
    switch (step->kind) {
    case CR_AUG_PAD_CROP:
        if (step->padding > 0) pad_crop(im, step->padding, rng, spare);
        break;
    case CR_AUG_ROTATE:
        cr_augment_rotate(im->x, im->channels, im->height, im->width,
                          uniform_between(rng, -step->degrees, step->degrees), spare);
        break;
    case CR_AUG_COLOR_JITTER:
        color_jitter(im, step, rng);
        break;
    case CR_AUG_HFLIP:
        if (chance(rng, step->p)) hflip(im);
        break;
    case CR_AUG_VFLIP:
        if (chance(rng, step->p)) vflip(im);
        break;
    case CR_AUG_CUTOUT:
        cutout(im, step, mean, rng);
        break;
    case CR_AUG_RANDOM_RESIZED_CROP: /* on the bytes, before the others (see below) */
    case CR_AUG_MIXUP:               /* batch level */
    case CR_AUG_CUTMIX:
    case CR_AUG_KINDS:
        break;
    }
}

int cr_augment_image(const cr_augment *augment, const float *mean, const float *std,
                     const uint8_t *source, int channels, int source_h, int source_w, int height,
                     int width, uint64_t stream, float *float_scratch, uint8_t *byte_scratch,
                     float *out) {
    uint64_t rng = stream;
    int first = 0;
    int box[4] = {0, 0, source_h, source_w};
    /* The crop chooses its box in the source image, whatever its size: the
     * parser keeps it first in the list. */
    if (augment && augment->count > 0 && augment->steps[0].kind == CR_AUG_RANDOM_RESIZED_CROP) {
        cr_random_resized_crop_box(augment->steps[0].scale, augment->steps[0].ratio, source_h,
                                   source_w, &rng, box);
        first = 1;
    }
    const uint8_t *bytes = source;
    if (box[2] != height || box[3] != width || source_h != height || source_w != width) {
        if (crop_resize(source, channels, source_h, source_w, box, height, width, byte_scratch))
            return 1;
        bytes = byte_scratch;
    }
    size_t plane = (size_t)height * width;
    image im = {.x = float_scratch, .channels = channels, .height = height, .width = width};
    for (size_t i = 0; i < plane * channels; i++) im.x[i] = (float)bytes[i] / 255.0f;
    float fill[4] = {0};
    for (int c = 0; c < channels && c < 4; c++) fill[c] = mean ? mean[c] : 0.0f;
    for (int s = first; augment && s < augment->count; s++)
        apply_step(&im, &augment->steps[s], fill, &rng, float_scratch + plane * channels);
    /* Normalize, as data.c's table computes it: (x − mean) / std in float. */
    for (int c = 0; c < channels; c++) {
        float m = c < 4 ? fill[c] : 0.0f;
        float s = std && c < 4 && std[c] != 0.0f ? std[c] : 1.0f;
        for (size_t p = 0; p < plane; p++) out[c * plane + p] = (im.x[c * plane + p] - m) / s;
    }
    return 0;
}

/* ---- batch level -------------------------------------------------------------------- */

/* Gamma(shape, 1) by Marsaglia and Tsang (2000), with the usual boost
 * U^(1/shape) for shape < 1. Normal draws by Box–Muller. Written here
 * rather than taken from a library so that every draw comes from the run's
 * own checkpointed splitmix64 stream. */
static double random_normal(uint64_t *rng) {
    double u1 = ((double)(cr_random_next(rng) >> 11) + 1.0) * 0x1.0p-53; /* (0, 1] */
    double u2 = (double)(cr_random_next(rng) >> 11) * 0x1.0p-53;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * PI * u2);
}

static double random_gamma(uint64_t *rng, double shape) {
    if (shape < 1.0) {
        double u = ((double)(cr_random_next(rng) >> 11) + 1.0) * 0x1.0p-53;
        return random_gamma(rng, shape + 1.0) * pow(u, 1.0 / shape);
    }
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double z = random_normal(rng), v = 1.0 + c * z;
        if (v <= 0) continue;
        v = v * v * v;
        double u = ((double)(cr_random_next(rng) >> 11) + 1.0) * 0x1.0p-53;
        if (log(u) < 0.5 * z * z + d - d * v + d * log(v)) return d * v;
    }
}

double cr_random_beta(uint64_t *rng, double alpha) {
    double a = random_gamma(rng, alpha), b = random_gamma(rng, alpha);
    return a + b > 0 ? a / (a + b) : 0.5;
}

/* Rows i and n − 1 − i of rows[n, size] (images, or target rows) become
 * λ·row_i + (1 − λ)·row_(n−1−i) and the mirror: each pair read before it
 * is written. An odd batch's middle row is its own partner. */
static void mix_rows(int n, size_t size, double lambda, float *rows) {
    for (int i = 0; i < n / 2; i++) {
        float *a = rows + (size_t)i * size, *b = rows + (size_t)(n - 1 - i) * size;
        for (size_t k = 0; k < size; k++) {
            float xa = a[k], xb = b[k];
            a[k] = (float)(lambda * xa + (1.0 - lambda) * xb);
            b[k] = (float)(lambda * xb + (1.0 - lambda) * xa);
        }
    }
}

/* CutMix (Yun et al. 2019): one box of area (1 − λ) × H × W at a uniformly
 * drawn centre, clipped; image i takes the box from image n − 1 − i, and λ
 * becomes the part of the image that is still its own. */
static double cutmix(int n, int channels, int height, int width, double lambda, uint64_t *rng,
                     float *images) {
    double cut = sqrt(1.0 - lambda);
    int box_h = (int)(height * cut), box_w = (int)(width * cut);
    int cy = (int)cr_random_below(rng, (uint64_t)height);
    int cx = (int)cr_random_below(rng, (uint64_t)width);
    int top = cy - box_h / 2 < 0 ? 0 : cy - box_h / 2;
    int bottom = cy + box_h / 2 > height ? height : cy + box_h / 2;
    int left = cx - box_w / 2 < 0 ? 0 : cx - box_w / 2;
    int right = cx + box_w / 2 > width ? width : cx + box_w / 2;
    size_t image_size = (size_t)channels * height * width;
    for (int i = 0; i < n / 2; i++) {
        float *a = images + (size_t)i * image_size, *b = images + (size_t)(n - 1 - i) * image_size;
        for (int c = 0; c < channels; c++)
            for (int y = top; y < bottom; y++)
                for (int x = left; x < right; x++) {
                    size_t k = ((size_t)c * height + y) * width + x;
                    float swap = a[k];
                    a[k] = b[k];
                    b[k] = swap;
                }
    }
    return 1.0 - (double)(bottom - top) * (right - left) / ((double)height * width);
}

bool cr_augment_batch(const cr_augment *augment, int n, int channels, int height, int width,
                      int classes, uint64_t stream, float *images, float *targets) {
    const cr_augment_step *choices[2];
    int count = 0;
    for (int i = 0; augment && i < augment->count && count < 2; i++)
        if (cr_augment_is_batch_level(augment->steps[i].kind))
            choices[count++] = &augment->steps[i];
    if (count == 0 || n < 2) return false;
    uint64_t rng = stream;
    const cr_augment_step *step = count == 1 ? choices[0] : choices[cr_random_below(&rng, 2)];
    double lambda = cr_random_beta(&rng, step->alpha);
    if (step->kind == CR_AUG_CUTMIX)
        lambda = cutmix(n, channels, height, width, lambda, &rng, images);
    else
        mix_rows(n, (size_t)channels * height * width, lambda, images);
    mix_rows(n, (size_t)classes, lambda, targets);
    return true;
}
