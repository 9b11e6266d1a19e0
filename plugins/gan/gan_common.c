/*
 * gan_common.c - small helpers shared by the gan plugin's files.
 */
#include <stdio.h>

#include "gan_internal.h"

const char *gan_shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t at = (size_t)snprintf(buf, n, "(");
    for (int k = 0; k < ndim && at < n; k++)
        at += (size_t)snprintf(buf + at, n - at, k ? ", %lld" : "%lld", (long long)shape[k]);
    if (at < n)
        snprintf(buf + at, n - at, ndim == 1 ? ",)" : ")");
    return buf;
}

int64_t gan_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int k = 0; k < ndim; k++)
        if (__builtin_mul_overflow(n, shape[k], &n))
            return -1;
    return n;
}

const char *gan_layer_who(const strata_layer_create_call *c, const char *type, char *buf, size_t n)
{
    snprintf(buf, n, "layer '%s' (%s)", c->host->layer_name(c->layer), type);
    return buf;
}
