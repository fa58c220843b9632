// goldgatectl trace on the worker: a capture armed through the mailbox records the decisions
// taken for the next packets on a port that match its filter (trace.h), as they are forwarded.
#include <rte_cycles.h>
#include <rte_mbuf.h>

#include "worker.h"

namespace goldgate::dataplane {

void Worker::traceBegin(Burst& b, uint32_t i, const PacketMeta* pm, uint32_t len) {
  if (pm ? !traceMatches(trace_filter_, *pm) : !trace_filter_.portOnly()) return;
  // Packets already taken in this burst count against what is left.
  if (static_cast<uint32_t>(__builtin_popcount(trace_cur_)) >= trace_left_) return;
  TraceRecord& r = trace_live_[i];
  r = TraceRecord{};
  r.tsc = b.now;
  r.in = b.in;
  r.worker = static_cast<uint8_t>(id_);
  r.len = len;
  const CompiledPolicy* pol = shared_->policy->load(std::memory_order_acquire);
  r.policy_gen = pol->generation();
  if (pm) {
    traceSummarize(*pm, len, &r);
    r.add(TraceKind::kParsed);
  }
  trace_mbuf_[i] = b.pkts[i];
  trace_cur_ |= 1u << i;
}

void Worker::traceMbuf(const rte_mbuf* m, TraceKind k, uint16_t port, uint32_t value) {
  for (uint32_t bits = trace_cur_; bits; bits &= bits - 1) {
    const uint32_t i = static_cast<uint32_t>(__builtin_ctz(bits));
    if (trace_mbuf_[i] == m) {
      trace_live_[i].add(k, 0, port, value);
      return;
    }
  }
}

void Worker::traceFinish(const Burst& b) {
  (void)b;
  for (uint32_t bits = trace_cur_; bits; bits &= bits - 1) {
    const uint32_t i = static_cast<uint32_t>(__builtin_ctz(bits));
    if (trace_left_ == 0 || trace_out_.size() >= trace_out_.capacity()) break;
    trace_out_.push_back(trace_live_[i]);
    --trace_left_;
  }
  trace_cur_ = 0;
}

void Worker::serveTrace(Mailbox& mb) {
  switch (mb.cmd) {
    case Mailbox::Cmd::kTraceArm:
      trace_filter_ = mb.trace_filter;
      trace_left_ = std::min(mb.trace_count, kTraceMax);
      trace_out_.clear();
      mb.matched = trace_left_;
      break;
    case Mailbox::Cmd::kTraceCollect:
      for (const auto& r : trace_out_)
        if (mb.trace_out->size() < mb.trace_out->capacity()) mb.trace_out->push_back(r);
      trace_out_.clear();
      mb.matched = trace_left_;
      break;
    case Mailbox::Cmd::kTraceDisarm:
      trace_left_ = 0;
      trace_out_.clear();
      mb.matched = 0;
      break;
    case Mailbox::Cmd::kProbe: {
      const void* key = &mb.probe_key;
      int32_t pos = -1;
      flows_->lookupBulk(&key, 1, &pos);
      mb.probe_pos = pos >= 0 ? pos : -1;
      if (pos >= 0) mb.probe_flow = flows_->at(pos);
      mb.probe_fdb = fdb_.lookup(mb.probe_mac, rte_rdtsc());
      mb.matched = 0;
      break;
    }
    default: break;
  }
}

}  // namespace goldgate::dataplane
