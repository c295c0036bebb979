// Tracer: the runtime's own timeline, written in the DFTracer .pfw form.
//
// One Chrome Trace Event object per line, after a "[" line, separated by
// "," lines, and a "]" line once stopped (so the file is also one valid JSON
// array), plain or gzip-compressed by the file name (".gz"):
//  - "X": one per submitted task that became final (name, cat = python /
//    native / io, pid, tid = the OS thread that ran it, ts/dur in
//    microseconds, args: task id, parent id, queued time, final state,
//    error type);
//  - "C": the counter track "tasks" (queued, running, blocked workers),
//    sampled by the writer whenever it changed;
//  - "i": watchdog actions (stall, starvation and the temporary worker it
//    added, timeouts, long tasks);
//  - "M": process and thread names.
//
// Cost: a task is recorded where the runtime already records its finish
// (Runtime::on_task_finished), into the recording thread's own buffer
// (detail/trace_buffer.hpp: no lock, no RMW); a background thread formats
// and writes. With tracing off the runtime pays one load and branch.
//
// Errors: a path that cannot be written is a TraceError from the
// constructor; a write that fails later is reported once (on_error) and the
// tracer records nothing more. The run never fails because of its trace.
// (docs/design.md, "Tracing")
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <typeinfo>
#include <utility>
#include <vector>

#include "dftracer/utils/core/detail/trace_buffer.hpp"
#include "dftracer/utils/core/task_state.hpp"

namespace dftracer::utils {

// The trace file could not be opened or written at start.
class TraceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What the counter track shows.
struct TraceCounters {
  std::uint64_t queued = 0;
  std::uint64_t running = 0;
  std::uint64_t blocked = 0;  // workers blocked in a wait
};

struct TraceOptions {
  std::string path;  // ".gz" at the end: gzip
  // How often the writer drains the buffers and samples the counters.
  std::chrono::milliseconds flush_interval{20};
  // Sampled on the writer thread; null: no counter track.
  std::function<TraceCounters()> counters;
  // Called once, on the writer thread, when a write fails after the start;
  // must not throw. Null: the message goes to stderr.
  std::function<void(const std::string&)> on_error;
  // Tasks that ran on this executor are "io" (the Runtime's I/O pool).
  const void* io_executor = nullptr;
  // The "process_name" metadata.
  std::string process_name = "dftracer.utils";
};

// What a stopped tracer did.
struct TraceSummary {
  std::string path;
  std::uint64_t events = 0;   // lines written, metadata included
  std::uint64_t dropped = 0;  // records lost (no memory, or after an error)
  std::string error;          // empty: none
};

// Teaches the tracer a binding's task kinds: returns the category ("python")
// for a task's dynamic type, or null for "native". Called on the writer
// thread, never on the path that records.
void set_trace_kind_classifier(const char* (*classifier)(const std::type_info& task_type));

class Tracer {
 public:
  // Opens the file and writes its first line; throws TraceError naming the
  // path and the reason when it cannot.
  explicit Tracer(TraceOptions options);
  // Stops (if not yet).
  ~Tracer();
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  // Any thread. `from`: the status the task was final from.
  void record_task(const TaskState& task, TaskStatus from) noexcept;
  // Any thread. A watchdog action (`task_id` 0: not about one task).
  void record_instant(std::string_view name, std::string_view message, std::uint64_t task_id = 0) noexcept;

  // The calling thread's lane (its OS thread id, named in the trace), or 0.
  std::uint64_t lane_of_this_thread() noexcept;
  // For its lifetime, tasks recorded on the calling thread are drawn on
  // `lane` (0: their own): a task's tail run on the callback thread for the
  // thread that ran its body (Runtime::finish_elsewhere).
  class LaneScope {
   public:
    explicit LaneScope(std::uint64_t lane) noexcept;
    ~LaneScope();
    LaneScope(const LaneScope&) = delete;
    LaneScope& operator=(const LaneScope&) = delete;

   private:
    std::uint64_t previous_;
  };

  // Writes what was recorded, the closing line, and closes the file.
  // Records made after this (threads that were already recording) are
  // dropped. Idempotent.
  TraceSummary stop();

  const std::string& path() const noexcept { return options_.path; }
  // False once stopped or after a write error.
  bool recording() const noexcept { return recording_.load(std::memory_order_relaxed); }

 private:
  class Sink;
  struct Formatter;

  detail::TraceThreadBuffer* buffer_for_this_thread() noexcept;
  void writer_main();
  void drain_all(std::string& out);
  void sample_counters(std::string& out);
  bool write_out(std::string& out);
  void fail(const std::string& message);

  const std::uint64_t serial_;  // tells this tracer from an earlier one at the same address
  TraceOptions options_;
  std::unique_ptr<Sink> sink_;
  std::int64_t pid_ = 0;
  std::int64_t wall_offset_ns_ = 0;  // steady clock + this = system clock
  std::uint64_t writer_tid_ = 0;

  std::atomic<bool> recording_{true};
  std::atomic<std::uint64_t> dropped_{0};

  std::mutex buffers_mu_;  // guards buffers_ and worker_tids_
  std::vector<std::shared_ptr<detail::TraceThreadBuffer>> buffers_;
  // (executor, worker index) -> OS tid: the lane of a task finished by
  // another thread (a timeout finished on the callback thread).
  std::map<std::pair<const void*, int>, std::uint64_t> worker_tids_;

  // Writer-thread state.
  std::vector<std::shared_ptr<detail::TraceThreadBuffer>> announced_;
  std::uint64_t next_event_id_ = 0;
  std::uint64_t events_ = 0;
  TraceCounters last_counters_{};
  bool counters_written_ = false;

  std::mutex mu_;  // guards stop_, stopped_, summary_, the cv
  std::condition_variable cv_;
  bool stop_ = false;
  bool stopped_ = false;
  std::string error_;
  TraceSummary summary_;
  std::thread writer_;
};

}  // namespace dftracer::utils
