// SO_PEERCRED for Node: the pid/uid/gid the kernel recorded for the process
// that connect()ed a Unix domain socket. Node-API only (ABI-stable), so one
// build loads under every Node release that has Node-API 8.

#ifndef _GNU_SOURCE
#define _GNU_SOURCE  // struct ucred
#endif

#include <napi.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <string>
#include <sys/socket.h>
#include <sys/types.h>

namespace {

// The errno names getsockopt(SO_PEERCRED) can produce (strerrorname_np is
// glibc >= 2.32 only, so keep our own short table).
const char* ErrnoName(int err) {
  switch (err) {
    case EBADF: return "EBADF";
    case ENOTSOCK: return "ENOTSOCK";
    case ENOTCONN: return "ENOTCONN";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case EINVAL: return "EINVAL";
    case EFAULT: return "EFAULT";
    case ENOMEM: return "ENOMEM";
    case ENOBUFS: return "ENOBUFS";
    default: return "EUNKNOWN";
  }
}

// An Error whose message names the call and the errno text, with `code` set to
// the errno name (EBADF, ENOTSOCK, ...) and `errno` to its number, like Node's
// own system errors.
Napi::Error SystemError(Napi::Env env, const char* syscall, int err) {
  std::string message = std::string("peercred: ") + syscall + " failed: " + std::strerror(err);
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, ErrnoName(err)));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("syscall", Napi::String::New(env, syscall));
  return error;
}

Napi::Value GetPeerCred(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "peercred: fd must be a number").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  double raw = info[0].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(raw) || raw < 0 || raw > 2147483647.0 || std::floor(raw) != raw) {
    Napi::TypeError::New(env, "peercred: fd must be a non-negative integer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = static_cast<int>(raw);

  struct ucred cred;
  std::memset(&cred, 0, sizeof(cred));
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    SystemError(env, "getsockopt(SO_PEERCRED)", errno).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (len != sizeof(cred)) {
    SystemError(env, "getsockopt(SO_PEERCRED)", EINVAL).ThrowAsJavaScriptException();
    return env.Undefined();
  }

  Napi::Object result = Napi::Object::New(env);
  result.Set("pid", Napi::Number::New(env, static_cast<double>(cred.pid)));
  result.Set("uid", Napi::Number::New(env, static_cast<double>(cred.uid)));
  result.Set("gid", Napi::Number::New(env, static_cast<double>(cred.gid)));
  return result;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("getPeerCred", Napi::Function::New(env, GetPeerCred, "getPeerCred"));
  return exports;
}

}  // namespace

NODE_API_MODULE(peercred, Init)
