/* The candidate patterns Hyperscan looks for. They are deliberately loose:
 * the C validators decide. Each digit pattern starts with a boundary
 * (start of buffer or a non-digit) so that Hyperscan does not report every
 * position inside a long run of digits; the trailing boundary, which
 * Hyperscan cannot express without look-ahead, is checked in C. */
#include <stdlib.h>

#include "scope/scope_int.h"

#define DB "(?:^|[^0-9])"          /* digit boundary before */
#define AB "(?:^|[^0-9A-Za-z])"    /* alphanumeric boundary before */
#define SOM HS_FLAG_SOM_LEFTMOST

const scope_pattern scope_patterns[] = {
    /* YYMMDD-SXXXXXX, hyphen optional */
    {DB "\\d{6}-?\\d{7}", SCOPE_RRN, SCOPE_BOUND_DIGIT, SOM},
    /* cards: 4-4-4-(1..7) with optional space or hyphen; Amex/Diners 4-6-5/4 */
    {DB "\\d{4}[ -]?\\d{4}[ -]?\\d{4}[ -]?\\d{1,7}", SCOPE_CARD, SCOPE_BOUND_DIGIT, SOM},
    {DB "3\\d{3}[ -]?\\d{6}[ -]?\\d{4,5}", SCOPE_CARD, SCOPE_BOUND_DIGIT, SOM},
    /* IMEI: 15 digits or AA-BBBBBB-CCCCCC-D; IMEISV 16 digits */
    {DB "\\d{15}", SCOPE_IMEI, SCOPE_BOUND_DIGIT, SOM},
    {DB "\\d{2}[- ]\\d{6}[- ]\\d{6}[- ]\\d", SCOPE_IMEI, SCOPE_BOUND_DIGIT, SOM},
    {DB "\\d{16}", SCOPE_IMEISV, SCOPE_BOUND_DIGIT, SOM},
    {DB "\\d{2}[- ]\\d{6}[- ]\\d{6}[- ]\\d{2}", SCOPE_IMEISV, SCOPE_BOUND_DIGIT, SOM},
    /* IMSI: MCC 2xx-7xx, 15 digits */
    {DB "[2-7]\\d{14}", SCOPE_IMSI, SCOPE_BOUND_DIGIT, SOM},
    /* ICCID: 89 + 17-18 digits */
    {DB "89\\d{17,18}", SCOPE_ICCID, SCOPE_BOUND_DIGIT, SOM},
    /* Korean phones: national and +82 forms */
    {DB "0(?:1[016789]|2|[3-6][1-5]|70)[-. )]{0,2}\\d{3,4}[-. ]?\\d{4}", SCOPE_PHONE,
     SCOPE_BOUND_DIGIT, SOM},
    {DB "\\+82[- ]?(?:\\(0\\))?0?(?:1[016789]|2|[3-6][1-5]|70)[-. ]?\\d{3,4}[-. ]?\\d{4}",
     SCOPE_PHONE, SCOPE_BOUND_DIGIT, SOM},
    /* e-mail: a trigger only; C extends it both ways to the whole address */
    {"[A-Za-z0-9._%+-]@[A-Za-z0-9-]+\\.[A-Za-z0-9]", SCOPE_EMAIL, SCOPE_BOUND_EMAIL, 0},
    /* Korean passports: M12345678 and M123A4567 */
    {AB "[MSRODG]\\d{3}[0-9A-Z]\\d{4}", SCOPE_PASSPORT, SCOPE_BOUND_ALNUM, SOM},
    /* bank accounts (kept only when labelled) */
    {DB "\\d{2,6}-\\d{2,6}-\\d{2,7}(?:-\\d{1,3})?", SCOPE_BANK_ACCOUNT, SCOPE_BOUND_DIGIT, SOM},
    {DB "\\d{10,14}", SCOPE_BANK_ACCOUNT, SCOPE_BOUND_DIGIT, SOM},
};
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
        flags[i] = scope_patterns[i].flags;
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
