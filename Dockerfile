# syntax=docker/dockerfile:1
# Meridian as a container image. Two stages: `build` has the toolchain (python3, make, g++) that
# node-gyp needs for the DNS tier's UDP addon and for re2, runs `npm ci` (which builds dist/ through
# the prepare script), packs the package and installs that tarball exactly as an operator would
# (`npm install -g`); the slim runtime stage copies only the installed package, no compiler, no
# sources, no devDependencies.
#
#   docker build -t meridian .
#   docker run -d --name meridian -p 53:53/udp -p 53:53/tcp -p 127.0.0.1:8053:8053 \
#     -e MERIDIAN_API_TOKEN=change-me-please -v meridian-state:/var/lib/meridian meridian
#
# Port 53 as a non-root user: Docker (>= 20.10) sets net.ipv4.ip_unprivileged_port_start=0 in a
# container's own network namespace, so the `meridian` user may bind it without any capability. With
# --network host, or an engine/orchestrator that does not set that sysctl, either pass
# `--sysctl net.ipv4.ip_unprivileged_port_start=53`, or listen on an unprivileged port
# (-e MERIDIAN_DNS_LISTEN=0.0.0.0:5353 and publish 53:5353). `--cap-add NET_BIND_SERVICE` alone does
# not help a non-root process: Docker gives added capabilities to root only (no ambient set).

FROM node:20-bookworm-slim AS build
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src/ src/
COPY config/ config/
COPY geo-data/ geo-data/
COPY README.md CHANGELOG.md ./
# npm ci builds the addon (install script) and dist/ (prepare); pack then needs no second build.
RUN npm ci --no-audit --no-fund \
  && npm pack --ignore-scripts --pack-destination /tmp \
  && npm install -g --no-audit --no-fund --prefix /opt/meridian /tmp/meridian-gslb-*.tgz \
  && test -f /opt/meridian/lib/node_modules/meridian-gslb/src/dns/transport/native/build/Release/udp_batch.node \
  && test -f /opt/meridian/lib/node_modules/meridian-gslb/src/dns/transport/native/build/Release/map_file.node

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
  PATH=/opt/meridian/bin:$PATH \
  MERIDIAN_DNS_LISTEN=0.0.0.0:53 \
  MERIDIAN_API_LISTEN=0.0.0.0:8053 \
  MERIDIAN_STATE_FILE=/var/lib/meridian/state.json
RUN groupadd --system meridian \
  && useradd --system --gid meridian --home-dir /var/lib/meridian --shell /usr/sbin/nologin meridian \
  && install -d -o meridian -g meridian -m 0750 /var/lib/meridian \
  && install -d -m 0755 /etc/meridian
COPY --from=build /opt/meridian /opt/meridian
USER meridian
WORKDIR /var/lib/meridian
VOLUME ["/var/lib/meridian"]
# DNS (UDP and TCP) and the admin API. The API's writes need MERIDIAN_API_TOKEN; publish 8053 on
# loopback (or behind a TLS proxy) only.
EXPOSE 53/udp 53/tcp 8053
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8053/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Without --config, `meridian serve` reads /var/lib/meridian/config/meridian.yaml if mounted there,
# else the example shipped in the package (with the MERIDIAN_* overrides above). Mount your own
# file and pass it: `docker run … meridian meridian serve --config /etc/meridian/meridian.yaml`.
CMD ["meridian", "serve"]
