/*
 * softmax.cl - softmax and log_softmax along an axis, their backward, and
 * the losses (cross-entropy over (N, C) logits, BCE with logits).
 *
 * Rows: a tensor seen as (outer, n, inner) around the axis; row r = o
 * inner + in holds elements o n inner + i inner + in, i < n. One
 * work-group per row; its size is a power of two <= OCL_ROW_WG.
 */
#define OCL_ROW_WG 256

/* Max over the group of v (every item gets it). */
inline float ocl_group_max(__local float *part, float v)
{
    const int lid = get_local_id(0), ls = get_local_size(0);
    part[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int w = ls / 2; w > 0; w >>= 1) {
        if (lid < w)
            part[lid] = fmax(part[lid], part[lid + w]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = part[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

/* Sum over the group of v (every item gets it). */
inline float ocl_group_sum(__local float *part, float v)
{
    const int lid = get_local_id(0), ls = get_local_size(0);
    part[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int w = ls / 2; w > 0; w >>= 1) {
        if (lid < w)
            part[lid] += part[lid + w];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = part[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

/* y = softmax(x) (or log_softmax when is_log) along rows of n elements;
 * x, y (outer, n, inner). Subtracts the row max first. */
__kernel void softmax_rows(__global float *y, __global const float *x, long x_off, long n, long inner, int is_log)
{
    __local float part[OCL_ROW_WG];
    const long row = get_group_id(0), o = row / inner, in = row - o * inner;
    const long base = o * n * inner + in;
    const int lid = get_local_id(0), ls = get_local_size(0);
    x += x_off + base;
    y += base;
    float m = -INFINITY;
    for (long i = lid; i < n; i += ls)
        m = fmax(m, x[i * inner]);
    m = ocl_group_max(part, m);
    float s = 0.0f;
    for (long i = lid; i < n; i += ls)
        s += exp(x[i * inner] - m);
    s = ocl_group_sum(part, s);
    if (is_log) {
        const float log_s = log(s); /* (x - m) - log s: m + log s would round to the precision of m */
        for (long i = lid; i < n; i += ls)
            y[i * inner] = (x[i * inner] - m) - log_s;
    } else {
        float inv = 1.0f / s;
        for (long i = lid; i < n; i += ls)
            y[i * inner] = exp(x[i * inner] - m) * inv;
    }
}

/* softmax:     dx = y (dy - sum(dy y))
 * log_softmax: dx = dy - exp(y) sum(dy)      (y is the forward output) */
__kernel void softmax_backward_rows(__global float *dx, __global const float *dy, long dy_off,
                                    __global const float *y, long y_off, long n, long inner, int is_log)
{
    __local float part[OCL_ROW_WG];
    const long row = get_group_id(0), o = row / inner, in = row - o * inner;
    const long base = o * n * inner + in;
    const int lid = get_local_id(0), ls = get_local_size(0);
    dy += dy_off + base;
    y += y_off + base;
    dx += base;
    float s = 0.0f;
    for (long i = lid; i < n; i += ls)
        s += is_log ? dy[i * inner] : dy[i * inner] * y[i * inner];
    s = ocl_group_sum(part, s);
    for (long i = lid; i < n; i += ls) {
        long k = i * inner;
        dx[k] = is_log ? dy[k] - exp(y[k]) * s : y[k] * (dy[k] - s);
    }
}

/* Label of row r: labels are i32 or i64 (checked in range on the host). */
inline long ocl_label(__global const int *labels, long off, int is64, long r)
{
    return is64 ? ((__global const long *)labels)[off + r] : (long)labels[off + r];
}

/* loss[r] = logsumexp(logits[r, :]) - logits[r, label[r]]; logits (N, C). */
__kernel void cross_entropy_rows(__global float *loss, __global const float *logits, long l_off,
                                 __global const int *labels, long t_off, int is64, long C)
{
    __local float part[OCL_ROW_WG];
    const long r = get_group_id(0);
    const int lid = get_local_id(0), ls = get_local_size(0);
    __global const float *row = logits + l_off + r * C;
    float m = -INFINITY;
    for (long c = lid; c < C; c += ls)
        m = fmax(m, row[c]);
    m = ocl_group_max(part, m);
    float s = 0.0f;
    for (long c = lid; c < C; c += ls)
        s += exp(row[c] - m);
    s = ocl_group_sum(part, s);
    if (lid == 0)
        loss[r] = log(s) - (row[ocl_label(labels, t_off, is64, r)] - m);
}

/* dlogits[r, c] = (softmax(logits[r])[c] - (c == label[r])) g[r] scale,
 * g[r] = dy[r] when per_row, else dy[0]. */
__kernel void cross_entropy_backward_rows(__global float *dl, __global const float *dy, long dy_off, int per_row,
                                          __global const float *logits, long l_off, __global const int *labels,
                                          long t_off, int is64, long C, float scale)
{
    __local float part[OCL_ROW_WG];
    const long r = get_group_id(0);
    const int lid = get_local_id(0), ls = get_local_size(0);
    __global const float *row = logits + l_off + r * C;
    float m = -INFINITY;
    for (long c = lid; c < C; c += ls)
        m = fmax(m, row[c]);
    m = ocl_group_max(part, m);
    float s = 0.0f;
    for (long c = lid; c < C; c += ls)
        s += exp(row[c] - m);
    s = ocl_group_sum(part, s);
    const float log_s = log(s);
    const long label = ocl_label(labels, t_off, is64, r);
    const float g = dy[dy_off + (per_row ? r : 0)] * scale;
    for (long c = lid; c < C; c += ls)
        dl[r * C + c] = (exp((row[c] - m) - log_s) - (c == label ? 1.0f : 0.0f)) * g;
}

/* loss[i] = max(x, 0) - x t + log(1 + exp(-|x|)); x, t, loss (n). */
__kernel void bce_with_logits(__global float *loss, __global const float *x, long x_off, __global const float *t,
                              long t_off, long n)
{
    long i = get_global_id(0);
    if (i >= n)
        return;
    float xi = x[x_off + i];
    loss[i] = fmax(xi, 0.0f) - xi * t[t_off + i] + log1p(exp(-fabs(xi)));
}

/* dx[i] = (sigmoid(x) - t) g scale, g = dy[i] when per_elem, else dy[0]. */
__kernel void bce_with_logits_backward(__global float *dx, __global const float *dy, long dy_off, int per_elem,
                                       __global const float *x, long x_off, __global const float *t, long t_off,
                                       long n, float scale)
{
    long i = get_global_id(0);
    if (i >= n)
        return;
    float g = dy[dy_off + (per_elem ? i : 0)] * scale;
    dx[i] = (ocl_sigmoid(x[x_off + i]) - t[t_off + i]) * g;
}
