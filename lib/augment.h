/* Augmentation: the train section's `augment:` list, applied in order to
 * each training image, then batch-level mixing (mixup, cutmix).
 *
 * Randomness: every image draws from its own splitmix64 stream derived from
 * (the run's augmentation root, epoch, the image's index in the data set),
 * and every batch's mixing from one derived from (root, epoch, step). No
 * stream depends on which thread prepares what or in which order, so the
 * batches are the same bytes with any number of loader threads, and a
 * resumed run (which knows its epoch and step) repeats them bit for bit.
 *
 * Images are worked on as floats in [0, 1] (byte / 255), [C, H, W], and
 * normalised ((x − mean) / std) after the last per-image step, exactly as
 * torchvision's transforms before Normalize; docs/training.md says what each
 * step does and how it differs from torchvision. */
#ifndef CNNRUN_AUGMENT_H
#define CNNRUN_AUGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum cr_augment_kind {
    CR_AUG_RANDOM_RESIZED_CROP, /* scale, ratio: torchvision's RandomResizedCrop */
    CR_AUG_PAD_CROP,            /* padding: RandomCrop(H×W, padding) (the old crop_padding) */
    CR_AUG_ROTATE,              /* degrees: RandomRotation(degrees), nearest, fill 0 */
    CR_AUG_COLOR_JITTER,        /* brightness, contrast, saturation: ColorJitter */
    CR_AUG_HFLIP,               /* p: RandomHorizontalFlip(p) */
    CR_AUG_VFLIP,               /* p: RandomVerticalFlip(p) */
    CR_AUG_CUTOUT,              /* p, size, count: DeVries & Taylor's cutout */
    CR_AUG_MIXUP,               /* alpha: batch level */
    CR_AUG_CUTMIX,              /* alpha: batch level */
    CR_AUG_KINDS
} cr_augment_kind;

typedef struct cr_augment_step {
    cr_augment_kind kind;
    float p;                                /* flips, cutout: probability of applying */
    float scale[2], ratio[2];               /* random_resized_crop */
    int padding;                            /* pad_crop */
    float degrees;                          /* rotate: angle uniform in [-degrees, degrees] */
    float brightness, contrast, saturation; /* color_jitter: factor in [max(0, 1 − v), 1 + v] */
    int size, count;                        /* cutout: squares of size×size, count of them */
    float alpha;                            /* mixup, cutmix: λ ~ Beta(alpha, alpha) */
} cr_augment_step;

#define CR_AUGMENT_MAX 16

typedef struct cr_augment {
    int count;
    cr_augment_step steps[CR_AUGMENT_MAX];
} cr_augment;

/* The step names as the train section spells them, by kind
 * ("random_resized_crop", ..., "pad_crop" for the old crop_padding). */
extern const char *const cr_augment_names[CR_AUG_KINDS];

/* A step with torchvision's defaults (scale [0.08, 1], ratio [3/4, 4/3],
 * p 0.5, cutout size 8 count 1 p 1, alpha 1; the rest 0). */
cr_augment_step cr_augment_default(cr_augment_kind kind);

/* Whether the kind works on whole batches (mixup, cutmix). */
bool cr_augment_is_batch_level(cr_augment_kind kind);
/* Whether any step is batch level: the loss then takes soft targets. */
bool cr_augment_mixes(const cr_augment *augment);

/* A run's augmentation root from its seed (a checkpoint stores it). */
uint64_t cr_augment_root(uint64_t seed);

/* The image's and the batch's streams (see the top of this file). */
uint64_t cr_augment_image_stream(uint64_t root, int64_t epoch, int64_t index);
uint64_t cr_augment_batch_stream(uint64_t root, int64_t epoch, int64_t step);

/* Floats and bytes of scratch cr_augment_image needs for an output of
 * [channels, height, width]. */
size_t cr_augment_scratch_floats(int channels, int height, int width);
size_t cr_augment_scratch_bytes(int channels, int height, int width);

/* torchvision's RandomResizedCrop.get_params: up to ten tries at an area
 * fraction from `scale` and a log-uniform aspect ratio from `ratio` that fit
 * in height × width, else the centre crop closest to `ratio`. Fills the box
 * (top, left, box_h, box_w). Draws 2 numbers a try, 2 more on success. */
void cr_random_resized_crop_box(const float scale[2], const float ratio[2], int height, int width,
                                uint64_t *rng, int box[4]);

/* Turns x [channels, height, width] by `degrees` (counter-clockwise, about
 * the centre, nearest pixel, black outside), as torchvision's rotate;
 * spare has as many floats as x. */
void cr_augment_rotate(float *x, int channels, int height, int width, double degrees, float *spare);

/* ColorJitter's three adjustments at a given factor on x [channels,
 * height, width] in [0, 1], as torchvision's adjust_brightness,
 * adjust_contrast and adjust_saturation (which: 0, 1, 2). */
void cr_augment_adjust(float *x, int channels, int height, int width, int which, float factor);

/* One image: bytes [channels, source_h, source_w] -> out [channels, height,
 * width] floats, augmented by the per-image steps from the image's stream
 * and normalised with mean[c] and std[c] (std 0 means 1). A source of
 * another size is resized to height × width (after random_resized_crop's box
 * when that is the first step). float_scratch and byte_scratch have the
 * sizes above. Returns 0, or 1 when stb_image_resize failed (no memory). */
int cr_augment_image(const cr_augment *augment, const float *mean, const float *std,
                     const uint8_t *source, int channels, int source_h, int source_w, int height,
                     int width, uint64_t stream, float *float_scratch, uint8_t *byte_scratch,
                     float *out);

/* The batch-level steps on images [n, channels, height, width] (already
 * normalised) and targets [n, classes], which come in one-hot and leave as
 * the mixed rows: image i is mixed with image n − 1 − i (the batch reversed,
 * as timm does), with λ ~ Beta(alpha, alpha) from the batch's stream. With
 * both mixup and cutmix listed, each batch takes one of them, chosen with
 * equal chance. Returns whether anything was mixed. */
bool cr_augment_batch(const cr_augment *augment, int n, int channels, int height, int width,
                      int classes, uint64_t stream, float *images, float *targets);

/* A Beta(alpha, alpha) draw from *rng (two Gamma draws, Marsaglia–Tsang). */
double cr_random_beta(uint64_t *rng, double alpha);

#endif
