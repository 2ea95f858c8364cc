#include "error.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int cr_vfail(cr_error *err, cr_error_kind kind, cr_mark mark, const char *layer, const char *fmt,
             va_list args) {
    if (!err) return 1;
    err->kind = kind;
    err->mark = mark;
    if (mark.file) {
        snprintf(err->file, sizeof err->file, "%s", mark.file);
        err->mark.file = err->file;
    }
    snprintf(err->layer, sizeof err->layer, "%s", layer ? layer : "");
    vsnprintf(err->message, sizeof err->message, fmt, args);
    return 1;
}

int cr_fail(cr_error *err, cr_error_kind kind, cr_mark mark, const char *layer, const char *fmt,
            ...) {
    va_list args;
    va_start(args, fmt);
    cr_vfail(err, kind, mark, layer, fmt, args);
    va_end(args);
    return 1;
}

int cr_fail_file(cr_error *err, cr_error_kind kind, const char *path, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    cr_vfail(err, kind, (cr_mark){path, 0, 0}, NULL, fmt, args);
    va_end(args);
    return 1;
}

static void format_location(cr_mark mark, const char *layer, const char *message, char *out,
                            size_t size) {
    size_t used = 0;
    out[0] = '\0';
    if (mark.file && mark.line > 0)
        used += snprintf(out, size, "%s:%d:%d: ", mark.file, mark.line, mark.column);
    else if (mark.file)
        used += snprintf(out, size, "%s: ", mark.file);
    if (used < size && layer && layer[0])
        used += snprintf(out + used, size - used, "layer '%s': ", layer);
    if (used < size) snprintf(out + used, size - used, "%s", message);
}

void cr_error_format(const cr_error *err, char *out, size_t size) {
    format_location(err->mark, err->layer, err->message, out, size);
}

int cr_error_exit_code(const cr_error *err) {
    switch (err->kind) {
    case CR_OK:
        return 0;
    case CR_ERR_IO:
    case CR_ERR_USAGE:
        return 2;
    case CR_ERR_INVALID:
    case CR_ERR_RUNTIME:
        return 1;
    }
    return 1;
}

void cr_warn(cr_warnings *warnings, cr_mark mark, const char *layer, const char *fmt, ...) {
    if (!warnings) return;
    if (warnings->count == warnings->capacity) {
        int capacity = warnings->capacity ? warnings->capacity * 2 : 8;
        cr_warning *items = realloc(warnings->items, (size_t)capacity * sizeof *items);
        if (!items) return; /* a lost warning is better than a crash */
        warnings->items = items;
        warnings->capacity = capacity;
    }
    cr_warning *w = &warnings->items[warnings->count++];
    w->mark = mark;
    snprintf(w->layer, sizeof w->layer, "%s", layer ? layer : "");
    va_list args;
    va_start(args, fmt);
    vsnprintf(w->message, sizeof w->message, fmt, args);
    va_end(args);
}

void cr_warnings_free(cr_warnings *warnings) {
    free(warnings->items);
    warnings->items = NULL;
    warnings->count = warnings->capacity = 0;
}

void cr_warning_format(const cr_warning *warning, char *out, size_t size) {
    char message[600];
    snprintf(message, sizeof message, "warning: %s", warning->message);
    format_location(warning->mark, warning->layer, message, out, size);
}

static int edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 1 << 20;
    int row[64];
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diagonal = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int above = row[j];
            int substitution =
                diagonal + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            int best = above + 1 < row[j - 1] + 1 ? above + 1 : row[j - 1] + 1;
            row[j] = substitution < best ? substitution : best;
            diagonal = above;
        }
    }
    return row[lb];
}

static const char *suggest(const char *word, const char *const *candidates, int count,
                           int limit) {
    const char *best = NULL;
    int best_distance = 1 << 20;
    for (int i = 0; i < count; i++) {
        int d = edit_distance(word, candidates[i]);
        if (d < best_distance) {
            best_distance = d;
            best = candidates[i];
        }
    }
    if (best_distance <= limit) return best;
    /* Longer spellings of a name: `convolutional` -> conv, `MaxPooling2D`
     * -> maxpool, `batchnormalization` -> batchnorm; the longest such name. */
    best = NULL;
    for (int i = 0; i < count; i++) {
        size_t n = strlen(candidates[i]);
        if (n >= 4 && strncasecmp(word, candidates[i], n) == 0 && (!best || n > strlen(best)))
            best = candidates[i];
    }
    return best;
}

const char *cr_suggest(const char *word, const char *const *candidates, int count) {
    /* Allow about one typo per three letters, at least two. */
    int limit = (int)strlen(word) / 3;
    return suggest(word, candidates, count, limit < 2 ? 2 : limit);
}

const char *cr_suggest_close(const char *word, const char *const *candidates, int count) {
    return suggest(word, candidates, count, ((int)strlen(word) - 1) / 4);
}
