/* The train section's losses (see loss.h). */
#include "loss.h"

#include <math.h>
#include <string.h>

#include "data.h"
#include "layer.h"
#include "model.h"

static const char *const loss_names[] = {"cross_entropy", "binary_cross_entropy", "mse"};

const char *cr_loss_name(cr_loss_type type) {
    return (unsigned)type < sizeof loss_names / sizeof loss_names[0] ? loss_names[type] : "?";
}

bool cr_loss_has_accuracy(cr_loss_type type) {
    return type != CR_LOSS_MSE;
}

bool cr_loss_needs_targets(cr_loss_type type) {
    return type != CR_LOSS_CROSS_ENTROPY;
}

/* ---- the plain functions --------------------------------------------------------- */

/* log Σ e^z over one row, shifted by its largest value. */
static double log_sum_exp(const float *z, int classes) {
    float largest = z[0];
    for (int c = 1; c < classes; c++)
        if (z[c] > largest) largest = z[c];
    double sum = 0.0;
    for (int c = 0; c < classes; c++) sum += exp((double)z[c] - largest);
    return log(sum) + largest;
}

/* PyTorch (LossNLL.cpp, cross_entropy_loss_label_smoothing): with
 * log-probabilities l = log_softmax(z),
 *   loss = (1 − ε)·Σ_n w[y_n]·(−l[n, y_n]) / W + (ε/C)·Σ_n Σ_c w[c]·(−l[n, c]) / W
 * with W = Σ_n w[y_n] (n without weights). Its gradient in z[n, c] is
 *   ((1 − ε)·w[y]·(p_c − [c = y]) + (ε/C)·(Σ_k w[k]·p_c − w[c])) / W. */
double cr_cross_entropy(const float *logits, const int *labels, int n, int classes,
                        const float *weights, float smoothing, float *dlogits,
                        double *denominator) {
    double weight_sum = 0.0, all_weights = 0.0;
    for (int i = 0; i < n; i++) weight_sum += weights ? weights[labels[i]] : 1.0;
    for (int c = 0; c < classes; c++) all_weights += weights ? weights[c] : 1.0;
    double keep = 1.0 - smoothing, spread = (double)smoothing / classes;
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (int64_t)i * classes;
        double log_sum = log_sum_exp(z, classes);
        double w_label = weights ? weights[labels[i]] : 1.0;
        total += keep * w_label * (log_sum - z[labels[i]]);
        if (smoothing > 0)
            for (int c = 0; c < classes; c++)
                total += spread * (weights ? weights[c] : 1.0) * (log_sum - z[c]);
        if (!dlogits) continue;
        float *d = dlogits + (int64_t)i * classes;
        for (int c = 0; c < classes; c++) {
            double p = exp((double)z[c] - log_sum);
            double g = keep * w_label * (p - (c == labels[i]));
            if (smoothing > 0) g += spread * (all_weights * p - (weights ? weights[c] : 1.0));
            /* (float)g / (float)W: without weights and smoothing the same
             * bits as the gradient cnnrun always computed. */
            d[c] = weight_sum > 0 ? (float)g / (float)weight_sum : 0.0f;
        }
    }
    /* A share of a batch whose labels all weigh 0 adds nothing (its
     * denominator is 0); the whole batch's mean is then 0/0, NaN, as in
     * PyTorch. */
    *denominator = weight_sum;
    return weight_sum > 0 ? total / weight_sum : 0.0;
}

double cr_cross_entropy_soft(const float *logits, const float *targets, int n, int classes,
                             const float *weights, float smoothing, float *dlogits,
                             double *denominator) {
    double keep = 1.0 - smoothing, spread = (double)smoothing / classes;
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (int64_t)i * classes;
        const float *t = targets + (int64_t)i * classes;
        double log_sum = log_sum_exp(z, classes);
        double weighted_sum = 0.0; /* Σ_c w_c t'_c */
        for (int c = 0; c < classes; c++) {
            double w = weights ? weights[c] : 1.0, target = keep * t[c] + spread;
            if (target != 0.0) total += w * target * (log_sum - z[c]);
            weighted_sum += w * target;
        }
        if (!dlogits) continue;
        float *d = dlogits + (int64_t)i * classes;
        for (int c = 0; c < classes; c++) {
            double w = weights ? weights[c] : 1.0, target = keep * t[c] + spread;
            d[c] = (float)((weighted_sum * exp((double)z[c] - log_sum) - w * target) / n);
        }
    }
    *denominator = n;
    return n > 0 ? total / n : 0.0;
}

/* σ(x) without overflow for large |x|. */
static double sigmoid(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

double cr_bce_with_logits(const float *logits, const float *targets, int64_t count, float *dlogits,
                          double *denominator) {
    double total = 0.0;
    for (int64_t i = 0; i < count; i++) {
        double x = logits[i], t = targets[i];
        /* −t·log σ(x) − (1 − t)·log(1 − σ(x)), written so that neither
         * exp nor log sees a large argument. */
        total += fmax(x, 0.0) - x * t + log1p(exp(-fabs(x)));
        if (dlogits) dlogits[i] = (float)(sigmoid(x) - t) / (float)count;
    }
    *denominator = (double)count;
    return total / (double)count;
}

double cr_mse(const float *output, const float *targets, int64_t count, float *doutput,
              double *denominator) {
    double total = 0.0;
    for (int64_t i = 0; i < count; i++) {
        double difference = (double)output[i] - targets[i];
        total += difference * difference;
        if (doutput) doutput[i] = (float)(2.0 * difference) / (float)count;
    }
    *denominator = (double)count;
    return total / (double)count;
}

/* ---- on a network ----------------------------------------------------------------- */

static const cr_layer *output_layer(const cr_net *net) {
    const cr_model *model = cr_net_model(net);
    return &model->layers[model->output];
}

/* Whether the loss takes the output layer's input as its logits: the layer
 * applies the very function the loss would (layer.h's special roles). */
static bool fused(const cr_net *net, cr_loss_type type) {
    const cr_layer_kind *kind = output_layer(net)->kind;
    return (type == CR_LOSS_CROSS_ENTROPY && kind->outputs_probabilities) ||
           (type == CR_LOSS_BINARY_CROSS_ENTROPY && kind->outputs_sigmoid);
}

static int outputs_of(const cr_net *net) {
    return (int)cr_shape_size(output_layer(net)->out);
}

double cr_net_loss(cr_net *net, const cr_loss_config *loss, const int *labels, const float *targets,
                   double *denominator) {
    bool fuse = fused(net, loss->type);
    const float *x = cr_net_loss_input(net, fuse);
    float *dx = cr_net_loss_grad(net, fuse);
    int n = cr_net_batch(net), outputs = outputs_of(net);
    int64_t count = (int64_t)n * outputs;
    switch (loss->type) {
    case CR_LOSS_CROSS_ENTROPY:
        if (!labels)
            return cr_cross_entropy_soft(x, targets, n, outputs,
                                         loss->n_class_weights ? loss->class_weights : NULL,
                                         loss->label_smoothing, dx, denominator);
        for (int i = 0; i < n; i++)
            if (labels[i] < 0 || labels[i] >= outputs) return NAN;
        return cr_cross_entropy(x, labels, n, outputs,
                                loss->n_class_weights ? loss->class_weights : NULL,
                                loss->label_smoothing, dx, denominator);
    case CR_LOSS_BINARY_CROSS_ENTROPY:
        return cr_bce_with_logits(x, targets, count, dx, denominator);
    case CR_LOSS_MSE:
        return cr_mse(x, targets, count, dx, denominator);
    }
    return NAN;
}

static int argmax(const float *values, int count) {
    int best = 0;
    for (int i = 1; i < count; i++)
        if (values[i] > values[best]) best = i;
    return best;
}

int64_t cr_net_loss_correct(cr_net *net, const cr_loss_config *loss, const int *labels,
                            const float *targets, int64_t *exact) {
    int n = cr_net_batch(net), outputs = outputs_of(net);
    int64_t correct = 0, all_right = 0;
    if (loss->type == CR_LOSS_CROSS_ENTROPY) {
        const float *y = cr_net_output(net);
        for (int i = 0; i < n; i++)
            correct += argmax(y + (int64_t)i * outputs, outputs) == labels[i];
    } else if (loss->type == CR_LOSS_BINARY_CROSS_ENTROPY) {
        /* A logit above 0 is a probability above 0.5. */
        const float *x = cr_net_loss_input(net, fused(net, loss->type));
        for (int i = 0; i < n; i++) {
            int right = 0;
            for (int k = 0; k < outputs; k++) {
                int64_t at = (int64_t)i * outputs + k;
                right += (x[at] > 0) == (targets[at] >= 0.5f);
            }
            correct += right;
            all_right += right == outputs;
        }
    }
    if (exact) *exact = all_right;
    return correct;
}

double cr_loss_accuracy(cr_loss_type type, int64_t correct, int64_t images, int outputs) {
    switch (type) {
    case CR_LOSS_CROSS_ENTROPY:
        return images ? (double)correct / (double)images : NAN;
    case CR_LOSS_BINARY_CROSS_ENTROPY:
        return images ? (double)correct / ((double)images * outputs) : NAN;
    case CR_LOSS_MSE:
        break;
    }
    return NAN;
}

void cr_loss_gather_targets(const cr_dataset *data, const int *labels, int n, int outputs,
                            float *out) {
    for (int i = 0; i < n; i++) {
        float *row = out + (int64_t)i * outputs;
        if (data->targets) {
            memcpy(row, data->targets + (int64_t)labels[i] * outputs,
                   (size_t)outputs * sizeof *row);
        } else {
            memset(row, 0, (size_t)outputs * sizeof *row);
            if (labels[i] >= 0 && labels[i] < outputs) row[labels[i]] = 1.0f;
        }
    }
}
