/* YAML -> layers: the model format, v1 (README "Model format").
 *
 * Every key is checked against the layer kind's schema (lib/layers/), so an
 * unknown key or type is an error with a suggestion, never silently ignored.
 * `repeat` blocks are expanded here: each iteration gets its own name prefix
 * and its own `$variable` values. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define MAX_REPEAT_DEPTH  8
#define MAX_INLINE_VALUES (16 << 20)

/* Repeat blocks in one list that share a name continue its numbering, as
 * unnamed layers do: two blocks named `block` give block1, block2, then
 * block3, ... (VGG-16's 2-conv and 3-conv stages). */
typedef struct repeat_counts {
    int count;
    const char *names[128];
    long long used[64];
} repeat_counts;

typedef struct scope {
    const char *prefix; /* "" at top level, "block2." inside a repeat */
    const cr_env *env;
    int *type_counts; /* per kind, for default names */
    repeat_counts *repeats;
    int64_t *inline_values; /* numbers given inline so far, in the whole model */
    int depth;
    long long iteration, count; /* of the innermost repeat (0 at top level) */
} scope;

static const char *const top_keys[] = {"version", "name", "input", "layers", "train"};
#define TOP_KEY_COUNT ((int)(sizeof top_keys / sizeof top_keys[0]))

/* Format versions this build reads (docs/format.md: how the format changes). */
static const int format_versions[] = {1};
#define FORMAT_VERSION_COUNT ((int)(sizeof format_versions / sizeof format_versions[0]))
static const char *const repeat_keys[] = {"repeat", "name", "with", "layers"};

static char *join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (!s) return NULL;
    memcpy(s, a, la);
    memcpy(s + la, b, lb + 1);
    return s;
}

static int out_of_memory(cr_error *err) {
    return cr_fail(err, CR_ERR_RUNTIME, (cr_mark){0}, NULL, "out of memory");
}

/* ---- names ------------------------------------------------------------------- */

/* Names end up in paths (runs/NAME, features' DIR/NAME.png) and on the
 * terminal: no '/', no "." or "..", no control characters, not too long. */
static int check_name(cr_mark mark, const char *key, const char *name, const char *layer,
                      cr_error *err) {
    const char *problem = NULL;
    if (!name[0])
        problem = "it is empty";
    else if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        problem = "'.' and '..' name folders";
    else if (strchr(name, '/'))
        problem = "it contains '/', and names become file and folder names";
    else if (strlen(name) > CR_MAX_NAME_BYTES)
        problem = "it is longer than the " CR_MAX_NAME_TEXT " bytes a file name may take here";
    /* C0 controls, DEL, and C1 controls (UTF-8 C2 80..C2 9F: CSI is one). */
    for (const unsigned char *c = (const unsigned char *)name; !problem && *c; c++)
        if (*c < 0x20 || *c == 0x7f || (c[0] == 0xC2 && c[1] >= 0x80 && c[1] <= 0x9F))
            problem = "it contains a control character";
    if (!problem) return 0;
    char shown[64];
    cr_escape_text(name, shown, sizeof shown);
    return cr_fail(err, CR_ERR_INVALID, mark, layer, "'%s' cannot be '%s': %s", key, shown,
                   problem);
}

/* ---- values of keys ---------------------------------------------------------- */

static int check_range(cr_yaml *y, yaml_node_t *node, const cr_key *key, double value,
                       const char *layer, cr_error *err) {
    if (value < key->min)
        return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, node), layer,
                       "'%s' must be ≥ %g, got %g", key->name, key->min, value);
    if (value > key->max)
        return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, node), layer,
                       "'%s' must be ≤ %g, got %g", key->name, key->max, value);
    return 0;
}

static int read_int(cr_yaml *y, yaml_node_t *node, const cr_env *env, const cr_key *key,
                    const char *layer, int *out, cr_error *err) {
    long long value;
    yaml_node_t *resolved = cr_yaml_resolve(y, node, env, layer, err);
    if (!resolved || cr_yaml_int(y, resolved, env, key->name, layer, &value, err)) return 1;
    if (check_range(y, resolved, key, (double)value, layer, err)) return 1;
    *out = (int)value;
    return 0;
}

/* `3` or `[3, 5]` -> {h, w} */
static int read_pair(cr_yaml *y, yaml_node_t *node, const cr_env *env, const cr_key *key,
                     const char *layer, int out[2], cr_error *err) {
    node = cr_yaml_resolve(y, node, env, layer, err);
    if (!node) return 1;
    if (node->type != YAML_SEQUENCE_NODE) {
        if (read_int(y, node, env, key, layer, &out[0], err)) return 1;
        out[1] = out[0];
        return 0;
    }
    int count;
    yaml_node_item_t *items;
    if (cr_yaml_sequence(y, node, env, key->name, layer, &count, &items, err)) return 1;
    if (count != 2)
        return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, node), layer,
                       "'%s' must be one number or a list [height, width], got a list of %d",
                       key->name, count);
    for (int i = 0; i < 2; i++)
        if (read_int(y, yaml_document_get_node(&y->document, items[i]), env, key, layer, &out[i],
                     err))
            return 1;
    return 0;
}

static int read_padding(cr_yaml *y, yaml_node_t *node, const cr_env *env, const cr_key *key,
                        const char *layer, cr_padding *out, cr_error *err) {
    node = cr_yaml_resolve(y, node, env, layer, err);
    if (!node) return 1;
    const char *text = cr_yaml_scalar(node);
    if (text && strcmp(text, "valid") == 0) {
        *out = (cr_padding){CR_PAD_EXPLICIT, {0, 0}};
        return 0;
    }
    if (text && strcmp(text, "same") == 0) {
        *out = (cr_padding){CR_PAD_SAME, {0, 0}};
        return 0;
    }
    if (text && !(text[0] == '-' || (text[0] >= '0' && text[0] <= '9')))
        return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, node), layer,
                       "'%s' must be a number, [height, width], 'valid' or 'same', got '%s'",
                       key->name, text);
    out->mode = CR_PAD_EXPLICIT;
    return read_pair(y, node, env, key, layer, out->size, err);
}

static int read_float(cr_yaml *y, yaml_node_t *node, const cr_env *env, const cr_key *key,
                      const char *layer, float *out, cr_error *err) {
    double value;
    yaml_node_t *resolved = cr_yaml_resolve(y, node, env, layer, err);
    if (!resolved || cr_yaml_number(y, resolved, env, key->name, layer, &value, err)) return 1;
    if (check_range(y, resolved, key, value, layer, err)) return 1;
    if (fabs(value) > FLT_MAX)
        return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, resolved), layer,
                       "'%s' is %g, beyond float32's range (largest %g)", key->name, value,
                       (double)FLT_MAX);
    *out = (float)value;
    return 0;
}

static int read_activation(cr_yaml *y, yaml_node_t *node, const cr_env *env, const char *key,
                           const char *layer, cr_activation *out, cr_error *err) {
    const char *text;
    if (cr_yaml_string(y, node, env, key, layer, &text, err)) return 1;
    for (int i = 0; i < cr_activation_count; i++)
        if (strcmp(text, cr_activation_names[i]) == 0) return *out = (cr_activation)i, 0;
    const char *near = cr_suggest(text, cr_activation_names, cr_activation_count);
    char valid[256] = "";
    for (int i = 0; i < cr_activation_count; i++)
        snprintf(valid + strlen(valid), sizeof valid - strlen(valid), "%s%s", i ? ", " : "",
                 cr_activation_names[i]);
    node = cr_yaml_resolve(y, node, env, layer, err);
    return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, node), layer,
                   "unknown activation '%s'%s%s%s (valid: %s)", text,
                   near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "", valid);
}

/* Nested lists of numbers -> flat floats, outermost dimension first. */
static int fill_values(cr_yaml *y, yaml_node_t *node, const cr_env *env, const char *key,
                       const char *layer, cr_values *v, int depth, int64_t *next, cr_error *err) {
    node = cr_yaml_resolve(y, node, env, layer, err);
    if (!node) return 1;
    if (depth == v->ndim) {
        double number;
        if (cr_yaml_number(y, node, env, key, layer, &number, err)) return 1;
        /* 1e300 would become inf as a float: refused as a weights file's inf is. */
        if (fabs(number) > FLT_MAX)
            return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, node), layer,
                           "'%s' holds %g, beyond float32's range (largest %g)", key, number,
                           (double)FLT_MAX);
        v->data[(*next)++] = (float)number;
        return 0;
    }
    int count;
    yaml_node_item_t *items;
    if (node->type != YAML_SEQUENCE_NODE)
        return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, node), layer,
                       "'%s' is ragged: expected a list of %d at depth %d, got %s", key,
                       v->dims[depth], depth + 1, cr_node_type_name(node));
    if (cr_yaml_sequence(y, node, env, key, layer, &count, &items, err)) return 1;
    if (count != v->dims[depth])
        return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, node), layer,
                       "'%s' is ragged: a list at depth %d has %d items where the first had %d",
                       key, depth + 1, count, v->dims[depth]);
    for (int i = 0; i < count; i++)
        if (fill_values(y, yaml_document_get_node(&y->document, items[i]), env, key, layer, v,
                        depth + 1, next, err))
            return 1;
    return 0;
}

static int read_values(cr_yaml *y, yaml_node_t *node, const cr_env *env, const char *key,
                       const char *layer, cr_values *v, int64_t *model_total, cr_error *err) {
    memset(v, 0, sizeof *v);
    v->mark = cr_yaml_mark(y, node);
    /* The shape comes from the first item at each depth; fill_values then
     * checks that every list agrees, so the work is bounded by the count. */
    yaml_node_t *probe = cr_yaml_resolve(y, node, env, layer, err);
    if (!probe) return 1;
    v->count = 1;
    while (probe->type == YAML_SEQUENCE_NODE) {
        int count;
        yaml_node_item_t *items;
        if (cr_yaml_sequence(y, probe, env, key, layer, &count, &items, err)) return 1;
        if (count == 0)
            return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, probe), layer,
                           "'%s' contains an empty list", key);
        if (v->ndim == CR_MAX_DIMS)
            return cr_fail(err, CR_ERR_INVALID, v->mark, layer, "'%s' nests deeper than %d lists",
                           key, CR_MAX_DIMS);
        v->dims[v->ndim++] = count;
        v->count *= count;
        if (v->count > MAX_INLINE_VALUES)
            return cr_fail(err, CR_ERR_INVALID, v->mark, layer,
                           "'%s' has more than %d values; use a weights file instead", key,
                           MAX_INLINE_VALUES);
        probe = cr_yaml_resolve(y, yaml_document_get_node(&y->document, items[0]), env, layer, err);
        if (!probe) return 1;
    }
    if (v->ndim == 0)
        return cr_fail(err, CR_ERR_INVALID, v->mark, layer,
                       "'%s' must be a (nested) list of numbers", key);
    /* Aliases let a few hundred bytes name millions of numbers, again in
     * every layer of a repeat: the limit is for the whole model. */
    *model_total += v->count;
    if (*model_total > MAX_INLINE_VALUES)
        return cr_fail(err, CR_ERR_INVALID, v->mark, layer,
                       "'%s' brings the numbers given inline in this model to %lld, more than "
                       "%d; use a weights file instead",
                       key, (long long)*model_total, MAX_INLINE_VALUES);
    v->data = malloc((size_t)v->count * sizeof(float));
    if (!v->data) return out_of_memory(err);
    v->present = true;
    int64_t next = 0;
    return fill_values(y, node, env, key, layer, v, 0, &next, err);
}

static int read_key(cr_yaml *y, yaml_node_t *node, const cr_env *env, const cr_key *key,
                    const char *layer, void *config, int64_t *inline_values, cr_error *err) {
    void *field = (char *)config + key->offset;
    switch (key->type) {
    case CR_KEY_INT:
        return read_int(y, node, env, key, layer, field, err);
    case CR_KEY_INT_PAIR:
        return read_pair(y, node, env, key, layer, field, err);
    case CR_KEY_PADDING:
        return read_padding(y, node, env, key, layer, field, err);
    case CR_KEY_FLOAT:
        return read_float(y, node, env, key, layer, field, err);
    case CR_KEY_BOOL:
        return cr_yaml_bool(y, node, env, key->name, layer, field, err);
    case CR_KEY_ACTIVATION:
        return read_activation(y, node, env, key->name, layer, field, err);
    case CR_KEY_STRING:
        return cr_yaml_string(y, node, env, key->name, layer, (const char **)field, err);
    case CR_KEY_TENSOR:
        return read_values(y, node, env, key->name, layer, field, inline_values, err);
    case CR_KEY_BIAS: {
        cr_bias *bias = field;
        yaml_node_t *resolved = cr_yaml_resolve(y, node, env, layer, err);
        if (!resolved) return 1;
        if (resolved->type != YAML_SEQUENCE_NODE)
            return cr_yaml_bool(y, resolved, env, key->name, layer, &bias->enabled, err);
        bias->enabled = true;
        return read_values(y, resolved, env, key->name, layer, &bias->values, inline_values, err);
    }
    }
    return 1;
}

static void set_default(const cr_key *key, void *config) {
    void *field = (char *)config + key->offset;
    switch (key->type) {
    case CR_KEY_INT:
        *(int *)field = (int)key->default_value;
        break;
    case CR_KEY_INT_PAIR:
        ((int *)field)[0] = ((int *)field)[1] = (int)key->default_value;
        break;
    case CR_KEY_PADDING:
        *(cr_padding *)field =
            (cr_padding){CR_PAD_EXPLICIT, {(int)key->default_value, (int)key->default_value}};
        break;
    case CR_KEY_FLOAT:
        *(float *)field = (float)key->default_value;
        break;
    case CR_KEY_BOOL:
        *(bool *)field = key->default_value != 0;
        break;
    case CR_KEY_ACTIVATION:
        *(cr_activation *)field = (cr_activation)key->default_value;
        break;
    case CR_KEY_TENSOR:
        break;
    case CR_KEY_BIAS:
        ((cr_bias *)field)->enabled = key->default_value != 0;
        break;
    case CR_KEY_STRING:
        *(const char **)field = NULL;
        break;
    }
}

/* Frees what read_values allocated inside a config. */
static void free_config(const cr_layer_kind *kind, void *config) {
    if (!config) return;
    for (int i = 0; i < kind->n_keys; i++) {
        void *field = (char *)config + kind->keys[i].offset;
        if (kind->keys[i].type == CR_KEY_TENSOR) free(((cr_values *)field)->data);
        if (kind->keys[i].type == CR_KEY_BIAS) free(((cr_bias *)field)->values.data);
    }
    free(config);
}

/* ---- layers ------------------------------------------------------------------ */

static cr_layer *new_layer(cr_model *model, cr_mark mark, cr_error *err) {
    if (model->n_layers >= CR_MAX_LAYERS) {
        cr_fail(err, CR_ERR_INVALID, mark, NULL, "more than %d layers", CR_MAX_LAYERS);
        return NULL;
    }
    if (model->n_layers == model->layer_capacity) {
        int capacity = model->layer_capacity ? model->layer_capacity * 2 : 16;
        cr_layer *grown = realloc(model->layers, (size_t)capacity * sizeof *grown);
        if (!grown) {
            out_of_memory(err);
            return NULL;
        }
        model->layers = grown;
        model->layer_capacity = capacity;
    }
    cr_layer *layer = &model->layers[model->n_layers++];
    memset(layer, 0, sizeof *layer);
    layer->mark = mark;
    return layer;
}

static void free_layer(cr_layer *layer) {
    if (layer->kind) free_config(layer->kind, layer->config);
    free(layer->name);
    free(layer->scope);
    for (int i = 0; i < layer->n_inputs; i++)
        if (layer->input_names) free(layer->input_names[i]);
    free(layer->input_names);
    free(layer->inputs);
    free(layer->input_marks);
}

static int read_inputs(cr_model *model, cr_layer *layer, const cr_entries *entries, const scope *sc,
                       cr_error *err) {
    cr_yaml *y = &model->yaml;
    const char *key = layer->kind->multi_input ? "inputs" : "input";
    const cr_entry *entry = cr_entries_find(entries, key);
    int count = 1;
    yaml_node_item_t *items = NULL;
    if (layer->kind->multi_input) {
        if (!entry)
            return cr_fail(err, CR_ERR_INVALID, layer->mark, layer->name,
                           "missing required key 'inputs': %s takes a list of two or more "
                           "layer names",
                           layer->kind->name);
        if (cr_yaml_sequence(y, entry->value, sc->env, key, layer->name, &count, &items, err))
            return 1;
        if (count < 2)
            return cr_fail(err, CR_ERR_INVALID, entry->key_mark, layer->name,
                           "'inputs' needs at least 2 layer names, got %d", count);
        if (count > 64)
            return cr_fail(err, CR_ERR_INVALID, entry->key_mark, layer->name,
                           "'inputs' lists %d layers; at most 64", count);
    }
    layer->n_inputs = count;
    layer->inputs = calloc((size_t)count, sizeof *layer->inputs);
    layer->input_names = calloc((size_t)count, sizeof *layer->input_names);
    layer->input_marks = calloc((size_t)count, sizeof *layer->input_marks);
    if (!layer->inputs || !layer->input_names || !layer->input_marks) return out_of_memory(err);
    for (int i = 0; i < count; i++) {
        layer->input_marks[i] = layer->mark;
        layer->inputs[i] = -2; /* unresolved */
        if (!entry) continue;  /* the previous layer */
        yaml_node_t *node = items ? yaml_document_get_node(&y->document, items[i]) : entry->value;
        const char *name;
        if (cr_yaml_string(y, node, sc->env, key, layer->name, &name, err)) return 1;
        layer->input_names[i] = strdup(name);
        if (!layer->input_names[i]) return out_of_memory(err);
        layer->input_marks[i] = cr_yaml_mark(y, node);
    }
    return 0;
}

static int type_names_list(char *out, size_t size) {
    out[0] = '\0';
    for (int i = 0; i < cr_layer_kind_count; i++)
        snprintf(out + strlen(out), size - strlen(out), "%s%s", i ? ", " : "",
                 cr_layer_kinds[i]->name);
    return 0;
}

/* Layer type names users bring from Caffe, Darknet, Keras and PyTorch that
 * spelling alone does not lead to: each kind lists its own (aliases). */
static const char *type_alias(const char *type) {
    const cr_layer_kind *kind = cr_layer_kind_for_alias(type);
    return kind ? kind->name : NULL;
}

static int parse_layer(cr_model *model, yaml_node_t *node, const cr_entries *entries,
                       const scope *sc, cr_error *err) {
    cr_yaml *y = &model->yaml;
    cr_mark mark = cr_yaml_mark(y, node);
    const cr_entry *type_entry = cr_entries_find(entries, "type");
    const cr_entry *name_entry = cr_entries_find(entries, "name");
    const char *given_name = NULL;
    if (name_entry && cr_yaml_string(y, name_entry->value, sc->env, "name", NULL, &given_name, err))
        return 1;
    char types[1024];
    type_names_list(types, sizeof types);
    if (!type_entry)
        return cr_fail(err, CR_ERR_INVALID, mark, given_name,
                       "missing required key 'type' (one of: %s)", types);
    const char *type;
    if (cr_yaml_string(y, type_entry->value, sc->env, "type", given_name, &type, err)) return 1;
    const cr_layer_kind *kind = cr_layer_kind_find(type);
    if (!kind) {
        const char *names[128];
        for (int i = 0; i < cr_layer_kind_count; i++) names[i] = cr_layer_kinds[i]->name;
        const char *near = type_alias(type);
        if (!near) near = cr_suggest_close(type, names, cr_layer_kind_count);
        return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, type_entry->value), given_name,
                       "unknown layer type '%s'%s%s%s (known types: %s)", type,
                       near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "", types);
    }

    int kind_index = 0;
    while (cr_layer_kinds[kind_index] != kind) kind_index++;
    int ordinal = ++sc->type_counts[kind_index];

    cr_layer *layer = new_layer(model, mark, err);
    if (!layer) return 1;
    layer->kind = kind;
    char default_name[64];
    snprintf(default_name, sizeof default_name, "%s%d", kind->name, ordinal);
    layer->name = join(sc->prefix, given_name ? given_name : default_name);
    layer->scope = strdup(sc->prefix);
    if (!layer->name || !layer->scope) return out_of_memory(err);
    layer->repeat_iteration = (int)sc->iteration;
    layer->repeat_count = (int)sc->count;
    if (given_name && (strchr(given_name, '.') || strcmp(given_name, "input") == 0))
        return cr_fail(err, CR_ERR_INVALID, name_entry->key_mark, layer->name,
                       "'%s' cannot be a layer name: %s", given_name,
                       strcmp(given_name, "input") == 0
                           ? "'input' means the network's input"
                           : "'.' separates repeat prefixes from names");
    if (given_name && check_name(name_entry->key_mark, "name", given_name, layer->name, err))
        return 1;
    if (strncmp(layer->name, CR_RESERVED_NAME_PREFIX, strlen(CR_RESERVED_NAME_PREFIX)) == 0)
        return cr_fail(err, CR_ERR_INVALID, name_entry ? name_entry->key_mark : layer->mark,
                       layer->name,
                       "layer names cannot start with '" CR_RESERVED_NAME_PREFIX
                       "': checkpoints keep their own tensors under it");

    /* Keys: type, name, input(s) and the kind's own. */
    const char *allowed[CR_MAX_KEYS + 3];
    int n_allowed = 0;
    allowed[n_allowed++] = "type";
    allowed[n_allowed++] = "name";
    allowed[n_allowed++] = kind->multi_input ? "inputs" : "input";
    for (int i = 0; i < kind->n_keys; i++) allowed[n_allowed++] = kind->keys[i].name;
    char what[64];
    /* "an avgpool layer", "a conv layer" */
    const char *article = strchr("aeiou", kind->name[0]) ? "an" : "a";
    snprintf(what, sizeof what, "%s %s layer", article, kind->name);
    if (cr_yaml_check_keys(y, entries, allowed, n_allowed, layer->name, what, err)) return 1;

    if (read_inputs(model, layer, entries, sc, err)) return 1;

    if (kind->config_size) {
        layer->config = calloc(1, kind->config_size);
        if (!layer->config) return out_of_memory(err);
    }
    for (int i = 0; i < kind->n_keys; i++) {
        const cr_key *key = &kind->keys[i];
        set_default(key, layer->config);
        const cr_entry *entry = cr_entries_find(entries, key->name);
        if (!entry) {
            if (!key->required) continue;
            char required[128] = "";
            for (int j = 0; j < kind->n_keys; j++)
                if (kind->keys[j].required)
                    snprintf(required + strlen(required), sizeof required - strlen(required),
                             "%s%s", required[0] ? ", " : "", kind->keys[j].name);
            return cr_fail(err, CR_ERR_INVALID, mark, layer->name,
                           "missing required key '%s' (%s needs: %s)", key->name, what, required);
        }
        layer->key_marks[i] = entry->key_mark;
        if (read_key(y, entry->value, sc->env, key, layer->name, layer->config, sc->inline_values,
                     err))
            return 1;
    }
    return 0;
}

static int parse_layers(cr_model *model, yaml_node_t *list, const scope *sc, cr_error *err);

static int parse_repeat(cr_model *model, yaml_node_t *node, const cr_entries *entries,
                        const scope *sc, cr_error *err) {
    cr_yaml *y = &model->yaml;
    if (cr_yaml_check_keys(y, entries, repeat_keys, 4, NULL, "a repeat block", err)) return 1;
    const cr_entry *count_entry = cr_entries_find(entries, "repeat");
    const cr_entry *name_entry = cr_entries_find(entries, "name");
    const cr_entry *with_entry = cr_entries_find(entries, "with");
    const cr_entry *layers_entry = cr_entries_find(entries, "layers");
    long long count;
    if (cr_yaml_int(y, count_entry->value, sc->env, "repeat", NULL, &count, err)) return 1;
    if (count < 1 || count > CR_MAX_LAYERS)
        return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, count_entry->value), NULL,
                       "'repeat' must be between 1 and %d, got %lld", CR_MAX_LAYERS, count);
    if (!layers_entry)
        return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, node), NULL,
                       "repeat block has no 'layers' list");
    if (sc->depth >= MAX_REPEAT_DEPTH)
        return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, node), NULL,
                       "repeat blocks nest deeper than %d", MAX_REPEAT_DEPTH);
    const char *name = "block";
    if (name_entry && cr_yaml_string(y, name_entry->value, sc->env, "name", NULL, &name, err))
        return 1;
    if (strchr(name, '.'))
        return cr_fail(err, CR_ERR_INVALID, name_entry->key_mark, NULL,
                       "repeat name '%s' cannot contain '.'", name);
    if (name_entry && check_name(name_entry->key_mark, "name", name, NULL, err)) return 1;
    int slot = 0;
    while (slot < sc->repeats->count && strcmp(sc->repeats->names[slot], name) != 0) slot++;
    if (slot == sc->repeats->count) {
        if (slot == 64)
            return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, node), NULL,
                           "more than 64 differently named repeat blocks in one list");
        sc->repeats->names[slot] = name;
        sc->repeats->used[slot] = 0;
        sc->repeats->count++;
    }
    long long first_number = sc->repeats->used[slot] + 1;
    sc->repeats->used[slot] += count;

    /* with: {var: [v1, v2, ...]} — one value per iteration. */
    cr_entries with = {0};
    const char *names[128];
    yaml_node_item_t *lists[64];
    if (with_entry) {
        if (cr_yaml_entries(y, with_entry->value, NULL, "'with'", &with, err)) return 1;
        for (int v = 0; v < with.count; v++) {
            int n;
            names[v] = with.items[v].key;
            if (cr_yaml_sequence(y, with.items[v].value, sc->env, with.items[v].key, NULL, &n,
                                 &lists[v], err))
                return 1;
            if (n != count)
                return cr_fail(err, CR_ERR_INVALID, with.items[v].key_mark, NULL,
                               "'with: %s' has %d values but the block repeats %lld times: "
                               "give one value per repetition",
                               names[v], n, count);
        }
    }
    int status = 0;
    int *counts = NULL;
    for (long long i = 0; i < count && !status; i++) {
        const yaml_node_t *values[64];
        for (int v = 0; v < with.count; v++)
            values[v] = yaml_document_get_node(&y->document, lists[v][i]);
        cr_env env = {sc->env, with.count, names, values};
        char prefix[512];
        snprintf(prefix, sizeof prefix, "%s%s%lld.", sc->prefix, name, first_number + i);
        free(counts);
        counts = calloc((size_t)cr_layer_kind_count, sizeof *counts);
        if (!counts) return out_of_memory(err);
        repeat_counts inner_repeats = {0};
        scope inner = {prefix,        &env,  counts, &inner_repeats, sc->inline_values,
                       sc->depth + 1, i + 1, count};
        status = parse_layers(model, layers_entry->value, &inner, err);
    }
    free(counts);
    return status;
}

/* Errors in a layer's keys themselves (a duplicate key, a bad merge) come
 * before its name is read; name the layer when the file names it plainly. */
static void name_layer_in_error(cr_yaml *y, yaml_node_t *node, const scope *sc, cr_error *err) {
    if (!err || err->layer[0] || !node || node->type != YAML_MAPPING_NODE) return;
    for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
         pair < node->data.mapping.pairs.top; pair++) {
        const char *key = cr_yaml_scalar(yaml_document_get_node(&y->document, pair->key));
        const char *value = cr_yaml_scalar(yaml_document_get_node(&y->document, pair->value));
        if (key && value && strcmp(key, "name") == 0 && value[0] && value[0] != '$') {
            snprintf(err->layer, sizeof err->layer, "%s%s", sc->prefix, value);
            return;
        }
    }
}

static int parse_layers(cr_model *model, yaml_node_t *list, const scope *sc, cr_error *err) {
    cr_yaml *y = &model->yaml;
    int count;
    yaml_node_item_t *items;
    if (cr_yaml_sequence(y, list, sc->env, "layers", NULL, &count, &items, err)) return 1;
    if (count == 0)
        return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, list), NULL,
                       "'layers' is empty: a model needs at least one layer");
    for (int i = 0; i < count; i++) {
        yaml_node_t *node = yaml_document_get_node(&y->document, items[i]);
        cr_entries entries;
        if (cr_yaml_entries(y, node, NULL, "a layer", &entries, err)) {
            name_layer_in_error(y, node, sc, err);
            return 1;
        }
        int status = cr_entries_find(&entries, "repeat")
                         ? parse_repeat(model, node, &entries, sc, err)
                         : parse_layer(model, node, &entries, sc, err);
        if (status) return 1;
    }
    return 0;
}

static int parse_input(cr_model *model, const cr_entry *entry, cr_error *err) {
    cr_yaml *y = &model->yaml;
    int count;
    yaml_node_item_t *items;
    model->input_mark = cr_yaml_mark(y, entry->value);
    if (cr_yaml_sequence(y, entry->value, NULL, "input", NULL, &count, &items, err)) return 1;
    if (count != 3)
        return cr_fail(err, CR_ERR_INVALID, model->input_mark, NULL,
                       "'input' must be [channels, height, width], got a list of %d", count);
    static const char *const what[3] = {"channels", "height", "width"};
    int values[3];
    for (int i = 0; i < 3; i++) {
        yaml_node_t *node = yaml_document_get_node(&y->document, items[i]);
        long long v;
        if (cr_yaml_int(y, node, NULL, what[i], NULL, &v, err)) return 1;
        if (v < 1 || v > 1000000)
            return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, node), NULL,
                           "input %s must be between 1 and 1000000, got %lld", what[i], v);
        values[i] = (int)v;
    }
    model->input = (cr_shape){values[0], values[1], values[2]};
    return 0;
}

int cr_model_format_versions(const int **versions) {
    *versions = format_versions;
    return FORMAT_VERSION_COUNT;
}

/* `version: N` (absent: 1). A file written for another version is refused
 * rather than read by rules it was not written for. */
static int parse_version(cr_model *model, const cr_entry *entry, cr_error *err) {
    model->format_version = 1;
    if (!entry) return 0;
    cr_yaml *y = &model->yaml;
    long long version;
    if (cr_yaml_int(y, entry->value, NULL, "version", NULL, &version, err)) return 1;
    char known[64] = "";
    for (int i = 0; i < FORMAT_VERSION_COUNT; i++) {
        if (format_versions[i] == version) return model->format_version = (int)version, 0;
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%d", i ? ", " : "",
                 format_versions[i]);
    }
    return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, entry->value), NULL,
                   "model format version %lld is not one this build of cnnrun reads (it reads "
                   "version%s %s)%s",
                   version, FORMAT_VERSION_COUNT == 1 ? "" : "s", known,
                   version > format_versions[FORMAT_VERSION_COUNT - 1]
                       ? "; the file needs a newer cnnrun"
                       : "");
}

int cr_spec_parse(cr_model *model, cr_error *err) {
    cr_yaml *y = &model->yaml;
    yaml_node_t *root = cr_yaml_root(y);
    if (!root)
        return cr_fail(err, CR_ERR_INVALID, (cr_mark){y->file, 1, 1}, NULL,
                       "the file is empty (or only comments): expected a model with 'input' "
                       "and 'layers'");
    cr_entries top;
    if (cr_yaml_entries(y, root, NULL, "the model", &top, err)) return 1;
    if (cr_yaml_check_keys(y, &top, top_keys, TOP_KEY_COUNT, NULL, "the model", err)) return 1;
    if (parse_version(model, cr_entries_find(&top, "version"), err)) return 1;

    const cr_entry *name = cr_entries_find(&top, "name");
    const char *text = "model";
    if (name && cr_yaml_string(y, name->value, NULL, "name", NULL, &text, err)) return 1;
    if (name && check_name(cr_yaml_mark(y, name->value), "name", text, NULL, err)) return 1;
    model->name = strdup(text);
    if (!model->name) return out_of_memory(err);

    const cr_entry *input = cr_entries_find(&top, "input");
    if (!input)
        return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, root), NULL,
                       "missing required key 'input': give the input as [channels, height, "
                       "width], e.g. input: [1, 28, 28]");
    if (parse_input(model, input, err)) return 1;

    const cr_entry *train = cr_entries_find(&top, "train");
    model->train = train ? train->value : NULL;

    const cr_entry *layers = cr_entries_find(&top, "layers");
    if (!layers)
        return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, root), NULL,
                       "missing required key 'layers': the list of layers");
    int *counts = calloc((size_t)cr_layer_kind_count, sizeof *counts);
    if (!counts) return out_of_memory(err);
    repeat_counts repeats = {0};
    int64_t inline_values = 0;
    scope top_scope = {"", NULL, counts, &repeats, &inline_values, 0, 0, 0};
    int status = parse_layers(model, layers->value, &top_scope, err);
    free(counts);
    return status;
}

/* ---- lifetime ------------------------------------------------------------------ */

static int finish_load(cr_model *model, cr_model **out, cr_error *err) {
    if (cr_spec_parse(model, err) || cr_graph_build(model, err) || cr_shape_infer(model, err)) {
        cr_model_free(model);
        return 1;
    }
    *out = model;
    return 0;
}

int cr_model_load(const char *path, cr_model **out, cr_error *err) {
    *out = NULL;
    cr_model *model = calloc(1, sizeof *model);
    if (!model) return out_of_memory(err);
    if (cr_yaml_load_file(&model->yaml, path, err)) {
        cr_model_free(model);
        return 1;
    }
    return finish_load(model, out, err);
}

int cr_model_load_text(const char *text, size_t length, const char *file_name, cr_model **out,
                       cr_error *err) {
    *out = NULL;
    cr_model *model = calloc(1, sizeof *model);
    if (!model) return out_of_memory(err);
    if (cr_yaml_parse(&model->yaml, file_name, (const unsigned char *)text, length, err)) {
        cr_model_free(model);
        return 1;
    }
    return finish_load(model, out, err);
}

void cr_model_free(cr_model *model) {
    if (!model) return;
    for (int i = 0; i < model->n_layers; i++) free_layer(&model->layers[i]);
    free(model->layers);
    free(model->name);
    cr_warnings_free(&model->warnings);
    cr_yaml_free(&model->yaml);
    free(model);
}

int cr_model_find_layer(const cr_model *model, const char *name) {
    for (int i = 0; i < model->n_layers; i++)
        if (strcmp(model->layers[i].name, name) == 0) return i;
    return -1;
}
