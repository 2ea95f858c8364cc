/* cnnrun bench: time training and inference per layer, against the rate
 * OpenBLAS's sgemm reaches alone on the same matrix shapes (lib/bench.h). */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench.h"
#include "commands.h"
#include "loader.h"
#include "train.h"
#include "parallel.h"
#include "print.h"

typedef struct bench_args {
    const char *path, *data;
    int batch_size, threads, steps, warmup; /* 0: the train section's batch / every core */
    int loader_threads;
    cr_shape input; /* c == 0: the model's own */
    bool json;
} bench_args;

static const cli_option bench_options[] = {
    {.name = "batch-size",
     .type = CLI_INT,
     .offset = offsetof(bench_args, batch_size),
     .min = 1,
     .arg = "B",
     .help = "images per step (default: the train section's batch_size, 64)"},
    {.name = "threads",
     .type = CLI_INT,
     .offset = offsetof(bench_args, threads),
     .min = 1,
     .arg = "N",
     .help = "threads (default: every core, or OMP_NUM_THREADS)"},
    {.name = "steps",
     .type = CLI_INT,
     .offset = offsetof(bench_args, steps),
     .min = 1,
     .arg = "K",
     .help = "timed steps and timed inference forwards (default 10)"},
    {.name = "warmup",
     .type = CLI_INT,
     .offset = offsetof(bench_args, warmup),
     .min = 0,
     .arg = "W",
     .help = "untimed steps first (default 3)"},
    {.name = "input",
     .type = CLI_SHAPE,
     .offset = offsetof(bench_args, input),
     .arg = "C,H,W",
     .help = "benchmark at another input size (shapes are re-inferred)"},
    {.name = "data",
     .type = CLI_STRING,
     .offset = offsetof(bench_args, data),
     .arg = "D",
     .help = "feed the training steps from this data set through the loader (the train "
             "section's normalize and augment), and time the loader alone too: fashion-mnist, "
             "mnist:DIR, cifar10:DIR or folder:TRAIN_DIR,TEST_DIR"},
    {.name = "loader-threads",
     .type = CLI_INT,
     .offset = offsetof(bench_args, loader_threads),
     .min = 0,
     .max = 64,
     .arg = "N",
     .help = "with --data: the loader's threads (default 1; 0: the step's own thread)"},
    {.name = "json",
     .type = CLI_FLAG,
     .offset = offsetof(bench_args, json),
     .help = "print the same as one JSON document"},
};
static const cli_positional bench_positionals[] = {MODEL_POSITIONAL(bench_args, path)};

const cli_spec bench_spec = {
    CLI_TABLES(bench_options, bench_positionals),
    .description =
        "Times training steps (forward, cross-entropy, backward and the train section's\n"
        "optimizer update; random images and labels, no data loading) and inference\n"
        "forwards, W untimed steps first, then K timed ones; every figure is the median\n"
        "over them. Prints one row per layer: forward and backward ms, share of the\n"
        "layers' time, GFLOP/s achieved (conv, dense), the GFLOP/s of cblas_sgemm alone\n"
        "on the exact matrix shapes that layer issues, and the efficiency (achieved /\n"
        "sgemm: how close the layer comes to its im2col ceiling). Then training and\n"
        "inference images/s, peak resident memory and the memory planned for training\n"
        "(cnnrun check's figure), and the settings the figures depend on (threads,\n"
        "OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE). Last, the machine: processor, vector\n"
        "width, the kernels OpenBLAS picked and its sgemm rate on a 1024² product on one\n"
        "thread and on all (the 'of peak' column and the step rate are fractions of the\n"
        "latter), and the run's user and system CPU time. With --data the steps take\n"
        "their batches from the data loader (decoding streamed image files, augmenting,\n"
        "mixing) and the report adds the loader's images/s alone and the step's median\n"
        "wait for it.\n",
    .exit_status = "0 measured, 1 invalid model or failed run, 2 usage error or unreadable file.",
};

/* One progress line on stderr, rewritten in place (only on a terminal). */
static void show_bench_progress(void *user, const char *phase, int done, int total) {
    (void)user;
    fprintf(stderr, "\r\033[Kbench: %s %d/%d", phase, done, total);
    fflush(stderr);
}

/* A figure that may be missing (NAN): "—" in the table, null in JSON. */
static const char *optional_number(double value, const char *format, char *out, size_t size) {
    if (isfinite(value))
        snprintf(out, size, format, value);
    else
        snprintf(out, size, "—");
    return out;
}

static cJSON *optional_json(double value) {
    return isfinite(value) ? cJSON_CreateNumber(value) : cJSON_CreateNull();
}

static cJSON *environment_json(const char *name) {
    const char *value = getenv(name);
    return value ? cJSON_CreateString(value) : cJSON_CreateNull();
}

static cJSON *machine_json(const cr_bench_machine *m) {
    cJSON *item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "processor", m->processor);
    cJSON_AddNumberToObject(item, "vector_bits", m->vector_bits);
    cJSON_AddStringToObject(item, "cnnrun_loops", m->cnnrun_loops);
    cJSON_AddStringToObject(item, "openblas_core", m->blas_core);
    cJSON_AddStringToObject(item, "openblas_config", m->blas_config);
    cJSON_AddNumberToObject(item, "peak_size", m->peak_size);
    cJSON_AddNumberToObject(item, "peak_gflops_single", m->peak_gflops_single);
    cJSON_AddNumberToObject(item, "peak_gflops_all", m->peak_gflops_all);
    return item;
}

/* The machine, its sgemm peak, the step's share of it and the CPU time. */
static void print_bench_machine(const cr_bench_result *r) {
    const cr_bench_machine *m = &r->machine;
    printf("machine:    %s; %d-bit vectors, cnnrun's loops %s; OpenBLAS %s kernels\n",
           m->processor[0] ? m->processor : "unknown processor", m->vector_bits, m->cnnrun_loops,
           m->blas_core);
    printf("peak:       sgemm %d² %.1f GFLOP/s on 1 thread, %.1f on %d\n", m->peak_size,
           m->peak_gflops_single, m->peak_gflops_all, r->threads);
    printf("step rate:  %.1f GFLOP/s (direct-convolution FLOPs of conv and dense layers) = %.0f%% "
           "of the %d-thread peak\n",
           r->step_gflops, 100 * r->step_peak_fraction, r->threads);
    printf("cpu time:   user %.2f s, system %.2f s (%.1f%% of user)\n", r->user_seconds,
           r->system_seconds, r->user_seconds > 0 ? 100 * r->system_seconds / r->user_seconds : 0);
}

static void print_bench_json(const cr_model *model, const cr_bench_result *r,
                             double loader_images_per_second) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", model->name);
    cJSON_AddItemToObject(root, "input", shape_json(model->input));
    cJSON_AddNumberToObject(root, "batch", r->batch);
    cJSON_AddNumberToObject(root, "threads", r->threads);
    cJSON_AddNumberToObject(root, "steps", r->steps);
    cJSON_AddNumberToObject(root, "warmup", r->warmup);
    cJSON_AddItemToObject(root, "openblas_coretype", environment_json("OPENBLAS_CORETYPE"));
    cJSON_AddItemToObject(root, "openblas_l2_size", environment_json("OPENBLAS_L2_SIZE"));
    cJSON *layers = cJSON_AddArrayToObject(root, "layers");
    for (int i = 0; i < model->n_layers; i++) {
        const cr_bench_layer *b = &r->layers[i];
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "name", model->layers[i].name);
        cJSON_AddStringToObject(item, "kind", model->layers[i].kind->name);
        cJSON_AddItemToObject(item, "output", shape_json(model->layers[i].out));
        cJSON_AddNumberToObject(item, "forward_ms", b->forward_ms);
        cJSON_AddNumberToObject(item, "backward_ms", b->backward_ms);
        cJSON_AddNumberToObject(item, "share", b->share);
        cJSON_AddItemToObject(item, "gflops", optional_json(b->gflops));
        cJSON_AddItemToObject(item, "gemm_gflops", optional_json(b->gemm_gflops));
        cJSON_AddItemToObject(item, "efficiency", optional_json(b->efficiency));
        cJSON_AddNumberToObject(item, "flops", b->flops);
        cJSON_AddNumberToObject(item, "gemm_flops", b->gemm_flops);
        cJSON_AddNumberToObject(item, "gemm_ms", b->gemm_ms);
        cJSON_AddItemToObject(item, "peak_fraction", optional_json(b->peak_fraction));
        cJSON_AddItemToArray(layers, item);
    }
    cJSON_AddNumberToObject(root, "step_ms", r->step_ms);
    cJSON_AddNumberToObject(root, "layers_ms", r->layers_ms);
    cJSON_AddNumberToObject(root, "other_ms", r->other_ms);
    cJSON_AddNumberToObject(root, "step_wall_ms", r->step_wall_ms);
    cJSON_AddNumberToObject(root, "train_images_per_second", r->train_images_per_second);
    cJSON_AddItemToObject(root, "loader_wait_ms", optional_json(r->loader_wait_ms));
    cJSON_AddItemToObject(root, "loader_images_per_second",
                          optional_json(loader_images_per_second));
    cJSON_AddNumberToObject(root, "inference_ms", r->inference_ms);
    cJSON_AddNumberToObject(root, "inference_images_per_second", r->inference_images_per_second);
    cJSON_AddNumberToObject(root, "peak_rss_bytes", (double)r->peak_rss_bytes);
    cJSON_AddNumberToObject(root, "planned_bytes", (double)r->planned_bytes);
    cJSON_AddItemToObject(root, "step_gflops", optional_json(r->step_gflops));
    cJSON_AddItemToObject(root, "step_peak_fraction", optional_json(r->step_peak_fraction));
    cJSON_AddNumberToObject(root, "user_seconds", r->user_seconds);
    cJSON_AddNumberToObject(root, "system_seconds", r->system_seconds);
    cJSON_AddItemToObject(root, "machine", machine_json(&r->machine));
    print_json(root);
}

static void print_bench_table(const char *path, const cr_model *model, const cr_bench_result *r,
                              double loader_images_per_second, int loader_threads) {
    char a[64], b[64], c[64];
    shape_text(model->input, a, sizeof a);
    printf("model '%s' (%s), input %s, batch %d, %d thread%s, median of %d steps after %d "
           "warm-up\n\n",
           model->name, path, a, r->batch, r->threads, r->threads == 1 ? "" : "s", r->steps,
           r->warmup);
    int name_width = 5;
    for (int i = 0; i < model->n_layers; i++)
        if (display_width(model->layers[i].name) > name_width)
            name_width = display_width(model->layers[i].name);
    static const char *const headings[] = {"fwd ms",        "bwd ms",     "share",  "GFLOP/s",
                                           "sgemm GFLOP/s", "efficiency", "of peak"};
    static const int widths[] = {-9, -9, -7, -9, -14, -11, -8};
    int kind_width = kind_name_width();
    print_cell("layer", name_width, 2);
    print_cell("kind", kind_width, 2);
    print_cell("output", 12, 0);
    for (int k = 0; k < 7; k++) print_cell(headings[k], widths[k], k < 6 ? 1 : 0);
    putchar('\n');
    for (int i = 0; i < model->n_layers; i++) {
        const cr_bench_layer *l = &r->layers[i];
        char cells[7][32];
        snprintf(cells[0], sizeof cells[0], "%.3f", l->forward_ms);
        snprintf(cells[1], sizeof cells[1], "%.3f", l->backward_ms);
        snprintf(cells[2], sizeof cells[2], "%.1f%%", 100 * l->share);
        optional_number(l->gflops, "%.1f", cells[3], sizeof cells[3]);
        optional_number(l->gemm_gflops, "%.1f", cells[4], sizeof cells[4]);
        optional_number(100 * l->efficiency, "%.0f%%", cells[5], sizeof cells[5]);
        optional_number(100 * l->peak_fraction, "%.0f%%", cells[6], sizeof cells[6]);
        shape_text(model->layers[i].out, a, sizeof a);
        print_cell(model->layers[i].name, name_width, 2);
        print_cell(model->layers[i].kind->name, kind_width, 2);
        print_cell(a, 12, 0);
        for (int k = 0; k < 7; k++) print_cell(cells[k], widths[k], k < 6 ? 1 : 0);
        putchar('\n');
    }
    const char *coretype = getenv("OPENBLAS_CORETYPE"), *l2 = getenv("OPENBLAS_L2_SIZE");
    printf("\nstep:       %.2f ms = layers %.2f ms + other %.2f ms (loss, optimizer update, "
           "zeroing gradients)\n",
           r->step_ms, r->layers_ms, r->other_ms);
    printf("training:   %.1f images/s (median wall time of a step %.2f ms)\n",
           r->train_images_per_second, r->step_wall_ms);
    if (isfinite(r->loader_wait_ms))
        printf("loader:     %.1f images/s alone (%d thread%s: decode, augment, mix); the step "
               "waited %.2f ms of %.2f (median) for its batch: %s\n",
               loader_images_per_second, loader_threads, loader_threads == 1 ? "" : "s",
               r->loader_wait_ms, r->step_wall_ms,
               r->loader_wait_ms > 0.05 * r->step_wall_ms ? "the loader is the bottleneck"
                                                          : "the loader keeps up");
    printf("inference:  %.1f images/s (forward %.2f ms per batch of %d)\n",
           r->inference_images_per_second, r->inference_ms, r->batch);
    printf("memory:     peak RSS %s; planned for training %s (cnnrun check's figure)\n",
           human_bytes(r->peak_rss_bytes, b, sizeof b), human_bytes(r->planned_bytes, c, sizeof c));
    printf("threads:    %d (OpenBLAS single-threaded inside each); OPENBLAS_CORETYPE=%s, "
           "OPENBLAS_L2_SIZE=%s\n",
           r->threads, coretype ? coretype : "unset", l2 ? l2 : "unset");
    print_bench_machine(r);
}

/* --data: the training split and a loader over it. */
typedef struct bench_data {
    cr_dataset train, validation;
    cr_loader *loader;
    int *order;
    double images_per_second;
} bench_data;

static int open_data(const bench_args *a, const cr_model *model, const cr_train_config *config,
                     int batch, bench_data *data, cr_error *err) {
    if (cr_train_load_data(model, config, &data->train, &data->validation, err) ||
        cr_check_labels(model, &data->train, err))
        return 1;
    data->order = malloc(sizeof(int) * (size_t)data->train.count);
    if (!data->order) return cr_fail(err, CR_ERR_RUNTIME, (cr_mark){0}, NULL, "out of memory");
    for (int i = 0; i < data->train.count; i++) data->order[i] = i;
    cr_loader_config loader = {.data = &data->train,
                               .transform = &config->transform,
                               .batch_size = batch,
                               .ranks = 1,
                               .classes = (int)cr_shape_size(model->layers[model->output].out),
                               .threads = a->loader_threads,
                               .depth = a->loader_threads + 1,
                               .root = cr_augment_root(config->seed)};
    return cr_loader_create(&loader, &data->loader, err);
}

static void close_data(bench_data *data) {
    cr_loader_free(data->loader);
    free(data->order);
    cr_dataset_free(&data->train);
    cr_dataset_free(&data->validation);
}

int cmd_bench(int argc, char **argv) {
    bench_args a = {.warmup = 3, .steps = 10, .loader_threads = 1};
    if (cli_parse(&bench_spec, argc, argv, &a)) return 2;
    cr_model *model;
    cr_error err = {0};
    if (cr_model_load(a.path, &model, &err)) return report(&err);
    print_warnings(&model->warnings);
    cr_train_config train;
    if ((a.input.c && cr_model_set_input(model, a.input, &err)) ||
        cr_train_config_parse(model, &train, &err) ||
        (a.data && cr_data_source_parse(a.data, &train.data, &err))) {
        cr_model_free(model);
        return report(&err);
    }
    cr_set_threads(a.threads);
    bool terminal = isatty(STDERR_FILENO) == 1;
    cr_bench_options options = {
        .batch = a.batch_size ? a.batch_size : train.batch_size,
        .steps = a.steps,
        .warmup = a.warmup,
        .seed = train.seed,
        .optimizer = &train.optimizer,
        .progress = terminal ? show_bench_progress : NULL,
    };
    bench_data data = {0};
    int status = a.data ? open_data(&a, model, &train, options.batch, &data, &err) : 0;
    if (!status && a.data) {
        /* Alone, untimed first batch aside: as fast as its threads go. */
        cr_loader_rate(data.loader, data.order, 1);
        data.images_per_second = cr_loader_rate(data.loader, data.order, a.warmup + a.steps);
        options.loader = data.loader;
        options.order = data.order;
    }
    cr_bench_result result;
    if (!status) status = cr_bench_run(model, &options, &result, &err);
    if (terminal) fprintf(stderr, "\r\033[K");
    if (status) {
        close_data(&data);
        cr_model_free(model);
        return report(&err);
    }
    if (a.json)
        print_bench_json(model, &result, a.data ? data.images_per_second : NAN);
    else
        print_bench_table(a.path, model, &result, data.images_per_second, a.loader_threads);
    close_data(&data);
    cr_bench_result_free(&result);
    cr_model_free(model);
    return 0;
}
