/* dropout through the runtime: how many values survive, their exact scale,
 * the gradient following the mask, identity in evaluation and at rate 0, and
 * the mask as a pure function of the random state. */
#include <stdlib.h>

#include "check.h"
#include "net_fixture.h"

#define VALUES 10000 /* 4 × 50 × 50 */

static void fill_input(fixture *f) {
    float *x = cr_net_input(f->net);
    for (int i = 0; i < VALUES; i++) x[i] = (float)(i % 13) - 6.5f; /* never 0 */
}

static void test_dropout_training(void) {
    fixture f;
    if (!fixture_build(&f,
                       "input: [4, 50, 50]\n"
                       "layers:\n"
                       "  - {type: dropout, rate: 0.3}\n",
                       1))
        return;
    fill_input(&f);
    cr_net_set_rng_state(f.net, 42);
    cr_net_forward(f.net, true);
    const float *x = cr_net_input(f.net), *y = cr_net_output(f.net);
    const float scale = 1.0f / (1.0f - 0.3f);
    int kept = 0, exact = 0;
    for (int i = 0; i < VALUES; i++) {
        if (y[i] == 0.0f) continue;
        kept++;
        exact += y[i] == x[i] * scale;
    }
    /* Binomial(10000, 0.7): standard deviation 0.0046, so ±0.025 is 5σ. */
    CHECK_NEAR((double)kept / VALUES, 0.7, 0.025);
    CHECK_INT(exact, kept);

    /* The gradient passes exactly where the value did, with the same scale. */
    float *dy = cr_net_output_grad(f.net);
    for (int i = 0; i < VALUES; i++) dy[i] = 1.0f;
    cr_net_backward(f.net);
    const float *dx = cr_net_input_grad(f.net);
    int agree = 0;
    for (int i = 0; i < VALUES; i++) agree += dx[i] == (y[i] != 0.0f ? scale : 0.0f);
    CHECK_INT(agree, VALUES);

    /* Same state, same mask; another state, another mask. */
    float *first = malloc(VALUES * sizeof *first);
    memcpy(first, y, VALUES * sizeof *first);
    cr_net_set_rng_state(f.net, 42);
    cr_net_forward(f.net, true);
    CHECK(memcmp(first, cr_net_output(f.net), VALUES * sizeof *first) == 0);
    cr_net_forward(f.net, true); /* the state moved on */
    int same = 0;
    for (int i = 0; i < VALUES; i++) same += (first[i] == 0.0f) == (y[i] == 0.0f);
    CHECK(same < VALUES * 0.7); /* independent masks agree on ~58% (0.7² + 0.3²) */
    free(first);

    /* Evaluation: a plain copy. */
    cr_net_forward(f.net, false);
    CHECK(memcmp(cr_net_input(f.net), cr_net_output(f.net), VALUES * sizeof(float)) == 0);
    fixture_free(&f);
}

static void test_dropout_rate_zero(void) {
    fixture f;
    if (!fixture_build(&f,
                       "input: [4, 50, 50]\n"
                       "layers:\n"
                       "  - {type: dropout, rate: 0}\n",
                       1))
        return;
    fill_input(&f);
    cr_net_set_rng_state(f.net, 7);
    cr_net_forward(f.net, true);
    CHECK(memcmp(cr_net_input(f.net), cr_net_output(f.net), VALUES * sizeof(float)) == 0);
    CHECK(cr_net_rng_state(f.net) == 7); /* nothing drawn */
    float *dy = cr_net_output_grad(f.net);
    for (int i = 0; i < VALUES; i++) dy[i] = (float)i;
    cr_net_backward(f.net);
    CHECK(memcmp(cr_net_input_grad(f.net), dy, VALUES * sizeof(float)) == 0);
    fixture_free(&f);
}

/* A small rate over a batch: every image gets its own mask (the draws run on
 * across images), and the kept fraction is right again. */
static void test_dropout_batch(void) {
    fixture f;
    if (!fixture_build(&f,
                       "input: [1, 50, 50]\n"
                       "layers:\n"
                       "  - {type: dropout, rate: 0.1}\n",
                       4))
        return;
    fill_input(&f);
    cr_net_forward(f.net, true);
    const float *y = cr_net_output(f.net);
    int kept = 0, same_as_first = 0;
    for (int i = 0; i < VALUES; i++) kept += y[i] != 0.0f;
    for (int i = 0; i < 2500; i++) same_as_first += (y[i] == 0.0f) == (y[2500 + i] == 0.0f);
    CHECK_NEAR((double)kept / VALUES, 0.9, 0.015);
    CHECK(same_as_first < 2500);
    fixture_free(&f);
}

int main(void) {
    test_dropout_training();
    test_dropout_rate_zero();
    test_dropout_batch();
    return check_report();
}
