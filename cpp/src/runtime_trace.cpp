// Runtime: the timeline (start_trace, stop_trace) and task dumps (see
// runtime.hpp, tracer.hpp, task_dump.hpp).
#include <algorithm>
#include <stdexcept>
#include <unordered_map>

#include "dftracer/utils/core/runtime.hpp"
#include "dftracer/utils/core/tracer.hpp"

namespace dftracer::utils {

void Runtime::start_trace(TraceOptions options) {
  std::lock_guard lock(trace_mu_);
  if (is_shut_down()) throw RuntimeShutdownError();
  if (Tracer* t = tracer_.load(std::memory_order_relaxed)) {
    throw std::logic_error("already tracing to '" + t->path() + "'; stop_trace() first");
  }
  options.io_executor = io_.get();
  if (!options.counters) {
    options.counters = [this] {
      RegistryTotals totals = registry_.totals();
      return TraceCounters{totals.queued, totals.running, compute_->blocked_workers() + io_->blocked_workers()};
    };
  }
  traces_.push_back(std::make_unique<Tracer>(std::move(options)));
  // release: a thread that loads the pointer sees the tracer built.
  tracer_.store(traces_.back().get(), std::memory_order_release);
}

TraceSummary Runtime::stop_trace() {
  std::lock_guard lock(trace_mu_);
  Tracer* t = tracer_.exchange(nullptr, std::memory_order_acq_rel);
  if (!t) return {};
  // The tracer itself stays (traces_) until the runtime goes: a thread that
  // loaded the pointer just before the exchange may still be recording.
  return t->stop();
}

void Runtime::trace_instant(std::string_view name, std::string_view message, std::uint64_t task_id) noexcept {
  if (Tracer* t = tracer_.load(std::memory_order_acquire)) t->record_instant(name, message, task_id);
}

bool Runtime::tracing() const noexcept {
  Tracer* t = tracer_.load(std::memory_order_acquire);
  return t != nullptr && t->recording();
}

std::string Runtime::trace_path() const {
  std::lock_guard lock(trace_mu_);
  Tracer* t = tracer_.load(std::memory_order_relaxed);
  return t ? t->path() : std::string();
}

std::vector<TaskDumpEntry> Runtime::dump_tasks() const {
  struct Where {
    std::string worker;
    bool temporary;
    bool blocked;
    std::uint64_t waiting_on;
  };
  std::unordered_map<std::uint64_t, Where> where;
  for (const Executor* ex : {compute_.get(), io_.get()}) {
    for (const auto& w : ex->workers_view()) {
      if (w.task_id == 0) continue;
      where[w.task_id] = {ex->name() + " worker " + std::to_string(w.index), w.temporary,
                          w.activity == WorkerActivity::blocked, w.waiting_on};
    }
  }
  for (const auto& c : callers_view()) where[c.task_id] = {"caller " + std::to_string(c.index), false, false, 0};

  const std::int64_t now = now_ns();
  std::vector<TaskDumpEntry> out;
  for (TaskStateRef& t : registry_.live_tasks()) {
    if (t->status() != TaskStatus::running) continue;
    TaskDumpEntry e;
    e.id = t->id();
    e.name = t->name();
    e.status = TaskStatus::running;
    e.running_ns = t->start_ns() ? now - t->start_ns() : 0;
    if (auto it = where.find(e.id); it != where.end()) {
      e.worker = it->second.worker;
      e.temporary_worker = it->second.temporary;
      e.blocked = it->second.blocked;
      e.waiting_on = it->second.waiting_on;
    }
    e.task = std::move(t);
    out.push_back(std::move(e));
  }
  // Longest running first: the likeliest culprit leads a bounded dump.
  std::sort(out.begin(), out.end(), [](const TaskDumpEntry& a, const TaskDumpEntry& b) {
    return a.running_ns != b.running_ns ? a.running_ns > b.running_ns : a.id < b.id;
  });
  return out;
}

}  // namespace dftracer::utils
