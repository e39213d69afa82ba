# syntax=docker/dockerfile:1
# shoal's container image: `docker build -t shoal:0.1.0 .`
#
# Builder: the Rust version must satisfy Cargo.toml's rust-version (tests/manifests.rs
# checks it). Dependencies compile in their own layer, against a stub crate, so that a
# change under src/ rebuilds only shoal itself.
FROM rust:1.89-slim-bookworm AS builder
WORKDIR /build
# Keep symbol names for backtraces and profiles, drop the rest of the debug info.
ENV CARGO_PROFILE_RELEASE_STRIP=debuginfo
COPY Cargo.toml Cargo.lock ./
# Stubs for every target Cargo.toml declares ([[bench]] paths must exist).
RUN mkdir -p src benches \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && for b in parse relabel remote_write wal; do echo 'fn main() {}' > "benches/$b.rs"; done \
 && cargo build --release --locked --bin shoal \
 && rm -rf src target/release/shoal target/release/deps/shoal-* \
      target/release/deps/libshoal-* target/release/.fingerprint/shoal-*
COPY src ./src
# COPY keeps the context's modification times, which can be older than the stub's build:
# touch, so cargo rebuilds shoal.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --bin shoal \
 && mkdir -p /out/data \
 && cp target/release/shoal /out/shoal

# Runtime: distroless/cc, not debian-slim: it has exactly what the binary needs (glibc,
# libgcc for unwinding, CA certificates for https scrapes and remote write, tzdata) and
# no shell or package manager to exploit; its `nonroot` user is 65532. Without a shell,
# reload the configuration with POST /-/reload (or SIGHUP from outside the container).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/shoal /usr/local/bin/shoal
COPY --from=builder --chown=65532:65532 /out/data /data
COPY examples/shoal.yml /etc/shoal/shoal.yml
USER 65532:65532
WORKDIR /data
# 9464/tcp: HTTP API, status page, /metrics. 7946/udp: cluster gossip.
EXPOSE 9464 7946/udp
ENTRYPOINT ["shoal"]
CMD ["--config.file=/etc/shoal/shoal.yml", "--storage.path=/data"]
