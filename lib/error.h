/* Errors and warnings as values.
 *
 * Library code never prints and never exits: it fills a cr_error and returns
 * non-zero, and the command decides what to print and which exit code to use.
 * Every error carries where it came from (file, line, column) and which layer,
 * so the message a user sees is `FILE:LINE:COL: layer 'NAME': what`. */
#ifndef CNNRUN_ERROR_H
#define CNNRUN_ERROR_H

#include <stdarg.h>
#include <stddef.h>

/* A position in a model file; line and column count from 1. line == 0 means
 * "no position" (e.g. an error about a whole file). */
typedef struct cr_mark {
    const char *file;
    int line;
    int column;
} cr_mark;

typedef enum cr_error_kind {
    CR_OK = 0,
    CR_ERR_INVALID = 1, /* bad model, data or weights: exit 1 */
    CR_ERR_IO = 2,      /* unreadable input file: exit 2 */
    CR_ERR_USAGE = 3,   /* bad command line: exit 2 */
    CR_ERR_RUNTIME = 4, /* a run that failed (NaN, out of memory): exit 1 */
} cr_error_kind;

typedef struct cr_error {
    cr_error_kind kind;
    cr_mark mark; /* mark.file points at `file` below: errors outlive models */
    char file[512];
    char layer[128];
    char message[1024];
} cr_error;

/* Fill err and return 1, so callers can write `return cr_fail(...)`. */
int cr_fail(cr_error *err, cr_error_kind kind, cr_mark mark, const char *layer, const char *fmt,
            ...) __attribute__((format(printf, 5, 6)));
int cr_vfail(cr_error *err, cr_error_kind kind, cr_mark mark, const char *layer, const char *fmt,
             va_list args);
/* An error about one file or folder, read as `PATH: what`. */
int cr_fail_file(cr_error *err, cr_error_kind kind, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* `FILE:LINE:COL: layer 'NAME': message`, leaving out the parts that are unset. */
void cr_error_format(const cr_error *err, char *out, size_t size);

/* Exit code that the command should use for this error (0, 1 or 2). */
int cr_error_exit_code(const cr_error *err);

/* Warnings are collected, not printed: the caller shows them. */
typedef struct cr_warning {
    cr_mark mark;
    char layer[128];
    char message[512];
} cr_warning;

typedef struct cr_warnings {
    cr_warning *items;
    int count;
    int capacity;
} cr_warnings;

void cr_warn(cr_warnings *warnings, cr_mark mark, const char *layer, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void cr_warnings_free(cr_warnings *warnings);
void cr_warning_format(const cr_warning *warning, char *out, size_t size);

/* Closest candidate to `word` by edit distance, or NULL when none is close
 * enough to be a plausible typo. */
const char *cr_suggest(const char *word, const char *const *candidates, int count);
/* The same, stricter: one edit per four letters beyond the first (none up
 * to four letters: `selu` is not `relu`), for
 * names where a near miss is often another real operation (layer types:
 * `pad` is not `add`, `deconv` is not `conv`). */
const char *cr_suggest_close(const char *word, const char *const *candidates, int count);

#endif
