/* Read positions across agent restarts: the log sensor's positions and the
 * journal's cursor, written atomically (0600) to the state directory after
 * each spool flush and handed back to the sensors at start. */
#include <stdlib.h>
#include <string.h>

#include "agent/agent_internal.h"

static int read_saved(const char *path, hae_buf *out, bool *found, hae_err *err) {
    hae_err why = {0};
    int rc = hae_file_read_all(path, out, &why);
    *found = rc == HAE_OK;
    if (rc == HAE_ENOENT) return HAE_OK; /* first run: follow from the end */
    if (rc < 0) *err = why;
    return rc;
}

static int resume_logs(read_positions *p, const hae_sink *sink, hae_err *err) {
    bool found;
    int rc = read_saved(p->logs_path, &p->logs_saved, &found, err);
    if (rc == HAE_OK && found) {
        rc = log_tail_resume(p->logs, p->logs_saved.data, p->logs_saved.len, sink, err);
    }
    /* read now: no inotify event comes for what is there already */
    return rc == HAE_OK ? log_tail_read(p->logs, sink, err) : rc;
}

static int resume_journal(read_positions *p, const hae_sink *sink, hae_err *err) {
    hae_buf saved = {0};
    bool found;
    int rc = read_saved(p->cursor_path, &saved, &found, err);
    if (rc == HAE_OK && found) {
        p->cursor_saved = strndup(saved.data, saved.len);
        if (!p->cursor_saved) rc = hae_err_set(err, HAE_ENOMEM, "agent: out of memory");
        if (rc == HAE_OK) rc = log_journal_resume(p->journal, p->cursor_saved, sink, err);
    }
    hae_buf_free(&saved);
    return rc == HAE_OK && found ? log_journal_read(p->journal, sink, err) : rc;
}

int read_positions_resume(read_positions *p, const agent_config *cfg, log_tail *logs,
                          log_journal *journal, const hae_sink *sink, hae_err *err) {
    p->logs = logs;
    p->journal = journal;
    int rc = HAE_OK;
    if (logs) {
        rc = agent_state_path(cfg, "log-positions", &p->logs_path, err);
        if (rc == HAE_OK) rc = resume_logs(p, sink, err);
    }
    if (rc == HAE_OK && journal) {
        rc = agent_state_path(cfg, "journal-cursor", &p->cursor_path, err);
        if (rc == HAE_OK) rc = resume_journal(p, sink, err);
    }
    return rc;
}

static int save_logs(read_positions *p, hae_err *err) {
    int rc = log_tail_positions(p->logs, &p->logs_now);
    if (rc < 0) return hae_err_set(err, rc, "agent: out of memory for log positions");
    if (p->logs_now.len == p->logs_saved.len &&
        (p->logs_now.len == 0 || memcmp(p->logs_now.data, p->logs_saved.data, p->logs_now.len) == 0)) {
        return HAE_OK;
    }
    rc = hae_file_write_atomic(p->logs_path, p->logs_now.data, p->logs_now.len, 0600, err);
    hae_buf swap = p->logs_saved;
    p->logs_saved = p->logs_now;
    p->logs_now = swap;
    return rc;
}

static int save_cursor(read_positions *p, hae_err *err) {
    const char *cursor = log_journal_cursor(p->journal);
    if (!cursor || (p->cursor_saved && strcmp(cursor, p->cursor_saved) == 0)) return HAE_OK;
    char *copy = strdup(cursor);
    if (!copy) return hae_err_set(err, HAE_ENOMEM, "agent: out of memory");
    int rc = hae_file_write_atomic(p->cursor_path, copy, strlen(copy), 0600, err);
    free(p->cursor_saved);
    p->cursor_saved = copy;
    return rc;
}

int read_positions_save(read_positions *p, hae_err *err) {
    int rc = p->logs_path ? save_logs(p, err) : HAE_OK;
    return rc == HAE_OK && p->cursor_path ? save_cursor(p, err) : rc;
}

void read_positions_free(read_positions *p) {
    free(p->logs_path);
    free(p->cursor_path);
    hae_buf_free(&p->logs_saved);
    hae_buf_free(&p->logs_now);
    free(p->cursor_saved);
    *p = (read_positions){0};
}
