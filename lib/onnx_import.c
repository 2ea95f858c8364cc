/* ONNX import: an ONNX graph of the operators cnnrun's layers map to, as
 * torch.onnx.export and cnnrun export write them, becomes a model file (v1
 * format) and its weights.
 *
 *   1. unpack (protobuf-c) and check the file: IR version, opsets, the one
 *      image input [N, C, H, W], initializers (types, sizes, no external
 *      data), every node reading only values made before it (no cycles);
 *   2. walk the nodes in order; each operator's handler (the table at the
 *      end) turns a node, and the nodes it absorbs (a Conv's Relu, a Gemm's
 *      Flatten, magnitude's Reshape/Mul/ReduceSum/Sqrt), into one layer, or
 *      evaluates a small integer computation (torch's Shape → Gather →
 *      Unsqueeze → Concat before the Reshape that flattens);
 *   3. write the layers as YAML and check the result with cnnrun's own
 *      loader and shape inference, then match every weight against the
 *      parameters that says the model has.
 * Anything else is refused with the node's name, operator and why. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "model.h"
#include "onnx.h"
#include "onnx.pb-c.h"
#include "safetensors.h"

/* Far above any real network, small enough that nothing below overflows. */
#define MAX_NODES      100000
#define MAX_DIM        (1 << 24)
#define MAX_FILE_BYTES ((size_t)2 << 30)
#define MIN_OPSET      11
#define MAX_OPSET      18
#define BATCH_DIM      (-1000000001LL) /* the input's first dimension, when symbolic */
#define UNKNOWN_DIM    (-1000000002LL) /* a dimension not known at import */

typedef enum value_type { VALUE_NONE, VALUE_ACTIVATION, VALUE_INTS, VALUE_FLOATS } value_type;

/* What a value of the graph is to the importer. */
typedef struct value {
    char *name;
    value_type type;
    /* activation: the layer producing it ("input": the network's input) */
    char *layer;
    int rank;
    /* integer constants (shapes, axes, indices) */
    int64_t *ints;
    int n_ints;
    const char *shape_of; /* ints that are Shape(the activation of this name) */
    /* float initializers or constants */
    const Onnx__TensorProto *tensor;
    int consumers; /* nodes reading it, plus 1 for a graph output */
    bool defined;  /* false: a node's output, registered by check_order, not imported yet */
    /* Zero padding (height, width) a Pad node put in front of an
     * AveragePool, which folds it into its own (torch writes avg_pool2d so). */
    int64_t pad[2];
} value;

typedef struct layer_out {
    char *name;
    char *text; /* "type: conv, filters: 6, ..." (without name and inputs) */
    char **inputs;
    int n_inputs;
    /* After loading: what cnnrun must compute for it (0: nothing to check). */
    int64_t expect_size;                                /* flatten's C·H·W */
    int64_t expect_c, expect_h, expect_w, expect_group; /* magnitude's input */
    const char *node_name, *op;                         /* for messages */
} layer_out;

/* Every value is registered before the nodes are imported (check_order:
 * inputs, initializers, each node's outputs), so the values array never
 * grows while handlers hold pointers into it. */
typedef struct importer {
    const char *source;
    cr_error *err;
    const Onnx__GraphProto *graph;
    int opset;
    int64_t batch; /* fixed batch of the input, or BATCH_DIM */

    value *values;
    size_t n_values, value_capacity;
    size_t *table; /* hash of value names -> index + 1 */
    size_t table_size;
    bool *consumed; /* per node */
    size_t current; /* the node being imported */

    layer_out *layers;
    int n_layers, layer_capacity;
    char **name_table; /* layer names taken (pointers into layers) */
    size_t name_table_size, n_names;
    cr_onnx_tensor *tensors;
    int n_tensors, tensor_capacity;
} importer;

/* ---- errors ---------------------------------------------------------------------- */

static int file_error(importer *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int file_error(importer *im, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    char message[900];
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    return cr_fail_file(im->err, CR_ERR_INVALID, im->source, "%s", message);
}

static const char *node_label(const Onnx__NodeProto *node) {
    return node->name && node->name[0] ? node->name : (node->n_output ? node->output[0] : "?");
}

static int node_error(importer *im, const Onnx__NodeProto *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int node_error(importer *im, const Onnx__NodeProto *node, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    char message[700];
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    return cr_fail_file(im->err, CR_ERR_INVALID, im->source, "node '%.200s': %s", node_label(node),
                        message);
}

static int out_of_memory(importer *im) {
    return cr_fail_file(im->err, CR_ERR_RUNTIME, im->source, "out of memory");
}

/* ---- values ------------------------------------------------------------------------ */

static size_t hash_name(const char *name) {
    size_t h = 1469598103934665603ULL;
    for (; *name; name++) h = (h ^ (unsigned char)*name) * 1099511628211ULL;
    return h;
}

static value *value_find(importer *im, const char *name) {
    if (!im->table_size || !name) return NULL;
    for (size_t i = hash_name(name) & (im->table_size - 1);; i = (i + 1) & (im->table_size - 1)) {
        if (!im->table[i]) return NULL;
        value *v = &im->values[im->table[i] - 1];
        if (strcmp(v->name, name) == 0) return v;
    }
}

/* A new value; NULL (with the error set) when out of memory or the name is
 * taken: ONNX values are assigned once. */
static value *value_add(importer *im, const char *name, const Onnx__NodeProto *node) {
    value *existing = value_find(im, name);
    if (existing && !existing->defined) {
        existing->defined = true;
        return existing;
    }
    if (existing) {
        if (node)
            node_error(im, node, "value '%.200s' is assigned a second time", name);
        else
            file_error(im, "value '%.200s' is defined twice", name);
        return NULL;
    }
    if (im->n_values == im->value_capacity) {
        size_t capacity = im->value_capacity ? 2 * im->value_capacity : 256;
        value *grown = realloc(im->values, capacity * sizeof *grown);
        size_t *table = calloc(2 * capacity, sizeof *table);
        if (!grown || !table) {
            if (grown) im->values = grown;
            free(table);
            out_of_memory(im);
            return NULL;
        }
        im->values = grown;
        im->value_capacity = capacity;
        free(im->table);
        im->table = table;
        im->table_size = 2 * capacity;
        for (size_t k = 0; k < im->n_values; k++) {
            size_t i = hash_name(im->values[k].name) & (im->table_size - 1);
            while (im->table[i]) i = (i + 1) & (im->table_size - 1);
            im->table[i] = k + 1;
        }
    }
    value *v = &im->values[im->n_values];
    memset(v, 0, sizeof *v);
    v->name = strdup(name);
    v->defined = true;
    if (!v->name) {
        out_of_memory(im);
        return NULL;
    }
    size_t i = hash_name(name) & (im->table_size - 1);
    while (im->table[i]) i = (i + 1) & (im->table_size - 1);
    im->table[i] = ++im->n_values;
    return v;
}

/* A node's i-th input, which must exist (the order check made sure). */
static value *input_value(importer *im, const Onnx__NodeProto *node, size_t i) {
    return i < node->n_input ? value_find(im, node->input[i]) : NULL;
}

static value *activation_input(importer *im, const Onnx__NodeProto *node, size_t i) {
    value *v = input_value(im, node, i);
    if (!v || v->type != VALUE_ACTIVATION) {
        node_error(im, node, "%s's input %zu ('%.200s') must be an activation, not a constant",
                   node->op_type, i + 1, i < node->n_input ? node->input[i] : "");
        return NULL;
    }
    return v;
}

static bool is_graph_output(const importer *im, const char *name) {
    for (size_t i = 0; i < im->graph->n_output; i++)
        if (strcmp(im->graph->output[i]->name, name) == 0) return true;
    return false;
}

/* ---- attributes --------------------------------------------------------------------- */

static const Onnx__AttributeProto *attr_find(const Onnx__NodeProto *node, const char *name) {
    for (size_t i = 0; i < node->n_attribute; i++)
        if (node->attribute[i]->name && strcmp(node->attribute[i]->name, name) == 0)
            return node->attribute[i];
    return NULL;
}

static int64_t attr_int(const Onnx__NodeProto *node, const char *name, int64_t fallback) {
    const Onnx__AttributeProto *a = attr_find(node, name);
    return a && a->has_i ? a->i : fallback;
}

static float attr_float(const Onnx__NodeProto *node, const char *name, float fallback) {
    const Onnx__AttributeProto *a = attr_find(node, name);
    return a && a->has_f ? a->f : fallback;
}

/* `count` ints of attribute `name` into out (fallback when absent); error
 * when present with another length. */
static int attr_ints(importer *im, const Onnx__NodeProto *node, const char *name, int count,
                     int64_t fallback, int64_t *out) {
    const Onnx__AttributeProto *a = attr_find(node, name);
    for (int i = 0; i < count; i++) out[i] = fallback;
    if (!a) return 0;
    if (a->n_ints != (size_t)count)
        return node_error(im, node, "attribute '%s' has %zu values, expected %d (2-D images)", name,
                          a->n_ints, count);
    for (int i = 0; i < count; i++) out[i] = a->ints[i];
    return 0;
}

/* Whether string attribute `name` (ONNX's default `fallback` when absent)
 * is `expected`. */
static bool attr_string_is(const Onnx__NodeProto *node, const char *name, const char *fallback,
                           const char *expected) {
    const Onnx__AttributeProto *a = attr_find(node, name);
    if (!a || !a->has_s) return strcmp(fallback, expected) == 0;
    return a->s.len == strlen(expected) && memcmp(a->s.data, expected, a->s.len) == 0;
}

/* ---- tensors ------------------------------------------------------------------------ */

/* Elements of a tensor, or -1 when its dims are negative or overflow. */
static int64_t tensor_count(const Onnx__TensorProto *t) {
    int64_t count = 1;
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0 || t->dims[i] > MAX_DIM * (int64_t)64) return -1;
        if (t->dims[i] && count > INT64_MAX / 8 / t->dims[i]) return -1;
        count *= t->dims[i];
    }
    return count;
}

/* Checks that a float or int64 tensor's data matches its dims. */
static int tensor_check(importer *im, const Onnx__TensorProto *t, const char *what) {
    const char *name = t->name ? t->name : "";
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return file_error(im,
                          "%s '%.200s' keeps its data in an external file (ONNX's form for "
                          "models above 2 GiB), which cnnrun does not read",
                          what, name);
    int64_t count = tensor_count(t);
    if (count < 0) return file_error(im, "%s '%.200s' has invalid dimensions", what, name);
    if (t->n_dims > CR_MAX_DIMS + 1)
        return file_error(im, "%s '%.200s' has %zu dimensions", what, name, t->n_dims);
    int32_t type = t->has_data_type ? t->data_type : 0;
    size_t have, element;
    if (type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
        element = 4;
        have = t->has_raw_data ? t->raw_data.len / 4 : t->n_float_data;
    } else if (type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64) {
        element = 8;
        have = t->has_raw_data ? t->raw_data.len / 8 : t->n_int64_data;
    } else {
        return file_error(im, "%s '%.200s' has data type %d; cnnrun reads float32 and int64", what,
                          name, (int)type);
    }
    if (t->has_raw_data && t->raw_data.len % element)
        return file_error(im, "%s '%.200s' has %zu bytes, not a whole number of elements", what,
                          name, t->raw_data.len);
    if ((int64_t)have != count)
        return file_error(im, "%s '%.200s' holds %zu values but its dimensions say %lld", what,
                          name, have, (long long)count);
    return 0;
}

static float tensor_float(const Onnx__TensorProto *t, int64_t i) {
    if (!t->has_raw_data) return t->float_data[i];
    float f;
    memcpy(&f, t->raw_data.data + 4 * i, 4); /* little-endian hosts only (see onnx_export.c) */
    return f;
}

static int64_t tensor_int(const Onnx__TensorProto *t, int64_t i) {
    if (!t->has_raw_data) return t->int64_data[i];
    int64_t v;
    memcpy(&v, t->raw_data.data + 8 * i, 8);
    return v;
}

/* A checked tensor as a value: ints for int64, the tensor for float. */
static int value_from_tensor(importer *im, value *v, const Onnx__TensorProto *t) {
    if (t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
        v->type = VALUE_FLOATS;
        v->tensor = t;
        return 0;
    }
    int64_t count = tensor_count(t);
    if (count > 64) {
        v->type = VALUE_NONE; /* a large int64 tensor is nothing cnnrun uses */
        return 0;
    }
    v->type = VALUE_INTS;
    v->n_ints = (int)count;
    v->rank = (int)t->n_dims;
    v->ints = malloc((count > 0 ? (size_t)count : 1) * sizeof *v->ints);
    if (!v->ints) return out_of_memory(im);
    for (int64_t i = 0; i < count; i++) v->ints[i] = tensor_int(t, i);
    return 0;
}

/* ---- the output: layers and weights ------------------------------------------------- */

static char *format_text(const char *fmt, va_list args) {
    va_list copy;
    va_copy(copy, args);
    int length = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    char *text = malloc((size_t)length + 1);
    if (text) vsnprintf(text, (size_t)length + 1, fmt, args);
    return text;
}

/* Layer names taken so far: an open-addressing set, so that a graph of
 * many same-named nodes stays linear. */
static bool name_taken(const importer *im, const char *name) {
    if (!im->name_table_size) return false;
    for (size_t i = hash_name(name) & (im->name_table_size - 1);;
         i = (i + 1) & (im->name_table_size - 1)) {
        if (!im->name_table[i]) return false;
        if (strcmp(im->name_table[i], name) == 0) return true;
    }
}

static int name_take(importer *im, char *name) {
    if (2 * (im->n_names + 1) > im->name_table_size) {
        size_t size = im->name_table_size ? 2 * im->name_table_size : 256;
        char **table = calloc(size, sizeof *table);
        if (!table) return out_of_memory(im);
        for (size_t k = 0; k < im->name_table_size; k++) {
            if (!im->name_table[k]) continue;
            size_t i = hash_name(im->name_table[k]) & (size - 1);
            while (table[i]) i = (i + 1) & (size - 1);
            table[i] = im->name_table[k];
        }
        free(im->name_table);
        im->name_table = table;
        im->name_table_size = size;
    }
    size_t i = hash_name(name) & (im->name_table_size - 1);
    while (im->name_table[i]) i = (i + 1) & (im->name_table_size - 1);
    im->name_table[i] = name;
    im->n_names++;
    return 0;
}

/* Appends `text` to base[*n] keeping letters, digits, '_' and '-'. */
static void name_append(char *base, size_t size, size_t *n, const char *text, size_t length) {
    if (*n && *n + 1 < size) base[(*n)++] = '_';
    for (size_t k = 0; k < length && *n + 1 < size; k++) {
        char c = text[k];
        base[(*n)++] = isalnum((unsigned char)c) || c == '_' || c == '-' ? c : '_';
    }
    base[*n] = '\0';
}

/* A readable, valid and unique layer name from a node's name. torch writes
 * "/scope/.../Op": the scopes name the module ("/block1/conv1/Conv" ->
 * block1_conv1; "/features/features.0/Conv" -> features_0, a scope that
 * repeats its parent's name replacing it). cnnrun export's names ("c1")
 * stay as they are. A taken name gets the operator, then a number. */
static char *layer_name(importer *im, const Onnx__NodeProto *node) {
    char base[96] = "";
    size_t n = 0;
    const char *name = node->name ? node->name : "";
    if (name[0] == '/') {
        const char *scopes[16];
        size_t lengths[16];
        int depth = 0;
        for (const char *p = name + 1; *p && depth < 16;) {
            const char *slash = strchr(p, '/');
            if (!slash) break; /* the last part is the operator */
            size_t length = (size_t)(slash - p);
            if (depth && length > lengths[depth - 1] &&
                strncmp(p, scopes[depth - 1], lengths[depth - 1]) == 0 &&
                p[lengths[depth - 1]] == '.')
                depth--;
            scopes[depth] = p;
            lengths[depth++] = length;
            p = slash + 1;
        }
        for (int k = 0; k < depth; k++) name_append(base, sizeof base, &n, scopes[k], lengths[k]);
    } else {
        name_append(base, sizeof base, &n, name, strlen(name));
    }
    char op[48];
    snprintf(op, sizeof op, "%s", node->op_type ? node->op_type : "layer");
    for (char *p = op; *p; p++) *p = (char)tolower((unsigned char)*p);
    if (!base[0]) snprintf(base, sizeof base, "%s", op);
    if (isdigit((unsigned char)base[0]) || strcmp(base, "input") == 0) {
        char prefixed[sizeof base];
        snprintf(prefixed, sizeof prefixed, "l%s", base);
        memcpy(base, prefixed, sizeof base);
    }
    char candidate[160];
    snprintf(candidate, sizeof candidate, "%s", base);
    if (name_taken(im, candidate) && strcmp(base, op) != 0)
        snprintf(candidate, sizeof candidate, "%s_%s", base, op);
    for (int k = 2; name_taken(im, candidate); k++)
        snprintf(candidate, sizeof candidate, "%s_%d", base, k);
    char *copy = strdup(candidate);
    if (!copy || name_take(im, copy)) {
        free(copy);
        out_of_memory(im);
        return NULL;
    }
    return copy;
}

/* Appends a layer "type: ..., keys" reading the given activations; its
 * output becomes value `output`. Returns the layer or NULL. */
static layer_out *layer_add(importer *im, const Onnx__NodeProto *node, const char *output,
                            value **inputs, int n_inputs, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static layer_out *layer_add(importer *im, const Onnx__NodeProto *node, const char *output,
                            value **inputs, int n_inputs, const char *fmt, ...) {
    if (im->n_layers == im->layer_capacity) {
        int capacity = im->layer_capacity ? 2 * im->layer_capacity : 64;
        layer_out *grown = realloc(im->layers, (size_t)capacity * sizeof *grown);
        if (!grown) return out_of_memory(im), NULL;
        im->layers = grown;
        im->layer_capacity = capacity;
    }
    layer_out *layer = &im->layers[im->n_layers];
    memset(layer, 0, sizeof *layer);
    layer->name = layer_name(im, node);
    va_list args;
    va_start(args, fmt);
    layer->text = format_text(fmt, args);
    va_end(args);
    layer->inputs = calloc((size_t)n_inputs, sizeof *layer->inputs);
    layer->n_inputs = n_inputs;
    layer->node_name = node_label(node);
    layer->op = node->op_type;
    im->n_layers++;
    if (!layer->name || !layer->text || !layer->inputs) return out_of_memory(im), NULL;
    for (int i = 0; i < n_inputs; i++) {
        layer->inputs[i] = strdup(inputs[i]->layer);
        if (!layer->inputs[i]) return out_of_memory(im), NULL;
    }
    value *out = value_add(im, output, node);
    if (!out) return NULL;
    out->type = VALUE_ACTIVATION;
    out->layer = strdup(layer->name);
    out->rank = 4;
    if (!out->layer) return out_of_memory(im), NULL;
    return layer;
}

/* The value `output` is `from` (identity, dropout, a flatten a dense does
 * itself), possibly seen with another rank. */
static int alias(importer *im, const Onnx__NodeProto *node, const char *output, const value *from,
                 int rank) {
    char *layer = strdup(from->layer);
    value *out = layer ? value_add(im, output, node) : NULL;
    if (!out) {
        free(layer);
        return layer ? 1 : out_of_memory(im);
    }
    out->type = VALUE_ACTIVATION;
    out->layer = layer;
    out->rank = rank;
    return 0;
}

/* A weight for `<layer>.<suffix>`, from a float tensor, transposed for a
 * [K, N] Gemm weight (transB = 0). */
static int tensor_add(importer *im, const char *layer, const char *suffix,
                      const Onnx__TensorProto *t, bool transpose) {
    if (im->n_tensors == im->tensor_capacity) {
        int capacity = im->tensor_capacity ? 2 * im->tensor_capacity : 32;
        cr_onnx_tensor *grown = realloc(im->tensors, (size_t)capacity * sizeof *grown);
        if (!grown) return out_of_memory(im);
        im->tensors = grown;
        im->tensor_capacity = capacity;
    }
    cr_onnx_tensor *out = &im->tensors[im->n_tensors++];
    memset(out, 0, sizeof *out);
    size_t length = strlen(layer) + strlen(suffix) + 2;
    out->name = malloc(length);
    out->count = tensor_count(t);
    out->data = malloc((size_t)(out->count ? out->count : 1) * sizeof *out->data);
    if (!out->name || !out->data) return out_of_memory(im);
    snprintf(out->name, length, "%s.%s", layer, suffix);
    out->ndim = (int)t->n_dims;
    for (size_t i = 0; i < t->n_dims && i < CR_MAX_DIMS; i++) out->dims[i] = t->dims[i];
    if (transpose && t->n_dims == 2) {
        int64_t rows = t->dims[0], cols = t->dims[1];
        out->dims[0] = cols;
        out->dims[1] = rows;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++)
                out->data[c * rows + r] = tensor_float(t, r * cols + c);
    } else {
        for (int64_t i = 0; i < out->count; i++) out->data[i] = tensor_float(t, i);
    }
    return 0;
}

/* A node input that must be a float initializer (weights). */
static const Onnx__TensorProto *weight_input(importer *im, const Onnx__NodeProto *node, size_t i,
                                             const char *what, int ndim) {
    value *v = input_value(im, node, i);
    if (!v || v->type != VALUE_FLOATS) {
        node_error(im, node,
                   "%s's %s ('%.200s') must be a float initializer: cnnrun layers hold "
                   "their weights",
                   node->op_type, what, i < node->n_input ? node->input[i] : "missing");
        return NULL;
    }
    if (ndim >= 0 && (int)v->tensor->n_dims != ndim) {
        node_error(im, node, "%s's %s has %zu dimensions, expected %d", node->op_type, what,
                   v->tensor->n_dims, ndim);
        return NULL;
    }
    return v->tensor;
}

/* ---- fusion: an activation right after a Conv or Gemm ------------------------------- */

/* The node computing value `name`, or NULL. */
static const Onnx__NodeProto *producer(importer *im, const char *name, size_t *index) {
    for (size_t n = 0; n < im->graph->n_node; n++) {
        const Onnx__NodeProto *node = im->graph->node[n];
        for (size_t o = 0; o < node->n_output; o++)
            if (strcmp(node->output[o], name) == 0) {
                if (index) *index = n;
                return node;
            }
    }
    return NULL;
}

/* The node reading `name` when it is its only reader (and not a graph
 * output), else NULL. */
static const Onnx__NodeProto *sole_consumer(importer *im, const char *name, size_t *index) {
    value *v = value_find(im, name);
    if (!v || v->consumers != 1 || is_graph_output(im, name)) return NULL;
    for (size_t n = 0; n < im->graph->n_node; n++) {
        const Onnx__NodeProto *node = im->graph->node[n];
        for (size_t i = 0; i < node->n_input; i++)
            if (strcmp(node->input[i], name) == 0) {
                if (index) *index = n;
                return node;
            }
    }
    return NULL;
}

static bool op_is(const Onnx__NodeProto *node, const char *op) {
    return node && node->op_type && strcmp(node->op_type, op) == 0;
}

/* ---- activations: one operator, or torch's patterns --------------------------------- */

/* A float constant of one element (an initializer or a Constant). */
static bool scalar_input(importer *im, const Onnx__NodeProto *node, size_t i, float *out) {
    value *v = i < node->n_input && node->input[i][0] ? value_find(im, node->input[i]) : NULL;
    if (!v || v->type != VALUE_FLOATS || tensor_count(v->tensor) != 1) return false;
    *out = tensor_float(v->tensor, 0);
    return true;
}

static bool near(float a, float b) {
    return fabsf(a - b) <= 1e-6f * fabsf(b);
}

/* The Mul reading `x` and `other` (in either order), when it is the only
 * reader of `other`. */
static const Onnx__NodeProto *mul_with(importer *im, const char *other, const char *x,
                                       size_t *index) {
    const Onnx__NodeProto *mul = sole_consumer(im, other, index);
    if (!op_is(mul, "Mul") || mul->n_input != 2) return NULL;
    bool matches = (strcmp(mul->input[0], x) == 0 && strcmp(mul->input[1], other) == 0) ||
                   (strcmp(mul->input[1], x) == 0 && strcmp(mul->input[0], other) == 0);
    return matches ? mul : NULL;
}

/* An activation as it appears in a graph, starting at one node that reads x. */
typedef struct activation_match {
    const char *name; /* cnnrun's: "relu", "silu", ... */
    float param;      /* leaky_relu's slope, elu's alpha */
    bool has_param;
    const char *output;
    size_t nodes[5]; /* the nodes it covers */
    int n_nodes;
} activation_match;

/* The pattern ends at `last` (node index `index`: added unless it is the
 * start, which is already there). */
static bool matched(activation_match *m, const char *name, const Onnx__NodeProto *last,
                    size_t index) {
    m->name = name;
    m->output = last->output[0];
    if (index != m->nodes[0]) m->nodes[m->n_nodes++] = index;
    return true;
}

/* x / √2 → Erf → + 1 → x · → · 0.5: the exact GELU as torch writes it. */
static bool match_gelu(importer *im, const Onnx__NodeProto *div, const char *x,
                       activation_match *m) {
    float c;
    size_t erf_i, add_i, mul_i, half_i;
    if (!scalar_input(im, div, 1, &c) || !near(c, 1.41421356f)) return false;
    const Onnx__NodeProto *erf = sole_consumer(im, div->output[0], &erf_i);
    const Onnx__NodeProto *add =
        op_is(erf, "Erf") ? sole_consumer(im, erf->output[0], &add_i) : NULL;
    if (!op_is(add, "Add") || add->n_input != 2) return false;
    float one;
    if (!scalar_input(im, add, strcmp(add->input[0], erf->output[0]) == 0 ? 1 : 0, &one) ||
        one != 1.0f)
        return false;
    const Onnx__NodeProto *mul = mul_with(im, add->output[0], x, &mul_i);
    const Onnx__NodeProto *half = mul ? sole_consumer(im, mul->output[0], &half_i) : NULL;
    float h;
    if (!op_is(half, "Mul") || half->n_input != 2 ||
        !scalar_input(im, half, strcmp(half->input[0], mul->output[0]) == 0 ? 1 : 0, &h) ||
        h != 0.5f)
        return false;
    m->nodes[m->n_nodes++] = erf_i;
    m->nodes[m->n_nodes++] = add_i;
    m->nodes[m->n_nodes++] = mul_i;
    return matched(m, "gelu", half, half_i);
}

/* The activation starting at node `start`, which reads x; false when the
 * node starts none cnnrun has. */
static bool match_activation(importer *im, size_t start, const char *x, activation_match *m) {
    const Onnx__NodeProto *node = im->graph->node[start];
    memset(m, 0, sizeof *m);
    m->nodes[m->n_nodes++] = start;
    if (node->n_output < 1 || node->n_input < 1 || strcmp(node->input[0], x) != 0) return false;
    static const struct {
        const char *op, *name;
    } single[] = {{"Relu", "relu"}, {"Tanh", "tanh"}, {"HardSwish", "hardswish"}};
    size_t clip_i;
    const Onnx__NodeProto *clip;
    /* torch writes relu6 as Relu, then Clip to [0, 6]. */
    if (op_is(node, "Relu") && op_is(clip = sole_consumer(im, node->output[0], &clip_i), "Clip")) {
        activation_match inner;
        if (match_activation(im, clip_i, node->output[0], &inner) &&
            strcmp(inner.name, "relu6") == 0)
            return matched(m, "relu6", clip, clip_i);
        memset(m, 0, sizeof *m);
        m->nodes[m->n_nodes++] = start;
    }
    for (size_t i = 0; i < sizeof single / sizeof single[0]; i++)
        if (op_is(node, single[i].op)) return matched(m, single[i].name, node, start);
    size_t mul_i;
    const Onnx__NodeProto *mul;
    if (op_is(node, "Sigmoid")) {
        if ((mul = mul_with(im, node->output[0], x, &mul_i))) return matched(m, "silu", mul, mul_i);
        return matched(m, "sigmoid", node, start);
    }
    if (op_is(node, "HardSigmoid")) {
        if (!near(attr_float(node, "alpha", 0.2f), 1.0f / 6.0f) ||
            attr_float(node, "beta", 0.5f) != 0.5f)
            return false;
        if ((mul = mul_with(im, node->output[0], x, &mul_i)))
            return matched(m, "hardswish", mul, mul_i);
        return matched(m, "hardsigmoid", node, start);
    }
    if (op_is(node, "LeakyRelu") || op_is(node, "Elu")) {
        bool leaky = op_is(node, "LeakyRelu");
        m->param = attr_float(node, "alpha", leaky ? 0.01f : 1.0f);
        m->has_param = true;
        return matched(m, leaky ? "leaky_relu" : "elu", node, start);
    }
    if (op_is(node, "Clip")) {
        float low = -INFINITY, high = INFINITY;
        if (node->n_input > 1 && node->input[1][0] && !scalar_input(im, node, 1, &low))
            return false;
        if (node->n_input > 2 && node->input[2][0] && !scalar_input(im, node, 2, &high))
            return false;
        low = attr_float(node, "min", low);
        high = attr_float(node, "max", high);
        if (low != 0.0f || high != 6.0f) return false;
        return matched(m, "relu6", node, start);
    }
    if (op_is(node, "Div")) return match_gelu(im, node, x, m);
    return false;
}

/* The readers of value `name` (node indices, each once). */
static int readers(importer *im, const char *name, size_t *out, int max) {
    int count = 0;
    for (size_t n = 0; n < im->graph->n_node; n++) {
        const Onnx__NodeProto *node = im->graph->node[n];
        for (size_t i = 0; i < node->n_input; i++)
            if (strcmp(node->input[i], name) == 0) {
                if (count < max) out[count] = n;
                count++;
                break;
            }
    }
    return count;
}

/* If what reads `output` is exactly one activation a conv or dense can fuse
 * (PyTorch's default slope and alpha), it is absorbed: *final becomes its
 * output and its name is returned ("none" otherwise). */
static const char *absorb_activation(importer *im, const char *output, const char **final) {
    *final = output;
    size_t reader[2];
    int n = is_graph_output(im, output) ? 0 : readers(im, output, reader, 2);
    if (n < 1 || n > 2) return "none";
    /* Two readers: silu, hardswish and gelu read x twice, once through a Mul. */
    size_t start = n == 2 && op_is(im->graph->node[reader[0]], "Mul") ? reader[1] : reader[0];
    activation_match m;
    if (!match_activation(im, start, output, &m)) return "none";
    if (m.has_param && m.param != (strcmp(m.name, "elu") == 0 ? 1.0f : 0.01f)) return "none";
    int covered = 0;
    for (int k = 0; k < m.n_nodes; k++)
        for (int r = 0; r < n; r++) covered += m.nodes[k] == reader[r];
    if (covered != n) return "none";
    for (int k = 0; k < m.n_nodes; k++) im->consumed[m.nodes[k]] = true;
    *final = m.output;
    return m.name;
}

/* ---- operator handlers ------------------------------------------------------------- */

/* pads [top, left, bottom, right] as cnnrun's symmetric [h, w]. */
static int symmetric_padding(importer *im, const Onnx__NodeProto *node, int64_t *padding) {
    int64_t pads[4];
    if (attr_ints(im, node, "pads", 4, 0, pads)) return 1;
    if (!attr_string_is(node, "auto_pad", "NOTSET", "NOTSET") &&
        !attr_string_is(node, "auto_pad", "NOTSET", "VALID"))
        return node_error(im, node, "auto_pad SAME_* is not supported: give explicit pads");
    if (pads[0] != pads[2] || pads[1] != pads[3])
        return node_error(im, node,
                          "pads [%lld, %lld, %lld, %lld] are not symmetric; cnnrun pads top and "
                          "bottom (left and right) alike",
                          (long long)pads[0], (long long)pads[1], (long long)pads[2],
                          (long long)pads[3]);
    for (int i = 0; i < 2; i++) {
        if (pads[i] < 0 || pads[i] > MAX_DIM) return node_error(im, node, "invalid pads");
        padding[i] = pads[i];
    }
    return 0;
}

/* kernel_shape, strides, symmetric pads and dilations (NULL: must be 1). */
static int window_attrs(importer *im, const Onnx__NodeProto *node, int64_t *kernel, int64_t *stride,
                        int64_t *padding, int64_t *dilation) {
    if (attr_ints(im, node, "kernel_shape", 2, 0, kernel) ||
        attr_ints(im, node, "strides", 2, 1, stride) || symmetric_padding(im, node, padding))
        return 1;
    int64_t dilations[2];
    if (attr_ints(im, node, "dilations", 2, 1, dilations)) return 1;
    if (!dilation && (dilations[0] != 1 || dilations[1] != 1))
        return node_error(im, node, "dilations [%lld, %lld]: cnnrun's pooling is not dilated",
                          (long long)dilations[0], (long long)dilations[1]);
    for (int i = 0; i < 2; i++) {
        if (stride[i] < 1 || stride[i] > MAX_DIM || kernel[i] > MAX_DIM || dilations[i] < 1 ||
            dilations[i] > MAX_DIM)
            return node_error(im, node, "invalid kernel, strides or dilations");
        if (dilation) dilation[i] = dilations[i];
    }
    return 0;
}

/* Conv and ConvTranspose: a conv or conv_transpose layer with the activation
 * that follows fused. */
static int import_conv(importer *im, const Onnx__NodeProto *node) {
    bool transposed = op_is(node, "ConvTranspose");
    value *x = activation_input(im, node, 0);
    const Onnx__TensorProto *w = x ? weight_input(im, node, 1, "weight", 4) : NULL;
    if (!w) return 1;
    const Onnx__TensorProto *bias = NULL;
    if (node->n_input > 2 && node->input[2][0] && !(bias = weight_input(im, node, 2, "bias", 1)))
        return 1;
    int64_t kernel[2], stride[2], padding[2], dilation[2], output_padding[2];
    if (window_attrs(im, node, kernel, stride, padding, dilation) ||
        attr_ints(im, node, "output_padding", 2, 0, output_padding))
        return 1;
    if (attr_find(node, "output_shape"))
        return node_error(im, node, "ConvTranspose with output_shape: give pads instead");
    if (kernel[0] == 0) kernel[0] = w->dims[2], kernel[1] = w->dims[3];
    if (kernel[0] != w->dims[2] || kernel[1] != w->dims[3])
        return node_error(im, node, "kernel_shape disagrees with the weight's shape");
    int64_t groups = attr_int(node, "group", 1);
    if (groups < 1 || groups > MAX_DIM)
        return node_error(im, node, "invalid group %lld", (long long)groups);
    /* Conv's weight is [F, C/groups, KH, KW], ConvTranspose's [C, F/groups, KH, KW]. */
    int64_t filters = transposed ? w->dims[1] * groups : w->dims[0];
    char extra[160] = "";
    if (dilation[0] != 1 || dilation[1] != 1)
        snprintf(extra, sizeof extra, ", dilation: [%lld, %lld]", (long long)dilation[0],
                 (long long)dilation[1]);
    if (output_padding[0] || output_padding[1]) {
        if (!transposed) return node_error(im, node, "Conv has no output_padding");
        snprintf(extra + strlen(extra), sizeof extra - strlen(extra),
                 ", output_padding: [%lld, %lld]", (long long)output_padding[0],
                 (long long)output_padding[1]);
    }
    const char *output;
    const char *activation = absorb_activation(im, node->output[0], &output);
    layer_out *layer = layer_add(
        im, node, output, &x, 1,
        "type: %s, filters: %lld, kernel: [%lld, %lld], stride: [%lld, %lld], padding: [%lld, "
        "%lld], groups: %lld%s, bias: %s, activation: %s",
        transposed ? "conv_transpose" : "conv", (long long)filters, (long long)kernel[0],
        (long long)kernel[1], (long long)stride[0], (long long)stride[1], (long long)padding[0],
        (long long)padding[1], (long long)groups, extra, bias ? "true" : "false", activation);
    if (!layer || tensor_add(im, layer->name, "weight", w, false)) return 1;
    return bias ? tensor_add(im, layer->name, "bias", bias, false) : 0;
}

static int import_gemm(importer *im, const Onnx__NodeProto *node) {
    value *x = activation_input(im, node, 0);
    const Onnx__TensorProto *w = x ? weight_input(im, node, 1, "weight", 2) : NULL;
    if (!w) return 1;
    const Onnx__TensorProto *bias = NULL;
    if (node->n_input > 2 && node->input[2][0] && !(bias = weight_input(im, node, 2, "bias", -1)))
        return 1;
    if (attr_int(node, "transA", 0) != 0 || attr_float(node, "alpha", 1.0f) != 1.0f ||
        attr_float(node, "beta", 1.0f) != 1.0f)
        return node_error(im, node, "Gemm with transA or alpha/beta ≠ 1 has no cnnrun layer");
    bool transposed = attr_int(node, "transB", 0) != 0;
    int64_t units = transposed ? w->dims[0] : w->dims[1];
    if (bias && tensor_count(bias) != units)
        return node_error(im, node, "bias has %lld values for %lld units",
                          (long long)tensor_count(bias), (long long)units);
    const char *output;
    const char *activation = absorb_activation(im, node->output[0], &output);
    layer_out *layer =
        layer_add(im, node, output, &x, 1, "type: dense, units: %lld, bias: %s, activation: %s",
                  (long long)units, bias ? "true" : "false", activation);
    if (!layer || tensor_add(im, layer->name, "weight", w, !transposed)) return 1;
    value *out = value_find(im, output);
    if (out) out->rank = 2;
    if (!bias) return 0;
    if (tensor_add(im, layer->name, "bias", bias, false)) return 1;
    /* A [1, units] bias is cnnrun's [units]. */
    cr_onnx_tensor *t = &im->tensors[im->n_tensors - 1];
    t->ndim = 1;
    t->dims[0] = units;
    return 0;
}

static int import_pool(importer *im, const Onnx__NodeProto *node, const char *type) {
    value *x = activation_input(im, node, 0);
    if (!x) return 1;
    int64_t kernel[2], stride[2], padding[2];
    if (window_attrs(im, node, kernel, stride, padding, NULL)) return 1;
    if (x->pad[0] || x->pad[1]) {
        if (padding[0] || padding[1])
            return node_error(im, node, "AveragePool with pads after a Pad node");
        padding[0] = x->pad[0];
        padding[1] = x->pad[1];
        /* Zeros padded beforehand count in the divisor. */
    }
    if (kernel[0] < 1 || kernel[1] < 1) return node_error(im, node, "kernel_shape missing");
    if (attr_int(node, "ceil_mode", 0) != 0)
        return node_error(im, node,
                          "ceil_mode = 1: cnnrun rounds pooling outputs down (ceil_mode 0)");
    if (node->n_output > 1 && node->output[1][0])
        return node_error(im, node, "MaxPool's indices output has no cnnrun layer");
    if (op_is(node, "AveragePool") && attr_int(node, "count_include_pad", 0) == 0 &&
        (padding[0] || padding[1]) && !x->pad[0] && !x->pad[1])
        return node_error(im, node,
                          "count_include_pad = 0 with padding: cnnrun's avgpool counts the "
                          "padding in the divisor (count_include_pad = 1)");
    return !layer_add(im, node, node->output[0], &x, 1,
                      "type: %s, size: [%lld, %lld], stride: [%lld, %lld], padding: [%lld, %lld]",
                      type, (long long)kernel[0], (long long)kernel[1], (long long)stride[0],
                      (long long)stride[1], (long long)padding[0], (long long)padding[1]);
}

static int import_maxpool(importer *im, const Onnx__NodeProto *node) {
    return import_pool(im, node, "maxpool");
}

static int import_avgpool(importer *im, const Onnx__NodeProto *node) {
    return import_pool(im, node, "avgpool");
}

/* Relu, Tanh, Sigmoid, LeakyRelu as layers; the rank passes through. */
/* A float as the fewest digits (up to `digits`) that read back as it:
 * 1e-05 rather than 9.99999975e-06. */
typedef struct number {
    char text[40];
} number;

static number shortest(float value, int digits) {
    number n;
    for (int precision = 1; precision <= digits; precision++) {
        snprintf(n.text, sizeof n.text, "%.*g", precision, (double)value);
        if (strtof(n.text, NULL) == value) break;
    }
    return n;
}

/* An activation as a layer of its own; the rank passes through. */
static int import_activation(importer *im, const Onnx__NodeProto *node) {
    value *x = activation_input(im, node, 0);
    if (!x) return 1;
    activation_match m;
    if (!match_activation(im, im->current, node->input[0], &m))
        return node_error(im, node, "%s %s", node->op_type,
                          op_is(node, "Div") ? "other than GELU's x/√2 has no cnnrun layer"
                                             : "with these attributes has no cnnrun layer");
    for (int k = 1; k < m.n_nodes; k++) im->consumed[m.nodes[k]] = true;
    layer_out *layer =
        m.has_param
            ? layer_add(im, node, m.output, &x, 1, "type: %s, %s: %s", m.name,
                        strcmp(m.name, "elu") == 0 ? "alpha" : "slope", shortest(m.param, 9).text)
            : layer_add(im, node, m.output, &x, 1, "type: %s", m.name);
    value *out = layer ? value_find(im, m.output) : NULL;
    if (out) out->rank = x->rank;
    return !layer;
}

/* GlobalAveragePool, GlobalMaxPool: [N, C, 1, 1]. */
static int import_global_pool(importer *im, const Onnx__NodeProto *node) {
    value *x = activation_input(im, node, 0);
    if (!x) return 1;
    return !layer_add(im, node, node->output[0], &x, 1, "type: %s",
                      op_is(node, "GlobalMaxPool") ? "globalmaxpool" : "globalavgpool");
}

/* PRelu with one slope per channel ([C], or [C, 1, 1] to broadcast). */
static int import_prelu(importer *im, const Onnx__NodeProto *node) {
    value *x = activation_input(im, node, 0);
    const Onnx__TensorProto *slope = x ? weight_input(im, node, 1, "slope", -1) : NULL;
    if (!slope) return 1;
    for (size_t d = 1; d < slope->n_dims; d++)
        if (slope->dims[d] != 1)
            return node_error(im, node, "PRelu's slope must be one per channel ([C, 1, 1])");
    layer_out *layer = layer_add(im, node, node->output[0], &x, 1, "type: prelu");
    if (!layer || tensor_add(im, layer->name, "weight", slope, false)) return 1;
    cr_onnx_tensor *t = &im->tensors[im->n_tensors - 1];
    t->ndim = 1;
    t->dims[0] = t->count;
    value *out = value_find(im, node->output[0]);
    if (out) out->rank = x->rank;
    return 0;
}

/* Resize by whole scale factors of height and width: nearest as PyTorch
 * (asymmetric, floor) or bilinear with align_corners=False
 * (pytorch_half_pixel or half_pixel). */
static int import_resize(importer *im, const Onnx__NodeProto *node) {
    value *x = activation_input(im, node, 0);
    if (!x) return 1;
    value *scales = node->n_input > 2 && node->input[2][0] ? input_value(im, node, 2) : NULL;
    if (!scales || scales->type != VALUE_FLOATS || tensor_count(scales->tensor) != 4)
        return node_error(im, node,
                          "Resize needs constant scales [1, 1, sh, sw] (sizes are not "
                          "supported)");
    float f[4];
    for (int i = 0; i < 4; i++) f[i] = tensor_float(scales->tensor, i);
    if (f[0] != 1.0f || f[1] != 1.0f || f[2] < 1.0f || f[3] < 1.0f || f[2] > 4096.0f ||
        f[3] > 4096.0f || f[2] != floorf(f[2]) || f[3] != floorf(f[3]))
        return node_error(im, node,
                          "Resize scales [%g, %g, %g, %g]: cnnrun's upsample enlarges "
                          "height and width by whole factors",
                          (double)f[0], (double)f[1], (double)f[2], (double)f[3]);
    const char *mode;
    if (attr_string_is(node, "mode", "nearest", "nearest") &&
        attr_string_is(node, "coordinate_transformation_mode", "half_pixel", "asymmetric") &&
        attr_string_is(node, "nearest_mode", "round_prefer_floor", "floor"))
        mode = "nearest";
    else if (attr_string_is(node, "mode", "nearest", "linear") &&
             (attr_string_is(node, "coordinate_transformation_mode", "half_pixel",
                             "pytorch_half_pixel") ||
              attr_string_is(node, "coordinate_transformation_mode", "half_pixel", "half_pixel")))
        mode = "bilinear";
    else
        return node_error(im, node,
                          "Resize modes other than PyTorch's nearest (asymmetric, "
                          "floor) and bilinear (half pixel) have no cnnrun layer");
    return !layer_add(im, node, node->output[0], &x, 1, "type: upsample, scale: [%d, %d], mode: %s",
                      (int)f[2], (int)f[3], mode);
}

static int import_batchnorm(importer *im, const Onnx__NodeProto *node) {
    value *x = activation_input(im, node, 0);
    if (!x) return 1;
    const Onnx__TensorProto *t[4];
    static const char *const what[4] = {"scale", "bias", "mean", "variance"};
    static const char *const suffix[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 4; i++)
        if (!(t[i] = weight_input(im, node, (size_t)i + 1, what[i], 1))) return 1;
    if (attr_int(node, "training_mode", 0) != 0 || (node->n_output > 1 && node->output[1][0]))
        return node_error(im, node, "training-mode BatchNormalization has no cnnrun layer");
    float momentum = 1.0f - attr_float(node, "momentum", 0.9f);
    if (!(momentum >= 0.0f && momentum <= 1.0f)) momentum = 0.1f;
    float eps = attr_float(node, "epsilon", 1e-5f);
    if (!(eps > 0.0f)) return node_error(im, node, "epsilon must be positive");
    layer_out *layer = layer_add(im, node, node->output[0], &x, 1,
                                 "type: batchnorm, eps: %s, momentum: %s", shortest(eps, 9).text,
                                 /* ONNX keeps 1 − momentum: its float rounding is noise here */
                                 shortest(momentum, 6).text);
    if (!layer) return 1;
    value *out = value_find(im, node->output[0]);
    if (out) out->rank = x->rank;
    for (int i = 0; i < 4; i++)
        if (tensor_add(im, layer->name, suffix[i], t[i], false)) return 1;
    return 0;
}

static int import_lrn(importer *im, const Onnx__NodeProto *node) {
    value *x = activation_input(im, node, 0);
    if (!x) return 1;
    int64_t size = attr_int(node, "size", 0);
    if (size < 1 || size > MAX_DIM || size % 2 == 0)
        return node_error(im, node,
                          "LRN size %lld: cnnrun's window matches ONNX's for odd sizes only",
                          (long long)size);
    return !layer_add(im, node, node->output[0], &x, 1,
                      "type: lrn, size: %lld, alpha: %s, beta: %s, k: %s", (long long)size,
                      shortest(attr_float(node, "alpha", 1e-4f), 9).text,
                      shortest(attr_float(node, "beta", 0.75f), 9).text,
                      shortest(attr_float(node, "bias", 1.0f), 9).text);
}

static int import_softmax(importer *im, const Onnx__NodeProto *node) {
    value *x = activation_input(im, node, 0);
    if (!x) return 1;
    int64_t axis = attr_int(node, "axis", im->opset >= 13 ? -1 : 1);
    if (axis < 0) axis += x->rank;
    if (axis != 1)
        return node_error(im, node,
                          "Softmax over axis %lld: cnnrun's softmax is over channels "
                          "(axis 1)",
                          (long long)axis);
    if (im->opset < 13 && x->rank != 2)
        return node_error(im, node,
                          "Softmax before opset 13 on a %d-D tensor normalises "
                          "channels and pixels together; cnnrun's does not",
                          x->rank);
    layer_out *layer = layer_add(im, node, node->output[0], &x, 1, "type: softmax");
    value *out = layer ? value_find(im, node->output[0]) : NULL;
    if (out) out->rank = x->rank;
    return !layer;
}

/* Add / Sum of activations -> add; Concat on axis 1 -> concat. */
static int import_join(importer *im, const Onnx__NodeProto *node, const char *type) {
    if (node->n_input < 2 || node->n_input > 64)
        return node_error(im, node, "%s of %zu inputs has no cnnrun layer", node->op_type,
                          node->n_input);
    value *inputs[64];
    int rank = 0;
    for (size_t i = 0; i < node->n_input; i++) {
        inputs[i] = input_value(im, node, i);
        if (!inputs[i] || inputs[i]->type != VALUE_ACTIVATION)
            return node_error(im, node, "%s with a constant operand has no cnnrun layer",
                              node->op_type);
        if (i && inputs[i]->rank != rank)
            return node_error(im, node, "%s of tensors of different ranks", node->op_type);
        rank = inputs[i]->rank;
    }
    if (strcmp(type, "concat") == 0) {
        int64_t axis = attr_int(node, "axis", 1);
        if (axis < 0) axis += rank;
        if (axis != 1)
            return node_error(im, node,
                              "Concat along axis %lld: cnnrun concatenates channels "
                              "(axis 1)",
                              (long long)axis);
    }
    layer_out *layer =
        layer_add(im, node, node->output[0], inputs, (int)node->n_input, "type: %s", type);
    value *out = layer ? value_find(im, node->output[0]) : NULL;
    if (out) out->rank = rank;
    return !layer;
}

static int import_add(importer *im, const Onnx__NodeProto *node) {
    value *a = input_value(im, node, 0), *b = input_value(im, node, 1);
    if (op_is(node, "Add") && a && b &&
        (a->type != VALUE_ACTIVATION || b->type != VALUE_ACTIVATION))
        return node_error(im, node,
                          "Add of a constant has no cnnrun layer (only activations "
                          "are added)");
    return import_join(im, node, "add");
}

static int import_concat(importer *im, const Onnx__NodeProto *node) {
    value *first = input_value(im, node, 0);
    if (first && first->type == VALUE_INTS) { /* shape arithmetic */
        int total = 0;
        int64_t ints[64];
        for (size_t i = 0; i < node->n_input; i++) {
            value *v = input_value(im, node, i);
            if (!v || v->type != VALUE_INTS || total + v->n_ints > 64)
                return node_error(im, node, "Concat of shapes with a non-constant part");
            memcpy(ints + total, v->ints, (size_t)v->n_ints * sizeof *ints);
            total += v->n_ints;
        }
        value *out = value_add(im, node->output[0], node);
        if (!out) return 1;
        out->type = VALUE_INTS;
        out->rank = 1;
        out->n_ints = total;
        out->ints = malloc((size_t)(total ? total : 1) * sizeof *out->ints);
        if (!out->ints) return out_of_memory(im);
        memcpy(out->ints, ints, (size_t)total * sizeof *ints);
        return 0;
    }
    return import_join(im, node, "concat");
}

/* A Flatten or a flattening Reshape: a flatten layer, unless a Gemm is its
 * only reader (dense flattens its input itself). */
static int flatten(importer *im, const Onnx__NodeProto *node, value *x, int64_t expect) {
    if (op_is(sole_consumer(im, node->output[0], NULL), "Gemm"))
        return alias(im, node, node->output[0], x, 2);
    layer_out *layer = layer_add(im, node, node->output[0], &x, 1, "type: flatten");
    if (!layer) return 1;
    layer->expect_size = expect;
    value *out = value_find(im, node->output[0]);
    if (out) out->rank = 2;
    return 0;
}

static int import_flatten(importer *im, const Onnx__NodeProto *node) {
    value *x = activation_input(im, node, 0);
    if (!x) return 1;
    if (attr_int(node, "axis", 1) != 1)
        return node_error(im, node,
                          "Flatten with axis %lld: cnnrun flattens after the batch "
                          "(axis 1)",
                          (long long)attr_int(node, "axis", 1));
    return flatten(im, node, x, 0);
}

/* Reshape → Mul (itself) → ReduceSum over axis 2 → Sqrt: magnitude. */
static int magnitude(importer *im, const Onnx__NodeProto *node, value *x, const int64_t *shape) {
    size_t mul_index = 0, sum_index = 0, sqrt_index = 0;
    /* The Mul squares the grouped value: it reads it twice, and is its only
     * reader. */
    value *grouped = value_find(im, node->output[0]);
    const Onnx__NodeProto *mul = NULL;
    if (grouped && grouped->consumers == 2 && !is_graph_output(im, node->output[0])) {
        grouped->consumers = 1;
        mul = sole_consumer(im, node->output[0], &mul_index);
        grouped->consumers = 2;
    }
    bool squares =
        op_is(mul, "Mul") && mul->n_input == 2 && strcmp(mul->input[0], mul->input[1]) == 0;
    const Onnx__NodeProto *sum = squares ? sole_consumer(im, mul->output[0], &sum_index) : NULL;
    const Onnx__NodeProto *root =
        op_is(sum, "ReduceSum") ? sole_consumer(im, sum->output[0], &sqrt_index) : NULL;
    if (!op_is(root, "Sqrt"))
        return node_error(im, node,
                          "Reshape to 5 dimensions: cnnrun reads it only as the start "
                          "of magnitude (Reshape, Mul, ReduceSum over axis 2, Sqrt)");
    int64_t axes[1] = {INT64_MIN};
    if (sum->n_input > 1) {
        value *a = input_value(im, sum, 1);
        if (a && a->type == VALUE_INTS && a->n_ints == 1) axes[0] = a->ints[0];
    } else if (attr_ints(im, sum, "axes", 1, INT64_MIN, axes)) {
        return 1;
    }
    if ((axes[0] != 2 && axes[0] != -3) || attr_int(sum, "keepdims", 1) != 0)
        return node_error(im, sum, "ReduceSum must sum axis 2 without keepdims for magnitude");
    im->consumed[mul_index] = im->consumed[sum_index] = im->consumed[sqrt_index] = true;
    layer_out *layer = layer_add(im, root, root->output[0], &x, 1, "type: magnitude, size: %lld",
                                 (long long)shape[2]);
    if (!layer) return 1;
    layer->expect_group = shape[2];
    layer->expect_c = shape[1];
    layer->expect_h = shape[3];
    layer->expect_w = shape[4];
    return 0;
}

static bool is_batch(const importer *im, int64_t dim) {
    return dim == BATCH_DIM || dim == 0 || (im->batch != BATCH_DIM && dim == im->batch);
}

/* A float initializer of `count` values (any shape: [C], [C, 1, 1]). */
static const Onnx__TensorProto *per_channel(importer *im, const Onnx__NodeProto *node,
                                            const char *other, int64_t count) {
    if (!node || node->n_input != 2) return NULL;
    value *v = value_find(im, strcmp(node->input[0], other) == 0 ? node->input[1] : node->input[0]);
    return v && v->type == VALUE_FLOATS && tensor_count(v->tensor) == count ? v->tensor : NULL;
}

/* Reshape [N, G, -1] → InstanceNormalization (scale 1, bias 0) → Reshape
 * back (to constant dims, or to Shape(x) as torch writes it) → Mul γ →
 * Add β: groupnorm, as cnnrun export and torch.onnx.export write it. */
static int groupnorm(importer *im, const Onnx__NodeProto *node, value *x, int64_t groups) {
    size_t norm_i, back_i, mul_i, add_i;
    const Onnx__NodeProto *norm = sole_consumer(im, node->output[0], &norm_i);
    const Onnx__NodeProto *back =
        op_is(norm, "InstanceNormalization") ? sole_consumer(im, norm->output[0], &back_i) : NULL;
    value *target = op_is(back, "Reshape") ? input_value(im, back, 1) : NULL;
    const Onnx__NodeProto *mul = target && (target->type == VALUE_INTS || !target->defined)
                                     ? sole_consumer(im, back->output[0], &mul_i)
                                     : NULL;
    const Onnx__NodeProto *add =
        op_is(mul, "Mul") ? sole_consumer(im, mul->output[0], &add_i) : NULL;
    if (!op_is(add, "Add"))
        return node_error(im, node,
                          "Reshape to [N, G, -1]: cnnrun reads it only as the start of "
                          "groupnorm (InstanceNormalization, Reshape, Mul, Add)");
    bool from_shape = target->shape_of && strcmp(target->shape_of, x->name) == 0;
    /* torch's Shape(x) may come after this Reshape in the file. */
    size_t shape_i;
    const Onnx__NodeProto *shape = producer(im, back->input[1], &shape_i);
    if (!target->defined && op_is(shape, "Shape") && shape->n_input == 1 &&
        strcmp(shape->input[0], node->input[0]) == 0 && !attr_find(shape, "start") &&
        !attr_find(shape, "end")) {
        from_shape = true;
        if (sole_consumer(im, shape->output[0], NULL) == back) im->consumed[shape_i] = true;
    }
    bool restores =
        from_shape || (target->n_ints == 4 && target->ints[1] > 0 && target->ints[2] > 0 &&
                       target->ints[3] > 0 && target->ints[1] <= MAX_DIM);
    const Onnx__TensorProto *ones = weight_input(im, norm, 1, "scale", 1);
    const Onnx__TensorProto *zeros = ones ? weight_input(im, norm, 2, "bias", 1) : NULL;
    if (!zeros) return 1;
    bool plain = tensor_count(ones) == groups && tensor_count(zeros) == groups;
    for (int64_t g = 0; plain && g < groups; g++)
        plain = tensor_float(ones, g) == 1.0f && tensor_float(zeros, g) == 0.0f;
    int64_t channels = from_shape || target->type != VALUE_INTS ? -1 : target->ints[1];
    const Onnx__TensorProto *gamma = NULL, *beta = NULL;
    value *gv = value_find(im, mul->input[strcmp(mul->input[0], back->output[0]) == 0 ? 1 : 0]);
    if (gv && gv->type == VALUE_FLOATS) {
        if (channels < 0) channels = tensor_count(gv->tensor);
        gamma = per_channel(im, mul, back->output[0], channels);
        beta = per_channel(im, add, mul->output[0], channels);
    }
    if (!restores || !plain || !gamma || !beta)
        return node_error(im, node,
                          "not groupnorm's pattern (InstanceNormalization with scale 1 "
                          "and bias 0 over [N, G, -1], back to the input's shape, then "
                          "per-channel Mul and Add)");
    float eps = attr_float(norm, "epsilon", 1e-5f);
    if (!(eps > 0.0f)) return node_error(im, norm, "epsilon must be positive");
    im->consumed[norm_i] = im->consumed[back_i] = im->consumed[mul_i] = im->consumed[add_i] = true;
    layer_out *layer =
        layer_add(im, add, add->output[0], &x, 1, "type: groupnorm, groups: %lld, eps: %s",
                  (long long)groups, shortest(eps, 9).text);
    if (!layer || tensor_add(im, layer->name, "weight", gamma, false) ||
        tensor_add(im, layer->name, "bias", beta, false))
        return 1;
    for (int k = 2; k >= 1; k--) { /* [C, 1, 1] is cnnrun's [C] */
        cr_onnx_tensor *t = &im->tensors[im->n_tensors - k];
        t->ndim = 1;
        t->dims[0] = t->count;
    }
    return 0;
}

static int import_reshape(importer *im, const Onnx__NodeProto *node) {
    value *x = activation_input(im, node, 0);
    value *target = x ? input_value(im, node, 1) : NULL;
    if (!x) return 1;
    if (!target || target->type != VALUE_INTS)
        return node_error(im, node, "Reshape to a shape computed at run time");
    const int64_t *s = target->ints;
    for (int i = 0; i < target->n_ints; i++)
        if (s[i] == UNKNOWN_DIM || s[i] < BATCH_DIM)
            return node_error(im, node,
                              "Reshape to a shape with a dimension cnnrun cannot know "
                              "at import");
    if (target->n_ints == 2 && (is_batch(im, s[0]) || s[0] == -1)) {
        if (s[0] == -1 && s[1] <= 0)
            return node_error(im, node, "Reshape to [-1, %lld]", (long long)s[1]);
        return flatten(im, node, x, s[1] > 0 ? s[1] : 0);
    }
    if (target->n_ints == 4 && x->rank == 2 && (is_batch(im, s[0]) || s[0] == -1) && s[1] > 0 &&
        s[2] == 1 && s[3] == 1)
        return alias(im, node, node->output[0], x, 4); /* [N, K] as [N, K, 1, 1]: cnnrun's view */
    if (target->n_ints == 3 && x->rank == 4 && (is_batch(im, s[0]) || s[0] == -1) && s[1] > 0 &&
        s[1] <= MAX_DIM && s[2] == -1)
        return groupnorm(im, node, x, s[1]);
    if (target->n_ints == 5 && x->rank == 4 && (is_batch(im, s[0]) || s[0] == -1) && s[1] > 0 &&
        s[2] > 0 && s[3] > 0 && s[4] > 0 && s[1] <= MAX_DIM && s[2] <= MAX_DIM && s[3] <= MAX_DIM &&
        s[4] <= MAX_DIM)
        return magnitude(im, node, x, s);
    return node_error(im, node,
                      "Reshape to a %d-D shape has no cnnrun layer (flatten is "
                      "[N, -1])",
                      target->n_ints);
}

/* Zero padding of height and width: nothing when all pads are 0, else
 * folded into the AveragePool that reads it (torch writes avg_pool2d with
 * count_include_pad as Pad + AveragePool). */
static int import_pad(importer *im, const Onnx__NodeProto *node) {
    value *x = activation_input(im, node, 0);
    if (!x) return 1;
    int64_t pads[8];
    value *p = input_value(im, node, 1);
    if (p && p->type == VALUE_INTS && p->n_ints == 8) {
        memcpy(pads, p->ints, sizeof pads);
    } else if (node->n_input < 2 && attr_find(node, "pads")) {
        if (attr_ints(im, node, "pads", 8, 0, pads)) return 1;
    } else {
        return node_error(im, node, "Pad needs 8 constant pads for an [N, C, H, W] tensor");
    }
    value *fill = node->n_input > 2 && node->input[2][0] ? input_value(im, node, 2) : NULL;
    bool zero_fill = !fill ||
                     (fill->type == VALUE_FLOATS && tensor_count(fill->tensor) == 1 &&
                      tensor_float(fill->tensor, 0) == 0.0f) ||
                     (fill->type == VALUE_INTS && fill->n_ints == 1 && fill->ints[0] == 0);
    if (!attr_string_is(node, "mode", "constant", "constant") || !zero_fill ||
        attr_find(node, "value"))
        return node_error(im, node, "Pad other than with zeros has no cnnrun layer");
    if (pads[0] || pads[1] || pads[4] || pads[5])
        return node_error(im, node, "Pad of the batch or channels has no cnnrun layer");
    if (pads[2] != pads[6] || pads[3] != pads[7] || pads[2] < 0 || pads[3] < 0 ||
        pads[2] > MAX_DIM || pads[3] > MAX_DIM)
        return node_error(im, node, "Pad must be symmetric and not negative");
    if (alias(im, node, node->output[0], x, x->rank)) return 1;
    if (!pads[2] && !pads[3]) return 0;
    if (!op_is(sole_consumer(im, node->output[0], NULL), "AveragePool"))
        return node_error(im, node,
                          "Pad has no cnnrun layer (cnnrun reads it only in front of "
                          "an AveragePool, as torch writes avg_pool2d)");
    value *out = value_find(im, node->output[0]);
    out->pad[0] = pads[2];
    out->pad[1] = pads[3];
    return 0;
}

/* Identity, and Dropout in inference: the output is the input. */
static int import_identity(importer *im, const Onnx__NodeProto *node) {
    value *x = input_value(im, node, 0);
    if (!x) return node_error(im, node, "missing input");
    if (node->n_output > 1 && node->output[1][0])
        return node_error(im, node, "Dropout's mask output has no cnnrun layer");
    if (x->type != VALUE_ACTIVATION) {
        value *out = value_add(im, node->output[0], node);
        if (!out) return 1;
        *out = (value){.name = out->name, .type = x->type, .tensor = x->tensor, .rank = x->rank};
        if (x->type == VALUE_INTS) {
            out->ints = malloc((size_t)(x->n_ints ? x->n_ints : 1) * sizeof *out->ints);
            if (!out->ints) return out_of_memory(im);
            memcpy(out->ints, x->ints, (size_t)x->n_ints * sizeof *out->ints);
            out->n_ints = x->n_ints;
        }
        return 0;
    }
    return alias(im, node, node->output[0], x, x->rank);
}

/* ---- integer arithmetic on shapes (torch's flatten pattern) ------------------------- */

static value *ints_output(importer *im, const Onnx__NodeProto *node, int count, int rank) {
    value *out = value_add(im, node->output[0], node);
    if (!out) return NULL;
    out->type = VALUE_INTS;
    out->rank = rank;
    out->n_ints = count;
    out->ints = calloc((size_t)(count ? count : 1), sizeof *out->ints);
    if (!out->ints) return out_of_memory(im), NULL;
    return out;
}

static int import_constant(importer *im, const Onnx__NodeProto *node) {
    const Onnx__AttributeProto *a = attr_find(node, "value");
    if (a && a->t) {
        if (tensor_check(im, a->t, "constant")) return 1;
        value *out = value_add(im, node->output[0], node);
        return !out || value_from_tensor(im, out, a->t);
    }
    if ((a = attr_find(node, "value_int")) && a->has_i) {
        value *out = ints_output(im, node, 1, 0);
        if (out) out->ints[0] = a->i;
        return !out;
    }
    if ((a = attr_find(node, "value_ints")) && a->n_ints <= 64) {
        value *out = ints_output(im, node, (int)a->n_ints, 1);
        if (out) memcpy(out->ints, a->ints, a->n_ints * sizeof *out->ints);
        return !out;
    }
    return node_error(im, node, "Constant without a tensor or integer value");
}

/* The shape of an activation: [N, ?, ?, ?]; only the batch is known here. */
static int import_shape(importer *im, const Onnx__NodeProto *node) {
    value *x = activation_input(im, node, 0);
    if (!x) return 1;
    if (attr_find(node, "start") || attr_find(node, "end"))
        return node_error(im, node, "Shape with start/end is not supported");
    value *out = ints_output(im, node, x->rank, 1);
    if (!out) return 1;
    out->ints[0] = im->batch;
    for (int i = 1; i < x->rank; i++) out->ints[i] = UNKNOWN_DIM;
    out->shape_of = x->name;
    return 0;
}

static int import_gather(importer *im, const Onnx__NodeProto *node) {
    value *data = input_value(im, node, 0), *indices = input_value(im, node, 1);
    if (!data || data->type != VALUE_INTS || !indices || indices->type != VALUE_INTS ||
        attr_int(node, "axis", 0) != 0)
        return node_error(im, node, "Gather is supported only on constant shapes");
    value *out = ints_output(im, node, indices->n_ints, indices->rank);
    if (!out) return 1;
    for (int i = 0; i < indices->n_ints; i++) {
        int64_t k = indices->ints[i] < 0 ? indices->ints[i] + data->n_ints : indices->ints[i];
        if (k < 0 || k >= data->n_ints) return node_error(im, node, "index out of range");
        out->ints[i] = data->ints[k];
    }
    return 0;
}

/* Unsqueeze of a constant scalar or vector (axes 0): the same numbers. */
static int import_unsqueeze(importer *im, const Onnx__NodeProto *node) {
    value *data = input_value(im, node, 0);
    if (!data || data->type != VALUE_INTS || data->rank > 1)
        return node_error(im, node, "Unsqueeze is supported only on constant shapes");
    value *out = ints_output(im, node, data->n_ints, data->rank + 1);
    if (!out) return 1;
    memcpy(out->ints, data->ints, (size_t)data->n_ints * sizeof *out->ints);
    return 0;
}

/* Cast of integer shape arithmetic: the numbers stay. */
static int import_cast(importer *im, const Onnx__NodeProto *node) {
    value *data = input_value(im, node, 0);
    if (!data || data->type != VALUE_INTS)
        return node_error(im, node, "Cast of an activation has no cnnrun layer");
    return import_identity(im, node);
}

/* ---- the operator table -------------------------------------------------------------- */

typedef struct op_handler {
    const char *op;
    int (*import)(importer *im, const Onnx__NodeProto *node);
} op_handler;

static const op_handler handlers[] = {
    {"Conv", import_conv},
    {"Gemm", import_gemm},
    {"MaxPool", import_maxpool},
    {"AveragePool", import_avgpool},
    {"Relu", import_activation},
    {"Tanh", import_activation},
    {"Sigmoid", import_activation},
    {"LeakyRelu", import_activation},
    {"Elu", import_activation},
    {"Clip", import_activation},
    {"HardSigmoid", import_activation},
    {"HardSwish", import_activation},
    {"Div", import_activation},
    {"BatchNormalization", import_batchnorm},
    {"LRN", import_lrn},
    {"Softmax", import_softmax},
    {"Add", import_add},
    {"Sum", import_add},
    {"Concat", import_concat},
    {"Flatten", import_flatten},
    {"Reshape", import_reshape},
    {"Pad", import_pad},
    {"GlobalAveragePool", import_global_pool},
    {"GlobalMaxPool", import_global_pool},
    {"PRelu", import_prelu},
    {"ConvTranspose", import_conv},
    {"Resize", import_resize},
    {"Identity", import_identity},
    {"Dropout", import_identity},
    {"Constant", import_constant},
    {"Shape", import_shape},
    {"Gather", import_gather},
    {"Unsqueeze", import_unsqueeze},
    {"Cast", import_cast},
};

/* Why an operator that is not in the table has no layer, where that says
 * more than "not supported". */
static const char *unsupported_reason(const importer *im, const Onnx__NodeProto *node) {
    if (op_is(node, "Mul") || op_is(node, "Div") || op_is(node, "Sub") || op_is(node, "MatMul")) {
        bool two_activations = node->n_input == 2;
        for (size_t i = 0; i < node->n_input && two_activations; i++) {
            value *v = value_find((importer *)im, node->input[i]);
            two_activations = v && v->type == VALUE_ACTIVATION;
        }
        return two_activations ? "of two activations has no cnnrun layer"
                               : "of an activation and a constant has no cnnrun layer";
    }
    return "has no cnnrun layer";
}

static int import_node(importer *im, const Onnx__NodeProto *node) {
    if (node->domain && node->domain[0] && strcmp(node->domain, "ai.onnx") != 0)
        return node_error(im, node, "operator '%.100s' of domain '%.100s' has no cnnrun layer",
                          node->op_type, node->domain);
    if (node->n_output < 1) return node_error(im, node, "%s has no output", node->op_type);
    for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++)
        if (strcmp(handlers[i].op, node->op_type) == 0) {
            if (node->n_input < 1 && strcmp(node->op_type, "Constant") != 0)
                return node_error(im, node, "%s has no input", node->op_type);
            return handlers[i].import(im, node);
        }
    return node_error(im, node, "%.100s %s", node->op_type, unsupported_reason(im, node));
}

/* ---- checks on the file ----------------------------------------------------------- */

static int check_model(importer *im, const Onnx__ModelProto *model) {
    if (!model->has_ir_version || model->ir_version < 3 || model->ir_version > 10)
        return file_error(im, "ONNX IR version %lld: cnnrun reads IR versions 3 to 10",
                          (long long)model->ir_version);
    im->opset = 0;
    for (size_t i = 0; i < model->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = model->opset_import[i];
        if ((!o->domain || !o->domain[0] || strcmp(o->domain, "ai.onnx") == 0) && o->has_version)
            im->opset = (int)(o->version > 1000 ? 1000 : o->version);
    }
    if (im->opset < MIN_OPSET || im->opset > MAX_OPSET)
        return file_error(im, "operator set %d: cnnrun reads opsets %d to %d", im->opset, MIN_OPSET,
                          MAX_OPSET);
    if (!model->graph) return file_error(im, "the model has no graph");
    im->graph = model->graph;
    if (im->graph->n_node > MAX_NODES)
        return file_error(im, "%zu nodes: more than %d", im->graph->n_node, MAX_NODES);
    if (im->graph->n_sparse_initializer)
        return file_error(im, "sparse initializers are not supported");
    if (im->graph->n_output < 1) return file_error(im, "the graph has no output");
    /* protobuf-c leaves absent strings NULL: everything below compares names. */
    for (size_t i = 0; i < im->graph->n_output; i++)
        if (!im->graph->output[i]->name) return file_error(im, "graph output %zu has no name", i);
    for (size_t k = 0; k < im->graph->n_node; k++)
        if (!im->graph->node[k]->op_type) return file_error(im, "node %zu has no operator", k);
    return 0;
}

static int add_initializers(importer *im) {
    for (size_t i = 0; i < im->graph->n_initializer; i++) {
        const Onnx__TensorProto *t = im->graph->initializer[i];
        if (!t->name || !t->name[0]) return file_error(im, "initializer %zu has no name", i);
        if (tensor_check(im, t, "initializer")) return 1;
        value *v = value_add(im, t->name, NULL);
        if (!v || value_from_tensor(im, v, t)) return 1;
    }
    return 0;
}

/* The one image input [N, C, H, W] (inputs that are initializers are
 * parameters, as older exporters list them). */
static int add_input(importer *im, int64_t *chw) {
    const Onnx__ValueInfoProto *input = NULL;
    for (size_t i = 0; i < im->graph->n_input; i++) {
        const Onnx__ValueInfoProto *in = im->graph->input[i];
        if (!in->name || value_find(im, in->name)) continue;
        if (input)
            return file_error(im,
                              "the graph has two inputs, '%.200s' and '%.200s'; a cnnrun "
                              "model has one",
                              input->name, in->name);
        input = in;
    }
    if (!input) return file_error(im, "the graph has no input");
    const Onnx__TypeProto *type = input->type;
    if (!type || type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !type->tensor_type ||
        type->tensor_type->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ||
        !type->tensor_type->shape || type->tensor_type->shape->n_dim != 4)
        return file_error(im, "input '%.200s' must be a float tensor [N, C, H, W]", input->name);
    const Onnx__TensorShapeProto *shape = type->tensor_type->shape;
    im->batch = BATCH_DIM;
    if (shape->dim[0]->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
        shape->dim[0]->dim_value > 0)
        im->batch = shape->dim[0]->dim_value;
    for (int d = 1; d < 4; d++) {
        const Onnx__TensorShapeProto__Dimension *dim = shape->dim[d];
        if (dim->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE ||
            dim->dim_value < 1 || dim->dim_value > MAX_DIM)
            return file_error(im, "input '%.200s': dimension %d must be a fixed size from 1 to %d",
                              input->name, d, MAX_DIM);
        chw[d - 1] = dim->dim_value;
    }
    if (chw[0] * chw[1] * chw[2] > 2000000000LL)
        return file_error(im, "input '%.200s' has %lld values per image, too many", input->name,
                          (long long)(chw[0] * chw[1] * chw[2]));
    value *v = value_add(im, input->name, NULL);
    if (!v) return 1;
    v->type = VALUE_ACTIVATION;
    v->rank = 4;
    v->layer = strdup("input");
    return v->layer ? 0 : out_of_memory(im);
}

/* Every node reads only values defined before it: inputs, initializers or
 * earlier nodes' outputs (ONNX requires this order; a cycle breaks it). The
 * readers of each value are counted for the fusions. */
static int check_order(importer *im) {
    for (size_t k = 0; k < im->graph->n_node; k++) {
        const Onnx__NodeProto *node = im->graph->node[k];
        if (!node->op_type) return file_error(im, "node %zu has no operator", k);
        for (size_t i = 0; i < node->n_input; i++) {
            if (!node->input[i][0]) continue; /* an omitted optional input */
            value *v = value_find(im, node->input[i]);
            if (!v)
                return node_error(im, node,
                                  "reads '%.200s', which no earlier node, input or initializer "
                                  "defines (a missing initializer, or nodes out of order or in "
                                  "a cycle)",
                                  node->input[i]);
            v->consumers++;
        }
        for (size_t o = 0; o < node->n_output; o++) {
            if (!node->output[o][0]) continue;
            if (value_find(im, node->output[o]))
                return node_error(im, node, "value '%.200s' is assigned a second time",
                                  node->output[o]);
            value *v = value_add(im, node->output[o], node);
            if (!v) return 1;
            v->defined = false; /* defined when its node is imported */
        }
    }
    for (size_t i = 0; i < im->graph->n_output; i++) {
        value *v = value_find(im, im->graph->output[i]->name);
        if (!v)
            return file_error(im, "graph output '%.200s' is not computed by any node",
                              im->graph->output[i]->name);
        v->consumers++;
    }
    return 0;
}

/* ---- assembling and checking the model -------------------------------------------------- */

typedef struct text {
    char *data;
    size_t length, capacity;
    bool failed;
} text;

static void text_printf(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_printf(text *t, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(NULL, 0, fmt, args);
    va_end(args);
    if (t->failed || n < 0) return;
    if (t->length + (size_t)n + 1 > t->capacity) {
        size_t capacity = 2 * (t->length + (size_t)n + 1);
        char *grown = realloc(t->data, capacity);
        if (!grown) {
            t->failed = true;
            return;
        }
        t->data = grown;
        t->capacity = capacity;
    }
    va_start(args, fmt);
    vsnprintf(t->data + t->length, (size_t)n + 1, fmt, args);
    va_end(args);
    t->length += (size_t)n;
}

static char *model_text(importer *im, const int64_t *chw) {
    text t = {0};
    const char *name = im->graph->name && im->graph->name[0] ? im->graph->name : "imported";
    text_printf(&t, "# Imported from %s by cnnrun import.\nname: \"", im->source);
    for (const char *p = name; *p && p - name < 100; p++)
        text_printf(&t, "%c", isalnum((unsigned char)*p) || *p == '_' || *p == '-' ? *p : '_');
    text_printf(&t, "\"\ninput: [%lld, %lld, %lld]\nlayers:\n", (long long)chw[0],
                (long long)chw[1], (long long)chw[2]);
    for (int i = 0; i < im->n_layers; i++) {
        const layer_out *layer = &im->layers[i];
        text_printf(&t, "  - {name: %s, %s", layer->name, layer->text);
        if (layer->n_inputs == 1) {
            bool previous = i > 0 && strcmp(layer->inputs[0], im->layers[i - 1].name) == 0;
            bool first = i == 0 && strcmp(layer->inputs[0], "input") == 0;
            if (!previous && !first) text_printf(&t, ", input: %s", layer->inputs[0]);
        } else {
            text_printf(&t, ", inputs: [");
            for (int k = 0; k < layer->n_inputs; k++)
                text_printf(&t, "%s%s", k ? ", " : "", layer->inputs[k]);
            text_printf(&t, "]");
        }
        text_printf(&t, "}\n");
    }
    if (t.failed) {
        free(t.data);
        return NULL;
    }
    return t.data;
}

/* The network's output must be the last layer: cnnrun models have one. */
static int check_outputs(importer *im) {
    bool last_found = false;
    for (size_t i = 0; i < im->graph->n_output; i++) {
        const char *name = im->graph->output[i]->name;
        value *v = value_find(im, name);
        if (!v || v->type != VALUE_ACTIVATION || strcmp(v->layer, "input") == 0)
            return file_error(im, "graph output '%.200s' is not computed by a layer", name);
        last_found |= im->n_layers && strcmp(v->layer, im->layers[im->n_layers - 1].name) == 0;
    }
    /* The others (logits, features) are intermediate layers of the model. */
    if (!last_found)
        return file_error(im,
                          "no graph output is the last layer computed ('%s'); a cnnrun model's "
                          "output is its last layer",
                          im->n_layers ? im->layers[im->n_layers - 1].name : "none");
    return 0;
}

/* What shape inference says against what the ONNX graph fixed (a flatten's
 * size, magnitude's groups), then every weight against the parameters. */
static int check_against_model(importer *im, const cr_model *model) {
    for (int i = 0; i < im->n_layers; i++) {
        const layer_out *layer = &im->layers[i];
        int index = cr_model_find_layer(model, layer->name);
        if (index < 0) continue;
        const cr_layer *l = &model->layers[index];
        cr_shape in = l->inputs[0] < 0 ? model->input : model->layers[l->inputs[0]].out;
        if (layer->expect_size && cr_shape_size(l->out) != layer->expect_size)
            return file_error(im,
                              "node '%.200s': Reshape to %lld values per image, but its input "
                              "is %d×%d×%d",
                              layer->node_name, (long long)layer->expect_size, in.c, in.h, in.w);
        if (layer->expect_group && (layer->expect_c * layer->expect_group != in.c ||
                                    layer->expect_h != in.h || layer->expect_w != in.w))
            return file_error(im,
                              "node '%.200s': Reshape to [N, %lld, %lld, %lld, %lld] does not "
                              "match its input %d×%d×%d",
                              layer->node_name, (long long)layer->expect_c,
                              (long long)layer->expect_group, (long long)layer->expect_h,
                              (long long)layer->expect_w, in.c, in.h, in.w);
    }
    int expected = 0;
    for (int i = 0; i < model->n_layers; i++) {
        const cr_layer *l = &model->layers[i];
        for (int p = 0; p < l->n_params; p++) {
            const cr_param *param = &l->params[p];
            char name[300];
            snprintf(name, sizeof name, "%s.%s", l->name, param->suffix);
            const cr_onnx_tensor *t = NULL;
            for (int k = 0; k < im->n_tensors && !t; k++)
                if (strcmp(im->tensors[k].name, name) == 0) t = &im->tensors[k];
            if (!t)
                return file_error(im, "layer '%s' needs '%s', which the graph lacks", l->name,
                                  name);
            bool same = t->ndim == param->ndim;
            for (int d = 0; same && d < t->ndim; d++) same = t->dims[d] == param->dims[d];
            if (!same)
                return file_error(im,
                                  "initializer for '%s' has %lld values in %d dimensions, but "
                                  "the layer needs %lld",
                                  name, (long long)t->count, t->ndim, (long long)param->count);
            expected++;
        }
    }
    if (expected != im->n_tensors)
        return file_error(im, "%d weights imported for %d parameters", im->n_tensors, expected);
    return 0;
}

static int import_graph(importer *im, cr_onnx_import *out) {
    int64_t chw[3];
    if (add_initializers(im) || add_input(im, chw)) return 1;
    if (check_order(im)) return 1;
    im->consumed = calloc(im->graph->n_node ? im->graph->n_node : 1, sizeof *im->consumed);
    if (!im->consumed) return out_of_memory(im);
    /* Constants first: the patterns handlers match (GELU's √2, Clip's
     * bounds) read them from nodes that may come later in the file. */
    for (size_t k = 0; k < im->graph->n_node; k++) {
        if (!op_is(im->graph->node[k], "Constant")) continue;
        im->current = k;
        im->consumed[k] = true;
        if (import_node(im, im->graph->node[k])) return 1;
    }
    for (size_t k = 0; k < im->graph->n_node; k++) {
        if (im->consumed[k]) continue;
        im->current = k;
        if (import_node(im, im->graph->node[k])) return 1;
    }
    if (check_outputs(im)) return 1;
    char *yaml = model_text(im, chw);
    if (!yaml) return out_of_memory(im);
    cr_model *model;
    cr_error inner;
    if (cr_model_load_text(yaml, strlen(yaml), "imported.yaml", &model, &inner)) {
        char message[2048];
        cr_error_format(&inner, message, sizeof message);
        free(yaml);
        return file_error(im, "the imported model does not check: %s", message);
    }
    int status = check_against_model(im, model);
    cr_model_free(model);
    if (status) {
        free(yaml);
        return 1;
    }
    out->yaml = yaml;
    out->n_tensors = im->n_tensors;
    out->tensors = im->tensors;
    im->tensors = NULL;
    im->n_tensors = 0;
    return 0;
}

static void importer_free(importer *im) {
    for (size_t i = 0; i < im->n_values; i++) {
        free(im->values[i].name);
        free(im->values[i].layer);
        free(im->values[i].ints);
    }
    free(im->values);
    free(im->table);
    free(im->name_table);
    free(im->consumed);
    for (int i = 0; i < im->n_layers; i++) {
        free(im->layers[i].name);
        free(im->layers[i].text);
        for (int k = 0; k < im->layers[i].n_inputs && im->layers[i].inputs; k++)
            free(im->layers[i].inputs[k]);
        free(im->layers[i].inputs);
    }
    free(im->layers);
    for (int i = 0; i < im->n_tensors; i++) {
        free(im->tensors[i].name);
        free(im->tensors[i].data);
    }
    free(im->tensors);
}

int cr_onnx_import_buffer(const uint8_t *data, size_t length, const char *source,
                          cr_onnx_import *out, cr_error *err) {
    memset(out, 0, sizeof *out);
    importer im = {.source = source, .err = err};
    Onnx__ModelProto *model = onnx__model_proto__unpack(NULL, length, data);
    if (!model)
        return cr_fail_file(err, CR_ERR_INVALID, source,
                            "not an ONNX model: the protobuf data is truncated or malformed "
                            "(%zu bytes)",
                            length);
    int status = check_model(&im, model) || import_graph(&im, out);
    importer_free(&im);
    onnx__model_proto__free_unpacked(model, NULL);
    return status;
}

int cr_onnx_import_file(const char *path, cr_onnx_import *out, cr_error *err) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return cr_fail_file(err, CR_ERR_IO, path, "cannot open: %s", strerror(errno));
    uint8_t *data = NULL;
    size_t length = 0, capacity = 0;
    int status = 0;
    for (;;) {
        if (length == capacity) {
            if (capacity >= MAX_FILE_BYTES) {
                status = cr_fail_file(err, CR_ERR_INVALID, path,
                                      "larger than 2 GiB: protobuf cannot hold such a model in "
                                      "one file (ONNX external data is not read)");
                break;
            }
            capacity = capacity ? 2 * capacity : 1 << 20;
            uint8_t *grown = realloc(data, capacity);
            if (!grown) {
                status = cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory");
                break;
            }
            data = grown;
        }
        size_t got = fread(data + length, 1, capacity - length, f);
        length += got;
        if (got == 0) {
            if (ferror(f)) status = cr_fail_file(err, CR_ERR_IO, path, "read error");
            break;
        }
    }
    fclose(f);
    if (!status) status = cr_onnx_import_buffer(data, length, path, out, err);
    free(data);
    return status;
}

/* The weights go through a network built from the imported model, so that
 * the file is exactly what cr_net_save_weights writes for it (PyTorch's
 * names, num_batches_tracked and all). */
static int save_weights(const cr_onnx_import *imported, const char *path, cr_error *err) {
    cr_model *model;
    if (cr_model_load_text(imported->yaml, strlen(imported->yaml), path, &model, err)) return 1;
    cr_net *net;
    cr_net_options options = {0};
    if (cr_net_create(model, 1, &options, &net, err)) {
        cr_model_free(model);
        return 1;
    }
    int status = 0;
    for (int i = 0; i < cr_net_param_count(net) && !status; i++) {
        cr_tensor param = cr_net_param(net, i);
        for (int k = 0; k < imported->n_tensors; k++)
            if (strcmp(imported->tensors[k].name, param.name) == 0) {
                if (imported->tensors[k].count != param.count)
                    status = cr_fail_file(
                        err, CR_ERR_INVALID, path, "'%s' has %lld values, not %lld", param.name,
                        (long long)imported->tensors[k].count, (long long)param.count);
                else
                    memcpy(param.data, imported->tensors[k].data,
                           (size_t)param.count * sizeof *param.data);
            }
    }
    if (!status) status = cr_net_save_weights(net, path, err);
    cr_net_free(net);
    cr_model_free(model);
    return status;
}

int cr_onnx_import_save(const cr_onnx_import *imported, const char *yaml_path,
                        const char *weights_path, cr_error *err) {
    if (weights_path && save_weights(imported, weights_path, err)) return 1;
    return cr_write_file_atomic(yaml_path, imported->yaml, strlen(imported->yaml), err);
}

void cr_onnx_import_free(cr_onnx_import *imported) {
    if (!imported) return;
    free(imported->yaml);
    for (int i = 0; i < imported->n_tensors; i++) {
        free(imported->tensors[i].name);
        free(imported->tensors[i].data);
    }
    free(imported->tensors);
    memset(imported, 0, sizeof *imported);
}
