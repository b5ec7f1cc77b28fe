/* rules.c — placeholder until written. */
