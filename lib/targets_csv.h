/* Images with targets listed in a CSV file: `data: {format: csv, train:
 * train.csv, test: test.csv}` (or `--data csv:TRAIN.csv,TEST.csv`), for the
 * losses that learn from targets (loss.h).
 *
 * The first row names the columns; the first column is `image`, the image
 * file's path (relative to the CSV file's folder, or absolute). Then either
 *
 *   image,labels                  multi-label by name: the classes an image
 *   photos/1.jpg,cat dog          shows, separated by spaces (none: empty).
 *   photos/2.jpg,dog              The classes are the names the training
 *                                 file uses, sorted; 1 for each class named,
 *                                 0 for the others.
 * or
 *   image,cat,dog,bird            one column per output with a number: 0/1
 *   photos/1.jpg,1,1,0            (or a probability) for
 *   photos/2.jpg,0,1,0            binary_cross_entropy, any real number for
 *                                 mse. The header names the outputs.
 *
 * The test file has the training file's header (and, by name, only its
 * classes). Fields follow RFC 4180 (quotes for commas in names), parsed by
 * libcsv; every problem is an error naming the file, the row and the column.
 * Images are decoded, converted and resized like an image folder's. */
#ifndef CNNRUN_TARGETS_CSV_H
#define CNNRUN_TARGETS_CSV_H

#include <stdbool.h>

#include "data.h"

/* Loads the training (test == false) or test CSV of `source` into *out:
 * labels[i] = i, targets [count, classes], class_names the column (or
 * label) names. On error *out is left empty. */
int cr_csv_load(const cr_data_source *source, bool test, cr_shape want, cr_dataset *out,
                cr_error *err);

#endif
