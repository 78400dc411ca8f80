/*
 * replicator_skip.c - the queues the primary's replicator does not ship, and
 * why, remembered so that each is logged once (not at every rescan, by every
 * link) and not reopened twice a second.
 *
 * Today one kind: a queue made with consumer groups (pmq_get_config's
 * max_groups > 0). Replication mirrors the main ring and the side area, not
 * the group table and lanes (docs/groups.md); shipping such a queue would
 * hand a promoted standby a queue whose groups lost their cursors, so it is
 * not replicated at all, and the log says so.
 *
 * An entry is the file's name, its device and inode, and an observer handle
 * kept open on it: while the handle holds the old file, a queue deleted and
 * made again under the same name (perhaps without groups now) cannot get the
 * same inode back (ext4 reuses a freed inode at once), so a new inode means a
 * new file, which is looked at again. Shared by the link threads: one mutex.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "repl_node.h"
#include "replicator.h"

static struct {
	char name[PMQ_NAME_MAX + 1];
	dev_t dev;
	ino_t ino;
	pmq_t *q; /* held so the inode stays this file's */
} skipped[REPL_MAX_QUEUES];
static unsigned n_skipped;
static pthread_mutex_t skip_mu = PTHREAD_MUTEX_INITIALIZER;

static bool file_id(const char *name, dev_t *dev, ino_t *ino)
{
	char path[sizeof(g_repl.dir) + PMQ_NAME_MAX + 8];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s.pmq", g_repl.dir, name);
	if (stat(path, &st) < 0)
		return false;
	*dev = st.st_dev;
	*ino = st.st_ino;
	return true;
}

bool replicator_skipped(const char *name)
{
	dev_t dev;
	ino_t ino;
	if (!file_id(name, &dev, &ino))
		return false;
	bool found = false;
	pthread_mutex_lock(&skip_mu);
	for (unsigned i = 0; i < n_skipped; i++) {
		if (strcmp(skipped[i].name, name))
			continue;
		if (skipped[i].dev == dev && skipped[i].ino == ino) {
			found = true;
		} else { /* another file now has the name: forget the old one, look at the new one */
			pmq_close(skipped[i].q);
			skipped[i] = skipped[--n_skipped];
		}
		break;
	}
	pthread_mutex_unlock(&skip_mu);
	return found;
}

void replicator_skip_prune(char (*names)[PMQ_NAME_MAX + 1], int n)
{
	pthread_mutex_lock(&skip_mu);
	for (unsigned i = 0; i < n_skipped;) {
		bool listed = false;
		for (int k = 0; k < n && !listed; k++)
			listed = !strcmp(names[k], skipped[i].name);
		if (listed) {
			i++;
			continue;
		}
		pmq_close(skipped[i].q); /* the file is gone: let go of its mapping */
		skipped[i] = skipped[--n_skipped];
	}
	pthread_mutex_unlock(&skip_mu);
}

bool replicator_skip_groups(const char *name, pmq_t *q)
{
	struct pmq_config c;
	pmq_config_init(&c);
	if (pmq_get_config(q, &c) < 0 || c.max_groups == 0)
		return false;
	dev_t dev = 0;
	ino_t ino = 0;
	file_id(name, &dev, &ino); /* a file gone meanwhile: an entry no file matches, dropped at the next look */
	bool fresh = true, kept = false;
	pthread_mutex_lock(&skip_mu);
	for (unsigned i = 0; i < n_skipped; i++)
		if (!strcmp(skipped[i].name, name) && skipped[i].dev == dev && skipped[i].ino == ino)
			fresh = false; /* another link's thread logged it first */
	if (fresh && n_skipped < REPL_MAX_QUEUES) {
		snprintf(skipped[n_skipped].name, sizeof(skipped[0].name), "%s", name);
		skipped[n_skipped].dev = dev;
		skipped[n_skipped].ino = ino;
		skipped[n_skipped].q = q;
		n_skipped++;
		kept = true;
	}
	pthread_mutex_unlock(&skip_mu);
	if (!kept)
		pmq_close(q);
	if (fresh)
		log_msg(LOG_WARNING, "replicator: queue \"%s\" has consumer groups; replication of groups is not "
			"implemented in this version; not replicated", name);
	return true;
}
