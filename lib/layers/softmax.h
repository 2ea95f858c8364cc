#ifndef CNNRUN_LAYERS_SOFTMAX_H
#define CNNRUN_LAYERS_SOFTMAX_H

/* y = softmax(x) over channels; x, y: [n, channels, spatial]. y may equal x. */
void cr_softmax(float *y, const float *x, int n, int channels, int spatial);

#endif
