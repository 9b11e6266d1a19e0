/* test_cli_numbers.c - every numeric option of the strata program is read
 * whole and range-checked (tools/main.c, cli_parse_int): a value that is
 * not a whole number, has trailing characters, overflows or is out of
 * range is a usage error (exit 2) naming the option, the range and the
 * value, before any data is read. Until 2026-12-02 most options went
 * through atoll: `--epochs abc` trained the spec's 100 epochs and
 * `--epochs 3x` ran 3. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static char dir[256];
static char models[PATH_MAX];

static int setup(void **state)
{
    (void)state;
    const char *src = getenv("STRATA_SOURCE_DIR");
    snprintf(models, sizeof models, "%s/models", src ? src : ".");
    return tu_make_temp_dir(dir, sizeof dir, "cli-numbers");
}

static int teardown(void **state)
{
    (void)state;
    return tu_remove_dir(dir);
}

typedef struct {
    const char *args;   /* after `strata`; %s is the models directory */
    const char *needle; /* in the error */
} bad_case;

static void test_bad_numbers(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        /* the image trainer */
        {"train %s/lenet-fashion.yaml --out r --epochs abc", "--epochs must be a whole number >= 1, got 'abc'"},
        {"train %s/lenet-fashion.yaml --out r --epochs 3x", "--epochs must be a whole number >= 1, got '3x'"},
        {"train %s/lenet-fashion.yaml --out r --steps 0", "--steps must be a whole number >= 1, got '0'"},
        {"train %s/lenet-fashion.yaml --out r --batch-size -4", "--batch-size must be a whole number >= 1, got '-4'"},
        {"train %s/lenet-fashion.yaml --out r --seed abc", "--seed must be a whole number >= 0, got 'abc'"},
        {"train %s/lenet-fashion.yaml --out r --seed 99999999999999999999", "got '99999999999999999999'"},
        {"train %s/lenet-fashion.yaml --out r --checkpoint-every 2.5", "--checkpoint-every must be a whole number"},
        /* memory networks */
        {"train %s/memn2n-babi.yaml --data d --task 1 --out r --epochs abc", "--epochs must be a whole number >= 1"},
        {"train %s/memn2n-babi.yaml --data d --task 1 --out r --repeats -2", "--repeats must be a whole number >= 1"},
        {"train %s/memn2n-babi.yaml --data d --task 1 --out r --batch-size 0", "--batch-size must be a whole number"},
        {"train %s/memn2n-babi.yaml --data d --task 1 --out r --seed x", "--seed must be a whole number >= 0"},
        {"train %s/memn2n-babi.yaml --data d --task 1 --out r --steps 1e3", "--steps must be a whole number >= 1"},
        /* GAN, autoencoder, seq2seq, language model sampling */
        {"train %s/dcgan-fashion.yaml --out r --steps -1", "--steps must be a whole number >= 1, got '-1'"},
        {"train %s/autoencoder-fashion.yaml --out r --epochs 1.5", "--epochs must be a whole number >= 1, got '1.5'"},
        {"train %s/seq2seq-reverse.yaml --out r --seed ''", "--seed must be a whole number >= 0, got ''"},
        {"generate --checkpoint c --length -1", "--length must be a whole number >= 0, got '-1'"},
        /* tools */
        {"bench W1 --steps 0", "--steps must be a whole number >= 1, got '0'"},
        {"bench W1 --warmup many", "--warmup must be a whole number >= 0, got 'many'"},
        {"check --backend ref --trials x", "--trials must be a whole number in [1, 1000000], got 'x'"},
        {"check --backend ref --seed 12q", "--seed must be a whole number >= 0 (0x... for hex), got '12q'"},
        {"check --backend ref --seed ' 5'", "--seed must be a whole number >= 0 (0x... for hex), got ' 5'"},
        {"train %s/lenet-fashion.yaml --out r --epochs +3", "--epochs must be a whole number >= 1, got '+3'"},
        {"train %s/lenet-fashion.yaml --out r --steps ' 7'", "--steps must be a whole number >= 1, got ' 7'"},
        {"babi-gen --task 1 --out b --train 0", "--train must be a whole number in [1, 100000000], got '0'"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char args[1024];
        snprintf(args, sizeof args, cases[k].args, models);
        tu_expect_cli_err(dir, tu_run_cli(dir, args), 2, cases[k].needle);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_numbers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
