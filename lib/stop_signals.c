/* Stop signals (see stop_signals.h). */
#include "stop_signals.h"

#include <stddef.h>

static const int stop_signals[] = {SIGINT, SIGTERM, SIGHUP};
enum { STOP_SIGNALS = sizeof stop_signals / sizeof stop_signals[0] };

static volatile sig_atomic_t *stop_flag;
static struct sigaction previous[STOP_SIGNALS];

static void on_stop_signal(int signal_number) {
    if (*stop_flag) {
        /* The second: end now, as the signal would have without us. */
        signal(signal_number, SIG_DFL);
        raise(signal_number);
        return;
    }
    *stop_flag = signal_number;
}

void cr_stop_signals_install(volatile sig_atomic_t *flag) {
    stop_flag = flag;
    *flag = 0;
    struct sigaction action = {.sa_handler = on_stop_signal};
    sigemptyset(&action.sa_mask);
    for (int i = 0; i < STOP_SIGNALS; i++) sigaddset(&action.sa_mask, stop_signals[i]);
    for (int i = 0; i < STOP_SIGNALS; i++) sigaction(stop_signals[i], &action, &previous[i]);
}

void cr_stop_signals_restore(void) {
    for (int i = 0; i < STOP_SIGNALS; i++) sigaction(stop_signals[i], &previous[i], NULL);
}

const char *cr_stop_signal_name(int signal_number) {
    switch (signal_number) {
    case SIGTERM:
        return "terminated (SIGTERM)";
    case SIGHUP:
        return "hung up (SIGHUP)";
    default:
        return "interrupted";
    }
}
