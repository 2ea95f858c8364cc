/* CSV files of images and targets (see targets_csv.h). */
#include "targets_csv.h"

#include <csv.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "files.h"

/* ---- the file as a table of strings ------------------------------------------------ */

typedef struct csv_table {
    char **fields; /* every field, row after row */
    int64_t n_fields, field_capacity;
    int64_t *row_end; /* row r is fields [row_end[r − 1], row_end[r]) */
    int rows, row_capacity;
    bool out_of_memory;
} csv_table;

static void table_free(csv_table *t) {
    for (int64_t i = 0; i < t->n_fields; i++) free(t->fields[i]);
    free(t->fields);
    free(t->row_end);
    memset(t, 0, sizeof *t);
}

static void on_field(void *text, size_t length, void *user) {
    csv_table *t = user;
    if (t->out_of_memory) return;
    if (t->n_fields == t->field_capacity) {
        int64_t capacity = t->field_capacity ? 2 * t->field_capacity : 256;
        char **grown = realloc(t->fields, (size_t)capacity * sizeof *grown);
        if (!grown) {
            t->out_of_memory = true;
            return;
        }
        t->fields = grown;
        t->field_capacity = capacity;
    }
    char *copy = malloc(length + 1);
    if (!copy) {
        t->out_of_memory = true;
        return;
    }
    memcpy(copy, text ? text : "", length);
    copy[length] = '\0';
    t->fields[t->n_fields++] = copy;
}

static void on_row(int terminator, void *user) {
    (void)terminator;
    csv_table *t = user;
    if (t->out_of_memory) return;
    if (t->rows == t->row_capacity) {
        int capacity = t->row_capacity ? 2 * t->row_capacity : 256;
        int64_t *grown = realloc(t->row_end, (size_t)capacity * sizeof *grown);
        if (!grown) {
            t->out_of_memory = true;
            return;
        }
        t->row_end = grown;
        t->row_capacity = capacity;
    }
    t->row_end[t->rows++] = t->n_fields;
}

static int64_t row_start(const csv_table *t, int row) {
    return row ? t->row_end[row - 1] : 0;
}

static int row_width(const csv_table *t, int row) {
    return (int)(t->row_end[row] - row_start(t, row));
}

static const char *field_at(const csv_table *t, int row, int column) {
    return t->fields[row_start(t, row) + column];
}

static int read_table(const char *path, csv_table *t, cr_error *err) {
    memset(t, 0, sizeof *t);
    FILE *file = cr_fopen_regular(path, err);
    if (!file) return 1;
    struct csv_parser parser;
    if (csv_init(&parser, CSV_STRICT | CSV_STRICT_FINI) != 0) {
        fclose(file);
        return cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory");
    }
    char chunk[65536];
    size_t got;
    int status = 0;
    while (!status && (got = fread(chunk, 1, sizeof chunk, file)) > 0)
        if (csv_parse(&parser, chunk, got, on_field, on_row, t) != got)
            status = cr_fail_file(err, CR_ERR_INVALID, path, "not a valid CSV file: %s",
                                  csv_strerror(csv_error(&parser)));
    if (!status && ferror(file))
        status = cr_fail_file(err, CR_ERR_IO, path, "cannot read the file");
    if (!status && csv_fini(&parser, on_field, on_row, t) != 0)
        status = cr_fail_file(err, CR_ERR_INVALID, path,
                              "not a valid CSV file: %s (a quote left open at the end?)",
                              csv_strerror(csv_error(&parser)));
    csv_free(&parser);
    fclose(file);
    if (!status && t->out_of_memory)
        status = cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory");
    if (status) table_free(t);
    return status;
}

/* ---- the header and the classes -------------------------------------------------- */

typedef struct csv_columns {
    bool by_name; /* image,labels */
    int classes;  /* outputs */
    char **names; /* [classes], owned */
} csv_columns;

static void columns_free(csv_columns *c) {
    for (int i = 0; c->names && i < c->classes; i++) free(c->names[i]);
    free(c->names);
    memset(c, 0, sizeof *c);
}

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Calls visit(name) for each space-separated name of a labels field. */
static int each_name(const char *text, int (*visit)(const char *name, size_t length, void *user),
                     void *user) {
    for (const char *at = text; *at;) {
        while (*at == ' ') at++;
        size_t length = strcspn(at, " ");
        if (length && visit(at, length, user)) return 1;
        at += length;
    }
    return 0;
}

typedef struct name_set {
    char **names;
    int count, capacity;
} name_set;

static int add_name(const char *name, size_t length, void *user) {
    name_set *set = user;
    for (int i = 0; i < set->count; i++)
        if (strlen(set->names[i]) == length && strncmp(set->names[i], name, length) == 0) return 0;
    if (set->count == set->capacity) {
        int capacity = set->capacity ? 2 * set->capacity : 16;
        char **grown = realloc(set->names, (size_t)capacity * sizeof *grown);
        if (!grown) return 1;
        set->names = grown;
        set->capacity = capacity;
    }
    set->names[set->count] = strndup(name, length);
    return set->names[set->count++] ? 0 : 1;
}

/* The header of a file: `image,labels` or `image,NAME,...`. For names, the
 * classes are those the (training) table uses, sorted. */
static int read_columns(const char *path, const csv_table *t, csv_columns *out, cr_error *err) {
    memset(out, 0, sizeof *out);
    if (t->rows == 0)
        return cr_fail_file(err, CR_ERR_INVALID, path,
                            "the file is empty: expected a header such as image,labels or "
                            "image,CLASS1,CLASS2");
    int width = row_width(t, 0);
    if (width < 2 || strcmp(field_at(t, 0, 0), "image") != 0)
        return cr_fail_file(err, CR_ERR_INVALID, path,
                            "row 1 must be the header: 'image' then 'labels' (class names "
                            "separated by spaces) or one column per output, such as "
                            "image,cat,dog; got '%s'%s",
                            field_at(t, 0, 0), width < 2 ? " alone" : " first");
    if (width == 2 && strcmp(field_at(t, 0, 1), "labels") == 0) {
        out->by_name = true;
        name_set set = {0};
        int failed = 0;
        for (int row = 1; row < t->rows && !failed; row++)
            if (row_width(t, row) == 2) failed = each_name(field_at(t, row, 1), add_name, &set);
        if (!failed && set.count == 0)
            failed = cr_fail_file(err, CR_ERR_INVALID, path,
                                  "no class names in the 'labels' column: at least one image "
                                  "must name a class");
        else if (failed)
            cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory");
        if (failed) {
            for (int i = 0; i < set.count; i++) free(set.names[i]);
            free(set.names);
            return 1;
        }
        qsort(set.names, (size_t)set.count, sizeof *set.names, compare_strings);
        out->names = set.names;
        out->classes = set.count;
        return 0;
    }
    out->classes = width - 1;
    out->names = calloc((size_t)out->classes, sizeof *out->names);
    if (!out->names) return cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory");
    for (int k = 0; k < out->classes; k++) {
        const char *name = field_at(t, 0, k + 1);
        for (int j = 0; j < k; j++)
            if (strcmp(out->names[j], name) == 0) {
                columns_free(out);
                return cr_fail_file(err, CR_ERR_INVALID, path,
                                    "row 1: column '%s' appears twice in the header", name);
            }
        if (!name[0] || strlen(name) > CR_CLASS_NAME_MAX) {
            columns_free(out);
            return cr_fail_file(err, CR_ERR_INVALID, path,
                                "row 1: column %d's name is %s (1 to %d bytes)", k + 2,
                                name[0] ? "too long" : "empty", CR_CLASS_NAME_MAX);
        }
        out->names[k] = strdup(name);
        if (!out->names[k]) {
            columns_free(out);
            return cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory");
        }
    }
    return 0;
}

/* The test file must have the training file's header: output k means the
 * same in both. */
static int same_header(const char *path, const csv_table *t, const char *train_path,
                       const csv_table *train, cr_error *err) {
    int width = row_width(t, 0), train_width = row_width(train, 0);
    for (int k = 0; k < width || k < train_width; k++) {
        const char *mine = k < width ? field_at(t, 0, k) : "(none)";
        const char *theirs = k < train_width ? field_at(train, 0, k) : "(none)";
        if (strcmp(mine, theirs) != 0)
            return cr_fail_file(err, CR_ERR_INVALID, path,
                                "row 1: column %d is '%s' but '%s' in the training file %s: both "
                                "files need the same header",
                                k + 1, mine, theirs, train_path);
    }
    return 0;
}

/* ---- rows ------------------------------------------------------------------------- */

typedef struct name_row {
    const csv_columns *columns;
    float *targets;
    const char *unknown; /* the first name not among the classes */
    size_t unknown_length;
} name_row;

static int mark_name(const char *name, size_t length, void *user) {
    name_row *r = user;
    for (int k = 0; k < r->columns->classes; k++)
        if (strlen(r->columns->names[k]) == length &&
            strncmp(r->columns->names[k], name, length) == 0) {
            r->targets[k] = 1.0f;
            return 0;
        }
    r->unknown = name;
    r->unknown_length = length;
    return 1;
}

/* Row `row`'s targets into out[classes]. */
static int read_targets(const char *path, const csv_table *t, int row, const csv_columns *columns,
                        float *out, cr_error *err) {
    if (row_width(t, row) != row_width(t, 0))
        return cr_fail_file(err, CR_ERR_INVALID, path, "row %d has %d fields, the header %d",
                            row + 1, row_width(t, row), row_width(t, 0));
    if (columns->by_name) {
        memset(out, 0, (size_t)columns->classes * sizeof *out);
        name_row r = {.columns = columns, .targets = out};
        if (each_name(field_at(t, row, 1), mark_name, &r))
            return cr_fail_file(err, CR_ERR_INVALID, path,
                                "row %d: class '%.*s' is not one of the training file's %d "
                                "classes",
                                row + 1, (int)r.unknown_length, r.unknown, columns->classes);
        return 0;
    }
    for (int k = 0; k < columns->classes; k++) {
        const char *text = field_at(t, row, k + 1);
        char *end;
        double value = strtod(text, &end);
        if (!text[0] || *end || !isfinite(value) || fabs(value) > 3.0e38)
            return cr_fail_file(err, CR_ERR_INVALID, path,
                                "row %d, column '%s': '%s' is not a finite number", row + 1,
                                columns->names[k], text);
        out[k] = (float)value;
    }
    return 0;
}

/* The image of row `row`, relative to the CSV file's folder. */
static int read_image(const char *path, const csv_table *t, int row, cr_shape want, uint8_t *out,
                      cr_error *err) {
    const char *image = field_at(t, row, 0);
    if (!image[0])
        return cr_fail_file(err, CR_ERR_INVALID, path, "row %d: the image's path is empty",
                            row + 1);
    const char *slash = strrchr(path, '/');
    char full[4096];
    int length = image[0] == '/' || !slash
                     ? snprintf(full, sizeof full, "%s", image)
                     : snprintf(full, sizeof full, "%.*s/%s", (int)(slash - path), path, image);
    if (length < 0 || (size_t)length >= sizeof full)
        return cr_fail_file(err, CR_ERR_INVALID, path, "row %d: the image's path is too long",
                            row + 1);
    return cr_image_decode(full, want, out, err);
}

static int read_rows(const char *path, const csv_table *t, const csv_columns *columns,
                     cr_shape want, cr_dataset *out, cr_error *err) {
    int count = t->rows - 1;
    if (count < 1)
        return cr_fail_file(err, CR_ERR_INVALID, path, "no images: the file has only its header");
    size_t image_bytes = (size_t)cr_shape_size(want);
    out->pixels = malloc((size_t)count * image_bytes);
    out->labels = malloc((size_t)count * sizeof *out->labels);
    out->targets = malloc((size_t)count * (size_t)columns->classes * sizeof *out->targets);
    if (!out->pixels || !out->labels || !out->targets)
        return cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory for %d images", count);
    for (int i = 0; i < count; i++) {
        out->labels[i] = i;
        if (read_targets(path, t, i + 1, columns, out->targets + (int64_t)i * columns->classes,
                         err) ||
            read_image(path, t, i + 1, want, out->pixels + (size_t)i * image_bytes, err))
            return 1;
    }
    out->count = out->target_rows = count;
    return 0;
}

int cr_csv_load(const cr_data_source *source, bool test, cr_shape want, cr_dataset *out,
                cr_error *err) {
    memset(out, 0, sizeof *out);
    const char *path = test ? source->test_dir : source->train_dir;
    if (!path[0])
        return cr_fail_file(err, CR_ERR_USAGE, source->train_dir,
                            "no test file given: use csv:TRAIN.csv,TEST.csv, or hold out a "
                            "validation fraction of the training file");
    /* The classes come from the training file, whichever split is loaded. */
    csv_table train, mine = {0};
    if (read_table(source->train_dir, &train, err)) return 1;
    csv_columns columns;
    int status = read_columns(source->train_dir, &train, &columns, err);
    if (!status && test)
        status = read_table(path, &mine, err) ||
                 (mine.rows == 0 ? cr_fail_file(err, CR_ERR_INVALID, path,
                                                "the file is empty: expected the training "
                                                "file's header, then one row per image")
                                 : same_header(path, &mine, source->train_dir, &train, err));
    if (!status) status = read_rows(path, test ? &mine : &train, &columns, want, out, err);
    table_free(&train);
    table_free(&mine);
    if (status) {
        columns_free(&columns);
        cr_dataset_free(out);
        return 1;
    }
    out->channels = want.c;
    out->height = want.h;
    out->width = want.w;
    out->classes = columns.classes;
    out->class_names = columns.names;
    out->source = strdup(path);
    return 0;
}
