/* Files cnnrun reads, checked before they are read.
 *
 * Every input (a model file, weights, a checkpoint, metrics.csv, an image,
 * a data file) must be a regular file: a folder, a device or a FIFO is
 * refused at once with what it is. Opening a FIFO for reading would wait
 * for a writer forever, so the file is opened without blocking, checked
 * with fstat, and only then switched to ordinary blocking reads.
 * (Writes go through atomic_file.h.) */
#ifndef CNNRUN_FILES_H
#define CNNRUN_FILES_H

#include <stdio.h>

#include "error.h"

/* A file descriptor open for reading `path`, or -1 with err filled
 * (CR_ERR_IO): `PATH: is a folder, not a file`, `...: is a FIFO (named
 * pipe), not a regular file`, `...: cannot open: No such file or directory`. */
int cr_open_regular(const char *path, cr_error *err);

/* The same as a stdio stream ("rb"); NULL with err filled. */
FILE *cr_fopen_regular(const char *path, cr_error *err);

/* What a stat mode is, in words ("a folder", "a FIFO (named pipe)", ...). */
const char *cr_file_type_name(unsigned mode);

#endif
