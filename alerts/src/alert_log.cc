#include "goldgate/alerts/alert_log.h"

#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

namespace goldgate::alerts {

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::unique_ptr<AlertLog>> AlertLog::open(const std::string& path, uint32_t window_ms, std::string source,
                                                 Format format) {
  std::unique_ptr<AlertLog> log(new AlertLog());
  log->format_ = format;
  std::error_code ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  log->f_ = std::fopen(path.c_str(), "a");
  if (!log->f_) return makeError(Error::Code::kIo, path + ": cannot open alert log: " + std::strerror(errno));
  log->size_ = static_cast<uint64_t>(std::filesystem::file_size(path, ec));
  log->path_ = path;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  log->host_ = host;
  log->source_ = std::move(source);
  log->window_ns_ = int64_t{window_ms} * 1000000;
  std::random_device rd;
  log->id_prefix_ = (uint64_t{rd()} << 32) | rd();
  return log;
}

AlertLog::~AlertLog() {
  flushAll();
  stopSinks(0);
  if (f_) std::fclose(f_);
}

std::string AlertLog::nextId() {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx-%08llx", static_cast<unsigned long long>(id_prefix_),
                static_cast<unsigned long long>(++id_counter_));
  return buf;
}

void AlertLog::write(proto::AlertEvent& ev) {
  ev.set_schema_version(1);
  if (ev.id().empty()) ev.set_id(nextId());
  ev.set_host(host_);
  ev.set_source(source_);
  if (ev.count() == 0) ev.set_count(1);
  std::string record = render(ev, format_);
  if (rotate_bytes_ && size_ > 0 && size_ + record.size() + 1 > rotate_bytes_) rotate();
  if (!f_) return;  // the file could not be reopened after rotation (reported on stderr)
  std::fprintf(f_, "%s\n", record.c_str());
  size_ += record.size() + 1;
  std::fflush(f_);
  ++written_;
  if (observer_) observer_(ev);
  for (auto& sink : sinks_) {
    if (!sink->wants(ev)) continue;
    auto r = sink->offer(ev);
    if (!r) {
      std::fprintf(stderr, "goldgate: %s\n", r.error().message.c_str());
      continue;
    }
    if (*r == 0) continue;
    proto::AlertEvent drop;
    setKind(drop, Kind::kAlertsSpoolDropped);
    drop.set_count(*r);
    drop.set_action("drop");
    drop.set_message("sink '" + sink->config().name + "': spool full (" +
                     std::to_string(sink->config().spool_bytes >> 20) + " MiB); dropped " + std::to_string(*r) +
                     " undelivered events, oldest of the lowest severity first");
    deferred_.push_back(std::move(drop));
  }
}

std::vector<SinkStatus> AlertLog::sinkStatus() const {
  std::vector<SinkStatus> out;
  for (const auto& s : sinks_) out.push_back(s->status());
  return out;
}

void AlertLog::stopSinks(uint32_t graceMs) {
  for (auto& s : sinks_) s->stop(graceMs);
}

void AlertLog::rotate() {
  std::fclose(f_);
  std::error_code ec;
  // PATH.(keep) is dropped; every other old file moves up by one; PATH becomes PATH.1.
  std::filesystem::remove(path_ + "." + std::to_string(rotate_keep_), ec);
  for (uint32_t i = rotate_keep_; i > 1; --i)
    std::filesystem::rename(path_ + "." + std::to_string(i - 1), path_ + "." + std::to_string(i), ec);
  if (rotate_keep_ > 0) std::filesystem::rename(path_, path_ + ".1", ec);
  else std::filesystem::remove(path_, ec);
  f_ = std::fopen(path_.c_str(), "a");
  if (!f_)
    std::fprintf(stderr, "goldgate: %s: cannot reopen the alert log after rotation: %s\n", path_.c_str(),
                 std::strerror(errno));
  size_ = 0;
  ++rotations_;
}

void AlertLog::raise(proto::AlertEvent ev, const std::string& key, int64_t now_ns) {
  if (ev.time_unix_ns() == 0) ev.set_time_unix_ns(now_ns);
  if (window_ns_ == 0) {
    write(ev);
    return;
  }
  auto it = pending_.find(key);
  if (it != pending_.end() && now_ns - it->second.window_start_ns < window_ns_) {
    Pending& p = it->second;
    if (p.repeats == 0) p.first_repeat_ns = ev.time_unix_ns();
    p.repeats += ev.count() ? ev.count() : 1;
    p.last_ns = ev.time_unix_ns();
    return;
  }
  if (it != pending_.end()) {  // window over: report what was suppressed, start afresh
    tick(now_ns);
  }
  write(ev);
  Pending p;
  p.first = ev;
  p.window_start_ns = now_ns;
  pending_[key] = std::move(p);
}

void AlertLog::tick(int64_t now_ns) {
  for (auto& sink : sinks_)
    for (auto& n : sink->takeNotices()) {
      proto::AlertEvent ev;
      setKind(ev, n.kind);
      ev.set_message(n.message);
      deferred_.push_back(std::move(ev));
    }
  for (auto& ev : std::exchange(deferred_, {})) {
    ev.set_time_unix_ns(now_ns < INT64_MAX / 4 ? now_ns : nowNs());
    write(ev);
  }
  for (auto it = pending_.begin(); it != pending_.end();) {
    Pending& p = it->second;
    if (now_ns - p.window_start_ns < window_ns_) {
      ++it;
      continue;
    }
    if (p.repeats > 0) {
      proto::AlertEvent ev = p.first;
      ev.clear_id();
      ev.set_count(p.repeats);
      ev.set_time_unix_ns(p.first_repeat_ns);
      ev.set_last_time_unix_ns(p.last_ns);
      ev.set_message(p.first.message() + " (repeated " + std::to_string(p.repeats) + " more times)");
      write(ev);
    }
    it = pending_.erase(it);
  }
}

void AlertLog::flushAll() {
  tick(INT64_MAX / 2);
  pending_.clear();
}

}  // namespace goldgate::alerts
