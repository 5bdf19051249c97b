#!/usr/bin/env bash
# Local services without Docker: `dev/services.sh up|down|status` for Kafka and PostgreSQL together.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
case "${1:-up}" in
  up) "$here/postgres.sh" up; "$here/kafka.sh" up ;;
  down) "$here/kafka.sh" down; "$here/postgres.sh" down ;;
  status) "$here/postgres.sh" status; "$here/kafka.sh" status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
