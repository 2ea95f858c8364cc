/* The losses of the train section (`loss:`), as PyTorch defines them.
 *
 *   cross_entropy         F.cross_entropy(logits, labels, weight=class_weights,
 *                         label_smoothing=ε), reduction mean: with class
 *                         weights a weighted mean (divided by Σ w[label]), as
 *                         PyTorch's nll_loss does
 *   binary_cross_entropy  F.binary_cross_entropy_with_logits(logits, targets):
 *                         one sigmoid per output (multi-label), mean over
 *                         every image × output
 *   mse                   F.mse_loss(output, targets): mean over every
 *                         image × output (regression)
 *
 * The losses read logits where they can: a final layer that declares the
 * function the loss would apply (outputs_probabilities for softmax with
 * cross_entropy, outputs_sigmoid for sigmoid with binary_cross_entropy) is
 * fused with it, the loss taking that layer's input as the logits (stable,
 * and the gradient skips the layer's own backward). mse takes the output as
 * it is, whatever the last layer.
 *
 * The plain functions take raw arrays (x: [n, k] row-major), return the
 * batch's loss and, when d is not NULL, write d(loss)/dx. *denominator
 * receives what the mean divided by (n, n·k, or Σ w[label]): several ranks'
 * shares of a batch combine as Σ loss·denominator / Σ denominator, and each
 * share's gradient is scaled by its denominator / the total. */
#ifndef CNNRUN_LOSS_H
#define CNNRUN_LOSS_H

#include <stdbool.h>
#include <stdint.h>

#include "cnnrun.h"

typedef enum cr_loss_type {
    CR_LOSS_CROSS_ENTROPY, /* stored in checkpoints: never renumber */
    CR_LOSS_BINARY_CROSS_ENTROPY,
    CR_LOSS_MSE,
} cr_loss_type;

/* Room for class weights in the config (ImageNet's 1000 classes fit). */
#define CR_LOSS_MAX_CLASSES 1024

typedef struct cr_loss_config {
    cr_loss_type type;
    float label_smoothing; /* cross_entropy: ε in [0, 1] */
    int n_class_weights;   /* cross_entropy: 0 (all 1) or the number of classes */
    float class_weights[CR_LOSS_MAX_CLASSES];
} cr_loss_config;

const char *cr_loss_name(cr_loss_type type);
/* Whether the loss has an accuracy (mse has none: its metric is RMSE). */
bool cr_loss_has_accuracy(cr_loss_type type);
/* Whether the loss learns from targets rather than class labels (data with
 * a targets table, or one-hot labels for binary_cross_entropy). */
bool cr_loss_needs_targets(cr_loss_type type);

/* ---- the plain functions --------------------------------------------------------- */

/* logits: [n, classes], labels[n] in [0, classes); weights: [classes] or NULL.
 * Labels that all weigh 0 give 0 and zero gradients with denominator 0. */
double cr_cross_entropy(const float *logits, const int *labels, int n, int classes,
                        const float *weights, float smoothing, float *dlogits, double *denominator);

/* The same with a row of class probabilities per image (targets: [n,
 * classes], mixup's and cutmix's soft rows), as F.cross_entropy with
 * probability targets: −Σ_c w_c t'_c log softmax(z)_c with t' = (1 − ε)·t +
 * ε/C, the mean over the n images (denominator n, whatever the weights). */
double cr_cross_entropy_soft(const float *logits, const float *targets, int n, int classes,
                             const float *weights, float smoothing, float *dlogits,
                             double *denominator);

/* logits, targets: [count]; max(x, 0) − x·t + log(1 + e^−|x|) per element. */
double cr_bce_with_logits(const float *logits, const float *targets, int64_t count, float *dlogits,
                          double *denominator);

/* output, targets: [count]; (y − t)² per element. */
double cr_mse(const float *output, const float *targets, int64_t count, float *doutput,
              double *denominator);

/* ---- on a network ----------------------------------------------------------------- */

/* net.c: what a loss reads, [batch, outputs]: the output layer's input when
 * `fused` (the logits under a final softmax or sigmoid), else its output. */
const float *cr_net_loss_input(cr_net *net, bool fused);
/* net.c: where a loss writes its gradient (NULL when the net has no
 * gradients). With `fused` it is d(loss)/d(logits): the next backward
 * passes it straight to the output layer's input, skipping that layer. */
float *cr_net_loss_grad(cr_net *net, bool fused);

/* The loss of the last forward's batch (cr_net_batch images); labels[n] for
 * cross_entropy (or labels NULL and soft rows in targets), targets [n,
 * outputs] for the others. Sets the gradient the
 * next cr_net_backward starts from (when the net has gradients). */
double cr_net_loss(cr_net *net, const cr_loss_config *loss, const int *labels, const float *targets,
                   double *denominator);

/* Right answers in the last forward's first n images: images whose argmax is
 * the label (cross_entropy), image × output pairs whose logit's sign matches
 * target ≥ 0.5 (binary_cross_entropy; *exact gets the images with every
 * output right, when not NULL), 0 for mse. */
int64_t cr_net_loss_correct(cr_net *net, const cr_loss_config *loss, const int *labels,
                            const float *targets, int64_t *exact);

/* The accuracy of `correct` right answers over `images` images with
 * `outputs` outputs: per image for cross_entropy, per image × output for
 * binary_cross_entropy, NaN for mse. */
double cr_loss_accuracy(cr_loss_type type, int64_t correct, int64_t images, int outputs);

struct cr_dataset;
/* targets [n, outputs] for images whose labels are labels[n]: rows of the
 * data's targets table (labels are its row numbers then), else one-hot. */
void cr_loss_gather_targets(const struct cr_dataset *data, const int *labels, int n, int outputs,
                            float *out);

#endif
