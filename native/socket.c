// Blocking stream sockets for the single executable's calls to etcd: a CNI process makes one or two requests
// and exits, and loading node:net with its stream machinery costs a fresh process more than the round trips
// themselves (docs/cluster.md, docs/performance.md). Every call is bounded by a timeout (poll), so a member that accepts and
// never answers costs the caller its share of the budget, as with node:net.
//
//   connect(host, port, timeoutMs) -> fd      host: an IPv4 or IPv6 literal, or an absolute unix socket path
//                                             (port ignored); non-blocking socket, TCP_NODELAY
//   send(fd, buffer, timeoutMs)               writes all of it
//   recv(fd, timeoutMs) -> Buffer             what arrived (empty: the peer closed)
//   idle(fd) -> boolean                       true while the connection is open with nothing to read: a
//                                             pooled socket the peer closed, or wrote to, is not reused
//   close(fd)
// Failures throw an Error whose code is the errno name (ETIMEDOUT when the timeout passed).

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <node_api.h>

static napi_value fail(napi_env env, int err, const char *what) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  const char *code = err == ETIMEDOUT ? "ETIMEDOUT" : err == ECONNREFUSED ? "ECONNREFUSED" : err == ECONNRESET ? "ECONNRESET"
                   : err == EPIPE ? "EPIPE" : err == ENOENT ? "ENOENT" : err == EACCES ? "EACCES" : err == EHOSTUNREACH ? "EHOSTUNREACH"
                   : err == ENETUNREACH ? "ENETUNREACH" : err == EADDRNOTAVAIL ? "EADDRNOTAVAIL" : err == EINVAL ? "EINVAL"
                   : err == EAGAIN ? "EAGAIN" : err == ENOTCONN ? "ENOTCONN" : err == ECONNABORTED ? "ECONNABORTED" : "EIO";
  napi_throw_error(env, code, msg);
  return NULL;
}

static long long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

// 0 once fd is ready for `events`, -1 with errno set (ETIMEDOUT after timeout_ms).
static int wait_for(int fd, short events, long long deadline) {
  for (;;) {
    long long left = deadline - now_ms();
    if (left <= 0) { errno = ETIMEDOUT; return -1; }
    struct pollfd p = { .fd = fd, .events = events };
    int r = poll(&p, 1, left > 2147483647LL ? 2147483647 : (int)left);
    if (r > 0) return 0;
    if (r < 0 && errno != EINTR) return -1;
  }
}

static int args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  return napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc >= want;
}

static napi_value Connect(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  char host[256];
  size_t len;
  int32_t port;
  int64_t timeout_ms;
  if (!args(env, info, 3, argv) || napi_get_value_string_utf8(env, argv[0], host, sizeof host, &len) != napi_ok || len >= sizeof host - 1 ||
      napi_get_value_int32(env, argv[1], &port) != napi_ok || napi_get_value_int64(env, argv[2], &timeout_ms) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "connect(host, port, timeoutMs)");
    return NULL;
  }
  struct sockaddr_storage sa;
  socklen_t sa_len;
  memset(&sa, 0, sizeof sa);
  struct sockaddr_in *v4 = (struct sockaddr_in *)&sa;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&sa;
  struct sockaddr_un *un = (struct sockaddr_un *)&sa;
  if (host[0] == '/') {
    if (len >= sizeof un->sun_path) return fail(env, EINVAL, "connect");
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, host, len + 1);
    sa_len = sizeof *un;
  } else if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    sa_len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    sa_len = sizeof *v6;
  } else {
    return fail(env, EINVAL, "connect: not an address literal");
  }
  long long deadline = now_ms() + timeout_ms;
  int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(env, errno, "socket");
  if (sa.ss_family != AF_UNIX) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  if (connect(fd, (struct sockaddr *)&sa, sa_len) != 0) {
    int err = errno;
    // For AF_UNIX, EAGAIN is a full backlog: not connected, nothing will be (unlike TCP's EINPROGRESS).
    if (err == EINPROGRESS || err == EINTR) {
      int so = 0;
      socklen_t so_len = sizeof so;
      if (wait_for(fd, POLLOUT, deadline) != 0) err = errno;
      else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &so_len) != 0) err = errno;
      else err = so;
    }
    if (err != 0) {
      close(fd);
      return fail(env, err, "connect");
    }
  }
  napi_value res;
  napi_create_int32(env, fd, &res);
  return res;
}

static napi_value Send(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t fd;
  int64_t timeout_ms;
  void *data;
  size_t len;
  if (!args(env, info, 3, argv) || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok || napi_get_value_int64(env, argv[2], &timeout_ms) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "send(fd, buffer, timeoutMs)");
    return NULL;
  }
  long long deadline = now_ms() + timeout_ms;
  for (size_t off = 0; off < len;) {
    ssize_t n = send(fd, (char *)data + off, len - off, MSG_NOSIGNAL);
    if (n > 0) { off += (size_t)n; continue; }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) return fail(env, errno, "send");
    if (wait_for(fd, POLLOUT, deadline) != 0) return fail(env, errno, "send");
  }
  return NULL;
}

static napi_value Recv(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  int64_t timeout_ms;
  if (!args(env, info, 2, argv) || napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int64(env, argv[1], &timeout_ms) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "recv(fd, timeoutMs)");
    return NULL;
  }
  long long deadline = now_ms() + timeout_ms;
  char buf[65536];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n >= 0) {
      napi_value res;
      void *copy;
      napi_create_buffer_copy(env, (size_t)n, buf, &copy, &res);
      return res;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return fail(env, errno, "recv");
    if (wait_for(fd, POLLIN, deadline) != 0) return fail(env, errno, "recv");
  }
}

static napi_value Idle(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!args(env, info, 1, argv) || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "idle(fd)");
    return NULL;
  }
  char c;
  ssize_t n;
  do n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT); while (n < 0 && errno == EINTR);
  napi_value res;
  napi_get_boolean(env, n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK), &res);
  return res;
}

static napi_value Close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (args(env, info, 1, argv) && napi_get_value_int32(env, argv[0], &fd) == napi_ok && fd >= 0) close(fd);
  return NULL;
}

void register_socket(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "connect", NULL, Connect, NULL, NULL, NULL, napi_enumerable, NULL },
    { "send", NULL, Send, NULL, NULL, NULL, napi_enumerable, NULL },
    { "recv", NULL, Recv, NULL, NULL, NULL, napi_enumerable, NULL },
    { "idle", NULL, Idle, NULL, NULL, NULL, napi_enumerable, NULL },
    { "close", NULL, Close, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
