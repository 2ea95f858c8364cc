/* Data sets for training and evaluation, decoded once into memory.
 *
 * Images stay as bytes (Fashion-MNIST's 70,000 images are 55 MB as bytes,
 * 220 MB as floats) and become floats per batch, scaled to [0, 1],
 * normalised and augmented on the way; assembling a batch allocates nothing.
 * Every problem with a file is an error naming the file and what is wrong
 * (err->file is the file or folder, err->message what is wrong with it).
 * docs/data.md has the formats, every message and the measured costs. */
#ifndef CNNRUN_DATA_H
#define CNNRUN_DATA_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "augment.h"
#include "error.h"
#include "layer.h"

typedef struct cr_dataset {
    int count; /* images */
    int channels, height, width;
    uint8_t *pixels;    /* [count, channels, height, width]; NULL when streamed */
    char **files;       /* streamed: [count] image files, decoded per batch by the loader
                           at their own size (channels, height, width: the model's) */
    int *labels;        /* [count], each in [0, classes) */
    int classes;        /* mnist: largest label + 1 (10 with Fashion-MNIST's
                           names); cifar10: 10; folder: class folders */
    char **class_names; /* [classes]; NULL when the format has none */
    char *source;       /* what it was read from, for messages */
    /* csv data (targets_csv.h): one row of numbers per image, [rows,
     * classes]; each image's label is then its row here, not a class. NULL
     * for data labelled by class. The table is never reordered: a split
     * gives each half a copy. */
    float *targets;
    int target_rows;
} cr_dataset;

/* Where the data comes from: the `data:` key of the train section (or
 * --data). `fashion-mnist` is shorthand for {format: mnist, dir:
 * /usr/share/datasets/fashion-mnist} with Fashion-MNIST's class names. */
typedef enum cr_data_format {
    CR_DATA_MNIST,
    CR_DATA_CIFAR10,
    CR_DATA_FOLDER,
    CR_DATA_CSV, /* train_dir and test_dir are CSV files of images and targets */
} cr_data_format;

typedef struct cr_data_source {
    cr_data_format format;
    char dir[1024];       /* mnist, cifar10 */
    char train_dir[1024]; /* folder */
    char test_dir[1024];  /* folder */
    bool fashion_names;   /* Fashion-MNIST's class names for mnist-format data */
    /* folder: the training split is streamed (cr_dataset.files) rather than
     * decoded once at the model's size; set by cr_train_load_data when the
     * first augment step is random_resized_crop, which crops the original. */
    bool stream;
} cr_data_source;

/* Parses `fashion-mnist`, `mnist:DIR`, `cifar10:DIR` or `folder:TRAIN_DIR,TEST_DIR`
 * (the command-line form of --data). Also `fashion-mnist:DIR` (Fashion-MNIST
 * in another folder, with its names) and `folder:TRAIN_DIR` (no test folder:
 * for a validation fraction; loading the test split then fails). Errors are
 * CR_ERR_USAGE. */
int cr_data_source_parse(const char *text, cr_data_source *out, cr_error *err);

/* The source in the form cr_data_source_parse reads, its folders made
 * absolute (the working folder before relative ones): "fashion-mnist:DIR",
 * "mnist:DIR", "cifar10:DIR", "folder:TRAIN_DIR,TEST_DIR". Returns 1 when it
 * does not fit in out or cannot be written so that it parses back (a
 * training folder with a comma). */
int cr_data_source_text(const cr_data_source *source, char *out, size_t size);

/* Loads the training (test == false) or test split. Images are converted to
 * `want` channels (1 or 3: grey -> RGB by copying, RGB -> grey by luma
 * 0.299 R + 0.587 G + 0.114 B, alpha dropped) and, for image folders, resized
 * to want's height and width; IDX and CIFAR files must already have that
 * size. On error *out is left empty (safe to free). */
int cr_data_load(const cr_data_source *source, bool test, cr_shape want, cr_dataset *out,
                 cr_error *err);
void cr_dataset_free(cr_dataset *data);

/* Splits off the last `fraction` (of the count, rounded) of a seeded shuffle
 * of `all` as validation; both halves keep the original order of their
 * images. On success `all` is emptied (its memory moves to the two halves);
 * on error it is untouched. */
int cr_dataset_split(cr_dataset *all, double fraction, uint64_t seed, cr_dataset *train,
                     cr_dataset *validation, cr_error *err);

typedef struct cr_transform {
    int channels;          /* informational: the data's channel count is used */
    float mean[4], std[4]; /* per channel, after scaling to [0, 1]; std 0 means 1,
                              so a zero transform gives plain [0, 1] pixels */
    cr_augment augment;    /* training only: the train section's `augment:` steps */
} cr_transform;

/* Fills out[n, C, H, W] with images indices[0..n) as floats: x/255, then
 * (x - mean) / std, as torchvision's ToTensor -> Normalize; labels[n] (may
 * be NULL) gets their labels. No augmentation: training batches are
 * prepared by the loader (loader.h). */
void cr_data_batch(const cr_dataset *data, const int *indices, int n, const cr_transform *transform,
                   float *out, int *labels);

/* Decodes one image file for `cnnrun predict` into floats [C, H, W] like a
 * batch element (no augmentation), converted and resized like a folder
 * data set's images. transform may be NULL (plain [0, 1]). */
int cr_image_load(const char *path, cr_shape want, const cr_transform *transform, float *out,
                  cr_error *err);

/* Decodes one image file into [want.c, want.h, want.w] bytes as a folder
 * data set's images are (converted and resized). */
int cr_image_decode(const char *path, cr_shape want, uint8_t *out, cr_error *err);
/* Decodes an image file at its own size into `channels` planes [channels,
 * height, width] of *buffer (grown with realloc when *capacity is short;
 * converted as cr_data_load converts). For the loader's threads. */
int cr_image_decode_native(const char *path, int channels, uint8_t **buffer, size_t *capacity,
                           int *height, int *width, cr_error *err);
/* Decoded pixels, interleaved [height, width, channels] bytes (1 grey,
 * 2 grey + alpha, 3 RGB, 4 RGBA: what stb_image and most decoders give),
 * into floats [C, H, W] exactly as cr_image_load converts a file's. */
int cr_image_from_pixels(const uint8_t *pixels, int height, int width, int channels,
                         cr_shape want, const cr_transform *transform, float *out, cr_error *err);

/* cr_image_load for n files at once into out[n, C, H, W], on cnnrun's
 * threads (each image decoded by one thread, so the floats are those of
 * cr_image_load). ok[i] says whether image i decoded; errs[i] holds its
 * error when not (its slice of out is then zeros). Returns how many decoded. */
int cr_image_load_batch(const char *const *paths, int n, cr_shape want,
                        const cr_transform *transform, float *out, bool *ok, cr_error *errs);

/* The size of an image file without decoding it (files.h's checks first). */
int cr_image_size(const char *path, int *height, int *width, cr_error *err);

/* The class names file of a CIFAR-10 folder (batches.meta.txt), already
 * open: one name a line, blank lines ignored, exactly `expected` names, each
 * at most CR_CLASS_NAME_MAX bytes. *out gets `expected` strdup'ed names. */
#define CR_CLASS_NAME_MAX 255
int cr_class_names_read(FILE *file, const char *path, int expected, char ***out, cr_error *err);

#endif
