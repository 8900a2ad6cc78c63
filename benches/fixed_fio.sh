#!/usr/bin/env bash
# fio's io_uring engine with fixedbufs=0/1 on the same file or device as `cargo bench --bench
# fixed`: the reference for its figures. Prints MiB/s and process CPU (user + system) per GiB.
#   benches/fixed_fio.sh /dev/loop0 [seconds per run]
set -euo pipefail
target=${1:?usage: fixed_fio.sh FILE_OR_DEVICE [SECONDS]}
secs=${2:-5}
printf '%-22s %9s %11s %11s\n' case fixedbufs MiB/s 'CPU s/GiB'
for rw in randread randwrite; do
  for case in 4k:32 64k:32 256k:32 256k:16 256k:1; do
    bs=${case%:*} depth=${case#*:}
    for fixed in 0 1; do
      fio --name=ref --filename="$target" --direct=1 --ioengine=io_uring --rw="$rw" \
        --bs="$bs" --iodepth="$depth" --fixedbufs="$fixed" --size=1G --time_based \
        --runtime="$secs" --output-format=json |
        python3 -c '
import json, sys
job = json.load(sys.stdin)["jobs"][0]
side = job["read"] if job["read"]["io_bytes"] else job["write"]
gib = side["io_bytes"] / 2**30
cpu = (job["usr_cpu"] + job["sys_cpu"]) / 100 * job["job_runtime"] / 1000
print("%-22s %9s %11.0f %11.4f" % (sys.argv[1], sys.argv[2], gib * 1024 / (job["job_runtime"] / 1000), cpu / gib))
' "$rw $bs qd$depth" "$fixed"
    done
  done
done
