/* dist_mpi.c - lib/libstrata_mpi.so: the MPI calls of data-parallel
 * training (dist.h), on Open MPI from Debian. Built only where CMake finds
 * MPI; `strata` loads it only when an MPI launcher started it. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <mpi.h>

#include "dist.h"

/* MPI's message: "MPI_Allreduce: MPI_ERR_TRUNCATE: message truncated" */
static int mpi_failed(const char *what, int code, char *err, size_t err_size)
{
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(code, text, &len);
    if (err)
        snprintf(err, err_size, "%s: %s", what, text);
    else
        fprintf(stderr, "strata: error: %s: %s\n", what, text);
    return 1;
}

static int mpi_init(int *rank, int *size, char *err, size_t err_size)
{
    int started = 0, code;
    MPI_Initialized(&started);
    if (!started && (code = MPI_Init(NULL, NULL)) != MPI_SUCCESS)
        return mpi_failed("MPI_Init", code, err, err_size);
    /* errors come back as codes, with a message, instead of ending the job
     * silently (MPI_ERRORS_ARE_FATAL) */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if ((code = MPI_Comm_rank(MPI_COMM_WORLD, rank)) != MPI_SUCCESS ||
        (code = MPI_Comm_size(MPI_COMM_WORLD, size)) != MPI_SUCCESS)
        return mpi_failed("MPI_Comm_rank", code, err, err_size);
    return 0;
}

/* MPI counts are int: a long buffer goes in pieces */
static int sum(void *buf, size_t n, size_t elem, MPI_Datatype type)
{
    for (size_t done = 0; done < n;) {
        const size_t k = n - done < (size_t)INT_MAX ? n - done : (size_t)INT_MAX;
        const int code = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + done * elem, (int)k, type, MPI_SUM, MPI_COMM_WORLD);
        if (code != MPI_SUCCESS)
            return mpi_failed("MPI_Allreduce", code, NULL, 0);
        done += k;
    }
    return 0;
}

static int mpi_sum_f32(float *buf, size_t n)
{
    return sum(buf, n, sizeof *buf, MPI_FLOAT);
}

static int mpi_sum_f64(double *buf, size_t n)
{
    return sum(buf, n, sizeof *buf, MPI_DOUBLE);
}

static int mpi_broadcast(void *buf, size_t bytes, int root)
{
    for (size_t done = 0; done < bytes;) {
        const size_t k = bytes - done < (size_t)INT_MAX ? bytes - done : (size_t)INT_MAX;
        const int code = MPI_Bcast((char *)buf + done, (int)k, MPI_BYTE, root, MPI_COMM_WORLD);
        if (code != MPI_SUCCESS)
            return mpi_failed("MPI_Bcast", code, NULL, 0);
        done += k;
    }
    return 0;
}

static void mpi_abort(int code)
{
    MPI_Abort(MPI_COMM_WORLD, code);
}

static void mpi_finalize(void)
{
    int ended = 0;
    MPI_Finalized(&ended);
    if (!ended)
        MPI_Finalize();
}

__attribute__((visibility("default"))) const strata_dist_api *strata_dist_mpi_api(void);

const strata_dist_api *strata_dist_mpi_api(void)
{
    static const strata_dist_api a = {
        .struct_size = sizeof a,
        .version = STRATA_DIST_API_VERSION,
        .init = mpi_init,
        .sum_f32 = mpi_sum_f32,
        .sum_f64 = mpi_sum_f64,
        .broadcast = mpi_broadcast,
        .abort = mpi_abort,
        .finalize = mpi_finalize,
    };
    return &a;
}
