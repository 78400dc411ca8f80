/*
 * metrics_off.c - pmqd built without libmicrohttpd: --metrics-listen is
 * refused with what to install, instead of being silently ignored.
 */
#include "metrics.h"
#include "pmqd.h"

int metrics_start(const char *listen_spec)
{
	if (!listen_spec || !*listen_spec)
		return 0;
	log_msg(LOG_ERR, "--metrics-listen %s: this pmqd was built without libmicrohttpd --> "
			 "apt-get install libmicrohttpd-dev, rebuild, or drop --metrics-listen", listen_spec);
	return -1;
}

void metrics_stop(void)
{
}
