#!/usr/bin/env bash
# A replicated control plane on one machine, and the loss of its leader under load:
# `dockyard up --ha` (PostgreSQL + three servers + two Docker agents on loopback), the
# walkthrough's `auth` service (4 tasks) behind a load balancer, requests through it in
# the background, a rolling update to auth v2, `kill -9` of the leader in its middle.
# Prints who leads before and after, how long the takeover took and how many requests
# failed (expected: 0). Leaves everything running: `dockyard down` stops it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
walk="$root/examples/walkthrough"
export PATH="$root/.venv/bin:$PATH"
PORT=${PORT:-8080}             # servers on PORT, PORT+1, PORT+2
LB_PORT=${LB_PORT:-8000}
DATA_DIR=${DATA_DIR:-.dockyard}
CLUSTER=${CLUSTER:-stage01}
LOAD_S=${LOAD_S:-120}          # the background load stops after this many seconds at most
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-dockyard} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-dockyard}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1} AWS_PAGER=""
endpoints=("http://127.0.0.1:$PORT" "http://127.0.0.1:$((PORT + 1))" "http://127.0.0.1:$((PORT + 2))")
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

# The leader's name and a live follower's endpoint, from `dockyard status`.
leader() { dockyard --endpoint "$1" -o json status | python3 -c \
  'import json,sys; print(next((s["name"] for s in json.load(sys.stdin)["servers"] if s["leader"]), ""))'; }
follower_of() { dockyard --endpoint "$1" -o json status | python3 -c \
  'import json,sys; print(next(s["url"] for s in json.load(sys.stdin)["servers"] if s["alive"] and not s["leader"]))'; }

step "1. dockyard up --ha: PostgreSQL, three servers, two agents"
dockyard up --ha --data-dir "$DATA_DIR" --port "$PORT" --cluster "$CLUSTER" --agents 2
api=$(follower_of "${endpoints[0]}")   # talk to a follower: it survives the leader's death
aws() { command aws --endpoint-url "$api" "$@"; }
echo "API calls go to $api"

step "2. auth (4 tasks) behind a load balancer on :$LB_PORT"
aws ecs register-task-definition --cli-input-json "file://$walk/auth-taskdef.json" --query taskDefinition.revision
tg=$(aws elbv2 describe-target-groups --names ha-auth --query 'TargetGroups[0].TargetGroupArn' --output text 2>/dev/null) ||
tg=$(aws elbv2 create-target-group --name ha-auth --protocol HTTP --port 10080 --target-type instance \
  --health-check-interval-seconds 5 --health-check-timeout-seconds 2 \
  --healthy-threshold-count 2 --unhealthy-threshold-count 2 \
  --query 'TargetGroups[0].TargetGroupArn' --output text)
aws elbv2 modify-target-group-attributes --target-group-arn "$tg" \
  --attributes Key=deregistration_delay.timeout_seconds,Value=5 >/dev/null
lb=$(aws elbv2 describe-load-balancers --names ha --query 'LoadBalancers[0].LoadBalancerArn' --output text 2>/dev/null) ||
lb=$(aws elbv2 create-load-balancer --name ha --type application --scheme internal \
  --query 'LoadBalancers[0].LoadBalancerArn' --output text)
if [ "$(aws elbv2 describe-listeners --load-balancer-arn "$lb" --query 'length(Listeners)')" = "0" ]; then
  aws elbv2 create-listener --load-balancer-arn "$lb" --protocol HTTP --port "$LB_PORT" \
    --default-actions "Type=forward,TargetGroupArn=$tg" --query 'Listeners[0].ListenerArn' --output text
fi
sed -e "s#TARGET_GROUP_ARN#$tg#" -e 's#"desiredCount": [0-9]*#"desiredCount": 4#' \
  -e "s#\"cluster\": \"[^\"]*\"#\"cluster\": \"$CLUSTER\"#" "$walk/auth-service.json" > "$work/service.json"
if [ "$(aws ecs describe-services --cluster "$CLUSTER" --services auth --query 'services[0].status' --output text)" != "ACTIVE" ]; then
  aws ecs create-service --cli-input-json "file://$work/service.json" --query 'service.serviceName' --output text
fi
aws ecs wait services-stable --cluster "$CLUSTER" --services auth
url="http://127.0.0.1:$LB_PORT/"
for _ in $(seq 1 60); do curl -fsS "$url" >/dev/null 2>&1 && break; sleep 1; done
curl -sS "$url"

step "3. requests through the load balancer in the background (at most ${LOAD_S}s)"
(
  end=$((SECONDS + LOAD_S)); ok=0; failed=0
  while [ $SECONDS -lt $end ] && [ ! -e "$work/stop" ]; do
    if curl -fsS -m 5 "$url" >/dev/null 2>&1; then ok=$((ok + 1)); else failed=$((failed + 1)); fi
    sleep 0.05
  done
  echo "$ok $failed" > "$work/load"
) &
load_pid=$!

step "4. rolling update to auth v2, then kill -9 of the leader in its middle"
aws ecs register-task-definition --cli-input-json "file://$walk/auth-taskdef-v2.json" --query taskDefinition.revision
v2=$(aws ecs describe-task-definition --task-definition auth --query taskDefinition.taskDefinitionArn --output text)
aws ecs update-service --cluster "$CLUSTER" --service auth --task-definition "$v2" --query service.taskDefinition --output text
for _ in $(seq 1 120); do   # until a v2 task runs beside the v1 ones
  arns=$(aws ecs list-tasks --cluster "$CLUSTER" --service-name auth --query taskArns --output text)
  # shellcheck disable=SC2086  # one argument per ARN
  revisions=$(aws ecs describe-tasks --cluster "$CLUSTER" --tasks $arns --output text \
    --query 'tasks[?lastStatus==`RUNNING`].taskDefinitionArn' | tr '\t' '\n' | sort -u | wc -l)
  [ "$revisions" -ge 2 ] && break; sleep 0.5
done
old=$(leader "$api")
dockyard --endpoint "$api" status
echo "kill -9 $old (pid $(cat "$DATA_DIR/pids/$old.pid"))"
kill -9 "$(cat "$DATA_DIR/pids/$old.pid")"
killed=$SECONDS
new=""
for _ in $(seq 1 100); do
  new=$(leader "$api"); [ -n "$new" ] && [ "$new" != "$old" ] && break; sleep 0.2
done
echo "new leader: $new (after about $((SECONDS - killed)) s)"
dockyard --endpoint "$api" status

step "5. the rollout completes under the new leader"
aws ecs wait services-stable --cluster "$CLUSTER" --services auth
aws ecs describe-services --cluster "$CLUSTER" --services auth \
  --query 'services[0].{running:runningCount,deployments:deployments[].[status,taskDefinition,rolloutState]}'
sleep 2; touch "$work/stop"; wait "$load_pid"
read -r ok failed < "$work/load"
echo "requests through the load balancer: $ok succeeded, $failed failed"
curl -sS "$url"
printf '\nStill running. Restart the killed server with `dockyard up --ha --data-dir %s --port %s`,\nor stop everything with `dockyard down --data-dir %s`.\n' "$DATA_DIR" "$PORT" "$DATA_DIR"
