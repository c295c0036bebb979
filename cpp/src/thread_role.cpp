// Thread roles (see thread_role.hpp).
#include "dftracer/utils/core/detail/thread_role.hpp"

namespace dftracer::utils {

namespace {
// constinit: read on wait paths without a TLS init guard.
constinit thread_local ThreadRole::Kind tls_kind = ThreadRole::Kind::none;
constinit thread_local const void* tls_owner = nullptr;
constinit thread_local ThreadRole::DeferredWork* tls_deferred = nullptr;
}  // namespace

ThreadRole::Scope::Scope(Kind kind, const void* owner, DeferredWork* deferred) noexcept {
  tls_kind = kind;
  tls_owner = owner;
  tls_deferred = deferred;
}

ThreadRole::Scope::~Scope() {
  tls_kind = Kind::none;
  tls_owner = nullptr;
  tls_deferred = nullptr;
}

ThreadRole::Kind ThreadRole::kind() noexcept { return tls_kind; }
const void* ThreadRole::owner() noexcept { return tls_owner; }
ThreadRole::DeferredWork* ThreadRole::deferred_work() noexcept { return tls_deferred; }

}  // namespace dftracer::utils
