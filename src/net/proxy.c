/* proxy.c — placeholder until written. */
