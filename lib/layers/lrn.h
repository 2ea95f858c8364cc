#ifndef CNNRUN_LAYERS_LRN_H
#define CNNRUN_LAYERS_LRN_H

#include "../layer.h"

typedef struct lrn_config {
    int size;
    float alpha, beta, k;
} lrn_config;

#endif
