/* The model format as JSON Schema draft-07, built from the kind table and
 * the train section's key table (schema.h). Every layer kind is one
 * alternative of a layer item: an object whose `type` is the kind's name,
 * with exactly the keys the loader accepts for it. */
#include "schema.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "train_config.h"

/* The loader's own limits, repeated where the loader has them as code. */
#define MAX_INPUT_SIZE     1000000
#define MAX_INPUTS         64
#define MAX_REPEAT         CR_MAX_LAYERS
#define VARIABLE_PATTERN   "^\\$[A-Za-z_][A-Za-z0-9_]*$"
#define LAYER_NAME_PATTERN "^[^.]+$"

static cJSON *ref(const char *definition) {
    char path[128];
    snprintf(path, sizeof path, "#/definitions/%s", definition);
    cJSON *node = cJSON_CreateObject();
    cJSON_AddStringToObject(node, "$ref", path);
    return node;
}

static cJSON *typed(const char *type) {
    cJSON *node = cJSON_CreateObject();
    cJSON_AddStringToObject(node, "type", type);
    return node;
}

static void add_range(cJSON *node, double min, double max, bool min_exclusive, bool max_exclusive) {
    if (min > -CR_NO_LIMIT)
        cJSON_AddNumberToObject(node, min_exclusive ? "exclusiveMinimum" : "minimum", min);
    if (max < CR_NO_LIMIT)
        cJSON_AddNumberToObject(node, max_exclusive ? "exclusiveMaximum" : "maximum", max);
}

static cJSON *any_of(cJSON *first, cJSON *second) {
    cJSON *node = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(node, "anyOf");
    cJSON_AddItemToArray(list, first);
    cJSON_AddItemToArray(list, second);
    return node;
}

static cJSON *pair_of(cJSON *item) {
    cJSON *pair = typed("array");
    cJSON_AddItemToObject(pair, "items", item);
    cJSON_AddNumberToObject(pair, "minItems", 2);
    cJSON_AddNumberToObject(pair, "maxItems", 2);
    return pair;
}

static cJSON *string_enum(const char *const *names, int count) {
    cJSON *node = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(node, "enum");
    for (int i = 0; i < count; i++) cJSON_AddItemToArray(list, cJSON_CreateString(names[i]));
    return node;
}

/* ---- layer keys ---------------------------------------------------------------- */

/* The loader reads whole numbers into an int. */
static cJSON *integer_in(const cr_key *key) {
    cJSON *node = typed("integer");
    add_range(node, key->min, key->max < INT_MAX ? key->max : INT_MAX, false, false);
    return node;
}

/* The value's own type, before `$variable` is allowed in its place. */
static cJSON *key_value_type(const cr_key *key) {
    switch (key->type) {
    case CR_KEY_INT:
        return integer_in(key);
    case CR_KEY_INT_PAIR:
        return any_of(integer_in(key), pair_of(integer_in(key)));
    case CR_KEY_PADDING: {
        static const char *const modes[] = {"valid", "same"};
        cJSON *node = any_of(integer_in(key), pair_of(integer_in(key)));
        cJSON_AddItemToArray(cJSON_GetObjectItem(node, "anyOf"), string_enum(modes, 2));
        return node;
    }
    case CR_KEY_FLOAT: {
        cJSON *node = typed("number");
        add_range(node, key->min, key->max, false, false);
        return node;
    }
    case CR_KEY_BOOL:
        return typed("boolean");
    case CR_KEY_ACTIVATION:
        return string_enum((const char **)cr_activation_names, cr_activation_count);
    case CR_KEY_STRING:
        return typed("string");
    case CR_KEY_TENSOR:
        return ref("values");
    case CR_KEY_BIAS:
        return any_of(typed("boolean"), ref("values"));
    }
    return cJSON_CreateObject();
}

static cJSON *key_default(const cr_key *key) {
    if (key->required) return NULL;
    switch (key->type) {
    case CR_KEY_INT:
    case CR_KEY_INT_PAIR:
    case CR_KEY_PADDING:
    case CR_KEY_FLOAT:
        /* A default outside the range means "computed" (a pool's stride is
         * its window): no literal default to show. */
        if (key->default_value < key->min || key->default_value > key->max) return NULL;
        return cJSON_CreateNumber(key->default_value);
    case CR_KEY_BOOL:
    case CR_KEY_BIAS:
        return cJSON_CreateBool(key->default_value != 0);
    case CR_KEY_ACTIVATION:
        return cJSON_CreateString(cr_activation_name((cr_activation)key->default_value));
    case CR_KEY_TENSOR:
    case CR_KEY_STRING: /* a string key's default is chosen by its kind (upsample: nearest) */
        return NULL;
    }
    return NULL;
}

static cJSON *key_schema(const cr_key *key) {
    cJSON *node = any_of(key_value_type(key), ref("variable"));
    cJSON_AddStringToObject(node, "description", key->description ? key->description : "");
    cJSON *fallback = key_default(key);
    if (fallback) cJSON_AddItemToObject(node, "default", fallback);
    return node;
}

/* ---- layers ---------------------------------------------------------------------- */

static cJSON *described(cJSON *node, const char *description) {
    cJSON_AddStringToObject(node, "description", description);
    return node;
}

static cJSON *layer_name_schema(void) {
    cJSON *node = typed("string");
    cJSON_AddStringToObject(node, "pattern", LAYER_NAME_PATTERN);
    cJSON *input = cJSON_CreateObject();
    cJSON_AddStringToObject(input, "const", "input"); /* the network's input */
    cJSON_AddItemToObject(node, "not", input);
    return described(node, "the layer's name (default <type><n>: conv1, relu2); no '.'");
}

static cJSON *inputs_schema(void) {
    cJSON *node = typed("array");
    cJSON_AddItemToObject(node, "items", typed("string"));
    cJSON_AddNumberToObject(node, "minItems", 2);
    cJSON_AddNumberToObject(node, "maxItems", MAX_INPUTS);
    return described(node, "the layers whose outputs this one combines (input: the network's)");
}

static cJSON *kind_schema(const cr_layer_kind *kind) {
    cJSON *node = typed("object");
    cJSON_AddStringToObject(node, "title", kind->name);
    cJSON_AddStringToObject(node, "description", kind->description ? kind->description : "");
    cJSON *properties = cJSON_AddObjectToObject(node, "properties");
    cJSON *type = cJSON_CreateObject();
    cJSON_AddStringToObject(type, "const", kind->name);
    cJSON_AddItemToObject(properties, "type",
                          described(type, kind->description ? kind->description : ""));
    cJSON_AddItemToObject(properties, "name", layer_name_schema());
    if (kind->multi_input)
        cJSON_AddItemToObject(properties, "inputs", inputs_schema());
    else
        cJSON_AddItemToObject(properties, "input",
                              described(typed("string"), "the layer this one reads (default the "
                                                         "previous layer; input: the network's)"));
    cJSON *required = cJSON_AddArrayToObject(node, "required");
    cJSON_AddItemToArray(required, cJSON_CreateString("type"));
    if (kind->multi_input) cJSON_AddItemToArray(required, cJSON_CreateString("inputs"));
    for (int i = 0; i < kind->n_keys; i++) {
        const cr_key *key = &kind->keys[i];
        cJSON_AddItemToObject(properties, key->name, key_schema(key));
        if (key->required) cJSON_AddItemToArray(required, cJSON_CreateString(key->name));
    }
    cJSON_AddFalseToObject(node, "additionalProperties");
    return node;
}

static cJSON *repeat_schema(void) {
    cJSON *node = typed("object");
    cJSON_AddStringToObject(node, "title", "repeat");
    described(node, "a block of layers repeated; iteration i prefixes its layers' names with "
                    "<name><i>.");
    cJSON *properties = cJSON_AddObjectToObject(node, "properties");
    cJSON *count = typed("integer");
    add_range(count, 1, MAX_REPEAT, false, false);
    cJSON_AddItemToObject(properties, "repeat", described(count, "how many times"));
    cJSON *name = typed("string");
    cJSON_AddStringToObject(name, "pattern", LAYER_NAME_PATTERN);
    cJSON_AddItemToObject(properties, "name",
                          described(name, "the iterations' name prefix (default block)"));
    cJSON *with = typed("object");
    cJSON_AddItemToObject(with, "additionalProperties", typed("array"));
    cJSON_AddItemToObject(properties, "with",
                          described(with, "{variable: [one value per iteration]}, used as "
                                          "$variable inside the block"));
    cJSON_AddItemToObject(properties, "layers", ref("layers"));
    cJSON *required = cJSON_AddArrayToObject(node, "required");
    cJSON_AddItemToArray(required, cJSON_CreateString("repeat"));
    cJSON_AddItemToArray(required, cJSON_CreateString("layers"));
    cJSON_AddFalseToObject(node, "additionalProperties");
    return node;
}

/* A layer whose type is itself a repeat's `$variable`: only the loader can
 * tell which keys it takes. */
static cJSON *variable_type_layer(void) {
    cJSON *node = typed("object");
    cJSON *properties = cJSON_AddObjectToObject(node, "properties");
    cJSON_AddItemToObject(properties, "type", ref("variable"));
    cJSON *required = cJSON_AddArrayToObject(node, "required");
    cJSON_AddItemToArray(required, cJSON_CreateString("type"));
    return node;
}

static void add_layer_definitions(cJSON *definitions) {
    cJSON *layers = typed("array");
    cJSON_AddNumberToObject(layers, "minItems", 1);
    cJSON_AddItemToObject(layers, "items", ref("layer"));
    cJSON_AddItemToObject(definitions, "layers",
                          described(layers, "the layers, in order; each reads the previous one "
                                            "unless it names its input"));
    cJSON *layer = cJSON_CreateObject();
    cJSON *alternatives = cJSON_AddArrayToObject(layer, "anyOf");
    for (int i = 0; i < cr_layer_kind_count; i++) {
        char name[96];
        snprintf(name, sizeof name, "layer-%s", cr_layer_kinds[i]->name);
        cJSON_AddItemToObject(definitions, name, kind_schema(cr_layer_kinds[i]));
        cJSON_AddItemToArray(alternatives, ref(name));
    }
    cJSON_AddItemToObject(definitions, "repeat", repeat_schema());
    cJSON_AddItemToArray(alternatives, ref("repeat"));
    cJSON_AddItemToObject(definitions, "layer-with-variable-type", variable_type_layer());
    cJSON_AddItemToArray(alternatives, ref("layer-with-variable-type"));
    cJSON_AddItemToObject(definitions, "layer", layer);

    cJSON *variable = typed("string");
    cJSON_AddStringToObject(variable, "pattern", VARIABLE_PATTERN);
    cJSON_AddItemToObject(definitions, "variable",
                          described(variable, "a repeat block's $variable: one value per "
                                              "iteration, from its 'with'"));
    /* Nested lists of numbers, outermost dimension first. */
    cJSON *values = typed("array");
    cJSON_AddNumberToObject(values, "minItems", 1);
    cJSON_AddItemToObject(values, "items", any_of(typed("number"), ref("values")));
    cJSON_AddItemToObject(definitions, "values",
                          described(values, "numbers given inline, as nested lists"));
}

/* ---- the train section ------------------------------------------------------------- */

static cJSON *train_section(const char *section);

static cJSON *train_value_type(const cr_train_key *key) {
    switch (key->type) {
    case CR_TRAIN_SECTION:
        return train_section(key->name);
    case CR_TRAIN_INT: {
        cJSON *node = typed("integer");
        add_range(node, key->min, key->max, key->min_exclusive, key->max_exclusive);
        return node;
    }
    case CR_TRAIN_NUMBER: {
        cJSON *node = typed("number");
        add_range(node, key->min, key->max, key->min_exclusive, key->max_exclusive);
        return node;
    }
    case CR_TRAIN_BOOL:
        return typed("boolean");
    case CR_TRAIN_TEXT:
        return typed("string");
    case CR_TRAIN_NUMBERS: {
        cJSON *item = typed("number");
        add_range(item, key->min, key->max, key->min_exclusive, key->max_exclusive);
        cJSON *node = typed("array");
        cJSON_AddItemToObject(node, "items", item);
        cJSON_AddNumberToObject(node, "minItems", key->length ? key->length : 1);
        if (key->length) cJSON_AddNumberToObject(node, "maxItems", key->length);
        return node;
    }
    case CR_TRAIN_NAMES: {
        cJSON *node = typed("array");
        cJSON_AddItemToObject(node, "items", typed("string"));
        return node;
    }
    }
    return cJSON_CreateObject();
}

static cJSON *train_key_schema(const cr_train_key *key) {
    cJSON *node = train_value_type(key);
    if (key->choices) {
        int count = 0;
        while (key->choices[count]) count++;
        cJSON *names = string_enum(key->choices, count);
        /* A text key is exactly one of its names; elsewhere the names stand
         * in for a mapping or number (`optimizer: adam`). */
        if (key->type == CR_TRAIN_TEXT) {
            cJSON_Delete(node);
            node = names;
        } else {
            node = any_of(node, names);
        }
    }
    cJSON_AddStringToObject(node, "description", key->description);
    if (key->default_json) {
        cJSON *fallback = cJSON_Parse(key->default_json);
        if (fallback) cJSON_AddItemToObject(node, "default", fallback);
    }
    return node;
}

static cJSON *train_section(const char *section) {
    cJSON *node = typed("object");
    cJSON *properties = cJSON_AddObjectToObject(node, "properties");
    for (int i = 0; i < cr_train_key_count; i++)
        if (strcmp(cr_train_keys[i].section, section) == 0)
            cJSON_AddItemToObject(properties, cr_train_keys[i].name,
                                  train_key_schema(&cr_train_keys[i]));
    cJSON_AddFalseToObject(node, "additionalProperties");
    return node;
}

/* ---- the whole file ---------------------------------------------------------------- */

static cJSON *version_schema(void) {
    const int *versions;
    int count = cr_model_format_versions(&versions);
    cJSON *node = typed("integer");
    cJSON *list = cJSON_AddArrayToObject(node, "enum");
    for (int i = 0; i < count; i++) cJSON_AddItemToArray(list, cJSON_CreateNumber(versions[i]));
    cJSON_AddNumberToObject(node, "default", 1);
    return described(node, "the model format's version (docs/format.md); absent means 1");
}

static cJSON *input_schema(void) {
    cJSON *size = typed("integer");
    add_range(size, 1, MAX_INPUT_SIZE, false, false);
    cJSON *node = typed("array");
    cJSON_AddItemToObject(node, "items", size);
    cJSON_AddNumberToObject(node, "minItems", 3);
    cJSON_AddNumberToObject(node, "maxItems", 3);
    return described(node, "the input: [channels, height, width]");
}

char *cr_model_schema(void) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddStringToObject(root, "$schema", "http://json-schema.org/draft-07/schema#");
    cJSON_AddStringToObject(root, "title", "cnnrun model");
    described(root, "A convolutional network for cnnrun (generated by `cnnrun schema`)");
    cJSON_AddStringToObject(root, "type", "object");
    cJSON *properties = cJSON_AddObjectToObject(root, "properties");
    cJSON_AddItemToObject(properties, "version", version_schema());
    cJSON_AddItemToObject(properties, "name", described(typed("string"), "the model's name"));
    cJSON_AddItemToObject(properties, "input", input_schema());
    cJSON_AddItemToObject(properties, "layers", ref("layers"));
    cJSON *train = any_of(typed("null"), train_section(""));
    cJSON_AddItemToObject(properties, "train",
                          described(train, "how `cnnrun train` trains the model (every key "
                                           "optional)"));
    cJSON *required = cJSON_AddArrayToObject(root, "required");
    cJSON_AddItemToArray(required, cJSON_CreateString("input"));
    cJSON_AddItemToArray(required, cJSON_CreateString("layers"));
    cJSON_AddFalseToObject(root, "additionalProperties");
    add_layer_definitions(cJSON_AddObjectToObject(root, "definitions"));

    char *printed = cJSON_Print(root);
    cJSON_Delete(root);
    if (!printed) return NULL;
    /* cJSON allocates with malloc unless hooks say otherwise; callers free(). */
    size_t length = strlen(printed);
    char *text = malloc(length + 2);
    if (text) {
        memcpy(text, printed, length);
        memcpy(text + length, "\n", 2);
    }
    cJSON_free(printed);
    return text;
}
