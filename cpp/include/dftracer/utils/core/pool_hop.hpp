// Moving a coroutine between the compute pool and the I/O pool:
//
//   co_await on_io();        // blocking reads happen on an I/O thread
//   auto data = read_file(path);
//   co_await on_compute();   // parse on a compute worker
//
// Both are no-ops when already on the requested pool.
#pragma once

#include <coroutine>
#include <stdexcept>

#include "dftracer/utils/core/runtime.hpp"

namespace dftracer::utils {

namespace detail {
struct PoolHop {
  Pool target;
  Runtime* runtime;

  Executor* target_executor() const {
    Runtime* rt = runtime ? runtime : Runtime::current();
    if (!rt) throw std::logic_error("on_io()/on_compute() must be awaited on a runtime worker");
    return target == Pool::io ? &rt->io() : &rt->compute();
  }
  bool await_ready() const { return Executor::current() == target_executor(); }
  void await_suspend(std::coroutine_handle<> h) const { target_executor()->schedule_external(WorkItem::coroutine(h)); }
  void await_resume() const noexcept {}
};
}  // namespace detail

// `runtime` may be omitted on a worker (the current runtime is used).
inline detail::PoolHop on_io(Runtime* runtime = nullptr) noexcept { return {Pool::io, runtime}; }
inline detail::PoolHop on_compute(Runtime* runtime = nullptr) noexcept { return {Pool::compute, runtime}; }

}  // namespace dftracer::utils
