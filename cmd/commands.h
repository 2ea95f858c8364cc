/* The commands (one file each, or one per family) as main.c's table calls
 * them: run(argc, argv) with argv[0] the command's name, and each one's
 * spec (options.h) for the parser, `cnnrun help COMMAND`, the man pages and
 * the completion. */
#ifndef CNNRUN_CMD_COMMANDS_H
#define CNNRUN_CMD_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>

#include "options.h"
#include "train_config.h"
#include "weights_info.h"

/* The model file every model command takes first. */
#define MODEL_POSITIONAL(type, field)                                                              \
    { .name = "MODEL.yaml", .offset = offsetof(type, field), .complete = "yaml" }

extern const cli_spec check_spec, gradcheck_spec, train_spec, eval_spec, predict_spec, apply_spec,
    plot_spec, filters_spec, features_spec, bench_spec, schema_spec, draw_spec, export_spec,
    import_spec, augment_spec, info_spec;

/* main.c's table; hidden commands (the build's generators) have no summary. */
typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    const cli_spec *spec; /* NULL for help and the hidden ones */
} command;
extern const command cnnrun_commands[];
extern const int cnnrun_command_count;

int cmd_check(int argc, char **argv);
int cmd_gradcheck(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_apply(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_filters(int argc, char **argv);
int cmd_features(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_schema(int argc, char **argv);
int cmd_draw(int argc, char **argv);
int cmd_augment(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);
/* Hidden, for the build (cmd/cli_docs.cmake): man pages (man.c), the bash
 * completion script and a model's layer names for it (complete.c). */
int cmd_man(int argc, char **argv);
int cmd_bash_completion(int argc, char **argv);
int cmd_complete_layers(int argc, char **argv);

/* Loads the model (and, unless `quiet`, says in one line that it has
 * warnings) and its train section, with `data` (--data) replacing the
 * section's data source when given. */
int load_for_training(const char *path, const char *data, bool quiet, cr_model **model,
                      cr_train_config *config, cr_error *err);

/* The model with weights loaded, for inference on batches of `batch`. */
int load_inference_net(cr_model *model, const char *weights, int batch, cr_net **net,
                       cr_error *err);

/* What the weights file records about itself (weights_info.h), which eval
 * and predict use before the train section: its normalisation replaces
 * transform's when it has the model's channels; its class names are kept
 * in *info unless there are more than the model's outputs (then dropped,
 * with a note on stderr; fewer: the outputs beyond them, never trained,
 * are shown by number). */
int read_recorded(const char *weights, const cr_model *model, cr_transform *transform,
                  cr_weights_info *info, cr_error *err);

/* The recorded class names as a data set without images, for class_text
 * (not to be freed: info owns the names). */
cr_dataset recorded_names(const cr_weights_info *info);

/* Class `index` as "3 Dress", or "3" when names has none. The name comes
 * from a folder or a file: escaped before it reaches the terminal. */
const char *class_text(const cr_dataset *names, int index, char *out, size_t size);

#endif
