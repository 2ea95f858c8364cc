/* libFuzzer target for the ONNX importer: arbitrary bytes go through
 * everything `cnnrun import` does before writing files (protobuf unpack, the
 * file checks, the operator handlers, the generated model's load and shape
 * inference, the weights' match). A clean error or a model is fine; a crash,
 * a leak, undefined behaviour or a hang is a finding. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "onnx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cr_onnx_import imported;
    cr_error err = {0};
    char text[2048];
    if (cr_onnx_import_buffer(data, size, "fuzz.onnx", &imported, &err)) {
        /* A failed import leaves nothing behind and describes itself. */
        if (imported.yaml || imported.tensors) __builtin_trap();
        cr_error_format(&err, text, sizeof text);
        if (!text[0]) __builtin_trap();
        return 0;
    }
    if (!imported.yaml || !strstr(imported.yaml, "layers:")) __builtin_trap();
    cr_onnx_import_free(&imported);
    return 0;
}
