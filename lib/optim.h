/* Optimizers and learning-rate schedules, with PyTorch's update rules so a
 * recipe carries over:
 *   sgd:   g = grad + wd·θ; v = momentum·v + g (v = g on the first step);
 *          θ -= lr·(nesterov ? g + momentum·v : v)          (torch.optim.SGD)
 *   adam:  g = grad + wd·θ; m, v moments with bias correction  (torch.optim.Adam)
 *   adamw: θ -= lr·wd·θ first, then adam without wd          (torch.optim.AdamW)
 * All state is one float array so checkpoints can save it as a tensor. */
#ifndef CNNRUN_OPTIM_H
#define CNNRUN_OPTIM_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

typedef enum cr_optimizer_type { CR_OPT_SGD, CR_OPT_ADAM, CR_OPT_ADAMW } cr_optimizer_type;

typedef struct cr_optimizer_config {
    cr_optimizer_type type;
    float lr;
    float momentum;      /* sgd */
    bool nesterov;       /* sgd */
    float weight_decay;
    float betas[2];      /* adam, adamw */
    float eps;           /* adam, adamw */
} cr_optimizer_config;

typedef enum cr_schedule_type { CR_SCHED_CONSTANT, CR_SCHED_STEP, CR_SCHED_COSINE } cr_schedule_type;

typedef struct cr_schedule_config {
    cr_schedule_type type;
    float warmup_epochs; /* linear warm-up from 0, over (fractional) epochs */
    int step_epochs;     /* step: multiply by gamma every step_epochs */
    float gamma;
    float min_lr;        /* cosine: the floor */
} cr_schedule_config;

typedef struct cr_optimizer {
    cr_optimizer_config config;
    int64_t count;   /* parameters */
    int64_t steps;   /* updates done (Adam's bias correction, SGD's first step) */
    float *state;    /* sgd: [count] velocity (when momentum > 0); adam: [2·count] m then v */
    int64_t state_floats;
} cr_optimizer;

int cr_optimizer_init(cr_optimizer *opt, const cr_optimizer_config *config, int64_t count,
                      cr_error *err);
void cr_optimizer_free(cr_optimizer *opt);
/* One update of params[count] from grads[count] at learning rate lr. */
void cr_optimizer_step(cr_optimizer *opt, float *params, const float *grads, float lr);
/* Optimizer state slots per parameter (1 for SGD with momentum, 2 for Adam). */
int cr_optimizer_slots(const cr_optimizer_config *config);

/* Learning rate at `step` of `steps_per_epoch`·`epochs`. */
float cr_schedule_lr(const cr_schedule_config *schedule, float base_lr, int64_t step,
                     int64_t steps_per_epoch, int epochs);

#endif
