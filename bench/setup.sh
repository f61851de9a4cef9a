#!/usr/bin/env bash
# Installs the peers the benchmarks compare against (Debian packages), once.
set -eu
need=()
/usr/bin/python3 -c 'import eventlet' 2>/dev/null || need+=(python3-eventlet)
/usr/bin/python3 -c 'import gevent' 2>/dev/null || need+=(python3-gevent)
/usr/bin/python3 -c 'import zmq' 2>/dev/null || need+=(python3-zmq) # bench/zmq.sh's eventlet peer
command -v wrk >/dev/null || need+=(wrk)
[ -f /usr/include/uv.h ] || need+=(libuv1-dev) # uv_echo.c, the C ceiling of bench/echo.sh
if [ ${#need[@]} -gt 0 ]; then
  echo "bench/setup.sh: installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
