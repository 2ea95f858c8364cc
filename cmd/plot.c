/* cnnrun plot: a run's training curves (loss and accuracy against the
 * epoch) from its metrics.csv, as a PNG (docs/visualise.md). */
#include <stdio.h>

#include "commands.h"
#include "image_out.h"
#include "plot.h"
#include "print.h"

typedef struct plot_args {
    const char *run_dir, *out;
} plot_args;

static const cli_option plot_options[] = {
    {.name = "out",
     .short_name = 'o',
     .type = CLI_PATH,
     .offset = offsetof(plot_args, out),
     .arg = "CURVES.png",
     .required = "missing -o OUT.png",
     .complete = "png",
     .help = "the picture to write"},
};
static const cli_positional plot_positionals[] = {
    {.name = "RUN_DIR",
     .offset = offsetof(plot_args, run_dir),
     .missing = "missing RUN_DIR (a folder of cnnrun train)",
     .complete = "dir"}};

const cli_spec plot_spec = {
    CLI_TABLES(plot_options, plot_positionals),
    .description =
        "Reads RUN_DIR/metrics.csv (written by cnnrun train after every epoch) and draws\n"
        "two panels, loss and accuracy against the epoch, with the training series in\n"
        "blue and the validation series in orange (see docs/visualise.md).\n",
    .exit_status = "0 written, 1 a malformed metrics.csv (its line is named), 2 usage error, "
                   "missing metrics.csv or unwritable file.",
};

int cmd_plot(int argc, char **argv) {
    plot_args args = {0};
    if (cli_parse(&plot_spec, argc, argv, &args)) return 2;
    const char *run_dir = args.run_dir, *out = args.out;
    char path[4096];
    snprintf(path, sizeof path, "%s/metrics.csv", run_dir);
    cr_metrics metrics;
    cr_picture picture = {0};
    cr_error err = {0};
    int status = cr_metrics_read(path, &metrics, &err);
    if (status) return report(&err);
    status = cr_plot_metrics(&metrics, &picture, &err) || cr_picture_write_png(&picture, out, &err);
    cr_picture_free(&picture);
    cr_metrics_free(&metrics);
    return status ? report(&err) : 0;
}
