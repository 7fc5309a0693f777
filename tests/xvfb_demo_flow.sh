#!/usr/bin/env bash
# The demo flow through the real window under Xvfb, driven by xdotool the way a person would:
# Ctrl+D (Demo run) -> pause F6 / resume F7 / save now Ctrl+S while it trains -> the run ends ->
# Playground: type a prompt, Ctrl+Return -> Export: click Export -> Ctrl+Q. It catches what the
# offscreen platform hides (real X11 windows, focus, shortcuts, menus). Screenshots of each step
# go to OUT_DIR; the script fails if a step's result is missing or the studio does not exit cleanly.
# Needs xvfb-run, xdotool and ImageMagick's import (not part of the test command: run it by hand).
#
#   tests/xvfb_demo_flow.sh BUILD_DIR OUT_DIR
set -euo pipefail
[[ $# -eq 2 ]] || { sed -n '2,9p' "$0"; exit 2; }
build=$(realpath "$1")
out=$(realpath -m "$2")
if [[ ${QLS_XVFB_INNER:-} != 1 ]]; then
    mkdir -p "$out"
    exec env QLS_XVFB_INNER=1 xvfb-run -a -s "-screen 0 1440x900x24" "$0" "$build" "$out"
fi

home=$(mktemp -d)  # fresh settings and runs folder, as on a first launch
trap 'rm -rf "$home"' EXIT
export HOME=$home XDG_RUNTIME_DIR=$home/runtime
mkdir -m 700 "$XDG_RUNTIME_DIR"

"$build/bin/qlora-studio" > "$out/studio.log" 2>&1 &
pid=$!
win=$(xdotool search --sync --onlyvisible --name "QLoRA Studio" | head -1)
xdotool windowsize "$win" 1440 900 windowmove "$win" 0 0 windowfocus --sync "$win"
sleep 1

shot() { import -window root "$out/$1.png"; echo "screenshot $out/$1.png"; }
click() { xdotool mousemove --window "$win" "$1" "$2" click 1; sleep 0.5; }
sidebar() {  # the page list's rows, top to bottom
    local rows=(model data hyperparameters train inspect playground export) i
    for i in "${!rows[@]}"; do
        if [[ ${rows[$i]} == "$1" ]]; then click 60 $((35 + 30 * i)); fi
    done
}
# wait_for SECONDS DESCRIPTION COMMAND...: poll until COMMAND succeeds.
wait_for() {
    local limit=$1 what=$2
    shift 2
    for ((t = 0; t < limit * 2; ++t)); do "$@" && return 0; sleep 0.5; done
    shot "timeout"
    echo "FAIL: $what within ${limit}s" >&2
    exit 1
}
run_dir() { find "$home/.local/share" -name run.json -printf '%h\n' 2>/dev/null | head -1; }
has() { [[ -n $(run_dir) && -e "$(run_dir)/$1" ]]; }

shot 01-first-launch
xdotool key ctrl+d
wait_for 60 "the demo run writing metrics" has metrics.jsonl
shot 02-training
xdotool key F6
sleep 2
shot 03-paused
steps=$(wc -l < "$(run_dir)/metrics.jsonl")
sleep 2
[[ $(wc -l < "$(run_dir)/metrics.jsonl") -eq $steps ]] || { echo "FAIL: F6 did not pause" >&2; exit 1; }
xdotool key ctrl+s
wait_for 30 "Save now writing a checkpoint" bash -c "ls '$(run_dir)/checkpoints' 2>/dev/null | grep -q step-"
xdotool key F7
wait_for 300 "the demo run finishing" has adapter/adapter_config.json
sleep 1
shot 04-finished

sidebar playground
click 640 360  # the prompt box
xdotool type --delay 20 "Tell me a fortune about love."
xdotool key ctrl+Return
sleep 8
shot 05-playground

sidebar export
click 236 477  # Export
# The studio's default destination: <run>-export beside the run (never inside it).
wait_for 60 "the PEFT export" bash -c "[[ -e '$(run_dir)-export/peft-adapter/adapter_model.safetensors' ]]"
shot 06-exported

xdotool key ctrl+q
wait_for 20 "the studio exiting" bash -c "! kill -0 $pid 2>/dev/null"
wait "$pid" && rc=0 || rc=$?
echo "studio exit code $rc; run $(run_dir):"
ls -R "$(run_dir)" | head -30
[[ $rc -eq 0 ]]
