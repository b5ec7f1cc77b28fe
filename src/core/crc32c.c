/* crc32c.c — placeholder until written. */
