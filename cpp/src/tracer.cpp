// The runtime's timeline writer (see tracer.hpp): recording into per-thread
// buffers, and the writer thread that formats them as .pfw lines.
#include "dftracer/utils/core/tracer.hpp"

#include <cxxabi.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_set>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dftracer/utils/core/detail/thread_role.hpp"
#include "dftracer/utils/core/detail/thread_start.hpp"
#include "dftracer/utils/core/executor.hpp"
#include "dftracer/utils/core/registry.hpp"

namespace dftracer::utils {

namespace {

std::atomic<std::uint64_t> g_next_serial{1};
std::atomic<const char* (*)(const std::type_info&)> g_kind_classifier{nullptr};

// Longest name and error text a record carries (longer ones are cut).
constexpr std::size_t kMaxName = 256;
constexpr std::size_t kMaxError = 512;
// The writer thread's nice value (see writer_main).
constexpr int kWriterNice = 19;

enum RecordKind : std::uint8_t { kTaskRecord = 1, kInstantRecord = 2 };

// Records are copied in and out with memcpy: the byte stream has no alignment.
struct TaskRecord {
  std::uint8_t kind;
  std::uint8_t status;
  std::uint8_t from;
  std::uint8_t io;
  std::uint16_t name_len;
  std::uint16_t error_len;
  std::uint64_t id;
  std::uint64_t parent_id;
  std::int64_t submit_ns;
  std::int64_t start_ns;
  std::int64_t end_ns;
  const std::type_info* type;
  std::uint64_t tid;  // 0: the buffer's own thread
};

struct InstantRecord {
  std::uint8_t kind;
  std::uint8_t pad;
  std::uint16_t name_len;
  std::uint16_t message_len;
  std::uint64_t task_id;
  std::int64_t ts_ns;
};

std::uint64_t this_thread_os_id() noexcept { return static_cast<std::uint64_t>(::syscall(SYS_gettid)); }

// One record per thread and tracer; the thread's share of its buffer.
struct ThreadBufferRef {
  std::uint64_t serial = 0;
  std::shared_ptr<detail::TraceThreadBuffer> buffer;
  ThreadBufferRef() = default;
  ThreadBufferRef(const ThreadBufferRef&) = delete;
  ThreadBufferRef& operator=(const ThreadBufferRef&) = delete;
  ~ThreadBufferRef() {
    if (buffer) buffer->mark_orphaned();
  }
};
thread_local ThreadBufferRef tls_buffer;
thread_local std::uint64_t tls_lane_override = 0;  // see Tracer::LaneScope

std::string thread_display_name() {
  if (Executor* ex = Executor::current()) {
    int index = Executor::current_worker_index();
    std::string name = ex->name() + " worker " + std::to_string(index);
    if (index >= 0 && static_cast<std::size_t>(index) >= ex->threads()) name += " (temporary)";
    return name;
  }
  switch (ThreadRole::kind()) {
    case ThreadRole::Kind::callback:
      return "callback thread";
    case ThreadRole::Kind::watchdog:
      return "watchdog";
    case ThreadRole::Kind::none:
      break;
  }
  return "caller thread " + std::to_string(this_thread_os_id());
}

// "Type: message" as describe_error gives it (the bindings' describer
// always does); a bare C++ message gets its exception's type in front.
std::string error_text(const std::exception_ptr& error) {
  std::string text = describe_error(error);
  std::size_t colon = text.find(": ");
  bool typed = colon != std::string::npos && colon > 0 &&
               std::all_of(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(colon),
                           [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; });
  if (typed) return text;
  std::string type = "Exception";
  try {
    std::rethrow_exception(error);
  } catch (...) {
    if (const std::type_info* t = abi::__cxa_current_exception_type()) {
      int status = 0;
      char* demangled = abi::__cxa_demangle(t->name(), nullptr, nullptr, &status);
      type = status == 0 && demangled ? demangled : t->name();
      std::free(demangled);
      if (std::size_t ns = type.rfind("::"); ns != std::string::npos) type = type.substr(ns + 2);
    }
  }
  return type + ": " + text;
}

void append_int(std::string& out, std::uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;  // 24 characters hold any 64-bit value
  out.append(buf, end);
}

void append_escaped(std::string& out, std::string_view s) {
  out += '"';
  // Task names rarely need escaping: append them whole when they do not.
  if (std::none_of(s.begin(), s.end(),
                   [](char c) { return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20; })) {
    out.append(s);
    out += '"';
    return;
  }
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

// Nanoseconds as microseconds with three decimals (no floating point).
void append_us(std::string& out, std::int64_t ns) {
  if (ns < 0) ns = 0;
  append_int(out, static_cast<std::uint64_t>(ns / 1000));
  char frac[5] = {'.', static_cast<char>('0' + (ns / 100) % 10), static_cast<char>('0' + (ns / 10) % 10),
                  static_cast<char>('0' + ns % 10), '\0'};
  out += frac;
}

}  // namespace

void set_trace_kind_classifier(const char* (*classifier)(const std::type_info&)) {
  g_kind_classifier.store(classifier, std::memory_order_release);
}

// Where the lines go: a plain file or a gzip stream.
class Tracer::Sink {
 public:
  explicit Sink(const std::string& path) : path_(path) {
    gzip_ = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
    errno = 0;
    if (gzip_) {
      gz_ = gzopen(path.c_str(), "wb1");  // level 1: the writer's CPU is the cost that shows
      if (!gz_) throw TraceError(message("cannot open", errno ? std::strerror(errno) : "out of memory"));
    } else {
      file_ = std::fopen(path.c_str(), "wb");
      if (!file_) throw TraceError(message("cannot open", std::strerror(errno)));
    }
  }
  ~Sink() { close(); }
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;

  // Writes and flushes to the system; on failure sets error() and returns false.
  bool write(const std::string& data) {
    if (!error_.empty()) return false;
    errno = 0;
    if (gz_) {
      if (!data.empty() && gzwrite(gz_, data.data(), static_cast<unsigned>(data.size())) == 0) return gz_failed();
      if (gzflush(gz_, Z_SYNC_FLUSH) != Z_OK) return gz_failed();
    } else if (file_) {
      if (std::fwrite(data.data(), 1, data.size(), file_) != data.size() || std::fflush(file_) != 0) {
        error_ = message("cannot write", std::strerror(errno ? errno : EIO));
        return false;
      }
    }
    return true;
  }

  bool close() {
    bool ok = true;
    errno = 0;
    if (gz_) {
      ok = gzclose(gz_) == Z_OK;
      gz_ = nullptr;
    } else if (file_) {
      ok = std::fclose(file_) == 0;
      file_ = nullptr;
    }
    if (!ok && error_.empty()) error_ = message("cannot close", std::strerror(errno ? errno : EIO));
    return ok;
  }

  const std::string& error() const noexcept { return error_; }

 private:
  std::string message(const char* what, const char* why) const {
    return std::string(what) + " the trace file '" + path_ + "': " + why;
  }
  bool gz_failed() {
    int code = Z_OK;
    const char* why = gzerror(gz_, &code);
    error_ = message("cannot write", code == Z_ERRNO ? std::strerror(errno ? errno : EIO) : why);
    return false;
  }

  std::string path_;
  std::string error_;
  bool gzip_ = false;
  FILE* file_ = nullptr;
  gzFile gz_ = nullptr;
};

Tracer::Tracer(TraceOptions options)
    : serial_(g_next_serial.fetch_add(1, std::memory_order_relaxed)), options_(std::move(options)) {
  if (options_.path.empty()) throw TraceError("the trace path is empty");
  if (options_.flush_interval.count() <= 0) options_.flush_interval = std::chrono::milliseconds(20);
  pid_ = static_cast<std::int64_t>(::getpid());
  auto wall =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  wall_offset_ns_ = wall - now_ns();
  sink_ = std::make_unique<Sink>(options_.path);
  // The first line now: a full disk or a read-only mount is an error at
  // start, not a lost trace at the end.
  std::string first = "[\n";
  if (!sink_->write(first)) {
    // The file is left as it is: it may be something we must not remove
    // (a device such as /dev/full, a file that existed before).
    std::string why = sink_->error();
    sink_.reset();
    throw TraceError(why);
  }
  try {
    writer_ = start_runtime_thread([this] { writer_main(); });
  } catch (const std::system_error& e) {
    throw TraceError(describe_thread_start_failure("trace writer", 0, 1, e));
  }
}

Tracer::~Tracer() { stop(); }

detail::TraceThreadBuffer* Tracer::buffer_for_this_thread() noexcept {
  ThreadBufferRef& ref = tls_buffer;
  if (ref.serial == serial_) return ref.buffer.get();
  try {
    auto buffer = std::make_shared<detail::TraceThreadBuffer>(this_thread_os_id(), thread_display_name());
    {
      std::lock_guard lock(buffers_mu_);
      buffers_.push_back(buffer);
      if (Executor* ex = Executor::current()) worker_tids_[{ex, Executor::current_worker_index()}] = buffer->tid();
    }
    if (ref.buffer) ref.buffer->mark_orphaned();  // this thread moved on from another tracer
    ref.buffer = std::move(buffer);
    ref.serial = serial_;
    return ref.buffer.get();
  } catch (...) {
    return nullptr;
  }
}

std::uint64_t Tracer::lane_of_this_thread() noexcept {
  detail::TraceThreadBuffer* buffer = buffer_for_this_thread();
  return buffer ? buffer->tid() : 0;
}

Tracer::LaneScope::LaneScope(std::uint64_t lane) noexcept : previous_(tls_lane_override) { tls_lane_override = lane; }
Tracer::LaneScope::~LaneScope() { tls_lane_override = previous_; }

void Tracer::record_task(const TaskState& task, TaskStatus from) noexcept {
  if (!recording_.load(std::memory_order_relaxed)) return;
  detail::TraceThreadBuffer* buffer = buffer_for_this_thread();
  if (!buffer) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  alignas(8) char bytes[sizeof(TaskRecord) + kMaxName + kMaxError];
  TaskRecord r;
  r.kind = kTaskRecord;
  r.status = static_cast<std::uint8_t>(task.status());
  r.from = static_cast<std::uint8_t>(from);
  r.io = task.executor() != nullptr && task.executor() == options_.io_executor;
  const std::string& name = task.given_name();
  r.name_len = static_cast<std::uint16_t>(std::min(name.size(), kMaxName));
  r.error_len = 0;
  r.id = task.id();
  r.parent_id = task.parent_id();
  r.submit_ns = task.submit_ns();
  r.start_ns = task.start_ns();
  r.end_ns = task.end_ns();
  r.type = &typeid(task);
  r.tid = tls_lane_override;
  std::memcpy(bytes + sizeof r, name.data(), r.name_len);
  if (r.status == static_cast<std::uint8_t>(TaskStatus::failed) ||
      r.status == static_cast<std::uint8_t>(TaskStatus::timed_out)) {
    try {
      std::string text = error_text(task.error());
      r.error_len = static_cast<std::uint16_t>(std::min(text.size(), kMaxError));
      std::memcpy(bytes + sizeof r + r.name_len, text.data(), r.error_len);
    } catch (...) {
      r.error_len = 0;
    }
  }
  // Finished by a thread that did not run it (a timeout's tail on the
  // callback thread): draw it on the lane of the worker still running it.
  if (r.tid == 0 && from == TaskStatus::running && Executor::current() == nullptr && this_task::current() != &task &&
      task.executor() != nullptr) {
    try {
      for (const auto& w : task.executor()->workers_view()) {
        if (w.task_id != task.id()) continue;
        std::lock_guard lock(buffers_mu_);
        auto it = worker_tids_.find({task.executor(), static_cast<int>(w.index)});
        if (it != worker_tids_.end()) r.tid = it->second;
        break;
      }
    } catch (...) {}
  }
  std::memcpy(bytes, &r, sizeof r);
  if (!buffer->append(bytes, sizeof r + r.name_len + r.error_len)) dropped_.fetch_add(1, std::memory_order_relaxed);
}

void Tracer::record_instant(std::string_view name, std::string_view message, std::uint64_t task_id) noexcept {
  if (!recording_.load(std::memory_order_relaxed)) return;
  detail::TraceThreadBuffer* buffer = buffer_for_this_thread();
  if (!buffer) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  alignas(8) char bytes[sizeof(InstantRecord) + kMaxName + kMaxError];
  InstantRecord r{};
  r.kind = kInstantRecord;
  r.name_len = static_cast<std::uint16_t>(std::min(name.size(), kMaxName));
  r.message_len = static_cast<std::uint16_t>(std::min(message.size(), kMaxError));
  r.task_id = task_id;
  r.ts_ns = now_ns();
  std::memcpy(bytes, &r, sizeof r);
  std::memcpy(bytes + sizeof r, name.data(), r.name_len);
  std::memcpy(bytes + sizeof r + r.name_len, message.data(), r.message_len);
  if (!buffer->append(bytes, sizeof r + r.name_len + r.message_len)) dropped_.fetch_add(1, std::memory_order_relaxed);
}

// Formats records as lines (writer thread only).
struct Tracer::Formatter {
  Tracer& t;
  std::string& out;

  void begin(std::string_view name, const char* cat, std::uint64_t tid, std::int64_t ts_ns, const char* ph) {
    // The separator on a line of its own: every event line stays one JSON
    // object (line readers skip the one-character lines, as they skip "["
    // and "]"), and the whole file is a valid JSON array once "]" is written.
    if (t.events_ > 0) out += ",\n";
    out += "{\"id\":";
    append_int(out, t.next_event_id_++);
    out += ",\"name\":";
    append_escaped(out, name);
    out += ",\"cat\":\"";
    out += cat;
    out += "\",\"pid\":";
    append_int(out, static_cast<std::uint64_t>(t.pid_));
    out += ",\"tid\":";
    append_int(out, tid);
    out += ",\"ts\":";
    append_us(out, ts_ns == 0 ? 0 : ts_ns + t.wall_offset_ns_);
    out += ",\"ph\":\"";
    out += ph;
    out += '"';
    ++t.events_;
  }

  void metadata(const char* what, std::uint64_t tid, const std::string& value) {
    begin(what, "trace", tid, 0, "M");
    out += ",\"args\":{\"name\":";
    append_escaped(out, value);
    out += "}}\n";
  }

  void task(const TaskRecord& r, std::string_view name, std::string_view error, std::uint64_t buffer_tid) {
    const char* cat = "native";
    if (r.io) {
      cat = "io";
    } else if (auto classify = g_kind_classifier.load(std::memory_order_acquire)) {
      if (const char* c = classify(*r.type)) cat = c;
    }
    bool ran = r.from == static_cast<std::uint8_t>(TaskStatus::running) && r.start_ns != 0;
    std::int64_t start = ran ? r.start_ns : r.end_ns;
    std::string display = name.empty() ? TaskState::automatic_name(r.id) : std::string();
    begin(name.empty() ? std::string_view(display) : name, cat, r.tid ? r.tid : buffer_tid, start, "X");
    out += ",\"dur\":";
    append_us(out, ran && r.end_ns > r.start_ns ? r.end_ns - r.start_ns : 0);
    out += ",\"args\":{\"task_id\":";
    append_int(out, r.id);
    if (r.parent_id != 0) {
      out += ",\"parent_id\":";
      append_int(out, r.parent_id);
    }
    out += ",\"queued_us\":";
    append_us(out, start > r.submit_ns ? start - r.submit_ns : 0);
    out += ",\"state\":\"";
    out += to_string(static_cast<TaskStatus>(r.status));
    out += '"';
    if (!error.empty()) {
      std::size_t colon = error.find(": ");
      out += ",\"error_type\":";
      append_escaped(out, error.substr(0, colon));
      out += ",\"error\":";
      append_escaped(out, colon == std::string_view::npos ? error : error.substr(colon + 2));
    }
    out += "}}\n";
  }

  void instant(const InstantRecord& r, std::string_view name, std::string_view message, std::uint64_t tid) {
    begin(name, "watchdog", tid, r.ts_ns, "i");
    out += ",\"s\":\"p\",\"args\":{\"message\":";
    append_escaped(out, message);
    if (r.task_id != 0) {
      out += ",\"task_id\":";
      out += std::to_string(r.task_id);
    }
    out += "}}\n";
  }
};

void Tracer::drain_all(std::string& out) {
  std::vector<std::shared_ptr<detail::TraceThreadBuffer>> buffers;
  {
    std::lock_guard lock(buffers_mu_);
    buffers = buffers_;
  }
  Formatter f{*this, out};
  for (auto& b : buffers) {
    // Orphaned before the drain: nothing more will be appended after it.
    bool orphaned = b->orphaned();
    if (std::find(announced_.begin(), announced_.end(), b) == announced_.end()) {
      announced_.push_back(b);
      f.metadata("thread_name", b->tid(), b->thread_name());
    }
    b->drain([&](const char* p, std::size_t n) {
      const char* end = p + n;
      while (p < end) {
        if (static_cast<std::uint8_t>(*p) == kTaskRecord) {
          TaskRecord r;
          std::memcpy(&r, p, sizeof r);
          const char* name = p + sizeof r;
          f.task(r, {name, r.name_len}, {name + r.name_len, r.error_len}, b->tid());
          p += sizeof r + r.name_len + r.error_len;
        } else {
          InstantRecord r;
          std::memcpy(&r, p, sizeof r);
          const char* name = p + sizeof r;
          f.instant(r, {name, r.name_len}, {name + r.name_len, r.message_len}, b->tid());
          p += sizeof r + r.name_len + r.message_len;
        }
      }
    });
    if (orphaned) {
      std::lock_guard lock(buffers_mu_);
      buffers_.erase(std::remove(buffers_.begin(), buffers_.end(), b), buffers_.end());
      announced_.erase(std::remove(announced_.begin(), announced_.end(), b), announced_.end());
    }
  }
}

void Tracer::sample_counters(std::string& out) {
  if (!options_.counters) return;
  TraceCounters c;
  try {
    c = options_.counters();
  } catch (...) {
    return;
  }
  if (counters_written_ && c.queued == last_counters_.queued && c.running == last_counters_.running &&
      c.blocked == last_counters_.blocked) {
    return;
  }
  counters_written_ = true;
  last_counters_ = c;
  Formatter f{*this, out};
  f.begin("tasks", "runtime", writer_tid_, now_ns(), "C");
  out += ",\"args\":{\"queued\":" + std::to_string(c.queued) + ",\"running\":" + std::to_string(c.running) +
         ",\"blocked\":" + std::to_string(c.blocked) + "}}\n";
}

bool Tracer::write_out(std::string& out) {
  bool ok = true;
  if (!out.empty() && sink_ && recording_.load(std::memory_order_relaxed)) {
    ok = sink_->write(out);
    if (!ok) fail(sink_->error());
  }
  out.clear();
  return ok;
}

void Tracer::fail(const std::string& message) {
  recording_.store(false, std::memory_order_relaxed);
  {
    std::lock_guard lock(mu_);
    if (!error_.empty()) return;
    error_ = message;
  }
  std::string text = message + "; tracing stopped (the run goes on)";
  if (options_.on_error) {
    try {
      options_.on_error(text);
    } catch (...) {}
  } else {
    std::fprintf(stderr, "dftracer.utils: %s\n", text.c_str());
  }
}

void Tracer::writer_main() {
  writer_tid_ = this_thread_os_id();
  // Background work: below the workers' priority, so a busy machine runs
  // the tasks first and the writer catches up when a core is free (the
  // records wait in their buffers). Linux applies nice per thread.
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(writer_tid_), kWriterNice);
  std::string out;
  {
    Formatter f{*this, out};
    f.metadata("process_name", writer_tid_, options_.process_name);
    f.metadata("thread_name", writer_tid_, "trace writer");
  }
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait_for(lock, options_.flush_interval, [&] { return stop_; });
    bool stopping = stop_;
    lock.unlock();
    drain_all(out);
    sample_counters(out);
    write_out(out);
    lock.lock();
    if (stopping) break;
  }
}

TraceSummary Tracer::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopped_) return summary_;
    stop_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  std::string out = "]\n";
  write_out(out);
  recording_.store(false, std::memory_order_relaxed);
  if (sink_ && !sink_->close() && error_.empty()) fail(sink_->error());
  std::uint64_t lost = 0;
  {
    // Drop our shares: the threads' own keep their buffers alive.
    std::lock_guard lock(buffers_mu_);
    buffers_.clear();
  }
  announced_.clear();
  lost = dropped_.load(std::memory_order_relaxed);
  if (lost != 0 && error_.empty() && options_.on_error) {
    // Said once, at the end: a trace with holes must not pass for whole.
    try {
      options_.on_error(std::to_string(lost) + " trace record(s) dropped in '" + options_.path +
                        "' (the writer fell too far behind, or memory ran out)");
    } catch (...) {}
  }
  std::lock_guard lock(mu_);
  stopped_ = true;
  summary_ = {options_.path, events_, lost, error_};
  return summary_;
}

}  // namespace dftracer::utils
