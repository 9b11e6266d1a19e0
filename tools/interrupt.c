/* interrupt.c - Ctrl-C (SIGINT) or SIGTERM during `strata train`: the
 * trainer finishes the step in progress, writes the checkpoint of where it
 * stands (as --steps would have stopped it there) and exits with 128 + the
 * signal, so `--resume` continues the run step for step. A second signal
 * ends the process at once (the handler restores the default action). */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dist.h"

static volatile sig_atomic_t caught;
static int cmd_argc;       /* the command line, for the hint that resumes it */
static char **cmd_argv;

static void on_signal(int sig)
{
    static const char msg[] = "\nstrata: stopping after this step to save the run (again to quit at once)\n";
    caught = sig;
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
}

void cli_catch_interrupts(int argc, char **argv)
{
    cmd_argc = argc, cmd_argv = argv;
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

/* @p arg for a shell: as it is, or in single quotes. */
static void put_arg(const char *arg)
{
    if (*arg && !arg[strcspn(arg, " \t\n'\"\\$`*?[]{}()<>|&;#~!")]) {
        fprintf(stderr, " %s", arg);
        return;
    }
    fputs(" '", stderr);
    for (const char *p = arg; *p; p++)
        fputs(*p == '\'' ? "'\\''" : (char[2]){*p, 0}, stderr);
    fputc('\'', stderr);
}

void cli_put_resume_command(const char *spec, const char *dir)
{
    fputs("  strata", stderr);
    if (cmd_argv) { /* the same command line, --out DIR as --resume DIR: the same steps, backend, ... */
        for (int i = 0; i < cmd_argc; i++) {
            const int out = !strcmp(cmd_argv[i], "--out") && i + 1 < cmd_argc;
            put_arg(out ? "--resume" : cmd_argv[i]);
        }
    } else {
        fputs(" train", stderr);
        put_arg(spec);
        fputs(" --resume", stderr);
        put_arg(dir);
    }
    fputc('\n', stderr);
}

int cli_interrupt_exit(const char *spec, const char *dir, int64_t step)
{
    /* a data-parallel run: the ranks stopped together, rank 0 tells; a rank
     * the signal did not reach ends as if Ctrl-C had */
    const int sig = caught ? (int)caught : SIGINT;
    if (dist_is_root()) {
        fprintf(stderr, "strata: interrupted (%s) after step %lld; the run is saved in %s; this continues it:\n",
                sig == SIGTERM ? "SIGTERM" : "SIGINT", (long long)step, dir);
        cli_put_resume_command(spec, dir);
    }
    return 128 + sig;
}
