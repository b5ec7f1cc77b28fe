/* cmd_serve.c — placeholder until written. */
