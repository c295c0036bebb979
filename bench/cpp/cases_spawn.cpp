// Spawn-rate and hand-off cases: spawn_external, spawn_internal, chain,
// ping_pong, yield_many.
//
// Ours is measured through the public paths a user takes (Runtime::submit,
// which creates a TaskState per task, and co_await spawn, which does not) and,
// where it says something, through Executor::schedule of raw coroutines (the
// floor under submit: no TaskState, no registry). oneTBB uses what its users
// write: task_arena::enqueue from outside, task_group::run from inside,
// task::suspend/resume for hand-offs.
#include <cstdint>
#include <string>
#include <vector>

#include "bench_support.hpp"

#if DFTRACER_BENCH_HAVE_TBB
#include <oneapi/tbb/task.h>
#include <oneapi/tbb/task_group.h>
#endif

namespace dft_bench {

namespace {

std::string sized(const char* name, std::uint64_t n) { return std::string(name) + "/n:" + std::to_string(n); }

// ---------------------------------------------------------------- spawn_external
// n empty tasks submitted from the benchmark's thread (not a worker), then
// wait until all have run.

Detached count_down_detached(Latch& latch) {
  latch.count_down();
  co_return;
}

void register_spawn_external(std::uint32_t n) {
  std::string name = sized("spawn_external", n);
  for (int t : options().threads) {
    // Runtime::submit of an empty callable, handle dropped; Runtime::wait_all.
    add(name, "ours", t, [=](benchmark::State& st) {
      dft::Runtime& rt = ours_runtime(t);
      measure(st, t, [&] {
        for (std::uint32_t i = 0; i < n; ++i) (void)rt.submit([] {});
        rt.wait_all();
        return std::uint64_t{n};
      });
    });
    // Executor::schedule of a raw self-freeing coroutine, counted by a latch.
    add(name, "ours_schedule", t, [=](benchmark::State& st) {
      dft::Executor& ex = ours_runtime(t).compute();
      measure(st, t, [&] {
        Latch latch(static_cast<std::int32_t>(n));
        for (std::uint32_t i = 0; i < n; ++i) {
          ex.schedule(dft::WorkItem::coroutine(count_down_detached(latch).handle));
        }
        latch.wait();
        return std::uint64_t{n};
      });
    });
#if DFTRACER_BENCH_HAVE_TBB
    // task_arena::enqueue into an arena of t workers, counted by a latch.
    add(name, "tbb", t, [=](benchmark::State& st) {
      tbb::task_arena& arena = tbb_worker_arena(t);
      measure(st, t, [&] {
        Latch latch(static_cast<std::int32_t>(n));
        for (std::uint32_t i = 0; i < n; ++i) arena.enqueue([&latch] { latch.count_down(); });
        latch.wait();
        return std::uint64_t{n};
      });
    });
#endif
  }
}

// ---------------------------------------------------------------- spawn_internal
// n empty tasks submitted from inside one running task.

dft::Task<void> empty_task() { co_return; }

dft::Task<void> spawn_and_join_all(std::uint32_t n) {
  std::vector<dft::JoinHandle<void>> children;
  children.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) children.push_back(co_await dft::spawn(empty_task()));
  for (auto& c : children) co_await std::move(c);
}

void register_spawn_internal(std::uint32_t n) {
  std::string name = sized("spawn_internal", n);
  for (int t : options().threads) {
    // Runtime::submit from a worker (goes to its deque), handles dropped.
    add(name, "ours", t, [=](benchmark::State& st) {
      dft::Runtime& rt = ours_runtime(t);
      measure(st, t, [&] {
        (void)rt.submit([&rt, n] {
          for (std::uint32_t i = 0; i < n; ++i) (void)rt.submit([] {});
        });
        rt.wait_all();
        return std::uint64_t{n};
      });
    });
    // co_await spawn of n child coroutines, then join each.
    add(name, "ours_spawn", t, [=](benchmark::State& st) {
      dft::Runtime& rt = ours_runtime(t);
      measure(st, t, [&] {
        dft::sync_wait(rt, spawn_and_join_all(n));
        return std::uint64_t{n};
      });
    });
#if DFTRACER_BENCH_HAVE_TBB
    add(name, "tbb", t, [=](benchmark::State& st) {
      tbb::task_arena& arena = tbb_arena(t);
      measure(st, t, [&] {
        arena.execute([&] {
          tbb::task_group g;
          for (std::uint32_t i = 0; i < n; ++i) g.run([] {});
          g.wait();
        });
        return std::uint64_t{n};
      });
    });
#endif
  }
}

// ---------------------------------------------------------------- chain
// A chain of n tasks, each starting the next and ending (nobody joins).

void chain_submit(dft::Runtime& rt, std::uint32_t left) {
  if (left == 0) return;
  (void)rt.submit([&rt, left] { chain_submit(rt, left - 1); });
}

dft::Task<void> chain_spawn(std::uint32_t left, Latch& done) {
  if (left == 0) {
    done.count_down();
    co_return;
  }
  // Dropping the JoinHandle detaches the child.
  (void)co_await dft::spawn(chain_spawn(left - 1, done));
}

#if DFTRACER_BENCH_HAVE_TBB
void chain_tbb(tbb::task_group& g, std::uint32_t left) {
  if (left == 0) return;
  g.run([&g, left] { chain_tbb(g, left - 1); });
}
#endif

void register_chain(std::uint32_t n) {
  std::string name = sized("chain", n);
  for (int t : options().threads) {
    add(name, "ours", t, [=](benchmark::State& st) {
      dft::Runtime& rt = ours_runtime(t);
      measure(st, t, [&] {
        chain_submit(rt, n);
        rt.wait_all();
        return std::uint64_t{n};
      });
    });
    add(name, "ours_spawn", t, [=](benchmark::State& st) {
      dft::Runtime& rt = ours_runtime(t);
      measure(st, t, [&] {
        Latch done(1);
        dft::sync_wait(rt, chain_spawn(n, done));
        done.wait();
        return std::uint64_t{n};
      });
    });
#if DFTRACER_BENCH_HAVE_TBB
    add(name, "tbb", t, [=](benchmark::State& st) {
      tbb::task_arena& arena = tbb_arena(t);
      measure(st, t, [&] {
        arena.execute([&] {
          tbb::task_group g;
          chain_tbb(g, n);
          g.wait();
        });
        return std::uint64_t{n};
      });
    });
#endif
  }
}

// ---------------------------------------------------------------- ping_pong
// Two long-lived tasks hand a token back and forth `rounds` times (2 hand-offs
// per round). A hand-off wakes the other side through the scheduler: ours
// re-schedules the suspended coroutine (Executor::schedule), oneTBB resumes a
// suspended task (task::suspend / task::resume).

// One side's mailbox: empty, holding the token, or holding the waiting side.
// Only one sender and one receiver use it, and a sender sends again only
// after the receiver has answered, so these three states are enough.
class Mailbox {
 public:
  static constexpr std::uintptr_t kEmpty = 0;
  static constexpr std::uintptr_t kToken = 1;

  struct Receive {
    Mailbox& box;
    bool await_ready() noexcept { return box.try_take(); }
    bool await_suspend(std::coroutine_handle<> h) noexcept {
      std::uintptr_t expected = kEmpty;
      // acq_rel: publishes our frame to the sender; on failure we see its token.
      if (box.state_.compare_exchange_strong(expected, reinterpret_cast<std::uintptr_t>(h.address()),
                                             std::memory_order_acq_rel, std::memory_order_acquire)) {
        return true;
      }
      box.state_.store(kEmpty, std::memory_order_relaxed);  // the token came meanwhile
      return false;
    }
    void await_resume() noexcept {}
  };
  Receive receive() noexcept { return {*this}; }

  void send() {
    std::uintptr_t prev = state_.exchange(kToken, std::memory_order_acq_rel);
    if (prev != kEmpty) {  // the receiver is parked here: hand it the token and wake it
      state_.store(kEmpty, std::memory_order_relaxed);
      dft::Executor::current()->schedule(
          dft::WorkItem::coroutine(std::coroutine_handle<>::from_address(reinterpret_cast<void*>(prev))));
    }
  }

#if DFTRACER_BENCH_HAVE_TBB
  void receive_tbb() {
    if (try_take()) return;
    tbb::task::suspend([this](tbb::task::suspend_point sp) {
      std::uintptr_t expected = kEmpty;
      if (!state_.compare_exchange_strong(expected, reinterpret_cast<std::uintptr_t>(sp), std::memory_order_acq_rel,
                                          std::memory_order_acquire)) {
        state_.store(kEmpty, std::memory_order_relaxed);
        tbb::task::resume(sp);
      }
    });
  }
  void send_tbb() {
    std::uintptr_t prev = state_.exchange(kToken, std::memory_order_acq_rel);
    if (prev != kEmpty) {
      state_.store(kEmpty, std::memory_order_relaxed);
      tbb::task::resume(reinterpret_cast<tbb::task::suspend_point>(prev));
    }
  }
#endif

 private:
  bool try_take() noexcept {
    if (state_.load(std::memory_order_acquire) != kToken) return false;
    state_.store(kEmpty, std::memory_order_relaxed);
    return true;
  }
  std::atomic<std::uintptr_t> state_{kEmpty};
};

dft::Task<void> player(Mailbox& mine, Mailbox& other, std::uint32_t rounds, bool serve) {
  if (serve) other.send();
  for (std::uint32_t i = 0; i < rounds; ++i) {
    co_await mine.receive();
    if (!serve || i + 1 < rounds) other.send();
  }
}

dft::Task<void> ping_pong_ours(std::uint32_t rounds) {
  Mailbox a, b;
  auto opponent = co_await dft::spawn(player(b, a, rounds, false));
  co_await player(a, b, rounds, true);
  co_await std::move(opponent);
}

#if DFTRACER_BENCH_HAVE_TBB
void player_tbb(Mailbox& mine, Mailbox& other, std::uint32_t rounds, bool serve) {
  if (serve) other.send_tbb();
  for (std::uint32_t i = 0; i < rounds; ++i) {
    mine.receive_tbb();
    if (!serve || i + 1 < rounds) other.send_tbb();
  }
}
#endif

void register_ping_pong(std::uint32_t rounds) {
  std::string name = sized("ping_pong", rounds);
  std::uint64_t handoffs = 2ull * rounds;
  for (int t : options().threads) {
    add(name, "ours", t, [=](benchmark::State& st) {
      dft::Runtime& rt = ours_runtime(t);
      measure(st, t, [&] {
        dft::sync_wait(rt, ping_pong_ours(rounds));
        return handoffs;
      });
    });
#if DFTRACER_BENCH_HAVE_TBB
    add(name, "tbb", t, [=](benchmark::State& st) {
      tbb::task_arena& arena = tbb_arena(t);
      measure(st, t, [&] {
        arena.execute([&] {
          Mailbox a, b;
          tbb::task_group g;
          g.run([&] { player_tbb(b, a, rounds, false); });
          g.run([&] { player_tbb(a, b, rounds, true); });
          g.wait();
        });
        return handoffs;
      });
    });
#endif
  }
}

// ---------------------------------------------------------------- yield_many
// `tasks` submitted tasks, each yielding `yields` times. Ours: co_await
// yield_now() (the task goes to the back of the shared queue). oneTBB has no
// yield for tasks; the equivalent is a task that re-enqueues its
// continuation (task_arena::enqueue, FIFO) `yields` times.

dft::Task<void> yielder(std::uint32_t yields) {
  for (std::uint32_t i = 0; i < yields; ++i) co_await dft::yield_now();
}

#if DFTRACER_BENCH_HAVE_TBB
struct TbbYielder {
  tbb::task_arena* arena;
  Latch* done;
  std::uint32_t left;
  void operator()() const {
    if (left == 0) {
      done->count_down();
      return;
    }
    arena->enqueue(TbbYielder{arena, done, left - 1});
  }
};
#endif

void register_yield_many(std::uint32_t tasks, std::uint32_t yields) {
  std::string name = "yield_many/tasks:" + std::to_string(tasks) + ",yields:" + std::to_string(yields);
  std::uint64_t total = std::uint64_t{tasks} * yields;
  for (int t : options().threads) {
    add(name, "ours", t, [=](benchmark::State& st) {
      dft::Runtime& rt = ours_runtime(t);
      measure(st, t, [&] {
        for (std::uint32_t i = 0; i < tasks; ++i) (void)rt.submit(yielder(yields));
        rt.wait_all();
        return total;
      });
    });
#if DFTRACER_BENCH_HAVE_TBB
    add(name, "tbb", t, [=](benchmark::State& st) {
      tbb::task_arena& arena = tbb_worker_arena(t);
      measure(st, t, [&] {
        Latch done(static_cast<std::int32_t>(tasks));
        for (std::uint32_t i = 0; i < tasks; ++i) arena.enqueue(TbbYielder{&arena, &done, yields});
        done.wait();
        return total;
      });
    });
#endif
  }
}

}  // namespace

void register_spawn() {
  bool quick = options().quick;
  register_spawn_external(quick ? 20000 : 1000000);
  register_spawn_internal(quick ? 20000 : 1000000);
  register_chain(1000);
  register_ping_pong(quick ? 1000 : 100000);
  if (quick) {
    register_yield_many(20, 100);
  } else {
    register_yield_many(200, 1000);
  }
}

}  // namespace dft_bench
