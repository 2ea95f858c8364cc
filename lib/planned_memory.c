/* Large planned buffers go on 2 MiB boundaries and are offered to the kernel
 * as transparent huge pages (Debian's default THP mode is "madvise": only
 * regions that ask get them). A training step walks every activation and
 * gradient of the arena, so 4 KiB pages cost a TLB miss every 1,024 floats
 * and the first touch of each page a fault: ResNet-style `cnnrun bench` made
 * its system time from those faults. Where the kernel has no huge pages the
 * advice is ignored and nothing changes. */
#define _DEFAULT_SOURCE /* madvise and MADV_HUGEPAGE are not POSIX */
#include "planned_memory.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_PAGE      ((size_t)2 << 20)
#define CACHE_LINE     ((size_t)64)
#define ALIGN_UP(n, a) (((n) + (a)-1) / (a) * (a))

float *cr_planned_floats(int64_t count) {
    size_t bytes = ALIGN_UP((size_t)(count > 0 ? count : 1) * sizeof(float), CACHE_LINE);
    bool huge = bytes >= HUGE_PAGE;
    if (huge) bytes = ALIGN_UP(bytes, HUGE_PAGE);
    float *p = aligned_alloc(huge ? HUGE_PAGE : CACHE_LINE, bytes);
    if (!p) return NULL;
#ifdef MADV_HUGEPAGE
    if (huge) (void)madvise(p, bytes, MADV_HUGEPAGE); /* advice: failure changes nothing */
#endif
    memset(p, 0, bytes);
    return p;
}
