/* A test's scratch folder under /tmp: made once by main(), files in it named
 * with in_folder(). Include after check.h. */
#ifndef CNNRUN_TESTS_SCRATCH_FOLDER_H
#define CNNRUN_TESTS_SCRATCH_FOLDER_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static char folder[64];

/* /tmp/cnnrun-NAME-XXXXXX; 0, or 1 after saying why on stderr. */
static inline int scratch_folder_make(const char *name) {
    snprintf(folder, sizeof folder, "/tmp/cnnrun-%s-XXXXXX", name);
    if (mkdtemp(folder)) return 0;
    perror("mkdtemp");
    return 1;
}

/* A path inside the folder, printf-style; a few rotating buffers so several
 * can be alive in one call. */
static inline const char *in_folder(const char *format, ...) {
    static char paths[8][4096];
    static int next;
    char *out = paths[next++ % 8];
    int used = snprintf(out, sizeof paths[0], "%s/", folder);
    va_list args;
    va_start(args, format);
    vsnprintf(out + used, sizeof paths[0] - (size_t)used, format, args);
    va_end(args);
    return out;
}

static inline void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fputs(text, f) >= 0);
    CHECK(fclose(f) == 0);
}

#endif
