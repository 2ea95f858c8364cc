/* SGD, Adam and AdamW as torch.optim (1.13) computes them, and the
 * learning-rate schedules; see optim.h for the formulas. Each update is a
 * plain loop per case, with the branches hoisted out so the compiler can
 * vectorise it; the operations keep PyTorch's order (and so its rounding). */
#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

cr_optimizer_config cr_optimizer_defaults(cr_optimizer_type type) {
    cr_optimizer_config config = {.type = type, .lr = 0.001f, .betas = {0.9, 0.999}, .eps = 1e-8f};
    if (type == CR_OPT_SGD) {
        config.lr = 0.01f;
        config.momentum = 0.9f;
    }
    if (type == CR_OPT_ADAMW) config.weight_decay = 0.01f;
    return config;
}

const char *cr_optimizer_name(cr_optimizer_type type) {
    switch (type) {
    case CR_OPT_SGD:
        return "sgd";
    case CR_OPT_ADAM:
        return "adam";
    case CR_OPT_ADAMW:
        return "adamw";
    }
    return "?";
}

cr_schedule_config cr_schedule_defaults(void) {
    return (cr_schedule_config){.type = CR_SCHED_CONSTANT, .gamma = 0.1f};
}

const char *cr_schedule_name(cr_schedule_type type) {
    switch (type) {
    case CR_SCHED_CONSTANT:
        return "constant";
    case CR_SCHED_STEP:
        return "step";
    case CR_SCHED_COSINE:
        return "cosine";
    }
    return "?";
}

int cr_optimizer_slots(const cr_optimizer_config *config) {
    if (config->type == CR_OPT_SGD) return config->momentum != 0.0f ? 1 : 0;
    return 2;
}

int cr_optimizer_init(cr_optimizer *opt, const cr_optimizer_config *config, int64_t count,
                      cr_error *err) {
    memset(opt, 0, sizeof *opt);
    if (count < 0)
        return cr_fail(err, CR_ERR_RUNTIME, (cr_mark){0}, NULL,
                       "optimizer: negative parameter count %lld", (long long)count);
    opt->config = *config;
    opt->count = count;
    opt->state_floats = (int64_t)cr_optimizer_slots(config) * count;
    if (opt->state_floats > 0) {
        opt->state = calloc((size_t)opt->state_floats, sizeof(float));
        if (!opt->state)
            return cr_fail(err, CR_ERR_RUNTIME, (cr_mark){0}, NULL,
                           "out of memory for the optimizer state (%lld floats)",
                           (long long)opt->state_floats);
    }
    return 0;
}

void cr_optimizer_free(cr_optimizer *opt) {
    free(opt->state);
    memset(opt, 0, sizeof *opt);
}

/* torch.optim.SGD with dampening 0: the first step copies g into the
 * momentum buffer rather than decaying an empty one. */
static void sgd_step(cr_optimizer *opt, float *restrict params, const float *restrict grads,
                     float lr) {
    const int64_t n = opt->count;
    const float momentum = opt->config.momentum, decay = opt->config.weight_decay;
    float *restrict velocity = opt->state;
    if (momentum == 0.0f) {
        for (int64_t i = 0; i < n; i++) params[i] += -lr * (grads[i] + decay * params[i]);
        return;
    }
    if (opt->steps == 0) {
        for (int64_t i = 0; i < n; i++) velocity[i] = grads[i] + decay * params[i];
    } else {
        for (int64_t i = 0; i < n; i++)
            velocity[i] = velocity[i] * momentum + (grads[i] + decay * params[i]);
    }
    if (opt->config.nesterov) {
        /* g is recomputed rather than kept: no scratch array, same rounding */
        for (int64_t i = 0; i < n; i++)
            params[i] += -lr * ((grads[i] + decay * params[i]) + momentum * velocity[i]);
    } else {
        for (int64_t i = 0; i < n; i++) params[i] += -lr * velocity[i];
    }
}

/* torch.optim.Adam / AdamW (single-tensor path of PyTorch 1.13). */
static void adam_step(cr_optimizer *opt, float *restrict params, const float *restrict grads,
                      float lr) {
    const int64_t n = opt->count;
    const cr_optimizer_config *c = &opt->config;
    float *restrict first = opt->state;      /* m */
    float *restrict second = opt->state + n; /* v */
    const double t = (double)(opt->steps + 1);
    /* PyTorch computes these scalars in double (Python floats), then the
     * tensor arithmetic rounds each to float. */
    const float beta1 = (float)c->betas[0], beta2 = (float)c->betas[1], eps = c->eps;
    const float one_minus_beta1 = (float)(1.0 - c->betas[0]);
    const float one_minus_beta2 = (float)(1.0 - c->betas[1]);
    const float step_size = (float)((double)lr / (1.0 - pow(c->betas[0], t)));
    const float correction2_sqrt = (float)sqrt(1.0 - pow(c->betas[1], t));
    /* AdamW's decoupled decay is θ·(1 − lr·wd) before the update; for Adam
     * the factor is 1 (exact) and the decay goes into the gradient. */
    const bool decoupled = c->type == CR_OPT_ADAMW;
    const float shrink = decoupled ? (float)(1.0 - (double)lr * (double)c->weight_decay) : 1.0f;
    const float decay = decoupled ? 0.0f : c->weight_decay;
    for (int64_t i = 0; i < n; i++) {
        float theta = params[i] * shrink;
        float g = grads[i] + decay * theta;
        first[i] = first[i] * beta1 + one_minus_beta1 * g;
        second[i] = second[i] * beta2 + one_minus_beta2 * (g * g);
        float denom = sqrtf(second[i]) / correction2_sqrt + eps;
        params[i] = theta + -step_size * (first[i] / denom);
    }
}

void cr_optimizer_step(cr_optimizer *opt, float *params, const float *grads, float lr) {
    if (opt->config.type == CR_OPT_SGD)
        sgd_step(opt, params, grads, lr);
    else
        adam_step(opt, params, grads, lr);
    opt->steps++;
}

float cr_schedule_lr(const cr_schedule_config *schedule, float base_lr, int64_t step,
                     int64_t steps_per_epoch, int epochs) {
    if (steps_per_epoch < 1 || epochs < 1 || step < 0) return base_lr;
    const int64_t total = steps_per_epoch * epochs;
    int64_t warmup = 0;
    if (schedule->warmup_epochs > 0) {
        warmup = llround((double)schedule->warmup_epochs * (double)steps_per_epoch);
        if (warmup < 1) warmup = 1;
        if (warmup > total) warmup = total;
    }
    const double base = base_lr;
    if (step < warmup) return (float)(base * (double)(step + 1) / (double)warmup);
    const int64_t t = step - warmup, remaining = total - warmup;
    switch (schedule->type) {
    case CR_SCHED_CONSTANT:
        return base_lr;
    case CR_SCHED_STEP: {
        if (schedule->step_epochs < 1) return base_lr;
        int64_t decays = t / ((int64_t)schedule->step_epochs * steps_per_epoch);
        return (float)(base * pow((double)schedule->gamma, (double)decays));
    }
    case CR_SCHED_COSINE: {
        const double floor_lr = schedule->min_lr;
        if (remaining <= 0 || t >= remaining) return schedule->min_lr;
        const double pi = 3.14159265358979323846;
        double progress = (double)t / (double)remaining;
        return (float)(floor_lr + (base - floor_lr) * (1.0 + cos(pi * progress)) / 2.0);
    }
    }
    return base_lr;
}

double cr_clip_grad_norm(float *grads, int64_t count, float max_norm) {
    double squares = 0.0;
    for (int64_t i = 0; i < count; i++) squares += (double)grads[i] * grads[i];
    double norm = sqrt(squares);
    /* PyTorch computes the coefficient in float32 and multiplies by it
     * clamped to 1 (a no-op then, skipped here). */
    float coefficient = max_norm / ((float)norm + 1e-6f);
    if (coefficient < 1.0f)
        for (int64_t i = 0; i < count; i++) grads[i] *= coefficient;
    return norm;
}
