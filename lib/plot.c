/* Training curves from metrics.csv: parsing and drawing (see plot.h). */
#include "plot.h"

#include <cairo-svg.h>
#include <cairo.h>
#include <errno.h>

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "files.h"

#include "atomic_file.h"

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

double cr_plot_rmse_high(double loss_high) {
    return nice_ceiling(sqrt(loss_high));
}

void cr_plot_pixel(int panel, double epoch, double value, double epoch_low, double epoch_high,
                   double high, int *x, int *y) {
    double across = (epoch - epoch_low) / (epoch_high - epoch_low);
    double up = value / high;
    *x =
        panel * CR_PLOT_PANEL_WIDTH + CR_PLOT_LEFT + (int)lround(across * (CR_PLOT_AREA_WIDTH - 1));
    *y = CR_PLOT_TOP + CR_PLOT_AREA_HEIGHT - 1 - (int)lround(up * (CR_PLOT_AREA_HEIGHT - 1));
}

/* ---- drawing (cairo) --------------------------------------------------------------- */

/* Sizes in the picture's units (pixels at scale 1). */
#define FONT       "DejaVu Sans"
#define TICK_FONT  9.0
#define TITLE_FONT 11.0
#define AXIS_FONT  9.5
#define LINE_WIDTH 1.8
#define MARKER     2.6
#define PI         3.14159265358979323846

static void set_color(cairo_t *cr, const unsigned char *rgb) {
    cairo_set_source_rgb(cr, rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0);
}

/* Text placed by an anchor: (ax, ay) = (0, 0) puts its top left at (x, y),
 * (0.5, 0.5) its centre, (1, 0.5) its right middle. */
static void text_at(cairo_t *cr, const char *text, double x, double y, double ax, double ay,
                    double size, bool bold) {
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
    cairo_text_extents_t extents;
    cairo_text_extents(cr, text, &extents);
    cairo_font_extents_t font;
    cairo_font_extents(cr, &font);
    double height = font.ascent + font.descent;
    cairo_move_to(cr, x - ax * extents.x_advance, y - ay * height + font.ascent);
    cairo_show_text(cr, text);
}

/* The centre of the pixel cr_plot_pixel names. */
static void point_of(int panel, double epoch, double value, double epoch_low, double epoch_high,
                     double high, double *x, double *y) {
    int px, py;
    cr_plot_pixel(panel, epoch, value, epoch_low, epoch_high, high, &px, &py);
    *x = px + 0.5;
    *y = py + 0.5;
}

/* A tick label: short ("0", "0.25", "1.5", "12"). */
static void tick_text(double value, char *text, size_t size) {
    snprintf(text, size, "%.3g", value);
}

/* A panel's two series; square_root: draw √value (rmse from mse's loss). */
typedef struct panel_series {
    const double *train, *val;
    bool square_root;
} panel_series;

static double shown(const double *values, int i, bool square_root) {
    return square_root ? sqrt(values[i]) : values[i];
}

static void draw_series(cairo_t *cr, int panel, const cr_metrics *metrics, const double *values,
                        bool square_root, double epoch_low, double epoch_high, double high,
                        const unsigned char *color) {
    set_color(cr, color);
    cairo_set_line_width(cr, LINE_WIDTH);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    bool drawing = false;
    for (int i = 0; i < metrics->rows; i++) {
        if (!isfinite(shown(values, i, square_root))) { /* a gap, not a line through garbage */
            drawing = false;
            continue;
        }
        double x, y;
        point_of(panel, metrics->epoch[i], shown(values, i, square_root), epoch_low, epoch_high,
                 high, &x, &y);
        if (drawing)
            cairo_line_to(cr, x, y);
        else
            cairo_move_to(cr, x, y);
        drawing = true;
    }
    cairo_stroke(cr);
    for (int i = 0; i < metrics->rows; i++) { /* each epoch's own point */
        if (!isfinite(shown(values, i, square_root))) continue;
        double x, y;
        point_of(panel, metrics->epoch[i], shown(values, i, square_root), epoch_low, epoch_high,
                 high, &x, &y);
        cairo_arc(cr, x, y, MARKER, 0, 2 * PI);
        cairo_fill(cr);
    }
}

static void draw_axes(cairo_t *cr, int panel, const char *axis_title, double epoch_low,
                      double epoch_high, double high) {
    static const unsigned char ink[3] = {40, 40, 40}, grid[3] = {226, 226, 226};
    double left = panel * CR_PLOT_PANEL_WIDTH + CR_PLOT_LEFT, top = CR_PLOT_TOP;
    double right = left + CR_PLOT_AREA_WIDTH, bottom = top + CR_PLOT_AREA_HEIGHT;
    char text[32];
    enum { ticks = 4 };
    cairo_set_line_width(cr, 1.0);
    for (int i = 0; i <= ticks; i++) { /* value grid and labels */
        double x, y, value = high * i / ticks;
        point_of(panel, epoch_low, value, epoch_low, epoch_high, high, &x, &y);
        set_color(cr, grid);
        cairo_move_to(cr, left, y);
        cairo_line_to(cr, right, y);
        cairo_stroke(cr);
        set_color(cr, ink);
        tick_text(value, text, sizeof text);
        text_at(cr, text, left - 4, y, 1, 0.5, TICK_FONT, false);
    }
    /* Epoch ticks: at most 6, on whole epochs. */
    double span = epoch_high - epoch_low, step = span <= 5 ? 1 : ceil(span / 5);
    set_color(cr, ink);
    for (double epoch = epoch_low; epoch <= epoch_high + 1e-9; epoch += step) {
        double x, y;
        point_of(panel, epoch, 0, epoch_low, epoch_high, high, &x, &y);
        cairo_move_to(cr, x, bottom);
        cairo_line_to(cr, x, bottom + 3);
        cairo_stroke(cr);
        tick_text(epoch, text, sizeof text);
        text_at(cr, text, x, bottom + 3, 0.5, 0, TICK_FONT, false);
    }
    cairo_move_to(cr, left - 0.5, top);
    cairo_line_to(cr, left - 0.5, bottom + 0.5);
    cairo_line_to(cr, right, bottom + 0.5);
    cairo_stroke(cr);
    text_at(cr, "epoch", (left + right) / 2, CR_PLOT_HEIGHT, 0.5, 1, AXIS_FONT, false);
    /* The value axis's title, written upwards along it. */
    cairo_save(cr);
    cairo_translate(cr, panel * CR_PLOT_PANEL_WIDTH + 1, top + CR_PLOT_AREA_HEIGHT / 2.0);
    cairo_rotate(cr, -PI / 2);
    text_at(cr, axis_title, 0, 0, 0.5, 0, AXIS_FONT, false);
    cairo_restore(cr);
}

/* Which colour is which, at the right of the area: at the top when the
 * curves end low (loss), at the bottom when they end high (accuracy). */
static void draw_key(cairo_t *cr, int panel, bool at_bottom) {
    double right = panel * CR_PLOT_PANEL_WIDTH + CR_PLOT_LEFT + CR_PLOT_AREA_WIDTH;
    double first = at_bottom ? CR_PLOT_TOP + CR_PLOT_AREA_HEIGHT - 22 : CR_PLOT_TOP + 8;
    const char *const names[2] = {"training", "validation"};
    const unsigned char *const colors[2] = {cr_plot_train_color, cr_plot_val_color};
    for (int i = 0; i < 2; i++) {
        double y = first + 12 * i;
        set_color(cr, colors[i]);
        cairo_set_line_width(cr, LINE_WIDTH);
        cairo_move_to(cr, right - 76, y);
        cairo_line_to(cr, right - 62, y);
        cairo_stroke(cr);
        text_at(cr, names[i], right - 58, y, 0, 0.5, TICK_FONT, false);
    }
}

static void draw_panel(cairo_t *cr, int panel, const char *title, const char *axis_title,
                       const cr_metrics *metrics, panel_series series, double epoch_low,
                       double epoch_high, double high) {
    static const unsigned char ink[3] = {20, 20, 20};
    draw_axes(cr, panel, axis_title, epoch_low, epoch_high, high);
    int last = metrics->rows - 1;
    double train_end = shown(series.train, last, series.square_root),
           val_end = shown(series.val, last, series.square_root);
    draw_key(cr, panel, (train_end + val_end) / 2 > high / 2);
    set_color(cr, ink);
    text_at(cr, title, panel * CR_PLOT_PANEL_WIDTH + CR_PLOT_LEFT + CR_PLOT_AREA_WIDTH / 2.0, 1,
            0.5, 0, TITLE_FONT, true);
    draw_series(cr, panel, metrics, series.train, series.square_root, epoch_low, epoch_high, high,
                cr_plot_train_color);
    draw_series(cr, panel, metrics, series.val, series.square_root, epoch_low, epoch_high, high,
                cr_plot_val_color);
}

bool cr_metrics_regression(const cr_metrics *metrics) {
    for (int i = 0; i < metrics->rows; i++)
        if (!isnan(metrics->train_accuracy[i]) || !isnan(metrics->val_accuracy[i])) return false;
    return true;
}

/* Both panels on white, in picture units (scale the context first). A
 * regression (mse: no accuracy) shows its root mean squared error in the
 * second panel, in the targets' own units. */
static void draw_curves(cairo_t *cr, const cr_metrics *metrics) {
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    double epoch_low, epoch_high, loss_high;
    cr_plot_ranges(metrics, &epoch_low, &epoch_high, &loss_high);
    bool regression = cr_metrics_regression(metrics);
    panel_series loss = {metrics->train_loss, metrics->val_loss, false};
    draw_panel(cr, 0, "loss", regression ? "mean squared error" : "cross-entropy", metrics, loss,
               epoch_low, epoch_high, loss_high);
    if (regression) {
        loss.square_root = true;
        draw_panel(cr, 1, "rmse", "root mean squared error", metrics, loss, epoch_low, epoch_high,
                   cr_plot_rmse_high(loss_high));
    } else {
        panel_series accuracy = {metrics->train_accuracy, metrics->val_accuracy, false};
        draw_panel(cr, 1, "accuracy", "fraction correct", metrics, accuracy, epoch_low, epoch_high,
                   1.0);
    }
}

/* ---- output --------------------------------------------------------------------------- */

static int cairo_failed(cairo_status_t status, const char *what, cr_error *err) {
    return cr_fail(err, CR_ERR_RUNTIME, (cr_mark){0}, NULL, "cairo could not %s: %s", what,
                   cairo_status_to_string(status));
}

/* An image surface at `scale` with the curves drawn on it. */
static cairo_surface_t *render_image(const cr_metrics *metrics, double scale, cr_error *err) {
    int width = (int)lround(2 * CR_PLOT_PANEL_WIDTH * scale);
    int height = (int)lround(CR_PLOT_HEIGHT * scale);
    cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
    cairo_t *cr = cairo_create(surface);
    cairo_scale(cr, scale, scale);
    draw_curves(cr, metrics);
    cairo_status_t status = cairo_status(cr);
    cairo_destroy(cr);
    if (status == CAIRO_STATUS_SUCCESS) status = cairo_surface_status(surface);
    if (status != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(surface);
        cairo_failed(status, "draw the curves", err);
        return NULL;
    }
    cairo_surface_flush(surface);
    return surface;
}

int cr_plot_metrics(const cr_metrics *metrics, cr_picture *out, cr_error *err) {
    cairo_surface_t *surface = render_image(metrics, 1.0, err);
    if (!surface) return 1;
    int width = cairo_image_surface_get_width(surface);
    int height = cairo_image_surface_get_height(surface);
    if (cr_picture_create(out, width, height, 3, 255, err)) {
        cairo_surface_destroy(surface);
        return 1;
    }
    const unsigned char *data = cairo_image_surface_get_data(surface);
    int stride = cairo_image_surface_get_stride(surface);
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            /* RGB24: one native-endian 32-bit word per pixel, 0x00RRGGBB */
            uint32_t word;
            memcpy(&word, data + (size_t)y * stride + 4 * (size_t)x, 4);
            unsigned char *pixel = out->pixels + 3 * ((size_t)y * width + x);
            pixel[0] = (unsigned char)(word >> 16);
            pixel[1] = (unsigned char)(word >> 8);
            pixel[2] = (unsigned char)word;
        }
    cairo_surface_destroy(surface);
    return 0;
}

/* cairo's writers deliver the file in pieces: gather them, then write the
 * whole atomically. */
typedef struct byte_buffer {
    unsigned char *data;
    size_t length, capacity;
    bool failed;
} byte_buffer;

static cairo_status_t gather(void *closure, const unsigned char *data, unsigned int length) {
    byte_buffer *buffer = closure;
    if (buffer->length + length > buffer->capacity) {
        size_t capacity = (buffer->length + length) * 2;
        unsigned char *grown = realloc(buffer->data, capacity);
        if (!grown) {
            buffer->failed = true;
            return CAIRO_STATUS_NO_MEMORY;
        }
        buffer->data = grown;
        buffer->capacity = capacity;
    }
    memcpy(buffer->data + buffer->length, data, length);
    buffer->length += length;
    return CAIRO_STATUS_SUCCESS;
}

static int render_png(const cr_metrics *metrics, double scale, byte_buffer *buffer, cr_error *err) {
    cairo_surface_t *surface = render_image(metrics, scale, err);
    if (!surface) return 1;
    cairo_status_t status = cairo_surface_write_to_png_stream(surface, gather, buffer);
    cairo_surface_destroy(surface);
    return status == CAIRO_STATUS_SUCCESS ? 0 : cairo_failed(status, "encode the PNG", err);
}

static int render_svg(const cr_metrics *metrics, double scale, byte_buffer *buffer, cr_error *err) {
    cairo_surface_t *surface = cairo_svg_surface_create_for_stream(
        gather, buffer, 2 * CR_PLOT_PANEL_WIDTH * scale, CR_PLOT_HEIGHT * scale);
    cairo_t *cr = cairo_create(surface);
    cairo_scale(cr, scale, scale);
    draw_curves(cr, metrics);
    cairo_status_t status = cairo_status(cr);
    cairo_destroy(cr);
    cairo_surface_finish(surface);
    if (status == CAIRO_STATUS_SUCCESS) status = cairo_surface_status(surface);
    cairo_surface_destroy(surface);
    return status == CAIRO_STATUS_SUCCESS ? 0 : cairo_failed(status, "write the SVG", err);
}

int cr_plot_write(const cr_metrics *metrics, const char *path, double scale, cr_error *err) {
    bool svg = cr_path_has_extension(path, "svg");
    if (!svg && !cr_path_has_extension(path, "png"))
        return cr_fail_file(err, CR_ERR_USAGE, path, "write curves as .png or .svg");
    if (!(scale >= 0.5 && scale <= 8))
        return cr_fail_file(err, CR_ERR_USAGE, path, "scale must be between 0.5 and 8, got %g",
                            scale);
    byte_buffer buffer = {0};
    int status =
        svg ? render_svg(metrics, scale, &buffer, err) : render_png(metrics, scale, &buffer, err);
    if (!status && buffer.failed) status = cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory");
    if (!status) status = cr_write_file_atomic(path, buffer.data, buffer.length, err);
    free(buffer.data);
    return status;
}
