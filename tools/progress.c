/* progress.c - progress display: a redrawn bar on a terminal, a line every
 * few seconds otherwise (CI logs). */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void progress_start(cli_progress *p, const char *label, int64_t total, int64_t log_every)
{
    memset(p, 0, sizeof *p);
    p->tty = isatty(fileno(stderr));
    p->total = total > 0 ? total : 1;
    p->start = cli_now();
    p->last_print = p->start;
    p->log_every = log_every; /* 0: no lines (a terminal still gets its bar) */
    snprintf(p->label, sizeof p->label, "%s", label);
}

void progress_update(cli_progress *p, int64_t done, double loss, double acc)
{
    double now = cli_now();
    if (p->tty) {
        if (now - p->last_print < 0.1 && done < p->total)
            return;
        int width = 30, fill = (int)(width * done / p->total);
        char bar[64];
        for (int k = 0; k < width; k++)
            bar[k] = k < fill ? '#' : '.';
        bar[width] = '\0';
        double rate = done / (now - p->start + 1e-9);
        double eta = rate > 0 ? (double)(p->total - done) / rate : 0;
        if (acc == acc) /* NaN: no accuracy (a language model) */
            fprintf(stderr, "\r%s [%s] %lld/%lld loss %.4f acc %.4f  %.1f it/s  eta %.0fs ", p->label, bar,
                    (long long)done, (long long)p->total, loss, acc, rate, eta);
        else
            fprintf(stderr, "\r%s [%s] %lld/%lld loss %.4f  %.1f it/s  eta %.0fs ", p->label, bar, (long long)done,
                    (long long)p->total, loss, rate, eta);
        fflush(stderr);
    } else if (p->log_every > 0 && (done % p->log_every == 0 || done == p->total)) {
        if (acc == acc)
            fprintf(stderr, "%s: %lld/%lld batches, loss %.4f, acc %.4f\n", p->label, (long long)done,
                    (long long)p->total, loss, acc);
        else
            fprintf(stderr, "%s: %lld/%lld steps, loss %.4f\n", p->label, (long long)done, (long long)p->total, loss);
    } else {
        return;
    }
    p->last_print = now;
}

void progress_end(cli_progress *p)
{
    if (p->tty)
        fputc('\n', stderr);
}
