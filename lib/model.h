/* A model: the checked description of a network, before any memory for
 * running it exists.
 *
 *   spec.c   YAML -> layers with their configs (keys validated, repeats expanded)
 *   graph.c  names -> input indices, cycle check, execution order
 *   shape.c  shape inference, parameter/MAC counts, memory figures */
#ifndef CNNRUN_MODEL_H
#define CNNRUN_MODEL_H

#include "cnnrun.h"
#include "error.h"
#include "layer.h"
#include "yaml_util.h"

#define CR_MAX_LAYERS 100000

/* Names that checkpoints use for their own tensors: no layer may start with
 * it (checked by cr_model_load, so `check` refuses such a model). */
#define CR_RESERVED_NAME_PREFIX "__checkpoint__"
/* A model's or layer's name becomes a file or folder name (runs/NAME,
 * features' NAME.png): at most this many bytes. */
#define CR_MAX_NAME_BYTES 200
#define CR_MAX_NAME_TEXT  "200"

typedef struct cr_model {
    char *name;
    int format_version; /* the file's `version:` (1 when absent) */
    cr_shape input;
    cr_mark input_mark;
    int n_layers;
    int layer_capacity;
    cr_layer *layers; /* in execution order once cr_model_load returns */
    int output;       /* index of the layer whose output is the network's */

    /* The parsed file stays alive: `train:` is read by the trainer. */
    cr_yaml yaml;
    yaml_node_t *train; /* NULL when the file has no train section */

    cr_warnings warnings;

    /* Totals from shape inference. */
    int64_t parameters;           /* weights and biases, as PyTorch's parameters() */
    int64_t trainable_parameters; /* ... without the frozen ones */
    int64_t buffers;              /* running statistics */
    int64_t macs;                 /* per image */
    int64_t activations;          /* floats per image: input + every layer output */
} cr_model;

/* The public functions on models (loading, accessors, cr_model_memory) are
 * declared in cnnrun.h; what follows is for the library's own modules. */

/* The model-format versions this build reads (`version:`), oldest first. */
int cr_model_format_versions(const int **versions);

/* Where each layer's output gradient lives during backward, in floats from
 * the start of one block that gradients never alive at the same time share.
 * Backward runs the layers in reverse: layer i's gradient is born when its
 * last reader's backward writes into it (the output's and any unread
 * layer's: before backward starts) and dies after layer i's own backward
 * (an activation fused in training with its input passes its block on to
 * that input instead: cr_model_training_fusion).
 * Fills offsets[n_layers] and *born[n_layers] (the layer whose backward
 * first writes it, n_layers for "before backward"), returns the block's size
 * in floats; every piece starts 64-byte aligned. offsets/born may be NULL
 * (size only). */
int64_t cr_model_plan_gradients(const cr_model *model, int64_t batch, int64_t *offsets, int *born);

/* The activation layer (relu, relu6) that training may run as part of layer
 * `layer` (cr_layer_kind.trains_with_activation: batchnorm, add), or -1: the
 * activation is the only reader of `layer`, neither is the network output,
 * and the activation's derivative is a function of its output. The two
 * share one output gradient (cr_model_plan_gradients): the activation's
 * backward, when it runs on its own, turns it in place into the gradient of
 * `layer`'s output; fused, `layer`'s backward applies the mask itself. */
int cr_model_training_fusion(const cr_model *model, int layer);

/* Internal stages, in order (spec.c, graph.c, shape.c). */
int cr_spec_parse(cr_model *model, cr_error *err);
int cr_graph_build(cr_model *model, cr_error *err);
int cr_shape_infer(cr_model *model, cr_error *err);

#endif
