#include "core/clock.h"

_Atomic int64_t gw_clock_offset_ns;
