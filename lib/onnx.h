/* Model exchange with ONNX (https://onnx.ai): export a network with its
 * weights, and import graphs of the operators cnnrun's layers map to.
 *
 * The protobuf code comes from Debian's onnx.proto through protoc-c at build
 * time; each layer kind declares its own mapping (lib/onnx_build.h), and the
 * importer's operator table lives in lib/onnx_import.c. */
#ifndef CNNRUN_ONNX_H
#define CNNRUN_ONNX_H

#include <stddef.h>
#include <stdint.h>

#include "cnnrun.h"
#include "layer.h"

#define CR_ONNX_DEFAULT_OPSET 13

typedef struct cr_onnx_export_options {
    int opset; /* 13 (IR 7) or 17 (IR 8); 0: 13 */
    int batch; /* the input's first dimension; 0: dynamic ("N") */
} cr_onnx_export_options;

/* The network in evaluation form (dropout removed, batchnorm with its
 * running statistics, softmax kept as the output) with its current
 * parameters as initializers named as in its safetensors files. Input
 * `input` [N, C, H, W]; outputs `probabilities` and `logits` when the
 * network ends in softmax, else `output`. Written atomically. */
int cr_onnx_export(cr_net *net, const cr_onnx_export_options *options, const char *path,
                   cr_error *err);

/* An imported model: the model file's text (format v1) and its weights. */
typedef struct cr_onnx_tensor {
    char *name; /* `<layer>.<suffix>`, as the model's parameters are named */
    int ndim;
    int64_t dims[CR_MAX_DIMS];
    int64_t count;
    float *data;
} cr_onnx_tensor;

typedef struct cr_onnx_import {
    char *yaml;
    int n_tensors;
    cr_onnx_tensor *tensors;
} cr_onnx_import;

/* Reads an ONNX model from memory: checks the file (IR version, opsets,
 * sizes, initializers, order), maps its nodes to layers and checks the
 * resulting model with cnnrun's own shape inference. `source` names the
 * file in messages. Anything that has no cnnrun layer is refused with the
 * node's name, operator and why. */
int cr_onnx_import_buffer(const uint8_t *data, size_t length, const char *source,
                          cr_onnx_import *out, cr_error *err);
/* Same, from a file (at most 2 GiB: larger models keep their weights as
 * external data, which is refused). */
int cr_onnx_import_file(const char *path, cr_onnx_import *out, cr_error *err);
/* Writes the model file and (when weights_path is not NULL) the weights as
 * safetensors, both atomically. */
int cr_onnx_import_save(const cr_onnx_import *imported, const char *yaml_path,
                        const char *weights_path, cr_error *err);
void cr_onnx_import_free(cr_onnx_import *imported);

#endif
