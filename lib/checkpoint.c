/* Training checkpoints (see checkpoint.h for the file's contents). */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "checkpoint.h"
#include "model.h"
#include "safetensors.h"
#include "train_config.h"

#define PREFIX CR_RESERVED_NAME_PREFIX "."

typedef enum field_type { FIELD_INT, FIELD_REAL } field_type;

/* The scalar fields of cr_checkpoint_state, each stored as one tensor. */
typedef struct field {
    const char *name;
    field_type type; /* FIELD_INT: an 8-byte integer (int64_t or uint64_t); FIELD_REAL: double */
    size_t offset;
    bool optional; /* older checkpoints lack it: it stays 0 (train_settings.h's added_later) */
} field;

#define INT_FIELD(member)                                                                          \
    { PREFIX #member, FIELD_INT, offsetof(cr_checkpoint_state, member), false }
#define REAL_FIELD(member)                                                                         \
    { PREFIX #member, FIELD_REAL, offsetof(cr_checkpoint_state, member), false }

static const field state_fields[] = {
    INT_FIELD(epoch),        INT_FIELD(step_in_epoch),  INT_FIELD(global_step),
    INT_FIELD(order_seed),   INT_FIELD(augment_rng),    INT_FIELD(dropout_rng),
    REAL_FIELD(loss_sum),    INT_FIELD(correct),        INT_FIELD(seen),
    REAL_FIELD(seconds),     REAL_FIELD(best_accuracy), INT_FIELD(best_epoch),
    INT_FIELD(train_images), INT_FIELD(data_hash),      INT_FIELD(model_hash),
};
#define N_STATE_FIELDS (int)(sizeof state_fields / sizeof state_fields[0])

/* Every scalar field of a checkpoint: the state's own, then the stored
 * training settings (train_settings.h) in cr_checkpoint_state.settings. */
typedef struct field_list {
    field items[N_STATE_FIELDS + CR_TRAIN_SETTINGS_MAX];
    char names[CR_TRAIN_SETTINGS_MAX][64];
    int count;
} field_list;

static void list_fields(field_list *list) {
    list->count = 0;
    for (int f = 0; f < N_STATE_FIELDS; f++) list->items[list->count++] = state_fields[f];
    for (int i = 0; i < cr_train_setting_count; i++) {
        const cr_train_setting *s = &cr_train_settings[i];
        if (s->on_resume == CR_RESUME_NOT_STORED) continue;
        snprintf(list->names[i], sizeof list->names[i], PREFIX "%s", s->name);
        list->items[list->count++] =
            (field){list->names[i], cr_train_setting_is_real(s) ? FIELD_REAL : FIELD_INT,
                    offsetof(cr_checkpoint_state, settings) + (size_t)i * sizeof(cr_setting_value),
                    s->added_later};
    }
}

static const char optimizer_state_name[] = PREFIX "optimizer_state";
static const char optimizer_steps_name[] = PREFIX "optimizer_steps";
static const char metrics_name[] = PREFIX "metrics";
static const char description_name[] = PREFIX "model_description";
static const char overrides_name[] = PREFIX "overrides";
static const char checksums_name[] = PREFIX "checksums";

int cr_checkpoint_add_metrics(cr_checkpoint_state *state, const double *row, cr_error *err) {
    if (state->metric_rows == state->metric_capacity) {
        int64_t capacity = state->metric_capacity ? 2 * state->metric_capacity : 16;
        double *grown =
            realloc(state->metrics, (size_t)(capacity * CR_METRIC_COLUMNS) * sizeof *grown);
        if (!grown) return cr_fail(err, CR_ERR_RUNTIME, (cr_mark){0}, NULL, "out of memory");
        state->metrics = grown;
        state->metric_capacity = capacity;
    }
    memcpy(state->metrics + state->metric_rows * CR_METRIC_COLUMNS, row,
           CR_METRIC_COLUMNS * sizeof *row);
    state->metric_rows++;
    return 0;
}

void cr_checkpoint_state_free(cr_checkpoint_state *state) {
    free(state->metrics);
    free(state->model_description);
    free(state->overrides);
    state->model_description = state->overrides = NULL;
    state->metrics = NULL;
    state->metric_rows = state->metric_capacity = 0;
}

/* ---- checksums ----------------------------------------------------------------------- */

static int64_t tensor_bytes(const cr_safetensors_tensor *t) {
    int64_t count = 1;
    for (int d = 0; d < t->ndim; d++) count *= t->shape[d];
    return count * cr_dtype_size(t->dtype);
}

/* crc32 of a tensor's bytes as the file holds them (little-endian). */
static uint32_t tensor_crc(const cr_safetensors_tensor *t) {
    int64_t bytes = tensor_bytes(t);
    const unsigned char *data = t->data;
    uLong crc = crc32(0L, Z_NULL, 0);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    int size = cr_dtype_size(t->dtype);
    for (int64_t i = 0; i < bytes; i += size)
        for (int b = size - 1; b >= 0; b--) crc = crc32(crc, data + i + b, 1);
#else
    for (int64_t done = 0; done < bytes;) {
        uInt piece = bytes - done > (1 << 30) ? 1u << 30 : (uInt)(bytes - done);
        crc = crc32(crc, data + done, piece);
        done += piece;
    }
#endif
    return (uint32_t)crc;
}

static const char *const *sort_names_base;
static int compare_indices(const void *a, const void *b) {
    return strcmp(sort_names_base[*(const int *)a], sort_names_base[*(const int *)b]);
}

/* Indices 0..count-1 ordered by name[i] in byte order. */
static int *name_order(const char *const *names, int count) {
    int *order = malloc((count > 0 ? (size_t)count : 1) * sizeof *order);
    if (!order) return NULL;
    for (int i = 0; i < count; i++) order[i] = i;
    sort_names_base = names;
    qsort(order, (size_t)count, sizeof *order, compare_indices);
    return order;
}

/* checksums[k]: the crc32 of the k-th tensor in name order. */
static int checksum_tensors(const cr_safetensors_tensor *tensors, int count, int64_t *checksums) {
    const char **names = malloc((size_t)(count ? count : 1) * sizeof *names);
    if (!names) return 1;
    for (int i = 0; i < count; i++) names[i] = tensors[i].name;
    int *order = name_order(names, count);
    free(names);
    if (!order) return 1;
    for (int k = 0; k < count; k++) checksums[k] = tensor_crc(&tensors[order[k]]);
    free(order);
    return 0;
}

/* crc32 of an entry's bytes in the file. */
static int entry_crc(cr_safetensors_file *file, const cr_safetensors_entry *entry, uint32_t *out,
                     cr_error *err) {
    if (fseeko(file->stream, file->data_start + entry->begin, SEEK_SET) != 0)
        return cr_fail_file(err, CR_ERR_IO, file->path, "cannot read tensor '%s': %s", entry->name,
                            strerror(errno));
    unsigned char buffer[1 << 16];
    uLong crc = crc32(0L, Z_NULL, 0);
    for (int64_t left = entry->end - entry->begin; left > 0;) {
        size_t piece = left > (int64_t)sizeof buffer ? sizeof buffer : (size_t)left;
        if (fread(buffer, 1, piece, file->stream) != piece)
            return cr_fail_file(err, CR_ERR_IO, file->path, "cannot read tensor '%s'", entry->name);
        crc = crc32(crc, buffer, (uInt)piece);
        left -= (int64_t)piece;
    }
    *out = (uint32_t)crc;
    return 0;
}

static int read_raw64(cr_safetensors_file *file, const cr_safetensors_entry *entry, void *out,
                      cr_error *err);

/* Every tensor against its stored checksum. A file without checksums (an
 * older cnnrun's) passes with *verified false. */
static int verify_checksums(cr_safetensors_file *file, bool *verified, cr_error *err) {
    *verified = false;
    const cr_safetensors_entry *sums = cr_safetensors_find(file, checksums_name);
    if (!sums) return 0;
    int others = file->count - 1;
    if (sums->dtype != CR_DTYPE_I64 || sums->count != others)
        return cr_fail_file(err, CR_ERR_INVALID, file->path,
                            "tensor '%s' should be I64 with one value for each of the %d other "
                            "tensors, found %s with %lld: the file is damaged",
                            checksums_name, others, cr_dtype_name(sums->dtype),
                            (long long)sums->count);
    const char **names = malloc((size_t)(others ? others : 1) * sizeof *names);
    const cr_safetensors_entry **entries = malloc((size_t)(others ? others : 1) * sizeof *entries);
    int64_t *stored = malloc((size_t)(others ? others : 1) * sizeof *stored);
    int *order = NULL, status = 0;
    if (!names || !entries || !stored)
        status = cr_fail_file(err, CR_ERR_RUNTIME, file->path, "out of memory");
    for (int i = 0, k = 0; !status && i < file->count; i++)
        if (&file->entries[i] != sums) {
            entries[k] = &file->entries[i];
            names[k++] = file->entries[i].name;
        }
    if (!status && !(order = name_order(names, others)))
        status = cr_fail_file(err, CR_ERR_RUNTIME, file->path, "out of memory");
    if (!status) status = read_raw64(file, sums, stored, err);
    for (int k = 0; !status && k < others; k++) {
        uint32_t crc;
        status = entry_crc(file, entries[order[k]], &crc, err);
        if (!status && (int64_t)crc != stored[k])
            status = cr_fail_file(err, CR_ERR_INVALID, file->path,
                                  "tensor '%s' does not match the checksum saved with it: the "
                                  "file was damaged after it was written (resume from a copy, or "
                                  "start a new run from last.safetensors with --init)",
                                  entries[order[k]]->name);
    }
    free(names);
    free(entries);
    free(stored);
    free(order);
    if (!status) *verified = true;
    return status;
}

/* ---- saving -------------------------------------------------------------------------- */

int cr_checkpoint_save(const char *path, cr_net *net, const cr_optimizer *optimizer,
                       const cr_checkpoint_state *state, cr_error *err) {
    field_list list;
    list_fields(&list);
    const field *fields = list.items;
    int n_fields = list.count;
    int params = cr_net_param_count(net);
    /* + state, steps, metrics, description, overrides, checksums */
    int count = params + 6 + n_fields;
    cr_safetensors_tensor *tensors = calloc((size_t)count, sizeof *tensors);
    if (!tensors) return cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory");
    int n = 0;
    for (int p = 0; p < params; p++) {
        cr_tensor t = cr_net_param(net, p);
        if (strncmp(t.name, PREFIX, strlen(PREFIX)) == 0) {
            free(tensors);
            return cr_fail_file(err, CR_ERR_INVALID, path,
                                "parameter '%s' has a name that checkpoints reserve ('%s...'): "
                                "rename its layer",
                                t.name, PREFIX);
        }
        cr_safetensors_tensor *out = &tensors[n++];
        *out = (cr_safetensors_tensor){
            .name = t.name, .dtype = CR_DTYPE_F32, .ndim = t.ndim, .data = t.data};
        for (int d = 0; d < t.ndim; d++) out->shape[d] = t.dims[d];
    }
    static const float no_floats[1];
    static const double no_doubles[1];
    tensors[n++] = (cr_safetensors_tensor){
        .name = optimizer_state_name,
        .dtype = CR_DTYPE_F32,
        .ndim = 1,
        .shape = {optimizer->state_floats},
        .data = optimizer->state ? optimizer->state : no_floats,
    };
    tensors[n++] = (cr_safetensors_tensor){
        .name = optimizer_steps_name, .dtype = CR_DTYPE_I64, .ndim = 0, .data = &optimizer->steps};
    tensors[n++] = (cr_safetensors_tensor){
        .name = metrics_name,
        .dtype = CR_DTYPE_F64,
        .ndim = 2,
        .shape = {state->metric_rows, CR_METRIC_COLUMNS},
        .data = state->metrics ? state->metrics : no_doubles,
    };
    for (int f = 0; f < n_fields; f++)
        tensors[n++] = (cr_safetensors_tensor){
            .name = fields[f].name,
            .dtype = fields[f].type == FIELD_INT ? CR_DTYPE_I64 : CR_DTYPE_F64,
            .ndim = 0,
            .data = (const char *)state + fields[f].offset,
        };
    if (state->model_description)
        tensors[n++] = (cr_safetensors_tensor){.name = description_name,
                                               .dtype = CR_DTYPE_U8,
                                               .ndim = 1,
                                               .shape = {(int64_t)strlen(state->model_description)},
                                               .data = state->model_description};
    if (state->overrides && state->overrides[0])
        tensors[n++] = (cr_safetensors_tensor){.name = overrides_name,
                                               .dtype = CR_DTYPE_U8,
                                               .ndim = 1,
                                               .shape = {(int64_t)strlen(state->overrides)},
                                               .data = state->overrides};
    int64_t *checksums = malloc((size_t)n * sizeof *checksums);
    if (!checksums || checksum_tensors(tensors, n, checksums)) {
        free(checksums);
        free(tensors);
        return cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory");
    }
    tensors[n] = (cr_safetensors_tensor){
        .name = checksums_name, .dtype = CR_DTYPE_I64, .ndim = 1, .shape = {n}, .data = checksums};
    int status = cr_safetensors_write(path, tensors, n + 1, err);
    free(checksums);
    free(tensors);
    return status;
}

/* ---- loading ------------------------------------------------------------------------- */

/* Reads an F64 or I64 entry's 8-byte elements as they are stored: doubles
 * must come back exactly (the metrics and running sums), which the float32
 * reader cannot promise. */
static int read_raw64(cr_safetensors_file *file, const cr_safetensors_entry *entry, void *out,
                      cr_error *err) {
    int64_t bytes = entry->count * 8;
    if (fseeko(file->stream, file->data_start + entry->begin, SEEK_SET) != 0)
        return cr_fail_file(err, CR_ERR_IO, file->path, "cannot read tensor '%s': %s", entry->name,
                            strerror(errno));
    unsigned char buffer[8];
    uint64_t *words = out;
    for (int64_t i = 0; i < entry->count; i++) {
        if (fread(buffer, 1, 8, file->stream) != 8)
            return cr_fail_file(err, CR_ERR_IO, file->path, "cannot read tensor '%s' (%lld bytes)",
                                entry->name, (long long)bytes);
        uint64_t value = 0;
        for (int b = 7; b >= 0; b--) value = value << 8 | buffer[b];
        words[i] = value;
    }
    return 0;
}

/* The entry called `name`, checked to be `dtype` with `count` elements. */
static int find_entry(cr_safetensors_file *file, const char *name, cr_dtype dtype, int64_t count,
                      const cr_safetensors_entry **out, cr_error *err) {
    const cr_safetensors_entry *entry = cr_safetensors_find(file, name);
    if (!entry)
        return cr_fail_file(err, CR_ERR_INVALID, file->path,
                            "not a cnnrun training checkpoint: tensor '%s' is missing", name);
    if (entry->dtype != dtype || (count >= 0 && entry->count != count))
        return cr_fail_file(err, CR_ERR_INVALID, file->path,
                            "tensor '%s' should be %s with %lld elements, found %s with %lld", name,
                            cr_dtype_name(dtype), (long long)count, cr_dtype_name(entry->dtype),
                            (long long)entry->count);
    *out = entry;
    return 0;
}

static bool is_param(cr_net *net, const char *name) {
    for (int p = 0; p < cr_net_param_count(net); p++)
        if (strcmp(cr_net_param(net, p).name, name) == 0) return true;
    return false;
}

static int read_params(cr_safetensors_file *file, cr_net *net, float *staging, cr_error *err) {
    for (int i = 0; i < file->count; i++) {
        const char *name = file->entries[i].name;
        if (strncmp(name, PREFIX, strlen(PREFIX)) != 0 && !is_param(net, name))
            return cr_fail_file(err, CR_ERR_INVALID, file->path,
                                "the checkpoint has tensor '%s', which this model lacks: was it "
                                "made by another model?",
                                name);
    }
    int64_t offset = 0;
    for (int p = 0; p < cr_net_param_count(net); p++) {
        cr_tensor t = cr_net_param(net, p);
        const cr_safetensors_entry *entry = cr_safetensors_find(file, t.name);
        if (!entry)
            return cr_fail_file(err, CR_ERR_INVALID, file->path,
                                "the checkpoint lacks tensor '%s': was it made by another model?",
                                t.name);
        bool same_shape = entry->ndim == t.ndim && entry->dtype == CR_DTYPE_F32;
        for (int d = 0; d < t.ndim && same_shape; d++) same_shape = entry->shape[d] == t.dims[d];
        if (!same_shape)
            return cr_fail_file(err, CR_ERR_INVALID, file->path,
                                "tensor '%s' has another shape or type than the model's (%lld "
                                "elements of %s, the model has %lld of F32)",
                                t.name, (long long)entry->count, cr_dtype_name(entry->dtype),
                                (long long)t.count);
        if (cr_safetensors_read_floats(file, entry, staging + offset, err)) return 1;
        offset += t.count;
    }
    return 0;
}

/* A field outside [low, high] (an edited or damaged file) would make the
 * run skip or repeat steps silently. */
static int check_field(const char *path, const char *name, double value, double low, double high,
                       cr_error *err) {
    if (value >= low && value <= high) return 0;
    return cr_fail_file(err, CR_ERR_INVALID, path,
                        "tensor '" PREFIX "%s' is %g, outside [%g, %g]: the checkpoint is damaged",
                        name, value, low, high);
}

/* A stored whole-number setting (train_settings.h) as a double. */
static double setting(const cr_checkpoint_state *s, const char *name) {
    int row = cr_train_setting_find(name);
    return row < 0 ? 0 : (double)s->settings[row].i;
}

static int check_ranges(const char *path, const cr_checkpoint_state *s, cr_error *err) {
    const double most = 2147483647.0, huge = 9.0e15;
    return check_field(path, "epoch", (double)s->epoch, 0, most, err) ||
           check_field(path, "step_in_epoch", (double)s->step_in_epoch, 0, most, err) ||
           check_field(path, "global_step", (double)s->global_step, 0, huge, err) ||
           check_field(path, "seen", (double)s->seen, 0, huge, err) ||
           /* binary_cross_entropy counts image × output pairs: up to seen × outputs. */
           check_field(path, "correct", (double)s->correct, 0, huge, err) ||
           check_field(path, "loss_sum", s->loss_sum, 0, 1e300, err) ||
           check_field(path, "seconds", s->seconds, 0, 1e300, err) ||
           check_field(path, "best_accuracy", s->best_accuracy, -1, 1, err) ||
           check_field(path, "best_epoch", (double)s->best_epoch, 0, (double)s->epoch, err) ||
           check_field(path, "batch_size", setting(s, "batch_size"), 1, most, err) ||
           check_field(path, "train_images", (double)s->train_images, 1, most, err) ||
           check_field(path, "epochs", setting(s, "epochs"), 1, most, err) ||
           check_field(path, "optimizer_type", setting(s, "optimizer_type"), CR_OPT_SGD,
                       CR_OPT_ADAMW, err) ||
           check_field(path, "schedule_type", setting(s, "schedule_type"), CR_SCHED_CONSTANT,
                       CR_SCHED_COSINE, err) ||
           check_field(path, "loss_type", setting(s, "loss_type"), CR_LOSS_CROSS_ENTROPY,
                       CR_LOSS_MSE, err) ||
           check_field(path, "monitor", setting(s, "monitor"), CR_MONITOR_VAL_ACCURACY,
                       CR_MONITOR_VAL_LOSS, err);
}

/* The U8 tensor `name` as a string in *out (malloc'ed), or *out NULL when
 * the file has none. */
static int read_text(cr_safetensors_file *file, const char *name, char **out, cr_error *err) {
    *out = NULL;
    const cr_safetensors_entry *entry = cr_safetensors_find(file, name);
    if (!entry) return 0;
    if (entry->dtype != CR_DTYPE_U8 || entry->ndim != 1)
        return cr_fail_file(err, CR_ERR_INVALID, file->path, "tensor '%s' should be U8 text", name);
    char *text = malloc((size_t)entry->count + 1);
    if (!text) return cr_fail_file(err, CR_ERR_RUNTIME, file->path, "out of memory");
    if (fseeko(file->stream, file->data_start + entry->begin, SEEK_SET) != 0 ||
        fread(text, 1, (size_t)entry->count, file->stream) != (size_t)entry->count) {
        free(text);
        return cr_fail_file(err, CR_ERR_IO, file->path, "cannot read tensor '%s'", name);
    }
    text[entry->count] = '\0';
    *out = text;
    return 0;
}

/* The scalar fields, the description and the overrides, after the checksums. */
static int read_state(cr_safetensors_file *file, cr_checkpoint_state *loaded, cr_error *err) {
    int status = verify_checksums(file, &loaded->verified, err);
    const cr_safetensors_entry *entry = NULL;
    field_list list;
    list_fields(&list);
    const field *fields = list.items;
    for (int f = 0; f < list.count && !status; f++) {
        cr_dtype dtype = fields[f].type == FIELD_INT ? CR_DTYPE_I64 : CR_DTYPE_F64;
        if (fields[f].optional && !cr_safetensors_find(file, fields[f].name)) continue;
        status = find_entry(file, fields[f].name, dtype, 1, &entry, err) ||
                 read_raw64(file, entry, (char *)loaded + fields[f].offset, err);
    }
    if (!status) status = check_ranges(file->path, loaded, err);
    if (!status) status = read_text(file, description_name, &loaded->model_description, err);
    if (!status) status = read_text(file, overrides_name, &loaded->overrides, err);
    return status;
}

int cr_checkpoint_peek(const char *path, cr_checkpoint_state *state, cr_error *err) {
    memset(state, 0, sizeof *state);
    cr_safetensors_file *file;
    if (cr_safetensors_open(path, &file, err)) return 1;
    int status = read_state(file, state, err);
    cr_safetensors_close(file);
    if (status) cr_checkpoint_state_free(state);
    return status;
}

int cr_checkpoint_load(const char *path, cr_net *net, cr_optimizer *optimizer,
                       cr_checkpoint_state *state, cr_error *err) {
    cr_safetensors_file *file;
    if (cr_safetensors_open(path, &file, err)) return 1;
    int64_t param_floats = 0;
    for (int p = 0; p < cr_net_param_count(net); p++) param_floats += cr_net_param(net, p).count;
    float *staging = malloc((size_t)(param_floats ? param_floats : 1) * sizeof *staging);
    float *optimizer_state =
        malloc((size_t)(optimizer->state_floats ? optimizer->state_floats : 1) * sizeof(float));
    cr_checkpoint_state loaded = {0};
    int64_t optimizer_steps = 0;
    int status = 0;
    if (!staging || !optimizer_state)
        status = cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory");
    const cr_safetensors_entry *entry;
    if (!status) status = read_state(file, &loaded, err);
    /* The optimizer's type fixes its state's layout: checked before the
     * state is read (the settings table marks it refused on resume). */
    int64_t saved_type = loaded.settings[cr_train_setting_find("optimizer_type")].i;
    if (!status && saved_type != (int64_t)optimizer->config.type)
        status =
            cr_fail_file(err, CR_ERR_INVALID, path,
                         "the checkpoint was saved with optimizer %s, this run uses %s: resume "
                         "with the optimizer the run started with",
                         cr_optimizer_name((cr_optimizer_type)saved_type),
                         cr_optimizer_name(optimizer->config.type));
    if (!status) status = read_params(file, net, staging, err);
    if (!status) {
        entry = cr_safetensors_find(file, optimizer_state_name);
        if (entry && entry->dtype == CR_DTYPE_F32 && entry->count != optimizer->state_floats)
            status =
                cr_fail_file(err, CR_ERR_INVALID, path,
                             "the checkpoint's optimizer state has %lld values, this run's %s "
                             "optimizer keeps %lld for the model's trainable parameters: the "
                             "trainable parameters (a layer's size or 'trainable') differ from "
                             "the run's",
                             (long long)entry->count, cr_optimizer_name(optimizer->config.type),
                             (long long)optimizer->state_floats);
    }
    if (!status)
        status = find_entry(file, optimizer_state_name, CR_DTYPE_F32, optimizer->state_floats,
                            &entry, err);
    if (!status && optimizer->state_floats)
        status = cr_safetensors_read_floats(file, entry, optimizer_state, err);
    if (!status) status = find_entry(file, optimizer_steps_name, CR_DTYPE_I64, 1, &entry, err);
    if (!status) status = read_raw64(file, entry, &optimizer_steps, err);

    if (!status) status = find_entry(file, metrics_name, CR_DTYPE_F64, -1, &entry, err);
    if (!status && (entry->ndim != 2 || entry->shape[1] != CR_METRIC_COLUMNS))
        status = cr_fail_file(err, CR_ERR_INVALID, path, "tensor '%s' should have %d columns",
                              metrics_name, CR_METRIC_COLUMNS);
    if (!status && entry->count) {
        loaded.metric_rows = loaded.metric_capacity = entry->shape[0];
        loaded.metrics = malloc((size_t)entry->count * sizeof *loaded.metrics);
        status = loaded.metrics ? read_raw64(file, entry, loaded.metrics, err)
                                : cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory");
    }
    if (!status && (loaded.epoch < 0 || loaded.step_in_epoch < 0 || loaded.global_step < 0 ||
                    loaded.metric_rows != loaded.epoch || optimizer_steps != loaded.global_step))
        status =
            cr_fail_file(err, CR_ERR_INVALID, path,
                         "inconsistent checkpoint: epoch %lld, step %lld, %lld optimizer steps "
                         "and %lld metrics rows",
                         (long long)loaded.epoch, (long long)loaded.global_step,
                         (long long)optimizer_steps, (long long)loaded.metric_rows);
    cr_safetensors_close(file);

    /* Everything read and checked: now change the run. */
    if (!status) {
        int64_t offset = 0;
        for (int p = 0; p < cr_net_param_count(net); p++) {
            cr_tensor t = cr_net_param(net, p);
            memcpy(t.data, staging + offset, (size_t)t.count * sizeof *staging);
            offset += t.count;
        }
        if (optimizer->state_floats)
            memcpy(optimizer->state, optimizer_state,
                   (size_t)optimizer->state_floats * sizeof *optimizer_state);
        optimizer->steps = optimizer_steps;
        cr_net_set_rng_state(net, loaded.dropout_rng);
        cr_checkpoint_state_free(state);
        *state = loaded;
    } else {
        cr_checkpoint_state_free(&loaded);
    }
    free(staging);
    free(optimizer_state);
    return status;
}
