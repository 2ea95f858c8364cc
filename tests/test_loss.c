/* The train section's losses (lib/loss.c) and gradient clipping
 * (lib/optim.c) against PyTorch on fixed numbers, their gradients against
 * finite differences, and the fused sigmoid + binary cross-entropy path
 * against the same loss on logits.
 *
 * The expected numbers were computed with Debian's python3-torch 1.13 in
 * float64 by this snippet (tests/pytorch/losses.py recomputes them live and
 * compares them with `test_loss --print`):
 *
 *   import torch, torch.nn.functional as F
 *   logits = torch.tensor([[1.0, -2.0, 0.5, 3.0], [0.2, 0.1, -0.3, 0.0],
 *                          [-1.5, 2.5, 0.7, -0.4]], dtype=torch.float64, requires_grad=True)
 *   labels = torch.tensor([2, 0, 3])
 *   w = torch.tensor([0.5, 1.0, 2.0, 1.5], dtype=torch.float64)
 *   for kw in [{}, dict(label_smoothing=0.1), dict(weight=w),
 *              dict(weight=w, label_smoothing=0.1)]:
 *       logits.grad = None
 *       loss = F.cross_entropy(logits, labels, **kw); loss.backward()
 *       print(loss.item(), logits.grad.flatten().tolist())
 *   x = torch.tensor([[0.5, -1.0, 30.0], [-40.0, 2.0, 0.0]], dtype=torch.float64,
 *                    requires_grad=True)
 *   t = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.3]], dtype=torch.float64)
 *   loss = F.binary_cross_entropy_with_logits(x, t); loss.backward()
 *   print(loss.item(), x.grad.flatten().tolist())
 *   y = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], dtype=torch.float64,
 *                    requires_grad=True)
 *   t2 = torch.tensor([[0.0, -1.5, 2.5], [1.0, 1.0, 0.0]], dtype=torch.float64)
 *   loss = F.mse_loss(y, t2); loss.backward()
 *   print(loss.item(), y.grad.flatten().tolist())
 *   p = [torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2))]
 *   p[0].grad = torch.tensor([3.0, -4.0, 1.0]); p[1].grad = torch.tensor([2.0, -0.5])
 *   print(torch.nn.utils.clip_grad_norm_(p, 1.0).item(), torch.cat([q.grad for q in p]).tolist())
 *
 * Why these inputs: three images of four classes, each label a different
 * class with a different weight (so the weighted mean's denominator, 0.5·0 +
 * 2 + 1.5 ... = Σ w[label] = 2 + 0.5 + 1.5 = 4, differs from the count);
 * logits 30 and −40 where a naive log(σ(x)) overflows or loses every digit;
 * a soft target 0.3; gradients of norm 5.5 clipped to 1. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "net_fixture.h"
#include "loss.h"
#include "optim.h"

/* ---- the fixed inputs (the snippet's) ------------------------------------------- */

static const float ce_logits[12] = {1.0f,  -2.0f, 0.5f,  3.0f, 0.2f, 0.1f,
                                    -0.3f, 0.0f,  -1.5f, 2.5f, 0.7f, -0.4f};
static const int ce_labels[3] = {2, 0, 3};
static const float ce_weights[4] = {0.5f, 1.0f, 2.0f, 1.5f};

static const float bce_logits[6] = {0.5f, -1.0f, 30.0f, -40.0f, 2.0f, 0.0f};
static const float bce_targets[6] = {1.0f, 0.0f, 0.0f, 0.0f, 1.0f, 0.3f};

static const float mse_output[6] = {0.5f, -1.0f, 2.0f, 1.5f, 0.25f, -0.75f};
static const float mse_targets[6] = {0.0f, -1.5f, 2.5f, 1.0f, 1.0f, 0.0f};

static const float clip_grads[5] = {3.0f, -4.0f, 1.0f, 2.0f, -0.5f};

/* The four cross-entropy cases: weights or not, smoothing 0 or 0.1. */
typedef struct ce_case {
    const char *name;
    bool weighted;
    float smoothing;
    double loss;
    double grad[12];
} ce_case;

static const ce_case ce_cases[] = {
    {"plain",
     false,
     0.0f,
     2.3397558716290496,
     {0.03685125012057974, 0.001834715709194557, -0.3109819202864628, 0.2722959544566885,
      -0.23323620400861728, 0.09057162805098758, 0.0607119778846608, 0.0819525980729689,
      0.00492897376725077, 0.2691128492537897, 0.04448405478779484, -0.3185258778088353}},
    {"label_smoothing",
     false,
     0.1f,
     2.318089204962383,
     {0.028517916787246415, -0.006498617624138776, -0.28598192028646285, 0.2639626211233553,
      -0.20823620400861728, 0.08223829471765427, 0.05237864455132749, 0.07361926473963559,
      -0.003404359566082562, 0.2607795159204564, 0.036150721454461514, -0.2935258778088353}},
    {"class_weights",
     true,
     0.0f,
     2.6692565409228894,
     {0.055276875180869614, 0.0027520735637918355, -0.46647288042969426, 0.40844393168503285,
      -0.08746357650323149, 0.03396436051912034, 0.022766991706747803, 0.03073222427736334,
      0.005545095488157117, 0.3027519554105134, 0.0500445616362692, -0.35834161253493974}},
    {"both",
     true,
     0.1f,
     2.592620499795824,
     {0.05007899236158701, -0.0036011291948503583, -0.43023014741358073, 0.38375228424684416,
      -0.07245811297871621, 0.0328090145969884, 0.013682040462759976, 0.025967057918967845,
      0.002327677230021165, 0.2914560894870049, 0.03671048560899805, -0.3304942523260241}},
};

static const double bce_loss = 5.267902310550223;
static const double bce_grad[6] = {-0.0629234447996909,  0.04482357022833252,
                                   0.1666666666666511,   7.080590425485981e-19,
                                   -0.01986715367035295, 0.03333333333333333};
static const double mse_loss = 0.3541666666666667;
static const double mse_grad[6] = {0.16666666666666666,
                                   0.16666666666666666,
                                   -0.16666666666666666,
                                   0.16666666666666666,
                                   -0.25,
                                   -0.25};
static const double clip_norm = 5.5;
static const double clip_result[5] = {0.5454545021057129, -0.727272629737854, 0.1818181574344635,
                                      0.363636314868927, -0.09090907871723175};

/* ---- the functions under test, by name -------------------------------------------- */

static double run_ce(const ce_case *c, const float *logits, float *grad) {
    double denominator;
    return cr_cross_entropy(logits, ce_labels, 3, 4, c->weighted ? ce_weights : NULL, c->smoothing,
                            grad, &denominator);
}

static double run_bce(const float *logits, float *grad) {
    double denominator;
    return cr_bce_with_logits(logits, bce_targets, 6, grad, &denominator);
}

static double run_mse(const float *output, float *grad) {
    double denominator;
    return cr_mse(output, mse_targets, 6, grad, &denominator);
}

/* ---- against PyTorch ----------------------------------------------------------------- */

/* Float32 inputs and gradients: 1e-6 relative on the loss (double sums of
 * exactly representable inputs), 1e-7 absolute on the float gradients. */
static void check_values(const char *what, double loss, double want_loss, const float *grad,
                         const double *want_grad, int count) {
    if (fabs(loss - want_loss) > 1e-6 * fabs(want_loss))
        fprintf(stderr, "%s: loss %.17g, PyTorch %.17g\n", what, loss, want_loss);
    CHECK_NEAR(loss, want_loss, 1e-6 * fabs(want_loss));
    for (int i = 0; i < count; i++) {
        if (fabs(grad[i] - want_grad[i]) > 1e-7)
            fprintf(stderr, "%s: gradient %d is %.9g, PyTorch %.9g\n", what, i, (double)grad[i],
                    want_grad[i]);
        CHECK_NEAR(grad[i], want_grad[i], 1e-7);
    }
}

static void test_against_pytorch(void) {
    float grad[12];
    for (size_t k = 0; k < sizeof ce_cases / sizeof *ce_cases; k++) {
        double loss = run_ce(&ce_cases[k], ce_logits, grad);
        check_values(ce_cases[k].name, loss, ce_cases[k].loss, grad, ce_cases[k].grad, 12);
    }
    check_values("bce", run_bce(bce_logits, grad), bce_loss, grad, bce_grad, 6);
    check_values("mse", run_mse(mse_output, grad), mse_loss, grad, mse_grad, 6);

    float clipped[5];
    memcpy(clipped, clip_grads, sizeof clipped);
    CHECK_NEAR(cr_clip_grad_norm(clipped, 5, 1.0f), clip_norm, 1e-12);
    for (int i = 0; i < 5; i++) CHECK_NEAR(clipped[i], clip_result[i], 1e-7);
    /* Below the limit nothing changes, bit for bit. */
    memcpy(clipped, clip_grads, sizeof clipped);
    cr_clip_grad_norm(clipped, 5, 6.0f);
    CHECK(memcmp(clipped, clip_grads, sizeof clipped) == 0);
}

/* The denominators a rank's share reports: the count, or Σ w[label]. */
static void test_denominators(void) {
    double denominator;
    cr_cross_entropy(ce_logits, ce_labels, 3, 4, NULL, 0.1f, NULL, &denominator);
    CHECK_NEAR(denominator, 3.0, 0);
    cr_cross_entropy(ce_logits, ce_labels, 3, 4, ce_weights, 0.0f, NULL, &denominator);
    CHECK_NEAR(denominator, 2.0 + 0.5 + 1.5, 0);
    cr_bce_with_logits(bce_logits, bce_targets, 6, NULL, &denominator);
    CHECK_NEAR(denominator, 6.0, 0);
    /* Two shares' sums give the whole batch's weighted mean: images 0-1
     * and image 2 with class weights. */
    double d1, d2, whole_d;
    double first = cr_cross_entropy(ce_logits, ce_labels, 2, 4, ce_weights, 0.1f, NULL, &d1);
    double second =
        cr_cross_entropy(ce_logits + 8, ce_labels + 2, 1, 4, ce_weights, 0.1f, NULL, &d2);
    double whole = cr_cross_entropy(ce_logits, ce_labels, 3, 4, ce_weights, 0.1f, NULL, &whole_d);
    CHECK_NEAR((first * d1 + second * d2) / (d1 + d2), whole, 1e-12);
    /* A share whose labels all weigh 0 adds nothing, and no NaN. */
    static const float zero_for_2[4] = {1, 1, 0, 1};
    float grad[4];
    double none = cr_cross_entropy(ce_logits, ce_labels, 1, 4, zero_for_2, 0.1f, grad, &d1);
    CHECK(none == 0 && d1 == 0 && grad[0] == 0 && grad[3] == 0);
}

/* ---- finite differences -------------------------------------------------------------- */

typedef double (*loss_fn)(const void *context, const float *x, float *grad);

static double ce_both(const void *context, const float *x, float *grad) {
    return run_ce(context, x, grad);
}
static double bce_fn(const void *context, const float *x, float *grad) {
    (void)context;
    return run_bce(x, grad);
}
static double mse_fn(const void *context, const float *x, float *grad) {
    (void)context;
    return run_mse(x, grad);
}

/* Central differences in float inputs, step 1e-3: the loss is a double of
 * float inputs, so the step is exact and the truncation error O(h²). */
static void check_gradient(const char *what, loss_fn f, const void *context, const float *x0,
                           int count) {
    float x[12], grad[12], ignored[12];
    memcpy(x, x0, (size_t)count * sizeof *x);
    f(context, x, grad);
    for (int i = 0; i < count; i++) {
        const float h = 1e-3f;
        x[i] = x0[i] + h;
        double up = f(context, x, ignored);
        x[i] = x0[i] - h;
        double down = f(context, x, ignored);
        x[i] = x0[i];
        double numeric = (up - down) / (2.0 * h);
        if (fabs(numeric - grad[i]) > 1e-5 + 1e-4 * fabs(numeric))
            fprintf(stderr, "%s: d/dx[%d] analytic %.9g, finite differences %.9g\n", what, i,
                    (double)grad[i], numeric);
        CHECK(fabs(numeric - grad[i]) <= 1e-5 + 1e-4 * fabs(numeric));
    }
}

static void test_finite_differences(void) {
    for (size_t k = 0; k < sizeof ce_cases / sizeof *ce_cases; k++)
        check_gradient(ce_cases[k].name, ce_both, &ce_cases[k], ce_logits, 12);
    /* Away from ±30, where float steps of 1e-3 vanish against the loss. */
    static const float moderate[6] = {0.5f, -1.0f, 3.0f, -4.0f, 2.0f, 0.0f};
    check_gradient("bce", bce_fn, NULL, moderate, 6);
    check_gradient("mse", mse_fn, NULL, mse_output, 6);
}

/* Saturated logits: finite loss and gradients where σ is 0 or 1 in float. */
static void test_stable_extremes(void) {
    const float x[4] = {100.0f, -100.0f, 1000.0f, -1000.0f};
    const float t[4] = {0.0f, 1.0f, 1.0f, 0.0f};
    float grad[4];
    double denominator;
    double loss = cr_bce_with_logits(x, t, 4, grad, &denominator);
    /* 100 + 100 + 0 + 0 over 4, up to log1p(e^−100). */
    CHECK_NEAR(loss, 50.0, 1e-9);
    CHECK_NEAR(grad[0], 0.25, 1e-7);
    CHECK_NEAR(grad[1], -0.25, 1e-7);
    CHECK_NEAR(grad[2], 0.0, 1e-7);
    CHECK_NEAR(grad[3], 0.0, 1e-7);
}

/* ---- on a network ------------------------------------------------------------------- */

static const char *const with_sigmoid = "name: s\n"
                                        "input: [1, 2, 2]\n"
                                        "layers:\n"
                                        "  - {type: flatten}\n"
                                        "  - {type: dense, name: fc, units: 3}\n"
                                        "  - {type: sigmoid, name: out}\n";
static const char *const logits_only = "name: s\n"
                                       "input: [1, 2, 2]\n"
                                       "layers:\n"
                                       "  - {type: flatten}\n"
                                       "  - {type: dense, name: fc, units: 3}\n";

/* Loss and fc's gradients of one model on fixed images. */
static const float net_images[8] = {0.1f, 0.9f, -0.4f, 0.3f, 0.7f, -0.2f, 0.5f, 0.05f};

static bool net_loss_at(const char *yaml, const cr_loss_config *loss, const float *images,
                        double *value, float *dweight, float *dinput) {
    fixture f;
    if (!fixture_build(&f, yaml, 2)) return false;
    static const float targets[6] = {1, 0, 1, 0, 0.25f, 1};
    for (int p = 0; p < cr_net_param_count(f.net); p++) {
        cr_tensor t = cr_net_param(f.net, p);
        for (int64_t i = 0; i < t.count; i++) t.data[i] = 0.1f * (float)((i * 7 + p) % 11) - 0.5f;
    }
    memcpy(cr_net_input(f.net), images, sizeof net_images);
    cr_net_forward(f.net, true);
    double denominator;
    *value = cr_net_loss(f.net, loss, NULL, targets, &denominator);
    cr_net_backward(f.net);
    cr_tensor weight = cr_net_param(f.net, 0);
    memcpy(dweight, weight.grad, (size_t)weight.count * sizeof *dweight);
    memcpy(dinput, cr_net_input_grad(f.net), sizeof net_images);
    cr_net_free(f.net);
    cr_model_free(f.model);
    return true;
}

static bool net_loss(const char *yaml, const cr_loss_config *loss, double *value, float *dweight,
                     float *dinput) {
    return net_loss_at(yaml, loss, net_images, value, dweight, dinput);
}

/* d(loss)/d(every input pixel) by central differences through the network. */
static void check_input_gradient(const char *what, const char *yaml, const cr_loss_config *loss,
                                 const float *dinput) {
    float images[8], ignored_w[12], ignored_x[8];
    memcpy(images, net_images, sizeof images);
    for (int i = 0; i < 8; i++) {
        double up, down;
        images[i] = net_images[i] + 1e-2f;
        net_loss_at(yaml, loss, images, &up, ignored_w, ignored_x);
        images[i] = net_images[i] - 1e-2f;
        net_loss_at(yaml, loss, images, &down, ignored_w, ignored_x);
        images[i] = net_images[i];
        double numeric = (up - down) / (2 * (double)1e-2f);
        if (fabs(numeric - dinput[i]) > 1e-4)
            fprintf(stderr, "%s: d/dinput[%d] analytic %.9g, finite differences %.9g\n", what, i,
                    (double)dinput[i], numeric);
        CHECK(fabs(numeric - dinput[i]) <= 1e-4);
    }
}

/* A final sigmoid is fused with binary cross-entropy (outputs_sigmoid): the
 * same loss and gradients as the logits model, bit for bit; mse goes
 * through the sigmoid's own backward, so it differs. */
static void test_fused_sigmoid(void) {
    cr_loss_config bce = {.type = CR_LOSS_BINARY_CROSS_ENTROPY};
    double fused, plain;
    float dweight_fused[12], dweight_plain[12], dinput_fused[8], dinput_plain[8];
    if (!net_loss(with_sigmoid, &bce, &fused, dweight_fused, dinput_fused) ||
        !net_loss(logits_only, &bce, &plain, dweight_plain, dinput_plain))
        return;
    CHECK(fused == plain);
    CHECK(memcmp(dweight_fused, dweight_plain, sizeof dweight_fused) == 0);
    CHECK(memcmp(dinput_fused, dinput_plain, sizeof dinput_fused) == 0);
    CHECK(fused > 0);

    cr_loss_config mse = {.type = CR_LOSS_MSE};
    double through, logits;
    float dweight_through[12], dinput_through[8];
    if (!net_loss(with_sigmoid, &mse, &through, dweight_through, dinput_through) ||
        !net_loss(logits_only, &mse, &logits, dweight_plain, dinput_plain))
        return;
    CHECK(through != logits);
    /* Both paths through the sigmoid model against finite differences. */
    check_input_gradient("bce, fused", with_sigmoid, &bce, dinput_fused);
    check_input_gradient("mse through sigmoid", with_sigmoid, &mse, dinput_through);
}

/* Right answers per loss: argmax for cross-entropy, logit signs for
 * binary cross-entropy, nothing for mse. */
static void test_accuracy(void) {
    CHECK_NEAR(cr_loss_accuracy(CR_LOSS_CROSS_ENTROPY, 3, 4, 10), 0.75, 0);
    CHECK_NEAR(cr_loss_accuracy(CR_LOSS_BINARY_CROSS_ENTROPY, 9, 4, 3), 0.75, 0);
    CHECK(isnan(cr_loss_accuracy(CR_LOSS_MSE, 0, 4, 3)));
    fixture f;
    if (!fixture_build(&f, logits_only, 2)) return;
    for (int p = 0; p < cr_net_param_count(f.net); p++) {
        cr_tensor t = cr_net_param(f.net, p);
        memset(t.data, 0, (size_t)t.count * sizeof *t.data);
    }
    /* bias (3): logits (1, −1, 1) for every image. */
    cr_tensor bias = cr_net_param(f.net, 1);
    bias.data[0] = 1;
    bias.data[1] = -1;
    bias.data[2] = 1;
    memset(cr_net_input(f.net), 0, 8 * sizeof(float));
    cr_net_forward(f.net, false);
    static const float targets[6] = {1, 0, 1, 1, 1, 0}; /* image 0 all right, image 1 one of 3 */
    cr_loss_config bce = {.type = CR_LOSS_BINARY_CROSS_ENTROPY};
    int64_t exact;
    CHECK_INT((int)cr_net_loss_correct(f.net, &bce, NULL, targets, &exact), 4);
    CHECK_INT((int)exact, 1);
    static const int labels[2] = {0, 1};
    cr_loss_config ce = {.type = CR_LOSS_CROSS_ENTROPY};
    CHECK_INT((int)cr_net_loss_correct(f.net, &ce, labels, NULL, NULL), 1);
    cr_net_free(f.net);
    cr_model_free(f.model);
}

/* ---- --print: cnnrun's numbers for tests/pytorch/losses.py --------------------------- */

static void print_values(const char *name, double loss, const float *grad, int count) {
    printf("%s %.17g", name, loss);
    for (int i = 0; i < count; i++) printf(" %.9g", (double)grad[i]);
    printf("\n");
}

static int print_all(void) {
    float grad[12];
    for (size_t k = 0; k < sizeof ce_cases / sizeof *ce_cases; k++)
        print_values(ce_cases[k].name, run_ce(&ce_cases[k], ce_logits, grad), grad, 12);
    print_values("bce", run_bce(bce_logits, grad), grad, 6);
    print_values("mse", run_mse(mse_output, grad), grad, 6);
    float clipped[5];
    memcpy(clipped, clip_grads, sizeof clipped);
    print_values("clip", cr_clip_grad_norm(clipped, 5, 1.0f), clipped, 5);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--print") == 0) return print_all();
    test_against_pytorch();
    test_denominators();
    test_finite_differences();
    test_stable_extremes();
    test_fused_sigmoid();
    test_accuracy();
    return check_report();
}
