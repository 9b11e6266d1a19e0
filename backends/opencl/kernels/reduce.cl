/*
 * reduce.cl - sums over any set of dims (sum, mean, sum_to_shape, the
 * reduced losses). One work-group per output element: its items stride
 * over the reduced elements, then combine pairwise in local memory.
 */
#define OCL_RED_WG 256

/* The sums accumulate in double where the device has it: each item adds
 * n_red / 256 values in order, and in float 1e7 values of 0.1 summed to
 * 1000374 (PyTorch: 999999.4, ref: 1000000.0). */
#ifdef OCL_FP64
typedef double ocl_acc;
#else
typedef float ocl_acc;
#endif

/* y[y_off + j] = scale * sum_r x[x_off + kept(j) + red(r)], j < n_out
 * (one group each), r < n_red; kept/red map row-major indices over the
 * kept and reduced dims to offsets through their strides. The group size
 * is a power of two, at most OCL_RED_WG. */
__kernel void reduce_sum(__global float *y, long y_off, __global const float *x, long x_off, long n_red, int nk,
                         long8 kshape, long8 kstride, int nr, long8 rshape, long8 rstride, float scale)
{
    __local ocl_acc part[OCL_RED_WG];
    const long j = get_group_id(0);
    const int lid = get_local_id(0), ls = get_local_size(0);
    const long base = x_off + ocl_strided(j, nk, kshape, kstride);
    ocl_acc s = 0;
    if (nr == 1) {
        long st = rstride.s0;
        for (long r = lid; r < n_red; r += ls)
            s += x[base + r * st];
    } else if (nr == 2 && n_red > 0) {
        /* r = (o, i): stepping r by ls steps (o, i) by (q, rem) with one carry, no division per element */
        const long n1 = rshape.s1, s0 = rstride.s0, s1 = rstride.s1;
        const long q = ls / n1, rem = ls - q * n1;
        long o = lid / n1, i = lid - o * n1;
        for (long r = lid; r < n_red; r += ls) {
            s += x[base + o * s0 + i * s1];
            i += rem;
            o += q;
            if (i >= n1) {
                i -= n1;
                o++;
            }
        }
    } else {
        for (long r = lid; r < n_red; r += ls)
            s += x[base + ocl_strided(r, nr, rshape, rstride)];
    }
    part[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int w = ls / 2; w > 0; w >>= 1) {
        if (lid < w)
            part[lid] += part[lid + w];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0)
        y[y_off + j] = (float)(part[0] * scale);
}

/* 1 if (v, j) comes before (bv, bj) in max order: NaN wins, then the
 * larger value, then the first index (ref's ref_beats, scanning in order). */
inline int ocl_max_beats(float v, long j, float bv, long bj)
{
    int vn = isnan(v), bn = isnan(bv);
    if (vn || bn)
        return vn && (!bn || j < bj);
    return v > bv || (v == bv && j < bj);
}

/* Per output j (one group each) over the reduced elements of x (layout as
 * reduce_sum): mode 0 y[j] = max; mode 1 yi[j] = the reduced index of the
 * first max; mode 2 dx[that element] = dy[j] (dx zero-filled before). */
__kernel void reduce_max(__global float *y, __global long *yi, __global float *dx, __global const float *dy,
                         long dy_off, __global const float *x, long x_off, long n_red, int nk, long8 kshape,
                         long8 kstride, int nr, long8 rshape, long8 rstride, int mode)
{
    __local float pv[OCL_RED_WG];
    __local long pj[OCL_RED_WG];
    const long j = get_group_id(0);
    const int lid = get_local_id(0), ls = get_local_size(0);
    const long base = ocl_strided(j, nk, kshape, kstride);
    float bv = NAN;
    long bj = -1;
    for (long r = lid; r < n_red; r += ls) {
        float v = x[x_off + base + ocl_strided(r, nr, rshape, rstride)];
        if (bj < 0 || ocl_max_beats(v, r, bv, bj)) {
            bv = v;
            bj = r;
        }
    }
    pv[lid] = bv;
    pj[lid] = bj;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int w = ls / 2; w > 0; w >>= 1) {
        if (lid < w && pj[lid + w] >= 0 && (pj[lid] < 0 || ocl_max_beats(pv[lid + w], pj[lid + w], pv[lid], pj[lid]))) {
            pv[lid] = pv[lid + w];
            pj[lid] = pj[lid + w];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid != 0 || pj[0] < 0)
        return;
    if (mode == 0)
        y[j] = pv[0];
    else if (mode == 1)
        yi[j] = pj[0];
    else
        dx[base + ocl_strided(pj[0], nr, rshape, rstride)] = dy[dy_off + j];
}
