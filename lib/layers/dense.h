#ifndef CNNRUN_LAYERS_DENSE_H
#define CNNRUN_LAYERS_DENSE_H

#include "../layer.h"

typedef struct dense_config {
    int units;
    cr_bias bias;
    cr_activation activation;
    cr_values weights;
    bool trainable;
} dense_config;

#endif
