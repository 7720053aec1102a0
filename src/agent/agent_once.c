/* "Check this host now": every sensor once, findings to a sink. */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/agent_internal.h"
#include "sensor/sensor.h"

int agent_report_unavailable(const hae_sink *sink, const char *sensor, const hae_err *why,
                             hae_err *err) {
    hae_event ev;
    int rc = hae_finding_init(&ev, "agent", "agent.sensor_unavailable", HAE_SEV_MEDIUM,
                              "sensor %s could not run: %s", sensor, why->msg);
    if (rc == HAE_OK) rc = hae_event_add_str(&ev, "Sensor", sensor);
    if (rc == HAE_OK) rc = hae_event_add_str(&ev, "Reason", hae_err_code_name(why->code));
    if (rc == HAE_OK) rc = hae_emit(sink, &ev, err);
    hae_event_clear(&ev);
    return rc;
}

/* A sensor failure is a finding, not the end of the run; a failing sink
 * (the output is gone) is. */
static int run_sensor(const char *name, int rc, const hae_err *sensor_err, const hae_sink *sink,
                      hae_err *err) {
    if (rc == HAE_OK) return HAE_OK;
    if (rc == HAE_ENOMEM) return hae_err_set(err, rc, "%s: %s", name, sensor_err->msg);
    return agent_report_unavailable(sink, name, sensor_err, err);
}

int agent_fim_options(const agent_config *cfg, fim_options *opt, const char ***roots) {
    size_t n = cfg->fim_root_count + cfg->web_root_count;
    *roots = calloc(n ? n : 1, sizeof **roots);
    if (!*roots) return HAE_ENOMEM;
    size_t count = 0;
    for (size_t i = 0; i < cfg->fim_root_count; i++) (*roots)[count++] = cfg->fim_roots[i];
    for (size_t i = 0; i < cfg->web_root_count; i++) (*roots)[count++] = cfg->web_roots[i];
    *opt = (fim_options){.roots = *roots, .root_count = count, .web_roots = cfg->web_roots,
                         .web_root_count = cfg->web_root_count};
    return HAE_OK;
}

int agent_load_allowlist(const agent_config *cfg, allowlist **out, hae_err *err) {
    *out = NULL;
    if (cfg->allow_path_count == 0) return HAE_OK;
    return allowlist_load(out, cfg->allow_paths, cfg->allow_path_count, err);
}

int agent_state_path(const agent_config *cfg, const char *name, char **out, hae_err *err) {
    if (mkdir(cfg->state_dir, 0700) != 0 && errno != EEXIST) {
        return hae_err_errno(err, errno, "state directory %s", cfg->state_dir);
    }
    if (asprintf(out, "%s/%s", cfg->state_dir, name) < 0) {
        return hae_err_set(err, HAE_ENOMEM, "out of memory");
    }
    return HAE_OK;
}

static int fim_once(const agent_config *cfg, const hae_sink *sink, hae_err *err) {
    if (cfg->fim_root_count + cfg->web_root_count == 0) return HAE_OK;
    fim_options opt;
    const char **roots;
    if (agent_fim_options(cfg, &opt, &roots) < 0) return hae_err_set(err, HAE_ENOMEM, "out of memory");
    char *baseline = NULL;
    hae_err sensor_err = {0};
    int rc = agent_state_path(cfg, "fim.baseline", &baseline, err);
    if (rc == HAE_OK && baseline && access(baseline, F_OK) == 0) {
        rc = fim_baseline_check(&opt, baseline, sink, &sensor_err);
    } else if (rc == HAE_OK && baseline) {
        /* First run on this host: nothing to compare with yet; the next
         * run compares against what is recorded now. */
        rc = fim_baseline_build(&opt, baseline, sink, &sensor_err);
        if (rc == HAE_OK) {
            hae_event ev;
            rc = hae_finding_init(&ev, "agent", "agent.fim_baseline_created", HAE_SEV_INFO,
                                  "no FIM baseline yet: recorded one at %s for the next check",
                                  baseline);
            if (rc == HAE_OK) rc = hae_event_add_str(&ev, "TargetFilename", baseline);
            if (rc == HAE_OK) rc = hae_emit(sink, &ev, err);
            hae_event_clear(&ev);
        }
    }
    if (rc < 0 && sensor_err.code) rc = run_sensor("fim", rc, &sensor_err, sink, err);
    free(baseline);
    free(roots);
    return rc;
}

/* Files of the agent itself, never scanned: its state directory and the
 * files its output and diagnostics are redirected to (`agent --once >
 * findings.jsonl` quotes every match it reports). */
typedef struct own_files {
    struct stat state_dir;
    bool has_state_dir;
    struct stat outputs[2];
    size_t output_count;
} own_files;

static void own_files_find(const agent_config *cfg, own_files *own) {
    *own = (own_files){0};
    own->has_state_dir = stat(cfg->state_dir, &own->state_dir) == 0;
    for (int fd = 1; fd <= 2; fd++) {
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) own->outputs[own->output_count++] = st;
    }
}

static bool same_file(const struct stat *a, const struct stat *b) {
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* nftw has no context pointer; one YARA walk runs at a time. */
static struct {
    yara_scanner *scanner;
    const hae_sink *sink;
    hae_err *err;
    int rc;
    own_files own;
} yara_walk;

static bool is_own(const struct stat *st, int type) {
    const own_files *own = &yara_walk.own;
    if (type == FTW_D) return own->has_state_dir && same_file(st, &own->state_dir);
    for (size_t i = 0; i < own->output_count; i++) {
        if (same_file(st, &own->outputs[i])) return true;
    }
    return false;
}

static int yara_visit(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)ftw;
    if (is_own(st, type)) return type == FTW_D ? FTW_SKIP_SUBTREE : FTW_CONTINUE;
    if (type == FTW_F && S_ISREG(st->st_mode)) {
        /* yara_scan_file reports unreadable files itself as yara.error */
        int rc = yara_scan_file(yara_walk.scanner, path, yara_walk.sink, yara_walk.err);
        if (rc == HAE_ENOMEM || rc == HAE_EIO) {
            yara_walk.rc = rc;
            return FTW_STOP;
        }
    }
    return FTW_CONTINUE;
}

static int yara_once(const agent_config *cfg, const hae_sink *sink, hae_err *err) {
    if (cfg->yara_rule_count == 0) return HAE_OK;
    yara_scanner *scanner = NULL;
    hae_err sensor_err = {0};
    int rc = yara_scanner_open(&scanner, cfg->yara_rules, cfg->yara_rule_count, &sensor_err);
    if (rc < 0) return run_sensor("yara", rc, &sensor_err, sink, err);
    yara_walk.scanner = scanner;
    yara_walk.sink = sink;
    yara_walk.err = &sensor_err;
    yara_walk.rc = HAE_OK;
    own_files_find(cfg, &yara_walk.own);
    for (size_t i = 0; i < cfg->scan_dir_count && yara_walk.rc == HAE_OK; i++) {
        if (access(cfg->scan_dirs[i], F_OK) != 0) continue;
        /* FTW_PHYS: never follow symlinks, so loops cannot trap the walk. */
        nftw(cfg->scan_dirs[i], yara_visit, 32, FTW_PHYS | FTW_MOUNT | FTW_ACTIONRETVAL);
    }
    rc = yara_walk.rc;
    yara_scanner_close(scanner);
    return rc < 0 ? run_sensor("yara", rc, &sensor_err, sink, err) : HAE_OK;
}

static int run_every_sensor(const agent_config *cfg, const hae_sink *sink, hae_err *err) {
    hae_err sensor_err = {0};
    int rc = run_sensor("sock", sock_scan(sink, &sensor_err), &sensor_err, sink, err);
    if (rc == HAE_OK) {
        hae_err_clear(&sensor_err);
        rc = run_sensor("proc", proc_scan(sink, &sensor_err), &sensor_err, sink, err);
    }
    if (rc == HAE_OK) rc = fim_once(cfg, sink, err);
    if (rc == HAE_OK) rc = yara_once(cfg, sink, err);
    return rc;
}

int agent_run_once(const agent_config *cfg, const hae_sink *sink, hae_err *err) {
    allowlist *allow = NULL;
    int rc = agent_load_allowlist(cfg, &allow, err);
    if (rc < 0) return rc;
    allow_filter filter = {.list = allow, .next = sink};
    hae_sink allowed = allow_filter_sink(&filter);
    rc = run_every_sensor(cfg, allow ? &allowed : sink, err);
    if (rc == HAE_OK) rc = allowlist_report(allow, sink, err);
    allowlist_free(allow);
    return rc;
}
