/* Every layer kind in the table (lib/layers/table.c) is known wherever the
 * project lists kinds by hand, so that adding a kind without its
 * documentation, fuzz words or PyTorch mapping fails here:
 *   - README.md's type table has a row naming it, and the row names each of
 *     its keys as `key`;
 *   - tests/fuzz/spec.dict has the word "kind" and "key:" for each key;
 *   - tests/pytorch/compare.py lists it in TORCH_KINDS, or in
 *     NO_TORCH_EQUIVALENT with a reason (not both).
 * Names those lists hold that are not kinds are reported too (stale).
 * Each check is first shown to catch an omission on a doctored copy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "layer.h"

#ifndef CNNRUN_SOURCE_DIR
#define CNNRUN_SOURCE_DIR "."
#endif

static char *read_text(const char *relative) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", CNNRUN_SOURCE_DIR, relative);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    if (text && fread(text, 1, (size_t)size, f) != (size_t)size) {
        free(text);
        text = NULL;
    }
    if (text) text[size] = '\0';
    fclose(f);
    return text;
}

/* Prints a problem and counts it. */
static int problem(const char *file, const char *format, const char *a, const char *b) {
    fprintf(stderr, "  %s: ", file);
    fprintf(stderr, format, a, b);
    fputc('\n', stderr);
    return 1;
}

/* Whether `line` (up to its newline) contains `needle`. */
static bool line_has(const char *line, const char *needle) {
    const char *end = strchr(line, '\n');
    size_t length = end ? (size_t)(end - line) : strlen(line), n = strlen(needle);
    for (size_t i = 0; i + n <= length; i++)
        if (memcmp(line + i, needle, n) == 0) return true;
    return false;
}

/* ---- README.md ------------------------------------------------------------------------ */

static const char readme_table[] = "| type | keys (default) |";

/* The table row whose type cell (before the second '|') lists `name`
 * among its comma-separated names, or NULL. */
static const char *readme_row(const char *readme, const char *name) {
    const char *table = strstr(readme, readme_table);
    if (!table) return NULL;
    for (const char *line = strchr(table, '\n'); line && line[1] == '|';
         line = strchr(line, '\n')) {
        line++;
        const char *cell = line + 1, *cell_end = strchr(cell, '|');
        if (!cell_end) break;
        for (const char *p = cell; p < cell_end;) {
            while (p < cell_end && (*p == ' ' || *p == ',')) p++;
            const char *word = p;
            while (p < cell_end && *p != ' ' && *p != ',') p++;
            if ((size_t)(p - word) == strlen(name) && memcmp(word, name, strlen(name)) == 0)
                return line;
        }
    }
    return NULL;
}

static int check_readme(const char *readme) {
    int problems = 0;
    if (!strstr(readme, readme_table))
        return problem("README.md", "no type table ('%s')%s", readme_table, "");
    for (int i = 0; i < cr_layer_kind_count; i++) {
        const cr_layer_kind *kind = cr_layer_kinds[i];
        const char *row = readme_row(readme, kind->name);
        if (!row) {
            problems +=
                problem("README.md", "the type table has no row for '%s'%s", kind->name, "");
            continue;
        }
        for (int k = 0; k < kind->n_keys; k++) {
            char quoted[64];
            snprintf(quoted, sizeof quoted, "`%s`", kind->keys[k].name);
            if (!line_has(row, quoted))
                problems += problem("README.md", "the row of '%s' does not name key %s", kind->name,
                                    quoted);
        }
    }
    /* Every name in the table is a kind. */
    const char *table = strstr(readme, readme_table);
    for (const char *line = strchr(table, '\n'); line && line[1] == '|';
         line = strchr(line, '\n')) {
        line++;
        const char *cell = line + 1, *cell_end = strchr(cell, '|');
        if (!cell_end || cell[1] == '-') continue;
        for (const char *p = cell; p < cell_end;) {
            while (p < cell_end && (*p == ' ' || *p == ',')) p++;
            const char *word = p;
            while (p < cell_end && *p != ' ' && *p != ',') p++;
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)(p - word), word);
            if (name[0] && !cr_layer_kind_find(name))
                problems +=
                    problem("README.md", "the type table lists '%s', which is no kind%s", name, "");
        }
    }
    return problems;
}

/* ---- tests/fuzz/spec.dict ------------------------------------------------------------- */

/* Whether the dictionary has the line "`word`" (quotes included). */
static bool dict_has(const char *dict, const char *word) {
    char line[80];
    snprintf(line, sizeof line, "\"%s\"", word);
    size_t n = strlen(line);
    for (const char *p = dict; p; p = strchr(p, '\n')) {
        if (*p == '\n') p++;
        if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0')) return true;
    }
    return false;
}

static int check_dict(const char *dict) {
    int problems = 0;
    for (int i = 0; i < cr_layer_kind_count; i++) {
        const cr_layer_kind *kind = cr_layer_kinds[i];
        if (!dict_has(dict, kind->name))
            problems += problem("tests/fuzz/spec.dict", "no line \"%s\"%s", kind->name, "");
        for (int k = 0; k < kind->n_keys; k++) {
            char key[64];
            snprintf(key, sizeof key, "%s:", kind->keys[k].name);
            if (!dict_has(dict, key))
                problems += problem("tests/fuzz/spec.dict", "no line \"%s\" (a key of %s)", key,
                                    kind->name);
        }
    }
    return problems;
}

/* ---- tests/pytorch/compare.py --------------------------------------------------------- */

/* The text of `assignment` ("TORCH_KINDS = (") up to the bracket `close`
 * that ends it, or NULL. */
static const char *python_block(const char *script, const char *assignment, char close,
                                const char **end) {
    const char *start = strstr(script, assignment);
    if (!start) return NULL;
    start += strlen(assignment);
    *end = strchr(start, close);
    return *end ? start : NULL;
}

/* Whether [start, end) holds the string literal "name" outside comments;
 * with `reason`, the literal must be a dict key with a non-empty string
 * value ("name": "why"). */
static bool python_lists(const char *start, const char *end, const char *name, bool reason) {
    char literal[80];
    snprintf(literal, sizeof literal, "\"%s\"", name);
    size_t n = strlen(literal);
    bool comment = false;
    for (const char *p = start; p + n <= end; p++) {
        if (*p == '#') comment = true;
        if (*p == '\n') comment = false;
        if (comment || memcmp(p, literal, n) != 0) continue;
        if (!reason) return true;
        const char *q = p + n;
        while (q < end && (*q == ' ' || *q == ':')) q++;
        if (q + 2 < end && *q == '"' && q[1] != '"') return true;
    }
    return false;
}

static int check_compare(const char *script) {
    const char *file = "tests/pytorch/compare.py";
    const char *torch_end, *none_end;
    const char *torch = python_block(script, "TORCH_KINDS = (", ')', &torch_end);
    const char *none = python_block(script, "NO_TORCH_EQUIVALENT = {", '}', &none_end);
    if (!torch || !none)
        return problem(file, "no %s or no %s", "TORCH_KINDS = (...)",
                       "NO_TORCH_EQUIVALENT = {...}");
    int problems = 0;
    for (int i = 0; i < cr_layer_kind_count; i++) {
        const char *name = cr_layer_kinds[i]->name;
        bool mapped = python_lists(torch, torch_end, name, false);
        bool excused = python_lists(none, none_end, name, true);
        if (!mapped && !excused)
            problems += problem(file,
                                "'%s' is neither in TORCH_KINDS nor in NO_TORCH_EQUIVALENT with a "
                                "reason%s",
                                name, "");
        if (mapped && excused)
            problems +=
                problem(file, "'%s' is in both TORCH_KINDS and NO_TORCH_EQUIVALENT%s", name, "");
    }
    /* Every literal in TORCH_KINDS is a kind. */
    for (const char *p = torch; p < torch_end; p++) {
        if (*p != '"') continue;
        const char *close = memchr(p + 1, '"', (size_t)(torch_end - p - 1));
        if (!close) break;
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(close - p - 1), p + 1);
        if (!cr_layer_kind_find(name))
            problems += problem(file, "TORCH_KINDS lists '%s', which is no kind%s", name, "");
        p = close;
    }
    return problems;
}

/* ---- the checks catch omissions -------------------------------------------------------- */

/* A copy of `text` without the first occurrence of `cut`. */
static char *without(const char *text, const char *cut) {
    char *copy = strdup(text);
    char *at = strstr(copy, cut);
    if (at) memmove(at, at + strlen(cut), strlen(at + strlen(cut)) + 1);
    return copy;
}

/* Whether `check` reports a problem in `text` without `cut` (which must
 * be there to cut). */
static bool caught(const char *text, const char *cut, int (*check)(const char *)) {
    char *copy = without(text, cut);
    bool found = strcmp(copy, text) != 0 && check(copy) >= 1;
    free(copy);
    return found;
}

static void test_checks_catch_omissions(const char *readme, const char *dict, const char *script) {
    fprintf(stderr, "doctored copies (problems expected):\n");
    /* The last kind of the table, so it is the kind most recently added. */
    const cr_layer_kind *kind = cr_layer_kinds[cr_layer_kind_count - 1];
    const char *key = cr_layer_kinds[0]->keys[0].name;
    char word[80];
    snprintf(word, sizeof word, "\"%s\"\n", kind->name);
    CHECK(caught(dict, word, check_dict));
    snprintf(word, sizeof word, "\"%s:\"\n", key);
    CHECK(caught(dict, word, check_dict));
    snprintf(word, sizeof word, "| %s |", kind->name);
    CHECK(caught(readme, word, check_readme));
    snprintf(word, sizeof word, "`%s`", key);
    CHECK(caught(readme, word, check_readme));

    snprintf(word, sizeof word, "\"%s\"", kind->name);
    const char *block = strstr(script, "TORCH_KINDS = (");
    CHECK(block != NULL);
    if (block) {
        char *copy = strdup(script);
        char *at = strstr(copy + (block - script), word);
        CHECK(at != NULL);
        if (at) {
            memset(at, ' ', strlen(word));
            CHECK(check_compare(copy) >= 1);
        }
        free(copy);
    }
    fprintf(stderr, "(end of the doctored copies)\n");
}

int main(void) {
    char *readme = read_text("README.md"), *dict = read_text("tests/fuzz/spec.dict");
    char *script = read_text("tests/pytorch/compare.py");
    CHECK(readme && dict && script);
    if (!readme || !dict || !script) return check_report();

    test_checks_catch_omissions(readme, dict, script);
    fprintf(stderr, "the real files:\n");
    CHECK_INT(check_readme(readme), 0);
    CHECK_INT(check_dict(dict), 0);
    CHECK_INT(check_compare(script), 0);

    free(readme);
    free(dict);
    free(script);
    return check_report();
}
