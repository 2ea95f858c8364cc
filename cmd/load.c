/* Loading what several commands start from (commands.h). */
#include "commands.h"
#include "print.h"

int load_for_training(const char *path, const char *data, bool quiet, cr_model **model,
                      cr_train_config *config, cr_error *err) {
    if (cr_model_load(path, model, err)) return 1;
    if (!quiet) print_warning_summary(path, &(*model)->warnings);
    if (cr_train_config_parse(*model, config, err) ||
        (data && cr_data_source_parse(data, &config->data, err))) {
        cr_model_free(*model);
        *model = NULL;
        return 1;
    }
    cr_model_freeze(*model, &config->freeze);
    return 0;
}
