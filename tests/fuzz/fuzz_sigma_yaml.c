/* libFuzzer: arbitrary bytes as a Sigma rule file. Loading must report,
 * never crash; whatever compiles is matched against one event. */
#include <stddef.h>
#include <stdint.h>

#include "detect/detect.h"

static const char event_json[] =
    "{\"logsource\":{\"product\":\"linux\"},\"Image\":\"/bin/sh\",\"CommandLine\":\"sh -c id\","
    "\"EventID\":4688,\"DestinationIp\":\"10.1.2.3\",\"Tags\":[\"a\",\"b\"]}";

static int on_hit(void *ctx, const detect_hit *hit, hae_err *err) {
    (void)ctx;
    (void)hit;
    (void)err;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    detect_engine *e = NULL;
    hae_err err = {0};
    if (detect_engine_new(&e, NULL, &err) < 0) return 0;
    if (detect_engine_load_string(e, "fuzz.yml", (const char *)data, size, NULL, NULL, NULL, &err) == 0 &&
        detect_engine_compile(e, NULL, NULL, &err) == 0) {
        hae_event ev;
        if (hae_event_decode_json(&ev, event_json, sizeof event_json - 1, &err) == 0) {
            (void)detect_engine_match(e, &ev, on_hit, NULL, &err);
            hae_event_clear(&ev);
        }
    }
    detect_engine_free(e);
    return 0;
}
