/*
 * clblast_sgemm.c - times CLBlast's SGEMM, C = A * B row-major (A (M, K),
 * B (K, N), C (M, N)), on one OpenCL device, as the peer that Strata's own
 * OpenCL GEMM (`strata bench --op matmul`) is measured against.
 *
 *   cc -O2 -o clblast_sgemm bench/clblast_sgemm.c -lclblast -lOpenCL
 *   ./clblast_sgemm M N K [REPS]
 *
 * Device: platform 0, device 0, or STRATA_OPENCL_DEVICE=P:D as for Strata.
 * Timing follows `strata bench --op`: 3 warm-up calls (the first one
 * compiles CLBlast's kernels), then REPS timed calls (default 20, stopped
 * early after 10 s but never fewer than 3), each followed by clFinish; it
 * prints the median as GFLOP/s (2*M*N*K flops), one line, plus a spot check
 * of 16 entries of C against a host dot product. Not a test and not part of
 * the build: Strata never links CLBlast. bench/gemm-vs-clblast.sh runs it.
 */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <clblast_c.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Picks platform/device from STRATA_OPENCL_DEVICE ("P:D", default 0:0); 0 on success. */
static int pick_device(cl_device_id *out, char *name, size_t name_len)
{
    unsigned p = 0, d = 0;
    const char *env = getenv("STRATA_OPENCL_DEVICE");
    if (env && *env && sscanf(env, "%u:%u", &p, &d) != 2) {
        fprintf(stderr, "clblast_sgemm: STRATA_OPENCL_DEVICE=\"%s\" is not P:D\n", env);
        return 1;
    }
    cl_platform_id plats[16];
    cl_uint np = 0, nd = 0;
    if (clGetPlatformIDs(16, plats, &np) != CL_SUCCESS || p >= np) {
        fprintf(stderr, "clblast_sgemm: no OpenCL platform %u (%u found)\n", p, np);
        return 1;
    }
    cl_device_id devs[16];
    if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 16, devs, &nd) != CL_SUCCESS || d >= nd) {
        fprintf(stderr, "clblast_sgemm: platform %u has no device %u (%u found)\n", p, d, nd);
        return 1;
    }
    *out = devs[d];
    if (clGetDeviceInfo(devs[d], CL_DEVICE_NAME, name_len, name, NULL) != CL_SUCCESS)
        snprintf(name, name_len, "device %u:%u", p, d);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: %s M N K [REPS]\n", argv[0]);
        return 2;
    }
    long M = atol(argv[1]), N = atol(argv[2]), K = atol(argv[3]), reps = argc == 5 ? atol(argv[4]) : 20;
    if (M <= 0 || N <= 0 || K <= 0 || reps < 3 || reps > 1000) {
        fprintf(stderr, "clblast_sgemm: M N K must be positive and REPS in 3..1000\n");
        return 2;
    }
    cl_device_id dev;
    char name[256];
    if (pick_device(&dev, name, sizeof name))
        return 1;

    int rc = 1;
    cl_int err;
    cl_context ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
    cl_command_queue q = err == CL_SUCCESS ? clCreateCommandQueue(ctx, dev, 0, &err) : NULL;
    float *a = malloc(sizeof(float) * (size_t)(M * K)); /* (M, K) */
    float *b = malloc(sizeof(float) * (size_t)(K * N)); /* (K, N) */
    float *c = malloc(sizeof(float) * (size_t)(M * N)); /* (M, N) */
    cl_mem da = NULL, db = NULL, dc = NULL;
    double *times = malloc(sizeof(double) * (size_t)reps);
    if (err != CL_SUCCESS || !a || !b || !c || !times) {
        fprintf(stderr, "clblast_sgemm: setting up the context, queue or host buffers failed (%d)\n", (int)err);
        goto done;
    }
    srand(1);
    for (long i = 0; i < M * K; i++)
        a[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    for (long i = 0; i < K * N; i++)
        b[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    da = clCreateBuffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, sizeof(float) * (size_t)(M * K), a, &err);
    if (err == CL_SUCCESS)
        db = clCreateBuffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, sizeof(float) * (size_t)(K * N), b, &err);
    if (err == CL_SUCCESS)
        dc = clCreateBuffer(ctx, CL_MEM_READ_WRITE, sizeof(float) * (size_t)(M * N), NULL, &err);
    if (err != CL_SUCCESS) {
        fprintf(stderr, "clblast_sgemm: clCreateBuffer failed (%d)\n", (int)err);
        goto done;
    }

    int n = 0;
    double spent = 0, first = 0;
    for (long k = -3; k < reps && (k < 3 || spent < 10.0); k++) {
        double t0 = now_s();
        CLBlastStatusCode st = CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, (size_t)M,
                                            (size_t)N, (size_t)K, 1.0f, da, 0, (size_t)K, db, 0, (size_t)N, 0.0f, dc,
                                            0, (size_t)N, &q, NULL);
        if (st != CLBlastSuccess) {
            fprintf(stderr, "clblast_sgemm: CLBlastSgemm returned %d\n", (int)st);
            goto done;
        }
        clFinish(q);
        double dt = now_s() - t0;
        if (k == -3)
            first = dt;
        if (k >= 0) {
            times[n++] = dt;
            spent += dt;
        }
    }
    qsort(times, (size_t)n, sizeof *times, cmp_double);
    double med = n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);

    /* Spot check: 16 entries against a double-precision host dot product. */
    if (clEnqueueReadBuffer(q, dc, CL_TRUE, 0, sizeof(float) * (size_t)(M * N), c, 0, NULL, NULL) != CL_SUCCESS) {
        fprintf(stderr, "clblast_sgemm: reading C back failed\n");
        goto done;
    }
    double worst = 0;
    for (int s = 0; s < 16; s++) {
        long i = (long)((unsigned long)rand() % (unsigned long)M), j = (long)((unsigned long)rand() % (unsigned long)N);
        double ref = 0;
        for (long t = 0; t < K; t++)
            ref += (double)a[i * K + t] * (double)b[t * N + j];
        double e = fabs(ref - (double)c[i * N + j]) / (1.0 + fabs(ref));
        worst = e > worst ? e : worst;
    }
    printf("sgemm %ldx%ldx%ld on %s: %.1f GFLOP/s (CLBlast, median of %d, %.3f ms; first call %.1f ms; "
           "max rel err %.1e)\n",
           M, N, K, name, 2.0 * (double)M * (double)N * (double)K / med * 1e-9, n, 1e3 * med, 1e3 * first, worst);
    rc = worst < 1e-3 ? 0 : 1;
    if (rc)
        fprintf(stderr, "clblast_sgemm: C disagrees with the host product (max rel err %.1e)\n", worst);
done:
    if (dc)
        clReleaseMemObject(dc);
    if (db)
        clReleaseMemObject(db);
    if (da)
        clReleaseMemObject(da);
    if (q)
        clReleaseCommandQueue(q);
    if (ctx)
        clReleaseContext(ctx);
    free(times);
    free(c);
    free(b);
    free(a);
    return rc;
}
