/* Helpers for layer tests that go through the runtime: build a network from
 * YAML text, reach its parameters by name, compare whole arrays. Include
 * after check.h. */
#ifndef CNNRUN_TESTS_NET_FIXTURE_H
#define CNNRUN_TESTS_NET_FIXTURE_H

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "cnnrun.h"
#include "model.h"

typedef struct fixture {
    cr_model *model;
    cr_net *net;
} fixture;

/* Training network with an input gradient, for up to `batch` images. */
static inline bool fixture_build(fixture *f, const char *yaml, int batch) {
    cr_error err;
    char message[2048];
    f->model = NULL;
    f->net = NULL;
    if (cr_model_load_text(yaml, strlen(yaml), "test.yaml", &f->model, &err)) {
        cr_error_format(&err, message, sizeof message);
        fprintf(stderr, "model failed to load: %s\n", message);
        CHECK(!"model loads");
        return false;
    }
    cr_net_options options = {.seed = 1, .training = true, .input_grad = true};
    if (cr_net_create(f->model, batch, &options, &f->net, &err)) {
        cr_error_format(&err, message, sizeof message);
        fprintf(stderr, "network failed to build: %s\n", message);
        CHECK(!"network builds");
        cr_model_free(f->model);
        f->model = NULL;
        return false;
    }
    return true;
}

/* Loads a model file; on failure prints the error and fails a check. */
static inline bool fixture_load_file(const char *path, cr_model **model) {
    cr_error err;
    if (!cr_model_load(path, model, &err)) return true;
    char message[2048];
    cr_error_format(&err, message, sizeof message);
    fprintf(stderr, "%s\n", message);
    CHECK(!"model loads");
    return false;
}

/* Calls each(path, context) for every *.yaml file in `folder`; returns how
 * many (an unreadable folder fails a check and gives 0). */
static inline int fixture_each_model_file(const char *folder,
                                          void (*each)(const char *path, void *context),
                                          void *context) {
    DIR *dir = opendir(folder);
    CHECK(dir != NULL);
    if (!dir) return 0;
    int files = 0;
    for (struct dirent *entry; (entry = readdir(dir));) {
        size_t length = strlen(entry->d_name);
        if (length < 6 || strcmp(entry->d_name + length - 5, ".yaml") != 0) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", folder, entry->d_name);
        each(path, context);
        files++;
    }
    closedir(dir);
    return files;
}

static inline void fixture_free(fixture *f) {
    cr_net_free(f->net);
    cr_model_free(f->model);
}

/* The tensor called `name` ("c1.weight"); .data is NULL when there is none. */
static inline cr_tensor fixture_param(fixture *f, const char *name) {
    for (int i = 0; i < cr_net_param_count(f->net); i++) {
        cr_tensor t = cr_net_param(f->net, i);
        if (strcmp(t.name, name) == 0) return t;
    }
    fprintf(stderr, "no parameter '%s'\n", name);
    CHECK(!"parameter exists");
    return (cr_tensor){0};
}

static inline void fixture_set_param(fixture *f, const char *name, const float *values,
                                     int64_t count) {
    cr_tensor t = fixture_param(f, name);
    CHECK_INT(t.count, count);
    if (t.data && t.count == count) memcpy(t.data, values, (size_t)count * sizeof *values);
}

/* One check for a whole array; the first few differing elements are named. */
static inline void check_floats(const char *what, const float *actual, const float *expected,
                                int64_t n, double tolerance) {
    int64_t wrong = 0;
    for (int64_t i = 0; i < n; i++) {
        double scale = fabs(expected[i]) > 1.0 ? fabs(expected[i]) : 1.0;
        if (fabs((double)actual[i] - expected[i]) <= tolerance * scale) continue;
        if (wrong++ < 5)
            fprintf(stderr, "%s[%lld] is %.9g, expected %.9g\n", what, (long long)i, actual[i],
                    expected[i]);
    }
    check_count++;
    if (wrong) {
        check_failure_count++;
        fprintf(stderr, "%s: %lld of %lld values differ (tolerance %g)\n", what, (long long)wrong,
                (long long)n, tolerance);
    }
}

/* Uniform in [-1, 1), from a 64-bit LCG: the tests need variety, not quality. */
static inline void fill_uniform(float *values, int64_t n, uint64_t *state) {
    for (int64_t i = 0; i < n; i++) {
        *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
        values[i] = (float)((double)(*state >> 40) / (double)(1ULL << 24) * 2.0 - 1.0);
    }
}

#endif
