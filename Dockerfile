# syntax=docker/dockerfile:1
# Protomesh: one image runs any service; the command picks it.
#
#   docker build -t protomesh .
#   docker run --rm -p 1883:1883 -p 8080:8080 protomesh                  # whole mesh, embedded backbone
#   docker run --rm -e NATS_URL=nats://nats:4222 protomesh mqtt-edge      # one tier on NATS
#
# Stages: manifests (package.json files + lock only, so `npm ci` stays cached while sources
# change) -> build (all deps, `tsc -b`) -> prod-deps (`npm ci --omit=dev` + compiled dist) ->
# runtime (node:20-bookworm-slim, non-root, read-only friendly).
# Pin the base by digest in CI: --build-arg NODE_IMAGE=node:20-bookworm-slim@sha256:...
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS manifests
WORKDIR /src
COPY . .
# Keep only what `npm ci` reads: the lock file and every workspace's package.json, in place.
RUN mkdir /out \
 && cp package.json package-lock.json /out/ \
 && find libs services -mindepth 2 -maxdepth 2 -name package.json -exec cp --parents {} /out/ \;

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY --from=manifests /out/ ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.base.json ./
COPY libs/ libs/
COPY services/ services/
# Build, then collect what each package ships (its package.json "files": dist, and assets such
# as ws-edge's public/) into /dist, laid out as in the repository, without declarations or
# build info. test-support is for tests only.
RUN npx tsc -b \
 && mkdir /dist \
 && for pkg in libs/* services/*; do \
      [ "$pkg" = libs/test-support ] && continue; \
      mkdir -p "/dist/$pkg"; \
      for f in $(node -p "(require('./$pkg/package.json').files || ['dist']).join(' ')"); do \
        cp -r "$pkg/$f" "/dist/$pkg/"; \
      done; \
    done \
 && find /dist \( -name '*.d.ts' -o -name '*.d.ts.map' -o -name '.tsbuildinfo' \) -delete

FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY --from=manifests /out/ ./
# Workspace packages are symlinked into node_modules/@protomesh, so the tree must keep this layout.
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --no-audit --no-fund
COPY --from=build /dist/ ./
COPY bin/ bin/

FROM ${NODE_IMAGE} AS runtime
LABEL org.opencontainers.image.title="protomesh" \
      org.opencontainers.image.description="Protocol bridge mesh: MQTT and WebSocket over NATS JetStream" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and not writable by the service user: the app never writes to its own tree,
# and Kubernetes runs it with a read-only root filesystem.
COPY --from=prod-deps /app/ ./
# The base image's `node` user, numeric so Kubernetes can verify runAsNonRoot.
USER 1000:1000
# MQTT, WebSocket, and the admin ports of mqtt-edge, ws-edge and bridge.
EXPOSE 1883 8080 9101 9102 9103
# Checks /healthz on the admin port of every service this container runs. The services are
# read from PID 1's command line (also under an init such as `docker run --init`); no service
# argument (or `all`) means all three. Admin ports come from the same variables the services
# read; set them as environment variables (not only in PROTOMESH_CONFIG) when you change them.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const a=require('fs').readFileSync('/proc/1/cmdline','utf8').split('\\0'),e=process.env,p={'mqtt-edge':e.MQTT_ADMIN_PORT||9101,'ws-edge':e.WS_ADMIN_PORT||9102,bridge:e.BRIDGE_ADMIN_PORT||9103},n=Object.keys(p).filter(s=>a.includes(s));Promise.all((n.length?n:Object.keys(p)).map(s=>fetch('http://127.0.0.1:'+p[s]+'/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>{if(!r.ok)throw new Error(s+' '+r.status)}))).then(()=>process.exit(0),x=>{console.error(String(x));process.exit(1)})"]
# Drain on SIGTERM takes up to SHUTDOWN_GRACE (default 10s) + 5s: give `docker stop -t 20`.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/protomesh.mjs"]
