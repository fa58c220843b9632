// Benchmark figures (bench_stats.h).
#include "bench_stats.h"

#include <rte_cycles.h>

#include <fstream>

#include "ports.h"
#include "worker.h"

namespace goldgate::dataplane {

BenchStats::BenchStats(const SwitchConfig& sw, const Ports& ports, const std::vector<std::unique_ptr<Worker>>& workers)
    : sw_(sw), ports_(ports), workers_(workers) {}

BenchStats::Snapshot BenchStats::sum() const {
  Snapshot s;
  for (const auto& w : workers_) {
    auto& st = w->stats();
    s.packets += st.packets.load();
    s.busy += st.busy_cycles.load();
    s.created += st.flows_created.load();
    s.new_cycles += st.new_flow_cycles.load();
    for (uint32_t p = 0; p < ports_.ids().size(); ++p) s.tx += st.ports[p].tx_packets.load();
  }
  return s;
}

void BenchStats::snapshotWarmup() {
  const uint64_t tsc = rte_rdtsc();
  warm_ = sum();
  warm_.tsc = tsc;
  warm_taken_ = true;
}

void BenchStats::markEnd() { end_tsc_ = rte_rdtsc(); }

bool BenchStats::drained() const {
  // pcap inputs are read synchronously inside rx_burst: an empty poll means the file is done.
  for (const auto& w : workers_)
    if (w->stats().idle_streak.load(std::memory_order_relaxed) < 1000) return false;
  return true;
}

void BenchStats::write(const std::string& path, uint64_t policyVersion, uint64_t alertsWritten) const {
  const Snapshot end = sum();
  uint64_t active = 0, cut = 0, expired = 0, quotesCut = 0;
  uint64_t inspFlowsPeak = 0, inspBytes = 0, decoded = 0, decodePeak = 0;
  uint64_t drops[static_cast<int>(DropReason::kCount)] = {};
  for (const auto& w : workers_) {
    auto& st = w->stats();
    active += st.flows_active.load();
    cut += st.flows_cut.load();
    quotesCut += st.icmp_quotes_cut.load();
    inspFlowsPeak += st.inspect_flows_peak.load();
    inspBytes += st.inspect_bytes.load();
    decoded += st.inspect_decoded_bytes.load();
    decodePeak += st.decode_memory_peak.load();
    expired += st.flows_expired.load();
    for (int r = 0; r < static_cast<int>(DropReason::kCount); ++r) drops[r] += st.drops[r].load();
  }
  double hz = static_cast<double>(rte_get_tsc_hz());
  double secs = static_cast<double>((end_tsc_ ? end_tsc_ : rte_rdtsc()) - warm_.tsc) / hz;
  uint64_t dp = end.packets - warm_.packets, dtx = end.tx - warm_.tx, dc = end.created - warm_.created;
  std::ofstream o(path);
  o << "{\n";
  o << "  \"seconds\": " << secs << ",\n";
  o << "  \"tsc_hz\": " << static_cast<uint64_t>(hz) << ",\n";
  o << "  \"packets\": " << dp << ",\n";
  o << "  \"tx_packets\": " << dtx << ",\n";
  o << "  \"rx_mpps\": " << (secs > 0 ? dp / secs / 1e6 : 0) << ",\n";
  o << "  \"tx_mpps\": " << (secs > 0 ? dtx / secs / 1e6 : 0) << ",\n";
  o << "  \"cycles_per_packet\": " << (dp ? static_cast<double>(end.busy - warm_.busy) / dp : 0) << ",\n";
  o << "  \"flows_created\": " << dc << ",\n";
  o << "  \"flows_created_total\": " << end.created << ",\n";
  o << "  \"cycles_per_new_flow\": " << (dc ? static_cast<double>(end.new_cycles - warm_.new_cycles) / dc : 0) << ",\n";
  o << "  \"flows_active\": " << active << ",\n";
  o << "  \"flows_cut\": " << cut << ",\n";
  o << "  \"icmp_quotes_cut\": " << quotesCut << ",\n";
  o << "  \"inspect_flows_peak\": " << inspFlowsPeak << ",\n";
  o << "  \"inspect_bytes\": " << inspBytes << ",\n";
  o << "  \"inspect_decoded_bytes\": " << decoded << ",\n";
  o << "  \"decode_memory_peak\": " << decodePeak << ",\n";
  o << "  \"flows_expired\": " << expired << ",\n";
  uint64_t capacity = 0;
  for (const auto& w : workers_) capacity += w->flows().capacity();
  o << "  \"bytes_per_flow\": " << (capacity ? static_cast<double>(flow_bytes_) / capacity : 0) << ",\n";
  o << "  \"flow_capacity\": " << capacity << ",\n";
  o << "  \"policy_version\": " << policyVersion << ",\n";
  o << "  \"alerts_written\": " << alertsWritten << ",\n";
  o << "  \"drops\": {";
  bool first = true;
  for (int r = 1; r < static_cast<int>(DropReason::kCount); ++r) {
    o << (first ? "" : ", ") << "\"" << dropReasonName(static_cast<DropReason>(r)) << "\": " << drops[r];
    first = false;
  }
  o << "},\n  \"ports\": {";
  for (uint32_t p = 0; p < ports_.ids().size(); ++p) {
    uint64_t rx = 0, t = 0, d = 0;
    for (const auto& w : workers_) {
      rx += w->stats().ports[p].rx_packets.load();
      t += w->stats().ports[p].tx_packets.load();
      d += w->stats().ports[p].drops.load();
    }
    o << (p ? ", " : "") << "\"" << sw_.ports[p].name << "\": {\"rx\": " << rx << ", \"tx\": " << t
      << ", \"drops\": " << d << "}";
  }
  o << "}\n}\n";
}

}  // namespace goldgate::dataplane
