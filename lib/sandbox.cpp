// SPDX-License-Identifier: MIT
// uvreap (private): the parent's half of a sandbox — Landlock's ruleset and rules, the
// seccomp program — built before the clone, so that the child only restricts itself.
#include "sandbox.hpp"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "errno_code.hpp"
#include "os_calls.hpp"

namespace uvreap::detail {

namespace {

// Landlock's ABI, spelled out here: the system's <linux/landlock.h> may predate the
// rights this uses (ABI 3: truncate, 4: TCP, 5: device ioctls, 6: scopes).
struct ruleset_attr {
  std::uint64_t handled_access_fs;
  std::uint64_t handled_access_net;
  std::uint64_t scoped;
};
struct __attribute__((packed)) path_beneath_attr {
  std::uint64_t allowed_access;
  std::int32_t parent_fd;
};
constexpr int kRulePathBeneath = 1;

constexpr std::uint64_t kExecute = 1ULL << 0;
constexpr std::uint64_t kWriteFile = 1ULL << 1;
constexpr std::uint64_t kReadFile = 1ULL << 2;
constexpr std::uint64_t kReadDir = 1ULL << 3;
constexpr std::uint64_t kMakeAll = (1ULL << 4) | (1ULL << 5) | (1ULL << 6) | (1ULL << 7) |
                                   (1ULL << 8) | (1ULL << 9) | (1ULL << 10) | (1ULL << 11) |
                                   (1ULL << 12);  // remove dir/file, make char ... sym
constexpr std::uint64_t kRefer = 1ULL << 13;      // ABI 2
constexpr std::uint64_t kTruncate = 1ULL << 14;   // ABI 3
constexpr std::uint64_t kIoctlDev = 1ULL << 15;   // ABI 5
constexpr std::uint64_t kBindTcp = 1ULL << 0;     // ABI 4
constexpr std::uint64_t kConnectTcp = 1ULL << 1;  // ABI 4
constexpr std::uint64_t kScopeAbstractUnix = 1ULL << 0;  // ABI 6
constexpr std::uint64_t kScopeSignal = 1ULL << 1;        // ABI 6
// What a rule on a file (not a directory) may carry.
constexpr std::uint64_t kFileRights = kExecute | kWriteFile | kReadFile | kTruncate | kIoctlDev;

std::uint64_t handled_fs(int abi) {
  std::uint64_t h = kExecute | kWriteFile | kReadFile | kReadDir | kMakeAll;
  if (abi >= 2) h |= kRefer;
  if (abi >= 3) h |= kTruncate;
  if (abi >= 5) h |= kIoctlDev;
  return h;
}

void say(std::string* why, const std::string& text) {
  if (why != nullptr) *why = text;
}

// A rule the kernel cannot enforce: ENOTSUP, or (best effort) left out.
bool unenforceable(const sandbox_options& o, std::string* why, const std::string& text,
                   std::error_code& ec) {
  if (o.best_effort) return false;
  say(why, text);
  ec = errno_code(ENOTSUP);
  return true;
}

std::error_code add_path(int ruleset, const std::string& path, std::uint64_t rights,
                         std::string* why) {
  const int fd = ::open(path.c_str(), O_PATH | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    say(why, "cannot open " + path + ": " + std::strerror(e));
    return errno_code(e);
  }
  struct stat st {};
  int e = 0;
  if (::fstat(fd, &st) != 0) e = errno;
  if (e == 0) {
    path_beneath_attr rule{S_ISDIR(st.st_mode) ? rights : rights & kFileRights, fd};
    if (::syscall(SYS_landlock_add_rule, ruleset, kRulePathBeneath, &rule, 0) != 0) e = errno;
  }
  (void)::close(fd);
  if (e != 0) {
    say(why, "cannot add a rule for " + path + ": " + std::strerror(e));
    return errno_code(e);
  }
  return {};
}

constexpr std::uint32_t kMaxSyscall = 1024;

// A classic BPF program: another architecture's calls kill the process; each denied
// number returns EPERM; the rest are allowed.
std::vector<::sock_filter> make_filter(const std::vector<int>& denied) {
  std::vector<::sock_filter> p;
  const auto stmt = [&](std::uint16_t code, std::uint32_t k) { p.push_back(BPF_STMT(code, k)); };
  const auto jump = [&](std::uint16_t code, std::uint32_t k, std::uint8_t t, std::uint8_t f) {
    p.push_back(BPF_JUMP(code, k, t, f));
  };
  stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch));
  jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
  stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr));
  jump(BPF_JMP | BPF_JGE | BPF_K, 0x40000000U, 0, 1);  // __X32_SYSCALL_BIT
  stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  for (int nr : denied) {
    jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(nr), 0, 1);
    stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
  }
  stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  return p;
}

}  // namespace

std::uint16_t pack(const sandbox_report& r) noexcept {
  if (!r.requested) return 0;
  const unsigned abi = r.landlock_abi < 0 ? 0U : (r.landlock_abi > 255 ? 255U : static_cast<unsigned>(r.landlock_abi));
  return static_cast<std::uint16_t>(1U | (r.no_new_privs ? 2U : 0U) | (r.filesystem ? 4U : 0U) |
                                    (r.truncate ? 8U : 0U) | (r.network ? 16U : 0U) |
                                    (r.scopes ? 32U : 0U) | (r.seccomp ? 64U : 0U) | (abi << 8));
}

sandbox_report unpack(std::uint16_t bits) noexcept {
  sandbox_report r;
  if ((bits & 1U) == 0) return r;
  r.requested = true;
  r.no_new_privs = (bits & 2U) != 0;
  r.filesystem = (bits & 4U) != 0;
  r.truncate = (bits & 8U) != 0;
  r.network = (bits & 16U) != 0;
  r.scopes = (bits & 32U) != 0;
  r.seccomp = (bits & 64U) != 0;
  r.landlock_abi = bits >> 8;
  return r;
}

const std::vector<int>& default_denied_syscalls() {
  static const std::vector<int> list = {
      SYS_ptrace, SYS_process_vm_readv, SYS_process_vm_writev, SYS_mount, SYS_umount2,
      SYS_pivot_root, SYS_chroot, SYS_open_tree, SYS_move_mount, SYS_fsopen, SYS_fsconfig,
      SYS_fsmount, SYS_fspick, SYS_mount_setattr, SYS_unshare, SYS_setns, SYS_bpf,
      SYS_perf_event_open, SYS_userfaultfd, SYS_kexec_load, SYS_kexec_file_load,
      SYS_init_module, SYS_finit_module, SYS_delete_module, SYS_reboot, SYS_swapon,
      SYS_swapoff, SYS_acct, SYS_quotactl, SYS_syslog, SYS_add_key, SYS_request_key,
      SYS_keyctl, SYS_open_by_handle_at, SYS_iopl, SYS_ioperm};
  return list;
}

std::error_code build_sandbox(const sandbox_options& o, os_calls& os, sandbox_build& out,
                              std::string* why) {
  for (const auto* list : {&o.read, &o.write}) {
    for (const auto& p : *list) {
      if (p.empty() || p.find('\0') != std::string::npos) return errno_code(EINVAL);
    }
  }
  for (int nr : o.deny_syscalls) {
    if (nr < 0 || static_cast<std::uint32_t>(nr) >= kMaxSyscall) return errno_code(EINVAL);
  }
  sandbox_report& r = out.report;
  r.requested = true;
  r.no_new_privs = true;
  const int abi = os.landlock_abi();
  if (abi < 0) return errno_code(-abi);
  r.landlock_abi = abi;

  std::error_code ec;
  const bool wants_fs = !o.read.empty() || !o.write.empty();
  bool fs = wants_fs;
  if (fs && abi < 1) {
    if (unenforceable(o, why, "files: this kernel has no Landlock", ec)) return ec;
    fs = false;
  }
  if (fs && !o.write.empty() && abi < 3) {
    // Without the truncate right, truncate() works on any file the child can open.
    if (unenforceable(o, why, "truncation confined to the write paths: Landlock ABI 3 (this kernel has " +
                                  std::to_string(abi) + ")", ec)) {
      return ec;
    }
  }
  const bool wants_net = !o.network;
  bool net = wants_net && abi >= 4;
  if (wants_net && !net &&
      unenforceable(o, why, "network = false: Landlock ABI 4 (this kernel has " + std::to_string(abi) + ")", ec)) {
    return ec;
  }
  const bool wants_scope = o.scope_abstract_unix || o.scope_signals;
  bool scope = wants_scope && abi >= 6;
  if (wants_scope && !scope &&
      unenforceable(o, why, "scopes: Landlock ABI 6 (this kernel has " + std::to_string(abi) + ")", ec)) {
    return ec;
  }
  const bool wants_seccomp = o.seccomp || !o.deny_syscalls.empty();
#if defined(__x86_64__)
  const bool seccomp = wants_seccomp;
#else
  const bool seccomp = false;
  if (wants_seccomp && unenforceable(o, why, "seccomp: the filter is written for x86-64", ec)) return ec;
#endif

  if (fs || net || scope) {
    ruleset_attr attr{fs ? handled_fs(abi) : 0, net ? (kBindTcp | kConnectTcp) : 0,
                      scope ? ((o.scope_abstract_unix ? kScopeAbstractUnix : 0) |
                               (o.scope_signals ? kScopeSignal : 0))
                            : 0};
    // The struct's size tells the kernel which fields it reads (ABI 1-3: fs only).
    const std::size_t size = scope ? sizeof attr
                             : net ? offsetof(ruleset_attr, scoped)
                                   : sizeof attr.handled_access_fs;
    const long fd = ::syscall(SYS_landlock_create_ruleset, &attr, size, 0);
    if (fd < 0) {
      const int e = errno;
      say(why, std::string("landlock_create_ruleset: ") + std::strerror(e));
      return errno_code(e);
    }
    out.ruleset_fd = static_cast<int>(fd);
    if (fs) {
      const std::uint64_t all = handled_fs(abi);
      const std::uint64_t read = kExecute | kReadFile | kReadDir;
      for (const auto& p : o.read) {
        if (ec = add_path(out.ruleset_fd, p, read, why); ec) break;
      }
      for (const auto& p : o.write) {
        if (ec) break;
        ec = add_path(out.ruleset_fd, p, all, why);
      }
      if (ec) {
        (void)os.close(out.ruleset_fd);
        out.ruleset_fd = -1;
        return ec;
      }
    }
  }
  r.filesystem = fs;
  r.truncate = fs && abi >= 3;
  r.network = net;
  r.scopes = scope;
  if (seccomp) {
    std::vector<int> denied = default_denied_syscalls();
    denied.insert(denied.end(), o.deny_syscalls.begin(), o.deny_syscalls.end());
    out.filter = make_filter(denied);
    r.seccomp = true;
  }
  return {};
}

}  // namespace uvreap::detail
