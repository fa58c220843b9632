#include "key_agent.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <sstream>

#include "goldgate/common/files.h"
#include "goldgate/crypto/sa_file.h"

namespace goldgate::dataplane {
namespace {

using Clock = std::chrono::steady_clock;
constexpr char kLabel[] = "EXPORTER-goldgate-esp-v1";
constexpr size_t kKeyLen = 36;

std::string sslError() {
  unsigned long e = ERR_get_error();
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return e ? buf : "unknown TLS error";
}

bool splitHostPort(const std::string& s, std::string* host, std::string* port) {
  auto c = s.rfind(':');
  if (c == std::string::npos) return false;
  *host = s.substr(0, c);
  *port = s.substr(c + 1);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') *host = host->substr(1, host->size() - 2);
  return !port->empty();
}

void setTimeouts(int fd, int seconds) {
  timeval tv{seconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1, idle = 10, intvl = 5, cnt = 3;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // A peer that vanishes without closing is noticed within about 25 s.
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
}

bool sendLine(SSL* ssl, const std::string& line) {
  std::string l = line + "\n";
  return SSL_write(ssl, l.data(), static_cast<int>(l.size())) == static_cast<int>(l.size());
}

}  // namespace

struct KeyAgent::PeerState {
  std::mutex mu;
  bool client = false;      // this side connects
  uint64_t connection = 0;  // sessions so far (the high half of local epochs)
  std::atomic<bool> connected{false};
  Clock::time_point keys_since{};  // when the outbound key in force was installed
  bool have_keys = false;
  Clock::time_point retire_at{};  // when older inbound keys go
  uint64_t retire_below = 0;
  SSL* live = nullptr;  // the session in force (a newer one replaces it)
};

KeyAgent::KeyAgent(const TunnelConfig& tc, Tunnel& tunnel) : cfg_(tc), tunnel_(tunnel) {}

Result<std::unique_ptr<KeyAgent>> KeyAgent::start(const TunnelConfig& tc, Tunnel& tunnel) {
  std::unique_ptr<KeyAgent> a(new KeyAgent(tc, tunnel));
  const auto& t = tc.tls;
  if (auto ok = checkPrivateFile(t.key); !ok)
    return makeError(ok.error().code, "tunnel.tls.key: " + ok.error().message);
  a->ctx_ = SSL_CTX_new(TLS_method());
  if (!a->ctx_) return makeError(Error::Code::kResource, "TLS: " + sslError());
  SSL_CTX_set_min_proto_version(a->ctx_, TLS1_3_VERSION);
  if (SSL_CTX_use_certificate_chain_file(a->ctx_, t.cert.c_str()) != 1)
    return makeError(Error::Code::kIo, "tunnel.tls.cert: " + t.cert + ": " + sslError());
  if (SSL_CTX_use_PrivateKey_file(a->ctx_, t.key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(a->ctx_) != 1)
    return makeError(Error::Code::kIo, "tunnel.tls.key: " + t.key + ": " + sslError());
  if (!t.ca.empty() && SSL_CTX_load_verify_locations(a->ctx_, t.ca.c_str(), nullptr) != 1)
    return makeError(Error::Code::kIo, "tunnel.tls.ca: " + t.ca + ": " + sslError());
  // The chain is checked when a CA is configured; a pinned peer is checked by its digest after the
  // handshake (verify() below), so a failed chain is only fatal where no pin stands in for it.
  SSL_CTX_set_verify(a->ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                     [](int, X509_STORE_CTX*) { return 1; });

  std::string host, port;
  if (!splitHostPort(t.listen, &host, &port))
    return makeError(Error::Code::kInvalidArgument, "tunnel.tls.listen: expected address:port");
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
  if (getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res) != 0 || !res)
    return makeError(Error::Code::kInvalidArgument, "tunnel.tls.listen: cannot use '" + t.listen + "'");
  a->listen_fd_ = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(a->listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (a->listen_fd_ < 0 || ::bind(a->listen_fd_, res->ai_addr, res->ai_addrlen) != 0 ||
      ::listen(a->listen_fd_, 16) != 0) {
    std::string why = std::strerror(errno);
    freeaddrinfo(res);
    return makeError(Error::Code::kResource, "tunnel.tls.listen: " + t.listen + ": " + why);
  }
  freeaddrinfo(res);

  for (uint32_t i = 0; i < tc.peers.size(); ++i) {
    auto ps = std::make_unique<PeerState>();
    const PeerConfig& pc = tc.peers[i];
    if (pc.keys == PeerConfig::Keys::kTls) {
      const uint8_t* own = pc.underlay.family == 4 ? tc.ipv4->addr.bytes.data() : tc.ipv6->addr.bytes.data();
      ps->client = std::memcmp(own, pc.underlay.bytes.data(), pc.underlay.family == 4 ? 4 : 16) < 0;
    }
    a->peers_.push_back(std::move(ps));
  }
  for (const auto& pc : tc.peers) {
    if (pc.keys != PeerConfig::Keys::kTls) continue;
    char u[INET6_ADDRSTRLEN] = "";
    inet_ntop(pc.underlay.family == 4 ? AF_INET : AF_INET6, pc.underlay.bytes.data(), u, sizeof u);
    a->peer_addresses_.insert(u);
    std::string host, port;
    if (splitHostPort(pc.control, &host, &port)) a->peer_addresses_.insert(host);
  }
  a->threads_.emplace_back([p = a.get()] { p->acceptLoop(); });
  for (uint32_t i = 0; i < tc.peers.size(); ++i)
    if (tc.peers[i].keys == PeerConfig::Keys::kTls && a->peers_[i]->client)
      a->threads_.emplace_back([p = a.get(), i] { p->connectLoop(i); });
  return a;
}

KeyAgent::~KeyAgent() {
  stop_.store(true);
  if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
  for (auto& t : threads_) t.join();
  {
    std::lock_guard<std::mutex> g(sessions_mu_);
    for (auto& t : sessions_) t.thread.join();
  }
  if (listen_fd_ >= 0) ::close(listen_fd_);
  SSL_CTX_free(ctx_);
}

std::vector<proto::AlertEvent> KeyAgent::takeEvents() {
  std::lock_guard<std::mutex> g(events_mu_);
  return std::exchange(events_, {});
}

void KeyAgent::event(alerts::Kind kind, uint32_t peer, const std::string& message, std::optional<uint32_t> severity) {
  proto::AlertEvent ev;
  alerts::setKind(ev, kind);
  if (severity) ev.set_severity(*severity);
  ev.set_port(cfg_.peers[peer].name);
  ev.set_rule("tunnel-keys");
  ev.set_action(kind == alerts::Kind::kTunnelKeysExpired || kind == alerts::Kind::kTunnelPeerRejected ? "block"
                                                                                                      : "log");
  ev.set_message("peer '" + cfg_.peers[peer].name + "': " + message);
  std::lock_guard<std::mutex> g(events_mu_);
  events_.push_back(std::move(ev));
}

bool KeyAgent::verifies(SSL* ssl, uint32_t peer) const {
  const PeerConfig& pc = cfg_.peers[peer];
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (!cert) return false;
  bool ok = false;
  if (!pc.pin.empty()) {
    unsigned char md[32];
    unsigned int n = 0;
    X509_digest(cert, EVP_sha256(), md, &n);
    char hex[65];
    for (unsigned i = 0; i < 32; ++i) std::snprintf(hex + 2 * i, 3, "%02x", md[i]);
    std::string want = pc.pin;
    for (auto& ch : want) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    ok = CRYPTO_memcmp(hex, want.data(), 64) == 0;
  } else {
    ok = !cfg_.tls.ca.empty() && SSL_get_verify_result(ssl) == X509_V_OK &&
         X509_check_host(cert, pc.name.c_str(), pc.name.size(), 0, nullptr) == 1;
  }
  X509_free(cert);
  return ok;
}

int KeyAgent::identify(SSL* ssl) const {
  for (uint32_t i = 0; i < cfg_.peers.size(); ++i)
    if (cfg_.peers[i].keys == PeerConfig::Keys::kTls && !peers_[i]->client && verifies(ssl, i))
      return static_cast<int>(i);
  return -1;
}

std::string KeyAgent::addressText(const sockaddr_storage& from) {
  char addr[INET6_ADDRSTRLEN] = "?";
  if (from.ss_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&from)->sin_addr, addr, sizeof addr);
  if (from.ss_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&from)->sin6_addr, addr, sizeof addr);
  return addr;
}

void KeyAgent::reapSessions() {
  std::lock_guard<std::mutex> g(sessions_mu_);
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (it->done->load()) {
      it->thread.join();
      it = sessions_.erase(it);
    } else {
      ++it;
    }
  }
}

void KeyAgent::reportRefusals() {
  const auto now = Clock::now();
  const uint64_t refused = refused_.load(), failed = failed_handshakes_.load();
  if ((refused == refused_reported_ && failed == failed_reported_) ||
      now - last_refusal_report_ < std::chrono::seconds(10))
    return;
  last_refusal_report_ = now;
  proto::AlertEvent ev;
  alerts::setKind(ev, alerts::Kind::kTunnelKeyServiceLimited);
  ev.set_action("block");
  ev.set_rule("tunnel-keys");
  ev.set_count(refused - refused_reported_ + failed - failed_reported_);
  ev.set_message(
      "key service: " + std::to_string(refused - refused_reported_) + " connection(s) refused (more than " +
      std::to_string(kMaxHandshakes) + " handshakes in flight, or " + std::to_string(kMaxPerSource) +
      " from one address), " + std::to_string(failed - failed_reported_) +
      " failed handshake(s) not alerted one by one, in the last period; configured peers keep their own slots");
  refused_reported_ = refused;
  failed_reported_ = failed;
  std::lock_guard<std::mutex> eg(events_mu_);
  events_.push_back(std::move(ev));
}

void KeyAgent::acceptLoop() {
  while (!stop_.load()) {
    housekeeping();
    reapSessions();
    reportRefusals();
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    sockaddr_storage from{};
    socklen_t fl = sizeof from;
    int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&from), &fl, SOCK_CLOEXEC);
    if (fd < 0) continue;
    const std::string addr = addressText(from);
    // Bounded: at most kMaxPerSource handshakes in flight from one address, and kMaxHandshakes
    // from addresses that are no configured peer's (a peer's own address keeps its slots however
    // many strangers connect). Over a bound the connection is closed at once and counted.
    const bool peerAddress = peer_addresses_.count(addr) != 0;
    {
      std::lock_guard<std::mutex> g(sessions_mu_);
      int& mine = in_flight_[addr];
      if (mine >= kMaxPerSource || (!peerAddress && stranger_handshakes_ >= kMaxHandshakes)) {
        if (mine == 0) in_flight_.erase(addr);
        refused_.fetch_add(1);
        ::close(fd);
        continue;
      }
      ++mine;
      if (!peerAddress) ++stranger_handshakes_;
    }
    setTimeouts(fd, 5);
    auto done = std::make_shared<std::atomic<bool>>(false);
    // The handshake runs in the connection's own thread: a slow or hostile client cannot hold up
    // the accept loop (nor the housekeeping it does). The thread is joined once it has ended.
    auto handshakeOver = [this, addr, peerAddress] {
      std::lock_guard<std::mutex> g(sessions_mu_);
      if (--in_flight_[addr] <= 0) in_flight_.erase(addr);
      if (!peerAddress) --stranger_handshakes_;
    };
    try {
      std::lock_guard<std::mutex> g(sessions_mu_);
      sessions_.push_back(Session{
          std::thread([this, fd, addr, done, handshakeOver] {
            SSL* ssl = SSL_new(ctx_);
            SSL_set_fd(ssl, fd);
            std::string why;
            int peer = handshake(ssl, fd, &why) ? identify(ssl) : -2;
            handshakeOver();
            if (peer < 0) {
              rejected(addr, peer == -2 ? " failed the TLS handshake: " + why
                                        : " presented a certificate of no configured peer (not from the CA for a "
                                          "peer's name, nor a pinned one)");
              SSL_free(ssl);
              ::close(fd);
            } else {
              session(ssl, fd, static_cast<uint32_t>(peer), true);
            }
            done->store(true);
          }),
          done});
    } catch (const std::system_error&) {
      // No thread to be had: the connection is refused, the switch goes on.
      handshakeOver();
      refused_.fetch_add(1);
      ::close(fd);
    }
  }
}

bool KeyAgent::handshake(SSL* ssl, int fd, std::string* why) {
  // Non-blocking, with one deadline for the whole handshake: a client that sends a byte every few
  // seconds cannot keep a handshake (and its thread) alive longer than kHandshakeSeconds.
  const int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  const auto deadline = Clock::now() + std::chrono::seconds(kHandshakeSeconds);
  bool ok = false;
  for (;;) {
    const int r = SSL_accept(ssl);
    if (r == 1) {
      ok = true;
      break;
    }
    const int e = SSL_get_error(ssl, r);
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) || left <= 0 || stop_.load()) {
      *why = left <= 0 ? "not completed within " + std::to_string(kHandshakeSeconds) + " s" : sslError();
      break;
    }
    pollfd p{fd, static_cast<short>(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
    ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 200)));
  }
  ::fcntl(fd, F_SETFL, flags);
  return ok;
}

void KeyAgent::rejected(const std::string& addr, const std::string& why) {
  // One alert a connection up to a few a second; a flood is summed in tunnel.key_service_limited.
  const auto now = Clock::now();
  {
    std::lock_guard<std::mutex> g(sessions_mu_);
    if (now - reject_window_ > std::chrono::seconds(1)) {
      reject_window_ = now;
      rejects_in_window_ = 0;
    }
    if (++rejects_in_window_ > kRejectAlertsPerSecond) {
      failed_handshakes_.fetch_add(1);
      return;
    }
  }
  proto::AlertEvent ev;
  alerts::setKind(ev, alerts::Kind::kTunnelPeerRejected);
  ev.set_action("block");
  ev.set_rule("tunnel-keys");
  ev.set_message("key service: a connection from " + addr + why);
  std::lock_guard<std::mutex> eg(events_mu_);
  events_.push_back(std::move(ev));
}

void KeyAgent::connectLoop(uint32_t peer) {
  const PeerConfig& pc = cfg_.peers[peer];
  int backoff = 1;
  while (!stop_.load()) {
    std::string host, port;
    splitHostPort(pc.control, &host, &port);
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    int fd = -1;
    if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) == 0 && res) {
      fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
      setTimeouts(fd, 5);
      if (fd >= 0 && ::connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        ::close(fd);
        fd = -1;
      }
      freeaddrinfo(res);
    }
    if (fd >= 0) {
      SSL* ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, fd);
      const bool shook = SSL_connect(ssl) == 1;
      if (shook && verifies(ssl, peer)) {
        backoff = 1;
        session(ssl, fd, peer, false);
      } else {
        event(alerts::Kind::kTunnelPeerRejected, peer,
              "its key service at " + pc.control + " did not prove to be this peer (" +
                  (shook ? std::string(pc.pin.empty() ? "its certificate is not from the CA for this name"
                                                      : "its certificate is not the pinned one")
                         : "TLS handshake failed: " + sslError()) +
                  ")");
        SSL_free(ssl);
        ::close(fd);
      }
    }
    // Back off 1, 2, 4 … 10 s between attempts, in small steps so a stop is prompt.
    for (int i = 0; i < backoff * 10 && !stop_.load(); ++i) {
      housekeeping();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    backoff = std::min(backoff * 2, 10);
  }
}

void KeyAgent::housekeeping() {
  const auto now = Clock::now();
  for (uint32_t i = 0; i < peers_.size(); ++i) {
    PeerState& ps = *peers_[i];
    if (cfg_.peers[i].keys != PeerConfig::Keys::kTls) continue;
    std::lock_guard<std::mutex> g(ps.mu);
    if (ps.retire_below && now >= ps.retire_at) {
      tunnel_.retire(i, ps.retire_below, false);
      ps.retire_below = 0;
    }
    // Keys past their lifetime (plus the grace a rekey gets) without a new agreement: removed.
    const auto hard = std::chrono::seconds(cfg_.tls.lifetime_s + cfg_.tls.grace_s);
    const uint64_t packets = tunnel_.outboundOf(i).seq;
    if (ps.have_keys &&
        (now - ps.keys_since > hard || packets > cfg_.tls.lifetime_packets + cfg_.tls.lifetime_packets / 8)) {
      tunnel_.retire(i, UINT64_MAX, true);
      ps.have_keys = false;
      ps.retire_below = 0;
      event(alerts::Kind::kTunnelKeysExpired, i,
            "keys expired without a new agreement: its flows are blocked until the peer is back");
    }
  }
}

void KeyAgent::session(SSL* ssl, int fd, uint32_t peer, bool server) {
  PeerState& ps = *peers_[peer];
  uint64_t conn;
  {
    std::lock_guard<std::mutex> g(ps.mu);
    conn = ++ps.connection;
    ps.live = ssl;  // a newer session replaces the old one, which notices and ends
  }
  ps.connected.store(true);
  event(alerts::Kind::kTunnelPeerConnected, peer,
        std::string("key service connected (mutual TLS 1.3, ") + (server ? "accepted" : "connecting side") + ")");
  auto local = [conn](uint64_t e) { return (conn << 32) | e; };
  std::map<uint64_t, uint32_t> mine, theirs;  // epoch -> SPI
  uint64_t current = 0;                       // the epoch our outbound SA is in
  auto derive = [&](uint64_t e, uint8_t* in, uint8_t* out) {
    uint8_t ctxt[8], k[2 * kKeyLen];
    for (int b = 0; b < 8; ++b) ctxt[b] = static_cast<uint8_t>(e >> (56 - 8 * b));
    if (SSL_export_keying_material(ssl, k, sizeof k, kLabel, sizeof kLabel - 1, ctxt, sizeof ctxt, 1) != 1)
      return false;
    // Bytes 0-35 seal client -> server, 36-71 server -> client.
    std::memcpy(in, k + (server ? 0 : kKeyLen), kKeyLen);
    std::memcpy(out, k + (server ? kKeyLen : 0), kKeyLen);
    OPENSSL_cleanse(k, sizeof k);
    return true;
  };
  auto offer = [&](uint64_t e) {
    if (mine.count(e)) return true;
    mine[e] = tunnel_.freshSpi();
    return sendLine(ssl, "OFFER " + std::to_string(e) + " " + std::to_string(mine[e]));
  };
  bool ok = offer(1);
  std::string buf;
  std::map<uint64_t, bool> installed;  // epochs whose inbound SA is in place
  while (ok && !stop_.load()) {
    {
      std::lock_guard<std::mutex> g(ps.mu);
      if (ps.live != ssl) break;  // replaced
    }
    // Rekey before the lifetime runs out: a few seconds early, or at a fifth of it when short.
    if (current) {
      std::lock_guard<std::mutex> g(ps.mu);
      const auto age = Clock::now() - ps.keys_since;
      const auto margin = std::chrono::seconds(std::max<uint32_t>(1, std::min<uint32_t>(cfg_.tls.lifetime_s / 5, 30)));
      const bool due = age > std::chrono::seconds(cfg_.tls.lifetime_s) - margin ||
                       tunnel_.outboundOf(peer).seq > cfg_.tls.lifetime_packets;
      if (due && !mine.count(current + 1)) ok = offer(current + 1);
    }
    pollfd p{fd, POLLIN, 0};
    if (SSL_pending(ssl) == 0 && ::poll(&p, 1, 100) <= 0) continue;
    char chunk[512];
    int n = SSL_read(ssl, chunk, sizeof chunk);
    if (n <= 0) {
      int e = SSL_get_error(ssl, n);
      if (e == SSL_ERROR_WANT_READ) continue;
      break;
    }
    buf.append(chunk, static_cast<size_t>(n));
    if (buf.size() > 4096) break;  // no message is this long
    size_t nl;
    while (ok && (nl = buf.find('\n')) != std::string::npos) {
      std::istringstream line(buf.substr(0, nl));
      buf.erase(0, nl + 1);
      std::string verb;
      uint64_t e = 0, spi = 0;
      line >> verb >> e;
      if (verb == "OFFER" && (line >> spi) && e > 0 && e < (1ull << 32) && spi >= 256 && spi <= UINT32_MAX) {
        theirs[e] = static_cast<uint32_t>(spi);
        ok = offer(e);
        uint8_t in[kKeyLen], out[kKeyLen];
        if (ok && installed.count(e)) {
          // a repeated offer: already in place
        } else if (ok && derive(e, in, out)) {
          if (!tunnel_.addInbound(peer, mine[e], in, true, local(e))) {
            // 7, not the kind's 6: the fault is this side's (no slot for new keys), and a rekey that
            // cannot finish ends in expired keys.
            event(alerts::Kind::kTunnelKeyProtocol, peer,
                  "no free inbound SA slot for epoch " + std::to_string(e) + "; reconnecting", 7);
            ok = false;
          } else {
            ok = sendLine(ssl, "READY " + std::to_string(e));
            installed[e] = true;
          }
        } else {
          ok = false;
        }
        OPENSSL_cleanse(in, sizeof in);
        OPENSSL_cleanse(out, sizeof out);
      } else if (verb == "READY" && theirs.count(e) && mine.count(e) && e > current) {
        uint8_t in[kKeyLen], out[kKeyLen];
        ok = derive(e, in, out) && tunnel_.setOutbound(peer, theirs[e], out, true, local(e)).has_value();
        OPENSSL_cleanse(in, sizeof in);
        OPENSSL_cleanse(out, sizeof out);
        if (ok) {
          std::lock_guard<std::mutex> g(ps.mu);
          const bool first = !ps.have_keys;
          ps.have_keys = true;
          ps.keys_since = Clock::now();
          ps.retire_below = local(e);
          ps.retire_at = Clock::now() + std::chrono::seconds(cfg_.tls.grace_s);
          current = e;
          event(first ? alerts::Kind::kTunnelKeysAgreed : alerts::Kind::kTunnelRekeyed, peer,
                "epoch " + std::to_string(e) + ": sealing under SPI " + std::to_string(theirs[e]) +
                    ", opening under SPI " + std::to_string(mine[e]));
          mine.erase(mine.begin(), mine.lower_bound(e));
          theirs.erase(theirs.begin(), theirs.lower_bound(e));
          installed.erase(installed.begin(), installed.lower_bound(e));
        }
      } else {
        event(alerts::Kind::kTunnelKeyProtocol, peer, "unexpected message from the peer's key service; reconnecting");
        ok = false;
      }
    }
  }
  {
    std::lock_guard<std::mutex> g(ps.mu);
    if (ps.live == ssl) ps.live = nullptr;
  }
  ps.connected.store(false);
  if (!stop_.load())
    event(alerts::Kind::kTunnelPeerDisconnected, peer,
          "key service connection lost; keys stay until their lifetime ends");
  SSL_free(ssl);
  ::close(fd);
}

}  // namespace goldgate::dataplane
