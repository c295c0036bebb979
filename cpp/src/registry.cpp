// Registry of submitted tasks (see registry.hpp).
#include "dftracer/utils/core/registry.hpp"

#include <algorithm>
#include <atomic>

namespace dftracer::utils {

namespace {
std::atomic<bool (*)(const std::exception_ptr&, std::string&)> g_error_describer{nullptr};

TaskSnapshot snapshot_of(const TaskState& t) {
  TaskSnapshot s;
  s.id = t.id();
  s.name = t.name();
  s.status = t.status();
  s.submit_ns = t.submit_ns();
  s.start_ns = t.start_ns();
  s.end_ns = t.end_ns();
  s.total_subtasks = t.total_subtasks();
  s.completed_subtasks = t.completed_subtasks();
  s.parent_id = t.parent_id();
  s.location = t.location();
  return s;
}
}  // namespace

std::string describe_error(const std::exception_ptr& error) {
  if (!error) return {};
  if (auto hook = g_error_describer.load(std::memory_order_acquire)) {
    std::string out;
    if (hook(error, out)) return out;
  }
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
}

void set_error_describer(bool (*describer)(const std::exception_ptr&, std::string&)) {
  g_error_describer.store(describer, std::memory_order_release);
}

Registry::Registry(RegistryOptions options) : options_(options) {
  std::size_t per_shard = (options_.recent_capacity + kShards - 1) / kShards;
  for (auto& shard : shards_) shard.ring.resize(per_shard);
}

Registry::~Registry() {
  // Drop the references of tasks that never finished (runtime torn down
  // with work in flight).
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mu);
    while (TaskState* t = shard.head) {
      shard.head = t->reg_next_;
      t->reg_prev_ = t->reg_next_ = nullptr;
      t->release();
    }
  }
}

void Registry::on_submitted(TaskState& task) {
  task.add_ref();  // the live list's reference, dropped in on_finished
  Shard& shard = shard_of(task);
  std::lock_guard lock(shard.mu);
  ++shard.submitted;
  task.reg_prev_ = nullptr;
  task.reg_next_ = shard.head;
  if (shard.head) shard.head->reg_prev_ = &task;
  shard.head = &task;
}

void Registry::on_started(TaskState& task) { shard_of(task).started.fetch_add(1, std::memory_order_relaxed); }

void Registry::on_finished(TaskState& task, TaskStatus from) {
  Shard& shard = shard_of(task);
  TaskStatus status = task.status();
  bool linked = false;
  {
    std::lock_guard lock(shard.mu);
    if (task.reg_prev_ || shard.head == &task) {
      linked = true;
      if (task.reg_prev_)
        task.reg_prev_->reg_next_ = task.reg_next_;
      else
        shard.head = task.reg_next_;
      if (task.reg_next_) task.reg_next_->reg_prev_ = task.reg_prev_;
      task.reg_prev_ = task.reg_next_ = nullptr;
    }
    switch (status) {
      case TaskStatus::completed:
        ++shard.completed;
        break;
      case TaskStatus::failed:
        ++shard.failed;
        break;
      case TaskStatus::timed_out:
        ++shard.timed_out;
        break;
      case TaskStatus::cancelled:
        ++shard.cancelled;
        break;
      default:
        break;
    }
    // Queued ones never start: they leave `queued` here, whatever their end
    // (a global timeout times out queued tasks too).
    if (from == TaskStatus::queued) ++shard.finished_before_start;
    if (!shard.ring.empty()) {
      // Assigning into the slot reuses its string buffer: no allocation
      // once the ring has warmed up.
      TaskSnapshot& slot = shard.ring[shard.ring_next];
      slot.id = task.id();
      // The name as given: empty for an automatic one, formatted in recent().
      slot.name.assign(task.given_name());
      slot.status = status;
      slot.submit_ns = task.submit_ns();
      slot.start_ns = task.start_ns();
      slot.end_ns = task.end_ns();
      slot.total_subtasks = task.total_subtasks();
      slot.completed_subtasks = task.completed_subtasks();
      slot.parent_id = task.parent_id();
      slot.location = task.location();
      shard.ring_next = (shard.ring_next + 1) % shard.ring.size();
      if (shard.ring_size < shard.ring.size()) ++shard.ring_size;
    }
  }
  if (status == TaskStatus::failed || status == TaskStatus::timed_out) {
    ErrorRecord rec{task.id(), task.name(), status, describe_error(task.error()), task.end_ns()};
    std::lock_guard lock(failures_mu_);
    if (unreported_.size() < options_.failure_capacity) {
      unreported_.push_back(rec);
    } else {
      ++unreported_dropped_;
    }
    if (errors_.size() < options_.error_capacity) {
      errors_.push_back(std::move(rec));
    } else if (!errors_.empty()) {
      errors_[errors_next_] = std::move(rec);
      errors_next_ = (errors_next_ + 1) % errors_.size();
    }
    if (failed_.size() < options_.failure_capacity) {
      failed_.push_back(TaskStateRef::share(&task));
    } else {
      failures_dropped_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (linked) task.release();
}

RegistryTotals Registry::totals() const {
  RegistryTotals t;
  std::uint64_t started = 0, finished_before_start = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard.mu);
    t.submitted += shard.submitted;
    t.completed += shard.completed;
    t.failed += shard.failed;
    t.cancelled += shard.cancelled;
    t.timed_out += shard.timed_out;
    finished_before_start += shard.finished_before_start;
    started += shard.started.load(std::memory_order_relaxed);
  }
  auto sub = [](std::uint64_t a, std::uint64_t b) { return a > b ? a - b : 0; };
  std::uint64_t finished = t.completed + t.failed + t.cancelled + t.timed_out;
  // Each shard is read under its lock, but the shards one after another: a
  // task counted as started in one and finished in another may be seen half
  // way, hence the clamping.
  t.queued = sub(t.submitted, started + finished_before_start);
  t.running = sub(started, sub(finished, finished_before_start));
  return t;
}

std::vector<TaskSnapshot> Registry::live(std::size_t max) const {
  std::vector<TaskSnapshot> out;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard.mu);
    for (const TaskState* t = shard.head; t && out.size() < max; t = t->reg_next_) {
      out.push_back(snapshot_of(*t));
    }
    if (out.size() >= max) break;
  }
  std::sort(out.begin(), out.end(), [](const TaskSnapshot& a, const TaskSnapshot& b) { return a.id < b.id; });
  return out;
}

std::vector<TaskSnapshot> Registry::recent() const {
  std::vector<TaskSnapshot> out;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard.mu);
    for (std::size_t i = 0; i < shard.ring_size; ++i) out.push_back(shard.ring[i]);
  }
  for (auto& s : out) {
    if (s.name.empty()) s.name = TaskState::automatic_name(s.id);
  }
  std::sort(out.begin(), out.end(), [](const TaskSnapshot& a, const TaskSnapshot& b) {
    return a.end_ns != b.end_ns ? a.end_ns < b.end_ns : a.id < b.id;
  });
  if (out.size() > options_.recent_capacity) {
    out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(out.size() - options_.recent_capacity));
  }
  return out;
}

std::vector<ErrorRecord> Registry::errors() const {
  std::lock_guard lock(failures_mu_);
  std::vector<ErrorRecord> out;
  out.reserve(errors_.size());
  // Oldest first: the ring starts at errors_next_ once full.
  for (std::size_t i = 0; i < errors_.size(); ++i) out.push_back(errors_[(errors_next_ + i) % errors_.size()]);
  return out;
}

std::vector<TaskStateRef> Registry::failed() const {
  std::lock_guard lock(failures_mu_);
  return failed_;
}

void Registry::clear_failed() {
  std::vector<TaskStateRef> drop;
  {
    std::lock_guard lock(failures_mu_);
    drop.swap(failed_);
    failures_dropped_.store(0, std::memory_order_relaxed);
  }
}

Registry::UnreportedFailures Registry::take_unreported_failures() {
  UnreportedFailures out;
  std::lock_guard lock(failures_mu_);
  out.records.swap(unreported_);
  out.dropped = unreported_dropped_;
  unreported_dropped_ = 0;
  return out;
}

std::vector<TaskStateRef> Registry::live_tasks() const {
  std::vector<TaskStateRef> out;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard.mu);
    for (TaskState* t = shard.head; t; t = t->reg_next_) out.push_back(TaskStateRef::share(t));
  }
  return out;
}

}  // namespace dftracer::utils
