/* `cnnrun bench`: training and inference speed per layer, and OpenBLAS's
 * sgemm rate on the layers' own matrix shapes (see bench.h). */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "clock.h"
#include "bench.h"
#include "cpu.h"
#include "freeze.h"
#include "loader.h"
#include "parallel.h"
#include "random.h"

#define MAX_GEMMS_PER_LAYER 8
#define MAX_GEMM_REPEATS    1000
#define MIN_GEMM_REPEATS    3

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts values in place; the mean of the middle two for an even count. */
static double median(double *values, int count) {
    qsort(values, (size_t)count, sizeof *values, compare_doubles);
    return count % 2 ? values[count / 2] : (values[count / 2 - 1] + values[count / 2]) / 2;
}

static void fill_uniform(float *data, int64_t count, uint64_t *rng) {
    for (int64_t i = 0; i < count; i++) data[i] = 2.0f * cr_random_uniform(rng) - 1.0f;
}

static void progress(const cr_bench_options *options, const char *phase, int done, int total) {
    if (options->progress) options->progress(options->user, phase, done, total);
}

static int out_of_memory(cr_error *err) {
    return cr_fail(err, CR_ERR_RUNTIME, (cr_mark){0}, NULL, "out of memory for the benchmark");
}

/* Whether the runtime computes layer i's input gradient: when a layer it
 * reads runs backward (freeze.h; the bench's nets plan no gradient for the
 * network input, so the first layer has none). */
static bool needs_input_grad(const cr_model *model, int i) {
    bool *wanted = malloc((size_t)model->n_layers * sizeof *wanted);
    if (!wanted) return true;
    cr_model_backward_wanted(model, false, wanted);
    const cr_layer *layer = &model->layers[i];
    bool needed = false;
    for (int k = 0; k < layer->n_inputs; k++)
        if (layer->inputs[k] >= 0 && wanted[layer->inputs[k]]) needed = true;
    free(wanted);
    return needed;
}

static bool has_trainable_weights(const cr_layer *layer) {
    return layer->n_params > 0 && layer->params[0].trainable && !layer->params[0].is_buffer;
}

/* FLOPs of one training step (forward + backward) at `batch`; each of the
 * forward, weight-gradient and input-gradient products costs 2·macs·batch. */
static double layer_flops(const cr_model *model, int i, int batch) {
    const cr_layer *layer = &model->layers[i];
    double one_product = 2.0 * (double)layer->macs * batch;
    return one_product * (1 + has_trainable_weights(layer) + needs_input_grad(model, i));
}

/* ---- training ------------------------------------------------------------------- */

typedef struct step_times {
    double *forward, *backward;  /* [steps][n_layers] */
    double *other, *wall, *wait; /* [steps] */
} step_times;

static void step_times_free(step_times *t) {
    free(t->forward);
    free(t->backward);
    free(t->other);
    free(t->wall);
    free(t->wait);
}

/* The next batch from the loader into the network's input; returns the
 * seconds spent waiting for it. */
static double take_batch(const cr_bench_options *options, cr_net *net, int *labels,
                         int64_t *epoch) {
    double started = cr_monotonic_seconds();
    const cr_loader_batch *batch = cr_loader_next(options->loader);
    if (!batch) {
        cr_loader_epoch(options->loader, ++*epoch, options->order, 0);
        batch = cr_loader_next(options->loader);
    }
    double waited = cr_monotonic_seconds() - started;
    cr_net_set_batch(net, batch->n);
    size_t image_size = (size_t)cr_shape_size(cr_net_model(net)->input);
    memcpy(cr_net_input(net), batch->images, sizeof(float) * image_size * batch->n);
    memcpy(labels, batch->labels, sizeof(int) * batch->n);
    return waited;
}

static int bench_training(const cr_model *model, const cr_bench_options *options,
                          cr_bench_result *result, cr_error *err) {
    int layers = model->n_layers, steps = options->steps, batch = options->batch;
    cr_net_options net_options = {.seed = options->seed, .training = true, .fuse_training = true};
    cr_net *net;
    if (cr_net_create(model, batch, &net_options, &net, err)) return 1;
    cr_optimizer_config sgd = cr_optimizer_defaults(CR_OPT_SGD);
    const cr_optimizer_config *update = options->optimizer ? options->optimizer : &sgd;
    cr_optimizer optimizer = {0};
    int64_t parameter_count, gradient_count;
    float *params = cr_net_param_block(net, &parameter_count);
    const float *grads = cr_net_grad_block(net, &gradient_count);
    if (cr_optimizer_init(&optimizer, update, parameter_count, err)) {
        cr_net_free(net);
        return 1;
    }
    step_times t = {
        .forward = calloc((size_t)steps * layers, sizeof(double)),
        .backward = calloc((size_t)steps * layers, sizeof(double)),
        .other = calloc((size_t)steps, sizeof(double)),
        .wall = calloc((size_t)steps, sizeof(double)),
        .wait = calloc((size_t)steps, sizeof(double)),
    };
    double *forward_seconds = calloc((size_t)layers, sizeof(double));
    double *backward_seconds = calloc((size_t)layers, sizeof(double));
    double *column = calloc((size_t)steps, sizeof(double));
    int *labels = malloc((size_t)batch * sizeof *labels);
    int status = 0;
    if (!t.forward || !t.backward || !t.other || !t.wall || !t.wait || !forward_seconds ||
        !backward_seconds || !column || !labels) {
        status = out_of_memory(err);
        goto done;
    }

    uint64_t rng = options->seed ^ 0x6A09E667F3BCC908ULL;
    int classes = (int)cr_shape_size(model->layers[model->output].out);
    fill_uniform(cr_net_input(net), batch * cr_shape_size(model->input), &rng);
    for (int n = 0; n < batch; n++) labels[n] = (int)cr_random_below(&rng, (uint64_t)classes);
    cr_net_set_layer_times(net, forward_seconds, backward_seconds);
    int64_t epoch = 0;
    if (options->loader) cr_loader_epoch(options->loader, epoch, options->order, 0);
    for (int s = 0; s < options->warmup + steps; s++) {
        memset(forward_seconds, 0, (size_t)layers * sizeof(double));
        memset(backward_seconds, 0, (size_t)layers * sizeof(double));
        double started = cr_monotonic_seconds(), waited = 0.0;
        if (options->loader) waited = take_batch(options, net, labels, &epoch);
        cr_net_forward(net, true);
        cr_net_cross_entropy(net, labels);
        cr_net_backward(net);
        cr_optimizer_step(&optimizer, params, grads, update->lr);
        if (options->loader) cr_loader_release(options->loader);
        double wall = cr_monotonic_seconds() - started;
        int k = s - options->warmup;
        if (k >= 0) {
            t.wait[k] = waited;
            double in_layers = 0.0;
            for (int i = 0; i < layers; i++) {
                t.forward[(int64_t)k * layers + i] = forward_seconds[i];
                t.backward[(int64_t)k * layers + i] = backward_seconds[i];
                in_layers += forward_seconds[i] + backward_seconds[i];
            }
            t.wall[k] = wall;
            t.other[k] = wall - in_layers;
        }
        progress(options, "training", s + 1, options->warmup + steps);
    }
    cr_net_set_layer_times(net, NULL, NULL);

    result->layers_ms = 0.0;
    for (int i = 0; i < layers; i++) {
        cr_bench_layer *layer = &result->layers[i];
        for (int k = 0; k < steps; k++) column[k] = t.forward[(int64_t)k * layers + i];
        layer->forward_ms = 1e3 * median(column, steps);
        for (int k = 0; k < steps; k++) column[k] = t.backward[(int64_t)k * layers + i];
        layer->backward_ms = 1e3 * median(column, steps);
        result->layers_ms += layer->forward_ms + layer->backward_ms;
    }
    result->other_ms = 1e3 * median(t.other, steps);
    result->step_ms = result->layers_ms + result->other_ms;
    result->step_wall_ms = 1e3 * median(t.wall, steps);
    result->loader_wait_ms = options->loader ? 1e3 * median(t.wait, steps) : NAN;
    if (options->loader) cr_loader_stop(options->loader);
    result->train_images_per_second = batch * 1e3 / result->step_ms;
    result->planned_bytes =
        cr_net_allocated_bytes(net) + optimizer.state_floats * (int64_t)sizeof(float);
    for (int i = 0; i < layers; i++) {
        cr_bench_layer *layer = &result->layers[i];
        const cr_layer *model_layer = &model->layers[i];
        double ms = layer->forward_ms + layer->backward_ms;
        layer->share = result->layers_ms > 0 ? ms / result->layers_ms : 0.0;
        layer->flops = model_layer->macs > 0 ? layer_flops(model, i, batch) : 0.0;
        layer->gflops = layer->flops > 0 && ms > 0 ? layer->flops / (ms * 1e-3) / 1e9 : NAN;
    }

done:
    free(labels);
    free(column);
    free(forward_seconds);
    free(backward_seconds);
    step_times_free(&t);
    cr_optimizer_free(&optimizer);
    cr_net_free(net);
    return status;
}

/* ---- inference ------------------------------------------------------------------ */

static int bench_inference(const cr_model *model, const cr_bench_options *options,
                           cr_bench_result *result, cr_error *err) {
    cr_net_options net_options = {.seed = options->seed, .training = false, .fuse_inference = true};
    cr_net *net;
    if (cr_net_create(model, options->batch, &net_options, &net, err)) return 1;
    double *times = calloc((size_t)options->steps, sizeof(double));
    if (!times) {
        cr_net_free(net);
        return out_of_memory(err);
    }
    uint64_t rng = options->seed ^ 0xBB67AE8584CAA73BULL;
    fill_uniform(cr_net_input(net), options->batch * cr_shape_size(model->input), &rng);
    for (int s = 0; s < options->warmup + options->steps; s++) {
        double started = cr_monotonic_seconds();
        cr_net_forward(net, false);
        int k = s - options->warmup;
        if (k >= 0) times[k] = cr_monotonic_seconds() - started;
        progress(options, "inference", s + 1, options->warmup + options->steps);
    }
    result->inference_ms = 1e3 * median(times, options->steps);
    result->inference_images_per_second = options->batch * 1e3 / result->inference_ms;
    free(times);
    cr_net_free(net);
    return 0;
}

/* ---- the sgemm ceiling ---------------------------------------------------------- */

typedef struct gemm_buffers {
    float *a, *b, *c; /* c: one [c_stride] slice per thread */
    int64_t c_stride;
} gemm_buffers;

/* The GEMMs layer i issues in the bench's training step. */
static int layer_gemms(const cr_model *model, int i, int batch, cr_gemm *out) {
    const cr_layer *layer = &model->layers[i];
    if (!layer->kind->gemms) return 0;
    cr_shape in[8];
    int n_inputs = layer->n_inputs < 8 ? layer->n_inputs : 8;
    for (int k = 0; k < n_inputs; k++)
        in[k] = layer->inputs[k] < 0 ? model->input : model->layers[layer->inputs[k]].out;
    cr_gemm all[MAX_GEMMS_PER_LAYER];
    int count = layer->kind->gemms(layer, in, batch, all, MAX_GEMMS_PER_LAYER), kept = 0;
    for (int g = 0; g < count; g++)
        if (needs_input_grad(model, i) || strcmp(all[g].pass, "backward-input") != 0)
            out[kept++] = all[g];
    return kept;
}

/* The calls of one shape that a step makes, as the layer makes them: each
 * split over the threads by cr_sgemm (threaded), or shared among the threads
 * as conv shares its chunks of images (contiguous, static), each a
 * single-threaded OpenBLAS call writing the thread's own output. A single
 * unthreaded call runs on the calling thread: a parallel region for it would
 * time the region (milliseconds when another process holds a core). */
static void run_gemm(const cr_gemm *g, const gemm_buffers *buffers, int threads) {
    int lda = g->trans_a ? g->m : g->k, ldb = g->trans_b ? g->k : g->n;
    if (g->threaded) {
        for (int call = 0; call < g->count; call++)
            cr_sgemm(g->trans_a, g->trans_b, g->m, g->n, g->k, 1.0f, buffers->a, lda, buffers->b,
                     ldb, 0.0f, buffers->c, g->n);
        return;
    }
    if (threads > g->count) threads = g->count;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        int thread = omp_get_thread_num();
        int64_t first, end;
        cr_thread_share(g->count, thread, omp_get_num_threads(), &first, &end);
        float *c = buffers->c + thread * buffers->c_stride;
        for (int64_t call = first; call < end; call++)
            cblas_sgemm(CblasRowMajor, g->trans_a ? CblasTrans : CblasNoTrans,
                        g->trans_b ? CblasTrans : CblasNoTrans, g->m, g->n, g->k, 1.0f, buffers->a,
                        lda, buffers->b, ldb, 0.0f, c, g->n);
    }
}

/* Median seconds of one step's calls of this shape: one untimed round, then
 * at least MIN_GEMM_REPEATS timed rounds and `least_seconds` in all. */
static double time_gemm(const cr_gemm *g, const gemm_buffers *buffers, int threads,
                        double least_seconds, double *times) {
    run_gemm(g, buffers, threads);
    int repeats = 0;
    double spent = 0.0;
    while (repeats < MAX_GEMM_REPEATS && (repeats < MIN_GEMM_REPEATS || spent < least_seconds)) {
        double started = cr_monotonic_seconds();
        run_gemm(g, buffers, threads);
        times[repeats] = cr_monotonic_seconds() - started;
        spent += times[repeats++];
    }
    return median(times, repeats);
}

static int bench_gemms(const cr_model *model, const cr_bench_options *options,
                       cr_bench_result *result, cr_error *err) {
    int64_t a_floats = 1, b_floats = 1, c_floats = 1;
    cr_gemm gemms[MAX_GEMMS_PER_LAYER];
    int total = 0;
    for (int i = 0; i < model->n_layers; i++) {
        int count = layer_gemms(model, i, options->batch, gemms);
        for (int g = 0; g < count; g++) {
            int64_t a = (int64_t)gemms[g].m * gemms[g].k, b = (int64_t)gemms[g].k * gemms[g].n,
                    c = (int64_t)gemms[g].m * gemms[g].n;
            if (a > a_floats) a_floats = a;
            if (b > b_floats) b_floats = b;
            if (c > c_floats) c_floats = c;
        }
        total += count;
    }
    cr_set_threads(0); /* OpenBLAS single-threaded, as inside the layers */
    int threads = cr_threads();
    c_floats = cr_round_up_floats(c_floats); /* each thread's slice on its own cache lines */
    gemm_buffers buffers = {malloc((size_t)a_floats * sizeof(float)),
                            malloc((size_t)b_floats * sizeof(float)),
                            malloc((size_t)(c_floats * threads) * sizeof(float)), c_floats};
    double *times = malloc(MAX_GEMM_REPEATS * sizeof *times);
    int status = 0;
    if (!buffers.a || !buffers.b || !buffers.c || !times) {
        status = out_of_memory(err);
        goto done;
    }
    uint64_t rng = options->seed ^ 0x3C6EF372FE94F82BULL;
    fill_uniform(buffers.a, a_floats, &rng);
    fill_uniform(buffers.b, b_floats, &rng);
    memset(buffers.c, 0, (size_t)(c_floats * threads) * sizeof(float));

    int done_shapes = 0;
    for (int i = 0; i < model->n_layers; i++) {
        cr_bench_layer *layer = &result->layers[i];
        int count = layer_gemms(model, i, options->batch, gemms);
        layer->gemm_flops = layer->gemm_ms = 0.0;
        layer->gemm_gflops = layer->efficiency = NAN;
        if (!count) continue;
        for (int g = 0; g < count; g++) {
            layer->gemm_flops +=
                2.0 * gemms[g].m * gemms[g].n * (double)gemms[g].k * gemms[g].count;
            layer->gemm_ms +=
                1e3 * time_gemm(&gemms[g], &buffers, threads, options->gemm_seconds, times);
            progress(options, "sgemm", ++done_shapes, total);
        }
        if (layer->gemm_ms > 0)
            layer->gemm_gflops = layer->gemm_flops / (layer->gemm_ms * 1e-3) / 1e9;
        if (isfinite(layer->gflops) && layer->gemm_gflops > 0)
            layer->efficiency = layer->gflops / layer->gemm_gflops;
    }

done:
    free(times);
    free(buffers.a);
    free(buffers.b);
    free(buffers.c);
    return status;
}

/* ---- the machine's peak ------------------------------------------------------------ */

/* Large enough that OpenBLAS runs at its best on it, small enough to take
 * a few tens of milliseconds per product. */
#define PEAK_SIZE    1024
#define PEAK_REPEATS 5

/* /proc/cpuinfo's "model name" (Linux); "" elsewhere. */
static void processor_name(char *name, size_t size) {
    name[0] = '\0';
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        const char *value = strchr(line, ':');
        if (!value) break;
        value += 1 + (value[1] == ' ');
        snprintf(name, size, "%.*s", (int)strcspn(value, "\n"), value);
        break;
    }
    fclose(f);
}

/* GFLOP/s of the best of PEAK_REPEATS n×n products after one untimed,
 * on one thread or split over all of them (cr_sgemm). */
static double sgemm_peak(const float *a, const float *b, float *c, int n, bool all_threads) {
    double best = INFINITY;
    for (int r = 0; r <= PEAK_REPEATS; r++) {
        double started = cr_monotonic_seconds();
        if (all_threads)
            cr_sgemm(false, false, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f,
                        c, n);
        double seconds = cr_monotonic_seconds() - started;
        if (r > 0 && seconds < best) best = seconds;
    }
    return 2.0 * n * n * (double)n / best / 1e9;
}

static int bench_machine(cr_bench_machine *m, uint64_t seed, cr_error *err) {
    processor_name(m->processor, sizeof m->processor);
    m->vector_bits = cr_cpu_vector_bits();
    m->cnnrun_loops = cr_cpu_level_name(cr_cpu() >= CR_CPU_AVX2 ? CR_CPU_AVX2 : cr_cpu());
    snprintf(m->blas_core, sizeof m->blas_core, "%s", openblas_get_corename());
    snprintf(m->blas_config, sizeof m->blas_config, "%s", openblas_get_config());
    int64_t n = m->peak_size = PEAK_SIZE;
    float *a = malloc((size_t)(n * n) * sizeof *a), *b = malloc((size_t)(n * n) * sizeof *b);
    float *c = malloc((size_t)(n * n) * sizeof *c);
    if (!a || !b || !c) {
        free(a);
        free(b);
        free(c);
        return out_of_memory(err);
    }
    uint64_t rng = seed ^ 0x510E527FADE682D1ULL;
    fill_uniform(a, n * n, &rng);
    fill_uniform(b, n * n, &rng);
    cr_set_threads(0); /* OpenBLAS single-threaded, as inside the layers */
    m->peak_gflops_single = sgemm_peak(a, b, c, (int)n, false);
    m->peak_gflops_all = sgemm_peak(a, b, c, (int)n, true);
    free(a);
    free(b);
    free(c);
    return 0;
}

/* Each layer's and the step's rate as a fraction of the all-thread peak. */
static void peak_fractions(const cr_model *model, cr_bench_result *r) {
    double step_flops = 0.0;
    for (int i = 0; i < model->n_layers; i++) {
        cr_bench_layer *layer = &r->layers[i];
        layer->peak_fraction = layer->gflops / r->machine.peak_gflops_all;
        step_flops += layer->flops;
    }
    r->step_gflops = r->step_ms > 0 ? step_flops / (r->step_ms * 1e-3) / 1e9 : NAN;
    r->step_peak_fraction = r->step_gflops / r->machine.peak_gflops_all;
}

/* ---- the whole run -------------------------------------------------------------- */

int cr_bench_run(const cr_model *model, const cr_bench_options *options, cr_bench_result *out,
                 cr_error *err) {
    memset(out, 0, sizeof *out);
    cr_bench_options o = *options;
    if (o.steps < 1) o.steps = 10;
    if (o.warmup < 0) o.warmup = 3;
    if (!(o.gemm_seconds > 0)) o.gemm_seconds = 0.02;
    if (o.batch < 1)
        return cr_fail(err, CR_ERR_USAGE, (cr_mark){0}, NULL, "batch size must be ≥ 1, got %d",
                       o.batch);
    out->batch = o.batch;
    out->steps = o.steps;
    out->warmup = o.warmup;
    out->threads = cr_threads();
    out->n_layers = model->n_layers;
    out->layers = calloc((size_t)(model->n_layers ? model->n_layers : 1), sizeof *out->layers);
    if (!out->layers) return out_of_memory(err);
    if (bench_training(model, &o, out, err) || bench_inference(model, &o, out, err) ||
        bench_gemms(model, &o, out, err) || bench_machine(&out->machine, o.seed, err)) {
        cr_bench_result_free(out);
        return 1;
    }
    peak_fractions(model, out);
    struct rusage usage;
    if (getrusage(RUSAGE_SELF, &usage) == 0) {
        out->peak_rss_bytes = (int64_t)usage.ru_maxrss * 1024;
        out->user_seconds = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec * 1e-6;
        out->system_seconds = usage.ru_stime.tv_sec + usage.ru_stime.tv_usec * 1e-6;
    }
    return 0;
}

void cr_bench_result_free(cr_bench_result *result) {
    free(result->layers);
    result->layers = NULL;
    result->n_layers = 0;
}
