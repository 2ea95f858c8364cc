/* libFuzzer target for the model spec loader: arbitrary bytes go through
 * everything `cnnrun check` does before printing (parse, graph, shapes,
 * memory estimate, the train section), then the error or the warnings are formatted the way the
 * command shows them. Anything other than a clean error is a finding: a crash,
 * a leak, undefined behaviour, or a hang (libFuzzer's -timeout). */
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "train_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cr_model *model = NULL;
    cr_error err = {0};
    char text[2048];
    if (cr_model_load_text((const char *)data, size, "fuzz.yaml", &model, &err)) {
        /* A failed load must leave nothing behind and describe itself. */
        if (model) __builtin_trap();
        cr_error_format(&err, text, sizeof text);
        if (!text[0]) __builtin_trap();
        return 0;
    }
    for (int i = 0; i < model->warnings.count; i++)
        cr_warning_format(&model->warnings.items[i], text, sizeof text);
    /* `check` prints the training memory at its default batch (64); the
     * largest batch it accepts (--batch 1000000) stresses the arithmetic. */
    (void)cr_model_memory(model, 64, true, 1);
    (void)cr_model_memory(model, 1000000, true, 2);
    (void)cr_model_memory(model, 1, false, 0);
    /* `check` also validates the train section. */
    cr_train_config config;
    if (cr_train_config_parse(model, &config, &err)) {
        cr_error_format(&err, text, sizeof text);
        if (!text[0]) __builtin_trap();
    }
    cr_model_free(model);
    return 0;
}
