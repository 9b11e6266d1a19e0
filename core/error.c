/* error.c - status names and the per-thread error message. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

static _Thread_local char st_msg[2048];

const char *strata_status_name(strata_status s)
{
    switch (s) {
#define STRATA_X_NAME(name, value, text)                                                                     \
    case STRATA_##name:                                                                                        \
        return #name;
        STRATA_STATUS_MAP(STRATA_X_NAME)
#undef STRATA_X_NAME
    }
    return "E_UNKNOWN";
}

const char *strata_status_text(strata_status s)
{
    switch (s) {
#define STRATA_X_TEXT(name, value, text)                                                                     \
    case STRATA_##name:                                                                                        \
        return text;
        STRATA_STATUS_MAP(STRATA_X_TEXT)
#undef STRATA_X_TEXT
    }
    return "unknown status";
}

const char *strata_last_error(void)
{
    return st_msg;
}

void strata_clear_error(void)
{
    st_msg[0] = '\0';
}

strata_status st_verror(strata_status s, const char *fmt, va_list ap)
{
    vsnprintf(st_msg, sizeof st_msg, fmt, ap);
    return s;
}

strata_status st_error(strata_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    st_verror(s, fmt, ap);
    va_end(ap);
    return s;
}

strata_status st_error_context(strata_status s, const char *fmt, ...)
{
    char prefix[512], old[sizeof st_msg];
    va_list ap;
    va_start(ap, fmt);
    int lp = vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    if (lp < 0)
        return s;
    size_t np = strlen(prefix), no = strlen(st_msg);
    memcpy(old, st_msg, no + 1);
    /* "prefix: old", truncated to the buffer */
    size_t used = 0;
    for (size_t k = 0; k < np && used < sizeof st_msg - 1; k++)
        st_msg[used++] = prefix[k];
    for (const char *sep = ": "; *sep && used < sizeof st_msg - 1; sep++)
        st_msg[used++] = *sep;
    for (size_t k = 0; k < no && used < sizeof st_msg - 1; k++)
        st_msg[used++] = old[k];
    st_msg[used] = '\0';
    return s;
}

const char *st_shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t used = 0;
    used += (size_t)snprintf(buf, n, "(");
    for (int k = 0; k < ndim && used < n; k++)
        used += (size_t)snprintf(buf + used, n - used, k ? ", %lld" : "%lld", (long long)shape[k]);
    if (used < n)
        snprintf(buf + used, n - used, ")");
    return buf;
}

