/*
 * help.c - pmqctl's help: the command list (pmqctl --help), one page per
 * command (pmqctl CMD --help, pmqctl help CMD) and the exit-code table that
 * every page ends with. docs/pmqd.md and pmqctl(1) carry the same text.
 */
#include <stdio.h>
#include <string.h>

#include "pmqctl.h"

static const struct {
	const char *name, *text;
} pages[] = {
	{ "create", "usage: pmqctl create QUEUE [options]\n"
		    "Create a queue file DIR/QUEUE.pmq (mode 0600 unless --mode).\n"
		    "  --slots N              ring slots, a power of two (default 1024)\n"
		    "  --payload B            largest message in bytes (default 1024)\n"
		    "  --max-attach N         attachments (handles) at once\n"
		    "  --quota N              messages one consumer may hold at once\n"
		    "  --max-deliveries N     deliveries before a message becomes a dead letter\n"
		    "  --dlq N                dead-letter capacity\n"
		    "  --side-slots N         redelivery (side area) slots\n"
		    "  --lease-ms MS          a consumer holding messages this long without progress gets\n"
		    "                         the lease action (0: no lease)\n"
		    "  --lease-action A       requeue (default), kill or alarm\n"
		    "  --mode OCTAL           file permissions (e.g. 0600)\n"
		    "  --sp, --sc             single producer / single consumer\n"
		    "  --durability D         process (default) or power\n"
		    "  --crash-not-delivery   a consumer's crash does not count as a delivery\n"
		    "  --max-groups N         room for N consumer groups (0 to 32, fixed; default 0: none,\n"
		    "                         consumers compete as in a queue without groups)\n"
		    "  --group NAME[:lossy][:lease=MS]\n"
		    "                         a group made with the queue (repeatable; needs --max-groups);\n"
		    "                         :lossy makes it at most once (never holds producers back),\n"
		    "                         :lease=MS gives a reliable group its own lease (1 to 604800000)\n"
		    "Numbers are decimal digits only (no sign, no suffix); --mode is octal.\n"
		    "--json prints {\"queue\",\"dir\",\"created\":true}.\n" },
	{ "delete", "usage: pmqctl delete QUEUE\n"
		    "Remove the queue's file; attached handles keep working until closed.\n"
		    "--json prints {\"queue\",\"dir\",\"deleted\":true}.\n" },
	{ "list", "usage: pmqctl list [--json]\n"
		  "Every queue of DIR with depth, in flight, redelivered, dead letters, attachments.\n"
		  "--json prints {\"dir\",\"queues\":[{\"queue\",\"depth\",\"in_flight\",\"redelivered\",\n"
		  "\"dead_letters\",\"attachments\"} or {\"queue\",\"error\"}]}.\n" },
	{ "stat", "usage: pmqctl stat QUEUE [--interval MS] [--json]\n"
		  "Counters, rates sampled over --interval MS (default 200, 0: none), configuration, and\n"
		  "each attachment (pid, role, liveness, in flight, heartbeat, how pmqd watches it).\n"
		  "A queue with groups shows every group's lag, in flight, redeliveries waiting,\n"
		  "redelivered, dead letters, lost (lossy groups) and consumers.\n"
		  "The replication lines appear only for a queue that pmqd replicates or mirrors.\n"
		  "--json prints one object: {\"queue\",...,\"lease_action\":\"requeue|kill|alarm\",\n"
		  "\"max_groups\",\"groups\":[GROUP...],\"attachments\":[...],\"pmqd\":<pmqd's stat object\n"
		  "or null>} (GROUP: see group --help).\n" },
	{ "top", "usage: pmqctl top [--interval MS] [-n N|--iterations N] [--json|--jsonl]\n"
		 "Refreshing view of every queue with rates, every MS (default 1000), N times (default:\n"
		 "until interrupted). The screen is cleared only when stdout is a terminal.\n"
		 "--json: one document {\"dir\",\"interval_ms\",\"samples\":[{\"t\",\"queues\":[...]}]} after\n"
		 "N samples (N defaults to 1 with --json); --jsonl: one sample object per line.\n" },
	{ "send", "usage: pmqctl send QUEUE [MSG...] [--count N] [--nonblock | --timeout MS] [--json]\n"
		  "Send each MSG (N times with --count), or with no MSG one message per stdin line.\n"
		  "A full queue makes send wait (it says so on stderr) until there is room: --timeout MS\n"
		  "gives up after MS milliseconds, --nonblock at once (exit 8). Use -- before a message\n"
		  "that starts with '-'. --json prints {\"queue\",\"sent\":N}.\n" },
	{ "recv", "usage: pmqctl recv QUEUE [-n N|--count N] [--timeout MS] [--follow] [--nack|--deadletter]\n"
		  "                   [--group NAME] [--json|--jsonl]\n"
		  "Receive up to N messages (default 1) and settle each: ack (default), --nack (deliver\n"
		  "again) or --deadletter. Without --timeout it does not wait (exit 6 when empty);\n"
		  "--follow waits for messages until interrupted.\n"
		  "--group NAME joins that consumer group (required on a queue with groups). A lossy\n"
		  "group's messages are not settled (no --nack, --deadletter); a gap is said on stderr\n"
		  "and in --json as \"lost\" (messages skipped because the group fell a lap behind).\n"
		  "--json: one document {\"queue\",\"messages\":[MESSAGE...]}; --jsonl: one MESSAGE per line\n"
		  "(the form for --follow). MESSAGE: {\"queue\",\"ticket\",\"epoch\",\"delivery_count\",\n"
		  "\"timestamp_ns\",\"len\",\"data_b64\",\"text\" (only when valid UTF-8),\"truncated\"}.\n" },
	{ "peek", "usage: pmqctl peek QUEUE [-n N|--count N] [--json]\n"
		  "Show up to N (default 10) waiting messages without taking them (no delivery counted).\n"
		  "At most 4096 bytes of each are shown (\"truncated\":true in JSON).\n"
		  "--json: {\"queue\",\"messages\":[MESSAGE with \"state\":\"ready\"...]} (see recv --help).\n" },
	{ "tail", "usage: pmqctl tail QUEUE [-n N|--count N] [--follow] [--json|--jsonl]\n"
		  "Show the last N (default 10) messages sent, without taking them; --follow keeps\n"
		  "showing new ones until interrupted (use --jsonl with it: one MESSAGE per line).\n"
		  "--json: {\"queue\",\"messages\":[...]} as peek.\n" },
	{ "dlq", "usage: pmqctl dlq list QUEUE [--max N] [--json]\n"
		 "       pmqctl dlq replay|purge QUEUE [--max N] [--json]\n"
		 "       pmqctl dlq recv QUEUE [-n N] [--timeout MS] [--group NAME] [--json|--jsonl]\n"
		 "list shows the dead letters (without taking them) and the counts; replay makes them\n"
		 "deliverable again; purge drops them; recv prints and removes them (as recv; on a queue\n"
		 "with groups, a group's dead letters with --group NAME).\n"
		 "--json: list {\"queue\",\"dead_letters\",\"dead_lettered_total\",\"messages\":[...]},\n"
		 "replay/purge {\"queue\",\"replayed\"|\"purged\":N}.\n" },
	{ "group", "usage: pmqctl group create QUEUE GROUP [--lossy | --lease-ms N] [--json]\n"
		   "       pmqctl group delete QUEUE GROUP [--json]\n"
		   "       pmqctl group list QUEUE [--json]\n"
		   "       pmqctl group stat QUEUE [GROUP] [--json]\n"
		   "Consumer groups (docs/groups.md) of a queue made with --max-groups N: each group sees\n"
		   "every message sent after it was made; consumers of one group compete. create starts\n"
		   "a group at the queue's tail (--lossy: at most once, never holds producers back);\n"
		   "--lease-ms N: the group's own lease for pmqd, 1 ms to 7 days (604800000), instead of the\n"
		   "queue's (the lease action stays the queue's; a lossy group has none).\n"
		   "delete releases what it held; list shows names, kinds, lag, consumers and lease; stat\n"
		   "every counter. Group names: 1 to 31 of A-Z a-z 0-9 _ . -, not starting with '.'.\n"
		   "An unknown group exits 3, an existing one 7, a full group table or a queue made\n"
		   "without groups 1, a bad name 2.\n"
		   "--json: create/delete {\"queue\",\"group\",\"created\"|\"deleted\":true}; list and stat\n"
		   "{\"queue\",\"max_groups\",\"groups\":[GROUP...]}; stat QUEUE GROUP {\"queue\",\"group\":GROUP}.\n"
		   "GROUP: {\"group\",\"kind\":\"reliable|lossy\",\"index\",\"head\",\"lag\",\"in_flight\",\n"
		   "\"side_ready\",\"dead_letters\",\"redelivered\",\"dead_lettered\",\"lost\",\"consumers\",\n"
		   "\"lease_ms\" (0: the queue's lease applies)}.\n" },
	{ "recover", "usage: pmqctl recover QUEUE [--json]\n"
		     "Recover the queue's dead attachments now: through pmqd if it runs (logged there),\n"
		     "else here with the same library code. --json: {\"queue\",\"recovered\",\"by\"}.\n" },
	{ "status", "usage: pmqctl status [--queues]\n"
		    "pmqd's own view as JSON (ping; --queues: its list of queues this user may control).\n"
		    "Needs pmqd (exit 5 when it is not running, 4 when its socket refuses this user).\n" },
	{ "request", "usage: pmqctl request 'LINE' [--json]\n"
		     "Send one raw control request to pmqd (docs/pmqd.md, \"Control protocol\") and print\n"
		     "its reply. --json prints {\"error\":\"...\"} for an \"err\" reply.\n" },
	{ "promote", "usage: pmqctl promote [--force] [--json]\n"
		     "With an etcd witness configured (pmqd --witness) pmqd refuses unless --force.\n"
		     "Make this standby the primary (epoch + 1); docs/failover.md.\n" },
	{ "rejoin", "usage: pmqctl rejoin [--yes]\n"
		    "Turn a fenced old primary into an empty standby (pmqd must be stopped): its queue\n"
		    "files are moved aside, never deleted; --yes when the node is not fenced.\n"
		    "It reports in text only and refuses --json.\n" },
	{ "shovel", "usage: pmqctl shovel [NAME] [--json]\n"
		    "Status of the pmq-shovel bridges (docs/bridge.md) from their status files in the\n"
		    "queue directory (DIR/.pmq-shovel.NAME.json): direction, state, in flight, confirmed,\n"
		    "sent to pmq, last error. --json: {\"dir\",\"shovels\":[...]}. A NAME with no status\n"
		    "file exits 1.\n" },
	{ "repl", "usage: pmqctl repl [QUEUE] [--json]\n"
		  "Replication status from pmqd: per standby link connected, lag in entries and\n"
		  "microseconds, last confirmed ticket, epochs. --json prints pmqd's repl-stat object.\n" },
};

void print_exit_codes(FILE *f)
{
	fputs("exit status:\n"
	      "  0 ok                      1 operation failed        2 usage (bad option or number)\n"
	      "  3 no such queue or group  4 permission denied       5 pmqd not reachable\n"
	      "  6 nothing received        7 queue or group exists   8 queue full (send)\n",
	      f);
}

void usage(FILE *f)
{
	fputs("usage: pmqctl [--dir DIR] [--socket PATH] [--json|--jsonl] COMMAND [ARGS] [--help]\n"
	      "       pmqctl --version | --help | help COMMAND\n"
	      "commands:\n"
	      "  create QUEUE [options]   make a queue (pmqctl create --help for the options)\n"
	      "  delete QUEUE             remove a queue's file\n"
	      "  list                     queues with depth, in flight, dead letters\n"
	      "  stat QUEUE               counters, rates, attachments and pmqd's watch\n"
	      "  top                      refreshing view of every queue\n"
	      "  send QUEUE [MSG...]      send (no MSG: one message per stdin line)\n"
	      "  recv QUEUE [-n N]        receive and ack (or --nack, --deadletter; --group NAME)\n"
	      "  peek QUEUE [-n N]        show waiting messages without taking them\n"
	      "  tail QUEUE [-n N]        show the last messages sent (--follow for new ones)\n"
	      "  dlq list|replay|purge|recv QUEUE   dead letters\n"
	      "  group create|delete|list|stat QUEUE [GROUP]   consumer groups (fan-out)\n"
	      "  recover QUEUE            recover dead attachments now\n"
	      "  status                   pmqd's own view (JSON)\n"
	      "  request 'LINE'           a raw control request to pmqd\n"
	      "  promote                  make this standby the primary (docs/failover.md)\n"
	      "  rejoin [--yes]           turn a fenced old primary into an empty standby\n"
	      "  repl [QUEUE]             replication: standby links, lag, confirmed ticket, epoch\n"
	      "  shovel [NAME]            pmq-shovel bridges to RabbitMQ: state, in flight, confirmed\n"
	      "--json prints one JSON document; --jsonl one object per line (recv/tail --follow, top).\n"
	      "The queue directory is --dir, else $PMQ_DIR, else /dev/shm/pmq; pmqd's socket is\n"
	      "--socket, else DIR/.pmqd.sock.\n",
	      f);
	print_exit_codes(f);
}

bool print_cmd_help(const char *cmd, FILE *f)
{
	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		if (strcmp(pages[i].name, cmd))
			continue;
		fputs(pages[i].text, f);
		fputs("global options (before the command): --dir DIR, --socket PATH, --json, --jsonl\n", f);
		print_exit_codes(f);
		return true;
	}
	return false;
}
