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
 * The library never prints and never exits; failures come back as cr_error.
 *
 * This header is the installed one (include/cnnrun/cnnrun.h, `#include
 * <cnnrun.h>` with pkg-config's or CMake's flags): it needs only the C
 * standard headers, compiles as C99 and later and as C++, and shows models
 * and networks as opaque handles. Everything else in lib/ is private. */
#ifndef CNNRUN_H
#define CNNRUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the shared library exports; it is built with hidden visibility, so
 * the private modules' functions stay inside it. */
#if defined(__GNUC__) || defined(__clang__)
#define CR_API __attribute__((visibility("default")))
#else
#define CR_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ---------------------------------------------------------------- */

/* A position in a model file; line and column count from 1. line == 0 means
 * "no position" (e.g. an error about a whole file). */
typedef struct cr_mark {
    const char *file;
    int line;
    int column;
} cr_mark;

typedef enum cr_error_kind {
    CR_OK = 0,
    CR_ERR_INVALID = 1, /* bad model, data or weights: exit 1 */
    CR_ERR_IO = 2,      /* unreadable input file: exit 2 */
    CR_ERR_USAGE = 3,   /* bad command line: exit 2 */
    CR_ERR_RUNTIME = 4, /* a run that failed (NaN, out of memory): exit 1 */
} cr_error_kind;

/* Filled by every function that can fail (which then returns non-zero). */
typedef struct cr_error {
    cr_error_kind kind;
    cr_mark mark; /* mark.file points at `file` below: errors outlive models */
    char file[512];
    char layer[128];
    char message[1024];
} cr_error;

/* `FILE:LINE:COL: layer 'NAME': message`, leaving out the parts that are unset. */
CR_API void cr_error_format(const cr_error *err, char *out, size_t size);
/* Exit code a command should use for this error (0, 1 or 2). */
CR_API int cr_error_exit_code(const cr_error *err);

/* ---- models ---------------------------------------------------------------- */

#define CR_MAX_DIMS 4

/* Shape of one image's activation: channels, height, width. Dense and
 * flatten outputs are [units, 1, 1]. */
typedef struct cr_shape {
    int c, h, w;
} cr_shape;

/* A model: the checked description of a network (layers, shapes, counts),
 * before any memory for running it exists. */
typedef struct cr_model cr_model;

/* Load, check and infer shapes. On error *out is NULL. */
CR_API int cr_model_load(const char *path, cr_model **out, cr_error *err);
/* The same from a YAML text; file_name is what errors name. */
CR_API int cr_model_load_text(const char *text, size_t length, const char *file_name,
                              cr_model **out, cr_error *err);
CR_API void cr_model_free(cr_model *model);

CR_API const char *cr_model_name(const cr_model *model);
CR_API cr_shape cr_model_input_shape(const cr_model *model);
/* Shape of the network's output (one image); c·h·w is the class count of a
 * classifier. */
CR_API cr_shape cr_model_output_shape(const cr_model *model);
/* Re-infers every shape for another input size (e.g. a smaller image for a
 * quick gradient check); warnings are collected afresh. */
CR_API int cr_model_set_input(cr_model *model, cr_shape input, cr_error *err);

/* Layers in execution order: index 0 .. cr_model_layer_count − 1. */
CR_API int cr_model_layer_count(const cr_model *model);
CR_API const char *cr_model_layer_name(const cr_model *model, int layer);
CR_API const char *cr_model_layer_kind(const cr_model *model, int layer); /* "conv", ... */
CR_API cr_shape cr_model_layer_shape(const cr_model *model, int layer);
/* Index of the layer called `name`, or −1. */
CR_API int cr_model_find_layer(const cr_model *model, const char *name);

/* Weights and biases as PyTorch's parameters() counts them (running
 * statistics not included), and multiply-accumulates per image. */
CR_API int64_t cr_model_parameter_count(const cr_model *model);
CR_API int64_t cr_model_macs(const cr_model *model);

/* What loading noticed but accepted (e.g. pixels a pooling drops), each
 * formatted as `FILE:LINE:COL: layer 'NAME': what`. */
CR_API int cr_model_warning_count(const cr_model *model);
CR_API void cr_model_warning_format(const cr_model *model, int index, char *out, size_t size);

/* Memory to train at a batch size, as the runtime will allocate it (bytes). */
typedef struct cr_memory {
    int64_t parameters;  /* parameters and buffers */
    int64_t gradients;   /* one per trainable parameter */
    int64_t optimizer;   /* optimizer state: `optimizer_slots` per trainable parameter */
    int64_t activations; /* every layer output for the batch (and the input) */
    int64_t activation_gradients;
    int64_t saved;     /* what layers keep from forward for backward */
    int64_t workspace; /* largest scratch any layer needs */
    int64_t constants; /* inference: what layers keep between forwards (eval_constants) */
    int64_t total;
} cr_memory;

/* Training memory at `batch`; optimizer_slots is 1 for SGD with momentum, 2
 * for Adam. Inference (no gradients) when `training` is false. */
CR_API cr_memory cr_model_memory(const cr_model *model, int batch, bool training,
                                 int optimizer_slots);

/* ---- networks -------------------------------------------------------------- */

typedef struct cr_net cr_net;

typedef struct cr_net_options {
    uint64_t seed;   /* parameter initialisation and dropout */
    bool training;   /* plan memory for backward (gradients, saved tensors) */
    bool input_grad; /* also compute the gradient with respect to the input */
    /* Evaluation-mode forwards run conv → batchnorm (→ relu or relu6) as
     * one pass: the conv applies the batchnorm's running-statistics affine
     * map and the activation in its output pass. The conv's and batchnorm's own outputs
     * are then not written (only the chain's last), so leave it off where
     * intermediate outputs are read (features, apply). Results differ from
     * the unfused layers by float rounding. */
    bool fuse_inference;
    /* Training forwards run batchnorm → relu and add → relu (or relu6) as
     * one pass: the batchnorm (add) writes the relu's output, and backward
     * applies the relu's mask while it reads the gradient. The batchnorm's
     * (add's) own output is then not written, so leave it off where it is
     * read (per-layer dumps). The results are those of the unfused layers,
     * bit for bit. */
    bool fuse_training;
} cr_net_options;

/* Plans every buffer for up to `max_batch` images once, and initialises the
 * parameters (PyTorch's defaults from `seed`, or the model's inline values). */
CR_API int cr_net_create(const cr_model *model, int max_batch, const cr_net_options *options,
                         cr_net **out, cr_error *err);
CR_API void cr_net_free(cr_net *net);

CR_API const cr_model *cr_net_model(const cr_net *net);
CR_API int cr_net_max_batch(const cr_net *net);
/* Images in the next forward/backward (1..max_batch); default max_batch. */
CR_API void cr_net_set_batch(cr_net *net, int batch);
CR_API int cr_net_batch(const cr_net *net);
/* Bytes the network allocated (equals cr_model_memory's figure minus the
 * optimizer state, which the trainer owns). */
CR_API int64_t cr_net_allocated_bytes(const cr_net *net);

/* [batch, C, H, W] of the model's input shape. */
CR_API float *cr_net_input(cr_net *net);
CR_API const float *cr_net_input_grad(const cr_net *net); /* NULL unless options.input_grad */

/* Forward through every layer; `training` selects dropout/batchnorm mode. */
CR_API void cr_net_forward(cr_net *net, bool training);
/* The network output, [batch, C, H, W] of the last layer's shape. */
CR_API const float *cr_net_output(const cr_net *net);
/* Any layer's output, by layer index (cr_model_layer_name's). */
CR_API float *cr_net_layer_output(cr_net *net, int layer);
/* Where a layer's output gradient lives during backward. Layers whose
 * gradients are never alive at the same time share this memory, so after
 * backward it may hold another layer's. */
CR_API float *cr_net_layer_grad(cr_net *net, int layer);
/* What a layer kept from its last forward for backward (diagnostics). */
CR_API const float *cr_net_layer_saved(const cr_net *net, int layer);

/* Mean cross-entropy of the logits against labels[batch] (the logits are the
 * input of a final softmax layer, else the output itself), computed stably
 * as log-sum-exp. Also sets the gradient the next cr_net_backward uses:
 * (softmax(logits) − onehot) / batch. labels must be in [0, classes). */
CR_API double cr_net_cross_entropy(cr_net *net, const int *labels);
/* The same against soft targets[batch, classes] (rows of probabilities,
 * such as mixup's λ·onehot(a) + (1 − λ)·onehot(b)), as PyTorch's
 * F.cross_entropy with probability targets; gradient (softmax − target) / batch. */
CR_API double cr_net_soft_cross_entropy(cr_net *net, const float *targets);
/* For other losses: the caller writes d(loss)/d(output) here, then calls
 * cr_net_backward. */
CR_API float *cr_net_output_grad(cr_net *net);

/* Backward through every layer: fills parameter gradients (overwritten each
 * call) and, if planned, the input gradient. Uses the gradient set by
 * cr_net_cross_entropy, or by the caller through cr_net_output_grad. */
CR_API void cr_net_backward(cr_net *net);

/* Per-layer wall time, for profiling: while set, cr_net_forward and
 * cr_net_backward ADD each layer's seconds to forward_seconds[i] and
 * backward_seconds[i] (arrays of cr_model_layer_count entries, by layer
 * index; NULL turns a pass's timing off). The fused softmax +
 * cross-entropy gradient counts as the softmax layer's backward; zeroing the
 * activation gradients before backward counts for no layer. */
CR_API void cr_net_set_layer_times(cr_net *net, double *forward_seconds, double *backward_seconds);

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

CR_API int cr_net_param_count(const cr_net *net);
/* Inference keeps what it derives from the parameters (Winograd's
 * transformed weights, a fused batchnorm's affine map) from one evaluation
 * forward to the next. cr_net_param, cr_net_param_block, loading weights and
 * a training forward all make the next evaluation forward recompute them;
 * after writing parameters through a pointer obtained before an evaluation
 * forward, call cr_net_params_changed. */
CR_API void cr_net_params_changed(cr_net *net);
CR_API cr_tensor cr_net_param(cr_net *net, int index);
/* All trainable parameters and their gradients are each one contiguous block
 * (for optimizers and all-reduce): */
CR_API float *cr_net_param_block(cr_net *net, int64_t *count);
CR_API float *cr_net_grad_block(cr_net *net, int64_t *count);

/* Dropout's random stream (saved in checkpoints for exact resumes). */
CR_API uint64_t cr_net_rng_state(const cr_net *net);
CR_API void cr_net_set_rng_state(cr_net *net, uint64_t state);

/* Weights as safetensors, PyTorch state_dict names and layouts. Loading
 * checks every name, shape and dtype and names what is wrong. */
CR_API int cr_net_save_weights(const cr_net *net, const char *path, cr_error *err);
CR_API int cr_net_load_weights(cr_net *net, const char *path, cr_error *err);

/* ---- prediction ------------------------------------------------------------ */

/* Class probabilities of one decoded image.
 *
 * pixels: bytes 0-255, interleaved HWC, row by row from the top:
 * pixels[(y * width + x) * channels + c], with channels 1 (grey), 2 (grey +
 * alpha), 3 (RGB) or 4 (RGBA; alpha is dropped): what stb_image, libpng and
 * libjpeg decode to. The image is converted to the model's input as
 * `cnnrun predict` converts image files: grey <-> RGB (grey from RGB by luma
 * 0.299 R + 0.587 G + 0.114 B), resized to the input's height and width,
 * scaled to [0, 1], then normalised per channel as (x - mean[c]) / std[c]
 * (one value per input channel; NULL: no normalisation). Weights that
 * `cnnrun train` wrote record the normalisation they were trained with:
 * cr_weights_normalization reads it.
 *
 * probabilities gets one float per model output: the output itself when
 * the model ends in softmax, else its softmax. Runs in evaluation mode on
 * the net's first batch slot (any batch size the net was created for); the
 * net's batch size is left as it was. */
CR_API int cr_predict_image(cr_net *net, const unsigned char *pixels, int height, int width,
                            int channels, const float *mean, const float *std, float *probabilities,
                            cr_error *err);

/* The normalisation a weights file records (`cnnrun info` shows it):
 * *channels values in mean[] and std[] (at most 4), or *channels 0 when the
 * file records none. */
CR_API int cr_weights_normalization(const char *path, int *channels, float mean[4], float std[4],
                                    cr_error *err);

/* ---- threads --------------------------------------------------------------- */

/* Threads for everything that follows; n ≤ 0 keeps the current setting
 * (default: every core, or OMP_NUM_THREADS). Also makes OpenBLAS
 * single-threaded, as every GEMM in cnnrun runs inside cnnrun's own threads
 * (cr_net_create does that part too). */
CR_API void cr_set_threads(int n);
/* The thread count layers plan their per-thread scratch for. */
CR_API int cr_threads(void);

#ifdef __cplusplus
}
#endif

#endif
