/* schema.c - checks attributes against a layer/optimizer schema and
 * applies defaults (STYLE.md habit 7: report defaults, reject unknown keys). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char *kind_name(int kind)
{
    switch (kind) {
    case STRATA_ATTR_INT:
        return "integer";
    case STRATA_ATTR_FLOAT:
        return "number";
    case STRATA_ATTR_INTS:
        return "list of integers";
    case STRATA_ATTR_FLOATS:
        return "list of numbers";
    case STRATA_ATTR_STRING:
        return "string";
    }
    return "unknown kind";
}

static void known_list(char *buf, size_t n, const strata_attr_spec *schema, int n_schema)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int k = 0; k < n_schema && used < n; k++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s", k ? ", " : "", schema[k].name);
    if (!n_schema)
        snprintf(buf, n, "none");
}

/* Appends @p line to *log (none when @p log is NULL); 1 when out of memory. */
static int log_append(char **log, const char *line)
{
    if (!log)
        return 0;
    size_t old = *log ? strlen(*log) : 0, add = strlen(line);
    char *p = st_realloc(*log, old + add + 2);
    if (!p)
        return 1;
    memcpy(p + old, line, add);
    p[old + add] = '\n';
    p[old + add + 1] = '\0';
    *log = p;
    return 0;
}

strata_status st_attrs_check(const char *what, const strata_attr *attrs, int n_attrs)
{
    if (n_attrs < 0 || (n_attrs && !attrs))
        return st_error(STRATA_E_INVALID, "%s: bad attribute array (%d attribute(s) at %p)", what, n_attrs,
                        (const void *)attrs);
    for (int k = 0; k < n_attrs; k++) {
        const strata_attr *a = &attrs[k];
        if (!a->name || !*a->name)
            return st_error(STRATA_E_INVALID, "%s: attribute %d has %s name", what, k, a->name ? "an empty" : "a NULL");
        int list = a->kind == STRATA_ATTR_INTS || a->kind == STRATA_ATTR_FLOATS;
        if (a->kind < STRATA_ATTR_INT || a->kind > STRATA_ATTR_STRING)
            return st_error(STRATA_E_INVALID, "%s: attribute '%s' has unknown kind %d", what, a->name, (int)a->kind);
        if (list && (a->n < 0 || (a->n > 0 && !(a->kind == STRATA_ATTR_INTS ? (const void *)a->ints
                                                                          : (const void *)a->floats))))
            return st_error(STRATA_E_INVALID, "%s: attribute '%s' is a %s of %d element(s) %s", what, a->name,
                            kind_name(a->kind), (int)a->n, a->n < 0 ? "(negative)" : "with a NULL array");
        if (a->kind == STRATA_ATTR_STRING && !a->s)
            return st_error(STRATA_E_INVALID, "%s: attribute '%s' is a NULL string", what, a->name);
    }
    return STRATA_OK;
}

strata_status st_attrs_apply_schema(const char *what, const strata_attr_spec *schema, int n_schema,
                                    const strata_attr *attrs, int n_attrs, strata_attr **out, int *n_out,
                                    char **defaults_log)
{
    char known[512];
    strata_status bad = st_attrs_check(what, attrs, n_attrs);
    if (bad)
        return bad;
    for (int k = 0; k < n_attrs; k++) {
        const strata_attr *a = &attrs[k];
        const strata_attr_spec *s = NULL;
        for (int j = 0; j < n_schema; j++)
            if (!strcmp(schema[j].name, a->name))
                s = &schema[j];
        if (!s) {
            known_list(known, sizeof known, schema, n_schema);
            return st_error(STRATA_E_INVALID, "%s: unknown attribute '%s' (known: %s)", what, a->name, known);
        }
        for (int j = 0; j < k; j++)
            if (!strcmp(attrs[j].name, a->name))
                return st_error(STRATA_E_INVALID, "%s: attribute '%s' is given twice", what, a->name);
        int ok = a->kind == s->kind || (s->kind == STRATA_ATTR_FLOAT && a->kind == STRATA_ATTR_INT) ||
                 (s->kind == STRATA_ATTR_FLOATS && a->kind == STRATA_ATTR_INTS);
        if (s->kind == STRATA_ATTR_INT && a->kind == STRATA_ATTR_FLOAT && a->f > -9.2e18 && a->f < 9.2e18 &&
            a->f == (double)(int64_t)a->f) /* whole numbers in range only: NaN or 1e300 would be UB */
            ok = 1;
        if (!ok)
            return st_error(STRATA_E_INVALID, "%s: attribute '%s' must be a %s, got a %s", what, a->name,
                            kind_name(s->kind), kind_name(a->kind));
    }
    strata_attr full[128] = {{0}};
    int n = 0;
    if (n_schema > 128)
        return st_error(STRATA_E_INVALID, "%s: schema has more than 128 attributes", what);
    double fbuf[128][1];
    for (int j = 0; j < n_schema; j++) {
        const strata_attr_spec *s = &schema[j];
        const strata_attr *given = strata_attr_find(attrs, n_attrs, s->name);
        if (given) {
            full[n] = *given;
            full[n].kind = s->kind;
            if (s->kind == STRATA_ATTR_FLOAT && given->kind == STRATA_ATTR_INT)
                full[n].f = (double)given->i;
            if (s->kind == STRATA_ATTR_INT && given->kind == STRATA_ATTR_FLOAT)
                full[n].i = (int64_t)given->f;
            if (s->kind == STRATA_ATTR_FLOATS && given->kind == STRATA_ATTR_INTS) {
                /* rare; convert element-wise is not possible without storage, so refuse long lists */
                if (given->n != 1)
                    return st_error(STRATA_E_INVALID, "%s: attribute '%s' must be a list of numbers", what, s->name);
                fbuf[j][0] = (double)given->ints[0];
                full[n].floats = fbuf[j];
            }
            n++;
            continue;
        }
        if (s->required)
            return st_error(STRATA_E_INVALID, "%s: required attribute '%s' (%s) is missing", what, s->name,
                            s->doc ? s->doc : kind_name(s->kind));
        char line[256];
        switch (s->kind) {
        case STRATA_ATTR_INT:
            full[n] = strata_attr_int(s->name, s->dflt_i);
            snprintf(line, sizeof line, "%s: %s = %lld", what, s->name, (long long)s->dflt_i);
            break;
        case STRATA_ATTR_FLOAT:
            full[n] = strata_attr_float(s->name, s->dflt_f);
            snprintf(line, sizeof line, "%s: %s = %g", what, s->name, s->dflt_f);
            break;
        case STRATA_ATTR_STRING:
            full[n] = strata_attr_string(s->name, s->dflt_s ? s->dflt_s : "");
            snprintf(line, sizeof line, "%s: %s = %s", what, s->name, s->dflt_s ? s->dflt_s : "\"\"");
            break;
        default: /* list attributes default to empty, the layer applying its own value: dflt_s says which */
            full[n] = s->kind == STRATA_ATTR_INTS ? strata_attr_ints(s->name, NULL, 0)
                                                  : strata_attr_floats(s->name, NULL, 0);
            snprintf(line, sizeof line, "%s: %s = %s", what, s->name, s->dflt_s ? s->dflt_s : "[]");
            break;
        }
        if (log_append(defaults_log, line)) /* the record of the defaults is not to lose a line */
            return st_error(STRATA_E_NOMEM, "%s: out of memory recording the default of '%s'", what, s->name);
        n++;
    }
    *out = st_attrs_copy(full, n);
    if (n && !*out)
        return STRATA_E_NOMEM;
    *n_out = n;
    return STRATA_OK;
}
