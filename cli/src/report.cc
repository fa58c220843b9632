#include "report.h"

#include <map>
#include <sstream>
#include <vector>

#include "format.h"
#include "text_table.h"

namespace goldgate::cli {
namespace {

// The report's sections, in the order they are shown, with their headings.
const std::vector<std::pair<std::string, std::string>> kCategories = {
    {"executable", "Executables"}, {"module", "Kernel modules"}, {"kernel", "Kernel"},
    {"listener", "Listeners"},     {"connection", "Connections"}, {"data_class", "Data classes"}};

std::string dateOf(int64_t unixSeconds) {
  if (unixSeconds == 0) return "never";
  return utcTime(unixSeconds * 1000000000);
}

std::string joined(const google::protobuf::RepeatedPtrField<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string stateLine(const proto::VmAttestation& a) {
  std::string s = a.state().empty() ? "no-manifest" : a.state();
  std::vector<std::string> in;
  if (a.quarantined()) in.push_back("QUARANTINED");
  if (a.hardened()) in.push_back("HARDENED");
  if (a.suspended()) in.push_back("SUSPENDED");
  for (const auto& x : in) s += ", " + x;
  return s;
}

std::string actionsOf(const proto::VmAttestation& a, const proto::RedFlag& f) {
  std::string out;
  for (uint64_t id : f.action_ids())
    for (const auto& x : a.actions())
      if (x.id() == id) out += (out.empty() ? "" : ", ") + x.action() + " (" + x.state() + ")";
  return out.empty() ? "alert" : out;
}

}  // namespace

std::string formatReport(const proto::VmRecord& vm) {
  const auto& a = vm.attestation();
  std::ostringstream o;
  o << "VM " << vm.name() << " (" << vm.uuid() << "), " << vm.state() << "\n";
  if (a.app().empty()) {
    o << "manifest:   none applies";
    if (!a.manifest_error().empty()) o << " (" << a.manifest_error() << ")";
    o << "\n";
  } else {
    o << "manifest:   " << a.app() << " version " << a.manifest_version() << " (" << a.manifest_file() << ")\n";
    o << "signed by:  " << (a.signers().empty() ? "-" : joined(a.signers())) << "\n";
    o << "expires:    " << dateOf(a.expires_unix()) << "\n";
    if (!a.manifest_error().empty()) o << "refused:    " << a.manifest_error() << "\n";
  }
  o << "state:      " << stateLine(a) << (a.last_check_unix_ns() ? ", checked " + utcTime(a.last_check_unix_ns()) : "") << "\n";
  for (const auto& [cat, title] : kCategories) {
    Table t({"  ITEM", "EXPECTED", "OBSERVED", "STATUS", "TRUST"});
    size_t n = 0;
    for (const auto& i : a.items())
      if (i.category() == cat) {
        t.add({"  " + i.item(), i.expected().empty() ? "-" : i.expected(), i.observed().empty() ? "-" : i.observed(),
               i.status() == "ok" ? "ok" : "** " + i.status(), i.trust()});
        ++n;
      }
    if (n) o << "\n" << title << "\n" << t.str();
  }
  if (a.app().empty() && vm.has_guest()) {
    o << "\nNo manifest: what was observed (goldgatectl vm show " << vm.name() << " for more):\n";
    for (const auto& p : vm.guest().processes().processes())
      if (!p.exe().empty()) o << "  process " << p.pid() << " " << p.exe() << "\n";
  }
  o << "\nRed flags";
  if (a.red_flags().empty()) {
    o << ": none\n";
  } else {
    o << " (" << a.red_flags_size() << ")\n";
    for (const auto& f : a.red_flags()) {
      o << "  #" << f.id() << " " << utcTime(f.first_unix_ns()) << "  " << f.severity() << "  " << f.summary();
      if (f.count() > 1) o << "  (x" << f.count() << ", last " << utcTime(f.last_unix_ns()) << ")";
      o << "\n      expected: " << f.expected() << "\n      observed: " << f.observed() << "\n      source:   " << f.source()
        << " (" << f.trust() << ")\n      response: " << actionsOf(a, f) << "\n";
    }
  }
  o << "\nActions";
  if (a.actions().empty()) {
    o << ": none\n";
  } else {
    o << "\n";
    Table t({"  TIME", "ACTION", "STATE", "TRIGGER", "DETAIL"});
    for (const auto& x : a.actions()) t.add({"  " + utcTime(x.unix_ns()), x.action(), x.state(), x.trigger(), x.detail()});
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

std::string formatReportHtml(const proto::VmRecord& vm, const std::string& host, int64_t nowNs) {
  const auto& a = vm.attestation();
  auto e = htmlEscape;
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>Goldgate report: " << e(vm.name())
    << "</title>\n<style>\n"
       "body{font-family:system-ui,sans-serif;margin:2em;color:#222}h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}"
       "table{border-collapse:collapse;width:100%;font-size:.9em}th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;"
       "vertical-align:top}th{background:#f0f0f0}td.mono{font-family:monospace;word-break:break-all}"
       ".ok{color:#1a7f37}.bad{color:#b42318;font-weight:bold}.sev-critical{background:#fde2e1}.sev-high{background:#fef0e1}"
       ".sev-medium{background:#fffbe0}.state{display:inline-block;padding:.2em .6em;border-radius:.3em;background:#eee}"
       ".state.deviating{background:#fde2e1}.state.verified{background:#e3f6e8}footer{margin-top:2em;color:#777;font-size:.8em}\n"
       "</style></head><body>\n";
  o << "<h1>VM " << e(vm.name()) << " <span class=\"state " << e(a.state()) << "\">" << e(stateLine(a)) << "</span></h1>\n";
  o << "<table>\n<tr><th>UUID</th><td class=\"mono\">" << e(vm.uuid()) << "</td></tr>\n<tr><th>VM state</th><td>" << e(vm.state())
    << "</td></tr>\n";
  if (a.app().empty()) {
    o << "<tr><th>Manifest</th><td>none applies" << (a.manifest_error().empty() ? "" : " (" + e(a.manifest_error()) + ")")
      << "</td></tr>\n";
  } else {
    o << "<tr><th>Manifest</th><td>" << e(a.app()) << " version " << a.manifest_version() << " <span class=\"mono\">"
      << e(a.manifest_file()) << "</span></td></tr>\n<tr><th>Signed by</th><td class=\"mono\">" << e(joined(a.signers()))
      << "</td></tr>\n<tr><th>Expires</th><td>" << e(dateOf(a.expires_unix())) << "</td></tr>\n";
    if (!a.manifest_error().empty()) o << "<tr><th>Refused update</th><td class=\"bad\">" << e(a.manifest_error()) << "</td></tr>\n";
  }
  o << "<tr><th>Last check</th><td>" << e(a.last_check_unix_ns() ? utcTime(a.last_check_unix_ns()) : "never") << "</td></tr>\n</table>\n";

  o << "<h2>Red flags (" << a.red_flags_size() << ")</h2>\n";
  if (a.red_flags().empty()) {
    o << "<p class=\"ok\">None.</p>\n";
  } else {
    o << "<table>\n<tr><th>#</th><th>First seen</th><th>Severity</th><th>Deviation</th><th>Expected</th><th>Evidence</th><th>Trust</th>"
         "<th>Count</th><th>Response</th></tr>\n";
    for (const auto& f : a.red_flags())
      o << "<tr class=\"sev-" << e(f.severity()) << "\"><td>" << f.id() << "</td><td>" << e(utcTime(f.first_unix_ns())) << "</td><td>"
        << e(f.severity()) << "</td><td>" << e(f.summary()) << "</td><td>" << e(f.expected()) << "</td><td class=\"mono\">"
        << e(f.observed()) << "</td><td>" << e(f.trust()) << " (" << e(f.source()) << ")</td><td>" << f.count() << "</td><td>"
        << e(actionsOf(a, f)) << "</td></tr>\n";
    o << "</table>\n";
  }
  for (const auto& [cat, title] : kCategories) {
    std::ostringstream rows;
    for (const auto& i : a.items())
      if (i.category() == cat)
        rows << "<tr><td class=\"mono\">" << e(i.item()) << "</td><td>" << e(i.expected()) << "</td><td class=\"mono\">" << e(i.observed())
             << "</td><td class=\"" << (i.status() == "ok" ? "ok" : "bad") << "\">" << e(i.status()) << "</td><td>" << e(i.trust())
             << "</td></tr>\n";
    if (rows.str().empty()) continue;
    o << "<h2>" << title << ": expected and observed</h2>\n<table>\n<tr><th>Item</th><th>Expected</th><th>Observed</th><th>Status</th>"
         "<th>Trust</th></tr>\n"
      << rows.str() << "</table>\n";
  }
  o << "<h2>Actions</h2>\n";
  if (a.actions().empty()) {
    o << "<p>None.</p>\n";
  } else {
    o << "<table>\n<tr><th>Time</th><th>Action</th><th>State</th><th>Trigger</th><th>Detail</th></tr>\n";
    for (const auto& x : a.actions())
      o << "<tr><td>" << e(utcTime(x.unix_ns())) << "</td><td>" << e(x.action()) << "</td><td class=\"" << (x.state() == "failed" ? "bad" : "ok")
        << "\">" << e(x.state()) << "</td><td>" << e(x.trigger()) << "</td><td>" << e(x.detail()) << "</td></tr>\n";
    o << "</table>\n";
  }
  o << "<footer>Goldgate VM report, generated " << e(utcTime(nowNs)) << " on " << e(host) << ".</footer>\n</body></html>\n";
  return o.str();
}

}  // namespace goldgate::cli
