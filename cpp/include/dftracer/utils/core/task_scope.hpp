// TaskScope: structured concurrency, a nursery of child tasks.
//
//   TaskScope scope;
//   for (auto& part : parts) co_await scope.spawn(process(part));
//   co_await scope.join();          // every child has finished; rethrows the first error
//
//   // or, joined on every path, also when the body throws:
//   co_await with_task_scope([&](TaskScope& s) -> Task<void> {
//     co_await s.spawn(a());
//     co_await s.spawn(b());
//     co_return;
//   });
//
// Children run as queued coroutines on the spawning worker's executor
// (stolen by idle workers like any child) and their results are discarded:
// a scope is for work that reports through side effects, channels or shared
// state. spawn() may be awaited by the scope's owner or by a running child
// (a child may add siblings); join() by the owner only, once at a time.
//
// Errors: the first child to throw (first in time) wins; the scope then
// requests stop on its std::stop_token (stop_token(), for children that
// want to give up early) and keeps going: join() still waits for every
// child, then rethrows that first exception. The others are dropped. After
// join() returns (or throws), the scope is empty and may be used again.
//
// Wake-up: the last child to finish schedules the joining coroutine on the
// executor it suspended on; it never resumes it inline on its own stack.
// When join() returns, every child's frame has been freed: nothing the
// children referenced on the owner's frame is touched afterwards.
//
// Destroying a scope that still has unjoined children is a bug, because
// the children may refer to locals that die with the owner's frame:
//  - debug builds: an assertion fails, naming the scope's pending count;
//  - release builds (NDEBUG): the children are asked to stop (the scope's
//    stop token) and continue detached. They hold the scope's shared state,
//    not the TaskScope object, so the scope's own machinery never dangles
//    and their frames are freed when they end; their errors are dropped.
//    (A child that spawns siblings through a TaskScope& does refer to the
//    dead object: one more reason the debug build refuses.)
// So the body must reach join() on every path. If code between spawn and
// join can throw, use with_task_scope, which joins on every path.
#pragma once

#include <atomic>
#include <cassert>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <type_traits>
#include <utility>

#include "dftracer/utils/core/detail/detached.hpp"
#include "dftracer/utils/core/executor.hpp"
#include "dftracer/utils/core/task.hpp"
#include "dftracer/utils/core/task_state.hpp"

namespace dftracer::utils {

namespace detail {

struct ScopeState {
  // Children still running, plus one held by the scope until join() (so
  // the count can reach zero only once the joiner is waiting).
  std::atomic<std::size_t> pending{1};
  std::atomic<bool> failed{false};
  std::exception_ptr first_error;  // written once, by whoever set `failed`
  // The joiner, written before it gives up its count (see JoinAwaiter).
  std::coroutine_handle<> joiner;
  Executor* resume_on = nullptr;
  std::stop_source stop;

  void record(std::exception_ptr e) noexcept {
    // acq_rel: one recorder wins; its write of first_error is published to
    // the joiner by the recorder's later decrement of `pending`.
    if (failed.exchange(true, std::memory_order_acq_rel)) return;
    first_error = std::move(e);
    stop.request_stop();
  }

  void child_done() noexcept {
    // acq_rel: releases this child's writes (its error, its side effects) to
    // the joiner; the last one acquires everyone's, and the joiner's frame.
    if (pending.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    if (resume_on) {
      resume_on->schedule(WorkItem::coroutine(joiner));
    } else {
      joiner.resume();  // the joiner suspended off every pool
    }
  }
};

// with_task_scope's way in to a scope's state.
struct ScopeAccess;

// `owner` keeps the submitted task the child's promise points at (task.hpp)
// alive for as long as the child runs: a child of a scope destroyed unjoined
// may outlive that task.
template <class T>
DetachedChild scope_child(std::shared_ptr<ScopeState> st, Task<T> task, TaskStateRef owner) {
  try {
    co_await std::move(task);  // a value is discarded at the end of the statement
  } catch (...) {
    st->record(std::current_exception());
  }
  // Freed before we count ourselves out: once join() returns, no frame of
  // the user's is left alive.
  task = Task<T>();
  owner = TaskStateRef();
  st->child_done();
}

}  // namespace detail

class TaskScope {
 public:
  TaskScope() : st_(std::make_shared<detail::ScopeState>()) {}
  TaskScope(const TaskScope&) = delete;
  TaskScope& operator=(const TaskScope&) = delete;
  // See the top of this file: asserts in debug builds when children were
  // never joined; in release builds they go on detached, asked to stop.
  ~TaskScope() {
    // acquire: pairs with the children's decrements.
    std::size_t unjoined = st_->pending.load(std::memory_order_acquire) - 1;
    assert(unjoined == 0 &&
           "TaskScope destroyed with unjoined children: co_await scope.join() on every path, "
           "or use with_task_scope");
    if (unjoined != 0) st_->stop.request_stop();
  }

  template <class T>
  class [[nodiscard]] SpawnAwaiter {
   public:
    SpawnAwaiter(std::shared_ptr<detail::ScopeState> st, Task<T> task) noexcept
        : st_(std::move(st)), task_(std::move(task)) {}
    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> spawner) {
      Executor* ex = Executor::current();
      if (!ex) throw std::logic_error("TaskScope::spawn() must be awaited on a runtime worker");
      TaskState* owner = nullptr;
      if constexpr (std::is_base_of_v<detail::PromiseBase, P>) owner = spawner.promise().owner;
      detail::DetachedChild child = detail::scope_child<T>(st_, std::move(task_), TaskStateRef::share(owner));
      // relaxed: the spawner is the owner before join() (sequenced before
      // it) or a running child whose own count keeps `pending` above zero;
      // the schedule below publishes the count to the new child, whose
      // decrement is an RMW and so sees it.
      st_->pending.fetch_add(1, std::memory_order_relaxed);
      std::move(child).start_on(*ex, owner);
      return false;  // the spawner keeps running
    }
    void await_resume() const noexcept {}

   private:
    std::shared_ptr<detail::ScopeState> st_;
    Task<T> task_;
  };

  class [[nodiscard]] JoinAwaiter {
   public:
    explicit JoinAwaiter(detail::ScopeState& st) noexcept : st_(st) {}
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> joiner) noexcept {
      st_.joiner = joiner;
      st_.resume_on = Executor::current();
      // acq_rel: publishes joiner/resume_on to the last child; when we are
      // last (every child done), acquires their writes and we go on.
      return st_.pending.fetch_sub(1, std::memory_order_acq_rel) != 1;
    }
    void await_resume() {
      // Every child has finished: the scope is empty, ready for reuse.
      st_.pending.store(1, std::memory_order_relaxed);
      st_.joiner = {};
      st_.failed.store(false, std::memory_order_relaxed);
      std::exception_ptr error = std::exchange(st_.first_error, nullptr);
      if (st_.stop.stop_requested()) st_.stop = std::stop_source();  // a fresh token for the next round
      if (error) std::rethrow_exception(error);
    }

   private:
    detail::ScopeState& st_;
  };

  // `co_await scope.spawn(task)`: queues `task` as a child of this scope;
  // returns at once (the child runs on the pool). Its result is discarded.
  template <class T>
  SpawnAwaiter<T> spawn(Task<T> task) {
    return SpawnAwaiter<T>(st_, std::move(task));
  }

  // `co_await scope.join()`: returns once every child has finished (also
  // children spawned by children), then rethrows the first error, if any.
  JoinAwaiter join() noexcept { return JoinAwaiter(*st_); }

  // Set after the first error, or by request_stop(); children may poll it
  // (or register a std::stop_callback) to give up early.
  std::stop_token stop_token() const noexcept { return st_->stop.get_token(); }
  void request_stop() noexcept { st_->stop.request_stop(); }

  // Children not yet finished (a snapshot).
  std::size_t pending() const noexcept { return st_->pending.load(std::memory_order_acquire) - 1; }

 private:
  friend struct detail::ScopeAccess;
  std::shared_ptr<detail::ScopeState> st_;
};

namespace detail {
struct ScopeAccess {
  static ScopeState& state(TaskScope& s) noexcept { return *s.st_; }
};
}  // namespace detail

// Runs `body(scope)` (a coroutine: TaskScope& -> Task<R>) with a fresh
// scope and joins the scope on every path. If the body throws, that counts
// as an error at that moment: the scope is asked to stop, every child is
// still joined, and the first error in time (the body's or a child's) is
// rethrown. Otherwise yields the body's result once every child finished.
template <class F>
auto with_task_scope(F body) -> std::invoke_result_t<F&, TaskScope&> {
  using R = typename std::invoke_result_t<F&, TaskScope&>::value_type;
  TaskScope scope;
  std::optional<std::conditional_t<std::is_void_v<R>, bool, R>> result;
  try {
    if constexpr (std::is_void_v<R>) {
      co_await body(scope);
      result.emplace(true);
    } else {
      result.emplace(co_await body(scope));
    }
  } catch (...) {
    detail::ScopeAccess::state(scope).record(std::current_exception());
  }
  co_await scope.join();  // rethrows the first error
  if constexpr (!std::is_void_v<R>) co_return std::move(*result);
}

}  // namespace dftracer::utils
