// Completion queues (see completion_queue.hpp).
//
// Lost-wake argument: the consumer increments sleepers, reads the epoch,
// then reads the stack head; a producer pushes (CAS on the head), then reads
// sleepers. All seq_cst, so either the consumer sees the node or the
// producer sees the sleeper and bumps the epoch after the consumer read it.
// Only a push onto an empty stack wakes: a consumer sleeps only on an empty
// stack, so a push onto a non-empty one finds it awake or already woken.
#include "completion_queue.hpp"

#include <pybind11/stl.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>

#include "dftracer/utils/core/futex.hpp"
#include "dftracer/utils/core/task_state.hpp"
#include "native_handle.hpp"
#include "released_wait.hpp"
#include "waiting.hpp"

namespace dftracer::utils::python {

namespace py = pybind11;

namespace {

struct Shared;

struct Node final : TaskState::AwaitNode {
  std::shared_ptr<Shared> shared;
  std::uint64_t key = 0;
  Node* link = nullptr;  // the completion stack
};

// Marks a closed queue: the stack head once its Python object is gone.
Node g_closed;

struct Shared {
  std::atomic<Node*> head{nullptr};
  std::atomic<std::uint32_t> epoch{0};
  std::atomic<std::uint32_t> sleepers{0};

  // Any thread. Takes ownership of `n` (frees it when the queue is closed).
  void push(Node* n) noexcept {
    Node* h = head.load(std::memory_order_seq_cst);
    do {
      if (h == &g_closed) {
        delete n;
        return;
      }
      n->link = h;
    } while (!head.compare_exchange_weak(h, n, std::memory_order_seq_cst, std::memory_order_seq_cst));
    if (h == nullptr && sleepers.load(std::memory_order_seq_cst) != 0) {
      epoch.fetch_add(1, std::memory_order_seq_cst);
      futex_wake_all(epoch);
    }
  }

  // Sleeps until the stack is non-empty or `timeout` passes. True if it is.
  bool wait_nonempty(std::chrono::nanoseconds timeout) noexcept {
    sleepers.fetch_add(1, std::memory_order_seq_cst);
    std::uint32_t e = epoch.load(std::memory_order_seq_cst);
    bool ready = head.load(std::memory_order_seq_cst) != nullptr;
    if (!ready && timeout.count() > 0) {
      futex_wait_for(epoch, e, timeout);
      ready = head.load(std::memory_order_seq_cst) != nullptr;
    }
    // relaxed: a stale count only costs a producer one spare wake.
    sleepers.fetch_sub(1, std::memory_order_relaxed);
    return ready;
  }
};

void on_done(TaskState::AwaitNode* self) {
  auto* n = static_cast<Node*>(self);
  // Held across push: once the node is on the stack a consumer (or the
  // queue's destructor) may free it and with it the last other reference.
  std::shared_ptr<Shared> keep = n->shared;
  keep->push(n);
}

class CompletionQueue {
 public:
  CompletionQueue() : shared_(std::make_shared<Shared>()) {}
  CompletionQueue(const CompletionQueue&) = delete;
  CompletionQueue& operator=(const CompletionQueue&) = delete;

  ~CompletionQueue() {
    Node* n = shared_->head.exchange(&g_closed, std::memory_order_seq_cst);
    while (n && n != &g_closed) {
      Node* next = n->link;
      delete n;
      n = next;
    }
    for (Node* r : ready_) delete r;
  }

  // GIL held. `key` comes out of get() once the task is final (at once if
  // it already is).
  void watch(const NativeHandle& handle, std::uint64_t key) {
    auto* n = new Node();
    n->shared = shared_;
    n->key = key;
    n->notify = &on_done;
    if (!handle.state->add_awaiter(n)) shared_->push(n);
  }

  // GIL held. Puts `key` in the queue now (for handles the runtime does not
  // run, e.g. ones over a concurrent.futures.Future).
  void post(std::uint64_t key) {
    auto* n = new Node();
    n->key = key;
    shared_->push(n);
  }

  // GIL held. The next key, oldest completion first; None when `timeout`
  // seconds pass first (0: do not wait). Ctrl-C raises KeyboardInterrupt.
  std::optional<std::uint64_t> get(std::optional<double> timeout_s) {
    timeout_s = checked_timeout(timeout_s);
    if (ready_.empty()) take_stack();
    if (ready_.empty() && !(timeout_s && *timeout_s <= 0)) {
      released_wait(timeout_s, [this](std::chrono::nanoseconds slice) { return shared_->wait_nonempty(slice); });
      take_stack();
    }
    if (ready_.empty()) return std::nullopt;
    Node* n = ready_.front();
    ready_.pop_front();
    std::uint64_t key = n->key;
    delete n;
    return key;
  }

  // GIL held. Keys ready to be taken without waiting.
  std::size_t ready() {
    take_stack();
    return ready_.size();
  }

 private:
  // Moves what finished since the last look to ready_, oldest first (the
  // stack holds the newest on top).
  void take_stack() {
    Node* n = shared_->head.exchange(nullptr, std::memory_order_seq_cst);
    Node* oldest_first = nullptr;
    while (n) {
      Node* next = n->link;
      n->link = oldest_first;
      oldest_first = n;
      n = next;
    }
    for (; oldest_first; oldest_first = oldest_first->link) ready_.push_back(oldest_first);
  }

  std::shared_ptr<Shared> shared_;
  std::deque<Node*> ready_;  // guarded by the GIL
};

}  // namespace

void register_completion_queue(py::module_& m) {
  py::class_<CompletionQueue>(m, "_CompletionQueue",
                              "Finished tasks in completion order (engine side of as_completed, wait, unordered map).")
      .def(py::init<>())
      .def("watch", &CompletionQueue::watch, py::arg("handle"), py::arg("key"),
           "Queues `key` once the task of `handle` is final (now if it already is).")
      .def("post", &CompletionQueue::post, py::arg("key"), "Queues `key` now.")
      .def("get", &CompletionQueue::get, py::arg("timeout") = py::none(),
           "The next key in completion order, or None when `timeout` seconds pass first; GIL released while "
           "waiting.")
      .def("ready", &CompletionQueue::ready, "How many keys get() can return without waiting.");
}

}  // namespace dftracer::utils::python
