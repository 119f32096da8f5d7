#!/usr/bin/env bash
# A private Docker daemon for the workspace tests (host/workspace), with gVisor's `runsc`
# registered as runtime "runsc". Idempotent: installs what is missing, starts the daemon only if
# it does not answer, builds the test image only if it is missing. Prints nothing to stdout but
# `export DOCKER_HOST=...` on its last line, so `eval "$(.ci/dockerd.sh)"` works.
#
# runsc arguments (each checked against Debian's runsc 0.0~20221219 on this kernel):
#   --platform=ptrace  KVM is not available here (and --platform=kvm hangs); systrap is newer
#                      than this runsc.
#   --network=none     runsc's own netstack fails here ("cannot run with network enabled in
#                      root network namespace"); workspaces have no network device at all.
#   --host-uds=open    lets a container connect to a host Unix socket that is bind-mounted into
#                      it: the only way out is the egress proxy's socket (EPERM without it).
#   --oci-seccomp      applies Docker's seccomp profile inside the sandbox; runsc ignores it
#                      otherwise.
set -euo pipefail

SOCK=${STOCKADE_DOCKER_SOCK:-/run/stockade-docker.sock}
STATE=${STOCKADE_DOCKER_STATE:-/var/lib/stockade-docker}
RUN=${STOCKADE_DOCKER_RUN:-/run/stockade-docker}
IMAGE=${STOCKADE_TEST_IMAGE:-stockade/workspace-test:busybox}

log() { echo "dockerd.sh: $*" >&2; }

missing=()
for package in docker.io runsc busybox-static libc6-dev; do
  # libc6-dev: the static workspace helper links glibc's libc.a.
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  # Another apt-get may hold the lock for a while (CI installs other packages too).
  apt-get -o DPkg::Lock::Timeout=300 install -y -q "${missing[@]}" >&2
fi

mkdir -p "$STATE" "$RUN"
cat > "$RUN/daemon.json.new" <<JSON
{
  "runtimes": {
    "runsc": {
      "path": "$(command -v runsc)",
      "runtimeArgs": ["--platform=ptrace", "--network=none", "--host-uds=open", "--oci-seccomp"]
    }
  },
  "iptables": false,
  "ip-forward": false,
  "ip-masq": false,
  "bridge": "none",
  "log-driver": "json-file",
  "log-opts": {"max-size": "1m", "max-file": "1"}
}
JSON
mv "$RUN/daemon.json.new" "$RUN/daemon.json"

answers() { DOCKER_HOST="unix://$SOCK" docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if ! answers; then
  if [ -f "$RUN/dockerd.pid" ] && kill -0 "$(cat "$RUN/dockerd.pid")" 2>/dev/null; then
    log "dockerd (pid $(cat "$RUN/dockerd.pid")) does not answer yet"
  else
    # containerd: Debian's docker.io starts its own from dockerd when none is given.
    log "starting dockerd on unix://$SOCK (data $STATE, log $RUN/dockerd.log)"
    nohup setsid dockerd \
      --config-file "$RUN/daemon.json" \
      --data-root "$STATE" \
      --exec-root "$RUN/exec" \
      --pidfile "$RUN/dockerd.pid" \
      -H "unix://$SOCK" \
      >"$RUN/dockerd.log" 2>&1 </dev/null &
  fi
  for _ in $(seq 1 120); do
    answers && break
    sleep 0.5
  done
  if ! answers; then
    log "dockerd did not answer within 60 s; last lines of $RUN/dockerd.log:"
    tail -20 "$RUN/dockerd.log" >&2 || true
    exit 1
  fi
fi
DOCKER_HOST="unix://$SOCK" docker info --format '{{json .Runtimes}}' | grep -q '"runsc"' || {
  log "the daemon on $SOCK has no runsc runtime (was it started with another config?)"
  exit 1
}

# The tiny test image: busybox-static as the whole root filesystem.
if ! DOCKER_HOST="unix://$SOCK" docker image inspect "$IMAGE" >/dev/null 2>&1; then
  log "building $IMAGE from busybox-static"
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root/bin" "$root/tmp" "$root/workspace" "$root/etc" "$root/proc" "$root/sys" "$root/dev"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' > "$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
  tar -C "$root" -c . | DOCKER_HOST="unix://$SOCK" docker import \
    --change 'ENV PATH=/bin' --change 'CMD ["/bin/sh"]' - "$IMAGE" >&2
fi

echo "export DOCKER_HOST=unix://$SOCK"
