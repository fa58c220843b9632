#include "tunnel.h"

#include <openssl/rand.h>

#include <cstring>

namespace goldgate::dataplane {

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
  t->first_port_ = firstPort;
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
        return makeError(Error::Code::kInvalidArgument, where + ": peer '" + pc.name + "' gets its keys over TLS; remove its static SAs");
      if (sa.direction == crypto::StaticSa::Direction::kOut) {
        if (auto ok = t->setOutbound(i, sa.spi, sa.key.data(), sa.esn, 0); !ok) return makeError(ok.error().code, where + ": " + ok.error().message);
        haveOut = true;
      } else {
        if (!t->addInbound(i, sa.spi, sa.key.data(), sa.esn, 0))
          return makeError(Error::Code::kResource, where + ": too many inbound SAs (at most " + std::to_string(kInboundSlots) + ")");
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
      return makeError(Error::Code::kInvalidArgument,
                       tc.key_file + ":" + std::to_string(sa.line) + ": no peer named '" + sa.peer + "' in tunnel.peers");
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
