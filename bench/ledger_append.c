/* Ledger benchmark driver (bench/ledger-append builds and runs it):
 * durable appends per second one commit per append and with group commit,
 * appends without fsync, the disk's raw fdatasync rate (the floor), and
 * inclusion/consistency proof generation and verification at a large size. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger/ledger.h"

static double now_s(void) {
    return (double)hae_time_monotonic_ns() / 1e9;
}

static ledger *fresh(const char *base, const char *name) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", base, name);
    ledger *l = NULL;
    hae_err err = {0};
    if (ledger_open(&l, dir, &err) != HAE_OK) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    return l;
}

/* Appends count entries of ~120 bytes in batches; returns appends/s. */
static double run_appends(ledger *l, uint64_t count, size_t batch) {
    ledger_entry_ref *refs = calloc(batch, sizeof *refs);
    char (*bufs)[128] = calloc(batch, sizeof *bufs);
    hae_err err = {0};
    double t0 = now_s();
    for (uint64_t done = 0; done < count;) {
        size_t n = count - done < batch ? (size_t)(count - done) : batch;
        for (size_t i = 0; i < n; i++) {
            int len = snprintf(bufs[i], sizeof bufs[i],
                               "{\"event_sha256\":\"%064llx\",\"kind\":\"alert\",\"metadata\":{},\"time\":\"x\"}",
                               (unsigned long long)(done + i));
            refs[i] = (ledger_entry_ref){bufs[i], (size_t)len};
        }
        if (ledger_append_batch(l, refs, n, NULL, &err) != HAE_OK) {
            fprintf(stderr, "append: %s\n", err.msg);
            exit(1);
        }
        done += n;
    }
    double rate = (double)count / (now_s() - t0);
    free(refs);
    free(bufs);
    return rate;
}

static double raw_fsync_rate(const char *base, double seconds) {
    char path[4096];
    snprintf(path, sizeof path, "%s/raw", base);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    char block[4096] = {0};
    uint64_t n = 0;
    double t0 = now_s();
    while (now_s() - t0 < seconds) {
        if (write(fd, block, sizeof block) != (ssize_t)sizeof block || fdatasync(fd) != 0) exit(1);
        n++;
    }
    double rate = (double)n / (now_s() - t0);
    close(fd);
    return rate;
}

static void run_proofs(ledger *l, uint64_t size, int rounds) {
    hae_err err = {0};
    ledger_proof p;
    ledger_hash root, leaf, old_root;
    if (ledger_root(l, size, &root, &err) != HAE_OK) exit(1);
    srand(7);
    double gen = 0, ver = 0, cgen = 0, cver = 0;
    for (int r = 0; r < rounds; r++) {
        uint64_t index = ((uint64_t)rand() << 31 ^ (uint64_t)rand()) % size;
        double t0 = now_s();
        if (ledger_prove_inclusion(l, index, size, &p, &err) != HAE_OK) exit(1);
        double t1 = now_s();
        if (ledger_leaf(l, index, &leaf, &err) != HAE_OK) exit(1);
        double t2 = now_s();
        if (ledger_verify_inclusion(index, size, &leaf, &p, &root, &err) != HAE_OK) exit(1);
        double t3 = now_s();
        gen += t1 - t0, ver += t3 - t2;
        uint64_t old = 1 + index % (size - 1);
        if (ledger_root(l, old, &old_root, &err) != HAE_OK) exit(1);
        t0 = now_s();
        if (ledger_prove_consistency(l, old, size, &p, &err) != HAE_OK) exit(1);
        t1 = now_s();
        if (ledger_verify_consistency(old, size, &old_root, &root, &p, &err) != HAE_OK) exit(1);
        t2 = now_s();
        cgen += t1 - t0, cver += t2 - t1;
    }
    printf("proofs at %llu entries (%d random each, warm page cache):\n", (unsigned long long)size, rounds);
    printf("  inclusion   generate %.1f us (%.0f/s)  verify %.1f us\n", gen / rounds * 1e6, rounds / gen, ver / rounds * 1e6);
    printf("  consistency generate %.1f us (%.0f/s)  verify %.1f us\n", cgen / rounds * 1e6, rounds / cgen, cver / rounds * 1e6);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: ledger_append DIR [appends] [proof-size]\n");
        return 2;
    }
    const char *base = argv[1];
    uint64_t count = argc > 2 ? strtoull(argv[2], NULL, 10) : 200000;
    uint64_t proof_size = argc > 3 ? strtoull(argv[3], NULL, 10) : 10000000;
    double raw = raw_fsync_rate(base, 2.0);
    printf("disk: %.0f fdatasync/s (4 KiB write + fdatasync; the floor for one commit per write)\n", raw);
    ledger *l = fresh(base, "single");
    double single = run_appends(l, 2000, 1);
    ledger_close(l);
    printf("durable, one commit per append : %9.0f appends/s (%.2fx the raw fsync rate; 3 fdatasyncs per commit)\n",
           single, single / raw);
    size_t batches[] = {64, 1024, 8192};
    for (size_t i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "group%zu", batches[i]);
        l = fresh(base, name);
        double rate = run_appends(l, count, batches[i]);
        ledger_close(l);
        printf("durable, group commit of %5zu  : %9.0f appends/s (%.0fx the raw fsync rate)\n", batches[i], rate, rate / raw);
    }
    l = fresh(base, "nosync");
    ledger_set_sync(l, false);
    double nosync = run_appends(l, count, 1024);
    printf("no fsync, batches of 1024      : %9.0f appends/s\n", nosync);
    ledger_close(l);
    l = fresh(base, "proofs");
    ledger_set_sync(l, false);
    double t0 = now_s();
    run_appends(l, proof_size, 8192);
    printf("built a %llu-entry log in %.1f s (no fsync)\n", (unsigned long long)proof_size, now_s() - t0);
    run_proofs(l, proof_size, 20000);
    ledger_close(l);
    return 0;
}
