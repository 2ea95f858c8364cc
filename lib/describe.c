/* Model descriptions for resume checks (see describe.h). */
#include "describe.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

typedef struct text {
    char *bytes;
    size_t used, capacity;
    bool failed;
} text;

static void add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(text *t, const char *fmt, ...) {
    if (t->failed) return;
    for (;;) {
        va_list args;
        va_start(args, fmt);
        int n = vsnprintf(t->bytes + t->used, t->capacity - t->used, fmt, args);
        va_end(args);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if (t->used + (size_t)n < t->capacity) {
            t->used += (size_t)n;
            return;
        }
        size_t capacity = 2 * t->capacity + (size_t)n + 1;
        char *bigger = realloc(t->bytes, capacity);
        if (!bigger) {
            t->failed = true;
            return;
        }
        t->bytes = bigger;
        t->capacity = capacity;
    }
}

static void add_values(text *t, const cr_values *v) {
    if (!v->present) {
        add(t, "none");
        return;
    }
    /* The numbers themselves would make a long line: their checksum tells a change. */
    uLong crc = crc32(0L, (const Bytef *)v->data, (uInt)((size_t)v->count * sizeof *v->data));
    add(t, "%lld numbers, crc32 %08lx", (long long)v->count, (unsigned long)crc);
}

static void add_key(text *t, const cr_layer *layer, const cr_key *key) {
    const void *field = (const char *)layer->config + key->offset;
    add(t, "layer '%s' %s\t", layer->name, key->name);
    switch (key->type) {
    case CR_KEY_INT:
        add(t, "%d", *(const int *)field);
        break;
    case CR_KEY_INT_PAIR:
        add(t, "[%d, %d]", ((const int *)field)[0], ((const int *)field)[1]);
        break;
    case CR_KEY_PADDING: {
        const cr_padding *p = field;
        if (p->mode == CR_PAD_SAME)
            add(t, "same");
        else
            add(t, "[%d, %d]", p->size[0], p->size[1]);
        break;
    }
    case CR_KEY_FLOAT:
        add(t, "%.9g", (double)*(const float *)field);
        break;
    case CR_KEY_BOOL:
        add(t, "%s", *(const bool *)field ? "true" : "false");
        break;
    case CR_KEY_STRING:
        add(t, "%s", *(const char *const *)field ? *(const char *const *)field : "(default)");
        break;
    case CR_KEY_ACTIVATION:
        add(t, "%s", cr_activation_name(*(const cr_activation *)field));
        break;
    case CR_KEY_TENSOR:
        add_values(t, field);
        break;
    case CR_KEY_BIAS: {
        const cr_bias *b = field;
        add(t, "%s, values ", b->enabled ? "true" : "false");
        add_values(t, &b->values);
        break;
    }
    }
    add(t, "\n");
}

static void add_layer(text *t, const cr_model *model, const cr_layer *layer) {
    add(t, "layer '%s' type\t%s\n", layer->name, layer->kind->name);
    add(t, "layer '%s' inputs\t", layer->name);
    for (int k = 0; k < layer->n_inputs; k++)
        add(t, "%s%s", k ? ", " : "",
            layer->inputs[k] < 0 ? "input" : model->layers[layer->inputs[k]].name);
    add(t, "\nlayer '%s' output shape\t%d×%d×%d\n", layer->name, layer->out.c, layer->out.h,
        layer->out.w);
    for (int k = 0; k < layer->kind->n_keys; k++) add_key(t, layer, &layer->kind->keys[k]);
}

/* The layers the train section freezes, only when there are any: a
 * checkpoint from before `freeze:` describes the same run. Changing them
 * changes which parameters the optimizer's state holds, so a resume that
 * does is refused as a changed model file. */
static void add_frozen(text *t, const cr_model *model) {
    int frozen = 0;
    for (int i = 0; i < model->n_layers; i++) {
        if (!model->layers[i].frozen) continue;
        add(t, "%s%s", frozen++ ? ", " : "train freeze\t", model->layers[i].name);
    }
    if (frozen) add(t, "\n");
}

char *cr_model_describe(const cr_model *model, const cr_transform *transform) {
    text t = {0};
    add(&t, "input\t%d×%d×%d\n", model->input.c, model->input.h, model->input.w);
    for (int i = 0; i < model->n_layers; i++) add_layer(&t, model, &model->layers[i]);
    int channels = model->input.c < 4 ? model->input.c : 4;
    add(&t, "train normalize\tmean [");
    for (int c = 0; c < channels; c++) add(&t, "%s%.9g", c ? ", " : "", (double)transform->mean[c]);
    add(&t, "], std [");
    for (int c = 0; c < channels; c++) add(&t, "%s%.9g", c ? ", " : "", (double)transform->std[c]);
    add(&t, "]\ntrain augment crop_padding\t%d\ntrain augment hflip\t%s\n", transform->crop_padding,
        transform->hflip ? "true" : "false");
    add_frozen(&t, model);
    if (t.failed) {
        free(t.bytes);
        return NULL;
    }
    return t.bytes;
}

/* ---- comparing ----------------------------------------------------------------------- */

typedef struct line {
    const char *key, *value;
    int key_length, value_length;
} line;

static int compare_lines(const void *a, const void *b) {
    const line *x = a, *y = b;
    int n = x->key_length < y->key_length ? x->key_length : y->key_length;
    int order = memcmp(x->key, y->key, (size_t)n);
    return order ? order : x->key_length - y->key_length;
}

/* The lines of a description, sorted by key; NULL when out of memory. */
static line *split_lines(const char *description, int *count) {
    int capacity = 1;
    for (const char *c = description; *c; c++) capacity += *c == '\n';
    line *lines = malloc((size_t)capacity * sizeof *lines);
    *count = 0;
    if (!lines) return NULL;
    for (const char *c = description; *c;) {
        const char *end = strchr(c, '\n');
        if (!end) end = c + strlen(c);
        const char *tab = memchr(c, '\t', (size_t)(end - c));
        if (tab) lines[(*count)++] = (line){c, tab + 1, (int)(tab - c), (int)(end - tab - 1)};
        c = *end ? end + 1 : end;
    }
    qsort(lines, (size_t)*count, sizeof *lines, compare_lines);
    return lines;
}

static void note(char *out, size_t size, size_t *used, int *shown, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void note(char *out, size_t size, size_t *used, int *shown, const char *fmt, ...) {
    enum { SHOWN = 4 };
    if (++*shown > SHOWN || *used >= size) return;
    if (*shown > 1) *used += (size_t)snprintf(out + *used, size - *used, ", ");
    if (*used >= size) return;
    va_list args;
    va_start(args, fmt);
    *used += (size_t)vsnprintf(out + *used, size - *used, fmt, args);
    va_end(args);
}

/* For a line "layer 'X' KEY": whether `other` has layer X at all (its type line). */
static bool layer_present(const line *l, const line *other, int count) {
    static const char head[] = "layer '";
    if (l->key_length < (int)sizeof head || memcmp(l->key, head, sizeof head - 1) != 0) return true;
    const char *close = memchr(l->key + sizeof head - 1, '\'', (size_t)l->key_length);
    if (!close) return true;
    char key[CR_MAX_NAME_BYTES + 64];
    int n = snprintf(key, sizeof key, "%.*s type", (int)(close + 1 - l->key), l->key);
    if (n < 0 || n >= (int)sizeof key) return true;
    line probe = {key, NULL, n, 0};
    return bsearch(&probe, other, (size_t)count, sizeof *other, compare_lines) != NULL;
}

static bool is_type_line(const line *l) {
    return l->key_length > 5 && memcmp(l->key + l->key_length - 5, " type", 5) == 0;
}

int cr_describe_diff(const char *saved, const char *now, char *out, size_t size) {
    int n_saved, n_now, shown = 0;
    size_t used = 0;
    out[0] = '\0';
    line *before = split_lines(saved, &n_saved), *after = split_lines(now, &n_now);
    if (!before || !after) {
        free(before);
        free(after);
        snprintf(out, size, "(out of memory comparing the model files)");
        return 1;
    }
    for (int i = 0, j = 0; i < n_saved || j < n_now;) {
        int order = i == n_saved ? 1 : j == n_now ? -1 : compare_lines(&before[i], &after[j]);
        /* A whole layer added or removed is one change, not one per key. */
        if (order < 0) {
            if (layer_present(&before[i], after, n_now))
                note(out, size, &used, &shown, "%.*s removed (was %.*s)", before[i].key_length,
                     before[i].key, before[i].value_length, before[i].value);
            else if (is_type_line(&before[i]))
                note(out, size, &used, &shown, "%.*s (%.*s) removed", before[i].key_length - 5,
                     before[i].key, before[i].value_length, before[i].value);
            i++;
        } else if (order > 0) {
            if (layer_present(&after[j], before, n_saved))
                note(out, size, &used, &shown, "%.*s %.*s added", after[j].key_length, after[j].key,
                     after[j].value_length, after[j].value);
            else if (is_type_line(&after[j]))
                note(out, size, &used, &shown, "%.*s (%.*s) added", after[j].key_length - 5,
                     after[j].key, after[j].value_length, after[j].value);
            j++;
        } else {
            if (before[i].value_length != after[j].value_length ||
                memcmp(before[i].value, after[j].value, (size_t)after[j].value_length) != 0)
                note(out, size, &used, &shown, "%.*s %.*s (was %.*s)", after[j].key_length,
                     after[j].key, after[j].value_length, after[j].value, before[i].value_length,
                     before[i].value);
            i++;
            j++;
        }
    }
    if (shown > 4 && used < size) snprintf(out + used, size - used, " and %d more", shown - 4);
    free(before);
    free(after);
    return shown;
}
