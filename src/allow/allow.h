/* allow: allowlists, data saying which findings a known, benign program
 * causes, so they stop costing an analyst's attention without disappearing.
 * Files are YAML sequences (rules/allow/NAME.yml) of entries:
 *
 *   - rule: proc.memfd_exe          the finding's rule; "proc.*" for a family
 *     reason: runc re-executes ...  required: why this is benign
 *     copy_of: [/usr/sbin/runc]     ImageSha256 is the SHA-256 of one of these files
 *     sha256: [<64 hex>]            ImageSha256 (or Sha256, NewSha256) is one of these
 *     image: [/usr/sbin/foo]        Image is exactly one of these paths
 *
 * An entry needs at least one of copy_of, sha256 and image: a rule alone
 * would silence every program. Programs are recognised by content where
 * the finding carries it. Nothing allowed is dropped silently: each entry
 * counts its hits, and allowlist_report turns the counts into one
 * informational agent.allowlisted finding per entry. */
#ifndef HAETAE_ALLOW_H
#define HAETAE_ALLOW_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

typedef struct allowlist allowlist;

/* Loads files, or every *.yml / *.yaml in directories, in name order. Bad
 * input is HAE_EINVAL naming the file, line and field; nothing is loaded. */
int allowlist_load(allowlist **out, const char *const *paths, size_t count,
                   hae_err *err) HAE_MUST_USE;
/* Parses one file's text (name labels errors) into a; for tests and fuzzing. */
int allowlist_add_text(allowlist *a, const char *name, const char *text, size_t len,
                       hae_err *err) HAE_MUST_USE;
int allowlist_new(allowlist **out, hae_err *err) HAE_MUST_USE;
void allowlist_free(allowlist *a);
size_t allowlist_entry_count(const allowlist *a);

/* The reason of the first entry that allows ev, counting the hit; NULL when
 * none does. */
const char *allowlist_check(allowlist *a, const hae_event *ev);

/* A sink forwarding to next every event no entry allows. */
typedef struct allow_filter {
    allowlist *list;
    const hae_sink *next;
} allow_filter;
hae_sink allow_filter_sink(allow_filter *f);

/* One agent.allowlisted finding (count, reason, file and line) per entry
 * hit since the last report; the counts then restart. */
int allowlist_report(allowlist *a, const hae_sink *sink, hae_err *err) HAE_MUST_USE;

#endif
