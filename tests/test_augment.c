/* Augmentation steps (lib/augment.c), the loader (lib/loader.c) and the
 * soft-target loss: hand-worked geometric cases, the crop box of
 * torchvision's RandomResizedCrop including its fallback, mixing of images
 * and labels, and the loader's promises: same seed same bytes, any thread
 * count the same bytes, a resumed epoch the same batches. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb/stb_image_write.h>

#include "augment.h"
#include "check.h"
#include "loader.h"
#include "net_fixture.h"
#include "random.h"
#include "train.h"
#include "train_config.h"

/* A one-step list. */
static cr_augment only(cr_augment_step step) {
    cr_augment list = {.count = 1};
    list.steps[0] = step;
    return list;
}

/* bytes -> floats in [0, 1] through cr_augment_image with mean 0, std 1. */
static void run_image(const cr_augment *list, const uint8_t *bytes, int channels, int height,
                      int width, int out_h, int out_w, uint64_t stream, float *out) {
    float scratch[2 * 3 * 16 * 16];
    uint8_t byte_scratch[3 * 16 * 16];
    CHECK_INT(cr_augment_image(list, NULL, NULL, bytes, channels, height, width, out_h, out_w,
                               stream, scratch, byte_scratch, out),
              0);
}

static void check_bytes(const char *what, const float *got, const uint8_t *expected, int count) {
    for (int i = 0; i < count; i++)
        if (got[i] != (float)expected[i] / 255.0f) {
            fprintf(stderr, "%s: element %d is %g, expected byte %d\n", what, i,
                    (double)got[i] * 255.0, expected[i]);
            CHECK(!"augmented as by hand");
            return;
        }
}

/* hflip and vflip with p 1 on a 2×3 image: rows reversed, then the row
 * order reversed. p 0 leaves it alone. */
static void test_flips(void) {
    const uint8_t image[6] = {1, 2, 3, 4, 5, 6}; /* rows [1 2 3], [4 5 6] */
    cr_augment_step flip = cr_augment_default(CR_AUG_HFLIP);
    flip.p = 1.0f;
    cr_augment list = only(flip);
    float out[6];
    run_image(&list, image, 1, 2, 3, 2, 3, 99, out);
    check_bytes("hflip", out, (const uint8_t[]){3, 2, 1, 6, 5, 4}, 6);
    list.steps[0].kind = CR_AUG_VFLIP;
    run_image(&list, image, 1, 2, 3, 2, 3, 99, out);
    check_bytes("vflip", out, (const uint8_t[]){4, 5, 6, 1, 2, 3}, 6);
    list.steps[0].p = 0.0f;
    run_image(&list, image, 1, 2, 3, 2, 3, 99, out);
    check_bytes("vflip p 0", out, image, 6);
}

/* 90° turns the picture counter-clockwise, as numpy's rot90 and
 * torchvision's rotate(90): [[1 2 3], [4 5 6], [7 8 9]] -> [[3 6 9],
 * [2 5 8], [1 4 7]]; 180° reverses; −90° is the other way. On a 2×4 image
 * 180° is exact too, and 90° leaves corners black (outside the source). */
static void test_rotate(void) {
    float x[9], spare[9];
    for (int i = 0; i < 9; i++) x[i] = (float)(i + 1);
    cr_augment_rotate(x, 1, 3, 3, 90.0, spare);
    const float quarter[9] = {3, 6, 9, 2, 5, 8, 1, 4, 7};
    CHECK(!memcmp(x, quarter, sizeof x));
    cr_augment_rotate(x, 1, 3, 3, -90.0, spare);
    for (int i = 0; i < 9; i++) CHECK(x[i] == (float)(i + 1));
    cr_augment_rotate(x, 1, 3, 3, 180.0, spare);
    for (int i = 0; i < 9; i++) CHECK(x[i] == (float)(9 - i));

    float wide[16], wide_spare[16]; /* two channels of 2×4 */
    for (int i = 0; i < 16; i++) wide[i] = (float)(i + 1);
    cr_augment_rotate(wide, 2, 2, 4, 180.0, wide_spare);
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 8; i++) CHECK(wide[c * 8 + i] == (float)(c * 8 + 8 - i));
    /* 0° is the identity. */
    cr_augment_rotate(wide, 2, 2, 4, 0.0, wide_spare);
    CHECK(wide[0] == 8.0f);
}

/* The box: torchvision's get_params. scale [1, 1], ratio [1, 1] on a 4×6
 * image asks for a 5×5 square (√24 rounded) that never fits, so after ten
 * tries comes the fallback: the image is wider (6/4) than ratio allows, so
 * h = 4 and w = round(4 × 1) = 4, centred: top 0, left 1. A square 4×4 box
 * of an 8×8 image (scale 1/4, ratio 1) fits at once, anywhere in [0, 4]². */
static void test_crop_box(void) {
    const float one[2] = {1.0f, 1.0f}, quarter[2] = {0.25f, 0.25f};
    uint64_t rng = 5, before = rng;
    int box[4];
    cr_random_resized_crop_box(one, one, 4, 6, &rng, box);
    CHECK_INT(box[0], 0);
    CHECK_INT(box[1], 1);
    CHECK_INT(box[2], 4);
    CHECK_INT(box[3], 4);
    /* ten tries, two draws each, were made */
    uint64_t tries = before;
    for (int i = 0; i < 20; i++) cr_random_next(&tries);
    CHECK(rng == tries);
    /* A tall image with ratio ≥ 2: the full width, h = round(w / 2). */
    const float wide_ratio[2] = {2.0f, 3.0f};
    cr_random_resized_crop_box(one, wide_ratio, 10, 4, &rng, box);
    CHECK_INT(box[2], 2);
    CHECK_INT(box[3], 4);
    CHECK_INT(box[0], 4); /* (10 − 2) / 2 */
    CHECK_INT(box[1], 0);

    int seen_top[5] = {0};
    for (int i = 0; i < 200; i++) {
        cr_random_resized_crop_box(quarter, one, 8, 8, &rng, box);
        CHECK(box[2] == 4 && box[3] == 4);
        CHECK(box[0] >= 0 && box[0] <= 4 && box[1] >= 0 && box[1] <= 4);
        if (box[0] >= 0 && box[0] <= 4) seen_top[box[0]]++;
    }
    for (int t = 0; t < 5; t++) CHECK(seen_top[t] > 0);

    /* Through cr_augment_image: an 8×8 source to a 4×4 output with that
     * box is the box's pixels exactly (no resampling at the same size). */
    uint8_t source[64];
    for (int i = 0; i < 64; i++) source[i] = (uint8_t)(i * 3);
    cr_augment_step step = cr_augment_default(CR_AUG_RANDOM_RESIZED_CROP);
    memcpy(step.scale, quarter, sizeof quarter);
    memcpy(step.ratio, one, sizeof one);
    cr_augment list = only(step);
    float out[16];
    uint64_t stream = cr_augment_image_stream(1, 2, 3), again = stream;
    run_image(&list, source, 1, 8, 8, 4, 4, stream, out);
    cr_random_resized_crop_box(quarter, one, 8, 8, &again, box);
    uint8_t expected[16];
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++) expected[y * 4 + x] = source[(box[0] + y) * 8 + box[1] + x];
    check_bytes("crop", out, expected, 16);

    /* A uniform source stays uniform through any resize. */
    uint8_t flat[64];
    memset(flat, 200, sizeof flat);
    list.steps[0].scale[0] = 0.3f;
    list.steps[0].scale[1] = 1.0f;
    float big[100];
    float scratch[200];
    uint8_t bytes[100];
    CHECK_INT(cr_augment_image(&list, NULL, NULL, flat, 1, 8, 8, 10, 10, 77, scratch, bytes, big),
              0);
    for (int i = 0; i < 100; i++) CHECK(big[i] == 200.0f / 255.0f);
}

/* Brightness alone multiplies every pixel by one factor in [0.5, 1.5]
 * (clamped at 1); contrast and saturation keep a flat grey image flat and
 * grey, at its level up to 1e-4 (torchvision's grey weights 0.2989, 0.587,
 * 0.114 sum to 0.9999, so its grey of v is 0.9999 v). */
static void test_color_jitter(void) {
    uint8_t rgb[12];
    for (int i = 0; i < 12; i++) rgb[i] = (uint8_t)(20 + i * 10);
    cr_augment_step step = cr_augment_default(CR_AUG_COLOR_JITTER);
    step.brightness = 0.5f;
    cr_augment list = only(step);
    float out[12];
    run_image(&list, rgb, 3, 2, 2, 2, 2, 11, out);
    float factor = out[0] / (20.0f / 255.0f);
    CHECK(factor >= 0.5f && factor <= 1.5f);
    for (int i = 0; i < 12; i++) {
        float want = factor * ((float)rgb[i] / 255.0f);
        CHECK_NEAR(out[i], want > 1.0f ? 1.0f : want, 1e-6);
    }
    uint8_t grey[12];
    for (int i = 0; i < 12; i++) grey[i] = 77;
    list.steps[0].brightness = 0;
    list.steps[0].saturation = 0.9f;
    list.steps[0].contrast = 0.9f;
    run_image(&list, grey, 3, 2, 2, 2, 2, 12, out);
    for (int i = 0; i < 12; i++) {
        CHECK_NEAR(out[i], 77.0 / 255.0, 1e-4);
        CHECK(out[i] == out[0]);
    }
}

/* Cutout of one 2×2 square on a 4×4 image: the pixels set to the mean are
 * 0 after normalising, between 1 (a corner clipped) and 4 of them, in a box. */
static void test_cutout(void) {
    uint8_t image[16];
    for (int i = 0; i < 16; i++) image[i] = (uint8_t)(100 + i);
    cr_augment_step step = cr_augment_default(CR_AUG_CUTOUT);
    step.size = 2;
    cr_augment list = only(step);
    float mean[1] = {0.25f}, std[1] = {0.5f}, out[16], scratch[32];
    uint8_t bytes[16];
    for (uint64_t s = 0; s < 20; s++) {
        CHECK_INT(cr_augment_image(&list, mean, std, image, 1, 4, 4, 4, 4, s, scratch, bytes, out),
                  0);
        int zeros = 0, top = 4, bottom = -1, left = 4, right = -1;
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++) {
                if (out[y * 4 + x] != 0.0f) {
                    float want = ((float)image[y * 4 + x] / 255.0f - 0.25f) / 0.5f;
                    CHECK(out[y * 4 + x] == want);
                    continue;
                }
                zeros++;
                top = y < top ? y : top;
                bottom = y > bottom ? y : bottom;
                left = x < left ? x : left;
                right = x > right ? x : right;
            }
        CHECK(zeros >= 1 && zeros <= 4);
        CHECK_INT(zeros, (bottom - top + 1) * (right - left + 1));
    }
}

/* Mixup of two images with labels 0 and 2 of 3 classes: image 0 becomes
 * λ·x0 + (1 − λ)·x1, its target [λ, 0, 1 − λ], and image 1 the mirror; the
 * same λ in both. Cutmix: the target's λ is the part of the image that is
 * still its own. */
static void test_mixing(void) {
    float images[2 * 4] = {1, 1, 1, 1, 0, 0, 0, 0};
    float targets[6] = {1, 0, 0, 0, 0, 1};
    cr_augment_step step = cr_augment_default(CR_AUG_MIXUP);
    step.alpha = 0.4f;
    cr_augment list = only(step);
    CHECK(cr_augment_batch(&list, 2, 1, 2, 2, 3, 123, images, targets));
    float lambda = targets[0];
    CHECK(lambda > 0.0f && lambda < 1.0f);
    CHECK_NEAR(targets[1], 0.0, 0);
    CHECK_NEAR(targets[2], 1.0 - lambda, 1e-6);
    CHECK_NEAR(targets[3], 1.0 - lambda, 1e-6);
    CHECK_NEAR(targets[5], lambda, 1e-6);
    for (int k = 0; k < 4; k++) {
        CHECK_NEAR(images[k], lambda, 1e-6);
        CHECK_NEAR(images[4 + k], 1.0 - lambda, 1e-6);
    }
    /* The batch's stream decides: the same stream, the same λ. */
    float again_images[8] = {1, 1, 1, 1, 0, 0, 0, 0}, again_targets[6] = {1, 0, 0, 0, 0, 1};
    cr_augment_batch(&list, 2, 1, 2, 2, 3, 123, again_images, again_targets);
    CHECK(!memcmp(again_targets, targets, sizeof targets));

    float cut_images[2 * 64], cut_targets[4] = {1, 0, 0, 1};
    for (int k = 0; k < 64; k++) {
        cut_images[k] = 1.0f;
        cut_images[64 + k] = 0.0f;
    }
    list.steps[0].kind = CR_AUG_CUTMIX;
    list.steps[0].alpha = 1.0f;
    CHECK(cr_augment_batch(&list, 2, 1, 8, 8, 2, 9, cut_images, cut_targets));
    int own = 0;
    for (int k = 0; k < 64; k++) own += cut_images[k] == 1.0f;
    CHECK_NEAR(cut_targets[0], own / 64.0, 1e-6);
    CHECK_NEAR(cut_targets[1], 1.0 - own / 64.0, 1e-6);
}

/* Beta(α, α) has mean ½ and variance 1 / (4(2α + 1)). */
static void test_beta(void) {
    const double alphas[3] = {0.2, 1.0, 4.0};
    for (int a = 0; a < 3; a++) {
        uint64_t rng = 17;
        double sum = 0, squares = 0;
        const int n = 40000;
        for (int i = 0; i < n; i++) {
            double x = cr_random_beta(&rng, alphas[a]);
            CHECK(x >= 0.0 && x <= 1.0);
            sum += x;
            squares += x * x;
        }
        double mean = sum / n, variance = squares / n - mean * mean;
        CHECK_NEAR(mean, 0.5, 0.01);
        CHECK_NEAR(variance, 1.0 / (4.0 * (2.0 * alphas[a] + 1.0)), 0.01);
    }
}

/* Soft targets: one-hot rows give the hard-label loss and gradient bit for
 * bit; a mixed row gives λ·CE(a) + (1 − λ)·CE(b), gradient softmax − t. */
static void test_soft_cross_entropy(void) {
    fixture f;
    if (!fixture_build(&f, "input: [3, 1, 1]\nlayers:\n  - {type: softmax}\n", 2)) return;
    const float logits[6] = {0.5f, -1.0f, 2.0f, 0.0f, 0.3f, -0.7f};
    memcpy(cr_net_input(f.net), logits, sizeof logits);
    cr_net_forward(f.net, true);
    int labels[2] = {2, 0};
    double hard = cr_net_cross_entropy(f.net, labels);
    cr_net_backward(f.net);
    float hard_grad[6];
    memcpy(hard_grad, cr_net_input_grad(f.net), sizeof hard_grad);
    const float onehot[6] = {0, 0, 1, 1, 0, 0};
    double soft = cr_net_soft_cross_entropy(f.net, onehot);
    cr_net_backward(f.net);
    CHECK(soft == hard);
    CHECK(!memcmp(hard_grad, cr_net_input_grad(f.net), sizeof hard_grad));

    /* Mixup's rows: 0.3 of the image's own label and 0.7 of its partner's
     * (image 0 is label 2 mixed with image 1's 0, and the other way). */
    const float mixed[6] = {0.7f, 0, 0.3f, 0.3f, 0, 0.7f};
    double loss = cr_net_soft_cross_entropy(f.net, mixed);
    cr_net_backward(f.net);
    double expected = 0;
    for (int n = 0; n < 2; n++) {
        const float *z = logits + 3 * n;
        double log_sum = log(exp(z[0]) + exp(z[1]) + exp(z[2]));
        for (int c = 0; c < 3; c++) {
            expected += mixed[3 * n + c] * (log_sum - z[c]) / 2;
            double p = exp(z[c] - log_sum);
            CHECK_NEAR(cr_net_input_grad(f.net)[3 * n + c], (p - mixed[3 * n + c]) / 2, 1e-6);
        }
    }
    CHECK_NEAR(loss, expected, 1e-6);
    fixture_free(&f);
}

/* ---- the loader ------------------------------------------------------------------------ */

enum { IMAGES = 21, SIDE = 8, CLASSES = 4, BATCH = 6 };

typedef struct loader_data {
    uint8_t pixels[IMAGES * 3 * SIDE * SIDE];
    int labels[IMAGES];
    cr_dataset data;
    cr_transform transform;
    int order[IMAGES];
} loader_data;

static void loader_data_init(loader_data *d, bool mixing) {
    uint64_t rng = 3;
    for (size_t i = 0; i < sizeof d->pixels; i++) d->pixels[i] = (uint8_t)cr_random_next(&rng);
    for (int i = 0; i < IMAGES; i++) {
        d->labels[i] = i % CLASSES;
        d->order[i] = (i * 5) % IMAGES; /* a permutation: 5 and 21 are coprime */
    }
    d->data = (cr_dataset){.count = IMAGES,
                           .channels = 3,
                           .height = SIDE,
                           .width = SIDE,
                           .pixels = d->pixels,
                           .labels = d->labels,
                           .classes = CLASSES};
    d->transform =
        (cr_transform){.channels = 3, .mean = {0.5f, 0.4f, 0.3f}, .std = {0.2f, 0.25f, 0.3f}};
    cr_augment *a = &d->transform.augment;
    a->steps[a->count] = cr_augment_default(CR_AUG_RANDOM_RESIZED_CROP);
    a->steps[a->count++].scale[0] = 0.3f;
    a->steps[a->count] = cr_augment_default(CR_AUG_ROTATE);
    a->steps[a->count++].degrees = 20;
    a->steps[a->count] = cr_augment_default(CR_AUG_COLOR_JITTER);
    a->steps[a->count].brightness = a->steps[a->count].contrast = 0.4f;
    a->steps[a->count++].saturation = 0.4f;
    a->steps[a->count++] = cr_augment_default(CR_AUG_HFLIP);
    a->steps[a->count++] = cr_augment_default(CR_AUG_VFLIP);
    a->steps[a->count] = cr_augment_default(CR_AUG_CUTOUT);
    a->steps[a->count++].size = 3;
    if (mixing) {
        a->steps[a->count++] = cr_augment_default(CR_AUG_MIXUP);
        a->steps[a->count++] = cr_augment_default(CR_AUG_CUTMIX);
    }
}

enum { IMAGE_FLOATS = 3 * SIDE * SIDE, STEPS = (IMAGES + BATCH - 1) / BATCH };

/* One epoch from the loader from `first_step` on, every batch's images,
 * labels and targets appended to out (zero for the steps before). */
typedef struct epoch_bytes {
    float images[IMAGES * IMAGE_FLOATS];
    float targets[IMAGES * CLASSES];
    int labels[IMAGES];
    int mixed;
} epoch_bytes;

static void load_epoch(loader_data *d, int threads, uint64_t root, int64_t epoch, int first_step,
                       int rank, int ranks, epoch_bytes *out) {
    memset(out, 0, sizeof *out);
    cr_loader_config config = {.data = &d->data,
                               .transform = &d->transform,
                               .batch_size = BATCH,
                               .rank = rank,
                               .ranks = ranks,
                               .classes = CLASSES,
                               .threads = threads,
                               .depth = threads + 1,
                               .root = root};
    cr_loader *loader;
    cr_error err;
    if (cr_loader_create(&config, &loader, &err)) {
        CHECK(!"loader created");
        return;
    }
    cr_loader_epoch(loader, epoch, d->order, first_step);
    const cr_loader_batch *batch;
    int step = first_step;
    while ((batch = cr_loader_next(loader))) {
        CHECK(!batch->failed);
        CHECK_INT(batch->step, step);
        int at = step * BATCH + batch->first;
        memcpy(out->images + (size_t)at * IMAGE_FLOATS, batch->images,
               sizeof(float) * IMAGE_FLOATS * batch->n);
        memcpy(out->labels + at, batch->labels, sizeof(int) * batch->n);
        if (batch->mixed)
            memcpy(out->targets + (size_t)at * CLASSES, batch->targets,
                   sizeof(float) * CLASSES * batch->n);
        out->mixed += batch->mixed;
        cr_loader_release(loader);
        step++;
    }
    CHECK_INT(step, STEPS);
    cr_loader_free(loader);
}

static bool same_epoch(const epoch_bytes *a, const epoch_bytes *b) {
    return !memcmp(a, b, sizeof *a);
}

static void test_loader(void) {
    static loader_data d;
    static epoch_bytes reference, other;
    loader_data_init(&d, true);
    load_epoch(&d, 0, 42, 1, 0, 0, 1, &reference);
    CHECK_INT(reference.mixed, STEPS); /* every batch has at least two images */
    for (int i = 0; i < IMAGES; i++) CHECK_INT(reference.labels[i], d.order[i] % CLASSES);
    /* Same root: same bytes, from any number of threads. */
    const int thread_counts[3] = {0, 1, 3};
    for (int t = 0; t < 3; t++) {
        load_epoch(&d, thread_counts[t], 42, 1, 0, 0, 1, &other);
        CHECK(same_epoch(&other, &reference));
    }
    /* Another root (seed) or epoch: other images. */
    load_epoch(&d, 2, 43, 1, 0, 0, 1, &other);
    CHECK(memcmp(other.images, reference.images, sizeof other.images) != 0);
    load_epoch(&d, 2, 42, 2, 0, 0, 1, &other);
    CHECK(memcmp(other.images, reference.images, sizeof other.images) != 0);
    /* A resumed epoch (from step 2) repeats the batches from step 2 on. */
    load_epoch(&d, 2, 42, 1, 2, 0, 1, &other);
    size_t skipped = (size_t)2 * BATCH;
    CHECK(!memcmp(other.images + skipped * IMAGE_FLOATS, reference.images + skipped * IMAGE_FLOATS,
                  sizeof(float) * (IMAGES - skipped) * IMAGE_FLOATS));
    CHECK(!memcmp(other.targets + skipped * CLASSES, reference.targets + skipped * CLASSES,
                  sizeof(float) * (IMAGES - skipped) * CLASSES));

    /* Two ranks' shares of each batch are the one process's images (no
     * mixing: that pairs images within a share). */
    loader_data_init(&d, false);
    load_epoch(&d, 1, 42, 0, 0, 0, 1, &reference);
    static epoch_bytes halves[2];
    load_epoch(&d, 1, 42, 0, 0, 0, 2, &halves[0]);
    load_epoch(&d, 0, 42, 0, 0, 1, 2, &halves[1]);
    for (int step = 0; step < STEPS; step++) {
        int n = step == STEPS - 1 ? IMAGES - step * BATCH : BATCH, half = n / 2;
        for (int i = 0; i < n; i++) {
            size_t at = (size_t)(step * BATCH + i) * IMAGE_FLOATS;
            const epoch_bytes *from = i < half ? &halves[0] : &halves[1];
            CHECK(!memcmp(from->images + at, reference.images + at, sizeof(float) * IMAGE_FLOATS));
        }
    }
}

/* Stopping mid-epoch with batches prepared ahead, then starting another
 * epoch, leaves no thread behind (ASan and the join would tell). */
static void test_loader_stop(void) {
    static loader_data d;
    loader_data_init(&d, true);
    cr_loader_config config = {.data = &d.data,
                               .transform = &d.transform,
                               .batch_size = 2,
                               .ranks = 1,
                               .classes = CLASSES,
                               .threads = 2,
                               .depth = 3,
                               .root = 1};
    cr_loader *loader;
    cr_error err;
    CHECK_INT(cr_loader_create(&config, &loader, &err), 0);
    cr_loader_epoch(loader, 0, d.order, 0);
    CHECK(cr_loader_next(loader) != NULL);
    cr_loader_release(loader);
    cr_loader_epoch(loader, 1, d.order, 3);
    const cr_loader_batch *batch = cr_loader_next(loader);
    CHECK(batch && batch->step == 3);
    cr_loader_stop(loader);
    cr_loader_free(loader);
}

/* An image folder of several sizes, with random_resized_crop first: the
 * training split stays files (decoded per batch at their own size, the crop
 * taken from the original), the test split is decoded once. Uniform images
 * stay uniform whatever the crop; any thread count gives the same bytes; a
 * file broken after loading fails its batch with its name. */
static void write_uniform(const char *path, int height, int width, unsigned char grey) {
    unsigned char *pixels = malloc((size_t)height * width * 3);
    memset(pixels, grey, (size_t)height * width * 3);
    CHECK(stbi_write_png(path, width, height, 3, pixels, width * 3));
    free(pixels);
}

static void test_streamed_folder(void) {
    char root[] = "/tmp/cnnrun-augment-XXXXXX";
    if (!mkdtemp(root)) {
        CHECK(!"temporary folder");
        return;
    }
    char path[512];
    const char *splits[2] = {"train", "test"}, *classes[2] = {"a", "b"};
    for (int s = 0; s < 2; s++) {
        snprintf(path, sizeof path, "%s/%s", root, splits[s]);
        mkdir(path, 0755);
        for (int k = 0; k < 2; k++) {
            snprintf(path, sizeof path, "%s/%s/%s", root, splits[s], classes[k]);
            mkdir(path, 0755);
            for (int i = 0; i < 3; i++) {
                snprintf(path, sizeof path, "%s/%s/%s/%d.png", root, splits[s], classes[k], i);
                write_uniform(path, 9 + 5 * i, 30 - 4 * i, (unsigned char)(40 + 100 * k + i));
            }
        }
    }
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "input: [3, 8, 8]\nlayers:\n  - {type: dense, units: 2}\ntrain:\n"
             "  data: {format: folder, train: %s/train, test: %s/test}\n"
             "  augment: [{random_resized_crop: {scale: [0.2, 1]}}, hflip]\n",
             root, root);
    cr_model *model;
    cr_train_config config;
    cr_dataset train, validation;
    cr_error err;
    if (cr_model_load_text(yaml, strlen(yaml), "m.yaml", &model, &err) ||
        cr_train_config_parse(model, &config, &err) ||
        cr_train_load_data(model, &config, &train, &validation, &err)) {
        fprintf(stderr, "%s\n", err.message);
        CHECK(!"streamed folder loads");
        return;
    }
    CHECK(train.files != NULL && train.pixels == NULL);
    CHECK(validation.files == NULL && validation.pixels != NULL);
    CHECK_INT(train.count, 6);
    int order[6] = {5, 0, 3, 1, 4, 2};
    float images[2][6 * 192];
    for (int t = 0; t < 2; t++) {
        cr_loader_config lc = {.data = &train,
                               .transform = &config.transform,
                               .batch_size = 4,
                               .ranks = 1,
                               .classes = 2,
                               .threads = 2 * t,
                               .depth = 2,
                               .root = 9};
        cr_loader *loader;
        CHECK_INT(cr_loader_create(&lc, &loader, &err), 0);
        cr_loader_epoch(loader, 0, order, 0);
        const cr_loader_batch *batch;
        int at = 0;
        while ((batch = cr_loader_next(loader))) {
            CHECK(!batch->failed);
            memcpy(images[t] + at * 192, batch->images, sizeof(float) * 192 * batch->n);
            at += batch->n;
            cr_loader_release(loader);
        }
        CHECK_INT(at, 6);
        cr_loader_free(loader);
    }
    CHECK(!memcmp(images[0], images[1], sizeof images[0]));
    for (int i = 0; i < 6; i++) {
        int index = order[i];
        float want = (float)(40 + 100 * (index / 3) + index % 3) / 255.0f;
        for (int p = 0; p < 192; p++) CHECK(images[0][i * 192 + p] == want);
    }
    /* A file broken after loading: the batch fails, naming it. */
    FILE *broken = fopen(train.files[0], "wb");
    if (broken) {
        fputs("not a png", broken);
        fclose(broken);
    }
    cr_loader_config lc = {.data = &train,
                           .transform = &config.transform,
                           .batch_size = 6,
                           .ranks = 1,
                           .classes = 2,
                           .threads = 1,
                           .depth = 1,
                           .root = 9};
    cr_loader *loader;
    CHECK_INT(cr_loader_create(&lc, &loader, &err), 0);
    cr_loader_epoch(loader, 0, order, 0);
    const cr_loader_batch *batch = cr_loader_next(loader);
    CHECK(batch && batch->failed);
    if (batch) CHECK_CONTAINS(batch->err.file, "train/a/0.png");
    cr_loader_free(loader);
    cr_dataset_free(&train);
    cr_dataset_free(&validation);
    cr_model_free(model);
    char command[600];
    snprintf(command, sizeof command, "rm -rf '%s'", root);
    CHECK_INT(system(command), 0);
}

int main(void) {
    test_flips();
    test_rotate();
    test_crop_box();
    test_color_jitter();
    test_cutout();
    test_mixing();
    test_beta();
    test_soft_cross_entropy();
    test_loader();
    test_loader_stop();
    test_streamed_folder();
    return check_report();
}
