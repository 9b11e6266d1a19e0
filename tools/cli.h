/* cli.h - shared pieces of the strata command-line program. */
#ifndef STRATA_CLI_H
#define STRATA_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "strata/strata.h"

int cmd_info(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);

/** Prints "strata: error: <what>: <status>: <last error>" and returns 1. */
int cli_fail(const char *what, strata_status s);

/* A progress bar on a terminal, plain periodic lines otherwise. */
typedef struct cli_progress {
    int tty;
    int64_t total;
    double start;
    double last_print;
    int64_t log_every;
    char label[64];
} cli_progress;

double cli_now(void);
/** log_every: batches between lines when not on a terminal. */
void progress_start(cli_progress *p, const char *label, int64_t total, int64_t log_every);
void progress_update(cli_progress *p, int64_t done, double loss, double acc);
void progress_end(cli_progress *p);

#endif
