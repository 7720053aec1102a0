/* libFuzzer: arbitrary bytes as the condition of a rule with five search
 * identifiers. Parsing must fail with a message or compile; never crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detect.h"

static const char head[] =
    "title: fuzz\nlogsource: {product: linux}\ndetection:\n"
    "  sel_a: {A: x}\n  sel_b: {B|contains: y}\n  filter_1: {C: z}\n  _hidden: {D: w}\n"
    "  keywords: [evil]\n  condition: '";

static int on_hit(void *ctx, const detect_hit *hit, hae_err *err) {
    (void)ctx;
    (void)hit;
    (void)err;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    char *yaml = malloc(sizeof head + size * 2 + 4);
    if (!yaml) return 0;
    size_t n = sizeof head - 1;
    memcpy(yaml, head, n);
    for (size_t i = 0; i < size; i++) {
        char c = (char)data[i];
        if (c == '\n' || c == '\r' || c == '\0') c = ' ';
        if (c == '\'') yaml[n++] = '\''; /* YAML single-quote escape */
        yaml[n++] = c;
    }
    memcpy(yaml + n, "'\n", 3);
    n += 2;
    detect_engine *e = NULL;
    hae_err err = {0};
    if (detect_engine_new(&e, NULL, &err) == 0) {
        if (detect_engine_load_string(e, "c.yml", yaml, n, NULL, NULL, NULL, &err) == 0 &&
            detect_engine_compile(e, NULL, NULL, &err) == 0) {
            hae_event ev;
            static const char json[] = "{\"A\":\"x\",\"B\":\"xyz\",\"M\":\"EVIL\"}";
            if (hae_event_decode_json(&ev, json, sizeof json - 1, &err) == 0) {
                (void)detect_engine_match(e, &ev, on_hit, NULL, &err);
                hae_event_clear(&ev);
            }
        }
        detect_engine_free(e);
    }
    free(yaml);
    return 0;
}
