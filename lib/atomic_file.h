/* Files that are either the old version or the new one, never half written:
 * write to PATH.tmp-XXXXXX in the same folder, flush and fsync it, rename it
 * over PATH, fsync the folder. A failure removes the temporary file and
 * leaves PATH as it was. Weights, checkpoints and metrics.csv all go
 * through here. */
#ifndef CNNRUN_ATOMIC_FILE_H
#define CNNRUN_ATOMIC_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "error.h"

typedef struct cr_atomic_file {
    char *path;
    char *temp;
    FILE *stream; /* write here between open and commit */
} cr_atomic_file;

/* Creates the temporary file. A replaced file keeps its mode; a new one gets
 * 0644 (mkstemp's 0600 would hide it from other users). */
int cr_atomic_open(cr_atomic_file *file, const char *path, cr_error *err);

/* Finishes: with `written` true, flush, fsync and rename over the path;
 * otherwise (or if any of that fails) remove the temporary file. Errors
 * name the path and say the file was left unchanged. Always releases. */
int cr_atomic_commit(cr_atomic_file *file, bool written, cr_error *err);

/* The whole of `length` bytes as the new content of `path`. */
int cr_write_file_atomic(const char *path, const void *data, size_t length, cr_error *err);

#endif
