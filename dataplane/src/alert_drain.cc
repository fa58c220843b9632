// The workers' alert rings and the other sources of alerts, drained on the control thread
// (alert_drain.h).
#include "alert_drain.h"

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <cstdio>

#include "alert_render.h"
#include "goldgate/alerts/kinds.h"
#include "key_agent.h"
#include "publisher.h"
#include "worker.h"

namespace goldgate::dataplane {
namespace {
constexpr uint32_t kAlertRingSize = 4096;
}  // namespace

AlertDrain::AlertDrain(const SwitchConfig& sw, const Publisher& publisher,
                       const std::vector<std::unique_ptr<Worker>>& workers, Raise raise, Quarantine quarantine)
    : sw_(sw), publisher_(publisher), workers_(workers), raise_(std::move(raise)), quarantine_(std::move(quarantine)) {}

AlertDrain::~AlertDrain() { freeRings(); }

Result<void> AlertDrain::createRings(const std::vector<unsigned>& lcores) {
  // One alert ring per worker: each has one producer (its worker) and one consumer (this thread).
  for (uint32_t w = 0; w < lcores.size(); ++w) {
    rte_ring* r =
        rte_ring_create_elem(("gg_alerts" + std::to_string(w)).c_str(), sizeof(AlertRecord), kAlertRingSize,
                             static_cast<int>(rte_lcore_to_socket_id(lcores[w])), RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (!r)
      return makeError(Error::Code::kResource, std::string("cannot create alert ring: ") + rte_strerror(rte_errno));
    rings_.push_back(r);
  }
  return {};
}

void AlertDrain::freeRings() {
  for (auto* r : rings_) rte_ring_free(r);
  rings_.clear();
}

void AlertDrain::drain(KeyAgent* keys) {
  if (keys)
    for (auto& ev : keys->takeEvents()) {
      std::string key = ev.kind() + "|" + ev.port() + "|" + ev.message();
      raise_(std::move(ev), key);
    }
  // Responses first, from their own path (a bit per port, never lost): a data-policy quarantine
  // does not depend on its alert getting through a ring that a flood may have filled.
  for (const auto& w : workers_) {
    const uint32_t ports = w->takeQuarantineRequests();
    for (uint32_t p = 0; p < sw_.ports.size() && p < 32; ++p) {
      if (!((ports >> p) & 1) || !traits(sw_.ports[p].role).vm_side) continue;
      auto r = quarantine_(sw_.ports[p].name);
      if (!r)
        std::fprintf(stderr, "goldgate-switch: data policy quarantine of '%s': %s\n", sw_.ports[p].name.c_str(),
                     r.error().message.c_str());
    }
  }
  const AlertContext ctx{sw_, publisher_.policy(), publisher_.classifier().get()};
  AlertRecord recs[64];
  unsigned n;
  for (rte_ring* ring : rings_)
    while ((n = rte_ring_sc_dequeue_burst_elem(ring, recs, sizeof(AlertRecord), 64, nullptr)) > 0)
      for (unsigned i = 0; i < n; ++i) {
        proto::AlertEvent ev;
        std::string key;
        if (renderAlert(recs[i], ctx, &ev, &key)) raise_(std::move(ev), key);
      }
  reportLosses();
}

void AlertDrain::reportLosses() {
  uint64_t dropped = 0, limited = 0;
  for (const auto& w : workers_) {
    dropped += w->stats().alerts_dropped.load(std::memory_order_relaxed);
    limited += w->stats().alerts_rate_limited.load(std::memory_order_relaxed);
  }
  // Counted losses become one event each time they grow.
  auto lost = [this](uint64_t now, uint64_t& reported, alerts::Kind kind, const std::string& what) {
    if (now <= reported) return;
    proto::AlertEvent ev;
    alerts::setKind(ev, kind);
    ev.set_count(now - reported);
    ev.set_message(std::to_string(now - reported) + what);
    std::string key = ev.kind();
    raise_(std::move(ev), key);
    reported = now;
  };
  lost(limited, limited_reported_, alerts::Kind::kAlertsRateLimited,
       " low-priority alerts (deny, spoofing, flow table full) not raised: a port sent more than its share; "
       "data findings and responses are never limited (goldgatectl status: drops by port say which)");
  lost(dropped, dropped_reported_, alerts::Kind::kAlertsDropped,
       " alert records lost: the packet path raised them faster than they could be written");
}

}  // namespace goldgate::dataplane
