/* Training curves: metrics.csv (as `cnnrun train` writes it) read into
 * columns and drawn as two panels, loss and accuracy, with the training and
 * validation series as lines in two colours.
 *
 * The layout is fixed and public so a test can find a data point's pixel:
 * panel p (0 loss, 1 accuracy) spans x in [p·CR_PLOT_PANEL_WIDTH,
 * (p+1)·CR_PLOT_PANEL_WIDTH); its plot area starts CR_PLOT_LEFT pixels in
 * and CR_PLOT_TOP down and is CR_PLOT_AREA_WIDTH × CR_PLOT_AREA_HEIGHT.
 * cr_plot_pixel maps a value to that area. */
#ifndef CNNRUN_PLOT_H
#define CNNRUN_PLOT_H

#include <stdbool.h>

#include "error.h"
#include "image_out.h"

typedef struct cr_metrics {
    int rows;
    /* each [rows] */
    double *epoch, *train_loss, *train_accuracy, *val_loss, *val_accuracy;
} cr_metrics;

/* Errors: unreadable file (CR_ERR_IO), a header other than
 * "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr", a bad
 * number or a missing field at line N, or no rows (CR_ERR_INVALID). */
int cr_metrics_read(const char *path, cr_metrics *metrics, cr_error *err);
void cr_metrics_free(cr_metrics *metrics);

#define CR_PLOT_PANEL_WIDTH 320
#define CR_PLOT_HEIGHT      220
#define CR_PLOT_LEFT        32
#define CR_PLOT_TOP         16
#define CR_PLOT_AREA_WIDTH  276
#define CR_PLOT_AREA_HEIGHT 180

/* Train line colour, validation line colour (RGB). */
extern const unsigned char cr_plot_train_color[3], cr_plot_val_color[3];

/* The vertical range of each panel: loss 0 .. the largest loss rounded up
 * to one significant digit (2.3 -> 3, 0.43 -> 0.5); accuracy 0 .. 1. The
 * horizontal range is the first .. last epoch (one epoch: epoch .. epoch+1). */
void cr_plot_ranges(const cr_metrics *metrics, double *epoch_low, double *epoch_high,
                    double *loss_high);

/* Whether the run is a regression (mse): no accuracy in any row. Its second
 * panel then shows the root mean squared error, 0 .. cr_plot_rmse_high. */
bool cr_metrics_regression(const cr_metrics *metrics);
double cr_plot_rmse_high(double loss_high);

/* The pixel of (epoch, value) in panel `panel` whose vertical range is
 * 0 .. high: x from the area's left column to its right one, y from the
 * bottom row (0) to the top row (high), rounded to the nearest pixel. */
void cr_plot_pixel(int panel, double epoch, double value, double epoch_low, double epoch_high,
                   double high, int *x, int *y);

/* A 2·CR_PLOT_PANEL_WIDTH × CR_PLOT_HEIGHT RGB picture on white, drawn by
 * cairo: anti-aliased lines, DejaVu Sans text, axis titles, epoch ticks. */
int cr_plot_metrics(const cr_metrics *metrics, cr_picture *out, cr_error *err);

/* The same curves written to `path`: PNG or SVG by its extension, `scale`
 * times the size (2 for high-density screens and print; 0.5 to 8). */
int cr_plot_write(const cr_metrics *metrics, const char *path, double scale, cr_error *err);

#endif
