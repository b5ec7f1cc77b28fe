/* timeutil.h — wall-clock and monotonic time in the units the daemon uses. */
#ifndef SINKD_CORE_TIMEUTIL_H
#define SINKD_CORE_TIMEUTIL_H

#include <stdint.h>

/* Microseconds since the Unix epoch, UTC (event timestamps). */
uint64_t time_now_us(void);
/* Milliseconds of CLOCK_MONOTONIC (timeouts, intervals). */
uint64_t time_mono_ms(void);
/* "2026-11-28T22:36:43.123456Z" into buf (at least 32 bytes); returns buf. */
const char *time_iso_us(uint64_t us, char *buf, unsigned long cap);

#endif
