/* cnnrun bench: time training and inference per layer, against the rate
 * OpenBLAS's sgemm reaches alone on the same matrix shapes (lib/bench.h). */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench.h"
#include "commands.h"
#include "parallel.h"
#include "print.h"

typedef struct bench_args {
    const char *path;
    int batch_size, threads, steps, warmup; /* 0: the train section's batch / every core */
    cr_shape input;                         /* c == 0: the model's own */
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
        "OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE).\n",
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

static void print_bench_json(const cr_model *model, const cr_bench_result *r) {
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
        cJSON_AddItemToArray(layers, item);
    }
    cJSON_AddNumberToObject(root, "step_ms", r->step_ms);
    cJSON_AddNumberToObject(root, "layers_ms", r->layers_ms);
    cJSON_AddNumberToObject(root, "other_ms", r->other_ms);
    cJSON_AddNumberToObject(root, "step_wall_ms", r->step_wall_ms);
    cJSON_AddNumberToObject(root, "train_images_per_second", r->train_images_per_second);
    cJSON_AddNumberToObject(root, "inference_ms", r->inference_ms);
    cJSON_AddNumberToObject(root, "inference_images_per_second", r->inference_images_per_second);
    cJSON_AddNumberToObject(root, "peak_rss_bytes", (double)r->peak_rss_bytes);
    cJSON_AddNumberToObject(root, "planned_bytes", (double)r->planned_bytes);
    char *text = cJSON_Print(root);
    if (text) printf("%s\n", text);
    free(text);
    cJSON_Delete(root);
}

static void print_bench_table(const char *path, const cr_model *model, const cr_bench_result *r) {
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
    static const char *const headings[] = {"fwd ms",  "bwd ms",        "share",
                                           "GFLOP/s", "sgemm GFLOP/s", "efficiency"};
    static const int widths[] = {-9, -9, -7, -9, -14, -11};
    int kind_width = kind_name_width();
    print_cell("layer", name_width, 2);
    print_cell("kind", kind_width, 2);
    print_cell("output", 12, 0);
    for (int k = 0; k < 6; k++) print_cell(headings[k], widths[k], k < 5 ? 1 : 0);
    putchar('\n');
    for (int i = 0; i < model->n_layers; i++) {
        const cr_bench_layer *l = &r->layers[i];
        char cells[6][32];
        snprintf(cells[0], sizeof cells[0], "%.3f", l->forward_ms);
        snprintf(cells[1], sizeof cells[1], "%.3f", l->backward_ms);
        snprintf(cells[2], sizeof cells[2], "%.1f%%", 100 * l->share);
        optional_number(l->gflops, "%.1f", cells[3], sizeof cells[3]);
        optional_number(l->gemm_gflops, "%.1f", cells[4], sizeof cells[4]);
        optional_number(100 * l->efficiency, "%.0f%%", cells[5], sizeof cells[5]);
        shape_text(model->layers[i].out, a, sizeof a);
        print_cell(model->layers[i].name, name_width, 2);
        print_cell(model->layers[i].kind->name, kind_width, 2);
        print_cell(a, 12, 0);
        for (int k = 0; k < 6; k++) print_cell(cells[k], widths[k], k < 5 ? 1 : 0);
        putchar('\n');
    }
    const char *coretype = getenv("OPENBLAS_CORETYPE"), *l2 = getenv("OPENBLAS_L2_SIZE");
    printf("\nstep:       %.2f ms = layers %.2f ms + other %.2f ms (loss, optimizer update, "
           "zeroing gradients)\n",
           r->step_ms, r->layers_ms, r->other_ms);
    printf("training:   %.1f images/s (median wall time of a step %.2f ms)\n",
           r->train_images_per_second, r->step_wall_ms);
    printf("inference:  %.1f images/s (forward %.2f ms per batch of %d)\n",
           r->inference_images_per_second, r->inference_ms, r->batch);
    printf("memory:     peak RSS %s; planned for training %s (cnnrun check's figure)\n",
           human_bytes(r->peak_rss_bytes, b, sizeof b), human_bytes(r->planned_bytes, c, sizeof c));
    printf("threads:    %d (OpenBLAS single-threaded inside each); OPENBLAS_CORETYPE=%s, "
           "OPENBLAS_L2_SIZE=%s\n",
           r->threads, coretype ? coretype : "unset", l2 ? l2 : "unset");
}

int cmd_bench(int argc, char **argv) {
    bench_args a = {.warmup = 3, .steps = 10};
    if (cli_parse(&bench_spec, argc, argv, &a)) return 2;
    cr_model *model;
    cr_error err = {0};
    if (cr_model_load(a.path, &model, &err)) return report(&err);
    print_warnings(&model->warnings);
    cr_train_config train;
    if ((a.input.c && cr_model_set_input(model, a.input, &err)) ||
        cr_train_config_parse(model, &train, &err)) {
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
    cr_bench_result result;
    int status = cr_bench_run(model, &options, &result, &err);
    if (terminal) fprintf(stderr, "\r\033[K");
    if (status) {
        cr_model_free(model);
        return report(&err);
    }
    if (a.json)
        print_bench_json(model, &result);
    else
        print_bench_table(a.path, model, &result);
    cr_bench_result_free(&result);
    cr_model_free(model);
    return 0;
}
