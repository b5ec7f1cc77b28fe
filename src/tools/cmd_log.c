/* cmd_log.c — placeholder until written. */
