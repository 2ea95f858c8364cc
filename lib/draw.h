/* The network as a picture: one node per layer (its type, the settings the
 * file gives, its parameter count), the output shape on every edge, merges
 * (add, concat: kinds with several inputs) drawn as such, and each repeat
 * iteration as a labelled cluster. Laid out and rendered by Graphviz
 * (libgvc: the dot layout), written atomically. */
#ifndef CNNRUN_DRAW_H
#define CNNRUN_DRAW_H

#include "error.h"
#include "model.h"

typedef struct cr_draw_options {
    /* "svg" or "png" */
    const char *format;
    /* Optional, [n_layers]: one more line under a layer's parameter count
     * (NULL entries: none), e.g. its loaded weights' norm. */
    const char *const *notes;
} cr_draw_options;

/* The graph in Graphviz's DOT language (for tests and for users who want
 * to style it themselves); NULL when out of memory. Free with free(). */
char *cr_model_dot(const cr_model *model, const cr_draw_options *options);

/* Lays the graph out and writes it to `path` in options->format. */
int cr_model_draw(const cr_model *model, const cr_draw_options *options, const char *path,
                  cr_error *err);

#endif
