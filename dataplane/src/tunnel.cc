#include "tunnel.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <chrono>
#include <cstring>
#include <sstream>

#include "goldgate/common/files.h"

namespace goldgate::dataplane {
namespace {

// Two lines per static SA: far more than 32 peers need.
constexpr size_t kMaxSequenceFileBytes = 1u << 20;

// The first 8 bytes of SHA-256 of the 36 bytes of key material: names a key, gives nothing away.
uint64_t fingerprintOf(const uint8_t* key36) {
  unsigned char md[32];
  unsigned int n = 0;
  EVP_Digest(key36, 36, md, &n, EVP_sha256(), nullptr);
  uint64_t f = 0;
  for (int i = 0; i < 8; ++i) f = (f << 8) | md[i];
  return f;
}

}  // namespace

Result<std::vector<std::unique_ptr<crypto::Gcm256>>> Tunnel::ciphers(const uint8_t* key32) const {
  std::vector<std::unique_ptr<crypto::Gcm256>> out;
  for (uint32_t w = 0; w < workers_; ++w) {
    auto g = crypto::makeGcm256(key32, engine_);
    if (!g) return g.error();
    out.push_back(std::move(g).value());
  }
  return out;
}

Result<std::unique_ptr<Tunnel>> Tunnel::create(const SwitchConfig& sw, const std::vector<crypto::StaticSa>& sas,
                                               uint32_t workers, uint16_t uplinkPort, uint64_t uplinkMac,
                                               uint16_t firstPort, std::function<void()> synchronize) {
  const TunnelConfig& tc = sw.tunnel;
  auto t = std::unique_ptr<Tunnel>(new Tunnel());
  t->cfg_ = tc;
  t->uplink_ = uplinkPort;
  t->workers_ = workers;
  t->synchronize_ = std::move(synchronize);
  t->underlay_mac_ = tc.underlay_mac ? tc.underlay_mac->toU64() : uplinkMac;
  if (!crypto::parseAeadEngine(tc.aead, &t->engine_))
    return makeError(Error::Code::kInvalidArgument, sw.source_file + ": tunnel.aead: unknown engine '" + tc.aead + "'");
  if (t->engine_ == crypto::AeadEngine::kAuto) t->engine_ = crypto::bestAeadEngine();

  for (uint32_t i = 0; i < tc.peers.size(); ++i) {
    const PeerConfig& pc = tc.peers[i];
    auto p = std::make_unique<TunnelPeer>();
    p->port = static_cast<uint16_t>(firstPort + i);
    p->family = pc.underlay.family;
    std::memcpy(p->remote, pc.underlay.bytes.data(), 16);
    // On-link peers are resolved directly; others through the family's gateway.
    const IfAddr& own = pc.underlay.family == 4 ? *tc.ipv4 : *tc.ipv6;
    const Cidr link{own.addr, own.length};  // contains() compares the prefix bits only
    const int bytes = pc.underlay.family == 4 ? 4 : 16;
    if (link.contains(pc.underlay)) {
      std::memcpy(p->next_hop, pc.underlay.bytes.data(), 16);
    } else {
      const auto& gw = pc.underlay.family == 4 ? tc.gateway4 : tc.gateway6;
      if (!gw)
        return makeError(Error::Code::kInvalidArgument,
                         pc.loc.str() + ": peer '" + pc.name + "' (" + pc.underlay.toString() +
                             ") is not on the underlay link and no gateway" + (bytes == 4 ? "4" : "6") + " is set");
      std::memcpy(p->next_hop, gw->bytes.data(), 16);
    }
    if (pc.next_hop_mac) {
      p->next_hop_mac = pc.next_hop_mac->toU64();
      p->static_mac = true;
    }
    // Outer IP header, ESP header and IV, padding to 4 bytes, pad length and next header, ICV.
    const uint32_t outerIp = pc.underlay.family == 4 ? 20 : 40;
    uint32_t room = tc.mtu - outerIp - static_cast<uint32_t>(crypto::kEspPrefixLen + crypto::kEspIcvLen);
    p->max_inner = (room & ~3u) - 2;
    t->peers_.push_back(std::move(p));
    bool haveOut = false, haveIn = false;
    for (const auto& sa : sas) {
      if (sa.peer != pc.name) continue;
      const std::string where = tc.key_file + ":" + std::to_string(sa.line);
      if (pc.keys == PeerConfig::Keys::kTls)
        return makeError(Error::Code::kInvalidArgument,
                         where + ": peer '" + pc.name + "' gets its keys over TLS; remove its static SAs");
      if (sa.direction == crypto::StaticSa::Direction::kOut) {
        if (auto ok = t->setOutbound(i, sa.spi, sa.key.data(), sa.esn, 0); !ok)
          return makeError(ok.error().code, where + ": " + ok.error().message);
        haveOut = true;
      } else {
        if (!t->addInbound(i, sa.spi, sa.key.data(), sa.esn, 0))
          return makeError(Error::Code::kResource,
                           where + ": too many inbound SAs (at most " + std::to_string(kInboundSlots) + ")");
        haveIn = true;
      }
    }
    if (pc.keys == PeerConfig::Keys::kStatic && (!haveOut || !haveIn))
      return makeError(Error::Code::kInvalidArgument, tc.key_file + ": peer '" + pc.name + "' (" + pc.loc.str() +
                                                          ") needs an outbound and at least one inbound SA");
  }
  for (const auto& sa : sas) {
    bool known = false;
    for (const auto& pc : tc.peers) known = known || pc.name == sa.peer;
    if (!known)
      return makeError(Error::Code::kInvalidArgument, tc.key_file + ":" + std::to_string(sa.line) +
                                                          ": no peer named '" + sa.peer + "' in tunnel.peers");
  }
  return t;
}

Tunnel::~Tunnel() {
  for (auto& p : peers_) delete p->out.load();
  for (auto& s : inbound_) delete s.load();
}

bool Tunnel::addInbound(uint32_t i, uint32_t spi, const uint8_t* key36, bool esn, uint64_t epoch) {
  std::lock_guard<std::mutex> g(mu_);
  auto c = ciphers(key36);
  if (!c) return false;
  auto sa = std::make_unique<InboundSa>();
  sa->spi = spi;
  sa->peer = static_cast<uint16_t>(i);
  std::memcpy(sa->salt, key36 + 32, 4);
  sa->esn = esn;
  sa->epoch = epoch;
  sa->fingerprint = fingerprintOf(key36);
  sa->gcm = std::move(*c);
  for (auto& slot : inbound_) {
    InboundSa* cur = slot.load();
    if (cur && cur->spi == spi) return false;
  }
  for (auto& slot : inbound_) {
    if (!slot.load()) {
      slot.store(sa.release(), std::memory_order_release);
      return true;
    }
  }
  return false;
}

Result<void> Tunnel::setOutbound(uint32_t i, uint32_t spi, const uint8_t* key36, bool esn, uint64_t epoch) {
  std::lock_guard<std::mutex> g(mu_);
  auto c = ciphers(key36);
  if (!c) return c.error();
  auto sa = std::make_unique<OutboundSa>();
  sa->spi = spi;
  std::memcpy(sa->salt, key36 + 32, 4);
  sa->esn = esn;
  sa->epoch = epoch;
  sa->fingerprint = fingerprintOf(key36);
  sa->gcm = std::move(*c);
  OutboundSa* old = peers_[i]->out.exchange(sa.release(), std::memory_order_acq_rel);
  if (old) {
    if (synchronize_) synchronize_();
    delete old;
  }
  return {};
}

void Tunnel::retire(uint32_t i, uint64_t epoch, bool outbound) {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<InboundSa*> gone;
  for (auto& slot : inbound_) {
    InboundSa* sa = slot.load();
    if (sa && sa->peer == i && sa->epoch < epoch) {
      slot.store(nullptr, std::memory_order_release);
      gone.push_back(sa);
    }
  }
  OutboundSa* out = outbound ? peers_[i]->out.exchange(nullptr, std::memory_order_acq_rel) : nullptr;
  if ((gone.empty() && !out)) return;
  if (synchronize_) synchronize_();
  for (InboundSa* sa : gone) delete sa;
  delete out;
}

uint32_t Tunnel::freshSpi() {
  for (;;) {
    uint32_t spi = 0;
    RAND_bytes(reinterpret_cast<unsigned char*>(&spi), sizeof spi);
    if (spi < 256) continue;
    std::lock_guard<std::mutex> g(mu_);
    bool used = false;
    for (auto& slot : inbound_) {
      InboundSa* sa = slot.load();
      used = used || (sa && sa->spi == spi);
    }
    if (!used) return spi;
  }
}

std::vector<std::pair<uint32_t, uint64_t>> Tunnel::inboundOf(uint32_t i) {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<std::pair<uint32_t, uint64_t>> out;
  for (auto& slot : inbound_) {
    InboundSa* sa = slot.load();
    if (sa && sa->peer == i) out.emplace_back(sa->spi, sa->epoch);
  }
  return out;
}

Result<void> Tunnel::loadSequences(const std::string& path) {
  seq_path_ = path;
  {
    std::lock_guard<std::mutex> g(mu_);
    // Only a file that does not exist is a first start. Taking an unreadable one as a first start
    // would send static-key ESP again from sequence number 1: nonces reused under the same key.
    auto text = readFileLimited(path, kMaxSequenceFileBytes);
    if (!text && text.error().code != Error::Code::kNotFound)
      return makeError(
          Error::Code::kIo,
          "tunnel.sequence_file: " + text.error().message +
              " (static keys are not used without their sequence reservations; fix the file, or remove it only "
              "together with new keys)");
    std::istringstream in(text ? *text : std::string());
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      ++n;
      if (line.empty() || line[0] == '#') continue;
      std::istringstream ls(line);
      std::string dir, peer, fp;
      uint64_t spi = 0, number = 0;
      if (!(ls >> dir >> peer >> spi >> fp >> number) || (dir != "out" && dir != "in"))
        return makeError(Error::Code::kParse,
                         path + ":" + std::to_string(n) + ": expected 'out|in PEER SPI FINGERPRINT NUMBER'");
      const uint64_t f = std::strtoull(fp.c_str(), nullptr, 16);
      for (uint32_t i = 0; i < peers_.size(); ++i) {
        if (cfg_.peers[i].name != peer) continue;
        if (dir == "out") {
          OutboundSa* sa = peers_[i]->out.load();
          if (sa && sa->epoch == 0 && sa->spi == spi && sa->fingerprint == f)
            sa->seq.store(std::max(sa->seq.load(), number));
        } else {
          for (auto& slot : inbound_) {
            InboundSa* sa = slot.load();
            if (sa && sa->epoch == 0 && sa->peer == i && sa->spi == spi && sa->fingerprint == f)
              sa->window.resumeAt(number);
          }
        }
      }
    }
  }
  return persistSequences(true);
}

Result<void> Tunnel::persistSequences(bool force) {
  if (seq_path_.empty()) return {};
  std::lock_guard<std::mutex> g(mu_);
  saved_top_.resize(kInboundSlots, 0);
  const uint64_t now = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
  bool due = force;
  std::vector<uint64_t> tops(kInboundSlots, 0);
  std::ostringstream o;
  o << "# goldgate-switch: static ESP keys' sequence numbers; never edit while the switch runs\n";
  for (uint32_t i = 0; i < peers_.size(); ++i) {
    OutboundSa* sa = peers_[i]->out.load();
    if (!sa || sa->epoch != 0) continue;
    uint64_t seq = sa->seq.load(), limit = sa->limit.load();
    // Reserve the next block before half of the current one is used.
    const uint64_t reserve = reserveFor(sa->esn);
    if (limit == UINT64_MAX || seq + reserve / 2 > limit) {
      limit = seq + reserve;
      due = true;
    }
    char fp[17];
    std::snprintf(fp, sizeof fp, "%016llx", static_cast<unsigned long long>(sa->fingerprint));
    o << "out " << cfg_.peers[i].name << " " << sa->spi << " " << fp << " " << limit << "\n";
    sa->pending_limit = limit;
  }
  for (uint32_t k = 0; k < kInboundSlots; ++k) {
    InboundSa* sa = inbound_[k].load();
    if (!sa || sa->epoch != 0) continue;
    rte_spinlock_lock(&sa->lock);
    uint64_t top = sa->window.top();
    rte_spinlock_unlock(&sa->lock);
    // Window positions are written at most once a second (what a crash forgets: at most that).
    if (top != saved_top_[k] && now - last_write_ns_ >= 1000000000ull) due = true;
    char fp[17];
    std::snprintf(fp, sizeof fp, "%016llx", static_cast<unsigned long long>(sa->fingerprint));
    o << "in " << cfg_.peers[sa->peer].name << " " << sa->spi << " " << fp << " " << top << "\n";
    tops[k] = top;
  }
  if (!due) return {};
  // Durable before use: a reservation a crash could forget would let sequence numbers repeat.
  if (auto w = replaceFileDurably(seq_path_, o.str(), 0600); !w) return w;
  saved_top_ = tops;
  last_write_ns_ = now;
  // Only what is on disk may be used.
  for (auto& p : peers_)
    if (OutboundSa* sa = p->out.load(); sa && sa->epoch == 0) sa->limit.store(sa->pending_limit);
  return {};
}

Tunnel::OutboundInfo Tunnel::outboundOf(uint32_t i) {
  std::lock_guard<std::mutex> g(mu_);
  OutboundInfo o;
  if (OutboundSa* sa = peers_[i]->out.load()) {
    o.present = true;
    o.spi = sa->spi;
    o.seq = sa->seq.load();
    o.bytes = sa->bytes.load();
    o.epoch = sa->epoch;
  }
  return o;
}

}  // namespace goldgate::dataplane
