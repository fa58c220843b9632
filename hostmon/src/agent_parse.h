// Pure parsing of what the QEMU guest agent and the guest-state probe script return: agent JSON
// replies, base64, /proc tables and the script's sectioned output. No libvirt; everything is
// bounded and every malformed or hostile input gives an error, never a crash. The guest is
// untrusted: all of this is "guest-reported".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "goldgate/common/base64.h"
#include "goldgate/common/result.h"
#include "guest_state.h"

namespace goldgate::hostmon {

/// Bounds on what the probe gathers and on what the host accepts back.
struct ProbeLimits {
  size_t max_reply_bytes = 24u << 20;  // one agent reply (JSON text)
  size_t max_output_bytes = 8u << 20;  // the script's decoded standard output
  size_t max_line = 64u << 10;         // one line of that output
  size_t max_cmdline = 2048;           // bytes of /proc/PID/cmdline read per process (head -c)
  size_t max_processes = 8192;
  size_t max_modules = 4096;
  size_t max_listeners = 8192;
  size_t max_interfaces = 256;
  size_t max_json_depth = 32;
};

// --- requests -------------------------------------------------------------------------------

/// {"execute":"NAME"}.
std::string agentRequest(std::string_view command);
/// guest-exec of /bin/sh -c SCRIPT with captured output.
std::string execRequest(const std::string& script);
/// guest-exec-status for `pid`.
std::string execStatusRequest(int64_t pid);

// --- replies --------------------------------------------------------------------------------
// Errors for every reply parser: kParse for a reply that is not what the command returns
// (malformed, too large, nested too deeply); kIo for an agent error reply ({"error": {"desc"}}),
// carrying the agent's description.

/// guest-get-osinfo: release, version, machine, OS id and pretty name (provenance left empty).
Result<GuestKernel> parseOsInfo(std::string_view reply, const ProbeLimits& lim = {});

/// guest-network-get-interfaces: name, MAC (lower case) and "addr/prefix" for each interface.
Result<std::vector<GuestInterface>> parseInterfaces(std::string_view reply, const ProbeLimits& lim = {});

/// guest-exec: the pid of the started process.
Result<int64_t> parseExecStarted(std::string_view reply, const ProbeLimits& lim = {});

/// guest-exec-status, decoded.
struct ExecStatus {
  bool exited = false;
  int exit_code = -1;  // -1 if killed by a signal or not exited
  int signal = 0;
  std::string out, err;        // decoded out-data / err-data
  bool out_truncated = false;  // the agent cut the output (its own limit)
};
Result<ExecStatus> parseExecStatus(std::string_view reply, const ProbeLimits& lim = {});

/// The agent's base64 (standard, with padding, no line breaks): goldgate/common/base64.h.
using goldgate::decodeBase64;

// --- /proc texts ----------------------------------------------------------------------------

/// /proc/modules. Errors (kParse): a line without name, size, refcount and state; more than
/// `lim.max_modules` lines; an over-long line.
Result<std::vector<GuestModule>> parseProcModules(std::string_view text, const ProbeLimits& lim = {});

/// A /proc/net/{tcp,tcp6,udp,udp6} table (header line first). Returns the listening TCP sockets
/// (state 0A) or the bound, unconnected UDP sockets (state 07, remote port 0), pid left -1.
/// Addresses are decoded as a little-endian guest writes them (x86-64, aarch64). `proto` is one
/// of tcp, tcp6, udp, udp6. Errors (kParse): a row with too few fields or bad hex; too many rows.
Result<std::vector<GuestListener>> parseProcNet(std::string_view text, std::string_view proto,
                                                const ProbeLimits& lim = {},
                                                std::vector<GuestListener>* others = nullptr);

// --- the probe script -----------------------------------------------------------------------

/// The POSIX-sh script one guest-exec runs per poll: a handful of process spawns in all (the
/// guest may be slow), busybox and Debian alike. Its output is split into sections by marker lines
/// "@@gg-NONCE NAME", formed only at run time so that the script's own command line (which the
/// script reads too) never contains one. `nonce`: [A-Za-z0-9]{8,32}, fresh per poll.
/// `known`: identities ("dev:inode:size:ctime", as the script's stat section prints them) of
/// executables whose hash the caller already has: the script hashes only the others. Entries that
/// are not of that form are left out.
std::string probeScript(std::string_view nonce, const ProbeLimits& lim = {},
                        const std::vector<std::string>& known = {});

/// What the script reports.
struct ProbeResult {
  std::string kernel_cmdline;
  std::vector<GuestModule> modules;
  std::vector<GuestProcess> processes;   // ordered by pid, the script and its children left out
  std::vector<GuestListener> listeners;  // with the owning pid where an fd names the socket
  std::vector<GuestListener> sockets;    // the other sockets (connected TCP and UDP), local side
  bool truncated = false;                // the output was cut or a bound was hit
  std::vector<std::string> notes;        // oddities worth an observation (ambiguous command lines, …)
  std::map<std::string, std::string>
      hashes_by_identity;  // executables hashed this time: "dev:inode:size:ctime" -> SHA-256
};

/// Parses the script's output. Errors (kParse): no "self" section or no end marker (the output
/// was cut off: reported as truncated instead if `allowTruncated`), an over-long line, a bad
/// table in any section.
/// `known`: hashes by executable identity from earlier polls, for the executables the script did
/// not hash (see probeScript).
Result<ProbeResult> parseProbeOutput(std::string_view out, std::string_view nonce, const ProbeLimits& lim = {},
                                     bool allowTruncated = false,
                                     const std::map<std::string, std::string>* known = nullptr);

}  // namespace goldgate::hostmon
