/* How fast a model trains and infers here, per layer, and how close its
 * convolutions come to what OpenBLAS alone does on the same matrix products
 * (`cnnrun bench`).
 *
 * A training step is what a user's training loop does minus the data:
 * forward (training mode), cross-entropy, backward and an optimizer update,
 * on a random batch (seeded). After `warmup` untimed steps, `steps` steps are
 * timed; every figure is a median over them:
 *   forward_ms[i], backward_ms[i]  layer i's own wall time (cr_net_set_layer_times)
 *   other_ms   the rest of a step: loss, optimizer, zeroing gradients, calls
 *   layers_ms  = Σ_i (forward_ms + backward_ms)
 *   step_ms    = layers_ms + other_ms
 * so the figures add up exactly; step_ms agrees with the median wall time
 * of a step (step_wall_ms) up to noise.
 *
 * FLOPs of a layer with multiply-accumulates (conv, dense), per step:
 *   forward 2·macs·batch; backward 2·macs·batch for the weight gradient (when
 *   trainable) plus as much for the input gradient (when some layer needs it:
 *   not for the first layer). gflops = those FLOPs / (forward + backward time).
 * The sgemm ceiling: cblas_sgemm alone on each shape the layer issues (its
 * kind's `gemms`), own buffers, same transposes, threaded as the layer
 * runs them (split by cr_sgemm, or shared among the threads with each call
 * single-threaded OpenBLAS), median of repetitions;
 * gemm_gflops = the GEMMs' FLOPs / that time, efficiency = gflops /
 * gemm_gflops: the share of the im2col design's ceiling the layer reaches. */
#ifndef CNNRUN_BENCH_H
#define CNNRUN_BENCH_H

#include <stdint.h>

#include "cnnrun.h"
#include "model.h"
#include "optim.h"

typedef struct cr_bench_options {
    int batch;  /* images per step */
    int steps;  /* timed steps (and timed inference forwards); < 1: 10 */
    int warmup; /* untimed steps first; negative: 3 */
    uint64_t seed;
    /* The update in each step; NULL: SGD with momentum 0.9 (lr 0.01). */
    const cr_optimizer_config *optimizer;
    /* Least time spent timing each GEMM shape (seconds); default 0.02. */
    double gemm_seconds;
    /* Called between phases ("training", "inference", "sgemm"), e.g. for a
     * progress line; may be NULL. */
    void (*progress)(void *user, const char *phase, int done, int total);
    void *user;
    /* Training steps take their batches from this loader (loader.h, batch
     * size `batch`, epochs over `order` started as needed) instead of one
     * random batch: the step's wall time then includes waiting for it. */
    struct cr_loader *loader;
    const int *order;
} cr_bench_options;

typedef struct cr_bench_layer {
    double forward_ms, backward_ms; /* medians over the timed steps */
    double share;                   /* (forward_ms + backward_ms) / layers_ms */
    double flops;                   /* per step, forward + backward; 0: no MACs */
    double gflops;                  /* NAN for layers without MACs */
    double gemm_flops;              /* of the layer's GEMMs per step; 0: none */
    double gemm_ms;                 /* OpenBLAS alone on them */
    double gemm_gflops, efficiency; /* NAN when the layer issues no GEMMs */
    double peak_fraction;           /* gflops / the machine's all-thread peak; NAN as gflops */
} cr_bench_layer;

/* The machine's ceiling, for the figures above: OpenBLAS's sgemm on one
 * large square product (PEAK_SIZE², alone on one thread, and split over
 * all of them as cr_sgemm splits it), with the kernels OpenBLAS picked for
 * this processor (or OPENBLAS_CORETYPE). */
typedef struct cr_bench_machine {
    char processor[128];       /* /proc/cpuinfo's model name; "" when unknown */
    int vector_bits;           /* the widest vectors the processor has */
    const char *cnnrun_loops;  /* the vector loops cnnrun chose (lib/cpu.h) */
    char blas_core[64];        /* openblas_get_corename() */
    char blas_config[192];     /* openblas_get_config() */
    int peak_size;             /* n of the n×n·n×n product */
    double peak_gflops_single; /* one thread */
    double peak_gflops_all;    /* every thread (cr_threads()) */
} cr_bench_machine;

typedef struct cr_bench_result {
    int batch, steps, warmup, threads;
    int n_layers;
    cr_bench_layer *layers; /* [n_layers], as cr_model.layers */
    double layers_ms, other_ms, step_ms, step_wall_ms;
    double train_images_per_second; /* batch / step */
    double loader_wait_ms;          /* median wait for the loader's batch; NAN without one */
    double inference_ms;            /* median forward in inference mode */
    double inference_images_per_second;
    int64_t peak_rss_bytes; /* the process's peak resident memory after the run */
    int64_t planned_bytes;  /* training net + optimizer state, as planned */
    /* CPU time of the whole process (getrusage) at the end of the run: a
     * system share above a few per cent means threads sleep and wake in
     * the kernel instead of computing. */
    double user_seconds, system_seconds;
    /* The training step's FLOPs (every conv and dense layer's, as direct
     * convolution counts them) over its time, and that as a fraction of
     * the all-thread peak. */
    double step_gflops, step_peak_fraction;
    cr_bench_machine machine;
} cr_bench_result;

/* Runs the benchmark on `model` (its current input shape). Fills *out;
 * free with cr_bench_result_free. */
int cr_bench_run(const cr_model *model, const cr_bench_options *options, cr_bench_result *out,
                 cr_error *err);
void cr_bench_result_free(cr_bench_result *result);

#endif
