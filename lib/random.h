/* The one random number generator: splitmix64, whose whole state is one
 * 64-bit integer, so checkpoints can store it and resumed runs draw the same
 * numbers. */
#ifndef CNNRUN_RANDOM_H
#define CNNRUN_RANDOM_H

#include <stdint.h>

/* splitmix64: one step, returns 64 random bits and advances *state. */
static inline uint64_t cr_random_next(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 24 bits: every value is exactly a float. */
static inline float cr_random_uniform(uint64_t *state) {
    return (float)(cr_random_next(state) >> 40) * (1.0f / 16777216.0f);
}

/* Uniform integer in [0, n). */
static inline uint64_t cr_random_below(uint64_t *state, uint64_t n) {
    return (uint64_t)(((unsigned __int128)cr_random_next(state) * n) >> 64);
}

#endif
