/*
 * rnn.cl - the gate math of one step of the lstm plugin's sequence ops
 * (ocl_rnn.c enqueues one GEMM and one of these per step). PyTorch's
 * equations and gate order; plugins/lstm/lstm_seq.c, gru_seq.c, rnn_seq.c
 * hold the reference.
 *
 * Sequence tensors (x, y, ws, dy, da, ...) are (T B, C) matrices; the
 * rows of one step are row0 + b rstride for batch element b (rstride 1
 * time-first, T batch-first). gx (T B, G H) is the input projection of
 * every step, x W_ih^T + b_ih; gh (B, G H) the recurrent one of this step,
 * h_{t-1} W_hh^T + b_hh. A previous state (c_{t-1}, h_{t-1}) is read as
 * p[p_off + b p_bs + j]: the initial state (p_bs = H) or the previous
 * step's rows. One item per (b, j), j < H.
 */

/* LSTM: a = gx + gh; i, f, o = sigmoid, g = tanh; c = f c_prev + i g;
 * h = o tanh(c). ws rows (5H) = [i, f, g, o, c]; h_n, c_n on the last step. */
__kernel void lstm_step_fwd(__global float *y, long y_off, __global float *ws, long ws_off, __global float *hn,
                            long hn_off, __global float *cn, long cn_off, __global const float *gx,
                            __global const float *gh, __global const float *cp, long cp_off, long cp_bs, long row0,
                            long rstride, long B, long H, int last)
{
    const long k = get_global_id(0);
    if (k >= B * H)
        return;
    const long b = k / H, j = k - b * H, r = row0 + b * rstride;
    __global const float *ax = gx + r * 4 * H, *ah = gh + b * 4 * H;
    const float i = ocl_sigmoid(ax[j] + ah[j]);
    const float f = ocl_sigmoid(ax[H + j] + ah[H + j]);
    const float g = ocl_tanh(ax[2 * H + j] + ah[2 * H + j]);
    const float o = ocl_sigmoid(ax[3 * H + j] + ah[3 * H + j]);
    const float c = f * cp[cp_off + b * cp_bs + j] + i * g;
    const float h = o * ocl_tanh(c);
    __global float *w = ws + ws_off + r * 5 * H;
    w[j] = i, w[H + j] = f, w[2 * H + j] = g, w[3 * H + j] = o, w[4 * H + j] = c;
    y[y_off + r * H + j] = h;
    if (last) {
        hn[hn_off + k] = h;
        cn[cn_off + k] = c;
    }
}

/* LSTM BPTT: with dh = dh_t (B, H) (the recurrent term, from the GEMM of
 * the step after) and dc = dc_t, writes the step's da rows (4H) and turns
 * dc into dc_{t-1}; ws rows [i, f, g, o, c], cp c_{t-1}. */
__kernel void lstm_step_bwd(__global float *da, long da_off, __global float *dc, long dc_off, __global const float *dh,
                            long dh_off, __global const float *dy, long dy_off, __global const float *ws, long ws_off,
                            __global const float *cp, long cp_off, long cp_bs, long row0, long rstride, long B, long H)
{
    const long k = get_global_id(0);
    if (k >= B * H)
        return;
    const long b = k / H, j = k - b * H, r = row0 + b * rstride;
    __global const float *w = ws + ws_off + r * 5 * H;
    const float i = w[j], f = w[H + j], g = w[2 * H + j], o = w[3 * H + j], c = w[4 * H + j];
    const float dhv = dy[dy_off + r * H + j] + dh[dh_off + k];
    const float tc = ocl_tanh(c);
    const float dcv = dc[dc_off + k] + dhv * o * (1.0f - tc * tc);
    __global float *d = da + da_off + r * 4 * H;
    d[j] = dcv * g * i * (1.0f - i);
    d[H + j] = dcv * cp[cp_off + b * cp_bs + j] * f * (1.0f - f);
    d[2 * H + j] = dcv * i * (1.0f - g * g);
    d[3 * H + j] = dhv * tc * o * (1.0f - o);
    dc[dc_off + k] = dcv * f;
}

/* GRU: r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z),
 * n = tanh(gi_n + r gh_n), h = (1 - z) n + z h_prev. ws rows (4H) =
 * [r, z, n, gh_n]; hp h_{t-1}; h_n on the last step. */
__kernel void gru_step_fwd(__global float *y, long y_off, __global float *ws, long ws_off, __global float *hn,
                           long hn_off, __global const float *gi, __global const float *gh, __global const float *hp,
                           long hp_off, long hp_bs, long row0, long rstride, long B, long H, int last)
{
    const long k = get_global_id(0);
    if (k >= B * H)
        return;
    const long b = k / H, j = k - b * H, r = row0 + b * rstride;
    __global const float *ai = gi + r * 3 * H, *ah = gh + b * 3 * H;
    const float rr = ocl_sigmoid(ai[j] + ah[j]);
    const float z = ocl_sigmoid(ai[H + j] + ah[H + j]);
    const float n = ocl_tanh(ai[2 * H + j] + rr * ah[2 * H + j]);
    const float h = (1.0f - z) * n + z * hp[hp_off + b * hp_bs + j];
    __global float *w = ws + ws_off + r * 4 * H;
    w[j] = rr, w[H + j] = z, w[2 * H + j] = n, w[3 * H + j] = ah[2 * H + j];
    y[y_off + r * H + j] = h;
    if (last)
        hn[hn_off + k] = h;
}

/* GRU BPTT: dh_t = dy + dz + dg, dz (B, H) the direct term dh_{t+1} z and
 * dg (B, H) the recurrent one dgh_{t+1} W_hh (absent on the first step
 * computed: has_dg 0). Writes the step's dgi and dgh rows (3H; they differ
 * in the n block, dgh_n = dgi_n r) and turns dz into dh_t z. */
__kernel void gru_step_bwd(__global float *dgi, long dgi_off, __global float *dgh, long dgh_off, __global float *dz,
                           long dz_off, __global const float *dg, long dg_off, int has_dg, __global const float *dy,
                           long dy_off, __global const float *ws, long ws_off, __global const float *hp, long hp_off,
                           long hp_bs, long row0, long rstride, long B, long H)
{
    const long k = get_global_id(0);
    if (k >= B * H)
        return;
    const long b = k / H, j = k - b * H, r = row0 + b * rstride;
    __global const float *w = ws + ws_off + r * 4 * H;
    const float rr = w[j], z = w[H + j], n = w[2 * H + j], ghn = w[3 * H + j];
    const float dhv = dy[dy_off + r * H + j] + dz[dz_off + k] + (has_dg ? dg[dg_off + k] : 0.0f);
    const float dn = dhv * (1.0f - z) * (1.0f - n * n);
    const float dzv = dhv * (hp[hp_off + b * hp_bs + j] - n) * z * (1.0f - z);
    const float dr = dn * ghn * rr * (1.0f - rr);
    __global float *di = dgi + dgi_off + r * 3 * H, *dd = dgh + dgh_off + r * 3 * H;
    di[j] = dd[j] = dr;
    di[H + j] = dd[H + j] = dzv;
    di[2 * H + j] = dn;
    dd[2 * H + j] = dn * rr;
    dz[dz_off + k] = dhv * z;
}

/* Elman RNN: h = act(gx + gh), tanh or relu; h_n on the last step. */
__kernel void rnn_step_fwd(__global float *y, long y_off, __global float *hn, long hn_off, __global const float *gx,
                           __global const float *gh, long row0, long rstride, long B, long H, int relu, int last)
{
    const long k = get_global_id(0);
    if (k >= B * H)
        return;
    const long b = k / H, j = k - b * H, r = row0 + b * rstride;
    const float a = gx[r * H + j] + gh[k];
    const float h = relu ? (a <= 0.0f ? 0.0f : a) : ocl_tanh(a);
    y[y_off + r * H + j] = h;
    if (last)
        hn[hn_off + k] = h;
}

/* Elman RNN BPTT: da = (dy + dh) act'(a) from the saved output y
 * (relu'(0) = 0); dh (B, H) the recurrent term from the step after. */
__kernel void rnn_step_bwd(__global float *da, long da_off, __global const float *dh, long dh_off,
                           __global const float *dy, long dy_off, __global const float *y, long y_off, long row0,
                           long rstride, long B, long H, int relu)
{
    const long k = get_global_id(0);
    if (k >= B * H)
        return;
    const long b = k / H, j = k - b * H, r = row0 + b * rstride;
    const float v = y[y_off + r * H + j];
    const float dhv = dy[dy_off + r * H + j] + dh[dh_off + k];
    da[da_off + r * H + j] = relu ? (v <= 0.0f ? 0.0f : dhv) : dhv * (1.0f - v * v);
}

/* y += x over n elements (the GRU's dh0 = dz + dg). */
__kernel void add_into(__global float *y, long y_off, __global const float *x, long x_off, long n)
{
    const long k = get_global_id(0);
    if (k < n)
        y[y_off + k] += x[x_off + k];
}
