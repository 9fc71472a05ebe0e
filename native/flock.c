// Minimal Node-API addon: flock(2) on an already-open descriptor, waiting in the kernel up to a timeout.
// Embedded in the single executable as a SEA asset, loaded by src/base/native.ts; src/store/disk/lock.ts takes
// the network lock with it.
//
//   lock(fd, timeoutMs) -> true once LOCK_EX is held; false if it was not free within timeoutMs
//                          (timeoutMs 0: one LOCK_NB attempt); throws Error (code = errno name) otherwise
//   (the lock is released by closing the descriptor, or by the kernel when the process dies)
//   raisePriority() -> the nice value to go back to, once this thread runs 10 steps higher (never above
//                      -20); null when it may not (no CAP_SYS_NICE) or is at -20 already
//   setNice(n)      -> puts the nice value back (lowering a priority needs no privilege)
//
// Why raise the holder's priority: in a burst, the processes still starting up outnumber the one holding
// the lock, and the scheduler shares the CPU among all of them, so the holder's few milliseconds of work
// stretch while the ones queued behind it wait (a lock convoy). Raised while held, the holder finishes and
// passes the lock on at once.
//
// Why a blocking flock: a waiter asleep in the kernel gets the lock the moment its holder lets go. Polling
// LOCK_NB with sleeps leaves the lock idle while waiters sleep, and in a burst of 200 processes on 2 cores
// every wake-up costs a trip through the scheduler.
//
// How the wait is bounded: a POSIX timer aimed at this thread alone (SIGEV_THREAD_ID) sends a real-time
// signal whose handler does nothing and is installed without SA_RESTART, so flock returns EINTR.
// - Thread-directed, not setitimer/alarm: a process-wide SIGALRM may be delivered to any of Node's threads
//   (libuv pool, V8 platform workers) and would leave this one blocked.
// - A real-time signal Node does not use (it uses SIGUSR1 for the inspector, SIGPROF for --cpu-prof, SIGCHLD,
//   SIGWINCH, SIGINT/SIGTERM through libuv); the previous disposition and mask are restored before returning.
// - The timer re-fires every RETRY_NS after the deadline: a signal that lands just before flock is entered
//   is not lost, the next one interrupts it.
// - Not a helper thread blocked in flock with a timed condition wait: on timeout it could not be cancelled
//   and would take the lock later for a caller that has gone.
//
// Built by scripts/build.mjs; Node-API is ABI-stable across Node versions.

#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <node_api.h>

#define RETRY_NS (5 * 1000 * 1000)

static napi_value throw_errno(napi_env env, int err, const char *syscall) {
  const char *code = err == EBADF ? "EBADF" : err == EINTR ? "EINTR" : err == EINVAL ? "EINVAL"
                   : err == ENOLCK ? "ENOLCK" : err == EAGAIN ? "EAGAIN" : err == ENOMEM ? "ENOMEM" : "EUNKNOWN";
  char msg[128];
  snprintf(msg, sizeof msg, "%s: %s", syscall, strerror(err));
  napi_throw_error(env, code, msg);
  return NULL;
}

static void on_timer(int sig) { (void)sig; }

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}

// 1 when locked, 0 on timeout, -1 with errno set on failure.
static int lock_within(int fd, int64_t timeout_ms, const char **failed) {
  *failed = "flock";
  int r;
  do r = flock(fd, LOCK_EX | LOCK_NB); while (r != 0 && errno == EINTR);
  if (r == 0) return 1;
  if (errno != EWOULDBLOCK) return -1;
  if (timeout_ms <= 0) return 0;

  const int sig = SIGRTMIN + 3;
  struct sigaction sa, old_sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_timer;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0; // no SA_RESTART: the point is that flock returns EINTR
  if (sigaction(sig, &sa, &old_sa) != 0) { *failed = "sigaction"; return -1; }
  sigset_t set, old_mask;
  sigemptyset(&set);
  sigaddset(&set, sig);
  pthread_sigmask(SIG_UNBLOCK, &set, &old_mask);

  int result = -1, saved = 0;
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = sig;
  sev._sigev_un._tid = gettid();
  timer_t timer;
  if (timer_create(CLOCK_MONOTONIC, &sev, &timer) != 0) {
    saved = errno;
    *failed = "timer_create";
  } else {
    const long long deadline = now_ns() + timeout_ms * 1000000LL;
    struct itimerspec its = {
      .it_value = { .tv_sec = timeout_ms / 1000, .tv_nsec = (timeout_ms % 1000) * 1000000L },
      .it_interval = { .tv_sec = 0, .tv_nsec = RETRY_NS },
    };
    if (timer_settime(timer, 0, &its, NULL) != 0) {
      saved = errno;
      *failed = "timer_settime";
    } else {
      for (;;) {
        if (flock(fd, LOCK_EX) == 0) { result = 1; break; }
        if (errno != EINTR) { saved = errno; break; }
        // Any other signal also interrupts the wait: go back to it unless the deadline has passed.
        if (now_ns() >= deadline) {
          // The lock may have been released in the same instant: one last try without waiting.
          result = flock(fd, LOCK_EX | LOCK_NB) == 0 ? 1 : 0;
          break;
        }
      }
    }
    // Deleted before the handler is put back, so no late tick can meet the default action (terminate).
    timer_delete(timer);
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
  sigaction(sig, &old_sa, NULL);
  if (result < 0) errno = saved;
  return result;
}

static napi_value Lock(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd;
  int64_t timeout_ms;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 ||
      napi_get_value_int64(env, argv[1], &timeout_ms) != napi_ok || timeout_ms < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "lock(fd, timeoutMs) takes two non-negative integers");
    return NULL;
  }
  const char *failed;
  int r = lock_within(fd, timeout_ms, &failed);
  if (r < 0) return throw_errno(env, errno, failed);
  napi_value res;
  napi_get_boolean(env, r, &res);
  return res;
}

#define BOOST 10

static napi_value RaisePriority(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value res;
  errno = 0;
  int current = getpriority(PRIO_PROCESS, 0);
  int wanted = current - BOOST < -20 ? -20 : current - BOOST;
  if ((current == -1 && errno != 0) || wanted == current || setpriority(PRIO_PROCESS, 0, wanted) != 0) {
    napi_get_null(env, &res);
    return res;
  }
  napi_create_int32(env, current, &res);
  return res;
}

static napi_value SetNice(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t nice;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_int32(env, argv[0], &nice) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "setNice(n) takes an integer");
    return NULL;
  }
  if (setpriority(PRIO_PROCESS, 0, nice) != 0) return throw_errno(env, errno, "setpriority");
  return NULL;
}

// The socket calls of socket.c, in the same addon (one asset, one dlopen).
void register_socket(napi_env env, napi_value exports);

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "lock", NULL, Lock, NULL, NULL, NULL, napi_enumerable, NULL },
    { "raisePriority", NULL, RaisePriority, NULL, NULL, NULL, napi_enumerable, NULL },
    { "setNice", NULL, SetNice, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  register_socket(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
