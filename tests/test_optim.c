/* Optimizers against updates worked out by hand over three steps, and the
 * learning-rate schedules at the steps where they change.
 *
 * Every optimizer case starts from θ = [1, −2] and is fed the same fixed
 * gradients (not depending on θ, so the arithmetic stays readable):
 *   step 1: g = [0.5, 1]   step 2: g = [−1, 0.5]   step 3: g = [0.25, −0.5]
 * Each expected θ was also checked once against PyTorch 1.13 (torch.optim on
 * a float32 tensor, same gradients); its numbers are in the comments. */
#include <stdlib.h>

#include "check.h"
#include "optim.h"

static const float gradients[3][2] = {{0.5f, 1.0f}, {-1.0f, 0.5f}, {0.25f, -0.5f}};

/* Runs three steps at a constant lr and checks θ after each. */
static void run_three_steps(const cr_optimizer_config *config, const double expected[3][2],
                            double tolerance) {
    cr_optimizer opt;
    cr_error err = {0};
    CHECK(cr_optimizer_init(&opt, config, 2, &err) == 0);
    float params[2] = {1.0f, -2.0f};
    for (int step = 0; step < 3; step++) {
        cr_optimizer_step(&opt, params, gradients[step], config->lr);
        CHECK_INT(opt.steps, step + 1);
        CHECK_NEAR(params[0], expected[step][0], tolerance);
        CHECK_NEAR(params[1], expected[step][1], tolerance);
    }
    cr_optimizer_free(&opt);
}

static void test_sgd_momentum(void) {
    cr_optimizer_config config = cr_optimizer_defaults(CR_OPT_SGD);
    config.lr = 0.1f; /* momentum 0.9 is the default */
    CHECK_NEAR(config.momentum, 0.9, 1e-7);
    /* step 1: v = g = [0.5, 1] (no decay of an empty buffer)
     *         θ = [1 − 0.05, −2 − 0.1] = [0.95, −2.1]
     * step 2: v = 0.9·[0.5, 1] + [−1, 0.5] = [−0.55, 1.4]
     *         θ = [0.95 + 0.055, −2.1 − 0.14] = [1.005, −2.24]
     * step 3: v = 0.9·[−0.55, 1.4] + [0.25, −0.5] = [−0.245, 0.76]
     *         θ = [1.005 + 0.0245, −2.24 − 0.076] = [1.0295, −2.316]
     * torch: [0.949999988, −2.0999999], [1.005, −2.24000001], [1.02950001, −2.31599998] */
    const double expected[3][2] = {{0.95, -2.1}, {1.005, -2.24}, {1.0295, -2.316}};
    run_three_steps(&config, expected, 1e-6);
}

static void test_sgd_plain_weight_decay(void) {
    cr_optimizer_config config = cr_optimizer_defaults(CR_OPT_SGD);
    config.lr = 0.1f;
    config.momentum = 0.0f;
    config.weight_decay = 0.1f;
    /* step 1: g = [0.5 + 0.1·1, 1 + 0.1·(−2)] = [0.6, 0.8];  θ = [0.94, −2.08]
     * step 2: g = [−1 + 0.094, 0.5 − 0.208] = [−0.906, 0.292]; θ = [1.0306, −2.1092]
     * step 3: g = [0.25 + 0.10306, −0.5 − 0.21092] = [0.35306, −0.71092]
     *         θ = [1.0306 − 0.035306, −2.1092 + 0.071092] = [0.995294, −2.038108]
     * torch: [0.939999998, −2.07999992], [1.03059995, −2.1092], [0.995293975, −2.03810811] */
    const double expected[3][2] = {{0.94, -2.08}, {1.0306, -2.1092}, {0.995294, -2.038108}};
    run_three_steps(&config, expected, 1e-6);

    cr_optimizer opt;
    cr_error err = {0};
    CHECK(cr_optimizer_init(&opt, &config, 2, &err) == 0);
    CHECK_INT(cr_optimizer_slots(&config), 0);
    CHECK_INT(opt.state_floats, 0);
    CHECK(opt.state == NULL);
    cr_optimizer_free(&opt);
}

static void test_sgd_nesterov_weight_decay(void) {
    cr_optimizer_config config = cr_optimizer_defaults(CR_OPT_SGD);
    config.lr = 0.1f;
    config.momentum = 0.5f;
    config.nesterov = true;
    config.weight_decay = 0.1f;
    /* step 1: g = [0.5 + 0.1, 1 − 0.2] = [0.6, 0.8]; v = g
     *         d = g + 0.5·v = [0.9, 1.2];  θ = [0.91, −2.12]
     * step 2: g = [−1 + 0.091, 0.5 − 0.212] = [−0.909, 0.288]
     *         v = 0.5·[0.6, 0.8] + g = [−0.609, 0.688]
     *         d = g + 0.5·v = [−1.2135, 0.632];  θ = [1.03135, −2.1832]
     * step 3: g = [0.25 + 0.103135, −0.5 − 0.21832] = [0.353135, −0.71832]
     *         v = 0.5·[−0.609, 0.688] + g = [0.048635, −0.37432]
     *         d = g + 0.5·v = [0.3774525, −0.90548];  θ = [0.99360475, −2.092652]
     * torch: [0.909999967, −2.12000012], [1.03135002, −2.18320012],
     *        [0.993604779, −2.09265208] */
    const double expected[3][2] = {{0.91, -2.12}, {1.03135, -2.1832}, {0.99360475, -2.092652}};
    run_three_steps(&config, expected, 1e-6);
}

/* Adam with lr 0.1, betas [0.9, 0.999], eps 1e-8. Step 1 of Adam always
 * moves each θ by lr·g/(|g| + eps) ≈ lr·sign(g): m/(1 − 0.9) = g and
 * √(v/(1 − 0.999)) = |g|. */
static void test_adam(void) {
    cr_optimizer_config config = cr_optimizer_defaults(CR_OPT_ADAM);
    CHECK_NEAR(config.lr, 0.001, 1e-9);
    CHECK_NEAR(config.betas[0], 0.9, 1e-7);
    CHECK_NEAR(config.betas[1], 0.999, 1e-7);
    CHECK_NEAR(config.eps, 1e-8, 1e-12);
    CHECK_NEAR(config.weight_decay, 0.0, 0.0);
    config.lr = 0.1f;
    /* step 1: m = 0.1·g = [0.05, 0.1]; v = 0.001·g² = [0.00025, 0.001]
     *         θ = [1 − 0.1, −2 − 0.1] = [0.9, −2.1]
     * step 2: m = 0.9·m + 0.1·[−1, 0.5] = [−0.055, 0.14]
     *         v = 0.999·v + 0.001·[1, 0.25] = [0.00124975, 0.001249]
     *         bias corrections 1 − 0.9² = 0.19, 1 − 0.999² = 0.001999
     *         m̂ = [−0.289473684, 0.736842105]
     *         √v̂ = [√0.625187594, √0.624812406] = [0.790688051, 0.790450762]
     *         θ −= 0.1·m̂/√v̂ = [−0.0366104, 0.0932180]: [0.9366104, −2.1932180]
     * step 3: m = [−0.0245, 0.076]; v = [0.00131100025, 0.001497751]
     *         corrections 0.271, 0.002997001
     *         θ = [0.9502794, −2.2328885]
     * torch: [0.900000036, −2.0999999], [0.936610401, −2.19321775],
     *        [0.950279474, −2.23288822] */
    const double expected[3][2] = {
        {0.9, -2.1}, {0.9366103542, -2.193217962}, {0.9502794203, -2.232888485}};
    run_three_steps(&config, expected, 1e-6);

    cr_optimizer opt;
    cr_error err = {0};
    CHECK(cr_optimizer_init(&opt, &config, 2, &err) == 0);
    CHECK_INT(cr_optimizer_slots(&config), 2);
    CHECK_INT(opt.state_floats, 4);
    float params[2] = {1.0f, -2.0f};
    cr_optimizer_step(&opt, params, gradients[0], config.lr);
    cr_optimizer_step(&opt, params, gradients[1], config.lr);
    /* the moments after step 2, m then v */
    CHECK_NEAR(opt.state[0], -0.055, 1e-7);
    CHECK_NEAR(opt.state[1], 0.14, 1e-7);
    CHECK_NEAR(opt.state[2], 0.00124975, 1e-8);
    CHECK_NEAR(opt.state[3], 0.001249, 1e-8);
    cr_optimizer_free(&opt);
}

/* weight decay 0.1: Adam adds it to the gradient (so the moments see it),
 * AdamW shrinks θ by 1 − lr·wd = 0.99 and leaves the moments alone. */
static void test_adam_vs_adamw_weight_decay(void) {
    cr_optimizer_config adam = cr_optimizer_defaults(CR_OPT_ADAM);
    adam.lr = 0.1f;
    adam.weight_decay = 0.1f;
    /* step 1: g = [0.6, 0.8]: θ = [0.9, −2.1] (lr·sign(g) again)
     * step 2: g = [−1 + 0.09, 0.5 − 0.21] = [−0.91, 0.29]
     *         m = 0.9·[0.06, 0.08] + 0.1·g = [−0.037, 0.101]
     *         v = 0.999·[0.00036, 0.00064] + 0.001·g² = [0.00118774, 0.00072346]
     *         θ = [0.9 + 0.1·(0.037/0.19)/√(0.00118774/0.001999), ...]
     *           = [0.9252635, −2.1883623]
     * step 3: θ = [0.9247306, −2.1992738]
     * torch: [0.900000036, −2.0999999], [0.925263524, −2.18836212],
     *        [0.924730599, −2.19927359] */
    const double adam_expected[3][2] = {
        {0.9, -2.1}, {0.9252635194, -2.188362276}, {0.9247305743, -2.199273798}};
    run_three_steps(&adam, adam_expected, 1e-6);

    cr_optimizer_config adamw = adam;
    adamw.type = CR_OPT_ADAMW;
    /* step 1: θ = 0.99·[1, −2] = [0.99, −1.98], then −0.1·sign(g): [0.89, −2.08]
     * step 2: the moments are plain Adam's ([−0.055, 0.14], ...), so the
     *         update is Adam's step-2 update [+0.0366104, −0.0932180] applied
     *         to 0.99·[0.89, −2.08] = [0.8811, −2.0592]: [0.9177104, −2.1524180]
     * step 3: 0.99·θ + Adam's step-3 update [0.0136691, −0.0396705]
     *         = [0.9222023, −2.1705643]
     * torch: [0.890000045, −2.07999992], [0.917710423, −2.1524179],
     *        [0.922202408, −2.17056417] */
    const double adamw_expected[3][2] = {
        {0.89, -2.08}, {0.9177103542, -2.152417962}, {0.9222023168, -2.170564305}};
    run_three_steps(&adamw, adamw_expected, 1e-6);
    CHECK_NEAR(cr_optimizer_defaults(CR_OPT_ADAMW).weight_decay, 0.01, 1e-9);
}

/* Optimizers work element by element: a long vector (which takes the
 * vectorised loops) must give each element what the 2-parameter run gives,
 * and continuing from copied state and step count (a resume) must give
 * exactly the uninterrupted result. */
static void test_long_vectors_and_resume(void) {
    enum { COUNT = 1003 };
    const cr_optimizer_type types[] = {CR_OPT_SGD, CR_OPT_ADAM, CR_OPT_ADAMW};
    for (int k = 0; k < 3; k++) {
        cr_optimizer_config config = cr_optimizer_defaults(types[k]);
        config.lr = 0.1f;
        config.weight_decay = 0.05f;
        config.nesterov = types[k] == CR_OPT_SGD;
        float *params = malloc(COUNT * sizeof(float)), *grads = malloc(COUNT * sizeof(float));
        float *resumed = malloc(COUNT * sizeof(float));
        float pair[2] = {1.0f, -2.0f};
        cr_optimizer opt, small, second;
        cr_error err = {0};
        CHECK(cr_optimizer_init(&opt, &config, COUNT, &err) == 0);
        CHECK(cr_optimizer_init(&small, &config, 2, &err) == 0);
        for (int i = 0; i < COUNT; i++) params[i] = pair[i % 2];
        for (int step = 0; step < 3; step++) {
            for (int i = 0; i < COUNT; i++) grads[i] = gradients[step][i % 2];
            cr_optimizer_step(&opt, params, grads, config.lr);
            cr_optimizer_step(&small, pair, gradients[step], config.lr);
            if (step == 0) {
                /* "checkpoint" after step 1 */
                CHECK(cr_optimizer_init(&second, &config, COUNT, &err) == 0);
                memcpy(second.state, opt.state, (size_t)opt.state_floats * sizeof(float));
                second.steps = opt.steps;
                memcpy(resumed, params, COUNT * sizeof(float));
            } else {
                cr_optimizer_step(&second, resumed, grads, config.lr);
            }
        }
        int mismatches = 0, resume_mismatches = 0;
        for (int i = 0; i < COUNT; i++) {
            mismatches += params[i] != pair[i % 2];
            resume_mismatches += memcmp(&params[i], &resumed[i], sizeof(float)) != 0;
        }
        CHECK_INT(mismatches, 0);
        CHECK_INT(resume_mismatches, 0);
        cr_optimizer_free(&opt);
        cr_optimizer_free(&small);
        cr_optimizer_free(&second);
        free(params);
        free(grads);
        free(resumed);
    }
}

static void test_names(void) {
    CHECK(strcmp(cr_optimizer_name(CR_OPT_SGD), "sgd") == 0);
    CHECK(strcmp(cr_optimizer_name(CR_OPT_ADAMW), "adamw") == 0);
    CHECK(strcmp(cr_schedule_name(CR_SCHED_COSINE), "cosine") == 0);
    cr_optimizer_config sgd = cr_optimizer_defaults(CR_OPT_SGD);
    CHECK_NEAR(sgd.lr, 0.01, 1e-9);
    CHECK(!sgd.nesterov);
    CHECK_INT(cr_optimizer_slots(&sgd), 1);
}

/* ---- schedules: 10 steps per epoch -------------------------------------------------- */

static void test_constant_with_warmup(void) {
    cr_schedule_config s = cr_schedule_defaults();
    CHECK_INT(s.type, CR_SCHED_CONSTANT);
    /* no warm-up: the base rate at every step */
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 0, 10, 3), 0.1, 1e-7);
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 29, 10, 3), 0.1, 1e-7);
    /* half an epoch = 5 steps: 0.1·1/5, ..., 0.1·5/5 */
    s.warmup_epochs = 0.5f;
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 0, 10, 3), 0.02, 1e-8);
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 1, 10, 3), 0.04, 1e-8);
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 4, 10, 3), 0.1, 1e-8);
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 5, 10, 3), 0.1, 1e-8);
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 29, 10, 3), 0.1, 1e-8);
    /* 0.25 epoch = 2.5 steps rounds to 3: 0.1/3 at step 0 */
    s.warmup_epochs = 0.25f;
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 0, 10, 3), 0.1 / 3, 1e-8);
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 2, 10, 3), 0.1, 1e-8);
    /* 0.01 epoch = 0.1 step: at least one step, which is at the full rate */
    s.warmup_epochs = 0.01f;
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 0, 10, 3), 0.1, 1e-8);
    /* longer than the run: the warm-up stops at the last step, 30 of 30 */
    s.warmup_epochs = 5.0f;
    CHECK_NEAR(cr_schedule_lr(&s, 0.3f, 0, 10, 3), 0.01, 1e-8);
    CHECK_NEAR(cr_schedule_lr(&s, 0.3f, 29, 10, 3), 0.3, 1e-7);
}

static void test_step_schedule(void) {
    cr_schedule_config s = cr_schedule_defaults();
    s.type = CR_SCHED_STEP;
    s.step_epochs = 2;
    s.gamma = 0.5f;
    /* halves every 20 steps: [0, 20) 0.1, [20, 40) 0.05, [40, 50) 0.025 */
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 0, 10, 5), 0.1, 1e-8);
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 19, 10, 5), 0.1, 1e-8);
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 20, 10, 5), 0.05, 1e-8);
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 39, 10, 5), 0.05, 1e-8);
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 40, 10, 5), 0.025, 1e-8);
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 49, 10, 5), 0.025, 1e-8);
    /* with one epoch of warm-up the steps count from its end: the first
     * decay is at step 10 + 20 = 30 */
    s.warmup_epochs = 1.0f;
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 0, 10, 5), 0.01, 1e-8);
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 9, 10, 5), 0.1, 1e-8);
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 29, 10, 5), 0.1, 1e-8);
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 30, 10, 5), 0.05, 1e-8);
}

static void test_cosine_schedule(void) {
    cr_schedule_config s = cr_schedule_defaults();
    s.type = CR_SCHED_COSINE;
    s.min_lr = 0.001f;
    /* 4 epochs, 40 steps: min + (0.1 − min)·(1 + cos(π·t/40))/2 */
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 0, 10, 4), 0.1, 1e-8);
    /* t = 10: cos(π/4) = 0.70710678: 0.001 + 0.099·0.85355339 = 0.08550179 */
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 10, 10, 4), 0.0855017857, 1e-8);
    /* midpoint: (0.1 + 0.001)/2 */
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 20, 10, 4), 0.0505, 1e-8);
    /* last step t = 39: cos(39π/40) = −0.99691733: 0.001 + 0.099·0.00154133 */
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 39, 10, 4), 0.00115259, 1e-8);
    /* the end, and beyond it (more steps than planned): the floor */
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 40, 10, 4), 0.001, 1e-9);
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 100, 10, 4), 0.001, 1e-9);
    /* min_lr defaults to 0 */
    s.min_lr = 0.0f;
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 20, 10, 4), 0.05, 1e-8);
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 40, 10, 4), 0.0, 1e-9);

    /* one epoch of warm-up, then the cosine over the remaining 30 steps */
    s.warmup_epochs = 1.0f;
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 0, 10, 4), 0.01, 1e-8);
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 9, 10, 4), 0.1, 1e-8);
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 10, 10, 4), 0.1, 1e-8);
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 25, 10, 4), 0.05, 1e-8);
    /* t = 29 of 30: 0.1·(1 + cos(29π/30))/2 = 0.1·0.00273905 */
    CHECK_NEAR(cr_schedule_lr(&s, 0.1f, 39, 10, 4), 0.000273905, 1e-9);
}

int main(void) {
    test_sgd_momentum();
    test_sgd_plain_weight_decay();
    test_sgd_nesterov_weight_decay();
    test_adam();
    test_adam_vs_adamw_weight_decay();
    test_long_vectors_and_resume();
    test_names();
    test_constant_with_warmup();
    test_step_schedule();
    test_cosine_schedule();
    return check_report();
}
