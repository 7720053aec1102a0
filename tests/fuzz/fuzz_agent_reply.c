/* Fuzzes everything the agent reads from outside: server.json, the server's
 * enrollment and batch replies, its error bodies, Retry-After, and the
 * enrollment token. The first byte picks the parser; whatever the rest,
 * each returns an error or a result within its bounds, never a crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/transport_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_terminated(const char *s, size_t size) {
    if (!memchr(s, '\0', size)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    hae_err err = {0};
    switch (data[0] % 6) {
    case 0: {
        agent_server_info info;
        if (agent_server_info_parse(text, len, &info, &err) == HAE_OK) {
            check_terminated(info.url, sizeof info.url);
            if (strncmp(info.url, "https://", 8) != 0) abort();
            if (strlen(info.agent_id) != HAE_ID_LEN - 1) abort();
            hae_buf again = {0};
            agent_server_info back;
            /* What parses re-encodes to the same values. */
            if (agent_server_info_encode(&info, &again) != HAE_OK ||
                agent_server_info_parse(again.data, again.len, &back, &err) != HAE_OK ||
                memcmp(&info, &back, sizeof info) != 0) {
                abort();
            }
            hae_buf_free(&again);
        }
        break;
    }
    case 1: {
        batch_ack ack;
        (void)agent_parse_batch_ack(text, len, &ack, &err);
        break;
    }
    case 2: {
        char id[HAE_ID_LEN];
        if (agent_parse_enroll_reply(text, len, id, &err) == HAE_OK && strlen(id) != 36) abort();
        break;
    }
    case 3: {
        char why[64];
        agent_describe_error_reply(text, len, why, sizeof why);
        check_terminated(why, sizeof why);
        for (size_t i = 0; why[i]; i++) {
            if ((unsigned char)why[i] < 0x20 || (unsigned char)why[i] >= 0x7f) abort();
        }
        break;
    }
    case 4: {
        uint32_t seconds;
        (void)agent_parse_retry_after(text, len, 1700000000, &seconds);
        break;
    }
    default: {
        char token[512], secret[128], pin[AGENT_PIN_MAX], curl_pin[128];
        size_t n = len < sizeof token - 1 ? len : sizeof token - 1;
        memcpy(token, text, n);
        token[n] = '\0';
        if (agent_token_split(token, secret, sizeof secret, pin, &err) == HAE_OK && pin[0]) {
            (void)agent_pin_to_curl(pin, curl_pin, sizeof curl_pin, &err);
        }
        break;
    }
    }
    return 0;
}
