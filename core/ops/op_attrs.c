/* op_attrs.c - the attributes each core op takes, and their kinds: a call
 * with another name (a typo: "axis" for "axes", "vaule") or a kind the op
 * cannot read (a string for a number) is refused, naming the op, the
 * attribute and what it takes, where the op would have read its default or
 * 0 and given a wrong result without a word. Layers and optimizers check
 * theirs against their schema (schema.c); plugins' ops are not checked.
 *
 * Each entry: "name:KIND ..." with KIND one of INT, FLOAT (numbers: either
 * is taken for the other, an INT only from a whole FLOAT), INTS, FLOATS,
 * STRING, or two joined by '|'. The list covers what the op's shape
 * function, backward and every backend's kernel read, what the core adds
 * (seed, offset of random ops) and what callers pass (a backward op takes
 * its forward op's attributes). A core op without an entry fails its
 * registration, so the list cannot fall behind the ops. */
#include "ops_common.h"

static const struct {
    const char *op, *attrs;
} op_attrs[] = {
    {"core::add", ""},
    {"core::sub", ""},
    {"core::mul", ""},
    {"core::div", ""},
    {"core::neg", ""},
    {"core::exp", ""},
    {"core::log", ""},
    {"core::sqrt", ""},
    {"core::abs", ""},
    {"core::relu", ""},
    {"core::leaky_relu", "alpha:FLOAT"},
    {"core::sigmoid", ""},
    {"core::tanh", ""},
    {"core::gelu", ""},
    {"core::pow", "exponent:FLOAT"},
    {"core::scale", "alpha:FLOAT beta:FLOAT"},
    {"core::cast", "dtype:INT"},
    {"core::eltwise_backward", "fn:STRING alpha:FLOAT exponent:FLOAT"},
    {"core::matmul", "trans_a:INT trans_b:INT"},
    {"core::linear", ""},
    {"core::sum", "axes:INTS|INT keepdim:INT"},
    {"core::mean", "axes:INTS|INT keepdim:INT"},
    {"core::max", "axes:INTS|INT keepdim:INT"},
    {"core::max_backward", "axes:INTS|INT keepdim:INT"},
    {"core::argmax", "axis:INT keepdim:INT"},
    {"core::sum_to_shape", "shape:INTS"},
    {"core::softmax", "axis:INT"},
    {"core::log_softmax", "axis:INT"},
    {"core::softmax_backward", "axis:INT"},
    {"core::log_softmax_backward", "axis:INT"},
    {"core::cross_entropy", "reduction:STRING"},
    {"core::cross_entropy_backward", "reduction:STRING"},
    {"core::mse", "reduction:STRING"},
    {"core::bce_with_logits", "reduction:STRING"},
    {"core::bce_with_logits_backward", "reduction:STRING"},
    {"core::reshape", "shape:INTS"},
    {"core::permute", "dims:INTS"},
    {"core::slice", "axis:INT start:INT end:INT step:INT"},
    {"core::expand", "shape:INTS"},
    {"core::copy", ""},
    {"core::concat", "axis:INT"},
    {"core::split", "axis:INT sizes:INTS"},
    {"core::slice_backward", "shape:INTS axis:INT start:INT end:INT step:INT"},
    {"core::embedding", ""},
    {"core::embedding_backward", "num_embeddings:INT"},
    {"core::gather", "axis:INT"},
    {"core::gather_backward", "axis:INT shape:INTS"},
    {"core::one_hot", "num_classes:INT"},
    {"core::fill", "shape:INTS value:FLOAT dtype:INT"},
    {"core::uniform", "shape:INTS dtype:INT low:FLOAT high:FLOAT seed:INT offset:INT"},
    {"core::normal", "shape:INTS dtype:INT mean:FLOAT std:FLOAT seed:INT offset:INT"},
    {"core::dropout", "p:FLOAT seed:INT offset:INT"},
    {"core::sgd_step", "lr:FLOAT momentum:FLOAT dampening:FLOAT weight_decay:FLOAT nesterov:INT first:INT"},
    {"core::adam_step", "lr:FLOAT beta1:FLOAT beta2:FLOAT eps:FLOAT weight_decay:FLOAT decoupled:INT step:INT"},
    {"core::rmsprop_step", "lr:FLOAT alpha:FLOAT eps:FLOAT weight_decay:FLOAT momentum:FLOAT"},
    {"core::adagrad_step", "lr:FLOAT lr_decay:FLOAT weight_decay:FLOAT eps:FLOAT step:INT"},
};

const char *st_core_op_attrs(const char *op)
{
    for (size_t k = 0; k < ST_ARRAY_LEN(op_attrs); k++)
        if (!strcmp(op_attrs[k].op, op))
            return op_attrs[k].attrs;
    return NULL;
}

/* The KIND of token @p t ("axes:INTS|INT") names kind @p kind. */
static int token_takes(const char *t, size_t len, int kind)
{
    static const char *const names[] = {NULL, "INT", "FLOAT", "INTS", "FLOATS", "STRING"};
    const char *colon = memchr(t, ':', len);
    for (const char *k = colon + 1; k < t + len;) {
        size_t n = strcspn(k, "| ");
        if (n > (size_t)(t + len - k))
            n = (size_t)(t + len - k);
        if (kind >= 1 && kind <= 5 && strlen(names[kind]) == n && !strncmp(k, names[kind], n))
            return 1;
        k += n + 1;
    }
    return 0;
}

static const char *kind_word(int kind)
{
    static const char *const words[] = {"?", "integer", "number", "list of integers", "list of numbers", "string"};
    return kind >= 1 && kind <= 5 ? words[kind] : words[0];
}

strata_status st_check_core_op_attrs(const char *op, const char *spec, const strata_attr *attrs, int n)
{
    for (int i = 0; i < n; i++) {
        const strata_attr *a = &attrs[i];
        for (int j = 0; j < i; j++)
            if (!strcmp(attrs[j].name, a->name))
                return st_error(STRATA_E_INVALID, "%s: attribute '%s' is given twice", op, a->name);
        const char *t = spec, *found = NULL;
        size_t flen = 0, nlen = strlen(a->name);
        while (*t && !found) {
            size_t len = strcspn(t, " ");
            if (len > nlen && t[nlen] == ':' && !strncmp(t, a->name, nlen))
                found = t, flen = len;
            t += len + (t[len] == ' ');
        }
        if (!found) {
            char takes[256] = "";
            for (t = spec; *t;) {
                size_t len = strcspn(t, " "), name = strcspn(t, ":");
                snprintf(takes + strlen(takes), sizeof takes - strlen(takes), "%s%.*s", takes[0] ? ", " : "",
                         (int)name, t);
                t += len + (t[len] == ' ');
            }
            return st_error(STRATA_E_INVALID, "%s: unknown attribute '%s' (%s%s)", op, a->name,
                            takes[0] ? "it takes: " : "it takes none", takes);
        }
        int ok = token_takes(found, flen, a->kind);
        if (!ok && a->kind == STRATA_ATTR_INT) /* a number where a number goes */
            ok = token_takes(found, flen, STRATA_ATTR_FLOAT);
        if (!ok && a->kind == STRATA_ATTR_FLOAT && token_takes(found, flen, STRATA_ATTR_INT))
            ok = a->f > -9.2e18 && a->f < 9.2e18 && a->f == (double)(int64_t)a->f; /* whole numbers only */
        if (!ok) {
            int want = 1;
            while (want <= 5 && !token_takes(found, flen, want))
                want++;
            if (a->kind == STRATA_ATTR_FLOAT && want == STRATA_ATTR_INT)
                return st_error(STRATA_E_INVALID, "%s: attribute '%s' must be an integer, got %g", op, a->name, a->f);
            return st_error(STRATA_E_INVALID, "%s: attribute '%s' must be a%s %s, got a %s", op, a->name,
                            want == STRATA_ATTR_INT ? "n" : "", kind_word(want), kind_word(a->kind));
        }
    }
    return STRATA_OK;
}
