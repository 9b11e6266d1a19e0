/* main.c - the strata command-line program. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dist.h"
#include "../core/typo.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: strata <command> [options]      (strata <command> --help or strata help <command> lists\n"
               "                                        its options; strata train SPEC --help those of SPEC's trainer)\n\n"
               "commands:\n"
               "  info [--json]                         backends, devices, plugins, ops, layers, optimizers\n"
               "  train SPEC --out DIR [--epochs N] [--steps N] [--backend NAME] [--seed S] [--batch-size B]\n"
               "                                        train a model spec (docs/spec.md): an image classifier\n"
               "                                        or a language model (data.format: text)\n"
               "  train SPEC --resume DIR [--checkpoint-every N] [--detect-anomaly] [...]\n"
               "                                        continue a run from its checkpoint, step for step;\n"
               "                                        --checkpoint-every N: also every N steps; --detect-anomaly:\n"
               "                                        stop at the first op giving NaN/Inf (docs/reliability.md);\n"
               "                                        (every trainer; strata train SPEC --help lists its options)\n"
               "  eval SPEC --checkpoint FILE [--backend NAME] [--per-class] [--json]\n"
               "                                        test loss and accuracy (validation loss for text,\n"
               "                                        exact match for data.format: seq2seq_reverse); without\n"
               "                                        SPEC, the run's spec.yaml beside the checkpoint\n"
               "  train SPEC --data DIR --task N|all --out DIR   (data.format: babi) a memory network on bAbI\n"
               "           [--repeats R] [--steps N]    (--resume DIR, --checkpoint-every N as above)\n"
               "  eval SPEC --checkpoint FILE --data DIR --task N|all [--json]\n"
               "                                        test error per bAbI task and the mean\n"
               "  predict SPEC --checkpoint FILE [IMAGE.png ...] [--input N ...] [--data FILE] [--csv FILE]\n"
               "                                        a trained classifier's top classes for PNG files, test\n"
               "                                        images or a safetensors file's examples (data.classes)\n"
               "  summary SPEC [--batch-size B] [--set KEY=VALUE ...] [--json]\n"
               "                                        a spec's model before training: each layer's type, output\n"
               "                                        shape and parameters, totals, memory (no data read)\n"
               "  inspect FILE|RUN [--tensors PATTERN] [--stats] [--json]\n"
               "                                        what a checkpoint (any safetensors file) holds: metadata,\n"
               "                                        each tensor's dtype, shape and size, optimizer state\n"
               "  export FILE|RUN --dtype f16|bf16|f32 --out FILE\n"
               "                                        a checkpoint's model in half precision (model.half())\n"
               "  report RUN [--out FILE]               RUN/report.html again: summary, training curves, images,\n"
               "                                        spec (the trainers write it at the end of a run)\n"
               "  pack-images TRAIN_DIR [TEST_DIR] --out PREFIX [--rgb]\n"
               "                                        your PNGs (DIR/CLASS/IMAGE.png) as IDX files to train on,\n"
               "                                        and the spec lines that name them\n"
               "  memnet-explain --checkpoint FILE --data DIR --task N --story S\n"
               "                                        a test story with each hop's attention\n"
               "  train GAN_SPEC --out DIR [--steps N]  (task: gan) a generator and a discriminator\n"
               "  train AE_SPEC --out DIR [--epochs N] [--steps N]   (task: autoencoder) an autoencoder;\n"
               "                                        both take --resume DIR, --checkpoint-every N,\n"
               "                                        --detect-anomaly, --quiet\n"
               "  sample --checkpoint RUN/generator.safetensors [--count N] --out FILE.png\n"
               "                                        a grid of a trained generator's samples\n"
               "  fid --classifier CKPT --generator CKPT [--real DIR] [--count N] [--json]\n"
               "                                        Frechet distance on a classifier's features\n"
               "  generate --checkpoint FILE [--spec SPEC] [--prime TEXT] [--length N] [--temperature T]\n"
               "           [--seed S] [--backend NAME]  sample text from a language model\n"
               "  bench [W1 ...] [--backend NAME] [--steps N] [--json] [--profile]\n"
               "                                        training throughput of the reference workloads\n"
               "  bench --op matmul --shape MxNxK       GFLOP/s of one op (also conv2d and its gradients)\n"
               "  visualize --checkpoint FILE --spec SPEC [--input N] --out DIR [--backend NAME]\n"
               "                                        PNGs of a ConvNet's input, filters and feature maps\n"
               "  babi-gen --task N|all --out DIR [--train Q] [--test Q] [--seed S]\n"
               "                                        write bAbI-format question-answering tasks (docs/babi.md)\n"
               "  check --backend NAME [--plugin FILE]  conformance of a backend's ops against ref, forward and\n"
               "                                        backward; exit status 1 on a failure (strata check --help)\n"
               "  version                               print the version and ABI\n\n"
               "environment: STRATA_BACKEND, STRATA_PLUGIN_PATH, STRATA_DEBUG=loader, STRATA_STRICT=1,\n"
               "             STRATA_NUM_THREADS, STRATA_CPU_CONV=auto|tiles|onednn (docs/user-guide.md)\n");
}

int cli_fail(const char *what, strata_status s)
{
    char note[512]; /* a spec line that a --set changed: the file holds something else there */
    cli_set_note(note, sizeof note, strata_last_error());
    fprintf(stderr, "strata: error: %s: %s: %s%s\n", what, strata_status_name(s), strata_last_error(), note);
    return 1;
}

int cli_read_int(const char *v, long long lo, long long hi, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long x = v ? strtoll(v, &end, 10) : 0;
    /* strtoll also skips leading blanks and takes a '+': refused here */
    const int digits = v && (isdigit((unsigned char)v[0]) || (v[0] == '-' && isdigit((unsigned char)v[1])));
    if (!digits || *end || errno || x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

int cli_read_real(const char *v, double *out)
{
    char *end = NULL;
    /* strtod also skips leading blanks, takes a '+', hex ("0x10"), "inf" and "nan": only a decimal number here */
    const char *m = v && v[0] == '-' ? v + 1 : v;
    const int digits = m && (isdigit((unsigned char)m[0]) || (m[0] == '.' && isdigit((unsigned char)m[1])));
    const double x = digits ? strtod(v, &end) : 0.0;
    if (!digits || *end || !isfinite(x) || strpbrk(v, "xXpP"))
        return -1;
    *out = x;
    return 0;
}

const char *cli_int_range(char *buf, size_t size, long long lo, long long hi)
{
    if (hi == LLONG_MAX)
        snprintf(buf, size, "a whole number >= %lld", lo);
    else
        snprintf(buf, size, "a whole number in [%lld, %lld]", lo, hi);
    return buf;
}

int cli_parse_int(const char *opt, const char *v, long long lo, long long hi, int64_t *out)
{
    char range[96];
    if (cli_read_int(v, lo, hi, out)) {
        fprintf(stderr, "strata: error: %s must be %s, got '%s'\n", opt, cli_int_range(range, sizeof range, lo, hi),
                v ? v : "");
        return 2;
    }
    return 0;
}

/* Under mpirun with several ranks, anything but `strata train` would run N
 * times over, each writing the same files. */
static int single_process_only(const char *cmd, const char *fmt, const char *task)
{
    char kind[160] = "";
    if (fmt)
        snprintf(kind, sizeof kind, " (this spec's data.format is %s%s%s)", fmt, *task ? ", task " : "", task);
    fprintf(stderr, "strata: error: `strata %s`%s runs as one process, and an MPI launcher started %d: data-parallel "
                    "training covers `strata train` alone; run this without mpirun\n",
            cmd, kind, dist_launched_size());
    return 2;
}

/* `mpirun -np N strata train SPEC ...` (dist.h): rank 0 prints, the others'
 * standard output goes nowhere (their errors still show). A rank that fails
 * alone takes the others down with it (MPI_Abort) instead of leaving them
 * waiting for it. */
static int train_data_parallel(int (*cmd)(int argc, char **argv), int argc, char **argv)
{
    if (dist_start())
        return 1;
    if (!dist_is_root() && !freopen("/dev/null", "w", stdout)) {
        fprintf(stderr, "strata: error: rank %d: cannot send its standard output to /dev/null\n", dist_rank());
        return dist_end(1);
    }
    const int r = cmd(argc, argv);
    train_replaced_settle(r); /* before dist_end: MPI_Abort ends the process */
    return dist_end(r);
}

/* 1 when --help or -h is among @p argv's @p argc words: help asked for, whatever else the line holds. */
static int asks_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return 1;
    return 0;
}

/* The commands that take their arguments as they are (train and eval pick a
 * trainer by the spec; version is below). */
static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} plain_commands[] = {
    {"info", cmd_info},
    {"sample", cmd_gan_sample},
    {"fid", cmd_fid},
    {"memnet-explain", cmd_memnet_explain},
    {"generate", cmd_generate},
    {"bench", cmd_bench},
    {"visualize", cmd_visualize},
    {"predict", cmd_predict},
    {"summary", cmd_summary},
    {"inspect", cmd_inspect},
    {"export", cmd_export},
    {"pack-images", cmd_pack_images},
    {"report", cmd_report},
    {"check", cmd_check},
    {"babi-gen", cmd_babi_gen},
};
#define N_PLAIN_COMMANDS (sizeof plain_commands / sizeof plain_commands[0])

static int run_command(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "help") && strcmp(argv[2], "help")) {
        /* `strata help train [SPEC]` is `strata train [SPEC] --help`, as in git:
         * argv's words shift left one and --help takes the last place */
        memmove(argv + 1, argv + 2, (size_t)(argc - 2) * sizeof *argv);
        argv[argc - 1] = "--help";
        return run_command(argc, argv);
    }
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "train") || !strcmp(cmd, "eval")) {
        /* the data format picks the trainer: images, text, seq2seq, bAbI */
        char fmt[32], task[32];
        const int train = !strcmp(cmd, "train");
        if (train) /* Ctrl-C saves the run where it stands (interrupt.c) */
            cli_catch_interrupts(argc - 1, argv + 1);
        const char *spec = NULL;
        int e = cli_data_format(argc - 1, argv + 1, fmt, sizeof fmt, task, sizeof task, &spec);
        const int gan_eval = !e && !train && !strcmp(task, "gan");
        if ((e || gan_eval) && asks_help(argc - 2, argv + 2)) {
            /* the help the spec would pick cannot be had: the command's own, rather than only an error */
            if (e)
                fprintf(stderr, "strata: note: the spec %s could not be read (above): the options of `strata %s` "
                                "without a spec follow\n",
                        spec, cmd);
            else
                fprintf(stderr, "strata: note: a GAN has no test set to evaluate (`strata sample` and `strata fid` "
                                "take its run): the options of `strata eval` for other specs follow\n");
            char *generic[] = {argv[1], "--help", NULL};
            return CLI_EXIT((train ? cmd_train : cmd_eval)(2, generic));
        }
        if (e)
            return e;
        /* every trainer shares its steps across the ranks (run_step, dist_update); evaluation is one process's */
        if (dist_launched_size() > 1 && !train)
            return single_process_only("eval", fmt, task);
        /* `strata eval --checkpoint RUN` tests with the spec the run recorded, RUN/spec.yaml, as SPEC */
        char **args = argv + 1, *with_spec[argc + 1];
        if (!train && cli_implied_spec) {
            with_spec[0] = argv[1];
            with_spec[1] = (char *)cli_implied_spec;
            memcpy(with_spec + 2, argv + 2, sizeof *argv * (size_t)(argc - 2));
            with_spec[argc] = NULL;
            args = with_spec, argc++;
            fprintf(stderr, "strata: eval: the spec is %s, %s\n", cli_implied_spec, cli_implied_how);
        }
        int (*run)(int argc, char **argv) = train ? cmd_train : cmd_eval;
        if (!strcmp(fmt, "seq2seq_reverse"))
            run = train ? cmd_s2s_train : cmd_s2s_eval;
        else if (!strcmp(fmt, "babi"))
            run = train ? cmd_memnet_train : cmd_memnet_eval;
        else if (!strcmp(task, "autoencoder"))
            run = train ? cmd_ae_train : cmd_ae_eval;
        else if (!strcmp(task, "gan") && !train) {
            fprintf(stderr, "strata: error: a GAN has no test set to evaluate; use `strata sample` or `strata fid`\n");
            return 2;
        } else if (!strcmp(task, "gan"))
            run = cmd_gan_train;
        else if (train && (!strcmp(fmt, "text") || !strcmp(task, "language_model")))
            run = cmd_train_text;
        if (train && dist_launched_size() > 1)
            return train_data_parallel(run, argc - 1, argv + 1);
        const int r = run(argc - 1, args);
        if (train)
            train_replaced_settle(r);
        return r;
    }
    for (size_t k = 0; k < N_PLAIN_COMMANDS; k++)
        if (!strcmp(cmd, plain_commands[k].name))
            return dist_launched_size() > 1 ? single_process_only(cmd, NULL, NULL)
                                            : plain_commands[k].run(argc - 1, argv + 1);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        const cli_opt none[] = {{0}};
        const cli_command c = {.name = "version", .opts = none, .synopsis = "",
                               .about = "Prints the version of strata and libstrata and the ABI it implements."};
        int r = cli_parse(&c, argc - 1, argv + 1);
        if (r)
            return CLI_EXIT(r);
        uint32_t ma, mi;
        strata_abi_version(&ma, &mi);
        printf("strata %s (ABI %u.%u)\n", strata_version_string(), ma, mi);
        return 0;
    }
    const char *commands[N_PLAIN_COMMANDS + 4] = {"train", "eval", "version", "help"};
    int n = 4;
    for (size_t k = 0; k < N_PLAIN_COMMANDS; k++)
        commands[n++] = plain_commands[k].name;
    const char *hint = st_typo_closest(cmd, commands, n);
    if (hint)
        fprintf(stderr, "strata: error: unknown command '%s'; did you mean '%s'? (`strata help` lists them)\n", cmd,
                hint);
    else
        fprintf(stderr, "strata: error: unknown command '%s'; `strata help` lists the commands\n", cmd);
    return 2;
}

int main(int argc, char **argv)
{
    /* A reader that goes away (`strata predict --csv F | head`) does not kill the
     * command half-way through the files it writes (F.tmp.PID left behind): its
     * standard output fails quietly and the command finishes (commands that
     * only stream to it, generate and predict, stop). */
    signal(SIGPIPE, SIG_IGN);
    int r = run_command(argc, argv);
    cli_runtime_release_parked();
    if (!r && (fflush(stdout) != 0 || ferror(stdout))) {
        const int e = errno;
        if (e != EPIPE) /* a reader that went away: the status SIGPIPE would give, quietly */
            fprintf(stderr, "strata: error: writing standard output: %s\n", strerror(e));
        r = e == EPIPE ? 128 + SIGPIPE : 1;
    }
    return r;
}
