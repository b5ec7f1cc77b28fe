/* ring.h — single-producer single-consumer ring of variable-length records (worker → log writer). */
#ifndef SINKD_CORE_RING_H
#define SINKD_CORE_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Lock-free for exactly one producer thread and one consumer thread. Records
 * are stored contiguously (a record never wraps), so the consumer reads them
 * in place. Capacity is a power of two; a record may take at most a quarter
 * of it.
 */
struct ring;

/* `bytes` is rounded up to a power of two (minimum 64 KiB). */
int ring_create(struct ring **out, size_t bytes);
void ring_free(struct ring *r);

/* Producer: copies the record in. ERR_FULL if there is no room now, ERR_LIMIT if too big ever. */
int ring_push(struct ring *r, const void *rec, size_t len);

/*
 * Producer: reserve room for a record of up to `max` bytes and write it in
 * place, then commit its real length (≤ max). Saves a copy when the record is
 * built directly in the ring. Returns NULL if there is no room now.
 */
uint8_t *ring_reserve(struct ring *r, size_t max);
void ring_commit(struct ring *r, size_t len);

/* Consumer: the oldest record, valid until ring_pop(); false if empty. */
bool ring_peek(struct ring *r, const uint8_t **rec, size_t *len);
void ring_pop(struct ring *r);

/* Approximate bytes in use (either side; for stats). */
size_t ring_used(const struct ring *r);
/* Bytes the ring holds when full (the rounded-up size). */
size_t ring_capacity(const struct ring *r);
bool ring_empty(const struct ring *r);

#endif
