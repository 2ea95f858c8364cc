/* The train section's `freeze:` list (see freeze.h). */
#include "freeze.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool matches(const char *pattern, const char *name) {
    return fnmatch(pattern, name, 0) == 0;
}

/* "c1, c2, out" (at most `shown` names, then "and N more"). */
static void layer_names(const cr_model *model, char *out, size_t size, int shown) {
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < model->n_layers && i < shown && used < size; i++)
        used +=
            (size_t)snprintf(out + used, size - used, "%s%s", i ? ", " : "", model->layers[i].name);
    if (model->n_layers > shown && used < size)
        snprintf(out + used, size - used, " and %d more", model->n_layers - shown);
}

/* The pattern must match some layer; else an error at it, with the nearest
 * name when the pattern is a plain name with a typo. */
static int check_pattern(const cr_model *model, const char *pattern, cr_mark mark, cr_error *err) {
    for (int i = 0; i < model->n_layers; i++)
        if (matches(pattern, model->layers[i].name)) return 0;
    const char **names = malloc((size_t)(model->n_layers ? model->n_layers : 1) * sizeof *names);
    const char *near = NULL;
    if (names) {
        for (int i = 0; i < model->n_layers; i++) names[i] = model->layers[i].name;
        near = cr_suggest(pattern, names, model->n_layers);
    }
    char list[1024];
    layer_names(model, list, sizeof list, 40);
    cr_fail(err, CR_ERR_INVALID, mark, NULL,
            "'freeze' pattern '%s' matches no layer%s%s%s (layers: %s)", pattern,
            near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "", list);
    free(names);
    return 1;
}

int cr_freeze_parse(cr_yaml *y, yaml_node_t *node, const cr_model *model, cr_freeze_list *out,
                    cr_error *err) {
    memset(out, 0, sizeof *out);
    if (cr_yaml_is_scalar(node))
        return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, node), NULL,
                       "'freeze' must be a list of layer names or globs, such as [c1, c2] or "
                       "['block*'], got '%s' (for one layer write [%s])",
                       cr_yaml_scalar(node), cr_yaml_scalar(node));
    int count;
    yaml_node_item_t *items;
    if (cr_yaml_sequence(y, node, NULL, "freeze", NULL, &count, &items, err)) return 1;
    if (count > CR_FREEZE_MAX)
        return cr_fail(err, CR_ERR_INVALID, cr_yaml_mark(y, node), NULL,
                       "'freeze' has %d patterns, at most %d: use globs ('block*')", count,
                       CR_FREEZE_MAX);
    for (int i = 0; i < count; i++) {
        yaml_node_t *item = yaml_document_get_node(&y->document, items[i]);
        const char *pattern;
        if (cr_yaml_string(y, item, NULL, "freeze", NULL, &pattern, err)) return 1;
        cr_mark mark = cr_yaml_mark(y, item);
        if (check_pattern(model, pattern, mark, err)) return 1;
        out->patterns[out->count] = pattern;
        out->marks[out->count++] = mark;
    }
    return 0;
}

bool cr_freeze_covers(const cr_freeze_list *list, const char *layer_name) {
    for (int i = 0; i < list->count; i++)
        if (matches(list->patterns[i], layer_name)) return true;
    return false;
}

void cr_model_freeze(cr_model *model, const cr_freeze_list *list) {
    for (int i = 0; i < model->n_layers; i++) {
        cr_layer *layer = &model->layers[i];
        if (!cr_freeze_covers(list, layer->name)) continue;
        layer->frozen = true;
        for (int p = 0; p < layer->n_params; p++) {
            cr_param *param = &layer->params[p];
            if (param->is_buffer || !param->trainable) continue;
            param->trainable = false;
            model->trainable_parameters -= param->count;
        }
    }
}

static bool has_trainable_params(const cr_layer *layer) {
    for (int p = 0; p < layer->n_params; p++)
        if (layer->params[p].trainable && !layer->params[p].is_buffer) return true;
    return false;
}

void cr_model_backward_wanted(const cr_model *model, bool input_grad, bool *wanted) {
    for (int i = 0; i < model->n_layers; i++) {
        const cr_layer *layer = &model->layers[i];
        bool needed = has_trainable_params(layer);
        for (int k = 0; k < layer->n_inputs && !needed; k++)
            needed = layer->inputs[k] < 0 ? input_grad : wanted[layer->inputs[k]];
        wanted[i] = needed;
    }
}

int cr_freeze_check_applied(const cr_model *model, const cr_freeze_list *list, cr_error *err) {
    for (int i = 0; i < model->n_layers; i++) {
        const cr_layer *layer = &model->layers[i];
        if (!layer->frozen && cr_freeze_covers(list, layer->name))
            return cr_fail(err, CR_ERR_USAGE, layer->mark, layer->name,
                           "the train section freezes this layer, but the model given to the "
                           "trainer was not frozen (cr_model_freeze)");
    }
    return 0;
}
