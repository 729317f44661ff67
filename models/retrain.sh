#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Retrains every model a version of the card reports (the shipped pairs, the CV and the cross-corpus
# models) with one recipe, in the order the card's *Reproducing* gives, on two lanes (seeds 0 and 1) so
# both cores work. Run from anywhere; the runs go to models/.cache/runs under tags named after NAME.
#
#   bash models/retrain.sh train NAME "SETTINGS" [RATE...]   # the runs: final<R>k-NAME, cv<R>k-NAME, xcorpus16k-NAME
#   bash models/retrain.sh check NAME [RATE...]              # refit, ensemble (final<R>k-NAME-ens2), and the check
#                                                            # on the shipped models' validation speakers
#   bash models/retrain.sh adopt NAME [RATE...]              # after the check passed: the ensembles become the
#                                                            # default tags (final<R>k, cv<R>k, xcorpus16k), then
#                                                            # the CV and cross-corpus figures and the ONNX export
#   bash models/retrain.sh element NAME [RATE...]            # then item 6 through the element (the plugin built
#                                                            # here): CV clips, calls clean and in each condition,
#                                                            # held-out non-speech; the desktop sounds and the demo
#                                                            # with a DC offset (element-examples-NAME.json)
#
# SETTINGS is the recipe as train.py's --set takes it, e.g. "impulses=1 checkpoint=last epochs=210"; the
# EmoDB-only cross-corpus model adds bucket=0 as every earlier one did. RATE: 16000 and/or 8000 (default both).
set -euo pipefail

script=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
cd "$(dirname "$script")"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
export EMOTIONDETECT_FEATURES="${EMOTIONDETECT_FEATURES:-$PWD/.cache/emotiondetect-features-sound}"
RUNS=.cache/runs

usage() { sed -n '6,19p' "$script" >&2; exit 2; }
[ $# -ge 2 ] || usage
step=$1 name=$2
shift 2
if [ "$step" = train ]; then
    [ $# -ge 1 ] || usage
    settings=$1
    shift
    # KEY=VALUE words only: an empty recipe would train the defaults, a rate here would be a mistake
    [[ $settings =~ ^[A-Za-z_]+=[^[:space:]]+([[:space:]]+[A-Za-z_]+=[^[:space:]]+)*$ ]] || {
        echo "retrain.sh: SETTINGS must be KEY=VALUE words, not '$settings'" >&2
        exit 2
    }
fi
rates=("$@")
[ ${#rates[@]} -gt 0 ] || rates=(16000 8000)
for r in "${rates[@]}"; do
    case $r in 16000 | 8000) ;; *) echo "retrain.sh: rate $r: 16000 or 8000" >&2; exit 2 ;; esac
done
# RETRAIN_DRY_RUN=1: print each command instead of running it (the lanes one after the other)
dry=${RETRAIN_DRY_RUN:-0}
[ "$dry" = 1 ] || [ -x "$EMOTIONDETECT_FEATURES" ] || {
    echo "retrain.sh: no extractor at $EMOTIONDETECT_FEATURES" >&2
    exit 1
}

run() {
    if [ "$dry" = 1 ]; then echo "$*"; else "$@"; fi
}
py() { run nice -n 10 python3 -m "$@"; }
k() { echo "$(($1 / 1000))k"; }

# One lane: every run of seed $1 (the second seed's run names end in -seed1, as the shipped pairs' do).
lane() {
    local seed=$1 suffix=""
    [ "$seed" = 0 ] || suffix="-seed$seed"
    for r in "${rates[@]}"; do
        py training.train final --rate "$r" --seed "$seed" --name="$suffix" --tag "final$(k "$r")-$name" --set $settings
        py training.train cv --rate "$r" --seed "$seed" --tag "cv$(k "$r")-$name" --set $settings
        if [ "$r" = 16000 ]; then
            py training.train xcorpus --rate "$r" --seed "$seed" --only ravdess --name="$suffix" \
                --tag "xcorpus16k-$name" --set $settings
            py training.train xcorpus --rate "$r" --seed "$seed" --only emodb --name="-nobucket$suffix" \
                --tag "xcorpus16k-$name" --set $settings bucket=0
        fi
    done
}

case $step in
train)
    for r in "${rates[@]}"; do
        py training.extract --rate "$r"  # the feature banks (cached: quick when they exist)
    done
    if [ "$dry" = 1 ]; then
        lane 0
        lane 1
        exit 0
    fi
    log=.cache/retrain-$name
    set -m # each lane its own process group, so stopping one stops its run too
    lane 0 > "$log-lane0.log" 2>&1 &
    l0=$!
    lane 1 > "$log-lane1.log" 2>&1 &
    l1=$!
    # stopped, or one lane failed: the other lane stops too, not hours later
    trap 'kill -- -$l0 -$l1 2>/dev/null || true' EXIT
    echo "training on two lanes: $log-lane{0,1}.log" >&2
    pending=("$l0" "$l1")
    while [ ${#pending[@]} -gt 0 ]; do
        left=()
        for p in "${pending[@]}"; do
            if kill -0 "$p" 2>/dev/null; then
                left+=("$p")
            else
                rc=0
                wait "$p" || rc=$?
                [ "$rc" = 0 ] || { echo "retrain.sh: a lane failed (exit $rc); see $log-lane*.log" >&2; exit "$rc"; }
            fi
        done
        pending=(${left[@]+"${left[@]}"})
        [ ${#pending[@]} -eq 0 ] || sleep 10
    done
    trap - EXIT
    ;;
check)
    for r in "${rates[@]}"; do
        t="final$(k "$r")-$name"
        py training.evaluate --rate "$r" --refit-temperature final --tag "$t"
        py training.ensemble --rate "$r" --src "$t" --dst "$t-ens2" --runs final final-seed1 --name final
        py training.evaluate --rate "$r" --refit-temperature final --tag "$t-ens2"
        # the new pair beside the shipped one's row already in final-validation-<R>k.json
        py training.evaluate --rate "$r" --final-runs "$t-ens2"
    done
    ;;
adopt)
    # every rate checked before any is adopted, so a refusal leaves nothing half done
    for r in "${rates[@]}"; do
        new="$RUNS/final$(k "$r")-$name-ens2"
        [ "$dry" = 1 ] || [ -e "$new" ] || { echo "retrain.sh: no $new: run check first" >&2; exit 1; }
        taken=("final$(k "$r")" "cv$(k "$r")")
        [ "$r" != 16000 ] || taken+=(xcorpus16k)
        for t in "${taken[@]}"; do
            if [ -e "$RUNS/$t" ]; then
                echo "retrain.sh: $RUNS/$t exists: move it aside first (the card keeps earlier ensembles as <tag>-<name>-ens2)" >&2
                exit 1
            fi
        done
    done
    for r in "${rates[@]}"; do
        run cp -r "$RUNS/final$(k "$r")-$name-ens2" "$RUNS/final$(k "$r")"
        py training.evaluate --rate "$r" --refit-temperature final
        py training.evaluate --rate "$r" --seeds 0 1 --refit-temperature cv --tag "cv$(k "$r")-$name"
        py training.ensemble --rate "$r" --src "cv$(k "$r")-$name" --dst "cv$(k "$r")"
        py training.evaluate --rate "$r" --seeds 0 --refit-temperature cv
        if [ "$r" = 16000 ]; then
            py training.evaluate --rate "$r" --refit-temperature xcorpus --tag "xcorpus16k-$name"
            py training.ensemble --rate "$r" --src "xcorpus16k-$name" --dst xcorpus16k \
                --runs ravdess-only ravdess-only-seed1 --name ravdess-only
            py training.ensemble --rate "$r" --src "xcorpus16k-$name" --dst xcorpus16k \
                --runs emodb-only-nobucket emodb-only-nobucket-seed1 --name emodb-only-nobucket
            py training.evaluate --rate "$r" --refit-temperature xcorpus
        fi
        py training.evaluate --rate "$r" --seeds 0
        py training.export --rate "$r"
    done
    ;;
element)
    # item 6 of the card through the element, with the adopted models: the plugin built from this checkout
    run cargo build --manifest-path ../Cargo.toml --release --locked --lib --example emotions
    GST_PLUGIN_PATH="$(cd .. && pwd)/target/release${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
    export GST_PLUGIN_PATH
    # the card's robustness conditions, as extract.audio_for degrades the clips
    conditions=$(python3 -c 'from training import extract; print(*extract.TEST_CONDITIONS)')
    for r in "${rates[@]}"; do
        py training.element --rate "$r"
        py training.element --rate "$r" --calls
        for c in $conditions; do
            py training.element --rate "$r" --calls --condition "$c"
        done
        if [ "$r" = 16000 ]; then
            for c in white10 white5; do
                py training.element --rate "$r" --calls --condition "$c" --min-speech-ratio 0
            done
        fi
        py training.element --rate "$r" --nonspeech
    done
    # the desktop sounds and the demo with a DC offset, both rates (-> element-examples-NAME.json)
    py training.examples --name "$name"
    ;;
*) usage ;;
esac
