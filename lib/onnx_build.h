/* What a layer kind sees when the network is exported to ONNX
 * (lib/onnx_export.c): a small builder that adds nodes, attributes and
 * initializers to the graph being written, so that each kind declares its
 * own mapping (its cr_layer_kind's export_onnx) without seeing protobuf-c.
 *
 * A kind's export_onnx adds the nodes computing its layer in evaluation
 * form, reading the values cr_onnx_input names and writing cr_onnx_output
 * last. Values are named after layers; helper values a layer needs in
 * between are "<layer>/<suffix>" (cr_onnx_value). The first node a layer
 * adds with a NULL suffix is named after the layer (Netron shows it so).
 *
 * Ranks: ONNX Gemm and Flatten give [N, K] where cnnrun says [K, 1, 1].
 * The builder tracks each value's rank (2 or 4); a kind that needs
 * [N, C, H, W] asks for cr_onnx_input_4d, and one whose result is [N, K]
 * says so with cr_onnx_set_output_rank. */
#ifndef CNNRUN_ONNX_BUILD_H
#define CNNRUN_ONNX_BUILD_H

#include <stdint.h>

#include "layer.h"

typedef struct cr_onnx_builder cr_onnx_builder;
typedef struct cr_onnx_node cr_onnx_node;

/* The operator set the file declares (13 or 17). */
int cr_onnx_opset(const cr_onnx_builder *b);

/* The value holding the layer's i-th input, as produced (rank 2 or 4). */
const char *cr_onnx_input(cr_onnx_builder *b, int i);
int cr_onnx_input_rank(const cr_onnx_builder *b, int i);
/* ... as [N, C, H, W]: a [N, K] value gets a Reshape to [N, K, 1, 1]. */
const char *cr_onnx_input_4d(cr_onnx_builder *b, int i);

/* Every input, as produced when all have the same rank, else each as
 * [N, C, H, W]; *rank says which (add, concat). */
const char *const *cr_onnx_inputs_same_rank(cr_onnx_builder *b, int *rank);

/* The name the layer's result must have (its last node's output). */
const char *cr_onnx_output(cr_onnx_builder *b);
/* The result is [N, K] (default: [N, C, H, W]). */
void cr_onnx_set_output_rank(cr_onnx_builder *b, int rank);
/* The layer computes nothing in evaluation form (dropout): its output is
 * `value`, and no node is added. */
void cr_onnx_alias(cr_onnx_builder *b, const char *value);

/* A helper value "<layer>/<suffix>". */
const char *cr_onnx_value(cr_onnx_builder *b, const char *suffix);

/* Adds node `op` named after the layer (suffix NULL) or "<layer>/<suffix>",
 * reading the n_inputs values that follow and writing `output`. */
cr_onnx_node *cr_onnx_node_add(cr_onnx_builder *b, const char *op, const char *suffix,
                               const char *output, int n_inputs, ...);
/* Same, for a list of inputs. */
cr_onnx_node *cr_onnx_node_add_list(cr_onnx_builder *b, const char *op, const char *suffix,
                                    const char *output, int n_inputs, const char *const *inputs);
void cr_onnx_attr_int(cr_onnx_builder *b, cr_onnx_node *node, const char *name, int64_t value);
void cr_onnx_attr_ints(cr_onnx_builder *b, cr_onnx_node *node, const char *name, int count,
                       const int64_t *values);
void cr_onnx_attr_float(cr_onnx_builder *b, cr_onnx_node *node, const char *name, float value);
void cr_onnx_attr_string(cr_onnx_builder *b, cr_onnx_node *node, const char *name,
                         const char *value);

/* The initializer holding the layer's params[index], named as in the
 * safetensors file (`c1.weight`). */
const char *cr_onnx_param(cr_onnx_builder *b, int index);
/* ... with other dimensions of the same size (PRelu's [C] slope as
 * [C, 1, 1], to broadcast over [N, C, H, W]). */
const char *cr_onnx_param_reshaped(cr_onnx_builder *b, int index, int ndim, const int64_t *dims);
/* A float initializer "<layer>/<suffix>" (constants of a decomposition). */
const char *cr_onnx_floats(cr_onnx_builder *b, const char *suffix, int ndim, const int64_t *dims,
                           const float *values);
/* An int64 initializer "<layer>/<suffix>" of `count` values (shapes, axes). */
const char *cr_onnx_int64s(cr_onnx_builder *b, const char *suffix, int count,
                           const int64_t *values);

/* The nodes for y = f(x) of a fused or stand-alone activation (`param`:
 * leaky_relu's slope, elu's alpha); `suffix` names the node (NULL: the
 * layer's own name). */
int cr_onnx_activation(cr_onnx_builder *b, cr_activation activation, float param, const char *x,
                       const char *y, const char *suffix);

/* Conv/pool geometry as ONNX attributes: kernel_shape, strides, pads
 * [top, left, bottom, right] (symmetric). */
void cr_onnx_window_attrs(cr_onnx_builder *b, cr_onnx_node *node, const int kernel[2],
                          const int stride[2], const int padding[2]);

/* A mapping the exporter cannot express: the export fails with this reason,
 * naming the layer. Returns 1. */
int cr_onnx_refuse(cr_onnx_builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
