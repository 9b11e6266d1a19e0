/* interrupt.c - Ctrl-C (SIGINT) or SIGTERM during `strata train`: the
 * trainer finishes the step in progress, writes the checkpoint of where it
 * stands (as --steps would have stopped it there) and exits with 128 + the
 * signal, so `--resume` continues the run step for step. A second signal
 * ends the process at once (the handler restores the default action). */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static volatile sig_atomic_t caught;

static void on_signal(int sig)
{
    static const char msg[] = "\nstrata: stopping after this step to save the run (again to quit at once)\n";
    caught = sig;
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
}

void cli_catch_interrupts(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND | SA_RESTART; /* the second signal takes the default action */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_interrupted(void)
{
    return caught != 0;
}

int cli_interrupt_exit(const char *spec, const char *dir, int64_t step)
{
    fprintf(stderr, "strata: interrupted (%s) after step %lld; the run is saved in %s: `strata train %s --resume %s` "
                    "continues it\n",
            caught == SIGTERM ? "SIGTERM" : "SIGINT", (long long)step, dir, spec, dir);
    return 128 + (int)caught;
}
