/* groupnorm, hand-computed: statistics per image and group, the affine map
 * per channel, and the gradients, through the runtime. */
#include <math.h>

#include "net_fixture.h"

int main(void) {
    /* Two channels of 1×2 = [1, 2 | 3, 4]. One group: mean 2.5, variance
     * 1.25; two groups: each channel alone, mean 1.5 / 3.5, variance 0.25. */
    const float x[4] = {1, 2, 3, 4};
    double s1 = 1.0 / sqrt(1.25 + 1e-5), s2 = 1.0 / sqrt(0.25 + 1e-5);
    fixture f;
    if (fixture_build(&f, "input: [2, 1, 2]\nlayers:\n  - {type: groupnorm, name: g, groups: 1}\n",
                      1)) {
        memcpy(cr_net_input(f.net), x, sizeof x);
        cr_net_forward(f.net, true);
        check_floats("groupnorm 1 group", cr_net_output(f.net),
                     (const float[]){(float)(-1.5 * s1), (float)(-0.5 * s1), (float)(0.5 * s1),
                                     (float)(1.5 * s1)},
                     4, 1e-6);
        /* dy = x̂ direction only through channel 1: dbeta = Σ dy per channel,
         * dgamma = Σ dy·x̂. With γ = 1 and dy = [0, 0, 1, 1]: g = dy,
         * mean(g) = 0.5, mean(g·x̂) = (0.5 + 1.5)·s1/4 = 0.5·s1;
         * dx = s1·(g − 0.5 − x̂·0.5·s1). */
        memcpy(cr_net_output_grad(f.net), (const float[]){0, 0, 1, 1}, 4 * sizeof(float));
        cr_net_backward(f.net);
        float dx[4];
        for (int i = 0; i < 4; i++) {
            double x_hat = (x[i] - 2.5) * s1, g = i >= 2 ? 1 : 0;
            dx[i] = (float)(s1 * (g - 0.5 - x_hat * 0.5 * s1));
        }
        check_floats("groupnorm dx", cr_net_input_grad(f.net), dx, 4, 1e-5);
        check_floats("groupnorm dbias", fixture_param(&f, "g.bias").grad, (const float[]){0, 2}, 2,
                     1e-6);
        check_floats("groupnorm dweight", fixture_param(&f, "g.weight").grad,
                     (const float[]){0, (float)(2.0 * s1)}, 2, 1e-6);
        fixture_free(&f);
    }
    if (fixture_build(&f,
                      "input: [2, 1, 2]\nlayers:\n  - {type: groupnorm, name: g, groups: 2}\n",
                      1)) {
        fixture_set_param(&f, "g.weight", (const float[]){2, 3}, 2);
        fixture_set_param(&f, "g.bias", (const float[]){10, 20}, 2);
        memcpy(cr_net_input(f.net), x, sizeof x);
        cr_net_forward(f.net, false); /* the same statistics in evaluation */
        check_floats("groupnorm 2 groups", cr_net_output(f.net),
                     (const float[]){(float)(10 - 1.0 * s2), (float)(10 + 1.0 * s2),
                                     (float)(20 - 1.5 * s2), (float)(20 + 1.5 * s2)},
                     4, 1e-5);
        fixture_free(&f);
    }
    return check_report();
}
