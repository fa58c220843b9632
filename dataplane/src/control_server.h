// The switch's control socket: clients admitted by their credentials, one request each, and the
// clients that follow the alert stream (`goldgatectl alerts --follow`). The requests themselves
// are answered by a handler (SwitchImpl::handle, control.cc). Internal to dataplane/; owned by
// SwitchImpl, served on the control thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "alert.pb.h"
#include "control.pb.h"
#include "goldgate/alerts/format.h"
#include "goldgate/common/result.h"

namespace goldgate::dataplane {

class ControlServer {
 public:
  /// Answers one request (every command but follow).
  using Handler = std::function<proto::Response(const proto::Request&)>;

  /// The socket at `path`, open to root and the members of `group` (empty: root only).
  /// `configFile` is named in configuration errors.
  ControlServer(std::string path, std::string group, std::string configFile, Handler handler);
  /// close().
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  /// Creates the socket (see ipc::listenUnix). Errors: another switch live on the path,
  /// bind/listen failures, a group that does not exist (`file: control.group …`). Main thread.
  Result<void> open();

  /// Waits up to `timeoutMs` for a client and serves it; then lets go of the followers that hung
  /// up. A refused peer is answered "permission denied". Control thread.
  void serveOnce(int timeoutMs);

  /// Sends `ev` to every follower in its format. One that cannot take it at once is disconnected
  /// (the alert file still has the event). Control thread.
  void publish(const proto::AlertEvent& ev);

  /// Disconnects every follower. Control thread, as it ends.
  void closeFollowers();

  /// Closes the socket and removes its file, once. Main thread, after the control thread.
  void close();

  /// Followers connected now.
  size_t followers() const { return followers_.size(); }
  /// Followers disconnected because they did not keep up.
  uint64_t followersDropped() const { return followers_dropped_; }

 private:
  // Returns true when the connection was kept open as an alert follower.
  bool serveClient(int fd);

  struct Follower {
    int fd;
    alerts::Format format;
  };
  std::string path_, group_, config_file_;
  Handler handler_;
  int listen_fd_ = -1;
  std::vector<Follower> followers_;
  uint64_t followers_dropped_ = 0;
};

}  // namespace goldgate::dataplane
