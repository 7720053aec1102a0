/* The continuous agent: real-time sensors polled together, periodic scans,
 * everything into the spool. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_internal.h"

typedef struct agent_state {
    const agent_config *cfg;
    spool *spool;
    transport *transport;   /* NULL when not enrolled */
    hae_sink spool_out;
    hae_sink to_spool;      /* spool_out, plus YARA on changed files */
    hae_sink out;           /* to_spool, minus what the allowlists allow */
    allowlist *allow;
    allow_filter allowed;
    proc_watch *procs;
    fim_watch *files;
    log_tail *logs;
    log_journal *journal;
    yara_scanner *yara;
    finding_memory scans;
    int64_t next_scan_ns;
    int64_t last_flush_ns;
    bool read_failed[4];
    read_positions positions;
} agent_state;

static const char *const changed_actions[] = {"created", "modified", "renamed", "moved"};

static bool is_file_change(const hae_event *ev) {
    if (!ev->category || strcmp(ev->category, "file_event") != 0) return false;
    const char *action = hae_event_get_str(ev, "Action");
    for (size_t i = 0; action && i < sizeof changed_actions / sizeof *changed_actions; i++) {
        if (strcmp(action, changed_actions[i]) == 0) return true;
    }
    return false;
}

/* Every event goes to the spool; a new or changed file is also scanned
 * with YARA, so a dropped web shell is matched the moment it lands. */
static int agent_emit(void *ctx, const hae_event *ev, hae_err *err) {
    agent_state *a = ctx;
    int rc = hae_emit(&a->spool_out, ev, err);
    const char *path = hae_event_get_str(ev, "TargetFilename");
    if (rc == HAE_OK && a->yara && path && is_file_change(ev)) {
        rc = yara_scan_file(a->yara, path, &a->spool_out, err);
        if (rc != HAE_ENOMEM) rc = HAE_OK; /* the file may be gone already */
    }
    return rc;
}

static int emit_lifecycle(agent_state *a, const char *rule, const char *what, hae_err *err) {
    hae_event ev;
    int rc = hae_finding_init(&ev, "agent", rule, HAE_SEV_INFO, "haetae agent %s", what);
    if (rc == HAE_OK) rc = hae_event_add_str(&ev, "Version", HAETAE_VERSION);
    if (rc == HAE_OK) rc = hae_event_add_bool(&ev, "ProcWatch", a->procs != NULL);
    if (rc == HAE_OK) rc = hae_event_add_bool(&ev, "FileWatch", a->files != NULL);
    if (rc == HAE_OK) rc = hae_event_add_bool(&ev, "LogTail", a->logs != NULL);
    if (rc == HAE_OK) rc = hae_event_add_bool(&ev, "Journal", a->journal != NULL);
    if (rc == HAE_OK) rc = hae_event_add_bool(&ev, "Yara", a->yara != NULL);
    if (rc == HAE_OK) rc = hae_emit(&a->spool_out, &ev, err);
    hae_event_clear(&ev);
    return rc;
}

/* Opens what this host allows; each sensor that cannot start says why. */
static int open_sensors(agent_state *a, hae_err *err) {
    const agent_config *cfg = a->cfg;
    hae_err why = {0};
    int rc = HAE_OK;
    if (proc_watch_open(&a->procs, &why) < 0) rc = agent_report_unavailable(&a->out, "proc_watch", &why, err);
    fim_options opt;
    const char **roots = NULL;
    if (rc == HAE_OK && cfg->fim_root_count + cfg->web_root_count > 0) {
        if (agent_fim_options(cfg, &opt, &roots) < 0) return hae_err_set(err, HAE_ENOMEM, "out of memory");
        hae_err_clear(&why);
        if (fim_watch_open(&a->files, &opt, &a->out, &why) < 0) {
            rc = agent_report_unavailable(&a->out, "fim_watch", &why, err);
        }
        free(roots);
    }
    if (rc == HAE_OK && cfg->log_file_count > 0) {
        hae_err_clear(&why);
        if (log_tail_open(&a->logs, cfg->log_files, cfg->log_file_count, false, &why) < 0) {
            rc = agent_report_unavailable(&a->out, "log", &why, err);
        }
    }
    if (rc == HAE_OK && cfg->journal) {
        hae_err_clear(&why);
        if (log_journal_open(&a->journal, false, &why) < 0) {
            rc = agent_report_unavailable(&a->out, "journal", &why, err);
        }
    }
    if (rc == HAE_OK && cfg->yara_rule_count > 0) {
        hae_err_clear(&why);
        if (yara_scanner_open(&a->yara, cfg->yara_rules, cfg->yara_rule_count, &why) < 0) {
            rc = agent_report_unavailable(&a->out, "yara", &why, err);
        }
    }
    return rc;
}

static void close_sensors(agent_state *a) {
    proc_watch_close(a->procs);
    fim_watch_close(a->files);
    log_tail_close(a->logs);
    log_journal_close(a->journal);
    yara_scanner_close(a->yara);
    a->procs = NULL;
    a->files = NULL;
    a->logs = NULL;
    a->journal = NULL;
    a->yara = NULL;
}

static int periodic_scans(agent_state *a, hae_err *err) {
    finding_filter filter = {.memory = &a->scans, .next = &a->out};
    hae_sink only_new = finding_filter_sink(&filter);
    hae_err why = {0};
    int rc = sock_scan(&only_new, &why);
    if (rc < 0 && rc != HAE_ENOMEM) rc = agent_report_unavailable(&only_new, "sock", &why, err);
    if (rc == HAE_OK) {
        hae_err_clear(&why);
        rc = proc_scan(&only_new, &why);
        if (rc < 0 && rc != HAE_ENOMEM) rc = agent_report_unavailable(&only_new, "proc", &why, err);
    }
    if (rc == HAE_OK) rc = finding_memory_end_scan(&a->scans);
    if (rc == HAE_OK) rc = allowlist_report(a->allow, &a->spool_out, err);
    return rc == HAE_ENOMEM ? hae_err_set(err, rc, "agent: out of memory in periodic scan") : rc;
}

/* Drains whichever real-time sensors poll() said are readable. */
static int drain_ready(agent_state *a, const struct pollfd *fds, const int *kinds, nfds_t n,
                       hae_err *err) {
    int rc = HAE_OK;
    for (nfds_t i = 0; i < n && rc == HAE_OK; i++) {
        if (!fds[i].revents) continue;
        hae_err why = {0};
        switch (kinds[i]) {
        case 0: rc = proc_watch_read(a->procs, &a->out, &why); break;
        case 1: rc = fim_watch_read(a->files, &a->out, &why); break;
        case 2: rc = log_tail_read(a->logs, &a->out, &why); break;
        default: rc = log_journal_read(a->journal, &a->out, &why); break;
        }
        if (rc < 0 && rc != HAE_ENOMEM) {
            /* A sensor hiccup is reported once per kind, not fatal, and
             * not repeated on every wake-up. */
            static const char *const names[] = {"proc_watch", "fim_watch", "log", "journal"};
            rc = HAE_OK;
            if (!a->read_failed[kinds[i]]) {
                a->read_failed[kinds[i]] = true;
                rc = agent_report_unavailable(&a->out, names[kinds[i]], &why, err);
            }
        }
    }
    return rc;
}

static int64_t ms_to_ns(unsigned ms) { return (int64_t)ms * 1000000; }

/* Read positions are saved after the flush, so they never run ahead of
 * the events they cover. */
static int flush_spool(agent_state *a, hae_err *err) {
    int rc = spool_flush(a->spool, err);
    return rc == HAE_OK ? read_positions_save(&a->positions, err) : rc;
}

static int loop_once(agent_state *a, hae_err *err) {
    struct pollfd fds[4];
    int kinds[4];
    nfds_t n = 0;
    int fd;
    if (a->procs && (fd = proc_watch_fd(a->procs)) >= 0) { fds[n] = (struct pollfd){fd, POLLIN, 0}; kinds[n++] = 0; }
    if (a->files && (fd = fim_watch_fd(a->files)) >= 0) { fds[n] = (struct pollfd){fd, POLLIN, 0}; kinds[n++] = 1; }
    bool logs_polled = a->logs && log_tail_fd(a->logs) < 0;
    if (a->logs && !logs_polled) { fds[n] = (struct pollfd){log_tail_fd(a->logs), POLLIN, 0}; kinds[n++] = 2; }
    if (a->journal && (fd = log_journal_fd(a->journal)) >= 0) { fds[n] = (struct pollfd){fd, POLLIN, 0}; kinds[n++] = 3; }

    /* Wake at least once a second: the stop flag, flushes, periodic scans
     * and log files without inotify are checked then. */
    int ready = poll(fds, n, 1000);
    if (ready < 0 && errno != EINTR) return hae_err_errno(err, errno, "agent: poll");
    int rc = ready > 0 ? drain_ready(a, fds, kinds, n, err) : HAE_OK;
    if (rc == HAE_OK && logs_polled) rc = log_tail_read(a->logs, &a->out, err);
    int64_t now = hae_time_monotonic_ns();
    if (rc == HAE_OK && now >= a->next_scan_ns) {
        rc = periodic_scans(a, err);
        a->next_scan_ns = now + ms_to_ns((a->cfg->scan_interval_s ? a->cfg->scan_interval_s : 60) * 1000u);
    }
    unsigned flush_ms = a->cfg->flush_interval_ms ? a->cfg->flush_interval_ms : 1000;
    if (rc == HAE_OK && (ready > 0 || now - a->last_flush_ns >= ms_to_ns(flush_ms))) {
        rc = flush_spool(a, err);
        a->last_flush_ns = now;
        transport_notify(a->transport);
    }
    return rc;
}

/* Enrolled: the spool also goes to the server, from the transport's own
 * thread so that a slow or absent server never delays the sensors. */
static int start_transport(agent_state *a, hae_err *err) {
    if (!agent_is_enrolled(a->cfg->state_dir)) return HAE_OK;
    hae_err why = {0};
    if (transport_start(&a->transport, a->cfg->state_dir, a->spool, NULL, &why) < 0) {
        a->transport = NULL;
        return agent_report_unavailable(&a->spool_out, "transport", &why, err);
    }
    return HAE_OK;
}

int agent_run(const agent_config *cfg, volatile sig_atomic_t *stop, hae_err *err) {
    agent_state a = {.cfg = cfg};
    char *spool_dir = NULL;
    int rc = agent_state_path(cfg, "spool", &spool_dir, err);
    spool_options opt = {.max_bytes = cfg->spool_max_bytes};
    if (rc == HAE_OK) rc = spool_open(&a.spool, spool_dir, &opt, err);
    free(spool_dir);
    if (rc < 0) return rc;
    a.spool_out = spool_sink(a.spool);
    a.to_spool = (hae_sink){.emit = agent_emit, .ctx = &a};
    rc = agent_load_allowlist(cfg, &a.allow, err);
    a.allowed = (allow_filter){.list = a.allow, .next = &a.to_spool};
    a.out = a.allow ? allow_filter_sink(&a.allowed) : a.to_spool;
    if (rc == HAE_OK) rc = open_sensors(&a, err);
    if (rc == HAE_OK) rc = start_transport(&a, err);
    if (rc == HAE_OK) rc = emit_lifecycle(&a, "agent.started", "started", err);
    if (rc == HAE_OK) rc = read_positions_resume(&a.positions, cfg, a.logs, a.journal, &a.out, err);
    if (rc == HAE_OK) rc = flush_spool(&a, err);
    while (rc == HAE_OK && !*stop) {
        rc = loop_once(&a, err);
    }
    if (rc == HAE_OK) rc = allowlist_report(a.allow, &a.spool_out, err);
    if (rc == HAE_OK) rc = emit_lifecycle(&a, "agent.stopped", "stopped", err);
    if (rc == HAE_OK) rc = flush_spool(&a, err);
    close_sensors(&a);
    read_positions_free(&a.positions);
    allowlist_free(a.allow);
    transport_stop(a.transport);
    finding_memory_free(&a.scans);
    int close_rc = spool_close(a.spool, rc == HAE_OK ? err : NULL);
    return rc < 0 ? rc : close_rc;
}
