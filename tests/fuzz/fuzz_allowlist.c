/* Fuzzes allowlist parsing (allow.c over yaml.c): any bytes either load or
 * are refused with a message naming the file, and a refused file leaves no
 * entry behind. */
#include <stdint.h>
#include <stdlib.h>

#include "allow/allow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    allowlist *a = NULL;
    hae_err err = {0};
    if (allowlist_new(&a, &err) != HAE_OK) abort();
    int rc = allowlist_add_text(a, "fuzz.yml", (const char *)data, size, &err);
    if (rc != HAE_OK && (err.msg[0] == '\0' || allowlist_entry_count(a) != 0)) abort();
    hae_event ev;
    if (hae_finding_init(&ev, "proc", "proc.memfd_exe", HAE_SEV_CRITICAL, "x") != HAE_OK) abort();
    if (hae_event_add_str(&ev, "Image", "/usr/bin/runc") != HAE_OK) abort();
    (void)allowlist_check(a, &ev);
    hae_event_clear(&ev);
    allowlist_free(a);
    return 0;
}
