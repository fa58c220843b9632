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
  std::fprintf(f_, "%s\n", record.c_str());
  std::fflush(f_);
  ++written_;
  if (observer_) observer_(ev);
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
