/* test_babi_gen.c - `strata babi-gen` (tools/babi_gen*.c): every task
 * passes its own checker, output is deterministic per seed, bad arguments
 * fail with a message, the file format is the official bAbI one, and the
 * checker catches a wrong answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "testutil.h"

static char dir[512];

static int run_cli(const char *args)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "babi-gen %s", args);
    return tu_run_cli(dir, cmd);
}

/* The file dir/name, NUL-terminated (malloc'ed); NULL when missing. */
static char *slurp(const char *name)
{
    return tu_slurp(dir, name);
}

static void expect_in(const char *file, const char *needle)
{
    char *t = slurp(file);
    assert_non_null(t);
    if (!strstr(t, needle))
        fail_msg("expected '%s' in %s: %s", needle, file, t);
    free(t);
}

static const char *const names[20] = {
    "qa1_single-supporting-fact", "qa2_two-supporting-facts", "qa3_three-supporting-facts", "qa4_two-arg-relations",
    "qa5_three-arg-relations",    "qa6_yes-no-questions",     "qa7_counting",               "qa8_lists-sets",
    "qa9_simple-negation",        "qa10_indefinite-knowledge", "qa11_basic-coreference",    "qa12_conjunction",
    "qa13_compound-coreference",  "qa14_time-reasoning",      "qa15_basic-deduction",       "qa16_basic-induction",
    "qa17_positional-reasoning",  "qa18_size-reasoning",      "qa19_path-finding",          "qa20_agents-motivations"};

/* (a) every task, written and verified by the generator's own checker. */
static void test_all_tasks_verify(void **state)
{
    (void)state;
    char args[256], name[256];
    for (int t = 1; t <= 20; t++) {
        snprintf(args, sizeof args, "--task %d --out v --train 60 --test 60 --verify", t);
        if (run_cli(args) != 0) {
            char *err = slurp("err");
            fail_msg("task %d: %s", t, err ? err : "");
        }
        for (int split = 0; split < 2; split++) {
            snprintf(name, sizeof name, "v/%s_%s.txt", names[t - 1], split ? "test" : "train");
            char *text = slurp(name);
            if (!text)
                fail_msg("missing %s", name);
            int q = 0;
            for (const char *p = text; (p = strchr(p, '\t')); p++)
                q++;
            assert_int_equal(q, 2 * 60); /* two tabs a question, 60 questions */
            free(text);
        }
        expect_in("out", "verified");
    }
    /* --task all writes 40 files */
    assert_int_equal(run_cli("--task all --out all --train 10 --test 10 --verify"), 0);
    char *out = slurp("out");
    int lines = 0;
    for (const char *p = out; (p = strstr(p, "strata: wrote ")); p++)
        lines++;
    free(out);
    assert_int_equal(lines, 40);
}

/* (b) same seed: identical bytes; another seed: different; test != train. */
static void test_determinism(void **state)
{
    (void)state;
    assert_int_equal(run_cli("--task 2 --out d1 --train 100 --test 100 --seed 7"), 0);
    assert_int_equal(run_cli("--task 2 --out d2 --train 100 --test 100 --seed 7"), 0);
    assert_int_equal(run_cli("--task 2 --out d3 --train 100 --test 100 --seed 8"), 0);
    char *a = slurp("d1/qa2_two-supporting-facts_train.txt"), *b = slurp("d2/qa2_two-supporting-facts_train.txt");
    char *c = slurp("d3/qa2_two-supporting-facts_train.txt"), *t = slurp("d1/qa2_two-supporting-facts_test.txt");
    char *t2 = slurp("d2/qa2_two-supporting-facts_test.txt");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_non_null(t);
    assert_non_null(t2);
    assert_string_equal(a, b);
    assert_string_equal(t, t2);
    assert_true(strcmp(a, c) != 0);
    assert_true(strcmp(a, t) != 0);
    free(a), free(b), free(c), free(t), free(t2);
}

static void expect_error(const char *args, int status, const char *needle)
{
    int rc = run_cli(args);
    if (rc != status)
        fail_msg("'%s': exit %d, expected %d", args, rc, status);
    expect_in("err", needle);
}

/* (c) bad arguments: a message naming the value, status 2 (usage) or 1 (I/O). */
static void test_bad_arguments(void **state)
{
    (void)state;
    expect_error("--task 21 --out x", 2, "'21'");
    expect_error("--task 0 --out x", 2, "'0'");
    expect_error("--task foo --out x", 2, "'foo'");
    expect_error("--task 1 --out x --train 0", 2, "'0'");
    expect_error("--task 1 --out x --test -5", 2, "'-5'");
    expect_error("--task 1 --out x --seed abc", 2, "'abc'");
    expect_error("--task 1", 2, "usage");
    expect_error("--out x", 2, "usage");
    expect_error("--task 1 --out x --bogus 3", 2, "--bogus");
    expect_error("--task 1 --out x --train", 2, "--train");
    tu_write_text(dir, "plain", "not a directory\n");
    expect_error("--task 1 --out plain", 1, "plain");
    expect_error("--task 1 --out plain/sub", 1, "plain/sub");
    expect_error("--task 1 --check missing.txt", 1, "missing.txt");
}

/* (d) the official format: IDs restart at 1, question lines are
 * "text? \tanswer\tids", several answers comma-separated. */
static void check_format(const char *name, int *restarts, int *commas)
{
    char *text = slurp(name);
    assert_non_null(text);
    int prev = 0;
    *restarts = *commas = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        int id = atoi(line);
        assert_true(id == 1 || id == prev + 1);
        *restarts += id == 1;
        prev = id;
        char *t1 = strchr(line, '\t');
        if (!t1) {
            assert_int_equal(line[strlen(line) - 1], '.');
            continue;
        }
        assert_int_equal(t1[-1], ' ');
        assert_int_equal(t1[-2], '?');
        char *t2 = strchr(t1 + 1, '\t');
        assert_non_null(t2);
        assert_null(strchr(t2 + 1, '\t'));
        assert_null(memchr(t1 + 1, ' ', (size_t)(t2 - t1 - 1))); /* no spaces in the answer */
        *commas += memchr(t1 + 1, ',', (size_t)(t2 - t1 - 1)) != NULL;
        for (char *p = t2 + 1; *p; p++)
            assert_true((*p >= '0' && *p <= '9') || *p == ' ');
        int sup = atoi(t2 + 1);
        assert_true(sup >= 1 && sup < id);
    }
    free(text);
}

static void test_format(void **state)
{
    (void)state;
    assert_int_equal(run_cli("--task 1 --out f --train 50 --test 10"), 0);
    assert_int_equal(run_cli("--task 8 --out f --train 300 --test 10"), 0);
    assert_int_equal(run_cli("--task 19 --out f --train 100 --test 10"), 0);
    int restarts, commas;
    check_format("f/qa1_single-supporting-fact_train.txt", &restarts, &commas);
    assert_int_equal(restarts, 10); /* 5 questions a story */
    assert_int_equal(commas, 0);
    char *t = slurp("f/qa1_single-supporting-fact_train.txt");
    assert_true(!strncmp(t, "1 ", 2));
    assert_non_null(strstr(t, "\n3 Where is "));
    assert_non_null(strstr(t, "\n4 "));
    assert_non_null(strstr(t, "\n15 Where is "));
    assert_null(strstr(t, "\n16 "));
    free(t);
    check_format("f/qa8_lists-sets_train.txt", &restarts, &commas);
    assert_true(commas > 0); /* some people carry two things: "apple,milk" */
    expect_in("f/qa8_lists-sets_train.txt", "\tnothing\t");
    check_format("f/qa19_path-finding_train.txt", &restarts, &commas);
    assert_int_equal(restarts, 100);
    assert_int_equal(commas, 100); /* every answer is two directions "n,e" */
    expect_in("f/qa19_path-finding_train.txt", "How do you go from the ");
    /* no temporary files are left behind */
    char cmd[700];
    snprintf(cmd, sizeof cmd, "ls -A '%s/f' | grep -q tmp", dir);
    assert_int_not_equal(system(cmd), 0);
}

/* The pair a task-18 question asks about, as "A|B" in a fixed order. */
static void size_pair(const char *q, char *out, size_t n)
{
    char a[64] = "", b[64] = "";
    const char *mid = strstr(q, " bigger than the "), *skip = " bigger than the ";
    if (!mid)
        mid = strstr(q, " fit in the "), skip = " fit in the ";
    const char *start = strstr(q, " the ");
    if (!mid || !start)
        fail_msg("not a size question: %s", q);
    snprintf(a, sizeof a, "%.*s", (int)(mid - start - 5), start + 5);
    snprintf(b, sizeof b, "%.*s", (int)strcspn(mid + strlen(skip), "?"), mid + strlen(skip));
    snprintf(out, n, "%s|%s", strcmp(a, b) < 0 ? a : b, strcmp(a, b) < 0 ? b : a);
}

/* Task 18's two questions of a story ask about different pairs (two chains
 * may join the same two objects: 119 of 409 stories asked one pair twice). */
static void test_size_questions_differ(void **state)
{
    (void)state;
    assert_int_equal(run_cli("--task 18 --out s18 --train 1000 --test 10 --seed 1"), 0);
    char *t = slurp("s18/qa18_size-reasoning_train.txt");
    assert_non_null(t);
    char prev[160] = "";
    int two = 0, stories = 0;
    for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "1 ", 2)) {
            prev[0] = '\0';
            stories++;
        }
        char *tab = strchr(line, '\t');
        if (!tab)
            continue;
        *tab = '\0';
        char pair[160];
        size_pair(line, pair, sizeof pair);
        if (prev[0]) {
            two++;
            if (!strcmp(prev, pair))
                fail_msg("story %d asks about %s twice (%s)", stories, pair, line);
        }
        snprintf(prev, sizeof prev, "%s", pair);
    }
    free(t);
    assert_true(two > stories / 2); /* most stories have two questions */
}

/* The checker is not a rubber stamp: a wrong answer, a support that points
 * forward and a swapped direction list are each reported with file:line;
 * so is a superseded supporting fact that still gives the right answer. */
static void test_checker_catches(void **state)
{
    (void)state;
    tu_write_text(dir, "bad1.txt", "1 Mary moved to the bathroom.\n"
                                   "2 John went to the hallway.\n"
                                   "3 Where is Mary? \thallway\t1\n");
    expect_error("--task 1 --check bad1.txt", 1, "bad1.txt:3:");
    tu_write_text(dir, "bad2.txt", "1 Mary moved to the bathroom.\n"
                                   "2 Where is Mary? \tbathroom\t3\n"
                                   "3 John went to the hallway.\n");
    expect_error("--task 1 --check bad2.txt", 1, "bad2.txt:2:");
    tu_write_text(dir, "bad3.txt", "1 The office is east of the hallway.\n"
                                   "2 The kitchen is north of the office.\n"
                                   "3 How do you go from the kitchen to the hallway? \tw,s\t1 2\n");
    expect_error("--task 19 --check bad3.txt", 1, "'s,w'");
    tu_write_text(dir, "good.txt", "1 Mary moved to the bathroom.\n"
                                   "2 Mary got the football there.\n"
                                   "3 Mary went back to the garden.\n"
                                   "4 Where is the football? \tgarden\t2 3\n"
                                   "5 Where was the football before the garden? \tbathroom\t1 2 3\n");
    assert_int_equal(run_cli("--task 2 --check good.txt"), 1); /* line 5 is a task 3 question */
    tu_write_text(dir, "good2.txt", "1 Mary moved to the bathroom.\n"
                                    "2 Mary got the football there.\n"
                                    "3 Mary went back to the garden.\n"
                                    "4 Where was the football before the garden? \tbathroom\t1 2 3\n");
    assert_int_equal(run_cli("--task 3 --check good2.txt"), 0);
    /* what the reader takes, the checker takes: CRLF line ends, a last line without its newline */
    tu_write_text(dir, "crlf.txt", "1 Mary moved to the bathroom.\r\n"
                                   "2 Where is Mary? \tbathroom\t1\r\n");
    assert_int_equal(run_cli("--task 1 --check crlf.txt"), 0);
    tu_write_text(dir, "nonl.txt", "1 Mary moved to the bathroom.\n"
                                   "2 Where is Mary? \tbathroom\t1");
    assert_int_equal(run_cli("--task 1 --check nonl.txt"), 0);
    /* nothing checked is not a pass: a folder, a file without questions, a supporting id past int's range */
    expect_error("--task 1 --check .", 1, "cannot read .: not a regular file");
    char *said = tu_slurp(dir, "out");
    if (said && strstr(said, "every answer follows"))
        fail_msg("--check of a folder also said it passed: %s", said);
    free(said);
    tu_write_text(dir, "noq.txt", "1 Mary moved to the bathroom.\n");
    expect_error("--task 1 --check noq.txt", 1, "the file holds no questions");
    tu_write_text(dir, "big.txt", "1 Mary moved to the bathroom.\n"
                                  "2 Where is Mary? \tbathroom\t99999999999999999999\n");
    expect_error("--task 1 --check big.txt", 1, "bad supporting fact list");

    /* a superseded fact that happens to give the right answer is not a support: the checker wants the latest
     * word (where someone is, who has an object, the last give), every change of what someone carries, and no
     * move between the two of a "before" question */
    static const struct {
        int task;
        const char *text, *needle;
    } stale[] = {
        {1, "1 Mary went to the garden.\n2 Mary went to the office.\n3 Mary went to the garden.\n"
            "4 Where is Mary? \tgarden\t1\n", "statement 2 places Mary after supporting fact 1"},
        {11, "1 Mary went to the garden.\n2 Then she went to the office.\n3 John went to the garden.\n"
             "4 Mary went to the garden.\n5 Where is Mary? \tgarden\t1\n", "statement 2 places Mary"},
        {12, "1 Mary and John went to the garden.\n2 John went to the office.\n3 Mary and John went to the garden.\n"
             "4 Where is John? \tgarden\t1\n", "statement 2 places John"},
        {6, "1 John went to the garden.\n2 John moved to the office.\n3 John went to the garden.\n"
            "4 Is John in the garden? \tyes\t1\n", "statement 2 places John"},
        {2, "1 Mary got the milk there.\n2 Mary went to the garden.\n3 Mary went to the office.\n"
            "4 Mary went to the garden.\n5 Where is the milk? \tgarden\t1 2\n", "statement 3 moves Mary"},
        {2, "1 Mary went to the garden.\n2 Mary got the milk there.\n3 Mary dropped the milk.\n"
            "4 John got the milk there.\n5 John went to the office.\n6 John went to the garden.\n"
            "7 Where is the milk? \tgarden\t1 2\n", "statement 3 moves the milk"},
        {3, "1 Mary got the milk there.\n2 Mary went to the garden.\n3 Mary went to the office.\n"
            "4 Mary went to the kitchen.\n5 Where was the milk before the kitchen? \tgarden\t1 2 4\n",
         "statement 3 moves Mary between supporting facts 2 and 4"},
        {3, "1 Mary went to the office.\n2 Mary got the milk there.\n3 Mary dropped the milk.\n"
            "4 Mary went to the garden.\n5 Mary went to the kitchen.\n"
            "6 Where was the milk before the kitchen? \tgarden\t2 4 5\n",
         "statement 3 moves the milk before supporting fact 5"},
        {5, "1 Mary gave the milk to John.\n2 Fred gave the milk to John.\n3 Mary gave the milk to John.\n"
            "4 Who gave the milk to John? \tMary\t1\n", "statement 2 is a later give"},
        {7, "1 Mary got the milk there.\n2 Mary dropped the milk.\n3 Mary got the milk there.\n"
            "4 How many objects is Mary carrying? \tone\t1\n", "statement 2 changes what Mary carries"},
        {14, "1 Yesterday Julie went to the park.\n2 This morning Julie went to the office.\n"
             "3 This afternoon Julie went to the park.\n4 This evening Julie went to the school.\n"
             "5 Where was Julie before the school? \tpark\t1 4\n",
         "statement 2 moves Julie between the two supporting facts' times"},
    };
    for (size_t k = 0; k < sizeof stale / sizeof *stale; k++) {
        char args[64];
        tu_write_text(dir, "stale.txt", stale[k].text);
        snprintf(args, sizeof args, "--task %d --check stale.txt", stale[k].task);
        expect_error(args, 1, stale[k].needle);
    }
}

static int setup(void **state)
{
    (void)state;
    return tu_make_temp_dir(dir, sizeof dir, "babi");
}

static int teardown(void **state)
{
    (void)state;
    return tu_remove_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_tasks_verify), cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_bad_arguments),    cmocka_unit_test(test_format),
        cmocka_unit_test(test_checker_catches),
        cmocka_unit_test(test_size_questions_differ),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
