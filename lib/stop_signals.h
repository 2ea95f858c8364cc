/* Signals that ask a training run to stop (train.h's options.stop).
 *
 * SIGINT (Ctrl-C), SIGTERM (kill, a batch scheduler, systemd) and SIGHUP
 * (the terminal closed) all do what the first Ctrl-C does: the run finishes
 * its step, saves its checkpoint and returns. A second one of any of them
 * ends the program at once, by that signal's default action. */
#ifndef CNNRUN_STOP_SIGNALS_H
#define CNNRUN_STOP_SIGNALS_H

#include <signal.h>

/* Installs the handlers; *flag is set to the signal's number by the first. */
void cr_stop_signals_install(volatile sig_atomic_t *flag);
/* Puts back the handlers that were there before. */
void cr_stop_signals_restore(void);
/* "interrupted (Ctrl-C)", "terminated (SIGTERM)", "hung up (SIGHUP)" for a flag's value. */
const char *cr_stop_signal_name(int signal_number);

#endif
