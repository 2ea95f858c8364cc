/* `cnnrun bench`'s pieces: the GEMM shapes conv and dense report (checked
 * by hand against their cblas_sgemm calls), the runtime's per-layer timer,
 * and cr_bench_run's figures, which must add up exactly. */
#include <math.h>
#include <stdlib.h>

#include "bench.h"
#include "check.h"
#include "layers/conv.h"
#include "net_fixture.h"
#include "parallel.h"

/* x: 2×6×6 → c1 (grouped 3×3, 4 filters) → c2 (pointwise, 3 filters, frozen
 * in one variant) → dense 5 → softmax. MACs per image: c1 4·36·(1·9) = 1296,
 * c2 3·36·4 = 432, d 5·108 = 540. */
static const char *const small_model = "name: small\n"
                                       "input: [2, 6, 6]\n"
                                       "layers:\n"
                                       "  - {type: conv, name: c1, filters: 4, kernel: 3, "
                                       "padding: 1, groups: 2, activation: relu}\n"
                                       "  - {type: conv, name: c2, filters: 3, kernel: 1}\n"
                                       "  - {type: flatten, name: flat}\n"
                                       "  - {type: dense, name: d, units: 5}\n"
                                       "  - {type: softmax, name: prob}\n";

/* small_model's c1 has groups = channels: as the library chooses, the direct
 * depthwise kernel, which issues no products. Built with the reference path
 * (im2col + sgemm per group, cr_conv_reference_only), its products are the
 * ones checked here by hand. */
static bool build_small(fixture *f, int batch) {
    cr_conv_reference_only(true);
    bool built = fixture_build(f, small_model, batch);
    cr_conv_reference_only(false);
    return built;
}

static const char *const frozen_model = "name: frozen\n"
                                        "input: [2, 6, 6]\n"
                                        "layers:\n"
                                        "  - {type: conv, name: c1, filters: 4, kernel: 3, "
                                        "trainable: false}\n";

static void check_gemm(cr_gemm g, const char *pass, bool trans_a, bool trans_b, int m, int n, int k,
                       int count) {
    CHECK(strcmp(g.pass, pass) == 0);
    CHECK_INT(g.trans_a, trans_a);
    CHECK_INT(g.trans_b, trans_b);
    CHECK_INT(g.m, m);
    CHECK_INT(g.n, n);
    CHECK_INT(g.k, k);
    CHECK_INT(g.count, count);
}

static int layer_gemms(const cr_model *model, int i, int batch, cr_gemm *out) {
    const cr_layer *layer = &model->layers[i];
    cr_shape in = layer->inputs[0] < 0 ? model->input : model->layers[layer->inputs[0]].out;
    return layer->kind->gemms(layer, &in, batch, out, 8);
}

static void test_gemm_shapes(void) {
    /* conv splits the batch into chunks of images, at least one per thread. */
    cr_set_threads(2);
    fixture f;
    fixture fast;
    cr_gemm g[8];
    if (fixture_build(&fast, small_model, 2)) {
        CHECK_INT(layer_gemms(fast.model, 0, 2, g), 0); /* depthwise: no products */
        fixture_free(&fast);
    }
    if (!build_small(&f, 2)) return;
    const cr_model *model = f.model;
    /* c1, per image and group: weight_g [2, 1·9] · col_g [9, 36]; 2 images × 2 groups. */
    CHECK_INT(layer_gemms(model, 0, 2, g), 3);
    check_gemm(g[0], "forward", false, false, 2, 36, 9, 4);
    check_gemm(g[1], "backward-weights", false, true, 2, 9, 36, 4);
    check_gemm(g[2], "backward-input", true, false, 9, 36, 2, 4);
    /* c2 pointwise: weight [3, 4] · image [4, 36], once per image. */
    CHECK_INT(layer_gemms(model, 1, 2, g), 3);
    check_gemm(g[0], "forward", false, false, 3, 36, 4, 2);
    check_gemm(g[2], "backward-input", true, false, 4, 36, 3, 2);
    /* d: x [2, 108] · weightᵀ, one call for the batch. */
    CHECK_INT(layer_gemms(model, 3, 2, g), 3);
    check_gemm(g[0], "forward", false, true, 2, 5, 108, 1);
    check_gemm(g[1], "backward-weights", true, false, 5, 108, 2, 1);
    check_gemm(g[2], "backward-input", false, false, 2, 108, 5, 1);
    /* dense splits each product over the threads (cr_sgemm); conv's calls
     * run whole, inside its own parallel region. */
    CHECK(g[0].threaded && g[1].threaded && g[2].threaded);
    CHECK_INT(layer_gemms(model, 0, 2, g), 3);
    CHECK(!g[0].threaded && !g[1].threaded && !g[2].threaded);
    CHECK(model->layers[2].kind->gemms == NULL); /* flatten issues none */
    /* Batch 5 on 2 threads: c1's chunks hold 3 images (⌈5/2⌉; 36 pixels
     * each is far below a chunk's 1024 columns), then the other 2. */
    CHECK_INT(layer_gemms(model, 0, 5, g), 6);
    check_gemm(g[0], "forward", false, false, 2, 3 * 36, 9, 2);
    check_gemm(g[1], "forward", false, false, 2, 2 * 36, 9, 2);
    check_gemm(g[2], "backward-weights", false, true, 2, 9, 3 * 36, 2);
    check_gemm(g[4], "backward-input", true, false, 9, 3 * 36, 2, 2);
    check_gemm(g[5], "backward-input", true, false, 9, 2 * 36, 2, 2);
    /* Every pass is one product of the layer's MACs for the batch. */
    for (int batch = 1; batch <= 7; batch++)
        for (int i = 0; i < model->n_layers; i++) {
            if (!model->layers[i].kind->gemms) continue;
            int count = layer_gemms(model, i, batch, g);
            static const char *const passes[] = {"forward", "backward-weights", "backward-input"};
            for (int p = 0; p < 3; p++) {
                int64_t products = 0;
                for (int k = 0; k < count; k++)
                    if (strcmp(g[k].pass, passes[p]) == 0)
                        products += (int64_t)g[k].m * g[k].n * g[k].k * g[k].count;
                CHECK_INT(products, model->layers[i].macs * batch);
            }
        }
    /* At most `max` are written. */
    CHECK_INT(model->layers[0].kind->gemms(&model->layers[0], &model->input, 2, g, 1), 1);
    fixture_free(&f);

    /* Frozen weights: no weight-gradient product. */
    if (!fixture_build(&f, frozen_model, 1)) return;
    CHECK_INT(layer_gemms(f.model, 0, 1, g), 2);
    CHECK(strcmp(g[0].pass, "forward") == 0);
    CHECK(strcmp(g[1].pass, "backward-input") == 0);
    fixture_free(&f);
}

/* A 3×3 stride-1 conv with ≥ 16 channels runs forward and its input
 * gradient as Winograd F(2×2, 3×3): 16 products of depth C (forward) or F
 * (input gradient) over 2×2-output tiles; the weight gradient stays im2col. */
static void test_winograd_shapes(void) {
    cr_set_threads(2);
    fixture f;
    if (!fixture_build(&f,
                       "name: w\ninput: [16, 7, 8]\nlayers:\n"
                       "  - {type: conv, name: c, filters: 24, kernel: 3, padding: 1}\n",
                       3))
        return;
    cr_gemm g[8];
    int count = layer_gemms(f.model, 0, 3, g);
    /* 7×8 outputs: 4 × 4 tiles; 3 images on 2 threads: chunks of 2 and 1. */
    CHECK_INT(count, 6);
    check_gemm(g[0], "forward", false, false, 24, 2 * 16, 16, 16);
    check_gemm(g[1], "forward", false, false, 24, 1 * 16, 16, 16);
    check_gemm(g[2], "backward-weights", false, true, 24, 16 * 9, 2 * 56, 1);
    /* Input gradient: 7×8 again, 4 × 4 tiles, from 24 channels to 16. */
    check_gemm(g[4], "backward-input", false, false, 16, 2 * 16, 24, 16);
    check_gemm(g[5], "backward-input", false, false, 16, 1 * 16, 24, 16);
    fixture_free(&f);
}

static void test_layer_timer(void) {
    fixture f;
    if (!build_small(&f, 2)) return;
    int layers = f.model->n_layers;
    double forward[5] = {0}, backward[5] = {0};
    int labels[2] = {1, 4};
    float *input = cr_net_input(f.net);
    for (int i = 0; i < 2 * 72; i++) input[i] = (float)(i % 7) - 3.0f;

    /* Off by default: nothing is written. */
    cr_net_forward(f.net, true);
    cr_net_cross_entropy(f.net, labels);
    cr_net_backward(f.net);
    for (int i = 0; i < layers; i++) CHECK(forward[i] == 0.0 && backward[i] == 0.0);

    /* Forward only: the backward array stays untouched. */
    cr_net_set_layer_times(f.net, forward, NULL);
    cr_net_forward(f.net, true);
    double first_sum = 0.0;
    for (int i = 0; i < layers; i++) {
        CHECK(forward[i] >= 0.0 && forward[i] < 1.0);
        CHECK(backward[i] == 0.0);
        first_sum += forward[i];
    }
    CHECK(first_sum > 0.0);
    /* Times add up across calls. */
    double before[5];
    memcpy(before, forward, sizeof before);
    cr_net_forward(f.net, true);
    for (int i = 0; i < layers; i++) CHECK(forward[i] >= before[i]);

    /* Backward, including the fused softmax + cross-entropy (layer 4). */
    cr_net_set_layer_times(f.net, NULL, backward);
    memcpy(before, forward, sizeof before);
    cr_net_cross_entropy(f.net, labels);
    cr_net_backward(f.net);
    double backward_sum = 0.0;
    for (int i = 0; i < layers; i++) {
        CHECK(forward[i] == before[i]);
        CHECK(backward[i] >= 0.0 && backward[i] < 1.0);
        backward_sum += backward[i];
    }
    CHECK(backward_sum > 0.0);
    fixture_free(&f);
}

static void test_bench_figures(void) {
    cr_model *model;
    cr_error err;
    cr_conv_reference_only(true); /* as build_small */
    int failed = cr_model_load_text(small_model, strlen(small_model), "small.yaml", &model, &err);
    cr_conv_reference_only(false);
    if (failed) {
        CHECK(!"model loads");
        return;
    }
    cr_bench_options options = {.batch = 2, .steps = 3, .warmup = 1, .gemm_seconds = 1e-3};
    cr_bench_result r;
    CHECK(cr_bench_run(model, &options, &r, &err) == 0);
    CHECK_INT(r.n_layers, 5);
    CHECK_INT(r.batch, 2);
    CHECK_INT(r.steps, 3);
    CHECK_INT(r.warmup, 1);
    CHECK(r.threads >= 1);

    double layers_ms = 0.0, shares = 0.0;
    for (int i = 0; i < r.n_layers; i++) {
        const cr_bench_layer *l = &r.layers[i];
        CHECK(l->forward_ms >= 0 && l->backward_ms >= 0 && l->share >= 0);
        layers_ms += l->forward_ms + l->backward_ms;
        shares += l->share;
    }
    CHECK_NEAR(r.layers_ms, layers_ms, 1e-12);
    CHECK_NEAR(shares, 1.0, 1e-9);
    CHECK(r.other_ms >= 0);
    CHECK_NEAR(r.step_ms, r.layers_ms + r.other_ms, 1e-12);
    CHECK(r.step_ms > 0 && r.step_wall_ms > 0 && r.inference_ms > 0);
    CHECK_NEAR(r.train_images_per_second, 2 * 1e3 / r.step_ms, 1e-12);
    CHECK_NEAR(r.inference_images_per_second, 2 * 1e3 / r.inference_ms, 1e-12);

    /* FLOPs per step at batch 2: c1 is the first layer (no input gradient):
     * forward + weights = 2 products; c2 and d 3. Each product 2·macs·2. */
    static const double flops[5] = {2 * 1296 * 2 * 2, 2 * 432 * 2 * 3, 0, 2 * 540 * 2 * 3, 0};
    for (int i = 0; i < 5; i++) {
        const cr_bench_layer *l = &r.layers[i];
        CHECK_NEAR(l->flops, flops[i], 0);
        CHECK_NEAR(l->gemm_flops, flops[i], 0); /* the bench drops c1's input product too */
        if (flops[i] == 0) {
            CHECK(isnan(l->gflops) && isnan(l->gemm_gflops) && isnan(l->efficiency));
            continue;
        }
        double seconds = (l->forward_ms + l->backward_ms) * 1e-3;
        CHECK_NEAR(l->gflops, flops[i] / seconds / 1e9, 1e-12);
        CHECK(l->gemm_ms > 0);
        CHECK_NEAR(l->gemm_gflops, flops[i] / (l->gemm_ms * 1e-3) / 1e9, 1e-12);
        CHECK_NEAR(l->efficiency, l->gflops / l->gemm_gflops, 1e-12);
        CHECK_NEAR(l->peak_fraction, l->gflops / r.machine.peak_gflops_all, 1e-12);
    }

    /* The machine's peak and the step's share of it: the step's FLOPs are
     * the layers' (c1 + c2 + d) over the step's time. */
    const cr_bench_machine *machine = &r.machine;
    CHECK(machine->peak_size == 1024);
    CHECK(machine->peak_gflops_single > 0 && isfinite(machine->peak_gflops_single));
    CHECK(machine->peak_gflops_all > 0 && isfinite(machine->peak_gflops_all));
    CHECK(machine->vector_bits == 128 || machine->vector_bits == 256 ||
          machine->vector_bits == 512);
    CHECK(machine->blas_core[0] != '\0' && machine->cnnrun_loops != NULL);
    double step_flops = flops[0] + flops[1] + flops[3];
    CHECK_NEAR(r.step_gflops, step_flops / (r.step_ms * 1e-3) / 1e9, 1e-12);
    CHECK_NEAR(r.step_peak_fraction, r.step_gflops / machine->peak_gflops_all, 1e-12);
    CHECK(r.user_seconds > 0 && r.system_seconds >= 0);

    /* Planned: the training net plus SGD's velocity, as cnnrun check counts it
     * (the net rounds each buffer up to 64 bytes). */
    cr_memory m = cr_model_memory(model, 2, true, 1);
    CHECK(r.planned_bytes >= m.total && r.planned_bytes < m.total + 64 * 32);
    CHECK(r.peak_rss_bytes > r.planned_bytes);
    cr_bench_result_free(&r);

    options.batch = 0;
    CHECK(cr_bench_run(model, &options, &r, &err) != 0);
    CHECK_INT(err.kind, CR_ERR_USAGE);
    cr_model_free(model);
}

int main(void) {
    test_gemm_shapes();
    test_winograd_shapes();
    test_layer_timer();
    test_bench_figures();
    return check_report();
}
