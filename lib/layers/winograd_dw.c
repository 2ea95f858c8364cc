/* Winograd F(2×2, 3×3) weight gradient of a 3×3 stride-1 conv (see
 * winograd.h): the adjoint of the forward's Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A.
 *   A = | 1  0 |    dM = A · dY · Aᵀ   (dY: a 2×2 tile of the output gradient)
 *       | 1  1 |    dU = Σ_tiles dM ⊙ V  (V = Bᵀ d B, the forward's input tiles)
 *       | 1 -1 |    dg = Gᵀ · dU · G
 *       | 0 -1 |
 * Summed over tiles for every (filter, channel) pair, the element-wise
 * products are 16 matrix products per chunk of images:
 *   dU[ξ] [F, C] += dM[ξ] [F, tiles] · V[ξ]ᵀ [tiles, C]
 * 4 multiplications per output pixel and channel pair instead of im2col's
 * 9. Tiles that read padding see zeros in V, as in the forward; the half
 * tiles past an odd output size get dY = 0 there (those outputs do not
 * exist), so every term is exact up to float rounding. */
#include "winograd.h"

#include "simd.h"

#include <cblas.h>

static int forced;

void winograd_force_dw(int mode) {
    forced = mode;
}

/* A chunk's products want depth (tiles), but its V and dM, written by the
 * transforms and read back by the products, should stay in the core's L2
 * (512 KiB on Zen 3: 128 Ki floats). Measured at one thread on the EPYC,
 * 64 channels of 16×16: 1.44–1.51× im2col with this limit, 0.95× with 4×
 * as much (4 images per chunk instead of 1). */
#define WINOGRAD_DW_COLUMNS 256
#define WINOGRAD_DW_SCRATCH (128 * 1024)

int winograd_dw_chunk_images(winograd_dims d) {
    int64_t tiles = winograd_tiles(d);
    int64_t images = (WINOGRAD_DW_COLUMNS + tiles - 1) / tiles;
    int64_t fit =
        WINOGRAD_DW_SCRATCH / (winograd_positions(d) * (int64_t)(d.channels + d.filters) * tiles);
    if (images > fit) images = fit;
    return images < 1 ? 1 : (int)images;
}

/* Measured on a 2-core AMD EPYC (Zen 3), one thread, batch 64, backward
 * of a 3×3 'same' conv with relu (dz, dbias and dW, no dx; the thread's CPU
 * time, best of 6, load average 6.5) against im2col + GEMM: 1.2–1.8× from
 * 16 to 64 channels at 16×16 and 32×32, 1.42× at 128 of 28×28, 1.56× at 64
 * of 56×56, 1.11× at 256 of 14×14; but 0.95× at 64 and 128 channels of 8×8
 * and 0.54–0.73× at AlexNet's 192–256 of 7×7: 4 or 16 tiles per image
 * leave the vector transforms mostly edge blocks (masked, from a padded
 * copy) and the products shallow. */
#define WINOGRAD_DW_MIN_PIXELS 196

bool winograd_dw_pays(winograd_dims d) {
    if (forced) return forced > 0;
    return (int64_t)d.out_height * d.out_width >= WINOGRAD_DW_MIN_PIXELS;
}

/* dM's 16 entries from one tile's dY = | a b |, stored at out[ξ·plane]:
 *                                      | c e |
 * A·dY has rows (a, b), (a + c, b + e), (a − c, b − e), (−c, −e); each row
 * (p, q) times Aᵀ gives (p, p + q, p − q, −q). */
static void store_output_gradient_tile(float *out, int64_t plane, float a, float b, float c,
                                       float e) {
    float rows[4][2] = {{a, b}, {a + c, b + e}, {a - c, b - e}, {-c, -e}};
    for (int r = 0; r < 4; r++) {
        float p = rows[r][0], q = rows[r][1];
        out[(4 * r + 0) * plane] = p;
        out[(4 * r + 1) * plane] = p + q;
        out[(4 * r + 2) * plane] = p - q;
        out[(4 * r + 3) * plane] = -q;
    }
}

#if CR_X86
/* The same for the 8 tiles whose dY starts at p, p + 2, .., p + 14 (2 rows
 * `width` apart, 16 columns), in 8 consecutive columns. */
CR_TARGET_AVX2 static void store_output_gradient_tiles8(float *out, int64_t plane, const float *p,
                                                        int width) {
    __m256 a, b, c, e;
    cr_split_even_odd(p, &a, &b);
    cr_split_even_odd(p + width, &c, &e);
    __m256 zero = _mm256_setzero_ps();
    __m256 rows[4][2] = {{a, b},
                         {_mm256_add_ps(a, c), _mm256_add_ps(b, e)},
                         {_mm256_sub_ps(a, c), _mm256_sub_ps(b, e)},
                         {_mm256_sub_ps(zero, c), _mm256_sub_ps(zero, e)}};
    for (int r = 0; r < 4; r++) {
        __m256 left = rows[r][0], right = rows[r][1];
        _mm256_storeu_ps(out + (4 * r + 0) * plane, left);
        _mm256_storeu_ps(out + (4 * r + 1) * plane, _mm256_add_ps(left, right));
        _mm256_storeu_ps(out + (4 * r + 2) * plane, _mm256_sub_ps(left, right));
        _mm256_storeu_ps(out + (4 * r + 3) * plane, _mm256_sub_ps(zero, right));
    }
}

/* transform_output_gradient's first tiles of row ty, 8 at a time: straight
 * from dz where their 2 × 16 values exist, else from a copy with zeros past
 * the edge (as transform_input, fewer than 8 are left to the caller).
 * Returns the tiles done. */
CR_TARGET_AVX2 static int output_gradient_row8(float *dm, int64_t plane, int64_t column,
                                               const float *dz_channel, int ty, winograd_dims d) {
    int tiles_across = (d.out_width + 1) / 2, row = 2 * ty, tx = 0;
    for (; tx + 8 <= tiles_across; tx += 8) {
        int col = 2 * tx;
        if (row + 2 <= d.out_height && col + 16 <= d.out_width) {
            store_output_gradient_tiles8(dm + column + tx, plane,
                                         dz_channel + (int64_t)row * d.out_width + col,
                                         d.out_width);
            continue;
        }
        float window[2 * 16];
        winograd_window(window, 2, 16, dz_channel, d.out_height, d.out_width, row, col);
        store_output_gradient_tiles8(dm + column + tx, plane, window, 16);
    }
    return tx;
}
#endif

/* dM[ξ][f][column] for every tile of one image's output-gradient plane
 * dz_channel [OH, OW]; `column` counts tiles from first_column. */
static void transform_output_gradient(float *dm, int64_t columns, int64_t first_column,
                                      const float *dz_channel, winograd_dims d) {
    int64_t plane = winograd_plane_stride(d.filters, columns); /* one ξ of dM */
    int tiles_down = (d.out_height + 1) / 2, tiles_across = (d.out_width + 1) / 2;
    int64_t column = first_column;
    bool avx2 = cr_cpu_avx2();
    (void)avx2; /* read only by the x86 paths */
    for (int ty = 0; ty < tiles_down; ty++) {
        int row = 2 * ty, tx = 0;
#if CR_X86
        if (avx2) {
            tx = output_gradient_row8(dm, plane, column, dz_channel, ty, d);
            column += tx;
        }
#endif
        const float *top = dz_channel + (int64_t)row * d.out_width;
        bool both_rows = row + 1 < d.out_height;
        for (; tx < tiles_across; tx++, column++) {
            int col = 2 * tx;
            bool right = col + 1 < d.out_width;
            float a = top[col], b = right ? top[col + 1] : 0.0f;
            float c = both_rows ? top[d.out_width + col] : 0.0f;
            float e = both_rows && right ? top[d.out_width + col + 1] : 0.0f;
            store_output_gradient_tile(dm + column, plane, a, b, c, e);
        }
    }
}

void winograd_weight_gradient(float *du, const float *x, winograd_input dz, int first, int count,
                              float *scratch, winograd_dims d) {
    int64_t tiles = winograd_tiles(d), columns = count * tiles;
    int64_t image_size = (int64_t)d.channels * d.height * d.width;
    int64_t v_plane = winograd_plane_stride(d.channels, columns),
            m_plane = winograd_plane_stride(d.filters, columns);
    int64_t u_plane = winograd_plane_stride(d.filters, d.channels);
    float *v = scratch, *dm = scratch + winograd_positions(d) * v_plane; /* as the forward's */
    for (int i = 0; i < count; i++) {
        for (int c = 0; c < d.channels; c++)
            winograd_transform_input(v + (int64_t)c * columns, columns, i * tiles,
                                     x + (first + i) * image_size + (int64_t)c * d.height * d.width,
                                     d);
        for (int f = 0; f < d.filters; f++)
            transform_output_gradient(dm + (int64_t)f * columns, columns, i * tiles,
                                      dz.base + i * dz.image_stride + f * dz.channel_stride, d);
    }
    for (int xi = 0; xi < winograd_positions(d); xi++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d.filters, d.channels, (int)columns,
                    1.0f, dm + xi * m_plane, (int)columns, v + xi * v_plane, (int)columns, 1.0f,
                    du + xi * u_plane, d.channels);
}

/* One kernel's dg = Gᵀ·dU·G from dU[ξ] at in[ξ·plane]; g row-major.
 * Gᵀ = | 1 1/2  1/2 0 |
 *      | 0 1/2 -1/2 0 |
 *      | 0 1/2  1/2 1 | */
static void store_kernel_gradient(float g[9], const float *in, int64_t plane) {
    float gu[3][4]; /* Gᵀ·dU */
    for (int s = 0; s < 4; s++) {
        float u0 = in[(0 + s) * plane], u1 = in[(4 + s) * plane];
        float u2 = in[(8 + s) * plane], u3 = in[(12 + s) * plane];
        gu[0][s] = u0 + 0.5f * (u1 + u2);
        gu[1][s] = 0.5f * (u1 - u2);
        gu[2][s] = 0.5f * (u1 + u2) + u3;
    }
    for (int r = 0; r < 3; r++) { /* (Gᵀ·dU)·G, row r */
        g[3 * r + 0] = gu[r][0] + 0.5f * (gu[r][1] + gu[r][2]);
        g[3 * r + 1] = 0.5f * (gu[r][1] - gu[r][2]);
        g[3 * r + 2] = 0.5f * (gu[r][1] + gu[r][2]) + gu[r][3];
    }
}

void winograd_weight_gradient_finish(float *dweight, const float *du, winograd_dims d) {
    int64_t plane = winograd_plane_stride(d.filters, d.channels);
    for (int f = 0; f < d.filters; f++)
        for (int c = 0; c < d.channels; c++) {
            int64_t k = (int64_t)f * d.channels + c;
            store_kernel_gradient(dweight + k * 9, du + k, plane);
        }
}
