/* 1×1 stride-1 convolution as products on the images in place (see
 * conv_pointwise.h).
 *   x: [N, C, H, W] -> y: [N, F, H, W]; weight: [F, C/G, 1, 1] */
#include "conv_pointwise.h"

#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "../parallel.h"

bool conv_pointwise_applies(conv_dims d) {
    return !d.reference && d.kernel_h == 1 && d.kernel_w == 1 && d.stride_h == 1 &&
           d.stride_w == 1 && d.pad_h == 0 && d.pad_w == 0;
}

/* Column shares per image: 1 when every thread has an image of its own. */
static int column_shares(conv_dims d, int threads) {
    int64_t spatial = (int64_t)d.height * d.width;
    int shares = d.batch >= threads ? 1 : (threads + d.batch - 1) / d.batch;
    return shares > spatial ? (int)spatial : shares;
}

/* Per-thread scratch, each piece 64-byte aligned:
 *   dz:      [F, HW] (at most) one share's dy ⊙ act', with a fused activation
 *   dweight: [F, C/G], dbias: [F], this thread's partial sums */
typedef struct pointwise_scratch {
    float *dz, *dweight, *dbias;
} pointwise_scratch;

static int64_t scratch_layout(conv_dims d, cr_activation activation, pointwise_scratch *s,
                              float *base) {
    int64_t dz =
        activation == CR_ACT_NONE ? 0 : cr_round_up_floats((int64_t)d.filters * d.height * d.width);
    int64_t dweight = cr_round_up_floats((int64_t)d.filters * (d.channels / d.groups));
    int64_t dbias = cr_round_up_floats(d.filters);
    if (s) {
        s->dz = base;
        s->dweight = base + dz;
        s->dbias = base + dz + dweight;
    }
    return dz + dweight + dbias;
}

int64_t conv_pointwise_scratch_floats(conv_dims d, cr_activation activation) {
    return scratch_layout(d, activation, NULL, NULL);
}

/* One item of work: image `image`'s columns [column, column + columns). */
typedef struct pointwise_item {
    int64_t image;
    int column, columns;
} pointwise_item;

static pointwise_item item_of(int64_t item, int shares, conv_dims d) {
    int64_t first, end;
    cr_thread_share((int64_t)d.height * d.width, (int)(item % shares), shares, &first, &end);
    return (pointwise_item){item / shares, (int)first, (int)(end - first)};
}

/* y's columns of one item = epilogue(weight · x's). */
static void forward_item(float *y, const float *x, const float *weight,
                         const conv_epilogue *epilogue, pointwise_item it, conv_dims d) {
    int spatial = d.height * d.width, per_group = d.filters / d.groups;
    int depth = d.channels / d.groups;
    const float *image = x + it.image * d.channels * spatial + it.column;
    float *out = y + it.image * d.filters * spatial + it.column;
    for (int g = 0; g < d.groups; g++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, per_group, it.columns, depth, 1.0f,
                    weight + (int64_t)g * per_group * depth, depth,
                    image + (int64_t)g * depth * spatial, spatial, 0.0f,
                    out + (int64_t)g * per_group * spatial, spatial);
    for (int f = 0; f < d.filters; f++) {
        float *row = out + (int64_t)f * spatial;
        cr_conv_epilogue_row(row, row, it.columns, f, epilogue);
    }
}

void conv_pointwise_forward(const cr_step *step, conv_dims d, float *y,
                            const conv_epilogue *epilogue) {
    int shares = column_shares(d, step->threads);
#pragma omp parallel num_threads(step->threads)
    {
        int64_t first, end;
        cr_thread_share((int64_t)d.batch * shares, omp_get_thread_num(), omp_get_num_threads(),
                        &first, &end);
        for (int64_t k = first; k < end; k++)
            forward_item(y, step->x[0], step->param[0], epilogue, item_of(k, shares, d), d);
    }
}

/* dz for one item's columns: dy itself (ld HW) without a fused activation,
 * else dy ⊙ act' gathered into the scratch (ld = the item's columns). */
static const float *item_dz(int *ld, const float *dy, const float *at, cr_activation activation,
                            float *scratch, pointwise_item it, conv_dims d) {
    int spatial = d.height * d.width;
    int64_t offset = it.image * d.filters * spatial + it.column;
    if (activation == CR_ACT_NONE) {
        *ld = spatial;
        return dy + offset;
    }
    for (int f = 0; f < d.filters; f++)
        cr_activation_backward(scratch + (int64_t)f * it.columns,
                               dy + offset + (int64_t)f * spatial,
                               at + offset + (int64_t)f * spatial, it.columns, activation,
                               cr_activation_fused_param(activation));
    *ld = it.columns;
    return scratch;
}

/* One item's gradients: the thread's dbias and dweight partial sums, and
 * its columns of dx (+)= weightᵀ · dz (dx NULL: not wanted). */
static void backward_item(float *dx, bool dx_assign, pointwise_scratch s, bool want_dweight,
                          bool want_dbias, const float *dz, int ld, const float *x,
                          const float *weight, pointwise_item it, conv_dims d) {
    int spatial = d.height * d.width, per_group = d.filters / d.groups;
    int depth = d.channels / d.groups;
    if (want_dbias)
        for (int f = 0; f < d.filters; f++) {
            const float *row = dz + (int64_t)f * ld;
            float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
            for (int j = 0; j < it.columns; j++) sum += row[j];
            s.dbias[f] += sum;
        }
    const float *image = x + it.image * d.channels * spatial + it.column;
    if (want_dweight)
        for (int g = 0; g < d.groups; g++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, per_group, depth, it.columns, 1.0f,
                        dz + (int64_t)g * per_group * ld, ld, image + (int64_t)g * depth * spatial,
                        spatial, 1.0f, s.dweight + (int64_t)g * per_group * depth, depth);
    if (!dx) return;
    float *dimage = dx + it.image * d.channels * spatial + it.column;
    for (int g = 0; g < d.groups; g++)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, depth, it.columns, per_group, 1.0f,
                    weight + (int64_t)g * per_group * depth, depth,
                    dz + (int64_t)g * per_group * ld, ld, dx_assign ? 0.0f : 1.0f,
                    dimage + (int64_t)g * depth * spatial, spatial);
}

void conv_pointwise_backward(const cr_step *step, conv_dims d, cr_activation activation,
                             const float *at, float *dweight, float *dbias) {
    int shares = column_shares(d, step->threads);
    int64_t weight_count = (int64_t)d.filters * (d.channels / d.groups);
#pragma omp parallel num_threads(step->threads)
    {
        int thread = omp_get_thread_num(), team = omp_get_num_threads();
        pointwise_scratch s;
        scratch_layout(d, activation, &s, cr_thread_workspace(step, thread));
        if (dweight) memset(s.dweight, 0, (size_t)weight_count * sizeof(float));
        if (dbias) memset(s.dbias, 0, (size_t)d.filters * sizeof(float));
        int64_t first, end;
        cr_thread_share((int64_t)d.batch * shares, thread, omp_get_num_threads(), &first, &end);
        for (int64_t k = first; k < end; k++) {
            pointwise_item it = item_of(k, shares, d);
            int ld;
            const float *dz = item_dz(&ld, step->dy, at, activation, s.dz, it, d);
            backward_item(step->dx[0], step->dx_assign, s, dweight != NULL, dbias != NULL, dz, ld,
                          step->x[0], step->param[0], it, d);
        }
        /* The partial sums, in thread order, by the same team. */
#pragma omp barrier
        pointwise_scratch first_scratch;
        scratch_layout(d, activation, &first_scratch, cr_thread_workspace(step, 0));
        int64_t stride = step->thread_workspace_stride;
        if (dweight)
            cr_sum_thread_partials_in_team(dweight, first_scratch.dweight, weight_count, team,
                                           stride);
        if (dbias)
            cr_sum_thread_partials_in_team(dbias, first_scratch.dbias, d.filters, team, stride);
    }
}

int conv_pointwise_gemms(conv_dims d, bool trainable, int threads, cr_gemm *out, int max) {
    int shares = column_shares(d, threads), per_group = d.filters / d.groups;
    int depth = d.channels / d.groups, spatial = d.height * d.width;
    /* cr_thread_share's column shares: `wide` of base + 1 columns, the rest base. */
    int base = spatial / shares, wide = spatial % shares;
    int columns[2] = {base + 1, base}, count[2] = {wide, shares - wide};
    int written = 0;
    for (int c = 0; c < 2; c++) {
        if (count[c] == 0 || columns[c] == 0) continue;
        int calls = d.batch * count[c] * d.groups;
        if (written < max)
            out[written++] =
                (cr_gemm){"forward", false, false, per_group, columns[c], depth, calls, false};
        if (trainable && written < max)
            out[written++] = (cr_gemm){"backward-weights", false, true, per_group, depth,
                                       columns[c],         calls, false};
        if (written < max)
            out[written++] = (cr_gemm){"backward-input", true,      false, depth,
                                       columns[c],       per_group, calls, false};
    }
    return written;
}
