#!/bin/sh
# The audit archive check (modules/logging.py runs it every 30 minutes in the logging namespace):
# exits non-zero, saying what is wrong, when the bucket's Object Lock isn't what the stack declares
# or a writer's API audit records stopped arriving. The S3 output's own metrics don't count failed
# uploads (fluent/fluent-bit#6141), so the archive is checked where it matters: in the bucket.
#
# Reads ENDPOINT, BUCKET, LOCK_MODE, LOCK_DAYS (the declared retention), WRITERS (clusters whose
# records must keep arriving), FRESH_HOURS, and LOCK_QUERY / NEWEST_QUERY (the AWS CLI's JMESPath
# queries), and the archive's key from its two mounted files (@KEY_ID_FILE@, @SECRET_KEY_FILE@: paths
# modules/logging.py fills in): read here, at each run, into this process only, so the pod's spec and
# environment never hold the key.

set -eu
AWS_ACCESS_KEY_ID=$(cat @KEY_ID_FILE@)
AWS_SECRET_ACCESS_KEY=$(cat @SECRET_KEY_FILE@)
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
s3() { aws s3api --endpoint-url "$ENDPOINT" "$@"; }
failed=0
lock=$(s3 get-object-lock-configuration --bucket "$BUCKET" --output text --query "$LOCK_QUERY")
set -- $lock
if [ "${1:-}" != Enabled ] || [ "${2:-}" != "$LOCK_MODE" ] || [ "${3:-None}" = None ] || [ "$3" -lt "$LOCK_DAYS" ]; then
  echo "bucket $BUCKET: object lock is '$*'; the stack declares Enabled $LOCK_MODE $LOCK_DAYS days"; failed=1
fi
now=$(date -u +%s)
for cluster in $WRITERS; do
  newest=None
  for day in "$(date -u +%Y/%m/%d)" "$(date -u -d yesterday +%Y/%m/%d)"; do
    found=$(s3 list-objects-v2 --bucket "$BUCKET" --prefix "audit/$cluster/$day/" --output text --query "$NEWEST_QUERY")
    if [ "$found" != None ]; then newest=$found; break; fi
  done
  if [ "$newest" = None ] || [ $((now - $(date -u -d "$newest" +%s))) -gt $((FRESH_HOURS * 3600)) ]; then
    echo "cluster $cluster: its newest API audit record in $BUCKET is from $newest, over $FRESH_HOURS h ago"; failed=1
  fi
done
exit $failed
