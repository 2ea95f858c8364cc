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

#include "cnnrun.h" /* cr_mark, cr_error, cr_error_format: public */

/* Fill err and return 1, so callers can write `return cr_fail(...)`. */
int cr_fail(cr_error *err, cr_error_kind kind, cr_mark mark, const char *layer, const char *fmt,
            ...) __attribute__((format(printf, 5, 6)));
int cr_vfail(cr_error *err, cr_error_kind kind, cr_mark mark, const char *layer, const char *fmt,
             va_list args);
/* An error about one file or folder, read as `PATH: what`. */
int cr_fail_file(cr_error *err, cr_error_kind kind, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* `text` with terminal control characters escaped (\x1b, \n, \u009b...)
 * into out[size], cut short when it does not fit: for names and other text
 * from files before they reach a terminal. Returns the length written. */
size_t cr_escape_text(const char *text, char *out, size_t size);

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
