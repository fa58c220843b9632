// A kernel profile: what hostmon must know about one exact guest kernel build to read its data
// structures from guest memory. Built from the kernel package's own vmlinuz (no debug package, no
// System.map: Debian ships a stub one): the compressed vmlinux inside is an ELF that keeps the
// kernel's BTF type information (.BTF, read with libbpf) and its symbol table (kallsyms, in
// .rodata), and the relocation table KASLR applies follows it. Keyed by the exact banner
// ("Linux version …"), which hostmon reads from guest memory to pick the profile of a VM.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "goldgate/common/result.h"

namespace goldgate::hostmon {

/// The symbols a profile keeps (link-time addresses, before KASLR's slide). Every one is required:
/// a kernel without one of them cannot be introspected by this version of hostmon.
inline constexpr std::string_view kProfileSymbols[] = {
    "_text",
    "_stext",
    "_etext",
    "__start_rodata",
    "__end_rodata",
    "linux_banner",
    "init_task",
    "modules",
    "sys_call_table",
    "idt_table",
    "module_kset",
    // The jump-label table (code sites the kernel patches at run time), and the early IDT handlers
    // (vectors the kernel never gives a handler of its own keep pointing at them after boot).
    "__start___jump_table",
    "__stop___jump_table",
    "early_idt_handler_array",
    "early_idt_handler_common",
};

/// The structure members a profile keeps, as "struct.member[.member…]" (members of anonymous
/// structs and unions are found by name as C finds them; a dotted tail descends into a named
/// embedded struct, e.g. "module.core_layout.base"). Every one is required except those marked
/// optional in kOptionalMembers.
inline constexpr std::string_view kProfileMembers[] = {
    "list_head.next",
    "list_head.prev",
    "task_struct.tasks",
    "task_struct.pid",
    "task_struct.tgid",
    "task_struct.comm",
    "task_struct.real_parent",
    "task_struct.real_cred",
    "task_struct.mm",
    "task_struct.flags",
    "task_struct.start_time",
    "task_struct.exit_state",
    "task_struct.group_leader",
    "cred.uid",
    "mm_struct.exe_file",
    "file.f_path",
    "path.mnt",
    "path.dentry",
    "dentry.d_parent",
    "dentry.d_name",
    "qstr.name",
    "qstr.len",
    "mount.mnt",
    "mount.mnt_parent",
    "mount.mnt_mountpoint",
    "vfsmount.mnt_root",
    "module.list",
    "module.name",
    "module.state",
    "module.mkobj",
    "module_kobject.kobj",
    "module_kobject.mod",
    "kobject.entry",
    "kset.list",
    "module.core_layout.base",
    "module.core_layout.size",
};
/// Members that differ between kernel versions; a profile may lack them.
inline constexpr std::string_view kOptionalMembers[] = {"module.core_layout.base", "module.core_layout.size"};

/// Sizes kept: "task_struct.comm" (array bytes), "module.name" (array bytes), "module" and
/// "task_struct" (struct bytes).
inline constexpr std::string_view kProfileSizes[] = {"task_struct", "module", "task_struct.comm", "module.name"};

struct KernelProfile {
  std::string banner;   // "Linux version 6.1.0-28-cloud-amd64 (…) #1 SMP PREEMPT_DYNAMIC Debian …" (no newline)
  std::string release;  // "6.1.0-28-cloud-amd64"
  std::string source;   // where it was built from (the file's path), for messages
  std::string source_sha256;                // of that file
  std::map<std::string, uint64_t> symbols;  // kProfileSymbols → link-time address
  std::map<std::string, uint64_t> members;  // kProfileMembers → byte offset from the struct's start
  std::map<std::string, uint64_t> sizes;    // kProfileSizes → bytes
  uint32_t syscall_count = 0;               // entries of sys_call_table (the non-null ones up to the next symbol)
  // KASLR's relocations that fall in [_text, _etext), as offsets from _text: where the loader
  // added the slide to a 32-bit value, subtracted it from one (inverse), or added it to a 64-bit
  // value. Undoing them makes text read from memory comparable across boots.
  std::vector<uint32_t> text_relocs32, text_relocs32_inverse, text_relocs64;
  // Jump-label sites in the text, as offsets from _text; bit 31 set: a 5-byte site (jmp rel32 or
  // a 5-byte nop), else 2 bytes (jmp rel8 or a 2-byte nop). The kernel flips them at run time
  // (static keys), so the text hash leaves them out.
  std::vector<uint32_t> text_jump_sites;
  std::string file_text_sha256;  // SHA-256 of [_text, _etext) as the file has it (before boot-time patching)
  uint64_t kallsyms_count = 0;   // symbols in the image's kallsyms (for the report)

  /// The symbol's address, or 0 when the profile lacks it.
  uint64_t symbol(std::string_view name) const;
  /// The member's offset; kNotFound naming it when the profile lacks it.
  Result<uint64_t> member(std::string_view name) const;
};

/// Builds a profile from a kernel image: a bzImage (vmlinuz; payload compressed with LZ4 legacy
/// frames, gzip or xz) or an uncompressed vmlinux ELF. Errors (kParse, naming what was missing or
/// damaged and where): not a kernel image, an unknown compression, no .BTF, no kallsyms, a required
/// symbol or member missing. `path` only names the source in messages and in the profile.
Result<KernelProfile> buildKernelProfile(std::span<const uint8_t> image, const std::string& path);
/// Reads the file and builds its profile.
Result<KernelProfile> buildKernelProfileFromFile(const std::string& path);

/// The profile as JSON (stable field names; relocation lists as arrays of numbers).
std::string kernelProfileToJson(const KernelProfile& p);
/// Parses a profile written by kernelProfileToJson(). Errors: kParse naming `origin` and the field.
/// The input is a file an operator placed: every field is checked (types, required symbols and
/// members present, relocation offsets inside the text).
Result<KernelProfile> kernelProfileFromJson(std::string_view json, const std::string& origin);

/// The most bytes a kernel image may decompress to (the vmlinux ELF and the relocation table after it).
inline constexpr size_t kMaxVmlinuxBytes = size_t{512} << 20;
/// The vmlinux inside a kernel image: a bzImage's payload decompressed (the ELF followed by KASLR's
/// relocation table), or a copy of the image when it is an ELF already. Errors: kParse naming what
/// is wrong: not a kernel image, an unknown compression, a damaged or truncated stream, more than
/// `limit` bytes (claimed or produced). Any thread. Exposed for tests, which lower `limit`.
Result<std::vector<uint8_t>> extractVmlinux(std::span<const uint8_t> image, size_t limit = kMaxVmlinuxBytes);

/// The profiles in a folder (every *.json), keyed by banner. Errors: the folder cannot be read, or
/// a file in it is not a valid profile (named, with why); two files with one banner: the message
/// names both.
Result<std::map<std::string, KernelProfile>> loadKernelProfiles(const std::string& dir);

/// The file name a profile is written under: "<release>-<first 12 hex of SHA-256(banner)>.json".
std::string kernelProfileFileName(const KernelProfile& p);

}  // namespace goldgate::hostmon
