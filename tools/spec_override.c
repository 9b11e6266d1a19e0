/* spec_override.c - `--set KEY=VALUE`: a spec value changed on the command
 * line (optimizer.lr=0.01, train.epochs=3, model.layers.1.out_features=256)
 * without editing the YAML file.
 *
 * Each override is spliced into the spec's text at the byte position
 * libyaml reports for the value it replaces, so everything else (comments,
 * layout, the line numbers of errors) stays as written; a key the spec lacks
 * is inserted into the mapping that should hold it. The result is parsed
 * and validated like any spec (unknown keys and bad values are errors with
 * file:line), and a run records it as RUN/spec.yaml. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "cli.h"

const char *cli_sets[CLI_MAX_SETS];
int cli_n_sets;

/* A growing string. */
typedef struct {
    char *s;
    size_t len;
} text_buf;

/* out = in[0, at) + ins + in[cut, len): 0, or -1 out of memory. */
static int splice(text_buf *t, size_t at, size_t cut, const char *ins)
{
    size_t n = strlen(ins), len = t->len - (cut - at) + n;
    char *s = malloc(len + 1);
    if (!s)
        return -1;
    memcpy(s, t->s, at);
    memcpy(s + at, ins, n);
    memcpy(s + at + n, t->s + cut, t->len - cut);
    s[len] = '\0';
    free(t->s);
    t->s = s;
    t->len = len;
    return 0;
}

/* printf into a new string (malloc'ed), or NULL out of memory. */
static char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s) {
        va_start(ap, fmt);
        vsnprintf(s, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    return s;
}

/* "c: {d: v}" for the path components @p rest (separated by '.') and value
 * @p v (malloc'ed), or NULL out of memory. */
static char *nested(const char *rest, const char *v)
{
    const char *dot = strchr(rest, '.');
    if (!dot)
        return xprintf("%s: %s", rest, v);
    char *inner = nested(dot + 1, v);
    char *s = inner ? xprintf("%.*s: {%s}", (int)(dot - rest), rest, inner) : NULL;
    free(inner);
    return s;
}

static yaml_node_t *mapping_get(yaml_document_t *doc, yaml_node_t *map, const char *key, size_t klen)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == klen &&
            !memcmp(k->data.scalar.value, key, klen))
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

/* libyaml's mark.index counts characters (after a BOM it skips): the byte
 * offset of character @p chars of the UTF-8 text. */
static size_t byte_at(const text_buf *t, size_t chars)
{
    size_t b = t->len >= 3 && !memcmp(t->s, "\xEF\xBB\xBF", 3) ? 3 : 0;
    for (size_t c = 0; c < chars && b < t->len; c++)
        for (b++; b < t->len && ((unsigned char)t->s[b] & 0xC0) == 0x80; b++)
            ;
    return b;
}

/* How many times each node of @p doc is referenced (index: node id): more
 * than once for a node with an anchor that aliases (*name) use again. */
static unsigned *reference_counts(yaml_document_t *doc)
{
    size_t n = (size_t)(doc->nodes.top - doc->nodes.start);
    unsigned *count = calloc(n + 1, sizeof *count);
    if (!count)
        return NULL;
    count[1] = 1; /* the root */
    for (yaml_node_t *node = doc->nodes.start; node < doc->nodes.top; node++) {
        if (node->type == YAML_MAPPING_NODE)
            for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++)
                count[p->key]++, count[p->value]++;
        else if (node->type == YAML_SEQUENCE_NODE)
            for (yaml_node_item_t *i = node->data.sequence.items.start; i < node->data.sequence.items.top; i++)
                count[*i]++;
    }
    return count;
}

/* Replaces the value @p node (a scalar or a flow collection) by @p value:
 * 0, or 1 after a message. */
static int replace_value(text_buf *t, const char *path, const char *set, yaml_node_t *node, const char *value)
{
    size_t at = byte_at(t, node->start_mark.index), cut = byte_at(t, node->end_mark.index);
    if (at < t->len && (t->s[at] == '&' || t->s[at] == '!')) { /* the node's marks include its properties */
        fprintf(stderr, "strata: error: --set %s: %s:%zu: this value has a YAML %s; change it in the file\n", set, path,
                node->start_mark.line + 1, t->s[at] == '&' ? "anchor (&name)" : "tag (!tag)");
        return 1;
    }
    const char *tail = "";
    if (node->type == YAML_SCALAR_NODE && (node->data.scalar.style == YAML_LITERAL_SCALAR_STYLE ||
                                           node->data.scalar.style == YAML_FOLDED_SCALAR_STYLE)) {
        /* a block scalar (| or >) ends after its last line: keep that line break and the next line's indent */
        size_t nl = cut;
        while (nl > at && t->s[nl - 1] != '\n')
            nl--;
        if (nl > at)
            cut = nl, tail = "\n";
    }
    const char *lead = ""; /* `key:` with no value, or `{key}` in a flow mapping */
    if (at == cut) {
        size_t p = at;
        while (p > 0 && (t->s[p - 1] == ' ' || t->s[p - 1] == '\t'))
            p--;
        lead = p > 0 && t->s[p - 1] == ':' ? " " : ": ";
    }
    char *v = xprintf("%s%s%s", lead, value, tail);
    if (!v || splice(t, at, cut, v)) {
        fprintf(stderr, "strata: error: --set: out of memory\n");
        free(v);
        return 1;
    }
    free(v);
    return 0;
}

/* Applies KEY=VALUE @p set to the text: 0, or 1 after a message naming @p path. */
static int apply_one(text_buf *t, const char *path, const char *set)
{
    const char *eq = strchr(set, '=');
    int dots = 0;
    for (const char *c = set; c + 1 < eq && !dots; c++)
        dots = c[0] == '.' && c[1] == '.';
    if (!eq || eq == set || eq[-1] == '.' || set[0] == '.' || dots || strchr(eq + 1, '\n')) {
        fprintf(stderr, "strata: error: --set %s: expected KEY=VALUE with KEY a dotted path such as optimizer.lr "
                        "(and VALUE on one line)\n",
                set);
        return 2;
    }
    const char *value = eq + 1;
    char *key = xprintf("%.*s", (int)(eq - set), set);
    if (!key) {
        fprintf(stderr, "strata: error: --set: out of memory\n");
        return 1;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        fprintf(stderr, "strata: error: --set: out of memory\n");
        free(key);
        return 1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)t->s, t->len);
    int ok = yaml_parser_load(&parser, &doc);
    if (!ok) {
        fprintf(stderr, "strata: error: %s:%zu: %s (before applying --set %s)\n", path, parser.problem_mark.line + 1,
                parser.problem ? parser.problem : "cannot be parsed", set);
        yaml_parser_delete(&parser);
        free(key);
        return 1;
    }
    yaml_parser_delete(&parser);
    int r = 1;
    yaml_node_t *node = yaml_document_get_root_node(&doc);
    unsigned *refs = node ? reference_counts(&doc) : NULL;
    if (node && !refs) {
        fprintf(stderr, "strata: error: --set: out of memory\n");
        node = NULL;
    } else if (!node || node->type != YAML_MAPPING_NODE) {
        fprintf(stderr, "strata: error: --set %s: %s is not a mapping of settings\n", set, path);
        node = NULL;
    }
    const char *comp = key;
    while (node) {
        const char *dot = strchr(comp, '.');
        size_t clen = dot ? (size_t)(dot - comp) : strlen(comp);
        yaml_node_t *next = NULL;
        if (node->type == YAML_MAPPING_NODE) {
            next = mapping_get(&doc, node, comp, clen);
            if (!next) { /* a new key of this mapping, before its first one */
                char *ins = nested(comp, value), *add = NULL;
                yaml_node_pair_t *first = node->data.mapping.pairs.start;
                const int flow = node->data.mapping.style == YAML_FLOW_MAPPING_STYLE;
                size_t at = 0;
                if (first < node->data.mapping.pairs.top) {
                    yaml_node_t *k = yaml_document_get_node(&doc, first->key);
                    at = byte_at(t, k->start_mark.index);
                    add = !ins ? NULL : flow ? xprintf("%s, ", ins) : xprintf("%s\n%*s", ins, (int)k->start_mark.column, "");
                } else if (flow && byte_at(t, node->end_mark.index) > 0 &&
                           t->s[byte_at(t, node->end_mark.index) - 1] == '}') {
                    at = byte_at(t, node->end_mark.index) - 1;
                    add = ins ? xprintf("%s", ins) : NULL;
                } else {
                    fprintf(stderr, "strata: error: --set %s: %s:%zu: cannot add a key to this mapping\n", set, path,
                            node->start_mark.line + 1);
                    free(ins);
                    break;
                }
                if (!add || (r = splice(t, at, at, add)))
                    fprintf(stderr, "strata: error: --set: out of memory\n");
                free(ins);
                free(add);
                break;
            }
        } else if (node->type == YAML_SEQUENCE_NODE) {
            long n = (long)(node->data.sequence.items.top - node->data.sequence.items.start), idx = 0;
            size_t digits = 0;
            while (digits < clen && comp[digits] >= '0' && comp[digits] <= '9' && idx <= n)
                idx = idx * 10 + (comp[digits++] - '0');
            if (!clen || digits != clen || idx >= n) {
                fprintf(stderr, "strata: error: --set %s: %s:%zu: '%.*s' is not an index of this %ld-item list\n", set,
                        path, node->start_mark.line + 1, (int)clen, comp, n);
                break;
            }
            next = yaml_document_get_node(&doc, node->data.sequence.items.start[idx]);
        } else {
            fprintf(stderr, "strata: error: --set %s: %s:%zu: '%.*s' is a value, with no member '%.*s'\n", set, path,
                    node->start_mark.line + 1, (int)(comp - key - 1), key, (int)clen, comp);
            break;
        }
        if (refs[next - doc.nodes.start + 1] > 1) {
            fprintf(stderr, "strata: error: --set %s: %s:%zu: %.*s is the value anchored here (&name) and shared "
                            "through aliases (*name); change it in the file\n",
                    set, path, next->start_mark.line + 1, (int)(comp + clen - key), key);
            break;
        }
        if (!dot) { /* next is the value to replace */
            int block = (next->type == YAML_MAPPING_NODE && next->data.mapping.style != YAML_FLOW_MAPPING_STYLE) ||
                        (next->type == YAML_SEQUENCE_NODE && next->data.sequence.style != YAML_FLOW_SEQUENCE_STYLE);
            if (block) {
                fprintf(stderr, "strata: error: --set %s: %s:%zu: %s is a block of settings; set its %s one by one (%s.%s=...)\n",
                        set, path, next->start_mark.line + 1, key,
                        next->type == YAML_SEQUENCE_NODE ? "items" : "keys", key,
                        next->type == YAML_SEQUENCE_NODE ? "INDEX.KEY" : "KEY");
                break;
            }
            r = replace_value(t, path, set, next, value);
            break;
        }
        node = next;
        comp = dot + 1;
    }
    free(refs);
    yaml_document_delete(&doc);
    free(key);
    return r;
}

int cli_spec_load(strata_runtime *rt, const char *path, strata_spec **out)
{
    *out = NULL;
    strata_status rc;
    if (!cli_n_sets) {
        if ((rc = strata_spec_load(rt, path, out)))
            return cli_fail("loading the spec", rc);
        return 0;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "strata: error: cannot read the spec %s: %s\n", path, strerror(errno));
        return 1;
    }
    text_buf t = {NULL, 0};
    char chunk[65536];
    size_t n;
    int r = 0;
    while (!r && (n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        char *s = realloc(t.s, t.len + n + 1);
        if (!s) {
            r = 1;
            break;
        }
        memcpy(s + t.len, chunk, n);
        t.s = s;
        t.len += n;
        t.s[t.len] = '\0';
    }
    if (ferror(f) || (!r && !t.s && !(t.s = calloc(1, 1)))) {
        fprintf(stderr, "strata: error: cannot read the spec %s\n", path);
        r = 1;
    }
    fclose(f);
    for (int k = 0; !r && k < cli_n_sets; k++)
        r = apply_one(&t, path, cli_sets[k]);
    if (!r && (rc = strata_spec_parse(rt, t.s, t.len, path, out))) {
        fprintf(stderr, "strata: error: loading the spec with --set: %s: %s\n", strata_status_name(rc),
                strata_last_error());
        r = 1;
    }
    free(t.s);
    return r;
}
