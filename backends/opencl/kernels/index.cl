/*
 * index.cl - ops driven by integer index tensors (i32 or i64, read through
 * ocl_label of softmax.cl; ranges are checked on the host before launch),
 * and the scatter that places a slice's gradient.
 */

/* y[p, d] = w[idx[p], d]; y (P, D), w (V, D). */
__kernel void embedding_fwd(__global float *y, __global const float *w, long w_off, __global const int *idx,
                            long i_off, int is64, long P, long D)
{
    long k = get_global_id(0);
    if (k >= P * D)
        return;
    long p = k / D, d = k - p * D;
    y[k] = w[w_off + ocl_label(idx, i_off, is64, p) * D + d];
}

/* dw[v, d] = sum over p with idx[p] == v of dy[p, d]: one item per column
 * d owns it (no races). dw (V, D), dy (P, D). */
__kernel void embedding_bwd(__global float *dw, __global const float *dy, long dy_off, __global const int *idx,
                            long i_off, int is64, long P, long V, long D)
{
    long d = get_global_id(0);
    if (d >= D)
        return;
    for (long v = 0; v < V; v++)
        dw[v * D + d] = 0.0f;
    for (long p = 0; p < P; p++)
        dw[ocl_label(idx, i_off, is64, p) * D + d] += dy[dy_off + p * D + d];
}

/* torch.gather: y[i] = x[base(i) + idx[i] axis_stride], base(i) the x
 * offset of idx position i with its axis coordinate set to 0. */
__kernel void gather_fwd(__global float *y, __global const float *x, long x_off, __global const int *idx, long i_off,
                         int is64, long n, int nd, long8 ishape, long8 xstride0, long axis_stride)
{
    long i = get_global_id(0);
    if (i >= n)
        return;
    y[i] = x[x_off + ocl_strided(i, nd, ishape, xstride0) + ocl_label(idx, i_off, is64, i) * axis_stride];
}

/* dx (zero-filled before) += dy scattered through idx along the axis: one
 * item per fibre along the axis (fshape = idx's shape with the axis dim 1),
 * so two items never write one element. */
__kernel void gather_bwd(__global float *dx, __global const float *dy, long dy_off, __global const int *idx,
                         long i_off, int is64, long fibres, int nd, long8 fshape, long8 istride, long8 xstride0,
                         long alen, long i_axis_stride, long x_axis_stride)
{
    long f = get_global_id(0);
    if (f >= fibres)
        return;
    long ib = ocl_strided(f, nd, fshape, istride), xb = ocl_strided(f, nd, fshape, xstride0);
    for (long a = 0; a < alen; a++) {
        long k = ib + a * i_axis_stride;
        dx[xb + ocl_label(idx, i_off, is64, k) * x_axis_stride] += dy[dy_off + k];
    }
}

/* y[p, c] = (c == idx[p]); y (P, C). */
__kernel void one_hot_fwd(__global float *y, __global const int *idx, long i_off, int is64, long P, long C)
{
    long k = get_global_id(0);
    if (k >= P * C)
        return;
    long p = k / C, c = k - p * C;
    y[k] = c == ocl_label(idx, i_off, is64, p) ? 1.0f : 0.0f;
}

/* y[y_off + strided(i)] = x[x_off + i]: a contiguous x placed into y
 * through strides (slice_backward; y zero-filled before). */
__kernel void scatter_strided(__global float *y, long y_off, __global const float *x, long x_off, long n, int nd,
                              long8 shape8, long8 ystride8)
{
    long i = get_global_id(0);
    if (i < n)
        y[y_off + ocl_strided(i, nd, shape8, ystride8)] = x[x_off + i];
}
