/* cnnrun draw (draw.h): the graph built with cgraph, laid out by dot and
 * rendered by libgvc's plugins (svg from the core plugin, png through
 * cairo). Graphviz reports problems through a callback, collected here:
 * the library never prints. */
#include "draw.h"

#include <graphviz/gvc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"

#define LABEL_SIZE 1024

/* ---- labels ----------------------------------------------------------------------- */

static void append(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void append(char *out, size_t size, const char *fmt, ...) {
    size_t used = strlen(out);
    if (used + 1 >= size) return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(out + used, size - used, fmt, args);
    va_end(args);
}

static void append_pair(char *out, size_t size, const int *pair) {
    if (pair[0] == pair[1])
        append(out, size, "%d", pair[0]);
    else
        append(out, size, "%d×%d", pair[0], pair[1]);
}

/* One key's value as the user would write it; false when it is not worth a
 * line (the default, or inline numbers shown by their shape). */
static bool format_key(const cr_layer *layer, const cr_key *key, char *out, size_t size) {
    const char *field = (const char *)layer->config + key->offset;
    bool given = cr_layer_has_key(layer, key->name) || key->required;
    out[0] = '\0';
    switch (key->type) {
    case CR_KEY_INT:
        append(out, size, "%d", *(const int *)field);
        return given;
    case CR_KEY_INT_PAIR:
        append_pair(out, size, (const int *)field);
        return given;
    case CR_KEY_PADDING:
        append_pair(out, size, ((const cr_padding *)field)->size);
        return given;
    case CR_KEY_FLOAT:
        append(out, size, "%g", (double)*(const float *)field);
        return given;
    case CR_KEY_BOOL:
        append(out, size, "%s", *(const bool *)field ? "true" : "false");
        return given;
    case CR_KEY_STRING:
        if (*(const char *const *)field) append(out, size, "%s", *(const char *const *)field);
        return given && *(const char *const *)field;
    case CR_KEY_ACTIVATION:
        append(out, size, "%s", cr_activation_name(*(const cr_activation *)field));
        return *(const cr_activation *)field != CR_ACT_NONE;
    case CR_KEY_TENSOR: {
        const cr_values *values = (const cr_values *)field;
        append(out, size, "inline");
        for (int d = 0; d < values->ndim; d++)
            append(out, size, "%s%d", d ? "×" : " ", values->dims[d]);
        return values->present;
    }
    case CR_KEY_BIAS:
        append(out, size, "%s", ((const cr_bias *)field)->enabled ? "true" : "false");
        return given;
    }
    return false;
}

static int64_t layer_parameters(const cr_layer *layer) {
    int64_t total = 0;
    for (int p = 0; p < layer->n_params; p++)
        if (!layer->params[p].is_buffer) total += layer->params[p].count;
    return total;
}

/* 61706 -> "61,706" */
static void grouped(int64_t value, char *out, size_t size) {
    char digits[32];
    snprintf(digits, sizeof digits, "%lld", (long long)value);
    size_t n = strlen(digits), used = 0;
    for (size_t i = 0; i < n && used + 2 < size; i++) {
        if (i > 0 && (n - i) % 3 == 0) out[used++] = ',';
        out[used++] = digits[i];
    }
    out[used] = '\0';
}

/* Settings a few to a line: "filters 16, kernel 3" / "padding 1, relu". */
#define SETTINGS_LINE 26

static void layer_label(const cr_layer *layer, const char *note, char *out, size_t size) {
    out[0] = '\0';
    append(out, size, "%s\n%s", layer->name, layer->kind->name);
    size_t line_start = strlen(out);
    for (int k = 0; k < layer->kind->n_keys; k++) {
        const cr_key *key = &layer->kind->keys[k];
        char value[128], piece[192];
        if (!format_key(layer, key, value, sizeof value)) continue;
        if (key->type == CR_KEY_ACTIVATION)
            snprintf(piece, sizeof piece, "%s", value); /* "relu" says it all */
        else
            snprintf(piece, sizeof piece, "%s %s", key->name, value);
        bool first = strlen(out) == line_start;
        if (first || strlen(out) - line_start + strlen(piece) + 2 > SETTINGS_LINE) {
            append(out, size, "\n");
            line_start = strlen(out);
        } else {
            append(out, size, ", ");
        }
        append(out, size, "%s", piece);
    }
    int64_t parameters = layer_parameters(layer);
    if (parameters > 0) {
        char count[32];
        grouped(parameters, count, sizeof count);
        append(out, size, "\n%s parameters", count);
    }
    if (note && note[0]) append(out, size, "\n%s", note);
}

static void shape_text(cr_shape shape, char *out, size_t size) {
    snprintf(out, size, "%d×%d×%d", shape.c, shape.h, shape.w);
}

/* ---- the graph --------------------------------------------------------------------- */

/* Graphviz's messages, kept for the error instead of going to stderr. */
static char graphviz_message[512];

static int keep_message(char *message) {
    snprintf(graphviz_message, sizeof graphviz_message, "%s", message);
    size_t n = strlen(graphviz_message);
    while (n > 0 && (graphviz_message[n - 1] == '\n' || graphviz_message[n - 1] == ' '))
        graphviz_message[--n] = '\0';
    return 0;
}

static void set(void *object, const char *name, const char *value) {
    agsafeset(object, (char *)name, (char *)value, "");
}

/* The cluster of a repeat iteration, nested as the repeats are: scope
 * "stage2.block1." lives in cluster stage2 inside which is block1. */
static Agraph_t *scope_graph(Agraph_t *root, const cr_layer *layer) {
    Agraph_t *graph = root;
    const char *scope = layer->scope ? layer->scope : "";
    for (const char *dot = strchr(scope, '.'); dot; dot = strchr(dot + 1, '.')) {
        char name[600], label[700];
        int length = (int)(dot - scope);
        snprintf(name, sizeof name, "cluster_%.*s", length, scope);
        Agraph_t *child = agsubg(graph, name, 0);
        if (!child) {
            child = agsubg(graph, name, 1);
            const char *last = scope + length;
            while (last > scope && last[-1] != '.') last--;
            bool innermost = dot[1] == '\0';
            if (innermost && layer->repeat_count > 0)
                snprintf(label, sizeof label, "%.*s (repeat %d of %d)", (int)(dot - last), last,
                         layer->repeat_iteration, layer->repeat_count);
            else
                snprintf(label, sizeof label, "%.*s", (int)(dot - last), last);
            set(child, "label", label);
            set(child, "style", "rounded,dashed");
            set(child, "labeljust", "l");
        }
        graph = child;
    }
    return graph;
}

static Agnode_t *add_node(Agraph_t *graph, const char *id, const char *label, const char *shape) {
    Agnode_t *node = agnode(graph, (char *)id, 1);
    set(node, "label", label);
    set(node, "shape", shape);
    return node;
}

static void add_edge(Agraph_t *root, Agnode_t *from, Agnode_t *to, cr_shape shape) {
    char text[64];
    shape_text(shape, text, sizeof text);
    Agedge_t *edge = agedge(root, from, to, NULL, 1);
    set(edge, "label", text);
}

static Agraph_t *build_graph(const cr_model *model, const cr_draw_options *options) {
    Agraph_t *root = agopen((char *)"network", Agdirected, NULL);
    if (!root) return NULL;
    set(root, "rankdir", "TB");
    set(root, "fontname", "DejaVu Sans");
    set(root, "label", model->name);
    set(root, "labelloc", "t");
    agattr(root, AGNODE, (char *)"fontname", (char *)"DejaVu Sans");
    agattr(root, AGNODE, (char *)"fontsize", (char *)"11");
    agattr(root, AGEDGE, (char *)"fontname", (char *)"DejaVu Sans");
    agattr(root, AGEDGE, (char *)"fontsize", (char *)"10");
    char label[LABEL_SIZE], shape[64];
    shape_text(model->input, shape, sizeof shape);
    snprintf(label, sizeof label, "input\n%s", shape);
    Agnode_t *input = add_node(root, "input", label, "invhouse");
    Agnode_t **nodes = calloc((size_t)(model->n_layers ? model->n_layers : 1), sizeof *nodes);
    if (!nodes) {
        agclose(root);
        return NULL;
    }
    for (int i = 0; i < model->n_layers; i++) {
        const cr_layer *layer = &model->layers[i];
        layer_label(layer, options && options->notes ? options->notes[i] : NULL, label,
                    sizeof label);
        char id[32];
        snprintf(id, sizeof id, "layer%d", i);
        /* Merges stand out from the chain they join. */
        nodes[i] = add_node(scope_graph(root, layer), id, label,
                            layer->kind->multi_input ? "ellipse" : "box");
        if (!layer->kind->multi_input) set(nodes[i], "style", "rounded");
        for (int k = 0; k < layer->n_inputs; k++) {
            int from = layer->inputs[k];
            add_edge(root, from < 0 ? input : nodes[from], nodes[i],
                     from < 0 ? model->input : model->layers[from].out);
        }
    }
    if (model->n_layers > 0) {
        Agnode_t *output = add_node(root, "output", "output", "house");
        add_edge(root, nodes[model->output], output, model->layers[model->output].out);
    }
    free(nodes);
    return root;
}

char *cr_model_dot(const cr_model *model, const cr_draw_options *options) {
    agseterrf(keep_message);
    Agraph_t *graph = build_graph(model, options);
    if (!graph) return NULL;
    char *text = NULL;
    size_t length = 0;
    FILE *stream = open_memstream(&text, &length);
    if (stream) {
        agwrite(graph, stream);
        fclose(stream);
    }
    agclose(graph);
    return text;
}

/* One Graphviz context for the process, never freed: Graphviz 2.42's pango
 * plugin caches a font name owned by the context's text-span cache and
 * reads it again in the next context (a use after free that AddressSanitizer
 * reports on the second picture). Kept reachable, it is not a leak. */
static GVC_t *graphviz_context(void) {
    static GVC_t *context;
    if (!context) context = gvContext();
    return context;
}

int cr_model_draw(const cr_model *model, const cr_draw_options *options, const char *path,
                  cr_error *err) {
    const char *format = options && options->format ? options->format : "svg";
    if (strcmp(format, "svg") != 0 && strcmp(format, "png") != 0)
        return cr_fail_file(err, CR_ERR_USAGE, path, "cannot draw as '%s': svg or png", format);
    agseterrf(keep_message);
    graphviz_message[0] = '\0';
    GVC_t *context = graphviz_context();
    Agraph_t *graph = context ? build_graph(model, options) : NULL;
    char *data = NULL;
    unsigned int length = 0;
    int status = 1;
    if (graph && gvLayout(context, graph, "dot") == 0) {
        if (gvRenderData(context, graph, format, &data, &length) == 0 && data)
            status = cr_write_file_atomic(path, data, length, err);
        else
            cr_fail_file(err, CR_ERR_RUNTIME, path, "Graphviz could not render %s%s%s", format,
                         graphviz_message[0] ? ": " : "", graphviz_message);
        gvFreeRenderData(data);
        gvFreeLayout(context, graph);
    } else {
        cr_fail_file(err, CR_ERR_RUNTIME, path, "Graphviz could not lay out the graph%s%s",
                     graphviz_message[0] ? ": " : "", graphviz_message);
    }
    if (graph) agclose(graph);
    return status;
}
