#include "report.h"

#include <cstdio>
#include <iterator>
#include <set>
#include <sstream>
#include <vector>

#include "format.h"
#include "format_guest.h"
#include "text_table.h"

namespace goldgate::cli {
namespace {

// The report's expected / observed sections, in the order they are shown.
struct Category {
  const char* key;
  const char* title;
};
constexpr Category kCategories[] = {{"executable", "Executables"}, {"module", "Kernel modules"},
                                    {"kernel", "Kernel"},          {"listener", "Listeners"},
                                    {"connection", "Connections"}, {"data_class", "Data classes"}};

using Items = std::vector<const proto::AttestItem*>;

// The items grouped by category: the known ones first (each even when empty), then any category
// a newer hostmon sends under its own name, so that nothing it judged is left out.
std::vector<std::pair<std::string, Items>> sections(const proto::VmAttestation& a) {
  std::vector<std::pair<std::string, Items>> out;
  for (const auto& c : kCategories) out.push_back({c.title, {}});
  for (const auto& i : a.items()) {
    size_t at = out.size();
    for (size_t k = 0; k < std::size(kCategories); ++k)
      if (i.category() == kCategories[k].key) at = k;
    if (at == out.size())
      for (size_t k = std::size(kCategories); k < out.size(); ++k)
        if (out[k].first == i.category()) at = k;
    if (at == out.size()) out.push_back({i.category(), {}});
    out[at].second.push_back(&i);
  }
  return out;
}

std::string orDash(const std::string& s) { return s.empty() ? "-" : s; }

std::string dateOf(int64_t unixSeconds) { return unixSeconds == 0 ? "never" : utcTime(unixSeconds * 1000000000); }

std::string joined(const google::protobuf::RepeatedPtrField<std::string>& v, const char* sep = ", ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

bool manifestApplies(const proto::VmAttestation& a) { return !a.app().empty(); }

std::string attestState(const proto::VmAttestation& a) { return a.state().empty() ? "no-manifest" : a.state(); }

// The responses in force, each of which `goldgatectl vm release` undoes.
std::string inForce(const proto::VmAttestation& a) {
  std::string s;
  if (a.quarantined()) s += "quarantined";
  if (a.hardened()) s += std::string(s.empty() ? "" : ", ") + "hardened";
  if (a.suspended()) s += std::string(s.empty() ? "" : ", ") + "suspended";
  return s;
}

std::string lastCheck(const proto::VmAttestation& a) {
  return a.last_check_unix_ns() ? "checked " + utcTime(a.last_check_unix_ns()) : "not checked yet";
}

// The responses a red flag triggered, with how each went.
std::string actionsOf(const proto::VmAttestation& a, const proto::RedFlag& f) {
  std::string out;
  for (uint64_t id : f.action_ids())
    for (const auto& x : a.actions())
      if (x.id() == id) out += (out.empty() ? "" : ", ") + x.action() + " (" + x.state() + ")";
  return out.empty() ? "alert only" : out;
}

std::string statusMark(const std::string& status) { return status == "ok" ? "ok" : "** " + status; }

// What the guest controls (command lines, paths, names) reaches the terminal without control
// characters: an escape sequence in a process's command line must not drive the operator's
// terminal. `keepNewlines` for text this file has laid out itself.
std::string printable(const std::string& s, bool keepNewlines = false) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if ((c >= 0x20 && c != 0x7f) || (keepNewlines && c == '\n')) {
      out += static_cast<char>(c);
    } else {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    }
  }
  return out;
}

}  // namespace

std::string formatReport(const proto::VmRecord& vm, bool allProcesses) {
  const auto& a = vm.attestation();
  auto p = [](const std::string& s) { return printable(s); };
  std::ostringstream o;
  o << "VM " << p(vm.name()) << "  " << p(orDash(vm.uuid())) << "  " << p(orDash(vm.state())) << "\n";
  o << "app:          " << p(orDash(vm.app())) << "\n";
  if (manifestApplies(a)) {
    o << "manifest:     " << p(a.app()) << " version " << a.manifest_version() << " (" << p(orDash(a.manifest_file()))
      << ")\n";
    o << "signed by:    " << p(a.signers().empty() ? "-" : joined(a.signers())) << "\n";
    o << "expires:      " << dateOf(a.expires_unix()) << "\n";
    if (!a.manifest_error().empty())
      o << "refused:      " << p(a.manifest_error()) << " (this version stays in force)\n";
  } else {
    o << "manifest:     none applies" << (a.manifest_error().empty() ? "" : " (" + p(a.manifest_error()) + ")") << "\n";
  }
  o << "attestation:  " << p(attestState(a)) << ", " << lastCheck(a) << "\n";
  const std::string forced = inForce(a);
  o << "in force:     "
    << (forced.empty() ? "no response" : forced + " (goldgatectl vm release " + p(vm.name()) + " undoes it)") << "\n";

  if (manifestApplies(a)) {
    for (const auto& [title, items] : sections(a)) {
      o << "\n" << p(title) << "\n";
      if (items.empty()) {
        o << "  nothing declared, nothing observed\n";
        continue;
      }
      Table t({"  ITEM", "EXPECTED", "OBSERVED", "STATUS", "TRUST"});
      for (const auto* i : items)
        t.add({"  " + p(i->item()), p(orDash(i->expected())), p(orDash(i->observed())), p(statusMark(i->status())),
               p(orDash(i->trust()))});
      o << t.str();
    }
    // The hypervisor's own view next to the agent's: what the judgement above rests on when the
    // agent is silent or lies.
    if (vm.has_guest() && vm.guest().memory().observed_unix_ns())
      o << printable(formatMemoryView(vm.guest(), allProcesses), true);
  } else {
    o << "\nNo manifest to compare with; what hostmon observed in the guest (goldgatectl manifest learn "
      << p(vm.name()) << " --for 5m drafts one):\n";
    if (vm.has_guest()) o << printable(formatGuest(vm.guest(), allProcesses), true);
    else o << "  nothing observed yet\n";
  }

  o << "\nRed flags";
  if (a.red_flags().empty()) {
    o << ": none\n";
  } else {
    o << " (" << a.red_flags_size() << ")\n";
    for (const auto& f : a.red_flags()) {
      o << "  #" << f.id() << "  " << utcTime(f.first_unix_ns()) << "  " << p(f.severity()) << "  " << p(f.summary());
      if (f.count() > 1) o << "  (x" << f.count() << ", last " << utcTime(f.last_unix_ns()) << ")";
      o << "\n      kind:      " << p(f.kind()) << "\n      expected:  " << p(orDash(f.expected()))
        << "\n      evidence:  " << p(orDash(f.observed())) << "\n      seen by:   " << p(orDash(f.source())) << " ("
        << p(orDash(f.trust())) << ")"
        << "\n      response:  " << p(actionsOf(a, f)) << "\n";
    }
  }
  o << "\nResponse actions";
  if (a.actions().empty()) {
    o << ": none\n";
  } else {
    o << "\n";
    Table t({"  TIME", "ACTION", "STATE", "TRIGGER", "DETAIL"});
    for (const auto& x : a.actions())
      t.add({"  " + utcTime(x.unix_ns()), p(x.action()), p(x.state()), p(orDash(x.trigger())), p(orDash(x.detail()))});
    o << t.str();
  }
  return o.str();
}

std::string htmlEscape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

// Text for the page: control characters shown as in the terminal report (\xNN: invisible and
// invalid in HTML otherwise), then escaped.
std::string htmlText(const std::string& s) { return htmlEscape(printable(s)); }

struct Cell {
  std::string text;
  std::string cls;  // CSS class of the cell ("" none)
};
struct Row {
  std::vector<Cell> cells;
  std::string cls;  // CSS class of the row
};

// One HTML table. Every text and class is escaped here, so that no caller can forget it. With no
// header the first cell of each row is its heading (a key / value table).
std::string htmlTable(const std::vector<std::string>& head, const std::vector<Row>& rows) {
  std::ostringstream o;
  o << "<table>\n";
  if (!head.empty()) {
    o << "<tr>";
    for (const auto& h : head) o << "<th>" << htmlText(h) << "</th>";
    o << "</tr>\n";
  }
  for (const auto& r : rows) {
    o << "<tr" << (r.cls.empty() ? "" : " class=\"" + htmlEscape(r.cls) + "\"") << ">";
    for (size_t i = 0; i < r.cells.size(); ++i) {
      const char* tag = head.empty() && i == 0 ? "th" : "td";
      const auto& c = r.cells[i];
      o << "<" << tag << (c.cls.empty() ? "" : " class=\"" + htmlEscape(c.cls) + "\"") << ">" << htmlText(c.text)
        << "</" << tag << ">";
    }
    o << "</tr>\n";
  }
  o << "</table>\n";
  return o.str();
}

std::string h2(const std::string& title) { return "<h2>" + htmlText(title) + "</h2>\n"; }

std::string para(const std::string& text, const std::string& cls = "") {
  return "<p" + (cls.empty() ? std::string() : " class=\"" + htmlEscape(cls) + "\"") + ">" + htmlText(text) + "</p>\n";
}

// The processes and modules read from guest memory, each marked with whether the agent lists it,
// and the kernel's integrity checks: the hypervisor's own view.
std::string memoryHtml(const proto::GuestState& g) {
  const auto& m = g.memory();
  if (!m.observed_unix_ns() || m.mode() != "introspection") return {};
  std::ostringstream o;
  std::set<int32_t> listed;
  for (const auto& p : g.processes().processes()) listed.insert(p.pid());
  std::set<std::string> listedModules;
  for (const auto& x : g.modules().modules()) listedModules.insert(x.name());
  const bool agent = g.processes().observed_unix_ns() != 0;
  o << h2("Kernel in guest memory (" + orDash(m.trust()) + ")")
    << htmlTable({},
                 {{{{"Profile"}, {orDash(m.profile()), "mono"}}},
                  {{{"Kernel text"}, {orDash(m.text_sha256()) + " (gold " + orDash(m.gold_source()) + ")", "mono"}}},
                  {{{"Tables"},
                    {std::to_string(m.syscalls()) + " system calls, " + std::to_string(m.idt_gates()) +
                         " IDT gates: " + (m.hooks_size() ? std::to_string(m.hooks_size()) + " hooked" : "none hooked"),
                     m.hooks_size() ? "bad" : "ok"}}}});
  std::vector<Row> rows;
  for (const auto& p : m.processes()) {
    if (p.kernel_thread()) continue;
    const bool in = listed.count(p.pid()) != 0;
    rows.push_back({{{std::to_string(p.pid())},
                     {p.uid() < 0 ? "-" : std::to_string(p.uid())},
                     {p.comm(), "mono"},
                     {orDash(p.exe()), "mono"},
                     {!agent ? "-"
                      : in   ? "listed"
                             : "not listed",
                      !agent || in ? "" : "bad"}}});
  }
  o << h2("Processes in guest memory (" + orDash(m.trust()) + ")")
    << (rows.empty() ? para("None.") : htmlTable({"PID", "UID", "Name", "Executable", "Agent"}, rows));
  rows.clear();
  for (const auto& x : m.modules()) {
    const bool in = listedModules.count(x.name()) != 0;
    rows.push_back({{{x.name(), "mono"},
                     {x.in_list() ? "yes" : "no", x.in_list() ? "" : "bad"},
                     {!agent ? "-"
                      : in   ? "listed"
                             : "not listed",
                      !agent || in ? "" : "bad"}}});
  }
  o << h2("Modules in guest memory (" + orDash(m.trust()) + ")")
    << (rows.empty() ? para("None.") : htmlTable({"Module", "On the module list", "Agent"}, rows));
  return o.str();
}

// The guest as hostmon observed it, for a VM no manifest applies to.
std::string observedHtml(const proto::GuestState& g) {
  std::ostringstream o;
  const auto& k = g.kernel();
  o << h2("Kernel (" + orDash(k.trust()) + ")")
    << htmlTable(
           {}, {{{{"Release"}, {orDash(k.release()), "mono"}}},
                {{{"Version"}, {orDash(k.version()), "mono"}}},
                {{{"Command line"}, {orDash(k.cmdline()), "mono"}}},
                {{{"Banner in memory (" + orDash(g.memory().trust()) + ")"}, {orDash(g.memory().banner()), "mono"}}}});
  std::vector<Row> rows;
  for (const auto& p : g.processes().processes())
    if (!p.exe().empty())
      rows.push_back({{{std::to_string(p.pid())},
                       {orDash(p.user())},
                       {p.exe(), "mono"},
                       {orDash(p.sha256()), "mono"},
                       {orDash(p.cmdline()), "mono"}}});
  o << h2("Processes (" + orDash(g.processes().trust()) + ")")
    << (rows.empty() ? para("None observed.")
                     : htmlTable({"PID", "User", "Executable", "SHA-256", "Command line"}, rows));
  rows.clear();
  for (const auto& l : g.listeners().listeners())
    rows.push_back(
        {{{l.proto()}, {l.addr(), "mono"}, {std::to_string(l.port())}, {l.pid() < 0 ? "-" : std::to_string(l.pid())}}});
  o << h2("Listeners (" + orDash(g.listeners().trust()) + ")")
    << (rows.empty() ? para("None observed.") : htmlTable({"Protocol", "Address", "Port", "PID"}, rows));
  rows.clear();
  for (const auto& f : g.flows().flows())
    rows.push_back({{{f.protocol()},
                     {f.direction()},
                     {f.local(), "mono"},
                     {f.remote(), "mono"},
                     {f.state()},
                     {joined(f.classes())}}});
  o << h2("Connections (" + orDash(g.flows().trust()) + ")")
    << (rows.empty() ? para("None observed.")
                     : htmlTable({"Protocol", "Direction", "Local", "Remote", "State", "Data classes"}, rows));
  std::string mods;
  for (const auto& m : g.modules().modules()) mods += (mods.empty() ? "" : ", ") + m.name();
  o << h2("Kernel modules (" + orDash(g.modules().trust()) + ")")
    << para(mods.empty() ? "None observed." : mods, "mono");
  return o.str();
}

constexpr const char* kCss =
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:90em}h1{font-size:1.4em}"
    "h2{font-size:1.1em;margin-top:1.6em}p.meta{color:#555}"
    "table{border-collapse:collapse;width:100%;font-size:.9em}th,td{border:1px solid #ccc;padding:.3em .5em;"
    "text-align:left;vertical-align:top}th{background:#f0f0f0}.mono{font-family:monospace;word-break:break-all}"
    ".ok{color:#1a7f37}.bad{color:#b42318;font-weight:bold}"
    "tr.sev-low{background:#eef4ff}tr.sev-medium{background:#fffbe0}tr.sev-high{background:#fef0e1}"
    "tr.sev-critical{background:#fde2e1;font-weight:bold}tr.sev-high td:first-child,tr.sev-critical td:first-child"
    "{border-left:.4em solid #b42318}"
    ".state{display:inline-block;padding:.2em .6em;border-radius:.3em;background:#eee;font-size:.8em}"
    ".state.deviating,.state.manifest-rejected{background:#fde2e1}.state.verified{background:#e3f6e8}"
    "footer{margin-top:2em;color:#777;font-size:.8em}";

}  // namespace

std::string formatReportHtml(const proto::VmRecord& vm, const std::string& host, int64_t nowNs) {
  const auto& a = vm.attestation();
  const std::string generated = "Generated " + utcTime(nowNs) + " on " + host + " by goldgatectl report.";
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
       "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
       "<title>Goldgate VM report: "
    << htmlText(vm.name()) << "</title>\n<style>" << kCss << "</style>\n</head>\n<body>\n";
  o << "<h1>VM " << htmlText(vm.name()) << " <span class=\"state " << htmlText(attestState(a)) << "\">"
    << htmlText(attestState(a)) << "</span></h1>\n"
    << para(generated, "meta");

  const std::string forced = inForce(a);
  std::vector<Row> head = {{{{"UUID"}, {orDash(vm.uuid()), "mono"}}},
                           {{{"VM state"}, {orDash(vm.state())}}},
                           {{{"App"}, {orDash(vm.app())}}}};
  if (manifestApplies(a)) {
    head.push_back(
        {{{"Manifest"},
          {a.app() + " version " + std::to_string(a.manifest_version()) + " (" + orDash(a.manifest_file()) + ")"}}});
    head.push_back({{{"Signed by"}, {a.signers().empty() ? "-" : joined(a.signers()), "mono"}}});
    head.push_back({{{"Expires"}, {dateOf(a.expires_unix())}}});
    if (!a.manifest_error().empty())
      head.push_back({{{"Refused update"}, {a.manifest_error() + " (this version stays in force)", "bad"}}});
  } else {
    head.push_back({{{"Manifest"},
                     {"none applies" + (a.manifest_error().empty() ? "" : " (" + a.manifest_error() + ")"), "bad"}}});
  }
  head.push_back({{{"Attestation"}, {attestState(a), attestState(a) == "verified" ? "ok" : "bad"}}});
  head.push_back({{{"Last check"}, {a.last_check_unix_ns() ? utcTime(a.last_check_unix_ns()) : "never"}}});
  head.push_back({{{"Responses in force"}, {forced.empty() ? "none" : forced, forced.empty() ? "ok" : "bad"}}});
  o << htmlTable({}, head);

  o << h2("Red flags (" + std::to_string(a.red_flags_size()) + ")");
  if (a.red_flags().empty()) {
    o << para("None.", "ok");
  } else {
    std::vector<Row> rows;
    for (const auto& f : a.red_flags())
      rows.push_back({{{std::to_string(f.id())},
                       {utcTime(f.first_unix_ns())},
                       {utcTime(f.last_unix_ns())},
                       {f.severity()},
                       {f.kind()},
                       {f.summary()},
                       {orDash(f.expected())},
                       {orDash(f.observed()), "mono"},
                       {orDash(f.trust()) + " (" + orDash(f.source()) + ")"},
                       {std::to_string(f.count())},
                       {actionsOf(a, f)}},
                      "sev-" + f.severity()});
    o << htmlTable({"#", "First seen", "Last seen", "Severity", "Kind", "Deviation", "Expected", "Evidence", "Trust",
                    "Count", "Response"},
                   rows);
  }

  o << h2("Response actions");
  if (a.actions().empty()) {
    o << para("None.");
  } else {
    std::vector<Row> rows;
    for (const auto& x : a.actions())
      rows.push_back({{{utcTime(x.unix_ns())},
                       {x.action()},
                       {x.state(), x.state() == "failed" ? "bad" : ""},
                       {orDash(x.trigger())},
                       {orDash(x.detail())}}});
    o << htmlTable({"Time", "Action", "State", "Trigger", "Detail"}, rows);
  }

  if (manifestApplies(a)) {
    for (const auto& [title, items] : sections(a)) {
      o << h2(title + ": expected and observed");
      if (items.empty()) {
        o << para("Nothing declared, nothing observed.");
        continue;
      }
      std::vector<Row> rows;
      for (const auto* i : items)
        rows.push_back({{{i->item(), "mono"},
                         {orDash(i->expected())},
                         {orDash(i->observed()), "mono"},
                         {i->status(), i->status() == "ok" ? "ok" : "bad"},
                         {orDash(i->trust())}}});
      o << htmlTable({"Item", "Expected", "Observed", "Status", "Trust"}, rows);
    }
    if (vm.has_guest()) o << memoryHtml(vm.guest());
  } else {
    o << h2("No manifest applies: what hostmon observed")
      << para("Nothing to compare with. goldgatectl manifest learn " + vm.name() +
              " --for 5m drafts a manifest from what the VM does.");
    o << (vm.has_guest() ? observedHtml(vm.guest()) + memoryHtml(vm.guest()) : para("Nothing observed yet."));
  }
  o << "<footer>" << htmlText(generated) << "</footer>\n</body>\n</html>\n";
  return o.str();
}

std::string formatManifests(const proto::ListManifestsResponse& l, int64_t nowUnix) {
  if (l.manifests().empty()) return "no manifests (is attest.manifests set in hostmon's configuration?)\n";
  Table t({"FILE", "APP", "VERSION", "SIGNERS", "EXPIRES", "STATE", "VMS", "ERROR/REASON"});
  for (const auto& m : l.manifests()) {
    std::string signers;
    // Key ids are 32 hex digits; the first 8 tell the signers apart in a table.
    for (const auto& s : m.signers()) signers += (signers.empty() ? "" : ",") + s.substr(0, 8);
    std::string state = "accepted";
    if (!m.accepted()) state = "REFUSED";
    else if (m.expires_unix() && m.expires_unix() < nowUnix) state = "expired";
    // Refusals start with the file's path, already in the first column.
    std::string why = m.error();
    if (why.rfind(m.file() + ": ", 0) == 0) why = why.substr(m.file().size() + 2);
    if (why.empty()) why = m.reason();
    t.add({printable(m.file()), printable(orDash(m.app())), m.version() ? std::to_string(m.version()) : "-",
           orDash(signers), m.expires_unix() ? dateOf(m.expires_unix()) : "-", state,
           printable(orDash(joined(m.vms(), ","))), printable(orDash(why))});
  }
  return t.str();
}

std::string formatRelease(const std::string& vm, const proto::ReleaseResponse& r) {
  if (r.actions().empty()) return vm + ": no response in force, nothing to undo\n";
  std::string out;
  for (const auto& a : r.actions())
    out += vm + ": " + a.action() + " " + a.state() + (a.detail().empty() ? "" : ": " + printable(a.detail())) + "\n";
  return out;
}

std::string formatLearnSummary(const proto::LearnResponse& l, const std::string& out) {
  const auto& d = l.draft();
  std::ostringstream o;
  o << "draft " << d.app() << " version " << d.version() << (out.empty() ? "" : " in " + out) << ": "
    << d.executables_size() << " executables, " << d.kernel().modules_size() << " modules, " << d.listeners_size()
    << " listeners, " << d.inbound_size() << " inbound and " << d.outbound_size() << " outbound connections, "
    << d.data_classes_size() << " data classes (merged from " << l.observations() << " observations and " << l.flows()
    << " flows)";
  return o.str();
}

}  // namespace goldgate::cli
