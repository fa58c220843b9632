#include "tunnel.h"

#include <cstring>

namespace goldgate::dataplane {

Result<std::unique_ptr<Tunnel>> Tunnel::create(const SwitchConfig& sw, const std::vector<crypto::StaticSa>& sas,
                                               uint32_t workers, uint16_t uplinkPort, uint64_t uplinkMac,
                                               uint16_t firstPort) {
  const TunnelConfig& tc = sw.tunnel;
  auto t = std::unique_ptr<Tunnel>(new Tunnel());
  t->cfg_ = tc;
  t->uplink_ = uplinkPort;
  t->first_port_ = firstPort;
  t->underlay_mac_ = tc.underlay_mac ? tc.underlay_mac->toU64() : uplinkMac;
  if (!crypto::parseAeadEngine(tc.aead, &t->engine_))
    return makeError(Error::Code::kInvalidArgument, sw.source_file + ": tunnel.aead: unknown engine '" + tc.aead + "'");
  if (t->engine_ == crypto::AeadEngine::kAuto) t->engine_ = crypto::bestAeadEngine();

  auto ciphers = [&](const crypto::StaticSa& sa, std::vector<std::unique_ptr<crypto::Gcm256>>& out) -> Result<void> {
    for (uint32_t w = 0; w < workers; ++w) {
      auto g = crypto::makeGcm256(sa.key.data(), t->engine_);
      if (!g) return makeError(g.error().code, tc.key_file + ":" + std::to_string(sa.line) + ": " + g.error().message);
      out.push_back(std::move(g).value());
    }
    return {};
  };

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
    bool haveOut = false, haveIn = false;
    for (const auto& sa : sas) {
      if (sa.peer != pc.name) continue;
      if (sa.direction == crypto::StaticSa::Direction::kOut) {
        p->spi = sa.spi;
        std::memcpy(p->salt, sa.key.data() + 32, 4);
        p->esn = sa.esn;
        if (auto ok = ciphers(sa, p->gcm); !ok) return ok.error();
        haveOut = true;
      } else {
        auto in = std::make_unique<InboundSa>();
        in->spi = sa.spi;
        in->peer = static_cast<uint16_t>(i);
        std::memcpy(in->salt, sa.key.data() + 32, 4);
        in->esn = sa.esn;
        if (auto ok = ciphers(sa, in->gcm); !ok) return ok.error();
        t->inbound_.push_back(std::move(in));
        haveIn = true;
      }
    }
    if (!haveOut || !haveIn)
      return makeError(Error::Code::kInvalidArgument, tc.key_file + ": peer '" + pc.name + "' (" + pc.loc.str() +
                                                          ") needs an outbound and at least one inbound SA");
    t->peers_.push_back(std::move(p));
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

}  // namespace goldgate::dataplane
