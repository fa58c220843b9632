// The switch's internals shared by switch.cc (lifecycle), control.cc (API) and identity.cc: the
// pieces it is made of (ports, publisher, control server, alert drain, bench figures) and the
// workers, wired together. It owns the lifecycle: start, run, the control thread's loop, stop.
#pragma once

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "alert_drain.h"
#include "bench_stats.h"
#include "control.pb.h"
#include "control_server.h"
#include "goldgate/alerts/alert_log.h"
#include "goldgate/common/metrics_http.h"
#include "goldgate/dataplane/config.h"
#include "goldgate/dataplane/switch.h"
#include "key_agent.h"
#include "ports.h"
#include "publisher.h"
#include "worker.h"

namespace goldgate::dataplane {

class SwitchImpl {
 public:
  SwitchImpl(SwitchConfig sw, SegmentsConfig segs, RunOptions opts);
  ~SwitchImpl();

  Result<void> start();  // EAL, ports, tables, first policy, alert log, control socket
  int run();

  // Control thread API (control.cc).
  proto::Response handle(const proto::Request& req);
  Result<std::string> reload();
  Result<std::string> setQuarantine(const std::string& target, bool on);
  // VM identity from goldgate-hostmon (identity.cc).
  proto::SetIdentitiesResponse setIdentities(const proto::SetIdentitiesRequest& req);

  static std::atomic<bool> stop_requested;
  static std::atomic<bool> reload_requested;

 private:
  void controlLoop();
  static void* controlMain(void* self);
  static int workerMain(void* self);
  void raise(proto::AlertEvent ev, const std::string& key);
  // raise() as the pieces take it (Publisher::Raise, AlertDrain::Raise).
  Publisher::Raise raiser();

  proto::StatusResponse status() const;
  proto::FlowsResponse flows(const proto::FlowFilter& f);
  proto::RulesResponse rules() const;
  // goldgatectl trace (trace_control.cc): captures through the workers' mailboxes, and a
  // described packet explained against the policy in force.
  proto::Response trace(const proto::TraceRequest& req);
  Result<proto::TraceResult> explain(const proto::TracePacket& p);
  int portIndex(const std::string& name) const;  // -1: no such port (physical or tunnel peer)
  // The Prometheus families (metrics.cc), built on the control thread when a scrape asks.
  std::vector<prometheus::MetricFamily> metricFamilies() const;
  // Hands `cmd` to worker `w` and waits (up to 2 s) until it is served; false if the worker did
  // not take it (stopped). `out` must have its capacity reserved for kDumpFlows.
  bool askWorker(Worker& w, Mailbox::Cmd cmd, const FlowQuery& q, std::vector<FlowSnapshot>* out, uint64_t* matched);

  // In this order so that destruction, in reverse, is right for what ~SwitchImpl leaves to it: the
  // alert log first (its last flush reaches the followers in control_), then the tunnel, the data
  // classes (publisher_) last. The pieces hold references to members declared before them.
  SwitchConfig sw_;
  SegmentsConfig segs_;
  RunOptions opts_;
  Ports ports_;
  Publisher publisher_;
  ControlServer control_;
  WorkerShared shared_;
  std::unique_ptr<Tunnel> tunnel_;       // ESP tunnels to peers (null: none configured)
  std::unique_ptr<KeyAgent> key_agent_;  // automatic keys (null: static keys only)
  bool seq_file_failing_ = false;
  std::vector<std::unique_ptr<Worker>> workers_;
  AlertDrain drain_;
  BenchStats stats_;
  std::atomic<bool> workers_stop_{false};
  std::atomic<bool> control_stop_{false};
  std::unique_ptr<alerts::AlertLog> alert_log_;
  std::chrono::steady_clock::time_point started_;
  pthread_t control_thread_{};
  bool control_running_ = false;
  // Last, so that the HTTP server stops first: nothing it asks for outlives it.
  std::shared_ptr<metrics::OwnerThreadMetrics> metrics_;
  std::unique_ptr<metrics::MetricsServer> metrics_server_;
  std::string metrics_error_;
  uint32_t trace_wanted_ = 0,
           trace_recorded_ = 0;  // the capture armed last  // why metrics.listen could not be served ("" when it is)
};

}  // namespace goldgate::dataplane
