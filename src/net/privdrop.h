/* privdrop.h — give up root after binding: resolve the configured user/group, chown state, switch ids. */
#ifndef SINKD_NET_PRIVDROP_H
#define SINKD_NET_PRIVDROP_H

#include <stdbool.h>
#include <sys/types.h>

struct privdrop {
	bool active; /* a user was configured and we are root */
	uid_t uid;
	gid_t gid;
	char name[64];
};

/*
 * Resolves user (and group, default: the user's primary group). Not root or
 * no user configured: pd->active = false, nothing to do. ERR_CONFIG for an
 * unknown user or group (message in errbuf).
 */
int privdrop_prepare(struct privdrop *pd, const char *user, const char *group, char *errbuf,
		     unsigned long errlen);
/* Makes a directory (and its parents) and, when dropping, gives it to the user. */
int privdrop_own_dir(const struct privdrop *pd, const char *dir);
/* Switches to the user for good (supplementary groups, gid, uid) and checks root cannot come back. */
int privdrop_apply(const struct privdrop *pd);

#endif
