/* Direct depthwise convolution (see conv_depthwise.h).
 *   x: [N, C, H, W] -> y: [N, F, OH, OW], F = k·C, filter f reads channel f / k
 *   weight: [F, 1, KH, KW] */
#include "conv_depthwise.h"

#include <omp.h>
#include <string.h>

#include "../parallel.h"
#include "simd.h"

bool conv_depthwise_applies(conv_dims d) {
    /* One channel (groups 1) is an ordinary product with F rows already. */
    return !d.reference && d.groups > 1 && d.groups == d.channels && d.filters % d.channels == 0;
}

static int round_up8(int n) {
    return (n + 7) / 8 * 8;
}

/* The zero-bordered copy of one input channel: `phases` (= stride_w)
 * planes of `rows` × `width` floats; phase r, row i, index j holds padded
 * pixel (i, j·stride_w + r). Wide enough that the vector loops may read
 * whole blocks of 8 past the last output column. */
typedef struct dw_plane {
    int phases, rows, width, taps;
} dw_plane;

static dw_plane plane_of(conv_dims d) {
    int sw = d.stride_w, padded = d.width + 2 * d.pad_w;
    int reach = (d.kernel_w - 1) * d.dil_w / sw; /* the furthest tap's index in its phase */
    int width = (padded + sw - 1) / sw;
    if (width < round_up8(d.out_width) + reach) width = round_up8(d.out_width) + reach;
    return (dw_plane){sw, d.height + 2 * d.pad_h, round_up8(width), d.kernel_h * d.kernel_w};
}

static int64_t plane_floats(dw_plane p) {
    return (int64_t)p.phases * p.rows * p.width;
}

/* Per-thread scratch, each piece 64-byte aligned:
 *   plane, dplane: the padded input channel and its gradient (dw_plane)
 *   dz:            one output plane's dy ⊙ act'
 *   offset:        per tap, where it reads in the plane for output (0, 0)
 *   dweight, dbias: this thread's partial sums [F, KH·KW] and [F] */
typedef struct dw_scratch {
    float *plane, *dplane, *dz, *dweight, *dbias;
    int32_t *offset;
} dw_scratch;

static int64_t scratch_layout(conv_dims d, dw_scratch *s, float *base) {
    dw_plane p = plane_of(d);
    int64_t plane = cr_round_up_floats(plane_floats(p));
    int64_t dz = cr_round_up_floats((int64_t)d.out_height * d.out_width);
    int64_t offset = cr_round_up_floats(p.taps); /* int32 in float-sized slots */
    int64_t dweight = cr_round_up_floats((int64_t)d.filters * p.taps);
    int64_t dbias = cr_round_up_floats(d.filters);
    if (s) {
        s->plane = base;
        s->dplane = base + plane;
        s->dz = base + 2 * plane;
        s->offset = (int32_t *)(base + 2 * plane + dz);
        s->dweight = base + 2 * plane + dz + offset;
        s->dbias = base + 2 * plane + dz + offset + dweight;
    }
    return 2 * plane + dz + offset + dweight + dbias;
}

int64_t conv_depthwise_scratch_floats(conv_dims d) {
    return scratch_layout(d, NULL, NULL);
}

/* Tap (kh, kw) at output (0, 0) reads padded pixel (kh·dh, kw·dw): phase
 * kw·dw mod sw, index kw·dw / sw. */
static void set_offsets(int32_t *offset, conv_dims d, dw_plane p) {
    for (int kh = 0; kh < d.kernel_h; kh++)
        for (int kw = 0; kw < d.kernel_w; kw++) {
            int column = kw * d.dil_w;
            offset[kh * d.kernel_w + kw] =
                ((column % p.phases) * p.rows + kh * d.dil_h) * p.width + column / p.phases;
        }
}

/* The image channel's pixels into the plane's interior (the border stays
 * as it is: zeros). image: [H, W] */
static void load_plane(float *plane, const float *image, conv_dims d, dw_plane p) {
    for (int ih = 0; ih < d.height; ih++) {
        const float *from = image + (int64_t)ih * d.width;
        if (p.phases == 1) { /* stride 1: whole rows */
            memcpy(plane + (int64_t)(ih + d.pad_h) * p.width + d.pad_w, from,
                   (size_t)d.width * sizeof(float));
            continue;
        }
        for (int r = 0; r < p.phases; r++) {
            /* the first column iw with (iw + pad) mod phases = r */
            int iw = ((r - d.pad_w) % p.phases + p.phases) % p.phases;
            float *to =
                plane + ((int64_t)r * p.rows + ih + d.pad_h) * p.width + (iw + d.pad_w) / p.phases;
            for (; iw < d.width; iw += p.phases) *to++ = from[iw];
        }
    }
}

/* The plane gradient's interior onto the image channel's gradient:
 * image = (assign) or += (otherwise) it. The border held padding. */
static void store_plane(float *restrict image, const float *restrict plane, bool assign,
                        conv_dims d, dw_plane p) {
    for (int ih = 0; ih < d.height; ih++) {
        float *to = image + (int64_t)ih * d.width;
        if (p.phases == 1) { /* stride 1: whole rows */
            const float *from = plane + (int64_t)(ih + d.pad_h) * p.width + d.pad_w;
            if (assign)
                memcpy(to, from, (size_t)d.width * sizeof(float));
            else
                for (int iw = 0; iw < d.width; iw++) to[iw] += from[iw];
            continue;
        }
        for (int r = 0; r < p.phases; r++) {
            int iw = ((r - d.pad_w) % p.phases + p.phases) % p.phases;
            const float *from =
                plane + ((int64_t)r * p.rows + ih + d.pad_h) * p.width + (iw + d.pad_w) / p.phases;
            if (assign)
                for (; iw < d.width; iw += p.phases) to[iw] = *from++;
            else
                for (; iw < d.width; iw += p.phases) to[iw] += *from++;
        }
    }
}

/* ---- the loops over output columns: portable ------------------------------ */

/* One output row: out[ow] = scale·Σ_t w[t]·src[offset[t] + ow] + shift. */
static void taps_row(float *restrict out, const float *src, const int32_t *offset, const float *w,
                     int taps, int n, float scale, float shift) {
    for (int ow = 0; ow < n; ow++) out[ow] = 0.0f;
    for (int t = 0; t < taps; t++) {
        const float *from = src + offset[t];
        float wt = w[t];
        for (int ow = 0; ow < n; ow++) out[ow] += wt * from[ow];
    }
    for (int ow = 0; ow < n; ow++) out[ow] = scale * out[ow] + shift;
}

/* Σ dz·src over `rows` rows of n columns (src's rows src_step apart),
 * summed exactly as plane_dot_avx2 does: 4 × 8 lane sums over blocks of 32,
 * then blocks of 8 into the first 8, the rest of a row into the second 8,
 * and the lanes added in sum8's order. */
static float plane_dot(const float *dz, const float *src, int64_t src_step, int rows, int n) {
    float lane[4][8] = {{0}};
    for (int row = 0; row < rows; row++, dz += n, src += src_step) {
        int ow = 0;
        for (; ow + 32 <= n; ow += 32)
            for (int b = 0; b < 4; b++)
                for (int l = 0; l < 8; l++) lane[b][l] += dz[ow + 8 * b + l] * src[ow + 8 * b + l];
        for (; ow + 8 <= n; ow += 8)
            for (int l = 0; l < 8; l++) lane[0][l] += dz[ow + l] * src[ow + l];
        for (int l = 0; ow + l < n; l++) lane[1][l] += dz[ow + l] * src[ow + l];
    }
    float v[8], half[4];
    for (int l = 0; l < 8; l++) v[l] = (lane[0][l] + lane[1][l]) + (lane[2][l] + lane[3][l]);
    for (int l = 0; l < 4; l++) half[l] = v[l] + v[l + 4];
    return (half[0] + half[2]) + (half[1] + half[3]);
}

/* dst[ow] += w·dz[ow] over one row of n columns. */
static void row_axpy(float *restrict dst, const float *restrict dz, float w, int n) {
    for (int ow = 0; ow < n; ow++) dst[ow] += w * dz[ow];
}

/* ---- the same with AVX2 ---------------------------------------------------------
 * Multiplies and adds as separate instructions, in the portable loops'
 * order: both give the same bits (CNNRUN_CPU=generic changes nothing), and
 * on Zen 3 the adds run on their own pipes, so an FMA would gain little. */

#if CR_X86
/* Lanes [0, n) of a vector of 8 (n < 8 in the tails). */
CR_TARGET_AVX2 static inline __m256i first_lanes(int n) {
    static const int32_t lanes[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(lanes + 8 - n));
}

/* a·b + c, rounded twice as the portable loops' c + a·b is. */
CR_TARGET_AVX2 static inline __m256 mul_add(__m256 a, __m256 b, __m256 c) {
    return _mm256_add_ps(c, _mm256_mul_ps(a, b));
}

CR_TARGET_AVX2 static inline float sum8(__m256 v) {
    __m128 half = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    half = _mm_add_ps(half, _mm_movehl_ps(half, half));
    half = _mm_add_ss(half, _mm_movehdup_ps(half));
    return _mm_cvtss_f32(half);
}

/* taps_row: 32 columns at a time in four independent sums (an add's
 * latency is several of its issue slots), then 8, then the masked rest
 * (the plane is wide enough for the whole last block to be read). */
CR_TARGET_AVX2 static void taps_row_avx2(float *out, const float *src, const int32_t *offset,
                                         const float *w, int taps, int n, float scale,
                                         float shift) {
    __m256 vscale = _mm256_set1_ps(scale), vshift = _mm256_set1_ps(shift);
    int ow = 0;
    for (; ow + 32 <= n; ow += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int t = 0; t < taps; t++) {
            const float *from = src + offset[t] + ow;
            __m256 wt = _mm256_broadcast_ss(w + t);
            a0 = _mm256_add_ps(a0, _mm256_mul_ps(wt, _mm256_loadu_ps(from)));
            a1 = _mm256_add_ps(a1, _mm256_mul_ps(wt, _mm256_loadu_ps(from + 8)));
            a2 = _mm256_add_ps(a2, _mm256_mul_ps(wt, _mm256_loadu_ps(from + 16)));
            a3 = _mm256_add_ps(a3, _mm256_mul_ps(wt, _mm256_loadu_ps(from + 24)));
        }
        _mm256_storeu_ps(out + ow, _mm256_add_ps(_mm256_mul_ps(a0, vscale), vshift));
        _mm256_storeu_ps(out + ow + 8, _mm256_add_ps(_mm256_mul_ps(a1, vscale), vshift));
        _mm256_storeu_ps(out + ow + 16, _mm256_add_ps(_mm256_mul_ps(a2, vscale), vshift));
        _mm256_storeu_ps(out + ow + 24, _mm256_add_ps(_mm256_mul_ps(a3, vscale), vshift));
    }
    for (; ow < n; ow += 8) {
        __m256 a = _mm256_setzero_ps();
        for (int t = 0; t < taps; t++)
            a = mul_add(_mm256_broadcast_ss(w + t), _mm256_loadu_ps(src + offset[t] + ow), a);
        a = mul_add(a, vscale, vshift);
        if (ow + 8 <= n)
            _mm256_storeu_ps(out + ow, a);
        else
            _mm256_maskstore_ps(out + ow, first_lanes(n - ow), a);
    }
}

/* plane_dot: dz is masked in the tail, src may be read past the row
 * (inside the plane). */
CR_TARGET_AVX2 static float plane_dot_avx2(const float *dz, const float *src, int64_t src_step,
                                           int rows, int n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int row = 0; row < rows; row++, dz += n, src += src_step) {
        int ow = 0;
        for (; ow + 32 <= n; ow += 32) {
            a0 = mul_add(_mm256_loadu_ps(dz + ow), _mm256_loadu_ps(src + ow), a0);
            a1 = mul_add(_mm256_loadu_ps(dz + ow + 8), _mm256_loadu_ps(src + ow + 8), a1);
            a2 = mul_add(_mm256_loadu_ps(dz + ow + 16), _mm256_loadu_ps(src + ow + 16), a2);
            a3 = mul_add(_mm256_loadu_ps(dz + ow + 24), _mm256_loadu_ps(src + ow + 24), a3);
        }
        for (; ow + 8 <= n; ow += 8)
            a0 = mul_add(_mm256_loadu_ps(dz + ow), _mm256_loadu_ps(src + ow), a0);
        if (ow < n)
            a1 = mul_add(_mm256_maskload_ps(dz + ow, first_lanes(n - ow)),
                         _mm256_loadu_ps(src + ow), a1);
    }
    return sum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
}

/* row_axpy with the tail masked on both sides. */
CR_TARGET_AVX2 static void row_axpy_avx2(float *dst, const float *dz, float w, int n) {
    __m256 wt = _mm256_set1_ps(w);
    int ow = 0;
    for (; ow + 8 <= n; ow += 8)
        _mm256_storeu_ps(dst + ow,
                         mul_add(wt, _mm256_loadu_ps(dz + ow), _mm256_loadu_ps(dst + ow)));
    if (ow < n) {
        __m256i mask = first_lanes(n - ow);
        _mm256_maskstore_ps(
            dst + ow, mask,
            mul_add(wt, _mm256_maskload_ps(dz + ow, mask), _mm256_maskload_ps(dst + ow, mask)));
    }
}
#endif

/* ---- one output plane ------------------------------------------------------- */

/* y = scale·(w ⊛ plane) + shift for one filter. y: [OH, OW] */
static void forward_plane(float *y, const float *plane, const int32_t *offset, const float *w,
                          float scale, float shift, bool avx2, conv_dims d, dw_plane p) {
    for (int oh = 0; oh < d.out_height; oh++) {
        const float *src = plane + (int64_t)oh * d.stride_h * p.width;
        float *out = y + (int64_t)oh * d.out_width;
#if CR_X86
        if (avx2) {
            taps_row_avx2(out, src, offset, w, p.taps, d.out_width, scale, shift);
            continue;
        }
#endif
        (void)avx2;
        taps_row(out, src, offset, w, p.taps, d.out_width, scale, shift);
    }
}

/* dweight[t] += Σ_{oh, ow} dz[oh][ow] · plane at tap t. dz: [OH, OW] */
static void weight_taps(float *dweight, const float *dz, const float *plane, const int32_t *offset,
                        bool avx2, conv_dims d, dw_plane p) {
    int64_t row_step = (int64_t)d.stride_h * p.width;
    for (int t = 0; t < p.taps; t++) {
        const float *src = plane + offset[t];
#if CR_X86
        if (avx2) {
            dweight[t] += plane_dot_avx2(dz, src, row_step, d.out_height, d.out_width);
            continue;
        }
#endif
        dweight[t] += plane_dot(dz, src, row_step, d.out_height, d.out_width);
    }
}

/* dplane at tap t += w[t] · dz, tap by tap (rows of one tap never
 * overlap). dz: [OH, OW] */
static void scatter_taps(float *dplane, const float *dz, const int32_t *offset, const float *w,
                         bool avx2, conv_dims d, dw_plane p) {
    int64_t row_step = (int64_t)d.stride_h * p.width;
    for (int t = 0; t < p.taps; t++)
        for (int oh = 0; oh < d.out_height; oh++) {
            float *dst = dplane + offset[t] + oh * row_step;
            const float *from = dz + (int64_t)oh * d.out_width;
#if CR_X86
            if (avx2) {
                row_axpy_avx2(dst, from, w[t], d.out_width);
                continue;
            }
#endif
            row_axpy(dst, from, w[t], d.out_width);
        }
}

static float plane_sum(const float *dz, int64_t n) {
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < n; i++) sum += dz[i];
    return sum;
}

/* ---- the passes ---------------------------------------------------------------- */

/* A thread's scratch ready for its (image, channel) items: the plane's
 * border zeroed once (channels overwrite only the interior), the offsets. */
static dw_scratch thread_scratch(const cr_step *step, int thread, conv_dims d, dw_plane p) {
    dw_scratch s;
    scratch_layout(d, &s, cr_thread_workspace(step, thread));
    memset(s.plane, 0, (size_t)plane_floats(p) * sizeof(float));
    set_offsets(s.offset, d, p);
    return s;
}

void conv_depthwise_forward(const cr_step *step, conv_dims d, float *y,
                            const conv_epilogue *epilogue) {
    dw_plane p = plane_of(d);
    int per_channel = d.filters / d.channels;
    int64_t spatial = (int64_t)d.out_height * d.out_width, image = (int64_t)d.height * d.width;
    const float *x = step->x[0], *weight = step->param[0];
    float act_param = cr_activation_fused_param(epilogue->activation);
    bool avx2 = cr_cpu_avx2();
#pragma omp parallel num_threads(step->threads)
    {
        int thread = omp_get_thread_num();
        int64_t first, end;
        cr_thread_share((int64_t)d.batch * d.channels, thread, omp_get_num_threads(), &first, &end);
        dw_scratch s = thread_scratch(step, thread, d, p);
        for (int64_t item = first; item < end; item++) { /* item = n·C + c */
            int64_t n = item / d.channels;
            int c = (int)(item % d.channels);
            load_plane(s.plane, x + item * image, d, p);
            for (int f = c * per_channel; f < (c + 1) * per_channel; f++) {
                float *out = y + (n * d.filters + f) * spatial;
                forward_plane(out, s.plane, s.offset, weight + (int64_t)f * p.taps,
                              epilogue_scale(epilogue, f), epilogue_shift(epilogue, f), avx2, d, p);
                cr_activation_forward(out, spatial, epilogue->activation, act_param);
            }
        }
    }
}

/* The gradients one filter's output plane gives: dbias, dweight (the
 * thread's partial sums) and the channel's dplane. */
static void backward_filter(dw_scratch s, const float *dz, const float *w, int f, bool want_dweight,
                            bool want_dbias, bool want_dx, bool avx2, conv_dims d, dw_plane p) {
    if (want_dbias) s.dbias[f] += plane_sum(dz, (int64_t)d.out_height * d.out_width);
    if (want_dweight)
        weight_taps(s.dweight + (int64_t)f * p.taps, dz, s.plane, s.offset, avx2, d, p);
    if (want_dx) scatter_taps(s.dplane, dz, s.offset, w, avx2, d, p);
}

void conv_depthwise_backward(const cr_step *step, conv_dims d, cr_activation activation,
                             const float *at, float *dweight, float *dbias) {
    dw_plane p = plane_of(d);
    int per_channel = d.filters / d.channels;
    int64_t spatial = (int64_t)d.out_height * d.out_width, image = (int64_t)d.height * d.width;
    const float *x = step->x[0], *weight = step->param[0], *dy = step->dy;
    float *dx = step->dx[0];
    float act_param = cr_activation_fused_param(activation);
    bool avx2 = cr_cpu_avx2();
#pragma omp parallel num_threads(step->threads)
    {
        int thread = omp_get_thread_num(), team = omp_get_num_threads();
        int64_t first, end;
        cr_thread_share((int64_t)d.batch * d.channels, thread, omp_get_num_threads(), &first, &end);
        dw_scratch s = thread_scratch(step, thread, d, p);
        if (dweight) memset(s.dweight, 0, (size_t)d.filters * p.taps * sizeof(float));
        if (dbias) memset(s.dbias, 0, (size_t)d.filters * sizeof(float));
        for (int64_t item = first; item < end; item++) { /* item = n·C + c */
            int64_t n = item / d.channels;
            int c = (int)(item % d.channels);
            if (dweight) load_plane(s.plane, x + item * image, d, p);
            if (dx) memset(s.dplane, 0, (size_t)plane_floats(p) * sizeof(float));
            for (int f = c * per_channel; f < (c + 1) * per_channel; f++) {
                int64_t at_plane = (n * d.filters + f) * spatial;
                const float *dz = dy + at_plane;
                if (activation != CR_ACT_NONE) {
                    cr_activation_backward(s.dz, dz, at + at_plane, spatial, activation, act_param);
                    dz = s.dz;
                }
                backward_filter(s, dz, weight + (int64_t)f * p.taps, f, dweight != NULL,
                                dbias != NULL, dx != NULL, avx2, d, p);
            }
            if (dx) store_plane(dx + item * image, s.dplane, step->dx_assign, d, p);
        }
        /* The partial sums, in thread order, by the same team. */
#pragma omp barrier
        dw_scratch first_scratch;
        scratch_layout(d, &first_scratch, cr_thread_workspace(step, 0));
        int64_t stride = step->thread_workspace_stride;
        if (dweight)
            cr_sum_thread_partials_in_team(dweight, first_scratch.dweight,
                                           (int64_t)d.filters * p.taps, team, stride);
        if (dbias)
            cr_sum_thread_partials_in_team(dbias, first_scratch.dbias, d.filters, team, stride);
    }
}
