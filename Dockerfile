# edgelog as a FROM scratch image: the compiled binary, exactly the shared libraries it links,
# and an empty /data volume. tests/faults/container_stop_test.ts runs the same layout (PID 1 in a
# fresh PID namespace, chroot into a rootfs holding only these files) and checks this file.

# ---- build: compile in the official Deno image (Debian, glibc) ----
FROM denoland/deno:debian-2.9.6 AS build
WORKDIR /src
COPY deno.json deno.lock main.ts ./
COPY lib ./lib
RUN deno task compile
# Fail the build if the binary links anything other than the libraries the final stage copies
# (keep this list and the COPY lines below in step; linux-vdso.so.1 comes from the kernel).
RUN ldd dist/edgelog | grep -o '/[^ ]*' | sort > /tmp/linked \
 && printf '%s\n' \
      /lib/x86_64-linux-gnu/libc.so.6 \
      /lib/x86_64-linux-gnu/libdl.so.2 \
      /lib/x86_64-linux-gnu/libgcc_s.so.1 \
      /lib/x86_64-linux-gnu/libm.so.6 \
      /lib/x86_64-linux-gnu/libpthread.so.0 \
      /lib/x86_64-linux-gnu/librt.so.1 \
      /lib64/ld-linux-x86-64.so.2 \
    | sort | diff -u - /tmp/linked
# The data directory, owned by the unprivileged user edgelog runs as, owner-only like the logger
# creates it.
RUN mkdir -p /out/data && chown 65532:65532 /out/data && chmod 0700 /out/data

# ---- final: nothing but the binary, its libraries and the data directory ----
FROM scratch
COPY --from=build /lib/x86_64-linux-gnu/libc.so.6 /lib/x86_64-linux-gnu/libc.so.6
COPY --from=build /lib/x86_64-linux-gnu/libdl.so.2 /lib/x86_64-linux-gnu/libdl.so.2
COPY --from=build /lib/x86_64-linux-gnu/libgcc_s.so.1 /lib/x86_64-linux-gnu/libgcc_s.so.1
COPY --from=build /lib/x86_64-linux-gnu/libm.so.6 /lib/x86_64-linux-gnu/libm.so.6
COPY --from=build /lib/x86_64-linux-gnu/libpthread.so.0 /lib/x86_64-linux-gnu/libpthread.so.0
COPY --from=build /lib/x86_64-linux-gnu/librt.so.1 /lib/x86_64-linux-gnu/librt.so.1
COPY --from=build /lib64/ld-linux-x86-64.so.2 /lib64/ld-linux-x86-64.so.2
COPY --from=build /src/dist/edgelog /edgelog
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV EDGELOG_DB=/data/edgelog.db
# The HEALTHCHECK asks the logger's own listener; loopback only, so nothing is exposed outside
# the container unless you set EDGELOG_LISTEN (and EDGELOG_HTTP_TOKEN) yourself.
ENV EDGELOG_LISTEN=127.0.0.1:9464
VOLUME ["/data"]
# edgelog is PID 1: it installs its SIGTERM handler first thing, commits, checkpoints and exits 0
# within its shutdown-timeout (8 s), before docker stop's SIGKILL at 10 s.
STOPSIGNAL SIGTERM
HEALTHCHECK CMD ["/edgelog","health"]
ENTRYPOINT ["/edgelog"]
