/* What several commands print the same way: errors, warnings, numbers for
 * people (61,706; 1.5 MiB; 0.42 M) and table cells that line up although
 * "×" takes two bytes. */
#ifndef CNNRUN_CMD_PRINT_H
#define CNNRUN_CMD_PRINT_H

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* Prints the error on stderr; returns its exit code (1 or 2). */
int report(const cr_error *err);
void print_warnings(const cr_warnings *warnings);
/* One line on stderr for commands that run a model (train, eval, predict):
 * how many warnings, the first, and that `cnnrun check PATH` lists them. */
void print_warning_summary(const char *path, const cr_warnings *warnings);

/* 61706 -> "61,706" */
const char *grouped(int64_t value, char *out, size_t size);
/* 1536 -> "1.5 KiB" */
const char *human_bytes(int64_t bytes, char *out, size_t size);
/* 416520 -> "0.42 M", 15470264320 -> "15.47 G" */
const char *human_count(int64_t value, char *out, size_t size);
/* "6×28×28" */
void shape_text(cr_shape s, char *out, size_t size);
/* [C, H, W] */
cJSON *shape_json(cr_shape s);
/* Prints a --json document (indented, then a newline) on stdout and deletes
 * it; 1 with a message on stderr when it could not be printed. */
int print_json(cJSON *document);

/* Characters a terminal shows for UTF-8 text. */
int display_width(const char *text);
/* Prints text left- (width > 0) or right-aligned (width < 0) in |width|
 * columns, followed by `gap` spaces. */
void print_cell(const char *text, int width, int gap);
/* The width of a "type" column: the longest kind name in the kind table. */
int kind_name_width(void);

#endif
