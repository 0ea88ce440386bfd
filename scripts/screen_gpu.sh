#!/usr/bin/env bash
# Screen variants of a recipe in parallel on one GPU, over squares written by scripts/export_squares.py (no face
# step, the same splits), then compare them per source folder with scripts/recipe_compare.py.
#
#   bash scripts/screen_gpu.sh SQUARES_DIR NAME "overrides" [NAME "overrides" ...]
#   e.g. bash scripts/screen_gpu.sh /data/squares base "" balanced "data.balance.by=[source,age_band]"
#
# Every subfolder of SQUARES_DIR is one source folder. Environment: EXPERIMENT (default two_sources_cpu), TRAINER
# (default gpu), WORKERS (loader workers per run, default 2), RUNS (where runs and evaluations go, default
# ./logs/screen). Prints the comparison table and writes it to $RUNS/compare.md.
set -euo pipefail
[ $# -ge 3 ] || { sed -n '2,11p' "$0"; exit 2; }
squares=$1; shift
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${RUNS:-$PWD/logs/screen}
roots=$(ls -d "$squares"/*/ | sed 's:/$::' | paste -sd, -)
common=(experiment="${EXPERIMENT:-two_sources_cpu}" "data.root=[$roots]" faces=none data.cache=true
        data.split.protocol=column data.loader.num_workers="${WORKERS:-2}" trainer="${TRAINER:-gpu}")
mkdir -p "$runs"
names=()
while [ $# -ge 2 ]; do
  name=$1; read -ra extra <<< "$2"; shift 2; names+=("$name")
  (
    python "$here/train.py" "${common[@]}" "${extra[@]}" hydra.run.dir="$runs/$name" > "$runs/$name.train.log" 2>&1 \
      || { echo "$name: training failed, see $runs/$name.train.log"; exit 1; }
    best=$(ls "$runs/$name"/checkpoints/epoch_*.ckpt)
    python "$here/evaluate.py" ckpt_path="$best" "data.root=[$roots]" hydra.run.dir="$runs/$name/evaluate" \
      > "$runs/$name.evaluate.log" 2>&1
    echo "$name: $(grep -h 'Best val MAE' "$runs/$name/train.log" | sed 's/.* - //')"
  ) &
done
wait
compare=()
for name in "${names[@]}"; do
  [ -f "$runs/$name/evaluate/predictions.csv" ] && compare+=("$name=$runs/$name/evaluate")
done
[ ${#compare[@]} -gt 0 ] || { echo "no run finished"; exit 1; }
python "$here/scripts/recipe_compare.py" "${compare[@]}" | tee "$runs/compare.md"
