#include "error.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Copies `text` into out[size]; when it does not fit, the middle of its
 * longest word (a path, nearly always) gives way to "...", so the start and
 * the reason at the end stay; failing that, the middle of the whole text. */
static void fit_text(const char *text, char *out, size_t size) {
    size_t length = strlen(text);
    if (size == 0) return;
    if (length < size) {
        memcpy(out, text, length + 1);
        return;
    }
    static const char dots[] = "...";
    size_t excess = length - (size - 1) + (sizeof dots - 1);
    size_t word_start = 0, word_length = 0;
    for (size_t i = 0; i < length;) {
        size_t j = i;
        while (j < length && text[j] != ' ') j++;
        if (j - i > word_length) word_start = i, word_length = j - i;
        i = j + 1;
    }
    size_t cut_start, cut_length = excess;
    if (word_length > excess + 8)
        cut_start = word_start + (word_length - excess) / 2;
    else
        cut_start = (length - excess) / 2;
    /* Never split a UTF-8 sequence: move the cut to a character boundary. */
    while (cut_start > 0 && ((unsigned char)text[cut_start] & 0xC0) == 0x80) cut_start--;
    while (cut_start + cut_length < length &&
           ((unsigned char)text[cut_start + cut_length] & 0xC0) == 0x80)
        cut_length++;
    snprintf(out, size, "%.*s%s%s", (int)cut_start, text, dots, text + cut_start + cut_length);
}

int cr_vfail(cr_error *err, cr_error_kind kind, cr_mark mark, const char *layer, const char *fmt,
             va_list args) {
    if (!err) return 1;
    err->kind = kind;
    err->mark = mark;
    if (mark.file) {
        fit_text(mark.file, err->file, sizeof err->file);
        err->mark.file = err->file;
    }
    fit_text(layer ? layer : "", err->layer, sizeof err->layer);
    /* Formatted in full first: a long path must not push the reason out. */
    va_list copy;
    va_copy(copy, args);
    int length = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    char *full = length >= 0 ? malloc((size_t)length + 1) : NULL;
    if (full) {
        vsnprintf(full, (size_t)length + 1, fmt, args);
        fit_text(full, err->message, sizeof err->message);
        free(full);
    } else {
        vsnprintf(err->message, sizeof err->message, fmt, args);
    }
    return 1;
}

size_t cr_escape_text(const char *text, char *out, size_t size) {
    size_t used = 0;
    if (size == 0) return 0;
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        char piece[8];
        /* C0 controls and DEL; C1 controls (U+0080..U+009F, UTF-8 C2 80..C2 9F). */
        if (*c < 0x20 || *c == 0x7f)
            snprintf(piece, sizeof piece, *c == '\n' ? "\\n" : *c == '\t' ? "\\t" : "\\x%02x", *c);
        else if (*c == 0xC2 && c[1] >= 0x80 && c[1] <= 0x9F)
            snprintf(piece, sizeof piece, "\\u%04x", *++c);
        else
            piece[0] = (char)*c, piece[1] = '\0';
        size_t n = strlen(piece);
        if (used + n >= size) break;
        memcpy(out + used, piece, n);
        used += n;
    }
    out[used] = '\0';
    return used;
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

/* The located text with control characters from names and paths escaped
 * (a model named "\e[2J" must not clear the terminal), fitted to size. */
static void format_escaped(cr_mark mark, const char *layer, const char *message, char *out,
                           size_t size) {
    char raw[2048], escaped[8192];
    format_location(mark, layer, message, raw, sizeof raw);
    cr_escape_text(raw, escaped, sizeof escaped);
    fit_text(escaped, out, size);
}

void cr_error_format(const cr_error *err, char *out, size_t size) {
    format_escaped(err->mark, err->layer, err->message, out, size);
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
    format_escaped(warning->mark, warning->layer, message, out, size);
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
