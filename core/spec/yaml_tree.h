/*
 * yaml_tree.h - a YAML document as a small tree that remembers where every
 * node came from (private to core/spec/).
 *
 * libyaml parses; this keeps what the spec code needs: node kind, 1-based
 * line and column, scalar text and whether it was quoted. Aliases share the
 * anchored node (no expansion), so a node may be reachable twice; nothing
 * here walks the tree recursively.
 */
#ifndef STRATA_SPEC_YAML_TREE_H
#define STRATA_SPEC_YAML_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

typedef enum yt_kind { YT_SCALAR = 1, YT_SEQ = 2, YT_MAP = 3 } yt_kind;

typedef struct yt_node yt_node;
struct yt_node {
    yt_kind kind;
    int line, col; /* 1-based, where the node starts */
    /* YT_SCALAR */
    char *text; /* NUL-terminated (may hold earlier NULs from "\0" escapes) */
    size_t len;
    int quoted; /* '...', "...", | or >: always a string */
    /* YT_SEQ: items[0..n); YT_MAP: items[2k] key, items[2k+1] value */
    yt_node **items;
    int n;
};

typedef struct yt_doc {
    yt_node *nodes; /* all nodes, one allocation */
    int n_nodes;
    yt_node *root; /* NULL for an empty stream */
} yt_doc;

/**
 * Parses the first YAML document of text[0..len). @p name is used in
 * messages. A syntax error is STRATA_E_FORMAT "NAME:LINE:COL: problem";
 * a second document in the stream is an error too. An empty stream gives
 * a doc whose root is NULL.
 */
strata_status yt_parse(const char *text, size_t len, const char *name, yt_doc **out);
void yt_free(yt_doc *d);

/** Value of @p key in mapping @p map, or NULL (also when map is not a map). */
const yt_node *yt_map_get(const yt_node *map, const char *key);
/** Key node of @p key in @p map (for its line), or NULL. */
const yt_node *yt_map_key(const yt_node *map, const char *key);

/** How a scalar reads under the YAML 1.2 core schema (quoted = string). */
typedef enum yt_type {
    YT_T_NULL = 0, /* ~, null, empty */
    YT_T_BOOL,     /* true / false */
    YT_T_INT,      /* 12, -3, 0x1f, 0o17 */
    YT_T_FLOAT,    /* 1.5, 1e-3, .inf, .nan */
    YT_T_STRING,   /* anything else */
    YT_T_SEQ,      /* not a scalar */
    YT_T_MAP
} yt_type;

/**
 * Type of @p n; for BOOL/INT *i holds the value (true = 1), for INT/FLOAT
 * *f holds it as a double. Either pointer may be NULL. A NULL node is
 * YT_T_NULL. An integer too large for int64 reads as FLOAT.
 */
yt_type yt_type_of(const yt_node *n, int64_t *i, double *f);

/** "an integer", "a mapping", ... for messages. */
const char *yt_type_name(yt_type t);

/** Writes a short description of @p n into buf: "'abc'" for a scalar
 *  (truncated), "a sequence", "a mapping". Returns buf. */
const char *yt_describe(const yt_node *n, char *buf, size_t size);

#endif /* STRATA_SPEC_YAML_TREE_H */
