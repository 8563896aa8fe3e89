// Batched UDP I/O for the DNS tier (Linux): recvmmsg up to BATCH datagrams per syscall, hand the
// whole batch to JavaScript in ONE callback, then sendmmsg the replies. Compared with node:dgram this
// saves, per query, a libuv wake-up, a recvmsg, a JS callback with a fresh rinfo object and address
// string, and a sendto. It also opens the SO_REUSEPORT TCP listeners of DNS worker threads
// (tcpListen), which node:net cannot make in Node 20.
//
// Memory shared with JavaScript is one ArrayBuffer per socket, created by napi_create_arraybuffer
// (owned by JS, kept alive by a napi_ref while the socket is open). Its layout is exported as
// `layout` (byte offsets):
//   input          BATCH slots of SLOT_SIZE bytes: the received datagrams
//   output         BATCH slots of SLOT_SIZE bytes: the replies, written by JS
//   inputLengths   Int32[BATCH]: datagram length; -1 = dropped (truncated, unknown address family)
//   outputLengths  Int32[BATCH]: reply length written by JS; 0 = no reply (reset before each batch)
//   addresses      BATCH records of ADDRESS_STRIDE bytes: [0] family (4, 6, 0 = unknown),
//                  [2..3] port (big-endian), [4..7] IPv6 scope id (big-endian), [8..] address
//                  (4 or 16 bytes)
//   stats          Float64[STAT_COUNT]: counters (see STAT_* below), readable after close too
//
// Lifetime: bind() returns a plain object (`port`, `memory`) wrapping the native socket. While open
// the socket holds strong references to that object, the callback and the memory, so none can be
// collected under it. close() removes the wrap (so a second close is a no-op), stops polling, closes
// the fd at once (the port is free again when close returns, as with dgram) and frees the struct in
// the uv close callback. No batch is delivered after close, including when JS closes the socket from
// inside the batch callback.
#define _GNU_SOURCE
#include <node_api.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifdef __linux__
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define SLOT_SIZE 4096
#define ADDRESS_STRIDE 24
/** Batches handled per wake-up, so one busy socket cannot starve the event loop. */
#define MAX_BATCHES_PER_WAKE 4
#define SOCKET_BUFFER_BYTES (4 * 1024 * 1024)

#define OFF_INPUT 0
#define OFF_OUTPUT (OFF_INPUT + BATCH * SLOT_SIZE)
#define OFF_INPUT_LENGTHS (OFF_OUTPUT + BATCH * SLOT_SIZE)
#define OFF_OUTPUT_LENGTHS (OFF_INPUT_LENGTHS + BATCH * 4)
#define OFF_ADDRESSES (OFF_OUTPUT_LENGTHS + BATCH * 4)
#define OFF_STATS (OFF_ADDRESSES + BATCH * ADDRESS_STRIDE)

enum {
  STAT_RECEIVED,
  STAT_SENT,
  STAT_TRUNCATED_DROPS,
  STAT_SEND_ERRORS,
  STAT_SEND_DROPS,
  STAT_BATCHES,
  STAT_RECV_ERRORS,
  STAT_WAKES,
  STAT_COUNT
};

static const char *const STAT_NAMES[STAT_COUNT] = {
    "received", "sent", "truncatedDrops", "sendErrors", "sendDrops", "batches", "recvErrors", "wakes",
};

#define TOTAL_BYTES (OFF_STATS + STAT_COUNT * 8)

_Static_assert(OFF_STATS % 8 == 0, "stats must be 8-byte aligned");
_Static_assert(OFF_INPUT_LENGTHS % 4 == 0, "lengths must be 4-byte aligned");

typedef struct udpb_socket {
  uv_poll_t poll;
  int fd;
  int closing;
  napi_env env;
  napi_ref self_ref;
  napi_ref callback_ref;
  napi_ref memory_ref;
  napi_async_context async_context;
  /** Environment exit waits until this is removed (in the uv close callback). */
  napi_async_cleanup_hook_handle cleanup_handle;
  uint8_t *memory;
  int32_t *input_lengths;
  int32_t *output_lengths;
  uint8_t *addresses;
  double *stats;
  struct mmsghdr recv_msgs[BATCH];
  struct iovec recv_iov[BATCH];
  struct sockaddr_in6 names[BATCH];
  struct mmsghdr send_msgs[BATCH];
  struct iovec send_iov[BATCH];
} udpb_socket;

// ------------------------------------------------------------------------------------- errors

/** Throws an Error shaped like Node's own system errors: code 'EADDRINUSE', errno -98, syscall. */
static void throw_errno(napi_env env, int err, const char *syscall, const char *host, int port) {
  const char *code = uv_err_name(-err);
  char message[256];
  if (host != NULL)
    snprintf(message, sizeof message, "%s %s %s:%d", syscall, code, host, port);
  else
    snprintf(message, sizeof message, "%s %s", syscall, code);
  napi_value code_value, message_value, error, v;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_value) != napi_ok ||
      napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &message_value) != napi_ok ||
      napi_create_error(env, code_value, message_value, &error) != napi_ok) {
    napi_throw_error(env, code, message);
    return;
  }
  if (napi_create_int32(env, -err, &v) == napi_ok) napi_set_named_property(env, error, "errno", v);
  if (napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v) == napi_ok)
    napi_set_named_property(env, error, "syscall", v);
  if (host != NULL) {
    if (napi_create_string_utf8(env, host, NAPI_AUTO_LENGTH, &v) == napi_ok)
      napi_set_named_property(env, error, "address", v);
    if (napi_create_int32(env, port, &v) == napi_ok) napi_set_named_property(env, error, "port", v);
  }
  napi_throw(env, error);
}

static void throw_type_error(napi_env env, const char *message) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
}

/** Hands an exception left by the batch callback to Node (process 'uncaughtException'). */
static void report_pending_exception(napi_env env) {
  napi_value exception;
  if (napi_get_and_clear_last_exception(env, &exception) == napi_ok && exception != NULL)
    napi_fatal_exception(env, exception);
}

// ------------------------------------------------------------------------------------- closing

/**
 * The last step, in both paths: the async cleanup hook is removed only now, so an exiting
 * environment (e.g. a worker thread ending) keeps running its loop until this callback has run —
 * otherwise the callback could fire after the environment unloaded this library.
 */
static void on_handle_closed(uv_handle_t *handle) {
  udpb_socket *s = (udpb_socket *)handle->data;
  if (s->cleanup_handle != NULL) napi_remove_async_cleanup_hook(s->cleanup_handle);
  free(s);
}

/**
 * Stops delivery and releases the socket. `from_env_teardown`: called by the async cleanup hook (a
 * socket still open when its Node environment exits), where the async context is left alone:
 * destroying it would emit an async_hooks event into an environment that can no longer run JS.
 */
static void socket_close(udpb_socket *s, int from_env_teardown) {
  if (s->closing) return;
  s->closing = 1;
  napi_env env = s->env;
  napi_delete_reference(env, s->callback_ref);
  napi_delete_reference(env, s->memory_ref);
  napi_delete_reference(env, s->self_ref);
  if (!from_env_teardown) napi_async_destroy(env, s->async_context);
  s->memory = NULL;
  uv_poll_stop(&s->poll);
  // uv_close stops the watcher synchronously (the fd leaves epoll, pending events for it are
  // invalidated); after that libuv never touches the fd, so it is closed right away.
  uv_close((uv_handle_t *)&s->poll, on_handle_closed);
  close(s->fd);
  s->fd = -1;
}

/** The environment is exiting with the socket open: close it (a no-op when already closing). */
static void cleanup_hook(napi_async_cleanup_hook_handle handle, void *arg) {
  (void)handle; // removed by on_handle_closed
  socket_close((udpb_socket *)arg, 1);
}

// ------------------------------------------------------------------------------------- I/O

/** Copies the sender of slot i into the shared address area; returns 0 for an unknown family. */
static int store_address(udpb_socket *s, int i) {
  uint8_t *a = s->addresses + (size_t)i * ADDRESS_STRIDE;
  const struct sockaddr *sa = (const struct sockaddr *)&s->names[i];
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
    a[0] = 4;
    memcpy(a + 2, &sin->sin_port, 2);
    memset(a + 4, 0, 4);
    memcpy(a + 8, &sin->sin_addr, 4);
    return 1;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
    uint32_t scope = htonl(sin6->sin6_scope_id);
    a[0] = 6;
    memcpy(a + 2, &sin6->sin6_port, 2);
    memcpy(a + 4, &scope, 4);
    memcpy(a + 8, &sin6->sin6_addr, 16);
    return 1;
  }
  a[0] = 0;
  return 0;
}

/** Sends the replies of one batch; a failed message is skipped, EAGAIN drops the rest. */
static void send_replies(udpb_socket *s, int n) {
  int m = 0;
  uint8_t *output = s->memory + OFF_OUTPUT;
  for (int i = 0; i < n; i++) {
    int32_t len = s->output_lengths[i];
    if (len <= 0) continue;
    if (len > SLOT_SIZE) {
      s->stats[STAT_SEND_ERRORS] += 1;
      continue;
    }
    s->send_iov[m].iov_base = output + (size_t)i * SLOT_SIZE;
    s->send_iov[m].iov_len = (size_t)len;
    struct msghdr *h = &s->send_msgs[m].msg_hdr;
    h->msg_name = &s->names[i];
    h->msg_namelen = s->recv_msgs[i].msg_hdr.msg_namelen;
    h->msg_iov = &s->send_iov[m];
    h->msg_iovlen = 1;
    h->msg_control = NULL;
    h->msg_controllen = 0;
    h->msg_flags = 0;
    m++;
  }
  int done = 0;
  while (done < m) {
    int r = sendmmsg(s->fd, s->send_msgs + done, (unsigned int)(m - done), MSG_DONTWAIT);
    if (r > 0) {
      s->stats[STAT_SENT] += r;
      done += r;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // The send buffer is full: drop the rest of this batch (the clients retry).
      s->stats[STAT_SEND_DROPS] += m - done;
      return;
    }
    // This message cannot be sent (e.g. an unreachable or invalid destination): skip it.
    s->stats[STAT_SEND_ERRORS] += 1;
    done += 1;
  }
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  udpb_socket *s = (udpb_socket *)handle->data;
  if (s->closing) return;
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value self, callback, memory;
  bool detached = true;
  if (napi_get_reference_value(env, s->self_ref, &self) != napi_ok || self == NULL ||
      napi_get_reference_value(env, s->callback_ref, &callback) != napi_ok || callback == NULL ||
      napi_get_reference_value(env, s->memory_ref, &memory) != napi_ok || memory == NULL ||
      napi_is_detached_arraybuffer(env, memory, &detached) != napi_ok || detached) {
    // The shared memory is gone (transferred away): never touch it again, stop reading.
    uv_poll_stop(&s->poll);
    goto out;
  }
  s->stats[STAT_WAKES] += 1;
  if (status < 0 || (events & UV_READABLE) == 0) {
    s->stats[STAT_RECV_ERRORS] += 1;
    goto out;
  }
  for (int round = 0; round < MAX_BATCHES_PER_WAKE; round++) {
    for (int i = 0; i < BATCH; i++) {
      s->recv_msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
      s->recv_msgs[i].msg_hdr.msg_flags = 0;
    }
    int n;
    do {
      n = recvmmsg(s->fd, s->recv_msgs, BATCH, MSG_DONTWAIT, NULL);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) s->stats[STAT_RECV_ERRORS] += 1;
      break;
    }
    for (int i = 0; i < n; i++) {
      s->output_lengths[i] = 0;
      if (!store_address(s, i)) {
        s->input_lengths[i] = -1;
      } else if (s->recv_msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
        s->input_lengths[i] = -1;
        s->stats[STAT_TRUNCATED_DROPS] += 1;
      } else {
        s->input_lengths[i] = (int32_t)s->recv_msgs[i].msg_len;
      }
    }
    s->stats[STAT_RECEIVED] += n;
    s->stats[STAT_BATCHES] += 1;

    napi_value argv[1], result;
    if (napi_create_int32(env, n, &argv[0]) != napi_ok) break;
    napi_status st = napi_make_callback(env, s->async_context, self, callback, 1, argv, &result);
    int threw = 0;
    if (st == napi_pending_exception) {
      report_pending_exception(env);
      threw = 1;
    } else if (st != napi_ok) {
      break; // e.g. the environment is shutting down
    }
    // Closed by JS during the callback (or by an uncaughtException handler): deliver nothing more.
    if (s->closing) break;
    if (napi_is_detached_arraybuffer(env, memory, &detached) != napi_ok || detached) {
      uv_poll_stop(&s->poll);
      break;
    }
    send_replies(s, n);
    // Fewer than a full batch: the receive queue was empty (new data wakes the poll again).
    if (threw || n < BATCH) break;
  }
out:
  napi_close_handle_scope(env, scope);
}

// ------------------------------------------------------------------------------------- JS API

static udpb_socket *unwrap_socket(napi_env env, napi_callback_info info, napi_value *handle_out) {
  size_t argc = 1;
  napi_value argv[1];
  void *data = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return NULL;
  if (handle_out != NULL) *handle_out = argv[0];
  napi_valuetype t;
  if (napi_typeof(env, argv[0], &t) != napi_ok || t != napi_object) return NULL;
  if (napi_unwrap(env, argv[0], &data) != napi_ok) return NULL;
  return (udpb_socket *)data;
}

static int get_int_property(napi_env env, napi_value obj, const char *name, int32_t *out) {
  napi_value v;
  napi_valuetype t;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok) return 0;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return 0;
  return napi_get_value_int32(env, v, out) == napi_ok;
}

/**
 * Spreads the datagrams for the SO_REUSEPORT group `fd` belongs to across its first `group` sockets
 * at random, instead of by the kernel's hash of the sender's address and port. With the hash, a
 * few busy senders (a load generator with 4 sockets, a big public resolver) can all land on one
 * worker while the others idle; DNS over UDP needs no flow affinity. The program returns an index
 * into the group's sockets; an index past the last (a worker gone) makes the kernel fall back to
 * the hash. Attached to one socket, it applies to the whole group; each worker attaches the same.
 */
static int attach_random_spread(int fd, uint32_t group) {
#ifdef SO_ATTACH_REUSEPORT_CBPF
  struct sock_filter code[] = {
      {BPF_LD | BPF_W | BPF_ABS, 0, 0, (uint32_t)(SKF_AD_OFF + SKF_AD_RANDOM)},
      {BPF_ALU | BPF_MOD | BPF_K, 0, 0, group},
      {BPF_RET | BPF_A, 0, 0, 0},
  };
  struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog);
#else
  (void)fd;
  (void)group;
  errno = ENOPROTOOPT;
  return -1;
#endif
}

/**
 * `host` (an IP address text of `family`, IPv6 with an optional %zone) and `port` as a socket
 * address; 0, or EINVAL when the text is not such an address.
 */
static int parse_address(const char *host, size_t host_len, size_t host_size, int32_t family, int32_t port,
                         struct sockaddr_in6 *addr, socklen_t *addr_len) {
  memset(addr, 0, sizeof *addr);
  if (host_len >= host_size - 1) return EINVAL;
  if (family == 4) {
    struct sockaddr_in *sin = (struct sockaddr_in *)addr;
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) return EINVAL;
    *addr_len = sizeof(struct sockaddr_in);
    return 0;
  }
  char text[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  if (host_len >= sizeof text) return EINVAL;
  memcpy(text, host, host_len + 1);
  char *zone = strchr(text, '%');
  addr->sin6_family = AF_INET6;
  addr->sin6_port = htons((uint16_t)port);
  if (zone != NULL) {
    *zone++ = '\0';
    unsigned int index = if_nametoindex(zone);
    if (index == 0) {
      char *end = NULL;
      unsigned long numeric = strtoul(zone, &end, 10);
      if (end == zone || *end != '\0' || numeric == 0 || numeric > UINT32_MAX) return EINVAL;
      index = (unsigned int)numeric;
    }
    addr->sin6_scope_id = index;
  }
  if (inet_pton(AF_INET6, text, &addr->sin6_addr) != 1) return EINVAL;
  *addr_len = sizeof(struct sockaddr_in6);
  return 0;
}

/**
 * Reads `options.host`, makes it a socket address with `family` and `port`, and opens a
 * non-blocking socket of `type` for it (IPv6 sockets v6-only). The fd, or -1 with an exception
 * pending; `syscall` names the caller's operation in errors, `host` (of `host_size` bytes) receives
 * the host text for the caller's own errors.
 */
static int open_socket(napi_env env, napi_value options, int32_t family, int32_t port, int type,
                       const char *syscall, char *host, size_t host_size, struct sockaddr_in6 *addr,
                       socklen_t *addr_len) {
  size_t host_len = 0;
  napi_value v;
  if (napi_get_named_property(env, options, "host", &v) != napi_ok ||
      napi_get_value_string_utf8(env, v, host, host_size, &host_len) != napi_ok) {
    throw_type_error(env, "options.host must be a string");
    return -1;
  }
  if (parse_address(host, host_len, host_size, family, port, addr, addr_len) != 0) {
    throw_errno(env, EINVAL, syscall, host, port);
    return -1;
  }
  int fd = socket(family == 4 ? AF_INET : AF_INET6, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw_errno(env, errno, "socket", NULL, 0);
    return -1;
  }
  int one = 1;
  if (family == 6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) {
    int err = errno;
    close(fd);
    throw_errno(env, err, "setsockopt", NULL, 0);
    return -1;
  }
  return fd;
}

/**
 * tcpListen({ family, host, port, backlog }) → fd: a listening TCP socket with SO_REUSEPORT, for
 * `net.Server.listen({ fd })`. Worker threads cannot share a node:net listener (node:cluster shares
 * listeners between processes only, and Node 20's listen has no reusePort), so each DNS worker
 * thread opens its own on the shared port and the kernel spreads the connections across them.
 */
static napi_value js_tcp_listen(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  napi_valuetype t0 = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &t0);
  int32_t family = 0, port = -1, backlog = 511;
  char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  if (t0 != napi_object || !get_int_property(env, argv[0], "family", &family) || (family != 4 && family != 6) ||
      !get_int_property(env, argv[0], "port", &port) || port < 1 || port > 65535 ||
      !get_int_property(env, argv[0], "backlog", &backlog) || backlog < 1) {
    throw_type_error(env, "tcpListen: expected { family: 4 | 6, host, port: 1..65535, backlog: >= 1 }");
    return NULL;
  }
  struct sockaddr_in6 addr;
  socklen_t addr_len;
  int fd = open_socket(env, argv[0], family, port, SOCK_STREAM, "listen", host, sizeof host, &addr, &addr_len);
  if (fd < 0) return NULL;
  int one = 1;
  const char *step = "setsockopt";
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
      ((step = "bind"), bind(fd, (struct sockaddr *)&addr, addr_len) != 0) ||
      ((step = "listen"), listen(fd, backlog) != 0)) {
    int err = errno;
    close(fd);
    throw_errno(env, err, step, host, port);
    return NULL;
  }
  napi_value out;
  if (napi_create_int32(env, fd, &out) != napi_ok) {
    close(fd);
    return NULL;
  }
  return out;
}

/**
 * bind({ family, host, port, reusePort, spreadAcross }, onBatch) → { port, memory, spreading }
 * spreadAcross (reusePort only): the number of sockets in the group to spread packets across at
 * random (attach_random_spread); 0 or 1 keeps the kernel's flow hash. `spreading` says whether the
 * program was attached (best effort: a kernel without SO_ATTACH_REUSEPORT_CBPF keeps the hash).
 */
static napi_value js_bind(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  napi_valuetype t0 = napi_undefined, t1 = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &t0);
  if (argc >= 2) napi_typeof(env, argv[1], &t1);
  if (t0 != napi_object || t1 != napi_function) {
    throw_type_error(env, "bind(options, onBatch): expected an options object and a function");
    return NULL;
  }
  int32_t family = 0, port = -1, spread_across = 0;
  bool reuse_port = false, spreading = false;
  char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  napi_value v;
  if (!get_int_property(env, argv[0], "family", &family) || (family != 4 && family != 6) ||
      !get_int_property(env, argv[0], "port", &port) || port < 0 || port > 65535) {
    throw_type_error(env, "bind: options.family must be 4 or 6 and options.port 0..65535");
    return NULL;
  }
  if (napi_get_named_property(env, argv[0], "reusePort", &v) == napi_ok) {
    napi_valuetype tv;
    if (napi_typeof(env, v, &tv) == napi_ok && tv == napi_boolean) napi_get_value_bool(env, v, &reuse_port);
  }
  if (napi_get_named_property(env, argv[0], "spreadAcross", &v) == napi_ok) {
    napi_valuetype tv;
    if (napi_typeof(env, v, &tv) == napi_ok && tv != napi_undefined &&
        (!get_int_property(env, argv[0], "spreadAcross", &spread_across) || spread_across < 0 ||
         spread_across > 65535)) {
      throw_type_error(env, "bind: options.spreadAcross must be an integer 0..65535");
      return NULL;
    }
  }

  struct sockaddr_in6 addr;
  socklen_t addr_len;
  int fd = open_socket(env, argv[0], family, port, SOCK_DGRAM, "bind", host, sizeof host, &addr, &addr_len);
  if (fd < 0) return NULL;
  int one = 1;
  if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    int err = errno;
    close(fd);
    throw_errno(env, err, "setsockopt", NULL, 0);
    return NULL;
  }
  // Best effort: the FORCE variants need CAP_NET_ADMIN; the plain ones are capped by net.core.*mem_max.
  int bytes = SOCKET_BUFFER_BYTES;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0)
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) != 0)
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
  if (bind(fd, (struct sockaddr *)&addr, addr_len) != 0) {
    int err = errno;
    close(fd);
    throw_errno(env, err, "bind", host, port);
    return NULL;
  }
  struct sockaddr_in6 bound;
  socklen_t bound_len = sizeof bound;
  if (getsockname(fd, (struct sockaddr *)&bound, &bound_len) != 0) {
    int err = errno;
    close(fd);
    throw_errno(env, err, "getsockname", NULL, 0);
    return NULL;
  }
  int bound_port = ntohs(bound.sin6_port); // sin_port and sin6_port share their offset
  if (reuse_port && spread_across > 1) spreading = attach_random_spread(fd, (uint32_t)spread_across) == 0;

  // Everything JS-side is created before the poll handle, so a failure here only closes the fd.
  udpb_socket *s = calloc(1, sizeof *s);
  napi_value handle, memory, port_value, spreading_value, resource_name;
  void *memory_data = NULL;
  if (s == NULL) {
    close(fd);
    throw_errno(env, ENOMEM, "bind", host, port);
    return NULL;
  }
  if (napi_create_object(env, &handle) != napi_ok ||
      napi_create_arraybuffer(env, TOTAL_BYTES, &memory_data, &memory) != napi_ok ||
      napi_create_int32(env, bound_port, &port_value) != napi_ok ||
      napi_set_named_property(env, handle, "port", port_value) != napi_ok ||
      napi_set_named_property(env, handle, "memory", memory) != napi_ok ||
      napi_get_boolean(env, spreading, &spreading_value) != napi_ok ||
      napi_set_named_property(env, handle, "spreading", spreading_value) != napi_ok ||
      napi_create_string_utf8(env, "MeridianUdpBatch", NAPI_AUTO_LENGTH, &resource_name) != napi_ok) {
    free(s);
    close(fd);
    return NULL; // an exception is pending
  }
  s->fd = fd;
  s->env = env;
  s->memory = (uint8_t *)memory_data;
  memset(s->memory, 0, TOTAL_BYTES);
  s->input_lengths = (int32_t *)(s->memory + OFF_INPUT_LENGTHS);
  s->output_lengths = (int32_t *)(s->memory + OFF_OUTPUT_LENGTHS);
  s->addresses = s->memory + OFF_ADDRESSES;
  s->stats = (double *)(s->memory + OFF_STATS);
  for (int i = 0; i < BATCH; i++) {
    s->recv_iov[i].iov_base = s->memory + OFF_INPUT + (size_t)i * SLOT_SIZE;
    s->recv_iov[i].iov_len = SLOT_SIZE;
    s->recv_msgs[i].msg_hdr.msg_name = &s->names[i];
    s->recv_msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
    s->recv_msgs[i].msg_hdr.msg_iov = &s->recv_iov[i];
    s->recv_msgs[i].msg_hdr.msg_iovlen = 1;
  }
  if (napi_wrap(env, handle, s, NULL, NULL, NULL) != napi_ok) {
    free(s);
    close(fd);
    return NULL;
  }
  if (napi_create_reference(env, handle, 1, &s->self_ref) != napi_ok ||
      napi_create_reference(env, argv[1], 1, &s->callback_ref) != napi_ok ||
      napi_create_reference(env, memory, 1, &s->memory_ref) != napi_ok ||
      napi_async_init(env, handle, resource_name, &s->async_context) != napi_ok) {
    void *unused;
    napi_remove_wrap(env, handle, &unused);
    if (s->self_ref != NULL) napi_delete_reference(env, s->self_ref);
    if (s->callback_ref != NULL) napi_delete_reference(env, s->callback_ref);
    if (s->memory_ref != NULL) napi_delete_reference(env, s->memory_ref);
    free(s);
    close(fd);
    return NULL;
  }

  uv_loop_t *loop = NULL;
  int rc = napi_get_uv_event_loop(env, &loop) == napi_ok ? uv_poll_init(loop, &s->poll, fd) : UV_EINVAL;
  if (rc != 0) {
    void *unused;
    napi_remove_wrap(env, handle, &unused);
    napi_delete_reference(env, s->self_ref);
    napi_delete_reference(env, s->callback_ref);
    napi_delete_reference(env, s->memory_ref);
    napi_async_destroy(env, s->async_context);
    free(s);
    close(fd);
    throw_errno(env, -rc, "uv_poll_init", NULL, 0);
    return NULL;
  }
  s->poll.data = s;
  // From here on the socket is released by socket_close (uv_close → on_handle_closed).
  if (napi_add_async_cleanup_hook(env, cleanup_hook, s, &s->cleanup_handle) != napi_ok)
    s->cleanup_handle = NULL;
  rc = uv_poll_start(&s->poll, UV_READABLE, on_readable);
  if (rc != 0 || s->cleanup_handle == NULL) {
    void *unused;
    napi_remove_wrap(env, handle, &unused);
    socket_close(s, 0);
    throw_errno(env, rc != 0 ? -rc : ENOMEM, rc != 0 ? "uv_poll_start" : "napi_add_async_cleanup_hook", NULL, 0);
    return NULL;
  }
  return handle;
}

/** close(handle): idempotent. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value handle = NULL;
  udpb_socket *s = unwrap_socket(env, info, &handle);
  if (s == NULL) return NULL;
  void *unused;
  napi_remove_wrap(env, handle, &unused);
  socket_close(s, 0);
  return NULL;
}

static napi_value js_set_ref(napi_env env, napi_callback_info info, int ref) {
  udpb_socket *s = unwrap_socket(env, info, NULL);
  if (s == NULL || s->closing) return NULL;
  if (ref)
    uv_ref((uv_handle_t *)&s->poll);
  else
    uv_unref((uv_handle_t *)&s->poll);
  return NULL;
}

static napi_value js_ref(napi_env env, napi_callback_info info) {
  return js_set_ref(env, info, 1);
}

static napi_value js_unref(napi_env env, napi_callback_info info) {
  return js_set_ref(env, info, 0);
}

/** stats(handle) → { received, sent, … }; read from the shared memory, so also after close. */
static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], memory, out, v;
  void *data = NULL;
  size_t length = 0;
  bool is_ab = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  napi_valuetype t = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &t);
  if (t != napi_object || napi_get_named_property(env, argv[0], "memory", &memory) != napi_ok ||
      napi_is_arraybuffer(env, memory, &is_ab) != napi_ok || !is_ab ||
      napi_get_arraybuffer_info(env, memory, &data, &length) != napi_ok || length < TOTAL_BYTES) {
    throw_type_error(env, "stats(handle): expected a handle returned by bind");
    return NULL;
  }
  const double *stats = (const double *)((const uint8_t *)data + OFF_STATS);
  if (napi_create_object(env, &out) != napi_ok) return NULL;
  for (int i = 0; i < STAT_COUNT; i++) {
    if (napi_create_double(env, stats[i], &v) != napi_ok) return NULL;
    napi_set_named_property(env, out, STAT_NAMES[i], v);
  }
  return out;
}

/** ifIndexToName(index) → interface name, or undefined (for link-local client addresses). */
static napi_value js_if_index_to_name(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  uint32_t index = 0;
  char name[IF_NAMESIZE];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_uint32(env, argv[0], &index) != napi_ok)
    return NULL;
  if (index == 0 || if_indextoname(index, name) == NULL) return NULL;
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &out) != napi_ok) return NULL;
  return out;
}

static int set_int(napi_env env, napi_value obj, const char *name, int32_t value) {
  napi_value v;
  return napi_create_int32(env, value, &v) == napi_ok && napi_set_named_property(env, obj, name, v) == napi_ok;
}

static int set_function(napi_env env, napi_value obj, const char *name, napi_callback cb) {
  napi_value fn;
  return napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn) == napi_ok &&
         napi_set_named_property(env, obj, name, fn) == napi_ok;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value layout, yes, names, v;
  if (napi_get_boolean(env, true, &yes) != napi_ok ||
      napi_set_named_property(env, exports, "supported", yes) != napi_ok ||
      !set_int(env, exports, "batchSize", BATCH) || !set_int(env, exports, "slotSize", SLOT_SIZE) ||
      !set_int(env, exports, "addressStride", ADDRESS_STRIDE) || napi_create_object(env, &layout) != napi_ok ||
      !set_int(env, layout, "input", OFF_INPUT) || !set_int(env, layout, "output", OFF_OUTPUT) ||
      !set_int(env, layout, "inputLengths", OFF_INPUT_LENGTHS) ||
      !set_int(env, layout, "outputLengths", OFF_OUTPUT_LENGTHS) ||
      !set_int(env, layout, "addresses", OFF_ADDRESSES) || !set_int(env, layout, "stats", OFF_STATS) ||
      !set_int(env, layout, "total", TOTAL_BYTES) ||
      napi_set_named_property(env, exports, "layout", layout) != napi_ok ||
      napi_create_array_with_length(env, STAT_COUNT, &names) != napi_ok)
    return NULL;
  for (uint32_t i = 0; i < STAT_COUNT; i++) {
    if (napi_create_string_utf8(env, STAT_NAMES[i], NAPI_AUTO_LENGTH, &v) != napi_ok ||
        napi_set_element(env, names, i, v) != napi_ok)
      return NULL;
  }
  if (napi_set_named_property(env, exports, "statNames", names) != napi_ok ||
      !set_function(env, exports, "bind", js_bind) || !set_function(env, exports, "close", js_close) ||
      !set_function(env, exports, "stats", js_stats) || !set_function(env, exports, "ref", js_ref) ||
      !set_function(env, exports, "unref", js_unref) ||
      !set_function(env, exports, "ifIndexToName", js_if_index_to_name) ||
      !set_function(env, exports, "tcpListen", js_tcp_listen))
    return NULL;
  return exports;
}

#else /* !__linux__ */

/** Elsewhere the module loads but says it cannot help; the caller uses node:dgram. */
static napi_value init(napi_env env, napi_value exports) {
  napi_value no;
  if (napi_get_boolean(env, false, &no) != napi_ok ||
      napi_set_named_property(env, exports, "supported", no) != napi_ok)
    return NULL;
  return exports;
}

#endif /* __linux__ */

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
