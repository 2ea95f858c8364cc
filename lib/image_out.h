/* Pictures for people: feature maps and kernels as labelled grids, plain
 * lines and a tiny 3×5 pixel font, written as PNG (stb_image_write).
 *
 * A cr_picture is 8-bit, row-major, 1 (grey) or 3 (RGB) interleaved
 * channels. Drawing clips to the picture, so callers need not. */
#ifndef CNNRUN_IMAGE_OUT_H
#define CNNRUN_IMAGE_OUT_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

typedef struct cr_picture {
    int width, height, channels;
    unsigned char *pixels; /* [height, width, channels] */
} cr_picture;

/* A picture filled with `fill` in every channel. */
int cr_picture_create(cr_picture *picture, int width, int height, int channels, unsigned char fill,
                      cr_error *err);
void cr_picture_free(cr_picture *picture);
int cr_picture_write_png(const cr_picture *picture, const char *path, cr_error *err);

/* Whether `path` ends in "." and `extension` ("png", "svg"), in any case:
 * the pictures' format follows the name the user gives. */
bool cr_path_has_extension(const char *path, const char *extension);

/* color has `channels` bytes (a grey picture uses color[0]). */
void cr_draw_pixel(cr_picture *picture, int x, int y, const unsigned char *color);
void cr_draw_rect(cr_picture *picture, int x, int y, int width, int height,
                  const unsigned char *color);

/* The font: 3×5 pixels per character, advancing 4·scale pixels; digits,
 * '.', '-', and the lower-case letters "acehilnoprstuvy" (enough for axis
 * and panel labels). Other characters are blank. (x, y) is the top left. */
#define CR_FONT_WIDTH   3
#define CR_FONT_HEIGHT  5
#define CR_FONT_ADVANCE 4
void cr_draw_text(cr_picture *picture, int x, int y, const char *text, int scale,
                  const unsigned char *color);
int cr_text_width(const char *text, int scale);

/* How float maps become bytes. */
typedef enum cr_scale {
    CR_SCALE_MINMAX = 0, /* each map's own min -> 0 and max -> 255 (a constant map -> 0) */
    CR_SCALE_CLIP,       /* value·255 clipped to 0..255: 1.0 is white, as an input pixel */
} cr_scale;
/* out[i] for map[0..n), rounded to the nearest grey level. */
void cr_map_to_bytes(const float *map, int64_t n, cr_scale scale, unsigned char *out);

/* A grid of `count` tiles, each [tile_height, tile_width, channels] bytes,
 * tiles[i] at tiles + i·tile_height·tile_width·channels. Tiles are
 * enlarged by nearest neighbour so the longer side is at least min_size
 * pixels, laid out in ⌈√count⌉ columns (64 tiles: 8×8) with 1-pixel
 * separators, each under a strip with its index in the font. */
#define CR_GRID_LABEL_HEIGHT (CR_FONT_HEIGHT + 2)
int cr_grid_create(const unsigned char *tiles, int count, int tile_height, int tile_width,
                   int channels, int min_size, cr_picture *out, cr_error *err);

/* Conv kernels, weight [filters, in_channels, kernel_height, kernel_width],
 * as tiles for cr_grid_create: with 3 input channels one RGB tile per
 * filter (input channel c -> colour c, the three scaled together so their
 * balance shows), else one grey tile per filter of input channel
 * `channel`. Each tile is min-max scaled on its own: its most negative
 * weight is black, its most positive white. *channels is set to 3 or 1;
 * tiles holds filters·kernel_height·kernel_width·(*channels) bytes. */
int cr_kernel_tiles(const float *weight, int filters, int in_channels, int kernel_height,
                    int kernel_width, int channel, unsigned char *tiles, int *channels,
                    cr_error *err);

#endif
