#!/bin/sh
# CGI behind /discover/: who answered, as one JSON object: hostname, the ECS_,
# DOCKYARD_ and AWS_ variables the agent set (single-line values only), and under
# "task" what the task metadata endpoint says about this task (ARN, family, revision,
# containers and their port bindings), as the ECS guide's /discover.php reads it from
# ${ECS_CONTAINER_METADATA_URI_V4}/task.
esc() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'; }
echo "Content-Type: application/json"
echo ""
printf '{"hostname": "%s", "path": "%s"' "$(esc "$(hostname)")" "$(esc "$REQUEST_URI")"
env | grep -E '^(ECS|DOCKYARD|AWS)_' | sort | while IFS='=' read -r k v; do
  printf ', "%s": "%s"' "$k" "$(esc "$v")"
done
if [ -n "$ECS_CONTAINER_METADATA_URI_V4" ]; then
  # `timeout`, not wget's -T: that option crashes Debian's static busybox wget.
  task="$(timeout 2 wget -qO- "$ECS_CONTAINER_METADATA_URI_V4/task" 2>/dev/null | tr -d '\n')"
  case "$task" in
    "{"*"}") printf ', "task": %s' "$task" ;;
  esac
fi
printf '}\n'
