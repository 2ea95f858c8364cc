/* cnnrun's library API: load a model, build a network, run it forward and
 * backward, read and write its parameters, save and load weights.
 *
 *   cr_model *model;  cr_error err;
 *   if (cr_model_load("models/lenet5.yaml", &model, &err)) { ...report err... }
 *   cr_net *net;
 *   cr_net_options options = {.seed = 0, .training = true};
 *   if (cr_net_create(model, 64, &options, &net, &err)) { ... }
 *   memcpy(cr_net_input(net), images, ...);         // [N, C, H, W] floats
 *   cr_net_forward(net, true);                       // training mode
 *   float loss = cr_net_cross_entropy(net, labels);  // mean over the batch
 *   cr_net_backward(net);                            // parameter gradients
 *   ... optimizer step over cr_net_param(net, i) ...
 *   cr_net_free(net); cr_model_free(model);
 *
 * The library never prints and never exits; failures come back as cr_error. */
#ifndef CNNRUN_H
#define CNNRUN_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "model.h"

typedef struct cr_net cr_net;

typedef struct cr_net_options {
    uint64_t seed;   /* parameter initialisation and dropout */
    bool training;   /* plan memory for backward (gradients, saved tensors) */
    bool input_grad; /* also compute the gradient with respect to the input */
    /* Evaluation-mode forwards run conv → batchnorm (→ relu) as one pass:
     * the conv applies the batchnorm's running-statistics affine map and
     * the relu in its output pass. The conv's and batchnorm's own outputs
     * are then not written (only the chain's last), so leave it off where
     * intermediate outputs are read (features, apply). Results differ from
     * the unfused layers by float rounding. */
    bool fuse_inference;
} cr_net_options;

/* Plans every buffer for up to `max_batch` images once, and initialises the
 * parameters (PyTorch's defaults from `seed`, or the model's inline values). */
int cr_net_create(const cr_model *model, int max_batch, const cr_net_options *options, cr_net **out,
                  cr_error *err);
void cr_net_free(cr_net *net);

const cr_model *cr_net_model(const cr_net *net);
int cr_net_max_batch(const cr_net *net);
/* Images in the next forward/backward (1..max_batch); default max_batch. */
void cr_net_set_batch(cr_net *net, int batch);
int cr_net_batch(const cr_net *net);
/* Bytes the network allocated (equals cr_model_memory's figure minus the
 * optimizer state, which the trainer owns). */
int64_t cr_net_allocated_bytes(const cr_net *net);

/* [batch, C, H, W] of the model's input shape. */
float *cr_net_input(cr_net *net);
const float *cr_net_input_grad(const cr_net *net); /* NULL unless options.input_grad */

/* Forward through every layer; `training` selects dropout/batchnorm mode. */
void cr_net_forward(cr_net *net, bool training);
/* The network output, [batch, C, H, W] of the last layer's shape. */
const float *cr_net_output(const cr_net *net);
/* Any layer's output, by index in cr_model.layers. */
float *cr_net_layer_output(cr_net *net, int layer);
/* Where a layer's output gradient lives during backward. Layers whose
 * gradients are never alive at the same time share this memory
 * (cr_model_plan_gradients), so after backward it may hold another layer's. */
float *cr_net_layer_grad(cr_net *net, int layer);
/* What a layer kept from its last forward for backward (diagnostics). */
const float *cr_net_layer_saved(const cr_net *net, int layer);

/* Mean cross-entropy of the logits against labels[batch] (the logits are the
 * input of a final softmax layer, else the output itself), computed stably
 * as log-sum-exp. Also sets the gradient the next cr_net_backward uses:
 * (softmax(logits) − onehot) / batch. labels must be in [0, classes). */
double cr_net_cross_entropy(cr_net *net, const int *labels);
/* For other losses: the caller writes d(loss)/d(output) here, then calls
 * cr_net_backward. */
float *cr_net_output_grad(cr_net *net);

/* Backward through every layer: fills parameter gradients (overwritten each
 * call) and, if planned, the input gradient. Uses the gradient set by
 * cr_net_cross_entropy, or by the caller through cr_net_output_grad. */
void cr_net_backward(cr_net *net);

/* Per-layer wall time, for profiling: while set, cr_net_forward and
 * cr_net_backward ADD each layer's seconds to forward_seconds[i] and
 * backward_seconds[i] (arrays of the model's n_layers, indexed as
 * cr_model.layers; NULL turns a pass's timing off). The fused softmax +
 * cross-entropy gradient counts as the softmax layer's backward; zeroing the
 * activation gradients before backward counts for no layer. */
void cr_net_set_layer_times(cr_net *net, double *forward_seconds, double *backward_seconds);

/* Parameters and buffers, in layer order, named as PyTorch's state_dict
 * (`c1.weight`, `bn1.running_mean`). grad is NULL for buffers and frozen
 * parameters. */
typedef struct cr_tensor {
    const char *name;
    int ndim;
    int dims[CR_MAX_DIMS];
    int64_t count;
    float *data;
    float *grad;
    bool trainable;
    bool is_buffer;
} cr_tensor;

int cr_net_param_count(const cr_net *net);
/* Inference keeps what it derives from the parameters (Winograd's
 * transformed weights, a fused batchnorm's affine map) from one evaluation
 * forward to the next. cr_net_param, cr_net_param_block, loading weights and
 * a training forward all make the next evaluation forward recompute them;
 * after writing parameters through a pointer obtained before an evaluation
 * forward, call cr_net_params_changed. */
void cr_net_params_changed(cr_net *net);
cr_tensor cr_net_param(cr_net *net, int index);
/* All trainable parameters and their gradients are each one contiguous block
 * (for optimizers and all-reduce): */
float *cr_net_param_block(cr_net *net, int64_t *count);
float *cr_net_grad_block(cr_net *net, int64_t *count);

/* Dropout's random stream (saved in checkpoints for exact resumes). */
uint64_t cr_net_rng_state(const cr_net *net);
void cr_net_set_rng_state(cr_net *net, uint64_t state);

/* Weights as safetensors, PyTorch state_dict names and layouts. Loading
 * checks every name, shape and dtype and names what is wrong. */
int cr_net_save_weights(const cr_net *net, const char *path, cr_error *err);
int cr_net_load_weights(cr_net *net, const char *path, cr_error *err);

#endif
