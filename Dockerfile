# The lane task image: the static `lane` binary, git (+ ssh) and CA certificates on a minimal
# base, run as a non-root user. Every Tekton step of the lane runs this image, pinned by digest.
#
#   docker build -t <registry>/lane:<commit> .      (or: buildah bud --layers -t … .)
#
# Without a Docker engine, scripts/build-image.sh assembles the same final image with buildah
# from a locally built binary.

# --- build: static musl binary (rustls + ring, no OpenSSL, no system certificate store) ---
FROM docker.io/library/rust:1.90-bookworm@sha256:3914072ca0c3b8aad871db9169a651ccfce30cf58303e5d6f2db16d1d8a7e58f AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
RUN cargo build --locked --release --target x86_64-unknown-linux-musl --bin lane \
 && install -D -m 0755 target/x86_64-unknown-linux-musl/release/lane /out/lane \
 && /out/lane --version

# --- final: git for fetch/push, CA bundle for the registry and Kubernetes API ---
FROM docker.io/library/alpine:3.22@sha256:14358309a308569c32bdc37e2e0e9694be33a9d99e68afb0f5ff33cc1f695dce
RUN apk add --no-cache git openssh-client openssh-keygen ca-certificates \
 && adduser -D -u 65532 -h /home/lane lane
COPY --from=build /out/lane /usr/local/bin/lane
ARG SOURCE_COMMIT=unknown
LABEL org.opencontainers.image.title="lane" \
      org.opencontainers.image.description="Version-lane CI/CD task image: plan, publish, render, promote, verify" \
      org.opencontainers.image.source="https://github.com/pikasTech/lane" \
      org.opencontainers.image.revision="${SOURCE_COMMIT}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
WORKDIR /home/lane
ENTRYPOINT ["/usr/local/bin/lane"]
CMD ["--help"]
