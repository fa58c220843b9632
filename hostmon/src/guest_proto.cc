// GuestState → proto::GuestState for the control API.
#include "control.h"

namespace goldgate::hostmon {
namespace {

template <typename P>
void setProvenance(P* p, const Provenance& v) {
  p->set_source(v.source);
  p->set_trust(v.observed_ns ? trustName(v.trust) : "");
  p->set_observed_unix_ns(v.observed_ns);
}

void setCost(proto::PollCost* p, const PollCost& c) {
  p->set_polls(c.polls);
  p->set_failures(c.failures);
  p->set_last_duration_ms(c.last_duration_ms);
  p->set_last_cpu_us(c.last_cpu_us);
  p->set_total_cpu_us(c.total_cpu_us);
}

}  // namespace

proto::GuestState toProto(const GuestState& s) {
  proto::GuestState p;
  if (s.agent) {
    const AgentView& a = *s.agent;
    auto* k = p.mutable_kernel();
    setProvenance(k, a.kernel.seen);
    k->set_release(a.kernel.release);
    k->set_version(a.kernel.version);
    k->set_machine(a.kernel.machine);
    k->set_os_id(a.kernel.os_id);
    k->set_os_name(a.kernel.os_name);
    k->set_cmdline(a.kernel.cmdline);
    auto* m = p.mutable_modules();
    setProvenance(m, a.modules_seen);
    for (const auto& x : a.modules) {
      auto* q = m->add_modules();
      q->set_name(x.name);
      q->set_size(x.size);
      q->set_refcount(x.refcount);
      q->set_state(x.state);
      q->set_taint(x.taint);
    }
    auto* ps = p.mutable_processes();
    setProvenance(ps, a.processes_seen);
    ps->set_truncated(a.truncated);
    for (const auto& x : a.processes) {
      auto* q = ps->add_processes();
      q->set_pid(x.pid);
      q->set_ppid(x.ppid);
      q->set_uid(x.uid);
      q->set_user(x.user);
      q->set_name(x.name);
      q->set_exe(x.exe);
      q->set_sha256(x.sha256);
      q->set_cmdline(x.cmdline);
    }
    auto* ls = p.mutable_listeners();
    setProvenance(ls, a.listeners_seen);
    for (const auto& x : a.listeners) {
      auto* q = ls->add_listeners();
      q->set_proto(x.proto);
      q->set_addr(x.addr);
      q->set_port(x.port);
      q->set_pid(x.pid);
    }
    auto* is = p.mutable_interfaces();
    setProvenance(is, a.interfaces_seen);
    for (const auto& x : a.interfaces) {
      auto* q = is->add_interfaces();
      q->set_name(x.name);
      q->set_mac(x.mac);
      for (const auto& ip : x.addresses) q->add_addresses(ip);
    }
  }
  if (s.flows) {
    auto* fs = p.mutable_flows();
    setProvenance(fs, s.flows->seen);
    for (const auto& port : s.flows->ports) fs->add_ports(port);
    fs->set_truncated(s.flows->truncated);
    for (const auto& f : s.flows->flows) {
      auto* q = fs->add_flows();
      q->set_protocol(f.protocol);
      q->set_local(f.local);
      q->set_remote(f.remote);
      q->set_direction(f.inbound ? "inbound" : "outbound");
      q->set_state(f.state);
      q->set_packets_from_vm(f.packets_from_vm);
      for (const auto& c : f.classes) q->add_classes(c);
      q->set_age_ms(f.age_ms);
    }
  }
  if (s.memory) {
    const MemoryView& v = *s.memory;
    auto* m = p.mutable_memory();
    setProvenance(m, v.seen);
    m->set_banner(v.banner);
    m->set_banner_addr(v.banner_addr);
    m->set_text_start(v.text_start);
    m->set_text_length(v.text_length);
    m->set_text_sha256(v.text_sha256);
    m->set_gold_sha256(v.gold_sha256);
    m->set_gold_source(v.gold_source);
    m->set_match(v.match);
    m->set_mode(v.mode);
    m->set_profile(v.profile);
    m->set_access(v.access);
    m->set_text_virt(v.text_virt);
    m->set_kaslr_slide(v.kaslr_slide);
    for (const auto& k : v.processes) {
      auto* q = m->add_processes();
      q->set_pid(k.pid);
      q->set_ppid(k.ppid);
      q->set_uid(k.uid);
      q->set_comm(k.comm);
      q->set_exe(k.exe);
      q->set_start_time_ns(k.start_time_ns);
      q->set_kernel_thread(k.kernel_thread);
    }
    for (const auto& k : v.modules) {
      auto* q = m->add_modules();
      q->set_name(k.name);
      q->set_base(k.base);
      q->set_size(k.size);
      q->set_state(k.state);
      q->set_in_list(k.in_list);
      q->set_in_sysfs(k.in_sysfs);
    }
    m->set_syscalls(v.syscalls);
    m->set_idt_gates(v.idt_gates);
    for (const auto& [table, hooks] : {std::pair{"syscall", &v.syscall_hooks}, {"idt", &v.idt_hooks}})
      for (const auto& h : *hooks) {
        auto* q = m->add_hooks();
        q->set_table(table);
        q->set_index(h.index);
        q->set_target(h.target);
        q->set_where(h.where);
      }
    m->set_partial(v.partial);
    for (const auto& pr : v.problems) m->add_problems(pr);
    m->set_reads(v.reads);
    m->set_bytes(v.bytes);
  }
  for (const auto& o : s.recent) {
    auto* q = p.add_observations();
    q->set_kind(o.kind);
    q->set_detail(o.detail);
    q->set_source(o.source);
    q->set_trust(trustName(o.trust));
    q->set_first_unix_ns(o.first_ns);
    q->set_last_unix_ns(o.last_ns);
    q->set_count(o.count);
  }
  p.set_agent_status(s.agent_status);
  p.set_memory_status(s.memory_status);
  setCost(p.mutable_agent_cost(), s.agent_cost);
  setCost(p.mutable_memory_cost(), s.memory_cost);
  return p;
}

}  // namespace goldgate::hostmon
