/* loadgen.c — placeholder until written. */
