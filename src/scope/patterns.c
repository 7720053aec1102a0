/* The candidate patterns Hyperscan looks for. They are deliberately loose:
 * the C validators decide. Each digit pattern starts with a boundary
 * (start of buffer or a non-digit) so that Hyperscan does not report every
 * position inside a long run of digits; the trailing boundary, which
 * Hyperscan cannot express without look-ahead, is checked in C. */
#include <stdlib.h>

#include "scope/scope_int.h"

#define DB "(?:^|[^0-9])"          /* digit boundary before */
#define AB "(?:^|[^0-9A-Za-z])"    /* alphanumeric boundary before */
#define K(k) (1u << (k))

/* No pattern asks for its start of match: Hyperscan's SOM tracking costs
 * three times the scan. The C side finds the start by walking back from
 * the end over the candidate's alphabet (scan.c). */
const scope_pattern scope_patterns[] = {
    /* a plain run of 10-20 digits: the length decides which kinds to try.
     * It ends with the byte after the run (or the end of the buffer), so
     * that Hyperscan reports a run once, not at each of its 11 lengths. */
    {DB "\\d{10,20}(?:[^0-9]|\\z)", K(SCOPE_RRN) | K(SCOPE_CARD) | K(SCOPE_IMEI) | K(SCOPE_IMEISV) |
     K(SCOPE_IMSI) | K(SCOPE_ICCID) | K(SCOPE_PHONE) | K(SCOPE_BANK_ACCOUNT), SCOPE_BOUND_DIGIT_PAST},
    /* YYMMDD-SXXXXXX */
    {DB "\\d{6}-\\d{7}", K(SCOPE_RRN), SCOPE_BOUND_DIGIT},
    /* cards with separators: 4-4-4-(1..7); Amex/Diners 4-6-5/4 */
    {DB "\\d{4}[ -]\\d{4}[ -]\\d{4}[ -]\\d{1,7}", K(SCOPE_CARD), SCOPE_BOUND_DIGIT},
    {DB "3\\d{3}[ -]\\d{6}[ -]\\d{4,5}", K(SCOPE_CARD), SCOPE_BOUND_DIGIT},
    /* IMEI AA-BBBBBB-CCCCCC-D and IMEISV ...-SV */
    {DB "\\d{2}[- ]\\d{6}[- ]\\d{6}[- ]\\d{1,2}", K(SCOPE_IMEI) | K(SCOPE_IMEISV), SCOPE_BOUND_DIGIT},
    /* Korean phones with separators, and +82 forms */
    {DB "0(?:1[016789]|2|[3-6][1-5]|70)[-. )]{1,2}\\d{3,4}[-. ]?\\d{4}", K(SCOPE_PHONE),
     SCOPE_BOUND_DIGIT},
    {DB "0(?:1[016789]|2|[3-6][1-5]|70)\\d{3,4}[-. ]\\d{4}", K(SCOPE_PHONE), SCOPE_BOUND_DIGIT},
    {DB "\\+82[- ]?(?:\\(0\\))?0?(?:1[016789]|2|[3-6][1-5]|70)[-. ]?\\d{3,4}[-. ]?\\d{4}",
     K(SCOPE_PHONE), SCOPE_BOUND_DIGIT},
    /* e-mail: a trigger only, led by the literal '@' so that Hyperscan
     * can skip to it (a leading class of every letter and digit kept the
     * automaton awake on all text); C extends it both ways to the whole
     * address and requires a local part */
    {"@[A-Za-z0-9-]+\\.[A-Za-z0-9]", K(SCOPE_EMAIL), SCOPE_BOUND_EMAIL},
    /* Korean passports: M12345678 and M123A4567 */
    {AB "[MSRODG]\\d{3}[0-9A-Z]\\d{4}", K(SCOPE_PASSPORT), SCOPE_BOUND_ALNUM},
    /* bank accounts with hyphens (kept only when labelled) */
    {DB "\\d{2,6}-\\d{2,6}-\\d{2,7}(?:-\\d{1,3})?", K(SCOPE_BANK_ACCOUNT), SCOPE_BOUND_DIGIT},
};
#undef K
const size_t scope_pattern_count = sizeof scope_patterns / sizeof scope_patterns[0];

int scope_db_compile(hs_database_t **db, hae_err *err) {
    size_t n = scope_pattern_count + 1;
    const char **exprs = calloc(n, sizeof *exprs);
    unsigned *flags = calloc(n, sizeof *flags);
    unsigned *ids = calloc(n, sizeof *ids);
    if (!exprs || !flags || !ids) {
        free(exprs);
        free(flags);
        free(ids);
        return hae_err_set(err, HAE_ENOMEM, "out of memory compiling patterns");
    }
    for (size_t i = 0; i < scope_pattern_count; i++) {
        exprs[i] = scope_patterns[i].regex;
        flags[i] = 0;
        ids[i] = (unsigned)i;
    }
    /* SQL dumps: the schema names the columns of INSERTs that do not */
    exprs[n - 1] = "CREATE TABLE";
    flags[n - 1] = HS_FLAG_CASELESS;
    ids[n - 1] = SCOPE_PATTERN_CREATE_TABLE;
    hs_compile_error_t *cerr = NULL;
    hs_error_t rc = hs_compile_multi(exprs, flags, ids, (unsigned)n, HS_MODE_BLOCK, NULL, db, &cerr);
    int out = HAE_OK;
    if (rc != HS_SUCCESS) {
        out = hae_err_set(err, HAE_EINVAL, "hyperscan: pattern %d: %s", cerr ? cerr->expression : -1,
                          cerr ? cerr->message : "compile failed");
        hs_free_compile_error(cerr);
    }
    free(exprs);
    free(flags);
    free(ids);
    return out;
}
