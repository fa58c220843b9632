// The switch's internals shared by switch.cc (lifecycle, publishing) and control.cc (API).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "control.pb.h"
#include "goldgate/alerts/alert_log.h"
#include "goldgate/dataplane/config.h"
#include "goldgate/dataplane/policy.h"
#include "goldgate/dataplane/switch.h"
#include "goldgate/datapolicy/engine.h"
#include "key_agent.h"
#include "worker.h"

struct rte_mempool;

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
  friend class ControlServer;
  Result<void> initEal();
  Result<void> initPorts();
  Result<void> publish(const SegmentsConfig& segs, const std::set<std::string>& quarantined, const std::string& why);
  void controlLoop();
  static void* controlMain(void* self);
  static int workerMain(void* self);
  void drainAlerts();        // key agent events, quarantine requests, the workers' alert rings
  void reportAlertLosses();  // alerts the workers dropped or rate-limited, as events
  void raise(proto::AlertEvent ev, const std::string& key);
  void writeStats(const std::string& path);
  void snapshotWarmup();
  bool drained() const;
  Result<void> openControlSocket();
  Result<void> loadQuarantine();
  Result<void> saveQuarantine(const std::set<std::string>& ports) const;
  // Returns true when the connection was kept open as an alert follower.
  bool serveClient(int fd);
  void publishToFollowers(const proto::AlertEvent& ev);
  struct Follower {
    int fd;
    alerts::Format format;
  };
  std::vector<Follower> followers_;
  uint64_t followers_dropped_ = 0;

  proto::StatusResponse status() const;
  proto::FlowsResponse flows(const proto::FlowFilter& f);
  proto::RulesResponse rules() const;
  // Hands `cmd` to worker `w` and waits (up to 2 s) until it is served; false if the worker did
  // not take it (stopped). `out` must have its capacity reserved for kDumpFlows.
  bool askWorker(Worker& w, Mailbox::Cmd cmd, const FlowQuery& q, std::vector<FlowSnapshot>* out, uint64_t* matched);

  SwitchConfig sw_;
  SegmentsConfig segs_;
  RunOptions opts_;
  std::set<std::string> quarantined_;
  std::vector<uint16_t> port_ids_;
  rte_mempool* pool_ = nullptr;
  // Payload inspection: the compiled data classes in force (null when inspection is off).
  std::shared_ptr<const datapolicy::Classifier> classifier_;
  Result<std::shared_ptr<const datapolicy::Classifier>> loadClassifier() const;
  rte_rcu_qsbr* qsbr_ = nullptr;
  std::vector<rte_ring*> alert_rings_;  // one per worker
  std::atomic<const CompiledPolicy*> policy_{nullptr};
  uint64_t generation_ = 0;
  WorkerShared shared_;
  std::unique_ptr<Tunnel> tunnel_;  // ESP tunnels to peers (null: none configured)
  std::unique_ptr<KeyAgent> key_agent_;  // automatic keys (null: static keys only)
  bool seq_file_failing_ = false;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<unsigned> worker_lcores_;
  std::atomic<bool> workers_stop_{false};
  std::atomic<bool> control_stop_{false};
  std::unique_ptr<alerts::AlertLog> alert_log_;
  uint64_t alerts_dropped_reported_ = 0;
  uint64_t alerts_limited_reported_ = 0;
  int listen_fd_ = -1;
  bool eal_up_ = false;
  bool own_prefix_ = false;  // the EAL file prefix is the switch's own (its runtime folder is removed at exit)
  bool ports_started_ = false;
  bool all_pcap_ = false;
  size_t flow_bytes_ = 0;  // DPDK heap taken by the flow tables (hash + records), measured at start
  std::chrono::steady_clock::time_point started_;
  // Measurement window for stats_json.
  struct Snapshot {
    uint64_t tsc = 0;
    uint64_t packets = 0, busy = 0, tx = 0, created = 0, new_cycles = 0;
  } warm_;
  bool warm_taken_ = false;
  pthread_t control_thread_{};
  bool control_running_ = false;
};

}  // namespace goldgate::dataplane
