/* interrupt.c - Ctrl-C (SIGINT) or SIGTERM during `strata train`: the
 * trainer finishes the step in progress, writes the checkpoint of where it
 * stands (as --steps would have stopped it there) and exits with 128 + the
 * signal, so `--resume` continues the run step for step. A second signal,
 * SIGINT or SIGTERM whichever came first, ends the process at once (the
 * handler restores the default action of both). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "dist.h"

static volatile sig_atomic_t caught;
static int cmd_argc;       /* the command line, for the hint that resumes it */
static char **cmd_argv;
static int untrained;      /* cli_interrupt_exit: a new run stopped before its first step */

static void on_signal(int sig)
{
    static const char msg[] = "\nstrata: stopping after this step to save the run (again to quit at once)\n";
    /* SA_RESETHAND resets only the signal delivered: a SIGTERM after a SIGINT was caught again */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGINT, &dfl, NULL);
    sigaction(SIGTERM, &dfl, NULL);
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
    sigemptyset(&sa.sa_mask); /* the other one waits for the handler, which gives both their default action */
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    cli_test_signal_at(0);
}

/* STRATA_TEST_SIGNAL="SIGS@STEP[+kill]", for tests that need a signal at a
 * known point: the process sends itself SIGS (INT, TERM, or both in turn:
 * "INT,TERM") when metrics.jsonl gets the first record of step STEP (0: as
 * `strata train` starts, before the data loads); "+kill" then ends it by
 * SIGKILL after the next checkpoint it writes (mpirun's SIGKILL that follows
 * its SIGTERM, say, in the evaluation after the stop's checkpoint). */
static const char *test_signal(int64_t *step, int *kill_after)
{
    const char *v = getenv("STRATA_TEST_SIGNAL"), *at = v ? strchr(v, '@') : NULL;
    if (!at)
        return NULL;
    char *end;
    *step = strtoll(at + 1, &end, 10);
    *kill_after = !strcmp(end, "+kill");
    return v;
}

void cli_test_signal_at(int64_t step)
{
    static int sent;
    int64_t at;
    int kill_after;
    const char *v = test_signal(&at, &kill_after);
    if (!v || sent || step != at)
        return;
    sent = 1;
    for (const char *p = v; p; p = strchr(p, ',')) { /* up to the '@' */
        p += *p == ',';
        if (p > strchr(v, '@'))
            break;
        raise(!strncmp(p, "TERM", 4) ? SIGTERM : SIGINT);
    }
}

void cli_test_after_checkpoint(void)
{
    int64_t at;
    int kill_after;
    if (caught && test_signal(&at, &kill_after) && kill_after)
        raise(SIGKILL);
}

void cli_test_signal_record(const json_t *rec)
{
    const json_t *step = json_object_get(rec, "step");
    if (json_is_integer(step) && getenv("STRATA_TEST_SIGNAL"))
        cli_test_signal_at(json_integer_value(step));
}

int cli_interrupted(void)
{
    return caught != 0;
}

/* 1 once the ranks agreed to stop (one process: once a signal came) */
static int agreed;

int cli_stop_agreed(void)
{
    if (dist_any(cli_interrupted()))
        agreed = 1;
    return agreed;
}

int cli_stopping(void)
{
    return agreed;
}

int cli_interrupted_untrained(void)
{
    return untrained;
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
    cli_put_resume_command_without(spec, dir, NULL);
}

void cli_put_resume_command_without(const char *spec, const char *dir, const char *option)
{
    fputs("  strata", stderr);
    if (cmd_argv) { /* the same command line, --out DIR as --resume DIR: the same steps, backend, ... */
        for (int i = 0; i < cmd_argc; i++) {
            const int out = !strcmp(cmd_argv[i], "--out") && i + 1 < cmd_argc;
            if (option && !strcmp(cmd_argv[i], option) && i + 1 < cmd_argc) {
                i++; /* and its value */
                continue;
            }
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
    if (train_untrained_stop(step)) { /* no checkpoint: the directory's earlier run (if any) goes back in place */
        untrained = 1;
        if (dist_is_root())
            fprintf(stderr, "strata: interrupted (%s) before the first step: nothing was trained, and no checkpoint "
                            "was written in %s\n",
                    sig == SIGTERM ? "SIGTERM" : "SIGINT", dir);
        return 128 + sig;
    }
    if (dist_is_root()) {
        fprintf(stderr, "strata: interrupted (%s) after step %lld; the run is saved in %s; this continues it:\n",
                sig == SIGTERM ? "SIGTERM" : "SIGINT", (long long)step, dir);
        cli_put_resume_command(spec, dir);
    }
    return 128 + sig;
}
