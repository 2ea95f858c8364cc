/* Reading a YAML document strictly, with positions for every error.
 *
 * Built on libyaml's document loader (which resolves anchors and aliases).
 * On top of it: merge keys (`<<: *base`), duplicate-key detection, typed
 * scalar reading, and `$name` substitution for `repeat` blocks. Everything
 * that walks the tree is bounded, so a hostile file (recursive aliases,
 * "billion laughs") gets an error, not a hang. */
#ifndef CNNRUN_YAML_UTIL_H
#define CNNRUN_YAML_UTIL_H

#include <stdbool.h>
#include <yaml.h>

#include "error.h"

typedef struct cr_yaml {
    char *file; /* the name errors use */
    yaml_document_t document;
    bool loaded;
} cr_yaml;

/* `$name` substitutions in force (innermost first), from `repeat ... with`. */
typedef struct cr_env {
    const struct cr_env *parent;
    int count;
    const char *const *names;
    const yaml_node_t *const *values;
} cr_env;

/* One key of a mapping after merges: explicit keys win over merged ones. */
typedef struct cr_entry {
    const char *key;
    cr_mark key_mark;
    yaml_node_t *value;
} cr_entry;

typedef struct cr_entries {
    int count;
    cr_entry items[64];
    int n_merged; /* mappings already merged: each at most once */
    const yaml_node_t *merged[64];
} cr_entries;

/* Parse text (not NUL-terminated) into y; `file` names it in errors. */
int cr_yaml_parse(cr_yaml *y, const char *file, const unsigned char *text, size_t length,
                  cr_error *err);
/* Read and parse a file; unreadable files are CR_ERR_IO. */
int cr_yaml_load_file(cr_yaml *y, const char *path, cr_error *err);
void cr_yaml_free(cr_yaml *y);

yaml_node_t *cr_yaml_root(cr_yaml *y);
cr_mark cr_yaml_mark(const cr_yaml *y, const yaml_node_t *node);

/* Follows a `$name` scalar to its substituted value (which may itself be a
 * list), or returns node unchanged. NULL with err set for an unknown name. */
yaml_node_t *cr_yaml_resolve(cr_yaml *y, yaml_node_t *node, const cr_env *env, const char *layer,
                             cr_error *err);

/* The keys of a mapping, merges applied, duplicates rejected. `what`
 * describes the mapping for errors ("layer", "the model", "train"). */
int cr_yaml_entries(cr_yaml *y, yaml_node_t *map, const char *layer, const char *what,
                    cr_entries *out, cr_error *err);

/* Error unless every key is one of `allowed`; suggests the nearest. */
int cr_yaml_check_keys(const cr_yaml *y, const cr_entries *entries, const char *const *allowed,
                       int n_allowed, const char *layer, const char *what, cr_error *err);
const cr_entry *cr_entries_find(const cr_entries *entries, const char *key);

/* Typed scalars; `key` and `layer` are for the message. */
const char *cr_node_type_name(const yaml_node_t *node);
bool cr_yaml_is_scalar(const yaml_node_t *node);
const char *cr_yaml_scalar(const yaml_node_t *node);
int cr_yaml_int(cr_yaml *y, yaml_node_t *node, const cr_env *env, const char *key,
                const char *layer, long long *out, cr_error *err);
int cr_yaml_number(cr_yaml *y, yaml_node_t *node, const cr_env *env, const char *key,
                   const char *layer, double *out, cr_error *err);
int cr_yaml_bool(cr_yaml *y, yaml_node_t *node, const cr_env *env, const char *key,
                 const char *layer, bool *out, cr_error *err);
int cr_yaml_string(cr_yaml *y, yaml_node_t *node, const cr_env *env, const char *key,
                   const char *layer, const char **out, cr_error *err);
/* A sequence's items (after substitution); count/items valid while y lives. */
int cr_yaml_sequence(cr_yaml *y, yaml_node_t *node, const cr_env *env, const char *key,
                     const char *layer, int *count, yaml_node_item_t **items, cr_error *err);

#endif
