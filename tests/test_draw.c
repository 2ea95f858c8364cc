/* `cnnrun draw` (lib/draw.h): every model in models/ rendered by Graphviz to
 * SVG, which must hold every layer's name, one edge per input of every
 * layer (plus the output's) and each edge's shape; repeats as labelled
 * clusters; PNG rendering gives a PNG. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "draw.h"

#ifndef CNNRUN_SOURCE_DIR
#define CNNRUN_SOURCE_DIR "."
#endif

static char *read_text(const char *path, size_t *length) {
    FILE *file = fopen(path, "rb");
    if (!file) return NULL;
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fseek(file, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    if (text && fread(text, 1, (size_t)size, file) != (size_t)size) size = 0;
    if (text) text[size] = '\0';
    fclose(file);
    if (length) *length = (size_t)size;
    return text;
}

static int count_of(const char *text, const char *needle) {
    int count = 0;
    for (const char *at = strstr(text, needle); at; at = strstr(at + 1, needle)) count++;
    return count;
}

/* The shape as Graphviz writes it into SVG text (× is written as is). */
static void shape_text(cr_shape s, char *out, size_t size) {
    snprintf(out, size, ">%d×%d×%d<", s.c, s.h, s.w);
}

static void check_svg(const cr_model *model, const char *svg, const char *file) {
    int edges = 1;
    for (int i = 0; i < model->n_layers; i++) {
        const cr_layer *layer = &model->layers[i];
        char name[300];
        snprintf(name, sizeof name, ">%s<", layer->name);
        if (!strstr(svg, name)) fprintf(stderr, "%s: layer %s missing\n", file, layer->name);
        CHECK(strstr(svg, name) != NULL);
        edges += layer->n_inputs;
        for (int k = 0; k < layer->n_inputs; k++) {
            int from = layer->inputs[k];
            char shape[64], title[96];
            shape_text(from < 0 ? model->input : model->layers[from].out, shape, sizeof shape);
            /* the edge's group: its title names both ends, its text the shape */
            if (from < 0)
                snprintf(title, sizeof title, "<title>input&#45;&gt;layer%d</title>", i);
            else
                snprintf(title, sizeof title, "<title>layer%d&#45;&gt;layer%d</title>", from, i);
            const char *edge = strstr(svg, title);
            const char *end = edge ? strstr(edge, "</g>") : NULL;
            const char *label = edge ? strstr(edge, shape) : NULL;
            if (!label || label > end)
                fprintf(stderr, "%s: no edge %s labelled %s\n", file, title, shape);
            CHECK(label && label < end);
        }
    }
    CHECK_INT(count_of(svg, "class=\"edge\""), edges);
}

static void test_every_model(const char *dir) {
    DIR *models = opendir(CNNRUN_SOURCE_DIR "/models");
    CHECK(models != NULL);
    if (!models) return;
    int drawn = 0;
    for (struct dirent *entry; (entry = readdir(models));) {
        size_t n = strlen(entry->d_name);
        if (n < 5 || strcmp(entry->d_name + n - 5, ".yaml") != 0) continue;
        char path[1024], out[1024];
        snprintf(path, sizeof path, CNNRUN_SOURCE_DIR "/models/%s", entry->d_name);
        snprintf(out, sizeof out, "%s/%s.svg", dir, entry->d_name);
        cr_model *model = NULL;
        cr_error err = {0};
        CHECK(cr_model_load(path, &model, &err) == 0);
        if (!model) continue;
        cr_draw_options options = {.format = "svg"};
        int status = cr_model_draw(model, &options, out, &err);
        if (status) {
            char text[2048];
            cr_error_format(&err, text, sizeof text);
            fprintf(stderr, "%s\n", text);
        }
        CHECK(status == 0);
        char *svg = read_text(out, NULL);
        CHECK(svg != NULL);
        if (svg) {
            CHECK(strstr(svg, "<svg") != NULL);
            check_svg(model, svg, entry->d_name);
            drawn++;
        }
        free(svg);
        unlink(out);
        cr_model_free(model);
    }
    closedir(models);
    CHECK(drawn >= 8);
}

static void test_repeat_clusters_and_merges(const char *dir) {
    cr_model *model = NULL;
    cr_error err = {0};
    CHECK(cr_model_load(CNNRUN_SOURCE_DIR "/models/vgg16.yaml", &model, &err) == 0);
    if (!model) return;
    char *dot = cr_model_dot(model, NULL);
    CHECK(dot != NULL);
    /* two repeats named block: 2 iterations, then 3 continuing at block3 */
    CHECK_CONTAINS(dot, "cluster_block1");
    CHECK_CONTAINS(dot, "block1 (repeat 1 of 2)");
    CHECK_CONTAINS(dot, "block3 (repeat 1 of 3)");
    CHECK_CONTAINS(dot, "block5 (repeat 3 of 3)");
    free(dot);
    /* a PNG is a PNG */
    char out[1024];
    snprintf(out, sizeof out, "%s/vgg16.png", dir);
    cr_draw_options options = {.format = "png"};
    CHECK(cr_model_draw(model, &options, out, &err) == 0);
    size_t length = 0;
    char *png = read_text(out, &length);
    CHECK(png && length > 1000 && memcmp(png, "\x89PNG", 4) == 0);
    free(png);
    unlink(out);
    cr_model_free(model);

    CHECK(cr_model_load(CNNRUN_SOURCE_DIR "/models/residual.yaml", &model, &err) == 0);
    if (!model) return;
    dot = cr_model_dot(model, NULL);
    CHECK(dot != NULL);
    /* merges are ellipses, the others rounded boxes */
    CHECK(dot && strstr(dot, "shape=ellipse") != NULL);
    free(dot);
    cr_model_free(model);
}

int main(void) {
    char dir[] = "/tmp/cnnrun-draw-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    test_every_model(dir);
    test_repeat_clusters_and_merges(dir);
    rmdir(dir);
    return check_report();
}
