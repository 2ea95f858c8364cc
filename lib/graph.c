/* Names -> edges: resolves every layer's inputs, rejects duplicate names and
 * cycles, and reorders the layers into an execution order in which every
 * layer comes after its inputs. The network's output is the last layer in the
 * file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

/* ---- a small open-addressing table: name -> layer index --------------------- */

typedef struct name_table {
    int capacity; /* power of two */
    int *slots;   /* layer index, or -1 */
    const cr_layer *layers;
} name_table;

static uint64_t hash(const char *s) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int table_init(name_table *t, const cr_layer *layers, int count) {
    t->capacity = 16;
    while (t->capacity < 2 * count) t->capacity *= 2;
    t->slots = malloc((size_t)t->capacity * sizeof *t->slots);
    t->layers = layers;
    if (!t->slots) return 1;
    for (int i = 0; i < t->capacity; i++) t->slots[i] = -1;
    return 0;
}

/* Index of `name`, or -1; with `insert`, adds index when absent and returns
 * the index already there when present. */
static int table_lookup(name_table *t, const char *name, int insert) {
    size_t mask = (size_t)t->capacity - 1;
    for (size_t i = hash(name) & mask;; i = (i + 1) & mask) {
        int at = t->slots[i];
        if (at < 0) {
            if (insert >= 0) t->slots[i] = insert;
            return -1;
        }
        if (strcmp(t->layers[at].name, name) == 0) return at;
    }
}

/* ---- resolving inputs --------------------------------------------------------- */

/* Names are looked up in the layer's repeat scope first, then outwards:
 * inside "stage1.block2.", `conv1` means stage1.block2.conv1 if it exists. */
static int resolve(name_table *t, const char *scope, const char *name) {
    size_t scope_length = strlen(scope);
    char *candidate = malloc(scope_length + strlen(name) + 1);
    if (!candidate) return -3;
    int found = -1;
    for (;;) {
        memcpy(candidate, scope, scope_length);
        strcpy(candidate + scope_length, name);
        found = table_lookup(t, candidate, -1);
        if (found >= 0 || scope_length == 0) break;
        /* drop the innermost "xxx." */
        scope_length--;
        while (scope_length > 0 && scope[scope_length - 1] != '.') scope_length--;
    }
    free(candidate);
    return found;
}

static int unknown_input(const cr_model *model, const cr_layer *layer, int i, cr_error *err) {
    const char *name = layer->input_names[i];
    const char **names = malloc((size_t)model->n_layers * sizeof *names);
    const char *near = NULL;
    if (names) {
        for (int j = 0; j < model->n_layers; j++) names[j] = model->layers[j].name;
        near = cr_suggest(name, names, model->n_layers);
    }
    cr_fail(err, CR_ERR_INVALID, layer->input_marks[i], layer->name,
            "input '%s' is not the name of any layer%s%s%s (unnamed layers are called "
            "<type><n>, e.g. conv1; 'input' is the network input)",
            name, near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "");
    free(names);
    return 1;
}

static int resolve_inputs(cr_model *model, name_table *t, cr_error *err) {
    for (int i = 0; i < model->n_layers; i++) {
        cr_layer *layer = &model->layers[i];
        int first = table_lookup(t, layer->name, i);
        if (first >= 0)
            return cr_fail(err, CR_ERR_INVALID, layer->mark, layer->name,
                           "duplicate layer name '%s' (also used by the %s layer at line %d)",
                           layer->name, model->layers[first].kind->name,
                           model->layers[first].mark.line);
    }
    for (int i = 0; i < model->n_layers; i++) {
        cr_layer *layer = &model->layers[i];
        for (int k = 0; k < layer->n_inputs; k++) {
            const char *name = layer->input_names[k];
            if (!name) {
                layer->inputs[k] = i - 1; /* the previous layer, or the network input */
                continue;
            }
            if (strcmp(name, "input") == 0) {
                layer->inputs[k] = -1;
                continue;
            }
            int found = resolve(t, layer->scope, name);
            if (found == -3)
                return cr_fail(err, CR_ERR_RUNTIME, layer->mark, NULL, "out of memory");
            if (found < 0) return unknown_input(model, layer, k, err);
            layer->inputs[k] = found;
        }
    }
    return 0;
}

/* ---- order ----------------------------------------------------------------------- */

static int report_cycle(const cr_model *model, const int *done, cr_error *err) {
    /* Every layer not done has an input that is not done: walk those until a
     * layer repeats, then print the loop. */
    int start = 0;
    while (done[start]) start++;
    int *seen_at = malloc((size_t)model->n_layers * sizeof *seen_at);
    int *path = malloc((size_t)(model->n_layers + 1) * sizeof *path);
    if (!seen_at || !path) {
        free(seen_at);
        free(path);
        return cr_fail(err, CR_ERR_RUNTIME, (cr_mark){0}, NULL, "out of memory");
    }
    for (int i = 0; i < model->n_layers; i++) seen_at[i] = -1;
    int length = 0, at = start;
    while (seen_at[at] < 0) {
        seen_at[at] = length;
        path[length++] = at;
        const cr_layer *layer = &model->layers[at];
        int next = -1;
        for (int k = 0; k < layer->n_inputs && next < 0; k++)
            if (layer->inputs[k] >= 0 && !done[layer->inputs[k]]) next = layer->inputs[k];
        at = next;
    }
    char loop[768] = "";
    /* path[seen_at[at]..] is the loop, each entry reading from the next: print
     * it in data-flow order (producer -> consumer). */
    for (int i = length - 1; i >= seen_at[at]; i--)
        snprintf(loop + strlen(loop), sizeof loop - strlen(loop), "%s -> ",
                 model->layers[path[i]].name);
    snprintf(loop + strlen(loop), sizeof loop - strlen(loop), "%s",
             model->layers[path[length - 1]].name);
    const cr_layer *culprit = &model->layers[at];
    cr_fail(err, CR_ERR_INVALID, culprit->mark, culprit->name,
            "the layers' inputs form a cycle: %s (each layer's input must be computed before "
            "it)",
            loop);
    free(seen_at);
    free(path);
    return 1;
}

static int order_layers(cr_model *model, cr_error *err) {
    int n = model->n_layers;
    size_t slots = n > 0 ? (size_t)n : 1;
    int *pending = calloc(slots, sizeof *pending); /* inputs not yet placed */
    int *done = calloc(slots, sizeof *done);
    int *order = malloc(slots * sizeof *order);
    int *position = malloc(slots * sizeof *position);
    /* consumers of each layer, as a CSR list */
    int *first = calloc((size_t)n + 1, sizeof *first);
    int edges = 0;
    for (int i = 0; i < n; i++) edges += model->layers[i].n_inputs;
    int *consumers = malloc((size_t)(edges ? edges : 1) * sizeof *consumers);
    cr_layer *sorted = malloc((size_t)(n ? n : 1) * sizeof *sorted);
    int status = 0;
    if (!pending || !done || !order || !position || !first || !consumers || !sorted) {
        status = cr_fail(err, CR_ERR_RUNTIME, (cr_mark){0}, NULL, "out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < model->layers[i].n_inputs; k++) {
            int from = model->layers[i].inputs[k];
            if (from >= 0) {
                first[from + 1]++;
                pending[i]++;
            }
        }
    for (int i = 0; i < n; i++) first[i + 1] += first[i];
    int *fill = calloc((size_t)n, sizeof *fill);
    if (!fill) {
        status = cr_fail(err, CR_ERR_RUNTIME, (cr_mark){0}, NULL, "out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < model->layers[i].n_inputs; k++) {
            int from = model->layers[i].inputs[k];
            if (from >= 0) consumers[first[from] + fill[from]++] = i;
        }
    free(fill);

    /* A file that lists every layer after its inputs runs in its own order:
     * the parameters then come in the order the file gives them (the
     * torchvision models' state_dict() order). Otherwise Kahn's algorithm,
     * a FIFO seeded in file order. `order` doubles as the queue. */
    int head = 0, tail = 0;
    bool in_file_order = true;
    for (int i = 0; i < n && in_file_order; i++)
        for (int k = 0; k < model->layers[i].n_inputs; k++)
            if (model->layers[i].inputs[k] >= i) in_file_order = false;
    if (in_file_order) {
        for (int i = 0; i < n; i++) order[i] = i;
        head = tail = n;
    }
    for (int i = 0; i < n && !in_file_order; i++)
        if (pending[i] == 0) order[tail++] = i;
    while (head < tail) {
        int at = order[head++];
        done[at] = 1;
        for (int e = first[at]; e < first[at + 1]; e++)
            if (--pending[consumers[e]] == 0) order[tail++] = consumers[e];
    }
    if (tail < n) {
        status = report_cycle(model, done, err);
        goto out;
    }
    for (int i = 0; i < n; i++) position[order[i]] = i;
    for (int i = 0; i < n; i++) {
        sorted[i] = model->layers[order[i]];
        for (int k = 0; k < sorted[i].n_inputs; k++)
            if (sorted[i].inputs[k] >= 0) sorted[i].inputs[k] = position[sorted[i].inputs[k]];
    }
    memcpy(model->layers, sorted, (size_t)n * sizeof *sorted);
    model->output = position[n - 1];
out:
    free(pending);
    free(done);
    free(order);
    free(position);
    free(first);
    free(consumers);
    free(sorted);
    return status;
}

static int check_uses(cr_model *model, cr_error *err) {
    for (int i = 0; i < model->n_layers; i++)
        for (int k = 0; k < model->layers[i].n_inputs; k++)
            if (model->layers[i].inputs[k] >= 0)
                model->layers[model->layers[i].inputs[k]].used = true;
    model->layers[model->output].used = true;
    for (int i = 0; i < model->n_layers; i++) {
        cr_layer *layer = &model->layers[i];
        if (layer->kind->outputs_probabilities && i != model->output)
            return cr_fail(err, CR_ERR_INVALID, layer->mark, layer->name,
                           "%s must be the last layer (the network's output)%s: training "
                           "fuses it with the cross-entropy loss",
                           layer->kind->name, layer->used ? " and nothing may read it" : "");
        if (!layer->used)
            cr_warn(&model->warnings, layer->mark, layer->name,
                    "its output is never used (no layer names it as input and it is not the "
                    "last layer)");
    }
    return 0;
}

int cr_graph_build(cr_model *model, cr_error *err) {
    name_table table;
    if (table_init(&table, model->layers, model->n_layers))
        return cr_fail(err, CR_ERR_RUNTIME, (cr_mark){0}, NULL, "out of memory");
    int status = resolve_inputs(model, &table, err);
    free(table.slots);
    if (status || order_layers(model, err)) return 1;
    return check_uses(model, err);
}
