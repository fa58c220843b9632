// Alert-stream benchmark: events per second rendered and delivered over TLS to a receiver (the
// local rsyslog that bench/alerts.py starts), per format; spool write and replay rates. Every rate
// is printed with, as its ceiling, writing the same bytes to a plain file in the same run.
// Output: one JSON object a line, {"name", "value", "unit", "ceiling", "ratio", "case"}.
//
// Usage: goldgate-bench-alerts --address HOST:PORT --ca CA --cert CERT --key KEY --dir SCRATCH [--events N]
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "alert.pb.h"
#include "goldgate/alerts/render.h"
#include "goldgate/alerts/sink.h"
#include "goldgate/alerts/spool.h"

using namespace goldgate;
using namespace goldgate::alerts;
using Clock = std::chrono::steady_clock;

namespace {

double secondsSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::vector<proto::AlertEvent> sampleEvents(int n) {
  std::vector<proto::AlertEvent> out;
  out.reserve(n);
  for (int i = 0; i < n; ++i) {
    proto::AlertEvent ev;
    ev.set_schema_version(1);
    ev.set_id("5f0c2a9e1b7d4c83-" + std::to_string(i));
    ev.set_time_unix_ns(1790000000000000000 + int64_t{i} * 1000);
    ev.set_count(1);
    ev.set_host("hv-01.example.net");
    ev.set_source("goldgate-switch");
    ev.set_kind("policy.deny");
    ev.set_severity(5);
    ev.set_vm("web1");
    ev.set_port("vm-web1");
    ev.set_segment("web");
    ev.set_dst_segment("db");
    auto* f = ev.mutable_flow();
    f->set_src_ip("10.0.0.1");
    f->set_dst_ip("10.0.0.2");
    f->set_src_port(40000 + i % 20000);
    f->set_dst_port(22);
    f->set_protocol(6);
    f->set_community_id("1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
    ev.set_rule("default");
    ev.set_action("deny");
    ev.set_policy_version(3);
    ev.set_message("denied tcp 10.0.0.1:" + std::to_string(40000 + i % 20000) +
                   " -> 10.0.0.2:22 (web -> db): no rule allows it");
    out.push_back(std::move(ev));
  }
  return out;
}

// Writes each record with one write(2), as a sink spool or the alert file does: the ceiling.
double plainFileRate(const std::string& path, const std::vector<std::string>& recs) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  auto t0 = Clock::now();
  for (const auto& r : recs) {
    std::string line = r + "\n";
    if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) std::perror("write");
  }
  double s = secondsSince(t0);
  ::close(fd);
  std::filesystem::remove(path);
  return recs.size() / s;
}

void emit(const std::string& name, double value, const char* unit, double ceiling, const std::string& what) {
  std::printf(
      "{\"name\": \"%s\", \"value\": %.0f, \"unit\": \"%s\", \"ceiling\": %.0f, \"ratio\": %.3f, \"case\": \"%s\"}\n",
      name.c_str(), value, unit, ceiling, value / ceiling, what.c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::string address, ca, cert, key, dir;
  int n = 100000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--address") address = v;
    else if (a == "--ca") ca = v;
    else if (a == "--cert") cert = v;
    else if (a == "--key") key = v;
    else if (a == "--dir") dir = v;
    else if (a == "--events") n = std::stoi(v);
    else {
      std::fprintf(stderr, "goldgate-bench-alerts: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (address.empty() || dir.empty()) {
    std::fprintf(
        stderr,
        "usage: goldgate-bench-alerts --address HOST:PORT --ca CA --cert CERT --key KEY --dir SCRATCH [--events N]\n");
    return 2;
  }
  auto events = sampleEvents(n);
  for (Format f : {Format::kJson, Format::kOcsf, Format::kCef, Format::kLeef, Format::kRfc5424}) {
    std::string fmt = formatName(f);
    auto t0 = Clock::now();
    std::vector<std::string> recs;
    recs.reserve(n);
    for (const auto& ev : events) recs.push_back(syslogMessage(ev, f, 8192));
    double renderRate = n / secondsSince(t0);
    double fileRate = plainFileRate(dir + "/plain-" + fmt, recs);
    emit("alerts_render_" + fmt, renderRate, "events/s", fileRate, "render " + fmt + " as a syslog message");

    SinkConfig cfg;
    cfg.name = "bench-" + fmt;
    cfg.transport = Transport::kTls;
    cfg.address = address;
    cfg.format = f;
    cfg.spool_dir = dir + "/spool-" + fmt;
    cfg.spool_bytes = 1ull << 30;
    cfg.tls.ca_file = ca;
    cfg.tls.cert_file = cert;
    cfg.tls.key_file = key;
    auto sink = Sink::create(cfg);
    if (!sink) {
      std::fprintf(stderr, "goldgate-bench-alerts: %s\n", sink.error().message.c_str());
      return 1;
    }
    t0 = Clock::now();
    for (const auto& ev : events)
      if (!(*sink)->offer(ev)) return 1;
    while ((*sink)->status().confirmed < static_cast<uint64_t>(n)) {
      if (secondsSince(t0) > 300) {
        std::fprintf(stderr, "goldgate-bench-alerts: %s: only %llu of %d confirmed after 300 s (%s)\n", fmt.c_str(),
                     static_cast<unsigned long long>((*sink)->status().confirmed), n,
                     (*sink)->status().last_error.c_str());
        return 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    double tlsRate = n / secondsSince(t0);
    (*sink)->stop(0);
    emit("alerts_tls_" + fmt, tlsRate, "events/s", fileRate,
         "render, spool and deliver " + fmt + " over TLS to rsyslog, confirmed by TCP acknowledgement");
  }

  // Spool: append every record (one write each), then reopen and replay (read, peek, confirm).
  std::vector<std::string> recs;
  for (const auto& ev : events) recs.push_back(syslogMessage(ev, Format::kRfc5424, 8192));
  double fileRate = plainFileRate(dir + "/plain-spool", recs);
  std::string sdir = dir + "/spool-bench";
  {
    auto sp = Spool::open(sdir, 1ull << 30);
    if (!sp) return 1;
    auto t0 = Clock::now();
    for (auto& r : recs)
      if (!(*sp)->append(r, 5)) return 1;
    emit("alerts_spool_write", n / secondsSince(t0), "events/s", fileRate, "spool append (rfc5424 records)");
  }
  {
    auto t0 = Clock::now();
    auto sp = Spool::open(sdir, 1ull << 30);
    if (!sp) return 1;
    std::vector<Spool::Record> batch;
    uint64_t after = 0, seen = 0;
    for (;;) {
      (*sp)->peek(after, 256, batch);
      if (batch.empty()) break;
      seen += batch.size();
      after = batch.back().seq;
      (*sp)->confirm(after);
    }
    if (seen != static_cast<uint64_t>(n)) return 1;
    emit("alerts_spool_replay", n / secondsSince(t0), "events/s", fileRate,
         "spool reopen and replay (load, read in batches of 256, confirm)");
  }
  std::filesystem::remove_all(sdir);
  return 0;
}
