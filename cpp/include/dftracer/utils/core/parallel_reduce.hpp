// parallel_reduce: map an index range and combine the results, in parallel.
//
//   double sum = co_await parallel_reduce(0, n, 4096, 0.0,
//       [&](std::size_t i) { return x[i] * y[i]; },      // map, or (b, e) -> partial
//       [](double a, double b) { return a + b; });        // reduce
//
// The range is split by recursive halving exactly as parallel_for does
// (parallel_for.hpp): pieces of at most `grain` indices, upper halves
// spawned and stolen by idle workers. Each leaf folds its piece starting
// from a copy of `identity`, acc = reduce(acc, map(i)), or calls map(b, e)
// once for the piece's partial result when map takes two indices; then
// every piece's result is combined with its neighbours *in index order*:
// reduce(left, right), never the other way round. So `reduce` must be
// associative but need not be commutative, and with an explicit grain the
// combining tree depends only on the range and the grain, never on which
// worker ran what: a floating-point sum gives the same bits on every run
// (unlike tbb::parallel_reduce). grain 0 picks n / (8 x workers), at least
// 1 (then the tree follows the pool size).
//
// map and reduce are called concurrently from several workers (through
// references; never copied). Errors: as parallel_for, the first exception
// in time skips what has not started and is rethrown after every child has
// been joined. An empty range yields `identity`.
#pragma once

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "dftracer/utils/core/fork_join.hpp"
#include "dftracer/utils/core/parallel_for.hpp"
#include "dftracer/utils/core/task.hpp"

namespace dftracer::utils {

namespace detail {

template <class I, class V, class Map, class Reduce>
V reduce_piece(I b, I e, const V& identity, Map& map, Reduce& reduce) {
  if constexpr (std::is_invocable_v<Map&, I, I>) {
    return V(map(b, e));
  } else {
    V acc(identity);
    for (I i = b; i != e; ++i) acc = V(reduce(std::move(acc), map(i)));
    return acc;
  }
}

template <class I, class V, class Map, class Reduce>
Task<V> reduce_range(I b, I e, RangeSize<I> grain, const V& identity, Map& map, Reduce& reduce, RangeFailure& failure) {
  PendingJoins<V, I> upper;  // see parallel_for.hpp
  while (range_size(b, e) > grain && !failure.stopped()) {
    I mid = range_mid(b, e);
    try {
      JoinHandle<V> child = co_await spawn(reduce_range(mid, e, grain, identity, map, reduce, failure));
      upper.child[upper.count] = child.release();
    } catch (...) {
      failure.record(std::current_exception());
      break;
    }
    ++upper.count;
    e = mid;
  }
  std::optional<V> acc;  // empty once this piece failed
  if (!failure.stopped()) {
    try {
      acc.emplace(reduce_piece(b, e, identity, map, reduce));
    } catch (...) {
      failure.record(std::current_exception());
    }
  }
  // Newest first is left to right here: the newest starts where our own
  // piece ends, child[0] is the rightmost. Children never throw.
  while (upper.count > 0) {
    V right = co_await JoinHandle<V>(upper.child[--upper.count]);
    if (!acc || failure.stopped()) continue;
    try {
      acc.emplace(reduce(std::move(*acc), std::move(right)));
    } catch (...) {
      acc.reset();
      failure.record(std::current_exception());
    }
  }
  // After a failure the value is meaningless: the root rethrows instead.
  co_return acc ? std::move(*acc) : V(identity);
}

}  // namespace detail

// Combines map over [begin, end) with reduce, starting from identity, in
// parallel. See the top of this file.
template <RangeIndex B, RangeIndex E, class V, class Map, class Reduce>
Task<V> parallel_reduce(B begin, E end, std::size_t grain, V identity, Map map, Reduce reduce) {
  using I = std::common_type_t<B, E>;
  I b = static_cast<I>(begin), e = static_cast<I>(end);
  if (!(b < e)) co_return identity;
  detail::RangeFailure failure;
  V result = co_await detail::reduce_range(b, e, detail::pick_grain(b, e, grain), identity, map, reduce, failure);
  if (failure.error) std::rethrow_exception(failure.error);
  co_return result;
}

}  // namespace dftracer::utils
