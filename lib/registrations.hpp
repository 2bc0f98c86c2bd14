// SPDX-License-Identifier: MIT
// uvreap (private): the one question a sweep asks about children registered on other
// threads (answered by the thread inbox; see thread_inbox.hpp for the protocol).
#pragma once

#include <sys/types.h>

namespace uvreap::detail {

class registrations {
 public:
  /// Loop thread, for a waitable child missing from the table: true while it may be a
  /// child registered on another thread and on its way to the table; a wake-up of the
  /// loop then follows, and the sweep that asked may stop and wait for it.
  virtual bool may_be_coming(pid_t pid) noexcept = 0;

 protected:
  ~registrations() = default;
};

}  // namespace uvreap::detail
