/* dist.h - data-parallel training across processes: `mpirun -np N strata
 * train SPEC ...` (docs/user-guide.md, "Training on several processes").
 *
 * Every process (rank) builds the same model from the same seed and reads
 * the same batches; each computes the gradient of its share of a batch, the
 * shares are summed with an allreduce (Open MPI's), and every rank takes the
 * same optimizer step, so the parameters stay equal. Rank 0 alone writes
 * the run's files and prints.
 *
 * The MPI calls live in a module of their own, lib/libstrata_mpi.so
 * (dist_mpi.c), loaded with dlopen only when an MPI launcher started the
 * process with more than one rank: `strata` runs, and builds, on a machine
 * without Open MPI, and a single process never touches it. */
#ifndef STRATA_TOOLS_DIST_H
#define STRATA_TOOLS_DIST_H

#include <stddef.h>
#include <stdint.h>

/* What the module gives (its entry symbol is "strata_dist_mpi_api"). Each
 * call returns 0, or non-zero after writing a message into the caller's
 * buffer (init) or to stderr. The allreduces are in place, over every rank. */
#define STRATA_DIST_API_VERSION 1
typedef struct strata_dist_api {
    size_t struct_size;
    int version; /* STRATA_DIST_API_VERSION */
    int (*init)(int *rank, int *size, char *err, size_t err_size);
    int (*sum_f32)(float *buf, size_t n);
    int (*sum_f64)(double *buf, size_t n);
    int (*broadcast)(void *buf, size_t bytes, int root);
    /* ends every rank at once (a rank that failed: the others would wait
     * for it in the next allreduce forever) */
    void (*abort)(int code);
    void (*finalize)(void);
} strata_dist_api;

/** The number of ranks an MPI launcher (Open MPI's mpirun, or a PMI-based
 *  one such as MPICH's or Slurm's) started this process among, read from
 *  the environment without loading MPI: 1 when none did. */
int dist_launched_size(void);

/** The MPI module's path in @p path when the file is there (not loaded:
 *  `strata info`), else NULL. */
const char *dist_module_present(char *path, size_t size);

/** Loads the module and joins the other ranks. 0, or 1 after a message
 *  (this build has no MPI module, or MPI failed to start). */
int dist_start(void);

/** Ends the data-parallel run: MPI_Finalize when @p status is 0 (or after
 *  dist_settled), else MPI_Abort with it (so no rank waits for one that
 *  failed alone). Returns
 *  @p status. A no-op in a single process. */
int dist_end(int status);

/** Says that every rank ends the run here together (a Ctrl-C or a
 *  non-finite loss they agreed on): dist_end then finalizes whatever the
 *  status, so no rank is cut off while rank 0 still writes the checkpoint. */
void dist_settled(void);

int dist_rank(void);    /* 0 in a single process */
/** This rank's place among the ranks on its own machine (the launcher's
 *  OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID or SLURM_LOCALID; else the
 *  rank): which of the machine's devices it takes. */
int dist_local_rank(void);
int dist_size(void);    /* 1 in a single process */
int dist_is_root(void); /* rank 0: the one that writes files and prints */

/** In-place sums over every rank (no-ops in a single process): 0, or
 *  non-zero after a message. */
int dist_sum_f64(double *buf, size_t n);
int dist_sum_f32(float *buf, size_t n);
/** 1 when @p flag is non-zero on any rank: a decision every rank must take
 *  together (Ctrl-C reached one of them). */
int dist_any(int flag);
/** Rank 0's @p bytes at @p buf on every rank. A failed broadcast (as a
 *  failed dist_any) ends every rank with MPI_Abort: the ranks could no
 *  longer agree on what comes next. */
void dist_broadcast(void *buf, size_t bytes);

/** This rank's share of a batch of @p b examples: [*lo, *hi). Ranks below
 *  b % size take one more, so rank 0's share is empty only when b is 0. */
void dist_share(int64_t b, int64_t *lo, int64_t *hi);

#endif
