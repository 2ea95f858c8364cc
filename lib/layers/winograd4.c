/* Winograd F(4×4, 3×3): the transforms (see winograd.h; winograd.c runs
 * the products and picks the tile).
 *
 * With d a 6×6 input tile, g a 3×3 kernel and the 4×4 output tile Y:
 *   Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A
 *   Bᵀ = | 4  0 -5  0  1  0 |   G = |  1/4     0     0  |   Aᵀ = | 1  1  1  1  1  0 |
 *        | 0 -4 -4  1  1  0 |       | -1/6  -1/6  -1/6 |        | 0  1 -1  2 -2  0 |
 *        | 0  4 -4 -1  1  0 |       | -1/6   1/6  -1/6 |        | 0  1  1  4  4  0 |
 *        | 0 -2 -1  2  1  0 |       | 1/24  1/12  1/6  |        | 0  1 -1  8 -8  1 |
 *        | 0  2 -1 -2  1  0 |       | 1/24 -1/12  1/6  |
 *        | 0  4  0 -5  0  1 |       |   0     0     1  |
 * (Lavin & Gray 2016, points 0, ±1, ±2.) Each 2-D transform is the 1-D one
 * down the columns and then along the rows. The input and output
 * transforms run on a strip of tiles at a time: the pass across rows reads
 * and writes contiguous floats (the compiler vectorises it), the pass
 * within a tile is a few additions per value. */
#include "winograd.h"

#include "simd.h"

#include <string.h>

enum {
    ALPHA = 6,       /* input tile side */
    STRIP_TILES = 32 /* tiles per strip: 6 rows of 130 floats on the stack */
};
#define STRIP_WIDTH (4 * STRIP_TILES + 2)
/* Room past a strip's last column: the vector paths read up to 2 floats
 * beyond it (and 6 to round a row up to 8), never using them. */
#define STRIP_ROW (STRIP_WIDTH + 14)

/* The 1-D transforms of 6 values at p[0], p[step], .., p[5·step]. */
static inline void input_1d(float out[6], const float *p, int64_t step) {
    float d0 = p[0], d1 = p[step], d2 = p[2 * step], d3 = p[3 * step], d4 = p[4 * step],
          d5 = p[5 * step];
    out[0] = 4.0f * d0 - 5.0f * d2 + d4;
    out[1] = -4.0f * (d1 + d2) + d3 + d4;
    out[2] = 4.0f * (d1 - d2) - d3 + d4;
    out[3] = 2.0f * (d3 - d1) - d2 + d4;
    out[4] = 2.0f * (d1 - d3) - d2 + d4;
    out[5] = 4.0f * d1 - 5.0f * d3 + d5;
}

static inline void output_1d(float out[4], const float m[6]) {
    float sum12 = m[1] + m[2], diff12 = m[1] - m[2];
    float sum34 = m[3] + m[4], diff34 = m[3] - m[4];
    out[0] = m[0] + sum12 + sum34;
    out[1] = diff12 + 2.0f * diff34;
    out[2] = sum12 + 4.0f * sum34;
    out[3] = diff12 + 8.0f * diff34 + m[5];
}

static inline void kernel_1d(float out[6], float g0, float g1, float g2) {
    out[0] = 0.25f * g0;
    out[1] = -(g0 + g1 + g2) / 6.0f;
    out[2] = -(g0 - g1 + g2) / 6.0f;
    out[3] = g0 / 24.0f + g1 / 12.0f + g2 / 6.0f;
    out[4] = g0 / 24.0f - g1 / 12.0f + g2 / 6.0f;
    out[5] = g2;
}

void winograd4_store_kernel(float *out, int64_t plane, const float g[9]) {
    float gg[6][3]; /* G·g, column by column */
    for (int j = 0; j < 3; j++) {
        float column[6];
        kernel_1d(column, g[j], g[3 + j], g[6 + j]);
        for (int i = 0; i < 6; i++) gg[i][j] = column[i];
    }
    for (int i = 0; i < 6; i++) { /* (G·g)·Gᵀ, row i */
        float row[6];
        kernel_1d(row, gg[i][0], gg[i][1], gg[i][2]);
        for (int j = 0; j < 6; j++) out[(6 * i + j) * plane] = row[j];
    }
}

/* rows[r][0 .. width) = the channel's row top + r from column left on,
 * 0 outside the image; the 8 floats after them 0 too (input_down8 reads
 * them, to round the row up to whole vectors, and its results there are
 * dropped). */
static void load_strip(float rows[ALPHA][STRIP_ROW], const float *channel, int top, int left,
                       int width, winograd_dims d) {
    int first = left < 0 ? -left : 0;
    int end = d.width - left < width ? d.width - left : width;
    for (int r = 0; r < ALPHA; r++) {
        int row = top + r;
        if (row < 0 || row >= d.height || end <= first) {
            memset(rows[r], 0, (size_t)width * sizeof(float));
            continue;
        }
        memset(rows[r], 0, (size_t)first * sizeof(float));
        memcpy(rows[r] + first, channel + (int64_t)row * d.width + left + first,
               (size_t)(end - first) * sizeof(float));
        if (end < width) memset(rows[r] + end, 0, (size_t)(width - end) * sizeof(float));
    }
    for (int r = 0; r < ALPHA; r++) memset(rows[r] + width, 0, 8 * sizeof(float));
}

#if CR_X86
/* The vector forms of input_1d and output_1d: 8 tiles (or columns) at once. */
CR_TARGET_AVX2 static inline void input_1d8(__m256 out[6], const __m256 d[6]) {
    __m256 two = _mm256_set1_ps(2.0f), four = _mm256_set1_ps(4.0f), five = _mm256_set1_ps(5.0f);
    out[0] =
        _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(four, d[0]), _mm256_mul_ps(five, d[2])), d[4]);
    out[1] =
        _mm256_sub_ps(_mm256_add_ps(d[3], d[4]), _mm256_mul_ps(four, _mm256_add_ps(d[1], d[2])));
    out[2] =
        _mm256_add_ps(_mm256_mul_ps(four, _mm256_sub_ps(d[1], d[2])), _mm256_sub_ps(d[4], d[3]));
    out[3] =
        _mm256_add_ps(_mm256_mul_ps(two, _mm256_sub_ps(d[3], d[1])), _mm256_sub_ps(d[4], d[2]));
    out[4] =
        _mm256_add_ps(_mm256_mul_ps(two, _mm256_sub_ps(d[1], d[3])), _mm256_sub_ps(d[4], d[2]));
    out[5] =
        _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(four, d[1]), _mm256_mul_ps(five, d[3])), d[5]);
}

CR_TARGET_AVX2 static inline void output_1d8(__m256 out[4], const __m256 m[6]) {
    __m256 two = _mm256_set1_ps(2.0f), four = _mm256_set1_ps(4.0f), eight = _mm256_set1_ps(8.0f);
    __m256 sum12 = _mm256_add_ps(m[1], m[2]), diff12 = _mm256_sub_ps(m[1], m[2]);
    __m256 sum34 = _mm256_add_ps(m[3], m[4]), diff34 = _mm256_sub_ps(m[3], m[4]);
    out[0] = _mm256_add_ps(_mm256_add_ps(m[0], sum12), sum34);
    out[1] = _mm256_add_ps(diff12, _mm256_mul_ps(two, diff34));
    out[2] = _mm256_add_ps(sum12, _mm256_mul_ps(four, sum34));
    out[3] = _mm256_add_ps(_mm256_add_ps(diff12, _mm256_mul_ps(eight, diff34)), m[5]);
}

/* Transposes 4×4 blocks within each 128-bit half: a[i][j] <-> a[j][i]. */
CR_TARGET_AVX2 static inline void transpose_halves(__m256 a[4]) {
    __m256 t0 = _mm256_unpacklo_ps(a[0], a[1]), t1 = _mm256_unpackhi_ps(a[0], a[1]);
    __m256 t2 = _mm256_unpacklo_ps(a[2], a[3]), t3 = _mm256_unpackhi_ps(a[2], a[3]);
    a[0] = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
    a[1] = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    a[2] = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
    a[3] = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
}

/* s[j][t] = p[4t + j] for 8 tiles 4 floats apart, j < 4: tile i in the low
 * half of vector i, tile i + 4 in its high half, then transposed. */
CR_TARGET_AVX2 static inline void gather_tiles8(__m256 s[4], const float *p) {
    for (int i = 0; i < 4; i++)
        s[i] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(p + 4 * i)),
                                    _mm_loadu_ps(p + 16 + 4 * i), 1);
    transpose_halves(s);
}

/* input_down, 8 columns at a time (the row is padded to a multiple of 8). */
CR_TARGET_AVX2 static void input_down8(float bt[ALPHA][STRIP_ROW], float rows[ALPHA][STRIP_ROW],
                                       int width) {
    for (int s = 0; s < width; s += 8) {
        __m256 d[6], out[6];
        for (int r = 0; r < ALPHA; r++) d[r] = _mm256_loadu_ps(&rows[r][s]);
        input_1d8(out, d);
        for (int k = 0; k < ALPHA; k++) _mm256_storeu_ps(&bt[k][s], out[k]);
    }
}

/* (Bᵀ·d)·B along row k of 8 tiles, into 8 consecutive columns of V. */
CR_TARGET_AVX2 static void input_across8(float *v, int64_t plane, const float *bt_row) {
    __m256 d[8], out[6];
    gather_tiles8(d, bt_row);         /* columns 0..3 of each tile */
    gather_tiles8(d + 4, bt_row + 4); /* columns 4, 5 (and 6, 7, unused) */
    input_1d8(out, d);
    for (int j = 0; j < ALPHA; j++) _mm256_storeu_ps(v + j * plane, out[j]);
}

/* Aᵀ·m for 8 tiles: am[i][s][t .. t + 8). */
CR_TARGET_AVX2 static void output_down8(float am[4][ALPHA][STRIP_TILES], const float *m,
                                        int64_t plane, int t) {
    for (int s = 0; s < ALPHA; s++) {
        __m256 column[6], out[4];
        for (int r = 0; r < ALPHA; r++) column[r] = _mm256_loadu_ps(m + (6 * r + s) * plane + t);
        output_1d8(out, column);
        for (int i = 0; i < 4; i++) _mm256_storeu_ps(&am[i][s][t], out[i]);
    }
}

/* Output row i of 8 tiles (32 outputs from out_row): ·A, scale·(…) + bias,
 * stored or added. */
CR_TARGET_AVX2 static void output_across8(float *out_row, float am[ALPHA][STRIP_TILES], int t,
                                          float scale, float bias, bool accumulate) {
    __m256 row[6], out[4];
    for (int s = 0; s < ALPHA; s++) row[s] = _mm256_loadu_ps(&am[s][t]);
    output_1d8(out, row);
    __m256 factor = _mm256_set1_ps(scale), shift = _mm256_set1_ps(bias);
    for (int j = 0; j < 4; j++) out[j] = _mm256_add_ps(_mm256_mul_ps(factor, out[j]), shift);
    transpose_halves(out); /* out[i]: tile i's 4 outputs, then tile i + 4's */
    for (int i = 0; i < 4; i++) {
        __m128 low = _mm256_castps256_ps128(out[i]), high = _mm256_extractf128_ps(out[i], 1);
        float *first = out_row + 4 * i, *second = out_row + 16 + 4 * i;
        if (accumulate) {
            low = _mm_add_ps(_mm_loadu_ps(first), low);
            high = _mm_add_ps(_mm_loadu_ps(second), high);
        }
        _mm_storeu_ps(first, low);
        _mm_storeu_ps(second, high);
    }
}
#endif

/* Bᵀ·rows down the columns: bt[k][s] for every column s of the strip. */
static void input_down(float bt[ALPHA][STRIP_ROW], float rows[ALPHA][STRIP_ROW], int width) {
#if CR_X86
    if (cr_cpu_avx2()) {
        input_down8(bt, rows, width);
        return;
    }
#endif
    for (int s = 0; s < width; s++) {
        float column[6];
        input_1d(column, &rows[0][s], STRIP_ROW);
        for (int k = 0; k < ALPHA; k++) bt[k][s] = column[k];
    }
}

/* (Bᵀ·d)·B along row k of every tile of the strip, into V's columns. */
static void input_across(float *v, int64_t plane, const float *bt_row, int tiles) {
    int t = 0;
#if CR_X86
    if (cr_cpu_avx2())
        for (; t + 8 <= tiles; t += 8) input_across8(v + t, plane, bt_row + 4 * t);
#endif
    for (; t < tiles; t++) {
        float out[6];
        input_1d(out, bt_row + 4 * t, 1);
        for (int j = 0; j < ALPHA; j++) v[j * plane + t] = out[j];
    }
}

void winograd4_transform_input(float *v, int64_t columns, int64_t first_column,
                               const float *channel, winograd_dims d) {
    int64_t plane = winograd_plane_stride(d.channels, columns); /* one ξ of V */
    int64_t column = first_column;
    int across = (d.out_width + 3) / 4, down = (d.out_height + 3) / 4;
    float rows[ALPHA][STRIP_ROW], bt[ALPHA][STRIP_ROW];
    for (int ty = 0; ty < down; ty++)
        for (int tx = 0; tx < across; tx += STRIP_TILES) {
            int tiles = across - tx < STRIP_TILES ? across - tx : STRIP_TILES;
            int width = 4 * tiles + 2;
            load_strip(rows, channel, 4 * ty - d.pad_h, 4 * tx - d.pad_w, width, d);
            input_down(bt, rows, width);
            for (int k = 0; k < ALPHA; k++)
                input_across(v + 6 * k * plane + column, plane, bt[k], tiles);
            column += tiles;
        }
}

/* Aᵀ·m down the columns for a strip of tiles: am[i][s][t] for output row i
 * of tile t, from M[ξ][column + t]. */
static void output_down(float am[4][ALPHA][STRIP_TILES], const float *m, int64_t plane, int tiles) {
    int first = 0;
#if CR_X86
    if (cr_cpu_avx2())
        for (; first + 8 <= tiles; first += 8) output_down8(am, m, plane, first);
#endif
    for (int s = 0; s < ALPHA; s++)
        for (int t = first; t < tiles; t++) {
            float column[6], out[4];
            for (int r = 0; r < ALPHA; r++) column[r] = m[(6 * r + s) * plane + t];
            output_1d(out, column);
            for (int i = 0; i < 4; i++) am[i][s][t] = out[i];
        }
}

/* ·A along output row i of the strip's tiles (the strip's first output
 * column is first_col); outputs past the edge are dropped. */
static void output_across(float *out_row, float am[ALPHA][STRIP_TILES], int tiles, int first_col,
                          float scale, float bias, bool accumulate, winograd_dims d) {
    int t = 0;
#if CR_X86
    if (cr_cpu_avx2())
        for (; t + 8 <= tiles && first_col + 4 * t + 32 <= d.out_width; t += 8)
            output_across8(out_row + first_col + 4 * t, am, t, scale, bias, accumulate);
#endif
    for (; t < tiles; t++) {
        float row[6], out[4];
        for (int s = 0; s < ALPHA; s++) row[s] = am[s][t];
        output_1d(out, row);
        int col = first_col + 4 * t;
        for (int j = 0; j < 4 && col + j < d.out_width; j++) {
            float value = scale * out[j] + bias;
            out_row[col + j] = accumulate ? out_row[col + j] + value : value;
        }
    }
}

void winograd4_transform_output(float *y_channel, const float *m, int64_t columns,
                                int64_t first_column, float scale, float bias, bool accumulate,
                                winograd_dims d) {
    int64_t plane = winograd_plane_stride(d.filters, columns); /* one ξ of M */
    int64_t column = first_column;
    int across = (d.out_width + 3) / 4, down = (d.out_height + 3) / 4;
    float am[4][ALPHA][STRIP_TILES];
    for (int ty = 0; ty < down; ty++)
        for (int tx = 0; tx < across; tx += STRIP_TILES) {
            int tiles = across - tx < STRIP_TILES ? across - tx : STRIP_TILES;
            output_down(am, m + column, plane, tiles);
            for (int i = 0; i < 4 && 4 * ty + i < d.out_height; i++)
                output_across(y_channel + (int64_t)(4 * ty + i) * d.out_width, am[i], tiles, 4 * tx,
                              scale, bias, accumulate, d);
            column += tiles;
        }
}
