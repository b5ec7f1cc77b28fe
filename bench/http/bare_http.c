/* bare_http.c — placeholder. */
int main(void);
int main(void) { return 0; }
