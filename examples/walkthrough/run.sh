#!/usr/bin/env bash
# The walkthrough, replayed with the aws CLI against a local Dockyard:
# cluster stage01 with two hosts, services `auth` (default route, container port 10080)
# and `random` (/random/*, container port 10081) behind one application load balancer,
# dynamic host ports, health checks on the traffic port, then a rolling update of auth.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export PATH="$root/.venv/bin:$PATH"
export DOCKYARD_ENDPOINT=${DOCKYARD_ENDPOINT:-http://127.0.0.1:8080}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-dockyard} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-dockyard}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1} AWS_PAGER=""
LB_PORT=${LB_PORT:-8000}
aws() { command aws --endpoint-url "$DOCKYARD_ENDPOINT" "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

step "1. cluster stage01 and two agents (127.0.1.1, 127.0.1.2)"
dockyard up --cluster stage01 --agents 2 --port "${DOCKYARD_ENDPOINT##*:}" >/dev/null
aws ecs create-cluster --cluster-name stage01 --query cluster.clusterArn --output text
aws ecs describe-clusters --clusters stage01 \
  --query 'clusters[0].{status:status,registeredContainerInstancesCount:registeredContainerInstancesCount}'

step "2. task definitions (hostPort 0: dynamic host ports)"
aws ecs register-task-definition --cli-input-json "file://$here/auth-taskdef.json" \
  --query 'taskDefinition.[family,revision]' --output text
aws ecs register-task-definition --cli-input-json "file://$here/random-taskdef.json" \
  --query 'taskDefinition.[family,revision]' --output text

step "3. target groups with health checks on the traffic port"
tg_auth=$(aws elbv2 describe-target-groups --names auth --query 'TargetGroups[0].TargetGroupArn' --output text 2>/dev/null) ||
tg_auth=$(aws elbv2 create-target-group --name auth --protocol HTTP --port 10080 --target-type instance \
  --health-check-protocol HTTP --health-check-port traffic-port --health-check-path / \
  --health-check-interval-seconds 5 --health-check-timeout-seconds 2 \
  --healthy-threshold-count 2 --unhealthy-threshold-count 2 \
  --query 'TargetGroups[0].TargetGroupArn' --output text)
tg_random=$(aws elbv2 describe-target-groups --names random --query 'TargetGroups[0].TargetGroupArn' --output text 2>/dev/null) ||
tg_random=$(aws elbv2 create-target-group --name random --protocol HTTP --port 10081 --target-type instance \
  --health-check-protocol HTTP --health-check-port traffic-port --health-check-path /random/health \
  --health-check-interval-seconds 5 --health-check-timeout-seconds 2 \
  --healthy-threshold-count 2 --unhealthy-threshold-count 2 \
  --query 'TargetGroups[0].TargetGroupArn' --output text)
for tg in "$tg_auth" "$tg_random"; do
  aws elbv2 modify-target-group-attributes --target-group-arn "$tg" \
    --attributes Key=deregistration_delay.timeout_seconds,Value=5 >/dev/null
done
echo "$tg_auth"; echo "$tg_random"

step "4. load balancer, listener :$LB_PORT (default: auth) and rule /random/* -> random"
lb=$(aws elbv2 describe-load-balancers --names walkthrough --query 'LoadBalancers[0].LoadBalancerArn' --output text 2>/dev/null) ||
lb=$(aws elbv2 create-load-balancer --name walkthrough --type application --scheme internal \
  --query 'LoadBalancers[0].LoadBalancerArn' --output text)
listener=$(aws elbv2 describe-listeners --load-balancer-arn "$lb" --query "Listeners[?Port==\`$LB_PORT\`].ListenerArn | [0]" --output text)
if [ "$listener" = "None" ] || [ -z "$listener" ]; then
  listener=$(aws elbv2 create-listener --load-balancer-arn "$lb" --protocol HTTP --port "$LB_PORT" \
    --default-actions "Type=forward,TargetGroupArn=$tg_auth" --query 'Listeners[0].ListenerArn' --output text)
  aws elbv2 create-rule --listener-arn "$listener" --priority 10 \
    --conditions 'Field=path-pattern,Values=/random/*' \
    --actions "Type=forward,TargetGroupArn=$tg_random" --query 'Rules[0].RuleArn' --output text
fi
dns=$(aws elbv2 describe-load-balancers --load-balancer-arns "$lb" --query 'LoadBalancers[0].DNSName' --output text)
url="http://$dns:$LB_PORT"

step "5. services auth (2 tasks) and random (4 tasks)"
for name in auth random; do
  tg=$tg_auth; [ "$name" = random ] && tg=$tg_random
  sed "s#TARGET_GROUP_ARN#$tg#" "$here/$name-service.json" > "$work/$name-service.json"
  status=$(aws ecs describe-services --cluster stage01 --services "$name" --query 'services[0].status' --output text)
  if [ "$status" != "ACTIVE" ]; then
    aws ecs create-service --cli-input-json "file://$work/$name-service.json" \
      --query 'service.[serviceName,desiredCount]' --output text
  fi
done
aws ecs wait services-stable --cluster stage01 --services auth random
aws ecs describe-services --cluster stage01 --services auth random \
  --query 'services[].[serviceName,runningCount,deployments[0].rolloutState]' --output text

step "6. through the load balancer at $url"
wait_healthy() {
  for _ in $(seq 1 120); do
    n=$(aws elbv2 describe-target-health --target-group-arn "$1" \
      --query "length(TargetHealthDescriptions[?TargetHealth.State=='healthy'])" --output text)
    [ "$n" -ge "$2" ] && return 0
    sleep 0.5
  done
  echo "targets of $1 did not turn healthy" >&2; return 1
}
wait_healthy "$tg_auth" 2; wait_healthy "$tg_random" 4
for i in 1 2 3 4; do curl -fsS "$url/discover/" | tr -d '\n'; echo; done
for i in 1 2 3 4; do curl -fsS "$url/random/"; done

step "7. roll auth to a new image tag (dockyard-demo/auth:2), never below minimumHealthyPercent"
aws ecs register-task-definition --cli-input-json "file://$here/auth-taskdef-v2.json" \
  --query 'taskDefinition.[family,revision]' --output text
aws ecs update-service --cluster stage01 --service auth --task-definition auth \
  --query 'service.deployments[0].[id,taskDefinition]' --output text
aws ecs wait services-stable --cluster stage01 --services auth
wait_healthy "$tg_auth" 2
curl -fsS "$url/"

step "8. auto scaling: random keeps ~100 requests per task per minute (2-8 tasks)"
lb_label=${lb#*:loadbalancer/}; tg_label=${tg_random##*:}
aws application-autoscaling register-scalable-target --service-namespace ecs \
  --resource-id service/stage01/random --scalable-dimension ecs:service:DesiredCount \
  --min-capacity 2 --max-capacity 8
aws application-autoscaling put-scaling-policy --service-namespace ecs \
  --resource-id service/stage01/random --scalable-dimension ecs:service:DesiredCount \
  --policy-name random-requests --policy-type TargetTrackingScaling \
  --target-tracking-scaling-policy-configuration \
  "{\"TargetValue\":100,\"PredefinedMetricSpecification\":{\"PredefinedMetricType\":\"ALBRequestCountPerTarget\",\"ResourceLabel\":\"$lb_label/$tg_label\"},\"ScaleOutCooldown\":60,\"ScaleInCooldown\":120}" \
  --query 'Alarms[].AlarmName' --output text

step "done"
cat <<EOT
Load balancer: $url   (/ -> auth, /random/ -> random)
Look around:
  export DOCKYARD_ENDPOINT=$DOCKYARD_ENDPOINT
  dockyard service ls --cluster stage01
  dockyard task ls --cluster stage01
  dockyard service describe --cluster stage01 random     # scaling policy and activities
  dockyard metrics --cluster stage01 random               # CPU, memory, requests (last hour)
  curl -s $DOCKYARD_ENDPOINT/metrics | grep dockyard_     # Prometheus
  aws elbv2 describe-target-health --target-group-arn $tg_auth --endpoint-url $DOCKYARD_ENDPOINT
  dockyard down        # stop everything
EOT
