/* Helpers shared by the sensors. Private to src/sensor. */
#ifndef HAETAE_SENSOR_INT_H
#define HAETAE_SENSOR_INT_H

#include "core/core.h"

/* A UUID-shaped id (RFC 9562 version 8) from BLAKE2b over this host's name
 * and the given parts: the same record read twice (after a crash, before
 * its position was saved) gets the same id, and the server keeps one. */
typedef struct sensor_id_part {
    const void *data;
    size_t len;
} sensor_id_part;

int sensor_stable_id(char out[HAE_ID_LEN], const sensor_id_part *parts, size_t count)
    HAE_MUST_USE;

#endif
