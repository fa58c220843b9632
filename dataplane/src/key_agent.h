// Automatic ESP keys (goldgate.yaml `tunnel.tls`, peers with `keys: tls`). Each pair of gateways
// keeps one mutual TLS 1.3 connection (X.509 from files; the peer's certificate chains to the
// configured CA and names the peer, or matches its pinned SHA-256). The gateway with the lower
// underlay address connects; the other accepts. Over it they agree keys in epochs:
//
//   OFFER <epoch> <spi>   "for this epoch, send to me under this SPI"
//   READY <epoch>         "my inbound SA of this epoch is installed"
//
// Both derive 72 bytes from the TLS exporter (RFC 8446 §7.5, label "EXPORTER-goldgate-esp-v1",
// context = the epoch): 36 for client→server, 36 for server→client (AES-256 key + salt, as a
// static SA). Make-before-break: a side installs its new inbound SA before saying READY, and
// switches its outbound SA only on the peer's READY, so no packet is sent under a key the
// receiver does not hold; the old inbound SA stays for `grace_s`, then goes. A new epoch starts
// before `lifetime_s` or `lifetime_packets` runs out; keys whose lifetime ended without a new
// agreement are removed (the peer's flows are then blocked: tunnel_no_keys), so nothing is sealed
// or accepted under an expired key. Internal to dataplane/.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "alert.pb.h"
#include "goldgate/alerts/kinds.h"
#include "goldgate/common/result.h"
#include "goldgate/dataplane/config.h"
#include "tunnel.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace goldgate::dataplane {

class KeyAgent {
  using Clock = std::chrono::steady_clock;

 public:
  /// Loads the certificate and key, binds the listen address and starts the threads.
  /// Errors: files (with the path), permissions of the key file, the listen address.
  static Result<std::unique_ptr<KeyAgent>> start(const TunnelConfig& tc, Tunnel& tunnel);
  ~KeyAgent();

  /// Events for the alert log (peer authenticated, keys agreed, rekeyed, failures), oldest first.
  std::vector<proto::AlertEvent> takeEvents();

 private:
  struct PeerState;
  KeyAgent(const TunnelConfig& tc, Tunnel& tunnel);
  void acceptLoop();
  bool handshake(SSL* ssl, int fd, std::string* why);  // server side, within kHandshakeSeconds
  void rejected(const std::string& addr, const std::string& why);
  void reapSessions();    // joins the threads of sessions that ended
  void reportRefusals();  // one Kind::kTunnelKeyServiceLimited event at most every 10 s
  static std::string addressText(const sockaddr_storage& from);
  void connectLoop(uint32_t peer);
  void session(SSL* ssl, int fd, uint32_t peer, bool server);
  int identify(SSL* ssl) const;                  // the peer a server-side connection is from, or -1
  bool verifies(SSL* ssl, uint32_t peer) const;  // the certificate is that peer's
  void housekeeping();
  // An event about `peer`, at the kind's severity unless `severity` is given.
  void event(alerts::Kind kind, uint32_t peer, const std::string& message, std::optional<uint32_t> severity = {});

  TunnelConfig cfg_;
  Tunnel& tunnel_;
  SSL_CTX* ctx_ = nullptr;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::vector<std::unique_ptr<PeerState>> peers_;
  std::vector<std::thread> threads_;  // the accept loop and one connect loop per peer we call
  // Accepted connections: bounded in flight, their threads reaped when they end.
  static constexpr int kMaxHandshakes = 32;     // in flight from addresses of no configured peer
  static constexpr int kMaxPerSource = 4;       // in flight from one address
  static constexpr int kHandshakeSeconds = 10;  // a whole server-side handshake
  static constexpr int kRejectAlertsPerSecond = 5;
  struct Session {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::set<std::string> peer_addresses_;  // configured peers' underlay and control hosts
  std::mutex sessions_mu_;                // guards what follows
  std::list<Session> sessions_;
  std::map<std::string, int> in_flight_;  // handshakes in flight by source address
  int stranger_handshakes_ = 0;
  Clock::time_point reject_window_{};
  int rejects_in_window_ = 0;
  std::atomic<uint64_t> refused_{0}, failed_handshakes_{0};
  uint64_t refused_reported_ = 0, failed_reported_ = 0;  // accept thread only
  Clock::time_point last_refusal_report_{};
  std::mutex events_mu_;
  std::vector<proto::AlertEvent> events_;
};

}  // namespace goldgate::dataplane
