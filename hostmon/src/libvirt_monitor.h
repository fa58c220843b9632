// Keeps an Inventory equal to what libvirt knows: a full resync on every (re)connect, domain
// events in between, and reconnection with exponential back-off when libvirtd goes away.
#pragma once

#include <libvirt/libvirt.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "goldgate/common/result.h"
#include "inventory.h"

namespace goldgate::hostmon {

struct MonitorOptions {
  std::string uri = "qemu:///system";
  bool readonly = false;
  uint32_t reconnect_min_ms = 500;              // first wait after a failed connect or a lost connection
  uint32_t reconnect_max_ms = 30000;            // the wait doubles up to this
  int keepalive_interval_s = 5;                 // libvirt keepalive: probe every N s …
  unsigned keepalive_count = 3;                 // … and give up after this many unanswered probes
  std::function<void(const std::string&)> log;  // connection news (connected, lost, retrying); may be empty
};

/// Connection facts for status output.
struct MonitorStatus {
  std::string uri;
  bool connected = false;
  uint64_t connects = 0;     // successful connects, the first included
  uint64_t disconnects = 0;  // connections lost (or dropped by forceReconnect)
  uint64_t events = 0;       // domain events received
  std::string last_error;    // why the last connect failed or the connection was lost
};

/// One per process: it registers libvirt's default event loop and runs it on its own thread.
/// Threads: the event-loop thread runs libvirt's callbacks, which only queue work; the monitor
/// thread connects, resyncs and turns queued events into inventory changes. Public methods may
/// be called from any thread.
class LibvirtMonitor {
 public:
  LibvirtMonitor(MonitorOptions opts, Inventory& inventory);
  ~LibvirtMonitor();
  LibvirtMonitor(const LibvirtMonitor&) = delete;
  LibvirtMonitor& operator=(const LibvirtMonitor&) = delete;

  /// Registers the event loop (once per process), starts both threads and makes the first connect
  /// attempt. Returns once that attempt is over, or after `waitMs` (negative: no limit): ok if it
  /// connected and resynced; otherwise the error, or "still connecting" if the attempt has not
  /// finished (a hung libvirtd blocks virConnectOpen). Either way the monitor keeps trying, with
  /// back-off, until stop(). Call once.
  Result<void> start(int waitMs = -1);

  /// Stops both threads and closes the connection. Waits up to `timeoutMs` (negative: no limit)
  /// for the monitor thread, which may be blocked in a libvirt call to a hung libvirtd; returns
  /// false if it still is (the threads keep running: the caller should then end the process
  /// rather than destroy the monitor). Idempotent.
  bool stop(int timeoutMs = -1);

  /// Drops the connection as if libvirtd had gone away; the monitor reconnects and reconciles.
  void forceReconnect();

  /// Blocks until the monitor is connected and has processed every event queued before this call,
  /// or `timeoutMs` passes. Returns whether it is connected and idle.
  bool waitIdle(int timeoutMs);

  /// The monitor's connection with an extra reference (release it with virConnectClose), or
  /// nullptr while disconnected. Tests drive the test:///default driver through it, whose state
  /// is private to each connection.
  virConnectPtr connection();

  MonitorStatus status() const;

 private:
  struct Work {
    enum Kind { kRefresh, kLifecycle, kReboot, kAgent } kind;
    std::string uuid;
    int event = 0;
    int detail = 0;
  };

  void eventLoop();
  void monitorLoop();
  Result<void> connect();
  void disconnect(const std::string& why);
  Result<void> resync();
  void process(const Work& w);
  void refresh(const std::string& uuid);
  void enqueue(Work w);

  static void onLifecycle(virConnectPtr, virDomainPtr, int event, int detail, void* opaque);
  static void onDeviceAdded(virConnectPtr, virDomainPtr, const char* alias, void* opaque);
  static void onDeviceRemoved(virConnectPtr, virDomainPtr, const char* alias, void* opaque);
  static void onReboot(virConnectPtr, virDomainPtr, void* opaque);
  static void onAgent(virConnectPtr, virDomainPtr, int state, int reason, void* opaque);
  static void onClose(virConnectPtr, int reason, void* opaque);
  static void onWake(int timer, void* opaque);

  MonitorOptions opts_;
  Inventory& inv_;
  std::thread loop_thread_, monitor_thread_;
  std::atomic<bool> stop_{false};
  int wake_timer_ = -1;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  virConnectPtr conn_ = nullptr;  // owned by the monitor thread; guarded by mu_ for readers
  std::vector<int> callback_ids_;
  std::deque<Work> queue_;
  bool lost_ = false;          // the close callback fired or forceReconnect was called
  bool busy_ = false;          // the monitor thread is processing work taken off the queue
  bool first_done_ = false;    // the first connect attempt is over
  bool monitor_done_ = false;  // the monitor thread has left its loop
  Result<void> first_result_;
  MonitorStatus status_;
};

}  // namespace goldgate::hostmon
