/* Seeing what a network does: the magnitude layer (hand values, shape rule),
 * the picture helpers of lib/image_out.c, and the commands apply, filters,
 * features and plot, checked pixel by pixel on images the test makes. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include "check.h"
#include "image_out.h"
#include "net_fixture.h"
#include "plot.h"

#ifndef CNNRUN_BINARY
#define CNNRUN_BINARY "cnnrun"
#endif

/* ---- magnitude layer ------------------------------------------------------- */

/* x: [1, 4, 1, 2] in groups of 2: (3, 4) -> 5, (0, 0) -> 0, (1, 0) -> 1,
 * (-2, 2) -> 2√2; the gradient x/y, and 0 at the all-zero group. */
static void test_magnitude_values(void) {
    fixture f;
    if (!fixture_build(&f, "input: [4, 1, 2]\nlayers:\n  - {type: magnitude, size: 2}\n", 1))
        return;
    const float x[8] = {3, 0, 4, 0, 1, -2, 0, 2};
    memcpy(cr_net_input(f.net), x, sizeof x);
    cr_net_forward(f.net, true);
    const float want_y[4] = {5, 0, 1, 2.8284271f};
    check_floats("magnitude y", cr_net_output(f.net), want_y, 4, 1e-6);
    const float dy[4] = {1, 1, 1, 2};
    memcpy(cr_net_output_grad(f.net), dy, sizeof dy);
    cr_net_backward(f.net);
    const float want_dx[8] = {0.6f, 0, 0.8f, 0, 1, -1.4142136f, 0, 1.4142136f};
    check_floats("magnitude dx", cr_net_input_grad(f.net), want_dx, 8, 1e-6);
    fixture_free(&f);
}

/* size 3 over 3 channels: one output channel, √(1 + 4 + 4) = 3. */
static void test_magnitude_size3(void) {
    fixture f;
    if (!fixture_build(&f, "input: [3, 1, 1]\nlayers:\n  - {type: magnitude, size: 3}\n", 1))
        return;
    const float x[3] = {1, -2, 2};
    memcpy(cr_net_input(f.net), x, sizeof x);
    cr_net_forward(f.net, false);
    CHECK_INT(f.model->layers[0].out.c, 1);
    CHECK_NEAR(cr_net_output(f.net)[0], 3.0, 1e-6);
    fixture_free(&f);
}

static void test_magnitude_errors(void) {
    const char *yaml = "input: [3, 4, 4]\nlayers:\n  - {type: magnitude, size: 2}\n";
    cr_model *model;
    cr_error err;
    CHECK(cr_model_load_text(yaml, strlen(yaml), "bad.yaml", &model, &err) != 0);
    char text[2048];
    cr_error_format(&err, text, sizeof text);
    CHECK_CONTAINS(text, "bad.yaml:3:");
    CHECK_CONTAINS(text, "3 input channels do not split into groups of size 2");
    yaml = "input: [2, 4, 4]\nlayers:\n  - {type: magnitude, size: 0}\n";
    CHECK(cr_model_load_text(yaml, strlen(yaml), "bad.yaml", &model, &err) != 0);
    cr_error_format(&err, text, sizeof text);
    CHECK_CONTAINS(text, "size");
}

/* ---- pictures ---------------------------------------------------------------- */

static const unsigned char ink[3] = {255, 255, 255};

static int pixel(const cr_picture *p, int x, int y) {
    return p->pixels[(size_t)y * p->width + x];
}

/* "10" at scale 1: '1' is .#./##./.#./.#./###, then '0' 4 pixels on. */
static void test_font(void) {
    cr_picture p;
    cr_error err;
    if (cr_picture_create(&p, 8, 5, 1, 0, &err)) return;
    cr_draw_text(&p, 0, 0, "10", 1, ink);
    const char *want[5] = {".#..###.", "##..#.#.", ".#..#.#.", ".#..#.#.", "###.###."};
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 8; x++) CHECK_INT(pixel(&p, x, y), want[y][x] == '#' ? 255 : 0);
    CHECK_INT(cr_text_width("10", 1), 7);
    CHECK_INT(cr_text_width("10", 2), 14);
    cr_picture_free(&p);
}

static void test_map_to_bytes(void) {
    const float map[4] = {-1, 0, 1, 3};
    unsigned char out[4];
    cr_map_to_bytes(map, 4, CR_SCALE_MINMAX, out);
    CHECK_INT(out[0], 0);
    CHECK_INT(out[1], 64); /* 1/4 of 255 = 63.75 */
    CHECK_INT(out[2], 128);
    CHECK_INT(out[3], 255);
    cr_map_to_bytes(map, 4, CR_SCALE_CLIP, out);
    CHECK_INT(out[0], 0);
    CHECK_INT(out[1], 0);
    CHECK_INT(out[2], 255);
    CHECK_INT(out[3], 255);
    const float half = 0.5f, flat[2] = {7, 7};
    cr_map_to_bytes(&half, 1, CR_SCALE_CLIP, out);
    CHECK_INT(out[0], 128);
    cr_map_to_bytes(flat, 2, CR_SCALE_MINMAX, out);
    CHECK_INT(out[0], 0);
}

/* 64 tiles of 4×4: 8×8 grid, each enlarged 8× to 32 px, 1-px separators. */
static void test_grid(void) {
    unsigned char tiles[64 * 16];
    for (int i = 0; i < 64 * 16; i++) tiles[i] = (unsigned char)(i / 16); /* tile i is grey i */
    cr_picture p;
    cr_error err;
    if (cr_grid_create(tiles, 64, 4, 4, 1, 32, &p, &err)) return;
    CHECK_INT(p.width, 8 * 33 + 1);
    CHECK_INT(p.height, 8 * (32 + CR_GRID_LABEL_HEIGHT + 1) + 1);
    int cell_height = 32 + CR_GRID_LABEL_HEIGHT + 1;
    /* tile 9: column 1, row 1; its pixels all 9, the separator left of it 96 */
    int left = 1 + 33, top = 1 + cell_height + CR_GRID_LABEL_HEIGHT;
    CHECK_INT(pixel(&p, left, top), 9);
    CHECK_INT(pixel(&p, left + 31, top + 31), 9);
    CHECK_INT(pixel(&p, left - 1, top), 96);
    /* its label "9" in white on the black strip: the 9's top row is ### */
    CHECK_INT(pixel(&p, left + 1, top - CR_GRID_LABEL_HEIGHT + 1), 255);
    CHECK_INT(pixel(&p, left, top - CR_GRID_LABEL_HEIGHT), 0);
    cr_picture_free(&p);
    /* 3 tiles: 2 columns, 2 rows; the empty cell stays background */
    if (cr_grid_create(tiles, 3, 4, 4, 1, 8, &p, &err)) return;
    CHECK_INT(p.width, 2 * 9 + 1);
    CHECK_INT(p.height, 2 * (8 + CR_GRID_LABEL_HEIGHT + 1) + 1);
    CHECK_INT(pixel(&p, p.width - 2, p.height - 2), 96);
    cr_picture_free(&p);
}

/* ---- cnnrun apply --------------------------------------------------------------- */

static char work_dir[] = "/tmp/cnnrun-viz-XXXXXX";

/* Runs the binary; returns its exit status, with stdout and stderr in out. */
static int run_cnnrun(const char *arguments, char *out, size_t size) {
    char command[4096];
    snprintf(command, sizeof command, "'%s' %s 2>&1", CNNRUN_BINARY, arguments);
    FILE *pipe = popen(command, "r");
    if (!pipe) return -1;
    size_t length = fread(out, 1, size - 1, pipe);
    out[length] = '\0';
    int status = pclose(pipe);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static const char *in_work_dir(const char *name, char *out, size_t size) {
    snprintf(out, size, "%s/%s", work_dir, name);
    return out;
}

/* A 12×8 grey step edge: columns 0-5 black, 6-11 white. With Sobel's zero
 * padding, inside rows 1-6: |h| = 4·255 = 1020 -> 255 at the edge columns 5
 * and 6, 0 at columns 0-4 and 7-10; column 11 borders the (black) padding
 * and is an edge too. */
static void test_apply_step_edge(void) {
    enum { width = 12, height = 8 };
    unsigned char step[width * height];
    for (int i = 0; i < width * height; i++) step[i] = i % width < 6 ? 0 : 255;
    char image[512], edges[512], arguments[2048], out[8192];
    CHECK(stbi_write_png(in_work_dir("step.png", image, sizeof image), width, height, 1, step,
                         width) != 0);
    in_work_dir("edges.png", edges, sizeof edges);
    snprintf(arguments, sizeof arguments, "apply %s/models/sobel.yaml %s -o %s --scale clip",
             CNNRUN_SOURCE_DIR, image, edges);
    CHECK_INT(run_cnnrun(arguments, out, sizeof out), 0);
    int w, h, n;
    unsigned char *picture = stbi_load(edges, &w, &h, &n, 0);
    CHECK(picture != NULL);
    if (!picture) return;
    CHECK_INT(w, width); /* fully convolutional: the image's own size */
    CHECK_INT(h, height);
    CHECK_INT(n, 1);
    for (int y = 1; y < height - 1; y++)
        for (int x = 0; x < width; x++)
            CHECK_INT(picture[y * width + x], x == 5 || x == 6 || x == 11 ? 255 : 0);
    stbi_image_free(picture);

    /* The two gradient channels as a grid: 2 tiles side by side, each 12×8
     * enlarged 3× (to at least 32 px); channel 0 (h) is the edge. */
    snprintf(arguments, sizeof arguments,
             "apply %s/models/sobel.yaml %s -o %s --layer gradient --scale clip", CNNRUN_SOURCE_DIR,
             image, edges);
    CHECK_INT(run_cnnrun(arguments, out, sizeof out), 0);
    picture = stbi_load(edges, &w, &h, &n, 0);
    CHECK(picture != NULL);
    if (!picture) return;
    CHECK_INT(w, 2 * (3 * width + 1) + 1);
    CHECK_INT(h, 3 * height + CR_GRID_LABEL_HEIGHT + 2);
    int top = 1 + CR_GRID_LABEL_HEIGHT;
    CHECK_INT(picture[(top + 3 * 3) * w + 1 + 3 * 5], 255); /* tile 0, (5, 3) */
    CHECK_INT(picture[(top + 3 * 3) * w + 1 + 3 * 2], 0);   /* tile 0, (2, 3) */
    stbi_image_free(picture);
}

/* Sobel magnitude against a direct computation on the bytes, within 1 grey
 * level, on a grey image with noise and a ramp. */
static void test_apply_matches_reference(void) {
    enum { width = 20, height = 15 };
    unsigned char grey[width * height];
    uint64_t state = 5;
    for (int i = 0; i < width * height; i++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        grey[i] = (unsigned char)((state >> 33) % 64 + (i % width) * 4);
    }
    char image[512], edges[512], arguments[2048], out[8192];
    CHECK(stbi_write_png(in_work_dir("noise.png", image, sizeof image), width, height, 1, grey,
                         width) != 0);
    in_work_dir("noise-edges.png", edges, sizeof edges);
    snprintf(arguments, sizeof arguments, "apply %s/models/sobel.yaml %s -o %s --scale clip",
             CNNRUN_SOURCE_DIR, image, edges);
    CHECK_INT(run_cnnrun(arguments, out, sizeof out), 0);
    int w, h, n;
    unsigned char *picture = stbi_load(edges, &w, &h, &n, 1);
    CHECK(picture != NULL);
    if (!picture) return;
    static const int kh[3][3] = {{-1, 0, 1}, {-2, 0, 2}, {-1, 0, 1}};
    int worst = 0;
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            double gh = 0, gv = 0;
            for (int i = -1; i <= 1; i++)
                for (int j = -1; j <= 1; j++) {
                    int yy = y + i, xx = x + j;
                    double p =
                        yy < 0 || xx < 0 || yy >= height || xx >= width ? 0 : grey[yy * width + xx];
                    gh += kh[i + 1][j + 1] * p;
                    gv += kh[j + 1][i + 1] * p; /* the transposed kernel */
                }
            double want = sqrt(gh * gh + gv * gv);
            if (want > 255) want = 255;
            int difference = abs((int)lround(want) - picture[y * width + x]);
            if (difference > worst) worst = difference;
        }
    CHECK(worst <= 1);
    stbi_image_free(picture);
}

static void test_apply_errors(void) {
    char image[512], edges[512], arguments[2048], out[8192];
    in_work_dir("step.png", image, sizeof image);
    in_work_dir("error.png", edges, sizeof edges);
    snprintf(arguments, sizeof arguments, "apply %s/models/sobel.yaml %s/missing.png -o %s",
             CNNRUN_SOURCE_DIR, work_dir, edges);
    CHECK_INT(run_cnnrun(arguments, out, sizeof out), 2); /* an unreadable file */
    CHECK_CONTAINS(out, "missing.png: cannot open: No such file or directory");
    snprintf(arguments, sizeof arguments, "apply %s/models/sobel.yaml %s -o %s --layer edgse",
             CNNRUN_SOURCE_DIR, image, edges);
    CHECK_INT(run_cnnrun(arguments, out, sizeof out), 1);
    CHECK_CONTAINS(out, "no layer 'edgse'; did you mean 'edges'?");
    snprintf(arguments, sizeof arguments, "apply %s/models/lenet5.yaml %s -o %s --layer f5",
             CNNRUN_SOURCE_DIR, image, edges);
    CHECK_INT(run_cnnrun(arguments, out, sizeof out), 1);
    CHECK_CONTAINS(out, "dense output 120×1×1 has no spatial extent");
    CHECK(access(edges, F_OK) != 0);
    snprintf(arguments, sizeof arguments, "apply %s/models/sobel.yaml %s -o %s --scale log",
             CNNRUN_SOURCE_DIR, image, edges);
    CHECK_INT(run_cnnrun(arguments, out, sizeof out), 2);
    CHECK_CONTAINS(out, "--scale must be minmax or clip");
}

/* ---- plot ------------------------------------------------------------------ */

static void write_text_file(const char *path, const char *text) {
    FILE *file = fopen(path, "w");
    CHECK(file != NULL);
    if (!file) return;
    fputs(text, file);
    fclose(file);
}

static int count_color(const unsigned char *pixels, int n, const unsigned char *color) {
    int count = 0;
    for (int i = 0; i < n; i++) count += memcmp(pixels + 3 * i, color, 3) == 0;
    return count;
}

/* Writes metrics.csv with `csv` into a new run folder `name`, runs `cnnrun
 * plot` on it and loads the PNG (NULL when any of it failed); csv_path gets
 * the file's path. */
static unsigned char *plot_run(const char *name, const char *csv, char *csv_path, size_t size,
                               int *w, int *h) {
    char run[512], curves[600], arguments[2048], out[8192];
    in_work_dir(name, run, sizeof run);
    CHECK(mkdir(run, 0777) == 0);
    snprintf(csv_path, size, "%s/metrics.csv", run);
    write_text_file(csv_path, csv);
    snprintf(curves, sizeof curves, "%s.png", run);
    snprintf(arguments, sizeof arguments, "plot %s -o %s", run, curves);
    CHECK_INT(run_cnnrun(arguments, out, sizeof out), 0);
    int n;
    unsigned char *picture = stbi_load(curves, w, h, &n, 3);
    CHECK(picture != NULL);
    return picture;
}

/* Five epochs; the loss panel's range is 0..2 (largest loss 2.0), epochs
 * 1..5 across the 276-pixel area. Train loss 0.5 at epoch 3:
 * x = 32 + round(0.5·275) = 170, y = 16 + 179 - round(0.25·179) = 150.
 * Validation accuracy 0.7 at epoch 5 (panel 1):
 * x = 320 + 32 + 275 = 627, y = 195 - round(0.7·179) = 70. */
static void test_plot_curves(void) {
    char csv[600];
    int w, h;
    unsigned char *picture = plot_run("run",
                                      "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr\n"
                                      "1,2.0,0.2,1.8,0.3,0.1\n"
                                      "2,1.0,0.5,1.2,0.45,0.1\n"
                                      "3,0.5,0.7,0.9,0.6,0.1\n"
                                      "4,0.4,0.8,0.8,0.65,0.01\n"
                                      "5,0.3,0.9,0.7,0.7,0.01\n",
                                      csv, sizeof csv, &w, &h);
    if (!picture) return;
    CHECK_INT(w, 640);
    CHECK_INT(h, 220);
    CHECK(count_color(picture, w * h, cr_plot_train_color) > 200);
    CHECK(count_color(picture, w * h, cr_plot_val_color) > 200);
    CHECK(memcmp(picture + 3 * (150 * w + 170), cr_plot_train_color, 3) == 0);
    CHECK(memcmp(picture + 3 * (70 * w + 627), cr_plot_val_color, 3) == 0);
    /* The mapping the library exposes agrees with the hand numbers. */
    int x, y;
    cr_plot_pixel(0, 3, 0.5, 1, 5, 2, &x, &y);
    CHECK_INT(x, 170);
    CHECK_INT(y, 150);
    stbi_image_free(picture);

    cr_metrics metrics;
    cr_error err;
    CHECK_INT(cr_metrics_read(csv, &metrics, &err), 0);
    CHECK_INT(metrics.rows, 5);
    double low, high, loss_high;
    cr_plot_ranges(&metrics, &low, &high, &loss_high);
    CHECK_NEAR(loss_high, 2.0, 1e-12);
    CHECK_NEAR(metrics.val_accuracy[4], 0.7, 1e-12);
    cr_metrics_free(&metrics);
}

/* mse (no accuracy): the second panel shows the root mean squared error,
 * 0..2 for losses up to 4: train rmse 0.5 at epoch 3 at (320 + 170,
 * 195 - round(0.25·179) = 150), validation rmse 0.7 at epoch 5 at
 * (627, 195 - round(0.35·179) = 132). */
static void test_plot_regression(void) {
    char csv[600];
    int w, h;
    unsigned char *picture = plot_run("regression",
                                      "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr\n"
                                      "1,4.0,nan,3.24,nan,0.1\n"
                                      "2,1.0,nan,1.44,nan,0.1\n"
                                      "3,0.25,nan,0.81,nan,0.1\n"
                                      "4,0.16,nan,0.64,nan,0.01\n"
                                      "5,0.09,nan,0.49,nan,0.01\n",
                                      csv, sizeof csv, &w, &h);
    cr_metrics metrics;
    cr_error err;
    CHECK_INT(cr_metrics_read(csv, &metrics, &err), 0);
    CHECK(cr_metrics_regression(&metrics));
    double low, high, loss_high;
    cr_plot_ranges(&metrics, &low, &high, &loss_high);
    CHECK_NEAR(cr_plot_rmse_high(loss_high), 2.0, 1e-12);
    cr_metrics_free(&metrics);
    if (!picture) return;
    CHECK(memcmp(picture + 3 * (150 * w + 490), cr_plot_train_color, 3) == 0);
    CHECK(memcmp(picture + 3 * (132 * w + 627), cr_plot_val_color, 3) == 0);
    stbi_image_free(picture);
}

static void test_plot_errors(void) {
    char run[512], csv[600], curves[512], arguments[2048], out[8192];
    in_work_dir("badrun", run, sizeof run);
    CHECK(mkdir(run, 0777) == 0);
    in_work_dir("bad-curves.png", curves, sizeof curves);
    snprintf(arguments, sizeof arguments, "plot %s -o %s", run, curves);
    CHECK_INT(run_cnnrun(arguments, out, sizeof out), 2); /* no metrics.csv yet */
    CHECK_CONTAINS(out, "metrics.csv");
    snprintf(csv, sizeof csv, "%s/metrics.csv", run);
    write_text_file(csv, "epoch,loss\n1,2\n");
    CHECK_INT(run_cnnrun(arguments, out, sizeof out), 1);
    CHECK_CONTAINS(out, "line 1: header is 'epoch,loss'");
    write_text_file(csv, "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr\n"
                         "1,2.0,0.2,1.8,0.3,0.1\n"
                         "2,x,0.5,1.2,0.45,0.1\n");
    CHECK_INT(run_cnnrun(arguments, out, sizeof out), 1);
    CHECK_CONTAINS(out, "line 3: bad number for train_loss");
    write_text_file(csv, "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr\n"
                         "1,2.0,0.2,1.8\n");
    CHECK_INT(run_cnnrun(arguments, out, sizeof out), 1);
    CHECK_CONTAINS(out, "line 2: missing val_accuracy");
    write_text_file(csv, "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr\n");
    CHECK_INT(run_cnnrun(arguments, out, sizeof out), 1);
    CHECK_CONTAINS(out, "no epochs yet");
    CHECK(access(curves, F_OK) != 0);
}

/* ---- filters --------------------------------------------------------------- */

/* Sobel's two 3×3 kernels, each enlarged 8× (to 24 px) in 2 columns:
 * cells 24 wide and 7 + 24 high with 1-pixel separators. Kernel 0's +2 is
 * at (row 1, column 2) and its -2 at (1, 0); kernel 1's at (2, 1) and
 * (0, 1). A tile is min-max scaled, so +2 -> 255, -2 -> 0, 0 -> 128. */
static void test_filters_sobel(void) {
    char picture_path[512], arguments[2048], out[8192];
    in_work_dir("filters.png", picture_path, sizeof picture_path);
    snprintf(arguments, sizeof arguments, "filters %s/models/sobel.yaml --layer gradient -o %s",
             CNNRUN_SOURCE_DIR, picture_path);
    CHECK_INT(run_cnnrun(arguments, out, sizeof out), 0);
    int w, h, n;
    unsigned char *picture = stbi_load(picture_path, &w, &h, &n, 0);
    CHECK(picture != NULL);
    if (!picture) return;
    CHECK_INT(w, 2 * 25 + 1);
    CHECK_INT(h, 7 + 24 + 2);
    CHECK_INT(n, 1);
    int top = 1 + CR_GRID_LABEL_HEIGHT, left0 = 1, left1 = 1 + 25;
#define TILE_PIXEL(left, row, column) picture[(top + 8 * (row) + 4) * w + (left) + 8 * (column) + 4]
    CHECK_INT(TILE_PIXEL(left0, 1, 2), 255);
    CHECK_INT(TILE_PIXEL(left0, 1, 0), 0);
    CHECK_INT(TILE_PIXEL(left0, 0, 1), 128);
    CHECK_INT(TILE_PIXEL(left1, 2, 1), 255);
    CHECK_INT(TILE_PIXEL(left1, 0, 1), 0);
    CHECK_INT(TILE_PIXEL(left1, 1, 1), 128);
#undef TILE_PIXEL
    stbi_image_free(picture);
}

/* Three input channels: one RGB tile per filter, the three planes scaled
 * together; two filters of 1×1 kernels. */
static void test_kernel_tiles_rgb(void) {
    const float weight[6] = {-1, 0, 1, 2, 2, 0}; /* [2, 3, 1, 1] */
    unsigned char tiles[6];
    int channels = 0;
    cr_error err;
    CHECK_INT(cr_kernel_tiles(weight, 2, 3, 1, 1, 0, tiles, &channels, &err), 0);
    CHECK_INT(channels, 3);
    const unsigned char want[6] = {0, 128, 255, 255, 255, 0};
    for (int i = 0; i < 6; i++) CHECK_INT(tiles[i], want[i]);
    CHECK(cr_kernel_tiles(weight, 3, 2, 1, 1, 2, tiles, &channels, &err) != 0);
    CHECK_CONTAINS(err.message, "input channel 2 out of range");
}

static void test_filters_errors(void) {
    char picture_path[512], arguments[2048], out[8192];
    in_work_dir("filters-error.png", picture_path, sizeof picture_path);
    snprintf(arguments, sizeof arguments, "filters %s/models/sobel.yaml --layer gradeint -o %s",
             CNNRUN_SOURCE_DIR, picture_path);
    CHECK_INT(run_cnnrun(arguments, out, sizeof out), 1);
    CHECK_CONTAINS(out, "no layer 'gradeint'; did you mean 'gradient'?");
    snprintf(arguments, sizeof arguments, "filters %s/models/sobel.yaml --layer edges -o %s",
             CNNRUN_SOURCE_DIR, picture_path);
    CHECK_INT(run_cnnrun(arguments, out, sizeof out), 1);
    CHECK_CONTAINS(out, "a magnitude layer has no kernels to draw; pick a conv layer");
    snprintf(arguments, sizeof arguments, "filters %s/models/sobel.yaml -o %s", CNNRUN_SOURCE_DIR,
             picture_path);
    CHECK_INT(run_cnnrun(arguments, out, sizeof out), 2);
    CHECK_CONTAINS(out, "missing --layer NAME");
    CHECK(access(picture_path, F_OK) != 0);
}

/* ---- features -------------------------------------------------------------- */

/* Same pixels in two PNG files (1 when equal). */
static int same_picture(const char *path_a, const char *path_b) {
    int wa, ha, na, wb, hb, nb;
    unsigned char *a = stbi_load(path_a, &wa, &ha, &na, 0);
    unsigned char *b = stbi_load(path_b, &wb, &hb, &nb, 0);
    int same =
        a && b && wa == wb && ha == hb && na == nb && memcmp(a, b, (size_t)wa * ha * na) == 0;
    stbi_image_free(a);
    stbi_image_free(b);
    return same;
}

/* On the step image of test_apply_step_edge: DIR/edges.png and
 * DIR/gradient.png are apply's pictures of those layers, pixel for pixel. */
static void test_features_match_apply(void) {
    char image[512], dir[512], arguments[2048], out[8192];
    char feature[700], applied[512];
    in_work_dir("step.png", image, sizeof image);
    in_work_dir("features", dir, sizeof dir);
    snprintf(arguments, sizeof arguments,
             "features %s/models/sobel.yaml %s --layers edges,gradient -o %s", CNNRUN_SOURCE_DIR,
             image, dir);
    CHECK_INT(run_cnnrun(arguments, out, sizeof out), 0);
    const char *names[2] = {"edges", "gradient"};
    for (int i = 0; i < 2; i++) {
        snprintf(feature, sizeof feature, "%s/%s.png", dir, names[i]);
        CHECK(access(feature, F_OK) == 0);
        in_work_dir("applied.png", applied, sizeof applied);
        snprintf(arguments, sizeof arguments, "apply %s/models/sobel.yaml %s -o %s --layer %s",
                 CNNRUN_SOURCE_DIR, image, applied, names[i]);
        CHECK_INT(run_cnnrun(arguments, out, sizeof out), 0);
        CHECK(same_picture(feature, applied));
    }
    /* Not the same picture as the other layer's: the comparison can fail. */
    snprintf(feature, sizeof feature, "%s/edges.png", dir);
    CHECK(!same_picture(feature, applied));

    in_work_dir("features-bad", dir, sizeof dir);
    snprintf(arguments, sizeof arguments,
             "features %s/models/sobel.yaml %s --layers gradient,edgse -o %s", CNNRUN_SOURCE_DIR,
             image, dir);
    CHECK_INT(run_cnnrun(arguments, out, sizeof out), 1);
    CHECK_CONTAINS(out, "no layer 'edgse'; did you mean 'edges'?");
    CHECK(access(dir, F_OK) != 0); /* names are checked before anything is written */
    snprintf(arguments, sizeof arguments, "features %s/models/lenet5.yaml %s --layers c1,f5 -o %s",
             CNNRUN_SOURCE_DIR, image, dir);
    CHECK_INT(run_cnnrun(arguments, out, sizeof out), 1);
    CHECK_CONTAINS(out, "dense output 120×1×1 has no spatial extent");
    CHECK(access(dir, F_OK) != 0);
}

int main(void) {
    test_magnitude_values();
    test_magnitude_size3();
    test_magnitude_errors();
    test_font();
    test_map_to_bytes();
    test_grid();
    CHECK(mkdtemp(work_dir) != NULL);
    test_apply_step_edge();
    test_apply_matches_reference();
    test_apply_errors();
    test_plot_curves();
    test_plot_regression();
    test_plot_errors();
    test_kernel_tiles_rgb();
    test_filters_sobel();
    test_filters_errors();
    test_features_match_apply();
    return check_report();
}
