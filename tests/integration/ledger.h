/*
 * ledger.h - what crash tests know about every message: sent (its send
 * returned 0), seen as a first delivery, seen as a redelivery, acked, and
 * the ticket it carried. Kept in MAP_SHARED memory so that children that
 * die by SIGKILL leave their record behind. The invariants the torture tests check:
 * nothing lost, nothing that was never sent, duplicates only as
 * redeliveries (delivery count > 1), one ticket per message.
 */
#ifndef PMQ_LEDGER_H
#define PMQ_LEDGER_H

#include "internal.h"
#include "itest.h"

#define LG_PROD 4
#define LG_SEQ 1024

struct ledger {
	_Atomic uint32_t sent[LG_PROD][LG_SEQ];
	_Atomic uint32_t first[LG_PROD][LG_SEQ];  /* deliveries with delivery_count == 1 */
	_Atomic uint32_t again[LG_PROD][LG_SEQ];  /* deliveries with delivery_count > 1 */
	_Atomic uint32_t acked[LG_PROD][LG_SEQ];
	_Atomic uint32_t maxcount[LG_PROD][LG_SEQ]; /* highest delivery_count seen */
	_Atomic uint64_t ticket[LG_PROD][LG_SEQ];   /* ticket + 1 at first sight */
	_Atomic uint32_t bad;                       /* corrupt, unknown or re-ticketed messages */
	_Atomic uint32_t flag[8];                   /* handshakes between parent and children */
};

static struct ledger *LG;

static inline void ledger_new(void)
{
	if (LG)
		munmap(LG, sizeof(*LG));
	LG = itest_shared(sizeof(*LG));
}

/* Send (producer, seq) and record it as sent when pmq_send says so. */
static inline int ledger_send(pmq_t *q, uint32_t p, uint32_t s)
{
	uint8_t buf[128];
	size_t len = itest_make(buf, sizeof(buf), p, s);
	int rc = pmq_send(q, buf, len, 0);
	if (rc == 0)
		atomic_store(&LG->sent[p][s], 1);
	return rc;
}

/* Record a delivery; returns its seq (or -1 for a bad message), producer in *pp. */
static inline int ledger_seen(const struct pmq_msg *m, uint32_t *pp)
{
	uint32_t p, s;
	if (!itest_check(m->data, m->len, &p, &s) || p >= LG_PROD || s >= LG_SEQ) {
		atomic_fetch_add(&LG->bad, 1);
		fprintf(stderr, "ledger: corrupt or foreign message (len %u, ticket %llu)\n", m->len,
			(unsigned long long)m->ticket);
		return -1;
	}
	if (m->delivery_count <= 1)
		atomic_fetch_add(&LG->first[p][s], 1);
	else
		atomic_fetch_add(&LG->again[p][s], 1);
	uint32_t mc = atomic_load(&LG->maxcount[p][s]);
	while (m->delivery_count > mc && !atomic_compare_exchange_weak(&LG->maxcount[p][s], &mc, m->delivery_count))
		;
	uint64_t expect = 0;
	if (!atomic_compare_exchange_strong(&LG->ticket[p][s], &expect, m->ticket + 1) && expect != m->ticket + 1) {
		atomic_fetch_add(&LG->bad, 1);
		fprintf(stderr, "ledger: message %u/%u came with ticket %llu, earlier %llu\n", p, s,
			(unsigned long long)m->ticket, (unsigned long long)(expect - 1));
	}
	*pp = p;
	return (int)s;
}

static inline void ledger_acked(uint32_t p, int s)
{
	if (s >= 0)
		atomic_fetch_add(&LG->acked[p][s], 1);
}

/* Receive and ack everything until the queue stays empty for 100 ms; returns how many. */
static inline int ledger_drain(pmq_t *q)
{
	int n = 0;
	struct pmq_msg m;
	int rc;
	while ((rc = pmq_recv_timeout(q, &m, 100 * 1000000ull)) == 0) {
		uint32_t p = 0;
		int s = ledger_seen(&m, &p);
		rc = pmq_ack(q, &m);
		if (rc) {
			fprintf(stderr, "ledger_drain: ack: %s (%s)\n", pmq_strerror(rc), pmq_errmsg());
			atomic_fetch_add(&LG->bad, 1);
		}
		ledger_acked(p, s);
		n++;
	}
	if (rc != -ETIMEDOUT) {
		fprintf(stderr, "ledger_drain: recv: %s (%s)\n", pmq_strerror(rc), pmq_errmsg());
		atomic_fetch_add(&LG->bad, 1);
	}
	return n;
}

/* The invariants; returns the number of violations (printed). */
static inline int ledger_verify(void)
{
	int bad = (int)atomic_load(&LG->bad);
	for (uint32_t p = 0; p < LG_PROD; p++) {
		for (uint32_t s = 0; s < LG_SEQ; s++) {
			uint32_t sent = atomic_load(&LG->sent[p][s]), first = atomic_load(&LG->first[p][s]);
			uint32_t again = atomic_load(&LG->again[p][s]), acked = atomic_load(&LG->acked[p][s]);
			if (!sent && (first || again)) {
				fprintf(stderr, "message %u/%u was delivered but never sent\n", p, s);
				bad++;
			}
			if (sent && !acked) {
				fprintf(stderr, "message %u/%u was sent but never acked (lost)\n", p, s);
				bad++;
			}
			if (first > 1) {
				fprintf(stderr, "message %u/%u delivered %u times with delivery_count 1\n", p, s, first);
				bad++;
			}
			if (acked > 1 && again == 0) {
				fprintf(stderr, "message %u/%u acked %u times without a redelivery\n", p, s, acked);
				bad++;
			}
		}
	}
	return bad;
}

/* ---- looking at shared memory directly -------------------------------------------- */

static inline unsigned count_main(const pmq_t *q, unsigned state)
{
	unsigned n = 0;
	for (uint32_t j = 0; j < q->slot_count; j++)
		n += ctl_state(atomic_load(&main_slot(q, j)->ctl)) == state;
	return n;
}

/* format 2: tickets in [head, tail) whose slot still reads FREE of their lap: claimed by
 * a producer (its attachment's record names them) and not yet published or aborted */
static inline unsigned count_main_claimed(const pmq_t *q)
{
	uint64_t head = atomic_load(&q->hdr->head), tail = atomic_load(&q->hdr->tail);
	if (tail - head > q->slot_count)
		head = tail - q->slot_count;
	unsigned n = 0;
	for (uint64_t t = head; t < tail; t++)
		n += ctl_free_at(atomic_load(&main_slot(q, t & q->slot_mask)->ctl), (uint32_t)(t >> q->slot_shift));
	return n;
}

static inline unsigned count_side(const pmq_t *q, unsigned state)
{
	unsigned n = 0;
	for (uint32_t e = 0; e < q->side_count; e++)
		n += ctl_state(atomic_load(&side_slot(q, e)->ctl)) == state;
	return n;
}

#endif /* PMQ_LEDGER_H */
