/* dist.c - the command line's side of data-parallel training (dist.h):
 * finds out whether an MPI launcher started it, loads the MPI module and
 * stands in for it in a single process. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <strata/strata.h>

#include "dist.h"

#define DIST_MODULE "libstrata_mpi.so"

static const strata_dist_api *api; /* NULL: a single process */
static void *module;
static int rank, size = 1, settled;

/* The first of the NULL-terminated @p vars set to a whole number in
 * [lo, 2^20), else @p fallback. */
static int env_int(const char *const *vars, long lo, int fallback)
{
    for (; *vars; vars++) {
        const char *v = getenv(*vars);
        char *end;
        long n = v ? strtol(v, &end, 10) : lo - 1;
        if (v && *v && !*end && n >= lo && n < 1 << 20)
            return (int)n;
    }
    return fallback;
}

/* The launchers' own variables: Open MPI's mpirun, and PMI (MPICH's
 * hydra, Slurm's srun). */
int dist_launched_size(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", NULL};
    return env_int(vars, 1, 1);
}

/* The module's path next to libstrata.so, where the build and an install
 * put it; 0, or 1 when libstrata.so cannot be located. */
static int module_path(char *path, size_t size)
{
    Dl_info info;
    const char *slash = dladdr((void *)&strata_version_string, &info) && info.dli_fname
                            ? strrchr(info.dli_fname, '/') : NULL;
    return !slash || snprintf(path, size, "%.*s/%s", (int)(slash - info.dli_fname), info.dli_fname, DIST_MODULE) >=
                         (int)size;
}

const char *dist_module_present(char *path, size_t size)
{
    return !module_path(path, size) && access(path, R_OK) == 0 ? path : NULL;
}

int dist_start(void)
{
    const int n = dist_launched_size();
    if (n <= 1 || api)
        return 0;
    /* by path (a sanitizer's dlopen interposer has no RUNPATH to search),
     * else the library path. RTLD_GLOBAL: Open MPI's own components, which
     * it dlopens in MPI_Init, resolve their symbols against libmpi's. */
    char path[4096];
    char why[1024] = ""; /* the first failure says most: the file there, or why it did not load */
    if (!module_path(path, sizeof path) && !(module = dlopen(path, RTLD_NOW | RTLD_GLOBAL)))
        snprintf(why, sizeof why, "%s", dlerror());
    if (!module && !(module = dlopen(DIST_MODULE, RTLD_NOW | RTLD_GLOBAL)) && !*why)
        snprintf(why, sizeof why, "%s", dlerror());
    const strata_dist_api *(*entry)(void) = NULL;
    if (module)
        *(void **)&entry = dlsym(module, "strata_dist_mpi_api");
    const strata_dist_api *a = entry ? entry() : NULL;
    if (!a || a->struct_size < sizeof *a || a->version != STRATA_DIST_API_VERSION) {
        fprintf(stderr,
                "strata: error: an MPI launcher started %d processes, and this strata cannot train data-parallel: "
                "%s%s\n  (build it with Open MPI present: tools/install-deps.sh installs libopenmpi-dev; "
                "docs/user-guide.md, \"Training on several processes\")\n",
                n, module ? DIST_MODULE " is not a module of this version" : "", module ? "" : why);
        if (module)
            dlclose(module);
        module = NULL;
        return 1;
    }
    char err[512] = "";
    int r = 0, s = 1;
    if (a->init(&r, &s, err, sizeof err)) {
        fprintf(stderr, "strata: error: starting MPI: %s\n", err);
        return 1;
    }
    api = a, rank = r, size = s;
    return 0;
}

int dist_end(int status)
{
    if (!api)
        return status;
    fflush(stdout);
    fflush(stderr);
    if (status && !settled)
        api->abort(status);
    api->finalize();
    api = NULL;
    return status;
}

void dist_settled(void)
{
    settled = 1;
}

int dist_rank(void)
{
    return rank;
}

int dist_local_rank(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID", NULL};
    return env_int(vars, 0, rank);
}

int dist_size(void)
{
    return size;
}

int dist_is_root(void)
{
    return rank == 0;
}

int dist_sum_f64(double *buf, size_t n)
{
    return api && n ? api->sum_f64(buf, n) : 0;
}

int dist_sum_f32(float *buf, size_t n)
{
    return api && n ? api->sum_f32(buf, n) : 0;
}

/* A collective that failed: the ranks can no longer agree on what comes
 * next, and one stopping alone would leave the others waiting. */
static void abort_all(void)
{
    fflush(stdout);
    api->abort(1);
}

int dist_any(int flag)
{
    double v = flag != 0;
    if (api && api->sum_f64(&v, 1))
        abort_all();
    return v > 0;
}

void dist_broadcast(void *buf, size_t bytes)
{
    if (api && bytes && api->broadcast(buf, bytes, 0))
        abort_all();
}

void dist_share(int64_t b, int64_t *lo, int64_t *hi)
{
    const int64_t base = b / size, extra = b % size, r = rank;
    *lo = r * base + (r < extra ? r : extra);
    *hi = *lo + base + (r < extra);
}
