/*
 * groups.pml - a Promela model of consumer groups (docs/groups.md) AS IMPLEMENTED in
 * src/ring.c (ring_claim_produce, groups_after_claim, ring_publish), src/lane.c
 * (lane_settled, lane_try_consume, lossy_try_consume), src/side.c (side_move with a
 * lane source, side_scan_claim's tag filter) and src/recover.c (settle_main of a group
 * member). See tests/model/README.md ("Consumer groups") for what is modelled and what
 * is abstracted.
 *
 * One producer, two reliable groups A (0) and B (1), one lossy group with one reader,
 * one recoverer. Each reliable group has a consumer that claims through its lane, acks,
 * or dies holding the message; a dead member is replaced at once by a new member of the
 * same group (a new attachment, a new owner index) and the recoverer moves the dead
 * one's message to the side area tagged with its group, for that group only.
 *
 * Every shared-memory access of the C code is one step (a load, a store, a CAS) except
 * the merges listed in README.md. The payload is the ticket number, written by the
 * producer in its own step: a reader whose copy is not its ticket read a torn or
 * overwritten slot.
 *
 * Configuration (spin -D...):
 *   K        tickets sent (default 3: ticket 2 reuses slot 0)
 *   NSIDE    side entries (1|2, default 1)
 *   CRASHES  consumer deaths (0|1, default 1)   CRASH_G  groups whose member may die (mask)
 *   LOSSY    1: the lossy group exists (default 1)
 *   LEASE    1: pmqd's lease moves one message of a live group-A member (free_source = false)
 *   NACK     groups whose members may nack (mask; side_move of their lane, free_source = true)
 *   NA       members of group A at once (1|2; with 2, only group B may die: CRASH_G=2;
 *            the second takes only redeliveries)
 *   NACKCRASH 1: a member may also die in the middle of its nack (after side_move's src
 *            store, after its mark); recovery then settles its side reservation
 *            (settle_side, source_marked)
 *   FIX_SRC_GROUP  side_move's src record names the group, side_help_publish compares
 *            it and source_marked takes the tag from it (the proposed fix of bug E)
 *   FIX_HELP_ONLY  with FIX_SRC_GROUP: source_marked still takes the tag from hflags
 * Mutants (each must FAIL):
 *   MUT_SKIP_LANE2   the producer's gate checks only the first reliable group's lane
 *   MUT_NORECHECK    the lossy reader does not re-read the main word after its copy
 *   MUT_NOMARK       the producer does not mark WRITING before it overwrites a slot
 *                    although a lossy group exists
 *   MUT_WRONG_GROUP  recovery tags a dead member's copy with the other group
 *   MUT_GAP_OFF1     the lossy reader reports c' - c - 1 tickets lost instead of c' - c
 *   MUT_FLOOR_NOWALK a member raises its group's settled floor past the ticket it acked
 *                    without reading the lanes below it
 *   MUT_FLOOR_OFF1   the producer's floor gate admits t - N == floor (one too many)
 * Bug E (found by this model, README.md): side_move's src record named (slot, lap) but
 *   not the group; fixed in src/ (FIX_SRC_GROUP, now the default; -DBUG_E_NO_SRC_GROUP
 *   is the old behaviour, a mutant). NO_COMPLETE_CHECK
 *   and NO_GROUP_CHECK leave out copy_complete_when_published and
 *   no_redelivery_of_other_group, to see what bug E leads to (group B loses the ticket).
 * Probes: -DPROBES records which REACHED(n) paths were taken (printed at exit).
 */

#ifndef K
#define K 3
#endif
#ifndef NSIDE
#define NSIDE 1
#endif
#ifndef CRASHES
#define CRASHES 1
#endif
#ifndef CRASH_G
#define CRASH_G 3
#endif
#ifndef LOSSY
#define LOSSY 1
#endif
#ifndef LEASE
#define LEASE 0
#endif
#ifndef NACK
#define NACK 0
#endif
#ifndef NA
#define NA 1
#endif
#ifndef NACKCRASH
#define NACKCRASH 0
#endif

#define N 2                /* main slots */
#define NG 2               /* reliable groups: A = 0, B = 1 */

/* a control word: lap, state, x (an owner index; for MOVED the side entry) */
#define FREE 0
#define WRITING 1
#define READY 2
#define CLAIMED 3
#define MOVED 4
#define W(l, s, x) ((l) * 256 + (s) * 32 + (x))
#define LAP(w) ((w) / 256)
#define ST(w) (((w) / 32) % 8)
#define X(w) ((w) % 32)
#define MV(l, o, e) W(l, MOVED, (o) * 2 + (e))  /* MOVED(L, owner, side entry) */
#define MOWN(w) (X(w) / 2)
#define MSIDE(w) (X(w) % 2)
#define ESTALE 1
#define ENOSPC 2
/* a member dies in the middle of its side_move (NACKCRASH) */
#define MCRASH(cc) if :: atomic { (cc) && crashes < CRASHES -> crashes++; dead[me] = 1; nunrec++; \
			run member(g, me + 1); REACHED(15) }; goto gone :: else fi
#define ANY_FREE_ENTRY (ST(ectl[0]) == FREE || (NSIDE > 1 && ST(ectl[NSIDE - 1]) == FREE))

/* owner indices: group g's first member 2g, its replacement (or, with NA = 2, group A's
 * second member) 2g + 1; producer 4, recoverer 5, pmqd 6 */
#define PID_P 4
#define PID_R 5
#define PID_D 6

/* src/ has the fix of bug E since it was found (side.c src_make_tagged, recover.c
 * source_marked): it is the default; BUG_E_NO_SRC_GROUP restores the old record, a
 * mutant that must fail */
#ifndef BUG_E_NO_SRC_GROUP
#define FIX_SRC_GROUP
#endif
/* side_move's `src` record (src_make: side bit, index, lap): the C code has no group in
 * it; FIX_SRC_GROUP adds the group (the fix proposed for bug E, README.md) */
#ifdef FIX_SRC_GROUP
#define SRC(g, j, l) ((g) * 64 + (j) * 8 + (l) + 1)
#else
#define SRC(g, j, l) ((j) * 8 + (l) + 1)
#endif

short m[N];                /* main slot words (layout.h ctl) */
byte pay[N];               /* header + payload of the slot: the ticket written there */
short lane[NG * N];        /* lane[g * N + j]: group g's word for main slot j */
byte gh[NG];               /* reliable group heads (a hint, lane.c head_past) */
byte fl[NG];               /* settled floors (record line 3, lane.c lane_floor_advance):
                            * every ticket below that a producer may claim over is settled */
byte tail;                 /* next ticket */
byte gmask = 3;            /* group_masks bits 0..31: the reliable groups A and B */
bit lossy_on = LOSSY;      /* group_masks bits 32..63 non-zero: a lossy group exists */
byte lc;                   /* the lossy group's cursor (its record's head) */
byte lost;                 /* the lossy group's reported lost count */

short ectl[NSIDE];         /* side entries: word (lap = generation) */
byte esrc[NSIDE];          /* the source the copy is of (side_help_publish compares it) */
byte etag[NSIDE];          /* hflags bits 8..15: group index + 1, here the group index */
byte etk[NSIDE];           /* the copy's header: the ticket it carries */
byte ecopy[NSIDE];         /* the copy's payload */

/* ghosts (not shared memory of the C code) */
byte committed;            /* tickets published */
byte acked[NG * K];        /* acks of ticket t by group g */
byte ldel;                 /* lossy deliveries */
byte eorig[NSIDE];         /* the group whose lane a side copy was moved from */
bit ecomplete[NSIDE];      /* the copy (payload, header, tag) is fully written */
bit dead[4];
bit recovered[4];
byte nunrec;               /* dead members not yet recovered */
byte crashes;
bit pdone;
bit dbusy;                 /* pmqd is in the middle of its lease move */
byte fin;                  /* processes finished: producer, the two groups' last members, the reader */

#ifdef PROBES
c_decl {
	unsigned long pmq_probes;
	static void pmq_probes_dump(void) { printf("probes reached: %#lx\n", pmq_probes); }
}
#define REACHED(n) c_code { if (!pmq_probes) atexit(pmq_probes_dump); pmq_probes |= 1UL << n; }
#else
#define REACHED(n) skip
#endif

/* lane_settled for one group: the lane of slot j is at lap >= L and FREE */
#define SETTLED(g, j, L) (ST(lane[(g) * N + (j)]) == FREE && LAP(lane[(g) * N + (j)]) >= (L))
#ifdef MUT_SKIP_LANE2
#define GATE(j, L) SETTLED(0, j, L)
#else
#define GATE(j, L) (SETTLED(0, j, L) && SETTLED(1, j, L))
#endif
/* can ticket t be claimed: its slot FREE(L), or READY(L-1) and settled by every reliable group */
#define OPEN(t) (m[(t) % N] == W((t) / N, FREE, 0) || \
		 ((t) >= N && m[(t) % N] == W((t) / N - 1, READY, 0) && GATE((t) % N, (t) / N)))

/* a reliable group has nothing at its head: lane FREE(L) and the main word not READY(L) nor past L */
#define HEADLANE(g) lane[(g) * N + gh[g] % N]
#define NOWORK_MAIN(g) (HEADLANE(g) == W(gh[g] / N, FREE, 0) && m[gh[g] % N] != W(gh[g] / N, READY, 0) && \
			LAP(m[gh[g] % N]) <= gh[g] / N)
#define SIDE_READY(e, g) (e < NSIDE && ST(ectl[e]) == READY && etag[e] == (g))
#define RESET h = 0; j = 0; L = 0; l = 0; w = 0; e = 0; tk = 0; fromside = 0 /* dead locals: fewer states */
#define SIDE_AVAIL(g) (SIDE_READY(0, g) || SIDE_READY(1, g))
/* the C scan runs while side_hint != 0, which counts every group's READY entries */
#define SIDE_ANY ((ST(ectl[0]) == READY) || (NSIDE > 1 && ST(ectl[NSIDE - 1]) == READY))

/* side_help_publish (side.c:120-135) for the MOVED word mv of group sg's lane, slot sj:
 * publish the entry the mark names if it is still WRITING a copy of this source. The
 * two loads are one snapshot (the publish CAS compares the whole word). */
inline help_publish(sg, sj, mv)
{
	atomic { he = MSIDE(mv); hw = ectl[he]; hok = (ST(hw) == WRITING && esrc[he] == SRC(sg, sj, LAP(mv))) };
	if
	:: hok ->
		atomic {
			if
			:: ectl[he] == hw ->
				bit copy_complete_when_published;
				copy_complete_when_published = ecomplete[he];
#ifndef NO_COMPLETE_CHECK
				assert(copy_complete_when_published);
#endif
				ectl[he] = W(LAP(hw), READY, 0); REACHED(9)
			:: else
			fi
		}
	:: else
	fi;
	d_step { he = 0; hw = 0; hok = 0 }
}

/* slot_free_moved (side.c:157-184) of a lane word: help publish, then MOVED -> FREE(L+1) */
inline free_moved(sg, sj, mv, res)
{
	help_publish(sg, sj, mv);
	atomic {
		if
		:: lane[(sg) * N + (sj)] == mv -> lane[(sg) * N + (sj)] = W(LAP(mv) + 1, FREE, 0); res = 0
		:: else -> res = ESTALE
		fi
	}
}

/* side_unreserve (side.c:75-91) of our own reservation w (its loads and CASes merged:
 * only a helper's publish can change our WRITING word, and then both CASes fail) */
inline unreserve(ue)
{
	atomic { if :: ectl[ue] == w -> esrc[ue] = 0; ectl[ue] = W(LAP(w) + 1, FREE, 0) :: else fi }
}

/* side_move (side.c:227-312) of group sg's lane word sl (CLAIMED) at slot sj, by actor;
 * rc = 0 or ESTALE. Uses the caller's e, w, ok, rc (and he, hw, hok). */
inline side_move(sg, sj, sl, actor, freesrc, cc)
{
	/* side_reserve (side.c:45-72): any FREE entry (the model over-approximates the scan) */
	ok = 0; e = 0;
	do
	:: e >= NSIDE -> break
	:: else ->
		atomic {
			if
			:: ST(ectl[e]) == FREE -> w = W(LAP(ectl[e]), WRITING, actor); ectl[e] = w; ecomplete[e] = 0; ok = 1
			:: else
			fi
		};
		if :: ok -> break :: else -> e++ fi
	od;
	if
	:: !ok -> rc = ENOSPC; REACHED(14)                  /* side area full: the message stays held */
	:: else ->
	/* re-read the source (side.c:236), then record src (side.c:241) */
	atomic {
		if
		:: lane[(sg) * N + (sj)] != sl -> rc = ESTALE
		:: else -> esrc[e] = SRC(sg, sj, LAP(sl)); eorig[e] = sg; rc = 0
		fi
	};
	if
	:: rc -> unreserve(e)
	:: else ->
		MCRASH(cc);
		/* the copy: payload and header (side.c:244-255) */
		atomic {
			bit mover_copies_the_held_message;
			mover_copies_the_held_message = (pay[sj] == LAP(sl) * N + (sj));
			assert(mover_copies_the_held_message);
			ecopy[e] = pay[sj]; etk[e] = LAP(sl) * N + (sj)
		};
		/* the group tag (side.c:258); the copy is complete */
		atomic {
#ifdef MUT_WRONG_GROUP
			etag[e] = 1 - (sg);
#else
			etag[e] = sg;
#endif
			ecomplete[e] = 1
		};
		/* M1 mark: CLAIMED(L,o) -> MOVED(L,o,e) (side.c:295) */
		atomic {
			if
			:: lane[(sg) * N + (sj)] == sl -> lane[(sg) * N + (sj)] = MV(LAP(sl), X(sl), e); rc = 0
			:: else -> rc = ESTALE
			fi
		};
		if
		:: rc -> unreserve(e)
		:: else ->
			MCRASH(cc);
			/* side_publish (side.c:95-118); a lost CAS (a helper published) is ignored */
			atomic {
				if
				:: ectl[e] == w ->
					bit copy_complete_when_published;
					copy_complete_when_published = ecomplete[e];
					assert(copy_complete_when_published);
					ectl[e] = W(LAP(w), READY, 0); REACHED(5)
				:: else -> REACHED(10)
				fi
			};
			if
			:: freesrc -> free_moved(sg, sj, MV(LAP(sl), X(sl), e), ok)
			:: else
			fi
		fi
	fi
	fi;
	d_step { e = 0; w = 0; ok = 0 }
}

proctype producer()
{
	byte t, j, L;
	short w, l, c;
	bit open;
	do
	:: tail >= K -> break
	:: else ->
		/* the look (ring.c:123-141) as one step: tail, the slot word and group_masks are
		 * written by nobody else (one producer, groups constant), and a lane, once
		 * settled for lap L, stays so until this producer publishes lap L: a stale
		 * "not settled" only makes the C code wait and look again */
		d_step {
			t = tail; j = t % N; L = t / N;
			w = m[j];                                   /* P0 ring.c:129 */
			if
			:: w == W(L, FREE, 0) -> open = 1
			:: L > 0 && w == W(L - 1, READY, 0) ->
				assert(gmask == 3);
				/* floor_gate (lane.c): t - N below every reliable group's floor */
#ifdef MUT_FLOOR_OFF1
				open = (t - N <= fl[0] && t - N <= fl[1]);
#else
				open = (t - N < fl[0] && t - N < fl[1]);
#endif
				if
				:: open -> REACHED(18)
				:: else ->
				/* else lane_settled (lane.c:17): one lane load per bit of group_masks */
				l = lane[0 * N + j]; open = (ST(l) == FREE && LAP(l) >= L);
#ifndef MUT_SKIP_LANE2
				if
				:: open -> l = lane[1 * N + j]; open = (ST(l) == FREE && LAP(l) >= L)
				:: else
				fi;
#endif
				fi;
				l = 0
			:: else -> open = 0
			fi
		};
		if
		:: !open ->
			atomic { (OPEN(t)); if :: w == W(L - 1, READY, 0) -> REACHED(1) :: else fi } /* full: wait for space (an ack wakes); REACHED: held back by a lane */
		:: open ->
			/* claim record + tail CAS (ring.c:148-163): one producer, it always wins */
			tail = t + 1;
			c = w;
			if
			:: lossy_on ->
#ifndef MUT_NOMARK
				/* L3 (ring.c:99-106): mark WRITING(L) before any byte is written */
				atomic { assert(m[j] == c); m[j] = W(L, WRITING, PID_P); c = W(L, WRITING, PID_P) }
#else
				skip
#endif
			:: else
			fi;
			/* ring_write_header + payload: no reliable group may still hold the old lap */
			atomic {
				bit no_overwrite_of_unsettled_slot;
				no_overwrite_of_unsettled_slot = (L == 0 || (SETTLED(0, j, L) && SETTLED(1, j, L)));
				assert(no_overwrite_of_unsettled_slot);
				pay[j] = t
			};
			/* P2 publish CAS (ring.c:253): nobody else writes the main word here */
			atomic { assert(m[j] == c); m[j] = W(L, READY, 0); committed++ }
		fi;
		d_step { t = 0; j = 0; L = 0; w = 0; l = 0; c = 0; open = 0 } /* dead locals: fewer states */
	od;
	atomic { pdone = 1; fin++ }
}

/* a reliable group's member (lane_try_consume, side_scan_claim, pmq_ack) */
proctype member(byte g; byte me)
{
	byte h, j, L, e, tk, he, u;
	short l, w, hw;
	byte rc;
	bit ok, hok;
	bit fromside, can_crash, sideonly;
	can_crash = ((CRASH_G >> g) & 1) && me % 2 == 0;
	/* NA = 2: group A's second member takes only redeliveries (the first takes the lane:
	 * the symmetric case, the two swapped, adds states and no behaviour) */
	sideonly = (NA > 1 && me == 1);
again:
	/* wait until there is something to try (the C code polls or sleeps on the data
	 * futex; blocking until the state allows progress is the same for safety) */
	if
	:: atomic { SIDE_ANY -> RESET } -> goto side_try
	:: atomic { !NOWORK_MAIN(g) && !sideonly -> RESET } -> goto main_try
	:: atomic { pdone && NOWORK_MAIN(g) && !SIDE_AVAIL(g) && nunrec == 0 && !dbusy -> RESET } -> goto done
	fi;
side_try:
	e = 0;
	do
	:: e >= NSIDE -> goto again
	:: else ->
		/* C3 (side.c:415) and the tag's plain read (side.c:420) as one snapshot: a word
		 * that changed in between makes the claim CAS below fail */
		d_step { w = ectl[e]; tk = etag[e] };
		if
		:: ST(w) == READY && tk == g ->
			atomic {                                    /* claim CAS side.c:424 */
				if
				:: ectl[e] == w ->
					bit no_redelivery_of_other_group;
					ectl[e] = W(LAP(w), CLAIMED, me); fromside = 1;
					/* the copy is ours now: its header and payload */
					no_redelivery_of_other_group = (eorig[e] == g);
#ifndef NO_GROUP_CHECK
					assert(no_redelivery_of_other_group);
#endif
					tk = etk[e]; assert(ecopy[e] == tk);
					REACHED(2)
				:: else -> fromside = 0
				fi
			};
			if :: fromside -> goto holding :: else fi
		:: ST(w) == READY && tk != g -> REACHED(3)     /* the other group's entry: skipped */
		:: else
		fi;
		e++
	od;
main_try:
	/* the head hint, the lane word and the main word as one snapshot (lane.c:56-73):
	 * the hint is written only by the group's members (one live at a time here), lane
	 * and main word only move forward, and a stale lane makes the claim CAS fail */
	atomic { h = gh[g]; j = h % N; L = h / N; l = lane[g * N + j]; w = m[j] };
	if
	:: LAP(l) > L || (LAP(l) == L && ST(l) != FREE) ->
		atomic { if :: gh[g] == h -> gh[g] = h + 1 :: else fi }; goto again  /* head_past */
	:: LAP(l) < L -> goto again
	:: LAP(l) == L && ST(l) == FREE && w == W(L, READY, 0) ->
		atomic {                                        /* C2 lane.c:79 (held record first) */
			if
			:: lane[g * N + j] == l ->
				lane[g * N + j] = W(L, CLAIMED, me); fromside = 1;
				tk = h; assert(pay[j] == tk)            /* zero copy: the consumer reads the slot */
			:: else -> fromside = 0
			fi
		};
		if :: !fromside -> goto again :: else fi;
		fromside = 0;
		atomic { if :: gh[g] == h -> gh[g] = h + 1 :: else fi };  /* head_past */
		goto holding
	:: LAP(l) == L && ST(l) == FREE && LAP(w) > L ->
		/* lane.c:93: the main word passed the group's lap: only an aborted ticket may do
		 * that (producers do not die in this model), never an overwrite */
		atomic {
			bit group_skipped_unsettled_message;
			group_skipped_unsettled_message = 1;
			assert(!group_skipped_unsettled_message)
		}
	:: else -> goto again                               /* nothing published yet */
	fi;
holding:
	if
	:: fromside ->                                      /* ack of a redelivery: side_free */
		atomic { assert(ectl[e] == W(LAP(ectl[e]), CLAIMED, me));
			 esrc[e] = 0; ectl[e] = W(LAP(ectl[e]) + 1, FREE, 0);  /* side_free: src cleared first */
			 acked[g * K + tk]++ }
	:: !fromside ->                                     /* A1 pmq_ack: CAS lane CLAIMED -> FREE(L+1) */
		atomic {
			bit holder_bytes_unchanged;
			holder_bytes_unchanged = (pay[j] == tk);
			assert(holder_bytes_unchanged);
			if
			:: lane[g * N + j] == W(L, CLAIMED, me) ->
				lane[g * N + j] = W(L + 1, FREE, 0); acked[g * K + tk]++; rc = 0;
				/* lane_floor_advance (lane.c), here after every ack (the C code: at a
				 * lane line's or a batch's end; a floor that lags only sends the
				 * producer to the lanes). One step: lanes only settle forward, and
				 * its CAS only raises the floor */
#ifdef MUT_FLOOR_NOWALK
				if :: fl[g] < tk + 1 -> fl[g] = tk + 1 :: else fi
#else
				u = (tk + 1 > N -> tk + 1 - N : 0);
				if :: u < fl[g] -> u = fl[g] :: else fi;
				do
				:: LAP(lane[g * N + u % N]) > u / N -> u++
				:: else -> break
				od;
				if :: u > fl[g] -> fl[g] = u; REACHED(19) :: else fi;
				u = 0
#endif
			:: else -> rc = ESTALE
			fi
		};
		if :: rc -> goto stale :: else fi
	:: ((NACK >> g) & 1) && !fromside ->              /* pmq_nack (ring.c:887-894) */
		side_move(g, j, W(L, CLAIMED, me), me, 1, NACKCRASH && can_crash);
		if
		:: rc == ESTALE -> goto stale
		:: rc == ENOSPC -> rc = 0; goto holding         /* still ours */
		:: else -> REACHED(11)
		fi
	:: atomic { !fromside && can_crash && crashes < CRASHES -> /* dies holding the message */
		crashes++; dead[me] = 1; nunrec++; run member(g, me + 1); REACHED(4) };
		goto gone
	fi;
	fromside = 0;
	goto again;
stale:
	/* settle_stale (ring.c:779-789): the lease moved it; free the pinned word if it
	 * still names us (after helping publish the copy) */
	rc = 0;
	atomic { w = lane[g * N + j]; REACHED(12) };
	if
	:: ST(w) == MOVED && LAP(w) == L && MOWN(w) == me -> free_moved(g, j, w, rc)
	:: else
	fi;
	rc = 0;
	goto again;
done:
	fin++;
gone:
	skip
}

/* recover.c settle_main for a dead member of group g: its lane words go to the side
 * area with the group's tag (side_move with free_source, side.c:227-312). Recovery
 * walks both lane words of the group (a superset of the held-area records, which are
 * written before the claim names the member). */
proctype recoverer()
{
	byte x, g, j, e, he, me, sj, sl, sg;                /* me: unused (MCRASH) */
	short l, w, hw;
	byte rc;
	bit ok, hok, stuck;
end:
	if
	:: atomic { dead[0] && !recovered[0] -> x = 0 }
	:: atomic { dead[2] && !recovered[2] -> x = 2 }
	fi;
	g = x / 2;
pass:
	/* settle_pass (recover.c:190): the lane words, then the side entries */
	j = 0;
	do
	:: j >= N -> break
	:: else ->
		l = lane[g * N + j];                            /* settle_main recover.c:68 */
		if
		:: ST(l) == CLAIMED && X(l) == x ->
			side_move(g, j, l, PID_R, 1, 0);
			if
			:: rc == ESTALE -> rc = 0                   /* look again (bug B) */
			:: rc == ENOSPC -> rc = 0; stuck = 1; j++   /* stays held: a later pass retries */
			:: else -> j++
			fi
		:: ST(l) == MOVED && MOWN(l) == x ->
			free_moved(g, j, l, rc);                    /* a lease's pinned word, or a dead mover's mark */
			if :: rc -> rc = 0 :: else -> j++ fi
		:: else -> j++
		fi;
		d_step { l = 0 }
	od;
#if NACKCRASH
	/* only a member that died in its nack leaves a side entry naming it (the model has no
	 * dead member holding a redelivery): without NACKCRASH the walk finds nothing */
	e = 0;
	do
	:: e >= NSIDE -> break
	:: else ->
		w = ectl[e];                                    /* settle_side R1 (recover.c:104) */
		if
		:: ST(w) == WRITING && X(w) == x ->
			/* a dead actor's copy: publish it iff its source is marked (source_marked,
			 * recover.c:34): src, the tag, then the source's word as one snapshot (a
			 * dead actor's src and hflags do not change) */
			atomic {
				sl = (esrc[e] - 1) % 8; sj = ((esrc[e] - 1) / 8) % 8;
#if defined(FIX_SRC_GROUP) && !defined(FIX_HELP_ONLY)
				sg = (esrc[e] - 1) / 64;                /* the tag the actor recorded */
#else
				sg = etag[e];                           /* hflags: written after src */
#endif
				hok = (esrc[e] != 0 && sj < N && ST(lane[sg * N + sj]) == MOVED &&
				       LAP(lane[sg * N + sj]) == sl && MSIDE(lane[sg * N + sj]) == e)
			};
			if
			:: hok ->
				atomic {
					if
					:: ectl[e] == w ->
						bit copy_complete_when_published;
						copy_complete_when_published = ecomplete[e];
						assert(copy_complete_when_published);
						ectl[e] = W(LAP(w), READY, 0); REACHED(16)
					:: else
					fi
				}
			:: else -> unreserve(e); REACHED(17)
			fi;
			d_step { sl = 0; sj = 0; sg = 0; hok = 0 }
		:: else
		fi;
		e++
	od;
	atomic { e = 0; w = 0 };
#endif
	if
	:: stuck -> stuck = 0; (ANY_FREE_ENTRY); goto pass
	:: else
	fi;
	atomic { recovered[x] = 1; nunrec-- };
	goto end;
gone:
	skip
}

/* pmqd's lease (pmq_requeue_holder, queue.c:630-660): one round, on a lane word of
 * group A that a live member holds; the holder keeps its bytes (free_source = false) */
proctype pmqd()
{
	byte j, e, he, g, me;                                /* g, me: unused (MCRASH) */
	short l, w, hw;
	byte rc;
	bit ok, hok;
end:
	if
	:: atomic { ST(lane[0]) == CLAIMED && !dead[X(lane[0])] -> j = 0; l = lane[0]; dbusy = 1 }
	:: atomic { ST(lane[1]) == CLAIMED && !dead[X(lane[1])] -> j = 1; l = lane[1]; dbusy = 1 }
	fi;
	side_move(0, j, l, PID_D, 0, 0);
	atomic { if :: !rc -> REACHED(13) :: else fi; dbusy = 0 };
gone:
	skip
}

/* a lossy group's reader (lossy_try_consume, lane.c:110-170). Its cursor is written by
 * nobody else (one reader) and read by nobody else: its load goes with the slot word's
 * load, its CAS (which then always wins) with the step before it. */
proctype lossy()
{
	byte c, j, L, cp, nx;
	short w;
	do
	:: d_step { c = lc; j = c % N; L = c / N;           /* lane.c:115 (relaxed) */
		    w = m[j] }                              /* L1 lane.c:119 */
		if
		:: w == W(L, READY, 0) ->
			cp = pay[j];                                /* slot_snapshot + memcpy */
			atomic {
#ifndef MUT_NORECHECK
				if
				:: m[j] != w -> REACHED(6); goto retry  /* L2 lane.c:129: overwritten while copying */
				:: else
				fi;
#endif
				/* the cursor CAS lane.c:132, and the delivery */
				bit lossy_copy_is_its_ticket;
				assert(lc == c);
				lc = c + 1; ldel++;
				lossy_copy_is_its_ticket = (cp == c);
				assert(lossy_copy_is_its_ticket);
				REACHED(7)
			}
		:: LAP(w) > L ->
			/* overwritten: resume at the oldest ticket still there (lane.c:154-163):
			 * the tail load (acquire) and the cursor CAS */
			atomic {
				bit gap_is_exactly_the_tickets_skipped, skipped_tickets_were_overwritten;
				nx = (tail > N -> tail - N : 0);
				if :: nx < c + 1 -> nx = c + 1 :: else fi;
				assert(lc == c);
				lc = nx;
#ifdef MUT_GAP_OFF1
				lost = lost + nx - c - 1;
#else
				lost = lost + nx - c;
#endif
				/* every skipped ticket's slot was claimed again */
				skipped_tickets_were_overwritten = (nx - 1 + N < tail);
				assert(skipped_tickets_were_overwritten);
				/* deliveries + reported losses account for every ticket below the cursor */
				gap_is_exactly_the_tickets_skipped = (ldel + lost == lc);
				assert(gap_is_exactly_the_tickets_skipped);
				REACHED(8)
			}
		:: else ->
			/* nothing published there yet: wait for the word to change, or finish */
			if
			:: m[j] != w
			:: pdone && lc >= tail -> fin++; break
			fi
		fi;
retry:
		skip;
		d_step { c = 0; j = 0; L = 0; w = 0; cp = 0; nx = 0 } /* dead locals */
	od
}

init
{
	byte t, g, e;
	atomic {
		run producer();
		run member(0, 0);
		run member(1, 2);
		if :: LOSSY -> run lossy() :: else fi;
		run recoverer();
		if :: NA > 1 -> run member(0, 1) :: else fi;
		if :: LEASE -> run pmqd() :: else fi
	};
	/* the end: every process finished (the recoverer waits at its end label) */
	(fin == 3 + LOSSY + NA - 1 && nunrec == 0 && !dbusy);
	atomic {
		bit every_message_acked_by_each_group, lossy_accounts_every_ticket, all_words_settled;
		assert(tail == K && committed == K);
		t = 0;
		do
		:: t >= K -> break
		:: else ->
			g = 0;
			do
			:: g >= NG -> break
			:: else ->
				every_message_acked_by_each_group = (acked[g * K + t] >= 1);
				assert(every_message_acked_by_each_group);
				g++
			od;
			t++
		od;
		lossy_accounts_every_ticket = (!LOSSY || (ldel + lost == lc && lc == K));
		assert(lossy_accounts_every_ticket);
		e = 0;
		all_words_settled = 1;
		do
		:: e >= NSIDE -> break
		:: else -> if :: ST(ectl[e]) != FREE -> all_words_settled = 0 :: else fi; e++
		od;
		assert(all_words_settled)
	}
}
