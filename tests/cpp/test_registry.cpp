// Registry: totals, the live list, the bounded ring of recent tasks, failures,
// and flat memory over millions of tasks.
#include <gtest/gtest.h>

#include <memory>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "dftracer/utils/all.hpp"
#include "test_util.hpp"

using namespace dftracer::utils;
using namespace std::chrono_literals;
using dftracer::utils::test::Gate;
using dftracer::utils::test::scaled;
using dftracer::utils::test::wait_until;

TEST(Registry, TotalsAddUpAcrossOutcomes) {
  Runtime rt({.threads = 1, .io_threads = 1});
  Gate gate;
  auto blocker = rt.submit([&] { gate.wait(); });
  ASSERT_TRUE(wait_until([&] { return gate.arrived.load() == 1; }));
  std::vector<TaskHandle<int>> ok, bad, cancelled;
  for (int i = 0; i < 30; ++i) ok.push_back(rt.submit([i] { return i; }));
  for (int i = 0; i < 20; ++i) bad.push_back(rt.submit([]() -> int { throw std::runtime_error("bad"); }));
  for (int i = 0; i < 10; ++i) cancelled.push_back(rt.submit([] { return 0; }));

  auto t = rt.registry().totals();
  EXPECT_EQ(t.submitted, 61u);
  EXPECT_EQ(t.running, 1u);
  EXPECT_EQ(t.queued, 60u);
  EXPECT_EQ(t.completed + t.failed + t.cancelled, 0u);

  for (auto& h : cancelled) ASSERT_TRUE(h.cancel());
  t = rt.registry().totals();
  EXPECT_EQ(t.cancelled, 10u);
  EXPECT_EQ(t.queued, 50u);

  gate.open();
  rt.wait_all();
  t = rt.registry().totals();
  EXPECT_EQ(t.submitted, 61u);
  EXPECT_EQ(t.completed, 31u);
  EXPECT_EQ(t.failed, 20u);
  EXPECT_EQ(t.cancelled, 10u);
  EXPECT_EQ(t.timed_out, 0u);
  EXPECT_EQ(t.queued, 0u);
  EXPECT_EQ(t.running, 0u);
  EXPECT_EQ(t.completed + t.failed + t.cancelled + t.timed_out, t.submitted);
}

TEST(Registry, LiveListShowsQueuedAndRunningTasksOnly) {
  Runtime rt({.threads = 1, .io_threads = 1});
  Gate gate;
  auto blocker = rt.submit([&] { gate.wait(); }, "blocker");
  ASSERT_TRUE(wait_until([&] { return gate.arrived.load() == 1; }));
  auto waiting = rt.submit([] {}, "waiting");
  auto finished = rt.submit([] {}, "finished-early");
  ASSERT_TRUE(finished.cancel());

  auto live = rt.registry().live(100);
  ASSERT_EQ(live.size(), 2u);
  EXPECT_EQ(live[0].name, "blocker");  // oldest id first
  EXPECT_EQ(live[0].status, TaskStatus::running);
  EXPECT_GT(live[0].start_ns, 0);
  EXPECT_EQ(live[1].name, "waiting");
  EXPECT_EQ(live[1].status, TaskStatus::queued);
  EXPECT_EQ(live[1].start_ns, 0);
  EXPECT_EQ(rt.registry().live(1).size(), 1u);
  EXPECT_EQ(rt.registry().live_tasks().size(), 2u);
  EXPECT_EQ(rt.registry().totals().queued, 1u);
  EXPECT_EQ(rt.registry().totals().running, 1u);

  gate.open();
  rt.wait_all();
  EXPECT_TRUE(rt.registry().live(100).empty());
}

TEST(Registry, UnnamedTasksReadAsTaskIdInEveryView) {
  // The automatic name is formatted on read, not at submit: the handle, the
  // live list, the recent ring, the worker view and a cancel error must all
  // still show "task-<id>".
  Runtime rt({.threads = 1, .io_threads = 1});
  Gate gate;
  auto running = rt.submit([&] { gate.wait(); });
  ASSERT_TRUE(wait_until([&] { return gate.arrived.load() == 1; }));
  auto queued = rt.submit([] {});
  const std::string running_name = "task-" + std::to_string(running.id());
  const std::string queued_name = "task-" + std::to_string(queued.id());
  EXPECT_EQ(running.name(), running_name);
  EXPECT_EQ(running.state().given_name(), "");

  auto live = rt.registry().live(10);
  ASSERT_EQ(live.size(), 2u);
  EXPECT_EQ(live[0].name, running_name);
  EXPECT_EQ(live[1].name, queued_name);
  auto view = rt.compute().workers_view();
  ASSERT_EQ(view.size(), 1u);
  EXPECT_EQ(view[0].task_id, running.id());
  EXPECT_EQ(view[0].display_name(), running_name);
  EXPECT_EQ(view[0].task_name, "");  // published as given: formatted on read

  ASSERT_TRUE(queued.cancel());
  try {
    queued.get();
    ADD_FAILURE() << "a cancelled task's get() must throw";
  } catch (const TaskCancelledError& e) {
    EXPECT_NE(std::string(e.what()).find(queued_name), std::string::npos) << e.what();
  }
  gate.open();
  rt.wait_all();
  auto recent = rt.registry().recent();
  ASSERT_EQ(recent.size(), 2u);
  for (const auto& r : recent) EXPECT_EQ(r.name, "task-" + std::to_string(r.id));
}

TEST(Registry, SnapshotsCarryTheSubmittingTasksId) {
  // The parent is recorded at submit from this_task::current(): tasks
  // submitted from outside have none, children name the task whose body
  // submitted them, in the live list and in the recent ring alike.
  Runtime rt({.threads = 2, .io_threads = 1});
  Gate gate;
  std::atomic<std::uint64_t> child_id{0}, grandchild_id{0};
  auto parent = rt.submit(
      [&] {
        auto child = rt.submit(
            [&] {
              auto grandchild = rt.submit([] {}, "grandchild");
              grandchild_id = grandchild.id();
              grandchild.wait();
              gate.wait();
            },
            "child");
        child_id = child.id();
        child.wait();
      },
      "parent");
  // The child may reach the gate before its parent has stored child_id.
  ASSERT_TRUE(wait_until([&] { return gate.arrived.load() == 1 && child_id.load() != 0; }));

  auto live = rt.registry().live(10);
  ASSERT_EQ(live.size(), 2u);  // parent and child; the grandchild finished
  EXPECT_EQ(live[0].id, parent.id());
  EXPECT_EQ(live[0].parent_id, 0u);
  EXPECT_EQ(live[1].id, child_id.load());
  EXPECT_EQ(live[1].parent_id, parent.id());

  gate.open();
  rt.wait_all();
  auto recent = rt.registry().recent();
  ASSERT_EQ(recent.size(), 3u);
  for (const auto& r : recent) {
    if (r.id == parent.id()) EXPECT_EQ(r.parent_id, 0u);
    if (r.id == child_id.load()) EXPECT_EQ(r.parent_id, parent.id());
    if (r.id == grandchild_id.load()) EXPECT_EQ(r.parent_id, child_id.load());
  }
}

TEST(Registry, SnapshotsCarryTheTasksLocation) {
  struct Located final : TaskState {
    using TaskState::TaskState;
    void run() override { finish_success(); }
  };
  Runtime rt({.threads = 1, .io_threads = 1});
  TaskStateRef with = TaskStateRef::adopt(new Located("with"));
  with->set_location("reader.cpp:42");
  TaskStateRef without = TaskStateRef::adopt(new Located("without"));
  rt.submit_state(*with);
  rt.submit_state(*without);
  rt.wait_all();
  auto recent = rt.registry().recent();
  ASSERT_EQ(recent.size(), 2u);
  for (const auto& r : recent) {
    if (r.name == "with") {
      ASSERT_NE(r.location, nullptr);
      EXPECT_STREQ(r.location, "reader.cpp:42");
    } else {
      EXPECT_EQ(r.location, nullptr);
    }
  }
}

TEST(Registry, NeverSubmittedStateHasAnEmptyName) {
  struct Plain final : TaskState {
    void run() override { finish_success(); }
  };
  Plain p;
  EXPECT_EQ(p.id(), 0u);
  EXPECT_EQ(p.name(), "");
}

TEST(Registry, RecentRingIsBoundedAndKeepsTheNewest) {
  Runtime rt({.threads = 1, .io_threads = 1, .registry = {.recent_capacity = 10}});
  std::vector<std::uint64_t> ids;
  for (int i = 0; i < 200; ++i) {
    auto h = rt.submit([] {});
    h.wait();  // one at a time: finish order is id order
    ids.push_back(h.id());
  }
  auto recent = rt.registry().recent();
  ASSERT_EQ(recent.size(), 10u);
  for (std::size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(recent[i].id, ids[190 + i]);
    EXPECT_EQ(recent[i].status, TaskStatus::completed);
    EXPECT_GT(recent[i].end_ns, 0);
  }
}

TEST(Registry, RecentRingDefaultCapacityIs1024) {
  Runtime rt({.threads = 2, .io_threads = 1});
  for (int i = 0; i < 3000; ++i) (void)rt.submit([] {});
  rt.wait_all();
  EXPECT_EQ(rt.registry().recent().size(), 1024u);
}

TEST(Registry, RecentRingOfZeroKeepsNothing) {
  Runtime rt({.threads = 1, .io_threads = 1, .registry = {.recent_capacity = 0}});
  for (int i = 0; i < 50; ++i) (void)rt.submit([] {});
  rt.wait_all();
  EXPECT_TRUE(rt.registry().recent().empty());
  EXPECT_EQ(rt.registry().totals().completed, 50u);
}

TEST(Registry, FailedListKeepsFailuresUntilCleared) {
  Runtime rt({.threads = 2, .io_threads = 1});
  for (int i = 0; i < 5; ++i) (void)rt.submit([]() -> int { throw std::runtime_error("e"); }, "f" + std::to_string(i));
  for (int i = 0; i < 5; ++i) (void)rt.submit([] { return 1; });
  rt.wait_all();
  auto failed = rt.registry().failed();
  ASSERT_EQ(failed.size(), 5u);
  std::vector<std::string> names;
  for (auto& f : failed) {
    EXPECT_EQ(f->status(), TaskStatus::failed);
    EXPECT_NE(f->error(), nullptr);
    names.push_back(f->name());
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"f0", "f1", "f2", "f3", "f4"}));

  auto errors = rt.registry().errors();
  ASSERT_EQ(errors.size(), 5u);
  EXPECT_EQ(errors[0].message, "e");

  rt.registry().clear_failed();
  EXPECT_TRUE(rt.registry().failed().empty());
  EXPECT_EQ(rt.registry().totals().failed, 5u);  // totals are cumulative
  (void)rt.submit([]() -> int { throw std::runtime_error("later"); });
  rt.wait_all();
  ASSERT_EQ(rt.registry().failed().size(), 1u);
  auto unreported = rt.registry().take_unreported_failures();
  EXPECT_EQ(unreported.records.size(), 6u);
  EXPECT_EQ(unreported.dropped, 0u);
  EXPECT_EQ(unreported.records.back().message, "later");
  EXPECT_TRUE(rt.registry().take_unreported_failures().records.empty());
}

TEST(Registry, UnreportedFailuresAreCappedRecordsThatKeepNothingAlive) {
  Runtime rt({.threads = 2, .io_threads = 1, .registry = {.failure_capacity = 4}});
  auto big = std::make_shared<std::vector<char>>(1 << 20);
  std::weak_ptr<std::vector<char>> watch = big;
  for (int i = 0; i < 10; ++i) {
    (void)rt.submit([big]() -> int { throw std::runtime_error("x"); });
  }
  big.reset();
  rt.wait_all();
  rt.registry().clear_failed();
  EXPECT_TRUE(watch.expired());  // no record holds the tasks (or their captures)
  auto unreported = rt.registry().take_unreported_failures();
  EXPECT_EQ(unreported.records.size(), 4u);
  EXPECT_EQ(unreported.dropped, 6u);
}

TEST(Registry, FailedListIsCappedAndCountsWhatItDropped) {
  Runtime rt({.threads = 2, .io_threads = 1, .registry = {.failure_capacity = 8, .error_capacity = 4}});
  for (int i = 0; i < 20; ++i) (void)rt.submit([i]() -> int { throw std::runtime_error(std::to_string(i)); });
  rt.wait_all();
  EXPECT_EQ(rt.registry().failed().size(), 8u);
  EXPECT_EQ(rt.registry().failures_dropped(), 12u);
  EXPECT_EQ(rt.registry().errors().size(), 4u);
  EXPECT_EQ(rt.registry().totals().failed, 20u);
}

TEST(Registry, DescribeErrorUsesWhatAndAnInstalledDescriber) {
  EXPECT_EQ(describe_error(std::make_exception_ptr(std::runtime_error("plain"))), "plain");
  EXPECT_EQ(describe_error(std::make_exception_ptr(42)), "unknown exception");
  EXPECT_EQ(describe_error(nullptr), "");
  set_error_describer([](const std::exception_ptr& e, std::string& out) {
    try {
      std::rethrow_exception(e);
    } catch (int v) {
      out = "int " + std::to_string(v);
      return true;
    } catch (...) {
      return false;
    }
  });
  EXPECT_EQ(describe_error(std::make_exception_ptr(42)), "int 42");
  EXPECT_EQ(describe_error(std::make_exception_ptr(std::runtime_error("plain"))), "plain");
  set_error_describer(nullptr);
}

// Millions of tasks whose handles are dropped leave nothing behind: the
// registry keeps a bounded ring and the task states are freed.
TEST(Registry, MemoryStaysFlatOverMillionsOfTasks) {
  Runtime rt({.threads = 2, .io_threads = 1});
  const std::size_t total = scaled(2'000'000, 50'000);
  const std::size_t batch = 10'000;
  auto run_batches = [&](std::size_t n) {
    for (std::size_t done = 0; done < n; done += batch) {
      for (std::size_t i = 0; i < batch; ++i) (void)rt.submit([] {});
      rt.wait_all();
    }
  };
  // Warm up: pools, frame lists, allocator arenas and the ring fill once.
  run_batches(std::min<std::size_t>(total / 4, 200'000));
  std::size_t before = test::rss_bytes();
  run_batches(total);
  std::size_t after = test::rss_bytes();
  auto totals = rt.registry().totals();
  EXPECT_EQ(totals.completed, totals.submitted);
  double grown_mb = (static_cast<double>(after) - static_cast<double>(before)) / (1024.0 * 1024.0);
  std::printf("RSS before %.1f MB, after %.1f MB, grown %.2f MB over %zu tasks\n",
              static_cast<double>(before) / 1048576.0, static_cast<double>(after) / 1048576.0, grown_mb, total);
  // ASan keeps freed memory in quarantine; the bound applies to real builds.
  if (!test::kUnderSanitizer) EXPECT_LT(grown_mb, 4.0);
  EXPECT_EQ(rt.registry().recent().size(), 1024u);
  EXPECT_TRUE(rt.registry().live(10).empty());
}
