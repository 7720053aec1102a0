/* Sensor scheduling. */
#include "agent/agent.h"
