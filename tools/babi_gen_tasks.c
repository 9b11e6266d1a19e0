/* babi_gen_tasks.c - the story generators of the 20 bAbI tasks (Weston et
 * al. 2015). Each simulates a small world (people with a place, objects
 * with a holder or a place, a grid of rooms or shapes, ...), writes the
 * statements it performs and asks questions whose answers and supporting
 * line IDs come from the world's state. docs/babi.md gives the rules of
 * each task and how they compare with the official data. */
#include <stdio.h>
#include <string.h>

#include "babi_gen.h"

const char *const bg_people[4] = {"Mary", "John", "Daniel", "Sandra"};
const char *const bg_places[6] = {"bathroom", "hallway", "kitchen", "office", "bedroom", "garden"};
const char *const bg_objects[3] = {"football", "apple", "milk"};
const char *const bg_move_verbs[5] = {"moved to", "went to", "journeyed to", "travelled to", "went back to"};
const char *const bg_get_verbs[4] = {"got", "took", "picked up", "grabbed"};
const char *const bg_drop_verbs[4] = {"dropped", "discarded", "put down", "left"};
const char *const bg_give_verbs[3] = {"gave", "handed", "passed"};
const char *const bg_connectives[4] = {"After that", "Then", "Following that", "Afterwards"};
const char *const bg_people2[4] = {"Bill", "Fred", "Jeff", "Mary"};
const char *const bg_people3[4] = {"Fred", "Mary", "Bill", "Julie"};
const char *const bg_places3[6] = {"school", "park", "office", "cinema", "kitchen", "bedroom"};
const char *const bg_times[4] = {"yesterday", "this morning", "this afternoon", "this evening"};
const char *const bg_numbers[4] = {"none", "one", "two", "three"};

static const char *const bg_names[BG_NTASKS] = {
    "qa1_single-supporting-fact", "qa2_two-supporting-facts", "qa3_three-supporting-facts", "qa4_two-arg-relations",
    "qa5_three-arg-relations",    "qa6_yes-no-questions",     "qa7_counting",               "qa8_lists-sets",
    "qa9_simple-negation",        "qa10_indefinite-knowledge", "qa11_basic-coreference",    "qa12_conjunction",
    "qa13_compound-coreference",  "qa14_time-reasoning",      "qa15_basic-deduction",       "qa16_basic-induction",
    "qa17_positional-reasoning",  "qa18_size-reasoning",      "qa19_path-finding",          "qa20_agents-motivations"};

const char *bg_task_name(int task)
{
    return task >= 1 && task <= BG_NTASKS ? bg_names[task - 1] : "?";
}

int bg_find(const char *const *list, int n, const char *w)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(list[i], w))
            return i;
    return -1;
}

#define PICK(r, arr) ((arr)[bg_int((r), (int)(sizeof(arr) / sizeof((arr)[0])))])

/* ------------------------------------------------------------------ */
/* The house world of tasks 1-3, 5-8: people move between rooms, pick up,
 * drop and give objects. A person's place is known once a move of theirs
 * is told; every change of place is told, so the told place is the true
 * one. Objects have no place until someone picks them up. */

enum { W_NP = 4, W_NO = 3, W_MAXH = 256, W_MAXEP = 64 };

typedef struct {
    const char *const *names; /* W_NP people */
    int loc[W_NP], locline[W_NP];
    int holder[W_NO], oloc[W_NO];      /* holder person or -1; place when not held, -1 unknown */
    int gotline[W_NO];                 /* line where the holder got it */
    int dropline[W_NO], dropmove[W_NO]; /* last drop, and the dropper's move that placed it */
    /* task 3: the places of the current carrying episode */
    int ep_n[W_NO], ep_loc[W_NO][W_MAXEP], ep_line[W_NO][W_MAXEP], ep_grab[W_NO];
    /* tasks 7, 8: each person's object lines, and what they hold in order */
    int hist[W_NP][W_MAXH], nhist[W_NP];
    int held[W_NP][W_NO], nheld[W_NP];
    int known_actor[W_NP];
    int max_held; /* a person holds at most this many objects (task 8: 2) */
    int last_kind, last_p, last_k, last_q, last_line; /* the last object action */
} bg_world;

static void w_init(bg_world *w, const char *const *names)
{
    memset(w, 0, sizeof *w);
    w->names = names;
    w->max_held = W_NO;
    for (int p = 0; p < W_NP; p++)
        w->loc[p] = -1;
    for (int k = 0; k < W_NO; k++)
        w->holder[k] = w->oloc[k] = -1;
}

static void w_hist(bg_world *w, int p, int line)
{
    if (w->nhist[p] < W_MAXH)
        w->hist[p][w->nhist[p]++] = line;
}

static void w_hold(bg_world *w, int p, int k)
{
    w->held[p][w->nheld[p]++] = k;
}

static void w_unhold(bg_world *w, int p, int k)
{
    for (int i = 0; i < w->nheld[p]; i++)
        if (w->held[p][i] == k) {
            memmove(&w->held[p][i], &w->held[p][i + 1], sizeof(int) * (size_t)(w->nheld[p] - i - 1));
            w->nheld[p]--;
            return;
        }
}

/* Moves @p p to @p l (a different place) and carries what they hold. */
static void w_move_to(bg_world *w, bg_out *o, bg_rng *r, int p, int l)
{
    int line = bg_stmt(o, "%s %s the %s.", w->names[p], PICK(r, bg_move_verbs), bg_places[l]);
    w->loc[p] = l;
    w->locline[p] = line;
    for (int k = 0; k < W_NO; k++)
        if (w->holder[k] == p) {
            if (w->ep_n[k] < W_MAXEP) {
                w->ep_loc[k][w->ep_n[k]] = l;
                w->ep_line[k][w->ep_n[k]++] = line;
            }
        }
}

/* A random move; with probability @p meet_pct toward another located person. */
static void w_move(bg_world *w, bg_out *o, bg_rng *r, int meet_pct)
{
    int p = bg_int(r, W_NP), l = -1;
    if (bg_int(r, 100) < meet_pct) {
        int q = bg_int(r, W_NP);
        if (q != p && w->loc[q] >= 0 && w->loc[q] != w->loc[p])
            l = w->loc[q];
    }
    while (l < 0 || l == w->loc[p])
        l = bg_int(r, 6);
    w_move_to(w, o, r, p, l);
}

enum { A_GET, A_DROP, A_GIVE };

/* Performs one random valid object action of the kinds in @p kinds (a bit
 * set of 1 << A_*); 0 when none is possible. */
static int w_object(bg_world *w, bg_out *o, bg_rng *r, int kinds)
{
    int cand[64][4], n = 0;
    for (int p = 0; p < W_NP; p++) {
        if (w->loc[p] < 0)
            continue;
        for (int k = 0; k < W_NO; k++) {
            if ((kinds & 1 << A_GET) && w->holder[k] < 0 && (w->oloc[k] < 0 || w->oloc[k] == w->loc[p]) &&
                w->nheld[p] < w->max_held)
                cand[n][0] = A_GET, cand[n][1] = p, cand[n][2] = k, cand[n++][3] = -1;
            if ((kinds & 1 << A_DROP) && w->holder[k] == p)
                cand[n][0] = A_DROP, cand[n][1] = p, cand[n][2] = k, cand[n++][3] = -1;
            if ((kinds & 1 << A_GIVE) && w->holder[k] == p)
                for (int q = 0; q < W_NP; q++)
                    if (q != p && w->loc[q] == w->loc[p] && w->nheld[q] < w->max_held)
                        cand[n][0] = A_GIVE, cand[n][1] = p, cand[n][2] = k, cand[n++][3] = q;
        }
    }
    if (!n)
        return 0;
    int *c = cand[bg_int(r, n)], p = c[1], k = c[2], q = c[3], line;
    switch (c[0]) {
    case A_GET:
        line = bg_stmt(o, "%s %s the %s there.", w->names[p], PICK(r, bg_get_verbs), bg_objects[k]);
        w->holder[k] = p;
        w->gotline[k] = line;
        w->ep_n[k] = 1;
        w->ep_loc[k][0] = w->loc[p];
        w->ep_line[k][0] = w->locline[p];
        w->ep_grab[k] = line;
        w_hold(w, p, k);
        break;
    case A_DROP:
        line = bg_stmt(o, "%s %s the %s.", w->names[p], PICK(r, bg_drop_verbs), bg_objects[k]);
        w->holder[k] = -1;
        w->oloc[k] = w->loc[p];
        w->dropline[k] = line;
        w->dropmove[k] = w->locline[p];
        w_unhold(w, p, k);
        break;
    default:
        line = bg_stmt(o, "%s %s the %s to %s.", w->names[p], PICK(r, bg_give_verbs), bg_objects[k], w->names[q]);
        w->holder[k] = q;
        w->gotline[k] = line;
        w_unhold(w, p, k);
        w_hold(w, q, k);
        w_hist(w, q, line);
        break;
    }
    w_hist(w, p, line);
    w->known_actor[p] = 1;
    w->last_kind = c[0], w->last_p = p, w->last_k = k, w->last_q = q, w->last_line = line;
    return 1;
}

/* A located person chosen at random, or -1. */
static int w_located(const bg_world *w, bg_rng *r)
{
    int c[W_NP], n = 0;
    for (int p = 0; p < W_NP; p++)
        if (w->loc[p] >= 0)
            c[n++] = p;
    return n ? c[bg_int(r, n)] : -1;
}

/* Task 1: two moves, then "Where is P?" about a located person; 5 times. */
static void gen_single(bg_out *o, bg_rng *r)
{
    bg_world w;
    w_init(&w, bg_people);
    for (int q = 0; q < 5 && !bg_full(o); q++) {
        w_move(&w, o, r, 0);
        w_move(&w, o, r, 0);
        int p = w_located(&w, r);
        char text[64];
        snprintf(text, sizeof text, "Where is %s?", bg_people[p]);
        bg_question(o, text, bg_places[w.loc[p]], &w.locline[p], 1);
    }
}

/* Tasks 2 and 3: moves, gets and drops; after at least 3 statements since
 * the last question, a question with probability 1/2 when one can be asked.
 * Task 3 asks where an object was before its current place: the place
 * before it in the current carrying (from the pick-up on), also when the
 * object has been in its current place before (as the official generator,
 * the answer is the most recent place before it). */
static void gen_objects(bg_out *o, bg_rng *r, int before)
{
    bg_world w;
    w_init(&w, bg_people);
    int since = 0, nq = 0;
    while (nq < 5 && !bg_full(o) && o->line < 500) {
        if (bg_int(r, 100) >= 20 || !w_object(&w, o, r, 1 << A_GET | 1 << A_DROP))
            w_move(&w, o, r, 0);
        if (++since <= 2 || bg_int(r, 2))
            continue;
        int c[W_NO], n = 0;
        for (int k = 0; k < W_NO; k++) {
            if (!before && (w.holder[k] >= 0 || w.oloc[k] >= 0))
                c[n++] = k;
            if (before && w.ep_n[k] >= 2)
                c[n++] = k;
        }
        if (!n)
            continue;
        int k = c[bg_int(r, n)], sup[3];
        char text[96];
        if (before) {
            int e = w.ep_n[k];
            snprintf(text, sizeof text, "Where was the %s before the %s?", bg_objects[k], bg_places[w.ep_loc[k][e - 1]]);
            sup[0] = w.ep_grab[k], sup[1] = w.ep_line[k][e - 2], sup[2] = w.ep_line[k][e - 1];
            bg_question(o, text, bg_places[w.ep_loc[k][e - 2]], sup, 3);
        } else {
            snprintf(text, sizeof text, "Where is the %s?", bg_objects[k]);
            int h = w.holder[k];
            if (h >= 0)
                sup[0] = w.gotline[k], sup[1] = w.locline[h];
            else
                sup[0] = w.dropline[k], sup[1] = w.dropmove[k];
            bg_question(o, text, bg_places[h >= 0 ? w.loc[h] : w.oloc[k]], sup, 2);
        }
        since = 0;
        nq++;
    }
}

/* ------------------------------------------------------------------ */
/* Grids (tasks 4, 17, 19): x grows east/right, y grows north/up. */

static const int dir_dx[4] = {0, 0, 1, -1}, dir_dy[4] = {1, -1, 0, 0}; /* n s e w */
static const char *const dir_word[4] = {"north", "south", "east", "west"};
static const char *const dir_letter[4] = {"n", "s", "e", "w"};

static int dir_opp(int d)
{
    return d ^ 1;
}

/* Task 4: three rooms on a grid, two "The A is north of the B." facts
 * about adjacent pairs, one question about one of them. */
static void gen_two_arg(bg_out *o, bg_rng *r)
{
    int room[3], x[3], y[3], from[3], d[3];
    room[0] = bg_int(r, 6);
    do
        room[1] = bg_int(r, 6);
    while (room[1] == room[0]);
    do
        room[2] = bg_int(r, 6);
    while (room[2] == room[0] || room[2] == room[1]);
    x[0] = y[0] = 0;
    for (int i = 1; i < 3; i++) {
        for (;;) {
            from[i] = i == 1 ? 0 : bg_int(r, 2); /* a chain or a star */
            d[i] = bg_int(r, 4);
            x[i] = x[from[i]] + dir_dx[d[i]];
            y[i] = y[from[i]] + dir_dy[d[i]];
            int clash = 0;
            for (int j = 0; j < i; j++)
                clash |= x[j] == x[i] && y[j] == y[i];
            if (!clash)
                break;
        }
    }
    /* fact i: room[i] is d[i] of room[from[i]], said either way round */
    int subj[3], obj[3], dd[3];
    for (int i = 1; i < 3; i++) {
        if (bg_int(r, 2))
            subj[i] = room[i], obj[i] = room[from[i]], dd[i] = d[i];
        else
            subj[i] = room[from[i]], obj[i] = room[i], dd[i] = dir_opp(d[i]);
        bg_stmt(o, "The %s is %s of the %s.", bg_places[subj[i]], dir_word[dd[i]], bg_places[obj[i]]);
    }
    int f = 1 + bg_int(r, 2), a = subj[f], b = obj[f], dir = dd[f];
    if (bg_int(r, 2)) { /* the converse: b is opp(dir) of a */
        int t = a;
        a = b, b = t, dir = dir_opp(dir);
    }
    char text[96];
    const char *answer;
    if (bg_int(r, 2)) {
        snprintf(text, sizeof text, "What is %s of the %s?", dir_word[dir], bg_places[b]);
        answer = bg_places[a];
    } else {
        snprintf(text, sizeof text, "What is the %s %s of?", bg_places[a], dir_word[dir]);
        answer = bg_places[b];
    }
    bg_question(o, text, answer, &f, 1);
}

/* Task 5: moves (often toward another person), gets, drops and gives;
 * after at least 3 statements since the last question, with probability
 * 1/2, a question about the latest give. 5 questions a story. */
static void gen_three_arg(bg_out *o, bg_rng *r)
{
    bg_world w;
    w_init(&w, bg_people2);
    int since = 0, nq = 0, give_line = 0, g = 0, k = 0, rc = 0;
    while (nq < 5 && !bg_full(o) && o->line < 500) {
        int u = bg_int(r, 100);
        int done = (u < 40 && w_object(&w, o, r, 1 << A_GIVE)) ||
                   (u < 70 && w_object(&w, o, r, 1 << A_GET | 1 << A_DROP));
        if (!done)
            w_move(&w, o, r, 50);
        else if (w.last_kind == A_GIVE)
            give_line = w.last_line, g = w.last_p, k = w.last_k, rc = w.last_q;
        if (++since <= 2 || !give_line || bg_int(r, 2))
            continue;
        char text[128];
        const char *answer;
        switch (bg_int(r, 5)) {
        case 0:
            snprintf(text, sizeof text, "Who gave the %s?", bg_objects[k]);
            answer = bg_people2[g];
            break;
        case 1:
            snprintf(text, sizeof text, "Who gave the %s to %s?", bg_objects[k], bg_people2[rc]);
            answer = bg_people2[g];
            break;
        case 2:
            snprintf(text, sizeof text, "Who did %s give the %s to?", bg_people2[g], bg_objects[k]);
            answer = bg_people2[rc];
            break;
        case 3:
            snprintf(text, sizeof text, "What did %s give to %s?", bg_people2[g], bg_people2[rc]);
            answer = bg_objects[k];
            break;
        default:
            snprintf(text, sizeof text, "Who received the %s?", bg_objects[k]);
            answer = bg_people2[rc];
            break;
        }
        bg_question(o, text, answer, &give_line, 1);
        since = 0;
        nq++;
    }
}

/* Task 6: two statements (moves, some gets and drops), then "Is P in the
 * L?" about a located person, yes or no with equal odds; 5 times. */
static void gen_yes_no(bg_out *o, bg_rng *r)
{
    bg_world w;
    w_init(&w, bg_people);
    for (int q = 0; q < 5 && !bg_full(o); q++) {
        for (int i = 0; i < 2; i++)
            if (bg_int(r, 100) >= 20 || !w_object(&w, o, r, 1 << A_GET | 1 << A_DROP))
                w_move(&w, o, r, 0);
        int p = w_located(&w, r);
        if (p < 0) {
            w_move(&w, o, r, 0);
            p = w_located(&w, r);
        }
        int l = w.loc[p], yes = bg_int(r, 2);
        while (!yes && l == w.loc[p])
            l = bg_int(r, 6);
        char text[96];
        snprintf(text, sizeof text, "Is %s in the %s?", bg_people[p], bg_places[l]);
        bg_question(o, text, yes ? "yes" : "no", &w.locline[p], 1);
    }
}

/* Tasks 7 and 8: moves, gets, drops and gives (an action kind drawn as in
 * the official generator: get/drop twice as often as give or move). The
 * first question after the second statement once someone has handled an
 * object, then one every two statements, 5 in all; the supporting facts
 * are all the object lines of the person asked about. In task 8 nobody
 * holds more than two objects (the official answers list one or two). */
static void gen_carrying(bg_out *o, bg_rng *r, int list)
{
    bg_world w;
    w_init(&w, bg_people);
    if (list)
        w.max_held = 2;
    /* everyone and everything starts in the place the official generator's
     * world file (world_basic.txt) gives it, untold: Mary in the bedroom,
     * John in the kitchen, Daniel in the hallway, Sandra in the garden; the
     * football in the garden, the apple and the milk in the kitchen. One
     * gets an object only where it is and gives only to someone in the same
     * place, so who can act is decided by the (hidden) world, as there. */
    static const int start_loc[W_NP] = {4, 2, 1, 5}, start_oloc[W_NO] = {5, 2, 2};
    memcpy(w.loc, start_loc, sizeof start_loc);
    memcpy(w.oloc, start_oloc, sizeof start_oloc);
    int i = 0, first = -1;
    while ((first < 0 || i - first < 8) && !bg_full(o) && o->line < 500) {
        for (;;) {
            int kind = bg_int(r, 4);
            if (kind == 2) {
                w_move(&w, o, r, 0);
                break;
            }
            if (w_object(&w, o, r, kind == 1 ? 1 << A_GIVE : 1 << A_GET | 1 << A_DROP))
                break;
        }
        i++;
        int nk = 0, c[W_NP];
        for (int p = 0; p < W_NP; p++)
            if (w.known_actor[p])
                c[nk++] = p;
        if (!((first < 0 && i > 1 && nk > 0) || (first >= 0 && (i - first) % 2 == 0)))
            continue;
        if (first < 0)
            first = i;
        int p = c[bg_int(r, nk)];
        char text[96], answer[64] = "";
        if (list) {
            /* the held objects as a set: in one fixed order (alphabetical,
             * apple football milk, the order the official generator's world
             * creates them in and lists them by), not the order of getting */
            static const int by_name[W_NO] = {1, 0, 2};
            snprintf(text, sizeof text, "What is %s carrying?", bg_people[p]);
            for (int i = 0; i < W_NO; i++)
                for (int j = 0; j < w.nheld[p]; j++)
                    if (w.held[p][j] == by_name[i])
                        snprintf(answer + strlen(answer), sizeof answer - strlen(answer), "%s%s",
                                 answer[0] ? "," : "", bg_objects[by_name[i]]);
            if (!w.nheld[p])
                snprintf(answer, sizeof answer, "nothing");
        } else {
            snprintf(text, sizeof text, "How many objects is %s carrying?", bg_people[p]);
            snprintf(answer, sizeof answer, "%s", bg_numbers[w.nheld[p]]);
        }
        bg_question(o, text, answer, w.hist[p], w.nhist[p]);
    }
}

/* ------------------------------------------------------------------ */
/* Tasks 9 and 10: what is told of each person (a place, a place they are
 * not in, or two places they may be in), two statements then a question. */

typedef struct {
    int kind; /* 0 nothing, 1 in, 2 not in, 3 either */
    int a, b, line;
} bg_belief;

static void gen_negation(bg_out *o, bg_rng *r, int indefinite)
{
    const char *const *names = indefinite ? bg_people3 : bg_people;
    const char *const *places = indefinite ? bg_places3 : bg_places;
    bg_belief bel[4] = {{0}};
    for (int q = 0; q < 5 && !bg_full(o); q++) {
        for (int i = 0; i < 2; i++) {
            int p = bg_int(r, 4), u = bg_int(r, 100), l = bg_int(r, 6);
            bg_belief *b = &bel[p];
            if (b->kind == 1)
                while (l == b->a)
                    l = bg_int(r, 6);
            if (u < 50) {
                b->line = bg_stmt(o, "%s %s the %s.", names[p], PICK(r, bg_move_verbs), places[l]);
                b->kind = 1, b->a = l;
            } else if (u < (indefinite ? 60 : 65)) {
                b->line = bg_stmt(o, "%s is in the %s.", names[p], places[l]);
                b->kind = 1, b->a = l;
            } else if (indefinite) {
                int m = bg_int(r, 6);
                while (m == l)
                    m = bg_int(r, 6);
                b->line = bg_stmt(o, "%s is either in the %s or the %s.", names[p], places[l], places[m]);
                b->kind = 3, b->a = l, b->b = m;
            } else {
                if (b->kind == 1 && bg_int(r, 2))
                    l = b->a, b->line = bg_stmt(o, "%s is no longer in the %s.", names[p], places[l]);
                else
                    b->line = bg_stmt(o, "%s is not in the %s.", names[p], places[l]);
                b->kind = 2, b->a = l;
            }
        }
        int c[4], n = 0;
        for (int p = 0; p < 4; p++)
            if (bel[p].kind)
                c[n++] = p;
        int p = c[bg_int(r, n)], l = bel[p].a;
        const char *answer = "no";
        bg_belief *b = &bel[p];
        if (b->kind == 1) {
            /* "yes" often enough that yes and no come out about even */
            if (bg_int(r, 100) < (indefinite ? 60 : 77))
                answer = "yes";
            else
                while (l == b->a)
                    l = bg_int(r, 6);
        } else if (b->kind == 3) {
            if (bg_int(r, 3)) {
                answer = "maybe";
                l = bg_int(r, 2) ? b->a : b->b;
            } else
                while (l == b->a || l == b->b)
                    l = bg_int(r, 6);
        }
        char text[96];
        snprintf(text, sizeof text, "Is %s in the %s?", names[p], places[l]);
        bg_question(o, text, answer, &b->line, 1);
    }
}

/* Tasks 11 and 13: a move by one person (11) or two (13), then a move told
 * with a pronoun ("After that she ...", "Then they ..."), then where one
 * of them is; 5 times. The supporting fact is the pronoun line. */
static void gen_coref(bg_out *o, bg_rng *r, int compound)
{
    static const char *const pron[4] = {"she", "he", "he", "she"}; /* Mary John Daniel Sandra */
    for (int q = 0; q < 5 && !bg_full(o); q++) {
        int p = bg_int(r, 4), p2 = p, a = bg_int(r, 6), b = bg_int(r, 6);
        while (b == a)
            b = bg_int(r, 6);
        if (compound) {
            while (p2 == p)
                p2 = bg_int(r, 4);
            bg_stmt(o, "%s and %s %s the %s.", bg_people[p], bg_people[p2], PICK(r, bg_move_verbs), bg_places[a]);
        } else
            bg_stmt(o, "%s %s the %s.", bg_people[p], PICK(r, bg_move_verbs), bg_places[a]);
        int line = bg_stmt(o, "%s %s %s the %s.", PICK(r, bg_connectives), compound ? "they" : pron[p],
                           PICK(r, bg_move_verbs), bg_places[b]);
        char text[64];
        snprintf(text, sizeof text, "Where is %s?", bg_people[bg_int(r, 2) ? p : p2]);
        bg_question(o, text, bg_places[b], &line, 1);
    }
}

/* Task 12: two moves of two people each, then where one located person is. */
static void gen_conjunction(bg_out *o, bg_rng *r)
{
    bg_world w;
    w_init(&w, bg_people);
    for (int q = 0; q < 5 && !bg_full(o); q++) {
        for (int i = 0; i < 2; i++) {
            int p = bg_int(r, 4), p2 = p, l = bg_int(r, 6);
            while (p2 == p)
                p2 = bg_int(r, 4);
            int line = bg_stmt(o, "%s and %s %s the %s.", bg_people[p], bg_people[p2], PICK(r, bg_move_verbs),
                               bg_places[l]);
            w.loc[p] = w.loc[p2] = l;
            w.locline[p] = w.locline[p2] = line;
        }
        int p = w_located(&w, r);
        char text[64];
        snprintf(text, sizeof text, "Where is %s?", bg_people[p]);
        bg_question(o, text, bg_places[w.loc[p]], &w.locline[p], 1);
    }
}

/* Task 14: moves at four times of day, told out of order; "Where was P
 * before the L?" asks the place of P's previous told time. Statements
 * 1-4 give one person two times; then a question every third line. */
static void gen_time(bg_out *o, bg_rng *r)
{
    static const char *const cap[4] = {"Yesterday", "This morning", "This afternoon", "This evening"};
    int mv[4][4] = {{0}}, ml[4][4];
    int lead = bg_int(r, 4), i1 = bg_int(r, 4), i2 = bg_int(r, 4);
    while (i2 == i1)
        i2 = bg_int(r, 4);
    for (int i = 1; i <= 17 && !bg_full(o); i++) {
        if (i > 2 && (i - 2) % 3 == 0) {
            int p, t[4], n;
            do {
                p = bg_int(r, 4);
                n = 0;
                for (int k = 0; k < 4; k++)
                    if (mv[p][k])
                        t[n++] = k;
            } while (n < 2);
            int j = bg_int(r, n - 1), sup[2] = {mv[p][t[j]], mv[p][t[j + 1]]};
            char text[96];
            snprintf(text, sizeof text, "Where was %s before the %s?", bg_people3[p], bg_places3[ml[p][t[j + 1]]]);
            bg_question(o, text, bg_places3[ml[p][t[j]]], sup, 2);
            continue;
        }
        int forced = i - 1 == i1 || i - 1 == i2, p, t, l, visited;
        do {
            /* statements 1-4: the lead person twice, the others otherwise */
            p = forced ? lead : bg_int(r, 4);
            t = bg_int(r, 4);
            l = bg_int(r, 6);
            visited = i <= 4 && !forced && p == lead;
            for (int k = 0; k < 4; k++)
                visited |= mv[p][k] && ml[p][k] == l;
        } while (mv[p][t] || visited);
        const char *verb = PICK(r, bg_move_verbs);
        if (bg_int(r, 2))
            mv[p][t] = bg_stmt(o, "%s %s %s the %s.", cap[t], bg_people3[p], verb, bg_places3[l]);
        else
            mv[p][t] = bg_stmt(o, "%s %s the %s %s.", bg_people3[p], verb, bg_places3[l], bg_times[t]);
        ml[p][t] = l;
    }
}

/* Task 15: four "Cats are afraid of wolves." rules and four "Emily is a
 * cat." facts, shuffled; then what each of the four is afraid of. */
static void gen_deduction(bg_out *o, bg_rng *r)
{
    static const char *const sg[4] = {"mouse", "sheep", "wolf", "cat"};
    static const char *const pl[4] = {"Mice", "Sheep", "Wolves", "Cats"};
    static const char *const pl_lc[4] = {"mice", "sheep", "wolves", "cats"};
    static const char *const names[4] = {"Gertrude", "Winona", "Jessica", "Emily"};
    static const char *const names_lc[4] = {"gertrude", "winona", "jessica", "emily"};
    int fear[4], kind[4], order[8], rule_line[4], isa_line[4];
    for (int a = 0; a < 4; a++) {
        do
            fear[a] = bg_int(r, 4);
        while (fear[a] == a);
        kind[a] = bg_int(r, 4);
    }
    for (int i = 0; i < 8; i++)
        order[i] = i;
    for (int i = 7; i > 0; i--) {
        int j = bg_int(r, i + 1), t = order[i];
        order[i] = order[j], order[j] = t;
    }
    for (int i = 0; i < 8; i++) {
        int k = order[i];
        if (k < 4)
            rule_line[k] = bg_stmt(o, "%s are afraid of %s.", pl[k], pl_lc[fear[k]]);
        else
            isa_line[k - 4] = bg_stmt(o, "%s is a %s.", names[k - 4], sg[kind[k - 4]]);
    }
    int ask[4] = {0, 1, 2, 3};
    for (int i = 3; i > 0; i--) {
        int j = bg_int(r, i + 1), t = ask[i];
        ask[i] = ask[j], ask[j] = t;
    }
    for (int i = 0; i < 4 && !bg_full(o); i++) {
        int n = ask[i], sup[2] = {isa_line[n], rule_line[kind[n]]};
        char text[64];
        snprintf(text, sizeof text, "What is %s afraid of?", names_lc[n]);
        bg_question(o, text, sg[fear[kind[n]]], sup, 2);
    }
}

/* Task 16: five named animals of four species; each species one colour
 * (two species may share one). Every animal's "X is a S." comes before
 * its "X is C.", the five animals' pairs interleaved at random (as in the
 * official data: no colour precedes its animal's species); the asked
 * animal's colour is left out, and another of its species is told. */
static void gen_induction(bg_out *o, bg_rng *r)
{
    static const char *const species[4] = {"swan", "lion", "frog", "rhino"};
    static const char *const colors[4] = {"gray", "white", "yellow", "green"};
    static const char *const names[5] = {"Lily", "Bernhard", "Greg", "Julius", "Brian"};
    int col[4], sp[5], line[10], left[5];
    for (int i = 0; i < 4; i++)
        col[i] = bg_int(r, 4);
    for (int a = 0; a < 5; a++)
        sp[a] = bg_int(r, 4);
    int q = bg_int(r, 5);
    for (;;) {
        int same = 0;
        for (int a = 0; a < 5; a++)
            same += a != q && sp[a] == sp[q];
        if (same)
            break;
        sp[q] = bg_int(r, 4);
    }
    /* left[a]: statements still to tell about animal a (its species, then its colour) */
    int total = 0;
    for (int a = 0; a < 5; a++)
        total += left[a] = a == q ? 1 : 2;
    for (; total > 0; total--) {
        int k = bg_int(r, total), a = 0;
        while (k >= left[a])
            k -= left[a++];
        if (left[a] == 2 || a == q)
            line[a] = bg_stmt(o, "%s is a %s.", names[a], species[sp[a]]);
        else
            line[5 + a] = bg_stmt(o, "%s is %s.", names[a], colors[col[sp[a]]]);
        left[a]--;
    }
    int sup[10], ns = 0;
    sup[ns++] = line[q];
    for (int a = 0; a < 5; a++)
        if (a != q && sp[a] == sp[q])
            sup[ns++] = line[a], sup[ns++] = line[5 + a];
    char text[64];
    snprintf(text, sizeof text, "What color is %s?", names[q]);
    bg_question(o, text, colors[col[sp[q]]], sup, ns);
}

/* Task 17: three shapes on a grid in a chain, two relation facts, eight
 * yes/no questions about the relation of two of them along one axis. */
static void gen_positional(bg_out *o, bg_rng *r)
{
    static const char *const shape[4] = {"square", "rectangle", "triangle", "sphere"};
    static const char *const color[4] = {"red", "blue", "pink", "yellow"};
    /* relation words, indexed like the directions n s e w: above below right left */
    static const char *const rel[4] = {"above", "below", "to the right of", "to the left of"};
    int sh[3], co[3], x[3], y[3];
    for (int i = 0; i < 3; i++) {
        for (;;) {
            sh[i] = bg_int(r, 4);
            co[i] = bg_int(r, 5) - 1; /* -1: no colour */
            int bad = 0;
            for (int j = 0; j < i; j++)
                bad |= sh[j] == sh[i] && (co[j] == co[i] || co[j] < 0 || co[i] < 0);
            if (!bad)
                break;
        }
    }
    char nm[3][40];
    for (int i = 0; i < 3; i++)
        snprintf(nm[i], sizeof nm[i], "%s%s%s", co[i] >= 0 ? color[co[i]] : "", co[i] >= 0 ? " " : "", shape[sh[i]]);
    x[0] = y[0] = 0;
    for (int i = 1; i < 3; i++)
        for (;;) {
            int d = bg_int(r, 4);
            x[i] = x[i - 1] + dir_dx[d];
            y[i] = y[i - 1] + dir_dy[d];
            if (!(x[i] == x[0] && y[i] == y[0]))
                break;
        }
    for (int i = 1; i < 3; i++) {
        int a = i, b = i - 1;
        if (bg_int(r, 2))
            a = i - 1, b = i;
        int dx = x[a] - x[b], dy = y[a] - y[b];
        int d = dy > 0 ? 0 : dy < 0 ? 1 : dx > 0 ? 2 : 3;
        bg_stmt(o, "The %s is %s the %s.", nm[a], rel[d], nm[b]);
    }
    int sup[2] = {1, 2};
    for (int k = 0; k < 8 && !bg_full(o); k++) {
        int a = bg_int(r, 3), b = bg_int(r, 3);
        while (b == a)
            b = bg_int(r, 3);
        int dx = x[a] - x[b], dy = y[a] - y[b], axis;
        if (dx && dy)
            axis = bg_int(r, 2);
        else
            axis = dx ? 1 : 0; /* 0: vertical, 1: horizontal */
        int d = axis == 0 ? (dy > 0 ? 0 : 1) : (dx > 0 ? 2 : 3), yes = bg_int(r, 2);
        if (!yes)
            d = dir_opp(d);
        char text[160];
        snprintf(text, sizeof text, "Is the %s %s the %s?", nm[a], rel[d], nm[b]);
        bg_question(o, text, yes ? "yes" : "no", sup, 2);
    }
}

/* Task 18: six objects of fixed sizes, biggest first (every comparison
 * in the official data's stories agrees with one such order); five facts
 * about random pairs, "The A fits inside the B." or "The B is bigger than
 * the A.", a pair may be told twice; two questions about different pairs
 * joined by a chain of two facts (a direct fact may also relate them), or
 * one question when the chains join only one pair. */
static const char *const bg_sized[6] = {"box", "suitcase", "chest", "container", "box of chocolates", "chocolate"};

static void gen_size(bg_out *o, bg_rng *r)
{
    int fa[5], fb[5], line[5], chain[60][3], nc;
    do {
        for (int i = 0; i < 5; i++) {
            fa[i] = bg_int(r, 6); /* the bigger one */
            do
                fb[i] = bg_int(r, 6);
            while (fb[i] == fa[i]);
            if (fa[i] > fb[i]) {
                int t = fa[i];
                fa[i] = fb[i], fb[i] = t;
            }
        }
        nc = 0; /* fact i says x > m, fact j says m > y */
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 5; j++)
                if (fb[i] == fa[j])
                    chain[nc][0] = i, chain[nc][1] = j, chain[nc++][2] = 0;
    } while (nc == 0);
    for (int i = 0; i < 5; i++) {
        const char *big = bg_sized[fa[i]], *small = bg_sized[fb[i]];
        if (bg_int(r, 2))
            line[i] = bg_stmt(o, "The %s is bigger than the %s.", big, small);
        else
            line[i] = bg_stmt(o, "The %s fits inside the %s.", small, big);
    }
    static const char *const yn[2] = {"no", "yes"};
    /* the second question asks another pair: two chains (a fact told twice,
     * two middle objects) may join the same two objects */
    int first = -1, other[60], n_other = 0;
    for (int k = 0; k < 2 && !bg_full(o); k++) {
        int j;
        if (k == 0) {
            j = first = bg_int(r, nc);
            for (int c = 0; c < nc; c++)
                if (fa[chain[c][0]] != fa[chain[first][0]] || fb[chain[c][1]] != fb[chain[first][1]])
                    other[n_other++] = c;
        } else if (n_other) {
            j = other[bg_int(r, n_other)];
        } else {
            break; /* every chain joins the same pair: one question */
        }
        int f1 = chain[j][0], f2 = chain[j][1];
        const char *big = bg_sized[fa[f1]], *small = bg_sized[fb[f2]];
        int form = bg_int(r, 4), sup[2] = {line[f1], line[f2]};
        char text[160];
        switch (form) {
        case 0:
            snprintf(text, sizeof text, "Is the %s bigger than the %s?", big, small);
            break;
        case 1:
            snprintf(text, sizeof text, "Is the %s bigger than the %s?", small, big);
            break;
        case 2:
            snprintf(text, sizeof text, "Does the %s fit in the %s?", small, big);
            break;
        default:
            snprintf(text, sizeof text, "Does the %s fit in the %s?", big, small);
            break;
        }
        bg_question(o, text, yn[form == 0 || form == 2], sup, 2);
    }
}

/* Task 19: the six rooms on a grid as a tree: a two-step path and three
 * decoy rooms, five "The A is north of the B." facts shuffled; "How do
 * you go from the A to the B?" answered "n,e". */
static void gen_path(bg_out *o, bg_rng *r)
{
    int room[6] = {0, 1, 2, 3, 4, 5}, x[6], y[6], par[6], pd[6];
    for (int i = 5; i > 0; i--) {
        int j = bg_int(r, i + 1), t = room[i];
        room[i] = room[j], room[j] = t;
    }
    x[0] = y[0] = 0;
    par[0] = -1;
    int d1 = bg_int(r, 4), d2 = bg_int(r, 4);
    while (d2 == dir_opp(d1))
        d2 = bg_int(r, 4);
    x[1] = dir_dx[d1], y[1] = dir_dy[d1], par[1] = 0, pd[1] = d1;
    x[2] = x[1] + dir_dx[d2], y[2] = y[1] + dir_dy[d2], par[2] = 1, pd[2] = d2;
    /* the other corner of an L-shaped path would give a second way */
    int cx = dir_dx[d2], cy = dir_dy[d2];
    for (int i = 3; i < 6; i++)
        for (;;) {
            int p = bg_int(r, i), d = bg_int(r, 4), nx = x[p] + dir_dx[d], ny = y[p] + dir_dy[d], bad = 0;
            for (int j = 0; j < i; j++)
                bad |= x[j] == nx && y[j] == ny;
            bad |= d1 != d2 && nx == cx && ny == cy;
            if (bad)
                continue;
            x[i] = nx, y[i] = ny, par[i] = p, pd[i] = d;
            break;
        }
    int order[5] = {1, 2, 3, 4, 5}, line[6];
    for (int i = 4; i > 0; i--) {
        int j = bg_int(r, i + 1), t = order[i];
        order[i] = order[j], order[j] = t;
    }
    for (int k = 0; k < 5; k++) {
        int i = order[k], p = par[i];
        if (bg_int(r, 2))
            line[i] = bg_stmt(o, "The %s is %s of the %s.", bg_places[room[i]], dir_word[pd[i]], bg_places[room[p]]);
        else
            line[i] =
                bg_stmt(o, "The %s is %s of the %s.", bg_places[room[p]], dir_word[dir_opp(pd[i])], bg_places[room[i]]);
    }
    char text[96], answer[8];
    snprintf(text, sizeof text, "How do you go from the %s to the %s?", bg_places[room[0]], bg_places[room[2]]);
    snprintf(answer, sizeof answer, "%s,%s", dir_letter[d1], dir_letter[d2]);
    int sup[2] = {line[1], line[2]};
    bg_question(o, text, answer, sup, 2);
}

/* Task 20: four people, each with a distinct motivation; each in turn is
 * said to be hungry/thirsty/tired/bored, goes where that leads and gets
 * the object it wants, each statement followed by a question about it. */
static void gen_motivations(bg_out *o, bg_rng *r)
{
    static const char *const names[4] = {"Sumit", "Yann", "Antoine", "Jason"};
    static const char *const names_lc[4] = {"sumit", "yann", "antoine", "jason"};
    static const char *const mot[4] = {"hungry", "thirsty", "tired", "bored"};
    static const int dest[4] = {2, 2, 4, 5}; /* kitchen kitchen bedroom garden */
    static const char *const want[4] = {"apple", "milk", "pajamas", "football"};
    int m[4] = {0, 1, 2, 3}, count[4] = {0}, state_line[4] = {0};
    for (int i = 3; i > 0; i--) {
        int j = bg_int(r, i + 1), t = m[i];
        m[i] = m[j], m[j] = t;
    }
    for (int it = 0; it < 12 && !bg_full(o); it++) {
        int p;
        do
            p = bg_int(r, 4);
        while (count[p] >= 3);
        char text[96];
        const char *answer;
        if (count[p] == 0) {
            state_line[p] = bg_stmt(o, "%s is %s.", names[p], mot[m[p]]);
            snprintf(text, sizeof text, "Where will %s go?", names_lc[p]);
            answer = bg_places[dest[m[p]]];
        } else if (count[p] == 1) {
            bg_stmt(o, "%s %s the %s.", names[p], PICK(r, bg_move_verbs), bg_places[dest[m[p]]]);
            snprintf(text, sizeof text, "Why did %s go to the %s?", names_lc[p], bg_places[dest[m[p]]]);
            answer = mot[m[p]];
        } else {
            bg_stmt(o, "%s %s the %s there.", names[p], PICK(r, bg_get_verbs), want[m[p]]);
            snprintf(text, sizeof text, "Why did %s get the %s?", names_lc[p], want[m[p]]);
            answer = mot[m[p]];
        }
        count[p]++;
        bg_question(o, text, answer, &state_line[p], 1);
    }
}

void bg_gen_story(int task, bg_out *o, bg_rng *r)
{
    switch (task) {
    case 1: gen_single(o, r); break;
    case 2: gen_objects(o, r, 0); break;
    case 3: gen_objects(o, r, 1); break;
    case 4: gen_two_arg(o, r); break;
    case 5: gen_three_arg(o, r); break;
    case 6: gen_yes_no(o, r); break;
    case 7: gen_carrying(o, r, 0); break;
    case 8: gen_carrying(o, r, 1); break;
    case 9: gen_negation(o, r, 0); break;
    case 10: gen_negation(o, r, 1); break;
    case 11: gen_coref(o, r, 0); break;
    case 12: gen_conjunction(o, r); break;
    case 13: gen_coref(o, r, 1); break;
    case 14: gen_time(o, r); break;
    case 15: gen_deduction(o, r); break;
    case 16: gen_induction(o, r); break;
    case 17: gen_positional(o, r); break;
    case 18: gen_size(o, r); break;
    case 19: gen_path(o, r); break;
    default: gen_motivations(o, r); break;
    }
}
