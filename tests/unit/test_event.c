/* test_event.c — placeholder until written. */
int main(void);
int main(void) { return 77; }
