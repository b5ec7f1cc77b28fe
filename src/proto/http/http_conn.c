/* http_conn.c — placeholder until written. */
