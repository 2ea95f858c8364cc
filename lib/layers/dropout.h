#ifndef CNNRUN_LAYERS_DROPOUT_H
#define CNNRUN_LAYERS_DROPOUT_H

#include "../layer.h"

typedef struct dropout_config {
    float rate;
} dropout_config;

#endif
