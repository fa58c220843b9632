#include "goldgate/alerts/sink.h"

#include <algorithm>
#include <chrono>

#include "connections.h"
#include "goldgate/alerts/alert_log.h"

namespace goldgate::alerts {

Result<std::unique_ptr<Sink>> Sink::create(const SinkConfig& cfg) {
  std::unique_ptr<Sink> s(new Sink());
  s->cfg_ = cfg;
  auto spool = Spool::open(cfg.spool_dir, cfg.spool_bytes);
  if (!spool) return makeError(spool.error().code, "sink '" + cfg.name + "': " + spool.error().message);
  s->spool_ = std::move(*spool);
  Result<std::unique_ptr<Connection>> conn = makeError(Error::Code::kInternal, "no transport");
  switch (cfg.transport) {
    case Transport::kUdp:
    case Transport::kTcp:
    case Transport::kTls: conn = makeSyslogConnection(s->cfg_); break;
    case Transport::kKafka: conn = makeKafkaConnection(s->cfg_); break;
  }
  if (!conn) return makeError(conn.error().code, "sink '" + cfg.name + "': " + conn.error().message);
  s->conn_ = std::move(*conn);
  if (s->spool_->tornOnOpen())
    s->notices_.push_back(
        {Kind::kAlertsSpoolDamaged,
         "sink '" + cfg.name + "': a torn record at the end of the spool was cut off (a crash mid-write)"});
  s->thread_ = std::thread([p = s.get()] { p->senderMain(); });
  return s;
}

Sink::~Sink() { stop(0); }

bool Sink::wants(const proto::AlertEvent& ev) {
  bool ok = ev.severity() >= cfg_.min_severity;
  if (ok && !cfg_.kinds.empty()) {
    ok = std::any_of(cfg_.kinds.begin(), cfg_.kinds.end(), [&](const std::string& k) {
      if (k.size() >= 2 && k.compare(k.size() - 2, 2, ".*") == 0)
        return ev.kind().compare(0, k.size() - 1, k, 0, k.size() - 1) == 0;
      return k == "*" || k == ev.kind();
    });
  }
  if (!ok) filtered_.fetch_add(1, std::memory_order_relaxed);
  return ok;
}

Result<uint64_t> Sink::offer(const proto::AlertEvent& ev) {
  std::string payload =
      cfg_.transport == Transport::kKafka ? render(ev, cfg_.format) : syslogMessage(ev, cfg_.format, cfg_.max_message);
  // A datagram has a hard size limit: a longer record (a non-RFC 5424 format) is cut rather than
  // left to fail forever at the head of the spool.
  size_t udpMax = std::min<size_t>(cfg_.max_message, 65000);
  if (cfg_.transport == Transport::kUdp && payload.size() > udpMax) payload.resize(udpMax);
  auto r = spool_->append(std::move(payload), static_cast<uint8_t>(std::min<uint32_t>(ev.severity(), 255)));
  {
    std::lock_guard lock(mu_);
    wake_ = true;
  }
  cv_.notify_one();
  return r;
}

SinkStatus Sink::status() const {
  SinkStatus st;
  st.name = cfg_.name;
  st.transport = transportName(cfg_.transport);
  st.address = cfg_.address + (cfg_.topic.empty() ? "" : "/" + cfg_.topic);
  st.format = formatName(cfg_.format);
  {
    std::lock_guard lock(mu_);
    st.state = state_;
    st.last_error = error_;
  }
  st.backlog_events = spool_->backlogEvents();
  st.backlog_bytes = spool_->backlogBytes();
  st.dropped = spool_->dropped();
  st.sent = sent_.load();
  st.confirmed = confirmed_.load();
  st.filtered = filtered_.load();
  st.reconnects = reconnects_.load();
  return st;
}

std::vector<SinkNotice> Sink::takeNotices() {
  std::lock_guard lock(mu_);
  return std::exchange(notices_, {});
}

void Sink::setState(const char* state, const std::string& error) {
  std::lock_guard lock(mu_);
  std::string was = state_;
  std::string wasError = error_;
  state_ = state;
  if (!error.empty()) error_ = error;
  std::string s = state;
  if (s == "down" && (was != "down" || wasError != error))
    notices_.push_back({Kind::kAlertsSinkDown, "sink '" + cfg_.name + "' (" + transportName(cfg_.transport) + " " +
                                                   cfg_.address + ") is unreachable: " + error +
                                                   "; events are spooled until it comes back"});
  if (s == "up" && (was == "down" || (!ever_up_ && spool_->backlogEvents() > 0)))
    notices_.push_back({Kind::kAlertsSinkUp, "sink '" + cfg_.name + "' (" + transportName(cfg_.transport) + " " +
                                                 cfg_.address + ") is reachable again; sending " +
                                                 std::to_string(spool_->backlogEvents()) + " spooled events"});
  if (s == "up") ever_up_ = true;
}

void Sink::stop(uint32_t graceMs) {
  if (!thread_.joinable()) return;
  stop_deadline_ns_.store(nowNs() + int64_t{graceMs} * 1000000);
  stop_.store(true);
  {
    std::lock_guard lock(mu_);
    wake_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void Sink::senderMain() {
  using namespace std::chrono_literals;
  uint64_t sentThrough = 0;  // highest sequence handed to the connection on this connection
  uint64_t confirmedSeq = 0;
  bool connected = false;
  auto backoff = 100ms;
  std::vector<Spool::Record> batch;
  auto wait = [&](std::chrono::milliseconds d) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, d, [&] { return wake_ || stop_.load(); });
    wake_ = false;
  };
  // Backing off ignores new events (they only wait in the spool); only a stop cuts it short.
  auto backOff = [&]() {
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, backoff, [&] { return stop_.load(); });
    }
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, 5000ms);
  };
  auto fail = [&](const std::string& why) {
    conn_->close();
    connected = false;
    sentThrough = confirmedSeq;  // resend everything the receiver has not confirmed
    setState("down", why);
    backOff();
  };
  for (;;) {
    if (stop_.load()) {
      bool drained = spool_->backlogEvents() == 0;
      if (drained || nowNs() >= stop_deadline_ns_.load()) break;
    }
    if (!connected) {
      if (auto r = conn_->open(); !r) {
        setState("down", r.error().message);
        backOff();
        continue;
      }
      connected = true;
      reconnects_.fetch_add(1);
      setState("up", "");
    }
    spool_->peek(sentThrough, 256, batch);
    bool failed = false;
    for (const auto& rec : batch) {
      if (auto r = conn_->send(rec); !r) {
        fail(r.error().message);
        failed = true;
        break;
      }
      sentThrough = rec.seq;
      sent_.fetch_add(1, std::memory_order_relaxed);
    }
    if (failed) continue;
    auto c = conn_->confirmed();
    if (!c) {
      fail(c.error().message);
      continue;
    }
    if (*c > confirmedSeq) {
      confirmed_.fetch_add(spool_->confirm(*c), std::memory_order_relaxed);
      confirmedSeq = *c;
      backoff = 100ms;  // the receiver is taking events again
    }
    if (batch.empty()) wait(conn_->idle() ? 200ms : 5ms);
  }
  if (connected) conn_->close();
}

}  // namespace goldgate::alerts
