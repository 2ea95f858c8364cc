/* Printing helpers shared by the commands (print.h). */
#include "print.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"

int report(const cr_error *err) {
    char text[2048];
    cr_error_format(err, text, sizeof text);
    fprintf(stderr, "%s\n", text);
    return cr_error_exit_code(err);
}

void print_warnings(const cr_warnings *warnings) {
    char text[1024];
    for (int i = 0; i < warnings->count; i++) {
        cr_warning_format(&warnings->items[i], text, sizeof text);
        fprintf(stderr, "%s\n", text);
    }
}

void print_warning_summary(const char *path, const cr_warnings *warnings) {
    if (warnings->count == 0) return;
    const cr_warning *first = &warnings->items[0];
    fprintf(stderr, "cnnrun: %s has %d warning%s (%s%s%s%.100s%s); `cnnrun check %s` shows %s\n",
            path, warnings->count, warnings->count == 1 ? "" : "s",
            first->layer[0] ? "layer '" : "", first->layer, first->layer[0] ? "': " : "",
            first->message, strlen(first->message) > 100 ? "…" : "", path,
            warnings->count == 1 ? "it" : "them all");
}

int print_json(cJSON *document) {
    char *text = document ? cJSON_Print(document) : NULL;
    cJSON_Delete(document);
    if (!text) {
        fprintf(stderr, "error: out of memory while printing the JSON document\n");
        return 1;
    }
    printf("%s\n", text);
    free(text);
    return 0;
}

const char *grouped(int64_t value, char *out, size_t size) {
    char digits[32];
    snprintf(digits, sizeof digits, "%lld", (long long)(value < 0 ? -value : value));
    size_t n = strlen(digits), o = 0;
    if (value < 0 && o < size - 1) out[o++] = '-';
    for (size_t i = 0; i < n && o < size - 1; i++) {
        out[o++] = digits[i];
        if ((n - i - 1) % 3 == 0 && i + 1 < n && o < size - 1) out[o++] = ',';
    }
    out[o] = '\0';
    return out;
}

const char *human_bytes(int64_t bytes, char *out, size_t size) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = (double)bytes;
    int unit = 0;
    while (value >= 1024.0 && unit < 4) {
        value /= 1024.0;
        unit++;
    }
    snprintf(out, size, unit ? "%.1f %s" : "%.0f %s", value, units[unit]);
    return out;
}

const char *human_count(int64_t value, char *out, size_t size) {
    double v = (double)value;
    if (v >= 1e9)
        snprintf(out, size, "%.2f G", v / 1e9);
    else if (v >= 1e4)
        snprintf(out, size, "%.2f M", v / 1e6);
    else
        snprintf(out, size, "%.2f K", v / 1e3);
    return out;
}

void shape_text(cr_shape s, char *out, size_t size) {
    snprintf(out, size, "%d×%d×%d", s.c, s.h, s.w);
}

cJSON *shape_json(cr_shape s) {
    cJSON *array = cJSON_CreateArray();
    cJSON_AddItemToArray(array, cJSON_CreateNumber(s.c));
    cJSON_AddItemToArray(array, cJSON_CreateNumber(s.h));
    cJSON_AddItemToArray(array, cJSON_CreateNumber(s.w));
    return array;
}

/* printf's widths count bytes, and "×" is two of them. */
int display_width(const char *text) {
    int width = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if ((*p & 0xC0) != 0x80) width++;
    return width;
}

void print_cell(const char *text, int width, int gap) {
    int pad = (width < 0 ? -width : width) - display_width(text);
    if (width < 0)
        for (int i = 0; i < pad; i++) putchar(' ');
    fputs(text, stdout);
    if (width > 0)
        for (int i = 0; i < pad; i++) putchar(' ');
    for (int i = 0; i < gap; i++) putchar(' ');
}

int kind_name_width(void) {
    int width = 4; /* the heading, "type" or "kind" */
    for (int i = 0; i < cr_layer_kind_count; i++)
        if (display_width(cr_layer_kinds[i]->name) > width)
            width = display_width(cr_layer_kinds[i]->name);
    return width;
}
