/* daemon.c — placeholder until written. */
