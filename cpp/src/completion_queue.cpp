// Completion queues (see completion_queue.hpp).
//
// Lost-wake argument: the consumer increments sleepers, reads the epoch,
// then reads the stack head; a producer pushes (CAS on the head), then reads
// sleepers. All seq_cst, so either the consumer sees the node or the
// producer sees the sleeper and bumps the epoch after the consumer read it
// (its futex wait then returns at once or is woken). Only a push onto an
// empty stack wakes: a consumer sleeps only on an empty stack, so a push
// onto a non-empty one finds it awake or already woken.
#include "dftracer/utils/core/detail/completion_queue.hpp"

#include "dftracer/utils/core/detail/futex.hpp"

namespace dftracer::utils {

struct CompletionQueue::Node final : TaskState::AwaitNode {
  std::shared_ptr<Shared> shared;  // null for post(): pushed by the owner itself
  std::uint64_t key = 0;
  Node* link = nullptr;  // the completion stack
};

namespace {
// The stack head of a closed queue.
CompletionQueue::Node* closed_marker() noexcept {
  static CompletionQueue::Node marker;
  return &marker;
}
}  // namespace

struct CompletionQueue::Shared {
  std::atomic<Node*> head{nullptr};
  std::atomic<std::uint32_t> epoch{0};
  std::atomic<std::uint32_t> sleepers{0};

  // Any thread. Takes ownership of `n` (frees it when the queue is closed).
  void push(Node* n) noexcept {
    Node* h = head.load(std::memory_order_seq_cst);
    do {
      if (h == closed_marker()) {
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

  static void on_done(TaskState::AwaitNode* self) noexcept {
    auto* n = static_cast<Node*>(self);
    // Held across push: once the node is on the stack the consumer (or the
    // queue's destructor) may free it, and with it the last other reference.
    std::shared_ptr<Shared> keep = n->shared;
    keep->push(n);
  }
};

CompletionQueue::CompletionQueue() : shared_(std::make_shared<Shared>()) {}

CompletionQueue::~CompletionQueue() {
  Node* n = shared_->head.exchange(closed_marker(), std::memory_order_seq_cst);
  while (n != nullptr && n != closed_marker()) {
    Node* next = n->link;
    delete n;
    n = next;
  }
  for (Node* r : ready_) delete r;
}

void CompletionQueue::watch(TaskState& task, std::uint64_t key) {
  auto* n = new Node();
  n->shared = shared_;
  n->key = key;
  n->notify = &Shared::on_done;
  if (!task.add_awaiter(n)) shared_->push(n);  // already final
}

void CompletionQueue::post(std::uint64_t key) {
  auto* n = new Node();
  n->key = key;
  shared_->push(n);
}

void CompletionQueue::take_stack() {
  Node* n = shared_->head.exchange(nullptr, std::memory_order_seq_cst);
  Node* oldest_first = nullptr;  // the stack holds the newest on top
  while (n != nullptr) {
    Node* next = n->link;
    n->link = oldest_first;
    oldest_first = n;
    n = next;
  }
  for (; oldest_first != nullptr; oldest_first = oldest_first->link) ready_.push_back(oldest_first);
}

std::optional<std::uint64_t> CompletionQueue::try_pop() {
  if (ready_.empty()) take_stack();
  if (ready_.empty()) return std::nullopt;
  Node* n = ready_.front();
  ready_.pop_front();
  std::uint64_t key = n->key;
  delete n;
  return key;
}

std::size_t CompletionQueue::ready() {
  take_stack();
  return ready_.size();
}

bool CompletionQueue::wait(std::chrono::nanoseconds timeout) noexcept {
  Shared& s = *shared_;
  s.sleepers.fetch_add(1, std::memory_order_seq_cst);
  std::uint32_t e = s.epoch.load(std::memory_order_seq_cst);
  bool ready = s.head.load(std::memory_order_seq_cst) != nullptr;
  if (!ready && timeout.count() > 0) {
    futex_wait_for(s.epoch, e, timeout);
    ready = s.head.load(std::memory_order_seq_cst) != nullptr;
  }
  // relaxed: a stale count only costs a producer one spare wake.
  s.sleepers.fetch_sub(1, std::memory_order_relaxed);
  return ready;
}

}  // namespace dftracer::utils
