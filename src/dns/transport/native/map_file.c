/*
 * Read-only memory mapping of a file for the DNS tier's geo databases (map_file.c), plain C against
 * Node-API. A mapped MaxMind DB lives in the page cache once, shared by the primary and every worker
 * process, instead of a private heap copy in each (45 MB per process for GeoLite2 City); this is
 * what libmaxminddb's default MMDB_MODE_MMAP does. The Buffer handed to JavaScript is external and
 * read-only: writing to it faults, and nothing in Meridian writes to a database image. The mapping
 * is released when the Buffer is garbage-collected.
 *
 * Worker threads share one process: each would map the file again, and every mapping's resident
 * pages count in the process's RSS once more. So mappings are kept in a process-wide table keyed by
 * the file's identity (device, inode, size, mtime); a thread asking for a file already mapped gets
 * a Buffer over the same pages, and the mapping goes when the last of those Buffers is collected.
 *
 * As with libmaxminddb, a mapped file must be replaced atomically (write a new file, rename it over
 * the old one): truncating a mapped file in place makes reads of the lost pages fault (SIGBUS).
 * Linux and other POSIX systems; elsewhere the module exports `supported: false`.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define MAP_FILE_SUPPORTED 1
#ifdef __APPLE__
#define MTIME(st) ((st)->st_mtimespec)
#else
#define MTIME(st) ((st)->st_mtim)
#endif
#else
#define MAP_FILE_SUPPORTED 0
#endif

#define PATH_MAX_BYTES 4096

static napi_value throw_error(napi_env env, const char *what, const char *path, int err) {
  char message[PATH_MAX_BYTES + 256];
  snprintf(message, sizeof message, "%s %s: %s", what, path, strerror(err));
  napi_throw_error(env, err == ENOENT ? "ENOENT" : "EMAPFILE", message);
  return NULL;
}

#if MAP_FILE_SUPPORTED
/* One mapping of one file version, shared by the Buffers of every thread that mapped it. */
typedef struct mapping {
  struct mapping *next;
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime;
  void *data;
  size_t refs;
} mapping;

static mapping *mappings = NULL;
static pthread_mutex_t mappings_lock = PTHREAD_MUTEX_INITIALIZER;

static int same_file(const mapping *m, const struct stat *st) {
  return m->dev == st->st_dev && m->ino == st->st_ino && m->size == st->st_size &&
         m->mtime.tv_sec == MTIME(st).tv_sec && m->mtime.tv_nsec == MTIME(st).tv_nsec;
}

static void release(napi_env env, void *data, void *hint) {
  (void)env;
  (void)data;
  mapping *m = hint;
  pthread_mutex_lock(&mappings_lock);
  int last = --m->refs == 0;
  if (last) {
    for (mapping **p = &mappings; *p != NULL; p = &(*p)->next)
      if (*p == m) {
        *p = m->next;
        break;
      }
  }
  pthread_mutex_unlock(&mappings_lock);
  if (last) {
    munmap(m->data, (size_t)m->size);
    free(m);
  }
}

/* The file's mapping, from the table or new, with one more reference; NULL with errno set. */
static mapping *acquire(int fd, const struct stat *st) {
  pthread_mutex_lock(&mappings_lock);
  mapping *m = mappings;
  while (m != NULL && !same_file(m, st)) m = m->next;
  if (m == NULL) {
    void *data = mmap(NULL, (size_t)st->st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (data != MAP_FAILED && (m = calloc(1, sizeof *m)) == NULL) {
      munmap(data, (size_t)st->st_size);
      errno = ENOMEM;
    } else if (m != NULL) {
      *m = (mapping){.next = mappings, .dev = st->st_dev, .ino = st->st_ino, .size = st->st_size,
                     .mtime = MTIME(st), .data = data, .refs = 0};
      mappings = m;
    }
  }
  if (m != NULL) m->refs++;
  pthread_mutex_unlock(&mappings_lock);
  return m;
}

/* mapFile(path: string): Buffer — the whole file, mapped read-only and shared. */
static napi_value map_file(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) {
    napi_throw_type_error(env, NULL, "mapFile(path) needs a path");
    return NULL;
  }
  char path[PATH_MAX_BYTES];
  size_t length = 0;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &length) != napi_ok ||
      length == 0 || length >= sizeof path - 1) {
    napi_throw_type_error(env, NULL, "mapFile(path): path must be a non-empty string");
    return NULL;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return throw_error(env, "cannot open", path, errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return throw_error(env, "cannot stat", path, err);
  }
  if (!S_ISREG(st.st_mode) || st.st_size <= 0) {
    close(fd);
    return throw_error(env, "cannot map (not a non-empty regular file)", path, EINVAL);
  }
  mapping *m = acquire(fd, &st);
  int err = errno;
  close(fd); /* the mapping keeps the file's pages; the descriptor is not needed */
  if (m == NULL) return throw_error(env, "cannot map", path, err);
  napi_value buffer;
  if (napi_create_external_buffer(env, (size_t)m->size, m->data, release, m, &buffer) != napi_ok) {
    release(env, m->data, m);
    napi_throw_error(env, "EMAPFILE", "cannot wrap the mapping in a Buffer");
    return NULL;
  }
  return buffer;
}

#endif

NAPI_MODULE_INIT() {
  napi_value supported;
  napi_get_boolean(env, MAP_FILE_SUPPORTED, &supported);
  napi_set_named_property(env, exports, "supported", supported);
#if MAP_FILE_SUPPORTED
  napi_value fn;
  napi_create_function(env, "mapFile", NAPI_AUTO_LENGTH, map_file, NULL, &fn);
  napi_set_named_property(env, exports, "mapFile", fn);
#endif
  return exports;
}
