/* 1×1 convolution with a stride above 1 as products on the gathered
 * strided pixels (see conv_strided_pointwise.h).
 *   x: [N, C, H, W] -> y: [N, F, OH, OW]; weight: [F, C/G, 1, 1] */
#include "conv_strided_pointwise.h"

#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "../cpu.h"
#include "../parallel.h"
#include "stride2_rows.h"

bool conv_strided_pointwise_applies(conv_dims d) {
    return !d.reference && d.kernel_h == 1 && d.kernel_w == 1 &&
           (d.stride_h > 1 || d.stride_w > 1) && d.pad_h == 0 && d.pad_w == 0;
}

/* Columns per chunk: OpenBLAS's rate on these shallow products (depth C)
 * still grows past the im2col path's 512 columns. */
#define CHUNK_COLUMNS 1024
/* ... while g and the product together stay in the core's L2 cache (1 MiB
 * of floats): gathered, they are read back by the product at once. */
#define CHUNK_FLOATS (256 * 1024)

static int chunk_images(conv_dims d) {
    int64_t spatial = (int64_t)d.out_height * d.out_width;
    int64_t per_image = (int64_t)(d.channels + d.filters) * spatial;
    int64_t by_columns = (CHUNK_COLUMNS + spatial - 1) / spatial;
    int64_t by_cache = CHUNK_FLOATS / (per_image > 0 ? per_image : 1);
    int64_t chunk = by_columns < by_cache ? by_columns : by_cache;
    return chunk < 1 ? 1 : (int)chunk;
}

int conv_strided_pointwise_chunk(conv_dims d, int threads) {
    int chunk = chunk_images(d), per_thread = (d.batch + threads - 1) / threads;
    return chunk < per_thread ? chunk : per_thread;
}

/* Per-thread scratch, each piece 64-byte aligned:
 *   g:       [C, n·OH·OW] the chunk's strided pixels; backward then reuses
 *            it for weightᵀ · dz
 *   product: [F, n·OH·OW] forward's product before the epilogue puts it in
 *            y, backward's dz
 *   dweight: [F, C/G], dbias: [F], this thread's partial sums */
typedef struct strided_scratch {
    float *g, *product, *dweight, *dbias;
} strided_scratch;

static int64_t scratch_layout(conv_dims d, strided_scratch *s, float *base) {
    int64_t columns = (int64_t)chunk_images(d) * d.out_height * d.out_width;
    int64_t g = cr_round_up_floats(d.channels * columns);
    int64_t product = cr_round_up_floats(d.filters * columns);
    int64_t dweight = cr_round_up_floats((int64_t)d.filters * (d.channels / d.groups));
    int64_t dbias = cr_round_up_floats(d.filters);
    if (s) {
        s->g = base;
        s->product = base + g;
        s->dweight = base + g + product;
        s->dbias = base + g + product + dweight;
    }
    return g + product + dweight + dbias;
}

int64_t conv_strided_pointwise_scratch_floats(conv_dims d) {
    return scratch_layout(d, NULL, NULL);
}

/* A chunk: images [first, first + count), their columns side by side. */
typedef struct strided_chunk {
    int first, count;
    int64_t spatial, columns; /* OH·OW, count·OH·OW */
} strided_chunk;

static strided_chunk chunk_of(int64_t k, int chunk, conv_dims d) {
    int first = (int)k * chunk, count = d.batch - first < chunk ? d.batch - first : chunk;
    int64_t spatial = (int64_t)d.out_height * d.out_width;
    return (strided_chunk){first, count, spatial, count * spatial};
}

/* g [C, columns] = the pixels the 1×1 windows sit on. */
static void gather(float *restrict g, const float *restrict x, strided_chunk ch, conv_dims d) {
    int64_t plane = (int64_t)d.height * d.width;
    bool avx2 = cr_cpu_avx2();
    for (int i = 0; i < ch.count; i++)
        for (int c = 0; c < d.channels; c++) {
            const float *in = x + ((int64_t)(ch.first + i) * d.channels + c) * plane;
            float *out = g + c * ch.columns + i * ch.spatial;
            for (int oh = 0; oh < d.out_height; oh++, out += d.out_width) {
                const float *row = in + (int64_t)oh * d.stride_h * d.width;
                if (d.stride_w == 2)
                    cr_gather_stride2(out, row, d.out_width, in + plane - row, avx2);
                else
                    for (int ow = 0; ow < d.out_width; ow++) out[ow] = row[ow * d.stride_w];
            }
        }
}

/* The adjoint: dx's strided pixels (+)= part [C, columns]; with `assign`
 * every other pixel of the chunk's images is cleared. */
static void scatter(float *restrict dx, bool assign, const float *restrict part, strided_chunk ch,
                    conv_dims d) {
    int64_t plane = (int64_t)d.height * d.width;
    bool avx2 = cr_cpu_avx2();
    for (int i = 0; i < ch.count; i++)
        for (int c = 0; c < d.channels; c++) {
            float *image = dx + ((int64_t)(ch.first + i) * d.channels + c) * plane;
            const float *in = part + c * ch.columns + i * ch.spatial;
            if (assign) memset(image, 0, (size_t)plane * sizeof *image);
            for (int oh = 0; oh < d.out_height; oh++, in += d.out_width) {
                float *row = image + (int64_t)oh * d.stride_h * d.width;
                if (d.stride_w == 2)
                    cr_scatter_add_stride2(row, in, d.out_width, image + plane - row, avx2);
                else
                    for (int ow = 0; ow < d.out_width; ow++) row[ow * d.stride_w] += in[ow];
            }
        }
}

/* y's images of one chunk = epilogue(weight · g), one product per group. */
static void forward_chunk(float *y, const float *x, const float *weight,
                          const conv_epilogue *epilogue, strided_chunk ch, strided_scratch s,
                          conv_dims d) {
    int per_group = d.filters / d.groups, depth = d.channels / d.groups;
    gather(s.g, x, ch, d);
    /* One image: its [F, OH·OW] output is the product itself, in place. */
    float *product = ch.count == 1 ? y + (int64_t)ch.first * d.filters * ch.spatial : s.product;
    for (int g = 0; g < d.groups; g++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, per_group, (int)ch.columns, depth,
                    1.0f, weight + (int64_t)g * per_group * depth, depth,
                    s.g + g * depth * ch.columns, (int)ch.columns, 0.0f,
                    product + g * per_group * ch.columns, (int)ch.columns);
    for (int i = 0; i < ch.count; i++)
        for (int f = 0; f < d.filters; f++)
            cr_conv_epilogue_row(y + ((int64_t)(ch.first + i) * d.filters + f) * ch.spatial,
                                 product + f * ch.columns + i * ch.spatial, ch.spatial, f,
                                 epilogue);
}

void conv_strided_pointwise_forward(const cr_step *step, conv_dims d, float *y,
                                    const conv_epilogue *epilogue) {
    int chunk = conv_strided_pointwise_chunk(d, step->threads);
    int chunks = (d.batch + chunk - 1) / chunk;
#pragma omp parallel num_threads(step->threads)
    {
        int thread = omp_get_thread_num();
        strided_scratch s;
        scratch_layout(d, &s, cr_thread_workspace(step, thread));
        int64_t first, end;
        cr_thread_share(chunks, thread, omp_get_num_threads(), &first, &end);
        for (int64_t k = first; k < end; k++)
            forward_chunk(y, step->x[0], step->param[0], epilogue, chunk_of(k, chunk, d), s, d);
    }
}

/* dz [F, columns] = dy ⊙ act' for the chunk's images (dy itself, in place,
 * for one image without a fused activation). */
static const float *chunk_dz(const float *dy, const float *at, cr_activation activation,
                             float *product, strided_chunk ch, conv_dims d) {
    int64_t first = (int64_t)ch.first * d.filters * ch.spatial;
    if (ch.count == 1 && activation == CR_ACT_NONE) return dy + first;
    for (int i = 0; i < ch.count; i++)
        for (int f = 0; f < d.filters; f++) {
            int64_t offset = first + ((int64_t)i * d.filters + f) * ch.spatial;
            cr_activation_backward(product + f * ch.columns + i * ch.spatial, dy + offset,
                                   at + offset, ch.spatial, activation,
                                   cr_activation_fused_param(activation));
        }
    return product;
}

static void add_dbias(float *dbias, const float *dz, strided_chunk ch, conv_dims d) {
    for (int f = 0; f < d.filters; f++) {
        const float *row = dz + f * ch.columns;
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int64_t j = 0; j < ch.columns; j++) sum += row[j];
        dbias[f] += sum;
    }
}

/* One chunk's gradients: the thread's dbias and dweight partial sums, and
 * its images' dx (NULL: not wanted). */
static void backward_chunk(const cr_step *step, bool want_dweight, bool want_dbias, const float *at,
                           cr_activation activation, strided_chunk ch, strided_scratch s,
                           conv_dims d) {
    int per_group = d.filters / d.groups, depth = d.channels / d.groups;
    int columns = (int)ch.columns;
    const float *weight = step->param[0];
    const float *dz = chunk_dz(step->dy, at, activation, s.product, ch, d);
    if (want_dbias) add_dbias(s.dbias, dz, ch, d);
    if (want_dweight) {
        gather(s.g, step->x[0], ch, d);
        for (int g = 0; g < d.groups; g++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, per_group, depth, columns, 1.0f,
                        dz + g * per_group * ch.columns, columns, s.g + g * depth * ch.columns,
                        columns, 1.0f, s.dweight + (int64_t)g * per_group * depth, depth);
    }
    if (!step->dx[0]) return;
    for (int g = 0; g < d.groups; g++)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, depth, columns, per_group, 1.0f,
                    weight + (int64_t)g * per_group * depth, depth, dz + g * per_group * ch.columns,
                    columns, 0.0f, s.g + g * depth * ch.columns, columns);
    scatter(step->dx[0], step->dx_assign, s.g, ch, d);
}

void conv_strided_pointwise_backward(const cr_step *step, conv_dims d, cr_activation activation,
                                     const float *at, float *dweight, float *dbias) {
    int chunk = conv_strided_pointwise_chunk(d, step->threads);
    int chunks = (d.batch + chunk - 1) / chunk;
    int64_t weight_count = (int64_t)d.filters * (d.channels / d.groups);
#pragma omp parallel num_threads(step->threads)
    {
        int thread = omp_get_thread_num(), team = omp_get_num_threads();
        strided_scratch s;
        scratch_layout(d, &s, cr_thread_workspace(step, thread));
        if (dweight) memset(s.dweight, 0, (size_t)weight_count * sizeof(float));
        if (dbias) memset(s.dbias, 0, (size_t)d.filters * sizeof(float));
        int64_t first, end;
        cr_thread_share(chunks, thread, team, &first, &end);
        for (int64_t k = first; k < end; k++)
            backward_chunk(step, dweight != NULL, dbias != NULL, at, activation,
                           chunk_of(k, chunk, d), s, d);
            /* The partial sums, in thread order, by the same team. */
#pragma omp barrier
        strided_scratch first_scratch;
        scratch_layout(d, &first_scratch, cr_thread_workspace(step, 0));
        int64_t stride = step->thread_workspace_stride;
        if (dweight)
            cr_sum_thread_partials_in_team(dweight, first_scratch.dweight, weight_count, team,
                                           stride);
        if (dbias)
            cr_sum_thread_partials_in_team(dbias, first_scratch.dbias, d.filters, team, stride);
    }
}
