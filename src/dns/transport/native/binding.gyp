# The DNS tier's native addons, plain C against Node-API: batched UDP I/O (udp_batch.c, Linux
# only) and read-only file mapping for the geo databases (map_file.c, POSIX); elsewhere each builds
# to a module exporting `supported: false`, and the tier falls back to node:dgram / reading files. Built by `npm ci` through the
# package's install script: node-gyp rebuild -C src/dns/native (output in build/, git-ignored).
{
  "targets": [
    {
      "target_name": "udp_batch",
      "sources": ["udp_batch.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra"],
      "configurations": {
        "Release": {
          "cflags": ["-O2"],
          "cflags!": ["-O3"]
        }
      }
    },
    {
      "target_name": "map_file",
      "sources": ["map_file.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra"],
      "configurations": {
        "Release": {
          "cflags": ["-O2"],
          "cflags!": ["-O3"]
        }
      }
    }
  ]
}
