/* yaml_tree.c - libyaml's document as a tree of yt_node with line numbers. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "spec/yaml_tree.h"

/* 1-based line and column of byte @p offset of text (reader errors carry an
 * offset, not a mark). */
static void offset_position(const char *text, size_t len, size_t offset, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t k = 0; k < offset && k < len; k++) {
        if (text[k] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static strata_status parser_error(const yaml_parser_t *p, const char *text, size_t len, const char *name)
{
    const char *problem = p->problem ? p->problem : "unknown YAML error";
    int line, col;
    switch (p->error) {
    case YAML_NO_ERROR: /* some of libyaml's allocation failures set no error */
    case YAML_MEMORY_ERROR:
        return st_error(STRATA_E_NOMEM, "%s: out of memory while parsing YAML", name);
    case YAML_READER_ERROR:
        offset_position(text, len, p->problem_offset, &line, &col);
        if (p->problem_value != -1)
            return st_error(STRATA_E_FORMAT, "%s:%d:%d: %s (byte 0x%02x)", name, line, col, problem,
                            (unsigned)p->problem_value & 0xffu);
        return st_error(STRATA_E_FORMAT, "%s:%d:%d: %s", name, line, col, problem);
    default:
        line = (int)p->problem_mark.line + 1;
        col = (int)p->problem_mark.column + 1;
        if (p->context)
            return st_error(STRATA_E_FORMAT, "%s:%d:%d: %s (%s at line %d)", name, line, col, problem, p->context,
                            (int)p->context_mark.line + 1);
        return st_error(STRATA_E_FORMAT, "%s:%d:%d: %s", name, line, col, problem);
    }
}

/* Deepest nesting of collections a spec may use; real specs need four or
 * five levels. libyaml takes time quadratic in the depth (a 400 KB file of
 * nested brackets parses for minutes), so deeper input is refused from the
 * event stream, which stops as soon as the limit is passed. */
#define YT_MAX_DEPTH 64

static strata_status check_depth(const char *text, size_t len, const char *name)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return st_error(STRATA_E_NOMEM, "%s: out of memory initialising the YAML parser", name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    strata_status s = STRATA_OK;
    int depth = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            s = parser_error(&parser, text, len, name);
            break;
        }
        yaml_event_type_t type = ev.type;
        int line = (int)ev.start_mark.line + 1;
        yaml_event_delete(&ev);
        if (type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT) {
            if (++depth > YT_MAX_DEPTH) {
                s = st_error(STRATA_E_FORMAT, "%s:%d: lists and maps nested more than %d deep; a spec needs a handful",
                             name, line, YT_MAX_DEPTH);
                break;
            }
        } else if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT) {
            depth--;
        } else if (type == YAML_STREAM_END_EVENT) {
            break;
        }
    }
    yaml_parser_delete(&parser);
    return s;
}

void yt_free(yt_doc *d)
{
    if (!d)
        return;
    for (int k = 0; k < d->n_nodes; k++) {
        free(d->nodes[k].text);
        free(d->nodes[k].items);
    }
    free(d->nodes);
    free(d);
}

/* Copies libyaml's node array; node ids are 1-based indices into it. */
static strata_status convert(yaml_document_t *src, yt_doc *d)
{
    int n = (int)(src->nodes.top - src->nodes.start);
    d->nodes = st_calloc((size_t)n, sizeof(yt_node));
    if (!d->nodes)
        return STRATA_E_NOMEM;
    d->n_nodes = n;
    for (int k = 0; k < n; k++) {
        const yaml_node_t *s = &src->nodes.start[k];
        yt_node *t = &d->nodes[k];
        t->line = (int)s->start_mark.line + 1;
        t->col = (int)s->start_mark.column + 1;
        switch (s->type) {
        case YAML_SCALAR_NODE:
            t->kind = YT_SCALAR;
            t->len = s->data.scalar.length;
            t->text = st_malloc(t->len + 1);
            if (!t->text)
                return STRATA_E_NOMEM;
            memcpy(t->text, s->data.scalar.value, t->len);
            t->text[t->len] = '\0';
            t->quoted = s->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
            break;
        case YAML_SEQUENCE_NODE: {
            t->kind = YT_SEQ;
            int m = (int)(s->data.sequence.items.top - s->data.sequence.items.start);
            t->items = st_calloc((size_t)m, sizeof(yt_node *));
            if (!t->items)
                return STRATA_E_NOMEM;
            for (int j = 0; j < m; j++)
                t->items[j] = &d->nodes[s->data.sequence.items.start[j] - 1];
            t->n = m;
            break;
        }
        case YAML_MAPPING_NODE: {
            t->kind = YT_MAP;
            int m = (int)(s->data.mapping.pairs.top - s->data.mapping.pairs.start);
            t->items = st_calloc((size_t)m * 2, sizeof(yt_node *));
            if (!t->items)
                return STRATA_E_NOMEM;
            for (int j = 0; j < m; j++) {
                t->items[2 * j] = &d->nodes[s->data.mapping.pairs.start[j].key - 1];
                t->items[2 * j + 1] = &d->nodes[s->data.mapping.pairs.start[j].value - 1];
            }
            t->n = m;
            break;
        }
        default:
            return st_error(STRATA_E_INTERNAL, "unexpected libyaml node type %d", (int)s->type);
        }
    }
    return STRATA_OK;
}

strata_status yt_parse(const char *text, size_t len, const char *name, yt_doc **out)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    strata_status s = STRATA_OK;
    yt_doc *d = st_calloc(1, sizeof *d);
    if (!d)
        return STRATA_E_NOMEM;
    if (!yaml_parser_initialize(&parser)) {
        free(d);
        return st_error(STRATA_E_NOMEM, "%s: out of memory initialising the YAML parser", name);
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if ((s = check_depth(text, len, name)) != STRATA_OK)
        goto done;
    if (!yaml_parser_load(&parser, &doc)) {
        s = parser_error(&parser, text, len, name);
        goto done;
    }
    if (yaml_document_get_root_node(&doc)) {
        s = convert(&doc, d);
        if (s == STRATA_OK)
            d->root = &d->nodes[0]; /* libyaml stores the root first */
    }
    /* libyaml reads a merge key as the key "<<": the section then lacked its keys ("layer 1 has no 'type'") */
    for (int k = 0; s == STRATA_OK && d->root && k < d->n_nodes; k++)
        for (int j = 0; d->nodes[k].kind == YT_MAP && j < d->nodes[k].n; j++) {
            const yt_node *key = d->nodes[k].items[2 * j];
            if (key->kind == YT_SCALAR && !key->quoted && !strcmp(key->text, "<<")) {
                s = st_error(STRATA_E_FORMAT, "%s:%d:%d: YAML merge keys (<<) are not supported in a spec: write the "
                                              "keys out (an alias of a whole value, *name, works)",
                             name, key->line, key->col);
                break;
            }
        }
    yaml_document_delete(&doc);
    if (s != STRATA_OK || !d->root)
        goto done;
    /* A spec is one document; a second one is almost surely a mistake. */
    if (!yaml_parser_load(&parser, &doc)) {
        s = parser_error(&parser, text, len, name);
        goto done;
    }
    yaml_node_t *extra = yaml_document_get_root_node(&doc);
    if (extra)
        s = st_error(STRATA_E_FORMAT, "%s:%d: a spec holds one YAML document; a second one starts here", name,
                     (int)extra->start_mark.line + 1);
    yaml_document_delete(&doc);
done:
    yaml_parser_delete(&parser);
    if (s != STRATA_OK) {
        yt_free(d);
        return s;
    }
    *out = d;
    return STRATA_OK;
}

const yt_node *yt_map_key(const yt_node *map, const char *key)
{
    if (!map || map->kind != YT_MAP)
        return NULL;
    for (int k = 0; k < map->n; k++) {
        const yt_node *kn = map->items[2 * k];
        if (kn->kind == YT_SCALAR && strcmp(kn->text, key) == 0)
            return kn;
    }
    return NULL;
}

const yt_node *yt_map_get(const yt_node *map, const char *key)
{
    if (!map || map->kind != YT_MAP)
        return NULL;
    for (int k = 0; k < map->n; k++) {
        const yt_node *kn = map->items[2 * k];
        if (kn->kind == YT_SCALAR && strcmp(kn->text, key) == 0)
            return map->items[2 * k + 1];
    }
    return NULL;
}

static int all_in(const char *s, const char *set)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!strchr(set, *s))
            return 0;
    return 1;
}

/* [-+]? ( .D+ | D+ ( . D* )? ) ( [eE] [-+]? D+ )?  - the core schema's float. */
static int is_decimal_float(const char *s)
{
    int digits = 0;
    if (*s == '-' || *s == '+')
        s++;
    while (*s >= '0' && *s <= '9') {
        s++;
        digits++;
    }
    if (*s == '.') {
        s++;
        while (*s >= '0' && *s <= '9') {
            s++;
            digits++;
        }
    }
    if (!digits)
        return 0;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+')
            s++;
        if (!(*s >= '0' && *s <= '9'))
            return 0;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return *s == '\0';
}

static int one_of(const char *s, const char *const *words, int n)
{
    for (int k = 0; k < n; k++)
        if (strcmp(s, words[k]) == 0)
            return 1;
    return 0;
}

yt_type yt_type_of(const yt_node *n, int64_t *i, double *f)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    static const char *const trues[] = {"true", "True", "TRUE"};
    static const char *const falses[] = {"false", "False", "FALSE"};
    static const char *const infs[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"};
    static const char *const ninfs[] = {"-.inf", "-.Inf", "-.INF"};
    static const char *const nans[] = {".nan", ".NaN", ".NAN"};
    int64_t iv = 0;
    double fv = 0.0;
    yt_type t;

    if (!n)
        return YT_T_NULL;
    if (n->kind == YT_SEQ)
        return YT_T_SEQ;
    if (n->kind == YT_MAP)
        return YT_T_MAP;
    const char *s = n->text;
    if (n->quoted || strlen(s) != n->len)
        return YT_T_STRING;

    if (one_of(s, nulls, (int)ST_ARRAY_LEN(nulls))) {
        t = YT_T_NULL;
    } else if (one_of(s, trues, (int)ST_ARRAY_LEN(trues))) {
        t = YT_T_BOOL;
        iv = 1;
        fv = 1.0;
    } else if (one_of(s, falses, (int)ST_ARRAY_LEN(falses))) {
        t = YT_T_BOOL;
    } else if ((s[0] == '-' || s[0] == '+' ? all_in(s + 1, "0123456789") : all_in(s, "0123456789"))) {
        errno = 0;
        long long v = strtoll(s, NULL, 10);
        if (errno == ERANGE) {
            t = YT_T_FLOAT;
            fv = strtod(s, NULL);
        } else {
            t = YT_T_INT;
            iv = v;
            fv = (double)v;
        }
    } else if ((s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) &&
               all_in(s + 2, s[1] == 'x' ? "0123456789abcdefABCDEF" : "01234567")) {
        errno = 0;
        unsigned long long v = strtoull(s + 2, NULL, s[1] == 'x' ? 16 : 8);
        if (errno == ERANGE || v > (unsigned long long)INT64_MAX)
            return YT_T_STRING;
        t = YT_T_INT;
        iv = (int64_t)v;
        fv = (double)v;
    } else if (is_decimal_float(s)) {
        t = YT_T_FLOAT;
        fv = strtod(s, NULL);
    } else if (one_of(s, infs, (int)ST_ARRAY_LEN(infs))) {
        t = YT_T_FLOAT;
        fv = INFINITY;
    } else if (one_of(s, ninfs, (int)ST_ARRAY_LEN(ninfs))) {
        t = YT_T_FLOAT;
        fv = -INFINITY;
    } else if (one_of(s, nans, (int)ST_ARRAY_LEN(nans))) {
        t = YT_T_FLOAT;
        fv = NAN;
    } else {
        t = YT_T_STRING;
    }
    if (i)
        *i = iv;
    if (f)
        *f = fv;
    return t;
}

const char *yt_type_name(yt_type t)
{
    switch (t) {
    case YT_T_NULL:
        return "an empty value";
    case YT_T_BOOL:
        return "a boolean";
    case YT_T_INT:
        return "an integer";
    case YT_T_FLOAT:
        return "a number";
    case YT_T_STRING:
        return "a string";
    case YT_T_SEQ:
        return "a sequence";
    case YT_T_MAP:
        return "a mapping";
    }
    return "a value";
}

const char *yt_describe(const yt_node *n, char *buf, size_t size)
{
    if (!n)
        snprintf(buf, size, "nothing");
    else if (n->kind == YT_SEQ)
        snprintf(buf, size, "a sequence");
    else if (n->kind == YT_MAP)
        snprintf(buf, size, "a mapping");
    else if (yt_type_of(n, NULL, NULL) == YT_T_NULL)
        snprintf(buf, size, "an empty value");
    else if (n->len > 40)
        snprintf(buf, size, "'%.37s...'", n->text);
    else
        snprintf(buf, size, "'%s'", n->text);
    return buf;
}
