/*
 * cuda_grid.h - the launch shape every kernel of the backend uses: blocks
 * of CUDA_THREADS threads, at most CUDA_MAX_BLOCKS of them, each thread
 * looping over the elements a grid-stride apart (CUDA_FOR), so any n is
 * covered whatever the grid limit. For the .cu files only.
 */
#ifndef CUDA_GRID_H
#define CUDA_GRID_H

#include <stdint.h>

#define CUDA_THREADS 256
#define CUDA_MAX_BLOCKS (1 << 20)

/** Blocks for n elements (at least one). */
static inline unsigned cuda_blocks(int64_t n)
{
    int64_t b = (n + CUDA_THREADS - 1) / CUDA_THREADS;
    return (unsigned)(b < 1 ? 1 : b > CUDA_MAX_BLOCKS ? CUDA_MAX_BLOCKS : b);
}

/** for each i in [0, n) this thread owns. */
#define CUDA_FOR(i, n) for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
                            i += (int64_t)blockDim.x * gridDim.x)

#endif
