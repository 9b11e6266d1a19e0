/*
 * ocl_program.c - the device program: built once per device from the
 * embedded sources, and cached on disk so later runs skip the compiler.
 *
 * Cache: one file per (device, driver, sources, build options) in
 * STRATA_OPENCL_CACHE (a directory; "off" disables the cache), else
 * $XDG_CACHE_HOME/strata/opencl, else ~/.cache/strata/opencl. The file
 * name is a 64-bit FNV-1a hash of the key; the file repeats the whole key
 * and a checksum of the binary, so a collision, a truncated or corrupt
 * file, or a binary the driver refuses is rebuilt from source and never
 * trusted. Files are written atomically (temp file, fsync, rename), so
 * concurrent processes see either no entry or a whole one.
 *
 * A build error is reported with the device's compiler log.
 * STRATA_OPENCL_BUILD_OPTIONS adds options to clBuildProgram (they are part
 * of the key).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ocl_internal.h"

#define OCL_CACHE_MAGIC "STRATACL"
#define OCL_CACHE_FORMAT 1u

static uint64_t ocl_fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001b3ull;
    return h;
}
#define OCL_FNV_INIT 0xcbf29ce484222325ull

/* mkdir -p; 0 on success. */
static int ocl_mkdirs(const char *path)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

const char *ocl_cache_dir(char *buf, size_t n)
{
    const char *v = getenv("STRATA_OPENCL_CACHE");
    buf[0] = '\0';
    if (v && (!strcmp(v, "0") || !strcasecmp(v, "off") || !strcasecmp(v, "false") || !strcasecmp(v, "no")))
        return buf; /* off, as the other switches ("false" made a directory ./false) */
    if (v && *v) {
        snprintf(buf, n, "%s", v);
        return buf;
    }
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(buf, n, "%s/strata/opencl", xdg);
    else if (home && *home)
        snprintf(buf, n, "%s/.cache/strata/opencl", home);
    return buf;
}

/* The build options and the cache key text of @p d. */
static void ocl_build_options(const ocl_device *d, char *opts, size_t n)
{
    const char *extra = getenv("STRATA_OPENCL_BUILD_OPTIONS");
    snprintf(opts, n, "-cl-std=CL1.2%s%s%s", d->fp64 ? " -DOCL_FP64=1" : "", extra && *extra ? " " : "",
             extra && *extra ? extra : "");
}

/* Reads a cache file whose header matches @p key; the binary in *bin
 * (malloc'd) or NULL when missing or not trustworthy. */
static unsigned char *ocl_cache_read(const char *path, const char *key, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *bin = NULL;
    char magic[8];
    uint32_t fmt = 0, key_len = 0;
    uint64_t bin_len = 0, sum = 0;
    char *file_key = NULL;
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, OCL_CACHE_MAGIC, 8) || fread(&fmt, 4, 1, f) != 1 ||
        fmt != OCL_CACHE_FORMAT || fread(&key_len, 4, 1, f) != 1 || key_len != strlen(key) ||
        fread(&bin_len, 8, 1, f) != 1 || fread(&sum, 8, 1, f) != 1 || bin_len == 0 || bin_len > ((uint64_t)1 << 30))
        goto bad;
    file_key = malloc((size_t)key_len + 1);
    if (!file_key || fread(file_key, 1, key_len, f) != key_len || memcmp(file_key, key, key_len))
        goto bad;
    bin = malloc((size_t)bin_len);
    if (!bin || fread(bin, 1, (size_t)bin_len, f) != bin_len || fgetc(f) != EOF ||
        ocl_fnv(OCL_FNV_INIT, bin, (size_t)bin_len) != sum)
        goto bad;
    free(file_key);
    fclose(f);
    *len = (size_t)bin_len;
    return bin;
bad:
    free(file_key);
    free(bin);
    fclose(f);
    return NULL;
}

/* Writes the entry atomically; failures only cost the next run a build. */
static void ocl_cache_write(const char *dir, const char *path, const char *key, const unsigned char *bin, size_t len)
{
    if (ocl_mkdirs(dir) != 0)
        return;
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return;
    uint32_t fmt = OCL_CACHE_FORMAT, key_len = (uint32_t)strlen(key);
    uint64_t bin_len = len, sum = ocl_fnv(OCL_FNV_INIT, bin, len);
    int ok = fwrite(OCL_CACHE_MAGIC, 1, 8, f) == 8 && fwrite(&fmt, 4, 1, f) == 1 && fwrite(&key_len, 4, 1, f) == 1 &&
             fwrite(&bin_len, 8, 1, f) == 1 && fwrite(&sum, 8, 1, f) == 1 &&
             fwrite(key, 1, key_len, f) == key_len && fwrite(bin, 1, len, f) == len && fflush(f) == 0 &&
             fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0)
        remove(tmp);
}

/* Creates every kernel of the built program; 0 on success. */
static int ocl_make_kernels(ocl_device *d, cl_int *err_out, const char **bad)
{
    static const char *const names[OCL_K_COUNT] = {
#define OCL_KNAME(name) #name,
        OCL_KERNEL_LIST(OCL_KNAME)
#undef OCL_KNAME
    };
    for (int k = 0; k < OCL_K_COUNT; k++) {
        cl_int err = CL_SUCCESS;
        d->kernels[k] = clCreateKernel(d->program, names[k], &err);
        if (!d->kernels[k]) {
            for (int j = 0; j < k; j++) {
                clReleaseKernel(d->kernels[j]);
                d->kernels[j] = NULL;
            }
            *err_out = err;
            *bad = names[k];
            return -1;
        }
    }
    return 0;
}

/* Lowers d->max_wg to what every kernel accepts on this device (a kernel
 * can allow less than the device maximum, for its registers or local
 * memory), so the group sizes chosen later always launch; the GEMM's
 * fixed 16x16 groups are then claimed only if they fit. */
static void ocl_kernel_limits(ocl_device *d)
{
    for (int k = 0; k < OCL_K_COUNT; k++) {
        size_t wg = 0;
        if (k == OCL_K_gemm)
            continue; /* its size is fixed (reqd_work_group_size): see gemm_ok */
        if (clGetKernelWorkGroupInfo(d->kernels[k], d->id, CL_KERNEL_WORK_GROUP_SIZE, sizeof wg, &wg, NULL) ==
                CL_SUCCESS &&
            wg && wg < d->max_wg) {
            size_t p2 = 1;
            while (p2 * 2 <= wg)
                p2 <<= 1;
            d->max_wg = p2;
        }
    }
    size_t gw = 0;
    d->gemm_ok = clGetKernelWorkGroupInfo(d->kernels[OCL_K_gemm], d->id, CL_KERNEL_WORK_GROUP_SIZE, sizeof gw, &gw,
                                          NULL) == CL_SUCCESS &&
                 gw >= 256;
}

/* Program from a cached binary; 0 when it built and has every kernel. */
static int ocl_from_binary(ocl_device *d, const unsigned char *bin, size_t len, const char *opts)
{
    cl_int err = CL_SUCCESS, bstatus = CL_SUCCESS;
    cl_program p = clCreateProgramWithBinary(d->ctx, 1, &d->id, &len, &bin, &bstatus, &err);
    if (!p)
        return -1;
    if (bstatus != CL_SUCCESS || clBuildProgram(p, 1, &d->id, opts, NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(p);
        return -1;
    }
    d->program = p;
    const char *bad = NULL;
    if (ocl_make_kernels(d, &err, &bad) != 0) {
        clReleaseProgram(p);
        d->program = NULL;
        return -1;
    }
    ocl_kernel_limits(d);
    return 0;
}

strata_status ocl_program_build(ocl_device *d)
{
    char opts[512], dir[1024], path[1100];
    ocl_build_options(d, opts, sizeof opts);
    uint64_t src_hash = ocl_fnv(OCL_FNV_INIT, ocl_kernel_source, ocl_kernel_source_len);
    size_t key_bytes = strlen(d->cache_key) + strlen(opts) + 64;
    char *key = malloc(key_bytes);
    if (!key) {
        snprintf(d->build_error, sizeof d->build_error, "%s: out of memory: %zu bytes building the kernels", d->name,
                 key_bytes);
        return STRATA_E_NOMEM;
    }
    sprintf(key, "%s|%s|src %016llx", d->cache_key, opts, (unsigned long long)src_hash);
    ocl_cache_dir(dir, sizeof dir);
    path[0] = '\0';
    if (dir[0])
        snprintf(path, sizeof path, "%s/%016llx.clbin", dir,
                 (unsigned long long)ocl_fnv(OCL_FNV_INIT, key, strlen(key)));

    if (path[0]) {
        size_t len = 0;
        unsigned char *bin = ocl_cache_read(path, key, &len);
        int ok = bin && ocl_from_binary(d, bin, len, opts) == 0;
        free(bin);
        if (ok) {
            free(key);
            return STRATA_OK;
        }
    }

    cl_int err = CL_SUCCESS;
    const char *src = ocl_kernel_source;
    size_t src_len = ocl_kernel_source_len;
    cl_program p = clCreateProgramWithSource(d->ctx, 1, &src, &src_len, &err);
    if (!p) {
        free(key);
        snprintf(d->build_error, sizeof d->build_error, "%s: clCreateProgramWithSource failed with %s (%d)", d->name,
                 ocl_cl_error_name(err), (int)err);
        return STRATA_E_BACKEND;
    }
    err = clBuildProgram(p, 1, &d->id, opts, NULL, NULL);
    if (err != CL_SUCCESS) {
        size_t log_len = 0;
        char *log = NULL;
        if (clGetProgramBuildInfo(p, d->id, CL_PROGRAM_BUILD_LOG, 0, NULL, &log_len) == CL_SUCCESS && log_len &&
            (log = malloc(log_len + 1)) != NULL) {
            if (clGetProgramBuildInfo(p, d->id, CL_PROGRAM_BUILD_LOG, log_len, log, NULL) != CL_SUCCESS)
                log[0] = '\0';
            log[log_len] = '\0';
        }
        snprintf(d->build_error, sizeof d->build_error,
                 "%s: building the opencl kernels (options \"%s\") failed with %s (%d); compiler log:\n%s", d->name,
                 opts, ocl_cl_error_name(err), (int)err, log && log[0] ? log : "(the driver gave no log)");
        free(log);
        clReleaseProgram(p);
        free(key);
        return STRATA_E_BACKEND;
    }
    d->program = p;
    const char *bad = NULL;
    if (ocl_make_kernels(d, &err, &bad) != 0) {
        snprintf(d->build_error, sizeof d->build_error, "%s: clCreateKernel(%s) failed with %s (%d)", d->name, bad,
                 ocl_cl_error_name(err), (int)err);
        clReleaseProgram(p);
        d->program = NULL;
        free(key);
        return STRATA_E_BACKEND;
    }
    ocl_kernel_limits(d);

    size_t bin_len = 0;
    if (path[0] && clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof bin_len, &bin_len, NULL) == CL_SUCCESS &&
        bin_len) {
        unsigned char *bin = malloc(bin_len);
        if (bin && clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL) == CL_SUCCESS)
            ocl_cache_write(dir, path, key, bin, bin_len);
        free(bin);
    }
    free(key);
    return STRATA_OK;
}
