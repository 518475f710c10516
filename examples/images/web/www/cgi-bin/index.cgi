#!/bin/sh
# CGI behind /discover/: who answered, as one JSON object (hostname plus the
# ECS_, DOCKYARD_ and AWS_ variables the agent set). Single-line values only.
esc() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'; }
echo "Content-Type: application/json"
echo ""
printf '{"hostname": "%s", "path": "%s"' "$(esc "$(hostname)")" "$(esc "$REQUEST_URI")"
env | grep -E '^(ECS|DOCKYARD|AWS)_' | sort | while IFS='=' read -r k v; do
  printf ', "%s": "%s"' "$k" "$(esc "$v")"
done
printf '}\n'
