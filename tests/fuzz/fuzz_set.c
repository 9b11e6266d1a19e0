/*
 * fuzz_set.c - `strata train SPEC --set KEY=VALUE` (tools/spec_override.c):
 * the input's first line is the override, the rest the spec's text.
 *
 * Beyond not crashing, an override that cli_spec_set() reports as applied
 * must have done what it says when VALUE is a plain word (a letter or digit,
 * then letters, digits, '_', '.', '-'): the text still parses as YAML and
 * the node at KEY is now that scalar. A splice at the wrong byte breaks one
 * or the other. (Other values are YAML the user wrote: they may not parse.)
 * Then the result goes through strata_spec_parse() as the trainers' specs do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "cli.h"
#include "fuzz_common.h"

/* cli.h's error helpers, which spec_override.c refers to (tools/main.c and
 * tools/cli_opts.c have the real ones). */
int cli_fail(const char *what, strata_status s)
{
    (void)what;
    (void)s;
    return 1;
}

void cli_hint_missing_file(const char *path, const char *ext)
{
    (void)path;
    (void)ext;
}

int cli_fail_file(const char *what, strata_status s, const char *path)
{
    (void)what;
    (void)s;
    (void)path;
    return 1;
}

static int plain_word(const char *v)
{
    if (!((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') || (*v >= '0' && *v <= '9')))
        return 0;
    for (; *v; v++)
        if (!((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') || (*v >= '0' && *v <= '9') || *v == '_' ||
              *v == '.' || *v == '-'))
            return 0;
    return 1;
}

/* The node at dotted path @p key (@p klen bytes) of @p doc, or NULL. */
static yaml_node_t *node_at(yaml_document_t *doc, const char *key, size_t klen)
{
    yaml_node_t *node = yaml_document_get_root_node(doc);
    const char *comp = key, *end = key + klen;
    while (node && comp <= end) {
        const char *dot = memchr(comp, '.', (size_t)(end - comp));
        size_t clen = dot ? (size_t)(dot - comp) : (size_t)(end - comp);
        yaml_node_t *next = NULL;
        if (node->type == YAML_MAPPING_NODE) {
            for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top && !next;
                 p++) {
                yaml_node_t *k = yaml_document_get_node(doc, p->key);
                if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == clen &&
                    !memcmp(k->data.scalar.value, comp, clen))
                    next = yaml_document_get_node(doc, p->value);
            }
        } else if (node->type == YAML_SEQUENCE_NODE) {
            size_t idx = 0, n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
            for (size_t c = 0; c < clen; c++)
                idx = idx * 10 + (size_t)(comp[c] - '0');
            if (idx < n)
                next = yaml_document_get_node(doc, node->data.sequence.items.start[idx]);
        }
        node = next;
        if (!dot)
            break;
        comp = dot + 1;
    }
    return node;
}

/* Aborts unless @p text parses and holds @p value at @p key. */
static void check_applied(const char *text, size_t len, const char *set)
{
    const char *eq = strchr(set, '=');
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        return;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int ok = yaml_parser_load(&parser, &doc);
    yaml_parser_delete(&parser);
    if (!plain_word(eq + 1)) {
        if (ok)
            yaml_document_delete(&doc);
        return;
    }
    if (!ok) {
        fprintf(stderr, "fuzz_set: --set %s was applied but the text no longer parses:\n%s\n", set, text);
        abort();
    }
    yaml_node_t *n = node_at(&doc, set, (size_t)(eq - set));
    if (!n || n->type != YAML_SCALAR_NODE || strcmp((const char *)n->data.scalar.value, eq + 1)) {
        fprintf(stderr, "fuzz_set: --set %s was applied but the value is not there:\n%s\n", set, text);
        abort();
    }
    yaml_document_delete(&doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl || memchr(data, '\0', size))
        return 0;
    size_t slen = (size_t)(nl - data), len = size - slen - 1;
    char *set = malloc(slen + 1), *text = malloc(len + 1);
    if (!set || !text) {
        free(set);
        free(text);
        return 0;
    }
    memcpy(set, data, slen);
    set[slen] = '\0';
    memcpy(text, nl + 1, len);
    text[len] = '\0';
    if (cli_spec_set(&text, &len, "fuzz.yaml", set) == 0) {
        check_applied(text, len, set);
        strata_runtime *rt = fz_runtime(1);
        strata_spec *s = NULL;
        if (rt && strata_spec_parse(rt, text, len, "fuzz.yaml", &s) == STRATA_OK)
            strata_spec_destroy(s);
        strata_clear_error();
    }
    free(set);
    free(text);
    return 0;
}
