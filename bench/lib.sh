# Shared by the bench scripts (sourced after they cd to the repository root).

# A TCP port nobody listens on now, on 127.0.0.1.
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

# Waits until something accepts connections on 127.0.0.1:PORT, for at most
# TRIES x 0.1 s (default 50); the measurement after it tells if nothing came.
wait_port() {
  local port=$1 tries=${2:-50}
  for _ in $(seq "$tries"); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0; sleep 0.1; done
}

# Starts CMD... on core 0 (stdout dropped, stderr to ERRFILE) and waits until
# it accepts on PORT. SERVER_PID is the server's own pid (taskset execs it), so
# stop_server ends the server itself, not a subshell around it.
start_server() {
  local port=$1 err=$2; shift 2
  taskset -c 0 "$@" >/dev/null 2>"$err" &
  SERVER_PID=$!
  wait_port "$port"
}
stop_server() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null; }

# The median of the numbers on stdin, one per line (nothing for no input).
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]}'; }

# The figure named $1 in the tab-separated results file $out.
val() { awk -F'\t' -v k="$1" '$1==k {print $2}' "$out"; }
# Prints "$1 = a/b" for figures $2 and $3 of $out (nothing when one is missing);
# RATIO_DIGITS decimals (2 unless set).
ratio() { awk -v a="$(val "$2")" -v b="$(val "$3")" -v n="$1" -v d="${RATIO_DIGITS:-2}" 'BEGIN { if (a && b) printf "%s = %.*f\n", n, d, a / b }'; }

# A self-signed certificate for localhost / 127.0.0.1 in DIR (key.pem, cert.pem).
localhost_cert() {
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
    -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
    -keyout "$1/key.pem" -out "$1/cert.pem" >/dev/null 2>&1 || { echo "openssl failed" >&2; exit 1; }
}
