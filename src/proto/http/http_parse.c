/* http_parse.c — placeholder until written. */
