// SPDX-License-Identifier: MIT
// uvreap (private): one libuv handle owned by value, closed once.
#pragma once

#include <uv.h>

namespace uvreap::detail {

/// A libuv handle embedded in its owner, which libuv holds by address (so it never
/// moves). `data` points at the owner for every callback. `close` calls `uv_close` at
/// most once, and only on a handle that was initialised; the owner counts outstanding
/// closes through `on_closed` and frees nothing before the last one (libuv touches the
/// handle until its close callback has run).
template <class T>
class uv_handle {
 public:
  uv_handle() = default;
  uv_handle(const uv_handle&) = delete;
  uv_handle& operator=(const uv_handle&) = delete;

  [[nodiscard]] T* get() noexcept { return &h_; }
  [[nodiscard]] uv_handle_t* base() noexcept { return reinterpret_cast<uv_handle_t*>(&h_); }
  [[nodiscard]] const uv_handle_t* base() const noexcept {
    return reinterpret_cast<const uv_handle_t*>(&h_);
  }

  /// After the handle's uv_*_init succeeded: its callbacks find `owner` in `data`.
  void owned_by(void* owner) noexcept { h_.data = owner; }
  /// A zeroed handle has no loop until its init succeeded.
  [[nodiscard]] bool initialised() const noexcept { return h_.loop != nullptr; }
  [[nodiscard]] bool active() const noexcept { return initialised() && uv_is_active(base()) != 0; }
  /// Whether this handle alone keeps `uv_run` going while active (no-op before init).
  void keeps_loop_alive(bool yes) noexcept {
    if (initialised()) yes ? uv_ref(base()) : uv_unref(base());
  }

  /// uv_close, once; true when a close callback is now owed to `on_closed`.
  bool close(uv_close_cb on_closed) noexcept {
    if (!initialised() || uv_is_closing(base()) != 0) return false;
    uv_close(base(), on_closed);
    return true;
  }

 private:
  T h_{};
};

}  // namespace uvreap::detail
