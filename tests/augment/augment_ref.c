/* The augment steps at fixed parameters, for tests/augment/torchvision_check.py:
 *   augment_ref rotate|brightness|contrast|saturation FACTOR C H W
 *   augment_ref box SCALE_LOW SCALE_HIGH RATIO_LOW RATIO_HIGH H W
 * The image steps read C·H·W float32 from stdin and write as many to stdout;
 * `box` prints RandomResizedCrop's fallback box "top left height width"
 * for parameters no try can satisfy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"

static int box(char **argv) {
    const float scale[2] = {strtof(argv[2], NULL), strtof(argv[3], NULL)};
    const float ratio[2] = {strtof(argv[4], NULL), strtof(argv[5], NULL)};
    uint64_t rng = 1;
    int out[4];
    cr_random_resized_crop_box(scale, ratio, atoi(argv[6]), atoi(argv[7]), &rng, out);
    printf("%d %d %d %d\n", out[0], out[1], out[2], out[3]);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 8 && strcmp(argv[1], "box") == 0) return box(argv);
    if (argc != 6) {
        fprintf(stderr, "usage: augment_ref STEP FACTOR C H W < floats > floats\n");
        return 2;
    }
    double factor = strtod(argv[2], NULL);
    int channels = atoi(argv[3]), height = atoi(argv[4]), width = atoi(argv[5]);
    size_t count = (size_t)channels * height * width;
    float *x = malloc(count * sizeof *x), *spare = malloc(count * sizeof *spare);
    if (!x || !spare || fread(x, sizeof *x, count, stdin) != count) return 1;
    static const char *const adjust[3] = {"brightness", "contrast", "saturation"};
    int status = 0;
    if (strcmp(argv[1], "rotate") == 0) {
        cr_augment_rotate(x, channels, height, width, factor, spare);
    } else {
        status = 2;
        for (int k = 0; k < 3; k++)
            if (strcmp(argv[1], adjust[k]) == 0) {
                cr_augment_adjust(x, channels, height, width, k, (float)factor);
                status = 0;
            }
    }
    if (!status && fwrite(x, sizeof *x, count, stdout) != count) status = 1;
    free(x);
    free(spare);
    return status;
}
