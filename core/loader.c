/* loader.c - plugin discovery and loading (DESIGN.md rules 3, 4, 8, 9).
 *
 * Search order: the runtime option's path, STRATA_PLUGIN_PATH, lib/strata
 * next to libstrata.so (found with dladdr), then JSON manifests in the
 * system directory ($STRATA_MANIFEST_DIR or /etc/strata/plugins.d) and the
 * user directory ($XDG_CONFIG_HOME/strata/plugins.d or
 * ~/.config/strata/plugins.d). Every file is de-duplicated by real path.
 * A plugin that fails is recorded with its reason and skipped, except when
 * memory ran out: then discovery fails (the runtime is not created), as a
 * run without the plugin would fail later with a misleading "unknown layer".
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "internal.h"

static void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void trace(const char *fmt, ...)
{
    if (!st_debug_enabled("loader"))
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("strata: loader: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

st_plugin *st_plugin_new(strata_runtime *rt, const char *name, const char *path, const char *origin)
{
    if (st_grow((void **)&rt->plugins, &rt->cap_plugins, rt->n_plugins + 1, sizeof *rt->plugins))
        return NULL;
    st_plugin *p = st_calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->handle.rt = rt;
    p->handle.index = rt->n_plugins;
    p->name = st_strdup(name ? name : "");
    p->path = st_strdup(path ? path : "");
    p->origin = st_strdup(origin ? origin : "");
    p->version = st_strdup("");
    p->reason = st_strdup("");
    if (!p->name || !p->path || !p->origin || !p->version || !p->reason) {
        free(p->name);
        free(p->path);
        free(p->origin);
        free(p->version);
        free(p->reason);
        free(p);
        return NULL;
    }
    rt->plugins[rt->n_plugins++] = p;
    return p;
}

/* Replaces *dst by a copy of @p v; out of memory leaves *dst and returns nonzero. */
static int set_str(char **dst, const char *v)
{
    char *d = st_strdup(v ? v : "");
    if (!d)
        return 1;
    free(*dst);
    *dst = d;
    return 0;
}

/* Notes the first out-of-memory failure of loading (what: "plugin PATH: ...")
 * for st_plugin_discover; returns STRATA_E_NOMEM. */
static strata_status out_of_memory(strata_runtime *rt, const char *what)
{
    if (!rt->load_nomem[0])
        snprintf(rt->load_nomem, sizeof rt->load_nomem, "%.*s", (int)sizeof rt->load_nomem - 1, what);
    trace("  out of memory: %s", what);
    return st_error(STRATA_E_NOMEM, "%s", what);
}

/* Records a failure on @p p and returns @p s with the message. */
static strata_status fail(st_plugin *p, strata_status s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static strata_status fail(st_plugin *p, strata_status s, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->loaded = 0;
    p->status = s;
    set_str(&p->reason, msg); /* out of memory: the message still goes back as the error */
    trace("  skipped %s: %s", p->path, msg);
    if (s == STRATA_E_NOMEM) {
        char what[sizeof msg + PATH_MAX + 16];
        snprintf(what, sizeof what, "plugin %s: %s", p->path, msg);
        return out_of_memory(p->handle.rt, what);
    }
    return st_error(s, "plugin %s: %s", p->path, msg);
}

/* st_plugin_new failed for @p path */
static strata_status no_record(strata_runtime *rt, const char *path)
{
    char what[PATH_MAX + 64];
    snprintf(what, sizeof what, "plugin %s: out of memory recording it", path);
    return out_of_memory(rt, what);
}

static st_plugin *find_by_path(strata_runtime *rt, const char *real)
{
    for (int k = 0; k < rt->n_plugins; k++)
        if (rt->plugins[k]->path[0] && !strcmp(rt->plugins[k]->path, real))
            return rt->plugins[k];
    return NULL;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* How a plugin was found, in the words of the search order above. */
static const char *origin_words(const char *origin)
{
    static const char *const words[][2] = {
        {"option", "the runtime's plugin path option"}, {"path", "STRATA_PLUGIN_PATH"},
        {"libdir", "the bundled plugin directory"},     {"manifest", "a manifest"},
        {"explicit", "strata_plugin_load"},             {"builtin", "built in"},
    };
    for (size_t k = 0; k < sizeof words / sizeof words[0]; k++)
        if (!strcmp(origin, words[k][0]))
            return words[k][1];
    return origin;
}

/* Loads one shared object. Duplicates (same real path) give E_EXISTS and
 * leave no new record. */
static strata_status load_file(strata_runtime *rt, const char *path, const char *origin)
{
    char real[PATH_MAX];
    trace("trying %s (%s)", path, origin);
    if (!realpath(path, real)) {
        int e = errno;
        st_plugin *p = st_plugin_new(rt, base_name(path), path, origin);
        if (!p)
            return no_record(rt, path);
        return fail(p, STRATA_E_NOT_FOUND, "cannot resolve path: %s", strerror(e));
    }
    st_plugin *prev = find_by_path(rt, real);
    if (prev) {
        trace("  skipped %s: same file as an earlier entry (duplicate)", real);
        return st_error(STRATA_E_EXISTS, "plugin %s is already %s", real, prev->loaded ? "loaded" : "recorded");
    }
    st_plugin *p = st_plugin_new(rt, base_name(real), real, origin);
    if (!p)
        return no_record(rt, real);
    dlerror();
    void *dl = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *why = dlerror();
        return fail(p, STRATA_E_PLUGIN, "dlopen failed (unresolved dependency or not a shared object): %s",
                    why ? why : "unknown error");
    }
    strata_plugin_entry_fn entry = NULL;
    *(void **)&entry = dlsym(dl, STRATA_PLUGIN_ENTRY_SYMBOL);
    if (!entry) {
        dlclose(dl);
        return fail(p, STRATA_E_PLUGIN, "missing entry symbol '%s' (not a Strata plugin?)",
                    STRATA_PLUGIN_ENTRY_SYMBOL);
    }
    const strata_plugin_desc *desc = entry();
    /* the ABI version first (it stands at the same place in every major's descriptor), so a plugin of
     * another major is told so whatever its descriptor's size */
    const size_t with_abi = offsetof(strata_plugin_desc, abi_minor) + sizeof(desc->abi_minor);
    const size_t v10 = offsetof(strata_plugin_desc, shutdown) + sizeof(desc->shutdown);
    if (!desc || desc->struct_size < with_abi) {
        dlclose(dl);
        return fail(p, STRATA_E_PLUGIN, "entry returned %s", desc ? "a descriptor too small to hold its ABI version"
                                                                  : "NULL");
    }
    p->abi_major = desc->abi_major;
    p->abi_minor = desc->abi_minor;
    if (desc->struct_size >= offsetof(strata_plugin_desc, version) + sizeof(desc->version)) {
        /* the name also for a message about another major, as its 1.x place */
        if ((desc->name && *desc->name && set_str(&p->name, desc->name)) || set_str(&p->version, desc->version)) {
            dlclose(dl);
            return fail(p, STRATA_E_NOMEM, "out of memory copying the descriptor's name and version");
        }
    }
    if (desc->abi_major != STRATA_ABI_MAJOR) {
        dlclose(dl);
        /* desc lived in the unmapped library: use the copies in p */
        return fail(p, STRATA_E_ABI, "plugin '%s' was built for Strata ABI %u.%u; this libstrata provides ABI %d.%d",
                    p->name, p->abi_major, p->abi_minor, STRATA_ABI_MAJOR, STRATA_ABI_MINOR);
    }
    if (desc->struct_size < v10) {
        dlclose(dl);
        return fail(p, STRATA_E_PLUGIN, "entry returned a descriptor of %zu bytes; ABI %u.x descriptors have %zu",
                    desc->struct_size, desc->abi_major, v10);
    }
    if (desc->abi_minor > STRATA_ABI_MINOR)
        trace("  %s was built for ABI %u.%u, newer than this libstrata's %d.%d: it is loaded and told "
              "host->abi_minor = %d, and must use only what that minor provides",
              real, p->abi_major, p->abi_minor, STRATA_ABI_MAJOR, STRATA_ABI_MINOR, STRATA_ABI_MINOR);
    for (int k = 0; k < rt->n_plugins; k++) {
        st_plugin *o = rt->plugins[k];
        if (o != p && o->loaded && !strcmp(o->name, p->name)) {
            dlclose(dl);
            /* a plugin earlier in the search order takes the name: said on stderr, since a bundled backend or
             * layer plugin left out changes what runs (the default device, the layers there are) */
            st_log(rt, STRATA_LOG_WARN, "plugin %s (%s) is not loaded: a plugin named '%s' is already loaded from %s (%s)",
                   real, origin_words(origin), p->name, o->path[0] ? o->path : "libstrata itself",
                   origin_words(o->origin));
            return fail(p, STRATA_E_EXISTS, "a plugin named '%s' is already loaded from %s", p->name,
                        o->path[0] ? o->path : "libstrata itself");
        }
    }
    if (!desc->init) {
        dlclose(dl);
        return fail(p, STRATA_E_PLUGIN, "descriptor has no init function");
    }
    p->dl = dl;
    p->desc = desc;
    strata_clear_error();
    p->in_init = 1;
    p->refused = 0;
    p->out_of_memory = 0;
    strata_status rc = desc->init(&st_host_api, &p->handle, &p->user);
    p->in_init = 0;
    if (rc == STRATA_OK && p->refused) {
        /* a plugin half registered is worse than none */
        st_unregister_plugin(rt, p);
        p->dl = NULL;
        p->desc = NULL;
        dlclose(dl);
        return fail(p, p->out_of_memory ? STRATA_E_NOMEM : STRATA_E_PLUGIN,
                    "init returned STRATA_OK but %d registration(s) were refused; the first: %s", p->refused,
                    p->refusal);
    }
    if (rc != STRATA_OK) {
        char why[1024];
        snprintf(why, sizeof why, "%s", strata_last_error());
        st_unregister_plugin(rt, p);
        p->dl = NULL;
        p->desc = NULL;
        dlclose(dl);
        return fail(p, rc == STRATA_E_NOMEM || p->out_of_memory ? STRATA_E_NOMEM : STRATA_E_PLUGIN,
                    "init failed with %s: %s", strata_status_name(rc), why[0] ? why : "(no message)");
    }
    p->loaded = 1;
    p->status = STRATA_OK;
    trace("  loaded %s: plugin '%s' %s, ABI %u.%u", real, p->name, p->version, p->abi_major, p->abi_minor);
    return STRATA_OK;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists entries of @p dir ending in @p suffix, sorted, and calls @p fn. */
static void scan_dir(strata_runtime *rt, const char *dir, const char *suffix, const char *origin,
                     strata_status (*fn)(strata_runtime *, const char *, const char *))
{
    DIR *d = opendir(dir);
    if (!d) {
        trace("directory %s: %s", dir, strerror(errno));
        return;
    }
    trace("scanning %s", dir);
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !has_suffix(e->d_name, suffix))
            continue;
        char *full = NULL;
        if (st_grow((void **)&names, &cap, n + 1, sizeof *names) ||
            !(full = st_malloc(strlen(dir) + strlen(e->d_name) + 2))) {
            char what[PATH_MAX + 64];
            snprintf(what, sizeof what, "listing plugin directory %s: out of memory", dir);
            out_of_memory(rt, what);
            break;
        }
        sprintf(full, "%s/%s", dir, e->d_name);
        names[n++] = full;
    }
    closedir(d);
    if (n)
        qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int k = 0; k < n; k++) {
        fn(rt, names[k], origin);
        free(names[k]);
    }
    free(names);
}

static strata_status load_path_entry(strata_runtime *rt, const char *entry, const char *origin)
{
    struct stat sb;
    if (stat(entry, &sb) != 0) {
        trace("%s: %s", entry, strerror(errno));
        return STRATA_OK;
    }
    if (S_ISDIR(sb.st_mode))
        scan_dir(rt, entry, ".so", origin, load_file);
    else
        load_file(rt, entry, origin);
    return STRATA_OK;
}

static void load_path_list(strata_runtime *rt, const char *list, const char *origin)
{
    if (!list || !*list)
        return;
    char *copy = st_strdup(list);
    if (!copy) {
        out_of_memory(rt, "reading the plugin path list: out of memory");
        return;
    }
    char *save = NULL;
    for (char *tok = strtok_r(copy, ":", &save); tok; tok = strtok_r(NULL, ":", &save))
        if (*tok)
            load_path_entry(rt, tok, origin);
    free(copy);
}

/* A manifest is {"library": "path.so"} (relative to the manifest's
 * directory unless absolute), optionally with "name" and "abi". */
static strata_status load_manifest(strata_runtime *rt, const char *path, const char *origin)
{
    json_error_t jerr;
    trace("reading manifest %s", path);
    json_t *root = json_load_file(path, 0, &jerr);
    const char *why = NULL;
    char buf[512];
    if (!root) {
        snprintf(buf, sizeof buf, "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
        why = buf;
    } else if (!json_is_object(root)) {
        why = "the manifest must be a JSON object";
    } else {
        json_t *lib = json_object_get(root, "library");
        if (!json_is_string(lib) || !*json_string_value(lib))
            why = "missing string field \"library\"";
    }
    if (why) {
        char real[PATH_MAX];
        const char *rp = realpath(path, real) ? real : path;
        if (find_by_path(rt, rp)) {
            json_decref(root);
            return st_error(STRATA_E_EXISTS, "manifest %s is already recorded (bad manifest: %s)", rp, why);
        }
        st_plugin *p = st_plugin_new(rt, base_name(path), rp, origin);
        json_decref(root);
        if (!p)
            return no_record(rt, rp);
        return fail(p, STRATA_E_FORMAT, "bad manifest: %s", why);
    }
    const char *lib = json_string_value(json_object_get(root, "library"));
    char full[2 * PATH_MAX], real[PATH_MAX];
    if (lib[0] == '/') {
        snprintf(full, sizeof full, "%s", lib);
    } else { /* beside the manifest itself, also when it is reached through a link */
        const char *at = realpath(path, real) ? real : path, *slash = strrchr(at, '/');
        int dlen = slash ? (int)(slash - at) : 1;
        snprintf(full, sizeof full, "%.*s/%s", dlen, slash ? at : ".", lib);
    }
    const int before = rt->n_plugins;
    strata_status rc = load_file(rt, full, origin);
    if (rc) {
        st_error_context(rc, "manifest %s (library \"%s\")", path, lib);
        /* the record `strata info` shows names the manifest too: the library's path may be its slip */
        st_plugin *p = rt->n_plugins > before ? rt->plugins[rt->n_plugins - 1] : NULL;
        char *why = p && !p->loaded ? st_strdup(p->reason) : NULL;
        if (why) {
            char msg[1024 + PATH_MAX];
            snprintf(msg, sizeof msg, "%s (the library of manifest %s)", why, path);
            set_str(&p->reason, msg);
            free(why);
        }
    }
    json_decref(root); /* lib is its string */
    return rc;
}

static void scan_manifests(strata_runtime *rt, const char *dir)
{
    scan_dir(rt, dir, ".json", "manifest", load_manifest);
}

/* 1 when a loaded plugin registers an op in the namespace of @p op ("stanh" of "stanh::scaled_tahn") */
static int namespace_loaded(const strata_runtime *rt, const char *op)
{
    const char *sep = strstr(op, "::");
    size_t n = sep ? (size_t)(sep - op) + 2 : 0;
    for (int k = 0; n && k < rt->n_ops; k++)
        if (!strncmp(rt->ops[k]->name, op, n))
            return 1;
    return 0;
}

/* A kernel registered for a backend no loaded plugin provides, or for an op
 * (name and version) no loaded plugin registers in a namespace one does,
 * never runs: said once per plugin and backend, and once per kernel of an
 * unknown op, naming what there is (a typo such as "CPU" or
 * "stanh::scaled_tahn" would otherwise go unnoticed). Run when discovery
 * ends, and for the kernels of a plugin loaded by strata_plugin_load
 * (@p only; NULL: all) as it is loaded: such plugins may bring the backend
 * or op after the kernels, so that warning says "yet". */
static void warn_orphan_kernels(strata_runtime *rt, const st_plugin *only)
{
    const char *yet = only ? " yet" : "";
    for (int k = 0; k < rt->n_kernels; k++) {
        st_kernel *kn = rt->kernels[k];
        if (kn->warned || (only && kn->plugin != only))
            continue;
        int known = 0;
        for (int b = 0; b < rt->n_backends && !known; b++)
            known = !strcmp(rt->backends[b]->name, kn->backend);
        if (!known) {
            for (int j = k; j < rt->n_kernels; j++) /* one line per plugin and backend */
                if (rt->kernels[j]->plugin == kn->plugin && !strcmp(rt->kernels[j]->backend, kn->backend))
                    rt->kernels[j]->warned = 1;
            char names[256] = "";
            for (int b = 0; b < rt->n_backends; b++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", b ? ", " : "",
                         rt->backends[b]->name);
            st_log(rt, STRATA_LOG_WARN,
                   "plugin '%s' registered kernels for backend '%s' (%s, ...), which no loaded plugin provides%s: "
                   "they will not run (backends: %s)",
                   kn->plugin && kn->plugin->name ? kn->plugin->name : "?", kn->backend, kn->op, yet, names);
            continue;
        }
        const st_op *any = st_find_op(rt, kn->op, 0);
        if ((any && st_find_op(rt, kn->op, kn->version)) || (!any && !namespace_loaded(rt, kn->op)))
            continue; /* (a backend's kernels for the ops of a plugin not loaded here: not a slip) */
        kn->warned = 1;
        if (any)
            st_log(rt, STRATA_LOG_WARN,
                   "plugin '%s' registered a kernel for %s version %d on '%s', which no loaded plugin registers%s "
                   "(the newest is version %d): it will not run",
                   kn->plugin && kn->plugin->name ? kn->plugin->name : "?", kn->op, (int)kn->version, kn->backend,
                   yet, any->def.version);
        else
            st_log(rt, STRATA_LOG_WARN,
                   "plugin '%s' registered a kernel for op '%s' on '%s', which no loaded plugin registers%s: it will "
                   "not run (`strata info` lists the ops)",
                   kn->plugin && kn->plugin->name ? kn->plugin->name : "?", kn->op, kn->backend, yet);
    }
}

strata_status st_plugin_discover(strata_runtime *rt, const char *extra_path)
{
    load_path_list(rt, extra_path, "option");
    load_path_list(rt, getenv("STRATA_PLUGIN_PATH"), "path");

    /* lib/strata next to libstrata.so itself */
    Dl_info info;
    if (dladdr((void *)&st_plugin_discover, &info) && info.dli_fname) {
        char real[PATH_MAX];
        if (realpath(info.dli_fname, real)) {
            char *slash = strrchr(real, '/');
            if (slash) {
                *slash = '\0';
                char dir[PATH_MAX + 16];
                snprintf(dir, sizeof dir, "%s/%s", real, STRATA_PLUGIN_SUBDIR);
                load_path_entry(rt, dir, "libdir");
            }
        }
    } else {
        trace("dladdr could not locate libstrata.so; skipping its directory");
    }

    const char *sys = getenv("STRATA_MANIFEST_DIR");
    scan_manifests(rt, sys && *sys ? sys : STRATA_SYSCONF_MANIFEST_DIR);
    char user[PATH_MAX];
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    if (xdg && *xdg) {
        snprintf(user, sizeof user, "%s/strata/plugins.d", xdg);
        scan_manifests(rt, user);
    } else if (home && *home) {
        snprintf(user, sizeof user, "%s/.config/strata/plugins.d", home);
        scan_manifests(rt, user);
    }
    if (rt->load_nomem[0])
        return st_error(STRATA_E_NOMEM, "%s", rt->load_nomem);
    warn_orphan_kernels(rt, NULL);
    strata_clear_error();
    return STRATA_OK;
}

void st_plugin_failures_hint(const strata_runtime *rt, char *buf, size_t size)
{
    char failed[600] = "";
    int n_failed = 0;
    for (int k = 0; rt && k < rt->n_plugins; k++) {
        const st_plugin *p = rt->plugins[k];
        if (p->loaded)
            continue;
        if (n_failed++ < 2)
            snprintf(failed + strlen(failed), sizeof failed - strlen(failed), "%s%s (%.160s)",
                     n_failed > 1 ? "; " : "", p->path[0] ? p->path : p->name, p->reason);
    }
    if (!n_failed)
        snprintf(buf, size, "%s", "");
    else
        snprintf(buf, size, "; %d plugin(s) did not load, which may provide it: %s%s (`strata info` lists them)",
                 n_failed, failed, n_failed > 2 ? "; ..." : "");
}

strata_status strata_plugin_load(strata_runtime *rt, const char *path)
{
    if (!rt || !path || !*path)
        return st_error(STRATA_E_INVALID, "strata_plugin_load: NULL runtime or empty path");
    const int before = rt->n_plugins;
    strata_status rc =
        has_suffix(path, ".json") ? load_manifest(rt, path, "explicit") : load_file(rt, path, "explicit");
    for (int k = before; rc == STRATA_OK && k < rt->n_plugins; k++)
        warn_orphan_kernels(rt, rt->plugins[k]);
    return rc;
}

int strata_plugin_count(const strata_runtime *rt)
{
    return rt ? rt->n_plugins : 0;
}

strata_status strata_plugin_get(const strata_runtime *rt, int i, strata_plugin_record *out)
{
    if (!rt || !out || i < 0 || i >= rt->n_plugins)
        return st_error(STRATA_E_INVALID, "strata_plugin_get: index %d outside [0, %d)", i, rt ? rt->n_plugins : 0);
    /* the 1.0 layout at least; fields added after it are to be written only when struct_size covers them */
    const size_t v10 = offsetof(strata_plugin_record, origin) + sizeof out->origin;
    if (out->struct_size < v10)
        return st_error(STRATA_E_INVALID, "strata_plugin_get: struct_size %zu is smaller than the 1.0 record's %zu",
                        out->struct_size, v10);
    const st_plugin *p = rt->plugins[i];
    out->name = p->name;
    out->path = p->path;
    out->version = p->version;
    out->abi_major = p->abi_major;
    out->abi_minor = p->abi_minor;
    out->loaded = p->loaded;
    out->status = p->status;
    out->reason = p->reason;
    out->origin = p->origin;
    return STRATA_OK;
}
