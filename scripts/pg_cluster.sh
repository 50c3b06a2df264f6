#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests: scripts/pg_cluster.sh start|stop|url DIR | run CMD...
#
#   start DIR  initdb in DIR (created if missing), start the server listening on a Unix
#              socket in DIR and on 127.0.0.1 at a free port, print its URL on stdout
#              (postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable). The server
#              also takes TLS (ssl=on) with a certificate for 127.0.0.1 signed by a CA made
#              for it: DIR/ssl/ca.pem (DIR/ssl/other-ca.pem is an unrelated CA, for tests
#              of a wrong CA). Needs the openssl command; O365_PG_SSL=0 starts without TLS.
#   url DIR    print the URL of the cluster running in DIR.
#   ca DIR     print the path of the CA file of the cluster in DIR (empty without TLS).
#   stop DIR   stop the server and delete DIR.
#   run CMD... start a cluster in a new temporary directory, run CMD with O365_TEST_PG_URL
#              set to its URL (and O365_TEST_PG_CA to its CA file, when it has TLS), stop it
#              and delete the directory (also when CMD fails or is interrupted); exits with
#              CMD's status. With O365_TEST_PG_URL already set, CMD just runs against that
#              server.
#
# Runs as the invoking user; as root (initdb refuses root) the cluster runs as the
# `postgres` system user, which owns DIR. Trust authentication, loopback only: tests only.
set -euo pipefail

cmd=${1:-}
if [[ $cmd == run ]]; then
    shift
    if [[ $# -eq 0 ]]; then
        echo "usage: $0 run CMD [ARGS...]" >&2
        exit 2
    fi
    if [[ -n ${O365_TEST_PG_URL:-} ]]; then
        exec "$@"
    fi
    tmp=$(mktemp -d /tmp/o365-pg.XXXXXX)
    trap '"$0" stop "$tmp"' EXIT
    trap 'exit 130' INT TERM
    O365_TEST_PG_URL=$("$0" start "$tmp")
    export O365_TEST_PG_URL
    if [[ -f $tmp/ssl/ca.pem ]]; then
        export O365_TEST_PG_CA=$tmp/ssl/ca.pem
    fi
    echo "pg_cluster: PostgreSQL for the tests at $O365_TEST_PG_URL" >&2
    rc=0
    "$@" || rc=$?
    exit "$rc"
fi
dir=${2:-}
if [[ -z $cmd || -z $dir ]]; then
    echo "usage: $0 start|stop|url|ca DIR, or $0 run CMD [ARGS...]" >&2
    exit 2
fi

bindir=""
for d in /usr/lib/postgresql/*/bin; do
    [[ -x $d/initdb ]] && bindir=$d
done
if [[ -z $bindir ]] && command -v initdb >/dev/null; then
    bindir=$(dirname "$(command -v initdb)")
fi
if [[ -z $bindir ]]; then
    echo "pg_cluster: no PostgreSQL server found (initdb); install it with 'make deps'" \
        "(Debian: apt-get install postgresql)" >&2
    exit 1
fi

as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# A CA and a server certificate for 127.0.0.1 signed by it, and an unrelated CA, in DIR/ssl.
make_certs() {
    local ssl=$dir/ssl
    mkdir -p "$ssl"
    (
        cd "$ssl"
        for ca in ca other-ca; do
            openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=o365 test $ca" \
                -keyout "$ca.key" -out "$ca.pem" -addext basicConstraints=critical,CA:TRUE \
                -addext keyUsage=critical,keyCertSign,cRLSign
        done
        openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server.key -out server.csr
        printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile server.ext -out server.crt
    ) >"$dir/ssl.log" 2>&1 || {
        cat "$dir/ssl.log" >&2
        exit 1
    }
    chmod 600 "$ssl/server.key"
    if [[ $(id -u) -eq 0 ]]; then
        chown -R postgres: "$ssl"
    fi
}

url_of() {
    local port
    port=$(cat "$dir/port")
    echo "postgres://postgres@127.0.0.1:${port}/postgres?sslmode=disable"
}

case $cmd in
start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [[ $(id -u) -eq 0 ]]; then
        if ! id postgres >/dev/null 2>&1; then
            echo "pg_cluster: running as root needs the 'postgres' system user" \
                "(created by Debian's postgresql package)" >&2
            exit 1
        fi
        chown postgres: "$dir"
        # The server must be able to reach DIR: its parents need search permission.
        p=$dir
        while [[ $p != / ]]; do
            p=$(dirname "$p")
            if ! runuser -u postgres -- test -x "$p"; then
                echo "pg_cluster: the postgres user cannot enter '$p'; use a DIR under /tmp" >&2
                exit 1
            fi
        done
    fi
    if [[ ! -f $dir/data/PG_VERSION ]]; then
        as_owner "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 \
            --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
            cat "$dir/initdb.log" >&2
            exit 1
        }
    fi
    ssl_opts=""
    if [[ ${O365_PG_SSL:-1} != 0 ]]; then
        if ! command -v openssl >/dev/null; then
            echo "pg_cluster: no openssl command: the server starts without TLS (install it with" \
                "'make deps'; Debian: apt-get install openssl)" >&2
        else
            [[ -f $dir/ssl/server.crt ]] || make_certs
            ssl_opts="-c ssl=on -c ssl_cert_file=$dir/ssl/server.crt -c ssl_key_file=$dir/ssl/server.key"
        fi
    fi
    # A free port: try random ones until the server binds one (another cluster may hold it).
    started=""
    for _ in 1 2 3 4 5 6 7 8; do
        port=$((20000 + RANDOM % 40000))
        echo "$port" >"$dir/port"
        if as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=300 \
                -c fsync=off -c synchronous_commit=off -c full_page_writes=off $ssl_opts" >/dev/null; then
            started=1
            break
        fi
    done
    if [[ -z $started ]]; then
        cat "$dir/server.log" >&2
        exit 1
    fi
    url_of
    ;;
url)
    url_of
    ;;
ca)
    if [[ -f $dir/ssl/ca.pem ]]; then
        echo "$dir/ssl/ca.pem"
    fi
    ;;
stop)
    if [[ -f $dir/data/postmaster.pid ]]; then
        as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start|stop|url|ca DIR, or $0 run CMD [ARGS...]" >&2
    exit 2
    ;;
esac
