# modelrelay as a container: the headless router (no desktop feature) as a non-root user, its
# config and key file on a named volume. `docker compose up -d --build`, then open the address
# with `?token=…` that the log prints once (the admin token of a network bind).
#
# Build stage: the Rust toolchain on Debian 12 slim. The runtime stage is Debian 12 slim too,
# so the binary runs against the glibc it was linked with.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin modelrelay \
 && install -m 0755 target/release/modelrelay /usr/local/bin/modelrelay

FROM debian:bookworm-slim
# ca-certificates for HTTPS to the providers; curl for the HEALTHCHECK.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /data --create-home --shell /usr/sbin/nologin modelrelay
COPY --from=build /usr/local/bin/modelrelay /usr/local/bin/modelrelay
# The config and the key file (no keychain in a container) live on the volume. Binding every
# interface inside the container applies the network-bind rules: the page and /api need the
# admin token, /v1 needs `routerApiKey` (or the key made at the first start), both printed once.
ENV HOME=/data \
    MODELRELAY_CONFIG=/data/modelrelay.json \
    MODELRELAY_KEY_STORE=file \
    MODELRELAY_BIND=0.0.0.0 \
    MODELRELAY_PORT=7352
VOLUME ["/data"]
USER modelrelay
WORKDIR /data
EXPOSE 7352
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["curl", "-fsS", "http://127.0.0.1:7352/health"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["modelrelay", "--headless"]
