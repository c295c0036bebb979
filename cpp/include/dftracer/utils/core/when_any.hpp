// when_any: wait for the first of several tasks to finish.
//
//   auto [index, value] = co_await when_any(std::move(replicas));
//   std::stop_source stop;                       // the losers can check it
//   auto first = co_await when_any(stop, fetch(a, stop.get_token()), fetch(b, stop.get_token()));
//
// Rule: the first task to *finish* wins, whether it returned or threw (as
// in folly's collectAny and the C++ senders' when_any). when_any yields the
// winner's index and value, or rethrows the winner's exception;
// when_any_settled yields the index and an Outcome and never throws for a
// task's error, so the index of a failed winner stays known.
//
// The others (the losers) are not waited for. when_any returns as soon as
// the winner is known; each loser is left to run to completion, detached, on
// the pool: its result or exception is discarded and its frame is freed by
// the coroutine that runs it (detached.hpp), so nothing leaks and nothing
// is touched after it is freed. Losers are cancelled only cooperatively:
// pass a std::stop_source and when_any calls request_stop() on it the moment
// the winner is known, before the caller resumes; tasks holding its token
// can return early. Because losers may outlive the when_any call (and the
// frame that called it), they must own what they use: capture by value or
// shared_ptr, never a reference to the caller's locals.
//
// Every task starts as a queued child on the calling worker's executor (none
// runs inline: an inline one would hold the caller until it finished or
// suspended, whatever the others did). The caller is resumed by scheduling
// it on the executor it suspended on, never inline on the winner's stack.
// Must be awaited on a runtime worker; an empty list throws
// std::invalid_argument.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "dftracer/utils/core/detail/detached.hpp"
#include "dftracer/utils/core/executor.hpp"
#include "dftracer/utils/core/fork_join.hpp"
#include "dftracer/utils/core/task.hpp"
#include "dftracer/utils/core/task_state.hpp"

namespace dftracer::utils {

// when_any's result: which task won, and its value.
template <class T>
struct AnyResult {
  std::size_t index;
  T value;
};
template <>
struct AnyResult<void> {
  std::size_t index;
};

// when_any_settled's result: which task finished first, and how.
template <class T>
struct AnyOutcome {
  std::size_t index;
  Outcome<T> outcome;
};

// Variadic when_any's result: the winner's index and its value in the
// variant alternative of the same index (std::monostate for a void task).
template <class... Ts>
struct AnyOf {
  std::size_t index;
  std::variant<detail::Settled<Ts>...> value;
};

namespace detail {

// Values of AnyState::waiter besides the caller's frame address.
inline void* const kAnyDecided = reinterpret_cast<void*>(std::uintptr_t{1});
inline void* const kAnyCallerGone = reinterpret_cast<void*>(std::uintptr_t{2});

// Shared by the caller and every runner (each holds a reference), so the
// last one out frees it, whoever that is.
template <class T>
struct AnyState {
  std::atomic<bool> decided{false};
  // Written once by the winner, before its exchange on `waiter`.
  std::size_t winner = 0;
  std::optional<Outcome<T>> outcome;
  // null: the caller has not suspended yet; the caller's frame: it waits;
  // kAnyDecided: the winner is known; kAnyCallerGone: the caller was
  // destroyed while suspended (teardown), nobody to resume.
  std::atomic<void*> waiter{nullptr};
  Executor* resume_on = nullptr;  // set before any runner starts
  std::stop_source stop{std::nostopstate};
  // The submitted task the caller works for, kept alive for the losers:
  // their promises point at it (task.hpp) and they may outlive it.
  TaskStateRef owner;
};

template <class T>
DetachedChild any_runner(std::shared_ptr<AnyState<T>> st, Task<T> task, std::size_t index) {
  Outcome<T> out;
  // co_await inside a try block (not a handler) is fine: no helper frame.
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(task);
    } else {
      out.value.emplace(co_await std::move(task));
    }
  } catch (...) {
    out.error = std::current_exception();
  }
  task = Task<T>();  // free the task's frame now, winner or not
  // acq_rel: exactly one runner sees false; the others only drop `out`.
  if (st->decided.exchange(true, std::memory_order_acq_rel)) co_return;
  st->winner = index;
  st->outcome.emplace(std::move(out));
  // Before the caller can resume: the losers see the request as early as
  // possible, and the caller never races with a stop callback.
  st->stop.request_stop();
  // acq_rel: releases winner/outcome to the caller; acquires its frame.
  void* prev = st->waiter.exchange(kAnyDecided, std::memory_order_acq_rel);
  if (prev != nullptr && prev != kAnyCallerGone) {
    st->resume_on->schedule(WorkItem::coroutine(std::coroutine_handle<>::from_address(prev)));
  }
}

template <class T>
class AnyWait {
 public:
  explicit AnyWait(AnyState<T>& st) noexcept : st_(st) {}
  AnyWait(const AnyWait&) = delete;
  AnyWait& operator=(const AnyWait&) = delete;
  // Reached while still registered only when the caller's frame is
  // destroyed while suspended here: make sure no winner resumes it.
  ~AnyWait() {
    if (!suspended_) return;
    void* self = suspended_.address();
    st_.waiter.compare_exchange_strong(self, kAnyCallerGone, std::memory_order_acq_rel);
  }

  bool await_ready() const noexcept {
    // acquire: pairs with the winner's exchange (its result is visible).
    return st_.waiter.load(std::memory_order_acquire) == kAnyDecided;
  }
  bool await_suspend(std::coroutine_handle<> caller) noexcept {
    // Written before the exchange: once it succeeds the winner may resume
    // us on another thread at once, and this awaiter lives in our frame.
    suspended_ = caller;
    void* expected = nullptr;
    // acq_rel: on success, publishes our frame to the winner; on failure
    // (decided meanwhile) acquires its result and we do not suspend.
    if (st_.waiter.compare_exchange_strong(expected, caller.address(), std::memory_order_acq_rel,
                                           std::memory_order_acquire)) {
      return true;  // nothing below may touch *this
    }
    suspended_ = {};
    return false;
  }
  void await_resume() noexcept { suspended_ = {}; }

 private:
  AnyState<T>& st_;
  std::coroutine_handle<> suspended_;
};

template <class T>
Task<AnyOutcome<T>> any_settled(std::vector<Task<T>> tasks, std::stop_source stop) {
  if (tasks.empty()) throw std::invalid_argument("when_any needs at least one task");
  Executor* ex = Executor::current();
  if (!ex) throw std::logic_error("when_any() must be awaited on a runtime worker");
  TaskState* owner = co_await this_task::owner();
  auto st = std::make_shared<AnyState<T>>();
  st->resume_on = ex;  // no suspension between here and our wait: we stay on ex
  st->stop = std::move(stop);
  st->owner = TaskStateRef::share(owner);
  for (std::size_t i = 0; i < tasks.size(); ++i) any_runner<T>(st, std::move(tasks[i]), i).start_on(*ex, owner);
  tasks.clear();
  co_await AnyWait<T>(*st);
  co_return AnyOutcome<T>{st->winner, std::move(*st->outcome)};
}

// Turns task I of a variadic when_any into alternative I of one variant.
template <std::size_t I, class V, class T>
Task<V> as_alternative(Task<T> t) {
  if constexpr (std::is_void_v<T>) {
    co_await std::move(t);
    co_return V(std::in_place_index<I>);
  } else {
    co_return V(std::in_place_index<I>, co_await std::move(t));
  }
}

}  // namespace detail

// The first task to finish: its index, and its value or error (never thrown).
template <class T>
Task<AnyOutcome<T>> when_any_settled(std::stop_source stop, std::vector<Task<T>> tasks) {
  return detail::any_settled(std::move(tasks), std::move(stop));
}
template <class T>
Task<AnyOutcome<T>> when_any_settled(std::vector<Task<T>> tasks) {
  return detail::any_settled(std::move(tasks), std::stop_source(std::nostopstate));
}

// The first task to finish: its index and value; rethrows its exception if
// it failed. `stop` (when given) is requested as soon as the winner is known.
template <class T>
Task<AnyResult<T>> when_any(std::stop_source stop, std::vector<Task<T>> tasks) {
  AnyOutcome<T> r = co_await detail::any_settled(std::move(tasks), std::move(stop));
  if (r.outcome.error) std::rethrow_exception(r.outcome.error);
  if constexpr (std::is_void_v<T>) {
    co_return AnyResult<void>{r.index};
  } else {
    co_return AnyResult<T>{r.index, std::move(*r.outcome.value)};
  }
}
template <class T>
Task<AnyResult<T>> when_any(std::vector<Task<T>> tasks) {
  return when_any(std::stop_source(std::nostopstate), std::move(tasks));
}

// Variadic form, tasks of any result types.
template <class... Ts>
requires(sizeof...(Ts) > 0) Task<AnyOf<Ts...>> when_any(std::stop_source stop, Task<Ts>... tasks) {
  using V = std::variant<detail::Settled<Ts>...>;
  std::vector<Task<V>> wrapped;
  wrapped.reserve(sizeof...(Ts));
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (wrapped.push_back(detail::as_alternative<I, V>(std::move(tasks))), ...);
  }
  (std::index_sequence_for<Ts...>{});
  AnyResult<V> r = co_await when_any(std::move(stop), std::move(wrapped));
  co_return AnyOf<Ts...>{r.index, std::move(r.value)};
}
template <class... Ts>
requires(sizeof...(Ts) > 0) Task<AnyOf<Ts...>> when_any(Task<Ts>... tasks) {
  return when_any(std::stop_source(std::nostopstate), std::move(tasks)...);
}

}  // namespace dftracer::utils
