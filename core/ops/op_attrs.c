/* op_attrs.c - the attributes each core op takes, and their kinds: a call
 * with another name (a typo: "axis" for "axes", "vaule") or a kind the op
 * cannot read (a string for a number) is refused, naming the op, the
 * attribute and what it takes, where the op would have read its default or
 * 0 and given a wrong result without a word. Layers and optimizers check
 * theirs against their schema (schema.c).
 *
 * Each entry: the attributes with the kinds each takes (K_INT, K_FLOAT:
 * numbers, either taken for the other, an integer only from a whole
 * number; K_INTS, K_FLOATS, K_STRING; or two of them). Checked on every
 * call, so a scan of a few names, nothing parsed. The list covers what the op's shape
 * function, backward and every backend's kernel read, what the core adds
 * (seed, offset of random ops) and what callers pass (a backward op takes
 * its forward op's attributes). A core op without an entry fails its
 * registration, so the list cannot fall behind the ops. A plugin's op is
 * checked the same way against the schema its definition gives (since ABI
 * 1.4: strata_op_def.attrs, converted by st_op_attrs_from_schema). */
#include <stdlib.h>

#include "ops_common.h"

enum { K_INT = 1 << STRATA_ATTR_INT, K_FLOAT = 1 << STRATA_ATTR_FLOAT, K_INTS = 1 << STRATA_ATTR_INTS,
       K_FLOATS = 1 << STRATA_ATTR_FLOATS, K_STRING = 1 << STRATA_ATTR_STRING };

#define ST_OP_MAX_ATTRS STRATA_OP_MAX_ATTRS

struct st_op_attrs {
    const char *op;
    int n;
    struct {
        const char *name;
        unsigned kinds;
    } a[ST_OP_MAX_ATTRS];
};

static const st_op_attrs op_attrs[] = {
    {"core::add", 0, {{NULL, 0}}},
    {"core::sub", 0, {{NULL, 0}}},
    {"core::mul", 0, {{NULL, 0}}},
    {"core::div", 0, {{NULL, 0}}},
    {"core::neg", 0, {{NULL, 0}}},
    {"core::exp", 0, {{NULL, 0}}},
    {"core::log", 0, {{NULL, 0}}},
    {"core::sqrt", 0, {{NULL, 0}}},
    {"core::abs", 0, {{NULL, 0}}},
    {"core::relu", 0, {{NULL, 0}}},
    {"core::leaky_relu", 1, {{"alpha", K_FLOAT}}},
    {"core::sigmoid", 0, {{NULL, 0}}},
    {"core::tanh", 0, {{NULL, 0}}},
    {"core::gelu", 0, {{NULL, 0}}},
    {"core::pow", 1, {{"exponent", K_FLOAT}}},
    {"core::scale", 2, {{"alpha", K_FLOAT}, {"beta", K_FLOAT}}},
    {"core::cast", 1, {{"dtype", K_INT}}},
    {"core::eltwise_backward", 3, {{"fn", K_STRING}, {"alpha", K_FLOAT}, {"exponent", K_FLOAT}}},
    {"core::matmul", 2, {{"trans_a", K_INT}, {"trans_b", K_INT}}},
    {"core::linear", 0, {{NULL, 0}}},
    {"core::sum", 2, {{"axes", K_INTS|K_INT}, {"keepdim", K_INT}}},
    {"core::mean", 2, {{"axes", K_INTS|K_INT}, {"keepdim", K_INT}}},
    {"core::max", 2, {{"axes", K_INTS|K_INT}, {"keepdim", K_INT}}},
    {"core::max_backward", 2, {{"axes", K_INTS|K_INT}, {"keepdim", K_INT}}},
    {"core::argmax", 2, {{"axis", K_INT}, {"keepdim", K_INT}}},
    {"core::sum_to_shape", 1, {{"shape", K_INTS}}},
    {"core::softmax", 1, {{"axis", K_INT}}},
    {"core::log_softmax", 1, {{"axis", K_INT}}},
    {"core::softmax_backward", 1, {{"axis", K_INT}}},
    {"core::log_softmax_backward", 1, {{"axis", K_INT}}},
    {"core::cross_entropy", 1, {{"reduction", K_STRING}}},
    {"core::cross_entropy_backward", 1, {{"reduction", K_STRING}}},
    {"core::mse", 1, {{"reduction", K_STRING}}},
    {"core::bce_with_logits", 1, {{"reduction", K_STRING}}},
    {"core::bce_with_logits_backward", 1, {{"reduction", K_STRING}}},
    {"core::reshape", 1, {{"shape", K_INTS}}},
    {"core::permute", 1, {{"dims", K_INTS}}},
    {"core::slice", 4, {{"axis", K_INT}, {"start", K_INT}, {"end", K_INT}, {"step", K_INT}}},
    {"core::expand", 1, {{"shape", K_INTS}}},
    {"core::copy", 0, {{NULL, 0}}},
    {"core::concat", 1, {{"axis", K_INT}}},
    {"core::split", 2, {{"axis", K_INT}, {"sizes", K_INTS}}},
    {"core::slice_backward", 5, {{"shape", K_INTS}, {"axis", K_INT}, {"start", K_INT}, {"end", K_INT},
              {"step", K_INT}}},
    {"core::embedding", 1, {{"padding_idx", K_INT}}},
    {"core::embedding_backward", 1, {{"num_embeddings", K_INT}}},
    {"core::gather", 1, {{"axis", K_INT}}},
    {"core::gather_backward", 2, {{"axis", K_INT}, {"shape", K_INTS}}},
    {"core::one_hot", 1, {{"num_classes", K_INT}}},
    {"core::fill", 3, {{"shape", K_INTS}, {"value", K_FLOAT}, {"dtype", K_INT}}},
    {"core::uniform", 6, {{"shape", K_INTS}, {"dtype", K_INT}, {"low", K_FLOAT}, {"high", K_FLOAT}, {"seed", K_INT},
              {"offset", K_INT}}},
    {"core::normal", 6, {{"shape", K_INTS}, {"dtype", K_INT}, {"mean", K_FLOAT}, {"std", K_FLOAT}, {"seed", K_INT},
              {"offset", K_INT}}},
    {"core::dropout", 3, {{"p", K_FLOAT}, {"seed", K_INT}, {"offset", K_INT}}},
    {"core::sgd_step", 6, {{"lr", K_FLOAT}, {"momentum", K_FLOAT}, {"dampening", K_FLOAT}, {"weight_decay", K_FLOAT},
              {"nesterov", K_INT}, {"first", K_INT}}},
    {"core::adam_step", 7, {{"lr", K_FLOAT}, {"beta1", K_FLOAT}, {"beta2", K_FLOAT}, {"eps", K_FLOAT},
              {"weight_decay", K_FLOAT}, {"decoupled", K_INT}, {"step", K_INT}}},
    {"core::rmsprop_step", 5, {{"lr", K_FLOAT}, {"alpha", K_FLOAT}, {"eps", K_FLOAT}, {"weight_decay", K_FLOAT},
              {"momentum", K_FLOAT}}},
    {"core::adagrad_step", 5, {{"lr", K_FLOAT}, {"lr_decay", K_FLOAT}, {"weight_decay", K_FLOAT}, {"eps", K_FLOAT},
              {"step", K_INT}}},
};

const st_op_attrs *st_core_op_attrs(const char *op)
{
    for (size_t k = 0; k < ST_ARRAY_LEN(op_attrs); k++)
        if (!strcmp(op_attrs[k].op, op))
            return &op_attrs[k];
    return NULL;
}

/* "a list of integers or an integer": the kinds in @p mask */
static void kinds_words(unsigned mask, char *buf, size_t size)
{
    static const char *const words[] = {"", "an integer", "a number", "a list of integers", "a list of numbers",
                                        "a string"};
    buf[0] = '\0';
    if (mask & K_FLOAT) /* a number says it: an integer is one */
        mask &= ~(unsigned)K_INT;
    for (int k = 5; k >= 1; k--)
        if (mask & (1u << k))
            snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", buf[0] ? " or " : "", words[k]);
}

strata_status st_op_attrs_from_schema(const char *op, const strata_attr_spec *schema, int n, st_op_attrs **out,
                                      uint32_t *required)
{
    *out = NULL;
    *required = 0;
    if (!schema)
        return STRATA_OK;
    if (n < 0 || n > ST_OP_MAX_ATTRS)
        return st_error(STRATA_E_INVALID, "register_op: %s lists %d attributes; 0 to %d", op, n, ST_OP_MAX_ATTRS);
    st_op_attrs *s = st_calloc(1, sizeof *s);
    if (!s)
        return STRATA_E_NOMEM;
    s->op = op;
    s->n = n;
    for (int k = 0; k < n; k++) {
        const strata_attr_spec *e = &schema[k];
        const char *why = e->struct_size < sizeof(strata_attr_spec) ? "struct_size is smaller than the 1.0 layout"
                          : !e->name || !e->name[0]                 ? "it has no name"
                          : e->kind < STRATA_ATTR_INT || e->kind > STRATA_ATTR_STRING ? "its kind is unknown"
                                                                                       : NULL;
        for (int j = 0; !why && j < k; j++)
            if (!strcmp(schema[j].name, e->name))
                why = "its name is listed twice";
        if (why) {
            free(s);
            return st_error(STRATA_E_INVALID, "register_op: %s: attribute schema entry %d (%s): %s", op, k,
                            e->struct_size >= sizeof(strata_attr_spec) && e->name ? e->name : "?", why);
        }
        s->a[k].name = e->name;
        /* a list also takes one value, as PyTorch's stride=2 for (2, 2): the kernel gets what the call gave */
        s->a[k].kinds = e->kind == STRATA_ATTR_INTS     ? K_INTS | K_INT
                        : e->kind == STRATA_ATTR_FLOATS ? K_FLOATS | K_FLOAT
                                                        : 1u << e->kind;
        *required |= e->required ? 1u << k : 0u;
    }
    *out = s;
    return STRATA_OK;
}

strata_status st_check_op_attrs(const char *op, const st_op_attrs *spec, uint32_t required,
                               const strata_attr *attrs, int n)
{
    for (int r = 0; required && r < spec->n; r++) { /* a plugin schema's required ones, given */
        int given = !(required & (1u << r));
        for (int i = 0; !given && i < n; i++)
            given = !strcmp(attrs[i].name, spec->a[r].name);
        if (!given)
            return st_error(STRATA_E_INVALID, "%s: attribute '%s' is required", op, spec->a[r].name);
    }
    for (int i = 0; i < n; i++) {
        const strata_attr *a = &attrs[i];
        for (int j = 0; j < i; j++)
            if (!strcmp(attrs[j].name, a->name))
                return st_error(STRATA_E_INVALID, "%s: attribute '%s' is given twice", op, a->name);
        int r = 0;
        while (r < spec->n && strcmp(spec->a[r].name, a->name))
            r++;
        if (r == spec->n) {
            char takes[256] = "";
            for (int k = 0; k < spec->n; k++)
                snprintf(takes + strlen(takes), sizeof takes - strlen(takes), "%s%s", k ? ", " : "",
                         spec->a[k].name);
            return st_error(STRATA_E_INVALID, "%s: unknown attribute '%s' (%s%s)", op, a->name,
                            spec->n ? "it takes: " : "it takes none", takes);
        }
        const unsigned want = spec->a[r].kinds, kind = a->kind >= 1 && a->kind <= 5 ? 1u << a->kind : 0;
        int ok = (want & kind) != 0;
        if (!ok && kind == K_INT) /* a number where a number goes */
            ok = (want & K_FLOAT) != 0;
        if (!ok && kind == K_FLOAT && (want & K_INT))
            ok = a->f > -9.2e18 && a->f < 9.2e18 && a->f == (double)(int64_t)a->f; /* whole numbers only */
        if (!ok) {
            char words[96];
            kinds_words(want, words, sizeof words);
            if (kind == K_FLOAT && (want & K_INT))
                return st_error(STRATA_E_INVALID, "%s: attribute '%s' must be %s, got %g", op, a->name, words, a->f);
            char got[32];
            kinds_words(kind, got, sizeof got);
            return st_error(STRATA_E_INVALID, "%s: attribute '%s' must be %s, got %s", op, a->name, words, got);
        }
    }
    return STRATA_OK;
}
