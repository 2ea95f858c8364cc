/* Initialising a network from a weights file by name (see init_weights.h). */
#include "init_weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "cnnrun.h"

static int out_of_memory(const char *path, cr_error *err) {
    return cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory");
}

static bool is_float_dtype(cr_dtype dtype) {
    return dtype == CR_DTYPE_F32 || dtype == CR_DTYPE_F16 || dtype == CR_DTYPE_BF16 ||
           dtype == CR_DTYPE_F64;
}

static bool same_shape(const cr_init_entry *e) {
    if (e->model_ndim != e->file_ndim) return false;
    for (int d = 0; d < e->model_ndim; d++)
        if (e->model_shape[d] != e->file_shape[d]) return false;
    return true;
}

/* ---- matching ------------------------------------------------------------------------- */

/* How many entries the model contributes: its tensors and its batch counters. */
static int model_tensor_count(const cr_model *model) {
    int count = 0;
    for (int i = 0; i < model->n_layers; i++)
        count += model->layers[i].n_params + (model->layers[i].kind->batch_counter != NULL);
    return count;
}

/* Decides a model tensor's status from the file's entry of the same name. */
static void classify(cr_init_entry *e, const cr_safetensors_file *file) {
    const cr_safetensors_entry *found = cr_safetensors_find(file, e->name);
    if (!found) {
        e->status = CR_INIT_MISSING;
        return;
    }
    e->file_index = (int)(found - file->entries);
    e->file_dtype = found->dtype;
    e->file_ndim = found->ndim;
    memcpy(e->file_shape, found->shape, sizeof e->file_shape);
    /* PyTorch's counter is an I64 scalar; cnnrun's weights files write the
     * same (safetensors.c). */
    bool fits = e->counter ? found->dtype == CR_DTYPE_I64 && found->count == 1
                           : is_float_dtype(found->dtype) && same_shape(e);
    e->status = fits ? CR_INIT_LOADED : CR_INIT_MISMATCH;
}

static int add_model_entry(cr_init_entry *e, const char *layer, const char *suffix, int ndim,
                           const int *dims, int param, bool counter) {
    size_t length = strlen(layer) + strlen(suffix) + 2;
    e->name = malloc(length);
    if (!e->name) return 1;
    snprintf(e->name, length, "%s.%s", layer, suffix);
    e->param = param;
    e->counter = counter;
    e->model_ndim = ndim;
    for (int d = 0; d < ndim; d++) e->model_shape[d] = dims[d];
    e->file_index = -1;
    return 0;
}

/* The model's tensors in the network's order (net.c: layers, then each
 * layer's tensors), each batch counter after its layer's last tensor as
 * weights files hold it. */
static int match_model(const cr_model *model, const cr_safetensors_file *file, cr_init_report *r) {
    int param = 0;
    for (int i = 0; i < model->n_layers; i++) {
        const cr_layer *layer = &model->layers[i];
        for (int p = 0; p < layer->n_params; p++) {
            cr_init_entry *e = &r->entries[r->count];
            if (add_model_entry(e, layer->name, layer->params[p].suffix, layer->params[p].ndim,
                                layer->params[p].dims, param++, false))
                return 1;
            r->count++;
            classify(e, file);
        }
        if (!layer->kind->batch_counter) continue;
        cr_init_entry *e = &r->entries[r->count];
        if (add_model_entry(e, layer->name, layer->kind->batch_counter, 0, NULL, -1, true))
            return 1;
        r->count++;
        classify(e, file);
    }
    return 0;
}

/* The file's tensors no model tensor took, in the file's order. */
static int add_unexpected(const cr_safetensors_file *file, cr_init_report *r, int model_count) {
    bool *taken = calloc((size_t)(file->count ? file->count : 1), sizeof *taken);
    if (!taken) return 1;
    for (int i = 0; i < model_count; i++)
        if (r->entries[i].file_index >= 0) taken[r->entries[i].file_index] = true;
    int status = 0;
    for (int f = 0; f < file->count && !status; f++) {
        if (taken[f]) continue;
        const cr_safetensors_entry *entry = &file->entries[f];
        cr_init_entry *e = &r->entries[r->count];
        char name[160];
        e->name = strdup(cr_safetensors_printable(entry->name, name, sizeof name));
        if (!e->name) {
            status = 1;
            break;
        }
        r->count++;
        e->status = CR_INIT_UNEXPECTED;
        e->param = -1;
        e->file_index = f;
        e->file_dtype = entry->dtype;
        e->file_ndim = entry->ndim;
        memcpy(e->file_shape, entry->shape, sizeof e->file_shape);
    }
    free(taken);
    return status;
}

static void count_statuses(cr_init_report *r) {
    for (int i = 0; i < r->count; i++) {
        const cr_init_entry *e = &r->entries[i];
        switch (e->status) {
        case CR_INIT_LOADED:
            r->loaded++;
            break;
        case CR_INIT_MISSING:
            r->missing++;
            r->blocking += !e->counter;
            break;
        case CR_INIT_UNEXPECTED:
            r->unexpected++;
            break;
        case CR_INIT_MISMATCH:
            r->mismatched++;
            r->blocking++;
            break;
        }
    }
}

static int match(const cr_model *model, const cr_safetensors_file *file, cr_init_report *out,
                 cr_error *err) {
    memset(out, 0, sizeof *out);
    int model_count = model_tensor_count(model);
    out->path = strdup(file->path);
    out->entries = calloc((size_t)(model_count + file->count + 1), sizeof *out->entries);
    if (!out->path || !out->entries || match_model(model, file, out) ||
        add_unexpected(file, out, model_count)) {
        cr_init_report_free(out);
        return out_of_memory(file->path, err);
    }
    count_statuses(out);
    return 0;
}

int cr_init_report_make(const cr_model *model, const char *path, cr_init_report *out,
                        cr_error *err) {
    memset(out, 0, sizeof *out);
    cr_safetensors_file *file;
    if (cr_safetensors_open(path, &file, err)) return 1;
    int status = match(model, file, out, err);
    cr_safetensors_close(file);
    return status;
}

void cr_init_report_free(cr_init_report *report) {
    for (int i = 0; i < report->count; i++) free(report->entries[i].name);
    free(report->entries);
    free(report->path);
    memset(report, 0, sizeof *report);
}

/* ---- text ------------------------------------------------------------------------------ */

/* "[5, 84]", with the dtype in front when it is not F32 ("F16 [5, 84]"). */
static const char *file_shape_text(const cr_init_entry *e, char *out, size_t size) {
    char shape[160];
    cr_safetensors_shape_text(e->file_shape, e->file_ndim, shape, sizeof shape);
    if (e->file_dtype == CR_DTYPE_F32)
        snprintf(out, size, "%s", shape);
    else
        snprintf(out, size, "%s %s", cr_dtype_name(e->file_dtype), shape);
    return out;
}

const char *cr_init_report_line(const cr_init_report *report, int i, char *out, size_t size) {
    const cr_init_entry *e = &report->entries[i];
    char model[160], file[192];
    cr_safetensors_shape_text(e->model_shape, e->model_ndim, model, sizeof model);
    switch (e->status) {
    case CR_INIT_LOADED:
        /* A counter's dtype is I64 by rule; a weight's only shows when converted. */
        snprintf(out, size, "loaded      %s %s", e->name,
                 e->counter ? model : file_shape_text(e, file, sizeof file));
        break;
    case CR_INIT_MISSING:
        snprintf(out, size, "missing     %s %s (not in the file%s)", e->name, model,
                 e->counter ? "; cnnrun keeps no batch count" : "");
        break;
    case CR_INIT_UNEXPECTED:
        snprintf(out, size, "unexpected  %s %s (not in the model)", e->name,
                 file_shape_text(e, file, sizeof file));
        break;
    case CR_INIT_MISMATCH:
        snprintf(out, size, "mismatch    %s: model %s%s, file %s", e->name,
                 e->counter ? "I64 " : "", model, file_shape_text(e, file, sizeof file));
        break;
    }
    return out;
}

const char *cr_init_report_summary(const cr_init_report *report, char *out, size_t size) {
    snprintf(out, size, "init from %s: %d loaded, %d missing, %d unexpected, %d shape mismatch%s",
             report->path, report->loaded, report->missing, report->unexpected, report->mismatched,
             report->mismatched == 1 ? "" : "es");
    return out;
}

char *cr_init_report_text(const cr_init_report *report) {
    enum { LINE = 1200 };
    size_t capacity = (size_t)(report->count + 1) * LINE, used = 0;
    char *text = malloc(capacity);
    if (!text) return NULL;
    char line[LINE];
    for (int i = 0; i < report->count; i++)
        used += (size_t)snprintf(text + used, capacity - used, "%s\n",
                                 cr_init_report_line(report, i, line, sizeof line));
    snprintf(text + used, capacity - used, "%s\n",
             cr_init_report_summary(report, line, sizeof line));
    return text;
}

int cr_init_report_save(const cr_init_report *report, bool partial, const char *path,
                        cr_error *err) {
    char *lines = cr_init_report_text(report);
    size_t size = (lines ? strlen(lines) : 0) + strlen(report->path) + 400;
    char *text = lines ? malloc(size) : NULL;
    if (!text) {
        free(lines);
        return out_of_memory(path, err);
    }
    int length = snprintf(text, size,
                          "# cnnrun train --init: the weights this run started from (a resume "
                          "continues from its checkpoint and does not read them again)\n"
                          "weights: %s\n"
                          "mode: %s\n%s",
                          report->path,
                          partial ? "partial (--init-partial): missing and mismatched tensors "
                                    "kept their fresh initialisation"
                                  : "strict: every tensor of the model was loaded",
                          lines);
    int status = cr_write_file_atomic(path, text, (size_t)length, err);
    free(text);
    free(lines);
    return status;
}

/* ---- loading --------------------------------------------------------------------------- */

/* The strict init's error: how many do not fit, the first few by name. */
static int misfit_error(const cr_init_report *r, cr_error *err) {
    char names[700] = "";
    size_t used = 0;
    int shown = 0;
    for (int i = 0; i < r->count && used < sizeof names; i++) {
        const cr_init_entry *e = &r->entries[i];
        bool blocking =
            e->status == CR_INIT_MISMATCH || (e->status == CR_INIT_MISSING && !e->counter);
        if (!blocking) continue;
        if (++shown > 3) {
            used += (size_t)snprintf(names + used, sizeof names - used, " and %d more",
                                     r->blocking - 3);
            break;
        }
        char model[160], file[192];
        if (e->status == CR_INIT_MISSING)
            used += (size_t)snprintf(names + used, sizeof names - used, "%s%s (missing)",
                                     shown > 1 ? ", " : "", e->name);
        else
            used += (size_t)snprintf(
                names + used, sizeof names - used, "%s%s (model %s, file %s)",
                shown > 1 ? ", " : "", e->name,
                cr_safetensors_shape_text(e->model_shape, e->model_ndim, model, sizeof model),
                file_shape_text(e, file, sizeof file));
    }
    return cr_fail_file(err, CR_ERR_INVALID, r->path,
                        "%d of the model's tensors do not fit: %s; give --init-partial to keep "
                        "their fresh initialisation and train on",
                        r->blocking, names);
}

/* Reads every loaded tensor into one staging block, then copies them over. */
static int copy_loaded(cr_net *net, cr_safetensors_file *file, const cr_init_report *r,
                       cr_error *err) {
    int64_t total = 0;
    for (int i = 0; i < r->count; i++)
        if (r->entries[i].status == CR_INIT_LOADED && r->entries[i].param >= 0)
            total += cr_net_param(net, r->entries[i].param).count;
    float *staging = malloc((size_t)(total ? total : 1) * sizeof *staging);
    if (!staging) return out_of_memory(file->path, err);
    int status = 0;
    int64_t offset = 0;
    for (int i = 0; i < r->count && !status; i++) {
        const cr_init_entry *e = &r->entries[i];
        if (e->status != CR_INIT_LOADED || e->param < 0) continue;
        status =
            cr_safetensors_read_floats(file, &file->entries[e->file_index], staging + offset, err);
        offset += cr_net_param(net, e->param).count;
    }
    offset = 0;
    for (int i = 0; i < r->count && !status; i++) {
        const cr_init_entry *e = &r->entries[i];
        if (e->status != CR_INIT_LOADED || e->param < 0) continue;
        cr_tensor t = cr_net_param(net, e->param);
        memcpy(t.data, staging + offset, (size_t)t.count * sizeof *staging);
        offset += t.count;
    }
    free(staging);
    return status;
}

int cr_net_init_weights(cr_net *net, const char *path, bool partial, cr_init_report *report,
                        cr_error *err) {
    cr_safetensors_file *file;
    if (report) memset(report, 0, sizeof *report);
    if (cr_safetensors_open(path, &file, err)) return 1;
    cr_init_report r;
    int status = match(cr_net_model(net), file, &r, err);
    if (!status && !partial && r.blocking) status = misfit_error(&r, err);
    if (!status) status = copy_loaded(net, file, &r, err);
    cr_safetensors_close(file);
    if (report && r.entries)
        *report = r;
    else if (r.entries)
        cr_init_report_free(&r);
    return status;
}
