/* The JSON Schema (lib/schema.h): every kind and key carries the one-line
 * description editors show; the schema holds every kind, key, default and
 * range the tables declare; docs/cnnrun-model.schema.json is exactly what
 * `cnnrun schema` prints (so a new kind or key must regenerate it).
 * Validation of real files against it: tests/schema_validate.py. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model.h"
#include "schema.h"
#include "train_config.h"

#ifndef CNNRUN_SOURCE_DIR
#define CNNRUN_SOURCE_DIR "."
#endif

#define SCHEMA_FILE "docs/cnnrun-model.schema.json"

static char *read_text(const char *path) {
    FILE *file = fopen(path, "rb");
    if (!file) return NULL;
    char *text = NULL;
    size_t length = 0, capacity = 0, got;
    char block[4096];
    while ((got = fread(block, 1, sizeof block, file)) > 0) {
        if (length + got + 1 > capacity) {
            capacity = (length + got + 1) * 2;
            char *grown = realloc(text, capacity);
            if (!grown) break;
            text = grown;
        }
        memcpy(text + length, block, got);
        length += got;
    }
    fclose(file);
    if (text) text[length] = '\0';
    return text;
}

static void test_every_kind_and_key_is_described(void) {
    for (int i = 0; i < cr_layer_kind_count; i++) {
        const cr_layer_kind *kind = cr_layer_kinds[i];
        if (!kind->description || !kind->description[0])
            fprintf(stderr, "layer kind '%s' has no .description (one line for editors)\n",
                    kind->name);
        CHECK(kind->description && kind->description[0]);
        for (int k = 0; k < kind->n_keys; k++) {
            const char *text = kind->keys[k].description;
            if (!text || !text[0])
                fprintf(stderr, "key '%s' of '%s' has no description\n", kind->keys[k].name,
                        kind->name);
            CHECK(text && text[0]);
        }
    }
    for (int i = 0; i < cr_train_key_count; i++)
        CHECK(cr_train_keys[i].description && cr_train_keys[i].description[0]);
}

static const cJSON *at(const cJSON *node, const char *a, const char *b, const char *c) {
    node = cJSON_GetObjectItemCaseSensitive(node, a);
    if (b) node = cJSON_GetObjectItemCaseSensitive(node, b);
    if (c) node = cJSON_GetObjectItemCaseSensitive(node, c);
    return node;
}

static void test_schema_holds_the_tables(void) {
    char *text = cr_model_schema();
    CHECK(text != NULL);
    cJSON *schema = cJSON_Parse(text);
    CHECK(schema != NULL);
    if (!schema) {
        free(text);
        return;
    }
    CHECK(strcmp(cJSON_GetStringValue(at(schema, "$schema", NULL, NULL)),
                 "http://json-schema.org/draft-07/schema#") == 0);
    const cJSON *definitions = at(schema, "definitions", NULL, NULL);
    for (int i = 0; i < cr_layer_kind_count; i++) {
        const cr_layer_kind *kind = cr_layer_kinds[i];
        char name[96];
        snprintf(name, sizeof name, "layer-%s", kind->name);
        const cJSON *layer = cJSON_GetObjectItemCaseSensitive(definitions, name);
        CHECK(layer != NULL);
        CHECK(strcmp(cJSON_GetStringValue(at(layer, "properties", "type", "const")), kind->name) ==
              0);
        for (int k = 0; k < kind->n_keys; k++)
            CHECK(at(layer, "properties", kind->keys[k].name, NULL) != NULL);
        CHECK(cJSON_IsFalse(at(layer, "additionalProperties", NULL, NULL)));
    }
    /* Spot checks of the values the tables give. */
    const cJSON *conv = at(definitions, "layer-conv", "properties", NULL);
    CHECK_NEAR(cJSON_GetNumberValue(at(conv, "stride", "default", NULL)), 1, 0);
    const cJSON *filters = cJSON_GetArrayItem(at(conv, "filters", "anyOf", NULL), 0);
    CHECK_NEAR(cJSON_GetNumberValue(at(filters, "minimum", NULL, NULL)), 1, 0);
    CHECK(strcmp(cJSON_GetStringValue(at(conv, "activation", "default", NULL)), "none") == 0);
    const cJSON *dropout = at(definitions, "layer-dropout", "properties", "rate");
    CHECK_NEAR(cJSON_GetNumberValue(at(dropout, "default", NULL, NULL)), 0.5, 0);
    /* a pool's stride defaults to its window: no literal default */
    CHECK(at(definitions, "layer-maxpool", "properties", "stride") != NULL);
    CHECK(at(at(definitions, "layer-maxpool", "properties", "stride"), "default", NULL, NULL) ==
          NULL);
    const cJSON *train = cJSON_GetArrayItem(at(schema, "properties", "train", "anyOf"), 1);
    CHECK_NEAR(cJSON_GetNumberValue(at(train, "properties", "epochs", "default")), 10, 0);
    const cJSON *optimizer = cJSON_GetArrayItem(at(train, "properties", "optimizer", "anyOf"), 0);
    CHECK(at(optimizer, "properties", "momentum", NULL) != NULL);
    cJSON_Delete(schema);
    free(text);
}

static void test_checked_in_schema_is_current(void) {
    char *generated = cr_model_schema();
    char *stored = read_text(CNNRUN_SOURCE_DIR "/" SCHEMA_FILE);
    bool same = generated && stored && strcmp(generated, stored) == 0;
    if (!same)
        fprintf(stderr,
                SCHEMA_FILE " is not what `cnnrun schema` prints (a layer kind, key or train "
                            "setting changed): regenerate it with\n"
                            "    build/cnnrun schema -o " SCHEMA_FILE "\n"
                            "and commit it with the change.\n");
    CHECK(same);
    free(generated);
    free(stored);
}

int main(int argc, char **argv) {
    /* `test_schema --print` writes the schema (before `cnnrun schema` exists
     * in a build, and for scripts that only link the library). */
    if (argc > 1 && strcmp(argv[1], "--print") == 0) {
        char *text = cr_model_schema();
        if (!text) return 1;
        fputs(text, stdout);
        free(text);
        return 0;
    }
    test_every_kind_and_key_is_described();
    test_schema_holds_the_tables();
    test_checked_in_schema_is_current();
    return check_report();
}
