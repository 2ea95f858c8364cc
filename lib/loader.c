/* The data loader (loader.h): a ring of `depth` prepared batches, filled
 * in step order by worker threads and emptied in step order by the step. */
#include "loader.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "clock.h"

typedef enum slot_state { SLOT_EMPTY, SLOT_FILLING, SLOT_READY } slot_state;

typedef struct slot {
    cr_loader_batch batch;
    slot_state state;
} slot;

/* One thread (or, with 0 threads, the caller). */
typedef struct worker {
    cr_loader *loader;
    pthread_t thread;
    cr_loader_scratch scratch;
} worker;

struct cr_loader {
    cr_loader_config config;
    int64_t steps; /* per epoch */
    slot *slots;
    worker *workers; /* config.threads of them, or one for the caller */
    int started;     /* threads running */
    int *order;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    /* Guarded by lock: */
    int64_t epoch;
    int64_t next_claim; /* the next step a worker takes */
    int64_t next_take;  /* the next step the consumer takes */
    int64_t end;        /* steps of this epoch that are prepared: [first, end) */
    int filling;        /* workers filling a slot now */
    bool quit;
};

/* The global batch of `step` and this rank's share of it. */
static void batch_share(const cr_loader_config *config, int64_t step, int *first, int *n,
                        int *total) {
    int64_t start = step * config->batch_size;
    int64_t left = config->data->count - start;
    *total = (int)(left < config->batch_size ? left : config->batch_size);
    *first = (int)((int64_t)*total * config->rank / config->ranks);
    *n = (int)((int64_t)*total * (config->rank + 1) / config->ranks) - *first;
}

int cr_loader_scratch_init(cr_loader_scratch *scratch, const cr_dataset *data) {
    memset(scratch, 0, sizeof *scratch);
    scratch->floats = malloc(sizeof(float) *
                             cr_augment_scratch_floats(data->channels, data->height, data->width));
    scratch->bytes = malloc(cr_augment_scratch_bytes(data->channels, data->height, data->width));
    return scratch->floats && scratch->bytes ? 0 : 1;
}

void cr_loader_scratch_free(cr_loader_scratch *scratch) {
    free(scratch->floats);
    free(scratch->bytes);
    free(scratch->decoded);
    memset(scratch, 0, sizeof *scratch);
}

/* One image into out: from memory, or decoded from its file. */
static int fill_image(const cr_loader_config *config, int64_t epoch, int index,
                      cr_loader_scratch *scratch, float *out, cr_error *err) {
    const cr_dataset *data = config->data;
    const cr_transform *t = config->transform;
    const uint8_t *source;
    int height = data->height, width = data->width;
    if (data->files) {
        if (cr_image_decode_native(data->files[index], data->channels, &scratch->decoded,
                            &scratch->decoded_capacity, &height, &width, err))
            return 1;
        source = scratch->decoded;
    } else {
        source = data->pixels + (size_t)index * data->channels * data->height * data->width;
    }
    uint64_t stream = cr_augment_image_stream(config->root, epoch, index);
    if (cr_augment_image(&t->augment, t->mean, t->std, source, data->channels, height, width,
                         data->height, data->width, stream, scratch->floats, scratch->bytes, out))
        return cr_fail_file(err, CR_ERR_RUNTIME, data->files ? data->files[index] : "data",
                            "out of memory resizing image %d", index);
    return 0;
}

int cr_loader_fill(const cr_loader_config *config, int64_t epoch, int64_t step, const int *indices,
                   int n, cr_loader_scratch *scratch, cr_loader_batch *batch) {
    const cr_dataset *data = config->data;
    const cr_transform *t = config->transform;
    size_t image_size = (size_t)data->channels * data->height * data->width;
    batch->step = step;
    batch->n = n;
    batch->failed = false;
    batch->mixed = false;
    for (int i = 0; i < n; i++) {
        if (fill_image(config, epoch, indices[i], scratch, batch->images + (size_t)i * image_size,
                       &batch->err)) {
            batch->failed = true;
            return 1;
        }
        batch->labels[i] = data->labels[indices[i]];
    }
    if (!cr_augment_mixes(&t->augment)) return 0;
    memset(batch->targets, 0, sizeof(float) * (size_t)n * config->classes);
    for (int i = 0; i < n; i++) batch->targets[(size_t)i * config->classes + batch->labels[i]] = 1;
    batch->mixed = cr_augment_batch(
        &t->augment, n, data->channels, data->height, data->width, config->classes,
        cr_augment_batch_stream(config->root, epoch, step), batch->images, batch->targets);
    return 0;
}

static void fill_step(cr_loader *loader, worker *w, int64_t epoch, int64_t step, slot *s) {
    int first, n, total;
    batch_share(&loader->config, step, &first, &n, &total);
    s->batch.first = first;
    s->batch.total = total;
    const int *indices = loader->order + step * loader->config.batch_size + first;
    cr_loader_fill(&loader->config, epoch, step, indices, n, &w->scratch, &s->batch);
}

static slot *slot_of(cr_loader *loader, int64_t step) {
    return &loader->slots[step % loader->config.depth];
}

/* A step is free to claim when it is in the epoch and its slot is empty
 * (the batch `depth` steps earlier has been taken and released). */
static bool can_claim(cr_loader *loader) {
    return loader->next_claim < loader->end &&
           slot_of(loader, loader->next_claim)->state == SLOT_EMPTY;
}

static void *work(void *argument) {
    worker *w = argument;
    cr_loader *loader = w->loader;
    pthread_mutex_lock(&loader->lock);
    for (;;) {
        while (!loader->quit && !can_claim(loader))
            pthread_cond_wait(&loader->changed, &loader->lock);
        if (loader->quit) break;
        int64_t step = loader->next_claim++, epoch = loader->epoch;
        slot *s = slot_of(loader, step);
        s->state = SLOT_FILLING;
        loader->filling++;
        pthread_mutex_unlock(&loader->lock);
        fill_step(loader, w, epoch, step, s);
        pthread_mutex_lock(&loader->lock);
        s->state = SLOT_READY;
        loader->filling--;
        pthread_cond_broadcast(&loader->changed);
    }
    pthread_mutex_unlock(&loader->lock);
    return NULL;
}

static bool allocate_slot(slot *s, const cr_loader_config *config, int share_max) {
    const cr_dataset *data = config->data;
    size_t image_size = (size_t)data->channels * data->height * data->width;
    s->batch.images = malloc(sizeof(float) * image_size * share_max);
    s->batch.labels = malloc(sizeof(int) * share_max);
    s->batch.targets = malloc(sizeof(float) * (size_t)share_max * config->classes);
    return s->batch.images && s->batch.labels && s->batch.targets;
}

static bool allocate_worker(worker *w, cr_loader *loader) {
    w->loader = loader;
    return cr_loader_scratch_init(&w->scratch, loader->config.data) == 0;
}

int cr_loader_create(const cr_loader_config *config, cr_loader **out, cr_error *err) {
    *out = NULL;
    cr_loader *loader = calloc(1, sizeof *loader);
    if (!loader) return cr_fail_file(err, CR_ERR_RUNTIME, "loader", "out of memory");
    loader->config = *config;
    if (loader->config.depth < 1) loader->config.depth = 1;
    if (loader->config.ranks < 1) loader->config.ranks = 1;
    const cr_dataset *data = config->data;
    loader->steps = (data->count + config->batch_size - 1) / config->batch_size;
    int share_max = (config->batch_size + loader->config.ranks - 1) / loader->config.ranks;
    int workers = config->threads > 0 ? config->threads : 1;
    loader->slots = calloc((size_t)loader->config.depth, sizeof *loader->slots);
    loader->workers = calloc((size_t)workers, sizeof *loader->workers);
    loader->order = malloc(sizeof(int) * (size_t)data->count);
    bool ok = loader->slots && loader->workers && loader->order;
    for (int i = 0; ok && i < loader->config.depth; i++)
        ok = allocate_slot(&loader->slots[i], &loader->config, share_max);
    for (int i = 0; ok && i < workers; i++) ok = allocate_worker(&loader->workers[i], loader);
    pthread_mutex_init(&loader->lock, NULL);
    pthread_cond_init(&loader->changed, NULL);
    for (int i = 0; ok && i < config->threads; i++) {
        ok = pthread_create(&loader->workers[i].thread, NULL, work, &loader->workers[i]) == 0;
        if (ok) loader->started++;
    }
    if (!ok) {
        cr_loader_free(loader);
        return cr_fail_file(err, CR_ERR_RUNTIME, data->source ? data->source : "data",
                            "out of memory (or threads) for the data loader");
    }
    *out = loader;
    return 0;
}

void cr_loader_stop(cr_loader *loader) {
    pthread_mutex_lock(&loader->lock);
    loader->end = loader->next_claim; /* claim nothing more */
    while (loader->filling > 0) pthread_cond_wait(&loader->changed, &loader->lock);
    for (int i = 0; i < loader->config.depth; i++) loader->slots[i].state = SLOT_EMPTY;
    loader->next_take = loader->next_claim = loader->end = 0;
    pthread_mutex_unlock(&loader->lock);
}

void cr_loader_free(cr_loader *loader) {
    if (!loader) return;
    if (loader->started > 0) {
        pthread_mutex_lock(&loader->lock);
        loader->quit = true;
        pthread_cond_broadcast(&loader->changed);
        pthread_mutex_unlock(&loader->lock);
        for (int i = 0; i < loader->started; i++) pthread_join(loader->workers[i].thread, NULL);
    }
    pthread_mutex_destroy(&loader->lock);
    pthread_cond_destroy(&loader->changed);
    for (int i = 0; loader->slots && i < loader->config.depth; i++) {
        free(loader->slots[i].batch.images);
        free(loader->slots[i].batch.labels);
        free(loader->slots[i].batch.targets);
    }
    int workers = loader->config.threads > 0 ? loader->config.threads : 1;
    for (int i = 0; loader->workers && i < workers; i++)
        cr_loader_scratch_free(&loader->workers[i].scratch);
    free(loader->slots);
    free(loader->workers);
    free(loader->order);
    free(loader);
}

void cr_loader_epoch(cr_loader *loader, int64_t epoch, const int *order, int64_t first_step) {
    cr_loader_stop(loader);
    pthread_mutex_lock(&loader->lock);
    memcpy(loader->order, order, sizeof(int) * (size_t)loader->config.data->count);
    loader->epoch = epoch;
    loader->next_take = loader->next_claim = first_step;
    loader->end = loader->steps;
    pthread_cond_broadcast(&loader->changed);
    pthread_mutex_unlock(&loader->lock);
}

const cr_loader_batch *cr_loader_next(cr_loader *loader) {
    pthread_mutex_lock(&loader->lock);
    int64_t step = loader->next_take;
    if (step >= loader->end) {
        pthread_mutex_unlock(&loader->lock);
        return NULL;
    }
    slot *s = slot_of(loader, step);
    if (loader->started == 0) {
        /* No threads: prepare it here and now. */
        loader->next_claim = step + 1;
        pthread_mutex_unlock(&loader->lock);
        fill_step(loader, &loader->workers[0], loader->epoch, step, s);
        pthread_mutex_lock(&loader->lock);
        s->state = SLOT_READY;
    }
    while (s->state != SLOT_READY) pthread_cond_wait(&loader->changed, &loader->lock);
    pthread_mutex_unlock(&loader->lock);
    return &s->batch;
}

void cr_loader_release(cr_loader *loader) {
    pthread_mutex_lock(&loader->lock);
    slot_of(loader, loader->next_take)->state = SLOT_EMPTY;
    loader->next_take++;
    pthread_cond_broadcast(&loader->changed);
    pthread_mutex_unlock(&loader->lock);
}

double cr_loader_rate(cr_loader *loader, const int *order, int batches) {
    int64_t images = 0, epoch = 0;
    double started = cr_monotonic_seconds();
    cr_loader_epoch(loader, epoch, order, 0);
    for (int b = 0; b < batches; b++) {
        const cr_loader_batch *batch = cr_loader_next(loader);
        if (!batch) {
            cr_loader_epoch(loader, ++epoch, order, 0);
            batch = cr_loader_next(loader);
        }
        images += batch->n;
        cr_loader_release(loader);
    }
    double seconds = cr_monotonic_seconds() - started;
    cr_loader_stop(loader);
    return seconds > 0 ? (double)images / seconds : 0.0;
}
