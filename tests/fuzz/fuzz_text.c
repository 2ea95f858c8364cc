/* libFuzzer target for cnnrun's small text readers: metrics.csv as `plot`
 * reads it (cr_metrics_read) and a CIFAR-10 batches.meta.txt
 * (cr_class_names_read). A clean error or a result is fine; a crash, a
 * leak, undefined behaviour or a hang is a finding. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "data.h"
#include "fuzz_file.h"
#include "plot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size);
    cr_error err = {0};
    char text[2048];
    cr_metrics metrics;
    if (cr_metrics_read(path, &metrics, &err)) {
        cr_error_format(&err, text, sizeof text);
        if (!text[0]) __builtin_trap();
    } else {
        /* What plot does with the rows: the ranges must be usable. */
        double low, high, loss_high;
        cr_plot_ranges(&metrics, &low, &high, &loss_high);
        if (!(high > low) || !(loss_high > 0)) __builtin_trap();
        cr_metrics_free(&metrics);
    }
    FILE *file = fopen(path, "rb");
    if (!file) abort();
    char **names;
    if (cr_class_names_read(file, path, 10, &names, &err) == 0) {
        for (int i = 0; i < 10; i++) free(names[i]);
        free(names);
    }
    fclose(file);
    return 0;
}
