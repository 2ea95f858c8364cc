/* The training data loader: prepares batches (images augmented, normalised
 * and mixed, augment.h) on its own threads, ahead of the training step.
 *
 * Plain pthreads, not OpenMP: the step's layers run OpenMP parallel regions
 * (parallel.h), and a loader inside them would nest one region in another.
 * Every buffer is allocated when the loader is created; preparing a batch
 * allocates nothing but stb_image_resize's scratch, on the loader's threads.
 * With 0 threads the batches are prepared by cr_loader_next itself, in the
 * caller's thread: the same bytes (each image has its own random stream),
 * one after the other. */
#ifndef CNNRUN_LOADER_H
#define CNNRUN_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "data.h"
#include "error.h"

typedef struct cr_loader cr_loader;

typedef struct cr_loader_config {
    const cr_dataset *data;
    const cr_transform *transform; /* normalisation and the augment steps */
    int batch_size;                /* the global batch */
    int rank, ranks;               /* this process prepares its share of each batch */
    int classes;                   /* rows of the soft targets when mixing */
    int threads;                   /* 0: prepared by cr_loader_next in the caller's thread */
    int depth;                     /* batches prepared ahead (at least 1) */
    uint64_t root;                 /* the run's augmentation root (augment.h) */
} cr_loader_config;

typedef struct cr_loader_batch {
    int64_t step;   /* of the epoch */
    int n;          /* this rank's share of the global batch */
    int first;      /* its first image's position in the global batch */
    int total;      /* images in the global batch */
    float *images;  /* [n, C, H, W], normalised */
    int *labels;    /* [n] */
    float *targets; /* [n, classes] soft targets when `mixed` */
    bool mixed;
    bool failed; /* err says why */
    cr_error err;
} cr_loader_batch;

int cr_loader_create(const cr_loader_config *config, cr_loader **out, cr_error *err);
void cr_loader_free(cr_loader *loader);

/* Starts an epoch at step `first_step`: the global batch of step s is
 * order[s × batch_size, ...) (order is copied). Stops what is left of the
 * previous epoch first. */
void cr_loader_epoch(cr_loader *loader, int64_t epoch, const int *order, int64_t first_step);

/* The next step's batch, waiting for it; valid until cr_loader_release. NULL
 * after the epoch's last batch. */
const cr_loader_batch *cr_loader_next(cr_loader *loader);
void cr_loader_release(cr_loader *loader);

/* Drops the batches not taken yet and waits for the threads to be idle. */
void cr_loader_stop(cr_loader *loader);

/* One thread's working memory: cr_augment_image's scratch, and the decoded
 * file of a streamed data set (grown to the largest image). */
typedef struct cr_loader_scratch {
    float *floats;
    uint8_t *bytes;
    uint8_t *decoded;
    size_t decoded_capacity;
} cr_loader_scratch;

int cr_loader_scratch_init(cr_loader_scratch *scratch, const cr_dataset *data);
void cr_loader_scratch_free(cr_loader_scratch *scratch);

/* Prepares images indices[0..n), the share of the global batch of `step`,
 * into batch (images, labels, targets) as the threads do; for cnnrun
 * augment and the tests. A file that fails to decode fails the batch
 * (batch->err). */
int cr_loader_fill(const cr_loader_config *config, int64_t epoch, int64_t step, const int *indices,
                   int n, cr_loader_scratch *scratch, cr_loader_batch *batch);

/* The loader alone: takes `batches` batches as fast as its threads prepare
 * them (starting epochs over `order` as needed) and returns images per
 * second. */
double cr_loader_rate(cr_loader *loader, const int *order, int batches);

#endif
