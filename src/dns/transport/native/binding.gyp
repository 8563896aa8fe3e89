# The batched UDP addon of the DNS tier (udp_batch.c): plain C against Node-API, Linux only
# (elsewhere it builds to a module exporting `supported: false`). Built by `npm ci` through the
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
    }
  ]
}
