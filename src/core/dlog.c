/* dlog.c — placeholder until written. */
