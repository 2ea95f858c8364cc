/* Winograd F(2×2, 3×3) forward convolution (see winograd.h).
 *
 * With d a 4×4 input tile, g a 3×3 kernel and the 2×2 output tile Y:
 *   Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A
 *   Bᵀ = | 1  0 -1  0 |    G = |  1    0    0  |    Aᵀ = | 1  1  1  0 |
 *        | 0  1  1  0 |        | 1/2  1/2  1/2 |         | 0  1 -1 -1 |
 *        | 0 -1  1  0 |        | 1/2 -1/2  1/2 |
 *        | 0  1  0 -1 |        |  0    0    1  |
 * The element-wise product, summed over channels, is 16 matrix products:
 *   M[ξ] [F, tiles] = U[ξ] [F, C] · V[ξ] [C, tiles],  ξ = one of the 4×4 positions. */
#include "winograd.h"

#include "simd.h"

#include <cblas.h>
#include <string.h>

/* Columns (tiles) a chunk's products should have for OpenBLAS to run near
 * its best, and the most scratch a chunk may take (V and M together, in
 * floats: 2 MiB, half of this machine's L2 per core pair). */
#define WINOGRAD_COLUMNS       512
#define WINOGRAD_SCRATCH_LIMIT (512 * 1024)
#define WINOGRAD_MIN_CHANNELS  16

bool winograd_applies(int kernel_h, int kernel_w, int stride_h, int stride_w, int groups,
                      int channels, int filters) {
    return kernel_h == 3 && kernel_w == 3 && stride_h == 1 && stride_w == 1 && groups == 1 &&
           channels >= WINOGRAD_MIN_CHANNELS && filters >= WINOGRAD_MIN_CHANNELS;
}

/* F(4×4) where its products keep enough columns: measured on a 2-core
 * AMD EPYC (Zen 3), one thread, forward at batch 64 / 8: 1.2–1.5× F(2×2)'s
 * speed from 32 channels at 32×32 to 128 at 8×8 and 64 at 56×56, but 0.67×
 * at 256 channels of 14×14, where a chunk is one image of 16 tiles. */
#define WINOGRAD4_MIN_OUTPUT  8
#define WINOGRAD4_MIN_COLUMNS 48

static int forced_tile;

void winograd_force_tile(int tile) {
    forced_tile = tile;
}

int winograd_pick_tile(winograd_dims d, bool training) {
    if (forced_tile) return forced_tile;
    if (training) return 2;
    if (d.out_height < WINOGRAD4_MIN_OUTPUT || d.out_width < WINOGRAD4_MIN_OUTPUT) return 2;
    d.tile = 4;
    int64_t columns = winograd_chunk_images(d) * winograd_tiles(d);
    return columns >= WINOGRAD4_MIN_COLUMNS ? 4 : 2;
}

static int tiles_down(winograd_dims d) {
    return (d.out_height + d.tile - 1) / d.tile;
}
static int tiles_across(winograd_dims d) {
    return (d.out_width + d.tile - 1) / d.tile;
}
int64_t winograd_tiles(winograd_dims d) {
    return (int64_t)tiles_down(d) * tiles_across(d);
}

int winograd_chunk_images(winograd_dims d) {
    int64_t tiles = winograd_tiles(d);
    int64_t per_image = winograd_positions(d) * (int64_t)(d.channels + d.filters) * tiles;
    int64_t images = (WINOGRAD_COLUMNS + tiles - 1) / tiles;
    int64_t fit = WINOGRAD_SCRATCH_LIMIT / per_image;
    if (images > fit) images = fit;
    return images < 1 ? 1 : (int)images;
}

int64_t winograd_scratch_floats(winograd_dims d, int images) {
    int64_t columns = images * winograd_tiles(d);
    return winograd_positions(d) *
           (winograd_plane_stride(d.channels, columns) + winograd_plane_stride(d.filters, columns));
}

/* U[ξ] for one 3×3 kernel g (row-major), stored at out[ξ·plane]. */
static void store_kernel2(float *out, int64_t plane, const float g[9]) {
    float gg[4][3]; /* G·g */
    for (int j = 0; j < 3; j++) {
        gg[0][j] = g[j];
        gg[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
        gg[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
        gg[3][j] = g[6 + j];
    }
    for (int i = 0; i < 4; i++) { /* (G·g)·Gᵀ, row i */
        out[(4 * i + 0) * plane] = gg[i][0];
        out[(4 * i + 1) * plane] = 0.5f * (gg[i][0] + gg[i][1] + gg[i][2]);
        out[(4 * i + 2) * plane] = 0.5f * (gg[i][0] - gg[i][1] + gg[i][2]);
        out[(4 * i + 3) * plane] = gg[i][2];
    }
}

static void store_kernel(float *out, int64_t plane, const float g[9], winograd_dims d) {
    if (d.tile == 4)
        winograd4_store_kernel(out, plane, g);
    else
        store_kernel2(out, plane, g);
}

void winograd_transform_weights(float *u, const float *weight, winograd_dims d, int first_filter,
                                int end_filter) {
    int64_t plane = winograd_plane_stride(d.filters, d.channels); /* one ξ of U */
    for (int f = first_filter; f < end_filter; f++)
        for (int c = 0; c < d.channels; c++)
            store_kernel(u + (int64_t)f * d.channels + c, plane,
                         weight + ((int64_t)f * d.channels + c) * 9, d);
}

void winograd_transform_weights_flipped(float *u, const float *weight, winograd_dims d,
                                        int first_filter, int end_filter) {
    int64_t plane = winograd_plane_stride(d.filters, d.channels);
    for (int f = first_filter; f < end_filter; f++)
        for (int c = 0; c < d.channels; c++) {
            /* The forward kernel of output channel c and input channel f,
             * turned by 180°. */
            const float *forward = weight + ((int64_t)c * d.filters + f) * 9;
            float g[9];
            for (int i = 0; i < 9; i++) g[i] = forward[8 - i];
            store_kernel(u + (int64_t)f * d.channels + c, plane, g, d);
        }
}

void winograd_window(float *out, int rows, int columns, const float *plane, int height, int width,
                     int top, int left) {
    int from = left < 0 ? -left : 0, to = width - left < columns ? width - left : columns;
    for (int r = 0; r < rows; r++, out += columns) {
        int row = top + r, s = 0;
        if (row >= 0 && row < height) {
            const float *in = plane + (int64_t)row * width;
            for (; s < from; s++) out[s] = 0.0f;
            for (; s < to; s++) out[s] = in[left + s];
        }
        for (; s < columns; s++) out[s] = 0.0f;
    }
}

/* One tile's Bᵀ·d·B, stored at out[ξ·plane]. */
static void store_input_tile(float *out, int64_t plane, const float tile[4][4]) {
    float bd[4][4]; /* Bᵀ·d */
    for (int s = 0; s < 4; s++) {
        bd[0][s] = tile[0][s] - tile[2][s];
        bd[1][s] = tile[1][s] + tile[2][s];
        bd[2][s] = tile[2][s] - tile[1][s];
        bd[3][s] = tile[1][s] - tile[3][s];
    }
    for (int r = 0; r < 4; r++) { /* (Bᵀ·d)·B, row r */
        out[(4 * r + 0) * plane] = bd[r][0] - bd[r][2];
        out[(4 * r + 1) * plane] = bd[r][1] + bd[r][2];
        out[(4 * r + 2) * plane] = bd[r][2] - bd[r][1];
        out[(4 * r + 3) * plane] = bd[r][1] - bd[r][3];
    }
}

#if CR_X86
/* store_input_tile for the 8 tiles whose top-left input pixel is at
 * p, p + 2, .., p + 14 (4 rows `width` apart, 18 columns), in 8
 * consecutive columns. */
CR_TARGET_AVX2 static void store_input_tiles8(float *out, int64_t plane, const float *p,
                                              int width) {
    __m256 d[4][4];
    for (int r = 0; r < 4; r++) {
        cr_split_even_odd(p + (int64_t)r * width, &d[r][0], &d[r][1]);
        cr_split_even_odd(p + (int64_t)r * width + 2, &d[r][2], &d[r][3]);
    }
    __m256 bd[4][4];
    for (int s = 0; s < 4; s++) {
        bd[0][s] = _mm256_sub_ps(d[0][s], d[2][s]);
        bd[1][s] = _mm256_add_ps(d[1][s], d[2][s]);
        bd[2][s] = _mm256_sub_ps(d[2][s], d[1][s]);
        bd[3][s] = _mm256_sub_ps(d[1][s], d[3][s]);
    }
    for (int r = 0; r < 4; r++) {
        _mm256_storeu_ps(out + (4 * r + 0) * plane, _mm256_sub_ps(bd[r][0], bd[r][2]));
        _mm256_storeu_ps(out + (4 * r + 1) * plane, _mm256_add_ps(bd[r][1], bd[r][2]));
        _mm256_storeu_ps(out + (4 * r + 2) * plane, _mm256_sub_ps(bd[r][2], bd[r][1]));
        _mm256_storeu_ps(out + (4 * r + 3) * plane, _mm256_sub_ps(bd[r][1], bd[r][3]));
    }
}
#endif

/* V[ξ][c][column] = (Bᵀ·d·B)[ξ] for every tile of one image's channel c;
 * `column` counts tiles from `first_column`. Reads outside the image are 0. */
static void transform_input(float *v, int64_t columns, int64_t first_column, const float *channel,
                            winograd_dims d) {
    int64_t plane = winograd_plane_stride(d.channels, columns); /* one ξ of V */
    int64_t column = first_column;
    bool avx2 = cr_cpu_avx2();
    (void)avx2; /* read only by the x86 paths */
    for (int ty = 0; ty < tiles_down(d); ty++) {
        int top = 2 * ty - d.pad_h;
        bool rows_inside = top >= 0 && top + 4 <= d.height;
        int tx = 0;
#if CR_X86
        /* Eight tiles at a time: straight from the image where their 4 rows
         * × 18 columns are inside it, else from a copy with the padding's
         * zeros. Fewer than 8 left go one by one (masked stores of the
         * first n lanes were slower: the forward of 128 channels at 8×8
         * took 1.7× as long on the EPYC). */
        for (; avx2 && tx + 8 <= tiles_across(d); tx += 8, column += 8) {
            int left = 2 * tx - d.pad_w;
            if (rows_inside && left >= 0 && left + 18 <= d.width) {
                store_input_tiles8(v + column, plane, channel + (int64_t)top * d.width + left,
                                   d.width);
                continue;
            }
            float window[4 * 18];
            winograd_window(window, 4, 18, channel, d.height, d.width, top, left);
            store_input_tiles8(v + column, plane, window, 18);
        }
#endif
        for (; tx < tiles_across(d); tx++, column++) {
            int left = 2 * tx - d.pad_w;
            float tile[4][4];
            if (rows_inside && left >= 0 && left + 4 <= d.width) {
                for (int r = 0; r < 4; r++)
                    for (int s = 0; s < 4; s++)
                        tile[r][s] = channel[(top + r) * d.width + left + s];
            } else {
                for (int r = 0; r < 4; r++)
                    for (int s = 0; s < 4; s++) {
                        int row = top + r, col = left + s;
                        bool inside = row >= 0 && row < d.height && col >= 0 && col < d.width;
                        tile[r][s] = inside ? channel[row * d.width + col] : 0.0f;
                    }
            }
            store_input_tile(v + column, plane, tile);
        }
    }
}

#if CR_X86
/* The output transform of the 8 tiles in consecutive columns of m, whose
 * 2 × 16 outputs start at out (rows `width` apart): Aᵀ·m·A, then
 * scale·(...) + bias, stored or (accumulate) added. */
CR_TARGET_AVX2 static void store_output_tiles8(float *out, int width, const float *in,
                                               int64_t plane, float scale, float bias,
                                               bool accumulate) {
    __m256 am[2][4];
    for (int s = 0; s < 4; s++) {
        __m256 m0 = _mm256_loadu_ps(in + (0 + s) * plane);
        __m256 m1 = _mm256_loadu_ps(in + (4 + s) * plane);
        __m256 m2 = _mm256_loadu_ps(in + (8 + s) * plane);
        __m256 m3 = _mm256_loadu_ps(in + (12 + s) * plane);
        am[0][s] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
        am[1][s] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
    }
    __m256 factor = _mm256_set1_ps(scale), shift = _mm256_set1_ps(bias);
    for (int r = 0; r < 2; r++) {
        __m256 left = _mm256_add_ps(
            _mm256_mul_ps(factor, _mm256_add_ps(_mm256_add_ps(am[r][0], am[r][1]), am[r][2])),
            shift);
        __m256 right = _mm256_add_ps(
            _mm256_mul_ps(factor, _mm256_sub_ps(_mm256_sub_ps(am[r][1], am[r][2]), am[r][3])),
            shift);
        /* Tile t's two outputs go to columns 2t and 2t + 1. */
        __m256 low = _mm256_unpacklo_ps(left, right);
        __m256 high = _mm256_unpackhi_ps(left, right);
        float *row = out + (int64_t)r * width;
        __m256 first = _mm256_permute2f128_ps(low, high, 0x20);
        __m256 second = _mm256_permute2f128_ps(low, high, 0x31);
        if (accumulate) {
            first = _mm256_add_ps(_mm256_loadu_ps(row), first);
            second = _mm256_add_ps(_mm256_loadu_ps(row + 8), second);
        }
        _mm256_storeu_ps(row, first);
        _mm256_storeu_ps(row + 8, second);
    }
}
#endif

/* y[f] tiles = Aᵀ·m·A (+ bias) from M[ξ][f][column], for one image's
 * filter f; the bottom row / right column of a tile past an odd output
 * size are dropped. */
static void transform_output(float *y_channel, const float *m, int64_t columns,
                             int64_t first_column, float scale, float bias, bool accumulate,
                             winograd_dims d) {
    int64_t plane = winograd_plane_stride(d.filters, columns); /* one ξ of M */
    int64_t column = first_column;
    bool avx2 = cr_cpu_avx2();
    (void)avx2; /* read only by the x86 paths */
    for (int ty = 0; ty < tiles_down(d); ty++) {
        int row = 2 * ty, tx = 0;
#if CR_X86
        /* Eight tiles at once where their 2 × 16 outputs all exist. */
        if (row + 2 <= d.out_height && avx2)
            for (; tx + 8 <= tiles_across(d) && 2 * tx + 16 <= d.out_width; tx += 8, column += 8)
                store_output_tiles8(y_channel + (int64_t)row * d.out_width + 2 * tx, d.out_width,
                                    m + column, plane, scale, bias, accumulate);
#endif
        for (; tx < tiles_across(d); tx++, column++) {
            const float *in = m + column;
            float am[2][4]; /* Aᵀ·m */
            for (int s = 0; s < 4; s++) {
                float m0 = in[(0 + s) * plane], m1 = in[(4 + s) * plane];
                float m2 = in[(8 + s) * plane], m3 = in[(12 + s) * plane];
                am[0][s] = m0 + m1 + m2;
                am[1][s] = m1 - m2 - m3;
            }
            int col = 2 * tx;
            for (int r = 0; r < 2 && row + r < d.out_height; r++) {
                float *out = y_channel + (int64_t)(row + r) * d.out_width + col;
                float left = scale * (am[r][0] + am[r][1] + am[r][2]) + bias;
                float right = scale * (am[r][1] - am[r][2] - am[r][3]) + bias;
                out[0] = accumulate ? out[0] + left : left;
                if (col + 1 < d.out_width) out[1] = accumulate ? out[1] + right : right;
            }
        }
    }
}

void winograd_transform_input(float *v, int64_t columns, int64_t first_column, const float *channel,
                              winograd_dims d) {
    if (d.tile == 4)
        winograd4_transform_input(v, columns, first_column, channel, d);
    else
        transform_input(v, columns, first_column, channel, d);
}

void winograd_forward(float *y, bool accumulate, const float *x, const float *u,
                      const conv_epilogue *epilogue, int first, int count, float *scratch,
                      winograd_dims d) {
    int64_t image_size = (int64_t)d.channels * d.height * d.width;
    winograd_input in = {x + first * image_size, image_size, (int64_t)d.height * d.width};
    winograd_forward_from(y + (int64_t)first * d.filters * d.out_height * d.out_width, accumulate,
                          in, u, epilogue, count, scratch, d);
}

void winograd_forward_from(float *y, bool accumulate, winograd_input x, const float *u,
                           const conv_epilogue *epilogue, int count, float *scratch,
                           winograd_dims d) {
    int64_t tiles = winograd_tiles(d), columns = count * tiles;
    int64_t out_spatial = (int64_t)d.out_height * d.out_width;
    int64_t v_plane = winograd_plane_stride(d.channels, columns),
            m_plane = winograd_plane_stride(d.filters, columns);
    int64_t u_plane = winograd_plane_stride(d.filters, d.channels);
    float *v = scratch, *m = scratch + winograd_positions(d) * v_plane;
    void (*output)(float *, const float *, int64_t, int64_t, float, float, bool, winograd_dims) =
        d.tile == 4 ? winograd4_transform_output : transform_output;
    for (int i = 0; i < count; i++)
        for (int c = 0; c < d.channels; c++)
            winograd_transform_input(v + (int64_t)c * columns, columns, i * tiles,
                                     x.base + i * x.image_stride + c * x.channel_stride, d);
    for (int xi = 0; xi < winograd_positions(d); xi++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d.filters, (int)columns, d.channels,
                    1.0f, u + xi * u_plane, d.channels, v + xi * v_plane, (int)columns, 0.0f,
                    m + xi * m_plane, (int)columns);
    for (int i = 0; i < count; i++)
        for (int f = 0; f < d.filters; f++) {
            float *y_channel = y + ((int64_t)i * d.filters + f) * out_spatial;
            output(y_channel, m + (int64_t)f * columns, columns, i * tiles,
                   epilogue ? epilogue_scale(epilogue, f) : 1.0f,
                   epilogue ? epilogue_shift(epilogue, f) : 0.0f, accumulate, d);
            if (epilogue)
                cr_activation_forward(y_channel, out_spatial, epilogue->activation,
                                      cr_activation_fused_param(epilogue->activation));
        }
}
