/* cli_opts.c - the commands' options, read from a table: one parser, so
 * every command takes --help, names itself in its errors and words them
 * the same way (before 2026-12-02 each command had its own loop, and
 * `strata train --help` was an unknown option). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "../core/typo.h"

/* An option the command in mode @p mode takes. */
static int opt_in_mode(const cli_opt *o, unsigned mode)
{
    return !o->modes || (o->modes & mode);
}

static const cli_opt *find_opt(const cli_command *c, const char *name)
{
    for (const cli_opt *o = c->opts; o && o->name; o++)
        if (opt_in_mode(o, c->mode) && !strcmp(o->name, name))
            return o;
    return NULL;
}

/* The name in directory @p dir closest to @p base (st_typo_closest over its
 * first 512 entries: a hint, not a search), into @p out; 0 when none is. */
static int closest_in_dir(const char *dir, const char *base, char *out, size_t size)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    enum { MAX_FILES = 512 };
    static char names[MAX_FILES][256]; /* static: 128 KiB; the CLI calls this on its way out */
    const char *list[MAX_FILES];
    int n = 0;
    for (struct dirent *e; n < MAX_FILES && (e = readdir(d));)
        if (e->d_name[0] != '.') {
            snprintf(names[n], sizeof names[n], "%s", e->d_name);
            list[n] = names[n];
            n++;
        }
    closedir(d);
    const char *hit = st_typo_closest(base, list, n);
    if (hit)
        snprintf(out, size, "%s", hit);
    return hit != NULL;
}

void cli_hint_missing_file(const char *path, const char *spec_ext)
{
    struct stat st;
    if (!path || !*path || stat(path, &st) == 0 || errno != ENOENT)
        return;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char dir[4096], hit[256];
    if (!*base || snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".") >=
                      (int)sizeof dir)
        return;
    /* "mlp-fashion": a spec named without its extension (too far from NAME.yaml for a typo) */
    const char *ext = strchr(base, '.') || !spec_ext ? "" : spec_ext;
    char with_ext[4200];
    snprintf(with_ext, sizeof with_ext, "%s%s", path, ext);
    if (ext[0] && stat(with_ext, &st) == 0 && S_ISREG(st.st_mode))
        fprintf(stderr, "strata: note: did you mean '%s'?\n", with_ext);
    else if (closest_in_dir(dir, base, hit, sizeof hit))
        fprintf(stderr, "strata: note: did you mean '%.*s%s'?\n", (int)(base - path), path, hit);
    else if (!slash) { /* a spec named from the checkout's root: models/NAME, or a name close to it */
        char in_models[4200];
        snprintf(in_models, sizeof in_models, "models/%s%s", base, ext);
        if ((stat(in_models, &st) == 0 && S_ISREG(st.st_mode) && snprintf(hit, sizeof hit, "%s%s", base, ext) >= 0) ||
            closest_in_dir("models", base, hit, sizeof hit))
            fprintf(stderr, "strata: note: did you mean 'models/%s'?\n", hit);
    }
}

int cli_fail_file(const char *what, strata_status s, const char *path)
{
    cli_fail(what, s);
    cli_hint_missing_file(path, !strcmp(what, "loading the spec") ? ".yaml" : "");
    return 1;
}

/* The synopsis lines, each after "usage: strata NAME ". */
static void print_synopsis(const cli_command *c, FILE *f)
{
    const char *s = c->synopsis ? c->synopsis : "[options]";
    if (!*s) /* a command that takes nothing */
        fprintf(f, "usage: strata %s\n", c->name);
    for (int first = 1; *s; first = 0) {
        size_t n = strcspn(s, "\n");
        fprintf(f, "%s strata %s %.*s\n", first ? "usage:" : "      ", c->name, (int)n, s);
        s += n + (s[n] == '\n');
    }
}

void cli_print_help(const cli_command *c, FILE *f)
{
    print_synopsis(c, f);
    if (c->about)
        fprintf(f, "\n%s\n", c->about);
    fprintf(f, "\noptions:\n");
    for (const cli_opt *o = c->opts; o && o->name; o++) {
        if (!opt_in_mode(o, c->mode))
            continue;
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", o->name, o->value ? " " : "", o->value ? o->value : "");
        fprintf(f, "  %-24s %s\n", left, o->help ? o->help : "");
    }
    fprintf(f, "  %-24s %s\n", "-h, --help", "print this help and exit");
    if (c->notes)
        fprintf(f, "\n%s\n", c->notes);
}

int cli_usage_error(const cli_command *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "strata: error: %s: ", c->name);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    /* train and eval pick their options by the spec's kind */
    const int by_spec = !strcmp(c->name, "train") || !strcmp(c->name, "eval");
    fprintf(stderr, "; `strata %s%s --help` lists the options%s\n", c->name, by_spec ? " SPEC" : "",
            by_spec ? " of SPEC's trainer" : "");
    return 2;
}

/* @p v, or v/@p file when @p v is a directory that holds that file (then in
 * static storage: a command line has a few such options at most). */
static const char *in_dir(const char *v, const char *file)
{
    static char joined[8][4096];
    static int used;
    struct stat st;
    if (used == 8 || stat(v, &st) != 0 || !S_ISDIR(st.st_mode))
        return v;
    char *buf = joined[used];
    int n = snprintf(buf, sizeof joined[0], "%s%s%s", v, v[strlen(v) - 1] == '/' ? "" : "/", file);
    if (n < 0 || (size_t)n >= sizeof joined[0] || stat(buf, &st) != 0)
        return v;
    used++;
    return buf;
}

/* Every option of every command that takes no value: what cli_data_format
 * skips without a value when it looks for the spec on a command line (it
 * runs before the command's own table is known). cli_parse refuses a table
 * with a flag that is not here, so a new flag cannot be forgotten. */
static const char *const flag_names[] = {"--help", "-h", "--json", "--quiet", "--detect-anomaly", "--per-class",
                                         "--invert", "--rgb", "--profile", "--all", "--verbose", "--verify", "--stats",
                                         NULL};

int cli_is_flag(const char *arg)
{
    for (int k = 0; flag_names[k]; k++)
        if (!strcmp(arg, flag_names[k]))
            return 1;
    return 0;
}

/* The option of @p c (in its mode, or --help) that @p typed is a likely typo of, or NULL. */
static const char *closest_opt(const cli_command *c, const char *typed)
{
    enum { MAX_OPTS = 64 };
    const char *names[MAX_OPTS] = {"--help"};
    int n = 1;
    for (const cli_opt *o = c->opts; o && o->name && n < MAX_OPTS; o++)
        if (opt_in_mode(o, c->mode))
            names[n++] = o->name;
    return st_typo_closest(typed, names, n);
}

int cli_parse(const cli_command *c, int argc, char **argv)
{
    for (const cli_opt *o = c->opts; o && o->name; o++)
        if (o->type == CLI_FLAG && !cli_is_flag(o->name)) {
            fprintf(stderr, "strata: internal error: %s: the flag %s is missing from cli_opts.c's flag_names\n",
                    c->name, o->name);
            return 2;
        }
    const int max_positional = c->max_positional > 0 ? c->max_positional : 1;
    int n_positional = 0;
    /* An option that gives what the positional argument gives (`--spec SPEC` beside SPEC): with both, the last
     * replaced the other without a word. */
    const cli_opt *as_positional = NULL;
    const char *positional_arg = NULL;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            cli_print_help(c, stdout);
            return CLI_HELP;
        }
        if (arg[0] != '-' || !arg[1]) {
            if (!c->positional || n_positional == max_positional)
                return cli_usage_error(c, "unexpected argument '%s'", arg);
            if (as_positional && !n_positional)
                return cli_usage_error(c, "the spec is given twice (%s and %s %s); give it once", arg,
                                       as_positional->name, c->positional[0]);
            positional_arg = n_positional ? positional_arg : arg;
            c->positional[n_positional++] = arg;
            if (c->n_positional)
                *c->n_positional = n_positional;
            continue;
        }
        const cli_opt *o = find_opt(c, arg);
        int elsewhere = 0; /* an option of the command in another mode (a classifier's --epochs) */
        for (const cli_opt *p = c->opts; !o && p && p->name; p++)
            elsewhere |= (p->modes & c->other_modes) && !strcmp(p->name, arg);
        if (!o && elsewhere)
            return cli_usage_error(c, "option '%s' does not apply to this spec", arg);
        const char *eq = strchr(arg, '=');
        char name[64];
        const cli_opt *named = !o && eq && snprintf(name, sizeof name, "%.*s", (int)(eq - arg), arg) < (int)sizeof name
                                   ? find_opt(c, name)
                                   : NULL;
        if (named && named->type == CLI_FLAG) /* not "give the value as the next argument": it takes none */
            return cli_usage_error(c, "'%s': %s is a flag and takes no value", arg, name);
        if (named)
            return cli_usage_error(c, "'%s': give the value as the next argument (%s %s)", arg, name, eq + 1);
        if (!o) {
            const char *hint = closest_opt(c, arg);
            return cli_usage_error(c, "unknown option '%s'%s%s%s", arg, hint ? " (did you mean '" : "",
                                   hint ? hint : "", hint ? "'?)" : "");
        }
        if (o->type == CLI_FLAG) {
            *(int *)o->dst = 1;
        } else {
            /* `--out --help` or `--out --json` is a forgotten value, not a directory named --json, whether or
             * not the command takes that option (-1 still reaches a number's range check) */
            const char *v = i + 1 < argc ? argv[i + 1] : NULL;
            const int option_like =
                v && (!strcmp(v, "-h") || (v[0] == '-' && v[1] == '-' && isalpha((unsigned char)v[2])));
            if (!v || (option_like && (!o->text || !strcmp(v, "--help"))) || (o->nonempty && !*v))
                return cli_usage_error(c, "%s needs a value (%s)", arg, o->value);
            i++;
            if (o->type == CLI_STRING && c->positional && o->dst == (void *)c->positional) {
                if (positional_arg)
                    return cli_usage_error(c, "the spec is given twice (%s and %s %s); give it once", positional_arg,
                                           arg, v);
                as_positional = o;
            }
            if (o->type == CLI_STRING) {
                *(const char **)o->dst = o->in_dir ? in_dir(v, o->in_dir) : v;
            } else if (o->type == CLI_LIST) {
                if (*o->given >= o->hi) /* a list counts its values in given */
                    return cli_usage_error(c, "%s is given more than %lld times", arg, o->hi);
                ((const char **)o->dst)[*o->given] = v;
            } else if (cli_read_int(v, o->lo, o->hi, (int64_t *)o->dst)) { /* named by its command, as the rest */
                char range[96];
                cli_int_range(range, sizeof range, o->lo, o->hi);
                return cli_usage_error(c, "%s must be %s, got '%s'", arg, range, v);
            }
        }
        if (o->given)
            (*o->given)++;
    }
    return 0;
}

int cli_require(const cli_command *c, const char *value, const char *what)
{
    if (value && *value)
        return 0;
    fprintf(stderr, "strata: error: %s needs %s\n", c->name, what);
    print_synopsis(c, stderr);
    return 2;
}
