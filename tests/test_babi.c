/* test_babi.c - the bAbI question-answering reader (core/data/babi.c):
 * stories, statements and questions of hand-written files (tests/data/babi/),
 * contexts and supporting facts as global statement indices, tokenisation,
 * multi-word answers, CRLF and a missing final newline; one case per kind of
 * malformed line (status, "name:LINE" and the offending value in the
 * message); argument checks; and a 10k-question file. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

static strata_babi *from_string(const char *s)
{
    strata_babi *b = NULL;
    ST_OK(strata_babi_from_memory(s, strlen(s), "mem.txt", &b));
    return b;
}

static strata_babi_question question(const strata_babi *b, int64_t i)
{
    strata_babi_question q;
    memset(&q, 0, sizeof q);
    q.struct_size = sizeof q;
    ST_OK(strata_babi_question_get(b, i, &q));
    return q;
}

/* Asserts the words of an array joined by spaces equal @p want. */
static void assert_words(const char *const *w, int32_t n, const char *want)
{
    char got[1024] = "";
    for (int32_t k = 0; k < n; k++) {
        if (k)
            strcat(got, " ");
        strcat(got, w[k]);
    }
    assert_string_equal(got, want);
}

static void assert_statement(const strata_babi *b, int64_t i, const char *want)
{
    int32_t n = -1;
    const char *const *w = strata_babi_statement(b, i, &n);
    assert_non_null(w);
    assert_words(w, n, want);
}

/* ---- well-formed files ----------------------------------------------------- */

static void test_multi_story_file(void **state)
{
    (void)state;
    strata_babi *b = NULL;
    ST_OK(strata_babi_load(tu_data_path("babi/multi_story.txt"), &b));
    assert_int_equal(strata_babi_story_count(b), 3);
    assert_int_equal(strata_babi_statement_count(b), 9);
    assert_int_equal(strata_babi_question_count(b), 5);

    /* statements are numbered across stories; questions are not statements */
    assert_statement(b, 0, "mary moved to the bathroom");
    assert_statement(b, 1, "john went to the hallway");
    assert_statement(b, 2, "daniel went back to the hallway");
    assert_statement(b, 3, "sandra moved to the garden");
    assert_statement(b, 4, "the kitchen is north of the office");
    assert_statement(b, 5, "the garden is west of the bedroom");
    assert_statement(b, 6, "mary got the apple there");
    assert_statement(b, 7, "mary grabbed the football there");
    assert_statement(b, 8, "mary dropped the apple");

    strata_babi_question q = question(b, 0);
    assert_int_equal(q.struct_size, sizeof q);
    assert_int_equal(q.story, 0);
    assert_int_equal(q.context_first, 0);
    assert_int_equal(q.context_count, 2);
    assert_words(q.words, q.n_words, "where is mary");
    assert_string_equal(q.answer, "bathroom");
    assert_int_equal(q.n_answer_parts, 1);
    assert_string_equal(q.answer_parts[0], "bathroom");
    assert_int_equal(q.n_supporting, 1);
    assert_int_equal(q.supporting[0], 0);
    assert_int_equal(q.line, 3);

    /* the context grows past the first question and skips it: ID 4 is statement 2 */
    q = question(b, 1);
    assert_int_equal(q.story, 0);
    assert_int_equal(q.context_first, 0);
    assert_int_equal(q.context_count, 4);
    assert_string_equal(q.answer, "hallway");
    assert_int_equal(q.n_supporting, 1);
    assert_int_equal(q.supporting[0], 2);
    assert_int_equal(q.line, 6);

    /* a blank line (7) between stories; IDs restart at 1 */
    q = question(b, 2);
    assert_int_equal(q.story, 1);
    assert_int_equal(q.context_first, 4);
    assert_int_equal(q.context_count, 2);
    assert_words(q.words, q.n_words, "how do you go from the kitchen to the garden");
    assert_string_equal(q.answer, "n,w");
    assert_int_equal(q.n_answer_parts, 2);
    assert_string_equal(q.answer_parts[0], "n");
    assert_string_equal(q.answer_parts[1], "w");
    assert_int_equal(q.n_supporting, 2);
    assert_int_equal(q.supporting[0], 4);
    assert_int_equal(q.supporting[1], 5);
    assert_int_equal(q.line, 10);

    q = question(b, 3);
    assert_int_equal(q.story, 2);
    assert_int_equal(q.context_first, 6);
    assert_int_equal(q.context_count, 2);
    assert_string_equal(q.answer, "apple,football");
    assert_int_equal(q.n_answer_parts, 2);
    assert_string_equal(q.answer_parts[0], "apple");
    assert_string_equal(q.answer_parts[1], "football");
    assert_int_equal(q.supporting[0], 6);
    assert_int_equal(q.supporting[1], 7);
    assert_int_equal(q.line, 13);

    /* no space before the tab; supporting IDs 2 and 4 around question 3 */
    q = question(b, 4);
    assert_int_equal(q.story, 2);
    assert_int_equal(q.context_first, 6);
    assert_int_equal(q.context_count, 3);
    assert_words(q.words, q.n_words, "what is mary carrying");
    assert_string_equal(q.answer, "football");
    assert_int_equal(q.n_supporting, 2);
    assert_int_equal(q.supporting[0], 7);
    assert_int_equal(q.supporting[1], 8);
    assert_int_equal(q.line, 15);
    strata_babi_destroy(b);
    strata_babi_destroy(NULL);
}

static void test_crlf_no_final_newline(void **state)
{
    (void)state;
    strata_babi *b = NULL;
    ST_OK(strata_babi_load(tu_data_path("babi/crlf_no_newline.txt"), &b));
    assert_int_equal(strata_babi_story_count(b), 1);
    assert_int_equal(strata_babi_statement_count(b), 2);
    assert_int_equal(strata_babi_question_count(b), 3);
    assert_statement(b, 0, "bill went to the kitchen");
    assert_statement(b, 1, "fred picked up the milk");

    strata_babi_question q = question(b, 0);
    assert_string_equal(q.answer, "kitchen"); /* no '\r' left anywhere */
    assert_int_equal(q.n_supporting, 1);
    assert_int_equal(q.supporting[0], 0);
    assert_int_equal(q.line, 2);

    q = question(b, 1); /* an empty supporting field */
    assert_words(q.words, q.n_words, "where is fred");
    assert_string_equal(q.answer, "kitchen");
    assert_int_equal(q.n_supporting, 0);
    assert_int_equal(q.context_count, 2);
    assert_int_equal(q.line, 5);

    q = question(b, 2); /* no supporting field, no final newline */
    assert_words(q.words, q.n_words, "is bill in the kitchen");
    assert_string_equal(q.answer, "yes");
    assert_int_equal(q.n_answer_parts, 1);
    assert_int_equal(q.n_supporting, 0);
    assert_null(q.supporting);
    assert_int_equal(q.context_count, 2);
    assert_int_equal(q.line, 6);
    strata_babi_destroy(b);
}

static void test_same_from_memory_and_lf(void **state)
{
    (void)state;
    /* the CRLF fixture's content with LF ends parses the same */
    strata_babi *b = from_string("1 Bill went to the Kitchen.\n2 Where is Bill? \tkitchen\t1\n\n"
                                 "3 Fred picked up the milk.\n4 Where is Fred?\tkitchen\t\n"
                                 "5 Is Bill in the kitchen?\tyes\n");
    assert_int_equal(strata_babi_statement_count(b), 2);
    assert_int_equal(strata_babi_question_count(b), 3);
    strata_babi_question q = question(b, 2);
    assert_string_equal(q.answer, "yes");
    assert_int_equal(q.line, 6);
    strata_babi_destroy(b);
}

static void test_tokenisation(void **state)
{
    (void)state;
    strata_babi *b = from_string("1 Hello,  WORLD!!  ...  End?. mid.dle\n"
                                 "2   \xc3\x89T\xc3\x89 Is it OK?? \t  n , w \t 1 \n");
    assert_statement(b, 0, "hello world end mid.dle"); /* only trailing punctuation goes; "..." is dropped */
    strata_babi_question q = question(b, 0);
    assert_words(q.words, q.n_words, "\xc3\x89t\xc3\x89 is it ok"); /* ASCII letters are lower-cased */
    assert_string_equal(q.answer, "n , w");                        /* trimmed, otherwise as written */
    assert_int_equal(q.n_answer_parts, 2);
    assert_string_equal(q.answer_parts[0], "n");
    assert_string_equal(q.answer_parts[1], "w");
    assert_int_equal(q.n_supporting, 1);
    assert_int_equal(q.supporting[0], 0);
    strata_babi_destroy(b);

    b = from_string("1 Sandra\ttook\n"); /* a tab makes a question: "took" is its answer */
    assert_int_equal(strata_babi_statement_count(b), 0);
    assert_int_equal(strata_babi_question_count(b), 1);
    q = question(b, 0);
    assert_string_equal(q.answer, "took");
    assert_int_equal(q.context_count, 0);
    strata_babi_destroy(b);
}

static void test_empty_files(void **state)
{
    (void)state;
    strata_babi *b = NULL;
    ST_OK(strata_babi_load(tu_data_path("babi/empty.txt"), &b));
    assert_int_equal(strata_babi_story_count(b), 0);
    assert_int_equal(strata_babi_statement_count(b), 0);
    assert_int_equal(strata_babi_question_count(b), 0);
    assert_null(strata_babi_statement(b, 0, NULL));
    strata_babi_destroy(b);

    ST_OK(strata_babi_from_memory(NULL, 0, NULL, &b));
    assert_int_equal(strata_babi_question_count(b), 0);
    strata_babi_destroy(b);

    b = from_string("\n\r\n  \t \n\n");
    assert_int_equal(strata_babi_story_count(b), 0);
    assert_int_equal(strata_babi_question_count(b), 0);
    strata_babi_destroy(b);
}

/* ---- malformed files ------------------------------------------------------- */

/* Loads @p text as "bad.txt" and asserts STRATA_E_FORMAT with each of the
 * NULL-terminated needles in the message. */
static void expect_format_error(const char *text, size_t len, ...)
{
    strata_babi *b = (strata_babi *)&b; /* must stay untouched */
    strata_babi *const sentinel = b;
    strata_status s = strata_babi_from_memory(text, len, "bad.txt", &b);
    if (s != STRATA_E_FORMAT)
        fail_msg("expected E_FORMAT for \"%s\", got %s: %s", text, strata_status_name(s), strata_last_error());
    assert_ptr_equal(b, sentinel);
    va_list ap;
    va_start(ap, len);
    for (const char *needle; (needle = va_arg(ap, const char *));)
        tu_assert_error_contains(needle);
    va_end(ap);
}

#define BAD(text, ...) expect_format_error(text, strlen(text), __VA_ARGS__, (const char *)NULL)

static void test_bad_ids(void **state)
{
    (void)state;
    BAD("1 Mary went home.\nMary is here.\n", "bad.txt:2: ", "numeric ID", "\"Mary is here.\"");
    /* no white space before the ID */
    BAD("1 Mary went home.\n 2 John too.\n", "bad.txt:2: ", "numeric ID", "\" 2 John too.\"");
    BAD("12abc Mary went home.\n", "bad.txt:1: ", "not a number", "\"12abc\"");
    BAD("+1 Mary went home.\n", "bad.txt:1: ", "numeric ID", "\"+1 Mary went home.\"");
    BAD("0 Mary went home.\n", "bad.txt:1: ", "positive", "(0)");
    BAD("1 a.\n-2 Mary went home.\n", "bad.txt:2: ", "positive", "(-2)");
    BAD("1234567890123456789 Mary.\n", "bad.txt:1: ", "out of range", "\"1234567890123456789\"");
    BAD("2 Mary went home.\n", "bad.txt:1: ", "start with ID 1", "(2)");
    BAD("1 a.\n2 b.\n4 c.\n", "bad.txt:3: ", "out of sequence", "expected 3", "(4)"); /* skipped */
    BAD("1 a.\n2 b.\n\n2 c.\n", "bad.txt:4: ", "out of sequence", "expected 3", "(2)"); /* repeated */
    BAD("1 a.\n2 b.\n3 Q?\tx\t1\n1 c.\n5 d.\n", "bad.txt:5: ", "expected 2", "(5)");
    BAD("1 a.\n2\n", "bad.txt:2: ", "no text", "(2)");
    BAD("1 a.\n2\tWhere?\tx\n", "bad.txt:2: ", "space after the ID", "\"\\t\"");
}

/* A UTF-8 byte order mark opening the file is skipped (it was "does not
 * start with a numeric ID" for bytes an editor does not show); one later is
 * part of its line. */
static void test_byte_order_mark(void **state)
{
    (void)state;
    strata_babi *b = from_string("\xEF\xBB\xBF" "1 Mary went home.\n2 Where is Mary?\thome\t1\n");
    assert_int_equal(strata_babi_question_count(b), 1);
    assert_statement(b, 0, "mary went home");
    strata_babi_destroy(b);
    b = from_string("\xEF\xBB\xBF");
    assert_int_equal(strata_babi_story_count(b), 0);
    strata_babi_destroy(b);
    BAD("1 a.\n\xEF\xBB\xBF" "2 b.\n", "bad.txt:2: ", "numeric ID");
}

static void test_bad_lines(void **state)
{
    (void)state;
    BAD("1 a.\n2 Where is a?\tx\t1\textra\n", "bad.txt:2: ", "4 tab-separated fields", "Where is a?\\tx\\t1\\textra");
    BAD("1 a.\n2 Where is a? \t \t1\n", "bad.txt:2: ", "empty answer", "\"Where is a? \"");
    BAD("1 a.\n2 Where is a?\t\n", "bad.txt:2: ", "empty answer");
    BAD("1 a.\n2 Where is a?\tn,\t1\n", "bad.txt:2: ", "empty part 2", "\"n,\"");
    BAD("1 a.\n2 Where is a?\t,w\t1\n", "bad.txt:2: ", "empty part 1", "\",w\"");
    BAD("1 a.\n2 \tx\t1\n", "bad.txt:2: ", "question 2 has no words");
    BAD("1 ... ?\n", "bad.txt:1: ", "statement 1 has no words", "\"... ?\"");
    /* CRLF ends keep the line numbers */
    static const char nul[] = "1 a.\r\n2 b.\r\n3 c\x00.\r\n";
    expect_format_error(nul, sizeof nul - 1, "bad.txt:3: ", "NUL byte at column 4", "\"3 c\\x00.", (const char *)NULL);
}

static void test_bad_supporting(void **state)
{
    (void)state;
    BAD("1 a.\n2 Where?\tx\tone\n", "bad.txt:2: ", "not a number", "\"one\"");
    BAD("1 a.\n2 Where?\tx\t1,2\n", "bad.txt:2: ", "not a number", "\"1,2\"");
    BAD("1 a.\n2 b.\n3 Where?\tx\t3\n", "bad.txt:3: ", "not an earlier line", "\"3\"", "1..2");
    BAD("1 a.\n2 b.\n3 Where?\tx\t1 7\n", "bad.txt:3: ", "not an earlier line", "\"7\"");
    BAD("1 a.\n2 Where?\tx\t0\n", "bad.txt:2: ", "not an earlier line", "\"0\"");
    BAD("1 a.\n2 Where?\tx\t-1\n", "bad.txt:2: ", "not an earlier line", "\"-1\"");
    BAD("1 a.\n2 Where?\tx\t99999999999999999999\n", "bad.txt:2: ", "not an earlier line",
        "\"99999999999999999999\"");
    BAD("1 a.\n2 Where?\tx\t1\n3 Why?\ty\t2\n", "bad.txt:3: ", "is a question", "\"2\"");
    /* a supporting id names a line of its own story, not of an earlier one */
    BAD("1 a.\n2 b.\n1 c.\n2 Where?\tx\t1\n3 Why?\ty\t2\n", "bad.txt:5: ", "is a question", "\"2\"");
}

static void test_line_too_long(void **state)
{
    (void)state;
    size_t n = 70000;
    char *s = malloc(n + 2);
    assert_non_null(s);
    memcpy(s, "1 ", 2);
    memset(s + 2, 'a', n - 2);
    s[n] = '\n';
    s[n + 1] = '\0';
    expect_format_error(s, n + 1, "bad.txt:1: ", "70000 bytes", "65536", "\"1 aaaa", (const char *)NULL);
    /* no final newline: the same */
    expect_format_error(s, n, "bad.txt:1: ", "70000 bytes", (const char *)NULL);
    free(s);
}

/* ---- files and arguments ---------------------------------------------------- */

static void test_missing_file(void **state)
{
    (void)state;
    strata_babi *b = NULL;
    const char *path = tu_data_path("babi/no-such-file.txt");
    assert_int_equal(strata_babi_load(path, &b), STRATA_E_IO);
    assert_null(b);
    tu_assert_error_contains(path);
    tu_assert_error_contains("No such file or directory");

    /* a file on disk reports its path in format errors */
    const char *bad = "1 a.\n2 Where?\tx\t5\n";
    const char *tmp = tu_write_temp(".txt", bad, strlen(bad));
    char want[4200];
    snprintf(want, sizeof want, "%s:2: ", tmp);
    assert_int_equal(strata_babi_load(tmp, &b), STRATA_E_FORMAT);
    tu_assert_error_contains(want);
    remove(tmp);
}

static void test_arguments(void **state)
{
    (void)state;
    strata_babi *b = NULL;
    assert_int_equal(strata_babi_load(NULL, &b), STRATA_E_INVALID);
    tu_assert_error_contains("strata_babi_load");
    assert_int_equal(strata_babi_load(tu_data_path("babi/empty.txt"), NULL), STRATA_E_INVALID);
    assert_int_equal(strata_babi_from_memory(NULL, 3, "x", &b), STRATA_E_INVALID);
    tu_assert_error_contains("strata_babi_from_memory");
    assert_int_equal(strata_babi_from_memory("1 a.\n", 5, "x", NULL), STRATA_E_INVALID);
    assert_null(b);

    assert_int_equal(strata_babi_story_count(NULL), 0);
    assert_int_equal(strata_babi_statement_count(NULL), 0);
    assert_int_equal(strata_babi_question_count(NULL), 0);
    int32_t n = 7;
    assert_null(strata_babi_statement(NULL, 0, &n));
    assert_int_equal(n, 0);

    b = from_string("1 Mary moved.\n2 Where is Mary?\tbathroom\t1\n");
    n = 7;
    assert_null(strata_babi_statement(b, 1, &n));
    assert_int_equal(n, 0);
    assert_null(strata_babi_statement(b, -1, &n));
    assert_non_null(strata_babi_statement(b, 0, NULL));

    strata_babi_question q;
    memset(&q, 0, sizeof q);
    q.struct_size = sizeof q;
    assert_int_equal(strata_babi_question_get(b, 1, &q), STRATA_E_INVALID);
    tu_assert_error_contains("question 1 is outside [0, 1)");
    assert_int_equal(strata_babi_question_get(b, -1, &q), STRATA_E_INVALID);
    assert_null(q.answer); /* untouched on failure */
    assert_int_equal(strata_babi_question_get(NULL, 0, &q), STRATA_E_INVALID);
    assert_int_equal(strata_babi_question_get(b, 0, NULL), STRATA_E_INVALID);
    q.struct_size = sizeof q - 1;
    assert_int_equal(strata_babi_question_get(b, 0, &q), STRATA_E_INVALID);
    tu_assert_error_contains("struct_size");
    assert_null(q.answer);
    /* a caller built against a later, bigger struct is served */
    struct {
        strata_babi_question q;
        int64_t later;
    } big;
    memset(&big, 0, sizeof big);
    big.q.struct_size = sizeof big;
    big.later = 42;
    ST_OK(strata_babi_question_get(b, 0, &big.q));
    assert_int_equal(big.q.struct_size, sizeof big);
    assert_string_equal(big.q.answer, "bathroom");
    assert_int_equal(big.later, 42);
    strata_babi_destroy(b);
}

/* ---- size ----------------------------------------------------------------- */

static void test_ten_thousand_questions(void **state)
{
    (void)state;
    /* 2000 stories of 5 statements and 5 questions, interleaved, and one
     * statement of 32000 words (its pointer array outgrows an arena block) */
    size_t cap = 4u << 20, len = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    for (int st = 0; st < 2000; st++)
        for (int k = 0; k < 5; k++) {
            len += (size_t)snprintf(s + len, cap - len, "%d Person%d moved to the room%d.\n", 2 * k + 1, k, st);
            len += (size_t)snprintf(s + len, cap - len, "%d Where is Person%d? \troom%d\t%d\n", 2 * k + 2, k, st,
                                    2 * k + 1);
        }
    len += (size_t)snprintf(s + len, cap - len, "1");
    for (int k = 0; k < 32000; k++)
        len += (size_t)snprintf(s + len, cap - len, " w");
    len += (size_t)snprintf(s + len, cap - len, "\n2 Where?\tw\t1\n");

    clock_t t0 = clock();
    strata_babi *b = NULL;
    ST_OK(strata_babi_from_memory(s, len, "big.txt", &b));
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    print_message("parsed %zu bytes, 10001 questions in %.3f s\n", len, secs);
    assert_int_equal(strata_babi_story_count(b), 2001);
    assert_int_equal(strata_babi_statement_count(b), 10001);
    assert_int_equal(strata_babi_question_count(b), 10001);
    strata_babi_question q = question(b, 9999);
    assert_int_equal(q.story, 1999);
    assert_int_equal(q.context_first, 9995);
    assert_int_equal(q.context_count, 5);
    assert_int_equal(q.supporting[0], 9999);
    assert_string_equal(q.answer, "room1999");
    assert_words(q.words, q.n_words, "where is person4");
    assert_int_equal(q.line, 20000);
    int32_t n;
    const char *const *w = strata_babi_statement(b, 10000, &n);
    assert_int_equal(n, 32000);
    assert_string_equal(w[31999], "w");
    q = question(b, 10000);
    assert_int_equal(q.supporting[0], 10000);
    assert_true(secs < 5.0);
    strata_babi_destroy(b);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multi_story_file),
        cmocka_unit_test(test_crlf_no_final_newline),
        cmocka_unit_test(test_same_from_memory_and_lf),
        cmocka_unit_test(test_tokenisation),
        cmocka_unit_test(test_empty_files),
        cmocka_unit_test(test_bad_ids),
        cmocka_unit_test(test_bad_lines),
        cmocka_unit_test(test_byte_order_mark),
        cmocka_unit_test(test_bad_supporting),
        cmocka_unit_test(test_line_too_long),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_arguments),
        cmocka_unit_test(test_ten_thousand_questions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
