/* What a layer is, and what every layer kind provides.
 *
 * A layer kind (lib/layers/<kind>.c) supplies, through one cr_layer_kind
 * value listed in lib/layers/table.c:
 *   - its keys (the schema the spec loader validates and fills a config from),
 *   - its shape rule (infer: input shapes -> output shape, parameters, MACs,
 *     memory it needs at run time), run once before anything executes,
 *   - forward and backward functions that trust those shapes.
 * The spec loader, shape inference, the memory planner and the runtime know
 * nothing about particular kinds beyond this table. */
#ifndef CNNRUN_LAYER_H
#define CNNRUN_LAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define CR_MAX_PARAMS 4
#define CR_MAX_KEYS   16

/* cr_shape and CR_MAX_DIMS are public (cnnrun.h, through error.h). */
static inline int64_t cr_shape_size(cr_shape s) {
    return (int64_t)s.c * s.h * s.w;
}

typedef enum cr_activation {
    CR_ACT_NONE = 0,
    CR_ACT_RELU,
    CR_ACT_TANH,
    CR_ACT_SIGMOID,
    CR_ACT_LEAKY_RELU,
    CR_ACT_RELU6,       /* min(max(x, 0), 6) */
    CR_ACT_SILU,        /* x·σ(x) */
    CR_ACT_GELU,        /* x·Φ(x), exact (erf), PyTorch's default */
    CR_ACT_ELU,         /* x > 0 ? x : α(eˣ − 1) */
    CR_ACT_HARDSWISH,   /* x·relu6(x + 3)/6 */
    CR_ACT_HARDSIGMOID, /* relu6(x + 3)/6 */
} cr_activation;

/* Slope used by a fused `activation: leaky_relu` (PyTorch's default). */
#define CR_LEAKY_RELU_DEFAULT_SLOPE 0.01f
/* α used by a fused `activation: elu` (PyTorch's default). */
#define CR_ELU_DEFAULT_ALPHA 1.0f

/* The parameter a fused activation (conv's and dense's `activation:`) runs
 * with: leaky_relu's slope or elu's α, PyTorch's defaults; unused by the
 * others. */
static inline float cr_activation_fused_param(cr_activation activation) {
    return activation == CR_ACT_ELU ? CR_ELU_DEFAULT_ALPHA : CR_LEAKY_RELU_DEFAULT_SLOPE;
}

/* ---- keys (schema) -------------------------------------------------------- */

typedef enum cr_key_type {
    CR_KEY_INT,        /* int */
    CR_KEY_INT_PAIR,   /* int[2] {h, w}: `3` or `[3, 5]` */
    CR_KEY_PADDING,    /* cr_padding: int, [h, w], valid, same */
    CR_KEY_FLOAT,      /* float */
    CR_KEY_BOOL,       /* bool */
    CR_KEY_ACTIVATION, /* cr_activation */
    CR_KEY_TENSOR,     /* cr_values: nested lists of numbers */
    CR_KEY_BIAS,       /* cr_bias: `true`/`false`, or the bias values inline */
    CR_KEY_STRING,     /* const char *, NULL when absent (the text lives as long as the
                          model); the kind's shape rule checks it against its choices */
} cr_key_type;

typedef enum cr_padding_mode { CR_PAD_EXPLICIT = 0, CR_PAD_SAME } cr_padding_mode;

typedef struct cr_padding {
    cr_padding_mode mode;
    int size[2]; /* h, w; resolved from the kernel for `same` by the shape rule */
} cr_padding;

/* Numbers given inline in the YAML (fixed weights). `dims` is the nesting of
 * the lists, outermost first. */
typedef struct cr_values {
    bool present;
    int ndim;
    int dims[CR_MAX_DIMS];
    int64_t count;
    float *data;
    cr_mark mark;
} cr_values;

typedef struct cr_bias {
    bool enabled;
    cr_values values;
} cr_bias;

typedef struct cr_key {
    const char *name;
    cr_key_type type;
    size_t offset; /* of the field in the kind's config struct */
    bool required;
    double default_value; /* numbers, bools and enums; pairs get it twice */
    double min;           /* smallest allowed number (inclusive) */
    double max;           /* largest allowed number (inclusive) */
    /* One line for users: `cnnrun schema` puts it in the JSON Schema that
     * editors show on hover. Required (a test enforces it). */
    const char *description;
} cr_key;

#define CR_NO_LIMIT 1e300

/* ---- layers ---------------------------------------------------------------- */

typedef enum cr_init {
    CR_INIT_UNIFORM_FAN_IN = 0, /* U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's conv/linear
                                   default (kaiming-uniform a=sqrt(5)) and its bias rule */
    CR_INIT_ONES,
    CR_INIT_ZEROS,
    CR_INIT_VALUES,   /* from `values` (inline weights) */
    CR_INIT_CONSTANT, /* every element `constant` (PReLU's 0.25) */
} cr_init;

/* Where a layer's output is not differentiable in its input, so that a
 * gradient check can tell a step that crossed a kink from a wrong gradient. */
typedef enum cr_kinks {
    CR_SMOOTH = 0,
    CR_KINKS_AT_ZERO, /* relu-like: the kink is where the output crosses 0 */
    CR_KINKS_ARGMAX,  /* max-like: saved holds the int32 winner of each output */
} cr_kinks;

/* A parameter or buffer tensor of a layer, as PyTorch's state_dict names it:
 * `<layer>.<suffix>`. */
typedef struct cr_param {
    const char *suffix; /* "weight", "bias", "running_mean", "running_var" */
    int ndim;
    int dims[CR_MAX_DIMS];
    int64_t count;
    bool trainable; /* false: no gradient, optimizer leaves it alone */
    bool is_buffer; /* running statistics: state, not a parameter */
    cr_init init;
    int fan_in;
    const cr_values *values; /* for CR_INIT_VALUES */
    float constant;          /* for CR_INIT_CONSTANT */
} cr_param;

struct cr_layer_kind;
struct cr_onnx_builder;

typedef struct cr_layer {
    const struct cr_layer_kind *kind;
    char *name;
    char *scope;                    /* "block2." inside a repeat: names resolve here first */
    int repeat_iteration;           /* inside a repeat: its iteration (from 1) ... */
    int repeat_count;               /* ... of this many (the innermost repeat; 0 outside) */
    cr_mark mark;                   /* the layer's entry in the model file */
    cr_mark key_marks[CR_MAX_KEYS]; /* per schema key; line 0 when absent */
    void *config;                   /* the kind's own config struct */

    /* Graph: indices of input layers in cr_model.layers, -1 = network input.
     * input_names[i] is NULL where the input is implicit (the previous layer). */
    int n_inputs;
    int *inputs;
    char **input_names;
    cr_mark *input_marks;

    /* Filled by shape inference. */
    cr_shape out;
    int n_params;
    cr_param params[CR_MAX_PARAMS];
    int64_t macs;                 /* multiply-accumulates per image (conv, dense) */
    int64_t saved_per_image;      /* floats kept from forward to backward, per image */
    int64_t saved_fixed;          /* ... and independent of the batch size */
    int64_t workspace;            /* scratch floats during forward/backward (shared) ... */
    int64_t workspace_per_image;  /* ... plus this many per image of the batch */
    int64_t workspace_per_thread; /* ... plus this many for each thread (lib/parallel.h) */
    /* Floats an inference network keeps for the layer from one forward to
     * the next: values that depend on the parameters alone (Winograd's
     * transformed weights), computed once instead of every forward. */
    int64_t eval_constants;
    bool used; /* some layer (or the network output) reads it */
    /* The train section's `freeze:` covers it (lib/freeze.h): its
     * parameters are not trainable whatever its kind's keys say. */
    bool frozen;
    /* A conv or pooling window (cr_conv_geometry): kernel, stride and
     * padding per axis {h, w}; window 0 for layers without one. Receptive
     * fields and exact input sizes (lib/geometry.h) come from these. */
    int window[2], window_stride[2], window_padding[2];
    cr_kinks kinks; /* where the output is not differentiable */
} cr_layer;

/* What a layer's forward/backward sees at run time. Shapes come from the
 * layer (trusted: inference checked them); buffers are planned once.
 *
 * Conventions, for every kind:
 *   - forward writes y.
 *   - backward ACCUMULATES into dx[i] (dx[i] += ...), because one activation
 *     may feed several layers; the runtime zeroes activation gradients first
 *     (except where dx_assign says the layer overwrites instead).
 *     dx[i] is NULL when nobody needs that gradient (network input).
 *   - backward OVERWRITES dparam[i] (trainable parameters only; NULL for
 *     buffers and frozen parameters).
 *   - saved persists from forward to backward (saved_fixed + saved_per_image
 *     * batch floats, 64-byte aligned);
 *   - workspace is scratch shared by all layers (workspace +
 *     workspace_per_image * batch floats, then workspace_per_thread for
 *     each of `threads` threads); its contents do not survive from forward
 *     to backward.
 *   - dropout draws from *rng_state with cr_random_uniform (lib/random.h). */
typedef struct cr_step {
    int batch;
    bool training;
    const cr_layer *layer;
    const cr_shape *in_shapes; /* [n_inputs] */
    const float *const *x;     /* [n_inputs] */
    float **dx;                /* [n_inputs] */
    float *y;
    const float *dy;
    float *const *param;  /* [n_params] */
    float *const *dparam; /* [n_params] */
    float *saved;
    float *workspace;
    /* Inference networks only (NULL otherwise): the layer's eval_constants
     * floats, kept between forwards. constants_ready: they hold what the
     * current parameters give (the runtime clears it whenever the parameters
     * may have changed); when false, forward computes them first. */
    float *constants;
    bool constants_ready;
    /* The kind sets assigns_dx and this layer is the only reader of its
     * input: backward OVERWRITES every element of dx[0] instead of adding
     * (the runtime did not zero it). */
    bool dx_assign;
    /* Evaluation-mode fusion (conv forward only; see cr_net_options'
     * fuse_inference): when post_y is set, write act(post_scale·z +
     * post_shift) per output channel into post_y, the output of the
     * batchnorm (and relu) that follow, instead of z into y.
     * Training fusion (a kind with trains_with_activation; see
     * cr_net_options' fuse_training): post_y is the output of the
     * activation layer that alone reads this one, post_scale/post_shift are
     * NULL. Forward writes act(z) into post_y instead of z into y; backward
     * takes dy as the gradient of post_y and uses dy·act'(z) as its own
     * output gradient (z as forward computed it, bit for bit). */
    const float *post_scale, *post_shift;
    cr_activation post_activation;
    float *post_y;
    /* Threads the layer may use (omp num_threads), each with its own
     * workspace_per_thread floats of scratch: cr_thread_workspace. */
    int threads;
    float *thread_workspace;
    int64_t thread_workspace_stride;
    uint64_t *rng_state; /* dropout */
} cr_step;

static inline float *cr_thread_workspace(const cr_step *step, int thread) {
    return step->thread_workspace + thread * step->thread_workspace_stride;
}

/* out[i] = Σ over `team` threads of partial[t·stride + i], added in thread
 * order (deterministic for a given thread count): the per-thread partial
 * sums of a parameter gradient, each thread's at the same place of its
 * workspace slice. Split over `threads` threads (from outside any parallel
 * region). */
/* The same by the team of the caller's parallel region: every thread of it
 * calls this (an `omp for`, ending in a barrier), after a barrier that made
 * the partial sums complete. */
void cr_sum_thread_partials_in_team(float *out, const float *partial, int64_t count, int team,
                                    int64_t stride);
void cr_sum_thread_partials(float *out, const float *partial, int64_t count, int team,
                            int64_t stride, int threads);

/* One shape of matrix product a layer issues (cblas_sgemm's, row-major:
 * C[m, n] = op(A)[m, k] · op(B)[k, n]), for `cnnrun bench` to time OpenBLAS
 * alone on exactly the work the layer hands it. */
typedef struct cr_gemm {
    const char *pass; /* "forward", "backward-weights", "backward-input" */
    bool trans_a, trans_b;
    int m, n, k;
    int count;     /* calls of this shape per step at this batch */
    bool threaded; /* each call is cr_sgemm, split over the threads (lib/parallel.h);
                      false: the calls are shared among the threads, each single-threaded */
} cr_gemm;

typedef struct cr_layer_kind {
    const char *name;
    /* One line for users (the schema's hover text); required. */
    const char *description;
    const cr_key *keys;
    int n_keys;
    size_t config_size;
    /* Inputs: 1 for ordinary layers (key `input`); add/concat list theirs
     * under `inputs` and need at least 2. */
    bool multi_input;
    /* Shape rule: checks the config against the input shapes, fills
     * layer->out, params, macs, saved/workspace sizes. Errors name the key. */
    int (*infer)(cr_layer *layer, const cr_shape *in, cr_warnings *warnings, cr_error *err);
    void (*forward)(const cr_step *step);
    void (*backward)(const cr_step *step);
    /* Backward honours step->dx_assign (see cr_step): saves the runtime a
     * pass zeroing the gradient and the kind a pass reading it. */
    bool assigns_dx;
    /* Optional (NULL: the layer issues no GEMMs): the matrix products one
     * forward + backward at `batch` issues, exactly as its code calls
     * cblas_sgemm. Lists "backward-weights" only when the weights are
     * trainable, and "backward-input" always (the caller drops it when the
     * input gradient is not wanted). Writes at most `max`, returns how many. */
    int (*gemms)(const cr_layer *layer, const cr_shape *in, int batch, cr_gemm *out, int max);

    /* ---- special roles ----------------------------------------------------
     * What the rest of the pipeline asks about a kind, declared in the
     * kind's own file instead of being found by comparing its name. Every
     * field defaults to false / NULL / CR_ACT_NONE: an ordinary kind sets
     * none of them. (New roles go here, each with its reader named.) */

    /* Outputs probabilities (softmax over channels). Such a layer must be
     * the network's output and nothing may read it (graph.c); training fuses
     * it with the cross-entropy loss, taking its input as the logits and
     * writing the gradient there (net.c, gradcheck.c); prediction reports
     * its output as the class probabilities as it is (train.c). */
    bool outputs_probabilities;
    /* Applies the logistic function element-wise. As the network's output
     * with `loss: binary_cross_entropy`, the loss takes the layer's input as
     * the logits and writes the gradient there (loss.c, net.c), as
     * PyTorch's binary_cross_entropy_with_logits: stable where σ saturates. */
    bool outputs_sigmoid;
    /* Fixes the input size: the layer's parameters or output depend on the
     * exact size of its input (dense's weight matrix, flatten's units), so a
     * network holding one runs only at the input size of its model file
     * (cnnrun pictures applies fully convolutional networks to any size). */
    bool fixes_input_size;
    /* Has filters: parameter 0, `weight`, is [filters, in/groups, kh, kw],
     * one kernel per filter, which `cnnrun pictures filters` draws. */
    bool has_filters;
    /* Optional (NULL: never): whether this layer's forward honours the
     * evaluation epilogue of cr_step (post_scale, post_shift,
     * post_activation, post_y) — conv without its own activation. The
     * runtime then fuses it with a following eval_affine layer (net.c). */
    bool (*takes_epilogue)(const cr_layer *layer);
    /* Optional (NULL: none): the layer in evaluation mode as one affine map
     * per channel, y = scale·x + shift, from its parameters `param` (its
     * n_params tensors), written into scale[C] and shift[C] (batchnorm).
     * The runtime keeps the map in the layer's `saved` buffer, which must
     * hold at least 2·C floats and is unused in evaluation. */
    void (*eval_affine)(const cr_layer *layer, float *const *param, float *scale, float *shift);
    /* The element-wise activation this layer computes, when a fused
     * epilogue may apply it instead (relu: CR_ACT_RELU); CR_ACT_NONE: the
     * layer cannot be folded into an epilogue. */
    cr_activation epilogue_activation;
    /* Training forward and backward honour cr_step's post_y and
     * post_activation (relu or relu6) without post_scale (batchnorm, add): the
     * runtime then runs an activation layer that alone reads this one as
     * part of it, saving a pass over memory each way (net.c,
     * cr_model_training_fusion). */
    bool trains_with_activation;
    /* Tracks batches (NULL: no): PyTorch's module has one more buffer, an
     * I64 scalar of this name (batchnorm: "num_batches_tracked"), that
     * cnnrun does not use: weights are saved with it (0), after the
     * layer's last tensor, and loading accepts and ignores it
     * (safetensors.c). */
    const char *batch_counter;
    /* Other names users bring from Caffe, Darknet, Keras and PyTorch for
     * this kind (NULL-terminated; NULL: none), which spelling alone does not
     * lead to: the spec loader's "did you mean" (dense: "linear", "fc"). */
    const char *const *aliases;

    /* ONNX export (lib/onnx_build.h): adds the standard operators that
     * compute the layer in evaluation form. Returns non-zero (after
     * cr_onnx_refuse) when a configuration has no ONNX equivalent. */
    int (*export_onnx)(const cr_layer *layer, struct cr_onnx_builder *builder);
} cr_layer_kind;

/* The table (lib/layers/table.c). */
extern const cr_layer_kind *const cr_layer_kinds[];
extern const int cr_layer_kind_count;
const cr_layer_kind *cr_layer_kind_find(const char *name);
/* The kind one of whose aliases is `name` (case-insensitive), or NULL. */
const cr_layer_kind *cr_layer_kind_for_alias(const char *name);

/* ---- helpers for shape rules (lib/layers/common.c) -------------------------- */

/* Where the user wrote `key`, or the layer's own position if they did not. */
cr_mark cr_layer_key_mark(const cr_layer *layer, const char *key);
bool cr_layer_has_key(const cr_layer *layer, const char *key);

/* out = floor((n + 2p - d(f - 1) - 1) / s) + 1 along one axis (d: the
 * dilation, 1 for plain windows), with the error (out < 1) and the warning
 * (pixels dropped) worded for users. `axis` is "height" or "width"; `what`
 * is "kernel" or "window" (kernel_h × kernel_w of it). */
int cr_window_out(const cr_layer *layer, const char *key, cr_shape in, const char *axis, int n,
                  int f, int d, int p, int s, const char *what, int kernel_h, int kernel_w,
                  int *out, cr_warnings *warnings, cr_error *err);

void cr_layer_add_param(cr_layer *layer, const char *suffix, int ndim, const int *dims,
                        bool trainable, bool is_buffer, cr_init init, int fan_in,
                        const cr_values *values);

/* Scratch floats a layer needs at `batch` images on `threads` threads: the
 * shared part, then one 64-byte-aligned slice per thread. */
int64_t cr_layer_workspace_floats(const cr_layer *layer, int64_t batch, int threads);
/* Where thread slices start after the shared part (floats, 64-byte aligned). */
int64_t cr_layer_shared_workspace_floats(const cr_layer *layer, int64_t batch);
static inline int64_t cr_round_up_floats(int64_t floats) {
    return (floats + 15) / 16 * 16;
}

const char *cr_activation_name(cr_activation activation);
/* Every activation by name, for the spec loader ("none" included). */
extern const char *const cr_activation_names[];
extern const int cr_activation_count; /* entries of cr_activation_names = enum values */
cr_kinks cr_activation_kinks(cr_activation activation);
/* silu, gelu and hardswish are not monotonic: their derivative is not a
 * function of the output, so the backward functions below need the input z
 * where the others take y. A layer fusing one keeps z for backward. */
bool cr_activation_needs_input(cr_activation activation);

/* Activation applied in place / its gradient computed from `at`: the output
 * y, or the input z for an activation that needs it (see above). `param` is
 * leaky_relu's slope or elu's α (unused by the others). */
void cr_activation_forward(float *y, int64_t n, cr_activation activation, float param);
/* y = f(x) element-wise; y may alias x. */
void cr_activation_apply(float *y, const float *x, int64_t n, cr_activation activation,
                         float param);
/* dz[i] = dy[i] * f'(z[i]) written from `at` (y = f(z), or z). dz may alias dy. */
void cr_activation_backward(float *dz, const float *dy, const float *at, int64_t n,
                            cr_activation activation, float param);
/* dx[i] += dy[i] * f'(z[i]), from `at` (y = f(z), or z). */
void cr_activation_backward_add(float *dx, const float *dy, const float *at, int64_t n,
                                cr_activation activation, float param);

#endif
