# Finds a PostgreSQL server for the tests (scripts/test.sh) or the bench
# (scripts/bench.sh --postgres), or starts a throwaway one. Sourced, not run:
#     . scripts/find-postgres.sh tests|bench
# and exports, in this order of preference:
#   (a) TWILERT_TEST_POSTGRES_URL when it is set and answers;
#   (b) postgres://postgres@127.0.0.1:5432/test when it answers;
#   (c) a throwaway cluster from the machine's PostgreSQL binaries (initdb and
#       pg_ctl on PATH or under /usr/lib/postgresql/*/bin): a temp dir, a free
#       port on 127.0.0.1, trust auth, a database `test`; stopped and removed by
#       an EXIT trap of the shell that sourced this file (one left by a shell
#       killed with SIGKILL is stopped and removed by the next run). PostgreSQL
#       refuses to run as root, so as root the cluster runs as the `postgres`
#       user (or `nobody`);
#   (d) as root on Debian without those binaries: apt-get install postgresql, then (c);
#   (e) none of that possible: under CI=true (and always for the bench) an error;
#       otherwise a loud warning and TWILERT_TEST_POSTGRES=skip, which the
#       PostgreSQL tests obey by saying "SKIPPED: no PostgreSQL".
# TWILERT_TEST_POSTGRES=skip set beforehand skips the search (refused under CI=true).
# Mode `tests` runs a throwaway cluster with fsync off (speed; it dies with the
# run anyway); mode `bench` keeps PostgreSQL's durable defaults.
# Answers are checked with `psql -c 'select 1'` (the server's, or the one on
# PATH), or `pg_isready` when there is no psql.

twpg_mode=${1:-tests}
twpg_default=postgres://postgres@127.0.0.1:5432/test
twpg_dir=
twpg_bindir=
twpg_as=

twpg_say() { echo "find-postgres: $*" >&2; }

# The URL with its password replaced by `***` (for messages).
twpg_redact() { printf '%s' "$1" | sed -E 's#^([a-z]+://[^:/@]*):[^@]*@#\1:***@#'; }

# Whether a server answers at URL with a working login and database.
twpg_answers() {
    local psql pg_isready
    psql=$(command -v psql || true)
    pg_isready=$(command -v pg_isready || true)
    if [ -n "$twpg_bindir" ]; then
        [ -x "$twpg_bindir/psql" ] && psql=$twpg_bindir/psql
        [ -x "$twpg_bindir/pg_isready" ] && pg_isready=$twpg_bindir/pg_isready
    fi
    if [ -n "$psql" ]; then
        PGCONNECT_TIMEOUT=3 "$psql" "$1" -XAtqc 'select 1' >/dev/null 2>&1
    elif [ -n "$pg_isready" ]; then
        "$pg_isready" -q -t 3 -d "$1" >/dev/null 2>&1
    else
        return 1
    fi
}

# Sets twpg_bindir to the directory of initdb/pg_ctl/postgres (PATH first, then
# the newest /usr/lib/postgresql/N/bin); fails when there is none.
twpg_find_bindir() {
    local initdb candidate
    initdb=$(command -v initdb || true)
    if [ -n "$initdb" ]; then
        candidate=$(dirname "$(readlink -f "$initdb")")
        if [ -x "$candidate/pg_ctl" ] && [ -x "$candidate/postgres" ]; then
            twpg_bindir=$candidate
            return 0
        fi
    fi
    # The newest version first.
    for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
        if [ -x "$candidate/initdb" ] && [ -x "$candidate/pg_ctl" ] && [ -x "$candidate/postgres" ]; then
            twpg_bindir=$candidate
            return 0
        fi
    done
    return 1
}

twpg_stop() {
    if [ -n "$twpg_dir" ] && [ -d "$twpg_dir" ]; then
        $twpg_as "$twpg_bindir/pg_ctl" -D "$twpg_dir/data" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
        rm -rf "$twpg_dir"
        twpg_say "stopped and removed the throwaway cluster"
    fi
    twpg_dir=
}

# Stops and removes the throwaway clusters of shells that died without running
# their EXIT trap (SIGKILL): each directory names its shell in `owner`.
twpg_reap() {
    local d owner
    for d in /tmp/twilert-pg.*; do
        [ -f "$d/owner" ] || continue
        owner=$(cat "$d/owner" 2>/dev/null || true)
        if [ -n "$owner" ] && [ ! -d "/proc/$owner" ]; then
            if [ -f "$d/data/postmaster.pid" ]; then
                if [ "$(id -u)" = 0 ]; then
                    runuser -u "$(stat -c %U "$d/data")" -- "$twpg_bindir/pg_ctl" -D "$d/data" \
                        -m immediate -w -t 10 stop >/dev/null 2>&1 || true
                else
                    "$twpg_bindir/pg_ctl" -D "$d/data" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
                fi
            fi
            rm -rf "$d" && twpg_say "removed $d, left by a run that was killed"
        fi
    done
}

# Starts a throwaway cluster with the binaries in twpg_bindir; exports its URL.
twpg_start() {
    local user port try opts psql=$twpg_bindir/psql
    [ -x "$psql" ] || psql=$(command -v psql || echo psql)
    twpg_reap
    twpg_dir=$(mktemp -d /tmp/twilert-pg.XXXXXX)
    echo $$ >"$twpg_dir/owner"
    trap twpg_stop EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    twpg_as=
    if [ "$(id -u)" = 0 ]; then
        # initdb and postgres refuse to run as root (a superuser process must
        # not own the data directory): run them as an ordinary user.
        if id postgres >/dev/null 2>&1; then user=postgres; else user=nobody; fi
        chown "$user" "$twpg_dir"
        if ! command -v runuser >/dev/null 2>&1; then
            twpg_say "running as root needs runuser (util-linux) to start PostgreSQL as '$user'"
            return 1
        fi
        twpg_as="runuser -u $user --"
        twpg_say "running as root: the throwaway cluster runs as user '$user'"
    fi
    if ! $twpg_as "$twpg_bindir/initdb" -D "$twpg_dir/data" -U postgres -A trust -E UTF8 \
        --no-sync >"$twpg_dir/initdb.log" 2>&1; then
        twpg_say "initdb failed:"
        cat "$twpg_dir/initdb.log" >&2
        return 1
    fi
    opts="-c listen_addresses=127.0.0.1 -c unix_socket_directories=$twpg_dir -c max_connections=200"
    if [ "$twpg_mode" = tests ]; then
        opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    fi
    for try in 1 2 3 4 5; do
        # Below the tests' spare ports (20000-31999) and the kernel's ephemeral range.
        port=$(( 12000 + RANDOM % 8000 ))
        # Taken already? Then another.
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            continue
        fi
        if $twpg_as "$twpg_bindir/pg_ctl" -D "$twpg_dir/data" -l "$twpg_dir/server.log" \
            -o "-p $port $opts" -w -t 30 start >/dev/null 2>&1; then
            if "$psql" -h 127.0.0.1 -p "$port" -U postgres -XAtqc \
                'create database test' postgres >/dev/null; then
                export TWILERT_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/test"
                twpg_say "started a throwaway cluster ($("$twpg_bindir/postgres" --version)) in $twpg_dir: $TWILERT_TEST_POSTGRES_URL"
                return 0
            fi
            break
        fi
    done
    twpg_say "could not start a throwaway cluster; its log:"
    cat "$twpg_dir/server.log" >&2 2>/dev/null || true
    return 1
}

twpg_find() {
    local candidate=${TWILERT_TEST_POSTGRES_URL:-$twpg_default}
    if [ "$twpg_mode" = tests ] && [ "${TWILERT_TEST_POSTGRES:-}" = skip ]; then
        if [ "${CI:-}" = true ]; then
            twpg_say "TWILERT_TEST_POSTGRES=skip is not allowed under CI=true"
            return 1
        fi
        twpg_say "TWILERT_TEST_POSTGRES=skip: the PostgreSQL tests will be SKIPPED"
        return 0
    fi
    unset TWILERT_TEST_POSTGRES
    # (a), (b)
    twpg_find_bindir || true
    if twpg_answers "$candidate"; then
        export TWILERT_TEST_POSTGRES_URL=$candidate
        twpg_say "using $(twpg_redact "$candidate")"
        return 0
    fi
    if [ -n "${TWILERT_TEST_POSTGRES_URL:-}" ]; then
        twpg_say "TWILERT_TEST_POSTGRES_URL=$(twpg_redact "$candidate") does not answer; trying a throwaway cluster"
    else
        twpg_say "nothing answers at $candidate; trying a throwaway cluster"
    fi
    # (d)
    if [ -z "$twpg_bindir" ] && [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ] \
        && command -v apt-get >/dev/null 2>&1; then
        twpg_say "no PostgreSQL binaries; installing postgresql (apt-get)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null \
            || twpg_say "apt-get install postgresql failed"
        twpg_find_bindir || true
    fi
    # (c)
    if [ -n "$twpg_bindir" ]; then
        if twpg_start; then
            return 0
        fi
        twpg_stop
    else
        twpg_say "no PostgreSQL binaries (initdb, pg_ctl, postgres) on PATH or under /usr/lib/postgresql/*/bin"
    fi
    # (e)
    if [ "$twpg_mode" = bench ]; then
        twpg_say "the PostgreSQL bench needs a server: set TWILERT_TEST_POSTGRES_URL or install PostgreSQL (Debian: apt-get install postgresql)"
        return 1
    fi
    if [ "${CI:-}" = true ]; then
        twpg_say "CI=true and no PostgreSQL: set TWILERT_TEST_POSTGRES_URL, or install PostgreSQL's server binaries (Debian: apt-get install postgresql); the PostgreSQL tests are never skipped under CI"
        return 1
    fi
    unset TWILERT_TEST_POSTGRES_URL
    export TWILERT_TEST_POSTGRES=skip
    {
        echo "################################################################################"
        echo "# WARNING: no PostgreSQL found or startable: the PostgreSQL tests are SKIPPED. #"
        echo "# Set TWILERT_TEST_POSTGRES_URL, or install PostgreSQL (Debian: as root,       #"
        echo "# apt-get install postgresql, which this script does itself when run as root). #"
        echo "################################################################################"
    } >&2
    return 0
}

twpg_find
