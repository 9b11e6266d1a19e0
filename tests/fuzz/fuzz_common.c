/* fuzz_common.c - temporary files and a shared runtime for the harnesses. */
#include "fuzz_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef STRATA_FUZZ_PLUGIN_DIR
#error "STRATA_FUZZ_PLUGIN_DIR must name the build's lib/strata (tests/fuzz/CMakeLists.txt sets it)"
#endif

static char fz_dir[64];

/* The files a harness may write there; fuzz_report's page.html is written by the report itself. */
static const char *const fz_names[] = {"in0", "in1", "manifest.json", "metrics.jsonl", "summary.json", "spec.yaml",
                                       "page.html"};
#define FZ_NAMES (sizeof fz_names / sizeof fz_names[0])

static void fz_cleanup(void)
{
    /* Only the names this file knows; the directory must end up empty. */
    const char *const *names = fz_names;
    char path[128];
    for (size_t k = 0; k < FZ_NAMES; k++) {
        snprintf(path, sizeof path, "%s/%s", fz_dir, names[k]);
        unlink(path);
    }
    rmdir(fz_dir);
}

const char *fz_write_file(const char *name, const uint8_t *data, size_t size)
{
    static char path[FZ_NAMES][128];
    int slot = -1;
    for (size_t k = 0; k < FZ_NAMES; k++)
        if (strcmp(name, fz_names[k]) == 0)
            slot = (int)k;
    if (slot < 0)
        return NULL;
    if (!fz_dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(fz_dir, sizeof fz_dir, "%.40s/strata-fuzz-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(fz_dir)) {
            fz_dir[0] = '\0';
            return NULL;
        }
        atexit(fz_cleanup);
    }
    snprintf(path[slot], sizeof path[slot], "%s/%s", fz_dir, name);
    FILE *fp = fopen(path[slot], "wb");
    if (!fp)
        return NULL;
    int ok = (size == 0 || fwrite(data, 1, size, fp) == size);
    ok &= fclose(fp) == 0;
    return ok ? path[slot] : NULL;
}

const char *fz_plugin_dir(void)
{
    return STRATA_FUZZ_PLUGIN_DIR;
}

strata_runtime *fz_runtime(int layer_plugins)
{
    static strata_runtime *rt[2];
    int k = layer_plugins ? 1 : 0;
    if (rt[k])
        return rt[k];
    strata_runtime_options o = {0};
    o.struct_size = sizeof o;
    o.flags = STRATA_RUNTIME_NO_DISCOVERY;
    if (strata_runtime_create(&o, &rt[k]) != STRATA_OK)
        return NULL;
    static const char *const plugins[] = {"ref", "conv", "lstm", "memnet", "gan"};
    int n = layer_plugins ? 5 : 1;
    for (int p = 0; p < n; p++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s.so", fz_plugin_dir(), plugins[p]);
        if (strata_plugin_load(rt[k], path) != STRATA_OK)
            fprintf(stderr, "fuzz: %s not loaded: %s\n", path, strata_last_error());
    }
    return rt[k];
}
