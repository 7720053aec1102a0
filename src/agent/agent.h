/* agent: runs the sensors on a schedule and keeps their events in a
 * crash-safe on-disk spool until a transport takes them. Never loses an
 * event silently: anything dropped is counted in a spool.dropped event. */
#ifndef HAETAE_AGENT_H
#define HAETAE_AGENT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#endif
