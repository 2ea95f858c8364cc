/* A tiny assertion kit for the ctest executables: each check prints where it
 * failed and counts; main() returns check_failures() so ctest sees it. */
#ifndef CNNRUN_TESTS_CHECK_H
#define CNNRUN_TESTS_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int check_failure_count;
static int check_count;

#define CHECK(condition)                                                                           \
    do {                                                                                           \
        check_count++;                                                                             \
        if (!(condition)) {                                                                        \
            check_failure_count++;                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #condition);          \
        }                                                                                          \
    } while (0)

#define CHECK_INT(actual, expected)                                                                \
    do {                                                                                           \
        long long check_a_ = (long long)(actual), check_e_ = (long long)(expected);                \
        check_count++;                                                                             \
        if (check_a_ != check_e_) {                                                                \
            check_failure_count++;                                                                 \
            fprintf(stderr, "%s:%d: %s is %lld, expected %lld\n", __FILE__, __LINE__, #actual,     \
                    check_a_, check_e_);                                                           \
        }                                                                                          \
    } while (0)

/* |actual - expected| <= tolerance * max(1, |expected|) */
#define CHECK_NEAR(actual, expected, tolerance)                                                    \
    do {                                                                                           \
        double check_a_ = (double)(actual), check_e_ = (double)(expected);                         \
        double check_scale_ = fabs(check_e_) > 1.0 ? fabs(check_e_) : 1.0;                         \
        check_count++;                                                                             \
        if (!(fabs(check_a_ - check_e_) <= (tolerance)*check_scale_)) {                            \
            check_failure_count++;                                                                 \
            fprintf(stderr, "%s:%d: %s is %.9g, expected %.9g (tolerance %g)\n", __FILE__,         \
                    __LINE__, #actual, check_a_, check_e_, (double)(tolerance));                   \
        }                                                                                          \
    } while (0)

#define CHECK_CONTAINS(haystack, needle)                                                           \
    do {                                                                                           \
        const char *check_h_ = (haystack), *check_n_ = (needle);                                   \
        check_count++;                                                                             \
        if (!check_h_ || !strstr(check_h_, check_n_)) {                                            \
            check_failure_count++;                                                                 \
            fprintf(stderr, "%s:%d: expected \"%s\" to contain \"%s\"\n", __FILE__, __LINE__,      \
                    check_h_ ? check_h_ : "(null)", check_n_);                                     \
        }                                                                                          \
    } while (0)

/* Call at the end of main(): prints the plain "N passed, N failed" line. */
static inline int check_report(void) {
    printf("%d passed, %d failed\n", check_count - check_failure_count, check_failure_count);
    return check_failure_count ? 1 : 0;
}

#endif
