/* Pieces shared by the agent's run modes. Private to src/agent. */
#ifndef HAETAE_AGENT_INTERNAL_H
#define HAETAE_AGENT_INTERNAL_H

#include "agent/agent.h"
#include "allow/allow.h"
#include "sensor/sensor.h"

int agent_report_unavailable(const hae_sink *sink, const char *sensor, const hae_err *why,
                             hae_err *err);
/* fim_options over fim_roots + web_roots; *roots is malloc'd, caller frees. */
int agent_fim_options(const agent_config *cfg, fim_options *opt, const char ***roots);
/* The allowlists of cfg (NULL *out when none are configured). */
int agent_load_allowlist(const agent_config *cfg, allowlist **out, hae_err *err) HAE_MUST_USE;
/* state_dir/name (state_dir created if absent); *out malloc'd. */
int agent_state_path(const agent_config *cfg, const char *name, char **out, hae_err *err);

/* Periodic scans report a standing condition (a listening port, a
 * masquerading process) once, not every interval: a finding passes when
 * its content was not seen in the previous scan. */
typedef struct finding_memory {
    uint64_t *previous;  /* sorted content hashes of the last scan */
    size_t previous_count;
    uint64_t *current;
    size_t current_count;
    size_t current_cap;
} finding_memory;

uint64_t agent_finding_hash(const hae_event *ev);
/* A sink that forwards to next only findings new since the last scan. */
typedef struct finding_filter {
    finding_memory *memory;
    const hae_sink *next;
} finding_filter;
hae_sink finding_filter_sink(finding_filter *f);
int finding_memory_end_scan(finding_memory *m); /* current becomes previous */
void finding_memory_free(finding_memory *m);

/* Where the log files and the journal were read up to, kept in the state
 * directory (log-positions, journal-cursor) so a restarted agent reads
 * what was written while it was down. */
typedef struct read_positions {
    log_tail *logs;          /* borrowed; NULL when no files are followed */
    log_journal *journal;    /* borrowed; NULL when journald is not read */
    char *logs_path;
    char *cursor_path;
    hae_buf logs_saved;      /* as last written, to skip unchanged saves */
    hae_buf logs_now;
    char *cursor_saved;
} read_positions;

/* Resumes logs and journal from the saved positions, reports what cannot be
 * read back on sink, and reads what is there already. */
int read_positions_resume(read_positions *p, const agent_config *cfg, log_tail *logs,
                          log_journal *journal, const hae_sink *sink, hae_err *err) HAE_MUST_USE;
int read_positions_save(read_positions *p, hae_err *err) HAE_MUST_USE;
void read_positions_free(read_positions *p);

#endif
