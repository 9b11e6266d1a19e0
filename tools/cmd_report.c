/* cmd_report.c - `strata report RUN [--out FILE]`: RUN/report.html written
 * again (report.c), for a run still going or stopped. */
#include <stdio.h>

#include "cli.h"
#include "report.h"

int cmd_report(int argc, char **argv)
{
    const char *run = NULL, *out = NULL;
    const cli_opt opts[] = {
        {.name = "--out", .type = CLI_STRING, .dst = &out, .value = "FILE", .help = "write here (default: RUN/report.html)"},
        {0},
    };
    const cli_command c = {
        .name = "report",
        .synopsis = "RUN [--out FILE]",
        .about = "Writes RUN/report.html: the run's summary, its training curves (metrics.jsonl) as charts, the\n"
                 "images it wrote, its spec and its files, in one page with no script that a browser opens\n"
                 "offline. The trainers write it at the end of a run; this writes it again, or for a run\n"
                 "still going or stopped.",
        .positional = &run,
        .opts = opts,
    };
    int r = cli_parse(&c, argc, argv);
    if (r)
        return CLI_EXIT(r);
    if ((r = cli_require(&c, run, "a run directory")))
        return r;
    int charts = 0;
    if (report_write(run, out, &charts))
        return 1;
    char path[4200];
    snprintf(path, sizeof path, "%s/report.html", run);
    printf("wrote %s (%d chart%s)\n", out ? out : path, charts, charts == 1 ? "" : "s");
    return 0;
}
