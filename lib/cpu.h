/* Which vector instructions cnnrun's own loops use, chosen at run time from
 * what the processor has, so that one binary is fast on a recent x86-64 and
 * still runs on an old one (or on another architecture). OpenBLAS chooses
 * its own kernels the same way (OPENBLAS_CORETYPE overrides it).
 *
 * The environment variable CNNRUN_CPU, read once, caps the choice:
 * `generic` (the portable loops, as on a processor without AVX2) or `avx2`;
 * unset or `native`, the best the processor has. */
#ifndef CNNRUN_CPU_H
#define CNNRUN_CPU_H

#include <stdbool.h>

/* CNNRUN_PORTABLE_ONLY leaves the x86 vector code out, as on other
 * architectures (to check that build here). */
#if (defined(__x86_64__) || defined(__i386__)) && !defined(CNNRUN_PORTABLE_ONLY)
#define CR_X86 1
/* A function compiled for AVX2 + FMA (x86-64-v3) inside a portable build;
 * call it only when cr_cpu_avx2(). */
#define CR_TARGET_AVX2 __attribute__((target("avx2,fma")))
#else
#define CR_X86 0
#define CR_TARGET_AVX2
#endif

typedef enum cr_cpu_level {
    CR_CPU_GENERIC = 0, /* the portable C loops (SSE2 on x86-64) */
    CR_CPU_AVX2,        /* AVX2 + FMA: 256-bit vectors */
    CR_CPU_AVX512,      /* the processor has AVX-512F; cnnrun's loops still use AVX2 */
} cr_cpu_level;

/* The level in use: detected on the first call (CNNRUN_CPU applied). */
cr_cpu_level cr_cpu(void);
static inline bool cr_cpu_avx2(void) {
    return CR_X86 && cr_cpu() >= CR_CPU_AVX2;
}
/* The best level the processor itself has, whatever CNNRUN_CPU says. */
cr_cpu_level cr_cpu_detected(void);
const char *cr_cpu_level_name(cr_cpu_level level);
/* The widest vector the processor has, in bits (128, 256, 512). */
int cr_cpu_vector_bits(void);
/* For tests: use `level` from now on (capped at what the processor has). */
void cr_cpu_force(cr_cpu_level level);

#endif
