/* cnnrun augment: a grid of augmented training images, so users see what
 * the network sees. Each row is one training image: first as stored, then
 * as the loader prepares it in epochs 1, 2, ... (the same per-image streams
 * as `cnnrun train` with the same seed). Mixing steps pair the grid's rows
 * of one column as if they were one batch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "commands.h"
#include "image_out.h"
#include "loader.h"
#include "print.h"
#include "train.h"

typedef struct augment_args {
    const char *model, *out, *data;
    int rows, columns;
    cli_seed seed;
} augment_args;

#define AUGMENT_OPTION(field) .offset = offsetof(augment_args, field)
static const cli_option augment_options[] = {
    {.name = "out",
     .short_name = 'o',
     .type = CLI_PATH,
     AUGMENT_OPTION(out),
     .arg = "GRID.png",
     .required = "missing -o GRID.png",
     .complete = "png",
     .help = "the picture to write (PNG)"},
    {.name = "data",
     .type = CLI_STRING,
     AUGMENT_OPTION(data),
     .arg = "D",
     .help = "the data set instead of the train section's: fashion-mnist, mnist:DIR, "
             "cifar10:DIR or folder:TRAIN_DIR,TEST_DIR"},
    {.name = "rows",
     .type = CLI_INT,
     AUGMENT_OPTION(rows),
     .min = 1,
     .max = 64,
     .arg = "N",
     .help = "training images, one a row, spread over the training set (default 8)"},
    {.name = "columns",
     .type = CLI_INT,
     AUGMENT_OPTION(columns),
     .min = 2,
     .max = 64,
     .arg = "N",
     .help = "the stored image, then N − 1 epochs' versions of it (default 8)"},
    {.name = "seed",
     .type = CLI_SEED,
     AUGMENT_OPTION(seed),
     .arg = "S",
     .help = "the run's seed instead of the train section's"},
};
static const cli_positional augment_positionals[] = {MODEL_POSITIONAL(augment_args, model)};

const cli_spec augment_spec = {
    CLI_TABLES(augment_options, augment_positionals),
    .description = "Draws a grid of training images as the network sees them after the train\n"
                   "section's augment steps: one row per image, the first column as stored, the\n"
                   "others as epoch 1, 2, ... of a run with this seed prepares it (normalisation\n"
                   "undone for display). Mixing steps (mixup, cutmix) pair the rows of a column\n"
                   "as if they were one batch.\n",
    .exit_status = "0 written, 1 invalid model or data, 2 usage error or unwritable file.",
};

/* Pixels of a tile's longer side in the picture, and between tiles. */
enum { TILE = 96, GAP = 3 };

/* A normalised float image [C, H, W] -> bytes as stored: x·std + mean,
 * clipped to [0, 1]. */
static void to_bytes(const float *image, const cr_transform *t, int channels, int height, int width,
                     uint8_t *out) {
    size_t plane = (size_t)height * width;
    for (int c = 0; c < channels; c++) {
        float std = c < 4 && t->std[c] != 0.0f ? t->std[c] : 1.0f, mean = c < 4 ? t->mean[c] : 0;
        for (size_t p = 0; p < plane; p++) {
            float v = image[c * plane + p] * std + mean;
            v = v < 0 ? 0 : v > 1 ? 1 : v;
            out[c * plane + p] = (uint8_t)(v * 255.0f + 0.5f);
        }
    }
}

/* Tile (row, column) of the grid: bytes [C, H, W] enlarged by nearest neighbour. */
static void place(cr_picture *picture, const uint8_t *bytes, int channels, int height, int width,
                  int scale, int row, int column) {
    int left = GAP + column * (width * scale + GAP), top = GAP + row * (height * scale + GAP);
    size_t plane = (size_t)height * width;
    for (int y = 0; y < height * scale; y++)
        for (int x = 0; x < width * scale; x++) {
            unsigned char color[3];
            for (int c = 0; c < picture->channels; c++)
                color[c] = bytes[(channels == 1 ? 0 : c) * plane + (size_t)(y / scale) * width +
                                 x / scale];
            cr_draw_pixel(picture, left + x, top + y, color);
        }
}

typedef struct grid {
    const cr_dataset *data;
    const cr_transform *transform;
    int rows, columns, classes;
    uint64_t root;
    int *indices;
    float *images, *targets;
    int *labels;
    uint8_t *bytes;
    cr_loader_scratch scratch;
} grid;

/* Column `column` (epoch column − 1) of every row into the picture. */
static int draw_column(grid *g, int column, int scale, cr_picture *picture, cr_error *err) {
    const cr_dataset *d = g->data;
    size_t image_size = (size_t)d->channels * d->height * d->width;
    /* The stored image: no steps (a streamed file resized to the input). */
    cr_transform stored = *g->transform;
    stored.augment.count = 0;
    cr_loader_config config = {.data = d,
                               .transform = column == 0 ? &stored : g->transform,
                               .batch_size = g->rows,
                               .ranks = 1,
                               .classes = g->classes,
                               .root = g->root};
    cr_loader_batch batch = {.images = g->images, .labels = g->labels, .targets = g->targets};
    if (cr_loader_fill(&config, column - 1, 0, g->indices, g->rows, &g->scratch, &batch)) {
        *err = batch.err;
        return 1;
    }
    for (int r = 0; r < g->rows; r++) {
        to_bytes(g->images + r * image_size, g->transform, d->channels, d->height, d->width,
                 g->bytes);
        place(picture, g->bytes, d->channels, d->height, d->width, scale, r, column);
    }
    return 0;
}

static int draw_grid(grid *g, const char *path, cr_error *err) {
    const cr_dataset *d = g->data;
    int longer = d->height > d->width ? d->height : d->width;
    int scale = longer >= TILE ? 1 : (TILE + longer - 1) / longer;
    int channels = d->channels == 1 ? 1 : 3;
    cr_picture picture;
    if (cr_picture_create(&picture, GAP + g->columns * (d->width * scale + GAP),
                          GAP + g->rows * (d->height * scale + GAP), channels, 255, err))
        return 1;
    int status = 0;
    for (int c = 0; c < g->columns && !status; c++)
        status = draw_column(g, c, scale, &picture, err);
    if (!status) status = cr_picture_write_png(&picture, path, err);
    cr_picture_free(&picture);
    return status;
}

static int augment_grid(const augment_args *a, const cr_model *model, const cr_train_config *config,
                        const cr_dataset *train, cr_error *err) {
    const cr_dataset *d = train;
    size_t image_size = (size_t)d->channels * d->height * d->width;
    int rows = a->rows < d->count ? a->rows : d->count;
    grid g = {.data = d,
              .transform = &config->transform,
              .rows = rows,
              .columns = a->columns,
              .classes = (int)cr_shape_size(model->layers[model->output].out),
              .root = cr_augment_root(config->seed)};
    g.indices = malloc(sizeof(int) * rows);
    g.labels = malloc(sizeof(int) * rows);
    g.images = malloc(sizeof(float) * image_size * rows);
    g.targets = malloc(sizeof(float) * (size_t)rows * (g.classes > 0 ? g.classes : 1));
    g.bytes = malloc(image_size);
    int status = cr_loader_scratch_init(&g.scratch, d);
    if (status || !g.indices || !g.labels || !g.images || !g.targets || !g.bytes)
        status = cr_fail(err, CR_ERR_RUNTIME, (cr_mark){0}, NULL, "out of memory");
    /* Spread over the set: folders are stored class by class. */
    for (int r = 0; !status && r < rows; r++) g.indices[r] = (int)((int64_t)r * d->count / rows);
    if (!status) status = draw_grid(&g, a->out, err);
    free(g.indices);
    free(g.labels);
    free(g.images);
    free(g.targets);
    cr_loader_scratch_free(&g.scratch);
    free(g.bytes);
    return status;
}

int cmd_augment(int argc, char **argv) {
    augment_args a = {.rows = 8, .columns = 8};
    if (cli_parse(&augment_spec, argc, argv, &a)) return 2;
    if (!cr_path_has_extension(a.out, "png"))
        return cli_usage_error("augment", "-o must name a .png file, got '%s'", a.out);
    cr_model *model = NULL;
    cr_train_config config;
    cr_error err = {0};
    if (load_for_training(a.model, a.data, true, &model, &config, &err)) return report(&err);
    if (a.seed.given) config.seed = a.seed.value;
    cr_dataset train, validation;
    int status = cr_train_load_data(model, &config, &train, &validation, &err);
    int rows = !status && train.count < a.rows ? train.count : a.rows;
    if (!status) {
        status = augment_grid(&a, model, &config, &train, &err);
        cr_dataset_free(&train);
        cr_dataset_free(&validation);
    }
    cr_model_free(model);
    if (status) return report(&err);
    printf("wrote %s: %d images, each as stored and in epochs 1 to %d\n", a.out, rows,
           a.columns - 1);
    return 0;
}
