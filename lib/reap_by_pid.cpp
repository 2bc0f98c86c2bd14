// SPDX-License-Identifier: MIT
// uvreap (private): reaping one pid.
#include "reap_by_pid.hpp"

#include <sys/wait.h>

namespace uvreap::detail {

reap_outcome reap_by_pid(os_calls& os, pid_t pid, std::vector<reaped>& out, int* err) noexcept {
  reaped r{pid, 0, {}, false};
  const pid_t got = os.wait4(pid, &r.status, WNOHANG, &r.usage);
  if (got == pid) {
    out.push_back(r);  // room: callers stay within the budget they were given
    return reap_outcome::reaped;
  }
  if (got == 0) return reap_outcome::running;
  if (got == -ECHILD) {
    out.push_back(reaped{pid, 0, {}, true});
    return reap_outcome::reaped;
  }
  *err = got;
  return reap_outcome::failed;
}

}  // namespace uvreap::detail
