// TaskPool: recycling storage for the states of submitted tasks.
//
// A task's state is typically made on one thread (the submitter) and freed on
// another (the worker that finished it last). With the general heap that is
// a cross-thread free on every task: the freeing thread takes the owning
// arena's lock against the submitter's allocations, and on two cores the
// loser sleeps on a futex (measured: malloc and free were a fifth of the
// submit path's time). Here each thread keeps a free list per size class;
// a thread whose list grows past a batch hands a whole batch to a shared
// stack, and a thread whose list is empty takes one: blocks flow back from
// the freeing workers to the submitters, one lock per batch, not per task.
// Memory is recycled, never returned to the system, so it stays at the peak
// number of live tasks (docs/design.md, "Costs the design rests on").
//
// Sanitizer builds use the plain heap instead, so ASan still sees every
// use-after-free of a task.
#pragma once

#include <cstddef>
#include <new>

namespace dftracer::utils::detail {

class TaskPool {
 public:
  static void* allocate(std::size_t size);
  static void deallocate(void* p, std::size_t size) noexcept;
};

}  // namespace dftracer::utils::detail
