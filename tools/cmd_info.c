/* cmd_info.c - `strata info [--json]`. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "dist.h"
#include "strata/strata_plugin.h" /* strata_attr_spec */

/* An entry's attribute schema (strata_registry_attrs) as a JSON array: name, kind, required, default, doc; NULL
 * for an op whose calls are not checked by one. */
static json_t *attrs_json(strata_runtime *rt, strata_registry_kind kind, int k)
{
    static const char *const kinds[] = {"?", "int", "float", "ints", "floats", "string"};
    const strata_attr_spec *s = NULL;
    int n = 0;
    if (strata_registry_attrs(rt, kind, k, &s, &n) || !s)
        return NULL;
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        const int kd = s[i].kind >= 1 && s[i].kind <= 5 ? s[i].kind : 0;
        json_t *d = s[i].required                  ? json_null()
                    : kd == STRATA_ATTR_INT        ? json_integer((json_int_t)s[i].dflt_i)
                    : kd == STRATA_ATTR_FLOAT      ? json_real(s[i].dflt_f)
                    : kd == STRATA_ATTR_STRING && s[i].dflt_s ? json_string(s[i].dflt_s)
                                                              : json_null();
        json_array_append_new(arr, json_pack("{s:s, s:s, s:b, s:o, s:s}", "name", s[i].name, "kind", kinds[kd],
                                             "required", s[i].required != 0, "default", d, "doc",
                                             s[i].doc ? s[i].doc : ""));
    }
    return arr;
}

/* The entries of @p kind as a JSON array in *out; a failure of strata_registry_get (out of memory) is returned. */
static strata_status registry_json(strata_runtime *rt, strata_registry_kind kind, json_t **out)
{
    json_t *arr = json_array();
    *out = arr;
    for (int k = 0; k < strata_registry_count(rt, kind); k++) {
        const char *name, *plugin, *kernels = NULL;
        int version;
        strata_status rc =
            strata_registry_get(rt, kind, k, &name, &version, &plugin, kind == STRATA_REGISTRY_OP ? &kernels : NULL);
        if (rc)
            return rc;
        json_t *o = json_pack("{s:s, s:s}", "name", name, "plugin", plugin);
        if (kind == STRATA_REGISTRY_OP) {
            json_object_set_new(o, "version", json_integer(version));
            json_object_set_new(o, "kernels", json_string(kernels ? kernels : ""));
        }
        json_t *attrs = attrs_json(rt, kind, k); /* the schema its calls are checked against, where it has one */
        if (attrs)
            json_object_set_new(o, "attributes", attrs);
        json_array_append_new(arr, o);
    }
    return STRATA_OK;
}

static int info_json(strata_runtime *rt)
{
    uint32_t ma, mi;
    strata_abi_version(&ma, &mi);
    json_t *root = json_object();
    json_object_set_new(root, "version", json_string(strata_version_string()));
    json_object_set_new(root, "abi", json_pack("{s:i, s:i}", "major", (int)ma, "minor", (int)mi));
    json_t *bes = json_array();
    for (int b = 0; b < strata_backend_count(rt); b++) {
        strata_backend_record r = {.struct_size = sizeof r};
        strata_status rc = strata_backend_get(rt, b, &r);
        if (rc) {
            json_decref(bes);
            json_decref(root);
            return cli_fail("listing the backends", rc);
        }
        json_t *devs = json_array();
        for (int d = 0; d < r.device_count; d++)
            json_array_append_new(devs, json_string(strata_backend_device_name(rt, b, d)));
        json_array_append_new(bes, json_pack("{s:s, s:s, s:i, s:i, s:o, s:s}", "name", r.name, "plugin", r.plugin,
                                             "priority", r.priority, "device_count", r.device_count, "devices", devs,
                                             "unavailable", r.unavailable));
    }
    json_object_set_new(root, "backends", bes);
    json_t *plugins = json_array(), *failed = json_array();
    for (int k = 0; k < strata_plugin_count(rt); k++) {
        strata_plugin_record r = {.struct_size = sizeof r};
        if (strata_plugin_get(rt, k, &r))
            continue;
        json_t *o = json_pack("{s:o, s:o, s:s, s:s, s:s}", "name", cli_json_str(r.name), "path", cli_json_str(r.path),
                              "version", r.version, "origin", r.origin, "abi", "");
        char abi[32];
        snprintf(abi, sizeof abi, "%u.%u", r.abi_major, r.abi_minor);
        json_object_set_new(o, "abi", json_string(abi));
        if (r.loaded) {
            json_array_append_new(plugins, o);
        } else {
            json_object_set_new(o, "status", json_string(strata_status_name(r.status)));
            json_object_set_new(o, "reason", cli_json_str(r.reason));
            json_array_append_new(failed, o);
        }
    }
    json_object_set_new(root, "plugins", plugins);
    json_object_set_new(root, "failed_plugins", failed);
    const struct {
        const char *key;
        strata_registry_kind kind;
    } lists[] = {{"ops", STRATA_REGISTRY_OP}, {"layers", STRATA_REGISTRY_LAYER},
                 {"optimizers", STRATA_REGISTRY_OPTIMIZER}};
    for (size_t k = 0; k < sizeof lists / sizeof lists[0]; k++) {
        json_t *arr;
        strata_status rc = registry_json(rt, lists[k].kind, &arr);
        json_object_set_new(root, lists[k].key, arr);
        if (rc) {
            json_decref(root);
            return cli_fail("listing the registry", rc);
        }
    }
    char mpi[4096];
    json_object_set_new(root, "data_parallel",
                        json_pack("{s:o}", "mpi_module", cli_json_str(dist_module_present(mpi, sizeof mpi))));
    char *txt = json_dumps(root, JSON_INDENT(2));
    printf("%s\n", txt ? txt : "{}");
    free(txt);
    json_decref(root);
    return 0;
}

/* cli_fail, after the runtime is gone */
static int info_fail(strata_runtime *rt, const char *what, strata_status rc)
{
    int r = cli_fail(what, rc);
    strata_runtime_destroy(rt);
    return r;
}

static strata_status list_names(strata_runtime *rt, strata_registry_kind kind, const char *title)
{
    int n = strata_registry_count(rt, kind);
    printf("\n%s (%d):\n", title, n);
    for (int k = 0; k < n; k++) {
        const char *name, *plugin, *kernels = NULL;
        int version;
        strata_status rc =
            strata_registry_get(rt, kind, k, &name, &version, &plugin, kind == STRATA_REGISTRY_OP ? &kernels : NULL);
        if (rc)
            return rc;
        if (kind == STRATA_REGISTRY_OP)
            printf("  %-32s v%d  [%s]  kernels: %s\n", name, version, plugin,
                   kernels && *kernels ? kernels : "(none: no kernel, host kernel or composite; calls fail)");
        else
            printf("  %-20s [%s]\n", name, plugin);
    }
    return STRATA_OK;
}

int cmd_info(int argc, char **argv)
{
    int json = 0;
    const cli_opt opts[] = {{.name = "--json", .type = CLI_FLAG, .dst = &json, .help = "print a JSON object"}, {0}};
    const cli_command c = {.name = "info", .opts = opts, .synopsis = "[--json]",
                           .about = "Backends, devices, plugins (and why any did not load), ops, layers and "
                                    "optimizers."};
    int r = cli_parse(&c, argc, argv);
    if (r)
        return CLI_EXIT(r);
    strata_runtime *rt;
    strata_status rc = strata_runtime_create(NULL, &rt);
    if (rc)
        return cli_fail("creating the runtime", rc);
    if (json) {
        r = info_json(rt);
        strata_runtime_destroy(rt);
        return r;
    }
    uint32_t ma, mi;
    strata_abi_version(&ma, &mi);
    printf("strata %s, ABI %u.%u\n", strata_version_string(), ma, mi);
    strata_device *def = NULL;
    rc = strata_device_get(rt, NULL, 0, &def);
    if (rc == STRATA_OK)
        printf("default device: %s\n", strata_device_name(def));
    else if (rc == STRATA_E_NOT_FOUND) /* no device, or STRATA_BACKEND names none: say why, then list what is */
        printf("default device: none (%s)\n", strata_last_error());
    else
        return info_fail(rt, "choosing the default device", rc);
    printf("\nbackends (%d):\n", strata_backend_count(rt));
    for (int b = 0; b < strata_backend_count(rt); b++) {
        strata_backend_record r = {.struct_size = sizeof r};
        if ((rc = strata_backend_get(rt, b, &r)))
            return info_fail(rt, "listing the backends", rc);
        printf("  %-8s priority %d, %d device(s), plugin %s%s%s\n", r.name, r.priority, r.device_count, r.plugin,
               r.device_count ? "" : " - unavailable: ", r.unavailable);
        for (int d = 0; d < r.device_count; d++)
            printf("    %s:%d  %s\n", r.name, d, strata_backend_device_name(rt, b, d));
    }
    int failed = 0;
    printf("\nplugins:\n");
    for (int k = 0; k < strata_plugin_count(rt); k++) {
        strata_plugin_record r = {.struct_size = sizeof r};
        if (strata_plugin_get(rt, k, &r) || !r.loaded) {
            failed += !r.loaded;
            continue;
        }
        printf("  %-10s %-8s ABI %u.%u  %s (%s)\n", r.name, r.version, r.abi_major, r.abi_minor,
               r.path[0] ? r.path : "libstrata", r.origin);
    }
    if (failed) {
        printf("\nplugins that failed to load (%d):\n", failed);
        for (int k = 0; k < strata_plugin_count(rt); k++) {
            strata_plugin_record r = {.struct_size = sizeof r};
            if (strata_plugin_get(rt, k, &r) || r.loaded)
                continue;
            printf("  %s (%s)\n    %s: %s\n", r.path, r.origin, strata_status_name(r.status), r.reason);
        }
    }
    char mpi[4096];
    if (dist_module_present(mpi, sizeof mpi))
        printf("\ndata-parallel training: mpirun -np N strata train SPEC ... (MPI module %s)\n", mpi);
    else
        printf("\ndata-parallel training: not built (no MPI module; tools/install-deps.sh installs Open MPI)\n");
    if ((rc = list_names(rt, STRATA_REGISTRY_OP, "ops")) || (rc = list_names(rt, STRATA_REGISTRY_LAYER, "layers")) ||
        (rc = list_names(rt, STRATA_REGISTRY_OPTIMIZER, "optimizers")))
        return info_fail(rt, "listing the registry", rc);
    strata_runtime_destroy(rt);
    return 0;
}
