/* Training curves from metrics.csv: parsing and drawing (see plot.h). */
#include "plot.h"

#include <errno.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "files.h"

#define METRICS_HEADER "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr"
enum { METRICS_FIELDS = 6 };

const unsigned char cr_plot_train_color[3] = {31, 119, 180}, cr_plot_val_color[3] = {255, 127, 14};

void cr_metrics_free(cr_metrics *metrics) {
    free(metrics->epoch);
    free(metrics->train_loss);
    free(metrics->train_accuracy);
    free(metrics->val_loss);
    free(metrics->val_accuracy);
    memset(metrics, 0, sizeof *metrics);
}

static char *read_text(const char *path, cr_error *err) {
    FILE *file = cr_fopen_regular(path, err);
    if (!file) {
        struct stat info;
        if (err && stat(path, &info) != 0 && errno == ENOENT)
            cr_fail_file(err, CR_ERR_IO, path,
                         "cannot open: %s (is this a run folder of cnnrun train?)",
                         strerror(ENOENT));
        return NULL;
    }
    size_t capacity = 4096, used = 0;
    char *text = malloc(capacity);
    while (text) {
        used += fread(text + used, 1, capacity - used - 1, file);
        if (used < capacity - 1) break;
        capacity *= 2;
        char *bigger = realloc(text, capacity);
        if (!bigger) free(text);
        text = bigger;
    }
    fclose(file);
    if (!text) {
        cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory");
        return NULL;
    }
    text[used] = '\0';
    return text;
}

/* One data line into values[METRICS_FIELDS]; 0 when every field is a
 * number, 1 for a bad number, 2 for a line that ends early. */
static int parse_row(char *line, double *values, int *bad_field) {
    char *cursor = line;
    for (int field = 0; field < METRICS_FIELDS; field++) {
        char *end;
        *bad_field = field;
        values[field] = strtod(cursor, &end);
        if (end == cursor) return 1;
        if (field < METRICS_FIELDS - 1 && *end == '\0') {
            *bad_field = field + 1;
            return 2;
        }
        if (field < METRICS_FIELDS - 1 && *end != ',') return 1;
        if (field == METRICS_FIELDS - 1 && *end != '\0') return 1;
        cursor = end + 1;
    }
    return 0;
}

int cr_metrics_read(const char *path, cr_metrics *metrics, cr_error *err) {
    memset(metrics, 0, sizeof *metrics);
    char *text = read_text(path, err);
    if (!text) return 1;
    int capacity = 1;
    for (const char *c = text; *c; c++) capacity += *c == '\n';
    double **columns[5] = {&metrics->epoch, &metrics->train_loss, &metrics->train_accuracy,
                           &metrics->val_loss, &metrics->val_accuracy};
    for (int i = 0; i < 5; i++)
        if (!(*columns[i] = malloc((size_t)capacity * sizeof(double)))) {
            free(text);
            cr_metrics_free(metrics);
            return cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory");
        }
    int status = 0, line_number = 0;
    for (char *line = text, *next; line && !status; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        size_t length = strlen(line);
        if (length && line[length - 1] == '\r') line[--length] = '\0';
        line_number++;
        if (line_number == 1) {
            if (strcmp(line, METRICS_HEADER) != 0)
                status =
                    cr_fail_file(err, CR_ERR_INVALID, path,
                                 "line 1: header is '%.80s', expected '" METRICS_HEADER "'", line);
            continue;
        }
        if (length == 0) continue;
        double values[METRICS_FIELDS];
        int bad_field;
        int problem = parse_row(line, values, &bad_field);
        if (problem) {
            static const char *const names[METRICS_FIELDS] = {
                "epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"};
            status =
                cr_fail_file(err, CR_ERR_INVALID, path, "line %d: %s %s in '%.80s'", line_number,
                             problem == 2 ? "missing" : "bad number for", names[bad_field], line);
            continue;
        }
        /* The horizontal axis: whole epochs from 1, increasing (a NaN or
         * 1e300 would stretch it into a meaningless picture). */
        double previous = metrics->rows ? metrics->epoch[metrics->rows - 1] : 0;
        if (!(values[0] >= 1 && values[0] <= 1e9 && values[0] == floor(values[0]))) {
            status = cr_fail_file(err, CR_ERR_INVALID, path,
                                  "line %d: epoch %g is not a whole number from 1 to 1e9",
                                  line_number, values[0]);
            continue;
        }
        if (values[0] <= previous) {
            status = cr_fail_file(err, CR_ERR_INVALID, path,
                                  "line %d: epoch %g after epoch %g: epochs must increase",
                                  line_number, values[0], previous);
            continue;
        }
        for (int i = 0; i < 5; i++) (*columns[i])[metrics->rows] = values[i];
        metrics->rows++;
    }
    free(text);
    if (!status && line_number == 0)
        status = cr_fail_file(err, CR_ERR_INVALID, path, "empty file, expected a header line");
    if (!status && metrics->rows == 0)
        status = cr_fail_file(err, CR_ERR_INVALID, path, "no epochs yet (only the header)");
    if (status) cr_metrics_free(metrics);
    return status;
}

/* The largest value rounded up to one significant digit; 1 when none is > 0. */
static double nice_ceiling(double largest) {
    if (!(largest > 0) || !isfinite(largest)) return 1.0;
    double step = pow(10.0, floor(log10(largest)));
    return ceil(largest / step - 1e-9) * step;
}

void cr_plot_ranges(const cr_metrics *metrics, double *epoch_low, double *epoch_high,
                    double *loss_high) {
    *epoch_low = metrics->epoch[0];
    *epoch_high = metrics->epoch[metrics->rows - 1];
    if (!(*epoch_high > *epoch_low)) *epoch_high = *epoch_low + 1;
    double largest = 0;
    for (int i = 0; i < metrics->rows; i++) {
        if (isfinite(metrics->train_loss[i]) && metrics->train_loss[i] > largest)
            largest = metrics->train_loss[i];
        if (isfinite(metrics->val_loss[i]) && metrics->val_loss[i] > largest)
            largest = metrics->val_loss[i];
    }
    *loss_high = nice_ceiling(largest);
}

void cr_plot_pixel(int panel, double epoch, double value, double epoch_low, double epoch_high,
                   double high, int *x, int *y) {
    double across = (epoch - epoch_low) / (epoch_high - epoch_low);
    double up = value / high;
    *x =
        panel * CR_PLOT_PANEL_WIDTH + CR_PLOT_LEFT + (int)lround(across * (CR_PLOT_AREA_WIDTH - 1));
    *y = CR_PLOT_TOP + CR_PLOT_AREA_HEIGHT - 1 - (int)lround(up * (CR_PLOT_AREA_HEIGHT - 1));
}

/* A tick label: short and in the font's characters ("0", "0.25", "1.5", "12"). */
static void tick_text(double value, char *text, size_t size) {
    snprintf(text, size, "%.3g", value);
}

static void draw_series(cr_picture *picture, int panel, const cr_metrics *metrics,
                        const double *values, double epoch_low, double epoch_high, double high,
                        const unsigned char *color) {
    int previous_x = 0, previous_y = 0;
    bool have_previous = false;
    for (int i = 0; i < metrics->rows; i++) {
        if (!isfinite(values[i])) {
            have_previous = false;
            continue;
        }
        int x, y;
        cr_plot_pixel(panel, metrics->epoch[i], values[i], epoch_low, epoch_high, high, &x, &y);
        if (have_previous) cr_draw_line(picture, previous_x, previous_y, x, y, color);
        cr_draw_rect(picture, x - 1, y - 1, 3, 3, color); /* the epoch's own point */
        previous_x = x;
        previous_y = y;
        have_previous = true;
    }
}

static void draw_panel(cr_picture *picture, int panel, const char *title, const cr_metrics *metrics,
                       const double *train, const double *val, double epoch_low, double epoch_high,
                       double high) {
    static const unsigned char black[3] = {0, 0, 0}, grid[3] = {225, 225, 225};
    int left = panel * CR_PLOT_PANEL_WIDTH + CR_PLOT_LEFT, top = CR_PLOT_TOP;
    int right = left + CR_PLOT_AREA_WIDTH - 1, bottom = top + CR_PLOT_AREA_HEIGHT - 1;
    char text[32];
    enum { ticks = 4 };
    for (int i = 0; i <= ticks; i++) {
        double value = high * i / ticks;
        int x, y;
        cr_plot_pixel(panel, epoch_low, value, epoch_low, epoch_high, high, &x, &y);
        cr_draw_line(picture, left, y, right, y, grid);
        cr_draw_line(picture, left - 3, y, left - 1, y, black);
        tick_text(value, text, sizeof text);
        cr_draw_text(picture, left - 5 - cr_text_width(text, 1), y - CR_FONT_HEIGHT / 2, text, 1,
                     black);
    }
    /* Epoch ticks: at most 6, on whole epochs. */
    double span = epoch_high - epoch_low;
    double step = span <= 5 ? 1 : ceil(span / 5);
    for (double epoch = epoch_low; epoch <= epoch_high + 1e-9; epoch += step) {
        int x, y;
        cr_plot_pixel(panel, epoch, 0, epoch_low, epoch_high, high, &x, &y);
        cr_draw_line(picture, x, bottom + 1, x, bottom + 3, black);
        tick_text(epoch, text, sizeof text);
        cr_draw_text(picture, x - cr_text_width(text, 1) / 2, bottom + 5, text, 1, black);
    }
    cr_draw_line(picture, left - 1, top, left - 1, bottom + 1, black);
    cr_draw_line(picture, left - 1, bottom + 1, right, bottom + 1, black);
    int title_x = left + (CR_PLOT_AREA_WIDTH - cr_text_width(title, 2)) / 2;
    cr_draw_text(picture, title_x, 2, title, 2, black);
    /* Which colour is which, top right, under the lines. */
    int key_x = right - 36;
    cr_draw_rect(picture, key_x, top + 3, 6, 3, cr_plot_train_color);
    cr_draw_text(picture, key_x + 8, top + 2, "train", 1, cr_plot_train_color);
    cr_draw_rect(picture, key_x, top + 11, 6, 3, cr_plot_val_color);
    cr_draw_text(picture, key_x + 8, top + 10, "val", 1, cr_plot_val_color);
    draw_series(picture, panel, metrics, train, epoch_low, epoch_high, high, cr_plot_train_color);
    draw_series(picture, panel, metrics, val, epoch_low, epoch_high, high, cr_plot_val_color);
}

int cr_plot_metrics(const cr_metrics *metrics, cr_picture *out, cr_error *err) {
    if (cr_picture_create(out, 2 * CR_PLOT_PANEL_WIDTH, CR_PLOT_HEIGHT, 3, 255, err)) return 1;
    double epoch_low, epoch_high, loss_high;
    cr_plot_ranges(metrics, &epoch_low, &epoch_high, &loss_high);
    draw_panel(out, 0, "loss", metrics, metrics->train_loss, metrics->val_loss, epoch_low,
               epoch_high, loss_high);
    draw_panel(out, 1, "accuracy", metrics, metrics->train_accuracy, metrics->val_accuracy,
               epoch_low, epoch_high, 1.0);
    return 0;
}
