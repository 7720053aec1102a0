/* libFuzzer: arbitrary bytes as a JSON export for `haetae hunt` (objects
 * one after another, pretty-printed or not, as evtx_dump writes them).
 * Each object goes the way hunt takes it: detect_json_next_object,
 * hae_event_decode_json, detect_event_flatten_windows, then matching. The
 * splitter must always move forward and stay inside the buffer; every
 * event must get the same answer from the prefilter (Hyperscan) and from
 * the reference path, or the target aborts. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detect.h"

/* Rules touching what the prefilter rewrites: anchored literals, wildcards,
 * windash, keywords (one scan over all values), cased, fieldref, re,
 * Windows field names, logsource. */
static const char rules[] =
    "title: a\nid: 00000000-0000-4000-8000-000000000001\nlogsource: {product: windows}\n"
    "detection:\n  sel:\n    Image|endswith: ['\\cmd.exe', '/sh']\n"
    "    CommandLine|contains|windash: [' -enc ', 'whoami']\n  condition: sel\n"
    "---\n"
    "title: b\nid: 00000000-0000-4000-8000-000000000002\nlogsource: {category: process_creation}\n"
    "detection:\n  sel:\n    ParentImage|startswith: 'C:\\Windows\\'\n    User: SYSTEM\n"
    "  filter:\n    Image|contains: 'sys*32'\n  condition: sel and not filter\n"
    "---\n"
    "title: c\nid: 00000000-0000-4000-8000-000000000003\nlogsource: {product: linux}\n"
    "detection:\n  kw:\n    - 'evil*payload'\n    - 'mimikatz'\n  condition: kw\n"
    "---\n"
    "title: d\nid: 00000000-0000-4000-8000-000000000004\nlogsource: {service: security}\n"
    "detection:\n  sel:\n    EventID: [4624, 4688]\n    TargetUserName|fieldref: SubjectUserName\n"
    "  cased:\n    Provider_Name|cased: 'Microsoft-Windows-Security-Auditing'\n"
    "  re:\n    CommandLine|re: '^[a-z]+ -x'\n  condition: sel or cased or re\n";

static detect_engine *engines[2]; /* reference, prefilter */

static int count_hit(void *ctx, const detect_hit *hit, hae_err *err) {
    (void)hit;
    (void)err;
    (*(int *)ctx)++;
    return 0;
}

static void build_engines(void) {
    for (int k = 0; k < 2; k++) {
        hae_err err = {0};
        detect_options o = {.no_prefilter = k == 0};
        detect_load_counts counts = {0};
        if (detect_engine_new(&engines[k], &o, &err) < 0 ||
            detect_engine_load_string(engines[k], "fuzz.yml", rules, sizeof rules - 1, NULL, NULL,
                                      &counts, &err) < 0 ||
            counts.compiled != 4 || detect_engine_compile(engines[k], NULL, NULL, &err) < 0) {
            fprintf(stderr, "fuzz_hunt_json: rules did not compile: %s\n", err.msg);
            abort();
        }
    }
}

static void match_both(const char *object, size_t len) {
    int hits[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        hae_event ev;
        hae_err err = {0};
        if (hae_event_decode_json(&ev, object, len, &err) < 0) return; /* hunt counts it malformed */
        if (detect_event_flatten_windows(&ev, &err) == 0) {
            (void)detect_engine_match(engines[k], &ev, count_hit, &hits[k], &err);
        }
        hae_event_clear(&ev);
    }
    if (hits[0] != hits[1]) {
        fprintf(stderr, "fuzz_hunt_json: reference path %d hits, prefilter %d\n", hits[0], hits[1]);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!engines[0]) build_engines();
    const char *buf = (const char *)data;
    size_t offset = 0;
    for (;;) {
        size_t before = offset, start = 0, len = 0;
        hae_err err = {0};
        int found = detect_json_next_object(buf, size, &offset, &start, &len, &err);
        if (offset <= before && found != 0) abort(); /* must always move forward */
        if (offset > size || (found == 1 && (start < before || len == 0 || start + len > size))) {
            abort();
        }
        if (found == 0) break;
        if (found == 1) match_both(buf + start, len);
        else if (offset >= size) break;
    }
    return 0;
}
