/* Weights that describe themselves: what a training run writes into the
 * `__metadata__` of last.safetensors and best.safetensors besides the
 * tensors, so that `predict`, `eval` and `info` need neither the data set
 * nor a matching train section. safetensors allows only strings there, so
 * lists are JSON text:
 *
 *   cnnrun.classes       ["T-shirt/top", "Trouser", ...]   (absent: the data has no names)
 *   cnnrun.input         [1, 28, 28]                       (C, H, W)
 *   cnnrun.normalize     {"mean": [0.286], "std": [0.353]} (per channel, after /255)
 *   cnnrun.model_name    lenet5
 *   cnnrun.model_sha256  the model file's SHA-256, as `sha256sum` prints it
 *   cnnrun.model         the model file's text
 *   cnnrun.data          fashion-mnist:/usr/share/datasets/fashion-mnist (data.h's
 *                        cr_data_source_text: what --data takes)
 *
 * The tensors and their layout are those of any cnnrun weights file:
 * PyTorch reads them as before (metadata is ignored by load_file). */
#ifndef CNNRUN_WEIGHTS_INFO_H
#define CNNRUN_WEIGHTS_INFO_H

#include <stdbool.h>

#include "cnnrun.h"
#include "data.h"
#include "error.h"
#include "model.h"
#include "safetensors.h"

#define CR_WEIGHTS_INFO_KEYS 7

typedef struct cr_weights_info {
    int classes;        /* names in class_names; 0 when none are recorded */
    char **class_names; /* [classes] */
    bool has_input;
    cr_shape input;
    int channels; /* of the normalisation; 0 when none is recorded */
    float mean[4], std[4];
    char *model_name, *model_sha256, *model_text, *data; /* NULL when absent */
} cr_weights_info;

/* What a run on `train` (its class names) with `config` (normalisation,
 * data source) of `model`, read from `model_path`, records. */
int cr_weights_info_describe(const cr_model *model, const cr_transform *transform,
                             const cr_data_source *data, const cr_dataset *train,
                             const char *model_path, cr_weights_info *out, cr_error *err);

/* The info in an open file's metadata; a key that is absent leaves its
 * field empty, a malformed one is an error naming the file and key. */
int cr_weights_info_from_file(const cr_safetensors_file *file, cr_weights_info *out,
                              cr_error *err);
/* The same from a file's path. */
int cr_weights_info_read(const char *path, cr_weights_info *out, cr_error *err);

void cr_weights_info_free(cr_weights_info *info);

/* The info as metadata entries, owned by `meta` (free with
 * cr_weights_meta_free): *count of them, at most CR_WEIGHTS_INFO_KEYS. */
int cr_weights_info_meta(const cr_weights_info *info, cr_safetensors_meta *meta, int *count,
                         cr_error *err);
void cr_weights_meta_free(cr_safetensors_meta *meta, int count);

/* The SHA-256 of a file as 64 hex digits (`sha256sum`'s), and its text
 * (malloc'ed, NUL-terminated) when text is not NULL. */
int cr_file_sha256(const char *path, char hex[65], char **text, cr_error *err);

#endif
