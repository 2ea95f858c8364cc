#include "yaml_util.h"

#include "files.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MERGE_DEPTH   16
#define MAX_SUBSTITUTIONS 64
#define MAX_FILE_BYTES    (64 << 20)
#define MAX_NESTING       64

/* libyaml's scanner slows down with the square of the nesting depth (a 400 KB
 * file of `{a: {a: ...` took minutes to load), and no model needs more than a
 * few dozen levels. One pass over the parser's events rejects deep files
 * before the loader sees them; it stops at the first syntax error, which the
 * loader then reports. */
static int check_nesting(const char *file, const unsigned char *text, size_t length,
                         cr_error *err) {
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return cr_fail(err, CR_ERR_RUNTIME, (cr_mark){file, 0, 0}, NULL,
                       "cannot start the YAML parser");
    yaml_parser_set_input_string(&parser, text, length);
    int depth = 0, status = 0;
    for (;;) {
        yaml_event_t event;
        if (!yaml_parser_parse(&parser, &event)) {
            if (parser.error == YAML_MEMORY_ERROR)
                status = cr_fail(err, CR_ERR_RUNTIME, (cr_mark){file, 0, 0}, NULL,
                                 "out of memory while parsing the YAML (%zu bytes of it)", length);
            break;
        }
        yaml_event_type_t type = event.type;
        yaml_mark_t m = event.start_mark;
        yaml_event_delete(&event);
        if (type == YAML_STREAM_END_EVENT) break;
        if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT) depth--;
        if (type != YAML_SEQUENCE_START_EVENT && type != YAML_MAPPING_START_EVENT) continue;
        if (++depth > MAX_NESTING) {
            status =
                cr_fail(err, CR_ERR_INVALID, (cr_mark){file, (int)m.line + 1, (int)m.column + 1},
                        NULL, "lists and mappings nest deeper than %d levels", MAX_NESTING);
            break;
        }
    }
    yaml_parser_delete(&parser);
    return status;
}

static yaml_node_t *document_root(yaml_document_t *document);

/* libyaml's error as `FILE:LINE:COL: YAML syntax error: ...`. */
static int syntax_error(const cr_yaml *y, const yaml_parser_t *parser, const unsigned char *text,
                        size_t length, cr_error *err) {
    yaml_mark_t m = parser->problem_mark;
    /* libyaml's allocation failures are no syntax error: say what happened. */
    if (parser->error == YAML_MEMORY_ERROR)
        return cr_fail(err, CR_ERR_RUNTIME, (cr_mark){y->file, 0, 0}, NULL,
                       "out of memory while parsing the YAML (%zu bytes of it)", length);
    cr_mark mark = {y->file, (int)m.line + 1, (int)m.column + 1};
    yaml_mark_t start = parser->context_mark;
    const char *problem = parser->problem ? parser->problem : "invalid YAML";
    /* The error is often found far from its cause (an unclosed bracket
     * shows up lines later), so say where the construct began. */
    if (parser->context && (start.line != m.line || start.column != m.column))
        cr_fail(err, CR_ERR_INVALID, mark, NULL,
                "YAML syntax error: %s %s that starts at line %d, column %d", problem,
                parser->context, (int)start.line + 1, (int)start.column + 1);
    else if (parser->context)
        cr_fail(err, CR_ERR_INVALID, mark, NULL, "YAML syntax error: %s %s", problem,
                parser->context);
    else
        cr_fail(err, CR_ERR_INVALID, mark, NULL, "YAML syntax error: %s", problem);
    bool tab = strstr(problem, "tab") || (m.index < length && text[m.index] == '\t');
    if (err && tab)
        snprintf(err->message + strlen(err->message), sizeof err->message - strlen(err->message),
                 " (YAML indents with spaces only: replace the tab)");
    return 1;
}

int cr_yaml_parse(cr_yaml *y, const char *file, const unsigned char *text, size_t length,
                  cr_error *err) {
    memset(y, 0, sizeof *y);
    y->file = strdup(file);
    if (!y->file) return cr_fail(err, CR_ERR_RUNTIME, (cr_mark){0}, NULL, "out of memory");
    if (check_nesting(y->file, text, length, err)) return 1;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return cr_fail(err, CR_ERR_RUNTIME, (cr_mark){y->file, 0, 0}, NULL,
                       "cannot start the YAML parser");
    yaml_parser_set_input_string(&parser, text, length);
    int status = 0;
    if (!yaml_parser_load(&parser, &y->document)) {
        status = syntax_error(y, &parser, text, length, err);
    } else {
        y->loaded = true;
        /* A second document (after `---`) would otherwise be ignored
         * without a word; a syntax error in it is still an error. */
        yaml_document_t next;
        if (!yaml_parser_load(&parser, &next)) {
            status = syntax_error(y, &parser, text, length, err);
        } else {
            cr_mark second = {y->file, (int)next.start_mark.line + 1,
                              (int)next.start_mark.column + 1};
            if (document_root(&next) && !cr_yaml_root(y))
                status = cr_fail(err, CR_ERR_INVALID, second, NULL,
                                 "the model starts here, after an empty first YAML document: "
                                 "remove the extra '---' above it");
            else if (document_root(&next))
                status = cr_fail(err, CR_ERR_INVALID, second, NULL,
                                 "a second YAML document starts here: a model file holds one "
                                 "model (remove the '---' and what follows, or split the file)");
            yaml_document_delete(&next);
        }
    }
    yaml_parser_delete(&parser);
    return status;
}

int cr_yaml_load_file(cr_yaml *y, const char *path, cr_error *err) {
    memset(y, 0, sizeof *y);
    cr_mark where = {path, 0, 0};
    FILE *f = cr_fopen_regular(path, err);
    if (!f) return 1;
    unsigned char *text = malloc(MAX_FILE_BYTES);
    if (!text) {
        fclose(f);
        return cr_fail(err, CR_ERR_RUNTIME, where, NULL, "out of memory");
    }
    size_t length = fread(text, 1, MAX_FILE_BYTES, f);
    int read_error = ferror(f);
    int too_big = length == MAX_FILE_BYTES && fgetc(f) != EOF;
    fclose(f);
    int status;
    if (read_error)
        status = cr_fail(err, CR_ERR_IO, where, NULL, "cannot read (is it a directory?)");
    else if (too_big)
        status = cr_fail(err, CR_ERR_INVALID, where, NULL, "file is larger than %d MiB",
                         MAX_FILE_BYTES >> 20);
    else
        status = cr_yaml_parse(y, path, text, length, err);
    free(text);
    return status;
}

void cr_yaml_free(cr_yaml *y) {
    if (y->loaded) yaml_document_delete(&y->document);
    free(y->file);
    memset(y, 0, sizeof *y);
}

/* NULL for a document with nothing in it: `---` alone gives an empty scalar. */
static yaml_node_t *document_root(yaml_document_t *document) {
    yaml_node_t *root = yaml_document_get_root_node(document);
    if (root && root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0 &&
        root->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
        return NULL;
    return root;
}

yaml_node_t *cr_yaml_root(cr_yaml *y) {
    return document_root(&y->document);
}

cr_mark cr_yaml_mark(const cr_yaml *y, const yaml_node_t *node) {
    if (!node) return (cr_mark){y->file, 0, 0};
    return (cr_mark){y->file, (int)node->start_mark.line + 1, (int)node->start_mark.column + 1};
}

static yaml_node_t *node_at(cr_yaml *y, int id) {
    return yaml_document_get_node(&y->document, id);
}

bool cr_yaml_is_scalar(const yaml_node_t *node) {
    return node && node->type == YAML_SCALAR_NODE;
}

const char *cr_yaml_scalar(const yaml_node_t *node) {
    return cr_yaml_is_scalar(node) ? (const char *)node->data.scalar.value : NULL;
}

const char *cr_node_type_name(const yaml_node_t *node) {
    if (!node) return "nothing";
    switch (node->type) {
    case YAML_SCALAR_NODE:
        return "a value";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "nothing";
    }
}

/* Only plain scalars substitute: a quoted '$x' stays text. */
static const char *variable_name(const yaml_node_t *node) {
    if (!cr_yaml_is_scalar(node) || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return NULL;
    const char *text = (const char *)node->data.scalar.value;
    return text[0] == '$' ? text + 1 : NULL;
}

yaml_node_t *cr_yaml_resolve(cr_yaml *y, yaml_node_t *node, const cr_env *env, const char *layer,
                             cr_error *err) {
    for (int hops = 0; hops < MAX_SUBSTITUTIONS; hops++) {
        const char *name = variable_name(node);
        if (!name) return node;
        const yaml_node_t *found = NULL;
        for (const cr_env *e = env; e && !found; e = e->parent)
            for (int i = 0; i < e->count; i++)
                if (strcmp(e->names[i], name) == 0) {
                    found = e->values[i];
                    break;
                }
        if (!found) {
            char defined[256] = "";
            for (const cr_env *e = env; e; e = e->parent)
                for (int i = 0; i < e->count; i++)
                    snprintf(defined + strlen(defined), sizeof defined - strlen(defined), "%s$%s",
                             defined[0] ? ", " : "", e->names[i]);
            cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, node), layer,
                    "unknown variable '$%s' (%s%s)", name,
                    defined[0] ? "defined here: " : "no `repeat ... with:` defines any here",
                    defined);
            return NULL;
        }
        node = (yaml_node_t *)found;
    }
    cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, node), layer,
            "variables refer to each other in a loop");
    return NULL;
}

static int add_entry(cr_yaml *y, cr_entries *out, const char *key, yaml_node_t *key_node,
                     yaml_node_t *value, bool merged, const char *layer, const char *what,
                     cr_error *err) {
    for (int i = 0; i < out->count; i++)
        if (strcmp(out->items[i].key, key) == 0) {
            if (merged) return 0; /* explicit (or earlier-merged) keys win */
            return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, key_node), layer,
                           "duplicate key '%s' in %s (first given at line %d)", key, what,
                           out->items[i].key_mark.line);
        }
    if (out->count == (int)(sizeof out->items / sizeof out->items[0]))
        return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, key_node), layer, "too many keys in %s",
                       what);
    out->items[out->count++] = (cr_entry){key, cr_yaml_mark(y, key_node), value};
    return 0;
}

static int collect(cr_yaml *y, yaml_node_t *map, bool merged, int depth, const char *layer,
                   const char *what, cr_entries *out, cr_error *err);

static int merge(cr_yaml *y, yaml_node_t *source, int depth, const char *layer, const char *what,
                 cr_entries *out, cr_error *err) {
    if (source->type == YAML_MAPPING_NODE) {
        /* Merging a mapping twice adds nothing (earlier keys win), and
         * skipping repeats keeps alias bombs from multiplying the work. */
        for (int i = 0; i < out->n_merged; i++)
            if (out->merged[i] == source) return 0;
        if (out->n_merged == (int)(sizeof out->merged / sizeof out->merged[0]))
            return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, source), layer,
                           "too many merge keys '<<' in %s", what);
        out->merged[out->n_merged++] = source;
        return collect(y, source, true, depth + 1, layer, what, out, err);
    }
    if (source->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *item = source->data.sequence.items.start;
             item < source->data.sequence.items.top; item++) {
            yaml_node_t *m = node_at(y, *item);
            if (!m || m->type != YAML_MAPPING_NODE)
                return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, m ? m : source), layer,
                               "a merge key '<<' takes a mapping or a list of mappings, got %s",
                               cr_node_type_name(m));
            if (merge(y, m, depth, layer, what, out, err)) return 1;
        }
        return 0;
    }
    return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, source), layer,
                   "a merge key '<<' takes a mapping or a list of mappings, got %s",
                   cr_node_type_name(source));
}

static int collect(cr_yaml *y, yaml_node_t *map, bool merged, int depth, const char *layer,
                   const char *what, cr_entries *out, cr_error *err) {
    if (depth > MAX_MERGE_DEPTH)
        return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, map), layer,
                       "merge keys '<<' nest deeper than %d (a loop of aliases?)", MAX_MERGE_DEPTH);
    /* Explicit keys first, so that they win over anything merged. */
    for (int pass = 0; pass < 2; pass++) {
        for (yaml_node_pair_t *pair = map->data.mapping.pairs.start;
             pair < map->data.mapping.pairs.top; pair++) {
            yaml_node_t *key = node_at(y, pair->key), *value = node_at(y, pair->value);
            if (!key || !value) continue;
            if (!cr_yaml_is_scalar(key))
                return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, key), layer,
                               "keys in %s must be plain names, got %s", what,
                               cr_node_type_name(key));
            const char *name = cr_yaml_scalar(key);
            bool is_merge =
                strcmp(name, "<<") == 0 && key->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            if (pass == 0 && !is_merge) {
                if (add_entry(y, out, name, key, value, merged, layer, what, err)) return 1;
            } else if (pass == 1 && is_merge) {
                if (merge(y, value, depth, layer, what, out, err)) return 1;
            }
        }
    }
    return 0;
}

int cr_yaml_entries(cr_yaml *y, yaml_node_t *map, const char *layer, const char *what,
                    cr_entries *out, cr_error *err) {
    out->count = 0;
    out->n_merged = 0;
    if (!map || map->type != YAML_MAPPING_NODE)
        return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, map), layer,
                       "%s must be a mapping of keys to values, got %s", what,
                       cr_node_type_name(map));
    return collect(y, map, false, 0, layer, what, out, err);
}

const cr_entry *cr_entries_find(const cr_entries *entries, const char *key) {
    for (int i = 0; i < entries->count; i++)
        if (strcmp(entries->items[i].key, key) == 0) return &entries->items[i];
    return NULL;
}

int cr_yaml_check_keys(const cr_yaml *y, const cr_entries *entries, const char *const *allowed,
                       int n_allowed, const char *layer, const char *what, cr_error *err) {
    (void)y;
    for (int i = 0; i < entries->count; i++) {
        const char *key = entries->items[i].key;
        int known = 0;
        for (int j = 0; j < n_allowed && !known; j++) known = strcmp(key, allowed[j]) == 0;
        if (known) continue;
        char list[512] = "";
        for (int j = 0; j < n_allowed; j++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", j ? ", " : "",
                     allowed[j]);
        const char *near = cr_suggest(key, allowed, n_allowed);
        if (near)
            return cr_fail(err, CR_ERR_INVALID, entries->items[i].key_mark, layer,
                           "unknown key '%s' in %s; did you mean '%s'? (valid keys: %s)", key, what,
                           near, list);
        return cr_fail(err, CR_ERR_INVALID, entries->items[i].key_mark, layer,
                       "unknown key '%s' in %s (valid keys: %s)", key, what, list);
    }
    return 0;
}

static int expect_scalar(cr_yaml *y, yaml_node_t **node, const cr_env *env, const char *key,
                         const char *layer, const char *want, cr_error *err) {
    yaml_node_t *resolved = cr_yaml_resolve(y, *node, env, layer, err);
    if (!resolved) return 1;
    *node = resolved;
    if (!cr_yaml_is_scalar(resolved))
        return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, resolved), layer,
                       "'%s' must be %s, got %s", key, want, cr_node_type_name(resolved));
    return 0;
}

/* "must be a number, got '10'" would puzzle anyone: say it is the quotes. */
static int quoted_number(cr_yaml *y, yaml_node_t *node, const char *key, const char *layer,
                         cr_error *err) {
    return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, node), layer,
                   "'%s' must be a number, but \"%s\" is quoted, which makes it text; write "
                   "it without quotes",
                   key, cr_yaml_scalar(node));
}

int cr_yaml_int(cr_yaml *y, yaml_node_t *node, const cr_env *env, const char *key,
                const char *layer, long long *out, cr_error *err) {
    if (expect_scalar(y, &node, env, key, layer, "a whole number", err)) return 1;
    const char *text = cr_yaml_scalar(node);
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (end != text && *end == '\0' && node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return quoted_number(y, node, key, layer, err);
    if (end == text || *end != '\0')
        return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, node), layer,
                       "'%s' must be a whole number, got '%s'", key, text);
    if (errno == ERANGE || value > 2000000000LL || value < -2000000000LL)
        return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, node), layer,
                       "'%s' is %s, out of range: whole numbers here must be between "
                       "-2000000000 and 2000000000",
                       key, text);
    *out = value;
    return 0;
}

int cr_yaml_number(cr_yaml *y, yaml_node_t *node, const cr_env *env, const char *key,
                   const char *layer, double *out, cr_error *err) {
    if (expect_scalar(y, &node, env, key, layer, "a number", err)) return 1;
    const char *text = cr_yaml_scalar(node);
    char *end;
    double value = strtod(text, &end);
    if (end != text && *end == '\0' && isfinite(value) &&
        node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return quoted_number(y, node, key, layer, err);
    if (end == text || *end != '\0' || !isfinite(value))
        return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, node), layer,
                       "'%s' must be a finite number, got '%s'", key, text);
    *out = value;
    return 0;
}

int cr_yaml_bool(cr_yaml *y, yaml_node_t *node, const cr_env *env, const char *key,
                 const char *layer, bool *out, cr_error *err) {
    if (expect_scalar(y, &node, env, key, layer, "true or false", err)) return 1;
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "on", "On"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "off", "Off"};
    const char *text = cr_yaml_scalar(node);
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcmp(text, yes[i]) == 0) return *out = true, 0;
        if (strcmp(text, no[i]) == 0) return *out = false, 0;
    }
    return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, node), layer,
                   "'%s' must be true or false, got '%s'", key, text);
}

int cr_yaml_string(cr_yaml *y, yaml_node_t *node, const cr_env *env, const char *key,
                   const char *layer, const char **out, cr_error *err) {
    if (expect_scalar(y, &node, env, key, layer, "a name", err)) return 1;
    *out = cr_yaml_scalar(node);
    if (!(*out)[0])
        return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, node), layer, "'%s' is empty", key);
    return 0;
}

int cr_yaml_sequence(cr_yaml *y, yaml_node_t *node, const cr_env *env, const char *key,
                     const char *layer, int *count, yaml_node_item_t **items, cr_error *err) {
    node = cr_yaml_resolve(y, node, env, layer, err);
    if (!node) return 1;
    if (node->type != YAML_SEQUENCE_NODE)
        return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, node), layer,
                       "'%s' must be a list, got %s%s%s%s", key, cr_node_type_name(node),
                       cr_yaml_is_scalar(node) ? " '" : "",
                       cr_yaml_is_scalar(node) ? cr_yaml_scalar(node) : "",
                       cr_yaml_is_scalar(node) ? "'" : "");
    *items = node->data.sequence.items.start;
    *count = (int)(node->data.sequence.items.top - node->data.sequence.items.start);
    return 0;
}
