/*
 * pmq.pml - a Promela model of the pmq slot protocol AS IMPLEMENTED in
 * src/ring.c, src/side.c and src/recover.c (docs/format.md), checked with spin.
 * See tests/model/README.md for what is modelled and what is abstracted.
 *
 * Every shared-memory access of the C code is one step of the model (a load, a
 * store, a CAS), except where README.md lists a sound merge; local computation is
 * folded into the step next to it. A
 * process may crash before any step that writes shared memory (a crash
 * between two loads is the same as a crash before the first): it stops, its
 * token is free from then on, and only then may the recoverer take it.
 *
 * Configuration (spin -D...):
 *   NP  producers (1|2)         K     messages per producer
 *   NC  consumers (1|2)         LEASE 1: a pmqd process does lease moves
 *   CRASHES  total crash budget RCRASH 1: the recoverer may crash, a 2nd one takes over
 *   CRASH_P/C/D  producers / consumers (bit mask) / pmqd may crash
 *   MAXD  max_deliveries        RCV   receptions per consumer   LEASES lease rounds
 *   DLQOPS 1: pmq_dlq_replay and pmq_dlq_purge run concurrently (one entry each)
 * Old bugs, fixed in src/ and kept as mutants that must FAIL (README.md, bugs A-C):
 *   BUG_UNRESERVE  recovery's unreserve wipes `src` unconditionally (bug A: message lost)
 *   BUG_ESTALE     settle_owner ignores -ESTALE and frees the owner (bug B: wedge)
 *   BUG_REPLAY     pmq_dlq_replay writes an entry it does not own (bug C: wrong dead letter)
 *   BUG_CREDIT     a dead-letter credit is taken before the entry records it, and given
 *                  back after the entry changes (issue 9 item 11: a crash leaks it)
 * Dead-letter credits: DLQCAP (default 9: never short) bounds dlq_count; an entry holds
 *   a credit while its reason is set and it is WRITING, CLAIMED or DEAD.
 * Mutations (negative tests, must FAIL):
 *   MUT_NOTOKEN    recovery does not wait for the owner's death (acts without the token)
 *   MUT_NOREREAD   side_move does not re-read the source after reserving (expected: still safe)
 *   MUT_LEASEFREE  a lease move frees the source at once (free_source = true)
 *   NO_OWNER_CHECK leave out the final "no word names a gone owner" check
 * Probes: -DPROBES records which REACHED(n) paths were taken (printed at exit);
 *   -DREACH=n makes reaching probe n an assertion violation.
 */

#ifndef NP
#define NP 1
#endif
#ifndef K
#define K 2
#endif
#ifndef NC
#define NC 2
#endif
#ifndef LEASE
#define LEASE 1
#endif
#ifndef LEASES
#define LEASES 1
#endif
#ifndef CRASHES
#define CRASHES 2
#endif
#ifndef RCRASH
#define RCRASH 0
#endif
#ifndef CRASH_P
#define CRASH_P 1
#endif
#ifndef CRASH_C
#define CRASH_C 3   /* bit 0: consumer 0 may crash, bit 1: consumer 1 */
#endif
#ifndef CRASH_D
#define CRASH_D 1
#endif
#ifndef MAXD
#define MAXD 3
#endif
#ifndef RCV
#define RCV 2
#endif
#ifndef DLQCAP
#define DLQCAP 9
#endif
#ifndef DLQOPS
#define DLQOPS 0   /* 1: a pmqctl replays one dead letter, another purges one */
#endif

#define NS 2            /* main ring slots */
#define NE 2            /* side entries */
#define NM (NP * K)     /* messages */

/* attachment indices */
#define C0 NP
#define PMQD (NP + NC)
#define NW (NP + NC + LEASE + 2 * DLQOPS) /* workers: producers, consumers, pmqd, dlq admins */
#define R1 NW
#define R2 (NW + 1)
#define NA (NW + 2)
#define NOWN 7                 /* PMQ_NO_OWNER */
#define NOTOK 255

/* slot states (layout.h enum slot_state) */
#define FREE 0
#define WRITING 1
#define READY 2
#define CLAIMED 3
#define MOVED 4
#define DEAD 5

#define ESTALE 1
#define ENOSPC 2
#define EDQUOT 3

/* the control word: lap, state, owner, side index of a MOVED mark; compared whole */
#define MK(l, s, o, x) ((((l) * 8 + (s)) * 8 + (o)) * 2 + (x))
#define XOF(c) ((c) % 2)
#define OWN(c) (((c) / 2) % 8)
#define ST(c) (((c) / 16) % 8)
#define LAP(c) ((c) / 128)
#define FREE0 14 /* MK(0, FREE, NOWN, 0) */

/* side entry source word (SRC_VALID | side | index | lap); 0 = none */
#define SRCMK(sd, i, l) (128 + (sd) * 64 + (i) * 32 + (l))
#define SRC_VALID(s) ((s) >= 128)
#define SRC_SIDE(s) (((s) / 64) % 2)
#define SRC_IDX(s) (((s) / 32) % 2)
#define SRC_LAP(s) ((s) % 32)

/* ---- shared memory ---- */
int mctl[NS] = FREE0;  /* main slots: control word */
byte mmid[NS];         /* payload: message id (0 = never written) */
byte mdlv[NS];         /* header: deliveries */
int ectl[NE] = FREE0;  /* side entries */
byte emid[NE];
byte edlv[NE];
bit ersn[NE];          /* reason != DR_NONE: publish as DEAD */
byte esrc[NE];         /* source word */
byte tail;             /* tickets: only claims move it (and helpers over published ones) */
byte claim[NA];        /* producers' claim records: ticket + 1 (0 = none), attachment line */
bit closed[NA];        /* closed normally: its entry is FREE, its record ignored (claim.c) */
byte head;
byte hint;             /* side_hint */
byte dlq;              /* dlq_count: dead-letter credits taken */

/* ---- liveness (attachment table + tokens) ---- */
bit dead[NA];
bit recovered[NA];     /* attachment entry freed by recovery */
bit stuck[NA];         /* last recovery of it answered -ENOSPC */
byte tok[NA] = NOTOK;  /* recoverer holding the dead owner's token */
byte budget = CRASHES;
byte nwfin;            /* workers finished (normally or crashed) */
bit recdone;

/* ---- ghost state ---- */
bit sent[NM + 1];      /* committed (READY published) */
byte acked[NM + 1];    /* successful acks */
bit deliv[NM + 1];     /* delivered at least once */
byte mhold[NS];        /* bit per consumer still reading this slot's bytes */
hidden byte reason_matches_deliveries; /* a copy is published DEAD iff its count says so */
byte ehold[NE];

#define CP if :: (budget > 0 && crashable) -> budget--; goto crashed :: true fi

/* reachability probes: with -DREACH=n, reaching probe n is an "error" (run_model.sh
 * expects it, which shows the path is not dead code in that configuration) */
#ifdef REACH
#define REACHED(n) assert(REACH != n)
#elif defined(PROBES)
/* the verifier records which probes any explored path reached (a C global, not part
 * of the state) and prints the set when it exits */
c_decl {
	unsigned long pmq_probes;
	static void pmq_probes_dump(void) { printf("probes reached: %#lx\n", pmq_probes); }
}
#define REACHED(n) c_code { if (!pmq_probes) atexit(pmq_probes_dump); pmq_probes |= 1UL << n; }
#else
#define REACHED(n) skip
#endif

#define SRCCTL(sd, i) ((sd) -> ectl[i] : mctl[i])
#define SRCMID(sd, i) ((sd) -> emid[i] : mmid[i])
#define SRCDLV(sd, i) ((sd) -> edlv[i] : mdlv[i])
#define SETCTL(sd, i, v) if :: (sd) -> ectl[i] = v :: else -> mctl[i] = v fi

/* a credit given back: saturating (one recorded but never taken may come back) */
#define DLQ_GIVE if :: dlq > 0 -> dlq-- :: else fi

#define NREADY ((ST(ectl[0]) == READY) + (ST(ectl[1]) == READY))

/* ------------------------------------------------------------------------- */
/* side.c                                                                     */
/* ------------------------------------------------------------------------- */

/* side_unreserve: store src = 0, then CAS WRITING(g,a) -> FREE(g+1) */
inline side_unreserve(ue, uwr)
{
#ifndef BUG_UNRESERVE
	/* the fix: clear src as side_free does, by a CAS from the value read while the
	 * entry was still our WRITING word, so a stale caller cannot wipe a new owner's src */
	atomic { sfV = esrc[ue]; sfRc = (ectl[ue] != uwr -> ESTALE : 0) }
	if
	:: sfRc == 0 -> atomic { CP; if :: esrc[ue] == sfV -> esrc[ue] = 0 :: else fi }
	:: else
	fi;
#else
	atomic { CP; esrc[ue] = 0 }                                 /* side.c:50 */
#endif
	atomic { CP; if :: ectl[ue] == uwr -> ectl[ue] = MK(LAP(uwr) + 1, FREE, NOWN, 0); sfRc = 0 :: else -> sfRc = ESTALE fi } /* :53 */
}

/* side_publish: CAS WRITING(g,a) -> READY(g) | DEAD(g) as e->reason says */
inline side_publish(pe, pwr)
{
	atomic { CP;                                                /* side.c:61-65 */
		if
		:: ectl[pe] == pwr -> ectl[pe] = MK(LAP(pwr), (ersn[pe] -> DEAD : READY), NOWN, 0);
			reason_matches_deliveries = (ersn[pe] == (edlv[pe] >= MAXD)); assert(reason_matches_deliveries);
			if :: ersn[pe] -> REACHED(9) :: else fi
		:: else
		fi }
}

/* side_help_publish: publish e if it is WRITING with source (side, idx, lap) */
inline side_help_publish(he, hside, hidx, hlap)
{
	/* side.c:79-84: load ctl, load src, CAS; one step (a lost CAS returns like a failed check) */
	atomic { CP;
		if
		:: ST(ectl[he]) == WRITING && esrc[he] == SRCMK(hside, hidx, hlap) ->
			ectl[he] = MK(LAP(ectl[he]), (ersn[he] -> DEAD : READY), NOWN, 0); REACHED(1);
			reason_matches_deliveries = (ersn[he] == (edlv[he] >= MAXD)); assert(reason_matches_deliveries)
		:: else
		fi }
}

/* side_free: v = src; ctl == expect?; CAS src v -> 0; CAS ctl expect -> FREE(g+1).
 * gid: ghost, the message id acked when this free is an ack (0: none) */
inline side_free(se, sexp, sgen, sfRc, gid)
{
	atomic { sfV = esrc[se]; sfRc = (ectl[se] != sexp -> ESTALE : 0) } /* side.c:92-93 */
	if
	:: sfRc == 0 ->
		atomic { CP; if :: esrc[se] == sfV -> esrc[se] = 0 :: else fi } /* :95 */
		atomic { CP;                                             /* :98 */
			if
			:: ectl[se] == sexp -> ectl[se] = MK(sgen + 1, FREE, NOWN, 0);
				if :: gid != 0 -> acked[gid]++; assert(acked[gid] == 1) :: else fi
			:: else -> sfRc = ESTALE
			fi }
	:: else
	fi
}

/* slot_free_moved: help publish the copy, then free the MOVED source */
inline slot_free_moved(fside, fidx, fmoved, fmRc)
{
	side_help_publish(XOF(fmoved), fside, fidx, LAP(fmoved));      /* side.c:108 */
	if
	:: fside ->
		/* a moved redelivery that recorded a credit (its requeue died after the record)
		 * gives it back: first, and again only what it gave if the free loses (one
		 * process frees a MOVED word: its live holder, or the recoverer holding its token) */
		atomic { hpC = (ersn[fidx] && ectl[fidx] == fmoved) }
		if :: hpC -> atomic { CP; if :: dlq > 0 -> dlq-- :: else -> hpC = 0 fi } :: else fi;
		side_free(fidx, fmoved, LAP(fmoved), fmRc, 0);              /* :111 */
		if :: fmRc != 0 && hpC -> atomic { CP; dlq++; hpC = 0 } :: else -> hpC = 0 fi
	:: else ->
		atomic { CP;                                             /* :114 */
			if
			:: mctl[fidx] == fmoved -> mctl[fidx] = MK(LAP(fmoved) + 1, FREE, NOWN, 0); fmRc = 0
			:: else -> fmRc = ESTALE
			fi }
	fi
}

/* side_reserve: scan from the handle's side_scan for FREE(g), CAS -> WRITING(g, actor) */
inline side_reserve(ract, rscan)
{
	/* side.c:21-44 scans from the handle's side_scan: load, CAS FREE(g) -> WRITING(g, actor).
	 * Abstraction: one step takes any FREE entry (the start rotates), or answers -ENOSPC
	 * when none is FREE. */
	atomic { CP;
		if
		:: ST(ectl[0]) == FREE -> mvE = 0; mvWr = MK(LAP(ectl[0]), WRITING, ract, 0); ectl[0] = mvWr; mvRc = 0
		:: ST(ectl[1]) == FREE -> mvE = 1; mvWr = MK(LAP(ectl[1]), WRITING, ract, 0); ectl[1] = mvWr; mvRc = 0
		:: else -> mvRc = ENOSPC
		fi }
}

/* side_move (side.c:143-211) */
inline side_move(mact, mside, midx, msctl, mfree, madd, mscan)
{
	side_reserve(mact, mscan);
	if
	:: mvRc == 0 ->
		/* :154 re-read the source; :159-182 record the source, copy, decide, hint++ */
		atomic { CP;
#ifndef MUT_NOREREAD
			if
			:: SRCCTL(mside, midx) != msctl -> mvRc = ESTALE
			:: else ->
#endif
				esrc[mvE] = SRCMK(mside, midx, LAP(msctl));
				assert(ehold[mvE] == 0);   /* nobody reads the entry we write */
				emid[mvE] = SRCMID(mside, midx);
				edlv[mvE] = SRCDLV(mside, midx) + madd;
				mvRsn = (edlv[mvE] >= MAXD);
#ifndef BUG_CREDIT
				ersn[mvE] = mvRsn;   /* the record comes before the credit */
#endif
				if :: !mvRsn -> hint++ :: else fi
#ifndef MUT_NOREREAD
			fi
#endif
		}
		if
		:: mvRc == 0 && mvRsn ->                                 /* dlq_credit_take */
			atomic { CP; if :: dlq < DLQCAP -> dlq++ :: else -> mvRc = EDQUOT fi }
#ifdef BUG_CREDIT
			if :: mvRc == 0 -> atomic { CP; ersn[mvE] = mvRsn } :: else fi
#endif
			if
			:: mvRc == EDQUOT -> atomic { CP; ersn[mvE] = 0 }; REACHED(17); side_unreserve(mvE, mvWr)
			:: else
			fi
		:: else
		fi
		if
		:: mvRc == ESTALE -> side_unreserve(mvE, mvWr)           /* :155 */
		:: mvRc == EDQUOT -> skip
		:: else ->
			mvMark = MK(LAP(msctl), MOVED, OWN(msctl), mvE);
			atomic { CP;                                     /* :193 the mark */
				if
				:: SRCCTL(mside, midx) == msctl -> SETCTL(mside, midx, mvMark);
					if :: !mfree -> REACHED(2) :: else fi;
					if :: !mfree && mside -> REACHED(3) :: else fi
				:: else -> mvRc = ESTALE; REACHED(16); if :: !mvRsn -> hint-- :: else fi /* :195-198 */
				fi }
			if
			:: mvRc == ESTALE && mvRsn ->                    /* credit back, then un-record */
#ifndef BUG_CREDIT
				atomic { CP; DLQ_GIVE }; atomic { CP; ersn[mvE] = 0 }
#else
				atomic { CP; ersn[mvE] = 0 }; atomic { CP; DLQ_GIVE }
#endif
			:: else
			fi;
			if
			:: mvRc == ESTALE -> side_unreserve(mvE, mvWr)   /* :199 */
			:: else ->
				side_publish(mvE, mvWr);                 /* :204 */
				if
				:: mfree -> slot_free_moved(mside, midx, mvMark, fmRc) /* :209 */
				:: else
				fi
			fi
		fi
	:: else
	fi
}

/* side_requeue_in_place (side.c:213-254) */
inline side_requeue(qi, qclaimed, qadd)
{
	atomic { rqRc = (ectl[qi] != qclaimed -> ESTALE : 0) }        /* :217 */
	if
	:: rqRc == 0 ->
		atomic { CP;                                             /* :219-236 */
			rqOld = edlv[qi]; rqOldR = ersn[qi];
			rqR = (rqOld + qadd >= MAXD);
			if :: !rqR -> hint++ :: else fi;
			assert(ehold[qi] == 0);
			edlv[qi] = rqOld + qadd;
#ifndef BUG_CREDIT
			if :: rqR && !rqOldR -> ersn[qi] = 1 :: else fi /* record before the take */
#endif
		}
#ifndef BUG_CREDIT
		/* a set reason on a claimed redelivery: an earlier attempt recorded (maybe took)
		 * its credit and died; it is held */
		if
		:: rqR && !rqOldR -> atomic { CP; if :: dlq < DLQCAP -> dlq++ :: else -> rqRc = EDQUOT fi }
			if :: rqRc == EDQUOT -> REACHED(17); atomic { CP; ersn[qi] = 0; edlv[qi] = rqOld } :: else fi
		:: !rqR && rqOldR -> atomic { CP; DLQ_GIVE }; atomic { CP; ersn[qi] = 0 }
		:: else
		fi;
#else
		if
		:: rqR -> atomic { CP; if :: dlq < DLQCAP -> dlq++ :: else -> rqRc = EDQUOT fi }
			if :: rqRc == 0 -> atomic { CP; ersn[qi] = 1 } :: else -> atomic { CP; edlv[qi] = rqOld } fi
		:: else -> atomic { CP; ersn[qi] = 0 }
		fi;
#endif
		if
		:: rqRc == 0 ->
		atomic { CP;                                             /* :240 */
			if
			:: ectl[qi] == qclaimed -> ectl[qi] = MK(LAP(qclaimed) + 1, (rqR -> DEAD : READY), NOWN, 0);
				if :: rqR -> REACHED(9) :: else fi
			:: else -> edlv[qi] = rqOld; ersn[qi] = rqOldR;  /* :242-248 */
				if :: rqR && !rqOldR -> DLQ_GIVE :: !rqR && rqOldR -> dlq++ :: else fi;
				if :: !rqR -> hint-- :: else fi; rqRc = ESTALE; REACHED(15)
			fi }
		:: else -> if :: !rqR -> hint-- :: else fi
		fi
	:: else
	fi
}

/* ring.c settle_stale: our CLAIMED word is gone; free it if it is MOVED(lap, me, *) */
inline settle_stale(tside, tidx, tclaimed)
{
	ssC = SRCCTL(tside, tidx);                                       /* ring.c:535 */
	if
	:: ST(ssC) == MOVED && LAP(ssC) == LAP(tclaimed) && OWN(ssC) == me ->
		REACHED(4); slot_free_moved(tside, tidx, ssC, fmRc)      /* :537 */
	:: else
	fi
}

#define MOVE_LOCALS byte ri, mvE, mvRsn, mvRc, fmRc, sfRc, rqRc, rqOld, rqOldR, rqR; int mvWr, mvMark, hpC, ssC; byte sfV

/* ------------------------------------------------------------------------- */
/* producer: pmq_send = ring_claim_produce + ring_write_header + ring_publish  */
/* format 2: claim = record in our attachment + tail CAS; the slot word is      */
/* written once, by the publish CAS                                            */
/* ------------------------------------------------------------------------- */
proctype producer(byte me; bit crashable)
{
	byte k, t, j, lap, id;
	bit ok;
	int c;
	do
	:: k < K ->
		id = me * K + k + 1;
		do                                                       /* ring.c ring_claim_produce */
		:: /* load tail, P0 load the slot: one snapshot (README, merged steps; a stale
		    * tail only makes the claim CAS below fail, and two producers can still
		    * both record the same ticket) */
			atomic { t = tail; j = t % NS; lap = t / NS; c = mctl[j] }
			if
			:: LAP(c) == lap && ST(c) == FREE ->
#ifndef MUT_RECORD_AFTER
#ifndef MUT_NORECORD
				atomic { CP; claim[me] = t + 1 }                 /* the record, before the claim */
#endif
#endif
				atomic { CP; if :: tail == t -> tail = t + 1; ok = 1 :: else fi } /* P1: CAS tail */
#ifdef MUT_RECORD_AFTER
				if :: ok -> atomic { CP; claim[me] = t + 1 } :: else fi
#endif
				if
				:: ok -> ok = 0; break
				:: else ->                                       /* lost: not ours; say so before */
#ifndef MUT_NORECORD
					atomic { CP; claim[me] = 0 }             /* anything else (a wait may be long) */
#endif
				fi
			:: LAP(c) > lap || (LAP(c) == lap && ST(c) != FREE) ->
				atomic { CP; if :: tail == t -> tail = t + 1 :: else fi }     /* help a lagging tail */
			:: LAP(c) < lap -> REACHED(14);                  /* full: wait, or give up */
				if :: goto finish :: true fi
			fi
		od;
		/* ring_write_header + payload (plain stores into a slot still reading FREE(L): no
		 * consumer claims it, no producer, tail is past t), then ring_publish: P2, one CAS
		 * FREE(L) -> READY(L); a recovery abort of the ticket is the same CAS from the
		 * same word: exactly one wins. One step (README: a crash between the data stores
		 * and the publish is one before them, the bytes of a FREE slot are nobody's) */
		atomic { CP;
			assert(mhold[j] == 0);      /* no live holder reads the bytes we take */
			mmid[j] = id; mdlv[j] = 0;
			assert(mctl[j] == c);       /* nobody aborted our claimed ticket while we live */
			mctl[j] = MK(lap, READY, NOWN, 0);
			sent[id] = 1 }
		k++
	:: else -> break
	od;
finish:
	atomic { nwfin++; closed[me] = 1; k = 0; t = 0; j = 0; lap = 0; id = 0; c = 0; goto end }
crashed:
	atomic { dead[me] = 1; nwfin++; k = 0; t = 0; j = 0; lap = 0; id = 0; c = 0 }
end:
	skip
}

/* ------------------------------------------------------------------------- */
/* consumer: recv_one (side first when the hint says so), then ack or nack    */
/* ------------------------------------------------------------------------- */
#define CAN_SIDE(e) (hint != 0 && ST(ectl[e]) == READY)
#define CAN_RING (LAP(mctl[head % NS]) == head / NS && ST(mctl[head % NS]) == READY)
#ifndef MUT_SKIP_CLAIMED
#define CAN_HELP (LAP(mctl[head % NS]) > head / NS || (LAP(mctl[head % NS]) == head / NS && \
		  (ST(mctl[head % NS]) == CLAIMED || ST(mctl[head % NS]) == MOVED)))
#else
/* the mutant: a consumer takes "FREE(L) with tail past head" for a hole and steps over it */
#define CAN_HELP (LAP(mctl[head % NS]) > head / NS || (LAP(mctl[head % NS]) == head / NS && \
		  (ST(mctl[head % NS]) == CLAIMED || ST(mctl[head % NS]) == MOVED || \
		   (ST(mctl[head % NS]) == FREE && tail > head))))
#endif
#define CLAIM_SIDE hclaimed = MK(LAP(ectl[hidx]), CLAIMED, me, 0); ectl[hidx] = hclaimed; \
	got = 1; hside = 1; hid = emid[hidx]; hdlv = edlv[hidx]; ehold[hidx] = ehold[hidx] | mybit; \
	DELIVER(hid, hdlv)
#define DELIVER(id, dlv) assert(id != 0 && sent[id]); \
	if :: deliv[id] -> assert(dlv >= 1); REACHED(18) :: else -> deliv[id] = 1 fi

proctype consumer(byte me; bit crashable)
{
	MOVE_LOCALS;
	byte rounds, hd, hidx, hid, hdlv, rc;
	bit got, hside;
	int hclaimed;
	byte mybit = 1 << (me - C0);
	do
	/* recv_one: side area first when the hint is non-zero (ring.c:466, side.c:270), then
	 * ring_try_consume (ring.c:340). Abstraction: one step loads what it needs and takes
	 * a READY side entry (either: the scan's start rotates) when the hint is non-zero,
	 * else the READY slot at head, or helps head past a taken slot (a lost CAS in the C
	 * loops only makes them look again, which this step then does). The
	 * claim CAS and slot_fill_msg's reads are in that step; the head advance and the
	 * hint decrement are steps of their own. Nothing to take: the consumer waits (the
	 * step is not enabled) or stops. */
	:: atomic { rounds < RCV && (CAN_SIDE(0) || CAN_SIDE(1) || CAN_RING || CAN_HELP) ->
			CP;
			got = 0; hside = 0; hidx = 0; hid = 0; hdlv = 0; hclaimed = 0; rc = 0;
			ri = 0; mvE = 0; mvRsn = 0; mvRc = 0; fmRc = 0; sfRc = 0; rqRc = 0; rqOld = 0; rqOldR = 0; rqR = 0;
			mvWr = 0; mvMark = 0; hpC = 0; ssC = 0; sfV = 0;
			hd = head;
			if
			:: CAN_SIDE(0) -> hidx = 0; CLAIM_SIDE
			:: CAN_SIDE(1) -> hidx = 1; CLAIM_SIDE
			:: !CAN_SIDE(0) && !CAN_SIDE(1) && CAN_RING ->           /* :362 C2 */
				hidx = hd % NS; hclaimed = MK(hd / NS, CLAIMED, me, 0); mctl[hidx] = hclaimed;
				got = 1; hside = 0; hid = mmid[hidx]; hdlv = mdlv[hidx];
				mhold[hidx] = mhold[hidx] | mybit;
				DELIVER(hid, hdlv)
			:: !CAN_SIDE(0) && !CAN_SIDE(1) &&  CAN_HELP -> head = hd + 1; REACHED(13)                             /* :387, :393 help (load + CAS) */
			fi }
		if
		:: got && hside -> atomic { CP; assert(hint > 0); hint-- } /* side.c:295-296 */
		:: got && !hside -> atomic { CP; if :: head == hd -> head = hd + 1 :: else fi }  /* ring.c:368 */
		:: else
		fi;
		if
		:: !got -> skip
		:: else ->
		rounds++;
		/* settle what we hold */
		/* ack or nack; GHOST_DONE: we stop reading, and the bytes must still be ours */
#define GHOST_DONE assert((hside -> emid[hidx] : mmid[hidx]) == hid); \
	if :: hside -> ehold[hidx] = ehold[hidx] & ~mybit :: else -> mhold[hidx] = mhold[hidx] & ~mybit fi
		do
		:: hside ->                                                               /* pmq_ack, side */
			atomic { GHOST_DONE }
			side_free(hidx, hclaimed, LAP(hclaimed), rc, hid);                        /* ring.c:555 */
			if :: rc != 0 -> settle_stale(hside, hidx, hclaimed) :: else fi        /* :569 */
			break
		:: !hside ->                                                              /* pmq_ack, main */
			atomic { CP; GHOST_DONE;                                                /* ring.c:561 A1 */
				if
				:: mctl[hidx] == hclaimed -> mctl[hidx] = MK(LAP(hclaimed) + 1, FREE, NOWN, 0); rc = 0;
					acked[hid]++; assert(acked[hid] == 1)
				:: else -> rc = ESTALE
				fi }
			if :: rc != 0 -> settle_stale(hside, hidx, hclaimed) :: else fi        /* :569 */
			break
		:: atomic { GHOST_DONE }                                                /* pmq_nack */
			if
			:: hside ->
				side_requeue(hidx, hclaimed, 1); rc = rqRc                          /* ring.c:603 */
			:: else ->
				side_move(me, 0, hidx, hclaimed, 1, 1, 0); rc = mvRc             /* :608 */
			fi;
			if
			:: rc == ESTALE -> settle_stale(hside, hidx, hclaimed); break         /* :611 */
			:: rc == ENOSPC || rc == EDQUOT -> REACHED(10);                        /* still ours */
				atomic { if :: hside -> ehold[hidx] = ehold[hidx] | mybit :: else -> mhold[hidx] = mhold[hidx] | mybit fi }
			:: rc == 0 -> break
			fi
		od
		fi
	:: break                                                  /* stop (close) while holding nothing */
	od;
	atomic { nwfin++; goto end }
crashed:
	atomic { dead[me] = 1; nwfin++;
		 if :: hside -> ehold[hidx] = ehold[hidx] & ~mybit :: else -> mhold[hidx] = mhold[hidx] & ~mybit fi }
end:
	atomic { rounds = 0; hd = 0; hidx = 0; hid = 0; hdlv = 0; rc = 0; got = 0; hside = 0;
		 hclaimed = 0; mybit = 0;
		 ri = 0; mvE = 0; mvRsn = 0; mvRc = 0; fmRc = 0; sfRc = 0; rqRc = 0; rqOld = 0; rqOldR = 0; rqR = 0;
		 mvWr = 0; mvMark = 0; hpC = 0; ssC = 0; sfV = 0 }
}

/* ------------------------------------------------------------------------- */
/* pmqd lease action "requeue": pmq_requeue_holder (queue.c:476-504)          */
/* the holder may be alive: copy, mark MOVED, leave the source pinned         */
/* ------------------------------------------------------------------------- */
proctype pmqd(byte me; bit crashable)
{
	MOVE_LOCALS;
	byte rounds, vic, kk, lsd, lix;
	int lc;
	/* Abstraction: pmq_requeue_holder scans every word for CLAIMED(., victim); here one
	 * round picks any victim and any one word (a superset of the scan's orders), and
	 * LEASES rounds allow several moves. The attachment check (:483) and the word's
	 * load (:489/:499) are one step. */
	do
	:: rounds < LEASES ->
		atomic {
			if :: vic = C0 :: NC > 1 -> vic = C0 + 1 fi;
			if :: kk = 0 :: kk = 1 :: kk = 2 :: kk = 3 fi;
			lsd = (kk >= NS); lix = kk % NS; lc = (lsd -> ectl[lix] : mctl[lix]);
			rounds++ }
		if
		:: !recovered[vic] && ST(lc) == CLAIMED && OWN(lc) == vic ->
#ifdef MUT_LEASEFREE
			side_move(me, lsd, lix, lc, 1, 1, 0)
#else
			side_move(me, lsd, lix, lc, 0, 1, 0)
#endif
		:: else
		fi;
		atomic { vic = 0; kk = 0; lc = 0; lsd = 0; lix = 0; ri = 0; mvE = 0; mvRsn = 0; mvRc = 0; fmRc = 0; sfRc = 0;
			 mvWr = 0; mvMark = 0; hpC = 0; sfV = 0 }
	:: break
	od;
	atomic { nwfin++; goto end }
crashed:
	atomic { dead[me] = 1; nwfin++ }
end:
	atomic { rounds = 0; vic = 0; kk = 0; lc = 0; lsd = 0; lix = 0;
		 ri = 0; mvE = 0; mvRsn = 0; mvRc = 0; fmRc = 0; sfRc = 0; rqRc = 0; rqOld = 0; rqOldR = 0; rqR = 0;
		 mvWr = 0; mvMark = 0; hpC = 0; ssC = 0; sfV = 0 }
}

/* ------------------------------------------------------------------------- */
/* pmqctl dlq replay / purge (side.c:308-362), max = 1; never crash            */
/* ------------------------------------------------------------------------- */
proctype replayer(byte me)
{
	byte idx;
	bit oldr, done;
	int c;
	do
	:: idx < NE && !done ->
		c = ectl[idx];                                           /* side.c:316 */
		if
		:: ST(c) == DEAD ->
#ifndef BUG_REPLAY
			/* the fix: own the entry first (as a .dlq consumer does), then write it */
			atomic { if :: ectl[idx] == c -> ectl[idx] = MK(LAP(c), CLAIMED, me, 0); done = 1 :: else fi }
			if
			:: done ->
				atomic { DLQ_GIVE }                          /* the credit goes back first */
				atomic { ersn[idx] = 0; hint++ }
				atomic { ectl[idx] = MK(LAP(c) + 1, READY, NOWN, 0); REACHED(19) }
			:: else
			fi
#else
			/* :320-327 plain stores into an entry nobody owns, then the hint */
			atomic { oldr = ersn[idx]; ersn[idx] = 0; hint++ }
			/* (the old replay gave the credit back after its CAS) */
			atomic {                                         /* :329 */
				if
				:: ectl[idx] == c -> ectl[idx] = MK(LAP(c) + 1, READY, NOWN, 0); done = 1; REACHED(19)
				:: else -> ersn[idx] = oldr; hint--           /* :331-334 restore */
				fi }
			if :: done -> atomic { DLQ_GIVE } :: else fi
#endif
		:: else
		fi;
		atomic { idx++; c = 0; oldr = 0 }
	:: else -> break
	od;
	atomic { nwfin++; idx = 0; done = 0 }
}

proctype purger(byte me)
{
	byte idx, sfV, sfRc;
	int c;
	bit gave;
	bit crashable = 0;     /* side_free's crash points: never taken here */
	do
	:: idx < NE ->
		c = ectl[idx];                                           /* side.c:353 */
		if
		:: ST(c) == DEAD ->
			/* own it first (as replay does), then the credit back, then free it */
			atomic { if :: ectl[idx] == c -> ectl[idx] = MK(LAP(c), CLAIMED, me, 0); gave = 1 :: else fi }
			if
			:: gave ->
				atomic { DLQ_GIVE }
				side_free(idx, MK(LAP(c), CLAIMED, me, 0), LAP(c), sfRc, emid[idx]); /* a purge settles it */
				assert(sfRc == 0); REACHED(20); break
			:: else
			fi
		:: else
		fi;
		atomic { idx++; c = 0; sfRc = 0; sfV = 0; gave = 0 }
	:: else -> break
	od;
crashed:
	atomic { nwfin++; idx = 0; c = 0; sfRc = 0; sfV = 0; gave = 0 }
}

/* ------------------------------------------------------------------------- */
/* recoverer: recover_owner / settle_owner (recover.c:53-146)                 */
/* ------------------------------------------------------------------------- */
#ifdef MUT_NOTOKEN
/* the mutant: "recovers" any attachment, alive or not */
#define TAKEABLE(i) ((i) < NW && !recovered[i] && tok[i] == NOTOK && (!stuck[i] || tries < 3))
#else
#define TAKEABLE(i) ((i) < NA && dead[i] && !recovered[i] && tok[i] == NOTOK && (!stuck[i] || tries < 3))
#endif
#define PENDING (TAKEABLE(0) || TAKEABLE(1) || TAKEABLE(2) || TAKEABLE(3) || TAKEABLE(4) || TAKEABLE(5))

proctype recoverer(byte me; bit crashable)
{
	MOVE_LOCALS;
	byte tgt, kk, tries, stk, rct, rcT;
	int rcC;
	bit marked, undecided;
	do
	:: /* take the owner's token: possible only once it is dead (attach.c);
	    * re-read its entry under the token (recover.c:120-131) */
		atomic {
			if
			:: TAKEABLE(0) -> tgt = 0
			:: TAKEABLE(1) -> tgt = 1
			:: TAKEABLE(2) -> tgt = 2
			:: TAKEABLE(3) -> tgt = 3
			:: TAKEABLE(4) -> tgt = 4
			:: TAKEABLE(5) -> tgt = 5
			fi;
			tok[tgt] = me }
		/* settle_owner(tgt) */
		stk = 0; kk = 0;
		do
		:: kk < NS ->
			atomic { rcC = mctl[kk] }                                    /* :59 R1 */
			if
			:: OWN(rcC) == tgt && ST(rcC) == CLAIMED ->                 /* :66 */
				side_move(me, 0, kk, rcC, 1, 1, 0);
				if :: mvRc != 0 && mvRc != ESTALE -> stk = 1 :: else fi
#ifndef BUG_ESTALE
				if :: mvRc == ESTALE -> kk-- :: else fi /* look at the word again */
#endif
			:: OWN(rcC) == tgt && ST(rcC) == MOVED ->                   /* :76 */
				slot_free_moved(0, kk, rcC, fmRc)
			:: else
			fi;
			atomic { kk++; ri = 0; mvE = 0; mvRsn = 0; mvRc = 0; fmRc = 0; sfRc = 0; mvWr = 0; mvMark = 0; hpC = 0; sfV = 0 }
		:: else -> break
		od;
		kk = 0;
		do
		:: kk < NE ->
			atomic { rcC = ectl[kk] }                                    /* :85 R1 */
			if
			:: OWN(rcC) == tgt && ST(rcC) == WRITING ->                 /* :89-94 */
				/* source_marked(q, e, src): load src, then the source word */
				sfV = esrc[kk];
				atomic { marked = (SRC_VALID(sfV) && ST(SRCCTL(SRC_SIDE(sfV), SRC_IDX(sfV))) == MOVED &&
					 LAP(SRCCTL(SRC_SIDE(sfV), SRC_IDX(sfV))) == SRC_LAP(sfV) &&
					 XOF(SRCCTL(SRC_SIDE(sfV), SRC_IDX(sfV))) == kk) }
				if
				:: marked -> REACHED(5); side_publish(kk, rcC)
				:: else -> REACHED(6);
					/* the move never happened: give back the credit it recorded */
#ifndef BUG_CREDIT
					/* load the reason, then the word: the reason is the dead actor's only
					 * while the word is still rcC; give back first (only what was there),
					 * take it again if the unreserve loses */
					atomic { marked = (ersn[kk] && ectl[kk] == rcC) }
					if :: marked -> atomic { CP; if :: dlq > 0 -> dlq-- :: else -> marked = 0 fi } :: else fi;
					side_unreserve(kk, rcC);
					if :: marked && sfRc != 0 -> atomic { CP; dlq++ } :: else fi
#else
					atomic { marked = ersn[kk] }
					side_unreserve(kk, rcC);
					if :: marked && sfRc == 0 -> atomic { CP; DLQ_GIVE } :: else fi
#endif
				fi
			:: OWN(rcC) == tgt && ST(rcC) == CLAIMED ->                 /* :96-103 */
				side_requeue(kk, rcC, 1);
				if :: rqRc != 0 && rqRc != ESTALE -> stk = 1 :: rqRc == 0 -> REACHED(8) :: else fi
#ifndef BUG_ESTALE
				if :: rqRc == ESTALE -> kk-- :: else fi
#endif
			:: OWN(rcC) == tgt && ST(rcC) == MOVED ->                   /* :105 */
				slot_free_moved(1, kk, rcC, fmRc)
			:: else
			fi;
			atomic { kk++; marked = 0; ri = 0; mvE = 0; mvRsn = 0; mvRc = 0; fmRc = 0; sfRc = 0; rqRc = 0;
				 rqOld = 0; rqOldR = 0; rqR = 0; mvWr = 0; mvMark = 0; hpC = 0; sfV = 0 }
		:: else -> break
		od;
		/* claim_settle (claim.c): the dead producer's claimed-unpublished ticket */
		atomic { rct = claim[tgt] }
		if
		:: rct != 0 ->
			atomic { rcT = tail }                                        /* R5 */
			if
			:: rct - 1 < rcT && rcT - (rct - 1) <= NS ->
				atomic { rcC = mctl[(rct - 1) % NS] }
				if
				:: ST(rcC) == FREE && LAP(rcC) == (rct - 1) / NS ->
					/* other_live_claimant: one walk over the records (see README) */
#ifndef MUT_ABORT_ANY
					atomic { undecided = 0;
						for (kk : 0 .. NA - 1) {
							if :: kk != tgt && claim[kk] == rct && !dead[kk] && !closed[kk] -> undecided = 1 :: else fi
						}
						kk = 0 }
#endif
					if
					:: undecided -> REACHED(21)
					:: else -> atomic { CP; if :: mctl[(rct - 1) % NS] == rcC ->
							mctl[(rct - 1) % NS] = MK(LAP(rcC) + 1, FREE, NOWN, 0); REACHED(7) :: else fi }
					fi
				:: else
				fi
			:: else -> REACHED(22)     /* the record names a ticket never claimed (or long settled) */
			fi;
			if :: !undecided -> atomic { CP; claim[tgt] = 0 } :: else fi
		:: else
		fi;
		/* :133-144: free the entry only if everything settled, then drop the token */
		atomic { CP;
#ifndef MUT_NOTOKEN
			assert(dead[tgt]); /* never acted on a live owner */
#endif
			if :: !stk && !undecided -> recovered[tgt] = 1; stuck[tgt] = 0; if :: tgt == R1 -> REACHED(12) :: else fi
			:: undecided -> skip     /* recover_owner returns 0, entry kept: a later pass decides */
			:: else -> stuck[tgt] = 1; tries++; REACHED(11)
			fi;
			tok[tgt] = NOTOK; tgt = 0; kk = 0; stk = 0; rcC = 0; rct = 0; rcT = 0; undecided = 0 }
	:: nwfin == NW && !PENDING -> break
	od;
	atomic { recdone = 1; goto end }
crashed:
	/* the kernel drops every lock we held; a second recoverer takes over */
	atomic { dead[me] = 1; if :: tok[tgt] == me -> tok[tgt] = NOTOK :: else fi;
		 if :: me == R1 -> run recoverer(R2, 0) :: else fi }
end:
	atomic { tgt = 0; kk = 0; tries = 0; stk = 0; rcC = 0; marked = 0; rct = 0; rcT = 0; undecided = 0;
		 ri = 0; mvE = 0; mvRsn = 0; mvRc = 0; fmRc = 0; sfRc = 0; rqRc = 0; rqOld = 0; rqOldR = 0; rqR = 0;
		 mvWr = 0; mvMark = 0; hpC = 0; ssC = 0; sfV = 0 }
}

/* ------------------------------------------------------------------------- */
/* invariants                                                                 */
/* ------------------------------------------------------------------------- */

/* side_hint is never lower than the number of READY side entries */
active proctype hint_monitor()
{
end:	atomic { !(hint >= NREADY) -> assert(hint >= NREADY) }
}

/* at the end (every worker finished or crashed, recovery done) */
#define NAMES_LIVE_OWNER(w) (ST(w) == WRITING || ST(w) == CLAIMED || ST(w) == MOVED)
#define ORPHAN_OK(o) (o < NA && dead[o] && !recovered[o] && stuck[o])

proctype final_check()
{
	byte i, j;
	bit no_word_names_a_gone_owner, dead_owner_recovered, sent_msg_acked_or_present, found, no_credit_leaked;
	bit no_ticket_wedged, ready_reachable;
	byte credits_held;
	atomic {
		nwfin == NW && recdone ->
#ifndef NO_OWNER_CHECK
		/* (4) no word names an owner that is gone: finished, or recovered (entry freed) */
		for (j : 0 .. NS - 1) {
			if
			:: NAMES_LIVE_OWNER(mctl[j]) ->
				no_word_names_a_gone_owner = ORPHAN_OK(OWN(mctl[j])); assert(no_word_names_a_gone_owner)
			:: else
			fi
		}
		for (j : 0 .. NE - 1) {
			if
			:: NAMES_LIVE_OWNER(ectl[j]) ->
				no_word_names_a_gone_owner = ORPHAN_OK(OWN(ectl[j])); assert(no_word_names_a_gone_owner)
			:: else
			fi
		}
#endif
		/* every dead owner was recovered, unless the side area was full */
		for (i : 0 .. NA - 1) {
			dead_owner_recovered = (!dead[i] || recovered[i] || stuck[i]); assert(dead_owner_recovered)
		}
		/* (1) nothing lost: every sent id is acked, or READY/DEAD somewhere, or held
		 * by a dead owner whose recovery found no room */
		for (i : 1 .. NM) {
			if
			:: sent[i] && acked[i] == 0 ->
				found = 0;
				for (j : 0 .. NS - 1) {
					if
					:: mmid[j] == i && (ST(mctl[j]) == READY ||
							    ((ST(mctl[j]) == CLAIMED || ST(mctl[j]) == MOVED) && ORPHAN_OK(OWN(mctl[j])))) -> found = 1
					:: else
					fi
				}
				for (j : 0 .. NE - 1) {
					if
					:: emid[j] == i && (ST(ectl[j]) == READY || ST(ectl[j]) == DEAD ||
							    (ST(ectl[j]) != FREE && ORPHAN_OK(OWN(ectl[j])))) -> found = 1
					:: else
					fi
				}
				sent_msg_acked_or_present = found; assert(sent_msg_acked_or_present)
			:: else
			fi
		}
		assert(hint >= NREADY);
		/* (9) format 2: no claimed ticket wedged. A ticket in [head, tail) whose slot still
		 * reads FREE of its lap is claimed and unpublished; at the end its claimant must be
		 * a dead owner recovery could not settle yet, never a recovered or unknown one */
		for (i : head .. tail - 1) {
			if
			:: ST(mctl[i % NS]) == FREE && LAP(mctl[i % NS]) == i / NS ->
				found = 0;
				for (j : 0 .. NA - 1) {
					if :: claim[j] == i + 1 && ORPHAN_OK(j) -> found = 1 :: else fi
				}
				no_ticket_wedged = found; assert(no_ticket_wedged)
			:: else
			fi
		}
		/* (10) every READY message is at or past head: nobody stepped over it */
		for (j : 0 .. NS - 1) {
			if
			:: ST(mctl[j]) == READY -> ready_reachable = (LAP(mctl[j]) * NS + j >= head); assert(ready_reachable)
			:: else
			fi
		}
		/* (8) no dead-letter credit leaks: every credit counted is held by an entry
		 * (crashes may leave the count lower: the next exclusive open recounts) */
		credits_held = 0;
		for (j : 0 .. NE - 1) {
			if
			:: ersn[j] && (ST(ectl[j]) == WRITING || ST(ectl[j]) == CLAIMED || ST(ectl[j]) == DEAD) -> credits_held++
			:: else
			fi
		}
		no_credit_leaked = (dlq <= credits_held); assert(no_credit_leaked)
	}
}

init
{
	atomic {
		run producer(0, CRASH_P);
		if :: NP > 1 -> run producer(1, CRASH_P) :: else fi;
		run consumer(C0, CRASH_C & 1);
		if :: NC > 1 -> run consumer(C0 + 1, (CRASH_C / 2) & 1) :: else fi;
		if :: LEASE -> run pmqd(PMQD, CRASH_D) :: else fi;
		if :: DLQOPS -> run replayer(PMQD + LEASE); run purger(PMQD + LEASE + 1) :: else fi;
		run recoverer(R1, RCRASH);
		run final_check()
	}
}
