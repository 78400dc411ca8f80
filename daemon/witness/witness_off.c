/* witness_off.c - pmqd built without libcurl/jansson: a witness setting says what to install. */
#include <errno.h>
#include <string.h>

#include "log.h"
#include "witness.h"

int witness_config_set(const char *key, const char *val)
{
	(void)val;
	if (strncmp(key, "witness", 7))
		return -ENOENT;
	log_msg(LOG_ERR, "--%s: this pmqd was built without the etcd witness --> install libcurl4-openssl-dev and "
		"libjansson-dev and rebuild", key);
	return -ENOTSUP;
}

int witness_start(const char *dir)
{
	(void)dir;
	return 0;
}

void witness_stop(void)
{
}

const char *const witness_states[] = { NULL };

int witness_view(struct witness_view *v)
{
	(void)v;
	return -ENOENT;
}
