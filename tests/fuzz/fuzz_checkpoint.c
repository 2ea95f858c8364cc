/* libFuzzer target for the checkpoint reader: arbitrary bytes as a
 * checkpoint.safetensors of a small model, read as `--resume` reads it
 * (cr_checkpoint_peek, then cr_checkpoint_load into a network and an SGD
 * optimizer with momentum). A clean error or a load is fine; a crash, a
 * leak, undefined behaviour or a hang is a finding. The seed
 * (corpus-checkpoint/) is a real checkpoint of this model. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "fuzz_file.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char model_text[] = "name: tiny\n"
                                 "input: [1, 8, 8]\n"
                                 "layers:\n"
                                 "  - {type: flatten}\n"
                                 "  - {type: dense, name: out, units: 3}\n";

static cr_model *model;
static cr_net *net;
static cr_optimizer optimizer;

static void set_up(void) {
    cr_error err;
    cr_net_options options = {.seed = 1, .training = true};
    cr_optimizer_config sgd = {.type = CR_OPT_SGD, .lr = 0.1f, .momentum = 0.9f};
    int64_t floats;
    if (cr_model_load_text(model_text, sizeof model_text - 1, "tiny.yaml", &model, &err) ||
        cr_net_create(model, 4, &options, &net, &err))
        abort();
    cr_net_param_block(net, &floats);
    if (cr_optimizer_init(&optimizer, &sgd, floats, &err)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!model) set_up();
    const char *path = fuzz_file(data, size);
    cr_error err = {0};
    char text[2048];
    cr_checkpoint_state state = {0};
    if (cr_checkpoint_peek(path, &state, &err)) {
        cr_error_format(&err, text, sizeof text);
        if (!text[0]) __builtin_trap();
    }
    cr_checkpoint_state_free(&state);
    if (cr_checkpoint_load(path, net, &optimizer, &state, &err)) {
        cr_error_format(&err, text, sizeof text);
        if (!text[0]) __builtin_trap();
    }
    cr_checkpoint_state_free(&state);
    return 0;
}
