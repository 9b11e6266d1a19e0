/*
 * fuzz_manifest.c - plugin manifests (the JSON files of the manifest
 * directories) through strata_plugin_load() on a runtime without discovery.
 * A manifest names a library; a relative name resolves inside the
 * harness's empty temporary directory, so well-formed manifests end in
 * "not found" rather than loading anything.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_write_file("manifest.json", data, size);
    if (!path)
        return 0;
    strata_runtime_options o = {0};
    o.struct_size = sizeof o;
    o.flags = STRATA_RUNTIME_NO_DISCOVERY;
    strata_runtime *rt = NULL;
    if (strata_runtime_create(&o, &rt) != STRATA_OK)
        return 0;
    (void)strata_plugin_load(rt, path);
    int n = strata_plugin_count(rt);
    for (int k = 0; k < n; k++) {
        strata_plugin_record r = {0};
        r.struct_size = sizeof r;
        (void)strata_plugin_get(rt, k, &r);
    }
    strata_runtime_destroy(rt);
    return 0;
}
