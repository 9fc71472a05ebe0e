// Minimal Node-API addon: flock(2) on an already-open descriptor.
// Embedded in the single executable as a SEA asset and loaded by src/store/lock.ts.
//
//   lock(fd)   -> true if LOCK_EX|LOCK_NB succeeded, false on EWOULDBLOCK;
//                 throws Error (code = errno name) on any other failure
//   (the lock is released by closing the descriptor, or by the kernel when the process dies)
//
// Built by scripts/build.mjs; Node-API is ABI-stable across Node versions.

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <node_api.h>

static napi_value throw_errno(napi_env env, int err, const char *syscall) {
  const char *code = err == EBADF ? "EBADF" : err == EINTR ? "EINTR"
                   : err == EINVAL ? "EINVAL" : err == ENOLCK ? "ENOLCK" : "EUNKNOWN";
  char msg[128];
  snprintf(msg, sizeof msg, "%s: %s", syscall, strerror(err));
  napi_throw_error(env, code, msg);
  return NULL;
}

static int get_fd(napi_env env, napi_callback_info info, int32_t *fd) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int32(env, argv[0], fd) != napi_ok || *fd < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "fd must be a non-negative integer");
    return 0;
  }
  return 1;
}

static napi_value Lock(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!get_fd(env, info, &fd)) return NULL;
  int r;
  do r = flock(fd, LOCK_EX | LOCK_NB); while (r != 0 && errno == EINTR);
  napi_value res;
  if (r == 0) { napi_get_boolean(env, 1, &res); return res; }
  if (errno == EWOULDBLOCK) { napi_get_boolean(env, 0, &res); return res; }
  return throw_errno(env, errno, "flock");
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "lock", NULL, Lock, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
