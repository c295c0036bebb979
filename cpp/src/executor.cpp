// Worker loop, stealing, parking and temporary workers (see executor.hpp).
#include "dftracer/utils/core/executor.hpp"

#include <cassert>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>

#if defined(__linux__)
#include <sched.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#include <unistd.h>
#endif

#include "dftracer/utils/core/detail/cpu_relax.hpp"
#include "dftracer/utils/core/detail/thread_start.hpp"
#include "dftracer/utils/core/errors.hpp"

namespace dftracer::utils {

namespace {

// How long an out-of-work worker keeps looking before it parks. A futex wake
// costs ~19 us here, so a worker that just ran out of work spins a little in
// case more arrives; it never spins long enough to show as busy when idle.
constexpr auto kSearchSpin = std::chrono::microseconds(50);
// Every this many tasks a worker polls the injection queue before its own
// deque, so a worker busy with local work cannot starve outside submissions.
constexpr std::uint32_t kGlobalPollInterval = 61;
constexpr std::size_t kMaxGlobalBatch = 32;
// A parked temporary worker wakes this often to retire once it is surplus: it may have
// parked while its blocked worker still needed it, and nobody wakes a parked
// worker just because a wait ended.
constexpr auto kTemporaryKeepAlive = std::chrono::milliseconds(100);

std::uint64_t next_random(std::uint64_t& state) noexcept {
  // xorshift64*: cheap, good enough to spread victims.
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545F4914F6CDD1Dull;
}

// Bumped in every child process right after fork(): a worker that sees a
// generation other than its executor's runs in a child (see worker_main).
std::atomic<std::uint64_t> g_fork_generation{0};
std::once_flag g_atfork_registered;

void register_fork_handler() {
#if defined(__unix__) || defined(__APPLE__)
  std::call_once(g_atfork_registered, [] {
    pthread_atfork(nullptr, nullptr, [] { g_fork_generation.fetch_add(1, std::memory_order_relaxed); });
  });
#endif
}

[[noreturn]] void end_forked_child() {
  std::fflush(nullptr);
  _exit(0);
}

constexpr std::uint64_t kLiveOne = 1ull << 32;
constexpr std::uint64_t kBlockedMask = kLiveOne - 1;

}  // namespace

struct Executor::Worker {
  Worker(std::uint32_t i, bool is_temporary, std::size_t deque_capacity)
      : deque(deque_capacity), index(i), temporary(is_temporary), rng(0x9E3779B97F4A7C15ull * (i + 1)) {}

  ChaseLevDeque deque;
  WorkerSlot slot;
  std::uint32_t index;
  bool temporary;
  std::thread thread;
  enum class Use : std::uint8_t { free, live, retired };
  std::atomic<Use> use{Use::free};
  std::uint64_t rng;
  std::uint32_t tick = 0;
};

namespace {
struct WorkerContext {
  Executor* executor = nullptr;
  void* worker = nullptr;
  WorkerSlot* slot = nullptr;
  int index = -1;
};
thread_local WorkerContext tls_worker;
}  // namespace

std::size_t resolve_thread_count(std::size_t requested) {
  if (requested > 0) return requested;
  // Digits only: strtoul would read "-2" as 2^64 - 2 threads.
  if (const char* env = std::getenv("DFTRACER_UTILS_THREADS"); env && *env >= '0' && *env <= '9') {
    char* end = nullptr;
    unsigned long v = std::strtoul(env, &end, 10);
    if (end != env && *end == '\0' && v > 0) return v;
  }
#if defined(__linux__)
  // The CPUs this process may run on (containers, taskset), not the machine's.
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<std::size_t>(n);
  }
#endif
  unsigned hc = std::thread::hardware_concurrency();
  return hc > 0 ? hc : 1;
}

Executor::Executor(ExecutorOptions options)
    : options_(std::move(options)),
      threads_(resolve_thread_count(options_.threads)),
      capacity_(threads_ + options_.max_temporary_workers),
      idle_(static_cast<std::uint32_t>(capacity_)),
      fork_generation_((register_fork_handler(), g_fork_generation.load(std::memory_order_relaxed))) {
  workers_.reserve(capacity_);
  for (std::size_t i = 0; i < capacity_; ++i) {
    bool temporary = i >= threads_;
    workers_.push_back(std::make_unique<Worker>(static_cast<std::uint32_t>(i), temporary, temporary ? 64 : 256));
  }
  for (std::size_t i = 0; i < threads_; ++i) {
    try {
      start_worker(*workers_[i]);
    } catch (const std::system_error& e) {
      // Never unwind with joinable threads (std::terminate): stop the ones
      // that started, then report which limit was hit.
      stop();
      throw ThreadStartError(describe_thread_start_failure(options_.name + " worker", i, threads_, e));
    }
  }
}

Executor::~Executor() {
  stop();
  // Anything still queued never ran: drop task references; coroutine frames
  // belong to their parents and are left alone.
  auto drop = [](WorkItem w) {
    if (w.is_task()) w.as_task()->discard_from_queue();
  };
  while (WorkItem w = injection_.pop()) drop(w);
  for (auto& worker : workers_) {
    while (WorkItem w = worker->deque.take()) drop(w);
  }
}

void Executor::start_worker(Worker& w) {
  // Counted before the thread exists (it may park at once); undone if the
  // system refuses the thread, before anybody depends on it.
  w.use.store(Worker::Use::live, std::memory_order_relaxed);
  w.slot.activity.store(WorkerActivity::idle, std::memory_order_relaxed);
  live_and_blocked_.fetch_add(kLiveOne, std::memory_order_seq_cst);
  idle_.add_worker();
  std::uint32_t hw = high_water_.load(std::memory_order_relaxed);
  while (hw < w.index + 1 && !high_water_.compare_exchange_weak(hw, w.index + 1, std::memory_order_release)) {}
  try {
    w.thread = start_runtime_thread([this, &w] { worker_main(w); });
  } catch (...) {
    idle_.remove_worker(false);
    live_and_blocked_.fetch_sub(kLiveOne, std::memory_order_seq_cst);
    w.slot.activity.store(WorkerActivity::retired, std::memory_order_relaxed);
    w.use.store(Worker::Use::free, std::memory_order_release);
    throw;
  }
}

Executor* Executor::current() noexcept { return tls_worker.executor; }
int Executor::current_worker_index() noexcept { return tls_worker.index; }
WorkerSlot* Executor::current_slot() noexcept { return tls_worker.slot; }

bool Executor::try_take_local(WorkItem item) noexcept {
  auto* w = static_cast<Worker*>(tls_worker.worker);
  return w != nullptr && w->deque.take_if(item);
}

void Executor::schedule(WorkItem item) {
  if (tls_worker.executor == this) {
    // Not "the pushing worker will get to it itself": its task may now block
    // where we cannot see it, so the item must reach a parked worker like
    // any other (push is seq_cst, see idle_coordinator.hpp).
    static_cast<Worker*>(tls_worker.worker)->deque.push(item);
    idle_.notify_one();
    return;
  }
  schedule_external(item);
}

void Executor::schedule_external(WorkItem item) {
  // Counted while inside: the item may run (and let its runtime shut down)
  // before notify_one returns, and stop() must not free what we still touch
  // (another runtime's thread resuming a coroutine of ours, say).
  schedulers_inside_.fetch_add(1, std::memory_order_seq_cst);
  injection_.push(item);
  idle_.notify_one();
  schedulers_inside_.fetch_sub(1, std::memory_order_release);
}

WorkItem Executor::take_global_batch(Worker& w) {
  if (injection_.empty_hint()) return {};
  std::size_t live = live_threads();
  std::size_t n = injection_.size_hint() / (live ? live : 1) + 1;
  if (n > kMaxGlobalBatch) n = kMaxGlobalBatch;
  WorkItem batch[kMaxGlobalBatch];
  std::size_t got = injection_.pop_batch(n, [&, i = std::size_t{0}](WorkItem x) mutable { batch[i++] = x; });
  if (got == 0) return {};
  // The oldest runs now; the rest go to our deque newest first, so that our
  // LIFO takes return them oldest first: outside submissions keep their
  // order on a worker.
  for (std::size_t i = got; i-- > 1;) w.deque.push(batch[i]);
  if (got > 1) idle_.notify_one();
  return batch[0];
}

WorkItem Executor::find_local_or_global(Worker& w) {
  if (++w.tick % kGlobalPollInterval == 0) {
    if (WorkItem item = take_global_batch(w)) return item;
  }
  if (WorkItem item = w.deque.take()) return item;
  return take_global_batch(w);
}

WorkItem Executor::steal_or_global(Worker& w) {
  std::uint32_t n = high_water_.load(std::memory_order_acquire);
  if (n > 1) {
    std::uint32_t start = static_cast<std::uint32_t>(next_random(w.rng) % n);
    for (std::uint32_t k = 0; k < n; ++k) {
      std::uint32_t v = start + k;
      if (v >= n) v -= n;
      if (v == w.index) continue;
      ChaseLevDeque& victim = workers_[v]->deque;
      for (int attempt = 0; attempt < 4; ++attempt) {
        WorkItem out;
        auto r = victim.steal(out);
        if (r == ChaseLevDeque::StealResult::success) return out;
        if (r == ChaseLevDeque::StealResult::empty) break;
      }
    }
  }
  return take_global_batch(w);
}

bool Executor::has_pending_work() const noexcept {
  // seq_cst loads throughout: this is the re-check half of the idle
  // protocol's store-load pairs (idle_coordinator.hpp).
  if (injection_.has_work()) return true;
  std::uint32_t n = high_water_.load(std::memory_order_seq_cst);
  for (std::uint32_t i = 0; i < n; ++i) {
    if (workers_[i]->deque.has_work()) return true;
  }
  return false;
}

std::size_t Executor::queued_hint() const noexcept {
  std::size_t total = injection_.size_hint();
  std::uint32_t n = high_water_.load(std::memory_order_acquire);
  for (std::uint32_t i = 0; i < n; ++i) total += workers_[i]->deque.size_hint();
  return total;
}

std::size_t Executor::tasks_running() const noexcept {
  std::size_t n = 0;
  std::uint32_t hw = high_water_.load(std::memory_order_acquire);
  for (std::uint32_t i = 0; i < hw; ++i) {
    const Worker& w = *workers_[i];
    if (w.use.load(std::memory_order_acquire) == Worker::Use::live &&
        w.slot.task_id.load(std::memory_order_acquire) != 0) {
      ++n;
    }
  }
  return n;
}

std::size_t Executor::live_threads() const noexcept {
  return static_cast<std::size_t>(live_and_blocked_.load(std::memory_order_relaxed) >> 32);
}

std::size_t Executor::blocked_workers() const noexcept {
  return static_cast<std::size_t>(live_and_blocked_.load(std::memory_order_relaxed) & kBlockedMask);
}

void Executor::run_item(Worker&, WorkItem item) {
  if (item.is_task()) {
    item.as_task()->run_from_queue();
  } else {
    item.as_coroutine().resume();
  }
}

void Executor::worker_main(Worker& w) {
  tls_worker = WorkerContext{this, &w, &w.slot, static_cast<int>(w.index)};
  bool searching = false;
  for (;;) {
    WorkItem item = find_local_or_global(w);
    if (!item) {
      if (!searching) searching = idle_.try_begin_search();
      // Non-searchers only watch the injection queue; searchers also steal.
      auto deadline = std::chrono::steady_clock::now() + kSearchSpin;
      for (std::uint32_t round = 0;; ++round) {
        item = searching ? steal_or_global(w) : take_global_batch(w);
        if (item) break;
        if ((round & 15) == 15 && std::chrono::steady_clock::now() >= deadline) break;
        for (int i = 0; i < 32; ++i) cpu_relax();
      }
    }
    if (item) {
      if (searching) {
        searching = false;
        // The last searcher found work: if more is queued, wake one more to
        // take it. Only then: a lone task must not pay a second futex wake
        // (~15 us here) before it runs. No wake-up is lost: a producer that
        // skipped its wake because it saw searching > 0 published before our
        // seq_cst end_search RMW, and has_pending_work() (seq_cst loads)
        // comes after it and sees the item. A producer that publishes after
        // our end_search sees searching == 0 itself and wakes someone.
        if (idle_.end_search() && has_pending_work()) idle_.notify_one();
      }
      run_item(w, item);
      // A task forked and, in the child, returned here: this thread is all
      // that is left of the pool there, and the queues are the parent's.
      if (g_fork_generation.load(std::memory_order_relaxed) != fork_generation_) [[unlikely]] {
        if (options_.on_forked_child) options_.on_forked_child();
        end_forked_child();
      }
      continue;
    }
    if (!park(w, searching)) break;
  }
  if (options_.on_worker_exit) options_.on_worker_exit();
  w.slot.activity.store(WorkerActivity::retired, std::memory_order_relaxed);
  tls_worker = WorkerContext{};
  w.use.store(Worker::Use::retired, std::memory_order_release);
}

bool Executor::park(Worker& w, bool& searching) {
  if (stopping_.load(std::memory_order_acquire)) {
    // Drain before exiting: only leave when nothing is queued anywhere.
    return has_pending_work();
  }
  if (w.temporary && try_retire_temporary_worker()) {
    idle_.remove_worker(searching);
    searching = false;
    // Re-check after leaving the count (seq_cst RMW, then seq_cst loads):
    // a producer that saw us awake did not wake anyone for its item, and
    // the workers left may all be blocked where nobody can see it.
    if (!has_pending_work()) return false;
    live_and_blocked_.fetch_add(kLiveOne, std::memory_order_seq_cst);
    idle_.add_worker();
    idle_.begin_search();
    searching = true;
    return true;
  }
  w.slot.activity.store(WorkerActivity::parked, std::memory_order_relaxed);
  if (!idle_.prepare_park(w.index, searching)) {
    // Stopping: go round once more and exit once drained.
    w.slot.activity.store(WorkerActivity::idle, std::memory_order_relaxed);
    return true;
  }
  searching = false;
  // Every parker re-checks, not only the last searcher: a producer that
  // published before our registration may have seen every worker awake and
  // woken nobody, and the awake ones may be blocked in their tasks.
  if (has_pending_work()) {
    idle_.cancel_park(w.index);
    searching = true;
    w.slot.activity.store(WorkerActivity::idle, std::memory_order_relaxed);
    return true;
  }
  if (w.temporary && !idle_.wait_parked_for(w.index, kTemporaryKeepAlive)) {
    // Timed out: go round once more; the next park retires us if surplus.
    w.slot.activity.store(WorkerActivity::idle, std::memory_order_relaxed);
    return true;
  }
  if (!w.temporary) idle_.wait_parked(w.index);
  searching = true;  // notify_one wakes workers as searchers
  w.slot.activity.store(WorkerActivity::idle, std::memory_order_relaxed);
  return true;
}

bool Executor::try_retire_temporary_worker() {
  std::uint64_t s = live_and_blocked_.load(std::memory_order_seq_cst);
  for (;;) {
    std::uint64_t live = s >> 32;
    std::uint64_t blocked = s & kBlockedMask;
    if (live <= blocked + threads_) return false;  // still needed
    if (live_and_blocked_.compare_exchange_weak(s, s - kLiveOne, std::memory_order_seq_cst)) {
      return true;
    }
  }
}

void Executor::begin_blocking() {
  std::uint64_t prev = live_and_blocked_.fetch_add(1, std::memory_order_seq_cst);
  std::uint64_t live = prev >> 32;
  std::uint64_t blocked = (prev & kBlockedMask) + 1;
  if (live < blocked + threads_) {
    start_temporary_worker();
  } else if (has_pending_work()) {
    idle_.notify_one();
  }
}

void Executor::end_blocking() { live_and_blocked_.fetch_sub(1, std::memory_order_seq_cst); }

bool Executor::start_temporary_worker() {
  std::lock_guard lock(temporary_mu_);
  for (std::size_t i = threads_; i < capacity_; ++i) {
    Worker& w = *workers_[i];
    Worker::Use use = w.use.load(std::memory_order_acquire);
    if (use == Worker::Use::live) continue;
    if (w.thread.joinable()) w.thread.join();  // a retired one: reuse its slot
    try {
      start_worker(w);
    } catch (const std::system_error&) {
      // Called from a blocking wait (BlockingScope, noexcept): the system
      // refusing one more thread must not end the process. The wait goes
      // on without one; the watchdog sees the starvation and reports.
      temporary_start_failures_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    temporary_started_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  // Every temporary slot is in use: the blocked worker just waits. Progress can
  // still come from the other workers; the watchdog reports starvation.
  return false;
}

bool Executor::add_temporary_worker() {
  if (stopping_.load(std::memory_order_acquire)) return false;
  return start_temporary_worker();
}

std::size_t Executor::temporary_workers_live() const noexcept {
  std::size_t live = live_threads();
  return live > threads_ ? live - threads_ : 0;
}

Executor::BlockingScope::BlockingScope() noexcept : ex_(tls_worker.executor) {
  if (!ex_) return;
  previous_ = tls_worker.slot->activity.load(std::memory_order_relaxed);
  tls_worker.slot->activity.store(WorkerActivity::blocked, std::memory_order_relaxed);
  ex_->begin_blocking();
}

Executor::BlockingScope::~BlockingScope() {
  if (!ex_) return;
  ex_->end_blocking();
  tls_worker.slot->activity.store(previous_, std::memory_order_relaxed);
}

void Executor::stop() {
  if (tls_worker.executor == this) {
    throw std::logic_error("Executor::stop() called from one of its own workers");
  }
  if (stopped_.exchange(true, std::memory_order_acq_rel)) return;
  stopping_.store(true, std::memory_order_seq_cst);
  idle_.notify_all_and_stop();
  for (std::size_t i = 0; i < threads_; ++i) {
    if (workers_[i]->thread.joinable()) workers_[i]->thread.join();
  }
  // Spares may still be starting while the last blocked waits end: join
  // until none is live.
  for (;;) {
    std::vector<std::thread> to_join;
    {
      std::lock_guard lock(temporary_mu_);
      for (std::size_t i = threads_; i < capacity_; ++i) {
        if (workers_[i]->thread.joinable()) to_join.push_back(std::move(workers_[i]->thread));
      }
    }
    if (to_join.empty()) break;
    for (auto& t : to_join) t.join();
  }
  // A thread of another pool may still be returning from schedule_external.
  for (int spins = 0; schedulers_inside_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < 1000) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
}

std::vector<Executor::WorkerView> Executor::workers_view() const {
  std::vector<WorkerView> out;
  std::uint32_t n = high_water_.load(std::memory_order_acquire);
  out.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    const Worker& w = *workers_[i];
    if (w.use.load(std::memory_order_acquire) != Worker::Use::live) continue;
    const WorkerSlot& s = w.slot;
    WorkerView v{};
    v.index = w.index;
    v.temporary = w.temporary;
    v.activity = s.activity.load(std::memory_order_relaxed);
    v.task_id = s.task_id.load(std::memory_order_relaxed);
    if (v.task_id) {
      // Unnamed tasks publish an empty name (the runtime formats it on
      // read, not per task). A read that kept racing with the worker shows
      // no name: task_id and the name are read separately, so either may be
      // one task staler than the other.
      if (auto name = s.read_name()) {
        v.task_name = std::move(*name);
        v.name_known = true;
      }
    }
    v.task_since_ns = s.task_since_ns.load(std::memory_order_relaxed);
    v.tasks_run = s.tasks_run.load(std::memory_order_relaxed);
    v.waiting_on = s.waiting_on.load(std::memory_order_relaxed);
    v.queue_depth = w.deque.size_hint();
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace dftracer::utils
