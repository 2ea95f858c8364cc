/* Run-time choice of vector instructions (see cpu.h). */
#include "cpu.h"

#include <stdlib.h>
#include <string.h>

/* -1 until detected; written once (by whichever thread gets there first:
 * every thread computes the same value). */
static int chosen = -1;

cr_cpu_level cr_cpu_detected(void) {
#if CR_X86
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return CR_CPU_GENERIC;
    return __builtin_cpu_supports("avx512f") ? CR_CPU_AVX512 : CR_CPU_AVX2;
#else
    return CR_CPU_GENERIC;
#endif
}

static cr_cpu_level capped(cr_cpu_level level) {
    cr_cpu_level best = cr_cpu_detected();
    return level < best ? level : best;
}

static cr_cpu_level from_environment(void) {
    const char *want = getenv("CNNRUN_CPU");
    if (want && strcmp(want, "generic") == 0) return CR_CPU_GENERIC;
    if (want && strcmp(want, "avx2") == 0) return capped(CR_CPU_AVX2);
    return cr_cpu_detected();
}

cr_cpu_level cr_cpu(void) {
    int level = __atomic_load_n(&chosen, __ATOMIC_RELAXED);
    if (level < 0) {
        level = (int)from_environment();
        __atomic_store_n(&chosen, level, __ATOMIC_RELAXED);
    }
    return (cr_cpu_level)level;
}

void cr_cpu_force(cr_cpu_level level) {
    __atomic_store_n(&chosen, (int)capped(level), __ATOMIC_RELAXED);
}

const char *cr_cpu_level_name(cr_cpu_level level) {
    switch (level) {
    case CR_CPU_GENERIC:
        return "generic";
    case CR_CPU_AVX2:
        return "avx2";
    case CR_CPU_AVX512:
        return "avx512";
    }
    return "?";
}

int cr_cpu_vector_bits(void) {
    switch (cr_cpu_detected()) {
    case CR_CPU_AVX512:
        return 512;
    case CR_CPU_AVX2:
        return 256;
    default:
        return 128;
    }
}
