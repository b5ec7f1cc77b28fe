/* eve.c — placeholder until written. */
