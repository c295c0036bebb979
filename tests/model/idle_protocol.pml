/*
 * The executor's idle protocol (who parks, who wakes whom), as implemented:
 *
 *   worker loop ............ cpp/src/executor.cpp  Executor::worker_main
 *   park / spare retiring .. cpp/src/executor.cpp  Executor::park, try_retire_spare
 *   pushes ................. cpp/src/executor.cpp  Executor::schedule, schedule_external,
 *                                                  take_global_batch
 *   visible blocking ....... cpp/src/executor.cpp  Executor::begin_blocking, start_spare
 *   counts and the list .... cpp/src/idle_coordinator.cpp (prepare_park, cancel_park,
 *                            wait_parked_for, notify_one, try_begin_search, end_search)
 *   re-check ............... cpp/src/executor.cpp  Executor::has_pending_work
 *
 * Property: no pushed item is left queued while a worker is parked, once
 * nothing else can happen (checked by the monitor when the system is
 * quiescent). Tasks may block where the pool cannot see them, for good:
 * a worker doing that is awake as far as the protocol knows and never comes
 * back, which is what made "only the last searcher re-checks" unsound.
 *
 * Every step below is one seq_cst operation of the implementation (or a
 * mutex-held block, modelled as atomic), so spin's interleavings are the
 * executions the C++ memory model allows for these operations. Queues are
 * counters: which item is taken does not matter to the protocol.
 *
 * Check:  spin -a idle_protocol.pml && gcc -O2 -o pan pan.c && ./pan -m100000
 * The switches reproduce the protocol's earlier, broken forms (each must
 * make the check fail): -DRECHECK_ONLY_LAST_SEARCHER, -DRETIRE_WITHOUT_RECHECK,
 * -DRELAXED_LOCAL_PUSH (the worker's push not ordered before its check).
 * Run by tests/model/check_idle_protocol.sh (ctest: model.idle_protocol).
 */

#define NREG 2      /* regular workers: slots 0 and 1 */
#define SPARE 2     /* the spare slot */
#define NPROD 2     /* items pushed from outside */
#define MAX_SPARE_TIMEOUTS 2

byte inj;           /* InjectionQueue size */
byte dq[3];         /* ChaseLevDeque sizes */

/* IdleCoordinator::state_ */
byte searching;
byte parked;
byte workers = NREG;
/* IdleCoordinator::parked_ and Sleeper::word */
bool listed[3];
bool word[3];

/* Executor::live_and_blocked_ */
byte live = NREG;
byte blocked;
bool spare_live;    /* Worker::use of the spare slot */

byte spare_timeouts;
byte pushes_left = 2;      /* tasks that spawn a child */
byte invisible_left = 1;   /* tasks that then block invisibly for good */
byte visible_left = 1;     /* tasks that block visibly (get() on a task) */
bool released;             /* what the visibly blocked task waits for */

inline has_pending_work(res) {
  res = false;
  if :: inj > 0 -> res = true :: else -> skip fi;
  if :: dq[0] > 0 -> res = true :: else -> skip fi;
  if :: dq[1] > 0 -> res = true :: else -> skip fi;
  if :: dq[2] > 0 -> res = true :: else -> skip fi
}

/* IdleCoordinator::notify_one: seq_cst load, then under mu_ */
inline notify_one() {
  if
  :: (searching == 0 && parked > 0) ->
     atomic {
       if
       :: (searching == 0 && parked > 0) ->
          assert(listed[0] || listed[1] || listed[2]);
          if
          :: listed[0] -> listed[0] = false; word[0] = false
          :: listed[1] -> listed[1] = false; word[1] = false
          :: listed[2] -> listed[2] = false; word[2] = false
          fi;
          parked--;
          searching++
       :: else -> skip
       fi
     }
  :: else -> skip
  fi
}

/* A worker's own push (ChaseLevDeque::push, seq_cst bottom store) and its
 * wake-up check. RELAXED_LOCAL_PUSH models the old relaxed check: the load
 * may be satisfied before the store is visible to others, which is the same
 * as checking first and publishing after. */
inline local_push(me) {
#ifdef RELAXED_LOCAL_PUSH
  notify_one();
  dq[me]++
#else
  dq[me]++;
  notify_one()
#endif
}

proctype Worker(byte me; bool spare) {
  bool s;        /* searching */
  bool res;
  bool last;
  bool retiring;
  bool moved;
loop:
  /* find_local_or_global: own deque, then a batch from the injection queue */
  if
  :: atomic { dq[me] > 0 -> dq[me]-- }; goto found
  :: else -> skip
  fi;
  if
  :: atomic { inj > 0 -> inj-- };
     /* more than one taken: the rest go to our deque, then a wake-up */
     if
     :: atomic { inj > 0 -> inj--; moved = true }
     :: true -> moved = false
     fi;
     if :: moved -> local_push(me) :: else -> skip fi;
     goto found
  :: else -> skip
  fi;
  /* out of work: try to search (about half the workers at most) */
  if
  :: !s -> atomic {
             if
             :: (2 * searching < workers || searching == 0) -> searching++; s = true
             :: else -> skip
             fi
           }
  :: else -> skip
  fi;
  /* one spin round; giving up is always possible (a search that read the
   * queues before the items arrived) */
  if
  :: s -> if
          :: atomic { inj > 0 -> inj-- }; goto found
          :: atomic { (me != 0 && dq[0] > 0) -> dq[0]-- }; goto found
          :: atomic { (me != 1 && dq[1] > 0) -> dq[1]-- }; goto found
          :: atomic { (me != 2 && dq[2] > 0) -> dq[2]-- }; goto found
          :: true -> skip
          fi
  :: !s -> if
           :: atomic { inj > 0 -> inj-- }; goto found
           :: true -> skip
           fi
  fi;
  goto park;

found:
  /* the last searcher to find work wakes one more if work remains */
  if
  :: s -> atomic { last = (searching == 1); searching-- };
          s = false;
          if
          :: last -> has_pending_work(res); if :: res -> notify_one() :: else -> skip fi
          :: else -> skip
          fi
  :: else -> skip
  fi;

  /* run the item: what a task may do */
  if
  :: true -> skip
  :: atomic { pushes_left > 0 -> pushes_left-- }; local_push(me)
  :: atomic { (pushes_left > 0 && invisible_left > 0) -> pushes_left--; invisible_left-- };
     local_push(me);
     goto blocked_forever
  :: atomic { (!spare && visible_left > 0) -> visible_left--; blocked++ };
     /* Executor::begin_blocking */
     if
     :: atomic { (live < blocked + NREG && !spare_live) -> spare_live = true; live++; workers++ };
        run Worker(SPARE, true)
     :: else -> has_pending_work(res); if :: res -> notify_one() :: else -> skip fi
     fi;
     released;
     atomic { blocked-- }
  fi;
  goto loop;

park:
  if
  :: spare ->
     /* Executor::try_retire_spare */
     atomic {
       if
       :: (live > blocked + NREG) -> live--; retiring = true
       :: else -> retiring = false
       fi
     };
     if
     :: retiring ->
        atomic { workers--; if :: s -> searching-- :: else -> skip fi };
        s = false;
#ifdef RETIRE_WITHOUT_RECHECK
        res = false;
#else
        has_pending_work(res);
#endif
        if
        :: res -> atomic { live++; workers++; searching++ }; s = true; goto loop
        :: else -> spare_live = false; goto done
        fi
     :: else -> skip
     fi
  :: else -> skip
  fi;
  /* IdleCoordinator::prepare_park */
  atomic {
    last = (s && searching == 1);
    listed[me] = true; word[me] = true; parked++;
    if :: s -> searching-- :: else -> skip fi
  };
  s = false;
#ifdef RECHECK_ONLY_LAST_SEARCHER
  /* the old rule: the last searcher re-checks and wakes someone */
  if
  :: last -> has_pending_work(res); if :: res -> notify_one() :: else -> skip fi
  :: else -> skip
  fi;
#else
  has_pending_work(res);
  if
  :: res ->
     /* IdleCoordinator::cancel_park */
     atomic {
       if
       :: listed[me] -> listed[me] = false; word[me] = false; parked--; searching++
       :: else -> skip
       fi
     };
     s = true;
     goto loop
  :: else -> skip
  fi;
#endif
  if
  :: spare ->
     /* IdleCoordinator::wait_parked_for: woken, or timed out and unlisted */
     if
     :: !word[me] -> s = true; goto loop
     :: atomic { (spare_timeouts < MAX_SPARE_TIMEOUTS && listed[me]) ->
                 spare_timeouts++; listed[me] = false; word[me] = false; parked-- };
        goto loop
     :: atomic { spare_timeouts >= MAX_SPARE_TIMEOUTS -> skip }; goto end_wait
     fi
  :: else -> skip
  fi;
end_wait:
  !word[me];
  s = true;
  goto loop;

blocked_forever:
end_blocked:
  skip;
done:
  skip
}

active proctype Producer() {
  byte k;
  do
  :: k < NPROD -> atomic { inj++ }; notify_one(); k++
  :: !released -> released = true
  :: (k == NPROD && released) -> break
  od
}

init {
  atomic {
    run Worker(0, false);
    run Worker(1, false)
  }
}

/* When nothing can move any more: no item may be left while a worker is
 * parked (a worker that blocked invisibly for good is not parked: work
 * left behind it is the watchdog's job, a temporary worker). */
active proctype Monitor() {
  timeout ->
    assert(!((inj > 0 || dq[0] > 0 || dq[1] > 0 || dq[2] > 0) && parked > 0))
}
