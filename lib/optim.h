/* Optimizers and learning-rate schedules, with PyTorch's update rules so a
 * recipe carries over. With g the gradient and θ a parameter, per step:
 *
 *   sgd:   g += wd·θ
 *          v = g on the first step, else v = momentum·v + g   (dampening 0)
 *          θ -= lr·(nesterov ? g + momentum·v : v)           (torch.optim.SGD)
 *          momentum 0 keeps no state and does θ -= lr·g.
 *   adam:  g += wd·θ; t = steps done, counting this one
 *          m = β1·m + (1 − β1)·g;  v = β2·v + (1 − β2)·g²
 *          θ -= lr/(1 − β1^t) · m / (√v / √(1 − β2^t) + eps)  (torch.optim.Adam)
 *   adamw: θ *= 1 − lr·wd first (decoupled decay), then adam without adding
 *          wd·θ to the gradient                                (torch.optim.AdamW)
 *
 * Arithmetic is float32 per element in PyTorch's order, with the scalars
 * (bias corrections, 1 − β) computed in double as PyTorch computes them in
 * Python; results agree with torch.optim to a few float32 ulps (PyTorch's
 * vectorised kernels fuse some multiply-adds). Every step is deterministic
 * and allocates nothing. All state is one float array so checkpoints can
 * save it as a tensor; `steps` must be saved with it (SGD's first step and
 * Adam's bias correction depend on it). */
#ifndef CNNRUN_OPTIM_H
#define CNNRUN_OPTIM_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

typedef enum cr_optimizer_type { CR_OPT_SGD, CR_OPT_ADAM, CR_OPT_ADAMW } cr_optimizer_type;

typedef struct cr_optimizer_config {
    cr_optimizer_type type;
    float lr;
    float momentum; /* sgd */
    bool nesterov;  /* sgd; needs momentum > 0 */
    float weight_decay;
    double betas[2]; /* adam, adamw; double because 1 − β2 needs it (1 − 0.999f is
                        0.00099998713, not 0.001) */
    float eps;       /* adam, adamw */
} cr_optimizer_config;

/* PyTorch's defaults, except SGD's lr 0.01 and momentum 0.9 (PyTorch has no
 * default lr and momentum 0):
 *   sgd:   lr 0.01, momentum 0.9, nesterov false, weight_decay 0
 *   adam:  lr 0.001, betas [0.9, 0.999], eps 1e-8, weight_decay 0
 *   adamw: as adam but weight_decay 0.01 (torch.optim.AdamW's default) */
cr_optimizer_config cr_optimizer_defaults(cr_optimizer_type type);
const char *cr_optimizer_name(cr_optimizer_type type); /* "sgd", "adam", "adamw" */

/* Learning-rate schedules over a run of `epochs`·`steps_per_epoch` steps
 * (total). Step numbers count from 0.
 *
 * Warm-up: W = warmup_epochs·steps_per_epoch rounded to the nearest whole
 * step (at least 1 when warmup_epochs > 0, at most total). For step < W:
 *     lr = base·(step + 1)/W           (base/W at step 0, base at step W − 1)
 * The main schedule then runs over the remaining T = total − W steps, with
 * t = step − W:
 *   constant: lr = base
 *   step:     lr = base·gamma^⌊t / (step_epochs·steps_per_epoch)⌋
 *   cosine:   lr = min_lr + (base − min_lr)·(1 + cos(π·t/T))/2
 *             (base at t = 0, the mean at t = T/2, min_lr at t = T and after:
 *             torch's CosineAnnealingLR with T_max = T, stepped per batch)
 * Defaults: constant, warmup_epochs 0, gamma 0.1 (torch's StepLR), min_lr 0;
 * step_epochs has none (the train section requires it for `step`), and
 * step_epochs ≤ 0 here means no decay. */
typedef enum cr_schedule_type {
    CR_SCHED_CONSTANT,
    CR_SCHED_STEP,
    CR_SCHED_COSINE
} cr_schedule_type;

typedef struct cr_schedule_config {
    cr_schedule_type type;
    float warmup_epochs; /* linear warm-up, over (fractional) epochs */
    int step_epochs;     /* step: multiply by gamma every step_epochs */
    float gamma;         /* step */
    float min_lr;        /* cosine: the floor */
} cr_schedule_config;

cr_schedule_config cr_schedule_defaults(void);
const char *cr_schedule_name(cr_schedule_type type); /* "constant", "step", "cosine" */

typedef struct cr_optimizer {
    cr_optimizer_config config;
    int64_t count; /* parameters */
    int64_t steps; /* updates done (Adam's bias correction, SGD's first step) */
    float *state;  /* sgd: [count] velocity (when momentum > 0); adam: [2·count] m then v */
    int64_t state_floats;
} cr_optimizer;

/* Allocates zeroed state for `count` parameters. */
int cr_optimizer_init(cr_optimizer *opt, const cr_optimizer_config *config, int64_t count,
                      cr_error *err);
void cr_optimizer_free(cr_optimizer *opt);
/* One update of params[count] from grads[count] at learning rate lr (the
 * schedule's, so config.lr is only the base). */
void cr_optimizer_step(cr_optimizer *opt, float *params, const float *grads, float lr);

/* torch.nn.utils.clip_grad_norm_(parameters, max_norm): the L2 norm of all
 * `count` gradients together, and when it exceeds max_norm every gradient
 * times max_norm / (norm + 1e-6). Returns the norm before clipping. */
double cr_clip_grad_norm(float *grads, int64_t count, float max_norm);
/* Optimizer state slots per parameter: 0 for SGD without momentum, 1 with,
 * 2 for Adam and AdamW. */
int cr_optimizer_slots(const cr_optimizer_config *config);

/* Learning rate at `step` (from 0) of `steps_per_epoch`·`epochs`. */
float cr_schedule_lr(const cr_schedule_config *schedule, float base_lr, int64_t step,
                     int64_t steps_per_epoch, int epochs);

#endif
