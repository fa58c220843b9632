// goldgate-hostmon's control API (proto/hostmon.proto): answers from the inventory, and the Unix
// socket that serves them (mode 0600, root or one group only, as the switch's).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "goldgate/common/result.h"
#include "guest_state.h"
#include "hostmon.pb.h"
#include "inventory.h"
#include "libvirt_monitor.h"

namespace goldgate::hostmon {

/// The wire form of one record.
proto::VmRecord toProto(const VmRecord& r);

/// The wire form of a VM's guest state (src/guest_proto.cc).
proto::GuestState toProto(const GuestState& s);

/// Answers one request from the inventory; `status` is attached to every answer. GetVm adds the
/// VM's guest state from `guests` if given. An unknown VM or request gives ok=false and an error
/// text. Any thread.
proto::HostmonResponse handleRequest(const proto::HostmonRequest& req, const Inventory& inv,
                                     const MonitorStatus& status, const GuestStateStore* guests = nullptr);

/// The answer to one client, given now or later from any thread (a learning session answers
/// when it ends). Status and decorators are added to it; the connection closes after it. A
/// responder dropped without answering answers with an error.
class Responder {
 public:
  Responder(int fd, std::function<void(proto::HostmonResponse&)> finish) : fd_(fd), finish_(std::move(finish)) {}
  ~Responder();
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;
  /// Sends `resp` (once; later calls do nothing). Any thread.
  void reply(proto::HostmonResponse resp);

 private:
  std::mutex mu_;
  int fd_;
  std::function<void(proto::HostmonResponse&)> finish_;
};

/// The control socket. open() and serve() on one thread (main's).
class ControlServer {
 public:
  ControlServer(std::string path, std::string group, const Inventory& inv, std::function<MonitorStatus()> status);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  /// Creates the socket (see ipc::listenUnix). Errors: a live hostmon on the path, bind/listen
  /// failures, a missing group.
  Result<void> open();

  /// Also answer with the collectors' guest state (GetVm). Set before serving.
  void setGuestStates(const GuestStateStore* guests) { guests_ = guests; }

  /// Waits up to `timeoutMs` for a client and answers it (one request per connection).
  void serveOnce(int timeoutMs);

  /// Adds to every answer what another part of hostmon knows (e.g. the switch's bindings).
  /// Call before serving; decorators run on the serving thread, in the order added.
  void addDecorator(std::function<void(proto::HostmonResponse&)> d) { decorators_.push_back(std::move(d)); }

  /// Requests the inventory does not answer (learn, release, list_manifests) go to `h`, which
  /// answers through the responder now or later. Returns false if it does not take the request.
  using Handler = std::function<bool(const proto::HostmonRequest&, std::shared_ptr<Responder>)>;
  void setHandler(Handler h) { handler_ = std::move(h); }

 private:
  void serveClient(int fd);

  std::string path_, group_;
  const Inventory& inv_;
  std::function<MonitorStatus()> status_;
  std::vector<std::function<void(proto::HostmonResponse&)>> decorators_;
  const GuestStateStore* guests_ = nullptr;
  Handler handler_;
  int listen_fd_ = -1;
};

}  // namespace goldgate::hostmon
