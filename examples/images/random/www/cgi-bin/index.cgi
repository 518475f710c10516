#!/bin/sh
# busybox httpd runs /cgi-bin/index.cgi for a directory without index.html:
# /random/ -> a random number and the task that produced it; anything else -> discover.
case "$REQUEST_URI" in
  /random*)
    echo "Content-Type: text/plain"
    echo ""
    echo "random $(od -An -N4 -tu4 /dev/urandom | tr -d ' ') from ${DOCKYARD_TASK_ARN:-unknown}"
    ;;
  *)
    exec /www/cgi-bin/discover.cgi
    ;;
esac
