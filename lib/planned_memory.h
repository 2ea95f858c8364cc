/* The zeroed float buffers a net plans once (parameters, gradients, the
 * activation arena, evaluation constants). */
#ifndef CNNRUN_PLANNED_MEMORY_H
#define CNNRUN_PLANNED_MEMORY_H

#include <stdint.h>

/* count floats (at least one), zeroed, 64-byte aligned; NULL when out of
 * memory. Release with free(). */
float *cr_planned_floats(int64_t count);

#endif
