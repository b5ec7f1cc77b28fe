/* cmd_verify.c — placeholder until written. */
