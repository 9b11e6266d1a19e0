/* cmd_export.c - `strata export FILE|RUN --dtype f16|bf16|f32 --out FILE`:
 * a checkpoint's model with its float tensors stored in another precision
 * (strata_checkpoint_convert), as PyTorch's model.half().state_dict() or
 * .bfloat16() saves it: half the bytes for inference or sharing, loadable
 * by `strata eval` and `strata predict` (into f32 again) and by PyTorch.
 * The optimizer's state is left out. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

typedef struct {
    const char *path, *dtype, *out;
} export_args;

/* The dtypes --dtype takes, PyTorch's names too. */
static const struct {
    const char *name;
    strata_dtype dtype;
} export_dtypes[] = {
    {"f16", STRATA_F16},     {"float16", STRATA_F16},  {"half", STRATA_F16}, {"bf16", STRATA_BF16},
    {"bfloat16", STRATA_BF16}, {"f32", STRATA_F32}, {"float32", STRATA_F32}, {"float", STRATA_F32},
};

static int parse_args(int argc, char **argv, export_args *a, strata_dtype *dtype)
{
    memset(a, 0, sizeof *a);
    const cli_opt opts[] = {
        {.name = "--dtype", .type = CLI_STRING, .dst = &a->dtype, .value = "f16|bf16|f32",
         .help = "the float tensors' dtype in the copy (float16/half, bfloat16, float32 too)"},
        {.name = "--out", .type = CLI_STRING, .dst = &a->out, .value = "FILE",
         .help = "the copy to write (atomically; may be FILE itself, unless FILE holds an optimizer's state)"},
        {0},
    };
    const cli_command c = {
        .name = "export",
        .synopsis = "FILE|RUN --dtype f16|bf16|f32 --out FILE",
        .about = "A checkpoint's model with every float tensor stored as f16, bf16 or f32 (PyTorch's model.half(),\n"
                 ".bfloat16() or .float() state dict), rounded to nearest even; integer tensors and metadata are\n"
                 "kept, the optimizer's state is left out.",
        .positional = &a->path,
        .opts = opts,
        .notes = "A run directory RUN stands for RUN/checkpoint.safetensors. The copy loads where the checkpoint\n"
                 "did (strata eval, predict, generate: into f32 parameters) and into PyTorch after .half() or\n"
                 ".bfloat16(); f16 keeps about 3 significant digits and values up to 65504, bf16 about 2 and f32's\n"
                 "range.",
    };
    int r = cli_parse(&c, argc, argv);
    if (!r)
        r = cli_require(&c, a->path, "FILE (a checkpoint or a run directory)");
    if (!r)
        r = cli_require(&c, a->dtype, "--dtype f16|bf16|f32");
    if (!r)
        r = cli_require(&c, a->out, "--out FILE");
    if (r)
        return r;
    for (size_t k = 0; k < sizeof export_dtypes / sizeof export_dtypes[0]; k++)
        if (!strcmp(a->dtype, export_dtypes[k].name)) {
            *dtype = export_dtypes[k].dtype;
            return 0;
        }
    return cli_usage_error(&c, "--dtype '%s': expected f16, bf16 or f32 (or float16, half, bfloat16, float32)",
                           a->dtype);
}

/* 1 when checkpoint @p path records an optimizer (its "optimizer" metadata, a type name); a file that cannot
 * be read is not taken for one: its own error comes with the export. */
static int optimizer_state(const char *path)
{
    char type[512];
    return strata_checkpoint_metadata(path, "optimizer", type, sizeof type) == STRATA_OK;
}

int cmd_export(int argc, char **argv)
{
    export_args a;
    strata_dtype dtype = STRATA_F32;
    int r = parse_args(argc, argv, &a, &dtype);
    if (r)
        return CLI_EXIT(r);
    char buf[4200];
    const char *src = a.path;
    struct stat st;
    if (stat(a.path, &st) == 0 && S_ISDIR(st.st_mode) && cli_run_checkpoint(a.path, buf, sizeof buf, &src))
        return 1;
    const long long before = stat(src, &st) == 0 ? (long long)st.st_size : -1;
    /* the copy over a checkpoint that a run resumes from would drop its optimizer's state for good */
    struct stat dst;
    if (before >= 0 && stat(a.out, &dst) == 0 && dst.st_dev == st.st_dev && dst.st_ino == st.st_ino &&
        optimizer_state(src)) {
        fprintf(stderr, "strata: error: export: --out %s is %s itself, which holds its optimizer's state: the copy "
                        "over it would drop it, and `--resume` of its run with it; write the copy elsewhere\n",
                a.out, src);
        return 1;
    }
    strata_status s = strata_checkpoint_convert(src, a.out, dtype);
    if (s != STRATA_OK)
        return cli_fail("export", s);
    const long long after = stat(a.out, &st) == 0 ? (long long)st.st_size : -1;
    printf("wrote %s: the model of %s as %s, %lld bytes (the checkpoint: %lld)\n", a.out, src,
           strata_dtype_name(dtype), after, before);
    return 0;
}
