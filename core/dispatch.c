/* dispatch.c - op invocation: validate, infer shapes, choose an
 * implementation (backend kernel, host kernel, composite, host fallback),
 * run it, and record it for autograd. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define ST_MAX_IO 64
/* private flag: a view retried on a contiguous copy (never twice) */
#define ST_INVOKE_RETRIED (1u << 31)


static strata_status run_kernel(strata_device *dev, const st_op *op, strata_kernel_fn fn, void *user,
                                strata_tensor *const *in, int n_in, strata_tensor *const *out, int n_out,
                                const strata_attr *attrs, int n_attrs)
{
    strata_tensor_desc in_d[ST_MAX_IO], out_d[ST_MAX_IO];
    for (int k = 0; k < n_in; k++)
        st_tensor_fill_desc(in[k], &in_d[k]);
    for (int k = 0; k < n_out; k++)
        st_tensor_fill_desc(out[k], &out_d[k]);
    strata_kernel_call call = {
        .struct_size = sizeof call,
        .op = op->name,
        .backend_self = dev->be->def.self,
        .device = dev->index,
        .user = user,
        .inputs = in_d,
        .n_inputs = n_in,
        .outputs = out_d,
        .n_outputs = n_out,
        .attrs = attrs,
        .n_attrs = n_attrs,
    };
    strata_clear_error();
    strata_status rc = fn(&call);
    if (rc != STRATA_OK) {
        const char *m = strata_last_error();
        if (!m[0])
            st_error(rc, "%s failed on %s (%s)", op->name, dev->name, strata_status_name(rc));
        else if (!strstr(m, op->name))
            st_error_context(rc, "%s on %s", op->name, dev->name);
    }
    return rc;
}

static int supports(strata_device *dev, const st_op *op, strata_tensor *const *in, int n_in, const strata_attr *attrs,
                    int n_attrs)
{
    const strata_backend_def *b = &dev->be->def;
    if (!b->supports_op)
        return 1;
    strata_tensor_desc d[ST_MAX_IO];
    for (int k = 0; k < n_in; k++)
        st_tensor_fill_desc(in[k], &d[k]);
    return b->supports_op(b->self, dev->index, op->name, op->def.version, n_in ? d : NULL, n_in, attrs, n_attrs);
}

/* "f32 (7, 13), f32 (1, 13)": the dtypes and shapes of a call's inputs, "no inputs" when there are none. */
static const char *inputs_str(char *buf, size_t n, strata_tensor *const *in, int n_in)
{
    size_t used = 0;
    buf[0] = 0;
    if (!n_in)
        snprintf(buf, n, "no inputs");
    for (int k = 0; k < n_in && used < n; k++) {
        char s[128];
        used += (size_t)snprintf(buf + used, n - used, "%s%s %s", k ? ", " : "", strata_dtype_name(in[k]->dtype),
                                 st_shape_str(s, sizeof s, in[k]->ndim, in[k]->shape));
    }
    return buf;
}

/* A host-memory backend other than @p dev's: where the host fallback may run an op. */
static int fallback_candidate(const st_backend *be, const strata_device *dev)
{
    return (be->def.flags & STRATA_BACKEND_HOST_MEMORY) && be != dev->be;
}

/* The host-memory device, other than @p dev (which has no kernel for this call or declined it), that runs @p op
 * natively and accepts these inputs, for the fallback; the highest priority (the first registered of equals).
 * Backends are asked in priority order, and only those with a kernel for @p op (or when it has a host kernel)
 * have their devices listed, so a backend below the one chosen is never probed. *hdev is NULL when there is
 * none; STRATA_E_NOMEM when listing a backend's devices ran out of memory. */
static strata_status fallback_device(strata_runtime *rt, st_op *op, const strata_device *dev,
                                     strata_tensor *const *in, int n_in, const strata_attr *attrs, int n_attrs,
                                     strata_device **hdev, const st_kernel **kn)
{
    *hdev = NULL;
    for (int64_t above = INT64_MAX;;) { /* the candidates of priority >= above were asked */
        int64_t prio = INT64_MIN;
        for (int b = 0; b < rt->n_backends; b++) {
            const st_backend *be = rt->backends[b];
            if (fallback_candidate(be, dev) && be->def.priority < above && be->def.priority > prio)
                prio = be->def.priority;
        }
        if (prio == INT64_MIN)
            return STRATA_OK;
        for (int b = 0; b < rt->n_backends; b++) {
            st_backend *be = rt->backends[b];
            if (!fallback_candidate(be, dev) || be->def.priority != prio)
                continue;
            const st_kernel *k = st_find_kernel(rt, op, b);
            if (!k && !op->def.host_kernel)
                continue;
            int n = st_backend_devices(be);
            if (n < 0)
                return STRATA_E_NOMEM;
            if (n == 0)
                continue;
            if (k && !supports(be->devices[0], op, in, n_in, attrs, n_attrs))
                k = NULL;
            if (k || op->def.host_kernel) {
                *hdev = be->devices[0];
                *kn = k;
                return STRATA_OK;
            }
        }
        above = prio;
    }
}

/* Runs @p op on host device @p hdev with copies of the inputs, then copies
 * the outputs back to @p dev. */
static strata_status run_fallback(strata_runtime *rt, st_op *op, strata_device *dev, strata_device *hdev,
                                  const st_kernel *kn, strata_tensor *const *in, int n_in, strata_tensor *const *out,
                                  int n_out, const strata_attr *attrs, int n_attrs)
{
    strata_tensor *hin[ST_MAX_IO] = {0}, *hout[ST_MAX_IO] = {0};
    strata_status rc = STRATA_OK;
    for (int k = 0; k < n_in && !rc; k++)
        rc = strata_tensor_to(in[k], hdev, &hin[k]);
    for (int k = 0; k < n_out && !rc; k++)
        rc = st_tensor_new(hdev, out[k]->dtype, out[k]->ndim, out[k]->shape, 0, &hout[k]);
    if (!rc)
        rc = run_kernel(hdev, op, kn ? kn->fn : op->def.host_kernel, kn ? kn->user : op->def.user, hin, n_in, hout,
                        n_out, attrs, n_attrs);
    for (int k = 0; k < n_out && !rc; k++) {
        size_t bytes = (size_t)strata_tensor_numel(hout[k]) * strata_dtype_size(hout[k]->dtype);
        void *buf = st_tensor_host_ptr(hout[k]);
        rc = strata_tensor_write(out[k], buf, bytes);
    }
    for (int k = 0; k < n_in; k++)
        strata_tensor_release(hin[k]);
    for (int k = 0; k < n_out; k++)
        strata_tensor_release(hout[k]);
    (void)rt;
    (void)dev;
    return rc;
}

static strata_status composite_call(strata_runtime *rt, st_op *op, strata_tensor *const *in, int n_in,
                                    const strata_attr *attrs, int n_attrs, strata_tensor **out, int n_out)
{
    strata_composite_call call = {
        .struct_size = sizeof call,
        .host = &st_host_api,
        .rt = rt,
        .op = op->name,
        .inputs = in,
        .n_inputs = n_in,
        .attrs = attrs,
        .n_attrs = n_attrs,
        .outputs = out,
        .n_outputs = n_out,
        .user = op->def.user,
    };
    strata_status rc = op->def.composite(&call);
    if (rc)
        return st_error_context(rc, "%s (composite)", op->name);
    return STRATA_OK;
}

static strata_status invoke_impl(strata_runtime *rt, const strata_op_invocation *inv, strata_device *dev);

/* Index of the first NaN or Inf of float tensor @p t (-1: none, or not a
 * float dtype); *what = "NaN", "+Inf" or "-Inf". */
static strata_status first_nonfinite(const strata_tensor *t, int64_t *at, const char **what)
{
    *at = -1;
    int dt = t->dtype;
    if (dt != STRATA_F32 && dt != STRATA_F16 && dt != STRATA_BF16)
        return STRATA_OK;
    int64_t n = strata_tensor_numel(t);
    size_t es = strata_dtype_size(dt);
    void *buf = st_malloc((size_t)n * es);
    if (!buf)
        return STRATA_E_NOMEM;
    strata_status rc = strata_tensor_read(t, buf, (size_t)n * es);
    for (int64_t k = 0; !rc && k < n && *at < 0; k++) {
        if (dt == STRATA_F32) {
            float v = ((const float *)buf)[k];
            if (!isfinite(v)) {
                *at = k;
                *what = isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";
            }
        } else {
            /* IEEE half / bfloat16: exponent all ones */
            uint16_t h = ((const uint16_t *)buf)[k];
            uint16_t e = dt == STRATA_F16 ? 0x7C00 : 0x7F80, man = dt == STRATA_F16 ? 0x03FF : 0x007F;
            if ((h & e) == e) {
                *at = k;
                *what = (h & man) ? "NaN" : (h & 0x8000) ? "-Inf" : "+Inf";
            }
        }
    }
    free(buf);
    return rc;
}

/* strata_set_detect_anomaly: fails the op whose output holds the first NaN
 * or Inf, naming the op, the output, the layer (forward or backward) and
 * every input's shape, and saying which inputs were already non-finite. */
static strata_status check_finite(strata_runtime *rt, const st_op *op, strata_tensor *const *in, int n_in,
                                  strata_tensor *const *out, int n_out)
{
    for (int k = 0; k < n_out; k++) {
        int64_t at;
        const char *what = NULL;
        strata_status rc = first_nonfinite(out[k], &at, &what);
        if (rc)
            return rc;
        if (at < 0)
            continue;
        char ins[512] = "", shp[128];
        size_t used = 0;
        for (int i = 0; i < n_in && used < sizeof ins; i++) {
            int64_t bad = -1;
            const char *bw = NULL;
            if (first_nonfinite(in[i], &bad, &bw))
                bad = -1;
            int w = snprintf(ins + used, sizeof ins - used, "%s%s %s%s%s", i ? ", " : "",
                             st_shape_str(shp, sizeof shp, in[i]->ndim, in[i]->shape), strata_dtype_name(in[i]->dtype),
                             bad >= 0 ? " holding " : "", bad >= 0 ? bw : "");
            used += w > 0 ? (size_t)w : 0;
        }
        char where[320];
        if (rt->anomaly_bw_op)
            snprintf(where, sizeof where, "in the backward of %s%s%s", rt->anomaly_bw_op,
                     rt->anomaly_layer ? " of " : "", rt->anomaly_layer ? rt->anomaly_layer : "");
        else if (rt->anomaly_layer)
            snprintf(where, sizeof where, "in the forward of %s", rt->anomaly_layer);
        else
            snprintf(where, sizeof where, "outside any layer");
        return st_error(STRATA_E_NUMERIC,
                        "anomaly detected: %s produced %s at element %lld of output %d %s %s, %s; inputs: %s",
                        op->name, what, (long long)at, k, st_shape_str(shp, sizeof shp, out[k]->ndim, out[k]->shape),
                        strata_dtype_name(out[k]->dtype), where, n_in ? ins : "none");
    }
    return STRATA_OK;
}

int strata_set_detect_anomaly(strata_runtime *rt, int on)
{
    if (!rt)
        return 0;
    int prev = rt->detect_anomaly;
    rt->detect_anomaly = on ? 1 : 0;
    return prev;
}

/* Set by invoke_impl when the op ran as its composite (the inner ops are
 * timed instead); an op with a composite that ran a kernel is timed itself. */
static _Thread_local int ran_composite;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Times the op when profiling is on. Nested calls (composites, views that
 * copy) are attributed to the innermost op only, so totals do not double.
 * The device is synchronized before and after, so on a backend that queues
 * its work (cuda, opencl) the time is the op's own, not its launch's or the
 * ops' before it that a sync inside it waited for. */
static strata_status invoke_on(strata_runtime *rt, const strata_op_invocation *inv, strata_device *dev)
{
    if (!rt->profile)
        return invoke_impl(rt, inv, dev);
    static _Thread_local double nested;
    double saved = nested;
    int saved_composite = ran_composite;
    nested = 0;
    ran_composite = 0;
    if (dev)
        (void)strata_device_synchronize(dev); /* a failure shows in the op's own call */
    double t0 = now_seconds();
    strata_status rc = invoke_impl(rt, inv, dev);
    if (dev && !rc) /* a failure of the queued work shows at the next op or sync, as unprofiled (the op
                       succeeded and its outputs are the caller's) */
        (void)strata_device_synchronize(dev);
    double dt = now_seconds() - t0;
    int composite = ran_composite;
    ran_composite = saved_composite;
    st_op *op = st_find_op(rt, inv->op, inv->version);
    if (op && !rc && !composite) {
        int ph = rt->in_backward ? 1 : 0;
        op->prof_calls[ph]++;
        op->prof_seconds[ph] += dt - nested;
    }
    nested = saved + dt;
    return rc;
}

void strata_profile_enable(strata_runtime *rt, int on)
{
    if (rt)
        rt->profile = on ? 1 : 0;
}

void strata_profile_reset(strata_runtime *rt)
{
    for (int k = 0; rt && k < rt->n_ops; k++) {
        memset(rt->ops[k]->prof_calls, 0, sizeof rt->ops[k]->prof_calls);
        memset(rt->ops[k]->prof_seconds, 0, sizeof rt->ops[k]->prof_seconds);
    }
}

int strata_profile_count(const strata_runtime *rt)
{
    int n = 0;
    for (int k = 0; rt && k < rt->n_ops; k++)
        n += (rt->ops[k]->prof_calls[0] > 0) + (rt->ops[k]->prof_calls[1] > 0);
    return n;
}

strata_status strata_profile_get(const strata_runtime *rt, int i, const char **op, int *backward, int64_t *calls,
                                 double *seconds)
{
    int n = 0;
    for (int k = 0; rt && k < rt->n_ops; k++) {
        for (int ph = 0; ph < 2; ph++) {
            if (rt->ops[k]->prof_calls[ph] <= 0)
                continue;
            if (n++ != i)
                continue;
            if (op)
                *op = rt->ops[k]->name;
            if (backward)
                *backward = ph;
            if (calls)
                *calls = rt->ops[k]->prof_calls[ph];
            if (seconds)
                *seconds = rt->ops[k]->prof_seconds[ph];
            return STRATA_OK;
        }
    }
    return st_error(STRATA_E_INVALID, "strata_profile_get: index %d outside [0, %d)", i, n);
}

/* @p src's values into @p dst (same shape and dtype, on one device), not
 * recorded and not checked for NaN: the op that made them was. */
static strata_status copy_into(strata_runtime *rt, strata_tensor *dst, strata_tensor *src)
{
    strata_op_invocation inv = {.struct_size = sizeof inv, .op = "core::copy",
                                .flags = STRATA_INVOKE_OUTPUTS_PROVIDED, .inputs = &src, .n_inputs = 1,
                                .outputs = &dst, .n_outputs = 1};
    const int anomaly = rt->detect_anomaly;
    rt->detect_anomaly = 0;
    strata_status rc = invoke_on(rt, &inv, dst->st->dev);
    rt->detect_anomaly = anomaly;
    return rc;
}

static strata_status invoke_impl(strata_runtime *rt, const strata_op_invocation *inv, strata_device *dev)
{
    st_op *op = st_find_op(rt, inv->op, inv->version);
    if (!op) {
        if (inv->version > 0 && st_find_op(rt, inv->op, 0))
            return st_error(STRATA_E_NOT_FOUND, "op %s version %d is not registered (newest is %d)", inv->op,
                            inv->version, st_find_op(rt, inv->op, 0)->def.version);
        return st_error(STRATA_E_NOT_FOUND, "unknown op '%s' (see `strata info` for the registered ops)", inv->op);
    }
    const strata_op_def *def = &op->def;
    int n_in = inv->n_inputs;
    if (n_in < def->min_inputs || (def->max_inputs >= 0 && n_in > def->max_inputs) || n_in > ST_MAX_IO)
        return st_error(STRATA_E_INVALID, "%s takes %d..%d inputs, got %d", op->name, def->min_inputs,
                        def->max_inputs < 0 ? ST_MAX_IO : def->max_inputs, n_in);
    int n_out = def->n_outputs >= 0 ? def->n_outputs : inv->n_outputs;
    if (inv->n_outputs != n_out || n_out < 1 || n_out > ST_MAX_IO)
        return st_error(STRATA_E_INVALID, "%s produces %d output(s); the call asked for %d", op->name, n_out,
                        inv->n_outputs);
    if (inv->n_attrs < 0 || inv->n_attrs > ST_MAX_IO - 4 || (inv->n_attrs && !inv->attrs))
        return st_error(STRATA_E_INVALID, "%s: bad attribute count %d", op->name, inv->n_attrs);
    strata_status bad_attr = st_attrs_check(op->name, inv->attrs, inv->n_attrs);
    if (!bad_attr && op->attr_spec && (inv->n_attrs || op->attrs_required))
        bad_attr = st_check_op_attrs(op->name, op->attr_spec, op->attrs_required, inv->attrs, inv->n_attrs);
    if (bad_attr)
        return bad_attr;
    const int provided = (inv->flags & STRATA_INVOKE_OUTPUTS_PROVIDED) != 0;
    /* another runtime's backend is not in rt->backends: every op looked kernel-less and ran through the
     * fallback (or failed as "no kernel on ref:0"), recorded in this runtime's graph */
    if (dev->rt != rt)
        return st_error(STRATA_E_INVALID, "%s: input 0 is on %s of another runtime (a tensor is used with the "
                                          "runtime that made it; strata_tensor_to copies it over)",
                        op->name, dev->name);
    for (int k = 0; k < n_in; k++) {
        if (!inv->inputs[k])
            return st_error(STRATA_E_INVALID, "%s: input %d is NULL", op->name, k);
        if (inv->inputs[k]->st->dev != dev)
            return st_error(STRATA_E_INVALID, "%s: input %d is on %s but input 0 is on %s", op->name, k,
                            inv->inputs[k]->st->dev->name, dev->name);
        const int dt = inv->inputs[k]->dtype;
        if ((dt == STRATA_F16 || dt == STRATA_BF16) && !(def->flags & STRATA_OP_HALF))
            return st_error(STRATA_E_DTYPE, "%s: input %d is %s, a storage dtype this op does not take "
                                            "(core::cast with dtype f32 converts it)", op->name, k,
                            strata_dtype_name(dt));
    }

    /* attributes: the caller's, plus seed/offset for random ops */
    strata_attr attrs[ST_MAX_IO];
    int n_attrs = inv->n_attrs;
    if (n_attrs)
        memcpy(attrs, inv->attrs, sizeof(strata_attr) * (size_t)n_attrs);
    int add_rng = (def->flags & STRATA_OP_RANDOM) && !strata_attr_find(attrs, n_attrs, "seed");
    if (add_rng) {
        attrs[n_attrs++] = strata_attr_int("seed", (int64_t)rt->rng_seed);
        attrs[n_attrs++] = strata_attr_int("offset", (int64_t)rt->rng_offset);
    }

    strata_tensor *in[ST_MAX_IO];
    for (int k = 0; k < n_in; k++)
        in[k] = inv->inputs[k];
    strata_tensor *copies[ST_MAX_IO] = {0};
    strata_tensor *outs[ST_MAX_IO] = {0};
    strata_tensor *over[ST_MAX_IO] = {0}; /* provided outputs a fresh one stands in for, see below */
    strata_status rc = STRATA_OK;

    /* shape inference */
    strata_tensor_desc in_d[ST_MAX_IO], out_d[ST_MAX_IO];
    for (int k = 0; k < n_in; k++)
        st_tensor_fill_desc(in[k], &in_d[k]);
    memset(out_d, 0, sizeof(strata_tensor_desc) * (size_t)n_out);
    for (int k = 0; k < n_out; k++) {
        out_d[k].struct_size = sizeof(strata_tensor_desc);
        out_d[k].dtype = n_in ? in_d[0].dtype : STRATA_F32;
    }
    strata_infer_call ic = {sizeof ic, op->name, in_d, n_in, attrs, n_attrs, out_d, n_out, def->user};
    strata_clear_error();
    rc = def->infer(&ic);
    if (rc == STRATA_E_UNSUPPORTED && (def->flags & STRATA_OP_VIEW) && n_in && !strata_tensor_is_contiguous(in[0]) &&
        !(inv->flags & ST_INVOKE_RETRIED)) {
        /* the view needs a contiguous base: copy (recorded, so gradients flow) */
        strata_tensor *c;
        rc = st_call1(rt, "core::copy", &in[0], 1, NULL, 0, &c);
        if (rc)
            return rc;
        strata_op_invocation again = *inv;
        again.flags |= ST_INVOKE_RETRIED;
        strata_tensor *in2[ST_MAX_IO];
        memcpy(in2, inv->inputs, sizeof(strata_tensor *) * (size_t)n_in);
        in2[0] = c;
        again.inputs = in2;
        rc = invoke_on(rt, &again, dev);
        strata_tensor_release(c);
        return rc;
    }
    if (rc) {
        if (!strata_last_error()[0])
            st_error(rc, "%s: shape inference failed (%s)", op->name, strata_status_name(rc));
        else if (!strstr(strata_last_error(), op->name))
            st_error_context(rc, "%s", op->name);
        return rc;
    }
    for (int k = 0; k < n_out; k++) {
        if (out_d[k].ndim < 0 || out_d[k].ndim > STRATA_MAX_DIMS || !strata_dtype_size(out_d[k].dtype))
            return st_error(STRATA_E_INTERNAL, "%s: infer produced an invalid output %d (rank %d, dtype %d)",
                            op->name, k, out_d[k].ndim, out_d[k].dtype);
        for (int d = 0; d < out_d[k].ndim; d++)
            if (out_d[k].shape[d] < 0)
                return st_error(STRATA_E_SHAPE, "%s: output %d would have negative dimension %d", op->name, k, d);
    }
    if (add_rng) {
        uint64_t n = (uint64_t)st_numel(out_d[0].ndim, out_d[0].shape);
        rt->rng_offset += strata_philox_blocks(n);
    }

    /* views: no kernel, just a new header over the same storage */
    if (def->flags & STRATA_OP_VIEW) {
        if (provided)
            return st_error(STRATA_E_INVALID, "%s is a view op and cannot write into provided outputs", op->name);
        rc = st_tensor_view(in[0], out_d[0].ndim, out_d[0].shape, out_d[0].strides, out_d[0].byte_offset, &outs[0]);
        if (rc)
            return st_error_context(rc, "%s", op->name);
        goto record;
    }

    /* outputs */
    if (provided) {
        for (int k = 0; k < n_out; k++) {
            strata_tensor *o = inv->outputs[k];
            if (o && o->st->dev != dev) {
                rc = st_error(STRATA_E_INVALID, "%s: provided output %d is on %s, the inputs on %s", op->name, k,
                              o->st->dev->name, dev->name);
                goto fail;
            }
            if (!o || o->dtype != out_d[k].dtype || o->ndim != out_d[k].ndim ||
                memcmp(o->shape, out_d[k].shape, sizeof(int64_t) * (size_t)o->ndim) ||
                !strata_tensor_is_contiguous(o)) {
                char a[128], b[128];
                rc = st_error(STRATA_E_SHAPE, "%s: provided output %d is %s %s, expected contiguous %s %s on %s",
                              op->name, k, o ? strata_dtype_name(o->dtype) : "NULL",
                              o ? st_shape_str(a, sizeof a, o->ndim, o->shape) : "",
                              strata_dtype_name(out_d[k].dtype), st_shape_str(b, sizeof b, out_d[k].ndim, out_d[k].shape),
                              dev->name);
                goto fail; /* releases the outputs retained before this one */
            }
            outs[k] = strata_tensor_retain(o);
        }
        /* written from here on, also by a kernel that then fails: a graph that saved one must not use it */
        for (int k = 0; k < n_out; k++)
            outs[k]->st->version++;
    }

    /* choose the implementation */
    int be = st_backend_index(rt, dev->be);
    const st_kernel *kn = st_find_kernel(rt, op, be);
    int declined = 0; /* a kernel is registered there, but its backend's supports_op said no to this call */
    if (kn && !supports(dev, op, in, n_in, attrs, n_attrs)) {
        kn = NULL;
        declined = 1;
    }
    strata_kernel_fn fn = kn ? kn->fn : NULL;
    void *fn_user = kn ? kn->user : NULL;
    if (!fn && def->host_kernel && dev->host_memory) {
        fn = def->host_kernel;
        fn_user = def->user;
    }
    /* An op with a composite and no backward is differentiable only through
     * its composite's ops: while the graph would record it, the composite
     * runs even where a kernel exists (strata_plugin.h). */
    if (fn && def->composite && !def->backward && !provided && rt->grad_enabled && !(def->flags & STRATA_OP_NO_GRAD)) {
        int any = 0;
        for (int k = 0; k < n_in; k++)
            any |= in[k]->requires_grad;
        if (any)
            fn = NULL;
    }
    if (!fn && def->composite && !provided) { /* the inner ops record themselves */
        strata_tensor *made[ST_MAX_IO] = {0}; /* the caller's outputs are written only on success */
        rc = composite_call(rt, op, in, n_in, attrs, n_attrs, made, n_out);
        ran_composite = 1;
        for (int k = 0; k < n_out; k++) {
            if (rc)
                strata_tensor_release(made[k]);
            else
                inv->outputs[k] = made[k];
        }
        return rc;
    }

    /* contiguous inputs unless the kernel reads strides */
    if (!(def->flags & STRATA_OP_STRIDED)) {
        for (int k = 0; k < n_in; k++) {
            if (!strata_tensor_is_contiguous(in[k])) {
                int prev = strata_set_grad_enabled(rt, 0);
                rc = st_call1(rt, "core::copy", &in[k], 1, NULL, 0, &copies[k]);
                strata_set_grad_enabled(rt, prev);
                if (rc)
                    goto fail;
                in[k] = copies[k];
            }
        }
    }
    if (!provided) {
        for (int k = 0; k < n_out; k++) {
            rc = st_tensor_new(dev, out_d[k].dtype, out_d[k].ndim, out_d[k].shape, 0, &outs[k]);
            if (rc)
                goto fail;
        }
    }

    /* A provided output over an input's storage: only ops flagged in-place
     * (optimizer steps, running statistics) have kernels that read each element
     * before they write it. Others write a fresh tensor, copied over after. */
    if (provided && !(def->flags & STRATA_OP_INPLACE)) {
        for (int k = 0; k < n_out; k++) {
            int shared = 0;
            for (int j = 0; j < n_in; j++)
                shared |= in[j]->st == outs[k]->st;
            if (!shared)
                continue;
            over[k] = outs[k];
            outs[k] = NULL;
            if ((rc = st_tensor_new(dev, out_d[k].dtype, out_d[k].ndim, out_d[k].shape, 0, &outs[k])))
                goto fail;
        }
    }

    if (fn) {
        rc = run_kernel(dev, op, fn, fn_user, in, n_in, outs, n_out, attrs, n_attrs);
    } else {
        const st_kernel *hk = NULL;
        strata_device *hdev = NULL;
        if ((rc = fallback_device(rt, op, dev, in, n_in, attrs, n_attrs, &hdev, &hk)))
            goto fail;
        /* Why there is no kernel here: a porter told "no kernel" for a call that a registered kernel's
         * supports_op declined goes looking for a registration that is there. */
        char why[384];
        if (declined) {
            char ins[256];
            snprintf(why, sizeof why, "%s on %s: the backend's supports_op declined this call (%s)", op->name,
                     dev->name, inputs_str(ins, sizeof ins, in, n_in));
        } else {
            snprintf(why, sizeof why, "%s has no kernel on %s", op->name, dev->name);
        }
        if (!hdev) {
            rc = st_error(STRATA_E_UNSUPPORTED, "%s, and there is no host implementation to fall back to", why);
            goto fail;
        }
        if (rt->strict) {
            rc = st_error(STRATA_E_UNSUPPORTED, "%s (STRATA_STRICT=1 forbids the host fallback)", why);
            goto fail;
        }
        /* once per op and backend: one backend's warning must not hide another's */
        uint64_t bit = (uint64_t)1 << (be < 0 ? 63 : be > 63 ? 63 : be);
        if (!(op->warned_fallback & bit)) {
            op->warned_fallback |= bit;
            st_log(rt, STRATA_LOG_WARN, "%s; running it on %s with copies", why, hdev->name);
        }
        rc = run_fallback(rt, op, dev, hdev, hk, in, n_in, outs, n_out, attrs, n_attrs);
    }
    /* checked before the copies over: the inputs they overwrite are still as given */
    if (!rc && rt->detect_anomaly)
        rc = check_finite(rt, op, in, n_in, outs, n_out);
    for (int k = 0; k < n_out && !rc; k++) {
        if (!over[k])
            continue;
        rc = copy_into(rt, over[k], outs[k]);
        strata_tensor_release(outs[k]);
        outs[k] = over[k];
        over[k] = NULL;
    }
    if (rc)
        goto fail;

record:
    for (int k = 0; k < n_in; k++)
        strata_tensor_release(copies[k]);
    if (!provided) {
        rc = st_graph_record(rt, op, inv->inputs, n_in, outs, n_out, attrs, n_attrs);
        if (rc) {
            for (int k = 0; k < n_out; k++)
                strata_tensor_release(outs[k]);
            return rc;
        }
        for (int k = 0; k < n_out; k++)
            inv->outputs[k] = outs[k];
    } else {
        for (int k = 0; k < n_out; k++)
            strata_tensor_release(outs[k]);
    }
    return STRATA_OK;

fail:
    for (int k = 0; k < n_in; k++)
        strata_tensor_release(copies[k]);
    for (int k = 0; k < n_out; k++) {
        strata_tensor_release(outs[k]);
        strata_tensor_release(over[k]);
    }
    return rc;
}

strata_status st_invoke(strata_runtime *rt, const strata_op_invocation *inv)
{
    if (!rt || !inv || !inv->op)
        return st_error(STRATA_E_INVALID, "op invocation: NULL runtime, invocation or op name");
    if (inv->struct_size < offsetof(strata_op_invocation, n_outputs) + sizeof(inv->n_outputs))
        return st_error(STRATA_E_INVALID, "op invocation of %s: struct_size %zu is too small", inv->op,
                        inv->struct_size);
    if (inv->n_inputs < 1)
        return st_error(STRATA_E_INVALID, "%s needs tensor inputs here; use strata_op_create for ops without inputs",
                        inv->op);
    if (!inv->inputs || !inv->inputs[0] || !inv->outputs)
        return st_error(STRATA_E_INVALID, "%s: NULL inputs or outputs array", inv->op);
    return invoke_on(rt, inv, inv->inputs[0]->st->dev);
}

strata_status strata_op_invoke(strata_runtime *rt, const strata_op_invocation *inv)
{
    if (inv && inv->version < 0)
        return st_error(STRATA_E_INVALID, "strata_op_invoke: %s: version must be 0 (the newest) or more, got %d",
                        inv->op ? inv->op : "(NULL op)", (int)inv->version);
    if (inv && (inv->flags & ~(uint32_t)STRATA_INVOKE_OUTPUTS_PROVIDED))
        return st_error(STRATA_E_INVALID, "strata_op_invoke: %s: unknown flags 0x%x", inv->op ? inv->op : "(NULL op)",
                        (unsigned)(inv->flags & ~(uint32_t)STRATA_INVOKE_OUTPUTS_PROVIDED));
    return st_invoke(rt, inv);
}

strata_status strata_op_call(strata_runtime *rt, const char *op, strata_tensor *const *inputs, int n_inputs,
                             const strata_attr *attrs, int n_attrs, strata_tensor **outputs, int n_outputs)
{
    strata_op_invocation inv = {
        .struct_size = sizeof inv,
        .op = op,
        .inputs = inputs,
        .n_inputs = n_inputs,
        .attrs = attrs,
        .n_attrs = n_attrs,
        .outputs = outputs,
        .n_outputs = n_outputs,
    };
    return st_invoke(rt, &inv);
}

strata_status st_call1(strata_runtime *rt, const char *op, strata_tensor *const *in, int n_in,
                       const strata_attr *attrs, int n_attrs, strata_tensor **out)
{
    return strata_op_call(rt, op, in, n_in, attrs, n_attrs, out, 1);
}

strata_status strata_op_create(strata_device *dev, const char *op, const strata_attr *attrs, int n_attrs,
                               strata_tensor **out)
{
    if (!dev || !op || !out)
        return st_error(STRATA_E_INVALID, "strata_op_create: NULL argument");
    strata_op_invocation inv = {
        .struct_size = sizeof inv,
        .op = op,
        .attrs = attrs,
        .n_attrs = n_attrs,
        .outputs = out,
        .n_outputs = 1,
    };
    return invoke_on(dev->rt, &inv, dev);
}

int strata_op_runs_kernel(strata_device *dev, const char *op, int version, strata_tensor *const *inputs,
                          int n_inputs, const strata_attr *attrs, int n_attrs)
{
    if (!dev || !op || n_inputs < 0 || n_inputs > ST_MAX_IO || (n_inputs && !inputs) || n_attrs < 0 ||
        (n_attrs && !attrs) || n_attrs > ST_MAX_IO - 2)
        return 0;
    strata_runtime *rt = dev->rt;
    st_op *o = st_find_op(rt, op, version);
    if (!o || !st_find_kernel(rt, o, st_backend_index(rt, dev->be)))
        return 0;
    for (int k = 0; k < n_inputs; k++)
        if (!inputs[k] || inputs[k]->st->dev != dev)
            return 0;
    /* the attributes supports_op sees in a call: a random op's seed and offset come from the runtime */
    strata_attr at[ST_MAX_IO];
    int n_at = n_attrs;
    if (n_attrs)
        memcpy(at, attrs, sizeof(strata_attr) * (size_t)n_attrs);
    if ((o->def.flags & STRATA_OP_RANDOM) && !strata_attr_find(at, n_at, "seed")) {
        at[n_at++] = strata_attr_int("seed", (int64_t)rt->rng_seed);
        at[n_at++] = strata_attr_int("offset", (int64_t)rt->rng_offset);
    }
    return supports(dev, o, inputs, n_inputs, at, n_at);
}

/* Fills @p t in place with a random op. */
static strata_status init_random(strata_tensor *t, const char *op, const char *a_name, double a, const char *b_name,
                                 double b)
{
    if (!t || t->dtype != STRATA_F32)
        return st_error(STRATA_E_INVALID, "%s init: needs an f32 tensor", op);
    strata_attr at[3] = {strata_attr_ints("shape", t->shape, t->ndim), strata_attr_float(a_name, a),
                         strata_attr_float(b_name, b)};
    strata_op_invocation inv = {
        .struct_size = sizeof inv,
        .op = op,
        .flags = STRATA_INVOKE_OUTPUTS_PROVIDED,
        .attrs = at,
        .n_attrs = 3,
        .outputs = &t,
        .n_outputs = 1,
    };
    return invoke_on(t->rt, &inv, t->st->dev);
}

strata_status st_zero_on_device(strata_tensor *t, int *done)
{
    *done = 0;
    strata_runtime *rt = t->rt;
    st_op *op = st_find_op(rt, "core::fill", 0);
    if (!op || (t->dtype != STRATA_F32 && t->dtype != STRATA_I32 && t->dtype != STRATA_I64) ||
        !st_find_kernel(rt, op, st_backend_index(rt, t->st->dev->be)))
        return STRATA_OK;
    strata_attr at[3] = {strata_attr_ints("shape", t->shape, t->ndim), strata_attr_float("value", 0.0),
                         strata_attr_int("dtype", t->dtype)};
    if (!supports(t->st->dev, op, NULL, 0, at, 3))
        return STRATA_OK; /* declined: the caller clears the storage with a host copy */
    strata_op_invocation inv = {
        .struct_size = sizeof inv,
        .op = "core::fill",
        .flags = STRATA_INVOKE_OUTPUTS_PROVIDED,
        .attrs = at,
        .n_attrs = 3,
        .outputs = &t,
        .n_outputs = 1,
    };
    *done = 1;
    return invoke_on(rt, &inv, t->st->dev);
}

strata_status st_init_uniform(strata_tensor *t, double low, double high)
{
    return init_random(t, "core::uniform", "low", low, "high", high);
}

strata_status st_init_normal(strata_tensor *t, double mean, double std)
{
    return init_random(t, "core::normal", "mean", mean, "std", std);
}
