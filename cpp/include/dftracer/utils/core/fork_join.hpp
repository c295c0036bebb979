// Fork-join inside tasks: spawn, join, when_all, yield_now.
//
//   JoinHandle<int> h = co_await spawn(fib(n - 1));   // child goes to our deque
//   int b = co_await fib(n - 2);                       // run inline
//   int a = co_await std::move(h);                     // join
//
// Children are plain coroutines in the worker deques: no TaskState, no
// registry entry, no id. Joining a child that is still the bottom item of our
// own deque (nobody stole it: the common case) pops it back and runs it
// inline, by a nested resume() call, with no atomic read-modify-write on the
// child when it finishes inside that call. Otherwise the join is one atomic
// exchange on each side: the one that comes second continues (the child
// resumes its parent directly by symmetric transfer when the parent is
// already waiting). The join awaiter frees the child frame, so a joined
// handle costs nothing to drop.
//
// Why a nested call and not symmetric transfer for the inline child: where
// the compiler does not turn symmetric transfer into a tail call (sanitizer
// and debug builds), a parent that never suspends would keep growing the
// stack with every inline join; a nested call grows it only with the depth
// of the spawn tree, like the plain recursion it replaces.
#pragma once

#include <cassert>
#include <exception>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "dftracer/utils/core/executor.hpp"
#include "dftracer/utils/core/task.hpp"

namespace dftracer::utils {

namespace detail {
// Gives up a spawned child nobody will join: it runs to completion and frees
// itself, unless it already finished, in which case we free it here.
template <class P>
void detach_child(std::coroutine_handle<P> h) noexcept {
  PromiseBase& p = h.promise();
  // The child may run on after our task is gone and still reach it (its
  // cancel token, this_task::owner()): it keeps the task alive meanwhile.
  if (p.owner) {
    retain_owner(p.owner);
    p.holds_owner = true;
  }
  // acq_rel: acquire so that, when it finished, its writes (the result we
  // destroy) happen before the destroy; release pairs with its final exchange
  // so that it sees kJoinDetached (and holds_owner) only after we stopped
  // touching it.
  void* prev = p.join_state.exchange(kJoinDetached, std::memory_order_acq_rel);
  if (prev == kJoinDone) {
    if (p.holds_owner) release_owner(p.owner);
    h.destroy();
  }
  // else: still running or queued; it frees itself at its final suspend.
}
}  // namespace detail

template <class T>
class [[nodiscard]] JoinHandle {
 public:
  using promise_type = detail::Promise<T>;

  JoinHandle() noexcept = default;
  explicit JoinHandle(std::coroutine_handle<promise_type> h) noexcept : child_(h) {}
  JoinHandle(JoinHandle&& o) noexcept : child_(std::exchange(o.child_, {})) {}
  JoinHandle& operator=(JoinHandle&& o) noexcept {
    if (this != &o) {
      detach();
      child_ = std::exchange(o.child_, {});
    }
    return *this;
  }
  JoinHandle(const JoinHandle&) = delete;
  JoinHandle& operator=(const JoinHandle&) = delete;
  // Dropping an unjoined handle detaches the child: it runs to completion and
  // frees itself; its result or exception is discarded.
  ~JoinHandle() { detach(); }

  bool done() const noexcept {
    return child_ && child_.promise().join_state.load(std::memory_order_acquire) == detail::kJoinDone;
  }

  // Gives up the child *without* detaching it: the caller owns the duty to
  // join it, by awaiting JoinHandle(h) later. For containers of pending
  // joins that should cost nothing to create or destroy (parallel_for.hpp).
  [[nodiscard]] std::coroutine_handle<promise_type> release() noexcept { return std::exchange(child_, {}); }

  // Owns the child from `co_await std::move(handle)` on, and frees its frame
  // once the result is taken.
  class [[nodiscard]] Awaiter {
   public:
    explicit Awaiter(std::coroutine_handle<promise_type> c) noexcept : child_(c) {}
    Awaiter(Awaiter&& o) noexcept : child_(std::exchange(o.child_, {})) {}
    Awaiter& operator=(Awaiter&&) = delete;
    // Only reached with a live child when the parent is destroyed while
    // suspended here (teardown): the child is detached.
    ~Awaiter() {
      if (child_) detail::detach_child(child_);
    }

    bool await_ready() const noexcept {
      // acquire: pairs with the child's acq_rel exchange at its final
      // suspend, so its result is visible to await_resume.
      return child_.promise().join_state.load(std::memory_order_acquire) == detail::kJoinDone;
    }
    bool await_suspend(std::coroutine_handle<> parent) noexcept {
      promise_type& p = child_.promise();
      if (Executor::try_take_local(WorkItem::coroutine(child_))) {
        // Fast path: the child was still queued at the bottom of our deque
        // and is now ours alone (take_if won any race with thieves). Run it
        // here; if it finishes inside this call, its final suspend sees
        // itself in tls_inline_child and just stores kJoinDone.
        void* outer = detail::tls_inline_child;
        detail::tls_inline_child = child_.address();
        child_.resume();
        detail::tls_inline_child = outer;
        // acquire: if the child suspended inside (a join of a stolen
        // grandchild, yield_now) and then finished on another thread, its
        // acq_rel exchange published the result.
        if (p.join_state.load(std::memory_order_acquire) == detail::kJoinDone) return false;
        // It suspended and is not done: fall through and park, as for a
        // child that was stolen.
      }
      void* expected = nullptr;
      // acq_rel: on success the child, finishing on another thread, reads
      // our frame address and resumes us (its release publishes its result);
      // on failure it already finished and the acquire makes its result
      // visible before we read it.
      return p.join_state.compare_exchange_strong(expected, parent.address(), std::memory_order_acq_rel,
                                                  std::memory_order_acquire);
    }
    T await_resume() {
      // The child has finished (ran inline, resumed us, or was done): take
      // its result, then free the frame, also when take() rethrows (the
      // exception in flight keeps its own reference to the error object).
      struct Free {
        std::coroutine_handle<promise_type> h;
        ~Free() { h.destroy(); }
      } free{std::exchange(child_, {})};
      return free.h.promise().take();
    }

   private:
    std::coroutine_handle<promise_type> child_;
  };

  // Joining consumes the handle: the awaiter takes the child over, so the
  // handle's destructor has nothing left to do.
  Awaiter operator co_await() && noexcept {
    assert(child_ && "joining an empty JoinHandle");
    return Awaiter{std::exchange(child_, {})};
  }

 private:
  void detach() noexcept {
    if (child_) detail::detach_child(std::exchange(child_, {}));
  }
  std::coroutine_handle<promise_type> child_;
};

namespace detail {
template <class T>
struct SpawnAwaiter {
  Task<T> task;
  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> parent) {
    Executor* ex = Executor::current();
    if (!ex) throw std::logic_error("spawn() must be awaited on a runtime worker");
    auto h = task.handle();
    h.promise().spawned = true;
    inherit_owner(h.promise(), parent);
    handle_ = JoinHandle<T>(task.release());
    ex->schedule(WorkItem::coroutine(h));
    return false;  // the parent keeps running
  }
  JoinHandle<T> await_resume() noexcept { return std::move(handle_); }
  JoinHandle<T> handle_;
};

struct YieldAwaiter {
  bool await_ready() const noexcept { return Executor::current() == nullptr; }
  void await_suspend(std::coroutine_handle<> h) { Executor::current()->schedule_external(WorkItem::coroutine(h)); }
  void await_resume() const noexcept {}
};
}  // namespace detail

// Starts `task` as a child of the current coroutine; returns its JoinHandle.
template <class T>
detail::SpawnAwaiter<T> spawn(Task<T> task) {
  return detail::SpawnAwaiter<T>{std::move(task), {}};
}

// Lets other queued work run; resumes later on the same pool.
inline detail::YieldAwaiter yield_now() noexcept { return {}; }

// Result of one task in when_all_settled: a value (none for void) or an error.
template <class T>
struct Outcome {
  std::optional<T> value;
  std::exception_ptr error;
  bool ok() const noexcept { return !error; }
};
template <>
struct Outcome<void> {
  std::exception_ptr error;
  bool ok() const noexcept { return !error; }
};

// Runs every task (all but the last as spawned children, the last inline)
// and waits for all of them, whatever fails. Never throws for a task's error.
// Joins newest first: the child spawned last is the bottom item of our deque,
// so each join takes the fast path (fork_join.hpp top) unless it was stolen.
template <class T>
Task<std::vector<Outcome<T>>> when_all_settled(std::vector<Task<T>> tasks) {
  std::vector<Outcome<T>> out(tasks.size());
  if (tasks.empty()) co_return out;
  std::vector<JoinHandle<T>> joins;
  joins.reserve(tasks.size() - 1);
  for (std::size_t i = 0; i + 1 < tasks.size(); ++i) joins.push_back(co_await spawn(std::move(tasks[i])));
  // co_await inside a try block (not a handler) is fine: no helper frame.
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(tasks.back());
    } else {
      out.back().value.emplace(co_await std::move(tasks.back()));
    }
  } catch (...) {
    out.back().error = std::current_exception();
  }
  for (std::size_t i = joins.size(); i-- > 0;) {
    try {
      if constexpr (std::is_void_v<T>) {
        co_await std::move(joins[i]);
      } else {
        out[i].value.emplace(co_await std::move(joins[i]));
      }
    } catch (...) {
      out[i].error = std::current_exception();
    }
  }
  co_return out;
}

// Runs every task and waits for all of them. Every exception is kept until
// all tasks are done; then the first (in argument order) is rethrown. Use
// when_all_settled to see the others.
template <class T>
Task<std::conditional_t<std::is_void_v<T>, void, std::vector<T>>> when_all(std::vector<Task<T>> tasks) {
  auto outcomes = co_await when_all_settled(std::move(tasks));
  for (auto& o : outcomes) {
    if (o.error) std::rethrow_exception(o.error);
  }
  if constexpr (!std::is_void_v<T>) {
    std::vector<T> values;
    values.reserve(outcomes.size());
    for (auto& o : outcomes) values.push_back(std::move(*o.value));
    co_return values;
  }
}

namespace detail {
template <class T>
using Settled = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

template <class T>
Task<Settled<T>> as_settled(Task<T> t) {
  if constexpr (std::is_void_v<T>) {
    co_await std::move(t);
    co_return std::monostate{};
  } else {
    co_return co_await std::move(t);
  }
}
}  // namespace detail

// Variadic form: results as a tuple (std::monostate for void tasks).
template <class... Ts>
Task<std::tuple<detail::Settled<Ts>...>> when_all(Task<Ts>... tasks) {
  auto joins = std::make_tuple(co_await spawn(detail::as_settled(std::move(tasks)))...);
  std::tuple<std::optional<detail::Settled<Ts>>...> values;
  std::exception_ptr first;
  auto join_one = [&first](auto& join, auto& slot) -> Task<void> {
    try {
      slot.emplace(co_await std::move(join));
    } catch (...) {
      // Joins run newest first, so the last error caught is the first in
      // argument order: the one to rethrow.
      first = std::current_exception();
    }
  };
  // Newest first, so each join finds its child at the bottom of our deque.
  co_await [&]<std::size_t... I>(std::index_sequence<I...>)->Task<void> {
    constexpr std::size_t last = sizeof...(Ts) - 1;
    (co_await join_one(std::get<last - I>(joins), std::get<last - I>(values)), ...);
  }
  (std::index_sequence_for<Ts...>{});
  if (first) std::rethrow_exception(first);
  co_return std::apply([](auto&... v) { return std::make_tuple(std::move(*v)...); }, values);
}

// Variadic form of when_all_settled: one Outcome per task, in argument
// order, so every error of a variadic when_all stays reachable.
template <class... Ts>
Task<std::tuple<Outcome<Ts>...>> when_all_settled(Task<Ts>... tasks) {
  auto joins = std::make_tuple(co_await spawn(std::move(tasks))...);
  std::tuple<Outcome<Ts>...> out;
  auto settle_one = []<class T>(JoinHandle<T>& join, Outcome<T>& o) -> Task<void> {
    try {
      if constexpr (std::is_void_v<T>) {
        co_await std::move(join);
      } else {
        o.value.emplace(co_await std::move(join));
      }
    } catch (...) {
      o.error = std::current_exception();
    }
  };
  // Newest first, so each join finds its child at the bottom of our deque.
  co_await [&]<std::size_t... I>(std::index_sequence<I...>)->Task<void> {
    constexpr std::size_t last = sizeof...(Ts) - 1;
    (co_await settle_one(std::get<last - I>(joins), std::get<last - I>(out)), ...);
  }
  (std::index_sequence_for<Ts...>{});
  co_return out;
}

}  // namespace dftracer::utils
