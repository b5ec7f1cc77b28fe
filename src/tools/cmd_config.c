/* cmd_config.c — placeholder until written. */
