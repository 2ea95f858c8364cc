#ifndef CNNRUN_LAYERS_BATCHNORM_H
#define CNNRUN_LAYERS_BATCHNORM_H

#include "../layer.h"

typedef struct batchnorm_config {
    float eps;
    float momentum;
} batchnorm_config;

#endif
