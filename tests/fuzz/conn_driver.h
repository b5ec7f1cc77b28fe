/* conn_driver.h — drives one connection of a stream protocol module as the worker would, for the connection fuzz harnesses. */
#ifndef SINKD_TESTS_FUZZ_CONN_DRIVER_H
#define SINKD_TESTS_FUZZ_CONN_DRIVER_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/config.h"
#include "core/recorder.h"
#include "net/daemon.h"
#include "net/listener.h"
#include "net/worker.h"

/*
 * The worker loop is replaced by a small driver that does what it does for
 * one connection: feed bytes in chunks, keep what the protocol did not
 * consume (up to the same cap), "send" staged answers through the harness's
 * check, and at the end deliver end-of-stream or a timeout. The events go
 * through a real recorder into a real log, so event encoding is exercised
 * too. The config's first listeners (up to FUZZ_LISTENERS) share one worker.
 */
#define FUZZ_LISTENERS 3

struct fuzz_env {
	struct config *cfg;
	struct ruleset rs;
	struct recorder *rec;
	struct listener l[FUZZ_LISTENERS];
	unsigned n_l;
	struct worker w;
	char dir[80];
	uint64_t inputs;
};

/*
 * Parses the config, compiles its rules and starts the recorder (once;
 * aborts on failure). Listener i of the config is served by ops[i].
 */
void fuzz_env_setup(struct fuzz_env *e, const char *yaml, size_t len,
		    const struct proto_ops *const *ops, unsigned n_ops, const char *name);

/*
 * One connection: `ctl` chooses the listener (bit 0; bit 7 the third one, if
 * there is one), the peer (bit 1), answered mode (bit 2), draining (bits 3
 * and 4), timeout instead of EOF at the end (bit 4) and the chunking (bits
 * 5-6: whole, byte by byte, varied). `flush` checks and discards the staged
 * output after every step. A module that hands the connection over
 * (conn_handover) must have consumed nothing; the new one gets the bytes.
 */
void fuzz_env_conn(struct fuzz_env *e, uint8_t ctl, const uint8_t *data, size_t size,
		   void (*flush)(struct worker *w));

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

#endif
