/* testfs.h — temporary directories and whole-file reads and writes for the log and signing tests. */
#ifndef SINKD_TESTS_TESTFS_H
#define SINKD_TESTS_TESTFS_H

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A fresh directory /tmp/sinkd-test-NAME-XXXXXX; caller frees (rm_rf does). */
static inline char *tmpdir_new_named(const char *name)
{
	char tmpl[256];
	snprintf(tmpl, sizeof tmpl, "/tmp/sinkd-test-%s-XXXXXX", name);
	if (!mkdtemp(tmpl))
		return NULL;
	return strdup(tmpl);
}

/* Removes the files of a flat directory and the directory, then frees the name. */
static inline void rm_rf(char *dir)
{
	if (!dir)
		return;
	DIR *d = opendir(dir);
	if (d) {
		int dfd = dirfd(d);
		struct dirent *de;
		while ((de = readdir(d)) != NULL)
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				unlinkat(dfd, de->d_name, 0);
		closedir(d);
	}
	rmdir(dir);
	free(dir);
}

static inline void seg_path(char *buf, size_t cap, const char *dir, uint32_t seg)
{
	snprintf(buf, cap, "%s/%016u.seg", dir, seg);
}

/* The whole file, malloc'd (NULL on error); *len its size. */
static inline uint8_t *read_file(const char *path, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY);
	*len = 0;
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return NULL;
	}
	size_t n = (size_t)st.st_size;
	uint8_t *p = malloc(n ? n : 1);
	if (p && read(fd, p, n) != (ssize_t)n) {
		free(p);
		p = NULL;
	}
	close(fd);
	*len = n;
	return p;
}

static inline bool write_file(const char *path, const uint8_t *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);
	if (fd < 0)
		return false;
	bool ok = write(fd, p, len) == (ssize_t)len;
	close(fd);
	return ok;
}

#endif
