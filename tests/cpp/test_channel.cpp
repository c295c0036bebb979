// Channel<T>: bounded MPMC hand-off between coroutines: order, suspension
// while full or empty, close and drain, non-blocking calls, FIFO waiters,
// wake-ups scheduled (never inline), and a multi-producer stress run.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "dftracer/utils/all.hpp"
#include "test_util.hpp"

using namespace dftracer::utils;
using dftracer::utils::test::wait_until;

namespace {

Task<void> produce(Channel<int>& ch, int from, int count) {
  for (int i = from; i < from + count; ++i) {
    bool ok = co_await ch.send(i);
    if (!ok) throw std::runtime_error("channel closed under the producer");
  }
}

Task<std::vector<int>> drain(Channel<int>& ch) {
  std::vector<int> got;
  while (std::optional<int> v = co_await ch.recv()) got.push_back(*v);
  co_return got;
}

}  // namespace

TEST(Channel, ZeroCapacityIsRejected) { EXPECT_THROW(Channel<int>(0), std::invalid_argument); }

class ChannelCapacity : public ::testing::TestWithParam<std::size_t> {};

TEST_P(ChannelCapacity, OneProducerOneConsumerKeepsOrder) {
  Runtime rt({.threads = 2, .io_threads = 1});
  Channel<int> ch(GetParam());
  const int n = static_cast<int>(test::scaled(20000, 500));
  auto body = [&]() -> Task<std::vector<int>> {
    JoinHandle<std::vector<int>> consumer = co_await spawn(drain(ch));
    co_await produce(ch, 0, n);
    ch.close();
    co_return co_await std::move(consumer);
  };
  std::vector<int> got = sync_wait(rt, body());
  ASSERT_EQ(got.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) ASSERT_EQ(got[static_cast<std::size_t>(i)], i);
}
INSTANTIATE_TEST_SUITE_P(Capacities, ChannelCapacity, ::testing::Values(1, 2, 7, 64));

TEST(Channel, SendSuspendsWhileFullUntilARecvMakesRoom) {
  Runtime rt({.threads = 2, .io_threads = 1});
  Channel<int> ch(2);
  std::atomic<int> sent{0};
  auto producer = [&]() -> Task<void> {
    for (int i = 0; i < 3; ++i) {
      EXPECT_TRUE(co_await ch.send(i));
      sent.fetch_add(1);
    }
  };
  TaskHandle<void> h = rt.submit(producer());
  ASSERT_TRUE(wait_until([&] { return ch.senders_waiting() == 1; }));
  EXPECT_EQ(sent.load(), 2);
  EXPECT_EQ(ch.size(), 2u);
  EXPECT_FALSE(h.done());
  // A receive from this (non-worker) thread pulls the waiting sender's value
  // in and schedules the sender back on its pool.
  EXPECT_EQ(ch.try_recv(), std::optional<int>(0));
  h.get();
  EXPECT_EQ(sent.load(), 3);
  EXPECT_EQ(ch.try_recv(), std::optional<int>(1));
  EXPECT_EQ(ch.try_recv(), std::optional<int>(2));
}

TEST(Channel, RecvSuspendsWhileEmptyAndASendHandsTheValueOverDirectly) {
  Runtime rt({.threads = 2, .io_threads = 1});
  Channel<std::string> ch(4);
  TaskHandle<std::string> h =
      rt.submit([&]() -> Task<std::string> { co_return (co_await ch.recv()).value_or("none"); });
  ASSERT_TRUE(wait_until([&] { return ch.receivers_waiting() == 1; }));
  EXPECT_EQ(ch.try_send(std::string("direct")), ChannelStatus::ok);
  EXPECT_EQ(ch.size(), 0u);  // went to the receiver, not the buffer
  EXPECT_EQ(h.get(), "direct");
}

TEST(Channel, CloseLetsReceiversDrainThenYieldsNullopt) {
  Runtime rt({.threads = 2, .io_threads = 1});
  Channel<int> ch(8);
  auto body = [&]() -> Task<std::vector<int>> {
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(co_await ch.send(i));
    ch.close();
    EXPECT_FALSE(co_await ch.send(99));  // refused after close
    co_return co_await drain(ch);
  };
  EXPECT_EQ(sync_wait(rt, body()), (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_TRUE(ch.is_closed());
  std::optional<int> out;
  EXPECT_EQ(ch.try_recv(out), ChannelStatus::closed);
}

TEST(Channel, CloseWakesEverySuspendedReceiverAndSender) {
  Runtime rt({.threads = 2, .io_threads = 1});
  Channel<int> empty(1), full(1);
  ASSERT_EQ(full.try_send(0), ChannelStatus::ok);
  std::vector<TaskHandle<bool>> receivers, senders;
  for (int i = 0; i < 4; ++i) {
    receivers.push_back(rt.submit([&]() -> Task<bool> { co_return (co_await empty.recv()).has_value(); }));
    senders.push_back(rt.submit([&, i]() -> Task<bool> { co_return co_await full.send(i + 1); }));
  }
  ASSERT_TRUE(wait_until([&] { return empty.receivers_waiting() == 4 && full.senders_waiting() == 4; }));
  empty.close();
  full.close();
  for (auto& h : receivers) EXPECT_FALSE(h.get());    // nullopt
  for (auto& h : senders) EXPECT_FALSE(h.get());      // not sent
  EXPECT_EQ(full.try_recv(), std::optional<int>(0));  // what was buffered stays
  EXPECT_EQ(full.try_recv(), std::nullopt);
}

TEST(Channel, TrySendAndTryRecvReportFullEmptyAndClosedWithoutTouchingTheValue) {
  Channel<std::unique_ptr<int>> ch(1);
  std::optional<std::unique_ptr<int>> out;
  EXPECT_EQ(ch.try_recv(out), ChannelStatus::empty);
  auto a = std::make_unique<int>(1);
  EXPECT_EQ(ch.try_send(std::move(a)), ChannelStatus::ok);
  EXPECT_EQ(a, nullptr);
  auto b = std::make_unique<int>(2);
  EXPECT_EQ(ch.try_send(std::move(b)), ChannelStatus::full);
  ASSERT_NE(b, nullptr);  // refused: still ours
  EXPECT_EQ(*b, 2);
  ch.close();
  EXPECT_EQ(ch.try_send(std::move(b)), ChannelStatus::closed);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(ch.try_recv(out), ChannelStatus::ok);
  EXPECT_EQ(**out, 1);
  EXPECT_EQ(ch.try_recv(out), ChannelStatus::closed);
}

TEST(Channel, TrySendCopiesAnLvalue) {
  Channel<std::string> ch(2);
  std::string s = "kept";
  EXPECT_EQ(ch.try_send(s), ChannelStatus::ok);
  EXPECT_EQ(s, "kept");
  EXPECT_EQ(ch.try_recv(), std::optional<std::string>("kept"));
}

// Waiting senders are served in arrival order, so values arrive in the
// order the sends started.
TEST(Channel, WaitingSendersAreServedFirstComeFirstServed) {
  Runtime rt({.threads = 2, .io_threads = 1});
  Channel<int> ch(1);
  ASSERT_EQ(ch.try_send(0), ChannelStatus::ok);
  std::vector<TaskHandle<bool>> senders;
  for (int i = 1; i <= 5; ++i) {
    senders.push_back(rt.submit([&ch, i]() -> Task<bool> { co_return co_await ch.send(i); }));
    ASSERT_TRUE(wait_until([&] { return ch.senders_waiting() == static_cast<std::size_t>(i); }));
  }
  std::vector<int> got;
  while (got.size() < 6) {
    if (auto v = ch.try_recv()) got.push_back(*v);
  }
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4, 5}));
  for (auto& h : senders) EXPECT_TRUE(h.get());
}

TEST(Channel, WaitingReceiversAreServedFirstComeFirstServed) {
  Runtime rt({.threads = 2, .io_threads = 1});
  Channel<int> ch(1);
  std::vector<TaskHandle<int>> receivers;
  for (int i = 0; i < 5; ++i) {
    receivers.push_back(rt.submit([&ch]() -> Task<int> { co_return (co_await ch.recv()).value_or(-1); }));
    ASSERT_TRUE(wait_until([&] { return ch.receivers_waiting() == static_cast<std::size_t>(i + 1); }));
  }
  for (int i = 0; i < 5; ++i) {
    while (ch.try_send(int{i * 10}) != ChannelStatus::ok) std::this_thread::yield();
  }
  for (int i = 0; i < 5; ++i) EXPECT_EQ(receivers[static_cast<std::size_t>(i)].get(), i * 10);
}

// Wake-ups are scheduled, not resumed inline: a long ping-pong between two
// coroutines on one worker neither overflows the stack nor deadlocks.
TEST(Channel, PingPongOnOneThreadDoesNotGrowTheStack) {
  Runtime rt({.threads = 1, .io_threads = 1});
  Channel<int> ping(1), pong(1);
  const int rounds = static_cast<int>(test::scaled(200000, 20000));
  auto ponger = [&]() -> Task<void> {
    while (auto v = co_await ping.recv()) {
      if (!co_await pong.send(*v + 1)) co_return;
    }
    pong.close();
  };
  auto body = [&]() -> Task<int> {
    JoinHandle<void> other = co_await spawn(ponger());
    int x = 0;
    for (int i = 0; i < rounds; ++i) {
      co_await ping.send(x);
      x = *co_await pong.recv();
    }
    ping.close();
    co_await std::move(other);
    co_return x;
  };
  EXPECT_EQ(sync_wait(rt, body()), rounds);
}

TEST(Channel, AReceiverResumesOnThePoolItSuspendedOn) {
  Runtime rt({.threads = 2, .io_threads = 1});
  Channel<int> ch(1);
  TaskHandle<bool> h = rt.submit([&]() -> Task<bool> {
    co_await on_io();
    co_await ch.recv();
    co_return Executor::current() == &rt.io();
  });
  ASSERT_TRUE(wait_until([&] { return ch.receivers_waiting() == 1; }));
  // Sent from a compute worker: the receiver still goes back to I/O.
  rt.submit([&]() -> Task<void> { co_await ch.send(1); }).get();
  EXPECT_TRUE(h.get());
}

TEST(Channel, DestroyingAChannelWakesItsWaitersAsClosed) {
  Runtime rt({.threads = 2, .io_threads = 1});
  auto ch = std::make_unique<Channel<int>>(1);
  TaskHandle<bool> h = rt.submit([c = ch.get()]() -> Task<bool> { co_return (co_await c->recv()).has_value(); });
  ASSERT_TRUE(wait_until([&] { return ch->receivers_waiting() == 1; }));
  ch.reset();
  EXPECT_FALSE(h.get());
}

// P producers and C consumers on 4 threads, random yields: every value is
// received exactly once, and each producer's values arrive in its order.
TEST(Channel, StressManyProducersManyConsumersDeliverEveryValueOnce) {
  for (std::size_t capacity : {std::size_t{1}, std::size_t{3}, std::size_t{32}}) {
    Runtime rt({.threads = 4, .io_threads = 1});
    Channel<int> ch(capacity);
    const int producers = 4, consumers = 3;
    const int per = static_cast<int>(test::scaled(5000, 200));
    auto producer = [&](int p) -> Task<void> {
      std::mt19937 rng(static_cast<unsigned>(p));
      for (int i = 0; i < per; ++i) {
        if (rng() % 8 == 0) co_await yield_now();
        EXPECT_TRUE(co_await ch.send(p * per + i));
      }
    };
    auto consumer = [&](int c) -> Task<std::vector<int>> {
      std::mt19937 rng(static_cast<unsigned>(100 + c));
      std::vector<int> got;
      for (;;) {
        if (rng() % 8 == 0) co_await yield_now();
        std::optional<int> v;
        if (rng() % 4 == 0 && ch.try_recv(v) == ChannelStatus::ok) {
          got.push_back(*v);
          continue;
        }
        v = co_await ch.recv();
        if (!v) break;
        got.push_back(*v);
      }
      co_return got;
    };
    auto body = [&]() -> Task<std::vector<std::vector<int>>> {
      std::vector<JoinHandle<std::vector<int>>> cs;
      for (int c = 0; c < consumers; ++c) cs.push_back(co_await spawn(consumer(c)));
      std::vector<Task<void>> ps;
      for (int p = 0; p < producers; ++p) ps.push_back(producer(p));
      co_await when_all(std::move(ps));
      ch.close();
      std::vector<std::vector<int>> out;
      for (auto& c : cs) out.push_back(co_await std::move(c));
      co_return out;
    };
    auto per_consumer = sync_wait(rt, body());
    std::vector<int> all;
    for (const auto& got : per_consumer) {
      // Within one consumer, each producer's values come in increasing order.
      std::vector<int> last(producers, -1);
      for (int v : got) {
        EXPECT_GT(v, last[static_cast<std::size_t>(v / per)]) << "capacity " << capacity;
        last[static_cast<std::size_t>(v / per)] = v;
      }
      all.insert(all.end(), got.begin(), got.end());
    }
    std::sort(all.begin(), all.end());
    ASSERT_EQ(all.size(), static_cast<std::size_t>(producers * per)) << "capacity " << capacity;
    for (int i = 0; i < producers * per; ++i) ASSERT_EQ(all[static_cast<std::size_t>(i)], i);
  }
}

// Senders and receivers from plain threads (try_*) and coroutines at once.
TEST(Channel, StressMixesThreadsTrySendAndCoroutineRecv) {
  Runtime rt({.threads = 2, .io_threads = 1});
  Channel<int> ch(2);
  const int per = static_cast<int>(test::scaled(20000, 500));
  std::atomic<long> sum{0};
  std::vector<TaskHandle<void>> consumers;
  for (int c = 0; c < 2; ++c) {
    consumers.push_back(rt.submit([&]() -> Task<void> {
      while (auto v = co_await ch.recv()) sum.fetch_add(*v);
    }));
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      for (int i = 1; i <= per;) {
        if (ch.try_send(int{i}) == ChannelStatus::ok) {
          ++i;
        } else {
          std::this_thread::yield();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  ch.close();
  for (auto& h : consumers) h.get();
  EXPECT_EQ(sum.load(), 2L * per * (per + 1) / 2);
}
