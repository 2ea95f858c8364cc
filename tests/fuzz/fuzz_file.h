/* The fuzz input as a file, for readers that take a path (they check that
 * it is a regular file before reading it): one temporary file per process,
 * rewritten for each input. */
#ifndef CNNRUN_FUZZ_FILE_H
#define CNNRUN_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *fuzz_file(const uint8_t *data, size_t size) {
    static char path[64];
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/cnnrun_fuzz_XXXXXX");
        int fd = mkstemp(path);
        if (fd < 0) abort();
        close(fd);
    }
    FILE *file = fopen(path, "wb");
    if (!file) abort();
    if (size) fwrite(data, 1, size, file);
    fclose(file);
    return path;
}

#endif
