/* Wall-clock seconds from a monotonic clock, for timing steps and layers
 * (not the time of day). */
#ifndef CNNRUN_CLOCK_H
#define CNNRUN_CLOCK_H

#include <time.h>

static inline double cr_monotonic_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

#endif
