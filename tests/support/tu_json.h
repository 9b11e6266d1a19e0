/* tu_json.h - helpers of the tests that read a command's --json output
 * (jansson; support/tu_json.c, linked by those tests only). */
#ifndef TU_JSON_H
#define TU_JSON_H

#include <stddef.h>

#include <jansson.h>

/** dir/out (a command's stdout) as a JSON object (json_decref it); fails
 *  the test, naming @p what, when it is not one. */
json_t *tu_out_json(const char *dir, const char *what);
/** The integer at @p key of @p o; fails the test when it is not one. */
long long tu_jint(const json_t *o, const char *key);
/** "[6, 28, 28]" of the JSON array of integers @p a, in @p buf. */
const char *tu_jshape(char *buf, size_t size, const json_t *a);

#endif
