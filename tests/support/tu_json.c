/* tu_json.c - helpers of the tests that read a command's --json output. */
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"
#include "tu_json.h"

json_t *tu_out_json(const char *dir, const char *what)
{
    char *out = tu_slurp(dir, "out");
    assert_non_null(out);
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    if (!j || !json_is_object(j))
        fail_msg("%s --json: not a JSON object (%s at %d): %.300s", what, e.text, e.line, out);
    free(out);
    return j;
}

long long tu_jint(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("'%s' is not an integer", key);
    return (long long)json_integer_value(v);
}

const char *tu_jshape(char *buf, size_t size, const json_t *a)
{
    assert_true(json_is_array(a));
    size_t k = (size_t)snprintf(buf, size, "[");
    for (size_t i = 0; i < json_array_size(a); i++)
        k += (size_t)snprintf(buf + k, size - k, "%s%lld", i ? ", " : "",
                              (long long)json_integer_value(json_array_get(a, i)));
    snprintf(buf + k, size - k, "]");
    return buf;
}
