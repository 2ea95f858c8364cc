/* Thread and memory limits (see limits.h). */
#include "run_limits.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

enum { MIN_THREAD_LIMIT = 1024, THREADS_PER_CORE = 16 };

int cr_thread_limit(void) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long limit = cores > 0 ? cores * THREADS_PER_CORE : MIN_THREAD_LIMIT;
    return limit > MIN_THREAD_LIMIT ? (int)(limit < 1 << 20 ? limit : 1 << 20) : MIN_THREAD_LIMIT;
}

int cr_check_threads(cr_error *err) {
    int threads = omp_get_max_threads(), limit = cr_thread_limit();
    if (threads <= limit) return 0;
    const char *env = getenv("OMP_NUM_THREADS");
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cr_fail(err, CR_ERR_USAGE, (cr_mark){0}, NULL,
                   "%d threads asked for (--threads%s%s), more than the %d cnnrun allows here "
                   "(the larger of %d and %d per core; this machine has %ld cores)",
                   threads, env ? " or OMP_NUM_THREADS=" : "", env ? env : "", limit,
                   MIN_THREAD_LIMIT, THREADS_PER_CORE, cores);
}

int64_t cr_memory_limit(const char **source) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    int64_t limit = pages > 0 && page > 0 ? (int64_t)pages * page : INT64_MAX;
    *source = "physical memory";
    struct rlimit address_space;
    if (getrlimit(RLIMIT_AS, &address_space) == 0 && address_space.rlim_cur != RLIM_INFINITY &&
        (int64_t)address_space.rlim_cur < limit) {
        limit = (int64_t)address_space.rlim_cur;
        *source = "the address-space limit (ulimit -v)";
    }
    return limit;
}

const char *cr_format_bytes(int64_t bytes, char *out, size_t size) {
    static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double value = (double)bytes;
    int unit = 0;
    while (value >= 1024 && unit < 5) value /= 1024, unit++;
    snprintf(out, size, unit ? "%.1f %s" : "%.0f %s", value, units[unit]);
    return out;
}

int cr_check_memory(int64_t bytes, const char *what, cr_error *err) {
    const char *source;
    int64_t limit = cr_memory_limit(&source);
    if (bytes <= limit) return 0;
    char need[32], have[32];
    return cr_fail(err, CR_ERR_RUNTIME, (cr_mark){0}, NULL,
                   "%s needs %s, more than %s allows (%s): use a smaller batch size", what,
                   cr_format_bytes(bytes, need, sizeof need), source,
                   cr_format_bytes(limit, have, sizeof have));
}
