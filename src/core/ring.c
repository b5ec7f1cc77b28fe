/* ring.c — placeholder until written. */
