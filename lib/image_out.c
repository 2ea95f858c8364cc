/* Pictures: grids, lines, a tiny font, PNG output. See image_out.h. */
#include "image_out.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <stb/stb_image_write.h>

bool cr_path_has_extension(const char *path, const char *extension) {
    size_t n = strlen(path), m = strlen(extension);
    return n > m && path[n - m - 1] == '.' && strcasecmp(path + n - m, extension) == 0;
}

int cr_picture_create(cr_picture *picture, int width, int height, int channels, unsigned char fill,
                      cr_error *err) {
    *picture = (cr_picture){0};
    if (width < 1 || height < 1 || (channels != 1 && channels != 3) ||
        (int64_t)width * height > 100000000)
        return cr_fail(err, CR_ERR_INVALID, (cr_mark){0}, NULL,
                       "cannot make a %d×%d picture with %d channels", width, height, channels);
    size_t size = (size_t)width * height * channels;
    picture->pixels = malloc(size);
    if (!picture->pixels)
        return cr_fail(err, CR_ERR_RUNTIME, (cr_mark){0}, NULL, "out of memory for a %d×%d picture",
                       width, height);
    memset(picture->pixels, fill, size);
    picture->width = width;
    picture->height = height;
    picture->channels = channels;
    return 0;
}

void cr_picture_free(cr_picture *picture) {
    free(picture->pixels);
    *picture = (cr_picture){0};
}

int cr_picture_write_png(const cr_picture *picture, const char *path, cr_error *err) {
    if (!stbi_write_png(path, picture->width, picture->height, picture->channels, picture->pixels,
                        picture->width * picture->channels))
        return cr_fail_file(err, CR_ERR_IO, path, "cannot write the PNG file");
    return 0;
}

void cr_draw_pixel(cr_picture *picture, int x, int y, const unsigned char *color) {
    if (x < 0 || y < 0 || x >= picture->width || y >= picture->height) return;
    unsigned char *p = picture->pixels + ((size_t)y * picture->width + x) * picture->channels;
    memcpy(p, color, (size_t)picture->channels);
}

void cr_draw_rect(cr_picture *picture, int x, int y, int width, int height,
                  const unsigned char *color) {
    for (int row = y; row < y + height; row++)
        for (int column = x; column < x + width; column++)
            cr_draw_pixel(picture, column, row, color);
}

/* Rows top to bottom, '#' = ink. */
typedef struct glyph {
    char character;
    const char *rows[CR_FONT_HEIGHT];
} glyph;

static const glyph font[] = {
    {'0', {"###", "#.#", "#.#", "#.#", "###"}}, {'1', {".#.", "##.", ".#.", ".#.", "###"}},
    {'2', {"###", "..#", "###", "#..", "###"}}, {'3', {"###", "..#", "###", "..#", "###"}},
    {'4', {"#.#", "#.#", "###", "..#", "..#"}}, {'5', {"###", "#..", "###", "..#", "###"}},
    {'6', {"###", "#..", "###", "#.#", "###"}}, {'7', {"###", "..#", "..#", "..#", "..#"}},
    {'8', {"###", "#.#", "###", "#.#", "###"}}, {'9', {"###", "#.#", "###", "..#", "###"}},
    {'.', {"...", "...", "...", "...", ".#."}}, {'-', {"...", "...", "###", "...", "..."}},
    {'a', {"...", "###", ".##", "#.#", "###"}}, {'c', {"...", "###", "#..", "#..", "###"}},
    {'e', {"###", "#.#", "###", "#..", "###"}}, {'h', {"#..", "#..", "###", "#.#", "#.#"}},
    {'i', {".#.", "...", ".#.", ".#.", ".#."}}, {'l', {"##.", ".#.", ".#.", ".#.", "###"}},
    {'n', {"...", "##.", "#.#", "#.#", "#.#"}}, {'o', {"...", "###", "#.#", "#.#", "###"}},
    {'p', {"###", "#.#", "###", "#..", "#.."}}, {'r', {"...", "###", "#..", "#..", "#.."}},
    {'s', {".##", "#..", ".#.", "..#", "##."}}, {'t', {".#.", "###", ".#.", ".#.", ".##"}},
    {'u', {"...", "#.#", "#.#", "#.#", "###"}}, {'v', {"...", "#.#", "#.#", "#.#", ".#."}},
    {'y', {"#.#", "#.#", "###", "..#", "###"}},
};

void cr_draw_text(cr_picture *picture, int x, int y, const char *text, int scale,
                  const unsigned char *color) {
    for (; *text; text++, x += CR_FONT_ADVANCE * scale) {
        const glyph *g = NULL;
        for (size_t i = 0; i < sizeof font / sizeof font[0]; i++)
            if (font[i].character == *text) g = &font[i];
        if (!g) continue;
        for (int row = 0; row < CR_FONT_HEIGHT; row++)
            for (int column = 0; column < CR_FONT_WIDTH; column++)
                if (g->rows[row][column] == '#')
                    cr_draw_rect(picture, x + column * scale, y + row * scale, scale, scale, color);
    }
}

int cr_text_width(const char *text, int scale) {
    int n = (int)strlen(text);
    return n ? (n * CR_FONT_ADVANCE - 1) * scale : 0;
}

void cr_map_to_bytes(const float *map, int64_t n, cr_scale scale, unsigned char *out) {
    float low = 0.0f, high = 1.0f;
    if (scale == CR_SCALE_MINMAX && n > 0) {
        low = high = map[0];
        for (int64_t i = 1; i < n; i++) {
            if (map[i] < low) low = map[i];
            if (map[i] > high) high = map[i];
        }
    }
    float range = high - low;
    for (int64_t i = 0; i < n; i++) {
        float value = range > 0.0f ? (map[i] - low) / range * 255.0f : 0.0f;
        if (!(value > 0.0f)) value = 0.0f; /* also NaN */
        if (value > 255.0f) value = 255.0f;
        out[i] = (unsigned char)lrintf(value);
    }
}

int cr_grid_create(const unsigned char *tiles, int count, int tile_height, int tile_width,
                   int channels, int min_size, cr_picture *out, cr_error *err) {
    int longer = tile_height > tile_width ? tile_height : tile_width;
    int zoom = longer >= min_size ? 1 : (min_size + longer - 1) / longer;
    int columns = (int)ceil(sqrt((double)count));
    int rows = (count + columns - 1) / columns;
    int cell_width = tile_width * zoom, cell_height = CR_GRID_LABEL_HEIGHT + tile_height * zoom;
    if (cr_picture_create(out, columns * (cell_width + 1) + 1, rows * (cell_height + 1) + 1,
                          channels, 96, err))
        return 1;
    static const unsigned char black[3] = {0, 0, 0}, white[3] = {255, 255, 255};
    size_t tile_size = (size_t)tile_height * tile_width * channels;
    for (int i = 0; i < count; i++) {
        int left = 1 + (i % columns) * (cell_width + 1),
            top = 1 + (i / columns) * (cell_height + 1);
        char label[16];
        snprintf(label, sizeof label, "%d", i);
        cr_draw_rect(out, left, top, cell_width, CR_GRID_LABEL_HEIGHT, black);
        cr_draw_text(out, left + 1, top + 1, label, 1, white);
        const unsigned char *tile = tiles + i * tile_size;
        for (int y = 0; y < tile_height * zoom; y++)
            for (int x = 0; x < tile_width * zoom; x++)
                cr_draw_pixel(out, left + x, top + CR_GRID_LABEL_HEIGHT + y,
                              tile + ((size_t)(y / zoom) * tile_width + x / zoom) * channels);
    }
    return 0;
}

int cr_kernel_tiles(const float *weight, int filters, int in_channels, int kernel_height,
                    int kernel_width, int channel, unsigned char *tiles, int *channels,
                    cr_error *err) {
    int64_t plane = (int64_t)kernel_height * kernel_width;
    if (in_channels != 3) {
        if (channel < 0 || channel >= in_channels)
            return cr_fail(err, CR_ERR_USAGE, (cr_mark){0}, NULL,
                           "input channel %d out of range: the kernels have %d (0..%d)", channel,
                           in_channels, in_channels - 1);
        *channels = 1;
        for (int f = 0; f < filters; f++)
            cr_map_to_bytes(weight + (f * in_channels + channel) * plane, plane, CR_SCALE_MINMAX,
                            tiles + f * plane);
        return 0;
    }
    *channels = 3;
    unsigned char *planar = malloc((size_t)(3 * plane));
    if (!planar) return cr_fail(err, CR_ERR_RUNTIME, (cr_mark){0}, NULL, "out of memory");
    for (int f = 0; f < filters; f++) {
        cr_map_to_bytes(weight + f * 3 * plane, 3 * plane, CR_SCALE_MINMAX, planar);
        for (int64_t i = 0; i < plane; i++)
            for (int c = 0; c < 3; c++) tiles[(f * plane + i) * 3 + c] = planar[c * plane + i];
    }
    free(planar);
    return 0;
}
