/* safetensors: reading and writing the format (lib/safetensors.h), and the
 * network's weights in it with PyTorch's state_dict names and layouts.
 *
 * The reader trusts nothing in the file: every number in the header is
 * checked against the file's real size before any allocation or read that
 * depends on it, and the network is only written once the whole file has
 * been read and checked. */
#include "safetensors.h"
#include "files.h"

#include "atomic_file.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnnrun.h"
#include "model.h"

#define MAX_WHOLE_NUMBER 9007199254740992.0 /* 2^53: doubles are exact up to here */
#define CHUNK_BYTES      65536

/* ---- dtypes ---------------------------------------------------------------- */

static const struct {
    const char *name;
    int size;
} dtypes[] = {
    [CR_DTYPE_BOOL] = {"BOOL", 1},       [CR_DTYPE_U8] = {"U8", 1},
    [CR_DTYPE_I8] = {"I8", 1},           [CR_DTYPE_F8_E5M2] = {"F8_E5M2", 1},
    [CR_DTYPE_F8_E4M3] = {"F8_E4M3", 1}, [CR_DTYPE_I16] = {"I16", 2},
    [CR_DTYPE_U16] = {"U16", 2},         [CR_DTYPE_F16] = {"F16", 2},
    [CR_DTYPE_BF16] = {"BF16", 2},       [CR_DTYPE_I32] = {"I32", 4},
    [CR_DTYPE_U32] = {"U32", 4},         [CR_DTYPE_F32] = {"F32", 4},
    [CR_DTYPE_I64] = {"I64", 8},         [CR_DTYPE_U64] = {"U64", 8},
    [CR_DTYPE_F64] = {"F64", 8},
};
#define DTYPE_COUNT ((int)(sizeof dtypes / sizeof dtypes[0]))

const char *cr_dtype_name(cr_dtype dtype) {
    return dtype >= 0 && (int)dtype < DTYPE_COUNT ? dtypes[dtype].name : "?";
}
int cr_dtype_size(cr_dtype dtype) {
    return dtype >= 0 && (int)dtype < DTYPE_COUNT ? dtypes[dtype].size : 0;
}

static bool dtype_from_name(const char *name, cr_dtype *out) {
    for (int i = 0; i < DTYPE_COUNT; i++)
        if (strcmp(dtypes[i].name, name) == 0) {
            *out = (cr_dtype)i;
            return true;
        }
    return false;
}

static bool is_integer_dtype(cr_dtype dtype) {
    switch (dtype) {
    case CR_DTYPE_BOOL:
    case CR_DTYPE_U8:
    case CR_DTYPE_I8:
    case CR_DTYPE_I16:
    case CR_DTYPE_U16:
    case CR_DTYPE_I32:
    case CR_DTYPE_U32:
    case CR_DTYPE_I64:
    case CR_DTYPE_U64:
        return true;
    default:
        return false;
    }
}

/* ---- little-endian bytes ------------------------------------------------------- */

static uint64_t load_le(const unsigned char *p, int size) {
    uint64_t value = 0;
    for (int i = size - 1; i >= 0; i--) value = value << 8 | p[i];
    return value;
}

static void store_le(unsigned char *p, uint64_t value, int size) {
    for (int i = 0; i < size; i++, value >>= 8) p[i] = (unsigned char)(value & 0xff);
}

static float float_from_bits(uint32_t bits) {
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

static float half_to_float(uint16_t half) {
    uint32_t sign = (uint32_t)(half >> 15) << 31;
    uint32_t exponent = (half >> 10) & 0x1f, mantissa = half & 0x3ff;
    if (exponent == 0x1f) return float_from_bits(sign | 0x7f800000u | mantissa << 13);
    if (exponent == 0) {
        /* Zero or subnormal: mantissa · 2^-24, exact in float32. */
        float magnitude = ldexpf((float)mantissa, -24);
        return sign ? -magnitude : magnitude;
    }
    return float_from_bits(sign | (exponent + 112) << 23 | mantissa << 13);
}

/* ---- messages -------------------------------------------------------------------- */

/* A name from the file as it may be shown: at most 120 characters, control
 * characters replaced, so a hostile name cannot mangle the terminal. */
static const char *printable(const char *name, char *out, size_t size) {
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p && o + 4 < size; p++) {
        if (o >= 120) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        out[o++] = *p < 0x20 || *p == 0x7f ? '?' : (char)*p;
    }
    out[o] = '\0';
    return out;
}

static void shape_text(const int64_t *shape, int ndim, char *out, size_t size) {
    size_t used = (size_t)snprintf(out, size, "[");
    for (int i = 0; i < ndim && used < size; i++)
        used +=
            (size_t)snprintf(out + used, size - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (used < size) snprintf(out + used, size - used, "]");
}

/* A message built piece by piece; truncated, never overflowing. */
typedef struct text {
    char buffer[1024];
    size_t used;
} text;

static void text_add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_add(text *t, const char *fmt, ...) {
    if (t->used >= sizeof t->buffer) return;
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(t->buffer + t->used, sizeof t->buffer - t->used, fmt, args);
    va_end(args);
    if (n > 0) t->used += (size_t)n;
}

/* ---- reading ------------------------------------------------------------------------ */

void cr_safetensors_close(cr_safetensors_file *file) {
    if (!file) return;
    if (file->stream) fclose(file->stream);
    for (int i = 0; i < file->count; i++) free(file->entries[i].name);
    free(file->entries);
    for (int i = 0; i < file->meta_count; i++) {
        free(file->meta[i].key);
        free(file->meta[i].value);
    }
    free(file->meta);
    free(file->path);
    free(file);
}

static bool whole_number(const cJSON *item, int64_t *out) {
    if (!cJSON_IsNumber(item)) return false;
    double value = item->valuedouble;
    if (!(value >= 0 && value <= MAX_WHOLE_NUMBER) || value != floor(value)) return false;
    *out = (int64_t)value;
    return true;
}

static const char *json_type(const cJSON *item) {
    if (cJSON_IsObject(item)) return "an object";
    if (cJSON_IsArray(item)) return "a list";
    if (cJSON_IsString(item)) return "a string";
    if (cJSON_IsNumber(item)) return "a number";
    if (cJSON_IsBool(item)) return "a boolean";
    if (cJSON_IsNull(item)) return "null";
    return "nothing";
}

/* One header entry: dtype, shape and offsets, consistent with each other
 * and inside the data section. */
static int parse_entry(const cr_safetensors_file *file, const cJSON *item,
                       cr_safetensors_entry *entry, cr_error *err) {
    const char *path = file->path;
    char name[160];
    printable(entry->name, name, sizeof name);
    if (!cJSON_IsObject(item))
        return cr_fail_file(err, CR_ERR_INVALID, path,
                            "tensor '%s': expected an object with dtype, shape and data_offsets, "
                            "found %s",
                            name, json_type(item));
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dtype))
        return cr_fail_file(err, CR_ERR_INVALID, path,
                            "tensor '%s': 'dtype' must be a string such as \"F32\", found %s", name,
                            json_type(dtype));
    if (!dtype_from_name(dtype->valuestring, &entry->dtype)) {
        char shown[160];
        return cr_fail_file(err, CR_ERR_INVALID, path,
                            "tensor '%s' has unknown dtype '%s' (safetensors dtypes: F64, F32, "
                            "F16, BF16, I64, I32, I16, I8, U8, BOOL, ...)",
                            name, printable(dtype->valuestring, shown, sizeof shown));
    }
    if (!cJSON_IsArray(shape))
        return cr_fail_file(err, CR_ERR_INVALID, path,
                            "tensor '%s': 'shape' must be a list of sizes, found %s", name,
                            json_type(shape));
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > CR_SAFETENSORS_MAX_DIMS)
        return cr_fail_file(err, CR_ERR_INVALID, path,
                            "tensor '%s' has %d dimensions; at most %d are supported", name, ndim,
                            CR_SAFETENSORS_MAX_DIMS);
    entry->ndim = ndim;
    entry->count = 1;
    const cJSON *dim;
    int d = 0;
    cJSON_ArrayForEach(dim, shape) {
        int64_t size;
        if (!whole_number(dim, &size))
            return cr_fail_file(err, CR_ERR_INVALID, path,
                                "tensor '%s': shape entry %d is not a whole number ≥ 0", name, d);
        entry->shape[d++] = size;
        /* Every element takes at least one byte of a file we have in hand. */
        if (size && entry->count > INT64_MAX / size)
            return cr_fail_file(err, CR_ERR_INVALID, path, "tensor '%s': shape is absurdly large",
                                name);
        entry->count *= size;
    }
    int element = cr_dtype_size(entry->dtype);
    if (entry->count > INT64_MAX / element)
        return cr_fail_file(err, CR_ERR_INVALID, path, "tensor '%s': shape is absurdly large",
                            name);
    int64_t bytes = entry->count * element;

    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 ||
        !whole_number(cJSON_GetArrayItem(offsets, 0), &entry->begin) ||
        !whole_number(cJSON_GetArrayItem(offsets, 1), &entry->end))
        return cr_fail_file(err, CR_ERR_INVALID, path,
                            "tensor '%s': 'data_offsets' must be [begin, end], two whole numbers "
                            "≥ 0",
                            name);
    if (entry->end < entry->begin)
        return cr_fail_file(err, CR_ERR_INVALID, path,
                            "tensor '%s': data_offsets [%lld, %lld] end before they begin", name,
                            (long long)entry->begin, (long long)entry->end);
    char dims[160];
    shape_text(entry->shape, entry->ndim, dims, sizeof dims);
    if (entry->end - entry->begin != bytes)
        return cr_fail_file(err, CR_ERR_INVALID, path,
                            "tensor '%s': data_offsets [%lld, %lld] span %lld bytes, but shape %s "
                            "of %s needs %lld × %d = %lld",
                            name, (long long)entry->begin, (long long)entry->end,
                            (long long)(entry->end - entry->begin), dims, dtypes[entry->dtype].name,
                            (long long)entry->count, element, (long long)bytes);
    if (entry->end > file->data_size)
        return cr_fail_file(err, CR_ERR_INVALID, path,
                            "file is truncated: tensor '%s' is at bytes [%lld, %lld) of the data, "
                            "but the file holds only %lld bytes of data",
                            name, (long long)entry->begin, (long long)entry->end,
                            (long long)file->data_size);
    return 0;
}

static int compare_names(const void *a, const void *b) {
    const cr_safetensors_entry *x = *(const cr_safetensors_entry *const *)a;
    const cr_safetensors_entry *y = *(const cr_safetensors_entry *const *)b;
    return strcmp(x->name, y->name);
}

static int compare_offsets(const void *a, const void *b) {
    const cr_safetensors_entry *x = *(const cr_safetensors_entry *const *)a;
    const cr_safetensors_entry *y = *(const cr_safetensors_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Names are unique, and the tensors tile the data section exactly: no
 * overlap, no gap, nothing after the last one (the format's own rule). */
static int check_layout(const cr_safetensors_file *file, cr_error *err) {
    if (file->count == 0) {
        if (file->data_size == 0) return 0;
        return cr_fail_file(err, CR_ERR_INVALID, file->path,
                            "the header lists no tensors, but %lld bytes of data follow it",
                            (long long)file->data_size);
    }
    const cr_safetensors_entry **order = malloc((size_t)file->count * sizeof *order);
    if (!order) return cr_fail_file(err, CR_ERR_RUNTIME, file->path, "out of memory");
    for (int i = 0; i < file->count; i++) order[i] = &file->entries[i];
    char a[160], b[160];
    int status = 0;

    qsort(order, (size_t)file->count, sizeof *order, compare_names);
    for (int i = 1; i < file->count && !status; i++)
        if (strcmp(order[i - 1]->name, order[i]->name) == 0)
            status = cr_fail_file(err, CR_ERR_INVALID, file->path,
                                  "tensor '%s' appears twice in the header",
                                  printable(order[i]->name, a, sizeof a));

    qsort(order, (size_t)file->count, sizeof *order, compare_offsets);
    int64_t covered = 0;
    for (int i = 0; i < file->count && !status; i++) {
        const cr_safetensors_entry *entry = order[i];
        if (entry->begin < covered)
            status = cr_fail_file(err, CR_ERR_INVALID, file->path,
                                  "tensors '%s' (bytes [%lld, %lld)) and '%s' (bytes [%lld, %lld)) "
                                  "overlap",
                                  printable(order[i - 1]->name, a, sizeof a),
                                  (long long)order[i - 1]->begin, (long long)order[i - 1]->end,
                                  printable(entry->name, b, sizeof b), (long long)entry->begin,
                                  (long long)entry->end);
        else if (entry->begin > covered)
            status = cr_fail_file(err, CR_ERR_INVALID, file->path,
                                  "bytes [%lld, %lld) of the data belong to no tensor (the next "
                                  "tensor, '%s', starts at %lld)",
                                  (long long)covered, (long long)entry->begin,
                                  printable(entry->name, a, sizeof a), (long long)entry->begin);
        covered = entry->end;
    }
    if (!status && covered != file->data_size)
        status = cr_fail_file(err, CR_ERR_INVALID, file->path,
                              "the data section is %lld bytes, but the tensors cover only %lld: "
                              "%lld stray bytes at the end",
                              (long long)file->data_size, (long long)covered,
                              (long long)(file->data_size - covered));
    free(order);
    return status;
}

/* Checks `__metadata__` (an object of strings) and keeps its entries. */
static int read_metadata(cr_safetensors_file *file, const cJSON *metadata, cr_error *err) {
    if (!cJSON_IsObject(metadata))
        return cr_fail_file(err, CR_ERR_INVALID, file->path,
                            "'__metadata__' must be an object of strings, found %s",
                            json_type(metadata));
    const cJSON *item;
    int count = cJSON_GetArraySize(metadata);
    cJSON_ArrayForEach(item, metadata) {
        if (!cJSON_IsString(item)) {
            char key[160];
            return cr_fail_file(err, CR_ERR_INVALID, file->path,
                                "'__metadata__' entry '%s' must be a string, found %s",
                                printable(item->string, key, sizeof key), json_type(item));
        }
    }
    if (file->meta || count == 0) return 0;
    file->meta = calloc((size_t)count, sizeof *file->meta);
    if (!file->meta) return cr_fail_file(err, CR_ERR_RUNTIME, file->path, "out of memory");
    cJSON_ArrayForEach(item, metadata) {
        cr_safetensors_meta *entry = &file->meta[file->meta_count++];
        entry->key = strdup(item->string);
        entry->value = strdup(item->valuestring);
        if (!entry->key || !entry->value)
            return cr_fail_file(err, CR_ERR_RUNTIME, file->path, "out of memory");
    }
    return 0;
}

const char *cr_safetensors_meta_get(const cr_safetensors_file *file, const char *key) {
    for (int i = 0; i < file->meta_count; i++)
        if (strcmp(file->meta[i].key, key) == 0) return file->meta[i].value;
    return NULL;
}

static int parse_header(cr_safetensors_file *file, const char *header, size_t length,
                        cr_error *err) {
    const char *path = file->path;
    /* Only spaces may pad the JSON (the format pads to a multiple of 8). */
    size_t start = 0;
    while (start < length && header[start] == ' ') start++;
    if (start == length || header[start] != '{')
        return cr_fail_file(err, CR_ERR_INVALID, path,
                            "the header does not start with '{': not a safetensors file");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(header, length, &end, false);
    if (!root) {
        const char *where = cJSON_GetErrorPtr();
        size_t offset = where && where >= header && where <= header + length
                            ? (size_t)(where - header)
                            : length;
        return cr_fail_file(err, CR_ERR_INVALID, path,
                            "the header is not valid JSON (error at byte %zu of %zu)", offset,
                            length);
    }
    size_t rest = end ? (size_t)(end - header) : length;
    while (rest < length && (header[rest] == ' ' || header[rest] == '\n' || header[rest] == '\t' ||
                             header[rest] == '\r'))
        rest++;
    int status = 0;
    if (rest < length)
        status = cr_fail_file(err, CR_ERR_INVALID, path,
                              "the header has text after its JSON object (at byte %zu of %zu)",
                              rest, length);
    int capacity = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        if (status) break;
        if (strcmp(item->string, "__metadata__") == 0) {
            status = read_metadata(file, item, err);
            continue;
        }
        /* Grown as entries prove valid: a header of a million junk items
         * fails at the first, before any large allocation. */
        if (file->count == capacity) {
            int grown = capacity ? 2 * capacity : 16;
            cr_safetensors_entry *entries = realloc(file->entries, (size_t)grown * sizeof *entries);
            if (!entries) {
                status = cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory");
                break;
            }
            file->entries = entries;
            capacity = grown;
        }
        cr_safetensors_entry *entry = &file->entries[file->count];
        *entry = (cr_safetensors_entry){.name = strdup(item->string)};
        if (!entry->name) {
            status = cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory");
            break;
        }
        file->count++;
        status = parse_entry(file, item, entry, err);
    }
    cJSON_Delete(root);
    return status ? status : check_layout(file, err);
}

int cr_safetensors_open(const char *path, cr_safetensors_file **out, cr_error *err) {
    *out = NULL;
    cr_safetensors_file *file = calloc(1, sizeof *file);
    if (!file || !(file->path = strdup(path))) {
        free(file);
        return cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory");
    }
    file->stream = cr_fopen_regular(path, err);
    if (!file->stream) {
        cr_safetensors_close(file);
        return 1;
    }
    struct stat info = {0};
    int status = 0;
    if (fstat(fileno(file->stream), &info) != 0)
        status = cr_fail_file(err, CR_ERR_IO, path, "cannot read: %s", strerror(errno));
    else if (!S_ISREG(info.st_mode))
        status = cr_fail_file(err, CR_ERR_IO, path, "not a regular file");
    int64_t size = (int64_t)info.st_size;
    unsigned char prefix[8];
    uint64_t header_length = 0;
    if (!status && size < 8)
        status = cr_fail_file(err, CR_ERR_INVALID, path,
                              "the file is %lld bytes: too short for a safetensors file, which "
                              "starts with an 8-byte header length",
                              (long long)size);
    if (!status && fread(prefix, 1, 8, file->stream) != 8)
        status = cr_fail_file(err, CR_ERR_IO, path, "cannot read: %s",
                              ferror(file->stream) ? strerror(errno) : "the file ended early");
    if (!status) {
        header_length = load_le(prefix, 8);
        if (header_length > CR_SAFETENSORS_MAX_HEADER)
            status = cr_fail_file(err, CR_ERR_INVALID, path,
                                  "header length %llu is absurd (over %d MB): not a safetensors "
                                  "file, or a corrupt one",
                                  (unsigned long long)header_length,
                                  CR_SAFETENSORS_MAX_HEADER / 1000000);
        else if ((int64_t)header_length > size - 8)
            status = cr_fail_file(err, CR_ERR_INVALID, path,
                                  "file is truncated: the header length is %llu bytes, but only "
                                  "%lld bytes follow it",
                                  (unsigned long long)header_length, (long long)(size - 8));
    }
    char *header = NULL;
    if (!status) {
        header = malloc(header_length ? header_length : 1);
        if (!header)
            status = cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory");
        else if (fread(header, 1, header_length, file->stream) != header_length)
            status = cr_fail_file(err, CR_ERR_IO, path, "cannot read the header: %s",
                                  ferror(file->stream) ? strerror(errno) : "the file ended early");
    }
    if (!status) {
        file->data_start = 8 + (int64_t)header_length;
        file->data_size = size - file->data_start;
        status = parse_header(file, header, header_length, err);
    }
    free(header);
    if (status) {
        cr_safetensors_close(file);
        return status;
    }
    *out = file;
    return 0;
}

const cr_safetensors_entry *cr_safetensors_find(const cr_safetensors_file *file, const char *name) {
    for (int i = 0; i < file->count; i++)
        if (strcmp(file->entries[i].name, name) == 0) return &file->entries[i];
    return NULL;
}

/* Reads the entry's bytes in chunks and hands each element to `convert`. */
typedef int (*element_fn)(const unsigned char *bytes, int64_t index, void *out,
                          const cr_safetensors_file *file, const cr_safetensors_entry *entry,
                          cr_error *err);

static int read_elements(cr_safetensors_file *file, const cr_safetensors_entry *entry,
                         element_fn convert, void *out, cr_error *err) {
    unsigned char buffer[CHUNK_BYTES];
    int size = cr_dtype_size(entry->dtype);
    int64_t per_chunk = CHUNK_BYTES / size;
    char name[160];
    if (fseeko(file->stream, (off_t)(file->data_start + entry->begin), SEEK_SET) != 0)
        return cr_fail_file(err, CR_ERR_IO, file->path, "cannot read tensor '%s': %s",
                            printable(entry->name, name, sizeof name), strerror(errno));
    for (int64_t done = 0; done < entry->count;) {
        int64_t n = entry->count - done < per_chunk ? entry->count - done : per_chunk;
        if (fread(buffer, (size_t)size, (size_t)n, file->stream) != (size_t)n)
            return cr_fail_file(err, CR_ERR_IO, file->path, "cannot read tensor '%s': %s",
                                printable(entry->name, name, sizeof name),
                                ferror(file->stream) ? strerror(errno)
                                                     : "the file ended early (did it change "
                                                       "while being read?)");
        for (int64_t i = 0; i < n; i++)
            if (convert(buffer + i * size, done + i, out, file, entry, err)) return 1;
        done += n;
    }
    return 0;
}

static int convert_float(const unsigned char *bytes, int64_t index, void *out,
                         const cr_safetensors_file *file, const cr_safetensors_entry *entry,
                         cr_error *err) {
    float *values = out;
    switch (entry->dtype) {
    case CR_DTYPE_F32:
        values[index] = float_from_bits((uint32_t)load_le(bytes, 4));
        break;
    case CR_DTYPE_F16:
        values[index] = half_to_float((uint16_t)load_le(bytes, 2));
        break;
    case CR_DTYPE_BF16:
        values[index] = float_from_bits((uint32_t)load_le(bytes, 2) << 16);
        break;
    case CR_DTYPE_F64: {
        uint64_t bits = load_le(bytes, 8);
        double value;
        memcpy(&value, &bits, sizeof value);
        if (isfinite(value) && fabs(value) > FLT_MAX) {
            char name[160];
            return cr_fail_file(err, CR_ERR_INVALID, file->path,
                                "tensor '%s': element %lld is %g, beyond float32's range",
                                printable(entry->name, name, sizeof name), (long long)index, value);
        }
        values[index] = (float)value;
        break;
    }
    default: {
        char name[160];
        return cr_fail_file(err, CR_ERR_INVALID, file->path,
                            "tensor '%s' has dtype %s; it must be floating point: F32 (F16, BF16 "
                            "and F64 are converted)",
                            printable(entry->name, name, sizeof name), cr_dtype_name(entry->dtype));
    }
    }
    /* A NaN or infinite weight gives "loss nan" and "nan%" downstream, with exit 0. */
    if (!isfinite(values[index])) {
        char name[160];
        return cr_fail_file(err, CR_ERR_INVALID, file->path,
                            "tensor '%s': element %lld is %s; weights must be finite numbers",
                            printable(entry->name, name, sizeof name), (long long)index,
                            isnan(values[index]) ? "NaN" : "infinite");
    }
    return 0;
}

static int convert_int(const unsigned char *bytes, int64_t index, void *out,
                       const cr_safetensors_file *file, const cr_safetensors_entry *entry,
                       cr_error *err) {
    int64_t *values = out;
    int size = cr_dtype_size(entry->dtype);
    uint64_t raw = load_le(bytes, size);
    switch (entry->dtype) {
    case CR_DTYPE_I8:
    case CR_DTYPE_I16:
    case CR_DTYPE_I32:
    case CR_DTYPE_I64: {
        /* Sign-extend from `size` bytes. */
        uint64_t sign = (uint64_t)1 << (size * 8 - 1);
        uint64_t extended = size == 8 ? raw : (raw ^ sign) - sign;
        memcpy(&values[index], &extended, sizeof extended);
        return 0;
    }
    case CR_DTYPE_U64:
        if (raw > INT64_MAX) {
            char name[160];
            return cr_fail_file(err, CR_ERR_INVALID, file->path,
                                "tensor '%s': element %lld is %llu, too large",
                                printable(entry->name, name, sizeof name), (long long)index,
                                (unsigned long long)raw);
        }
        values[index] = (int64_t)raw;
        return 0;
    default:
        if (!is_integer_dtype(entry->dtype)) {
            char name[160];
            return cr_fail_file(err, CR_ERR_INVALID, file->path,
                                "tensor '%s' has dtype %s; expected an integer dtype such as I64",
                                printable(entry->name, name, sizeof name),
                                cr_dtype_name(entry->dtype));
        }
        values[index] = (int64_t)raw; /* BOOL, U8, U16, U32 */
        return 0;
    }
}

int cr_safetensors_read_floats(cr_safetensors_file *file, const cr_safetensors_entry *entry,
                               float *out, cr_error *err) {
    return read_elements(file, entry, convert_float, out, err);
}

int cr_safetensors_read_ints(cr_safetensors_file *file, const cr_safetensors_entry *entry,
                             int64_t *out, cr_error *err) {
    return read_elements(file, entry, convert_int, out, err);
}

/* ---- writing ---------------------------------------------------------------------- */

static int64_t tensor_count(const cr_safetensors_tensor *tensor) {
    int64_t count = 1;
    for (int d = 0; d < tensor->ndim; d++) count *= tensor->shape[d];
    return count;
}

static bool add_number(cJSON *array, int64_t value) {
    return cJSON_AddItemToArray(array, cJSON_CreateNumber((double)value));
}

/* The JSON header, padded with spaces to a multiple of 8 so that the data
 * (and with it every 8-byte tensor placed first) starts aligned. */
static char *build_header(const cr_safetensors_tensor *tensors, int count, const int64_t *begin,
                          const cr_safetensors_meta *meta, int n_meta, size_t *length) {
    cJSON *root = cJSON_CreateObject();
    cJSON *metadata = cJSON_AddObjectToObject(root, "__metadata__");
    bool ok = root && metadata && cJSON_AddStringToObject(metadata, "format", "pt") &&
              cJSON_AddStringToObject(metadata, "producer", "cnnrun");
    for (int i = 0; i < n_meta && ok; i++)
        ok = cJSON_AddStringToObject(metadata, meta[i].key, meta[i].value) != NULL;
    for (int i = 0; i < count && ok; i++) {
        const cr_safetensors_tensor *t = &tensors[i];
        /* cJSON keeps insertion order: dtype, shape, data_offsets. */
        cJSON *item = cJSON_AddObjectToObject(root, t->name);
        ok = item && cJSON_AddStringToObject(item, "dtype", cr_dtype_name(t->dtype));
        cJSON *shape = ok ? cJSON_AddArrayToObject(item, "shape") : NULL;
        ok = shape != NULL;
        for (int d = 0; d < t->ndim && ok; d++) ok = add_number(shape, t->shape[d]);
        cJSON *offsets = ok ? cJSON_AddArrayToObject(item, "data_offsets") : NULL;
        int64_t end = begin[i] + tensor_count(t) * cr_dtype_size(t->dtype);
        ok = offsets && add_number(offsets, begin[i]) && add_number(offsets, end);
    }
    char *json = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!json) return NULL;
    size_t n = strlen(json), padded = (n + 7) / 8 * 8;
    char *header = malloc(padded);
    if (header) {
        memcpy(header, json, n);
        memset(header + n, ' ', padded - n);
        *length = padded;
    }
    free(json);
    return header;
}

static bool write_data(FILE *stream, const cr_safetensors_tensor *tensor) {
    unsigned char buffer[CHUNK_BYTES];
    int size = cr_dtype_size(tensor->dtype);
    int64_t count = tensor_count(tensor), per_chunk = CHUNK_BYTES / size;
    for (int64_t done = 0; done < count;) {
        int64_t n = count - done < per_chunk ? count - done : per_chunk;
        for (int64_t i = 0; i < n; i++) {
            uint64_t bits = 0;
            if (tensor->dtype == CR_DTYPE_U8) {
                bits = ((const unsigned char *)tensor->data)[done + i];
            } else if (tensor->dtype == CR_DTYPE_F32) {
                uint32_t word;
                memcpy(&word, (const float *)tensor->data + done + i, 4);
                bits = word;
            } else {
                memcpy(&bits, (const char *)tensor->data + (done + i) * 8, 8);
            }
            store_le(buffer + i * size, bits, size);
        }
        if (fwrite(buffer, (size_t)size, (size_t)n, stream) != (size_t)n) return false;
        done += n;
    }
    return true;
}

int cr_safetensors_write(const char *path, const cr_safetensors_tensor *tensors, int count,
                         cr_error *err) {
    return cr_safetensors_write_meta(path, tensors, count, NULL, 0, err);
}

int cr_safetensors_write_meta(const char *path, const cr_safetensors_tensor *tensors, int count,
                              const cr_safetensors_meta *meta, int n_meta, cr_error *err) {
    for (int i = 0; i < count; i++) {
        const cr_safetensors_tensor *t = &tensors[i];
        if ((t->dtype != CR_DTYPE_F32 && t->dtype != CR_DTYPE_F64 && t->dtype != CR_DTYPE_I64 &&
             t->dtype != CR_DTYPE_U8) ||
            t->ndim < 0 || t->ndim > CR_SAFETENSORS_MAX_DIMS)
            return cr_fail_file(
                err, CR_ERR_RUNTIME, path,
                "cannot write tensor '%s': only F32, F64, I64 and U8 tensors of up to "
                "%d dimensions can be written",
                t->name, CR_SAFETENSORS_MAX_DIMS);
    }
    /* 8-byte tensors first, then the float32 ones, then bytes, each group in
     * the given order: every tensor then starts aligned to its element size. */
    int64_t *begin = malloc((size_t)(count ? count : 1) * sizeof *begin);
    int *order = malloc((size_t)(count ? count : 1) * sizeof *order);
    if (!begin || !order) {
        free(begin);
        free(order);
        return cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory");
    }
    int64_t offset = 0;
    int placed = 0;
    for (int pass = 8; pass >= 1; pass /= 2)
        for (int i = 0; i < count; i++)
            if (cr_dtype_size(tensors[i].dtype) == pass) {
                begin[i] = offset;
                order[placed++] = i;
                offset += tensor_count(&tensors[i]) * pass;
            }
    size_t header_length = 0;
    char *header = build_header(tensors, count, begin, meta, n_meta, &header_length);
    free(begin);
    if (!header) {
        free(order);
        return cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory building the header");
    }

    cr_atomic_file file;
    if (cr_atomic_open(&file, path, err)) {
        free(order);
        free(header);
        return 1;
    }
    unsigned char prefix[8];
    store_le(prefix, header_length, 8);
    bool written = fwrite(prefix, 1, 8, file.stream) == 8 &&
                   fwrite(header, 1, header_length, file.stream) == header_length;
    for (int i = 0; i < placed && written; i++)
        written = write_data(file.stream, &tensors[order[i]]);
    free(order);
    free(header);
    return cr_atomic_commit(&file, written, err);
}

/* ---- the network's weights -------------------------------------------------------- */

/* The model layer a tensor name belongs to ("block1.conv1.weight" ->
 * block1.conv1), or -1; *suffix points after the last dot. */
static int layer_of(const cr_model *model, const char *name, const char **suffix) {
    const char *dot = strrchr(name, '.');
    *suffix = dot ? dot + 1 : name;
    if (!dot || dot - name >= 256) return -1;
    char layer[256];
    memcpy(layer, name, (size_t)(dot - name));
    layer[dot - name] = '\0';
    return cr_model_find_layer(model, layer);
}

int cr_net_save_weights(const cr_net *net, const char *path, cr_error *err) {
    return cr_net_save_weights_meta(net, path, NULL, 0, err);
}

int cr_net_save_weights_meta(const cr_net *net, const char *path, const cr_safetensors_meta *meta,
                             int n_meta, cr_error *err) {
    /* cr_net_param only reads; it takes a non-const net for its data pointers. */
    cr_net *source = (cr_net *)net;
    const cr_model *model = cr_net_model(net);
    int params = cr_net_param_count(net), trackers = 0;
    for (int i = 0; i < model->n_layers; i++)
        trackers += model->layers[i].kind->batch_counter != NULL;
    int count = params + trackers;
    cr_safetensors_tensor *tensors = calloc((size_t)(count ? count : 1), sizeof *tensors);
    char **counter_names = calloc((size_t)(trackers ? trackers : 1), sizeof *counter_names);
    if (!tensors || !counter_names) {
        free(tensors);
        free(counter_names);
        return cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory");
    }
    /* PyTorch's BatchNorm has a third buffer, the number of training batches
     * seen; strict load_state_dict wants it. cnnrun does not count batches
     * (momentum is always set, so PyTorch ignores the count too): 0. Any
     * kind that declares a batch_counter gets one the same way. */
    static const int64_t zero = 0;
    int status = 0, n = 0, counters = 0;
    for (int p = 0; p < params; p++) {
        cr_tensor t = cr_net_param(source, p);
        cr_safetensors_tensor *out = &tensors[n++];
        *out = (cr_safetensors_tensor){
            .name = t.name, .dtype = CR_DTYPE_F32, .ndim = t.ndim, .data = t.data};
        for (int d = 0; d < t.ndim; d++) out->shape[d] = t.dims[d];
        /* The counter follows the layer's last tensor (batchnorm's running_var). */
        const char *suffix;
        int layer = layer_of(model, t.name, &suffix);
        if (layer < 0) continue;
        const cr_layer *owner = &model->layers[layer];
        const char *counter = owner->kind->batch_counter;
        if (!counter || owner->n_params < 1 ||
            strcmp(suffix, owner->params[owner->n_params - 1].suffix) != 0)
            continue;
        size_t layer_length = (size_t)(suffix - t.name); /* with the dot */
        size_t counter_size = strlen(counter) + 1;
        char *name = malloc(layer_length + counter_size);
        if (!name) {
            status = cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory");
            break;
        }
        memcpy(name, t.name, layer_length);
        memcpy(name + layer_length, counter, counter_size);
        counter_names[counters++] = name;
        tensors[n++] =
            (cr_safetensors_tensor){.name = name, .dtype = CR_DTYPE_I64, .ndim = 0, .data = &zero};
    }
    if (!status) status = cr_safetensors_write_meta(path, tensors, n, meta, n_meta, err);
    for (int i = 0; i < counters; i++) free(counter_names[i]);
    free(counter_names);
    free(tensors);
    return status;
}

typedef struct named_param {
    const char *name;
    int index;
} named_param;

static int compare_named(const void *a, const void *b) {
    return strcmp(((const named_param *)a)->name, ((const named_param *)b)->name);
}

static int find_param(const named_param *sorted, int count, const char *name) {
    named_param key = {name, -1};
    const named_param *hit = bsearch(&key, sorted, (size_t)count, sizeof key, compare_named);
    return hit ? hit->index : -1;
}

/* "'a', 'b', 'c' and 4 more" from up to `shown` names. */
static void list_names(text *t, const char *const *names, int count, int shown) {
    char buffer[160];
    for (int i = 0; i < count && i < shown; i++)
        text_add(t, "%s'%s'", i ? ", " : "", printable(names[i], buffer, sizeof buffer));
    if (count > shown) text_add(t, " and %d more", count - shown);
}

/* Matches the file's names to the model's (found[p] for parameter p) and
 * reports names the model lacks, with a diagnosis, or names the file lacks.
 * PyTorch's batchnorm counters are accepted when they are I64 scalars. */
static int check_names(cr_net *net, const cr_safetensors_file *file, const named_param *sorted,
                       int params, const cr_safetensors_entry **found, cr_error *err) {
    const cr_model *model = cr_net_model(net);
    const char **unexpected = malloc((size_t)(file->count ? file->count : 1) * sizeof *unexpected);
    const char **missing = malloc((size_t)(params ? params : 1) * sizeof *missing);
    const char **all = malloc((size_t)(params ? params : 1) * sizeof *all);
    if (!unexpected || !missing || !all) {
        free(unexpected);
        free(missing);
        free(all);
        return cr_fail_file(err, CR_ERR_RUNTIME, file->path, "out of memory");
    }
    int n_unexpected = 0, n_missing = 0, n_found = 0, status = 0;
    char a[160], b[160];
    for (int i = 0; i < file->count && !status; i++) {
        const cr_safetensors_entry *entry = &file->entries[i];
        int index = find_param(sorted, params, entry->name);
        if (index >= 0) {
            found[index] = entry;
            n_found++;
            continue;
        }
        const char *suffix;
        int layer = layer_of(model, entry->name, &suffix);
        const char *counter = layer >= 0 ? model->layers[layer].kind->batch_counter : NULL;
        if (counter && strcmp(suffix, counter) == 0) {
            /* PyTorch's batch counter: accepted and ignored (cnnrun's
             * momentum rule does not use it). */
            if (entry->dtype != CR_DTYPE_I64 || entry->count != 1) {
                char dims[160];
                shape_text(entry->shape, entry->ndim, dims, sizeof dims);
                status = cr_fail_file(err, CR_ERR_INVALID, file->path,
                                      "tensor '%s': expected an I64 scalar (PyTorch's batchnorm "
                                      "batch counter), found %s %s",
                                      printable(entry->name, a, sizeof a),
                                      cr_dtype_name(entry->dtype), dims);
            }
            continue;
        }
        unexpected[n_unexpected++] = entry->name;
    }
    for (int p = 0; p < params; p++) {
        all[p] = cr_net_param(net, p).name;
        if (!found[p]) missing[n_missing++] = all[p];
    }
    if (!status && n_unexpected && n_found == 0 && params > 0) {
        text t = {.used = 0};
        text_add(&t,
                 "none of the file's %d tensors belongs to this model: is it the weights of "
                 "another model? The file has ",
                 n_unexpected);
        list_names(&t, unexpected, n_unexpected, 3);
        text_add(&t, "; the model needs ");
        list_names(&t, all, params, 3);
        status = cr_fail_file(err, CR_ERR_INVALID, file->path, "%s", t.buffer);
    } else if (!status && n_unexpected) {
        text t = {.used = 0};
        const char *name = unexpected[0], *suffix;
        int layer = layer_of(model, name, &suffix);
        text_add(&t, "unexpected tensor '%s' — ", printable(name, a, sizeof a));
        if (layer >= 0) {
            const cr_layer *l = &model->layers[layer];
            text_add(&t, "layer '%s' (%s) has no '%s'", l->name, l->kind->name,
                     printable(suffix, b, sizeof b));
            if (strcmp(suffix, "bias") == 0 && l->n_params > 0)
                text_add(&t, " (the model gives it bias: false)");
            if (l->n_params == 0) text_add(&t, "; it has no parameters at all");
        } else {
            /* Only a missing name is a plausible intended one (a renamed
             * layer); a present one would just mislead. */
            const char *near = cr_suggest(name, missing, n_missing);
            const char *dot = strrchr(name, '.');
            int shown = dot && dot - name < 120 ? (int)(dot - name) : 120;
            text_add(&t, "the model has no layer '%.*s'", shown, printable(name, b, sizeof b));
            if (near) text_add(&t, "; did you mean '%s'?", near);
        }
        if (n_unexpected > 1) {
            text_add(&t, " (and %d more unexpected: ", n_unexpected - 1);
            list_names(&t, unexpected + 1, n_unexpected - 1, 3);
            text_add(&t, ")");
        }
        if (n_missing) {
            text_add(&t, t.used && t.buffer[t.used - 1] == '?' ? " Missing from the file: "
                                                               : "; missing from the file: ");
            list_names(&t, missing, n_missing, 3);
        }
        status = cr_fail_file(err, CR_ERR_INVALID, file->path, "%s", t.buffer);
    } else if (!status && n_missing) {
        text t = {.used = 0};
        text_add(&t, "missing tensor '%s'", missing[0]);
        if (n_missing > 1) {
            text_add(&t, " (and %d more: ", n_missing - 1);
            list_names(&t, missing + 1, n_missing - 1, 5);
            text_add(&t, ")");
        }
        status = cr_fail_file(err, CR_ERR_INVALID, file->path, "%s", t.buffer);
    }
    free(unexpected);
    free(missing);
    free(all);
    return status;
}

static int check_shape(const cr_safetensors_file *file, const cr_tensor *want,
                       const cr_safetensors_entry *entry, cr_error *err) {
    if (entry->dtype != CR_DTYPE_F32 && entry->dtype != CR_DTYPE_F64 &&
        entry->dtype != CR_DTYPE_F16 && entry->dtype != CR_DTYPE_BF16)
        return cr_fail_file(err, CR_ERR_INVALID, file->path,
                            "tensor '%s' has dtype %s; weights must be floating point: F32 (F16, "
                            "BF16 and F64 are converted)",
                            want->name, cr_dtype_name(entry->dtype));
    bool same = entry->ndim == want->ndim;
    for (int d = 0; same && d < want->ndim; d++) same = entry->shape[d] == want->dims[d];
    if (same) return 0;
    int64_t expected[CR_MAX_DIMS];
    for (int d = 0; d < want->ndim; d++) expected[d] = want->dims[d];
    char want_text[160], found_text[160];
    shape_text(expected, want->ndim, want_text, sizeof want_text);
    shape_text(entry->shape, entry->ndim, found_text, sizeof found_text);
    text t = {.used = 0};
    text_add(&t, "tensor '%s': expected shape %s, found %s", want->name, want_text, found_text);
    const char *suffix = strrchr(want->name, '.');
    bool weight = suffix && strcmp(suffix, ".weight") == 0;
    if (weight && want->ndim == 2 && entry->ndim == 2 && entry->shape[0] == want->dims[1] &&
        entry->shape[1] == want->dims[0])
        text_add(&t, ": the transpose. PyTorch's (and cnnrun's) dense layout is [out, in]; "
                     "Keras and TensorFlow store [in, out]");
    else if (weight && want->ndim == 4)
        text_add(&t, " (conv layout [filters, channels/groups, kernel height, kernel width])");
    else if (weight && want->ndim == 2)
        text_add(&t, " (dense layout [units, inputs], inputs = C·H·W of the layer's input)");
    return cr_fail_file(err, CR_ERR_INVALID, file->path, "%s", t.buffer);
}

int cr_net_load_weights(cr_net *net, const char *path, cr_error *err) {
    cr_safetensors_file *file;
    if (cr_safetensors_open(path, &file, err)) return 1;
    int params = cr_net_param_count(net);
    named_param *sorted = malloc((size_t)(params ? params : 1) * sizeof *sorted);
    const cr_safetensors_entry **found = calloc((size_t)(params ? params : 1), sizeof *found);
    int64_t *offsets = malloc((size_t)(params ? params : 1) * sizeof *offsets);
    float *staging = NULL;
    int status = 0;
    if (!sorted || !found || !offsets)
        status = cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory");
    int64_t total = 0;
    for (int p = 0; p < params && !status; p++) {
        cr_tensor t = cr_net_param(net, p);
        sorted[p] = (named_param){t.name, p};
        offsets[p] = total;
        total += t.count;
    }
    if (!status) {
        qsort(sorted, (size_t)params, sizeof *sorted, compare_named);
        status = check_names(net, file, sorted, params, found, err);
    }
    for (int p = 0; p < params && !status; p++) {
        cr_tensor t = cr_net_param(net, p);
        status = check_shape(file, &t, found[p], err);
    }
    /* Read everything before touching the network: a file that fails
     * half-way must leave the weights as they were. */
    if (!status) {
        staging = malloc((size_t)(total ? total : 1) * sizeof *staging);
        if (!staging) status = cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory");
    }
    for (int p = 0; p < params && !status; p++)
        status = cr_safetensors_read_floats(file, found[p], staging + offsets[p], err);
    for (int p = 0; p < params && !status; p++) {
        cr_tensor t = cr_net_param(net, p);
        memcpy(t.data, staging + offsets[p], (size_t)t.count * sizeof *staging);
    }
    free(staging);
    free(offsets);
    free(found);
    free(sorted);
    cr_safetensors_close(file);
    return status;
}

/* ---- for other modules' messages --------------------------------------------------- */

const char *cr_safetensors_printable(const char *name, char *out, size_t size) {
    return printable(name, out, size);
}

const char *cr_safetensors_shape_text(const int64_t *shape, int ndim, char *out, size_t size) {
    shape_text(shape, ndim, out, size);
    return out;
}
