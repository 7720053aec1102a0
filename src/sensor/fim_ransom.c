/* fim ransomware signal: a burst of high-entropy rewrites.
 *
 * Encrypted output is close to 8 bits/byte; text, office XML, executables
 * and most data stay well below 7.2 over 64 KiB, which is the threshold
 * used by published detectors (e.g. Scaife et al., "CryptoLock (and Drop
 * It)", ICDCS 2016, and Kharraz et al., "UNVEIL", USENIX Security 2016).
 * Already-compressed formats (.zip, .jpg, .gz, .docx) are NOT skipped by
 * extension: the extension is chosen by the attacker (many families append
 * their own or keep the original), so skipping it would blind the signal.
 * The price is that a job rewriting many compressed files in one window
 * also fires; tune burst_threshold/burst_window_ms for such hosts. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sensor/fim_internal.h"

double fim_entropy(const unsigned char *bytes, size_t len) {
    if (len == 0) return 0.0;
    size_t counts[256] = {0};
    for (size_t i = 0; i < len; i++) counts[bytes[i]]++;
    double entropy = 0.0;
    for (int i = 0; i < 256; i++) {
        if (counts[i] == 0) continue;
        double p = (double)counts[i] / (double)len;
        entropy -= p * log2(p);
    }
    return entropy;
}

double fim_file_entropy(const char *path) {
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return -1.0;
    unsigned char *buffer = malloc(FIM_ENTROPY_SAMPLE);
    if (!buffer) {
        close(fd);
        return -1.0;
    }
    size_t got = 0;
    while (got < FIM_ENTROPY_SAMPLE) {
        ssize_t n = read(fd, buffer + got, FIM_ENTROPY_SAMPLE - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    /* Below a few hundred bytes the estimate is too coarse to call random. */
    double entropy = got < 256 ? 0.0 : fim_entropy(buffer, got);
    free(buffer);
    return entropy;
}

int fim_burst_init(fim_burst *b, unsigned threshold, unsigned window_ms) {
    memset(b, 0, sizeof *b);
    b->threshold = threshold ? threshold : 20;
    b->window_ns = (int64_t)(window_ms ? window_ms : 10000) * 1000000LL;
    b->times = calloc(b->threshold, sizeof *b->times);
    return b->times ? HAE_OK : HAE_ENOMEM;
}

void fim_burst_free(fim_burst *b) {
    free(b->times);
    for (size_t i = 0; i < FIM_BURST_SAMPLES; i++) free(b->samples[i]);
    memset(b, 0, sizeof *b);
}

static int emit_burst(fim_burst *b, const char *path, const hae_sink *sink, hae_err *err) {
    hae_event ev;
    int rc = hae_finding_init(&ev, "fim", "fim.ransomware_burst", HAE_SEV_CRITICAL,
                              "%zu high-entropy rewrites or renames within %lld ms (last: %s)",
                              b->count, (long long)(b->window_ns / 1000000), path);
    if (rc == HAE_OK) rc = hae_event_add_uint(&ev, "Count", b->count);
    if (rc == HAE_OK) rc = hae_event_add_int(&ev, "WindowMs", b->window_ns / 1000000);
    if (rc == HAE_OK) rc = hae_event_add_str(&ev, "TargetFilename", path);
    for (size_t i = 0; i < FIM_BURST_SAMPLES && rc == HAE_OK; i++) {
        if (b->samples[i]) rc = hae_event_add_str(&ev, "SampleFile", b->samples[i]);
    }
    if (rc == HAE_OK) {
        rc = hae_emit(sink, &ev, err);
    } else {
        hae_err_set(err, rc, "fim: cannot build fim.ransomware_burst");
    }
    hae_event_clear(&ev);
    return rc;
}

int fim_burst_note(fim_burst *b, const char *path, int64_t now_ns, const hae_sink *sink,
                   hae_err *err) {
    if (b->threshold == 0 || !b->times) return HAE_OK; /* not initialised */
    /* Forget what fell out of the window, oldest first. */
    while (b->count > 0 && b->times[b->head] < now_ns - b->window_ns) {
        b->head = (b->head + 1) % b->threshold;
        b->count--;
    }
    if (b->count == b->threshold) { /* full: the oldest makes room */
        b->head = (b->head + 1) % b->threshold;
        b->count--;
    }
    b->times[(b->head + b->count) % b->threshold] = now_ns;
    b->count++;
    char *copy = strdup(path);
    if (!copy) return hae_err_set(err, HAE_ENOMEM, "fim: out of memory");
    free(b->samples[0]);
    memmove(b->samples, b->samples + 1, (FIM_BURST_SAMPLES - 1) * sizeof *b->samples);
    b->samples[FIM_BURST_SAMPLES - 1] = copy;
    if (b->count < b->threshold || now_ns < b->quiet_until) return HAE_OK;
    int rc = emit_burst(b, path, sink, err);
    /* One finding per burst: hold off for a window, then start counting anew. */
    b->quiet_until = now_ns + b->window_ns;
    b->count = 0;
    b->head = 0;
    return rc;
}
