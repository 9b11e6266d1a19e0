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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "cli.h"
#include "write_atomic.h"

const char *cli_sets[CLI_MAX_SETS];
int cli_n_sets;

/* The spec loaded with the changes, and the line of its text that holds each change's value (0: none found), for
 * the errors of building its model or optimizer later: they cite that line, which the file has otherwise. */
static const char *set_spec_path;
static size_t set_lines[CLI_MAX_SETS];

int cli_batch_size_set(int64_t b)
{
    static char set[48];
    if (b <= 0)
        return 0;
    if (cli_n_sets == CLI_MAX_SETS) {
        fprintf(stderr, "strata: error: --batch-size: more than %d spec changes (--set) in all\n", CLI_MAX_SETS);
        return 2;
    }
    snprintf(set, sizeof set, "train.batch_size=%lld", (long long)b);
    cli_sets[cli_n_sets++] = set;
    return 0;
}

/* Where the changes' errors go: stderr, or nowhere while blame_set tries
 * them in other combinations (they applied once already). */
static FILE *set_quiet;

static FILE *set_msgs(void)
{
    return set_quiet ? set_quiet : stderr;
}

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

/* The value of @p key in @p map (its key node in @p *key_node), or NULL. */
static yaml_node_t *mapping_get(yaml_document_t *doc, yaml_node_t *map, const char *key, size_t klen,
                                yaml_node_t **key_node)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == klen &&
            !memcmp(k->data.scalar.value, key, klen)) {
            *key_node = k;
            return yaml_document_get_node(doc, p->value);
        }
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

/* Replaces the value @p node (a scalar or a flow collection; of mapping key
 * @p key, or a list item when NULL) by @p value: 0, or 1 after a message. */
static int replace_value(text_buf *t, const char *path, const char *set, const yaml_node_t *key, yaml_node_t *node,
                         const char *value)
{
    size_t at = byte_at(t, node->start_mark.index), cut = byte_at(t, node->end_mark.index);
    if (at < t->len && (t->s[at] == '&' || t->s[at] == '!')) { /* the node's marks include its properties */
        fprintf(set_msgs(), "strata: error: --set %s: %s:%zu: this value has a YAML %s; change it in the file\n", set, path,
                node->start_mark.line + 1, t->s[at] == '&' ? "anchor (&name)" : "tag (!tag)");
        return 1;
    }
    if (node->type == YAML_SCALAR_NODE && (node->data.scalar.style == YAML_LITERAL_SCALAR_STYLE ||
                                           node->data.scalar.style == YAML_FOLDED_SCALAR_STYLE)) {
        /* a block scalar (| or >) ends after its last line break (and maybe the next line's indent): keep those */
        size_t nl = cut;
        while (nl > at && t->s[nl - 1] == ' ')
            nl--;
        if (nl > at && t->s[nl - 1] == '\n')
            cut = nl - 1 - (nl - 1 > at && t->s[nl - 2] == '\r');
    }
    /* A value that starts its own line, at or left of its key (or list
     * dash), was a block scalar or flow collection there: a plain value
     * needs to stand to the right of its owner. */
    size_t pad = 0, b = at;
    while (b > 0 && (t->s[b - 1] == ' ' || t->s[b - 1] == '\t'))
        b--;
    if (b > 0 && t->s[b - 1] == '\n') {
        size_t owner = SIZE_MAX;
        if (key) {
            owner = key->start_mark.column;
        } else {
            while (b > 0 && strchr(" \t\r\n", t->s[b - 1]))
                b--;
            if (b > 0 && t->s[b - 1] == '-') {
                size_t line = b - 1;
                while (line > 0 && t->s[line - 1] != '\n')
                    line--;
                owner = b - 1 - line;
            }
        }
        if (owner != SIZE_MAX && node->start_mark.column <= owner)
            pad = owner + 1 - node->start_mark.column;
    }
    const char *lead = ""; /* no value: `key:`, `{key}` in a flow mapping, `-` */
    if (at == cut) {
        size_t p = at, k = key ? byte_at(t, key->start_mark.index) : 0;
        while (p > 0 && (t->s[p - 1] == ' ' || t->s[p - 1] == '\t'))
            p--;
        while (k > 0 && (t->s[k - 1] == ' ' || t->s[k - 1] == '\t'))
            k--;
        if (key && k > 0 && t->s[k - 1] == '?' && !(p > 0 && t->s[p - 1] == ':')) {
            fprintf(set_msgs(), "strata: error: --set %s: %s:%zu: an explicit key (? key) with no value; write one in "
                            "the file\n",
                    set, path, key->start_mark.line + 1);
            return 1;
        }
        lead = key && !(p > 0 && t->s[p - 1] == ':') ? ": " : " ";
    }
    /* `"x"#c`: after a quoted or flow value a comment needs no space, after a plain one it does */
    const char *gap = cut < t->len && t->s[cut] == '#' ? " " : "";
    char *v = xprintf("%*s%s%s%s", (int)pad, "", lead, value, gap);
    if (!v || splice(t, at, cut, v)) {
        fprintf(set_msgs(), "strata: error: --set: out of memory\n");
        free(v);
        return 1;
    }
    free(v);
    return 0;
}

/* Applies KEY=VALUE @p set to the text: 0, or 1 (2 for a usage error) after a message naming @p path. */
static int apply_one(text_buf *t, const char *path, const char *set)
{
    const char *eq = strchr(set, '=');
    int bad = !eq || eq == set || eq[-1] == '.' || set[0] == '.' || strchr(eq + 1, '\n') || strchr(eq + 1, '\r');
    for (const char *c = set; !bad && c < eq; c++) /* names and indexes joined by single dots */
        bad = c[0] == '.' ? c[1] == '.'
                          : !((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                              *c == '_' || *c == '-');
    if (bad) {
        fprintf(set_msgs(), "strata: error: --set %s: expected KEY=VALUE with KEY a dotted path of names and list "
                        "indexes such as optimizer.lr or model.layers.1.out_features (and VALUE on one line)\n",
                set);
        return 2;
    }
    const char *value = eq + 1;
    char *key = xprintf("%.*s", (int)(eq - set), set);
    if (!key) {
        fprintf(set_msgs(), "strata: error: --set: out of memory\n");
        return 1;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        fprintf(set_msgs(), "strata: error: --set: out of memory\n");
        free(key);
        return 1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)t->s, t->len);
    int ok = yaml_parser_load(&parser, &doc);
    if (!ok) {
        fprintf(set_msgs(), "strata: error: %s:%zu: %s (before applying --set %s)\n", path, parser.problem_mark.line + 1,
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
        fprintf(set_msgs(), "strata: error: --set: out of memory\n");
        node = NULL;
    } else if (!node || node->type != YAML_MAPPING_NODE) {
        fprintf(set_msgs(), "strata: error: --set %s: %s is not a mapping of settings\n", set, path);
        node = NULL;
    }
    const char *comp = key;
    while (node) {
        const char *dot = strchr(comp, '.');
        size_t clen = dot ? (size_t)(dot - comp) : strlen(comp);
        yaml_node_t *next = NULL, *next_key = NULL;
        if (node->type == YAML_MAPPING_NODE) {
            next = mapping_get(&doc, node, comp, clen, &next_key);
            if (!next) { /* a new key of this mapping, before its first one */
                char *ins = nested(comp, value), *add = NULL;
                yaml_node_pair_t *first = node->data.mapping.pairs.start;
                const int flow = node->data.mapping.style == YAML_FLOW_MAPPING_STYLE;
                size_t at = 0;
                if (first < node->data.mapping.pairs.top) {
                    yaml_node_t *k = yaml_document_get_node(&doc, first->key);
                    size_t column = k->start_mark.column;
                    at = byte_at(t, k->start_mark.index);
                    size_t q = at;
                    while (q > 0 && t->s[q - 1] == ' ')
                        q--;
                    if (q > 0 && t->s[q - 1] == '?' && column >= at - q + 1) { /* `? key`: before the '?' */
                        column -= at - q + 1;
                        at = q - 1;
                    }
                    add = !ins ? NULL : flow ? xprintf("%s, ", ins) : xprintf("%s\n%*s", ins, (int)column, "");
                } else if (flow && byte_at(t, node->end_mark.index) > 0 &&
                           t->s[byte_at(t, node->end_mark.index) - 1] == '}') {
                    at = byte_at(t, node->end_mark.index) - 1;
                    add = ins ? xprintf("%s", ins) : NULL;
                } else {
                    fprintf(set_msgs(), "strata: error: --set %s: %s:%zu: cannot add a key to this mapping\n", set, path,
                            node->start_mark.line + 1);
                    free(ins);
                    break;
                }
                if (!add || (r = splice(t, at, at, add)))
                    fprintf(set_msgs(), "strata: error: --set: out of memory\n");
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
                fprintf(set_msgs(), "strata: error: --set %s: %s:%zu: '%.*s' is not an index of this %ld-item list\n", set,
                        path, node->start_mark.line + 1, (int)clen, comp, n);
                break;
            }
            next = yaml_document_get_node(&doc, node->data.sequence.items.start[idx]);
        } else {
            fprintf(set_msgs(), "strata: error: --set %s: %s:%zu: '%.*s' is a value, with no member '%.*s'\n", set, path,
                    node->start_mark.line + 1, (int)(comp - key - 1), key, (int)clen, comp);
            break;
        }
        if (refs[next - doc.nodes.start + 1] > 1) {
            fprintf(set_msgs(), "strata: error: --set %s: %s:%zu: %.*s is the value anchored here (&name) and shared "
                            "through aliases (*name); change it in the file\n",
                    set, path, next->start_mark.line + 1, (int)(comp + clen - key), key);
            break;
        }
        if (!dot) { /* next is the value to replace */
            int block = (next->type == YAML_MAPPING_NODE && next->data.mapping.style != YAML_FLOW_MAPPING_STYLE) ||
                        (next->type == YAML_SEQUENCE_NODE && next->data.sequence.style != YAML_FLOW_SEQUENCE_STYLE);
            if (block) {
                fprintf(set_msgs(), "strata: error: --set %s: %s:%zu: %s is a block of settings; set its %s one by one (%s.%s=...)\n",
                        set, path, next->start_mark.line + 1, key,
                        next->type == YAML_SEQUENCE_NODE ? "items" : "keys", key,
                        next->type == YAML_SEQUENCE_NODE ? "INDEX.KEY" : "KEY");
                break;
            }
            r = replace_value(t, path, set, next_key, next, value);
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

/* The node at the dotted path @p key (@p klen bytes) of @p doc, or NULL. */
static yaml_node_t *find_path(yaml_document_t *doc, const char *key, size_t klen)
{
    yaml_node_t *node = yaml_document_get_root_node(doc), *k;
    for (const char *comp = key, *end = key + klen; node; comp++) {
        const char *dot = memchr(comp, '.', (size_t)(end - comp));
        size_t clen = dot ? (size_t)(dot - comp) : (size_t)(end - comp), idx = 0;
        if (node->type == YAML_MAPPING_NODE) {
            node = mapping_get(doc, node, comp, clen, &k);
        } else if (node->type == YAML_SEQUENCE_NODE) {
            for (size_t c = 0; c < clen; c++) /* digits: apply_one checked them */
                idx = idx * 10 + (size_t)(comp[c] - '0');
            node = idx < (size_t)(node->data.sequence.items.top - node->data.sequence.items.start)
                       ? yaml_document_get_node(doc, node->data.sequence.items.start[idx])
                       : NULL;
        } else {
            node = NULL;
        }
        if (!dot)
            return node;
        comp = dot;
    }
    return NULL;
}

/* After @p set was spliced into @p t: 0 when the text still parses and has
 * KEY, else 1 after a message (the splice did not do what it says). */
static int verify(const text_buf *t, const char *path, const char *set)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        fprintf(set_msgs(), "strata: error: --set: out of memory\n");
        return 1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)t->s, t->len);
    int ok = yaml_parser_load(&parser, &doc), r = 0;
    if (!ok) {
        fprintf(set_msgs(), "strata: error: --set %s: %s:%zu: with this value the spec is no longer YAML: %s (VALUE goes "
                        "into the spec as written; quote it to make it a string)\n",
                set, path, parser.problem_mark.line + 1, parser.problem ? parser.problem : "cannot be parsed");
        r = 1;
    } else {
        const char *eq = strchr(set, '=');
        const yaml_node_t *n = find_path(&doc, set, (size_t)(eq - set));
        /* a plain word must read back as itself (a number, a name: what --set is mostly given) */
        int word = eq[1] != '\0';
        for (const char *c = eq + 1; *c && word; c++)
            word = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_' ||
                   *c == '.' || *c == '-' || *c == '+';
        if (!n || (word && (n->type != YAML_SCALAR_NODE || strcmp((const char *)n->data.scalar.value, eq + 1)))) {
            fprintf(set_msgs(), "strata: error: --set %s: %s: the YAML around this key is written in a way --set cannot "
                            "edit (explicit ? keys, say); change it in the file\n",
                    set, path);
            r = 1;
        }
    }
    if (ok)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return r;
}

int cli_spec_set(char **text, size_t *len, const char *path, const char *set)
{
    text_buf t = {*text, *len};
    int r = apply_one(&t, path, set);
    if (!r)
        r = verify(&t, path, set);
    *text = t.s;
    *len = t.len;
    return r;
}

/* 1 when two messages of the spec are the same but for their numbers (the
 * lines move as changes add keys: "PATH:LINE: ... (first at line N)"). */
static int same_error(const char *a, const char *b)
{
    while (*a && *b) {
        if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
            while (*a >= '0' && *a <= '9')
                a++;
            while (*b >= '0' && *b <= '9')
                b++;
        } else if (*a++ != *b++) {
            return 0;
        }
    }
    return !*a && !*b;
}

/* 0 when the file's text with the changes [0, upto) but @p skip applied
 * loads; the status otherwise (the change cannot be applied, or the spec
 * fails: @p err, when given, gets a copy of the message). */
static strata_status try_sets(strata_runtime *rt, const char *text, size_t len, const char *path, int upto, int skip,
                              char **err)
{
    text_buf t = {malloc(len + 1), len};
    if (!t.s)
        return STRATA_E_NOMEM;
    memcpy(t.s, text, len + 1);
    strata_status rc = STRATA_OK;
    for (int k = 0; k < upto && !rc; k++)
        if (k != skip && cli_spec_set(&t.s, &t.len, path, cli_sets[k]))
            rc = STRATA_E_INVALID;
    strata_spec *s = NULL;
    if (!rc && (rc = strata_spec_parse(rt, t.s, t.len, path, &s)) != STRATA_OK && err)
        *err = strdup(strata_last_error());
    strata_spec_destroy(s);
    free(t.s);
    return rc;
}

/* Which --set the spec fails with @p final because of (its line numbers are
 * those of the changed text, so the change has to be named): the one change
 * without which it loads, when there is one; else the first after which,
 * applied in order, it fails with @p final's message (a change another one
 * completes, schedule.type before its step_size, is not blamed). -2 when
 * the file fails as written with the same message (*plain_err: its own, with
 * its own line numbers); -1 when no change can be named. */
static int blame_set(strata_runtime *rt, const char *text, size_t len, const char *path, const char *final,
                     char **plain_err)
{
    int culprit = -1;
    set_quiet = fopen("/dev/null", "w");
    char *err = NULL;
    if (try_sets(rt, text, len, path, 0, -1, &err) != STRATA_OK && err &&
        same_error(err, final)) {
        culprit = -2;
        *plain_err = err;
        err = NULL;
    } else { /* the file loads, or fails otherwise: a change fixed that */
        int n_loads = 0;
        for (int k = 0; k < cli_n_sets; k++)
            if (try_sets(rt, text, len, path, cli_n_sets, k, NULL) == STRATA_OK)
                culprit = n_loads++ ? culprit : k;
        for (int k = 0; n_loads != 1 && k < cli_n_sets; k++) {
            char *e = NULL;
            culprit = -1;
            if (try_sets(rt, text, len, path, k + 1, -1, &e) != STRATA_OK && e &&
                same_error(e, final))
                culprit = k;
            free(e);
            if (culprit >= 0)
                break;
        }
    }
    free(err);
    if (set_quiet)
        fclose(set_quiet);
    set_quiet = NULL;
    strata_clear_error();
    return culprit;
}

/* Records set_lines for the changed text @p t of @p path (it parsed). */
static void note_set_lines(const text_buf *t, const char *path)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    memset(set_lines, 0, sizeof set_lines);
    set_spec_path = path;
    if (!yaml_parser_initialize(&parser))
        return;
    yaml_parser_set_input_string(&parser, (const unsigned char *)t->s, t->len);
    if (yaml_parser_load(&parser, &doc)) {
        for (int k = 0; k < cli_n_sets; k++) {
            const char *eq = strchr(cli_sets[k], '=');
            const yaml_node_t *n = eq ? find_path(&doc, cli_sets[k], (size_t)(eq - cli_sets[k])) : NULL;
            set_lines[k] = n ? n->start_mark.line + 1 : 0;
        }
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
}

/* 1 when change @p k's value stands on a line that @p msg cites; with @p named, only when @p msg also names its
 * key's last part ("lr must be ..." for optimizer.lr=-1). */
static int set_cited(int k, const char *msg, int named)
{
    char at[4200];
    snprintf(at, sizeof at, "%s:%zu:", set_spec_path, set_lines[k]);
    if (!set_lines[k] || !strstr(msg, at))
        return 0;
    if (!named)
        return 1;
    const char *eq = strchr(cli_sets[k], '='), *name = eq;
    while (name > cli_sets[k] && name[-1] != '.')
        name--;
    snprintf(at, sizeof at, "%.*s ", (int)(eq - name), name);
    return strcasestr(msg, at) != NULL; /* "Nesterov momentum needs ..." names nesterov */
}

void cli_set_note(char *buf, size_t size, const char *msg)
{
    size_t used = 0, last = 0;
    buf[0] = '\0';
    if (!msg || !set_spec_path)
        return;
    /* several changes on the line the message cites (a flow mapping): those whose key it names, else all, as
     * what the line holds (an error about lr on a line where momentum was changed is not the change's) */
    int named = 0;
    for (int k = 0; k < cli_n_sets && !named; k++)
        named = set_cited(k, msg, 1);
    for (int k = 0; k < cli_n_sets && used < size; k++) {
        if (!set_cited(k, msg, named))
            continue;
        if (!used)
            used = (size_t)snprintf(buf, size, named ? " (line %zu as changed by --set %s" : " (line %zu holds "
                                    "--set %s", set_lines[k], cli_sets[k]);
        else if (set_lines[k] == last)
            used += (size_t)snprintf(buf + used, size - used, " and --set %s", cli_sets[k]);
        else
            used += (size_t)snprintf(buf + used, size - used, "; line %zu by --set %s", set_lines[k], cli_sets[k]);
        last = set_lines[k];
    }
    if (used && used + 2 <= size)
        strcat(buf, ")");
    else if (used) /* cut short: no note rather than half of one */
        buf[0] = '\0';
}

int cli_spec_load(strata_runtime *rt, const char *path, strata_spec **out)
{
    *out = NULL;
    strata_status rc = STRATA_OK;
    if (!cli_n_sets) {
        if ((rc = strata_spec_load(rt, path, out)))
            return cli_fail_file("loading the spec", rc, path);
        return 0;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "strata: error: cannot read the spec %s: %s\n", path, strerror(errno));
        cli_hint_missing_file(path, ".yaml");
        return 1;
    }
    text_buf t = {NULL, 0};
    int r = 0;
    if (!(t.s = cli_read_all(f, &t.len))) {
        fprintf(stderr, "strata: error: cannot read the spec %s\n", path);
        r = 1;
    }
    fclose(f);
    char *plain = r ? NULL : malloc(t.len + 1); /* the file as written, to find which --set broke it */
    size_t plain_len = t.len;
    if (plain)
        memcpy(plain, t.s, t.len + 1);
    for (int k = 0; !r && k < cli_n_sets; k++)
        r = cli_spec_set(&t.s, &t.len, path, cli_sets[k]);
    if (!r && (rc = strata_spec_parse(rt, t.s, t.len, path, out)) == STRATA_OK)
        note_set_lines(&t, path);
    if (!r && rc) {
        char *msg = strdup(strata_last_error()), *plain_err = NULL;
        int culprit = plain && msg ? blame_set(rt, plain, plain_len, path, msg, &plain_err) : -1;
        if (culprit >= 0)
            fprintf(stderr, "strata: error: --set %s: %s: %s\n", cli_sets[culprit], strata_status_name(rc), msg);
        else if (culprit == -2) /* the file's own error, with its own line numbers */
            fprintf(stderr, "strata: error: loading the spec: %s: %s\n", strata_status_name(rc), plain_err);
        else
            fprintf(stderr, "strata: error: loading the spec with --set: %s: %s\n", strata_status_name(rc),
                    msg ? msg : strata_last_error());
        free(plain_err);
        free(msg);
        r = 1;
    }
    free(plain);
    free(t.s);
    return r;
}

void cli_warn_time_major(const strata_spec *s, const strata_model *m, const char *spec_path)
{
    for (int i = 0; i < strata_model_layer_count(m); i++) {
        const char *name = NULL, *type = NULL;
        if (strata_model_layer_info(m, i, &name, &type) || !type ||
            (strcmp(type, "lstm") && strcmp(type, "gru") && strcmp(type, "rnn")))
            continue;
        char key[64];
        const char *spec_type = NULL;
        int64_t bf = 0;
        snprintf(key, sizeof key, "model.layers.%d.type", i); /* the spec's layer i is the model's */
        strata_spec_get_string(s, key, NULL, &spec_type);
        snprintf(key, sizeof key, "model.layers.%d.batch_first", i);
        strata_status rc = strata_spec_get_int(s, key, 0, &bf);
        strata_clear_error();
        if (spec_type && !strcmp(spec_type, type) && (rc == STRATA_OK || rc == STRATA_E_NOT_FOUND) && bf == 0)
            fprintf(stderr,
                    "strata: warning: %s: layer '%s' (%s) has batch_first: 0 (the default, as in PyTorch), so its "
                    "recurrence runs across the batch of sequences, not along each one; a model whose inputs are "
                    "one sequence per example wants batch_first: 1\n",
                    spec_path, name, type);
    }
}
