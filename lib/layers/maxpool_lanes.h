/* maxpool's general window, LANE_COUNT neighbouring windows of a row in one
 * vector. Included by maxpool.c only, once per vector width, with
 *   LANE_COUNT       floats in a vector (4: SSE2, 8: AVX2),
 *   LANE_NAME(name)  the name with the width's suffix,
 *   LANE_TARGET      the functions' target attribute (empty or CR_TARGET_AVX2).
 * One vector type per width because GCC splits a comparison of vectors
 * wider than the target's into scalars: eight-float vectors would make the
 * plain x86-64 build slower than the loops they replace.
 * (No include guard: included once per width.) */

typedef float LANE_NAME(lane_floats) __attribute__((vector_size(LANE_COUNT * sizeof(float))));
typedef int32_t LANE_NAME(lane_ints) __attribute__((vector_size(LANE_COUNT * sizeof(int32_t))));

/* *lanes = p[0], p[stride], .., p[(LANE_COUNT − 1)·stride]; reads up to
 * p[2·LANE_COUNT − 1] when stride is 2. (Vectors go through pointers:
 * passed by value, their ABI would depend on the target.) */
LANE_TARGET static inline __attribute__((always_inline)) void
LANE_NAME(load_lanes)(LANE_NAME(lane_floats) * lanes, const float *p, int stride) {
    LANE_NAME(lane_floats) low, high;
    memcpy(&low, p, sizeof low);
    if (stride == 1) {
        *lanes = low;
    } else if (stride == 2) {
        memcpy(&high, p + LANE_COUNT, sizeof high);
#if LANE_COUNT == 8
        *lanes = __builtin_shufflevector(low, high, 0, 2, 4, 6, 8, 10, 12, 14);
#else
        *lanes = __builtin_shufflevector(low, high, 0, 2, 4, 6);
#endif
    } else {
        for (int k = 0; k < LANE_COUNT; k++) (*lanes)[k] = p[k * stride];
    }
}

/* PyTorch's rule for one more value of a window: `value > best ||
 * isnan(value)` replaces the best so far and its index (the first maximum
 * wins ties, the last NaN wins; -inf padding never wins). */
LANE_TARGET static inline __attribute__((always_inline)) void
LANE_NAME(take_if_larger)(LANE_NAME(lane_floats) * best, LANE_NAME(lane_ints) * winner,
                          const LANE_NAME(lane_floats) * value, int index) {
    LANE_NAME(lane_ints) wins = (*value > *best) | (*value != *value); /* -1 or 0 per lane */
    LANE_NAME(lane_ints) here = {0};
    here += index;
    *best = (LANE_NAME(lane_floats))(((LANE_NAME(lane_ints)) * value & wins) |
                                     ((LANE_NAME(lane_ints)) * best & ~wins));
    *winner = (here & wins) | (*winner & ~wins);
}

/* A group of neighbouring windows in each of two output rows. */
typedef struct LANE_NAME(window_pair) {
    const float *window[2]; /* in the copy, each row's lane 0 window's top-left */
    int top[2];             /* image row of each window's first row (< 0 in the padding) */
    /* Winner if all values are -inf (PyTorch's choice): each lane's first
     * value in the image. first, at: indices in the image plane less the
     * lane's window's first column. */
    int32_t first[2][LANE_COUNT];
    float best[2][LANE_COUNT];
    int32_t at[2][LANE_COUNT];
} LANE_NAME(window_pair);

/* Lane k's window starts k·stride columns after lane 0's; the windows are
 * rows × width values of the copy (pitch floats a row). Each window sees its
 * values in PyTorch's order, its rows and then its columns, but a row's
 * windows go side by side in vector lanes and two rows' chains of
 * dependent selects interleave. */
LANE_TARGET static inline __attribute__((always_inline)) void
LANE_NAME(max_pair)(LANE_NAME(window_pair) * pair, int pitch, int rows, int width, int stride,
                    int in_w) {
    LANE_NAME(lane_floats) best[2];
    LANE_NAME(lane_ints) winner[2];
    for (int i = 0; i < 2; i++) {
        best[i] = (LANE_NAME(lane_floats)){0} - INFINITY;
        memcpy(&winner[i], pair->first[i], sizeof winner[i]);
    }
    for (int row = 0; row < rows; row++)
        for (int col = 0; col < width; col++)
            for (int i = 0; i < 2; i++) {
                LANE_NAME(lane_floats) value;
                LANE_NAME(load_lanes)(&value, pair->window[i] + (int64_t)row * pitch + col, stride);
                LANE_NAME(take_if_larger)
                (&best[i], &winner[i], &value, (pair->top[i] + row) * in_w + col);
            }
    memcpy(pair->best, best, sizeof best);
    memcpy(pair->at, winner, sizeof winner);
}

/* max_pair with the common strides as constants: plain or even/odd vector
 * loads instead of one load per lane. */
LANE_TARGET static inline __attribute__((always_inline)) void
LANE_NAME(max_pair_strided)(LANE_NAME(window_pair) * pair, int pitch, int rows, int width,
                            int stride, int in_w) {
    if (stride == 1)
        LANE_NAME(max_pair)(pair, pitch, rows, width, 1, in_w);
    else if (stride == 2)
        LANE_NAME(max_pair)(pair, pitch, rows, width, 2, in_w);
    else
        LANE_NAME(max_pair)(pair, pitch, rows, width, stride, in_w);
}

/* Output rows out_row[0] and out_row[1] (may be the same) from the copy:
 * y, winner (NULL: not kept) are the plane's outputs. */
LANE_TARGET static inline __attribute__((always_inline)) void
LANE_NAME(max_rows)(const float *copy, int pitch, cr_shape in, cr_shape out, const pool_config *cfg,
                    const int out_row[2], float *y, int32_t *winner) {
    int stride = cfg->stride[1], padding = cfg->padding[1];
    for (int out_col = 0; out_col < out.w; out_col += LANE_COUNT) {
        LANE_NAME(window_pair) pair;
        for (int i = 0; i < 2; i++) {
            int top = out_row[i] * cfg->stride[0] - cfg->padding[0];
            pair.window[i] =
                copy + (int64_t)(top + cfg->padding[0]) * pitch + (int64_t)out_col * stride;
            pair.top[i] = top;
            int first_row = top < 0 ? 0 : top;
            for (int k = 0; k < LANE_COUNT; k++) {
                int start = (out_col + k) * stride - padding; /* in the image */
                pair.first[i][k] = first_row * in.w + (start < 0 ? -start : 0);
            }
        }
        LANE_NAME(max_pair_strided)(&pair, pitch, cfg->size[0], cfg->size[1], stride, in.w);
        int count = out.w - out_col < LANE_COUNT ? out.w - out_col : LANE_COUNT;
        for (int i = 0; i < 2; i++) {
            int64_t at = (int64_t)out_row[i] * out.w + out_col;
            for (int k = 0; k < count; k++) y[at + k] = pair.best[i][k];
            if (winner)
                for (int k = 0; k < count; k++)
                    winner[at + k] = pair.at[i][k] + (out_col + k) * stride - padding;
        }
    }
}

/* x: [H, W] -> y: [OH, OW], winner (NULL: not kept), through the copy
 * (copy_floats floats). */
LANE_TARGET static void LANE_NAME(max_plane)(float *copy, const float *x, cr_shape in, cr_shape out,
                                             const pool_config *cfg, float *y, int32_t *winner) {
    int pitch = copy_pitch(in, out, cfg);
    copy_padded(copy, pitch, x, in, cfg);
    for (int out_row = 0; out_row < out.h; out_row += 2) {
        /* An odd last row is computed twice, identically. */
        int rows[2] = {out_row, out_row + 1 < out.h ? out_row + 1 : out_row};
        LANE_NAME(max_rows)(copy, pitch, in, out, cfg, rows, y, winner);
    }
}
