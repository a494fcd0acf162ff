#!/usr/bin/env bash
# Makes sure the services the tests use answer on loopback: PostgreSQL 5432, RabbitMQ 5672,
# Mosquitto 1883, NATS 4222, MariaDB 3306, Redis 6379. A service that does not accept a TCP
# connection is started with the command from shared/ci-services.md (as root) and waited for,
# at most TRELLIS_CI_SERVICE_WAIT_S (90) seconds. A service that stays down is a warning (exit 0):
# the tests that need it fail and say why. Used by .ci/run; run it by hand after a reboot.
set -euo pipefail
LOGS=${LOGS:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/test-output/ci}
mkdir -p "$LOGS"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi
}

# name|port|start command (from shared/ci-services.md), run as root when the port does not answer.
SERVICES=(
  "PostgreSQL|5432|pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start"
  "RabbitMQ|5672|rabbitmq-server -detached"
  "Mosquitto|1883|mosquitto -d -c /etc/mosquitto/mosquitto.conf"
  "NATS|4222|start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log"
  "MariaDB|3306|start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd"
  "Redis|6379|redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save \"\" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log"
)
SERVICE_WAIT_S=${TRELLIS_CI_SERVICE_WAIT_S:-90}

port_open() { timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

started=()
for entry in "${SERVICES[@]}"; do
  IFS='|' read -r name port cmd <<<"$entry"
  if port_open "$port"; then
    echo "$name: up on 127.0.0.1:$port"
  else
    echo "$name: down on 127.0.0.1:$port, starting: $cmd"
    # The daemon must not inherit CI's stdout, or whoever reads CI's output would wait for it.
    as_root bash -c "$cmd" </dev/null >>"$LOGS/service-$name.log" 2>&1 \
      || echo "$name: start command failed (exit $?); see $LOGS/service-$name.log"
    started+=("$entry")
  fi
done
service_problems=0
for entry in ${started[@]+"${started[@]}"}; do
  IFS='|' read -r name port _ <<<"$entry"
  deadline=$((SECONDS + SERVICE_WAIT_S))
  until port_open "$port"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "WARNING: $name still not answering on 127.0.0.1:$port after ${SERVICE_WAIT_S}s; tests that need it will fail."
      tail -20 "$LOGS/service-$name.log" 2>/dev/null || true
      service_problems=$((service_problems + 1))
      break
    fi
    sleep 1
  done
  port_open "$port" && echo "$name: answering on 127.0.0.1:$port"
done
[ "$service_problems" = 0 ] || echo "$service_problems service(s) not answering."
