/* Config and shape rule shared by maxpool and avgpool. */
#ifndef CNNRUN_LAYERS_POOL_H
#define CNNRUN_LAYERS_POOL_H

#include "../layer.h"
#include "../onnx_build.h"

typedef struct pool_config {
    int size[2];   /* window height, width */
    int stride[2]; /* 0 until inference: defaults to the window size */
    int padding[2];
} pool_config;

extern const cr_key cr_pool_keys[];
extern const int cr_pool_key_count;

int cr_pool_infer(cr_layer *layer, const cr_shape *in, cr_warnings *warnings, cr_error *err);

/* The pooling node `op` (MaxPool, AveragePool) with the window's attributes
 * and outputs rounded down (ceil_mode = 0), as cnnrun computes them. */
cr_onnx_node *cr_pool_export_onnx(const cr_layer *layer, cr_onnx_builder *b, const char *op);

/* The input rows (or columns) [*start, *end) that window `out_index` covers
 * along one axis of length n, clipped to the image: padding holds no data. */
static inline void cr_pool_window(int out_index, int size, int stride, int padding, int n,
                                  int *start, int *end) {
    int first = out_index * stride - padding;
    *start = first < 0 ? 0 : first;
    *end = first + size > n ? n : first + size;
}

#endif
