// parallel_for: run a body over an index range, split across the pool.
//
//   co_await parallel_for(0, n, 1024, [&](std::size_t i) { out[i] = f(in[i]); });
//   co_await parallel_for(0, n, 0, [&](std::size_t b, std::size_t e) { kernel(b, e); });
//
// The range is split by recursive halving: a piece larger than `grain`
// gives its upper half to a spawned child (fork_join.hpp) and keeps
// halving the lower half, until a piece of at most `grain` indices runs
// here; then the halves are joined, newest first. Idle workers steal the
// biggest halves (the oldest items of a deque), so the load balances itself
// with log2(n / grain) spawns on the critical path and no up-front
// partitioning. A body taking (begin, end) gets each leaf piece whole (for
// loops the compiler can vectorise); one taking an index is called once per
// index. grain 0 picks one: n / (8 x workers), at least 1.
//
// The body is called concurrently from several workers: it must be safe to
// call that way (it is called through a reference; it is never copied).
//
// Errors: the first exception (first in time) stops the loop early, pieces
// not yet started are skipped, and it is rethrown once every child has been
// joined; the others are dropped. Nothing of the loop runs after
// parallel_for returns or throws.
//
// Must be awaited on a runtime worker when the range is larger than grain
// (spawning needs one).
#pragma once

#include <algorithm>
#include <atomic>
#include <concepts>
#include <cstddef>
#include <exception>
#include <limits>
#include <type_traits>
#include <utility>

#include "dftracer/utils/core/executor.hpp"
#include "dftracer/utils/core/fork_join.hpp"
#include "dftracer/utils/core/task.hpp"

namespace dftracer::utils {

// Index types of the range algorithms: any integer type but bool.
template <class T>
concept RangeIndex = std::integral<T> && !std::same_as<std::remove_cv_t<T>, bool>;

namespace detail {

// The first failure of a range algorithm, and the flag that skips the rest.
struct RangeFailure {
  std::atomic<bool> failed{false};
  std::exception_ptr error;  // written once, by whoever set `failed`

  void record(std::exception_ptr e) noexcept {
    // acq_rel: one recorder wins. Its write of `error` reaches the root
    // through the joins (each join acquires the child's completion).
    if (!failed.exchange(true, std::memory_order_acq_rel)) error = std::move(e);
  }
  // relaxed: only an early-exit hint; a piece that misses it runs anyway.
  bool stopped() const noexcept { return failed.load(std::memory_order_relaxed); }
};

// Sizes and midpoints in the unsigned type, so that signed ranges spanning
// most of their type never overflow (C++20 conversions are modular).
template <class I>
using RangeSize = std::make_unsigned_t<I>;

template <class I>
RangeSize<I> range_size(I b, I e) noexcept {
  return static_cast<RangeSize<I>>(static_cast<RangeSize<I>>(e) - static_cast<RangeSize<I>>(b));
}
template <class I>
I range_mid(I b, I e) noexcept {
  return static_cast<I>(static_cast<RangeSize<I>>(b) + range_size(b, e) / 2);
}

// Halving stops at `grain`, so a piece has at most one split per bit.
template <class I>
inline constexpr int kMaxSplits = std::numeric_limits<RangeSize<I>>::digits;

template <class I>
RangeSize<I> pick_grain(I b, I e, std::size_t requested) noexcept {
  if (requested > 0) {
    constexpr auto kMax = std::numeric_limits<RangeSize<I>>::max();
    return requested > kMax ? kMax : static_cast<RangeSize<I>>(requested);
  }
  Executor* ex = Executor::current();
  auto workers = static_cast<RangeSize<I>>(ex ? std::max<std::size_t>(ex->threads(), 1) : 1);
  RangeSize<I> pieces = static_cast<RangeSize<I>>(8) * workers;
  return std::max<RangeSize<I>>(range_size(b, e) / pieces, 1);
}

template <class I, class F>
void run_piece(I b, I e, F& fn) {
  if constexpr (std::is_invocable_v<F&, I, I>) {
    fn(b, e);
  } else {
    for (I i = b; i != e; ++i) fn(i);
  }
}

// The children a range frame spawned and still has to join, newest last.
// Raw handles, not JoinHandles: a frame holds room for kMaxSplits of them
// but usually fills a few, and an array of JoinHandles costs its
// zeroing and kMaxSplits destructor checks in every frame (about a third of
// a one-index piece). Every handle stored here is joined before the frame
// ends: nothing between a spawn and the joins can throw (see the loops).
template <class V, class I>
struct PendingJoins {
  std::coroutine_handle<detail::Promise<V>> child[kMaxSplits<I>];
  int count = 0;
};

template <class I, class F>
Task<void> for_range(I b, I e, RangeSize<I> grain, F& fn, RangeFailure& failure) {
  PendingJoins<void, I> upper;
  while (range_size(b, e) > grain && !failure.stopped()) {
    I mid = range_mid(b, e);
    try {
      // Creating the child may throw (bad_alloc): record it, stop
      // splitting, still join what was spawned.
      JoinHandle<void> child = co_await spawn(for_range(mid, e, grain, fn, failure));
      upper.child[upper.count] = child.release();
    } catch (...) {
      failure.record(std::current_exception());
      break;
    }
    ++upper.count;
    e = mid;
  }
  if (!failure.stopped()) {
    try {
      run_piece(b, e, fn);
    } catch (...) {
      failure.record(std::current_exception());
    }
  }
  // Newest first: each join finds its child at the bottom of our deque
  // unless it was stolen. Children never throw: they record instead.
  while (upper.count > 0) co_await JoinHandle<void>(upper.child[--upper.count]);
}

}  // namespace detail

// Calls fn(i) for every i in [begin, end), or fn(b, e) for pieces covering
// it, in parallel. See the top of this file.
template <RangeIndex B, RangeIndex E, class F>
requires std::is_invocable_v<F&, std::common_type_t<B, E>> ||
    std::is_invocable_v<F&, std::common_type_t<B, E>, std::common_type_t<B, E>>
        Task<void> parallel_for(B begin, E end, std::size_t grain, F fn) {
  using I = std::common_type_t<B, E>;
  I b = static_cast<I>(begin), e = static_cast<I>(end);
  if (!(b < e)) co_return;
  detail::RangeFailure failure;
  co_await detail::for_range(b, e, detail::pick_grain(b, e, grain), fn, failure);
  if (failure.error) std::rethrow_exception(failure.error);
}

}  // namespace dftracer::utils
