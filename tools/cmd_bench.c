/* cmd_bench.c - `strata bench`: throughput of the reference workloads,
 * single-op GFLOP/s, and per-op profiles. A benchmark, never a test. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "stats.h"

typedef struct {
    const char *id, *spec, *unit, *needs;
} workload;

/* The reference workloads W1-W5 (docs/performance.md) and the spec each is trained from. */
static const workload workloads[] = {
    {"W1", "mlp-fashion.yaml", "images/s", "core layers"},
    {"W2", "lenet-fashion.yaml", "images/s", "the conv plugin"},
    {"W3", "char-lstm-kjv.yaml", "characters/s", "the lstm plugin"},
    {"W4", "memn2n-babi.yaml", "questions/s", "the memnet plugin"},
    {"W5", "dcgan-fashion.yaml", "images/s", "the gan plugin"},
};

/* --steps and --warmup: the step times must fit in memory */
#define BENCH_MAX_STEPS 10000000

typedef struct {
    const char *backend, *models, *op, *shape;
    int64_t steps, warmup;
    int json, profile;
} bench_args;

/* How much of the machine other processes used while a benchmark ran: the
 * busy time of every CPU (/proc/stat) less this process's own, over the
 * wall time times the CPUs. The load average cannot tell: it still counts
 * the previous benchmark for a minute after it ends. */
typedef struct {
    double wall, busy, self;
} bench_clock;

static double proc_busy_seconds(void)
{
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1.0;
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                   &v[6], &v[7]);
    fclose(f);
    if (n < 8)
        return -1.0;
    /* user nice system idle iowait irq softirq steal: all but idle and iowait */
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)ru.ru_stime.tv_usec;
}

static void bench_clock_start(bench_clock *c)
{
    c->wall = cli_now();
    c->busy = proc_busy_seconds();
    c->self = self_cpu_seconds();
}

/* The share of all CPUs others used since bench_clock_start, or -1 when it
 * cannot be told (no /proc, under half a second). */
static double bench_clock_others(const bench_clock *c)
{
    double wall = cli_now() - c->wall, busy = proc_busy_seconds();
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (c->busy < 0 || busy < 0 || wall < 0.5 || cpus < 1)
        return -1.0;
    double others = (busy - c->busy - (self_cpu_seconds() - c->self)) / (wall * (double)cpus);
    return others < 0 ? 0.0 : others > 1 ? 1.0 : others;
}

/* Said on stderr when others took more than a tenth of the machine. */
static void bench_warn_busy(const char *what, double others)
{
    fflush(stdout);
    if (others > 0.1)
        fprintf(stderr,
                "strata bench: %s: other processes used %.0f%% of this machine's %ld CPUs while it ran; its figures "
                "are slowed by them (compare only figures measured side by side, docs/performance.md)\n",
                what, 100.0 * others, sysconf(_SC_NPROCESSORS_ONLN));
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* KiB on Linux */
}

/* models/ next to the source tree of a build (build/bin/../../models), or
 * share/strata/models of an install, or --models / STRATA_MODELS. */
static void find_models(char *out, size_t n, const char *given)
{
    if (given) {
        snprintf(out, n, "%s", given);
        return;
    }
    const char *env = getenv("STRATA_MODELS");
    if (env && *env) {
        snprintf(out, n, "%s", env);
        return;
    }
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        const char *cands[] = {"../../models", "../share/strata/models"};
        for (size_t k = 0; k < sizeof cands / sizeof *cands; k++) {
            snprintf(out, n, "%.3000s/%s", exe, cands[k]);
            if (access(out, R_OK) == 0)
                return;
        }
    }
    snprintf(out, n, "models");
}

static int profile_cmp(const void *a, const void *b)
{
    double x = ((const double *)a)[0], y = ((const double *)b)[0];
    return x < y ? 1 : x > y ? -1 : 0;
}

void cli_print_profile(strata_runtime *rt, int64_t steps)
{
    int n = strata_profile_count(rt);
    double (*rows)[2] = calloc((size_t)(n ? n : 1), sizeof *rows);
    double total = 0;
    for (int k = 0; k < n; k++) {
        double s;
        strata_profile_get(rt, k, NULL, NULL, NULL, &s);
        rows[k][0] = s;
        rows[k][1] = k;
        total += s;
    }
    qsort(rows, (size_t)n, sizeof *rows, profile_cmp);
    printf("  %-34s %-8s %10s %12s %7s\n", "op", "phase", "calls/step", "ms/step", "share");
    for (int k = 0; k < n; k++) {
        const char *op;
        int bw;
        int64_t calls;
        double s;
        strata_profile_get(rt, (int)rows[k][1], &op, &bw, &calls, &s);
        printf("  %-34s %-8s %10.1f %12.3f %6.1f%%\n", op, bw ? "backward" : "forward", (double)calls / (double)steps,
               1e3 * s / (double)steps, total > 0 ? 100.0 * s / total : 0.0);
    }
    printf("  %-34s %-8s %10s %12.3f\n", "total in ops", "", "", 1e3 * total / (double)steps);
    free(rows);
}

/* The line (or JSON object) of a workload from its step times, then the
 * profile when asked. */
static void bench_report(const workload *w, const bench_args *a, const bench_clock *clock, strata_runtime *rt,
                         strata_device *dev, double *times, int64_t per_step, int64_t batch, double loss)
{
    const int64_t total = a->warmup + a->steps;
    double sum = 0;
    for (int64_t s = a->warmup; s < total; s++)
        sum += times[s];
    double med = stats_median(times + a->warmup, (int)a->steps);
    /* the spread: the rates of the 90th and 10th percentile step times */
    double slow = (double)per_step / stats_quantile(times + a->warmup, (int)a->steps, 0.9);
    double fast = (double)per_step / stats_quantile(times + a->warmup, (int)a->steps, 0.1);
    double rate = (double)per_step / med, mean_rate = (double)per_step * (double)a->steps / sum;
    double rss = peak_rss_mb(), others = bench_clock_others(clock);
    if (a->json) {
        printf("{\"workload\": \"%s\", \"backend\": \"%s\", \"rate\": %.1f, \"mean_rate\": %.1f, \"rate_p10\": %.1f, "
               "\"rate_p90\": %.1f, \"unit\": \"%s\", \"batch\": %lld, \"steps\": %lld, \"median_step_ms\": %.3f, "
               "\"peak_rss_mb\": %.1f, \"loss\": %.4f, \"others_cpu\": ",
               w->id, strata_device_backend(dev), rate, mean_rate, slow, fast, w->unit, (long long)batch,
               (long long)a->steps, 1e3 * med, rss, loss);
        printf(others < 0 ? "null}\n" : "%.2f}\n", others);
    } else
        printf("%-3s %-6s %10.1f %s (median of %lld steps, %.3f ms/step; 80%% of steps %.1f-%.1f; mean %.1f)  "
               "peak RSS %.1f MB\n",
               w->id, strata_device_backend(dev), rate, w->unit, (long long)a->steps, 1e3 * med, slow, fast,
               mean_rate, rss);
    bench_warn_busy(w->id, others);
    if (a->profile)
        cli_print_profile(rt, a->steps);
    fflush(stdout);
}

/* W4 and W5 through cmd_memnet.c and cmd_gan.c: the report runs before their runtime goes. */
typedef struct {
    const workload *w;
    const bench_args *a;
    const bench_clock *clock;
} bench_mn_user;

static void bench_mn_report(strata_runtime *rt, strata_device *dev, const double *times, int64_t batch, double loss,
                            void *user)
{
    const bench_mn_user *u = user;
    double *t = malloc(sizeof(double) * (size_t)(u->a->warmup + u->a->steps));
    if (!t)
        return;
    memcpy(t, times, sizeof(double) * (size_t)(u->a->warmup + u->a->steps));
    bench_report(u->w, u->a, u->clock, rt, dev, t, batch, batch, loss);
    free(t);
}

/* Runs in a child process, so each workload's peak memory is its own. */
static int bench_workload(const workload *w, const bench_args *a, const char *models, int named)
{
    char spec[PATH_MAX + 64];
    snprintf(spec, sizeof spec, "%s/%s", models, w->spec);
    bench_clock clock;
    bench_clock_start(&clock);
    if (access(spec, R_OK) != 0) {
        if (a->json)
            printf("{\"workload\": \"%s\", \"skipped\": \"needs %s (%s not found)\"}\n", w->id, w->needs, spec);
        else
            printf("%-3s skipped: needs %s (%s not found)\n", w->id, w->needs, spec);
        return named; /* asked for by name: not run is a failure, for the scripts that record it */
    }
    if (!strcmp(w->id, "W4") || !strcmp(w->id, "W5")) {
        bench_mn_user u = {w, a, &clock};
        return (!strcmp(w->id, "W4") ? memnet_bench : gan_bench)(spec, a->backend, a->warmup, a->steps, a->profile,
                                                                  bench_mn_report, &u);
    }
    run_ctx ctx;
    run_options ro = {.spec_path = spec, .backend = a->backend, .random_text = 1};
    int r = run_setup(&ctx, &ro, 1);
    if (r) {
        run_free(&ctx);
        return r;
    }
    /* a language model (W3) trains on random windows of its text; its unit is
     * characters: batch x sequence length per step */
    strata_loader *ld = NULL;
    strata_status rc = ctx.lm ? STRATA_OK : strata_loader_create(ctx.train, ctx.batch, 1, 1, 1, &ld);
    double clip = 0.0;
    if (ctx.lm)
        strata_spec_get_float(ctx.spec, "train.clip_grad_norm", 0.0, &clip);
    int64_t per_step = ctx.lm ? ctx.batch * ctx.seq_len : ctx.batch;
    if (rc) {
        run_free(&ctx);
        return cli_fail("creating the loader", rc);
    }
    int64_t total = a->warmup + a->steps; /* both bounded by their options */
    double *times = calloc((size_t)total, sizeof *times), loss = 0;
    if (!times) {
        run_free(&ctx);
        fprintf(stderr, "strata bench: out of memory for %lld step times\n", (long long)total);
        return 1;
    }
    int64_t epoch = 0;
    if (ld)
        strata_loader_start_epoch(ld, epoch);
    for (int64_t s = 0; s < total && !rc; s++) {
        if (s == a->warmup && a->profile) {
            strata_profile_reset(ctx.rt);
            strata_profile_enable(ctx.rt, 1);
        }
        strata_tensor *x, *y;
        int done = 0;
        if (ctx.lm) {
            if ((rc = strata_text_train_batch(ctx.text, ctx.dev, ctx.batch, ctx.seq_len, 1, s, &x, &y)))
                break;
            double t0 = cli_now();
            rc = lm_train_step(&ctx, x, y, clip, &loss);
            strata_device_synchronize(ctx.dev);
            times[s] = cli_now() - t0;
            strata_tensor_release(x);
            strata_tensor_release(y);
            continue;
        }
        if ((rc = strata_loader_next(ld, ctx.dev, &x, &y, &done)))
            break;
        if (done) {
            strata_loader_start_epoch(ld, ++epoch);
            s--;
            continue;
        }
        double t0 = cli_now();
        rc = run_train_step(&ctx, x, y, 0.0, NULL, &loss);
        strata_device_synchronize(ctx.dev);
        times[s] = cli_now() - t0;
        strata_tensor_release(x);
        strata_tensor_release(y);
    }
    strata_loader_destroy(ld);
    if (rc) {
        free(times);
        r = cli_fail(w->id, rc);
        run_free(&ctx);
        return r;
    }
    bench_report(w, a, &clock, ctx.rt, ctx.dev, times, per_step, ctx.batch, loss);
    free(times);
    run_free(&ctx);
    return 0;
}

/* One single-op benchmark: the op, its inputs and attrs, its work. */
typedef struct {
    const char *op;
    strata_tensor *in[3];
    int n_in;
    strata_attr attrs[4];
    int n_attrs;
    int64_t conv[6]; /* what attrs point at: stride, padding, then input_size or kernel_size */
    double flops;
    char shape[256];
} op_case;

/* The numbers of @p s, "AxBxC...", into v (at most @p max): how many, or -1
 * when anything else is there ("16x16x16junk", "-3"). */
static int parse_dims(const char *s, long long *v, int max)
{
    int n = 0;
    for (const char *p = s; p && *p; n++) {
        char *end;
        errno = 0;
        if (n == max || *p < '0' || *p > '9')
            return -1;
        v[n] = strtoll(p, &end, 10);
        if (errno || (*end && *end != 'x') || (*end == 'x' && !end[1]))
            return -1;
        p = *end ? end + 1 : end;
    }
    return s && *s ? n : -1;
}

/* Parses --shape for @p a->op into @p c (inputs not made yet); 0 on success. */
static int op_case_parse(const bench_args *a, op_case *c, int64_t dims[3][4], int ndims[3])
{
    long long v[9] = {0, 0, 0, 0, 0, 0, 1, 0, 1};
    int got = parse_dims(a->shape, v, 9);
    if (!strcmp(a->op, "matmul")) {
        long long M = v[0], N = v[1], K = v[2];
        if (got != 3 || M <= 0 || N <= 0 || K <= 0) {
            fprintf(stderr, "strata bench: --op matmul needs --shape MxNxK (e.g. 2048x2048x2048)\n");
            return 2;
        }
        c->op = "core::matmul";
        ndims[0] = ndims[1] = 2;
        dims[0][0] = M, dims[0][1] = K, dims[1][0] = K, dims[1][1] = N;
        c->n_in = 2;
        c->flops = 2.0 * (double)M * (double)N * (double)K;
        snprintf(c->shape, sizeof c->shape, "%lldx%lldx%lld", M, N, K);
        return 0;
    }
    /* conv2d and its two gradients, one shape syntax: x (N, C, H, W) * w (OC, C / GROUPS, K, K) */
    const int bwd_data = !strcmp(a->op, "conv2d_backward_data"), bwd_weight = !strcmp(a->op, "conv2d_backward_weight");
    if (!strcmp(a->op, "conv2d") || bwd_data || bwd_weight) {
        long long B = v[0], C = v[1], H = v[2], W = v[3], OC = v[4], KS = v[5], S = v[6], P = v[7], G = v[8];
        if (got < 6 || B <= 0 || C <= 0 || H <= 0 || W <= 0 || OC <= 0 || KS <= 0 || S <= 0 || P < 0 || G <= 0 ||
            C % G || OC % G || H + 2 * P < KS || W + 2 * P < KS) {
            fprintf(stderr, "strata bench: --op %s needs --shape NxCxHxWxOCxK[xSTRIDE[xPAD[xGROUPS]]] with the kernel "
                            "K no larger than the padded input and C and OC divisible by GROUPS (e.g. "
                            "64x1x28x28x6x5x1x2, LeNet's first layer; 16x32x32x32x32x3x1x1x32, a depthwise one)\n",
                    a->op);
            return 2;
        }
        long long OH = (H + 2 * P - KS) / S + 1, OW = (W + 2 * P - KS) / S + 1;
        const int64_t x[4] = {B, C, H, W}, w[4] = {OC, C / G, KS, KS}, dy[4] = {B, OC, OH, OW};
        /* inputs: conv2d (x, w, b), backward data (dy, w), backward weight (dy, x) */
        const int64_t *in[3] = {x, w, NULL};
        if (bwd_data)
            in[0] = dy, in[1] = w;
        else if (bwd_weight)
            in[0] = dy, in[1] = x;
        for (int k = 0; k < 2; k++) {
            ndims[k] = 4;
            memcpy(dims[k], in[k], sizeof(int64_t) * 4);
        }
        c->n_in = 2;
        if (!bwd_data && !bwd_weight) {
            ndims[2] = 1, dims[2][0] = OC;
            c->n_in = 3;
        }
        c->op = bwd_data ? "conv::conv2d_backward_data" : bwd_weight ? "conv::conv2d_backward_weight" : "conv::conv2d";
        int64_t *cv = c->conv;
        cv[0] = cv[1] = S;
        cv[2] = cv[3] = P;
        c->attrs[c->n_attrs++] = strata_attr_ints("stride", cv, 2);
        c->attrs[c->n_attrs++] = strata_attr_ints("padding", cv + 2, 2);
        c->attrs[c->n_attrs++] = strata_attr_int("groups", G);
        /* what the gradients need: input_size (H, W) or kernel_size (K, K) */
        cv[4] = bwd_data ? H : KS, cv[5] = bwd_data ? W : KS;
        if (bwd_data || bwd_weight)
            c->attrs[c->n_attrs++] = strata_attr_ints(bwd_data ? "input_size" : "kernel_size", cv + 4, 2);
        c->flops = 2.0 * (double)B * (double)OC * (double)OH * (double)OW * (double)(C / G) * (double)KS * (double)KS;
        snprintf(c->shape, sizeof c->shape, "%lldx%lldx%lldx%lld * %lldx%lldx%lldx%lld stride %lld pad %lld", B, C,
                 H, W, OC, C / G, KS, KS, S, P);
        if (G > 1) {
            size_t len = strlen(c->shape);
            snprintf(c->shape + len, sizeof c->shape - len, " groups %lld", G);
        }
        return 0;
    }
    fprintf(stderr,
            "strata bench: --op %s is not available (ops: matmul, conv2d, conv2d_backward_data, "
            "conv2d_backward_weight)\n",
            a->op);
    return 2;
}

/* Times op_case @p c: 3 warm-up calls, then up to 64 (at least 3, about
 * 10 s at most); the median, and the 10th and 90th percentiles in @p spread. */
static strata_status op_case_time(strata_runtime *rt, strata_device *dev, op_case *c, int reps, double *med,
                                  double spread[2], int *n_out)
{
    double times[64], spent = 0;
    int n = 0;
    strata_status rc = STRATA_OK;
    for (int k = -3; k < reps && (k < 3 || spent < 10.0); k++) {
        strata_tensor *out = NULL;
        double t0 = cli_now();
        rc = strata_op_call(rt, c->op, c->in, c->n_in, c->attrs, c->n_attrs, &out, 1);
        strata_device_synchronize(dev);
        double dt = cli_now() - t0;
        strata_tensor_release(out);
        if (rc)
            break;
        if (k >= 0) {
            times[n++] = dt;
            spent += dt;
        }
    }
    *med = stats_median(times, n);
    spread[0] = stats_quantile(times, n, 0.1);
    spread[1] = stats_quantile(times, n, 0.9);
    *n_out = n;
    return rc;
}

static int bench_op(const bench_args *a)
{
    op_case c = {0};
    int64_t dims[3][4] = {{0}};
    int ndims[3] = {0}, r = op_case_parse(a, &c, dims, ndims);
    if (r)
        return r;
    /* inputs past half the machine's memory (an output as large, a workspace): refused before allocating, not
     * killed by the system with nothing said (a 65536 x 65536 image took 16 GiB) */
    double bytes = 0;
    for (int i = 0; i < c.n_in; i++) {
        double n = 4;
        for (int k = 0; k < ndims[i]; k++)
            n *= (double)dims[i][k];
        bytes += n;
    }
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    const double phys = pages > 0 && page > 0 ? (double)pages * (double)page : 0;
    if (phys > 0 && bytes > phys / 2) {
        fprintf(stderr, "strata bench: --shape %s: the inputs alone take %.1f GiB, more than half of this machine's "
                        "%.1f GiB; give a smaller shape\n",
                a->shape ? a->shape : "", bytes / 1073741824.0, phys / 1073741824.0);
        return 2;
    }
    strata_runtime *rt;
    strata_status rc = strata_runtime_create(NULL, &rt);
    if (rc)
        return cli_fail("creating the runtime", rc);
    strata_device *dev;
    if ((rc = strata_device_get(rt, a->backend, 0, &dev))) {
        strata_runtime_destroy(rt);
        return cli_fail("choosing a device", rc);
    }
    strata_set_grad_enabled(rt, 0);
    for (int i = 0; i < c.n_in && !rc; i++) {
        strata_attr u = strata_attr_ints("shape", dims[i], ndims[i]);
        rc = strata_op_create(dev, "core::uniform", &u, 1, &c.in[i]);
    }
    if (rc) {
        for (int i = 0; i < c.n_in; i++)
            strata_tensor_release(c.in[i]);
        strata_runtime_destroy(rt);
        return cli_fail("creating inputs", rc);
    }
    double med = 0, spread[2] = {0, 0};
    bench_clock clock;
    bench_clock_start(&clock);
    int n = 0;
    rc = op_case_time(rt, dev, &c, a->steps ? (int)a->steps : 20, &med, spread, &n);
    for (int i = 0; i < c.n_in; i++)
        strata_tensor_release(c.in[i]);
    if (rc) {
        r = cli_fail(c.op, rc);
        strata_runtime_destroy(rt);
        return r;
    }
    double others = bench_clock_others(&clock);
    if (a->json) {
        printf("{\"op\": \"%s\", \"shape\": \"%s\", \"backend\": \"%s\", \"gflops\": %.1f, \"median_ms\": %.6f, "
               "\"p10_ms\": %.6f, \"p90_ms\": %.6f, \"reps\": %d, \"others_cpu\": ",
               a->op, c.shape, strata_device_backend(dev), c.flops / med * 1e-9, 1e3 * med, 1e3 * spread[0],
               1e3 * spread[1], n);
        printf(others < 0 ? "null}\n" : "%.2f}\n", others);
    } else
        printf("%s %s on %s: %.1f GFLOP/s (median of %d, %.3f ms; 80%% of calls %.3f-%.3f ms)\n", a->op, c.shape,
               strata_device_name(dev), c.flops / med * 1e-9, n, 1e3 * med, 1e3 * spread[0], 1e3 * spread[1]);
    bench_warn_busy(a->op, others);
    strata_runtime_destroy(rt);
    return 0;
}

int cmd_bench(int argc, char **argv)
{
    bench_args a = {.steps = 0, .warmup = -1}; /* defaults below: they differ for --op */
    const char *ids[8];
    int n_ids = 0;
    const cli_opt opts[] = {
        CLI_BACKEND_OPTION(&a.backend),
        {.name = "--steps", .type = CLI_INT, .dst = &a.steps, .value = "N", .lo = 1, .hi = BENCH_MAX_STEPS,
         .help = "timed steps; the median is reported (default 100; with --op, timed calls: at most 64, default "
                 "20)"},
        {.name = "--warmup", .type = CLI_INT, .dst = &a.warmup, .value = "N", .lo = 0, .hi = BENCH_MAX_STEPS,
         .help = "untimed steps first (default 10; --op makes 3 untimed calls)"},
        {.name = "--op", .type = CLI_STRING, .dst = &a.op, .value = "OP",
         .help = "one op instead: matmul, conv2d, conv2d_backward_data, conv2d_backward_weight"},
        {.name = "--shape", .type = CLI_STRING, .dst = &a.shape, .value = "SHAPE",
         .help = "its shape: MxNxK (matmul), NxCxHxWxOCxK[xSTRIDE[xPAD[xGROUPS]]] (conv2d and its gradients)"},
        {.name = "--models", .type = CLI_STRING, .dst = &a.models, .value = "DIR",
         .help = "where the workloads' specs are (default: the installed or source models/)"},
        {.name = "--json", .type = CLI_FLAG, .dst = &a.json, .help = "one JSON object per line"},
        {.name = "--profile", .type = CLI_FLAG, .dst = &a.profile, .help = "also time every op (per step)"},
        {0},
    };
    const cli_command c = {
        .name = "bench", .positional = ids, .max_positional = 8, .n_positional = &n_ids, .opts = opts,
        .synopsis = "[W1 W2 ...] [options]\n--op OP --shape SHAPE [options]",
        .about = "Training throughput of the reference workloads W1-W5 (default: all), or one op's GFLOP/s.",
        .notes = "Each workload runs in its own process; compare with PyTorch by bench/vs-pytorch.sh "
                 "(docs/performance.md)."};
    int r = cli_parse(&c, argc, argv);
    if (r)
        return CLI_EXIT(r);
    if (!a.op && a.shape) {
        fprintf(stderr, "strata bench: --shape applies to --op (the shape of the op's inputs); workloads have their "
                        "own\n");
        return 2;
    }
    if (a.op) {
        const char *extra = NULL;
        if (a.warmup >= 0)
            extra = "--warmup";
        else if (a.profile)
            extra = "--profile";
        else if (a.models)
            extra = "--models";
        else if (n_ids)
            extra = ids[0];
        if (extra) {
            fprintf(stderr, "strata bench: %s does not apply to --op (it times one op)\n", extra);
            return 2;
        }
        if (a.steps > 64) {
            fprintf(stderr, "strata bench: --op times at most 64 calls, --steps %lld asks for more\n",
                    (long long)a.steps);
            return 2;
        }
        return bench_op(&a);
    }
    if (!a.steps)
        a.steps = 100;
    if (a.warmup < 0)
        a.warmup = 10;
    const int named = n_ids > 0;
    if (!n_ids) {
        for (size_t k = 0; k < sizeof workloads / sizeof *workloads; k++)
            ids[n_ids++] = workloads[k].id;
    }
    /* every id before the first run: `bench W1 W9` timed W1 for minutes, then refused W9 */
    const workload *run[8] = {0};
    for (int i = 0; i < n_ids; i++) {
        for (size_t k = 0; k < sizeof workloads / sizeof *workloads; k++)
            if (!strcmp(workloads[k].id, ids[i]))
                run[i] = &workloads[k];
        if (!run[i]) {
            fprintf(stderr, "strata bench: unknown workload '%s' (W1..W5)\n", ids[i]);
            return 2;
        }
    }
    char models[PATH_MAX];
    find_models(models, sizeof models, a.models);
    struct stat mst;
    errno = 0;
    if (stat(models, &mst) != 0 || !S_ISDIR(mst.st_mode)) { /* every workload "skipped", exit 0 */
        fprintf(stderr, "strata bench: the workloads' specs are looked up in %s, which is not a directory (%s; "
                        "--models DIR or STRATA_MODELS names it)\n",
                models, strerror(errno ? errno : ENOTDIR));
        return 1;
    }
    int worst = 0;
    for (int i = 0; i < n_ids; i++) {
        const workload *w = run[i];
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0)
        {
            int code = bench_workload(w, &a, models, named);
            /* _exit skips main's check of standard output: a full disk lost the figures, as there */
            if (fflush(stdout) != 0 || ferror(stdout)) {
                const int e = errno;
                if (e != EPIPE) /* a reader that went away: the status SIGPIPE would give, quietly */
                    fprintf(stderr, "strata bench: writing standard output: %s\n", strerror(e));
                code = e == EPIPE ? 128 + SIGPIPE : 1;
            }
            _exit(code);
        }
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) < 0) {
            fprintf(stderr, "strata bench: cannot run %s: %s\n", w->id, strerror(errno));
            return 1;
        }
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
        if (WIFSIGNALED(status))
            fprintf(stderr, "strata bench: %s was killed by signal %d (%s)\n", w->id, WTERMSIG(status),
                    strsignal(WTERMSIG(status)));
        if (code > worst)
            worst = code;
    }
    return worst;
}
