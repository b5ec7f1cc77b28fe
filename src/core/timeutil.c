/* timeutil.c — placeholder until written. */
