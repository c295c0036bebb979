// What each worker publishes about itself for progress and the watchdog:
// what it is doing, which submitted task it runs (id, name, since when) and
// how many it has run.
//
// Written only by its worker, with relaxed atomics, in its own cache lines;
// read by observers that tolerate a slightly stale view. Only submitted tasks
// touch it: child coroutines of fork-join never do. Observers never get a
// reference to the task from here (no lock on the worker's path): whoever
// needs the task itself asks the registry by id.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

namespace dftracer::utils {

enum class WorkerActivity : std::uint8_t { idle, running, parked, blocked, retired };

struct alignas(64) WorkerSlot {
  std::atomic<WorkerActivity> activity{WorkerActivity::idle};
  std::atomic<std::uint64_t> task_id{0};  // 0: no submitted task
  std::atomic<std::int64_t> task_since_ns{0};
  std::atomic<std::uint64_t> tasks_run{0};
  // The submitted task this worker is blocked waiting for (0: none visible),
  // for task dumps; see WaitingOnScope.
  std::atomic<std::uint64_t> waiting_on{0};

  // Name of the current task, guarded by a sequence counter (odd while being
  // written) so a reader never sees a torn name.
  //
  // No standalone fences (ThreadSanitizer does not model them, docs/design.md):
  // the characters are stored with release and loaded with acquire instead
  // (Boehm, "Can seqlocks get along with programming language memory
  // models?", 2012). A reader that loads any character of a newer name
  // synchronizes with its store, so the odd count stored before it is
  // visible to the reader's final check, which then fails. On x86 these are
  // plain moves, as the relaxed ones were.
  std::atomic<std::uint32_t> name_seq{0};
  static constexpr std::size_t kNameBytes = 80;
  std::atomic<char> name[kNameBytes] = {};

  void publish_name(const std::string& n) noexcept {
    std::uint32_t s = name_seq.load(std::memory_order_relaxed);
    name_seq.store(s + 1, std::memory_order_relaxed);
    std::size_t len = n.size() < kNameBytes - 1 ? n.size() : kNameBytes - 1;
    // Release: the odd count above is ordered before every character.
    for (std::size_t i = 0; i < len; ++i) name[i].store(n[i], std::memory_order_release);
    name[len].store('\0', std::memory_order_release);
    name_seq.store(s + 2, std::memory_order_release);
  }

  // Null when no consistent copy could be read (the name kept changing);
  // an empty string is a real value (an unnamed task: see workers_view).
  std::optional<std::string> read_name() const {
    char buf[kNameBytes];
    for (int attempt = 0; attempt < 8; ++attempt) {
      std::uint32_t before = name_seq.load(std::memory_order_acquire);
      if (before & 1u) continue;
      // Acquire: orders the final count load after every character load.
      for (std::size_t i = 0; i < kNameBytes; ++i) buf[i] = name[i].load(std::memory_order_acquire);
      if (name_seq.load(std::memory_order_relaxed) == before) {
        buf[kNameBytes - 1] = '\0';
        return std::string(buf, strnlen(buf, kNameBytes));
      }
    }
    return std::nullopt;
  }
};

// Publishes, for its lifetime, which task the calling worker blocks on
// (`slot` null: not a worker, nothing to publish). Relaxed: dumps read a
// slightly stale view, as they do every other slot field.
class WaitingOnScope {
 public:
  WaitingOnScope(WorkerSlot* slot, std::uint64_t task_id) noexcept : slot_(slot) {
    if (slot_) previous_ = slot_->waiting_on.exchange(task_id, std::memory_order_relaxed);
  }
  ~WaitingOnScope() {
    if (slot_) slot_->waiting_on.store(previous_, std::memory_order_relaxed);
  }
  WaitingOnScope(const WaitingOnScope&) = delete;
  WaitingOnScope& operator=(const WaitingOnScope&) = delete;

 private:
  WorkerSlot* slot_;
  std::uint64_t previous_ = 0;
};

}  // namespace dftracer::utils
