# edgelog as a multi-arch FROM scratch image (linux/amd64, linux/arm64): the compiled binary,
# exactly the shared libraries it links, Debian's static tini as PID 1, and an empty /data volume.
#   docker buildx build --platform linux/amd64,linux/arm64 -t edgelog .
# tests/faults/container_stop_test.ts runs the same layout (PID 1 in a fresh PID namespace,
# chroot into a rootfs holding only these files, for both architectures) and checks this file.

# ---- build: compile in the official Deno image (Debian, glibc), for the target architecture ----
# Pinned to the exact Deno release. To pin the bytes too, append the digest that
# `docker buildx imagetools inspect denoland/deno:debian-2.9.6` prints (@sha256:…).
FROM denoland/deno:debian-2.9.6 AS build
ARG TARGETARCH
# tini-static: a static init for PID 1 (see the ENTRYPOINT).
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY deno.json deno.lock main.ts ./
COPY lib ./lib
# The compile task stamps lib/build_time.ts first; without .git here it keeps the committed date.
COPY scripts/stamp_build_time.ts ./scripts/
# The lockfile is frozen: the build fails instead of resolving different npm packages.
RUN deno cache --frozen main.ts lib/serve/read_worker.ts
RUN deno task compile
# The libraries the binary links, per architecture (linux-vdso.so.1 comes from the kernel). The
# build fails if ldd lists anything else; the same list is copied into the image.
RUN case "$TARGETARCH" in \
      amd64) libs="/lib/x86_64-linux-gnu/libc.so.6 /lib/x86_64-linux-gnu/libdl.so.2 /lib/x86_64-linux-gnu/libgcc_s.so.1 /lib/x86_64-linux-gnu/libm.so.6 /lib/x86_64-linux-gnu/libpthread.so.0 /lib/x86_64-linux-gnu/librt.so.1 /lib64/ld-linux-x86-64.so.2" ;; \
      arm64) libs="/lib/aarch64-linux-gnu/libc.so.6 /lib/aarch64-linux-gnu/libdl.so.2 /lib/aarch64-linux-gnu/libgcc_s.so.1 /lib/aarch64-linux-gnu/libm.so.6 /lib/aarch64-linux-gnu/libpthread.so.0 /lib/ld-linux-aarch64.so.1" ;; \
      *) echo "unsupported TARGETARCH=$TARGETARCH (amd64 or arm64)" >&2; exit 1 ;; \
    esac \
 && ldd dist/edgelog | grep -o '/[^ ]*' | sort > /tmp/linked \
 && printf '%s\n' $libs | sort | diff -u - /tmp/linked \
 && for lib in $libs; do mkdir -p "/out/rootfs$(dirname "$lib")" && cp -L "$lib" "/out/rootfs$lib"; done \
 && cp /usr/bin/tini-static /out/rootfs/tini \
 && cp dist/edgelog /out/rootfs/edgelog
# The data directory, owned by the unprivileged user edgelog runs as, owner-only like the logger
# creates it.
RUN mkdir -p /out/data && chown 65532:65532 /out/data && chmod 0700 /out/data

# ---- final: nothing but tini, the binary, its libraries and the data directory ----
FROM scratch
COPY --from=build /out/rootfs/ /
COPY --from=build --chown=65532:65532 /out/data /data
LABEL org.opencontainers.image.title="edgelog" \
      org.opencontainers.image.description="Durable sensor data logger for edge devices (SQLite WAL, ordered shutdown, forwarding)" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.documentation="README.md, docs/SECURITY.md and docs/RELIABILITY.md in the source"
USER 65532:65532
ENV EDGELOG_DB=/data/edgelog.db
# The HEALTHCHECK asks the logger's own listener; loopback only, so nothing is exposed outside
# the container unless you set EDGELOG_LISTEN (and EDGELOG_HTTP_TOKEN) yourself.
ENV EDGELOG_LISTEN=127.0.0.1:9464
VOLUME ["/data"]
# tini is PID 1: the kernel drops a signal to PID 1 that has no handler, and the runtime needs
# ~100 ms before edgelog's handler exists. tini blocks signals from its first instructions and
# passes them on to edgelog, which commits, checkpoints and exits 0 within its shutdown-timeout
# (8 s), before docker stop's SIGKILL at 10 s. A SIGTERM that reaches edgelog before its handler
# ends it before it opened anything (status 143); -e 143 reports that stop as the success it is.
# tini also reaps the orphans of exec sources' commands.
STOPSIGNAL SIGTERM
HEALTHCHECK --start-period=10s --interval=30s --timeout=5s --retries=3 CMD ["/edgelog","health"]
ENTRYPOINT ["/tini","-e","143","--","/edgelog"]
