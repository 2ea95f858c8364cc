/* Gradient check: analytic gradients from cr_net_backward against central
 * finite differences of the loss, per parameter tensor and for the input.
 *
 * The loss is the mean cross-entropy against random labels when the model
 * ends in softmax (so the fused softmax + cross-entropy path is what gets
 * checked), and a fixed random projection Σ r·y of the output otherwise.
 * The loss is summed in double; each derivative is a Richardson-extrapolated
 * central difference (steps h and h/2), which cancels the O(h²) error. A
 * point where the two step sizes disagree sits on a kink (relu at 0, a
 * max-pool tie within h): it is skipped and another is drawn, so non-smooth
 * points do not raise false alarms. See docs/gradcheck.md. */
#ifndef CNNRUN_GRADCHECK_H
#define CNNRUN_GRADCHECK_H

#include "cnnrun.h"
#include "model.h"

typedef struct cr_gradcheck_options {
    int batch;         /* images in the random batch (default 2) */
    uint64_t seed;     /* weights, inputs, labels, directions */
    int samples;       /* elements checked per tensor */
    int directions;    /* ... plus this many random multi-element directions */
    double tolerance;  /* largest acceptable relative error */
    int tensor_stride; /* check every k-th parameter tensor (0 or 1: all); the input always */
} cr_gradcheck_options;

typedef struct cr_gradcheck_result {
    char name[160]; /* "c1.weight", "input" */
    char kind[32];  /* layer type the tensor belongs to */
    int64_t count;  /* elements in the tensor */
    int checked;    /* elements + directions compared */
    int skipped;    /* points on kinks, replaced by others */
    double worst;   /* largest relative error seen */
    bool passed;
} cr_gradcheck_result;

/* Runs the check; *results (n entries, caller frees) in layer order, the
 * input last. Returns 0 when it ran (look at .passed), 1 with err when not. */
int cr_gradcheck(const cr_model *model, const cr_gradcheck_options *options,
                 cr_gradcheck_result **results, int *n_results, cr_error *err);

#endif
