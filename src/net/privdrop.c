/* privdrop.c — placeholder until written. */
