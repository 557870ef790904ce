#!/usr/bin/env bash
# Several training arms at once on one GPU, each exported as weights (fp16 state dict + card), all
# packed into one archive split into 15 MiB parts under OUTDIR (the device tool returns at most 8
# files of 16 MiB). One process leaves a card mostly idle for a model this small (launch-bound,
# ~106 ms per step): session 7 ran three at the speed of one. Written for the 15 device-minutes a
# drawn session gets: one call, no set-up on the device beyond the carried image pack.
#
#   ARMS='plain=;wide=--widen-analysis 128 --widen-synthesis 192' HOURS=0.12 benchmarks/gpu_arms.sh "$OUT"
#
# ARMS    name=extra training arguments, separated by ';' (names: letters, digits, '_', '-')
# HOURS   wall-clock budget of each arm (default 0.12); STEPS=N instead runs N steps (a dry run here)
# LOW     if set (e.g. 0.05), a second phase on the same machine: resume at lr 6e-5, decayed to 0,
#         for LOW more hours (session 7's recipe), exported as NAME-low.pt, which then replaces NAME.pt
#         in the archive (the device returns 64 MiB in all: four arms of up to ~17 MB of weights)
# COMMON  the arguments every arm shares (default below: session 7's recipe from the shipped weights)
# DEVICE  cuda (default) or cpu
#
# Here, afterwards: cat OUTDIR/arms.tar.part-* | tar -xf - -C runs/gpu, then
#   python benchmarks/checkpoint_rd.py runs/gpu/*.pt mspview/resources/msp_default.pt --ceiling --span 0.1,1.0 \
#       --threads 2 --anchor docs/results/kodak/webp.json --anchor docs/results/kodak/jpeg2000.json
set -euo pipefail
outdir=${1:?usage: gpu_arms.sh OUTDIR}
device=${DEVICE:-cuda}
if [[ -n ${STEPS:-} ]]; then budget="--steps $STEPS"; low_budget="--steps $((2 * STEPS))"
else budget="--hours ${HOURS:-0.12}"; low_budget="--hours $(python3 -c "print(${HOURS:-0.12} + ${LOW:-0})")"; fi
common=${COMMON:-"--init mspview/resources/msp_default.pt --data gpu_pack --jpeg-scale 0.85,1 --patch 256 --batch 32 \
--lr 2e-4 --warmup 300 --decay-frac 0.5 --eval-minutes 0 --threads 4 --log-every 200"}
work=$(mktemp -d)
export PYTHONUNBUFFERED=1
mkdir -p "$outdir"

IFS=';' read -ra arms <<< "${ARMS:?set ARMS, e.g. 'plain=;wide=--widen-synthesis 192'}"
names=()
pids=()
status=0
wait_all() { for pid in "${pids[@]}"; do wait "$pid" || status=$?; done; pids=(); }
for arm in "${arms[@]}"; do
    name=${arm%%=*}; extra=${arm#*=}
    [[ $name =~ ^[A-Za-z0-9_-]+$ ]] || { echo "bad arm name: '$name'" >&2; exit 2; }
    names+=("$name")
    # shellcheck disable=SC2086  # the argument strings are meant to split
    python3 -m mspview.train $common $budget --device "$device" $extra \
        --out "$work/$name" --export "$work/$name.pt" > "$work/$name.log" 2>&1 &
    pids+=($!)
done
wait_all
if [[ -n ${LOW:-} && $status == 0 ]]; then
    for name in "${names[@]}"; do
        # shellcheck disable=SC2086
        # COMMON's data and batch again (its --init is ignored: --resume loads the arm's checkpoint)
        python3 -m mspview.train $common --resume --lr 6e-5 --warmup 0 --decay-frac 1.0 $low_budget \
            --device "$device" --out "$work/$name" --export "$work/$name-low.pt" >> "$work/$name.log" 2>&1 &
        pids+=($!)
    done
    wait_all
fi
for name in "${names[@]}"; do
    cp "$work/$name/log.csv" "$work/$name.csv" 2>/dev/null || true
    tail -n 3 "$work/$name.log"
done
[[ -n ${LOW:-} ]] && for name in "${names[@]}"; do rm -f "$work/$name.pt" "$work/$name.json"; done
(cd "$work" && tar -cf - ./*.pt ./*.json ./*.log ./*.csv 2>/dev/null || true) | split -b 15M - "$outdir/arms.tar.part-"
ls -l "$outdir"
total=$(cat "$outdir"/arms.tar.part-* | wc -c)
(( total < 62 * 2**20 )) || echo "WARNING: $total bytes: over what the device returns (64 MiB); fewer or narrower arms" >&2
exit $status
