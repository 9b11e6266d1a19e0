/* testutil.c - helpers shared by the CMocka tests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

strata_runtime *tu_runtime(void)
{
    strata_runtime *rt = NULL;
    strata_runtime_options o = {0};
    o.struct_size = sizeof o;
    o.seed = 1234;
    ST_OK(strata_runtime_create(&o, &rt));
    return rt;
}

strata_device *tu_ref(strata_runtime *rt)
{
    strata_device *d = NULL;
    ST_OK(strata_device_get(rt, "ref", 0, &d));
    return d;
}

const char *tu_build_path(const char *rel)
{
    static char buf[4096];
    const char *b = getenv("STRATA_TEST_BUILD");
    snprintf(buf, sizeof buf, "%s/%s", b ? b : ".", rel);
    return buf;
}

const char *tu_data_path(const char *rel)
{
    static char buf[4096];
    const char *b = getenv("STRATA_TEST_DATA");
    snprintf(buf, sizeof buf, "%s/%s", b ? b : "tests/data", rel);
    return buf;
}

const char *tu_write_temp(const char *suffix, const void *data, size_t len)
{
    static char path[4096];
    static int counter;
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/strata-test-%d-%d%s", tmp ? tmp : "/tmp", (int)getpid(), counter++,
             suffix ? suffix : "");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len)
        assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    return path;
}

void tu_assert_error_contains(const char *needle)
{
    const char *msg = strata_last_error();
    if (!strstr(msg, needle))
        fail_msg("expected the error message to contain \"%s\", got \"%s\"", needle, msg);
}
