// Syslog transports. Delivery confirmation for the byte streams: a record counts as held by the
// receiver once every byte of it (as written to the socket, TLS records included) has been
// acknowledged by the receiver's TCP, i.e. left our send queue (SIOCOUTQ). Records not yet
// acknowledged when the connection fails are sent again on the next connection.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <vector>

#include "connections.h"

namespace goldgate::alerts {

namespace {

std::string sslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += out.empty() ? "" : "; ";
    out += buf;
  }
  return out.empty() ? "unknown TLS error" : out;
}

class SyslogConnection final : public Connection {
 public:
  SyslogConnection(const SinkConfig& cfg, std::string host, std::string port, SSL_CTX* ctx)
      : cfg_(cfg), host_(std::move(host)), port_(std::move(port)), ctx_(ctx) {}
  ~SyslogConnection() override {
    close();
    if (ctx_) SSL_CTX_free(ctx_);
  }

  Result<void> open() override {
    close();
    addrinfo hints{};
    hints.ai_socktype = cfg_.transport == Transport::kUdp ? SOCK_DGRAM : SOCK_STREAM;
    addrinfo* res = nullptr;
    if (int rc = getaddrinfo(host_.c_str(), port_.c_str(), &hints, &res); rc != 0)
      return makeError(Error::Code::kNotFound, "cannot resolve " + host_ + ": " + gai_strerror(rc));
    std::string lastError = "no address";
    for (addrinfo* ai = res; ai && fd_ < 0; ai = ai->ai_next) {
      int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
      if (fd < 0) continue;
      int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
      if (rc != 0 && errno == EINPROGRESS) {
        pollfd pfd{fd, POLLOUT, 0};
        rc = ::poll(&pfd, 1, 3000);
        int err = 0;
        socklen_t len = sizeof err;
        if (rc == 1) getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        else err = ETIMEDOUT;
        rc = err ? -1 : 0;
        errno = err;
      }
      if (rc != 0) {
        lastError = std::string("connect: ") + std::strerror(errno);
        ::close(fd);
        continue;
      }
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
      timeval tv{5, 0};
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      if (cfg_.transport != Transport::kUdp) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      }
      fd_ = fd;
    }
    freeaddrinfo(res);
    if (fd_ < 0) return makeError(Error::Code::kIo, cfg_.address + ": " + lastError);
    if (cfg_.transport == Transport::kTls) {
      if (auto r = handshake(); !r) {
        close();
        return r;
      }
    }
    return {};
  }

  void close() override {
    if (ssl_) {
      SSL_free(ssl_);
      ssl_ = nullptr;
    }
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    inflight_.clear();
    pending_.clear();
    out_.clear();
    raw_written_ = 0;
    last_sent_ = 0;
    udp_checked_ = 0;
  }

  // Stream records are gathered and written in batches (one TLS record or send(2) for many
  // events); datagrams go one by one.
  Result<void> send(const Spool::Record& rec) override {
    last_sent_ = rec.seq;
    if (cfg_.transport == Transport::kUdp) {
      for (;;) {
        ssize_t w = ::send(fd_, rec.payload.data(), rec.payload.size(), MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return makeError(Error::Code::kIo, std::string("send: ") + std::strerror(errno));
        return {};
      }
    }
    out_ += std::to_string(rec.payload.size());  // RFC 6587 octet counting
    out_ += ' ';
    out_ += rec.payload;
    pending_.push_back(rec.seq);
    if (out_.size() >= kBatchBytes) return flush();
    return {};
  }

  Result<void> flush() {
    if (out_.empty()) return {};
    if (ssl_) {
      ERR_clear_error();
      size_t written = 0;
      int rc = SSL_write_ex(ssl_, out_.data(), out_.size(), &written);
      if (rc != 1 || written != out_.size()) return makeError(Error::Code::kIo, "TLS write: " + sslErrors());
      raw_written_ = BIO_number_written(SSL_get_wbio(ssl_));
    } else {
      const char* p = out_.data();
      size_t n = out_.size();
      while (n > 0) {
        ssize_t w = ::send(fd_, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return makeError(Error::Code::kIo, std::string("send: ") + std::strerror(errno));
        p += w;
        n -= static_cast<size_t>(w);
      }
      raw_written_ += out_.size();
    }
    // A record counts as held once the receiver acknowledged the end of the batch it went in.
    for (uint64_t seq : pending_) inflight_.push_back({seq, raw_written_});
    pending_.clear();
    out_.clear();
    return {};
  }

  Result<uint64_t> confirmed() override {
    if (fd_ < 0) return uint64_t{0};
    if (auto r = flush(); !r) return r.error();
    pollfd pfd{fd_, POLLRDHUP, 0};
    if (::poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLERR | POLLHUP | POLLRDHUP))) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      return makeError(Error::Code::kIo, err ? std::string("connection failed: ") + std::strerror(err)
                                             : std::string("connection closed by the receiver"));
    }
    if (cfg_.transport == Transport::kUdp) {
      // A datagram counts as delivered once a later check saw no ICMP error (port unreachable)
      // for the socket; on loopback that error arrives at once.
      uint64_t c = udp_checked_;
      udp_checked_ = last_sent_;
      return c;
    }
    int unsent = 0;
    if (ioctl(fd_, SIOCOUTQ, &unsent) != 0) unsent = 0;
    uint64_t acked = raw_written_ - std::min<uint64_t>(raw_written_, static_cast<uint64_t>(unsent));
    while (!inflight_.empty() && inflight_.front().second <= acked) {
      confirmed_seq_ = inflight_.front().first;
      inflight_.pop_front();
    }
    return confirmed_seq_;
  }

  bool idle() override {
    if (cfg_.transport == Transport::kUdp) return udp_checked_ == last_sent_;
    return inflight_.empty() && pending_.empty();
  }

 private:
  Result<void> handshake() {
    ssl_ = SSL_new(ctx_);
    if (!ssl_) return makeError(Error::Code::kResource, "TLS: " + sslErrors());
    SSL_set_fd(ssl_, fd_);
    const std::string& name = cfg_.tls.server_name.empty() ? host_ : cfg_.tls.server_name;
    in6_addr tmp{};
    bool isIp = inet_pton(AF_INET, name.c_str(), &tmp) == 1 || inet_pton(AF_INET6, name.c_str(), &tmp) == 1;
    if (isIp) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), name.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl_, name.c_str());
      SSL_set1_host(ssl_, name.c_str());
    }
    ERR_clear_error();
    if (SSL_connect(ssl_) != 1) {
      long v = SSL_get_verify_result(ssl_);
      std::string why =
          v != X509_V_OK ? std::string("certificate verify failed: ") + X509_verify_cert_error_string(v) : sslErrors();
      return makeError(Error::Code::kPermission, "TLS handshake with " + cfg_.address + " refused: " + why);
    }
    raw_written_ = BIO_number_written(SSL_get_wbio(ssl_));
    return {};
  }

  const SinkConfig& cfg_;
  std::string host_, port_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  uint64_t raw_written_ = 0;
  static constexpr size_t kBatchBytes = 64 * 1024;
  std::string out_;                                     // framed records not yet written
  std::vector<uint64_t> pending_;                       // their sequences
  std::deque<std::pair<uint64_t, uint64_t>> inflight_;  // (sequence, raw byte count at its end)
  uint64_t confirmed_seq_ = 0;
  uint64_t last_sent_ = 0;
  uint64_t udp_checked_ = 0;
};

}  // namespace

Result<std::unique_ptr<Connection>> makeSyslogConnection(const SinkConfig& cfg) {
  auto hp = splitHostPort(cfg.address);
  if (!hp) return hp.error();
  SSL_CTX* ctx = nullptr;
  if (cfg.transport == Transport::kTls) {
    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) return makeError(Error::Code::kResource, "TLS: " + sslErrors());
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    auto bad = [&](const std::string& what) -> Result<std::unique_ptr<Connection>> {
      std::string e = what + ": " + sslErrors();
      SSL_CTX_free(ctx);
      return makeError(Error::Code::kInvalidArgument, e);
    };
    if (cfg.tls.ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx) != 1
                                : SSL_CTX_load_verify_locations(ctx, cfg.tls.ca_file.c_str(), nullptr) != 1)
      return bad("tls.ca " + (cfg.tls.ca_file.empty() ? std::string("(system store)") : cfg.tls.ca_file));
    if (!cfg.tls.cert_file.empty()) {
      if (SSL_CTX_use_certificate_chain_file(ctx, cfg.tls.cert_file.c_str()) != 1)
        return bad("tls.cert " + cfg.tls.cert_file);
      if (SSL_CTX_use_PrivateKey_file(ctx, cfg.tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
        return bad("tls.key " + cfg.tls.key_file);
      if (SSL_CTX_check_private_key(ctx) != 1) return bad("tls.key " + cfg.tls.key_file + " does not match tls.cert");
    }
  }
  return std::unique_ptr<Connection>(new SyslogConnection(cfg, hp->first, hp->second, ctx));
}

}  // namespace goldgate::alerts
