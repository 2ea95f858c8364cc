/* Weights that describe themselves (see weights_info.h). */
#include "weights_info.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <nettle/sha2.h>

#include "files.h"

#define KEY_CLASSES   "cnnrun.classes"
#define KEY_INPUT     "cnnrun.input"
#define KEY_NORMALIZE "cnnrun.normalize"
#define KEY_NAME      "cnnrun.model_name"
#define KEY_SHA256    "cnnrun.model_sha256"
#define KEY_MODEL     "cnnrun.model"
#define KEY_DATA      "cnnrun.data"

/* A model file is kilobytes; this is far beyond any real one. */
#define MAX_MODEL_BYTES (16 << 20)

static int out_of_memory(cr_error *err) {
    return cr_fail(err, CR_ERR_RUNTIME, (cr_mark){0}, NULL, "out of memory");
}

int cr_file_sha256(const char *path, char hex[65], char **text, cr_error *err) {
    FILE *file = cr_fopen_regular(path, err);
    if (!file) return 1;
    struct sha256_ctx context;
    sha256_init(&context);
    size_t used = 0, capacity = 0;
    char *bytes = NULL;
    unsigned char buffer[1 << 14];
    size_t n;
    int status = 0;
    while (!status && (n = fread(buffer, 1, sizeof buffer, file)) > 0) {
        sha256_update(&context, n, buffer);
        if (!text) continue;
        if (used + n + 1 > MAX_MODEL_BYTES) {
            status = cr_fail_file(err, CR_ERR_INVALID, path, "is over %d MiB: not a model file",
                                  MAX_MODEL_BYTES >> 20);
            break;
        }
        if (used + n + 1 > capacity) {
            capacity = 2 * (used + n + 1);
            char *grown = realloc(bytes, capacity);
            if (!grown) {
                status = out_of_memory(err);
                break;
            }
            bytes = grown;
        }
        memcpy(bytes + used, buffer, n);
        used += n;
    }
    if (!status && ferror(file))
        status = cr_fail_file(err, CR_ERR_IO, path, "cannot read: %s", strerror(errno));
    fclose(file);
    if (!status && text && !bytes && !(bytes = malloc(1))) status = out_of_memory(err);
    if (status) {
        free(bytes);
        return 1;
    }
    uint8_t digest[SHA256_DIGEST_SIZE];
    sha256_digest(&context, SHA256_DIGEST_SIZE, digest);
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++) snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    if (text) {
        bytes[used] = '\0';
        *text = bytes;
    }
    return 0;
}

void cr_weights_info_free(cr_weights_info *info) {
    for (int i = 0; i < info->classes; i++) free(info->class_names[i]);
    free(info->class_names);
    free(info->model_name);
    free(info->model_sha256);
    free(info->model_text);
    free(info->data);
    memset(info, 0, sizeof *info);
}

/* ---- describing a run ---------------------------------------------------------------- */

static char *copy(const char *text) {
    return text ? strdup(text) : NULL;
}

static int describe_classes(const cr_dataset *train, cr_weights_info *out, cr_error *err) {
    if (!train || !train->class_names || train->classes < 1) return 0;
    out->class_names = calloc((size_t)train->classes, sizeof *out->class_names);
    if (!out->class_names) return out_of_memory(err);
    for (int c = 0; c < train->classes; c++) {
        out->class_names[c] = copy(train->class_names[c] ? train->class_names[c] : "");
        if (!out->class_names[c]) return out_of_memory(err);
        out->classes = c + 1;
    }
    return 0;
}

int cr_weights_info_describe(const cr_model *model, const cr_transform *transform,
                             const cr_data_source *data, const cr_dataset *train,
                             const char *model_path, cr_weights_info *out, cr_error *err) {
    memset(out, 0, sizeof *out);
    out->has_input = true;
    out->input = model->input;
    out->channels = model->input.c <= 4 ? model->input.c : 0;
    for (int c = 0; c < out->channels; c++) {
        out->mean[c] = transform->mean[c];
        out->std[c] = transform->std[c] != 0 ? transform->std[c] : 1.0f; /* data.h: 0 means 1 */
    }
    char source[4200];
    int status = describe_classes(train, out, err);
    if (!status && data && !cr_data_source_text(data, source, sizeof source) &&
        !(out->data = copy(source)))
        status = out_of_memory(err);
    if (!status && !(out->model_name = copy(model->name))) status = out_of_memory(err);
    char hex[65];
    if (!status && model_path) {
        status = cr_file_sha256(model_path, hex, &out->model_text, err);
        if (!status && !(out->model_sha256 = copy(hex))) status = out_of_memory(err);
    }
    if (status) cr_weights_info_free(out);
    return status;
}

/* ---- as metadata ------------------------------------------------------------------------ */

static cJSON *float_list(const float *values, int count) {
    cJSON *list = cJSON_CreateArray();
    for (int i = 0; list && i < count; i++)
        cJSON_AddItemToArray(list, cJSON_CreateNumber((double)values[i]));
    return list;
}

/* The JSON text of each structured entry (NULL: leave the key out). */
static char *classes_json(const cr_weights_info *info) {
    if (info->classes < 1) return NULL;
    cJSON *list = cJSON_CreateStringArray((const char *const *)info->class_names, info->classes);
    char *text = list ? cJSON_PrintUnformatted(list) : NULL;
    cJSON_Delete(list);
    return text;
}

static char *input_json(const cr_weights_info *info) {
    if (!info->has_input) return NULL;
    int dims[3] = {info->input.c, info->input.h, info->input.w};
    cJSON *list = cJSON_CreateIntArray(dims, 3);
    char *text = list ? cJSON_PrintUnformatted(list) : NULL;
    cJSON_Delete(list);
    return text;
}

static char *normalize_json(const cr_weights_info *info) {
    if (info->channels < 1) return NULL;
    cJSON *object = cJSON_CreateObject();
    if (object) {
        cJSON_AddItemToObject(object, "mean", float_list(info->mean, info->channels));
        cJSON_AddItemToObject(object, "std", float_list(info->std, info->channels));
    }
    char *text = object ? cJSON_PrintUnformatted(object) : NULL;
    cJSON_Delete(object);
    return text;
}

void cr_weights_meta_free(cr_safetensors_meta *meta, int count) {
    for (int i = 0; i < count; i++) free(meta[i].value);
}

int cr_weights_info_meta(const cr_weights_info *info, cr_safetensors_meta *meta, int *count,
                         cr_error *err) {
    struct {
        const char *key;
        char *value;
        bool wanted;
    } entries[CR_WEIGHTS_INFO_KEYS] = {
        {KEY_CLASSES, classes_json(info), info->classes > 0},
        {KEY_INPUT, input_json(info), info->has_input},
        {KEY_NORMALIZE, normalize_json(info), info->channels > 0},
        {KEY_NAME, copy(info->model_name), info->model_name != NULL},
        {KEY_SHA256, copy(info->model_sha256), info->model_sha256 != NULL},
        {KEY_MODEL, copy(info->model_text), info->model_text != NULL},
        {KEY_DATA, copy(info->data), info->data != NULL},
    };
    *count = 0;
    bool failed = false;
    for (int i = 0; i < CR_WEIGHTS_INFO_KEYS; i++) {
        failed |= entries[i].wanted && !entries[i].value;
        if (entries[i].value)
            meta[(*count)++] = (cr_safetensors_meta){(char *)entries[i].key, entries[i].value};
    }
    if (!failed) return 0;
    cr_weights_meta_free(meta, *count);
    *count = 0;
    return out_of_memory(err);
}

/* ---- reading ---------------------------------------------------------------------------- */

static int malformed(const cr_safetensors_file *file, const char *key, const char *what,
                     cr_error *err) {
    return cr_fail_file(err, CR_ERR_INVALID, file->path, "metadata '%s' should be %s", key, what);
}

static int read_classes(const cr_safetensors_file *file, cr_weights_info *out, cr_error *err) {
    const char *text = cr_safetensors_meta_get(file, KEY_CLASSES);
    if (!text) return 0;
    cJSON *list = cJSON_Parse(text);
    int count = cJSON_IsArray(list) ? cJSON_GetArraySize(list) : 0;
    int status = count > 0 ? 0 : malformed(file, KEY_CLASSES, "a JSON list of names", err);
    if (!status && !(out->class_names = calloc((size_t)count, sizeof *out->class_names)))
        status = out_of_memory(err);
    const cJSON *item;
    cJSON_ArrayForEach(item, list) {
        if (status) break;
        if (!cJSON_IsString(item) || strlen(item->valuestring) > CR_CLASS_NAME_MAX)
            status = malformed(file, KEY_CLASSES, "a JSON list of names", err);
        else if (!(out->class_names[out->classes] = copy(item->valuestring)))
            status = out_of_memory(err);
        else
            out->classes++;
    }
    cJSON_Delete(list);
    return status;
}

static bool read_numbers(const cJSON *list, float *out, int max, int *count) {
    *count = cJSON_IsArray(list) ? cJSON_GetArraySize(list) : 0;
    if (*count < 1 || *count > max) return false;
    int i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, list) {
        if (!cJSON_IsNumber(item)) return false;
        out[i++] = (float)item->valuedouble;
    }
    return true;
}

static int read_input(const cr_safetensors_file *file, cr_weights_info *out, cr_error *err) {
    const char *text = cr_safetensors_meta_get(file, KEY_INPUT);
    if (!text) return 0;
    cJSON *list = cJSON_Parse(text);
    float dims[3];
    int count;
    bool ok = read_numbers(list, dims, 3, &count) && count == 3;
    for (int i = 0; ok && i < 3; i++) ok = dims[i] >= 1 && dims[i] <= 1e6f;
    cJSON_Delete(list);
    if (!ok) return malformed(file, KEY_INPUT, "[C, H, W] (whole numbers ≥ 1)", err);
    out->has_input = true;
    out->input = (cr_shape){(int)dims[0], (int)dims[1], (int)dims[2]};
    return 0;
}

static int read_normalize(const cr_safetensors_file *file, cr_weights_info *out, cr_error *err) {
    const char *text = cr_safetensors_meta_get(file, KEY_NORMALIZE);
    if (!text) return 0;
    cJSON *object = cJSON_Parse(text);
    int means, stds;
    bool ok =
        read_numbers(cJSON_GetObjectItemCaseSensitive(object, "mean"), out->mean, 4, &means) &&
        read_numbers(cJSON_GetObjectItemCaseSensitive(object, "std"), out->std, 4, &stds) &&
        means == stds;
    for (int c = 0; ok && c < stds; c++) ok = out->std[c] > 0;
    cJSON_Delete(object);
    if (!ok)
        return malformed(file, KEY_NORMALIZE,
                         "{\"mean\": [...], \"std\": [...]} with one number per channel, std > 0",
                         err);
    out->channels = means;
    return 0;
}

static int read_text(const cr_safetensors_file *file, const char *key, char **out, cr_error *err) {
    const char *text = cr_safetensors_meta_get(file, key);
    if (text && !(*out = copy(text))) return out_of_memory(err);
    return 0;
}

int cr_weights_info_from_file(const cr_safetensors_file *file, cr_weights_info *out,
                              cr_error *err) {
    memset(out, 0, sizeof *out);
    int status = read_classes(file, out, err) || read_input(file, out, err) ||
                 read_normalize(file, out, err) ||
                 read_text(file, KEY_NAME, &out->model_name, err) ||
                 read_text(file, KEY_SHA256, &out->model_sha256, err) ||
                 read_text(file, KEY_MODEL, &out->model_text, err) ||
                 read_text(file, KEY_DATA, &out->data, err);
    if (status) cr_weights_info_free(out);
    return status;
}

int cr_weights_info_read(const char *path, cr_weights_info *out, cr_error *err) {
    memset(out, 0, sizeof *out);
    cr_safetensors_file *file;
    if (cr_safetensors_open(path, &file, err)) return 1;
    int status = cr_weights_info_from_file(file, out, err);
    cr_safetensors_close(file);
    return status;
}
