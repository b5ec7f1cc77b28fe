/* privdrop.c — give up root after binding. */
#include "net/privdrop.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"

int privdrop_prepare(struct privdrop *pd, const char *user, const char *group, char *errbuf,
		     unsigned long errlen)
{
	memset(pd, 0, sizeof *pd);
	if (!user || geteuid() != 0)
		return 0;
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		snprintf(errbuf, errlen, "user \"%s\" does not exist", user);
		return ERR_CONFIG;
	}
	pd->uid = pw->pw_uid;
	pd->gid = pw->pw_gid;
	if (group) {
		struct group *gr = getgrnam(group);
		if (!gr) {
			snprintf(errbuf, errlen, "group \"%s\" does not exist", group);
			return ERR_CONFIG;
		}
		pd->gid = gr->gr_gid;
	}
	snprintf(pd->name, sizeof pd->name, "%s", user);
	pd->active = true;
	return 0;
}

int privdrop_own_dir(const struct privdrop *pd, const char *dir)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof path, "%s", dir);
	if (n < 0 || (size_t)n >= sizeof path)
		return ERR_INVAL;
	/* mkdir -p: create each missing component. */
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0750) != 0 && errno != EEXIST)
			return ERR_SYS;
		*p = '/';
	}
	if (mkdir(path, 0750) != 0 && errno != EEXIST)
		return ERR_SYS;
	if (pd->active && chown(path, pd->uid, pd->gid) != 0)
		return ERR_SYS;
	return 0;
}

int privdrop_apply(const struct privdrop *pd)
{
	if (!pd->active)
		return 0;
	if (initgroups(pd->name, pd->gid) != 0 && setgroups(0, NULL) != 0)
		return ERR_SYS;
	if (setgid(pd->gid) != 0 || setuid(pd->uid) != 0)
		return ERR_SYS;
	/* Paranoia: a successful way back to root means the drop did not happen. */
	if (setuid(0) == 0) {
		errno = EPERM;
		return ERR_SYS;
	}
	return 0;
}
