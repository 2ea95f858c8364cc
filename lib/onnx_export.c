/* ONNX export: walks the layers in execution order and lets each kind add
 * its nodes through the builder (lib/onnx_build.h), then packs the model
 * with protobuf-c (code generated from Debian's onnx.proto) and writes it
 * atomically.
 *
 * Every string and message of the graph lives in one list of allocations
 * (the builder's arena), freed together once the file is written. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "model.h"
#include "onnx.h"
#include "onnx.pb-c.h"
#include "onnx_build.h"

struct cr_onnx_builder {
    void **allocations;
    size_t n_allocations, allocation_capacity;
    bool out_of_memory;

    Onnx__NodeProto **nodes;
    size_t n_nodes, node_capacity;
    Onnx__TensorProto **initializers;
    size_t n_initializers, initializer_capacity;

    cr_net *net;
    const cr_model *model;
    int opset;
    char **values; /* per layer: the value holding its output */
    int *ranks;    /* ... and that value's rank, 2 or 4 */

    int layer;  /* being exported */
    bool named; /* a node already carries the layer's own name */
    cr_error *err;
    bool failed;
};

/* ---- the arena ----------------------------------------------------------------- */

static void *arena_alloc(cr_onnx_builder *b, size_t size) {
    if (b->out_of_memory) return NULL;
    if (b->n_allocations == b->allocation_capacity) {
        size_t capacity = b->allocation_capacity ? 2 * b->allocation_capacity : 256;
        void **grown = realloc(b->allocations, capacity * sizeof *grown);
        if (!grown) return b->out_of_memory = true, NULL;
        b->allocations = grown;
        b->allocation_capacity = capacity;
    }
    void *p = calloc(1, size ? size : 1);
    if (!p) return b->out_of_memory = true, NULL;
    return b->allocations[b->n_allocations++] = p;
}

static char *arena_printf(cr_onnx_builder *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static char *arena_printf(cr_onnx_builder *b, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    int length = vsnprintf(NULL, 0, fmt, args);
    va_end(args);
    char *text = arena_alloc(b, (size_t)length + 1);
    if (!text) return (char *)"";
    va_start(args, fmt);
    vsnprintf(text, (size_t)length + 1, fmt, args);
    va_end(args);
    return text;
}

static void arena_free(cr_onnx_builder *b) {
    for (size_t i = 0; i < b->n_allocations; i++) free(b->allocations[i]);
    free(b->allocations);
    free(b->nodes);
    free(b->initializers);
    free(b->values);
    free(b->ranks);
}

/* Appends to a growing array of pointers (nodes, initializers). */
static bool push(cr_onnx_builder *b, void ***items, size_t *count, size_t *capacity, void *item) {
    if (!item) return false;
    if (*count == *capacity) {
        size_t grown_capacity = *capacity ? 2 * *capacity : 64;
        void **grown = realloc(*items, grown_capacity * sizeof *grown);
        if (!grown) return b->out_of_memory = true, false;
        *items = grown;
        *capacity = grown_capacity;
    }
    (*items)[(*count)++] = item;
    return true;
}

/* ---- the builder API (lib/onnx_build.h) ----------------------------------------- */

static const cr_layer *current(const cr_onnx_builder *b) {
    return &b->model->layers[b->layer];
}

int cr_onnx_opset(const cr_onnx_builder *b) {
    return b->opset;
}

const char *cr_onnx_input(cr_onnx_builder *b, int i) {
    int from = current(b)->inputs[i];
    return from < 0 ? "input" : b->values[from];
}

int cr_onnx_input_rank(const cr_onnx_builder *b, int i) {
    int from = current(b)->inputs[i];
    return from < 0 ? 4 : b->ranks[from];
}

const char *cr_onnx_input_4d(cr_onnx_builder *b, int i) {
    if (cr_onnx_input_rank(b, i) == 4) return cr_onnx_input(b, i);
    int from = current(b)->inputs[i];
    int64_t shape[4] = {-1, cr_shape_size(b->model->layers[from].out), 1, 1};
    char suffix[32];
    snprintf(suffix, sizeof suffix, "input%d_shape", i);
    const char *target = cr_onnx_int64s(b, suffix, 4, shape);
    snprintf(suffix, sizeof suffix, "input%d_4d", i);
    const char *reshaped = cr_onnx_value(b, suffix);
    cr_onnx_node_add(b, "Reshape", suffix, reshaped, 2, cr_onnx_input(b, i), target);
    return reshaped;
}

const char *const *cr_onnx_inputs_same_rank(cr_onnx_builder *b, int *rank) {
    const cr_layer *layer = current(b);
    bool all_2d = true;
    for (int i = 0; i < layer->n_inputs; i++) all_2d = all_2d && cr_onnx_input_rank(b, i) == 2;
    const char **inputs = arena_alloc(b, (size_t)layer->n_inputs * sizeof *inputs);
    if (!inputs) return NULL;
    for (int i = 0; i < layer->n_inputs; i++)
        inputs[i] = all_2d ? cr_onnx_input(b, i) : cr_onnx_input_4d(b, i);
    *rank = all_2d ? 2 : 4;
    return inputs;
}

const char *cr_onnx_output(cr_onnx_builder *b) {
    return b->values[b->layer];
}

void cr_onnx_set_output_rank(cr_onnx_builder *b, int rank) {
    b->ranks[b->layer] = rank;
}

void cr_onnx_alias(cr_onnx_builder *b, const char *value) {
    b->values[b->layer] = (char *)value;
    b->ranks[b->layer] = cr_onnx_input_rank(b, 0);
}

const char *cr_onnx_value(cr_onnx_builder *b, const char *suffix) {
    return arena_printf(b, "%s/%s", current(b)->name, suffix);
}

cr_onnx_node *cr_onnx_node_add_list(cr_onnx_builder *b, const char *op, const char *suffix,
                                    const char *output, int n_inputs, const char *const *inputs) {
    if (!inputs) return NULL;
    Onnx__NodeProto *node = arena_alloc(b, sizeof *node);
    char **input_copies = arena_alloc(b, (size_t)n_inputs * sizeof *input_copies);
    char **outputs = arena_alloc(b, sizeof *outputs);
    if (!node || !input_copies || !outputs) return NULL;
    onnx__node_proto__init(node);
    for (int i = 0; i < n_inputs; i++) input_copies[i] = arena_printf(b, "%s", inputs[i]);
    outputs[0] = arena_printf(b, "%s", output);
    node->n_input = (size_t)n_inputs;
    node->input = input_copies;
    node->n_output = 1;
    node->output = outputs;
    node->op_type = arena_printf(b, "%s", op);
    /* The layer's own name goes to its first unsuffixed node; a second one
     * is told apart by its operator. */
    if (!suffix && !b->named) {
        node->name = arena_printf(b, "%s", current(b)->name);
        b->named = true;
    } else {
        node->name = arena_printf(b, "%s/%s", current(b)->name, suffix ? suffix : op);
    }
    push(b, (void ***)&b->nodes, &b->n_nodes, &b->node_capacity, node);
    return (cr_onnx_node *)node;
}

cr_onnx_node *cr_onnx_node_add(cr_onnx_builder *b, const char *op, const char *suffix,
                               const char *output, int n_inputs, ...) {
    const char *inputs[8];
    if (n_inputs > 8) return NULL;
    va_list args;
    va_start(args, n_inputs);
    for (int i = 0; i < n_inputs; i++) inputs[i] = va_arg(args, const char *);
    va_end(args);
    return cr_onnx_node_add_list(b, op, suffix, output, n_inputs, inputs);
}

static Onnx__AttributeProto *attr_add(cr_onnx_builder *b, cr_onnx_node *handle, const char *name,
                                      Onnx__AttributeProto__AttributeType type) {
    Onnx__NodeProto *node = (Onnx__NodeProto *)handle;
    Onnx__AttributeProto *attr = arena_alloc(b, sizeof *attr);
    Onnx__AttributeProto **list = arena_alloc(b, (node ? node->n_attribute + 1 : 1) * sizeof *list);
    if (!node || !attr || !list) return NULL;
    onnx__attribute_proto__init(attr);
    attr->name = arena_printf(b, "%s", name);
    attr->has_type = true;
    attr->type = type;
    if (node->n_attribute) memcpy(list, node->attribute, node->n_attribute * sizeof *list);
    list[node->n_attribute++] = attr;
    node->attribute = list;
    return attr;
}

void cr_onnx_attr_int(cr_onnx_builder *b, cr_onnx_node *node, const char *name, int64_t value) {
    Onnx__AttributeProto *attr =
        attr_add(b, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (!attr) return;
    attr->has_i = true;
    attr->i = value;
}

void cr_onnx_attr_ints(cr_onnx_builder *b, cr_onnx_node *node, const char *name, int count,
                       const int64_t *values) {
    Onnx__AttributeProto *attr =
        attr_add(b, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *copy = arena_alloc(b, (size_t)count * sizeof *copy);
    if (!attr || !copy) return;
    memcpy(copy, values, (size_t)count * sizeof *copy);
    attr->n_ints = (size_t)count;
    attr->ints = copy;
}

void cr_onnx_attr_float(cr_onnx_builder *b, cr_onnx_node *node, const char *name, float value) {
    Onnx__AttributeProto *attr =
        attr_add(b, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (!attr) return;
    attr->has_f = true;
    attr->f = value;
}

void cr_onnx_attr_string(cr_onnx_builder *b, cr_onnx_node *node, const char *name,
                         const char *value) {
    Onnx__AttributeProto *attr =
        attr_add(b, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    char *copy = arena_printf(b, "%s", value);
    if (!attr) return;
    attr->has_s = true;
    attr->s.data = (uint8_t *)copy;
    attr->s.len = strlen(copy);
}

void cr_onnx_window_attrs(cr_onnx_builder *b, cr_onnx_node *node, const int kernel[2],
                          const int stride[2], const int padding[2]) {
    int64_t kernel_shape[2] = {kernel[0], kernel[1]}, strides[2] = {stride[0], stride[1]};
    int64_t pads[4] = {padding[0], padding[1], padding[0], padding[1]};
    cr_onnx_attr_ints(b, node, "kernel_shape", 2, kernel_shape);
    cr_onnx_attr_ints(b, node, "strides", 2, strides);
    cr_onnx_attr_ints(b, node, "pads", 4, pads);
}

/* A tensor initializer of `count` elements, raw little-endian bytes. */
static Onnx__TensorProto *tensor_add(cr_onnx_builder *b, const char *name, int32_t data_type,
                                     int ndim, const int64_t *dims, const void *data,
                                     size_t bytes) {
    Onnx__TensorProto *tensor = arena_alloc(b, sizeof *tensor);
    int64_t *dim_copy = arena_alloc(b, (size_t)ndim * sizeof *dim_copy);
    uint8_t *raw = arena_alloc(b, bytes);
    if (!tensor || !dim_copy || !raw) return NULL;
    onnx__tensor_proto__init(tensor);
    if (ndim > 0) memcpy(dim_copy, dims, (size_t)ndim * sizeof *dim_copy); /* scalars: dims NULL */
    memcpy(raw, data, bytes);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#error "ONNX raw_data is little-endian: byte-swap here before building on a big-endian machine"
#endif
    tensor->name = arena_printf(b, "%s", name);
    tensor->n_dims = (size_t)ndim;
    tensor->dims = dim_copy;
    tensor->has_data_type = true;
    tensor->data_type = data_type;
    tensor->has_raw_data = true;
    tensor->raw_data.data = raw;
    tensor->raw_data.len = bytes;
    push(b, (void ***)&b->initializers, &b->n_initializers, &b->initializer_capacity, tensor);
    return tensor;
}

const char *cr_onnx_param_reshaped(cr_onnx_builder *b, int index, int ndim, const int64_t *dims) {
    const cr_layer *layer = current(b);
    const cr_param *param = &layer->params[index];
    char *name = arena_printf(b, "%s.%s", layer->name, param->suffix);
    int64_t count = 1;
    for (int d = 0; d < ndim; d++) count *= dims[d];
    for (int i = 0; i < cr_net_param_count(b->net); i++) {
        cr_tensor t = cr_net_param(b->net, i);
        if (strcmp(t.name, name) != 0) continue;
        if (count != t.count) break;
        tensor_add(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, ndim, dims, t.data,
                   (size_t)t.count * sizeof(float));
        return name;
    }
    cr_onnx_refuse(b, "parameter '%s' is not in the network", name);
    return name;
}

const char *cr_onnx_param(cr_onnx_builder *b, int index) {
    const cr_param *param = &current(b)->params[index];
    int64_t dims[CR_MAX_DIMS];
    for (int d = 0; d < param->ndim; d++) dims[d] = param->dims[d];
    return cr_onnx_param_reshaped(b, index, param->ndim, dims);
}

const char *cr_onnx_floats(cr_onnx_builder *b, const char *suffix, int ndim, const int64_t *dims,
                           const float *values) {
    const char *name = cr_onnx_value(b, suffix);
    int64_t count = 1;
    for (int d = 0; d < ndim; d++) count *= dims[d];
    tensor_add(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, ndim, dims, values,
               (size_t)count * sizeof *values);
    return name;
}

const char *cr_onnx_int64s(cr_onnx_builder *b, const char *suffix, int count,
                           const int64_t *values) {
    const char *name = cr_onnx_value(b, suffix);
    int64_t dims[1] = {count};
    tensor_add(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 1, dims, values,
               (size_t)count * sizeof *values);
    return name;
}

int cr_onnx_refuse(cr_onnx_builder *b, const char *fmt, ...) {
    if (b->failed) return 1;
    va_list args;
    va_start(args, fmt);
    char message[768];
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    const cr_layer *layer = current(b);
    cr_fail(b->err, CR_ERR_INVALID, layer->mark, layer->name, "cannot export to ONNX: %s", message);
    b->failed = true;
    return 1;
}

/* Activations that are one ONNX operator of the same name and no attribute
 * but leaky_relu's slope and elu's alpha. */
static const struct {
    cr_activation activation;
    const char *op;
} activation_ops[] = {
    {CR_ACT_NONE, "Identity"},         {CR_ACT_RELU, "Relu"}, {CR_ACT_TANH, "Tanh"},
    {CR_ACT_SIGMOID, "Sigmoid"},       {CR_ACT_LEAKY_RELU, "LeakyRelu"},
    {CR_ACT_ELU, "Elu"},
};

/* "<suffix>_<what>", or "<what>" for a layer's own activation: the names of
 * a composite activation's helper values and nodes. */
static const char *part(cr_onnx_builder *b, const char *suffix, const char *what) {
    return suffix ? arena_printf(b, "%s_%s", suffix, what) : what;
}

/* relu6, silu, gelu, hardswish and hardsigmoid as opsets 13 and 17 have
 * them: Clip, Sigmoid·x, the erf form of GELU, HardSigmoid (·x). */
static int composite_activation(cr_onnx_builder *b, cr_activation activation, const char *x,
                                const char *y, const char *suffix) {
    switch (activation) {
    case CR_ACT_RELU6: {
        float bounds[2] = {0.0f, 6.0f};
        const char *low = cr_onnx_floats(b, part(b, suffix, "min"), 0, NULL, &bounds[0]);
        const char *high = cr_onnx_floats(b, part(b, suffix, "max"), 0, NULL, &bounds[1]);
        cr_onnx_node_add(b, "Clip", suffix, y, 3, x, low, high);
        return 0;
    }
    case CR_ACT_SILU: {
        const char *s = cr_onnx_value(b, part(b, suffix, "sigmoid"));
        cr_onnx_node_add(b, "Sigmoid", suffix, s, 1, x);
        cr_onnx_node_add(b, "Mul", part(b, suffix, "mul"), y, 2, x, s);
        return 0;
    }
    case CR_ACT_GELU: { /* x · (1 + erf(x/√2)) · 0.5, as torch writes it */
        float c[3] = {1.41421356f, 1.0f, 0.5f};
        const char *scaled = cr_onnx_value(b, part(b, suffix, "div")),
                   *erf = cr_onnx_value(b, part(b, suffix, "erf")),
                   *plus = cr_onnx_value(b, part(b, suffix, "add")),
                   *product = cr_onnx_value(b, part(b, suffix, "mul"));
        cr_onnx_node_add(b, "Div", suffix, scaled, 2, x,
                         cr_onnx_floats(b, part(b, suffix, "sqrt2"), 0, NULL, &c[0]));
        cr_onnx_node_add(b, "Erf", part(b, suffix, "erf"), erf, 1, scaled);
        cr_onnx_node_add(b, "Add", part(b, suffix, "add"), plus, 2, erf,
                         cr_onnx_floats(b, part(b, suffix, "one"), 0, NULL, &c[1]));
        cr_onnx_node_add(b, "Mul", part(b, suffix, "mul"), product, 2, x, plus);
        cr_onnx_node_add(b, "Mul", part(b, suffix, "half"), y, 2, product,
                         cr_onnx_floats(b, part(b, suffix, "half"), 0, NULL, &c[2]));
        return 0;
    }
    case CR_ACT_HARDSWISH:
        if (cr_onnx_opset(b) >= 14) { /* HardSwish came with opset 14 */
            cr_onnx_node_add(b, "HardSwish", suffix, y, 1, x);
            return 0;
        }
        /* before opset 14: x · hardsigmoid(x) */
        /* fall through */
    case CR_ACT_HARDSIGMOID: {
        bool swish = activation == CR_ACT_HARDSWISH;
        const char *h = swish ? cr_onnx_value(b, part(b, suffix, "hardsigmoid")) : y;
        cr_onnx_node *node = cr_onnx_node_add(b, "HardSigmoid", suffix, h, 1, x);
        cr_onnx_attr_float(b, node, "alpha", 1.0f / 6.0f);
        cr_onnx_attr_float(b, node, "beta", 0.5f);
        if (swish) cr_onnx_node_add(b, "Mul", part(b, suffix, "mul"), y, 2, x, h);
        return 0;
    }
    default:
        return cr_onnx_refuse(b, "activation '%s' has no ONNX mapping",
                              cr_activation_name(activation));
    }
}

int cr_onnx_activation(cr_onnx_builder *b, cr_activation activation, float param, const char *x,
                       const char *y, const char *suffix) {
    for (size_t i = 0; i < sizeof activation_ops / sizeof activation_ops[0]; i++) {
        if (activation_ops[i].activation != activation) continue;
        cr_onnx_node *node = cr_onnx_node_add(b, activation_ops[i].op, suffix, y, 1, x);
        if (activation == CR_ACT_LEAKY_RELU || activation == CR_ACT_ELU)
            cr_onnx_attr_float(b, node, "alpha", param);
        return 0;
    }
    return composite_activation(b, activation, x, y, suffix);
}

/* ---- the graph ------------------------------------------------------------------- */

/* Names that the graph's own inputs and outputs take. */
static bool reserved_name(const char *name) {
    return strcmp(name, "input") == 0 || strcmp(name, "probabilities") == 0 ||
           strcmp(name, "logits") == 0 || strcmp(name, "output") == 0;
}

static int export_layers(cr_onnx_builder *b) {
    const cr_model *model = b->model;
    for (int i = 0; i < model->n_layers && !b->failed && !b->out_of_memory; i++) {
        const cr_layer *layer = &model->layers[i];
        b->layer = i;
        b->named = false;
        b->ranks[i] = 4;
        b->values[i] = reserved_name(layer->name) ? arena_printf(b, "%s/output", layer->name)
                                                  : arena_printf(b, "%s", layer->name);
        if (!layer->kind->export_onnx)
            return cr_onnx_refuse(b, "the kind '%s' has no ONNX mapping", layer->kind->name);
        if (layer->kind->export_onnx(layer, b)) return cr_onnx_refuse(b, "export failed");
    }
    return b->failed;
}

/* Every mention of value `from` becomes `to`. */
static void rename_value(cr_onnx_builder *b, const char *from, const char *to) {
    char *copy = arena_printf(b, "%s", from);
    for (size_t n = 0; n < b->n_nodes; n++) {
        Onnx__NodeProto *node = b->nodes[n];
        for (size_t i = 0; i < node->n_input; i++)
            if (strcmp(node->input[i], copy) == 0) node->input[i] = (char *)to;
        for (size_t i = 0; i < node->n_output; i++)
            if (strcmp(node->output[i], copy) == 0) node->output[i] = (char *)to;
    }
}

/* Graph output `name` for `value`: the value is renamed where it is a node's
 * own output, else (the graph input, or already another output) copied by an
 * Identity node. */
static void name_output(cr_onnx_builder *b, const char *value, const char *name, bool *taken) {
    if (strcmp(value, "input") == 0 || *taken) {
        Onnx__NodeProto *node =
            (Onnx__NodeProto *)cr_onnx_node_add(b, "Identity", name, name, 1, value);
        if (node) node->name = arena_printf(b, "%s", name);
        return;
    }
    rename_value(b, value, name);
    *taken = true;
}

static Onnx__ValueInfoProto *value_info(cr_onnx_builder *b, const char *name, int batch,
                                        cr_shape shape, int rank) {
    Onnx__ValueInfoProto *info = arena_alloc(b, sizeof *info);
    Onnx__TypeProto *type = arena_alloc(b, sizeof *type);
    Onnx__TypeProto__Tensor *tensor = arena_alloc(b, sizeof *tensor);
    Onnx__TensorShapeProto *shape_proto = arena_alloc(b, sizeof *shape_proto);
    Onnx__TensorShapeProto__Dimension **dims = arena_alloc(b, 4 * sizeof *dims);
    if (!info || !type || !tensor || !shape_proto || !dims) return NULL;
    onnx__value_info_proto__init(info);
    onnx__type_proto__init(type);
    onnx__type_proto__tensor__init(tensor);
    onnx__tensor_shape_proto__init(shape_proto);
    int64_t sizes[4] = {batch, shape.c, shape.h, shape.w};
    for (int d = 0; d < rank; d++) {
        dims[d] = arena_alloc(b, sizeof *dims[d]);
        if (!dims[d]) return NULL;
        onnx__tensor_shape_proto__dimension__init(dims[d]);
        if (d == 0 && batch == 0) {
            dims[d]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dims[d]->dim_param = arena_printf(b, "N");
        } else {
            dims[d]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dims[d]->dim_value = sizes[d];
        }
    }
    shape_proto->n_dim = (size_t)rank;
    shape_proto->dim = dims;
    tensor->has_elem_type = true;
    tensor->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tensor->shape = shape_proto;
    type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    type->tensor_type = tensor;
    info->name = arena_printf(b, "%s", name);
    info->type = type;
    return info;
}

/* The graph's outputs: probabilities and logits after a final softmax, else
 * `output`. */
static int graph_outputs(cr_onnx_builder *b, int batch, Onnx__ValueInfoProto **outputs) {
    const cr_model *model = b->model;
    const cr_layer *last = &model->layers[model->output];
    bool taken = false;
    b->layer = model->output;
    if (!last->kind->outputs_probabilities) {
        name_output(b, b->values[model->output], "output", &taken);
        outputs[0] = value_info(b, "output", batch, last->out, b->ranks[model->output]);
        return 1;
    }
    int from = last->inputs[0];
    const char *logits = from < 0 ? "input" : b->values[from];
    cr_shape logits_shape = from < 0 ? model->input : model->layers[from].out;
    int logits_rank = from < 0 ? 4 : b->ranks[from];
    name_output(b, b->values[model->output], "probabilities", &taken);
    taken = false;
    name_output(b, logits, "logits", &taken);
    outputs[0] = value_info(b, "probabilities", batch, last->out, b->ranks[model->output]);
    outputs[1] = value_info(b, "logits", batch, logits_shape, logits_rank);
    return 2;
}

static int pack_and_write(cr_onnx_builder *b, Onnx__ModelProto *model_proto, const char *path,
                          cr_error *err) {
    size_t size = onnx__model_proto__get_packed_size(model_proto);
    if (size > (size_t)INT32_MAX)
        return cr_fail_file(err, CR_ERR_INVALID, path,
                            "the model is %zu bytes, above protobuf's 2 GiB limit for one "
                            "file (ONNX external data is not written)",
                            size);
    uint8_t *bytes = malloc(size ? size : 1);
    if (!bytes) return cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory (%zu bytes)", size);
    onnx__model_proto__pack(model_proto, bytes);
    (void)b;
    int status = cr_write_file_atomic(path, bytes, size, err);
    free(bytes);
    return status;
}

static int build_model(cr_onnx_builder *b, const cr_onnx_export_options *options, const char *path,
                       cr_error *err) {
    const cr_model *model = b->model;
    if (export_layers(b)) return 1;
    Onnx__ValueInfoProto *inputs[1], *outputs[2];
    int n_outputs = graph_outputs(b, options->batch, outputs);
    inputs[0] = value_info(b, "input", options->batch, model->input, 4);

    Onnx__GraphProto *graph = arena_alloc(b, sizeof *graph);
    Onnx__ModelProto *model_proto = arena_alloc(b, sizeof *model_proto);
    Onnx__OperatorSetIdProto *opset = arena_alloc(b, sizeof *opset);
    Onnx__OperatorSetIdProto **opsets = arena_alloc(b, sizeof *opsets);
    if (b->out_of_memory || !graph || !model_proto || !opset || !opsets)
        return cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory while building the graph");
    onnx__graph_proto__init(graph);
    graph->name = arena_printf(b, "%s", model->name ? model->name : "cnnrun");
    graph->n_node = b->n_nodes;
    graph->node = b->nodes;
    graph->n_initializer = b->n_initializers;
    graph->initializer = b->initializers;
    graph->n_input = 1;
    graph->input = inputs;
    graph->n_output = (size_t)n_outputs;
    graph->output = outputs;

    onnx__operator_set_id_proto__init(opset);
    opset->domain = arena_printf(b, "%s", "");
    opset->has_version = true;
    opset->version = b->opset;
    opsets[0] = opset;

    onnx__model_proto__init(model_proto);
    model_proto->has_ir_version = true;
    /* The IR version each operator set came with (onnx/helper.py's table). */
    model_proto->ir_version = b->opset >= 17 ? 8 : 7;
    model_proto->n_opset_import = 1;
    model_proto->opset_import = opsets;
    model_proto->producer_name = arena_printf(b, "cnnrun");
    model_proto->producer_version = arena_printf(b, "%s", CR_ONNX_PRODUCER_VERSION);
    model_proto->graph = graph;
    return pack_and_write(b, model_proto, path, err);
}

int cr_onnx_export(cr_net *net, const cr_onnx_export_options *options, const char *path,
                   cr_error *err) {
    cr_onnx_export_options opts = options ? *options : (cr_onnx_export_options){0};
    if (opts.opset == 0) opts.opset = CR_ONNX_DEFAULT_OPSET;
    if (opts.opset != 13 && opts.opset != 17)
        return cr_fail(err, CR_ERR_USAGE, (cr_mark){0}, NULL,
                       "ONNX opset %d is not offered: 13 (the default) or 17", opts.opset);
    if (opts.batch < 0)
        return cr_fail(err, CR_ERR_USAGE, (cr_mark){0}, NULL,
                       "the batch size must be ≥ 1 (or dynamic), got %d", opts.batch);
    const cr_model *model = cr_net_model(net);
    cr_onnx_builder b = {
        .net = net,
        .model = model,
        .opset = opts.opset,
        .err = err,
    };
    b.values = calloc((size_t)model->n_layers, sizeof *b.values);
    b.ranks = calloc((size_t)model->n_layers, sizeof *b.ranks);
    int status;
    if (!b.values || !b.ranks)
        status = cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory");
    else
        status = build_model(&b, &opts, path, err);
    arena_free(&b);
    return status;
}
