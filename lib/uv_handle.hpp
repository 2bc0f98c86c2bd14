// SPDX-License-Identifier: MIT
// uvreap (private): one libuv handle, closed once, that survives the application
// closing it behind the owner's back.
#pragma once

#include <uv.h>

#include <memory>
#include <new>

namespace uvreap::detail {

/// libuv's flag for its own handles (UV_HANDLE_INTERNAL, 0x10 in every libuv 1.x since
/// 1.21, libuv's src/uv-common.h): uv_walk passes over them and uv_loop_close does not
/// wait for them. Private to libuv, so it is used only once seen on the loop's own
/// work-queue handle and absent from a fresh handle of ours.
inline constexpr unsigned kLibuvInternalFlag = 0x10;

/// A libuv handle on the heap, owned by the core, which libuv holds by address. `data`
/// points at the owner for every callback. `close` calls `uv_close` at most once, and
/// only on a handle that was initialised; the owner counts outstanding closes through
/// `on_closed` and frees nothing before the last one (libuv touches the handle until its
/// close callback has run).
///
/// An application may close the handle itself: a common shutdown is `uv_walk` closing
/// every handle it sees. Then `taken()` is true, no callback of ours will run for it, and
/// libuv touches the memory until the end of some later loop iteration; `swap_in_fresh` hands
/// that memory to the owner to keep until it knows libuv is done, and puts fresh memory
/// in its place to initialise anew.
template <class T>
class uv_handle {
 public:
  uv_handle() = default;
  uv_handle(const uv_handle&) = delete;
  uv_handle& operator=(const uv_handle&) = delete;

  /// Zeroed memory for the next handle, allocated ahead so that swapping it in cannot
  /// fail; false when it cannot be allocated.
  [[nodiscard]] bool reserve_fresh() noexcept {
    if (!fresh_) fresh_.reset(new (std::nothrow) T{});
    return fresh_ != nullptr;
  }
  /// Puts the reserved memory in place (reserve_fresh succeeded) and returns the previous
  /// memory (null the first time), to be kept while libuv may still touch it.
  [[nodiscard]] std::unique_ptr<T> swap_in_fresh() noexcept {
    std::unique_ptr<T> previous = std::move(h_);
    h_ = std::move(fresh_);
    closed_by_us_ = false;
    hidden_ = false;
    return previous;
  }

  [[nodiscard]] T* get() noexcept { return h_.get(); }
  [[nodiscard]] uv_handle_t* base() noexcept { return reinterpret_cast<uv_handle_t*>(h_.get()); }
  [[nodiscard]] const uv_handle_t* base() const noexcept {
    return reinterpret_cast<const uv_handle_t*>(h_.get());
  }

  /// After the handle's uv_*_init succeeded: its callbacks find `owner` in `data`.
  void owned_by(void* owner) noexcept {
    if (h_) h_->data = owner;
  }
  /// A zeroed handle has no loop until its init succeeded.
  [[nodiscard]] bool initialised() const noexcept { return h_ && h_->loop != nullptr; }
  [[nodiscard]] bool active() const noexcept { return initialised() && uv_is_active(base()) != 0; }
  /// Closed (or closing) by someone else: no close callback of ours is owed or will run.
  [[nodiscard]] bool taken() const noexcept {
    return initialised() && !closed_by_us_ && uv_is_closing(base()) != 0;
  }
  /// Whether this handle alone keeps `uv_run` going while active (no-op before init).
  void keeps_loop_alive(bool yes) noexcept {
    if (initialised()) yes ? uv_ref(base()) : uv_unref(base());
  }

  /// Hidden from uv_walk (and from uv_loop_close's count) like libuv's own handles, or
  /// visible again; nothing where the loop does not show the flag as expected.
  void hide_from_walk(bool yes) noexcept {
    if (!initialised() || uv_is_closing(base()) != 0) return;
    if (yes && !hidden_ && (h_->loop->wq_async.flags & kLibuvInternalFlag) != 0 &&
        (h_->flags & kLibuvInternalFlag) == 0) {
      h_->flags |= kLibuvInternalFlag;
      hidden_ = true;
    } else if (!yes && hidden_) {
      h_->flags &= ~kLibuvInternalFlag;
      hidden_ = false;
    }
  }

  /// uv_close, once; true when a close callback is now owed to `on_closed`. A handle on
  /// its way out is visible to uv_walk (as closing) and to uv_loop_close, which then
  /// waits for it like for any other.
  bool close(uv_close_cb on_closed) noexcept {
    if (!initialised() || uv_is_closing(base()) != 0) return false;
    hide_from_walk(false);
    closed_by_us_ = true;
    uv_close(base(), on_closed);
    return true;
  }

 private:
  std::unique_ptr<T> h_;
  std::unique_ptr<T> fresh_;
  bool closed_by_us_ = false;
  bool hidden_ = false;  // the flag is set by us, not by libuv
};

}  // namespace uvreap::detail
