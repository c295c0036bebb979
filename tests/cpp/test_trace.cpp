// The timeline (tracer.hpp): every task once with its lane, parent and
// state; gzip by name; errors at start and later; counters and watchdog
// instants; task dumps of blocked work.
#include <gtest/gtest.h>
#include <zlib.h>

#include <sys/resource.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "dftracer/utils/all.hpp"
#include "test_util.hpp"

using namespace dftracer::utils;
using namespace std::chrono_literals;

namespace {

std::string temp_path(const std::string& name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/dftracer-test-" + std::to_string(::getpid()) + "-" + name;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::string text;
  gzFile f = gzopen(path.c_str(), "rb");  // reads plain files as they are
  if (!f) return {};
  char buf[65536];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
  gzclose(f);
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::uint64_t field(const std::string& line, const std::string& name) {
  std::smatch m;
  std::regex re("\"" + name + "\":([0-9.]+)");
  if (!std::regex_search(line, m, re)) return 0;
  return static_cast<std::uint64_t>(std::stod(m[1]));
}

double number(const std::string& line, const std::string& name) {
  std::smatch m;
  std::regex re("\"" + name + "\":([0-9.]+)");
  if (!std::regex_search(line, m, re)) return -1;
  return std::stod(m[1]);
}

struct Parsed {
  std::map<std::uint64_t, std::string> tasks;  // task id -> line
  std::set<std::uint64_t> named_tids;
  std::vector<std::string> counters, instants;
};

Parsed parse(const std::vector<std::string>& lines) {
  Parsed p;
  for (const auto& l : lines) {
    if (l == "[" || l == "]" || l == ",") continue;
    if (l.find("\"ph\":\"X\"") != std::string::npos) {
      EXPECT_TRUE(p.tasks.emplace(field(l, "task_id"), l).second) << "task recorded twice: " << l;
    } else if (l.find("\"thread_name\"") != std::string::npos) {
      p.named_tids.insert(field(l, "tid"));
    } else if (l.find("\"ph\":\"C\"") != std::string::npos) {
      p.counters.push_back(l);
    } else if (l.find("\"ph\":\"i\"") != std::string::npos) {
      p.instants.push_back(l);
    }
  }
  return p;
}

}  // namespace

TEST(Trace, EveryTaskOnceWithItsParentStateAndAWorkerLane) {
  for (std::string name : {"nested.pfw", "nested.pfw.gz"}) {
    std::string path = temp_path(name);
    {
      RuntimeOptions o;
      o.threads = 2;
      o.io_threads = 1;
      Runtime rt(o);
      rt.start_trace({.path = path});
      EXPECT_TRUE(rt.tracing());
      std::vector<TaskHandle<int>> outer;
      for (int i = 0; i < 20; ++i) {
        outer.push_back(rt.submit(
            [&rt, i] {
              auto child = rt.submit([i] { return i; }, "child");
              auto io = rt.submit([] { return 1; }, "read", Pool::io);
              return child.get() + io.get();
            },
            "outer"));
      }
      auto bad = rt.submit([]() -> int { throw std::invalid_argument("no"); }, "bad");
      for (auto& h : outer) h.get();
      EXPECT_THROW(bad.get(), std::invalid_argument);
      TraceSummary s = rt.stop_trace();
      EXPECT_FALSE(rt.tracing());
      EXPECT_EQ(s.path, path);
      EXPECT_TRUE(s.error.empty()) << s.error;
      EXPECT_EQ(s.dropped, 0u);
      rt.submit([] {}).get();  // after stop: not traced
    }
    auto lines = read_lines(path);
    ASSERT_GE(lines.size(), 3u);
    EXPECT_EQ(lines.front(), "[");
    EXPECT_EQ(lines.back(), "]");
    Parsed p = parse(lines);
    EXPECT_EQ(p.tasks.size(), 61u) << name;  // 20 x (outer, child, read) + bad
    std::size_t io = 0, children = 0;
    for (const auto& [id, line] : p.tasks) {
      EXPECT_TRUE(p.named_tids.count(field(line, "tid"))) << "lane without a thread name: " << line;
      if (line.find("\"name\":\"read\"") != std::string::npos) {
        EXPECT_NE(line.find("\"cat\":\"io\""), std::string::npos) << line;
        ++io;
      }
      if (line.find("\"name\":\"child\"") != std::string::npos) {
        ++children;
        std::uint64_t parent = field(line, "parent_id");
        ASSERT_TRUE(p.tasks.count(parent)) << line;
        const std::string& pl = p.tasks[parent];
        EXPECT_GE(number(line, "ts"), number(pl, "ts"));
        EXPECT_LE(number(line, "ts") + number(line, "dur"), number(pl, "ts") + number(pl, "dur") + 0.002);
      }
      if (line.find("\"name\":\"bad\"") != std::string::npos) {
        EXPECT_NE(line.find("\"state\":\"failed\""), std::string::npos) << line;
        EXPECT_NE(line.find("\"error_type\":\"invalid_argument\""), std::string::npos) << line;
      }
    }
    EXPECT_EQ(io, 20u);
    EXPECT_EQ(children, 20u);
    EXPECT_FALSE(p.counters.empty());
    std::remove(path.c_str());
  }
}

TEST(Trace, CancelledTaskAppearsOnceWithNoDuration) {
  std::string path = temp_path("cancel.pfw");
  {
    RuntimeOptions o;
    o.threads = 1;
    Runtime rt(o);
    rt.start_trace({.path = path});
    test::Gate gate;
    auto blocker = rt.submit([&] { gate.wait(); });
    auto queued = rt.submit([] {}, "never");
    EXPECT_TRUE(queued.cancel());
    gate.open();
    blocker.get();
    rt.stop_trace();
  }
  Parsed p = parse(read_lines(path));
  ASSERT_EQ(p.tasks.size(), 2u);
  bool found = false;
  for (const auto& [id, line] : p.tasks) {
    if (line.find("\"never\"") == std::string::npos) continue;
    found = true;
    EXPECT_NE(line.find("\"state\":\"cancelled\""), std::string::npos) << line;
    EXPECT_EQ(number(line, "dur"), 0.0) << line;
  }
  EXPECT_TRUE(found);
  std::remove(path.c_str());
}

TEST(Trace, UnwritablePathIsAnErrorAtStartAndTheRuntimeGoesOn) {
  Runtime rt;
  EXPECT_THROW(rt.start_trace({.path = "/nonexistent-dir/x/run.pfw"}), TraceError);
  struct stat st {};
  if (stat("/dev/full", &st) == 0 && S_ISCHR(st.st_mode)) {
    try {
      rt.start_trace({.path = "/dev/full"});  // opens, but the first write fails (ENOSPC)
      FAIL() << "no error for a full disk";
    } catch (const TraceError& e) {
      EXPECT_NE(std::string(e.what()).find("/dev/full"), std::string::npos) << e.what();
    }
  }
  EXPECT_FALSE(rt.tracing());
  EXPECT_EQ(rt.submit([] { return 3; }).get(), 3);
  std::string path = temp_path("twice.pfw");
  rt.start_trace({.path = path});
  EXPECT_THROW(rt.start_trace({.path = path}), std::logic_error);
  rt.stop_trace();
  std::remove(path.c_str());
}

TEST(Trace, WriteErrorLaterIsReportedOnceAndTracingStops) {
  std::string path = temp_path("limited.pfw");
  // A file size limit makes later writes fail with EFBIG, as a full disk would.
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit old{};
  getrlimit(RLIMIT_FSIZE, &old);
  rlimit small = old;
  small.rlim_cur = 16 * 1024;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  std::atomic<int> errors{0};
  std::string message;
  {
    RuntimeOptions o;
    o.threads = 2;
    Runtime rt(o);
    TraceOptions t;
    t.path = path;
    t.flush_interval = 5ms;
    t.on_error = [&](const std::string& m) {
      if (errors.fetch_add(1) == 0) message = m;
    };
    rt.start_trace(t);
    for (int round = 0; round < 200 && rt.tracing(); ++round) {
      std::vector<TaskHandle<int>> hs;
      for (int i = 0; i < 200; ++i) hs.push_back(rt.submit([i] { return i; }, "a-task-with-a-long-name"));
      for (auto& h : hs) h.get();
      std::this_thread::sleep_for(5ms);
    }
    EXPECT_FALSE(rt.tracing());
    EXPECT_EQ(rt.submit([] { return 7; }).get(), 7);  // the run goes on
    TraceSummary s = rt.stop_trace();
    EXPECT_FALSE(s.error.empty());
  }
  setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_EQ(errors.load(), 1);
  EXPECT_NE(message.find(path), std::string::npos) << message;
  std::remove(path.c_str());
}

TEST(Trace, WatchdogActionsAreInstantEvents) {
  std::string path = temp_path("watchdog.pfw");
  {
    RuntimeOptions o;
    o.threads = 1;
    o.watchdog.interval = 10ms;
    o.watchdog.long_task_threshold = 50ms;
    o.watchdog.starvation_threshold = 50ms;
    Runtime rt(o);
    rt.start_trace({.path = path});
    rt.set_default_task_timeout(100ms);
    auto slow = rt.submit([] {
      for (int i = 0; i < 300 && !this_task::cancelled(); ++i) std::this_thread::sleep_for(2ms);
    });
    auto queued = rt.submit([] {});
    slow.wait();
    queued.wait();
    rt.stop_trace();
  }
  Parsed p = parse(read_lines(path));
  std::set<std::string> names;
  for (const auto& l : p.instants) {
    std::smatch m;
    if (std::regex_search(l, m, std::regex("\"name\":\"([^\"]+)\""))) names.insert(m[1]);
  }
  EXPECT_TRUE(names.count("timeout")) << p.instants.size();
  EXPECT_TRUE(names.count("long task"));
  EXPECT_TRUE(names.count("starvation: temporary worker added"));
  for (const auto& [id, line] : p.tasks) {
    if (line.find("timed_out") != std::string::npos) {
      // Finished on the callback thread, drawn on the worker that ran it.
      EXPECT_TRUE(p.named_tids.count(field(line, "tid")));
      EXPECT_NE(line.find("\"error_type\":\"TaskTimeoutError\""), std::string::npos) << line;
    }
  }
  std::remove(path.c_str());
}

TEST(Trace, ManyThreadsRecordingWhileTracingStartsAndStops) {
  RuntimeOptions o;
  o.threads = 4;
  Runtime rt(o);
  std::atomic<bool> stop{false};
  std::thread submitter([&] {
    while (!stop.load()) {
      std::vector<TaskHandle<void>> hs;
      for (int i = 0; i < 100; ++i) hs.push_back(rt.submit([] {}));
      for (auto& h : hs) h.get();
    }
  });
  int rounds = test::kUnderSanitizer ? 5 : 20;
  for (int i = 0; i < rounds; ++i) {
    std::string path = temp_path("flip" + std::to_string(i % 2) + (i % 2 ? ".pfw.gz" : ".pfw"));
    rt.start_trace({.path = path, .flush_interval = 1ms});
    std::this_thread::sleep_for(5ms);
    TraceSummary s = rt.stop_trace();
    EXPECT_TRUE(s.error.empty());
    auto lines = read_lines(path);
    ASSERT_FALSE(lines.empty());
    EXPECT_EQ(lines.back(), "]");
    std::remove(path.c_str());
  }
  stop = true;
  submitter.join();
}

TEST(TaskDump, ShowsTheWorkerAndTheTaskItWaitsOn) {
  RuntimeOptions o;
  o.threads = 2;
  Runtime rt(o);
  test::Gate gate;
  auto inner = rt.submit([&] { gate.wait(); }, "inner");
  ASSERT_TRUE(test::wait_until([&] { return inner.status() == TaskStatus::running; }));
  auto outer = rt.submit([&] { inner.get(); }, "outer");
  bool seen = test::wait_until([&] {
    for (const auto& e : rt.dump_tasks()) {
      if (e.name == "outer" && e.blocked && e.waiting_on == inner.id()) return true;
    }
    return false;
  });
  EXPECT_TRUE(seen);
  auto dump = rt.dump_tasks();
  ASSERT_EQ(dump.size(), 2u);
  for (const auto& e : dump) {
    EXPECT_NE(e.worker.find("compute worker"), std::string::npos) << e.name;
    EXPECT_GT(e.running_ns, 0);
  }
  gate.open();
  outer.get();
  EXPECT_TRUE(rt.dump_tasks().empty());
}

TEST(TraceBuffer, ConsumerSeesEveryRecordInOrderWhileChunksTurnOver) {
  detail::TraceThreadBuffer buffer(1, "t");
  const std::uint64_t n = test::kUnderSanitizer ? 100'000 : 1'000'000;
  std::atomic<bool> done{false};
  std::thread producer([&] {
    char rec[40] = {};
    for (std::uint64_t i = 0; i < n; ++i) {
      std::memcpy(rec, &i, sizeof i);
      std::size_t size = 8 + (i % 32);  // records of varying size straddle chunk ends
      while (!buffer.append(rec, size)) {}
    }
    done.store(true, std::memory_order_release);
  });
  std::uint64_t expected = 0;
  auto consume = [&](const char* p, std::size_t len) {
    const char* end = p + len;
    while (p < end) {
      std::uint64_t v;
      std::memcpy(&v, p, sizeof v);
      ASSERT_EQ(v, expected);
      p += 8 + (expected % 32);
      ++expected;
    }
  };
  while (!done.load(std::memory_order_acquire)) buffer.drain(consume);
  producer.join();
  buffer.drain(consume);
  EXPECT_EQ(expected, n);
}

TEST(TraceBuffer, AWriterFarBehindCostsRecordsNotUnboundedMemory) {
  detail::TraceThreadBuffer buffer(1, "t");
  char rec[1024] = {};
  std::uint64_t accepted = 0;
  while (buffer.append(rec, sizeof rec)) ++accepted;
  const std::uint64_t per_chunk = detail::TraceThreadBuffer::kChunkBytes / sizeof rec;
  EXPECT_EQ(accepted, per_chunk * detail::TraceThreadBuffer::kMaxChunks);
  std::uint64_t drained = 0;
  buffer.drain([&](const char*, std::size_t n) { drained += n / sizeof rec; });
  EXPECT_EQ(drained, accepted);
  EXPECT_TRUE(buffer.append(rec, sizeof rec));  // room again once the writer caught up
}
