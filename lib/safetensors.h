/* safetensors files (https://github.com/huggingface/safetensors):
 *
 *   8 bytes     N, the header length, unsigned little-endian
 *   N bytes     JSON: {"NAME": {"dtype": "F32", "shape": [6, 1, 5, 5],
 *                               "data_offsets": [BEGIN, END]}, ...,
 *                      "__metadata__": {"KEY": "VALUE", ...}}
 *               padded with spaces to a multiple of 8
 *   the rest    raw little-endian tensor data; BEGIN/END are byte offsets
 *               from the end of the header, and the tensors tile it exactly
 *
 * Reading validates the whole header against the file before any data is
 * read, so a hostile or truncated file is an error, never a crash. Writing
 * is atomic: a temporary file in the same folder is renamed over the target.
 * cr_net_save_weights / cr_net_load_weights (lib/cnnrun.h) build on this. */
#ifndef CNNRUN_SAFETENSORS_H
#define CNNRUN_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

#define CR_SAFETENSORS_MAX_DIMS 8
/* A header this long is not a weights file (real ones are kilobytes). */
#define CR_SAFETENSORS_MAX_HEADER (100 * 1000 * 1000)

typedef enum cr_dtype {
    CR_DTYPE_BOOL,
    CR_DTYPE_U8,
    CR_DTYPE_I8,
    CR_DTYPE_F8_E5M2,
    CR_DTYPE_F8_E4M3,
    CR_DTYPE_I16,
    CR_DTYPE_U16,
    CR_DTYPE_F16,
    CR_DTYPE_BF16,
    CR_DTYPE_I32,
    CR_DTYPE_U32,
    CR_DTYPE_F32,
    CR_DTYPE_I64,
    CR_DTYPE_U64,
    CR_DTYPE_F64,
} cr_dtype;

const char *cr_dtype_name(cr_dtype dtype); /* "F32" */
int cr_dtype_size(cr_dtype dtype);         /* bytes per element */

/* One tensor as the header describes it. */
typedef struct cr_safetensors_entry {
    char *name;
    cr_dtype dtype;
    int ndim; /* 0 for a scalar */
    int64_t shape[CR_SAFETENSORS_MAX_DIMS];
    int64_t count;      /* elements: the product of shape (1 for a scalar) */
    int64_t begin, end; /* bytes [begin, end) of the data section */
} cr_safetensors_entry;

/* One `__metadata__` entry: safetensors allows only strings. */
typedef struct cr_safetensors_meta {
    char *key, *value;
} cr_safetensors_meta;

typedef struct cr_safetensors_file {
    char *path;
    FILE *stream;
    int64_t data_start; /* 8 + N */
    int64_t data_size;
    int count;
    cr_safetensors_entry *entries; /* in header order */
    int meta_count;
    cr_safetensors_meta *meta; /* `__metadata__`, in header order */
} cr_safetensors_file;

/* Opens and validates: header length, JSON, every entry's dtype, shape and
 * offsets, no overlaps, no stray bytes. Errors name the file and tensor. */
int cr_safetensors_open(const char *path, cr_safetensors_file **out, cr_error *err);
void cr_safetensors_close(cr_safetensors_file *file);
const cr_safetensors_entry *cr_safetensors_find(const cr_safetensors_file *file, const char *name);
/* The `__metadata__` value of `key`, or NULL. */
const char *cr_safetensors_meta_get(const cr_safetensors_file *file, const char *key);

/* The entry's elements as float32: F32 as stored, F16/BF16/F64 converted
 * (an F64 value beyond float32's range is an error). out holds entry->count. */
int cr_safetensors_read_floats(cr_safetensors_file *file, const cr_safetensors_entry *entry,
                               float *out, cr_error *err);
/* The entry's elements as int64 (any integer or BOOL dtype). */
int cr_safetensors_read_ints(cr_safetensors_file *file, const cr_safetensors_entry *entry,
                             int64_t *out, cr_error *err);

/* A tensor to write: F32 (float *), F64 (double *) or I64 (int64_t *), in
 * host byte order (the file is written little-endian). */
typedef struct cr_safetensors_tensor {
    const char *name;
    cr_dtype dtype;
    int ndim;
    int64_t shape[CR_SAFETENSORS_MAX_DIMS];
    const void *data;
} cr_safetensors_tensor;

/* Writes the tensors with __metadata__ {"format": "pt", "producer":
 * "cnnrun"}, atomically: PATH.tmp-XXXXXX in the same folder, flushed and
 * fsync'ed, then renamed over PATH. On failure PATH is untouched and the
 * temporary file removed. A new file gets mode 0644; a replaced file keeps
 * its mode. */
int cr_safetensors_write(const char *path, const cr_safetensors_tensor *tensors, int count,
                         cr_error *err);
/* The same with more `__metadata__` entries after those two (n_meta of
 * them; meta may be NULL when n_meta is 0). */
int cr_safetensors_write_meta(const char *path, const cr_safetensors_tensor *tensors, int count,
                              const cr_safetensors_meta *meta, int n_meta, cr_error *err);

struct cr_net;
/* cr_net_save_weights (cnnrun.h) with these `__metadata__` entries too. */
int cr_net_save_weights_meta(const struct cr_net *net, const char *path,
                             const cr_safetensors_meta *meta, int n_meta, cr_error *err);

/* A name from a file as messages show it: at most 120 characters, control
 * characters replaced (a hostile name cannot mangle the terminal). */
const char *cr_safetensors_printable(const char *name, char *out, size_t size);
/* "[6, 1, 5, 5]"; "[]" for a scalar. */
const char *cr_safetensors_shape_text(const int64_t *shape, int ndim, char *out, size_t size);

#endif
