// Unit tests of the network alert sinks (alerts/src/sink.cc and the transports) against
// receivers in this process: a TCP syslog receiver that parses RFC 6587 octet counting, a UDP
// socket, and librdkafka's own mock Kafka cluster (no Kafka broker is packaged in Debian). TLS is
// exercised end to end against a real rsyslog (tests/e2e/e2e_alerts.sh).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "alert.pb.h"
#include "goldgate/alerts/alert_log.h"
#include "goldgate/alerts/sink.h"
#include "loopback.h"
#include "temp_dir.h"

using namespace goldgate;
using namespace goldgate::alerts;
using goldgate::test::TempDir;
using namespace std::chrono_literals;

namespace {

// Accepts connections on 127.0.0.1:port and collects octet-counted syslog frames.
class TcpReceiver {
 public:
  explicit TcpReceiver(uint16_t port = 0) { start(port); }
  ~TcpReceiver() { stop(); }
  uint16_t port() const { return port_; }

  void start(uint16_t port) {
    lfd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(lfd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(lfd_, 4) == 0);
    socklen_t len = sizeof a;
    getsockname(lfd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    running_ = true;
    thread_ = std::thread([this] { loop(); });
  }

  void stop() {
    if (!running_) return;
    running_ = false;
    thread_.join();
    ::close(lfd_);
  }

  std::vector<std::string> messages() {
    std::lock_guard lock(mu_);
    return messages_;
  }

  bool waitFor(size_t n, std::chrono::milliseconds limit = 15s) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      if (messages().size() >= n) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

 private:
  void loop() {
    int cfd = -1;
    std::string buf;
    while (running_) {
      pollfd p{cfd >= 0 ? cfd : lfd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      if (cfd < 0) {
        cfd = ::accept(lfd_, nullptr, nullptr);
        continue;
      }
      char tmp[65536];
      ssize_t n = ::recv(cfd, tmp, sizeof tmp, 0);
      if (n <= 0) {
        ::close(cfd);
        cfd = -1;
        buf.clear();
        continue;
      }
      buf.append(tmp, static_cast<size_t>(n));
      for (;;) {
        auto sp = buf.find(' ');
        if (sp == std::string::npos) break;
        size_t len = std::stoul(buf.substr(0, sp));
        if (buf.size() < sp + 1 + len) break;
        std::lock_guard lock(mu_);
        messages_.push_back(buf.substr(sp + 1, len));
        buf.erase(0, sp + 1 + len);
      }
    }
    if (cfd >= 0) ::close(cfd);
  }

  int lfd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> running_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> messages_;
};

proto::AlertEvent event(int i, uint32_t severity = 5, const std::string& kind = "policy.deny") {
  proto::AlertEvent ev;
  ev.set_id("ev-" + std::to_string(i));
  ev.set_kind(kind);
  ev.set_severity(severity);
  ev.set_host("host1");
  ev.set_source("goldgate-switch");
  ev.set_time_unix_ns(1700000000000000000 + i);
  ev.set_message("event " + std::to_string(i));
  return ev;
}

bool waitUntil(const std::function<bool()>& f, std::chrono::milliseconds limit = 15s) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (f()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

using test::udpSocket;

SinkConfig tcpSink(const TempDir& d, uint16_t port) {
  SinkConfig c;
  c.name = "siem";
  c.transport = Transport::kTcp;
  c.address = "127.0.0.1:" + std::to_string(port);
  c.format = Format::kRfc5424;
  c.spool_dir = (d.path() / "spool").string();
  return c;
}

}  // namespace

TEST_CASE("a TCP sink delivers octet-counted RFC 5424 records in order") {
  TempDir d;
  TcpReceiver rx;
  auto sink = Sink::create(tcpSink(d, rx.port()));
  REQUIRE(sink.has_value());
  for (int i = 0; i < 200; ++i) REQUIRE((*sink)->offer(event(i)).has_value());
  REQUIRE(rx.waitFor(200));
  auto m = rx.messages();
  for (int i = 0; i < 200; ++i) {
    INFO(m[i]);
    CHECK(m[i].rfind("<132>1 ", 0) == 0);  // local0.warning
    CHECK(m[i].find("id=\"ev-" + std::to_string(i) + "\"") != std::string::npos);
  }
  REQUIRE(waitUntil([&] { return (*sink)->status().confirmed == 200; }));
  auto st = (*sink)->status();
  CHECK(st.state == "up");
  CHECK(st.backlog_events == 0);
  CHECK(st.sent == 200);
}

TEST_CASE("a TCP sink spools through an outage and a restart, then delivers everything in order") {
  TempDir d;
  auto rx = std::make_unique<TcpReceiver>();
  uint16_t port = rx->port();
  SinkConfig cfg = tcpSink(d, port);
  auto sink = Sink::create(cfg);
  REQUIRE(sink.has_value());
  for (int i = 0; i < 10; ++i) REQUIRE((*sink)->offer(event(i)).has_value());
  REQUIRE(rx->waitFor(10));
  REQUIRE(waitUntil([&] { return (*sink)->status().backlog_events == 0; }));
  rx.reset();  // the SIEM goes away
  for (int i = 10; i < 60; ++i) REQUIRE((*sink)->offer(event(i)).has_value());
  REQUIRE(waitUntil([&] { return (*sink)->status().state == "down"; }));
  CHECK((*sink)->status().backlog_events >= 50);
  auto notices = (*sink)->takeNotices();
  REQUIRE_FALSE(notices.empty());
  CHECK(notices.back().kind == Kind::kAlertsSinkDown);
  // The daemon restarts while the SIEM is still down: the spool carries the events over.
  (*sink)->stop(0);
  sink->reset();
  auto sink2 = Sink::create(cfg);
  REQUIRE(sink2.has_value());
  CHECK((*sink2)->status().backlog_events >= 50);
  for (int i = 60; i < 70; ++i) REQUIRE((*sink2)->offer(event(i)).has_value());
  rx = std::make_unique<TcpReceiver>(port);  // the SIEM comes back
  REQUIRE(rx->waitFor(60));
  REQUIRE(waitUntil([&] { return (*sink2)->status().backlog_events == 0; }));
  auto m = rx->messages();
  // Every event from 10 to 69 arrived, in order; a duplicate is allowed only as an immediate resend.
  std::vector<int> ids;
  for (const auto& s : m) {
    auto p = s.find("id=\"ev-");
    REQUIRE(p != std::string::npos);
    ids.push_back(std::stoi(s.substr(p + 7)));
  }
  std::vector<int> unique;
  for (int id : ids)
    if (unique.empty() || unique.back() != id) unique.push_back(id);
  std::vector<int> want;
  for (int i = 10; i < 70; ++i) want.push_back(i);
  CHECK(unique == want);
  auto up = (*sink2)->takeNotices();
  REQUIRE_FALSE(up.empty());
  CHECK(up.back().kind == Kind::kAlertsSinkUp);
}

TEST_CASE("a sink's filter takes kinds (with prefixes) and a minimum severity") {
  TempDir d;
  TcpReceiver rx;
  SinkConfig cfg = tcpSink(d, rx.port());
  cfg.kinds = {"quarantine", "policy.*"};
  cfg.min_severity = 5;
  auto sink = Sink::create(cfg);
  REQUIRE(sink.has_value());
  CHECK((*sink)->wants(event(1, 5, "policy.deny")));
  CHECK((*sink)->wants(event(1, 9, "quarantine")));
  CHECK_FALSE((*sink)->wants(event(1, 4, "policy.deny")));
  CHECK_FALSE((*sink)->wants(event(1, 9, "flow.cut")));
  CHECK_FALSE((*sink)->wants(event(1, 9, "policyx")));
  CHECK((*sink)->status().filtered == 3);
}

TEST_CASE("an AlertLog fans out to sinks in each sink's own format and reports sink state") {
  TempDir d;
  TcpReceiver rx;
  auto log = AlertLog::open((d.path() / "alerts.jsonl").string(), 0, "goldgate-switch");
  REQUIRE(log.has_value());
  SinkConfig cef = tcpSink(d, rx.port());
  cef.name = "cef";
  cef.format = Format::kCef;
  cef.spool_dir = (d.path() / "cef").string();
  auto sink = Sink::create(cef);
  REQUIRE(sink.has_value());
  (*log)->addSink(std::move(*sink));
  (*log)->raise(event(1), "k1", 1);
  REQUIRE(rx.waitFor(1));
  auto m = rx.messages()[0];
  INFO(m);
  // An RFC 5424 header, no structured data, and the CEF record as MSG.
  CHECK(m.find(" goldgate-switch - policy.deny - CEF:0|Goldgate|goldgate-switch|") != std::string::npos);
  auto st = (*log)->sinkStatus();
  REQUIRE(st.size() == 1);
  CHECK(st[0].format == "cef");
}

TEST_CASE("a UDP sink sends one RFC 5424 message a datagram") {
  TempDir d;
  uint16_t port = 0;
  int fd = udpSocket(port);
  SinkConfig cfg = tcpSink(d, port);
  cfg.transport = Transport::kUdp;
  auto sink = Sink::create(cfg);
  REQUIRE(sink.has_value());
  for (int i = 0; i < 5; ++i) REQUIRE((*sink)->offer(event(i)).has_value());
  for (int i = 0; i < 5; ++i) {
    pollfd p{fd, POLLIN, 0};
    REQUIRE(::poll(&p, 1, 5000) == 1);
    char buf[9000];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    REQUIRE(n > 0);
    std::string msg(buf, static_cast<size_t>(n));
    CHECK(msg.rfind("<132>1 ", 0) == 0);  // no octet count on UDP
    CHECK(msg.find("id=\"ev-" + std::to_string(i) + "\"") != std::string::npos);
  }
  REQUIRE(waitUntil([&] { return (*sink)->status().backlog_events == 0; }));
  ::close(fd);
}

TEST_CASE("a UDP sink to a closed port sees it unreachable and keeps the events spooled") {
  TempDir d;
  uint16_t port = 0;
  int fd = udpSocket(port);
  ::close(fd);  // nobody listens there now: loopback answers with ICMP port unreachable
  SinkConfig cfg = tcpSink(d, port);
  cfg.transport = Transport::kUdp;
  auto sink = Sink::create(cfg);
  REQUIRE(sink.has_value());
  for (int i = 0; i < 5; ++i) REQUIRE((*sink)->offer(event(i)).has_value());
  REQUIRE(waitUntil([&] { return (*sink)->status().state == "down"; }));
  CHECK((*sink)->status().backlog_events == 5);
  CHECK((*sink)->status().last_error.find("refused") != std::string::npos);
}

TEST_CASE("a Kafka sink delivers to librdkafka's mock cluster, in order, through a broker outage") {
  TempDir d;
  char err[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_t* owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  REQUIRE(owner);
  rd_kafka_mock_cluster_t* mc = rd_kafka_mock_cluster_new(owner, 1);
  REQUIRE(mc);
  std::string bootstraps = rd_kafka_mock_cluster_bootstraps(mc);
  REQUIRE(rd_kafka_mock_topic_create(mc, "goldgate-alerts", 1, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);

  SinkConfig cfg;
  cfg.name = "kafka";
  cfg.transport = Transport::kKafka;
  cfg.address = bootstraps;
  cfg.topic = "goldgate-alerts";
  cfg.format = Format::kJson;
  cfg.spool_dir = (d.path() / "kafka").string();
  auto sink = Sink::create(cfg);
  REQUIRE(sink.has_value());
  for (int i = 0; i < 50; ++i) REQUIRE((*sink)->offer(event(i)).has_value());
  REQUIRE(waitUntil([&] { return (*sink)->status().confirmed == 50; }, 30s));
  CHECK((*sink)->status().backlog_events == 0);

  // Read the topic back with a consumer.
  rd_kafka_conf_t* cc = rd_kafka_conf_new();
  REQUIRE(rd_kafka_conf_set(cc, "bootstrap.servers", bootstraps.c_str(), err, sizeof err) == RD_KAFKA_CONF_OK);
  REQUIRE(rd_kafka_conf_set(cc, "group.id", "goldgate-test", err, sizeof err) == RD_KAFKA_CONF_OK);
  REQUIRE(rd_kafka_conf_set(cc, "auto.offset.reset", "earliest", err, sizeof err) == RD_KAFKA_CONF_OK);
  rd_kafka_t* consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof err);
  REQUIRE(consumer);
  rd_kafka_poll_set_consumer(consumer);
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(parts, "goldgate-alerts", 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
  REQUIRE(rd_kafka_assign(consumer, parts) == RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_topic_partition_list_destroy(parts);
  std::vector<std::string> got;
  auto until = std::chrono::steady_clock::now() + 30s;
  while (got.size() < 50 && std::chrono::steady_clock::now() < until) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer, 100);
    if (!m) continue;
    if (!m->err) got.emplace_back(static_cast<const char*>(m->payload), m->len);
    rd_kafka_message_destroy(m);
  }
  REQUIRE(got.size() == 50);
  for (int i = 0; i < 50; ++i) CHECK(got[i].find("\"id\":\"ev-" + std::to_string(i) + "\"") != std::string::npos);

  // The broker goes down: events wait in the spool; it comes back: they are delivered.
  REQUIRE(rd_kafka_mock_broker_set_down(mc, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
  for (int i = 50; i < 60; ++i) REQUIRE((*sink)->offer(event(i)).has_value());
  std::this_thread::sleep_for(1s);
  CHECK((*sink)->status().backlog_events == 10);
  REQUIRE(rd_kafka_mock_broker_set_up(mc, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
  REQUIRE(waitUntil([&] { return (*sink)->status().backlog_events == 0; }, 60s));
  until = std::chrono::steady_clock::now() + 30s;
  while (got.size() < 60 && std::chrono::steady_clock::now() < until) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer, 100);
    if (!m) continue;
    if (!m->err) got.emplace_back(static_cast<const char*>(m->payload), m->len);
    rd_kafka_message_destroy(m);
  }
  REQUIRE(got.size() >= 60);
  CHECK(got.back().find("\"id\":\"ev-59\"") != std::string::npos);

  (*sink)->stop(0);
  rd_kafka_consumer_close(consumer);
  rd_kafka_destroy(consumer);
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(owner);
}
