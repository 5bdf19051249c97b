#!/usr/bin/env bash
# PostgreSQL without Docker: Debian's package, a cluster run by pg_ctlcluster, a role and database for the
# project on 127.0.0.1:5432. Usage: dev/postgres.sh up|down|status. Idempotent; needs root (apt, su).
set -euo pipefail
db_user="${PG_USER:-issue_platform}"
db_pass="${PG_PASSWORD:-issue_platform}"
db_name="${PG_DATABASE:-issue_platform}"
port="${PG_PORT:-5432}"

as_postgres() { su postgres -s /bin/sh -c "$*"; }

install_if_missing() {
  if ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then return; fi
  echo "postgres: installing Debian's postgresql package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
}

cluster() {
  # The newest installed major version's "main" cluster; created if the package did not create one.
  local version
  version="$(ls /usr/lib/postgresql | sort -n | tail -1)"
  if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$version main"; then
    pg_createcluster "$version" main --port "$port" >/dev/null
  fi
  echo "$version main"
}

up() {
  install_if_missing
  read -r version name <<<"$(cluster)"
  if ! pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $4}' | grep -q online; then
    pg_ctlcluster "$version" "$name" start
  fi
  for _ in $(seq 1 60); do
    pg_isready -q -h 127.0.0.1 -p "$port" && break
    sleep 0.5
  done
  pg_isready -q -h 127.0.0.1 -p "$port" || { echo "postgres: not ready on 127.0.0.1:$port" >&2; exit 1; }
  as_postgres "psql -qtA -p $port -c \"SELECT 1 FROM pg_roles WHERE rolname='$db_user'\"" | grep -q 1 ||
    as_postgres "psql -q -p $port -c \"CREATE ROLE $db_user LOGIN PASSWORD '$db_pass' CREATEDB\""
  as_postgres "psql -qtA -p $port -c \"SELECT 1 FROM pg_database WHERE datname='$db_name'\"" | grep -q 1 ||
    as_postgres "psql -q -p $port -c \"CREATE DATABASE $db_name OWNER $db_user\""
  echo "postgres: ready, postgresql://$db_user:***@127.0.0.1:$port/$db_name"
}

down() {
  local version
  for version in $(ls /usr/lib/postgresql 2>/dev/null); do
    pg_ctlcluster "$version" main stop 2>/dev/null && echo "postgres: stopped" || true
  done
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  status) pg_isready -h 127.0.0.1 -p "$port" ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
