/* cnnrun gradcheck: every parameter tensor's and the input's gradient
 * against central finite differences of the loss (lib/gradcheck.h). */
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "gradcheck.h"
#include "print.h"

typedef struct gradcheck_args {
    const char *model;
    int batch, samples, directions;
    cli_seed seed;
    double tolerance;
    cr_shape input; /* c == 0: the model's own */
} gradcheck_args;

static const cli_option gradcheck_options[] = {
    {.name = "batch",
     .type = CLI_INT,
     .offset = offsetof(gradcheck_args, batch),
     .min = 1,
     .arg = "N",
     .help = "random images in the batch (default 2)"},
    {.name = "seed",
     .type = CLI_SEED,
     .offset = offsetof(gradcheck_args, seed),
     .arg = "S",
     .help = "seed of the random weights, images and probes (default 1)"},
    {.name = "input",
     .type = CLI_SHAPE,
     .offset = offsetof(gradcheck_args, input),
     .arg = "C,H,W",
     .help = "check the model at another input size (smaller is faster)"},
    {.name = "samples",
     .type = CLI_INT,
     .offset = offsetof(gradcheck_args, samples),
     .min = 1,
     .arg = "K",
     .help = "elements probed per tensor, always including the largest gradient (default 6)"},
    {.name = "directions",
     .type = CLI_INT,
     .offset = offsetof(gradcheck_args, directions),
     .min = 0,
     .max = 16,
     .arg = "D",
     .help = "random directions per tensor, each moving up to 32 elements at once (default 2)"},
    {.name = "tolerance",
     .type = CLI_FLOAT,
     .offset = offsetof(gradcheck_args, tolerance),
     .arg = "T",
     .help = "the largest relative error that passes (default 2e-2)"},
};
static const cli_positional gradcheck_positionals[] = {MODEL_POSITIONAL(gradcheck_args, model)};

const cli_spec gradcheck_spec = {
    CLI_TABLES(gradcheck_options, gradcheck_positionals),
    .description =
        "Builds the network with random weights (seed S) on a random batch of N images,\n"
        "runs forward and backward, and compares every parameter tensor's gradient and\n"
        "the input's with central finite differences of the loss (cross-entropy when\n"
        "the model ends in softmax, a random projection of the output otherwise): K\n"
        "elements per tensor plus D random directions. Prints the worst relative error\n"
        "per tensor. Points on a kink (relu at 0, max-pool ties) are detected and\n"
        "replaced.\n",
    .exit_status = "0 all within tolerance, 1 otherwise or invalid model, 2 usage error.",
};

static void print_results(const cr_model *model, const gradcheck_args *args,
                          const cr_gradcheck_result *results, int n, int *failed) {
    int type_width = kind_name_width();
    printf("gradient check of '%s', input %d×%d×%d, batch %d, seed %llu, tolerance %g\n\n",
           model->name, model->input.c, model->input.h, model->input.w, args->batch,
           (unsigned long long)args->seed.value, args->tolerance);
    printf("%-32s  %-*s  %12s  %8s  %8s  %14s\n", "tensor", type_width, "layer type", "elements",
           "checked", "on kinks", "worst rel err");
    *failed = 0;
    int unchecked = 0;
    for (int i = 0; i < n; i++) {
        const cr_gradcheck_result *r = &results[i];
        char count[32];
        printf("%-32s  %-*s  %12s  %8d  %8d  %14.2e  %s\n", r->name, type_width, r->kind,
               grouped(r->count, count, sizeof count), r->checked, r->skipped, r->worst,
               !r->passed   ? "FAIL"
               : r->checked ? "ok"
                            : "unchecked (every probe skipped: a kink or float32 noise)");
        *failed += !r->passed;
        unchecked += r->passed && r->checked == 0;
    }
    /* An unchecked tensor is not a failure, and never counted as passed. */
    int passed = n - *failed - unchecked;
    if (unchecked && *failed)
        printf("\nFAILED: passed %d, unchecked %d, failed %d of %d tensors\n", passed, unchecked,
               *failed, n);
    else if (unchecked)
        printf("\npassed %d, unchecked %d of %d tensors\n", passed, unchecked, n);
    else
        printf("\n%s: %d of %d tensors within tolerance\n", *failed ? "FAILED" : "passed", passed,
               n);
}

int cmd_gradcheck(int argc, char **argv) {
    gradcheck_args args = {
        .batch = 2, .seed = {.value = 1}, .samples = 6, .directions = 2, .tolerance = 2e-2};
    if (cli_parse(&gradcheck_spec, argc, argv, &args)) return 2;
    cr_model *model;
    cr_error err = {0};
    if (cr_model_load(args.model, &model, &err)) return report(&err);
    if (args.input.c && cr_model_set_input(model, args.input, &err)) {
        cr_model_free(model);
        return report(&err);
    }
    cr_gradcheck_options options = {.batch = args.batch,
                                    .seed = args.seed.value,
                                    .samples = args.samples,
                                    .directions = args.directions,
                                    .tolerance = args.tolerance};
    cr_gradcheck_result *results;
    int n, failed;
    if (cr_gradcheck(model, &options, &results, &n, &err)) {
        cr_model_free(model);
        return report(&err);
    }
    print_results(model, &args, results, n, &failed);
    free(results);
    cr_model_free(model);
    return failed ? 1 : 0;
}
