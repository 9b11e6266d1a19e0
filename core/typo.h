/* typo.h - "did you mean" for mistyped names, one rule for the spec
 * parser's messages (libstrata) and the command line's (tools/): typo.c is
 * compiled into both, not exported (it is not part of the ABI). */
#ifndef STRATA_TYPO_H
#define STRATA_TYPO_H

/** The one of @p names (@p n of them; NULL entries skipped) closest to the mistyped @p typed, with
 *  leading dashes and an extension both end in left out, when close enough to be a likely typo:
 *  1 edit when the shorter of the two is under 6 characters, 2 from 6; under 3, only a swap of two
 *  neighbours ("rl" for "lr"). A name that differs only in case ("SGD", "AdamW") is closest whatever
 *  its length. Ties go to the first in byte order; else NULL. */
const char *st_typo_closest(const char *typed, const char *const *names, int n);

#endif
